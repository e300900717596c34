/* output.c - what the tool writes: stdout and its loss, error messages,
 * and names made safe to print. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

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

/* Region names are read from a space whose file anyone with write access
 * may have written, and URIs and batch lines come from scripts: treat them
 * as hostile, so that no byte can move a terminal's cursor, recolour it,
 * hide what follows or fake a new line. Every byte that does not print as
 * itself (printable_len) becomes \xNN, a backslash becomes \\, so the text
 * maps back to the bytes. */
const char *cli_escape(const char *s, char *out, size_t cap)
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

/* ==== Errors ============================================================== */

int cli_fail(const char *cmd, int err)
{
    fprintf(stderr, "wom: %s: %s (%s)\n", cmd, wom_strerror(err), wom_err_name(err));
    return cli_exit_code(err);
}

int cli_open_failed(const char *uri, int err)
{
    const char *why = wom_last_error();
    fprintf(stderr, "wom: %s: %s%s%s\n", ESC(uri), wom_strerror(err), *why ? ": " : "",
            ESC(why));
    return cli_exit_code(err);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wom: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'wom %s --help'.\n", cmd);
    return EX_USAGE;
}

/* ==== stdout ============================================================== */

/* errno of the first write to stdout found lost (0: none), reported once,
 * at exit, by cli_finish_output. */
static int out_errno;

void cli_put_bytes(const void *data, size_t len)
{
    if (fwrite(data, 1, len, stdout) != len && !out_errno)
        out_errno = errno ? errno : EIO;
}

/* A command that writes as it goes stops at EX_OUTPUT; the loss is
 * reported at exit. */
int cli_finish_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EX_OK;
    if (!out_errno)
        out_errno = errno ? errno : EIO;
    return EX_OUTPUT;
}

/* A script can tell "done, and the output is gone" (an append that
 * happened: EX_OUTPUT) from a command that failed, which keeps its own
 * code. stdout stays open: the CLI fuzzer runs the tool many times over one
 * stream of its own. */
int cli_finish_output(int rc)
{
    int lost = cli_finish_stdout() != EX_OK;
    if (fflush(stdout) != 0 && !lost) {
        lost = 1;
        out_errno = errno;
    }
    if (!lost && !out_errno)
        return rc;
    fprintf(stderr, "wom: cannot write the output: %s\n", strerror(out_errno ? out_errno : EIO));
    return rc == EX_OK ? EX_OUTPUT : rc;
}
