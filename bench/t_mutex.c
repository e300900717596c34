/*
 * t_mutex.c - the textbook bounded queue: a ring of 1024 pointers under one
 * pthread mutex, with "not empty" and "not full" condition variables.
 * Messages are pointers into a preallocated pool, as a C program would pass
 * them.
 */
#include <stdlib.h>

#include "bench.h"

#define MQ_CAP 1024u

struct mq {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    uint64_t head; /* next slot to take */
    uint64_t tail; /* next slot to fill */
    void *slot[MQ_CAP];
};

struct mutex_ctx {
    size_t size;
    int duplex;
    struct mq q[2];
    struct bench_pool pool[2];
};

static void mq_init(struct mq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->head = q->tail = 0;
}

static void mq_fini(struct mq *q)
{
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->mu);
}

static void mq_push(struct mq *q, void *p)
{
    pthread_mutex_lock(&q->mu);
    while (q->tail - q->head == MQ_CAP)
        pthread_cond_wait(&q->not_full, &q->mu);
    q->slot[q->tail++ % MQ_CAP] = p;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static void *mq_pop(struct mq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->tail == q->head)
        pthread_cond_wait(&q->not_empty, &q->mu);
    void *p = q->slot[q->head++ % MQ_CAP];
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return p;
}

static int mutex_init(struct mutex_ctx *c, size_t size, int duplex)
{
    c->size = size;
    c->duplex = duplex;
    for (int d = 0; d <= duplex; d++) {
        mq_init(&c->q[d]);
        if (bench_pool_init(&c->pool[d], 2 * MQ_CAP, size))
            return -1;
    }
    return 0;
}

static void mutex_fini(struct mutex_ctx *c)
{
    for (int d = 0; d <= c->duplex; d++) {
        mq_fini(&c->q[d]);
        bench_pool_fini(&c->pool[d]);
    }
}

static inline int mutex_send(struct mutex_ctx *c, int dir, uint64_t seq)
{
    void *b = bench_pool_buf(&c->pool[dir], seq);
    bench_msg_fill(b, c->size, seq);
    mq_push(&c->q[dir], b);
    return 0;
}

static inline int mutex_recv(struct mutex_ctx *c, int dir, uint64_t seq)
{
    const void *b = mq_pop(&c->q[dir]);
    if (!bench_msg_ok(b, c->size, c->size, seq))
        return bench_bad_msg("mutex", b, c->size, c->size, seq);
    return 0;
}

BENCH_DRIVERS(mutex)

const struct bench_transport bt_mutex = {"mutex+condvar", "pointer, sleeps", NULL, mutex_tput,
                                           mutex_rtt};
