/* chan_readers_test.c - wom_chan_readers: what a tool sees of a channel's
 * subscribers (open, closed, dead, damaged), without changing anything. */
#include "harness.h"
#include "shm_util.h"
#include "wom.h"

#define MAX_SEEN 8

struct seen {
    int n, stop_after; /* stop_after: fn returns 42 after that many */
    wom_reader_info r[MAX_SEEN];
};

static int collect(const wom_reader_info *ri, void *arg)
{
    struct seen *s = arg;
    CHECK(s->n < MAX_SEEN);
    s->r[s->n++] = *ri;
    return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

/* The readers of c, with want as the call's result. */
static struct seen readers(wom_chan *c, int want)
{
    struct seen s = {0};
    CHECK_ERR(wom_chan_readers(c, collect, &s), want);
    return s;
}

static void check_reader(const wom_reader_info *ri, uint64_t seat, wom_reader_state state,
                         uint64_t cursor, int bounded)
{
    CHECK_MSG(ri->seat == seat && ri->state == state && ri->cursor == cursor &&
                  ri->bounded == bounded,
              "seat %" PRIu64 " state %d cursor %" PRIu64 " bounded %d; want %" PRIu64
              " %d %" PRIu64 " %d",
              ri->seat, (int)ri->state, ri->cursor, ri->bounded, seat, (int)state, cursor,
              bounded);
}

/* The only reader of c is the one given. */
static void check_only_reader(wom_chan *c, uint64_t seat, wom_reader_state state,
                              uint64_t cursor, int bounded)
{
    struct seen r = readers(c, 0);
    CHECK_EQ(r.n, 1);
    check_reader(&r.r[0], seat, state, cursor, bounded);
}

static void send_n(wom_chan *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        CHECK_OK(wom_chan_send(c, &i, sizeof i, 0, NULL));
}

static void recv_n(wom_sub *sub, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        size_t len;
        CHECK_OK(wom_sub_recv(sub, &v, sizeof v, &len, NULL, 0));
    }
}

TEST(chan_readers_open_closed_and_taken_over, T_UNIT)
{
    wom_space *s;
    wom_chan *c;
    wom_sub *a, *b, *late;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.bound = 16; /* a bounded subscriber publishes every 4 messages */
    CHECK_OK(wom_open("mem:", &s));
    CHECK_OK(wom_chan_open(s, "c", &o, &c));
    CHECK_EQ(readers(c, 0).n, 0);
    CHECK_OK(wom_sub_open(c, NULL, &a));
    wom_sub_opts so = WOM_SUB_OPTS_INIT;
    so.bounded = 0;
    CHECK_OK(wom_sub_open(c, &so, &b));
    send_n(c, 10);
    recv_n(a, 9);
    recv_n(b, 3); /* publishes every 1024: still its first cursor */
    struct seen r = readers(c, 0);
    CHECK_EQ(r.n, 2);
    check_reader(&r.r[0], 1, WOM_READER_OPEN, 8, 1);
    check_reader(&r.r[1], 2, WOM_READER_OPEN, 0, 0);
    wom_sub_close(a);
    r = readers(c, 0);
    CHECK_EQ(r.n, 2);
    check_reader(&r.r[0], 1, WOM_READER_CLOSED, 0, 0);
    /* The next subscriber takes the closed seat over. */
    so = (wom_sub_opts)WOM_SUB_OPTS_INIT;
    so.from = 5;
    CHECK_OK(wom_sub_open(c, &so, &late));
    r = readers(c, 0);
    CHECK_EQ(r.n, 2);
    check_reader(&r.r[0], 1, WOM_READER_OPEN, 5, 1);
    /* fn's non-zero value stops the walk and is returned. */
    struct seen one = {.stop_after = 1};
    CHECK_EQ(wom_chan_readers(c, collect, &one), 42);
    CHECK_EQ(one.n, 1);
    CHECK_ERR(wom_chan_readers(NULL, collect, &one), WOM_EINVAL);
    CHECK_ERR(wom_chan_readers(c, NULL, NULL), WOM_EINVAL);
    wom_sub_close(late);
    wom_sub_close(b);
    wom_chan_close(c);
    wom_close(s);
}

/* A seat holding a value no subscriber wrote is skipped; the others are
 * reported, and the call says the space is damaged. */
TEST(chan_readers_skip_a_damaged_seat, T_UNIT)
{
    wom_space *s;
    wom_chan *c;
    wom_sub *a, *b;
    wom_region *acks;
    CHECK_OK(wom_open("mem:", &s));
    CHECK_OK(wom_chan_open(s, "c", NULL, &c));
    CHECK_OK(wom_sub_open(c, NULL, &a));
    CHECK_OK(wom_sub_open(c, NULL, &b));
    CHECK_OK(wom_region_open(s, "c.acks", WOM_MANY, &acks));
    CHECK_OK(wom_store(acks, 1, "bad", 3, NULL));
    struct seen r = readers(c, WOM_ECORRUPT); /* seat 1 skipped */
    CHECK_EQ(r.n, 1);
    check_reader(&r.r[0], 2, WOM_READER_OPEN, 0, 0);
    wom_region_close(acks);
    wom_sub_close(b);
    wom_sub_close(a);
    wom_chan_close(c);
    wom_close(s);
}

/* A child's body (shm_util.h spawn): subscribe to channel c of uri,
 * receive k messages and return, closing nothing; the child then exits. */
static int subscribe_and_die(const char *uri, uint32_t unused, uint64_t k)
{
    wom_space *s;
    wom_chan *c;
    wom_sub *sub;
    (void)unused;
    if (wom_open(uri, &s) || wom_chan_open(s, "c", NULL, &c) || wom_sub_open(c, NULL, &sub))
        return 2;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t v;
        size_t len;
        if (wom_sub_recv(sub, &v, sizeof v, &len, NULL, 0))
            return 3;
    }
    return 0;
}

/* A subscriber whose process died is reported dead at its last cursor, and
 * looking does not close its seat (on a read-only open too); a sender that
 * comes across it does. */
TEST(chan_readers_dead_reported_not_closed, T_UNIT)
{
    struct tspace t;
    char ro[160];
    tspace_make_ro(&t, ro, sizeof ro);
    wom_space *s, *rs;
    wom_chan *c, *rc;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.bound = 4; /* publishes on every message */
    CHECK_OK(wom_open(t.uri, &s));
    CHECK_OK(wom_chan_open(s, "c", &o, &c));
    send_n(c, 4);
    wom_chan_close(c);
    wom_close(s);
    reap(spawn(subscribe_and_die, t.uri, 0, 3), "subscriber");
    CHECK_OK(wom_open(t.uri, &s));
    CHECK_OK(wom_chan_open(s, "c", NULL, &c));
    check_only_reader(c, 1, WOM_READER_DEAD, 3, 1);
    check_only_reader(c, 1, WOM_READER_DEAD, 3, 1); /* looking closed nothing */
    CHECK_OK(wom_open(ro, &rs));
    CHECK_OK(wom_chan_open(rs, "c", NULL, &rc));
    check_only_reader(rc, 1, WOM_READER_DEAD, 3, 1);
    /* The tail is at the dead reader's bound: this send looks at its seat. */
    CHECK_OK(wom_chan_send(c, "x", 1, 0, NULL));
    check_only_reader(rc, 1, WOM_READER_CLOSED, 0, 0);
    wom_chan_close(rc);
    wom_close(rs);
    wom_chan_close(c);
    wom_close(s);
    tspace_remove(&t);
}
