/*
 * t_ck.c - Concurrency Kit's single-producer single-consumer ring of 1024
 * pointers (ck_ring_enqueue_spsc / ck_ring_dequeue_spsc) into a preallocated
 * buffer pool; both sides busy-poll (pause, then yield after 256 tries so a
 * loaded machine does not starve the other side), which is how ck_ring is
 * meant to be used and the fastest a same-process queue gets.
 */
#include <ck_ring.h>
#include <stdlib.h>

#include "bench.h"

#define CK_CAP 1024u

struct ck_ctx {
    size_t size;
    int duplex;
    struct {
        ck_ring_t ring;
        ck_ring_buffer_t *buf;
    } q[2];
    struct bench_pool pool[2];
};

static int ck_init(struct ck_ctx *c, size_t size, int duplex)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    c->duplex = duplex;
    for (int d = 0; d <= duplex; d++) {
        ck_ring_init(&c->q[d].ring, CK_CAP);
        c->q[d].buf = calloc(CK_CAP, sizeof *c->q[d].buf);
        if (!c->q[d].buf || bench_pool_init(&c->pool[d], 2 * CK_CAP, size))
            return -1;
    }
    return 0;
}

static void ck_fini(struct ck_ctx *c)
{
    for (int d = 0; d <= c->duplex; d++) {
        free(c->q[d].buf);
        bench_pool_fini(&c->pool[d]);
    }
}

static inline int ck_send(struct ck_ctx *c, int dir, uint64_t seq)
{
    void *b = bench_pool_buf(&c->pool[dir], seq);
    bench_msg_fill(b, c->size, seq);
    unsigned spins = 0;
    while (!ck_ring_enqueue_spsc(&c->q[dir].ring, c->q[dir].buf, b))
        bench_spin(&spins);
    return 0;
}

static inline int ck_recv(struct ck_ctx *c, int dir, uint64_t seq)
{
    void *b;
    unsigned spins = 0;
    while (!ck_ring_dequeue_spsc(&c->q[dir].ring, c->q[dir].buf, &b))
        bench_spin(&spins);
    if (!bench_msg_ok(b, c->size, c->size, seq))
        return bench_bad_msg("ck_ring", b, c->size, c->size, seq);
    return 0;
}

BENCH_DRIVERS(ck)

const struct bench_transport bt_ck = {"ck_ring spsc", "pointer, busy-polls", NULL, ck_tput, ck_rtt};
