/*
 * ocache_test.c - the cache of written ONCE cells (src/space/ocache.h):
 * hits and misses, eviction by bytes in least-recently-used order, held
 * entries that outlive their eviction, trim, and threads that read, cache
 * and drop the same cells at once (every value exact).
 */
#include <pthread.h>

#include "harness.h"
#include "space/ocache.h"

/* Value of cell (rid, addr): len bytes that follow from the key. */
static size_t cell_value(uint64_t rid, uint64_t addr, unsigned char *b)
{
    size_t len = 8 + (size_t)((rid * 31 + addr) % 200);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(rid * 7 + addr * 13 + i);
    return len;
}

static int entry_is(const struct wom__oentry *e, uint64_t rid, uint64_t addr)
{
    unsigned char want[256];
    size_t len = cell_value(rid, addr, want);
    return e && wom__oentry_len(e) == len && memcmp(wom__oentry_data(e), want, len) == 0;
}

static struct wom__oentry *cache(struct wom__ocache *c, uint64_t rid, uint64_t addr)
{
    unsigned char v[256];
    size_t len = cell_value(rid, addr, v);
    return wom__ocache_put(c, rid, addr, v, len);
}

TEST(ocache_hits_misses_and_first_copy_wins, T_UNIT)
{
    struct wom__ocache *c;
    CHECK_OK(wom__ocache_new(1 << 20, &c));
    CHECK(wom__ocache_get(c, 1, 5) == NULL);
    struct wom__oentry *e = cache(c, 1, 5);
    CHECK(entry_is(e, 1, 5));
    struct wom__oentry *again = wom__ocache_put(c, 1, 5, "other", 5);
    CHECK(again == e && entry_is(again, 1, 5)); /* the cached one wins */
    struct wom__oentry *hit = wom__ocache_get(c, 1, 5);
    CHECK(hit == e);
    CHECK(wom__ocache_get(c, 2, 5) == NULL); /* another region's cell */
    wom__ocache_drop(c, e);
    wom__ocache_drop(c, again);
    wom__ocache_drop(c, hit);
    CHECK(wom__ocache_put(c, 1, 6, "x", 2u << 20) == NULL); /* larger than the cache */
    wom__ocache_free(c);
}

/* With room for about 100 entries per shard, caching 10000 cells keeps the
 * bytes within the bound; a cell read again and again stays; a held entry
 * that is evicted keeps its bytes until dropped. */
TEST(ocache_evicts_least_recent_within_bound, T_UNIT)
{
    const size_t max = 16 * 100 * 300;
    struct wom__ocache *c;
    CHECK_OK(wom__ocache_new(max, &c));
    struct wom__oentry *held = cache(c, 9, 9);
    struct wom__oentry *hot = cache(c, 3, 3);
    wom__ocache_drop(c, hot);
    for (uint64_t a = 0; a < 10000; a++) {
        struct wom__oentry *e = cache(c, 1, a);
        CHECK(entry_is(e, 1, a));
        wom__ocache_drop(c, e);
        CHECK(wom__ocache_bytes(c) <= max);
        struct wom__oentry *h = wom__ocache_get(c, 3, 3); /* keep it recent */
        CHECK_MSG(entry_is(h, 3, 3), "a hot cell was evicted at %llu", (unsigned long long)a);
        wom__ocache_drop(c, h);
    }
    CHECK(wom__ocache_get(c, 1, 0) == NULL); /* long gone */
    struct wom__oentry *last = wom__ocache_get(c, 1, 9999);
    CHECK(entry_is(last, 1, 9999));
    wom__ocache_drop(c, last);
    CHECK(entry_is(held, 9, 9)); /* evicted long ago, still intact while held */
    CHECK(wom__ocache_get(c, 9, 9) == NULL);
    wom__ocache_drop(c, held);
    wom__ocache_free(c);
}

TEST(ocache_trim_drops_below_the_floor, T_UNIT)
{
    struct wom__ocache *c;
    CHECK_OK(wom__ocache_new(1 << 22, &c));
    for (uint64_t a = 0; a < 100; a++) {
        wom__ocache_drop(c, cache(c, 1, a));
        wom__ocache_drop(c, cache(c, 2, a));
    }
    struct wom__oentry *view = wom__ocache_get(c, 1, 10);
    wom__ocache_trim(c, 1, 50);
    for (uint64_t a = 0; a < 100; a++) {
        struct wom__oentry *e = wom__ocache_get(c, 1, a);
        CHECK_MSG((e != NULL) == (a >= 50), "region 1, cell %llu", (unsigned long long)a);
        if (e)
            wom__ocache_drop(c, e);
        e = wom__ocache_get(c, 2, a); /* another region keeps everything */
        CHECK(entry_is(e, 2, a));
        wom__ocache_drop(c, e);
    }
    CHECK(entry_is(view, 1, 10)); /* a view across the trim keeps its bytes */
    wom__ocache_drop(c, view);
    wom__ocache_free(c);
}

/* Threads read, cache, check and drop overlapping cells of a small cache
 * (constant eviction) while one trims now and then: every entry a thread
 * holds is exact, and the bound holds at the end. */
struct ocache_run {
    struct wom__ocache *c;
    int id;
    int bad;
};

static void *ocache_worker(void *p)
{
    struct ocache_run *run = p;
    uint64_t x = wom_test_seed() + (uint64_t)run->id;
    for (uint64_t i = 0; i < wom_test_n(200000); i++) {
        uint64_t r = wom_test_rand(&x), rid = r % 3, addr = (r >> 8) % 2000;
        struct wom__oentry *e = wom__ocache_get(run->c, rid, addr);
        if (!e)
            e = cache(run->c, rid, addr);
        if (e && !entry_is(e, rid, addr))
            run->bad++;
        if (run->id == 0 && i % 1000 == 0)
            wom__ocache_trim(run->c, rid, addr / 2);
        if (e)
            wom__ocache_drop(run->c, e);
    }
    return NULL;
}

TEST(ocache_threads_share_cells, T_CONCURRENT)
{
    struct wom__ocache *c;
    const size_t max = 64 << 10;
    CHECK_OK(wom__ocache_new(max, &c));
    pthread_t t[4];
    struct ocache_run runs[4];
    for (int i = 0; i < 4; i++) {
        runs[i] = (struct ocache_run){c, i, 0};
        CHECK(pthread_create(&t[i], NULL, ocache_worker, &runs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK_EQ(runs[i].bad, 0);
    }
    CHECK(wom__ocache_bytes(c) <= max);
    wom__ocache_free(c);
}
