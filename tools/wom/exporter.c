/* exporter.c - wom exporter: the figures of spaces (stat.c's collector and
 * its Prometheus text format) served at /metrics over HTTP for Prometheus
 * to scrape. The HTTP server is libmicrohttpd (Debian's libmicrohttpd-dev),
 * run with one internal thread: requests are answered one at a time, each
 * scrape collecting fresh figures from every space, so the figures of a
 * space are never collected by two threads at once. The main thread opens
 * the spaces and the listening socket, then waits for SIGINT or SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_LISTEN "127.0.0.1:9464"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct exp_space {
    const char *uri; /* as given: the space="..." label */
    wom_space *s;
    struct cli_figures fig;
    int said; /* the error last reported on stderr (0: none, or recovered) */
};

struct exporter {
    struct exp_space sp[MAX_POS];
    size_t n;
};

/* ==== Spaces ============================================================== */

/* Whether a shm: URI says ;ro already. */
static int says_ro(const char *uri)
{
    for (const char *p = strstr(uri, ";ro"); p; p = strstr(p + 1, ";ro"))
        if (p[3] == 0 || p[3] == ';')
            return 1;
    return 0;
}

/* Open uri as the exporter reads it: a shm: space read-only (it only
 * reads; a read-only open takes no process slot, never creates a missing
 * file, and cannot write a byte of the space), any other scope as it is. */
static int open_space(const char *uri, wom_space **out)
{
    if (strncmp(uri, "shm:", 4) || says_ro(uri))
        return wom_open(uri, out);
    size_t n = strlen(uri);
    char *ro = malloc(n + 4);
    if (!ro)
        return WOM_ENOMEM;
    memcpy(ro, uri, n);
    memcpy(ro + n, ";ro", 4);
    int err = wom_open(ro, out);
    free(ro);
    return err;
}

/* Collect one space's figures; a failure is said on stderr when it starts
 * and when it ends, not at every scrape. */
static int collect(struct exp_space *e)
{
    int err = cli_collect(e->s, &e->fig);
    if (err && err != e->said)
        fprintf(stderr, "wom exporter: %s: %s (%s); wom_up is 0 until it recovers\n",
                ESC(e->uri), wom_strerror(err), wom_err_name(err));
    else if (!err && e->said)
        fprintf(stderr, "wom exporter: %s: recovered\n", ESC(e->uri));
    e->said = err;
    return err;
}

/* ==== HTTP ================================================================ */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body,
                             enum MHD_ResponseMemoryMode mode, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO; /* MHD closes the connection */
    }
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                 status == MHD_HTTP_OK ? CONTENT_TYPE
                                                                       : "text/plain");
    if (ok == MHD_YES && allow)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok == MHD_YES)
        ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Fresh figures of every space, as the exposition text. */
static enum MHD_Result scrape(struct exporter *x, struct MHD_Connection *conn)
{
    struct cli_prom_space ps[MAX_POS];
    for (size_t i = 0; i < x->n; i++)
        ps[i] = (struct cli_prom_space){x->sp[i].uri, collect(&x->sp[i]), &x->sp[i].fig};
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    if (!o)
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
                     MHD_RESPMEM_PERSISTENT, NULL);
    cli_prom_write(o, ps, x->n);
    if (fclose(o)) {
        free(text);
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
                     MHD_RESPMEM_PERSISTENT, NULL);
    }
    return reply(conn, MHD_HTTP_OK, text, MHD_RESPMEM_MUST_FREE, NULL);
}

/* Every request: GET or HEAD of /metrics (a query string is ignored) is a
 * scrape; another path is 404, another method 405. MHD sends no body for
 * HEAD. A request body is not read: the response goes on the first call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **state)
{
    (void)version, (void)upload_data, (void)upload_size, (void)state;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n",
                     MHD_RESPMEM_PERSISTENT, "GET, HEAD");
    if (strcmp(url, "/metrics"))
        return reply(conn, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n",
                     MHD_RESPMEM_PERSISTENT, NULL);
    return scrape(cls, conn);
}

/* ==== The listening socket ================================================ */

/* Split "HOST:PORT" ("[V6]:PORT", ":PORT" for every address) into host
 * (NULL for every address) and port; -1 when it is not that shape. */
static int split_listen(char *spec, char **host, char **port)
{
    char *colon = strrchr(spec, ':');
    uint64_t p;
    if (!colon || cli_parse_u64(colon + 1, &p) || p > 65535)
        return -1;
    *colon = 0;
    *port = colon + 1;
    *host = spec;
    if (spec[0] == '[') {
        size_t n = strlen(spec);
        if (n < 3 || spec[n - 1] != ']')
            return -1;
        spec[n - 1] = 0;
        *host = spec + 1;
    } else if (strchr(spec, ':')) {
        return -1; /* an IPv6 address goes in brackets */
    }
    if (!**host)
        *host = NULL;
    return 0;
}

/* A socket listening on spec into *out; else the exit code, the reason
 * said on stderr. */
static int listen_on(const char *spec, int *out)
{
    char buf[256], *host, *port;
    if (strlen(spec) >= sizeof buf || (strcpy(buf, spec), split_listen(buf, &host, &port)))
        return cli_usage_error("exporter",
                               "--listen: '%s' is not HOST:PORT (port 0-65535, an IPv6 "
                               "host in brackets)",
                               ESC(spec));
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM}, *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai) {
        fprintf(stderr, "wom exporter: cannot listen on %s: %s\n", ESC(spec), gai_strerror(gai));
        return EX_OTHER;
    }
    int fd = -1, why = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    a->ai_protocol);
        int one = 1;
        if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
                        bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 64))) {
            why = errno;
            close(fd);
            fd = -1;
        } else if (fd < 0) {
            why = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "wom exporter: cannot listen on %s: %s\n", ESC(spec), strerror(why));
        return EX_OTHER;
    }
    *out = fd;
    return EX_OK;
}

/* Say where fd listens, on stdout: with --listen HOST:0 this is how a
 * caller learns the port. */
static int say_address(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return cli_fail("exporter", -errno);
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        printf("wom exporter: listening on http://[%s]:%u/metrics\n", host, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        printf("wom exporter: listening on http://%s:%u/metrics\n", host, port);
    }
    return cli_finish_stdout();
}

/* ==== The command ========================================================= */

/* Serve until SIGINT or SIGTERM. They are blocked before the server's
 * thread starts (it inherits the mask), so only sigwait takes them. */
static int serve(struct exporter *x, int fd)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN); /* a scraper that hangs up is MHD's to handle */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, on_request, x,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_END);
    if (!d) {
        close(fd);
        fprintf(stderr, "wom exporter: the HTTP server (libmicrohttpd) did not start\n");
        return EX_OTHER;
    }
    int rc = say_address(fd), sig = 0;
    while (!rc && sigwait(&stop, &sig) == EINTR)
        ;
    MHD_stop_daemon(d); /* waits for the request in hand */
    close(fd);
    if (sig)
        fprintf(stderr, "wom exporter: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return rc;
}

int cli_exporter(struct ctx *c)
{
    struct exporter x = {.n = 0};
    int fd = -1;
    int rc = listen_on(has(c->a, O_LISTEN) ? c->a->str[O_LISTEN] : DEFAULT_LISTEN, &fd);
    for (int i = 0; i < c->a->npos && !rc; i++) {
        wom_space *s;
        int err = open_space(c->a->pos[i], &s);
        if (err)
            rc = cli_open_failed(c->a->pos[i], err);
        else
            x.sp[x.n++] = (struct exp_space){.uri = c->a->pos[i], .s = s};
    }
    if (!rc)
        rc = serve(&x, fd);
    else if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < x.n; i++) {
        cli_figures_free(&x.sp[i].fig);
        wom_close(x.sp[i].s);
    }
    return rc;
}
