/*
 * main.c - wom_bench: runs every transport and the wom put/get measurements
 * in the same run, then prints the tables with ratios against Go's channels
 * (both the pointer-passing and the by-value form) and the targets of
 * issue 10 (and of earlier issues that it leaves in force, each labelled
 * with its issue), each evaluated against the Go forms it names and marked
 * met or not met.
 *
 *   wom_bench [--go PATH] [--gomaxprocs N] [--runs N] [--time SECONDS]
 *             [--only SUBSTRING] [--results FILE]
 *
 * --go names the Go channel benchmark (bench/go/chanbench.go, built by
 * CMake); without it the Go rows are skipped and ratios print as n/a.
 * --gomaxprocs sets GOMAXPROCS for it (default 2, the core count the suite
 * is tuned for); the tables print the value the Go runtime reported.
 *
 * A second part (t_ipc.c) runs producer and consumer as two processes: wom
 * over shm: against pipes, Unix sockets, POSIX mq, ZeroMQ/NNG ipc and a plain
 * shared-memory ring, with its own targets and the cost of wom_sync
 * (--sync-dir DIR: measure it there too, besides /dev/shm).
 *
 * A third part (t_etcd.c, bench/go/etcdbench.go) runs against a cluster that
 * bench/run.sh starts with `wom cluster up DIR` (--etcd-dir DIR): wom's
 * etcd:// scope against etcd's own Go client doing the same operations
 * (--etcd-go PATH), with the cluster targets, and a leader SIGKILLed
 * under load (--wom-cli PATH finds and restarts it). --etcd-skip REASON
 * reports the part as skipped; --only cluster runs it alone, --no-cluster
 * leaves it out.
 *
 * --results FILE appends every row the tables print to FILE as TSV (a
 * header first when FILE is empty), with the target each row is judged
 * against: the input of bench/plot.sh's charts (bench/README.md).
 *
 * Every measurement runs in its own child process with a deadline: a
 * transport that crashes, hangs or fails a message check loses its row
 * ("FAILED: ...") and the rest of the run goes on. Missed targets never fail
 * the run; the exit status is 0 unless the runner itself cannot work.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_RUNS 15
/* What a child job hands back: room for MAX_RUNS struct bench_etcd_run. */
#define JOB_OUT (6 * MAX_RUNS)
#define SIZES 2
static const size_t sizes[SIZES] = {64, 4096};

static int opt_runs = 5;
static double opt_time = 0.3;
static const char *opt_only;
static const char *opt_go;
static int opt_gomaxprocs = 2;
static int go_maxprocs; /* as reported by chanbench; 0 = unknown */

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* (max - min) / median of n values, as a fraction. */
static double spread(const double *v, int n)
{
    double lo = v[0], hi = v[0];
    for (int i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    double m = median(v, n);
    return m > 0 ? (hi - lo) / m : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of n samples; sorts them. */
static double quantile(int64_t *s, uint64_t n, double q)
{
    qsort(s, n, sizeof *s, cmp_i64);
    uint64_t k = (uint64_t)ceil(q * (double)n);
    return (double)s[k ? k - 1 : 0];
}

static uint64_t clamp_n(double want, uint64_t lo, uint64_t hi)
{
    if (!(want >= (double)lo))
        return lo;
    return want > (double)hi ? hi : (uint64_t)want;
}

/* ---- measurements (run in a child) ---- */

/* Where a child's results go in its out[JOB_OUT]: per sample r, the value
 * at out[AT_VAL + r] (fan-out: reader k's rate at out[k * MAX_RUNS + r]), a
 * round trip's p99 (or the get of put/get) at out[AT_P99 + r], the slower
 * of the probes around the sample at out[AT_PROBE + r] and the sample's
 * regime (a bench_regime character) at out[AT_REGIME + r]; fan-out: the
 * CPU ns per message of the writer and readers together at out[AT_CPU + r]. */
#define AT_VAL 0
#define AT_P99 MAX_RUNS
#define AT_PROBE (3 * MAX_RUNS)
#define AT_REGIME (4 * MAX_RUNS)
#define AT_CPU (5 * MAX_RUNS)
_Static_assert(BENCH_FANOUT_MAX * MAX_RUNS <= AT_PROBE, "fan-out rates fit below the probes");

/* Untimed messages (round trips) before n timed ones, in the same fresh
 * transport: a quarter as many, so that the timed part runs in the steady
 * state (pages touched, allocator recycling) at ~1.25x the time. A wom
 * channel reaches it only once its region has cycled through its chunks
 * (8 MiB each: the first, the next, then a released one taken back), so
 * its rows also send WOM_WARM_BYTES of messages first: with a quarter
 * alone, a 64 B round-trip row timed first touches of fresh pages (11 us
 * each in this VM) and its p99 said 47 us where a long run says 5. */
#define WOM_WARM_BYTES (24u << 20)
static uint64_t warm_of(const char *name, size_t size, uint64_t n)
{
    uint64_t w = n / 4 > 1000 ? n / 4 : 1000;
    uint64_t chunks = WOM_WARM_BYTES / (size + 16); /* 16: a record's header */
    return !strncmp(name, "wom", 3) && chunks > w ? chunks : w;
}

/* The placement probe around sample r: probe_begin just before it,
 * probe_end just after, which files the regime of the sample. */
static double probe_mark;
static void probe_begin(void)
{
    probe_mark = bench_probe_ns();
}
static void probe_end(double *out, int r)
{
    double after = bench_probe_ns();
    /* The slower probe: the one that makes a sample far, mixed or busy. */
    out[AT_PROBE + r] = after > probe_mark ? after : probe_mark;
    out[AT_REGIME + r] = bench_regime(probe_mark, after);
}

/* Throughput, msgs/s per sample. The first run (on its own fresh transport,
 * not reported) only calibrates the message count. */
static int measure_tput(const struct bench_transport *t, size_t size, double *out)
{
    uint64_t n0 = 20000, done;
    int64_t ns;
    if (t->tput(size, 0, n0, &done, &ns) || !done || ns <= 0)
        return -1;
    uint64_t n = clamp_n(opt_time * 1e9 / ((double)ns / (double)done), 10000, 200000000);
    for (int r = 0; r < opt_runs; r++) {
        probe_begin();
        if (t->tput(size, warm_of(t->name, size, n), n, &done, &ns))
            return -1;
        probe_end(out, r);
        if (!done || ns <= 0) {
            fprintf(stderr, "%s: cut short before the timed part\n", t->name);
            return -1;
        }
        out[AT_VAL + r] = (double)done * 1e9 / (double)ns;
    }
    return 0;
}

/* Round trips: p50 and p99 of each sample's timed round trips. */
static int measure_rtt(const struct bench_transport *t, size_t size, double *out)
{
    uint64_t n0 = 2000, cap = 400000, done;
    int64_t *s = malloc(cap * sizeof *s);
    if (!s)
        return -1;
    int rc = t->rtt(size, 0, n0, &done, s);
    if (!rc && !done)
        rc = -1;
    if (!rc) {
        double mean = 0;
        for (uint64_t i = 0; i < done; i++)
            mean += (double)s[i] / (double)done;
        uint64_t n = clamp_n(opt_time * 1e9 / mean, 1000, cap);
        for (int r = 0; r < opt_runs && !rc; r++) {
            probe_begin();
            rc = t->rtt(size, warm_of(t->name, size, n), n, &done, s);
            probe_end(out, r);
            if (!rc && !done) {
                fprintf(stderr, "%s: cut short before the timed part\n", t->name);
                rc = -1;
            }
            if (!rc) {
                out[AT_VAL + r] = quantile(s, done, 0.50);
                out[AT_P99 + r] = quantile(s, done, 0.99);
            }
        }
    }
    free(s);
    return rc;
}

/* One writer, `readers` readers: each reader's msgs/s per sample; the
 * calibration sizes the run by the slowest reader. */
static int measure_fanout(int readers, double *out)
{
    double rate[BENCH_FANOUT_MAX], cpu;
    if (bench_fanout(readers, 64, 0, 20000, rate, &cpu))
        return -1;
    double slow = rate[0];
    for (int k = 1; k < readers; k++)
        slow = rate[k] < slow ? rate[k] : slow;
    uint64_t n = clamp_n(opt_time * slow, 10000, 200000000);
    for (int r = 0; r < opt_runs; r++) {
        probe_begin();
        if (bench_fanout(readers, 64, warm_of("wom", 64, n), n, rate, &out[AT_CPU + r]))
            return -1;
        probe_end(out, r);
        for (int k = 0; k < readers; k++)
            out[k * MAX_RUNS + r] = rate[k];
    }
    return 0;
}

/* OP_PUTGET: on a fresh space, so the timed puts touch every page first;
 * OP_PUTGET_WARM: after rounds of as many puts, each trimmed, until a round
 * takes no page fault (putget.c), on the same space. */
enum op { OP_PUTGET, OP_PUTGET_WARM, OP_RACE, OP_RACE_READERS };
/* The warm row's puts per sample: 20 MiB of 64 B records, two or three
 * 8 MiB chunks, a working set the allocator keeps warm after a round or
 * two (a larger one it gives back in part after each burst of trims). */
#define WARM_PUTS_MAX (1u << 18)

static int op_once(enum op op, uint64_t n, double *a, double *b)
{
    switch (op) {
    case OP_PUTGET:
        return bench_putget(0, n, a, b);
    case OP_PUTGET_WARM:
        return bench_putget(n, n, a, b);
    default:
        return bench_put_race(n, op == OP_RACE ? 0 : 2, a);
    }
}

/* ns/op per sample at out[AT_VAL + r] (and, for put/get, the get at
 * out[AT_P99 + r]). */
static int measure_op(enum op op, double *out)
{
    double a, b = 0;
    if (op_once(op, 50000, &a, &b))
        return -1;
    uint64_t n = clamp_n(opt_time * 1e9 / (a + b), 10000, 20000000);
    if (op == OP_PUTGET_WARM && n > WARM_PUTS_MAX)
        n = WARM_PUTS_MAX;
    for (int r = 0; r < opt_runs; r++) {
        probe_begin();
        if (op_once(op, n, &out[AT_VAL + r], &out[AT_P99 + r]))
            return -1;
        probe_end(out, r);
    }
    return 0;
}

/* ---- child processes ---- */

struct job {
    int kind; /* 't' throughput, 'r' round trip, 'o' wom op, 's' wom_sync,
                 'f' one writer and `readers` readers, 'e' the cluster part */
    const struct bench_transport *t;
    size_t size;
    enum op op;
    const char *dir; /* 's': where the space file goes */
    unsigned batch;  /* 's': messages written between syncs */
    const struct bench_etcd_job *etcd; /* 'e' */
    double budget_s;         /* 'e': the child's deadline */
    void (*parent)(void);    /* 'e': run by the parent once the child runs */
    int readers;             /* 'f' */
};

/* us per wom_sync per run into out[r]. */
static int measure_sync(const char *dir, unsigned batch, double *out)
{
    double us;
    if (bench_sync_cost(dir, batch, opt_time / 10, &us)) /* warm-up */
        return -1;
    for (int r = 0; r < opt_runs; r++)
        if (bench_sync_cost(dir, batch, opt_time / 5, &out[r]))
            return -1;
    return 0;
}

static int job_run(const struct job *j, double *out)
{
    switch (j->kind) {
    case 't':
        return measure_tput(j->t, j->size, out);
    case 'r':
        return measure_rtt(j->t, j->size, out);
    case 's':
        return measure_sync(j->dir, j->batch, out);
    case 'f':
        return measure_fanout(j->readers, out);
    case 'e': {
        struct bench_etcd_run r[MAX_RUNS];
        _Static_assert(sizeof r <= JOB_OUT * sizeof(double), "JOB_OUT holds the runs");
        if (j->etcd->runs > MAX_RUNS || bench_etcd(j->etcd, r))
            return -1;
        memcpy(out, r, (size_t)j->etcd->runs * sizeof *r);
        return 0;
    }
    default:
        return measure_op(j->op, out);
    }
}

static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
    size_t got = 0;
    while (got < len) {
        int64_t left = (deadline - wom__now_ns()) / 1000000;
        if (left <= 0)
            return -2;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int k = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (k < 0 && errno != EINTR)
            return -1;
        if (k <= 0)
            continue;
        ssize_t m = read(fd, (char *)buf + got, len - got);
        if (m == 0)
            return -1;
        if (m < 0 && errno != EINTR)
            return -1;
        if (m > 0)
            got += (size_t)m;
    }
    return 0;
}

/* Run j in a child; 0 with out[JOB_OUT] filled, or -1 with *why set. */
static int job_in_child(const struct job *j, double *out, const char **why)
{
    int fd[2];
    if (pipe(fd))
        return *why = "pipe failed", -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return *why = "fork failed", -1;
    }
    if (pid == 0) {
        close(fd[0]);
        double v[JOB_OUT] = {0};
        if (job_run(j, v))
            _exit(1);
        ssize_t w = write(fd[1], v, sizeof v);
        _exit(w == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fd[1]);
    if (j->parent)
        j->parent();
    /* Generous: a healthy job takes ~(runs + 1) * time. */
    int64_t deadline = wom__now_ns() + (int64_t)((opt_runs + 1) * opt_time * 20e9) + 10000000000;
    if (j->budget_s > 0)
        deadline = wom__now_ns() + (int64_t)(j->budget_s * 1e9);
    int rc = read_full(fd[0], out, JOB_OUT * sizeof *out, deadline);
    close(fd[0]);
    if (rc == -2)
        kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    if (rc == -2)
        return *why = "FAILED: timed out (hung?)", -1;
    if (WIFSIGNALED(st))
        return *why = "FAILED: crashed (signal; see stderr)", -1;
    if (rc || !WIFEXITED(st) || WEXITSTATUS(st))
        return *why = "FAILED: error or message check (see stderr)", -1;
    return 0;
}

/* ---- results ---- */

struct row {
    const char *name, *how;
    size_t size;
    int part; /* 1: threads of one process, 2: two processes, 3: a cluster,
                 4: one writer and `readers` readers (part 1's process) */
    int conc, nrun; /* part 3: threads / goroutines; runs filled so far */
    int readers;    /* part 4 */
    double errs;    /* part 3: failed calls over all runs */
    const char *tput_why, *rtt_why; /* non-NULL: skipped or failed */
    double tput[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS];
    double rate[BENCH_FANOUT_MAX][MAX_RUNS]; /* part 4: each reader's msgs/s */
    double cpu[MAX_RUNS]; /* part 4: CPU ns per message, writer and readers */
    /* Per sample, the placement regime (bench_regime) of the throughput
     * and of the round-trip samples; "" when none was probed. */
    char tput_reg[MAX_RUNS + 1], rtt_reg[MAX_RUNS + 1];
};

/* Every probe's result, by the regime it was filed under, for the note
 * under the tables. */
#define MAX_PROBES 4096
static struct {
    double ns;
    char regime;
} probes[MAX_PROBES];
static int nprobes;

/* Take a child's samples from out[]: the values at `at` into v, the
 * regimes into reg (a string of opt_runs characters); log = 1 also files
 * the probes in probes[] (once per child). */
static void take_samples(const double *out, int at, double *v, char *reg, int log)
{
    for (int r = 0; r < opt_runs; r++) {
        v[r] = out[at + r];
        reg[r] = (char)out[AT_REGIME + r];
        if (log && nprobes < MAX_PROBES) {
            probes[nprobes].ns = out[AT_PROBE + r];
            probes[nprobes++].regime = reg[r];
        }
    }
    reg[opt_runs] = 0;
}

#define MAX_ROWS 64
static struct row rows[MAX_ROWS];
static int nrows;
static int row_part = 1; /* the part new rows belong to */

static struct row *row_new(const char *name, const char *how, size_t size)
{
    if (nrows == MAX_ROWS) {
        fprintf(stderr, "wom_bench: more than %d rows\n", MAX_ROWS);
        exit(2);
    }
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    r->name = name;
    r->how = how ? how : "";
    r->size = size;
    r->part = row_part;
    return r;
}

static struct row *row_find(const char *name, size_t size)
{
    for (int i = 0; i < nrows; i++)
        if (rows[i].size == size && strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static double tput_of(const struct row *r)
{
    return r && !r->tput_why ? median(r->tput, opt_runs) : NAN;
}

static double p50_of(const struct row *r)
{
    return r && !r->rtt_why ? median(r->p50, opt_runs) : NAN;
}

/* The median of the samples v[r] that ran in regime reg (a bench_regime
 * character; regs holds one per sample), or NAN when none did. */
static double median_in(const double *v, const char *regs, char reg)
{
    double s[MAX_RUNS];
    int k = 0;
    for (int r = 0; r < opt_runs && regs[r]; r++)
        if (regs[r] == reg)
            s[k++] = v[r];
    return k ? median(s, k) : NAN;
}

/* The throughput (tput = 1) or round-trip p50 median of row r in regime
 * reg; NAN when r failed or has no such sample. */
static double regime_of(const struct row *r, int tput, char reg)
{
    if (!r || (tput ? r->tput_why : r->rtt_why))
        return NAN;
    return tput ? median_in(r->tput, r->tput_reg, reg) : median_in(r->p50, r->rtt_reg, reg);
}

static double min_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double max_of(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* The table's two Go baselines for one measurement: [0] pointer, [1] copy. */
enum { GO_PTR, GO_COPY };

/* ---- the Go side ---- */

/* chanbench's form names and the rows they fill. Throughput ratios are
 * against the buffered channel, RTT ratios against the unbuffered one. */
static const struct {
    const char *form, *row, *how;
} go_forms[] = {
    {"buf-ptr", "go chan buffered(1024) ptr", "pointer, parks"},
    {"buf-copy", "go chan buffered(1024) copy", "copy in+out, parks"},
    {"unbuf-ptr", "go chan unbuffered ptr", "pointer, parks"},
    {"unbuf-copy", "go chan unbuffered copy", "copy in+out, parks"},
};
#define GO_FORMS (int)(sizeof go_forms / sizeof go_forms[0])
static const char *const go_tput_base[2] = {"go chan buffered(1024) ptr",
                                            "go chan buffered(1024) copy"};
static const char *const go_rtt_base[2] = {"go chan unbuffered ptr", "go chan unbuffered copy"};

static void go_rows(const char *why)
{
    for (int s = 0; s < SIZES; s++)
        for (int f = 0; f < GO_FORMS; f++) {
            struct row *r = row_new(go_forms[f].row, go_forms[f].how, sizes[s]);
            r->tput_why = r->rtt_why = why;
        }
}

/* The regimes of a Go row's runs from its probe line's "before after"
 * pairs (p: the rest of the line). */
static int go_probes(char *p, char *reg)
{
    double v[2 * MAX_RUNS];
    _Static_assert(AT_CPU + MAX_RUNS <= JOB_OUT, "the probes and CPU times fit out[]");
    double out[JOB_OUT];
    for (int i = 0; i < opt_runs; i++) {
        int k;
        if (sscanf(p, "%lf %lf%n", &v[2 * i], &v[2 * i + 1], &k) != 2)
            return -1;
        p += k;
        double a = v[2 * i], b = v[2 * i + 1];
        out[AT_PROBE + i] = a > b ? a : b;
        out[AT_REGIME + i] = bench_regime(a, b);
    }
    double unused[MAX_RUNS];
    take_samples(out, AT_PROBE, unused, reg, 1);
    return 0;
}

/* Parse one output line of the Go benchmark:
 *   gomaxprocs N
 *   tput FORM SIZE v1 .. vRUNS           (msgs/s)
 *   rtt  FORM SIZE p50 p99 .. (x RUNS)   (ns)
 *   probe tput|rtt FORM SIZE before after .. (x RUNS)   (ns) */
static int go_line(char *line)
{
    char kind[16], which[16];
    size_t size;
    int off;
    if (sscanf(line, "gomaxprocs %d", &go_maxprocs) == 1)
        return 0;
    if (sscanf(line, "probe %15s %15s %zu%n", kind, which, &size, &off) == 3) {
        struct row *r = NULL;
        for (int f = 0; f < GO_FORMS && !r; f++)
            if (strcmp(which, go_forms[f].form) == 0)
                r = row_find(go_forms[f].row, size);
        return r ? go_probes(line + off, strcmp(kind, "tput") ? r->rtt_reg : r->tput_reg) : -1;
    }
    if (sscanf(line, "%15s %15s %zu%n", kind, which, &size, &off) != 3)
        return -1;
    struct row *r = NULL;
    for (int f = 0; f < GO_FORMS && !r; f++)
        if (strcmp(which, go_forms[f].form) == 0)
            r = row_find(go_forms[f].row, size);
    if (!r)
        return -1;
    char *p = line + off;
    int is_tput = strcmp(kind, "tput") == 0;
    for (int i = 0; i < opt_runs; i++) {
        int k;
        if (is_tput) {
            if (sscanf(p, "%lf%n", &r->tput[i], &k) != 1)
                return -1;
        } else if (sscanf(p, "%lf %lf%n", &r->p50[i], &r->p99[i], &k) != 2) {
            return -1;
        }
        p += k;
    }
    if (is_tput)
        r->tput_why = NULL;
    else
        r->rtt_why = NULL;
    return 0;
}

static void run_go(void)
{
    if (!opt_go) {
        go_rows("skipped: Go benchmark not built (no `go` at configure time?)");
        return;
    }
    if (access(opt_go, X_OK) || strchr(opt_go, '\'')) {
        go_rows("skipped: Go benchmark binary missing or path unusable");
        return;
    }
    go_rows("FAILED: no result from the Go benchmark (see stderr)");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "GOMAXPROCS=%d '%s' -runs %d -time %g", opt_gomaxprocs, opt_go,
             opt_runs, opt_time);
    fflush(NULL);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (go_line(line))
            fprintf(stderr, "wom_bench: unparsed Go output: %s", line);
    pclose(f);
}

/* ---- the C side ---- */

static const struct bench_transport *const c_transports[] = {
    &bt_mutex,
#ifdef BENCH_HAVE_CK
    &bt_ck,
#endif
#ifdef BENCH_HAVE_ZMQ
    &bt_zmq,
#endif
#ifdef BENCH_HAVE_NNG
    &bt_nng,
#endif
    &bt_wom_raw, &bt_wom_ring, &bt_wom_chan, &bt_wom_chan_view,
    &bt_wom_chan_zc, &bt_wom_chan_batch,
};

static const char *const missing[][2] = {
#ifndef BENCH_HAVE_CK
    {"ck_ring spsc", "skipped: libck (Concurrency Kit) not found at configure time"},
#endif
#ifndef BENCH_HAVE_ZMQ
    {"zmq inproc PAIR", "skipped: libzmq not found at configure time"},
#endif
#ifndef BENCH_HAVE_NNG
    {"nng inproc pair1", "skipped: nng not found at configure time"},
#endif
    {NULL, NULL},
};

/* The cross-process part: each run forks its consumer (or echo) process. */
static const struct bench_transport *const ipc_transports[] = {
    &bt_ipc_wom_chan, &bt_ipc_wom_zc, &bt_ipc_pipe, &bt_ipc_stream, &bt_ipc_seqpacket,
    &bt_ipc_mq,
#ifdef BENCH_HAVE_ZMQ
    &bt_ipc_zmq,
#endif
#ifdef BENCH_HAVE_NNG
    &bt_ipc_nng,
#endif
    &bt_ipc_ring,
};

static const char *const ipc_missing[][2] = {
#ifndef BENCH_HAVE_ZMQ
    {"zmq ipc PAIR", "skipped: libzmq not found at configure time"},
#endif
#ifndef BENCH_HAVE_NNG
    {"nng ipc pair1", "skipped: nng not found at configure time"},
#endif
    {NULL, NULL},
};

/* --only matches the row name; in the cross-process part also "ipc ". */
static int wanted_in(int part, const char *name)
{
    if (!opt_only || strstr(name, opt_only))
        return 1;
    return part == 2 && strncmp(opt_only, "ipc", 3) == 0 && !opt_only[3];
}

static int wanted(const char *name)
{
    return wanted_in(1, name);
}

static void run_list(int part, const struct bench_transport *const *list, size_t count,
                     const char *const (*skipped)[2])
{
    row_part = part;
    for (size_t i = 0; i < count; i++) {
        const struct bench_transport *t = list[i];
        if (!wanted_in(part, t->name))
            continue;
        const char *skip = t->unavailable ? t->unavailable() : NULL;
        for (int s = 0; s < SIZES; s++) {
            struct row *r = row_new(t->name, t->how, sizes[s]);
            if (skip) {
                r->tput_why = r->rtt_why = skip;
                continue;
            }
            double v[JOB_OUT];
            struct job jt = {.kind = 't', .t = t, .size = sizes[s]};
            if (!job_in_child(&jt, v, &r->tput_why))
                take_samples(v, AT_VAL, r->tput, r->tput_reg, 1);
            struct job jr = {.kind = 'r', .t = t, .size = sizes[s]};
            if (!job_in_child(&jr, v, &r->rtt_why)) {
                take_samples(v, AT_VAL, r->p50, r->rtt_reg, 1);
                memcpy(r->p99, v + AT_P99, sizeof r->p99);
            }
            fprintf(stderr, ".");
        }
    }
    for (int i = 0; skipped[i][0]; i++)
        for (int s = 0; s < SIZES && wanted_in(part, skipped[i][0]); s++) {
            struct row *r = row_new(skipped[i][0], NULL, sizes[s]);
            r->tput_why = r->rtt_why = skipped[i][1];
        }
}

static void run_c(void)
{
    run_list(1, c_transports, sizeof c_transports / sizeof c_transports[0], missing);
}

static void run_ipc(void)
{
    run_list(2, ipc_transports, sizeof ipc_transports / sizeof ipc_transports[0], ipc_missing);
}

/* ---- output ---- */

static void print_ratio(double x, double base)
{
    if (isnan(x) || isnan(base) || base <= 0)
        printf(" %8s", "n/a");
    else
        printf(" %7.2fx", x / base);
}

#define NAME_W 31
#define HOW_W 25

/* x in a 7-wide column: 2 decimals below 100, fewer above; "-" for NAN. */
static void print_num(double x)
{
    if (isnan(x))
        printf(" %6s", "-");
    else
        printf(" %6.*f", x < 100 ? 2 : x < 1000 ? 1 : 0, x);
}

/* A heading over a group of columns `width` wide: " --- label ---". */
static void print_group(const char *label, int width)
{
    int dashes = width - (int)strlen(label) - 3;
    printf(" %.*s %s %.*s", dashes / 2, "----------------", label, dashes - dashes / 2,
           "----------------");
}

/* The width of the samples column: one regime letter per sample. */
static int regs_w(void)
{
    return opt_runs > 7 ? opt_runs : 7;
}

/* ---- machine-readable results (--results FILE) ---- */

/* Every row a table prints also becomes a record here, and every target
 * line attaches its required ratio and peer to the record it judges; the
 * records are written as TSV at the end (bench/README.md, "Results as
 * TSV"), when both are known. Metric names carry their unit. */
#define M_TPUT "msg_per_s"
#define M_P50 "rtt_p50_ns"
#define M_P99 "rtt_p99_ns"
#define M_OPS "ops_per_s" /* part 3: completed calls */
#define MAX_RESULTS 512
/* The TSV group of a part 1 or 2 table: throughput or round trips. */
#define GROUP(tput) ((tput) ? "spsc" : "ping-pong")

static const char *opt_results;
/* What names a row: part's scope, table group, row name, size, metric. */
struct rkey {
    char scope[12], group[24], name[72], metric[16];
    size_t size;
};
static struct result {
    struct rkey k;
    double val, min, max;
} results[MAX_RESULTS];
static int nresults;
static struct result_target {
    struct rkey k;
    char peer[72];
    double ratio;
} rtargets[MAX_RESULTS];
static int nrtargets;

/* The scope of a row's part: 4 (fan-out) runs in part 1's process. */
static const char *scope_of(int part)
{
    return part == 2 ? "processes" : part == 3 ? "cluster" : "threads";
}

static void rkey_set(struct rkey *k, int part, const char *group, const char *name, size_t size,
                     const char *metric)
{
    snprintf(k->scope, sizeof k->scope, "%s", scope_of(part));
    snprintf(k->group, sizeof k->group, "%s", group);
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->metric, sizeof k->metric, "%s", metric);
    k->size = size;
}

static int rkey_eq(const struct rkey *a, const struct rkey *b)
{
    return a->size == b->size && !strcmp(a->scope, b->scope) && !strcmp(a->group, b->group) &&
           !strcmp(a->name, b->name) && !strcmp(a->metric, b->metric);
}

/* Record one printed row: its median val and the min and max over its
 * samples. A NAN median (no measurement) records nothing. */
static void result_add(int part, const char *group, const char *name, size_t size,
                       const char *metric, double val, double min, double max)
{
    if (!opt_results || isnan(val) || nresults == MAX_RESULTS)
        return;
    struct result *r = &results[nresults++];
    rkey_set(&r->k, part, group, name, size, metric);
    r->val = val;
    r->min = min;
    r->max = max;
}

/* Record that the row (part, group, name, size, metric) is judged against
 * ratio x the row `peer` of the same part, group, size and metric. */
static void result_target(int part, const char *group, const char *name, size_t size,
                          const char *metric, double ratio, const char *peer)
{
    if (!opt_results || nrtargets == MAX_RESULTS)
        return;
    struct result_target *t = &rtargets[nrtargets++];
    rkey_set(&t->k, part, group, name, size, metric);
    snprintf(t->peer, sizeof t->peer, "%s", peer);
    t->ratio = ratio;
}

/* One TSV line of r, judged against t (NULL: none). */
static void result_line(FILE *f, const struct result *r, const struct result_target *t)
{
    fprintf(f, "%s\t%s\t%s\t%zu\t%s\t%.6g\t%.6g\t%.6g\t", r->k.scope, r->k.group, r->k.name,
            r->k.size, r->k.metric, r->val, r->min, r->max);
    if (t)
        fprintf(f, "%g\t%s\n", t->ratio, t->peer);
    else
        fputs("\t\n", f);
}

/* Append the records to opt_results, with a header when the file is new
 * or empty. A row judged by several targets is one line per target; a row
 * judged by none has empty target columns. 0, or -1 after saying why. */
static int results_write(void)
{
    if (!opt_results)
        return 0;
    FILE *f = fopen(opt_results, "a");
    int bad = !f || fseek(f, 0, SEEK_END);
    if (!bad && ftell(f) == 0)
        bad = fputs("#scope\tgroup\tname\tsize_bytes\tmetric\tvalue\tmin\tmax\t"
                    "target_ratio\ttarget_peer\n", f) == EOF;
    for (int i = 0; i < nresults && !bad; i++) {
        int judged = 0;
        for (int k = 0; k < nrtargets; k++)
            if (rkey_eq(&results[i].k, &rtargets[k].k)) {
                result_line(f, &results[i], &rtargets[k]);
                judged = 1;
            }
        if (!judged)
            result_line(f, &results[i], NULL);
    }
    if (f && fclose(f))
        bad = 1;
    if (bad)
        fprintf(stderr, "wom_bench: cannot write %s: %s\n", opt_results, strerror(errno));
    return bad ? -1 : 0;
}

/* One table of one part: throughput (tput = 1) or round trips, for one
 * message size, with ratios of the medians against the rows named bn[0]
 * and bn[1]. Per row: min, median and max over the samples (round trips:
 * of the samples' p50, and the median p99), the regime each sample ran in,
 * and the median of the near and of the far samples. */
static void print_part_table(int part, int tput, size_t size, const char *const *bn,
                             const char *const *col, const char *title)
{
    double base[2];
    for (int k = 0; k < 2; k++)
        base[k] = tput ? tput_of(row_find(bn[k], size)) : p50_of(row_find(bn[k], size));
    int any = 0;
    for (int i = 0; i < nrows; i++)
        any |= rows[i].size == size && rows[i].part == part;
    if (!any)
        return;
    printf("\n%s\n%*s", title, NAME_W + 1 + HOW_W, "");
    print_group(tput ? "M msg/s" : "p50 us", 21);
    printf(tput ? "" : " %6s", "p99 us");
    printf(" %*s", regs_w(), "");
    print_group("median", 14);
    printf("\n%-*s %-*s %6s %6s %6s", NAME_W, "transport", HOW_W, "per message", "min", "median",
           "max");
    if (!tput)
        printf(" %6s", "median");
    printf(" %-*s %6s %6s %8s %8s\n", regs_w(), "samples", "near", "far", col[0], col[1]);
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        if (r->size != size || r->part != part)
            continue;
        printf("%-*s %-*s", NAME_W, r->name, HOW_W, r->how);
        const char *why = tput ? r->tput_why : r->rtt_why;
        if (why) {
            printf(" %6s  %s\n", "-", why);
            continue;
        }
        const double *v = tput ? r->tput : r->p50;
        double unit = tput ? 1e6 : 1e3, x = median(v, opt_runs);
        result_add(part, GROUP(tput), r->name, size, tput ? M_TPUT : M_P50, x,
                   min_of(v, opt_runs), max_of(v, opt_runs));
        if (!tput)
            result_add(part, GROUP(tput), r->name, size, M_P99, median(r->p99, opt_runs),
                       min_of(r->p99, opt_runs), max_of(r->p99, opt_runs));
        print_num(min_of(v, opt_runs) / unit);
        print_num(x / unit);
        print_num(max_of(v, opt_runs) / unit);
        if (!tput)
            print_num(median(r->p99, opt_runs) / unit);
        printf(" %-*s", regs_w(), tput ? r->tput_reg : r->rtt_reg);
        print_num(regime_of(r, tput, 'n') / unit);
        print_num(regime_of(r, tput, 'f') / unit);
        for (int k = 0; k < 2; k++)
            print_ratio(x, base[k]);
        printf("\n");
    }
}

static void print_table(int tput, size_t size)
{
    static const char *const col[2] = {"vs ptr", "vs copy"};
    char title[160];
    if (tput)
        snprintf(title, sizeof title, "SPSC throughput, %zu-byte messages; ratio = msg/s / Go "
                 "buffered(1024) (higher is better)", size);
    else
        snprintf(title, sizeof title, "ping-pong round trip, %zu-byte messages; ratio = p50 / Go "
                 "unbuffered p50 (lower is better)", size);
    print_part_table(1, tput, size, tput ? go_tput_base : go_rtt_base, col, title);
}

/* The cross-process part's baselines: throughput against the pipe and the
 * Unix stream socket, round trips against our shm ring and the pipe. */
static const char *const ipc_tput_base[2] = {"pipe", "unix stream"};
static const char *const ipc_rtt_base[2] = {"shm ring spsc (own)", "pipe"};

static void print_ipc_table(int tput, size_t size)
{
    static const char *const tcol[2] = {"vs pipe", "vs unix"};
    static const char *const rcol[2] = {"vs ring", "vs pipe"};
    char title[160];
    if (tput)
        snprintf(title, sizeof title, "2 processes: SPSC throughput, %zu-byte messages; ratio = "
                 "msg/s / pipe, / unix stream (higher is better)", size);
    else
        snprintf(title, sizeof title, "2 processes: ping-pong round trip, %zu-byte messages; "
                 "ratio = p50 / shm ring, / pipe (lower is better)", size);
    print_part_table(2, tput, size, tput ? ipc_tput_base : ipc_rtt_base, tput ? tcol : rcol,
                     title);
}

/* The put/get medians, kept for the target line: [0] put on a fresh
 * space, [1] put on a warm one (NAN: not measured). */
static double put_ns[2] = {NAN, NAN};

static void print_ops(void)
{
    static const struct {
        enum op op;
        const char *name[2];
    } ops[] = {
        {OP_PUTGET, {"put, fresh space (first touch), 1 thread", "get, written cell, 1 thread"}},
        {OP_PUTGET_WARM, {"put, warm space (rounds of put + trim until faults stop), 1 thread",
                          "get, written cell, warm space, 1 thread"}},
        {OP_RACE, {"put race: 2 writers, same addresses (ns per address)", NULL}},
        {OP_RACE_READERS,
         {"put race + 2 readers blocked in wom_get (ns per address)", NULL}},
    };
    if (!wanted("wom put/get"))
        return;
    printf("\nwom ONCE cells, 64-byte values, ns/op%*s %6s %6s %6s %-*s\n", 31, "", "min",
           "median", "max", regs_w(), "samples");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        double v[JOB_OUT];
        char reg[MAX_RUNS + 1] = "";
        const char *why = NULL;
        struct job j = {.kind = 'o', .op = ops[i].op};
        int rc = job_in_child(&j, v, &why);
        for (int k = 0; k < 2 && ops[i].name[k]; k++) {
            printf("  %-66s", ops[i].name[k]);
            if (rc) {
                printf(" %s\n", why);
                continue;
            }
            double x[MAX_RUNS];
            take_samples(v, k ? AT_P99 : AT_VAL, x, reg, !k);
            print_num(min_of(x, opt_runs));
            print_num(median(x, opt_runs));
            print_num(max_of(x, opt_runs));
            result_add(1, "once cells", ops[i].name[k], 64, "op_ns", median(x, opt_runs),
                       min_of(x, opt_runs), max_of(x, opt_runs));
            printf(" %s\n", reg);
            if (!k && ops[i].op <= OP_PUTGET_WARM)
                put_ns[ops[i].op == OP_PUTGET_WARM] = median(x, opt_runs);
        }
    }
}

static void target_put(void)
{
    if (!wanted("wom put/get"))
        return;
    printf("  issue 10: put of 64 B on a warm space <= 40 ns, 1 thread:");
    if (isnan(put_ns[1]))
        printf(" n/a NOT MET (no measurement)\n");
    else
        printf(" %.1f ns %s (on a fresh space: %.1f ns)\n", put_ns[1],
               put_ns[1] <= 40 ? "MET" : "NOT MET", put_ns[0]);
}

/* The wom channel rows the targets judge, and which target each meets:
 * copy in and out, or zero copy on the way out at least (the batch row
 * copies in and reads views, so it counts as zero copy). */
static const struct {
    const char *name;
    int zero_copy;
} wom_chans[] = {
    {"wom chan (sub_recv)", 0},
    {"wom chan (recv_view)", 1},
    {"wom chan (loan+view)", 1},
    {"wom chan (send_many+recv_views)", 1},
};
#define WOM_CHANS (sizeof wom_chans / sizeof wom_chans[0])

/* The ratio of x to base within each placement regime both were sampled
 * in, e.g. " [near 0.59x, far 0.28x]"; nothing when they share none. */
static void regime_ratios(const struct row *x, const struct row *base, int tput)
{
    static const char regs[2] = {'n', 'f'};
    static const char *const name[2] = {"near", "far"};
    int shown = 0;
    for (int k = 0; k < 2; k++) {
        double a = regime_of(x, tput, regs[k]), b = regime_of(base, tput, regs[k]);
        if (isnan(a) || isnan(b) || b <= 0)
            continue;
        printf("%s%s %.2fx", shown++ ? ", " : " [", name[k], a / b);
    }
    if (shown)
        printf("]");
}

/* One verdict per Go form: "vs go ptr 0.80x NOT MET [near 0.90x, far
 * 0.50x], vs go copy 1.90x met". The verdict is on the medians over all
 * samples; the brackets give the same ratio per regime. want is the
 * required ratio; tput: throughput (x >= want * base) rather than round
 * trip p50 (x <= want * base); copy_only: against Go's by-value form alone. */
static void verdicts(const struct row *xr, const char *const *bn, size_t size, double want,
                     int tput, int copy_only)
{
    static const char *const form[2] = {"go ptr", "go copy"};
    double x = tput ? tput_of(xr) : p50_of(xr);
    for (int k = copy_only; k < 2; k++) {
        const struct row *b = row_find(bn[k], size);
        double base = tput ? tput_of(b) : p50_of(b);
        if (xr)
            result_target(xr->part, GROUP(tput), xr->name, size, tput ? M_TPUT : M_P50, want,
                          bn[k]);
        printf("%svs %-7s ", k > copy_only ? ", " : "", form[k]);
        if (isnan(x) || isnan(base) || base <= 0)
            printf("   n/a NOT MET (no measurement)");
        else
            printf("%6.2fx %s", x / base,
                   (tput ? x >= want * base : x <= want * base) ? "met" : "NOT MET");
        if (!isnan(x) && !isnan(base))
            regime_ratios(xr, b, tput);
    }
    printf("\n");
}

/* 1 when a wom chan row of this size ran (or was skipped): --only may
 * leave them all out, and then their target lines say nothing. */
static int any_wom_chan(size_t size)
{
    for (size_t i = 0; i < WOM_CHANS; i++)
        if (row_find(wom_chans[i].name, size))
            return 1;
    return 0;
}

/* Issue 10's throughput target at one size: each copy row against
 * want[0] x Go, each zero-copy row against want[1] x Go; copy_only: against
 * Go's by-value form alone (4 KiB: "Go by value"). */
static void target_tput(size_t size, const double want[2], int copy_only, const char *wording)
{
    if (!any_wom_chan(size))
        return;
    printf("  %s\n", wording);
    for (size_t i = 0; i < WOM_CHANS; i++) {
        int zc = wom_chans[i].zero_copy;
        printf("    %-31s %-9s >= %.1fx ", wom_chans[i].name, zc ? "zero copy" : "copy",
               want[zc]);
        verdicts(row_find(wom_chans[i].name, size), go_tput_base, size, want[zc], 1, copy_only);
    }
}

/* Issue 2's round-trip target, which issue 10 leaves in force. */
static void target_rtt(size_t size, const char *wording)
{
    if (!any_wom_chan(size))
        return;
    printf("  %s\n", wording);
    for (size_t i = 0; i < WOM_CHANS; i++) {
        printf("    %-31s ", wom_chans[i].name);
        verdicts(row_find(wom_chans[i].name, size), go_rtt_base, size, 0.5, 0, 0);
    }
}

/* ---- one writer, several readers ---- */

#define FAN_NAME "wom chan fan-out"

static long online_cpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* The M msg/s this machine's CPUs allow at cpu_ns of CPU per message. */
static double cpu_cap(double cpu_ns)
{
    return cpu_ns > 0 ? (double)online_cpus() * 1e3 / cpu_ns : NAN;
}

static void run_fanout(void)
{
    if (!wanted(FAN_NAME))
        return;
    for (int k = 1; k <= BENCH_FANOUT_MAX; k++) {
        struct row *r = row_new(FAN_NAME, "copy in+out, spin>sleep", 64);
        r->part = 4;
        r->readers = k;
        double v[JOB_OUT];
        struct job j = {.kind = 'f', .readers = k};
        if (bt_wom_chan.unavailable && (r->tput_why = bt_wom_chan.unavailable()))
            continue;
        if (job_in_child(&j, v, &r->tput_why))
            continue;
        take_samples(v, 0, r->rate[0], r->tput_reg, 1);
        for (int i = 1; i < k; i++)
            memcpy(r->rate[i], v + i * MAX_RUNS, sizeof r->rate[i]);
        memcpy(r->cpu, v + AT_CPU, sizeof r->cpu);
        /* A sample's rate is its slowest reader's: "each reader" must keep up. */
        for (int s = 0; s < opt_runs; s++)
            r->tput[s] = min_of((const double[]){r->rate[0][s], r->rate[1][s], r->rate[2][s]}, k);
        fprintf(stderr, ".");
    }
}

/* The name of the fan-out row with k readers, in buf. */
static const char *fan_name(char buf[32], int k)
{
    snprintf(buf, 32, "wom chan, %d reader%s", k, k > 1 ? "s" : "");
    return buf;
}

static const struct row *fan_row(int readers)
{
    for (int i = 0; i < nrows; i++)
        if (rows[i].part == 4 && rows[i].readers == readers)
            return &rows[i];
    return NULL;
}

static void print_fanout(void)
{
    const struct row *one = fan_row(1);
    if (!one)
        return;
    printf("\none writer, N readers of one wom channel (threads, mem:, 64-byte messages, bound "
           "1024, copy in+out;\nevery reader gets every message and checks its order and that "
           "each came exactly once).\nslowest = per sample, the rate of its slowest reader; "
           "each reader = its median rate; ratio = slowest / 1 reader;\ncpu = the CPU time "
           "of the writer and every reader per message (spinning included), median; cap =\n"
           "the rate that much CPU per message allows on this machine's %ld CPUs\n",
           online_cpus());
    printf("%-8s %6s %6s %6s %-23s %-*s %6s %6s %8s %7s %6s\n", "readers", "min", "median", "max",
           "each reader (M msg/s)", regs_w(), "samples", "near", "far", "vs 1", "cpu ns", "cap");
    for (int k = 1; k <= BENCH_FANOUT_MAX; k++) {
        const struct row *r = fan_row(k);
        if (!r)
            continue;
        printf("%-8d", k);
        if (r->tput_why) {
            printf(" %6s  %s\n", "-", r->tput_why);
            continue;
        }
        print_num(min_of(r->tput, opt_runs) / 1e6);
        print_num(tput_of(r) / 1e6);
        print_num(max_of(r->tput, opt_runs) / 1e6);
        char name[32], each[64] = "";
        result_add(4, "fan-out", fan_name(name, k), 64, M_TPUT, tput_of(r),
                   min_of(r->tput, opt_runs), max_of(r->tput, opt_runs));
        for (int i = 0; i < k; i++)
            snprintf(each + strlen(each), sizeof each - strlen(each), "%s%.2f", i ? " " : "",
                     median(r->rate[i], opt_runs) / 1e6);
        printf(" %-23s %-*s", each, regs_w(), r->tput_reg);
        print_num(regime_of(r, 1, 'n') / 1e6);
        print_num(regime_of(r, 1, 'f') / 1e6);
        print_ratio(tput_of(r), tput_of(one));
        double cpu = median(r->cpu, opt_runs);
        printf(" %7.0f", cpu);
        print_num(cpu_cap(cpu));
        printf("\n");
    }
}

/* The target: with 3 readers, each reader >= 0.8x a lone reader. */
static void target_fanout(void)
{
    const struct row *one = fan_row(1), *three = fan_row(3);
    if (!one && !three)
        return;
    double x = tput_of(three), b = tput_of(one);
    char name[2][32];
    result_target(4, "fan-out", fan_name(name[0], 3), 64, M_TPUT, 0.8, fan_name(name[1], 1));
    printf("  issue 10: one writer, 3 readers of one channel: each reader >= 0.8x a lone reader "
           "(64 B, threads)\n    slowest of 3 readers vs 1 reader ");
    if (isnan(x) || isnan(b) || b <= 0)
        printf("   n/a NOT MET (no measurement)");
    else
        printf("%6.2fx %s", x / b, x >= 0.8 * b ? "MET" : "NOT MET");
    if (!isnan(x) && !isnan(b))
        regime_ratios(three, one, 1);
    printf("\n");
    /* What bounds it where there are fewer cores than threads. */
    double cpu = three && !three->tput_why ? median(three->cpu, opt_runs) : NAN;
    if (cpu > 0)
        printf("    bound: the writer and 3 readers spend %.0f ns of CPU per message; %ld CPUs "
               "allow at most %.2f M msg/s\n",
               cpu, online_cpus(), cpu_cap(cpu));
}

/* ---- the cross-process part's notes, targets and the cost of wom_sync ---- */

static const char *const ipc_woms[] = {"wom chan shm: (sub_recv)", "wom chan shm: (loan+view)"};

/* The median of a round-trip row's p99s (NAN when it failed). */
static double p99_of(const struct row *r)
{
    return r && !r->rtt_why ? median(r->p99, opt_runs) : NAN;
}

/* One verdict: row `name` against want x row `peer` (same size) on metric
 * (M_TPUT: higher is better; M_P50, M_P99: lower is better). */
/* Row `name`'s median of metric (M_TPUT, M_P50 or M_P99), NAN if none. */
static double metric_of(const char *name, size_t size, const char *metric)
{
    const struct row *r = row_find(name, size);
    return !strcmp(metric, M_TPUT) ? tput_of(r) : !strcmp(metric, M_P50) ? p50_of(r) : p99_of(r);
}

static void ipc_verdict(const char *what, const char *name, const char *peer, size_t size,
                        const char *metric, double want)
{
    int higher = strcmp(metric, M_TPUT) == 0;
    double x = metric_of(name, size, metric), base = metric_of(peer, size, metric);
    result_target(2, GROUP(higher), name, size, metric, want, peer);
    printf("%s ", what);
    if (isnan(x) || isnan(base) || base <= 0)
        printf("   n/a NOT MET (no measurement)");
    else
        printf("%6.2fx %s", x / base,
               (higher ? x >= want * base : x <= want * base) ? "met" : "NOT MET");
}

#define IPC_RING "shm ring spsc (own)"

static void print_ipc_targets(void)
{
    printf("\ntargets for the cross-process part (from the issues named); a missed target is "
           "reported, never an error:\n  issue 10: round trip p50 <= 1.5x the busy-polling "
           "shm ring's, p99 <= 3x its p99\n");
    for (int s = 0; s < SIZES; s++)
        for (size_t i = 0; i < sizeof ipc_woms / sizeof ipc_woms[0]; i++) {
            printf("    %4zu B %-26s ", sizes[s], ipc_woms[i]);
            ipc_verdict("p50 vs shm ring", ipc_woms[i], IPC_RING, sizes[s], M_P50, 1.5);
            ipc_verdict(", p99 vs shm ring", ipc_woms[i], IPC_RING, sizes[s], M_P99, 3);
            printf("\n");
        }
    printf("  issue 10: 64 B throughput >= 0.8x the busy-polling shm ring's\n");
    for (size_t i = 0; i < sizeof ipc_woms / sizeof ipc_woms[0]; i++) {
        printf("    %4d B %-26s ", 64, ipc_woms[i]);
        ipc_verdict("vs shm ring", ipc_woms[i], IPC_RING, 64, M_TPUT, 0.8);
        printf("\n");
    }
    printf("  issue 10: 4 KiB throughput, copy in and out, >= 3x a pipe's\n    %4d B %-26s ",
           4096, ipc_woms[0]);
    ipc_verdict("vs pipe", ipc_woms[0], "pipe", 4096, M_TPUT, 3);
    printf("\n  issue 3 (still in force): throughput >= 10x a Unix stream socket's and >= 3x a "
           "pipe's\n");
    for (int s = 0; s < SIZES; s++)
        for (size_t i = 0; i < sizeof ipc_woms / sizeof ipc_woms[0]; i++) {
            printf("    %4zu B %-26s ", sizes[s], ipc_woms[i]);
            ipc_verdict("vs unix stream", ipc_woms[i], "unix stream", sizes[s], M_TPUT, 10);
            ipc_verdict(", vs pipe", ipc_woms[i], "pipe", sizes[s], M_TPUT, 3);
            printf("\n");
        }
}

static const char *opt_sync_dir;

/* One line per directory: us per wom_sync after 1, 64 and 1024 sends. */
static void print_sync(void)
{
    static const unsigned batch[] = {1, 64, 1024};
    const char *dirs[2] = {"/dev/shm", opt_sync_dir};
    if (!bench_have_sync() || !wanted_in(2, "wom_sync"))
        return;
    printf("\nwom_sync (msync + fdatasync) on a shm: space, us per call after N 64-byte channel "
           "sends\n(median of %d runs; spread in brackets):\n", opt_runs);
    for (int d = 0; d < 2 && dirs[d]; d++) {
        printf("  %-34s", dirs[d]);
        for (size_t b = 0; b < sizeof batch / sizeof batch[0]; b++) {
            double v[JOB_OUT];
            const char *why = NULL;
            struct job j = {.kind = 's', .dir = dirs[d], .batch = batch[b]};
            char name[32];
            snprintf(name, sizeof name, "%s, N=%u", d ? "--sync-dir" : "/dev/shm", batch[b]);
            if (job_in_child(&j, v, &why)) {
                printf("  N=%u %s", batch[b], why);
                continue;
            }
            printf("  N=%-4u %9.1f [%3.0f%%]", batch[b], median(v, opt_runs),
                   100 * spread(v, opt_runs));
            result_add(2, "wom_sync", name, 64, "sync_ns", 1e3 * median(v, opt_runs),
                       1e3 * min_of(v, opt_runs), 1e3 * max_of(v, opt_runs));
        }
        printf("\n");
    }
}

static void print_ipc_part(void)
{
    int any = 0;
    for (int i = 0; i < nrows; i++)
        any |= rows[i].part == 2;
    if (!any)
        return;
    printf("\n==== part 2: two processes (fork; the consumer / echo side is the child) ====\n"
           "wom rows: a fresh shm: space under /dev/shm per run (removed once both sides have "
           "it open),\nbound 1024, retain 1024; each process opens the space itself after the "
           "fork. shm ring: our\nSPSC ring of 1024 slots in a MAP_SHARED mapping, busy-polling "
           "(the reference limit).\nposix mq: queue depth %ld (/proc/sys/fs/mqueue/msg_max, the "
           "most allowed without\nCAP_SYS_RESOURCE), msgsize = the message size. zmq/nng: ipc:// "
           "socket files in /tmp.\n", bench_mq_depth());
    for (int t = 1; t >= 0; t--)
        for (int s = 0; s < SIZES; s++)
            print_ipc_table(t, sizes[s]);
    print_ipc_targets();
    print_sync();
}

/* ==== part 3: an etcd:// cluster, wom's scope against etcd's Go client ==== */

static const char *opt_etcd_dir;  /* a running cluster (wom cluster up DIR): DIR/uri */
static const char *opt_etcd_go;   /* bench/go/etcdbench.go, built */
static const char *opt_wom_cli;   /* the wom CLI, to find and restart the leader */
static const char *opt_etcd_skip; /* why the runner skips the part */
static int opt_no_cluster;        /* leave the part out, without a word */
static int opt_etcd_runs = 3;
static double opt_etcd_time = 0.4;
static int opt_etcd_kills = 3;
static char etcd_uri[1024];       /* DIR/uri */
static char etcd_space[1100];     /* etcd_uri + this run's key prefix */
static char etcd_eps[1024];       /* its endpoints, H:P,H:P,... */

#define NCONC 3
static const int concs[NCONC] = {1, 16, 256};
#define CHAN_SUBS 64  /* subscribers / watchers */
#define CHAN_MSGS 64  /* messages per run */
#define KILL_RUN 5.0  /* seconds of appends around a leader kill */
#define KILL_AT 1.5   /* seconds into the run */
#define KILL_CONC 16
#define KILL_SIZE 64

/* The rows, in the order they run and print; a Go row comes from
 * etcdbench -op go_op, a wom row from bench_etcd (t_etcd.c). */
static const struct {
    const char *name, *how, *go_op; /* go_op NULL: a wom row */
    enum bench_etcd_op op;
    const char *base; /* the row its ratio is against (same size, conc) */
} erows[] = {
    {"go put-once", "Txn(If create_rev=0,Put)", "put-once", BE_PUT, NULL},
    {"wom put (ONCE)", "fresh address, 1 txn each", NULL, BE_PUT, "go put-once"},
    {"go put", "plain Put, fresh key", "put", BE_PUT, NULL},
    {"wom append", "from conc threads", NULL, BE_APPEND, "go put-once"},
    {"wom append_many", "64 values a call", NULL, BE_APPEND_MANY, "go put-once"},
    {"go get", "linearizable Get", "get", BE_GET, NULL},
    {"wom get, again", "same written cells", NULL, BE_GET, "go get"},
    {"wom get, first read", "cells new to the handle", NULL, BE_FIRST, "go get"},
    {"go get-serializable", "Get WithSerializable()", "get-serializable", BE_GET, NULL},
    {"go watch", "64 watchers, 1 putter", "watch", BE_CHAN, NULL},
    {"wom chan", "64 subscribers, 1 sender", NULL, BE_CHAN, "go watch"},
};
#define EROWS (int)(sizeof erows / sizeof erows[0])

static struct row *erow_find(const char *name, size_t size, int conc)
{
    for (int i = 0; i < nrows; i++)
        if (rows[i].part == 3 && rows[i].size == size && rows[i].conc == conc &&
            strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static double etput(const char *name, size_t size, int conc)
{
    const struct row *r = erow_find(name, size, conc);
    return r && !r->tput_why ? median(r->tput, opt_etcd_runs) : NAN;
}

static struct row *erow_new(int i, size_t size, int conc, const char *why)
{
    struct row *r = row_new(erows[i].name, erows[i].how, size);
    r->part = 3;
    r->conc = conc;
    r->tput_why = r->rtt_why = why;
    return r;
}

/* One Go measurement: every concurrency of one op and size, one process. */
static void etcd_go(int i, size_t size)
{
    int watch = erows[i].op == BE_CHAN;
    for (int c = 0; c < (watch ? 1 : NCONC); c++)
        erow_new(i, size, watch ? CHAN_SUBS : concs[c],
                 opt_etcd_go ? "FAILED: no result from etcdbench (see stderr)"
                             : "skipped: etcdbench not built (no go, or no "
                               "golang-etcd-server-dev, at configure time)");
    if (!opt_etcd_go)
        return;
    char cmd[4096], line[512];
    snprintf(cmd, sizeof cmd, "'%s' -endpoints '%s' -op %s -size %zu -conc 1,16,256 -runs %d "
             "-time %g -watchers %d -msgs %d", opt_etcd_go, etcd_eps, erows[i].go_op, size,
             opt_etcd_runs, opt_etcd_time, CHAN_SUBS, CHAN_MSGS);
    fflush(NULL);
    FILE *f = popen(cmd, "r");
    while (f && fgets(line, sizeof line, f)) {
        char op[32];
        size_t sz;
        int conc;
        double v[5];
        struct row *r = NULL;
        if (sscanf(line, "run %31s %zu %d %lf %lf %lf %lf %lf", op, &sz, &conc, &v[0], &v[1],
                   &v[2], &v[3], &v[4]) == 8)
            r = erow_find(erows[i].name, sz, conc);
        if (!r || r->nrun >= opt_etcd_runs) {
            fprintf(stderr, "wom_bench: unparsed etcdbench output: %s", line);
            continue;
        }
        r->tput[r->nrun] = v[0];
        r->p50[r->nrun] = v[1];
        r->p99[r->nrun] = v[2];
        if (++r->nrun == opt_etcd_runs)
            r->tput_why = r->rtt_why = NULL;
    }
    if (f)
        pclose(f);
    fprintf(stderr, ".");
}

/* One wom measurement in a child (the parent never starts gRPC). */
static void etcd_wom(int i, size_t size)
{
    int chan = erows[i].op == BE_CHAN;
    for (int c = 0; c < (chan ? 1 : NCONC); c++) {
        int conc = chan ? CHAN_SUBS : concs[c];
        struct row *r = erow_new(i, size, conc, NULL);
        struct bench_etcd_job ej = {etcd_space, erows[i].op, size, conc, opt_etcd_runs,
                                    opt_etcd_time, opt_etcd_time / 4, CHAN_MSGS};
        struct job j = {.kind = 'e', .size = size, .etcd = &ej,
                        .budget_s = chan ? 60 + 40.0 * opt_etcd_runs
                                         : 60 + opt_etcd_runs * (opt_etcd_time + 5)};
        double v[JOB_OUT];
        if (job_in_child(&j, v, &r->tput_why)) {
            r->rtt_why = r->tput_why;
            continue;
        }
        const struct bench_etcd_run *run = (const void *)v;
        for (int k = 0; k < opt_etcd_runs; k++) {
            r->tput[k] = run[k].ops_s;
            r->p50[k] = run[k].p50_ns;
            r->p99[k] = run[k].p99_ns;
            r->errs += run[k].errors;
        }
        r->nrun = opt_etcd_runs;
        fprintf(stderr, ".");
    }
}

/* ---- the leader kill ---- */

struct kill_trial {
    char who[16]; /* the member killed, or why none was */
    double gap_ns, ops_s, errors;
    int ok;
};
static struct kill_trial kills[2][MAX_RUNS]; /* [0] wom append, [1] go put-once */
static int nkills[2];
static struct kill_trial *kill_now;

/* Find the leader (wom cluster status) and SIGKILL it, KILL_AT seconds
 * from now. kill_now->who says which (or "-" when none was found). */
static void kill_leader(void)
{
    char cmd[2400], line[512], name[16] = "", path[4200];
    struct timespec ts = {(time_t)KILL_AT, (long)((KILL_AT - (int)KILL_AT) * 1e9)};
    nanosleep(&ts, NULL);
    snprintf(kill_now->who, sizeof kill_now->who, "-");
    snprintf(cmd, sizeof cmd, "'%s' cluster status '%s' 2>/dev/null", opt_wom_cli, etcd_uri);
    FILE *f = popen(cmd, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "leader %15s (", name) == 1 && name[0] == 'm')
            break;
    if (f)
        pclose(f);
    snprintf(path, sizeof path, "%s/%s/pid", opt_etcd_dir, name);
    long pid = 0;
    FILE *p = name[0] == 'm' ? fopen(path, "r") : NULL;
    if (p && fscanf(p, "%ld", &pid) == 1 && pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
        snprintf(kill_now->who, sizeof kill_now->who, "%s", name);
    if (p)
        fclose(p);
}

/* Bring the killed member back (wom cluster up restarts what is missing
 * and waits for a leader). */
static void restart_member(void)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "'%s' cluster up '%s' >/dev/null 2>&1", opt_wom_cli,
             opt_etcd_dir);
    fflush(NULL);
    if (system(cmd) != 0)
        fprintf(stderr, "wom_bench: `wom cluster up %s` failed after a leader kill\n",
                opt_etcd_dir);
    struct timespec ts = {0, 500000000}; /* let it catch up */
    nanosleep(&ts, NULL);
}

static void kill_wom(struct kill_trial *t)
{
    struct bench_etcd_job ej = {etcd_space, BE_KILL, KILL_SIZE, KILL_CONC, 1, KILL_RUN, 0, 0};
    struct job j = {.kind = 'e', .size = KILL_SIZE, .etcd = &ej, .budget_s = KILL_RUN + 60,
                    .parent = kill_leader};
    double v[JOB_OUT];
    const char *why;
    kill_now = t;
    if (job_in_child(&j, v, &why) == 0) {
        const struct bench_etcd_run *run = (const void *)v;
        t->gap_ns = run->gap_ns;
        t->ops_s = run->ops_s;
        t->errors = run->errors;
        t->ok = 1;
    }
}

static void kill_go(struct kill_trial *t)
{
    char cmd[4096], line[512];
    snprintf(cmd, sizeof cmd, "'%s' -endpoints '%s' -op put-once -size %d -conc %d -runs 1 "
             "-time %g -warmup 0 -tolerate", opt_etcd_go, etcd_eps, KILL_SIZE, KILL_CONC,
             KILL_RUN);
    fflush(NULL);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    kill_now = t;
    kill_leader();
    while (fgets(line, sizeof line, f)) {
        char op[32];
        size_t sz;
        int conc;
        double v[5];
        if (sscanf(line, "run %31s %zu %d %lf %lf %lf %lf %lf", op, &sz, &conc, &v[0], &v[1],
                   &v[2], &v[3], &v[4]) == 8) {
            t->ops_s = v[0];
            t->gap_ns = v[3];
            t->errors = v[4];
            t->ok = 1;
        }
    }
    pclose(f);
}

static void run_kills(void)
{
    for (int k = 0; k < opt_etcd_kills; k++)
        for (int g = 0; g < 2; g++) {
            if (g && !opt_etcd_go)
                continue;
            struct kill_trial *t = &kills[g][nkills[g]++];
            memset(t, 0, sizeof *t);
            if (g)
                kill_go(t);
            else
                kill_wom(t);
            restart_member();
            fprintf(stderr, "k");
        }
}

/* etcd://A,B,C/ -> A,B,C; 0 or -1. */
static int etcd_read_uri(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/uri", opt_etcd_dir);
    FILE *f = fopen(path, "r");
    int ok = f && fgets(etcd_uri, sizeof etcd_uri, f);
    if (f)
        fclose(f);
    etcd_uri[strcspn(etcd_uri, "\n")] = 0;
    if (!ok || strncmp(etcd_uri, "etcd://", 7) || !strchr(etcd_uri + 7, '/'))
        return -1;
    snprintf(etcd_eps, sizeof etcd_eps, "%.*s", (int)strcspn(etcd_uri + 7, "/"), etcd_uri + 7);
    snprintf(etcd_space, sizeof etcd_space, "%swom-bench-%ld", etcd_uri, (long)getpid());
    return 0;
}

static const char *etcd_why; /* non-NULL: the part was skipped, and why */

static int wanted_cluster(void)
{
    if (opt_no_cluster)
        return 0;
    return !opt_only || !strcmp(opt_only, "cluster") || !strcmp(opt_only, "etcd");
}

static void run_etcd(void)
{
    if (!wanted_cluster())
        return;
    if (opt_etcd_skip)
        etcd_why = opt_etcd_skip;
    else if (!opt_etcd_dir)
        etcd_why = "no cluster given (--etcd-dir DIR of `wom cluster up DIR`; bench/run.sh "
                   "starts one)";
    else if ((etcd_why = bench_etcd_unavailable()) == NULL && etcd_read_uri())
        etcd_why = "cannot read the cluster's URI from DIR/uri";
    else if (!etcd_why && opt_etcd_go && (access(opt_etcd_go, X_OK) || strchr(opt_etcd_go, '\'')))
        opt_etcd_go = NULL;
    if (etcd_why)
        return;
    /* The leader kills first, on a cluster that holds little yet: a
     * restarted member catches up in a second, not in the ten or more it
     * takes once the rows have written their hundreds of megabytes. */
    if (opt_wom_cli && opt_etcd_kills > 0)
        run_kills();
    for (int s = 0; s < SIZES; s++)
        for (int i = 0; i < EROWS; i++) {
            if (erows[i].go_op)
                etcd_go(i, sizes[s]);
            else
                etcd_wom(i, sizes[s]);
        }
}

static void print_etcd_table(size_t size)
{
    printf("\n%zu-byte values: ops/s = completed ops per second of wall time over all threads "
           "(goroutines);\nchan/watch: messages delivered per second to all 64 readers; "
           "ratio = ops/s / the named row's ops/s\n", size);
    printf("%-20s %-26s %4s %9s %6s %9s %9s %8s  %s\n", "row", "what", "conc", "ops/s",
           "spread", "p50 us", "p99 us", "ratio", "against");
    for (int i = 0; i < EROWS; i++)
        for (int k = 0; k < nrows; k++) {
            const struct row *r = &rows[k];
            if (r->part != 3 || r->size != size || strcmp(r->name, erows[i].name))
                continue;
            printf("%-20s %-26s %4d", r->name, r->how, r->conc);
            if (r->tput_why) {
                printf(" %9s  %s\n", "-", r->tput_why);
                continue;
            }
            double x = median(r->tput, opt_etcd_runs);
            char group[24];
            snprintf(group, sizeof group, "conc %d", r->conc);
            result_add(3, group, r->name, size, M_OPS, x, min_of(r->tput, opt_etcd_runs),
                       max_of(r->tput, opt_etcd_runs));
            result_add(3, group, r->name, size, "lat_p50_ns", median(r->p50, opt_etcd_runs),
                       min_of(r->p50, opt_etcd_runs), max_of(r->p50, opt_etcd_runs));
            result_add(3, group, r->name, size, "lat_p99_ns", median(r->p99, opt_etcd_runs),
                       min_of(r->p99, opt_etcd_runs), max_of(r->p99, opt_etcd_runs));
            printf(" %9.0f %5.0f%% %9.1f %9.1f", x, 100 * spread(r->tput, opt_etcd_runs),
                   median(r->p50, opt_etcd_runs) / 1e3, median(r->p99, opt_etcd_runs) / 1e3);
            if (erows[i].base) {
                print_ratio(x, etput(erows[i].base, size, r->conc));
                printf("  %s", erows[i].base);
            }
            if (r->errs > 0)
                printf("  (+%.0f failed calls in %d runs, see stderr)", r->errs, opt_etcd_runs);
            printf("\n");
        }
}

/* One target line per size: the ratio at each concurrency, met or not. */
static void etcd_target(const char *what, const char *wom, const char *base, double want)
{
    printf("  %s\n", what);
    for (int s = 0; s < SIZES; s++) {
        printf("    %4zu B:", sizes[s]);
        int chan = strstr(wom, "chan") != NULL;
        for (int c = 0; c < (chan ? 1 : NCONC); c++) {
            int conc = chan ? CHAN_SUBS : concs[c];
            double x = etput(wom, sizes[s], conc), b = etput(base, sizes[s], conc);
            char group[24];
            snprintf(group, sizeof group, "conc %d", conc);
            result_target(3, group, wom, sizes[s], M_OPS, want, base);
            printf("%s conc %3d ", c ? "," : "", conc);
            if (isnan(x) || isnan(b) || b <= 0)
                printf("   n/a NOT MET (no measurement)");
            else
                printf("%7.2fx %s", x / b, x >= want * b ? "MET" : "NOT MET");
        }
        printf("\n");
    }
}

static void print_kills(const char *what, int g)
{
    double gaps[MAX_RUNS];
    int n = 0;
    printf("    %-34s", what);
    for (int k = 0; k < nkills[g]; k++) {
        const struct kill_trial *t = &kills[g][k];
        if (!t->ok || t->who[0] != 'm') {
            printf(" [trial %d: %s]", k + 1, !t->ok ? "FAILED (see stderr)" : "no leader found");
            continue;
        }
        gaps[n++] = t->gap_ns / 1e9;
        printf(" %s%.2f s (%s killed, %.0f ops/s, %.0f failed calls);",
               t->gap_ns / 1e9 >= KILL_RUN - KILL_AT - 0.05 ? ">= " : "", t->gap_ns / 1e9,
               t->who, t->ops_s, t->errors);
    }
    if (n)
        printf(" median %.2f s", median(gaps, n));
    printf("\n");
}

static void print_etcd_part(void)
{
    if (!wanted_cluster())
        return;
    printf("\n==== part 3: an etcd:// cluster: wom's etcd scope against etcd's Go client "
           "(clientv3) ====\n");
    if (etcd_why) {
        printf("skipped: %s\n", etcd_why);
        return;
    }
    printf("cluster: %s (3 etcd members on 127.0.0.1 of this VM, `wom cluster up`: heartbeat "
           "50 ms,\nelection timeout 500 ms); the members and the client share this VM's %ld "
           "CPUs, so these\nnumbers are bounded by the cluster's CPU and fsyncs as much as by "
           "the client. Each row:\nthe MEDIAN of %d runs of ~%.2f s (medians also for p50/p99; "
           "spread = (max - min) / median\nof ops/s). Go: separate runs after a warm-up run. "
           "wom put/append/get: %d consecutive windows\nof one load after a %.2f s warm-up "
           "(calls in flight at the end are waited for once); first\nreads: each run on a new "
           "space handle reads cells never read by it, at most 2048; chan,\nwatch: %d messages "
           "per run. One wom_space (one connection) shared by the threads; one\n"
           "clientv3.Client shared by the goroutines. Go and wom rows interleave, per op and "
           "size.\n", etcd_uri, online_cpus(), opt_etcd_runs, opt_etcd_time,
           opt_etcd_runs, opt_etcd_time / 4, CHAN_MSGS);
    for (int s = 0; s < SIZES; s++)
        print_etcd_table(sizes[s]);
    printf("\ntargets for the cluster part (from the issue; ratios of median ops/s at the same "
           "value size and\nconcurrency); a missed target is reported, never an error:\n");
    etcd_target("write-once puts, one per transaction: wom put >= 1x go put-once",
                "wom put (ONCE)", "go put-once", 1);
    etcd_target("appends, batched: wom append >= 10x go put-once (one put per transaction)",
                "wom append", "go put-once", 10);
    etcd_target("  (the same, against go's plain put)", "wom append", "go put", 10);
    etcd_target("  (the same, each thread appending 64 values a call with wom_append_many)",
                "wom append_many", "go put-once", 10);
    etcd_target("repeated reads of written ONCE cells: wom get, again >= 100x go linearizable "
                "get", "wom get, again", "go get", 100);
    etcd_target("first reads spread over members: wom get, first read >= 2x go linearizable get",
                "wom get, first read", "go get", 2);
    etcd_target("1 writer, 64 subscribers, every subscriber gets every message (checked):\n  "
                "delivered msgs/s >= 1x go (64 watchers of the prefix, one putter)", "wom chan",
                "go watch", 1);
    if (!nkills[0] && !nkills[1]) {
        printf("  leader kill under load: not run (%s)\n",
               opt_wom_cli ? "--etcd-kills 0" : "no --wom-cli");
        return;
    }
    printf("  leader SIGKILLed under load (%d B values, %d threads/goroutines, %.1f s into a "
           "%.1f s run):\n  the longest time without a completed op, per trial (measured; "
           "no target):\n", KILL_SIZE, KILL_CONC, KILL_AT, KILL_RUN);
    print_kills("wom append", 0);
    if (opt_etcd_go)
        print_kills("go put-once", 1);
}

static void print_go_note(void)
{
    if (go_maxprocs > 0)
        printf("\nGo rows: GOMAXPROCS=%d (as reported by the Go runtime). \"ptr\" passes a "
               "[]byte from a pool,\n\"copy\" sends the [N]byte array itself (copied into the "
               "channel and out of it).\n", go_maxprocs);
    else
        printf("\nGo rows: no Go result (GOMAXPROCS requested: %d).\n", opt_gomaxprocs);
    printf("per message: pointer = only a pointer travels (the consumer reads the 2 cache lines "
           "it checks);\ncopy in+out = the payload is copied in and out; copy in+view = copied "
           "in, read in place;\nin place+view = written in place (a wom loan), read in place.\nparks = a Go goroutine blocks and its thread runs other "
           "goroutines; sleeps = blocks in the\nkernel; busy-polls = spins (yielding after "
           "256 tries); spin>sleep = spins ~20 us, yields, sleeps.\n");
}

/* On a machine busier than its cores, waits that spin become bimodal. */
static void load_warning(double load)
{
    if (load >= (double)online_cpus())
        printf("NOTE: load average >= CPU count: other work competes for the cores; busy-polling "
               "and\nspin>sleep rows become bimodal (look at min/max, p99 and the regimes before "
               "trusting a\nratio).\n");
}

static void print_header(void)
{
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
                snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("wom bench: %ld CPUs (%s), load average %.2f; %d samples per cell\n",
           online_cpus(), model, load[0], opt_runs);
    load_warning(load[0]);
    printf("A sample: a fresh transport (for wom a fresh space), a quarter as many messages "
           "as timed run\nthrough it untimed (warm-up: pages touched, allocator recycling), "
           "then ~%.2f s timed.\nSPSC throughput: producer and consumer threads, every message "
           "checked (seq at both ends),\ntimed by the consumer. RTT: one message each way per "
           "round trip; p50 and p99 of a sample's\nround trips. Each row: min, median and max "
           "over the samples (RTT: of their p50; p99: median).\nsamples: the placement regime "
           "of each sample, in order, from a cache-line ping-pong probe\nbetween two threads "
           "just before and just after it: n near (probe < %.0f ns), f far\n(< %.0f ns), "
           "m mixed (the placement changed during the sample), b busy (the probe's\nthreads "
           "could not run at once: the cores are shared). near / far: the median of those "
           "samples\n(RTT: of their p50).\n", opt_time, BENCH_NEAR_NS, BENCH_FAR_NS);
}

/* The probes' own medians per regime: what near and far meant in this run. */
static void print_probe_note(void)
{
    static const char regs[4] = {'n', 'f', 'm', 'b'};
    static const char *const name[4] = {"near", "far", "mixed", "busy"};
    if (!nprobes)
        return;
    printf("\nplacement probes of the %d samples above (cache-line round trip, the slower of "
           "the two\naround each sample; median per regime):", nprobes);
    for (int k = 0, shown = 0; k < 4; k++) {
        double v[MAX_PROBES];
        int n = 0;
        for (int i = 0; i < nprobes; i++)
            if (probes[i].regime == regs[k])
                v[n++] = probes[i].ns;
        if (n) {
            qsort(v, (size_t)n, sizeof *v, cmp_double);
            printf("%s %s %d (%.0f ns)", shown++ ? "," : "", name[k], n, v[n / 2]);
        }
    }
    printf("\n");
}

static int usage(void)
{
    fprintf(stderr, "usage: wom_bench [--go PATH] [--gomaxprocs N] [--runs N(1-%d)] "
            "[--time SECONDS] [--only SUBSTRING|cluster] [--sync-dir DIR]\n"
            "                 [--etcd-dir DIR] [--etcd-go PATH] [--wom-cli PATH] "
            "[--etcd-skip REASON]\n                 [--etcd-runs N] [--etcd-time SECONDS] "
            "[--etcd-kills N] [--no-cluster]\n                 [--results FILE]\n", MAX_RUNS);
    return 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-cluster") == 0) {
            opt_no_cluster = 1;
            continue;
        }
        if (!v)
            return usage();
        if (strcmp(a, "--go") == 0)
            opt_go = v;
        else if (strcmp(a, "--gomaxprocs") == 0)
            opt_gomaxprocs = atoi(v);
        else if (strcmp(a, "--runs") == 0)
            opt_runs = atoi(v);
        else if (strcmp(a, "--time") == 0)
            opt_time = atof(v);
        else if (strcmp(a, "--only") == 0)
            opt_only = v;
        else if (strcmp(a, "--sync-dir") == 0)
            opt_sync_dir = v;
        else if (strcmp(a, "--etcd-dir") == 0)
            opt_etcd_dir = v;
        else if (strcmp(a, "--etcd-go") == 0)
            opt_etcd_go = v;
        else if (strcmp(a, "--wom-cli") == 0)
            opt_wom_cli = v;
        else if (strcmp(a, "--etcd-skip") == 0)
            opt_etcd_skip = v;
        else if (strcmp(a, "--etcd-runs") == 0)
            opt_etcd_runs = atoi(v);
        else if (strcmp(a, "--etcd-time") == 0)
            opt_etcd_time = atof(v);
        else if (strcmp(a, "--etcd-kills") == 0)
            opt_etcd_kills = atoi(v);
        else if (strcmp(a, "--results") == 0)
            opt_results = v;
        else
            return usage();
        i++;
    }
    if (opt_runs < 1 || opt_runs > MAX_RUNS || !(opt_time > 0 && opt_time < 60) ||
        opt_gomaxprocs < 1 || opt_gomaxprocs > 1024 || opt_etcd_runs < 1 ||
        opt_etcd_runs > MAX_RUNS || !(opt_etcd_time > 0 && opt_etcd_time < 60) ||
        opt_etcd_kills < 0 || opt_etcd_kills > MAX_RUNS)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    bench_run_limit_ns = (int64_t)(3 * opt_time * 1e9);
    int64_t t0 = wom__now_ns();
    print_header();
    /* --only cluster (or etcd): the cluster part alone. */
    int others = !opt_only || !wanted_cluster();
    if (others && wanted("go chan"))
        run_go();
    if (others) {
        run_c();
        run_fanout();
        run_ipc();
    }
    run_etcd();
    fprintf(stderr, "\n");
    if (!others)
        goto cluster;
    print_go_note();
    for (int t = 1; t >= 0; t--)
        for (int s = 0; s < SIZES; s++)
            print_table(t, sizes[s]);
    print_fanout();
    print_ops();
    printf("\ntargets (from the issues named), against Go's forms as each line says, on the "
           "medians over\nall samples (in brackets: per regime, where both rows have samples in "
           "it); a missed target\nis reported, never an error:\n");
    target_tput(64, (const double[2]){2, 3}, 0,
                "issue 10: threads, 64 B: copy in and out >= 2x Go's buffered channel (cap "
                "1024); zero copy >= 3x");
    target_tput(4096, (const double[2]){1.5, 4}, 1,
                "issue 10: threads, 4 KiB: copy >= 1.5x Go by value (buffered, cap 1024); zero "
                "copy >= 4x");
    target_fanout();
    target_put();
    target_rtt(64, "issue 2 (still in force): ping-pong RTT p50 <= 0.5x Go's unbuffered channel "
                   "(64 B)");
    target_rtt(4096, "issue 2 (still in force): ping-pong RTT p50 <= 0.5x Go's unbuffered "
                     "channel (4 KiB)");
    print_ipc_part();
    print_probe_note();
cluster:
    print_etcd_part();
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("\ntotal %.0f s; load average at the end %.2f\n",
           (double)(wom__now_ns() - t0) / 1e9, load[0]);
    load_warning(load[0]);
    return results_write() ? 1 : 0;
}
