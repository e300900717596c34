/* cli_test.c - the `wom` command-line tool, run as a separate program: exit
 * codes, stdout and stderr of every command on mem: (a new private space per
 * invocation), bad input, the demo (and that its checks catch faults), and
 * that the man page covers every command and exit code. */
#include "harness.h"
#include "wom.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/layout.h" /* to write hostile region names into a space file */

#define WOM_BIN WOM_BUILD_DIR "/wom"
#define OUT_CAP (256u << 10)
#define ERR_CAP (64u << 10)

struct run {
    int code; /* exit status, or 128 + signal */
    size_t out_len;
    char out[OUT_CAP + 1];
    char err[ERR_CAP + 1];
    double secs;
};

/* Write len bytes of data to a fresh temporary file, rewound. */
static FILE *input_file(const char *data, size_t len)
{
    FILE *f = tmpfile();
    CHECK_MSG(f, "tmpfile: %s", strerror(errno));
    CHECK(fwrite(data, 1, len, f) == len);
    CHECK(fflush(f) == 0);
    rewind(f);
    return f;
}

/* Read all of f (up to cap bytes) into buf, NUL-terminated. */
static size_t slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap, f);
    CHECK_MSG(fgetc(f) == EOF, "output larger than %zu bytes", cap);
    buf[n] = 0;
    fclose(f);
    return n;
}

/* Run wom with argv (argv[0] = "wom", NULL-terminated) and stdin from
 * `in` (len bytes; NULL: empty), capturing stdout and stderr, with the
 * standard descriptors in bit set `closed` (bit i: descriptor i) closed. */
static void run_closed(struct run *r, unsigned closed, const char *in, size_t len,
                       const char *const *argv)
{
    FILE *fin = input_file(in ? in : "", in ? len : 0);
    FILE *fout = tmpfile(), *ferr = tmpfile();
    CHECK(fout && ferr);
    int64_t t0 = wom_test_now_ns();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fileno(fin), 0);
        dup2(fileno(fout), 1);
        dup2(fileno(ferr), 2);
        for (int fd = 0; fd <= 2; fd++)
            if (closed >> fd & 1u)
                close(fd);
        execv(WOM_BIN, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", WOM_BIN, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    r->secs = (double)(wom_test_now_ns() - t0) / 1e9;
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    fclose(fin);
    r->out_len = slurp(fout, r->out, OUT_CAP);
    slurp(ferr, r->err, ERR_CAP);
    CHECK_MSG(r->code != 127, "could not run %s: %s", WOM_BIN, r->err);
}

static void run_in(struct run *r, const char *in, size_t len, const char *const *argv)
{
    run_closed(r, 0, in, len, argv);
}

static struct run R; /* one at a time; each test runs in its own process */

#define ARGV(...) ((const char *const[]){"wom", __VA_ARGS__, NULL})
/* Run wom with the given arguments and empty stdin. */
#define WOM(...) run_in(&R, NULL, 0, ARGV(__VA_ARGS__))
/* Run wom with the given arguments and the string `in` on stdin. */
#define WOM_IN(in, ...) run_in(&R, (in), strlen(in), ARGV(__VA_ARGS__))

/* Assert the last run's exit code, showing its stderr on failure. */
#define CHECK_EXIT(want)                                                       \
    CHECK_MSG(R.code == (want), "exit %d, want %d; stderr: %s", R.code, (want), R.err)
#define CHECK_OUT(want)                                                        \
    CHECK_MSG(strcmp(R.out, (want)) == 0, "stdout '%s', want '%s'", R.out, (want))
#define CHECK_ERR_IS(want)                                                     \
    CHECK_MSG(strcmp(R.err, (want)) == 0, "stderr '%s', want '%s'", R.err, (want))
#define CHECK_HAS(buf, sub)                                                    \
    CHECK_MSG(strstr((buf), (sub)), "'%s' not in: %s", (sub), (buf))

/* The documented exit codes. */
enum { CLI_OK, CLI_USAGE, CLI_IO, CLI_EMPTY, CLI_WRITTEN, CLI_CONFLICT, CLI_TRIMMED, CLI_MODE, CLI_TOOBIG,
       CLI_NOSPACE, CLI_OTHER, CLI_VERIFY, CLI_OUTPUT, CLI_BUSY, CLI_EIO, CLI_NOTCONN,
       CLI_UNKNOWN, CLI_UNAVAIL, CLI_LAST = CLI_UNAVAIL };

static const char *const commands[] = {"put", "get", "append", "recv", "store", "load",
                                       "cas", "ls", "trim", "batch", "demo"};
#define NCMD (sizeof commands / sizeof commands[0])

/* A fresh directory from template dir ("/tmp/...-XXXXXX"), which the
 * runner removes if the test ends before tmp_dir_done (a failed check, a
 * timeout, a kill), so that no run leaves one in /tmp. */
static void tmp_dir(char *dir)
{
    CHECK(mkdtemp(dir));
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    wom_test_on_abandon(cmd);
}

/* Remove dir's one file and dir itself, and clear tmp_dir's cleanup. */
static void tmp_dir_done(const char *dir, const char *path)
{
    CHECK(unlink(path) == 0 && rmdir(dir) == 0);
    wom_test_on_abandon(NULL);
}

/* ---- Help, version, unknown commands ------------------------------------ */

TEST(cli_help_lists_commands_and_exit_codes, T_UNIT)
{
    WOM("--help");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "usage: wom");
    for (size_t i = 0; i < NCMD; i++) {
        char line[32];
        snprintf(line, sizeof line, "\n  %s ", commands[i]);
        CHECK_HAS(R.out, line);
    }
    CHECK_HAS(R.out, "Exit status:");
    for (int code = CLI_OK; code <= CLI_LAST; code++) {
        char line[16];
        snprintf(line, sizeof line, "\n  %2d  ", code);
        CHECK_HAS(R.out, line);
    }
    CHECK_HAS(R.out, "WOM_EWRITTEN");
    CHECK_HAS(R.out, "WOM_EBUSY");
    CHECK_HAS(R.out, "WOM_EUNKNOWN");
    WOM("help");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "Exit status:");
}

TEST(cli_help_per_command, T_UNIT)
{
    for (size_t i = 0; i < NCMD; i++) {
        char want[32];
        snprintf(want, sizeof want, "usage: wom %s ", commands[i]);
        WOM(commands[i], "--help");
        CHECK_EXIT(CLI_OK);
        CHECK_HAS(R.out, want);
        CHECK_HAS(R.out, "Exit status:");
        WOM("help", commands[i]);
        CHECK_EXIT(CLI_OK);
        CHECK_HAS(R.out, want);
        WOM(commands[i], "-h");
        CHECK_EXIT(CLI_OK);
        CHECK_HAS(R.out, want);
    }
    WOM("recv", "--help");
    CHECK_HAS(R.out, "--follow");
    CHECK_HAS(R.out, "--timeout MS");
    WOM("demo", "--help");
    CHECK_HAS(R.out, "--queue");
    CHECK_HAS(R.out, "--messages N");
}

TEST(cli_version, T_UNIT)
{
    char want[32];
    snprintf(want, sizeof want, "wom %d.%d\n", WOM_VERSION_MAJOR, WOM_VERSION_MINOR);
    WOM("--version");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT(want);
}

TEST(cli_usage_errors, T_UNIT)
{
    run_in(&R, NULL, 0, (const char *const[]){"wom", NULL});
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "usage: wom");
    WOM("frobnicate", "mem:");
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "wom: unknown command 'frobnicate'");
    WOM("help", "frobnicate");
    CHECK_EXIT(CLI_USAGE);
    WOM("get", "mem:", "r", "0", "--bogus");
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "wom: get: unknown option '--bogus'");
    WOM("get", "mem:", "r", "0", "--addr"); /* a recv option, not get's */
    CHECK_EXIT(CLI_USAGE);
    WOM("get", "mem:", "r", "0", "--timeout");
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "needs a value");
    WOM("recv", "mem:", "r", "--follow=yes");
    CHECK_EXIT(CLI_USAGE);
    WOM("put", "mem:", "r", "0");
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "missing arguments");
    WOM("put", "mem:", "r", "0", "a", "b");
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "unexpected argument 'b'");
    WOM("ls");
    CHECK_EXIT(CLI_USAGE);
    WOM("demo", "extra");
    CHECK_EXIT(CLI_USAGE);
    CHECK_EQ(R.out_len, 0);
}

/* ---- Numbers -------------------------------------------------------------- */

TEST(cli_bad_numbers_rejected, T_UNIT)
{
    const char *bad[] = {"abc", "-1", "12x", "", " 1", "1 ", "+1", "0x", "0xg",
                         "18446744073709551616", "99999999999999999999999", "1e3", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        WOM("get", "mem:", "r", bad[i]);
        CHECK_MSG(R.code == CLI_USAGE, "ADDR '%s': exit %d", bad[i], R.code);
        CHECK_HAS(R.err, "is not a non-negative integer");
        WOM("get", "mem:", "r", "0", "--timeout", bad[i]);
        CHECK_MSG(R.code == CLI_USAGE, "--timeout '%s': exit %d", bad[i], R.code);
        WOM("cas", "mem:", "r", "0", bad[i], "v");
        CHECK_MSG(R.code == CLI_USAGE, "EXPECT '%s': exit %d", bad[i], R.code);
        WOM("trim", "mem:", "r", bad[i]);
        CHECK_MSG(R.code == CLI_USAGE, "BELOW '%s': exit %d", bad[i], R.code);
        WOM("demo", "--messages", bad[i]);
        CHECK_MSG(R.code == CLI_USAGE, "--messages '%s': exit %d", bad[i], R.code);
    }
    WOM("recv", "mem:", "r", "--count", "0");
    CHECK_EXIT(CLI_USAGE);
    CHECK_HAS(R.err, "out of range");
    WOM("demo", "--producers", "0");
    CHECK_EXIT(CLI_USAGE);
    WOM("demo", "--consumers", "257");
    CHECK_EXIT(CLI_USAGE);
    WOM("demo", "--size", "31");
    CHECK_EXIT(CLI_USAGE);
    WOM("get", "mem:", "r", "0", "--timeout", "99999999999999");
    CHECK_EXIT(CLI_USAGE);
}

TEST(cli_good_numbers_accepted, T_UNIT)
{
    /* Valid addresses reach the space: the cell is empty, not a usage error. */
    const char *good[] = {"0", "18446744073709551615", "0x10", "0XfF", "007"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        WOM("get", "mem:", "r", good[i]);
        CHECK_MSG(R.code == CLI_EMPTY, "ADDR '%s': exit %d: %s", good[i], R.code, R.err);
    }
    WOM("get", "mem:", "r", "0", "--timeout=0");
    CHECK_EXIT(CLI_EMPTY);
}

/* ---- ONCE commands ---------------------------------------------------------- */

TEST(cli_put_then_get_in_separate_invocations, T_UNIT)
{
    WOM("put", "mem:", "r", "0", "hello");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("");
    CHECK_ERR_IS("");
    /* mem: is private to each process: the value died with the first one. */
    WOM("get", "mem:", "r", "0");
    CHECK_EXIT(CLI_EMPTY);
    CHECK_OUT("");
    CHECK_ERR_IS("wom: get: cell is empty (WOM_EEMPTY)\n");
}

TEST(cli_get_timeout_waits, T_UNIT)
{
    WOM("get", "mem:", "r", "7", "--timeout", "200");
    CHECK_EXIT(CLI_EMPTY);
    CHECK_ERR_IS("wom: get: timed out (WOM_ETIMEDOUT)\n");
    CHECK_MSG(R.secs >= 0.2, "returned after %.3f s", R.secs);
}

TEST(cli_append_prints_address, T_UNIT)
{
    WOM("append", "mem:", "log", "hi");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\n");
    WOM_IN("from stdin\n", "append", "mem:", "log", "-");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\n");
    WOM("append", "mem:", "log", "--", "--help"); /* "--" ends the options */
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\n");
    WOM("append", "mem:", "log", "");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\n");
}

TEST(cli_put_values_from_stdin, T_UNIT)
{
    WOM_IN("value", "put", "mem:", "r", "3", "-");
    CHECK_EXIT(CLI_OK);
    WOM("put", "mem:", "r", "3", "-"); /* empty stdin: an empty value */
    CHECK_EXIT(CLI_OK);
    /* Over the region's default limit: refused, never truncated. */
    size_t n = WOM_MAX_VALUE_DEFAULT + 1;
    char *big = malloc(n);
    CHECK(big);
    memset(big, 'x', n);
    run_in(&R, big, n, ARGV("put", "mem:", "r", "0", "-"));
    CHECK_EXIT(CLI_TOOBIG);
    CHECK_ERR_IS("wom: put: value larger than the region's maximum value size "
                 "(WOM_EMSGSIZE)\n");
    free(big);
    /* Over anything a space accepts: refused while reading stdin. */
    n = 2 * (size_t)WOM_MAX_VALUE_LIMIT;
    big = calloc(1, n);
    CHECK(big);
    run_in(&R, big, n, ARGV("append", "mem:", "r", "-"));
    CHECK_EXIT(CLI_TOOBIG);
    free(big);
}

TEST(cli_recv, T_UNIT)
{
    WOM("recv", "mem:", "ch");
    CHECK_EXIT(CLI_OK); /* the log so far: nothing */
    CHECK_OUT("");
    WOM("recv", "mem:", "ch", "--from", "5", "--addr");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("");
    WOM("recv", "mem:", "ch", "--count", "1");
    CHECK_EXIT(CLI_EMPTY); /* asked for a message that is not there */
    CHECK_ERR_IS("wom: recv: cell is empty (WOM_EEMPTY)\n");
    WOM("recv", "mem:", "ch", "--follow", "--count", "2", "--timeout", "100");
    CHECK_EXIT(CLI_EMPTY);
    CHECK_ERR_IS("wom: recv: timed out (WOM_ETIMEDOUT)\n");
    CHECK(R.secs >= 0.1);
    WOM("recv", "mem:", "ch", "--follow", "--timeout", "50");
    CHECK_EXIT(CLI_OK); /* no --count: the end of the wait ends the output */
}

TEST(cli_trim, T_UNIT)
{
    WOM("trim", "mem:", "log", "10");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("");
    WOM("trim", "mem:", "log", "0");
    CHECK_EXIT(CLI_OK);
}

/* ---- MANY commands ---------------------------------------------------------- */

TEST(cli_store_prints_version, T_UNIT)
{
    WOM("store", "mem:", "reg", "0", "v");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("1\n");
    WOM_IN("from stdin", "store", "mem:", "reg", "9", "-");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("1\n");
}

TEST(cli_load_fresh_cell, T_UNIT)
{
    WOM("load", "mem:", "reg", "0");
    CHECK_EXIT(CLI_OK);
    CHECK_EQ(R.out_len, 0); /* an empty value */
    WOM("load", "mem:", "reg", "0", "--version");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\t\n");
}

TEST(cli_cas, T_UNIT)
{
    WOM("cas", "mem:", "reg", "0", "0", "v");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("1\n");
    WOM_IN("w", "cas", "mem:", "reg", "0", "0", "-");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("1\n");
    WOM("cas", "mem:", "reg", "0", "7", "v");
    CHECK_EXIT(CLI_CONFLICT);
    CHECK_OUT("");
    CHECK_ERR_IS("wom: cas: version moved (compare-and-swap lost) (WOM_ECONFLICT)\n");
}

/* ---- Spaces and regions ------------------------------------------------------ */

TEST(cli_ls_fresh_space, T_UNIT)
{
    WOM("ls", "mem:");
    CHECK_EXIT(CLI_OK);
    CHECK(strncmp(R.out, "NAME ", 5) == 0);
    CHECK_HAS(R.out, "MAX_VALUE\n");
    CHECK(strchr(R.out, '\n') == R.out + R.out_len - 1); /* the header only */
}

TEST(cli_bad_space_and_region, T_UNIT)
{
    WOM("get", "bogus:", "r", "0");
    CHECK_EXIT(CLI_NOSPACE);
    CHECK_MSG(!strncmp(R.err, "wom: bogus:: unknown or malformed space URI", 43),
              "stderr: %s", R.err); /* the URI, wom_strerror, wom_last_error if any */
    WOM("ls", "mem:;size=banana");
    CHECK_EXIT(CLI_NOSPACE);
    WOM("demo", "--uri", "nowhere");
    CHECK_EXIT(CLI_NOSPACE);
    char name[WOM_NAME_MAX + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    WOM("put", "mem:", name, "0", "v");
    CHECK_EXIT(CLI_TOOBIG);
    CHECK_HAS(R.err, "(WOM_ENAMETOOLONG)");
    name[WOM_NAME_MAX] = 0; /* exactly the limit is fine */
    WOM("put", "mem:", name, "0", "v");
    CHECK_EXIT(CLI_OK);
    WOM("store", "mem:", "", "0", "v");
    CHECK_EXIT(CLI_OTHER);
    CHECK_HAS(R.err, "(WOM_EINVAL)");
}

/* ---- batch: many commands in one mem: space ------------------------------- */

TEST(cli_batch_put_then_get, T_UNIT)
{
    WOM_IN("put r 0 hello\nget r 0\nget r 0 --timeout 100000\n", "batch", "mem:");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("hellohello"); /* raw values, no newline added */
    CHECK(R.secs < 10);      /* a written cell does not wait */
    CHECK_ERR_IS("");
    WOM_IN("\n# a comment\n   \n", "batch", "mem:");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("");
    WOM("batch", "mem:"); /* empty stdin */
    CHECK_EXIT(CLI_OK);
}

TEST(cli_batch_log_and_recv, T_UNIT)
{
    WOM_IN("append log a\nappend log b\nappend log c\nrecv log --addr\n"
           "recv log --from 1 --count 1\nrecv log --from 0x2\nput log 7 h\nget log 7\n",
           "batch", "mem:");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\n1\n2\n0\ta\n1\tb\n2\tc\nb\nc\nh");
    WOM_IN("append log a\nappend log b\nrecv log --count 3\n", "batch", "mem:");
    CHECK_EXIT(CLI_EMPTY);
    CHECK_OUT("0\n1\na\nb\n");
    CHECK_HAS(R.err, "wom: recv: cell is empty (WOM_EEMPTY)\n");
    CHECK_HAS(R.err, "wom: batch: stopped at line 3\n");
}

/* A run of appends to one region is one append many: the same output and
 * the same stop as the appends one by one, a value too big included. */
TEST(cli_batch_appends_run_as_one, T_UNIT)
{
    static char in[3000 * 24];
    size_t n = 0;
    for (int i = 0; i < 3000; i++) /* more than one run of held appends */
        n += (size_t)snprintf(in + n, sizeof in - n, "append log v%d\n", i);
    n += (size_t)snprintf(in + n, sizeof in - n, "get log 2999\nappend other x\nappend log y\n");
    run_in(&R, in, n, ARGV("batch", "mem:"));
    CHECK_EXIT(CLI_OK);
    char *p = R.out;
    for (int i = 0; i < 3000; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d\n", i);
        CHECK_MSG(strncmp(p, want, strlen(want)) == 0, "line %d: %.20s", i, p);
        p += strlen(want);
    }
    CHECK_MSG(strcmp(p, "v29990\n3000\n") == 0, "the end: %s", p);
    static char big[(1 << 20) + 64];
    n = (size_t)snprintf(big, sizeof big, "append log a\nappend log b\nappend log ");
    memset(big + n, 'x', (1 << 20) + 1);
    n += (1 << 20) + 1;
    n += (size_t)snprintf(big + n, sizeof big - n, "\nappend log d\n");
    run_in(&R, big, n, ARGV("batch", "mem:"));
    CHECK_EXIT(CLI_TOOBIG);
    CHECK_OUT("0\n1\n");
    CHECK_HAS(R.err, "wom: batch: stopped at line 3\n");
}

TEST(cli_batch_registers, T_UNIT)
{
    WOM_IN("store m 0 v1\nstore m 0 v2\nload m 0 --version\nload m 0\ncas m 0 2 v3\n"
           "load m 5 --version\ncas m 0 2 v4\nstore m 0 never\n",
           "batch", "mem:");
    CHECK_EXIT(CLI_CONFLICT);
    CHECK_OUT("1\n2\n2\tv2\nv23\n0\t\n");
    CHECK_ERR_IS("wom: cas: version moved (compare-and-swap lost) (WOM_ECONFLICT)\n"
                 "wom: batch: stopped at line 7\n");
}

TEST(cli_batch_error_classes, T_UNIT)
{
    WOM_IN("put r 0 a\nput r 0 b\n", "batch", "mem:");
    CHECK_EXIT(CLI_WRITTEN);
    CHECK_HAS(R.err, "wom: put: cell already written (the first write won) (WOM_EWRITTEN)\n");
    WOM_IN("put r 0 a\nstore r 0 b\n", "batch", "mem:");
    CHECK_EXIT(CLI_MODE);
    CHECK_HAS(R.err, "(WOM_EMODE)");
    WOM_IN("store m 0 a\nget m 0\n", "batch", "mem:");
    CHECK_EXIT(CLI_MODE);
    WOM_IN("append log a\nappend log b\ntrim log 1\nrecv log\nget log 0\n", "batch", "mem:");
    CHECK_EXIT(CLI_TRIMMED);
    CHECK_OUT("0\n1\nb\n"); /* recv skips the trimmed address */
    CHECK_HAS(R.err, "wom: get: address was trimmed (WOM_ETRIMMED)\n");
    WOM_IN("trim log 5\nput log 4 x\n", "batch", "mem:");
    CHECK_EXIT(CLI_TRIMMED);
}

TEST(cli_batch_usage_errors, T_UNIT)
{
    static const char *const bad[] = {"put r 0 -\n", "demo\n", "batch\n", "frob r\n",
                                      "get r x\n", "put r 0\n", "get r 0 --help\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        WOM_IN(bad[i], "batch", "mem:");
        CHECK_MSG(R.code == CLI_USAGE, "'%s': exit %d", bad[i], R.code);
        CHECK_HAS(R.err, "wom: batch: stopped at line 1\n");
    }
    /* Lines before the bad one ran; lines after it did not. */
    WOM_IN("append log a\nput log\nappend log b\n", "batch", "mem:");
    CHECK_EXIT(CLI_USAGE);
    CHECK_OUT("0\n");
    CHECK_HAS(R.err, "stopped at line 2");
    WOM("batch", "mem:", "extra");
    CHECK_EXIT(CLI_USAGE);
}

TEST(cli_batch_ls, T_UNIT)
{
    WOM_IN("append log a\nappend log bb\ntrim log 1\nstore reg 3 v\nls\n", "batch", "mem:");
    CHECK_EXIT(CLI_OK);
    char *line = strstr(R.out, "\nlog ");
    CHECK_MSG(line, "no log line in: %s", R.out);
    unsigned long long tail, floor;
    char mode[8];
    CHECK(sscanf(line, " log %7s %llu %llu", mode, &tail, &floor) == 3);
    CHECK(strcmp(mode, "once") == 0);
    CHECK_EQ(tail, 2);
    CHECK_EQ(floor, 1);
    line = strstr(R.out, "\nreg ");
    CHECK_MSG(line, "no reg line in: %s", R.out);
    CHECK(sscanf(line, " reg %7s", mode) == 1);
    CHECK(strcmp(mode, "many") == 0);
}

/* ---- The demo ----------------------------------------------------------------- */

TEST(cli_demo_channel, T_UNIT)
{
    WOM("demo", "--messages", "20000");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "demo: OK: 20000 messages, exactly once, in order (2 consumers)\n");
    CHECK_HAS(R.out, "M msg/s");
    CHECK_HAS(R.out, "MB/s");
}

TEST(cli_demo_processes_over_shm, T_UNIT)
{
    char dir[] = "/tmp/wom-cli-XXXXXX", uri[64];
    tmp_dir(dir);
    snprintf(uri, sizeof uri, "--uri=shm:%s/demo.wom", dir);
    WOM("demo", "--procs", uri, "--messages", "50000");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "demo: OK: 50000 messages, exactly once, in order (2 consumers)\n");
    /* A second run in the same file starts at the channel's tail. */
    WOM("demo", "--procs", uri, "--queue", "--consumers", "3", "--messages", "30000");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "(queue group of 3 consumers)\n");
    /* The checks still bite when the roles are processes. */
    WOM("demo", "--procs", uri, "--messages", "20000", "--inject", "drop");
    CHECK_EXIT(CLI_VERIFY);
    CHECK_HAS(R.err, "missing messages");
    WOM("demo", "--procs", "--messages", "10");
    CHECK_EXIT(CLI_USAGE);
    char path[64];
    snprintf(path, sizeof path, "%s/demo.wom", dir);
    tmp_dir_done(dir, path);
}

/* A read-only URI reads everything and refuses every write (exit 10). */
TEST(cli_read_only_space, T_UNIT)
{
    char dir[] = "/tmp/wom-cli-XXXXXX", uri[96], ro[104], path[64];
    tmp_dir(dir);
    snprintf(path, sizeof path, "%s/s.wom", dir);
    snprintf(uri, sizeof uri, "shm:%s", path);
    snprintf(ro, sizeof ro, "%s;ro", uri);
    WOM("get", ro, "log", "0");
    CHECK_EXIT(CLI_NOSPACE); /* a read-only open never creates the space */
    WOM("append", uri, "log", "hello");
    CHECK_EXIT(CLI_OK);
    WOM("get", ro, "log", "0");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("hello");
    WOM("recv", ro, "log", "--follow", "--count", "1", "--addr");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "hello");
    WOM("ls", ro);
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "log");
    WOM("append", ro, "log", "no");
    CHECK_EXIT(CLI_OTHER);
    CHECK_ERR_IS("wom: append: space opened read-only (WOM_EROFS)\n");
    WOM("store", ro, "reg", "1", "no");
    CHECK_EXIT(CLI_NOSPACE); /* no such region, and it cannot be made */
    WOM("trim", ro, "log", "1");
    CHECK_EXIT(CLI_OTHER);
    tmp_dir_done(dir, path);
}

TEST(cli_demo_queue, T_UNIT)
{
    WOM("demo", "--queue", "--messages", "20000");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "demo: OK: 20000 messages, exactly once, in order "
                     "(queue group of 2 consumers)\n");
}

TEST(cli_demo_shapes, T_UNIT)
{
    /* Uneven split over producers, one consumer, big messages. */
    WOM("demo", "--producers", "3", "--consumers", "1", "--messages", "3001", "--size",
        "5000");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "demo: OK: 3001 messages, exactly once, in order (1 consumer)\n");
    WOM("demo", "--queue", "--producers", "1", "--consumers", "4", "--messages", "7",
        "--size", "32");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "demo: OK: 7 messages");
}

TEST_T(cli_demo_seconds_and_progress, T_UNIT, 60)
{
    WOM("demo", "--seconds", "2", "--consumers", "1");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "demo: OK: ");
    CHECK_MSG(R.secs >= 2.0 && R.secs < 30, "ran %.2f s", R.secs);
    /* stderr is a file here: plain periodic lines, no carriage returns. */
    CHECK_HAS(R.err, " s: ");
    CHECK_HAS(R.err, " sent, ");
    CHECK(!strchr(R.err, '\r'));
}

TEST(cli_demo_catches_faults, T_UNIT)
{
    static const struct {
        const char *fault, *mode, *says;
    } cases[] = {
        {"duplicate", "", "duplicate or out of order"},
        {"drop", "", "missing messages"},
        {"corrupt", "", "payload checksum mismatch"},
        {"reorder", "", "when expecting"},
        {"duplicate", "--queue", "producer 0: "},
        {"drop", "--queue", "distinct ones received by the group"},
        {"corrupt", "--queue", "payload checksum mismatch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (*cases[i].mode)
            WOM("demo", "--messages", "4000", "--inject", cases[i].fault, cases[i].mode);
        else
            WOM("demo", "--messages", "4000", "--inject", cases[i].fault);
        CHECK_MSG(R.code == CLI_VERIFY, "%s %s: exit %d: %s", cases[i].fault, cases[i].mode,
                  R.code, R.err);
        CHECK_HAS(R.err, "wom: demo: FAILED: ");
        CHECK_HAS(R.err, cases[i].says);
        CHECK(!strstr(R.out, "demo: OK"));
    }
    WOM("demo", "--inject", "gremlins");
    CHECK_EXIT(CLI_USAGE);
}

/* ---- The man page -------------------------------------------------------------- */

TEST(cli_man_page_covers_commands_and_codes, T_UNIT)
{
    FILE *f = fopen(WOM_SOURCE_DIR "/docs/wom.1", "r");
    CHECK_MSG(f, "docs/wom.1: %s", strerror(errno));
    static char man[128 << 10];
    size_t n = fread(man, 1, sizeof man - 1, f);
    fclose(f);
    man[n] = 0;
    CHECK(strncmp(man, ".TH WOM 1", 9) == 0 || strstr(man, "\n.TH WOM 1"));
    for (size_t i = 0; i < NCMD; i++) {
        char want[32];
        snprintf(want, sizeof want, ".B wom %s", commands[i]);
        CHECK_MSG(strstr(man, want), "docs/wom.1 lacks '%s'", want);
    }
    for (int code = CLI_OK; code <= CLI_LAST; code++) {
        char want[16];
        snprintf(want, sizeof want, "\n.B %d\n", code);
        CHECK_MSG(strstr(man, want), "docs/wom.1 lacks exit code %d", code);
    }
}

/* Send n messages on c, then receive k of them with sub. */
static void send_then_recv(wom_chan *c, wom_sub *sub, uint64_t n, uint64_t k)
{
    for (uint64_t i = 0; i < n; i++)
        CHECK_OK(wom_chan_send(c, &i, sizeof i, 0, NULL));
    for (uint64_t i = 0; i < k; i++) {
        uint64_t v;
        size_t len;
        CHECK_OK(wom_sub_recv(sub, &v, sizeof v, &len, NULL, 0));
        CHECK_EQ(v, i);
    }
}

TEST(cli_stat_shows_tails_and_reader_lag, T_UNIT)
{
    char dir[] = "/tmp/wom-stat-XXXXXX", uri[96], path[80];
    tmp_dir(dir);
    snprintf(path, sizeof path, "%s/s.wom", dir);
    snprintf(uri, sizeof uri, "shm:%s", path);
    wom_space *s;
    wom_chan *c;
    wom_sub *sub;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.bound = 16; /* subscribers publish their cursor every 4 messages */
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_chan_open(s, "jobs", &o, &c));
    CHECK_OK(wom_sub_open(c, NULL, &sub));
    send_then_recv(c, sub, 10, 5);
    WOM("stat", uri, "--count", "2", "--interval", "10");
    CHECK_EXIT(CLI_OK);
    CHECK_HAS(R.out, "APPENDS/S");
    CHECK_HAS(R.out, "jobs                     once           10            0");
    CHECK_HAS(R.out, "  jobs reader 1: cursor 4, lag 6\n");
    /* A reader of an unbounded channel publishes its cursor too (every
     * 1024 messages), only for this view. */
    wom_chan *u;
    wom_sub *usub;
    CHECK_OK(wom_chan_open(s, "logs", NULL, &u));
    CHECK_OK(wom_sub_open(u, NULL, &usub));
    send_then_recv(u, usub, 1500, 1200);
    WOM("stat", uri);
    CHECK_HAS(R.out, "  logs reader 1: cursor 1024, lag 476 (unbounded)\n");
    wom_sub_close(usub);
    wom_chan_close(u);
    wom_sub_close(sub);
    WOM("stat", uri);
    CHECK_HAS(R.out, "  jobs reader 1: closed\n");
    WOM("stat", uri, "--interval", "5");
    CHECK_EXIT(CLI_USAGE); /* below the 10 ms floor */
    wom_chan_close(c);
    wom_close(s);
    tmp_dir_done(dir, path);
}

/* ---- Issue 7: closed descriptors, NUL bytes, hostile names, form regions -- */

struct tmp_space {
    char dir[32], path[64], uri[80];
};

/* A new directory for a shm: space file (not created yet). */
static void tmp_space(struct tmp_space *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/wom-cli7-XXXXXX");
    tmp_dir(t->dir);
    snprintf(t->path, sizeof t->path, "%s/s.wom", t->dir);
    snprintf(t->uri, sizeof t->uri, "shm:%s", t->path);
}

static void tmp_space_rm(const struct tmp_space *t)
{
    tmp_dir_done(t->dir, t->path);
}

/* 7a: with stdin, stdout or stderr closed, the space file must not become
 * descriptor 0, 1 or 2 (the command's output or error message would be
 * written over its header, its header read as stdin), and output that
 * cannot be written must not pass for success: exit 12 says "done, output
 * lost", so a script knows the append happened. */
TEST(cli_closed_std_fds_leave_the_space_intact, T_UNIT)
{
    struct tmp_space t;
    tmp_space(&t);
    char lost[96];
    snprintf(lost, sizeof lost, "wom: cannot write the output: %s\n", strerror(EBADF));
    WOM("append", t.uri, "log", "a");
    CHECK_EXIT(CLI_OK);
    run_closed(&R, 1u << 1, NULL, 0, ARGV("append", t.uri, "log", "b"));
    CHECK_EXIT(CLI_OUTPUT);
    CHECK_ERR_IS(lost);
    /* An error message to a closed stderr, and a success with it closed. */
    run_closed(&R, 1u << 2, NULL, 0, ARGV("get", t.uri, "log", "7"));
    CHECK_EXIT(CLI_EMPTY);
    run_closed(&R, 1u << 2, NULL, 0, ARGV("append", t.uri, "log", "c"));
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("2\n");
    /* A closed stdin is an error, not an empty value. */
    run_closed(&R, 1u << 0, NULL, 0, ARGV("append", t.uri, "log", "-"));
    CHECK_EXIT(CLI_IO);
    CHECK_HAS(R.err, "wom: append: reading stdin: ");
    run_closed(&R, 7u, NULL, 0, ARGV("append", t.uri, "log", "d"));
    CHECK_EXIT(CLI_OUTPUT); /* nowhere to say it: the exit code alone */
    /* A batch stops after the line whose output was lost (that line ran). */
    static const char lines[] = "append log e\nput log 9 z\n";
    run_closed(&R, 1u << 1, lines, sizeof lines - 1, ARGV("batch", t.uri));
    CHECK_EXIT(CLI_OUTPUT);
    CHECK_HAS(R.err, "wom: batch: stopped at line 1\n");
    CHECK_HAS(R.err, lost);
    /* Consecutive appends to one region run as one append many before
     * their output is written: the batch stops after the last of them. */
    static const char run[] = "append log f\nappend log g\nput log 9 z\n";
    run_closed(&R, 1u << 1, run, sizeof run - 1, ARGV("batch", t.uri));
    CHECK_EXIT(CLI_OUTPUT);
    CHECK_HAS(R.err, "wom: batch: stopped at line 2\n");
    run_closed(&R, 1u << 1, NULL, 0, ARGV("--help"));
    CHECK_EXIT(CLI_OUTPUT);
    /* The space is intact and holds what was appended, and nothing else. */
    static const char *const want[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (unsigned i = 0; i < 7; i++) {
        char addr[4];
        snprintf(addr, sizeof addr, "%u", i);
        WOM("get", t.uri, "log", addr);
        CHECK_EXIT(CLI_OK);
        CHECK_OUT(want[i]);
    }
    WOM("get", t.uri, "log", "7");
    CHECK_EXIT(CLI_EMPTY);
    WOM("get", t.uri, "log", "9");
    CHECK_EXIT(CLI_EMPTY);
    tmp_space_rm(&t);
}

/* 7b: a batch line is text; a NUL byte would cut a value short (strtok
 * sees "append log b" in "append log b\0c"). The line is refused, not run. */
TEST(cli_batch_refuses_a_line_with_a_nul, T_UNIT)
{
    static const char in[] = "append log a\nappend log b\0c\nappend log d\n";
    run_in(&R, in, sizeof in - 1, ARGV("batch", "mem:"));
    CHECK_EXIT(CLI_USAGE);
    CHECK_OUT("0\n"); /* line 1 ran; neither line 2 nor line 3 did */
    CHECK_HAS(R.err, "wom: batch: line 2 holds a NUL byte");
    CHECK_HAS(R.err, "wom: batch: stopped at line 2\n");
    static const char first[] = "put r 0 x\0y\nget r 0\n";
    run_in(&R, first, sizeof first - 1, ARGV("batch", "mem:"));
    CHECK_EXIT(CLI_USAGE);
    CHECK_OUT("");
    CHECK_HAS(R.err, "line 1 holds a NUL byte");
}

/* Give every region of the space file at `path` whose name starts with
 * `from` a name that starts with `to` instead, writing the bytes into its
 * header (the library may refuse such names; a file anyone may write can
 * hold them anyway). Returns how many were renamed. */
static int rename_in_file(const char *path, const char *from, const char *to)
{
    int fd = open(path, O_RDWR), n = 0;
    CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
    for (size_t i = 0; i < WOM__NREGIONS; i++) {
        char name[sizeof ((struct wom__region_hdr *)0)->name], nn[sizeof name];
        off_t at = (off_t)(offsetof(struct wom__seg_hdr, regions) +
                           i * sizeof(struct wom__region_hdr) +
                           offsetof(struct wom__region_hdr, name));
        CHECK(pread(fd, name, sizeof name, at) == (ssize_t)sizeof name);
        if (!memchr(name, 0, sizeof name) || strncmp(name, from, strlen(from)))
            continue;
        int k = snprintf(nn, sizeof nn, "%s%s", to, name + strlen(from));
        CHECK(k > 0 && (size_t)k < sizeof nn);
        CHECK(pwrite(fd, nn, (size_t)k + 1, at) == (ssize_t)k + 1);
        n++;
    }
    close(fd);
    return n;
}

/* Every byte of buf is printable ASCII or a newline, and there are `lines`
 * newlines: no escape sequence, no fake line, no invalid UTF-8. */
static void check_plain(const char *buf, int lines)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
        CHECK_MSG(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "raw byte 0x%02x at %td in: %s",
                  *p, (const char *)p - buf, buf);
        n += *p == '\n';
    }
    CHECK_MSG(n == lines, "%d lines, want %d: %s", n, lines, buf);
}

/* 7c: names read from a space are printed escaped, wherever they appear. */
TEST(cli_hostile_region_names_printed_escaped, T_UNIT)
{
    /* Retitles the terminal, then a fake line; clears the screen, a C1
     * CSI, an invalid byte and a right-to-left override. */
    static const char evil1[] = "\x1b]0;pwned\x07\n\r\\", evil2[] = "\x1b[2J\xc2\x9b\xff\xe2\x80\xae";
    static const char esc1[] = "\\x1B]0;pwned\\x07\\x0A\\x0D\\\\ ";
    static const char esc2[] = "\\x1B[2J\\xC2\\x9B\\xFF\\xE2\\x80\\xAE";
    struct tmp_space t;
    tmp_space(&t);
    wom_space *s;
    wom_region *r;
    wom_chan *c;
    wom_sub *sub;
    CHECK_OK(wom_open(t.uri, &s));
    CHECK_OK(wom_region_open(s, "EVIL1", WOM_ONCE, &r));
    CHECK_OK(wom_append(r, "x", 1, NULL));
    wom_region_close(r);
    /* A channel the library names itself if it still allows such names
     * (then wom stat finds its readers by name too), else renamed. */
    int by_api = wom_chan_open(s, evil2, NULL, &c) == 0;
    if (!by_api)
        CHECK_OK(wom_chan_open(s, "EVIL2", NULL, &c));
    CHECK_OK(wom_sub_open(c, NULL, &sub));
    wom_sub_close(sub);
    wom_chan_close(c);
    wom_close(s);
    CHECK_EQ(rename_in_file(t.path, "EVIL1", evil1), 1);
    if (!by_api)
        CHECK_EQ(rename_in_file(t.path, "EVIL2", evil2), 3); /* the log, .seats, .acks */
    char want[128];
    WOM("ls", t.uri);
    CHECK_EXIT(CLI_OK);
    check_plain(R.out, 5);
    CHECK_HAS(R.out, esc1);
    snprintf(want, sizeof want, "\n%s.seats ", esc2);
    CHECK_HAS(R.out, want);
    snprintf(want, sizeof want, "  (seats of channel %s)\n", esc2);
    CHECK_HAS(R.out, want);
    char ro[96];
    snprintf(ro, sizeof ro, "%s;ro", t.uri); /* a renamed region is not found by name */
    WOM("stat", ro);
    CHECK_EXIT(CLI_OK);
    check_plain(R.out, 5 + by_api);
    CHECK_HAS(R.out, esc1);
    snprintf(want, sizeof want, "\n  %s reader 1: closed\n", esc2);
    if (by_api)
        CHECK_HAS(R.out, want);
    /* A URI is printed escaped too. */
    WOM("get", "shm:/nonexistent\x1b[2J/s;ro", "r", "0");
    CHECK_EXIT(CLI_NOSPACE);
    check_plain(R.err, 1);
    CHECK_HAS(R.err, "wom: shm:/nonexistent\\x1B[2J/s;ro: ");
    tmp_space_rm(&t);
}

/* The line of region `name` in wom ls or stat output, without its newline. */
static const char *line_of(const char *out, const char *name, char *buf, size_t cap)
{
    char key[80];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(out, key);
    CHECK_MSG(p, "no line for %s in: %s", name, out);
    size_t n = strcspn(p + 1, "\n");
    CHECK(n < cap);
    memcpy(buf, p + 1, n);
    buf[n] = 0;
    return buf;
}

/* 7d: wom ls says what the regions a channel and a queue group keep for
 * themselves are; wom recv of a plain log creates none of them. */
TEST(cli_ls_says_what_form_regions_are, T_UNIT)
{
    static const struct {
        const char *name, *says;
    } roles[] = {
        {"jobs", NULL},
        {"jobs.seats", "  (seats of channel jobs)"},
        {"jobs.acks", "  (readers' cursors of channel jobs)"},
        {"jobs.times", "  (age marks of channel jobs)"},
        {"jobs.workers.claims", "  (claims of queue group workers of channel jobs)"},
        {"jobs.workers.members", "  (members of queue group workers of channel jobs)"},
        {"nochan.seats", NULL}, /* no channel "nochan": just a name */
        {"plain", NULL},
    };
    struct tmp_space t;
    tmp_space(&t);
    wom_space *s;
    wom_chan *c;
    wom_queue *q;
    wom_region *r;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.retain_ns = 3600 * (int64_t)1000000000; /* keeps age marks in jobs.times */
    CHECK_OK(wom_open(t.uri, &s));
    CHECK_OK(wom_chan_open(s, "jobs", &o, &c));
    CHECK_OK(wom_chan_send(c, "j", 1, 0, NULL));
    CHECK_OK(wom_queue_join(c, "workers", &q));
    wom_queue_leave(q);
    wom_chan_close(c);
    CHECK_OK(wom_region_open(s, "nochan.seats", WOM_ONCE, &r));
    wom_region_close(r);
    wom_close(s);
    WOM("append", t.uri, "plain", "p");
    CHECK_EXIT(CLI_OK);
    WOM("recv", t.uri, "plain");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("p\n");
    WOM("recv", t.uri, "jobs", "--addr");
    CHECK_EXIT(CLI_OK);
    CHECK_OUT("0\tj\n");
    for (int cmd = 0; cmd < 2; cmd++) {
        if (cmd == 0)
            WOM("ls", t.uri);
        else
            WOM("stat", t.uri);
        CHECK_EXIT(CLI_OK);
        CHECK_MSG(!strstr(R.out, "plain."), "recv of a plain log made regions: %s", R.out);
        for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
            char line[256];
            line_of(R.out, roles[i].name, line, sizeof line);
            size_t n = strlen(line), k = roles[i].says ? strlen(roles[i].says) : 0;
            if (roles[i].says)
                CHECK_MSG(n > k && !strcmp(line + n - k, roles[i].says), "line: %s", line);
            else
                CHECK_MSG(!strchr(line, '('), "line: %s", line);
        }
    }
    WOM("help", "recv");
    CHECK_HAS(R.out, "seat");
    CHECK_HAS(R.out, "creates nothing");
    tmp_space_rm(&t);
}

/* 7e: an example that cannot open its space says why (here: an address
 * space limit below mem:'s default reservation), never just exits 1. */
TEST(cli_example_hello_says_why_it_failed, T_UNIT)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return; /* a sanitizer's shadow memory does not fit under any such limit */
#endif
    FILE *ferr = tmpfile(), *fout = tmpfile();
    CHECK(ferr && fout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {128u << 20, 128u << 20};
        dup2(fileno(fout), 1);
        dup2(fileno(ferr), 2);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(126);
        execl(WOM_BUILD_DIR "/example_hello", "example_hello", (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    char out[256], err[1024];
    slurp(fout, out, sizeof out - 1);
    slurp(ferr, err, sizeof err - 1);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) < 126, "status %d", st);
    if (WEXITSTATUS(st) == 0) { /* the library got by with less: fine */
        CHECK_HAS(out, "0: hello\n");
        return;
    }
    CHECK_MSG(!strncmp(err, "hello: ", 7) && strlen(err) > 9, "exit %d, stderr '%s'",
              WEXITSTATUS(st), err);
}

/* 7f: a failed open names the URI, says what failed and, when the library
 * has one, why and what to do (wom_last_error); WOM_EBUSY has exit 13. */
TEST(cli_open_failure_names_the_uri, T_UNIT)
{
    WOM("ls", "shm:/nonexistent-wom-dir/s;ro");
    CHECK_EXIT(CLI_NOSPACE);
    static const char says[] = "wom: shm:/nonexistent-wom-dir/s;ro: no such region or space";
    CHECK_MSG(!strncmp(R.err, says, sizeof says - 1), "stderr: %s", R.err);
    WOM("help", "get");
    CHECK_HAS(R.out, "\n  13  space busy");
    CHECK_HAS(R.out, "(WOM_EBUSY)");
    CHECK_HAS(R.out, "\n  12  the command succeeded");
}
