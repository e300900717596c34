/*
 * cells.c - ONCE cells: put, append, loans, reads that wait, inspection,
 * recovery from dead appenders, trim; and the record helpers the MANY cells
 * (many.c) share.
 *
 * ONCE write: allocate and fill a record, then one CAS EMPTY -> WRITTEN|off
 * publishes it; the first CAS wins and every racer sees the same winner.
 * Readers that find EMPTY spin briefly, then set WAITERS on the cell and sleep
 * on its futex; the winning CAS sees WAITERS and wakes them.
 *
 * Reading a value pins its chunk, then re-checks that the cell is still live
 * (floor for ONCE, unchanged word for MANY): a chunk is only released after
 * every record in it died, so a successful pin plus that check proves the
 * bytes belong to this cell until the unpin.
 *
 * A read-only process (shm:PATH;ro) can write none of that: it copies a
 * value and then checks that the floor has not passed it (seqlock-style),
 * sleeps on the region's bells instead of marking cells, and reports a
 * hole no live appender can fill as abandoned without being able to fence
 * it (see docs/shm.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cell.h"
#include "util/hash.h"

/* Shared segments (e->sealed is their marker) keep a checksum per value. */
void wom__rec_seal_sum(const wom__eng *e, struct wom__rec *rec)
{
    if (e->sealed)
        rec->sum = wom__value_sum(rec + 1, rec->len);
}

/* A value is verified when it was at rest: written in an earlier life of
 * the space (every process had closed or died since), or read by a
 * read-only process (which trusts no writer). Values passed between live
 * processes are not read twice over. */
int wom__rec_sum_ok(const wom__eng *e, const struct wom__rec *rec)
{
    if (!e->sealed)
        return 1;
    if (!e->ro && eng_chunk(e, (uint64_t)((const char *)rec - e->base))->life == e->life)
        return 1;
    return rec->sum == wom__value_sum(rec + 1, rec->len);
}

/* ---- ONCE cells ---- */

static void tail_raise(struct wom__region_hdr *h, uint64_t to)
{
    uint64_t t = ld_relaxed(&h->next); /* relaxed: the CAS decides */
    while (t < to && !cas_seq(&h->next, &t, to))
        ;
}

/* Write a record's header and value bytes (a loan's are the caller's). */
static void rec_fill(const wom__eng *e, uint64_t off, const void *buf, size_t len, int loan)
{
    struct wom__rec *rec = rec_at(e, off);
    rec->len = (uint32_t)len;
    rec->sum = 0;
    rec->version = loan ? 0 : 1; /* a ONCE record at version 0 is a loan being filled */
    if (len && buf)
        memcpy(rec + 1, buf, len);
    if (!loan)
        wom__rec_seal_sum(e, rec);
}

int wom__rec_new(wom__reg *r, const void *buf, size_t len, int loan, uint64_t *off)
{
    if (len > r->max_value)
        return WOM_EMSGSIZE;
    /* ONCE records count as being filled until written (a loan: until it
     * is published or cancelled), so no reader seals them half-written. */
    int once = r->mode == WOM_ONCE;
    int rc = wom__rec_alloc(r, len, once, off);
    if (rc)
        return rc;
    rec_fill(r->e, *off, buf, len, loan);
    if (once && !loan)
        wom__rec_filled(r->e, *off);
    return 0;
}

/* Records for the ONCE values v[0..n) into offs, all or none. A run of at
 * most RUN_BYTES takes one allocation (one CAS on the chunk's alloc word
 * for all of them, and one filled count); a longer one is made value by
 * value, since a run that does not fit the current chunk seals it. */
#define RUN_BYTES (WOM__CHUNK_SIZE / 32)

static int rec_new_many(wom__reg *r, const wom_iov *v, size_t n, uint64_t *offs)
{
    if (n == 0)
        return 0;
    uint64_t need = 0;
    for (size_t i = 0; i < n && need <= RUN_BYTES; i++)
        need += wom__rec_need(v[i].len);
    if (need <= RUN_BYTES) {
        uint64_t off;
        int rc = wom__rec_alloc_n(r, need, n, 1, &off);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            offs[i] = off;
            rec_fill(r->e, off, v[i].data, v[i].len, 0);
            off += wom__rec_need(v[i].len);
        }
        wom__rec_filled_n(r->e, offs[0], n);
        return 0;
    }
    size_t made = 0;
    int rc = 0;
    while (made < n && !(rc = wom__rec_new(r, v[made].data, v[made].len, 0, &offs[made])))
        made++;
    while (rc && made)
        wom__rec_kill(r->e, offs[--made]);
    return rc;
}

/* The error for a cell word that is not EMPTY for addr. */
static int settled(uint64_t w)
{
    switch (w & C_STATE) {
    case C_WRITTEN:
        return WOM_EWRITTEN;
    case C_ABANDONED:
        return WOM_EABANDONED;
    default: /* TRIMMED, or EMPTY of a reused leaf: addr was trimmed */
        return WOM_ETRIMMED;
    }
}

static _Thread_local uint64_t published; /* ONCE cells this thread wrote (pacing, below) */

/* Publish the filled record at off in addr's cell (*cell: its word when the
 * caller found it already, else NULL, and then set to it once looked up).
 * On error the record is still the caller's (to retry elsewhere or kill). */
static int put_rec(wom__reg *r, uint64_t addr, uint64_t off, int append, wom_a64 **cellp)
{
    struct wom__region_hdr *h = r->h;
    if (addr < ld_seq(&h->floor))
        return WOM_ETRIMMED;
    int rc = *cellp ? 0 : wom__cell(r, addr, 1, cellp);
    if (rc)
        return rc;
    wom_a64 *cell = *cellp;
    uint64_t empty = cell_empty(addr);
    uint64_t w = ld_relaxed(cell); /* relaxed: the CAS decides */
    do {
        if ((w & ~C_WAIT) != empty)
            return settled(w);
        /* seq_cst (release part): publishes the record to readers' acquire
         * load of the cell; the first CAS from EMPTY wins. */
    } while (!cas_seq(cell, &w, off | C_WRITTEN));
    published++;
    if (w & C_WAIT)
        wom__futex_wake((wom_a32 *)cell, r->e->shared);
    ro_ring(r, addr);
    /* If a trim raced past addr meanwhile, the value stays in the cell until
     * the trim that releases its whole leaf collects it (index.c); reads
     * check the floor, so it is never seen. */
    if (!append && addr >= ld_relaxed(&h->next)) /* relaxed: tail_raise decides */
        tail_raise(h, addr == UINT64_MAX ? addr : addr + 1); /* saturates */
    return 0;
}

/* In a shared segment the process's busy word says "inside an append on
 * this region" from before it takes an address until the value is
 * published (slot_enter .. slot_leave), so a reader can tell a hole left by
 * a dead appender from an append in flight. */
static void slot_enter(wom__reg *r)
{
    wom_a64 *busy = r->e->busy;
    if (!busy)
        return;
    st_relaxed(busy + 1, UINT64_MAX); /* slot.addr: none yet. relaxed: the
                                         release below publishes it */
    /* release: whoever sees busy (acquire) sees slot.addr reset, never the
     * address of this process's last append. The CAS of the tail that takes
     * the address is a release too, so whoever reads a tail past that
     * address sees busy set: no seq_cst store (an xchg on x86) is needed
     * for either. */
    st_release(busy, r->idx + 1);
}

static void slot_leave(wom__reg *r)
{
    if (r->e->busy)
        st_release(r->e->busy, 0); /* release: after the last publishing CAS */
}

/* ---- append many: n values at consecutive addresses, one tail update ----
 *
 * One CAS of the tail by n reserves n addresses and the records
 * are published there in order, each by put_rec's CAS (so every guarantee
 * of one append holds per value: first write wins, waiters woken, read-only
 * sleepers rung). A put may take a reserved address first (puts may write
 * at or above the tail): that value and every later one move up by one, and
 * what no longer fits reserves again at the new tail, so addresses still
 * rise with the values and no reserved address is left unwritten by us. A
 * reserved address a trim passed is skipped (nobody reads below the floor).
 *
 * In a shared segment the slot's addr word holds the lowest reserved
 * address not yet published by this append (it only rises), so a live
 * appender may fill any EMPTY address at or above it: no_filler counts it
 * as a possible filler of all of those, which is exact for one append and
 * conservative for a batch (a hole left by a dead appender above a live
 * batch is abandoned once that batch is done). */

#define MANY_ON_STACK 64

/* put_rec for consecutive addresses: the index is looked up once per leaf
 * (*leaf: the cells of leaf number *leafno, NULL at first). A leaf that a
 * trim released and reused meanwhile holds words of other leaf numbers or
 * TRIMMED, which fail the CAS, as a stale leaf cache does (index.c). */
static inline __attribute__((always_inline)) int put_rec_run(wom__reg *r, uint64_t addr, uint64_t off, wom_a64 **leaf,
                       uint64_t *leafno)
{
    uint64_t in = addr & (WOM__LEAF_CELLS - 1);
    wom_a64 *cell = *leaf && *leafno == addr >> WOM__LEAF_BITS ? *leaf + in : NULL;
    int rc = put_rec(r, addr, off, 1, &cell);
    if (cell) {
        *leaf = cell - in;
        *leafno = addr >> WOM__LEAF_BITS;
    }
    return rc;
}

/* Publish records offs[0..n) at consecutive addresses (see above); *done
 * counts those published, addrs[i] (if given) gets each one's address.
 * Inlined into both callers: with n = 1 the compiler folds the loops away,
 * so a single append costs what its own loop did. */
static inline __attribute__((always_inline)) int append_run(wom__reg *r, const uint64_t *offs, size_t n, uint64_t *addrs,
                      size_t *done)
{
    wom_a64 *slot_addr = r->e->busy ? r->e->busy + 1 : NULL, *leaf = NULL;
    uint64_t leafno = 0;
    size_t i = 0;
    while (i < n) {
        /* relaxed: the tail only rises, so a stale value that leaves no room
         * means the current one leaves none either; else the CAS decides */
        uint64_t want = n - i, a = ld_relaxed(&r->h->next);
        /* A compare-and-swap, not a fetch-and-add: the tail must never
         * wrap, even for a moment. An add that passed UINT64_MAX and was
         * undone afterwards let the appenders in between take addresses
         * from 0 (found by batch_appends_share_the_last_addresses). A run
         * that does not fit is WOM_ENOSPC; the values of this call placed
         * by an earlier pass (a concurrent put or trim displaced the rest
         * of its run, which takes new addresses here) stay appended and
         * are counted in *done. A tail of UINT64_MAX means the space is
         * used up (by 2^64 appends, a put at the last address or a trim to
         * it). */
        do {
            if (a > UINT64_MAX - want)
                return WOM_ENOSPC;
        } while (!cas_seq(&r->h->next, &a, a + want));
        for (uint64_t at = a; at - a < want && i < n; at++) {
            /* release: after busy, and after the tail's CAS or the CAS
             * of at - 1 (a reader that reads UINT64_MAX meanwhile counts
             * the append as able to fill any address) */
            if (slot_addr)
                st_release(slot_addr, at);
            int rc = put_rec_run(r, at, offs[i], &leaf, &leafno);
            if (rc == 0) {
                if (addrs)
                    addrs[i] = at;
                *done = ++i;
            } else if (rc == WOM_ETRIMMED) { /* skipped: nobody reads below the floor */
                tail_raise(r->h, ld_seq(&r->h->floor));
            } else if (rc != WOM_EWRITTEN) {
                return rc;
            }
        }
    }
    return 0;
}

/* Publish the record at off at the next free address: a run of one. */
static int append_rec(wom__reg *r, uint64_t off, uint64_t *addr)
{
    size_t done;
    slot_enter(r);
    int rc = append_run(r, &off, 1, addr, &done);
    slot_leave(r);
    return rc;
}

int wom__eng_append_many(wom__reg *r, const wom_iov *v, size_t n, uint64_t *addrs,
                         size_t *done)
{
    *done = 0;
    RO_CHECK(r->e);
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    for (size_t i = 0; i < n; i++)
        if (v[i].len > r->max_value)
            return WOM_EMSGSIZE; /* before anything is appended */
    uint64_t stack[MANY_ON_STACK], *offs = stack;
    if (n > MANY_ON_STACK && !(offs = malloc(n * sizeof *offs)))
        return WOM_ENOMEM;
    /* Every record first, so that a full space appends nothing. */
    int rc = rec_new_many(r, v, n, offs);
    if (!rc) {
        slot_enter(r);
        rc = append_run(r, offs, n, addrs, done);
        slot_leave(r);
        for (size_t i = *done; i < n; i++)
            wom__rec_kill(r->e, offs[i]);
    }
    if (offs != stack)
        free(offs);
    return rc;
}

int wom__eng_put(wom__reg *r, uint64_t addr, const void *buf, size_t len)
{
    RO_CHECK(r->e);
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    uint64_t off;
    int rc = wom__rec_new(r, buf, len, 0, &off);
    wom_a64 *cell = NULL;
    if (!rc && (rc = put_rec(r, addr, off, 0, &cell)))
        wom__rec_kill(r->e, off);
    return rc;
}

int wom__eng_append(wom__reg *r, const void *buf, size_t len, uint64_t *addr)
{
    RO_CHECK(r->e);
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    uint64_t off;
    int rc = wom__rec_new(r, buf, len, 0, &off);
    if (!rc && (rc = append_rec(r, off, addr)))
        wom__rec_kill(r->e, off);
    return rc;
}

/* ---- loans: a record written in place, then published ---- */

int wom__eng_loan(wom__reg *r, size_t len, uint64_t *off, void **data)
{
    RO_CHECK(r->e);
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    int rc = wom__rec_new(r, NULL, len, 1, off);
    if (!rc)
        *data = rec_at(r->e, *off) + 1;
    return rc;
}

/* A loan's bytes are final from its first publish attempt on: it stops
 * counting as being filled before it can become visible (and, once
 * visible, trimmed and its chunk reused). */
static void loan_done(wom__reg *r, uint64_t off)
{
    struct wom__rec *rec = rec_at(r->e, off);
    if (rec->version == 0) { /* the first publish attempt (or the cancel) */
        rec->version = 1;
        wom__rec_seal_sum(r->e, rec);
        wom__rec_filled(r->e, off);
    }
}

int wom__eng_loan_put(wom__reg *r, uint64_t off, uint64_t addr)
{
    wom_a64 *cell = NULL;
    loan_done(r, off);
    return put_rec(r, addr, off, 0, &cell);
}

int wom__eng_loan_append(wom__reg *r, uint64_t off, uint64_t *addr)
{
    loan_done(r, off);
    return append_rec(r, off, addr);
}

void wom__eng_loan_cancel(wom__reg *r, uint64_t off)
{
    loan_done(r, off);
    wom__rec_kill(r->e, off);
}

/* The appending process whose slot holds addr of r, or -1. */
static int64_t appender_of(wom__reg *r, uint64_t addr)
{
    wom__eng *e = r->e;
    for (uint32_t j = 0; e->host && j < WOM__NPROCS; j++) {
        struct wom__proc *p = &e->hdr->procs[j];
        if (ld_seq(&p->busy) == r->idx + 1 && ld_seq(&p->addr) == addr)
            return (int64_t)ld_relaxed(&p->pid); /* relaxed: informational */
    }
    return -1;
}

int wom__eng_inspect(wom__reg *r, uint64_t addr, wom_cell_info *out)
{
    wom_cell_info info = {WOM_CELL_EMPTY, 0, 0, -1};
    wom_a64 *cell;
    int rc = r->mode == WOM_ONCE && addr < ld_seq(&r->h->floor) ? WOM_ETRIMMED
                                                                : wom__cell(r, addr, 0, &cell);
    uint64_t w = rc ? 0 : ld_acquire(cell); /* pairs with the writer's CAS */
    if (rc == WOM_ETRIMMED || (!rc && (w & C_STATE) == C_TRIMMED)) {
        info.state = WOM_CELL_TRIMMED;
    } else if (rc && rc != WOM_EEMPTY) {
        return rc;
    } else if (!rc && (w & C_STATE) == C_ABANDONED) {
        info.state = WOM_CELL_ABANDONED;
    } else if (!rc && (w & C_STATE) == C_WRITTEN &&
               !wom__rec_ok(r->e, w & ~C_LOW, r->max_value)) {
        /* unpinned: trimmed (and reused) meanwhile, or corrupt */
        if (r->mode != WOM_ONCE || addr >= ld_seq(&r->h->floor))
            return WOM_ECORRUPT;
        info.state = WOM_CELL_TRIMMED;
    } else if (!rc && (w & C_STATE) == C_WRITTEN) {
        const struct wom__rec *rec = rec_at(r->e, w & ~C_LOW);
        info.state = WOM_CELL_WRITTEN;
        info.len = rec->len;
        info.version = rec->version;
    } else if ((info.pid = appender_of(r, addr)) >= 0) {
        info.state = WOM_CELL_CLAIMED;
    }
    *out = info;
    return 0;
}

int wom__eng_tail(wom__reg *r, uint64_t *tail)
{
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    *tail = ld_relaxed(&r->h->next); /* a snapshot; no ordering promised */
    return 0;
}

static int same_chunk(uint64_t a, uint64_t b) { return (a ^ b) < WOM__CHUNK_SIZE; }

/* A pinned view: pin_[0] = the engine, pin_[1] = record offset | the slot
 * the pin was counted in << VIEW_SLOT_SHIFT (offsets stay below 2^46), so
 * the unpin lands in the same count even in a forked child. */
#define VIEW_SLOT_SHIFT 48
#define VIEW_OFF(p) ((p) & ((1ull << VIEW_SLOT_SHIFT) - 1))

/* Pin the value in WRITTEN word w of a ONCE cell at addr. If v holds a pin
 * (pin_[0] is this engine) on the same chunk, that pin is kept instead: the
 * chunk has stayed in one life since it was taken, so the floor check below
 * proves the record as a fresh pin would. Otherwise the held pin is
 * dropped. */
static int once_pin(wom__reg *r, uint64_t addr, uint64_t w, wom_view *v)
{
    uint64_t off = w & ~C_LOW;
    /* A pin this process holds: of this engine, in this process's slot (a
     * view inherited across fork counts in the parent's slot). */
    int held = v->pin_[0] == (uint64_t)(uintptr_t)r->e &&
               v->pin_[1] >> VIEW_SLOT_SHIFT == r->e->pin_slot;
    int fresh = !held || !same_chunk(VIEW_OFF(v->pin_[1]), off);
    uint64_t slot = held ? v->pin_[1] >> VIEW_SLOT_SHIFT : r->e->pin_slot;
    /* The held pin's chunk was checked to be one when it was pinned. */
    if (!wom__rec_place_ok(off) ||
        (fresh && !eng_piece_ok(r->e, off & ~(WOM__CHUNK_SIZE - 1), WOM__CHUNK_SIZE)))
        return WOM_ECORRUPT;
    if (fresh) {
        wom__eng_unpin_view(v); /* any engine's pin: it knows its own */
        if (wom__pin(r->e, off))
            return WOM_ETRIMMED;
        v->pin_[0] = (uint64_t)(uintptr_t)r->e;
        slot = r->e->pin_slot;
    }
    v->pin_[1] = off | slot << VIEW_SLOT_SHIFT;
    /* The pin is seq_cst, so this load sees any floor raised before the
     * chunk could have been retired and reused. */
    if (addr < ld_seq(&r->h->floor)) {
        wom__eng_unpin_view(v);
        return WOM_ETRIMMED;
    }
    /* Only now is the record stable: judge its header. */
    if (!wom__rec_len_ok(r->e, off, r->max_value)) {
        wom__eng_unpin_view(v);
        return WOM_ECORRUPT;
    }
    if (!wom__rec_sum_ok(r->e, rec_at(r->e, off))) {
        wom__eng_unpin_view(v);
        return WOM_ECORRUPT; /* the value's bytes changed since it was written */
    }
    if (fresh)
        wom__seal(r->e, off); /* a full, written chunk turns read-only here */
    struct wom__rec *rec = rec_at(r->e, off);
    v->data = rec + 1;
    v->len = rec->len;
    return 0;
}

/* Read-only views own a copy: pin_[0] = engine | 1, pin_[1] = the buffer. */
struct ro_buf {
    size_t cap;
    _Alignas(16) unsigned char data[];
};

/* A buffer of at least len bytes owned by v, reusing the one it holds. */
static void *ro_buf_for(wom__eng *e, wom_view *v, size_t len)
{
    struct ro_buf *b = NULL;
    if (v->pin_[0] == ((uint64_t)(uintptr_t)e | 1))
        b = (struct ro_buf *)(uintptr_t)v->pin_[1];
    else
        wom__eng_unpin_view(v);
    if (!b || b->cap < len) {
        size_t cap = len < 256 ? 256 : len;
        free(b);
        v->pin_[0] = v->pin_[1] = 0;
        if (!(b = malloc(sizeof *b + cap)))
            return NULL;
        b->cap = cap;
    }
    v->pin_[0] = (uint64_t)(uintptr_t)e | 1;
    v->pin_[1] = (uint64_t)(uintptr_t)b;
    return b->data;
}

/* Read-only: copy the value in WRITTEN word w of addr's cell into a buffer v
 * owns. Without a pin the record's chunk may be reused under the copy, but
 * only after trim raised the floor past addr (its record dies then, not
 * before), so a floor still at or below addr after the copy (an acquire
 * fence between) proves the bytes were this value's; the checksum then
 * vouches for them. */
static int once_copy(wom__reg *r, uint64_t addr, uint64_t w, wom_view *v)
{
    wom__eng *e = r->e;
    uint64_t off = w & ~C_LOW;
    if (!wom__rec_ok(e, off, r->max_value))
        return addr < ld_seq(&r->h->floor) ? WOM_ETRIMMED : WOM_ECORRUPT;
    const struct wom__rec *rec = rec_at(e, off);
    uint32_t len = rec->len, sum = rec->sum; /* read again: rec_ok's may be stale */
    if (len > r->max_value || len > WOM__CHUNK_SIZE - (off & (WOM__CHUNK_SIZE - 1)) - sizeof *rec)
        return addr < ld_seq(&r->h->floor) ? WOM_ETRIMMED : WOM_ECORRUPT;
    unsigned char *buf = ro_buf_for(e, v, len);
    if (!buf)
        return WOM_ENOMEM;
    memcpy(buf, rec + 1, len);
    fence_acquire(); /* the copy before the floor check */
    if (addr < ld_seq(&r->h->floor))
        return WOM_ETRIMMED;
    if (wom__value_sum(buf, len) != sum)
        return WOM_ECORRUPT;
    v->data = buf;
    v->len = len;
    return 0;
}

static int get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
static int cell_sleep(wom__reg *r, uint64_t addr, wom_a64 *cell, uint64_t w, int64_t deadline);
static int ro_cell_sleep(wom__reg *r, uint64_t addr, wom_a64 **cell, int64_t deadline);

int wom__eng_get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    int rc = get_view(r, addr, v, timeout_ns);
    if (rc)
        wom__eng_unpin_view(v); /* on error v holds no view */
    return rc;
}

/* The word of addr's cell. A read-only process cannot make a missing leaf,
 * so it reads an absent one as EMPTY (looking it up again each time) until
 * a writer makes it. */
static int cell_word(wom__reg *r, uint64_t addr, wom_a64 **cell, uint64_t *w)
{
    if (!*cell) {
        int rc = wom__cell(r, addr, 0, cell);
        if (rc == WOM_EEMPTY) {
            *w = cell_empty(addr);
            return 0;
        }
        if (rc)
            return rc;
    }
    /* seq_cst (acquire part): pairs with the writer's CAS (the record's
     * bytes); seq_cst for the read-only sleeper's Dekker (ro_cell_sleep). */
    *w = ld_seq(*cell);
    return 0;
}

/* Pacing of a reader that caught up with a writer. A reader that looks at
 * an EMPTY cell takes its cache line from the writer, which is about to
 * write that very line (8 cells to a line, and its records next to the one
 * being read): looking after every pause costs a streaming writer a line
 * transfer per message (about 130 or 550 ns here, by core placement, against
 * 60 ns for an append), and the reader then reads each record while the
 * writer still writes next to it. So a waiting thread looks only every
 * `pace` pauses, chosen at the start of each wait by what the thread did:
 *  - PACE_CONSUMER (64 pauses, about 1.3 us here) when it wrote no cell
 *    since its last wait ended: a consumer, which nobody waits on; the
 *    writer gets many messages ahead and the reader streams through lines
 *    the writer has left (far cores, 64 B: 3.0 -> 5.1 M msg/s; 4 KiB: 1.2
 *    -> 1.8). A message that arrives while it spins is seen up to that much
 *    later: one-way latency of a lone consumer, not of a conversation.
 *  - when it wrote since (it answers: a ping-pong, a request and reply, a
 *    relay stage), PACE_PAUSES if its last wait ended with the writer
 *    already past the cell it waited for (the next cell written: a
 *    streaming writer), else 1: a reply is looked for after every pause,
 *    so a round trip costs no added latency.
 * This only decides when to look: what a look finds, the futex sleep after
 * the spin, and every guarantee, are unchanged. Per thread: a subscriber
 * is one thread's cursor. */
#define PACE_PAUSES 8
#define PACE_CONSUMER 64
static _Thread_local unsigned pace_hint = 1;        /* from the last wait's end */
static _Thread_local uint64_t published_at_wait = 0; /* `published` then */

/* Whether the writer was past written cell `cell` when the wait for it
 * ended: the next cell is written. Only the cell's own line is read (the
 * reader has it): reading the region's tail instead took that line from
 * the writer, whose next append must take it back, once per wait (-19% on
 * a 64 B ping-pong's p50, +30% on a stream, far cores). Leaves are
 * page-aligned, so a next cell on the same line is in the same leaf; at a
 * line's end the hint stays as it was. */
static inline unsigned pace_after(const wom_a64 *cell)
{
    const wom_a64 *n = cell + 1;
    if (((uintptr_t)n & 63) == 0)
        return pace_hint;
    /* relaxed: a hint for pacing only */
    return (ld_relaxed(n) & C_STATE) == C_WRITTEN ? PACE_PAUSES : 1;
}
_Thread_local int64_t wom__spin_ns = SPIN_NS;

/* A consumer whose wait ended quickly (the cell was written within
 * PACE_QUICK looks: the writer is streaming) and finds the cell PACE_AHEAD
 * further on still EMPTY lingers once more, PACE_CONSUMER pauses, before it
 * reads: the writer gets a run of messages ahead and the reader then reads
 * them from lines the writer has left, instead of following on its heels a
 * line at a time (far cores, 64 B: 5.44-5.62 -> 6.05-6.19 M msg/s; 4 KiB:
 * 2.03-2.20 -> 2.39-2.48). A wait that took longer (sparse messages, or
 * one that yielded the core) does not linger, so its latency is unchanged;
 * messages 1-3 us apart arrive up to one more PACE_CONSUMER later (one-way
 * p50 1.4-1.9 -> 2.4-3.0 us). The cell looked at is in the same leaf (at a
 * leaf's end there is no lingering). */
#define PACE_QUICK 2
#define PACE_AHEAD 32
static inline int ahead_written(const wom_a64 *cell, uint64_t addr)
{
    if ((addr & (WOM__LEAF_CELLS - 1)) + PACE_AHEAD >= WOM__LEAF_CELLS)
        return 1;
    /* relaxed: a hint for pacing only; the cell itself is read seq_cst */
    return (ld_relaxed(cell + PACE_AHEAD) & C_STATE) != C_EMPTY;
}

/* Trailing a fast writer. A consumer that keeps up with a writer
 * appending as fast as it can reads each line just after the writer wrote
 * it, and the writer must take every line it shares with the reader back
 * (its next CAS waits for that): on far cores the stream ran at a third of
 * what the writer alone appends. So a consumer whose wait ended quickly
 * (the writer streams) trails it: before it reads a cell, it looks whether
 * the line `dist` cells on is written, and while it is not, it pauses
 * TRAIL_PAUSES once per message instead of reading. It then reads lines
 * the writer left long ago, and the writer appends undisturbed.
 *
 * dist is what the writer appends in TRAIL_NS at the rate it was measured
 * at (at most TRAIL_MAX cells, and only inside the cell's leaf): a message
 * waits at most about TRAIL_NS longer for a trailing reader. The rate is
 * measured at each pause, from the region's tail and the clock (the tail's
 * line is read then: one transfer per pause, not per message). A writer
 * slower than TRAIL_RATE messages a microsecond gains little from it (its
 * lines are transfers between appends anyway), so after TRAIL_STRIKES
 * measurements in a row say so, the reader stops trailing, and does not
 * start again in that region for TRAIL_SLOW_NS. (One slow measurement
 * does not stop it: a writer at full speed has slow moments, a new chunk
 * or a trim, and stopping at the first cost a third of the gain.)
 * A trailing reader stops at its next wait that is not quick, and as soon
 * as it writes (it answers: a conversation, whose latency counts).
 * Per thread, like the pacing above; a hint only: what a read finds, and
 * every guarantee, are the same as without it. */
#define TRAIL_PAUSES 256 /* about 5 us here */
#define TRAIL_NS 32000
#define TRAIL_MAX 512
#define TRAIL_START 64 /* cells, until the first pause measures the rate */
#define TRAIL_RATE 4 /* messages per microsecond */
#define TRAIL_STRIKES 3
#define TRAIL_SLOW_NS 10000000

static _Thread_local struct trail {
    uint64_t key;       /* the region trailed (its leaf_key); 0: none */
    uint64_t dist;      /* cells kept between the reader and the writer; 0: not trailing */
    uint64_t tail;      /* the region's tail at the last measurement */
    int64_t ns;         /* and when */
    int64_t slow_until; /* the writer was slow: no trailing in key's region until */
    int strikes;        /* measurements in a row that found the writer slow */
} trail;

/* Whether the line holding the cell `dist` cells after addr's is written
 * (or lies in another leaf, not looked at). */
static inline int trail_far_enough(const wom_a64 *cell, uint64_t addr, uint64_t dist)
{
    uint64_t in = addr & (WOM__LEAF_CELLS - 1), j = (in + dist) | 7;
    if (j >= WOM__LEAF_CELLS)
        return 1;
    /* relaxed: a hint for pacing only; the cell itself is read seq_cst */
    return (ld_relaxed(cell + (j - in)) & C_STATE) != C_EMPTY;
}

/* A consumer's quick wait in r ended (start 1), or another wait did. */
static void trail_begin(wom__reg *r, int start)
{
    trail.dist = 0;
    if (!start)
        return;
    if (trail.key == r->leaf_key && wom__now_ns() < trail.slow_until)
        return;
    trail.key = r->leaf_key;
    trail.dist = TRAIL_START;
    trail.ns = 0; /* the first pause only starts the measurement */
    trail.strikes = 0;
}

/* After a trailing pause: measure the writer's rate, set dist by it. The
 * first pause of a trail (or one after a second or more) only notes tail
 * and time: until then the reader was at the writer's heels, slowing it. */
static void trail_measure(wom__reg *r)
{
    int64_t now = wom__now_ns();
    /* relaxed: a rate hint; whatever it says only changes how long reads
     * pause (a tail in shared memory is not trusted either) */
    uint64_t tail = ld_relaxed(&r->h->next);
    uint64_t n = tail - trail.tail, dt = (uint64_t)(now - trail.ns);
    int first = trail.ns == 0 || now <= trail.ns || dt > 1000000000;
    trail.tail = tail;
    trail.ns = now;
    if (first)
        return;
    if (n > dt || n * 1000 < dt * TRAIL_RATE) { /* slow (or a tail that moved back) */
        if (n > dt || ++trail.strikes >= TRAIL_STRIKES) {
            trail.dist = 0;
            trail.slow_until = now + TRAIL_SLOW_NS;
        }
        return; /* else dist stays as it was */
    }
    trail.strikes = 0;
    uint64_t dist = n * TRAIL_NS / dt; /* n <= dt <= 1 s: no overflow */
    trail.dist = dist < TRAIL_MAX ? dist : TRAIL_MAX;
}

/* get_view's wait for addr's cell (*cell: its word, or NULL when a
 * read-only process found no leaf yet), from its first look on. Out of
 * line: a read of a written cell, the common case, sets none of this up. */
static __attribute__((noinline)) int get_wait(wom__reg *r, uint64_t addr, wom_a64 *cell,
                                              wom_view *v, int64_t timeout_ns, int trailing)
{
    wom__eng *e = r->e;
    uint64_t empty = cell_empty(addr);
    int64_t deadline = -2;
    unsigned pace = 1, looks = 0;
    int linger = 0, rc;
    struct backoff spins = BACKOFF_INIT;
    for (;;) {
        uint64_t w;
        if ((rc = cell_word(r, addr, &cell, &w)))
            return rc;
        if ((w & C_STATE) == C_WRITTEN) {
            if (trailing) { /* written, but the writer is too near: pause once */
                trailing = 0;
                for (unsigned i = 0; i < TRAIL_PAUSES; i++)
                    wom__cpu_relax();
                trail_measure(r);
                continue;
            }
            if (deadline != -2) {
                if (linger && !ahead_written(cell, addr)) {
                    linger = 0;
                    for (unsigned i = 0; i < pace; i++)
                        wom__cpu_relax();
                    continue;
                }
                /* A consumer whose wait ended within PACE_QUICK looks */
                trail_begin(r, pace == PACE_CONSUMER && looks <= PACE_QUICK && !spins.yields);
                pace_hint = pace_after(cell);
                published_at_wait = published;
                backoff_done(&spins);
            }
            return e->ro ? once_copy(r, addr, w, v) : once_pin(r, addr, w, v);
        }
        if ((w & ~C_WAIT) != empty)
            return settled(w);
        if (timeout_ns == 0)
            return WOM_EEMPTY;
        if (deadline == -2) {
            deadline = wom__deadline(timeout_ns);
            pace = published == published_at_wait ? PACE_CONSUMER : pace_hint;
            linger = pace == PACE_CONSUMER;
        }
        if (looks++ >= PACE_QUICK || spins.yields)
            linger = 0;
        if (backoff_by(&spins, pace))
            continue;
        rc = e->ro ? ro_cell_sleep(r, addr, &cell, deadline) : cell_sleep(r, addr, cell, w, deadline);
        if (rc)
            return rc;
    }
}

static int get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    wom__eng *e = r->e;
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    if (addr < ld_seq(&r->h->floor))
        return WOM_ETRIMMED;
    wom_a64 *cell = NULL;
    int rc = wom__cell(r, addr, timeout_ns != 0 && !e->ro, &cell);
    if (rc && !(rc == WOM_EEMPTY && e->ro && timeout_ns != 0))
        return rc;
    if (cell) {
        /* seq_cst (acquire part): pairs with the writer's CAS, as in
         * cell_word */
        uint64_t w = ld_seq(cell);
        if ((w & C_STATE) == C_WRITTEN) {
            if (trail.dist && trail.key == r->leaf_key && timeout_ns != 0 &&
                published == published_at_wait && !trail_far_enough(cell, addr, trail.dist))
                return get_wait(r, addr, cell, v, timeout_ns, 1);
            return e->ro ? once_copy(r, addr, w, v) : once_pin(r, addr, w, v);
        }
    }
    return get_wait(r, addr, cell, v, timeout_ns, 0);
}

/* 1 when no process can fill EMPTY cell addr any more: it lies below the
 * tail, a process died inside an append on this region (sticky evidence,
 * from its slot), and no live process is inside one that may still fill
 * it. Every address below the tail read here was taken by an appender that
 * was busy before it took it, so a live one would show. */
static int no_filler(wom__reg *r, uint64_t addr)
{
    wom__eng *e = r->e;
    if (addr >= ld_seq(&r->h->next))
        return 0;
    int live = 0, dead = 0;
    for (uint32_t j = 0; j < WOM__NPROCS; j++) {
        struct wom__proc *p = &e->hdr->procs[j];
        if (j == e->self || ld_seq(&p->busy) != r->idx + 1)
            continue;
        /* A live appender may still fill addr only if it has no address yet
         * or its lowest unpublished one is at or below addr (a batch holds
         * a range above it, append many): any address it takes later is
         * at or above the tail read above. */
        uint64_t at = ld_seq(&p->addr);
        if (!eng_alive(e, j))
            dead = 1;
        else if (at == UINT64_MAX || at <= addr)
            live = 1;
    }
    if (dead && !e->ro)
        st_seq(&r->h->crashed, 1);
    return !live && (dead || ld_seq(&r->h->crashed));
}

/* A reader waits on EMPTY cell addr that no process can fill any more: move
 * it to ABANDONED with one CAS. A writer that still comes (a put) loses that
 * CAS: the write-once rule is the fence. */
static void once_recover(wom__reg *r, uint64_t addr, wom_a64 *cell)
{
    if (!no_filler(r, addr))
        return;
    uint64_t empty = cell_empty(addr), w = ld_seq(cell);
    while ((w & ~C_WAIT) == empty) {
        if (cas_seq(cell, &w, C_ABANDONED)) {
            if (w & C_WAIT)
                wom__futex_wake((wom_a32 *)cell, r->e->shared);
            ro_ring(r, addr);
            return;
        }
    }
}

/* Sleep on EMPTY cell word w: mark it WAITERS (the writer's CAS then sees
 * the mark and wakes us) and wait on it. 0: look again. */
static int cell_sleep(wom__reg *r, uint64_t addr, wom_a64 *cell, uint64_t w, int64_t deadline)
{
    wom__eng *e = r->e;
    if (!(w & C_WAIT) && !cas_seq(cell, &w, w | C_WAIT))
        return 0;
    /* Dekker with trim: we set WAITERS then read the floor; trim raises
     * the floor then exchanges the cell. One of us sees the other. */
    if (addr < ld_seq(&r->h->floor))
        return WOM_ETRIMMED;
    /* In a shared segment, wake now and then to look for a dead writer:
     * the evidence is the kernel's liveness lock, the slice only says
     * when to look. */
    int64_t until = deadline;
    if (e->host) {
        int64_t slice = wom__now_ns() + RECOVER_SLICE_NS;
        until = until < 0 || slice < until ? slice : until;
    }
    if (wom__futex_wait((wom_a32 *)cell, (uint32_t)(w | C_WAIT), e->shared, until)) {
        if (until == deadline)
            return WOM_ETIMEDOUT;
        once_recover(r, addr, cell);
    }
    return 0;
}

int wom__ro_doze(wom__reg *r, wom_a32 *bell, int (*missing)(void *), void *arg,
                 int64_t deadline)
{
    wom__eng *e = r->e;
    wom_a32 *count = &e->hdr->wake.sleepers[r->idx];
    if (e->ro_wake)
        faa_seq(count, 1);
    uint32_t ring = ld_seq(bell);
    int rc = missing(arg);
    if (rc == 1) {
        int64_t slice = wom__now_ns() + (e->ro_wake ? RECOVER_SLICE_NS : RO_POLL_NS);
        int64_t until = deadline < 0 || slice < deadline ? slice : deadline;
        rc = 0;
        if (wom__futex_wait(bell, ring, e->shared, until))
            rc = until == deadline ? WOM_ETIMEDOUT : 1;
    }
    if (e->ro_wake)
        fas_seq(count, 1);
    return rc;
}

struct ro_once_wait {
    wom__reg *r;
    uint64_t addr;
    wom_a64 **cell;
};

static int ro_once_missing(void *arg)
{
    struct ro_once_wait *a = arg;
    uint64_t w;
    int rc = cell_word(a->r, a->addr, a->cell, &w);
    if (rc)
        return rc;
    return (w & ~C_WAIT) == cell_empty(a->addr) && a->addr >= ld_seq(&a->r->h->floor);
}

/* Read-only: sleep on addr's bell until a writer rings it (trim rings them
 * all); in the slices between, look for a dead appender, and report a cell
 * no one can fill as abandoned, which is all a process that cannot write
 * the cell can do. 0: look again. */
static int ro_cell_sleep(wom__reg *r, uint64_t addr, wom_a64 **cell, int64_t deadline)
{
    struct ro_once_wait a = {r, addr, cell};
    int rc = wom__ro_doze(r, bell_of(r, addr), ro_once_missing, &a, deadline);
    if (rc == 1)
        rc = r->e->host && no_filler(r, addr) ? WOM_EABANDONED : 0;
    return rc;
}

void wom__eng_unpin_view(wom_view *v)
{
    uint64_t p = v->pin_[0];
    if (p && wom__view_owner_of(p)->release != wom__eng_unpin_view) {
        wom__view_release(v); /* another backend's view, handed to an engine read */
        return;
    }
    uint32_t slot = (uint32_t)(v->pin_[1] >> VIEW_SLOT_SHIFT);
    if (p & 1)
        free((void *)(uintptr_t)v->pin_[1]); /* a read-only view's copy */
    else if (p && slot == ((wom__eng *)(uintptr_t)p)->pin_slot)
        wom__unpin((wom__eng *)(uintptr_t)p, VIEW_OFF(v->pin_[1]), slot);
    /* else: a view this process inherited across fork; its pin counts in
     * the parent's slot, and the parent releases it (dropping it here too
     * would release the chunk under the parent's view). */
    v->pin_[0] = 0;
    v->pin_[1] = 0;
}

/* The trim lock: a futex word = (holder's slot + 1) << 1 | WAITING. In a
 * shared segment a waiter wakes now and then, and takes the lock over from
 * a holder the kernel says is dead (never from a live, slow one). */
static uint32_t lock_word(const wom__eng *e) { return (e->busy ? e->self + 1 : 1) << 1; }

static void trim_lock(wom__reg *r)
{
    wom__eng *e = r->e;
    wom_a32 *l = &r->h->trim_lock;
    uint32_t me = lock_word(e);
    for (;;) {
        uint32_t v = 0;
        if (cas_seq(l, &v, me))
            return;
        if (!(v & 1) && !cas_seq(l, &v, v | 1))
            continue;
        v |= 1;
        int64_t until = e->host ? wom__now_ns() + RECOVER_SLICE_NS : -1;
        if (wom__futex_wait(l, v, e->shared, until) == 0)
            continue;
        if (e->host && !eng_alive(e, (v >> 1) - 1) && cas_seq(l, &v, me | 1))
            return; /* the dead holder's walk is redone from trim_from */
    }
}

static void trim_unlock(wom__reg *r)
{
    if (xchg_seq(&r->h->trim_lock, 0) & 1)
        wom__futex_wake(&r->h->trim_lock, r->e->shared);
}

int wom__eng_trim(wom__reg *r, uint64_t below)
{
    RO_CHECK(r->e);
    struct wom__region_hdr *h = r->h;
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    trim_lock(r);
    /* trim_from is where the last walk began; it equals the floor unless
     * that trim's process died mid-walk, and then this walk covers its
     * range again (walking trimmed cells again is harmless). */
    uint64_t from = ld_seq(&h->trim_from), floor = ld_seq(&h->floor);
    int rc = 0;
    if (below > floor) {
        /* The root must already cover every trimmed address, so a writer
         * that grows the tree later cannot hang a leaf below the floor
         * outside the subtree this trim walks. */
        wom_a64 *cell;
        rc = wom__cell(r, below - 1, 1, &cell);
        if (rc == WOM_ETRIMMED)
            rc = 0;
        if (!rc) {
            st_seq(&h->floor, below);
            tail_raise(h, below);
            floor = below;
            if (ro_sleepers(r)) /* they sleep on bells: ring them all */
                for (unsigned i = 0; i < sizeof h->bell / sizeof h->bell[0]; i++)
                    bell_ring(r, &h->bell[i]);
        }
    }
    if (floor > from) {
        wom__index_trim(r, from, floor);
        st_seq(&h->trim_from, floor);
    }
    trim_unlock(r);
    return rc;
}

