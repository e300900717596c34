/* etcd_uri.c - the etcd:// URI parser and the loader of the files its
 * security options name (etcd_uri.h). */
#include "space/etcd_uri.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "space/space.h"

static int endpoint_ok(const char *p, size_t n)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
            return 0;
        if (p[i] == ':')
            colon = p + i;
    }
    if (!colon || colon == p || n >= WOM__ETCD_EP_MAX)
        return 0;
    size_t digits = n - (size_t)(colon + 1 - p);
    unsigned port = 0;
    for (size_t i = 0; i < digits; i++) {
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return 0;
        port = port * 10 + (unsigned)(colon[1 + i] - '0');
        if (port > 65535)
            return 0;
    }
    return digits > 0 && port > 0;
}

/* A number of 1 to max (0 too when zero_ok), with an optional k/M/G
 * suffix when units: 0, or -1 when it is not one. */
static int opt_num(const char *o, size_t n, uint64_t max, int zero_ok, int units, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && o[i] >= '0' && o[i] <= '9' && v <= max; i++)
        v = v * 10 + (uint64_t)(o[i] - '0');
    if (i == 0)
        return -1;
    if (units && i + 1 == n) {
        unsigned shift = o[i] == 'k' ? 10 : o[i] == 'M' ? 20 : o[i] == 'G' ? 30 : 64;
        if (shift == 64 || v > (max >> shift))
            return -1;
        v <<= shift;
        i++;
    }
    if (i != n || v > max || (v == 0 && !zero_ok))
        return -1;
    *out = v;
    return 0;
}

#define CACHE_DEFAULT ((uint64_t)64 << 20)
#define CACHE_MAX ((uint64_t)1 << 40)

/* A string option's value o[0..n) into dst (cap bytes with its NUL): 0, or
 * -1 when it is empty, too long, or holds a control character. */
static int opt_str(const char *o, size_t n, char *dst, size_t cap)
{
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)o[i] < 0x20 || o[i] == 0x7f)
            return -1;
    memcpy(dst, o, n);
    dst[n] = 0;
    return 0;
}

/* The security options: the name (with '='), where the value goes. */
struct str_opt {
    const char *name;
    size_t off, cap;
};

#define STR_OPT(name, field)                                                       \
    {name, offsetof(struct wom__etcd_uri, field), sizeof((struct wom__etcd_uri *)0)->field}

static const struct str_opt str_opts[] = {
    STR_OPT("cacert=", cacert), STR_OPT("cert=", cert), STR_OPT("key=", key),
    STR_OPT("user=", user), STR_OPT("password-file=", passfile),
};

/* One security option o[0..n): 1 when it was one (0 or WOM_EURI in *rc),
 * 0 when it is not a security option. */
static int parse_str_opt(const char *uri, const char *o, size_t n, struct wom__etcd_uri *out,
                         int *rc)
{
    for (size_t i = 0; i < sizeof str_opts / sizeof str_opts[0]; i++) {
        const struct str_opt *so = &str_opts[i];
        size_t len = strlen(so->name);
        if (n < len || strncmp(o, so->name, len))
            continue;
        char *dst = (char *)out + so->off;
        if (dst[0])
            *rc = wom__fail(WOM_EURI, "etcd://%s: ;%.*s is given twice", uri, (int)len - 1,
                            so->name);
        else if (opt_str(o + len, n - len, dst, so->cap))
            *rc = wom__fail(WOM_EURI, "etcd://%s: ;%.*s takes 1 to %zu bytes without ';' or "
                            "control characters", uri, (int)len, so->name, so->cap - 1);
        else
            *rc = 0;
        return 1;
    }
    return 0;
}

/* The security options' rules between each other. */
static int check_security(const char *uri, const struct wom__etcd_uri *u)
{
    if (!u->cert[0] != !u->key[0])
        return wom__fail(WOM_EURI, "etcd://%s: ;cert= and ;key= go together (a client "
                         "certificate and its private key)", uri);
    if (u->cert[0] && !u->cacert[0])
        return wom__fail(WOM_EURI, "etcd://%s: ;cert= and ;key= need ;cacert= (the CA bundle "
                         "that turns TLS on and verifies the members)", uri);
    if (!u->user[0] != !u->passfile[0])
        return wom__fail(WOM_EURI, "etcd://%s: ;user=NAME and ;password-file=FILE go together "
                         "(the password is read from FILE, never given in the URI)", uri);
    return 0;
}

static int parse_opts(const char *uri, const char *o, struct wom__etcd_uri *out)
{
    while (*o == ';') {
        o++;
        size_t n = strcspn(o, ";");
        uint64_t v;
        int rc;
        if (n > 8 && !strncmp(o, "timeout=", 8)) {
            if (opt_num(o + 8, n - 8, 86400000, 0, 0, &v))
                return wom__fail(WOM_EURI, "etcd://%s: timeout= takes milliseconds, 1 to "
                                 "86400000", uri);
            out->op_ns = (int64_t)v * 1000000;
        } else if (n > 6 && !strncmp(o, "cache=", 6)) {
            if (opt_num(o + 6, n - 6, CACHE_MAX, 1, 1, &v))
                return wom__fail(WOM_EURI, "etcd://%s: cache= takes bytes (suffix k, M or G), "
                                 "0 to 1T; 0 turns the cache of written cells off", uri);
            out->cache = v;
        } else if (parse_str_opt(uri, o, n, out, &rc)) {
            if (rc)
                return rc;
        } else {
            return wom__fail(WOM_EURI, "etcd://%s: unknown option ';%.*s' (the etcd:// scope "
                             "takes ;timeout=MS, ;cache=BYTES, ;cacert=FILE, ;cert=FILE, "
                             ";key=FILE, ;user=NAME and ;password-file=FILE)", uri, (int)n, o);
        }
        o += n;
    }
    return check_security(uri, out);
}

/* A prefix P/x must never put its keys among P's: P's keys are P/r/...,
 * P/t/..., P/f/..., P/c/..., P/m/... and P/nextid, so no segment may be
 * one of those names (nor empty, which would let "a//b" alias). */
static int prefix_ok(const char *p, size_t n)
{
    static const char *const reserved[] = {"r", "t", "f", "c", "m", "nextid"};
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    for (size_t i = 0; i <= n;) {
        size_t len = 0;
        while (i + len < n && p[i + len] != '/')
            len++;
        if (len == 0)
            return 0;
        for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
            if (strlen(reserved[k]) == len && !memcmp(reserved[k], p + i, len))
                return 0;
        i += len + 1;
    }
    return 1;
}

/* Whether an option of rest looks like a password given in the URI (a
 * name with "pass" in it other than password-file=, as in ;password= or
 * ;passwd=, or etcdctl's ;user=NAME:PASSWORD): such a URI is refused
 * before anything else, by a message that does not echo it. */
static int password_in_uri(const char *rest)
{
    for (const char *o = strchr(rest, ';'); o; o = strchr(o + 1, ';')) {
        size_t n = strcspn(o + 1, ";"), name = strcspn(o + 1, ";=");
        for (size_t i = 0; i + 4 <= name; i++)
            if (!strncasecmp(o + 1 + i, "pass", 4) && strncmp(o + 1, "password-file=", 14))
                return 1;
        if (n > 5 && !strncmp(o + 1, "user=", 5) && memchr(o + 6, ':', n - 5))
            return 1;
    }
    return 0;
}

int wom__etcd_uri_parse(const char *rest, struct wom__etcd_uri *out)
{
    if (password_in_uri(rest))
        return wom__fail(WOM_EURI, "etcd:// URI (not repeated here): a password is never given "
                         "in the URI, which is printed in errors and seen in ps; give "
                         ";user=NAME (without ':') and ;password-file=FILE, a file holding the "
                         "password");
    const char *slash = strchr(rest, '/');
    if (!slash)
        return wom__fail(WOM_EURI, "etcd://%s: expected etcd://H:P[,H:P...]/PREFIX", rest);
    out->n = 0;
    for (const char *p = rest; p <= slash;) {
        size_t len = strcspn(p, ",/");
        if (out->n == WOM__ETCD_MAX_ENDPOINTS)
            return wom__fail(WOM_EURI, "etcd://%s: more than %d endpoints", rest,
                             WOM__ETCD_MAX_ENDPOINTS);
        if (!endpoint_ok(p, len))
            return wom__fail(WOM_EURI, "etcd://%s: endpoint '%.*s' is not HOST:PORT", rest,
                             (int)len, p);
        memcpy(out->eps[out->n], p, len);
        out->eps[out->n++][len] = 0;
        p += len + 1;
    }
    const char *prefix = slash + 1;
    size_t plen = strcspn(prefix, ";");
    if (plen == 0 || plen > WOM__ETCD_MAX_PREFIX)
        return wom__fail(WOM_EURI, "etcd://%s: the key PREFIX after '/' must have 1 to %d "
                         "bytes", rest, WOM__ETCD_MAX_PREFIX);
    if (!prefix_ok(prefix, plen))
        return wom__fail(WOM_EURI, "etcd://%s: the PREFIX is segments separated by '/', each "
                         "non-empty, without control characters, and none of r, t, f, c, m "
                         "or nextid (so that no space's keys fall among another's)", rest);
    memcpy(out->prefix, prefix, plen);
    out->prefix[plen] = 0;
    out->plen = plen;
    out->op_ns = 5000 * 1000000LL;
    out->cache = CACHE_DEFAULT;
    out->cacert[0] = out->cert[0] = out->key[0] = out->user[0] = out->passfile[0] = 0;
    return parse_opts(rest, prefix + plen, out);
}

/* ---- the security options' files (read at open, never by the parser) ---- */

/* Read path, named by option opt (e.g. "cacert="), into a NUL-terminated
 * *out of 1 to max bytes (*len). Messages name the option and the file but
 * never show what it holds. */
static int read_secret_file(const char *rest, const char *opt, const char *path, size_t max,
                            char **out, size_t *len)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        int rc = e == ENOENT ? WOM_ENOENT : e == EACCES || e == EPERM ? WOM_EPERM : WOM_EIO;
        return wom__fail(rc, "etcd://%s: %s%s: %s", rest, opt, path,
                         e == ENOENT ? "no such file" : strerror(e));
    }
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        rc = wom__fail(WOM_EINVAL, "etcd://%s: %s%s: not a regular file", rest, opt, path);
    else if ((uint64_t)st.st_size > max)
        rc = wom__fail(WOM_EINVAL, "etcd://%s: %s%s: larger than %zu bytes", rest, opt, path,
                       max);
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        rc = wom__fail(WOM_ENOMEM, "etcd://%s: %s%s: out of memory", rest, opt, path);
    while (!rc && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = wom__fail(errno == EACCES ? WOM_EPERM : WOM_EIO, "etcd://%s: %s%s: %s", rest,
                           opt, path, strerror(errno));
        if (r <= 0)
            break; /* a file that shrank meanwhile: what was there */
        got += (size_t)r;
    }
    close(fd);
    if (!rc && got == 0)
        rc = wom__fail(WOM_EINVAL, "etcd://%s: %s%s: the file is empty", rest, opt, path);
    if (rc) {
        if (buf)
            explicit_bzero(buf, got);
        free(buf);
        return rc;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

/* Whether the PEM text p (len bytes) is text with a block of the given
 * kind ("CERTIFICATE"; "PRIVATE KEY" also finds "EC PRIVATE KEY" and
 * "RSA PRIVATE KEY"). */
static int pem_has(const char *p, size_t len, const char *kind)
{
    if (strlen(p) != len)
        return 0; /* a NUL byte: not PEM text */
    for (const char *b = strstr(p, "-----BEGIN "); b; b = strstr(b + 1, "-----BEGIN ")) {
        const char *end = strchr(b + 11, '\n');
        size_t n = strlen(kind), line = end ? (size_t)(end - b) : strlen(b);
        for (size_t i = 11; i + n + 5 <= line; i++)
            if (!memcmp(b + i, kind, n) && !memcmp(b + i + n, "-----", 5))
                return 1;
    }
    return 0;
}

/* Read one PEM file of option opt that must hold a block of kind. */
static int load_pem(const char *rest, const char *opt, const char *path, const char *kind,
                    const char *what, char **out)
{
    size_t len;
    int rc = read_secret_file(rest, opt, path, WOM__ETCD_PEM_MAX, out, &len);
    if (rc)
        return rc;
    int is_key = strcmp(kind, "CERTIFICATE") != 0;
    if (!pem_has(*out, len, kind) || (is_key && strstr(*out, "ENCRYPTED"))) {
        explicit_bzero(*out, len);
        free(*out);
        *out = NULL;
        return wom__fail(WOM_EINVAL, "etcd://%s: %s%s: not PEM text with %s (a '-----BEGIN "
                         "%s-----' block%s)", rest, opt, path, what, kind,
                         is_key ? ", unencrypted" : "");
    }
    return 0;
}

/* Read the password file: its bytes less one trailing "\n" or "\r\n". */
static int load_password(const char *rest, const char *path, char **out)
{
    size_t len;
    int rc = read_secret_file(rest, "password-file=", path, WOM__ETCD_PASSWORD_MAX, out, &len);
    if (rc)
        return rc;
    char *p = *out;
    size_t n = len;
    if (n && p[n - 1] == '\n')
        p[--n] = 0;
    if (n && p[n - 1] == '\r')
        p[--n] = 0;
    const char *why = n == 0 ? "the password is empty (one trailing newline is dropped)"
                      : memchr(p, 0, n) ? "the password holds a NUL byte" : NULL;
    if (why) {
        explicit_bzero(p, len);
        free(p);
        *out = NULL;
        return wom__fail(WOM_EINVAL, "etcd://%s: password-file=%s: %s", rest, path, why);
    }
    return 0;
}

int wom__etcd_creds_load(const struct wom__etcd_uri *u, const char *rest,
                         struct wom__etcd_creds *out)
{
    *out = (struct wom__etcd_creds){NULL, NULL, NULL, NULL};
    int rc = 0;
    if (u->cacert[0])
        rc = load_pem(rest, "cacert=", u->cacert, "CERTIFICATE", "CA certificates",
                      &out->cacert);
    if (!rc && u->cert[0])
        rc = load_pem(rest, "cert=", u->cert, "CERTIFICATE", "a client certificate", &out->cert);
    if (!rc && u->key[0])
        rc = load_pem(rest, "key=", u->key, "PRIVATE KEY", "a private key", &out->key);
    if (!rc && u->passfile[0])
        rc = load_password(rest, u->passfile, &out->password);
    if (rc)
        wom__etcd_creds_free(out);
    return rc;
}

static void free_secret(char **p)
{
    if (*p) {
        explicit_bzero(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void wom__etcd_creds_free(struct wom__etcd_creds *c)
{
    free_secret(&c->cacert);
    free_secret(&c->cert);
    free_secret(&c->key);
    free_secret(&c->password);
}
