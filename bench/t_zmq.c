/*
 * t_zmq.c - ZeroMQ PAIR sockets over inproc://, with the plain copying API
 * (zmq_send copies the caller's buffer into a message, zmq_recv copies it
 * out), default high-water marks. One PAIR connection carries both
 * directions of the ping-pong.
 */
#include <stdlib.h>
#include <zmq.h>

#include "bench.h"

struct zpair_ctx {
    size_t size;
    void *zctx;
    void *sock[2]; /* [0] sends dir 0 and receives dir 1; [1] the reverse */
    char *out[2];
    char *in[2];
};

static int zfail(const char *what)
{
    return bench_fail("zmq", what, zmq_errno(), zmq_strerror(zmq_errno()));
}

static void zpair_fini(struct zpair_ctx *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->sock[i]) {
            int zero = 0;
            zmq_setsockopt(c->sock[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(c->sock[i]);
        }
        free(c->out[i]);
        free(c->in[i]);
    }
    if (c->zctx)
        zmq_ctx_term(c->zctx);
}

static int zpair_init(struct zpair_ctx *c, size_t size, int duplex)
{
    (void)duplex;
    memset(c, 0, sizeof *c);
    c->size = size;
    for (int i = 0; i < 2; i++) {
        c->out[i] = bench_buf_new(size);
        c->in[i] = bench_buf_new(size);
        if (!c->out[i] || !c->in[i]) {
            zpair_fini(c);
            return -1;
        }
    }
    c->zctx = zmq_ctx_new();
    if (!c->zctx)
        return zfail("zmq_ctx_new");
    c->sock[0] = zmq_socket(c->zctx, ZMQ_PAIR);
    c->sock[1] = zmq_socket(c->zctx, ZMQ_PAIR);
    if (!c->sock[0] || !c->sock[1] || zmq_bind(c->sock[1], "inproc://wom-bench") ||
        zmq_connect(c->sock[0], "inproc://wom-bench")) {
        zfail("zmq PAIR setup");
        zpair_fini(c);
        return -1;
    }
    return 0;
}

static inline int zpair_send(struct zpair_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    if (zmq_send(c->sock[dir], c->out[dir], c->size, 0) != (int)c->size)
        return zfail("zmq_send");
    return 0;
}

static inline int zpair_recv(struct zpair_ctx *c, int dir, uint64_t seq)
{
    int n = zmq_recv(c->sock[!dir], c->in[dir], c->size, 0);
    if (n < 0)
        return zfail("zmq_recv");
    if (!bench_msg_ok(c->in[dir], (size_t)n, c->size, seq))
        return bench_bad_msg("zmq", c->in[dir], (size_t)n, c->size, seq);
    return 0;
}

BENCH_DRIVERS(zpair)

const struct bench_transport bt_zmq = {"zmq inproc PAIR", "copy in+out, sleeps", NULL,
                                         zpair_tput, zpair_rtt};
