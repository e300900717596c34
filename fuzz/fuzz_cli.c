/*
 * fuzz_cli.c - libFuzzer target for the wom command line: argv parsing,
 * numbers, and the `wom batch` line parser reading untrusted stdin.
 *
 * It links the CLI's library (tools/wom/, built with coverage here) and
 * calls the tool as the wom program does, through wom_cli_main; the
 * number parser is checked directly too.
 *
 * Input: the first line is argv after "wom", split at every single space
 * (so empty words are possible); the rest is stdin. Properties checked:
 *  - cli_parse_u64 accepts exactly the documented numbers (decimal, or hex
 *    after 0x; no sign, space or junk; at most 2^64-1), with their value,
 *    and leaves *out alone on failure; tried on every argv word and every
 *    word of stdin.
 *  - The tool's exit code is one of the documented ones (0-10; 11 is only
 *    the demo, which the harness never runs, and the later ones need a
 *    lost output, a shm: or a remote space), an unknown command exits 1,
 *    and `--version` prints "wom MAJOR.MINOR".
 *  - The tool is a function of its input on mem: (a new private space per
 *    run): a second run gives the same exit code and the same stdout.
 *  - No crash, leak or sanitizer report, and no hang (libFuzzer -timeout).
 * Inputs that would legitimately block are skipped: `--follow`, `demo`, and
 * any `--timeout` value that is not a small number (see wait_bounded); so
 * are shm: spaces (files at fuzzer-chosen paths).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 16
#define WAIT_MS_MAX 20 /* total --timeout milliseconds one input may ask for */

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(real_stderr, "fuzz_cli: property failed: %s (%s:%d)\n",    \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static FILE *real_stderr;

/* The documented number grammar, written independently of cli_parse_u64. */
static int ref_u64(const char *s, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return 0;
    uint64_t v = 0;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return 0;
        if (v > (UINT64_MAX - d) / base)
            return 0;
        v = v * base + d;
    }
    *out = v;
    return 1;
}

static void check_number(const char *s)
{
    const uint64_t sentinel = 0xa5a5a5a5a5a5a5a5ull;
    uint64_t got = sentinel, want = 0;
    int ok = ref_u64(s, &want);
    if (cli_parse_u64(s, &got) == 0) {
        CHECK(ok && got == want);
    } else {
        CHECK(!ok && got == sentinel);
    }
}

/* Words of buf[0..n) split at blanks, newlines and NULs (a superset of the
 * splits argv and batch lines make, so no option the tool sees is missed),
 * passed to fn one at a time with the next word (or NULL). fn returns 0 to
 * stop; returns 0 if fn stopped. */
static int each_word(const char *buf, size_t n, int (*fn)(const char *, const char *, void *),
                     void *arg)
{
    static char cur[4096], next[4096];
    size_t i = 0;
    int have = 0;
    for (;;) {
        while (i < n && strchr(" \t\r\n", buf[i]))
            i++;
        size_t start = i;
        while (i < n && !strchr(" \t\r\n", buf[i]))
            i++;
        size_t len = i - start;
        if (len == 0)
            return have ? fn(cur, NULL, arg) : 1;
        if (len >= sizeof next)
            len = sizeof next - 1;
        memcpy(next, buf + start, len);
        next[len] = '\0';
        if (have && !fn(cur, next, arg))
            return 0;
        memcpy(cur, next, len + 1);
        have = 1;
    }
}

/* Milliseconds of a --timeout value, or -1 when the tool would take it as a
 * long or unbounded wait ("inf", or a number the harness does not bound). A
 * value the tool refuses (junk) waits 0. */
static long timeout_ms(const char *v)
{
    if (!v || strcmp(v, "inf") == 0)
        return v ? -1 : 0;
    uint64_t ms;
    if (strspn(v, "0123456789abcdefABCDEFxX") != strlen(v) || !ref_u64(v, &ms))
        return 0;
    return ms <= WAIT_MS_MAX ? (long)ms : -1;
}

/* each_word callback: 0 (skip the input) on anything that may block. */
static int wait_bounded(const char *w, const char *next, void *arg)
{
    long *budget = arg, ms = 0;
    /* stat refreshes on a timer (--count N waits N periods); cluster starts
     * servers and talks to hosts; exporter serves until a signal */
    if (strcmp(w, "--follow") == 0 || strcmp(w, "demo") == 0 || strcmp(w, "stat") == 0 ||
        strcmp(w, "cluster") == 0 || strcmp(w, "exporter") == 0)
        return 0;
    /* shm: spaces are files: a fuzzer-chosen path would write anywhere, and
     * state kept across runs breaks the determinism check. fuzz_uri covers
     * shm: URIs in a sandbox directory. */
    if (strstr(w, "shm:"))
        return 0;
    if (strcmp(w, "--timeout") == 0)
        ms = timeout_ms(next);
    else if (strncmp(w, "--timeout=", 10) == 0)
        ms = timeout_ms(w + 10);
    if (ms < 0 || ms > *budget)
        return 0;
    *budget -= ms;
    return 1;
}

static int number_word(const char *w, const char *next, void *arg)
{
    (void)next;
    (void)arg;
    check_number(w);
    return 1;
}

/* NULs end a word where the tool sees it (C strings), so the harness splits
 * there too; other bytes pass through as they are. */
static void split_at_nul(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = '\n';
}

struct run {
    int rc;
    char *out;
    size_t out_len;
};

/* Run the tool once with argv and stdin = in[0..in_len), capturing stdout. */
static void run_tool(int argc, char **argv, const char *in, size_t in_len, struct run *r)
{
    FILE *saved_in = stdin, *saved_out = stdout, *saved_err = stderr;
    FILE *fin = in_len ? fmemopen((void *)in, in_len, "r") : fopen("/dev/null", "r");
    FILE *fout = open_memstream(&r->out, &r->out_len);
    FILE *ferr = fopen("/dev/null", "w");
    CHECK(fin && fout && ferr);
    stdin = fin;
    stdout = fout;
    stderr = ferr;
    r->rc = wom_cli_main(argc, argv);
    stdin = saved_in;
    stdout = saved_out;
    stderr = saved_err;
    fclose(fin);
    fclose(fout);
    fclose(ferr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!real_stderr)
        real_stderr = stderr;
    char *buf = malloc(size + 1);
    CHECK(buf);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = memchr(buf, '\n', size);
    size_t line_len = nl ? (size_t)(nl - buf) : size;
    const char *in = nl ? nl + 1 : buf + size;
    size_t in_len = size - (size_t)(in - buf);

    /* Words of the first line, each a C string as the tool would get it. */
    char *argv[MAX_ARGS + 2] = {"wom"};
    int argc = 1;
    buf[line_len] = '\0';
    for (char *w = buf;; w++) {
        char *sp = strchr(w, ' ');
        if (argc == MAX_ARGS + 1) {
            free(buf);
            return -1;
        }
        argv[argc++] = w;
        if (!sp)
            break;
        *sp = '\0';
        w = sp;
    }
    if (line_len == 0)
        argc = 1;

    long budget = WAIT_MS_MAX;
    char *scan = malloc(size + 1);
    CHECK(scan);
    memcpy(scan, data, size);
    split_at_nul(scan, size);
    int bounded = each_word(scan, size, wait_bounded, &budget);
    each_word(scan, size, number_word, NULL);
    free(scan);
    if (!bounded) {
        free(buf);
        return -1;
    }

    struct run a = {0}, b = {0};
    run_tool(argc, argv, in, in_len, &a);
    CHECK(a.rc >= EX_OK && a.rc <= EX_OTHER);
    if (argc >= 2 && !cli_find_command(argv[1]) && strcmp(argv[1], "--help") &&
        strcmp(argv[1], "-h") && strcmp(argv[1], "help") && strcmp(argv[1], "--version"))
        CHECK(a.rc == EX_USAGE);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        char want[32];
        int n = snprintf(want, sizeof want, "wom %d.%d\n", WOM_VERSION_MAJOR, WOM_VERSION_MINOR);
        CHECK(a.rc == EX_OK && a.out_len == (size_t)n && memcmp(a.out, want, (size_t)n) == 0);
    }
    run_tool(argc, argv, in, in_len, &b);
    CHECK(b.rc == a.rc);
    CHECK(b.out_len == a.out_len && memcmp(a.out, b.out, a.out_len) == 0);
    free(a.out);
    free(b.out);
    free(buf);
    return 0;
}
