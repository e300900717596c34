/*
 * alloc.c - memory inside a segment: the bump allocator, tagged free stacks,
 * value records in per-region arena chunks, and the pins that keep a chunk's
 * memory alive while a reader copies from it or holds a view.
 *
 * Life of a chunk: the region allocates records from it until one does not
 * fit, which seals it. Each record is counted live until it dies (trimmed,
 * overwritten in a MANY cell, or lost a write race). The chunk is RETIRED when
 * it is sealed with no live record, and released (onto the warm free stack,
 * or punched onto the cold one: see chunk_release) when it is retired with
 * no pin. RETIRED
 * happens once per life because after SEALED the live count can only fall;
 * RELEASED is taken by one CAS.
 *
 * Pins are counted per process slot (each process only in its own count), so
 * the pins of a process that died are found and dropped: by the process that
 * takes its slot next, or by whoever wants to release a chunk they hold
 * (after taking the dead slot's lock for the while). A pin counts first and
 * then checks RETIRED; retiring sets RETIRED and then reads the counts; both
 * seq_cst, so either the pinner sees RETIRED (and backs off) or the retirer
 * sees the pin (and the last unpin releases).
 *
 * A full file system (a backend's grow fails): released chunks that stay
 * warm keep their blocks, so after a trim the blocks are there but belong
 * to free chunks, and asking the file system for more fails. So a chunk
 * whose next bytes cannot be backed is sealed (the rest of it counts as
 * used) and the region moves to a free chunk whose blocks already hold the
 * record (chunk_warm); warm chunks met on the way that cannot are punched,
 * and every other allocation (raw_alloc: fresh chunks, index pages) punches
 * them all before it asks the file system a second time. Only chunks this
 * thread popped are punched: nobody else can be writing into them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/clock.h"
#include "util/plat.h"

static uint64_t chunk_link(wom__eng *e, uint64_t off)
{
    /* relaxed: a stale link fails the pop's tagged CAS */
    return ld_relaxed(&eng_chunk(e, off)->next_free);
}

/* Punch chunk c, which this thread holds (popped or just released, so no
 * one writes into it), and put it on the cold stack. A chunk whose blocks
 * past the header page were never allocated has nothing to give back. */
static void chunk_cool(wom__eng *e, uint64_t c)
{
    struct wom__chunk *ch = eng_chunk(e, c);
    /* relaxed: the pop's acquire (or the releaser's own stores) made it
     * visible; the push below publishes the new value */
    if (!e->host || ld_relaxed(&ch->backed) > WOM__PAGE) {
        wom__eng_discard(e, c + WOM__PAGE, WOM__CHUNK_SIZE - WOM__PAGE);
        st_relaxed(&ch->backed, WOM__PAGE); /* relaxed: published by the push */
    }
    wom__stack_push(e, &e->hdr->cold_chunks, &ch->next_free, c, 0);
}

/* Pop the top of the warm stack, uncounting it there; 0 when empty. */
static uint64_t warm_pop(wom__eng *e)
{
    uint64_t c = wom__stack_pop(e, &e->hdr->free_chunks, chunk_link, 0);
    if (c) /* relaxed: a hint that only steers which stack a release takes */
        atomic_fetch_sub_explicit(&e->hdr->warm_count, 1, memory_order_relaxed);
    return c;
}

/* The file system is full. Pop warm chunks until one whose blocks are
 * still allocated for its first `upto` bytes (the caller writes there
 * without asking the file system for anything). Every other warm chunk met
 * on the way gives its blocks back (punched, onto the cold stack), so
 * growing may succeed afterwards. Returns the chunk found, popped and still
 * counted free like any pop, or 0. A chunk is punched only while this call
 * holds it (popped), so no one writes into it meanwhile; a racer that finds
 * the warm stack empty for the while takes a cold chunk or fresh memory, or
 * reports the disk full. */
static uint64_t chunk_warm(wom__eng *e, uint64_t upto)
{
    /* At most as many pops as the segment has chunks: a corrupt (cyclic)
     * stack ends the walk instead of looping. */
    for (uint64_t k = e->size >> WOM__CHUNK_SHIFT; k; k--) {
        uint64_t c = warm_pop(e);
        if (!c)
            break;
        /* relaxed: the pop's acquire pairs with the push's release, which
         * published what the releaser stored here */
        uint64_t b = ld_relaxed(&eng_chunk(e, c)->backed);
        if (b >= upto && b <= WOM__CHUNK_SIZE)
            return c;
        chunk_cool(e, c);
    }
    return 0;
}

/* wom__back; when it fails, once more after the free chunks gave their
 * blocks back (the space itself may be what fills the file system). */
static int back_hard(wom__eng *e, uint64_t start, uint64_t end)
{
    if (wom__back(e, start, end) == 0)
        return 0;
    (void)chunk_warm(e, UINT64_MAX); /* finds none: punches every warm one */
    return wom__back(e, start, end);
}

/* Back [start, start + size) before anyone can be handed it: back bytes,
 * and the last page too, so the file always reaches the piece's end (an
 * offset a reader checked against brk can never point past the file). */
static int piece_back(wom__eng *e, uint64_t start, uint64_t size, uint64_t back)
{
    if (back_hard(e, start, start + back) ||
        (back < size && back_hard(e, start + size - WOM__PAGE, start + size)))
        return WOM_ENOSPC;
    return 0;
}

/* A piece smaller than a chunk (an index page) from the alignment gap that
 * the last fresh chunk skipped below itself, which would else stay unused:
 * a log's leaves and its chunks then share the address space instead of
 * every new chunk leaving ~8 MiB behind a leaf. 1 when the gap has no room
 * (or none is known), else 0 or WOM_ENOSPC as wom__raw_alloc. */
static int gap_alloc(wom__eng *e, uint64_t size, uint64_t align, uint64_t back, uint64_t *off)
{
    /* acquire: pairs with the release that recorded the gap, so the brk
     * that skipped it is seen by the bounds check below */
    uint64_t g = ld_acquire(&e->hdr->gap);
    for (;;) {
        uint64_t start = (g + align - 1) & ~(align - 1);
        uint64_t end = (g + WOM__CHUNK_SIZE - 1) & ~(WOM__CHUNK_SIZE - 1);
        if (!g || start + size > end || !eng_piece_ok(e, start, size))
            return 1;
        if (piece_back(e, start, size, back)) /* idempotent, as below */
            return WOM_ENOSPC;
        /* acquire (both ways): a failed CAS reloads g as the load above
         * does; what the piece holds is published by its user's own
         * release. Gap values only grow, so a stale one fails the CAS. */
        if (atomic_compare_exchange_weak_explicit(&e->hdr->gap, &g, start + size,
                                                  memory_order_acquire, memory_order_acquire)) {
            *off = start;
            return 0;
        }
    }
}

int wom__raw_alloc(wom__eng *e, uint64_t size, uint64_t align, uint64_t back, uint64_t *off)
{
    if (size < WOM__CHUNK_SIZE) {
        int rc = gap_alloc(e, size, align, back, off);
        if (rc <= 0)
            return rc;
    }
    wom_a64 *brk = &e->hdr->brk;
    uint64_t cur = ld_relaxed(brk); /* relaxed: only a first guess for the CAS */
    for (;;) {
        uint64_t start = (cur + align - 1) & ~(align - 1);
        if (start + size > e->size || start + size < start)
            return WOM_ENOSPC;
        /* Back the memory before anyone can be handed it (idempotent, so a
         * CAS that loses only grew a little early). */
        if (piece_back(e, start, size, back))
            return WOM_ENOSPC;
        /* release: the backing above happens before a reader that sees the
         * new brk (shm attach checks brk against the file's size); what is
         * written into the memory is published by its own release later. */
        if (atomic_compare_exchange_weak_explicit(brk, &cur, start + size,
                                                  memory_order_release,
                                                  memory_order_relaxed)) {
            /* release: pairs with gap_alloc's acquire (the brk above is
             * what bounds the gap) */
            if (start > cur)
                st_release(&e->hdr->gap, cur);
            *off = start;
            return 0;
        }
    }
}

/* Tagged Treiber stack of page-aligned objects; head = [page : 32][tag : 32].
 * The tag makes a pop that read a stale link fail its CAS (ABA). */
void wom__stack_push(wom__eng *e, wom_a64 *head, wom_a64 *link, uint64_t off, int shift)
{
    (void)e;
    uint64_t h = ld_relaxed(head);
    for (;;) {
        st_relaxed(link, (h >> 32) << shift); /* relaxed: published by the CAS */
        uint64_t n = ((off / WOM__PAGE) << 32) | (uint32_t)(h + 1);
        /* release: publishes the link and the object's reset state to the
         * popper's acquire below. */
        if (atomic_compare_exchange_weak_explicit(head, &h, n, memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
}

uint64_t wom__stack_pop(wom__eng *e, wom_a64 *head, uint64_t (*link_of)(wom__eng *, uint64_t),
                        int shift)
{
    /* acquire: pairs with the push's release (the link and object state). */
    uint64_t h = ld_acquire(head);
    for (;;) {
        uint64_t page = h >> 32;
        if (!page)
            return 0;
        uint64_t off = page * WOM__PAGE;
        if (!eng_piece_ok(e, off, WOM__PAGE))
            return 0; /* a corrupt stack: allocate fresh memory instead */
        uint64_t next = link_of(e, off) >> shift;
        uint64_t n = (next << 32) | (uint32_t)(h + 1);
        if (atomic_compare_exchange_weak_explicit(head, &h, n, memory_order_acquire,
                                                  memory_order_acquire))
            return off;
    }
}

/* Raise *w to at least v. relaxed: the free-chunk statistics are hints
 * that only steer which stack a released chunk goes on. */
static void raise_to(wom_a64 *w, uint64_t v)
{
    uint64_t o = ld_relaxed(w);
    while (o < v && !atomic_compare_exchange_weak_explicit(w, &o, v, memory_order_relaxed,
                                                           memory_order_relaxed))
        ;
}

/* How many chunks a release keeps warm: the most the free chunks fell in
 * this period or than remembered of the ones before (what a trim-as-you-go
 * working set takes back between two releases), at least `least`. */
static uint64_t warm_keep(uint64_t dip, uint64_t before, uint64_t least)
{
    uint64_t k = dip > before ? dip : before;
    return k > least ? k : least;
}

void wom__chunk_decay(wom__eng *e, int64_t now)
{
    struct wom__seg_hdr *h = e->hdr;
    /* relaxed: the CAS below decides who ends the period; the statistics
     * it moves are hints (see raise_to) */
    uint64_t end = ld_relaxed(&h->period_end);
    int64_t left = (int64_t)(end - (uint64_t)now);
    /* More than two periods ahead: a clock read before this boot. */
    if (left > 0 && left <= 2 * WOM__WARM_PERIOD_NS)
        return;
    if (!atomic_compare_exchange_strong_explicit(&h->period_end, &end,
                                                 (uint64_t)now + WOM__WARM_PERIOD_NS,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    /* The remembered dip is this period's, or one less than the one
     * remembered before if that is more: after a burst the warm chunks go
     * one a period, so a chunk that comes back into use every few seconds
     * is not punched and faulted in again each time. relaxed (these
     * four): hints, see raise_to. */
    uint64_t dip = atomic_exchange_explicit(&h->free_dip, 0, memory_order_relaxed);
    uint64_t before = ld_relaxed(&h->dip_prev);
    uint64_t keep = before > dip + 1 ? before - 1 : dip;
    st_relaxed(&h->dip_prev, keep);
    st_relaxed(&h->free_peak, ld_relaxed(&h->free_count));
    /* The warm chunks beyond that were not needed for a while: give their
     * pages and blocks back. */
    keep = keep > WOM__WARM_IDLE ? keep : WOM__WARM_IDLE;
    for (uint64_t n = ld_relaxed(&h->warm_count); n > keep; n--) { /* relaxed: a hint */
        uint64_t c = warm_pop(e);
        if (!c)
            break;
        chunk_cool(e, c);
    }
}

/* Take a chunk for region: when warm is not 0 (the file system is full),
 * one whose blocks already hold its first warm bytes if there is one (see
 * chunk_warm); else the top of the warm stack (its pages are resident),
 * else of the cold stack; else fresh memory. */
static int chunk_new(wom__eng *e, uint32_t region, uint64_t warm, uint64_t *off)
{
    struct wom__seg_hdr *h = e->hdr;
    uint64_t c = warm ? chunk_warm(e, warm) : warm_pop(e);
    if (!c)
        c = wom__stack_pop(e, &h->cold_chunks, chunk_link, 0);
    if (c) {
        /* relaxed: hints (raise_to); the fall below the period's peak is
         * the demand the warm stack should cover */
        uint64_t f = atomic_fetch_sub_explicit(&h->free_count, 1, memory_order_relaxed) - 1;
        uint64_t peak = ld_relaxed(&h->free_peak); /* relaxed: a hint */
        if (peak > f && peak - f <= e->size >> WOM__CHUNK_SHIFT)
            raise_to(&h->free_dip, peak - f);
        wom__chunk_decay(e, wom__now_ns());
    } else {
        /* Only the header page is backed now; records back their own bytes
         * as they are allocated, so a file grows with what it holds. */
        int rc = wom__raw_alloc(e, WOM__CHUNK_SIZE, WOM__CHUNK_SIZE, WOM__PAGE, &c);
        if (rc)
            return rc;
        /* relaxed: published by the release CAS that installs the chunk; a
         * reused chunk keeps what chunk_release left (all of it, if warm) */
        st_relaxed(&eng_chunk(e, c)->backed, WOM__PAGE);
    }
    struct wom__chunk *ch = eng_chunk(e, c);
    ch->region = region;
    ch->magic = WOM__CHUNK_MAGIC;
    ch->life = e->life; /* published with the chunk, as region is */
    st_relaxed(&ch->filling, 0); /* relaxed: published as alloc is */
    /* A stale reader may still pin the old life: it then sees a live chunk
     * and its later floor check sends it away (see wom__pin's callers). Pin
     * counts are balanced by every pinner and are left alone. */
    st_seq(&ch->state, 0);
    /* relaxed: published by the release CAS that installs the chunk */
    st_relaxed(&ch->alloc, (uint64_t)(WOM__CHUNK_HDR / 8) << 32);
    *off = c;
    return 0;
}

/* Give retired, unpinned chunk c back. It goes on the warm stack (pages
 * resident, blocks allocated: the next chunk_new writes it without a page
 * fault) while that holds fewer chunks than recent use took back between
 * releases; else it is punched onto the cold stack. chunk_new takes warm
 * chunks first, so a punched chunk is only faulted in again when every warm
 * one is in use: the warm stack never hides under cold chunks (a single
 * LIFO stack did that, and once 8 chunks were free every reuse faulted). */
static void chunk_release(wom__eng *e, uint64_t c)
{
    struct wom__seg_hdr *h = e->hdr;
    struct wom__chunk *ch = eng_chunk(e, c);
    if (ch->region < WOM__NREGIONS) {
        struct wom__region_hdr *r = &h->regions[ch->region];
        /* relaxed: a statistic; the alloc word no longer changes once retired */
        atomic_fetch_sub_explicit(&r->sealed_bytes, CH_USED(ld_relaxed(&ch->alloc)),
                                  memory_order_relaxed);
    }
    /* relaxed: hints (raise_to) */
    raise_to(&h->free_peak, atomic_fetch_add_explicit(&h->free_count, 1, memory_order_relaxed) + 1);
    /* A chunk with no blocks past its header page has nothing warm. */
    int warm = !e->host || ld_relaxed(&ch->backed) > WOM__PAGE; /* relaxed: this thread's own */
    /* relaxed: hints */
    uint64_t keep = warm_keep(ld_relaxed(&h->free_dip), ld_relaxed(&h->dip_prev), WOM__WARM_CHUNKS);
    /* relaxed: a hint; counted before the push so racers see it early */
    if (warm && atomic_fetch_add_explicit(&h->warm_count, 1, memory_order_relaxed) < keep) {
        wom__stack_push(e, &h->free_chunks, &ch->next_free, c, 0);
    } else {
        if (warm) /* relaxed: as above */
            atomic_fetch_sub_explicit(&h->warm_count, 1, memory_order_relaxed);
        chunk_cool(e, c);
    }
    wom__chunk_decay(e, wom__now_ns());
}

/* Release retired chunk c if no process pins it. A count held by a dead
 * process is dropped first when may_reap (the backend takes the dead slot's
 * lock for that). The RELEASED bit makes the release happen once. */
/* Drop the pins of dead slot `slot`, holding its lock for the while (no new
 * owner can take the slot then): 1 if it could. Only a process with a slot
 * of its own reaps. */
static int eng_reap(wom__eng *e, uint32_t slot)
{
    if (!e->host || !e->busy || slot == e->self || !e->host->slot_lock(e->host->ctx, slot))
        return 0;
    wom__eng_clean_slot(e, slot);
    e->host->slot_unlock(e->host->ctx, slot);
    return 1;
}

static void chunk_try_release(wom__eng *e, uint64_t c, int may_reap)
{
    struct wom__chunk *ch = eng_chunk(e, c);
    for (uint32_t i = 0; i < WOM__PIN_SLOTS; i++) {
        if (ld_seq(&ch->pins[i]) == 0)
            continue;
        if (!may_reap || i >= WOM__NPROCS || !eng_reap(e, i) || ld_seq(&ch->pins[i]) != 0)
            return; /* pinned: the last unpin comes back here */
    }
    uint64_t st = ld_seq(&ch->state);
    while (st == CH_RETIRED)
        if (cas_seq(&ch->state, &st, CH_RETIRED | CH_RELEASED))
            chunk_release(e, c);
}

static void chunk_retire(wom__eng *e, uint64_t c)
{
    /* seq_cst: before the reads of the pin counts (Dekker with wom__pin) */
    atomic_fetch_or_explicit(&eng_chunk(e, c)->state, CH_RETIRED, memory_order_seq_cst);
    chunk_try_release(e, c, 1);
}

int wom__pin(wom__eng *e, uint64_t off)
{
    struct wom__chunk *ch = eng_chunk(e, off);
    faa_seq(&ch->pins[e->pin_slot], 1); /* seq_cst: before reading the state */
    if (!(ld_seq(&ch->state) & CH_RETIRED))
        return 0;
    wom__unpin(e, off, e->pin_slot);
    return WOM_ETRIMMED;
}

void wom__unpin(wom__eng *e, uint64_t off, uint32_t slot)
{
    struct wom__chunk *ch = eng_chunk(e, off);
    if (slot >= WOM__PIN_SLOTS)
        return;
    if (fas_seq(&ch->pins[slot], 1) == 1 && (ld_seq(&ch->state) & CH_RETIRED))
        chunk_try_release(e, off & ~(WOM__CHUNK_SIZE - 1), 1);
}

void wom__rec_kill(wom__eng *e, uint64_t off) { wom__rec_kill_n(e, off, 1); }

void wom__rec_kill_n(wom__eng *e, uint64_t off, uint64_t n)
{
    struct wom__chunk *ch = eng_chunk(e, off);
    uint64_t a = fas_seq(&ch->alloc, n) - n;
    if ((a & CH_SEALED) && (a & CH_LIVE_MASK) == 0)
        chunk_retire(e, off & ~(WOM__CHUNK_SIZE - 1));
}

/* Make the chunk's first `upto` bytes usable, in steps of WOM__BACK_STEP, so
 * a file behind the space grows with what it holds. Racing allocators may
 * back the same step twice; backing is idempotent. */
static int chunk_back(wom__eng *e, struct wom__chunk *ch, uint64_t upto)
{
    if (!e->host)
        return 0;
    /* relaxed: a hint; the backing itself is idempotent */
    uint64_t have = ld_relaxed(&ch->backed);
    if (upto <= have)
        return 0;
    uint64_t to = (upto + WOM__BACK_STEP - 1) & ~(uint64_t)(WOM__BACK_STEP - 1);
    if (to > WOM__CHUNK_SIZE)
        to = WOM__CHUNK_SIZE;
    uint64_t c = (uint64_t)((char *)ch - e->base);
    if (wom__back(e, c + have, c + to))
        return WOM_ENOSPC;
    while (have < to && !atomic_compare_exchange_weak_explicit(
                            &ch->backed, &have, to, memory_order_relaxed, memory_order_relaxed))
        ;
    return 0;
}

/* Seal chunk c (nothing more will be allocated in it); retire it at once if
 * every record in it is already dead. */
static void chunk_seal(wom__eng *e, struct wom__region_hdr *h, uint64_t c, uint64_t a)
{
    struct wom__chunk *ch = eng_chunk(e, c);
    while (!(a & CH_SEALED)) {
        if (cas_seq(&ch->alloc, &a, a | CH_SEALED)) {
            /* relaxed: a statistic for wom_region_info */
            atomic_fetch_add_explicit(&h->sealed_bytes, CH_USED(a), memory_order_relaxed);
            if ((a & CH_LIVE_MASK) == 0)
                chunk_retire(e, c);
            return;
        }
    }
}

/* Give back chunk n, which lost the race to become current. It leaves use
 * as every chunk does, sealed: with no live record it retires and is
 * released (counted, warm or cold, by chunk_release). Pushing it back
 * unsealed would let a thread that still reads n as its region's current
 * chunk (one whose chunk_new failed, leaving a released chunk current)
 * allocate in a free chunk; sealed, a record it got first keeps n in use. */
static void chunk_drop(wom__eng *e, struct wom__region_hdr *h, uint64_t n)
{
    chunk_seal(e, h, n, ld_seq(&eng_chunk(e, n)->alloc));
}

/* What chunk_alloc found. */
enum { CH_GOT, CH_NO_ROOM, CH_UNBACKED };

/* Allocate need bytes in chunk c: CH_GOT with *off; CH_NO_ROOM when c has
 * no room for them (it is sealed now); CH_UNBACKED when they could not be
 * backed (the file system is full): the record is given back and c is
 * sealed too, its rest counted as used, so that the caller moves on to a
 * chunk whose blocks are allocated already instead of asking the file
 * system for the same bytes again and again. WOM_ENOSPC when c could not
 * be made writable in this process (as it always was). Inlined into both
 * callers: as a call it cost the fast path of rec_alloc more instructions. */
static inline __attribute__((always_inline)) int
chunk_alloc(wom__eng *e, struct wom__region_hdr *h, uint64_t c, uint64_t need, uint64_t count,
            int filling, uint64_t *off)
{
    struct wom__chunk *ch = eng_chunk(e, c);
    /* Counted as filling before the bytes are ours: a sealer that sees the
     * chunk SEALED then sees this count (both seq_cst). */
    if (filling)
        faa_seq(&ch->filling, count);
    int rc = CH_NO_ROOM;
    uint64_t a = ld_seq(&ch->alloc);
    while (!(a & CH_SEALED) && CH_USED(a) + need <= WOM__CHUNK_SIZE) {
        /* The live count rises in the same CAS that hands out the bytes, so
         * a sealed chunk's count can only fall. */
        if (!cas_seq(&ch->alloc, &a, a + ((need >> 3) << 32) + count))
            continue;
        uint64_t at = c + CH_USED(a);
        int unbacked = chunk_back(e, ch, CH_USED(a) + need) != 0;
        if (!unbacked && wom__unseal(e, c) == 0) {
            *off = at;
            return CH_GOT;
        }
        if (filling)
            fas_seq(&ch->filling, count);
        wom__rec_kill_n(e, at, count);
        if (!unbacked)
            return WOM_ENOSPC;
        /* Sealed after the kill: if that was the last live record, the
         * seal retires c (once: see chunk_seal and wom__rec_kill_n). */
        rc = CH_UNBACKED;
        filling = 0; /* given back above */
        a = ld_seq(&ch->alloc);
        break;
    }
    if (filling)
        fas_seq(&ch->filling, count);
    chunk_seal(e, h, c, a);
    return rc;
}

/* A call gives up after this many WOM_ENOSPC on its way (chunks it could
 * not back, or could not get while another thread installed one): enough
 * for "the current chunk cannot grow, a warm one is taken" and a few
 * racers, and a bound whatever the others do. */
#define FULL_TRIES 4

/* The region's current chunk, or 0 when it has none (or a corrupt one:
 * the install CAS in rec_alloc_slow replaces it). */
static uint64_t cur_chunk(wom__eng *e, struct wom__region_hdr *h, uint64_t *seen)
{
    /* acquire: pairs with the release CAS in rec_alloc_slow that installed
     * the chunk (its reset alloc word). */
    uint64_t c = *seen = ld_acquire(&h->cur_chunk);
    if (c && ((c & (WOM__CHUNK_SIZE - 1)) || !eng_piece_ok(e, c, WOM__CHUNK_SIZE)))
        return 0;
    return c;
}

/* wom__rec_alloc once the current chunk (seen) could not take the record:
 * install a new chunk and allocate there, until it works or the file system
 * is full. full counts the WOM_ENOSPC seen so far. Kept out of line so the
 * fast path stays as short as it was. */
static __attribute__((noinline)) int rec_alloc_slow(wom__reg *r, uint64_t need, uint64_t count, int filling,
                                                    uint64_t seen, int full, uint64_t *off)
{
    wom__eng *e = r->e;
    struct wom__region_hdr *h = r->h;
    for (;;) {
        uint64_t n;
        int rc = chunk_new(e, r->idx, full ? WOM__CHUNK_HDR + need : 0, &n);
        if (rc == 0) {
            /* release: publishes the new chunk's reset header to allocators
             * (cur_chunk's acquire). */
            if (!atomic_compare_exchange_strong_explicit(&h->cur_chunk, &seen, n,
                                                         memory_order_release,
                                                         memory_order_relaxed))
                chunk_drop(e, h, n);
        } else if (rc != WOM_ENOSPC || ld_acquire(&h->cur_chunk) == seen ||
                   ++full > FULL_TRIES) {
            /* Unless another thread installed a chunk meanwhile (maybe the
             * warm one this call looked for): then that one is tried. The
             * acquire is cur_chunk's. */
            return rc;
        }
        uint64_t c = cur_chunk(e, h, &seen);
        if (!c)
            continue;
        rc = chunk_alloc(e, h, c, need, count, filling, off);
        if (rc == CH_GOT)
            return 0;
        if (rc < 0)
            return rc;
        if (rc == CH_UNBACKED && ++full > FULL_TRIES)
            return WOM_ENOSPC;
    }
}

int wom__rec_alloc_n(wom__reg *r, uint64_t need, uint64_t count, int filling, uint64_t *off)
{
    wom__eng *e = r->e;
    filling = filling && e->sealed;
    uint64_t seen, c = cur_chunk(e, r->h, &seen);
    int rc = c ? chunk_alloc(e, r->h, c, need, count, filling, off) : CH_NO_ROOM;
    if (rc == CH_GOT)
        return 0;
    if (rc < 0)
        return rc;
    /* WOM_ENOSPC seen in this call: rec_alloc_slow prefers warm chunks */
    return rec_alloc_slow(r, need, count, filling, seen, rc == CH_UNBACKED, off);
}

int wom__rec_alloc(wom__reg *r, size_t len, int filling, uint64_t *off)
{
    return wom__rec_alloc_n(r, wom__rec_need(len), 1, filling, off);
}

/* Every chunk of the segment, found by its magic (an arena chunk is 8 MiB
 * aligned; the leaves and nodes between never show the magic there). */
static struct wom__chunk *chunk_at(wom__eng *e, uint64_t c)
{
    struct wom__chunk *ch = eng_chunk(e, c);
    return ch->magic == WOM__CHUNK_MAGIC && ch->region < WOM__NREGIONS ? ch : NULL;
}

#define EACH_CHUNK(e, c)                                                       \
    for (uint64_t c = (eng_first() + WOM__CHUNK_SIZE - 1) & ~(WOM__CHUNK_SIZE - 1); \
         c + WOM__CHUNK_SIZE <= eng_brk(e); c += WOM__CHUNK_SIZE)

/* Drop the counts of pin slots [lo, hi) other than this process's own. */
static void drop_slots(wom__eng *e, uint32_t lo, uint32_t hi)
{
    EACH_CHUNK(e, c)
    {
        struct wom__chunk *ch = chunk_at(e, c);
        int dropped = 0;
        for (uint32_t i = lo; ch && i < hi; i++)
            if (i != e->pin_slot && xchg_seq(&ch->pins[i], 0) != 0)
                dropped = 1;
        if (dropped && (ld_seq(&ch->state) & CH_RETIRED))
            chunk_try_release(e, c, 0); /* retired, and the last pins were the dead's */
    }
}

void wom__eng_drop_pins(wom__eng *e) { drop_slots(e, 0, WOM__PIN_SLOTS); }

/* Whether chunk c (of a segment no other process uses, pins dropped) is
 * free: released; or sealed with no live record (its holder died before
 * retiring or releasing it); or reset and never installed (its taker died
 * between the pop and the install). Marks it released. */
static int chunk_free_alone(wom__eng *e, uint64_t c, struct wom__chunk *ch)
{
    struct wom__region_hdr *r = &e->hdr->regions[ch->region];
    uint64_t st = ld_relaxed(&ch->state), a = ld_relaxed(&ch->alloc); /* relaxed: alone */
    if (st == (CH_RETIRED | CH_RELEASED))
        return 1;
    for (uint32_t i = 0; i < WOM__PIN_SLOTS; i++)
        if (ld_relaxed(&ch->pins[i])) /* relaxed: alone */
            return 0;
    if (a & CH_LIVE_MASK)
        return 0;
    if (a & CH_SEALED) /* relaxed: a statistic, as in chunk_release */
        atomic_fetch_sub_explicit(&r->sealed_bytes, CH_USED(a), memory_order_relaxed);
    else if (CH_USED(a) != WOM__CHUNK_HDR || ld_relaxed(&r->cur_chunk) == c)
        return 0; /* the region's current chunk, or not as chunk_new leaves one */
    st_relaxed(&ch->state, CH_RETIRED | CH_RELEASED); /* relaxed: alone */
    return 1;
}

void wom__eng_rebuild_free(wom__eng *e)
{
    struct wom__seg_hdr *h = e->hdr;
    /* relaxed: no other process uses the segment (so throughout). The
     * tags go on counting, so nothing stale can match a head. */
    st_relaxed(&h->free_chunks, (uint32_t)(ld_relaxed(&h->free_chunks) + 1));
    st_relaxed(&h->cold_chunks, (uint32_t)(ld_relaxed(&h->cold_chunks) + 1));
    uint64_t warm = 0, all = 0;
    EACH_CHUNK(e, c)
    {
        struct wom__chunk *ch = chunk_at(e, c);
        if (!ch || !chunk_free_alone(e, c, ch))
            continue;
        uint64_t b = ld_relaxed(&ch->backed); /* relaxed: alone */
        int hot = !e->host || (b > WOM__PAGE && b <= WOM__CHUNK_SIZE);
        wom__stack_push(e, hot ? &h->free_chunks : &h->cold_chunks, &ch->next_free, c, 0);
        warm += hot;
        all++;
    }
    /* relaxed: alone; the set-up lock orders them before the next open */
    st_relaxed(&h->warm_count, warm);
    st_relaxed(&h->free_count, all);
    st_relaxed(&h->free_peak, all);
    st_relaxed(&h->free_dip, 0);
    st_relaxed(&h->dip_prev, 0);
}

void wom__eng_clean_slot(wom__eng *e, uint32_t slot)
{
    if (slot < WOM__NPROCS)
        drop_slots(e, slot, slot + 1);
}

void wom__rec_filled_n(wom__eng *e, uint64_t off, uint64_t n)
{
    if (e->sealed)
        fas_seq(&eng_chunk(e, off)->filling, n);
}

void wom__rec_filled(wom__eng *e, uint64_t off) { wom__rec_filled_n(e, off, 1); }

static wom_a64 *seal_word(wom__eng *e, uint64_t c, uint64_t *bit)
{
    uint64_t i = c >> WOM__CHUNK_SHIFT;
    *bit = 1ull << (i % 64);
    return &e->sealed[i / 64];
}

void wom__seal(wom__eng *e, uint64_t off)
{
    if (!e->sealed)
        return;
    uint64_t c = off & ~(WOM__CHUNK_SIZE - 1), bit;
    wom_a64 *w = seal_word(e, c, &bit);
    if (ld_relaxed(w) & bit) /* relaxed: only this process's own record */
        return;
    struct wom__chunk *ch = eng_chunk(e, c);
    /* The caller holds a pin, so this life of the chunk cannot end (and be
     * reopened for writing) under us. */
    if (!(ld_seq(&ch->alloc) & CH_SEALED) || ld_seq(&ch->filling) != 0)
        return;
    if (wom__vm_protect(e->base + c + WOM__PAGE, WOM__CHUNK_SIZE - WOM__PAGE, 0) == 0)
        atomic_fetch_or_explicit(w, bit, memory_order_relaxed); /* relaxed: as above */
}

int wom__unseal(wom__eng *e, uint64_t c)
{
    if (!e->sealed)
        return 0;
    uint64_t bit;
    wom_a64 *w = seal_word(e, c, &bit);
    if (!(ld_relaxed(w) & bit)) /* relaxed: only this process's own record */
        return 0;
    if (wom__vm_protect(e->base + c + WOM__PAGE, WOM__CHUNK_SIZE - WOM__PAGE, 1))
        return WOM_ENOMEM;
    atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed);
    return 0;
}

void wom__eng_fini(wom__eng *e)
{
    free(e->sealed);
    e->sealed = NULL;
}
