/* etcd.c - the etcd:// scope: a space's cells in an etcd cluster, under
 * one key prefix (docs/cluster.md has the key layout and each operation's
 * guarantee). Every op is one or a few linearizable requests through the
 * wire layer (src/wire/etcd_rpc.h); blocking reads sleep on a watch, and
 * written ONCE cells are served from a cache (the watch hub, below).
 * Appends of a process to a region are committed in batches (group
 * commit, below). A holder is an etcd lease kept alive by the client.
 * A first read of a written cell is serializable (any member answers).
 *
 * Keys (numbers as 16 lowercase hex digits, so that byte order is number
 * order, both for ranges and for etcd's value comparisons):
 *   P/nextid        the next region id
 *   P/r/NAME        the region's record: "WOMR", id, mode, max_value
 *   P/t/RID, f/RID  tail and floor, created with the region, never deleted
 *   P/c/RID/ADDR    a ONCE cell put alone: "WOMC", writer id, sequence,
 *                   length, value
 *   P/c/RID/rLAST   a run of ONCE cells from a batch of appends, LAST its
 *                   last address: "WOMK", first, k, then k cells as above
 *                   (at most RUN_MAX: the run holding address a has its
 *                   key in [r a, r a + RUN_MAX))
 *   P/m/RID/ADDR    a MANY cell: the value (version: etcd's key version)
 * Invariants the transactions keep: nothing overlaps (a put compares its
 * key absent and no run key in [r a, r a+RUN_MAX), an append that t has
 * not moved); every cell lies below t (put and append raise t in the same
 * transaction); what lies wholly below f is deleted (trim deletes the keys
 * below f in the same transaction; a run across f keeps its cells below
 * it, which every read refuses by f); f <= t. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "space/etcd_codec.h"
#include "space/etcd_uri.h"
#include "space/ocache.h"
#include "space/space.h"
#include "util/atomic.h"
#include "util/clock.h"
#include "wire/etcd_rpc.h"

#define MAX_PREFIX WOM__ETCD_MAX_PREFIX
#define KEY_MAX (MAX_PREFIX + WOM_NAME_MAX + 64)
#define MS 1000000LL

/* A space: one connection and what its writes are recognised by. */
struct es {
    wom_space pub; /* pub.impl == this */
    struct wom__etcd *c;
    int64_t op_ns; /* how long one op may take (;timeout=MS) */
    uint8_t writer[16];
    wom_a64 seq; /* the sequence number of this handle's next ONCE write */
    size_t plen;
    char prefix[MAX_PREFIX + 1];
    /* the watch hub (below) */
    pthread_mutex_t hub_mu; /* guards watch, wregs, waiters, watch_ids */
    pthread_cond_t hub_cv;  /* CLOCK_MONOTONIC; broadcast on every change */
    struct wom__etcd_watch *watch; /* started by the first blocking read */
    struct wreg *wregs;     /* the regions watched */
    struct waitr *waiters;  /* blocked reads */
    int64_t watch_ids;      /* the last watch id given */
    struct wom__ocache *cache; /* written ONCE cells; NULL with ;cache=0 */
    struct wom__view_owner cache_owner; /* views of cached cells */
    /* appends (group commit, below) */
    pthread_mutex_t app_mu; /* guards aqs and every queue in it */
    pthread_cond_t app_cv;  /* a batch ended */
    pthread_cond_t gather_cv; /* CLOCK_MONOTONIC; cells joined a gathering queue */
    struct aq *aqs;         /* one per region appended to */
    /* combined first reads (below) */
    pthread_mutex_t rd_mu;  /* guards rd_head, rd_tailp, rd_busy and every rdb's refs */
    pthread_cond_t rd_cv;   /* a combined read was answered */
    struct rdx *rd_head, **rd_tailp;
    int rd_busy;            /* combined reads in flight */
    size_t rd_queued;       /* reads waiting, not yet taken */
    /* the holder's lease (below) */
    pthread_mutex_t lease_mu; /* guards lease, lease_stop */
    pthread_cond_t lease_cv;  /* CLOCK_MONOTONIC; broadcast on close */
    int64_t lease;            /* 0: none granted (yet, or it expired) */
    int lease_stop, lease_thread_on;
    pthread_t lease_thread;
};

/* A region (behind its handle). */
struct er {
    uint64_t id;
    wom_mode mode;
    uint32_t max_value;
    char name[WOM_NAME_MAX + 1];
};

/* Appends waiting in a process for one region (group commit, below). */
struct apx { /* one waiting append of n cells (n > 1: append many) */
    struct apx *next;
    struct cellbuf *const *b; /* headers made: b[i]'s sequence is seq + i */
    size_t n;
    size_t ndone;             /* committed so far (a batch too big for one
                                 transaction goes in consecutive ones) */
    uint64_t seq;
    uint64_t *addrs;          /* b[i]'s address (NULL: not wanted) */
    int rc, done;
};

struct aq {
    struct aq *next;
    uint64_t rid;
    struct apx *head, **tailp;
    int busy;       /* a batch is in flight, or its committer gathers */
    int gathering;  /* its committer waits for more cells (gather_cv) */
    size_t queued;  /* cells waiting, not yet taken */
    size_t last_k;  /* cells in the last batch (0: it held one entry, or failed) */
    int64_t last_ns; /* how long its commit took */
    int known;      /* tail and mod are what the last batch learnt */
    uint64_t tail;
    int64_t mod;
};

static struct es *es_of(wom_space *s) { return s->impl; }
static struct er *er_of(wom_region *r) { return r->impl; }

/* ---- records (etcd_codec.h) ---- */

#define REC_LEN WOM__EC_REC_LEN
#define CELL_HDR WOM__EC_CELL_HDR
#define RUN_HDR WOM__EC_RUN_HDR
#define RUN_MAX WOM__EC_RUN_MAX
#define RUN_BYTES WOM__EC_RUN_BYTES
#define hex16 wom__ec_hex16
#define hex_parse wom__ec_hex_parse
#define kv_at wom__ec_kv_at
#define num_at wom__ec_num_at
#define same_key wom__ec_same_key

static int rec_parse(const ProtobufCBinaryData *v, struct er *out)
{
    struct wom__ec_rec rec;
    int rc = wom__ec_rec_parse(v, &rec);
    if (!rc)
        out->id = rec.id, out->mode = rec.mode, out->max_value = rec.max_value;
    return rc;
}

/* ---- keys ---- */

__attribute__((format(printf, 3, 4))) static ProtobufCBinaryData key(char *buf, const struct es *es,
                                                                    const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(buf, KEY_MAX, "%s/", es->prefix);
    va_start(ap, fmt);
    n += vsnprintf(buf + n, KEY_MAX - (size_t)n, fmt, ap);
    va_end(ap);
    return (ProtobufCBinaryData){(size_t)n, (uint8_t *)buf};
}

static ProtobufCBinaryData t_key(char *b, const struct es *es, const struct er *r)
{
    return key(b, es, "t/%016" PRIx64, r->id);
}
static ProtobufCBinaryData f_key(char *b, const struct es *es, const struct er *r)
{
    return key(b, es, "f/%016" PRIx64, r->id);
}
static ProtobufCBinaryData c_key(char *b, const struct es *es, const struct er *r, uint64_t a)
{
    return key(b, es, "c/%016" PRIx64 "/%016" PRIx64, r->id, a);
}
static ProtobufCBinaryData m_key(char *b, const struct es *es, const struct er *r, uint64_t a)
{
    return key(b, es, "m/%016" PRIx64 "/%016" PRIx64, r->id, a);
}

static ProtobufCBinaryData r_key(char *b, const struct es *es, const struct er *r, uint64_t last)
{
    return key(b, es, "c/%016" PRIx64 "/r%016" PRIx64, r->id, last);
}

/* The keys of the runs that can hold a cell of a..a+n-1 (n >= 1; a run's
 * key is its last address, at most RUN_MAX - 1 past its first): [r a,
 * r (a+n-1+RUN_MAX)), cut at the end of the region's runs. */
static void runs_keys(char *kb, char *eb, const struct es *es, const struct er *r, uint64_t a,
                      uint64_t n, ProtobufCBinaryData *k, ProtobufCBinaryData *e)
{
    uint64_t span = n - 1 + RUN_MAX;
    *k = r_key(kb, es, r, a);
    *e = a > UINT64_MAX - span ? key(eb, es, "c/%016" PRIx64 "/s", r->id) /* 'r' + 1 */
                               : r_key(eb, es, r, a + span);
}

/* The lone cells' keys of a..a+n-1: [c/a, c/(a+n)), cut at their end. */
static void lones_keys(char *kb, char *eb, const struct es *es, const struct er *r, uint64_t a,
                       uint64_t n, ProtobufCBinaryData *k, ProtobufCBinaryData *e)
{
    *k = c_key(kb, es, r, a);
    *e = a > UINT64_MAX - n ? key(eb, es, "c/%016" PRIx64 "/g", r->id) /* past 'f' */
                            : c_key(eb, es, r, a + n);
}

/* Open what kv holds: a run at a run's key at or above lo (is_run), else
 * a lone cell at its own key (a run of one). etcd answering another key,
 * or another form, is corrupt. */
static int run_of(const struct es *es, const struct er *r, const Mvccpb__KeyValue *kv, int is_run,
                  uint64_t lo, struct wom__ec_run *run)
{
    uint64_t last;
    if (!kv || wom__ec_key_addr(es->prefix, is_run ? 'r' : 'c', r->id, &kv->key, &last) ||
        last < lo)
        return WOM_ECORRUPT;
    int rc = wom__ec_run_open(&kv->value, last, r->max_value, run);
    return rc ? rc : !is_run && run->first != last ? WOM_ECORRUPT : 0;
}

/* The cell at a of an opened run, by its cursor (which only moves on): 0
 * when the run does not hold a (or the cursor passed it). */
static int run_cell(struct wom__ec_run *run, uint64_t a, const uint8_t writer[16], uint64_t seq,
                    const uint8_t **val, size_t *n, int *mine)
{
    uint64_t at;
    if (a < run->first || a > run->last)
        return 0;
    wom__ec_run_seek(run, a);
    return wom__ec_run_next(run, writer, seq, &at, val, n, mine) && at == a;
}

/* The key-value of range response i, asked with limit 1: *kv NULL when
 * the range is empty. */
static int first_kv(const Etcdserverpb__TxnResponse *resp, size_t i, const Mvccpb__KeyValue **kv)
{
    const Etcdserverpb__RangeResponse *rr = resp->responses[i]->response_range;
    if (rr->n_kvs > 1 || (rr->n_kvs && !rr->kvs[0]))
        return WOM_ECORRUPT;
    *kv = rr->n_kvs ? rr->kvs[0] : NULL;
    return 0;
}

/* ---- requests ---- */

/* One transaction under construction: compares and both branches, with
 * room for the messages they point at (borrowed for one call). */
#define TXN_MAX 6 /* compares, and ops per branch, of an ordinary transaction */
struct txn_room {    /* the messages one branch's ops point at */
    Etcdserverpb__RequestOp op[TXN_MAX], *opp[TXN_MAX];
    Etcdserverpb__PutRequest put[TXN_MAX];
    Etcdserverpb__RangeRequest range[TXN_MAX];
    Etcdserverpb__DeleteRangeRequest del[TXN_MAX];
};
struct txn {
    Etcdserverpb__TxnRequest req;
    Etcdserverpb__Compare cmp[TXN_MAX], *cmpp[TXN_MAX];
    size_t cap[2];           /* ops each branch may hold */
    struct txn_room room[2]; /* [branch]; a batch's success branch is in a txn_big */
};

/* Room for a success branch of many ops, until big_free: the puts of a
 * batch of appends, or the ranges of combined first reads. */
struct txn_big {
    Etcdserverpb__RequestOp *op, **opp;
    Etcdserverpb__PutRequest *put;
    Etcdserverpb__RangeRequest *range;
};

static void txn_init(struct txn *t)
{
    t->req = (Etcdserverpb__TxnRequest)ETCDSERVERPB__TXN_REQUEST__INIT;
    t->req.compare = t->cmpp;
    t->cap[0] = t->cap[1] = TXN_MAX;
    t->req.success = t->room[1].opp;
    t->req.failure = t->room[0].opp;
}

/* A transaction whose success branch holds up to n ops (from big, which
 * the caller made with big_new and frees with big_free). */
static void txn_init_big(struct txn *t, struct txn_big *big, size_t n)
{
    txn_init(t);
    t->cap[1] = n;
    t->req.success = big->opp;
}

static int big_new(struct txn_big *big, size_t n)
{
    big->op = calloc(n, sizeof *big->op);
    big->opp = calloc(n, sizeof *big->opp);
    big->put = calloc(n, sizeof *big->put);
    big->range = calloc(n, sizeof *big->range);
    return big->op && big->opp && big->put && big->range ? 0 : WOM_ENOMEM;
}

static void big_free(struct txn_big *big)
{
    free(big->op);
    free(big->opp);
    free(big->put);
    free(big->range);
}

/* Compare target of key with result against v (one of the union's cases). */
/* The capacities are fixed by the code that builds each transaction, so
 * running out is a bug here: stopped before it writes. */
static void room_out(void)
{
    fprintf(stderr, "wom etcd: a transaction outgrew its room\n");
    abort();
}

static Etcdserverpb__Compare *cmp_add(struct txn *t, ProtobufCBinaryData k,
                                      Etcdserverpb__Compare__CompareResult result,
                                      Etcdserverpb__Compare__CompareTarget target)
{
    if (t->req.n_compare >= TXN_MAX)
        room_out();
    size_t i = t->req.n_compare++;
    Etcdserverpb__Compare *c = &t->cmp[i];
    *c = (Etcdserverpb__Compare)ETCDSERVERPB__COMPARE__INIT;
    c->key = k;
    c->result = result;
    c->target = target;
    t->cmpp[i] = c;
    return c;
}

static void cmp_create(struct txn *t, ProtobufCBinaryData k, int64_t rev)
{
    Etcdserverpb__Compare *c = cmp_add(t, k, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL,
                                       ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE);
    c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
    c->create_revision = rev;
}

/* No key in [k, end) exists (a range compare: etcd 3.3 and later). */
static void cmp_none_in(struct txn *t, ProtobufCBinaryData k, ProtobufCBinaryData end)
{
    cmp_create(t, k, 0);
    t->cmp[t->req.n_compare - 1].range_end = end;
}

static void cmp_mod(struct txn *t, ProtobufCBinaryData k, int64_t rev)
{
    Etcdserverpb__Compare *c = cmp_add(t, k, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL,
                                       ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD);
    c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    c->mod_revision = rev;
}

static void cmp_version(struct txn *t, ProtobufCBinaryData k, int64_t version)
{
    Etcdserverpb__Compare *c = cmp_add(t, k, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL,
                                       ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION);
    c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
    c->version = version;
}

/* value(k) < hex (bytewise: numeric order of 16-digit hex; a missing key
 * fails every value compare, which is why t and f always exist). */
static void cmp_less(struct txn *t, ProtobufCBinaryData k, const char *hex)
{
    Etcdserverpb__Compare *c = cmp_add(t, k, ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS,
                                       ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE);
    c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
    c->value = (ProtobufCBinaryData){16, (uint8_t *)hex};
}

/* The next op of branch (in big's room when given). */
static Etcdserverpb__RequestOp *op_add(struct txn *t, int branch, struct txn_big *big)
{
    size_t *n = branch ? &t->req.n_success : &t->req.n_failure;
    if (*n >= t->cap[branch])
        room_out();
    Etcdserverpb__RequestOp *op = big ? &big->op[*n] : &t->room[branch].op[*n];
    *op = (Etcdserverpb__RequestOp)ETCDSERVERPB__REQUEST_OP__INIT;
    (big ? big->opp : t->room[branch].opp)[(*n)++] = op;
    return op;
}

static Etcdserverpb__PutRequest *put_in(struct txn *t, int branch, struct txn_big *big,
                                        ProtobufCBinaryData k, const void *v, size_t n)
{
    size_t i = branch ? t->req.n_success : t->req.n_failure;
    Etcdserverpb__RequestOp *op = op_add(t, branch, big);
    Etcdserverpb__PutRequest *p = big ? &big->put[i] : &t->room[branch].put[i];
    *p = (Etcdserverpb__PutRequest)ETCDSERVERPB__PUT_REQUEST__INIT;
    p->key = k;
    p->value = (ProtobufCBinaryData){n, (uint8_t *)v};
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op->request_put = p;
    return p;
}

static Etcdserverpb__PutRequest *op_put(struct txn *t, int branch, ProtobufCBinaryData k,
                                        const void *v, size_t n)
{
    return put_in(t, branch, NULL, k, v, n);
}

/* Range [k, end) (end.len 0: k alone), in big's room when given. */
static Etcdserverpb__RangeRequest *range_in(struct txn *t, int branch, struct txn_big *big,
                                            ProtobufCBinaryData k, ProtobufCBinaryData end)
{
    size_t i = branch ? t->req.n_success : t->req.n_failure;
    Etcdserverpb__RequestOp *op = op_add(t, branch, big);
    Etcdserverpb__RangeRequest *r = big ? &big->range[i] : &t->room[branch].range[i];
    *r = (Etcdserverpb__RangeRequest)ETCDSERVERPB__RANGE_REQUEST__INIT;
    r->key = k;
    r->range_end = end;
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op->request_range = r;
    return r;
}

static Etcdserverpb__RangeRequest *op_range(struct txn *t, int branch, ProtobufCBinaryData k,
                                            ProtobufCBinaryData end)
{
    return range_in(t, branch, NULL, k, end);
}

static void op_delete(struct txn *t, int branch, ProtobufCBinaryData k, ProtobufCBinaryData end)
{
    size_t i = branch ? t->req.n_success : t->req.n_failure;
    Etcdserverpb__RequestOp *op = op_add(t, branch, NULL);
    Etcdserverpb__DeleteRangeRequest *d = &t->room[branch].del[i];
    *d = (Etcdserverpb__DeleteRangeRequest)ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    d->key = k;
    d->range_end = end;
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    op->request_delete_range = d;
}

/* A nested transaction as an op of branch. */
static void op_txn(struct txn *t, int branch, struct txn *inner)
{
    Etcdserverpb__RequestOp *op = op_add(t, branch, NULL);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
    op->request_txn = &inner->req;
}

static const ProtobufCBinaryData none = {0, NULL};

/* The wire's errors as a space op reports them: a request not sent before
 * its deadline did nothing (WOM_ENOTCONN); etcd refusing a request that
 * this file built, or a compacted revision it never asks for, is not the
 * caller's doing (WOM_EIO). */
static int wire_err(int rc)
{
    switch (rc) {
    case WOM_ETIMEDOUT:
        return WOM_ENOTCONN;
    case WOM_EINVAL:
    case WOM_ETRIMMED:
    case WOM_ENOENT:
        return WOM_EIO;
    default:
        return rc;
    }
}

/* Errors after which a read may simply be sent again. */
static int transient(int rc)
{
    return rc == WOM_ENOTCONN || rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL;
}

static void nap(int64_t *pause, int64_t deadline)
{
    int64_t left = deadline < 0 ? *pause : deadline - wom__now_ns();
    int64_t ns = *pause < left ? *pause : left;
    if (ns > 0) {
        struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
        nanosleep(&ts, NULL);
    }
    *pause = *pause * 2 < 50 * MS ? *pause * 2 : 50 * MS;
}

/* Send t once; *resp on success, checked to have as many responses as the
 * branch that ran has ops. */
static int txn_call(struct es *es, struct txn *t, Etcdserverpb__TxnResponse **resp,
                    int64_t deadline)
{
    Etcdserverpb__TxnResponse *r = NULL;
    /* serializable ranges only: any member may answer, so they spread */
    int any = t->req.n_compare == 0 && t->req.n_failure == 0 && t->req.n_success > 0;
    for (size_t i = 0; any && i < t->req.n_success; i++)
        any = t->req.success[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE &&
              t->req.success[i]->request_range->serializable;
    int rc = any ? wom__etcd_txn_spread(es->c, &t->req, &r, deadline)
                 : wom__etcd_txn(es->c, &t->req, &r, deadline);
    if (rc)
        return wire_err(rc);
    if (wom__ec_txn_check(&t->req, r)) {
        wom__etcd_txn_free(r);
        return WOM_ECORRUPT;
    }
    *resp = r;
    return 0;
}

/* One attempt's deadline within an op's (deadline < 0: none). etcd holds
 * a proposal that a follower forwarded to a leader that has just died
 * until its own request timeout (5 s and two elections), so an answer not
 * come in a quarter of the op's time (500 ms at least) is given up and the
 * request sent again; the wire meanwhile moves to the next member (it
 * fails a member over after 500 ms of silence). Only for requests that are
 * safe to send again: reads, and the writes whose resend this file settles
 * (put, append, trim, region creation). */
static int64_t attempt_deadline(const struct es *es, int64_t deadline)
{
    int64_t slice = es->op_ns / 4 > 500 * MS ? es->op_ns / 4 : 500 * MS;
    int64_t d = wom__now_ns() + slice;
    return deadline >= 0 && deadline < d ? deadline : d;
}

/* A read-only transaction, sent again on transient errors until deadline. */
static int read_call(struct es *es, struct txn *t, Etcdserverpb__TxnResponse **resp,
                     int64_t deadline)
{
    int64_t pause = 1 * MS;
    int answered = 0; /* the last trouble that was an answer, or its absence */
    for (;;) {
        int rc = txn_call(es, t, resp, attempt_deadline(es, deadline));
        if (rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL)
            answered = rc;
        if (!transient(rc) || (deadline >= 0 && wom__now_ns() >= deadline))
            return rc == WOM_ENOTCONN && answered ? answered : rc; /* not "ran out of time" */
        nap(&pause, deadline);
    }
}

static int64_t op_deadline(const struct es *es) { return wom__now_ns() + es->op_ns; }

/* ---- views: a copy the view owns ---- */

static void view_release(wom_view *v)
{
    free((void *)(uintptr_t)v->pin_[1]);
    v->pin_[0] = v->pin_[1] = 0;
    v->data = NULL;
    v->len = 0;
}

static const struct wom__view_owner view_owner = {view_release};

static int view_fill(wom_view *v, const uint8_t *val, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return WOM_ENOMEM;
    memcpy(copy, val, len);
    v->data = copy;
    v->len = len;
    v->pin_[0] = (uint64_t)(uintptr_t)&view_owner;
    v->pin_[1] = (uint64_t)(uintptr_t)copy;
    return 0;
}

/* ---- the watch hub: blocking reads, and the cache of written cells ----
 *
 * A space keeps one watch stream (wire/etcd_rpc.h), started by its first
 * blocking read. A region is watched from the first time a read of it
 * blocks: two watches on the stream, its cells (c/RID/ or m/RID/) and its
 * floor (f/RID), kept until the stream breaks. Every waiter registers
 * (region, address) under hub_mu before it reads, and waits until an event
 * names its cell (or raises the floor past it) or the stream breaks.
 *
 * No wake-up is lost: a region is LIVE once etcd has answered both creates,
 * so its watches report every change after some revision Rc; a waiter
 * registers, then reads linearizably at a revision Rr >= Rc. A change at
 * revision <= Rr is in what it read; one after Rr is an event after Rc,
 * which wakes it. A broken stream wakes everyone, to read again.
 *
 * The cache (ocache.h) holds written ONCE cells of LIVE regions only, from
 * reads and from the watch's events (so that subscribers in this process
 * read what another wrote without asking etcd). A floor event trims it; an
 * insert below the floor last seen is refused under hub_mu, so a trim that
 * raced with the read that found the value cannot leave it cached; a broken
 * stream empties the region's part (trims made meanwhile are unseen). A
 * cached read may therefore return a value that another client trimmed
 * until the trim's event arrives (docs/cluster.md): never a different one. */

enum { W_NONE, W_MAKING, W_LIVE };

struct wreg {
    struct wreg *next;
    uint64_t rid;
    wom_mode mode;
    uint32_t max_value;
    int state;       /* W_* */
    int acks;        /* creates not yet answered */
    int64_t ids[2];  /* watch ids: the cells, the floor */
    uint64_t floor;  /* the highest floor seen by its watch (or a read) */
    uint64_t epoch;  /* LIVE periods so far: a read learns only for its own */
    uint64_t hi;     /* with hi_known: no cell at or above hi but evented ones */
    int hi_known;
    int64_t rc;      /* the revision both watches began by (their answers') */
};

struct waitr {
    struct waitr *next;
    uint64_t rid, addr;
    int woken;
    uint64_t epoch; /* the region's LIVE period it registered in */
};

static struct wreg *wreg_find(struct es *es, uint64_t rid)
{
    for (struct wreg *g = es->wregs; g; g = g->next)
        if (g->rid == rid)
            return g;
    return NULL;
}

/* The hub's record of region r, made unwatched if there is none yet: NULL
 * when out of memory. hub_mu held. */
static struct wreg *wreg_get(struct es *es, const struct er *r)
{
    struct wreg *g = wreg_find(es, r->id);
    if (!g && (g = calloc(1, sizeof *g))) {
        *g = (struct wreg){es->wregs, r->id, r->mode, r->max_value, W_NONE, 0, {0, 0}, 0, 0, 0, 0, 0};
        es->wregs = g;
    }
    return g;
}

/* Wake the waiters of region rid at addresses lo..hi. hub_mu held. */
static void wake(struct es *es, uint64_t rid, uint64_t lo, uint64_t hi)
{
    for (struct waitr *w = es->waiters; w; w = w->next)
        if (w->rid == rid && w->addr >= lo && w->addr <= hi)
            w->woken = 1;
}

/* The address of a cell key of g ("P/c/RID/ADDR"); 0 on success. */
static int key_addr(const struct es *es, const struct wreg *g, const ProtobufCBinaryData *k,
                    uint64_t *addr)
{
    return wom__ec_key_addr(es->prefix, g->mode == WOM_ONCE ? 'c' : 'm', g->rid, k, addr);
}

/* Cache the value of cell addr of g and return the entry held, unless the
 * floor seen is above it (NULL). hub_mu held. */
static struct wom__oentry *cache_put(struct es *es, const struct wreg *g, uint64_t addr,
                                     const uint8_t *val, size_t len)
{
    if (!es->cache || g->state != W_LIVE || addr < g->floor)
        return NULL;
    return wom__ocache_put(es->cache, g->rid, addr, val, len);
}

static void hub_event(struct es *es, struct wreg *g, int floor_watch, const Mvccpb__Event *ev)
{
    const Mvccpb__KeyValue *kv = ev->kv;
    if (!kv)
        return;
    if (floor_watch) {
        uint64_t f;
        if (ev->type != MVCCPB__EVENT__EVENT_TYPE__PUT || hex_parse(&kv->value, &f) || f == 0)
            return;
        if (f > g->floor)
            g->floor = f; /* (a trim of this process's may have raised it already) */
        if (es->cache)
            wom__ocache_trim(es->cache, g->rid, f);
        wake(es, g->rid, 0, f - 1);
        return;
    }
    uint64_t addr, lo;
    int is_run = 0;
    if (key_addr(es, g, &kv->key, &addr)) { /* not a lone cell's (or a MANY cell's) key */
        if (g->mode != WOM_ONCE || wom__ec_key_addr(es->prefix, 'r', g->rid, &kv->key, &addr))
            return; /* nor a run's: not one of ours, nothing to wake */
        is_run = 1;
    }
    lo = addr;
    if (g->mode == WOM_ONCE) { /* a lone cell's key, or a run's: its cells end at addr */
        struct er r = {g->rid, g->mode, g->max_value, ""};
        struct wom__ec_run run;
        if (is_run) /* a delete: it may have held these */
            lo = addr >= RUN_MAX - 1 ? addr - (RUN_MAX - 1) : 0;
        if (ev->type == MVCCPB__EVENT__EVENT_TYPE__PUT && kv->version == 1 &&
            !run_of(es, &r, kv, is_run, 0, &run)) {
            lo = run.first;
            const uint8_t *val;
            size_t n;
            int mine;
            uint64_t at;
            while (wom__ec_run_next(&run, es->writer, UINT64_MAX, &at, &val, &n, &mine)) {
                struct wom__oentry *e = cache_put(es, g, at, val, n);
                if (e)
                    wom__ocache_drop(es->cache, e);
            }
        }
    }
    if (addr == UINT64_MAX)
        g->hi_known = 0; /* no bound above it: reads decide from now on */
    else if (addr >= g->hi)
        g->hi = addr + 1;
    wake(es, g->rid, lo, addr);
}

/* The stream's thread: every answer, in order; NULL when the stream broke. */
static void hub_cancel(struct es *es, const int64_t *ids, size_t n);

static void hub_fn(void *arg, const Etcdserverpb__WatchResponse *r)
{
    struct es *es = arg;
    int64_t other = 0; /* the watch left of a pair that etcd ended half of */
    pthread_mutex_lock(&es->hub_mu);
    if (!r) {
        for (struct wreg *g = es->wregs; g; g = g->next) {
            g->state = W_NONE;
            if (es->cache)
                wom__ocache_trim(es->cache, g->rid, UINT64_MAX);
        }
        for (struct waitr *w = es->waiters; w; w = w->next)
            w->woken = 1;
        pthread_cond_broadcast(&es->hub_cv);
        pthread_mutex_unlock(&es->hub_mu);
        return;
    }
    struct wreg *g = es->wregs;
    while (g && (g->state == W_NONE || (g->ids[0] != r->watch_id && g->ids[1] != r->watch_id)))
        g = g->next;
    if (g) {
        int floor_watch = g->ids[1] == r->watch_id;
        if (r->canceled) { /* refused or ended by etcd: read again, watch again */
            other = g->ids[floor_watch ? 0 : 1];
            g->state = W_NONE;
            if (es->cache)
                wom__ocache_trim(es->cache, g->rid, UINT64_MAX);
            wake(es, g->rid, 0, UINT64_MAX);
        } else if (r->created && g->state == W_MAKING) {
            if (r->header && r->header->revision > g->rc)
                g->rc = r->header->revision; /* the watch reports what comes after */
            if (--g->acks == 0) {
                g->state = W_LIVE;
                g->epoch++;
                g->hi = 0; /* events raise it; a read after this says where the tail is */
                g->hi_known = 0;
            }
        }
        for (size_t i = 0; i < r->n_events && g->state == W_LIVE; i++)
            if (r->events[i])
                hub_event(es, g, floor_watch, r->events[i]);
        pthread_cond_broadcast(&es->hub_cv);
    }
    pthread_mutex_unlock(&es->hub_mu);
    if (other)
        hub_cancel(es, &other, 1); /* the next start makes a new pair */
}

/* Send the two creates of g (ids given). */
static int hub_create(struct es *es, const struct wreg *g, int64_t deadline)
{
    char ck[KEY_MAX], ce[KEY_MAX], fk[KEY_MAX];
    struct er r = {g->rid, g->mode, g->max_value, ""};
    ProtobufCBinaryData c_k = key(ck, es, "%c/%016" PRIx64 "/", g->mode == WOM_ONCE ? 'c' : 'm',
                                  g->rid);
    ProtobufCBinaryData f_k = f_key(fk, es, &r);
    memcpy(ce, c_k.data, c_k.len);
    ce[c_k.len - 1]++; /* '/' + 1: the end of the prefix's range */
    ProtobufCBinaryData keys[2][2] = {{c_k, {c_k.len, (uint8_t *)ce}}, {f_k, none}};
    /* the floor's first: every trim after the cells' watch begins is seen */
    for (int j = 0; j < 2; j++) {
        int i = 1 - j;
        Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
        cr.key = keys[i][0];
        cr.range_end = keys[i][1];
        cr.watch_id = g->ids[i];
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
        req.create_request = &cr;
        int rc = wom__etcd_watch_send(es->watch, &req, deadline);
        if (rc)
            return rc;
    }
    return 0;
}

/* Cancel watches ids[0..n) of the stream, as far as it lets us: those of
 * a pair given up (a create that failed after its partner went out, or
 * half of it ended by etcd), which would otherwise stay on the member,
 * sending events nobody reads, until the stream ends. Canceling a watch
 * the stream does not have (never created, or on a stream since broken)
 * does nothing; a cancel that cannot be sent leaves it to the stream's
 * end, as before. Called without hub_mu. */
static void hub_cancel(struct es *es, const int64_t *ids, size_t n)
{
    int64_t deadline = op_deadline(es);
    for (size_t i = 0; i < n; i++) {
        Etcdserverpb__WatchCancelRequest cr = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
        cr.watch_id = ids[i];
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
        req.cancel_request = &cr;
        (void)wom__etcd_watch_send(es->watch, &req, deadline);
    }
}

static int hub_timedwait(struct es *es, int64_t deadline)
{
    if (deadline < 0)
        return pthread_cond_wait(&es->hub_cv, &es->hub_mu);
    struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
    return pthread_cond_timedwait(&es->hub_cv, &es->hub_mu, &ts);
}

/* Make r's region LIVE and register w for addr. 0, or an error after
 * which the caller polls instead (no stream, no answer in time). *need_read
 * 0 when the hub knows the cell was not written as of the last event (it
 * is at or above the tail a read learnt in this LIVE period, at or above
 * the floor, and no event has named it): the caller then only waits, and
 * the event that writes it wakes it. This is what lets every subscriber of
 * a process wait at a channel's tail without asking etcd per message. */
/* With hub_mu held: r's region's watch record, made LIVE (wait) or only
 * asked for (!wait: the creates are sent, their answers come later). 0,
 * or an error after which the caller does without (no stream yet, no
 * answer in time, no memory). May drop and retake hub_mu. */
static int hub_start(struct es *es, const struct er *r, int wait, int64_t deadline,
                     struct wreg **out)
{
    int64_t d = op_deadline(es); /* a create is answered within an op's time, or never */
    if (deadline >= 0 && deadline < d)
        d = deadline;
    int rc = 0;
    if (!es->watch)
        rc = wom__etcd_watch_open(es->c, hub_fn, es, &es->watch);
    struct wreg *g = rc ? NULL : wreg_get(es, r);
    if (!rc && !g)
        rc = WOM_ENOMEM;
    while (!rc && g->state != W_LIVE) {
        if (g->state == W_NONE) {
            g->state = W_MAKING;
            g->acks = 2;
            g->ids[0] = ++es->watch_ids;
            g->ids[1] = ++es->watch_ids;
            g->rc = 0; /* (g->floor stays: a region's floor never falls) */
            struct wreg copy = *g;
            pthread_mutex_unlock(&es->hub_mu);
            rc = hub_create(es, &copy, d);
            if (rc) /* the floor's create may have gone out alone */
                hub_cancel(es, copy.ids, 2);
            pthread_mutex_lock(&es->hub_mu);
            if (rc && g->state == W_MAKING && g->ids[0] == copy.ids[0])
                g->state = W_NONE;
        } else if (!wait) {
            break;
        } else if (hub_timedwait(es, d) == ETIMEDOUT) {
            rc = WOM_ETIMEDOUT;
        }
    }
    *out = g;
    return rc;
}

/* Make r's region LIVE and register w for addr. 0, or an error after
 * which the caller polls instead (no stream, no answer in time). *need_read
 * 0 when the hub knows the cell was not written as of the last event (it
 * is at or above the tail a read learnt in this LIVE period, at or above
 * the floor, and no event has named it): the caller then only waits, and
 * the event that writes it wakes it. This is what lets every subscriber of
 * a process wait at a channel's tail without asking etcd per message. */
static int hub_arm(struct es *es, const struct er *r, uint64_t addr, struct waitr *w,
                   int64_t deadline, int *need_read)
{
    pthread_mutex_lock(&es->hub_mu);
    struct wreg *g;
    int rc = hub_start(es, r, 1, deadline, &g);
    if (!rc) {
        *w = (struct waitr){es->waiters, r->id, addr, 0, g->epoch};
        es->waiters = w;
        *need_read = !(r->mode == WOM_ONCE && g->hi_known && addr >= g->hi && addr >= g->floor);
    }
    pthread_mutex_unlock(&es->hub_mu);
    return rc;
}

/* The LIVE period of r's region now, 0 when it is not LIVE. A value read
 * after this is cached only if the period has not ended by then. *at_tail
 * (if given) 1 when addr is at or past the tail the hub knows: not
 * written as of the last event, so not worth a serializable try. */
static uint64_t hub_epoch(struct es *es, const struct er *r, uint64_t addr, int *at_tail,
                          int *trimmed)
{
    pthread_mutex_lock(&es->hub_mu);
    struct wreg *g = wreg_find(es, r->id);
    int live = g && g->state == W_LIVE;
    uint64_t ep = live ? g->epoch : 0;
    if (at_tail)
        *at_tail = live && g->hi_known && addr >= g->hi;
    if (trimmed)
        *trimmed = g && addr < g->floor;
    pthread_mutex_unlock(&es->hub_mu);
    return ep;
}

/* What a linearizable read made after w registered says of its region:
 * no cell at or above tail, none below floor. Kept only if the region has
 * stayed LIVE since (the read's revision is then after the watches began). */
static void hub_learn(struct es *es, const struct waitr *w, uint64_t tail, uint64_t floor)
{
    pthread_mutex_lock(&es->hub_mu);
    struct wreg *g = wreg_find(es, w->rid);
    if (g && g->state == W_LIVE && g->epoch == w->epoch) {
        if (tail > g->hi)
            g->hi = tail; /* never lower: events may have raised it past the read */
        g->hi_known = 1;
        if (floor > g->floor) {
            g->floor = floor;
            if (es->cache)
                wom__ocache_trim(es->cache, g->rid, floor);
        }
    }
    pthread_mutex_unlock(&es->hub_mu);
}

/* Wait until w is woken or the deadline (< 0: none). */
static void hub_wait(struct es *es, struct waitr *w, int64_t deadline)
{
    pthread_mutex_lock(&es->hub_mu);
    while (!w->woken && hub_timedwait(es, deadline) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&es->hub_mu);
}

static void hub_disarm(struct es *es, struct waitr *w)
{
    pthread_mutex_lock(&es->hub_mu);
    struct waitr **p = &es->waiters;
    while (*p != w)
        p = &(*p)->next;
    *p = w->next;
    pthread_mutex_unlock(&es->hub_mu);
}

/* ---- views of cached cells ---- */

static void cache_view_release(wom_view *v)
{
    const struct wom__view_owner *o = wom__view_owner_of(v->pin_[0]);
    struct es *es = (struct es *)((char *)o - offsetof(struct es, cache_owner));
    wom__ocache_drop(es->cache, (struct wom__oentry *)(uintptr_t)v->pin_[1]);
    v->pin_[0] = v->pin_[1] = 0;
    v->data = NULL;
    v->len = 0;
}

static void view_of_entry(struct es *es, struct wom__oentry *e, wom_view *v)
{
    v->data = wom__oentry_data(e);
    v->len = wom__oentry_len(e);
    v->pin_[0] = (uint64_t)(uintptr_t)&es->cache_owner;
    v->pin_[1] = (uint64_t)(uintptr_t)e;
}

/* A view of cell addr of r from the cache: 1 when it was there. */
static int cache_view(struct es *es, const struct er *r, uint64_t addr, wom_view *v)
{
    struct wom__oentry *e = es->cache ? wom__ocache_get(es->cache, r->id, addr) : NULL;
    if (!e)
        return 0;
    view_of_entry(es, e, v);
    return 1;
}

/* A view of a value just read: cached when its region was LIVE before the
 * read began (ep, from hub_epoch) and still is, and the read's revision
 * (rev) is at or after the watches' start, so that no trim can have come
 * unseen between what the read saw and the insert; else a copy of its own.
 * A region not watched yet is asked to be, without waiting, so that later
 * reads of it are served from the cache. */
static int read_view(struct es *es, const struct er *r, uint64_t addr, const uint8_t *val,
                     size_t len, wom_view *v, uint64_t ep, int64_t rev)
{
    pthread_mutex_lock(&es->hub_mu);
    struct wreg *g = wreg_find(es, r->id);
    struct wom__oentry *e = NULL;
    /* rev: the read's; a serializable read from a member behind the
     * watches' start might show a cell trimmed before it, unseen by them */
    if (ep && g && g->epoch == ep && rev >= g->rc)
        e = cache_put(es, g, addr, val, len);
    else if (!ep && es->cache)
        (void)hub_start(es, r, 0, -1, &g); /* a failure only leaves it uncached */
    pthread_mutex_unlock(&es->hub_mu);
    if (!e)
        return view_fill(v, val, len);
    view_of_entry(es, e, v);
    return 0;
}

/* A view of cell addr of a run just read, opened and not yet walked (it
 * holds addr, at or above floor, the floor that read saw): as read_view
 * does for one cell, but every cell of the run at or above floor is
 * cached, so that the reads of its neighbours ask etcd nothing. */
static int read_run(struct es *es, const struct er *r, uint64_t addr, struct wom__ec_run *run,
                    uint64_t floor, wom_view *v, uint64_t ep, int64_t rev)
{
    const uint8_t *val = NULL, *cv;
    size_t len = 0, cn;
    int mine;
    uint64_t at;
    struct wom__oentry *e = NULL;
    pthread_mutex_lock(&es->hub_mu);
    struct wreg *g = wreg_find(es, r->id);
    if (ep && g && g->epoch == ep && rev >= g->rc) { /* as in read_view */
        while (wom__ec_run_next(run, es->writer, UINT64_MAX, &at, &cv, &cn, &mine)) {
            struct wom__oentry *x = at >= floor ? cache_put(es, g, at, cv, cn) : NULL;
            if (at == addr)
                val = cv, len = cn, e = x;
            else if (x)
                wom__ocache_drop(es->cache, x);
        }
    } else {
        if (!ep && es->cache)
            (void)hub_start(es, r, 0, -1, &g); /* a failure only leaves it uncached */
        (void)run_cell(run, addr, es->writer, UINT64_MAX, &val, &len, &mine);
    }
    pthread_mutex_unlock(&es->hub_mu);
    if (!val) /* (the caller checked that the run holds addr) */
        return WOM_ECORRUPT;
    if (!e)
        return view_fill(v, val, len);
    view_of_entry(es, e, v);
    return 0;
}

/* ---- holders: etcd leases ----
 *
 * A space's holder token is a lease of its own, granted at the first
 * wom_holder and renewed by a thread every LEASE_TTL_S / 3 seconds; closing
 * the space revokes it. A process that dies (or is cut off from the
 * cluster for LEASE_TTL_S) loses its lease, and wom_holder_alive says so to
 * everyone: a channel's senders then release its seat. A lease that
 * expired while this process lived (a long partition) is replaced by a new
 * one for later holders; what the old token holds counts as dead, as it
 * would for a process that restarted. */

#define LEASE_TTL_S 5

static int lease_stopping(struct es *es)
{
    pthread_mutex_lock(&es->lease_mu);
    int stop = es->lease_stop;
    pthread_mutex_unlock(&es->lease_mu);
    return stop;
}

static void *lease_loop(void *arg)
{
    struct es *es = arg;
    pthread_mutex_lock(&es->lease_mu);
    while (!es->lease_stop) {
        int64_t next = wom__now_ns() + LEASE_TTL_S * 1000 * MS / 3;
        struct timespec ts = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
        while (!es->lease_stop && pthread_cond_timedwait(&es->lease_cv, &es->lease_mu, &ts) !=
                                       ETIMEDOUT)
            ;
        if (es->lease_stop)
            break;
        int64_t id = es->lease;
        if (!id)
            continue; /* gone: the next wom_holder grants another */
        pthread_mutex_unlock(&es->lease_mu);
        /* Attempts of a quarter of the op's time, resent (to the next
         * member) until a second before the TTL would run out since the
         * last renewal: one silent member must not cost the lease. */
        int64_t give_up = next + (LEASE_TTL_S * 2000 / 3 - 1000) * MS;
        Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
        req.id = id;
        Etcdserverpb__LeaseKeepAliveResponse *resp = NULL;
        int rc;
        do {
            wom__etcd_lease_keep_alive_free(resp);
            resp = NULL;
            rc = wire_err(wom__etcd_lease_keep_alive(es->c, &req, &resp,
                                                     attempt_deadline(es, give_up)));
        } while (transient(rc) && wom__now_ns() < give_up && !lease_stopping(es));
        int gone = !rc && resp->ttl <= 0;
        wom__etcd_lease_keep_alive_free(resp);
        pthread_mutex_lock(&es->lease_mu);
        if (gone && es->lease == id)
            es->lease = 0; /* the next wom_holder grants a new one */
    }
    pthread_mutex_unlock(&es->lease_mu);
    return NULL;
}

static int ec_holder(wom_space *s, uint64_t *token)
{
    struct es *es = es_of(s);
    pthread_mutex_lock(&es->lease_mu);
    int rc = 0;
    if (!es->lease) {
        Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
        req.ttl = LEASE_TTL_S;
        Etcdserverpb__LeaseGrantResponse *resp = NULL;
        rc = wire_err(wom__etcd_lease_grant(es->c, &req, &resp, op_deadline(es)));
        if (!rc && (resp->id <= 0 || (resp->error && *resp->error)))
            rc = WOM_EIO;
        if (!rc)
            es->lease = resp->id;
        wom__etcd_lease_grant_free(resp);
        if (!rc && !es->lease_thread_on) {
            if (pthread_create(&es->lease_thread, NULL, lease_loop, es)) {
                rc = WOM_ENOMEM;
                es->lease = 0; /* never renewed: it expires on its own */
            } else {
                es->lease_thread_on = 1;
            }
        }
    }
    *token = (uint64_t)es->lease;
    pthread_mutex_unlock(&es->lease_mu);
    return rc;
}

/* Alive unless etcd says the lease is gone (TTL -1). */
static int ec_holder_alive(wom_space *s, uint64_t token, int *alive)
{
    struct es *es = es_of(s);
    if (token == 0) {
        *alive = 1;
        return 0;
    }
    if (token > INT64_MAX) {
        *alive = 0; /* no lease has such an id: a damaged seat */
        return 0;
    }
    pthread_mutex_lock(&es->lease_mu);
    int mine = es->lease == (int64_t)token;
    pthread_mutex_unlock(&es->lease_mu);
    if (mine) {
        *alive = 1;
        return 0;
    }
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = (int64_t)token;
    Etcdserverpb__LeaseTimeToLiveResponse *resp = NULL;
    int rc = wire_err(wom__etcd_lease_time_to_live(es->c, &req, &resp, op_deadline(es)));
    if (!rc)
        *alive = resp->ttl != -1;
    wom__etcd_lease_time_to_live_free(resp);
    return rc;
}

/* Stop renewing, and give the lease back (its holdings count as dead at
 * once rather than after its TTL). */
static void lease_end(struct es *es)
{
    pthread_mutex_lock(&es->lease_mu);
    es->lease_stop = 1;
    pthread_cond_broadcast(&es->lease_cv);
    int64_t id = es->lease;
    pthread_mutex_unlock(&es->lease_mu);
    if (es->lease_thread_on)
        pthread_join(es->lease_thread, NULL);
    if (id && es->c) {
        Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
        req.id = id;
        Etcdserverpb__LeaseRevokeResponse *resp = NULL;
        wom__etcd_lease_revoke(es->c, &req, &resp, op_deadline(es)); /* else it expires */
        wom__etcd_lease_revoke_free(resp);
    }
}

/* ---- space ---- */

static void ec_close(wom_space *s)
{
    struct es *es = es_of(s);
    lease_end(es);
    wom__etcd_watch_close(es->watch); /* no hub_fn after this */
    for (struct wreg *g = es->wregs, *n; g; g = n) {
        n = g->next;
        free(g);
    }
    for (struct aq *q = es->aqs, *n; q; q = n) {
        n = q->next;
        free(q);
    }
    wom__ocache_free(es->cache);
    wom__etcd_close(es->c);
    pthread_cond_destroy(&es->app_cv);
    pthread_cond_destroy(&es->gather_cv);
    pthread_mutex_destroy(&es->app_mu);
    pthread_cond_destroy(&es->rd_cv);
    pthread_mutex_destroy(&es->rd_mu);
    pthread_cond_destroy(&es->lease_cv);
    pthread_mutex_destroy(&es->lease_mu);
    pthread_cond_destroy(&es->hub_cv);
    pthread_mutex_destroy(&es->hub_mu);
    free(es);
}

/* ---- regions ---- */

/* Create region name with the next id, unless it exists: one transaction
 * that compares the name's absence and the counter's revision as read.
 * Returns 0 when a record is now in *rec (ours or the winner's), 1 when
 * the counter moved (read again). */
static int region_try(struct es *es, const char *name, wom_mode mode, uint32_t max,
                      struct er *out, int64_t deadline)
{
    char rk[KEY_MAX], nk[KEY_MAX], tk[KEY_MAX], fk[KEY_MAX];
    ProtobufCBinaryData r_k = key(rk, es, "r/%s", name), n_k = key(nk, es, "nextid");
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, r_k, none);
    op_range(&t, 1, n_k, none);
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc = read_call(es, &t, &resp, deadline);
    if (rc)
        return rc;
    const Mvccpb__KeyValue *rec, *next;
    uint64_t id = 1;
    int64_t next_mod = 0;
    if (!(rc = kv_at(resp, 0, r_k, &rec)) && !(rc = kv_at(resp, 1, n_k, &next)) && rec)
        rc = rec_parse(&rec->value, out);
    else if (!rc && next && !(rc = hex_parse(&next->value, &id)))
        next_mod = next->mod_revision;
    int have = rec != NULL;
    wom__etcd_txn_free(resp);
    if (rc || have)
        return rc;
    if (id == 0 || id == UINT64_MAX)
        return WOM_ECORRUPT;
    struct er made = {id, mode, max, ""};
    uint8_t recv[REC_LEN];
    char next_hex[17], zero[17];
    wom__ec_rec_make(recv, id, mode, max);
    hex16(next_hex, id + 1);
    hex16(zero, 0);
    txn_init(&t);
    cmp_create(&t, r_k, 0);
    if (next_mod)
        cmp_mod(&t, n_k, next_mod);
    else
        cmp_create(&t, n_k, 0);
    op_put(&t, 1, r_k, recv, REC_LEN);
    op_put(&t, 1, n_k, next_hex, 16);
    op_put(&t, 1, t_key(tk, es, &made), zero, 16);
    op_put(&t, 1, f_key(fk, es, &made), zero, 16);
    rc = txn_call(es, &t, &resp, attempt_deadline(es, deadline));
    if (rc)
        return transient(rc) ? 1 : rc; /* read again: whoever won left a record */
    int won = resp->succeeded;
    wom__etcd_txn_free(resp);
    if (won)
        *out = made;
    return won ? 0 : 1;
}

static int ec_region_open(wom_space *s, const char *name, wom_mode mode, size_t max_value,
                          wom_region *r)
{
    struct es *es = es_of(s);
    /* name, mode and max_value were checked by space.c */
    int64_t deadline = op_deadline(es), pause = 1 * MS;
    struct er got;
    int rc;
    while ((rc = region_try(es, name, mode, (uint32_t)max_value, &got, deadline)) == 1) {
        if (wom__now_ns() >= deadline)
            return WOM_EUNAVAIL;
        nap(&pause, deadline);
    }
    if (rc)
        return rc;
    if (got.mode != mode)
        return WOM_EMODE;
    memcpy(got.name, name, strlen(name) + 1);
    *er_of(r) = got;
    return 0;
}

static void ec_region_close(wom_region *r) { (void)r; }

/* Tail and floor of r in one snapshot. */
static int tail_floor(wom_region *r, uint64_t *tail, uint64_t *floor)
{
    struct es *es = es_of(r->s);
    char tk[KEY_MAX], fk[KEY_MAX];
    ProtobufCBinaryData t_k = t_key(tk, es, er_of(r)), f_k = f_key(fk, es, er_of(r));
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, t_k, none);
    op_range(&t, 1, f_k, none);
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc = read_call(es, &t, &resp, op_deadline(es));
    if (rc)
        return rc;
    uint64_t tv, fv;
    if (!(rc = num_at(resp, 0, t_k, &tv, NULL)) && !(rc = num_at(resp, 1, f_k, &fv, NULL)) &&
        fv > tv)
        rc = WOM_ECORRUPT;
    wom__etcd_txn_free(resp);
    if (!rc)
        *tail = tv, *floor = fv;
    return rc;
}

static int ec_info(wom_region *r, wom_region_info *out)
{
    wom_region_info info;
    memset(&info, 0, sizeof info);
    struct er *er = er_of(r);
    memcpy(info.name, er->name, sizeof info.name);
    info.mode = er->mode;
    info.max_value = er->max_value;
    if (er->mode == WOM_ONCE) {
        int rc = tail_floor(r, &info.tail, &info.floor);
        if (rc)
            return rc;
    }
    *out = info;
    return 0;
}

/* [k, k+1) as a range end: the prefix's successor. */
static ProtobufCBinaryData prefix_end(char *buf, ProtobufCBinaryData k)
{
    memcpy(buf, k.data, k.len);
    buf[k.len - 1]++; /* k ends in '/', whose successor is '0' */
    return (ProtobufCBinaryData){k.len, (uint8_t *)buf};
}

static int kv_cmp(const void *x, const void *y)
{
    const Mvccpb__KeyValue *a = *(Mvccpb__KeyValue *const *)x, *b = *(Mvccpb__KeyValue *const *)y;
    return (a->create_revision > b->create_revision) - (a->create_revision < b->create_revision);
}

/* The number at key PREFIX/D/RID among kvs (a key-sorted range), or 0. */
static int num_of(struct es *es, const Etcdserverpb__RangeResponse *rr, char d, uint64_t id,
                  uint64_t *v)
{
    char k[KEY_MAX];
    ProtobufCBinaryData want = key(k, es, "%c/%016" PRIx64, d, id);
    for (size_t i = 0; i < rr->n_kvs; i++)
        if (rr->kvs[i] && same_key(rr->kvs[i], want))
            return hex_parse(&rr->kvs[i]->value, v);
    return WOM_ECORRUPT; /* created with its region, never deleted */
}

static int ec_regions(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg)
{
    struct es *es = es_of(s);
    char rk[KEY_MAX], tk[KEY_MAX], fk[KEY_MAX], re[KEY_MAX], te[KEY_MAX], fe[KEY_MAX];
    ProtobufCBinaryData r_k = key(rk, es, "r/"), t_k = key(tk, es, "t/"), f_k = key(fk, es, "f/");
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, r_k, prefix_end(re, r_k));
    op_range(&t, 1, t_k, prefix_end(te, t_k));
    op_range(&t, 1, f_k, prefix_end(fe, f_k));
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc = read_call(es, &t, &resp, op_deadline(es));
    if (rc)
        return rc;
    Etcdserverpb__RangeResponse *rr = resp->responses[0]->response_range;
    const Etcdserverpb__RangeResponse *tr = resp->responses[1]->response_range,
                                      *fr = resp->responses[2]->response_range;
    for (size_t i = 0; i < rr->n_kvs; i++)
        if (!rr->kvs[i])
            rc = WOM_ECORRUPT;
    if (!rc && rr->n_kvs) /* (no regions: kvs is NULL, which qsort may not get) */
        qsort(rr->kvs, rr->n_kvs, sizeof *rr->kvs, kv_cmp); /* creation order */
    for (size_t i = 0; !rc && i < rr->n_kvs; i++) {
        const Mvccpb__KeyValue *kv = rr->kvs[i];
        struct er er;
        wom_region_info info;
        memset(&info, 0, sizeof info);
        /* a key of the range asked for: PREFIX/r/NAME, NAME not too long */
        if (kv->key.len <= r_k.len || kv->key.len - r_k.len > WOM_NAME_MAX ||
            memcmp(kv->key.data, r_k.data, r_k.len)) {
            rc = WOM_ECORRUPT;
            break;
        }
        size_t n = kv->key.len - r_k.len;
        if ((rc = rec_parse(&kv->value, &er)))
            break;
        memcpy(info.name, kv->key.data + r_k.len, n);
        if (!wom__name_ok(info.name, n) || memchr(info.name, 0, n)) {
            rc = WOM_ECORRUPT;
            break;
        }
        info.mode = er.mode;
        info.max_value = er.max_value;
        if ((rc = num_of(es, tr, 't', er.id, &info.tail)) ||
            (rc = num_of(es, fr, 'f', er.id, &info.floor)))
            break;
        if (er.mode == WOM_MANY)
            info.tail = info.floor = 0;
        rc = fn(&info, arg);
    }
    wom__etcd_txn_free(resp);
    return rc;
}

/* ---- ONCE cells ---- */

/* A cell's header for the next sequence number of es; the value follows
 * at v + CELL_HDR. Returns the sequence number. */
static uint64_t cell_head(struct es *es, uint8_t *v, size_t len)
{
    uint64_t seq = faa_relaxed(&es->seq, 1); /* relaxed: only unique per handle */
    wom__ec_cell_head(v, es->writer, seq, len);
    return seq;
}

/* A loan, and every cell on its way out: the header, then the value. */
struct cellbuf {
    size_t len;
    uint8_t cell[];
};

static struct cellbuf *cellbuf_new(size_t len)
{
    struct cellbuf *b = malloc(sizeof *b + CELL_HDR + len);
    if (b)
        b->len = len;
    return b;
}

/* Tests: called after a put's or a batch's transaction landed (at first,
 * k cells) and before its answer is used; nonzero makes the caller take
 * the answer as lost, as when the connection drops after etcd applied it.
 * NULL outside tests. */
int (*wom__etcd_test_lose_answer)(uint64_t first, size_t k);

/* Key k as of revision rev, by a linearizable read (the member has then
 * applied up to the cluster's revision, so no rev of ours is in its
 * future): *kv (NULL when absent) lives in *resp. WOM_ETRIMMED when etcd
 * compacted rev away. */
static int read_at(struct es *es, ProtobufCBinaryData k, int64_t rev,
                   Etcdserverpb__TxnResponse **resp, const Mvccpb__KeyValue **kv,
                   int64_t deadline)
{
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, k, none)->revision = rev;
    int64_t pause = 1 * MS;
    for (;;) {
        Etcdserverpb__TxnResponse *r = NULL;
        int rc = wom__etcd_txn(es->c, &t.req, &r, attempt_deadline(es, deadline));
        if (rc == WOM_ETRIMMED) /* OUT_OF_RANGE: the revision is compacted */
            return rc;
        if (!rc && wom__ec_txn_check(&t.req, r)) {
            wom__etcd_txn_free(r);
            return WOM_ECORRUPT;
        }
        if (!rc && (rc = kv_at(r, 0, k, kv)) == 0) {
            *resp = r;
            return 0;
        }
        if (r)
            wom__etcd_txn_free(r);
        rc = wire_err(rc);
        if (!transient(rc) || wom__now_ns() >= deadline)
            return rc;
        nap(&pause, deadline);
    }
}

/* A put whose answer was lost found its cell c_k absent and the floor f_k
 * above addr: trimmed, perhaps after the put landed. The first revision
 * at which f passed addr (a binary search over f's history: the floor only
 * rises; compacted revisions count as below, and then the read under it
 * fails) is that trim; c_k as of the revision before it says whether a
 * put landed and whose it was. 0: ours; WOM_EWRITTEN: another's;
 * WOM_ETRIMMED: none (none can now); WOM_EUNKNOWN: compacted away. */
static int put_settle_in_history(struct es *es, struct er *er, ProtobufCBinaryData c_k,
                                 ProtobufCBinaryData f_k, uint64_t addr, uint64_t seq,
                                 int64_t now)
{
    int64_t deadline = op_deadline(es), lo = 1, hi = now;
    Etcdserverpb__TxnResponse *r = NULL;
    const Mvccpb__KeyValue *kv;
    int rc;
    if (now <= 0)
        return WOM_ECORRUPT;
    while (lo < hi) { /* the first revision with f > addr lies in [lo, hi] */
        int64_t mid = lo + (hi - lo) / 2;
        uint64_t floor = 0;
        rc = read_at(es, f_k, mid, &r, &kv, deadline);
        if (rc && rc != WOM_ETRIMMED)
            return rc;
        if (!rc) {
            if (kv && wom__ec_hex_parse(&kv->value, &floor))
                rc = WOM_ECORRUPT;
            wom__etcd_txn_free(r);
            if (rc)
                return rc;
        }
        if (floor > addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo <= 1) /* revision 0 would read the newest */
        return WOM_EUNKNOWN;
    if ((rc = read_at(es, c_k, lo - 1, &r, &kv, deadline)))
        return rc == WOM_ETRIMMED ? WOM_EUNKNOWN : rc;
    int mine = 0;
    struct wom__ec_run run;
    if (kv && !(rc = run_of(es, er, kv, 0, addr, &run))) {
        const uint8_t *val;
        size_t n;
        (void)run_cell(&run, addr, es->writer, seq, &val, &n, &mine);
    }
    wom__etcd_txn_free(r);
    return rc ? rc : !kv ? WOM_ETRIMMED : mine ? 0 : WOM_EWRITTEN;
}

/* Whether key a sorts below key b (etcd's byte order). */
static int key_below(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.data, b.data, n) : 0;
    return c < 0 || (c == 0 && a.len < b.len);
}

/* What a failed put learnt: its cell's key c_k, the first run of its
 * range [r_k, *e_k) and f, read in its failure branch. 1: a run above addr
 * failed the compare, and *e_k (in eb) is now its key, below which the put
 * compares again. */
static int put_lost(struct es *es, struct er *er, const Etcdserverpb__TxnResponse *resp,
                    ProtobufCBinaryData c_k, ProtobufCBinaryData *e_k, char *eb,
                    ProtobufCBinaryData f_k, uint64_t addr, uint64_t seq, int doubt)
{
    const Mvccpb__KeyValue *kv, *rkv;
    struct wom__ec_run run;
    const uint8_t *val;
    size_t n;
    int mine;
    uint64_t floor;
    int rc;
    if ((rc = kv_at(resp, 0, c_k, &kv)) || (rc = first_kv(resp, 1, &rkv)))
        return rc;
    if (kv) {
        if ((rc = run_of(es, er, kv, 0, addr, &run)))
            return rc;
        (void)run_cell(&run, addr, es->writer, seq, &val, &n, &mine);
        return mine ? 0 : WOM_EWRITTEN; /* mine: an earlier send landed */
    }
    if ((rc = num_at(resp, 2, f_k, &floor, NULL)) || (rkv && (rc = run_of(es, er, rkv, 1, addr, &run))))
        return rc;
    if (floor > addr) /* Not there (or in a run across the floor) and below
                         it: trimmed, unless an earlier send of ours may
                         have landed and been trimmed since (history tells). */
        return doubt ? put_settle_in_history(es, er, c_k, f_k, addr, seq,
                                             resp->header ? resp->header->revision : 0)
                     : WOM_ETRIMMED;
    if (rkv && run.first <= addr)
        return WOM_EWRITTEN; /* an append's run holds it */
    if (!rkv || !key_below(rkv->key, *e_k)) /* nothing there at or above the floor
                                              (the compares hold), or outside the range */
        return WOM_ECORRUPT;
    memcpy(eb, rkv->key.data, rkv->key.len); /* (run_of checked it is a run's key) */
    *e_k = (ProtobufCBinaryData){rkv->key.len, (uint8_t *)eb};
    return 1;
}

/* One transaction: if c/ADDR was never created, no run holds addr (no key
 * in [r addr, e), the runs_keys range, narrowed to below the first run
 * found above addr: runs are only an append's, so puts at neighbouring
 * addresses do not fail each other's compares) and f <= addr, put the
 * cell at c/ADDR and raise t past addr (nested: only if t is lower); else
 * read c/ADDR, the first run of that range and f. After a lost answer the
 * same transaction is sent again: the cell then says whether an earlier
 * send landed (our writer id and sequence); every send compares c/ADDR
 * absent, so at most one lands. */
static int put_cell(wom_region *r, uint64_t addr, struct cellbuf *b)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    size_t len = b->len;
    uint8_t *val = b->cell;
    uint64_t seq = cell_head(es, val, len);
    char ck[KEY_MAX], rk[KEY_MAX], ek[KEY_MAX], fk[KEY_MAX], tk[KEY_MAX], above[17], next[17];
    ProtobufCBinaryData c_k = c_key(ck, es, er, addr), r_k, e_k, f_k = f_key(fk, es, er),
                        t_k = t_key(tk, es, er);
    runs_keys(rk, ek, es, er, addr, 1, &r_k, &e_k);
    uint64_t nx = addr == UINT64_MAX ? addr : addr + 1; /* the tail saturates */
    hex16(above, addr + 1);
    hex16(next, nx);
    int64_t deadline = op_deadline(es), pause = 1 * MS;
    int doubt = 0, rc;
    for (;;) {
        struct txn t, raise;
        txn_init(&t);
        txn_init(&raise);
        cmp_create(&t, c_k, 0);
        cmp_none_in(&t, r_k, e_k);
        if (addr != UINT64_MAX)
            cmp_less(&t, f_k, above); /* f <= addr */
        op_put(&t, 1, c_k, val, CELL_HDR + len);
        cmp_less(&raise, t_k, next);
        op_put(&raise, 1, t_k, next, 16);
        op_txn(&t, 1, &raise);
        op_range(&t, 0, c_k, none);
        op_range(&t, 0, r_k, e_k)->limit = 1;
        op_range(&t, 0, f_k, none);
        Etcdserverpb__TxnResponse *resp = NULL;
        rc = txn_call(es, &t, &resp, attempt_deadline(es, deadline));
        if (!rc && resp->succeeded && wom__etcd_test_lose_answer &&
            wom__etcd_test_lose_answer(addr, 1)) {
            wom__etcd_txn_free(resp);
            rc = WOM_EUNKNOWN;
        }
        if (!rc) {
            rc = resp->succeeded ? 0 : put_lost(es, er, resp, c_k, &e_k, ek, f_k, addr, seq, doubt);
            wom__etcd_txn_free(resp);
            if (rc == 1 && wom__now_ns() < deadline)
                continue; /* compare again below the run found, at once (each
                             try narrows the range: at most RUN_MAX of them) */
            rc = rc == 1 ? WOM_EUNAVAIL : rc;
            break;
        }
        doubt |= rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL;
        if (!transient(rc) || wom__now_ns() >= deadline)
            break;
        nap(&pause, deadline);
    }
    return rc && doubt && transient(rc) ? WOM_EUNKNOWN : rc;
}

/* Room for a cell of len bytes of r (a ONCE region that takes them), with
 * buf's bytes when buf is given: a put's, an append's or a loan's. */
static int cell_new(wom_region *r, const void *buf, size_t len, struct cellbuf **out)
{
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    if (len > er->max_value)
        return WOM_EMSGSIZE;
    struct cellbuf *b = cellbuf_new(len);
    if (!b)
        return WOM_ENOMEM;
    if (buf && len)
        memcpy(b->cell + CELL_HDR, buf, len);
    *out = b;
    return 0;
}

static int ec_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    struct cellbuf *b;
    int rc = cell_new(r, buf, len, &b);
    if (!rc) {
        rc = put_cell(r, addr, b);
        free(b);
    }
    return rc;
}

/* ---- first reads, combined ----
 *
 * The serializable tries of a space handle's threads (a first read of a
 * cell, before a quorum read may say "not written") go out together:
 * whoever finds no combined read in flight (or one, and a whole batch
 * waiting: READ_FLIGHT) sends up to READ_MAX of the waiting ones as one
 * transaction of serializable ranges (each read's
 * cell key, run range and floor) to one member in turn, and the others
 * sleep until theirs is answered, as the group commit does for appends.
 * The members then answer one request for many reads. The answer is
 * shared (struct rdb): each read parses its own three ranges and drops its
 * reference. Linearizable reads are not combined: each is one quorum
 * read, as its caller's guarantee is about its own instant. */

#define READ_MAX 42 /* 3 ranges each: 126, under etcd's --max-txn-ops of 128 */
/* Combined reads in flight at once: a second only while a whole batch
 * waits. Measured (16 / 256 threads reading cells new to the handle, a
 * 3-member loopback cluster on 2 vCPUs): one in flight 6.7-6.9k / 8.0-8.8k
 * reads/s, two 4.5-5.8k / 9.2-10.1k, four 4.0-4.5k / 8.3-9.4k; before
 * combining, 3.3-3.6k / 4.7-5.0k. Smaller batches cost more than the
 * overlap gains until the queue fills a batch; with this rule 6.8-8.4k /
 * 8.8-11.5k against one's 7.0-8.6k / 7.9-10.5k, interleaved. */
#define READ_FLIGHT 2

struct rdb { /* a combined read's answer */
    Etcdserverpb__TxnResponse *resp;
    size_t refs;
};

struct rdx { /* one waiting read */
    struct rdx *next;
    const struct er *er;
    uint64_t addr;
    struct rdb *b; /* its answer, ranges 3 * slot .. 3 * slot + 2 */
    size_t slot;
    int rc, taken, done;
};

static void rdb_drop(struct es *es, struct rdb *b)
{
    pthread_mutex_lock(&es->rd_mu);
    int last = --b->refs == 0;
    pthread_mutex_unlock(&es->rd_mu);
    if (last) {
        wom__etcd_txn_free(b->resp);
        free(b);
    }
}

/* The ranges of cell addr of er from op 3 * i on: its key, its runs, f. */
static void read_ops(struct es *es, const struct er *er, uint64_t addr, struct txn *t,
                     struct txn_big *big, char (*k)[KEY_MAX], int serializable)
{
    ProtobufCBinaryData r_k, e_k;
    runs_keys(k[1], k[2], es, er, addr, 1, &r_k, &e_k);
    Etcdserverpb__RangeRequest *c_r = range_in(t, 1, big, c_key(k[0], es, er, addr), none),
                               *r_r = range_in(t, 1, big, r_k, e_k),
                               *f_r = range_in(t, 1, big, f_key(k[3], es, er), none);
    r_r->limit = 1;
    /* only serializable ranges: one member answers */
    c_r->serializable = r_r->serializable = f_r->serializable = serializable != 0;
}

/* Send the reads x[0..n) as one transaction and hand each its answer. */
static void read_send(struct es *es, struct rdx *const *x, size_t n)
{
    struct txn *t = malloc(sizeof *t);
    struct txn_big big = {NULL, NULL, NULL, NULL};
    char (*keys)[KEY_MAX] = malloc(4 * n * sizeof *keys);
    struct rdb *b = malloc(sizeof *b);
    int rc = !t || !keys || !b || big_new(&big, 3 * n) ? WOM_ENOMEM : 0;
    if (!rc) {
        txn_init_big(t, &big, 3 * n);
        for (size_t i = 0; i < n; i++)
            read_ops(es, x[i]->er, x[i]->addr, t, &big, keys + 4 * i, 1);
        rc = read_call(es, t, &b->resp, op_deadline(es));
    }
    pthread_mutex_lock(&es->rd_mu);
    if (!rc)
        b->refs = n;
    for (size_t i = 0; i < n; i++) {
        x[i]->rc = rc;
        x[i]->b = rc ? NULL : b;
        x[i]->slot = i;
        x[i]->done = 1;
    }
    pthread_cond_broadcast(&es->rd_cv);
    pthread_mutex_unlock(&es->rd_mu);
    if (rc)
        free(b);
    free(t);
    free(keys);
    big_free(&big);
}

/* A serializable try at cell addr of er, combined with the others
 * waiting: *b its answer (drop it), *base its first range there. */
static int read_combined(struct es *es, const struct er *er, uint64_t addr, struct rdb **b,
                         size_t *base)
{
    struct rdx me = {NULL, er, addr, NULL, 0, 0, 0, 0};
    pthread_mutex_lock(&es->rd_mu);
    *es->rd_tailp = &me;
    es->rd_tailp = &me.next;
    es->rd_queued++;
    while (!me.done) {
        if (me.taken || es->rd_busy >= READ_FLIGHT ||
            (es->rd_busy > 0 && es->rd_queued < READ_MAX)) {
            pthread_cond_wait(&es->rd_cv, &es->rd_mu);
            continue;
        }
        struct rdx *x[READ_MAX];
        size_t n = 0;
        while (es->rd_head && n < READ_MAX) {
            es->rd_head->taken = 1;
            x[n++] = es->rd_head;
            es->rd_head = es->rd_head->next;
        }
        if (!es->rd_head)
            es->rd_tailp = &es->rd_head;
        es->rd_queued -= n;
        es->rd_busy++;
        pthread_mutex_unlock(&es->rd_mu);
        read_send(es, x, n); /* (marks them done under rd_mu) */
        pthread_mutex_lock(&es->rd_mu);
        es->rd_busy--;
        pthread_cond_broadcast(&es->rd_cv);
    }
    pthread_mutex_unlock(&es->rd_mu);
    *b = me.b;
    *base = 3 * me.slot;
    return me.rc;
}

/* An answer that cell_read gave: shared (b) or its own. */
static void answer_free(struct es *es, Etcdserverpb__TxnResponse *resp, struct rdb *b)
{
    if (b)
        rdb_drop(es, b);
    else
        wom__etcd_txn_free(resp);
}

/* Read what would hold cell addr of r, its lone cell c/ADDR or the first
 * run of its runs_keys range, and f, in one snapshot, linearizable (t too
 * when tail is given): *kv the key-value and *run opened on it (a lone
 * cell is a run of one), *kv NULL when nothing holds addr; after use of
 * *kv, answer_free(*resp, *shared). serializable: from one member's own
 * state, combined with other threads' tries (no quorum; it may lag, so
 * only a cell found, or a floor above addr, means anything; *floor 0
 * when it has no f yet). */
static int cell_read(wom_region *r, uint64_t addr, int serializable,
                     Etcdserverpb__TxnResponse **resp, struct rdb **shared,
                     const Mvccpb__KeyValue **kv, struct wom__ec_run *run, uint64_t *floor,
                     uint64_t *tail)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    char k[5][KEY_MAX]; /* read_ops's four, and t's */
    ProtobufCBinaryData c_k = c_key(k[0], es, er, addr), f_k = f_key(k[3], es, er),
                        t_k = t_key(k[4], es, er);
    size_t base = 0;
    int rc;
    *shared = NULL;
    if (serializable) {
        if ((rc = read_combined(es, er, addr, shared, &base)))
            return rc;
        *resp = (*shared)->resp;
    } else {
        struct txn t;
        txn_init(&t);
        read_ops(es, er, addr, &t, NULL, k, 0);
        if (tail)
            op_range(&t, 1, t_k, none);
        if ((rc = read_call(es, &t, resp, op_deadline(es))))
            return rc;
    }
    const Mvccpb__KeyValue *lone, *rkv, *f_kv;
    *floor = 0;
    if ((rc = kv_at(*resp, base, c_k, &lone)) || (rc = first_kv(*resp, base + 1, &rkv)) ||
        (rc = kv_at(*resp, base + 2, f_k, &f_kv)) || (!f_kv && !serializable && (rc = WOM_ECORRUPT)) ||
        (f_kv && (rc = hex_parse(&f_kv->value, floor))) ||
        (!serializable && tail && (rc = num_at(*resp, 3, t_k, tail, NULL))) ||
        (rkv && (rc = run_of(es, er, rkv, 1, addr, run))) ||
        (lone && rkv && run->first <= addr && (rc = WOM_ECORRUPT)) || /* held twice */
        (lone && (rc = run_of(es, er, lone, 0, addr, run)))) {
        answer_free(es, *resp, *shared);
        return rc;
    }
    *kv = lone ? lone : rkv && run->first <= addr ? rkv : NULL; /* (a run above: not written) */
    return 0;
}

/* A written cell from the cache, else a serializable read of the cell
 * (any member: a written value is final), else a linearizable read of the
 * cell and the floor, the only kind that may report a cell unwritten or
 * trimmed. The serializable try is skipped for a blocking read at or past
 * the tail of a watched region: it is not written yet. A blocking get registers with the hub before each read and
 * sleeps until the watch names its cell; where no watch can be made (no
 * stream yet, the cluster slow to answer) it polls instead, 1 ms doubling
 * to 50 ms. */
static int ec_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    wom__view_release(v); /* a view of this backend is never reused */
    v->pin_[0] = v->pin_[1] = 0;
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    int64_t deadline = timeout_ns > 0 ? wom__now_ns() + timeout_ns : -1, pause = 1 * MS;
    int at_tail, trimmed;
    uint64_t ep = hub_epoch(es, er, addr, &at_tail, &trimmed);
    if (trimmed) /* below a floor seen (or set by a trim of ours): a member
                    behind it could still serve the cell */
        return WOM_ETRIMMED;
    int serializable = timeout_ns == 0 || !at_tail, last = 0;
    for (;;) {
        if (cache_view(es, er, addr, v))
            return 0;
        struct waitr w;
        int need_read = 1;
        int armed = !serializable && timeout_ns != 0 && !last &&
                    hub_arm(es, er, addr, &w, deadline, &need_read) == 0;
        Etcdserverpb__TxnResponse *resp;
        struct rdb *shared = NULL;
        const Mvccpb__KeyValue *kv = NULL;
        struct wom__ec_run run;
        uint64_t floor = 0, tail = 0;
        int rc = 0;
        ep = hub_epoch(es, er, addr, NULL, NULL); /* before the read: what it finds may be cached */
        if (need_read)
            rc = cell_read(r, addr, serializable, &resp, &shared, &kv, &run, &floor,
                           armed ? &tail : NULL);
        else
            resp = NULL; /* the hub knows it is not written: wait for its event */
        if (serializable && !rc && !kv && addr >= floor) { /* not on that member: ask the quorum */
            answer_free(es, resp, shared);
            serializable = 0;
            continue;
        }
        serializable = 0;
        if (armed && need_read && !rc && !kv)
            hub_learn(es, &w, tail, floor);
        if (!rc && kv && addr >= floor) { /* (a run straddling the floor keeps trimmed cells) */
            rc = read_run(es, er, addr, &run, floor, v, ep,
                          resp->header ? resp->header->revision : 0);
            answer_free(es, resp, shared);
        } else if (!rc) {
            rc = addr < floor ? WOM_ETRIMMED : WOM_EEMPTY;
            answer_free(es, resp, shared);
        }
        if (rc == WOM_EEMPTY && timeout_ns != 0 && deadline >= 0 && wom__now_ns() >= deadline) {
            /* "not written by the deadline" only from a read made now: the
             * hub's knowledge lags while its member is paused or cut off */
            if (need_read)
                rc = WOM_ETIMEDOUT;
            else
                last = 1;
        }
        if (rc == WOM_EEMPTY && timeout_ns != 0 && !last) {
            if (armed)
                hub_wait(es, &w, deadline);
            else
                nap(&pause, deadline);
        }
        if (armed)
            hub_disarm(es, &w);
        if (rc != WOM_EEMPTY || timeout_ns == 0)
            return rc;
    }
}

/* Views of the cells from addr on that are written already: those the
 * cache holds, then one serializable range read of the rest (a written
 * cell is final, so any member may answer; one that lags gives fewer).
 * Nothing is read when the watch hub knows that the next address is not
 * written, or lies below a floor seen. */
static int ec_get_views(wom_region *r, uint64_t addr, wom_view *v, size_t max, size_t *got)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    size_t k = 0;
    while (k < max && addr + k >= addr && cache_view(es, er, addr + k, &v[k]))
        k++;
    uint64_t a = addr + k;
    int at_tail = 0, trimmed = 0;
    uint64_t ep = k < max && a >= addr ? hub_epoch(es, er, a, &at_tail, &trimmed) : 0;
    if (k == max || a < addr || at_tail || trimmed) {
        *got = k;
        return 0;
    }
    size_t want = max - k, rwant = want < RUN_MAX ? want : RUN_MAX;
    char ck[KEY_MAX], cek[KEY_MAX], rk[KEY_MAX], rek[KEY_MAX], fk[KEY_MAX];
    ProtobufCBinaryData c_k, ce_k, r_k, re_k, f_k = f_key(fk, es, er);
    lones_keys(ck, cek, es, er, a, want, &c_k, &ce_k);
    runs_keys(rk, rek, es, er, a, rwant, &r_k, &re_k);
    struct txn t;
    txn_init(&t);
    Etcdserverpb__RangeRequest *cq = op_range(&t, 1, c_k, ce_k), *rq = op_range(&t, 1, r_k, re_k),
                               *fq = op_range(&t, 1, f_k, none);
    cq->serializable = rq->serializable = fq->serializable = 1;
    cq->limit = want < INT64_MAX ? (int64_t)want : INT64_MAX;
    rq->limit = (int64_t)rwant; /* a run holds one cell at least */
    Etcdserverpb__TxnResponse *resp = NULL;
    const Mvccpb__KeyValue *f_kv = NULL;
    uint64_t floor = 0;
    int rc = read_call(es, &t, &resp, op_deadline(es));
    if (!rc && !(rc = kv_at(resp, 2, f_k, &f_kv)) && f_kv)
        rc = hex_parse(&f_kv->value, &floor);
    const Etcdserverpb__RangeResponse *cr = rc ? NULL : resp->responses[0]->response_range,
                                      *rr = rc ? NULL : resp->responses[1]->response_range;
    if (cr && (cr->n_kvs > (size_t)cq->limit || rr->n_kvs > (size_t)rq->limit))
        rc = WOM_ECORRUPT, cr = rr = NULL;
    int64_t rev = !rc && resp->header ? resp->header->revision : 0;
    /* Both ranges ascend: each address is a lone cell's (the next of cr),
     * or in the run at hand, or in the next run of rr; else it is not
     * written (yet), and the cells end. */
    struct wom__ec_run run = {0, 0, 0, 0, NULL}, lone = run; /* left 0: none open */
    size_t ci = 0, ri = 0;
    while (cr && !rc && a >= floor && k < max && addr + k >= addr) {
        uint64_t at = addr + k, got_at;
        const uint8_t *val;
        size_t n;
        int mine;
        /* (ascending keys give no lone cell below at; a hostile member might) */
        while (!rc && (!lone.left || lone.first < at) && ci < cr->n_kvs)
            rc = run_of(es, er, cr->kvs[ci++], 0, a, &lone);
        if (rc)
            break;
        if (lone.left && lone.first == at) {
            (void)wom__ec_run_next(&lone, es->writer, UINT64_MAX, &got_at, &val, &n, &mine);
        } else {
            while (!rc && (!run.left || run.last < at) && ri < rr->n_kvs)
                rc = run_of(es, er, rr->kvs[ri++], 1, a, &run);
            if (rc || !run.left || run.first > at || run.last < at)
                break;
            wom__ec_run_seek(&run, at);
            if (!wom__ec_run_next(&run, es->writer, UINT64_MAX, &got_at, &val, &n, &mine) ||
                got_at != at)
                break;
        }
        if ((rc = read_view(es, er, at, val, n, &v[k], ep, rev)))
            break;
        k++;
    }
    if (resp)
        wom__etcd_txn_free(resp);
    if (rc && k == 0)
        return rc;
    *got = k;
    return 0;
}

/* ---- appends: group commit ----
 *
 * The appends of a process to one region go through one queue (struct aq,
 * per space and region id): whoever finds no batch in flight takes up to
 * BATCH_MAX waiting cells (and at most BATCH_BYTES) and commits them in
 * one transaction; the others sleep until theirs is done or it is their
 * turn. An append many is one entry in the queue, taken whole into one
 * transaction when it fits one (BATCH_MAX cells, BATCH_BYTES), else in
 * parts, each filling a transaction of its own, committed before anything
 * queued behind it. One transaction: if t's mod revision is the one
 * known, put the cells at TAIL, TAIL+1, ..., packed in runs (a key per
 * run, not per cell: etcd's cost per transaction grows with its keys), and
 * t = TAIL + k; else read t, the first run's key and f and go again from
 * the tail learnt, at once (contention is not trouble). No run can sit at
 * or above t (every put and trim raises t in its own transaction), so t's
 * revision alone says the addresses are free.
 *
 * Exactly once without a dedup window: after a lost answer the same
 * transaction is sent again, so that at most one of its sends can land (t's
 * revision never comes back); a later answer settles it: the first run's
 * key holds a run from TAIL whose first cell has our writer id and
 * sequence (the whole batch landed), or t moved on without it (it never
 * will). A batch whose first cell may have landed
 * and been trimmed since is settled from etcd's history of t and that cell
 * (settle_in_history); WOM_EUNKNOWN only when etcd compacted it away. */

/* A batch's cells go in runs (at most 2 * BATCH_BYTES / RUN_BYTES + 1 +
 * BATCH_MAX / RUN_MAX of them: far below etcd's --max-txn-ops of 128). */
#define BATCH_MAX 1024
#define BATCH_BYTES ((size_t)1 << 20) /* well under --max-request-bytes */

/* A batch whose answer was lost compared t's revision mod, t has moved on
 * (to revision now), and its first run's key c_k (a run from at) is gone:
 * trimmed, perhaps after the batch landed there. If it landed, its
 * transaction was the first change of t after mod (it compared mod) and
 * wrote c_k: find that change in t's history (a binary search over
 * revisions: a few reads, on this rare path only) and read c_k as of it.
 * 0: the batch landed; 1: it did not, and never will (t moved on without
 * it); WOM_EUNKNOWN: etcd compacted the history that would tell. */
static int settle_in_history(struct es *es, struct er *er, ProtobufCBinaryData t_k,
                             ProtobufCBinaryData c_k, uint64_t at, uint64_t seq, int64_t mod,
                             int64_t now)
{
    int64_t deadline = op_deadline(es), lo = mod + 1, hi = now;
    Etcdserverpb__TxnResponse *r = NULL;
    const Mvccpb__KeyValue *kv;
    int rc;
    while (lo < hi) { /* t's first change after mod lies in [lo, hi] */
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = read_at(es, t_k, mid, &r, &kv, deadline)))
            return rc == WOM_ETRIMMED ? WOM_EUNKNOWN : rc;
        int64_t m = kv ? kv->mod_revision : -1;
        wom__etcd_txn_free(r);
        if (m < mod || m > mid) /* t existed at mod and changes only forward */
            return WOM_ECORRUPT;
        if (m > mod)
            hi = m;
        else
            lo = mid + 1;
    }
    if ((rc = read_at(es, c_k, lo, &r, &kv, deadline)))
        return rc == WOM_ETRIMMED ? WOM_EUNKNOWN : rc;
    int mine = 0;
    struct wom__ec_run run;
    if (kv && kv->mod_revision == lo && !(rc = run_of(es, er, kv, 1, at, &run)) && run.first == at) {
        const uint8_t *val;
        size_t n;
        (void)run_cell(&run, at, es->writer, seq, &val, &n, &mine);
    }
    wom__etcd_txn_free(r);
    return rc ? rc : mine ? 0 : 1;
}

/* What a failed batch learnt from t, its first run's key c_k (at
 * *tail, as sent) and f: 0 when the batch is in (an earlier send landed),
 * 1 to go again from *tail, or an error. */
static int batch_lost(struct es *es, struct er *er, const Etcdserverpb__TxnResponse *resp,
                      ProtobufCBinaryData t_k, ProtobufCBinaryData c_k, ProtobufCBinaryData f_k,
                      uint64_t seq, int doubt, uint64_t *tail, int64_t *mod)
{
    const Mvccpb__KeyValue *kv;
    uint64_t tv, floor;
    int64_t tm;
    int rc;
    if ((rc = num_at(resp, 0, t_k, &tv, &tm)) || (rc = kv_at(resp, 1, c_k, &kv)) ||
        (rc = num_at(resp, 2, f_k, &floor, NULL)))
        return rc;
    if (kv) {
        struct wom__ec_run run;
        const uint8_t *val;
        size_t n;
        int mine = 0;
        if ((rc = run_of(es, er, kv, 1, *tail, &run)))
            return rc;
        if (run.first == *tail)
            (void)run_cell(&run, *tail, es->writer, seq, &val, &n, &mine);
        if (mine)
            return 0;
        if (tm == *mod)
            return WOM_ECORRUPT; /* a run above the tail: the invariant is broken */
    } else if (doubt && floor > *tail) {
        /* ours may have landed and been trimmed since: history tells */
        if ((rc = settle_in_history(es, er, t_k, c_k, *tail, seq, *mod, tm)) != 1)
            return rc;
    }
    *tail = tv;
    *mod = tm;
    return 1;
}

/* A batch's cells packed into runs: one buffer holding every run (a
 * header, its cells), each run's header stamped again for every tail the
 * batch tries. */
struct runs {
    size_t nr;
    struct { size_t k, bytes; } *r; /* cells, bytes with the header */
    uint8_t *buf;
};

static void runs_free(struct runs *rs)
{
    free(rs->r);
    free(rs->buf);
}

/* Pack b[0..k): a run ends at RUN_MAX cells, or before it would pass
 * RUN_BYTES (a larger cell is a run of its own). */
static int runs_pack(struct runs *rs, struct cellbuf *const *b, size_t k)
{
    size_t bytes = 0;
    rs->nr = 0;
    rs->r = malloc(k * sizeof *rs->r);
    for (size_t i = 0; rs->r && i < k; i++) {
        size_t cb = CELL_HDR + b[i]->len;
        if (i == 0 || rs->r[rs->nr - 1].k == RUN_MAX ||
            rs->r[rs->nr - 1].bytes + cb > RUN_HDR + RUN_BYTES) {
            rs->r[rs->nr].k = 0; /* a new run */
            rs->r[rs->nr++].bytes = RUN_HDR;
        }
        rs->r[rs->nr - 1].k++;
        rs->r[rs->nr - 1].bytes += cb;
        bytes += cb;
    }
    rs->buf = rs->r ? malloc(bytes + rs->nr * RUN_HDR) : NULL;
    if (!rs->buf) {
        runs_free(rs);
        return WOM_ENOMEM;
    }
    uint8_t *p = rs->buf;
    for (size_t i = 0, c = 0; i < rs->nr; i++) {
        p += RUN_HDR;
        for (size_t j = 0; j < rs->r[i].k; j++, c++) {
            memcpy(p, b[c]->cell, CELL_HDR + b[c]->len);
            p += CELL_HDR + b[c]->len;
        }
    }
    return 0;
}

/* Commit cells b[0..k) (headers made; b[0]'s sequence number is seq0) as
 * one batch; *first gets the first's address. WOM_ENOSPC, nothing
 * committed, unless `need` >= k addresses are left below UINT64_MAX (the
 * whole of an append many that this batch is a part of: as on mem:, a run
 * that cannot fit appends none). q's tail knowledge is used and kept (the
 * caller holds q's turn, not its lock). The cells go in runs (runs_pack),
 * each at the key of its last address, so that etcd writes a few keys for
 * many cells: its cost grows with the keys a transaction writes. */
static int batch_commit(struct es *es, struct er *er, struct aq *q, struct cellbuf *const *b,
                        size_t k, size_t need, uint64_t seq0, uint64_t *first)
{
    char tk[KEY_MAX], fk[KEY_MAX], next[17];
    ProtobufCBinaryData t_k = t_key(tk, es, er), f_k = f_key(fk, es, er);
    int64_t deadline = op_deadline(es), pause = 1 * MS;
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc;
    if (!q->known) {
        struct txn t;
        txn_init(&t);
        op_range(&t, 1, t_k, none);
        if ((rc = read_call(es, &t, &resp, deadline)))
            return rc;
        rc = num_at(resp, 0, t_k, &q->tail, &q->mod);
        wom__etcd_txn_free(resp);
        if (rc)
            return rc;
        q->known = 1;
    }
    struct runs rs;
    if (runs_pack(&rs, b, k))
        return WOM_ENOMEM;
    char (*keys)[KEY_MAX] = malloc(rs.nr * sizeof *keys);
    struct txn *t = malloc(sizeof *t);
    struct txn_big big = {NULL, NULL, NULL, NULL};
    if (!keys || !t || big_new(&big, rs.nr + 1)) {
        free(keys);
        free(t);
        big_free(&big);
        runs_free(&rs);
        return WOM_ENOMEM;
    }
    int doubt = 0;
    for (;;) {
        if (q->tail > UINT64_MAX - need) {
            rc = doubt ? WOM_EUNKNOWN : WOM_ENOSPC;
            break;
        }
        hex16(next, q->tail + k);
        txn_init_big(t, &big, rs.nr + 1);
        cmp_mod(t, t_k, q->mod);
        put_in(t, 1, &big, t_k, next, 16);
        uint64_t at = q->tail;
        uint8_t *p = rs.buf;
        ProtobufCBinaryData c0 = none; /* the first run's key */
        for (size_t i = 0; i < rs.nr; i++) {
            ProtobufCBinaryData c_k = r_key(keys[i], es, er, at + rs.r[i].k - 1);
            wom__ec_run_head(p, at, (uint32_t)rs.r[i].k);
            put_in(t, 1, &big, c_k, p, rs.r[i].bytes);
            c0 = i ? c0 : c_k;
            at += rs.r[i].k;
            p += rs.r[i].bytes;
        }
        op_range(t, 0, t_k, none);
        op_range(t, 0, c0, none);
        op_range(t, 0, f_k, none);
        rc = txn_call(es, t, &resp, attempt_deadline(es, deadline));
        if (!rc && resp->succeeded && wom__etcd_test_lose_answer &&
            wom__etcd_test_lose_answer(q->tail, k)) {
            wom__etcd_txn_free(resp);
            rc = WOM_EUNKNOWN;
        }
        if (!rc) {
            at = q->tail;
            if (resp->succeeded) {
                if (!resp->header || resp->header->revision <= 0)
                    rc = WOM_ECORRUPT;
                else
                    q->mod = resp->header->revision; /* t's mod revision now */
                q->tail += k;
            } else {
                rc = batch_lost(es, er, resp, t_k, c0, f_k, seq0, doubt, &q->tail, &q->mod);
                if (rc == 0)
                    q->known = 0; /* in, but where t is now is not known */
            }
            wom__etcd_txn_free(resp);
            if (rc == 0)
                *first = at;
            if (rc != 1)
                break;
            doubt = 0;
        } else {
            doubt |= rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL;
            if (!transient(rc))
                break;
        }
        if (wom__now_ns() >= deadline) {
            rc = doubt ? WOM_EUNKNOWN : rc == 1 ? WOM_EUNAVAIL : rc;
            break;
        }
        if (rc != 1)
            nap(&pause, deadline); /* trouble on the wire; contention retries at once */
    }
    if (rc)
        q->known = 0;
    free(keys);
    free(t);
    big_free(&big);
    runs_free(&rs);
    return rc;
}

/* r's queue (made on first use); the caller holds app_mu. */
static struct aq *aq_of(struct es *es, const struct er *er)
{
    struct aq *q = es->aqs;
    while (q && q->rid != er->id)
        q = q->next;
    if (!q && (q = calloc(1, sizeof *q))) {
        q->next = es->aqs;
        q->rid = er->id;
        q->tailp = &q->head;
        es->aqs = q;
    }
    return q;
}

static size_t cell_bytes(const struct cellbuf *b) { return b->len + CELL_HDR + RUN_HDR; }

/* Take the next batch off q (the caller holds app_mu): whole entries from
 * the head while they fit, into b[0..*k) and x[0..*nx); an entry that does
 * not fit an empty batch is taken alone, in part, and stays at the head.
 * Returns how many of its cells were taken then (else 0: all whole). */
static size_t batch_take(struct aq *q, struct cellbuf **b, size_t *k, struct apx **x,
                         size_t *nx)
{
    size_t bytes = 0, fit = 0;
    *k = *nx = 0;
    for (struct apx *h = q->head; h && *k < BATCH_MAX; h = h->next) {
        size_t left = h->n - h->ndone;
        for (fit = 0; fit < left && *k + fit < BATCH_MAX; fit++) {
            size_t more = cell_bytes(h->b[h->ndone + fit]);
            if (*k + fit > 0 && bytes + more > BATCH_BYTES)
                break;
            bytes += more;
        }
        if (fit < left && *nx > 0)
            break; /* it goes in a batch of its own */
        for (size_t j = 0; j < fit; j++)
            b[*k + j] = h->b[h->ndone + j];
        *k += fit;
        x[(*nx)++] = h;
        if (fit < left) {
            q->queued -= *k;
            return fit; /* the head, in part */
        }
        q->head = h->next;
    }
    if (!q->head)
        q->tailp = &q->head;
    q->queued -= *k;
    return 0;
}

/* What a committed (or failed) batch taken by batch_take means for each
 * entry in it; the caller holds app_mu. */
static void batch_done(struct aq *q, struct apx *const *x, size_t nx, size_t split, int rc,
                       uint64_t first)
{
    uint64_t at = first;
    for (size_t i = 0; i < nx; i++) {
        struct apx *e = x[i];
        size_t part = split ? split : e->n - e->ndone;
        for (size_t j = 0; !rc && e->addrs && j < part; j++)
            e->addrs[e->ndone + j] = at + j;
        at += part;
        if (!rc)
            e->ndone += part;
        if (rc || e->ndone == e->n) {
            e->rc = rc;
            e->done = 1;
            if (q->head == e) { /* a part of it failed: it leaves the queue */
                q->queued -= e->n - e->ndone - part; /* (the part was taken) */
                if (!(q->head = e->next))
                    q->tailp = &q->head;
            }
        }
    }
}

/* batch_done under app_mu. */
static void batch_done_locked(struct es *es, struct aq *q, struct apx *const *x, size_t nx,
                              size_t split, int rc, uint64_t first)
{
    pthread_mutex_lock(&es->app_mu);
    batch_done(q, x, nx, split, rc, first);
    pthread_mutex_unlock(&es->app_mu);
}

/* The entries x[0..nx) of a batch that did not fit below UINT64_MAX, each
 * committed alone, in order (whole entries, each fits a transaction): the
 * appends that fit land, and only those that do not get WOM_ENOSPC, as
 * they would on mem: one after another. An entry is not touched once it
 * is done (its appender may return). */
static void batch_alone(struct es *es, struct er *er, struct aq *q, struct apx *const *x,
                        size_t nx)
{
    for (size_t i = 0; i < nx; i++) {
        struct apx *e = x[i];
        size_t left = e->n - e->ndone;
        uint64_t first = 0;
        int rc = batch_commit(es, er, q, e->b + e->ndone, left, left, e->seq + e->ndone, &first);
        batch_done_locked(es, q, &e, 1, 0, rc, first);
    }
}

/* Before it takes a batch, a committer whose queue holds fewer cells than
 * the last batch took waits for more, a GATHER_DIV-th of the last commit's
 * time at most. Without it, N appenders in a loop split into two cohorts
 * that alternate (one commits while the other, just answered, queues
 * again), so a batch carries N/2: measured 110 cells per commit with 256
 * threads. Only after a batch of several appenders that landed: a lone
 * appender (one entry a batch, also an append many in parts) never waits,
 * and a commit slowed by a failover is no measure. The wait costs the
 * others at most that fraction of a commit, and GATHER_MAX_NS in all. The
 * caller holds app_mu and q's turn (busy). */
#define GATHER_DIV 8
#define GATHER_MAX_NS (20 * MS)

static void gather(struct es *es, struct aq *q)
{
    if (q->queued >= q->last_k || q->last_ns <= 0)
        return;
    int64_t wait = q->last_ns / GATHER_DIV;
    int64_t until = wom__now_ns() + (wait < GATHER_MAX_NS ? wait : GATHER_MAX_NS);
    struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
    q->gathering = 1;
    while (q->queued < q->last_k &&
           pthread_cond_timedwait(&es->gather_cv, &es->app_mu, &ts) != ETIMEDOUT)
        ;
    q->gathering = 0;
}

/* Append the n cells in b (headers not yet made) at consecutive addresses:
 * join r's queue, and commit batches while it is our turn, until ours is
 * done. *done counts the cells committed, also on error. */
static int append_cells(wom_region *r, struct cellbuf *const *b, size_t n, uint64_t *addrs,
                        size_t *done)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    uint64_t seq = faa_relaxed(&es->seq, n); /* relaxed: only unique per handle */
    struct apx me = {NULL, b, n, 0, seq, addrs, 0, 0};
    for (size_t i = 0; i < n; i++)
        wom__ec_cell_head(b[i]->cell, es->writer, seq + i, b[i]->len);
    *done = 0;
    pthread_mutex_lock(&es->app_mu);
    struct aq *q = aq_of(es, er);
    if (!q) {
        pthread_mutex_unlock(&es->app_mu);
        return WOM_ENOMEM;
    }
    *q->tailp = &me;
    q->tailp = &me.next;
    q->queued += n;
    if (q->gathering && q->queued >= q->last_k)
        pthread_cond_broadcast(&es->gather_cv); /* (one per queue waits) */
    while (!me.done) {
        if (q->busy) {
            pthread_cond_wait(&es->app_cv, &es->app_mu);
            continue;
        }
        q->busy = 1;
        gather(es, q);
        struct cellbuf *cells[BATCH_MAX];
        struct apx *x[BATCH_MAX];
        size_t k, nx, split = batch_take(q, cells, &k, x, &nx);
        pthread_mutex_unlock(&es->app_mu);
        uint64_t first = 0;
        struct apx *h = x[0];
        int64_t t0 = wom__now_ns();
        int rc = batch_commit(es, er, q, cells, k, split ? h->n - h->ndone : k,
                              h->seq + h->ndone, &first);
        int64_t took = wom__now_ns() - t0;
        if (rc == WOM_ENOSPC && nx > 1)
            batch_alone(es, er, q, x, nx);
        else
            batch_done_locked(es, q, x, nx, split, rc, first);
        pthread_mutex_lock(&es->app_mu);
        q->busy = 0;
        q->last_k = rc == 0 && nx > 1 ? k : 0;
        q->last_ns = took;
        pthread_cond_broadcast(&es->app_cv);
    }
    pthread_mutex_unlock(&es->app_mu);
    *done = me.ndone;
    return me.rc;
}

/* Append the cell in b (header not yet made). */
static int append_cell(wom_region *r, struct cellbuf *b, uint64_t *addr)
{
    size_t done;
    return append_cells(r, &b, 1, addr, &done);
}

static int ec_append(wom_region *r, const void *buf, size_t len, uint64_t *addr)
{
    struct cellbuf *b;
    int rc = cell_new(r, buf, len, &b);
    if (!rc) {
        rc = append_cell(r, b, addr);
        free(b);
    }
    return rc;
}

static int ec_append_many(wom_region *r, const wom_iov *v, size_t n, uint64_t *addrs,
                          size_t *done)
{
    struct er *er = er_of(r);
    *done = 0;
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    for (size_t i = 0; i < n; i++)
        if (v[i].len > er->max_value)
            return WOM_EMSGSIZE; /* before anything is appended */
    if (n == 0)
        return 0;
    struct cellbuf **b = calloc(n, sizeof *b);
    int rc = b ? 0 : WOM_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        rc = cell_new(r, v[i].data, v[i].len, &b[i]);
    if (!rc)
        rc = append_cells(r, b, n, addrs, done);
    for (size_t i = 0; b && i < n; i++)
        free(b[i]);
    free(b);
    return rc;
}

/* ---- loans: a buffer of ours, published as a put or an append ---- */

static int ec_loan(wom_region *r, size_t len, uint64_t *token, void **data)
{
    struct cellbuf *b;
    int rc = cell_new(r, NULL, len, &b);
    if (!rc) {
        *token = (uint64_t)(uintptr_t)b;
        *data = b->cell + CELL_HDR;
    }
    return rc;
}

static int ec_loan_publish(wom_region *r, uint64_t token, int append, uint64_t *addr)
{
    struct cellbuf *b = (struct cellbuf *)(uintptr_t)token;
    int rc = append ? append_cell(r, b, addr) : put_cell(r, *addr, b);
    if (!rc)
        free(b);
    return rc;
}

static void ec_loan_cancel(wom_region *r, uint64_t token)
{
    (void)r;
    free((void *)(uintptr_t)token);
}

static int ec_tail(wom_region *r, uint64_t *tail)
{
    uint64_t floor;
    if (er_of(r)->mode != WOM_ONCE)
        return WOM_EMODE;
    return tail_floor(r, tail, &floor);
}

/* One transaction: if f < below, put f = below, delete the cells below
 * (fixed-width hex addresses: one range) and raise t to below (nested:
 * only if lower). Idempotent, so a lost answer is settled by sending it
 * again. */
static int ec_trim(wom_region *r, uint64_t below)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    if (below == 0)
        return 0;
    char fk[KEY_MAX], tk[KEY_MAX], c0[KEY_MAX], c1[KEY_MAX], r0[KEY_MAX], r1[KEY_MAX], hex[17];
    ProtobufCBinaryData f_k = f_key(fk, es, er), t_k = t_key(tk, es, er);
    hex16(hex, below);
    struct txn t, raise;
    txn_init(&t);
    txn_init(&raise);
    cmp_less(&t, f_k, hex);
    op_put(&t, 1, f_k, hex, 16);
    op_delete(&t, 1, c_key(c0, es, er, 0), c_key(c1, es, er, below)); /* lone cells */
    op_delete(&t, 1, r_key(r0, es, er, 0), r_key(r1, es, er, below)); /* runs wholly below */
    cmp_less(&raise, t_k, hex);
    op_put(&raise, 1, t_k, hex, 16);
    op_txn(&t, 1, &raise);
    int64_t deadline = op_deadline(es), pause = 1 * MS;
    int doubt = 0, rc;
    for (;;) {
        Etcdserverpb__TxnResponse *resp = NULL;
        rc = txn_call(es, &t, &resp, attempt_deadline(es, deadline));
        wom__etcd_txn_free(resp);
        if (!rc) { /* done now, or the floor was already there */
            pthread_mutex_lock(&es->hub_mu);
            struct wreg *g = wreg_get(es, er); /* NULL only out of memory */
            if (g && g->floor < below)
                g->floor = below; /* no read of ours serves or caches below it again */
            if (es->cache)
                wom__ocache_trim(es->cache, er->id, below);
            wake(es, er->id, 0, below - 1); /* ours below it: now ETRIMMED */
            pthread_cond_broadcast(&es->hub_cv);
            pthread_mutex_unlock(&es->hub_mu);
            return 0;
        }
        doubt |= rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL;
        if (!transient(rc) || wom__now_ns() >= deadline)
            return doubt && transient(rc) ? WOM_EUNKNOWN : rc;
        nap(&pause, deadline);
    }
}

/* ---- MANY cells ---- */

/* Range m/ADDR: *kv NULL when never stored; free *resp after. */
static int many_read(wom_region *r, uint64_t addr, Etcdserverpb__TxnResponse **resp,
                     const Mvccpb__KeyValue **kv)
{
    struct es *es = es_of(r->s);
    char mk[KEY_MAX];
    ProtobufCBinaryData m_k = m_key(mk, es, er_of(r), addr);
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, m_k, none);
    int rc = read_call(es, &t, resp, op_deadline(es));
    if (rc)
        return rc;
    rc = kv_at(*resp, 0, m_k, kv);
    if (!rc && *kv && ((*kv)->version <= 0 || (*kv)->value.len > er_of(r)->max_value))
        rc = WOM_ECORRUPT;
    if (rc)
        wom__etcd_txn_free(*resp);
    return rc;
}

static int ec_inspect(wom_region *r, uint64_t addr, wom_cell_info *out)
{
    wom_cell_info info = {WOM_CELL_EMPTY, 0, 0, -1};
    Etcdserverpb__TxnResponse *resp;
    const Mvccpb__KeyValue *kv;
    int rc;
    if (er_of(r)->mode == WOM_MANY) {
        if ((rc = many_read(r, addr, &resp, &kv)))
            return rc;
        if (kv)
            info = (wom_cell_info){WOM_CELL_WRITTEN, kv->value.len, (uint64_t)kv->version, -1};
    } else {
        uint64_t floor;
        struct wom__ec_run run;
        struct rdb *shared;
        if ((rc = cell_read(r, addr, 0, &resp, &shared, &kv, &run, &floor, NULL)))
            return rc;
        const uint8_t *val;
        size_t n;
        int mine;
        if (addr < floor)
            info.state = WOM_CELL_TRIMMED;
        else if (kv && run_cell(&run, addr, es_of(r->s)->writer, UINT64_MAX, &val, &n, &mine))
            info = (wom_cell_info){WOM_CELL_WRITTEN, n, 1, -1};
    }
    wom__etcd_txn_free(resp);
    if (!rc)
        *out = info;
    return rc;
}

/* store: a put; cas: if version(m/ADDR) == expect then put (expect 0: the
 * key was never stored). The new version is the previous one plus one
 * (etcd's key version; MANY cells are never deleted, so it never goes
 * back). Not sent again after a lost answer (a second store is another
 * store): WOM_EUNKNOWN. */
static int ec_store(wom_region *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                    uint64_t expect, uint64_t *version)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    if (er->mode != WOM_MANY)
        return WOM_EMODE;
    if (len > er->max_value)
        return WOM_EMSGSIZE;
    if (has_expect && expect > INT64_MAX)
        return WOM_ECONFLICT; /* no etcd version is that high */
    char mk[KEY_MAX];
    ProtobufCBinaryData m_k = m_key(mk, es, er, addr);
    struct txn t;
    txn_init(&t);
    if (has_expect)
        cmp_version(&t, m_k, (int64_t)expect);
    op_put(&t, 1, m_k, buf, len)->prev_kv = 1;
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc = txn_call(es, &t, &resp, op_deadline(es));
    if (rc)
        return rc;
    if (!resp->succeeded) {
        wom__etcd_txn_free(resp);
        return WOM_ECONFLICT;
    }
    const Mvccpb__KeyValue *prev = resp->responses[0]->response_put->prev_kv;
    uint64_t v = 1;
    if (prev && (!same_key(prev, m_k) || prev->version <= 0 || prev->version == INT64_MAX))
        rc = WOM_ECORRUPT;
    else if (prev)
        v = (uint64_t)prev->version + 1;
    if (!rc && has_expect && v != expect + 1)
        rc = WOM_ECORRUPT; /* the compare said otherwise */
    wom__etcd_txn_free(resp);
    if (!rc && version)
        *version = v;
    return rc;
}

static int ec_load(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                   uint64_t *version)
{
    if (er_of(r)->mode != WOM_MANY)
        return WOM_EMODE;
    Etcdserverpb__TxnResponse *resp;
    const Mvccpb__KeyValue *kv;
    int rc = many_read(r, addr, &resp, &kv);
    if (rc)
        return rc;
    size_t n = kv ? kv->value.len : 0;
    uint64_t v = kv ? (uint64_t)kv->version : 0;
    *len = n; /* also on WOM_ENOBUFS */
    if (n > cap)
        rc = WOM_ENOBUFS;
    else if (n)
        memcpy(buf, kv->value.data, n);
    wom__etcd_txn_free(resp);
    if (!rc && version)
        *version = v;
    return rc;
}

/* Like a blocking get: registered with the hub before each read, woken
 * by the watch of the region's cells (or polling where none can be made). */
static int ec_wait(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    struct es *es = es_of(r->s);
    if (er_of(r)->mode != WOM_MANY)
        return WOM_EMODE;
    int64_t deadline = timeout_ns > 0 ? wom__now_ns() + timeout_ns : -1, pause = 1 * MS;
    for (;;) {
        struct waitr w;
        int need_read; /* always read here: a version, not a write, is waited for */
        int armed = timeout_ns != 0 && hub_arm(es, er_of(r), addr, &w, deadline, &need_read) == 0;
        Etcdserverpb__TxnResponse *resp;
        const Mvccpb__KeyValue *kv;
        int rc = many_read(r, addr, &resp, &kv);
        if (!rc) {
            uint64_t v = kv ? (uint64_t)kv->version : 0;
            wom__etcd_txn_free(resp);
            rc = v != version ? 0 : WOM_ETIMEDOUT;
        }
        if (rc == WOM_ETIMEDOUT && timeout_ns != 0 && (deadline < 0 || wom__now_ns() < deadline)) {
            if (armed)
                hub_wait(es, &w, deadline);
            else
                nap(&pause, deadline);
            rc = 1; /* read again */
        }
        if (armed)
            hub_disarm(es, &w);
        if (rc != 1)
            return rc;
    }
}

static const struct wom__ops etcd_ops = {
    .region_size = sizeof(struct er),
    .close = ec_close,
    .sync = NULL, /* etcd is durable on commit */
    .holder = ec_holder,
    .holder_alive = ec_holder_alive,
    .region_open = ec_region_open,
    .region_close = ec_region_close,
    .info = ec_info,
    .regions = ec_regions,
    .put = ec_put,
    .append = ec_append,
    .append_many = ec_append_many,
    .tail = ec_tail,
    .trim = ec_trim,
    .inspect = ec_inspect,
    .get_view = ec_get_view,
    .get_views = ec_get_views,
    .loan = ec_loan,
    .loan_publish = ec_loan_publish,
    .loan_cancel = ec_loan_cancel,
    .store = ec_store,
    .load = ec_load,
    .wait = ec_wait,
};

/* ---- open: etcd://H:P[,H:P...]/PREFIX[;OPTS] (etcd_uri.h) ---- */

static int ec_open(const char *rest, wom_space **out)
{
    struct wom__etcd_uri u;
    int rc = wom__etcd_uri_parse(rest, &u);
    if (rc)
        return rc;
    const char *ep[WOM__ETCD_MAX_ENDPOINTS];
    for (size_t i = 0; i < u.n; i++)
        ep[i] = u.eps[i];
    int64_t op_ns = u.op_ns;
    uint64_t cache = u.cache;
    size_t n = u.n, plen = u.plen;
    const char *prefix = u.prefix;
    struct es *es = calloc(1, sizeof *es);
    if (!es)
        return WOM_ENOMEM;
    es->pub.ops = &etcd_ops;
    es->pub.impl = es;
    if (cache && wom__ocache_new((size_t)cache, &es->cache)) {
        free(es);
        return WOM_ENOMEM;
    }
    es->cache_owner.release = cache_view_release;
    pthread_mutex_init(&es->app_mu, NULL);
    pthread_cond_init(&es->app_cv, NULL);
    pthread_mutex_init(&es->rd_mu, NULL);
    pthread_cond_init(&es->rd_cv, NULL);
    es->rd_tailp = &es->rd_head;
    pthread_mutex_init(&es->hub_mu, NULL);
    pthread_mutex_init(&es->lease_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&es->hub_cv, &ca);
    pthread_cond_init(&es->lease_cv, &ca);
    pthread_cond_init(&es->gather_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (getrandom(es->writer, sizeof es->writer, 0) != (ssize_t)sizeof es->writer) {
        ec_close(&es->pub);
        return wom__fail(WOM_EIO, "etcd://%s: getrandom failed (a writer id is random)", rest);
    }
    memcpy(es->prefix, prefix, plen);
    es->plen = plen;
    es->op_ns = op_ns;
    struct wom__etcd_creds cr; /* the files of ;cacert= ;cert= ;key= ;password-file= */
    rc = wom__etcd_creds_load(&u, rest, &cr);
    if (rc) {
        ec_close(&es->pub);
        return rc; /* wom_last_error() names the file and the problem */
    }
    struct wom__etcd_auth auth = {cr.cacert, cr.cert, cr.key, u.user[0] ? u.user : NULL,
                                  cr.password};
    rc = wom__etcd_connect(ep, n, op_ns, &auth, &es->c);
    wom__etcd_creds_free(&cr); /* connect keeps copies; this zeroes the key and password */
    if (rc) {
        ec_close(&es->pub);
        return wom__fail(rc, "etcd://%s: %s", rest, wom__etcd_connect_error());
    }
    *out = &es->pub;
    return 0;
}

/* Default visibility: in libwom_etcd.so it is what libwom's weak reference
 * (space.c) finds. */
__attribute__((visibility("default"))) const struct wom__scope wom__etcd_scope = {
    "etcd://", ec_open, wom__last_error_buf};
