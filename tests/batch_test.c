/*
 * batch_test.c - the batch API (wom_append_many, wom_chan_send_many,
 * wom_sub_recv_views) on the scope of `wom_tests --uri`: consecutive
 * addresses and every value intact, all-or-nothing checks, exactly once
 * and in order with concurrent batch senders and batch receivers, a bound
 * kept, retention applied. Every other thread works through a handle of
 * its own to the space.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"
#include "wom.h"

#define SEC 1000000000LL

/* A value that says who wrote it and which one it is, of a length that
 * varies with both, so a torn, foreign or misplaced value shows. */
struct val {
    uint32_t who;
    uint32_t len;
    uint64_t seq;
    unsigned char fill[200];
};

static size_t val_make(struct val *v, uint32_t who, uint64_t seq)
{
    v->who = who;
    v->seq = seq;
    v->len = (uint32_t)(16 + (seq * 7 + who * 13) % 180);
    for (uint32_t i = 0; i < v->len - 16; i++)
        v->fill[i] = (unsigned char)(seq * 31 + who * 17 + i);
    return v->len;
}

static int val_ok(const void *data, size_t len, uint32_t *who, uint64_t *seq)
{
    struct val v, w;
    if (len < 16 || len > sizeof v)
        return 0;
    memcpy(&v, data, len);
    if (v.len != len)
        return 0;
    val_make(&w, v.who, v.seq);
    *who = v.who;
    *seq = v.seq;
    return w.len == len && memcmp(&v, &w, len) == 0;
}

static void check_value(wom_region *r, uint64_t addr, uint32_t who, uint64_t seq)
{
    struct val got;
    size_t len;
    uint32_t w;
    uint64_t q;
    CHECK_OK(wom_get(r, addr, &got, sizeof got, &len, 0));
    CHECK_MSG(val_ok(&got, len, &w, &q) && w == who && q == seq,
              "address %" PRIu64 ": not value %u/%" PRIu64, addr, who, seq);
}

TEST(batch_append_many_consecutive, T_CONFORM)
{
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    enum { N = 300 }; /* more than one etcd:// transaction holds */
    static struct val vals[N];
    wom_iov iov[N];
    uint64_t addrs[N], a, seq = 0;
    CHECK_OK(wom_append(r, "x", 1, &a));
    CHECK_EQ(a, 0);
    size_t sizes[] = {1, 2, 64, 126, 127, N};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k], done = 99;
        uint64_t first = seq;
        for (size_t i = 0; i < n; i++)
            iov[i] = (wom_iov){&vals[i], val_make(&vals[i], 1, seq++)};
        uint64_t tail0;
        CHECK_OK(wom_tail(r, &tail0));
        CHECK_OK(wom_append_many(r, iov, n, addrs, &done));
        CHECK_EQ(done, n);
        /* Nobody else appends or puts here: consecutive from the tail. */
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ(addrs[i], tail0 + i);
            check_value(r, addrs[i], 1, first + i);
        }
        uint64_t tail;
        CHECK_OK(wom_tail(r, &tail));
        CHECK_EQ(tail, tail0 + n);
        CHECK_OK(wom_append(r, "y", 1, &a)); /* a single append comes after */
        CHECK_EQ(a, tail);
    }
    /* addrs and done may be NULL; empty values are values. */
    wom_iov empty[3] = {{NULL, 0}, {"", 0}, {"z", 1}};
    CHECK_OK(wom_append_many(r, empty, 3, NULL, NULL));
    uint64_t tail;
    CHECK_OK(wom_tail(r, &tail));
    size_t len = 9;
    char buf[4];
    CHECK_OK(wom_get(r, tail - 3, buf, sizeof buf, &len, 0));
    CHECK_EQ(len, 0);
    CHECK_OK(wom_get(r, tail - 1, buf, sizeof buf, &len, 0));
    CHECK(len == 1 && buf[0] == 'z');
    wom_region_close(r);
    wom_test_space_close(s);
}

/* Everything is checked before anything is appended. */
TEST(batch_append_many_errors, T_CONFORM)
{
    wom_space *s;
    wom_region *r, *m;
    wom_region_opts o = WOM_REGION_OPTS_INIT;
    o.max_value = 100;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_region_open_opts(s, "r", WOM_ONCE, &o, &r));
    CHECK_OK(wom_region_open(s, "m", WOM_MANY, &m));
    char big[101] = {0};
    wom_iov v[3] = {{"a", 1}, {big, sizeof big}, {"c", 1}};
    uint64_t addrs[3] = {7, 7, 7}, tail;
    size_t done = 99;
    CHECK_ERR(wom_append_many(r, v, 3, addrs, &done), WOM_EMSGSIZE);
    CHECK_EQ(done, 0);
    CHECK_EQ(addrs[0], 7);
    CHECK_OK(wom_tail(r, &tail));
    CHECK_EQ(tail, 0);
    v[1] = (wom_iov){NULL, 5};
    done = 99;
    CHECK_ERR(wom_append_many(r, v, 3, addrs, &done), WOM_EINVAL);
    CHECK_EQ(done, 0);
    CHECK_ERR(wom_append_many(r, NULL, 2, addrs, &done), WOM_EINVAL);
    CHECK_ERR(wom_append_many(NULL, v, 1, addrs, &done), WOM_EINVAL);
    v[1] = (wom_iov){"b", 1};
    CHECK_ERR(wom_append_many(m, v, 3, addrs, &done), WOM_EMODE);
    CHECK_EQ(done, 0);
    done = 99;
    CHECK_OK(wom_append_many(r, v, 0, addrs, &done));
    CHECK_EQ(done, 0);
    CHECK_OK(wom_tail(r, &tail));
    CHECK_EQ(tail, 0);
    CHECK_OK(wom_append_many(r, v, 3, addrs, &done));
    CHECK(done == 3 && addrs[0] == 0 && addrs[2] == 2);
    /* The tail runs out: nothing is appended. */
    CHECK_OK(wom_put(r, UINT64_MAX - 2, "e", 1));
    CHECK_ERR(wom_append_many(r, v, 3, addrs, &done), WOM_ENOSPC);
    CHECK_EQ(done, 0);
    wom_region_close(r);
    wom_region_close(m);
    wom_test_space_close(s);
}

/* A run that would pass UINT64_MAX appends none of its values, also when
 * it is more than one etcd:// transaction holds (mem: and shm: check the
 * whole run before the first value); the run that just fits lands. */
TEST(batch_append_many_at_the_end_of_the_address_space, T_CONFORM)
{
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    enum { N = 300, ROOM = 200 };
    static wom_iov v[N];
    static uint64_t addrs[N];
    for (size_t i = 0; i < N; i++)
        v[i] = (wom_iov){"v", 1};
    CHECK_OK(wom_put(r, UINT64_MAX - ROOM - 1, "p", 1));
    size_t done = 99;
    uint64_t tail;
    CHECK_ERR(wom_append_many(r, v, N, addrs, &done), WOM_ENOSPC);
    CHECK_EQ(done, 0);
    CHECK_OK(wom_tail(r, &tail));
    CHECK(tail == UINT64_MAX - ROOM);
    wom_cell_info ci;
    int rc = wom_inspect(r, tail, &ci);
    CHECK(rc == WOM_ENOTSUP || (rc == 0 && ci.state == WOM_CELL_EMPTY));
    CHECK_OK(wom_append_many(r, v, ROOM, addrs, &done)); /* exactly the room left */
    CHECK_EQ(done, ROOM);
    CHECK(addrs[0] == UINT64_MAX - ROOM && addrs[ROOM - 1] == UINT64_MAX - 1);
    CHECK_OK(wom_tail(r, &tail));
    CHECK(tail == UINT64_MAX);
    CHECK_ERR(wom_append_many(r, v, 1, addrs, &done), WOM_ENOSPC);
    CHECK_EQ(done, 0);
    wom_region_close(r);
    wom_test_space_close(s);
}

/* Appenders of one handle racing for the last addresses (etcd:// commits
 * the appends of a handle together): exactly as many land as there were
 * addresses left, at those addresses, and only the others get WOM_ENOSPC,
 * whatever batches they were committed in. */
struct last_room {
    wom_region *r;
    pthread_barrier_t *go;
    int rc;
    uint64_t addr;
};

static void *last_room_appender(void *arg)
{
    struct last_room *a = arg;
    pthread_barrier_wait(a->go);
    a->rc = wom_append(a->r, "w", 1, &a->addr);
    return NULL;
}

/* Region NAME<round> of s with its tail at UINT64_MAX - room: room
 * addresses left below the last one. */
static wom_region *last_room_region(wom_space *s, const char *name, int round, uint64_t room)
{
    char n[16];
    snprintf(n, sizeof n, "%s%d", name, round);
    wom_region *q;
    CHECK_OK(wom_region_open(s, n, WOM_ONCE, &q));
    CHECK_OK(wom_put(q, UINT64_MAX - room - 1, "p", 1));
    return q;
}

TEST(batch_appends_share_the_last_addresses, T_CONFORM | T_CONCURRENT)
{
    wom_space *s;
    CHECK_OK(wom_test_space(NULL, &s));
    enum { T = 12, ROOM = 5 };
    for (int round = 0; round < 4; round++) {
        wom_region *q = last_room_region(s, "r", round, ROOM);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, T);
        pthread_t th[T];
        struct last_room a[T];
        for (int i = 0; i < T; i++) {
            a[i] = (struct last_room){q, &go, 1, 0};
            CHECK(pthread_create(&th[i], NULL, last_room_appender, &a[i]) == 0);
        }
        uint64_t seen = 0;
        int landed = 0;
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            CHECK_MSG(a[i].rc == 0 || a[i].rc == WOM_ENOSPC, "append: %s",
                      wom_err_name(a[i].rc));
            if (a[i].rc == 0) {
                uint64_t k = a[i].addr - (UINT64_MAX - ROOM);
                CHECK(a[i].addr >= UINT64_MAX - ROOM && k < ROOM && !(seen >> k & 1));
                seen |= 1ull << k;
                landed++;
            }
        }
        pthread_barrier_destroy(&go);
        CHECK_EQ(landed, ROOM);
        uint64_t tail;
        CHECK_OK(wom_tail(q, &tail));
        CHECK(tail == UINT64_MAX);
        wom_region_close(q);
    }
    wom_test_space_close(s);
}

/* Batches racing puts for the last addresses: a put that takes an address
 * of a batch's reserved run moves the rest of the batch up, and near
 * UINT64_MAX that rest may not fit: WOM_ENOSPC after some values landed.
 * Whatever the interleaving, *done counts exactly the values that landed,
 * at rising addresses, each holding its own value, and no address holds
 * two values. (The race itself is rare, about one run of the test in 15
 * here: the test checks the invariants whether or not a round hits it; a
 * *done one too high failed it in the run that hit the race.) */
enum { END_ROOM = 24, END_BATCH = 4, END_APPENDERS = 3, END_PUTTER = 99 };

struct end_place {
    uint64_t addr, seq;
    uint32_t who;
};

struct end_racer {
    wom_region *r;
    pthread_barrier_t *go;
    uint32_t who;
    int rc;          /* the first unexpected error, else 0 */
    int unordered;   /* a call's addresses did not rise */
    size_t n;
    struct end_place p[END_ROOM];
};

static void end_keep(struct end_racer *a, uint64_t addr, uint64_t seq)
{
    if (a->n < END_ROOM)
        a->p[a->n] = (struct end_place){addr, seq, a->who};
    a->n++; /* more than END_ROOM fails the test: the room holds no more */
}

static void *end_appender(void *arg)
{
    struct end_racer *a = arg;
    static _Thread_local struct val v[END_BATCH];
    pthread_barrier_wait(a->go);
    for (uint64_t seq = 0;; seq += END_BATCH) {
        wom_iov iov[END_BATCH];
        uint64_t addrs[END_BATCH];
        size_t done = 99;
        for (size_t i = 0; i < END_BATCH; i++)
            iov[i] = (wom_iov){&v[i], val_make(&v[i], a->who, seq + i)};
        int rc = wom_append_many(a->r, iov, END_BATCH, addrs, &done);
        if ((rc != 0 && rc != WOM_ENOSPC) || done > END_BATCH || (rc == 0 && done != END_BATCH)) {
            a->rc = rc ? rc : -1;
            return NULL;
        }
        for (size_t i = 0; i < done; i++) {
            a->unordered |= i > 0 && addrs[i] <= addrs[i - 1];
            end_keep(a, addrs[i], seq + i);
        }
        if (rc == WOM_ENOSPC)
            return NULL;
    }
}

/* Puts at the tail or up to a batch past it, until the tail is at the last
 * address. */
static void *end_putter(void *arg)
{
    struct end_racer *a = arg;
    struct val v;
    pthread_barrier_wait(a->go);
    for (uint64_t seq = 0; seq < 10000; seq++) {
        uint64_t t;
        int rc = wom_tail(a->r, &t);
        if (rc || t >= UINT64_MAX - 1) {
            a->rc = rc;
            return NULL;
        }
        /* inside a run just reserved, often; never the last address */
        uint64_t k = seq % END_BATCH, at = k > UINT64_MAX - 1 - t ? t : t + k;
        rc = wom_put(a->r, at, &v, val_make(&v, a->who, seq));
        if (rc == 0)
            end_keep(a, at, seq);
        else if (rc != WOM_EWRITTEN) {
            a->rc = rc;
            return NULL;
        }
    }
    return NULL;
}

static int end_place_cmp(const void *x, const void *y)
{
    const struct end_place *a = x, *b = y;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

TEST(batch_append_many_races_puts_at_the_end, T_CONCURRENT)
{
    wom_space *s;
    CHECK_OK(wom_test_space(NULL, &s));
    for (int round = 0; round < 128; round++) {
        wom_region *q = last_room_region(s, "e", round, END_ROOM);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, END_APPENDERS + 1);
        pthread_t th[END_APPENDERS + 1];
        static struct end_racer a[END_APPENDERS + 1];
        for (int i = 0; i <= END_APPENDERS; i++) {
            a[i] = (struct end_racer){.r = q, .go = &go,
                                      .who = i < END_APPENDERS ? (uint32_t)i : END_PUTTER};
            CHECK(pthread_create(&th[i], NULL, i < END_APPENDERS ? end_appender : end_putter,
                                 &a[i]) == 0);
        }
        struct end_place all[(END_APPENDERS + 1) * END_ROOM];
        size_t n = 0;
        for (int i = 0; i <= END_APPENDERS; i++) {
            pthread_join(th[i], NULL);
            CHECK_MSG(a[i].rc == 0, "racer %u: %s", a[i].who, wom_err_name(a[i].rc));
            CHECK_MSG(!a[i].unordered, "appender %u: a batch's addresses did not rise",
                      a[i].who);
            CHECK_MSG(a[i].n <= END_ROOM, "racer %u placed %zu values in a room of %d",
                      a[i].who, a[i].n, END_ROOM);
            for (size_t k = 0; k < a[i].n && k < END_ROOM; k++)
                all[n++] = a[i].p[k];
        }
        pthread_barrier_destroy(&go);
        qsort(all, n, sizeof *all, end_place_cmp);
        for (size_t k = 0; k < n; k++) {
            CHECK_MSG(all[k].addr >= UINT64_MAX - END_ROOM && all[k].addr < UINT64_MAX,
                      "a value at %" PRIu64 ", outside the room", all[k].addr);
            CHECK_MSG(k == 0 || all[k].addr != all[k - 1].addr,
                      "two values reported at %" PRIu64, all[k].addr);
            check_value(q, all[k].addr, all[k].who, all[k].seq);
        }
        /* Every appender stopped at WOM_ENOSPC: its last batch did not fit. */
        uint64_t tail;
        CHECK_OK(wom_tail(q, &tail));
        CHECK(tail > UINT64_MAX - END_BATCH);
        wom_region_close(q);
    }
    wom_test_space_close(s);
}

/* The whole run of written cells from addr, up to max, in views: calls
 * wom_get_views until it stops where wom_get_view finds no value either
 * (a scope may hand over less than is written: etcd:// serves a run from
 * a member that may lag by a moment). */
static size_t views_run(wom_region *r, uint64_t addr, wom_view *v, size_t max)
{
    size_t have = 0;
    while (have < max) {
        size_t got = 0;
        CHECK_OK(wom_get_views(r, addr + have, v + have, max - have, &got));
        CHECK(got <= max - have);
        have += got;
        wom_view probe;
        if (got == 0 && have < max && wom_get_view(r, addr + have, &probe, 0) != 0)
            break; /* no value there: the run ends */
        if (got == 0 && have < max)
            wom_view_release(&probe); /* written, not yet handed over: again */
    }
    return have;
}

/* wom_sub_recv_views until want messages came (each call takes at least
 * one, and those written behind it that the scope has at hand). */
static void recv_upto(wom_sub *sub, wom_view *v, size_t want, uint64_t *addrs)
{
    size_t have = 0;
    while (have < want) {
        size_t got = 0;
        CHECK_OK(wom_sub_recv_views(sub, v + have, want - have, &got,
                                    addrs ? addrs + have : NULL, 10 * SEC));
        CHECK(got >= 1 && got <= want - have);
        have += got;
    }
}

/* wom_get_views: the run written already, stopping at a hole. */
TEST(batch_get_views_takes_the_written_run, T_CONFORM)
{
    wom_space *s;
    wom_region *r, *m;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "m", WOM_MANY, &m));
    struct val vals[8];
    for (uint64_t a = 0; a < 8; a++)
        if (a != 5)
            CHECK_OK(wom_put(r, a, &vals[a], val_make(&vals[a], 4, a)));
    wom_view v[12];
    size_t got = 99;
    CHECK_EQ(views_run(r, 0, v, 12), 5);
    for (size_t i = 0; i < 5; i++) {
        uint32_t who;
        uint64_t seq;
        CHECK(val_ok(v[i].data, v[i].len, &who, &seq) && seq == i);
        wom_view_release(&v[i]);
    }
    CHECK_OK(wom_get_views(r, 5, v, 12, &got)); /* a hole: never a value */
    CHECK_EQ(got, 0);
    CHECK_EQ(views_run(r, 6, v, 12), 2);
    for (size_t i = 0; i < 2; i++)
        wom_view_release(&v[i]);
    CHECK_EQ(views_run(r, 2, v, 2), 2); /* cached ones too, on etcd:// */
    for (size_t i = 0; i < 2; i++)
        wom_view_release(&v[i]);
    wom_view_release(&v[0]); /* released twice: nothing */
    CHECK_OK(wom_get_views(r, 0, v, 0, &got));
    CHECK_EQ(got, 0);
    CHECK_OK(wom_trim(r, 3));
    CHECK_OK(wom_get_views(r, 1, v, 12, &got)); /* below the floor: never */
    CHECK_EQ(got, 0);
    CHECK_ERR(wom_get_views(m, 0, v, 12, &got), WOM_EMODE);
    CHECK_ERR(wom_get_views(r, 0, NULL, 1, &got), WOM_EINVAL);
    wom_region_close(r);
    wom_region_close(m);
    wom_test_space_close(s);
}

/* ---- concurrent: batch appenders against puts at the tail ---- */

struct race {
    wom_space *s;
    int id;
    uint64_t n;
    atomic_int *stop;
};

static void *race_appender(void *p)
{
    struct race *c = p;
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_test_space_again(c->s, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    uint64_t seed = wom_test_seed() + (uint64_t)c->id, seq = 0;
    struct val vals[200];
    wom_iov iov[200];
    uint64_t addrs[200];
    while (seq < c->n) {
        /* now and then more than one etcd:// transaction holds */
        size_t n = 1 + wom_test_rand(&seed) % (seq % 4 ? 40 : 200), done;
        if (n > c->n - seq)
            n = (size_t)(c->n - seq);
        for (size_t i = 0; i < n; i++)
            iov[i] = (wom_iov){&vals[i], val_make(&vals[i], (uint32_t)c->id, seq + i)};
        CHECK_OK(wom_append_many(r, iov, n, addrs, &done));
        CHECK_EQ(done, n);
        for (size_t i = 0; i < n; i++) {
            CHECK_MSG(i == 0 || addrs[i] > addrs[i - 1], "addresses fall inside a batch");
            check_value(r, addrs[i], (uint32_t)c->id, seq + i);
        }
        seq += n;
    }
    wom_region_close(r);
    wom_test_space_close(s);
    return NULL;
}

/* Puts just above the tail, where a batch's reserved addresses lie. */
static void *race_putter(void *p)
{
    struct race *c = p;
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_test_space_again(c->s, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    uint64_t seed = wom_test_seed() ^ 0x5a5a, seq = 0;
    while (!atomic_load(c->stop)) {
        uint64_t tail;
        CHECK_OK(wom_tail(r, &tail));
        struct val v;
        size_t len = val_make(&v, 99, seq);
        int rc = wom_put(r, tail + wom_test_rand(&seed) % 8, &v, len);
        CHECK(rc == 0 || rc == WOM_EWRITTEN);
        seq += rc == 0;
    }
    wom_region_close(r);
    wom_test_space_close(s);
    return NULL;
}

TEST(batch_append_many_against_puts, T_CONFORM | T_CONCURRENT)
{
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    atomic_int stop = 0;
    enum { A = 3 };
    pthread_t th[A + 1];
    struct race cs[A + 1];
    for (int i = 0; i <= A; i++) {
        cs[i] = (struct race){s, i, wom_test_n(20000), &stop};
        CHECK(pthread_create(&th[i], NULL, i < A ? race_appender : race_putter, &cs[i]) == 0);
    }
    for (int i = 0; i < A; i++)
        pthread_join(th[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(th[A], NULL);
    /* Every appended value is in the log exactly once. */
    uint64_t tail, count[A] = {0};
    CHECK_OK(wom_tail(r, &tail));
    for (uint64_t a = 0; a < tail; a++) {
        struct val v;
        size_t len;
        uint32_t who;
        uint64_t seq;
        int rc = wom_get(r, a, &v, sizeof v, &len, 0);
        if (rc == WOM_EEMPTY) /* a put's hole */
            continue;
        CHECK_OK(rc);
        CHECK(val_ok(&v, len, &who, &seq));
        if (who == 99)
            continue;
        CHECK(who < A);
        CHECK_EQ(seq, count[who]); /* in order, once */
        count[who]++;
    }
    for (int i = 0; i < A; i++)
        CHECK_EQ(count[i], cs[i].n);
    wom_region_close(r);
    wom_test_space_close(s);
}

/* ---- channels ---- */

struct chanrun {
    wom_space *s;
    int id;
    int senders;
    uint64_t per_sender;
    uint64_t bound;
    wom_sub *sub; /* a receiver's, opened before any send */
};

static void *chan_sender(void *p)
{
    struct chanrun *c = p;
    wom_space *s;
    wom_chan *ch;
    CHECK_OK(wom_test_space_again(c->s, &s));
    CHECK_OK(wom_chan_open(s, "ch", NULL, &ch));
    uint64_t seed = wom_test_seed() * 3 + (uint64_t)c->id, seq = 0;
    struct val vals[64];
    wom_iov iov[64];
    uint64_t addrs[64];
    while (seq < c->per_sender) {
        size_t n = 1 + wom_test_rand(&seed) % 64, sent = 0;
        if (n > c->per_sender - seq)
            n = (size_t)(c->per_sender - seq);
        for (size_t i = 0; i < n; i++)
            iov[i] = (wom_iov){&vals[i], val_make(&vals[i], (uint32_t)c->id, seq + i)};
        CHECK_OK(wom_chan_send_many(ch, iov, n, 60 * SEC, addrs, &sent));
        CHECK_EQ(sent, n);
        /* No puts on a channel's log, so a batch in one part is
         * consecutive (64 values fit one etcd:// transaction). */
        for (size_t i = 1; !c->bound && i < n; i++)
            CHECK_EQ(addrs[i], addrs[0] + i);
        for (size_t i = 1; i < n; i++)
            CHECK(addrs[i] > addrs[i - 1]);
        seq += n;
    }
    wom_chan_close(ch);
    wom_test_space_close(s);
    return NULL;
}

static void *chan_receiver(void *p)
{
    struct chanrun *c = p;
    uint64_t next[8] = {0}, total = (uint64_t)c->senders * c->per_sender, got_all = 0;
    uint64_t seed = wom_test_seed() * 5 + (uint64_t)c->id, last = 0;
    wom_view views[32];
    uint64_t addrs[32];
    while (got_all < total) {
        size_t max = 1 + wom_test_rand(&seed) % 32, got = 0;
        CHECK_OK(wom_sub_recv_views(c->sub, views, max, &got, addrs, 60 * SEC));
        CHECK(got >= 1 && got <= max);
        for (size_t i = 0; i < got; i++) {
            uint32_t who;
            uint64_t seq;
            CHECK_MSG(val_ok(views[i].data, views[i].len, &who, &seq), "a bad value at %" PRIu64,
                      addrs[i]);
            CHECK((int)who < c->senders);
            CHECK_EQ(seq, next[who]); /* each sender's in order, exactly once */
            next[who]++;
            CHECK(got_all == 0 || addrs[i] > last);
            last = addrs[i];
            got_all++;
            wom_view_release(&views[i]);
        }
        CHECK_EQ(wom_sub_cursor(c->sub), last + 1);
    }
    return NULL;
}

static void chan_run(int senders, int receivers, uint64_t bound)
{
    wom_space *s;
    wom_chan *ch;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.bound = bound;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_chan_open(s, "ch", &o, &ch));
    pthread_t th[8];
    struct chanrun cs[8];
    uint64_t per = wom_test_n(20000);
    for (int i = 0; i < senders + receivers; i++) {
        cs[i] = (struct chanrun){s, i, senders, per, bound, NULL};
        if (i >= senders)
            CHECK_OK(wom_sub_open(ch, NULL, &cs[i].sub));
    }
    for (int i = 0; i < senders + receivers; i++)
        CHECK(pthread_create(&th[i], NULL, i < senders ? chan_sender : chan_receiver, &cs[i]) ==
              0);
    for (int i = 0; i < senders + receivers; i++)
        pthread_join(th[i], NULL);
    for (int i = senders; i < senders + receivers; i++) {
        wom_view v;
        CHECK_ERR(wom_sub_recv_views(cs[i].sub, &v, 1, &(size_t){0}, NULL, 0), WOM_EEMPTY);
        wom_sub_close(cs[i].sub);
    }
    wom_chan_close(ch);
    wom_test_space_close(s);
}

TEST(batch_chan_exactly_once_1_reader, T_CONFORM | T_CONCURRENT) { chan_run(2, 1, 0); }
TEST(batch_chan_exactly_once_3_readers, T_CONFORM | T_CONCURRENT) { chan_run(3, 3, 0); }
TEST(batch_chan_exactly_once_bounded, T_CONFORM | T_CONCURRENT) { chan_run(2, 2, 48); }

/* A bounded channel takes what fits and says how many. */
TEST(batch_chan_bound_respected, T_CONFORM)
{
    wom_space *s;
    wom_chan *ch;
    wom_sub *sub;
    wom_region *log;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.bound = 3; /* the subscriber publishes its cursor on every receive */
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_chan_open(s, "ch", &o, &ch));
    CHECK_OK(wom_region_open(s, "ch", WOM_ONCE, &log));
    CHECK_OK(wom_sub_open(ch, NULL, &sub));
    struct val vals[20];
    wom_iov iov[20];
    uint64_t addrs[20], tail;
    for (int i = 0; i < 20; i++)
        iov[i] = (wom_iov){&vals[i], val_make(&vals[i], 0, (uint64_t)i)};
    size_t sent = 99;
    CHECK_ERR(wom_chan_send_many(ch, iov, 20, 0, addrs, &sent), WOM_ETIMEDOUT);
    CHECK_EQ(sent, 3);
    CHECK_OK(wom_tail(log, &tail));
    CHECK_EQ(tail, 3);
    wom_view views[3];
    recv_upto(sub, views, 2, NULL);
    for (size_t i = 0; i < 2; i++)
        wom_view_release(&views[i]);
    /* Two more fit now (the cursor, 2, was published by the receive). */
    CHECK_ERR(wom_chan_send_many(ch, iov + 3, 17, 0, addrs + 3, &sent), WOM_ETIMEDOUT);
    CHECK_EQ(sent, 2);
    CHECK_OK(wom_tail(log, &tail));
    CHECK_EQ(tail - wom_sub_cursor(sub), 3);
    /* The reader takes all; then three fit, in one call. */
    recv_upto(sub, views, 3, NULL);
    for (size_t i = 0; i < 3; i++)
        wom_view_release(&views[i]);
    CHECK_OK(wom_chan_send_many(ch, iov + 5, 3, 0, addrs + 5, &sent));
    CHECK_EQ(sent, 3);
    CHECK_OK(wom_tail(log, &tail));
    CHECK_EQ(tail - wom_sub_cursor(sub), 3);
    for (int i = 1; i < 8; i++)
        CHECK_EQ(addrs[i], addrs[i - 1] + 1);
    /* Values too big or missing: nothing sent. */
    wom_iov bad[2] = {{"a", 1}, {NULL, 3}};
    CHECK_ERR(wom_chan_send_many(ch, bad, 2, 0, NULL, &sent), WOM_EINVAL);
    CHECK_EQ(sent, 0);
    CHECK_OK(wom_chan_send_many(ch, bad, 0, 0, NULL, &sent));
    CHECK_EQ(sent, 0);
    wom_sub_close(sub);
    wom_region_close(log);
    wom_chan_close(ch);
    wom_test_space_close(s);
}

/* recv_views: what is there, up to max; skipping a trim; max 0. */
TEST(batch_recv_views_takes_what_is_there, T_CONFORM)
{
    wom_space *s;
    wom_chan *ch;
    wom_sub *sub;
    wom_region *log;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_chan_open(s, "ch", NULL, &ch));
    CHECK_OK(wom_region_open(s, "ch", WOM_ONCE, &log));
    CHECK_OK(wom_sub_open(ch, NULL, &sub));
    wom_view views[16];
    uint64_t addrs[16];
    size_t got = 99;
    CHECK_ERR(wom_sub_recv_views(sub, views, 16, &got, addrs, 0), WOM_EEMPTY);
    CHECK_EQ(got, 99);
    CHECK_OK(wom_sub_recv_views(sub, views, 0, &got, addrs, 0));
    CHECK_EQ(got, 0);
    struct val vals[30];
    wom_iov iov[30];
    for (int i = 0; i < 30; i++)
        iov[i] = (wom_iov){&vals[i], val_make(&vals[i], 2, (uint64_t)i)};
    CHECK_OK(wom_chan_send_many(ch, iov, 10, 0, NULL, NULL));
    recv_upto(sub, views, 10, addrs);
    for (size_t i = 0; i < 10; i++) {
        uint32_t who;
        uint64_t seq;
        CHECK(val_ok(views[i].data, views[i].len, &who, &seq) && seq == i && addrs[i] == i);
        wom_view_release(&views[i]);
    }
    CHECK_EQ(wom_sub_cursor(sub), 10);
    CHECK_OK(wom_chan_send_many(ch, iov + 10, 20, 0, NULL, NULL));
    CHECK_OK(wom_trim(log, 15));
    recv_upto(sub, views, 4, addrs);
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(addrs[i], 15 + i);
        wom_view_release(&views[i]);
    }
    /* The views outlive a trim past them. */
    recv_upto(sub, views, 11, addrs);
    CHECK_ERR(wom_sub_recv_views(sub, views + 11, 1, &got, NULL, 0), WOM_EEMPTY);
    CHECK_OK(wom_trim(log, 30));
    for (size_t i = 0; i < 11; i++) {
        uint32_t who;
        uint64_t seq;
        CHECK(val_ok(views[i].data, views[i].len, &who, &seq) && seq == 19 + i);
        wom_view_release(&views[i]);
    }
    wom_sub_close(sub);
    wom_region_close(log);
    wom_chan_close(ch);
    wom_test_space_close(s);
}

/* Retention trims as one send at a time would. */
TEST(batch_chan_retention, T_CONFORM)
{
    wom_space *s;
    wom_chan *ch;
    wom_region *log;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.retain = 16;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_chan_open(s, "ch", &o, &ch));
    CHECK_OK(wom_region_open(s, "ch", WOM_ONCE, &log));
    struct val vals[7];
    wom_iov iov[7];
    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < 7; i++)
            iov[i] = (wom_iov){&vals[i], val_make(&vals[i], 3, (uint64_t)(round * 7 + i))};
        CHECK_OK(wom_chan_send_many(ch, iov, 7, 0, NULL, NULL));
        wom_region_info info;
        CHECK_OK(wom_region_info_get(log, &info));
        /* retain..9/8 retain, give or take the batch past its trim point */
        CHECK_MSG(info.tail - info.floor <= 16 + 2, "kept %" PRIu64,
                  info.tail - info.floor);
        CHECK(info.tail < 16 || info.tail - info.floor >= 16);
    }
    wom_region_close(log);
    wom_chan_close(ch);
    wom_test_space_close(s);
}
