/*
 * lincheck_test.c - a small linearizability checker run over recorded
 * per-cell histories. Threads meet at a barrier before each cell and then all
 * hammer that one cell with random operations, recording invocation and
 * response times. For every cell the checker searches for a sequential order
 * that respects real time and the sequential specification of a ONCE cell
 * (put/get) or a MANY cell (store/load/cas): the search of Wing and Gong with
 * memoisation of (set of linearized ops, state). The two runs are
 * conformance tests (the scope of `wom_tests --uri`); the odd-numbered
 * thread works through a handle of its own to the space.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"
#include "wom.h"

#define THREADS 3
#define OPS 7 /* per thread per cell */
#define NOPS (THREADS * OPS)

enum kind { PUT, GET, STORE, LOAD, CAS };

struct op {
    enum kind kind;
    uint64_t arg;    /* value written, or expected version for CAS */
    int rc;
    uint64_t val;    /* value read (0 = empty) */
    uint64_t ver;    /* version returned */
    int64_t inv, res;
};

struct history {
    struct op ops[NOPS];
    atomic_int n;
};

struct run {
    wom_space *s;
    wom_region *r;
    const char *name; /* r's */
    wom_mode mode;
    int cells;
    struct history *h;
    pthread_barrier_t bar;
};

struct worker {
    struct run *run;
    int id;
};

static uint64_t value_id(int thread, int cell, int k)
{
    return ((uint64_t)(thread + 1) << 40) | ((uint64_t)cell << 8) | (uint64_t)k;
}

static void do_op(wom_region *r, uint64_t addr, struct op *o)
{
    unsigned char buf[64];
    size_t len = 0;
    o->inv = wom_test_now_ns();
    switch (o->kind) {
    case PUT:
        memset(buf, (int)(o->arg & 0xff), sizeof buf);
        memcpy(buf, &o->arg, 8);
        o->rc = wom_put(r, addr, buf, 8 + (o->arg % 50));
        break;
    case GET:
        o->rc = wom_get(r, addr, buf, sizeof buf, &len, 0);
        break;
    case STORE:
        memcpy(buf, &o->arg, 8);
        o->rc = wom_store(r, addr, buf, 8 + (o->arg % 50), &o->ver);
        break;
    case LOAD:
        o->rc = wom_load(r, addr, buf, sizeof buf, &len, &o->ver);
        break;
    case CAS: {
        uint64_t v = o->val;
        memcpy(buf, &v, 8);
        o->rc = wom_cas(r, addr, o->arg, buf, 8 + (v % 50), &o->ver);
        break;
    }
    }
    o->res = wom_test_now_ns();
    if ((o->kind == GET || o->kind == LOAD) && o->rc == 0) {
        o->val = 0;
        if (len >= 8)
            memcpy(&o->val, buf, 8);
        else if (len != 0)
            o->val = UINT64_MAX; /* a value no writer wrote */
    }
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct run *run = w->run;
    uint64_t rng = wom_test_seed() * 7919 + (uint64_t)w->id;
    wom_space *s = run->s;
    wom_region *r = run->r;
    if (w->id % 2) { /* on shm: another mapping and process slot */
        CHECK_OK(wom_test_space_again(run->s, &s));
        CHECK_OK(wom_region_open(s, run->name, run->mode, &r));
    }
    for (int c = 0; c < run->cells; c++) {
        pthread_barrier_wait(&run->bar);
        for (int k = 0; k < OPS; k++) {
            struct op o = {0};
            uint64_t x = wom_test_rand(&rng);
            if (run->mode == WOM_ONCE) {
                o.kind = x % 2 ? PUT : GET;
                o.arg = value_id(w->id, c, k);
            } else {
                o.kind = (enum kind)(STORE + x % 3);
                o.arg = o.kind == CAS ? (x >> 8) % 4 : value_id(w->id, c, k);
                o.val = value_id(w->id, c, k); /* CAS's new value */
            }
            do_op(r, (uint64_t)c * 977, &o);
            struct history *h = &run->h[c];
            h->ops[atomic_fetch_add(&h->n, 1)] = o;
        }
    }
    if (r != run->r) {
        wom_region_close(r);
        wom_test_space_close(s);
    }
    return NULL;
}

/* ---- the checker ---- */

struct state {
    uint64_t val, ver; /* ONCE: ver 0 empty, 1 written */
};

/* Apply op to s if the sequential spec allows its recorded result. */
static int step(const struct op *o, struct state *s)
{
    switch (o->kind) {
    case PUT:
        if (s->ver == 0) {
            if (o->rc != 0)
                return 0;
            s->val = o->arg;
            s->ver = 1;
            return 1;
        }
        return o->rc == WOM_EWRITTEN;
    case GET:
        if (s->ver == 0)
            return o->rc == WOM_EEMPTY;
        return o->rc == 0 && o->val == s->val;
    case STORE:
        if (o->rc != 0 || o->ver != s->ver + 1)
            return 0;
        s->val = o->arg;
        s->ver++;
        return 1;
    case LOAD:
        return o->rc == 0 && o->ver == s->ver && o->val == s->val;
    case CAS:
        if (o->arg != s->ver)
            return o->rc == WOM_ECONFLICT;
        if (o->rc != 0 || o->ver != s->ver + 1)
            return 0;
        s->val = o->val;
        s->ver++;
        return 1;
    }
    return 0;
}

#define MEMO 8192
struct memo {
    struct {
        uint32_t mask, used;
        struct state s;
    } e[MEMO];
};

/* Exact memo of visited (linearized set, state): a revisit cannot succeed
 * where the first visit failed. */
static int memo_seen(struct memo *m, uint32_t mask, const struct state *s)
{
    uint64_t k = ((uint64_t)mask * 0x9e3779b97f4a7c15ull) ^ (s->val * 0xbf58476d1ce4e5b9ull) ^ s->ver;
    unsigned i = (unsigned)(k % MEMO);
    for (unsigned n = 0; n < MEMO; n++, i = (i + 1) % MEMO) {
        if (!m->e[i].used) {
            m->e[i].used = 1;
            m->e[i].mask = mask;
            m->e[i].s = *s;
            return 0;
        }
        if (m->e[i].mask == mask && m->e[i].s.val == s->val && m->e[i].s.ver == s->ver)
            return 1;
    }
    return 0; /* table full: search on without the memo */
}

static int search(const struct op *ops, int n, uint32_t done, struct state s, struct memo *m)
{
    if (done == (1u << n) - 1)
        return 1;
    if (memo_seen(m, done, &s))
        return 0;
    int64_t first_res = INT64_MAX;
    for (int i = 0; i < n; i++)
        if (!(done & (1u << i)) && ops[i].res < first_res)
            first_res = ops[i].res;
    for (int i = 0; i < n; i++) {
        /* op i may go next only if no pending op finished before it began */
        if ((done & (1u << i)) || ops[i].inv > first_res)
            continue;
        struct state t = s;
        if (step(&ops[i], &t) && search(ops, n, done | (1u << i), t, m))
            return 1;
    }
    return 0;
}

static void check_mode(wom_mode mode, const char *name)
{
    struct run run = {.name = name, .mode = mode, .cells = (int)wom_test_n(400)};
    CHECK_OK(wom_test_space(NULL, &run.s));
    CHECK_OK(wom_region_open(run.s, name, mode, &run.r));
    run.h = calloc((size_t)run.cells, sizeof *run.h);
    CHECK(run.h);
    pthread_barrier_init(&run.bar, NULL, THREADS);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){&run, i};
        CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    static struct memo m;
    for (int c = 0; c < run.cells; c++) {
        memset(&m, 0, sizeof m);
        struct state s0 = {0, 0};
        CHECK_MSG(search(run.h[c].ops, NOPS, 0, s0, &m), "cell %d of %s: not linearizable", c,
                  name);
    }
    free(run.h);
    wom_region_close(run.r);
    wom_test_space_close(run.s);
}

TEST(linearizable_once_cells, T_CONCURRENT | T_CONFORM) { check_mode(WOM_ONCE, "lin-once"); }

TEST(linearizable_many_cells, T_CONCURRENT | T_CONFORM) { check_mode(WOM_MANY, "lin-many"); }

/* The checker itself must reject what is not linearizable. */
TEST(lincheck_rejects_bad_histories, T_UNIT)
{
    static struct memo m;
    struct state s0 = {0, 0};
    /* A get that saw a value, strictly before the put of that value began. */
    struct op a[2] = {
        {.kind = GET, .rc = 0, .val = 5, .inv = 0, .res = 1},
        {.kind = PUT, .arg = 5, .rc = 0, .inv = 2, .res = 3},
    };
    memset(&m, 0, sizeof m);
    CHECK(!search(a, 2, 0, s0, &m));
    /* Overlapping, it is fine. */
    a[0].res = 5;
    memset(&m, 0, sizeof m);
    CHECK(search(a, 2, 0, s0, &m));
    /* Two winners of one ONCE cell. */
    struct op b[2] = {
        {.kind = PUT, .arg = 1, .rc = 0, .inv = 0, .res = 10},
        {.kind = PUT, .arg = 2, .rc = 0, .inv = 0, .res = 10},
    };
    memset(&m, 0, sizeof m);
    CHECK(!search(b, 2, 0, s0, &m));
    /* A load that goes back in time after a completed store. */
    struct op c[3] = {
        {.kind = STORE, .arg = 7, .rc = 0, .ver = 1, .inv = 0, .res = 1},
        {.kind = LOAD, .rc = 0, .val = 7, .ver = 1, .inv = 2, .res = 3},
        {.kind = LOAD, .rc = 0, .val = 0, .ver = 0, .inv = 4, .res = 5},
    };
    memset(&m, 0, sizeof m);
    CHECK(!search(c, 3, 0, s0, &m));
    memset(&m, 0, sizeof m);
    CHECK(search(c, 2, 0, s0, &m));
}
