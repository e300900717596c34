/*
 * space.h - the seam between the public API and a scope. The public
 * functions in space.c check arguments and dispatch through a space's ops
 * table; a scope fills the table: mem: and shm: through the engine
 * (engine_ops.c), a remote scope over the wire. Nothing in space.c knows
 * what a backend keeps: a space and a region carry the backend's own state
 * behind `impl`, and a view remembers the backend that made it.
 *
 * Every op returns 0 or a negative WOM_E* code (none may assume success:
 * a remote scope can lose its connection in any of them), writes its out
 * parameters only on success, and borrows the buffers it is given for the
 * call only, unless its comment says otherwise. Arguments were checked by
 * space.c (non-NULL where the public contract requires it). Errors every op
 * may return besides those named: WOM_ECORRUPT (the space's data is damaged),
 * WOM_ENOTCONN (connection lost; nothing was done), WOM_EUNKNOWN (connection
 * lost after the request went out: it may or may not have taken effect),
 * WOM_EUNAVAIL (the scope cannot serve now; try again). Optional ops (NULL
 * in a table: sync, regions, inspect, loan with loan_publish and
 * loan_cancel) make the public call return WOM_ENOTSUP (wom_sync: 0), but
 * append_many and get_views, which space.c does one cell at a time; every
 * other op is required.
 */
#ifndef WOM_SPACE_H
#define WOM_SPACE_H

#include "engine/engine.h"
#include "util/view.h"
#include "wom.h"

/* A scope: how to open a space for one URI scheme. */
struct wom__scope {
    const char *scheme; /* URI prefix including ':' */
    /* Open "rest" (the URI after the scheme): a new space with its ops and
     * impl set, owned by the caller until ops->close. Never blocks past the
     * scope's own open timeout. Explains a failure with wom__fail. */
    int (*open)(const char *rest, wom_space **out);
    /* The sentence of the scope's last failed open on this thread, where
     * the scope keeps its own (a scope in a library of its own: report.c
     * is compiled into it); NULL when it uses libwom's. */
    char *(*why)(void);
};

/* The operations of a space. Blocking ops take a timeout (0: never block,
 * < 0: forever); all others return without waiting for other processes
 * (a remote scope waits for its round trip only). */
struct wom__ops {
    /* Bytes of backend state to allocate behind every wom_region of this
     * space (its impl, 8-aligned); region_open fills it. */
    size_t region_size;

    /* Free everything of s (regions and views are gone by contract). */
    void (*close)(wom_space *s);
    /* Make what was written durable; WOM_EIO when the storage failed. NULL:
     * nothing outlives the process (wom_sync returns 0). */
    int (*sync)(wom_space *s);
    /* The calling process's holder token in *token (0: none, always
     * alive), and whether the process behind a token lives (*alive 1/0;
     * never 0 on doubt: a failed call leaves the caller assuming alive). */
    int (*holder)(wom_space *s, uint64_t *token);
    int (*holder_alive)(wom_space *s, uint64_t token, int *alive);

    /* Open or create region name (wom_region_open's contract; space.c has
     * checked name, mode and max_value, which is not 0) into r->impl;
     * region_close frees what region_open took (never fails). */
    int (*region_open)(wom_space *s, const char *name, wom_mode mode, size_t max_value,
                       wom_region *r);
    void (*region_close)(wom_region *r);
    /* A snapshot of r (hints and statistics). */
    int (*info)(wom_region *r, wom_region_info *out);
    /* fn for every region in creation order, stopping at fn's non-zero. */
    int (*regions)(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg);

    /* ONCE cells (wom_put, wom_append, wom_tail, wom_trim, wom_inspect). */
    int (*put)(wom_region *r, uint64_t addr, const void *buf, size_t len);
    int (*append)(wom_region *r, const void *buf, size_t len, uint64_t *addr);
    /* Append v[0..n) (wom_append_many's contract; space.c has checked
     * that no data is NULL with a len): lengths and mode are checked before
     * anything is appended; *done is always written; addrs may be NULL.
     * Optional: without it space.c appends one by one (not consecutive). */
    int (*append_many)(wom_region *r, const wom_iov *v, size_t n, uint64_t *addrs,
                       size_t *done);
    int (*tail)(wom_region *r, uint64_t *tail);
    int (*trim)(wom_region *r, uint64_t below);
    int (*inspect)(wom_region *r, uint64_t addr, wom_cell_info *out);
    /* Blocks up to timeout for addr to be written, then fills v (a view
     * of this backend: pin_[0] names its wom__view_owner) that stays valid
     * until released (util/view.h). v may come in holding a view of this backend, which
     * is reused or released; on error v holds none. */
    int (*get_view)(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
    /* wom_get_views: views of addr, addr+1, ... that are written already,
     * up to max, into v[0..*got) (each comes in holding none); never
     * waits; stops at the first address not written, trimmed or abandoned
     * (not an error). An error only when no view was taken. Optional:
     * without it space.c loops get_view with timeout 0, which is all the
     * engine scopes need (a get there is a memory read); etcd:// has its
     * own (one range read for the run). */
    int (*get_views)(wom_region *r, uint64_t addr, wom_view *v, size_t max, size_t *got);
    /* A loan: len writable bytes at *data and a token, the caller's until
     * published (put at *addr, or append: sets *addr) or cancelled; on a
     * failed publish the loan stays the caller's. */
    int (*loan)(wom_region *r, size_t len, uint64_t *token, void **data);
    int (*loan_publish)(wom_region *r, uint64_t token, int append, uint64_t *addr);
    void (*loan_cancel)(wom_region *r, uint64_t token);

    /* MANY cells: store (has_expect: cas), load, wait (blocks up to timeout
     * while the cell's version is `version`). */
    int (*store)(wom_region *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                 uint64_t expect, uint64_t *version);
    int (*load)(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                uint64_t *version);
    int (*wait)(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns);

    /* wom_space_info_get (filling *out only on success); NULL: WOM_ENOTSUP. */
    int (*space_info)(wom_space *s, wom_space_info *out);
};

struct wom_space {
    const struct wom__ops *ops;
    void *impl; /* the backend's */
};

struct wom_region {
    wom_space *s;
    void *impl; /* the backend's: ops->region_size bytes after this struct */
};

/* ---- engine-backed scopes (mem:, shm:) ---- */

/* The space state of an engine-backed scope: the engine over one mapping,
 * and what the scope does at close and sync. */
struct wom__espace {
    wom_space pub; /* pub.impl == this */
    wom__eng eng;
    void *map;
    size_t map_len;
    /* Set once the file behind map shrank under it (shm:): the pages past
     * its end read as zeros, so every op fails with WOM_ECORRUPT. */
    wom_a32 broken;
    void (*close)(struct wom__espace *es);
    int (*sync)(struct wom__espace *es); /* NULL: nothing outlives the process */
};

/* The engine-backed implementation of every op (mem:, shm:). */
extern const struct wom__ops wom__engine_ops;

/* For tests and tools that look inside an engine-backed space. */
static inline struct wom__espace *wom__espace_of(wom_space *s) { return s->impl; }
static inline wom__eng *wom__eng_of(wom_space *s) { return &wom__espace_of(s)->eng; }
static inline wom__reg *wom__reg_of(wom_region *r) { return r->impl; }

/* Scopes. */
extern const struct wom__scope wom__mem_scope;
extern const struct wom__scope wom__shm_scope;
/* etcd:// (src/space/etcd.c) is referenced weakly in space.c: only the
 * programs that link its objects have it. */

/* 1 when name[0, n) may name a region: not empty, no control bytes. */
int wom__name_ok(const char *name, size_t n);

/* The sentence of this thread's last failed open (report.c). */
char *wom__last_error_buf(void);
/* Record a sentence for wom_last_error (printf format) and return err. */
int wom__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a size like "64G", "512M", "4096" into *out. */
int wom__parse_size(const char *s, uint64_t *out);

#endif
