/* etcd_rpc.c - etcd v3 unary calls over the gRPC C core (etcd_rpc.h).
 *
 * Shape: c->cur is the channel in use, reference counted so that a caller
 * may keep using a channel that failover has already replaced; it is
 * destroyed by whoever drops its last reference. c->mu guards only that
 * pointer, the counts and the failure count, and is never held while
 * waiting on the network. Every asynchronous gRPC operation carries a
 * struct waiter as its tag, on the caller's stack; the completion-queue
 * thread wakes it, and the caller always waits for its tag before its frame
 * ends (every operation has a deadline, and the channel's destruction
 * completes pending watches), so a tag never outlives its waiter.
 *
 * Authentication: c->token (under c->mu) is copied into each call's
 * metadata; c->token_gen counts the tokens fetched, so that of many callers
 * refused for the same token only the first fetches a new one (it sets
 * c->authenticating; the others wait on c->cv, no lock held across the
 * network). */
#include "wire/etcd_rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "util/atomic.h"
#include "util/clock.h"
#include "wom.h" /* the WOM_E* codes only: libwom_etcd calls nothing of libwom */

#define EP_MAX 256                     /* longest "H:P" endpoint */
#define BACKOFF_MIN_NS 20000000LL      /* after the first failed round */
#define BACKOFF_MAX_NS 1000000000LL
#define FAIL_AFTER_NS 500000000LL      /* a call unanswered this long fails its member */
#define PROBE_NS 250000000LL           /* the TCP probe of a failed connect, in all */
#define AUTH_METHOD "/etcdserverpb.Auth/Authenticate"

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
    _Atomic int armed; /* set when handed to gRPC (see waiter_arm) */
};

struct chan {
    grpc_channel *ch;
    size_t ep;          /* index into c->eps */
    unsigned refs;      /* holders, plus one while it is c->cur */
    int64_t not_before; /* do not connect before (backoff), monotonic ns */
};

struct wom__etcd {
    grpc_completion_queue *cq;
    pthread_t thread;
    pthread_mutex_t mu; /* guards cur, refs, fails, closing, token, authenticating */
    pthread_cond_t cv;  /* backoff and authentication waits (CLOCK_MONOTONIC);
                           broadcast on close and when an authentication ends */
    struct chan *cur;   /* NULL once closing */
    unsigned fails;     /* endpoint failures since the last good answer */
    size_t n;
    char **eps;
    bool debug; /* WOM_ETCD_DEBUG set: failed calls are told on stderr */
    bool tls;
    grpc_channel_credentials *creds; /* TLS or plaintext, for every channel */
    int64_t timeout_ns;              /* connect's: bounds a watch's re-authentication */
    char *user, *password;           /* NULL without a user; the password zeroed at close */
    char *token;                     /* NULL until authenticated */
    uint64_t token_gen;              /* tokens fetched so far */
    bool authenticating;             /* a caller is fetching a token */
    struct chan **rd;                /* [n]: reads any member may answer (made on use) */
    _Atomic unsigned rd_next;        /* the member the next such read goes to */
};

/* One request of a call, as exchange sends it. */
struct rpc {
    const char *method;
    const ProtobufCMessage *req;
    size_t len;                          /* req's packed size */
    const ProtobufCMessageDescriptor *d; /* the answer's */
    bool secret;                         /* req holds a password: zero its bytes after */
};

/* What became of an exchange, beyond its error code. */
struct outcome {
    bool failed;      /* the endpoint should be given up */
    bool stale;       /* etcd refused the token: nothing was applied */
    char detail[160]; /* etcd's or gRPC's message for a failure */
};

static _Thread_local char connect_why[512];

/* ---- waiters: a caller sleeps, the CQ thread wakes it ------------------- */

static void waiter_init(struct waiter *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->done = w->ok = 0;
    st_relaxed(&w->armed, 0);
}

/* Just before w goes to gRPC as a tag. gRPC's own hand-over to the CQ thread
 * orders this already, but in an uninstrumented library that ThreadSanitizer
 * cannot see; this pair makes the order visible to it at the cost of one
 * store and one load. */
static void *waiter_arm(struct waiter *w)
{
    st_release(&w->armed, 1); /* pairs with cq_loop's ld_acquire: publishes w's init */
    return w;
}

/* Wait for the CQ thread's wake, then release w. Returns the event's success. */
static int waiter_wait(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    int ok = w->ok;
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return ok;
}

/* The CQ thread: every event's tag is a waiter; after the unlock the waiter
 * may be gone, so it is not touched again. */
static void *cq_loop(void *arg)
{
    struct wom__etcd *c = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        struct waiter *w = ev.tag;
        (void)ld_acquire(&w->armed); /* pairs with waiter_arm: w is initialised */
        pthread_mutex_lock(&w->mu);
        w->ok = ev.success;
        w->done = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* A gRPC deadline for the monotonic ns deadline (gpr's monotonic clock has
 * its own origin, so it is converted through the time left). */
static gpr_timespec gpr_deadline(int64_t deadline)
{
    int64_t left = deadline - wom__now_ns();
    if (left > (int64_t)1e17)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_nanos(left < 0 ? 0 : left, GPR_TIMESPAN));
}

/* ---- channels ------------------------------------------------------------ */

/* A new channel to endpoint ep, connecting no earlier than not_before. Its
 * own subchannels (a new channel to the same endpoint does not inherit the
 * failed one's backoff); quick reconnects, since failover is ours; no limit
 * on answers (a range may be large); keepalive pings find a silent peer. */
static struct chan *chan_new(struct wom__etcd *c, size_t ep, int64_t not_before)
{
    struct chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    grpc_arg a[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, {.integer = 1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = -1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 100}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = 100}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 1000}},
        /* etcd refuses pings more often than every 5 s (its
         * --grpc-keepalive-min-time); a silent member is left in 7 s */
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 5000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 2000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}},
    };
    grpc_channel_args args = {sizeof a / sizeof a[0], a};
    ch->ch = grpc_channel_create(c->eps[ep], c->creds, &args);
    ch->ep = ep;
    ch->refs = 1;
    ch->not_before = not_before;
    return ch;
}

/* The current channel, with a reference; NULL when c is closing. */
static struct chan *chan_get(struct wom__etcd *c)
{
    pthread_mutex_lock(&c->mu);
    struct chan *ch = c->cur;
    if (ch)
        ch->refs++;
    pthread_mutex_unlock(&c->mu);
    return ch;
}

/* Drop a reference; the last one destroys the channel. */
static void chan_put(struct wom__etcd *c, struct chan *ch)
{
    pthread_mutex_lock(&c->mu);
    int last = --ch->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last) {
        grpc_channel_destroy(ch->ch);
        free(ch);
    }
}

/* ch's endpoint failed: unless another caller already moved on from ch,
 * replace it by a channel to the next endpoint, which waits a backoff once
 * every endpoint of a round has failed. Creating a channel does not touch
 * the network, so it is done under the lock. */
static void chan_fail(struct wom__etcd *c, struct chan *ch)
{
    pthread_mutex_lock(&c->mu);
    if (c->cur == ch) {
        unsigned rounds = ++c->fails / (unsigned)c->n;
        int64_t backoff = 0;
        if (rounds > 0)
            backoff = rounds > 6 ? BACKOFF_MAX_NS : BACKOFF_MIN_NS << (rounds - 1);
        if (backoff > BACKOFF_MAX_NS)
            backoff = BACKOFF_MAX_NS;
        struct chan *next = chan_new(c, (ch->ep + 1) % c->n, wom__now_ns() + backoff);
        if (next) {
            c->cur = next;
            ch->refs--; /* c->cur's reference; the caller still holds one */
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* A good answer came: the next failure starts a new round. */
static void chan_ok(struct wom__etcd *c)
{
    pthread_mutex_lock(&c->mu);
    c->fails = 0;
    pthread_mutex_unlock(&c->mu);
}

/* Sleep until `until` (monotonic ns) or until c closes. */
static void backoff_wait(struct wom__etcd *c, int64_t until)
{
    struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
    pthread_mutex_lock(&c->mu);
    while (c->cur && wom__now_ns() < until)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&c->mu);
}

/* Wait until ch's state leaves st, or the deadline. */
static void watch(struct wom__etcd *c, struct chan *ch, grpc_connectivity_state st,
                  int64_t deadline)
{
    struct waiter w;
    waiter_init(&w);
    grpc_channel_watch_connectivity_state(ch->ch, st, gpr_deadline(deadline), c->cq,
                                          waiter_arm(&w));
    waiter_wait(&w);
}

/* A READY channel into *out (with a reference), failing over while
 * endpoints fail. WOM_ENOTCONN when none is READY by the deadline, or c is
 * closing. */
static int ready(struct wom__etcd *c, int64_t deadline, struct chan **out)
{
    for (;;) {
        struct chan *ch = chan_get(c);
        if (!ch)
            return WOM_ENOTCONN;
        int64_t now = wom__now_ns();
        if (now < ch->not_before) {
            chan_put(c, ch);
            if (now >= deadline)
                return WOM_ENOTCONN;
            backoff_wait(c, ch->not_before < deadline ? ch->not_before : deadline);
            continue;
        }
        grpc_connectivity_state st = grpc_channel_check_connectivity_state(ch->ch, 1);
        if (st == GRPC_CHANNEL_READY) {
            *out = ch;
            return 0;
        }
        if (st == GRPC_CHANNEL_TRANSIENT_FAILURE || st == GRPC_CHANNEL_SHUTDOWN)
            chan_fail(c, ch);
        else if (now < deadline)
            watch(c, ch, st, deadline);
        chan_put(c, ch);
        if (wom__now_ns() >= deadline)
            return WOM_ENOTCONN;
    }
}

/* ---- one unary call ------------------------------------------------------- */

static bool starts(grpc_slice s, const char *prefix)
{
    size_t n = strlen(prefix);
    return GRPC_SLICE_LENGTH(s) >= n && !memcmp(GRPC_SLICE_START_PTR(s), prefix, n);
}

static bool contains(grpc_slice s, const char *sub)
{
    size_t n = strlen(sub), len = GRPC_SLICE_LENGTH(s);
    const uint8_t *p = GRPC_SLICE_START_PTR(s);
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(p + i, sub, n))
            return true;
    return false;
}

/* Whether text (n bytes) is etcd's refusal of a call's token, which
 * etcd makes before it applies anything: the token lapsed or its member
 * restarted, the auth store moved on since it was issued, or no token came
 * (etcd 3.4, etcdserver/api/v3rpc/rpctypes). A call's status details are
 * the message itself; a watch's cancel_reason wraps it ("rpc error: code =
 * Unauthenticated desc = etcdserver: invalid auth token"). */
static bool stale_text(const void *text, size_t n)
{
    static const char *const why[] = {"etcdserver: invalid auth token",
                                      "etcdserver: revision of auth store is old",
                                      "etcdserver: user name is empty"};
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++)
        if (memmem(text, n, why[i], strlen(why[i])))
            return true;
    return false;
}

/* Whether an etcd message is about authentication or permissions. */
static bool auth_text(grpc_slice details)
{
    return starts(details, "etcdserver: ") &&
           (contains(details, "auth") || contains(details, "user") ||
            contains(details, "role") || contains(details, "permission"));
}

/* The error for a call's status (details: its message); *failed when the
 * endpoint should be given up. etcd's own errors begin "etcdserver: "
 * (etcd 3.4, api/v3rpc/rpctypes); gRPC's transport errors do not. */
static int status_rc(grpc_status_code st, grpc_slice details, bool *failed)
{
    bool etcd = starts(details, "etcdserver: ");
    switch (st) {
    case GRPC_STATUS_OK:
        return 0;
    case GRPC_STATUS_UNAVAILABLE:
        *failed = true;
        return etcd ? WOM_EUNAVAIL : WOM_EUNKNOWN;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        /* etcd's: too many requests, or its quota; gRPC's own: an answer
         * larger than it takes (requests are sized before they are sent),
         * so the request went out and may have been applied */
        return etcd ? WOM_EUNAVAIL : WOM_EUNKNOWN;
    case GRPC_STATUS_INVALID_ARGUMENT: /* also a wrong password, an empty user */
        return auth_text(details) ? WOM_EPERM
               : contains(details, "too large") ? WOM_EMSGSIZE : WOM_EINVAL;
    case GRPC_STATUS_FAILED_PRECONDITION: /* also authentication off, a missing role */
        return auth_text(details) ? WOM_EPERM : WOM_EIO;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_INTERNAL:
        return WOM_EUNKNOWN;
    case GRPC_STATUS_NOT_FOUND:
        return WOM_ENOENT;
    case GRPC_STATUS_OUT_OF_RANGE:
        return WOM_ETRIMMED;
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_UNAUTHENTICATED:
        return WOM_EPERM;
    case GRPC_STATUS_UNIMPLEMENTED:
        return WOM_ENOTSUP;
    default:
        return WOM_EIO;
    }
}

/* Decode an answer's bytes as a message of descriptor d. */
static int decode(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
                  ProtobufCMessage **resp)
{
    grpc_byte_buffer_reader r;
    if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
        return WOM_ECORRUPT;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (!m)
        return WOM_ECORRUPT;
    *resp = m;
    return 0;
}

/* The current token as call metadata (an empty slice without one), and
 * its generation into *gen. The caller unrefs the slice. */
static grpc_slice token_get(struct wom__etcd *c, uint64_t *gen)
{
    pthread_mutex_lock(&c->mu);
    grpc_slice t = c->token ? grpc_slice_from_copied_string(c->token) : grpc_empty_slice();
    *gen = c->token_gen;
    pthread_mutex_unlock(&c->mu);
    return t;
}

/* One batch on READY channel ch: send r's request with token (if not
 * empty) as metadata, receive the answer. */
static int exchange(struct wom__etcd *c, struct chan *ch, const struct rpc *r, grpc_slice token,
                    ProtobufCMessage **resp, int64_t deadline, struct outcome *o)
{
    /* a secret goes in a slice of its own memory (a small one would be
     * inlined, and copied where it cannot be zeroed) */
    grpc_slice out = r->secret ? grpc_slice_malloc_large(r->len) : grpc_slice_malloc(r->len);
    protobuf_c_message_pack(r->req, GRPC_SLICE_START_PTR(out));
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&out, 1), *recv = NULL;
    grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                               grpc_slice_from_static_string(r->method), NULL,
                                               gpr_deadline(deadline), NULL);
    grpc_metadata md = {0};
    md.key = grpc_slice_from_static_string("token");
    md.value = token;
    grpc_metadata_array im, tm;
    grpc_metadata_array_init(&im);
    grpc_metadata_array_init(&tm);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = GRPC_SLICE_LENGTH(token) ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = &md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &im;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &tm;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &details;
    struct waiter w;
    waiter_init(&w);
    int rc;
    if (!call || grpc_call_start_batch(call, ops, 6, waiter_arm(&w), NULL) != GRPC_CALL_OK) {
        w.done = 1; /* never started: nothing will wake it */
        waiter_wait(&w);
        rc = WOM_ENOTCONN;
    } else {
        waiter_wait(&w);
        rc = status_rc(st, details, &o->failed);
        o->stale = rc && stale_text(GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
        if (rc == 0)
            rc = decode(recv, r->d, resp);
        /* etcd's and gRPC's messages hold no secret of ours */
        snprintf(o->detail, sizeof o->detail, "%.*s", (int)GRPC_SLICE_LENGTH(details),
                 (const char *)GRPC_SLICE_START_PTR(details));
        if (rc && c->debug)
            fprintf(stderr, "wom etcd %s at %s: status %d %s -> %d\n", r->method,
                    c->eps[ch->ep], (int)st, o->detail, rc);
    }
    if (call)
        grpc_call_unref(call);
    grpc_byte_buffer_destroy(send);
    if (r->secret) /* the call is over: only our reference is left */
        explicit_bzero(GRPC_SLICE_START_PTR(out), r->len);
    grpc_slice_unref(out);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_metadata_array_destroy(&im);
    grpc_metadata_array_destroy(&tm);
    grpc_slice_unref(details);
    return rc;
}

/* r once, on the current member (failing over as it fails). */
static int call_once(struct wom__etcd *c, const struct rpc *r, grpc_slice token,
                     ProtobufCMessage **resp, int64_t deadline, struct outcome *o)
{
    struct chan *ch;
    int rc = ready(c, deadline, &ch);
    if (rc)
        return rc;
    if (wom__now_ns() >= deadline) {
        chan_put(c, ch);
        return WOM_ETIMEDOUT;
    }
    int64_t allotted = deadline - wom__now_ns();
    rc = exchange(c, ch, r, token, resp, deadline, o);
    /* No answer in a generous time: the member is paused, cut off or
     * overloaded, while its connection may look alive for seconds more
     * (keepalive). Later calls go to the next member. A short deadline
     * (a caller's brief wait) says nothing of the member. */
    if (rc == WOM_EUNKNOWN && allotted >= FAIL_AFTER_NS && wom__now_ns() >= deadline)
        o->failed = true;
    if (o->failed)
        chan_fail(c, ch);
    else if (rc != WOM_EUNKNOWN && rc != WOM_ENOTCONN)
        chan_ok(c);
    chan_put(c, ch);
    return rc;
}

/* Fetch a token for c's user (Auth.Authenticate) and make it c's: 0, or
 * the call's error (WOM_EPERM: etcd refused; o->detail says why). */
static int authenticate(struct wom__etcd *c, int64_t deadline, struct outcome *o)
{
    Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    req.name = c->user;
    req.password = c->password;
    struct rpc r = {AUTH_METHOD, &req.base, protobuf_c_message_get_packed_size(&req.base),
                    &etcdserverpb__authenticate_response__descriptor, true};
    Etcdserverpb__AuthenticateResponse *resp = NULL;
    int rc = call_once(c, &r, grpc_empty_slice(), (ProtobufCMessage **)&resp, deadline, o);
    char *t = NULL;
    if (rc == 0 && (!resp->token || !resp->token[0]))
        rc = WOM_ECORRUPT;
    else if (rc == 0 && !(t = strdup(resp->token)))
        rc = WOM_ENOMEM;
    if (t) {
        pthread_mutex_lock(&c->mu);
        char *old = c->token;
        c->token = t;
        c->token_gen++;
        pthread_mutex_unlock(&c->mu);
        free(old);
    }
    if (resp) {
        explicit_bzero(resp->token, strlen(resp->token));
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

/* The token of generation gen was refused: fetch a new one, unless another
 * caller already has (or is: then wait for it). 0 or authenticate's error
 * (WOM_ETIMEDOUT when the deadline comes while another caller
 * authenticates, WOM_ENOTCONN when c is closing). */
static int reauth(struct wom__etcd *c, uint64_t gen, int64_t deadline)
{
    struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->authenticating && c->token_gen == gen && c->cur && !rc)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            rc = WOM_ETIMEDOUT;
    bool mine = !rc && c->cur && c->token_gen == gen;
    if (!rc && !c->cur)
        rc = WOM_ENOTCONN;
    c->authenticating |= mine;
    pthread_mutex_unlock(&c->mu);
    if (!mine)
        return rc;
    struct outcome o = {0};
    rc = authenticate(c, deadline, &o);
    pthread_mutex_lock(&c->mu);
    c->authenticating = false;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (rc && c->debug)
        fprintf(stderr, "wom etcd: re-authenticating user %s failed: %d %s\n", c->user, rc,
                o.detail);
    return rc;
}

static int call(struct wom__etcd *c, const char *method, const void *req,
                const ProtobufCMessageDescriptor *d, void *resp, int64_t deadline)
{
    if (!c || !req || !resp)
        return WOM_EINVAL;
    if (wom__now_ns() >= deadline)
        return WOM_ETIMEDOUT;
    struct rpc r = {method, req, protobuf_c_message_get_packed_size(req), d, false};
    if (r.len > WOM__ETCD_MAX_REQUEST)
        return WOM_EMSGSIZE;
    for (int tries = 0;; tries++) {
        uint64_t gen;
        grpc_slice token = token_get(c, &gen);
        struct outcome o = {0};
        int rc = call_once(c, &r, token, resp, deadline, &o);
        grpc_slice_unref(token);
        /* refused for its token, so not applied: safe to send again */
        if (!o.stale || !c->user || tries > 0)
            return rc;
        rc = reauth(c, gen, deadline);
        if (rc)
            return rc;
    }
}

/* A read that any member may answer (serializable), sent to the members in
 * turn, each over a channel of its own, so that such reads spread over the
 * cluster instead of all going to the member of c->cur. A member's channel
 * is made by the first read meant for it and used once READY; until then,
 * and after any failure of its attempt, the read goes the usual way (call:
 * c->cur, failover, re-authentication). */
static int call_spread(struct wom__etcd *c, const char *method, const void *req,
                       const ProtobufCMessageDescriptor *d, void *resp, int64_t deadline)
{
    if (!c || !req || !resp)
        return WOM_EINVAL;
    struct rpc r = {method, req, protobuf_c_message_get_packed_size(req), d, false};
    if (r.len > WOM__ETCD_MAX_REQUEST)
        return WOM_EMSGSIZE;
    size_t i = faa_relaxed(&c->rd_next, 1) % c->n; /* relaxed: only spreads the load */
    pthread_mutex_lock(&c->mu);
    struct chan *ch = NULL;
    if (c->cur && c->rd) {
        if (!c->rd[i])
            c->rd[i] = chan_new(c, i, 0); /* its reference is the array's */
        if ((ch = c->rd[i]))
            ch->refs++;
    }
    pthread_mutex_unlock(&c->mu);
    int rc = WOM_ENOTCONN;
    if (ch && grpc_channel_check_connectivity_state(ch->ch, 1) == GRPC_CHANNEL_READY &&
        wom__now_ns() < deadline) {
        uint64_t gen;
        grpc_slice token = token_get(c, &gen);
        struct outcome o = {0};
        rc = exchange(c, ch, &r, token, resp, deadline, &o);
        grpc_slice_unref(token);
        if (rc && (o.failed || o.stale))
            rc = WOM_ENOTCONN; /* that member will not do: the usual way */
    }
    if (ch)
        chan_put(c, ch);
    if (rc == WOM_ENOTCONN || rc == WOM_EUNAVAIL || (rc == WOM_EUNKNOWN && wom__now_ns() < deadline))
        rc = call(c, method, req, d, resp, deadline);
    return rc;
}

int wom__etcd_txn_spread(struct wom__etcd *c, const Etcdserverpb__TxnRequest *req,
                         Etcdserverpb__TxnResponse **resp, int64_t deadline)
{
    return call_spread(c, "/etcdserverpb.KV/Txn", req, &etcdserverpb__txn_response__descriptor,
                       resp, deadline);
}

/* ---- the API --------------------------------------------------------------- */

/* Whether endpoint ep ("H:P", "[V6]:P") accepts a TCP connection within
 * budget_ns: tells an unreachable member from one whose TLS (or plaintext
 * gRPC) failed, which gRPC's channel states do not. */
static bool tcp_reachable(const char *ep, int64_t budget_ns)
{
    char host[EP_MAX];
    const char *colon = strrchr(ep, ':');
    if (!colon || (size_t)(colon - ep) >= sizeof host)
        return false;
    size_t hl = (size_t)(colon - ep);
    const char *h = ep;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai))
        return false;
    bool ok = false;
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s >= 0 && (connect(s, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)) {
        struct pollfd p = {s, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        ok = poll(&p, 1, budget_ns > 1000000 ? (int)(budget_ns / 1000000) : 1) == 1 &&
             !getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) && err == 0;
    }
    if (s >= 0)
        close(s);
    freeaddrinfo(ai);
    return ok;
}

/* connect_why for a connect that found no READY member by its deadline. */
static void why_unreached(struct wom__etcd *c, int64_t timeout_ns)
{
    size_t i = 0;
    int64_t end = wom__now_ns() + PROBE_NS;
    for (; i < c->n; i++) {
        int64_t left = end - wom__now_ns();
        if (left <= 0)
            i = c->n; /* out of time: said as unreachable */
        else if (tcp_reachable(c->eps[i], left / (int64_t)(c->n - i)))
            break;
    }
    int n = snprintf(connect_why, sizeof connect_why, "no endpoint could be connected to "
                     "within %lld ms", (long long)(timeout_ns / 1000000));
    if (i == c->n)
        return;
    snprintf(connect_why + n, sizeof connect_why - (size_t)n, c->tls
             ? ": %s accepts TCP connections, but no TLS session could be set up with it "
               "(its certificate is not signed by a CA of the CA bundle or does not name its "
               "host, it refused the client certificate, or it does not speak TLS)"
             : ": %s accepts TCP connections, but gave no answer in plaintext gRPC (a cluster "
               "that uses TLS needs ;cacert=)", c->eps[i]);
}

/* Copy auth into c (creds for every channel, the user and password).
 * WOM_EINVAL for half a pair, WOM_ENOMEM. */
static int auth_init(struct wom__etcd *c, const struct wom__etcd_auth *auth)
{
    static const struct wom__etcd_auth none = {0};
    if (!auth)
        auth = &none;
    if (!auth->cert_pem != !auth->key_pem || (auth->cert_pem && !auth->ca_pem) ||
        !auth->user != !auth->password || (auth->user && !auth->user[0])) {
        snprintf(connect_why, sizeof connect_why, "a client certificate needs its key and a "
                 "CA bundle, and a user a password");
        return WOM_EINVAL;
    }
    c->tls = auth->ca_pem != NULL;
    grpc_ssl_pem_key_cert_pair pair = {auth->key_pem, auth->cert_pem};
    /* gRPC copies the PEM text */
    c->creds = c->tls ? grpc_ssl_credentials_create(auth->ca_pem, auth->cert_pem ? &pair : NULL,
                                                    NULL, NULL)
                      : grpc_insecure_credentials_create();
    if (auth->user && (!(c->user = strdup(auth->user)) || !(c->password = strdup(auth->password))))
        return WOM_ENOMEM;
    return c->creds ? 0 : WOM_ENOMEM;
}

/* The first token, at connect: 0, WOM_EPERM or WOM_ENOTCONN, with
 * connect_why set on failure. */
static int auth_first(struct wom__etcd *c, int64_t deadline)
{
    struct outcome o = {0};
    int rc = authenticate(c, deadline, &o); /* nobody else uses c yet */
    if (rc == WOM_EPERM)
        snprintf(connect_why, sizeof connect_why, "etcd refused to authenticate user '%s': %s",
                 c->user, o.detail[0] ? o.detail : "(no reason given)");
    else if (rc)
        snprintf(connect_why, sizeof connect_why, "connected, but authenticating user '%s' "
                 "failed before the deadline: %s", c->user,
                 o.detail[0] ? o.detail : "no answer");
    return rc == 0 || rc == WOM_EPERM || rc == WOM_ENOMEM ? rc : WOM_ENOTCONN;
}

const char *wom__etcd_connect_error(void)
{
    return connect_why;
}

int wom__etcd_connect(const char *const *endpoints, size_t n, int64_t timeout_ns,
                      const struct wom__etcd_auth *auth, struct wom__etcd **out)
{
    connect_why[0] = 0;
    if (!endpoints || n == 0 || timeout_ns <= 0 || !out)
        return WOM_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!endpoints[i] || !endpoints[i][0] || strlen(endpoints[i]) >= EP_MAX)
            return WOM_EINVAL;
    int64_t deadline = wom__now_ns() + timeout_ns;
    struct wom__etcd *c = calloc(1, sizeof *c);
    if (!c || !(c->eps = calloc(n, sizeof *c->eps))) {
        free(c);
        return WOM_ENOMEM;
    }
    c->n = n;
    c->timeout_ns = timeout_ns;
    c->debug = getenv("WOM_ETCD_DEBUG") != NULL;
    c->rd = calloc(n, sizeof *c->rd); /* NULL: reads do not spread */
    for (size_t i = 0; i < n; i++)
        if (!(c->eps[i] = strdup(endpoints[i]))) {
            for (size_t j = 0; j < i; j++)
                free(c->eps[j]);
            free(c->eps);
            free(c);
            return WOM_ENOMEM;
        }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    grpc_init();
    c->cq = grpc_completion_queue_create_for_next(NULL);
    int rc = auth_init(c, auth);
    int started = !rc && pthread_create(&c->thread, NULL, cq_loop, c) == 0;
    if (!rc)
        c->cur = started ? chan_new(c, 0, 0) : NULL;
    struct chan *ch;
    if (!rc)
        rc = c->cur ? ready(c, deadline, &ch) : WOM_ENOMEM;
    if (rc == 0)
        chan_put(c, ch);
    else if (rc == WOM_ENOTCONN)
        why_unreached(c, timeout_ns);
    if (rc == 0 && c->user)
        rc = auth_first(c, deadline);
    if (!started) {
        grpc_completion_queue_shutdown(c->cq);
        grpc_completion_queue_destroy(c->cq);
        c->cq = NULL;
    }
    if (rc) {
        wom__etcd_close(c);
        return rc == WOM_ENOMEM || rc == WOM_EINVAL || rc == WOM_EPERM ? rc : WOM_ENOTCONN;
    }
    *out = c;
    return 0;
}

void wom__etcd_close(struct wom__etcd *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    struct chan *ch = c->cur;
    c->cur = NULL;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (ch)
        chan_put(c, ch);
    for (size_t i = 0; c->rd && i < c->n; i++)
        if (c->rd[i])
            chan_put(c, c->rd[i]);
    free(c->rd);
    if (c->cq) {
        grpc_completion_queue_shutdown(c->cq);
        pthread_join(c->thread, NULL);
        grpc_completion_queue_destroy(c->cq);
    }
    if (c->creds)
        grpc_channel_credentials_release(c->creds);
    grpc_shutdown();
    for (size_t i = 0; i < c->n; i++)
        free(c->eps[i]);
    free(c->eps);
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    if (c->token)
        explicit_bzero(c->token, strlen(c->token));
    free(c->password);
    free(c->token);
    free(c->user);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

size_t wom__etcd_endpoint(struct wom__etcd *c)
{
    struct chan *ch = chan_get(c);
    size_t ep = ch ? ch->ep : 0;
    if (ch)
        chan_put(c, ch);
    return ep;
}

/* WOM_ETCD_RPC(name, Service/Method, Request type, Response type, lower-case
 * type prefix): the call and the free function of one unary method. */
#define WOM_ETCD_RPC(name, path, Req, Resp, lower)                                  \
    int wom__etcd_##name(struct wom__etcd *c, const Req *req, Resp **resp,            \
                         int64_t deadline)                                            \
    {                                                                                 \
        return call(c, "/etcdserverpb." path, req, &lower##_response__descriptor,     \
                    resp, deadline);                                                  \
    }                                                                                 \
    void wom__etcd_##name##_free(Resp *resp)                                          \
    {                                                                                 \
        if (resp)                                                                     \
            lower##_response__free_unpacked(resp, NULL);                              \
    }

WOM_ETCD_RPC(range, "KV/Range", Etcdserverpb__RangeRequest, Etcdserverpb__RangeResponse,
             etcdserverpb__range)
WOM_ETCD_RPC(put, "KV/Put", Etcdserverpb__PutRequest, Etcdserverpb__PutResponse,
             etcdserverpb__put)
WOM_ETCD_RPC(delete_range, "KV/DeleteRange", Etcdserverpb__DeleteRangeRequest,
             Etcdserverpb__DeleteRangeResponse, etcdserverpb__delete_range)
WOM_ETCD_RPC(txn, "KV/Txn", Etcdserverpb__TxnRequest, Etcdserverpb__TxnResponse,
             etcdserverpb__txn)
WOM_ETCD_RPC(lease_grant, "Lease/LeaseGrant", Etcdserverpb__LeaseGrantRequest,
             Etcdserverpb__LeaseGrantResponse, etcdserverpb__lease_grant)
WOM_ETCD_RPC(lease_revoke, "Lease/LeaseRevoke", Etcdserverpb__LeaseRevokeRequest,
             Etcdserverpb__LeaseRevokeResponse, etcdserverpb__lease_revoke)
WOM_ETCD_RPC(lease_keep_alive, "Lease/LeaseKeepAlive", Etcdserverpb__LeaseKeepAliveRequest,
             Etcdserverpb__LeaseKeepAliveResponse, etcdserverpb__lease_keep_alive)
WOM_ETCD_RPC(lease_time_to_live, "Lease/LeaseTimeToLive", Etcdserverpb__LeaseTimeToLiveRequest,
             Etcdserverpb__LeaseTimeToLiveResponse, etcdserverpb__lease_time_to_live)

/* ---- the watch stream -------------------------------------------------------
 *
 * One thread per stream: connect (ready), start the call, then receive one
 * message at a time and hand it to fn. Senders start their own SEND_MESSAGE
 * batch on the live call (gRPC allows one receive and one send batch in
 * flight together; send_mu keeps sends one at a time). w->mu guards call
 * and closing; a sender takes its own reference on the call, so the
 * thread may drop the stream while a send is still on it. */

struct wom__etcd_watch {
    struct wom__etcd *c;
    wom__etcd_watch_fn *fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu;      /* guards call, closing */
    pthread_mutex_t send_mu; /* one SEND_MESSAGE batch at a time */
    grpc_call *call;         /* the live stream, NULL between streams */
    bool closing;
};

#define WATCH_METHOD "/etcdserverpb.Watch/Watch"

/* Start one batch of n ops on call and wait for it: its success. */
static int batch(grpc_call *call, grpc_op *ops, size_t n)
{
    struct waiter w;
    waiter_init(&w);
    if (grpc_call_start_batch(call, ops, n, waiter_arm(&w), NULL) != GRPC_CALL_OK) {
        w.done = 1; /* never started: nothing will wake it */
        waiter_wait(&w);
        return 0;
    }
    return waiter_wait(&w);
}

static bool watch_closing(struct wom__etcd_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool closing = w->closing;
    pthread_mutex_unlock(&w->mu);
    return closing;
}

/* One stream on READY channel ch, from its start to its end. */
static void watch_stream(struct wom__etcd_watch *w, struct chan *ch)
{
    struct wom__etcd *c = w->c;
    grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                               grpc_slice_from_static_string(WATCH_METHOD), NULL,
                                               gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!call)
        return;
    uint64_t token_gen;
    grpc_metadata md[2];
    memset(md, 0, sizeof md);
    md[0].key = grpc_slice_from_static_string("hasleader");
    md[0].value = grpc_slice_from_static_string("true");
    md[1].key = grpc_slice_from_static_string("token");
    md[1].value = token_get(c, &token_gen);
    grpc_op op[2];
    memset(op, 0, sizeof op);
    op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    op[0].data.send_initial_metadata.count = GRPC_SLICE_LENGTH(md[1].value) ? 2 : 1;
    op[0].data.send_initial_metadata.metadata = md;
    int sent = batch(call, op, 1);
    grpc_slice_unref(md[1].value);
    if (!sent) {
        grpc_call_unref(call);
        return;
    }
    pthread_mutex_lock(&w->mu);
    bool up = !w->closing;
    if (up)
        w->call = call;
    pthread_mutex_unlock(&w->mu);
    grpc_metadata_array im, tm;
    grpc_metadata_array_init(&im);
    grpc_metadata_array_init(&tm);
    bool first = true, good = false, stale = false;
    while (up) {
        grpc_byte_buffer *recv = NULL;
        memset(op, 0, sizeof op);
        size_t n = 0;
        if (first) {
            op[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            op[n++].data.recv_initial_metadata.recv_initial_metadata = &im;
        }
        op[n].op = GRPC_OP_RECV_MESSAGE;
        op[n++].data.recv_message.recv_message = &recv;
        first = false;
        if (!batch(call, op, n) || !recv)
            break; /* the stream ended: its status follows */
        ProtobufCMessage *m = NULL;
        int rc = decode(recv, &etcdserverpb__watch_response__descriptor, &m);
        grpc_byte_buffer_destroy(recv);
        if (rc)
            break; /* garbage from the member: this stream is done */
        if (!good) {
            chan_ok(c);
            good = true;
        }
        const Etcdserverpb__WatchResponse *r = (const Etcdserverpb__WatchResponse *)m;
        if (c->user && r->canceled && r->cancel_reason &&
            stale_text(r->cancel_reason, strlen(r->cancel_reason))) {
            /* etcd reads a stream's token at each create: a new stream, a new token */
            if (c->debug)
                fprintf(stderr, "wom etcd watch stream at %s: a create refused for the "
                        "stream's token (%s); a new token, a new stream\n", c->eps[ch->ep],
                        r->cancel_reason);
            stale = true;
            protobuf_c_message_free_unpacked(m, NULL);
            break;
        }
        w->fn(w->arg, r);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    pthread_mutex_lock(&w->mu);
    w->call = NULL;
    bool closing = w->closing;
    pthread_mutex_unlock(&w->mu);
    grpc_call_cancel(call, NULL); /* ends a stream left for garbage; no-op otherwise */
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    memset(op, 0, sizeof op);
    op[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op[0].data.recv_status_on_client.trailing_metadata = &tm;
    op[0].data.recv_status_on_client.status = &st;
    op[0].data.recv_status_on_client.status_details = &details;
    batch(call, op, 1);
    bool failed = false;
    status_rc(st, details, &failed);
    if (c->debug)
        fprintf(stderr, "wom etcd watch stream at %s ended: status %d %.*s\n", c->eps[ch->ep],
                (int)st, (int)GRPC_SLICE_LENGTH(details),
                (const char *)GRPC_SLICE_START_PTR(details));
    /* A member without a leader ends the stream with UNAVAILABLE: move on.
     * So does any stream that ends while nobody asked it to. */
    if (!closing && (failed || !good))
        chan_fail(c, ch);
    if (stale && !closing)
        reauth(c, token_gen, wom__now_ns() + c->timeout_ns);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&im);
    grpc_metadata_array_destroy(&tm);
    grpc_call_unref(call);
    if (up)
        w->fn(w->arg, NULL);
}

static void *watch_loop(void *arg)
{
    struct wom__etcd_watch *w = arg;
    while (!watch_closing(w)) {
        struct chan *ch;
        /* short rounds, so that a close is seen soon */
        if (ready(w->c, wom__now_ns() + 100000000LL, &ch))
            continue;
        watch_stream(w, ch);
        chan_put(w->c, ch);
    }
    return NULL;
}

int wom__etcd_watch_open(struct wom__etcd *c, wom__etcd_watch_fn *fn, void *arg,
                         struct wom__etcd_watch **out)
{
    if (!c || !fn || !out)
        return WOM_EINVAL;
    struct wom__etcd_watch *w = calloc(1, sizeof *w);
    if (!w)
        return WOM_ENOMEM;
    w->c = c;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->send_mu, NULL);
    if (pthread_create(&w->thread, NULL, watch_loop, w)) {
        pthread_mutex_destroy(&w->send_mu);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return WOM_ENOMEM;
    }
    *out = w;
    return 0;
}

/* The countdown of wom__etcd_watch_fail_send (0: off). */
static wom_a32 watch_fail_at;

void wom__etcd_watch_fail_send(int n)
{
    st_relaxed(&watch_fail_at, n > 0 ? (uint32_t)n : 0); /* relaxed: a test's switch */
}

/* 1 when this send is the one wom__etcd_watch_fail_send asked to fail. */
static int watch_send_fails(void)
{
    uint32_t n = ld_relaxed(&watch_fail_at);
    while (n > 0 && !cas_seq(&watch_fail_at, &n, n - 1))
        ;
    return n == 1;
}

int wom__etcd_watch_send(struct wom__etcd_watch *w, const Etcdserverpb__WatchRequest *req,
                         int64_t deadline)
{
    if (!w || !req)
        return WOM_EINVAL;
    if (wom__now_ns() >= deadline || watch_send_fails())
        return WOM_ETIMEDOUT;
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    if (len > WOM__ETCD_MAX_REQUEST)
        return WOM_EMSGSIZE;
    pthread_mutex_lock(&w->send_mu);
    pthread_mutex_lock(&w->mu);
    grpc_call *call = w->call;
    if (call)
        grpc_call_ref(call);
    pthread_mutex_unlock(&w->mu);
    int rc = WOM_ENOTCONN;
    if (call) {
        grpc_slice s = grpc_slice_malloc(len);
        protobuf_c_message_pack(&req->base, GRPC_SLICE_START_PTR(s));
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = bb;
        rc = batch(call, &op, 1) ? 0 : WOM_ENOTCONN;
        grpc_byte_buffer_destroy(bb);
        grpc_call_unref(call);
    }
    pthread_mutex_unlock(&w->send_mu);
    return rc;
}

void wom__etcd_watch_close(struct wom__etcd_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    if (w->call)
        grpc_call_cancel(w->call, NULL);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->send_mu);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
