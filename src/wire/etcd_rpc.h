/* etcd_rpc.h - a client of etcd v3's gRPC API (KV and Lease), the wire the
 * etcd:// scope stands on: Debian's gRPC C core carries protobuf-c messages
 * generated at build time from etcd's own .proto files.
 *
 * A connection (struct wom__etcd) talks to one endpoint of a cluster at a
 * time over one gRPC channel (one HTTP/2 connection, many streams), with one
 * completion-queue thread that wakes the callers. Every call is its own
 * grpc_call on that channel, so calls from many threads are in flight
 * together; no lock is held across the network. When the endpoint fails (it
 * cannot be connected to, the connection breaks, or it answers UNAVAILABLE)
 * the connection moves on to the next endpoint, and after a whole round of
 * failed endpoints it waits a growing backoff (20 ms doubling to 1 s) before
 * connecting again.
 *
 * Every call returns 0 or a negative WOM_E* code, and blocks until its
 * answer or its deadline, an absolute CLOCK_MONOTONIC time in ns
 * (wom__now_ns, util/clock.h). The errors say what became of the request:
 *   WOM_ETIMEDOUT  the deadline came before the request was sent;
 *   WOM_ENOTCONN   not sent: no endpoint could be connected to before the
 *                  deadline, or the connection is closing;
 *   WOM_EMSGSIZE   not sent: larger than WOM__ETCD_MAX_REQUEST (etcd's
 *                  default --max-request-bytes), or etcd refused its size;
 *   WOM_EUNKNOWN   sent, and no answer came (the connection broke, the
 *                  deadline passed while waiting, or the answer was larger
 *                  than gRPC takes): it may have been applied;
 *   WOM_EUNAVAIL   etcd answered UNAVAILABLE or too-many-requests (no
 *                  leader, leader changed, request timed out inside etcd):
 *                  it too may have been applied;
 *   WOM_ECORRUPT   an answer that does not decode;
 *   WOM_EINVAL     etcd rejected the request as malformed (or a bad
 *                  argument here); WOM_ENOENT (NOT_FOUND: a lease),
 *                  WOM_ETRIMMED (OUT_OF_RANGE: a compacted revision),
 *                  WOM_EPERM (auth), WOM_ENOTSUP (UNIMPLEMENTED),
 *                  WOM_EIO (any other gRPC status).
 * With a user (struct wom__etcd_auth), every call and watch stream carries
 * the token etcd's Auth.Authenticate gave for the user's password, as the
 * metadata "token". A token ends (etcd's simple tokens lapse after 5
 * unused minutes, and a restarted member forgets them); a call that etcd
 * refuses for its token ("invalid auth token", "revision of auth store is
 * old", "user name is empty": refused before anything is applied) gets a
 * new token and is sent once more; a failed re-authentication returns its
 * own error. Neither the password nor a token is ever printed, the
 * WOM_ETCD_DEBUG output included.
 * A failure of a connection that was READY is reported as WOM_EUNKNOWN even
 * when gRPC could not in fact send (the C core does not say), so the
 * classification errs towards "may have been applied", never the other way.
 * Nothing from the network is asserted on.
 *
 * Responses are allocated by protobuf-c with the default allocator; the
 * caller frees each with the matching wom__etcd_*_free (NULL is fine). A
 * response pointer is written only on success. Requests are borrowed for
 * the call only.
 */
#ifndef WOM_WIRE_ETCD_RPC_H
#define WOM_WIRE_ETCD_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"

/* The largest request sent (packed protobuf bytes): etcd 3.4's default
 * --max-request-bytes, which `wom cluster up` keeps. */
#define WOM__ETCD_MAX_REQUEST ((size_t)1572864)

struct wom__etcd;

/* TLS and etcd's authentication for wom__etcd_connect. A NULL pointer, or
 * every field NULL, is plaintext without a user (what `wom cluster up`
 * makes). NUL-terminated strings, borrowed for the call to
 * wom__etcd_connect only: it copies what it keeps (the caller may zero its
 * copies of the key and the password when it returns). */
struct wom__etcd_auth {
    const char *ca_pem;   /* CA bundle (PEM): TLS, members verified against it */
    const char *cert_pem; /* the client's certificate chain (PEM) and its */
    const char *key_pem;  /* private key: both or neither, and only with ca_pem */
    const char *user;     /* an etcd user and its password: both or neither */
    const char *password;
};

/* Connect to the cluster whose client endpoints are endpoints[0..n) ("H:P",
 * copied), trying them in order, for at most timeout_ns; returns once one is
 * connected (its channel READY) and, with auth->user, authenticated.
 * Initialises gRPC (reference counted with every other user in the
 * process). Errors: WOM_EINVAL (n == 0, an empty or overlong endpoint,
 * timeout_ns <= 0, half a pair of auth), WOM_ENOMEM, WOM_ENOTCONN (none
 * could be connected to, over TLS when ca_pem is given, or authenticated
 * with, within timeout_ns), WOM_EPERM (etcd refused the user or password,
 * or has authentication off). After a failure wom__etcd_connect_error()
 * says why. *out is written only on success and is closed with
 * wom__etcd_close. */
int wom__etcd_connect(const char *const *endpoints, size_t n, int64_t timeout_ns,
                      const struct wom__etcd_auth *auth, struct wom__etcd **out);

/* A sentence saying why the last failed wom__etcd_connect of this thread
 * failed (which endpoint, TLS or authentication; never a secret), "" if
 * none failed. Valid until the thread's next wom__etcd_connect. */
const char *wom__etcd_connect_error(void);

/* Close c: no call may be in flight or start on it (the caller's to
 * ensure). Stops its thread, drops its channel and its reference on gRPC.
 * NULL is a no-op. */
void wom__etcd_close(struct wom__etcd *c);

/* The endpoint c currently talks to (index into the endpoints given to
 * wom__etcd_connect); it changes on failover. For tests and diagnostics. */
size_t wom__etcd_endpoint(struct wom__etcd *c);

/* KV.Range: *resp on success (free with wom__etcd_range_free). */
int wom__etcd_range(struct wom__etcd *c, const Etcdserverpb__RangeRequest *req,
                    Etcdserverpb__RangeResponse **resp, int64_t deadline);
/* KV.Put: *resp on success (free with wom__etcd_put_free). */
int wom__etcd_put(struct wom__etcd *c, const Etcdserverpb__PutRequest *req,
                  Etcdserverpb__PutResponse **resp, int64_t deadline);
/* KV.DeleteRange: *resp on success (free with wom__etcd_delete_range_free). */
int wom__etcd_delete_range(struct wom__etcd *c, const Etcdserverpb__DeleteRangeRequest *req,
                           Etcdserverpb__DeleteRangeResponse **resp, int64_t deadline);
/* KV.Txn: *resp on success (free with wom__etcd_txn_free); resp->succeeded
 * says which branch ran. */
int wom__etcd_txn(struct wom__etcd *c, const Etcdserverpb__TxnRequest *req,
                  Etcdserverpb__TxnResponse **resp, int64_t deadline);
/* KV.Txn of serializable ranges only (a read any member may answer): sent
 * to the members in turn, each over a channel of its own, so that such
 * reads spread over the cluster; falls back to wom__etcd_txn's way (the
 * current member, failover) while a member's channel is not ready or when
 * its attempt fails. */
int wom__etcd_txn_spread(struct wom__etcd *c, const Etcdserverpb__TxnRequest *req,
                         Etcdserverpb__TxnResponse **resp, int64_t deadline);
/* Lease.LeaseGrant: *resp on success (free with wom__etcd_lease_grant_free);
 * resp->error non-empty is etcd's refusal inside a successful answer. */
int wom__etcd_lease_grant(struct wom__etcd *c, const Etcdserverpb__LeaseGrantRequest *req,
                          Etcdserverpb__LeaseGrantResponse **resp, int64_t deadline);
/* Lease.LeaseRevoke: *resp on success (free with wom__etcd_lease_revoke_free);
 * WOM_ENOENT when the lease is not (or no longer) there. */
int wom__etcd_lease_revoke(struct wom__etcd *c, const Etcdserverpb__LeaseRevokeRequest *req,
                           Etcdserverpb__LeaseRevokeResponse **resp, int64_t deadline);

/* Lease.LeaseKeepAlive, one request and its answer (the method is a
 * stream; a call of its own per renewal keeps this a plain request):
 * *resp on success; resp->TTL <= 0 when the lease is gone. */
int wom__etcd_lease_keep_alive(struct wom__etcd *c, const Etcdserverpb__LeaseKeepAliveRequest *req,
                               Etcdserverpb__LeaseKeepAliveResponse **resp, int64_t deadline);
/* Lease.LeaseTimeToLive: *resp on success; resp->TTL == -1 when the lease
 * is gone (expired or revoked). */
int wom__etcd_lease_time_to_live(struct wom__etcd *c,
                                 const Etcdserverpb__LeaseTimeToLiveRequest *req,
                                 Etcdserverpb__LeaseTimeToLiveResponse **resp, int64_t deadline);

/* ---- Watch: one bidirectional stream ------------------------------------

 * A watch stream runs etcd's Watch service on c with a thread of its own.
 * Every WatchResponse that arrives is given, in order, to fn(arg, r) on that
 * thread (r is freed after fn returns). When the stream breaks (its member
 * failed, lost its leader, or the connection moved), fn(arg, NULL) says so:
 * every watch created on it is gone, and the thread starts a new stream on
 * c's current channel (with c's failover and backoff). Creating watches is
 * the caller's: wom__etcd_watch_send, typically when it needs one. The
 * stream is opened with etcd's "hasleader" metadata, so a member cut off
 * from its leader ends it rather than going silent. With a user, a create
 * that etcd cancels for the stream's token is not given to fn: the stream
 * breaks (fn(arg, NULL)), a new token is fetched, and the next stream
 * carries it. */
struct wom__etcd_watch;
typedef void wom__etcd_watch_fn(void *arg, const Etcdserverpb__WatchResponse *r);

/* Start a watch stream on c: 0, WOM_EINVAL or WOM_ENOMEM; the stream itself
 * connects in the background. Close with wom__etcd_watch_close before c. */
int wom__etcd_watch_open(struct wom__etcd *c, wom__etcd_watch_fn *fn, void *arg,
                         struct wom__etcd_watch **out);
/* Send req on the stream as it is now (answers to a stream that then
 * breaks never come: the caller tells them apart by the watch ids it
 * chose). WOM_ENOTCONN when no stream is up (try again after a while),
 * WOM_ETIMEDOUT at the deadline, WOM_EMSGSIZE, WOM_ENOMEM. Any thread,
 * fn's included. */
int wom__etcd_watch_send(struct wom__etcd_watch *w, const Etcdserverpb__WatchRequest *req,
                         int64_t deadline);
/* Stop the stream and its thread (fn is not called after this returns).
 * NULL is a no-op. */
void wom__etcd_watch_close(struct wom__etcd_watch *w);
/* Fault injection, for tests: with n > 0, the next watch sends of the
 * process count n down and the one that takes it to 0 fails with
 * WOM_ETIMEDOUT without sending (as a send whose deadline passed while it
 * waited for the stream); the sends after it go out again. 0, the
 * default, fails none. */
void wom__etcd_watch_fail_send(int n);

/* Free a response of the call of the same name (NULL is a no-op). */
void wom__etcd_range_free(Etcdserverpb__RangeResponse *resp);
void wom__etcd_put_free(Etcdserverpb__PutResponse *resp);
void wom__etcd_delete_range_free(Etcdserverpb__DeleteRangeResponse *resp);
void wom__etcd_txn_free(Etcdserverpb__TxnResponse *resp);
void wom__etcd_lease_grant_free(Etcdserverpb__LeaseGrantResponse *resp);
void wom__etcd_lease_revoke_free(Etcdserverpb__LeaseRevokeResponse *resp);
void wom__etcd_lease_keep_alive_free(Etcdserverpb__LeaseKeepAliveResponse *resp);
void wom__etcd_lease_time_to_live_free(Etcdserverpb__LeaseTimeToLiveResponse *resp);

#endif
