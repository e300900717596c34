/* etcd_codec.h - what the etcd:// scope writes into etcd and how it reads
 * back what etcd answers, apart from the scope's logic (src/space/etcd.c),
 * so that the decoding of everything a member sends is one place that a
 * fuzz target reaches without a cluster (fuzz/fuzz_etcd.c).
 *
 * Nothing a member sends is trusted: every function here checks what it
 * reads and returns WOM_ECORRUPT for anything that is not exactly what
 * this scope wrote (a wrong length, a foreign key, a missing answer),
 * never reads outside what it was given, and never asserts.
 *
 * Stored forms (docs/cluster.md):
 *   a region's record  "WOMR", id (8 bytes), mode (1), max_value (4)
 *   a ONCE cell        "WOMC", writer id (16), sequence (8), length (4), value
 *   a run of k cells   "WOMK", first address (8), k (4), then k ONCE cells;
 *                      stored at PREFIX/c/RID/r and its last address,
 *                      first+k-1 (a lone cell at PREFIX/c/RID/ADDR)
 *   numbers in keys and in t/ and f/   16 lowercase hex digits */
#ifndef WOM_SPACE_ETCD_CODEC_H
#define WOM_SPACE_ETCD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "wom.h"

#define WOM__EC_REC_LEN 17
#define WOM__EC_CELL_HDR 32
#define WOM__EC_RUN_HDR 16
/* A key holds a run of at most RUN_MAX cells, so the key of the run that
 * holds address a lies in [a, a + RUN_MAX): a read of a ranges over that
 * many keys at most, and a put at a compares no more (etcd 3.4 walks a
 * range's whole index, whatever its limit). A run is closed before it
 * passes RUN_BYTES (a larger cell is a run of its own), so that a first
 * read of one cell fetches little more than it. */
#define WOM__EC_RUN_MAX 256
#define WOM__EC_RUN_BYTES ((size_t)64 << 10)

struct wom__ec_rec {
    uint64_t id;
    wom_mode mode;
    uint32_t max_value;
};

void wom__ec_rec_make(uint8_t *p, uint64_t id, wom_mode mode, uint32_t max_value);
/* A region record: 0 or WOM_ECORRUPT (a mode other than ONCE/MANY, a
 * max_value of 0 or above WOM_MAX_VALUE_LIMIT). */
int wom__ec_rec_parse(const ProtobufCBinaryData *v, struct wom__ec_rec *out);

/* Write a cell header for len value bytes at p. */
void wom__ec_cell_head(uint8_t *p, const uint8_t writer[16], uint64_t seq, size_t len);
/* Write a run's header for k cells from address first at p; its cells,
 * each a header and a value, follow at p + WOM__EC_RUN_HDR. */
void wom__ec_run_head(uint8_t *p, uint64_t first, uint32_t k);

/* An opened run: its addresses first..last, and a cursor over its cells. */
struct wom__ec_run {
    uint64_t first, last;
    uint64_t at;          /* the address of the cell at p */
    uint32_t left;        /* cells from p on */
    const uint8_t *p;     /* the next cell's header */
};
/* Open the run stored at the key of address last: a "WOMK" run, or a
 * lone "WOMC" cell (a run of one, first == last). Every cell's framing is
 * checked here (a header, a length at most max_value, the cells filling
 * the value exactly, 1..RUN_MAX of them, first + k - 1 == last), so that
 * wom__ec_run_next cannot fail. */
int wom__ec_run_open(const ProtobufCBinaryData *v, uint64_t last, uint32_t max_value,
                     struct wom__ec_run *run);
/* The run's next cell: its address *addr, value *val and *len, *mine 1
 * when writer wrote it with sequence seq. 0 once past the last cell. */
int wom__ec_run_next(struct wom__ec_run *run, const uint8_t writer[16], uint64_t seq,
                     uint64_t *addr, const uint8_t **val, size_t *len, int *mine);
/* Move the cursor forward to address a: past last, to the end; at or
 * before the cursor's cell, it stays. */
void wom__ec_run_seek(struct wom__ec_run *run, uint64_t a);

/* 16 lowercase hex digits and a NUL into out. */
void wom__ec_hex16(char *out, uint64_t v);
/* Exactly 16 lowercase hex digits. */
int wom__ec_hex_parse(const ProtobufCBinaryData *v, uint64_t *out);

/* Whether kv's key is k. */
int wom__ec_same_key(const Mvccpb__KeyValue *kv, ProtobufCBinaryData k);

/* A transaction's answer has one response per op of the branch that ran,
 * each of the kind its op asked for, each present; a transaction without
 * compares always runs its success branch. */
int wom__ec_txn_check(const Etcdserverpb__TxnRequest *req, const Etcdserverpb__TxnResponse *r);
/* Range response i of a checked answer: its one key-value, which must be
 * key k, or NULL when there is none. */
int wom__ec_kv_at(const Etcdserverpb__TxnResponse *r, size_t i, ProtobufCBinaryData k,
                  const Mvccpb__KeyValue **kv);
/* A hex number that must be there (t, f); *mod its mod revision. */
int wom__ec_num_at(const Etcdserverpb__TxnResponse *r, size_t i, ProtobufCBinaryData k,
                   uint64_t *v, int64_t *mod);
/* The address in cell key k of kind 'c' (a lone ONCE cell,
 * "PREFIX/c/RID/ADDR"), 'r' (a run of ONCE cells, "PREFIX/c/RID/rLAST")
 * or 'm' (a MANY cell, "PREFIX/m/RID/ADDR") of region rid under prefix. */
int wom__ec_key_addr(const char *prefix, char kind, uint64_t rid, const ProtobufCBinaryData *k,
                     uint64_t *addr);

#endif
