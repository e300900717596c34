/*
 * shm_enospc_test.c - a shm: space on a full file system. Appends that find
 * no room fail with WOM_ENOSPC (never SIGBUS, never a torn or lost value);
 * once everything is trimmed they succeed again, in new chunks too, cycle
 * after cycle, although the released chunks that keep their blocks (warm)
 * hold the file system full.
 *
 * Each test mounts a small tmpfs of its own in a private mount namespace of
 * its child process (so it needs root; it says "skipped" otherwise), and
 * the mount goes away with the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <unistd.h>

#include "harness.h"
#include "wom.h"

#define MAX_ADDR 65536u

/* A file system of `size` (a tmpfs size= string) mounted on a fresh
 * directory in dir; 0 when the test should be skipped (reason printed). */
static int small_fs(const char *size, char *dir, size_t cap)
{
    if (geteuid() != 0) {
        printf("  skipped: needs root to mount a small tmpfs\n");
        return 0;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        printf("  skipped: unshare(CLONE_NEWNS): %s\n", strerror(errno));
        return 0;
    }
    /* Mounts made here must not reach the parent's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("  skipped: private mounts: %s\n", strerror(errno));
        return 0;
    }
    snprintf(dir, cap, "/tmp/wom-enospc-XXXXXX");
    CHECK(mkdtemp(dir));
    char opts[32];
    snprintf(opts, sizeof opts, "size=%s", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
        printf("  skipped: mount tmpfs: %s\n", strerror(errno));
        rmdir(dir);
        return 0;
    }
    return 1;
}

static void small_fs_remove(const char *dir, const char *file)
{
    CHECK(unlink(file) == 0);
    CHECK(umount2(dir, MNT_DETACH) == 0 && rmdir(dir) == 0);
}

/* Take every block left in the file system with another file. */
static void hog(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CHECK(fd >= 0);
    off_t at = 0;
    for (off_t step = 1 << 20; step >= 4096; step /= 16)
        while (fallocate(fd, 0, at, step) == 0)
            at += step;
    CHECK(errno == ENOSPC);
    close(fd);
}

/* The log under test, and what it acknowledged: keys[a] is the key of the
 * value appended at address a (0: none, a hole or not appended). Every
 * word of a value follows from its key, so a torn, partial or foreign
 * value cannot pass value_ok. */
struct log {
    wom_region *r;
    size_t len;
    uint64_t next_key;
    uint64_t keys[MAX_ADDR];
    uint64_t buf[(1u << 20) / 8], got[(1u << 20) / 8];
};

static void value_fill(uint64_t key, uint64_t *w, size_t len)
{
    for (size_t i = 0; i < len / 8; i++)
        w[i] = key * 0x9e3779b97f4a7c15ull ^ i;
}

static int value_ok(const struct log *l, uint64_t key, const void *p, size_t len)
{
    const uint64_t *w = p;
    if (len != l->len)
        return 0;
    for (size_t i = 0; i < len / 8; i++)
        if (w[i] != (key * 0x9e3779b97f4a7c15ull ^ i))
            return 0;
    return 1;
}

static int append_one(struct log *l)
{
    uint64_t key = l->next_key++, a;
    value_fill(key, l->buf, l->len);
    int rc = wom_append(l->r, l->buf, l->len, &a);
    if (rc == 0) {
        CHECK_MSG(a < MAX_ADDR && l->keys[a] == 0, "address %" PRIu64 " twice", a);
        l->keys[a] = key;
    }
    return rc;
}

/* Every acknowledged value in [lo, hi) reads back exact. */
static void check_values(struct log *l, uint64_t lo, uint64_t hi)
{
    for (uint64_t a = lo; a < hi && a < MAX_ADDR; a++) {
        if (!l->keys[a])
            continue;
        size_t n = 0;
        CHECK_OK(wom_get(l->r, a, l->got, sizeof l->got, &n, 0));
        CHECK_MSG(value_ok(l, l->keys[a], l->got, n), "value at %" PRIu64 " torn", a);
    }
}

/* Append until the file system is full; a few more appends must fail too
 * (nothing was freed). Returns the tail. */
static uint64_t fill(struct log *l, uint64_t *appended)
{
    uint64_t n = 0;
    int rc;
    while ((rc = append_one(l)) == 0)
        CHECK_MSG(++n < MAX_ADDR / 4, "the file system never filled");
    CHECK_ERR(rc, WOM_ENOSPC);
    for (int i = 0; i < 3; i++)
        CHECK_ERR(append_one(l), WOM_ENOSPC);
    *appended = n;
    uint64_t tail;
    CHECK_OK(wom_tail(l->r, &tail));
    return tail;
}

/* fs: a tmpfs size; len: the values' size; cycles of fill, trim, refill.
 * With hog, another file takes what the trim gave back to the file system
 * before the refill (and lets it go after): only blocks the space holds
 * already can take the new values. */
static void enospc_cycles(const char *fs, size_t len, int cycles, int with_hog)
{
    char dir[64], file[96], uri[128], hogf[96];
    if (!small_fs(fs, dir, sizeof dir))
        return;
    snprintf(file, sizeof file, "%s/f", dir);
    snprintf(hogf, sizeof hogf, "%s/hog", dir);
    snprintf(uri, sizeof uri, "shm:%s;size=1G", file);
    static struct log l;
    l.len = len;
    l.next_key = 1;
    wom_space *s;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &l.r));

    uint64_t floor = 0;
    wom_view held = WOM_VIEW_INIT;
    uint64_t held_key = 0;
    for (int k = 0; k < cycles; k++) {
        uint64_t filled;
        uint64_t tail = fill(&l, &filled);
        CHECK_MSG(filled * len > (8u << 20), "cycle %d: only %" PRIu64 " values fit", k, filled);
        check_values(&l, floor, tail);
        /* A view taken before the trim keeps its value (and its chunk). */
        if (k == 0) {
            uint64_t a = tail - 1;
            while (a > floor && !l.keys[a])
                a--;
            CHECK_OK(wom_get_view(l.r, a, &held, 0));
            held_key = l.keys[a];
        }
        CHECK_OK(wom_trim(l.r, tail));
        size_t n;
        CHECK_ERR(wom_get(l.r, tail - 1, l.got, sizeof l.got, &n, 0), WOM_ETRIMMED);
        floor = tail;
        if (with_hog)
            hog(hogf);

        /* More than one chunk's worth: the allocator must take new chunks,
         * and the file system has no block it was not given before. */
        uint64_t want = 2 * (8u << 20) / len + 8;
        for (uint64_t i = 0; i < want; i++) {
            int rc = append_one(&l);
            CHECK_MSG(rc == 0, "cycle %d: append %" PRIu64 " of %" PRIu64 " after the trim: %s",
                      k, i, want, wom_err_name(rc));
        }
        CHECK_OK(wom_tail(l.r, &tail));
        check_values(&l, floor, tail);
        if (with_hog)
            CHECK(unlink(hogf) == 0);
        if (k <= 1)
            CHECK_MSG(value_ok(&l, held_key, held.data, held.len), "cycle %d: the held view changed",
                      k);
        if (k == 1)
            wom_view_release(&held); /* the next cycles have its chunk too */
    }
    wom_view_release(&held);
    wom_region_close(l.r);
    wom_close(s);

    /* Everything acknowledged since the last trim is still there after a
     * reopen. */
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &l.r));
    uint64_t tail;
    CHECK_OK(wom_tail(l.r, &tail));
    check_values(&l, floor, tail);
    wom_region_close(l.r);
    wom_close(s);
    small_fs_remove(dir, file);
}

/* The case of the report: 40 MiB, 64 KiB values. Fewer chunks than are kept
 * warm, so every released chunk keeps its blocks and holds the disk full. */
TEST(shm_enospc_trim_then_append_again, T_UNIT)
{
    enospc_cycles("40m", 64u << 10, 3, 0);
}

/* More released chunks than are kept warm: the cold ones (blocks given
 * back, and taken by another file) lie on top of the free stack, the warm
 * ones below hold what is left of the disk; values of nearly 1 MiB. */
TEST(shm_enospc_cold_chunks_above_warm_ones, T_UNIT)
{
    enospc_cycles("120m", (1u << 20) - 64, 3, 1);
}

/* Threads append until the file system is full, a trim frees everything,
 * then every thread appends again: not one of those appends may fail, while
 * a reader checks values as they come (none may be torn, whichever chunk
 * the allocator moved to or punched meanwhile). */
#define NTHREADS 8

struct appender {
    struct log *l;
    int fill;          /* append until WOM_ENOSPC, else `want` appends */
    uint64_t want, failed;
};

static _Atomic uint64_t shared_key = 1;
static atomic_int stop_reading;

static void *appender_run(void *arg)
{
    struct appender *p = arg;
    static _Thread_local uint64_t buf[(64u << 10) / 8];
    for (uint64_t i = 0; p->fill || i < p->want; i++) {
        uint64_t key = atomic_fetch_add_explicit(&shared_key, 1, memory_order_relaxed), a;
        value_fill(key, buf, p->l->len);
        int rc = wom_append(p->l->r, buf, p->l->len, &a);
        if (rc == 0) {
            /* Each address is this thread's alone. */
            CHECK_MSG(a < MAX_ADDR && p->l->keys[a] == 0, "address %" PRIu64 " twice", a);
            p->l->keys[a] = key;
        } else if (rc == WOM_ENOSPC && p->fill) {
            break;
        } else if (rc == WOM_ENOSPC) {
            p->failed++;
        } else {
            CHECK_OK(rc);
        }
    }
    return NULL;
}

/* Reads values below the tail as they are appended and trimmed: each is
 * whole (its words follow from its first) or gone. */
static void *reader_run(void *arg)
{
    struct log *l = arg;
    static _Thread_local uint64_t got[(64u << 10) / 8];
    uint64_t x = wom_test_seed();
    while (!atomic_load_explicit(&stop_reading, memory_order_relaxed)) {
        wom_region_info info;
        CHECK_OK(wom_region_info_get(l->r, &info));
        if (info.tail <= info.floor)
            continue;
        uint64_t a = info.floor + wom_test_rand(&x) % (info.tail - info.floor);
        size_t n = 0;
        int rc = wom_get(l->r, a, got, sizeof got, &n, 0);
        if (rc == WOM_EEMPTY || rc == WOM_ETRIMMED)
            continue; /* in flight, a hole a failed append left, or trimmed */
        CHECK_OK(rc);
        CHECK_EQ(n, l->len);
        for (size_t i = 0; i < n / 8; i++)
            CHECK_MSG(got[i] == (got[0] ^ i), "value at %" PRIu64 " torn at word %zu", a, i);
    }
    return NULL;
}

TEST(shm_enospc_threads_fill_trim_refill, T_CONCURRENT)
{
    char dir[64], file[96], uri[128];
    if (!small_fs("40m", dir, sizeof dir))
        return;
    snprintf(file, sizeof file, "%s/f", dir);
    snprintf(uri, sizeof uri, "shm:%s;size=1G", file);
    static struct log l;
    l.len = 64u << 10;
    wom_space *s;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &l.r));
    pthread_t reader;
    CHECK(pthread_create(&reader, NULL, reader_run, &l) == 0);
    uint64_t floor = 0, failed = 0;
    for (int k = 0; k < (int)wom_test_n(10); k++) {
        for (int fill = 1; fill >= 0; fill--) {
            pthread_t t[NTHREADS];
            struct appender p[NTHREADS];
            for (int i = 0; i < NTHREADS; i++) {
                /* 20 MiB after the trim: more than two chunks */
                p[i] = (struct appender){&l, fill, 320 / NTHREADS, 0};
                CHECK(pthread_create(&t[i], NULL, appender_run, &p[i]) == 0);
            }
            for (int i = 0; i < NTHREADS; i++) {
                CHECK(pthread_join(t[i], NULL) == 0);
                failed += p[i].failed;
            }
            uint64_t tail;
            CHECK_OK(wom_tail(l.r, &tail));
            check_values(&l, floor, tail);
            if (fill) {
                CHECK_OK(wom_trim(l.r, tail));
                floor = tail;
            }
        }
        CHECK_MSG(failed == 0, "cycle %d: %" PRIu64 " appends after the trim failed", k, failed);
    }
    atomic_store_explicit(&stop_reading, 1, memory_order_relaxed);
    CHECK(pthread_join(reader, NULL) == 0);
    wom_region_close(l.r);
    wom_close(s);
    small_fs_remove(dir, file);
}
