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
 *   numbers in keys and in t/ and f/   16 lowercase hex digits */
#ifndef WOM_SPACE_ETCD_CODEC_H
#define WOM_SPACE_ETCD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "wom.h"

#define WOM__EC_REC_LEN 17
#define WOM__EC_CELL_HDR 32

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
/* A ONCE cell, checked (its length field agrees with its size, and is at
 * most max_value): *val and *len the value; *mine 1 when writer wrote it
 * with sequence seq. */
int wom__ec_cell_parse(const ProtobufCBinaryData *v, uint32_t max_value,
                       const uint8_t writer[16], uint64_t seq, const uint8_t **val, size_t *len,
                       int *mine);

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
/* The address in cell key k of kind 'c' or 'm' of region rid under
 * prefix: "PREFIX/c/RID/ADDR". */
int wom__ec_key_addr(const char *prefix, char kind, uint64_t rid, const ProtobufCBinaryData *k,
                     uint64_t *addr);

#endif
