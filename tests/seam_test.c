/*
 * seam_test.c - the scope seam (src/space/space.h) with a backend that is
 * not the engine: every public call reaches the ops table, failures of any
 * op come back as they are (a holder is never declared dead on doubt), a
 * view is released by the backend that made it, and optional ops left out
 * make their calls WOM_ENOTSUP. At the end, conformance tests (T_CONFORM,
 * every scope) of what wom_region_open promises whatever the backend.
 */
#include <stdlib.h>

#include "harness.h"
#include "space/space.h"

/* A backend that keeps one value and counts what it is asked. */
static struct {
    int region_closes, releases, closes;
} seen;

static void fake_release(wom_view *v)
{
    seen.releases++;
    v->pin_[0] = v->pin_[1] = 0;
}

static const struct wom__view_owner fake_owner = {fake_release};

static void fake_close(wom_space *s)
{
    seen.closes++;
    free(s);
}

static int fake_holder(wom_space *s, uint64_t *token)
{
    (void)s;
    *token = 42;
    return 0;
}

static int fake_holder_alive(wom_space *s, uint64_t token, int *alive)
{
    (void)s;
    if (token == 7)
        return WOM_ENOTCONN; /* cannot tell */
    *alive = token == 42;
    return 0;
}

static int fake_region_open(wom_space *s, const char *name, wom_mode mode, size_t max_value,
                            wom_region *r)
{
    (void)s;
    (void)mode;
    (void)max_value;
    if (!strcmp(name, "down"))
        return WOM_EUNAVAIL;
    *(uint64_t *)r->impl = 0x5eed;
    return 0;
}

static void fake_region_close(wom_region *r)
{
    CHECK_EQ(*(uint64_t *)r->impl, 0x5eed);
    seen.region_closes++;
}

static int fake_info(wom_region *r, wom_region_info *out)
{
    (void)r;
    (void)out;
    return WOM_ENOTCONN;
}

static int fake_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    (void)r;
    (void)timeout_ns;
    if (addr != 3)
        return WOM_EUNKNOWN;
    wom__view_release(v); /* one it may have come in with */
    v->data = "hello";
    v->len = 5;
    v->pin_[0] = (uint64_t)(uintptr_t)&fake_owner;
    return 0;
}

static int fake_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    (void)r;
    (void)addr;
    (void)buf;
    (void)len;
    return WOM_ENOTCONN;
}

static int count_region(const wom_region_info *info, void *arg)
{
    (void)info;
    ++*(int *)arg;
    return 0;
}

static const struct wom__ops fake_ops = {
    .region_size = sizeof(uint64_t),
    .close = fake_close,
    .holder = fake_holder,
    .holder_alive = fake_holder_alive,
    .region_open = fake_region_open,
    .region_close = fake_region_close,
    .info = fake_info,
    .get_view = fake_get_view,
    .put = fake_put,
};

TEST(seam_any_backend_behind_the_ops, T_UNIT)
{
    wom_space *s = calloc(1, sizeof *s);
    CHECK(s);
    s->ops = &fake_ops;
    wom_region *r;
    CHECK_ERR(wom_region_open(s, "down", WOM_ONCE, &r), WOM_EUNAVAIL);
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_EQ(wom_holder(s), 42);
    CHECK_EQ(wom_holder_alive(s, 42), 1);
    CHECK_EQ(wom_holder_alive(s, 9), 0);
    CHECK_EQ(wom_holder_alive(s, 7), 1); /* a failed call is doubt: alive */
    wom_region_info info;
    CHECK_ERR(wom_region_info_get(r, &info), WOM_ENOTCONN);
    CHECK_ERR(wom_put(r, 0, "x", 1), WOM_ENOTCONN);
    char b[8];
    size_t len;
    CHECK_ERR(wom_get(r, 0, b, sizeof b, &len, 0), WOM_EUNKNOWN);
    CHECK_OK(wom_get(r, 3, b, sizeof b, &len, 0));
    CHECK(len == 5 && !memcmp(b, "hello", 5));
    CHECK_EQ(seen.releases, 1); /* wom_get released its view at the backend */
    wom_view v = WOM_VIEW_INIT;
    CHECK_OK(wom_get_view(r, 3, &v, 0));
    CHECK_OK(wom_get_view_next(r, 3, &v, 0)); /* the held one released first */
    CHECK_EQ(seen.releases, 2);
    wom_view_release(&v);
    CHECK_EQ(seen.releases, 3);
    wom_view_release(&v); /* nothing held: nothing called */
    CHECK_EQ(seen.releases, 3);
    /* Optional ops left out. */
    wom_loan l;
    wom_cell_info ci;
    CHECK_ERR(wom_loan_new(r, 8, &l), WOM_ENOTSUP);
    CHECK_ERR(wom_inspect(r, 0, &ci), WOM_ENOTSUP);
    int n = 0;
    CHECK_ERR(wom_regions(s, count_region, &n), WOM_ENOTSUP);
    CHECK_EQ(n, 0);
    CHECK_OK(wom_sync(s)); /* nothing outlives the process */
    /* A view of this backend handed to a read of an engine-backed space is
     * released by this backend, then filled by the engine. */
    CHECK_OK(wom_get_view(r, 3, &v, 0));
    wom_space *m;
    wom_region *q;
    CHECK_OK(wom_open("mem:;size=64M", &m));
    CHECK_OK(wom_region_open(m, "log", WOM_ONCE, &q));
    CHECK_OK(wom_put(q, 0, "engine", 6));
    CHECK_OK(wom_get_view_next(q, 0, &v, 0));
    CHECK_EQ(seen.releases, 4);
    CHECK(v.len == 6 && !memcmp(v.data, "engine", 6));
    wom_view_release(&v);
    wom_region_close(q);
    wom_close(m);
    wom_region_close(r);
    CHECK_EQ(seen.region_closes, 1);
    wom_close(s);
    CHECK_EQ(seen.closes, 1);
}

/* ---- wom_region_open's contract on every scope (conformance) ----------- */

#include <pthread.h>

static int count_named(const wom_region_info *info, void *arg)
{
    const char *name = arg;
    return !strcmp(info->name, name) ? 1 + (int)info->mode * 2 : 0;
}

/* 0 when s lists no region `name`, else 1 + 2 * its mode; -1 when the
 * scope cannot list. */
static int listed(wom_space *s, const char *name)
{
    int rc = wom_regions(s, count_named, (void *)name);
    return rc == WOM_ENOTSUP ? -1 : rc;
}

/* Open creates what is absent, with the mode and limit asked; an existing
 * region keeps its own (another handle sees it, values and all); the
 * other mode is WOM_EMODE and changes nothing. */
TEST(seam_region_open_creates_or_opens, T_CONFORM)
{
    wom_space *s, *s2;
    CHECK_OK(wom_test_space(NULL, &s));
    CHECK_OK(wom_test_space_again(s, &s2));
    int lists = listed(s, "a") >= 0;
    CHECK(!lists || listed(s, "a") == 0);
    wom_region_opts o = WOM_REGION_OPTS_INIT;
    o.max_value = 100;
    wom_region *a, *b, *m;
    CHECK_OK(wom_region_open_opts(s, "a", WOM_ONCE, &o, &a));
    CHECK(!lists || listed(s2, "a") == 1 + 2 * WOM_ONCE);
    CHECK_OK(wom_put(a, 3, "v", 1));
    CHECK_ERR(wom_region_open(s2, "a", WOM_MANY, &m), WOM_EMODE);
    o.max_value = 200; /* ignored: the region exists */
    CHECK_OK(wom_region_open_opts(s2, "a", WOM_ONCE, &o, &b));
    wom_region_info info;
    CHECK_OK(wom_region_info_get(b, &info));
    CHECK_EQ(info.mode, WOM_ONCE);
    CHECK_EQ(info.max_value, 100);
    CHECK_EQ(info.tail, 4);
    char c;
    size_t n;
    CHECK_OK(wom_get(b, 3, &c, 1, &n, 0));
    CHECK(n == 1 && c == 'v');
    static char big[150];
    CHECK_ERR(wom_put(b, 4, big, sizeof big), WOM_EMSGSIZE);
    CHECK_ERR(wom_region_open(s, "a", WOM_MANY, &m), WOM_EMODE); /* still */
    CHECK(!lists || listed(s, "a") == 1 + 2 * WOM_ONCE);
    CHECK_OK(wom_region_open(s2, "m", WOM_MANY, &m));
    wom_region *x;
    CHECK_ERR(wom_region_open(s, "m", WOM_ONCE, &x), WOM_EMODE);
    wom_region_close(a);
    wom_region_close(b);
    wom_region_close(m);
    wom_test_space_close(s2);
    wom_test_space_close(s);
}

struct opener {
    wom_space *s;
    pthread_barrier_t *go;
    wom_mode mode;
    size_t max_value;
    int rc;
    wom_region_info info;
};

static void *opener_main(void *arg)
{
    struct opener *o = arg;
    wom_space *s;
    o->rc = wom_test_space_again(o->s, &s);
    pthread_barrier_wait(o->go);
    if (o->rc)
        return NULL;
    wom_region_opts opts = WOM_REGION_OPTS_INIT;
    opts.max_value = o->max_value;
    wom_region *r;
    if (!(o->rc = wom_region_open_opts(s, "race", o->mode, &opts, &r))) {
        o->rc = wom_region_info_get(r, &o->info);
        wom_region_close(r);
    }
    wom_test_space_close(s);
    return NULL;
}

/* Concurrent creators of one name, of both modes and several limits, each
 * through a handle of its own: one region comes of it, and every opener
 * agrees on it (its mode's openers open it with the winner's limit, the
 * others get WOM_EMODE). */
TEST(seam_region_open_racing_creators_agree, T_CONFORM | T_CONCURRENT)
{
    enum { T = 8 };
    wom_space *s;
    CHECK_OK(wom_test_space(NULL, &s));
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, T);
    pthread_t th[T];
    struct opener o[T];
    for (int i = 0; i < T; i++) {
        memset(&o[i], 0, sizeof o[i]);
        o[i].s = s;
        o[i].go = &go;
        o[i].mode = i % 2 ? WOM_MANY : WOM_ONCE;
        o[i].max_value = 100 + (size_t)i;
        CHECK(pthread_create(&th[i], NULL, opener_main, &o[i]) == 0);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    int winner = -1;
    for (int i = 0; i < T; i++)
        if (!o[i].rc && winner < 0)
            winner = i;
    CHECK(winner >= 0);
    for (int i = 0; i < T; i++) {
        if (o[i].mode != o[winner].mode) {
            CHECK_ERR(o[i].rc, WOM_EMODE);
            continue;
        }
        CHECK_OK(o[i].rc);
        CHECK_EQ(o[i].info.mode, o[winner].mode);
        CHECK_EQ(o[i].info.max_value, o[winner].info.max_value);
    }
    CHECK(o[winner].info.max_value >= 100 && o[winner].info.max_value < 100 + T &&
          (o[winner].info.max_value - 100) % 2 == (o[winner].mode == WOM_MANY));
    wom_test_space_close(s);
}
