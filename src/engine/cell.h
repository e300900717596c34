/*
 * cell.h - what the engine's cell operations share (src/engine only): the
 * waiting policy, record access, and the record helpers of cells.c.
 */
#ifndef WOM_CELL_H
#define WOM_CELL_H

#include <sched.h>

#include "engine/engine.h"
#include "util/hash.h"
#include "util/plat.h"

/* Before sleeping on a futex a waiter spins for up to SPIN_NS (a writer on
 * another core is usually well under a microsecond away, and a futex wake
 * costs the writer a syscall and the reader several microseconds), then
 * yields a few times (on a busy machine the writer may be waiting for this
 * very core), then sleeps. */
#define SPIN_NS 20000
#define YIELD_LOOPS 4
/* The spin adapts, per thread, between SPIN_MIN_NS and SPIN_NS. Spinning
 * costs nobody while this core is not wanted, but a writer that shares the
 * core (an oversubscribed machine) cannot run while we spin: a full spin
 * per message then made a ping-pong cost two spins, 45 µs a round trip,
 * for good, since neither side slept long enough for the scheduler to move
 * one. So a wait in which a yield gave the core away (it took over
 * YIELD_RAN_NS: another thread ran) halves the spin; any other wait
 * doubles it back. */
#define SPIN_MIN_NS 1000
#define YIELD_RAN_NS 2000
extern _Thread_local int64_t wom__spin_ns;

struct backoff {
    unsigned n;
    unsigned yields;
    int contended; /* a yield ran another thread */
    int64_t spin_until;
};
#define BACKOFF_INIT {0, 0, 0, 0}

/* One step of waiting, of `pauses` pauses (a power of two up to 16): 1
 * while the caller should look again, 0 when it is time to sleep. The
 * clock is read once every 16 pauses (under a microsecond here: fine
 * enough for the shortest spin, and a few percent of a pause loop). */
static inline int backoff_by(struct backoff *b, unsigned pauses)
{
    if (b->yields == 0) {
        unsigned n = b->n;
        b->n += pauses;
        for (unsigned i = 1; i < pauses; i++)
            wom__cpu_relax();
        if ((n & 15) != 0) {
            wom__cpu_relax();
            return 1;
        }
        int64_t now = wom__now_ns();
        if (!b->spin_until)
            b->spin_until = now + wom__spin_ns;
        if (now < b->spin_until) {
            wom__cpu_relax();
            return 1;
        }
    }
    if (b->yields++ < YIELD_LOOPS) {
        int64_t t0 = wom__now_ns();
        sched_yield();
        b->contended |= wom__now_ns() - t0 > YIELD_RAN_NS;
        return 1;
    }
    return 0;
}

static inline int backoff(struct backoff *b) { return backoff_by(b, 1); }

/* After a wait that found what it waited for: adapt this thread's spin. */
static inline void backoff_done(const struct backoff *b)
{
    int64_t ns = b->contended ? wom__spin_ns / 2 : wom__spin_ns * 2;
    wom__spin_ns = ns < SPIN_MIN_NS ? SPIN_MIN_NS : ns > SPIN_NS ? SPIN_NS : ns;
}

#define RECOVER_SLICE_NS 50000000 /* 50 ms between looks for dead processes */
/* A read-only process that cannot write the wake page is never rung: it
 * looks again this often instead. */
#define RO_POLL_NS 2000000

/* Writes are refused in a read-only space before they touch its memory. */
#define RO_CHECK(e)                                                            \
    do {                                                                       \
        if ((e)->ro)                                                           \
            return WOM_EROFS;                                                  \
    } while (0)

/* The doorbell of addr in region r: MANY waiters sleep on it, and so do
 * read-only processes waiting on ONCE cells. */
static inline wom_a32 *bell_of(wom__reg *r, uint64_t addr)
{
    return &r->h->bell[(addr * 0x9e3779b97f4a7c15ull) >> 59];
}

static inline void bell_ring(wom__reg *r, wom_a32 *bell)
{
    atomic_fetch_add_explicit(bell, 1, memory_order_seq_cst);
    wom__futex_wake(bell, r->e->shared);
}

/* 1 when read-only processes sleep on r's bells. seq_cst, after the write
 * that changed a cell (seq_cst too): Dekker with the sleeper, which counts
 * itself, reads the bell, then reads the cell. */
static inline int ro_sleepers(wom__reg *r)
{
    return r->e->shared && ld_seq(&r->e->hdr->wake.sleepers[r->idx]) != 0;
}

/* After addr's ONCE cell changed: wake read-only sleepers on its bell. */
static inline void ro_ring(wom__reg *r, uint64_t addr)
{
    if (ro_sleepers(r))
        bell_ring(r, bell_of(r, addr));
}

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

/* Read-only: one sleep on bell, counted in the wake page when this process
 * can write it. missing(arg) is asked after the bell is read (1: what the
 * caller waits for is still missing, 0: it came, < 0: an error). Returns 0
 * to look again, 1 when a slice passed unrung (time to look for dead
 * writers), WOM_ETIMEDOUT at the deadline, or missing's error. */
int wom__ro_doze(wom__reg *r, wom_a32 *bell, int (*missing)(void *), void *arg,
                 int64_t deadline);

#endif
