/*
 * chan.c - channel and subscription: a ONCE region used as a log.
 *
 * Sending appends; a subscription is a private cursor that reads address
 * after address. Backpressure for bounded channels needs no lock and no
 * shared counter on the send path: each bounded subscriber owns one MANY cell
 * (its seat) where it publishes its cursor now and then, and a sender only
 * looks at the seats when the tail reaches the limit it computed last time.
 *
 * A seat holds {cursor, holder, holds}: the holder token (wom_holder) lets a
 * sender tell a subscriber whose process died, which closes its seat by one
 * cas, so a dead reader never holds live senders back. A new subscriber takes
 * a closed seat over (cas) before it appends a new one, so the seats a sender
 * scans stay as many as the subscribers open at once. Subscribers that hold
 * no sender back (unbounded channels, or opts.bounded = 0) take a seat too,
 * with holds = 0, and publish their cursor every SEAT_WATCH_EVERY messages
 * only for tools (wom_chan_readers, which wom stat shows); senders skip them.
 */
#include <stdlib.h>
#include <string.h>

#include "forms/forms.h"

/* Address of the options cell in N.seats; seats proper start above it. */
#define CHAN_OPTS_CELL 0
/* Retention by bytes or age (without a count) is looked at this often. */
#define CHAN_TRIM_EVERY 64
/* How often a subscriber that holds no sender back publishes its cursor. */
#define SEAT_WATCH_EVERY 1024
/* Published cursor of a closed subscriber: it holds no sender back. */
#define SEAT_CLOSED UINT64_MAX

struct seat {
    uint64_t cursor; /* SEAT_CLOSED: holds no sender back */
    uint64_t holder;
    uint64_t holds; /* 1: a bounded subscriber, senders wait for it */
};

struct wom_sub {
    wom_chan *c;
    uint64_t holder;    /* this process (wom_holder) */
    uint64_t holds;     /* its seat holds senders back */
    uint64_t cursor;    /* the address the next receive reads */
    uint64_t seat;      /* cell in N.acks; 0 = holds no sender back */
    uint64_t published; /* the cursor value last stored in the seat */
    uint64_t every;     /* publish after this many messages */
    wom_view held;      /* wom_sub_recv's last view, kept so the next read in
                           the same chunk needs no new pin */
    uint64_t abandoned; /* addresses skipped because their writer died */
};

/* Fix the channel's bound: the first opener's value wins, later openers read
 * it, so every sender of one channel applies the same bound. A read-only
 * opener only reads it (none fixed yet: unbounded). */
static int chan_fix_bound(wom_chan *c, uint64_t want)
{
    int rc = wom_put(c->seats, CHAN_OPTS_CELL, &want, sizeof want);
    if (rc == 0) {
        c->bound = want;
        return 0;
    }
    if (rc != WOM_EWRITTEN && rc != WOM_EROFS)
        return rc;
    uint64_t got = 0;
    size_t len = 0;
    rc = wom_get(c->seats, CHAN_OPTS_CELL, &got, sizeof got, &len, 0);
    if (rc == WOM_EEMPTY) { /* read-only, and no writer has fixed it yet */
        c->bound = 0;
        return 0;
    }
    if (rc == WOM_ENOBUFS || (rc == 0 && len != sizeof got))
        return WOM_ECORRUPT;
    c->bound = got;
    return rc;
}

static int chan_init(wom_chan *c, const wom_chan_opts *opts)
{
    wom_region_info info;
    int rc = form_region(c->s, c->name, "", WOM_ONCE, opts ? opts->max_value : 0, &c->log);
    if (!rc)
        rc = form_region(c->s, c->name, ".seats", WOM_ONCE, 0, &c->seats);
    if (!rc)
        rc = chan_fix_bound(c, opts ? opts->bound : 0);
    else if (rc == WOM_ENOENT && c->log) /* read-only: a log no channel opened yet */
        rc = 0;
    if (!rc) {
        rc = form_region(c->s, c->name, ".acks", WOM_MANY, 0, &c->acks);
        if (rc == WOM_ENOENT && !c->bound) /* read-only, no reader seated yet */
            rc = 0;
    }
    if (!rc)
        rc = wom_region_info_get(c->log, &info);
    if (!rc)
        c->max_value = info.max_value;
    c->retain = opts ? opts->retain : 0;
    c->retain_bytes = opts ? opts->retain_bytes : 0;
    c->retain_ns = opts && opts->retain_ns > 0 ? opts->retain_ns : 0;
    /* A power of two (retain / 8 rounded down), so the send path tests it
     * with a mask instead of a 64-bit division (20-40 cycles here). */
    uint64_t every = !c->retain ? CHAN_TRIM_EVERY : c->retain / 8 ? c->retain / 8 : 1;
    if ((c->retain_bytes || c->retain_ns) && every > CHAN_TRIM_EVERY)
        every = CHAN_TRIM_EVERY;
    c->trim_every = 1;
    while (c->trim_every <= every / 2)
        c->trim_every *= 2;
    if (!rc && c->retain_ns)
        rc = form_region(c->s, c->name, ".times", WOM_ONCE, 0, &c->times);
    return rc;
}

int wom_chan_open(wom_space *s, const char *name, const wom_chan_opts *opts, wom_chan **out)
{
    if (!s || !name || !out)
        return WOM_EINVAL;
    if (strlen(name) > WOM_NAME_MAX)
        return WOM_ENAMETOOLONG;
    wom_chan *c = calloc(1, sizeof *c);
    if (!c)
        return WOM_ENOMEM;
    c->s = s;
    strcpy(c->name, name);
    int rc = chan_init(c, opts);
    if (rc) {
        wom_chan_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void wom_chan_close(wom_chan *c)
{
    if (!c)
        return;
    wom_region_close(c->log);
    wom_region_close(c->seats);
    wom_region_close(c->acks);
    wom_region_close(c->times);
    free(c);
}

/* Seat i: WOM_EEMPTY while its subscriber has not published yet. */
static int seat_load(wom_chan *c, uint64_t i, struct seat *st, uint64_t *ver)
{
    size_t len;
    int rc = wom_load(c->acks, i, st, sizeof *st, &len, ver);
    if (rc == WOM_ENOBUFS || (!rc && len != 0 && len != sizeof *st))
        return WOM_ECORRUPT;
    return !rc && len == 0 ? WOM_EEMPTY : rc;
}

/* Open, and held by a live process. A dead holder's seat is closed by one
 * cas on the version read (a lost cas: someone else moved it first). */
static int seat_live(wom_chan *c, uint64_t i, const struct seat *st, uint64_t ver)
{
    if (st->cursor == SEAT_CLOSED)
        return 0;
    if (wom_holder_alive(c->s, st->holder))
        return 1;
    struct seat closed = {SEAT_CLOSED, 0, 0};
    (void)wom_cas(c->acks, i, ver, &closed, sizeof closed, NULL);
    return 0;
}

/* The lowest cursor published by a live bounded subscriber: *seat and *ver
 * name its cell and version (to wait on); UINT64_MAX when there is none. */
static int chan_slowest(wom_chan *c, uint64_t *cursor, uint64_t *seat, uint64_t *ver)
{
    uint64_t n;
    int rc = wom_tail(c->seats, &n);
    if (rc)
        return rc;
    *cursor = UINT64_MAX;
    for (uint64_t i = CHAN_OPTS_CELL + 1; i < n; i++) {
        struct seat st;
        uint64_t v;
        rc = seat_load(c, i, &st, &v);
        if (rc == WOM_EEMPTY) /* seat taken, cursor not yet published */
            continue;
        if (rc)
            return rc;
        if (st.holds && st.cursor < *cursor && seat_live(c, i, &st, v)) {
            *cursor = st.cursor;
            *seat = i;
            *ver = v;
        }
    }
    return 0;
}

/* Wait until the tail is below every live bounded cursor + bound; *room
 * gets how far below (how many sends fit now). */
static int chan_room(wom_chan *c, int64_t timeout_ns, uint64_t *room)
{
    form_deadline dl = form_deadline_start(timeout_ns);
    uint64_t tail, limit;
    int rc;
    for (;;) {
        uint64_t slow, seat = 0, ver = 0;
        int64_t left;
        rc = wom_tail(c->log, &tail);
        /* relaxed: the limit is a hint private to this process; a stale one
         * only costs a look at the seats (or, by design, one that is at most
         * `bound` sends old). */
        limit = ld_relaxed(&c->limit);
        if (rc || tail < limit)
            break;
        if ((rc = chan_slowest(c, &slow, &seat, &ver)))
            return rc;
        limit = slow > UINT64_MAX - c->bound ? UINT64_MAX : slow + c->bound;
        /* Cache no further than `bound` ahead, so a subscriber that joins
         * later is counted within `bound` sends (the cache is above the
         * tail, so this leaves `tail < limit` as it was). */
        uint64_t cache = tail > UINT64_MAX - c->bound ? UINT64_MAX : tail + c->bound;
        limit = limit < cache ? limit : cache;
        st_relaxed(&c->limit, limit); /* relaxed: a hint */
        if (tail < limit)
            break;
        if ((rc = form_left(&dl, &left)))
            return rc;
        /* The seat's version moves on every publish, so this cannot miss a
         * cursor that advanced after chan_slowest read it. */
        if ((rc = wom_wait(c->acks, seat, ver, left)))
            return rc;
    }
    if (!rc)
        *room = limit - tail;
    return rc;
}

/* Retention by age: region N.times is a log of marks {address, wall-clock
 * ns}, one appended by the retaining sender that takes an address that is a
 * multiple of trim_every. Every message at or below a mark's address was
 * sent before the mark, so a mark older than the limit lets the log go
 * below its address + 1; the marks used up are trimmed too. Returns the
 * address to trim the log below (0: nothing). */
struct time_mark {
    uint64_t addr;
    int64_t ns;
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* marks outlive processes and boots */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t chan_age_floor(wom_chan *c, uint64_t at)
{
    int64_t now = wall_ns();
    struct time_mark m = {at, now};
    (void)wom_append(c->times, &m, sizeof m, NULL); /* lost: a coarser index */
    wom_region_info info;
    if (wom_region_info_get(c->times, &info))
        return 0;
    uint64_t below = 0, i = info.floor;
    for (; i < info.tail; i++) {
        size_t len;
        int rc = wom_get(c->times, i, &m, sizeof m, &len, 0);
        if (rc == WOM_ETRIMMED || rc == WOM_EABANDONED || (!rc && len != sizeof m))
            continue;
        if (rc || m.ns > now - c->retain_ns) /* in flight, or young enough */
            break;
        if (m.addr < at && m.addr + 1 > below) /* a mark past this send is bogus */
            below = m.addr + 1;
    }
    (void)wom_trim(c->times, i);
    return below;
}

/* After the send at `at` (a multiple of trim_every): trim the log by every
 * retention limit of this handle. A failed trim only keeps more. */
static void chan_retain(wom_chan *c, uint64_t at)
{
    uint64_t below = c->retain && at >= c->retain ? at + 1 - c->retain : 0;
    wom_region_info info;
    if (c->retain_bytes && !wom_region_info_get(c->log, &info) &&
        info.bytes > c->retain_bytes && info.tail > info.floor) {
        /* bytes counts whole chunks not yet released: keep that share of
         * the live addresses, which holds at most retain_bytes of values */
        double share = (double)c->retain_bytes / (double)info.bytes;
        uint64_t keep = (uint64_t)((double)(info.tail - info.floor) * share);
        if (info.tail - keep > below)
            below = info.tail - keep;
    }
    if (c->times) {
        uint64_t b = chan_age_floor(c, at);
        below = b > below ? b : below;
    }
    /* The counts and marks read here come from the space; whatever they
     * say, the message just sent stays. */
    if (below > at)
        below = at;
    if (below)
        (void)wom_trim(c->log, below);
}

/* Wait for room, append buf (or publish loan l), then apply retention. */
static int chan_publish(wom_chan *c, const void *buf, size_t len, wom_loan *l,
                        int64_t timeout_ns, uint64_t *addr)
{
    uint64_t at, room;
    int rc = c->bound ? chan_room(c, timeout_ns, &room) : 0;
    if (!rc)
        rc = l ? wom_loan_append(l, &at) : wom_append(c->log, buf, len, &at);
    if (rc)
        return rc;
    /* Retention: trimming every retain/8 sends (rounded down to a power of
     * two) keeps between retain and 9/8 retain messages; bytes and age are
     * looked at every 64 sends. */
    if ((c->retain || c->retain_bytes || c->times) && (at & (c->trim_every - 1)) == 0)
        chan_retain(c, at);
    if (addr)
        *addr = at;
    return 0;
}

int wom_chan_send(wom_chan *c, const void *buf, size_t len, int64_t timeout_ns,
                  uint64_t *addr)
{
    if (!c || (!buf && len))
        return WOM_EINVAL;
    if (len > c->max_value)
        return WOM_EMSGSIZE;
    return chan_publish(c, buf, len, NULL, timeout_ns, addr);
}

/* The highest of addrs[0..n) that is a multiple of trim_every, or
 * UINT64_MAX when none is. */
static uint64_t retain_point(const wom_chan *c, const uint64_t *addrs, size_t n)
{
    uint64_t at = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if ((addrs[i] & (c->trim_every - 1)) == 0 && (at == UINT64_MAX || addrs[i] > at))
            at = addrs[i];
    return at;
}

/* Send v[0..n) as one append many (n fits the room), then apply retention
 * as the sends of its multiples of trim_every would have. */
static int chan_send_part(wom_chan *c, const wom_iov *v, size_t n, uint64_t *addrs,
                          size_t *done)
{
    uint64_t stack[64], *at = addrs;
    int retains = c->retain || c->retain_bytes || c->times;
    if (!at && retains && !(at = n <= 64 ? stack : malloc(n * sizeof *at)))
        return WOM_ENOMEM;
    int rc = wom_append_many(c->log, v, n, at, done);
    uint64_t point = retains ? retain_point(c, at, *done) : UINT64_MAX;
    if (point != UINT64_MAX)
        chan_retain(c, point);
    if (at != addrs && at != stack)
        free(at);
    return rc;
}

int wom_chan_send_many(wom_chan *c, const wom_iov *v, size_t n, int64_t timeout_ns,
                       uint64_t *addrs, size_t *sent)
{
    size_t d = 0;
    int rc = !c || (!v && n) ? WOM_EINVAL : 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = !v[i].data && v[i].len ? WOM_EINVAL : v[i].len > c->max_value ? WOM_EMSGSIZE : 0;
    form_deadline dl = form_deadline_start(timeout_ns);
    while (!rc && d < n) {
        /* A bounded channel takes what fits now, then waits for more room. */
        uint64_t room = n - d;
        int64_t left = timeout_ns;
        if (c->bound && !(rc = form_left(&dl, &left)))
            rc = chan_room(c, left, &room);
        size_t part = room < n - d ? (size_t)room : n - d, got = 0;
        if (!rc)
            rc = chan_send_part(c, v + d, part, addrs ? addrs + d : NULL, &got);
        d += got;
    }
    if (sent)
        *sent = d;
    return rc;
}

int wom_chan_loan(wom_chan *c, size_t len, wom_loan *l)
{
    if (!c || !l)
        return WOM_EINVAL;
    if (len > c->max_value)
        return WOM_EMSGSIZE;
    return wom_loan_new(c->log, len, l);
}

int wom_chan_send_loan(wom_chan *c, wom_loan *l, int64_t timeout_ns, uint64_t *addr)
{
    if (!c || !l)
        return WOM_EINVAL;
    return chan_publish(c, NULL, 0, l, timeout_ns, addr);
}

/* ---- subscriptions ---- */

/* Store cursor in the subscriber's seat (if it has one and it moved). A
 * failed store only keeps senders more careful than needed, so the receive
 * that triggered it still succeeds. */
static void sub_publish(wom_sub *sub, uint64_t cursor)
{
    if (!sub->seat || cursor == sub->published)
        return;
    struct seat st = {cursor, sub->holder, sub->holds};
    if (wom_store(sub->c->acks, sub->seat, &st, sizeof st, NULL) == 0)
        sub->published = cursor;
}

/* Take a seat for sub: a closed one (or one whose holder died) by cas,
 * else a new one. */
static int seat_take(wom_sub *sub)
{
    wom_chan *c = sub->c;
    struct seat mine = {sub->cursor, sub->holder, sub->holds};
    uint64_t n;
    int rc = wom_tail(c->seats, &n);
    for (uint64_t i = CHAN_OPTS_CELL + 1; !rc && i < n; i++) {
        struct seat st;
        uint64_t v;
        if (seat_load(c, i, &st, &v) || seat_live(c, i, &st, v))
            continue;
        if (st.cursor != SEAT_CLOSED) /* seat_live just closed it: look again */
            continue;
        if (wom_cas(c->acks, i, v, &mine, sizeof mine, NULL) == 0) {
            sub->seat = i;
            return 0;
        }
    }
    if (!rc)
        rc = wom_append(c->seats, NULL, 0, &sub->seat);
    if (!rc)
        rc = wom_store(c->acks, sub->seat, &mine, sizeof mine, NULL);
    return rc;
}

int wom_sub_open(wom_chan *c, const wom_sub_opts *opts, wom_sub **out)
{
    if (!c || !out)
        return WOM_EINVAL;
    wom_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return WOM_ENOMEM;
    sub->c = c;
    sub->held = (wom_view)WOM_VIEW_INIT;
    sub->cursor = opts ? opts->from : 0;
    sub->holds = c->bound && (!opts || opts->bounded);
    sub->every = !sub->holds ? SEAT_WATCH_EVERY : c->bound / 4 ? c->bound / 4 : 1;
    if (c->acks) {
        /* A read-only space gives no seat: the subscriber holds no sender
         * back (and may find messages trimmed under it). */
        sub->holder = wom_holder(c->s);
        int rc = seat_take(sub);
        if (rc == WOM_EROFS) {
            rc = 0;
            sub->seat = 0;
        }
        if (rc) {
            free(sub);
            return rc;
        }
        sub->published = sub->cursor;
    }
    *out = sub;
    return 0;
}

void wom_sub_close(wom_sub *sub)
{
    if (!sub)
        return;
    if (sub->seat) {
        struct seat closed = {SEAT_CLOSED, 0, 0};
        /* If this store fails the seat keeps its last cursor: senders stay
         * bounded by it, never wrongly unbounded. */
        (void)wom_store(sub->c->acks, sub->seat, &closed, sizeof closed, NULL);
    }
    wom_view_release(&sub->held);
    free(sub);
}

/* Read the next message at or after the cursor into v; *at gets its address.
 * Trimmed addresses are skipped to the floor, abandoned ones one by one. The
 * cursor itself is left to the caller, which moves it only on success. */
static int sub_next(wom_sub *sub, wom_view *v, uint64_t *at, uint64_t *skipped,
                    int64_t timeout_ns)
{
    wom_region *log = sub->c->log;
    form_deadline dl = form_deadline_start(timeout_ns);
    uint64_t a = sub->cursor;
    /* The subscription's own held view is reused (its pin may carry over);
     * a caller's view is output only. */
    int (*get)(wom_region *, uint64_t, wom_view *, int64_t) =
        v == &sub->held ? wom_get_view_next : wom_get_view;
    for (int first = 1;; first = 0) {
        /* Publish before a get that may wait, so a sender never waits on a
         * reader that is itself waiting for that sender. A sender waits on
         * this reader only while the tail is `bound` past its published
         * cursor, and a reader with less than `every` (<= bound)
         * unpublished cannot be that reader, so a reader that keeps up
         * does not store its cursor on every catch-up (a MANY store on
         * each message of a ping-pong). One get, that waits: a probe
         * without waiting first would cost a remote scope a second read
         * per message (etcd:// must confirm "not written" with a quorum). */
        if (timeout_ns != 0 && sub->holds && a - sub->published >= sub->every)
            sub_publish(sub, a);
        int64_t left = timeout_ns;
        int rc = first ? 0 : form_left(&dl, &left);
        if (!rc)
            rc = get(log, a, v, left);
        if (rc == 0) {
            *at = a;
            return 0;
        }
        if (rc == WOM_EABANDONED) {
            a++;
            (*skipped)++;
            continue;
        }
        if (rc != WOM_ETRIMMED)
            return rc;
        wom_region_info info;
        if ((rc = wom_region_info_get(log, &info)))
            return rc;
        if (info.floor <= a) /* not a trim this reader can skip */
            return WOM_ETRIMMED;
        a = info.floor;
    }
}

/* Move the cursor past a received address (counting the abandoned ones it
 * skipped) and publish it now and then. */
static void sub_advance(wom_sub *sub, uint64_t at, uint64_t skipped)
{
    sub->cursor = at + 1;
    sub->abandoned += skipped;
    if (sub->seat && sub->cursor - sub->published >= sub->every)
        sub_publish(sub, sub->cursor);
}

int wom_sub_recv_view(wom_sub *sub, wom_view *v, uint64_t *addr, int64_t timeout_ns)
{
    if (!sub || !v)
        return WOM_EINVAL;
    uint64_t at, skipped = 0;
    int rc = sub_next(sub, v, &at, &skipped, timeout_ns);
    if (rc)
        return rc;
    sub_advance(sub, at, skipped);
    if (addr)
        *addr = at;
    return 0;
}

int wom_sub_recv(wom_sub *sub, void *buf, size_t cap, size_t *len, uint64_t *addr,
                 int64_t timeout_ns)
{
    if (!sub || !len || (!buf && cap))
        return WOM_EINVAL;
    uint64_t at, skipped = 0;
    int rc = sub_next(sub, &sub->held, &at, &skipped, timeout_ns);
    if (rc)
        return rc;
    *len = sub->held.len;
    if (sub->held.len > cap)
        return WOM_ENOBUFS;
    if (sub->held.len)
        memcpy(buf, sub->held.data, sub->held.len);
    sub_advance(sub, at, skipped);
    if (addr)
        *addr = at;
    return 0;
}

int wom_sub_recv_views(wom_sub *sub, wom_view *views, size_t max, size_t *got,
                       uint64_t *addrs, int64_t timeout_ns)
{
    if (!sub || !got || (!views && max))
        return WOM_EINVAL;
    if (max == 0) {
        *got = 0;
        return 0;
    }
    /* The first waits (and skips what sub_next skips); the others are the
     * run written already behind it, taken at once (on etcd:// one read).
     * A run that ends early leaves what stopped it to the next receive. */
    uint64_t at, skipped = 0;
    size_t more = 0;
    int rc = sub_next(sub, &views[0], &at, &skipped, timeout_ns);
    if (rc)
        return rc;
    if (at == UINT64_MAX || wom_get_views(sub->c->log, at + 1, views + 1, max - 1, &more))
        more = 0; /* the next receive meets it */
    for (size_t i = 0; addrs && i <= more; i++)
        addrs[i] = at + i;
    sub_advance(sub, at + more, skipped);
    *got = 1 + more;
    return 0;
}

/* ---- readers, for tools ---- */

/* What seat st says of its subscriber. Unlike seat_live, a dead holder's
 * seat stays as it is: looking changes nothing. */
static wom_reader_info reader_info(wom_chan *c, uint64_t i, const struct seat *st)
{
    if (st->cursor == SEAT_CLOSED)
        return (wom_reader_info){i, WOM_READER_CLOSED, 0, 0};
    wom_reader_state state =
        wom_holder_alive(c->s, st->holder) ? WOM_READER_OPEN : WOM_READER_DEAD;
    return (wom_reader_info){i, state, st->cursor, st->holds != 0};
}

int wom_chan_readers(wom_chan *c, int (*fn)(const wom_reader_info *, void *), void *arg)
{
    if (!c || !fn)
        return WOM_EINVAL;
    if (!c->seats || !c->acks) /* read-only, and no subscriber ever seated */
        return 0;
    uint64_t n;
    int rc = wom_tail(c->seats, &n), damaged = 0;
    for (uint64_t i = CHAN_OPTS_CELL + 1; !rc && i < n; i++) {
        struct seat st;
        rc = seat_load(c, i, &st, NULL);
        if (rc == WOM_EEMPTY || rc == WOM_ECORRUPT) { /* just taken; damaged */
            damaged |= rc == WOM_ECORRUPT;
            rc = 0;
            continue;
        }
        if (!rc) {
            wom_reader_info ri = reader_info(c, i, &st);
            rc = fn(&ri, arg);
        }
    }
    return rc ? rc : damaged ? WOM_ECORRUPT : 0;
}

uint64_t wom_sub_cursor(const wom_sub *sub)
{
    return sub ? sub->cursor : 0;
}

uint64_t wom_sub_abandoned(const wom_sub *sub)
{
    return sub ? sub->abandoned : 0;
}
