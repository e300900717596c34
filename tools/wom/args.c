/* args.c - the command line: options, positionals, numbers, and values
 * given as arguments or read from stdin. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util/clock.h"

/* ==== Numbers ============================================================= */

int cli_parse_u64(const char *s, uint64_t *out)
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

double cli_now_s(void) { return (double)wom__now_ns() / 1e9; }

/* ==== Options ============================================================= */

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
                 "run producers and consumers as processes (a shm: or etcd:// space)"},
    [O_MEMBERS] = {"members", OK_NUM, 1, 9, "N", "cluster members (default 3)"},
    [O_PORT] = {"port", OK_NUM, 1024, 65535, "P",
                "first client port (default 23790); member K: P+2(K-1), peer +1"},
    [O_PROMETHEUS] = {"prometheus", OK_FLAG, 0, 0, NULL,
                      "print once in the Prometheus text format"},
    [O_LISTEN] = {"listen", OK_STR, 0, 0, "HOST:PORT",
                  "serve on this address (port 0: any free port)"},
};

void cli_print_options(unsigned opts)
{
    for (int id = 0; id < O__COUNT; id++) {
        const struct opt_spec *o = &opt_specs[id];
        if (!((opts >> id) & 1u))
            continue;
        char left[32];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-18s %s\n", left, o->help);
    }
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
    if (cli_parse_u64(val, &v))
        return cli_usage_error(a->cmd, "--%s: '%s' is not a non-negative integer", o->name,
                               ESC(val));
    if (v < o->min || v > o->max)
        return cli_usage_error(a->cmd, "--%s: %s is out of range [%" PRIu64 ", %" PRIu64 "]",
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
            return eq ? cli_usage_error(a->cmd, "--%s takes no value", o->name) : 0;
        if (eq)
            return set_opt_value(a, (enum opt_id)id, eq + 1);
        if (*i + 1 >= argc)
            return cli_usage_error(a->cmd, "--%s needs a value (%s)", o->name, o->arg);
        return set_opt_value(a, (enum opt_id)id, argv[++*i]);
    }
    return cli_usage_error(a->cmd, "unknown option '%s'", ESC(argv[*i]));
}

int cli_parse_args(struct args *a, unsigned allowed, int argc, char **argv)
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
            return cli_usage_error(a->cmd, "too many arguments");
        } else {
            a->pos[a->npos++] = s;
        }
    }
    return 0;
}

int cli_pos_u64(const struct args *a, int i, const char *what, uint64_t *out)
{
    if (cli_parse_u64(a->pos[i], out))
        return cli_usage_error(a->cmd, "%s: '%s' is not a non-negative integer", what,
                               ESC(a->pos[i]));
    return 0;
}

/* ==== Values in =========================================================== */

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
            return cli_fail(cmd, WOM_EMSGSIZE);
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    if (!buf)
        return cli_fail(cmd, WOM_ENOMEM);
    if (ferror(stdin)) {
        free(buf);
        fprintf(stderr, "wom: %s: reading stdin: %s\n", cmd, strerror(errno));
        return EX_IO;
    }
    *v = (struct value){buf, len, buf};
    return 0;
}

int cli_get_value(const char *cmd, const char *s, struct value *v)
{
    if (strcmp(s, "-") == 0)
        return read_stdin(cmd, v);
    *v = (struct value){s, strlen(s), NULL};
    return 0;
}
