/*
 * ring.c - a bounded MPMC queue over reused MANY slots: message passing from
 * shared memory (the shape of Go channels and the Disruptor).
 *
 * Message position p lives in slot p % slots during lap p / slots. A slot's
 * version says whose turn it is: 2*lap = empty for that lap (a producer may
 * fill it), 2*lap+1 = full (a consumer may empty it). Filling and emptying
 * are one cas each, so a slot is never half written and each message is
 * taken by exactly one consumer.
 *
 * Positions are not shared counters: each handle keeps a guess per side with
 * the invariant "every position below it was filled" (send side) or "...
 * emptied" (receive side). A guess only moves past p on evidence that p was
 * taken, so it can be stale but never wrong; hint cells let a new handle
 * start near the front instead of at 0.
 */
#include <stdlib.h>
#include <string.h>

#include "forms/forms.h"

#define RING_META UINT64_MAX             /* struct ring_meta, first opener's */
#define RING_SEND_HINT (UINT64_MAX - 1)  /* a send guess, stored now and then */
#define RING_RECV_HINT (UINT64_MAX - 2)  /* a receive guess, likewise */
#define RING_HINT_EVERY 64               /* positions between hint stores */
/* Keeps slot addresses far below the cells above. (Versions 2*lap+1 wrap
 * only after 2^63 messages through one slot: centuries.) */
#define RING_MAX_SLOTS (UINT64_C(1) << 40)
#define RING_MAGIC UINT64_C(0x31474e49524d4f57) /* "WOMRING1" */

struct ring_meta {
    uint64_t magic;
    uint64_t slots;
    uint64_t max_value;
};

struct wom_ring {
    wom_region *r;
    uint64_t slots;
    size_t max_value;
    wom_a64 send_pos; /* every position below was filled */
    wom_a64 recv_pos; /* every position below was emptied */
};

/* Agree on (slots, max_value) with every other opener: the first cas on the
 * meta cell wins; a different shape is WOM_EINVAL. */
static int ring_meta(wom_ring *g)
{
    struct ring_meta want = {RING_MAGIC, g->slots, g->max_value}, got;
    int rc = wom_cas(g->r, RING_META, 0, &want, sizeof want, NULL);
    if (rc != WOM_ECONFLICT)
        return rc;
    size_t len = 0;
    rc = wom_load(g->r, RING_META, &got, sizeof got, &len, NULL);
    if (rc == WOM_ENOBUFS || (rc == 0 && len != sizeof got) || (rc == 0 && got.magic != RING_MAGIC))
        return WOM_EINVAL; /* region `name` is not a ring */
    if (rc == 0 && (got.slots != want.slots || got.max_value != want.max_value))
        return WOM_EINVAL;
    return rc;
}

static int ring_init(wom_ring *g, wom_space *s, const char *name)
{
    /* The region's own limit must also fit the meta record. */
    size_t cap = g->max_value > sizeof(struct ring_meta) ? g->max_value
                                                         : sizeof(struct ring_meta);
    wom_region_info info;
    int rc = form_region(s, name, "", WOM_MANY, cap, &g->r);
    if (!rc)
        rc = wom_region_info_get(g->r, &info);
    if (!rc && info.max_value < cap)
        rc = WOM_EINVAL;
    if (!rc)
        rc = ring_meta(g);
    uint64_t hint;
    if (!rc && form_load_u64(g->r, RING_SEND_HINT, &hint, NULL) == 0)
        st_relaxed(&g->send_pos, hint); /* relaxed: handle not yet shared */
    if (!rc && form_load_u64(g->r, RING_RECV_HINT, &hint, NULL) == 0)
        st_relaxed(&g->recv_pos, hint); /* relaxed: handle not yet shared */
    return rc;
}

int wom_ring_open(wom_space *s, const char *name, uint64_t slots, size_t max_value,
                  wom_ring **out)
{
    if (!s || !name || !out || slots == 0 || slots > RING_MAX_SLOTS)
        return WOM_EINVAL;
    if (max_value > WOM_MAX_VALUE_LIMIT)
        return WOM_EMSGSIZE;
    wom_ring *g = calloc(1, sizeof *g);
    if (!g)
        return WOM_ENOMEM;
    g->slots = slots;
    g->max_value = max_value ? max_value : WOM_MAX_VALUE_DEFAULT;
    int rc = ring_init(g, s, name);
    if (rc) {
        wom_ring_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void wom_ring_close(wom_ring *g)
{
    if (!g)
        return;
    wom_region_close(g->r);
    free(g);
}

/* Record that every position below `next` was taken on one side. */
static void ring_moved(wom_ring *g, wom_a64 *pos, uint64_t hint_cell, uint64_t next)
{
    /* relaxed: the guess is a hint; any value a thread stores satisfies the
     * invariant, so ordering against other cells does not matter. */
    st_relaxed(pos, next);
    if (next % RING_HINT_EVERY == 0) /* a failed store only leaves a staler hint */
        (void)wom_store(g->r, hint_cell, &next, sizeof next, NULL);
}

/* 1 if slot s is at version v right now, 0 if not, or an error. */
static int ring_version_is(wom_ring *g, uint64_t s, uint64_t v)
{
    int rc = wom_wait(g->r, s, v, 0);
    return rc == WOM_ETIMEDOUT ? 1 : rc;
}

int wom_ring_send(wom_ring *g, const void *buf, size_t len, int64_t timeout_ns)
{
    if (!g || (!buf && len))
        return WOM_EINVAL;
    if (len > g->max_value)
        return WOM_EMSGSIZE;
    form_deadline dl = form_deadline_start(timeout_ns);
    uint64_t p = ld_relaxed(&g->send_pos); /* relaxed: see ring_moved */
    int at_least_empty = 0; /* slot p's version is known to be >= 2*lap */
    for (;;) {
        uint64_t s = p % g->slots, empty = 2 * (p / g->slots);
        int64_t left;
        int rc = wom_cas(g->r, s, empty, buf, len, NULL);
        if (rc == 0) {
            ring_moved(g, &g->send_pos, RING_SEND_HINT, p + 1);
            return 0;
        }
        if (rc != WOM_ECONFLICT)
            return rc;
        if (empty == 0 || at_least_empty) { /* so it is above: p was taken */
            p++;
            at_least_empty = 0;
            continue;
        }
        /* By the guess invariant the version is empty-1 (still full from the
         * previous lap: the ring is full) or above empty. */
        if ((rc = ring_version_is(g, s, empty - 1)) < 0)
            return rc;
        if (rc == 0) {
            at_least_empty = 1; /* try p once more: it may just have emptied */
            continue;
        }
        if ((rc = form_left(&dl, &left)) || (rc = wom_wait(g->r, s, empty - 1, left)))
            return rc;
    }
}

/* One look at position p for a receive: 0 = took the message into buf,
 * 1 = p was taken by another consumer (move on), or an error; *ver gets the
 * version of an empty slot (to wait on) as WOM_EEMPTY. */
static int ring_take(wom_ring *g, uint64_t p, void *buf, size_t cap, size_t *len,
                     uint64_t *ver)
{
    uint64_t s = p % g->slots, full = 2 * (p / g->slots) + 1, v = 0;
    size_t n = 0;
    int rc = wom_load(g->r, s, buf, cap, &n, &v);
    if (rc == WOM_ENOBUFS) {
        /* A message too big for buf; ours only if the slot is at `full`. */
        if ((rc = ring_version_is(g, s, full)) == 1) {
            *len = n;
            return WOM_ENOBUFS;
        }
        return rc < 0 ? rc : 1;
    }
    if (rc)
        return rc;
    if (v < full) {
        *ver = v;
        return WOM_EEMPTY;
    }
    if (v > full)
        return 1;
    rc = wom_cas(g->r, s, full, NULL, 0, NULL);
    if (rc == WOM_ECONFLICT)
        return 1;
    if (rc == 0)
        *len = n;
    return rc;
}

int wom_ring_recv(wom_ring *g, void *buf, size_t cap, size_t *len, int64_t timeout_ns)
{
    if (!g || !len || (!buf && cap))
        return WOM_EINVAL;
    form_deadline dl = form_deadline_start(timeout_ns);
    uint64_t p = ld_relaxed(&g->recv_pos); /* relaxed: see ring_moved */
    for (;;) {
        uint64_t ver = 0;
        int64_t left;
        int rc = ring_take(g, p, buf, cap, len, &ver);
        if (rc == 0) {
            ring_moved(g, &g->recv_pos, RING_RECV_HINT, p + 1);
            return 0;
        }
        if (rc == 1) {
            p++;
            continue;
        }
        if (rc != WOM_EEMPTY || timeout_ns == 0)
            return rc;
        if ((rc = form_left(&dl, &left)) || (rc = wom_wait(g->r, p % g->slots, ver, left)))
            return rc;
    }
}
