/*
 * lincheck_test.c - linearizability of every cell operation, checked by
 * lincheck.h over recorded per-cell histories, and tests of the checker.
 *
 * The two stress runs are conformance tests (the scope of `wom_tests
 * --uri`): threads meet at a barrier before each cell and then all hammer
 * that one cell with random operations, recording invocation and response
 * times; the odd-numbered thread works through a handle of its own to the
 * space. The checker's own tests (T_UNIT, no space) hand it histories that
 * must pass and histories that must fail, with and without indeterminate
 * writes, and bound its time on histories the size a fault test records.
 */
#include <pthread.h>

#include "harness.h"
#include "lincheck.h"
#include "wom.h"

#define THREADS 3
#define OPS 7 /* per thread per cell */
#define NOPS (THREADS * OPS)
_Static_assert(NOPS <= LIN_MAX_OPS, "a cell's history fits the checker");

struct run {
    wom_space *s;
    wom_region *r;
    const char *name; /* r's */
    wom_mode mode;
    int cells;
    struct lin_history *h;
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

static void do_op(wom_region *r, uint64_t addr, struct lin_op *o)
{
    unsigned char buf[64];
    size_t len = 0;
    o->inv = wom_test_now_ns();
    switch (o->kind) {
    case LIN_PUT:
        memset(buf, (int)(o->arg & 0xff), sizeof buf);
        memcpy(buf, &o->arg, 8);
        o->rc = wom_put(r, addr, buf, 8 + (o->arg % 50));
        break;
    case LIN_GET:
        o->rc = wom_get(r, addr, buf, sizeof buf, &len, 0);
        break;
    case LIN_STORE:
        memcpy(buf, &o->arg, 8);
        o->rc = wom_store(r, addr, buf, 8 + (o->arg % 50), &o->ver);
        break;
    case LIN_LOAD:
        o->rc = wom_load(r, addr, buf, sizeof buf, &len, &o->ver);
        break;
    case LIN_CAS: {
        uint64_t v = o->val;
        memcpy(buf, &v, 8);
        o->rc = wom_cas(r, addr, o->arg, buf, 8 + (v % 50), &o->ver);
        break;
    }
    }
    o->res = wom_test_now_ns();
    if ((o->kind == LIN_GET || o->kind == LIN_LOAD) && o->rc == 0) {
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
            struct lin_op o = {0};
            uint64_t x = wom_test_rand(&rng);
            if (run->mode == WOM_ONCE) {
                o.kind = x % 2 ? LIN_PUT : LIN_GET;
                o.arg = value_id(w->id, c, k);
            } else {
                o.kind = (enum lin_kind)(LIN_STORE + x % 3);
                o.arg = o.kind == LIN_CAS ? (x >> 8) % 4 : value_id(w->id, c, k);
                o.val = value_id(w->id, c, k); /* CAS's new value */
            }
            do_op(r, (uint64_t)c * 977, &o);
            CHECK(lin_record(&run->h[c], &o) == 0);
        }
    }
    if (r != run->r) {
        wom_region_close(r);
        wom_test_space_close(s);
    }
    return NULL;
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
    for (int c = 0; c < run.cells; c++) {
        char why[512];
        CHECK_EQ(lin_count(&run.h[c]), NOPS);
        int ok = lincheck_cell(run.h[c].ops, NOPS, mode, why, sizeof why);
        CHECK_MSG(ok == 1, "cell %d of %s: %s", c, name, why);
    }
    free(run.h);
    wom_region_close(run.r);
    wom_test_space_close(run.s);
}

TEST(linearizable_once_cells, T_CONCURRENT | T_CONFORM) { check_mode(WOM_ONCE, "lin-once"); }

TEST(linearizable_many_cells, T_CONCURRENT | T_CONFORM) { check_mode(WOM_MANY, "lin-many"); }


/* ---- the checker's own tests ---- */

/* One op of a hand-built history: what it did, and when (inv, res). */
#define PUT(v, rc_, i, r) {.kind = LIN_PUT, .arg = (v), .rc = (rc_), .inv = (i), .res = (r)}
#define GET(v, rc_, i, r) {.kind = LIN_GET, .val = (v), .rc = (rc_), .inv = (i), .res = (r)}
#define STORE(v, ver_, rc_, i, r)                                                                  \
    {.kind = LIN_STORE, .arg = (v), .ver = (ver_), .rc = (rc_), .inv = (i), .res = (r)}
#define LOAD(v, ver_, rc_, i, r)                                                                   \
    {.kind = LIN_LOAD, .val = (v), .ver = (ver_), .rc = (rc_), .inv = (i), .res = (r)}
#define CAS(expect, v, ver_, rc_, i, r)                                                            \
    {.kind = LIN_CAS, .arg = (expect), .val = (v), .ver = (ver_), .rc = (rc_), .inv = (i),       \
     .res = (r)}

/* The checker's verdict on ops[0..n) must be want (1 linearizable, 0 not);
 * a rejection must say why, naming an op. */
static void expect_lin(int want, const struct lin_op *ops, int n, wom_mode mode, int line)
{
    char why[512];
    int got = lincheck_cell(ops, n, mode, why, sizeof why);
    if (got != want)
        wom_test_fail(__FILE__, line, "lincheck_cell gave %d, want %d: %s", got, want, why);
    if (got != 1 && !strstr(why, "op "))
        wom_test_fail(__FILE__, line, "the rejection names no op: \"%s\"", why);
}
#define LIN_OK(ops, mode) expect_lin(1, ops, (int)(sizeof ops / sizeof ops[0]), mode, __LINE__)
#define LIN_BAD(ops, mode) expect_lin(0, ops, (int)(sizeof ops / sizeof ops[0]), mode, __LINE__)

/* The checker itself must reject what is not linearizable. */
TEST(lincheck_rejects_bad_histories, T_UNIT)
{
    /* A get that saw a value, strictly before the put of that value began. */
    struct lin_op a[2] = {GET(5, 0, 0, 1), PUT(5, 0, 2, 3)};
    LIN_BAD(a, WOM_ONCE);
    a[0].res = 5; /* overlapping, it is fine */
    LIN_OK(a, WOM_ONCE);
    /* Two winners of one ONCE cell. */
    struct lin_op b[2] = {PUT(1, 0, 0, 10), PUT(2, 0, 0, 10)};
    LIN_BAD(b, WOM_ONCE);
    /* A load that goes back in time after a completed store. */
    struct lin_op c[3] = {STORE(7, 1, 0, 0, 1), LOAD(7, 1, 0, 2, 3), LOAD(0, 0, 0, 4, 5)};
    LIN_BAD(c, WOM_MANY);
    expect_lin(1, c, 2, WOM_MANY, __LINE__);
    /* A get that saw the cell empty after a put returned; and one after a
     * loser, whose WOM_EWRITTEN says the cell was written. */
    struct lin_op d[2] = {PUT(1, 0, 0, 1), GET(0, WOM_EEMPTY, 2, 3)};
    LIN_BAD(d, WOM_ONCE);
    d[0].rc = WOM_EWRITTEN;
    LIN_BAD(d, WOM_ONCE);
    /* A loser told of another winner than the one everyone read. */
    struct lin_op e[3] = {PUT(1, 0, 0, 3), PUT(2, WOM_EWRITTEN, 0, 3), GET(1, 0, 4, 5)};
    e[1].val = 1;
    LIN_OK(e, WOM_ONCE);
    e[1].val = 2;
    LIN_BAD(e, WOM_ONCE);
    /* A cas that won on a version the cell had left; one that lost on the
     * version it had. */
    struct lin_op f[3] = {STORE(1, 1, 0, 0, 1), STORE(2, 2, 0, 2, 3), CAS(1, 3, 3, 0, 4, 5)};
    LIN_BAD(f, WOM_MANY);
    f[2] = (struct lin_op)CAS(2, 3, 0, WOM_ECONFLICT, 4, 5);
    LIN_BAD(f, WOM_MANY);
    f[2].arg = 1;
    LIN_OK(f, WOM_MANY);
    /* An outcome no cell gives, a value no one wrote (a torn read). */
    struct lin_op g[2] = {PUT(1, WOM_EIO, 0, 1), GET(1, 0, 2, 3)};
    LIN_BAD(g, WOM_ONCE);
    struct lin_op h[2] = {STORE(1, 1, 0, 0, 1), LOAD(UINT64_MAX, 1, 0, 0, 3)};
    LIN_BAD(h, WOM_MANY);
    /* What the checker cannot take: the other mode's op, time backwards,
     * more ops than its set holds. */
    char why[256];
    CHECK_EQ(lincheck_cell(a, 2, WOM_MANY, why, sizeof why), -1);
    CHECK(strstr(why, "op 0"));
    struct lin_op back[1] = {PUT(1, 0, 5, 4)};
    CHECK_EQ(lincheck_cell(back, 1, WOM_ONCE, why, sizeof why), -1);
    CHECK_EQ(lincheck_cell(back, LIN_MAX_OPS + 1, WOM_ONCE, NULL, 0), -1);
}

/* (a) An indeterminate put that a get saw took effect. (b) One nobody saw
 * was dropped, so a later put of another value may win. */
TEST(lincheck_indeterminate_put, T_UNIT)
{
    struct lin_op a[2] = {PUT(1, WOM_EUNKNOWN, 0, 1), GET(1, 0, 2, 3)};
    LIN_OK(a, WOM_ONCE);
    /* ... also when the get began after the put's caller gave up on it. */
    struct lin_op a2[3] = {PUT(1, WOM_EUNKNOWN, 0, 1), GET(0, WOM_EEMPTY, 2, 3), GET(1, 0, 4, 5)};
    LIN_OK(a2, WOM_ONCE);
    struct lin_op b[3] = {PUT(1, WOM_EUNKNOWN, 0, 1), GET(0, WOM_EEMPTY, 2, 3), PUT(2, 0, 4, 5)};
    LIN_OK(b, WOM_ONCE);
    struct lin_op b2[3] = {PUT(1, WOM_EUNKNOWN, 0, 1), PUT(2, 0, 4, 5), GET(2, 0, 6, 7)};
    LIN_OK(b2, WOM_ONCE);
    /* A timeout on a write, a cluster without quorum: as unknown. */
    b2[0].rc = WOM_ETIMEDOUT;
    LIN_OK(b2, WOM_ONCE);
    b2[0].rc = WOM_EUNAVAIL;
    LIN_OK(b2, WOM_ONCE);
    /* If it did take effect, the later put lost: fine too. */
    struct lin_op b3[3] = {PUT(1, WOM_EUNKNOWN, 0, 1), PUT(2, WOM_EWRITTEN, 4, 5), GET(1, 0, 6, 7)};
    LIN_OK(b3, WOM_ONCE);
}

/* The checker must still fail histories with indeterminate writes. */
TEST(lincheck_indeterminate_rejects, T_UNIT)
{
    /* (c) One ONCE address read as two values. */
    struct lin_op c[3] = {PUT(1, WOM_EUNKNOWN, 0, 1), GET(1, 0, 2, 3), GET(2, 0, 4, 5)};
    LIN_BAD(c, WOM_ONCE);
    /* ... even when a second indeterminate put wrote the second value: the
     * first read fixed the cell's value. */
    struct lin_op c2[4] = {PUT(1, WOM_EUNKNOWN, 0, 1), PUT(2, WOM_EUNKNOWN, 0, 1),
                           GET(1, 0, 2, 3), GET(2, 0, 4, 5)};
    LIN_BAD(c2, WOM_ONCE);
    c2[3].val = 1;
    LIN_OK(c2, WOM_ONCE);
    /* ... and when the reads overlap, with no determinate write at all: the
     * search itself, not only the count of values, must fail it. */
    struct lin_op c3[4] = {PUT(1, WOM_EUNKNOWN, 0, 9), PUT(2, WOM_EUNKNOWN, 0, 9),
                           GET(1, 0, 0, 9), GET(0, WOM_EEMPTY, 10, 11)};
    LIN_BAD(c3, WOM_ONCE);
    /* (d) A put that failed with WOM_ENOTCONN never happened: a read of its
     * value is a read of a value nobody wrote. */
    struct lin_op d[2] = {PUT(1, WOM_ENOTCONN, 0, 1), GET(1, 0, 2, 3)};
    LIN_BAD(d, WOM_ONCE);
    d[0].rc = WOM_EUNKNOWN;
    LIN_OK(d, WOM_ONCE);
    /* An indeterminate write takes effect after its invocation, never
     * before: not for a read that returned before it was invoked. */
    struct lin_op early[2] = {GET(1, 0, 0, 1), PUT(1, WOM_EUNKNOWN, 2, 3)};
    LIN_BAD(early, WOM_ONCE);
    struct lin_op early2[3] = {STORE(1, 1, 0, 0, 1), LOAD(2, 2, 0, 2, 3),
                               STORE(2, 0, WOM_EUNKNOWN, 4, 5)};
    LIN_BAD(early2, WOM_MANY);
    /* It takes effect once at the most: one indeterminate store cannot
     * move the version by two. */
    struct lin_op once[2] = {STORE(1, 0, WOM_EUNKNOWN, 0, 1), LOAD(1, 2, 0, 2, 3)};
    LIN_BAD(once, WOM_MANY);
    once[1].ver = 1;
    LIN_OK(once, WOM_MANY);
    /* Failed reads constrain nothing, a get's own timeout is a sight of an
     * empty cell. */
    struct lin_op r[4] = {PUT(1, 0, 0, 1), GET(7, WOM_ENOTCONN, 2, 3), GET(7, WOM_EUNKNOWN, 2, 3),
                          GET(0, WOM_ETIMEDOUT, 4, 5)};
    expect_lin(1, r, 3, WOM_ONCE, __LINE__);
    LIN_BAD(r, WOM_ONCE);
}

/* (e) MANY: an indeterminate store, then a cas on the version it would have
 * made, succeeds; or a cas on the version before it, when it was dropped. */
TEST(lincheck_indeterminate_many, T_UNIT)
{
    struct lin_op e[3] = {STORE(1, 0, WOM_EUNKNOWN, 0, 1), CAS(1, 2, 2, 0, 2, 3),
                          LOAD(2, 2, 0, 4, 5)};
    LIN_OK(e, WOM_MANY);
    struct lin_op e2[2] = {STORE(1, 0, WOM_EUNKNOWN, 0, 1), CAS(0, 2, 1, 0, 2, 3)};
    LIN_OK(e2, WOM_MANY);
    /* Both outcomes of the cas, with the indeterminate store in between. */
    struct lin_op e3[4] = {STORE(1, 0, WOM_EUNKNOWN, 0, 1), CAS(0, 2, 1, 0, 2, 3),
                           CAS(0, 3, 0, WOM_ECONFLICT, 4, 5), LOAD(1, 2, 0, 6, 7)};
    LIN_OK(e3, WOM_MANY);
    /* An indeterminate cas that took effect, and one that would have lost. */
    struct lin_op e4[4] = {STORE(1, 1, 0, 0, 1), CAS(1, 2, 0, WOM_EUNKNOWN, 2, 3),
                           CAS(5, 3, 0, WOM_ETIMEDOUT, 2, 3), LOAD(2, 2, 0, 4, 5)};
    LIN_OK(e4, WOM_MANY);
    e4[3] = (struct lin_op)LOAD(3, 2, 0, 4, 5);
    LIN_BAD(e4, WOM_MANY);
}

/* A linearizable history by construction: `threads` clients take turns
 * at random; each op is invoked, takes effect on a model cell and returns
 * at three ticks of its own, so ops overlap as a scheduler lets them. One
 * op in 16 ends with WOM_ENOTCONN (no effect); `maybes` writes end with
 * WOM_EUNKNOWN, half of them lost before they took effect. Ops are kept
 * in the order they returned, as a recorder keeps them. */
struct client {
    struct lin_op o;
    int phase; /* 0 idle, 1 invoked, 2 took effect */
    int lost;  /* ends with no effect, as rc says */
};

static void sim_invoke(struct client *c, wom_mode mode, int k, uint64_t ver, uint64_t x)
{
    c->o = (struct lin_op){.arg = (uint64_t)(k + 1) << 8 | 1, .val = (uint64_t)(k + 1) << 8 | 2};
    if (mode == WOM_ONCE)
        c->o.kind = x % 3 ? LIN_PUT : LIN_GET;
    else
        c->o.kind = (enum lin_kind)(LIN_STORE + x % 3);
    if (c->o.kind == LIN_CAS) /* a guess at the version, often right */
        c->o.arg = ver + (x >> 8) % 3 - (ver > 0);
    c->lost = (x >> 16) % 16 == 0;
    if (c->lost)
        c->o.rc = WOM_ENOTCONN;
}

static void sim_effect(struct client *c, struct lin_op *cell)
{
    struct lin_op *o = &c->o;
    if (c->lost)
        return;
    switch (o->kind) {
    case LIN_PUT:
        o->rc = cell->ver ? WOM_EWRITTEN : 0;
        if (cell->ver)
            o->val = cell->val;
        else
            *cell = (struct lin_op){.val = o->arg, .ver = 1};
        break;
    case LIN_GET:
        o->rc = cell->ver ? 0 : WOM_EEMPTY;
        o->val = cell->val;
        break;
    case LIN_STORE:
        *cell = (struct lin_op){.val = o->arg, .ver = cell->ver + 1};
        o->ver = cell->ver;
        break;
    case LIN_LOAD:
        o->val = cell->val;
        o->ver = cell->ver;
        break;
    case LIN_CAS:
        o->rc = o->arg == cell->ver ? 0 : WOM_ECONFLICT;
        if (o->rc == 0)
            *cell = (struct lin_op){.val = o->val, .ver = cell->ver + 1};
        o->ver = cell->ver;
        break;
    }
}

static int sim_history(struct lin_op *ops, int n, int threads, int maybes, wom_mode mode,
                       uint64_t *rng)
{
    struct client cl[8] = {0};
    CHECK(threads <= 8);
    struct lin_op cell = {0}; /* the model: val and ver */
    int started = 0, done = 0, unknown = 0;
    for (int64_t t = 1; done < n; t++) {
        uint64_t x = wom_test_rand(rng);
        struct client *c = &cl[x % (uint64_t)threads];
        if (c->phase == 0 && started < n) {
            sim_invoke(c, mode, started++, cell.ver, x >> 8);
            c->o.inv = t;
            if (!c->lost && unknown < maybes / 2 && c->o.kind != LIN_GET &&
                c->o.kind != LIN_LOAD && (x >> 40) % 4 == 0) {
                c->lost = 1; /* the request was lost on its way */
                c->o.rc = WOM_EUNKNOWN;
                unknown++;
            }
            c->phase = 1;
        } else if (c->phase == 1) {
            sim_effect(c, &cell);
            c->phase = 2;
        } else if (c->phase == 2) {
            c->o.res = t;
            ops[done++] = c->o;
            c->phase = 0;
        }
    }
    /* The answers lost on their way back. */
    for (int tries = 0; unknown < maybes && tries < 100 * n; tries++) {
        struct lin_op *o = &ops[wom_test_rand(rng) % (uint64_t)n];
        if (o->kind != LIN_GET && o->kind != LIN_LOAD && o->rc != WOM_EUNKNOWN &&
            o->rc != WOM_ENOTCONN) {
            o->rc = WOM_EUNKNOWN;
            unknown++;
        }
    }
    return unknown;
}

/* Whether an op that certainly took effect moved the cell from its first
 * state: then a final read of that state must fail. */
static int moved(const struct lin_op *ops, int n)
{
    for (int i = 0; i < n; i++)
        if ((ops[i].kind == LIN_PUT && (ops[i].rc == 0 || ops[i].rc == WOM_EWRITTEN)) ||
            (ops[i].kind == LIN_GET && ops[i].rc == 0) ||
            (ops[i].kind == LIN_STORE && ops[i].rc == 0) ||
            (ops[i].kind == LIN_CAS && ops[i].rc == 0) ||
            (ops[i].kind == LIN_LOAD && ops[i].rc == 0 && ops[i].ver > 0))
            return 1;
    return 0;
}

/* (f) Histories the size a fault test records of one cell (30 ops, 8 of
 * them indeterminate, 4 clients) check in bounded time: the linearizable
 * ones pass, and with a last read of the cell's first state appended,
 * which forces the search through every order before it fails, they fail. */
static void check_sim(wom_mode mode)
{
    enum { N = 30, MAYBES = 8, CLIENTS = 4 };
    uint64_t rng = wom_test_seed() * 31 + (uint64_t)mode;
    int64_t worst = 0;
    for (int round = 0; round < (int)wom_test_n(40); round++) {
        struct lin_op ops[N + 1];
        char why[512];
        int tries = 0;
        while (sim_history(ops, N, CLIENTS, MAYBES, mode, &rng) < MAYBES)
            CHECK(++tries < 100); /* too few writes to lose answers of */
        int64_t t0 = wom_test_now_ns();
        int ok = lincheck_cell(ops, N, mode, why, sizeof why);
        int64_t t1 = wom_test_now_ns();
        CHECK_MSG(ok == 1, "round %d: %s", round, why);
        if (moved(ops, N)) {
            ops[N] = mode == WOM_ONCE ? (struct lin_op)GET(0, WOM_EEMPTY, INT64_MAX - 1, INT64_MAX)
                                      : (struct lin_op)LOAD(0, 0, 0, INT64_MAX - 1, INT64_MAX);
            ok = lincheck_cell(ops, N + 1, mode, why, sizeof why);
            CHECK_MSG(ok == 0, "round %d, a read of the first state last: %d: %s", round, ok, why);
        }
        int64_t t2 = wom_test_now_ns();
        worst = t1 - t0 > worst ? t1 - t0 : worst;
        worst = t2 - t1 > worst ? t2 - t1 : worst;
    }
    CHECK_MSG(worst < 2000000000, "a history of %d ops took %lld ms to check", N + 1,
              (long long)(worst / 1000000));
}

TEST(lincheck_bounded_once, T_UNIT) { check_sim(WOM_ONCE); }

TEST(lincheck_bounded_many, T_UNIT) { check_sim(WOM_MANY); }

/* The worst case of the search, every op concurrent with every other, does
 * not hang it: it decides, or says it spent its budget, in bounded time. */
TEST(lincheck_bounded_worst_case, T_UNIT)
{
    struct lin_op ops[LIN_MAX_OPS];
    for (int i = 0; i < LIN_MAX_OPS - 1; i++)
        ops[i] = (struct lin_op)STORE((uint64_t)i + 1, 0, i % 4 ? 0 : WOM_EUNKNOWN, 0, 10);
    for (int i = 0; i < LIN_MAX_OPS - 1; i++)
        ops[i].ver = (uint64_t)(i - i / 4); /* versions no order gives */
    ops[LIN_MAX_OPS - 1] = (struct lin_op)LOAD(1, 1, 0, 11, 12);
    char why[512];
    int64_t t0 = wom_test_now_ns();
    int ok = lincheck_cell(ops, LIN_MAX_OPS, WOM_MANY, why, sizeof why);
    int64_t dt = wom_test_now_ns() - t0;
    CHECK_MSG(ok == 0 || (ok == -1 && strstr(why, "undecided")), "%d: %s", ok, why);
    CHECK_MSG(dt < 3000000000, "%lld ms", (long long)(dt / 1000000));
}

/* ---- the log checker (lincheck_log) ---- */

#define APP(v, a, rc_, i, r)                                                                       \
    {.kind = LIN_APPEND, .val = (v), .addr = (a), .rc = (rc_), .inv = (i), .res = (r)}
#define RD(a, v, rc_, i, r)                                                                        \
    {.kind = LIN_READ, .addr = (a), .val = (v), .rc = (rc_), .inv = (i), .res = (r)}

static void expect_log(int want, const struct lin_logop *ops, size_t n, int line)
{
    char why[512];
    int got = lincheck_log(ops, n, why, sizeof why);
    if (got != want)
        wom_test_fail(__FILE__, line, "lincheck_log gave %d, want %d: %s", got, want, why);
    if (got != 1 && !strstr(why, "op "))
        wom_test_fail(__FILE__, line, "the rejection names no op: \"%s\"", why);
}
#define LOG_OK(ops) expect_log(1, ops, sizeof ops / sizeof ops[0], __LINE__)
#define LOG_BAD(ops) expect_log(0, ops, sizeof ops / sizeof ops[0], __LINE__)

/* Acknowledged appends: one address each, in real-time order; reads of
 * them. */
TEST(lincheck_log_acknowledged, T_UNIT)
{
    struct lin_logop a[5] = {APP(1, 0, 0, 0, 1), APP(2, 1, 0, 2, 3), RD(0, 1, 0, 4, 5),
                             RD(1, 2, 0, 4, 5), RD(2, 0, WOM_EEMPTY, 4, 5)};
    LOG_OK(a);
    /* Concurrent appends may take their addresses in either order. */
    struct lin_logop b[2] = {APP(1, 1, 0, 0, 5), APP(2, 0, 0, 1, 4)};
    LOG_OK(b);
    /* Not when one returned before the other began. */
    struct lin_logop c[2] = {APP(1, 1, 0, 0, 1), APP(2, 0, 0, 2, 3)};
    LOG_BAD(c);
    /* Gaps are allowed by wom_append's contract (addresses only rise). */
    struct lin_logop d[2] = {APP(1, 0, 0, 0, 1), APP(2, 5, 0, 2, 3)};
    LOG_OK(d);
    /* An acknowledged append lost: its address read empty after it
     * returned, or holding another value. */
    struct lin_logop e[2] = {APP(1, 0, 0, 0, 1), RD(0, 0, WOM_EEMPTY, 2, 3)};
    LOG_BAD(e);
    e[1].rc = WOM_ETIMEDOUT; /* a blocking read that waited in vain */
    LOG_BAD(e);
    e[1] = (struct lin_logop)RD(0, 0, WOM_EEMPTY, 0, 3); /* overlapping: fine */
    LOG_OK(e);
    struct lin_logop f[3] = {APP(1, 0, 0, 0, 1), APP(2, 1, 0, 0, 1), RD(0, 2, 0, 2, 3)};
    LOG_BAD(f);
    /* Two acknowledged appends at one address. */
    struct lin_logop g[2] = {APP(1, 0, 0, 0, 5), APP(2, 0, 0, 0, 5)};
    LOG_BAD(g);
    /* A read of an address once it was empty, while a later address was
     * already written: the earlier address cannot be filled later. */
    struct lin_logop h[4] = {APP(1, 1, 0, 0, 1), RD(0, 0, WOM_EEMPTY, 2, 3), APP(2, 0, 0, 0, 9),
                             RD(0, 2, 0, 10, 11)};
    LOG_BAD(h);
    h[0].addr = 2;
    h[2].addr = 1;
    h[3].addr = 1; /* the other way round it is fine */
    LOG_OK(h);
}

/* Appends of unknown outcome: placed by the reads that saw them, dropped
 * when none did; never two places. */
TEST(lincheck_log_indeterminate, T_UNIT)
{
    /* Seen: it took effect, after its invocation. */
    struct lin_logop a[3] = {APP(1, 0, WOM_EUNKNOWN, 0, 1), APP(2, 1, 0, 2, 3),
                             RD(0, 1, 0, 4, 5)};
    LOG_OK(a);
    /* ... even when a read found its address empty after its caller gave
     * up, if nothing forces it earlier. */
    struct lin_logop b[3] = {APP(1, 0, WOM_EUNAVAIL, 0, 1), RD(0, 0, WOM_EEMPTY, 2, 3),
                             RD(0, 1, 0, 4, 5)};
    LOG_OK(b);
    /* ... but not when an append at a higher address returned before that
     * read began: it would have to land below an address already taken. */
    struct lin_logop c[4] = {APP(1, 0, WOM_EUNKNOWN, 0, 1), APP(2, 1, 0, 2, 3),
                             RD(0, 0, WOM_EEMPTY, 4, 5), RD(0, 1, 0, 6, 7)};
    LOG_BAD(c);
    /* Unseen: it never took effect, and constrains nothing. */
    struct lin_logop d[3] = {APP(1, 0, WOM_ETIMEDOUT, 0, 1), APP(2, 0, 0, 2, 3),
                             RD(1, 0, WOM_EEMPTY, 4, 5)};
    LOG_OK(d);
    /* A duplicate append: one value at two addresses. */
    struct lin_logop e[3] = {APP(1, 0, WOM_EUNKNOWN, 0, 1), RD(0, 1, 0, 2, 3), RD(3, 1, 0, 2, 3)};
    LOG_BAD(e);
    /* ... also for an acknowledged one, at another address than it said. */
    struct lin_logop e2[2] = {APP(1, 0, 0, 0, 1), RD(4, 1, 0, 2, 3)};
    LOG_BAD(e2);
    /* Two indeterminate appends seen at one address. */
    struct lin_logop f[4] = {APP(1, 0, WOM_EUNKNOWN, 0, 1), APP(2, 0, WOM_EUNKNOWN, 0, 1),
                             RD(0, 1, 0, 2, 3), RD(0, 2, 0, 4, 5)};
    LOG_BAD(f);
    /* A value from an append that was never sent, or not yet invoked. */
    struct lin_logop g[2] = {APP(1, 0, WOM_ENOTCONN, 0, 1), RD(0, 1, 0, 2, 3)};
    LOG_BAD(g);
    struct lin_logop g2[2] = {RD(0, 1, 0, 0, 1), APP(1, 0, WOM_EUNKNOWN, 2, 3)};
    LOG_BAD(g2);
    struct lin_logop g3[1] = {RD(0, 9, 0, 0, 1)};
    LOG_BAD(g3);
    /* Failed reads learn nothing; an outcome outside the specification. */
    struct lin_logop h[3] = {APP(1, 0, 0, 0, 1), RD(0, 5, WOM_EUNKNOWN, 2, 3),
                             RD(0, 5, WOM_ENOTCONN, 2, 3)};
    LOG_OK(h);
    h[1].rc = WOM_EIO;
    LOG_BAD(h);
    /* What it cannot take: one value appended twice, time backwards. */
    struct lin_logop bad[2] = {APP(1, 0, 0, 0, 1), APP(1, 1, 0, 2, 3)};
    CHECK_EQ(lincheck_log(bad, 2, NULL, 0), -1);
    bad[1] = (struct lin_logop)APP(2, 1, 0, 3, 2);
    CHECK_EQ(lincheck_log(bad, 2, NULL, 0), -1);
    CHECK_EQ(lincheck_log(bad, 0, NULL, 0), 1);
}

/* A log history by construction, the size a fault test records (20000
 * ops, 8 clients taking turns at random; each op is invoked, takes effect
 * on a model log and returns at three ticks of its own; one answer of an
 * append in 8 lost, one request in 16 never sent; a read of every address
 * at the end) passes in well under a second. It must fail when two
 * acknowledged appends, one returned before the other began, swap their
 * addresses, or when one acknowledged append is found missing at the end. */
TEST(lincheck_log_bounded_and_exact, T_UNIT)
{
    enum { CL = 8 };
    size_t n = (size_t)wom_test_n(20000), k = 0;
    struct lin_logop *ops = calloc(2 * n + CL + 2, sizeof *ops);
    uint64_t *model = calloc(n + 1, sizeof *model); /* the value at each address */
    struct {
        struct lin_logop o;
        int phase;
    } c[CL];
    memset(c, 0, sizeof c);
    uint64_t tail = 0, rng = wom_test_seed() * 131 + 7, val = 0;
    CHECK(ops && model);
    for (int64_t t = 1; k < n; t++) {
        uint64_t x = wom_test_rand(&rng);
        struct lin_logop *o = &c[x % CL].o;
        int *phase = &c[x % CL].phase;
        if (*phase == 0) {
            *o = (struct lin_logop){.kind = x >> 8 & 1 ? LIN_APPEND : LIN_READ, .inv = t};
            o->val = o->kind == LIN_APPEND ? ++val : 0;
            o->addr = o->kind == LIN_READ ? (x >> 16) % (tail + 2) : 0;
            o->rc = (x >> 24) % 16 == 0 ? WOM_ENOTCONN : 0;
        } else if (*phase == 1 && o->rc == 0) { /* the effect */
            if (o->kind == LIN_APPEND)
                model[o->addr = tail++] = o->val;
            else if (o->addr < tail)
                o->val = model[o->addr];
            else
                o->rc = WOM_EEMPTY;
        } else if (*phase == 2) {
            o->res = t;
            if ((x >> 32) % 8 == 0 && o->kind == LIN_APPEND && o->rc == 0)
                o->rc = WOM_EUNKNOWN; /* the answer lost */
            ops[k++] = *o;
        }
        *phase = (*phase + 1) % 3;
    }
    /* The ops that took effect but have not returned yet: they return now. */
    int64_t end = INT64_MAX / 8;
    for (int i = 0; i < CL; i++)
        if (c[i].phase == 2) {
            c[i].o.res = end;
            ops[k++] = c[i].o;
        }
    end += 2;
    for (uint64_t a = 0; a <= tail; a++, end += 2)
        ops[k + a] = a < tail ? (struct lin_logop)RD(a, model[a], 0, end, end + 1)
                              : (struct lin_logop)RD(a, 0, WOM_EEMPTY, end, end + 1);
    size_t total = k + tail + 1;
    char why[512];
    int64_t t0 = wom_test_now_ns();
    int ok = lincheck_log(ops, total, why, sizeof why);
    int64_t dt = wom_test_now_ns() - t0;
    CHECK_MSG(ok == 1, "%s", why);
    CHECK_MSG(dt < 1000000000, "%zu ops took %lld ms", total, (long long)(dt / 1000000));
    /* Two acknowledged appends, one returned before the other began: swap
     * their addresses (and the final reads of them). */
    size_t x = k, y = k;
    for (size_t i = 0; i < k && y == k; i++)
        for (size_t j = i + 1; j < k && j < i + 64 && y == k; j++)
            if (ops[i].kind == LIN_APPEND && ops[i].rc == 0 && ops[j].kind == LIN_APPEND &&
                ops[j].rc == 0 && ops[i].res < ops[j].inv)
                x = i, y = j;
    CHECK(y < k);
    uint64_t ax = ops[x].addr, ay = ops[y].addr;
    ops[x].addr = ay, ops[y].addr = ax;
    ops[k + ax].val = ops[y].val, ops[k + ay].val = ops[x].val;
    CHECK_EQ(lincheck_log(ops, total, why, sizeof why), 0);
    ops[x].addr = ax, ops[y].addr = ay;
    ops[k + ax].val = ops[x].val, ops[k + ay].val = ops[y].val;
    CHECK_EQ(lincheck_log(ops, total, why, sizeof why), 1);
    /* One acknowledged append lost: its address, read at the end, empty. */
    ops[k + ax].rc = WOM_EEMPTY;
    CHECK_EQ(lincheck_log(ops, total, why, sizeof why), 0);
    free(model);
    free(ops);
}
