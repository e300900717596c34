/*
 * mirror.c - wom mirror: follow a ONCE region of one space (a cluster's,
 * typically) into a region of the same name in another (a host's shm:
 * space), so that the processes of that host read it at shared-memory
 * speed, zero-copy, through a read-only open.
 *
 * Cell a of the source is put at address a of the destination, so every
 * address means the same in both: a channel's addresses, a subscriber's
 * cursor and a recv --from work unchanged on the mirror. The mirror copies
 * in address order from one cursor, so the destination holds every address
 * below its tail (except those the source trimmed or lost to a dead
 * appender), and its tail is where a restarted mirror resumes (or its
 * last sync's mark, below, if lower): the state of a mirror is its
 * destination, and killing it at any instant loses nothing.
 * A put that finds its cell written with the same bytes (a second mirror,
 * or the last put of a killed one) is a success; with other bytes it means
 * the destination is not a mirror of this source, and the mirror stops.
 *
 * Trims are mirrored: when the source's floor rises (the mirror meets
 * WOM_ETRIMMED, or sees the floor move when it looks, every FLOOR_EVERY
 * cells and at each idle wait), the destination is trimmed to it, so a
 * mirror of a channel with retention stays bounded, and a reader of the
 * mirror sees what a reader of the source would: WOM_ETRIMMED, never a
 * value the source no longer has.
 *
 * A channel needs only its log: a read-only space lets wom_chan_open and
 * wom_sub_open find the log without N.seats and N.acks (unbounded, no
 * seat), and wom recv reads it as a plain log. The seats are the source's
 * subscribers (their holders are processes of another scope) and the bound
 * binds the source's senders, so neither means anything on the mirror.
 *
 * Durability: the destination is synced (wom_sync) at most every SYNC_NS
 * while cells come, whenever the source goes quiet, and when the mirror
 * stops; after each sync the address it covers (everything below it was
 * put before the sync) is stored in cell 0 of the MANY region NAME.mirror
 * of the destination. A restart resumes at the lower of that mark and the
 * destination's tail, so after a crash of the host, whose file may have
 * kept the tail but lost cells written after the last sync, the mirror
 * puts those again: its resume point is never ahead of what was synced.
 * (Without the mark, for a NAME too long to have one or a destination of
 * an older mirror, it resumes at the tail.)
 *
 * An address the source's appender abandoned (WOM_EABANDONED, shm:) cannot
 * be marked abandoned in the destination (the public API has no call that
 * does it): it is skipped, said on stderr and counted, and stays empty.
 *
 * Only the public API is used, so any scope may be either end.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util/clock.h"

#define MS 1000000LL
/* Longest single wait on the source, so that trims and the deadline are
 * looked at while the source is idle. */
#define SLICE_NS (1000 * MS)
/* Backoff between retries of a scope's transient errors: 10 ms doubling to 1 s. */
#define BACKOFF_MIN_NS (10 * MS)
#define BACKOFF_MAX_NS (1000 * MS)
/* Transient errors are retried at least this long, even with --timeout 0:
 * a member's election takes a few seconds. */
#define RETRY_MIN_NS (30000 * MS)
/* The source's floor is looked at every this many cells copied. */
#define FLOOR_EVERY 1024
/* Cells copied per read of the source's written run. */
#define RUN_MAX 64
/* The destination is synced at least this often while cells come. */
#define SYNC_NS (1000 * MS)
/* NAME.mirror: the mark region's name. */
#define MARK_SUFFIX ".mirror"

struct mirror {
    const char *cmd, *name;
    wom_space *src, *dst;
    wom_region *sr, *dr;
    wom_region *mark;   /* NAME.mirror in the destination (MANY), or NULL */
    uint64_t next;      /* the next source address to copy */
    uint64_t synced;    /* every address below it was synced (and marked) */
    int64_t sync_ns;    /* when the destination was last synced */
    uint64_t floor;     /* the destination's floor as last trimmed or read */
    uint64_t copied;    /* cells copied by this run */
    uint64_t abandoned; /* addresses skipped: their appender died (shm:) */
    int64_t idle_ns;    /* --timeout: end after this long without a cell; < 0 never */
    int64_t last_ns;    /* when the last cell was copied (or the mirror began) */
    int64_t fail_ns;    /* when the current run of transient errors began; 0 none */
    int64_t pause_ns;   /* the next backoff */
    int quiet_retry;    /* the current run of transient errors was reported */
};

/* Errors that say a remote scope could not answer (or not say what it
 * did): reads are idempotent and so is a mirror's put, so they are retried. */
static int transient(int err)
{
    return err == WOM_ENOTCONN || err == WOM_EUNKNOWN || err == WOM_EUNAVAIL ||
           err == WOM_ETIMEDOUT;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL); /* a backoff, not a synchronisation */
}

/* Decide what to do after transient error err: 0 to retry (after a pause),
 * or err when retries have run out: past the idle deadline and at least
 * RETRY_MIN_NS after the first error of the run. Says so on stderr once. */
static int retry_or_fail(struct mirror *m, const char *what, int err)
{
    int64_t now = wom__now_ns();
    if (!m->fail_ns) {
        m->fail_ns = now;
        m->pause_ns = BACKOFF_MIN_NS;
    }
    int idle_over = m->idle_ns >= 0 && now - m->last_ns >= m->idle_ns;
    if (idle_over && now - m->fail_ns >= RETRY_MIN_NS)
        return err;
    if (!m->quiet_retry) {
        fprintf(stderr, "wom: %s: %s at address %" PRIu64 ": %s (%s); retrying\n", m->cmd,
                what, m->next, wom_strerror(err), wom_err_name(err));
        m->quiet_retry = 1;
    }
    sleep_ns(m->pause_ns);
    m->pause_ns = m->pause_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : m->pause_ns * 2;
    return 0;
}

/* The error run is over: say so if it was reported. */
static void retry_ended(struct mirror *m)
{
    if (m->quiet_retry)
        fprintf(stderr, "wom: %s: answered again; next address %" PRIu64 "\n", m->cmd, m->next);
    m->fail_ns = 0;
    m->quiet_retry = 0;
}

/* ==== Opening both ends =================================================== */

struct find {
    const char *name;
    wom_region_info in;
    int found;
};

static int find_region(const wom_region_info *in, void *arg)
{
    struct find *f = arg;
    if (strcmp(in->name, f->name))
        return 0;
    f->in = *in;
    f->found = 1;
    return 1;
}

/* Open the source region without creating it (a mirror must not make a
 * region appear in the space it reads): it must be listed, and ONCE. A
 * scope that cannot list its regions is opened as it is. */
static int open_source(struct mirror *m)
{
    struct find f = {.name = m->name};
    int err = wom_regions(m->src, find_region, &f);
    if (err < 0 && err != WOM_ENOTSUP)
        return err;
    if (err != WOM_ENOTSUP && !f.found) {
        fprintf(stderr, "wom: %s: the source has no region '%s'\n", m->cmd, ESC(m->name));
        return WOM_ENOENT;
    }
    if (f.found && f.in.mode != WOM_ONCE) {
        fprintf(stderr, "wom: %s: '%s' is a MANY region; only ONCE regions are mirrored\n",
                m->cmd, ESC(m->name));
        return WOM_EMODE;
    }
    return wom_region_open(m->src, m->name, WOM_ONCE, &m->sr);
}

/* Open (or create) NAME.mirror in the destination and read its mark into
 * *mark: UINT64_MAX when there is none yet (a new mark region, or none at
 * all for a NAME too long to have one). */
static int open_mark(struct mirror *m, uint64_t *mark)
{
    char name[WOM_NAME_MAX + 1];
    *mark = UINT64_MAX;
    if (strlen(m->name) + strlen(MARK_SUFFIX) > WOM_NAME_MAX) {
        fprintf(stderr, "wom: %s: '%s' is too long for a mark region ('%s" MARK_SUFFIX "'): "
                        "a restart after a crash of this host resumes at the destination's tail\n",
                m->cmd, ESC(m->name), ESC(m->name));
        return 0;
    }
    snprintf(name, sizeof name, "%s" MARK_SUFFIX, m->name);
    int err = m->mark ? 0 : wom_region_open(m->dst, name, WOM_MANY, &m->mark);
    if (err == WOM_ENOENT || err == WOM_EROFS)
        return 0; /* a read-only destination: nothing will be written either */
    uint64_t v, version;
    size_t len;
    if (!err)
        err = wom_load(m->mark, 0, &v, sizeof v, &len, &version);
    if (!err && version > 0 && len == sizeof v)
        *mark = v;
    else if (!err && version > 0)
        err = WOM_ECORRUPT; /* not a mark of ours */
    return err == WOM_ENOBUFS ? WOM_ECORRUPT : err;
}

/* Sync the destination, then mark what the sync covers: every address
 * below m->next was put before it. A scope that cannot fail to be durable
 * (mem:, a cluster) syncs as a no-op. */
static int sync_mark(struct mirror *m)
{
    uint64_t upto = m->next;
    m->sync_ns = wom__now_ns();
    if (upto == m->synced)
        return 0;
    int err = wom_sync(m->dst);
    if (!err && m->mark)
        err = wom_store(m->mark, 0, &upto, sizeof upto, NULL);
    if (!err)
        m->synced = upto;
    return err;
}

/* Open (or create) the destination region with the source's value limit;
 * an existing one must accept every value the source can hold. */
static int open_dest(struct mirror *m)
{
    wom_region_info si, di;
    int err = wom_region_info_get(m->sr, &si);
    wom_region_opts o = WOM_REGION_OPTS_INIT;
    o.max_value = si.max_value;
    if (!err)
        err = wom_region_open_opts(m->dst, m->name, WOM_ONCE, &o, &m->dr);
    if (!err)
        err = wom_region_info_get(m->dr, &di);
    if (err)
        return err;
    if (di.max_value < si.max_value) {
        fprintf(stderr, "wom: %s: the destination's '%s' takes values up to %zu bytes, the "
                        "source's up to %zu\n", m->cmd, ESC(m->name), di.max_value, si.max_value);
        return WOM_EMSGSIZE;
    }
    /* Resume at the destination's tail: every address below it was copied
     * (the mirror copies in order), or trimmed; but not past the mark,
     * below which every cell was synced (the tail may not have been). */
    m->floor = di.floor;
    m->next = di.tail > di.floor ? di.tail : di.floor;
    uint64_t mark;
    if ((err = open_mark(m, &mark)))
        return err;
    if (mark < m->next)
        m->next = mark > di.floor ? mark : di.floor;
    m->synced = m->next;
    m->sync_ns = wom__now_ns();
    return 0;
}

/* ==== Copying ============================================================== */

/* Whether destination cell addr holds exactly v's bytes. */
static int same_bytes(struct mirror *m, uint64_t addr, const wom_view *v, int *same)
{
    wom_view d;
    int err = wom_get_view(m->dr, addr, &d, 0);
    if (err)
        return err;
    *same = d.len == v->len && (d.len == 0 || memcmp(d.data, v->data, d.len) == 0);
    wom_view_release(&d);
    return 0;
}

static int not_a_mirror(struct mirror *m, uint64_t addr)
{
    fprintf(stderr, "wom: %s: address %" PRIu64 " of '%s' holds other bytes in the destination "
                    "than in the source: the destination is not a mirror of this source\n",
            m->cmd, addr, ESC(m->name));
    return WOM_EWRITTEN;
}

/* Put v at addr of the destination: a cell already written with the same
 * bytes counts as copied (idempotent), with others is an error. */
static int put_copy(struct mirror *m, uint64_t addr, const wom_view *v)
{
    for (;;) {
        int same, err = wom_put(m->dr, addr, v->data, v->len);
        if (err == WOM_EWRITTEN && !(err = same_bytes(m, addr, v, &same)))
            return same ? 0 : not_a_mirror(m, addr);
        if (!transient(err))
            return err;
        if ((err = retry_or_fail(m, "writing the destination", err)))
            return err;
    }
}

/* Before resuming, check that the last cell copied matches the source, so
 * that a destination of another source is found at once, not when the
 * source next writes. Trimmed or unreadable ends prove nothing: skipped. */
static int check_resume(struct mirror *m)
{
    if (m->next == 0 || m->next <= m->floor)
        return 0;
    wom_view v;
    int same, err = wom_get_view(m->sr, m->next - 1, &v, 0);
    if (err)
        return err == WOM_EEMPTY ? not_a_mirror(m, m->next - 1) : 0;
    err = same_bytes(m, m->next - 1, &v, &same);
    wom_view_release(&v);
    if (!err && !same)
        return not_a_mirror(m, m->next - 1);
    return 0;
}

/* Follow the source's floor: trim the destination to it and move the
 * cursor there if it was below. */
static int follow_floor(struct mirror *m)
{
    wom_region_info in;
    int err = wom_region_info_get(m->sr, &in);
    if (err || in.floor <= m->floor)
        return err;
    if ((err = wom_trim(m->dr, in.floor)))
        return err;
    m->floor = in.floor;
    if (m->next < in.floor)
        m->next = in.floor;
    return 0;
}

/* After a copy: the cells written already behind it, taken as one run
 * (wom_get_views: on etcd:// one read, not one per cell) and copied in
 * order, at most left. Whatever ends the run (a cell not there yet, a
 * trim, an abandoned cell) is left to the next step, which reads that
 * cell alone; a failed copy returns its error with m->next at that cell. */
static int copy_run(struct mirror *m, uint64_t left)
{
    wom_view vs[RUN_MAX];
    size_t got = 0, i = 0;
    if (left > RUN_MAX)
        left = RUN_MAX;
    if (left == 0 || m->next == 0 || wom_get_views(m->sr, m->next, vs, (size_t)left, &got))
        return 0; /* m->next == 0: the address space wrapped; the run proves nothing */
    int err = 0;
    for (; i < got && !(err = put_copy(m, m->next, &vs[i])); i++) {
        m->next++;
        m->copied++;
    }
    for (size_t j = 0; j < got; j++)
        wom_view_release(&vs[j]);
    if (i)
        m->last_ns = wom__now_ns();
    return err;
}

/* One step: copy address m->next (and the run written behind it, at most
 * left in all), or learn why not. Returns 0 after a copy, WOM_EEMPTY when
 * nothing came within the slice, else an error. */
static int step(struct mirror *m, wom_view *v, uint64_t left)
{
    int64_t now = wom__now_ns(), wait = SLICE_NS;
    if (m->idle_ns >= 0 && m->last_ns + m->idle_ns - now < wait)
        wait = m->last_ns + m->idle_ns - now;
    int err = wom_get_view_next(m->sr, m->next, v, wait > 0 ? wait : 0);
    if (err == WOM_ETIMEDOUT && wait > 0 && wom__now_ns() - now >= wait)
        err = WOM_EEMPTY; /* the slice ran out: nothing came */
    if (err == WOM_EABANDONED) {
        fprintf(stderr, "wom: %s: address %" PRIu64 " was abandoned by its appender in the "
                        "source; it stays empty in the destination\n", m->cmd, m->next);
        m->abandoned++;
        m->next++;
        return 0;
    }
    if (err == WOM_ETRIMMED) {
        uint64_t at = m->next;
        if ((err = follow_floor(m)))
            return err;
        return m->next > at ? 0 : WOM_ETRIMMED; /* not a trim to skip */
    }
    if (err)
        return err;
    if ((err = put_copy(m, m->next, v)))
        return err;
    uint64_t before = m->copied;
    m->next++;
    m->copied++;
    m->last_ns = wom__now_ns();
    err = copy_run(m, left - 1);
    if (!err && before / FLOOR_EVERY != m->copied / FLOOR_EVERY)
        err = follow_floor(m); /* every FLOOR_EVERY copies */
    return err;
}

/* Copy until --count cells, or until none came within --timeout. */
static int run(struct mirror *m, uint64_t want)
{
    wom_view v = WOM_VIEW_INIT;
    int err = 0;
    while (m->copied < want) {
        err = step(m, &v, want - m->copied);
        /* Sync every SYNC_NS while cells come, and when none came. */
        if ((!err && wom__now_ns() - m->sync_ns >= SYNC_NS) || err == WOM_EEMPTY) {
            int e = sync_mark(m);
            err = e ? e : err;
        }
        /* Nothing came: look at the source's floor (which also shows that
         * the source answers), then at the deadline. */
        if (err == WOM_EEMPTY && !(err = follow_floor(m)) && m->idle_ns >= 0 &&
            wom__now_ns() - m->last_ns >= m->idle_ns)
            break;
        if (!err)
            retry_ended(m);
        else if (!transient(err) || (err = retry_or_fail(m, "reading the source", err)))
            break;
    }
    wom_view_release(&v);
    return err;
}

/* Open both regions and find where to resume; each step is done once, so
 * that a transient error of a cluster is retried from where it happened. */
static int start(struct mirror *m)
{
    int err = m->sr ? 0 : open_source(m);
    if (!err && !m->dr)
        err = open_dest(m);
    if (!err)
        err = check_resume(m);
    return err ? err : follow_floor(m);
}

static int mirror(struct mirror *m, const struct args *a)
{
    int err;
    while ((err = start(m)) && transient(err))
        if ((err = retry_or_fail(m, "starting", err)))
            return err;
    if (err)
        return err;
    retry_ended(m);
    fprintf(stderr, "wom: %s: '%s' from address %" PRIu64 "\n", m->cmd, ESC(m->name), m->next);
    uint64_t want = num_or(a, O_COUNT, UINT64_MAX);
    err = run(m, want);
    while (!err && (err = sync_mark(m)) && transient(err)) /* what it says it copied is synced */
        err = retry_or_fail(m, "syncing the destination", err);
    if (err)
        return err;
    printf("%" PRIu64 " cells copied, next address %" PRIu64, m->copied, m->next);
    if (m->abandoned)
        printf(", %" PRIu64 " abandoned in the source left empty", m->abandoned);
    putchar('\n');
    return m->copied < want && has(a, O_COUNT) ? WOM_ETIMEDOUT : 0;
}

int cli_mirror(struct ctx *c)
{
    const struct args *a = c->a;
    struct mirror m = {.cmd = a->cmd, .name = a->pos[1]};
    m.idle_ns = ms_to_ns(num_or(a, O_TIMEOUT, MS_FOREVER));
    m.last_ns = wom__now_ns();
    int err;
    /* A mirror started before its cluster (at boot) waits for it. */
    while ((err = wom_open(a->pos[0], &m.src)) && transient(err))
        if (retry_or_fail(&m, "opening the source", err))
            break;
    if (err)
        return cli_open_failed(a->pos[0], err);
    if ((err = wom_open(a->pos[2], &m.dst))) {
        wom_close(m.src);
        return cli_open_failed(a->pos[2], err);
    }
    err = mirror(&m, a);
    int rc = err ? cli_fail(a->cmd, err) : cli_finish_stdout();
    wom_region_close(m.mark);
    wom_region_close(m.dr);
    wom_region_close(m.sr);
    wom_close(m.dst);
    wom_close(m.src);
    return rc;
}
