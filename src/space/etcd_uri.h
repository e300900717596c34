/* etcd_uri.h - the parser of etcd:// URIs, apart from the scope itself
 * (src/space/etcd.c needs gRPC; this does not, so that libwom's fuzz
 * targets reach it).
 *
 *   etcd://H:P[,H:P...]/PREFIX[;timeout=MS][;cache=BYTES]
 *
 * rest is what follows "etcd://". Endpoints are HOST:PORT (1 to 16, no
 * blanks or control characters, port 1-65535); PREFIX is 1 to
 * WOM__ETCD_MAX_PREFIX bytes of '/'-separated segments, each non-empty,
 * without control characters, none of the names the scope's own keys use
 * (r, t, f, c, m, nextid), so that no space's keys fall among another's.
 * timeout= is one operation's time in ms (1 to 86400000; default 5000);
 * cache= bounds the cache of written cells (k/M/G suffix; 0 turns it off;
 * default 64M). */
#ifndef WOM_SPACE_ETCD_URI_H
#define WOM_SPACE_ETCD_URI_H

#include <stddef.h>
#include <stdint.h>

#define WOM__ETCD_MAX_ENDPOINTS 16
#define WOM__ETCD_MAX_PREFIX 200
#define WOM__ETCD_EP_MAX 256 /* an endpoint and its NUL */

struct wom__etcd_uri {
    char eps[WOM__ETCD_MAX_ENDPOINTS][WOM__ETCD_EP_MAX];
    size_t n;
    char prefix[WOM__ETCD_MAX_PREFIX + 1];
    size_t plen;
    int64_t op_ns;  /* ;timeout= in ns */
    uint64_t cache; /* ;cache= in bytes */
};

/* Parse rest into *out: 0, or WOM_EURI with wom_last_error() saying what
 * is wrong. *out is written in part on failure. */
int wom__etcd_uri_parse(const char *rest, struct wom__etcd_uri *out);

#endif
