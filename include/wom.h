/*
 * wom.h - the whole public API of wom, a write-once / write-many address space.
 *
 * A space holds named regions; a region is 2^64 cells addressed by uint64_t.
 * A ONCE region's cells go EMPTY -> WRITTEN exactly once (message passing);
 * a MANY region's cells are versioned registers (shared memory).
 * The communication forms at the end (channel, subscription, queue group,
 * log-backed register, slot ring, consensus, atomic broadcast) are built
 * only on the cell operations above them, so they run unchanged on every
 * scope.
 *
 * Conventions for every function below:
 *  - Return 0 on success or a negative WOM_E* code (never sets errno).
 *  - An out parameter is written only on success (and *len on WOM_ENOBUFS).
 *  - Buffers passed in are borrowed for the duration of the call only; values
 *    are copied into the space.
 *  - Handles (wom_space, wom_region, wom_chan, wom_queue, wom_reg, wom_ring,
 *    wom_cons) are thread-safe unless the comment says otherwise; wom_sub and
 *    wom_abcast are private cursors to be used by one thread at a time.
 *  - Timeouts are in nanoseconds: 0 = do not wait, < 0 = wait forever.
 */
#ifndef WOM_H
#define WOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WOM_API __attribute__((visibility("default")))
#else
#define WOM_API
#endif

#define WOM_VERSION_MAJOR 0
#define WOM_VERSION_MINOR 1

/* Errors: X(name, value, message). Values equal -errno where one exists. */
#define WOM_ERRNO_MAP(X)                                                       \
    X(EINVAL, -22, "invalid argument")                                         \
    X(ENOMEM, -12, "out of memory")                                            \
    X(ENOSPC, -28, "space is full")                                            \
    X(ETIMEDOUT, -110, "timed out")                                            \
    X(ENOBUFS, -105, "buffer too small (needed size returned in *len)")        \
    X(EMSGSIZE, -90, "value larger than the region's maximum value size")      \
    X(ENOENT, -2, "no such region or space")                                   \
    X(EPERM, -1, "operation not permitted")                                    \
    X(ENAMETOOLONG, -36, "name too long")                                      \
    X(ENOTSUP, -95, "not supported by this scope")                             \
    X(EROFS, -30, "space opened read-only")                                    \
    X(EBUSY, -16, "space busy (locked by another process, or no free process slot)") \
    X(EWRITTEN, -3001, "cell already written (the first write won)")           \
    X(EEMPTY, -3002, "cell is empty")                                          \
    X(EMODE, -3003, "operation or region of the other mode")                   \
    X(ETRIMMED, -3004, "address was trimmed")                                  \
    X(ECONFLICT, -3005, "version moved (compare-and-swap lost)")               \
    X(EABANDONED, -3006, "cell abandoned by a dead writer")                    \
    X(ECORRUPT, -3007, "space data is corrupt")                                \
    X(EURI, -3009, "unknown or malformed space URI")                           \
    X(EIO, -5, "input/output error (the disk or file system failed)")        \
    X(ENOTCONN, -107, "connection to the space lost")                          \
    X(EUNKNOWN, -3010, "outcome unknown (the connection was lost after the request was sent)") \
    X(EUNAVAIL, -3011, "space unavailable (no leader or quorum); try again later")

typedef enum {
#define WOM_ERR_ENUM_(name, val, msg) WOM_##name = (val),
    WOM_ERRNO_MAP(WOM_ERR_ENUM_)
#undef WOM_ERR_ENUM_
} wom_errno;

/* A static message for err ("unknown error" for values not in the table). */
WOM_API const char *wom_strerror(int err);
/* The name of err, e.g. "WOM_EWRITTEN" ("WOM_E?" when unknown). */
WOM_API const char *wom_err_name(int err);
/* A sentence that explains the last error wom_open returned in this thread
 * and what to do about it (e.g. "/tmp/s is a symbolic link; add ;follow to
 * the URI to open its target"), or "" when it has nothing to add to
 * wom_strerror. Thread-local; valid until this thread's next wom_open. */
WOM_API const char *wom_last_error(void);

typedef struct wom_space wom_space;   /* opaque */
typedef struct wom_region wom_region; /* opaque */

typedef enum { WOM_ONCE = 1, WOM_MANY = 2 } wom_mode;

/* A zero-copy view of a written value: caller-allocated, filled by
 * wom_get_view / wom_sub_recv_view. data stays valid (even across wom_trim)
 * until wom_view_release. pin_ is private. */
typedef struct {
    const void *data;
    size_t len;
    uint64_t pin_[2];
} wom_view;

/* ---- Spaces --------------------------------------------------------------- */

/* Open a space. URIs: "mem:" (threads of this process; a new private space
 * each call) with optional ";size=DIGITS[k|K|m|M|g|G|t|T]" for the reserved
 * address range (default 64G, taken lazily; at least 32.5 MiB: every region
 * that holds values takes memory in 8 MiB chunks). "shm:PATH[;size=BYTES]
 * [;mode=OCTAL][;ro][;shared][;follow][;timeout=MS]" (processes of one host
 * share the file PATH, created with mode 0600 unless mode= says otherwise;
 * size is the reserved range of a new space; ro opens an existing space
 * read-only: it is mapped read-only, every write returns WOM_EROFS, regions
 * are opened but never created, views hold a copy, and a channel subscriber
 * takes no seat. PATH must be a regular file of the caller's, not writable
 * by every user and not a symbolic link, unless ;shared (accept another
 * user's or a world-writable file) or ;follow (follow a symbolic link) says
 * so; a file that is not empty and not a space is never formatted. An open
 * waits at most timeout ms, default 5000, for another process's lock; see
 * docs/shm.md). "etcd://H:P[,H:P...]/PREFIX[;timeout=MS]": cells in an
 * etcd cluster under a key prefix, being built (docs/cluster.md); only
 * programs that link the scope have it (the wom CLI does; libwom alone does
 * not link gRPC and returns WOM_ENOTSUP). Its security options name files,
 * read at open and never shown: ;cacert=FILE (TLS), ;cert=FILE;key=FILE (a
 * client certificate), ;user=NAME;password-file=FILE (etcd's users; a wrong
 * password is WOM_EPERM); a missing or bad file is WOM_ENOENT, WOM_EPERM or
 * WOM_EINVAL (docs/cluster.md, "Security options").
 * Errors: WOM_EURI (bad URI or size), WOM_EINVAL (size below the minimum,
 * PATH not a regular file), WOM_ENOMEM (also: the range cannot be mapped,
 * e.g. under ulimit -v), and for shm: WOM_EPERM (no rights, a symbolic link,
 * someone else's file), WOM_ENOENT, WOM_ECORRUPT (not a space file, a
 * damaged or truncated one), WOM_ENOSPC, WOM_EBUSY (a lock held past the
 * timeout, or all 256 process slots taken), WOM_ENOTCONN (etcd://: no
 * member reached), WOM_ENOTSUP (a scope this program lacks). wom_last_error() then says
 * which, and what to do.
 * The caller owns *out and frees it with wom_close. */
WOM_API int wom_open(const char *uri, wom_space **out);
/* Make everything written to s so far durable across power loss (shm: msync
 * of the written range, then fdatasync; it costs a disk flush, see
 * docs/shm.md). Without it, written values survive the death of every
 * process (they are in the file's page cache) but not of the machine. A
 * no-op returning 0 on mem:. Errors: WOM_ENOSPC, WOM_ECORRUPT (I/O error). */
WOM_API int wom_sync(wom_space *s);
/* Close a space. All its regions, subscriptions and forms must be closed
 * first and all views released. */
WOM_API void wom_close(wom_space *s);
/* A token naming the calling process in s, to record who holds something
 * (a channel's subscriber seat) so that any process can ask later whether
 * the holder still lives. 0 when s cannot tell (mem:, a read-only open, no
 * free process slot); 0 always counts as alive. */
WOM_API uint64_t wom_holder(wom_space *s);
/* 1 while the process behind token lives, 0 once the kernel says it died
 * (shm: its slot's lock is gone, or another process has the slot now).
 * Never 0 on doubt; a malformed token (read from a damaged space) is 0. */
WOM_API int wom_holder_alive(wom_space *s, uint64_t token);

/* What a space holds, for tools (wom stat --prometheus, wom exporter): a
 * snapshot of figures that move on at once. */
typedef struct {
    uint64_t size;        /* bytes of the reserved address range */
    uint64_t used;        /* bytes of it allocated so far (header, index pages,
                             chunks); it only grows: freed chunks are reused */
    uint64_t chunk_size;  /* bytes of one chunk (values are held in chunks) */
    uint64_t free_chunks; /* allocated chunks free for reuse (a hint that may
                             lag by a few) */
    uint32_t procs;       /* shm: process slots held by live processes (a
                             read-only open holds none); mem: 0 */
    uint32_t procs_max;   /* shm: the slots there are (256); mem: 0 */
} wom_space_info;
/* Describe s into *out. WOM_ENOTSUP on a scope that cannot (etcd://);
 * WOM_ECORRUPT on a shm: space whose file was truncated under it. On shm:
 * it asks the kernel once per slot whether a process holds it. */
WOM_API int wom_space_info_get(wom_space *s, wom_space_info *out);

/* ---- Regions -------------------------------------------------------------- */

#define WOM_NAME_MAX 63            /* bytes in a region name, without NUL */
#define WOM_MAX_VALUE_DEFAULT (1u << 20)
#define WOM_MAX_VALUE_LIMIT (4u << 20)

typedef struct {
    size_t max_value; /* largest value accepted; 0 = WOM_MAX_VALUE_DEFAULT */
} wom_region_opts;
#define WOM_REGION_OPTS_INIT {0}

/* Open region `name`, creating it with `mode` if absent (concurrent creators
 * agree on one region; a read-only space only opens: WOM_ENOENT if absent).
 * Errors: WOM_EMODE if it exists with the other mode,
 * WOM_ENAMETOOLONG, WOM_EINVAL (empty name, a control character in it, or
 * bad mode), WOM_ENOSPC (region table full), WOM_ECORRUPT (the region is
 * stuck "being created" with no live creator named: a damaged file). The
 * caller owns *out; wom_region_close frees it. */
WOM_API int wom_region_open(wom_space *s, const char *name, wom_mode mode, wom_region **out);
/* As wom_region_open; opts apply only when this call creates the region
 * (an existing region keeps its own limits). opts may be NULL. */
WOM_API int wom_region_open_opts(wom_space *s, const char *name, wom_mode mode,
                                 const wom_region_opts *opts, wom_region **out);
/* Free the handle r (NULL does nothing); the region and its cells stay in
 * the space. End r's loans first (wom_loan_new). */
WOM_API void wom_region_close(wom_region *r);

typedef struct {
    char name[WOM_NAME_MAX + 1];
    wom_mode mode;
    uint64_t tail;      /* ONCE: next address wom_append would try */
    uint64_t floor;     /* ONCE: addresses below were trimmed */
    uint64_t bytes;     /* value bytes currently held (after trim/overwrite);
                           0 on etcd:// (docs/cluster.md) */
    size_t max_value;
} wom_region_info;

/* Describe r. On mem: and shm: never fails on a valid handle; a remote
 * scope may fail with its connection errors (WOM_ENOTCONN, ...). */
WOM_API int wom_region_info_get(wom_region *r, wom_region_info *out);
/* Call fn for every region of s in creation order; stops early and returns
 * fn's value when fn returns non-zero. WOM_ENOTSUP on a scope that cannot
 * list its regions. */
WOM_API int wom_regions(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg);

/* ---- ONCE cells ----------------------------------------------------------- */

/* Write addr once. Returns 0, or WOM_EWRITTEN when another write won (its
 * value is then readable), WOM_ETRIMMED, WOM_EMSGSIZE, WOM_EMODE, WOM_ENOSPC.
 * Wakes every reader blocked on addr. */
WOM_API int wom_put(wom_region *r, uint64_t addr, const void *buf, size_t len);
/* Read addr into buf. timeout 0: WOM_EEMPTY at once if empty; < 0: wait
 * forever; else WOM_ETIMEDOUT after timeout_ns. WOM_ENOBUFS with *len set to
 * the value's size when cap is too small. WOM_ETRIMMED below the floor. */
WOM_API int wom_get(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                    int64_t timeout_ns);
/* As wom_get without a copy: v points into the space and stays valid until
 * wom_view_release(v), even if the address is trimmed meanwhile. */
WOM_API int wom_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
/* Release a view filled by a successful get_view/recv_view. Releasing a
 * released or WOM_VIEW_INIT view does nothing. */
WOM_API void wom_view_release(wom_view *v);
/* A view that holds nothing, for wom_get_view_next. */
#define WOM_VIEW_INIT {NULL, 0, {0, 0}}
/* Streaming form of wom_get_view: v holds a view from an earlier call (or is
 * WOM_VIEW_INIT); it is released and replaced by addr's value, reusing its
 * pin when the new value lies in the same part of the space (saving two
 * atomic operations per read). On error v holds no view. */
WOM_API int wom_get_view_next(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
/* Views of addr, addr+1, ... that are written already, up to max, in
 * views[0..*got) (output only: release earlier views first; each must be
 * released with wom_view_release). Never waits, and stops at the first
 * address that holds no value (EMPTY, trimmed or abandoned: not an error,
 * *got may be 0); an error only when no view was taken. It may also stop
 * early at a cell written so recently that the scope has not heard of it
 * (etcd:// serves the cells the client has cached, then one read for the
 * rest from a member that may lag by a moment): wom_get_view reads it. */
WOM_API int wom_get_views(wom_region *r, uint64_t addr, wom_view *views, size_t max,
                          size_t *got);
/* Write the next free address (>= every address appended or put so far, and
 * >= the floor) and return it in *addr. Errors as wom_put but never
 * WOM_EWRITTEN; WOM_ENOSPC once the tail is UINT64_MAX (address space used
 * up). */
WOM_API int wom_append(wom_region *r, const void *buf, size_t len, uint64_t *addr);
/* One value of a batch: len bytes at data (borrowed for the call). */
typedef struct {
    const void *data;
    size_t len;
} wom_iov;
/* Append n values in one call: v[i] at addrs[i] (addrs may be NULL), each
 * as wom_append would (first write wins, readers woken), with one tail
 * update for the lot. The addresses rise with i and are consecutive,
 * addrs[i] = addrs[0] + i, unless a concurrent wom_put took one of them
 * (that value and the later ones then move up, past the put) or, on
 * etcd://, the batch did not fit one transaction (1024 values and 1 MiB):
 * it then goes in consecutive transactions of this process, each one's
 * values consecutive, and another process may append between them.
 * Everything is checked before anything is appended: WOM_EINVAL (v NULL
 * with n > 0, a value with data NULL and len > 0), WOM_EMODE, WOM_EMSGSIZE
 * (any value above the limit). n = 0 appends nothing and returns 0.
 * *done (may be NULL) is written on success and on error: how many values,
 * from v[0], were appended (they are at addrs[0..*done)); the rest were
 * not, except that after WOM_EUNKNOWN (etcd://) the values of the
 * transaction in doubt, from v[*done] on, may have been. On mem: and shm:
 * a space too full for every value appends none (WOM_ENOSPC, *done 0),
 * unless a concurrent put or trim took addresses of its run after it was
 * reserved: the values placed before that stay (WOM_ENOSPC, *done > 0).
 * Other errors as wom_append. */
WOM_API int wom_append_many(wom_region *r, const wom_iov *v, size_t n, uint64_t *addrs,
                            size_t *done);
/* A loan: room for one value inside the space, written in place by the
 * caller and then published without a copy (zero-copy send). Caller-
 * allocated; priv_ is private. The region must stay open while it is. */
typedef struct {
    void *data; /* len writable bytes */
    size_t len;
    uint64_t priv_[2];
} wom_loan;
/* Lend len bytes of r (ONCE). Errors: WOM_EMSGSIZE, WOM_ENOSPC, WOM_EMODE,
 * WOM_ENOTSUP (a scope without loans: use wom_put / wom_append).
 * Every successful loan ends with exactly one successful wom_loan_put /
 * wom_loan_append or one wom_loan_cancel. */
WOM_API int wom_loan_new(wom_region *r, size_t len, wom_loan *l);
/* Publish the loan at addr, as wom_put. On WOM_EWRITTEN / WOM_ETRIMMED the
 * loan stays open (publish it elsewhere or cancel it); its bytes are final
 * from the first publish attempt on (do not write them again). */
WOM_API int wom_loan_put(wom_loan *l, uint64_t addr);
/* Publish the loan at the next free address, as wom_append. */
WOM_API int wom_loan_append(wom_loan *l, uint64_t *addr);
/* Give an unpublished loan back. Cancelling an ended loan does nothing. */
WOM_API void wom_loan_cancel(wom_loan *l);
/* What one cell holds, for tools (wom inspect). */
typedef enum {
    WOM_CELL_EMPTY = 0,     /* never written (version 0 for MANY) */
    WOM_CELL_CLAIMED = 1,   /* EMPTY, with an append in flight on it */
    WOM_CELL_WRITTEN = 2,
    WOM_CELL_ABANDONED = 3, /* its appender died before publishing */
    WOM_CELL_TRIMMED = 4
} wom_cell_state;
typedef struct {
    wom_cell_state state;
    size_t len;       /* WRITTEN: the value's size */
    uint64_t version; /* WRITTEN: 1 for ONCE, the version for MANY */
    int64_t pid;      /* CLAIMED: the appending process (shm:), else -1 */
} wom_cell_info;
/* Describe cell addr of r without waiting or changing anything. A snapshot:
 * the cell may move on at once. WOM_ENOTSUP on a scope that cannot. */
WOM_API int wom_inspect(wom_region *r, uint64_t addr, wom_cell_info *out);
/* The next address wom_append would try (one past the highest address
 * appended or put, saturating at UINT64_MAX). WOM_EMODE on MANY regions. */
WOM_API int wom_tail(wom_region *r, uint64_t *tail);
/* Trim: release every cell below `below`. Later reads and writes there give
 * WOM_ETRIMMED and blocked readers there wake with it. The floor only rises
 * (a lower `below` is a no-op). Memory of values whose addresses are all
 * below the floor is returned once no view pins it. */
WOM_API int wom_trim(wom_region *r, uint64_t below);

/* ---- MANY cells ----------------------------------------------------------- */
/* A MANY cell starts at version 0 with an empty value; every successful store
 * or cas adds one to the version. */

/* Store buf at addr; *version (may be NULL) gets the new version. */
WOM_API int wom_store(wom_region *r, uint64_t addr, const void *buf, size_t len,
                      uint64_t *version);
/* Load a consistent (never torn) value and its version. WOM_ENOBUFS with *len
 * set when cap is too small. version may be NULL. */
WOM_API int wom_load(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                     uint64_t *version);
/* Store only if the current version is `expect`; WOM_ECONFLICT otherwise. */
WOM_API int wom_cas(wom_region *r, uint64_t addr, uint64_t expect, const void *buf,
                    size_t len, uint64_t *version);
/* Block while the cell's version equals `version` (like a futex on the cell).
 * 0 when it differs, WOM_ETIMEDOUT, WOM_EMODE on ONCE regions. */
WOM_API int wom_wait(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns);

/* ===========================================================================
 * Communication forms, built only on the operations above.
 * ======================================================================== */

/* ---- Channel: a ONCE region used as a log --------------------------------- */
/* A channel named N uses region N (ONCE) for messages, N.seats (ONCE: cell 0
 * holds the bound, then one seat per subscriber) and N.acks (MANY: each
 * seat's published cursor and holder). Many senders, many subscribers, each
 * subscriber with its own cursor. A bounded subscriber publishes its cursor
 * every max(1, bound/4) messages and before it blocks; a sender reads the
 * seats only when the tail reaches the limit it computed last time, and then
 * blocks on the slowest seat (no polling). Concurrent senders may overshoot
 * the bound by at most their number. A subscriber that holds no sender back
 * publishes its cursor every 1024 messages, for tools (wom_chan_readers). A
 * subscriber whose process died holds no sender back (its seat is closed
 * when a sender finds it dead, see wom_holder_alive), and closed seats are
 * taken over by new subscribers. */
typedef struct wom_chan wom_chan;
typedef struct wom_sub wom_sub;

typedef struct {
    uint64_t bound;   /* 0 = unbounded; else senders block while a bounded
                         subscriber is `bound` messages behind */
    size_t max_value; /* as wom_region_opts.max_value (for region N) */
    /* Retention, per handle (its sends trim the log; a subscriber further
     * behind skips ahead; 0 = no such limit; several may be combined): */
    uint64_t retain;       /* keep the last retain..9/8 retain messages */
    uint64_t retain_bytes; /* keep about this many bytes of values (region N
                              holds values in 8 MiB chunks: it may hold a
                              chunk or two more; not applied on etcd://,
                              whose region info counts no bytes) */
    int64_t retain_ns;     /* drop messages older than this, to within 64
                              messages (wall-clock marks in region N.times) */
} wom_chan_opts;
#define WOM_CHAN_OPTS_INIT {0, 0, 0, 0, 0}

/* Open channel `name` (created if absent). opts may be NULL. The first
 * opener fixes the options: a later open with other opts (or NULL) gets the
 * existing bound and value limit, without error. WOM_ENAMETOOLONG when
 * `name` plus the ".seats" suffix does not fit WOM_NAME_MAX. The caller owns
 * *out; close every subscription and queue member of c before c. */
WOM_API int wom_chan_open(wom_space *s, const char *name, const wom_chan_opts *opts,
                          wom_chan **out);
WOM_API void wom_chan_close(wom_chan *c);
/* Append one message; *addr (may be NULL) gets its address. With a bound,
 * waits up to timeout_ns for room (WOM_ETIMEDOUT, also for timeout 0).
 * WOM_EMSGSIZE before any wait. A bounded subscriber that opens later is
 * counted within `bound` sends of each sender handle. */
WOM_API int wom_chan_send(wom_chan *c, const void *buf, size_t len, int64_t timeout_ns,
                          uint64_t *addr);
/* Send n messages in one call: v[i] at addrs[i] (addrs may be NULL), in
 * order, by wom_append_many (consecutive addresses as it says). With a
 * bound, each part that fits the room goes at once and the call waits up
 * to timeout_ns for room for the rest (WOM_ETIMEDOUT, also for timeout 0);
 * a lone sender never passes the bound, and concurrent senders overshoot
 * it by at most the parts they send at once. Retention trims as the sends
 * one at a time would. Every value is checked first (WOM_EINVAL,
 * WOM_EMSGSIZE: nothing sent). *sent (may be NULL) is written on success
 * and on error: how many messages, from v[0], were sent (see
 * wom_append_many for WOM_EUNKNOWN). n = 0 sends nothing. */
WOM_API int wom_chan_send_many(wom_chan *c, const wom_iov *v, size_t n, int64_t timeout_ns,
                               uint64_t *addrs, size_t *sent);
/* Zero-copy send: wom_chan_loan lends len bytes of the channel's log (see
 * wom_loan_new); fill l->data, then wom_chan_send_loan publishes it like
 * wom_chan_send (on error the loan stays open: retry or wom_loan_cancel). */
WOM_API int wom_chan_loan(wom_chan *c, size_t len, wom_loan *l);
WOM_API int wom_chan_send_loan(wom_chan *c, wom_loan *l, int64_t timeout_ns, uint64_t *addr);

typedef struct {
    uint64_t from;    /* first address to read (replay from any address) */
    int bounded;      /* 1: this subscriber holds back senders of a bounded
                         channel (the default for bounded channels) */
} wom_sub_opts;
#define WOM_SUB_OPTS_INIT {0, 1}

/* Subscribe to c starting at opts->from (opts may be NULL: from 0). The
 * subscription is a private cursor: one thread at a time. wom_sub_close
 * releases a bounded subscriber's hold on senders. */
WOM_API int wom_sub_open(wom_chan *c, const wom_sub_opts *opts, wom_sub **out);
WOM_API void wom_sub_close(wom_sub *sub);
/* Receive the next message into buf, advancing the cursor. *addr (may be
 * NULL) gets its address. Trimmed addresses are skipped (the cursor jumps to
 * the floor), so are abandoned ones. WOM_ETIMEDOUT / WOM_EEMPTY (timeout 0) /
 * WOM_ENOBUFS as wom_get (the cursor does not move on errors). Between
 * receives the subscription keeps the last message's arena chunk pinned (so
 * the next read in that chunk needs no new pin) until the next receive or
 * wom_sub_close. */
WOM_API int wom_sub_recv(wom_sub *sub, void *buf, size_t cap, size_t *len, uint64_t *addr,
                         int64_t timeout_ns);
/* Zero-copy receive; release v with wom_view_release. */
WOM_API int wom_sub_recv_view(wom_sub *sub, wom_view *v, uint64_t *addr, int64_t timeout_ns);
/* Receive up to max messages at once as views: waits up to timeout_ns for
 * the next one (errors as wom_sub_recv_view, *got untouched), then takes
 * those after it that are written already (as wom_get_views: the scope
 * may hand over fewer), up to max, with one cursor
 * update (and at most one publication of it to the seat). views[0..*got)
 * are filled (output only: release earlier views first) and each must be
 * released with wom_view_release; addrs (may be NULL) gets their
 * addresses. Skips trimmed and abandoned addresses as wom_sub_recv. An
 * error after the first view ends the batch early (still 0); the next
 * receive meets it again. max = 0: *got = 0 at once. */
WOM_API int wom_sub_recv_views(wom_sub *sub, wom_view *views, size_t max, size_t *got,
                               uint64_t *addrs, int64_t timeout_ns);
/* The address the next receive reads. */
WOM_API uint64_t wom_sub_cursor(const wom_sub *sub);
/* How many addresses this subscription skipped because their writer died
 * before publishing (ABANDONED cells, shm: scope): the receives go on past
 * them, and this count is how they are reported. */
WOM_API uint64_t wom_sub_abandoned(const wom_sub *sub);

/* What a channel's seat says of its subscriber (wom_chan_readers). */
typedef enum {
    WOM_READER_OPEN = 0,  /* subscribed, and its process lives */
    WOM_READER_DEAD = 1,  /* its process died without closing it: it holds no
                             sender back; the seat is closed when a sender or
                             a new subscriber comes across it */
    WOM_READER_CLOSED = 2 /* closed; a new subscriber may take the seat over */
} wom_reader_state;
typedef struct {
    uint64_t seat;          /* 1, 2, ...: which seat (a subscriber that opens
                               later takes a closed or dead one over) */
    wom_reader_state state;
    uint64_t cursor;        /* OPEN, DEAD: the cursor it last published (it had
                               received every address below; it publishes as
                               the channel comment above says, so it may be
                               further on by now); CLOSED: 0 */
    int bounded;            /* OPEN, DEAD: 1 if it holds senders back */
} wom_reader_info;
/* For tools (wom stat): call fn for each seat of c, in seat order, with
 * what the subscriber in it last published; a seat taken a moment ago whose
 * first cursor is not stored yet is left out. A snapshot that changes
 * nothing (a dead subscriber is reported, its seat not closed), also on a
 * read-only space. Returns fn's value, stopping early, when fn returns
 * non-zero. A seat that holds a value no subscriber wrote (a damaged space)
 * is skipped, and WOM_ECORRUPT is returned after every other seat was
 * reported; other errors as wom_load. The info passed to fn is valid during
 * that call only. */
WOM_API int wom_chan_readers(wom_chan *c, int (*fn)(const wom_reader_info *, void *),
                             void *arg);

/* ---- Queue group: each message to exactly one member ---------------------- */
/* Group G over channel N: members claim message i by winning write-once
 * cell i of region N.G.claims with their id (an address of N.G.members).
 * A member passes i only once i is claimed, so a member that leaves strands
 * no message, and one that joins starts at the claims tail. A member that
 * dies holding a claim loses that message (at most once on crashes).
 * Members trim the claims below the channel's floor, so a group over a
 * channel with retention runs in bounded memory. */
typedef struct wom_queue wom_queue;
/* Join group `group` of channel c as a member. One thread at a time. */
WOM_API int wom_queue_join(wom_chan *c, const char *group, wom_queue **out);
WOM_API void wom_queue_leave(wom_queue *q);
/* Take the next message no other member has taken. Errors as
 * wom_sub_recv; on WOM_ENOBUFS the claim stays this member's and the next
 * take returns that message. */
WOM_API int wom_queue_take(wom_queue *q, void *buf, size_t cap, size_t *len, uint64_t *addr,
                           int64_t timeout_ns);

/* ---- Register over a ONCE log (shared memory from message passing) -------- */
/* A register whose writes append versions to ONCE region `name`: read =
 * latest version. Same contract as one MANY cell (load/store/cas/version,
 * errors included): version v is log entry v-1, cas(expect) writes entry
 * `expect`. The log is trimmed as it grows (about the latest 64-128 entries
 * stay), so memory stays bounded. The value limit is the region's. */
typedef struct wom_reg wom_reg;
WOM_API int wom_reg_open(wom_space *s, const char *name, wom_reg **out);
WOM_API void wom_reg_close(wom_reg *g);
WOM_API int wom_reg_store(wom_reg *g, const void *buf, size_t len, uint64_t *version);
WOM_API int wom_reg_load(wom_reg *g, void *buf, size_t cap, size_t *len, uint64_t *version);
WOM_API int wom_reg_cas(wom_reg *g, uint64_t expect, const void *buf, size_t len,
                        uint64_t *version);

/* ---- Ring of reused MANY slots (message passing from shared memory) ------- */
/* A bounded multi-producer multi-consumer queue over `slots` cells of MANY
 * region `name`; each message is received once, and each receiver sees each
 * sender's messages in order. Cells 0..slots-1 are the slots; the top three
 * addresses hold the shape (slots, max_value) and position hints. */
typedef struct wom_ring wom_ring;
/* Open (creating if absent) ring `name`. max_value 0 = default. WOM_EINVAL
 * when slots is 0 or above 2^40, or the ring exists with another shape. */
WOM_API int wom_ring_open(wom_space *s, const char *name, uint64_t slots, size_t max_value,
                          wom_ring **out);
WOM_API void wom_ring_close(wom_ring *g);
/* Blocks while the ring is full (WOM_ETIMEDOUT, also for timeout 0).
 * WOM_EMSGSIZE above max_value. */
WOM_API int wom_ring_send(wom_ring *g, const void *buf, size_t len, int64_t timeout_ns);
/* Blocks while the ring is empty (WOM_ETIMEDOUT; WOM_EEMPTY for timeout 0,
 * as wom_sub_recv). WOM_ENOBUFS with *len when the next message does not fit
 * (nothing is taken). buf is scratch: on failure it may hold other bytes. */
WOM_API int wom_ring_recv(wom_ring *g, void *buf, size_t cap, size_t *len, int64_t timeout_ns);

/* ---- Consensus and atomic broadcast, each built from the other ----------- */
/* Consensus from atomic broadcast: consensus object `name` is ONCE region
 * `name` used as a log (atomic broadcast: every reader reads the same values
 * in the same order). A proposal appends its value; the decision is the
 * first value in the log (the lowest written address: a cell whose appender
 * died before publishing, shm:, holds no proposal and is passed over). The
 * log is never trimmed by this form; do not wom_trim it (a trimmed decision
 * is WOM_ETRIMMED, never another value). Every proposer and reader gets the
 * same decision (agreement), and it is some proposer's value (validity). The
 * value limit is the region's. wom_cons is thread-safe. */
typedef struct wom_cons wom_cons;
WOM_API int wom_cons_open(wom_space *s, const char *name, wom_cons **out);
WOM_API void wom_cons_close(wom_cons *c);
/* Propose buf and return the decision (this proposal's or another's) in
 * out: *outlen gets its size. Proposes nothing when a decision is already
 * readable. Waits up to timeout_ns for the decision to become readable
 * (WOM_ETIMEDOUT, also for timeout 0: the proposal stands and may still
 * win). On a remote scope a proposal whose outcome is unknown (WOM_EUNKNOWN,
 * WOM_ENOTCONN, WOM_EUNAVAIL) is appended again while the timeout allows (a
 * second copy changes nothing: the first entry decides), else that error
 * is returned. WOM_EMSGSIZE above the region's limit; WOM_ENOBUFS with
 * *outlen when cap is too small (the proposal stands: read the decision
 * with wom_cons_read); WOM_ETRIMMED if the log was trimmed. */
WOM_API int wom_cons_propose(wom_cons *c, const void *buf, size_t len, void *out, size_t cap,
                             size_t *outlen, int64_t timeout_ns);
/* Learn the decision without proposing: waits up to timeout_ns for one
 * (WOM_ETIMEDOUT; WOM_EEMPTY at once for timeout 0, as wom_get); other
 * errors as wom_cons_propose. */
WOM_API int wom_cons_read(wom_cons *c, void *out, size_t cap, size_t *outlen,
                          int64_t timeout_ns);

/* Atomic broadcast from consensus: broadcast `name` is ONCE region `name`
 * whose cell i is consensus instance i (the first put wins; a loser learns
 * the winner by WOM_EWRITTEN and a get). A sender proposes its message at
 * the first instance it has not seen decided, and at the next while it
 * loses. Each proposal carries a 20-byte header {magic, sender id,
 * sequence} (the id is won by an append to region `name`.ids at the
 * handle's first send), so a sender recognises its own message even among
 * identical payloads; receivers get the payload without it. Every receiver
 * delivers the same messages in the same order (instance order), each
 * message at most once and, once its send returned 0, exactly once; one
 * handle's messages in the order it sent them; nothing that was not sent.
 * A wom_abcast is a sender and a receiver cursor (from instance 0): one
 * thread at a time. A forked child must open its own. */
typedef struct wom_abcast wom_abcast;
/* Open broadcast `name` (region `name`, created if absent); the caller owns
 * *out and frees it with wom_abcast_close. WOM_ENAMETOOLONG when `name` plus
 * ".ids" does not fit WOM_NAME_MAX. */
WOM_API int wom_abcast_open(wom_space *s, const char *name, wom_abcast **out);
/* Free b (NULL does nothing). Closing a handle whose send returned
 * WOM_EUNKNOWN gives that message up: it is delivered once or never. */
WOM_API void wom_abcast_close(wom_abcast *b);
/* Broadcast buf; *index (may be NULL) gets the instance that decided it.
 * Never waits for receivers; timeout_ns bounds how long errors of a remote
 * scope (WOM_EUNKNOWN, WOM_ENOTCONN, WOM_EUNAVAIL) are retried (0: not at
 * all). After an unknown outcome the sender reads the instance before it
 * proposes there again, and never moves past it until another message won
 * it. WOM_EUNKNOWN: the message may or may not have been decided, and is
 * kept pending in b: send the same bytes again to settle it (it returns the
 * one instance that decided it, whichever attempt won); another message is
 * WOM_EINVAL until then. WOM_ETRIMMED: the log was trimmed (wom_trim) past
 * a pending message before its outcome could be read; it may have been
 * delivered, and is no longer pending. Other errors: the message was not
 * decided. WOM_EMSGSIZE when len + 20 exceeds the region's limit. */
WOM_API int wom_abcast_send(wom_abcast *b, const void *buf, size_t len, int64_t timeout_ns,
                            uint64_t *index);
/* Deliver the next message into buf, advancing the cursor; *index (may be
 * NULL) gets its instance. Waits for the next instance to be decided:
 * WOM_ETIMEDOUT / WOM_EEMPTY (timeout 0) / WOM_ENOBUFS with *len as
 * wom_get (the cursor stays). An instance whose proposer died before
 * publishing (shm:) is passed. WOM_ECORRUPT: the instance holds a value no
 * wom_abcast_send wrote (the cursor passes it). WOM_ETRIMMED: someone
 * trimmed the log under the cursor, which moves to the floor. */
WOM_API int wom_abcast_recv(wom_abcast *b, void *buf, size_t cap, size_t *len,
                            uint64_t *index, int64_t timeout_ns);
/* The instance the next receive reads. */
WOM_API uint64_t wom_abcast_cursor(const wom_abcast *b);

#ifdef __cplusplus
}
#endif
#endif /* WOM_H */
