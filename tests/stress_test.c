/*
 * stress_test.c - many threads on one space: exactly-once and per-writer
 * order through append, first-write-wins agreement, no torn MANY loads,
 * no lost CAS updates, trim racing with readers and pinned views. All are
 * conformance tests: they run on the scope of `wom_tests --uri`, and every
 * other thread works through a handle of its own to the space.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "harness.h"
#include "wom.h"

#define MAXT 8
#define WOM__TEST_LEAF 1024 /* cells per index leaf (src/engine/layout.h) */

struct ctx {
    wom_space *s;
    wom_region *r;
    wom_region *done; /* ONCE cells a thread writes to say "I'm there" */
    wom_mode mode;  /* r's */
    uint64_t n;     /* operations per thread */
    int writers;
    int id;
    atomic_int *failures;
    uint64_t *out;  /* per-thread results */
    void *(*writer)(void *), *(*reader)(void *);
};

/* Odd-numbered threads open the space again and its regions: on shm: that
 * is another mapping with a process slot of its own, as another process
 * would have; on mem: the same space through new region handles. */
static void *role(void *p)
{
    struct ctx *c = p;
    int own = c->id % 2;
    if (own) {
        CHECK_OK(wom_test_space_again(c->s, &c->s));
        CHECK_OK(wom_region_open(c->s, "r", c->mode, &c->r));
        CHECK_OK(wom_region_open(c->s, "done", WOM_ONCE, &c->done));
    }
    void *ret = c->id < c->writers || !c->reader ? c->writer(p) : c->reader(p);
    if (own) {
        wom_region_close(c->r);
        wom_region_close(c->done);
        wom_test_space_close(c->s);
    }
    return ret;
}

/* A stress run on a fresh space: region r of `mode` and ONCE region `done`
 * for threads to signal each other. */
static void stress_begin(struct ctx *b, atomic_int *failures, wom_mode mode, uint64_t n,
                         int writers)
{
    *b = (struct ctx){.n = n, .writers = writers, .failures = failures, .mode = mode};
    CHECK_OK(wom_test_space(NULL, &b->s));
    CHECK_OK(wom_region_open(b->s, "r", mode, &b->r));
    CHECK_OK(wom_region_open(b->s, "done", WOM_ONCE, &b->done));
}

/* Run n threads: the first b->writers run writer, the rest reader (all run
 * writer when reader is NULL); then no thread may have counted a failure. */
static void stress_threads(struct ctx *b, int n, void *(*writer)(void *), void *(*reader)(void *))
{
    pthread_t th[2 * MAXT];
    struct ctx cs[2 * MAXT];
    b->writer = writer;
    b->reader = reader;
    for (int i = 0; i < n; i++) {
        cs[i] = *b;
        cs[i].id = i;
        CHECK(pthread_create(&th[i], NULL, role, &cs[i]) == 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(b->failures), 0);
}

static void stress_end(struct ctx *b)
{
    wom_region_close(b->r);
    wom_region_close(b->done);
    wom_test_space_close(b->s);
}

/* A message: writer id, sequence, and a filler derived from both so a torn
 * or foreign value is detected. */
struct msg {
    uint32_t writer;
    uint32_t pad;
    uint64_t seq;
    uint64_t fill[5];
};

static void msg_make(struct msg *m, uint32_t w, uint64_t seq)
{
    m->writer = w;
    m->pad = 0;
    m->seq = seq;
    for (int i = 0; i < 5; i++)
        m->fill[i] = (seq * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)w << 40) ^ (uint64_t)i;
}

static int msg_ok(const struct msg *m)
{
    struct msg x;
    msg_make(&x, m->writer, m->seq);
    return memcmp(&x, m, sizeof x) == 0;
}

static void *append_writer(void *p)
{
    struct ctx *c = p;
    for (uint64_t i = 0; i < c->n; i++) {
        struct msg m;
        msg_make(&m, (uint32_t)c->id, i);
        uint64_t a;
        int rc = wom_append(c->r, &m, sizeof m, &a);
        if (rc)
            atomic_fetch_add(c->failures, 1);
    }
    return NULL;
}

static void *append_reader(void *p)
{
    struct ctx *c = p;
    uint64_t next[MAXT] = {0};
    uint64_t total = c->n * (uint64_t)c->writers;
    for (uint64_t a = 0; a < total; a++) {
        struct msg m;
        size_t len;
        int rc = wom_get(c->r, a, &m, sizeof m, &len, 10000000000ll);
        if (rc || len != sizeof m || !msg_ok(&m) || m.writer >= (uint32_t)c->writers ||
            m.seq != next[m.writer]) {
            fprintf(stderr, "reader %d: addr %llu rc %d writer %u seq %llu\n", c->id,
                    (unsigned long long)a, rc, m.writer, (unsigned long long)m.seq);
            atomic_fetch_add(c->failures, 1);
            return NULL;
        }
        next[m.writer]++; /* exactly once and in per-writer order */
    }
    for (int w = 0; w < c->writers; w++)
        if (next[w] != c->n)
            atomic_fetch_add(c->failures, 1);
    return NULL;
}

TEST(stress_append_exactly_once_in_order, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_ONCE, wom_test_n(500000), 3);
    stress_threads(&base, 6, append_writer, append_reader); /* 3 writers x 3 readers */
    uint64_t tail;
    CHECK_OK(wom_tail(base.r, &tail));
    CHECK_EQ(tail, base.n * 3);
    stress_end(&base);
}

/* Every thread puts its own value at every address; then reads back. */
static void *racer(void *p)
{
    struct ctx *c = p;
    for (uint64_t a = 0; a < c->n; a++) {
        uint64_t v = ((uint64_t)c->id << 56) | a, got = 0;
        size_t len;
        int rc = wom_put(c->r, a, &v, sizeof v);
        if (rc != 0 && rc != WOM_EWRITTEN)
            atomic_fetch_add(c->failures, 1);
        if (wom_get(c->r, a, &got, sizeof got, &len, 0) != 0 || (got & 0xffffffffffffffull) != a)
            atomic_fetch_add(c->failures, 1);
        if (rc == 0 && got != v)
            atomic_fetch_add(c->failures, 1); /* we won, so we must read ours */
        c->out[a * MAXT + (uint64_t)c->id] = rc == 0 ? got : ~got; /* ~: lost, saw got */
    }
    return NULL;
}

TEST(stress_first_write_wins, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_ONCE, wom_test_n(250000), 0);
    base.out = calloc(base.n * MAXT, sizeof(uint64_t));
    stress_threads(&base, 4, racer, NULL);
    for (uint64_t a = 0; a < base.n; a++) {
        int winners = 0;
        uint64_t agreed = UINT64_MAX;
        for (int t = 0; t < 4; t++) {
            uint64_t o = base.out[a * MAXT + (uint64_t)t];
            uint64_t seen = (o >> 56) < 4 ? o : ~o;
            if ((o >> 56) < 4)
                winners++;
            if (agreed == UINT64_MAX)
                agreed = seen;
            CHECK_MSG(seen == agreed, "addr %llu: threads disagree on the winner",
                      (unsigned long long)a);
        }
        CHECK_MSG(winners == 1, "addr %llu: %d winners", (unsigned long long)a, winners);
    }
    free(base.out);
    stress_end(&base);
}

/* MANY: writers store self-checking values of varying length; readers must
 * never see a torn value and see versions that never go back. */
static void fill_value(unsigned char *b, size_t len, uint64_t tag)
{
    memcpy(b, &tag, 8);
    for (size_t i = 8; i < len; i++)
        b[i] = (unsigned char)(tag * 31 + i);
}

static void *many_writer(void *p)
{
    struct ctx *c = p;
    unsigned char b[600];
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t tag = ((uint64_t)c->id << 48) | i;
        size_t len = 8 + (size_t)(i * 37 % 590);
        fill_value(b, len, tag);
        if (wom_store(c->r, i % 4, b, len, NULL))
            atomic_fetch_add(c->failures, 1);
    }
    return NULL;
}

static void *many_reader(void *p)
{
    struct ctx *c = p;
    unsigned char b[600], x[600];
    uint64_t last[4] = {0};
    for (uint64_t i = 0; i < c->n; i++) {
        size_t len;
        uint64_t ver, tag;
        uint64_t addr = i % 4;
        if (wom_load(c->r, addr, b, sizeof b, &len, &ver)) {
            atomic_fetch_add(c->failures, 1);
            continue;
        }
        if (ver < last[addr])
            atomic_fetch_add(c->failures, 1);
        last[addr] = ver;
        if (ver == 0) {
            if (len != 0)
                atomic_fetch_add(c->failures, 1);
            continue;
        }
        memcpy(&tag, b, 8);
        fill_value(x, len, tag);
        if (len < 8 || memcmp(x, b, len) != 0 || 8 + (tag & 0xffffffffffffull) * 37 % 590 != len)
            atomic_fetch_add(c->failures, 1); /* torn */
    }
    return NULL;
}

TEST(stress_many_never_torn, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_MANY, wom_test_n(200000), 2);
    stress_threads(&base, 4, many_writer, many_reader);
    uint64_t total = 0;
    for (uint64_t a = 0; a < 4; a++) {
        size_t len;
        uint64_t ver;
        unsigned char b[600];
        CHECK_OK(wom_load(base.r, a, b, sizeof b, &len, &ver));
        total += ver;
    }
    CHECK_EQ(total, 2 * base.n); /* every store counted once */
    stress_end(&base);
}

static void *cas_incrementer(void *p)
{
    struct ctx *c = p;
    uint64_t wins = 0;
    while (wins < c->n) {
        uint64_t v = 0, ver;
        size_t len;
        if (wom_load(c->r, 0, &v, sizeof v, &len, &ver)) {
            atomic_fetch_add(c->failures, 1);
            return NULL;
        }
        v++;
        int rc = wom_cas(c->r, 0, ver, &v, sizeof v, NULL);
        if (rc == 0)
            wins++;
        else if (rc != WOM_ECONFLICT)
            atomic_fetch_add(c->failures, 1);
    }
    return NULL;
}

TEST(stress_cas_no_lost_update, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_MANY, wom_test_n(50000), 0);
    stress_threads(&base, 3, cas_incrementer, NULL);
    uint64_t v, ver;
    size_t len;
    CHECK_OK(wom_load(base.r, 0, &v, sizeof v, &len, &ver));
    CHECK_EQ(v, 3 * base.n);
    CHECK_EQ(ver, 3 * base.n);
    stress_end(&base);
}

/* Trim racing with readers: a read returns the right value or ETRIMMED,
 * never another value; a view taken before the trim stays intact. */
static void *trim_role(void *p)
{
    struct ctx *c = p;
    if (c->id == 0) { /* writer + trimmer: every period, trims half a period behind */
        uint64_t period = c->n / 4 >= 2048 ? 2048 : c->n / 4 ? c->n / 4 : 1;
        for (uint64_t i = 0; i < c->n; i++) {
            struct msg m;
            uint64_t a;
            msg_make(&m, 0, i);
            if (wom_append(c->r, &m, sizeof m, &a) || a != i)
                atomic_fetch_add(c->failures, 1);
            if (i % period == period - 1 && wom_trim(c->r, i + 1 - period / 2))
                atomic_fetch_add(c->failures, 1);
        }
        return NULL;
    }
    uint64_t trimmed = 0;
    for (uint64_t a = 0; a < c->n; a++) {
        wom_view v;
        int rc = wom_get_view(c->r, a, &v, 10000000000ll);
        if (rc == WOM_ETRIMMED) {
            trimmed++;
            continue;
        }
        const struct msg *m = v.data;
        if (rc || v.len != sizeof *m || !msg_ok(m) || m->seq != a) {
            atomic_fetch_add(c->failures, 1);
            if (!rc)
                wom_view_release(&v);
            continue;
        }
        if (a % 64 == 0) { /* hold some views across later trims */
            struct msg copy = *m;
            sched_yield(); /* let the trimmer run while we hold the view */
            if (memcmp(&copy, v.data, sizeof copy) != 0)
                atomic_fetch_add(c->failures, 1);
        }
        wom_view_release(&v);
    }
    c->out[c->id] = trimmed;
    return NULL;
}

TEST(stress_trim_vs_readers_and_views, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    uint64_t out[3] = {0};
    struct ctx base;
    stress_begin(&base, &failures, WOM_ONCE, wom_test_n(300000), 0);
    base.out = out;
    stress_threads(&base, 3, trim_role, NULL);
    wom_region_info info;
    CHECK_OK(wom_region_info_get(base.r, &info));
    CHECK(info.floor > 0);
    stress_end(&base);
}

/* Readers blocked on cells that are written later all wake with the value;
 * readers blocked below a later trim wake with ETRIMMED. */
static void *blocked_reader(void *p)
{
    struct ctx *c = p;
    for (uint64_t a = 0; a < c->n; a++) {
        uint64_t v;
        size_t len;
        int64_t t0 = wom_test_now_ns();
        int rc = wom_get(c->r, a, &v, sizeof v, &len, 10000000000ll);
        if (wom_test_now_ns() - t0 >= 10000000000ll)
            atomic_fetch_add(c->failures, 1); /* a lost wake-up: only the deadline woke it */
        if (rc == WOM_ETRIMMED && a >= c->n / 2)
            continue;
        if (rc || v != a * 3)
            atomic_fetch_add(c->failures, 1);
        if (a + 1 == c->n / 2 && wom_put(c->done, (uint64_t)c->id, "", 0))
            atomic_fetch_add(c->failures, 1); /* first half read: tell the writer */
    }
    return NULL;
}

static void *late_writer(void *p)
{
    struct ctx *c = p;
    for (uint64_t a = 0; a < c->n / 2; a++) {
        uint64_t v = a * 3;
        if (wom_put(c->r, a, &v, sizeof v))
            atomic_fetch_add(c->failures, 1);
        if (a % 97 == 0)
            sched_yield(); /* give readers time to fall asleep on later cells */
    }
    /* Once every reader has read the first half, trim the second half, which
     * is never written: readers asleep there must wake with ETRIMMED. */
    for (uint64_t id = 1; id <= 2; id++) {
        char b;
        size_t len;
        if (wom_get(c->done, id, &b, 1, &len, 10000000000ll))
            atomic_fetch_add(c->failures, 1);
    }
    if (wom_trim(c->r, c->n))
        atomic_fetch_add(c->failures, 1);
    return NULL;
}

TEST(stress_wake_on_write_and_trim, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_ONCE, wom_test_n(20000) * 2, 1);
    stress_threads(&base, 3, late_writer, blocked_reader);
    stress_end(&base);
}

/* wom_wait: a waiter on a MANY cell sees every change of version. */
static void *version_waiter(void *p)
{
    struct ctx *c = p;
    uint64_t seen = 0;
    while (seen < c->n) {
        int rc = wom_wait(c->r, 9, seen, 10000000000ll);
        if (rc) {
            atomic_fetch_add(c->failures, 1);
            return NULL;
        }
        uint64_t v, ver;
        size_t len;
        if (wom_load(c->r, 9, &v, sizeof v, &len, &ver) || ver <= seen || v != ver)
            atomic_fetch_add(c->failures, 1);
        seen = ver;
    }
    return NULL;
}

static void *version_bumper(void *p)
{
    struct ctx *c = p;
    for (uint64_t i = 1; i <= c->n; i++) {
        uint64_t ver;
        if (wom_store(c->r, 9, &i, sizeof i, &ver) || ver != i)
            atomic_fetch_add(c->failures, 1);
        if (i % 16 == 0)
            sched_yield();
    }
    return NULL;
}

TEST(stress_many_wait_sees_changes, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_MANY, wom_test_n(50000), 1);
    stress_threads(&base, 3, version_bumper, version_waiter);
    stress_end(&base);
}

/* The reader trims right behind itself while the writer appends: every
 * address must still be read with its own value (a writer must never touch a
 * cell of a leaf that trim released and reused). */
static void *self_trim_reader(void *p)
{
    struct ctx *c = p;
    for (uint64_t a = 0; a < c->n; a++) {
        struct msg m;
        size_t len;
        int rc = wom_get(c->r, a, &m, sizeof m, &len, 10000000000ll);
        if (rc || !msg_ok(&m) || m.seq != a) {
            fprintf(stderr, "addr %llu: rc %d seq %llu\n", (unsigned long long)a, rc,
                    (unsigned long long)m.seq);
            atomic_fetch_add(c->failures, 1);
            return NULL;
        }
        if (a % 512 == 0 && wom_trim(c->r, a))
            atomic_fetch_add(c->failures, 1);
    }
    return NULL;
}

TEST(stress_reader_trims_behind_itself, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_ONCE, wom_test_n(1000000), 1);
    stress_threads(&base, 2, append_writer, self_trim_reader);
    stress_end(&base);
}

/* Ping-pong over two logs where each receiver trims through the address it
 * just read and then waits on the next one (which reuses a released leaf)
 * while the other side may still be finishing its put: the put must not
 * disturb the reused leaf. */
static int pp_send(wom_region *r, uint64_t a)
{
    uint64_t v = a * 7, at;
    int rc = wom_append(r, &v, sizeof v, &at);
    return rc ? rc : at == a ? 0 : -1;
}

static int pp_recv(wom_region *r, uint64_t a)
{
    uint64_t got;
    size_t len;
    int rc = wom_get(r, a, &got, sizeof got, &len, 10000000000ll);
    if (!rc && got != a * 7)
        rc = -1;
    if (!rc && (a + 1) % (4 * WOM__TEST_LEAF) == 0)
        rc = wom_trim(r, a + 1);
    return rc;
}

static void *pingpong_role(void *p)
{
    struct ctx *c = p;
    wom_region *out = c->id == 0 ? c->r : c->done, *in = c->id == 0 ? c->done : c->r;
    for (uint64_t a = 0; a < c->n; a++) {
        int rc = c->id == 0 ? pp_send(out, a) : pp_recv(in, a);
        if (!rc)
            rc = c->id == 0 ? pp_recv(in, a) : pp_send(out, a);
        if (rc) {
            fprintf(stderr, "thread %d addr %llu: %d\n", c->id, (unsigned long long)a, rc);
            atomic_fetch_add(c->failures, 1);
            return NULL;
        }
    }
    return NULL;
}

TEST(stress_pingpong_trim_reuses_leaves, T_CONCURRENT | T_CONFORM)
{
    atomic_int failures = 0;
    struct ctx base;
    stress_begin(&base, &failures, WOM_ONCE, wom_test_n(300000), 0);
    stress_threads(&base, 2, pingpong_role, NULL);
    stress_end(&base);
}
