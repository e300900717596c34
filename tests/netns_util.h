/*
 * netns_util.h - a 3-member etcd cluster whose members live in network
 * namespaces of their own, each joined by a veth pair to a bridge in the
 * root namespace, where the test's clients run. A test can then cut a
 * member away (its link down: nobody reaches it, it reaches nobody) or cut
 * members from one another while clients still reach them all (blackhole
 * routes inside the namespaces), and heal. The kernel here has no netem
 * qdisc, so faults are cuts, not delays.
 *
 * Names carry the pid of the test (namespaces wom-PID-mK, links whPIDxK /
 * wnPIDxK, bridge wbPID, subnet 10.A.B.0/24 from the pid), so that runs
 * side by side do not collide; members are started as etcd would be by
 * `wom cluster up` (tools/wom/cluster.c: the same timing flags), but on
 * their own address, ports 2379/2380. The body runs in a child with a
 * deadline; whatever becomes of it, the members are killed and every
 * namespace, link and directory removed. Where namespaces cannot be made
 * (not root, no CAP_NET_ADMIN, no `ip`), the test is skipped and says why.
 */
#ifndef WOM_TEST_NETNS_UTIL_H
#define WOM_TEST_NETNS_UTIL_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster_util.h"

struct nc {
    char dir[64];    /* data directories and logs: DIR/mK, DIR/mK.log */
    char br[16];     /* the bridge, in the root namespace */
    char ns[3][32];  /* member K's namespace */
    char vh[3][16];  /* member K's link, on the bridge's side */
    char vn[3][16];  /* member K's link, in its namespace */
    char ip[3][20];  /* member K's address */
    char ep[3][32];  /* member K's client endpoint, "IP:2379" */
    char uri[160];   /* etcd://the three members/ */
    char net[16];    /* "10.A.B" */
    pid_t pid[3];    /* the members' processes (children of the test) */
};

/* Run a shell command; its output (stdout and stderr) into msg. Returns its
 * exit status (128 + signal, or -1 when it cannot be run). */
__attribute__((format(printf, 3, 4))) static inline int nc_sh(char *msg, size_t cap,
                                                              const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(msg, cap, "popen: %s", strerror(errno));
        return -1;
    }
    size_t n = fread(msg, 1, cap - 1, p);
    msg[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* As nc_sh, failing the test (with the command's output) unless it exits 0. */
#define NC_SH(...)                                                                                 \
    do {                                                                                           \
        char m_[1024];                                                                             \
        int rc_ = nc_sh(m_, sizeof m_, __VA_ARGS__);                                               \
        CHECK_MSG(rc_ == 0, "exit %d: %s", rc_, m_);                                               \
    } while (0)

static inline void nc_names(struct nc *n)
{
    long pid = (long)getpid();
    snprintf(n->dir, sizeof n->dir, "/tmp/wom-netns-XXXXXX");
    snprintf(n->br, sizeof n->br, "wb%ld", pid);
    snprintf(n->net, sizeof n->net, "10.%ld.%ld", 200 + pid / 250 % 50, pid % 250);
    int off = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(n->ns[k], sizeof n->ns[k], "wom-%ld-m%d", pid, k + 1);
        snprintf(n->vh[k], sizeof n->vh[k], "wh%ldx%d", pid, k + 1);
        snprintf(n->vn[k], sizeof n->vn[k], "wn%ldx%d", pid, k + 1);
        snprintf(n->ip[k], sizeof n->ip[k], "%s.%d", n->net, k + 1);
        snprintf(n->ep[k], sizeof n->ep[k], "%s:2379", n->ip[k]);
        off += snprintf(n->uri + off, sizeof n->uri - (size_t)off, "%s%s", k ? "," : "etcd://",
                        n->ep[k]);
    }
    snprintf(n->uri + off, sizeof n->uri - (size_t)off, "/");
}

/* The shell command that removes whatever of n exists: every process in
 * its namespaces, the namespaces, links, bridge and files. Idempotent; each
 * step ignores what is already gone. Also what the runner runs if the test
 * dies before its teardown (with_netns_cluster). */
static inline void nc_teardown_cmd(const struct nc *n, char *cmd, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < 3 && k < cap; i++) /* a link goes with its peer's namespace */
        k += (size_t)snprintf(cmd + k, cap - k,
                              "ip netns pids %s 2>/dev/null | xargs -r kill -9; ip netns del %s "
                              "2>/dev/null; ip link del %s 2>/dev/null; ",
                              n->ns[i], n->ns[i], n->vh[i]);
    if (k < cap)
        k += (size_t)snprintf(cmd + k, cap - k, "ip link del %s 2>/dev/null", n->br);
    if (k < cap && strcmp(n->dir, "/tmp/wom-netns-XXXXXX"))
        snprintf(cmd + k, cap - k, "; rm -rf %s", n->dir);
}

/* Remove whatever of n exists: members (reaped: they are our children),
 * then nc_teardown_cmd's rest. */
static inline void nc_teardown(struct nc *n)
{
    char m[512], cmd[1024];
    for (int k = 0; k < 3; k++)
        if (n->pid[k] > 0) {
            kill(n->pid[k], SIGKILL);
            waitpid(n->pid[k], NULL, 0);
            n->pid[k] = 0;
        }
    nc_teardown_cmd(n, cmd, sizeof cmd);
    nc_sh(m, sizeof m, "%s", cmd);
}

/* Make member k's namespace (but member 0's, which nc_setup made to find
 * out whether it can) and its link to the bridge; 0, or -1 with why. */
static inline int nc_link(struct nc *n, int k, char *why, size_t cap)
{
    const char *const steps[] = {
        "ip netns add %2$s",
        "ip link add %3$s type veth peer name %4$s",
        "ip link set %4$s netns %2$s",
        "ip link set %3$s master %1$s up",
        "ip -n %2$s addr add %5$s/24 dev %4$s",
        "ip -n %2$s link set %4$s up",
        "ip -n %2$s link set lo up",
    };
    for (size_t i = k == 0; i < sizeof steps / sizeof steps[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, steps[i], n->br, n->ns[k], n->vh[k], n->vn[k], n->ip[k]);
        int rc = nc_sh(why, cap, "%s", cmd);
        if (rc) {
            size_t len = strlen(why);
            snprintf(why + len, cap - len, " (%s: exit %d)", cmd, rc);
            return -1;
        }
    }
    return 0;
}

/* Start member k's etcd inside its namespace, with the flags `wom cluster
 * up` gives its members (quick failover, pre-vote, no compaction). */
static inline int nc_start(struct nc *n, int k)
{
    char name[16], data[96], log[96], client[64], peer[64], ic[256], token[32];
    snprintf(name, sizeof name, "m%d", k + 1);
    snprintf(data, sizeof data, "%s/m%d", n->dir, k + 1);
    snprintf(log, sizeof log, "%s/m%d.log", n->dir, k + 1);
    snprintf(client, sizeof client, "http://%s:2379", n->ip[k]);
    snprintf(peer, sizeof peer, "http://%s:2380", n->ip[k]);
    snprintf(ic, sizeof ic, "m1=http://%s:2380,m2=http://%s:2380,m3=http://%s:2380", n->ip[0],
             n->ip[1], n->ip[2]);
    snprintf(token, sizeof token, "wom-netns-%ld", (long)getpid());
    const char *argv[] = {
        "ip", "netns", "exec", n->ns[k], ETCD_BIN, "--name", name, "--data-dir", data,
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", ic, "--initial-cluster-token", token,
        "--initial-cluster-state", "new", "--heartbeat-interval=50", "--election-timeout=500",
        "--pre-vote=true", "--quota-backend-bytes=1073741824", "--auto-compaction-retention=0",
        "--logger=zap", "--log-outputs=stderr", NULL};
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        dup2(fd, 1);
        dup2(fd, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        execvp("ip", (char *const *)argv);
        _exit(127);
    }
    close(fd);
    n->pid[k] = pid;
    return pid > 0 ? 0 : -1;
}

/* The member (0-2) that a majority names leader, from `wom cluster status`
 * of target (a URI or cluster directory); -1 when there is none. */
static inline int leader_of(const char *target)
{
    unsigned k = 0;
    if (wom("cluster status %s --timeout 1000", target) != 0)
        return -1;
    const char *l = strstr(out, "\nleader m");
    if (!l || sscanf(l, "\nleader m%u", &k) != 1 || k < 1 || k > 3)
        return -1;
    return (int)k - 1;
}

/* Wait (polling, until deadline_ns) for a leader named by a majority that is
 * not member `not` (-1: any); the leader, or -1. */
static inline int await_leader(const char *target, int not, int64_t deadline_ns)
{
    for (;;) {
        int l = leader_of(target);
        if (l >= 0 && l != not)
            return l;
        if (wom_test_now_ns() >= deadline_ns)
            return -1;
        nanosleep(&(struct timespec){0, 50000000}, NULL); /* poll an external server */
    }
}

/* Make the namespaces and start the members; skip where namespaces cannot
 * be made. Fails the test (after removing what was made) if the cluster
 * does not elect a leader within 20 s. */
static inline void nc_setup(struct nc *n)
{
    char why[1024];
    memset(n, 0, sizeof *n);
    nc_names(n);
    skip_without_etcd();
    if (nc_sh(why, sizeof why, "command -v ip") != 0)
        wom_test_skip("no `ip` command (iproute2) to make network namespaces with");
    if (nc_sh(why, sizeof why, "ip netns add %s", n->ns[0]) != 0) {
        why[strcspn(why, "\n")] = 0;
        nc_teardown(n);
        wom_test_skip("cannot make a network namespace (needs root or CAP_NET_ADMIN): %s", why);
    }
    int ok = mkdtemp(n->dir) != NULL;
    if (!ok)
        snprintf(why, sizeof why, "mkdtemp: %s", strerror(errno));
    ok = ok && nc_sh(why, sizeof why, "ip link add %s type bridge && ip addr add %s.254/24 dev %s "
                                      "&& ip link set %s up", n->br, n->net, n->br, n->br) == 0;
    for (int k = 0; ok && k < 3; k++)
        ok = nc_link(n, k, why, sizeof why) == 0;
    for (int k = 0; ok && k < 3; k++)
        if (nc_start(n, k)) {
            snprintf(why, sizeof why, "cannot start member %d: %s", k + 1, strerror(errno));
            ok = 0;
        }
    if (ok && await_leader(n->uri, -1, wom_test_now_ns() + 20 * 1000000000LL) < 0) {
        char log[600];
        nc_sh(log, sizeof log, "tail -q -n 1 %s/m1.log %s/m2.log %s/m3.log", n->dir, n->dir,
              n->dir); /* before teardown removes them */
        snprintf(why, sizeof why, "no leader within 20 s: %.300s; the members' last words: %s",
                 out, log);
        ok = 0;
    }
    if (!ok) {
        nc_teardown(n);
        CHECK_MSG(0, "setting up the namespaced cluster: %s", why);
    }
}

/* Cut member k away: its link down (nobody reaches it, it reaches nobody). */
static inline void nc_cut(const struct nc *n, int k) { NC_SH("ip link set %s down", n->vh[k]); }
static inline void nc_uncut(const struct nc *n, int k) { NC_SH("ip link set %s up", n->vh[k]); }

/* Cut member k off from the other members only (clients still reach every
 * member): blackhole routes both ways inside the namespaces. */
static inline void nc_isolate_peers(const struct nc *n, int k, int on)
{
    for (int j = 0; j < 3; j++)
        if (j != k) {
            NC_SH("ip -n %s route %s blackhole %s/32", n->ns[k], on ? "add" : "del", n->ip[j]);
            NC_SH("ip -n %s route %s blackhole %s/32", n->ns[j], on ? "add" : "del", n->ip[k]);
        }
}

/* Run body on a namespaced cluster in a child, for at most limit_s seconds;
 * then, whatever became of it, remove everything and check that no
 * namespace of this test is left. */
static inline void with_netns_cluster(void (*body)(const struct nc *), int limit_s)
{
    struct nc n;
    nc_setup(&n);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        body(&n);
        _exit(0);
    }
    /* If this process dies before the teardown below: the body, then all
     * of n (members the body restarted too: they are in the namespaces). */
    char ab[1100], cmd[1024];
    nc_teardown_cmd(&n, cmd, sizeof cmd);
    snprintf(ab, sizeof ab, "kill -9 %ld 2>/dev/null; %s", (long)pid, cmd);
    wom_test_on_abandon(ab);
    int fd = pidfd_open(pid, 0), st = 0;
    struct pollfd p = {fd, POLLIN, 0};
    int done = fd >= 0 && poll(&p, 1, limit_s * 1000) == 1;
    if (!done)
        kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    if (fd >= 0)
        close(fd);
    char left[512];
    nc_teardown(&n);
    wom_test_on_abandon(NULL);
    nc_sh(left, sizeof left, "ip netns list | grep -c '^wom-%ld-'; ip -br link | grep -cE "
          "'^w[bh]%ld(x[0-9])?[@ ]'", (long)getpid(), (long)getpid());
    CHECK_MSG(done, "the test took more than %d s", limit_s);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the test failed (above)");
    CHECK_MSG(!strcmp(left, "0\n0\n"), "namespaces or links left behind: %s", left);
}

#endif
