/*
 * wom_io.h - one wom channel message each way, shared by the in-process
 * (t_wom.c) and cross-process (t_ipc.c) benchmarks, so both measure the
 * same calls: copy (wom_chan_send / wom_sub_recv), view (recv_view) or
 * zero copy (a loan written in place, received as a view).
 */
#ifndef WOM_BENCH_WOM_IO_H
#define WOM_BENCH_WOM_IO_H

#include "bench.h"
#include "wom.h"

/* The forms are referenced weakly, so a library built without them still
 * runs the other rows (which then say why they were skipped). */
#pragma weak wom_chan_open
#pragma weak wom_chan_close
#pragma weak wom_chan_send
#pragma weak wom_sub_open
#pragma weak wom_sub_close
#pragma weak wom_sub_recv
#pragma weak wom_sub_recv_view
#pragma weak wom_chan_loan
#pragma weak wom_chan_send_loan
#pragma weak wom_loan_cancel
#pragma weak wom_chan_send_many
#pragma weak wom_sub_recv_views

enum womc_mode { WOMC_COPY = 0, WOMC_VIEW = 1, WOMC_ZERO_COPY = 2 };

static inline int womc_fail(const char *who, const char *what, int rc)
{
    return bench_fail(who, what, rc, wom_strerror(rc));
}

/* Send message seq of size bytes (out is the copy mode's buffer). */
static inline int womc_send(wom_chan *ch, enum womc_mode mode, char *out, size_t size,
                            uint64_t seq, const char *who)
{
    int rc;
    if (mode == WOMC_ZERO_COPY) {
        wom_loan l;
        if ((rc = wom_chan_loan(ch, size, &l)))
            return womc_fail(who, "wom_chan_loan", rc);
        bench_msg_fill(l.data, size, seq);
        if ((rc = wom_chan_send_loan(ch, &l, -1, NULL))) {
            wom_loan_cancel(&l);
            return womc_fail(who, "wom_chan_send_loan", rc);
        }
        return 0;
    }
    bench_msg_fill(out, size, seq);
    rc = wom_chan_send(ch, out, size, -1, NULL);
    return rc ? womc_fail(who, "wom_chan_send", rc) : 0;
}

/* Receive the next message and check that it is message seq. */
static inline int womc_recv(wom_sub *sub, enum womc_mode mode, char *in, size_t size,
                            uint64_t seq, const char *who)
{
    int rc;
    if (mode != WOMC_COPY) {
        wom_view v;
        if ((rc = wom_sub_recv_view(sub, &v, NULL, -1)))
            return womc_fail(who, "wom_sub_recv_view", rc);
        int ok = bench_msg_ok(v.data, v.len, size, seq);
        if (!ok)
            bench_bad_msg(who, v.data, v.len, size, seq);
        wom_view_release(&v);
        return ok ? 0 : -1;
    }
    size_t len;
    if ((rc = wom_sub_recv(sub, in, size, &len, NULL, -1)))
        return womc_fail(who, "wom_sub_recv", rc);
    if (!bench_msg_ok(in, len, size, seq))
        return bench_bad_msg(who, in, len, size, seq);
    return 0;
}

#endif
