/*
 * index.c - the sparse index from 64-bit addresses to cell words: a radix
 * tree of 4 KiB interior nodes (512 slots) over 8 KiB leaves (1024 cells)
 * that grows upward on demand, so writing address 2^60 costs six nodes, not
 * 2^60 of anything. The root word is node offset | height.
 *
 * Trim walks only the nodes that exist: it empties the cells in its range,
 * marks released subtrees SLOT_TRIMMED in their parent, reuses released
 * leaves (cell tags keep stale writers out) and discards released interior
 * pages. Stale walkers that still hold a released node read zeros there
 * (TRIMMED cells, absent slots) and are sent away by the floor checks in
 * cells.c.
 */
#include <string.h>

#include "engine/engine.h"
#include "util/plat.h"

#define LEAF_BYTES (WOM__LEAF_CELLS * 8u)
#define NODE_BYTES (WOM__NODE_SLOTS * 8u)

static unsigned span_bits(unsigned level) { return WOM__LEAF_BITS + WOM__NODE_BITS * level; }

static uint64_t leaf_link(wom__eng *e, uint64_t off)
{
    return ld_relaxed((wom_a64 *)eng_ptr(e, off)); /* relaxed: the tagged CAS checks */
}

/* A leaf whose cells are EMPTY with the tag of addr's leaf. */
static int leaf_new(wom__reg *r, uint64_t addr, uint64_t *off)
{
    wom__eng *e = r->e;
    uint64_t l = wom__stack_pop(e, &r->h->free_leaves, leaf_link, 3);
    if (!l) {
        int rc = wom__raw_alloc(e, LEAF_BYTES, WOM__PAGE, LEAF_BYTES, &l);
        if (rc)
            return rc;
    }
    wom_a64 *cells = eng_ptr(e, l);
    uint64_t w = cell_empty(addr);
    /* Relaxed: published by the release CAS that links the leaf in. Stale
     * writers racing with these stores fail their CAS on the new tag. */
    for (unsigned i = 0; i < WOM__LEAF_CELLS; i++)
        st_relaxed(&cells[i], w);
    *off = l;
    return 0;
}

static void leaf_free(wom__reg *r, uint64_t off)
{
    wom__stack_push(r->e, &r->h->free_leaves, (wom_a64 *)eng_ptr(r->e, off), off, 3);
}

/* Make the root cover addr. */
static int grow(wom__reg *r, uint64_t root, uint64_t addr, uint64_t *out)
{
    unsigned h = (unsigned)(root & 7);
    if (!root)
        h = 0;
    while (h < WOM__MAX_HEIGHT && (h == 0 || (addr >> span_bits(h)) != 0)) {
        uint64_t n;
        int rc = wom__raw_alloc(r->e, NODE_BYTES, WOM__PAGE, NODE_BYTES, &n);
        if (rc)
            return rc;
        wom_a64 *slots = eng_ptr(r->e, n);
        if (root)
            st_relaxed(&slots[0], root & ~7ull); /* relaxed: published by the CAS */
        uint64_t nr = n | (h + 1);
        /* release: publishes the node's slot 0; pairs with wom__cell's
         * acquire load of the root. */
        if (!atomic_compare_exchange_strong_explicit(&r->h->root, &root, nr,
                                                     memory_order_release,
                                                     memory_order_acquire)) {
            /* Someone else grew it; the node we made stays unused (rare). */
            if (root && (addr >> span_bits((unsigned)(root & 7))) == 0)
                break;
            h = root ? (unsigned)(root & 7) : 0;
            continue;
        }
        root = nr;
        h++;
    }
    *out = root;
    return 0;
}

/* The leaf cache (engine.h): a cached leaf may since have been released
 * and reused for other addresses; that is safe because such a leaf only
 * ever shows words that send the caller away: EMPTY words with another tag
 * fail a writer's CAS and read as trimmed, WRITTEN words of other addresses
 * fail the reader's floor check, and both are right, since a leaf is
 * released only when all of its addresses are below the floor. */
_Thread_local struct wom__leaf_cache wom__leaf_cache[WOM__LEAF_CACHE];

int wom__cell_slow(wom__reg *r, uint64_t addr, int create, wom_a64 **cell)
{
    wom__eng *e = r->e;
    struct wom__leaf_cache *lc = &wom__leaf_cache[r->idx % WOM__LEAF_CACHE];
    uint64_t leafno = addr >> WOM__LEAF_BITS;
    /* acquire: pairs with grow's release (the root node's contents). */
    uint64_t root = ld_acquire(&r->h->root);
    unsigned h = (unsigned)(root & 7);
    if (root && (h == 0 || h > WOM__MAX_HEIGHT || !eng_piece_ok(e, root & ~7ull, NODE_BYTES)))
        return WOM_ECORRUPT;
    if (!root || (h < WOM__MAX_HEIGHT && (addr >> span_bits(h)) != 0)) {
        if (!create)
            return WOM_EEMPTY;
        int rc = grow(r, root, addr, &root);
        if (rc)
            return rc;
        h = (unsigned)(root & 7);
    }
    uint64_t node = root & ~7ull;
    for (unsigned level = h; level > 0; level--) {
        unsigned i = (unsigned)(addr >> span_bits(level - 1)) & (WOM__NODE_SLOTS - 1);
        wom_a64 *slot = (wom_a64 *)eng_ptr(e, node) + i;
        /* acquire: pairs with the release CAS below (the child's contents). */
        uint64_t c = ld_acquire(slot);
        if (c == SLOT_TRIMMED)
            return WOM_ETRIMMED;
        if (c != SLOT_ABSENT && !eng_piece_ok(e, c, level == 1 ? LEAF_BYTES : NODE_BYTES))
            return WOM_ECORRUPT;
        if (c == SLOT_ABSENT) {
            if (!create)
                return WOM_EEMPTY;
            uint64_t n;
            int rc = level == 1 ? leaf_new(r, addr, &n)
                                : wom__raw_alloc(e, NODE_BYTES, WOM__PAGE, NODE_BYTES, &n);
            if (rc)
                return rc;
            if (atomic_compare_exchange_strong_explicit(slot, &c, n, memory_order_release,
                                                        memory_order_acquire))
                c = n;
            else if (level == 1)
                leaf_free(r, n); /* lost the race: reuse the leaf later */
            if (c == SLOT_TRIMMED)
                return WOM_ETRIMMED;
        }
        node = c;
    }
    *lc = (struct wom__leaf_cache){r->leaf_key, leafno, (wom_a64 *)eng_ptr(e, node)};
    *cell = lc->cells + (addr & (WOM__LEAF_CELLS - 1));
    return 0;
}

void wom__cell_released(wom__reg *r, wom_a64 *cell, uint64_t old)
{
    if (old & C_WAIT)
        wom__futex_wake((wom_a32 *)cell, r->e->shared);
    if ((old & C_STATE) == C_WRITTEN)
        wom__rec_kill(r->e, old & ~C_LOW);
}

/* Empty cells [lo, hi) of a leaf: each value dies, each sleeper wakes.
 * Only EMPTY cells can change under us (a writer's CAS, a reader setting
 * WAITERS), so they are exchanged; a WRITTEN ONCE cell never changes again,
 * so a plain store retires it. Deaths are counted per chunk in one RMW. */
static void trim_leaf(wom__reg *r, uint64_t leaf, uint64_t lo, uint64_t hi)
{
    wom_a64 *cells = eng_ptr(r->e, leaf);
    /* chunk: the chunk of the last records counted, checked to be one when
     * first met (UINT64_MAX: none yet); only the chunk matters to the
     * count, so a record's header is never read. */
    uint64_t chunk = UINT64_MAX, dead = 0;
    for (uint64_t i = lo; i < hi; i++) {
        uint64_t w = ld_acquire(&cells[i]); /* pairs with the writer's CAS */
        uint64_t c = w & ~(WOM__CHUNK_SIZE - 1);
        if ((w & C_STATE) == C_WRITTEN &&
            (!wom__rec_place_ok(w & ~C_LOW) ||
             (c != chunk && !eng_piece_ok(r->e, c, WOM__CHUNK_SIZE)))) {
            st_relaxed(&cells[i], C_TRIMMED); /* corrupt: nothing to release */
        } else if ((w & C_STATE) == C_WRITTEN) {
            st_relaxed(&cells[i], C_TRIMMED); /* relaxed: nobody else writes it */
            if (c != chunk && dead) {
                wom__rec_kill_n(r->e, chunk, dead);
                dead = 0;
            }
            chunk = c;
            dead++;
        } else if (w != C_TRIMMED) {
            wom__cell_released(r, &cells[i], xchg_seq(&cells[i], C_TRIMMED));
        }
    }
    if (dead)
        wom__rec_kill_n(r->e, chunk, dead);
}

/* Trim [from, below) within the child in *slot at `level` covering addresses
 * from `base`. A child that lies wholly below `below` is released, and it is
 * walked whole, not from `from`: a stale writer (one that checked the floor
 * before an earlier trim) may have linked a leaf or written a cell below that
 * trim's range after it passed, and this is where such values are collected.
 * Each subtree is walked whole once, when it is released, so trim stays
 * proportional to the nodes that exist. */
static void trim_slot(wom__reg *r, wom_a64 *slot, unsigned level, uint64_t base, uint64_t from,
                      uint64_t below)
{
    unsigned bits = span_bits(level);
    int full = (below - base) >> bits != 0;
    uint64_t c = ld_acquire(slot); /* pairs with the CAS that linked the child */
    if (c == SLOT_TRIMMED)
        return;
    if (c != SLOT_ABSENT && !eng_piece_ok(r->e, c, level == 0 ? LEAF_BYTES : NODE_BYTES)) {
        st_seq(slot, SLOT_TRIMMED); /* corrupt: cut it off, release nothing */
        return;
    }
    if (c == SLOT_ABSENT) {
        /* Marking it stops later walkers from linking a child here. */
        if (!full || cas_seq(slot, &c, SLOT_TRIMMED))
            return;
        if (c == SLOT_TRIMMED)
            return;
    }
    if (full || from < base)
        from = base;
    if (level == 0) {
        uint64_t hi = full ? WOM__LEAF_CELLS : below - base;
        trim_leaf(r, c, from - base, hi);
    } else {
        unsigned cb = span_bits(level - 1);
        uint64_t first = (from - base) >> cb;
        uint64_t last = full ? WOM__NODE_SLOTS - 1 : (below - 1 - base) >> cb;
        wom_a64 *slots = eng_ptr(r->e, c);
        for (uint64_t i = first; i <= last; i++)
            trim_slot(r, &slots[i], level - 1, base + (i << cb), from, below);
    }
    if (!full)
        return;
    st_seq(slot, SLOT_TRIMMED);
    if (level == 0)
        leaf_free(r, c);
    else
        wom__eng_discard(r->e, c, NODE_BYTES);
}

void wom__index_trim(wom__reg *r, uint64_t from, uint64_t below)
{
    uint64_t root = ld_acquire(&r->h->root); /* pairs with grow's release */
    if (!root || from >= below)
        return;
    unsigned h = (unsigned)(root & 7);
    if (h == 0 || h > WOM__MAX_HEIGHT || !eng_piece_ok(r->e, root & ~7ull, NODE_BYTES))
        return;
    unsigned cb = span_bits(h - 1);
    wom_a64 *slots = eng_ptr(r->e, root & ~7ull);
    uint64_t first = from >> cb;
    if (first >= WOM__NODE_SLOTS)
        return;
    uint64_t last = (below - 1) >> cb;
    if (last >= WOM__NODE_SLOTS)
        last = WOM__NODE_SLOTS - 1;
    for (uint64_t i = first; i <= last; i++)
        trim_slot(r, &slots[i], h - 1, i << cb, from, below);
}
