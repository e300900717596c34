/*
 * many.c - MANY cells: store, load, compare-and-swap and wait on versioned
 * registers. A store writes a new record and swings the cell word to it with
 * one CAS; readers pin the old word's chunk, so they never see a torn value.
 * A read-only process cannot pin: it copies and validates (many_peek).
 */
#include <string.h>

#include "engine/cell.h"

/* Read the current value of a MANY cell: on 0, *w is its word and, when it is
 * WRITTEN, its chunk is pinned (caller unpins). Until the pin holds and the
 * word is seen unchanged after it, the record may have died and its chunk
 * been reused (even for a record at the same offset in the same cell), so
 * its header is only judged after that. */
static int many_pin(wom__reg *r, wom_a64 *cell, uint64_t *w)
{
    for (unsigned tries = 0;; tries++) {
        /* acquire: pairs with the storing CAS (the record's bytes). */
        uint64_t x = ld_acquire(cell);
        if ((x & C_STATE) == C_EMPTY) {
            *w = x;
            return 0;
        }
        uint64_t off = x & ~C_LOW;
        if ((x & C_STATE) != C_WRITTEN || !wom__rec_at_ok(r->e, off))
            return WOM_ECORRUPT;
        int pinned = wom__pin(r->e, off) == 0;
        int same = ((ld_seq(cell) ^ x) & ~C_WAIT) == 0;
        if (pinned && same) {
            if (!wom__rec_ok(r->e, off, r->max_value)) {
                wom__unpin(r->e, off, r->e->pin_slot);
                return WOM_ECORRUPT; /* a live record, and a bad header */
            }
            *w = x;
            return 0;
        }
        if (pinned)
            wom__unpin(r->e, off, r->e->pin_slot);
        else if (same && tries > 1000)
            return WOM_ECORRUPT; /* a live value's chunk stays retired */
        /* else the word moved, or (seen unchanged) its chunk was reused
         * with a record of this cell at the same offset: look again */
    }
}

static uint64_t many_version(wom__reg *r, uint64_t w)
{
    return (w & C_STATE) == C_WRITTEN ? rec_at(r->e, w & ~C_LOW)->version : 0;
}

static void many_unpin(wom__reg *r, uint64_t w)
{
    if ((w & C_STATE) == C_WRITTEN)
        wom__unpin(r->e, w & ~C_LOW, r->e->pin_slot);
}

/* The cell word of addr in a MANY region (WOM_EMODE in a ONCE one). */
static int many_cell(wom__reg *r, uint64_t addr, int create, wom_a64 **cell)
{
    return r->mode != WOM_MANY ? WOM_EMODE : wom__cell(r, addr, create, cell);
}

/* Read-only: copy a MANY cell's value without a pin (buf NULL: only its
 * version). A record is freed only after its cell moved on, and an offset
 * that comes back holds a higher version, so a word and version unchanged
 * after the copy (an acquire fence between) prove the copy. */
static int many_peek(wom__reg *r, wom_a64 *cell, void *buf, size_t cap, size_t *len,
                     uint64_t *version)
{
    for (;;) {
        uint64_t x = ld_seq(cell); /* acquire part: pairs with the storing CAS */
        if ((x & C_STATE) == C_EMPTY) {
            *len = 0;
            *version = 0;
            return 0;
        }
        uint64_t off = x & ~C_LOW;
        if ((x & C_STATE) != C_WRITTEN || !wom__rec_ok(r->e, off, r->max_value)) {
            if ((ld_seq(cell) ^ x) & ~C_WAIT)
                continue; /* moved on: the record may have been reused */
            return WOM_ECORRUPT;
        }
        const struct wom__rec *rec = rec_at(r->e, off);
        uint64_t v = rec->version;
        uint32_t n = rec->len, sum = rec->sum;
        int ok = n <= r->max_value &&
                 n <= WOM__CHUNK_SIZE - (off & (WOM__CHUNK_SIZE - 1)) - sizeof *rec;
        if (ok && buf && n <= cap)
            memcpy(buf, rec + 1, n);
        fence_acquire(); /* the copy before the re-check */
        if (((ld_seq(cell) ^ x) & ~C_WAIT) || rec->version != v)
            continue;
        if (!ok)
            return WOM_ECORRUPT;
        *len = n;
        *version = v;
        if (!buf)
            return 0;
        if (n > cap)
            return WOM_ENOBUFS;
        return wom__value_sum(buf, n) == sum ? 0 : WOM_ECORRUPT;
    }
}

int wom__eng_store(wom__reg *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                   uint64_t expect, uint64_t *version)
{
    RO_CHECK(r->e);
    wom_a64 *cell;
    int rc = many_cell(r, addr, 1, &cell);
    if (rc)
        return rc;
    uint64_t off;
    if ((rc = wom__rec_new(r, buf, len, 0, &off)))
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
            if ((w & C_WAIT) || ro_sleepers(r))
                bell_ring(r, bell_of(r, addr));
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
    wom_a64 *cell;
    int rc = many_cell(r, addr, 0, &cell);
    if (rc == WOM_EEMPTY) {
        *len = 0;
        if (version)
            *version = 0;
        return 0;
    }
    if (rc)
        return rc;
    if (r->e->ro) {
        uint64_t v;
        size_t n;
        rc = many_peek(r, cell, buf, cap, &n, &v);
        if (!rc || rc == WOM_ENOBUFS)
            *len = n;
        if (!rc && version)
            *version = v;
        return rc;
    }
    uint64_t w;
    if ((rc = many_pin(r, cell, &w)))
        return rc;
    size_t n = 0;
    uint64_t v = 0;
    if ((w & C_STATE) == C_WRITTEN) {
        struct wom__rec *rec = rec_at(r->e, w & ~C_LOW);
        n = rec->len;
        v = rec->version;
        if (!wom__rec_sum_ok(r->e, rec))
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

struct ro_many_wait {
    wom__reg *r;
    uint64_t addr, version;
    wom_a64 *cell;
};

/* 1 while the version is still the one waited on. */
static int ro_many_same(void *arg)
{
    struct ro_many_wait *a = arg;
    size_t n;
    uint64_t v = 0;
    int rc = a->cell ? 0 : wom__cell(a->r, a->addr, 0, &a->cell);
    if (rc == WOM_EEMPTY)
        rc = 0; /* never stored: version 0 */
    else if (!rc)
        rc = many_peek(a->r, a->cell, NULL, 0, &n, &v);
    return rc ? rc : v == a->version;
}

/* Read-only: wait for the version to move by comparing versions (no pin
 * holds the word still), sleeping on the bell. */
static int ro_many_wait(wom__reg *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    struct ro_many_wait a = {r, addr, version, NULL};
    int64_t deadline = wom__deadline(timeout_ns);
    struct backoff spins = BACKOFF_INIT;
    for (;;) {
        int rc = ro_many_same(&a);
        if (rc <= 0)
            return rc;
        if (timeout_ns == 0)
            return WOM_ETIMEDOUT;
        if (backoff(&spins))
            continue;
        rc = wom__ro_doze(r, bell_of(r, addr), ro_many_same, &a, deadline);
        if (rc < 0)
            return rc;
    }
}

int wom__eng_wait(wom__reg *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    if (r->mode == WOM_MANY && r->e->ro)
        return ro_many_wait(r, addr, version, timeout_ns);
    wom_a64 *cell;
    int rc = many_cell(r, addr, 1, &cell);
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
