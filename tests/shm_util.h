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
        wom_a64 *busy = r->er.e->busy;
        st_seq(busy + 1, UINT64_MAX);
        st_seq(busy, r->er.idx + 1);
        uint64_t a = faa_seq(&r->er.h->next, 1);
        st_seq(busy + 1, a);
        _exit(a == want ? 0 : 3);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return pid;
}

#endif
