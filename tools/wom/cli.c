/*
 * cli.c - the wom command-line tool: every command is a row of the command
 * table below (its synopsis, help text, allowed options, positional count,
 * what it needs opened: a space, or a region of one mode, and its handler);
 * the exit codes are one table too. wom_cli_main parses the command line,
 * opens what the command needs and runs it.
 *
 *   wom CMD SPACE REGION ARGS...   one cell operation on a space URI
 *   wom demo [OPTIONS]             producers and consumers over a channel,
 *                                  checking exactly-once in-order delivery
 *   wom cluster up|down|status DIR a local etcd cluster for etcd:// spaces
 *   wom mirror SRC REGION DEST     follow a region into another space
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ==== Exit codes ========================================================== */

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
    {EX_EIO, "input/output error: the disk or file system failed (WOM_EIO)"},
    {EX_NOTCONN, "connection to the space lost; the command did nothing\n"
                 "      (WOM_ENOTCONN)"},
    {EX_UNKNOWN, "connection lost after the request was sent: it may or may\n"
                 "      not have taken effect (WOM_EUNKNOWN)"},
    {EX_UNAVAIL, "space unavailable (no leader or quorum); try again later\n"
                 "      (WOM_EUNAVAIL)"},
};
_Static_assert(sizeof exit_table / sizeof exit_table[0] == EX__LAST + 1,
               "every exit code has one row, in order (codes are only appended)");

int cli_exit_code(int err)
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
    case WOM_EIO: return EX_EIO;
    case WOM_ENOTCONN: return EX_NOTCONN;
    case WOM_EUNKNOWN: return EX_UNKNOWN;
    case WOM_EUNAVAIL: return EX_UNAVAIL;
    default: return EX_OTHER;
    }
}

/* ==== Command table, help and dispatch ==================================== */

static const struct cmd commands[] = {
    {"put", cli_put, NEED_ONCE, 4, 4, 0, "SPACE REGION ADDR VALUE|-",
     "write a ONCE cell (first write wins)",
     "Writes VALUE (or all of stdin for '-') to cell ADDR of ONCE region REGION,\n"
     "creating the region if absent. Exits 4 if the cell was already written.\n"},
    {"get", cli_get, NEED_ONCE, 3, 3, OPT(O_TIMEOUT), "SPACE REGION ADDR [--timeout MS]",
     "read a ONCE cell",
     "Writes the raw value of cell ADDR to stdout (no newline added). An empty\n"
     "cell exits 3 at once, or after waiting MS milliseconds with --timeout.\n"},
    {"append", cli_append, NEED_ONCE, 3, 3, 0, "SPACE REGION VALUE|-",
     "write the next free ONCE cell",
     "Writes VALUE (or stdin for '-') to the next free address of REGION and\n"
     "prints that address.\n"},
    {"recv", cli_recv, NEED_SPACE, 2, 2,
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
    {"store", cli_store, NEED_MANY, 4, 4, 0, "SPACE REGION ADDR VALUE|-",
     "write a MANY cell, print its new version",
     "Stores VALUE (or stdin for '-') in cell ADDR of MANY region REGION and prints\n"
     "the cell's new version.\n"},
    {"load", cli_load, NEED_MANY, 3, 3, OPT(O_VERSION), "SPACE REGION ADDR [--version]",
     "read a MANY cell",
     "Writes the raw value of cell ADDR to stdout (no newline added); a cell never\n"
     "stored is empty with version 0. With --version prints 'VERSION<TAB>VALUE'\n"
     "and a newline.\n"},
    {"cas", cli_cas, NEED_MANY, 5, 5, 0, "SPACE REGION ADDR EXPECT VALUE|-",
     "compare-and-swap a MANY cell",
     "Stores VALUE (or stdin for '-') in cell ADDR only if its version is EXPECT,\n"
     "and prints the new version. Exits 5 if the version moved.\n"},
    {"ls", cli_ls, NEED_SPACE, 1, 1, 0, "SPACE", "list regions",
     "Prints one line per region: name, mode, tail and floor (ONCE regions),\n"
     "value bytes held and the largest value accepted. A region that a channel\n"
     "or queue group keeps for itself says what it is, e.g. '(seats of channel\n"
     "jobs)': REGION.seats, .acks and .times of channel REGION, REGION.G.claims\n"
     "and .members of its queue group G. In names, control characters, invalid\n"
     "UTF-8 and the backslash are printed escaped (\\xNN, \\\\).\n"},
    {"stat", cli_stat, NEED_SPACE, 1, 1, OPT(O_COUNT) | OPT(O_INTERVAL) | OPT(O_PROMETHEUS),
     "SPACE [--count N] [--interval MS] | SPACE --prometheus",
     "a live view of a space: tails, rates, readers and lag",
     "Shows every region with its tail, floor, bytes held and appends per second,\n"
     "and for bounded channels each subscriber's published cursor and its lag\n"
     "behind the tail. Refreshes in place every MS milliseconds on a terminal\n"
     "(until interrupted, or N times); otherwise prints N snapshots (default 1).\n"
     "With --prometheus prints these figures once in the Prometheus text\n"
     "format, with the space's own (process slots, bytes allocated, free\n"
     "chunks): the metrics 'wom exporter' serves (README.md, \"Metrics\").\n"},
    {"inspect", cli_inspect, NEED_SPACE, 3, 3, 0, "SPACE REGION ADDR",
     "show one cell's state",
     "Prints the state of cell ADDR of REGION (either mode): EMPTY, CLAIMED by\n"
     "pid N (an append in flight), WRITTEN with its size and version, ABANDONED\n"
     "(its appender died) or TRIMMED. Nothing waits and nothing changes.\n"},
    {"trim", cli_trim, NEED_ONCE, 3, 3, 0, "SPACE REGION BELOW",
     "release every ONCE cell below an address",
     "Trims REGION below address BELOW: later reads there exit 6. The floor only\n"
     "rises.\n"},
    {"batch", cli_batch, NEED_SPACE, 1, 1, 0, "SPACE < COMMANDS",
     "run commands from stdin in one space",
     "Runs the commands on stdin, one per line, all in the one space SPACE (so\n"
     "on mem: a get sees an earlier put). A line is a command without 'wom' and\n"
     "without SPACE, e.g. 'put log 0 hello'; words are separated by blanks (no\n"
     "quoting), '-' values are not allowed and '#' starts a comment line. A line\n"
     "holding a NUL byte is refused (exit 1) and not run: a batch is text. Output\n"
     "is each command's output; the first failing line stops the batch with that\n"
     "command's exit code (12 if its output could not be written: it ran).\n"},
    {"demo", cli_demo, NEED_NOTHING, 0, 0,
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
    {"mirror", cli_mirror, NEED_NOTHING, 3, 3, OPT(O_COUNT) | OPT(O_TIMEOUT),
     "SOURCE REGION DEST [--count N] [--timeout MS]",
     "follow a region into a local shm: space, for read-only readers",
     "Copies ONCE region REGION of space SOURCE (an etcd:// cluster, typically)\n"
     "into the region of the same name in space DEST (a shm: file), cell A of the\n"
     "source to address A of the destination, and keeps following it, so that\n"
     "processes on this host read it (wom recv 'DEST;ro' REGION --follow, or\n"
     "wom_chan_open and wom_sub_open on DEST;ro) at shared-memory speed, zero-copy.\n"
     "The destination region is created with the source's value limit. The\n"
     "mirror resumes at the destination's tail: kill it at any instant, start it\n"
     "again, and nothing is lost or copied twice. A cell already written with the\n"
     "same bytes counts as copied; with other bytes the destination is not a\n"
     "mirror of SOURCE, and it exits 4. Trims are mirrored (the destination's\n"
     "floor follows the source's). A channel needs only its log REGION. Errors\n"
     "of a cluster that cannot answer (a lost member, an election) are retried,\n"
     "10 ms doubling to 1 s apart, said once on stderr. It stops after N cells\n"
     "(--count; fewer exits 3) or when none arrived for MS milliseconds\n"
     "(--timeout; default: never; 0 copies what is there and exits), printing\n"
     "how many cells it copied and the next address.\n"},
    {"cluster", cli_cluster, NEED_NOTHING, 2, 2, OPT(O_MEMBERS) | OPT(O_PORT) | OPT(O_TIMEOUT),
     "up DIR [--members N] [--port P] [--timeout MS]\n"
     "       wom cluster down DIR [--timeout MS]\n"
     "       wom cluster status URI|DIR [--timeout MS]",
     "a local etcd cluster for etcd:// spaces: up, down, status",
     "up: starts a local etcd cluster (Debian's etcd-server, /usr/bin/etcd) of N\n"
     "members (default 3) on 127.0.0.1 in the background, kept in directory DIR\n"
     "(made with mode 0700): member K's data in DIR/mK, its pid in DIR/mK/pid and\n"
     "its output in DIR/mK/log. Member K's client port is P+2(K-1) (P: --port,\n"
     "default 23790), its peer port the next one; a port in use is refused.\n"
     "Prints the cluster's URI, etcd://127.0.0.1:P,127.0.0.1:P+2,.../ (also in\n"
     "DIR/uri), once every member answers and all name the same leader; after\n"
     "MS milliseconds (--timeout, default 30000) it exits 17 naming a member\n"
     "that does not and what its log says. Run again, it starts exactly the\n"
     "members that are not running (killed, crashed, after a reboot) with their\n"
     "data, as DIR/config records them: other --members or --port are refused.\n"
     "down: stops the members of DIR one at a time (SIGTERM, SIGKILL after MS\n"
     "milliseconds, default 10000) and removes their pid files; the data stays.\n"
     "status: one line per member of the cluster at URI (or of DIR): name, id,\n"
     "client address, role, raft term, revision, raft index, database bytes and\n"
     "health, each member given MS milliseconds (default 2000) to answer. Exits\n"
     "0 when a majority of the members name the same leader, else 17.\n"},
    /* ---- Metrics (issue 11) ---- */
    {"exporter", cli_exporter, NEED_NOTHING, 1, MAX_POS, OPT(O_LISTEN),
     "[--listen HOST:PORT] SPACE...",
     "serve the figures of spaces to Prometheus over HTTP",
     "Serves the figures 'wom stat --prometheus' prints, of every SPACE (up to 8,\n"
     "each labelled space=\"SPACE\"), at http://HOST:PORT/metrics (default\n"
     "127.0.0.1:9464; port 0 takes a free one) for Prometheus to scrape; each\n"
     "scrape collects them afresh. Other paths are 404, methods other than GET\n"
     "and HEAD 405. The spaces are opened once, at start (a shm: space\n"
     "read-only: ;ro is added); one that cannot be opened, or an address that\n"
     "cannot be listened on, is an error at start. A space that fails later (an\n"
     "etcd:// cluster down, a shm: file truncated) shows wom_up 0 and the error\n"
     "on stderr, and the exporter goes on. Prints 'wom exporter: listening on\n"
     "http://ADDRESS:PORT/metrics' once it serves; SIGINT or SIGTERM stops it\n"
     "(exit 0).\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

const struct cmd *cli_find_command(const char *name)
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
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
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
    cli_print_options(c->opts);
    print_exit_codes(stdout);
}

static int help(int argc, char **argv)
{
    if (argc < 1) {
        print_usage(stdout);
        return cli_finish_stdout();
    }
    const struct cmd *c = cli_find_command(argv[0]);
    if (!c)
        return cli_usage_error("help", "unknown command '%s'", ESC(argv[0]));
    print_command_help(c);
    return cli_finish_stdout();
}

int cli_parse_command(const struct cmd *c, struct args *a, unsigned extra, int argc,
                      char **argv)
{
    int rc = cli_parse_args(a, c->opts | extra, argc, argv);
    if (rc || has(a, O_HELP))
        return rc;
    if (a->npos < c->min_pos)
        return cli_usage_error(c->name, "missing arguments: wom %s %s", c->name, c->synopsis);
    if (a->npos > c->max_pos)
        return cli_usage_error(c->name, "unexpected argument '%s'", ESC(a->pos[c->max_pos]));
    return 0;
}

int cli_run_in_space(const struct cmd *c, struct args *a, wom_space *s)
{
    struct ctx x = {a, s, NULL};
    int err = 0;
    if (c->need == NEED_ONCE || c->need == NEED_MANY)
        err = wom_region_open(s, a->pos[1], c->need == NEED_ONCE ? WOM_ONCE : WOM_MANY, &x.r);
    int rc = err ? cli_fail(c->name, err) : c->run(&x);
    if (x.r)
        wom_region_close(x.r);
    return rc;
}

static int run_command(const struct cmd *c, int argc, char **argv)
{
    struct args a = {.cmd = c->name};
    int rc = cli_parse_command(c, &a, OPT(O_HELP), argc, argv);
    if (rc)
        return rc;
    if (has(&a, O_HELP)) {
        print_command_help(c);
        return cli_finish_stdout();
    }
    if (c->need == NEED_NOTHING) {
        struct ctx x = {&a, NULL, NULL};
        return c->run(&x);
    }
    wom_space *s;
    int err = wom_open(a.pos[0], &s);
    if (err)
        return cli_open_failed(a.pos[0], err);
    rc = cli_run_in_space(c, &a, s);
    wom_close(s);
    return rc;
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

static int run_main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EX_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help"))
        return help(argc - 2, argv + 2);
    if (!strcmp(name, "--version")) {
        printf("wom %d.%d\n", WOM_VERSION_MAJOR, WOM_VERSION_MINOR);
        return cli_finish_stdout();
    }
    const struct cmd *c = cli_find_command(name);
    if (!c) {
        fprintf(stderr, "wom: unknown command '%s'\nTry 'wom --help'.\n", ESC(name));
        return EX_USAGE;
    }
    return run_command(c, argc - 2, argv + 2);
}

int wom_cli_main(int argc, char **argv)
{
    if (keep_std_fds()) {
        fprintf(stderr, "wom: cannot open /dev/null for a closed standard descriptor: %s\n",
                strerror(errno));
        return EX_OTHER;
    }
    return cli_finish_output(run_main(argc, argv));
}
