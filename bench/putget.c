/*
 * putget.c - the cost of the two ONCE-cell operations themselves, with and
 * without contention (see bench.h). Values are 64 bytes: the address, the
 * writer's id, and the address again at the end.
 */
#include <stdlib.h>
#include <sys/resource.h>

#include "bench.h"
#include "wom.h"

#define VAL 64u

static void val_fill(char *v, uint64_t addr, unsigned writer)
{
    memset(v, (int)writer, VAL);
    bench_msg_fill(v, VAL, addr);
}

/* 0 when the value read for addr is well formed; its writer goes to *writer. */
static int val_check(const char *v, size_t len, uint64_t addr, unsigned *writer)
{
    if (!bench_msg_ok(v, len, VAL, addr))
        return bench_bad_msg("wom put/get", v, len, VAL, addr);
    *writer = (unsigned char)v[8];
    return 0;
}

static int open_region(wom_space **s, wom_region **r)
{
    int rc = wom_open("mem:", s);
    if (rc)
        return bench_fail("wom put/get", "wom_open", rc, wom_strerror(rc));
    if ((rc = wom_region_open(*s, "cells", WOM_ONCE, r))) {
        wom_close(*s);
        return bench_fail("wom put/get", "wom_region_open", rc, wom_strerror(rc));
    }
    return 0;
}

static void close_region(wom_space *s, wom_region *r)
{
    wom_region_close(r);
    wom_close(s);
}

static long minor_faults(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) ? -1 : u.ru_minflt;
}

/* The warm-up: rounds of `warm` puts, each round trimmed, until a round
 * takes almost no page fault (one per 16384 puts, under 1 ns a put: index
 * nodes above the leaves are not reused, so a few pages stay fresh) or
 * after WARM_ROUNDS, so that the timed puts land on memory the space has
 * already touched and given back. One round is not enough: a trim that
 * frees a burst of chunks keeps only what the allocator saw in use between
 * releases warm and gives the rest back (src/engine/alloc.c), so the next
 * round faults a chunk in again (1859 faults for 200 000 puts here, about
 * 100 ns a put) until the allocator has seen the working set; the runner
 * keeps `warm` within a few chunks (WARM_PUTS_MAX in main.c), where that
 * takes two or three rounds. *next gets the first address after it. */
#define WARM_ROUNDS 6
static int putget_warm(wom_region *r, uint64_t warm, uint64_t *next)
{
    char v[VAL];
    val_fill(v, 0, 1);
    int rc = 0;
    uint64_t a = 0;
    for (int round = 0; warm && round < WARM_ROUNDS && !rc; round++) {
        long f0 = minor_faults();
        for (uint64_t end = a + warm; a < end && !rc; a++) {
            bench_msg_fill(v, VAL, a);
            rc = wom_put(r, a, v, VAL);
        }
        if (rc)
            return bench_fail("wom put/get", "wom_put (warm-up)", rc, wom_strerror(rc));
        if ((rc = wom_trim(r, a)))
            return bench_fail("wom put/get", "wom_trim (warm-up)", rc, wom_strerror(rc));
        if (f0 >= 0 && (uint64_t)(minor_faults() - f0) <= warm / 16384)
            break;
    }
    *next = a;
    return 0;
}

int bench_putget(uint64_t warm, uint64_t n, double *put_ns, double *get_ns)
{
    wom_space *s;
    wom_region *r;
    if (open_region(&s, &r))
        return -1;
    uint64_t from = 0;
    if (putget_warm(r, warm, &from)) {
        close_region(s, r);
        return -1;
    }
    char v[VAL], in[VAL];
    val_fill(v, 0, 1);
    int rc = 0;
    int64_t t0 = wom__now_ns();
    for (uint64_t a = from; a < from + n && !rc; a++) {
        bench_msg_fill(v, VAL, a);
        rc = wom_put(r, a, v, VAL);
    }
    int64_t t1 = wom__now_ns();
    if (rc) {
        close_region(s, r);
        return bench_fail("wom put/get", "wom_put", rc, wom_strerror(rc));
    }
    for (uint64_t a = from; a < from + n && !rc; a++) {
        size_t len;
        unsigned w = 0;
        if ((rc = wom_get(r, a, in, sizeof in, &len, 0)))
            bench_fail("wom put/get", "wom_get", rc, wom_strerror(rc));
        else
            rc = val_check(in, len, a, &w);
    }
    int64_t t2 = wom__now_ns();
    close_region(s, r);
    *put_ns = (double)(t1 - t0) / (double)n;
    *get_ns = (double)(t2 - t1) / (double)n;
    return rc ? -1 : 0;
}

struct race {
    wom_region *r;
    uint64_t n;
    int parties;
    struct bench_gate gate;
    atomic_int failed;
};

struct racer {
    struct race *race;
    unsigned id;         /* writers 1 and 2; readers 0 */
    uint64_t wins;
    uint64_t seen[3];    /* readers: values seen per writer id */
    int64_t end_ns;
    pthread_t t;
};

static void *writer_main(void *arg)
{
    struct racer *w = arg;
    struct race *ra = w->race;
    char v[VAL];
    val_fill(v, 0, w->id);
    bench_gate_pass(&ra->gate, ra->parties);
    for (uint64_t a = 0; a < ra->n; a++) {
        bench_msg_fill(v, VAL, a);
        int rc = wom_put(ra->r, a, v, VAL);
        if (rc == 0)
            w->wins++;
        else if (rc != WOM_EWRITTEN) {
            bench_fail("wom put race", "wom_put", rc, wom_strerror(rc));
            atomic_store(&ra->failed, 1);
            break;
        }
    }
    w->end_ns = wom__now_ns();
    return NULL;
}

static void *reader_main(void *arg)
{
    struct racer *rd = arg;
    struct race *ra = rd->race;
    char in[VAL];
    bench_gate_pass(&ra->gate, ra->parties);
    for (uint64_t a = 0; a < ra->n; a++) {
        size_t len;
        unsigned w = 0;
        int rc = wom_get(ra->r, a, in, sizeof in, &len, -1);
        if (rc || val_check(in, len, a, &w) || w < 1 || w > 2) {
            if (rc)
                bench_fail("wom get wait", "wom_get", rc, wom_strerror(rc));
            atomic_store(&ra->failed, 1);
            break;
        }
        rd->seen[w]++;
    }
    rd->end_ns = wom__now_ns();
    return NULL;
}

/* Every address has exactly one winner, and everyone saw the same one. */
static int race_verify(struct race *ra, struct racer *t, int nt)
{
    uint64_t per[3] = {0, 0, 0};
    char in[VAL];
    for (uint64_t a = 0; a < ra->n; a++) {
        size_t len;
        unsigned w = 0;
        int rc = wom_get(ra->r, a, in, sizeof in, &len, 0);
        if (rc)
            return bench_fail("wom put race", "wom_get after race", rc, wom_strerror(rc));
        if (val_check(in, len, a, &w) || w < 1 || w > 2)
            return -1;
        per[w]++;
    }
    for (int i = 0; i < nt; i++) {
        int ok = t[i].id ? t[i].wins == per[t[i].id]
                         : t[i].seen[1] == per[1] && t[i].seen[2] == per[2];
        if (!ok) {
            fprintf(stderr, "wom put race: thread %d disagrees on the winners\n", i);
            return -1;
        }
    }
    return 0;
}

int bench_put_race(uint64_t n, int readers, double *ns)
{
    wom_space *s;
    struct race ra = {.n = n, .parties = 3 + readers};
    if (open_region(&s, &ra.r))
        return -1;
    struct racer t[4] = {{0}};
    int nt = 2 + readers, rc = 0;
    for (int i = 0; i < nt; i++) {
        t[i].race = &ra;
        t[i].id = i < 2 ? (unsigned)i + 1 : 0;
        if (pthread_create(&t[i].t, NULL, i < 2 ? writer_main : reader_main, &t[i])) {
            /* Threads already started wait at the gate for good; this runs
             * in a child process of the runner, which reports the failure. */
            fprintf(stderr, "wom put race: pthread_create failed\n");
            exit(1);
        }
    }
    bench_gate_pass(&ra.gate, ra.parties);
    int64_t t0 = wom__now_ns(), end = t0;
    for (int i = 0; i < nt; i++) {
        pthread_join(t[i].t, NULL);
        if (t[i].end_ns > end)
            end = t[i].end_ns;
    }
    rc = atomic_load(&ra.failed) ? -1 : race_verify(&ra, t, nt);
    close_region(s, ra.r);
    *ns = (double)(end - t0) / (double)n;
    return rc;
}
