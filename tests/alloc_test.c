/*
 * alloc_test.c - the allocator's reuse rule (warm free chunks before cold
 * ones, punching only what a whole period did not need), the alignment gaps
 * that index pages fill, and a stress of chunks released and taken again
 * by many threads in which no chunk may be handed out twice or lost.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "harness.h"
#include "shm_util.h"

#define VAL 4096u /* with its record header, ~2040 values fill a chunk */

/* A space file of its own in /dev/shm (tmpfs: blocks are pages). */
static void shm_space(struct tspace *t)
{
    strcpy(t->dir, "/dev/shm/wom-alloc-XXXXXX");
    CHECK(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/space.wom", t->dir);
    snprintf(t->uri, sizeof t->uri, "shm:%s", t->path);
}

static uint64_t file_blocks(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return (uint64_t)st.st_blocks * 512;
}

static uint64_t cur_chunk_of(wom_region *r)
{
    return ld_acquire(&wom__reg_of(r)->h->cur_chunk);
}

/* Append until the region has moved to a new current chunk; that chunk. */
static uint64_t append_to_next_chunk(wom_region *r, unsigned char *v)
{
    uint64_t c = cur_chunk_of(r);
    while (cur_chunk_of(r) == c)
        CHECK_OK(wom_append(r, v, VAL, NULL));
    return cur_chunk_of(r);
}

/* A fresh shm: space whose log fills its first chunk and then n more. */
static wom__eng *log_of_chunks(struct tspace *ts, wom_space **s, wom_region **r,
                               unsigned char *v, unsigned n)
{
    shm_space(ts);
    open_log(ts->uri, s, r);
    CHECK_OK(wom_append(*r, v, VAL, NULL)); /* the first chunk */
    for (unsigned i = 0; i < n; i++)
        append_to_next_chunk(*r, v);
    return wom__reg_of(*r)->e;
}

/* End the free-chunk period now, on a made-up clock one period ahead of
 * the real one: the period it begins then ends two periods from now, so
 * chunk operations in the test's next milliseconds, which read the real
 * clock, do not end it (a real-clock end may only come later than that). */
static void end_period(wom__eng *e)
{
    int64_t now = wom_test_now_ns() + WOM__WARM_PERIOD_NS;
    st_seq(&e->hdr->period_end, (uint64_t)now);
    wom__chunk_decay(e, now);
}

/* Walk a free stack (page index links) into out[]; returns its length. */
static size_t stack_walk(wom__eng *e, wom_a64 *head, uint64_t *out, size_t cap)
{
    size_t n = 0;
    for (uint64_t p = ld_seq(head) >> 32; p && n < cap; n++) {
        out[n] = p * WOM__PAGE;
        p = ld_seq(&eng_chunk(e, p * WOM__PAGE)->next_free);
    }
    return n;
}

/* More chunks released than WOM__WARM_CHUNKS (so some are punched): the
 * next new chunks must be warm ones (every block still allocated) as long
 * as any is free, never a punched one. A single LIFO stack put the punched
 * ones on top, and every page of them faulted in again. Also: the index
 * pages go into the gaps the chunks' alignment leaves, so brk stays close
 * to the chunks the space holds. */
TEST(alloc_warm_chunks_are_reused_before_cold_ones, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    static unsigned char v[VAL];
    const unsigned n = WOM__WARM_CHUNKS + 4;
    wom__eng *e = log_of_chunks(&ts, &s, &r, v, n);
    end_period(e); /* nothing was free: the trim below keeps 8 warm */
    /* n + 1 chunks, a few leaves and index nodes: without the gaps, each
     * chunk after a leaf skipped ~8 MiB to its alignment. */
    CHECK_MSG(ld_seq(&e->hdr->brk) < (uint64_t)(n + 3) * WOM__CHUNK_SIZE,
              "brk %" PRIu64 " MiB for %u chunks", ld_seq(&e->hdr->brk) >> 20, n + 1);

    uint64_t tail;
    CHECK_OK(wom_tail(r, &tail));
    CHECK_OK(wom_trim(r, tail)); /* every sealed chunk is released */
    uint64_t warm[64], cold[64];
    size_t nw = stack_walk(e, &e->hdr->free_chunks, warm, 64);
    size_t nc = stack_walk(e, &e->hdr->cold_chunks, cold, 64);
    CHECK_EQ(nw + nc, n);
    CHECK(nw >= WOM__WARM_IDLE && nc >= 1);
    CHECK_EQ(ld_seq(&e->hdr->warm_count), nw);
    CHECK_EQ(ld_seq(&e->hdr->free_count), nw + nc);
    for (size_t i = 0; i < nc; i++) /* punched */
        CHECK_EQ(ld_seq(&eng_chunk(e, cold[i])->backed), WOM__PAGE);

    /* Every chunk taken while a warm one is free is warm: fully backed
     * before the first record in it asked for anything. */
    for (unsigned taken = 0; taken < n; taken++) {
        uint64_t w = ld_seq(&e->hdr->warm_count);
        uint64_t c = append_to_next_chunk(r, v);
        uint64_t backed = ld_seq(&eng_chunk(e, c)->backed);
        if (w)
            CHECK_MSG(backed == WOM__CHUNK_SIZE,
                      "take %u: a cold chunk (backed %" PRIu64 ") while %" PRIu64 " warm were free",
                      taken, backed, w);
        else
            CHECK_MSG(backed < WOM__CHUNK_SIZE, "take %u: warm chunks left uncounted", taken);
    }
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* Warm chunks that the last periods did not take are punched, one a period
 * after a burst; those a period took stay warm. The clock is made up. */
TEST(alloc_idle_warm_chunks_are_punched_after_a_period, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    static unsigned char v[VAL];
    wom__eng *e = log_of_chunks(&ts, &s, &r, v, WOM__WARM_CHUNKS + 1);
    struct wom__seg_hdr *h = e->hdr;
    end_period(e);
    end_period(e);
    uint64_t tail;
    CHECK_OK(wom_tail(r, &tail));
    CHECK_OK(wom_trim(r, tail)); /* 9 released: 8 warm, 1 cold */
    CHECK_EQ(ld_seq(&h->warm_count), WOM__WARM_CHUNKS);

    /* A period in which 5 chunks were taken: 5 stay warm. */
    for (int i = 0; i < 5; i++)
        append_to_next_chunk(r, v);
    uint64_t blocks = file_blocks(ts.path);
    end_period(e);
    CHECK_EQ(ld_seq(&h->dip_prev), 5);
    CHECK_EQ(ld_seq(&h->warm_count), WOM__WARM_CHUNKS - 5); /* 3 <= 5: none punched */
    CHECK_EQ(file_blocks(ts.path), blocks);

    /* Everything back, then two periods that took nothing: all but
     * WOM__WARM_IDLE are punched, and their blocks leave the file. */
    CHECK_OK(wom_tail(r, &tail));
    CHECK_OK(wom_trim(r, tail));
    uint64_t w = ld_seq(&h->warm_count);
    CHECK_EQ(w, WOM__WARM_CHUNKS);
    /* The dip of 5 is remembered one less each period: one chunk goes a
     * period, down to WOM__WARM_IDLE. */
    for (uint64_t k = 4; k >= WOM__WARM_IDLE; k--) {
        end_period(e);
        CHECK_EQ(ld_seq(&h->warm_count), k);
    }
    end_period(e);
    CHECK_EQ(ld_seq(&h->warm_count), WOM__WARM_IDLE);
    CHECK(file_blocks(ts.path) <= blocks - (w - WOM__WARM_IDLE) * (WOM__CHUNK_SIZE - WOM__PAGE));

    /* A clock from before a reboot (the period ends far ahead) ends the
     * period at once instead of never. */
    st_seq(&h->period_end, UINT64_MAX / 2);
    wom__chunk_decay(e, 1000);
    CHECK_EQ(ld_seq(&h->period_end), 1000 + WOM__WARM_PERIOD_NS);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

static uint64_t link_of(wom__eng *e, uint64_t off)
{
    return ld_seq(&eng_chunk(e, off)->next_free);
}

/* A process that dies between taking a chunk off a free stack and putting
 * it in use, or between a chunk's last record dying and its release, leaves
 * the chunk on no stack. The next process to open the space alone takes
 * each such chunk back, once, and hands it out again. */
TEST(alloc_chunks_the_dead_held_are_taken_back_by_a_lone_opener, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    static unsigned char v[VAL];
    const unsigned n = WOM__WARM_CHUNKS + 4;
    wom__eng *e = log_of_chunks(&ts, &s, &r, v, n);
    struct wom__seg_hdr *h = e->hdr;
    uint64_t tail;
    CHECK_OK(wom_tail(r, &tail));
    CHECK_OK(wom_trim(r, tail));
    uint64_t brk = ld_seq(&h->brk);
    /* Popped, then dead: still released. */
    uint64_t a = wom__stack_pop(e, &h->free_chunks, link_of, 0);
    /* Popped and reset by chunk_new, never installed. */
    uint64_t b = wom__stack_pop(e, &h->cold_chunks, link_of, 0);
    st_seq(&eng_chunk(e, b)->state, 0);
    st_seq(&eng_chunk(e, b)->alloc, (uint64_t)(WOM__CHUNK_HDR / 8) << 32);
    /* Sealed, its last record dead, never retired. */
    uint64_t c = wom__stack_pop(e, &h->cold_chunks, link_of, 0);
    CHECK(a && b && c);
    uint64_t used = 4u << 20;
    st_seq(&eng_chunk(e, c)->state, 0);
    st_seq(&eng_chunk(e, c)->alloc, ((used / 8) << 32) | CH_SEALED);
    faa_seq(&wom__reg_of(r)->h->sealed_bytes, used); /* as its seal counted */
    wom_region_close(r);
    wom_close(s);

    open_log(ts.uri, &s, &r); /* alone */
    e = wom__reg_of(r)->e;
    h = e->hdr;
    uint64_t warm[64], cold[64];
    size_t nw = stack_walk(e, &h->free_chunks, warm, 64);
    size_t nc = stack_walk(e, &h->cold_chunks, cold, 64);
    CHECK_EQ(nw + nc, n);
    CHECK_EQ(ld_seq(&h->warm_count), nw);
    CHECK_EQ(ld_seq(&h->free_count), n);
    static unsigned char seen[1024];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < nw + nc; i++) {
        uint64_t ch = i < nw ? warm[i] : cold[i - nw];
        CHECK_MSG(!seen[ch >> WOM__CHUNK_SHIFT]++, "chunk %" PRIu64 " free twice",
                  ch >> WOM__CHUNK_SHIFT);
        CHECK_EQ(ld_seq(&eng_chunk(e, ch)->state), CH_RETIRED | CH_RELEASED);
    }
    CHECK(seen[a >> WOM__CHUNK_SHIFT] && seen[b >> WOM__CHUNK_SHIFT] && seen[c >> WOM__CHUNK_SHIFT]);
    CHECK(!seen[cur_chunk_of(r) >> WOM__CHUNK_SHIFT]);
    /* They are handed out again, each once: n more chunks, no fresh one. */
    memset(seen, 0, sizeof seen);
    seen[cur_chunk_of(r) >> WOM__CHUNK_SHIFT] = 1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t ch = append_to_next_chunk(r, v);
        CHECK_MSG(!seen[ch >> WOM__CHUNK_SHIFT]++, "chunk %" PRIu64 " handed out twice",
                  ch >> WOM__CHUNK_SHIFT);
    }
    CHECK_EQ(ld_seq(&h->brk), brk);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- stress: threads release and take chunks; periods end meanwhile ---- */

#define STRESS_THREADS 4

struct churn {
    wom_region *r;
    unsigned id;
    uint64_t n;
};

static atomic_int churn_done;

static void val_fill(unsigned id, uint64_t a, uint64_t *w)
{
    for (unsigned i = 0; i < VAL / 8; i++)
        w[i] = (a * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)id << 56) ^ i;
}

/* Appends to its own region and trims it behind itself, so its chunks are
 * released and others' taken; reads back recent values (a chunk handed to
 * two regions at once would show the other's bytes). */
static void *churn_run(void *arg)
{
    struct churn *c = arg;
    uint64_t w[VAL / 8], got[VAL / 8], x = wom_test_seed() + c->id;
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t a;
        val_fill(c->id, i, w);
        CHECK_OK(wom_append(c->r, w, VAL, &a));
        CHECK_EQ(a, i);
        if (i % 1500 == 1499)
            CHECK_OK(wom_trim(c->r, i - 1000));
        uint64_t b = i - wom_test_rand(&x) % (i % 1500 + 1 < 500 ? i % 1500 + 1 : 500);
        size_t len;
        CHECK_OK(wom_get(c->r, b, got, sizeof got, &len, 0));
        val_fill(c->id, b, w);
        CHECK_MSG(len == VAL && memcmp(got, w, VAL) == 0, "region %u: value %" PRIu64 " changed",
                  c->id, b);
    }
    atomic_fetch_add(&churn_done, 1);
    return NULL;
}

/* Ends the free-chunk period again and again (a made-up clock), so warm
 * chunks are punched and moved while the others take and release them. */
static void *decay_run(void *arg)
{
    wom__eng *e = arg;
    while (atomic_load(&churn_done) < STRESS_THREADS)
        wom__chunk_decay(e, (int64_t)ld_seq(&e->hdr->period_end));
    return NULL;
}

TEST(alloc_stress_chunks_are_never_handed_out_twice, T_CONCURRENT)
{
    if (strcmp(wom_test_scope(), "mem") && strcmp(wom_test_scope(), "shm"))
        wom_test_skip("tests the engine's allocator (mem: and shm:)");
    wom_space *s;
    CHECK_OK(wom_test_space(";size=1G", &s));
    struct churn c[STRESS_THREADS];
    pthread_t th[STRESS_THREADS + 1];
    atomic_store(&churn_done, 0);
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        char name[16];
        snprintf(name, sizeof name, "churn%u", i);
        c[i] = (struct churn){NULL, i, wom_test_n(30000)};
        CHECK_OK(wom_region_open(s, name, WOM_ONCE, &c[i].r));
    }
    wom__eng *e = wom__reg_of(c[0].r)->e;
    for (unsigned i = 0; i < STRESS_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, churn_run, &c[i]) == 0);
    CHECK(pthread_create(&th[STRESS_THREADS], NULL, decay_run, e) == 0);
    for (unsigned i = 0; i <= STRESS_THREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);

    /* Quiet now: every chunk is exactly one of free (on one stack, once)
     * or a region's current or sealed chunk, and the counts are exact. */
    static uint64_t warm[1024], cold[1024];
    size_t nw = stack_walk(e, &e->hdr->free_chunks, warm, 1024);
    size_t nc = stack_walk(e, &e->hdr->cold_chunks, cold, 1024);
    CHECK_EQ(ld_seq(&e->hdr->warm_count), nw);
    CHECK_EQ(ld_seq(&e->hdr->free_count), nw + nc);
    static unsigned char seen[1024];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < nw + nc; i++) {
        uint64_t ch = i < nw ? warm[i] : cold[i - nw];
        CHECK(ch % WOM__CHUNK_SIZE == 0 && ch / WOM__CHUNK_SIZE < 1024);
        CHECK_MSG(!seen[ch / WOM__CHUNK_SIZE]++, "chunk %" PRIu64 " free twice",
                  ch >> WOM__CHUNK_SHIFT);
        CHECK_EQ(ld_seq(&eng_chunk(e, ch)->state), CH_RETIRED | CH_RELEASED);
    }
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        uint64_t cur = cur_chunk_of(c[i].r);
        CHECK_MSG(!seen[cur / WOM__CHUNK_SIZE]++, "region %u's current chunk is free or shared", i);
    }
    /* Every other chunk is in use: not released in this life. */
    for (uint64_t ch = WOM__CHUNK_SIZE; ch + WOM__CHUNK_SIZE <= ld_seq(&e->hdr->brk);
         ch += WOM__CHUNK_SIZE) {
        struct wom__chunk *k = eng_chunk(e, ch);
        if (seen[ch / WOM__CHUNK_SIZE] || k->magic != WOM__CHUNK_MAGIC)
            continue;
        CHECK_MSG(!(ld_seq(&k->state) & CH_RELEASED), "chunk %" PRIu64 " released but on no stack",
                  ch >> WOM__CHUNK_SHIFT);
    }
    for (unsigned i = 0; i < STRESS_THREADS; i++)
        wom_region_close(c[i].r);
    wom_test_space_close(s);
}
