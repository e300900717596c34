/* etcd_uri.c - the etcd:// URI parser (etcd_uri.h). */
#include "space/etcd_uri.h"

#include <string.h>

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

static int parse_opts(const char *uri, const char *o, int64_t *op_ns, uint64_t *cache)
{
    while (*o == ';') {
        o++;
        size_t n = strcspn(o, ";");
        uint64_t v;
        if (n > 8 && !strncmp(o, "timeout=", 8)) {
            if (opt_num(o + 8, n - 8, 86400000, 0, 0, &v))
                return wom__fail(WOM_EURI, "etcd://%s: timeout= takes milliseconds, 1 to "
                                 "86400000", uri);
            *op_ns = (int64_t)v * 1000000;
        } else if (n > 6 && !strncmp(o, "cache=", 6)) {
            if (opt_num(o + 6, n - 6, CACHE_MAX, 1, 1, &v))
                return wom__fail(WOM_EURI, "etcd://%s: cache= takes bytes (suffix k, M or G), "
                                 "0 to 1T; 0 turns the cache of written cells off", uri);
            *cache = v;
        } else {
            return wom__fail(WOM_EURI, "etcd://%s: unknown option ';%.*s' (this build of the "
                             "etcd:// scope takes ;timeout=MS and ;cache=BYTES; TLS and user "
                             "options are not built yet)", uri, (int)n, o);
        }
        o += n;
    }
    return 0;
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

int wom__etcd_uri_parse(const char *rest, struct wom__etcd_uri *out)
{
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
    return parse_opts(rest, prefix + plen, &out->op_ns, &out->cache);
}
