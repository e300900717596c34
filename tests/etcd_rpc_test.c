/* etcd_rpc_test.c - the wire layer (src/wire/etcd_rpc.h) against a real
 * 3-member etcd cluster started with `wom cluster up` (Debian's etcd-server;
 * skipped when it is not installed: sh scripts/deps.sh cluster). Compiled
 * only where the wire layer is built (gRPC and protobuf-c found). Each test
 * gets a private cluster directory and ports from its pid, offset by 4 from
 * the cluster tests'; the body runs in a child (so gRPC lives only there),
 * and whatever becomes of it, the members are stopped and the directory
 * removed after. Readiness is polled with deadlines, never slept for. */
#include "cluster_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/clock.h"
#include "wire/etcd_rpc.h"

#define SEC 1000000000LL

static struct wom__etcd *connect3(const struct tc *t)
{
    const char *eps[3] = {t->ep[0], t->ep[1], t->ep[2]};
    struct wom__etcd *c = NULL;
    int rc = wom__etcd_connect(eps, 3, 10 * SEC, NULL, &c);
    CHECK_MSG(rc == 0, "connect: %s", wom_err_name(rc));
    return c;
}

static ProtobufCBinaryData bin(const void *p, size_t n)
{
    return (ProtobufCBinaryData){n, (uint8_t *)p};
}

static int put(struct wom__etcd *c, const char *key, const void *v, size_t n, int64_t deadline)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = bin(key, strlen(key));
    req.value = bin(v, n);
    Etcdserverpb__PutResponse *resp = NULL;
    int rc = wom__etcd_put(c, &req, &resp, deadline);
    CHECK(rc != 0 || (resp && resp->header && resp->header->revision > 0));
    wom__etcd_put_free(resp);
    return rc;
}

/* Range [key, end) (end NULL: key alone), retrying while etcd has no
 * leader or the connection fails over; returns the response. */
static Etcdserverpb__RangeResponse *range(struct wom__etcd *c, const char *key, const char *end)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bin(key, strlen(key));
    if (end)
        req.range_end = bin(end, strlen(end));
    int64_t give_up = wom__now_ns() + 20 * SEC;
    for (;;) {
        Etcdserverpb__RangeResponse *resp = NULL;
        int rc = wom__etcd_range(c, &req, &resp, wom__now_ns() + 3 * SEC);
        if (rc == 0)
            return resp;
        CHECK_MSG(rc == WOM_EUNAVAIL || rc == WOM_EUNKNOWN || rc == WOM_ENOTCONN,
                  "range %s: %s", key, wom_err_name(rc));
        CHECK_MSG(wom__now_ns() < give_up, "range %s: still %s", key, wom_err_name(rc));
    }
}

/* ---- round trip ----------------------------------------------------------- */

static void round_trip(const struct tc *t)
{
    struct wom__etcd *c = connect3(t);
    static const size_t sizes[] = {64, 1u << 20};
    for (size_t i = 0; i < 2; i++) {
        size_t n = sizes[i];
        uint8_t *v = malloc(n);
        CHECK(v);
        for (size_t j = 0; j < n; j++)
            v[j] = (uint8_t)(j * 31 + i);
        char key[32];
        snprintf(key, sizeof key, "rt/%zu", n);
        int rc = put(c, key, v, n, wom__now_ns() + 10 * SEC);
        CHECK_MSG(rc == 0, "put %zu B: %s", n, wom_err_name(rc));
        Etcdserverpb__RangeResponse *r = range(c, key, NULL);
        CHECK_EQ(r->n_kvs, 1);
        CHECK_EQ(r->kvs[0]->value.len, n);
        CHECK(!memcmp(r->kvs[0]->value.data, v, n));
        CHECK(r->kvs[0]->key.len == strlen(key) && !memcmp(r->kvs[0]->key.data, key, strlen(key)));
        wom__etcd_range_free(r);
        free(v);
    }
    /* A deadline already past: not sent, so the key stays absent. */
    CHECK_EQ(put(c, "rt/late", "x", 1, wom__now_ns() - 1), WOM_ETIMEDOUT);
    Etcdserverpb__RangeResponse *r = range(c, "rt/late", NULL);
    CHECK_EQ(r->n_kvs, 0);
    wom__etcd_range_free(r);
    /* Over etcd's request limit: refused here, before sending. */
    size_t big = WOM__ETCD_MAX_REQUEST + 1;
    uint8_t *v = calloc(1, big);
    CHECK(v);
    CHECK_EQ(put(c, "rt/big", v, big, wom__now_ns() + 10 * SEC), WOM_EMSGSIZE);
    free(v);
    /* A lease, granted and revoked; revoked again it is gone. */
    Etcdserverpb__LeaseGrantRequest lg = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    lg.ttl = 30;
    Etcdserverpb__LeaseGrantResponse *lr = NULL;
    CHECK_EQ(wom__etcd_lease_grant(c, &lg, &lr, wom__now_ns() + 10 * SEC), 0);
    CHECK(lr->id != 0 && lr->ttl >= 1 && !(lr->error && lr->error[0]));
    Etcdserverpb__LeaseRevokeRequest rv = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    rv.id = lr->id;
    wom__etcd_lease_grant_free(lr);
    Etcdserverpb__LeaseRevokeResponse *rr = NULL;
    CHECK_EQ(wom__etcd_lease_revoke(c, &rv, &rr, wom__now_ns() + 10 * SEC), 0);
    wom__etcd_lease_revoke_free(rr);
    rr = NULL;
    CHECK_EQ(wom__etcd_lease_revoke(c, &rv, &rr, wom__now_ns() + 10 * SEC), WOM_ENOENT);
    CHECK(rr == NULL);
    wom__etcd_close(c);
}

TEST_T(etcd_rpc_put_range_round_trip, T_UNIT, 90) { with_cluster_at(round_trip, 70, 4, 1); }

/* ---- create-if-absent by 8 threads ---------------------------------------- */

#define TXN_THREADS 8

struct txn_arg {
    struct wom__etcd *c;
    pthread_barrier_t *go;
    int id, won;
    char seen[16];
};

static void *txn_thread(void *p)
{
    struct txn_arg *a = p;
    static const char key[] = "txn/once";
    char mine[16];
    snprintf(mine, sizeof mine, "v%d", a->id);
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
    cmp.key = bin(key, strlen(key));
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
    cmp.create_revision = 0;
    Etcdserverpb__PutRequest pr = ETCDSERVERPB__PUT_REQUEST__INIT;
    pr.key = bin(key, strlen(key));
    pr.value = bin(mine, strlen(mine));
    Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rr.key = bin(key, strlen(key));
    Etcdserverpb__RequestOp put_op = ETCDSERVERPB__REQUEST_OP__INIT, get_op = put_op;
    put_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    put_op.request_put = &pr;
    get_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    get_op.request_range = &rr;
    Etcdserverpb__Compare *cmps[] = {&cmp};
    Etcdserverpb__RequestOp *succ[] = {&put_op}, *fail[] = {&get_op};
    Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
    req.n_compare = 1;
    req.compare = cmps;
    req.n_success = 1;
    req.success = succ;
    req.n_failure = 1;
    req.failure = fail;
    pthread_barrier_wait(a->go);
    Etcdserverpb__TxnResponse *resp = NULL;
    int rc = wom__etcd_txn(a->c, &req, &resp, wom__now_ns() + 10 * SEC);
    CHECK_MSG(rc == 0, "txn %d: %s", a->id, wom_err_name(rc));
    a->won = resp->succeeded;
    if (a->won) {
        snprintf(a->seen, sizeof a->seen, "%s", mine);
    } else {
        CHECK(resp->n_responses == 1);
        const Etcdserverpb__ResponseOp *op = resp->responses[0];
        CHECK(op->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE);
        CHECK(op->response_range->n_kvs == 1);
        const ProtobufCBinaryData *v = &op->response_range->kvs[0]->value;
        CHECK(v->len < sizeof a->seen);
        memcpy(a->seen, v->data, v->len);
        a->seen[v->len] = 0;
    }
    wom__etcd_txn_free(resp);
    return NULL;
}

static void txn_once(const struct tc *t)
{
    struct wom__etcd *c = connect3(t);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, TXN_THREADS);
    struct txn_arg a[TXN_THREADS];
    pthread_t th[TXN_THREADS];
    for (int i = 0; i < TXN_THREADS; i++) {
        a[i] = (struct txn_arg){c, &go, i, 0, ""};
        CHECK(pthread_create(&th[i], NULL, txn_thread, &a[i]) == 0);
    }
    int winners = 0;
    for (int i = 0; i < TXN_THREADS; i++) {
        pthread_join(th[i], NULL);
        winners += a[i].won;
    }
    CHECK_EQ(winners, 1);
    for (int i = 1; i < TXN_THREADS; i++)
        CHECK_MSG(!strcmp(a[i].seen, a[0].seen), "thread %d saw %s, thread 0 %s", i, a[i].seen,
                  a[0].seen);
    Etcdserverpb__RangeResponse *r = range(c, "txn/once", NULL);
    CHECK(r->n_kvs == 1 && r->kvs[0]->value.len == strlen(a[0].seen) &&
          !memcmp(r->kvs[0]->value.data, a[0].seen, strlen(a[0].seen)));
    wom__etcd_range_free(r);
    pthread_barrier_destroy(&go);
    wom__etcd_close(c);
}

TEST_T(etcd_rpc_txn_create_if_absent_has_one_winner, T_UNIT, 90) { with_cluster_at(txn_once, 70, 4, 1); }

/* ---- pipelining: 16 threads on one connection ------------------------------ */

#define PIPE_THREADS 16
#define PIPE_PUTS 200

struct pipe_arg {
    struct wom__etcd *c;
    pthread_barrier_t *go;
    int id;
};

static void *pipe_thread(void *p)
{
    struct pipe_arg *a = p;
    char key[32], v[64];
    memset(v, 'a' + a->id, sizeof v);
    pthread_barrier_wait(a->go);
    for (int i = 0; i < PIPE_PUTS; i++) {
        snprintf(key, sizeof key, "pipe/%d/%d", a->id, i);
        int rc = put(a->c, key, v, sizeof v, wom__now_ns() + 10 * SEC);
        CHECK_MSG(rc == 0, "put %s: %s", key, wom_err_name(rc));
    }
    return NULL;
}

static void pipelined(const struct tc *t)
{
    struct wom__etcd *c = connect3(t);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, PIPE_THREADS + 1);
    struct pipe_arg a[PIPE_THREADS];
    pthread_t th[PIPE_THREADS];
    for (int i = 0; i < PIPE_THREADS; i++) {
        a[i] = (struct pipe_arg){c, &go, i};
        CHECK(pthread_create(&th[i], NULL, pipe_thread, &a[i]) == 0);
    }
    pthread_barrier_wait(&go);
    int64_t t0 = wom__now_ns();
    for (int i = 0; i < PIPE_THREADS; i++)
        pthread_join(th[i], NULL);
    double s = (double)(wom__now_ns() - t0) / 1e9;
    /* One at a time, for comparison. */
    int64_t t1 = wom__now_ns();
    for (int i = 0; i < PIPE_PUTS; i++)
        CHECK_EQ(put(c, "pipe/serial", "x", 1, wom__now_ns() + 10 * SEC), 0);
    double s1 = (double)(wom__now_ns() - t1) / 1e9;
    printf("    %d threads x %d puts of 64 B on one connection: %.0f ops/s (one thread: "
           "%.0f ops/s)\n",
           PIPE_THREADS, PIPE_PUTS, PIPE_THREADS * PIPE_PUTS / s, PIPE_PUTS / s1);
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bin("pipe/", 5);
    req.range_end = bin("pipe0", 5);
    req.count_only = 1;
    Etcdserverpb__RangeResponse *r = NULL;
    CHECK_EQ(wom__etcd_range(c, &req, &r, wom__now_ns() + 10 * SEC), 0);
    CHECK_EQ(r->count, PIPE_THREADS * PIPE_PUTS + 1);
    wom__etcd_range_free(r);
    pthread_barrier_destroy(&go);
    wom__etcd_close(c);
}

TEST_T(etcd_rpc_pipelined_puts_from_16_threads, T_UNIT, 120) { with_cluster_at(pipelined, 100, 4, 1); }

/* ---- failover: SIGKILL the member the connection talks to ------------------ */

#define FO_THREADS 8
#define FO_AFTER 60 /* successful puts per thread after the kill */
#define FO_MAX 4000

struct fo_arg {
    struct wom__etcd *c;
    atomic_int *killed, *progress;
    int id, n;
    int rc[FO_MAX];
    int after_ok; /* successes that started after the kill was seen */
};

static void *fo_thread(void *p)
{
    struct fo_arg *a = p;
    char key[32];
    int64_t give_up = wom__now_ns() + 40 * SEC;
    while (a->n < FO_MAX && a->after_ok < FO_AFTER && wom__now_ns() < give_up) {
        int killed = atomic_load_explicit(a->killed, memory_order_acquire); /* pairs with the kill's store */
        snprintf(key, sizeof key, "fo/%d/%d", a->id, a->n);
        int rc = put(a->c, key, key, strlen(key), wom__now_ns() + 3 * SEC);
        CHECK_MSG(rc == 0 || rc == WOM_EUNKNOWN || rc == WOM_EUNAVAIL || rc == WOM_ENOTCONN ||
                      rc == WOM_ETIMEDOUT,
                  "put %s: %s", key, wom_err_name(rc));
        a->rc[a->n++] = rc;
        atomic_fetch_add_explicit(a->progress, 1, memory_order_relaxed); /* a count only */
        if (rc == 0 && killed)
            a->after_ok++;
    }
    return NULL;
}

static int cmp_key(const void *x, const void *y)
{
    const Mvccpb__KeyValue *const *a = x, *const *b = y;
    size_t n = (*a)->key.len < (*b)->key.len ? (*a)->key.len : (*b)->key.len;
    int d = memcmp((*a)->key.data, (*b)->key.data, n);
    return d ? d : ((*a)->key.len > (*b)->key.len) - ((*a)->key.len < (*b)->key.len);
}

static void failover(const struct tc *t)
{
    struct wom__etcd *c = connect3(t);
    atomic_int killed = 0, progress = 0;
    static struct fo_arg a[FO_THREADS];
    pthread_t th[FO_THREADS];
    for (int i = 0; i < FO_THREADS; i++) {
        a[i] = (struct fo_arg){.c = c, .killed = &killed, .progress = &progress, .id = i};
        CHECK(pthread_create(&th[i], NULL, fo_thread, &a[i]) == 0);
    }
    /* Kill once the run is well under way: poll for 100 calls done. */
    for (int64_t until = wom__now_ns() + 20 * SEC;;) {
        if (atomic_load_explicit(&progress, memory_order_relaxed) >= 100 ||
            wom__now_ns() > until)
            break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL); /* polling a progress hint, not synchronisation */
    }
    size_t ep = wom__etcd_endpoint(c);
    pid_t victim = member_pid(t, (unsigned)ep + 1);
    CHECK(victim > 0);
    int fd = pidfd_open(victim, 0);
    CHECK(fd >= 0 && kill(victim, SIGKILL) == 0);
    struct pollfd pf = {fd, POLLIN, 0};
    CHECK_MSG(poll(&pf, 1, 10000) == 1, "m%zu did not die of SIGKILL", ep + 1);
    close(fd);
    int64_t t_kill = wom__now_ns();
    atomic_store_explicit(&killed, 1, memory_order_release); /* pairs with fo_thread's load */
    for (int i = 0; i < FO_THREADS; i++)
        pthread_join(th[i], NULL);
    double took = (double)(wom__now_ns() - t_kill) / 1e9;
    size_t now_ep = wom__etcd_endpoint(c);
    CHECK_MSG(now_ep != ep, "still on endpoint %zu after its member was killed", ep);
    int counts[5] = {0}, total = 0; /* ok, unknown, unavail, notconn, timedout */
    for (int i = 0; i < FO_THREADS; i++) {
        CHECK_MSG(a[i].after_ok >= FO_AFTER, "thread %d: only %d puts after the kill", i,
                  a[i].after_ok);
        for (int j = 0; j < a[i].n; j++, total++) {
            int rc = a[i].rc[j];
            counts[rc == 0 ? 0 : rc == WOM_EUNKNOWN ? 1 : rc == WOM_EUNAVAIL ? 2
                   : rc == WOM_ENOTCONN ? 3 : 4]++;
        }
    }
    printf("    killed m%zu; now on m%zu; %d puts: %d ok, %d unknown, %d unavailable, %d not "
           "connected, %d timed out; %d ok per thread after the kill took %.2f s\n",
           ep + 1, now_ep + 1, total, counts[0], counts[1], counts[2], counts[3], counts[4],
           FO_AFTER, took);
    /* Every put that returned 0 is there; the others may or may not be. */
    Etcdserverpb__RangeResponse *r = range(c, "fo/", "fo0");
    qsort(r->kvs, r->n_kvs, sizeof *r->kvs, cmp_key);
    for (int i = 0; i < FO_THREADS; i++)
        for (int j = 0; j < a[i].n; j++) {
            if (a[i].rc[j] != 0)
                continue;
            char key[32];
            snprintf(key, sizeof key, "fo/%d/%d", i, j);
            Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT, *k = &kv;
            kv.key = bin(key, strlen(key));
            Mvccpb__KeyValue **hit = bsearch(&k, r->kvs, r->n_kvs, sizeof *r->kvs, cmp_key);
            CHECK_MSG(hit, "%s returned 0 but is not there", key);
            CHECK((*hit)->value.len == strlen(key) && !memcmp((*hit)->value.data, key, strlen(key)));
        }
    wom__etcd_range_free(r);
    wom__etcd_close(c);
}

TEST_T(etcd_rpc_fails_over_when_its_member_is_killed, T_UNIT, 120)
{
    with_cluster_at(failover, 100, 4, 1);
}

/* ---- nothing listening ----------------------------------------------------- */

/* A port bound but not listening (kept bound, so nobody else takes it): a
 * connection is refused, and connect gives up with WOM_ENOTCONN in time. */
TEST_T(etcd_rpc_connect_to_nothing_is_enotconn, T_UNIT, 30)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    CHECK(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(getsockname(s, (struct sockaddr *)&sa, &len) == 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", ntohs(sa.sin_port));
    const char *eps[2] = {ep, ep};
    struct wom__etcd *c = NULL;
    int64_t t0 = wom__now_ns();
    CHECK_EQ(wom__etcd_connect(eps, 2, SEC / 2, NULL, &c), WOM_ENOTCONN);
    int64_t took = wom__now_ns() - t0;
    CHECK(c == NULL);
    CHECK_MSG(took < SEC / 2 + SEC / 4, "connect took %.3f s for a 0.5 s timeout",
              (double)took / 1e9);
    CHECK_EQ(wom__etcd_connect(eps, 0, SEC, NULL, &c), WOM_EINVAL);
    close(s);
}
