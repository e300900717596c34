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
 */
#include <errno.h>
#include <string.h>

#include "engine/cell.h"

static inline uint64_t rotl64(uint64_t x, unsigned k) { return (x << k) | (x >> (64 - k)); }

/* The checksum of a value in a shared segment: four independent
 * multiply-rotate lanes over 32-byte blocks (about a cycle per 8 bytes),
 * folded with the length. Not cryptographic: it catches bit rot, torn or
 * stray writes to the file. */
static uint32_t value_sum(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t l[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                     0x85ebca77c2b2ae63ull};
    size_t left = n;
    for (; left >= 32; s += 32, left -= 32)
        for (int i = 0; i < 4; i++) {
            uint64_t w;
            memcpy(&w, s + 8 * i, 8);
            l[i] = rotl64((l[i] ^ w) * 0xff51afd7ed558ccdull, 31);
        }
    unsigned char tail[32] = {0};
    memcpy(tail, s, left);
    for (int i = 0; i < 4; i++) {
        uint64_t w;
        memcpy(&w, tail + 8 * i, 8);
        l[i] = rotl64((l[i] ^ w) * 0xff51afd7ed558ccdull, 31);
    }
    uint64_t h = l[0] ^ rotl64(l[1], 17) ^ rotl64(l[2], 31) ^ rotl64(l[3], 47) ^ n;
    h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* Shared segments (e->sealed is their marker) keep a checksum per value. */
void wom__rec_seal_sum(const wom__eng *e, struct wom__rec *rec)
{
    if (e->sealed)
        rec->sum = value_sum(rec + 1, rec->len);
}

int wom__rec_sum_ok(const wom__eng *e, const struct wom__rec *rec)
{
    return !e->sealed || rec->sum == value_sum(rec + 1, rec->len);
}

/* ---- ONCE cells ---- */

static void tail_raise(struct wom__region_hdr *h, uint64_t to)
{
    uint64_t t = ld_relaxed(&h->next); /* relaxed: the CAS decides */
    while (t < to && !cas_seq(&h->next, &t, to))
        ;
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
    struct wom__rec *rec = rec_at(r->e, *off);
    rec->len = (uint32_t)len;
    rec->sum = 0;
    rec->version = loan ? 0 : 1; /* a ONCE record at version 0 is a loan being filled */
    if (len && buf)
        memcpy(rec + 1, buf, len);
    if (!loan)
        wom__rec_seal_sum(r->e, rec);
    if (once && !loan)
        wom__rec_filled(r->e, *off);
    return 0;
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

/* Publish the filled record at off in addr's cell. On error the record is
 * still the caller's (to retry elsewhere or kill). */
static int append_loop(wom__reg *r, uint64_t off, uint64_t *addr);

static int put_rec(wom__reg *r, uint64_t addr, uint64_t off, int append)
{
    struct wom__region_hdr *h = r->h;
    if (addr < ld_seq(&h->floor))
        return WOM_ETRIMMED;
    wom_a64 *cell;
    int rc = wom__cell(r, addr, 1, &cell);
    if (rc)
        return rc;
    uint64_t empty = cell_empty(addr);
    uint64_t w = ld_relaxed(cell); /* relaxed: the CAS decides */
    do {
        if ((w & ~C_WAIT) != empty)
            return settled(w);
        /* seq_cst (release part): publishes the record to readers' acquire
         * load of the cell; the first CAS from EMPTY wins. */
    } while (!cas_seq(cell, &w, off | C_WRITTEN));
    if (w & C_WAIT)
        wom__futex_wake((wom_a32 *)cell, r->e->shared);
    /* If a trim raced past addr meanwhile, the value stays in the cell until
     * the trim that releases its whole leaf collects it (index.c); reads
     * check the floor, so it is never seen. */
    if (!append && addr >= ld_relaxed(&h->next)) /* relaxed: tail_raise decides */
        tail_raise(h, addr == UINT64_MAX ? addr : addr + 1); /* saturates */
    return 0;
}

/* Publish the record at off at the next free address. In a shared segment
 * the process's busy word says "inside an append on this region" from
 * before it takes an address until the value is published, so a reader
 * can tell a hole left by a dead appender from an append in flight. */
static int append_rec(wom__reg *r, uint64_t off, uint64_t *addr)
{
    wom_a64 *busy = r->e->busy;
    if (busy) {
        st_seq(busy + 1, UINT64_MAX);  /* slot.addr: none yet */
        st_seq(busy, r->idx + 1); /* seq_cst: before the fetch-and-add below */
    }
    int rc = append_loop(r, off, addr);
    if (busy)
        st_release(busy, 0); /* release: after the publishing CAS */
    return rc;
}

static int append_loop(wom__reg *r, uint64_t off, uint64_t *addr)
{
    for (;;) {
        /* A tail of UINT64_MAX means the address space is used up (by 2^64
         * appends, a put at the last address or a trim to it). */
        if (ld_relaxed(&r->h->next) == UINT64_MAX) /* relaxed: a saturated counter stays */
            return WOM_ENOSPC;
        uint64_t a = faa_seq(&r->h->next, 1);
        if (r->e->busy)
            st_seq(r->e->busy + 1, a); /* slot.addr, for readers that wait on a */
        if (a == UINT64_MAX) {
            st_seq(&r->h->next, UINT64_MAX); /* undo the wrap to 0 */
            return WOM_ENOSPC;
        }
        int rc = put_rec(r, a, off, 1);
        if (rc == 0) {
            *addr = a;
            return 0;
        }
        if (rc == WOM_ETRIMMED)
            tail_raise(r->h, ld_seq(&r->h->floor));
        else if (rc != WOM_EWRITTEN)
            return rc;
    }
}

int wom__eng_put(wom__reg *r, uint64_t addr, const void *buf, size_t len)
{
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    uint64_t off;
    int rc = wom__rec_new(r, buf, len, 0, &off);
    if (!rc && (rc = put_rec(r, addr, off, 0)))
        wom__rec_kill(r->e, off);
    return rc;
}

int wom__eng_append(wom__reg *r, const void *buf, size_t len, uint64_t *addr)
{
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
    loan_done(r, off);
    return put_rec(r, addr, off, 0);
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
    for (uint32_t j = 0; e->busy && j < WOM__NPROCS; j++) {
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
    } else if (!rc && (w & C_STATE) == C_WRITTEN) {
        if (!wom__rec_ok(r->e, w & ~C_LOW, r->max_value))
            return WOM_ECORRUPT;
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

/* Pin the value in WRITTEN word w of a ONCE cell at addr. If v holds a pin
 * (pin_[0] is this engine) on the same chunk, that pin is kept instead: the
 * chunk has stayed in one life since it was taken, so the floor check below
 * proves the record as a fresh pin would. Otherwise the held pin is
 * dropped. */
static int once_pin(wom__reg *r, uint64_t addr, uint64_t w, wom_view *v)
{
    uint64_t off = w & ~C_LOW;
    if (!wom__rec_ok(r->e, off, r->max_value))
        return WOM_ECORRUPT;
    int held = v->pin_[0] == (uint64_t)(uintptr_t)r->e;
    int fresh = !held || !same_chunk(v->pin_[1], off);
    if (fresh) {
        wom__eng_unpin_view(v); /* any engine's pin: it knows its own */
        if (wom__pin(r->e, off))
            return WOM_ETRIMMED;
        v->pin_[0] = (uint64_t)(uintptr_t)r->e;
    }
    v->pin_[1] = off;
    /* The pin is seq_cst, so this load sees any floor raised before the
     * chunk could have been retired and reused. */
    if (addr < ld_seq(&r->h->floor)) {
        wom__eng_unpin_view(v);
        return WOM_ETRIMMED;
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

static int get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
static void once_recover(wom__reg *r, uint64_t addr, wom_a64 *cell);

int wom__eng_get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    int rc = get_view(r, addr, v, timeout_ns);
    if (rc)
        wom__eng_unpin_view(v); /* on error v holds no view */
    return rc;
}

static int get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    struct wom__region_hdr *h = r->h;
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    if (addr < ld_seq(&h->floor))
        return WOM_ETRIMMED;
    wom_a64 *cell;
    int rc = wom__cell(r, addr, timeout_ns != 0, &cell);
    if (rc)
        return rc;
    uint64_t empty = cell_empty(addr);
    int64_t deadline = -2;
    struct backoff spins = BACKOFF_INIT;
    for (;;) {
        /* acquire: pairs with the writer's CAS (the record's bytes). */
        uint64_t w = ld_acquire(cell);
        if ((w & C_STATE) == C_WRITTEN)
            return once_pin(r, addr, w, v);
        if ((w & ~C_WAIT) != empty)
            return settled(w);
        if (timeout_ns == 0)
            return WOM_EEMPTY;
        if (deadline == -2)
            deadline = wom__deadline(timeout_ns);
        if (backoff(&spins))
            continue;
        if (!(w & C_WAIT) && !cas_seq(cell, &w, w | C_WAIT))
            continue;
        /* Dekker with trim: we set WAITERS then read the floor; trim raises
         * the floor then exchanges the cell. One of us sees the other. */
        if (addr < ld_seq(&h->floor))
            return WOM_ETRIMMED;
        /* In a shared segment, wake now and then to look for a dead writer:
         * the evidence is the kernel's liveness lock, the slice only says
         * when to look. */
        int64_t until = deadline;
        if (r->e->alive) {
            int64_t slice = wom__now_ns() + RECOVER_SLICE_NS;
            until = until < 0 || slice < until ? slice : until;
        }
        if (wom__futex_wait((wom_a32 *)cell, (uint32_t)(w | C_WAIT), r->e->shared, until)) {
            if (until == deadline)
                return WOM_ETIMEDOUT;
            once_recover(r, addr, cell);
        }
    }
}

/* A reader waits on EMPTY cell `addr` below the tail: if a process died
 * inside an append on this region (sticky evidence, from its slot) and no
 * live process is inside one that may still fill this address, no one ever
 * will: every address below the tail read here was taken by an appender
 * that was busy before it took it, so a live one would show. Move the cell to ABANDONED with one
 * CAS; a writer that still comes (a put) loses that CAS: the write-once rule
 * is the fence. */
static void once_recover(wom__reg *r, uint64_t addr, wom_a64 *cell)
{
    wom__eng *e = r->e;
    if (addr >= ld_seq(&r->h->next))
        return;
    int live = 0;
    for (uint32_t j = 0; j < WOM__NPROCS; j++) {
        struct wom__proc *p = &e->hdr->procs[j];
        if (j == e->self || ld_seq(&p->busy) != r->idx + 1)
            continue;
        /* A live appender may still fill addr only if it has no address yet
         * or has exactly this one: any address it takes later is at or
         * above the tail read above. */
        uint64_t at = ld_seq(&p->addr);
        if (!e->alive(e, j))
            st_seq(&r->h->crashed, 1);
        else if (at == UINT64_MAX || at == addr)
            live = 1;
    }
    if (live || !ld_seq(&r->h->crashed))
        return;
    uint64_t empty = cell_empty(addr), w = ld_seq(cell);
    while ((w & ~C_WAIT) == empty) {
        if (cas_seq(cell, &w, C_ABANDONED)) {
            if (w & C_WAIT)
                wom__futex_wake((wom_a32 *)cell, e->shared);
            return;
        }
    }
}

void wom__eng_unpin_view(wom_view *v)
{
    wom__eng *e = (wom__eng *)(uintptr_t)v->pin_[0];
    if (e)
        wom__unpin(e, v->pin_[1]);
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
        int64_t until = e->alive ? wom__now_ns() + RECOVER_SLICE_NS : -1;
        if (wom__futex_wait(l, v, e->shared, until) == 0)
            continue;
        if (e->alive && !e->alive(e, (v >> 1) - 1) && cas_seq(l, &v, me | 1))
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
        }
    }
    if (floor > from) {
        wom__index_trim(r, from, floor);
        st_seq(&h->trim_from, floor);
    }
    trim_unlock(r);
    return rc;
}

