/*
 * shm.c - the "shm:PATH" scope: the engine on a shared file mapping, shared
 * by the processes of one host. PATH on disk makes the space persistent;
 * under /dev/shm it lives in RAM.
 *
 * Every process maps the whole reserved range (recorded in the header) up
 * front; the file only grows as the allocator hands memory out (fallocate,
 * which never shrinks a file, so racing growers cannot undo each other), so
 * other processes see new parts without remapping. Creation and validation
 * run under an exclusive flock, so any number of processes may create or
 * open the same space at once; the header's magic is written last, so a
 * creator that died half-way leaves a file the next opener formats again.
 *
 * URI: shm:PATH[;size=BYTES][;mode=OCTAL][;ro] (size: reserved range for a
 * new space, default 64G; mode: permissions of a new file, default 0600;
 * ro: open an existing space read-only).
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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "space/space.h"
#include "util/plat.h"

#define SHM_DEFAULT_SIZE (64ull << 30)
#define SHM_MAX_SIZE (1ull << 46) /* what a header may claim: 64 TiB */
#define SHM_PATH_MAX 4096

struct shm_backend {
    int fd;
    int ro;
    char path[SHM_PATH_MAX];
    struct shm_backend *next; /* the process's open shm: spaces */
    wom_space *space;
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
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        return WOM_ENOSPC;
    default:
        return WOM_ENOMEM;
    }
}

/* Allocate the file's blocks for [start, end), extending the file when end
 * is past it: writes to the mapping there can then never fault for want of
 * space (a full disk is WOM_ENOSPC here, not SIGBUS later), and fallocate
 * never shrinks a file, so racing growers cannot undo each other. */
static int shm_grow(wom__eng *e, uint64_t start, uint64_t end)
{
    struct shm_backend *b = e->backend;
    if (fallocate(b->fd, 0, (off_t)start, (off_t)(end - start)) != 0)
        return errno_to_wom(errno);
    return 0;
}

static void shm_discard(wom__eng *e, uint64_t off, uint64_t len)
{
    struct shm_backend *b = e->backend;
    /* The pages read as zero afterwards, in every process. */
    (void)fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
}

struct shm_uri {
    char path[SHM_PATH_MAX];
    uint64_t size;
    mode_t mode;
    int ro;
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

/* Split "PATH[;size=N][;mode=M]". */
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
    u->ro = 0;
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
        else if (!strcmp(opt, "ro")) {
            u->ro = 1;
            rc = 0;
        }
        if (rc)
            return rc;
        semi = next;
    }
    if (u->size > SHM_MAX_SIZE)
        return WOM_EINVAL;
    return 0;
}

static void shm_close(wom_space *s);

/* Process liveness: each process holds an open-file-description lock on
 * one byte (far past the data) per slot it owns. The kernel drops it when
 * the process dies, however it dies, and it is not fooled by a reused PID.
 * A child forked after the open would share its parent's lock (and slot),
 * so a fork handler gives every open space of the child a slot of its own
 * on a fresh open file description. */
#define SLOT_LOCK_BASE ((off_t)1 << 62)
#define RO_LOCK (SLOT_LOCK_BASE - 1)

static int ro_lock(int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = RO_LOCK, .l_len = 1};
    if (fcntl(fd, cmd, &fl))
        return -1;
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

static int slot_lock(int fd, uint32_t slot, int cmd, struct flock *fl)
{
    *fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET,
                         .l_start = SLOT_LOCK_BASE + (off_t)slot, .l_len = 1};
    return fcntl(fd, cmd, fl);
}

static int shm_alive(wom__eng *e, uint32_t slot)
{
    struct shm_backend *b = e->backend;
    struct flock fl;
    if (slot_lock(b->fd, slot, F_OFD_GETLK, &fl))
        return 1; /* cannot tell: never declare a process dead on doubt */
    return fl.l_type != F_UNLCK;
}

/* Drop the pins of dead slot `slot`, holding its lock for the while (so no
 * new owner takes it meanwhile); 0 if someone holds it. */
static int shm_reap(wom__eng *e, uint32_t slot)
{
    struct shm_backend *b = e->backend;
    struct flock fl;
    if (slot == e->self || slot_lock(b->fd, slot, F_OFD_SETLK, &fl))
        return 0;
    wom__eng_clean_slot(e, slot);
    fl.l_type = F_UNLCK;
    (void)fcntl(b->fd, F_OFD_SETLK, &fl); /* only that byte: ours stays */
    return 1;
}

/* Take a free slot. A slot whose previous owner died inside an append
 * passes that on as the region's sticky crash evidence before reuse. Without
 * a slot (all taken) this process runs without crash recovery. */
static void shm_take_slot(wom_space *s)
{
    struct shm_backend *b = s->eng.backend;
    struct wom__seg_hdr *h = s->eng.hdr;
    for (uint32_t j = 0; j < WOM__NPROCS; j++) {
        struct flock fl;
        if (slot_lock(b->fd, j, F_OFD_SETLK, &fl))
            continue;
        uint64_t was = xchg_seq(&h->procs[j].busy, 0);
        if (was && was <= WOM__NREGIONS)
            st_seq(&h->regions[was - 1].crashed, 1);
        s->eng.pin_slot = WOM__PIN_SLOTLESS;
        wom__eng_clean_slot(&s->eng, j); /* pins the slot's dead owner left */
        s->eng.pin_slot = j;
        s->eng.reap = shm_reap;
        st_relaxed(&h->procs[j].pid, (uint64_t)getpid()); /* relaxed: for tools */
        s->eng.token = ((faa_seq(&h->procs[j].gen, 1) + 1) << 8) | j;
        s->eng.busy = &h->procs[j].busy;
        s->eng.self = j;
        s->eng.alive = shm_alive;
        return;
    }
}

/* The open spaces of this process, for the fork handler. */
static pthread_mutex_t spaces_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_backend *spaces;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&spaces_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&spaces_lock); }

/* In the child: a new open file description per space, so the slot lock
 * taken on it is the child's own and dies with the child. If that fails
 * the child keeps no slot (no crash recovery for its appends). */
static void fork_child(void)
{
    for (struct shm_backend *b = spaces; b; b = b->next) {
        wom_space *s = b->space;
        if (b->ro)
            continue; /* no slot; the shared read lock may stay shared */
        int fd = open(b->path, O_RDWR | O_CLOEXEC);
        s->eng.busy = NULL;
        s->eng.alive = NULL;
        s->eng.reap = NULL;
        s->eng.pin_slot = WOM__PIN_SLOTLESS;
        if (fd < 0)
            continue;
        close(b->fd); /* the parent's description (and lock) stay the parent's */
        b->fd = fd;
        shm_take_slot(s);
    }
    pthread_mutex_unlock(&spaces_lock);
}

static void atfork_init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static void spaces_add(struct shm_backend *b)
{
    pthread_once(&atfork_once, atfork_init);
    pthread_mutex_lock(&spaces_lock);
    b->next = spaces;
    spaces = b;
    pthread_mutex_unlock(&spaces_lock);
}

static void spaces_remove(struct shm_backend *b)
{
    pthread_mutex_lock(&spaces_lock);
    for (struct shm_backend **p = &spaces; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&spaces_lock);
}

/* 1 when no other process holds a slot: everyone else has died. */
static int shm_alone(wom_space *s)
{
    for (uint32_t j = 0; j < WOM__NPROCS; j++)
        if (j != s->eng.self && ld_relaxed(&s->eng.hdr->procs[j].pid) != 0 &&
            shm_alive(&s->eng, j)) /* relaxed: a never-used slot has pid 0 */
            return 0;
    return 1;
}

static int map_space(wom_space *s, int fd, uint64_t len, int ro)
{
    void *p = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return WOM_ENOMEM;
    s->map = p;
    s->map_len = len;
    return 0;
}

/* Under the flock: format a new (or half-formatted) file, or attach to a
 * formatted one after validating its header. */
static int shm_setup(wom_space *s, const struct shm_uri *u, int fd)
{
    struct stat st;
    if (fstat(fd, &st))
        return errno_to_wom(errno);
    struct wom__seg_hdr hdr;
    ssize_t got = st.st_size ? pread(fd, &hdr, sizeof hdr, 0) : 0;
    if (got < 0)
        return errno_to_wom(errno);
    uint64_t reserved = wom__eng_reserved(&hdr, (uint64_t)got);
    if (reserved == 0 && got > 0 && hdr.magic != 0)
        return WOM_ECORRUPT; /* not a space file (and not a half-made one) */
    if (reserved == 0 && u->ro)
        return WOM_ENOENT; /* not made yet; a read-only opener cannot make it */
    if (reserved == 0) {        /* new, or a creator died before the magic */
        uint64_t first = (sizeof(struct wom__seg_hdr) + WOM__PAGE - 1) & ~(uint64_t)(WOM__PAGE - 1);
        if (u->size < WOM__MIN_SEGMENT)
            return WOM_EINVAL;
        if (ftruncate(fd, 0) || ftruncate(fd, (off_t)first))
            return errno_to_wom(errno);
        int rc = map_space(s, fd, u->size, 0);
        return rc ? rc : wom__eng_format(&s->eng, s->map, u->size, 1);
    }
    if (reserved > SHM_MAX_SIZE || (uint64_t)st.st_size > reserved)
        return WOM_ECORRUPT;
    int rc = map_space(s, fd, reserved, u->ro);
    if (!rc)
        rc = wom__eng_attach(&s->eng, s->map, reserved, 1);
    if (rc)
        return rc;
    /* Every allocation backs its memory before it moves brk, so the file
     * reaches any brk read before a fresh look at the file's size. */
    uint64_t brk = ld_acquire(&s->eng.hdr->brk); /* pairs with the allocator's CAS */
    if (fstat(fd, &st))
        return errno_to_wom(errno);
    return brk > (uint64_t)st.st_size ? WOM_ECORRUPT : 0;
}

/* A read-only process: no slot (it never appends, pins or locks), but it
 * tells the dead from the living like the others. Values carry checksums
 * (the sealed bitmap is the engine's marker of a shared segment; nothing is
 * sealed here, the whole mapping is read-only). */
static int shm_ro_setup(wom_space *s)
{
    struct shm_backend *b = s->eng.backend;
    s->eng.ro = 1;
    s->eng.self = UINT32_MAX;
    s->eng.alive = shm_alive;
    s->eng.grow = NULL;
    s->eng.discard = NULL;
    int writable = (fcntl(b->fd, F_GETFL) & O_ACCMODE) == O_RDWR;
    char *wake = (char *)&s->eng.hdr->wake;
    s->eng.ro_wake = writable && mprotect(wake, sizeof s->eng.hdr->wake, PROT_READ | PROT_WRITE) == 0;
    if (ro_lock(b->fd, F_OFD_SETLK, F_RDLCK))
        return errno_to_wom(errno);
    s->eng.sealed = calloc(1, sizeof(wom_a64));
    return s->eng.sealed ? 0 : WOM_ENOMEM;
}

static int shm_open_uri(const char *rest, wom_space **out)
{
    struct shm_uri u;
    int rc = parse_uri(rest, &u);
    if (rc)
        return rc;
    wom_space *s = calloc(1, sizeof *s);
    struct shm_backend *b = calloc(1, sizeof *b);
    if (!s || !b) {
        free(s);
        free(b);
        return WOM_ENOMEM;
    }
    s->scope = &wom__shm_scope;
    s->ops = &wom__engine_ops;
    s->eng.backend = b;
    s->eng.grow = shm_grow;
    s->eng.discard = shm_discard;
    b->ro = u.ro;
    if (!u.ro)
        b->fd = open(u.path, O_RDWR | O_CREAT | O_CLOEXEC, u.mode);
    else if ((b->fd = open(u.path, O_RDWR | O_CLOEXEC)) < 0 && errno != ENOENT)
        b->fd = open(u.path, O_RDONLY | O_CLOEXEC); /* no wake page then */
    if (b->fd < 0) {
        rc = errno_to_wom(errno);
        free(b);
        free(s);
        return rc;
    }
    if (flock(b->fd, u.ro ? LOCK_SH : LOCK_EX))
        rc = errno_to_wom(errno);
    else {
        rc = shm_setup(s, &u, b->fd);
        if (!rc && u.ro)
            rc = shm_ro_setup(s);
        else if (!rc) {
            shm_take_slot(s);
            /* No read-only process is open: counts of sleepers are left
             * by dead ones (the flock keeps new ones out meanwhile). */
            if (ro_lock(b->fd, F_OFD_GETLK, F_WRLCK) == 0)
                memset(&s->eng.hdr->wake, 0, sizeof s->eng.hdr->wake);
            /* one bit per chunk of the reserved range, for sealing */
            s->eng.sealed = calloc((s->eng.size >> WOM__CHUNK_SHIFT) / 64 + 1, sizeof(wom_a64));
            rc = s->eng.sealed ? 0 : WOM_ENOMEM;
        }
        /* Opening after every process died: recover what they held. (The
         * flock keeps other openers out meanwhile.) */
        if (!rc && s->eng.busy && shm_alone(s)) {
            wom__eng_drop_pins(&s->eng);
            faa_seq(&s->eng.hdr->life, 1); /* what is in the file was at rest */
        }
        if (!rc)
            s->eng.life = ld_seq(&s->eng.hdr->life);
        flock(b->fd, LOCK_UN);
    }
    if (rc) {
        shm_close(s);
        return rc;
    }
    memcpy(b->path, u.path, sizeof b->path);
    b->space = s;
    spaces_add(b);
    *out = s;
    return 0;
}

static void shm_close(wom_space *s)
{
    struct shm_backend *b = s->eng.backend;
    if (b->space)
        spaces_remove(b);
    if (s->map)
        munmap(s->map, s->map_len);
    wom__eng_fini(&s->eng);
    close(b->fd);
    free(b);
    free(s);
}

/* Everything written so far reaches the disk: the mapping's dirty pages up
 * to the allocator's high-water mark, then the file's data. */
static int shm_sync(wom_space *s)
{
    struct shm_backend *b = s->eng.backend;
    /* acquire: the allocations below this mark happened before we look */
    uint64_t used = ld_acquire(&s->eng.hdr->brk);
    if (used > s->map_len)
        used = s->map_len;
    if (msync(s->map, used, MS_SYNC) || fdatasync(b->fd))
        return errno == ENOSPC || errno == EDQUOT ? WOM_ENOSPC : WOM_ECORRUPT;
    return 0;
}

const struct wom__scope wom__shm_scope = {"shm:", shm_open_uri, shm_close, shm_sync};
