/*
 * fuzz_etcd.c - libFuzzer target for the decoding of what an etcd member
 * answers (src/space/etcd_codec.h): the bytes of an answer are unpacked
 * with protobuf-c, as the wire layer's decode() does, and every check of
 * the codec is driven over the result the way the etcd:// scope
 * (src/space/etcd.c) drives it.
 *
 * Input: byte 0 picks the message (TxnResponse, RangeResponse,
 * WatchResponse, LeaseGrant/LeaseKeepAlive/LeaseTimeToLive responses),
 * byte 1 the region's max_value and the key prefix (bits 0-2) and one key
 * address a run is also opened at (bits 3-7: near 0 or near UINT64_MAX),
 * the rest is the packed message. Each run checks properties, not only
 * the absence of crashes:
 *  - every codec function returns 0 or WOM_ECORRUPT, and exactly what an
 *    independent reference of the stored forms (etcd_codec.h, written here
 *    apart from etcd_codec.c) says; its out parameters are left alone on
 *    failure;
 *  - wom__ec_txn_check passes an answer only when it has one present
 *    response of the right kind per op of the branch that ran, for each of
 *    the transactions etcd.c sends (region read and create, put, the cell
 *    reads, the history reads, batch append, trim, store, the region
 *    listing); the failure branches of those with compares included.
 *    What etcd.c then reads is read the same way: a lone cell's key
 *    (c/RID/ADDR) or a run's (c/RID/rLAST) gives the address its value is
 *    opened at;
 *  - a value that wom__ec_run_open opens as the run at the key of address
 *    `last` (tried at the value's key, at ADDR, at the last address its
 *    own "WOMK" header names and at the one byte 1 picks; and each value
 *    once more, repeated, behind a "WOMK" header written here, so that
 *    the seeds' lone cells become runs of many) is walked by
 *    wom__ec_run_next: exactly k cells at first..last in order, each value
 *    within the value (the bytes after its header, as many as its length
 *    field says, at most max_value: at the largest cell's length it
 *    opens, one below it does not), "mine" exactly when the writer and
 *    sequence asked for are the cell's, then 0 with nothing written;
 *    wom__ec_run_seek to an address of the run gives that cell next, and
 *    past the last ends the walk;
 *  - everything parsed round-trips: wom__ec_run_head (for a "WOMK" run)
 *    and wom__ec_cell_head with each cell's value rebuild a run byte for
 *    byte; so does wom__ec_rec_make for a region record, wom__ec_hex16 for
 *    a number, and the key format for wom__ec_key_addr;
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
    char rk[KEY_MAX]; /* the key of a run ending at ADDR */
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
    snprintf(k->rk, KEY_MAX, "%s/c/%016x/r%016x", prefix, RID, ADDR);
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

/* A run as the reference reads it: its first address, whether it had a
 * "WOMK" header, and its cells, each as the offset of its header in the
 * value and the length of its value. */
struct ref_run {
    uint64_t first;
    int packed;
    size_t k;
    size_t at[WOM__EC_RUN_MAX], len[WOM__EC_RUN_MAX];
};

/* Whether v is a run stored at the key of address last, with cells of at
 * most max bytes. Read another way than etcd_codec.c does: the body (what
 * follows a "WOMK" header, else the whole value as a run of one at last)
 * is cut into cells from the front until nothing is left, and there must
 * be exactly as many as the header says. */
static int ref_run(const ProtobufCBinaryData *v, uint64_t last, uint32_t max, struct ref_run *out)
{
    const uint8_t *d = v->data;
    size_t off = 0, want = 1;
    out->first = last;
    out->packed = v->len >= 4 && d[0] == 'W' && d[1] == 'O' && d[2] == 'M' && d[3] == 'K';
    if (out->packed) {
        if (v->len < 16)
            return 0;
        uint64_t first = be(d + 4, 8), k = be(d + 12, 4);
        /* first + k - 1 == last, without wrapping past UINT64_MAX */
        if (k < 1 || k > WOM__EC_RUN_MAX || k - 1 > last || last - (k - 1) != first)
            return 0;
        out->first = first;
        want = (size_t)k;
        off = 16;
    }
    for (out->k = 0; off < v->len; out->k++) {
        size_t rest = v->len - off;
        if (out->k == want || rest < 32 || memcmp(d + off, "WOMC", 4))
            return 0;
        uint64_t n = be(d + off + 28, 4);
        if (n > max || n > rest - 32)
            return 0;
        out->at[out->k] = off;
        out->len[out->k] = (size_t)n;
        off += 32 + (size_t)n;
    }
    return out->k == want;
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

/* ---- runs: opened, walked, sought, rebuilt ---- */

/* Byte 1's pick of a key address near 0 or near UINT64_MAX, and a number
 * from the input that picks a cell to seek to (both per input). */
static uint64_t pick_last;
static size_t pick_cell;

/* How a walk asks whether a cell is "mine": as a put does (our writer,
 * SEQ), as a get does (our writer, UINT64_MAX, never a sequence of ours),
 * or with the cell's own writer and sequence (always mine). */
enum { AS_PUT, AS_GET, AS_OWN };

/* The cursor's next cell must be cell i of the reference's run. */
static void check_next(const ProtobufCBinaryData *v, const struct ref_run *ref,
                       struct wom__ec_run *run, size_t i, int as)
{
    const uint8_t *head = v->data + ref->at[i];
    uint64_t cell_seq = be(head + 20, 8);
    const uint8_t *w = as == AS_OWN ? head + 4 : writer;
    uint64_t seq = as == AS_OWN ? cell_seq : as == AS_GET ? UINT64_MAX : SEQ;
    uint64_t addr = 0;
    const uint8_t *val = NULL;
    size_t len = 0;
    int mine = 77;
    CHECK(wom__ec_run_next(run, w, seq, &addr, &val, &len, &mine) == 1);
    CHECK(addr == ref->first + i);
    CHECK(val == head + WOM__EC_CELL_HDR && len == ref->len[i]);
    CHECK(val > v->data && len <= (size_t)(v->data + v->len - val));
    CHECK(mine == (!memcmp(head + 4, w, 16) && cell_seq == seq));
    CHECK(as != AS_OWN || mine == 1);
}

/* Past the last cell: 0, nothing written, and so again. */
static void check_end(struct wom__ec_run *run)
{
    static const uint8_t sentinel[1] = {0};
    for (int again = 0; again < 2; again++) {
        uint64_t addr = 0x5a5a;
        const uint8_t *val = sentinel;
        size_t len = 12345;
        int mine = 77;
        CHECK(wom__ec_run_next(run, writer, SEQ, &addr, &val, &len, &mine) == 0);
        CHECK(addr == 0x5a5a && val == sentinel && len == 12345 && mine == 77);
    }
}

/* From cursor c, the cells i.. to the end. */
static void check_rest(const ProtobufCBinaryData *v, const struct ref_run *ref,
                       struct wom__ec_run c, size_t i, int as)
{
    for (; i < ref->k; i++)
        check_next(v, ref, &c, i, as);
    check_end(&c);
}

/* The run rebuilt from what a walk gives: its header when it had one,
 * then each cell's header (its writer and sequence) and value. */
static void check_rebuild(const ProtobufCBinaryData *v, const struct ref_run *ref,
                          struct wom__ec_run c)
{
    uint8_t *back = malloc(v->len);
    CHECK(back != NULL);
    size_t pos = 0;
    if (ref->packed) {
        wom__ec_run_head(back, c.first, (uint32_t)ref->k);
        pos = WOM__EC_RUN_HDR;
    }
    uint64_t addr;
    const uint8_t *val;
    size_t len;
    int mine;
    for (size_t i = 0; wom__ec_run_next(&c, writer, SEQ, &addr, &val, &len, &mine); i++) {
        CHECK(i < ref->k && pos + WOM__EC_CELL_HDR + len <= v->len);
        const uint8_t *head = v->data + ref->at[i];
        wom__ec_cell_head(back + pos, head + 4, be(head + 20, 8), len);
        if (len)
            memcpy(back + pos + WOM__EC_CELL_HDR, val, len);
        pos += WOM__EC_CELL_HDR + len;
    }
    CHECK(pos == v->len && !memcmp(back, v->data, v->len));
    free(back);
}

/* Seeks from the opened cursor: to the first, middle, last and a picked
 * cell, each then walked to the end; forward on one cursor over every
 * third cell; and past the last, which ends the walk. */
static void check_seeks(const ProtobufCBinaryData *v, const struct ref_run *ref,
                        const struct wom__ec_run *open)
{
    size_t k = ref->k, to[4] = {0, k / 2, k - 1, pick_cell % k};
    for (size_t j = 0; j < 4; j++) {
        struct wom__ec_run c = *open;
        wom__ec_run_seek(&c, ref->first + to[j]);
        check_rest(v, ref, c, to[j], AS_GET);
    }
    struct wom__ec_run c = *open;
    for (size_t i = 0; i < k; i += 3) {
        wom__ec_run_seek(&c, ref->first + i);
        check_next(v, ref, &c, i, AS_PUT);
    }
    uint64_t last = ref->first + (k - 1);
    if (last < UINT64_MAX) {
        uint64_t past[2] = {last + 1, UINT64_MAX};
        for (size_t j = 0; j < 2; j++) {
            c = *open;
            wom__ec_run_seek(&c, past[j]);
            check_end(&c);
        }
    }
}

/* wom__ec_run_open against the reference: 0 exactly when it says, else
 * WOM_ECORRUPT with *run untouched. */
static int check_open(const ProtobufCBinaryData *v, uint64_t last, uint32_t max,
                      struct wom__ec_run *run, struct ref_run *ref)
{
    struct wom__ec_run sentinel;
    memset(run, 0x5a, sizeof *run);
    memcpy(&sentinel, run, sizeof sentinel);
    int rc = wom__ec_run_open(v, last, max, run);
    OK_OR_CORRUPT(rc);
    CHECK((rc == 0) == (ref_run(v, last, max, ref)));
    if (rc)
        CHECK(!memcmp(run, &sentinel, sizeof sentinel));
    return rc;
}

/* v opened as the run at the key of address last (etcd.c's run_of and
 * what follows it: a get walks with UINT64_MAX, a put asks with SEQ). */
static void check_run(const ProtobufCBinaryData *v, uint64_t last, uint32_t max)
{
    struct ref_run ref, edge;
    struct wom__ec_run run, other;
    if (check_open(v, last, max, &run, &ref))
        return;
    CHECK(run.first == ref.first && run.last == last);
    CHECK(ref.k >= 1 && ref.k <= WOM__EC_RUN_MAX && (ref.packed || ref.k == 1));
    check_rest(v, &ref, run, 0, AS_PUT);
    check_rest(v, &ref, run, 0, AS_GET);
    check_rest(v, &ref, run, 0, AS_OWN);
    check_rebuild(v, &ref, run);
    check_seeks(v, &ref, &run);
    /* max_value bounds each cell: try it at the largest cell's length
     * (which opens) and one below (which does not) */
    size_t big = 0;
    for (size_t i = 0; i < ref.k; i++)
        big = ref.len[i] > big ? ref.len[i] : big;
    CHECK(check_open(v, last, (uint32_t)big, &other, &edge) == 0);
    if (big)
        CHECK(check_open(v, last, (uint32_t)big - 1, &other, &edge) == WOM_ECORRUPT);
}

/* A value that may be a run, opened at each address it could be stored
 * at: ADDR, the key's own address (when key_ok), the last address its
 * "WOMK" header names (first + k - 1, and one off each side), and byte
 * 1's pick near 0 or UINT64_MAX. */
static void check_runs(const ProtobufCBinaryData *v, uint32_t max, int key_ok, uint64_t key_last)
{
    uint64_t lasts[6];
    size_t n = 0;
    lasts[n++] = ADDR;
    lasts[n++] = pick_last;
    if (key_ok)
        lasts[n++] = key_last;
    if (v->len >= WOM__EC_RUN_HDR && !memcmp(v->data, "WOMK", 4)) {
        uint64_t named = be(v->data + 4, 8) + be(v->data + 12, 4) - 1; /* may wrap */
        lasts[n++] = named;
        lasts[n++] = named - 1;
        lasts[n++] = named + 1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && lasts[j] != lasts[i])
            j++;
        if (j == i) /* not tried yet */
            check_run(v, lasts[i], max);
    }
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    while (n--) {
        p[n] = (uint8_t)v;
        v >>= 8;
    }
}

/* A value as etcd.c opens it (check_runs), and once more as the body of
 * a run: the value repeated 1 to 257 times (by the input's size) behind a
 * "WOMK" header written here, not by wom__ec_run_head, with k the number
 * of cells its length fields cut the body into and first so that the run
 * ends at byte 1's pick (below 0 when k is too large for it: a wrap the
 * reference refuses). The seeds' values are lone cells; so they become
 * runs of many, up to and past RUN_MAX. */
static void check_value(const ProtobufCBinaryData *v, uint32_t max, int key_ok, uint64_t key_last)
{
    static const size_t reps[8] = {1, 2, 3, 7, 16, 255, 256, 257};
    check_runs(v, max, key_ok, key_last);
    size_t r = reps[pick_cell / 8 % 8];
    if (v->len > ((size_t)64 << 10) / r)
        r = 1; /* bound the work of one input */
    size_t body = r * v->len;
    ProtobufCBinaryData w = {16 + body, malloc(16 + body)};
    CHECK(w.data != NULL);
    for (size_t i = 0; i < r && v->len; i++)
        memcpy(w.data + 16 + i * v->len, v->data, v->len);
    uint64_t k = 0;
    for (size_t off = 0; k <= WOM__EC_RUN_MAX && body - off >= 32; k++) {
        uint64_t n = be(w.data + 16 + off + 28, 4);
        if (n > body - off - 32)
            break;
        off += 32 + (size_t)n;
    }
    memcpy(w.data, "WOMK", 4);
    put_be(w.data + 4, pick_last - (k - 1), 8); /* k 0: first is pick + 1 */
    put_be(w.data + 12, k, 4);
    check_runs(&w, max, key_ok, key_last);
    free(w.data);
}

/* The address in cell key k of kind 'c' (a lone cell, PREFIX/c/RID/ADDR),
 * 'r' (a run, PREFIX/c/RID/rLAST) or 'm' (wom__ec_key_addr): 1 and *addr
 * when the reference parses it. */
static int check_key_addr(const char *prefix, char kind, const ProtobufCBinaryData *k,
                          uint64_t *addr_out)
{
    uint64_t addr = 0x5a5a5a5a5a5a5a5aull;
    int rc = wom__ec_key_addr(prefix, kind, RID, k, &addr);
    OK_OR_CORRUPT(rc);
    char head[KEY_MAX];
    int n = kind == 'r' ? snprintf(head, sizeof head, "%s/c/%016x/r", prefix, RID)
                        : snprintf(head, sizeof head, "%s/%c/%016x/", prefix, kind, RID);
    uint64_t want = 0;
    int ok = k->len == (size_t)n + 16 && !memcmp(k->data, head, (size_t)n);
    if (ok) {
        ProtobufCBinaryData tail = {16, k->data + n};
        ok = ref_hex(&tail, &want);
    }
    CHECK((rc == 0) == (ok));
    if (rc) {
        CHECK(addr == 0x5a5a5a5a5a5a5a5aull);
        return 0;
    }
    char back[KEY_MAX + 17];
    snprintf(back, sizeof back, "%s%016" PRIx64, head, addr);
    CHECK(addr == want && strlen(back) == k->len && !memcmp(back, k->data, k->len));
    if (addr_out)
        *addr_out = addr;
    return 1;
}

/* The key of a lone cell or of a run: 1 and *last when it is one. */
static int check_cell_key(const struct keys *k, const ProtobufCBinaryData *key, uint64_t *last)
{
    uint64_t c = 0, r = 0;
    int is_c = check_key_addr(k->prefix, 'c', key, &c), is_r = check_key_addr(k->prefix, 'r', key, &r);
    CHECK(!(is_c && is_r)); /* 'r' is no hex digit */
    *last = is_c ? c : r;
    return is_c || is_r;
}

/* A key-value that etcd.c opens as a run (its run_of): the key a lone
 * cell's or a run's, which gives the run's last address, and the value. */
static void check_kv_run(const Mvccpb__KeyValue *kv, const struct keys *k, uint32_t max)
{
    uint64_t last = 0;
    int ok = check_cell_key(k, &kv->key, &last);
    check_value(&kv->value, max, ok, last);
}

/* Range response i of a range over lone cells' or runs' keys (etcd.c's
 * first_kv, then run_of): the first `most` key-values, each opened. */
static void check_range_runs(const Etcdserverpb__TxnResponse *r, size_t i, const struct keys *k,
                             uint32_t max, size_t most)
{
    const Etcdserverpb__RangeResponse *rr = r->responses[i]->response_range;
    for (size_t j = 0; j < rr->n_kvs && j < most; j++)
        if (rr->kvs[j])
            check_kv_run(rr->kvs[j], k, max);
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

/* A floor or tail that may be absent (a serializable read's f, and the
 * history reads): the key-value asked for, then its hex. */
static void check_opt_num(const Etcdserverpb__TxnResponse *r, size_t i, const char *key)
{
    const Mvccpb__KeyValue *kv = check_kv_at(r, i, key);
    if (kv)
        check_hex(&kv->value);
}

/* ---- the transactions etcd.c sends ---- */

enum { R = 1, P, D, T }; /* an op: range, put, delete range, nested txn */
#define OPS_MAX 6

struct shape {
    const char *what;
    int compares; /* how many: with none the failure branch never runs */
    uint8_t success[OPS_MAX], failure[OPS_MAX];
};

enum {
    S_REGION_READ,
    S_REGION_CREATE,
    S_PUT,
    S_PUT_LAST, /* a put at UINT64_MAX: no compare of f */
    S_TAIL_FLOOR,
    S_CELL_READ,
    S_CELL_READ_TAIL,
    S_CELL_READ_SER,
    S_CELLS_READ,
    S_HISTORY_NUM,
    S_HISTORY_CELL,
    S_BATCH_TAIL,
    S_BATCH_1,
    S_BATCH_2,
    S_TRIM,
    S_STORE,
    S_CAS,
    S_MANY_READ,
    S_REGIONS,
    N_SHAPES
};

/* A lone cell is at c/RID/ADDR, a run at c/RID/rLAST. A cell read reads
 * c/ADDR, the first key of the runs that can hold ADDR, [c/RID/rADDR,
 * c/RID/r(ADDR+RUN_MAX)) with limit 1, and f (and t when it blocks); a
 * put compares c/ADDR absent, no key in that range and f, and its failure
 * branch reads the three; a batch puts t and a key per run of its cells,
 * and a lost one reads t, its first run's key and f. */
static const struct shape shapes[N_SHAPES] = {
    [S_REGION_READ] = {"region read (r, nextid)", 0, {R, R}, {0}},
    [S_REGION_CREATE] = {"region create", 2, {P, P, P, P}, {0}},
    [S_PUT] = {"put (else c, the runs' range, f)", 3, {P, T}, {R, R, R}},
    [S_PUT_LAST] = {"put at UINT64_MAX", 2, {P, T}, {R, R, R}},
    [S_TAIL_FLOOR] = {"tail and floor", 0, {R, R}, {0}},
    [S_CELL_READ] = {"cell read (c, the runs' range, f)", 0, {R, R, R}, {0}},
    [S_CELL_READ_TAIL] = {"blocking cell read (c, the runs' range, f, t)", 0, {R, R, R, R}, {0}},
    [S_CELL_READ_SER] = {"serializable cell read (c, the runs' range, f)", 0, {R, R, R}, {0}},
    [S_CELLS_READ] = {"cells read (lone cells' range, runs' range, f)", 0, {R, R, R}, {0}},
    [S_HISTORY_NUM] = {"t or f at a revision", 0, {R}, {0}},
    [S_HISTORY_CELL] = {"c/ADDR or a run's key at a revision", 0, {R}, {0}},
    [S_BATCH_TAIL] = {"batch tail read", 0, {R}, {0}},
    [S_BATCH_1] = {"batch of one run", 1, {P, P}, {R, R, R}},
    [S_BATCH_2] = {"batch of two runs", 1, {P, P, P}, {R, R, R}},
    [S_TRIM] = {"trim (f, lone cells, runs)", 1, {P, D, D, T}, {0}},
    [S_STORE] = {"store", 0, {P}, {0}},
    [S_CAS] = {"compare and store", 1, {P}, {0}},
    [S_MANY_READ] = {"many read", 0, {R}, {0}},
    [S_REGIONS] = {"regions", 0, {R, R, R}, {0}},
};

struct req {
    Etcdserverpb__TxnRequest txn, inner;
    Etcdserverpb__RequestOp op[2][OPS_MAX], *opp[2][OPS_MAX];
    Etcdserverpb__Compare cmp[3], *cmpp[3];
    Etcdserverpb__RangeRequest range;
    Etcdserverpb__PutRequest put;
    Etcdserverpb__DeleteRangeRequest del;
};

/* A request of shape s: only the number of its compares and the kinds of
 * its ops matter to the check. */
static void req_make(struct req *q, const struct shape *s)
{
    q->txn = (Etcdserverpb__TxnRequest)ETCDSERVERPB__TXN_REQUEST__INIT;
    q->inner = (Etcdserverpb__TxnRequest)ETCDSERVERPB__TXN_REQUEST__INIT;
    q->range = (Etcdserverpb__RangeRequest)ETCDSERVERPB__RANGE_REQUEST__INIT;
    q->put = (Etcdserverpb__PutRequest)ETCDSERVERPB__PUT_REQUEST__INIT;
    q->del = (Etcdserverpb__DeleteRangeRequest)ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    for (int i = 0; i < s->compares; i++) {
        q->cmp[i] = (Etcdserverpb__Compare)ETCDSERVERPB__COMPARE__INIT;
        q->cmpp[i] = &q->cmp[i];
    }
    q->txn.n_compare = (size_t)s->compares;
    q->txn.compare = s->compares ? q->cmpp : NULL;
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
    if (!shapes[s].compares && read_ran_failure(r))
        return;
    switch (s) {
    case S_REGION_READ: /* region_try: the record, else the next id */
        if ((kv = check_kv_at(r, 0, k->r)))
            check_rec(&kv->value);
        if ((kv = check_kv_at(r, 1, k->n)))
            check_hex(&kv->value);
        break;
    case S_PUT:
    case S_PUT_LAST: /* put_lost: c/ADDR, the first run of the range, the floor */
        if (!r->succeeded) {
            if ((kv = check_kv_at(r, 0, k->c)))
                check_kv_run(kv, k, max);
            check_range_runs(r, 1, k, max, 1);
            check_num_at(r, 2, k->f);
        }
        break;
    case S_TAIL_FLOOR:
        check_num_at(r, 0, k->t);
        check_num_at(r, 1, k->f);
        break;
    case S_CELL_READ:
    case S_CELL_READ_TAIL:
    case S_CELL_READ_SER: /* cell_read: c/ADDR, the first run, f (a member may lack it), t */
        if ((kv = check_kv_at(r, 0, k->c)))
            check_kv_run(kv, k, max);
        check_range_runs(r, 1, k, max, 1);
        if (s == S_CELL_READ_SER)
            check_opt_num(r, 2, k->f);
        else
            check_num_at(r, 2, k->f);
        if (s == S_CELL_READ_TAIL)
            check_num_at(r, 3, k->t);
        break;
    case S_CELLS_READ: /* ec_get_views: lone cells, up to RUN_MAX runs, f if there */
        check_range_runs(r, 0, k, max, (size_t)-1);
        check_range_runs(r, 1, k, max, WOM__EC_RUN_MAX);
        check_opt_num(r, 2, k->f);
        break;
    case S_HISTORY_NUM: /* read_at of f (put_settle_in_history) or t (settle_in_history) */
        check_opt_num(r, 0, k->f);
        check_opt_num(r, 0, k->t);
        break;
    case S_HISTORY_CELL: /* read_at of c/ADDR, or of a batch's first run's key */
        if ((kv = check_kv_at(r, 0, k->c)))
            check_kv_run(kv, k, max);
        if ((kv = check_kv_at(r, 0, k->rk)))
            check_kv_run(kv, k, max);
        break;
    case S_BATCH_TAIL:
        check_num_at(r, 0, k->t);
        break;
    case S_BATCH_1:
    case S_BATCH_2: /* batch_lost: t, the first run's key (c/RID/rADDR here), f */
        if (!r->succeeded) {
            check_num_at(r, 0, k->t);
            if ((kv = check_kv_at(r, 1, k->rk)))
                check_kv_run(kv, k, max);
            check_num_at(r, 2, k->f);
        }
        break;
    case S_STORE:
    case S_CAS: /* ec_store: the previous key-value must be the cell's */
        if (r->succeeded && (kv = r->responses[0]->response_put->prev_kv))
            CHECK(wom__ec_same_key(kv, bin(k->m)) == same(kv->key, bin(k->m)));
        break;
    case S_MANY_READ:
        check_kv_at(r, 0, k->m);
        break;
    case S_REGIONS:
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
    const char *ks[] = {k->r, k->n, k->t, k->f, k->c, k->m, k->rk};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        const Mvccpb__KeyValue *kv = check_kv_at(&r, 0, ks[i]);
        if (kv && i == 0)
            check_rec(&kv->value);
        if (kv && (i == 4 || i == 6))
            check_value(&kv->value, max, 1, ADDR);
        check_num_at(&r, 0, ks[i]);
    }
    for (size_t i = 0; i < rr->n_kvs; i++) {
        check_rec(&rr->kvs[i]->value);
        check_kv_run(rr->kvs[i], k, max);
        check_hex(&rr->kvs[i]->value);
    }
}

/* hub_fn/hub_event: each event's key as a key of the region (a lone
 * cell's, a run's, a MANY cell's), its value as a floor and, for a first
 * put, as the run at its key's address. */
static void fuzz_watch(const Etcdserverpb__WatchResponse *r, const struct keys *k, uint32_t max)
{
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *ev = r->events[i];
        if (!ev || !ev->kv)
            continue;
        uint64_t last = 0;
        check_hex(&ev->kv->value);
        int ok = check_cell_key(k, &ev->kv->key, &last);
        check_key_addr(k->prefix, 'm', &ev->kv->key, NULL);
        if (ev->type == MVCCPB__EVENT__EVENT_TYPE__PUT && ev->kv->version == 1)
            check_value(&ev->kv->value, max, ok, last);
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
    /* bits 3-7: 0, 17, .., 255 above 0, or as far below UINT64_MAX */
    uint64_t near = (uint64_t)(data[1] >> 4) * 17;
    pick_last = data[1] & 8 ? UINT64_MAX - near : near;
    pick_cell = size;
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
