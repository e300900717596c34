/*
 * wom.c - the wom command-line tool.
 *
 *   wom CMD SPACE REGION ARGS...   one cell operation on a space URI
 *   wom demo [OPTIONS]             producers and consumers over a channel,
 *                                  checking exactly-once in-order delivery
 *
 * Every command is a row of the command table at the end of this file: its
 * synopsis, help text, allowed options, positional count, what it needs
 * opened (a space, or a region of one mode) and its handler. The tool uses
 * only the public API (wom.h), so it works on every scope a URI can name.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wom.h"

/* ==== Exit codes ========================================================== */

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
};

static const struct {
    int code;
    const char *meaning;
} exit_table[] = {
    {EX_OK, "success"},
    {EX_USAGE, "usage error (unknown command or option, bad number)"},
    {EX_IO, "reading stdin failed"},
    {EX_EMPTY, "cell empty or timed out (WOM_EEMPTY, WOM_ETIMEDOUT)"},
    {EX_WRITTEN, "cell already written (WOM_EWRITTEN)"},
    {EX_CONFLICT, "version moved, cas lost (WOM_ECONFLICT)"},
    {EX_TRIMMED, "address trimmed (WOM_ETRIMMED)"},
    {EX_MODE, "region has the other mode (WOM_EMODE)"},
    {EX_TOOBIG, "value or name too big (WOM_EMSGSIZE, WOM_ENAMETOOLONG)"},
    {EX_NOSPACE, "bad space URI or not found (WOM_EURI, WOM_ENOENT)"},
    {EX_OTHER, "any other wom error"},
    {EX_VERIFY, "demo: a delivery check failed"},
    {EX_OUTPUT, "the command succeeded (an append, store or cas took effect),\n"
                "      but its output could not be written"},
    {EX_BUSY, "space busy: locked by another process past the deadline,\n"
              "      or no free process slot (WOM_EBUSY)"},
};

/* The exit code of a wom error. */
static int exit_code(int err)
{
    switch (err) {
    case 0: return EX_OK;
    case WOM_EEMPTY: case WOM_ETIMEDOUT: return EX_EMPTY;
    case WOM_EWRITTEN: return EX_WRITTEN;
    case WOM_ECONFLICT: return EX_CONFLICT;
    case WOM_ETRIMMED: return EX_TRIMMED;
    case WOM_EMODE: return EX_MODE;
    case WOM_EMSGSIZE: case WOM_ENAMETOOLONG: return EX_TOOBIG;
    case WOM_EURI: case WOM_ENOENT: return EX_NOSPACE;
    case WOM_EBUSY: return EX_BUSY;
    default: return EX_OTHER;
    }
}

/* ==== Names from elsewhere ================================================ */

/* The bytes of the character at p if it prints as itself: a printable ASCII
 * character other than the backslash, or a valid UTF-8 sequence that is not
 * a C1 control, a bidirectional override or mark, or a line or paragraph
 * separator. 0 when it must be escaped. p is NUL-terminated, and a NUL is
 * never a continuation byte, so this never reads past the end. */
static size_t printable_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return p[0] >= 0x20 && p[0] != 0x7f && p[0] != '\\';
    if (p[0] < 0xc2 || p[0] > 0xf4) /* a continuation byte, an overlong lead */
        return 0;
    size_t n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    uint32_t cp = p[0] & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) /* overlong, out of range, surrogate */
        return 0;
    if (cp < 0xa0 || (cp >= 0x200e && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return 0;
    return n;
}

#define ESC_CAP 1024

/* s made safe to print, in out (cap >= 4 bytes). Region names are read from
 * a space whose file anyone with write access may have written, and URIs
 * and batch lines come from scripts: treat them as hostile, so that no byte
 * can move a terminal's cursor, recolour it, hide what follows or fake a new
 * line. Every byte that does not print as itself (printable_len) becomes
 * \xNN, a backslash becomes \\, so the text maps back to the bytes. Cut at a
 * character, ending in "...", when it does not fit. Returns out. */
static const char *escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char piece[8];
        size_t n = printable_len(p), k = n;
        if (n)
            memcpy(piece, p, n);
        else if (*p == '\\')
            k = (size_t)snprintf(piece, sizeof piece, "\\\\"), n = 1;
        else
            k = (size_t)snprintf(piece, sizeof piece, "\\x%02X", *p), n = 1;
        if (o + k + 4 > cap) {
            memcpy(out + o, "...", 4);
            return out;
        }
        memcpy(out + o, piece, k);
        o += k;
        p += n;
    }
    out[o] = 0;
    return out;
}

/* escape() into a buffer that lives until the end of the enclosing block,
 * e.g. as an argument of printf. */
#define ESC(s) escape((s), (char[ESC_CAP]){0}, ESC_CAP)

/* Report a wom error of command `cmd` on stderr; returns its exit code. */
static int fail(const char *cmd, int err)
{
    fprintf(stderr, "wom: %s: %s (%s)\n", cmd, wom_strerror(err), wom_err_name(err));
    return exit_code(err);
}

/* Report a failed wom_open of uri: what failed and, when the library has
 * one, its sentence on why and what to do. Returns the exit code. */
static int open_failed(const char *uri, int err)
{
    const char *why = wom_last_error();
    fprintf(stderr, "wom: %s: %s%s%s\n", ESC(uri), wom_strerror(err), *why ? ": " : "",
            ESC(why));
    return exit_code(err);
}

/* Report a usage error of command `cmd` on stderr; returns EX_USAGE. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd,
                                                              const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wom: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'wom %s --help'.\n", cmd);
    return EX_USAGE;
}

/* ==== Numbers ============================================================= */

/* Parse a whole string as an unsigned decimal, or hexadecimal after "0x".
 * Rejects signs, spaces, junk, an empty string and overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    const char *digits = base == 16 ? "0123456789abcdefABCDEF" : "0123456789";
    if (!*s || strspn(s, digits) != strlen(s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

#define MS_FOREVER UINT64_MAX
#define MS_MAX ((uint64_t)INT64_MAX / 1000000u)

/* Milliseconds to a wom timeout in nanoseconds (MS_FOREVER: wait forever). */
static int64_t ms_to_ns(uint64_t ms)
{
    return ms == MS_FOREVER ? -1 : (int64_t)(ms * 1000000u);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ==== Options and arguments =============================================== */

enum opt_id {
    O_HELP, O_TIMEOUT, O_FROM, O_FOLLOW, O_COUNT, O_ADDR, O_VERSION,
    O_URI, O_PRODUCERS, O_CONSUMERS, O_MESSAGES, O_SIZE, O_SECONDS, O_QUEUE,
    O_INJECT, O_PROCS, O_INTERVAL, O__COUNT
};

enum opt_kind { OK_FLAG, OK_NUM, OK_MS, OK_STR };

struct opt_spec {
    const char *name;
    enum opt_kind kind;
    uint64_t min, max; /* OK_NUM bounds */
    const char *arg;   /* placeholder in help */
    const char *help;
};

#define U64MAX UINT64_MAX
static const struct opt_spec opt_specs[O__COUNT] = {
    [O_HELP] = {"help", OK_FLAG, 0, 0, NULL, "show this help"},
    [O_TIMEOUT] = {"timeout", OK_MS, 0, MS_MAX, "MS",
                   "wait up to MS milliseconds ('inf': forever)"},
    [O_FROM] = {"from", OK_NUM, 0, U64MAX, "ADDR", "start at address ADDR (default 0)"},
    [O_FOLLOW] = {"follow", OK_FLAG, 0, 0, NULL, "keep waiting for new messages"},
    [O_COUNT] = {"count", OK_NUM, 1, U64MAX, "N", "stop after N messages"},
    [O_ADDR] = {"addr", OK_FLAG, 0, 0, NULL, "prefix each message with its address"},
    [O_VERSION] = {"version", OK_FLAG, 0, 0, NULL, "print the version before the value"},
    [O_URI] = {"uri", OK_STR, 0, 0, "URI", "space to run in (default mem:)"},
    [O_PRODUCERS] = {"producers", OK_NUM, 1, 256, "P", "producer threads (default 2)"},
    [O_CONSUMERS] = {"consumers", OK_NUM, 1, 256, "C", "consumer threads (default 2)"},
    [O_MESSAGES] = {"messages", OK_NUM, 1, U64MAX, "N",
                    "messages in total (default 2000000; unlimited with --seconds)"},
    [O_SIZE] = {"size", OK_NUM, 32, WOM_MAX_VALUE_DEFAULT, "BYTES",
                "bytes per message, 32 or more (default 64)"},
    [O_SECONDS] = {"seconds", OK_NUM, 1, 86400, "S", "stop sending after S seconds"},
    [O_QUEUE] = {"queue", OK_FLAG, 0, 0, NULL,
                 "consumers form a queue group: each message to exactly one"},
    [O_INJECT] = {"inject", OK_STR, 0, 0, "FAULT",
                  "test the checks: duplicate, drop, corrupt or reorder one message"},
    [O_INTERVAL] = {"interval", OK_NUM, 10, 3600000, "MS",
                    "refresh every MS milliseconds (default 1000)"},
    [O_PROCS] = {"procs", OK_FLAG, 0, 0, NULL,
                 "run producers and consumers as processes (needs a shm: space)"},
};

#define MAX_POS 8

struct args {
    const char *cmd;
    const char *pos[MAX_POS];
    int npos;
    unsigned seen;              /* bit i: option i was given */
    uint64_t num[O__COUNT];     /* OK_NUM / OK_MS values */
    const char *str[O__COUNT];  /* OK_STR values */
};

static int has(const struct args *a, enum opt_id id) { return (a->seen >> id) & 1u; }

static uint64_t num_or(const struct args *a, enum opt_id id, uint64_t dflt)
{
    return has(a, id) ? a->num[id] : dflt;
}

/* Store the value `val` of option `id`; EX_USAGE on a bad value. */
static int set_opt_value(struct args *a, enum opt_id id, const char *val)
{
    const struct opt_spec *o = &opt_specs[id];
    if (o->kind == OK_STR) {
        a->str[id] = val;
        return 0;
    }
    if (o->kind == OK_MS && strcmp(val, "inf") == 0) {
        a->num[id] = MS_FOREVER;
        return 0;
    }
    uint64_t v;
    if (parse_u64(val, &v))
        return usage_error(a->cmd, "--%s: '%s' is not a non-negative integer", o->name,
                           ESC(val));
    if (v < o->min || v > o->max)
        return usage_error(a->cmd, "--%s: %s is out of range [%" PRIu64 ", %" PRIu64 "]",
                           o->name, ESC(val), o->min, o->max);
    a->num[id] = v;
    return 0;
}

/* Parse option `arg` ("--name" or "--name=value"), taking a separate value
 * from argv[*i + 1] when needed. `allowed` is a bit set of opt_id. */
static int parse_opt(struct args *a, unsigned allowed, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2;
    if (strcmp(argv[*i], "-h") == 0)
        arg = "help";
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    for (int id = 0; id < O__COUNT; id++) {
        const struct opt_spec *o = &opt_specs[id];
        if (!((allowed >> id) & 1u) || strlen(o->name) != n || strncmp(o->name, arg, n))
            continue;
        a->seen |= 1u << id;
        if (o->kind == OK_FLAG)
            return eq ? usage_error(a->cmd, "--%s takes no value", o->name) : 0;
        if (eq)
            return set_opt_value(a, (enum opt_id)id, eq + 1);
        if (*i + 1 >= argc)
            return usage_error(a->cmd, "--%s needs a value (%s)", o->name, o->arg);
        return set_opt_value(a, (enum opt_id)id, argv[++*i]);
    }
    return usage_error(a->cmd, "unknown option '%s'", ESC(argv[*i]));
}

/* Split argv into options (allowed by `allowed`) and positionals. "--" ends
 * the options; "-" alone is a positional (a value read from stdin). */
static int parse_args(struct args *a, unsigned allowed, int argc, char **argv)
{
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!only_pos && strcmp(s, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && (strncmp(s, "--", 2) == 0 || strcmp(s, "-h") == 0)) {
            int rc = parse_opt(a, allowed, argc, argv, &i);
            if (rc)
                return rc;
        } else if (a->npos == MAX_POS) {
            return usage_error(a->cmd, "too many arguments");
        } else {
            a->pos[a->npos++] = s;
        }
    }
    return 0;
}

/* Parse positional `i` as a number named `what`. */
static int pos_u64(const struct args *a, int i, const char *what, uint64_t *out)
{
    if (parse_u64(a->pos[i], out))
        return usage_error(a->cmd, "%s: '%s' is not a non-negative integer", what,
                           ESC(a->pos[i]));
    return 0;
}

/* ==== Values in and out =================================================== */

struct value {
    const void *data;
    size_t len;
    char *owned; /* heap copy when read from stdin */
};

/* Read all of stdin, refusing more than WOM_MAX_VALUE_LIMIT bytes. */
static int read_stdin(const char *cmd, struct value *v)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, stdin);
        if (len < cap)
            break;
        if (cap > WOM_MAX_VALUE_LIMIT) {
            free(buf);
            return fail(cmd, WOM_EMSGSIZE);
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    if (!buf)
        return fail(cmd, WOM_ENOMEM);
    if (ferror(stdin)) {
        free(buf);
        fprintf(stderr, "wom: %s: reading stdin: %s\n", cmd, strerror(errno));
        return EX_IO;
    }
    *v = (struct value){buf, len, buf};
    return 0;
}

/* The value argument `s`: the string itself, or stdin when it is "-". */
static int get_value(const char *cmd, const char *s, struct value *v)
{
    if (strcmp(s, "-") == 0)
        return read_stdin(cmd, v);
    *v = (struct value){s, strlen(s), NULL};
    return 0;
}

/* errno of the first write to stdout found lost (0: none), reported once,
 * at exit, by finish_output. */
static int out_errno;

/* Write len raw bytes to stdout, noting why if they were lost. */
static void put_bytes(const void *data, size_t len)
{
    if (fwrite(data, 1, len, stdout) != len && !out_errno)
        out_errno = errno ? errno : EIO;
}

/* Flush stdout; EX_OUTPUT when anything written to it was lost (a command
 * that writes as it goes stops there; the loss is reported at exit). */
static int finish_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EX_OK;
    if (!out_errno)
        out_errno = errno ? errno : EIO;
    return EX_OUTPUT;
}

/* ==== Cell commands ======================================================= */

/* What a command runs against, opened by main from its positionals. */
struct ctx {
    struct args *a;
    wom_space *s;
    wom_region *r; /* for commands that need a region */
};

static int cmd_put(struct ctx *c)
{
    uint64_t addr;
    struct value v;
    int rc = pos_u64(c->a, 2, "ADDR", &addr);
    if (rc || (rc = get_value(c->a->cmd, c->a->pos[3], &v)))
        return rc;
    int err = wom_put(c->r, addr, v.data, v.len);
    free(v.owned);
    return err ? fail(c->a->cmd, err) : EX_OK;
}

static int cmd_get(struct ctx *c)
{
    uint64_t addr;
    int rc = pos_u64(c->a, 2, "ADDR", &addr);
    if (rc)
        return rc;
    wom_view v;
    int err = wom_get_view(c->r, addr, &v, ms_to_ns(num_or(c->a, O_TIMEOUT, 0)));
    if (err)
        return fail(c->a->cmd, err);
    put_bytes(v.data, v.len);
    wom_view_release(&v);
    return finish_stdout();
}

static int cmd_append(struct ctx *c)
{
    struct value v;
    int rc = get_value(c->a->cmd, c->a->pos[2], &v);
    if (rc)
        return rc;
    uint64_t addr;
    int err = wom_append(c->r, v.data, v.len, &addr);
    free(v.owned);
    if (err)
        return fail(c->a->cmd, err);
    printf("%" PRIu64 "\n", addr);
    return finish_stdout();
}

/* ---- Regions of a space, and the ones the forms keep for themselves ---- */

struct region_list {
    size_t n, cap;
    wom_region_info *info;
};

static int list_add(const wom_region_info *in, void *arg)
{
    struct region_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        wom_region_info *ni = realloc(l->info, cap * sizeof *ni);
        if (!ni)
            return WOM_ENOMEM;
        l->info = ni;
        l->cap = cap;
    }
    l->info[l->n++] = *in;
    return 0;
}

/* Every region of s, in creation order, into l (emptied first; the caller
 * frees l->info). */
static int list_regions(wom_space *s, struct region_list *l)
{
    l->n = 0;
    return wom_regions(s, list_add, l);
}

/* Whether l holds a region of mode `mode` named by the first n bytes of name. */
static int listed(const struct region_list *l, const char *name, size_t n, wom_mode mode)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->info[i].mode == mode && strlen(l->info[i].name) == n &&
            !memcmp(l->info[i].name, name, n))
            return 1;
    return 0;
}

/* The regions the forms create next to a channel N (region N) and next to
 * a queue group G of it (src/forms/chan.c, queue.c; wom.h). */
static const struct {
    const char *suffix;
    wom_mode mode;
    int group; /* named N.G<suffix>, else N<suffix> */
    const char *what;
} form_regions[] = {
    {".seats", WOM_ONCE, 0, "seats"},          /* cell 0 the bound, then one per reader */
    {".acks", WOM_MANY, 0, "readers' cursors"}, /* one {cursor, holder} per seat */
    {".times", WOM_ONCE, 0, "age marks"},       /* retention by age */
    {".claims", WOM_ONCE, 1, "claims"},         /* cell i: the member that took i */
    {".members", WOM_ONCE, 1, "members"},       /* one cell per member that joined */
};

/* What region `in` is, when its name and mode are those of a form's
 * bookkeeping region next to an existing channel log in l, e.g. "seats of
 * channel jobs" (names escaped), into out; 0 when it is none of those. */
static int region_role(const wom_region_info *in, const struct region_list *l, char *out,
                       size_t cap)
{
    size_t len = strlen(in->name);
    for (size_t k = 0; k < sizeof form_regions / sizeof form_regions[0]; k++) {
        size_t sl = strlen(form_regions[k].suffix);
        if (in->mode != form_regions[k].mode || len <= sl ||
            strcmp(in->name + len - sl, form_regions[k].suffix))
            continue;
        char base[WOM_NAME_MAX + 1];
        memcpy(base, in->name, len - sl);
        base[len - sl] = 0; /* N, or N.G */
        if (!form_regions[k].group) {
            if (!listed(l, base, len - sl, WOM_ONCE))
                continue;
            snprintf(out, cap, "%s of channel %s", form_regions[k].what, ESC(base));
            return 1;
        }
        for (size_t d = len - sl - 1; d-- > 1;) { /* N.G, G not empty: the longest N */
            if (base[d] != '.' || !listed(l, base, d, WOM_ONCE))
                continue;
            base[d] = 0;
            snprintf(out, cap, "%s of queue group %s of channel %s", form_regions[k].what,
                     ESC(base + d + 1), ESC(base));
            return 1;
        }
    }
    return 0;
}

/* Print "  (what it is)" after the line of a form's bookkeeping region. */
static void print_role(const wom_region_info *in, const struct region_list *l)
{
    char role[3 * ESC_CAP];
    if (region_role(in, l, role, sizeof role))
        printf("  (%s)", role);
}

/* ---- wom recv ---- */

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
    int err = n > WOM_NAME_MAX ? 0 : list_regions(s, &l);
    *yes = !err && n <= WOM_NAME_MAX && listed(&l, seats, (size_t)n, WOM_ONCE);
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
    put_bytes(v->data, v->len);
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
            return has(a, O_COUNT) ? fail(a->cmd, err) : finish_stdout();
        if (err)
            return fail(a->cmd, err);
        print_message(a, addr, &v);
        wom_view_release(&v);
        got++;
        if ((has(a, O_FOLLOW) || ferror(stdout)) && finish_stdout())
            return EX_OUTPUT; /* nobody reads what follows */
    }
    return finish_stdout();
}

static int cmd_recv(struct ctx *c)
{
    struct reader rd;
    int err = reader_open(c->s, c->a->pos[1], num_or(c->a, O_FROM, 0), &rd);
    int rc = err ? fail(c->a->cmd, err) : recv_loop(c->a, &rd);
    reader_close(&rd);
    return rc;
}

static int cmd_store(struct ctx *c)
{
    uint64_t addr, version;
    struct value v;
    int rc = pos_u64(c->a, 2, "ADDR", &addr);
    if (rc || (rc = get_value(c->a->cmd, c->a->pos[3], &v)))
        return rc;
    int err = wom_store(c->r, addr, v.data, v.len, &version);
    free(v.owned);
    if (err)
        return fail(c->a->cmd, err);
    printf("%" PRIu64 "\n", version);
    return finish_stdout();
}

/* Load addr into a buffer sized to fit: a concurrent store may grow the
 * value between the size probe and the copy, so retry until it fits. */
static int load_value(wom_region *r, uint64_t addr, char **out, size_t *len, uint64_t *ver)
{
    size_t cap = 256;
    char *buf = NULL;
    for (;;) {
        char *nb = realloc(buf, cap ? cap : 1);
        if (!nb) {
            free(buf);
            return WOM_ENOMEM;
        }
        buf = nb;
        int err = wom_load(r, addr, buf, cap, len, ver);
        if (err != WOM_ENOBUFS) {
            if (err)
                free(buf);
            else
                *out = buf;
            return err;
        }
        cap = *len;
    }
}

static int cmd_load(struct ctx *c)
{
    uint64_t addr, version;
    int rc = pos_u64(c->a, 2, "ADDR", &addr);
    if (rc)
        return rc;
    char *buf;
    size_t len;
    int err = load_value(c->r, addr, &buf, &len, &version);
    if (err)
        return fail(c->a->cmd, err);
    if (has(c->a, O_VERSION))
        printf("%" PRIu64 "\t", version);
    put_bytes(buf, len);
    if (has(c->a, O_VERSION))
        putchar('\n');
    free(buf);
    return finish_stdout();
}

static int cmd_cas(struct ctx *c)
{
    uint64_t addr, expect, version;
    struct value v;
    int rc = pos_u64(c->a, 2, "ADDR", &addr);
    if (rc || (rc = pos_u64(c->a, 3, "EXPECT", &expect)))
        return rc;
    if ((rc = get_value(c->a->cmd, c->a->pos[4], &v)))
        return rc;
    int err = wom_cas(c->r, addr, expect, v.data, v.len, &version);
    free(v.owned);
    if (err)
        return fail(c->a->cmd, err);
    printf("%" PRIu64 "\n", version);
    return finish_stdout();
}

/* ---- wom stat: a live view of a space ---- */

static uint64_t stat_prev_tail(const struct region_list *prev, const char *name, uint64_t now)
{
    for (size_t i = 0; i < prev->n; i++)
        if (!strcmp(prev->info[i].name, name))
            return prev->info[i].tail;
    return now;
}

/* The published cursors of a channel's subscribers (region CHANNEL.acks,
 * one cell per seat of CHANNEL.seats) and their lag. */
static void stat_readers(struct ctx *c, const wom_region_info *acks, const struct region_list *v)
{
    char base[WOM_NAME_MAX + 1], seats[WOM_NAME_MAX + 8];
    size_t n = strlen(acks->name) - 5;
    memcpy(base, acks->name, n);
    base[n] = 0;
    snprintf(seats, sizeof seats, "%s.seats", base);
    uint64_t tail = 0, nseats = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!strcmp(v->info[i].name, base))
            tail = v->info[i].tail;
        if (!strcmp(v->info[i].name, seats))
            nseats = v->info[i].tail;
    }
    wom_region *r;
    if (wom_region_open(c->s, acks->name, WOM_MANY, &r))
        return;
    const char *name = ESC(base);
    for (uint64_t s = 1; s < nseats; s++) {
        uint64_t seat[3] = {0, 0, 0}, ver; /* {cursor, holder, holds}: src/forms/chan.c */
        size_t len;
        if (wom_load(r, s, seat, sizeof seat, &len, &ver) || len != sizeof seat)
            continue;
        uint64_t cur = seat[0];
        if (cur == UINT64_MAX)
            printf("  %s reader %" PRIu64 ": closed\n", name, s);
        else if (!wom_holder_alive(c->s, seat[1]))
            printf("  %s reader %" PRIu64 ": dead at cursor %" PRIu64 "\n", name, s, cur);
        else
            printf("  %s reader %" PRIu64 ": cursor %" PRIu64 ", lag %" PRIu64 "%s\n", name, s,
                   cur, tail > cur ? tail - cur : 0, seat[2] ? "" : " (unbounded)");
    }
    wom_region_close(r);
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
        print_role(in, v);
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
    double t_prev = now_s();
    for (uint64_t k = 0; k < count; k++) {
        struct region_list *v = &views[k % 2], *prev = &views[(k + 1) % 2];
        int err = list_regions(c->s, v);
        if (err)
            return fail(c->a->cmd, err);
        double t = now_s();
        if (tty)
            printf("\033[H\033[J"); /* redraw in place */
        stat_print(c, v, k ? prev : v, t - t_prev);
        t_prev = t;
        if (finish_stdout())
            return EX_OUTPUT; /* nobody sees the view any more */
        if (k + 1 < count) {
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
            nanosleep(&ts, NULL); /* the refresh period of a display */
        }
    }
    return EX_OK;
}

static int cmd_stat(struct ctx *c)
{
    struct region_list views[2] = {{0}, {0}};
    int rc = stat_loop(c, views);
    free(views[0].info);
    free(views[1].info);
    return rc;
}

static int cmd_ls(struct ctx *c)
{
    struct region_list l = {0};
    int err = list_regions(c->s, &l);
    if (err) {
        free(l.info);
        return fail(c->a->cmd, err);
    }
    printf("%-24s mode %12s %12s %14s %10s\n", "NAME", "TAIL", "FLOOR", "BYTES", "MAX_VALUE");
    for (size_t i = 0; i < l.n; i++) {
        const wom_region_info *in = &l.info[i];
        if (in->mode == WOM_ONCE)
            printf("%-24s once %12" PRIu64 " %12" PRIu64, ESC(in->name), in->tail, in->floor);
        else
            printf("%-24s many %12s %12s", ESC(in->name), "-", "-");
        printf(" %14" PRIu64 " %10zu", in->bytes, in->max_value);
        print_role(in, &l);
        putchar('\n');
    }
    free(l.info);
    return finish_stdout();
}

/* Open REGION with whichever mode it has (ONCE first; a new one is ONCE). */
static int open_any(struct ctx *c, const char *name, wom_region **r)
{
    int err = wom_region_open(c->s, name, WOM_ONCE, r);
    return err == WOM_EMODE ? wom_region_open(c->s, name, WOM_MANY, r) : err;
}

static int cmd_inspect(struct ctx *c)
{
    static const char *const names[] = {"EMPTY", "CLAIMED", "WRITTEN", "ABANDONED", "TRIMMED"};
    uint64_t addr = 0;
    int rc = pos_u64(c->a, 2, "ADDR", &addr);
    if (rc)
        return rc;
    wom_region *r;
    wom_cell_info ci;
    int err = open_any(c, c->a->pos[1], &r);
    if (err)
        return fail(c->a->cmd, err);
    err = wom_inspect(r, addr, &ci);
    wom_region_close(r);
    if (err)
        return fail(c->a->cmd, err);
    printf("%s", names[ci.state]);
    if (ci.state == WOM_CELL_WRITTEN)
        printf(" %zu bytes, version %" PRIu64, ci.len, ci.version);
    if (ci.state == WOM_CELL_CLAIMED)
        printf(" by pid %" PRId64, ci.pid);
    printf("\n");
    return finish_stdout();
}

static int cmd_trim(struct ctx *c)
{
    uint64_t below = 0;
    int rc = pos_u64(c->a, 2, "BELOW", &below);
    if (rc)
        return rc;
    int err = wom_trim(c->r, below);
    return err ? fail(c->a->cmd, err) : EX_OK;
}

/* ==== The demo ============================================================ */
/*
 * P producers send over one channel; C consumers either each subscribe and
 * must see every message (channel mode) or join one queue group and must
 * together see every message exactly once (queue mode). A message is a
 * struct msg_hdr and a payload derived from (producer, seq) that the
 * checksum covers. When the producers are done, the main thread sends stop
 * messages carrying every producer's count: one in channel mode, C in queue
 * mode (each member takes one and stops, so every data message before them
 * has been claimed).
 *
 * Every run uses channel "demo" and queue group "demo", starting at their
 * tails, and trims the channel behind its consumers, so repeated runs on a
 * persistent space neither add regions nor keep old messages. Messages of
 * other runs (older leftovers, or a concurrent run) carry another run id and
 * are skipped.
 */

#define DEMO_CHANNEL "demo"
#define DEMO_GROUP "demo"
#define KIND_DATA 0x57444154u /* "WDAT" */
#define KIND_STOP 0x5753544fu /* "WSTO" */

struct msg_hdr {
    uint32_t producer;
    uint32_t kind;
    uint64_t run; /* this run's id */
    uint64_t seq; /* data: the producer's sequence number; stop: 0 */
    uint64_t sum; /* data: checksum of the payload; stop: 0 */
};
_Static_assert(sizeof(struct msg_hdr) == 32, "message header has no padding");
#define HDR_SIZE sizeof(struct msg_hdr)
#define RECV_POLL_NS 100000000 /* consumers look at the abort flag this often */
#define STALL_S 30.0           /* no message for this long is a failure */
#define DEMO_WINDOW (1u << 18) /* messages sent but not yet received */

enum fault { F_NONE, F_DUPLICATE, F_DROP, F_CORRUPT, F_REORDER };
static const char *const fault_names[] = {"none", "duplicate", "drop", "corrupt", "reorder"};

struct demo_cfg {
    const char *uri;
    unsigned producers, consumers;
    uint64_t messages; /* UINT64_MAX: until --seconds */
    size_t size;
    uint64_t seconds; /* 0: no time limit */
    int queue;
    enum fault fault; /* --inject */
    int procs;        /* roles are processes sharing the demo's state */
};

/* Queue mode's global record of delivered sequence numbers: one bit per
 * message, in chunks allocated on first use. */
#define BM_CHUNK_BITS (1u << 20)
#define BM_CHUNKS 4096u /* so up to 2^32 messages per producer */

struct bitmap {
    _Atomic(_Atomic uint64_t *) chunk[BM_CHUNKS];
};

struct consumer {
    struct demo *d;
    unsigned id;
    pthread_t th;
    pid_t pid;                /* --procs */
    uint64_t *next;           /* per producer: channel: next expected seq;
                                 queue: one past the last seq seen */
    uint64_t *got;            /* per producer: messages received */
    _Atomic uint64_t done;    /* messages received (for progress) */
    _Atomic uint64_t cursor;  /* every address below is processed */
    wom_sub *sub;
    wom_queue *q;
    uint64_t stall_seen;      /* messages received by all at stall_since */
    double stall_since;
};

struct producer {
    struct demo *d;
    unsigned id;
    pthread_t th;
    pid_t pid; /* --procs */
    uint64_t quota;
    _Atomic uint64_t sent;
};

struct demo {
    struct demo_cfg cfg;
    wom_space *s;
    wom_chan *ch;
    wom_region *log;    /* the channel's region, for trimming */
    wom_region *claims; /* queue mode: the group's claims (wom.h names it) */
    uint64_t run;    /* this run's id, in every message */
    uint64_t start;  /* the channel's tail when this run began */
    struct producer *prod;
    struct consumer *cons;
    struct bitmap *bm; /* queue mode: one per producer */
    _Atomic int stop_sending;
    _Atomic int abort;
    unsigned started_p, started_c; /* threads created */
    _Atomic unsigned producers_done, consumers_done;
    pthread_mutex_t lock;
    char error[256]; /* the first failure */
    int exit;        /* its exit code */
    /* --procs: this struct and everything the roles share live in one
     * shared anonymous mapping, handed out by demo_calloc. */
    size_t arena_len;
    _Atomic size_t arena_used;
};

#define DEMO_ARENA (256u << 20) /* reserved, touched only as used */

/* Zeroed memory the roles share: the shared arena with --procs (never
 * freed one by one), calloc otherwise. */
static void *demo_calloc(struct demo *d, size_t n, size_t size)
{
    if (!d->cfg.procs)
        return calloc(n, size);
    size_t len = (n * size + 63) & ~(size_t)63;
    /* relaxed: the bytes were zero from the start; only their owner is
     * decided here */
    size_t at = atomic_fetch_add_explicit(&d->arena_used, len, memory_order_relaxed);
    return at + len <= d->arena_len ? (char *)d + at : NULL;
}

static void demo_free(struct demo *d, void *p)
{
    if (!d->cfg.procs)
        free(p);
}

/* Record the first failure (later ones are consequences) with its exit
 * code, and make every thread stop. */
static void demo_record(struct demo *d, int code, const char *msg)
{
    pthread_mutex_lock(&d->lock);
    if (!d->error[0]) {
        snprintf(d->error, sizeof d->error, "%s", msg);
        d->exit = code;
    }
    pthread_mutex_unlock(&d->lock);
    atomic_store_explicit(&d->abort, 1, memory_order_relaxed);
}

/* A delivery check failed. */
__attribute__((format(printf, 2, 3))) static void demo_fail(struct demo *d, const char *fmt,
                                                             ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    demo_record(d, EX_VERIFY, msg);
}

/* A wom call failed with err; the message gets ": <strerror> (<name>)". */
__attribute__((format(printf, 3, 4))) static void demo_err(struct demo *d, int err,
                                                            const char *fmt, ...)
{
    char what[160], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, wom_strerror(err), wom_err_name(err));
    demo_record(d, exit_code(err), msg);
}

static int aborted(struct demo *d)
{
    return atomic_load_explicit(&d->abort, memory_order_relaxed);
}

/* FNV-1a, 64-bit. */
static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Fill a data message of `size` bytes for (producer, seq) of run `run`. */
static void make_message(unsigned char *m, size_t size, uint64_t run, uint32_t producer,
                         uint64_t seq)
{
    uint64_t x = ((uint64_t)producer << 40) ^ seq ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = HDR_SIZE; i < size; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        m[i] = (unsigned char)x;
    }
    struct msg_hdr h = {producer, KIND_DATA, run, seq, checksum(m + HDR_SIZE, size - HDR_SIZE)};
    memcpy(m, &h, sizeof h);
}

static void counts(struct demo *d, uint64_t *sent, uint64_t *recvd);

/* Flow control private to this run, the same for subscribers and queue
 * members (a queue group takes no seats, so a bound would not hold its
 * producers back): wait while the consumers are more than DEMO_WINDOW
 * messages behind, so memory stays bounded however long the run. */
static void pace(struct demo *d)
{
    const struct timespec nap = {0, 200000};
    uint64_t sent, recvd;
    counts(d, &sent, &recvd);
    while (sent - recvd > DEMO_WINDOW && !aborted(d)) {
        nanosleep(&nap, NULL);
        counts(d, &sent, &recvd);
    }
}

/* Send len bytes over the channel. A channel someone else created with a
 * bound may make senders wait: wait in slices, to notice an abort. */
static int demo_send(struct demo *d, const void *m, size_t len)
{
    int err;
    do
        err = wom_chan_send(d->ch, m, len, RECV_POLL_NS, NULL);
    while (err == WOM_ETIMEDOUT && !aborted(d));
    return err;
}

/* Send one message; `m` holds message `seq` of producer p. */
static int send_message(struct producer *p, unsigned char *m, uint64_t seq)
{
    int err = demo_send(p->d, m, p->d->cfg.size);
    if (err)
        demo_err(p->d, err, "producer %u: send of message %" PRIu64, p->id, seq);
    return err;
}

/* Send message seq with the fault of --inject; returns how many sequence
 * numbers it used up (0 when a send failed). */
static uint64_t send_faulty(struct producer *p, unsigned char *m, uint64_t seq)
{
    size_t size = p->d->cfg.size;
    switch (p->d->cfg.fault) {
    case F_DUPLICATE:
        return !send_message(p, m, seq) && !send_message(p, m, seq);
    case F_DROP:
        return 1;
    case F_CORRUPT:
        m[size - 1] ^= 0x20;
        return !send_message(p, m, seq);
    case F_REORDER:
        break;
    case F_NONE:
        return !send_message(p, m, seq);
    }
    unsigned char *next = malloc(size);
    if (!next || seq + 1 >= p->quota) {
        free(next);
        return !send_message(p, m, seq);
    }
    make_message(next, size, p->d->run, p->id, seq + 1);
    uint64_t used = !send_message(p, next, seq + 1) && !send_message(p, m, seq) ? 2 : 0;
    free(next);
    return used;
}

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    struct demo *d = p->d;
    unsigned char *m = malloc(d->cfg.size);
    uint64_t seq = 0;
    while (m && seq < p->quota && !aborted(d) &&
           !atomic_load_explicit(&d->stop_sending, memory_order_relaxed)) {
        if (seq % 4096 == 0)
            pace(d);
        make_message(m, d->cfg.size, d->run, p->id, seq);
        /* --inject breaks the contract once, in the middle of producer 0's
         * quota, to show that the consumers' checks catch it. */
        int faulty = d->cfg.fault != F_NONE && p->id == 0 && seq == p->quota / 2;
        uint64_t used = faulty ? send_faulty(p, m, seq) : !send_message(p, m, seq);
        if (!used)
            break;
        seq += used;
        atomic_store_explicit(&p->sent, seq, memory_order_relaxed);
    }
    if (!m)
        demo_err(d, WOM_ENOMEM, "producer %u", p->id);
    free(m);
    atomic_fetch_add_explicit(&d->producers_done, 1, memory_order_release);
    return NULL;
}

/* Mark (producer, seq) delivered in queue mode; 0 if it was not before. */
static int bitmap_mark(struct demo *d, struct bitmap *bm, uint64_t seq)
{
    uint64_t ci = seq / BM_CHUNK_BITS, bit = seq % BM_CHUNK_BITS;
    if (ci >= BM_CHUNKS)
        return -1;
    /* acquire pairs with the release CAS below: the chunk's zeroes. */
    _Atomic uint64_t *ch = atomic_load_explicit(&bm->chunk[ci], memory_order_acquire);
    if (!ch) {
        _Atomic uint64_t *fresh = demo_calloc(d, BM_CHUNK_BITS / 64, sizeof *fresh);
        if (!fresh)
            return -1;
        /* release publishes the zeroed chunk; the loser frees its own. */
        if (atomic_compare_exchange_strong_explicit(&bm->chunk[ci], &ch, fresh,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            ch = fresh;
        else
            demo_free(d, fresh); /* (with --procs it stays in the arena) */
    }
    uint64_t mask = 1ull << (bit % 64);
    uint64_t old = atomic_fetch_or_explicit(&ch[bit / 64], mask, memory_order_relaxed);
    return (old & mask) ? 1 : 0;
}

/* Check one data message against consumer c's record. */
static void check_data(struct consumer *c, uint64_t addr, const struct msg_hdr *h,
                       const unsigned char *m, size_t len)
{
    struct demo *d = c->d;
    uint32_t pid = h->producer;
    uint64_t seq = h->seq;
    if (len != d->cfg.size || pid >= d->cfg.producers)
        return demo_fail(d, "consumer %u: address %" PRIu64 ": bad message (%zu bytes, "
                         "producer %" PRIu32 ")", c->id, addr, len, pid);
    if (checksum(m + HDR_SIZE, len - HDR_SIZE) != h->sum)
        return demo_fail(d, "consumer %u: address %" PRIu64 ": producer %" PRIu32
                         " message %" PRIu64 ": payload checksum mismatch",
                         c->id, addr, pid, seq);
    if (d->cfg.queue ? seq < c->next[pid] : seq != c->next[pid])
        return demo_fail(d, "consumer %u: producer %" PRIu32 ": got message %" PRIu64
                         " when expecting %s%" PRIu64 " (%s)", c->id, pid, seq,
                         d->cfg.queue ? "at least " : "", c->next[pid],
                         seq < c->next[pid] ? "duplicate or out of order" : "missing messages");
    if (d->cfg.queue && bitmap_mark(d, &d->bm[pid], seq))
        return demo_fail(d, "consumer %u: producer %" PRIu32 ": message %" PRIu64
                         " delivered to more than one consumer", c->id, pid, seq);
    c->next[pid] = seq + 1;
    c->got[pid]++;
}

/* Check a stop message: in channel mode this consumer must have received
 * exactly the counts it carries; in queue mode main checks the totals. */
static void check_stop(struct consumer *c, const unsigned char *m, size_t len)
{
    struct demo *d = c->d;
    if (len != HDR_SIZE + 8u * d->cfg.producers)
        return demo_fail(d, "consumer %u: bad stop message (%zu bytes)", c->id, len);
    for (unsigned p = 0; p < d->cfg.producers && !d->cfg.queue; p++) {
        uint64_t sent;
        memcpy(&sent, m + HDR_SIZE + 8u * p, 8);
        if (c->got[p] != sent)
            return demo_fail(d, "consumer %u: producer %u: received %" PRIu64
                             " of %" PRIu64 " messages", c->id, p, c->got[p], sent);
    }
}

/* Handle one received message; 1 when it was this run's stop message. */
static int consume(struct consumer *c, uint64_t addr, const void *data, size_t len)
{
    struct msg_hdr h = {0};
    if (len >= HDR_SIZE)
        memcpy(&h, data, sizeof h);
    int mine = len >= HDR_SIZE && h.run == c->d->run;
    if (mine && h.kind == KIND_STOP)
        check_stop(c, data, len);
    else if (mine && h.kind == KIND_DATA)
        check_data(c, addr, &h, data, len);
    else if (mine)
        demo_fail(c->d, "consumer %u: address %" PRIu64 ": unknown message kind", c->id, addr);
    if (mine && h.kind == KIND_DATA)
        atomic_store_explicit(&c->done, atomic_load_explicit(&c->done, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    /* release pairs with trim_behind's acquire: done with every address below. */
    atomic_store_explicit(&c->cursor, addr + 1, memory_order_release);
    return mine && h.kind == KIND_STOP;
}

enum rx { RX_MESSAGE, RX_IDLE, RX_STOP, RX_ERROR };

/* Receive one message (waiting up to RECV_POLL_NS) and check it. */
static enum rx receive_one(struct consumer *c, unsigned char *buf, size_t cap)
{
    uint64_t addr;
    int err, stop = 0;
    if (c->q) {
        size_t len;
        err = wom_queue_take(c->q, buf, cap, &len, &addr, RECV_POLL_NS);
        if (!err)
            stop = consume(c, addr, buf, len);
    } else {
        wom_view v;
        err = wom_sub_recv_view(c->sub, &v, &addr, RECV_POLL_NS);
        if (!err) {
            stop = consume(c, addr, v.data, v.len);
            wom_view_release(&v);
        }
    }
    if (err == WOM_ETIMEDOUT)
        return RX_IDLE;
    if (err) {
        demo_err(c->d, err, "consumer %u: receive", c->id);
        return RX_ERROR;
    }
    return stop ? RX_STOP : RX_MESSAGE;
}

/* Called when consumer c waited in vain: fail the run once the consumers
 * as a whole have received nothing for STALL_S seconds (a lone member of a
 * queue group may rightly get nothing for a while). */
static void check_stall(struct consumer *c)
{
    uint64_t sent, recvd;
    counts(c->d, &sent, &recvd);
    double now = now_s();
    if (recvd != c->stall_seen) {
        c->stall_seen = recvd;
        c->stall_since = now;
    } else if (now - c->stall_since > STALL_S) {
        demo_fail(c->d, "consumer %u: no message received for %.0f s (%" PRIu64
                  " sent, %" PRIu64 " received)", c->id, STALL_S, sent, recvd);
    }
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    struct demo *d = c->d;
    size_t cap = d->cfg.size > HDR_SIZE + 8u * d->cfg.producers
                     ? d->cfg.size : HDR_SIZE + 8u * d->cfg.producers;
    unsigned char *buf = malloc(cap);
    c->stall_since = now_s();
    enum rx rx = RX_MESSAGE;
    while (buf && !aborted(d) && (rx == RX_MESSAGE || rx == RX_IDLE)) {
        rx = receive_one(c, buf, cap);
        if (rx == RX_IDLE)
            check_stall(c);
    }
    if (!buf)
        demo_err(d, WOM_ENOMEM, "consumer %u", c->id);
    free(buf);
    atomic_fetch_add_explicit(&d->consumers_done, 1, memory_order_release);
    return NULL;
}

/* ---- Setup and teardown -------------------------------------------------- */

static int demo_open(struct demo *d)
{
    unsigned P = d->cfg.producers;
    int err = wom_open(d->cfg.uri, &d->s);
    if (err)
        return err;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->run = ((uint64_t)getpid() << 40) ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
    /* The channel keeps the default value limit, which fits every --size,
     * so whichever run creates it, later runs fit too. */
    if ((err = wom_chan_open(d->s, DEMO_CHANNEL, NULL, &d->ch)))
        return err;
    if ((err = wom_region_open(d->s, DEMO_CHANNEL, WOM_ONCE, &d->log)))
        return err;
    if ((err = wom_tail(d->log, &d->start)))
        return err;
    if (d->cfg.queue &&
        (err = wom_region_open(d->s, DEMO_CHANNEL "." DEMO_GROUP ".claims", WOM_ONCE,
                               &d->claims)))
        return err;
    d->prod = demo_calloc(d, P, sizeof *d->prod);
    d->cons = demo_calloc(d, d->cfg.consumers, sizeof *d->cons);
    d->bm = d->cfg.queue ? demo_calloc(d, P, sizeof *d->bm) : NULL;
    if (!d->prod || !d->cons || (d->cfg.queue && !d->bm))
        return WOM_ENOMEM;
    return 0;
}

/* Subscribe or join consumer i (before any message is sent). */
static int consumer_open(struct demo *d, unsigned i)
{
    struct consumer *c = &d->cons[i];
    c->d = d;
    c->id = i;
    c->next = demo_calloc(d, d->cfg.producers, sizeof *c->next);
    c->got = demo_calloc(d, d->cfg.producers, sizeof *c->got);
    if (!c->next || !c->got)
        return WOM_ENOMEM;
    if (d->cfg.queue)
        return wom_queue_join(d->ch, DEMO_GROUP, &c->q);
    wom_sub_opts so = WOM_SUB_OPTS_INIT;
    so.from = d->start;
    return wom_sub_open(d->ch, &so, &c->sub);
}

static void demo_close(struct demo *d)
{
    for (unsigned i = 0; d->cons && i < d->cfg.consumers; i++) {
        struct consumer *c = &d->cons[i];
        if (c->sub)
            wom_sub_close(c->sub);
        if (c->q)
            wom_queue_leave(c->q);
        demo_free(d, c->next);
        demo_free(d, c->got);
    }
    for (unsigned p = 0; d->bm && p < d->cfg.producers; p++)
        for (unsigned k = 0; k < BM_CHUNKS; k++)
            demo_free(d, (void *)atomic_load_explicit(&d->bm[p].chunk[k], memory_order_relaxed));
    demo_free(d, d->bm);
    demo_free(d, d->cons);
    demo_free(d, d->prod);
    if (d->log)
        wom_region_close(d->log);
    if (d->claims)
        wom_region_close(d->claims);
    if (d->ch)
        wom_chan_close(d->ch);
    if (d->s)
        wom_close(d->s);
    pthread_mutex_destroy(&d->lock);
}

/* ---- Running --------------------------------------------------------------- */

/* Start a role as a thread, or with --procs as a child process that shares
 * the demo's state (the arena) and the space's file mapping. */
static int start_role(struct demo *d, void *(*fn)(void *), void *arg, pthread_t *th, pid_t *pid)
{
    if (!d->cfg.procs)
        return pthread_create(th, NULL, fn, arg) ? WOM_ENOMEM : 0;
    fflush(NULL);
    *pid = fork();
    if (*pid < 0)
        return WOM_ENOMEM;
    if (*pid == 0) {
        fn(arg);
        _exit(0); /* verdicts travel through the shared demo state */
    }
    return 0;
}

static void join_role(struct demo *d, pthread_t th, pid_t pid)
{
    if (!d->cfg.procs) {
        pthread_join(th, NULL);
        return;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        demo_fail(d, "a role process died (status %d)", st);
}

static int start_threads(struct demo *d)
{
    for (unsigned i = 0; i < d->cfg.consumers; i++) {
        int err = consumer_open(d, i);
        if (err)
            return err;
    }
    for (unsigned i = 0; i < d->cfg.consumers; i++, d->started_c++)
        if (start_role(d, consumer_main, &d->cons[i], &d->cons[i].th, &d->cons[i].pid))
            return WOM_ENOMEM;
    uint64_t n = d->cfg.messages, P = d->cfg.producers;
    for (unsigned i = 0; i < P; i++) {
        struct producer *p = &d->prod[i];
        p->d = d;
        p->id = i;
        p->quota = n == UINT64_MAX ? UINT64_MAX : n / P + (i < n % P);
        if (start_role(d, producer_main, p, &p->th, &p->pid))
            return WOM_ENOMEM;
        d->started_p++;
    }
    return 0;
}

/* Messages sent so far, and messages received: channel mode counts the
 * slowest consumer, queue mode the sum over members. */
static void counts(struct demo *d, uint64_t *sent, uint64_t *recvd)
{
    *sent = 0;
    for (unsigned i = 0; i < d->cfg.producers; i++)
        *sent += atomic_load_explicit(&d->prod[i].sent, memory_order_relaxed);
    uint64_t sum = 0, min = UINT64_MAX;
    for (unsigned i = 0; i < d->cfg.consumers; i++) {
        uint64_t n = atomic_load_explicit(&d->cons[i].done, memory_order_relaxed);
        sum += n;
        min = n < min ? n : min;
    }
    *recvd = d->cfg.queue ? sum : min;
}

/* Release what no consumer needs any more. Channel mode: the messages below
 * every subscriber's cursor. Queue mode, by the queue group's contract:
 * a member passes address i only once i is claimed, so every message below
 * the highest member cursor is claimed, and its taker copies it under a view
 * pin that outlives a trim; a member that lags behind the floor skips to it.
 * Claims are trimmed only below the lowest cursor, because a lagging member
 * may still try to claim anything at or above its own. */
static void trim_behind(struct demo *d)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < d->cfg.consumers; i++) {
        /* acquire pairs with the consumer's release: it is done below. */
        uint64_t cur = atomic_load_explicit(&d->cons[i].cursor, memory_order_acquire);
        lo = cur < lo ? cur : lo;
        hi = cur > hi ? cur : hi;
    }
    uint64_t below = d->cfg.queue ? hi : lo;
    int err = wom_trim(d->log, below);
    if (!err && d->claims)
        err = wom_trim(d->claims, lo);
    if (err)
        demo_err(d, err, "trim below %" PRIu64, below);
}

static void progress(struct demo *d, double t0, int tty)
{
    uint64_t sent, recvd;
    counts(d, &sent, &recvd);
    double dt = now_s() - t0;
    char of[32] = "";
    if (d->cfg.messages != UINT64_MAX)
        snprintf(of, sizeof of, "/%" PRIu64, d->cfg.messages);
    fprintf(stderr, "%sdemo: %.1f s: %" PRIu64 "%s sent, %" PRIu64 " received, %.2f M msg/s%s",
            tty ? "\r" : "", dt, sent, of, recvd, dt > 0 ? (double)recvd / dt / 1e6 : 0.0,
            tty ? "\033[K" : "\n");
}

/* Send the stop messages carrying every producer's final count. */
static void send_stops(struct demo *d)
{
    unsigned P = d->cfg.producers;
    size_t len = HDR_SIZE + 8u * P;
    unsigned char *m = calloc(1, len);
    if (!m)
        return demo_err(d, WOM_ENOMEM, "stop message");
    struct msg_hdr h = {0, KIND_STOP, d->run, 0, 0};
    memcpy(m, &h, sizeof h);
    for (unsigned i = 0; i < P; i++) {
        uint64_t n = atomic_load_explicit(&d->prod[i].sent, memory_order_relaxed);
        memcpy(m + HDR_SIZE + 8u * i, &n, 8);
    }
    unsigned stops = d->cfg.queue ? d->cfg.consumers : 1;
    for (unsigned i = 0; i < stops; i++) {
        int err = demo_send(d, m, len);
        if (err)
            demo_err(d, err, "stop message");
    }
    free(m);
}

/* Wait for producers, send the stops, wait for consumers; show progress
 * and trim meanwhile. Returns 1 when the producers were joined. */
static int supervise(struct demo *d, double t0)
{
    int tty = isatty(STDERR_FILENO);
    double tick = tty ? 0.2 : 1.0, next = t0 + tick;
    int stopped = 0;
    const struct timespec nap = {0, 20000000};
    while (atomic_load_explicit(&d->consumers_done, memory_order_acquire) < d->cfg.consumers) {
        nanosleep(&nap, NULL);
        double now = now_s();
        if (d->cfg.seconds && now - t0 >= (double)d->cfg.seconds)
            atomic_store_explicit(&d->stop_sending, 1, memory_order_relaxed);
        if (!stopped && atomic_load_explicit(&d->producers_done, memory_order_acquire) ==
                            d->cfg.producers) {
            for (unsigned i = 0; i < d->cfg.producers; i++)
                join_role(d, d->prod[i].th, d->prod[i].pid);
            send_stops(d);
            stopped = 1;
        }
        trim_behind(d);
        if (now >= next) {
            progress(d, t0, tty);
            next = now + tick;
        }
    }
    if (tty && now_s() - t0 >= tick)
        fputc('\n', stderr);
    return stopped;
}

/* Queue mode: together the members must have received each producer's
 * messages 0..sent-1, each once (duplicates were caught as they came). */
static void check_queue_totals(struct demo *d)
{
    for (unsigned p = 0; p < d->cfg.producers && !aborted(d); p++) {
        uint64_t sent = atomic_load_explicit(&d->prod[p].sent, memory_order_relaxed);
        uint64_t got = 0, top = 0;
        for (unsigned i = 0; i < d->cfg.consumers; i++) {
            got += d->cons[i].got[p];
            top = d->cons[i].next[p] > top ? d->cons[i].next[p] : top;
        }
        if (got != sent || top > sent)
            demo_fail(d, "producer %u: %" PRIu64 " messages sent, %" PRIu64
                      " distinct ones received by the group", p, sent, got);
    }
}

static void report(struct demo *d, double secs)
{
    uint64_t sent, recvd;
    counts(d, &sent, &recvd);
    uint64_t deliveries = d->cfg.queue ? recvd : sent * d->cfg.consumers;
    const struct demo_cfg *c = &d->cfg;
    printf("demo: %" PRIu64 " messages of %zu bytes, %u producers -> %u consumers (%s) on %s "
           "in %.2f s\n", sent, c->size, c->producers, c->consumers,
           c->queue ? "queue group" : "channel", ESC(c->uri), secs);
    printf("demo: throughput %.2f M msg/s, %.1f MB/s sent; %.2f M msg/s, %.1f MB/s delivered\n",
           (double)sent / secs / 1e6, (double)sent * (double)c->size / secs / 1e6,
           (double)deliveries / secs / 1e6, (double)deliveries * (double)c->size / secs / 1e6);
    printf("demo: OK: %" PRIu64 " messages, exactly once, in order (%s%u consumer%s)\n", sent,
           c->queue ? "queue group of " : "", c->consumers, c->consumers == 1 ? "" : "s");
}

/* Join every thread started, after a failed start made them all end. */
static void join_started(struct demo *d)
{
    for (unsigned i = 0; i < d->started_c; i++)
        join_role(d, d->cons[i].th, d->cons[i].pid);
    for (unsigned i = 0; i < d->started_p; i++)
        join_role(d, d->prod[i].th, d->prod[i].pid);
}

static int demo_run(struct demo *d)
{
    int err = demo_open(d);
    if (err) /* the space itself, or what the demo opens in it */
        return d->s ? fail("demo", err) : open_failed(d->cfg.uri, err);
    double t0 = now_s();
    if ((err = start_threads(d))) {
        demo_err(d, err, "start");
        join_started(d);
        return fail("demo", err);
    }
    int joined = supervise(d, t0);
    double secs = now_s() - t0;
    for (unsigned i = 0; i < d->cfg.consumers; i++)
        join_role(d, d->cons[i].th, d->cons[i].pid);
    for (unsigned i = 0; !joined && i < d->cfg.producers; i++)
        join_role(d, d->prod[i].th, d->prod[i].pid); /* they end on the abort flag */
    if (d->cfg.queue)
        check_queue_totals(d);
    if (d->error[0]) {
        fprintf(stderr, "wom: demo: FAILED: %s\n", d->error);
        return d->exit;
    }
    report(d, secs);
    return finish_stdout();
}

/* The fault named by --inject (F_NONE without it); -1 if unknown. */
static int parse_fault(const struct args *a)
{
    if (!has(a, O_INJECT))
        return F_NONE;
    for (int f = F_DUPLICATE; f <= F_REORDER; f++)
        if (!strcmp(a->str[O_INJECT], fault_names[f]))
            return f;
    return usage_error(a->cmd, "--inject: unknown fault '%s'", ESC(a->str[O_INJECT])), -1;
}

/* The --procs arena, with the struct demo at its start. */
static struct demo *demo_arena(void)
{
    void *p = mmap(NULL, DEMO_ARENA, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct demo *d = p;
    d->arena_len = DEMO_ARENA;
    atomic_init(&d->arena_used, (sizeof *d + 63) & ~(size_t)63);
    return d;
}

static int cmd_demo(struct ctx *c)
{
    const struct args *a = c->a;
    int fault = parse_fault(a);
    if (fault < 0)
        return EX_USAGE;
    int procs = has(a, O_PROCS);
    const char *uri = has(a, O_URI) ? a->str[O_URI] : "mem:";
    if (procs && strncmp(uri, "shm:", 4) != 0)
        return usage_error(a->cmd, "--procs needs a space processes share (--uri shm:PATH)");
    struct demo *d = procs ? demo_arena() : calloc(1, sizeof *d);
    if (!d)
        return fail("demo", WOM_ENOMEM);
    d->cfg = (struct demo_cfg){
        .uri = has(a, O_URI) ? a->str[O_URI] : "mem:",
        .producers = (unsigned)num_or(a, O_PRODUCERS, 2),
        .consumers = (unsigned)num_or(a, O_CONSUMERS, 2),
        .messages = num_or(a, O_MESSAGES, has(a, O_SECONDS) ? UINT64_MAX : 2000000),
        .size = (size_t)num_or(a, O_SIZE, 64),
        .seconds = num_or(a, O_SECONDS, 0),
        .queue = has(a, O_QUEUE),
        .fault = (enum fault)fault,
        .procs = procs,
    };
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, procs ? PTHREAD_PROCESS_SHARED : PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&d->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    int rc = demo_run(d);
    demo_close(d);
    if (procs)
        munmap(d, DEMO_ARENA);
    else
        free(d);
    return rc;
}

/* ==== Command table, help and main ======================================== */

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

#define OPT(id) (1u << (id))

static int cmd_batch(struct ctx *x);

static const struct cmd commands[] = {
    {"put", cmd_put, NEED_ONCE, 4, 4, 0, "SPACE REGION ADDR VALUE|-",
     "write a ONCE cell (first write wins)",
     "Writes VALUE (or all of stdin for '-') to cell ADDR of ONCE region REGION,\n"
     "creating the region if absent. Exits 4 if the cell was already written.\n"},
    {"get", cmd_get, NEED_ONCE, 3, 3, OPT(O_TIMEOUT), "SPACE REGION ADDR [--timeout MS]",
     "read a ONCE cell",
     "Writes the raw value of cell ADDR to stdout (no newline added). An empty\n"
     "cell exits 3 at once, or after waiting MS milliseconds with --timeout.\n"},
    {"append", cmd_append, NEED_ONCE, 3, 3, 0, "SPACE REGION VALUE|-",
     "write the next free ONCE cell",
     "Writes VALUE (or stdin for '-') to the next free address of REGION and\n"
     "prints that address.\n"},
    {"recv", cmd_recv, NEED_SPACE, 2, 2,
     OPT(O_FROM) | OPT(O_FOLLOW) | OPT(O_COUNT) | OPT(O_TIMEOUT) | OPT(O_ADDR),
     "SPACE REGION [--from ADDR] [--follow] [--count N] [--timeout MS] [--addr]",
     "read a channel, one message per line",
     "Reads REGION as a channel from ADDR on, printing each message and a newline.\n"
     "Stops at the first empty address (with --follow: waits for more), after N\n"
     "messages with --count, or when none arrives within --timeout MS. Fewer than\n"
     "--count messages exits 3. Trimmed addresses are skipped.\n"
     "If REGION is a channel already (a program opened it as one: REGION.seats\n"
     "exists), recv subscribes with a seat that holds no sender back, only so that\n"
     "'wom stat' shows its lag; the seat is closed when recv exits. Otherwise it\n"
     "reads REGION as a plain log and creates nothing: no REGION.seats or\n"
     "REGION.acks, and no channel bound fixed before its program chooses one.\n"},
    {"store", cmd_store, NEED_MANY, 4, 4, 0, "SPACE REGION ADDR VALUE|-",
     "write a MANY cell, print its new version",
     "Stores VALUE (or stdin for '-') in cell ADDR of MANY region REGION and prints\n"
     "the cell's new version.\n"},
    {"load", cmd_load, NEED_MANY, 3, 3, OPT(O_VERSION), "SPACE REGION ADDR [--version]",
     "read a MANY cell",
     "Writes the raw value of cell ADDR to stdout (no newline added); a cell never\n"
     "stored is empty with version 0. With --version prints 'VERSION<TAB>VALUE'\n"
     "and a newline.\n"},
    {"cas", cmd_cas, NEED_MANY, 5, 5, 0, "SPACE REGION ADDR EXPECT VALUE|-",
     "compare-and-swap a MANY cell",
     "Stores VALUE (or stdin for '-') in cell ADDR only if its version is EXPECT,\n"
     "and prints the new version. Exits 5 if the version moved.\n"},
    {"ls", cmd_ls, NEED_SPACE, 1, 1, 0, "SPACE", "list regions",
     "Prints one line per region: name, mode, tail and floor (ONCE regions),\n"
     "value bytes held and the largest value accepted. A region that a channel\n"
     "or queue group keeps for itself says what it is, e.g. '(seats of channel\n"
     "jobs)': REGION.seats, .acks and .times of channel REGION, REGION.G.claims\n"
     "and .members of its queue group G. In names, control characters, invalid\n"
     "UTF-8 and the backslash are printed escaped (\\xNN, \\\\).\n"},
    {"stat", cmd_stat, NEED_SPACE, 1, 1, OPT(O_COUNT) | OPT(O_INTERVAL),
     "SPACE [--count N] [--interval MS]",
     "a live view of a space: tails, rates, readers and lag",
     "Shows every region with its tail, floor, bytes held and appends per second,\n"
     "and for bounded channels each subscriber's published cursor and its lag\n"
     "behind the tail. Refreshes in place every MS milliseconds on a terminal\n"
     "(until interrupted, or N times); otherwise prints N snapshots (default 1).\n"},
    {"inspect", cmd_inspect, NEED_SPACE, 3, 3, 0, "SPACE REGION ADDR",
     "show one cell's state",
     "Prints the state of cell ADDR of REGION (either mode): EMPTY, CLAIMED by\n"
     "pid N (an append in flight), WRITTEN with its size and version, ABANDONED\n"
     "(its appender died) or TRIMMED. Nothing waits and nothing changes.\n"},
    {"trim", cmd_trim, NEED_ONCE, 3, 3, 0, "SPACE REGION BELOW",
     "release every ONCE cell below an address",
     "Trims REGION below address BELOW: later reads there exit 6. The floor only\n"
     "rises.\n"},
    {"batch", cmd_batch, NEED_SPACE, 1, 1, 0, "SPACE < COMMANDS",
     "run commands from stdin in one space",
     "Runs the commands on stdin, one per line, all in the one space SPACE (so\n"
     "on mem: a get sees an earlier put). A line is a command without 'wom' and\n"
     "without SPACE, e.g. 'put log 0 hello'; words are separated by blanks (no\n"
     "quoting), '-' values are not allowed and '#' starts a comment line. A line\n"
     "holding a NUL byte is refused (exit 1) and not run: a batch is text. Output\n"
     "is each command's output; the first failing line stops the batch with that\n"
     "command's exit code (12 if its output could not be written: it ran).\n"},
    {"demo", cmd_demo, NEED_NOTHING, 0, 0,
     OPT(O_URI) | OPT(O_PRODUCERS) | OPT(O_CONSUMERS) | OPT(O_MESSAGES) | OPT(O_SIZE) |
         OPT(O_SECONDS) | OPT(O_QUEUE) | OPT(O_INJECT) | OPT(O_PROCS),
     "[--uri URI] [--producers P] [--consumers C] [--messages N] [--size BYTES]\n"
     "                 [--seconds S] [--queue] [--inject FAULT] [--procs]",
     "producers and consumers over a channel, checked",
     "Producer threads send numbered, checksummed messages over a channel; each\n"
     "consumer subscribes and checks that it receives every message exactly once,\n"
     "in order per producer, intact. With --queue the consumers form a queue group\n"
     "and each message must reach exactly one of them. Prints progress on stderr,\n"
     "then throughput and 'demo: OK: ...'. A delivery violation exits 11 with its\n"
     "reason; a failed wom call exits with the code of its error.\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cmd *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_exit_codes(FILE *f)
{
    fprintf(f, "\nExit status:\n");
    for (size_t i = 0; i < sizeof exit_table / sizeof exit_table[0]; i++)
        fprintf(f, "  %2d  %s\n", exit_table[i].code, exit_table[i].meaning);
}

static void print_usage(FILE *f)
{
    fprintf(f, "usage: wom COMMAND ARGS...      (wom help COMMAND, wom COMMAND --help)\n"
               "       wom --help | --version\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nSPACE is a space URI: 'mem:' is a new private space per process, so\n"
               "cells written by one wom command are gone when it exits.\n"
               "ADDR, EXPECT, BELOW and N are decimal or 0x-hexadecimal.\n");
    print_exit_codes(f);
}

static void print_command_help(const struct cmd *c)
{
    printf("usage: wom %s %s\n\n%s", c->name, c->synopsis, c->help);
    if (c->opts)
        printf("\nOptions:\n");
    for (int id = 0; id < O__COUNT; id++) {
        const struct opt_spec *o = &opt_specs[id];
        if (!((c->opts >> id) & 1u))
            continue;
        char left[32];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-18s %s\n", left, o->help);
    }
    print_exit_codes(stdout);
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 1) {
        print_usage(stdout);
        return finish_stdout();
    }
    const struct cmd *c = find_command(argv[0]);
    if (!c)
        return usage_error("help", "unknown command '%s'", ESC(argv[0]));
    print_command_help(c);
    return finish_stdout();
}

/* Parse argv for command c into a (which may hold positionals already) and
 * check the number of positionals. */
static int parse_command(const struct cmd *c, struct args *a, unsigned extra, int argc,
                         char **argv)
{
    int rc = parse_args(a, c->opts | extra, argc, argv);
    if (rc || has(a, O_HELP))
        return rc;
    if (a->npos < c->min_pos)
        return usage_error(c->name, "missing arguments: wom %s %s", c->name, c->synopsis);
    if (a->npos > c->max_pos)
        return usage_error(c->name, "unexpected argument '%s'", ESC(a->pos[c->max_pos]));
    return 0;
}

/* Open the region command c needs in space s, run c, close the region. */
static int run_in_space(const struct cmd *c, struct args *a, wom_space *s)
{
    struct ctx x = {a, s, NULL};
    int err = 0;
    if (c->need == NEED_ONCE || c->need == NEED_MANY)
        err = wom_region_open(s, a->pos[1], c->need == NEED_ONCE ? WOM_ONCE : WOM_MANY, &x.r);
    int rc = err ? fail(c->name, err) : c->run(&x);
    if (x.r)
        wom_region_close(x.r);
    return rc;
}

static int run_command(const struct cmd *c, int argc, char **argv)
{
    struct args a = {.cmd = c->name};
    int rc = parse_command(c, &a, OPT(O_HELP), argc, argv);
    if (rc)
        return rc;
    if (has(&a, O_HELP)) {
        print_command_help(c);
        return finish_stdout();
    }
    if (c->need == NEED_NOTHING) {
        struct ctx x = {&a, NULL, NULL};
        return c->run(&x);
    }
    wom_space *s;
    int err = wom_open(a.pos[0], &s);
    if (err)
        return open_failed(a.pos[0], err);
    rc = run_in_space(c, &a, s);
    wom_close(s);
    return rc;
}

/* ---- batch: many commands in one space ------------------------------------ */

#define BATCH_MAX_TOKENS 32

/* Run one line of a batch ("CMD REGION ARGS...", blank-separated, '#'
 * starts a comment line) in the batch's space. */
static int batch_line(struct ctx *bx, char *line)
{
    char *tok[BATCH_MAX_TOKENS + 1], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save))
        if (n <= BATCH_MAX_TOKENS)
            tok[n++] = t;
    if (n == 0 || tok[0][0] == '#')
        return EX_OK;
    if (n > BATCH_MAX_TOKENS)
        return usage_error("batch", "more than %d words on a line", BATCH_MAX_TOKENS);
    const struct cmd *c = find_command(tok[0]);
    if (!c)
        return usage_error("batch", "unknown command '%s'", ESC(tok[0]));
    if (c->need == NEED_NOTHING || c->run == cmd_batch)
        return usage_error("batch", "'%s' cannot run inside a batch", ESC(tok[0]));
    struct args a = {.cmd = c->name, .pos = {bx->a->pos[0]}, .npos = 1};
    int rc = parse_command(c, &a, 0, n - 1, tok + 1);
    for (int i = 1; !rc && i < a.npos; i++)
        if (strcmp(a.pos[i], "-") == 0)
            rc = usage_error("batch", "'-' cannot read stdin: it is the batch itself");
    return rc ? rc : run_in_space(c, &a, bx->s);
}

static int cmd_batch(struct ctx *x)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned long n = 0;
    ssize_t len;
    int rc = EX_OK;
    while (rc == EX_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        n++;
        /* The words of a line are C strings: a NUL would cut a value short
         * without a word. Refuse the line (binary values need 'wom put
         * SPACE REGION ADDR -', one per command). */
        if (memchr(line, 0, (size_t)len))
            rc = usage_error("batch", "line %lu holds a NUL byte; a batch is text (for a "
                             "binary value run 'wom put SPACE REGION ADDR -')", n);
        else
            rc = batch_line(x, line);
        if (rc == EX_OK)
            rc = finish_stdout();
    }
    free(line);
    if (rc != EX_OK) {
        fprintf(stderr, "wom: batch: stopped at line %lu\n", n);
        return rc;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "wom: batch: reading stdin: %s\n", strerror(errno));
        return EX_IO;
    }
    return EX_OK;
}

/* Give every closed standard descriptor /dev/null before anything opens a
 * file: a space opened while descriptor 1 is closed would get descriptor 1,
 * and the command's output would be written over the space's header. Output
 * and errors get /dev/null read-only, so writing them still fails (EBADF)
 * and a lost output is still noticed; stdin gets it write-only, so that
 * reading a closed stdin fails instead of reading an empty value. */
static int keep_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* Every lower descriptor is open now, so open() returns fd. */
        int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (got != fd) {
            if (got >= 0)
                close(got);
            return -1;
        }
    }
    return 0;
}

/* At exit: flush stdout, and report output that was lost, once. A command
 * that succeeded but whose output was lost exits EX_OUTPUT, so a script can
 * tell "done, and the output is gone" (an append that happened) from a
 * command that failed; a failed command keeps its own code. stdout stays
 * open: the CLI fuzzer runs main many times over one stream of its own. */
static int finish_output(int rc)
{
    int lost = finish_stdout() != EX_OK;
    if (fflush(stdout) != 0 && !lost) {
        lost = 1;
        out_errno = errno;
    }
    if (!lost && !out_errno)
        return rc;
    fprintf(stderr, "wom: cannot write the output: %s\n", strerror(out_errno ? out_errno : EIO));
    return rc == EX_OK ? EX_OUTPUT : rc;
}

static int run_main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EX_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help"))
        return cmd_help(argc - 2, argv + 2);
    if (!strcmp(name, "--version")) {
        printf("wom %d.%d\n", WOM_VERSION_MAJOR, WOM_VERSION_MINOR);
        return finish_stdout();
    }
    const struct cmd *c = find_command(name);
    if (!c) {
        fprintf(stderr, "wom: unknown command '%s'\nTry 'wom --help'.\n", ESC(name));
        return EX_USAGE;
    }
    return run_command(c, argc - 2, argv + 2);
}

int main(int argc, char **argv)
{
    if (keep_std_fds()) {
        fprintf(stderr, "wom: cannot open /dev/null for a closed standard descriptor: %s\n",
                strerror(errno));
        return EX_OTHER;
    }
    return finish_output(run_main(argc, argv));
}
