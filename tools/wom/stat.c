/* stat.c - the figures of a space, collected once (cli_collect) and shown
 * two ways: wom stat's live view, redrawn in place on a terminal (tails,
 * rates, channel readers and their lag), and the Prometheus text format
 * that `wom stat --prometheus` prints and `wom exporter` serves. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ==== Collection ========================================================== */

/* What the wom_chan_readers callback adds to. */
struct reader_sink {
    struct cli_figures *f;
    size_t log;
};

static int add_reader(const wom_reader_info *ri, void *arg)
{
    struct reader_sink *rs = arg;
    struct cli_figures *f = rs->f;
    if (f->nreaders == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct cli_reader *nr = realloc(f->readers, cap * sizeof *nr);
        if (!nr)
            return WOM_ENOMEM;
        f->readers = nr;
        f->cap = cap;
    }
    f->readers[f->nreaders++] = (struct cli_reader){rs->log, *ri};
    return 0;
}

/* The index in l of ONCE region `name`, or l->n. */
static size_t once_index(const struct region_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->info[i].mode == WOM_ONCE && !strcmp(l->info[i].name, name))
            return i;
    return l->n;
}

/* The readers of the channel whose readers' cursors are region `acks`
 * (N.acks of channel N). The channel is opened only when the listing holds
 * N and N.seats: opening it creates whatever is missing, and this is a
 * view. A channel whose seats cannot be read (a damaged seat) gives the
 * readers it could read; only running out of memory is an error. */
static int collect_readers(wom_space *s, const wom_region_info *acks, struct cli_figures *f)
{
    char base[WOM_NAME_MAX + 1], seats[WOM_NAME_MAX + 8];
    size_t n = strlen(acks->name) - 5;
    memcpy(base, acks->name, n);
    base[n] = 0;
    snprintf(seats, sizeof seats, "%s.seats", base);
    struct reader_sink rs = {f, once_index(&f->regions, base)};
    wom_chan *ch;
    if (rs.log == f->regions.n || once_index(&f->regions, seats) == f->regions.n ||
        wom_chan_open(s, base, NULL, &ch))
        return 0;
    int err = wom_chan_readers(ch, add_reader, &rs);
    wom_chan_close(ch);
    return err == WOM_ENOMEM ? err : 0;
}

int cli_collect(wom_space *s, struct cli_figures *f)
{
    f->nreaders = 0;
    int err = wom_space_info_get(s, &f->space);
    f->has_space = !err;
    if (err && err != WOM_ENOTSUP)
        return err;
    err = cli_list_regions(s, &f->regions);
    for (size_t i = 0; !err && i < f->regions.n; i++) {
        const wom_region_info *in = &f->regions.info[i];
        size_t n = strlen(in->name);
        if (in->mode == WOM_MANY && n > 5 && !strcmp(in->name + n - 5, ".acks"))
            err = collect_readers(s, in, f);
    }
    return err;
}

void cli_figures_free(struct cli_figures *f)
{
    free(f->regions.info);
    free(f->readers);
    *f = (struct cli_figures){.nreaders = 0};
}

uint64_t cli_reader_lag(const struct cli_figures *f, const struct cli_reader *r)
{
    uint64_t tail = f->regions.info[r->log].tail;
    return r->info.state != WOM_READER_CLOSED && tail > r->info.cursor ? tail - r->info.cursor
                                                                       : 0;
}

/* ==== The terminal view =================================================== */

static uint64_t stat_prev_tail(const struct region_list *prev, const char *name, uint64_t now)
{
    for (size_t i = 0; i < prev->n; i++)
        if (!strcmp(prev->info[i].name, name))
            return prev->info[i].tail;
    return now;
}

static void print_reader(const struct cli_figures *f, const struct cli_reader *r)
{
    const char *name = ESC(f->regions.info[r->log].name);
    const wom_reader_info *ri = &r->info;
    if (ri->state == WOM_READER_CLOSED)
        printf("  %s reader %" PRIu64 ": closed\n", name, ri->seat);
    else if (ri->state == WOM_READER_DEAD)
        printf("  %s reader %" PRIu64 ": dead at cursor %" PRIu64 "\n", name, ri->seat,
               ri->cursor);
    else
        printf("  %s reader %" PRIu64 ": cursor %" PRIu64 ", lag %" PRIu64 "%s\n", name,
               ri->seat, ri->cursor, cli_reader_lag(f, r), ri->bounded ? "" : " (unbounded)");
}

static void stat_print(const struct cli_figures *f, const struct region_list *prev, double dt)
{
    const struct region_list *v = &f->regions;
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
    for (size_t i = 0; i < f->nreaders; i++)
        print_reader(f, &f->readers[i]);
}

static int stat_loop(struct ctx *c, struct cli_figures views[2])
{
    int tty = isatty(STDOUT_FILENO);
    uint64_t count = num_or(c->a, O_COUNT, tty ? UINT64_MAX : 1);
    uint64_t ms = num_or(c->a, O_INTERVAL, 1000);
    double t_prev = cli_now_s();
    for (uint64_t k = 0; k < count; k++) {
        struct cli_figures *v = &views[k % 2], *prev = &views[(k + 1) % 2];
        int err = cli_collect(c->s, v);
        if (err)
            return cli_fail(c->a->cmd, err);
        double t = cli_now_s();
        if (tty)
            printf("\033[H\033[J"); /* redraw in place */
        stat_print(v, k ? &prev->regions : &v->regions, t - t_prev);
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

/* ==== The Prometheus text format (exposition format 0.0.4) ================ */

/* A label value: the name as wom ls shows it (cli_escape: no control byte,
 * valid UTF-8, a backslash doubled), then escaped as the format wants (a
 * backslash and a double quote each behind a backslash; a newline cannot
 * be left after cli_escape). */
static void prom_label(FILE *o, const char *key, const char *raw, int first)
{
    fprintf(o, "%s%s=\"", first ? "{" : ",", key);
    for (const char *p = ESC(raw); *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', o);
        fputc(*p, o);
    }
    fputc('"', o);
}

static void prom_head(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{space="...",region="..."[,mode="..."]} value */
static void prom_region(FILE *o, const char *name, const struct cli_prom_space *sp,
                        const wom_region_info *in, int with_mode, uint64_t value)
{
    fputs(name, o);
    prom_label(o, "space", sp->label, 1);
    prom_label(o, "region", in->name, 0);
    if (with_mode)
        prom_label(o, "mode", in->mode == WOM_ONCE ? "once" : "many", 0);
    fprintf(o, "} %" PRIu64 "\n", value);
}

static const char *const reader_state[] = {"open", "dead", "closed"};

/* name{space=...,channel=...,seat=...,state=...} value */
static void prom_reader(FILE *o, const char *name, const struct cli_prom_space *sp,
                        const struct cli_reader *r, uint64_t value)
{
    char seat[24];
    snprintf(seat, sizeof seat, "%" PRIu64, r->info.seat);
    fputs(name, o);
    prom_label(o, "space", sp->label, 1);
    prom_label(o, "channel", sp->fig->regions.info[r->log].name, 0);
    prom_label(o, "seat", seat, 0);
    prom_label(o, "state", reader_state[r->info.state <= 2 ? r->info.state : 2], 0);
    fprintf(o, "} %" PRIu64 "\n", value);
}

enum region_fig { RF_TAIL, RF_FLOOR, RF_BYTES, RF_MAX_VALUE };
enum reader_fig { DF_CURSOR, DF_LAG, DF_BOUNDED };

static const struct {
    const char *name, *type, *help;
    int once_only, with_mode;
} region_figs[] = {
    [RF_TAIL] = {"wom_region_tail", "counter",
                 "Next address an append would take in a ONCE region; it only rises, so "
                 "rate(wom_region_tail[1m]) is the write rate (appends and puts per second).",
                 1, 0},
    [RF_FLOOR] = {"wom_region_floor", "gauge",
                  "Addresses of a ONCE region below this were trimmed.", 1, 0},
    [RF_BYTES] = {"wom_region_bytes", "gauge",
                  "Value bytes a region holds now (after trims and overwrites).", 0, 1},
    [RF_MAX_VALUE] = {"wom_region_max_value_bytes", "gauge",
                      "Largest value a region accepts, in bytes.", 0, 0},
};

static const struct {
    const char *name, *help;
} reader_figs[] = {
    [DF_CURSOR] = {"wom_channel_reader_cursor",
                   "Cursor a channel subscriber last published (it has received every "
                   "address below); open and dead seats."},
    [DF_LAG] = {"wom_channel_reader_lag",
                "Messages between a subscriber's published cursor and its channel's tail; "
                "open and dead seats."},
    [DF_BOUNDED] = {"wom_channel_reader_bounded",
                    "1 if the subscriber holds back the senders of a bounded channel (its "
                    "cursor is published every bound/4 messages), 0 if not (every 1024)."},
};

static uint64_t region_value(const wom_region_info *in, enum region_fig k)
{
    switch (k) {
    case RF_TAIL: return in->tail;
    case RF_FLOOR: return in->floor;
    case RF_BYTES: return in->bytes;
    default: return in->max_value;
    }
}

static uint64_t reader_value(const struct cli_figures *f, const struct cli_reader *r,
                             enum reader_fig k)
{
    switch (k) {
    case DF_CURSOR: return r->info.cursor;
    case DF_LAG: return cli_reader_lag(f, r);
    default: return r->info.bounded != 0;
    }
}

/* The space's own figures (wom_space_info), where the scope has them. */
static const struct {
    const char *name, *help;
    int slots; /* only where the space has process slots (shm:) */
} space_figs[] = {
    {"wom_space_size_bytes", "Bytes of the space's reserved address range.", 0},
    {"wom_space_used_bytes",
     "Bytes of the range allocated so far (header, index, chunks); it only grows.", 0},
    {"wom_space_chunk_bytes", "Bytes of one chunk (values are held in chunks).", 0},
    {"wom_space_free_chunks", "Allocated chunks free for reuse (a hint).", 0},
    {"wom_space_procs", "Process slots held by live processes (shm:).", 1},
    {"wom_space_procs_max", "Process slots there are (shm:).", 1},
};

static uint64_t space_value(const wom_space_info *in, size_t k)
{
    const uint64_t v[] = {in->size, in->used, in->chunk_size, in->free_chunks, in->procs,
                          in->procs_max};
    return v[k];
}

static void prom_space_figs(FILE *o, const struct cli_prom_space *sp, size_t n)
{
    for (size_t k = 0; k < sizeof space_figs / sizeof space_figs[0]; k++) {
        prom_head(o, space_figs[k].name, "gauge", space_figs[k].help);
        for (size_t i = 0; i < n; i++) {
            const struct cli_figures *f = sp[i].fig;
            if (sp[i].err || !f->has_space || (space_figs[k].slots && !f->space.procs_max))
                continue;
            fputs(space_figs[k].name, o);
            prom_label(o, "space", sp[i].label, 1);
            fprintf(o, "} %" PRIu64 "\n", space_value(&f->space, k));
        }
    }
}

static void prom_spaces(FILE *o, const struct cli_prom_space *sp, size_t n)
{
    prom_head(o, "wom_up", "gauge",
              "1 if the space's figures were collected, 0 if it failed (see the "
              "exporter's stderr).");
    for (size_t i = 0; i < n; i++) {
        fputs("wom_up", o);
        prom_label(o, "space", sp[i].label, 1);
        fprintf(o, "} %d\n", sp[i].err == 0);
    }
    prom_head(o, "wom_regions", "gauge", "Regions in the space.");
    for (size_t i = 0; i < n; i++) {
        if (sp[i].err)
            continue;
        fputs("wom_regions", o);
        prom_label(o, "space", sp[i].label, 1);
        fprintf(o, "} %zu\n", sp[i].fig->regions.n);
    }
}

/* wom_channel_readers{space,channel,state}: the seats of each channel that
 * has any, counted by state (every state, 0 too, so that a series does not
 * vanish when its last seat changes state). */
static void prom_seat_counts(FILE *o, const struct cli_prom_space *sp)
{
    const struct cli_figures *f = sp->fig;
    for (size_t i = 0; i < f->nreaders; i++) {
        size_t log = f->readers[i].log, count[3] = {0, 0, 0};
        if (i > 0 && f->readers[i - 1].log == log)
            continue; /* a channel's readers are consecutive: counted at its first */
        for (size_t j = i; j < f->nreaders && f->readers[j].log == log; j++)
            count[f->readers[j].info.state <= 2 ? f->readers[j].info.state : 2]++;
        for (int s = 0; s < 3; s++) {
            fputs("wom_channel_readers", o);
            prom_label(o, "space", sp->label, 1);
            prom_label(o, "channel", f->regions.info[log].name, 0);
            prom_label(o, "state", reader_state[s], 0);
            fprintf(o, "} %zu\n", count[s]);
        }
    }
}

void cli_prom_write(FILE *o, const struct cli_prom_space *sp, size_t n)
{
    prom_spaces(o, sp, n);
    prom_space_figs(o, sp, n);
    for (size_t k = 0; k < sizeof region_figs / sizeof region_figs[0]; k++) {
        prom_head(o, region_figs[k].name, region_figs[k].type, region_figs[k].help);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; !sp[i].err && j < sp[i].fig->regions.n; j++) {
                const wom_region_info *in = &sp[i].fig->regions.info[j];
                if (in->mode == WOM_ONCE || !region_figs[k].once_only)
                    prom_region(o, region_figs[k].name, &sp[i], in, region_figs[k].with_mode,
                                region_value(in, (enum region_fig)k));
            }
    }
    prom_head(o, "wom_channel_readers", "gauge",
              "Seats of a channel's subscribers by state: open, dead (its process died "
              "without closing it), closed.");
    for (size_t i = 0; i < n; i++)
        if (!sp[i].err)
            prom_seat_counts(o, &sp[i]);
    for (size_t k = 0; k < sizeof reader_figs / sizeof reader_figs[0]; k++) {
        prom_head(o, reader_figs[k].name, "gauge", reader_figs[k].help);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; !sp[i].err && j < sp[i].fig->nreaders; j++) {
                const struct cli_reader *r = &sp[i].fig->readers[j];
                if (r->info.state != WOM_READER_CLOSED)
                    prom_reader(o, reader_figs[k].name, &sp[i], r,
                                reader_value(sp[i].fig, r, (enum reader_fig)k));
            }
    }
}

/* ==== wom stat ============================================================ */

static int stat_prometheus(struct ctx *c)
{
    if (has(c->a, O_COUNT) || has(c->a, O_INTERVAL))
        return cli_usage_error(c->a->cmd, "--prometheus prints once: no --count or --interval");
    struct cli_figures f = {.nreaders = 0};
    int err = cli_collect(c->s, &f);
    if (err) {
        cli_figures_free(&f);
        return cli_fail(c->a->cmd, err);
    }
    struct cli_prom_space sp = {c->a->pos[0], 0, &f};
    cli_prom_write(stdout, &sp, 1);
    cli_figures_free(&f);
    return cli_finish_stdout();
}

int cli_stat(struct ctx *c)
{
    if (has(c->a, O_PROMETHEUS))
        return stat_prometheus(c);
    struct cli_figures views[2] = {{.nreaders = 0}, {.nreaders = 0}};
    int rc = stat_loop(c, views);
    cli_figures_free(&views[0]);
    cli_figures_free(&views[1]);
    return rc;
}
