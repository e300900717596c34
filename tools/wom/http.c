/* http.c - JSON over HTTP/1.1 to an etcd member's gateway (http.h). */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* The largest answer read: a status or member list is a few hundred bytes,
 * so anything this big is not etcd talking. */
#define ANSWER_MAX (1u << 20)

struct answer {
    char *buf;
    size_t len;
    int too_big;
};

int http_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1; }

void http_cleanup(void) { curl_global_cleanup(); }

/* libcurl's write callback: append to the answer, refusing past ANSWER_MAX
 * (returning less than n makes the transfer fail). */
static size_t gather(char *data, size_t size, size_t nmemb, void *arg)
{
    struct answer *a = arg;
    size_t n = size * nmemb;
    if (n > ANSWER_MAX - a->len) {
        a->too_big = 1;
        return 0;
    }
    char *b = realloc(a->buf, a->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + a->len, data, n);
    a->buf = b;
    a->len += n;
    b[a->len] = 0;
    return n;
}

/* An easy handle set up for one JSON POST, or NULL. */
static CURL *request(const char *url, const char *body, long timeout_ms, struct curl_slist *hdr,
                     struct answer *a, char *curl_err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    /* The gateway speaks HTTP/1.1; cleartext HTTP/2 on the client port is
     * taken for gRPC. */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gather);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    return h;
}

/* The answer a (of HTTP status code) as a JSON object into *out, or why
 * not into err. */
static int parse_answer(const struct answer *a, long code, json_t **out, char *err, size_t cap)
{
    json_error_t je;
    json_t *j = a->buf ? json_loadb(a->buf, a->len, 0, &je) : NULL;
    if (code != 200) {
        /* The gateway's errors are JSON too: {"error": ..., "code": N}. */
        const char *msg = json_string_value(json_object_get(j, "error"));
        snprintf(err, cap, "HTTP status %ld%s%s", code, msg ? ": " : "", msg ? msg : "");
    } else if (!json_is_object(j)) {
        snprintf(err, cap, "the answer is not a JSON object%s%s", j ? "" : ": ",
                 j ? "" : je.text);
    } else {
        *out = j;
        return 0;
    }
    json_decref(j);
    return -1;
}

int http_post_json(const char *hostport, const char *path, const char *body, long timeout_ms,
                   json_t **out, char *err, size_t cap)
{
    char url[512], curl_err[CURL_ERROR_SIZE] = "";
    if ((size_t)snprintf(url, sizeof url, "http://%s%s", hostport, path) >= sizeof url) {
        snprintf(err, cap, "URL too long");
        return -1;
    }
    struct answer a = {NULL, 0, 0};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = hdr ? request(url, body, timeout_ms, hdr, &a, curl_err) : NULL;
    int rc = -1;
    if (!h) {
        snprintf(err, cap, "%s", strerror(ENOMEM));
    } else {
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (a.too_big)
            snprintf(err, cap, "answer longer than %u bytes", ANSWER_MAX);
        else if (cc != CURLE_OK)
            snprintf(err, cap, "%s", *curl_err ? curl_err : curl_easy_strerror(cc));
        else
            rc = parse_answer(&a, code, out, err, cap);
        curl_easy_cleanup(h);
    }
    curl_slist_free_all(hdr);
    free(a.buf);
    return rc;
}

int json_u64(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    unsigned long long x = strtoull(s, NULL, 10);
    if (errno)
        return -1;
    *out = x;
    return 0;
}
