/*
 * cluster.c - wom cluster up|down|status: a local etcd cluster for the
 * etcd:// scope, kept in one directory.
 *
 * DIR/config      members, first client port and the cluster token, fixed
 *                 by the first 'up' (a later one must agree)
 * DIR/uri         the etcd:// URI of the members' client ports
 * DIR/lock        held (flock) by the one up or down working on DIR
 * DIR/mK/         member K's data directory (etcd's own files), with
 *   pid, log      its process id (while started) and its output
 *
 * Member K listens on 127.0.0.1 only: client port P + 2(K-1), peer port
 * P + 2(K-1) + 1. Members run in their own session, so they outlive the
 * command; 'up' starts exactly those that are not running, 'down' stops
 * those that are. Both are idempotent. The CLI talks to the members over
 * etcd's JSON gateway (http.c), never through etcdctl or curl.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "http.h"
#include "util/clock.h"

#define ETCD_BIN "/usr/bin/etcd"
#define MEMBERS_DEFAULT 3
#define MEMBERS_MAX 9
#define PORT_DEFAULT 23790
#define UP_TIMEOUT_MS 30000
#define DOWN_TIMEOUT_MS 10000
#define KILL_TIMEOUT_MS 5000
#define STATUS_TIMEOUT_MS 2000
#define POLL_MS 50
#define ENDPOINTS_MAX 16
#define HOSTPORT_MAX 272 /* "[" 253-byte host "]:" 5-digit port */
#define WHY_MAX 512

/* A cluster directory, opened by cluster_open. */
struct cluster {
    char dir[PATH_MAX - 64]; /* absolute, with room for "/mK/file" */
    unsigned n, port;        /* members, member 1's client port */
    char token[40];          /* --initial-cluster-token, unique per DIR */
    int have_config;         /* DIR/config existed */
};

static const char *sub = "cluster"; /* "cluster up", ... for messages */

/* Print "wom: cluster SUB: MESSAGE" on stderr; returns code. */
__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wom: %s: ", sub);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static unsigned client_port(const struct cluster *cl, unsigned k) { return cl->port + 2 * (k - 1); }

/* DIR/mK, or DIR/mK/file. */
static void member_path(const struct cluster *cl, unsigned k, const char *file, char *out)
{
    snprintf(out, PATH_MAX, "%s/m%u%s%s", cl->dir, k, *file ? "/" : "", file);
}

/* ==== Small files: config, uri, pid ======================================= */

/* Write text to path through a temporary file and a rename, so that a
 * reader sees the old or the new file whole. */
static int write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    int rc = write(fd, text, len) == (ssize_t)len ? 0 : -(errno ? errno : EIO);
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

/* The first line of a small file, without its newline; -errno. */
static int read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int rc = fgets(out, (int)cap, f) ? 0 : -EINVAL;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
    return rc;
}

static int token_ok(const char *t)
{
    size_t n = strlen(t);
    return n > 0 && n < 40 && strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* DIR/config into cl: 0, 1 when there is none, -1 when it is not one this
 * command wrote (reported). */
static int config_read(struct cluster *cl)
{
    char path[PATH_MAX], line[128], key[16], val[64];
    snprintf(path, sizeof path, "%s/config", cl->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 1 : fail(-1, "%s: %s", ESC(path), strerror(errno));
    unsigned seen = 0;
    while (fgets(line, sizeof line, f)) {
        uint64_t v = 0;
        if (line[0] == '#' || sscanf(line, "%15s %63s", key, val) != 2)
            continue;
        int num = !strcmp(key, "members") || !strcmp(key, "port");
        if (num && cli_parse_u64(val, &v))
            break;
        if (!strcmp(key, "members") && v >= 1 && v <= MEMBERS_MAX) {
            cl->n = (unsigned)v;
            seen |= 1;
        } else if (!strcmp(key, "port") && v >= 1 && v <= 65535) {
            cl->port = (unsigned)v;
            seen |= 2;
        } else if (!strcmp(key, "token") && token_ok(val)) {
            memcpy(cl->token, val, strlen(val) + 1); /* token_ok: shorter than 40 */
            seen |= 4;
        }
    }
    fclose(f);
    if (seen != 7)
        return fail(-1, "%s is damaged: it needs 'members N', 'port P' and 'token T' lines",
                    ESC(path));
    return 0;
}

static int config_write(const struct cluster *cl)
{
    char path[PATH_MAX], text[256];
    snprintf(path, sizeof path, "%s/config", cl->dir);
    snprintf(text, sizeof text,
             "# written by 'wom cluster up'; members and port are fixed once data exists\n"
             "members %u\nport %u\ntoken %s\n",
             cl->n, cl->port, cl->token);
    return write_file(path, text);
}

/* The pid recorded for member k, or 0. */
static pid_t read_pid(const struct cluster *cl, unsigned k)
{
    char path[PATH_MAX], line[32];
    uint64_t v;
    member_path(cl, k, "pid", path);
    if (read_line(path, line, sizeof line) || cli_parse_u64(line, &v) || v < 2 || v > INT_MAX)
        return 0;
    return (pid_t)v;
}

/* ==== Member processes ==================================================== */

/* Whether pid runs etcd on member k's data directory: its command line
 * names that directory after --data-dir. A process that has exited (a
 * zombie included) has an empty command line, so it is not. */
static int is_member(const struct cluster *cl, unsigned k, pid_t pid)
{
    char path[64], ddir[PATH_MAX], buf[8192];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    member_path(cl, k, "", ddir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *arg0 = buf, *base = strrchr(arg0, '/');
    if (strcmp(base ? base + 1 : arg0, "etcd"))
        return 0;
    for (const char *p = buf; p < buf + n; p += strlen(p) + 1)
        if (!strcmp(p, "--data-dir") && p + strlen(p) + 1 < buf + n &&
            !strcmp(p + strlen(p) + 1, ddir))
            return 1;
    return 0;
}

/* A pidfd of member k's running process, or -1 when it is not running. */
static int member_pidfd(const struct cluster *cl, unsigned k, pid_t *pid)
{
    *pid = read_pid(cl, k);
    int fd = *pid ? pidfd_open(*pid, 0) : -1;
    /* Checked after the open: the pidfd holds that very process, so a pid
     * reused later cannot be signalled by mistake. */
    if (fd >= 0 && !is_member(cl, k, *pid)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* 1 when 127.0.0.1:port can be listened on, 0 when it is in use. */
static int port_free(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 1; /* cannot tell: etcd will say */
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int in_use = bind(s, (struct sockaddr *)&sa, sizeof sa) && errno == EADDRINUSE;
    close(s);
    return !in_use;
}

/* Fill argv (room for 32) for member k; strings in buf. */
static void etcd_argv(const struct cluster *cl, unsigned k, const char **argv, char buf[][PATH_MAX])
{
    unsigned c = client_port(cl, k);
    char *ic = buf[5];
    size_t off = 0;
    for (unsigned j = 1; j <= cl->n; j++)
        off += (size_t)snprintf(ic + off, PATH_MAX - off, "%sm%u=http://127.0.0.1:%u",
                                j > 1 ? "," : "", j, client_port(cl, j) + 1);
    snprintf(buf[0], PATH_MAX, "m%u", k);
    member_path(cl, k, "", buf[1]);
    snprintf(buf[2], PATH_MAX, "http://127.0.0.1:%u", c);
    snprintf(buf[3], PATH_MAX, "http://127.0.0.1:%u", c + 1);
    member_path(cl, k, "member", buf[4]);
    struct stat st;
    const char *state = stat(buf[4], &st) == 0 ? "existing" : "new";
    const char *v[] = {
        ETCD_BIN, "--name", buf[0], "--data-dir", buf[1],
        "--listen-client-urls", buf[2], "--advertise-client-urls", buf[2],
        "--listen-peer-urls", buf[3], "--initial-advertise-peer-urls", buf[3],
        "--initial-cluster", ic, "--initial-cluster-token", cl->token,
        "--initial-cluster-state", state,
        /* Quick failovers for tests: a lost leader is replaced within
         * about a second (etcd's defaults, 100/1000 ms, are for real
         * networks); pre-vote keeps a member that rejoins from deposing a
         * healthy leader. */
        "--heartbeat-interval=50", "--election-timeout=500", "--pre-vote=true",
        /* 1 GiB, then a NOSPACE alarm (not a full disk); no compaction of
         * etcd's own: wom's trim decides what history goes. */
        "--quota-backend-bytes=1073741824", "--auto-compaction-retention=0",
        /* JSON lines to stderr (the log file), never journald: the reason
         * a member failed is read back from them. */
        "--logger=zap", "--log-outputs=stderr", NULL};
    _Static_assert(sizeof v <= 32 * sizeof *argv, "argv has room for 32");
    memcpy(argv, v, sizeof v);
}

/* Start member k in its own session, output to DIR/mK/log, and record its
 * pid in DIR/mK/pid. */
static int start_member(const struct cluster *cl, unsigned k, pid_t *out)
{
    char buf[6][PATH_MAX], path[PATH_MAX];
    const char *argv[32];
    etcd_argv(cl, k, argv, buf);
    member_path(cl, k, "", path);
    if (mkdir(path, 0700) && errno != EEXIST)
        return fail(EX_OTHER, "%s: %s", ESC(path), strerror(errno));
    member_path(cl, k, "log", path);
    int log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = log < 0 || null < 0 ? -1 : fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (setsid() < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execv(ETCD_BIN, (char *const *)argv);
        dprintf(2, "wom cluster: cannot run %s: %s\n", ETCD_BIN, strerror(errno));
        _exit(127);
    }
    int err = errno;
    if (log >= 0)
        close(log);
    if (null >= 0)
        close(null);
    if (pid < 0)
        return fail(EX_OTHER, "cannot start m%u: %s", k, strerror(err));
    char text[32];
    snprintf(text, sizeof text, "%ld\n", (long)pid);
    member_path(cl, k, "pid", path);
    int rc = write_file(path, text);
    if (rc)
        return fail(EX_OTHER, "started m%u (pid %ld) but cannot record it in %s: %s", k,
                    (long)pid, ESC(path), strerror(-rc));
    *out = pid;
    return 0;
}

/* ==== What a member's log says ============================================ */

/* How severe a zap log level is: 1 info (or unknown), 2 warn, 3 error,
 * 4 dpanic, panic or fatal. */
static int level_rank(const char *level)
{
    static const char *const ranks[] = {"warn", "error", "dpanic", "panic", "fatal"};
    for (int i = 0; i < 5; i++)
        if (level && !strcmp(level, ranks[i]))
            return 2 + (i > 0) + (i > 1);
    return 1;
}

/* Keep line in why when it is as severe as the best so far: a zap line as
 * "msg: error", another line as it is. */
static void consider_line(const char *line, int *best, char *why)
{
    json_t *j = json_loads(line, 0, NULL);
    int rank = j ? level_rank(json_string_value(json_object_get(j, "level"))) : 1;
    if (rank >= *best && (!j || rank > 1)) {
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *err = json_string_value(json_object_get(j, "error"));
        if (j && msg)
            snprintf(why, WHY_MAX, "%s%s%s", msg, err ? ": " : "", err ? err : "");
        else
            snprintf(why, WHY_MAX, "%.*s", WHY_MAX - 1, line);
        *best = rank;
    }
    json_decref(j);
}

/* The most severe of the last lines of member k's log (the latest of
 * them), into why ("" when it says nothing); returns its rank (level_rank). */
static int log_why(const struct cluster *cl, unsigned k, char *why)
{
    char path[PATH_MAX];
    static char tail[64 << 10];
    member_path(cl, k, "log", path);
    why[0] = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    long start = fseek(f, 0, SEEK_END) == 0 ? ftell(f) - (long)sizeof tail + 1 : 0;
    fseek(f, start > 0 ? start : 0, SEEK_SET);
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    tail[n] = 0;
    char *line = start > 0 ? strchr(tail, '\n') : tail; /* skip a cut line */
    int best = 1;
    for (char *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (*line)
            consider_line(line, &best, why);
    }
    return best;
}

/* Report member k's trouble, with what its log says. */
static int member_failed(const struct cluster *cl, unsigned k, int code, const char *what)
{
    char why[WHY_MAX], path[PATH_MAX];
    int rank = log_why(cl, k, why);
    member_path(cl, k, "log", path);
    if (!*why)
        return fail(code, "m%u (client 127.0.0.1:%u) %s; its log %s shows no warning", k,
                    client_port(cl, k), what, ESC(path));
    /* etcd warns of much that is harmless (a peer that connected), so a
     * warning is told as what it is. */
    return fail(code, "m%u (client 127.0.0.1:%u) %s; its log %s %s: %s", k,
                client_port(cl, k), what, ESC(path), rank > 2 ? "says" : "last warns",
                ESC(why));
}

/* ==== Asking a member ===================================================== */

struct status {
    int ok;               /* it answered */
    uint64_t id, leader;  /* leader 0: it knows none */
    uint64_t term, revision, index, db;
    char err[256];        /* why it did not answer, or its first alarm */
};

static void ask_status(const char *hostport, long timeout_ms, struct status *st)
{
    json_t *j;
    memset(st, 0, sizeof *st);
    if (http_post_json(hostport, "/v3/maintenance/status", "{}", timeout_ms, &j, st->err,
                       sizeof st->err))
        return;
    json_t *hdr = json_object_get(j, "header");
    if (json_u64(hdr, "member_id", &st->id) || json_u64(hdr, "revision", &st->revision) ||
        json_u64(j, "leader", &st->leader) || json_u64(j, "raftTerm", &st->term) ||
        json_u64(j, "raftIndex", &st->index) || json_u64(j, "dbSize", &st->db) || !st->id) {
        snprintf(st->err, sizeof st->err, "not an etcd status: fields missing");
    } else {
        const char *alarm = json_string_value(json_array_get(json_object_get(j, "errors"), 0));
        snprintf(st->err, sizeof st->err, "%s", alarm ? alarm : "");
        st->ok = 1;
    }
    json_decref(j);
}

/* The monotonic time ms milliseconds from now (MS_FOREVER: never). */
static int64_t deadline_after(uint64_t ms)
{
    int64_t now = wom__now_ns(), ns = ms_to_ns(ms);
    return ns < 0 || ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

static long ms_left(int64_t deadline_ns)
{
    int64_t left = deadline_ns - wom__now_ns();
    return left <= 0 ? 0 : (long)(left / 1000000);
}

/* Whether every member answers and all name the same leader; else the
 * first member that does not, and why, in *bad and why. */
static int all_agree(const struct cluster *cl, long timeout_ms, unsigned *bad, char *why)
{
    uint64_t leader = 0;
    for (unsigned k = 1; k <= cl->n; k++) {
        char hp[32];
        struct status st;
        snprintf(hp, sizeof hp, "127.0.0.1:%u", client_port(cl, k));
        ask_status(hp, timeout_ms, &st);
        if (!st.ok || !st.leader || (leader && st.leader != leader)) {
            *bad = k;
            snprintf(why, WHY_MAX, "%s%s", !st.ok ? "does not answer: " : "",
                     !st.ok ? st.err : !st.leader ? "knows no leader" : "names another leader");
            return 0;
        }
        leader = st.leader;
    }
    return 1;
}

/* Wait until all members agree on a leader, or deadline_ns; a member this
 * command started that exits ends the wait at once. */
static int wait_for_leader(const struct cluster *cl, const pid_t *started, int64_t deadline_ns,
                           uint64_t timeout_ms)
{
    for (;;) {
        for (unsigned k = 1; k <= cl->n; k++) {
            int st;
            if (started[k] && waitpid(started[k], &st, WNOHANG) == started[k]) {
                char what[64];
                snprintf(what, sizeof what, "exited with status %d",
                         WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                return member_failed(cl, k, EX_OTHER, what);
            }
        }
        unsigned bad = 0;
        char why[WHY_MAX];
        long left = ms_left(deadline_ns);
        if (all_agree(cl, left < 1000 ? left : 1000, &bad, why))
            return 0;
        if (ms_left(deadline_ns) == 0) {
            char what[WHY_MAX + 64];
            snprintf(what, sizeof what, "after %" PRIu64 " ms: %s", timeout_ms, why);
            return member_failed(cl, bad, EX_UNAVAIL, what);
        }
        /* etcd offers nothing to wait on for "has a leader": poll the
         * external servers' readiness, bounded by the deadline. */
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
    }
}

/* ==== up ================================================================== */

/* Open (for up: make) the cluster directory path and lock it. */
static int cluster_open(const char *path, int make, struct cluster *cl, int *lock)
{
    char real[PATH_MAX], lp[PATH_MAX];
    if (make && mkdir(path, 0700) && errno != EEXIST)
        return fail(EX_OTHER, "cannot make %s: %s", ESC(path), strerror(errno));
    if (!realpath(path, real))
        return fail(EX_NOSPACE, "%s: %s", ESC(path), strerror(errno));
    if (strlen(real) >= sizeof cl->dir)
        return fail(EX_TOOBIG, "%s: path too long", ESC(real));
    memset(cl, 0, sizeof *cl);
    memcpy(cl->dir, real, strlen(real) + 1);
    /* down leaves a directory that is not a cluster's as it found it. */
    snprintf(lp, sizeof lp, "%s/config", cl->dir);
    if (!make && access(lp, F_OK))
        return fail(EX_NOSPACE, "%s is not a cluster directory (no config)", ESC(cl->dir));
    snprintf(lp, sizeof lp, "%s/lock", cl->dir);
    *lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*lock < 0)
        return fail(errno == ENOTDIR || errno == ENOENT ? EX_NOSPACE : EX_OTHER, "%s: %s",
                    ESC(lp), strerror(errno));
    if (flock(*lock, LOCK_EX | LOCK_NB))
        return fail(EX_BUSY, "another 'wom cluster' command is working on %s", ESC(cl->dir));
    int rc = config_read(cl);
    if (rc < 0)
        return EX_OTHER;
    cl->have_config = rc == 0;
    return 0;
}

/* The members and port: as recorded, or from the options (or defaults)
 * for a new directory; options that contradict the record are refused. */
static int settle_config(struct cluster *cl, const struct args *a)
{
    uint64_t n = num_or(a, O_MEMBERS, MEMBERS_DEFAULT), p = num_or(a, O_PORT, PORT_DEFAULT);
    if (cl->have_config && ((has(a, O_MEMBERS) && n != cl->n) || (has(a, O_PORT) && p != cl->port)))
        return fail(EX_USAGE, "%s holds a cluster of %u members from port %u; give those "
                              "(or no --members/--port) or use another directory",
                    ESC(cl->dir), cl->n, cl->port);
    if (!cl->have_config) {
        uint64_t r;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (uint64_t)wom__now_ns() ^ ((uint64_t)getpid() << 32);
        cl->n = (unsigned)n;
        cl->port = (unsigned)p;
        snprintf(cl->token, sizeof cl->token, "wom-%016" PRIx64, r);
    }
    if (cl->port < 1024 || client_port(cl, cl->n) + 1 > 65535)
        return fail(EX_USAGE, "ports %u to %u: want 1024 to 65535", cl->port,
                    client_port(cl, cl->n) + 1);
    return 0;
}

/* Which members are not running (want[k] = 1), and that their ports are
 * free; the others' pids are printed. */
static int plan_starts(const struct cluster *cl, int *want)
{
    for (unsigned k = 1; k <= cl->n; k++) {
        pid_t pid;
        int fd = member_pidfd(cl, k, &pid);
        want[k] = fd < 0;
        if (fd >= 0) {
            fprintf(stderr, "m%u: running, pid %ld\n", k, (long)pid);
            close(fd);
            continue;
        }
        for (unsigned port = client_port(cl, k); port <= client_port(cl, k) + 1; port++)
            if (!port_free(port))
                return fail(EX_OTHER, "port %u (%s port of m%u) is in use by another program; "
                                      "choose other ports with --port in a new directory",
                            port, port == client_port(cl, k) ? "client" : "peer", k);
    }
    return 0;
}

static int write_uri(const struct cluster *cl, char *uri, size_t cap)
{
    size_t off = (size_t)snprintf(uri, cap, "etcd://");
    for (unsigned k = 1; k <= cl->n; k++)
        off += (size_t)snprintf(uri + off, cap - off, "%s127.0.0.1:%u", k > 1 ? "," : "",
                                client_port(cl, k));
    snprintf(uri + off, cap - off, "/");
    char path[PATH_MAX], text[1024];
    snprintf(path, sizeof path, "%s/uri", cl->dir);
    snprintf(text, sizeof text, "%s\n", uri);
    int rc = write_file(path, text);
    return rc ? fail(EX_OTHER, "%s: %s", ESC(path), strerror(-rc)) : 0;
}

static int cluster_up(const struct args *a, struct cluster *cl)
{
    int want[MEMBERS_MAX + 1] = {0}, rc;
    pid_t started[MEMBERS_MAX + 1] = {0};
    char uri[512];
    if ((rc = settle_config(cl, a)))
        return rc;
    if (access(ETCD_BIN, X_OK))
        return fail(EX_OTHER, "etcd is not installed (%s: %s); install Debian's etcd-server "
                              "(sh scripts/deps.sh cluster)", ETCD_BIN, strerror(errno));
    if ((rc = plan_starts(cl, want)))
        return rc;
    if (!cl->have_config && (rc = config_write(cl)))
        return fail(EX_OTHER, "%s/config: %s", ESC(cl->dir), strerror(-rc));
    uint64_t ms = num_or(a, O_TIMEOUT, UP_TIMEOUT_MS);
    int64_t deadline = deadline_after(ms);
    for (unsigned k = 1; k <= cl->n; k++) {
        if (want[k] && (rc = start_member(cl, k, &started[k])))
            return rc;
        if (want[k])
            fprintf(stderr, "m%u: started, pid %ld\n", k, (long)started[k]);
    }
    if ((rc = write_uri(cl, uri, sizeof uri)))
        return rc;
    if ((rc = wait_for_leader(cl, started, deadline, ms)))
        return rc;
    printf("%s\n", uri);
    return cli_finish_stdout();
}

/* ==== down ================================================================ */

/* Wait until the process of pidfd fd has exited, or deadline_ns; 1 when
 * it has. */
static int wait_gone(int fd, int64_t deadline_ns)
{
    struct pollfd p = {fd, POLLIN, 0};
    for (long ms; (ms = ms_left(deadline_ns)) > 0;) {
        int n = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
    return poll(&p, 1, 0) > 0;
}

/* Stop member k if it runs: SIGTERM, SIGKILL after ms milliseconds; then
 * remove its pid file. */
static int stop_member(const struct cluster *cl, unsigned k, uint64_t ms)
{
    pid_t pid;
    char path[PATH_MAX];
    int fd = member_pidfd(cl, k, &pid), rc = 0;
    if (fd < 0) {
        fprintf(stderr, "m%u: not running\n", k);
    } else if (pidfd_send_signal(fd, SIGTERM, NULL, 0) && errno != ESRCH) {
        rc = fail(EX_OTHER, "cannot stop m%u (pid %ld): %s", k, (long)pid, strerror(errno));
    } else if (!wait_gone(fd, deadline_after(ms))) {
        fprintf(stderr, "m%u: still running after %" PRIu64 " ms, killed\n", k, ms);
        pidfd_send_signal(fd, SIGKILL, NULL, 0);
        if (!wait_gone(fd, deadline_after(KILL_TIMEOUT_MS)))
            rc = fail(EX_OTHER, "m%u (pid %ld) does not die", k, (long)pid);
    }
    if (fd >= 0)
        close(fd);
    if (fd >= 0 && !rc)
        fprintf(stderr, "m%u: stopped, pid %ld\n", k, (long)pid);
    member_path(cl, k, "pid", path);
    if (!rc)
        unlink(path); /* a stale one too */
    return rc;
}

/* One member after the other: a leader told to stop first hands its
 * leadership to a member still running, which takes a heartbeat or two;
 * stopped all at once, it would wait for etcd's request timeout (about 6
 * s) trying to hand it to a member that is stopping too. */
static int cluster_down(const struct args *a, const struct cluster *cl)
{
    uint64_t ms = num_or(a, O_TIMEOUT, DOWN_TIMEOUT_MS);
    int rc = 0;
    for (unsigned k = 1; k <= cl->n; k++) {
        int r = stop_member(cl, k, ms);
        rc = rc ? rc : r;
    }
    return rc;
}

/* ==== status ============================================================== */

struct member {
    uint64_t id;
    char name[32];
    char hostport[HOSTPORT_MAX]; /* its first client URL's, "" if none */
    struct status st;
};

/* The endpoints of an etcd:// URI (or of DIR/uri) into ep; their number,
 * or -1 (reported). */
static int parse_endpoints(const char *target, char ep[][HOSTPORT_MAX])
{
    char uri[1024], path[PATH_MAX];
    if (strncmp(target, "etcd://", 7)) {
        snprintf(path, sizeof path, "%s/uri", target);
        if (read_line(path, uri, sizeof uri))
            return fail(-1, "'%s' is neither an etcd:// URI nor a cluster directory (no "
                            "readable %s)", ESC(target), ESC(path));
    } else {
        snprintf(uri, sizeof uri, "%s", target);
    }
    const char *p = uri + 7;
    int n = 0;
    for (size_t len; *p && *p != '/' && *p != ';'; p += len + (p[len] == ',')) {
        len = strcspn(p, ",/;");
        const char *colon = memrchr(p, ':', len);
        uint64_t port;
        char num[8] = "";
        if (colon && (size_t)(p + len - colon - 1) < sizeof num)
            memcpy(num, colon + 1, (size_t)(p + len - colon - 1));
        if (!colon || colon == p || len >= HOSTPORT_MAX || n == ENDPOINTS_MAX ||
            cli_parse_u64(num, &port) || !port || port > 65535 ||
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") <
                len)
            return fail(-1, "bad endpoint in %s (want HOST:PORT, at most %d)", ESC(uri),
                        ENDPOINTS_MAX);
        memcpy(ep[n], p, len);
        ep[n++][len] = 0;
    }
    return n ? n : fail(-1, "no endpoint in %s", ESC(uri));
}

/* The cluster's members as one member lists them, into m; their number,
 * or 0 when none answered. */
static unsigned list_members(const char *hostport, long timeout_ms, struct member *m)
{
    json_t *j;
    char err[256];
    if (http_post_json(hostport, "/v3/cluster/member/list", "{}", timeout_ms, &j, err,
                       sizeof err))
        return 0;
    unsigned n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "members"), i, it) {
        if (n == ENDPOINTS_MAX)
            break;
        memset(&m[n], 0, sizeof m[n]);
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *url = json_string_value(json_array_get(json_object_get(it, "clientURLs"), 0));
        if (json_u64(it, "ID", &m[n].id))
            continue;
        snprintf(m[n].name, sizeof m[n].name, "%s", name && *name ? name : "(unstarted)");
        if (url && !strncmp(url, "http://", 7))
            snprintf(m[n].hostport, sizeof m[n].hostport, "%.*s", (int)strcspn(url + 7, "/"),
                     url + 7);
        n++;
    }
    json_decref(j);
    return n;
}

static void print_member(const struct member *m)
{
    const struct status *s = &m->st;
    char id[20] = "-";
    if (m->id)
        snprintf(id, sizeof id, "%" PRIx64, m->id);
    printf("%-12s %-16s %-21s ", ESC(m->name), id, *m->hostport ? ESC(m->hostport) : "-");
    if (!s->ok) {
        printf("%-9s %6s %10s %10s %12s  no status: %s\n", "-", "-", "-", "-", "-",
               ESC(s->err));
        return;
    }
    printf("%-9s %6" PRIu64 " %10" PRIu64 " %10" PRIu64 " %12" PRIu64 "  %s\n",
           s->leader == s->id ? "leader" : s->leader ? "follower" : "none", s->term, s->revision,
           s->index, s->db, *s->err ? ESC(s->err) : s->leader ? "healthy" : "no leader");
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const struct member *)x)->name, ((const struct member *)y)->name);
}

/* Ask every endpoint, then every listed member not asked yet; m holds the
 * listed members (or, when none answered, one row per endpoint). */
static unsigned gather_members(char ep[][HOSTPORT_MAX], int nep, long timeout_ms, struct member *m)
{
    struct status st[ENDPOINTS_MAX];
    unsigned n = 0;
    for (int i = 0; i < nep; i++) {
        ask_status(ep[i], timeout_ms, &st[i]);
        if (st[i].ok && !n)
            n = list_members(ep[i], timeout_ms, m);
    }
    if (!n) {
        for (int i = 0; i < nep; i++) {
            m[i] = (struct member){.st = st[i]};
            snprintf(m[i].name, sizeof m[i].name, "?");
            memcpy(m[i].hostport, ep[i], sizeof m[i].hostport);
        }
        return (unsigned)nep;
    }
    qsort(m, n, sizeof *m, by_name);
    for (unsigned k = 0; k < n; k++) {
        for (int i = 0; i < nep && !m[k].st.ok; i++)
            if (st[i].ok && st[i].id == m[k].id)
                m[k].st = st[i];
        if (!m[k].st.ok && *m[k].hostport)
            ask_status(m[k].hostport, timeout_ms, &m[k].st);
        else if (!m[k].st.ok)
            snprintf(m[k].st.err, sizeof m[k].st.err, "no client URL");
    }
    return n;
}

static int cluster_status(const struct args *a)
{
    char ep[ENDPOINTS_MAX][HOSTPORT_MAX];
    struct member m[ENDPOINTS_MAX];
    int nep = parse_endpoints(a->pos[1], ep);
    if (nep < 0)
        return EX_NOSPACE;
    uint64_t ms = num_or(a, O_TIMEOUT, STATUS_TIMEOUT_MS);
    unsigned n = gather_members(ep, nep, ms > LONG_MAX ? LONG_MAX : (long)ms, m);
    /* A leader counts when a majority of the members name it: a leader
     * cut off from the others may believe it leads for a while. */
    uint64_t leader = 0, term = 0;
    unsigned votes = 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned c = 0;
        for (unsigned j = 0; j < n; j++)
            c += m[j].st.ok && m[k].st.ok && m[k].st.leader && m[j].st.leader == m[k].st.leader;
        if (c > votes)
            votes = c, leader = m[k].st.leader, term = m[k].st.term;
    }
    printf("%-12s %-16s %-21s %-9s %6s %10s %10s %12s  %s\n", "MEMBER", "ID", "CLIENT", "ROLE",
           "TERM", "REVISION", "INDEX", "DB-BYTES", "HEALTH");
    for (unsigned k = 0; k < n; k++)
        print_member(&m[k]);
    const char *name = "?";
    for (unsigned k = 0; k < n; k++)
        if (m[k].id == leader)
            name = m[k].name;
    if (votes * 2 > n)
        printf("leader %s (%" PRIx64 "), term %" PRIu64 ", named by %u of %u members\n",
               ESC(name), leader, term, votes, n);
    else
        printf("no leader: %u of %u members name one\n", votes, n);
    int rc = cli_finish_stdout();
    return rc ? rc : votes * 2 > n ? EX_OK : EX_UNAVAIL;
}

/* ==== The command ========================================================= */

int cli_cluster(struct ctx *c)
{
    const struct args *a = c->a;
    const char *what = a->pos[0];
    int up = !strcmp(what, "up"), down = !strcmp(what, "down");
    if (!up && !down && strcmp(what, "status"))
        return cli_usage_error("cluster", "unknown subcommand '%s' (up, down or status)",
                               ESC(what));
    if (!up && (has(a, O_MEMBERS) || has(a, O_PORT)))
        return cli_usage_error("cluster", "--members and --port are for 'cluster up' only");
    sub = up ? "cluster up" : down ? "cluster down" : "cluster status";
    if (http_init())
        return fail(EX_OTHER, "cannot initialise libcurl");
    int rc, lock = -1;
    struct cluster cl;
    if (!up && !down)
        rc = cluster_status(a);
    else if (!(rc = cluster_open(a->pos[1], up, &cl, &lock)))
        rc = up ? cluster_up(a, &cl) : cluster_down(a, &cl);
    if (lock >= 0)
        close(lock);
    http_cleanup();
    return rc;
}
