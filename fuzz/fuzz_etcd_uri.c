/*
 * fuzz_etcd_uri.c - libFuzzer target for the etcd:// URI parser
 * (wom__etcd_uri_parse, src/space/etcd_uri.h), which is in libwom's space
 * layer and needs no gRPC.
 *
 * Input: what follows "etcd://". Each run checks properties, not only the
 * absence of crashes:
 *  - the parser returns 0 or WOM_EURI (with a sentence in wom_last_error),
 *    and 0 exactly when an independent reference of the grammar documented
 *    in etcd_uri.h accepts the URI;
 *  - on 0: 1 to 16 endpoints, each HOST:PORT without blanks or control
 *    characters, with a port of 1-65535; the endpoints joined by ',', '/'
 *    and the prefix give back the URI up to its options; the prefix is 1 to
 *    WOM__ETCD_MAX_PREFIX bytes of non-empty segments, none of them a name
 *    the scope's keys use; timeout and cache are within their ranges and
 *    equal to the reference's; the security options' paths and user are the
 *    URI's text, and their pairing rules hold (cert with key, both only with
 *    cacert, user with password-file);
 *  - a URI that carries a password (an option with "pass" in its name other
 *    than password-file=, or user=NAME:PASSWORD) is refused by a message
 *    that does not repeat the URI;
 *  - the parser opens no file (open/openat/fopen are wrapped at link time,
 *    fuzz/CMakeLists.txt, and counted) and gives the same result twice.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "space/etcd_uri.h"
#include "wom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz_etcd_uri: property failed: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__);                                           \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* ---- every way of opening a file, counted (-Wl,--wrap=...) ---- */

static int opens;

int __real_open(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
int __real_openat(int dir, const char *path, int flags, ...);
int __real_openat64(int dir, const char *path, int flags, ...);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fopen64(const char *path, const char *mode);
int __wrap_open(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_openat(int dir, const char *path, int flags, ...);
int __wrap_openat64(int dir, const char *path, int flags, ...);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen64(const char *path, const char *mode);

static unsigned mode_arg(va_list ap, int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, unsigned) : 0;
}

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    unsigned m = mode_arg(ap, flags);
    va_end(ap);
    opens++;
    return __real_open(path, flags, m);
}
int __wrap_open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    unsigned m = mode_arg(ap, flags);
    va_end(ap);
    opens++;
    return __real_open64(path, flags, m);
}
int __wrap_openat(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    unsigned m = mode_arg(ap, flags);
    va_end(ap);
    opens++;
    return __real_openat(dir, path, flags, m);
}
int __wrap_openat64(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    unsigned m = mode_arg(ap, flags);
    va_end(ap);
    opens++;
    return __real_openat64(dir, path, flags, m);
}
FILE *__wrap_fopen(const char *path, const char *mode)
{
    opens++;
    return __real_fopen(path, mode);
}
FILE *__wrap_fopen64(const char *path, const char *mode)
{
    opens++;
    return __real_fopen64(path, mode);
}

/* ---- the grammar of etcd_uri.h, written apart from etcd_uri.c ---- */

struct ref {
    size_t n;
    uint64_t timeout_ms, cache;
    const char *val[5]; /* cacert, cert, key, user, password-file: NULL when absent */
    size_t vlen[5];
};

static const char *const str_names[5] = {"cacert=", "cert=", "key=", "user=", "password-file="};
static const size_t str_caps[5] = {WOM__ETCD_PATH_MAX, WOM__ETCD_PATH_MAX, WOM__ETCD_PATH_MAX,
                                   WOM__ETCD_USER_MAX + 1, WOM__ETCD_PATH_MAX};

static int ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

/* DIGITS within 1..max (0 too when zero_ok), one unit k/M/G when units. */
static int ref_num(const char *s, size_t n, uint64_t max, int zero_ok, int units, uint64_t *out)
{
    size_t d = 0;
    uint64_t v = 0;
    while (d < n && s[d] >= '0' && s[d] <= '9') {
        if (v > (max - (uint64_t)(s[d] - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(s[d++] - '0');
    }
    if (d == 0)
        return 0;
    if (units && d + 1 == n) {
        int sh = s[d] == 'k' ? 10 : s[d] == 'M' ? 20 : s[d] == 'G' ? 30 : -1;
        if (sh < 0 || v > max >> sh)
            return 0;
        v <<= sh;
        d++;
    }
    if (d != n || (v == 0 && !zero_ok))
        return 0;
    *out = v;
    return 1;
}

static int ref_endpoint(const char *p, size_t n)
{
    if (n == 0 || n >= WOM__ETCD_EP_MAX)
        return 0;
    size_t colon = n;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
            return 0;
        if (p[i] == ':')
            colon = i;
    }
    uint64_t port;
    return colon > 0 && colon < n && ref_num(p + colon + 1, n - colon - 1, 65535, 0, 0, &port);
}

static int ref_prefix(const char *p, size_t n)
{
    static const char *const reserved[] = {"r", "t", "f", "c", "m", "nextid"};
    if (n == 0 || n > WOM__ETCD_MAX_PREFIX)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && ctl((unsigned char)p[i]))
            return 0;
        if (i < n && p[i] != '/')
            continue;
        size_t len = i - start;
        if (len == 0)
            return 0;
        for (size_t k = 0; k < 6; k++)
            if (strlen(reserved[k]) == len && !memcmp(p + start, reserved[k], len))
                return 0;
        start = i + 1;
    }
    return 1;
}

/* Whether some ';'-started piece of rest gives a password. */
static int ref_password(const char *rest)
{
    for (const char *o = strchr(rest, ';'); o; o = strchr(o + 1, ';')) {
        o++;
        size_t n = strcspn(o, ";"), name = strcspn(o, ";=");
        int exempt = n >= 14 && !strncmp(o, "password-file=", 14);
        for (size_t i = 0; i + 4 <= name && !exempt; i++)
            if (!strncasecmp(o + i, "pass", 4))
                return 1;
        if (n >= 5 && !strncmp(o, "user=", 5) && memchr(o + 5, ':', n - 5))
            return 1;
        o--;
    }
    return 0;
}

static int ref_options(const char *o, struct ref *r)
{
    r->timeout_ms = 5000;
    r->cache = (uint64_t)64 << 20;
    while (*o) {
        if (*o++ != ';')
            return 0;
        size_t n = strcspn(o, ";");
        const char *eq = memchr(o, '=', n);
        if (!eq)
            return 0;
        size_t nl = (size_t)(eq - o) + 1;
        const char *v = eq + 1;
        size_t vl = n - nl;
        if (nl == 8 && !strncmp(o, "timeout=", 8) && vl) {
            if (!ref_num(v, vl, 86400000, 0, 0, &r->timeout_ms))
                return 0;
        } else if (nl == 6 && !strncmp(o, "cache=", 6) && vl) {
            if (!ref_num(v, vl, (uint64_t)1 << 40, 1, 1, &r->cache))
                return 0;
        } else {
            size_t k = 0;
            while (k < 5 && !(strlen(str_names[k]) == nl && !strncmp(o, str_names[k], nl)))
                k++;
            if (k == 5 || r->val[k] || vl == 0 || vl >= str_caps[k])
                return 0;
            for (size_t i = 0; i < vl; i++)
                if (ctl((unsigned char)v[i]))
                    return 0;
            r->val[k] = v;
            r->vlen[k] = vl;
        }
        o += n;
    }
    if (!r->val[1] != !r->val[2] || (r->val[1] && !r->val[0]) || !r->val[3] != !r->val[4])
        return 0;
    return 1;
}

static int ref_parse(const char *rest, struct ref *r)
{
    memset(r, 0, sizeof *r);
    if (ref_password(rest))
        return 0;
    const char *slash = strchr(rest, '/');
    if (!slash)
        return 0;
    for (const char *p = rest; p <= slash; r->n++) {
        size_t len = strcspn(p, ",/");
        if (r->n == WOM__ETCD_MAX_ENDPOINTS || !ref_endpoint(p, len))
            return 0;
        p += len + 1;
    }
    const char *prefix = slash + 1;
    size_t plen = strcspn(prefix, ";");
    return ref_prefix(prefix, plen) && ref_options(prefix + plen, r);
}

/* ---- the properties ---- */

static void check_ok(const char *rest, const struct wom__etcd_uri *u, const struct ref *r)
{
    CHECK(u->n >= 1 && u->n <= WOM__ETCD_MAX_ENDPOINTS && u->n == r->n);
    const char *p = rest;
    for (size_t i = 0; i < u->n; i++) {
        size_t len = strnlen(u->eps[i], WOM__ETCD_EP_MAX);
        CHECK(len < WOM__ETCD_EP_MAX && ref_endpoint(u->eps[i], len));
        const char *colon = strrchr(u->eps[i], ':');
        CHECK(colon && colon > u->eps[i]);
        long port = strtol(colon + 1, NULL, 10);
        CHECK(port >= 1 && port <= 65535);
        CHECK(!strncmp(p, u->eps[i], len) && p[len] == (i + 1 < u->n ? ',' : '/'));
        p += len + 1;
    }
    CHECK(u->plen >= 1 && u->plen <= WOM__ETCD_MAX_PREFIX && strlen(u->prefix) == u->plen);
    CHECK(ref_prefix(u->prefix, u->plen) && !memchr(u->prefix, ';', u->plen));
    CHECK(!strncmp(p, u->prefix, u->plen) && (p[u->plen] == 0 || p[u->plen] == ';'));
    CHECK(u->op_ns >= 1000000 && u->op_ns <= 86400000LL * 1000000 && u->op_ns % 1000000 == 0);
    CHECK((uint64_t)u->op_ns == r->timeout_ms * 1000000);
    CHECK(u->cache <= (uint64_t)1 << 40 && u->cache == r->cache);
    const char *got[5] = {u->cacert, u->cert, u->key, u->user, u->passfile};
    for (int k = 0; k < 5; k++) {
        size_t len = strlen(got[k]);
        CHECK(len < str_caps[k]);
        CHECK(r->val[k] ? len == r->vlen[k] && !memcmp(got[k], r->val[k], len) : len == 0);
        for (size_t i = 0; i < len; i++)
            CHECK(!ctl((unsigned char)got[k][i]) && got[k][i] != ';');
    }
    CHECK(!u->cert[0] == !u->key[0]);
    CHECK(!u->cert[0] || u->cacert[0]);
    CHECK(!u->user[0] == !u->passfile[0]);
    CHECK(!strchr(u->user, ':'));
}

static int same_uri(const struct wom__etcd_uri *a, const struct wom__etcd_uri *b)
{
    if (a->n != b->n || a->plen != b->plen || strcmp(a->prefix, b->prefix) ||
        a->op_ns != b->op_ns || a->cache != b->cache || strcmp(a->cacert, b->cacert) ||
        strcmp(a->cert, b->cert) || strcmp(a->key, b->key) || strcmp(a->user, b->user) ||
        strcmp(a->passfile, b->passfile))
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->eps[i], b->eps[i]))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char rest[8192];
    static struct wom__etcd_uri u, again;
    if (size >= sizeof rest || memchr(data, 0, size))
        return -1;
    memcpy(rest, data, size);
    rest[size] = 0;
    struct ref r;
    int want = ref_parse(rest, &r);
    opens = 0;
    int rc = wom__etcd_uri_parse(rest, &u);
    CHECK(opens == 0);
    CHECK(rc == 0 || rc == WOM_EURI);
    CHECK((rc == 0) == (want));
    if (rc) {
        const char *why = wom_last_error();
        CHECK(why && why[0]);
        if (ref_password(rest) && size >= 8)
        {
            char echo[sizeof rest + 8];
            snprintf(echo, sizeof echo, "etcd://%s", rest);
            CHECK(!strstr(why, echo)); /* the URI, password and all, is not repeated */
        }
        return 0;
    }
    check_ok(rest, &u, &r);
    CHECK(wom__etcd_uri_parse(rest, &again) == 0 && same_uri(&u, &again));
    CHECK(opens == 0);
    return 0;
}
