/* cluster_demo_test.c - `make cluster-demo` (scripts/cluster-demo.sh) as a
 * test: the demo's producer and consumer processes on a local 3-member
 * etcd cluster whose leader is SIGKILLed and restarted mid-run; the script
 * must pass, with the demo's own exactly-once verdict. Fewer messages than
 * make's run, so it takes 20-40 s here; skipped without etcd or without
 * the etcd:// scope in the CLI. A cluster directory and ports of its own
 * (from the pid); whatever becomes of the script, the members are stopped
 * and the data removed. */
#include "cluster_util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#define DEMO_MESSAGES "3000"
#define DEMO_LIMIT_S 80 /* then SIGTERM: the script stops its cluster */
#define DEMO_GRACE_S 15 /* then SIGKILL of its process group */

static void skip_without_scope(void)
{
    wom("ls 'etcd://127.0.0.1:1/probe;timeout=100'");
    if (strstr(out, "has no etcd"))
        wom_test_skip("the wom CLI was built without the etcd:// scope (sh scripts/deps.sh "
                      "etcd, then rebuild)");
}

/* Wait up to secs for the process of pidfd fd; 1 when it has ended. */
static int ended_within(int fd, int secs)
{
    struct pollfd p = {fd, POLLIN, 0};
    int64_t end = wom_test_now_ns() + (int64_t)secs * 1000000000;
    for (int64_t left; (left = end - wom_test_now_ns()) > 0;) {
        int n = poll(&p, 1, (int)(left / 1000000) + 1);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
    return poll(&p, 1, 0) > 0;
}

/* Run the script in its own process group, output into log; its exit
 * status, or -1 when it had to be stopped. */
static int run_script(const char *dir, unsigned port, const char *log)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char p[16];
        snprintf(p, sizeof p, "%u", port);
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        setenv("WOM_CLUSTER_DEMO_DIR", dir, 1);
        setenv("WOM_CLUSTER_DEMO_PORT", p, 1);
        setenv("WOM_CLUSTER_DEMO_MESSAGES", DEMO_MESSAGES, 1);
        execl("/bin/sh", "sh", WOM_SOURCE_DIR "/scripts/cluster-demo.sh", WOM_BUILD_DIR,
              (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); /* either of the two calls wins the race */
    int fd = pidfd_open(pid, 0), st, stopped = 0;
    CHECK(fd >= 0);
    if (!ended_within(fd, DEMO_LIMIT_S)) {
        stopped = 1;
        kill(pid, SIGTERM);
        if (!ended_within(fd, DEMO_GRACE_S))
            kill(-pid, SIGKILL);
    }
    close(fd);
    CHECK(waitpid(pid, &st, 0) == pid);
    return stopped ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* What the script would have removed, had it been killed: the members,
 * the data on /dev/shm it links to, the link. */
static void clean_up(const char *dir)
{
    char path[PATH_MAX], target[PATH_MAX];
    snprintf(path, sizeof path, "%s/config", dir);
    if (!access(path, F_OK))
        wom("cluster down %s --timeout 5000", dir);
    ssize_t n = readlink(dir, target, sizeof target - 1);
    if (n > 0) {
        target[n] = 0;
        if (!strncmp(target, "/dev/shm/wom-cluster-demo.", 26)) {
            char rm[PATH_MAX + 16];
            snprintf(rm, sizeof rm, "rm -rf %s", target);
            CHECK(system(rm) == 0);
        }
        unlink(dir);
    }
}

static char text[CLUSTER_OUT_CAP];

static void read_log(const char *log)
{
    FILE *f = fopen(log, "r");
    CHECK_MSG(f, "%s: %s", log, strerror(errno));
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
}

#define CHECK_LOG(sub) CHECK_MSG(strstr(text, (sub)), "'%s' not in the output:\n%s", (sub), text)

TEST_T(cluster_demo_survives_a_killed_leader, T_SLOW, DEMO_LIMIT_S + DEMO_GRACE_S + 20)
{
    skip_without_etcd();
    skip_without_scope();
    char dir[64], log[64];
    snprintf(dir, sizeof dir, "/tmp/wom-cluster-demo-test-%ld", (long)getpid());
    snprintf(log, sizeof log, "/tmp/wom-cluster-demo-test-%ld.log", (long)getpid());
    /* Slot 7 of the test's port block (cluster_util.h): no other test's. */
    unsigned port = 20000 + (unsigned)(getpid() % 1500) * 8 + 7;
    char ab[512];
    snprintf(ab, sizeof ab, "%s cluster down %s --timeout 2000 >/dev/null 2>&1; rm -rf %s %s",
             WOM_BIN, dir, dir, log);
    wom_test_on_abandon(ab); /* if this process dies before clean_up */
    int rc = run_script(dir, port, log);
    clean_up(dir);
    wom_test_on_abandon(NULL);
    read_log(log);
    unlink(log);
    CHECK_MSG(rc == 0, "cluster-demo.sh %s (exit %d):\n%s",
              rc < 0 ? "took too long and was stopped" : "failed", rc, text);
    CHECK_LOG("SIGKILLed the leader m");
    CHECK_LOG("restarted (started, pid ");
    CHECK_LOG("demo: OK: " DEMO_MESSAGES " messages, exactly once, in order (2 consumers)\n");
    CHECK_LOG("cluster-demo: OK\n");
    struct stat st;
    CHECK_MSG(lstat(dir, &st) && errno == ENOENT, "%s is left behind", dir);
    CHECK_MSG(!strstr(text, "cluster down") , "the cluster did not stop:\n%s", text);
}
