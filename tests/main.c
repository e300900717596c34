/* The test runner: each test in its own child with a timeout; the last line
 * is "N passed, N failed". Usage: wom_tests [--concurrent] [--list] [NAME...]
 * where NAME selects tests whose name contains it. */
#include "harness.h"
#include "wom.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 512

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

uint64_t wom_test_n(uint64_t n)
{
    const char *s = getenv("WOM_TEST_SCALE");
    double k = s ? atof(s) : 1.0;
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

int64_t wom_test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int selected(const struct test *t, int concurrent, int argc, char **argv)
{
    if (concurrent && !(t->flags & T_CONCURRENT))
        return 0;
    if (argc == 0)
        return 1;
    for (int i = 0; i < argc; i++)
        if (strstr(t->name, argv[i]))
            return 1;
    return 0;
}

static int run_one(const struct test *t)
{
    int64_t t0 = wom_test_now_ns();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        alarm((unsigned)t->timeout_s);
        t->fn();
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    double ms = (double)(wom_test_now_ns() - t0) / 1e6;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok   %-40s %9.1f ms\n", t->name, ms);
        return 1;
    }
    if (WIFSIGNALED(st))
        printf("FAIL %-40s killed by signal %d%s\n", t->name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    else
        printf("FAIL %-40s exit %d\n", t->name, WEXITSTATUS(st));
    return 0;
}

int main(int argc, char **argv)
{
    int concurrent = 0, list = 0;
    const char *s = getenv("WOM_TEST_SEED");
    seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (argc > 1 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "--concurrent"))
            concurrent = 1;
        else if (!strcmp(argv[1], "--list"))
            list = 1;
        else {
            fprintf(stderr, "usage: wom_tests [--concurrent] [--list] [NAME...]\n");
            return 2;
        }
        argc--, argv++;
    }
    int passed = 0, failed = 0;
    printf("# seed %" PRIu64 "\n", seed);
    for (int i = 0; i < ntests; i++) {
        if (!selected(&tests[i], concurrent, argc - 1, argv + 1))
            continue;
        if (list) {
            printf("%s\n", tests[i].name);
            continue;
        }
        if (run_one(&tests[i]))
            passed++;
        else
            failed++;
    }
    if (!list)
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
