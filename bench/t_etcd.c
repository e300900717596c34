/*
 * t_etcd.c - the cluster part's wom side: wom's etcd:// scope under load,
 * through the public API only, for the rows that bench/go/etcdbench.go
 * measures with etcd's own Go client. One wom_space per measurement, shared
 * by every thread (the intended use: the client pipelines the calls of many
 * threads over one connection); every value carries its sequence number at
 * both ends (bench_msg_fill) and every value read is checked.
 *
 *   put     wom_put on a ONCE region at fresh addresses (one transaction
 *           each).
 *   append  wom_append from conc threads on one region.
 *   many    wom_append_many of BENCH_ETCD_BATCH values a call from conc
 *           threads on one region: each value counts as an op, the latency
 *           is the call's.
 *   get     wom_get of written cells again and again: thread k reads cell k
 *           (a get that may wait, GET_TIMEOUT_NS; the cell is written).
 *   first   wom_get of cells this space handle never read: a fresh space
 *           per run (so no client cache has them), each address read once,
 *           at most FIRST_CELLS per run (written once per value size).
 *   chan    one writer wom_chan_send-s `msgs` messages one after the other
 *           to an unbounded channel; conc subscribers (opened before the
 *           first run, kept for every run) each wom_sub_recv every one of
 *           them, in order.
 *           ops/s = delivered messages / (last delivery - first send);
 *           latency = send start -> delivery.
 *   kill    append, as above, for one run that tolerates failed calls
 *           (counted), while the runner SIGKILLs the cluster's leader.
 *
 * put, append and get run one load on conc threads: a warm-up, then `runs`
 * consecutive windows of `seconds`, each window one run (run_load says
 * why). For every run: completed ops/s, p50/p99 latency, the longest time
 * without a completed op (gap), and failed calls (append and kill only:
 * any other failure fails the measurement).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "wom.h"
#include "wom_io.h"

#define MAX_THREADS 256
#define SAMPLES (1u << 20) /* latencies (and completion times) kept per load */
#define MAX_WIN 16         /* windows (runs) of one load */
#define FIRST_CELLS 2048u  /* cells written for the first-read rows */
#define RECV_TIMEOUT_NS 30000000000LL
/* Gets wait (the cells are written, so they return at once): a reader of
 * a log or a channel reads that way, and the scope may watch a region that
 * is read that way and keep its written cells (a get that must not wait is
 * WOM_EEMPTY on an empty cell, and needs no watch). */
#define GET_TIMEOUT_NS 5000000000LL

const char *bench_etcd_unavailable(void)
{
#ifdef BENCH_HAVE_ETCD
    return NULL;
#else
    return "skipped: the etcd:// scope is not built (gRPC / protobuf-c not found at configure "
           "time)";
#endif
}

/* One run's shared state. */
struct load {
    const struct bench_etcd_job *job;
    wom_region *r;
    uint64_t limit;      /* first: addresses [0, limit) */
    atomic_int go;       /* 1: start; the threads read start_ns/end_ns after it */
    int64_t start_ns, end_ns;
    _Alignas(64) atomic_uint_fast64_t next; /* next op index (= address for put, first) */
    int64_t warm_ns, win_ns; /* the windows: [warm + k win, warm + (k+1) win) */
    int nwin;
    uint64_t per;            /* samples kept per window: slots [k per, (k+1) per) */
    _Alignas(64) atomic_uint_fast64_t count[MAX_WIN], fails[MAX_WIN], nsamp[MAX_WIN];
    atomic_int said;     /* the first failed append was reported */
    atomic_int failed;
    int abandoned;       /* run_load left threads blocked in calls */
    int64_t *lat, *done; /* SAMPLES each: latency, completion (-1: none) */
};

struct worker {
    struct load *L;
    unsigned k; /* thread number */
    pthread_t t;
};

static int fail_rc(const char *what, int rc)
{
    return bench_fail("wom etcd", what, rc, wom_strerror(rc));
}

/* One call that ended at t1, in which `ops` operations completed: counted
 * in its window (a failed call once as such, with the operations it
 * completed all the same), and its latency and completion time kept while the window has
 * room (a cached get may complete millions a second). The completion time
 * is stored last, atomically: a slot whose time reads -1 is not used, so
 * the samples of threads abandoned in a call (run_load) never count half
 * written. */
static void record(struct load *L, int64_t t0, int64_t t1, int failed, uint64_t ops)
{
    int64_t t = t1 - L->start_ns - L->warm_ns;
    if (t < 0 || t / L->win_ns >= L->nwin)
        return; /* the warm-up, or after the end */
    int w = (int)(t / L->win_ns);
    if (failed)
        atomic_fetch_add_explicit(&L->fails[w], 1, memory_order_relaxed);
    if (ops)
        atomic_fetch_add_explicit(&L->count[w], ops, memory_order_relaxed);
    if (failed)
        return;
    uint64_t i = atomic_fetch_add_explicit(&L->nsamp[w], 1, memory_order_relaxed);
    if (i < L->per) {
        L->lat[w * L->per + i] = t1 - t0;
        __atomic_store_n(&L->done[w * L->per + i], t1 - L->start_ns, __ATOMIC_RELEASE);
    }
}

/* Operation i of worker w; 0, 1 (no more work: first reads used up), or
 * a negative wom error. *ops: the values an append many appended (also
 * when it failed part way). */
static int one_op(struct load *L, struct worker *w, uint64_t i, char *buf, uint64_t *n,
                  uint64_t *ops)
{
    size_t size = L->job->size, len;
    uint64_t addr;
    int rc;
    switch (L->job->op) {
    case BE_PUT:
        bench_msg_fill(buf, size, i);
        return wom_put(L->r, i, buf, size);
    case BE_APPEND:
    case BE_KILL:
        bench_msg_fill(buf, size, (uint64_t)w->k << 40 | (*n)++);
        return wom_append(L->r, buf, size, &addr);
    case BE_APPEND_MANY: {
        wom_iov v[BENCH_ETCD_BATCH];
        for (size_t k = 0; k < BENCH_ETCD_BATCH; k++) {
            bench_msg_fill(buf + k * size, size, (uint64_t)w->k << 40 | (*n)++);
            v[k] = (wom_iov){buf + k * size, size};
        }
        size_t done = 0;
        rc = wom_append_many(L->r, v, BENCH_ETCD_BATCH, NULL, &done);
        *ops = done;
        return rc;
    }
    case BE_GET:
    case BE_FIRST:
        addr = L->job->op == BE_GET ? w->k : i;
        if (addr >= L->limit)
            return 1;
        rc = wom_get(L->r, addr, buf, size, &len, GET_TIMEOUT_NS);
        if (!rc && !bench_msg_ok(buf, len, size, addr)) {
            bench_bad_msg("wom etcd get", buf, len, size, addr);
            atomic_store_explicit(&L->failed, 1, memory_order_relaxed);
            return 1;
        }
        return rc;
    default:
        return 1;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct load *L = w->L;
    int many = L->job->op == BE_APPEND_MANY;
    char *buf = bench_buf_new(L->job->size * (many ? BENCH_ETCD_BATCH : 1));
    uint64_t n = 0;
    if (!buf) {
        atomic_store_explicit(&L->failed, 1, memory_order_relaxed);
        return NULL;
    }
    /* Acquire: pairs with the release store of go, publishing start/end. */
    while (!atomic_load_explicit(&L->go, memory_order_acquire))
        sched_yield();
    while (!atomic_load_explicit(&L->failed, memory_order_relaxed) &&
           wom__now_ns() < L->end_ns) {
        uint64_t i = atomic_fetch_add_explicit(&L->next, 1, memory_order_relaxed);
        int64_t t0 = wom__now_ns();
        uint64_t ops = 0;
        int rc = one_op(L, w, i, buf, &n, &ops);
        int64_t t1 = wom__now_ns();
        if (!many)
            ops = rc == 0; /* one op a call */
        if (rc == 1)
            break;
        /* Appends are counted when they fail (the row says how many) and
         * the run goes on: under contention today's one-transaction-per-
         * append scope runs calls into its op deadline (WOM_EUNKNOWN),
         * and that is part of what it measures. */
        if (rc < 0 && (L->job->op == BE_KILL || L->job->op == BE_APPEND || many)) {
            if (!atomic_exchange_explicit(&L->said, 1, memory_order_relaxed) &&
                L->job->op != BE_KILL)
                fail_rc(many ? "wom_append_many (counted; the run goes on)"
                             : "wom_append (counted; the run goes on)", rc);
            record(L, t0, t1, 1, ops);
            continue;
        }
        if (rc < 0) {
            fail_rc(L->job->op == BE_PUT ? "wom_put" : "wom_get", rc);
            atomic_store_explicit(&L->failed, 1, memory_order_relaxed);
            break;
        }
        record(L, t0, t1, 0, ops);
    }
    free(buf);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const int64_t *s, uint64_t n, double q)
{
    if (!n)
        return 0;
    uint64_t k = (uint64_t)(q * (double)n + 0.999999);
    return (double)s[k ? (k > n ? n : k) - 1 : 0];
}

/* The longest stretch of [a, b) without a time in done[0..n) (sorts). */
static double max_gap(int64_t *done, uint64_t n, int64_t a, int64_t b)
{
    qsort(done, n, sizeof *done, cmp_i64);
    int64_t gap = 0, last = a;
    for (uint64_t i = 0; i < n; i++) {
        gap = done[i] - last > gap ? done[i] - last : gap;
        last = done[i];
    }
    return (double)(b - last > gap ? b - last : gap);
}

/* Fill *out from window w of L, [a, b) ns after the start: ops/s, the
 * latency quantiles and the longest gap of the samples kept (all of the
 * window's ops unless it had more than L->per), failed calls. */
static void window(struct load *L, int w, int64_t a, int64_t b, struct bench_etcd_run *out)
{
    uint64_t n = atomic_load_explicit(&L->nsamp[w], memory_order_relaxed), k = 0;
    int64_t *lat = L->lat + w * L->per, *done = L->done + w * L->per;
    n = n < L->per ? n : L->per;
    for (uint64_t i = 0; i < n; i++)
        if (__atomic_load_n(&done[i], __ATOMIC_ACQUIRE) >= 0) {
            lat[k] = lat[i];
            done[k++] = done[i];
        }
    qsort(lat, k, sizeof *lat, cmp_i64);
    uint64_t c = atomic_load_explicit(&L->count[w], memory_order_relaxed);
    *out = (struct bench_etcd_run){
        .ops_s = b > a ? (double)c * 1e9 / (double)(b - a) : 0,
        .p50_ns = quantile(lat, k, 0.50),
        .p99_ns = quantile(lat, k, 0.99),
        .gap_ns = max_gap(done, k, a, b),
        .errors = (double)atomic_load_explicit(&L->fails[w], memory_order_relaxed)};
}

/* Run L's op on conc threads for warm + nwin * secs seconds (or until the
 * work is used up); run k is the window [warm + k secs, warm + (k+1) secs)
 * of that one load: out[k] from the ops that completed in it. One load
 * instead of nwin, so that the calls in flight at the end (appends that
 * contend into their op deadline, today) are waited for once. A thread
 * still in a call a second after the end is abandoned: L->abandoned is
 * set, and the caller leaves the space and L as they are (the child
 * process exits). */
static int run_load(struct load *L, int conc, double warm, int nwin, double secs,
                    struct bench_etcd_run *out)
{
    struct worker w[MAX_THREADS];
    int started = 0;
    if (nwin < 1 || nwin > MAX_WIN)
        return -1;
    for (int k = 0; k < MAX_WIN; k++) {
        atomic_store_explicit(&L->count[k], 0, memory_order_relaxed);
        atomic_store_explicit(&L->fails[k], 0, memory_order_relaxed);
        atomic_store_explicit(&L->nsamp[k], 0, memory_order_relaxed);
    }
    L->warm_ns = (int64_t)(warm * 1e9);
    L->win_ns = (int64_t)(secs * 1e9);
    L->nwin = nwin;
    L->per = SAMPLES / (uint64_t)nwin;
    atomic_store_explicit(&L->next, 0, memory_order_relaxed);
    atomic_store_explicit(&L->go, 0, memory_order_relaxed);
    memset(L->done, 0xff, SAMPLES * sizeof *L->done); /* -1: in no window */
    for (; started < conc; started++) {
        w[started] = (struct worker){.L = L, .k = (unsigned)started};
        if (pthread_create(&w[started].t, NULL, worker_main, &w[started])) {
            atomic_store_explicit(&L->failed, 1, memory_order_relaxed);
            break;
        }
    }
    int64_t len = (int64_t)((warm + nwin * secs) * 1e9);
    L->start_ns = wom__now_ns();
    L->end_ns = L->start_ns + len;
    /* Release: the threads may read start_ns and end_ns once they see it. */
    atomic_store_explicit(&L->go, 1, memory_order_release);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    int64_t until = (int64_t)dl.tv_nsec + len + 1000000000;
    dl.tv_sec += (time_t)(until / 1000000000);
    dl.tv_nsec = (long)(until % 1000000000);
    for (int i = 0; i < started; i++)
        if (pthread_timedjoin_np(w[i].t, NULL, &dl))
            L->abandoned = 1;
    int64_t ns = L->abandoned ? len : wom__now_ns() - L->start_ns;
    if (atomic_load_explicit(&L->failed, memory_order_relaxed))
        return -1;
    for (int k = 0; k < nwin && out; k++) {
        int64_t a = L->warm_ns + k * L->win_ns, b = a + L->win_ns;
        window(L, k, a, b < ns ? b : ns, &out[k]);
    }
    return 0;
}

static int region(wom_space *s, const char *name, wom_region **r)
{
    int rc = wom_region_open(s, name, WOM_ONCE, r);
    return rc ? fail_rc(name, rc) : 0;
}

static int space(const char *uri, wom_space **s)
{
    int rc = wom_open(uri, s);
    if (rc)
        fprintf(stderr, "wom etcd: wom_open(%s): %s %s\n", uri, wom_strerror(rc),
                wom_last_error());
    return rc ? -1 : 0;
}

/* Cells [0, n) of a region written by 64 threads of puts (cells an earlier
 * job wrote count: the region is kept by name within the bench's prefix). */
struct fill_arg {
    wom_region *r;
    size_t size;
    uint64_t n;
    atomic_uint_fast64_t *next;
    int rc;
};

static void *fill_main(void *arg)
{
    struct fill_arg *f = arg;
    char *buf = bench_buf_new(f->size);
    if (!buf)
        return f->rc = -1, NULL;
    for (uint64_t a; !f->rc && (a = atomic_fetch_add_explicit(f->next, 1,
                                                              memory_order_relaxed)) < f->n;) {
        bench_msg_fill(buf, f->size, a);
        int e = wom_put(f->r, a, buf, f->size);
        if (e && e != WOM_EWRITTEN)
            f->rc = fail_rc("wom_put (writing the cells to read)", e);
    }
    free(buf);
    return NULL;
}

static int fill_cells(wom_space *s, const char *name, size_t size, uint64_t n)
{
    enum { T = 64 };
    wom_region *r;
    uint64_t tail = 0;
    if (region(s, name, &r))
        return -1;
    if (wom_tail(r, &tail) == 0 && tail >= n) {
        wom_region_close(r);
        return 0;
    }
    atomic_uint_fast64_t next = 0;
    struct fill_arg f[T];
    pthread_t t[T];
    int k = 0, rc = 0;
    for (; k < T; k++) {
        f[k] = (struct fill_arg){r, size, n, &next, 0};
        if (pthread_create(&t[k], NULL, fill_main, &f[k]))
            break;
    }
    for (int i = 0; i < k; i++) {
        pthread_join(t[i], NULL);
        rc |= f[i].rc;
    }
    wom_region_close(r);
    return rc || k < T ? -1 : 0;
}

/* ---- the channel: one writer, conc subscribers ---- */

/* One channel and its subscribers serve every run: run r sends (and each
 * subscriber receives) addresses [r msgs, (r+1) msgs). */
struct chan_load {
    const struct bench_etcd_job *job;
    wom_chan *ch;
    wom_sub *sub[MAX_THREADS];
    uint64_t base; /* the run's first address */
    atomic_int go;
    int64_t start_ns;
    int64_t *sent; /* per message: ns after start_ns, stored before its send */
    int64_t *lat;  /* conc * msgs */
    int64_t last[MAX_THREADS];
    atomic_int failed;
};

struct chan_worker {
    struct chan_load *C;
    unsigned k;
    pthread_t t;
};

static void *sub_main(void *arg)
{
    struct chan_worker *w = arg;
    struct chan_load *C = w->C;
    size_t size = C->job->size, len;
    char *buf = bench_buf_new(size);
    if (!buf)
        return atomic_store_explicit(&C->failed, 1, memory_order_relaxed), NULL;
    /* Acquire: pairs with the release store of go, publishing start_ns. */
    while (!atomic_load_explicit(&C->go, memory_order_acquire))
        sched_yield();
    for (unsigned i = 0; i < C->job->msgs; i++) {
        uint64_t addr, seq = C->base + i;
        int rc = wom_sub_recv(C->sub[w->k], buf, size, &len, &addr, RECV_TIMEOUT_NS);
        int64_t t = wom__now_ns() - C->start_ns;
        if (rc) {
            fprintf(stderr, "wom etcd: subscriber %u: message %" PRIu64 ": %s\n", w->k, seq,
                    wom_strerror(rc));
            atomic_store_explicit(&C->failed, 1, memory_order_relaxed);
            break;
        }
        if (addr != seq || !bench_msg_ok(buf, len, size, seq)) {
            bench_bad_msg("wom etcd subscriber", buf, len, size, seq);
            atomic_store_explicit(&C->failed, 1, memory_order_relaxed);
            break;
        }
        /* The send time was stored before the send that made the message
         * readable. Relaxed: a measurement, not a correctness argument. */
        int64_t s = __atomic_load_n(&C->sent[i], __ATOMIC_RELAXED);
        C->lat[(size_t)w->k * C->job->msgs + i] = t - s;
        C->last[w->k] = t;
    }
    free(buf);
    return NULL;
}

/* One run: start the subscribers' threads, send, wait for every delivery. */
static int chan_run(struct chan_load *C, char *buf, struct bench_etcd_run *out)
{
    const struct bench_etcd_job *j = C->job;
    struct chan_worker w[MAX_THREADS];
    int started = 0;
    atomic_store_explicit(&C->go, 0, memory_order_relaxed);
    for (; started < j->conc; started++) {
        w[started] = (struct chan_worker){.C = C, .k = (unsigned)started};
        if (pthread_create(&w[started].t, NULL, sub_main, &w[started])) {
            atomic_store_explicit(&C->failed, 1, memory_order_relaxed);
            break;
        }
    }
    C->start_ns = wom__now_ns();
    /* Release: the subscribers read start_ns once they see it. */
    atomic_store_explicit(&C->go, 1, memory_order_release);
    int64_t first = -1;
    for (unsigned i = 0; i < j->msgs && !atomic_load_explicit(&C->failed, memory_order_relaxed);
         i++) {
        uint64_t addr = 0, seq = C->base + i;
        int64_t t = wom__now_ns() - C->start_ns;
        first = first < 0 ? t : first;
        __atomic_store_n(&C->sent[i], t, __ATOMIC_RELAXED);
        bench_msg_fill(buf, j->size, seq);
        int e = wom_chan_send(C->ch, buf, j->size, -1, &addr);
        if (e || addr != seq) {
            fprintf(stderr, "wom etcd: wom_chan_send %" PRIu64 ": %s, address %" PRIu64 "\n",
                    seq, e ? wom_strerror(e) : "ok", addr);
            atomic_store_explicit(&C->failed, 1, memory_order_relaxed);
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(w[i].t, NULL);
    if (atomic_load_explicit(&C->failed, memory_order_relaxed))
        return -1;
    int64_t end = 0;
    for (int i = 0; i < j->conc; i++)
        end = C->last[i] > end ? C->last[i] : end;
    uint64_t n = (uint64_t)j->conc * j->msgs;
    qsort(C->lat, n, sizeof *C->lat, cmp_i64);
    *out = (struct bench_etcd_run){.ops_s = (double)n * 1e9 / (double)(end - first),
                                   .p50_ns = quantile(C->lat, n, 0.50),
                                   .p99_ns = quantile(C->lat, n, 0.99)};
    C->base += j->msgs;
    return 0;
}

/* Every run of the channel row, on one channel (a new one per job). */
static int chan_runs(wom_space *s, const struct bench_etcd_job *j, struct bench_etcd_run *out)
{
    char name[48];
    snprintf(name, sizeof name, "ch.%zu.%ld", j->size, (long)getpid());
    struct chan_load *C = calloc(1, sizeof *C);
    char *buf = bench_buf_new(j->size);
    int nsub = 0, rc = -1, e;
    wom_chan_opts co = WOM_CHAN_OPTS_INIT;
    if (!C || !buf)
        goto out;
    C->job = j;
    C->sent = calloc(j->msgs, sizeof *C->sent);
    C->lat = calloc((size_t)j->conc * j->msgs, sizeof *C->lat);
    if (!C->sent || !C->lat)
        goto out;
    if ((e = wom_chan_open(s, name, &co, &C->ch))) {
        fail_rc("wom_chan_open", e);
        goto out;
    }
    for (; nsub < j->conc; nsub++) {
        wom_sub_opts so = WOM_SUB_OPTS_INIT;
        so.bounded = 0;
        if ((e = wom_sub_open(C->ch, &so, &C->sub[nsub]))) {
            fail_rc("wom_sub_open", e);
            goto out;
        }
    }
    rc = 0;
    for (int r = 0; r < j->runs && !rc; r++)
        rc = chan_run(C, buf, &out[r]);
out:
    for (int i = 0; C && i < nsub; i++)
        wom_sub_close(C->sub[i]);
    if (C && C->ch)
        wom_chan_close(C->ch);
    if (C) {
        free(C->sent);
        free(C->lat);
    }
    free(C);
    free(buf);
    return rc;
}

/* ---- one measurement ---- */

static const char *op_name(enum bench_etcd_op op)
{
    static const char *const n[] = {"put", "app", "get", "first", "chan", "kill", "many"};
    return n[op];
}

/* First reads: each run on a new space handle (no cache of the old one
 * has the cells), reading cells [0, FIRST_CELLS) once at most. */
static int first_runs(struct load *L, const struct bench_etcd_job *j, const char *cells,
                      struct bench_etcd_run *out)
{
    int rc = 0;
    for (int r = 0; r < j->runs && !rc; r++) {
        wom_space *rs;
        if (space(j->uri, &rs))
            return -1;
        if (!(rc = region(rs, cells, &L->r))) {
            rc = run_load(L, j->conc, 0, 1, j->seconds, &out[r]);
            if (L->abandoned)
                return rc;
            wom_region_close(L->r);
        }
        wom_close(rs);
    }
    return rc;
}

int bench_etcd(const struct bench_etcd_job *j, struct bench_etcd_run *out)
{
    wom_space *s;
    if (j->conc < 1 || j->conc > MAX_THREADS || j->size < BENCH_MSG_MIN || space(j->uri, &s))
        return -1;
    struct load L = {.job = j, .limit = UINT64_MAX};
    L.lat = malloc(SAMPLES * sizeof *L.lat);
    L.done = malloc(SAMPLES * sizeof *L.done);
    int rc = L.lat && L.done ? 0 : -1;
    char name[48];
    if (!rc && j->op == BE_CHAN) {
        /* No warm-up run: opening the 64 subscribers warms enough. */
        rc = chan_runs(s, j, out);
    } else if (!rc && j->op == BE_FIRST) {
        snprintf(name, sizeof name, "first.%zu", j->size);
        L.limit = FIRST_CELLS;
        if (!(rc = fill_cells(s, name, j->size, FIRST_CELLS)))
            rc = first_runs(&L, j, name, out);
    } else if (!rc) {
        /* get: cell k for thread k; put, append: a fresh region. */
        if (j->op == BE_GET)
            snprintf(name, sizeof name, "get.%zu.%d", j->size, j->conc);
        else
            snprintf(name, sizeof name, "%s.%zu.%d", op_name(j->op), j->size, j->conc);
        if (j->op == BE_GET) {
            L.limit = (uint64_t)j->conc;
            rc = fill_cells(s, name, j->size, L.limit);
        }
        if (!rc && !(rc = region(s, name, &L.r))) {
            rc = run_load(&L, j->conc, j->op == BE_KILL ? 0 : j->warmup,
                          j->op == BE_KILL ? 1 : j->runs, j->seconds, out);
            if (!L.abandoned)
                wom_region_close(L.r);
        }
    }
    if (L.abandoned)
        return rc; /* threads are still in calls on s and use L */
    free(L.lat);
    free(L.done);
    wom_close(s);
    return rc;
}
