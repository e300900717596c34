/* demo.c - wom demo: a run set up, its roles started as threads or
 * processes, supervised (progress, trimming, the stop messages) and
 * reported. demo.h says what a run is. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

void *demo_calloc(struct demo *d, size_t n, size_t size)
{
    if (!d->cfg.procs)
        return calloc(n, size);
    size_t len = (n * size + 63) & ~(size_t)63;
    /* relaxed: the bytes were zero from the start; only their owner is
     * decided here */
    size_t at = atomic_fetch_add_explicit(&d->arena_used, len, memory_order_relaxed);
    return at + len <= d->arena_len ? (char *)d + at : NULL;
}

void demo_free(struct demo *d, void *p)
{
    if (!d->cfg.procs)
        free(p);
}

/* Record the first failure (later ones are consequences) with its exit
 * code, and make every thread stop. */
static void demo_record(struct demo *d, int code, const char *msg)
{
    pthread_mutex_lock(&d->lock);
    if (!d->error[0]) {
        snprintf(d->error, sizeof d->error, "%s", msg);
        d->exit = code;
    }
    pthread_mutex_unlock(&d->lock);
    atomic_store_explicit(&d->abort, 1, memory_order_relaxed);
}

void demo_fail(struct demo *d, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    demo_record(d, EX_VERIFY, msg);
}

void demo_err(struct demo *d, int err, const char *fmt, ...)
{
    char what[160], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, wom_strerror(err), wom_err_name(err));
    demo_record(d, cli_exit_code(err), msg);
}

/* ---- Setup and teardown -------------------------------------------------- */

/* What the roles share, before any space is open: the run id and the
 * producers' and consumers' records (in the arena with --procs). */
static int demo_alloc(struct demo *d)
{
    unsigned P = d->cfg.producers;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->run = ((uint64_t)getpid() << 40) ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
    d->prod = demo_calloc(d, P, sizeof *d->prod);
    d->cons = demo_calloc(d, d->cfg.consumers, sizeof *d->cons);
    d->bm = d->cfg.queue ? demo_calloc(d, P, sizeof *d->bm) : NULL;
    if (!d->prod || !d->cons || (d->cfg.queue && !d->bm))
        return WOM_ENOMEM;
    for (unsigned i = 0; i < d->cfg.consumers; i++) {
        struct consumer *c = &d->cons[i];
        c->d = d;
        c->id = i;
        c->next = demo_calloc(d, P, sizeof *c->next);
        c->got = demo_calloc(d, P, sizeof *c->got);
        if (!c->next || !c->got)
            return WOM_ENOMEM;
    }
    return 0;
}

/* The main process's space: the channel (for the stop messages), its
 * region (for trimming) and the claims of queue mode. */
static int demo_open(struct demo *d)
{
    int err = wom_open(d->cfg.uri, &d->s);
    if (err)
        return err;
    /* The channel keeps the default value limit, which fits every --size,
     * so whichever run creates it, later runs fit too. */
    if ((err = wom_chan_open(d->s, DEMO_CHANNEL, NULL, &d->ch)))
        return err;
    if ((err = wom_region_open(d->s, DEMO_CHANNEL, WOM_ONCE, &d->log)))
        return err;
    if ((err = wom_tail(d->log, &d->start)))
        return err;
    if (d->cfg.queue &&
        (err = wom_region_open(d->s, DEMO_CHANNEL "." DEMO_GROUP ".claims", WOM_ONCE,
                               &d->claims)))
        return err;
    return 0;
}

/* Subscribe consumer c to ch from address `from`, or join the queue group
 * (before any message of the run is sent). */
static int consumer_join(struct consumer *c, wom_chan *ch, uint64_t from)
{
    if (c->d->cfg.queue)
        return wom_queue_join(ch, DEMO_GROUP, &c->q);
    wom_sub_opts so = WOM_SUB_OPTS_INIT;
    so.from = from;
    return wom_sub_open(ch, &so, &c->sub);
}

static void consumer_leave(struct consumer *c)
{
    if (c->sub)
        wom_sub_close(c->sub);
    if (c->q)
        wom_queue_leave(c->q);
    c->sub = NULL;
    c->q = NULL;
}

static void demo_close(struct demo *d)
{
    for (unsigned i = 0; d->cons && i < d->cfg.consumers; i++) {
        struct consumer *c = &d->cons[i];
        if (!d->cfg.own_space) /* else the handles were its process's */
            consumer_leave(c);
        demo_free(d, c->next);
        demo_free(d, c->got);
    }
    for (unsigned p = 0; d->bm && p < d->cfg.producers; p++)
        for (unsigned k = 0; k < BM_CHUNKS; k++)
            demo_free(d, (void *)atomic_load_explicit(&d->bm[p].chunk[k], memory_order_relaxed));
    demo_free(d, d->bm);
    demo_free(d, d->cons);
    demo_free(d, d->prod);
    if (d->log)
        wom_region_close(d->log);
    if (d->claims)
        wom_region_close(d->claims);
    if (d->ch)
        wom_chan_close(d->ch);
    if (d->s)
        wom_close(d->s);
    pthread_mutex_destroy(&d->lock);
}

/* ---- Running --------------------------------------------------------------- */

/* Start a role as a thread, or with --procs as a child process that shares
 * the demo's state (the arena) and the space's file mapping. */
static int start_role(struct demo *d, void *(*fn)(void *), void *arg, pthread_t *th, pid_t *pid)
{
    if (!d->cfg.procs)
        return pthread_create(th, NULL, fn, arg) ? WOM_ENOMEM : 0;
    fflush(NULL);
    *pid = fork();
    if (*pid < 0)
        return WOM_ENOMEM;
    if (*pid == 0) {
        fn(arg);
        _exit(0); /* verdicts travel through the shared demo state */
    }
    return 0;
}

static void join_role(struct demo *d, pthread_t th, pid_t pid)
{
    if (!d->cfg.procs) {
        pthread_join(th, NULL);
        return;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        demo_fail(d, "a role process died (status %d)", st);
}

/* ---- Roles with a space of their own (--procs on etcd://) ----------------- */

/* A forked child cannot use its parent's gRPC connection (its threads stay
 * behind), so these roles are forked before the main process opens
 * anything, and each opens the space and the channel itself. A consumer
 * subscribes from the tail it reads, and the producers start sending only
 * once every consumer has: so every message of the run is above every
 * consumer's start, as when the main process subscribes them all first. */
struct role_space {
    wom_space *s;
    wom_chan *ch;
    wom_region *log;
};

static int role_attach(struct demo *d, struct role_space *r)
{
    int err = wom_open(d->cfg.uri, &r->s);
    if (!err)
        err = wom_chan_open(r->s, DEMO_CHANNEL, NULL, &r->ch);
    return err;
}

static void role_detach(struct role_space *r)
{
    if (r->log)
        wom_region_close(r->log);
    if (r->ch)
        wom_chan_close(r->ch);
    if (r->s)
        wom_close(r->s);
}

static void *own_consumer(void *arg)
{
    struct consumer *c = arg;
    struct demo *d = c->d;
    struct role_space r = {0};
    uint64_t from = 0;
    int err = role_attach(d, &r);
    if (!err && !d->cfg.queue &&
        !(err = wom_region_open(r.s, DEMO_CHANNEL, WOM_ONCE, &r.log)))
        err = wom_tail(r.log, &from);
    if (!err)
        err = consumer_join(c, r.ch, from);
    if (err) {
        demo_err(d, err, "consumer %u: open %s", c->id, ESC(d->cfg.uri));
        atomic_fetch_add_explicit(&d->consumers_done, 1, memory_order_release);
    } else {
        /* release pairs with own_producer's acquire: subscribed. */
        atomic_fetch_add_explicit(&d->consumers_joined, 1, memory_order_release);
        demo_consumer(c);
    }
    consumer_leave(c);
    role_detach(&r);
    return NULL;
}

static void *own_producer(void *arg)
{
    struct producer *p = arg;
    struct demo *d = p->d;
    struct role_space r = {0};
    int err = role_attach(d, &r);
    if (err)
        demo_err(d, err, "producer %u: open %s", p->id, ESC(d->cfg.uri));
    p->ch = r.ch;
    const struct timespec nap = {0, 1000000};
    /* acquire pairs with own_consumer's release: every consumer is in. */
    while (!demo_aborted(d) &&
           atomic_load_explicit(&d->consumers_joined, memory_order_acquire) < d->cfg.consumers)
        nanosleep(&nap, NULL);
    demo_producer(p); /* returns at once after an abort, counted as done */
    role_detach(&r);
    return NULL;
}

/* Start the consumers, then the producers: threads or processes on the
 * main process's space (consumers subscribed here first), or processes
 * with their own (own_space). */
static int start_threads(struct demo *d)
{
    int own = d->cfg.own_space;
    for (unsigned i = 0; !own && i < d->cfg.consumers; i++) {
        int err = consumer_join(&d->cons[i], d->ch, d->start);
        if (err)
            return err;
    }
    for (unsigned i = 0; i < d->cfg.consumers; i++, d->started_c++)
        if (start_role(d, own ? own_consumer : demo_consumer, &d->cons[i], &d->cons[i].th,
                       &d->cons[i].pid))
            return WOM_ENOMEM;
    uint64_t n = d->cfg.messages, P = d->cfg.producers;
    for (unsigned i = 0; i < P; i++) {
        struct producer *p = &d->prod[i];
        p->d = d;
        p->id = i;
        p->ch = d->ch; /* NULL with own_space: own_producer sets it */
        p->quota = n == UINT64_MAX ? UINT64_MAX : n / P + (i < n % P);
        if (start_role(d, own ? own_producer : demo_producer, p, &p->th, &p->pid))
            return WOM_ENOMEM;
        d->started_p++;
    }
    return 0;
}

void demo_counts(struct demo *d, uint64_t *sent, uint64_t *recvd)
{
    *sent = 0;
    for (unsigned i = 0; i < d->cfg.producers; i++)
        *sent += atomic_load_explicit(&d->prod[i].sent, memory_order_relaxed);
    uint64_t sum = 0, min = UINT64_MAX;
    for (unsigned i = 0; i < d->cfg.consumers; i++) {
        uint64_t n = atomic_load_explicit(&d->cons[i].done, memory_order_relaxed);
        sum += n;
        min = n < min ? n : min;
    }
    *recvd = d->cfg.queue ? sum : min;
}

/* Release what no consumer needs any more. Channel mode: the messages below
 * every subscriber's cursor. Queue mode, by the queue group's contract:
 * a member passes address i only once i is claimed, so every message below
 * the highest member cursor is claimed, and its taker copies it under a view
 * pin that outlives a trim; a member that lags behind the floor skips to it.
 * Claims are trimmed only below the lowest cursor, because a lagging member
 * may still try to claim anything at or above its own. */
static void trim_behind(struct demo *d)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < d->cfg.consumers; i++) {
        /* acquire pairs with the consumer's release: it is done below. */
        uint64_t cur = atomic_load_explicit(&d->cons[i].cursor, memory_order_acquire);
        lo = cur < lo ? cur : lo;
        hi = cur > hi ? cur : hi;
    }
    uint64_t below = d->cfg.queue ? hi : lo;
    /* A trim that releases nothing new is skipped: on etcd:// each one is
     * a transaction of the cluster. */
    if (below == d->trimmed && lo == d->trimmed_claims)
        return;
    int err = wom_trim(d->log, below);
    if (!err && d->claims)
        err = wom_trim(d->claims, lo);
    if (err)
        return demo_err(d, err, "trim below %" PRIu64, below);
    d->trimmed = below;
    d->trimmed_claims = lo;
}

/* A rate of n things per second in secs, in millions (M msg/s, MB/s) from
 * 100 000 a second, else in units or thousands (an etcd:// run does a few
 * hundred messages a second). */
static const char *rate(char *buf, size_t cap, double n, double secs, int bytes)
{
    double r = secs > 0 ? n / secs : 0.0;
    if (r >= 1e5)
        snprintf(buf, cap, bytes ? "%.1f MB/s" : "%.2f M msg/s", r / 1e6);
    else if (bytes)
        snprintf(buf, cap, "%.1f kB/s", r / 1e3);
    else
        snprintf(buf, cap, "%.0f msg/s", r);
    return buf;
}

static void progress(struct demo *d, double t0, int tty)
{
    uint64_t sent, recvd;
    demo_counts(d, &sent, &recvd);
    double dt = cli_now_s() - t0;
    char of[32] = "", r[32];
    if (d->cfg.messages != UINT64_MAX)
        snprintf(of, sizeof of, "/%" PRIu64, d->cfg.messages);
    fprintf(stderr, "%sdemo: %.1f s: %" PRIu64 "%s sent, %" PRIu64 " received, %s%s",
            tty ? "\r" : "", dt, sent, of, recvd, rate(r, sizeof r, (double)recvd, dt, 0),
            tty ? "\033[K" : "\n");
}

/* Send the stop messages carrying every producer's final count. */
static void send_stops(struct demo *d)
{
    unsigned P = d->cfg.producers;
    size_t len = HDR_SIZE + 8u * P;
    unsigned char *m = calloc(1, len);
    if (!m)
        return demo_err(d, WOM_ENOMEM, "stop message");
    struct msg_hdr h = {0, KIND_STOP, d->run, 0, 0};
    memcpy(m, &h, sizeof h);
    for (unsigned i = 0; i < P; i++) {
        uint64_t n = atomic_load_explicit(&d->prod[i].sent, memory_order_relaxed);
        memcpy(m + HDR_SIZE + 8u * i, &n, 8);
    }
    unsigned stops = d->cfg.queue ? d->cfg.consumers : 1;
    for (unsigned i = 0; i < stops; i++) {
        int err = demo_send(d, d->ch, m, len);
        if (err)
            demo_err(d, err, "stop message");
    }
    free(m);
}

/* Wait for producers, send the stops, wait for consumers; show progress
 * and trim meanwhile. Returns 1 when the producers were joined. */
/* Track the longest time the slowest consumer (queue mode: the group)
 * went without a message while messages were still due: what a fault such
 * as a lost etcd leader costs the run. */
static void watch_pause(struct demo *d, double now, uint64_t *seen, double *since)
{
    uint64_t sent, recvd;
    demo_counts(d, &sent, &recvd);
    if (recvd != *seen || recvd >= d->cfg.messages) {
        *seen = recvd;
        *since = now;
    } else if (now - *since > d->pause) {
        d->pause = now - *since;
        d->pause_at = *since;
    }
}

static int supervise(struct demo *d, double t0)
{
    int tty = isatty(STDERR_FILENO);
    double tick = tty ? 0.2 : 1.0, next = t0 + tick, since = t0;
    int stopped = 0;
    uint64_t seen = 0;
    const struct timespec nap = {0, 20000000};
    while (atomic_load_explicit(&d->consumers_done, memory_order_acquire) < d->cfg.consumers) {
        nanosleep(&nap, NULL);
        double now = cli_now_s();
        watch_pause(d, now, &seen, &since);
        if (d->cfg.seconds && now - t0 >= (double)d->cfg.seconds)
            atomic_store_explicit(&d->stop_sending, 1, memory_order_relaxed);
        if (!stopped && atomic_load_explicit(&d->producers_done, memory_order_acquire) ==
                            d->cfg.producers) {
            for (unsigned i = 0; i < d->cfg.producers; i++)
                join_role(d, d->prod[i].th, d->prod[i].pid);
            send_stops(d);
            stopped = 1;
        }
        trim_behind(d);
        if (now >= next) {
            progress(d, t0, tty);
            next = now + tick;
        }
    }
    if (tty && cli_now_s() - t0 >= tick)
        fputc('\n', stderr);
    return stopped;
}

/* Queue mode: together the members must have received each producer's
 * messages 0..sent-1, each once (duplicates were caught as they came). */
static void check_queue_totals(struct demo *d)
{
    for (unsigned p = 0; p < d->cfg.producers && !demo_aborted(d); p++) {
        uint64_t sent = atomic_load_explicit(&d->prod[p].sent, memory_order_relaxed);
        uint64_t got = 0, top = 0;
        for (unsigned i = 0; i < d->cfg.consumers; i++) {
            got += d->cons[i].got[p];
            top = d->cons[i].next[p] > top ? d->cons[i].next[p] : top;
        }
        if (got != sent || top > sent)
            demo_fail(d, "producer %u: %" PRIu64 " messages sent, %" PRIu64
                      " distinct ones received by the group", p, sent, got);
    }
}

static void report(struct demo *d, double t0, double secs)
{
    uint64_t sent, recvd;
    demo_counts(d, &sent, &recvd);
    uint64_t deliveries = d->cfg.queue ? recvd : sent * d->cfg.consumers;
    const struct demo_cfg *c = &d->cfg;
    printf("demo: %" PRIu64 " messages of %zu bytes, %u producers -> %u consumers (%s) on %s "
           "in %.2f s\n", sent, c->size, c->producers, c->consumers,
           c->queue ? "queue group" : "channel", ESC(c->uri), secs);
    char r[4][32];
    printf("demo: throughput %s, %s sent; %s, %s delivered\n",
           rate(r[0], sizeof r[0], (double)sent, secs, 0),
           rate(r[1], sizeof r[1], (double)sent * (double)c->size, secs, 1),
           rate(r[2], sizeof r[2], (double)deliveries, secs, 0),
           rate(r[3], sizeof r[3], (double)deliveries * (double)c->size, secs, 1));
    if (d->pause >= 0.5)
        printf("demo: longest wait for a message: %.1f s, from %.1f s into the run\n", d->pause,
               d->pause_at - t0);
    unsigned slow = 0;
    for (unsigned i = 1; i < c->producers; i++)
        slow = d->prod[i].slowest > d->prod[slow].slowest ? i : slow;
    const struct producer *p = &d->prod[slow];
    if (c->remote)
        printf("demo: slowest send: %.2f s, producer %u's message %" PRIu64
               ", from %.1f s into the run\n", p->slowest, slow, p->slowest_seq,
               p->slowest_at - t0);
    printf("demo: OK: %" PRIu64 " messages, exactly once, in order (%s%u consumer%s)\n", sent,
           c->queue ? "queue group of " : "", c->consumers, c->consumers == 1 ? "" : "s");
}

/* Join every thread started, after a failed start made them all end. */
static void join_started(struct demo *d)
{
    for (unsigned i = 0; i < d->started_c; i++)
        join_role(d, d->cons[i].th, d->cons[i].pid);
    for (unsigned i = 0; i < d->started_p; i++)
        join_role(d, d->prod[i].th, d->prod[i].pid);
}

/* Set up, start the roles, supervise, check, report. With own_space the
 * roles are forked first and the main process opens its space after. */
static int demo_run(struct demo *d)
{
    int own = d->cfg.own_space;
    int err = demo_alloc(d);
    if (!err && !own)
        err = demo_open(d);
    if (err) /* the space itself, or what the demo opens in it */
        return d->s || err == WOM_ENOMEM ? cli_fail("demo", err)
                                         : cli_open_failed(d->cfg.uri, err);
    double t0 = cli_now_s();
    if ((err = start_threads(d)) || (own && (err = demo_open(d)))) {
        demo_err(d, err, "start");
        join_started(d);
        if (own && !d->s)
            return cli_open_failed(d->cfg.uri, err);
        return cli_fail("demo", err);
    }
    int joined = supervise(d, t0);
    double secs = cli_now_s() - t0;
    for (unsigned i = 0; i < d->cfg.consumers; i++)
        join_role(d, d->cons[i].th, d->cons[i].pid);
    for (unsigned i = 0; !joined && i < d->cfg.producers; i++)
        join_role(d, d->prod[i].th, d->prod[i].pid); /* they end on the abort flag */
    if (d->cfg.queue)
        check_queue_totals(d);
    if (d->error[0]) {
        fprintf(stderr, "wom: demo: FAILED: %s\n", d->error);
        return d->exit;
    }
    report(d, t0, secs);
    return cli_finish_stdout();
}

static const char *const fault_names[] = {"none", "duplicate", "drop", "corrupt", "reorder"};

/* The fault named by --inject (F_NONE without it); -1 if unknown. */
static int parse_fault(const struct args *a)
{
    if (!has(a, O_INJECT))
        return F_NONE;
    for (int f = F_DUPLICATE; f <= F_REORDER; f++)
        if (!strcmp(a->str[O_INJECT], fault_names[f]))
            return f;
    return cli_usage_error(a->cmd, "--inject: unknown fault '%s'", ESC(a->str[O_INJECT])), -1;
}

/* The --procs arena, with the struct demo at its start. */
static struct demo *demo_arena(void)
{
    void *p = mmap(NULL, DEMO_ARENA, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct demo *d = p;
    d->arena_len = DEMO_ARENA;
    atomic_init(&d->arena_used, (sizeof *d + 63) & ~(size_t)63);
    return d;
}

int cli_demo(struct ctx *c)
{
    const struct args *a = c->a;
    int fault = parse_fault(a);
    if (fault < 0)
        return EX_USAGE;
    int procs = has(a, O_PROCS);
    const char *uri = has(a, O_URI) ? a->str[O_URI] : "mem:";
    int remote = !strncmp(uri, "etcd://", 7), own = procs && remote;
    if (procs && !own && strncmp(uri, "shm:", 4) != 0)
        return cli_usage_error(a->cmd, "--procs needs a space processes share "
                                       "(--uri shm:PATH or etcd://...)");
    struct demo *d = procs ? demo_arena() : calloc(1, sizeof *d);
    if (!d)
        return cli_fail("demo", WOM_ENOMEM);
    d->cfg = (struct demo_cfg){
        .uri = has(a, O_URI) ? a->str[O_URI] : "mem:",
        .producers = (unsigned)num_or(a, O_PRODUCERS, 2),
        .consumers = (unsigned)num_or(a, O_CONSUMERS, 2),
        .messages = num_or(a, O_MESSAGES, has(a, O_SECONDS) ? UINT64_MAX : 2000000),
        .size = (size_t)num_or(a, O_SIZE, 64),
        .seconds = num_or(a, O_SECONDS, 0),
        .queue = has(a, O_QUEUE),
        .fault = (enum fault)fault,
        .procs = procs,
        .remote = remote,
        .own_space = own,
    };
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, procs ? PTHREAD_PROCESS_SHARED : PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&d->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    int rc = demo_run(d);
    demo_close(d);
    if (procs)
        munmap(d, DEMO_ARENA);
    else
        free(d);
    return rc;
}
