/*
 * shm_hostile_test.c - unlucky and hostile co-users of a shm: space (issue
 * 7): closed standard descriptors, files that are not ours, symbolic links,
 * other users' files and locks, forged liveness, regions stuck in creation,
 * no free process slot, files shrunk under their readers, creation and
 * power loss, bad paths. Each test fails on the tree before the fix.
 *
 * The hostile user is a second uid (HOSTILE_UID) that root switches to in a
 * child: the kernel's permission and lock checks need nothing more than the
 * number, and a uid with no account leaves nothing behind to remove. Tests
 * that need it say "skipped" (with the reason) when not run as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "shm_util.h"

#define HOSTILE_UID 64321
#define SLOT_LOCK_BASE ((off_t)1 << 62) /* as in src/space/shm.c */
#define SETUP_LOCK (SLOT_LOCK_BASE - 2)

static int skip_unless_root(const char *why)
{
    if (geteuid() == 0)
        return 0;
    fprintf(stderr, "  skipped: needs root to act as a second user (%s)\n", why);
    return 1;
}

/* A new space file (URI options opts) whose ONCE region "log" holds "a",
 * left open in *s and *r. */
static void space_with_log(struct tspace *ts, const char *opts, wom_space **s, wom_region **r)
{
    char uri[160];
    tspace_make(ts);
    snprintf(uri, sizeof uri, "%s%s", ts->uri, opts);
    open_log(uri, s, r);
    CHECK_OK(wom_append(*r, "a", 1, NULL));
}

/* The same closed again, in a directory others may enter, the file 0644. */
static void shared_space(struct tspace *ts)
{
    wom_space *s;
    wom_region *r;
    space_with_log(ts, ";mode=0644", &s, &r);
    CHECK(chmod(ts->dir, 0755) == 0);
    wom_region_close(r);
    wom_close(s);
}

/* The hostile user: a child that becomes HOSTILE_UID, runs fn (which takes
 * its locks), says so on a pipe and holds on until hostile_end. */
struct hostile {
    pid_t pid;
    int release; /* write end: closing it ends the child */
};

static struct hostile hostile_start(int (*fn)(const char *path, void *arg), const char *path,
                                    void *arg)
{
    int ready[2], hold[2];
    CHECK(pipe(ready) == 0 && pipe(hold) == 0);
    /* Not fork(): wom's fork handler would give the child a slot (a write
     * lock) of the test's open spaces before it drops its rights. */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    CHECK(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        if (setgid(HOSTILE_UID) || setuid(HOSTILE_UID))
            _exit(20);
        int rc = fn(path, arg);
        char c = (char)rc;
        if (write(ready[1], &c, 1) != 1 || rc)
            _exit(21);
        (void)read(hold[0], &c, 1); /* EOF when the test is done */
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    char c = 1;
    CHECK_MSG(read(ready[0], &c, 1) == 1 && c == 0, "hostile user failed to set up (%d)", c);
    close(ready[0]);
    return (struct hostile){pid, hold[1]};
}

static void hostile_end(struct hostile *h)
{
    close(h->release);
    reap(h->pid, "hostile user");
}

/* Lock `n` bytes from `at` with `type` on a descriptor of the file. */
static int lock_bytes(int fd, off_t at, off_t n, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = n};
    return fcntl(fd, F_OFD_SETLK, &fl);
}

/* ---- 2: standard descriptors ---- */

/* A program started with stdin, stdout and stderr closed opens a space and
 * then writes its output to descriptor 1: the space must not be there. */
TEST(shm_hostile_std_descriptors_stay_free, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    space_with_log(&ts, "", &s, &r);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wom_space *t;
        wom_region *q;
        close(0);
        close(1);
        close(2);
        if (wom_open(ts.uri, &t) || wom_region_open(t, "log", WOM_ONCE, &q) ||
            wom_append(q, "b", 1, NULL))
            _exit(2);
        for (int fd = 0; fd <= 2; fd++)
            if (fcntl(fd, F_GETFD) != -1)
                _exit(3); /* the space (or something of it) took a standard slot */
        /* What the program would print: it must reach no file of ours. */
        if (write(1, "0\n", 2) != -1 || errno != EBADF)
            _exit(4);
        _exit(0);
    }
    reap(pid, "program with closed standard descriptors");
    char b[4];
    size_t len;
    CHECK_OK(wom_get(r, 1, b, sizeof b, &len, 0));
    CHECK(len == 1 && b[0] == 'b');
    wom_region_close(r);
    wom_close(s);
    CHECK_OK(wom_open(ts.uri, &s)); /* the header is intact */
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 3: files that are not ours ---- */

static void write_file(const char *path, const void *b, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, b, n) == (ssize_t)n);
    close(fd);
}

static int file_is(const char *path, const void *b, size_t n)
{
    static char got[1 << 16];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t k = read(fd, got, sizeof got);
    close(fd);
    return k == (ssize_t)n && memcmp(got, b, n) == 0;
}

/* Someone's file that starts with zero bytes (a disk image, a sparse file)
 * is neither formatted nor changed, by a writer or a read-only opener; an
 * empty file is a new space. */
TEST(shm_hostile_foreign_file_is_not_formatted, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    static char data[4512];
    memset(data, 0, 512);
    for (size_t i = 512; i < sizeof data; i++)
        data[i] = "data"[i % 4];
    write_file(ts.path, data, sizeof data, 0600);
    char ro[160];
    snprintf(ro, sizeof ro, "%s;ro", ts.uri);
    wom_space *s;
    CHECK_ERR(wom_open(ts.uri, &s), WOM_ECORRUPT);
    CHECK_MSG(strstr(wom_last_error(), "not a wom space"), "says: %s", wom_last_error());
    CHECK_ERR(wom_open(ro, &s), WOM_ECORRUPT);
    CHECK_MSG(file_is(ts.path, data, sizeof data), "the file was changed");
    write_file(ts.path, "", 0, 0600); /* empty: ours to format */
    CHECK_OK(wom_open(ts.uri, &s));
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 4: symbolic links ---- */

TEST(shm_hostile_symlinks_are_not_followed, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    char victim[128], link[128], dangling[128], uri[300];
    snprintf(victim, sizeof victim, "%s/victim", ts.dir);
    snprintf(link, sizeof link, "%s/link", ts.dir);
    snprintf(dangling, sizeof dangling, "%s/dangling", ts.dir);
    static char zeros[8192];
    write_file(victim, zeros, sizeof zeros, 0600); /* starts with 8 zero bytes */
    CHECK(symlink(victim, link) == 0);
    CHECK(symlink(ts.path, dangling) == 0); /* ts.path does not exist */
    wom_space *s;
    snprintf(uri, sizeof uri, "shm:%s", link);
    CHECK_ERR(wom_open(uri, &s), WOM_EPERM);
    CHECK_MSG(strstr(wom_last_error(), "symbolic link"), "says: %s", wom_last_error());
    CHECK_MSG(file_is(victim, zeros, sizeof zeros), "the link's target was changed");
    snprintf(uri, sizeof uri, "shm:%s;ro", link);
    CHECK_ERR(wom_open(uri, &s), WOM_EPERM);
    snprintf(uri, sizeof uri, "shm:%s", dangling);
    CHECK_ERR(wom_open(uri, &s), WOM_EPERM);
    CHECK_MSG(access(ts.path, F_OK) != 0, "a space was created through a dangling link");
    /* Asked for explicitly: the target (an empty file of ours) is used. */
    write_file(victim, "", 0, 0600);
    snprintf(uri, sizeof uri, "shm:%s;follow", link);
    CHECK_OK(wom_open(uri, &s));
    wom_close(s);
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(stat(victim, &st) == 0 && st.st_size > 0);
    CHECK(unlink(link) == 0 && unlink(dangling) == 0 && unlink(victim) == 0);
    CHECK(rmdir(ts.dir) == 0);
}

/* ---- 5: other users' files ---- */

TEST(shm_hostile_foreign_or_world_writable_file_refused, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    char uri[200];
    wom_space *s;
    /* Our own file, writable by everyone: anyone could change its values. */
    write_file(ts.path, "", 0, 0600);
    CHECK(chmod(ts.path, 0666) == 0);
    CHECK_ERR(wom_open(ts.uri, &s), WOM_EPERM);
    CHECK_MSG(strstr(wom_last_error(), "writable by every user"), "says: %s", wom_last_error());
    CHECK(chmod(ts.path, 0600) == 0);
    if (skip_unless_root("chown to another user")) {
        CHECK(unlink(ts.path) == 0 && rmdir(ts.dir) == 0);
        return;
    }
    /* Pre-created by another user, 0666: its owner would read our values. */
    CHECK(chown(ts.path, HOSTILE_UID, HOSTILE_UID) == 0 && chmod(ts.path, 0666) == 0);
    CHECK_ERR(wom_open(ts.uri, &s), WOM_EPERM);
    CHECK_MSG(strstr(wom_last_error(), "belongs to user"), "says: %s", wom_last_error());
    struct stat st;
    CHECK(stat(ts.path, &st) == 0 && st.st_size == 0); /* untouched */
    snprintf(uri, sizeof uri, "%s;shared", ts.uri); /* the user says it is fine */
    CHECK_OK(wom_open(uri, &s));
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 6: someone else's lock on the file ---- */

static int hostile_flock(const char *path, void *arg)
{
    (void)arg;
    int fd = open(path, O_RDONLY);
    return fd < 0 ? 1 : flock(fd, LOCK_EX) ? 2 : 0; /* read rights suffice */
}

static int hostile_setup_lock(const char *path, void *arg)
{
    (void)arg;
    int fd = open(path, O_RDONLY);
    return fd < 0 ? 1 : lock_bytes(fd, SETUP_LOCK, 1, F_RDLCK) ? 2 : 0;
}

/* A user who may only read the file holds flock -x on it: opens go on. It
 * holds the one lock opens do take (a read lock on the set-up byte): an
 * open waits its deadline and says so, never forever. */
TEST(shm_hostile_locks_do_not_hang_opens, T_UNIT)
{
    if (skip_unless_root("a second user holds the locks"))
        return;
    struct tspace ts;
    shared_space(&ts);
    char ro[160], quick[160];
    snprintf(ro, sizeof ro, "%s;ro", ts.uri);
    snprintf(quick, sizeof quick, "%s;timeout=300", ts.uri);
    wom_space *s;
    struct hostile h = hostile_start(hostile_flock, ts.path, NULL);
    CHECK_OK(wom_open(ts.uri, &s));
    wom_close(s);
    CHECK_OK(wom_open(ro, &s));
    wom_close(s);
    hostile_end(&h);
    h = hostile_start(hostile_setup_lock, ts.path, NULL);
    int64_t t0 = wom_test_now_ns();
    CHECK_ERR(wom_open(quick, &s), WOM_EBUSY);
    int64_t waited = wom_test_now_ns() - t0;
    CHECK_MSG(waited >= 300000000 && waited < 5000000000, "waited %lld ns", (long long)waited);
    CHECK_MSG(strstr(wom_last_error(), "set-up lock"), "says: %s", wom_last_error());
    CHECK_OK(wom_open(ro, &s)); /* a read lock does not stop a reader */
    wom_close(s);
    hostile_end(&h);
    CHECK_OK(wom_open(quick, &s)); /* free again */
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 7: forged liveness ---- */

/* Read-lock slots [arg[0], arg[0] + arg[1]). */
static int hostile_slot_locks(const char *path, void *arg)
{
    const off_t *slots = arg;
    int fd = open(path, O_RDONLY);
    return fd < 0 ? 1 : lock_bytes(fd, SLOT_LOCK_BASE + slots[0], slots[1], F_RDLCK) ? 2 : 0;
}

/* The slot a process that died holding an appended address had. */
static uint32_t dead_slot(wom_region *r)
{
    struct wom__seg_hdr *h = wom__reg_of(r)->e->hdr;
    for (uint32_t j = 0; j < WOM__NPROCS; j++)
        if (ld_seq(&h->procs[j].busy) == wom__reg_of(r)->idx + 1)
            return j;
    CHECK_MSG(0, "no slot is busy on the region");
    return 0;
}

/* A user who may only read the file read-locks the slot byte of an appender
 * that died mid-append: the hole is still found abandoned (a read lock is
 * no evidence of life). Read-locking every slot keeps writers out with a
 * clear error; it never makes them run without a slot. */
TEST(shm_hostile_read_locks_forge_no_liveness, T_UNIT)
{
    if (skip_unless_root("a second user holds the locks"))
        return;
    struct tspace ts;
    shared_space(&ts);
    wom_space *s;
    wom_region *r;
    open_log(ts.uri, &s, &r);
    die_holding_an_address(r, 1);
    off_t slots[2] = {(off_t)dead_slot(r), 1};
    struct hostile h = hostile_start(hostile_slot_locks, ts.path, slots);
    char b[8];
    size_t len;
    CHECK_ERR(wom_get(r, 1, b, sizeof b, &len, 5000000000ll), WOM_EABANDONED);
    CHECK_OK(wom_append(r, "c", 1, NULL));
    hostile_end(&h);
    slots[0] = 1; /* every slot but s's (0): s holds a write lock there */
    slots[1] = WOM__NPROCS - 1;
    CHECK_EQ(wom__eng_of(s)->self, 0);
    h = hostile_start(hostile_slot_locks, ts.path, slots);
    wom_space *t;
    CHECK_ERR(wom_open(ts.uri, &t), WOM_EBUSY);
    CHECK_MSG(strstr(wom_last_error(), "process slots"), "says: %s", wom_last_error());
    hostile_end(&h);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 8: a region stuck in creation ---- */

static uint32_t region_index(wom_space *s, const char *name)
{
    wom_region *r;
    CHECK_OK(wom_region_open(s, name, WOM_ONCE, &r));
    uint32_t i = wom__reg_of(r)->idx;
    wom_region_close(r);
    return i;
}

/* A region's state word says "being created" with no creator (a damaged
 * file) or a creator that is not a slot: while others have the space open,
 * opening it is WOM_ECORRUPT at once; a lone opener sets it free again (no
 * creator can be alive), so it opens. Neither hangs. */
TEST(shm_hostile_region_stuck_in_creation, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s, *t;
    wom_region *r;
    CHECK_OK(wom_open(ts.uri, &s));
    uint32_t i = region_index(s, "log");
    wom_a32 *state = &wom__eng_of(s)->hdr->regions[i].state;
    CHECK_OK(wom_open(ts.uri, &t)); /* another process's view of the space */
    st_seq(state, 1);                /* INIT, no creator */
    CHECK_ERR(wom_region_open(t, "log", WOM_ONCE, &r), WOM_ECORRUPT);
    st_seq(state, 1 | (300u << 2)); /* INIT by "slot 299" */
    CHECK_ERR(wom_region_open(t, "log", WOM_ONCE, &r), WOM_ECORRUPT);
    st_seq(state, 1);
    wom_close(t);
    wom_close(s);
    CHECK_OK(wom_open(ts.uri, &s)); /* alone: recovered */
    int64_t t0 = wom_test_now_ns();
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    CHECK(wom_test_now_ns() - t0 < 1000000000);
    CHECK_OK(wom_append(r, "x", 1, NULL));
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 9: no free process slot ---- */

/* Every slot is held (here by this test, with write locks): a writable open
 * is refused with WOM_EBUSY and says why, instead of running without crash
 * recovery; a read-only open (no slot needed) works. */
TEST(shm_hostile_no_free_slot_is_an_error, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    space_with_log(&ts, "", &s, &r);
    char ro[160];
    snprintf(ro, sizeof ro, "%s;ro", ts.uri);
    int fd = open(ts.path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(lock_bytes(fd, SLOT_LOCK_BASE + 1, WOM__NPROCS - 1, F_WRLCK) == 0); /* s has 0 */
    wom_space *t;
    CHECK_ERR(wom_open(ts.uri, &t), WOM_EBUSY);
    CHECK_MSG(strstr(wom_last_error(), "process slots"), "says: %s", wom_last_error());
    /* A child forked now cannot get a slot of its own: it may only read. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char b[4];
        size_t len;
        _exit(wom_append(r, "z", 1, NULL) != WOM_EROFS ? 2
              : wom_get(r, 0, b, sizeof b, &len, 0) || len != 1 ? 3 : 0);
    }
    reap(pid, "child without a slot");
    CHECK_OK(wom_open(ro, &t));
    wom_close(t);
    close(fd);
    CHECK_OK(wom_open(ts.uri, &t));
    wom_close(t);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* ---- 10: a file shrunk under its readers ---- */

/* A follower blocked on the next address while the file is truncated gets
 * an error (it reads zeros where the file ended), never SIGBUS; read-write
 * and read-only alike. A 0-byte file that live processes still map is not
 * formatted again; a file shorter than its header says is refused. */
static int follow_until_error(const char *uri, uint32_t ready_fd, uint64_t from)
{
    wom_space *s;
    wom_region *r;
    if (wom_open(uri, &s) || wom_region_open(s, "log", WOM_ONCE, &r))
        return 2;
    char c = 0, b[64];
    size_t len;
    if (write((int)ready_fd, &c, 1) != 1)
        return 3;
    int rc = wom_get(r, from, b, sizeof b, &len, 20000000000ll);
    return rc == WOM_ECORRUPT ? 0 : 10 + (rc == 0 ? 0 : 1);
}

TEST(shm_hostile_file_shrunk_under_followers, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    space_with_log(&ts, "", &s, &r);
    char ro[160];
    snprintf(ro, sizeof ro, "%s;ro", ts.uri);
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t rw = spawn(follow_until_error, ts.uri, (uint32_t)ready[1], 1);
    pid_t rd = spawn(follow_until_error, ro, (uint32_t)ready[1], 1);
    char c;
    CHECK(read(ready[0], &c, 1) == 1 && read(ready[0], &c, 1) == 1);
    CHECK(truncate(ts.path, 0) == 0);
    reap(rw, "read-write follower of a truncated file");
    reap(rd, "read-only follower of a truncated file");
    char b[8];
    size_t len;
    CHECK_ERR(wom_get(r, 0, b, sizeof b, &len, 0), WOM_ECORRUPT); /* here too */
    wom_space *t;
    CHECK_ERR(wom_open(ts.uri, &t), WOM_ECORRUPT); /* s still maps it */
    CHECK_MSG(strstr(wom_last_error(), "truncated"), "says: %s", wom_last_error());
    wom_region_close(r);
    wom_close(s);
    CHECK(unlink(ts.path) == 0);
    /* At rest, shorter than its header says. */
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_OK(wom_region_open(s, "log", WOM_ONCE, &r));
    static char big[1 << 20];
    CHECK_OK(wom_append(r, big, sizeof big, NULL));
    wom_region_close(r);
    wom_close(s);
    struct stat st;
    CHECK(stat(ts.path, &st) == 0);
    CHECK(truncate(ts.path, st.st_size / 2) == 0);
    CHECK_ERR(wom_open(ts.uri, &s), WOM_ECORRUPT);
    CHECK_ERR(wom_open(ro, &s), WOM_ECORRUPT);
    close(ready[0]);
    close(ready[1]);
    tspace_remove(&ts);
}

/* ---- 12: a new file survives power loss ---- */

/* Creating a space makes its directory entry durable: strace must show an
 * fsync of the directory (power loss cannot be simulated here; the call is
 * what makes the entry survive one). */
TEST(shm_hostile_creation_syncs_the_directory, T_UNIT)
{
    if (access("/usr/bin/strace", X_OK) != 0) {
        fprintf(stderr, "  skipped: strace is not installed (sh scripts/deps.sh test)\n");
        return;
    }
    struct tspace ts;
    tspace_make(&ts);
    char cmd[600], log[128];
    snprintf(log, sizeof log, "%s/trace", ts.dir);
    /* LeakSanitizer cannot run under ptrace (sanitizer builds) */
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 strace -f -y -e trace=fsync,fdatasync "
             "-o %s %s/wom append %s log x >/dev/null",
             log, WOM_BUILD_DIR, ts.uri);
    CHECK_EQ(system(cmd), 0);
    FILE *f = fopen(log, "r");
    CHECK(f);
    char line[512];
    int dir_synced = 0, file_synced = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "fsync(");
        if (p && strstr(p, ts.dir) && !strstr(p, ts.path) && strstr(p, "= 0"))
            dir_synced = 1;
        if (strstr(line, "fdatasync(") && strstr(line, ts.path))
            file_synced = 1;
    }
    fclose(f);
    CHECK_MSG(dir_synced, "no fsync of %s", ts.dir);
    CHECK_MSG(file_synced, "no fdatasync of %s", ts.path);
    CHECK(unlink(log) == 0);
    tspace_remove(&ts);
}

/* ---- 13: bad paths, names and limits ---- */

TEST(shm_hostile_bad_paths_and_names, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    char uri[200];
    wom_space *s;
    snprintf(uri, sizeof uri, "shm:%s", ts.dir);
    CHECK_ERR(wom_open(uri, &s), WOM_EINVAL);
    CHECK_MSG(strstr(wom_last_error(), "is a directory"), "says: %s", wom_last_error());
    CHECK_ERR(wom_open("shm:/dev/null", &s), WOM_EINVAL);
    CHECK_MSG(strstr(wom_last_error(), "not a regular file"), "says: %s", wom_last_error());
    /* Names are printable: control bytes would reach terminals through ls. */
    wom_region *r;
    CHECK_OK(wom_open(ts.uri, &s));
    CHECK_ERR(wom_region_open(s, "a\033[2Jb", WOM_ONCE, &r), WOM_EINVAL);
    CHECK_ERR(wom_region_open(s, "line\nbreak", WOM_ONCE, &r), WOM_EINVAL);
    CHECK_OK(wom_region_open(s, "caf\xc3\xa9", WOM_ONCE, &r)); /* UTF-8 is fine */
    wom_region_close(r);
    wom_close(s);
    /* Under ulimit -v the default 64 GiB reservation cannot be mapped: the
     * error says why and what to do. (Sanitizers cannot run under such a
     * limit: their shadow memory alone is larger.) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    fprintf(stderr, "  skipped: the ulimit -v part (sanitizer build)\n");
    tspace_remove(&ts);
    return;
#endif
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {1ull << 30, 1ull << 30};
        char other[160];
        snprintf(other, sizeof other, "shm:%s/small.wom", ts.dir);
        if (setrlimit(RLIMIT_AS, &rl))
            _exit(2);
        int rc = wom_open(other, &s);
        if (rc != WOM_ENOMEM || !strstr(wom_last_error(), "ulimit"))
            _exit(3);
        snprintf(other, sizeof other, "shm:%s/small.wom;size=256M", ts.dir);
        if (wom_open(other, &s))
            _exit(4);
        wom_close(s);
        _exit(0);
    }
    reap(pid, "open under ulimit -v");
    char small[128];
    snprintf(small, sizeof small, "%s/small.wom", ts.dir);
    CHECK(unlink(small) == 0);
    tspace_remove(&ts);
}

/* ---- found by review: forks, truncation under read-only readers ---- */

/* Descriptors of this process open on the file at path. */
static int fds_on(const char *path)
{
    struct stat want, st;
    CHECK(stat(path, &want) == 0);
    int n = 0;
    for (int fd = 3; fd < 1024; fd++)
        n += fstat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino;
    return n;
}

struct opener {
    const char *uri;
    int slot; /* the slot the open got */
};

static void *open_once(void *p)
{
    struct opener *o = p;
    wom_space *s;
    CHECK_OK(wom_open(o->uri, &s));
    o->slot = (int)wom__eng_of(s)->self;
    wom_close(s);
    return NULL;
}

/* A fork while another thread is inside wom_open (here: waiting for the
 * set-up lock, which the test holds) must not hand the child that open's
 * descriptor: the slot lock the open takes on it next would live on in the
 * child after the parent closed the space, so the parent's next open would
 * find slot 0 taken. */
TEST(shm_hostile_fork_during_open_leaks_no_slot, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    CHECK_OK(wom_open(ts.uri, &s));
    wom_close(s);
    int lock_fd = open(ts.path, O_RDWR);
    CHECK(lock_fd >= 0);
    CHECK(lock_bytes(lock_fd, SETUP_LOCK, 1, F_WRLCK) == 0);
    int before = fds_on(ts.path);
    struct opener o = {ts.uri, -1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, open_once, &o) == 0);
    /* Wait (bounded by the test's timeout) until the open holds its
     * descriptor and waits for the lock: that is what the fork must meet. */
    while (fds_on(ts.path) == before)
        sched_yield();
    int hold[2];
    CHECK(pipe(hold) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char c;
        close(lock_fd); /* the test's lock, not wom's: the child lets go of it */
        close(hold[1]);
        _exit(read(hold[0], &c, 1) == 0 ? 0 : 1); /* until the test lets go */
    }
    close(lock_fd); /* the open goes on, takes slot 0, closes */
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_EQ(o.slot, 0);
    open_once(&o); /* slot 0 must be free again: no child holds it */
    close(hold[1]);
    reap(pid, "child forked during an open");
    close(hold[0]);
    CHECK_EQ(o.slot, 0);
    tspace_remove(&ts);
}

/* A file truncated to 0 while only read-only processes map it is not
 * formatted again: they would read the new space's values as the old. */
TEST(shm_hostile_truncated_under_readers_not_formatted, T_UNIT)
{
    struct tspace ts;
    wom_space *s, *t;
    wom_region *r;
    space_with_log(&ts, "", &s, &r);
    wom_region_close(r);
    wom_close(s);
    char ro[160];
    snprintf(ro, sizeof ro, "%s;ro", ts.uri);
    CHECK_OK(wom_open(ro, &t));
    CHECK(truncate(ts.path, 0) == 0);
    CHECK_ERR(wom_open(ts.uri, &s), WOM_ECORRUPT);
    struct stat st;
    CHECK(stat(ts.path, &st) == 0 && st.st_size == 0);
    wom_close(t);
    CHECK_OK(wom_open(ts.uri, &s)); /* nobody maps it now: a new space */
    wom_close(s);
    tspace_remove(&ts);
}

/* A child whose fork handler cannot reopen the file (no descriptor left)
 * may only read, and must not see its live parent as dead. */
TEST(shm_hostile_fork_without_descriptors, T_UNIT)
{
    struct tspace ts;
    wom_space *s;
    wom_region *r;
    space_with_log(&ts, "", &s, &r);
    uint64_t me = wom_holder(s);
    CHECK(me != 0);
    struct rlimit was, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &was) == 0);
    int lowest = dup(0);
    CHECK(lowest >= 0);
    close(lowest);
    low = (struct rlimit){(rlim_t)lowest, was.rlim_max};
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0); /* the next open fails */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(wom_holder_alive(s, me) != 1 ? 2 : wom_append(r, "z", 1, NULL) != WOM_EROFS ? 3 : 0);
    CHECK(setrlimit(RLIMIT_NOFILE, &was) == 0);
    reap(pid, "child without descriptors");
    CHECK_OK(wom_append(r, "b", 1, NULL));
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}

/* A child that releases a view it inherited across fork must not drop the
 * parent's pin: the parent's view has to stay exact while the chunk under
 * it is trimmed and the space's chunks are reused. */
TEST(shm_hostile_inherited_view_keeps_the_parents_pin, T_UNIT)
{
    struct tspace ts;
    tspace_make(&ts);
    wom_space *s;
    wom_region *r;
    open_log(ts.uri, &s, &r);
    static unsigned char big[1 << 20], want[1 << 20];
    memset(want, 0x5a, sizeof want - 64);
    CHECK_OK(wom_append(r, want, sizeof want - 64, NULL));
    wom_view v = WOM_VIEW_INIT;
    CHECK_OK(wom_get_view(r, 0, &v, 0));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wom_view_release(&v); /* the child's copy of the view */
        _exit(0);
    }
    reap(pid, "child releasing an inherited view");
    /* Retire the chunk and make the allocator reuse released chunks. */
    for (int round = 0; round < 6; round++) {
        uint64_t tail;
        memset(big, round, sizeof big - 64);
        for (int i = 0; i < 16; i++)
            CHECK_OK(wom_append(r, big, sizeof big - 64, NULL));
        CHECK_OK(wom_tail(r, &tail));
        CHECK_OK(wom_trim(r, tail));
    }
    CHECK(v.len == sizeof want - 64 && memcmp(v.data, want, v.len) == 0);
    wom_view_release(&v);
    wom_region_close(r);
    wom_close(s);
    tspace_remove(&ts);
}
