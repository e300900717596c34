/*
 * cli.h - what the files of the wom command-line tool share.
 *
 *   cli.c      the command table, dispatch, help and the exit codes;
 *              wom_cli_main, which main.c (the program) and the CLI fuzzer
 *              call
 *   output.c   stdout and its loss, error messages, escaping of names
 *   args.c     options, positionals, numbers, values from stdin
 *   cells.c    put, get, append, store, load, cas, inspect, trim
 *   regions.c  ls, and what the regions a form keeps for itself are
 *   recv.c     recv: a channel or a plain log, one message per line
 *   stat.c     stat: a live view of a space; the figures of a space,
 *              collected once for it and for the Prometheus text format
 *   exporter.c exporter: those figures served over HTTP (libmicrohttpd)
 *   batch.c    batch: many commands in one space
 *   demo.c, demo_roles.c (and demo.h between them)
 *              demo: producers and consumers over a channel, checked
 *   cluster.c  cluster up/down/status: a local etcd cluster
 *   mirror.c   mirror: follow a region into another space (a host's shm:)
 *   http.c (and http.h)
 *              JSON over HTTP to an etcd member (libcurl, jansson), for
 *              cluster.c
 *   main.c     the wom program
 *
 * The tool uses only the public API (wom.h), so it works on every scope a
 * URI can name. Names shared between its files start with cli_ (demo_
 * between the demo's two).
 */
#ifndef WOM_CLI_H
#define WOM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "wom.h"

/* The tool itself: argv as main gets it; returns the exit code. */
int wom_cli_main(int argc, char **argv);

/* ==== Exit codes (meanings: the table in cli.c) =========================== */

enum {
    EX_OK = 0,
    EX_USAGE = 1,    /* bad command line: unknown command, option or number */
    EX_IO = 2,       /* reading stdin failed */
    EX_EMPTY = 3,    /* WOM_EEMPTY, WOM_ETIMEDOUT: nothing there (yet) */
    EX_WRITTEN = 4,  /* WOM_EWRITTEN: the cell was already written */
    EX_CONFLICT = 5, /* WOM_ECONFLICT: compare-and-swap lost */
    EX_TRIMMED = 6,  /* WOM_ETRIMMED: the address was trimmed */
    EX_MODE = 7,     /* WOM_EMODE: the region has the other mode */
    EX_TOOBIG = 8,   /* WOM_EMSGSIZE, WOM_ENAMETOOLONG: over a size limit */
    EX_NOSPACE = 9,  /* WOM_EURI, WOM_ENOENT: bad URI, no such space */
    EX_OTHER = 10,   /* any other wom error */
    EX_VERIFY = 11,  /* demo: a delivery check failed */
    EX_OUTPUT = 12,  /* the command succeeded, writing its output failed */
    EX_BUSY = 13,    /* WOM_EBUSY: locked by another process, no process slot */
    EX_EIO = 14,     /* WOM_EIO: the disk or file system failed */
    EX_NOTCONN = 15, /* WOM_ENOTCONN: connection lost, nothing was done */
    EX_UNKNOWN = 16, /* WOM_EUNKNOWN: connection lost, outcome unknown */
    EX_UNAVAIL = 17, /* WOM_EUNAVAIL: no leader or quorum, try again */
    EX__LAST = EX_UNAVAIL
};

/* The exit code of a wom error (0 for 0). */
int cli_exit_code(int err);

/* ==== Output and messages (output.c) ====================================== */

#define ESC_CAP 1024

/* s made safe to print into out (cap >= 4 bytes): bytes that do not print
 * as themselves become \xNN, a backslash \\; cut at a character, ending in
 * "...", when it does not fit. Returns out. For names read from a space,
 * URIs and batch words, which may be hostile. */
const char *cli_escape(const char *s, char *out, size_t cap);
/* cli_escape into a buffer that lives until the end of the enclosing
 * block, e.g. as an argument of printf. */
#define ESC(s) cli_escape((s), (char[ESC_CAP]){0}, ESC_CAP)

/* Report wom error err of command cmd on stderr; returns its exit code. */
int cli_fail(const char *cmd, int err);
/* Report a failed wom_open of uri, with wom_last_error's sentence when it
 * has one; returns the exit code. */
int cli_open_failed(const char *uri, int err);
/* Report a usage error of command cmd on stderr; returns EX_USAGE. */
__attribute__((format(printf, 2, 3))) int cli_usage_error(const char *cmd, const char *fmt,
                                                          ...);
/* Write len raw bytes to stdout, noting why if they were lost. */
void cli_put_bytes(const void *data, size_t len);
/* Flush stdout; EX_OUTPUT when anything written to it was lost (reported
 * once, by cli_finish_output). */
int cli_finish_stdout(void);
/* At exit: flush stdout and report lost output once; a command that
 * succeeded but whose output was lost exits EX_OUTPUT. */
int cli_finish_output(int rc);

/* ==== Arguments (args.c) ================================================== */

/* A whole string as an unsigned decimal, or hexadecimal after "0x"; -1 on
 * a sign, space, junk, an empty string or overflow (*out untouched). */
int cli_parse_u64(const char *s, uint64_t *out);

#define MS_FOREVER UINT64_MAX
#define MS_MAX ((uint64_t)INT64_MAX / 1000000u)

/* Milliseconds to a wom timeout in nanoseconds (MS_FOREVER: wait forever). */
static inline int64_t ms_to_ns(uint64_t ms)
{
    return ms == MS_FOREVER ? -1 : (int64_t)(ms * 1000000u);
}

/* CLOCK_MONOTONIC in seconds. */
double cli_now_s(void);

enum opt_id {
    O_HELP, O_TIMEOUT, O_FROM, O_FOLLOW, O_COUNT, O_ADDR, O_VERSION,
    O_URI, O_PRODUCERS, O_CONSUMERS, O_MESSAGES, O_SIZE, O_SECONDS, O_QUEUE,
    O_INJECT, O_PROCS, O_INTERVAL, O_MEMBERS, O_PORT,
    O_PROMETHEUS, O_LISTEN, /* stat --prometheus, exporter --listen */
    O__COUNT
};

#define OPT(id) (1u << (id))
#define MAX_POS 8

struct args {
    const char *cmd;
    const char *pos[MAX_POS];
    int npos;
    unsigned seen;              /* bit i: option i was given */
    uint64_t num[O__COUNT];     /* numeric and millisecond values */
    const char *str[O__COUNT];  /* string values */
};

static inline int has(const struct args *a, enum opt_id id) { return (a->seen >> id) & 1u; }

static inline uint64_t num_or(const struct args *a, enum opt_id id, uint64_t dflt)
{
    return has(a, id) ? a->num[id] : dflt;
}

/* Split argv into options (those in bit set allowed) and positionals. "--"
 * ends the options; "-" alone is a positional (a value read from stdin). */
int cli_parse_args(struct args *a, unsigned allowed, int argc, char **argv);
/* Positional i as a number named what (for the usage error). */
int cli_pos_u64(const struct args *a, int i, const char *what, uint64_t *out);
/* The help lines of the options in bit set opts, to stdout. */
void cli_print_options(unsigned opts);

struct value {
    const void *data;
    size_t len;
    char *owned; /* heap copy when read from stdin */
};

/* The value argument s: the string itself, or all of stdin when it is "-". */
int cli_get_value(const char *cmd, const char *s, struct value *v);

/* ==== Commands ============================================================ */

/* What a command runs against, opened from its positionals. */
struct ctx {
    struct args *a;
    wom_space *s;
    wom_region *r; /* for commands that need a region */
};

int cli_put(struct ctx *c);
int cli_get(struct ctx *c);
int cli_append(struct ctx *c);
int cli_store(struct ctx *c);
int cli_load(struct ctx *c);
int cli_cas(struct ctx *c);
int cli_inspect(struct ctx *c);
int cli_trim(struct ctx *c);
int cli_recv(struct ctx *c);
int cli_ls(struct ctx *c);
int cli_stat(struct ctx *c);
int cli_batch(struct ctx *c);
int cli_demo(struct ctx *c);
int cli_cluster(struct ctx *c);
int cli_mirror(struct ctx *c);
int cli_exporter(struct ctx *c);

enum need { NEED_NOTHING, NEED_SPACE, NEED_ONCE, NEED_MANY };

struct cmd {
    const char *name;
    int (*run)(struct ctx *);
    enum need need;
    int min_pos, max_pos; /* positionals, SPACE and REGION included */
    unsigned opts;        /* bit set of opt_id besides --help */
    const char *synopsis;
    const char *summary;
    const char *help;
};

/* The command called name, or NULL. */
const struct cmd *cli_find_command(const char *name);
/* Parse argv for command c into a (which may hold positionals already) and
 * check the number of positionals. */
int cli_parse_command(const struct cmd *c, struct args *a, unsigned extra, int argc,
                      char **argv);
/* Open the region command c needs in space s, run c, close the region. */
int cli_run_in_space(const struct cmd *c, struct args *a, wom_space *s);

/* ==== Regions (regions.c) ================================================= */

struct region_list {
    size_t n, cap;
    wom_region_info *info;
};

/* Every region of s, in creation order, into l (emptied first; the caller
 * frees l->info). */
int cli_list_regions(wom_space *s, struct region_list *l);
/* Whether l holds a region of mode `mode` named by the first n bytes of name. */
int cli_listed(const struct region_list *l, const char *name, size_t n, wom_mode mode);
/* Print "  (what it is)" after the line of a form's own region. */
void cli_print_role(const wom_region_info *in, const struct region_list *l);

/* ==== Figures of a space (stat.c), for stat and exporter ================= */

/* A channel subscriber's seat, as wom_chan_readers reported it. */
struct cli_reader {
    size_t log; /* the index in regions of the channel's log N */
    wom_reader_info info;
};

/* What a space showed at one instant: its own figures (where the scope has
 * them), every region, and the seats of every channel N whose regions N,
 * N.seats and N.acks it holds, a channel's seats consecutive and in seat
 * order. */
struct cli_figures {
    int has_space; /* space is set (not on etcd://) */
    wom_space_info space;
    struct region_list regions;
    struct cli_reader *readers;
    size_t nreaders, cap;
};

/* Collect s's figures into f (zeroed before its first use; its buffers are
 * reused). Errors: those of listing the regions, WOM_ENOMEM. A channel
 * whose seats cannot be read gives the seats it could read. */
int cli_collect(wom_space *s, struct cli_figures *f);
/* Free f's buffers; f is zeroed. */
void cli_figures_free(struct cli_figures *f);
/* How far reader r is behind its channel's tail (0 when closed). */
uint64_t cli_reader_lag(const struct cli_figures *f, const struct cli_reader *r);

/* One space for the Prometheus text format: its label (the URI it was
 * opened by), and err: 0 when fig holds its figures, else why collecting
 * them failed (then only wom_up 0 is written for it). */
struct cli_prom_space {
    const char *label;
    int err;
    const struct cli_figures *fig;
};
/* Write spaces sp[0..n) to o in the Prometheus text exposition format
 * (0.0.4): each metric family's HELP and TYPE once, then its samples of
 * every space, labelled space="URI". Names in label values are escaped as
 * wom ls prints them, then as the format says. */
void cli_prom_write(FILE *o, const struct cli_prom_space *sp, size_t n);

#endif
