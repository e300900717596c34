/*
 * space.h - backends behind one internal ops table. The public functions in
 * space.c check arguments and dispatch; a backend implements the cell
 * operations for its scope (mem and shm through the engine, raft over the
 * wire). Every op returns 0 or a negative WOM_E* code.
 */
#ifndef WOM_SPACE_H
#define WOM_SPACE_H

#include "engine/engine.h"
#include "wom.h"

/* A scope: how to open and close a space for one URI scheme. */
struct wom__scope {
    const char *scheme; /* URI prefix including ':' */
    int (*open)(const char *rest, wom_space **out);
    void (*close)(wom_space *s);
    int (*sync)(wom_space *s); /* NULL: nothing outlives the process */
};

/* The cell operations of a space. */
struct wom__ops {
    int (*region)(wom_space *s, const char *name, wom_mode mode, size_t max_value,
                  wom_region *r);
    void (*info)(wom_region *r, wom_region_info *out);
    int (*regions)(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg);
    int (*put)(wom_region *r, uint64_t addr, const void *buf, size_t len);
    int (*append)(wom_region *r, const void *buf, size_t len, uint64_t *addr);
    int (*get_view)(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
    void (*release)(wom_view *v);
    int (*trim)(wom_region *r, uint64_t below);
    int (*tail)(wom_region *r, uint64_t *tail);
    int (*inspect)(wom_region *r, uint64_t addr, wom_cell_info *out);
    /* A loan is a token (engine: the record offset) and writable bytes;
     * publish at *addr (put) or at the next address (append, sets *addr). */
    int (*loan)(wom_region *r, size_t len, uint64_t *token, void **data);
    int (*loan_publish)(wom_region *r, uint64_t token, int append, uint64_t *addr);
    void (*loan_cancel)(wom_region *r, uint64_t token);
    int (*store)(wom_region *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                 uint64_t expect, uint64_t *version);
    int (*load)(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                uint64_t *version);
    int (*wait)(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns);
};

struct wom_space {
    const struct wom__scope *scope;
    const struct wom__ops *ops;
    wom__eng eng; /* engine-backed scopes */
    void *map;
    size_t map_len;
    /* Set once the file behind map shrank under it (shm:): the pages past
     * its end read as zeros, so every op fails with WOM_ECORRUPT. */
    wom_a32 broken;
};

struct wom_region {
    wom_space *s;
    wom__reg er;
};

/* The engine-backed implementation of every cell op (mem:, shm:). */
extern const struct wom__ops wom__engine_ops;
/* Scopes. */
extern const struct wom__scope wom__mem_scope;
extern const struct wom__scope wom__shm_scope;

/* Record a sentence for wom_last_error (printf format) and return err. */
int wom__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a size like "64G", "512M", "4096" into *out. */
int wom__parse_size(const char *s, uint64_t *out);

#endif
