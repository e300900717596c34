/*
 * bench.h - what every benchmark module shares: the clock, the message
 * format every consumer checks, and the two drivers (SPSC throughput and
 * ping-pong round trips) that each transport instantiates with BENCH_DRIVERS.
 *
 * A transport module defines, for a context type `struct P_ctx`:
 *   static int  P_init(struct P_ctx *c, size_t size, int duplex);
 *   static void P_fini(struct P_ctx *c);
 *   static inline int P_send(struct P_ctx *c, int dir, uint64_t seq);
 *   static inline int P_recv(struct P_ctx *c, int dir, uint64_t seq);
 * dir 0 carries producer -> consumer (and ping), dir 1 carries the pong (only
 * when duplex). send builds a `size`-byte message for seq (bench_msg_fill);
 * recv blocks for the next message and checks it is exactly the one for seq
 * (bench_msg_ok), so a transport that drops, reorders, truncates or repeats
 * messages fails instead of looking fast. Both return 0 or -1 after printing
 * what went wrong to stderr.
 */
#ifndef WOM_BENCH_H
#define WOM_BENCH_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

#define BENCH_MSG_MIN 16u
#define BENCH_TAIL_MAGIC 0x9e3779b97f4a7c15ull


static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of a busy-poll: pause, and after a while also yield, so that on
 * a machine with fewer free cores than spinning threads the thread we wait
 * for gets to run. */
static inline void bench_spin(unsigned *spins)
{
    if (++*spins < 256)
        bench_relax();
    else
        sched_yield();
}

/* Stamp a message of `size` bytes (>= BENCH_MSG_MIN) at p for seq: the first
 * and the last 8 bytes, so both ends of the payload must travel. The bytes in
 * between keep whatever pattern the buffer was filled with. */
static inline void bench_msg_fill(void *p, size_t size, uint64_t seq)
{
    uint64_t tail = seq ^ BENCH_TAIL_MAGIC;
    memcpy(p, &seq, 8);
    memcpy((char *)p + size - 8, &tail, 8);
}

/* 1 when the len bytes at p are the message for seq of `size` bytes. */
static inline int bench_msg_ok(const void *p, size_t len, size_t size, uint64_t seq)
{
    uint64_t head, tail;
    if (len != size)
        return 0;
    memcpy(&head, p, 8);
    memcpy(&tail, (const char *)p + size - 8, 8);
    return head == seq && tail == (seq ^ BENCH_TAIL_MAGIC);
}

/* Report a failed check on stderr; returns -1 for the caller to pass on. */
int bench_bad_msg(const char *who, const void *p, size_t len, size_t size, uint64_t seq);
/* Report a failed call (rc and its message) on stderr; returns -1. */
int bench_fail(const char *who, const char *what, int rc, const char *msg);

/* A pool of `count` buffers of `size` bytes each, cache-line aligned and
 * filled with a pattern, for the transports that pass pointers: message seq
 * travels in buffer seq % count, so count must exceed the number of messages
 * that can be in flight (queue capacity + one held by each side). */
struct bench_pool {
    char *mem;
    size_t stride;
    uint64_t count;
};
int bench_pool_init(struct bench_pool *p, uint64_t count, size_t size);
void bench_pool_fini(struct bench_pool *p);
static inline void *bench_pool_buf(const struct bench_pool *p, uint64_t seq)
{
    return p->mem + (seq % p->count) * p->stride;
}
/* A pattern-filled private buffer of `size` bytes (NULL on failure). */
void *bench_buf_new(size_t size);

/* A start line: both threads leave it together so neither timing includes
 * thread creation. */
struct bench_gate {
    atomic_int arrived;
};
static inline void bench_gate_pass(struct bench_gate *g, int parties)
{
    atomic_fetch_add_explicit(&g->arrived, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&g->arrived, memory_order_acquire) < parties)
        bench_relax();
}

/* What the drivers share with their second thread. n only falls: the
 * driving thread lowers it to cut a run short (see bench_run_limit_ns). */
struct bench_job {
    void *ctx;
    atomic_uint_fast64_t n;
    uint64_t warm;    /* the first `warm` of the n messages are not timed */
    struct bench_gate gate;
    int64_t start_ns; /* consumer: when message `warm` was next (the clock starts) */
    int64_t end_ns;   /* consumer: after the last message */
    int rc;
};

/* A run whose timed part takes longer than this (ns) stops early with
 * fewer messages, so a transport far slower than its calibration cannot
 * stall the suite. A throughput warm-up is never cut (a stream, and a run
 * cut during it would have nothing to report); a round-trip warm-up is cut
 * at BENCH_WARM_LIMITS times it (bench_warm_cut). 0 = no limit. Set by the
 * runner. */
extern int64_t bench_run_limit_ns;
#define BENCH_WARM_LIMITS 3

/* The driving thread, at timed message i of a run whose timed part started
 * at t0: 1 when the run must end with message i (the other thread learns it
 * through j->n). */
static inline int bench_cut(struct bench_job *j, uint64_t i, int64_t t0)
{
    if ((i & 255) != 255 || !bench_run_limit_ns || wom__now_ns() - t0 < bench_run_limit_ns)
        return 0;
    atomic_store_explicit(&j->n, i + 1, memory_order_relaxed);
    return 1;
}

/* The driving thread of a round-trip run, before warm-up round trip i of a
 * run that started at t0: when the warm-up has taken BENCH_WARM_LIMITS run
 * limits, round trip i becomes the first timed one (*warm = i) and the run
 * n round trips more (the other side learns it through j->n, as from
 * bench_cut). A wom row warms with 24 MiB of messages, 300 000 round trips
 * at 64 B: under 1 s alone, but on a loaded machine, where a round trip
 * can take a scheduler slice, longer than the runner waits for the row. */
static inline void bench_warm_cut(struct bench_job *j, uint64_t *warm, uint64_t n, uint64_t i,
                                  int64_t t0)
{
    if (i >= *warm || (i & 255) != 255 || !bench_run_limit_ns ||
        wom__now_ns() - t0 < BENCH_WARM_LIMITS * bench_run_limit_ns)
        return;
    *warm = i;
    /* relaxed: round trip i, sent after this, carries it to the other side */
    atomic_store_explicit(&j->n, i + n, memory_order_relaxed);
}

/* One transport, as the runner sees it. Each call makes a fresh
 * transport (a fresh space for wom) and first runs `warm` messages (round
 * trips) through it untimed, so that the timed part meets warm pages, warm
 * caches and a recycling allocator: the steady state. tput: then move up to
 * n more messages of `size` bytes producer -> consumer; *done = how many,
 * *ns = from the consumer's first timed receive to its last. rtt: up to n
 * round trips after the warm ones, samples[i] = ns of round trip i, *done =
 * how many. Both return 0 or -1. */
struct bench_transport {
    const char *name;
    /* What travels per message and how a waiting side waits, for the table:
     * "pointer" (a pointer into a pool; the consumer reads the two cache
     * lines it checks), "copy in+out" (the payload is copied into the
     * transport and out of it), "copy in+view" (copied in, read in place);
     * "sleeps" (blocks in the kernel), "busy-polls", "spin>sleep" (spins,
     * yields, then sleeps). */
    const char *how;
    /* NULL, or a function naming why this transport cannot run here. */
    const char *(*unavailable)(void);
    int (*tput)(size_t size, uint64_t warm, uint64_t n, uint64_t *done, int64_t *ns);
    int (*rtt)(size_t size, uint64_t warm, uint64_t n, uint64_t *done, int64_t *samples);
};

/* The second thread reads n relaxed: the cut is stored before the last
 * message is sent, and that message's hand-off orders it. */
#define BENCH_N(j) atomic_load_explicit(&(j)->n, memory_order_relaxed)

/* A transport that holds messages back (a batching sender) also defines
 *   static int P_flush(struct P_ctx *c, int dir);
 * which sends what it holds; BENCH_DRIVERS_FLUSH(P, P_flush) calls it after
 * the producer's last message, BENCH_DRIVERS(P) has nothing to flush. */
static inline int bench_no_flush(void *c, int dir)
{
    (void)c;
    (void)dir;
    return 0;
}
#define BENCH_DRIVERS(P) BENCH_DRIVERS_FLUSH(P, bench_no_flush)

#define BENCH_DRIVERS_FLUSH(P, FLUSH)                                          \
    static void *P##_consumer(void *arg)                                       \
    {                                                                          \
        struct bench_job *j = arg;                                             \
        struct P##_ctx *c = j->ctx;                                            \
        bench_gate_pass(&j->gate, 2);                                          \
        for (uint64_t i = 0; i < BENCH_N(j); i++) {                            \
            if (i == j->warm)                                                  \
                j->start_ns = wom__now_ns();                                   \
            if (P##_recv(c, 0, i)) {                                           \
                j->rc = -1;                                                    \
                return NULL;                                                   \
            }                                                                  \
        }                                                                      \
        j->end_ns = wom__now_ns();                                             \
        return NULL;                                                           \
    }                                                                          \
    static void *P##_echo(void *arg)                                           \
    {                                                                          \
        struct bench_job *j = arg;                                             \
        struct P##_ctx *c = j->ctx;                                            \
        bench_gate_pass(&j->gate, 2);                                          \
        for (uint64_t i = 0; i < BENCH_N(j); i++)                              \
            if (P##_recv(c, 0, i) || P##_send(c, 1, i)) {                      \
                j->rc = -1;                                                    \
                return NULL;                                                   \
            }                                                                  \
        return NULL;                                                           \
    }                                                                          \
    static int P##_tput(size_t size, uint64_t warm, uint64_t n,                \
                        uint64_t *done, int64_t *ns)                           \
    {                                                                          \
        struct P##_ctx c;                                                      \
        if (P##_init(&c, size, 0))                                             \
            return -1;                                                         \
        struct bench_job j = {.ctx = &c, .n = warm + n, .warm = warm};         \
        pthread_t t;                                                           \
        if (pthread_create(&t, NULL, P##_consumer, &j)) {                      \
            P##_fini(&c);                                                      \
            return -1;                                                         \
        }                                                                      \
        bench_gate_pass(&j.gate, 2);                                           \
        int64_t t0 = wom__now_ns();                                            \
        int rc = 0, last = 0;                                                  \
        uint64_t i = 0;                                                        \
        while (i < warm + n && !rc && !last) {                                 \
            if (i == warm)                                                     \
                t0 = wom__now_ns();                                            \
            last = i >= warm && bench_cut(&j, i, t0);                          \
            rc = P##_send(&c, 0, i++);                                         \
        }                                                                      \
        if (!rc)                                                               \
            rc = FLUSH(&c, 0);                                                 \
        pthread_join(t, NULL);                                                 \
        P##_fini(&c);                                                          \
        *done = i > warm ? i - warm : 0;                                       \
        *ns = j.end_ns - j.start_ns;                                           \
        return rc || j.rc ? -1 : 0;                                            \
    }                                                                          \
    static int P##_rtt(size_t size, uint64_t warm, uint64_t n, uint64_t *done, \
                       int64_t *samples)                                       \
    {                                                                          \
        struct P##_ctx c;                                                      \
        if (P##_init(&c, size, 1))                                             \
            return -1;                                                         \
        struct bench_job j = {.ctx = &c, .n = warm + n, .warm = warm};         \
        pthread_t t;                                                           \
        if (pthread_create(&t, NULL, P##_echo, &j)) {                          \
            P##_fini(&c);                                                      \
            return -1;                                                         \
        }                                                                      \
        bench_gate_pass(&j.gate, 2);                                           \
        int rc = 0, last = 0;                                                  \
        uint64_t i = 0;                                                        \
        int64_t start = wom__now_ns();                                         \
        while (i < warm + n && !rc && !last) {                                 \
            bench_warm_cut(&j, &warm, n, i, start);                            \
            if (i == warm)                                                     \
                start = wom__now_ns();                                         \
            last = i >= warm && bench_cut(&j, i, start);                       \
            int64_t t0 = wom__now_ns();                                        \
            rc = P##_send(&c, 0, i);                                           \
            if (!rc)                                                           \
                rc = P##_recv(&c, 1, i);                                       \
            if (i >= warm)                                                     \
                samples[i - warm] = wom__now_ns() - t0;                        \
            i++;                                                               \
        }                                                                      \
        pthread_join(t, NULL);                                                 \
        P##_fini(&c);                                                          \
        *done = i > warm ? i - warm : 0;                                       \
        return rc || j.rc ? -1 : 0;                                            \
    }

/* The transports (each module defines one or more). */
extern const struct bench_transport bt_mutex;
extern const struct bench_transport bt_ck;
extern const struct bench_transport bt_zmq;
extern const struct bench_transport bt_nng;
extern const struct bench_transport bt_wom_raw;
extern const struct bench_transport bt_wom_ring;
extern const struct bench_transport bt_wom_chan;
extern const struct bench_transport bt_wom_chan_view;
extern const struct bench_transport bt_wom_chan_zc;
extern const struct bench_transport bt_wom_chan_batch;

/* One writer and `readers` (1..BENCH_FANOUT_MAX) subscribers of one wom
 * channel (t_wom.c: threads, mem:, bound 1024, copy in and out): the writer
 * sends warm + n messages of `size` bytes; every reader receives every one,
 * checks that it is the next in order, and after the last that no message
 * follows (so each arrived exactly once). rate[k] = reader k's msgs/s over
 * its n timed messages; *cpu_ns = the CPU time the writer and all readers
 * spent (their threads' clocks, spinning included) per timed message, which
 * on a machine with fewer cores than threads bounds the rate. 0, or -1
 * after saying why on stderr. */
#define BENCH_FANOUT_MAX 3
int bench_fanout(int readers, size_t size, uint64_t warm, uint64_t n, double *rate,
                 double *cpu_ns);

/* The cross-process part (t_ipc.c): producer and consumer are processes. */
extern const struct bench_transport bt_ipc_wom_chan;
extern const struct bench_transport bt_ipc_wom_zc;
extern const struct bench_transport bt_ipc_pipe;
extern const struct bench_transport bt_ipc_stream;
extern const struct bench_transport bt_ipc_seqpacket;
extern const struct bench_transport bt_ipc_mq;
extern const struct bench_transport bt_ipc_zmq;
extern const struct bench_transport bt_ipc_nng;
extern const struct bench_transport bt_ipc_ring;
/* The POSIX mq depth the part uses: /proc/sys/fs/mqueue/msg_max (max 1024). */
long bench_mq_depth(void);
/* The placement probe (common.c): the median round trip, in ns, of one
 * cache line handed back and forth between this thread and a new one
 * spinning on it (2048 round trips, or fewer after ~10 ms). On this VM it
 * tells which pair of physical cores the two vCPUs sit on right now: this
 * probe measures ~70 ns "near" and ~340 ns "far"; ~15 us or more means the
 * two threads did not run at the same time (a busy machine). -1 when no
 * thread could be made. */
double bench_probe_ns(void);
/* The regime of a sample from the probes before and after it: 'n' near,
 * 'f' far, 'b' busy (the probe threads could not run at once), 'm' mixed
 * (the placement changed during the sample), '?' no probe. */
char bench_regime(double before_ns, double after_ns);
#define BENCH_NEAR_NS 200.0  /* a probe below this: near */
#define BENCH_FAR_NS 1500.0  /* below this: far; above: busy */

/* 1 when this libwom has wom_sync (and the channel forms). */
int bench_have_sync(void);
/* Mean us per wom_sync after each `batch` 64-byte channel sends, on a fresh
 * shm: space file in dir, for about `seconds`. 0 or -1. */
int bench_sync_cost(const char *dir, unsigned batch, double seconds, double *us);

/* The wom put/get cost (putget.c), 64-byte values, each run on a fresh
 * space; every value read back is checked. All return 0 or -1.
 * putget: one thread puts warm addresses untimed and trims them (0: none,
 * the space is fresh and every page is touched first by the timed puts),
 * then puts n fresh addresses, then gets those back.
 * put_race: two writers put every address of [0, n) (the first wins, the
 * other must get WOM_EWRITTEN); with readers = 2, two more threads wait on
 * each cell with a blocking wom_get meanwhile. *ns = ns per address. */
int bench_putget(uint64_t warm, uint64_t n, double *put_ns, double *get_ns);
int bench_put_race(uint64_t n, int readers, double *ns);

/* The cluster part (t_etcd.c): wom's etcd:// scope, the same operations as
 * bench/go/etcdbench.go does with etcd's Go client (see t_etcd.c). */
enum bench_etcd_op { BE_PUT, BE_APPEND, BE_GET, BE_FIRST, BE_CHAN, BE_KILL, BE_APPEND_MANY };
/* BE_APPEND_MANY: values per wom_append_many call (each counts as an op). */
#define BENCH_ETCD_BATCH 64
struct bench_etcd_job {
    const char *uri;      /* etcd://...; the space's prefix included */
    enum bench_etcd_op op;
    size_t size;          /* value bytes (>= BENCH_MSG_MIN) */
    int conc;             /* threads (chan: subscribers), 1..256 */
    int runs;             /* out[0..runs) */
    double seconds;       /* per run (chan: runs until every message arrived) */
    double warmup;        /* seconds of one run before, not reported (0: none) */
    unsigned msgs;        /* chan: messages per run */
};
/* One run: completed ops/s (chan: delivered messages/s), latency p50/p99
 * (chan: send -> delivery), the longest time without a completed op, and
 * failed calls (kill only: other ops stop at the first failure). */
struct bench_etcd_run {
    double ops_s, p50_ns, p99_ns, gap_ns, errors;
};
/* NULL, or why this program cannot measure the etcd:// scope. */
const char *bench_etcd_unavailable(void);
/* Run job j; 0 with out[0..j->runs) filled, or -1 after saying why on
 * stderr. */
int bench_etcd(const struct bench_etcd_job *j, struct bench_etcd_run *out);

#endif
