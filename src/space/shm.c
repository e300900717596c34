/*
 * shm.c - the "shm:PATH" scope: the engine on a shared file mapping, shared
 * by the processes of one host. PATH on disk makes the space persistent;
 * under /dev/shm it lives in RAM.
 *
 * Every process maps the whole reserved range (recorded in the header) up
 * front; the file only grows as the allocator hands memory out (fallocate,
 * which never shrinks a file, so racing growers cannot undo each other), so
 * other processes see new parts without remapping. Creation and validation
 * run under an exclusive lock on one byte of the file (an OFD lock, taken
 * with a deadline: a user who may only read the file can hold a read lock
 * there, but only until our deadline), so any number of processes may
 * create or open the same space at once. A creator marks the file as being
 * formatted before anything else and writes the magic last, so a creator
 * that died half-way leaves a file the next opener formats again; any other
 * file that is not empty and not a space is refused, never formatted.
 *
 * Co-users are not trusted (docs/shm.md, "Threat model"): PATH must be a
 * regular file that is not a symbolic link, owned by this user and not
 * writable by others, unless the URI says ;follow (follow a symbolic link)
 * or ;shared (accept a file of another user, or one others may write).
 * Liveness is a write lock, which only a process that may write the file
 * can take: a reader cannot fake a live process by holding read locks.
 *
 * URI: shm:PATH[;size=BYTES][;mode=OCTAL][;ro][;shared][;follow]
 * [;timeout=MS] (size: reserved range for a new space, default 64G; mode:
 * permissions of a new file, default 0600; ro: open an existing space
 * read-only; timeout: how long an open waits for another process's lock,
 * default 5000).
 *
 * Read-only: the whole range is mapped PROT_READ, so a stray write faults
 * instead of changing a message. If the file lets the process write, the
 * one wake page (read-only sleepers' counts) is made writable so writers
 * ring it; otherwise it polls its bells every RO_POLL_NS. A read-only
 * process holds a shared lock on RO_LOCK while open, so an opener that
 * finds none may reset the counts dead read-only sleepers left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "space/space.h"
#include "util/fault.h"
#include "util/plat.h"

#define SHM_DEFAULT_SIZE (64ull << 30)
#define SHM_MAX_SIZE (1ull << 46) /* what a header may claim: 64 TiB */
#define SHM_PATH_MAX 4096
#define SHM_DEFAULT_TIMEOUT_MS 5000
/* The first 8 bytes of a file being formatted: a creator writes them before
 * anything else, so a file that holds them (and no magic yet) is ours, left
 * half-made by a creator that died. Any other non-empty file is not ours. */
#define SHM_FORMING 0x474e494d524f4657ull /* "WFORMING" */

/* A shm: space: the engine over the file's mapping (es, first: the
 * space's impl), and the host interface the engine calls back (ctx = this). */
struct shm_backend {
    struct wom__espace es;
    struct wom__host host;
    int fd;
    int ro;
    int follow; /* the URI said ;follow */
    int listed;  /* on the fork handler's list */
    int opening; /* ... and still being opened (spaces_lock) */
    char path[SHM_PATH_MAX];
    struct shm_backend *next; /* the process's open shm: spaces */
};

static int errno_to_wom(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
        return WOM_EPERM;
    case ENOENT:
    case ENOTDIR:
        return WOM_ENOENT;
    case ENAMETOOLONG:
        return WOM_ENAMETOOLONG;
    case EISDIR:
    case ELOOP:
        return WOM_EINVAL;
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        return WOM_ENOSPC;
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return WOM_ENOMEM;
    case EAGAIN: /* EWOULDBLOCK too */
    case EBUSY:
        return WOM_EBUSY;
    default:
        return WOM_EIO; /* what else the kernel says about a file is an I/O failure */
    }
}

/* 1 while the file still holds the whole space: at least its header and
 * everything below brk (every allocation backs its memory before brk moves
 * past it). A file truncated under the mapping marks the space broken, so
 * that this process never extends or punches the file again: it may hold
 * someone else's new space by then. (A truncation between this check and
 * the call that follows it is not caught here, only by the fault guard.) */
static int shm_intact(struct shm_backend *b)
{
    wom__eng *e = &b->es.eng;
    struct stat st;
    /* acquire: pairs with the fault handler's release (util/fault.h) */
    if (ld_acquire(&b->es.broken))
        return 0;
    /* brk before the size: an allocator extends the file before it moves
     * brk (release), so the size read after this acquire covers the brk
     * read; read the other way round, a racing allocation looks like a
     * truncation. */
    uint64_t brk = ld_acquire(&e->hdr->brk);
    if (brk > e->size)
        brk = e->size;
    if (fstat(b->fd, &st) == 0 && (uint64_t)st.st_size >= eng_first() &&
        (uint64_t)st.st_size >= brk)
        return 1;
    st_release(&b->es.broken, 1); /* release: as the fault handler's */
    return 0;
}

/* Allocate the file's blocks for [start, end), extending the file when end
 * is past it: writes to the mapping there can then never fault for want of
 * space (a full disk is WOM_ENOSPC here, not SIGBUS later), and fallocate
 * never shrinks a file, so racing growers cannot undo each other. */
static int shm_grow(void *ctx, uint64_t start, uint64_t end)
{
    struct shm_backend *b = ctx;
    if (!shm_intact(b))
        return WOM_ECORRUPT;
    if (fallocate(b->fd, 0, (off_t)start, (off_t)(end - start)) != 0)
        return errno_to_wom(errno);
    return 0;
}

static void shm_discard(void *ctx, uint64_t off, uint64_t len)
{
    struct shm_backend *b = ctx;
    /* The pages read as zero afterwards, in every process. */
    if (shm_intact(b))
        (void)fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
}

struct shm_uri {
    char path[SHM_PATH_MAX];
    uint64_t size;
    mode_t mode;
    int ro, shared, follow;
    uint64_t timeout_ms;
};

static int parse_mode(const char *s, mode_t *out)
{
    if (*s < '0' || *s > '7')
        return WOM_EURI;
    unsigned v = 0;
    for (; *s >= '0' && *s <= '7'; s++)
        if ((v = v * 8 + (unsigned)(*s - '0')) > 0777)
            return WOM_EURI;
    if (*s)
        return WOM_EURI;
    *out = (mode_t)v;
    return 0;
}

static int set_flag(int *f)
{
    *f = 1;
    return 0;
}

/* Split "PATH[;size=N][;mode=M][;ro][;shared][;follow][;timeout=MS]". */
static int parse_uri(const char *rest, struct shm_uri *u)
{
    const char *semi = strchr(rest, ';');
    size_t n = semi ? (size_t)(semi - rest) : strlen(rest);
    if (n == 0)
        return WOM_EURI;
    if (n >= sizeof u->path)
        return WOM_ENAMETOOLONG;
    memcpy(u->path, rest, n);
    u->path[n] = 0;
    u->size = SHM_DEFAULT_SIZE;
    u->mode = 0600;
    u->ro = u->shared = u->follow = 0;
    u->timeout_ms = SHM_DEFAULT_TIMEOUT_MS;
    char opt[64];
    while (semi) {
        const char *next = strchr(semi + 1, ';');
        size_t k = next ? (size_t)(next - semi - 1) : strlen(semi + 1);
        if (k >= sizeof opt)
            return WOM_EURI;
        memcpy(opt, semi + 1, k);
        opt[k] = 0;
        int rc = WOM_EURI;
        if (!strncmp(opt, "size=", 5))
            rc = wom__parse_size(opt + 5, &u->size) ? WOM_EURI : 0;
        else if (!strncmp(opt, "mode=", 5))
            rc = parse_mode(opt + 5, &u->mode);
        else if (!strncmp(opt, "timeout=", 8))
            rc = wom__parse_size(opt + 8, &u->timeout_ms) || u->timeout_ms > 86400000
                     ? WOM_EURI : 0;
        else if (!strcmp(opt, "ro"))
            rc = set_flag(&u->ro);
        else if (!strcmp(opt, "shared"))
            rc = set_flag(&u->shared);
        else if (!strcmp(opt, "follow"))
            rc = set_flag(&u->follow);
        if (rc)
            return rc;
        semi = next;
    }
    if (u->size > SHM_MAX_SIZE || u->size < WOM__MIN_SEGMENT)
        return wom__fail(WOM_EINVAL, "%s: ;size= must lie between %llu bytes and %llu bytes",
                         u->path, (unsigned long long)WOM__MIN_SEGMENT,
                         (unsigned long long)SHM_MAX_SIZE);
    return 0;
}

static void shm_close(struct wom__espace *es);

/* Process liveness: each process holds an open-file-description write lock
 * on one byte (far past the data) per slot it owns. The kernel drops it when
 * the process dies, however it dies, and it is not fooled by a reused PID.
 * Only a write lock is evidence: anyone who may read the file can take read
 * locks on any byte, but a write lock needs a descriptor open for writing,
 * so a reader can neither make a dead process look alive nor take a slot
 * (its read lock can only keep a free slot from being taken: an opener then
 * tries the next one). A child forked after the open would share its
 * parent's lock (and slot), so a fork handler gives every open space of the
 * child a slot of its own on a fresh open file description. */
#define SLOT_LOCK_BASE ((off_t)1 << 62)
#define RO_LOCK (SLOT_LOCK_BASE - 1)    /* read-locked by read-only processes */
#define SETUP_LOCK (SLOT_LOCK_BASE - 2) /* held while a process sets up */

static int byte_lock(int fd, off_t at, int cmd, short type, struct flock *fl)
{
    *fl = (struct flock){.l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
    return fcntl(fd, cmd, fl);
}

static void byte_unlock(int fd, off_t at)
{
    struct flock fl;
    (void)byte_lock(fd, at, F_OFD_SETLK, F_UNLCK, &fl); /* only that byte */
}

/* 1 when another open file description holds a lock on byte `at` that
 * conflicts with `type` (F_RDLCK: write locks only; F_WRLCK: any), 0 when
 * none, -1 when the kernel cannot tell. */
static int byte_held(int fd, off_t at, short type)
{
    struct flock fl;
    if (byte_lock(fd, at, F_OFD_GETLK, type, &fl))
        return -1;
    return fl.l_type != F_UNLCK;
}

static int shm_alive(void *ctx, uint32_t slot)
{
    struct shm_backend *b = ctx;
    const wom__eng *e = &b->es.eng;
    if (slot >= WOM__NPROCS)
        return 0; /* a slot number read from a damaged file names nobody */
    if (slot == e->self && e->busy)
        return 1; /* our own lock is not reported to us */
    /* Never declare a process dead on doubt (-1 counts as alive). */
    return byte_held(b->fd, SLOT_LOCK_BASE + (off_t)slot, F_RDLCK) != 0;
}

/* Take dead slot's lock for a while (the engine drops its pins meanwhile):
 * 1 if no one holds it. */
static int shm_slot_lock(void *ctx, uint32_t slot)
{
    struct shm_backend *b = ctx;
    struct flock fl;
    return byte_lock(b->fd, SLOT_LOCK_BASE + (off_t)slot, F_OFD_SETLK, F_WRLCK, &fl) == 0;
}

static void shm_slot_unlock(void *ctx, uint32_t slot)
{
    struct shm_backend *b = ctx;
    byte_unlock(b->fd, SLOT_LOCK_BASE + (off_t)slot); /* only that byte: ours stays */
}

/* Take a free slot: lock its byte, then the engine settles what the slot's
 * previous (dead) owner left and makes it ours. WOM_EBUSY when every slot
 * is taken (or read-locked by someone who may not write): a process without
 * a slot would run without crash recovery, so it is refused instead. */
static int shm_take_slot(struct shm_backend *b)
{
    for (uint32_t j = 0; j < WOM__NPROCS; j++) {
        struct flock fl;
        if (byte_lock(b->fd, SLOT_LOCK_BASE + (off_t)j, F_OFD_SETLK, F_WRLCK, &fl))
            continue;
        wom__eng_join(&b->es.eng, j);
        return 0;
    }
    return WOM_EBUSY;
}

static int above_std(int fd);
static int reopen_fd(int at, const char *path, int follow, int ro);

/* The open spaces of this process, for the fork handler. */
static pthread_mutex_t spaces_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_backend *spaces;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&spaces_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&spaces_lock); }

/* In the child: a new open file description per space, so the slot lock
 * taken on it is the child's own and dies with the child (reopen_fd: the
 * same file even if PATH was replaced since). A child that gets no slot
 * can only read (WOM_EROFS on writes): without one its appends would have
 * no crash recovery; it then holds a read lock on RO_LOCK like any
 * read-only process, so no writable opener formats a truncated file under
 * it. A space that another thread was still opening or closing at the fork
 * is never finished in the child: its descriptor (and the parent's locks
 * on it) must not live on there. */
static void fork_child(void)
{
    for (struct shm_backend *b = spaces; b; b = b->next) {
        wom__eng *e = &b->es.eng;
        if (b->opening) {
            close(b->fd);
            b->fd = -1;
            continue;
        }
        if (b->ro || e->ro)
            continue; /* read-only: no slot, and the shared read lock may stay shared */
        int fd = above_std(reopen_fd(b->fd, b->path, b->follow, 0));
        wom__eng_leave(e);
        close(b->fd); /* the parent's description (and lock) stay the parent's */
        b->fd = fd;
        if (fd >= 0 && shm_take_slot(b) == 0)
            continue;
        struct flock fl;
        if (fd >= 0)
            (void)byte_lock(fd, RO_LOCK, F_OFD_SETLK, F_RDLCK, &fl);
        (void)wom__eng_read_only(e, 0); /* its bitmap: at worst no checksums */
    }
    pthread_mutex_unlock(&spaces_lock);
}

static void atfork_init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* Put b, with descriptor fd, on the fork handler's list as being opened
 * (the caller holds spaces_lock, and has held it since fd was made: a fork
 * in between would hand the child the open file description on which this
 * process then takes its slot lock, and the child's copy would keep that
 * lock alive after this process closed or died). */
static void spaces_add_locked(struct shm_backend *b, int fd)
{
    b->fd = fd;
    b->next = spaces;
    b->listed = b->opening = 1;
    spaces = b;
}

static void spaces_lock_for_open(void)
{
    pthread_once(&atfork_once, atfork_init);
    pthread_mutex_lock(&spaces_lock);
}

static void spaces_opened(struct shm_backend *b)
{
    pthread_mutex_lock(&spaces_lock);
    b->opening = 0;
    pthread_mutex_unlock(&spaces_lock);
}

/* Take b off the list and close its descriptor in one step, so that no
 * fork in between hands the descriptor to a child. */
static void spaces_remove_close(struct shm_backend *b)
{
    pthread_mutex_lock(&spaces_lock);
    for (struct shm_backend **p = &spaces; b->listed && *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    if (b->fd >= 0)
        close(b->fd);
    pthread_mutex_unlock(&spaces_lock);
}

/* 1 when no other process holds a slot of the file behind fd. */
static int none_alive(int fd, uint32_t self)
{
    for (uint32_t j = 0; j < WOM__NPROCS; j++)
        if (j != self && byte_held(fd, SLOT_LOCK_BASE + (off_t)j, F_RDLCK) != 0)
            return 0;
    return 1;
}

static int map_space(struct shm_backend *b, const struct shm_uri *u, uint64_t len, int ro)
{
    void *p = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
    if (p == MAP_FAILED)
        return errno != ENOMEM ? errno_to_wom(errno)
             : wom__fail(WOM_ENOMEM, "%s: cannot reserve %llu MiB of address space for the "
                         "space's mapping (is ulimit -v set?); a new space takes a smaller "
                         "range with ;size=, e.g. ;size=1G", u->path,
                         (unsigned long long)(len >> 20));
    b->es.map = p;
    b->es.map_len = len;
    /* A file shrunk under the mapping reads as zeros there, not SIGBUS;
     * every op then fails with WOM_ECORRUPT (engine_ops.c). The zero pages
     * are writable even in a read-only mapping: the space is lost by then,
     * and the wake page of a read-only process must stay writable. */
    int rc = wom__fault_watch(p, len, PROT_READ | PROT_WRITE, &b->es.broken);
    if (rc != WOM_ENOMEM)
        return 0; /* WOM_ENOTSUP (a sanitizer keeps SIGBUS): unguarded */
    munmap(p, len);
    b->es.map = NULL;
    return wom__fail(WOM_ENOMEM, "too many shm: spaces open in this process");
}

/* The directory that holds path, made durable: a file just created there
 * could otherwise vanish with a power loss, whatever wom_sync said. Best
 * effort where the directory cannot be opened for reading (a directory of
 * mode -wx): its entry then reaches the disk with the next sync of the file
 * system. */
static int sync_dir(const char *path)
{
    char dir[SHM_PATH_MAX];
    memcpy(dir, path, strlen(path) + 1);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? 0 : errno_to_wom(errno);
    int rc = fsync(fd) && errno != EINVAL && errno != EROFS
                 ? wom__fail(WOM_EIO, "%s: syncing its directory failed: %s", path, strerror(errno))
                 : 0;
    close(fd);
    return rc;
}

/* Format fd (empty, or left half-made by a dead creator) as a new space:
 * the "being formatted" mark first, the magic last, then the header and the
 * file on disk (the directory entry: shm_open_uri, whoever formats). */
static int shm_format(struct shm_backend *b, const struct shm_uri *u)
{
    int fd = b->fd;
    uint64_t forming = SHM_FORMING; /* u->size was checked by parse_uri */
    if (ftruncate(fd, 0) || pwrite(fd, &forming, sizeof forming, 0) != (ssize_t)sizeof forming ||
        ftruncate(fd, (off_t)eng_first()))
        return errno_to_wom(errno);
    int rc = map_space(b, u, u->size, 0);
    if (!rc)
        rc = wom__eng_format(&b->es.eng, b->es.map, u->size, &b->host);
    if (!rc && (msync(b->es.map, eng_first(), MS_SYNC) || fdatasync(fd)))
        rc = errno_to_wom(errno);
    return rc;
}

/* Under the set-up lock: format a new (or half-formatted) file, or attach
 * to a formatted one after validating its header. Never formats a file that
 * is not empty and not ours. */
static int shm_setup(struct shm_backend *b, const struct shm_uri *u, int created)
{
    int fd = b->fd;
    struct stat st;
    if (fstat(fd, &st))
        return errno_to_wom(errno);
    struct wom__seg_hdr hdr;
    ssize_t got = st.st_size ? pread(fd, &hdr, sizeof hdr, 0) : 0;
    if (got < 0)
        return errno_to_wom(errno);
    int forming = got >= 8 && hdr.magic == SHM_FORMING;
    if ((got == 0 || forming) && u->ro)
        return wom__fail(WOM_ENOENT, "%s holds no space yet (empty, or being created)",
                         u->path); /* a read-only opener cannot make it */
    if (got == 0 && !created &&
        (!none_alive(fd, UINT32_MAX) || byte_held(fd, RO_LOCK, F_WRLCK) != 0))
        return wom__fail(WOM_ECORRUPT, "%s was truncated to 0 bytes while processes still "
                         "use it: its values are lost; remove it once they have stopped",
                         u->path);
    if (got == 0 || forming) /* new, or a creator died before the magic */
        return shm_format(b, u);
    uint64_t reserved = wom__eng_reserved(&hdr, (uint64_t)got);
    if (reserved == 0 && hdr.magic == WOM__MAGIC)
        return wom__fail(WOM_ECORRUPT, "%s is shorter than a space header: it was truncated",
                         u->path);
    if (reserved == 0)
        return wom__fail(WOM_ECORRUPT, "%s is not a wom space (no WOMSPACE header) and not "
                         "empty; wom formats only empty files: choose another path",
                         u->path);
    if (reserved > SHM_MAX_SIZE || (uint64_t)st.st_size > reserved)
        return wom__fail(WOM_ECORRUPT, "%s: the header's reserved size (%llu bytes) is "
                         "damaged", u->path, (unsigned long long)reserved);
    int rc = map_space(b, u, reserved, u->ro);
    if (!rc && (rc = wom__eng_attach(&b->es.eng, b->es.map, reserved, &b->host)) == WOM_ECORRUPT)
        return wom__fail(rc, "%s: the space's header is damaged, or of another layout version "
                         "than this wom's (%u)", u->path, WOM__LAYOUT_VERSION);
    if (rc)
        return rc;
    /* Every allocation backs its memory before it moves brk, so the file
     * reaches any brk read before a fresh look at the file's size. */
    uint64_t brk = ld_acquire(&b->es.eng.hdr->brk); /* pairs with the allocator's CAS */
    if (fstat(fd, &st))
        return errno_to_wom(errno);
    if (brk > (uint64_t)st.st_size)
        return wom__fail(WOM_ECORRUPT, "%s is shorter (%llu bytes) than its header says "
                         "(%llu): it was truncated", u->path,
                         (unsigned long long)st.st_size, (unsigned long long)brk);
    return 0;
}

/* A read-only process: no slot (it never appends, pins or locks), but it
 * tells the dead from the living like the others. If the file lets it
 * write, its wake page is made writable so writers ring it. It holds a read
 * lock on RO_LOCK while open. */
static int shm_ro_setup(struct shm_backend *b)
{
    struct flock fl;
    void *wake;
    size_t len;
    wom__eng_wake_page(&b->es.eng, &wake, &len);
    int writable = (fcntl(b->fd, F_GETFL) & O_ACCMODE) == O_RDWR &&
                   mprotect(wake, len, PROT_READ | PROT_WRITE) == 0;
    if (byte_lock(b->fd, RO_LOCK, F_OFD_SETLK, F_RDLCK, &fl))
        return errno_to_wom(errno);
    return wom__eng_read_only(&b->es.eng, writable);
}

/* A writable process: a slot, and fresh counts of read-only sleepers when
 * no read-only process is open (counts of dead ones; the set-up lock keeps
 * new ones out meanwhile). */
static int shm_rw_setup(struct shm_backend *b, const struct shm_uri *u)
{
    if (shm_take_slot(b))
        return wom__fail(WOM_EBUSY, "%s: all %u process slots of the space are taken (or "
                         "read-locked by another user); wait for a process to close it, or "
                         "open it read-only with ;ro", u->path, WOM__NPROCS);
    if (byte_held(b->fd, RO_LOCK, F_WRLCK) == 0)
        wom__eng_reset_wake(&b->es.eng);
    return 0;
}

/* The errors of open(2) on PATH, each with what to do about it. */
static int open_error(const struct shm_uri *u, int e)
{
    struct stat st;
    if (e == ELOOP && lstat(u->path, &st) == 0 && S_ISLNK(st.st_mode))
        return wom__fail(WOM_EPERM, stat(u->path, &st) ? "%s is a symbolic link to nothing; "
                         "wom never creates a space through a link" : "%s is a symbolic link; "
                         "wom does not follow it unless the URI says so (add ;follow)", u->path);
    if (e == EISDIR)
        return wom__fail(WOM_EINVAL, "%s is a directory; a space is a file in it, e.g. "
                         "%s/space.wom", u->path, u->path);
    if (e == ENXIO || e == EOPNOTSUPP)
        return wom__fail(WOM_EINVAL, "%s is not a regular file; a space is a file", u->path);
    if (e == EACCES || e == EPERM)
        return wom__fail(WOM_EPERM, "no permission to open %s (the rights of the file and of "
                         "its directories decide)", u->path);
    if (e == ENOENT || e == ENOTDIR)
        return wom__fail(WOM_ENOENT, u->ro ? "%s does not exist" : "the directory of %s does "
                         "not exist", u->path);
    return wom__fail(errno_to_wom(e), "%s: %s", u->path, strerror(e));
}

/* A descriptor of at least 3: a program started with 0, 1 or 2 closed
 * would otherwise write its output over the space. */
static int above_std(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int up = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return up;
}

/* A new open file description of the regular file behind descriptor `at`
 * (an O_PATH one, or the parent's in a forked child): through
 * /proc/self/fd, so it is the very same file; by path (not following a last
 * link unless follow) when /proc is not mounted, if that is still the same
 * file (else EAGAIN). ro: fall back to read-only access. */
static int reopen_fd(int at, const char *path, int follow, int ro)
{
    char self[64];
    struct stat st, now;
    if (fstat(at, &st))
        return -1;
    snprintf(self, sizeof self, "/proc/self/fd/%d", at);
    int flags = O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    int fd = open(self, O_RDWR | flags);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | flags | (follow ? 0 : O_NOFOLLOW));
        if (fd >= 0 && (fstat(fd, &now) || now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
            close(fd);
            errno = EAGAIN;
            return -1;
        }
    }
    if (fd < 0 && ro && (errno == EACCES || errno == EPERM || errno == EROFS))
        fd = open(self, O_RDONLY | flags); /* no wake page then */
    return fd;
}

/* Open PATH as the URI allows: look at it first without opening it
 * (O_PATH), so that a symbolic link (unless ;follow), a directory, a device,
 * a FIFO or a socket is refused without ever being opened (opening a device
 * can have effects); create it only with O_EXCL, which never follows a
 * link. The descriptor (never a standard one) goes to b->fd, and b onto the
 * fork handler's list, under one hold of its lock. Sets *created when this
 * call made the file. */
static int open_file(const struct shm_uri *u, struct shm_backend *b, int *created)
{
    for (int tries = 0; tries < 16; tries++) {
        int at = open(u->path, O_PATH | O_CLOEXEC | (u->follow ? 0 : O_NOFOLLOW));
        struct stat st;
        int fd = -1, e = at < 0 ? errno : 0;
        *created = at < 0 && e == ENOENT && !u->ro;
        if (at >= 0 && fstat(at, &st))
            e = errno;
        else if (at >= 0)
            e = S_ISLNK(st.st_mode) ? ELOOP : S_ISDIR(st.st_mode) ? EISDIR
              : !S_ISREG(st.st_mode) ? ENXIO : 0;
        if (*created || (at >= 0 && !e)) {
            spaces_lock_for_open();
            fd = above_std(*created ? open(u->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
                                                        O_NOFOLLOW, u->mode)
                                    : reopen_fd(at, u->path, u->follow, u->ro));
            e = errno;
            if (fd >= 0)
                spaces_add_locked(b, fd);
            pthread_mutex_unlock(&spaces_lock);
        }
        if (at >= 0)
            close(at);
        if (fd >= 0)
            return 0;
        /* EEXIST: made by another opener meanwhile (or a link); EAGAIN:
         * replaced meanwhile. Look again. */
        if (e != EEXIST && e != EAGAIN)
            return open_error(u, e);
    }
    return wom__fail(WOM_EBUSY, "%s keeps changing under this open; try again", u->path);
}

/* Unless ;shared, the (regular: open_file) file must be one of this user's
 * that others may not write (its owner, or anyone who may write it, could
 * read and change every value). */
static int check_file(const struct shm_uri *u, int fd, int created)
{
    struct stat st;
    if (created || u->shared)
        return 0;
    if (fstat(fd, &st))
        return errno_to_wom(errno);
    if (st.st_uid != geteuid())
        return wom__fail(WOM_EPERM, "%s belongs to user %u, not to you (%u): that user can "
                         "read and change every value; add ;shared to the URI if you trust "
                         "them", u->path, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & S_IWOTH)
        return wom__fail(WOM_EPERM, "%s is writable by every user (mode %03o), who could change "
                         "its values; chmod o-w it, or add ;shared to the URI", u->path,
                         (unsigned)(st.st_mode & 0777));
    return 0;
}

/* The set-up lock, a write lock to set up (read to attach read-only),
 * waiting at most timeout_ms for whoever holds it: a user who may only read
 * the file can hold a read lock there, which must not hang us forever. The
 * holders are other openers for a few system calls; polling with a growing
 * pause is the one way to wait with a deadline on a byte lock without
 * signals. */
static int setup_lock(int fd, const struct shm_uri *u)
{
    int64_t until = wom__now_ns() + (int64_t)u->timeout_ms * 1000000;
    struct flock fl;
    for (long pause = 50000;; pause = pause < 10000000 ? pause * 2 : pause) {
        if (byte_lock(fd, SETUP_LOCK, F_OFD_SETLK, u->ro ? F_RDLCK : F_WRLCK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES)
            return wom__fail(errno_to_wom(errno), "%s: cannot lock the file (%s): wom needs a "
                             "file system with open file description locks", u->path,
                             strerror(errno));
        if (wom__now_ns() >= until)
            return wom__fail(WOM_EBUSY, "%s: another process has held the space's set-up "
                             "lock for %llu ms (a user who may read the file can hold it); "
                             "try again, or wait longer with ;timeout=MS", u->path,
                             (unsigned long long)u->timeout_ms);
        nanosleep(&(struct timespec){0, pause}, NULL);
    }
}

static int shm_sync(struct wom__espace *es);

static int shm_open_uri(const char *rest, wom_space **out)
{
    struct shm_uri u;
    int rc = parse_uri(rest, &u);
    if (rc)
        return rc;
    struct shm_backend *b = calloc(1, sizeof *b);
    if (!b)
        return WOM_ENOMEM;
    b->es.pub.ops = &wom__engine_ops;
    b->es.pub.impl = &b->es;
    b->es.close = shm_close;
    b->es.sync = shm_sync;
    b->host = (struct wom__host){b, shm_grow, shm_discard, shm_alive, shm_slot_lock,
                                 shm_slot_unlock};
    b->ro = u.ro;
    b->follow = u.follow;
    memcpy(b->path, u.path, sizeof b->path);
    int created;
    b->fd = -1;
    rc = open_file(&u, b, &created); /* lists b with its descriptor */
    if (!rc)
        rc = check_file(&u, b->fd, created);
    if (!rc)
        rc = setup_lock(b->fd, &u);
    if (!rc) {
        rc = shm_setup(b, &u, created);
        if (!rc)
            rc = u.ro ? shm_ro_setup(b) : shm_rw_setup(b, &u);
        /* Opening after every process died: recover what they held. (The
         * set-up lock keeps other openers out meanwhile.) */
        if (!rc && !u.ro && none_alive(b->fd, b->es.eng.self))
            wom__eng_recover_alone(&b->es.eng);
        if (!rc)
            wom__eng_opened(&b->es.eng);
        byte_unlock(b->fd, SETUP_LOCK);
    }
    if (!rc && created)
        rc = sync_dir(u.path); /* whoever formatted it: this open made the entry */
    if (rc) {
        shm_close(&b->es);
        return rc;
    }
    spaces_opened(b);
    *out = &b->es.pub;
    return 0;
}

static void shm_close(struct wom__espace *es)
{
    struct shm_backend *b = (struct shm_backend *)es;
    if (es->map) {
        wom__fault_unwatch(es->map);
        munmap(es->map, es->map_len);
    }
    wom__eng_fini(&es->eng);
    spaces_remove_close(b);
    free(b);
}

/* Everything written so far reaches the disk: the mapping's dirty pages up
 * to the allocator's high-water mark, then the file's data. */
static int shm_sync(struct wom__espace *es)
{
    struct shm_backend *b = (struct shm_backend *)es;
    if (ld_acquire(&es->broken)) /* pairs with the fault handler's release */
        return WOM_ECORRUPT;
    /* acquire: the allocations below this mark happened before we look */
    uint64_t used = ld_acquire(&es->eng.hdr->brk);
    if (used > es->map_len)
        used = es->map_len;
    if (msync(es->map, used, MS_SYNC) || fdatasync(b->fd))
        return errno == ENOSPC || errno == EDQUOT ? WOM_ENOSPC : WOM_EIO;
    return 0;
}

const struct wom__scope wom__shm_scope = {"shm:", shm_open_uri, NULL};
