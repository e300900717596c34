/* The test runner: each test in its own child with a timeout; the last line
 * is "N passed, N failed".
 *
 * Usage: wom_tests [--concurrent] [--conformance] [--uri URI] [--list] [NAME...]
 *   --concurrent   only the tests flagged T_CONCURRENT (the sanitizer runs)
 *   --conformance  only the conformance suite (T_CONFORM, harness.h)
 *   --uri URI      the scope the conformance tests run on, as a template
 *                  from which every wom_test_space call makes a fresh space:
 *       mem:[;OPTS]      a new private mem: space per call (the default)
 *       shm:[DIR][;OPTS] a new file per call, in a private directory the
 *                        runner makes under DIR (default /dev/shm if it is
 *                        a directory, so RAM-backed, else $TMPDIR or /tmp);
 *                        a file goes when its last handle is closed, and
 *                        whatever a test left (it failed, crashed or timed
 *                        out) goes when the test ends, the directory at exit
 *     OPTS are options of that scope given to every space; an option the
 *     test gives itself (";size=64M", which both scopes take) replaces the
 *     template's of that name.
 *       etcd://H:P[,H:P...]/PREFIX[;OPTS]  a fresh key prefix per call under
 *                        PREFIX, on a cluster the caller runs (scripts/test.sh
 *                        starts one with wom cluster up)
 *   --list         print the names of the selected tests
 *   NAME...        only tests whose name contains one of the NAMEs
 * A test that cannot hold on the scope ends with wom_test_skip: the runner
 * prints "skip NAME  skipped on SCOPE: why" and counts it as passed (a
 * "# N skipped" line comes before the last line).
 * Environment: WOM_TEST_SEED (the run's seed), WOM_TEST_SCALE (loop counts;
 * on etcd:// they are also scaled by ETCD_SCALE). */
#include "harness.h"
#include "util/clock.h"
#include "wom.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 512
#define SKIPPED_EXIT 77 /* a child's exit status: wom_test_skip */

struct test {
    const char *name;
    int flags;
    int timeout_s;
    wom_test_fn fn;
};

static struct test tests[MAX_TESTS];
static int ntests;
static uint64_t seed;

void wom_test_register(const char *name, int flags, int timeout_s, wom_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    tests[ntests++] = (struct test){name, flags, timeout_s, fn};
}

void wom_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (seed %" PRIu64 ")\n", seed);
    fflush(stderr);
    _exit(1);
}

/* A cluster round trip costs what a thousand of a local scope's operations
 * do: loop counts on etcd:// are scaled down by this much more. */
#define ETCD_SCALE 0.002

uint64_t wom_test_n(uint64_t n)
{
    const char *s = getenv("WOM_TEST_SCALE");
    double k = s ? atof(s) : 1.0;
    if (!strcmp(wom_test_scope(), "etcd"))
        k *= ETCD_SCALE;
    uint64_t m = (uint64_t)((double)n * k);
    return m ? m : 1;
}

uint64_t wom_test_seed(void) { return seed; }

uint64_t wom_test_rand(uint64_t *x)
{
    /* splitmix64 */
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t wom_test_now_ns(void) { return wom__now_ns(); }

/* ---- the scope under test ---- */

static struct {
    char scope[8];       /* "mem", "shm" or "etcd" */
    char opts[256];      /* the template's options, with their ';' */
    char dir[PATH_MAX];  /* shm: the run's private directory, "" before */
    char base[PATH_MAX]; /* etcd: "//H:P,.../PREFIX", under which each space
                            gets a prefix of its own */
} uri = {"mem", "", "", ""};

/* A skip's reason, written by the test's child into memory the runner
 * shares with it (the exit status only says "skipped"). */
static char *skip_why;
enum { SKIP_WHY_MAX = 512 };

const char *wom_test_scope(void) { return uri.scope; }

void wom_test_skip(const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(skip_why, SKIP_WHY_MAX, "skipped on %s: ", uri.scope);
    va_start(ap, fmt);
    vsnprintf(skip_why + n, SKIP_WHY_MAX - (size_t)n, fmt, ap);
    va_end(ap);
    fflush(stdout);
    _exit(SKIPPED_EXIT);
}

/* The handles a test opened with wom_test_space(_again), in its child.
 * On mem: one entry per space, counted; on shm: one per handle, and the
 * file goes with the last entry of its path. */
#define MAX_HANDLES 128
static struct handle {
    wom_space *s;
    unsigned refs;
    char path[PATH_MAX + 32]; /* shm: the space's file */
} handles[MAX_HANDLES];
static unsigned nfiles;
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1 when the options opts (";k=v;k2") hold one named like the option at o. */
static int has_option(const char *opts, const char *o)
{
    size_t klen = strcspn(o + 1, "=;");
    for (const char *p = opts; p && (p = strchr(p, ';')); p++)
        if (!strncmp(p + 1, o + 1, klen) && strchr("=;", p[1 + klen]))
            return 1;
    return 0;
}

/* Open uri's scope + path + the template's options, but those the test's
 * own options name again (mem: takes one ;size=), then the test's; and
 * record the handle. Called with handles_lock held. */
static int handle_open(const char *path, const char *opts, wom_space **out)
{
    char u[2 * PATH_MAX];
    size_t n = (size_t)snprintf(u, sizeof u, "%s:%s", uri.scope, path);
    for (const char *o = uri.opts; *o; o += 1 + strcspn(o + 1, ";"))
        if (!has_option(opts, o) && n < sizeof u)
            n += (size_t)snprintf(u + n, sizeof u - n, "%.*s", (int)(1 + strcspn(o + 1, ";")), o);
    if (n < sizeof u)
        n += (size_t)snprintf(u + n, sizeof u - n, "%s", opts ? opts : "");
    CHECK_MSG(n < sizeof u, "wom_test_space: URI too long");
    int i = 0;
    while (i < MAX_HANDLES && handles[i].s)
        i++;
    CHECK_MSG(i < MAX_HANDLES, "wom_test_space: more than %d handles open", MAX_HANDLES);
    wom_space *s;
    int rc = wom_open(u, &s);
    if (rc)
        return rc;
    handles[i].s = s;
    handles[i].refs = 1;
    snprintf(handles[i].path, sizeof handles[i].path, "%s", path);
    *out = s;
    return 0;
}

static struct handle *handle_of(wom_space *s)
{
    for (int i = 0; i < MAX_HANDLES; i++)
        if (handles[i].s == s)
            return &handles[i];
    wom_test_fail(__FILE__, __LINE__, "not a space of wom_test_space: %p", (void *)s);
}

int wom_test_space(const char *opts, wom_space **out)
{
    char path[PATH_MAX + 32] = "";
    pthread_mutex_lock(&handles_lock);
    if (!strcmp(uri.scope, "shm"))
        snprintf(path, sizeof path, "%s/%ld-%u.wom", uri.dir, (long)getpid(), nfiles++);
    else if (!strcmp(uri.scope, "etcd") && opts && has_option(opts, ";size=")) {
        pthread_mutex_unlock(&handles_lock);
        wom_test_skip(";size= is the reserved range of an engine-backed space; a cluster "
                      "has none");
    } else if (!strcmp(uri.scope, "etcd")) /* a fresh prefix; the cluster is the run's */
        snprintf(path, sizeof path, "%s/%ld-%ld-%u", uri.base, (long)time(NULL), (long)getpid(),
                 nfiles++);
    int rc = handle_open(path, opts, out);
    pthread_mutex_unlock(&handles_lock);
    return rc;
}

int wom_test_space_again(wom_space *s, wom_space **out)
{
    pthread_mutex_lock(&handles_lock);
    struct handle *h = handle_of(s);
    int rc = 0;
    if (!strcmp(uri.scope, "mem")) {
        h->refs++;
        *out = s;
    } else {
        char path[sizeof h->path];
        memcpy(path, h->path, sizeof path);
        rc = handle_open(path, NULL, out);
    }
    pthread_mutex_unlock(&handles_lock);
    return rc;
}

void wom_test_space_close(wom_space *s)
{
    pthread_mutex_lock(&handles_lock);
    struct handle *h = handle_of(s);
    if (--h->refs == 0) {
        wom_close(s);
        h->s = NULL;
        int last = 1;
        for (int i = 0; i < MAX_HANDLES; i++)
            if (handles[i].s && !strcmp(handles[i].path, h->path))
                last = 0;
        if (last && h->path[0] && !strcmp(uri.scope, "shm"))
            CHECK_MSG(unlink(h->path) == 0, "cannot remove %s", h->path);
    }
    pthread_mutex_unlock(&handles_lock);
}

/* Remove what the tests left in the run's directory (one level of files). */
static void scope_clean(int remove_dir)
{
    if (!uri.dir[0])
        return;
    DIR *d = opendir(uri.dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[PATH_MAX + 300];
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            if (snprintf(p, sizeof p, "%s/%s", uri.dir, e->d_name) < (int)sizeof p)
                unlink(p);
    }
    if (d)
        closedir(d);
    if (remove_dir)
        rmdir(uri.dir);
}

/* Take the --uri template: its scope, options and, for shm:, make the
 * run's private directory. 0, or -1 after saying why. */
static int scope_set(const char *t)
{
    const char *colon = strchr(t, ':'), *semi = strchr(t, ';');
    if (!colon || (semi && semi < colon) || (size_t)(colon - t) >= sizeof uri.scope ||
        strlen(semi ? semi : "") >= sizeof uri.opts) {
        fprintf(stderr, "wom_tests: --uri %s: expected mem:[;OPTS] or shm:[DIR][;OPTS]\n", t);
        return -1;
    }
    memcpy(uri.scope, t, (size_t)(colon - t));
    uri.scope[colon - t] = 0;
    snprintf(uri.opts, sizeof uri.opts, "%s", semi ? semi : "");
    size_t dirlen = semi ? (size_t)(semi - colon - 1) : strlen(colon + 1);
    if (!strcmp(uri.scope, "mem") && dirlen == 0)
        return 0;
    if (!strcmp(uri.scope, "etcd")) { /* etcd://H:P,.../BASE: the cluster is given */
        const char *hosts = colon + 1;
        if (dirlen < 4 || strncmp(hosts, "//", 2) || !memchr(hosts + 2, '/', dirlen - 2) ||
            dirlen >= sizeof uri.base) {
            fprintf(stderr, "wom_tests: --uri %s: expected etcd://H:P[,H:P...]/PREFIX\n", t);
            return -1;
        }
        snprintf(uri.base, sizeof uri.base, "%.*s", (int)dirlen, hosts);
        return 0;
    }
    char base[PATH_MAX - 32];
    if (strcmp(uri.scope, "shm") || dirlen >= sizeof base) {
        fprintf(stderr, "wom_tests: --uri %s: scope not testable here (mem:, shm: or etcd://)\n",
                t);
        return -1;
    }
    struct stat st;
    const char *tmp = getenv("TMPDIR");
    if (dirlen)
        snprintf(base, sizeof base, "%.*s", (int)dirlen, colon + 1);
    else
        snprintf(base, sizeof base, "%s",
                 !stat("/dev/shm", &st) && S_ISDIR(st.st_mode) && !access("/dev/shm", W_OK)
                     ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp");
    snprintf(uri.dir, sizeof uri.dir, "%s/wom-tests-XXXXXX", base);
    if (!mkdtemp(uri.dir)) {
        fprintf(stderr, "wom_tests: --uri %s: cannot make a directory in %s: %s\n", t, base,
                strerror(errno));
        uri.dir[0] = 0;
        return -1;
    }
    return 0;
}

/* The harness's own promises, on the scope under test: a second handle
 * reaches the same space and outlives the first, the last close removes
 * the space's file, and a skip is exit status SKIPPED_EXIT with its reason. */
TEST(harness_spaces_and_skip, T_CONFORM)
{
    wom_space *s, *t;
    wom_region *r, *q;
    char b[4];
    size_t n;
    CHECK_OK(wom_test_space(";size=64M", &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    CHECK_OK(wom_put(r, 0, "abc", 3));
    CHECK_OK(wom_test_space_again(s, &t));
    CHECK_OK(wom_region_open(t, "r", WOM_ONCE, &q));
    wom_region_close(r);
    wom_test_space_close(s);
    CHECK_OK(wom_get(q, 0, b, sizeof b, &n, 0));
    CHECK(n == 3 && !memcmp(b, "abc", 3));
    wom_region_close(q);
    wom_test_space_close(t);
    DIR *d = uri.dir[0] ? opendir(uri.dir) : NULL;
    for (struct dirent *e; d && (e = readdir(d));)
        CHECK_MSG(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."), "%s left", e->d_name);
    if (d)
        closedir(d);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        wom_test_skip("%s", "a reason");
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == SKIPPED_EXIT);
    char want[64];
    snprintf(want, sizeof want, "skipped on %s: a reason", uri.scope);
    CHECK(!strcmp(skip_why, want));
    skip_why[0] = 0; /* this test passed */
}

/* ---- running ---- */

static volatile sig_atomic_t stop_signal; /* SIGINT or SIGTERM to the runner */

/* wom_test_on_abandon's command: written by the test's process, run by the
 * runner after reaping it (MAP_SHARED, so the runner sees the child's). */
#define ABANDON_MAX 4096
static char *abandon;

void wom_test_on_abandon(const char *cmd)
{
    if (abandon)
        snprintf(abandon, ABANDON_MAX, "%s", cmd ? cmd : "");
}

/* Run the command a reaped test left, if any. */
static void abandon_run(void)
{
    if (!abandon || !abandon[0])
        return;
    abandon[ABANDON_MAX - 1] = 0;
    fflush(stdout);
    if (system(abandon) != 0)
        printf("     (its cleanup command failed: %s)\n", abandon);
    abandon[0] = 0;
}

static void on_stop(int sig) { stop_signal = sig; }

/* Without SA_RESTART, so that the runner's waitpid returns to see it. */
static void catch_stop(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int selected(const struct test *t, int flags, int argc, char **argv)
{
    if ((t->flags & flags) != flags)
        return 0;
    if (argc == 0)
        return 1;
    for (int i = 0; i < argc; i++)
        if (strstr(t->name, argv[i]))
            return 1;
    return 0;
}

/* Run t in a child; 1 passed, 0 failed, 2 skipped. */
static int run_one(const struct test *t)
{
    int64_t t0 = wom_test_now_ns();
    fflush(stdout);
    skip_why[0] = 0;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        alarm((unsigned)t->timeout_s);
        t->fn();
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        if (stop_signal)
            kill(pid, SIGKILL); /* then reaped by the next waitpid */
    abandon_run();
    scope_clean(0);
    double ms = (double)(wom_test_now_ns() - t0) / 1e6;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok   %-40s %9.1f ms\n", t->name, ms);
        return 1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKIPPED_EXIT && skip_why[0]) {
        skip_why[SKIP_WHY_MAX - 1] = 0;
        printf("skip %-40s %s\n", t->name, skip_why);
        return 2;
    }
    if (WIFSIGNALED(st))
        printf("FAIL %-40s killed by signal %d%s\n", t->name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    else
        printf("FAIL %-40s exit %d\n", t->name, WEXITSTATUS(st));
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: wom_tests [--concurrent] [--conformance] [--uri URI] [--list] "
                    "[NAME...]\n  URI: mem:[;OPTS] (default), shm:[DIR][;OPTS] or "
                    "etcd://H:P[,H:P...]/PREFIX[;OPTS], a fresh space per test space (see "
                    "tests/main.c)\n");
    return 2;
}

int main(int argc, char **argv)
{
    int flags = 0, list = 0;
    const char *template = "mem:";
    const char *s = getenv("WOM_TEST_SEED");
    seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (argc > 1 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "--concurrent"))
            flags |= T_CONCURRENT;
        else if (!strcmp(argv[1], "--conformance"))
            flags |= T_CONFORM;
        else if (!strcmp(argv[1], "--list"))
            list = 1;
        else if (!strcmp(argv[1], "--uri") && argc > 2)
            template = argv[2], argc--, argv++;
        else
            return usage();
        argc--, argv++;
    }
    if (list) {
        for (int i = 0; i < ntests; i++)
            if (selected(&tests[i], flags, argc - 1, argv + 1))
                printf("%s\n", tests[i].name);
        return 0;
    }
    skip_why = mmap(NULL, SKIP_WHY_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    abandon = mmap(NULL, ABANDON_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (skip_why == MAP_FAILED || abandon == MAP_FAILED || scope_set(template))
        return 2;
    catch_stop(SIGINT);
    catch_stop(SIGTERM);
    int passed = 0, failed = 0, skipped = 0;
    printf("# seed %" PRIu64 "\n", seed);
    if (uri.dir[0])
        printf("# uri %s (a fresh file per space in %s)\n", template, uri.dir);
    else if (strcmp(template, "mem:"))
        printf("# uri %s (a fresh space per test space)\n", template);
    for (int i = 0; i < ntests && !stop_signal; i++) {
        if (!selected(&tests[i], flags, argc - 1, argv + 1))
            continue;
        int r = run_one(&tests[i]);
        passed += r != 0;
        failed += r == 0;
        skipped += r == 2;
    }
    scope_clean(1);
    if (stop_signal) {
        signal(stop_signal, SIG_DFL);
        raise(stop_signal);
    }
    if (skipped)
        printf("# %d skipped (counted as passed)\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
