/*
 * shm_ro_test.c - read-only opens (shm:PATH;ro): the whole space is mapped
 * read-only, every write is refused with WOM_EROFS, a stray write faults;
 * reads copy and validate instead of pinning, so they stay exact while
 * writers trim and reuse chunks under them; blocked readers are rung by
 * writers (or poll, without rights to the wake page) and see holes left by
 * dead appenders as abandoned.
 */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "engine/cell.h" /* bell_of */
#include "shm_util.h"

/* 1 while child pid has not exited (it stays reapable). */
static int running(pid_t pid)
{
    siginfo_t si = {0};
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* ---- writes refused, reads exact, stray writes fault ---- */

static int count_region(const wom_region_info *info, void *arg)
{
    (void)info;
    ++*(int *)arg;
    return 0;
}

TEST(shm_ro_refuses_writes_and_reads_everything, T_UNIT)
{
    struct tspace ts;
    char ro[160];
    tspace_make_ro(&ts, ro, sizeof ro);
    wom_space *s, *t;
    CHECK_ERR(wom_open(ro, &t), WOM_ENOENT); /* never creates */
    struct stat st;
    CHECK(stat(ts.path, &st) != 0);

    wom_region *log, *m;
    wom_chan *c;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &log));
    CHECK_OK(wom_region_open(s, "m", WOM_MANY, &m));
    for (uint64_t a = 0; a < 100; a++) {
        unsigned char b[4096];
        CHECK_OK(wom_append(log, b, value_make(a, b), NULL));
    }
    CHECK_OK(wom_store(m, 7, "seven", 5, NULL));
    CHECK_OK(wom_store(m, 7, "SEVEN", 5, NULL));
    wom_chan_opts co = {.bound = 16};
    CHECK_OK(wom_chan_open(s, "c", &co, &c));
    CHECK_OK(wom_chan_send(c, "m0", 2, 0, NULL));

    wom_region *rlog, *rm, *x;
    CHECK_OK(wom_open(ro, &t));
    CHECK_ERR(wom_region_open(t, "absent", WOM_ONCE, &x), WOM_ENOENT);
    CHECK_ERR(wom_region_open(t, "log", WOM_MANY, &x), WOM_EMODE);
    CHECK_OK(wom_region_open(t, "log", WOM_ONCE, &rlog));
    CHECK_OK(wom_region_open(t, "m", WOM_MANY, &rm));
    /* Every write is refused before it touches the (read-only) mapping. */
    CHECK_ERR(wom_put(rlog, 500, "x", 1), WOM_EROFS);
    CHECK_ERR(wom_append(rlog, "x", 1, NULL), WOM_EROFS);
    CHECK_ERR(wom_trim(rlog, 10), WOM_EROFS);
    CHECK_ERR(wom_store(rm, 1, "x", 1, NULL), WOM_EROFS);
    CHECK_ERR(wom_cas(rm, 7, 2, "x", 1, NULL), WOM_EROFS);
    wom_loan loan;
    CHECK_ERR(wom_loan_new(rlog, 8, &loan), WOM_EROFS);
    /* Reads: copies, views, streaming views, loads, tails, listings. */
    unsigned char b[4096];
    size_t len;
    uint64_t ver, tail;
    for (uint64_t a = 0; a < 100; a++) {
        CHECK_OK(wom_get(rlog, a, b, sizeof b, &len, 0));
        CHECK(value_ok(a, b, len));
    }
    wom_view v = WOM_VIEW_INIT;
    for (uint64_t a = 0; a < 100; a++) {
        CHECK_OK(wom_get_view_next(rlog, a, &v, 0));
        CHECK(value_ok(a, v.data, v.len));
    }
    wom_view_release(&v);
    CHECK_ERR(wom_get(rlog, 100, b, sizeof b, &len, 0), WOM_EEMPTY);
    CHECK_ERR(wom_get(rlog, 5000, b, sizeof b, &len, 0), WOM_EEMPTY); /* no leaf */
    CHECK_ERR(wom_get(rlog, 100, b, sizeof b, &len, 1000000), WOM_ETIMEDOUT);
    CHECK_OK(wom_load(rm, 7, b, sizeof b, &len, &ver));
    CHECK(len == 5 && memcmp(b, "SEVEN", 5) == 0 && ver == 2);
    CHECK_OK(wom_load(rm, 8, b, sizeof b, &len, &ver));
    CHECK(len == 0 && ver == 0);
    CHECK_ERR(wom_load(rm, 7, b, 2, &len, &ver), WOM_ENOBUFS);
    CHECK_EQ(len, 5);
    CHECK_OK(wom_wait(rm, 7, 1, 0)); /* version 2 is not 1: returns at once */
    CHECK_ERR(wom_wait(rm, 7, 2, 1000000), WOM_ETIMEDOUT);
    CHECK_OK(wom_tail(rlog, &tail));
    CHECK_EQ(tail, 100);
    wom_cell_info ci;
    CHECK_OK(wom_inspect(rlog, 3, &ci));
    CHECK(ci.state == WOM_CELL_WRITTEN && ci.len == value_make(3, b));
    int regions = 0;
    CHECK_OK(wom_regions(t, count_region, &regions));
    CHECK(regions >= 4); /* log, m, c, c.seats (and c.acks) */
    /* A channel: a read-only subscriber cannot take a seat, so it holds no
     * sender back; it reads what is there; sending is refused. */
    wom_chan *rc;
    wom_sub *sub;
    uint64_t at;
    CHECK_OK(wom_chan_open(t, "c", NULL, &rc));
    CHECK_OK(wom_sub_open(rc, NULL, &sub));
    CHECK_OK(wom_sub_recv(sub, b, sizeof b, &len, &at, 0));
    CHECK(len == 2 && memcmp(b, "m0", 2) == 0 && at == 0);
    CHECK_ERR(wom_chan_send(rc, "no", 2, 0, NULL), WOM_EROFS);
    for (int i = 0; i < 40; i++) /* bound 16: only seated readers hold it */
        CHECK_OK(wom_chan_send(c, "mm", 2, 0, NULL));
    wom_sub_close(sub);
    wom_chan_close(rc);

    /* A stray write into the read-only mapping faults instead of changing
     * the message (found by its bytes in the mapping). */
    size_t n42 = value_make(42, b);
    char *hit = memmem(wom__espace_of(t)->map, ld_relaxed(&wom__eng_of(t)->hdr->brk), b, n42);
    CHECK(hit != NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        ((volatile char *)hit)[9] ^= 1;
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status %d", status);
    CHECK_OK(wom_get(log, 42, b, sizeof b, &len, 0));
    CHECK(value_ok(42, b, len));

    wom_region_close(rlog);
    wom_region_close(rm);
    wom_close(t);
    wom_chan_close(c);
    wom_region_close(log);
    wom_region_close(m);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- following writers ---- */

TEST(shm_ro_readers_follow_writers, T_CONCURRENT)
{
    struct tspace ts;
    char ro[160];
    tspace_make_ro(&ts, ro, sizeof ro);
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(ts.uri, &s)); /* a read-only opener needs the space made */
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    uint64_t n = wom_test_n(100000);
    /* Readers first: they wait on cells whose leaf does not exist yet. */
    pid_t rd[2], wr[3];
    for (int i = 0; i < 2; i++)
        if ((rd[i] = fork()) == 0)
            _exit(read_ids(ro, 3, n, i));
    for (uint32_t i = 0; i < 3; i++)
        if ((wr[i] = fork()) == 0)
            _exit(append_ids(ts.uri, i, n));
    for (int i = 0; i < 3; i++)
        reap(wr[i], "writer");
    reap(rd[0], "read-only reader (copies)");
    reap(rd[1], "read-only reader (views)");
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* A read-only reader blocked on an empty cell counts itself in the wake
 * page, so a writer's put rings it; the count goes back to zero. A
 * process that dies counted leaves the count behind until an opener finds
 * no read-only process open. */
TEST(shm_ro_sleeper_is_rung_and_counted, T_UNIT)
{
    struct tspace ts;
    char ro[160];
    tspace_make_ro(&ts, ro, sizeof ro);
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    wom_a32 *count = &wom__eng_of(s)->hdr->wake.sleepers[wom__reg_of(r)->idx];
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            wom_space *t;
            wom_region *q;
            char b[16];
            size_t len;
            if (wom_open(ro, &t) || wom_region_open(t, "log", WOM_ONCE, &q) || !wom__eng_of(t)->ro_wake)
                _exit(2);
            int rc = wom_get(q, round, b, sizeof b, &len, 60000000000ll);
            _exit(rc == 0 && len == 5 && memcmp(b, "hello", 5) == 0 ? 0 : 3);
        }
        while (ld_seq(count) == 0) /* wait for the reader to sleep */
            sched_yield();
        if (round == 0) {
            uint32_t rung = ld_seq(bell_of(wom__reg_of(r), 0));
            CHECK_OK(wom_put(r, 0, "hello", 5));
            CHECK(ld_seq(bell_of(wom__reg_of(r), 0)) != rung); /* the put rang it */
            reap(pid, "read-only reader");
            CHECK_EQ(ld_seq(count), 0);
        } else {
            CHECK(kill(pid, SIGKILL) == 0); /* dies counted */
            CHECK(waitpid(pid, NULL, 0) == pid);
            CHECK_EQ(ld_seq(count), 1);
            wom_space *s2; /* no read-only process open: the count resets */
            CHECK_OK(wom_open(ts.uri, &s2));
            CHECK_EQ(ld_seq(count), 0);
            wom_close(s2);
        }
    }
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* A process with read rights only (root drops to "nobody"; the file is
 * 0644): a writable open is refused, a read-only one (;shared: the file
 * is another user's) works without the
 * wake page and its blocking read still returns the value a writer puts. */
TEST(shm_ro_with_read_rights_only, T_UNIT)
{
    struct tspace ts;
    char uri[160], ro[160];
    tspace_make(&ts);
    CHECK(chmod(ts.dir, 0755) == 0);
    snprintf(uri, sizeof uri, "%s;mode=0644", ts.uri);
    /* another user's file: only with ;shared (docs/shm.md, threat model) */
    snprintf(ro, sizeof ro, "%s;ro;shared", ts.uri);
    wom_space *s;
    wom_region *r;
    CHECK_OK(wom_open(uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (getuid() == 0 ? setuid(65534) != 0 : chmod(ts.path, 0444) != 0)
            _exit(10);
        wom_space *t;
        wom_region *q;
        if (wom_open(ts.uri, &t) != WOM_EPERM)
            _exit(11);
        if (wom_open(ro, &t) || wom__eng_of(t)->ro_wake || wom_region_open(t, "log", WOM_ONCE, &q))
            _exit(12);
        char b[16], one = 1;
        size_t len;
        if (write(ready[1], &one, 1) != 1)
            _exit(13);
        int rc = wom_get(q, 0, b, sizeof b, &len, 60000000000ll);
        _exit(rc == 0 && len == 2 && memcmp(b, "hi", 2) == 0 ? 0 : 14);
    }
    char one;
    CHECK(read(ready[0], &one, 1) == 1);
    CHECK_OK(wom_put(r, 0, "hi", 2));
    reap(pid, "read-only reader without rights to write");
    close(ready[0]);
    close(ready[1]);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- reads racing trim and chunk reuse ---- */

/* Values of about a MiB (every byte follows from the key in the first 8),
 * so an 8 MiB chunk holds seven and a copy takes long enough to race. */
#define BIG (1u << 20)
#define RACE_CELLS 2

static size_t big_make(uint64_t key, unsigned char *b)
{
    size_t len = BIG - 64 - (size_t)(key % 64);
    memcpy(b, &key, 8);
    for (size_t i = 8; i < len; i++)
        b[i] = (unsigned char)(key * 31 + (i >> 3) * 7);
    return len;
}

static int big_ok(const unsigned char *b, size_t len, uint64_t *key)
{
    static unsigned char want[BIG];
    if (len < 8)
        return 0;
    memcpy(key, b, 8);
    return len == big_make(*key, want) && memcmp(b, want, len) == 0;
}

/* Appends value k at address k (one appender) and keeps only the last 7,
 * so each chunk is released as the next one fills and is then reused at
 * once (the free stack is LIFO): the bytes of the oldest live value are
 * overwritten right after it is trimmed. Stores value k into MANY cell
 * k % RACE_CELLS, whose old records die and are reused just as fast. */
static int race_writer(const char *uri, uint64_t n)
{
    wom_space *s;
    wom_region *log, *m;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &log) ||
        wom_region_open(s, "m", WOM_MANY, &m))
        return 2;
    static unsigned char b[BIG];
    for (uint64_t k = 0; k < n; k++) {
        uint64_t at;
        size_t len = big_make(k, b);
        if (wom_append(log, b, len, &at) || at != k)
            return 3;
        if (wom_store(m, k % RACE_CELLS, b, len, NULL))
            return 4;
        if (k >= 7 && wom_trim(log, k - 6))
            return 5;
    }
    return 0;
}

/* Reads the oldest live address (the next to be reused), by copy and by
 * view in turn, and the MANY cells, until the tail reaches n: every read is
 * the exact value or WOM_ETRIMMED, never anything else. */
static int race_reader(const char *uri, uint64_t n, int opened)
{
    wom_space *s;
    wom_region *log, *m;
    char one = 1;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &log) ||
        wom_region_open(s, "m", WOM_MANY, &m) || write(opened, &one, 1) != 1)
        return 2;
    static unsigned char b[BIG];
    uint64_t key;
    wom_view v = WOM_VIEW_INIT;
    for (uint64_t i = 0;; i++) {
        wom_region_info info;
        if (wom_region_info_get(log, &info))
            return 3;
        if (info.tail >= n)
            break;
        if (info.tail == info.floor)
            continue;
        uint64_t a = info.floor;
        size_t len;
        int rc;
        if (i & 1) {
            rc = wom_get(log, a, b, sizeof b, &len, 0);
            if (rc == 0 && (!big_ok(b, len, &key) || key != a))
                return 4;
        } else {
            rc = wom_get_view_next(log, a, &v, 0);
            if (rc == 0 && (!big_ok(v.data, v.len, &key) || key != a))
                return 5;
        }
        if (rc != 0 && rc != WOM_ETRIMMED && rc != WOM_EEMPTY) { /* EEMPTY: in flight */
            fprintf(stderr, "read-only read of %" PRIu64 ": %s\n", a, wom_err_name(rc));
            return 6;
        }
        uint64_t ver;
        if ((rc = wom_load(m, i % RACE_CELLS, b, sizeof b, &len, &ver)))
            return 7;
        if (len && (!big_ok(b, len, &key) || key % RACE_CELLS != i % RACE_CELLS ||
                    ver != key / RACE_CELLS + 1))
            return 8; /* a torn MANY value, or one from another cell */
    }
    wom_view_release(&v);
    /* However often the writer lapped it (a slow sanitizer build), the last
     * values are never trimmed: they must read back exact. */
    size_t len;
    uint64_t ver;
    if (wom_get(log, n - 1, b, sizeof b, &len, 30000000000ll) || !big_ok(b, len, &key) ||
        key != n - 1)
        return 9;
    for (uint64_t c = 0; c < RACE_CELLS; c++)
        if (wom_load(m, c, b, sizeof b, &len, &ver) || !big_ok(b, len, &key) ||
            key % RACE_CELLS != c || ver != key / RACE_CELLS + 1)
            return 10;
    return 0;
}

TEST(shm_ro_reads_race_trim_and_reuse, T_CONCURRENT)
{
    struct tspace ts;
    char ro[160];
    tspace_make_ro(&ts, ro, sizeof ro);
    wom_space *s;
    wom_region *log, *m;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &log));
    CHECK_OK(wom_region_open(s, "m", WOM_MANY, &m));
    uint64_t n = wom_test_n(2000), seed = wom_test_seed(), tail = 0;
    /* Both die with the test, even stopped, should it fail half-way. */
    int opened[2];
    CHECK(pipe(opened) == 0);
    pid_t rd = fork();
    if (rd == 0)
        _exit(prctl(PR_SET_PDEATHSIG, SIGKILL) ? 2 : race_reader(ro, n, opened[1]));
    char one;
    CHECK(read(opened[0], &one, 1) == 1); /* never stopped inside its open (flock) */
    pid_t w = fork();
    if (w == 0)
        _exit(prctl(PR_SET_PDEATHSIG, SIGKILL) ? 2 : race_writer(ts.uri, n));
    /* Stop the reader at random instants (mostly mid-copy: a copy is most
     * of its loop) until the writer has lapped every value it could be
     * reading, so the copy's source is trimmed and overwritten under it. */
    int lapped = 0;
    while (tail + 16 < n && running(w)) {
        int64_t until = wom_test_now_ns() + (int64_t)(wom_test_rand(&seed) % 300000);
        while (wom_test_now_ns() < until)
            ; /* a random instant, not a synchronisation */
        CHECK(kill(rd, SIGSTOP) == 0);
        uint64_t from;
        CHECK_OK(wom_tail(log, &from));
        while ((tail = (wom_tail(log, &tail), tail)) < from + 16 && tail + 16 < n &&
               running(w))
            sched_yield(); /* until the writer has lapped the reader */
        lapped += tail >= from + 16;
        CHECK(kill(rd, SIGCONT) == 0);
    }
    CHECK(lapped > 0);
    reap(w, "writer");
    reap(rd, "read-only reader");
    close(opened[0]);
    close(opened[1]);
    wom_region_close(log);
    wom_region_close(m);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- dead appenders ---- */

/* A hole left by a dead appender: a read-only reader cannot fence it, but
 * it reports it abandoned (instead of waiting forever) once no live process
 * can fill it, and leaves the cell as it was. */
TEST(shm_ro_reader_sees_abandoned_hole, T_UNIT)
{
    struct tspace ts;
    char ro[160];
    tspace_make_ro(&ts, ro, sizeof ro);
    wom_space *s, *t;
    wom_region *r, *q;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    die_holding_an_address(r, 0);
    CHECK_OK(wom_append(r, "after", 5, NULL));
    CHECK_OK(wom_open(ro, &t));
    CHECK_OK(wom_region_open(t, "log", WOM_ONCE, &q));
    char b[16];
    size_t len;
    CHECK_ERR(wom_get(q, 0, b, sizeof b, &len, 10000000000ll), WOM_EABANDONED);
    CHECK_OK(wom_get(q, 1, b, sizeof b, &len, 0));
    CHECK(len == 5 && memcmp(b, "after", 5) == 0);
    wom_cell_info ci;
    CHECK_OK(wom_inspect(r, 0, &ci));
    CHECK(ci.state == WOM_CELL_CLAIMED); /* unchanged: the reader wrote nothing */
    CHECK_ERR(wom_get(r, 0, b, sizeof b, &len, 10000000000ll), WOM_EABANDONED); /* fenced */
    wom_region_close(q);
    wom_close(t);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}
