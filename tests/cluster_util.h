/*
 * cluster_util.h - what the tests that run etcd clusters share: the wom
 * CLI as a subprocess, a cluster directory with its ports, and a test body
 * run in a child with a deadline, after which the cluster is stopped and
 * its directory removed whatever became of the body.
 */
#ifndef WOM_TEST_CLUSTER_UTIL_H
#define WOM_TEST_CLUSTER_UTIL_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WOM_BIN WOM_BUILD_DIR "/wom"
#define ETCD_BIN "/usr/bin/etcd"
#define CLUSTER_OUT_CAP (64u << 10)

struct tc {
    char dir[64];
    unsigned port;   /* member 1's client port; member K's is port + 2(K-1) */
    char ep[3][32];  /* the members' client endpoints, "127.0.0.1:P" */
    char uri[160];   /* etcd://the three members/ (a prefix follows) */
};

static char out[CLUSTER_OUT_CAP]; /* stdout and stderr of the last wom() */

/* Run `wom ARGS` (a shell word list: our paths need no quoting), its
 * stdout and stderr into out; returns its exit status. */
__attribute__((format(printf, 1, 2))) static inline int wom(const char *fmt, ...)
{
    char args[1024], cmd[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", WOM_BIN, args);
    FILE *p = popen(cmd, "r");
    CHECK_MSG(p, "popen %s: %s", cmd, strerror(errno));
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The pid recorded for member k, or 0 when there is no pid file. */
static inline pid_t member_pid(const struct tc *t, unsigned k)
{
    char path[128];
    snprintf(path, sizeof path, "%s/m%u/pid", t->dir, k);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        CHECK_MSG(fscanf(f, "%ld", &pid) == 1, "%s holds no pid", path);
        fclose(f);
    }
    return (pid_t)pid;
}

/* SIGKILL member k (0-2) of t and wait until it has died. */
static inline void kill_member(const struct tc *t, int k)
{
    pid_t pid = member_pid(t, (unsigned)k + 1);
    CHECK_MSG(pid > 0, "m%d has no pid", k + 1);
    int fd = pidfd_open(pid, 0);
    CHECK_MSG(fd >= 0 && kill(pid, SIGKILL) == 0, "kill m%d: %s", k + 1, strerror(errno));
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_MSG(poll(&p, 1, 5000) == 1, "m%d did not die of SIGKILL", k + 1);
    close(fd);
}

/* Wait for child pid at most limit_s seconds (then SIGKILL it) and reap
 * it: 1 when it ended in time; its status in *st. */
static inline int child_wait(pid_t pid, int limit_s, int *st)
{
    int fd = pidfd_open(pid, 0);
    struct pollfd p = {fd, POLLIN, 0};
    int done = fd >= 0 && poll(&p, 1, limit_s * 1000) == 1;
    if (!done)
        kill(pid, SIGKILL);
    CHECK(waitpid(pid, st, 0) == pid);
    if (fd >= 0)
        close(fd);
    return done;
}

static inline void skip_without_etcd(void)
{
    if (access(ETCD_BIN, X_OK))
        wom_test_skip("etcd is not installed (%s; sh scripts/deps.sh cluster installs it)",
                      ETCD_BIN);
}

/* Run body on a fresh cluster directory in a child, for at most limit_s
 * seconds (with start: a 3-member cluster already up); then, whatever became
 * of it (a failed check, a hang), stop the members and remove the directory,
 * so that no etcd outlives the test. Ports by pid, so that runs side by side
 * differ, at offset slot (below 8) so that test files differ; 20000-31999
 * stays below the kernel's ephemeral ports (32768 on). */
static inline void with_cluster_at(void (*body)(const struct tc *), int limit_s, unsigned slot,
                                   int start)
{
    struct tc t;
    skip_without_etcd();
    snprintf(t.dir, sizeof t.dir, "/tmp/wom-cluster-XXXXXX");
    CHECK(mkdtemp(t.dir));
    t.port = 20000 + (unsigned)(getpid() % 1500) * 8 + slot;
    for (unsigned k = 0; k < 3; k++)
        snprintf(t.ep[k], sizeof t.ep[k], "127.0.0.1:%u", t.port + 2 * k);
    snprintf(t.uri, sizeof t.uri, "etcd://%s,%s,%s/", t.ep[0], t.ep[1], t.ep[2]);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (start) {
            int rc = wom("cluster up %s --members 3 --port %u", t.dir, t.port);
            CHECK_MSG(rc == 0, "cluster up: exit %d: %s", rc, out);
        }
        body(&t);
        _exit(0);
    }
    char ab[512];
    snprintf(ab, sizeof ab, "kill -9 %ld 2>/dev/null; %s cluster down %s --timeout 2000 "
             ">/dev/null 2>&1; rm -rf %s", (long)pid, WOM_BIN, t.dir, t.dir);
    wom_test_on_abandon(ab); /* if this process dies before the end below */
    int st, done = child_wait(pid, limit_s, &st);
    char cfg[96];
    snprintf(cfg, sizeof cfg, "%s/config", t.dir);
    int down = access(cfg, F_OK) ? 0 : wom("cluster down %s --timeout 5000", t.dir);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", t.dir);
    CHECK(system(rm) == 0);
    wom_test_on_abandon(NULL);
    CHECK_MSG(done, "the test took more than %d s", limit_s);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the test failed (above)");
    CHECK_MSG(down == 0, "cluster down: %s", out);
}

#endif
