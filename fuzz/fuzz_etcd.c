/*
 * fuzz_etcd.c - libFuzzer target for the decoding of what an etcd member
 * answers (src/space/etcd_codec.h): the bytes of an answer are unpacked
 * with protobuf-c, as the wire layer's decode() does, and every check of
 * the codec is driven over the result the way the etcd:// scope
 * (src/space/etcd.c) drives it.
 *
 * Input: byte 0 picks the message (TxnResponse, RangeResponse,
 * WatchResponse, LeaseGrant/LeaseKeepAlive/LeaseTimeToLive responses),
 * byte 1 the region's max_value and the key prefix, the rest is the packed
 * message. Each run checks properties, not only the absence of crashes:
 *  - every codec function returns 0 or WOM_ECORRUPT, and exactly what an
 *    independent reference of the stored forms (etcd_codec.h, written here
 *    apart from etcd_codec.c) says; its out parameters are left alone on
 *    failure;
 *  - wom__ec_txn_check passes an answer only when it has one present
 *    response of the right kind per op of the branch that ran, for each of
 *    the transactions etcd.c sends (region read and create, put, batch
 *    append, trim, store, the reads, the region listing);
 *  - a cell that parses is within the value (the bytes after the header,
 *    as many as its length field says, at most max_value) and round-trips:
 *    wom__ec_cell_head over the same writer, sequence and length, then the
 *    value, rebuilds it byte for byte; so does wom__ec_rec_make for a
 *    region record, wom__ec_hex16 for a number, and the key format for
 *    wom__ec_key_addr;
 *  - wom__ec_kv_at and wom__ec_num_at give the one key-value of the range,
 *    only when its key is the one asked for.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space/etcd_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_etcd: property failed: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define OK_OR_CORRUPT(rc) CHECK((rc) == 0 || (rc) == WOM_ECORRUPT)

#define RID 1u  /* the region's id in every key */
#define ADDR 2u /* the cell's address */
#define SEQ 7u  /* the sequence number of "our" write */
static const uint8_t writer[16] = "fuzz-writer-id!!";

/* ---- keys, as etcd.c's key() makes them ---- */

#define KEY_MAX 512
struct keys {
    const char *prefix;
    char r[KEY_MAX], n[KEY_MAX], t[KEY_MAX], f[KEY_MAX], c[KEY_MAX], c1[KEY_MAX], m[KEY_MAX];
    char rp[KEY_MAX], tp[KEY_MAX], fp[KEY_MAX];
};

static ProtobufCBinaryData bin(const char *s) { return (ProtobufCBinaryData){strlen(s), (uint8_t *)s}; }

static void keys_make(struct keys *k, const char *prefix)
{
    k->prefix = prefix;
    snprintf(k->r, KEY_MAX, "%s/r/reg", prefix);
    snprintf(k->n, KEY_MAX, "%s/nextid", prefix);
    snprintf(k->t, KEY_MAX, "%s/t/%016x", prefix, RID);
    snprintf(k->f, KEY_MAX, "%s/f/%016x", prefix, RID);
    snprintf(k->c, KEY_MAX, "%s/c/%016x/%016x", prefix, RID, ADDR);
    snprintf(k->c1, KEY_MAX, "%s/c/%016x/%016x", prefix, RID, ADDR + 1);
    snprintf(k->m, KEY_MAX, "%s/m/%016x/%016x", prefix, RID, ADDR);
    snprintf(k->rp, KEY_MAX, "%s/r/", prefix);
    snprintf(k->tp, KEY_MAX, "%s/t/", prefix);
    snprintf(k->fp, KEY_MAX, "%s/f/", prefix);
}

/* ---- the reference: the stored forms, written apart from etcd_codec.c ---- */

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int ref_hex(const ProtobufCBinaryData *v, uint64_t *out)
{
    if (v->len != 16)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < 16; i++) {
        const char *digits = "0123456789abcdef";
        const char *d = v->data[i] ? strchr(digits, v->data[i]) : NULL;
        if (!d)
            return 0;
        x = x * 16 + (uint64_t)(d - digits);
    }
    *out = x;
    return 1;
}

static int ref_cell(const ProtobufCBinaryData *v, uint32_t max)
{
    return v->len >= 32 && !memcmp(v->data, "WOMC", 4) && be(v->data + 28, 4) == v->len - 32 &&
           v->len - 32 <= max;
}

static int ref_rec(const ProtobufCBinaryData *v)
{
    if (v->len != 17 || memcmp(v->data, "WOMR", 4))
        return 0;
    uint64_t max = be(v->data + 13, 4);
    return (v->data[12] == WOM_ONCE || v->data[12] == WOM_MANY) && max >= 1 &&
           max <= WOM_MAX_VALUE_LIMIT;
}

static int same(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || !memcmp(a.data, b.data, a.len));
}

/* ---- each codec function, checked against the reference ---- */

static void check_hex(const ProtobufCBinaryData *v)
{
    uint64_t got = 0x5a5a5a5a5a5a5a5aull, want = 0;
    int rc = wom__ec_hex_parse(v, &got);
    OK_OR_CORRUPT(rc);
    CHECK((rc == 0) == (ref_hex(v, &want)));
    if (rc) {
        CHECK(got == 0x5a5a5a5a5a5a5a5aull);
        return;
    }
    char back[17];
    wom__ec_hex16(back, got);
    CHECK(got == want && !memcmp(back, v->data, 16) && back[16] == 0);
}

static void check_rec(const ProtobufCBinaryData *v)
{
    struct wom__ec_rec rec = {0x5a, (wom_mode)0x5a, 0x5a};
    int rc = wom__ec_rec_parse(v, &rec);
    OK_OR_CORRUPT(rc);
    CHECK((rc == 0) == (ref_rec(v)));
    if (rc) {
        CHECK(rec.id == 0x5a && rec.mode == (wom_mode)0x5a && rec.max_value == 0x5a);
        return;
    }
    uint8_t back[WOM__EC_REC_LEN];
    wom__ec_rec_make(back, rec.id, rec.mode, rec.max_value);
    CHECK(!memcmp(back, v->data, WOM__EC_REC_LEN));
}

/* A cell value as etcd.c parses it (with our writer and sequence, and with
 * UINT64_MAX as a get does), and once more with the cell's own writer and
 * sequence, which must then be "mine". */
static void check_cell(const ProtobufCBinaryData *v, uint32_t max)
{
    static const uint8_t sentinel[1] = {0};
    const uint8_t *val = sentinel;
    size_t len = 12345;
    int mine = 77;
    int rc = wom__ec_cell_parse(v, max, writer, SEQ, &val, &len, &mine);
    OK_OR_CORRUPT(rc);
    CHECK((rc == 0) == (ref_cell(v, max)));
    if (rc) {
        CHECK(val == sentinel && len == 12345 && mine == 77);
        return;
    }
    CHECK(val == v->data + WOM__EC_CELL_HDR);
    CHECK(len == be(v->data + 28, 4) && len <= max && len == v->len - WOM__EC_CELL_HDR);
    CHECK(val + len == v->data + v->len);
    uint64_t seq = be(v->data + 20, 8);
    CHECK(mine == (!memcmp(v->data + 4, writer, 16) && seq == SEQ));
    uint8_t *back = malloc(WOM__EC_CELL_HDR + len);
    CHECK(back != NULL);
    wom__ec_cell_head(back, v->data + 4, seq, len);
    if (len)
        memcpy(back + WOM__EC_CELL_HDR, val, len);
    CHECK(!memcmp(back, v->data, v->len));
    free(back);
    int mine2 = 0;
    CHECK(wom__ec_cell_parse(v, max, v->data + 4, seq, &val, &len, &mine2) == 0 && mine2 == 1);
    CHECK(wom__ec_cell_parse(v, max, writer, UINT64_MAX, &val, &len, &mine2) == 0);
    CHECK(!mine2 || seq == UINT64_MAX);
}

static void check_key_addr(const char *prefix, char kind, const ProtobufCBinaryData *k)
{
    uint64_t addr = 0x5a5a5a5a5a5a5a5aull;
    int rc = wom__ec_key_addr(prefix, kind, RID, k, &addr);
    OK_OR_CORRUPT(rc);
    char head[KEY_MAX];
    int n = snprintf(head, sizeof head, "%s/%c/%016x/", prefix, kind, RID);
    uint64_t want = 0;
    int ok = k->len == (size_t)n + 16 && !memcmp(k->data, head, (size_t)n);
    if (ok) {
        ProtobufCBinaryData tail = {16, k->data + n};
        ok = ref_hex(&tail, &want);
    }
    CHECK((rc == 0) == (ok));
    if (rc) {
        CHECK(addr == 0x5a5a5a5a5a5a5a5aull);
        return;
    }
    char back[KEY_MAX + 17];
    snprintf(back, sizeof back, "%s%016" PRIx64, head, addr);
    CHECK(addr == want && strlen(back) == k->len && !memcmp(back, k->data, k->len));
}

/* Range response i of a checked answer, asked for key k: the reference
 * says it is fine when it holds at most one key-value, which is k. */
static const Mvccpb__KeyValue *check_kv_at(const Etcdserverpb__TxnResponse *r, size_t i,
                                           const char *key)
{
    const Etcdserverpb__RangeResponse *rr = r->responses[i]->response_range;
    ProtobufCBinaryData k = bin(key);
    const Mvccpb__KeyValue *sentinel = (const Mvccpb__KeyValue *)&k, *kv = sentinel;
    int rc = wom__ec_kv_at(r, i, k, &kv);
    OK_OR_CORRUPT(rc);
    int ok = rr->n_kvs == 0 || (rr->n_kvs == 1 && same(rr->kvs[0]->key, k));
    CHECK((rc == 0) == (ok));
    if (rc) {
        CHECK(kv == sentinel);
        return NULL;
    }
    CHECK(rr->n_kvs ? kv == rr->kvs[0] : kv == NULL);
    return kv;
}

static void check_num_at(const Etcdserverpb__TxnResponse *r, size_t i, const char *key)
{
    const Etcdserverpb__RangeResponse *rr = r->responses[i]->response_range;
    ProtobufCBinaryData k = bin(key);
    uint64_t v = 0x5a5a5a5a5a5a5a5aull, want = 0;
    int64_t mod = 0x5a5a;
    int rc = wom__ec_num_at(r, i, k, &v, &mod);
    OK_OR_CORRUPT(rc);
    int ok = rr->n_kvs == 1 && same(rr->kvs[0]->key, k) && ref_hex(&rr->kvs[0]->value, &want);
    CHECK((rc == 0) == (ok));
    /* (*mod is written before the value is checked: see fuzz/README.md) */
    if (rc) {
        CHECK(v == 0x5a5a5a5a5a5a5a5aull);
        return;
    }
    CHECK(v == want && mod == rr->kvs[0]->mod_revision);
    CHECK(wom__ec_num_at(r, i, k, &v, NULL) == 0 && v == want);
}

/* ---- the transactions etcd.c sends ---- */

enum { R = 1, P, D, T }; /* an op: range, put, delete range, nested txn */
#define OPS_MAX 6

struct shape {
    const char *what;
    uint8_t success[OPS_MAX], failure[OPS_MAX];
};

static const struct shape shapes[] = {
    {"region read", {R, R}, {0}},
    {"region create", {P, P, P, P}, {0}},
    {"put", {P, T}, {R, R}},
    {"tail and floor", {R, R}, {0}},
    {"cell read", {R, R}, {0}},
    {"serializable cell read", {R}, {0}},
    {"batch tail read", {R}, {0}},
    {"batch of 2", {P, P, P}, {R, R, R}},
    {"trim", {P, D, T}, {0}},
    {"store", {P}, {0}},
    {"many read", {R}, {0}},
    {"regions", {R, R, R}, {0}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

struct req {
    Etcdserverpb__TxnRequest txn, inner;
    Etcdserverpb__RequestOp op[2][OPS_MAX], *opp[2][OPS_MAX];
    Etcdserverpb__RangeRequest range;
    Etcdserverpb__PutRequest put;
    Etcdserverpb__DeleteRangeRequest del;
};

/* A request of shape s: only the kinds of its ops matter to the check. */
static void req_make(struct req *q, const struct shape *s)
{
    q->txn = (Etcdserverpb__TxnRequest)ETCDSERVERPB__TXN_REQUEST__INIT;
    q->inner = (Etcdserverpb__TxnRequest)ETCDSERVERPB__TXN_REQUEST__INIT;
    q->range = (Etcdserverpb__RangeRequest)ETCDSERVERPB__RANGE_REQUEST__INIT;
    q->put = (Etcdserverpb__PutRequest)ETCDSERVERPB__PUT_REQUEST__INIT;
    q->del = (Etcdserverpb__DeleteRangeRequest)ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    q->txn.success = q->opp[1];
    q->txn.failure = q->opp[0];
    for (int b = 0; b < 2; b++) {
        const uint8_t *kinds = b ? s->success : s->failure;
        size_t *n = b ? &q->txn.n_success : &q->txn.n_failure;
        for (size_t i = 0; i < OPS_MAX && kinds[i]; i++) {
            Etcdserverpb__RequestOp *op = &q->op[b][i];
            *op = (Etcdserverpb__RequestOp)ETCDSERVERPB__REQUEST_OP__INIT;
            switch (kinds[i]) {
            case R:
                op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
                op->request_range = &q->range;
                break;
            case P:
                op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
                op->request_put = &q->put;
                break;
            case D:
                op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
                op->request_delete_range = &q->del;
                break;
            default:
                op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
                op->request_txn = &q->inner;
            }
            q->opp[b][i] = op;
            ++*n;
        }
    }
}

static int ref_txn_ok(const struct req *q, const Etcdserverpb__TxnResponse *r)
{
    if (!r->succeeded && q->txn.n_compare == 0)
        return 0; /* nothing can fail: the success branch always runs */
    size_t n = r->succeeded ? q->txn.n_success : q->txn.n_failure;
    Etcdserverpb__RequestOp *const *ops = r->succeeded ? q->txn.success : q->txn.failure;
    if (r->n_responses != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__ResponseOp *ro = r->responses[i];
        int want = 0;
        const void *p = NULL;
        switch (ops[i]->request_case) {
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
            want = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
            p = ro ? (const void *)ro->response_range : NULL;
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
            want = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
            p = ro ? (const void *)ro->response_put : NULL;
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
            want = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
            p = ro ? (const void *)ro->response_delete_range : NULL;
            break;
        default:
            want = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
            p = ro ? (const void *)ro->response_txn : NULL;
        }
        if (!ro || (int)ro->response_case != want || !p)
            return 0;
    }
    return 1;
}

/* The region listing's reading of its three ranges (etcd.c's ec_regions
 * and num_of): every record parsed, every t/ and f/ number looked up. */
static void check_regions(const Etcdserverpb__TxnResponse *r, const struct keys *k)
{
    const Etcdserverpb__RangeResponse *rr = r->responses[0]->response_range;
    for (size_t i = 0; i < rr->n_kvs; i++)
        check_rec(&rr->kvs[i]->value);
    for (int d = 1; d <= 2; d++) {
        const Etcdserverpb__RangeResponse *nr = r->responses[d]->response_range;
        ProtobufCBinaryData want = bin(d == 1 ? k->t : k->f);
        for (size_t i = 0; i < nr->n_kvs; i++) {
            int s = wom__ec_same_key(nr->kvs[i], want);
            CHECK(s == same(nr->kvs[i]->key, want));
            if (s)
                check_hex(&nr->kvs[i]->value);
        }
    }
}

/* etcd finding 1 (fuzz/README.md; fixed): etcd.c's reads are
 * transactions without compares, and read resp->responses[0..]; an answer
 * saying the (empty) failure branch ran once passed wom__ec_txn_check and
 * sent etcd.c to responses[0] of an empty array. The check must refuse it. */
static int read_ran_failure(const Etcdserverpb__TxnResponse *r)
{
    CHECK(r->succeeded);
    return 0;
}

/* What etcd.c reads from an answer of shape index s that passed the check. */
static void follow(size_t s, const Etcdserverpb__TxnResponse *r, const struct keys *k, uint32_t max)
{
    const Mvccpb__KeyValue *kv;
    int read_only = s == 0 || (s >= 3 && s <= 6) || s == 10 || s == 11;
    if (read_only && read_ran_failure(r))
        return;
    switch (s) {
    case 0: /* region_try: the record, else the next id */
        if ((kv = check_kv_at(r, 0, k->r)))
            check_rec(&kv->value);
        if ((kv = check_kv_at(r, 1, k->n)))
            check_hex(&kv->value);
        break;
    case 2: /* put_cell's failure branch: the cell, the floor */
        if (!r->succeeded) {
            if ((kv = check_kv_at(r, 0, k->c)))
                check_cell(&kv->value, max);
            check_num_at(r, 1, k->f);
        }
        break;
    case 3:
        check_num_at(r, 0, k->t);
        check_num_at(r, 1, k->f);
        break;
    case 4:
    case 5:
        if ((kv = check_kv_at(r, 0, k->c)))
            check_cell(&kv->value, max);
        if (s == 4)
            check_num_at(r, 1, k->f);
        break;
    case 6:
        check_num_at(r, 0, k->t);
        break;
    case 7: /* batch_commit: the new revision, or batch_lost's t, c/TAIL, f */
        if (!r->succeeded) {
            check_num_at(r, 0, k->t);
            if ((kv = check_kv_at(r, 1, k->c)))
                check_cell(&kv->value, max);
            check_num_at(r, 2, k->f);
        }
        break;
    case 9: /* ec_store: the previous key-value must be the cell's */
        if (r->succeeded && (kv = r->responses[0]->response_put->prev_kv))
            CHECK(wom__ec_same_key(kv, bin(k->m)) == same(kv->key, bin(k->m)));
        break;
    case 10:
        check_kv_at(r, 0, k->m);
        break;
    case 11:
        check_regions(r, k);
        break;
    default:
        break;
    }
}

static void fuzz_txn(const Etcdserverpb__TxnResponse *r, const struct keys *k, uint32_t max)
{
    static struct req q;
    for (size_t s = 0; s < N_SHAPES; s++) {
        req_make(&q, &shapes[s]);
        int rc = wom__ec_txn_check(&q.txn, r);
        OK_OR_CORRUPT(rc);
        CHECK((rc == 0) == (ref_txn_ok(&q, r)));
        if (!rc)
            follow(s, r, k, max);
    }
}

/* A RangeResponse as the one response of a read. */
static void fuzz_range(Etcdserverpb__RangeResponse *rr, const struct keys *k, uint32_t max)
{
    Etcdserverpb__ResponseOp ro = ETCDSERVERPB__RESPONSE_OP__INIT;
    ro.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
    ro.response_range = rr;
    Etcdserverpb__ResponseOp *rop = &ro;
    Etcdserverpb__TxnResponse r = ETCDSERVERPB__TXN_RESPONSE__INIT;
    r.succeeded = 1;
    r.n_responses = 1;
    r.responses = &rop;
    const char *ks[] = {k->r, k->n, k->t, k->f, k->c, k->m};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        const Mvccpb__KeyValue *kv = check_kv_at(&r, 0, ks[i]);
        if (kv && i == 0)
            check_rec(&kv->value);
        if (kv && i == 4)
            check_cell(&kv->value, max);
        check_num_at(&r, 0, ks[i]);
    }
    for (size_t i = 0; i < rr->n_kvs; i++) {
        check_rec(&rr->kvs[i]->value);
        check_cell(&rr->kvs[i]->value, max);
        check_hex(&rr->kvs[i]->value);
        check_key_addr(k->prefix, 'c', &rr->kvs[i]->key);
    }
}

/* hub_fn/hub_event: each event's key as a cell key of the region (ONCE
 * and MANY), its value as a floor and, for a first put, as a cell. */
static void fuzz_watch(const Etcdserverpb__WatchResponse *r, const struct keys *k, uint32_t max)
{
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *ev = r->events[i];
        if (!ev || !ev->kv)
            continue;
        check_hex(&ev->kv->value);
        check_key_addr(k->prefix, 'c', &ev->kv->key);
        check_key_addr(k->prefix, 'm', &ev->kv->key);
        if (ev->type == MVCCPB__EVENT__EVENT_TYPE__PUT && ev->kv->version == 1)
            check_cell(&ev->kv->value, max);
    }
    if (r->cancel_reason)
        CHECK(strlen(r->cancel_reason) < (size_t)-1);
}

enum { M_TXN, M_RANGE, M_WATCH, M_GRANT, M_KEEPALIVE, M_TTL, M_COUNT };

static const ProtobufCMessageDescriptor *const descs[M_COUNT] = {
    &etcdserverpb__txn_response__descriptor,
    &etcdserverpb__range_response__descriptor,
    &etcdserverpb__watch_response__descriptor,
    &etcdserverpb__lease_grant_response__descriptor,
    &etcdserverpb__lease_keep_alive_response__descriptor,
    &etcdserverpb__lease_time_to_live_response__descriptor,
};

static void fuzz_lease(int kind, const ProtobufCMessage *m)
{
    volatile size_t sink = 0;
    if (kind == M_GRANT) {
        const Etcdserverpb__LeaseGrantResponse *g = (const void *)m;
        /* ec_holder: an id <= 0 or an error is refused */
        sink += g->error ? strlen(g->error) : 0;
        sink += (size_t)(g->id > 0);
    } else if (kind == M_KEEPALIVE) {
        const Etcdserverpb__LeaseKeepAliveResponse *a = (const void *)m;
        sink += (size_t)(a->ttl <= 0);
    } else {
        const Etcdserverpb__LeaseTimeToLiveResponse *t = (const void *)m;
        sink += (size_t)(t->ttl != -1);
        for (size_t i = 0; i < t->n_keys; i++)
            sink += t->keys[i].len ? t->keys[i].data[t->keys[i].len - 1] : 0;
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t maxes[4] = {1, 64, 4096, WOM_MAX_VALUE_LIMIT};
    static struct keys keys[2];
    static char long_prefix[201];
    if (!keys[0].prefix) {
        keys_make(&keys[0], "fz");
        /* a prefix near etcd_uri.h's limit of 200 bytes */
        for (size_t i = 0; i + 1 < sizeof long_prefix; i++)
            long_prefix[i] = i % 10 == 9 && i + 2 < sizeof long_prefix ? '/' : (char)('a' + i % 10);
        keys_make(&keys[1], long_prefix);
    }
    if (size < 2)
        return -1;
    int kind = data[0] % M_COUNT;
    uint32_t max = maxes[data[1] & 3];
    const struct keys *k = &keys[(data[1] >> 2) & 1];
    ProtobufCMessage *m = protobuf_c_message_unpack(descs[kind], NULL, size - 2, data + 2);
    if (!m)
        return 0; /* the wire layer answers WOM_ECORRUPT */
    switch (kind) {
    case M_TXN:
        fuzz_txn((const Etcdserverpb__TxnResponse *)m, k, max);
        break;
    case M_RANGE:
        fuzz_range((Etcdserverpb__RangeResponse *)m, k, max);
        break;
    case M_WATCH:
        fuzz_watch((const Etcdserverpb__WatchResponse *)m, k, max);
        break;
    default:
        fuzz_lease(kind, m);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
