/* cluster_test.c - `wom cluster up/down/status`, run as a separate program
 * against real etcd members (Debian's etcd-server, /usr/bin/etcd; skipped
 * when it is not installed: sh scripts/deps.sh cluster). Each test gets a
 * private cluster directory and ports from its pid, and whatever becomes
 * of its body, the members are stopped and the directory removed after. */
#include "cluster_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>


#define CHECK_WOM(want, ...)                                                   \
    do {                                                                       \
        int code_ = wom(__VA_ARGS__);                                          \
        CHECK_MSG(code_ == (want), "wom exit %d, want %d; output:\n%s", code_, \
                  (want), out);                                                \
    } while (0)
#define CHECK_HAS(sub) CHECK_MSG(strstr(out, (sub)), "'%s' not in: %s", (sub), out)

/* Whether pid runs (a process that has exited, a zombie too, has an empty
 * command line). */
static int running(pid_t pid)
{
    char path[64], c;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    FILE *f = fopen(path, "r");
    int yes = f && fread(&c, 1, 1, f) == 1;
    if (f)
        fclose(f);
    return yes;
}

/* POST body to etcd's JSON gateway at 127.0.0.1:port path, with the test's
 * own few lines of HTTP/1.1 (so the CLI is checked against etcd, not
 * against its own client); the answer's body into ans, which must be 200. */
static void gateway(unsigned port, const char *path, const char *body, char *ans, size_t cap)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_MSG(connect(s, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %u: %s", port,
              strerror(errno));
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, port, strlen(body), body);
    CHECK(write(s, req, (size_t)n) == n);
    size_t len = 0;
    for (ssize_t r; len < cap - 1 && (r = read(s, ans + len, cap - 1 - len)) > 0;)
        len += (size_t)r;
    close(s);
    ans[len] = 0;
    CHECK_MSG(!strncmp(ans, "HTTP/1.1 200", 12), "%s: %s", path, ans);
    char *b = strstr(ans, "\r\n\r\n");
    CHECK(b);
    memmove(ans, b + 4, strlen(b + 4) + 1);
}

/* `wom cluster up` with 3 members from t's port; checks the URI. */
static void up(const struct tc *t)
{
    char uri[128];
    snprintf(uri, sizeof uri, "etcd://127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u/\n", t->port,
             t->port + 2, t->port + 4);
    CHECK_WOM(0, "cluster up %s --members 3 --port %u", t->dir, t->port);
    CHECK_HAS(uri);
    char path[128], file[256] = "";
    snprintf(path, sizeof path, "%s/uri", t->dir);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f, "%s: %s", path, strerror(errno));
    CHECK(fgets(file, sizeof file, f));
    fclose(f);
    CHECK_MSG(!strcmp(file, uri), "%s holds %s", path, file);
    for (unsigned k = 1; k <= 3; k++)
        CHECK_MSG(running(member_pid(t, k)), "m%u not running", k);
}

/* `wom cluster status` of target: a leader and 3 healthy members. */
static void has_leader(const char *target)
{
    CHECK_WOM(0, "cluster status %s", target);
    CHECK_HAS("\nleader m");
    CHECK_HAS("named by 3 of 3 members");
    for (unsigned k = 1; k <= 3; k++) {
        char line[8];
        snprintf(line, sizeof line, "\nm%u ", k);
        CHECK_HAS(line);
    }
}

static void up_status_down(const struct tc *t)
{
    up(t);
    has_leader(t->dir);
    char uri[128];
    snprintf(uri, sizeof uri, "etcd://127.0.0.1:%u,127.0.0.1:%u/", t->port + 4, t->port);
    has_leader(uri); /* any members name the cluster */
    pid_t pids[4] = {0, member_pid(t, 1), member_pid(t, 2), member_pid(t, 3)};
    CHECK_WOM(0, "cluster up %s", t->dir); /* all running: nothing started */
    for (unsigned k = 1; k <= 3; k++)
        CHECK_EQ(member_pid(t, k), pids[k]);
    CHECK_WOM(1, "cluster up %s --members 5", t->dir);
    CHECK_HAS("3 members from port");
    CHECK_WOM(0, "cluster down %s", t->dir);
    for (unsigned k = 1; k <= 3; k++) {
        CHECK_MSG(!running(pids[k]), "m%u (pid %ld) still runs", k, (long)pids[k]);
        CHECK_EQ(member_pid(t, k), 0);
    }
    CHECK_WOM(0, "cluster down %s", t->dir);
    CHECK_HAS("m2: not running");
    CHECK_WOM(17, "cluster status %s --timeout 500", t->dir);
    CHECK_HAS("no leader");
}

TEST_T(cluster_up_status_down, T_UNIT, 90) { with_cluster_at(up_status_down, 70, 0, 0); }

static void restart_killed(const struct tc *t)
{
    up(t);
    pid_t before[4] = {0, member_pid(t, 1), member_pid(t, 2), member_pid(t, 3)};
    int fd = pidfd_open(before[2], 0);
    CHECK(fd >= 0 && kill(before[2], SIGKILL) == 0);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_MSG(poll(&p, 1, 10000) == 1, "m2 did not die of SIGKILL");
    close(fd);
    CHECK_WOM(0, "cluster up %s", t->dir);
    CHECK_HAS("m1: running");
    CHECK_HAS("m2: started");
    pid_t after = member_pid(t, 2);
    CHECK(after != before[2] && running(after));
    CHECK_EQ(member_pid(t, 1), before[1]);
    CHECK_EQ(member_pid(t, 3), before[3]);
    has_leader(t->dir);
}

TEST_T(cluster_up_restarts_only_the_killed_member, T_UNIT, 90)
{
    with_cluster_at(restart_killed, 70, 0, 0);
}

static void data_kept(const struct tc *t)
{
    char ans[4096];
    up(t);
    /* key "wom-test", value "kept": the gateway takes bytes as base64 */
    gateway(t->port + 2, "/v3/kv/put", "{\"key\":\"d29tLXRlc3Q=\",\"value\":\"a2VwdA==\"}", ans,
            sizeof ans);
    CHECK_WOM(0, "cluster down %s", t->dir);
    up(t);
    gateway(t->port + 4, "/v3/kv/range", "{\"key\":\"d29tLXRlc3Q=\"}", ans, sizeof ans);
    CHECK_MSG(strstr(ans, "\"value\":\"a2VwdA==\""), "the key is gone: %s", ans);
}

TEST_T(cluster_keeps_its_data_across_down_and_up, T_UNIT, 90)
{
    with_cluster_at(data_kept, 70, 0, 0);
}

static void port_in_use(const struct tc *t)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(t->port + 2)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(s, 1) == 0);
    CHECK_WOM(10, "cluster up %s --port %u", t->dir, t->port);
    char want[64];
    snprintf(want, sizeof want, "port %u (client port of m2) is in use", t->port + 2);
    CHECK_HAS(want);
    CHECK_EQ(member_pid(t, 1), 0); /* nothing was started */
    close(s);
}

TEST_T(cluster_refuses_a_port_in_use, T_UNIT, 60) { with_cluster_at(port_in_use, 40, 0, 0); }

TEST_T(cluster_usage_help_and_man_page, T_UNIT, 30)
{
    CHECK_WOM(0, "cluster --help");
    CHECK_HAS("usage: wom cluster up DIR");
    CHECK_HAS("--members N");
    CHECK_WOM(0, "--help");
    CHECK_HAS("\n  cluster ");
    CHECK_WOM(1, "cluster sideways /tmp");
    CHECK_WOM(1, "cluster status /tmp --members 3");
    CHECK_WOM(1, "cluster up");
    CHECK_WOM(1, "cluster up /tmp/x --port 80");
    CHECK_WOM(9, "cluster down /nonexistent/wom-cluster");
    CHECK_WOM(9, "cluster down /tmp");
    CHECK_HAS("not a cluster directory");
    CHECK_WOM(9, "cluster status /nonexistent/wom-cluster");
    CHECK_WOM(9, "cluster status etcd://nohost/");
    FILE *f = fopen(WOM_SOURCE_DIR "/docs/wom.1", "r");
    CHECK(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    fclose(f);
    out[n] = 0;
    CHECK_HAS(".B wom cluster");
}
