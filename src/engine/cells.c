/*
 * cells.c - regions and the cell operations.
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
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/plat.h"

/* Before sleeping on a futex a waiter spins for up to SPIN_NS (a writer on
 * another core is usually well under a microsecond away, and a futex wake
 * costs the writer a syscall and the reader several microseconds), then
 * yields a few times (on a busy machine the writer may be waiting for this
 * very core), then sleeps. */
#define SPIN_NS 20000
#define YIELD_LOOPS 4

struct backoff {
    unsigned n;
    unsigned yields;
    int64_t spin_until;
};
#define BACKOFF_INIT {0, 0, 0}

/* One step of waiting: 1 while the caller should look again, 0 when it is
 * time to sleep. The clock is read once every 64 pauses. */
static int backoff(struct backoff *b)
{
    if (b->yields == 0) {
        if ((b->n++ & 63) != 0) {
            wom__cpu_relax();
            return 1;
        }
        int64_t now = wom__now_ns();
        if (!b->spin_until)
            b->spin_until = now + SPIN_NS;
        if (now < b->spin_until) {
            wom__cpu_relax();
            return 1;
        }
    }
    if (b->yields++ < YIELD_LOOPS) {
        sched_yield();
        return 1;
    }
    return 0;
}

#define RECOVER_SLICE_NS 50000000 /* 50 ms between looks for dead processes */

static struct wom__rec *rec_at(const wom__eng *e, uint64_t off)
{
    return (struct wom__rec *)eng_ptr(e, off);
}

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
static void rec_seal_sum(const wom__eng *e, struct wom__rec *rec)
{
    if (e->sealed)
        rec->sum = value_sum(rec + 1, rec->len);
}

static int rec_sum_ok(const wom__eng *e, const struct wom__rec *rec)
{
    return !e->sealed || rec->sum == value_sum(rec + 1, rec->len);
}

static void eng_bind(wom__eng *e, void *base, uint64_t size, int shared)
{
    static wom_a64 next_id = 1;
    e->id = faa_relaxed(&next_id, 1); /* any unique value will do */
    e->base = base;
    e->size = size;
    e->shared = shared;
    e->hdr = base;
}

uint64_t wom__eng_reserved(const void *base, uint64_t avail)
{
    const struct wom__seg_hdr *h = base;
    return avail >= sizeof *h && h->magic == WOM__MAGIC ? h->size : 0;
}

int wom__eng_attach(wom__eng *e, void *base, uint64_t avail, int shared)
{
    const struct wom__seg_hdr *h = base;
    if (avail < sizeof *h || h->magic != WOM__MAGIC)
        return WOM_ECORRUPT;
    if (h->version != WOM__LAYOUT_VERSION || h->hdr_size != sizeof *h ||
        h->chunk_shift != WOM__CHUNK_SHIFT || h->nregions != WOM__NREGIONS ||
        h->size < WOM__MIN_SEGMENT || ld_relaxed(&h->brk) > h->size ||
        ld_relaxed(&h->brk) > avail)
        return WOM_ECORRUPT;
    eng_bind(e, base, h->size, shared);
    return 0;
}

void wom__eng_discard(wom__eng *e, uint64_t off, uint64_t len)
{
    if (e->discard)
        e->discard(e, off, len);
    else
        wom__vm_discard(e->base + off, len);
}

int wom__eng_format(wom__eng *e, void *base, uint64_t size, int shared)
{
    if (size < WOM__MIN_SEGMENT)
        return WOM_EINVAL;
    eng_bind(e, base, size, shared);
    e->hdr->version = WOM__LAYOUT_VERSION;
    e->hdr->hdr_size = sizeof(struct wom__seg_hdr);
    e->hdr->size = size;
    e->hdr->chunk_shift = WOM__CHUNK_SHIFT;
    e->hdr->nregions = WOM__NREGIONS;
    /* release: the segment is not shared yet; the backend publishes it */
    st_release(&e->hdr->brk, (sizeof(struct wom__seg_hdr) + WOM__PAGE - 1) & ~(uint64_t)(WOM__PAGE - 1));
    e->hdr->magic = WOM__MAGIC; /* last: a half-formatted segment has none */
    return 0;
}

/* ---- regions ---- */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void reg_bind(wom__eng *e, uint32_t i, wom__reg *out)
{
    struct wom__region_hdr *h = &e->hdr->regions[i];
    out->e = e;
    out->h = h;
    out->idx = i;
    out->mode = (wom_mode)h->mode;
    out->max_value = h->max_value;
}

/* Wait until a region another thread is creating is READY. */
/* A slot being created holds R_INIT | (creator's slot + 1) << 2. Wait
 * until it is READY; in a shared segment, a creator the kernel says is dead
 * gets its slot set back to FREE (no opener has passed an INIT slot, so the
 * probing order stays intact). Returns the state it ends on. */
static uint32_t reg_wait_ready(wom__eng *e, struct wom__region_hdr *h)
{
    /* acquire: pairs with the creator's release store of R_READY. */
    uint32_t st;
    while (((st = ld_acquire(&h->state)) & 3) == R_INIT) {
        int64_t until = e->alive ? wom__now_ns() + RECOVER_SLICE_NS : -1;
        if (wom__futex_wait(&h->state, st, e->shared, until) == 0)
            continue;
        if (e->alive && (st >> 2) && !e->alive(e, (st >> 2) - 1) &&
            cas_seq(&h->state, &st, R_FREE))
            wom__futex_wake(&h->state, e->shared);
    }
    return st;
}

int wom__eng_region(wom__eng *e, const char *name, wom_mode mode, size_t max_value,
                    wom__reg *out)
{
    size_t n = strlen(name);
    if (n == 0 || (mode != WOM_ONCE && mode != WOM_MANY))
        return WOM_EINVAL;
    if (n > WOM_NAME_MAX)
        return WOM_ENAMETOOLONG;
    if (max_value == 0)
        max_value = WOM_MAX_VALUE_DEFAULT;
    if (max_value > WOM_MAX_VALUE_LIMIT)
        return WOM_EMSGSIZE;
    uint32_t start = name_hash(name) % WOM__NREGIONS;
    /* Linear probing; a slot another opener has passed never becomes free
     * again, so every opener of one name walks the same sequence and meets
     * the same slot. */
    for (uint32_t k = 0; k < WOM__NREGIONS; k++) {
        uint32_t i = (start + k) % WOM__NREGIONS;
        struct wom__region_hdr *h = &e->hdr->regions[i];
        uint32_t st = ld_acquire(&h->state); /* pairs with the R_READY release */
        if (st == R_FREE) {
            uint32_t init = R_INIT | (e->busy ? (e->self + 1) << 2 : 0);
            if (!cas_seq(&h->state, &st, init)) {
                k--; /* look at this slot again */
                continue;
            }
            memcpy(h->name, name, n + 1);
            h->mode = (uint32_t)mode;
            h->max_value = (uint32_t)max_value;
            /* relaxed: published with the region by the release below */
            h->seq = faa_relaxed(&e->hdr->region_seq, 1);
            /* release: publishes name, mode and limits; pairs with the
             * acquire loads of state above and in reg_wait_ready. */
            st_release(&h->state, R_READY);
            wom__futex_wake(&h->state, e->shared);
            reg_bind(e, i, out);
            return 0;
        }
        st = reg_wait_ready(e, h);
        if (st == R_FREE) {
            k--; /* freed after its creator died: look again */
            continue;
        }
        if (st != R_READY || h->mode < WOM_ONCE || h->mode > WOM_MANY ||
            memchr(h->name, 0, sizeof h->name) == NULL)
            return WOM_ECORRUPT;
        if (memcmp(h->name, name, n + 1) != 0)
            continue;
        if (h->mode != (uint32_t)mode)
            return WOM_EMODE;
        reg_bind(e, i, out);
        return 0;
    }
    return WOM_ENOSPC;
}

void wom__eng_info(const wom__reg *r, wom_region_info *out)
{
    struct wom__region_hdr *h = r->h;
    memset(out, 0, sizeof *out);
    memcpy(out->name, h->name, sizeof out->name);
    out->name[WOM_NAME_MAX] = 0;
    out->mode = (wom_mode)h->mode;
    /* relaxed: wom_region_info is a snapshot of hints and statistics */
    out->tail = ld_relaxed(&h->next);
    out->floor = ld_relaxed(&h->floor);
    out->max_value = h->max_value;
    uint64_t bytes = ld_relaxed(&h->sealed_bytes);
    uint64_t c = ld_acquire(&h->cur_chunk);
    if (c && !(c & (WOM__CHUNK_SIZE - 1)) && eng_piece_ok(r->e, c, WOM__CHUNK_SIZE)) {
        uint64_t a = ld_relaxed(&eng_chunk(r->e, c)->alloc);
        if (!(a & CH_SEALED))
            bytes += CH_USED(a) - WOM__CHUNK_HDR;
    }
    out->bytes = bytes;
}

struct reg_order {
    uint32_t seq, idx;
};

static int by_seq(const void *a, const void *b)
{
    const struct reg_order *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : (x->idx > y->idx) - (x->idx < y->idx);
}

/* One pass over the table and a sort: bounded by the table's size whatever
 * the (shared, untrusted) sequence numbers say. */
int wom__eng_regions(wom__eng *e, int (*fn)(const wom_region_info *, void *), void *arg)
{
    struct reg_order order[WOM__NREGIONS]; /* 8 KiB */
    uint32_t n = 0;
    for (uint32_t i = 0; i < WOM__NREGIONS; i++) {
        struct wom__region_hdr *h = &e->hdr->regions[i];
        if (ld_acquire(&h->state) == R_READY) /* pairs with the R_READY release */
            order[n++] = (struct reg_order){h->seq, i};
    }
    qsort(order, n, sizeof order[0], by_seq);
    for (uint32_t k = 0; k < n; k++) {
        wom__reg r;
        wom_region_info info;
        reg_bind(e, order[k].idx, &r);
        wom__eng_info(&r, &info);
        int rc = fn(&info, arg);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- ONCE cells ---- */

static void tail_raise(struct wom__region_hdr *h, uint64_t to)
{
    uint64_t t = ld_relaxed(&h->next); /* relaxed: the CAS decides */
    while (t < to && !cas_seq(&h->next, &t, to))
        ;
}

static int rec_new(wom__reg *r, const void *buf, size_t len, int loan, uint64_t *off)
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
        rec_seal_sum(r->e, rec);
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
    int rc = rec_new(r, buf, len, 0, &off);
    if (!rc && (rc = put_rec(r, addr, off, 0)))
        wom__rec_kill(r->e, off);
    return rc;
}

int wom__eng_append(wom__reg *r, const void *buf, size_t len, uint64_t *addr)
{
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    uint64_t off;
    int rc = rec_new(r, buf, len, 0, &off);
    if (!rc && (rc = append_rec(r, off, addr)))
        wom__rec_kill(r->e, off);
    return rc;
}

/* ---- loans: a record written in place, then published ---- */

int wom__eng_loan(wom__reg *r, size_t len, uint64_t *off, void **data)
{
    if (r->mode != WOM_ONCE)
        return WOM_EMODE;
    int rc = rec_new(r, NULL, len, 1, off);
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
        rec_seal_sum(r->e, rec);
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
    if (!rec_sum_ok(r->e, rec_at(r->e, off))) {
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

/* ---- MANY cells ---- */

/* Read the current value of a MANY cell: on 0, *w is its word and, when it is
 * WRITTEN, its chunk is pinned (caller unpins). */
static int many_pin(wom__reg *r, wom_a64 *cell, uint64_t *w)
{
    for (;;) {
        /* acquire: pairs with the storing CAS (the record's bytes). */
        uint64_t x = ld_acquire(cell);
        if ((x & C_STATE) == C_EMPTY) {
            *w = x;
            return 0;
        }
        if ((x & C_STATE) != C_WRITTEN)
            return WOM_ECORRUPT;
        uint64_t off = x & ~C_LOW;
        if (!wom__rec_ok(r->e, off, r->max_value))
            return WOM_ECORRUPT;
        int pinned = wom__pin(r->e, off) == 0;
        int same = ((ld_seq(cell) ^ x) & ~C_WAIT) == 0;
        if (pinned && same) {
            *w = x;
            return 0;
        }
        if (pinned)
            wom__unpin(r->e, off);
        else if (same)
            return WOM_ECORRUPT; /* a live value's chunk cannot be retired */
    }
}

static uint64_t many_version(wom__reg *r, uint64_t w)
{
    return (w & C_STATE) == C_WRITTEN ? rec_at(r->e, w & ~C_LOW)->version : 0;
}

static void many_unpin(wom__reg *r, uint64_t w)
{
    if ((w & C_STATE) == C_WRITTEN)
        wom__unpin(r->e, w & ~C_LOW);
}

static wom_a32 *bell_of(wom__reg *r, uint64_t addr)
{
    return &r->h->bell[(addr * 0x9e3779b97f4a7c15ull) >> 59];
}

int wom__eng_store(wom__reg *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                   uint64_t expect, uint64_t *version)
{
    if (r->mode != WOM_MANY)
        return WOM_EMODE;
    wom_a64 *cell;
    int rc = wom__cell(r, addr, 1, &cell);
    if (rc)
        return rc;
    uint64_t off;
    if ((rc = rec_new(r, buf, len, 0, &off)))
        return rc;
    struct wom__rec *rec = rec_at(r->e, off);
    for (;;) {
        uint64_t w;
        if ((rc = many_pin(r, cell, &w)))
            break;
        uint64_t v = many_version(r, w);
        if (has_expect && v != expect) {
            many_unpin(r, w);
            rc = WOM_ECONFLICT;
            break;
        }
        rec->version = v + 1;
        uint64_t seen = w; /* the CAS overwrites w; the pin is on seen */
        /* seq_cst (release part): publishes the record; the pin held on the
         * old word's chunk rules out ABA on a reused offset. */
        if (cas_seq(cell, &seen, off | C_WRITTEN)) {
            if (w & C_WAIT) {
                atomic_fetch_add_explicit(bell_of(r, addr), 1, memory_order_seq_cst);
                wom__futex_wake(bell_of(r, addr), r->e->shared);
            }
            many_unpin(r, w);
            if ((w & C_STATE) == C_WRITTEN)
                wom__rec_kill(r->e, w & ~C_LOW); /* the old value died */
            if (version)
                *version = v + 1;
            return 0;
        }
        many_unpin(r, w);
    }
    wom__rec_kill(r->e, off);
    return rc;
}

int wom__eng_load(wom__reg *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                  uint64_t *version)
{
    if (r->mode != WOM_MANY)
        return WOM_EMODE;
    wom_a64 *cell;
    int rc = wom__cell(r, addr, 0, &cell);
    if (rc == WOM_EEMPTY) {
        *len = 0;
        if (version)
            *version = 0;
        return 0;
    }
    if (rc)
        return rc;
    uint64_t w;
    if ((rc = many_pin(r, cell, &w)))
        return rc;
    size_t n = 0;
    uint64_t v = 0;
    if ((w & C_STATE) == C_WRITTEN) {
        struct wom__rec *rec = rec_at(r->e, w & ~C_LOW);
        n = rec->len;
        v = rec->version;
        if (!rec_sum_ok(r->e, rec))
            rc = WOM_ECORRUPT;
        else if (n > cap)
            rc = WOM_ENOBUFS;
        else if (n)
            memcpy(buf, rec + 1, n);
    }
    many_unpin(r, w);
    if (!rc || rc == WOM_ENOBUFS)
        *len = n;
    if (!rc && version)
        *version = v;
    return rc;
}

int wom__eng_wait(wom__reg *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    if (r->mode != WOM_MANY)
        return WOM_EMODE;
    wom_a64 *cell;
    int rc = wom__cell(r, addr, 1, &cell);
    if (rc)
        return rc;
    uint64_t w0;
    if ((rc = many_pin(r, cell, &w0)))
        return rc;
    /* Holding the pin on w0's chunk for the whole wait means its offset
     * cannot be reused, so "the word differs from w0" is exactly "the
     * version moved". */
    if (many_version(r, w0) != version) {
        many_unpin(r, w0);
        return 0;
    }
    wom_a32 *bell = bell_of(r, addr);
    int64_t deadline = wom__deadline(timeout_ns);
    rc = WOM_ETIMEDOUT;
    struct backoff spins = BACKOFF_INIT;
    while (timeout_ns != 0) {
        uint32_t ring = ld_seq(bell);
        uint64_t x = ld_seq(cell);
        if ((x ^ w0) & ~C_WAIT) {
            rc = 0;
            break;
        }
        if (backoff(&spins))
            continue;
        /* Set WAITERS on the word we saw; a store after this CAS rings the
         * bell (after we read `ring`), one before it makes the CAS fail. */
        if (!(x & C_WAIT) && !cas_seq(cell, &x, x | C_WAIT))
            continue;
        if (wom__futex_wait(bell, ring, r->e->shared, deadline))
            break;
    }
    many_unpin(r, w0);
    return rc;
}
