/* cons_test.c - consensus from atomic broadcast (wom_cons) and atomic
 * broadcast from consensus (wom_abcast): their contracts, and concurrent
 * checks of what each promises, with every decision and every message
 * checked: agreement and validity of consensus; integrity (each message
 * delivered exactly once, none invented), total order and each sender's
 * order of broadcast. The conformance tests run on the scope of
 * `wom_tests --uri`; a scope over mem: that loses answers (a put or an
 * append that lands or not, or lands late, and says WOM_EUNKNOWN) checks
 * the unknown-outcome paths that etcd:// takes, and shm: processes check
 * the forms across processes and past dead writers. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "shm_util.h"

#define MS 1000000LL
#define LONG_NS (30 * 1000 * MS) /* a blocking call that should never wait this long */

/* n scaled for the run (WOM_TEST_SCALE), or `remote` on etcd://, where
 * every operation is a network round trip. */
static uint64_t cons_n(uint64_t n, uint64_t remote)
{
    return wom_test_n(strcmp(wom_test_scope(), "etcd") ? n : remote);
}

static wom_space *cons_space(void)
{
    wom_space *s = NULL;
    CHECK_OK(wom_test_space(NULL, &s));
    return s;
}

static wom_space *cons_space_again(wom_space *s)
{
    wom_space *t = NULL;
    CHECK_OK(wom_test_space_again(s, &t));
    return t;
}

static uint64_t tail_of(wom_space *s, const char *name)
{
    wom_region *r;
    uint64_t t = 0;
    CHECK_OK(wom_region_open(s, name, WOM_ONCE, &r));
    CHECK_OK(wom_tail(r, &t));
    wom_region_close(r);
    return t;
}

/* ---- consensus ---------------------------------------------------------- */

static void propose_str(wom_cons *c, const char *v, const char *want)
{
    char out[64];
    size_t n = 0;
    CHECK_OK(wom_cons_propose(c, v, strlen(v), out, sizeof out, &n, LONG_NS));
    CHECK_EQ(n, strlen(want));
    CHECK(!memcmp(out, want, n));
}

TEST(cons_propose_contract, T_CONFORM)
{
    wom_space *s = cons_space(), *t = cons_space_again(s);
    wom_cons *a, *b;
    CHECK_OK(wom_cons_open(s, "c", &a));
    CHECK_OK(wom_cons_open(t, "c", &b));
    char out[64];
    size_t n = 99;
    CHECK_ERR(wom_cons_read(a, out, sizeof out, &n, 0), WOM_EEMPTY);
    int64_t t0 = wom_test_now_ns();
    CHECK_ERR(wom_cons_read(b, out, sizeof out, &n, 5 * MS), WOM_ETIMEDOUT);
    CHECK(wom_test_now_ns() - t0 >= 5 * MS);
    CHECK_EQ(n, 99); /* out parameters are written only on success */
    propose_str(a, "alpha", "alpha");
    propose_str(b, "beta", "alpha"); /* a later proposal learns the decision */
    propose_str(a, "gamma", "alpha");
    CHECK_EQ(tail_of(s, "c"), 1); /* decided already: nothing more proposed */
    CHECK_ERR(wom_cons_propose(b, "delta", 5, out, 2, &n, LONG_NS), WOM_ENOBUFS);
    CHECK_EQ(n, 5);
    CHECK_OK(wom_cons_read(b, out, sizeof out, &n, 0));
    CHECK(n == 5 && !memcmp(out, "alpha", 5));
    wom_cons *a2;
    CHECK_OK(wom_cons_open(t, "c", &a2)); /* a new handle reads the same */
    CHECK_OK(wom_cons_read(a2, out, sizeof out, &n, LONG_NS));
    CHECK(n == 5 && !memcmp(out, "alpha", 5));
    wom_cons_close(a2);
    /* An empty value is a value; the size limit is the region's. */
    wom_cons *e;
    CHECK_OK(wom_cons_open(s, "empty", &e));
    CHECK_OK(wom_cons_propose(e, NULL, 0, out, sizeof out, &n, LONG_NS));
    CHECK_EQ(n, 0);
    size_t big = WOM_MAX_VALUE_DEFAULT + 1;
    char *huge = calloc(1, big);
    CHECK(huge);
    CHECK_ERR(wom_cons_propose(e, huge, big, out, sizeof out, &n, 0), WOM_EMSGSIZE);
    free(huge);
    wom_cons_close(e);
    CHECK_ERR(wom_cons_propose(NULL, "x", 1, out, sizeof out, &n, 0), WOM_EINVAL);
    CHECK_ERR(wom_cons_propose(a, "x", 1, NULL, 4, &n, 0), WOM_EINVAL);
    CHECK_ERR(wom_cons_read(a, out, sizeof out, NULL, 0), WOM_EINVAL);
    CHECK_ERR(wom_cons_open(s, "", &e), WOM_EINVAL);
    /* A trimmed decision is an error, never another value. */
    wom_cons *g;
    wom_region *raw;
    CHECK_OK(wom_cons_open(s, "trimmed", &g));
    propose_str(g, "first", "first");
    CHECK_OK(wom_region_open(s, "trimmed", WOM_ONCE, &raw));
    CHECK_OK(wom_trim(raw, 1));
    CHECK_ERR(wom_cons_read(g, out, sizeof out, &n, 0), WOM_ETRIMMED);
    CHECK_ERR(wom_cons_propose(g, "second", 6, out, sizeof out, &n, 0), WOM_ETRIMMED);
    wom_region_close(raw);
    wom_cons_close(g);
    wom_cons_close(a);
    wom_cons_close(b);
    wom_test_space_close(t);
    wom_test_space_close(s);
}

/* A proposal: who made it, in which round, and filler bytes that follow
 * from both (so a torn or foreign value cannot pass). */
enum { PROP_MAX = 64 };
static size_t prop_make(uint32_t who, uint32_t round, unsigned char *b)
{
    size_t len = 8 + (size_t)((who * 7 + round) % 40);
    memcpy(b, &who, 4);
    memcpy(b + 4, &round, 4);
    for (size_t i = 8; i < len; i++)
        b[i] = (unsigned char)(who * 13 + round * 5 + i);
    return len;
}

/* 1 when b[0, len) is the proposal of some proposer below nprop in round. */
static int prop_valid(const unsigned char *b, size_t len, uint32_t nprop, uint32_t round)
{
    uint32_t who;
    unsigned char want[PROP_MAX];
    if (len < 8)
        return 0;
    memcpy(&who, b, 4);
    return who < nprop && prop_make(who, round, want) == len && !memcmp(b, want, len);
}

struct decision {
    unsigned char v[PROP_MAX];
    size_t len;
};

struct cons_run {
    wom_space *s;
    uint32_t nprop, rounds;
    pthread_barrier_t *start; /* proposers start each round together */
    struct decision *got;     /* [rounds] for each worker */
    uint32_t who;             /* nprop: the learner, which only reads */
};

static void *cons_worker(void *arg)
{
    struct cons_run *w = arg;
    for (uint32_t r = 0; r < w->rounds; r++) {
        char name[32];
        snprintf(name, sizeof name, "cons%u", r);
        wom_cons *c;
        CHECK_OK(wom_cons_open(w->s, name, &c));
        struct decision *d = &w->got[r];
        if (w->who == w->nprop) {
            CHECK_OK(wom_cons_read(c, d->v, sizeof d->v, &d->len, LONG_NS));
        } else {
            unsigned char mine[PROP_MAX];
            size_t len = prop_make(w->who, r, mine);
            pthread_barrier_wait(w->start);
            CHECK_OK(wom_cons_propose(c, mine, len, d->v, sizeof d->v, &d->len, LONG_NS));
        }
        wom_cons_close(c);
    }
    return NULL;
}

/* Agreement and validity: in every round every proposer and a learner get
 * the same decision, which is a proposal of that round. Returns how many
 * rounds a proposer other than 0 won (for the caller's interest only). */
static uint32_t cons_check(struct cons_run *w, uint32_t nw)
{
    uint32_t others = 0;
    for (uint32_t r = 0; r < w[0].rounds; r++) {
        const struct decision *d0 = &w[0].got[r];
        CHECK_MSG(prop_valid(d0->v, d0->len, w[0].nprop, r), "round %u: not a proposal", r);
        for (uint32_t i = 1; i < nw; i++) {
            const struct decision *d = &w[i].got[r];
            CHECK_MSG(d->len == d0->len && !memcmp(d->v, d0->v, d0->len),
                      "round %u: worker %u decided otherwise than worker 0", r, i);
        }
        uint32_t who;
        memcpy(&who, d0->v, 4);
        others += who != 0;
    }
    return others;
}

/* nprop proposer threads and one learner; odd ones on a space handle of
 * their own (another mapping on shm:, another connection on etcd://). */
static void cons_stress(wom_space *s, uint32_t nprop, uint32_t rounds)
{
    enum { MAXW = 8 };
    CHECK(nprop + 1 <= MAXW);
    struct cons_run w[MAXW];
    pthread_t th[MAXW];
    pthread_barrier_t start;
    CHECK(pthread_barrier_init(&start, NULL, nprop) == 0);
    for (uint32_t i = 0; i <= nprop; i++) {
        w[i] = (struct cons_run){i % 2 ? cons_space_again(s) : s, nprop, rounds, &start,
                                 calloc(rounds, sizeof(struct decision)), i};
        CHECK(w[i].got);
        CHECK(pthread_create(&th[i], NULL, cons_worker, &w[i]) == 0);
    }
    for (uint32_t i = 0; i <= nprop; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    cons_check(w, nprop + 1);
    for (uint32_t i = 0; i <= nprop; i++) {
        if (w[i].s != s)
            wom_test_space_close(w[i].s);
        free(w[i].got);
    }
    pthread_barrier_destroy(&start);
}

TEST(cons_stress_agreement_validity, T_CONCURRENT | T_CONFORM)
{
    wom_space *s = cons_space();
    cons_stress(s, 4, (uint32_t)cons_n(100, 30));
    wom_test_space_close(s);
}

/* ---- atomic broadcast ----------------------------------------------------- */

static wom_abcast *ab_open(wom_space *s, const char *name)
{
    wom_abcast *b = NULL;
    CHECK_OK(wom_abcast_open(s, name, &b));
    return b;
}

static uint64_t send_str(wom_abcast *b, const char *v)
{
    uint64_t at = UINT64_MAX;
    CHECK_OK(wom_abcast_send(b, v, strlen(v), LONG_NS, &at));
    return at;
}

static void recv_str(wom_abcast *b, const char *want, uint64_t want_at)
{
    char buf[64];
    size_t n = 0;
    uint64_t at = UINT64_MAX;
    CHECK_OK(wom_abcast_recv(b, buf, sizeof buf, &n, &at, 0));
    CHECK_EQ(n, strlen(want));
    CHECK(!memcmp(buf, want, n));
    CHECK_EQ(at, want_at);
}

TEST(abcast_contract, T_CONFORM)
{
    wom_space *s = cons_space(), *t = cons_space_again(s);
    wom_abcast *a = ab_open(s, "b"), *c = ab_open(t, "b");
    char buf[64];
    size_t n = 99;
    uint64_t at = 77;
    CHECK_ERR(wom_abcast_recv(a, buf, sizeof buf, &n, &at, 0), WOM_EEMPTY);
    int64_t t0 = wom_test_now_ns();
    CHECK_ERR(wom_abcast_recv(c, buf, sizeof buf, &n, &at, 5 * MS), WOM_ETIMEDOUT);
    CHECK(wom_test_now_ns() - t0 >= 5 * MS);
    CHECK(n == 99 && at == 77);
    CHECK_EQ(send_str(a, "one"), 0);
    CHECK_EQ(send_str(c, "two"), 1); /* c loses instance 0, learns, goes on */
    CHECK_EQ(send_str(a, ""), 2);
    /* Identical payloads are distinct messages (their headers differ). */
    CHECK_EQ(send_str(a, "same"), 3);
    CHECK_EQ(send_str(c, "same"), 4);
    for (int k = 0; k < 2; k++) {
        wom_abcast *b = k ? c : a;
        recv_str(b, "one", 0);
        recv_str(b, "two", 1);
        recv_str(b, "", 2);
        CHECK_EQ(wom_abcast_cursor(b), 3);
        CHECK_ERR(wom_abcast_recv(b, buf, 3, &n, &at, 0), WOM_ENOBUFS);
        CHECK_EQ(n, 4); /* the payload's size, without the header */
        CHECK_EQ(wom_abcast_cursor(b), 3);
        recv_str(b, "same", 3);
        recv_str(b, "same", 4);
        CHECK_ERR(wom_abcast_recv(b, buf, sizeof buf, &n, &at, 0), WOM_EEMPTY);
    }
    CHECK_EQ(tail_of(s, "b"), 5);
    CHECK_EQ(tail_of(s, "b.ids"), 2); /* a sender id per sending handle */
    wom_abcast *r = ab_open(t, "b"); /* a handle that only receives takes none */
    recv_str(r, "one", 0);
    wom_abcast_close(r);
    CHECK_EQ(tail_of(s, "b.ids"), 2);
    /* A value that no send wrote is reported and passed over. */
    wom_region *raw;
    uint64_t addr;
    CHECK_OK(wom_region_open(s, "b", WOM_ONCE, &raw));
    CHECK_OK(wom_append(raw, "xy", 2, &addr));
    CHECK_EQ(addr, 5);
    CHECK_EQ(send_str(c, "after"), 6);
    CHECK_ERR(wom_abcast_recv(a, buf, sizeof buf, &n, &at, 0), WOM_ECORRUPT);
    recv_str(a, "after", 6);
    /* Sizes: the header comes out of the region's limit. */
    wom_region_info info;
    CHECK_OK(wom_region_info_get(raw, &info));
    char *huge = calloc(1, info.max_value);
    CHECK(huge);
    CHECK_ERR(wom_abcast_send(a, huge, info.max_value - 19, 0, &at), WOM_EMSGSIZE);
    CHECK_OK(wom_abcast_send(a, huge, info.max_value - 20, 0, &at));
    CHECK_EQ(at, 7);
    CHECK_ERR(wom_abcast_recv(c, buf, sizeof buf, &n, &at, 0), WOM_ECORRUPT);
    recv_str(c, "after", 6);
    CHECK_ERR(wom_abcast_recv(c, huge, 10, &n, &at, 0), WOM_ENOBUFS);
    CHECK_EQ(n, info.max_value - 20);
    CHECK_OK(wom_abcast_recv(c, huge, info.max_value, &n, &at, 0));
    CHECK(n == info.max_value - 20 && at == 7);
    free(huge);
    /* Someone trims the log: a receiver hears of it and goes on at the floor. */
    CHECK_EQ(send_str(c, "last"), 8);
    CHECK_OK(wom_trim(raw, 8));
    CHECK_ERR(wom_abcast_recv(a, buf, sizeof buf, &n, &at, 0), WOM_ETRIMMED);
    CHECK_EQ(wom_abcast_cursor(a), 8);
    recv_str(a, "last", 8);
    CHECK_EQ(send_str(a, "past"), 9); /* a sender behind the floor goes on above it */
    wom_region_close(raw);
    char longname[WOM_NAME_MAX + 1];
    memset(longname, 'n', WOM_NAME_MAX - 3);
    longname[WOM_NAME_MAX - 3] = 0;
    wom_abcast *x;
    CHECK_ERR(wom_abcast_open(s, longname, &x), WOM_ENAMETOOLONG);
    CHECK_ERR(wom_abcast_send(NULL, "x", 1, 0, NULL), WOM_EINVAL);
    CHECK_ERR(wom_abcast_recv(a, NULL, 4, &n, NULL, 0), WOM_EINVAL);
    wom_abcast_close(a);
    wom_abcast_close(c);
    wom_test_space_close(t);
    wom_test_space_close(s);
}

/* A message: sender and its number, then filler that follows from both. */
enum { MSG_MAX = 64 };
static size_t msg_make(uint32_t sender, uint32_t k, unsigned char *b)
{
    size_t len = 8 + (size_t)((sender * 31 + k * 7) % 48);
    memcpy(b, &sender, 4);
    memcpy(b + 4, &k, 4);
    for (size_t i = 8; i < len; i++)
        b[i] = (unsigned char)(sender * 3 + k * 11 + i);
    return len;
}

struct delivery {
    uint32_t sender, k;
};

struct ab_run {
    wom_space *s;
    uint32_t who, nsend, n;
    int same;          /* every sender sends the same bytes */
    int64_t timeout;   /* each send's */
    uint64_t *sent_at; /* sender: [n] the instance each send returned */
    struct delivery *got; /* receiver: [nsend * n] in delivery order */
    uint64_t retries;  /* sender: sends repeated after WOM_EUNKNOWN */
};

static void *ab_sender(void *arg)
{
    struct ab_run *w = arg;
    wom_abcast *b = ab_open(w->s, "ab");
    for (uint32_t k = 0; k < w->n; k++) {
        unsigned char m[MSG_MAX];
        size_t len = w->same ? 4 : msg_make(w->who, k, m);
        if (w->same)
            memcpy(m, "same", 4);
        int rc;
        while ((rc = wom_abcast_send(b, m, len, w->timeout, &w->sent_at[k])) == WOM_EUNKNOWN ||
               rc == WOM_ENOTCONN)
            w->retries += rc == WOM_EUNKNOWN; /* settle it: the same bytes again */
        CHECK_OK(rc);
        CHECK_MSG(k == 0 || w->sent_at[k] > w->sent_at[k - 1], "sender %u: send %u went back",
                  w->who, k);
    }
    wom_abcast_close(b);
    return NULL;
}

static void *ab_receiver(void *arg)
{
    struct ab_run *w = arg;
    wom_abcast *b = ab_open(w->s, "ab");
    uint32_t *next = calloc(w->nsend, sizeof *next);
    CHECK(next);
    uint64_t total = (uint64_t)w->nsend * w->n;
    for (uint64_t i = 0; i < total; i++) {
        unsigned char m[MSG_MAX], want[MSG_MAX];
        size_t len = 0;
        uint64_t at;
        CHECK_OK(wom_abcast_recv(b, m, sizeof m, &len, &at, LONG_NS));
        CHECK_EQ(at, i); /* only these senders write: dense from 0 */
        if (w->same) {
            CHECK(len == 4 && !memcmp(m, "same", 4));
            continue;
        }
        struct delivery *d = &w->got[i];
        CHECK(len >= 8);
        memcpy(&d->sender, m, 4);
        memcpy(&d->k, m + 4, 4);
        CHECK_MSG(d->sender < w->nsend, "instance %" PRIu64 ": invented sender", i);
        CHECK_MSG(msg_make(d->sender, d->k, want) == len && !memcmp(m, want, len),
                  "instance %" PRIu64 ": not a message that was sent", i);
        /* Each sender's messages once each, in its order: k is the next. */
        CHECK_MSG(d->k == next[d->sender], "instance %" PRIu64 ": sender %u message %u, want %u",
                  i, d->sender, d->k, next[d->sender]);
        next[d->sender]++;
    }
    size_t len;
    unsigned char m[MSG_MAX];
    int rc;
    while ((rc = wom_abcast_recv(b, m, sizeof m, &len, NULL, 0)) == WOM_ENOTCONN)
        ; /* (the scope that loses answers fails non-blocking reads now and then) */
    CHECK_ERR(rc, WOM_EEMPTY); /* no more */
    free(next);
    wom_abcast_close(b);
    return NULL;
}

/* nsend sender threads of n messages each and nrecv receivers; odd
 * threads on a handle of their own when `again` (s is a test space). Every receiver must deliver the same
 * sequence, each message exactly once and each sender's in order, at the
 * instance its send returned. Returns the sends repeated after unknown
 * outcomes. */
static uint64_t ab_stress(wom_space *s, int again, uint32_t nsend, uint32_t nrecv, uint32_t n,
                          int same, int64_t timeout)
{
    enum { MAXW = 8 };
    CHECK(nsend + nrecv <= MAXW);
    struct ab_run w[MAXW];
    pthread_t th[MAXW];
    uint32_t nw = nsend + nrecv;
    for (uint32_t i = 0; i < nw; i++) {
        int sender = i < nsend;
        w[i] = (struct ab_run){again && i % 2 ? cons_space_again(s) : s, sender ? i : i - nsend,
                               nsend, n, same, timeout, NULL, NULL, 0};
        if (sender)
            CHECK((w[i].sent_at = calloc(n, sizeof *w[i].sent_at)));
        else
            CHECK((w[i].got = calloc((size_t)nsend * n, sizeof *w[i].got)));
    }
    /* Receivers first, so that they wait for instances not decided yet. */
    for (uint32_t i = nw; i-- > 0;)
        CHECK(pthread_create(&th[i], NULL, i < nsend ? ab_sender : ab_receiver, &w[i]) == 0);
    for (uint32_t i = 0; i < nw; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    uint64_t total = (uint64_t)nsend * n, retries = 0;
    /* Each instance was returned to exactly one send. */
    unsigned char *owner = calloc(total, 1);
    CHECK(owner);
    for (uint32_t i = 0; i < nsend; i++) {
        retries += w[i].retries;
        for (uint32_t k = 0; k < n; k++) {
            uint64_t at = w[i].sent_at[k];
            CHECK_MSG(at < total && !owner[at], "sender %u send %u: instance %" PRIu64, i, k, at);
            owner[at] = 1;
            if (!same) { /* and it delivered that very message there */
                const struct delivery *d = &w[nsend].got[at];
                CHECK(d->sender == i && d->k == k);
            }
        }
    }
    free(owner);
    for (uint32_t r = nsend + 1; r < nw; r++) /* total order: one sequence */
        CHECK_MSG(!memcmp(w[r].got, w[nsend].got, total * sizeof *w[r].got),
                  "receivers %u and 0 delivered different sequences", r - nsend);
    for (uint32_t i = 0; i < nw; i++) {
        if (w[i].s != s)
            wom_test_space_close(w[i].s);
        free(w[i].sent_at);
        free(w[i].got);
    }
    return retries;
}

TEST(abcast_stress_total_order, T_CONCURRENT | T_CONFORM)
{
    wom_space *s = cons_space();
    ab_stress(s, 1, 3, 3, (uint32_t)cons_n(3000, 60), 0, LONG_NS);
    wom_test_space_close(s);
}

TEST(abcast_stress_identical_payloads, T_CONCURRENT | T_CONFORM)
{
    wom_space *s = cons_space();
    ab_stress(s, 1, 4, 2, (uint32_t)cons_n(1500, 40), 1, LONG_NS);
    wom_test_space_close(s);
}

/* ---- a scope that loses answers -------------------------------------- */
/* mem: behind a wrapper of its ops table that makes puts and appends
 * answer WOM_EUNKNOWN: after landing, without landing, or landing late
 * (at the end of the same thread's next call, after that call looked:
 * a request that arrives after its sender gave up waiting). Non-blocking
 * reads sometimes fail with WOM_ENOTCONN. The forms must keep their
 * promises through all of it. */

static struct wom__ops flaky_ops;
static atomic_uint_fast64_t flaky_landed, flaky_lost, flaky_late, flaky_seeds;

struct late_put {
    wom_region *r;
    uint64_t addr;
    unsigned char *v;
    size_t len;
};
static _Thread_local struct late_put late;
static _Thread_local uint64_t flaky_rng, flaky_rng_set;

static unsigned flaky_roll(void)
{
    if (!flaky_rng_set) {
        flaky_rng = wom_test_seed() ^ (atomic_fetch_add(&flaky_seeds, 1) * 0x9e3779b97f4a7c15ull);
        flaky_rng_set = 1;
    }
    return (unsigned)(wom_test_rand(&flaky_rng) % 100);
}

/* Land this thread's late put, if any (its answer was given long ago). */
static void flaky_land(void)
{
    if (!late.r)
        return;
    (void)wom__engine_ops.put(late.r, late.addr, late.v, late.len);
    free(late.v);
    late.r = NULL;
}

static int flaky_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    unsigned roll = flaky_roll();
    int rc;
    if (roll < 12) { /* lands; the answer is lost */
        rc = wom__engine_ops.put(r, addr, buf, len);
        if (rc == 0) {
            atomic_fetch_add(&flaky_landed, 1);
            rc = WOM_EUNKNOWN;
        }
    } else if (roll < 22) { /* lost on the way */
        atomic_fetch_add(&flaky_lost, 1);
        rc = WOM_EUNKNOWN;
    } else if (roll < 30 && !late.r) { /* lands after the next call looked */
        atomic_fetch_add(&flaky_late, 1);
        flaky_land();
        late = (struct late_put){r, addr, malloc(len ? len : 1), len};
        CHECK(late.v);
        memcpy(late.v, buf, len);
        return WOM_EUNKNOWN;
    } else if (roll < 33) {
        rc = WOM_ENOTCONN; /* nothing done */
    } else {
        rc = wom__engine_ops.put(r, addr, buf, len);
    }
    flaky_land();
    return rc;
}

static int flaky_append(wom_region *r, const void *buf, size_t len, uint64_t *addr)
{
    unsigned roll = flaky_roll();
    int rc;
    if (roll < 15) {
        uint64_t a;
        rc = wom__engine_ops.append(r, buf, len, &a);
        if (rc == 0) {
            atomic_fetch_add(&flaky_landed, 1);
            rc = WOM_EUNKNOWN;
        }
    } else if (roll < 30) {
        atomic_fetch_add(&flaky_lost, 1);
        rc = WOM_EUNKNOWN;
    } else {
        rc = wom__engine_ops.append(r, buf, len, addr);
    }
    flaky_land();
    return rc;
}

static int flaky_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    int rc = timeout_ns == 0 && flaky_roll() < 5 ? WOM_ENOTCONN
                                                 : wom__engine_ops.get_view(r, addr, v, timeout_ns);
    flaky_land();
    return rc;
}

static void flaky_region_close(wom_region *r)
{
    if (late.r == r)
        flaky_land();
    wom__engine_ops.region_close(r);
}

static void flaky_close(wom_space *s) { free(s); }

/* A space of the flaky scope over mem space m (close it before m). */
static wom_space *flaky_space(wom_space *m)
{
    flaky_ops = wom__engine_ops;
    flaky_ops.close = flaky_close;
    flaky_ops.put = flaky_put;
    flaky_ops.append = flaky_append;
    flaky_ops.get_view = flaky_get_view;
    flaky_ops.region_close = flaky_region_close;
    flaky_ops.loan = NULL; /* publishes behind the wrapper's back */
    wom_space *s = calloc(1, sizeof *s);
    CHECK(s);
    s->ops = &flaky_ops;
    s->impl = m->impl;
    return s;
}

TEST(cons_unknown_outcomes_abcast, T_CONCURRENT)
{
    wom_space *m;
    CHECK_OK(wom_open("mem:", &m));
    wom_space *s = flaky_space(m);
    /* Sends that retry within themselves, then sends that give up at
     * once and are settled by sending the same bytes again. */
    ab_stress(s, 0, 3, 2, (uint32_t)wom_test_n(2000), 0, -1);
    CHECK(atomic_load(&flaky_landed) > 0 && atomic_load(&flaky_lost) > 0 &&
          atomic_load(&flaky_late) > 0);
    wom_close(s);
    wom_space *m2; /* a fresh log for the second part: in a space of its own */
    CHECK_OK(wom_open("mem:", &m2));
    s = flaky_space(m2);
    uint64_t retries = ab_stress(s, 0, 3, 2, (uint32_t)wom_test_n(2000), 0, 0);
    CHECK(retries > 0); /* some sends did end in WOM_EUNKNOWN and were settled */
    wom_close(s);
    wom_close(m2);
    wom_close(m);
}

TEST(cons_unknown_outcomes_consensus, T_CONCURRENT)
{
    wom_space *m;
    CHECK_OK(wom_open("mem:", &m));
    wom_space *s = flaky_space(m);
    uint64_t before = atomic_load(&flaky_landed) + atomic_load(&flaky_lost);
    enum { P = 4 };
    uint32_t rounds = (uint32_t)wom_test_n(100);
    struct cons_run w[P + 1];
    pthread_t th[P + 1];
    pthread_barrier_t start;
    CHECK(pthread_barrier_init(&start, NULL, P) == 0);
    for (uint32_t i = 0; i <= P; i++) {
        w[i] = (struct cons_run){s, P, rounds, &start, calloc(rounds, sizeof(struct decision)), i};
        CHECK(w[i].got);
        CHECK(pthread_create(&th[i], NULL, cons_worker, &w[i]) == 0);
    }
    for (uint32_t i = 0; i <= P; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    cons_check(w, P + 1);
    CHECK(atomic_load(&flaky_landed) + atomic_load(&flaky_lost) > before);
    for (uint32_t i = 0; i <= P; i++)
        free(w[i].got);
    pthread_barrier_destroy(&start);
    wom_close(s);
    wom_close(m);
}

/* The pending message: after WOM_EUNKNOWN only the same bytes may be sent;
 * they settle it at the one instance it won, whichever attempt won it. An
 * interloper on the plain space sends while a message is pending, so it
 * wins the pending instance whenever the lost answer's put did not land
 * (yet): the retry must then see that the instance is not its own. */
TEST(abcast_pending_after_unknown, T_UNIT)
{
    wom_space *m;
    CHECK_OK(wom_open("mem:;size=64M", &m));
    wom_space *s = flaky_space(m);
    wom_abcast *b = ab_open(s, "p"), *x = ab_open(m, "p"), *r = ab_open(m, "p");
    uint64_t unknown = 0;
    uint32_t n = (uint32_t)wom_test_n(500);
    /* What each instance must deliver: (sender, k) as msg_make makes it. */
    struct delivery *want = calloc(4 * (size_t)n, sizeof *want);
    CHECK(want);
    uint64_t sent = 0;
    for (uint32_t k = 0; k < n; k++) {
        unsigned char msg[MSG_MAX], other[MSG_MAX];
        size_t len = msg_make(0, k, msg), olen = msg_make(1, k, other);
        uint64_t at = UINT64_MAX, xat = UINT64_MAX;
        int rc;
        while ((rc = wom_abcast_send(b, msg, len, 0, &at)) == WOM_EUNKNOWN) {
            unknown++;
            CHECK_ERR(wom_abcast_send(b, other, olen, 0, NULL), WOM_EINVAL);
            CHECK(sent < 4 * (uint64_t)n);
            CHECK_OK(wom_abcast_send(x, other, olen, LONG_NS, &xat));
            CHECK(xat < 4 * (uint64_t)n && want[xat].sender == 0);
            want[xat] = (struct delivery){1, k};
            sent++;
        }
        if (rc == WOM_ENOTCONN)
            continue; /* not decided: this k is not sent */
        CHECK_OK(rc);
        CHECK(at < 4 * (uint64_t)n && want[at].sender == 0 && want[at].k == 0);
        want[at] = (struct delivery){2, k}; /* 2: sender 0 (0 means nothing yet) */
        sent++;
    }
    for (uint64_t i = 0; i < sent; i++) {
        unsigned char got[MSG_MAX], exp[MSG_MAX];
        size_t glen;
        uint64_t gat;
        CHECK_OK(wom_abcast_recv(r, got, sizeof got, &glen, &gat, 0));
        CHECK_EQ(gat, i);
        CHECK_MSG(want[i].sender != 0, "instance %" PRIu64 ": no send returned it", i);
        size_t elen = msg_make(want[i].sender == 2 ? 0 : 1, want[i].k, exp);
        CHECK_MSG(glen == elen && !memcmp(got, exp, elen),
                  "instance %" PRIu64 ": not the message its send returned it for", i);
    }
    size_t glen;
    unsigned char got[MSG_MAX];
    CHECK_ERR(wom_abcast_recv(r, got, sizeof got, &glen, NULL, 0), WOM_EEMPTY);
    CHECK(unknown > 0);
    free(want);
    wom_abcast_close(b);
    wom_abcast_close(x);
    wom_abcast_close(r);
    wom_close(s);
    wom_close(m);
}

/* ---- processes (shm:) ------------------------------------------------------ */

enum { PROC_ROUNDS = 16, PROC_PROPOSERS = 4, PROC_SENDERS = 3, PROC_RECEIVERS = 2 };

static int proc_propose(const char *uri, uint32_t who)
{
    wom_space *s;
    wom_region *got;
    if (wom_open(uri, &s) || wom_region_open(s, "decided", WOM_ONCE, &got))
        return 2;
    for (uint32_t r = 0; r < PROC_ROUNDS; r++) {
        char name[32];
        unsigned char mine[PROP_MAX], out[PROP_MAX];
        size_t len = prop_make(who, r, mine), n;
        wom_cons *c;
        snprintf(name, sizeof name, "cons%u", r);
        if (wom_cons_open(s, name, &c) ||
            wom_cons_propose(c, mine, len, out, sizeof out, &n, LONG_NS) ||
            wom_put(got, (uint64_t)who * PROC_ROUNDS + r, out, n))
            return 3;
        wom_cons_close(c);
    }
    wom_region_close(got);
    wom_close(s);
    return 0;
}

static int proc_send(const char *uri, uint32_t who, uint32_t n)
{
    wom_space *s;
    wom_abcast *b;
    if (wom_open(uri, &s) || wom_abcast_open(s, "ab", &b))
        return 2;
    uint64_t last = 0;
    for (uint32_t k = 0; k < n; k++) {
        unsigned char m[MSG_MAX];
        uint64_t at;
        if (wom_abcast_send(b, m, msg_make(who, k, m), 0, &at) || (k && at <= last))
            return 3;
        last = at;
    }
    wom_abcast_close(b);
    wom_close(s);
    return 0;
}

/* Receive every message, check each sender's are there once each in order,
 * and store a digest of the sequence at address `who` of region "digests". */
static int proc_recv(const char *uri, uint32_t who, uint32_t n)
{
    wom_space *s;
    wom_abcast *b;
    wom_region *dig;
    if (wom_open(uri, &s) || wom_abcast_open(s, "ab", &b) ||
        wom_region_open(s, "digests", WOM_ONCE, &dig))
        return 2;
    uint32_t next[PROC_SENDERS] = {0};
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < (uint64_t)PROC_SENDERS * n; i++) {
        unsigned char m[MSG_MAX], want[MSG_MAX];
        size_t len;
        uint64_t at;
        uint32_t snd, k;
        if (wom_abcast_recv(b, m, sizeof m, &len, &at, LONG_NS) || at != i || len < 8)
            return 3;
        memcpy(&snd, m, 4);
        memcpy(&k, m + 4, 4);
        if (snd >= PROC_SENDERS || k != next[snd]++ || msg_make(snd, k, want) != len ||
            memcmp(m, want, len))
            return 4;
        h = (h ^ ((uint64_t)snd << 32 | k)) * 1099511628211ull;
    }
    if (wom_put(dig, who, &h, sizeof h))
        return 5;
    wom_region_close(dig);
    wom_abcast_close(b);
    wom_close(s);
    return 0;
}

static pid_t proc_spawn(int (*fn)(const char *, uint32_t, uint32_t), const char *uri,
                        uint32_t who, uint32_t n)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(fn(uri, who, n));
    return pid;
}

static int proc_propose3(const char *uri, uint32_t who, uint32_t n)
{
    (void)n;
    return proc_propose(uri, who);
}

static void proc_reap(pid_t pid, const char *what)
{
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", what, st);
}

/* A private space file for one test, on RAM (/dev/shm) where there is one:
 * every consensus object is a region, and a region on disk costs a few
 * milliseconds to create. */
static void cons_tspace(struct tspace *t)
{
    struct stat st;
    if (stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode)) {
        tspace_make(t);
        return;
    }
    strcpy(t->dir, "/dev/shm/wom-cons-XXXXXX");
    CHECK(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/space.wom", t->dir);
    snprintf(t->uri, sizeof t->uri, "shm:%s", t->path);
}

TEST(cons_abcast_processes, T_CONCURRENT)
{
    struct tspace t;
    cons_tspace(&t);
    uint32_t n = (uint32_t)wom_test_n(2000);
    pid_t rx[PROC_RECEIVERS], tx[PROC_SENDERS], px[PROC_PROPOSERS];
    for (uint32_t i = 0; i < PROC_RECEIVERS; i++)
        rx[i] = proc_spawn(proc_recv, t.uri, i, n);
    for (uint32_t i = 0; i < PROC_SENDERS; i++)
        tx[i] = proc_spawn(proc_send, t.uri, i, n);
    for (uint32_t i = 0; i < PROC_PROPOSERS; i++)
        px[i] = proc_spawn(proc_propose3, t.uri, i, 0);
    for (uint32_t i = 0; i < PROC_SENDERS; i++)
        proc_reap(tx[i], "sender");
    for (uint32_t i = 0; i < PROC_RECEIVERS; i++)
        proc_reap(rx[i], "receiver");
    for (uint32_t i = 0; i < PROC_PROPOSERS; i++)
        proc_reap(px[i], "proposer");
    wom_space *s;
    wom_region *got, *dig;
    CHECK_OK(wom_open(t.uri, &s));
    CHECK_OK(wom_region_open(s, "decided", WOM_ONCE, &got));
    CHECK_OK(wom_region_open(s, "digests", WOM_ONCE, &dig));
    for (uint32_t r = 0; r < PROC_ROUNDS; r++) { /* agreement and validity */
        unsigned char d0[PROP_MAX], d[PROP_MAX];
        size_t n0, nd;
        CHECK_OK(wom_get(got, r, d0, sizeof d0, &n0, 0));
        CHECK_MSG(prop_valid(d0, n0, PROC_PROPOSERS, r), "round %u: not a proposal", r);
        for (uint32_t p = 1; p < PROC_PROPOSERS; p++) {
            CHECK_OK(wom_get(got, (uint64_t)p * PROC_ROUNDS + r, d, sizeof d, &nd, 0));
            CHECK_MSG(nd == n0 && !memcmp(d, d0, n0), "round %u: proposer %u disagrees", r, p);
        }
    }
    uint64_t h0, h;
    size_t len;
    CHECK_OK(wom_get(dig, 0, &h0, sizeof h0, &len, 0));
    for (uint32_t i = 1; i < PROC_RECEIVERS; i++) { /* total order */
        CHECK_OK(wom_get(dig, i, &h, sizeof h, &len, 0));
        CHECK_EQ(h, h0);
    }
    wom_region_close(got);
    wom_region_close(dig);
    wom_close(s);
    tspace_remove(&t);
}

/* A proposer or sender that dies holding the next address (ABANDONED, shm:)
 * decides nothing: consensus and receivers pass it, senders go on. */
TEST(cons_abcast_pass_abandoned, T_UNIT)
{
    struct tspace t;
    cons_tspace(&t);
    wom_space *s;
    wom_region *cr, *br;
    CHECK_OK(wom_open(t.uri, &s));
    CHECK_OK(wom_region_open(s, "c", WOM_ONCE, &cr));
    CHECK_OK(wom_region_open(s, "b", WOM_ONCE, &br));
    die_holding_an_address(cr, 0);
    die_holding_an_address(br, 0);
    wom_cons *c;
    CHECK_OK(wom_cons_open(s, "c", &c));
    propose_str(c, "live", "live");
    wom_cons_close(c);
    CHECK_OK(wom_cons_open(s, "c", &c));
    char out[16];
    size_t n;
    CHECK_OK(wom_cons_read(c, out, sizeof out, &n, LONG_NS));
    CHECK(n == 4 && !memcmp(out, "live", 4));
    wom_cons_close(c);
    /* A receiver that waits finds instance 0 abandoned and passes it; a
     * sender then loses instance 0 to it and goes on. */
    wom_abcast *b = ab_open(s, "b");
    char buf[16];
    int64_t until = wom_test_now_ns() + 10000 * MS;
    do /* each wait gives the engine's look for dead writers (every 50 ms) a turn */
        CHECK_ERR(wom_abcast_recv(b, buf, sizeof buf, &n, NULL, 100 * MS), WOM_ETIMEDOUT);
    while (wom_abcast_cursor(b) == 0 && wom_test_now_ns() < until);
    CHECK_EQ(wom_abcast_cursor(b), 1);
    CHECK_EQ(send_str(b, "m"), 1);
    recv_str(b, "m", 1);
    wom_abcast_close(b);
    wom_region_close(cr);
    wom_region_close(br);
    wom_close(s);
    tspace_remove(&t);
}
