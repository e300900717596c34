/*
 * cell.h - what the engine's cell operations share (src/engine only): the
 * waiting policy, record access, and the record helpers of cells.c.
 */
#ifndef WOM_CELL_H
#define WOM_CELL_H

#include <sched.h>

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
static inline int backoff(struct backoff *b)
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

static inline struct wom__rec *rec_at(const wom__eng *e, uint64_t off)
{
    return (struct wom__rec *)eng_ptr(e, off);
}

/* A new record holding buf (a loan: len bytes to be written by the caller);
 * ONCE records count as being filled until written. */
int wom__rec_new(wom__reg *r, const void *buf, size_t len, int loan, uint64_t *off);
/* Shared segments keep a checksum per value: set it / check it. */
void wom__rec_seal_sum(const wom__eng *e, struct wom__rec *rec);
int wom__rec_sum_ok(const wom__eng *e, const struct wom__rec *rec);

#endif
