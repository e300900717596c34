/*
 * shm_test.c - the shm: scope: persistence, processes sharing one space
 * (exactly-once, in order, blocking reads woken across processes), racing
 * creators, header validation, permissions, trim giving file space back.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm_util.h"

/* A fresh directory for this test's files; the path of `name` in it. */
static const char *tmp_path(const char *name)
{
    static char dir[64];
    static char path[128];
    if (!dir[0]) {
        strcpy(dir, "/tmp/wom-test-XXXXXX");
        CHECK(mkdtemp(dir));
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Remove this test's directory (a failing test leaves it for a look). */
static void tmp_cleanup(void)
{
    const char *p = tmp_path("x");
    char dir[64];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(p, '/') - p), p);
    CHECK(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) == 0);
}

static const char *shm_uri(const char *name)
{
    static char uri[160];
    snprintf(uri, sizeof uri, "shm:%s", tmp_path(name));
    return uri;
}

TEST(shm_persists_across_reopen, T_UNIT)
{
    const char *uri = shm_uri("persist.wom");
    wom_space *s;
    wom_region *r, *m;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "regs", WOM_MANY, &m));
    for (uint64_t i = 0; i < 5000; i++)
        CHECK_OK(wom_append(r, &i, sizeof i, NULL));
    CHECK_OK(wom_store(m, 3, "v1", 2, NULL));
    CHECK_OK(wom_store(m, 3, "v2", 2, NULL));
    wom_region_close(r);
    wom_region_close(m);
    wom_close(s);

    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "regs", WOM_MANY, &m));
    uint64_t tail, v;
    size_t len;
    CHECK_OK(wom_tail(r, &tail));
    CHECK_EQ(tail, 5000);
    for (uint64_t i = 0; i < 5000; i++) {
        CHECK_OK(wom_get(r, i, &v, sizeof v, &len, 0));
        CHECK_EQ(v, i);
    }
    char buf[8];
    uint64_t ver;
    CHECK_OK(wom_load(m, 3, buf, sizeof buf, &len, &ver));
    CHECK(len == 2 && memcmp(buf, "v2", 2) == 0 && ver == 2);
    CHECK_ERR(wom_put(r, 7, "x", 1), WOM_EWRITTEN); /* still write-once */
    wom_region_close(r);
    wom_region_close(m);
    wom_close(s);
    tmp_cleanup();
}

static int child_read(const char *uri, uint32_t writers, uint64_t n)
{
    return read_ids(uri, writers, n, 0);
}

TEST(shm_processes_exactly_once_in_order, T_CONCURRENT)
{
    const char *uri = shm_uri("procs.wom");
    uint64_t n = wom_test_n(200000);
    /* Readers first, so they block on empty cells and must be woken. */
    pid_t r1 = spawn(child_read, uri, 3, n), r2 = spawn(child_read, uri, 3, n);
    pid_t w[3];
    for (uint32_t i = 0; i < 3; i++)
        w[i] = spawn(append_ids, uri, i, n);
    for (int i = 0; i < 3; i++)
        reap(w[i], "writer");
    reap(r1, "reader 1");
    reap(r2, "reader 2");
    tmp_cleanup();
}

static int child_create(const char *uri, uint32_t id, uint64_t fd)
{
    char go;
    if (read((int)fd, &go, 1) != 1) /* all children start together */
        return 7;
    return append_ids(uri, id, 1000);
}

TEST(shm_racing_creators_share_one_space, T_UNIT)
{
    const char *uri = shm_uri("race.wom");
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t kids[4];
    for (uint32_t i = 0; i < 4; i++)
        kids[i] = spawn(child_create, uri, i, (uint64_t)p[0]);
    CHECK(write(p[1], "gggg", 4) == 4);
    for (int i = 0; i < 4; i++)
        reap(kids[i], "creator");
    close(p[0]);
    close(p[1]);
    CHECK_EQ(child_read(uri, 4, 1000), 0);
    tmp_cleanup();
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, buf, len) == (ssize_t)len);
    close(fd);
}

TEST(shm_rejects_corrupt_headers, T_UNIT)
{
    wom_space *s;
    const char *uri = shm_uri("bad.wom");
    const char *path = uri + 4;
    write_file(path, "this is not a wom space at all, just text", 41);
    CHECK_ERR(wom_open(uri, &s), WOM_ECORRUPT);

    /* A real header with one field broken at a time. */
    const char *good = shm_uri("good.wom");
    CHECK_OK(wom_open(good, &s));
    wom_close(s);
    static char hdr[4096];
    int fd = open(good + 4, O_RDONLY);
    CHECK(fd >= 0 && read(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr);
    close(fd);
    static const struct {
        size_t off;
        uint64_t val;
    } breaks[] = {
        {8, 99},            /* layout version */
        {12, 1},            /* header size */
        {16, 1ull << 60},   /* reserved size beyond any sane limit */
        {24, 7},            /* chunk shift */
        {28, 3},            /* region count */
        {64, 1ull << 62},   /* allocator past the reserved size */
    };
    for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
        static char bad[4096];
        memcpy(bad, hdr, sizeof bad);
        size_t w = breaks[i].off == 8 || breaks[i].off == 12 || breaks[i].off == 24 ||
                           breaks[i].off == 28
                       ? 4
                       : 8;
        memcpy(bad + breaks[i].off, &breaks[i].val, w);
        write_file(path, bad, sizeof bad);
        CHECK_MSG(wom_open(uri, &s) == WOM_ECORRUPT, "break %zu accepted", i);
    }
    /* A file cut inside its header is not a space either. */
    memcpy(hdr, "WOMSPACE", 8);
    write_file(path, hdr, 100);
    CHECK_ERR(wom_open(uri, &s), WOM_ECORRUPT);
    tmp_cleanup();
}

TEST(shm_permissions_and_uri_errors, T_UNIT)
{
    wom_space *s;
    const char *uri = shm_uri("perm.wom");
    CHECK_OK(wom_open(uri, &s));
    wom_close(s);
    struct stat st;
    CHECK(stat(uri + 4, &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    char u2[200];
    snprintf(u2, sizeof u2, "%s;mode=0640;size=1G", shm_uri("group.wom"));
    CHECK_OK(wom_open(u2, &s));
    wom_close(s);
    CHECK(stat(tmp_path("group.wom"), &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0640);
    CHECK_ERR(wom_open("shm:/nonexistent-dir-wom/x.wom", &s), WOM_ENOENT);
    CHECK_ERR(wom_open("shm:", &s), WOM_EURI);
    snprintf(u2, sizeof u2, "%s;mode=999", shm_uri("m.wom"));
    CHECK_ERR(wom_open(u2, &s), WOM_EURI);
    snprintf(u2, sizeof u2, "%s;colour=blue", shm_uri("m.wom"));
    CHECK_ERR(wom_open(u2, &s), WOM_EURI);
    snprintf(u2, sizeof u2, "%s;size=1M", shm_uri("small.wom"));
    CHECK_ERR(wom_open(u2, &s), WOM_EINVAL);
    tmp_cleanup();
}

TEST(shm_trim_gives_file_space_back, T_UNIT)
{
    const char *uri = shm_uri("trim.wom");
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    static char val[4096];
    uint64_t n = 60000; /* 240 MiB of values; trim keeps a few chunks warm */
    for (uint64_t i = 0; i < n; i++)
        CHECK_OK(wom_append(r, val, sizeof val, NULL));
    struct stat before, after;
    CHECK(stat(uri + 4, &before) == 0);
    CHECK_OK(wom_trim(r, n - 100));
    CHECK(stat(uri + 4, &after) == 0);
    /* st_blocks counts 512-byte blocks actually allocated */
    CHECK_MSG(after.st_blocks * 2 < before.st_blocks, "blocks %lld -> %lld",
              (long long)before.st_blocks, (long long)after.st_blocks);
    size_t len;
    CHECK_OK(wom_get(r, n - 1, val, sizeof val, &len, 0));
    wom_region_close(r);
    wom_close(s);
    tmp_cleanup();
}

/* ---- the other forms across processes ---- */

#define RING_STOP UINT64_MAX

/* Ring sender process: n messages {id, seq}. */
static int ring_sender(const char *uri, uint32_t id, uint64_t n)
{
    wom_space *s;
    wom_ring *g;
    if (wom_open(uri, &s) || wom_ring_open(s, "ring", 64, 16, &g))
        return 2;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t m[2] = {id, i};
        if (wom_ring_send(g, m, sizeof m, 30000000000ll))
            return 3;
    }
    wom_ring_close(g);
    wom_close(s);
    return 0;
}

/* Ring receiver process: until a stop message, each message {id, seq} in
 * increasing seq per sender, recorded once in ONCE region "seen" (a second
 * put of one message fails: a duplicate). */
static int ring_receiver(const char *uri, uint32_t me, uint64_t n)
{
    wom_space *s;
    wom_ring *g;
    wom_region *seen;
    if (wom_open(uri, &s) || wom_ring_open(s, "ring", 64, 16, &g) ||
        wom_region_open(s, "seen", WOM_ONCE, &seen))
        return 2;
    int64_t last[2] = {-1, -1};
    for (;;) {
        uint64_t m[2];
        size_t len;
        if (wom_ring_recv(g, m, sizeof m, &len, 30000000000ll) || len != sizeof m)
            return 4;
        if (m[0] == RING_STOP)
            break;
        if (m[0] > 1 || m[1] >= n || (int64_t)m[1] <= last[m[0]])
            return 5; /* unknown, or out of order for its sender */
        last[m[0]] = (int64_t)m[1];
        if (wom_put(seen, m[0] * n + m[1], &me, sizeof me))
            return 6; /* received twice */
    }
    wom_region_close(seen);
    wom_ring_close(g);
    wom_close(s);
    return 0;
}

/* Register process: n increments by load + cas, retried on conflict. */
static int reg_counter(const char *uri, uint32_t id, uint64_t n)
{
    (void)id;
    wom_space *s;
    wom_reg *g;
    if (wom_open(uri, &s) || wom_reg_open(s, "count", &g))
        return 2;
    for (uint64_t i = 0; i < n;) {
        uint64_t v = 0, ver;
        size_t len;
        if (wom_reg_load(g, &v, sizeof v, &len, &ver) || (len != 0 && len != sizeof v))
            return 3;
        v++;
        int rc = wom_reg_cas(g, ver, &v, sizeof v, NULL);
        if (rc == 0)
            i++;
        else if (rc != WOM_ECONFLICT)
            return 4;
    }
    wom_reg_close(g);
    wom_close(s);
    return 0;
}

/* The ring (MPMC over MANY slots) and the register (over a ONCE log) work
 * across processes: every ring message once, in order per sender, per
 * receiver; no increment of the register lost. */
TEST(shm_ring_and_register_across_processes, T_CONCURRENT)
{
    const char *uri = shm_uri("forms.wom");
    uint64_t n = wom_test_n(20000), m = wom_test_n(2000);
    wom_space *s;
    wom_ring *g;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_ring_open(s, "ring", 64, 16, &g));
    pid_t rx[2], tx[2], inc[3];
    for (uint32_t i = 0; i < 2; i++)
        rx[i] = spawn(ring_receiver, uri, i, n);
    for (uint32_t i = 0; i < 2; i++)
        tx[i] = spawn(ring_sender, uri, i, n);
    for (uint32_t i = 0; i < 3; i++)
        inc[i] = spawn(reg_counter, uri, i, m);
    for (int i = 0; i < 2; i++)
        reap(tx[i], "ring sender");
    for (int i = 0; i < 2; i++) {
        uint64_t stop[2] = {RING_STOP, 0};
        CHECK_OK(wom_ring_send(g, stop, sizeof stop, 30000000000ll));
    }
    for (int i = 0; i < 2; i++)
        reap(rx[i], "ring receiver");
    for (int i = 0; i < 3; i++)
        reap(inc[i], "register counter");
    wom_region *seen;
    CHECK_OK(wom_region_open(s, "seen", WOM_ONCE, &seen));
    for (uint64_t a = 0; a < 2 * n; a++) {
        uint32_t who;
        size_t len;
        CHECK_OK(wom_get(seen, a, &who, sizeof who, &len, 0)); /* none lost */
    }
    wom_reg *count;
    uint64_t v, ver;
    size_t len;
    CHECK_OK(wom_reg_open(s, "count", &count));
    CHECK_OK(wom_reg_load(count, &v, sizeof v, &len, &ver));
    CHECK_EQ(v, 3 * m);
    CHECK_EQ(ver, 3 * m);
    wom_reg_close(count);
    wom_region_close(seen);
    wom_ring_close(g);
    wom_close(s);
    tmp_cleanup();
}
