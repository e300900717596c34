/*
 * mirror_test.c - `wom mirror`, run as the built CLI: a region followed
 * into a shm: space, address for address, read there through ;ro opens;
 * the mirror SIGKILLed and restarted (it resumes at the destination's
 * tail: nothing lost, nothing copied twice), and after a crash of its host
 * at its last sync's mark instead (cells past it copied again); trims
 * mirrored; a foreign
 * destination refused; and a cluster region mirrored while one of the
 * cluster's members is SIGKILLed and restarted (skipped without etcd).
 */
#include "cluster_util.h"
#include "shm_util.h" /* die_holding_an_address */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MSEC 1000000LL

/* ---- values: every byte follows from the key in the first 8, and so does
 * the length, so a value at the wrong address, torn or foreign fails ---- */

#define VAL_MAX 136

static size_t val_make(uint64_t key, unsigned char *b)
{
    size_t len = 8 + (size_t)(key * 2654435761u % 128);
    memcpy(b, &key, 8);
    for (size_t i = 8; i < len; i++)
        b[i] = (unsigned char)(key * 131 + i * 7);
    return len;
}

static int val_ok(uint64_t key, const void *b, size_t len)
{
    unsigned char want[VAL_MAX];
    return len == val_make(key, want) && memcmp(b, want, len) == 0;
}

/* ---- spaces in a private directory ---- */

struct dirs {
    char dir[64];
    char src[128], dst[128], dst_ro[136];
};

static void dirs_make(struct dirs *d)
{
    strcpy(d->dir, "/tmp/wom-mirror-XXXXXX");
    CHECK(mkdtemp(d->dir));
    snprintf(d->src, sizeof d->src, "shm:%s/src.wom", d->dir);
    snprintf(d->dst, sizeof d->dst, "shm:%s/dst.wom", d->dir);
    snprintf(d->dst_ro, sizeof d->dst_ro, "%s;ro", d->dst);
}

static void dirs_remove(const struct dirs *d)
{
    char rm[96];
    snprintf(rm, sizeof rm, "rm -rf %s", d->dir);
    CHECK(system(rm) == 0);
}

/* ---- the mirror as a subprocess ---- */

/* In a child: die with the test, so that a failed check leaves no mirror,
 * producer or reader behind. */
static void die_with_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Start `wom mirror src region dst ARGS...` in the background, its stdout
 * and stderr into the file log. Returns its pid. */
static pid_t mirror_start(const char *log, const char *src, const char *dst, const char *a1,
                          const char *a2, const char *a3, const char *a4)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        die_with_parent();
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(WOM_BIN, "wom", "mirror", src, "log", dst, a1, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Wait (with a deadline) for pid to end; its exit status, or -1 if it
 * did not end in time (it is then killed). */
static int reap_within(pid_t pid, int64_t ns)
{
    int fd = pidfd_open(pid, 0), st;
    struct pollfd p = {fd, POLLIN, 0};
    if (fd < 0 || poll(&p, 1, (int)(ns / MSEC)) != 1)
        kill(pid, SIGKILL);
    if (fd >= 0)
        close(fd);
    CHECK(waitpid(pid, &st, 0) == pid);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && fd >= 0 && p.revents == 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void mirror_kill(pid_t pid)
{
    CHECK(kill(pid, SIGKILL) == 0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the mirror ended by itself: %d", st);
}

static void print_file(const char *path)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    fprintf(stderr, "--- %s:\n%s---\n", path, buf);
}

/* ---- the destination, read through a read-only open ---- */

/* The tail of region "log" of the space at uri (;ro), polled until it is
 * at least `want` or the deadline passes; the last tail seen (0 while the
 * space or the region does not exist yet). */
static uint64_t await_tail(const char *uri, uint64_t want, int64_t deadline)
{
    wom_space *s = NULL;
    wom_region *r = NULL;
    uint64_t tail = 0;
    for (;;) {
        if (!s && wom_open(uri, &s))
            s = NULL;
        if (s && !r && wom_region_open(s, "log", WOM_ONCE, &r))
            r = NULL;
        if (r)
            CHECK_OK(wom_tail(r, &tail));
        if (tail >= want || wom_test_now_ns() >= deadline)
            break;
        /* poll a condition another process makes true */
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    wom_region_close(r);
    if (s)
        wom_close(s);
    return tail;
}

/* Every address of the destination's "log" (opened ;ro) holds the value of
 * its own key, 0..n-1: nothing lost, nothing twice, nothing moved. */
static void check_mirror(const char *uri_ro, uint64_t n, size_t max_value)
{
    wom_space *s;
    wom_region *r;
    wom_region_info in;
    CHECK_OK(wom_open(uri_ro, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_info_get(r, &in));
    CHECK_EQ(in.tail, n);
    CHECK_EQ(in.floor, 0);
    CHECK_EQ(in.max_value, max_value);
    wom_view v = WOM_VIEW_INIT;
    for (uint64_t a = 0; a < n; a++) {
        CHECK_OK(wom_get_view_next(r, a, &v, 0));
        CHECK_MSG(val_ok(a, v.data, v.len), "address %" PRIu64 " holds another value", a);
    }
    wom_view_release(&v);
    CHECK_ERR(wom_get_view(r, n, &v, 0), WOM_EEMPTY);
    wom_region_close(r);
    wom_close(s);
}

/* ---- children: a producer on the source, a subscriber on the mirror ---- */

/* Errors of a remote scope after which a request may or may not have
 * taken effect, or was not answered. */
static int transient(int rc)
{
    return rc == WOM_EUNKNOWN || rc == WOM_ENOTCONN || rc == WOM_EUNAVAIL || rc == WOM_ETIMEDOUT;
}

/* Settle the send of key k whose outcome is unknown: the only sender, it
 * knows that the send could only have taken address k, so a put of the
 * same value there either lands or finds it (the same bytes) landed. */
static int settle(wom_region *log, uint64_t k, const unsigned char *b, size_t len)
{
    int64_t deadline = wom_test_now_ns() + 15 * SEC;
    for (;;) {
        unsigned char got[VAL_MAX];
        size_t n;
        int rc = wom_put(log, k, b, len);
        if (rc == WOM_EWRITTEN && !(rc = wom_get(log, k, got, sizeof got, &n, 0)))
            return n == len && !memcmp(got, b, len) ? 0 : WOM_ECORRUPT;
        if (!transient(rc) || wom_test_now_ns() > deadline)
            return rc;
        nanosleep(&(struct timespec){0, 50000000}, NULL); /* a backoff */
    }
}

/* Send n values (keys from..n-1) over channel "log" of uri; the address
 * each gets must be its key (the only sender). A send of unknown outcome
 * (a remote scope) is settled by settle(). Exit status 0 = ok. */
static int produce(const char *uri, uint64_t from, uint64_t n)
{
    wom_space *s;
    wom_chan *c;
    wom_region *log;
    wom_chan_opts o = WOM_CHAN_OPTS_INIT;
    o.max_value = 4096;
    if (wom_open(uri, &s) || wom_chan_open(s, "log", &o, &c) ||
        wom_region_open(s, "log", WOM_ONCE, &log))
        return 2;
    for (uint64_t k = from; k < n; k++) {
        unsigned char b[VAL_MAX];
        uint64_t at = k;
        size_t len = val_make(k, b);
        int64_t t0 = wom_test_now_ns();
        int rc = wom_chan_send(c, b, len, -1, &at);
        if (transient(rc)) {
            fprintf(stderr, "produce %" PRIu64 ": %s after %.2f s; settled by a put: ", k,
                    wom_err_name(rc), (double)(wom_test_now_ns() - t0) / 1e9);
            rc = settle(log, k, b, len);
            fprintf(stderr, "%s after %.2f s\n", rc ? wom_err_name(rc) : "ok",
                    (double)(wom_test_now_ns() - t0) / 1e9);
        }
        if (rc || at != k) {
            fprintf(stderr, "produce %" PRIu64 ": %s, address %" PRIu64 "\n", k,
                    wom_err_name(rc), at);
            return 3;
        }
    }
    wom_region_close(log);
    wom_chan_close(c);
    wom_close(s);
    return 0;
}

/* Subscribe to channel "log" of the mirror, opened read-only (its region
 * alone, no seats: the mirror copies only the log), and receive n messages
 * by view, each at its own key's address, blocking on the mirror's puts
 * across its restart. Exit status 0 = ok. */
static int subscribe(const char *uri_ro, uint64_t n)
{
    wom_space *s = NULL;
    wom_chan *c = NULL;
    int64_t deadline = wom_test_now_ns() + 20 * SEC;
    while (wom_open(uri_ro, &s) || wom_chan_open(s, "log", NULL, &c)) {
        if (s)
            wom_close(s);
        s = NULL;
        if (wom_test_now_ns() > deadline)
            return 2; /* the mirror never made its region */
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* poll for the file */
    }
    wom_sub *sub;
    if (wom_sub_open(c, NULL, &sub))
        return 3;
    for (uint64_t k = 0; k < n; k++) {
        wom_view v;
        uint64_t at;
        int rc = wom_sub_recv_view(sub, &v, &at, 20 * SEC);
        if (rc || at != k || !val_ok(k, v.data, v.len)) {
            fprintf(stderr, "subscribe %" PRIu64 ": %s at %" PRIu64 "\n", k, wom_err_name(rc),
                    at);
            return 4;
        }
        wom_view_release(&v);
    }
    wom_sub_close(sub);
    wom_chan_close(c);
    wom_close(s);
    return 0;
}

static pid_t fork_produce(const char *uri, uint64_t from, uint64_t n)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        die_with_parent();
        _exit(produce(uri, from, n));
    }
    return pid;
}

/* ---- shm: to shm: ---- */

/* A channel's log on a shm: source, followed by a mirror that is SIGKILLed
 * mid-copy and started again; a read-only subscriber of the mirror reads
 * every message, at its address, across the restart. */
TEST_T(mirror_shm_resumes_after_sigkill, T_UNIT, 40)
{
    const uint64_t n = 200000, half = n / 2;
    struct dirs d;
    char log[96];
    dirs_make(&d);
    snprintf(log, sizeof log, "%s/mirror.log", d.dir);
    int64_t t0 = wom_test_now_ns();
    CHECK_EQ(reap_within(fork_produce(d.src, 0, half), 20 * SEC), 0);
    pid_t reader = fork();
    CHECK(reader >= 0);
    if (reader == 0) {
        die_with_parent();
        _exit(subscribe(d.dst_ro, n));
    }

    /* Kill the first mirror as soon as it is under way: mid-copy (a put may
     * be in flight). */
    pid_t m = mirror_start(log, d.src, d.dst, NULL, NULL, NULL, NULL);
    uint64_t at_kill = await_tail(d.dst_ro, half / 8, t0 + 20 * SEC);
    mirror_kill(m);
    at_kill = await_tail(d.dst_ro, 0, 0);
    CHECK_MSG(at_kill >= half / 8 && at_kill <= half, "tail %" PRIu64 " at the kill", at_kill);

    /* The second half is sent while the second mirror follows. */
    m = mirror_start(log, d.src, d.dst, NULL, NULL, NULL, NULL);
    pid_t p = fork_produce(d.src, half, n);
    CHECK_EQ(reap_within(p, 20 * SEC), 0);
    uint64_t tail = await_tail(d.dst_ro, n, t0 + 25 * SEC);
    CHECK_MSG(tail == n, "the mirror reached %" PRIu64 " of %" PRIu64, tail, n);
    int rs = reap_within(reader, 10 * SEC);
    mirror_kill(m);
    if (rs)
        print_file(log);
    CHECK_MSG(rs == 0, "the read-only subscriber of the mirror: status %d", rs);

    /* Started again, it has nothing to copy, and says where it is. */
    int rc = wom("mirror %s log %s --timeout 0", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "0 cells copied, next address 200000\n"), "exit %d: %s", rc,
              out);
    check_mirror(d.dst_ro, n, 4096);
    fprintf(stderr, "mirror: %" PRIu64 " cells, killed at %" PRIu64 ", %.2f s\n", n, at_kill,
            (double)(wom_test_now_ns() - t0) / 1e9);
    dirs_remove(&d);
}

/* Trims are mirrored (the destination's floor follows the source's, also
 * past its tail); a destination that holds other bytes than the source is
 * refused, whether at the resume point or beyond the source's tail; a MANY
 * region is refused; the destination keeps the source's value limit. */
TEST_T(mirror_follows_trims_and_refuses_a_foreign_destination, T_UNIT, 30)
{
    struct dirs d;
    char other[140];
    dirs_make(&d);
    CHECK_EQ(reap_within(fork_produce(d.src, 0, 100), 10 * SEC), 0);
    int rc = wom("mirror %s log %s --timeout 0", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "100 cells copied, next address 100\n"), "%d: %s", rc, out);
    check_mirror(d.dst_ro, 100, 4096);

    /* Foreign destinations: other bytes at the resume point, then a cell
     * the source does not have. */
    for (int i = 0; i < 2; i++) {
        snprintf(other, sizeof other, "shm:%s/other%d.wom", d.dir, i);
        CHECK_EQ(wom("put %s log %d foreign", other, i ? 900 : 99), 0);
        CHECK_EQ(wom("mirror %s log %s --timeout 0", d.src, other), 4);
        CHECK_MSG(strstr(out, "not a mirror of this source"), "%s", out);
    }

    CHECK_EQ(wom("trim %s log 40", d.src), 0);
    CHECK_EQ(reap_within(fork_produce(d.src, 100, 110), 10 * SEC), 0);
    rc = wom("mirror %s log %s --timeout 0", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "10 cells copied, next address 110\n"), "%d: %s", rc, out);
    wom_space *s;
    wom_region *r;
    wom_region_info in;
    unsigned char b[VAL_MAX];
    size_t len;
    CHECK_OK(wom_open(d.dst_ro, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_info_get(r, &in));
    CHECK(in.floor == 40 && in.tail == 110);
    CHECK_ERR(wom_get(r, 39, b, sizeof b, &len, 0), WOM_ETRIMMED);
    CHECK_OK(wom_get(r, 109, b, sizeof b, &len, 0));
    CHECK(val_ok(109, b, len));
    wom_region_close(r);
    wom_close(s);

    CHECK_EQ(wom("trim %s log 500", d.src), 0); /* past the tail */
    rc = wom("mirror %s log %s --timeout 0", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "0 cells copied, next address 500\n"), "%d: %s", rc, out);

    CHECK_EQ(wom("store %s many 0 x", d.src), 0);
    CHECK_EQ(wom("mirror %s many %s --timeout 0", d.src, d.dst), 7);
    CHECK_EQ(wom("mirror %s nosuch %s --timeout 0", d.src, d.dst), 9);
    CHECK_MSG(strstr(out, "no region 'nosuch'"), "%s", out);
    CHECK_EQ(wom("ls %s", d.src), 0);
    CHECK_MSG(!strstr(out, "nosuch"), "the mirror created a region in its source: %s", out);
    dirs_remove(&d);
}

/* An address whose appender died before publishing (shm:) is passed over
 * and reported; it stays empty in the mirror (the public API cannot mark a
 * cell abandoned), so a reader of the mirror waits there. */
TEST_T(mirror_passes_an_abandoned_address, T_UNIT, 30)
{
    struct dirs d;
    wom_space *s;
    wom_region *r;
    dirs_make(&d);
    CHECK_OK(wom_open(d.src, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    unsigned char b[VAL_MAX];
    for (uint64_t k = 0; k < 6; k++) {
        if (k == 3)
            die_holding_an_address(r, 3);
        else
            CHECK_OK(wom_put(r, k, b, val_make(k, b)));
    }
    int rc = wom("mirror %s log %s --count 5 --timeout 5000", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "address 3 was abandoned") &&
                  strstr(out, "5 cells copied, next address 6, 1 abandoned"),
              "%d: %s", rc, out);
    wom_region_close(r);
    wom_close(s);
    CHECK_OK(wom_open(d.dst_ro, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    size_t len;
    CHECK_OK(wom_get(r, 5, b, sizeof b, &len, 0));
    CHECK(val_ok(5, b, len));
    CHECK_ERR(wom_get(r, 3, b, sizeof b, &len, 100 * MSEC), WOM_ETIMEDOUT);
    wom_region_close(r);
    wom_close(s);
    dirs_remove(&d);
}

/* The mark below which the destination was synced (NAME.mirror, cell 0). */
static uint64_t mark_of(const char *uri)
{
    wom_space *s;
    wom_region *r;
    uint64_t v = 0, version = 0;
    size_t len = 0;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log.mirror", WOM_MANY, &r));
    CHECK_OK(wom_load(r, 0, &v, sizeof v, &len, &version));
    CHECK(version > 0 && len == sizeof v);
    wom_region_close(r);
    wom_close(s);
    return v;
}

/* The mirror syncs the destination and marks what the sync covers, and
 * resumes at that mark, never past it: a host that crashed may keep the
 * destination's tail but lose the cells written after the last sync
 * (made here by putting cell 70 alone above the mark of 40, as such a
 * crash would leave it); the restarted mirror puts 40..69 again instead
 * of resuming at 71 and leaving them empty for ever. */
TEST_T(mirror_resumes_from_what_it_synced, T_UNIT, 30)
{
    struct dirs d;
    dirs_make(&d);
    CHECK_EQ(reap_within(fork_produce(d.src, 0, 100), 10 * SEC), 0);
    int rc = wom("mirror %s log %s --count 40 --timeout 0", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "40 cells copied, next address 40\n"), "%d: %s", rc, out);
    CHECK_EQ(mark_of(d.dst), 40); /* synced as it stopped */
    wom_space *s;
    wom_region *r;
    unsigned char b[VAL_MAX];
    CHECK_OK(wom_open(d.dst, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_put(r, 70, b, val_make(70, b)));
    wom_region_close(r);
    wom_close(s);
    rc = wom("mirror %s log %s --timeout 0", d.src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "from address 40\n") &&
                  strstr(out, "60 cells copied, next address 100\n"),
              "%d: %s", rc, out);
    check_mirror(d.dst_ro, 100, 4096);
    CHECK_EQ(mark_of(d.dst), 100);
    dirs_remove(&d);
}

/* ---- etcd:// to shm: ---- */

/* The member (0-2) that `wom cluster status` says leads; -1 when none. */
static int leader(const struct tc *t)
{
    unsigned k = 0;
    const char *l;
    if (wom("cluster status %s --timeout 1000", t->dir) != 0 || !(l = strstr(out, "\nleader m")) ||
        sscanf(l, "\nleader m%u", &k) != 1 || k < 1 || k > 3)
        return -1;
    return (int)k - 1;
}


#define ETCD_N 600
#define ETCD_A 400 /* sent before the whole cluster is killed, the rest after */

/* Whether the file at path holds the string what. */
static int file_has(const char *path, const char *what)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    return strstr(buf, what) != NULL;
}

static void cluster_up(const struct tc *t)
{
    int rc = wom("cluster up %s --timeout 20000", t->dir);
    CHECK_MSG(rc == 0, "cluster up: exit %d: %s", rc, out);
}

/* Wait until the region exists: the mirror opens only a region its source
 * lists (it never creates one there). */
static void await_region(const char *src, int64_t deadline)
{
    while (wom("ls %s", src) != 0 || !strstr(out, "log ")) {
        CHECK_MSG(wom_test_now_ns() < deadline, "no region: %s", out);
        nanosleep(&(struct timespec){0, 20000000}, NULL); /* poll the cluster */
    }
}

/* A producer appends ETCD_A values to a cluster region while `wom mirror`
 * follows it into a shm: space; the leader is SIGKILLed mid-mirror, the
 * mirror must go on with two members, and the leader is restarted with
 * `wom cluster up`. Then every member is SIGKILLed while the mirror waits
 * (it must say it retries), the cluster restarted, and the producer sends
 * the rest. The mirror then holds exactly the ETCD_N values, at their
 * addresses, once each; run again it copies nothing. */
static void etcd_body(const struct tc *t)
{
    struct dirs d;
    char src[200], log[96];
    dirs_make(&d);
    snprintf(src, sizeof src, "%smirror", t->uri);
    snprintf(log, sizeof log, "%s/mirror.log", d.dir);
    int64_t t0 = wom_test_now_ns();
    pid_t p = fork_produce(src, 0, ETCD_A);
    await_region(src, t0 + 10 * SEC);
    pid_t m = mirror_start(log, src, d.dst, "--count", "600", "--timeout", "30000");

    /* The leader, mid-mirror. */
    uint64_t at_kill = await_tail(d.dst_ro, ETCD_A / 4, t0 + 15 * SEC);
    int k = leader(t);
    kill_member(t, k < 0 ? 0 : k);
    CHECK_MSG(at_kill >= ETCD_A / 4 && at_kill < ETCD_A, "tail %" PRIu64 " at the kill", at_kill);
    uint64_t tail = await_tail(d.dst_ro, at_kill + ETCD_A / 8, t0 + 20 * SEC);
    CHECK_MSG(tail >= at_kill + ETCD_A / 8, "the mirror stopped at %" PRIu64 " with two members",
              tail);
    cluster_up(t);
    int pr = reap_within(p, t0 + 20 * SEC - wom_test_now_ns());
    CHECK_MSG(pr == 0, "the producer: status %d", pr);
    CHECK_EQ(await_tail(d.dst_ro, ETCD_A, t0 + 20 * SEC), ETCD_A);

    /* The whole cluster, while the mirror waits for more. */
    int64_t t1 = wom_test_now_ns();
    for (int j = 0; j < 3; j++)
        kill_member(t, j);
    while (!file_has(log, "retrying")) {
        CHECK_MSG(wom_test_now_ns() - t1 < 12 * SEC, "the mirror did not notice the cluster gone");
        nanosleep(&(struct timespec){0, 20000000}, NULL); /* poll its output */
    }
    double noticed = (double)(wom_test_now_ns() - t1) / 1e9;
    cluster_up(t);
    pr = reap_within(fork_produce(src, ETCD_A, ETCD_N), 15 * SEC);
    int mr = reap_within(m, 10 * SEC);
    print_file(log); /* what the mirror said of the kills */
    CHECK_MSG(pr == 0, "the producer: status %d", pr);
    CHECK_MSG(mr == 0, "the mirror: status %d", mr);
    CHECK_MSG(file_has(log, "answered again"), "the mirror did not say it went on");
    check_mirror(d.dst_ro, ETCD_N, 4096);
    int rc = wom("mirror %s log %s --timeout 0", src, d.dst);
    CHECK_MSG(rc == 0 && strstr(out, "0 cells copied, next address 600\n"), "%d: %s", rc, out);
    fprintf(stderr, "mirror: %d cells from etcd; m%d (leader: %s) killed at %" PRIu64
                    ", %" PRIu64 " copied with two members; all killed at %d, noticed in "
                    "%.2f s; %.2f s\n",
            ETCD_N, (k < 0 ? 0 : k) + 1, k < 0 ? "none named" : "yes", at_kill, tail, ETCD_A,
            noticed, (double)(wom_test_now_ns() - t0) / 1e9);
    dirs_remove(&d);
}

TEST_T(mirror_etcd_member_killed_mid_mirror, T_UNIT, 60)
{
    wom_space *s = NULL;
    if (wom_open("etcd://", &s) == WOM_ENOTSUP)
        wom_test_skip("this build has no etcd:// scope (gRPC not found: sh scripts/deps.sh etcd)");
    with_cluster_at(etcd_body, 45, 5, 1);
}
