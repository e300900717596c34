/* engine_test.c - unit tests of the cell operations through the public API:
 * conformance tests (T_CONFORM), run on the scope of `wom_tests --uri`, but
 * for the mem: URI parsing at the end. */
#include "harness.h"
#include "wom.h"

static wom_space *open_space(const char *opts)
{
    wom_space *s = NULL;
    CHECK_OK(wom_test_space(opts, &s));
    return s;
}

TEST(once_put_get, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *r;
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    char buf[64];
    size_t n = 0;
    CHECK_ERR(wom_get(r, 7, buf, sizeof buf, &n, 0), WOM_EEMPTY);
    CHECK_OK(wom_put(r, 7, "hello", 5));
    CHECK_OK(wom_get(r, 7, buf, sizeof buf, &n, 0));
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_ERR(wom_put(r, 7, "other", 5), WOM_EWRITTEN);
    CHECK_OK(wom_get(r, 7, buf, sizeof buf, &n, -1));
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_ERR(wom_get(r, 7, buf, 2, &n, 0), WOM_ENOBUFS);
    CHECK_EQ(n, 5);
    CHECK_OK(wom_put(r, 8, NULL, 0)); /* empty values are values */
    CHECK_OK(wom_get(r, 8, buf, sizeof buf, &n, 0));
    CHECK_EQ(n, 0);
    uint64_t t;
    CHECK_OK(wom_tail(r, &t));
    CHECK_EQ(t, 9);
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(once_sparse_high_address, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *r;
    CHECK_OK(wom_region_open(s, "sparse", WOM_ONCE, &r));
    uint64_t addrs[] = {0, 1ull << 60, UINT64_MAX, UINT64_MAX - 1, 1ull << 33, 12345678901ull};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
        CHECK_OK(wom_put(r, addrs[i], &addrs[i], sizeof addrs[i]));
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        uint64_t v = 0;
        size_t n;
        CHECK_OK(wom_get(r, addrs[i], &v, sizeof v, &n, 0));
        CHECK_EQ(n, 8);
        CHECK(v == addrs[i]);
    }
    char b;
    size_t n;
    CHECK_ERR(wom_get(r, (1ull << 60) + 1, &b, 1, &n, 0), WOM_EEMPTY);
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(region_modes_and_names, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *a, *b, *m;
    CHECK_OK(wom_region_open(s, "x", WOM_ONCE, &a));
    CHECK_OK(wom_region_open(s, "x", WOM_ONCE, &b));
    CHECK_ERR(wom_region_open(s, "x", WOM_MANY, &m), WOM_EMODE);
    CHECK_OK(wom_put(a, 1, "v", 1));
    char c;
    size_t n;
    CHECK_OK(wom_get(b, 1, &c, 1, &n, 0)); /* two handles, one region */
    CHECK_EQ(c, 'v');
    CHECK_ERR(wom_store(a, 1, "v", 1, NULL), WOM_EMODE);
    CHECK_ERR(wom_load(a, 1, &c, 1, &n, NULL), WOM_EMODE);
    CHECK_OK(wom_region_open(s, "y", WOM_MANY, &m));
    CHECK_ERR(wom_put(m, 1, "v", 1), WOM_EMODE);
    CHECK_ERR(wom_get(m, 1, &c, 1, &n, 0), WOM_EMODE);
    CHECK_ERR(wom_trim(m, 1), WOM_EMODE);
    char longname[WOM_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    wom_region *z;
    CHECK_ERR(wom_region_open(s, longname, WOM_ONCE, &z), WOM_ENAMETOOLONG);
    CHECK_ERR(wom_region_open(s, "", WOM_ONCE, &z), WOM_EINVAL);
    CHECK_ERR(wom_region_open(s, "q", (wom_mode)3, &z), WOM_EINVAL);
    wom_region_close(a);
    wom_region_close(b);
    wom_region_close(m);
    wom_test_space_close(s);
}

TEST(value_size_limit, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *r;
    wom_region_opts o = WOM_REGION_OPTS_INIT;
    o.max_value = 100;
    CHECK_OK(wom_region_open_opts(s, "small", WOM_ONCE, &o, &r));
    static char big[101];
    CHECK_ERR(wom_put(r, 0, big, 101), WOM_EMSGSIZE);
    uint64_t a;
    CHECK_ERR(wom_append(r, big, 101, &a), WOM_EMSGSIZE);
    CHECK_OK(wom_put(r, 0, big, 100));
    wom_region_info info;
    CHECK_OK(wom_region_info_get(r, &info));
    CHECK_EQ(info.max_value, 100);
    CHECK_EQ(info.tail, 1);
    o.max_value = WOM_MAX_VALUE_LIMIT + 1;
    wom_region *q;
    CHECK_ERR(wom_region_open_opts(s, "huge", WOM_ONCE, &o, &q), WOM_EMSGSIZE);
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(append_and_trim, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *r;
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    for (uint64_t i = 0; i < 5000; i++) {
        uint64_t a;
        CHECK_OK(wom_append(r, &i, sizeof i, &a));
        CHECK_EQ(a, i);
    }
    wom_view v;
    CHECK_OK(wom_get_view(r, 10, &v, 0));
    CHECK_OK(wom_trim(r, 3000));
    /* the pinned view stays valid after trim */
    uint64_t x;
    memcpy(&x, v.data, 8);
    CHECK_EQ(x, 10);
    wom_view_release(&v);
    size_t n;
    CHECK_ERR(wom_get(r, 10, &x, 8, &n, 0), WOM_ETRIMMED);
    CHECK_ERR(wom_get(r, 2999, &x, 8, &n, -1), WOM_ETRIMMED);
    CHECK_ERR(wom_put(r, 5, &x, 8), WOM_ETRIMMED);
    CHECK_OK(wom_get(r, 3000, &x, 8, &n, 0));
    CHECK_EQ(x, 3000);
    CHECK_OK(wom_trim(r, 100)); /* lower: no-op */
    CHECK_OK(wom_get(r, 4999, &x, 8, &n, 0));
    CHECK_OK(wom_trim(r, 10000)); /* beyond the tail */
    uint64_t a;
    CHECK_OK(wom_append(r, &x, 8, &a));
    CHECK_EQ(a, 10000);
    wom_region_info info;
    CHECK_OK(wom_region_info_get(r, &info));
    CHECK_EQ(info.floor, 10000);
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(many_store_load_cas, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *r;
    CHECK_OK(wom_region_open(s, "reg", WOM_MANY, &r));
    char buf[32];
    size_t n = 99;
    uint64_t ver = 99;
    CHECK_OK(wom_load(r, 5, buf, sizeof buf, &n, &ver));
    CHECK_EQ(n, 0);
    CHECK_EQ(ver, 0);
    CHECK_OK(wom_cas(r, 5, 0, "one", 3, &ver));
    CHECK_EQ(ver, 1);
    CHECK_ERR(wom_cas(r, 5, 0, "two", 3, &ver), WOM_ECONFLICT);
    CHECK_OK(wom_store(r, 5, "three", 5, &ver));
    CHECK_EQ(ver, 2);
    CHECK_OK(wom_load(r, 5, buf, sizeof buf, &n, &ver));
    CHECK_EQ(n, 5);
    CHECK_EQ(ver, 2);
    CHECK(memcmp(buf, "three", 5) == 0);
    CHECK_ERR(wom_load(r, 5, buf, 2, &n, &ver), WOM_ENOBUFS);
    CHECK_EQ(n, 5);
    CHECK_ERR(wom_wait(r, 5, 2, 0), WOM_ETIMEDOUT);
    CHECK_OK(wom_wait(r, 5, 1, 0));
    CHECK_ERR(wom_wait(r, 5, 2, 1000000), WOM_ETIMEDOUT);
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(many_overwrite_reclaims, T_CONFORM)
{
    /* A hot register overwritten far more than an arena chunk holds must
     * recycle its chunks instead of growing without bound. */
    wom_space *s = open_space(";size=64M");
    wom_region *r;
    CHECK_OK(wom_region_open(s, "hot", WOM_MANY, &r));
    static char val[4000];
    for (uint64_t i = 0; i < wom_test_n(100000); i++) {
        memcpy(val, &i, 8);
        CHECK_OK(wom_store(r, i % 3, val, sizeof val, NULL));
    }
    wom_region_info info;
    CHECK_OK(wom_region_info_get(r, &info));
    CHECK_MSG(info.bytes < (32u << 20), "bytes %llu", (unsigned long long)info.bytes);
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(trim_bounded_space, T_CONFORM)
{
    /* A log trimmed as it goes runs in constant space: 1 GiB of values
     * through a 64 MiB space. */
    wom_space *s = open_space(";size=64M");
    wom_region *r;
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    static char val[1024];
    uint64_t total = wom_test_n(1u << 20);
    for (uint64_t i = 0; i < total; i++) {
        uint64_t a;
        memcpy(val, &i, 8);
        CHECK_OK(wom_append(r, val, sizeof val, &a));
        CHECK_EQ(a, i);
        if (i % 4096 == 4095)
            CHECK_OK(wom_trim(r, i - 1000));
    }
    wom_region_close(r);
    wom_test_space_close(s);
}

TEST(errors_are_distinct, T_UNIT)
{
    int codes[] = {
#define X_(name, val, msg) WOM_##name,
        WOM_ERRNO_MAP(X_)
#undef X_
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(codes[i] < 0);
        CHECK(strcmp(wom_strerror(codes[i]), "unknown error") != 0);
        CHECK(strncmp(wom_err_name(codes[i]), "WOM_E", 5) == 0);
        for (size_t j = i + 1; j < n; j++)
            CHECK(codes[i] != codes[j]);
    }
    CHECK(strcmp(wom_err_name(-77777), "WOM_E?") == 0);
}

/* The mem: URI parser; shm:'s is tested in shm_test.c and by fuzz_uri. */
TEST(mem_uri_options, T_UNIT)
{
    wom_space *s;
    CHECK_ERR(wom_open("nope:", &s), WOM_EURI);
    CHECK_ERR(wom_open("mem:;size=banana", &s), WOM_EURI);
    CHECK_ERR(wom_open("mem:;size=+64M", &s), WOM_EURI);  /* found by fuzz_uri */
    CHECK_ERR(wom_open("mem:;size= 64M", &s), WOM_EURI);
    CHECK_ERR(wom_open("mem:;size= -1", &s), WOM_EURI);
    CHECK_ERR(wom_open("mem:;size=64Q", &s), WOM_EURI);
    CHECK_ERR(wom_open("mem:;size=32M", &s), WOM_EINVAL); /* below the minimum */
    CHECK_OK(wom_open("mem:;size=33M", &s));
    wom_close(s);
}

/* Every scope's minimum size (32.5 MiB) holds two regions with values. */
TEST(space_of_the_minimum_size_holds_two_regions, T_CONFORM)
{
    wom_space *s = open_space(";size=33M");
    wom_region *a, *b;
    CHECK_OK(wom_region_open(s, "a", WOM_ONCE, &a));
    CHECK_OK(wom_region_open(s, "b", WOM_MANY, &b));
    CHECK_OK(wom_put(a, 0, "x", 1));
    CHECK_OK(wom_store(b, 0, "y", 1, NULL));
    wom_region_close(a);
    wom_region_close(b);
    wom_test_space_close(s);
}

TEST(append_at_the_end_of_the_address_space, T_CONFORM)
{
    wom_space *s = open_space(NULL);
    wom_region *r;
    CHECK_OK(wom_region_open(s, "end", WOM_ONCE, &r));
    uint64_t a, t;
    CHECK_OK(wom_put(r, UINT64_MAX - 1, "x", 1));
    CHECK_OK(wom_tail(r, &t));
    CHECK(t == UINT64_MAX);
    CHECK_ERR(wom_append(r, "y", 1, &a), WOM_ENOSPC);
    CHECK_ERR(wom_append(r, "y", 1, &a), WOM_ENOSPC);
    CHECK_OK(wom_put(r, UINT64_MAX, "z", 1)); /* the last address can still be put */
    wom_region *q;
    CHECK_OK(wom_region_open(s, "trimmed", WOM_ONCE, &q));
    CHECK_OK(wom_trim(q, UINT64_MAX));
    CHECK_ERR(wom_append(q, "y", 1, &a), WOM_ENOSPC);
    CHECK_ERR(wom_put(q, 5, "y", 1), WOM_ETRIMMED);
    wom_region_close(r);
    wom_region_close(q);
    wom_test_space_close(s);
}

TEST(view_next_streams_and_releases_pins, T_CONFORM)
{
    /* 256 MiB of values through a 64 MiB space, read with one reused view:
     * the reused pin must follow the reader from chunk to chunk, or trim
     * could never give the memory back and the writes would hit ENOSPC. */
    wom_space *s = open_space(";size=64M"), *other = open_space(";size=64M");
    wom_region *r, *o;
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(other, "log", WOM_ONCE, &o));
    CHECK_OK(wom_put(o, 0, "x", 1));
    static char val[4096];
    wom_view v = WOM_VIEW_INIT;
    CHECK_OK(wom_get_view_next(o, 0, &v, 0)); /* a view of another space */
    uint64_t n = wom_test_n(65536);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a;
        memcpy(val, &i, 8);
        CHECK_OK(wom_append(r, val, sizeof val, &a));
        CHECK_OK(wom_get_view_next(r, a, &v, 0));
        uint64_t x;
        memcpy(&x, v.data, 8);
        CHECK_EQ(x, i);
        CHECK_EQ(v.len, sizeof val);
        if (i % 1024 == 1023)
            CHECK_OK(wom_trim(r, i - 512));
    }
    CHECK_ERR(wom_get_view_next(r, n + 5, &v, 0), WOM_EEMPTY);
    CHECK(v.pin_[0] == 0); /* an error leaves no view */
    wom_view_release(&v);  /* and releasing nothing is fine */
    wom_region_close(r);
    wom_region_close(o);
    wom_test_space_close(s);
    wom_test_space_close(other);
}

TEST(loans_publish_in_place, T_CONFORM)
{
    wom_space *s = open_space(";size=64M");
    wom_region *r, *m;
    wom_region_opts o = WOM_REGION_OPTS_INIT;
    o.max_value = 4096;
    CHECK_OK(wom_region_open_opts(s, "log", WOM_ONCE, &o, &r));
    CHECK_OK(wom_region_open(s, "regs", WOM_MANY, &m));
    wom_loan l;
    CHECK_ERR(wom_loan_new(r, 4097, &l), WOM_EMSGSIZE);
    CHECK_ERR(wom_loan_new(m, 8, &l), WOM_EMODE);
    CHECK_OK(wom_loan_new(r, 5, &l));
    CHECK_EQ(l.len, 5);
    memcpy(l.data, "hello", 5);
    uint64_t a;
    CHECK_OK(wom_loan_append(&l, &a));
    CHECK_EQ(a, 0);
    char buf[16];
    size_t n;
    CHECK_OK(wom_get(r, 0, buf, sizeof buf, &n, 0));
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_ERR(wom_loan_append(&l, &a), WOM_EINVAL); /* an ended loan */
    wom_loan_cancel(&l);                             /* does nothing */
    /* A put that loses keeps the loan open for another address. */
    CHECK_OK(wom_loan_new(r, 3, &l));
    memcpy(l.data, "abc", 3);
    CHECK_ERR(wom_loan_put(&l, 0), WOM_EWRITTEN);
    CHECK_OK(wom_loan_put(&l, 7));
    CHECK_OK(wom_get(r, 7, buf, sizeof buf, &n, 0));
    CHECK(n == 3 && memcmp(buf, "abc", 3) == 0);
    CHECK_OK(wom_get(r, 0, buf, sizeof buf, &n, 0));
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0); /* the first write stays */
    /* Cancelled loans give their memory back: 256 MiB through 64 MiB. */
    for (int i = 0; i < 65536; i++) {
        CHECK_OK(wom_loan_new(r, 4096, &l));
        wom_loan_cancel(&l);
    }
    wom_region_close(r);
    wom_region_close(m);
    wom_test_space_close(s);
}
