/*
 * t_nng.c - NNG pair1 sockets over inproc://, with the plain copying API
 * (nng_send copies the caller's buffer, nng_recv copies into the caller's
 * buffer). The receive buffer holds 1024 messages, like the Go channel's
 * capacity. One pair connection carries both directions of the ping-pong.
 */
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdlib.h>

#include "bench.h"

struct npair_ctx {
    size_t size;
    nng_socket sock[2]; /* [0] sends dir 0 and receives dir 1; [1] the reverse */
    int open[2];
    char *out[2];
    char *in[2];
};

static void npair_fini(struct npair_ctx *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->open[i])
            nng_close(c->sock[i]);
        free(c->out[i]);
        free(c->in[i]);
    }
}

static int npair_init(struct npair_ctx *c, size_t size, int duplex)
{
    (void)duplex;
    memset(c, 0, sizeof *c);
    c->size = size;
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        c->out[i] = bench_buf_new(size);
        c->in[i] = bench_buf_new(size);
        if (!c->out[i] || !c->in[i])
            rc = NNG_ENOMEM;
        else if (!(rc = nng_pair1_open(&c->sock[i]))) {
            c->open[i] = 1;
            rc = nng_socket_set_int(c->sock[i], NNG_OPT_RECVBUF, 1024);
        }
    }
    if (!rc)
        rc = nng_listen(c->sock[1], "inproc://wom-bench", NULL, 0);
    if (!rc)
        rc = nng_dial(c->sock[0], "inproc://wom-bench", NULL, 0);
    if (rc) {
        bench_fail("nng", "pair1 setup", rc, nng_strerror(rc));
        npair_fini(c);
        return -1;
    }
    return 0;
}

static inline int npair_send(struct npair_ctx *c, int dir, uint64_t seq)
{
    bench_msg_fill(c->out[dir], c->size, seq);
    int rc = nng_send(c->sock[dir], c->out[dir], c->size, 0);
    return rc ? bench_fail("nng", "nng_send", rc, nng_strerror(rc)) : 0;
}

static inline int npair_recv(struct npair_ctx *c, int dir, uint64_t seq)
{
    size_t len = c->size;
    int rc = nng_recv(c->sock[!dir], c->in[dir], &len, 0);
    if (rc)
        return bench_fail("nng", "nng_recv", rc, nng_strerror(rc));
    if (!bench_msg_ok(c->in[dir], len, c->size, seq))
        return bench_bad_msg("nng", c->in[dir], len, c->size, seq);
    return 0;
}

BENCH_DRIVERS(npair)

const struct bench_transport bt_nng = {"nng inproc pair1", "copy in+out, sleeps", NULL,
                                         npair_tput, npair_rtt};
