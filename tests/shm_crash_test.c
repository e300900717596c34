/*
 * shm_crash_test.c - processes killed with SIGKILL at random instants while
 * writing or reading a shm: space. After every kill: each put or append that
 * returned 0 (acknowledged through a pipe before the kill) is readable with
 * its exact value, and no reader ever sees a torn or partial value. Also: durability
 * calls, and rights (a process without them gets WOM_EPERM).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm_util.h"

#define SPAN 1000000ull /* addresses each writer life owns for its puts */

/* Open the kill loop's space and its regions "cells" and "log". */
static int open_cells_log(const char *uri, wom_space **s, wom_region **r, wom_region **log)
{
    int rc = wom_open(uri, s);
    if (!rc && (rc = wom_region_open(*s, "cells", WOM_ONCE, r)) == 0 &&
        (rc = wom_region_open(*s, "log", WOM_ONCE, log)) != 0)
        wom_region_close(*r);
    return rc;
}

/* Writer life `life`: puts at life*SPAN + i and appends to "log" (whose
 * values carry their own put-address-like key), acknowledging each on fd. */
static void writer(const char *uri, uint64_t life, int fd)
{
    wom_space *s;
    wom_region *r, *log;
    if (open_cells_log(uri, &s, &r, &log))
        _exit(2);
    static unsigned char b[4096];
    for (uint64_t i = 0;; i++) {
        uint64_t a = life * SPAN + i, at;
        size_t len = value_make(a, b);
        if (wom_put(r, a, b, len))
            _exit(3);
        uint64_t ack[2] = {a, UINT64_MAX};
        if (i % 4 == 0) { /* every fourth value also goes to the log */
            if (wom_append(log, b, len, &at))
                _exit(4);
            ack[1] = at;
        }
        if (write(fd, ack, sizeof ack) != (ssize_t)sizeof ack)
            _exit(5);
    }
}

struct acked {
    uint64_t cell, log; /* log = UINT64_MAX when not appended */
};

/* A reader life: reads random addresses of both regions (by view and by
 * copy) until it is killed, reporting each read on fd; it exits 10 at the
 * first torn or foreign value. */
static void reader(const char *uri, uint64_t seed, int fd)
{
    wom_space *s;
    wom_region *r, *log;
    if (open_cells_log(uri, &s, &r, &log))
        _exit(2);
    static unsigned char b[4096];
    for (;;) {
        uint64_t tail, a, key;
        size_t len;
        wom_view v;
        if (wom_tail(log, &tail))
            _exit(3);
        a = tail ? wom_test_rand(&seed) % tail : 0;
        if (wom_get_view(log, a, &v, 0) == 0) {
            memcpy(&key, v.data, 8);
            int ok = value_ok(key, v.data, v.len);
            wom_view_release(&v);
            if (!ok)
                _exit(10);
        }
        a = (wom_test_rand(&seed) % (tail / 4 + 1)) % SPAN; /* a cell of some life */
        a += (wom_test_rand(&seed) % 200) * SPAN;
        if (wom_get(r, a, b, sizeof b, &len, 0) == 0 && !value_ok(a, b, len))
            _exit(10);
        if (write(fd, &a, 1) != 1)
            _exit(5);
    }
}

/* Every acknowledged value of acks[from, n) and `sample` random earlier
 * ones reads back whole. */
static void check_acked(wom_region *r, wom_region *log, const struct acked *acks, size_t from,
                        size_t n, int sample, uint64_t *seed)
{
    static unsigned char b[4096];
    size_t len;
    for (size_t k = 0; k < n - from + (size_t)sample && n; k++) {
        size_t i = k < n - from ? from + k : wom_test_rand(seed) % n;
        CHECK_OK(wom_get(r, acks[i].cell, b, sizeof b, &len, 0));
        CHECK_MSG(value_ok(acks[i].cell, b, len), "cell %llu torn or wrong",
                  (unsigned long long)acks[i].cell);
        if (acks[i].log == UINT64_MAX)
            continue;
        uint64_t key;
        CHECK_OK(wom_get(log, acks[i].log, b, sizeof b, &len, 0));
        memcpy(&key, b, 8);
        CHECK_MSG(key == acks[i].cell && value_ok(key, b, len), "log %llu wrong",
                  (unsigned long long)acks[i].log);
    }
}

TEST(shm_kill9_loses_nothing_acknowledged, T_CONCURRENT)
{
    struct tspace ts;
    tspace_make(&ts);
    const char *uri = ts.uri;
    size_t cap = 1 << 20, n = 0;
    struct acked *acks = malloc(cap * sizeof *acks);
    CHECK(acks);
    uint64_t seed = wom_test_seed();
    uint64_t kills = wom_test_n(200) < 20 ? 20 : wom_test_n(200);
    wom_space *survivor; /* a process that lives through every kill */
    wom_region *sr, *slog;
    CHECK_OK(open_cells_log(uri, &survivor, &sr, &slog));
    for (uint64_t life = 0; life < kills; life++) {
        size_t before = n;
        int p[2], q[2];
        CHECK(pipe(p) == 0 && pipe(q) == 0);
        pid_t rpid = fork(); /* a reader, killed mid-read too */
        CHECK(rpid >= 0);
        if (rpid == 0) {
            close(q[0]);
            close(p[0]);
            close(p[1]); /* the writer's pipe must end with the writer */
            reader(uri, seed + life, q[1]);
        }
        close(q[1]);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            close(q[0]);
            writer(uri, life, p[1]);
        }
        close(p[1]);
        /* Let it acknowledge a random number of writes (0..255), then kill
         * it wherever it is: mid-put, mid-append, mid-allocation. */
        uint64_t want = wom_test_rand(&seed) % 256;
        uint64_t ack[2];
        for (uint64_t k = 0; k < want && read(p[0], ack, sizeof ack) == sizeof ack; k++) {
            CHECK(n < cap);
            acks[n++] = (struct acked){ack[0], ack[1]};
        }
        kill(pid, SIGKILL);
        while (read(p[0], ack, sizeof ack) == sizeof ack) { /* acked before death */
            CHECK(n < cap);
            acks[n++] = (struct acked){ack[0], ack[1]};
        }
        close(p[0]);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK_MSG(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0) || want == 0,
                  "writer life %llu failed on its own: status %d", (unsigned long long)life,
                  st);
        /* The reader: a random number of reads (0..63), then killed. */
        char c;
        for (uint64_t k = wom_test_rand(&seed) % 64; k > 0 && read(q[0], &c, 1) == 1; k--)
            ;
        kill(rpid, SIGKILL);
        close(q[0]);
        CHECK(waitpid(rpid, &st, 0) == rpid);
        CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "reader life %llu saw a torn value or failed: status %d",
                  (unsigned long long)life, st);
        /* After each kill: this life's acknowledged values and a sample of
         * earlier ones, read by the survivor. */
        check_acked(sr, slog, acks, before, n, 16, &seed);
    }
    wom_region_close(sr);
    wom_region_close(slog);
    wom_close(survivor);
    /* Reopen, as a survivor would, and check everything. */
    wom_space *s;
    wom_region *r, *log;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "cells", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &log));
    static unsigned char b[4096];
    size_t len;
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(wom_get(r, acks[i].cell, b, sizeof b, &len, 0));
        CHECK_MSG(value_ok(acks[i].cell, b, len), "cell %llu torn or wrong",
                  (unsigned long long)acks[i].cell);
        if (acks[i].log != UINT64_MAX) {
            CHECK_OK(wom_get(log, acks[i].log, b, sizeof b, &len, 0));
            uint64_t key;
            memcpy(&key, b, 8);
            CHECK_MSG(key == acks[i].cell && value_ok(key, b, len), "log %llu wrong",
                      (unsigned long long)acks[i].log);
        }
    }
    /* Cells written but not acknowledged (the kill came between the put and
     * the ack) must be whole too; the rest must be plainly empty. */
    uint64_t tail;
    CHECK_OK(wom_tail(log, &tail));
    for (uint64_t a = 0; a < tail; a++) {
        int rc = wom_get(log, a, b, sizeof b, &len, 0);
        uint64_t key;
        memcpy(&key, b, 8);
        CHECK_MSG(rc == WOM_EEMPTY || (rc == 0 && value_ok(key, b, len)),
                  "log %llu: rc %d or a torn value", (unsigned long long)a, rc);
    }
    CHECK_OK(wom_sync(s));
    wom_region_close(r);
    wom_region_close(log);
    wom_close(s);
    free(acks);
    tspace_remove(&ts);
}

TEST(shm_sync_and_rights, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    const char *uri = ts.uri, *path = ts.path;
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "r", WOM_ONCE, &r));
    CHECK_OK(wom_put(r, 1, "durable", 7));
    CHECK_OK(wom_sync(s));
    wom_region_close(r);
    wom_close(s);
    CHECK_OK(wom_open("mem:", &s));
    CHECK_OK(wom_sync(s)); /* nothing to make durable */
    wom_close(s);
    CHECK_ERR(wom_sync(NULL), WOM_EINVAL);
    /* A process without rights to the file (0600, another user) is refused
     * with WOM_EPERM, as root drops to "nobody" in a child to show it. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (getuid() == 0) {
            if (setuid(65534) != 0)
                _exit(10);
        } else if (chmod(path, 0) != 0) { /* not root: take our own rights */
            _exit(11);
        }
        wom_space *t;
        _exit(wom_open(uri, &t) == WOM_EPERM ? 0 : 12);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    tspace_remove(&ts);
}

/* A reader process follows the log while appenders are killed mid-append:
 * it must never hang on a hole a dead appender left (the hole turns
 * ABANDONED), must read every acknowledged append intact, and must see at
 * most one hole per killed appender. It records what it saw in region
 * "seen": 1 = a whole value, 2 = abandoned. */
#define STOP_KEY UINT64_MAX

static void appender(const char *uri, int fd)
{
    wom_space *s;
    wom_region *log;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &log))
        _exit(2);
    static unsigned char b[4096];
    for (uint64_t i = 0;; i++) {
        uint64_t at, key = i * 7919 % 100000;
        size_t len = value_make(key, b);
        if (wom_append(log, b, len, &at))
            _exit(3);
        if (write(fd, &at, sizeof at) != (ssize_t)sizeof at)
            _exit(5);
    }
}

static int follower(const char *uri)
{
    wom_space *s;
    wom_region *log, *seen;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &log) ||
        wom_region_open(s, "seen", WOM_ONCE, &seen))
        return 2;
    static unsigned char b[4096];
    for (uint64_t a = 0;; a++) {
        size_t len;
        int rc = wom_get(log, a, b, sizeof b, &len, 60000000000ll);
        uint64_t key = 0;
        if (rc == 0)
            memcpy(&key, b, 8);
        if (rc == 0 && key == STOP_KEY)
            return 0;
        unsigned char st = rc == WOM_EABANDONED ? 2 : rc == 0 && value_ok(key, b, len) ? 1 : 0;
        if (!st)
            return 10; /* a torn value, a timeout (a hang), another error */
        if (wom_put(seen, a, &st, 1))
            return 11;
    }
}

TEST(shm_reader_survives_killed_appenders, T_CONCURRENT)
{
    struct tspace ts;
    tspace_make(&ts);
    const char *uri = ts.uri;
    pid_t rd = fork();
    CHECK(rd >= 0);
    if (rd == 0)
        _exit(follower(uri));
    uint64_t seed = wom_test_seed() ^ 0x5eed;
    uint64_t kills = wom_test_n(60) < 10 ? 10 : wom_test_n(60), nacks = 0;
    static uint64_t acked[1 << 16];
    for (uint64_t life = 0; life < kills; life++) {
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            appender(uri, p[1]);
        }
        close(p[1]);
        uint64_t want = wom_test_rand(&seed) % 200, at;
        for (uint64_t k = 0; k < want && read(p[0], &at, sizeof at) == sizeof at; k++)
            if (nacks < sizeof acked / sizeof acked[0])
                acked[nacks++] = at;
        kill(pid, SIGKILL);
        while (read(p[0], &at, sizeof at) == sizeof at)
            if (nacks < sizeof acked / sizeof acked[0])
                acked[nacks++] = at;
        close(p[0]);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
    }
    /* Tell the follower to stop, then check what it saw. */
    wom_space *s;
    wom_region *log, *seen;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &log));
    CHECK_OK(wom_region_open(s, "seen", WOM_ONCE, &seen));
    static unsigned char b[4096];
    size_t len = value_make(0, b);
    uint64_t stop = STOP_KEY, stop_at;
    memcpy(b, &stop, 8);
    CHECK_OK(wom_append(log, b, len, &stop_at));
    int st;
    CHECK(waitpid(rd, &st, 0) == rd);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "follower status %d", st);
    uint64_t holes = 0;
    for (uint64_t a = 0; a < stop_at; a++) {
        unsigned char v = 0;
        CHECK_OK(wom_get(seen, a, &v, 1, &len, 0));
        holes += v == 2;
    }
    for (uint64_t i = 0; i < nacks; i++) {
        unsigned char v = 0;
        CHECK_OK(wom_get(seen, acked[i], &v, 1, &len, 0));
        CHECK_MSG(v == 1, "acknowledged append %llu seen as %d", (unsigned long long)acked[i],
                  v);
    }
    fprintf(stderr, "  %llu holes after %llu kills\n", (unsigned long long)holes,
            (unsigned long long)kills);
    CHECK_MSG(holes <= kills, "%llu holes for %llu kills", (unsigned long long)holes,
              (unsigned long long)kills);
    wom_region_close(log);
    wom_region_close(seen);
    wom_close(s);
    tspace_remove(&ts);
}

/* A process that dies holding the trim lock (half-way through a trim: floor
 * raised, walk not done) does not stop later trims: the lock is taken over
 * once the kernel says its holder is dead, and the walk is redone. */
TEST(shm_trim_lock_of_a_dead_process, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    const char *uri = ts.uri;
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    for (uint64_t i = 0; i < 3000; i++)
        CHECK_OK(wom_append(r, &i, sizeof i, NULL));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Its own open (own slot), then die inside a "trim" of [0, 2000). */
        wom_space *t;
        wom_region *q;
        if (wom_open(uri, &t) || wom_region_open(t, "log", WOM_ONCE, &q))
            _exit(2);
        struct wom__region_hdr *h = wom__reg_of(q)->h;
        st_seq(&h->trim_lock, (wom__reg_of(q)->e->self + 1) << 1);
        st_seq(&h->floor, 2000);
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int64_t t0 = wom_test_now_ns();
    CHECK_OK(wom_trim(r, 2500)); /* would wait forever without the takeover */
    CHECK((wom_test_now_ns() - t0) < 5000000000ll);
    uint64_t v;
    size_t len;
    CHECK_ERR(wom_get(r, 100, &v, sizeof v, &len, 0), WOM_ETRIMMED);
    CHECK_ERR(wom_get(r, 2400, &v, sizeof v, &len, 0), WOM_ETRIMMED);
    CHECK_OK(wom_get(r, 2500, &v, sizeof v, &len, 0));
    CHECK_EQ(v, 2500);
    CHECK_EQ(wom__reg_of(r)->h->trim_from, 2500); /* the dead walk was redone */
    CHECK_OK(wom_trim(r, 2600));         /* and the lock works normally after */
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* A process that dies while creating a region (its slot left INIT) does not
 * stop others from opening that name: the slot is freed once the kernel
 * says its creator is dead, and created again. */
TEST(shm_region_creator_dies, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    const char *uri = ts.uri;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wom_space *t;
        wom_region *q;
        if (wom_open(uri, &t) || wom_region_open(t, "probe", WOM_ONCE, &q))
            _exit(2);
        /* Put its slot back to "being created by me", then die. */
        st_seq(&wom__reg_of(q)->h->state, 1u | ((wom__reg_of(q)->e->self + 1) << 2));
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(uri, &s));
    int64_t t0 = wom_test_now_ns();
    CHECK_OK(wom_region_open(s, "probe", WOM_MANY, &r)); /* created anew */
    CHECK((wom_test_now_ns() - t0) < 5000000000ll);
    CHECK_OK(wom_store(r, 1, "ok", 2, NULL));
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* wom_inspect names every state, including a claim in flight and a cell
 * abandoned by a dead appender (left here by a child that takes an address
 * the way an append does and dies before publishing). */
TEST(shm_inspect_states, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    const char *uri = ts.uri;
    wom_space *s;
    wom_region *r, *m;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "regs", WOM_MANY, &m));
    for (uint64_t i = 0; i < 6; i++)
        CHECK_OK(wom_append(r, "abc", 3, NULL));
    CHECK_OK(wom_store(m, 2, "xy", 2, NULL));
    CHECK_OK(wom_store(m, 2, "xyz", 3, NULL));
    CHECK_OK(wom_trim(r, 2));
    pid_t pid = die_holding_an_address(r, 6);
    wom_cell_info ci;
    CHECK_OK(wom_inspect(r, 0, &ci));
    CHECK_EQ(ci.state, WOM_CELL_TRIMMED);
    CHECK_OK(wom_inspect(r, 4, &ci));
    CHECK(ci.state == WOM_CELL_WRITTEN && ci.len == 3 && ci.version == 1);
    CHECK_OK(wom_inspect(r, 6, &ci));
    CHECK(ci.state == WOM_CELL_CLAIMED && ci.pid == pid);
    CHECK_OK(wom_inspect(r, 7, &ci));
    CHECK(ci.state == WOM_CELL_EMPTY && ci.pid == -1);
    char b[8];
    size_t len;
    CHECK_ERR(wom_get(r, 6, b, sizeof b, &len, 5000000000ll), WOM_EABANDONED);
    CHECK_OK(wom_inspect(r, 6, &ci));
    CHECK_EQ(ci.state, WOM_CELL_ABANDONED);
    CHECK_ERR(wom_put(r, 6, "late", 4), WOM_EABANDONED); /* the fence */
    CHECK_OK(wom_inspect(m, 2, &ci));
    CHECK(ci.state == WOM_CELL_WRITTEN && ci.len == 3 && ci.version == 2);
    CHECK_OK(wom_inspect(m, 3, &ci));
    CHECK_EQ(ci.state, WOM_CELL_EMPTY);
    wom_region_close(r);
    wom_region_close(m);
    wom_close(s);
    tspace_remove(&ts);
}

/* A child forked after the open gets a slot of its own (its own liveness
 * lock), so its death is seen as its death, not its parent's. */
TEST(shm_forked_child_gets_its_own_slot, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_region *r;
    open_log(ts.uri, &s, &r);
    wom__eng *e = wom__reg_of(r)->e;
    uint32_t mine = e->self;
    int up[2], down[2];
    CHECK(pipe(up) == 0 && pipe(down) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        uint32_t self = wom__reg_of(r)->e->self;
        char go;
        if (write(up[1], &self, sizeof self) != sizeof self || read(down[0], &go, 1) != 1)
            _exit(2);
        _exit(wom_append(r, "child", 5, NULL) == 0 ? 0 : 3); /* it can write */
    }
    uint32_t theirs;
    CHECK(read(up[0], &theirs, sizeof theirs) == sizeof theirs);
    CHECK(theirs != mine);
    CHECK_EQ(eng_alive(e, theirs), 1);
    CHECK(write(down[1], "g", 1) == 1);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(eng_alive(e, theirs), 0); /* the kernel dropped the child's lock */
    CHECK_EQ(e->self, mine);
    char b[8];
    size_t len;
    CHECK_OK(wom_get(r, 0, b, sizeof b, &len, 0));
    CHECK(len == 5 && memcmp(b, "child", 5) == 0);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* The chunk that holds the value of address a of r. */
static struct wom__chunk *chunk_of(wom_region *r, uint64_t a)
{
    wom_a64 *cell;
    CHECK_OK(wom__cell(wom__reg_of(r), a, 0, &cell));
    struct wom__chunk *ch = eng_chunk(wom__reg_of(r)->e, ld_seq(cell) & ~7ull);
    CHECK_EQ(ch->magic, WOM__CHUNK_MAGIC);
    return ch;
}

/* The pin count of process slot `slot` in chunk ch. */
static uint32_t pins_of(struct wom__chunk *ch, uint32_t slot) { return ld_seq(&ch->pins[slot]); }

/* A child that takes a view of address a of r and dies holding it; returns
 * the slot its pin was counted in. */
static uint32_t die_holding_a_view(wom_region *r, uint64_t a)
{
    int up[2];
    CHECK(pipe(up) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wom_view view;
        uint32_t slot = wom__reg_of(r)->e->pin_slot; /* the fork handler gave it a slot */
        if (wom_get_view(r, a, &view, 0) || write(up[1], &slot, sizeof slot) != sizeof slot)
            _exit(2);
        kill(getpid(), SIGKILL); /* dies holding the view */
    }
    uint32_t slot;
    CHECK(read(up[0], &slot, sizeof slot) == sizeof slot);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
    close(up[0]);
    close(up[1]);
    return slot;
}

/* Views (pins) held by a process that dies do not pin their chunk forever:
 * pins are counted per process slot, so a process that wants to release a
 * chunk drops a dead slot's count (holding that slot's lock meanwhile), a
 * process that takes a dead process's slot drops all of its counts, and one
 * that opens the space alone drops every other count. */
TEST(shm_dead_readers_pins_are_dropped, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    static char v[4096];
    for (uint64_t i = 0; i < 6000; i++) /* 24 MiB: the first two chunks fill */
        CHECK_OK(wom_append(r, v, sizeof v, NULL));
    wom__eng *e = wom__reg_of(r)->e;
    struct wom__chunk *c1 = chunk_of(r, 5), *c2 = chunk_of(r, 3000);
    CHECK(c1 != c2);
    /* 1. Released by the trim that retires it: the dead pin is reaped. */
    uint32_t dead = die_holding_a_view(r, 5);
    CHECK(dead != e->pin_slot && dead < WOM__NPROCS);
    CHECK_EQ(pins_of(c1, dead), 1);
    uint64_t free_before = ld_seq(&e->hdr->free_count);
    CHECK_OK(wom_trim(r, 2500)); /* every record of chunk 1 dies */
    CHECK_EQ(pins_of(c1, dead), 0);
    CHECK(ld_seq(&c1->state) == (CH_RETIRED | CH_RELEASED));
    CHECK_EQ(ld_seq(&e->hdr->free_count), free_before + 1);
    /* 2. Dropped by the next process to take the dead one's slot. */
    dead = die_holding_a_view(r, 3000);
    CHECK_EQ(pins_of(c2, dead), 1);
    pid_t pid = fork(); /* takes the lowest free slot: the dead one's */
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(wom__reg_of(r)->e->pin_slot == dead && pins_of(c2, dead) == 0 ? 0 : 3);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* 3. Dropped by a process that opens the space alone. */
    dead = die_holding_a_view(r, 3001);
    CHECK_EQ(pins_of(c2, dead), 1);
    wom_region_close(r);
    wom_close(s);
    CHECK_OK(wom_open(ts.uri, &s)); /* alone */
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    c2 = chunk_of(r, 3000);
    CHECK_EQ(pins_of(c2, dead), 0);
    char b[8];
    size_t len;
    CHECK_ERR(wom_get(r, 5, b, sizeof b, &len, 0), WOM_ETRIMMED);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* Immutability is enforced: a full arena chunk whose values are all written
 * turns read-only in a process that reads it, so a stray write through a
 * view faults (here in a child that inherits the mapping) instead of
 * changing a message; a chunk reused later is writable again for writers. */
TEST(shm_stray_write_into_a_value_faults, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    static char v[4096];
    for (uint64_t i = 0; i < 3000; i++) { /* 12 MiB: the first chunk fills */
        memset(v, (int)(i & 0xff), sizeof v);
        CHECK_OK(wom_append(r, v, sizeof v, NULL));
    }
    wom_view view;
    CHECK_OK(wom_get_view(r, 100, &view, 0));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        ((volatile char *)view.data)[10] = 'X'; /* a reader's stray write */
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child status %d", st);
    CHECK_EQ(((const char *)view.data)[10], 100);
    wom_view_release(&view);
    /* Release the sealed chunk and write through a reuse of it. */
    CHECK_OK(wom_trim(r, 3000));
    for (uint64_t i = 0; i < 6000; i++)
        CHECK_OK(wom_append(r, v, sizeof v, NULL));
    size_t len;
    CHECK_OK(wom_get(r, 8999, v, sizeof v, &len, 0));
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* Values carry a checksum, verified on reads of data at rest (written in an
 * earlier life of the space) and by read-only processes: a byte of a value
 * changed in the file (bit rot, a stray write by some other program) reads
 * as WOM_ECORRUPT, never as a wrong value; the values around it read fine. */
TEST(shm_checksum_catches_a_changed_value, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_region *r, *m;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "regs", WOM_MANY, &m));
    for (uint64_t i = 0; i < 10; i++)
        CHECK_OK(wom_append(r, "0123456789abcdef", 16, NULL));
    CHECK_OK(wom_store(m, 0, "register value", 14, NULL));
    wom_loan l;
    CHECK_OK(wom_loan_new(r, 4, &l));
    memcpy(l.data, "loan", 4);
    CHECK_OK(wom_loan_put(&l, 100));
    /* Where the values of cells 5 and 100 and of the register live. */
    wom_a64 *cell;
    CHECK_OK(wom__cell(wom__reg_of(r), 5, 0, &cell));
    uint64_t off5 = (*cell & ~7ull) + sizeof(struct wom__rec);
    CHECK_OK(wom__cell(wom__reg_of(r), 100, 0, &cell));
    uint64_t off100 = (*cell & ~7ull) + sizeof(struct wom__rec);
    CHECK_OK(wom__cell(wom__reg_of(m), 0, 0, &cell));
    uint64_t offm = (*cell & ~7ull) + sizeof(struct wom__rec);
    wom_region_close(r);
    wom_region_close(m);
    wom_close(s);
    int fd = open(ts.path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "X", 1, (off_t)off5 + 3) == 1);
    CHECK(pwrite(fd, "Y", 1, (off_t)off100) == 1);
    CHECK(pwrite(fd, "Z", 1, (off_t)offm + 13) == 1);
    close(fd);
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(s, "regs", WOM_MANY, &m));
    char b[32];
    size_t len;
    uint64_t ver;
    CHECK_ERR(wom_get(r, 5, b, sizeof b, &len, 0), WOM_ECORRUPT);
    wom_view v;
    CHECK_ERR(wom_get_view(r, 5, &v, 0), WOM_ECORRUPT);
    CHECK_ERR(wom_get(r, 100, b, sizeof b, &len, 0), WOM_ECORRUPT);
    CHECK_ERR(wom_load(m, 0, b, sizeof b, &len, &ver), WOM_ECORRUPT);
    CHECK_OK(wom_get(r, 4, b, sizeof b, &len, 0));
    CHECK(len == 16 && memcmp(b, "0123456789abcdef", 16) == 0);
    CHECK_OK(wom_get(r, 6, b, sizeof b, &len, 0));
    /* Changed while processes live: a read-only process, which trusts no
     * writer, still catches it. */
    CHECK_OK(wom__cell(wom__reg_of(r), 6, 0, &cell));
    uint64_t off6 = (*cell & ~7ull) + sizeof(struct wom__rec);
    fd = open(ts.path, O_RDWR);
    CHECK(fd >= 0 && pwrite(fd, "W", 1, (off_t)off6) == 1);
    close(fd);
    char ro[160];
    snprintf(ro, sizeof ro, "%s;ro", ts.uri);
    wom_space *t;
    wom_region *q;
    CHECK_OK(wom_open(ro, &t));
    CHECK_OK(wom_region_open(t, "log", WOM_ONCE, &q));
    CHECK_ERR(wom_get(q, 6, b, sizeof b, &len, 0), WOM_ECORRUPT);
    CHECK_OK(wom_get(q, 7, b, sizeof b, &len, 0));
    wom_region_close(q);
    wom_close(t);
    wom_region_close(r);
    wom_region_close(m);
    wom_close(s);
    tspace_remove(&ts);
}

/* A child that dies inside an append many of n values at want..want+n-1
 * of r, after publishing the first k (the slot's addr word then names the
 * lowest unpublished one, as the engine keeps it). */
static void die_inside_a_batch(wom_region *r, uint64_t want, uint64_t n, uint64_t k)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wom_a64 *busy = wom__reg_of(r)->e->busy;
        st_seq(busy + 1, UINT64_MAX);
        st_seq(busy, wom__reg_of(r)->idx + 1);
        uint64_t a = faa_seq(&wom__reg_of(r)->h->next, n);
        st_seq(busy + 1, a);
        for (uint64_t i = 0; i < k; i++) {
            if (wom_put(r, a + i, "v", 1))
                _exit(4);
            st_seq(busy + 1, a + i + 1);
        }
        _exit(a == want ? 0 : 3);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The holes a dead batch appender leaves are abandoned, one by one; the
 * reserved range of a live batch is not, even with crash evidence in the
 * region: a live appender may fill every address at or above its slot's
 * addr word. */
TEST(shm_batch_appender_dies, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s, *t;
    wom_region *r, *r2;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_open(ts.uri, &t)); /* another slot: the live appender */
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK_OK(wom_region_open(t, "log", WOM_ONCE, &r2));
    die_inside_a_batch(r, 0, 5, 2);
    char b[8];
    size_t len;
    for (uint64_t a = 0; a < 2; a++)
        CHECK_OK(wom_get(r, a, b, sizeof b, &len, 0));
    for (uint64_t a = 2; a < 5; a++)
        CHECK_ERR(wom_get(r, a, b, sizeof b, &len, 5000000000ll), WOM_EABANDONED);
    /* A live batch at 5..7 with 5 published: 6 and 7 are its to fill. */
    wom_a64 *busy = wom__reg_of(r2)->e->busy;
    st_seq(busy + 1, UINT64_MAX);
    st_seq(busy, wom__reg_of(r2)->idx + 1);
    uint64_t a = faa_seq(&wom__reg_of(r2)->h->next, 3);
    CHECK_EQ(a, 5);
    CHECK_OK(wom_put(r2, 5, "w", 1));
    st_seq(busy + 1, 6);
    CHECK_ERR(wom_get(r, 7, b, sizeof b, &len, 200000000ll), WOM_ETIMEDOUT);
    wom_cell_info ci;
    CHECK_OK(wom_inspect(r, 7, &ci));
    CHECK_EQ(ci.state, WOM_CELL_EMPTY);
    CHECK_OK(wom_put(r2, 6, "w", 1));
    CHECK_OK(wom_put(r2, 7, "w", 1));
    st_seq(busy, 0);
    CHECK_OK(wom_get(r, 7, b, sizeof b, &len, 0));
    /* A real batch after all that: consecutive, every value there. */
    wom_iov v[4] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
    uint64_t addrs[4];
    CHECK_OK(wom_append_many(r2, v, 4, addrs, NULL));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(addrs[i], 8 + (uint64_t)i);
        CHECK_OK(wom_get(r, addrs[i], b, sizeof b, &len, 0));
        CHECK(len == 1 && b[0] == 'a' + i);
    }
    wom_region_close(r);
    wom_region_close(r2);
    wom_close(t);
    wom_close(s);
    tspace_remove(&ts);
}

/* A channel subscriber goes on past a message whose sender died before
 * publishing it, and reports the skip. */
TEST(shm_subscriber_reports_abandoned_messages, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_chan *c;
    wom_region *log;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_chan_open(s, "news", NULL, &c));
    CHECK_OK(wom_region_open(s, "news", WOM_ONCE, &log));
    for (uint64_t i = 0; i < 3; i++)
        CHECK_OK(wom_chan_send(c, &i, sizeof i, 0, NULL));
    die_holding_an_address(log, 3);
    for (uint64_t i = 3; i < 5; i++)
        CHECK_OK(wom_chan_send(c, &i, sizeof i, 0, NULL));
    wom_sub *sub;
    CHECK_OK(wom_sub_open(c, NULL, &sub));
    uint64_t want[] = {0, 1, 2, 3, 4}, at_want[] = {0, 1, 2, 4, 5};
    for (int k = 0; k < 5; k++) {
        uint64_t v, at;
        size_t len;
        CHECK_OK(wom_sub_recv(sub, &v, sizeof v, &len, &at, 5000000000ll));
        CHECK_EQ(v, want[k]);
        CHECK_EQ(at, at_want[k]);
    }
    CHECK_EQ(wom_sub_abandoned(sub), 1);
    wom_sub_close(sub);
    wom_region_close(log);
    wom_chan_close(c);
    wom_close(s);
    tspace_remove(&ts);
}

/* A bounded subscriber whose process is killed holds no sender back: a
 * sender that reaches the bound finds its seat's holder dead and closes the
 * seat. New subscribers take closed seats over, so opening and closing
 * subscribers does not make the seats a sender scans grow; a live one still
 * bounds. */
TEST(shm_dead_subscriber_releases_senders, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_chan *c;
    CHECK_OK(wom_open(ts.uri, &s));
    wom_chan_opts co = WOM_CHAN_OPTS_INIT;
    co.bound = 8;
    CHECK_OK(wom_chan_open(s, "ch", &co, &c));
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wom_space *t;
        wom_chan *tc;
        wom_sub *sub;
        char one = 1;
        if (wom_open(ts.uri, &t) || wom_chan_open(t, "ch", NULL, &tc) ||
            wom_sub_open(tc, NULL, &sub) || write(ready[1], &one, 1) != 1)
            _exit(2);
        for (;;)
            pause(); /* holds its seat at cursor 0 until killed */
    }
    char one;
    CHECK(read(ready[0], &one, 1) == 1);
    for (int i = 0; i < 8; i++)
        CHECK_OK(wom_chan_send(c, "m", 1, 0, NULL));
    CHECK_ERR(wom_chan_send(c, "m", 1, 0, NULL), WOM_ETIMEDOUT); /* bounded by it */
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(waitpid(pid, NULL, 0) == pid);
    for (int i = 0; i < 100; i++) /* the dead holds nothing back */
        CHECK_OK(wom_chan_send(c, "m", 1, 0, NULL));
    wom_region *seats;
    uint64_t n0, n1;
    CHECK_OK(wom_region_open(s, "ch.seats", WOM_ONCE, &seats));
    CHECK_OK(wom_tail(seats, &n0));
    for (int i = 0; i < 20; i++) { /* each takes the seat the last one closed */
        wom_sub *sub;
        wom_sub_opts so = WOM_SUB_OPTS_INIT;
        so.from = 108;
        CHECK_OK(wom_sub_open(c, &so, &sub));
        wom_sub_close(sub);
    }
    CHECK_OK(wom_tail(seats, &n1));
    CHECK_EQ(n1, n0);
    wom_sub *live;
    wom_sub_opts so = WOM_SUB_OPTS_INIT;
    so.from = 108;
    CHECK_OK(wom_sub_open(c, &so, &live));
    for (int i = 0; i < 8; i++)
        CHECK_OK(wom_chan_send(c, "m", 1, 0, NULL));
    CHECK_ERR(wom_chan_send(c, "m", 1, 0, NULL), WOM_ETIMEDOUT);
    wom_sub_close(live);
    close(ready[0]);
    close(ready[1]);
    wom_region_close(seats);
    wom_chan_close(c);
    wom_close(s);
    tspace_remove(&ts);
}
