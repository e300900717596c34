/* recv.c - wom recv: read a channel, or a plain log, one message per line. */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

/* What wom recv reads: a subscription when REGION is a channel already (it
 * has REGION.seats), else REGION itself as a plain log. A subscription takes
 * a seat that holds no sender back, only so that wom stat can show this
 * reader's lag; on a plain log nothing is created, because opening a channel
 * would create REGION.seats and REGION.acks and fix the channel's bound for
 * good (unbounded), before the program that owns it could choose one. */
struct reader {
    wom_chan *ch;
    wom_sub *sub;
    wom_region *log; /* plain log, when sub is NULL */
    uint64_t next;   /* plain log: the next address to read */
};

/* Whether region `name` of s is a channel already. */
static int is_channel(wom_space *s, const char *name, int *yes)
{
    char seats[WOM_NAME_MAX + 8];
    struct region_list l = {0};
    int n = snprintf(seats, sizeof seats, "%s.seats", name);
    int err = n > WOM_NAME_MAX ? 0 : cli_list_regions(s, &l);
    *yes = !err && n <= WOM_NAME_MAX && cli_listed(&l, seats, (size_t)n, WOM_ONCE);
    free(l.info);
    return err;
}

static int reader_open(wom_space *s, const char *name, uint64_t from, struct reader *rd)
{
    int chan;
    int err = is_channel(s, name, &chan);
    *rd = (struct reader){.next = from};
    if (err || !chan)
        return err ? err : wom_region_open(s, name, WOM_ONCE, &rd->log);
    if ((err = wom_chan_open(s, name, NULL, &rd->ch)))
        return err;
    wom_sub_opts so = WOM_SUB_OPTS_INIT;
    so.from = from;
    so.bounded = 0; /* a command-line reader never holds senders back */
    return wom_sub_open(rd->ch, &so, &rd->sub);
}

static void reader_close(struct reader *rd)
{
    wom_sub_close(rd->sub);
    wom_chan_close(rd->ch);
    wom_region_close(rd->log);
}

/* The next message, as wom_sub_recv_view: a plain log skips trimmed and
 * abandoned addresses the same way. */
static int reader_next(struct reader *rd, wom_view *v, uint64_t *addr, int64_t timeout)
{
    if (rd->sub)
        return wom_sub_recv_view(rd->sub, v, addr, timeout);
    for (;;) {
        int err = wom_get_view(rd->log, rd->next, v, timeout);
        if (!err) {
            *addr = rd->next++;
            return 0;
        }
        if (err == WOM_EABANDONED) {
            rd->next++;
            continue;
        }
        wom_region_info in;
        if (err != WOM_ETRIMMED || (err = wom_region_info_get(rd->log, &in)))
            return err;
        if (in.floor <= rd->next) /* not a trim a reader can skip */
            return WOM_ETRIMMED;
        rd->next = in.floor;
    }
}

/* Print one received message as a line, with its address when asked. */
static void print_message(const struct args *a, uint64_t addr, const wom_view *v)
{
    if (has(a, O_ADDR))
        printf("%" PRIu64 "\t", addr);
    cli_put_bytes(v->data, v->len);
    putchar('\n');
}

/* Receive until --count messages, or until none arrives within the timeout
 * (0 without --follow, forever with it, unless --timeout says). */
static int recv_loop(const struct args *a, struct reader *rd)
{
    uint64_t want = num_or(a, O_COUNT, UINT64_MAX), got = 0;
    int64_t timeout = ms_to_ns(num_or(a, O_TIMEOUT, has(a, O_FOLLOW) ? MS_FOREVER : 0));
    while (got < want) {
        wom_view v;
        uint64_t addr;
        int err = reader_next(rd, &v, &addr, timeout);
        if (err == WOM_EEMPTY || err == WOM_ETIMEDOUT)
            return has(a, O_COUNT) ? cli_fail(a->cmd, err) : cli_finish_stdout();
        if (err)
            return cli_fail(a->cmd, err);
        print_message(a, addr, &v);
        wom_view_release(&v);
        got++;
        if ((has(a, O_FOLLOW) || ferror(stdout)) && cli_finish_stdout())
            return EX_OUTPUT; /* nobody reads what follows */
    }
    return cli_finish_stdout();
}

int cli_recv(struct ctx *c)
{
    struct reader rd;
    int err = reader_open(c->s, c->a->pos[1], num_or(c->a, O_FROM, 0), &rd);
    int rc = err ? cli_fail(c->a->cmd, err) : recv_loop(c->a, &rd);
    reader_close(&rd);
    return rc;
}
