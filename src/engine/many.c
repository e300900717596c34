/*
 * many.c - MANY cells: store, load, compare-and-swap and wait on versioned
 * registers. A store writes a new record and swings the cell word to it with
 * one CAS; readers pin the old word's chunk, so they never see a torn value.
 */
#include <string.h>

#include "engine/cell.h"

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

/* The cell word of addr in a MANY region (WOM_EMODE in a ONCE one). */
static int many_cell(wom__reg *r, uint64_t addr, int create, wom_a64 **cell)
{
    return r->mode != WOM_MANY ? WOM_EMODE : wom__cell(r, addr, create, cell);
}

static wom_a32 *bell_of(wom__reg *r, uint64_t addr)
{
    return &r->h->bell[(addr * 0x9e3779b97f4a7c15ull) >> 59];
}

int wom__eng_store(wom__reg *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                   uint64_t expect, uint64_t *version)
{
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

int wom__eng_wait(wom__reg *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
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
