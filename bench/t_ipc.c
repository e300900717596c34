/*
 * t_ipc.c - the cross-process part: the producer (or pinger) and the
 * consumer (or echo) are two processes, forked afresh for every run.
 *
 *   wom chan shm:     wom_chan_send + wom_sub_recv (copy), or wom_chan_loan +
 *                     wom_chan_send_loan + wom_sub_recv_view (zero copy), on a
 *                     space file under /dev/shm made for the run. Bound 1024,
 *                     retain 1024 (what the ring holds), so memory stays bounded. Each process opens
 *                     the space itself after the fork (wom_open on the URI).
 *   pipe              one pipe per direction, one write/read per message.
 *   unix stream       socketpair(AF_UNIX, SOCK_STREAM), read until whole.
 *   unix seqpacket    socketpair(AF_UNIX, SOCK_SEQPACKET), one recv each.
 *   posix mq          mq_open, one queue per direction, as deep as
 *                     /proc/sys/fs/mqueue/msg_max allows (the limit without
 *                     CAP_SYS_RESOURCE), msgsize = the message size.
 *   zmq ipc PAIR      ZeroMQ over ipc:// (a socket file in /tmp).
 *   nng ipc pair1     NNG over ipc://, receive buffer 1024.
 *   shm ring          our own SPSC ring of 1024 fixed slots in a MAP_SHARED
 *                     anonymous mapping, head/tail on their own cache lines,
 *                     busy-polling: the reference limit for shared memory.
 *
 * A run: the parent makes what must exist before the fork (init), forks,
 * and each side attaches (parent first, then the child), optionally says
 * hello (so a connection is up before the clock starts), then both meet and
 * the parent starts sending: first the untimed warm-up messages, then the
 * timed ones (the consumer times them: bench.h, bench_transport). Names
 * (files, queues, sockets) are removed as soon as both sides hold them. The
 * child dies with its parent (PR_SET_PDEATHSIG), so a run the runner kills
 * leaves no process behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "wom.h"
#include "wom_io.h"

#ifdef BENCH_HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef BENCH_HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#endif

#pragma weak wom_sync

#define IPC_CAP 1024u /* wom bound, ring slots, nng buffer */

/* A fresh name for each run of this process. */
static unsigned name_seq;

/* ---- the run: fork, attach, meet ---- */

struct ipc_shared {
    struct bench_job job;              /* n (the cut) and the consumer's end */
    _Alignas(64) atomic_int step;      /* meeting points passed, both sides */
};

struct ipc_run {
    struct ipc_shared *sh;
    struct bench_job *job;
    pid_t pid, ppid;
    int64_t start_ns, end_ns; /* the consumer's, once the run has ended */
};

/* What a transport does besides sending and receiving. side: 0 = the parent
 * (producer, pinger), 1 = the child (consumer, echo), -1 = before the fork. */
struct ipc_ops {
    int (*init)(void *c, size_t size, int duplex); /* before the fork */
    int (*attach)(void *c, int side);              /* parent first, then child */
    int (*hello)(void *c, int side);               /* NULL, or a first exchange */
    void (*unlink)(void *c);                       /* names no longer needed */
    void (*fini)(void *c, int side);
    /* 1: the library must never have run in a process that forks a user of
     * it (NNG panics in such a child), so the whole run, parent side
     * included, happens in a child of the measuring process. */
    int isolate;
};

/* What an isolated run hands back: its status, counts and samples. */
struct ipc_out {
    int rc;
    uint64_t done;
    int64_t ns;
    int64_t samples[];
};

/* Run fn (a tput run when samples is NULL, else an rtt run) in a child. */
static int ipc_isolated(int (*tput)(size_t, uint64_t, uint64_t, uint64_t *, int64_t *),
                        int (*rtt)(size_t, uint64_t, uint64_t, uint64_t *, int64_t *),
                        size_t size, uint64_t warm, uint64_t n, uint64_t *done, int64_t *ns,
                        int64_t *samples)
{
    size_t len = sizeof(struct ipc_out) + (samples ? n * sizeof *samples : 0);
    struct ipc_out *o = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (o == MAP_FAILED)
        return bench_fail("ipc", "mmap", errno, strerror(errno));
    o->rc = -1;
    pid_t ppid = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != ppid)
            _exit(1);
        o->rc = samples ? rtt(size, warm, n, &o->done, o->samples)
                        : tput(size, warm, n, &o->done, &o->ns);
        _exit(0);
    }
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    int rc = pid > 0 && WIFEXITED(st) && !WEXITSTATUS(st) ? o->rc : -1;
    if (!rc) {
        *done = o->done;
        if (samples)
            memcpy(samples, o->samples, o->done * sizeof *samples);
        else
            *ns = o->ns;
    }
    munmap(o, len);
    return rc;
}

/* Both sides meet for the k-th time. The waiting side notices when the other
 * is gone, so a failed setup does not hang. */
static int ipc_meet(struct ipc_run *r, int side, int k)
{
    atomic_fetch_add_explicit(&r->sh->step, 1, memory_order_acq_rel);
    unsigned spins = 0;
    while (atomic_load_explicit(&r->sh->step, memory_order_acquire) < 2 * k) {
        bench_spin(&spins);
        if ((spins & 1023) != 1023)
            continue;
        int st;
        if (side ? getppid() != r->ppid : waitpid(r->pid, &st, WNOHANG) == r->pid) {
            if (!side)
                r->pid = -1; /* reaped */
            return -1;
        }
    }
    return 0;
}

static _Noreturn void ipc_child_exit(const struct ipc_ops *o, void *c, int rc)
{
    o->fini(c, 1);
    _exit(rc ? 1 : 0);
}

/* The parent's end of a run: stop the child on failure, reap it, clean up.
 * 0 when both sides succeeded. */
static int ipc_parent_end(const struct ipc_ops *o, void *c, struct ipc_run *r, int rc)
{
    int st = 0, child_ok = 0;
    if (r->pid > 0) {
        if (rc)
            kill(r->pid, SIGKILL);
        while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
            ;
        child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    if (!rc && !child_ok)
        fprintf(stderr, "ipc: the child side failed (%s %d)\n",
                WIFSIGNALED(st) ? "signal" : "exit status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    r->start_ns = r->job->start_ns;
    r->end_ns = r->job->end_ns;
    o->fini(c, 0);
    if (o->unlink)
        o->unlink(c);
    munmap(r->sh, sizeof *r->sh);
    return rc || !child_ok ? -1 : 0;
}

/* Set up a run of n messages, the first warm of them untimed: 0 in the
 * parent, 1 in the child, -1 when it could not start (already reported and
 * cleaned up). */
static int ipc_start(const struct ipc_ops *o, void *c, size_t size, int duplex, uint64_t warm,
                     uint64_t n, struct ipc_run *r)
{
    memset(r, 0, sizeof *r);
    r->sh = mmap(NULL, sizeof *r->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r->sh == MAP_FAILED)
        return bench_fail("ipc", "mmap", errno, strerror(errno));
    r->job = &r->sh->job;
    atomic_store(&r->job->n, n);
    r->job->warm = warm;
    name_seq++;
    if (o->init(c, size, duplex)) {
        munmap(r->sh, sizeof *r->sh);
        return -1;
    }
    r->ppid = getpid();
    fflush(NULL);
    r->pid = fork();
    if (r->pid < 0) {
        bench_fail("ipc", "fork", errno, strerror(errno));
        o->fini(c, -1);
        if (o->unlink)
            o->unlink(c);
        munmap(r->sh, sizeof *r->sh);
        return -1;
    }
    int side = r->pid == 0;
    if (side && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != r->ppid))
        _exit(1);
    int rc = side ? 0 : o->attach(c, 0);
    if (!rc)
        rc = ipc_meet(r, side, 1);
    if (!rc && side)
        rc = o->attach(c, 1);
    if (!rc)
        rc = ipc_meet(r, side, 2);
    if (!rc && o->hello)
        rc = o->hello(c, side);
    if (!rc)
        rc = ipc_meet(r, side, 3);
    if (!rc && !side && o->unlink)
        o->unlink(c);
    if (rc && side)
        ipc_child_exit(o, c, rc);
    if (rc) {
        ipc_parent_end(o, c, r, rc);
        return -1;
    }
    return side;
}

/* Throughput and round-trip runs for transport P (see bench.h for the
 * contract of P_send / P_recv; P_ops holds the rest). */
#define IPC_DRIVERS(P)                                                         \
    static int P##_tput_run(size_t size, uint64_t warm, uint64_t n,            \
                            uint64_t *done, int64_t *ns)                       \
    {                                                                          \
        struct P##_ctx c;                                                      \
        struct ipc_run r;                                                      \
        int side = ipc_start(&P##_ops, &c, size, 0, warm, warm + n, &r);       \
        if (side < 0)                                                          \
            return -1;                                                         \
        int rc = 0, last = 0;                                                  \
        uint64_t i = 0;                                                        \
        if (side == 1) {                                                       \
            for (; i < BENCH_N(r.job) && !rc; i++) {                           \
                if (i == warm)                                                 \
                    r.job->start_ns = wom__now_ns();                           \
                rc = P##_recv(&c, 0, i);                                       \
            }                                                                  \
            r.job->end_ns = wom__now_ns();                                     \
            ipc_child_exit(&P##_ops, &c, rc);                                  \
        }                                                                      \
        int64_t t0 = wom__now_ns();                                            \
        while (i < warm + n && !rc && !last) {                                 \
            if (i == warm)                                                     \
                t0 = wom__now_ns();                                            \
            last = i >= warm && bench_cut(r.job, i, t0);                       \
            rc = P##_send(&c, 0, i++);                                         \
        }                                                                      \
        rc = ipc_parent_end(&P##_ops, &c, &r, rc);                             \
        *done = i > warm ? i - warm : 0;                                       \
        *ns = r.end_ns - r.start_ns;                                           \
        return rc;                                                             \
    }                                                                          \
    static int P##_rtt_run(size_t size, uint64_t warm, uint64_t n,             \
                           uint64_t *done, int64_t *samples)                   \
    {                                                                          \
        struct P##_ctx c;                                                      \
        struct ipc_run r;                                                      \
        int side = ipc_start(&P##_ops, &c, size, 1, warm, warm + n, &r);       \
        if (side < 0)                                                          \
            return -1;                                                         \
        int rc = 0, last = 0;                                                  \
        uint64_t i = 0;                                                        \
        if (side == 1) {                                                       \
            for (; i < BENCH_N(r.job) && !rc; i++)                             \
                rc = P##_recv(&c, 0, i) || P##_send(&c, 1, i);                 \
            ipc_child_exit(&P##_ops, &c, rc);                                  \
        }                                                                      \
        int64_t start = wom__now_ns();                                         \
        while (i < warm + n && !rc && !last) {                                 \
            bench_warm_cut(r.job, &warm, n, i, start);                         \
            if (i == warm)                                                     \
                start = wom__now_ns();                                         \
            last = i >= warm && bench_cut(r.job, i, start);                    \
            int64_t t0 = wom__now_ns();                                        \
            rc = P##_send(&c, 0, i);                                           \
            if (!rc)                                                           \
                rc = P##_recv(&c, 1, i);                                       \
            if (i >= warm)                                                     \
                samples[i - warm] = wom__now_ns() - t0;                        \
            i++;                                                               \
        }                                                                      \
        *done = i > warm ? i - warm : 0;                                       \
        return ipc_parent_end(&P##_ops, &c, &r, rc);                           \
    }                                                                          \
    static int P##_tput(size_t size, uint64_t warm, uint64_t n,                \
                        uint64_t *done, int64_t *ns)                           \
    {                                                                          \
        if (P##_ops.isolate)                                                   \
            return ipc_isolated(P##_tput_run, P##_rtt_run, size, warm, n,      \
                                done, ns, NULL);                               \
        return P##_tput_run(size, warm, n, done, ns);                          \
    }                                                                          \
    static int P##_rtt(size_t size, uint64_t warm, uint64_t n, uint64_t *done, \
                       int64_t *samples)                                       \
    {                                                                          \
        int64_t ns;                                                            \
        if (P##_ops.isolate)                                                   \
            return ipc_isolated(P##_tput_run, P##_rtt_run, size, warm, n,      \
                                done, &ns, samples);                           \
        return P##_rtt_run(size, warm, n, done, samples);                      \
    }

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

static void bufs_free(char **out, char **in)
{
    for (int d = 0; d < 2; d++) {
        free(out[d]);
        free(in[d]);
        out[d] = in[d] = NULL;
    }
}

static int sys_fail(const char *who, const char *what)
{
    return bench_fail(who, what, errno, strerror(errno));
}

/* ---- wom channel over shm: ---- */

struct wc_ctx {
    size_t size;
    int zc, duplex;
    char path[96], uri[112];
    wom_space *s;
    wom_chan *ch[2];
    wom_sub *sub[2];
    char *out[2], *in[2];
};

static int wc_init_mode(void *p, size_t size, int duplex, int zc)
{
    struct wc_ctx *c = p;
    memset(c, 0, sizeof *c);
    c->size = size;
    c->zc = zc;
    c->duplex = duplex;
    snprintf(c->path, sizeof c->path, "/dev/shm/wom-bench-%d-%u", (int)getpid(), name_seq);
    snprintf(c->uri, sizeof c->uri, "shm:%s", c->path);
    unlink(c->path);
    if (bufs_new(c->out, c->in, size)) {
        bufs_free(c->out, c->in);
        return -1;
    }
    return 0;
}

static int wc_init(void *p, size_t size, int duplex)
{
    return wc_init_mode(p, size, duplex, 0);
}

static int wcz_init(void *p, size_t size, int duplex)
{
    return wc_init_mode(p, size, duplex, 1);
}

static const char *const wc_names[2] = {"bench.ipc.a", "bench.ipc.b"};

/* Each side opens the space and both channels itself; it subscribes to the
 * direction it receives (the child dir 0, the parent dir 1). */
static int wc_attach(void *p, int side)
{
    struct wc_ctx *c = p;
    wom_chan_opts co = WOM_CHAN_OPTS_INIT;
    co.bound = IPC_CAP;
    co.retain = IPC_CAP; /* what the ring holds; the bound keeps the reader inside it */
    int rc = wom_open(c->uri, &c->s);
    for (int d = 0; d <= c->duplex && !rc; d++) {
        rc = wom_chan_open(c->s, wc_names[d], &co, &c->ch[d]);
        if (!rc && d == !side)
            rc = wom_sub_open(c->ch[d], NULL, &c->sub[d]);
    }
    return rc ? womc_fail("wom chan shm:", "setup", rc) : 0;
}

static void wc_unlink(void *p)
{
    unlink(((struct wc_ctx *)p)->path);
}

static void wc_fini(void *p, int side)
{
    struct wc_ctx *c = p;
    (void)side;
    for (int d = 0; d < 2; d++) {
        if (c->sub[d])
            wom_sub_close(c->sub[d]);
        if (c->ch[d])
            wom_chan_close(c->ch[d]);
    }
    if (c->s)
        wom_close(c->s);
    bufs_free(c->out, c->in);
}

static inline int wc_send(struct wc_ctx *c, int dir, uint64_t seq)
{
    return womc_send(c->ch[dir], c->zc ? WOMC_ZERO_COPY : WOMC_COPY, c->out[dir], c->size, seq,
                     c->zc ? "wom chan shm: zero-copy" : "wom chan shm:");
}

static inline int wc_recv(struct wc_ctx *c, int dir, uint64_t seq)
{
    return womc_recv(c->sub[dir], c->zc ? WOMC_ZERO_COPY : WOMC_COPY, c->in[dir], c->size, seq,
                     c->zc ? "wom chan shm: zero-copy" : "wom chan shm:");
}

static const struct ipc_ops wc_ops = {wc_init, wc_attach, NULL, wc_unlink, wc_fini, 0};
static const struct ipc_ops wcz_ops = {wcz_init, wc_attach, NULL, wc_unlink, wc_fini, 0};
#define wcz_ctx wc_ctx
#define wcz_send wc_send
#define wcz_recv wc_recv
IPC_DRIVERS(wc)
IPC_DRIVERS(wcz)

static const char *wc_unavailable(void)
{
    if (!wom_chan_open || !wom_chan_close || !wom_chan_send || !wom_sub_open ||
        !wom_sub_close || !wom_sub_recv || !wom_sub_recv_view || !wom_chan_loan ||
        !wom_chan_send_loan || !wom_loan_cancel)
        return "wom_chan_* / wom_sub_* not in this build of libwom";
    if (access("/dev/shm", W_OK))
        return "skipped: /dev/shm not writable";
    return NULL;
}

const struct bench_transport bt_ipc_wom_chan = {"wom chan shm: (sub_recv)",
                                                "copy in+out, spin>sleep", wc_unavailable,
                                                wc_tput, wc_rtt};
const struct bench_transport bt_ipc_wom_zc = {"wom chan shm: (loan+view)",
                                              "in place+view, spin>sleep", wc_unavailable,
                                              wcz_tput, wcz_rtt};

/* ---- file descriptors: pipe, unix stream, unix seqpacket ---- */

enum { FD_PIPE, FD_STREAM, FD_SEQPACKET };

struct fd_ctx {
    size_t size;
    int kind, duplex;
    int raw[2][2];      /* pipes: [dir][read, write]; sockets: raw[0] = pair */
    int wfd[2], rfd[2]; /* this side's ends, per direction */
    char *out[2], *in[2];
};

static const char *const fd_who[3] = {"pipe", "unix stream", "unix seqpacket"};

static void fd_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int fd_init_kind(void *p, size_t size, int duplex, int kind)
{
    struct fd_ctx *c = p;
    memset(c, 0, sizeof *c);
    c->size = size;
    c->kind = kind;
    c->duplex = duplex;
    for (int d = 0; d < 2; d++)
        c->raw[d][0] = c->raw[d][1] = c->wfd[d] = c->rfd[d] = -1;
    int rc = bufs_new(c->out, c->in, size);
    if (!rc && kind == FD_PIPE) {
        for (int d = 0; d <= duplex && !rc; d++)
            rc = pipe(c->raw[d]);
    } else if (!rc) {
        rc = socketpair(AF_UNIX, kind == FD_STREAM ? SOCK_STREAM : SOCK_SEQPACKET, 0, c->raw[0]);
    }
    if (rc) {
        sys_fail(fd_who[kind], "setup");
        for (int d = 0; d < 2; d++) {
            fd_close(&c->raw[d][0]);
            fd_close(&c->raw[d][1]);
        }
        bufs_free(c->out, c->in);
        return -1;
    }
    return 0;
}

static int fdp_init(void *p, size_t size, int duplex)
{
    return fd_init_kind(p, size, duplex, FD_PIPE);
}

static int fds_init(void *p, size_t size, int duplex)
{
    return fd_init_kind(p, size, duplex, FD_STREAM);
}

static int fdq_init(void *p, size_t size, int duplex)
{
    return fd_init_kind(p, size, duplex, FD_SEQPACKET);
}

/* Keep this side's ends, close the others (so a dead peer means EOF/EPIPE).
 * The parent writes dir 0 and reads dir 1; the child the reverse. */
static int fd_attach(void *p, int side)
{
    struct fd_ctx *c = p;
    if (c->kind == FD_PIPE) {
        for (int d = 0; d < 2; d++) {
            if (d == side) { /* side 0 writes dir 0, side 1 dir 1 */
                c->wfd[d] = c->raw[d][1];
                fd_close(&c->raw[d][0]);
            } else {
                c->rfd[d] = c->raw[d][0];
                fd_close(&c->raw[d][1]);
            }
        }
        return 0;
    }
    int mine = c->raw[0][side];
    fd_close(&c->raw[0][!side]);
    c->wfd[0] = c->wfd[1] = c->rfd[0] = c->rfd[1] = mine;
    return 0;
}

static void fd_fini(void *p, int side)
{
    struct fd_ctx *c = p;
    (void)side;
    for (int d = 0; d < 2; d++) {
        fd_close(&c->raw[d][0]);
        fd_close(&c->raw[d][1]);
    }
    bufs_free(c->out, c->in);
}

static inline int fd_send(struct fd_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    size_t put = 0;
    while (put < c->size) {
        ssize_t k = write(c->wfd[dir], c->out[dir] + put, c->size - put);
        if (k < 0 && errno != EINTR)
            return sys_fail(fd_who[c->kind], "write");
        if (k > 0)
            put += (size_t)k;
    }
    return 0;
}

static inline int fd_recv(struct fd_ctx *c, int dir, uint64_t seq)
{
    size_t got = 0;
    if (c->kind == FD_SEQPACKET) {
        ssize_t k;
        while ((k = recv(c->rfd[dir], c->in[dir], c->size, MSG_TRUNC)) < 0 && errno == EINTR)
            ;
        if (k < 0)
            return sys_fail(fd_who[c->kind], "recv");
        got = (size_t)k;
    } else {
        while (got < c->size) {
            ssize_t k = read(c->rfd[dir], c->in[dir] + got, c->size - got);
            if (k == 0)
                return bench_fail(fd_who[c->kind], "read", 0, "end of file");
            if (k < 0 && errno != EINTR)
                return sys_fail(fd_who[c->kind], "read");
            if (k > 0)
                got += (size_t)k;
        }
    }
    if (!bench_msg_ok(c->in[dir], got, c->size, seq))
        return bench_bad_msg(fd_who[c->kind], c->in[dir], got, c->size, seq);
    return 0;
}

static const struct ipc_ops fdp_ops = {fdp_init, fd_attach, NULL, NULL, fd_fini, 0};
static const struct ipc_ops fds_ops = {fds_init, fd_attach, NULL, NULL, fd_fini, 0};
static const struct ipc_ops fdq_ops = {fdq_init, fd_attach, NULL, NULL, fd_fini, 0};
#define fdp_ctx fd_ctx
#define fdp_send fd_send
#define fdp_recv fd_recv
#define fds_ctx fd_ctx
#define fds_send fd_send
#define fds_recv fd_recv
#define fdq_ctx fd_ctx
#define fdq_send fd_send
#define fdq_recv fd_recv
IPC_DRIVERS(fdp)
IPC_DRIVERS(fds)
IPC_DRIVERS(fdq)

const struct bench_transport bt_ipc_pipe = {"pipe", "copy in+out, sleeps", NULL, fdp_tput,
                                            fdp_rtt};
const struct bench_transport bt_ipc_stream = {"unix stream", "copy in+out, sleeps", NULL,
                                              fds_tput, fds_rtt};
const struct bench_transport bt_ipc_seqpacket = {"unix seqpacket", "copy in+out, sleeps", NULL,
                                                 fdq_tput, fdq_rtt};

/* ---- POSIX message queues ---- */

long bench_mq_depth(void)
{
    long v = 10; /* the kernel's default msg_max */
    FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 10;
        fclose(f);
    }
    return v < 1 ? 1 : v > IPC_CAP ? IPC_CAP : v;
}

struct mq_ctx {
    size_t size;
    int duplex;
    char name[2][64];
    mqd_t q[2];
    char *out[2], *in[2];
};

static void mq_fini_(void *p, int side)
{
    struct mq_ctx *c = p;
    (void)side;
    for (int d = 0; d < 2; d++)
        if (c->q[d] != (mqd_t)-1)
            mq_close(c->q[d]);
    bufs_free(c->out, c->in);
}

static void mq_unlink_(void *p)
{
    struct mq_ctx *c = p;
    for (int d = 0; d < 2; d++)
        if (c->name[d][0])
            mq_unlink(c->name[d]);
}

/* The parent creates the queues (so their size is fixed before the child
 * looks); the child opens them again by name. */
static int mq_init_(void *p, size_t size, int duplex)
{
    struct mq_ctx *c = p;
    memset(c, 0, sizeof *c);
    c->size = size;
    c->duplex = duplex;
    c->q[0] = c->q[1] = (mqd_t)-1;
    int rc = bufs_new(c->out, c->in, size);
    struct mq_attr a = {.mq_maxmsg = bench_mq_depth(), .mq_msgsize = (long)size};
    for (int d = 0; d <= duplex && !rc; d++) {
        snprintf(c->name[d], sizeof c->name[d], "/wom-bench-%d-%u-%d", (int)getpid(), name_seq, d);
        mq_unlink(c->name[d]);
        c->q[d] = mq_open(c->name[d], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
        if (c->q[d] == (mqd_t)-1)
            rc = sys_fail("posix mq", "mq_open");
    }
    if (rc) {
        mq_unlink_(c);
        mq_fini_(c, -1);
        return -1;
    }
    return 0;
}

static int mq_attach_(void *p, int side)
{
    struct mq_ctx *c = p;
    if (!side)
        return 0;
    for (int d = 0; d <= c->duplex; d++) {
        mq_close(c->q[d]);
        c->q[d] = mq_open(c->name[d], O_RDWR);
        if (c->q[d] == (mqd_t)-1)
            return sys_fail("posix mq", "mq_open (child)");
    }
    return 0;
}

static inline int mq_send_(struct mq_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    while (mq_send(c->q[dir], c->out[dir], c->size, 0))
        if (errno != EINTR)
            return sys_fail("posix mq", "mq_send");
    return 0;
}

static inline int mq_recv_(struct mq_ctx *c, int dir, uint64_t seq)
{
    ssize_t k;
    while ((k = mq_receive(c->q[dir], c->in[dir], c->size, NULL)) < 0)
        if (errno != EINTR)
            return sys_fail("posix mq", "mq_receive");
    if (!bench_msg_ok(c->in[dir], (size_t)k, c->size, seq))
        return bench_bad_msg("posix mq", c->in[dir], (size_t)k, c->size, seq);
    return 0;
}

static const struct ipc_ops pmq_ops = {mq_init_, mq_attach_, NULL, mq_unlink_, mq_fini_, 0};
#define pmq_ctx mq_ctx
#define pmq_send mq_send_
#define pmq_recv mq_recv_
IPC_DRIVERS(pmq)

const struct bench_transport bt_ipc_mq = {"posix mq", "copy in+out, sleeps", NULL, pmq_tput,
                                          pmq_rtt};

/* ---- ZeroMQ and NNG over ipc:// ---- */

/* A socket file for this run under /tmp (URL and the path to remove). */
static void ipc_url(char *url, size_t cap, char *path, size_t pcap, const char *tag)
{
    snprintf(path, pcap, "/tmp/wom-bench-%s-%d-%u.sock", tag, (int)getpid(), name_seq);
    snprintf(url, cap, "ipc://%s", path);
}

#ifdef BENCH_HAVE_ZMQ
struct zi_ctx {
    size_t size;
    char url[128], path[112];
    void *zctx, *sock;
    char *out[2], *in[2];
};

static int zi_fail(const char *what)
{
    return bench_fail("zmq ipc", what, zmq_errno(), zmq_strerror(zmq_errno()));
}

static int zi_init(void *p, size_t size, int duplex)
{
    struct zi_ctx *c = p;
    (void)duplex;
    memset(c, 0, sizeof *c);
    c->size = size;
    ipc_url(c->url, sizeof c->url, c->path, sizeof c->path, "zmq");
    unlink(c->path);
    if (bufs_new(c->out, c->in, size)) {
        bufs_free(c->out, c->in);
        return -1;
    }
    return 0;
}

/* ZeroMQ is not fork-safe: each side makes its own context after the fork. */
static int zi_attach(void *p, int side)
{
    struct zi_ctx *c = p;
    if (!(c->zctx = zmq_ctx_new()) || !(c->sock = zmq_socket(c->zctx, ZMQ_PAIR)))
        return zi_fail("zmq setup");
    if (side ? zmq_connect(c->sock, c->url) : zmq_bind(c->sock, c->url))
        return zi_fail(side ? "zmq_connect" : "zmq_bind");
    return 0;
}

/* The connection is made in the background: one message through it first. */
static int zi_hello(void *p, int side)
{
    struct zi_ctx *c = p;
    char b[8];
    if (side)
        return zmq_send(c->sock, "hi", 2, 0) == 2 ? 0 : zi_fail("zmq_send hello");
    return zmq_recv(c->sock, b, sizeof b, 0) == 2 ? 0 : zi_fail("zmq_recv hello");
}

static void zi_unlink(void *p)
{
    unlink(((struct zi_ctx *)p)->path);
}

static void zi_fini(void *p, int side)
{
    struct zi_ctx *c = p;
    (void)side;
    if (c->sock) {
        int zero = 0;
        zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(c->sock);
    }
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    c->sock = c->zctx = NULL;
    bufs_free(c->out, c->in);
}

static inline int zi_send(struct zi_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    if (zmq_send(c->sock, c->out[dir], c->size, 0) != (int)c->size)
        return zi_fail("zmq_send");
    return 0;
}

static inline int zi_recv(struct zi_ctx *c, int dir, uint64_t seq)
{
    int n = zmq_recv(c->sock, c->in[dir], c->size, 0);
    if (n < 0)
        return zi_fail("zmq_recv");
    if (!bench_msg_ok(c->in[dir], (size_t)n, c->size, seq))
        return bench_bad_msg("zmq ipc", c->in[dir], (size_t)n, c->size, seq);
    return 0;
}

static const struct ipc_ops zi_ops = {zi_init, zi_attach, zi_hello, zi_unlink, zi_fini, 0};
IPC_DRIVERS(zi)

const struct bench_transport bt_ipc_zmq = {"zmq ipc PAIR", "copy in+out, sleeps", NULL, zi_tput,
                                           zi_rtt};
#endif

#ifdef BENCH_HAVE_NNG
struct ni_ctx {
    size_t size;
    char url[128], path[112];
    nng_socket sock;
    int open;
    char *out[2], *in[2];
};

static int ni_fail(const char *what, int rc)
{
    return bench_fail("nng ipc", what, rc, nng_strerror(rc));
}

static int ni_init(void *p, size_t size, int duplex)
{
    struct ni_ctx *c = p;
    (void)duplex;
    memset(c, 0, sizeof *c);
    c->size = size;
    ipc_url(c->url, sizeof c->url, c->path, sizeof c->path, "nng");
    unlink(c->path);
    if (bufs_new(c->out, c->in, size)) {
        bufs_free(c->out, c->in);
        return -1;
    }
    return 0;
}

/* The parent listens (it attaches first), the child dials synchronously. */
static int ni_attach(void *p, int side)
{
    struct ni_ctx *c = p;
    int rc = nng_pair1_open(&c->sock);
    if (rc)
        return ni_fail("nng_pair1_open", rc);
    c->open = 1;
    if ((rc = nng_socket_set_int(c->sock, NNG_OPT_RECVBUF, IPC_CAP)))
        return ni_fail("NNG_OPT_RECVBUF", rc);
    rc = side ? nng_dial(c->sock, c->url, NULL, 0) : nng_listen(c->sock, c->url, NULL, 0);
    return rc ? ni_fail(side ? "nng_dial" : "nng_listen", rc) : 0;
}

static int ni_hello(void *p, int side)
{
    struct ni_ctx *c = p;
    char b[8];
    size_t len = sizeof b;
    int rc = side ? nng_send(c->sock, "hi", 2, 0) : nng_recv(c->sock, b, &len, 0);
    if (!rc && !side && len != 2)
        rc = NNG_EINVAL;
    return rc ? ni_fail("hello", rc) : 0;
}

static void ni_unlink(void *p)
{
    unlink(((struct ni_ctx *)p)->path);
}

static void ni_fini(void *p, int side)
{
    struct ni_ctx *c = p;
    (void)side;
    if (c->open)
        nng_close(c->sock);
    c->open = 0;
    bufs_free(c->out, c->in);
}

static inline int ni_send(struct ni_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    int rc = nng_send(c->sock, c->out[dir], c->size, 0);
    return rc ? ni_fail("nng_send", rc) : 0;
}

static inline int ni_recv(struct ni_ctx *c, int dir, uint64_t seq)
{
    size_t len = c->size;
    int rc = nng_recv(c->sock, c->in[dir], &len, 0);
    if (rc)
        return ni_fail("nng_recv", rc);
    if (!bench_msg_ok(c->in[dir], len, c->size, seq))
        return bench_bad_msg("nng ipc", c->in[dir], len, c->size, seq);
    return 0;
}

static const struct ipc_ops ni_ops = {ni_init, ni_attach, ni_hello, ni_unlink, ni_fini, 1};
IPC_DRIVERS(ni)

const struct bench_transport bt_ipc_nng = {"nng ipc pair1", "copy in+out, sleeps", NULL, ni_tput,
                                           ni_rtt};
#endif

/* ---- our own shared-memory SPSC ring (the reference limit) ---- */

struct ring_idx {
    _Alignas(64) atomic_uint_fast64_t head; /* written by the producer */
    _Alignas(64) atomic_uint_fast64_t tail; /* written by the consumer */
};

struct sr_ctx {
    size_t size, stride, map_len;
    char *map;
    struct ring_idx *idx[2];
    char *slots[2];
    uint64_t pos[2];  /* this side's next head (sending) or tail (receiving) */
    uint64_t seen[2]; /* the other index as last read */
    char *out[2], *in[2];
};

/* One mapping, made before the fork and inherited: per direction the two
 * indices, then IPC_CAP slots of [8-byte length | payload]. */
static int sr_init(void *p, size_t size, int duplex)
{
    struct sr_ctx *c = p;
    (void)duplex;
    memset(c, 0, sizeof *c);
    c->size = size;
    c->stride = (size + 8 + 63) & ~(size_t)63;
    size_t per = sizeof(struct ring_idx) + IPC_CAP * c->stride;
    c->map_len = 2 * per;
    c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (c->map == MAP_FAILED || bufs_new(c->out, c->in, size)) {
        if (c->map != MAP_FAILED)
            munmap(c->map, c->map_len);
        bufs_free(c->out, c->in);
        return sys_fail("shm ring", "setup");
    }
    for (int d = 0; d < 2; d++) {
        c->idx[d] = (struct ring_idx *)(c->map + d * per);
        c->slots[d] = c->map + d * per + sizeof(struct ring_idx);
    }
    return 0;
}

static int sr_attach(void *p, int side)
{
    (void)p;
    (void)side;
    return 0;
}

static void sr_fini(void *p, int side)
{
    struct sr_ctx *c = p;
    (void)side;
    munmap(c->map, c->map_len);
    bufs_free(c->out, c->in);
}

static inline int sr_send(struct sr_ctx *c, int dir, uint64_t seq)
{
    struct ring_idx *x = c->idx[dir];
    uint64_t h = c->pos[dir];
    unsigned spins = 0;
    while (h - c->seen[dir] >= IPC_CAP) {
        /* acquire: the consumer's reads of the slot are done */
        c->seen[dir] = atomic_load_explicit(&x->tail, memory_order_acquire);
        if (h - c->seen[dir] >= IPC_CAP)
            bench_spin(&spins);
    }
    bench_msg_fill(c->out[dir], c->size, seq);
    char *slot = c->slots[dir] + (h % IPC_CAP) * c->stride;
    uint64_t len = c->size;
    memcpy(slot, &len, 8);
    memcpy(slot + 8, c->out[dir], c->size);
    /* release: the slot's bytes before the index that publishes them */
    atomic_store_explicit(&x->head, h + 1, memory_order_release);
    c->pos[dir] = h + 1;
    return 0;
}

static inline int sr_recv(struct sr_ctx *c, int dir, uint64_t seq)
{
    struct ring_idx *x = c->idx[dir];
    uint64_t t = c->pos[dir];
    unsigned spins = 0;
    while (t == c->seen[dir]) {
        /* acquire: the producer's writes of the slot are visible */
        c->seen[dir] = atomic_load_explicit(&x->head, memory_order_acquire);
        if (t == c->seen[dir])
            bench_spin(&spins);
    }
    const char *slot = c->slots[dir] + (t % IPC_CAP) * c->stride;
    uint64_t len;
    memcpy(&len, slot, 8);
    if (len > c->size)
        return bench_bad_msg("shm ring", slot + 8, (size_t)len, c->size, seq);
    memcpy(c->in[dir], slot + 8, (size_t)len);
    /* release: our copy is done before the producer may reuse the slot */
    atomic_store_explicit(&x->tail, t + 1, memory_order_release);
    c->pos[dir] = t + 1;
    if (!bench_msg_ok(c->in[dir], (size_t)len, c->size, seq))
        return bench_bad_msg("shm ring", c->in[dir], (size_t)len, c->size, seq);
    return 0;
}

static const struct ipc_ops sr_ops = {sr_init, sr_attach, NULL, NULL, sr_fini, 0};
IPC_DRIVERS(sr)

const struct bench_transport bt_ipc_ring = {"shm ring spsc (own)", "copy in+out, busy-polls",
                                            NULL, sr_tput, sr_rtt};

/* ---- the cost of wom_sync ---- */

int bench_have_sync(void)
{
    return wom_sync && !wc_unavailable();
}

/* Per run: write `batch` 64-byte messages, then time one wom_sync; repeated
 * for about `seconds`. *us = mean microseconds per wom_sync call. The space
 * is a fresh file in dir, removed at the end. */
int bench_sync_cost(const char *dir, unsigned batch, double seconds, double *us)
{
    char path[512], uri[540];
    snprintf(path, sizeof path, "%s/wom-bench-sync-%d-%u", dir, (int)getpid(), ++name_seq);
    snprintf(uri, sizeof uri, "shm:%s", path);
    unlink(path);
    wom_space *s = NULL;
    wom_chan *ch = NULL;
    wom_chan_opts co = WOM_CHAN_OPTS_INIT;
    co.retain = 4 * IPC_CAP;
    char msg[64];
    memset(msg, 0x5a, sizeof msg);
    int rc = wom_open(uri, &s);
    if (!rc)
        rc = wom_chan_open(s, "bench.sync", &co, &ch);
    int64_t spent = 0, start = wom__now_ns();
    uint64_t calls = 0, seq = 0;
    while (!rc && (calls < 3 || wom__now_ns() - start < (int64_t)(seconds * 1e9))) {
        for (unsigned k = 0; k < batch && !rc; k++) {
            bench_msg_fill(msg, sizeof msg, seq++);
            rc = wom_chan_send(ch, msg, sizeof msg, -1, NULL);
        }
        int64_t t0 = wom__now_ns();
        if (!rc)
            rc = wom_sync(s);
        spent += wom__now_ns() - t0;
        calls++;
    }
    if (ch)
        wom_chan_close(ch);
    if (s)
        wom_close(s);
    unlink(path);
    if (rc)
        return womc_fail("wom_sync", "run", rc);
    *us = (double)spent / 1e3 / (double)calls;
    return 0;
}
