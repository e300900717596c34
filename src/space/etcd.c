/* etcd.c - the etcd:// scope: a space's cells in an etcd cluster, under
 * one key prefix (docs/cluster.md has the key layout and each operation's
 * guarantee). This is the first slice: every op is one or a few
 * linearizable requests through the wire layer (src/wire/etcd_rpc.h).
 * Interim, and said so where it shows: a blocking get or wait polls with a
 * bounded backoff (no watches yet), an append is one transaction per value
 * (no batching), the holder is 0 (no leases), written cells are read with
 * linearizable ranges every time (no cache, no serializable reads), and
 * there are no loans.
 *
 * Keys (numbers as 16 lowercase hex digits, so that byte order is number
 * order, both for ranges and for etcd's value comparisons):
 *   P/nextid        the next region id
 *   P/r/NAME        the region's record: "WOMR", id, mode, max_value
 *   P/t/RID, f/RID  tail and floor, created with the region, never deleted
 *   P/c/RID/ADDR    a ONCE cell: "WOMC", writer id, sequence, length, value
 *   P/m/RID/ADDR    a MANY cell: the value (version: etcd's key version)
 * Invariants the transactions keep: every cell key is below t (put and
 * trim raise t in the same transaction) and at or above f (trim deletes
 * below it in the same transaction), and f <= t. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "space/space.h"
#include "util/atomic.h"
#include "util/clock.h"
#include "wire/etcd_rpc.h"

#define MAX_ENDPOINTS 16
#define MAX_PREFIX 200
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
};

/* A region (behind its handle). */
struct er {
    uint64_t id;
    wom_mode mode;
    uint32_t max_value;
    char name[WOM_NAME_MAX + 1];
};

static struct es *es_of(wom_space *s) { return s->impl; }
static struct er *er_of(wom_region *r) { return r->impl; }

/* ---- records ---- */

#define REC_LEN 17  /* "WOMR", id, mode, max_value */
#define CELL_HDR 32 /* "WOMC", writer, seq, len */

static void be_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t be_get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void rec_make(uint8_t *p, uint64_t id, wom_mode mode, uint32_t max_value)
{
    memcpy(p, "WOMR", 4);
    be_put(p + 4, id, 8);
    p[12] = (uint8_t)mode;
    be_put(p + 13, max_value, 4);
}

static int rec_parse(const ProtobufCBinaryData *v, struct er *out)
{
    if (v->len != REC_LEN || memcmp(v->data, "WOMR", 4))
        return WOM_ECORRUPT;
    uint8_t mode = v->data[12];
    uint32_t max = (uint32_t)be_get(v->data + 13, 4);
    if ((mode != WOM_ONCE && mode != WOM_MANY) || max == 0 || max > WOM_MAX_VALUE_LIMIT)
        return WOM_ECORRUPT;
    out->id = be_get(v->data + 4, 8);
    out->mode = (wom_mode)mode;
    out->max_value = max;
    return 0;
}

/* A ONCE cell's value, checked: *val and *len the bytes after the header;
 * *mine 1 when this handle wrote it with sequence seq. */
static int cell_parse(const struct es *es, const struct er *r, const ProtobufCBinaryData *v,
                      uint64_t seq, const uint8_t **val, size_t *len, int *mine)
{
    if (v->len < CELL_HDR || memcmp(v->data, "WOMC", 4))
        return WOM_ECORRUPT;
    uint64_t n = be_get(v->data + 28, 4);
    if (n != v->len - CELL_HDR || n > r->max_value)
        return WOM_ECORRUPT;
    *val = v->data + CELL_HDR;
    *len = (size_t)n;
    *mine = !memcmp(v->data + 4, es->writer, 16) && be_get(v->data + 20, 8) == seq;
    return 0;
}

/* "0123456789abcdef" and back; parse is strict (exactly 16 lowercase). */
static void hex16(char *out, uint64_t v) { snprintf(out, 17, "%016" PRIx64, v); }

static int hex_parse(const ProtobufCBinaryData *v, uint64_t *out)
{
    uint64_t x = 0;
    if (v->len != 16)
        return WOM_ECORRUPT;
    for (int i = 0; i < 16; i++) {
        int c = v->data[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return WOM_ECORRUPT;
        x = x << 4 | (uint64_t)d;
    }
    *out = x;
    return 0;
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

static int same_key(const Mvccpb__KeyValue *kv, ProtobufCBinaryData k)
{
    return kv->key.len == k.len && !memcmp(kv->key.data, k.data, k.len);
}

/* ---- requests ---- */

/* One transaction under construction: compares and both branches, with
 * room for the messages they point at (borrowed for one call). */
#define TXN_MAX 6
struct txn {
    Etcdserverpb__TxnRequest req;
    Etcdserverpb__Compare cmp[TXN_MAX], *cmpp[TXN_MAX];
    Etcdserverpb__RequestOp op[2][TXN_MAX], *opp[2][TXN_MAX];
    Etcdserverpb__PutRequest put[2][TXN_MAX];
    Etcdserverpb__RangeRequest range[2][TXN_MAX];
    Etcdserverpb__DeleteRangeRequest del[2][TXN_MAX];
};

static void txn_init(struct txn *t)
{
    t->req = (Etcdserverpb__TxnRequest)ETCDSERVERPB__TXN_REQUEST__INIT;
    t->req.compare = t->cmpp;
    t->req.success = t->opp[1];
    t->req.failure = t->opp[0];
}

/* Compare target of key with result against v (one of the union's cases). */
static Etcdserverpb__Compare *cmp_add(struct txn *t, ProtobufCBinaryData k,
                                      Etcdserverpb__Compare__CompareResult result,
                                      Etcdserverpb__Compare__CompareTarget target)
{
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

static Etcdserverpb__RequestOp *op_add(struct txn *t, int branch)
{
    size_t *n = branch ? &t->req.n_success : &t->req.n_failure;
    Etcdserverpb__RequestOp *op = &t->op[branch][*n];
    *op = (Etcdserverpb__RequestOp)ETCDSERVERPB__REQUEST_OP__INIT;
    t->opp[branch][(*n)++] = op;
    return op;
}

static Etcdserverpb__PutRequest *op_put(struct txn *t, int branch, ProtobufCBinaryData k,
                                        const void *v, size_t n)
{
    size_t i = branch ? t->req.n_success : t->req.n_failure;
    Etcdserverpb__RequestOp *op = op_add(t, branch);
    Etcdserverpb__PutRequest *p = &t->put[branch][i];
    *p = (Etcdserverpb__PutRequest)ETCDSERVERPB__PUT_REQUEST__INIT;
    p->key = k;
    p->value = (ProtobufCBinaryData){n, (uint8_t *)v};
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op->request_put = p;
    return p;
}

/* Range [k, end) (end.len 0: k alone). */
static void op_range(struct txn *t, int branch, ProtobufCBinaryData k, ProtobufCBinaryData end)
{
    size_t i = branch ? t->req.n_success : t->req.n_failure;
    Etcdserverpb__RequestOp *op = op_add(t, branch);
    Etcdserverpb__RangeRequest *r = &t->range[branch][i];
    *r = (Etcdserverpb__RangeRequest)ETCDSERVERPB__RANGE_REQUEST__INIT;
    r->key = k;
    r->range_end = end;
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op->request_range = r;
}

static void op_delete(struct txn *t, int branch, ProtobufCBinaryData k, ProtobufCBinaryData end)
{
    size_t i = branch ? t->req.n_success : t->req.n_failure;
    Etcdserverpb__RequestOp *op = op_add(t, branch);
    Etcdserverpb__DeleteRangeRequest *d = &t->del[branch][i];
    *d = (Etcdserverpb__DeleteRangeRequest)ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    d->key = k;
    d->range_end = end;
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    op->request_delete_range = d;
}

/* A nested transaction as an op of branch. */
static void op_txn(struct txn *t, int branch, struct txn *inner)
{
    Etcdserverpb__RequestOp *op = op_add(t, branch);
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
    int rc = wom__etcd_txn(es->c, &t->req, &r, deadline);
    if (rc)
        return wire_err(rc);
    size_t want = r->succeeded ? t->req.n_success : t->req.n_failure;
    if (r->n_responses != want) {
        wom__etcd_txn_free(r);
        return WOM_ECORRUPT;
    }
    for (size_t i = 0; i < want; i++) {
        Etcdserverpb__RequestOp *op = r->succeeded ? t->req.success[i] : t->req.failure[i];
        int want_case = op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE
                            ? ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE
                        : op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT
                            ? ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT
                        : op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN
                            ? ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN
                            : ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
        const Etcdserverpb__ResponseOp *ro = r->responses[i];
        if (!ro || (int)ro->response_case != want_case || !ro->response_range) {
            wom__etcd_txn_free(r);
            return WOM_ECORRUPT;
        }
    }
    *resp = r;
    return 0;
}

/* A read-only transaction, sent again on transient errors until deadline. */
static int read_call(struct es *es, struct txn *t, Etcdserverpb__TxnResponse **resp,
                     int64_t deadline)
{
    int64_t pause = 1 * MS;
    for (;;) {
        int64_t d = es->op_ns + wom__now_ns();
        int rc = txn_call(es, t, resp, deadline < 0 || d < deadline ? d : deadline);
        if (!transient(rc) || (deadline >= 0 && wom__now_ns() >= deadline))
            return rc;
        nap(&pause, deadline);
    }
}

/* The one key-value of range response i of r, NULL when absent; ECORRUPT
 * when there are several or it is not the key asked for. */
static int kv_at(const Etcdserverpb__TxnResponse *r, size_t i, ProtobufCBinaryData k,
                 const Mvccpb__KeyValue **kv)
{
    const Etcdserverpb__RangeResponse *rr = r->responses[i]->response_range;
    if (rr->n_kvs > 1 || (rr->n_kvs == 1 && (!rr->kvs[0] || !same_key(rr->kvs[0], k))))
        return WOM_ECORRUPT;
    *kv = rr->n_kvs ? rr->kvs[0] : NULL;
    return 0;
}

/* A hex number that must be there (t, f). */
static int num_at(const Etcdserverpb__TxnResponse *r, size_t i, ProtobufCBinaryData k,
                  uint64_t *v, int64_t *mod)
{
    const Mvccpb__KeyValue *kv;
    int rc = kv_at(r, i, k, &kv);
    if (rc)
        return rc;
    if (!kv)
        return WOM_ECORRUPT;
    if (mod)
        *mod = kv->mod_revision;
    return hex_parse(&kv->value, v);
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

/* ---- space ---- */

static void ec_close(wom_space *s)
{
    struct es *es = es_of(s);
    wom__etcd_close(es->c);
    free(es);
}

/* No leases yet: no holder token, so every holder counts as alive. */
static int ec_holder(wom_space *s, uint64_t *token)
{
    (void)s;
    *token = 0;
    return 0;
}

static int ec_holder_alive(wom_space *s, uint64_t token, int *alive)
{
    (void)s, (void)token;
    *alive = 1;
    return 0;
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
    rec_make(recv, id, mode, max);
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
    rc = txn_call(es, &t, &resp, deadline);
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
    if (!rc)
        qsort(rr->kvs, rr->n_kvs, sizeof *rr->kvs, kv_cmp); /* creation order */
    for (size_t i = 0; !rc && i < rr->n_kvs; i++) {
        const Mvccpb__KeyValue *kv = rr->kvs[i];
        size_t n = kv->key.len - r_k.len;
        struct er er;
        wom_region_info info;
        memset(&info, 0, sizeof info);
        if (n > WOM_NAME_MAX || (rc = rec_parse(&kv->value, &er)))
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

/* A ONCE cell's stored form: header and value, malloc'd. */
static uint8_t *cell_make(struct es *es, uint64_t seq, const void *buf, size_t len)
{
    uint8_t *v = malloc(CELL_HDR + len);
    if (!v)
        return NULL;
    memcpy(v, "WOMC", 4);
    memcpy(v + 4, es->writer, 16);
    be_put(v + 20, seq, 8);
    be_put(v + 28, len, 4);
    if (len)
        memcpy(v + CELL_HDR, buf, len);
    return v;
}

/* What a failed put learnt: c/ADDR and f, read in its failure branch. */
static int put_lost(struct es *es, struct er *er, const Etcdserverpb__TxnResponse *resp,
                    ProtobufCBinaryData c_k, ProtobufCBinaryData f_k, uint64_t addr,
                    uint64_t seq, int doubt)
{
    const Mvccpb__KeyValue *kv;
    uint64_t floor;
    int rc = kv_at(resp, 0, c_k, &kv);
    if (!rc && kv) {
        const uint8_t *val;
        size_t n;
        int mine;
        rc = cell_parse(es, er, &kv->value, seq, &val, &n, &mine);
        return rc ? rc : mine ? 0 : WOM_EWRITTEN; /* mine: an earlier send landed */
    }
    if (!rc && !(rc = num_at(resp, 1, f_k, &floor, NULL)))
        /* Absent and below the floor: trimmed, unless an earlier send of
         * ours may have landed and been trimmed since. Absent at or above
         * the floor cannot fail the compares. */
        rc = floor > addr ? (doubt ? WOM_EUNKNOWN : WOM_ETRIMMED) : WOM_ECORRUPT;
    return rc;
}

/* One transaction: if c/ADDR was never created and f <= addr, put the
 * cell and raise t past addr (nested: only if t is lower); else read c/ADDR
 * and f. After a lost answer the same transaction is sent again: the cell
 * then says whether an earlier send landed (our writer id and sequence). */
static int ec_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    if (len > er->max_value)
        return WOM_EMSGSIZE;
    uint64_t seq = faa_relaxed(&es->seq, 1); /* relaxed: only unique per handle */
    uint8_t *val = cell_make(es, seq, buf, len);
    if (!val)
        return WOM_ENOMEM;
    char ck[KEY_MAX], fk[KEY_MAX], tk[KEY_MAX], above[17], next[17];
    ProtobufCBinaryData c_k = c_key(ck, es, er, addr), f_k = f_key(fk, es, er),
                        t_k = t_key(tk, es, er);
    uint64_t nx = addr == UINT64_MAX ? addr : addr + 1; /* the tail saturates */
    hex16(above, addr + 1);
    hex16(next, nx);
    struct txn t, raise;
    txn_init(&t);
    txn_init(&raise);
    cmp_create(&t, c_k, 0);
    if (addr != UINT64_MAX)
        cmp_less(&t, f_k, above); /* f <= addr */
    op_put(&t, 1, c_k, val, CELL_HDR + len);
    cmp_less(&raise, t_k, next);
    op_put(&raise, 1, t_k, next, 16);
    op_txn(&t, 1, &raise);
    op_range(&t, 0, c_k, none);
    op_range(&t, 0, f_k, none);
    int64_t deadline = op_deadline(es), pause = 1 * MS;
    int doubt = 0, rc;
    for (;;) {
        Etcdserverpb__TxnResponse *resp = NULL;
        rc = txn_call(es, &t, &resp, deadline);
        if (!rc) {
            rc = resp->succeeded ? 0 : put_lost(es, er, resp, c_k, f_k, addr, seq, doubt);
            wom__etcd_txn_free(resp);
            break;
        }
        doubt |= rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL;
        if (!transient(rc) || wom__now_ns() >= deadline)
            break;
        nap(&pause, deadline);
    }
    free(val);
    return rc && doubt && transient(rc) ? WOM_EUNKNOWN : rc;
}

/* Read c/ADDR and f of r in one snapshot (linearizable): *kv NULL when
 * the cell is absent; free *resp after use of *kv. */
static int cell_read(wom_region *r, uint64_t addr, Etcdserverpb__TxnResponse **resp,
                     const Mvccpb__KeyValue **kv, uint64_t *floor)
{
    struct es *es = es_of(r->s);
    char ck[KEY_MAX], fk[KEY_MAX];
    ProtobufCBinaryData c_k = c_key(ck, es, er_of(r), addr), f_k = f_key(fk, es, er_of(r));
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, c_k, none);
    op_range(&t, 1, f_k, none);
    int rc = read_call(es, &t, resp, op_deadline(es));
    if (rc)
        return rc;
    if ((rc = kv_at(*resp, 0, c_k, kv)) || (rc = num_at(*resp, 1, f_k, floor, NULL))) {
        wom__etcd_txn_free(*resp);
        return rc;
    }
    return 0;
}

/* A blocking get polls the cell, 1 ms doubling to 50 ms, until its
 * deadline: the interim until watches exist (docs/cluster.md). It waits
 * for an external server, not for a thread of ours. Each poll may itself
 * take up to the space's op timeout when the cluster does not answer. */
static int ec_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    wom__view_release(v); /* a view of this backend is never reused: a copy each */
    v->pin_[0] = v->pin_[1] = 0;
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    int64_t deadline = timeout_ns > 0 ? wom__now_ns() + timeout_ns : -1, pause = 1 * MS;
    for (;;) {
        Etcdserverpb__TxnResponse *resp;
        const Mvccpb__KeyValue *kv;
        uint64_t floor;
        int rc = cell_read(r, addr, &resp, &kv, &floor);
        if (rc)
            return rc;
        if (kv) {
            const uint8_t *val;
            size_t n;
            int mine;
            rc = cell_parse(es_of(r->s), er, &kv->value, UINT64_MAX, &val, &n, &mine);
            if (!rc)
                rc = view_fill(v, val, n);
        } else {
            rc = addr < floor ? WOM_ETRIMMED : WOM_EEMPTY;
        }
        wom__etcd_txn_free(resp);
        if (rc != WOM_EEMPTY || timeout_ns == 0)
            return rc;
        if (deadline >= 0 && wom__now_ns() >= deadline)
            return WOM_ETIMEDOUT;
        nap(&pause, deadline);
    }
}

/* One append: if t's mod revision is the one read and c/TAIL was never
 * created, put t = TAIL + 1 and the cell; else read t, c/TAIL and f, and
 * go again from the tail learnt. One value per transaction (no batching
 * yet). After a lost answer the same transaction is sent again, so that
 * at most one of its sends can land; a later answer settles it: the cell
 * holds our id and sequence (it landed), or t moved on without it (it
 * never will, since a mod revision never comes back). */
static int append_lost(struct es *es, struct er *er, const Etcdserverpb__TxnResponse *resp,
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
        const uint8_t *val;
        size_t n;
        int mine;
        if ((rc = cell_parse(es, er, &kv->value, seq, &val, &n, &mine)))
            return rc;
        if (mine)
            return 0;
        if (tm == *mod)
            return WOM_ECORRUPT; /* a cell at the tail: the invariant is broken */
    } else if (doubt && floor > *tail) {
        return WOM_EUNKNOWN; /* ours may have landed and been trimmed since */
    }
    *tail = tv;
    *mod = tm;
    return 1;
}

static int ec_append(wom_region *r, const void *buf, size_t len, uint64_t *addr)
{
    struct es *es = es_of(r->s);
    struct er *er = er_of(r);
    if (er->mode != WOM_ONCE)
        return WOM_EMODE;
    if (len > er->max_value)
        return WOM_EMSGSIZE;
    char ck[KEY_MAX], fk[KEY_MAX], tk[KEY_MAX], next[17];
    ProtobufCBinaryData f_k = f_key(fk, es, er), t_k = t_key(tk, es, er), c_k;
    int64_t deadline = op_deadline(es), pause = 1 * MS, mod;
    uint64_t tail;
    struct txn t;
    txn_init(&t);
    op_range(&t, 1, t_k, none);
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc = read_call(es, &t, &resp, deadline);
    if (rc)
        return rc;
    rc = num_at(resp, 0, t_k, &tail, &mod);
    wom__etcd_txn_free(resp);
    if (rc)
        return rc;
    uint64_t seq = faa_relaxed(&es->seq, 1); /* relaxed: only unique per handle */
    uint8_t *val = cell_make(es, seq, buf, len);
    if (!val)
        return WOM_ENOMEM;
    int doubt = 0;
    for (;;) {
        if (tail == UINT64_MAX) {
            rc = doubt ? WOM_EUNKNOWN : WOM_ENOSPC;
            break;
        }
        c_k = c_key(ck, es, er, tail);
        hex16(next, tail + 1);
        txn_init(&t);
        cmp_mod(&t, t_k, mod);
        cmp_create(&t, c_k, 0);
        op_put(&t, 1, t_k, next, 16);
        op_put(&t, 1, c_k, val, CELL_HDR + len);
        op_range(&t, 0, t_k, none);
        op_range(&t, 0, c_k, none);
        op_range(&t, 0, f_k, none);
        rc = txn_call(es, &t, &resp, deadline);
        if (!rc) {
            rc = resp->succeeded ? 0
                                 : append_lost(es, er, resp, t_k, c_k, f_k, seq, doubt, &tail, &mod);
            wom__etcd_txn_free(resp);
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
    free(val);
    if (rc == 0)
        *addr = tail;
    return rc;
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
    char fk[KEY_MAX], tk[KEY_MAX], c0[KEY_MAX], c1[KEY_MAX], hex[17];
    ProtobufCBinaryData f_k = f_key(fk, es, er), t_k = t_key(tk, es, er);
    hex16(hex, below);
    struct txn t, raise;
    txn_init(&t);
    txn_init(&raise);
    cmp_less(&t, f_k, hex);
    op_put(&t, 1, f_k, hex, 16);
    op_delete(&t, 1, c_key(c0, es, er, 0), c_key(c1, es, er, below));
    cmp_less(&raise, t_k, hex);
    op_put(&raise, 1, t_k, hex, 16);
    op_txn(&t, 1, &raise);
    int64_t deadline = op_deadline(es), pause = 1 * MS;
    int doubt = 0, rc;
    for (;;) {
        Etcdserverpb__TxnResponse *resp = NULL;
        rc = txn_call(es, &t, &resp, deadline);
        wom__etcd_txn_free(resp);
        if (!rc)
            return 0; /* done now, or the floor was already there */
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
        if ((rc = cell_read(r, addr, &resp, &kv, &floor)))
            return rc;
        const uint8_t *val;
        size_t n;
        int mine;
        if (kv && !(rc = cell_parse(es_of(r->s), er_of(r), &kv->value, UINT64_MAX, &val, &n, &mine)))
            info = (wom_cell_info){WOM_CELL_WRITTEN, n, 1, -1};
        else if (!kv && addr < floor)
            info.state = WOM_CELL_TRIMMED;
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

/* Polls like a blocking get (interim, until watches exist). */
static int ec_wait(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    if (er_of(r)->mode != WOM_MANY)
        return WOM_EMODE;
    int64_t deadline = timeout_ns > 0 ? wom__now_ns() + timeout_ns : -1, pause = 1 * MS;
    for (;;) {
        Etcdserverpb__TxnResponse *resp;
        const Mvccpb__KeyValue *kv;
        int rc = many_read(r, addr, &resp, &kv);
        if (rc)
            return rc;
        uint64_t v = kv ? (uint64_t)kv->version : 0;
        wom__etcd_txn_free(resp);
        if (v != version)
            return 0;
        if (timeout_ns == 0 || (deadline >= 0 && wom__now_ns() >= deadline))
            return WOM_ETIMEDOUT;
        nap(&pause, deadline);
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
    .tail = ec_tail,
    .trim = ec_trim,
    .inspect = ec_inspect,
    .get_view = ec_get_view,
    /* no loans yet: wom_loan_new is WOM_ENOTSUP */
    .store = ec_store,
    .load = ec_load,
    .wait = ec_wait,
};

/* ---- open: etcd://H:P[,H:P...]/PREFIX[;timeout=MS] ---- */

static int endpoint_ok(const char *p, size_t n)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
            return 0;
        if (p[i] == ':')
            colon = p + i;
    }
    if (!colon || colon == p || n > 255)
        return 0;
    size_t digits = n - (size_t)(colon + 1 - p);
    unsigned port = 0;
    for (size_t i = 0; i < digits; i++) {
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return 0;
        port = port * 10 + (unsigned)(colon[1 + i] - '0');
        if (port > 65535)
            return 0;
    }
    return digits > 0 && port > 0;
}

static int parse_opts(const char *uri, const char *o, int64_t *op_ns)
{
    while (*o == ';') {
        o++;
        size_t n = strcspn(o, ";");
        if (n > 8 && !strncmp(o, "timeout=", 8)) {
            uint64_t ms = 0;
            size_t i = 8;
            for (; i < n && o[i] >= '0' && o[i] <= '9' && ms <= 86400000; i++)
                ms = ms * 10 + (uint64_t)(o[i] - '0');
            if (i != n || ms == 0 || ms > 86400000)
                return wom__fail(WOM_EURI, "etcd://%s: timeout= takes milliseconds, 1 to "
                                 "86400000", uri);
            *op_ns = (int64_t)ms * MS;
        } else {
            return wom__fail(WOM_EURI, "etcd://%s: unknown option ';%.*s' (this build of the "
                             "etcd:// scope takes ;timeout=MS only; TLS and user options are "
                             "not built yet)", uri, (int)n, o);
        }
        o += n;
    }
    return 0;
}

/* A prefix P/x must never put its keys among P's: P's keys are P/r/...,
 * P/t/..., P/f/..., P/c/..., P/m/... and P/nextid, so no segment may be
 * one of those names (nor empty, which would let "a//b" alias). */
static int prefix_ok(const char *p, size_t n)
{
    static const char *const reserved[] = {"r", "t", "f", "c", "m", "nextid"};
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    for (size_t i = 0; i <= n;) {
        size_t len = 0;
        while (i + len < n && p[i + len] != '/')
            len++;
        if (len == 0)
            return 0;
        for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
            if (strlen(reserved[k]) == len && !memcmp(reserved[k], p + i, len))
                return 0;
        i += len + 1;
    }
    return 1;
}

static int ec_open(const char *rest, wom_space **out)
{
    const char *slash = strchr(rest, '/');
    if (!slash)
        return wom__fail(WOM_EURI, "etcd://%s: expected etcd://H:P[,H:P...]/PREFIX", rest);
    char eps[MAX_ENDPOINTS][256];
    const char *ep[MAX_ENDPOINTS];
    size_t n = 0;
    for (const char *p = rest; p <= slash;) {
        size_t len = strcspn(p, ",/");
        if (n == MAX_ENDPOINTS)
            return wom__fail(WOM_EURI, "etcd://%s: more than %d endpoints", rest, MAX_ENDPOINTS);
        if (!endpoint_ok(p, len))
            return wom__fail(WOM_EURI, "etcd://%s: endpoint '%.*s' is not HOST:PORT", rest,
                             (int)len, p);
        memcpy(eps[n], p, len);
        eps[n][len] = 0;
        ep[n] = eps[n];
        n++;
        p += len + 1;
    }
    const char *prefix = slash + 1;
    size_t plen = strcspn(prefix, ";");
    if (plen == 0 || plen > MAX_PREFIX)
        return wom__fail(WOM_EURI, "etcd://%s: the key PREFIX after '/' must have 1 to %d "
                         "bytes", rest, MAX_PREFIX);
    if (!prefix_ok(prefix, plen))
        return wom__fail(WOM_EURI, "etcd://%s: the PREFIX is segments separated by '/', each "
                         "non-empty, without control characters, and none of r, t, f, c, m "
                         "or nextid (so that no space's keys fall among another's)", rest);
    int64_t op_ns = 5000 * MS;
    int rc = parse_opts(rest, prefix + plen, &op_ns);
    if (rc)
        return rc;
    struct es *es = calloc(1, sizeof *es);
    if (!es)
        return WOM_ENOMEM;
    if (getrandom(es->writer, sizeof es->writer, 0) != (ssize_t)sizeof es->writer) {
        free(es);
        return wom__fail(WOM_EIO, "etcd://%s: getrandom failed (a writer id is random)", rest);
    }
    memcpy(es->prefix, prefix, plen);
    es->plen = plen;
    es->op_ns = op_ns;
    rc = wom__etcd_connect(ep, n, op_ns, &es->c);
    if (rc) {
        free(es);
        return wom__fail(rc, "etcd://%s: no endpoint could be connected to within %lld ms (%s)",
                         rest, (long long)(op_ns / MS), wom_err_name(rc));
    }
    es->pub.ops = &etcd_ops;
    es->pub.impl = es;
    *out = &es->pub;
    return 0;
}

const struct wom__scope wom__etcd_scope = {"etcd://", ec_open};
