/* etcd_codec.c - the etcd:// scope's stored forms and answer checks
 * (etcd_codec.h). */
#include "space/etcd_codec.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

void wom__ec_rec_make(uint8_t *p, uint64_t id, wom_mode mode, uint32_t max_value)
{
    memcpy(p, "WOMR", 4);
    be_put(p + 4, id, 8);
    p[12] = (uint8_t)mode;
    be_put(p + 13, max_value, 4);
}

int wom__ec_rec_parse(const ProtobufCBinaryData *v, struct wom__ec_rec *out)
{
    if (v->len != WOM__EC_REC_LEN || memcmp(v->data, "WOMR", 4))
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

void wom__ec_cell_head(uint8_t *p, const uint8_t writer[16], uint64_t seq, size_t len)
{
    memcpy(p, "WOMC", 4);
    memcpy(p + 4, writer, 16);
    be_put(p + 20, seq, 8);
    be_put(p + 28, len, 4);
}

void wom__ec_run_head(uint8_t *p, uint64_t first, uint32_t k)
{
    memcpy(p, "WOMK", 4);
    be_put(p + 4, first, 8);
    be_put(p + 12, k, 4);
}

_Static_assert(WOM__EC_RUN_HDR <= WOM__EC_CELL_HDR, "a value that holds a cell holds a run's header");

/* The length field of a cell whose header is at p. */
static size_t cell_len(const uint8_t *p) { return (size_t)be_get(p + 28, 4); }

int wom__ec_run_open(const ProtobufCBinaryData *v, uint64_t last, uint32_t max_value,
                     struct wom__ec_run *run)
{
    if (v->len < WOM__EC_CELL_HDR) /* (also: no arithmetic on an empty value's NULL) */
        return WOM_ECORRUPT;
    const uint8_t *p = v->data, *end = v->data + v->len;
    uint64_t first = last, k = 1;
    if (!memcmp(p, "WOMK", 4)) { /* (a run's header is shorter than a cell's) */
        first = be_get(p + 4, 8);
        k = be_get(p + 12, 4);
        if (k == 0 || k > WOM__EC_RUN_MAX || first > last || last - first != k - 1)
            return WOM_ECORRUPT;
        p += WOM__EC_RUN_HDR;
    }
    const uint8_t *q = p;
    for (uint64_t i = 0; i < k; i++) {
        if ((size_t)(end - q) < WOM__EC_CELL_HDR || memcmp(q, "WOMC", 4))
            return WOM_ECORRUPT;
        size_t n = cell_len(q);
        if (n > max_value || n > (size_t)(end - q) - WOM__EC_CELL_HDR)
            return WOM_ECORRUPT;
        q += WOM__EC_CELL_HDR + n;
    }
    if (q != end)
        return WOM_ECORRUPT;
    *run = (struct wom__ec_run){first, last, first, (uint32_t)k, p};
    return 0;
}

/* Past the cell at the cursor (there is one). */
static void run_step(struct wom__ec_run *run)
{
    run->p += WOM__EC_CELL_HDR + cell_len(run->p);
    if (--run->left)
        run->at++;
}

int wom__ec_run_next(struct wom__ec_run *run, const uint8_t writer[16], uint64_t seq,
                     uint64_t *addr, const uint8_t **val, size_t *len, int *mine)
{
    if (!run->left)
        return 0;
    const uint8_t *p = run->p;
    *addr = run->at;
    *len = cell_len(p);
    *val = p + WOM__EC_CELL_HDR;
    *mine = !memcmp(p + 4, writer, 16) && be_get(p + 20, 8) == seq;
    run_step(run);
    return 1;
}

void wom__ec_run_seek(struct wom__ec_run *run, uint64_t a)
{
    while (run->left && run->at < a)
        run_step(run);
}

void wom__ec_hex16(char *out, uint64_t v) { snprintf(out, 17, "%016" PRIx64, v); }

int wom__ec_hex_parse(const ProtobufCBinaryData *v, uint64_t *out)
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

int wom__ec_txn_check(const Etcdserverpb__TxnRequest *req, const Etcdserverpb__TxnResponse *r)
{
    if (!r->succeeded && req->n_compare == 0)
        return WOM_ECORRUPT; /* nothing to fail: the success branch always runs */
    size_t want = r->succeeded ? req->n_success : req->n_failure;
    if (r->n_responses != want)
        return WOM_ECORRUPT;
    for (size_t i = 0; i < want; i++) {
        const Etcdserverpb__RequestOp *op = r->succeeded ? req->success[i] : req->failure[i];
        int want_case = op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE
                            ? ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE
                        : op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT
                            ? ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT
                        : op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN
                            ? ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN
                            : ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
        const Etcdserverpb__ResponseOp *ro = r->responses[i];
        /* the oneof's members share one pointer: response_range stands for all */
        if (!ro || (int)ro->response_case != want_case || !ro->response_range)
            return WOM_ECORRUPT;
    }
    return 0;
}

int wom__ec_same_key(const Mvccpb__KeyValue *kv, ProtobufCBinaryData k)
{
    return kv->key.len == k.len && (k.len == 0 || !memcmp(kv->key.data, k.data, k.len));
}

int wom__ec_kv_at(const Etcdserverpb__TxnResponse *r, size_t i, ProtobufCBinaryData k,
                  const Mvccpb__KeyValue **kv)
{
    const Etcdserverpb__RangeResponse *rr = r->responses[i]->response_range;
    if (rr->n_kvs > 1 || (rr->n_kvs == 1 && (!rr->kvs[0] || !wom__ec_same_key(rr->kvs[0], k))))
        return WOM_ECORRUPT;
    *kv = rr->n_kvs ? rr->kvs[0] : NULL;
    return 0;
}

int wom__ec_num_at(const Etcdserverpb__TxnResponse *r, size_t i, ProtobufCBinaryData k,
                   uint64_t *v, int64_t *mod)
{
    const Mvccpb__KeyValue *kv;
    int rc = wom__ec_kv_at(r, i, k, &kv);
    if (rc)
        return rc;
    if (!kv)
        return WOM_ECORRUPT;
    if (mod)
        *mod = kv->mod_revision;
    return wom__ec_hex_parse(&kv->value, v);
}

int wom__ec_key_addr(const char *prefix, char kind, uint64_t rid, const ProtobufCBinaryData *k,
                     uint64_t *addr)
{
    char head[512];
    int n = kind == 'r' ? snprintf(head, sizeof head, "%s/c/%016" PRIx64 "/r", prefix, rid)
                        : snprintf(head, sizeof head, "%s/%c/%016" PRIx64 "/", prefix, kind, rid);
    if (n < 0 || (size_t)n >= sizeof head || k->len != (size_t)n + 16 ||
        memcmp(k->data, head, (size_t)n))
        return WOM_ECORRUPT;
    ProtobufCBinaryData hex = {16, k->data + n};
    return wom__ec_hex_parse(&hex, addr);
}
