/*
 * fault_test.c - a file that shrinks under a watched mapping (src/util/fault.h):
 * the faulting accesses complete on zero pages with the watch's protection
 * and raise the watcher's flag; the pages the file still has keep writing
 * through; SIGBUS anywhere else still reaches the handler installed before
 * wom's, or kills the process with SIGBUS.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util/fault.h"
#include "wom.h"

static size_t pg(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* An unlinked temporary file of `pages` pages, page i filled with byte
 * 0xa0 + i, written through the descriptor. */
static int tfile(size_t pages)
{
    char path[] = "/tmp/wom-fault-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(unlink(path) == 0);
    unsigned char *b = malloc(pg());
    CHECK(b);
    for (size_t i = 0; i < pages; i++) {
        memset(b, 0xa0 + (int)i, pg());
        CHECK(pwrite(fd, b, pg(), (off_t)(i * pg())) == (ssize_t)pg());
    }
    free(b);
    return fd;
}

static unsigned char *map(int fd, size_t pages, int prot)
{
    void *p = mmap(NULL, pages * pg(), prot, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    return p;
}

/* Every byte of page p (of mapping m) reads as v. */
static int page_is(const unsigned char *m, size_t p, unsigned char v)
{
    const volatile unsigned char *q = m + p * pg();
    for (size_t i = 0; i < pg(); i++)
        if (q[i] != v)
            return 0;
    return 1;
}

/* sig to its default action. ASan installs its own SIGBUS and SIGSEGV
 * handlers, which report and abort; the tests that expect a death by the
 * signal itself say that the program left the signal at its default. */
static void default_signal(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    CHECK(sigaction(sig, &dfl, NULL) == 0);
}

/* Run fn(arg) in a child and return its wait status (no core file). */
static int in_child(void (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        fn(arg);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    return st;
}

static int killed_by(int st, int sig) { return WIFSIGNALED(st) && WTERMSIG(st) == sig; }

/* ---- a shrunk file under a watched mapping ---- */

TEST(fault_shrunk_rw_mapping_reads_zero_and_flags, T_UNIT)
{
    int fd = tfile(3);
    unsigned char *m = map(fd, 3, PROT_READ | PROT_WRITE);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(m, 3 * pg(), PROT_READ | PROT_WRITE, &broken));
    CHECK(page_is(m, 2, 0xa2)); /* still whole */
    CHECK_EQ(ld_relaxed(&broken), 0);

    CHECK(ftruncate(fd, (off_t)pg()) == 0);
    CHECK(page_is(m, 1, 0) && page_is(m, 2, 0));
    CHECK_EQ(ld_relaxed(&broken), 1);
    m[pg() + 5] = 7; /* lands in the private zero page */
    m[2 * pg() + 5] = 9;
    CHECK_EQ(m[pg() + 5], 7);
    CHECK_EQ(m[2 * pg() + 5], 9);

    /* The page the file still has is the file's, both ways. */
    CHECK(page_is(m, 0, 0xa0));
    m[3] = 0x55;
    unsigned char b[8];
    CHECK(pread(fd, b, sizeof b, 0) == (ssize_t)sizeof b);
    CHECK_EQ(b[3], 0x55);
    CHECK_EQ(b[4], 0xa0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)pg()); /* nothing grew it */

    wom__fault_unwatch(m);
    CHECK(munmap(m, 3 * pg()) == 0);
    close(fd);
}

static void write_page(void *p) { *(volatile unsigned char *)p = 1; }

TEST(fault_shrunk_ro_mapping_reads_zero_and_stays_read_only, T_UNIT)
{
    int fd = tfile(3);
    unsigned char *m = map(fd, 3, PROT_READ);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(m, 3 * pg(), PROT_READ, &broken));
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(page_is(m, 0, 0) && page_is(m, 1, 0) && page_is(m, 2, 0));
    CHECK_EQ(ld_relaxed(&broken), 1);
    default_signal(SIGSEGV);
    CHECK(killed_by(in_child(write_page, m + pg()), SIGSEGV));
    wom__fault_unwatch(m);
    CHECK(munmap(m, 3 * pg()) == 0);
    close(fd);
}

/* shm:PATH;ro maps the space read-only but for one writable wake page: the
 * page watched again with its own protection stays writable. */
TEST(fault_narrowest_watch_gives_the_page_its_protection, T_UNIT)
{
    int fd = tfile(3);
    unsigned char *m = map(fd, 3, PROT_READ);
    CHECK(mprotect(m + pg(), pg(), PROT_READ | PROT_WRITE) == 0);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(m, 3 * pg(), PROT_READ, &broken));
    CHECK_OK(wom__fault_watch(m + pg(), pg(), PROT_READ | PROT_WRITE, &broken));
    CHECK(ftruncate(fd, 0) == 0);
    m[pg() + 1] = 3;
    CHECK_EQ(m[pg() + 1], 3);
    CHECK(page_is(m, 2, 0));
    default_signal(SIGSEGV);
    CHECK(killed_by(in_child(write_page, m + 2 * pg()), SIGSEGV));
    CHECK_EQ(ld_relaxed(&broken), 1);
    wom__fault_unwatch(m + pg());
    wom__fault_unwatch(m);
    CHECK(munmap(m, 3 * pg()) == 0);
    close(fd);
}

/* ---- SIGBUS that is not wom's ---- */

static void read_shrunk(void *arg)
{
    (void)arg;
    int fd = tfile(2);
    unsigned char *m = map(fd, 2, PROT_READ);
    CHECK(ftruncate(fd, 0) == 0);
    (void)*(volatile unsigned char *)(m + pg());
    _exit(3); /* survived: wrong */
}

static void raise_sigbus(void *arg)
{
    (void)arg;
    raise(SIGBUS);
    _exit(3);
}

TEST(fault_unwatched_sigbus_still_kills, T_UNIT)
{
    default_signal(SIGBUS);
    int fd = tfile(1);
    unsigned char *m = map(fd, 1, PROT_READ);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(m, pg(), PROT_READ, &broken));
    CHECK(killed_by(in_child(read_shrunk, NULL), SIGBUS));
    CHECK(killed_by(in_child(raise_sigbus, NULL), SIGBUS)); /* sent, not a fault */
    CHECK_EQ(ld_relaxed(&broken), 0);
    wom__fault_unwatch(m);
    munmap(m, pg());
    close(fd);
}

static void read_page(void *p) { (void)*(volatile unsigned char *)p; }

TEST(fault_unwatched_mapping_is_not_ours, T_UNIT)
{
    default_signal(SIGBUS);
    int fd = tfile(2);
    unsigned char *m = map(fd, 2, PROT_READ);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(m, 2 * pg(), PROT_READ, &broken));
    wom__fault_unwatch(m);
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(killed_by(in_child(read_page, m + pg()), SIGBUS));
    CHECK_EQ(ld_relaxed(&broken), 0);
    munmap(m, 2 * pg());
    close(fd);
}

static sigjmp_buf user_jump;
static wom_a32 user_calls;
static wom_a64 user_addr;

static void user_siginfo_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (sig == SIGBUS && si->si_code == BUS_ADRERR) {
        st_relaxed(&user_addr, (uint64_t)(uintptr_t)si->si_addr);
        faa_relaxed(&user_calls, 1);
    }
    siglongjmp(user_jump, 1);
}

/* The program's handler, installed before wom's, still sees the faults on
 * its own mappings; its siglongjmp restores a mask in which wom's next
 * fault is handled. */
TEST(fault_earlier_handler_still_called, T_UNIT)
{
    struct sigaction sa = {.sa_sigaction = user_siginfo_handler};
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGBUS, &sa, NULL) == 0);

    int fa = tfile(2), fb = tfile(2);
    unsigned char *a = map(fa, 2, PROT_READ), *b = map(fb, 2, PROT_READ);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(a, 2 * pg(), PROT_READ, &broken));
    CHECK(ftruncate(fb, 0) == 0);
    if (sigsetjmp(user_jump, 1) == 0) {
        (void)*(volatile unsigned char *)(b + pg() + 8);
        CHECK_MSG(0, "a read past the end of b completed");
    }
    CHECK_EQ(ld_relaxed(&user_calls), 1);
    CHECK(ld_relaxed(&user_addr) == (uint64_t)(uintptr_t)(b + pg() + 8));
    CHECK_EQ(ld_relaxed(&broken), 0);

    CHECK(ftruncate(fa, (off_t)pg()) == 0);
    CHECK(page_is(a, 1, 0) && page_is(a, 0, 0xa0));
    CHECK_EQ(ld_relaxed(&broken), 1);
    CHECK_EQ(ld_relaxed(&user_calls), 1);
    wom__fault_unwatch(a);
    munmap(a, 2 * pg());
    munmap(b, 2 * pg());
    close(fa);
    close(fb);
}

static unsigned char *user_fix_page;

/* A plain (not SA_SIGINFO) handler that repairs the access and returns. */
static void user_plain_handler(int sig)
{
    (void)sig;
    faa_relaxed(&user_calls, 1);
    void *p = mmap(user_fix_page, pg(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        _exit(4);
}

TEST(fault_earlier_plain_handler_returns, T_UNIT)
{
    struct sigaction sa = {.sa_handler = user_plain_handler};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
    int fa = tfile(1), fb = tfile(1);
    unsigned char *a = map(fa, 1, PROT_READ), *b = map(fb, 1, PROT_READ);
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(a, pg(), PROT_READ, &broken));
    user_fix_page = b;
    CHECK(ftruncate(fb, 0) == 0);
    CHECK(page_is(b, 0, 0));
    CHECK_EQ(ld_relaxed(&user_calls), 1);
    CHECK_EQ(ld_relaxed(&broken), 0);
    wom__fault_unwatch(a);
    munmap(a, pg());
    munmap(b, pg());
    close(fa);
    close(fb);
}

/* ---- the table ---- */

TEST(fault_table_full_and_bad_arguments, T_UNIT)
{
    size_t n = WOM_FAULT_MAX + 1;
    unsigned char *m = mmap(NULL, n * pg(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    wom_a32 broken = 0;
    CHECK_ERR(wom__fault_watch(NULL, pg(), PROT_READ, &broken), WOM_EINVAL);
    CHECK_ERR(wom__fault_watch(m, 0, PROT_READ, &broken), WOM_EINVAL);
    for (size_t i = 0; i < WOM_FAULT_MAX; i++)
        CHECK_OK(wom__fault_watch(m + i * pg(), pg(), PROT_READ, &broken));
    CHECK_ERR(wom__fault_watch(m + (n - 1) * pg(), pg(), PROT_READ, &broken), WOM_ENOMEM);
    wom__fault_unwatch(m + 7 * pg());
    CHECK_OK(wom__fault_watch(m + (n - 1) * pg(), pg(), PROT_READ, &broken));
    for (size_t i = 0; i < n; i++)
        wom__fault_unwatch(m + i * pg());
    CHECK_OK(wom__fault_watch(m, pg(), PROT_READ, &broken)); /* all free again */
    wom__fault_unwatch(m);
    munmap(m, n * pg());
}

/* ---- threads faulting at once ---- */

enum { FT_THREADS = 4, FT_PAGES = 8 }; /* pages per thread */

struct fault_run {
    unsigned char *m; /* page 0 kept, page 1 read by all, then FT_PAGES each */
    pthread_barrier_t bar;
    wom_a32 bad;
};

struct fault_arg {
    struct fault_run *run;
    int id;
};

static void *fault_thread(void *p)
{
    struct fault_arg *a = p;
    struct fault_run *r = a->run;
    pthread_barrier_wait(&r->bar);
    for (int k = 0; k < FT_PAGES; k++) {
        volatile unsigned char *q = r->m + (2 + (size_t)a->id * FT_PAGES + (size_t)k) * pg();
        if (r->m[pg() + (size_t)k] != 0 || q[k] != 0)
            faa_relaxed(&r->bad, 1);
        q[k] = (unsigned char)(a->id + 1);
        if (q[k] != a->id + 1)
            faa_relaxed(&r->bad, 1);
    }
    return NULL;
}

TEST(fault_threads_fault_at_once, T_CONCURRENT)
{
    size_t pages = 2 + FT_THREADS * FT_PAGES;
    int fd = tfile(pages);
    struct fault_run r = {.m = map(fd, pages, PROT_READ | PROT_WRITE)};
    wom_a32 broken = 0;
    CHECK_OK(wom__fault_watch(r.m, pages * pg(), PROT_READ | PROT_WRITE, &broken));
    CHECK(ftruncate(fd, (off_t)pg()) == 0);
    CHECK(pthread_barrier_init(&r.bar, NULL, FT_THREADS) == 0);
    pthread_t t[FT_THREADS];
    struct fault_arg args[FT_THREADS];
    for (int i = 0; i < FT_THREADS; i++) {
        args[i] = (struct fault_arg){&r, i};
        CHECK(pthread_create(&t[i], NULL, fault_thread, &args[i]) == 0);
    }
    for (int i = 0; i < FT_THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK_EQ(ld_relaxed(&r.bad), 0);
    CHECK_EQ(ld_relaxed(&broken), 1);
    CHECK(page_is(r.m, 0, 0xa0));
    pthread_barrier_destroy(&r.bar);
    wom__fault_unwatch(r.m);
    munmap(r.m, pages * pg());
    close(fd);
}
