/*
 * shm_util.h - what the shm: tests share: a private space file per test,
 * self-checking values, and a child that dies holding an appended address.
 */
#ifndef WOM_TEST_SHM_UTIL_H
#define WOM_TEST_SHM_UTIL_H

#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "space/space.h" /* some tests reach into the segment */
#include "wom.h"

/* A private directory with one space file in it, for one test. */
struct tspace {
    char dir[64], path[96], uri[128];
};

static inline void tspace_make(struct tspace *t)
{
    strcpy(t->dir, "/tmp/wom-shm-XXXXXX");
    CHECK(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/space.wom", t->dir);
    snprintf(t->uri, sizeof t->uri, "shm:%s", t->path);
}

/* ... and its read-only URI in ro. */
static inline void tspace_make_ro(struct tspace *t, char *ro, size_t cap)
{
    tspace_make(t);
    snprintf(ro, cap, "%s;ro", t->uri);
}

/* Open the space at uri and its ONCE region "log". */
static inline void open_log(const char *uri, wom_space **s, wom_region **r)
{
    CHECK_OK(wom_open(uri, s));
    CHECK_OK(wom_region_open(*s, "log", WOM_ONCE, r));
}

static inline void tspace_remove(const struct tspace *t)
{
    CHECK(unlink(t->path) == 0 && rmdir(t->dir) == 0);
}

/* A value for key: its length and every byte follow from key (its first 8
 * bytes), so a torn, partial or foreign value cannot pass value_ok. */
static inline size_t value_make(uint64_t key, unsigned char *b)
{
    size_t len = 16 + (size_t)(key * 2654435761u % 3000);
    memcpy(b, &key, 8);
    for (size_t i = 8; i < len; i++)
        b[i] = (unsigned char)(key * 31 + i * 7);
    return len;
}

static inline int value_ok(uint64_t key, const unsigned char *b, size_t len)
{
    unsigned char want[4096];
    return len == value_make(key, want) && memcmp(b, want, len) == 0;
}

/* A child process takes the next address of r the way an append does (its
 * slot busy on r, holding that address) and dies before publishing; it must
 * have got address `want`. Returns its pid. */
static inline pid_t die_holding_an_address(wom_region *r, uint64_t want)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) { /* the fork handler gave this child a slot of its own */
        wom_a64 *busy = wom__reg_of(r)->e->busy;
        st_seq(busy + 1, UINT64_MAX);
        st_seq(busy, wom__reg_of(r)->idx + 1);
        uint64_t a = faa_seq(&wom__reg_of(r)->h->next, 1);
        st_seq(busy + 1, a);
        _exit(a == want ? 0 : 3);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return pid;
}

/* A child process running fn(uri, a, n); its exit status is fn's. */
static inline pid_t spawn(int (*fn)(const char *, uint32_t, uint64_t), const char *uri,
                          uint32_t a, uint64_t n)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(fn(uri, a, n));
    return pid;
}

static inline void reap(pid_t pid, const char *what)
{
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", what, st);
}

/* Child bodies: append n messages {writer id, seq} to ONCE region "log", or
 * read every message of `writers` such writers from address 0 on (by copy,
 * or by streaming view), checking exactly-once and per-writer order.
 * Exit status 0 = ok. */
static inline int append_ids(const char *uri, uint32_t id, uint64_t n)
{
    wom_space *s;
    wom_region *r;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &r))
        return 2;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t m[2] = {id, i};
        if (wom_append(r, m, sizeof m, NULL))
            return 3;
    }
    wom_region_close(r);
    wom_close(s);
    return 0;
}

static inline int read_ids(const char *uri, uint32_t writers, uint64_t n, int views)
{
    wom_space *s;
    wom_region *r;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &r))
        return 2;
    uint64_t next[8] = {0};
    wom_view v = WOM_VIEW_INIT;
    for (uint64_t a = 0; a < writers * n; a++) {
        uint64_t m[2];
        size_t len;
        int rc;
        /* Blocks across processes: woken by the writers. */
        if (views) {
            rc = wom_get_view_next(r, a, &v, 30000000000ll);
            len = rc ? 0 : v.len;
            if (len == sizeof m)
                memcpy(m, v.data, sizeof m);
        } else {
            rc = wom_get(r, a, m, sizeof m, &len, 30000000000ll);
        }
        if (rc || len != sizeof m)
            return 4;
        if (m[0] >= writers || m[1] != next[m[0]])
            return 5; /* a duplicate, a loss or a reordering */
        next[m[0]]++;
    }
    wom_view_release(&v);
    for (uint32_t w = 0; w < writers; w++)
        if (next[w] != n)
            return 6;
    wom_region_close(r);
    wom_close(s);
    return 0;
}

#endif
