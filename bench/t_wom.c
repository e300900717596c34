/*
 * t_wom.c - wom's own transports, each on a fresh "mem:" space:
 *
 *   wom raw        wom_append by the producer, wom_get(addr = seq, wait) by the
 *                  consumer on one ONCE region per direction. The consumer
 *                  publishes its progress and trims what it has read (one
 *                  leaf behind); the
 *                  producer stays within RAW_WINDOW messages of it, so the
 *                  log is bounded like every other queue here.
 *   wom ring       wom_ring_send / wom_ring_recv over 1024 MANY slots.
 *   wom chan       wom_chan_send + wom_sub_recv (copy out), bound 1024.
 *   wom chan view  wom_chan_send + wom_sub_recv_view (zero-copy) + release.
 *   wom chan batch wom_chan_send_many of 64 messages + wom_sub_recv_views of
 *                  up to 64 views, each checked and released; bound 1024.
 *                  Round trips send one message per call (a ping cannot
 *                  wait for 63 more).
 *
 * The forms (chan, sub, ring) are referenced weakly: a library built without
 * them still runs the rest, and those rows say why they were skipped.
 */
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "wom.h"
#include "wom_io.h"

#pragma weak wom_ring_open
#pragma weak wom_ring_close
#pragma weak wom_ring_send
#pragma weak wom_ring_recv

#define WOM_CAP 1024u      /* ring slots, channel bound, raw window */
#define RAW_PUBLISH 64u    /* the raw consumer publishes progress this often */
#define RAW_TRIM 4096u     /* and trims this often, */
#define RAW_TRIM_LAG 1024u /* keeping the last leaf's worth it read */

static const char *const dir_name[2][2] = {{"bench.a", "bench.b"}, {"bench.a.x", "bench.b.x"}};

/* Pattern-filled send and receive buffers for both directions. */
static int bufs_new(char **out, char **in, size_t size)
{
    for (int d = 0; d < 2; d++) {
        out[d] = bench_buf_new(size);
        in[d] = bench_buf_new(size);
        if (!out[d] || !in[d])
            return -1;
    }
    return 0;
}

/* ---- raw append/get ---- */

struct raw_ctx {
    size_t size;
    wom_space *s;
    wom_region *r[2];
    char *out[2], *in[2]; /* per direction: each thread its own */
    struct {
        _Alignas(64) atomic_uint_fast64_t done; /* consumer: messages read */
    } q[2];
};

static void raw_fini(struct raw_ctx *c)
{
    for (int d = 0; d < 2; d++)
        if (c->r[d])
            wom_region_close(c->r[d]);
    if (c->s)
        wom_close(c->s);
    for (int d = 0; d < 2; d++) {
        free(c->out[d]);
        free(c->in[d]);
    }
}

static int raw_init(struct raw_ctx *c, size_t size, int duplex)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    int rc = bufs_new(c->out, c->in, size) ? WOM_ENOMEM : wom_open("mem:", &c->s);
    for (int d = 0; d <= duplex && !rc; d++)
        rc = wom_region_open(c->s, dir_name[0][d], WOM_ONCE, &c->r[d]);
    if (rc) {
        womc_fail("wom raw", "setup", rc);
        raw_fini(c);
        return -1;
    }
    return 0;
}

static inline int raw_send(struct raw_ctx *c, int dir, uint64_t seq)
{
    unsigned spins = 0;
    while (seq - atomic_load_explicit(&c->q[dir].done, memory_order_acquire) >= WOM_CAP)
        bench_spin(&spins);
    bench_msg_fill(c->out[dir], c->size, seq);
    uint64_t addr;
    int rc = wom_append(c->r[dir], c->out[dir], c->size, &addr);
    if (rc)
        return womc_fail("wom raw", "wom_append", rc);
    if (addr != seq) {
        fprintf(stderr, "wom raw: append returned address %llu for message %llu\n",
                (unsigned long long)addr, (unsigned long long)seq);
        return -1;
    }
    return 0;
}

static inline int raw_recv(struct raw_ctx *c, int dir, uint64_t seq)
{
    size_t len;
    int rc = wom_get(c->r[dir], seq, c->in[dir], c->size, &len, -1);
    if (rc)
        return womc_fail("wom raw", "wom_get", rc);
    if (!bench_msg_ok(c->in[dir], len, c->size, seq))
        return bench_bad_msg("wom raw", c->in[dir], len, c->size, seq);
    /* The lag keeps the trim away from cells whose put may still be
     * finishing: trimming right up to a cell just read races with the
     * writer's post-publish floor check in the engine (see README). */
    if ((seq + 1) % RAW_TRIM == 0 && (rc = wom_trim(c->r[dir], seq + 1 - RAW_TRIM_LAG)))
        return womc_fail("wom raw", "wom_trim", rc);
    if ((seq + 1) % RAW_PUBLISH == 0)
        atomic_store_explicit(&c->q[dir].done, seq + 1, memory_order_release);
    return 0;
}

BENCH_DRIVERS(raw)

const struct bench_transport bt_wom_raw = {"wom raw append/get", "copy in+out, spin>sleep", NULL,
                                            raw_tput, raw_rtt};

/* ---- ring over MANY slots ---- */

struct ring_ctx {
    size_t size;
    wom_space *s;
    wom_ring *g[2];
    char *out[2], *in[2]; /* per direction: each thread its own */
};

static void ring_fini(struct ring_ctx *c)
{
    for (int d = 0; d < 2; d++)
        if (c->g[d])
            wom_ring_close(c->g[d]);
    if (c->s)
        wom_close(c->s);
    for (int d = 0; d < 2; d++) {
        free(c->out[d]);
        free(c->in[d]);
    }
}

static int ring_init(struct ring_ctx *c, size_t size, int duplex)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    int rc = bufs_new(c->out, c->in, size) ? WOM_ENOMEM : wom_open("mem:", &c->s);
    for (int d = 0; d <= duplex && !rc; d++)
        rc = wom_ring_open(c->s, dir_name[0][d], WOM_CAP, size, &c->g[d]);
    if (rc) {
        womc_fail("wom ring", "setup", rc);
        ring_fini(c);
        return -1;
    }
    return 0;
}

static inline int ring_send(struct ring_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    int rc = wom_ring_send(c->g[dir], c->out[dir], c->size, -1);
    return rc ? womc_fail("wom ring", "wom_ring_send", rc) : 0;
}

static inline int ring_recv(struct ring_ctx *c, int dir, uint64_t seq)
{
    size_t len;
    int rc = wom_ring_recv(c->g[dir], c->in[dir], c->size, &len, -1);
    if (rc)
        return womc_fail("wom ring", "wom_ring_recv", rc);
    if (!bench_msg_ok(c->in[dir], len, c->size, seq))
        return bench_bad_msg("wom ring", c->in[dir], len, c->size, seq);
    return 0;
}

BENCH_DRIVERS(ring)

static const char *ring_unavailable(void)
{
    if (!wom_ring_open || !wom_ring_close || !wom_ring_send || !wom_ring_recv)
        return "wom_ring_* not in this build of libwom";
    return NULL;
}

const struct bench_transport bt_wom_ring = {"wom ring (MANY slots)", "copy in+out, spin>sleep",
                                            ring_unavailable, ring_tput, ring_rtt};

/* ---- channel: copy and zero-copy receive ---- */

struct chan_ctx {
    size_t size;
    int view;
    wom_space *s;
    wom_chan *ch[2];
    wom_sub *sub[2];
    char *out[2], *in[2]; /* per direction: each thread its own */
};

static void chan_fini(struct chan_ctx *c)
{
    for (int d = 0; d < 2; d++) {
        if (c->sub[d])
            wom_sub_close(c->sub[d]);
        if (c->ch[d])
            wom_chan_close(c->ch[d]);
    }
    if (c->s)
        wom_close(c->s);
    for (int d = 0; d < 2; d++) {
        free(c->out[d]);
        free(c->in[d]);
    }
}

static int chan_open(struct chan_ctx *c, size_t size, int duplex, int view)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    c->view = view;
    int rc = bufs_new(c->out, c->in, size) ? WOM_ENOMEM : wom_open("mem:", &c->s);
    wom_chan_opts co = WOM_CHAN_OPTS_INIT;
    co.bound = WOM_CAP;
    /* Holds what the other queues hold: retain = bound = their capacity
     * (1024..1152 messages; the bound keeps every reader inside it). */
    co.retain = WOM_CAP;
    for (int d = 0; d <= duplex && !rc; d++) {
        rc = wom_chan_open(c->s, dir_name[1][d], &co, &c->ch[d]);
        if (!rc)
            rc = wom_sub_open(c->ch[d], NULL, &c->sub[d]);
    }
    if (rc) {
        womc_fail("wom chan", "setup", rc);
        chan_fini(c);
        return -1;
    }
    return 0;
}

static int chan_init(struct chan_ctx *c, size_t size, int duplex)
{
    return chan_open(c, size, duplex, 0);
}

static const char *const chan_who[] = {"wom chan", "wom chan view", "wom chan zero-copy"};

static inline int chan_send(struct chan_ctx *c, int dir, uint64_t seq)
{
    return womc_send(c->ch[dir], (enum womc_mode)c->view, c->out[dir], c->size, seq,
                     chan_who[c->view]);
}

static inline int chan_recv(struct chan_ctx *c, int dir, uint64_t seq)
{
    return womc_recv(c->sub[dir], (enum womc_mode)c->view, c->in[dir], c->size, seq,
                     chan_who[c->view]);
}

BENCH_DRIVERS(chan)

/* The view variant: the same loops over a context that receives views. */
#define chanv_ctx chan_ctx
#define chanv_fini chan_fini
#define chanv_send chan_send
#define chanv_recv chan_recv
static int chanv_init(struct chan_ctx *c, size_t size, int duplex)
{
    return chan_open(c, size, duplex, 1);
}
BENCH_DRIVERS(chanv)

/* The zero-copy variant: loans written in place, received as views. */
#define chanz_ctx chan_ctx
#define chanz_fini chan_fini
#define chanz_send chan_send
#define chanz_recv chan_recv
static int chanz_init(struct chan_ctx *c, size_t size, int duplex)
{
    return chan_open(c, size, duplex, 2);
}
BENCH_DRIVERS(chanz)

static const char *chan_unavailable(void)
{
    if (!wom_chan_open || !wom_chan_close || !wom_chan_send || !wom_sub_open ||
        !wom_sub_close || !wom_sub_recv || !wom_sub_recv_view || !wom_chan_loan ||
        !wom_chan_send_loan || !wom_loan_cancel)
        return "wom_chan_* / wom_sub_* not in this build of libwom";
    return NULL;
}

const struct bench_transport bt_wom_chan = {"wom chan (sub_recv)", "copy in+out, spin>sleep",
                                            chan_unavailable, chan_tput, chan_rtt};
const struct bench_transport bt_wom_chan_view = {"wom chan (recv_view)", "copy in+view, spin>sleep",
                                                 chan_unavailable, chanv_tput, chanv_rtt};
const struct bench_transport bt_wom_chan_zc = {"wom chan (loan+view)", "in place+view, spin>sleep",
                                               chan_unavailable, chanz_tput, chanz_rtt};

/* ---- channel: batches of sends and of views ---- */

#define BATCH 64u

/* Per direction: the sender's staged messages (k of them, each in its own
 * slot of out, so every one keeps its own stamp until sent) and the
 * receiver's views (got of them, the first next already checked and
 * released). */
struct chanb_dir {
    char *out;
    wom_iov iov[BATCH];
    size_t k;
    wom_view views[BATCH];
    size_t got, next;
};

struct chanb_ctx {
    struct chan_ctx ch; /* the channels and subscriptions; its buffers unused */
    int duplex;         /* round trips: each send goes at once */
    struct chanb_dir d[2];
};

static void chanb_fini(struct chanb_ctx *c)
{
    for (int d = 0; d < 2; d++) {
        for (size_t i = c->d[d].next; i < c->d[d].got; i++)
            wom_view_release(&c->d[d].views[i]);
        free(c->d[d].out);
    }
    chan_fini(&c->ch);
}

static int chanb_init(struct chanb_ctx *c, size_t size, int duplex)
{
    memset(c->d, 0, sizeof c->d);
    c->duplex = duplex;
    if (chan_open(&c->ch, size, duplex, 0))
        return -1;
    for (int d = 0; d < 2; d++)
        if (!(c->d[d].out = bench_buf_new(BATCH * size))) {
            chanb_fini(c);
            return -1;
        }
    return 0;
}

/* Send what direction dir holds, in one call; all of it or an error. */
static int chanb_flush(struct chanb_ctx *c, int dir)
{
    struct chanb_dir *b = &c->d[dir];
    size_t sent = 0;
    if (!b->k)
        return 0;
    int rc = wom_chan_send_many(c->ch.ch[dir], b->iov, b->k, -1, NULL, &sent);
    if (!rc && sent != b->k) {
        fprintf(stderr, "wom chan batch: send_many sent %zu of %zu\n", sent, b->k);
        return -1;
    }
    b->k = 0;
    return rc ? womc_fail("wom chan batch", "wom_chan_send_many", rc) : 0;
}

/* Stage message seq; a full batch (or, for round trips, any message) goes. */
static inline int chanb_send(struct chanb_ctx *c, int dir, uint64_t seq)
{
    struct chanb_dir *b = &c->d[dir];
    size_t size = c->ch.size;
    char *p = b->out + b->k * size;
    bench_msg_fill(p, size, seq);
    b->iov[b->k++] = (wom_iov){p, size};
    return b->k == BATCH || c->duplex ? chanb_flush(c, dir) : 0;
}

/* The next view, taking up to BATCH more when none is left; checked as
 * womc_recv checks, then released. */
static inline int chanb_recv(struct chanb_ctx *c, int dir, uint64_t seq)
{
    struct chanb_dir *b = &c->d[dir];
    if (b->next == b->got) {
        size_t got = 0;
        b->got = b->next = 0;
        int rc = wom_sub_recv_views(c->ch.sub[dir], b->views, BATCH, &got, NULL, -1);
        if (rc)
            return womc_fail("wom chan batch", "wom_sub_recv_views", rc);
        if (!got || got > BATCH) {
            fprintf(stderr, "wom chan batch: recv_views got %zu views\n", got);
            return -1;
        }
        b->got = got;
    }
    wom_view *v = &b->views[b->next++];
    int ok = bench_msg_ok(v->data, v->len, c->ch.size, seq);
    if (!ok)
        bench_bad_msg("wom chan batch", v->data, v->len, c->ch.size, seq);
    wom_view_release(v);
    return ok ? 0 : -1;
}

BENCH_DRIVERS_FLUSH(chanb, chanb_flush)

static const char *chanb_unavailable(void)
{
    if (!wom_chan_send_many || !wom_sub_recv_views)
        return "wom_chan_send_many / wom_sub_recv_views not in this build of libwom";
    return chan_unavailable();
}

const struct bench_transport bt_wom_chan_batch = {
    "wom chan (send_many+recv_views)", "batch 64, copy in+view", chanb_unavailable,
    chanb_tput, chanb_rtt};

/* ---- one writer, several readers of one channel ---- */

struct fan {
    wom_chan *ch;
    size_t size;
    int parties;          /* the writer and the readers, at the gate */
    struct bench_job job; /* n: messages in all; warm: of them untimed */
    atomic_int failed;
};

struct fan_reader {
    struct fan *f;
    wom_sub *sub;
    char *in;
    int64_t start_ns, end_ns;
    int64_t cpu_ns; /* the thread's CPU time over the timed messages */
    pthread_t t;
};

/* The calling thread's CPU time so far. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every message, in order, exactly once: message i must carry seq i, and
 * after the last one the channel must be empty. A reader that fails closes
 * its subscription, which stops it holding the writer back. */
static void *fan_reader_main(void *arg)
{
    struct fan_reader *rd = arg;
    struct fan *f = rd->f;
    int rc = 0;
    int64_t cpu0 = 0;
    bench_gate_pass(&f->job.gate, f->parties);
    for (uint64_t i = 0; i < BENCH_N(&f->job) && !rc; i++) {
        if (i == f->job.warm) {
            rd->start_ns = wom__now_ns();
            cpu0 = thread_cpu_ns();
        }
        rc = womc_recv(rd->sub, WOMC_COPY, rd->in, f->size, i, "wom chan fan-out");
    }
    rd->end_ns = wom__now_ns();
    rd->cpu_ns = thread_cpu_ns() - cpu0;
    size_t len;
    int more = rc ? 0 : wom_sub_recv(rd->sub, rd->in, f->size, &len, NULL, 0);
    if (!rc && more != WOM_EEMPTY) {
        fprintf(stderr, "wom chan fan-out: %s after the last message\n",
                more ? wom_strerror(more) : "one more message");
        rc = -1;
    }
    if (rc) {
        atomic_store_explicit(&f->failed, 1, memory_order_relaxed);
        wom_sub_close(rd->sub);
        rd->sub = NULL;
    }
    return NULL;
}

/* The writer's side: warm + n messages, the timed ones cut short like the
 * other drivers'.
 * A failed send leaves the readers waiting for good: this runs in a child
 * process of the runner, so it ends the process, which reports it.
 * Returns the writer's CPU time over the timed messages. */
static int64_t fan_write(struct fan *f, char *out)
{
    uint64_t total = BENCH_N(&f->job);
    int64_t t0 = wom__now_ns(), cpu0 = thread_cpu_ns();
    int last = 0;
    for (uint64_t i = 0; i < total && !last; i++) {
        if (i == f->job.warm) {
            t0 = wom__now_ns();
            cpu0 = thread_cpu_ns();
        }
        last = i >= f->job.warm && bench_cut(&f->job, i, t0);
        if (womc_send(f->ch, WOMC_COPY, out, f->size, i, "wom chan fan-out"))
            exit(1);
    }
    return thread_cpu_ns() - cpu0;
}

static int fan_open(struct fan *f, wom_space **s, size_t size)
{
    wom_chan_opts co = WOM_CHAN_OPTS_INIT;
    co.bound = WOM_CAP;
    co.retain = WOM_CAP; /* as chan_open's */
    f->size = size;
    int rc = wom_open("mem:", s);
    if (!rc && (rc = wom_chan_open(*s, "bench.fan", &co, &f->ch)))
        wom_close(*s);
    return rc ? womc_fail("wom chan fan-out", "setup", rc) : 0;
}

int bench_fanout(int readers, size_t size, uint64_t warm, uint64_t n, double *rate,
                 double *cpu_ns)
{
    if (chan_unavailable() || readers < 1 || readers > BENCH_FANOUT_MAX)
        return -1;
    wom_space *s;
    struct fan f = {.parties = readers + 1, .job = {.n = warm + n, .warm = warm}};
    struct fan_reader rd[BENCH_FANOUT_MAX] = {{0}};
    char *out = bench_buf_new(size);
    if (!out || fan_open(&f, &s, size)) {
        free(out);
        return -1;
    }
    int rc = 0, k = 0;
    int64_t cpu = 0;
    for (; k < readers && !rc; k++) {
        rd[k].f = &f;
        rd[k].in = bench_buf_new(size);
        rc = rd[k].in ? wom_sub_open(f.ch, NULL, &rd[k].sub) : WOM_ENOMEM;
        if (rc)
            womc_fail("wom chan fan-out", "wom_sub_open", rc);
        else if (pthread_create(&rd[k].t, NULL, fan_reader_main, &rd[k]))
            exit(1); /* readers already started wait at the gate for good */
    }
    if (!rc) {
        bench_gate_pass(&f.job.gate, f.parties);
        cpu = fan_write(&f, out);
        for (int i = 0; i < readers; i++)
            pthread_join(rd[i].t, NULL);
    }
    uint64_t timed = BENCH_N(&f.job) > warm ? BENCH_N(&f.job) - warm : 0;
    for (int i = 0; i < readers; i++)
        cpu += rd[i].cpu_ns;
    *cpu_ns = timed ? (double)cpu / (double)timed : 0;
    for (int i = 0; i < readers; i++) {
        rate[i] = timed && rd[i].end_ns > rd[i].start_ns
                      ? (double)timed * 1e9 / (double)(rd[i].end_ns - rd[i].start_ns)
                      : 0;
        if (rd[i].sub)
            wom_sub_close(rd[i].sub);
        free(rd[i].in);
    }
    wom_chan_close(f.ch);
    wom_close(s);
    free(out);
    if (!rc && !timed)
        fprintf(stderr, "wom chan fan-out: cut short before the timed part\n");
    return rc || !timed || atomic_load(&f.failed) ? -1 : 0;
}
