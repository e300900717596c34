/* exporter_test.c - the metrics of issue 11: `wom stat --prometheus` and
 * `wom exporter`, run as the wom program over a shm: space. Their whole
 * output goes through a strict parser of the Prometheus text exposition
 * format (0.0.4) below, and every figure is compared with what the public
 * API reports for the same space; the exporter is scraped over a plain
 * socket (HTTP/1.0), twice, to see the figures move. */
#include "harness.h"
#include "wom.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define WOM_BIN WOM_BUILD_DIR "/wom"
#define TEXT_CAP (256u << 10)

/* ==== A strict parser of the exposition format ============================ */

#define MAX_SAMPLES 256
#define MAX_FAMILIES 64

/* A sample; labels are decoded and joined as "k=v|k=v" in their order. */
struct sample {
    char name[128], labels[1024];
    double value;
};

struct family {
    char name[128], type[16];
    int help, samples, closed; /* closed: another family's lines came after */
};

struct expo {
    struct sample s[MAX_SAMPLES];
    size_t n;
    struct family f[MAX_FAMILIES];
    size_t nf;
};

static int name_char(int c, int first, int colon)
{
    return isalpha(c) || c == '_' || (colon && c == ':') || (!first && isdigit(c));
}

/* The metric or label name at *p (colons only in metric names), into out. */
static void parse_name(const char **p, char *out, size_t cap, int colon, int line)
{
    size_t n = 0;
    while (name_char((unsigned char)(*p)[0], n == 0, colon)) {
        CHECK_MSG(n + 1 < cap, "line %d: name too long", line);
        out[n++] = *(*p)++;
    }
    out[n] = 0;
    CHECK_MSG(n > 0, "line %d: a name expected at '%.20s'", line, *p);
}

static struct family *family(struct expo *e, const char *name)
{
    for (size_t i = 0; i < e->nf; i++)
        if (!strcmp(e->f[i].name, name))
            return &e->f[i];
    CHECK(e->nf < MAX_FAMILIES);
    struct family *f = &e->f[e->nf++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* A family's lines are contiguous: touching one closes every other. */
static struct family *touch(struct expo *e, const char *name, int line)
{
    struct family *f = family(e, name);
    CHECK_MSG(!f->closed, "line %d: %s continues after other families", line, name);
    for (size_t i = 0; i < e->nf; i++)
        if (&e->f[i] != f && (e->f[i].help || e->f[i].type[0] || e->f[i].samples))
            e->f[i].closed = 1;
    return f;
}

static void parse_comment(struct expo *e, const char *p, int line)
{
    char name[128];
    int help = !strncmp(p, "# HELP ", 7), type = !strncmp(p, "# TYPE ", 7);
    if (!help && !type)
        return; /* a plain comment */
    p += 7;
    parse_name(&p, name, sizeof name, 1, line);
    struct family *f = touch(e, name, line);
    CHECK_MSG(*p == ' ', "line %d: no text after the name", line);
    p++;
    if (help) {
        CHECK_MSG(!f->help, "line %d: second HELP of %s", line, name);
        f->help = 1;
        for (; *p; p++) /* only \\ and \n are escapes in HELP text */
            if (*p == '\\')
                CHECK_MSG(*++p == '\\' || *p == 'n', "line %d: bad escape in HELP", line);
        return;
    }
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    int ok = 0;
    for (size_t i = 0; i < 5; i++)
        ok |= !strcmp(p, types[i]);
    CHECK_MSG(ok, "line %d: unknown type '%s'", line, p);
    CHECK_MSG(!f->type[0], "line %d: second TYPE of %s", line, name);
    CHECK_MSG(!f->samples, "line %d: TYPE of %s after its samples", line, name);
    snprintf(f->type, sizeof f->type, "%s", p);
}

/* A label value "..." at *p, decoded into out (escapes \\, \" and \n only). */
static void parse_value_str(const char **p, char *out, size_t cap, int line)
{
    CHECK_MSG(**p == '"', "line %d: a quoted label value expected", line);
    size_t n = 0;
    for ((*p)++; **p != '"'; (*p)++) {
        char c = **p;
        CHECK_MSG(c && c != '\n', "line %d: unterminated label value", line);
        if (c == '\\') {
            (*p)++;
            CHECK_MSG(**p == '\\' || **p == '"' || **p == 'n', "line %d: bad escape \\%c", line,
                      **p);
            c = **p == 'n' ? '\n' : **p;
        }
        CHECK(n + 1 < cap);
        out[n++] = c;
    }
    (*p)++;
    out[n] = 0;
}

static void parse_labels(const char **p, char *out, size_t cap, int line)
{
    size_t n = 0;
    out[0] = 0;
    if (**p != '{')
        return;
    (*p)++;
    while (**p != '}') {
        char key[128], val[512];
        parse_name(p, key, sizeof key, 0, line);
        CHECK_MSG(**p == '=', "line %d: '=' expected after label %s", line, key);
        (*p)++;
        parse_value_str(p, val, sizeof val, line);
        int k = snprintf(out + n, cap - n, "%s%s=%s", n ? "|" : "", key, val);
        CHECK(k > 0 && (size_t)k < cap - n);
        n += (size_t)k;
        CHECK_MSG(**p == ',' || **p == '}', "line %d: ',' or '}' expected", line);
        if (**p == ',')
            (*p)++;
    }
    (*p)++;
}

static double parse_number(const char *s, int line)
{
    if (!strcmp(s, "+Inf"))
        return INFINITY;
    if (!strcmp(s, "-Inf"))
        return -INFINITY;
    if (!strcmp(s, "NaN"))
        return NAN;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    CHECK_MSG(*s && !isspace((unsigned char)*s) && !*end && !errno,
              "line %d: '%s' is not a number", line, s);
    return v;
}

static void parse_sample(struct expo *e, const char *p, int line)
{
    CHECK_MSG(e->n < MAX_SAMPLES, "more than %d samples", MAX_SAMPLES);
    struct sample *s = &e->s[e->n];
    parse_name(&p, s->name, sizeof s->name, 1, line);
    struct family *f = touch(e, s->name, line);
    CHECK_MSG(f->type[0], "line %d: sample of %s before its TYPE", line, s->name);
    parse_labels(&p, s->labels, sizeof s->labels, line);
    CHECK_MSG(*p == ' ', "line %d: a space expected before the value", line);
    char num[64];
    const char *sp = strchr(++p, ' ');
    size_t n = sp ? (size_t)(sp - p) : strlen(p);
    CHECK(n < sizeof num);
    memcpy(num, p, n);
    num[n] = 0;
    s->value = parse_number(num, line);
    if (sp) /* a timestamp: an integer of milliseconds */
        for (const char *t = sp + 1 + (sp[1] == '-'); *t || t == sp + 1; t++)
            CHECK_MSG(isdigit((unsigned char)*t), "line %d: bad timestamp", line);
    for (size_t i = 0; i < e->n; i++)
        CHECK_MSG(strcmp(e->s[i].name, s->name) || strcmp(e->s[i].labels, s->labels),
                  "line %d: %s{%s} twice", line, s->name, s->labels);
    f->samples++;
    e->n++;
}

/* Parse all of text, failing the test at the first line that is not a
 * comment or a sample of a family already typed. */
static void parse_expo(const char *text, struct expo *e)
{
    e->n = e->nf = 0;
    size_t len = strlen(text);
    CHECK_MSG(len > 0 && text[len - 1] == '\n', "the text does not end with a newline");
    static char line[4096];
    int no = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p);
        CHECK_MSG(n < sizeof line, "line %d too long", no + 1);
        memcpy(line, p, n);
        line[n] = 0;
        p = nl + 1;
        no++;
        CHECK_MSG(n > 0, "line %d is empty", no);
        if (line[0] == '#')
            parse_comment(e, line, no);
        else
            parse_sample(e, line, no);
    }
    for (size_t i = 0; i < e->nf; i++)
        CHECK_MSG(e->f[i].help && e->f[i].type[0], "%s lacks HELP or TYPE", e->f[i].name);
}

/* The labels find looked for last, for the message of a sample not found. */
static char wanted[1024];

/* The sample name{labels}, labels as "k=v|k=v" made by fmt; NULL if none. */
__attribute__((format(printf, 3, 4))) static const struct sample *
find(const struct expo *e, const char *name, const char *fmt, ...)
{
    char *labels = wanted;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(labels, sizeof wanted, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->s[i].name, name) && !strcmp(e->s[i].labels, labels))
            return &e->s[i];
    return NULL;
}

#define VALUE(e, name, ...)                                                    \
    ({                                                                         \
        const struct sample *s_ = find((e), (name), __VA_ARGS__);              \
        CHECK_MSG(s_, "no sample %s{%s}", (name), wanted);                     \
        s_->value;                                                             \
    })

static const char *type_of(const struct expo *e, const char *name)
{
    for (size_t i = 0; i < e->nf; i++)
        if (!strcmp(e->f[i].name, name))
            return e->f[i].type;
    return "";
}

TEST(exporter_parser_refuses_what_the_format_forbids, T_UNIT)
{
    /* The parser is what the other tests lean on: it must refuse. Each bad
     * text runs in a child, since a refusal ends the test that meets it. */
    static const char *const bad[] = {
        "m 1\n",                                      /* no TYPE */
        "# TYPE m gauge\nm{a=\"x} 1\n",               /* unterminated */
        "# TYPE m gauge\nm{a=\"\\x\"} 1\n",           /* bad escape */
        "# TYPE m gauge\nm one\n",                    /* not a number */
        "# TYPE m gauge\nm 1\n# TYPE n gauge\nn 1\nm 2\n", /* not contiguous */
        "# TYPE m gauge\nm 1\nm 1\n",                 /* a series twice */
        "# TYPE m gauge\nm 1",                        /* no final newline */
        "# TYPE m gauges\nm 1\n",                     /* unknown type */
        "# HELP m a \\x\n# TYPE m gauge\nm 1\n",       /* bad escape in HELP */
        "# TYPE m gauge\nm{a=\"1\"}1\n",                /* no space before the value */
        "# TYPE m gauge\n\nm 1\n", /* an empty line (ignored by the format; wom writes none) */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 2); /* the refusal's message */
            static struct expo e;
            parse_expo(bad[i], &e);
            _exit(0); /* accepted: wrong */
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK_MSG(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "accepted: %s", bad[i]);
    }
    static struct expo e;
    parse_expo("# HELP m a \\\\ b\n# TYPE m counter\nm{a=\"x\\\"y\",b=\"\"} 1.5e3 17\nm 2\n", &e);
    CHECK_EQ(e.n, 2);
    CHECK(!strcmp(e.s[0].labels, "a=x\"y|b="));
    CHECK(e.s[0].value == 1500.0);
}

/* ==== Running wom ========================================================= */

/* Run wom with argv (NULL-terminated, argv[0] "wom") to its end: its exit
 * code, stdout into out, stderr into err (both NUL-terminated). */
static int run_wom(const char *const *argv, char *out, size_t ocap, char *err, size_t ecap)
{
    FILE *fo = tmpfile(), *fe = tmpfile();
    CHECK(fo && fe);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fileno(fo), 1);
        dup2(fileno(fe), 2);
        execv(WOM_BIN, (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    rewind(fo);
    rewind(fe);
    out[fread(out, 1, ocap - 1, fo)] = 0;
    err[fread(err, 1, ecap - 1, fe)] = 0;
    fclose(fo);
    fclose(fe);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 127, "could not run %s", WOM_BIN);
    return WEXITSTATUS(st);
}

#define WOM_ARGV(...) ((const char *const[]){"wom", __VA_ARGS__, NULL})

/* A running exporter: its pid, port and stderr (a file). */
struct exporter {
    pid_t pid;
    unsigned port;
    FILE *err;
};

/* Start wom exporter on 127.0.0.1:0 over uri and uri2 and read the port it
 * says. It dies with this test's process (PR_SET_PDEATHSIG), so a failing
 * test leaves no server behind. */
static void exporter_start(struct exporter *x, const char *uri, const char *uri2)
{
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    x->err = tmpfile();
    CHECK(x->err);
    x->pid = fork();
    CHECK(x->pid >= 0);
    if (x->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        dup2(fileno(x->err), 2);
        close(pfd[0]);
        execv(WOM_BIN,
              (char *const *)WOM_ARGV("exporter", "--listen", "127.0.0.1:0", uri, uri2));
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    CHECK(f);
    CHECK_MSG(fgets(line, sizeof line, f), "the exporter said nothing (it exited?)");
    fclose(f);
    CHECK_MSG(sscanf(line, "wom exporter: listening on http://127.0.0.1:%u/metrics", &x->port) ==
                      1 && x->port > 0 && x->port < 65536,
              "first line: %s", line);
}

/* SIGTERM: the exporter stops cleanly (exit 0) and says why; its stderr
 * into err. */
static void exporter_stop(struct exporter *x, char *err, size_t cap)
{
    CHECK(kill(x->pid, SIGTERM) == 0);
    int st;
    while (waitpid(x->pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    rewind(x->err);
    err[fread(err, 1, cap - 1, x->err)] = 0;
    fclose(x->err);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exporter status %d; stderr: %s", st, err);
    CHECK_MSG(strstr(err, "stopped by SIGTERM"), "stderr: %s", err);
}

/* One HTTP/1.0 request; returns the status, the body into body. */
static int http(unsigned port, const char *method, const char *path, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct timeval tv = {10, 0}; /* bounds a server that never answers */
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_MSG(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    CHECK(write(fd, req, (size_t)n) == n);
    static char resp[TEXT_CAP];
    size_t got = 0;
    for (ssize_t k; (k = read(fd, resp + got, sizeof resp - 1 - got)) != 0; got += (size_t)k)
        CHECK_MSG(k > 0, "read: %s", strerror(errno));
    close(fd);
    resp[got] = 0;
    int status = 0;
    CHECK_MSG(sscanf(resp, "HTTP/1.%*d %d", &status) == 1, "response: %.200s", resp);
    char *start = strstr(resp, "\r\n\r\n");
    CHECK(start);
    *start = 0;
    if (status == 200 && strcmp(method, "HEAD"))
        CHECK_MSG(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4"), "headers: %s",
                  resp);
    CHECK(strlen(start + 4) < cap);
    strcpy(body, start + 4);
    return status;
}

/* ==== The figures against the API ========================================= */

struct space_fix {
    char dir[32], path[64], uri[80];
    wom_space *s;
    wom_region *log, *conf, *odd;
    wom_chan *jobs;
    wom_sub *sub;
};

/* Send n messages on c, then receive k of them with sub. */
static void send_recv(wom_chan *c, wom_sub *sub, uint64_t n, uint64_t k)
{
    for (uint64_t i = 0; i < n; i++)
        CHECK_OK(wom_chan_send(c, &i, sizeof i, 0, NULL));
    for (uint64_t i = 0; i < k; i++) {
        uint64_t v;
        size_t len;
        CHECK_OK(wom_sub_recv(sub, &v, sizeof v, &len, NULL, 0));
    }
}

/* A space with a log of 3 values, a MANY region, a region whose name needs
 * escaping, and channel "jobs" (bound 16) with a reader that received 5
 * of 10 messages. */
static void fix_open(struct space_fix *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/wom-prom-XXXXXX");
    CHECK(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/s.wom", f->dir);
    snprintf(f->uri, sizeof f->uri, "shm:%s", f->path);
    CHECK_OK(wom_open(f->uri, &f->s));
    CHECK_OK(wom_region_open(f->s, "log", WOM_ONCE, &f->log));
    for (int i = 0; i < 3; i++)
        CHECK_OK(wom_append(f->log, "abc", 3, NULL));
    CHECK_OK(wom_region_open(f->s, "conf", WOM_MANY, &f->conf));
    CHECK_OK(wom_store(f->conf, 7, "value", 5, NULL));
    CHECK_OK(wom_region_open(f->s, "we\"ird\\name", WOM_ONCE, &f->odd));
    CHECK_OK(wom_append(f->odd, "x", 1, NULL));
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.bound = 16; /* the reader publishes its cursor every 4 messages */
    CHECK_OK(wom_chan_open(f->s, "jobs", &o, &f->jobs));
    CHECK_OK(wom_sub_open(f->jobs, NULL, &f->sub));
    send_recv(f->jobs, f->sub, 10, 5);
}

static void fix_close(struct space_fix *f)
{
    if (f->sub)
        wom_sub_close(f->sub);
    if (f->jobs)
        wom_chan_close(f->jobs);
    wom_region_close(f->odd);
    wom_region_close(f->conf);
    wom_region_close(f->log);
    wom_close(f->s);
    f->sub = NULL, f->jobs = NULL;
}

static void fix_rm(struct space_fix *f)
{
    CHECK(unlink(f->path) == 0 && rmdir(f->dir) == 0);
}

static int count_region(const wom_region_info *in, void *arg)
{
    (void)in;
    ++*(size_t *)arg;
    return 0;
}

static int first_reader(const wom_reader_info *ri, void *arg)
{
    *(wom_reader_info *)arg = *ri;
    return 1;
}

/* Every figure of e for space f equals what the API says now; the
 * program that wrote e held `own` process slots of its own. */
static void check_against_api(const struct expo *e, struct space_fix *f, uint32_t own)
{
    const char *u = f->uri;
    CHECK(VALUE(e, "wom_up", "space=%s", u) == 1);
    wom_space_info si;
    CHECK_OK(wom_space_info_get(f->s, &si));
    CHECK(VALUE(e, "wom_space_size_bytes", "space=%s", u) == (double)si.size);
    CHECK(VALUE(e, "wom_space_used_bytes", "space=%s", u) == (double)si.used);
    CHECK(VALUE(e, "wom_space_chunk_bytes", "space=%s", u) == (double)si.chunk_size);
    CHECK(VALUE(e, "wom_space_free_chunks", "space=%s", u) == (double)si.free_chunks);
    CHECK(VALUE(e, "wom_space_procs", "space=%s", u) == (double)(si.procs + own));
    CHECK(VALUE(e, "wom_space_procs_max", "space=%s", u) == 256);
    size_t nregions = 0;
    CHECK_OK(wom_regions(f->s, count_region, &nregions));
    CHECK(VALUE(e, "wom_regions", "space=%s", u) == (double)nregions);
    CHECK(!strcmp(type_of(e, "wom_region_tail"), "counter"));
    CHECK(!strcmp(type_of(e, "wom_region_floor"), "gauge"));
    wom_region *rs[] = {f->log, f->conf, f->odd};
    const char *shown[] = {"log", "conf", "we\"ird\\\\name"}; /* as wom ls shows it */
    for (size_t i = 0; i < 3; i++) {
        wom_region_info in;
        CHECK_OK(wom_region_info_get(rs[i], &in));
        const char *mode = in.mode == WOM_ONCE ? "once" : "many";
        CHECK(VALUE(e, "wom_region_bytes", "space=%s|region=%s|mode=%s", u, shown[i], mode) ==
              (double)in.bytes);
        CHECK(VALUE(e, "wom_region_max_value_bytes", "space=%s|region=%s", u, shown[i]) ==
              (double)in.max_value);
        if (in.mode == WOM_MANY) {
            CHECK(!find(e, "wom_region_tail", "space=%s|region=%s", u, shown[i]));
            continue;
        }
        CHECK(VALUE(e, "wom_region_tail", "space=%s|region=%s", u, shown[i]) == (double)in.tail);
        CHECK(VALUE(e, "wom_region_floor", "space=%s|region=%s", u, shown[i]) ==
              (double)in.floor);
    }
    uint64_t tail;
    wom_region *jr;
    CHECK_OK(wom_region_open(f->s, "jobs", WOM_ONCE, &jr));
    CHECK_OK(wom_tail(jr, &tail));
    wom_region_close(jr);
    CHECK(VALUE(e, "wom_region_tail", "space=%s|region=jobs", u) == (double)tail);
    wom_reader_info ri;
    CHECK_EQ(wom_chan_readers(f->jobs, first_reader, &ri), 1);
    CHECK_EQ(ri.state, WOM_READER_OPEN);
    CHECK(VALUE(e, "wom_channel_reader_cursor", "space=%s|channel=jobs|seat=1|state=open", u) ==
          (double)ri.cursor);
    CHECK(VALUE(e, "wom_channel_reader_lag", "space=%s|channel=jobs|seat=1|state=open", u) ==
          (double)(tail - ri.cursor));
    CHECK(VALUE(e, "wom_channel_reader_bounded", "space=%s|channel=jobs|seat=1|state=open", u) ==
          1);
    CHECK(VALUE(e, "wom_channel_readers", "space=%s|channel=jobs|state=open", u) == 1);
    CHECK(VALUE(e, "wom_channel_readers", "space=%s|channel=jobs|state=closed", u) == 0);
}

/* wom_space_info_get, which the metrics of a space come from: a process
 * slot counts while its process lives, a read-only open holds none. */
TEST(space_info_counts_live_processes, T_UNIT)
{
    wom_space *m;
    wom_space_info si;
    CHECK_OK(wom_open("mem:", &m));
    CHECK_OK(wom_space_info_get(m, &si));
    CHECK(si.size > 0 && si.used > 0 && si.used <= si.size && si.chunk_size > 0);
    CHECK_EQ(si.procs, 0);
    CHECK_EQ(si.procs_max, 0);
    wom_close(m);
    CHECK_ERR(wom_space_info_get(NULL, &si), WOM_EINVAL);

    static struct space_fix f;
    fix_open(&f);
    CHECK_OK(wom_space_info_get(f.s, &si));
    CHECK_EQ(si.procs, 1);
    CHECK_EQ(si.procs_max, 256);
    CHECK(si.used > si.chunk_size && si.used <= si.size);
    char ro[96];
    snprintf(ro, sizeof ro, "%s;ro", f.uri);
    /* A forked child takes a slot of its own for the handle it inherits
     * (shm.c's fork handler), and one more for a writable open of its own;
     * a read-only open takes none. All go with it. */
    for (int k = 0; k < 2; k++) {
        int go[2], done[2];
        CHECK(pipe(go) == 0 && pipe(done) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
            close(go[0]), close(done[1]);
            wom_space *c;
            char b = 0;
            int rc = wom_open(k ? ro : f.uri, &c);
            if (rc || write(go[1], &b, 1) != 1 || read(done[0], &b, 1) != 1)
                _exit(1);
            wom_close(c);
            _exit(0);
        }
        close(go[1]), close(done[0]);
        char b = 0;
        CHECK_MSG(read(go[0], &b, 1) == 1, "the child could not open the space");
        CHECK_OK(wom_space_info_get(f.s, &si));
        CHECK_EQ(si.procs, k ? 2 : 3);
        CHECK(write(done[1], &b, 1) == 1);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK_OK(wom_space_info_get(f.s, &si));
        CHECK_EQ(si.procs, 1); /* the child's slots went with it */
        close(go[0]), close(done[1]);
    }
    fix_close(&f);
    fix_rm(&f);
}

TEST(exporter_stat_prometheus_matches_the_api, T_UNIT)
{
    static struct space_fix f;
    static struct expo e;
    static char out[TEXT_CAP], err[4096];
    fix_open(&f);
    CHECK_EQ(run_wom(WOM_ARGV("stat", f.uri, "--prometheus"), out, sizeof out, err, sizeof err),
             0);
    parse_expo(out, &e);
    check_against_api(&e, &f, 1); /* wom stat holds a slot while it runs */
    /* The numbers themselves: 3 appends; 10 sent, 5 received, the cursor
     * published at 4 (every bound/4 = 4 messages). */
    CHECK(VALUE(&e, "wom_region_tail", "space=%s|region=log", f.uri) == 3);
    CHECK(VALUE(&e, "wom_region_tail", "space=%s|region=jobs", f.uri) == 10);
    CHECK(VALUE(&e, "wom_channel_reader_lag", "space=%s|channel=jobs|seat=1|state=open", f.uri) ==
          6);
    CHECK_EQ(run_wom(WOM_ARGV("stat", f.uri, "--prometheus", "--count", "2"), out, sizeof out, err,
                     sizeof err),
             1); /* it prints once */
    /* The terminal view shows the same collection. */
    CHECK_EQ(run_wom(WOM_ARGV("stat", f.uri), out, sizeof out, err, sizeof err), 0);
    CHECK_MSG(strstr(out, "\njobs                     once           10            0") &&
                  strstr(out, "\n  jobs reader 1: cursor 4, lag 6\n"),
              "stat printed: %s", out);
    fix_close(&f);
    fix_rm(&f);
}

/* A second space beside the fixture's: region "other" with two values. */
static void other_space(const struct space_fix *f, char *uri, size_t cap)
{
    wom_space *s;
    wom_region *r;
    snprintf(uri, cap, "shm:%s/other.wom", f->dir);
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "other", WOM_ONCE, &r));
    CHECK_OK(wom_append(r, "a", 1, NULL));
    CHECK_OK(wom_append(r, "b", 1, NULL));
    wom_region_close(r);
    wom_close(s);
}

TEST(exporter_serves_fresh_figures_and_survives_a_broken_space, T_UNIT)
{
    static struct space_fix f;
    static struct expo e;
    static char body[TEXT_CAP], err[4096], uri2[96];
    struct exporter x;
    fix_open(&f);
    other_space(&f, uri2, sizeof uri2);
    exporter_start(&x, f.uri, uri2);
    CHECK_EQ(http(x.port, "GET", "/metrics", body, sizeof body), 200);
    parse_expo(body, &e); /* a family's samples of both spaces are together */
    check_against_api(&e, &f, 0); /* the exporter opens shm: read-only: no slot */
    CHECK(VALUE(&e, "wom_up", "space=%s", uri2) == 1);
    CHECK(VALUE(&e, "wom_regions", "space=%s", uri2) == 1);
    CHECK(VALUE(&e, "wom_region_tail", "space=%s|region=other", uri2) == 2);
    CHECK(!find(&e, "wom_region_tail", "space=%s|region=log", uri2));
    double log_tail = VALUE(&e, "wom_region_tail", "space=%s|region=log", f.uri);

    /* More writes: the next scrape collects afresh. */
    for (int i = 0; i < 7; i++)
        CHECK_OK(wom_append(f.log, "more", 4, NULL));
    send_recv(f.jobs, f.sub, 4, 4);
    CHECK_EQ(http(x.port, "GET", "/metrics?ignored=1", body, sizeof body), 200);
    parse_expo(body, &e);
    check_against_api(&e, &f, 0);
    CHECK(VALUE(&e, "wom_region_tail", "space=%s|region=log", f.uri) == log_tail + 7);
    CHECK(VALUE(&e, "wom_region_tail", "space=%s|region=jobs", f.uri) == 14);

    /* HEAD has the headers only; other paths and methods are refused. */
    CHECK_EQ(http(x.port, "HEAD", "/metrics", body, sizeof body), 200);
    CHECK_EQ(strlen(body), 0);
    CHECK_EQ(http(x.port, "GET", "/", body, sizeof body), 404);
    CHECK_EQ(http(x.port, "GET", "/metricsx", body, sizeof body), 404);
    CHECK_EQ(http(x.port, "POST", "/metrics", body, sizeof body), 405);

    /* A closed reader is counted, and has no cursor. */
    wom_sub_close(f.sub);
    f.sub = NULL;
    CHECK_EQ(http(x.port, "GET", "/metrics", body, sizeof body), 200);
    parse_expo(body, &e);
    CHECK(VALUE(&e, "wom_channel_readers", "space=%s|channel=jobs|state=closed", f.uri) == 1);
    CHECK(VALUE(&e, "wom_channel_readers", "space=%s|channel=jobs|state=open", f.uri) == 0);
    CHECK(!find(&e, "wom_channel_reader_cursor", "space=%s|channel=jobs|seat=1|state=closed",
                f.uri));

    /* The file truncated under the exporter: wom_up 0, and it goes on. */
    fix_close(&f);
    CHECK(truncate(f.path, 0) == 0);
    for (int k = 0; k < 2; k++) {
        CHECK_EQ(http(x.port, "GET", "/metrics", body, sizeof body), 200);
        parse_expo(body, &e);
        CHECK(VALUE(&e, "wom_up", "space=%s", f.uri) == 0);
        CHECK(!find(&e, "wom_regions", "space=%s", f.uri));
        CHECK(!find(&e, "wom_region_tail", "space=%s|region=log", f.uri));
        CHECK(VALUE(&e, "wom_up", "space=%s", uri2) == 1); /* the other goes on */
        CHECK(VALUE(&e, "wom_region_tail", "space=%s|region=other", uri2) == 2);
    }
    exporter_stop(&x, err, sizeof err);
    CHECK_MSG(strstr(err, "wom_up is 0 until it recovers"), "stderr: %s", err);
    CHECK(unlink(uri2 + 4) == 0);
    fix_rm(&f);
}

TEST(exporter_refuses_bad_starts_clearly, T_UNIT)
{
    static char out[4096], err[4096];
    static struct space_fix f;
    fix_open(&f);
    /* A port in use. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    char spec[32];
    snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(a.sin_port));
    CHECK_EQ(run_wom(WOM_ARGV("exporter", "--listen", spec, f.uri), out, sizeof out, err,
                     sizeof err),
             10);
    CHECK_MSG(strstr(err, "cannot listen on") && strstr(err, "Address already in use"),
              "stderr: %s", err);
    close(fd);
    /* A space that does not exist: not created (the exporter opens ;ro). */
    char missing[96];
    snprintf(missing, sizeof missing, "shm:%s/none.wom", f.dir);
    CHECK_EQ(run_wom(WOM_ARGV("exporter", "--listen", "127.0.0.1:0", missing), out, sizeof out,
                     err, sizeof err),
             9);
    CHECK_MSG(strstr(err, "none.wom") && strstr(err, "does not exist"), "stderr: %s", err);
    CHECK(access(missing + 4, F_OK) != 0);
    /* Not HOST:PORT; no space at all. */
    static const char *const specs[] = {"127.0.0.1", "127.0.0.1:65536", "::1:80", "h:p"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        CHECK_EQ(run_wom(WOM_ARGV("exporter", "--listen", specs[i], f.uri), out, sizeof out, err,
                         sizeof err),
                 1);
        CHECK_MSG(strstr(err, "is not HOST:PORT"), "%s: stderr: %s", specs[i], err);
    }
    CHECK_EQ(run_wom(WOM_ARGV("exporter", "--listen", "127.0.0.1:0"), out, sizeof out, err,
                     sizeof err),
             1);
    fix_close(&f);
    fix_rm(&f);
}
