/* stat.c - wom stat: a live view of a space (tails, rates, channel readers
 * and their lag), redrawn in place on a terminal. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static uint64_t stat_prev_tail(const struct region_list *prev, const char *name, uint64_t now)
{
    for (size_t i = 0; i < prev->n; i++)
        if (!strcmp(prev->info[i].name, name))
            return prev->info[i].tail;
    return now;
}

/* A channel whose readers are printed, and its tail in this view. */
struct stat_chan {
    const char *name; /* escaped */
    uint64_t tail;
};

static int print_reader(const wom_reader_info *ri, void *arg)
{
    const struct stat_chan *sc = arg;
    if (ri->state == WOM_READER_CLOSED)
        printf("  %s reader %" PRIu64 ": closed\n", sc->name, ri->seat);
    else if (ri->state == WOM_READER_DEAD)
        printf("  %s reader %" PRIu64 ": dead at cursor %" PRIu64 "\n", sc->name, ri->seat,
               ri->cursor);
    else
        printf("  %s reader %" PRIu64 ": cursor %" PRIu64 ", lag %" PRIu64 "%s\n", sc->name,
               ri->seat, ri->cursor, sc->tail > ri->cursor ? sc->tail - ri->cursor : 0,
               ri->bounded ? "" : " (unbounded)");
    return 0;
}

/* The readers of the channel whose readers' cursors are region `acks`
 * (N.acks of channel N), with their lag behind N's tail in view v. The
 * channel is opened only when v holds N and N.seats: opening it creates
 * whatever is missing, and this is a view. */
static void stat_readers(struct ctx *c, const wom_region_info *acks, const struct region_list *v)
{
    char base[WOM_NAME_MAX + 1], seats[WOM_NAME_MAX + 8];
    size_t n = strlen(acks->name) - 5;
    memcpy(base, acks->name, n);
    base[n] = 0;
    int sn = snprintf(seats, sizeof seats, "%s.seats", base);
    struct stat_chan sc = {ESC(base), 0};
    for (size_t i = 0; i < v->n; i++)
        if (v->info[i].mode == WOM_ONCE && !strcmp(v->info[i].name, base))
            sc.tail = v->info[i].tail;
    wom_chan *ch;
    if (!cli_listed(v, base, n, WOM_ONCE) || !cli_listed(v, seats, (size_t)sn, WOM_ONCE) ||
        wom_chan_open(c->s, base, NULL, &ch))
        return;
    (void)wom_chan_readers(ch, print_reader, &sc); /* a damaged seat: the others */
    wom_chan_close(ch);
}

static void stat_print(struct ctx *c, const struct region_list *v, const struct region_list *prev,
                       double dt)
{
    printf("%-24s mode %12s %12s %14s %12s\n", "NAME", "TAIL", "FLOOR", "BYTES", "APPENDS/S");
    for (size_t i = 0; i < v->n; i++) {
        const wom_region_info *in = &v->info[i];
        if (in->mode == WOM_ONCE) {
            uint64_t was = stat_prev_tail(prev, in->name, in->tail);
            printf("%-24s once %12" PRIu64 " %12" PRIu64 " %14" PRIu64 " %12.0f", ESC(in->name),
                   in->tail, in->floor, in->bytes,
                   dt > 0 && in->tail >= was ? (double)(in->tail - was) / dt : 0.0);
        } else {
            printf("%-24s many %12s %12s %14" PRIu64 " %12s", ESC(in->name), "-", "-", in->bytes,
                   "-");
        }
        cli_print_role(in, v);
        putchar('\n');
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t n = strlen(v->info[i].name);
        if (v->info[i].mode == WOM_MANY && n > 5 && !strcmp(v->info[i].name + n - 5, ".acks"))
            stat_readers(c, &v->info[i], v);
    }
}

static int stat_loop(struct ctx *c, struct region_list views[2])
{
    int tty = isatty(STDOUT_FILENO);
    uint64_t count = num_or(c->a, O_COUNT, tty ? UINT64_MAX : 1);
    uint64_t ms = num_or(c->a, O_INTERVAL, 1000);
    double t_prev = cli_now_s();
    for (uint64_t k = 0; k < count; k++) {
        struct region_list *v = &views[k % 2], *prev = &views[(k + 1) % 2];
        int err = cli_list_regions(c->s, v);
        if (err)
            return cli_fail(c->a->cmd, err);
        double t = cli_now_s();
        if (tty)
            printf("\033[H\033[J"); /* redraw in place */
        stat_print(c, v, k ? prev : v, t - t_prev);
        t_prev = t;
        if (cli_finish_stdout())
            return EX_OUTPUT; /* nobody sees the view any more */
        if (k + 1 < count) {
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
            nanosleep(&ts, NULL); /* the refresh period of a display */
        }
    }
    return EX_OK;
}

int cli_stat(struct ctx *c)
{
    struct region_list views[2] = {{0}, {0}};
    int rc = stat_loop(c, views);
    free(views[0].info);
    free(views[1].info);
    return rc;
}
