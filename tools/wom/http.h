/*
 * http.h - the CLI's one way to talk to an etcd member: a JSON request
 * POSTed over HTTP/1.1 to etcd's gRPC-JSON gateway (libcurl), the answer
 * parsed with jansson. Used by cluster.c; libwom does not link either.
 */
#ifndef WOM_CLI_HTTP_H
#define WOM_CLI_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Once per process before the first request, and its undoing after the
 * last (libcurl's global state; not thread-safe, the CLI has one thread). */
int http_init(void);
void http_cleanup(void);

/* POST the JSON text body to http://hostport/path (hostport "H:P", path
 * "/v3/...") within timeout_ms. On a 200 answer holding a JSON object,
 * *out is that object (the caller json_decref's it) and 0 is returned;
 * otherwise -1, with why in err (cap bytes: a refused connection, a
 * timeout, the status and etcd's message, or a parse error). Proxies named
 * in the environment are not used: a cluster member is reached directly. */
int http_post_json(const char *hostport, const char *path, const char *body, long timeout_ms,
                   json_t **out, char *err, size_t cap);

/* The unsigned 64-bit field key of obj: the gateway writes int64 and
 * uint64 as decimal strings (proto3 JSON), and leaves out a zero one, so a
 * missing key is 0. Returns -1 (and leaves *out) on anything else. */
int json_u64(const json_t *obj, const char *key, uint64_t *out);

#endif
