/* demo_roles.c - the demo's producers and consumers: numbered, checksummed
 * messages sent over the channel, and every delivery checked on receipt
 * (exactly once, in order per producer, intact). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"

/* FNV-1a, 64-bit. */
static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Fill a data message of `size` bytes for (producer, seq) of run `run`. */
static void make_message(unsigned char *m, size_t size, uint64_t run, uint32_t producer,
                         uint64_t seq)
{
    uint64_t x = ((uint64_t)producer << 40) ^ seq ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = HDR_SIZE; i < size; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        m[i] = (unsigned char)x;
    }
    struct msg_hdr h = {producer, KIND_DATA, run, seq, checksum(m + HDR_SIZE, size - HDR_SIZE)};
    memcpy(m, &h, sizeof h);
}

/* Flow control private to this run, the same for subscribers and queue
 * members (a queue group takes no seats, so a bound would not hold its
 * producers back): wait while the consumers are more than DEMO_WINDOW
 * messages or DEMO_WINDOW_BYTES behind, so memory stays bounded however
 * long the run (a window in messages alone let 64 KiB messages pile up to
 * 16 GiB, and the space with them). */
static void pace(struct demo *d)
{
    const struct timespec nap = {0, 200000};
    uint64_t window = DEMO_WINDOW_BYTES / d->cfg.size, sent, recvd;
    if (window > DEMO_WINDOW)
        window = DEMO_WINDOW;
    demo_counts(d, &sent, &recvd);
    while (sent - recvd > window && !demo_aborted(d)) {
        nanosleep(&nap, NULL);
        demo_counts(d, &sent, &recvd);
    }
}

/* A channel someone else created with a bound may make senders wait. */
int demo_send(struct demo *d, wom_chan *ch, const void *m, size_t len)
{
    int err;
    do
        err = wom_chan_send(ch, m, len, RECV_POLL_NS, NULL);
    while (err == WOM_ETIMEDOUT && !demo_aborted(d));
    return err;
}

/* Send one message; `m` holds message `seq` of producer p. On a remote
 * space the send is timed (a few hundred a second: the clock costs
 * nothing there, unlike on shm:), to show what a fault costs a sender. */
static int send_message(struct producer *p, unsigned char *m, uint64_t seq)
{
    double t0 = p->d->cfg.remote ? cli_now_s() : 0.0;
    int err = demo_send(p->d, p->ch, m, p->d->cfg.size);
    if (p->d->cfg.remote && cli_now_s() - t0 > p->slowest) {
        p->slowest = cli_now_s() - t0;
        p->slowest_seq = seq;
        p->slowest_at = t0;
    }
    if (err)
        demo_err(p->d, err, "producer %u: send of message %" PRIu64, p->id, seq);
    return err;
}

/* Send message seq with the fault of --inject; returns how many sequence
 * numbers it used up (0 when a send failed). */
static uint64_t send_faulty(struct producer *p, unsigned char *m, uint64_t seq)
{
    size_t size = p->d->cfg.size;
    switch (p->d->cfg.fault) {
    case F_DUPLICATE:
        return !send_message(p, m, seq) && !send_message(p, m, seq);
    case F_DROP:
        return 1;
    case F_CORRUPT:
        m[size - 1] ^= 0x20;
        return !send_message(p, m, seq);
    case F_REORDER:
        break;
    case F_NONE:
        return !send_message(p, m, seq);
    }
    unsigned char *next = malloc(size);
    if (!next || seq + 1 >= p->quota) {
        free(next);
        return !send_message(p, m, seq);
    }
    make_message(next, size, p->d->run, p->id, seq + 1);
    uint64_t used = !send_message(p, next, seq + 1) && !send_message(p, m, seq) ? 2 : 0;
    free(next);
    return used;
}

void *demo_producer(void *arg)
{
    struct producer *p = arg;
    struct demo *d = p->d;
    unsigned char *m = malloc(d->cfg.size);
    uint64_t seq = 0;
    while (m && seq < p->quota && !demo_aborted(d) &&
           !atomic_load_explicit(&d->stop_sending, memory_order_relaxed)) {
        if (seq % 4096 == 0)
            pace(d);
        make_message(m, d->cfg.size, d->run, p->id, seq);
        /* --inject breaks the contract once, in the middle of producer 0's
         * quota, to show that the consumers' checks catch it. */
        int faulty = d->cfg.fault != F_NONE && p->id == 0 && seq == p->quota / 2;
        uint64_t used = faulty ? send_faulty(p, m, seq) : !send_message(p, m, seq);
        if (!used)
            break;
        seq += used;
        atomic_store_explicit(&p->sent, seq, memory_order_relaxed);
    }
    if (!m)
        demo_err(d, WOM_ENOMEM, "producer %u", p->id);
    free(m);
    atomic_fetch_add_explicit(&d->producers_done, 1, memory_order_release);
    return NULL;
}

/* Mark (producer, seq) delivered in queue mode; 0 if it was not before. */
static int bitmap_mark(struct demo *d, struct bitmap *bm, uint64_t seq)
{
    uint64_t ci = seq / BM_CHUNK_BITS, bit = seq % BM_CHUNK_BITS;
    if (ci >= BM_CHUNKS)
        return -1;
    /* acquire pairs with the release CAS below: the chunk's zeroes. */
    _Atomic uint64_t *ch = atomic_load_explicit(&bm->chunk[ci], memory_order_acquire);
    if (!ch) {
        _Atomic uint64_t *fresh = demo_calloc(d, BM_CHUNK_BITS / 64, sizeof *fresh);
        if (!fresh)
            return -1;
        /* release publishes the zeroed chunk; the loser frees its own. */
        if (atomic_compare_exchange_strong_explicit(&bm->chunk[ci], &ch, fresh,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            ch = fresh;
        else
            demo_free(d, fresh); /* (with --procs it stays in the arena) */
    }
    uint64_t mask = 1ull << (bit % 64);
    uint64_t old = atomic_fetch_or_explicit(&ch[bit / 64], mask, memory_order_relaxed);
    return (old & mask) ? 1 : 0;
}

/* Check one data message against consumer c's record. */
static void check_data(struct consumer *c, uint64_t addr, const struct msg_hdr *h,
                       const unsigned char *m, size_t len)
{
    struct demo *d = c->d;
    uint32_t pid = h->producer;
    uint64_t seq = h->seq;
    if (len != d->cfg.size || pid >= d->cfg.producers)
        return demo_fail(d, "consumer %u: address %" PRIu64 ": bad message (%zu bytes, "
                         "producer %" PRIu32 ")", c->id, addr, len, pid);
    if (checksum(m + HDR_SIZE, len - HDR_SIZE) != h->sum)
        return demo_fail(d, "consumer %u: address %" PRIu64 ": producer %" PRIu32
                         " message %" PRIu64 ": payload checksum mismatch",
                         c->id, addr, pid, seq);
    if (d->cfg.queue ? seq < c->next[pid] : seq != c->next[pid])
        return demo_fail(d, "consumer %u: producer %" PRIu32 ": got message %" PRIu64
                         " when expecting %s%" PRIu64 " (%s)", c->id, pid, seq,
                         d->cfg.queue ? "at least " : "", c->next[pid],
                         seq < c->next[pid] ? "duplicate or out of order" : "missing messages");
    if (d->cfg.queue && bitmap_mark(d, &d->bm[pid], seq))
        return demo_fail(d, "consumer %u: producer %" PRIu32 ": message %" PRIu64
                         " delivered to more than one consumer", c->id, pid, seq);
    c->next[pid] = seq + 1;
    c->got[pid]++;
}

/* Check a stop message: in channel mode this consumer must have received
 * exactly the counts it carries; in queue mode main checks the totals. */
static void check_stop(struct consumer *c, const unsigned char *m, size_t len)
{
    struct demo *d = c->d;
    if (len != HDR_SIZE + 8u * d->cfg.producers)
        return demo_fail(d, "consumer %u: bad stop message (%zu bytes)", c->id, len);
    for (unsigned p = 0; p < d->cfg.producers && !d->cfg.queue; p++) {
        uint64_t sent;
        memcpy(&sent, m + HDR_SIZE + 8u * p, 8);
        if (c->got[p] != sent)
            return demo_fail(d, "consumer %u: producer %u: received %" PRIu64
                             " of %" PRIu64 " messages", c->id, p, c->got[p], sent);
    }
}

/* Handle one received message; 1 when it was this run's stop message. */
static int consume(struct consumer *c, uint64_t addr, const void *data, size_t len)
{
    struct msg_hdr h = {0};
    if (len >= HDR_SIZE)
        memcpy(&h, data, sizeof h);
    int mine = len >= HDR_SIZE && h.run == c->d->run;
    if (mine && h.kind == KIND_STOP)
        check_stop(c, data, len);
    else if (mine && h.kind == KIND_DATA)
        check_data(c, addr, &h, data, len);
    else if (mine)
        demo_fail(c->d, "consumer %u: address %" PRIu64 ": unknown message kind", c->id, addr);
    if (mine && h.kind == KIND_DATA)
        atomic_store_explicit(&c->done, atomic_load_explicit(&c->done, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    /* release pairs with trim_behind's acquire: done with every address below. */
    atomic_store_explicit(&c->cursor, addr + 1, memory_order_release);
    return mine && h.kind == KIND_STOP;
}

enum rx { RX_MESSAGE, RX_IDLE, RX_STOP, RX_ERROR };

/* Receive one message (waiting up to RECV_POLL_NS) and check it. */
static enum rx receive_one(struct consumer *c, unsigned char *buf, size_t cap)
{
    uint64_t addr;
    int err, stop = 0;
    if (c->q) {
        size_t len;
        err = wom_queue_take(c->q, buf, cap, &len, &addr, RECV_POLL_NS);
        if (!err)
            stop = consume(c, addr, buf, len);
    } else {
        wom_view v;
        err = wom_sub_recv_view(c->sub, &v, &addr, RECV_POLL_NS);
        if (!err) {
            stop = consume(c, addr, v.data, v.len);
            wom_view_release(&v);
        }
    }
    if (err == WOM_ETIMEDOUT)
        return RX_IDLE;
    if (err) {
        demo_err(c->d, err, "consumer %u: receive", c->id);
        return RX_ERROR;
    }
    return stop ? RX_STOP : RX_MESSAGE;
}

/* Called when consumer c waited in vain: fail the run once the consumers
 * as a whole have received nothing for STALL_S seconds (a lone member of a
 * queue group may rightly get nothing for a while). */
static void check_stall(struct consumer *c)
{
    uint64_t sent, recvd;
    demo_counts(c->d, &sent, &recvd);
    double now = cli_now_s();
    if (recvd != c->stall_seen) {
        c->stall_seen = recvd;
        c->stall_since = now;
    } else if (now - c->stall_since > STALL_S) {
        demo_fail(c->d, "consumer %u: no message received for %.0f s (%" PRIu64
                  " sent, %" PRIu64 " received)", c->id, STALL_S, sent, recvd);
    }
}

void *demo_consumer(void *arg)
{
    struct consumer *c = arg;
    struct demo *d = c->d;
    size_t cap = d->cfg.size > HDR_SIZE + 8u * d->cfg.producers
                     ? d->cfg.size : HDR_SIZE + 8u * d->cfg.producers;
    unsigned char *buf = malloc(cap);
    c->stall_since = cli_now_s();
    enum rx rx = RX_MESSAGE;
    while (buf && !demo_aborted(d) && (rx == RX_MESSAGE || rx == RX_IDLE)) {
        rx = receive_one(c, buf, cap);
        if (rx == RX_IDLE)
            check_stall(c);
    }
    if (!buf)
        demo_err(d, WOM_ENOMEM, "consumer %u", c->id);
    free(buf);
    atomic_fetch_add_explicit(&d->consumers_done, 1, memory_order_release);
    return NULL;
}
