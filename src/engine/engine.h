/*
 * engine.h - the cell store over one memory segment. It does not know where
 * its memory comes from: a backend hands it a zero-filled range and says
 * whether other processes share it (process-shared futexes). All functions
 * return 0 or a negative WOM_E* code; all are safe to call concurrently.
 */
#ifndef WOM_ENGINE_H
#define WOM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/layout.h"
#include "util/view.h"
#include "wom.h"

/* The host interface: what a backend gives the engine over a shared
 * segment (shm:), so that the engine never needs to know where its memory
 * comes from or how processes are told apart. Every process of a shared
 * segment holds a slot number (0..WOM__NPROCS-1) that the backend vouches
 * for with kernel-backed liveness. The engine alone writes its structure;
 * the backend calls the wom__eng_* functions below to change it. */
struct wom__host {
    void *ctx;
    /* Make [start, end) usable (a file backend allocates its blocks): 0, or
     * a WOM_E* (the allocator answers WOM_ENOSPC). */
    int (*grow)(void *ctx, uint64_t start, uint64_t end);
    /* Give [off, off+len) back to the system: it reads as zero afterwards,
     * in every process. */
    void (*discard)(void *ctx, uint64_t off, uint64_t len);
    /* 1 while the process holding slot lives, 0 once the kernel says it
     * died (never 0 on doubt; a slot number from a damaged file that names
     * no slot is dead). */
    int (*alive)(void *ctx, uint32_t slot);
    /* Hold dead slot's lock for a while, so no process takes the slot
     * meanwhile: 1 if it could (then slot_unlock gives it back), 0 if
     * someone holds it. */
    int (*slot_lock)(void *ctx, uint32_t slot);
    void (*slot_unlock)(void *ctx, uint32_t slot);
};

typedef struct wom__eng {
    /* First: a view's pin_[0] is this engine (util/view.h). */
    struct wom__view_owner owner;
    char *base;
    uint64_t size;
    int shared; /* another process may map the segment (host != NULL) */
    uint64_t id; /* unique per engine instance in this process (leaf cache key) */
    struct wom__seg_hdr *hdr;
    /* The backend (NULL: anonymous memory of one process, always backed,
     * discard = drop the pages). */
    const struct wom__host *host;
    /* Crash recovery (shared segments): this process's slot (busy word,
     * then addr word); NULL busy: no slot (mem:, read-only). */
    wom_a64 *busy;
    uint32_t self;
    uint32_t pin_slot; /* where this process counts its pins (self, or
                          WOM__PIN_SLOTLESS) */
    uint64_t token; /* this process's holder token; 0: none (always alive) */
    /* Sealing (shared segments): one bit per chunk this process has made
     * read-only in its own mapping; NULL: no sealing. */
    wom_a64 *sealed;
    /* Read-only (shared segments): the mapping is PROT_READ; every write is
     * WOM_EROFS, reads copy and validate instead of pinning, waits count in
     * hdr->wake (only when ro_wake: that page is writable here) and sleep
     * on bells. */
    int ro;
    int ro_wake;
    /* The space's life as this process opened it (shared segments): values
     * in chunks begun in another life were at rest, and their checksums
     * are verified on read (always, when read-only). */
    uint64_t life;
} wom__eng;

/* Liveness of slot (shared segments with a host; 1 elsewhere). */
static inline int eng_alive(const wom__eng *e, uint32_t slot)
{
    return !e->host || e->host->alive(e->host->ctx, slot);
}

typedef struct wom__reg {
    wom__eng *e;
    struct wom__region_hdr *h;
    uint32_t idx;
    wom_mode mode;
    uint32_t max_value;
    /* Names engine and region in the leaf cache, never 0 (an unused
     * entry's key): (e->id * WOM__NREGIONS + idx) + 1. */
    uint64_t leaf_key;
} wom__reg;

/* Lay out a fresh engine over base[0, size) (zero-filled). host: the
 * backend of a shared segment, NULL for anonymous memory of one process;
 * it must outlive the engine. */
int wom__eng_format(wom__eng *e, void *base, uint64_t size, const struct wom__host *host);
/* Attach to a formatted segment of `avail` readable bytes: checks magic,
 * layout version and the header's sizes (WOM_ECORRUPT when they are wrong).
 * On success e->size is the segment's reserved size from its header. */
int wom__eng_attach(wom__eng *e, void *base, uint64_t avail, const struct wom__host *host);
/* ---- the host interface: how a backend changes the engine's state ---- */
/* This process now holds slot's lock (taken from a dead owner, or never
 * used): settle what the previous owner left (inside an append: the
 * region's sticky crash evidence; creating a region: freed; its pins:
 * dropped), then make the slot this process's, with a new holder token. */
void wom__eng_join(wom__eng *e, uint32_t slot);
/* Forget this process's slot (a forked child holds its parent's). */
void wom__eng_leave(wom__eng *e);
/* From now on this process only reads (every write is WOM_EROFS);
 * wake_writable: the wake page is writable in its mapping. */
int wom__eng_read_only(wom__eng *e, int wake_writable);
/* The wake page as a range of the mapping (the backend makes it writable
 * for a read-only process that may write the file). */
void wom__eng_wake_page(const wom__eng *e, void **at, size_t *len);
/* No read-only process is open: the counts of sleepers are dead ones'. */
void wom__eng_reset_wake(wom__eng *e);
/* No other process is attached (the backend's set-up lock keeps new ones
 * out): drop every other process's pins, free regions left being created,
 * take back the chunks the dead held off the free stacks, and start a new
 * life (what is in the segment has been at rest). */
void wom__eng_recover_alone(wom__eng *e);
/* The open is complete: this process works in the space's current life. */
void wom__eng_opened(wom__eng *e);
/* The reserved size recorded in a formatted header of `avail` bytes (0 if
 * the header cannot be read). */
uint64_t wom__eng_reserved(const void *base, uint64_t avail);
void wom__eng_discard(wom__eng *e, uint64_t off, uint64_t len);
/* Free what attach/format allocated in this process. */
void wom__eng_fini(wom__eng *e);
/* Sealing: a full chunk whose records are all written is made read-only in
 * this process's mapping when a reader first pins it; an allocator opens a
 * chunk it sealed earlier (a reused one) again before writing into it. */
void wom__seal(wom__eng *e, uint64_t off);
int wom__unseal(wom__eng *e, uint64_t c);
/* The record at off (ONCE, shared segment) is fully written; _n: the n
 * records of one wom__rec_alloc_n, from the first. */
void wom__rec_filled(wom__eng *e, uint64_t off);
void wom__rec_filled_n(wom__eng *e, uint64_t off, uint64_t n);
/* Open or create a region (see wom_region_open; the caller has checked the
 * name, the mode and max_value, which is not 0). WOM_ECORRUPT for a region
 * stuck in creation with no creator named. */
int wom__eng_region(wom__eng *e, const char *name, wom_mode mode, size_t max_value,
                    wom__reg *out);
void wom__eng_info(const wom__reg *r, wom_region_info *out);
/* Holder tokens (see wom_holder): [generation : 56][slot : 8], 0 = none. */
uint64_t wom__eng_holder(const wom__eng *e);
int wom__eng_holder_alive(wom__eng *e, uint64_t token);
/* Visit the READY regions in creation order. */
int wom__eng_regions(wom__eng *e, int (*fn)(const wom_region_info *, void *), void *arg);

/* ONCE cells. */
int wom__eng_put(wom__reg *r, uint64_t addr, const void *buf, size_t len);
int wom__eng_append(wom__reg *r, const void *buf, size_t len, uint64_t *addr);
/* Append v[0..n) at consecutive addresses (wom_append_many): lengths are
 * checked and every record made before any address is taken; *done (always
 * written) counts the values appended, from v[0]. */
int wom__eng_append_many(wom__reg *r, const wom_iov *v, size_t n, uint64_t *addrs,
                         size_t *done);
/* Loans: a record of len bytes at *off, to be written at *data, then
 * published (put/append: on error it stays the caller's) or cancelled. */
int wom__eng_loan(wom__reg *r, size_t len, uint64_t *off, void **data);
int wom__eng_loan_put(wom__reg *r, uint64_t off, uint64_t addr);
int wom__eng_loan_append(wom__reg *r, uint64_t off, uint64_t *addr);
void wom__eng_loan_cancel(wom__reg *r, uint64_t off);
/* Wait for addr and pin its value: on 0, v->data/len are set and v is pinned
 * until wom__eng_unpin_view. v may come in holding a pin from this engine
 * (pin_[0] != 0), which is reused or dropped; on error v holds no pin. */
int wom__eng_get_view(wom__reg *r, uint64_t addr, wom_view *v, int64_t timeout_ns);
void wom__eng_unpin_view(wom_view *v);
int wom__eng_trim(wom__reg *r, uint64_t below);
int wom__eng_tail(wom__reg *r, uint64_t *tail);
int wom__eng_inspect(wom__reg *r, uint64_t addr, wom_cell_info *out);

/* MANY cells. has_expect selects cas. */
int wom__eng_store(wom__reg *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                   uint64_t expect, uint64_t *version);
int wom__eng_load(wom__reg *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                  uint64_t *version);
int wom__eng_wait(wom__reg *r, uint64_t addr, uint64_t version, int64_t timeout_ns);

/* ---- internal to src/engine ---- */

/* Only when no other process is attached: the pins of every other slot are
 * dropped, and chunks that only they kept from being released are released. */
void wom__eng_drop_pins(wom__eng *e);
/* Drop slot's pins in every chunk (its process died; this process holds the
 * slot's lock), releasing the chunks only they kept. */
void wom__eng_clean_slot(wom__eng *e, uint32_t slot);
/* Set back to FREE the regions left being created (INIT) by slot `slot`'s
 * dead process, or by anyone (UINT32_MAX: only when no other process is
 * attached). */
void wom__eng_free_inits(wom__eng *e, uint32_t slot);

/* Checks of offsets read from the segment, which another process (or a
 * corrupt file) may have filled with anything. brk bounds what was ever
 * handed out; every piece below it is inside the file. */
static inline uint64_t eng_brk(const wom__eng *e)
{
    /* relaxed: only a bound; what lies below it was backed before it moved */
    uint64_t b = atomic_load_explicit(&e->hdr->brk, memory_order_relaxed);
    return b < e->size ? b : e->size;
}
static inline uint64_t eng_first(void)
{
    return (sizeof(struct wom__seg_hdr) + WOM__PAGE - 1) & ~(uint64_t)(WOM__PAGE - 1);
}
/* A page-aligned piece of `bytes` (node, leaf, chunk) inside the bump area. */
static inline int eng_piece_ok(const wom__eng *e, uint64_t off, uint64_t bytes)
{
    uint64_t brk = eng_brk(e); /* once: each read is an atomic load */
    return (off & (WOM__PAGE - 1)) == 0 && off >= eng_first() && off <= brk && bytes <= brk - off;
}
/* Where a record header may sit in its chunk: 8-aligned, past the chunk
 * header, with room for the header. Checks the offset alone, not that the
 * chunk is one (wom__rec_at_ok). */
static inline int wom__rec_place_ok(uint64_t off)
{
    uint64_t in = off & (WOM__CHUNK_SIZE - 1);
    return !(off & 7) && in >= WOM__CHUNK_HDR && WOM__CHUNK_SIZE - in >= sizeof(struct wom__rec);
}
/* A good place for a record, in an arena chunk of the bump area. */
static inline int wom__rec_at_ok(const wom__eng *e, uint64_t off)
{
    return wom__rec_place_ok(off) && eng_piece_ok(e, off & ~(WOM__CHUNK_SIZE - 1), WOM__CHUNK_SIZE);
}
/* The length in the header of a record whose place was checked fits. */
static inline int wom__rec_len_ok(const wom__eng *e, uint64_t off, uint32_t max_value)
{
    uint64_t in = off & (WOM__CHUNK_SIZE - 1);
    uint32_t len = ((const struct wom__rec *)(e->base + off))->len;
    return len <= max_value && len <= WOM__CHUNK_SIZE - in - sizeof(struct wom__rec);
}
/* A record header at off inside an arena chunk, its value fitting too. The
 * header is read: only a pinned record (or one that cannot die) gives a
 * stable answer; wom__rec_at_ok checks the place alone. */
static inline int wom__rec_ok(const wom__eng *e, uint64_t off, uint32_t max_value)
{
    return wom__rec_at_ok(e, off) && wom__rec_len_ok(e, off, max_value);
}
static inline void *eng_ptr(const wom__eng *e, uint64_t off) { return e->base + off; }
static inline struct wom__chunk *eng_chunk(const wom__eng *e, uint64_t off)
{
    return (struct wom__chunk *)(e->base + (off & ~(WOM__CHUNK_SIZE - 1)));
}
/* alloc.c */
/* Hand out size bytes aligned to align, of which the first `back` are backed
 * (usable) at once; the caller backs the rest with wom__back before use.
 * The memory reads as zero. Pieces smaller than a chunk come from the
 * alignment gap below the last fresh chunk while it has room. */
int wom__raw_alloc(wom__eng *e, uint64_t size, uint64_t align, uint64_t back, uint64_t *off);
/* Make [start, end) usable (a no-op on anonymous memory). WOM_ENOSPC. */
static inline int wom__back(wom__eng *e, uint64_t start, uint64_t end)
{
    return e->host && e->host->grow(e->host->ctx, start, end) ? WOM_ENOSPC : 0;
}
/* Allocate a record; with `filling`, it counts as being written until
 * wom__rec_filled. */
int wom__rec_alloc(wom__reg *r, size_t len, int filling, uint64_t *off);
/* The bytes a record of len value bytes takes in a chunk. */
static inline uint64_t wom__rec_need(size_t len)
{
    return (sizeof(struct wom__rec) + len + 7) & ~7ull;
}
/* count records that take need bytes together (their wom__rec_need
 * summed), in one allocation from one chunk: *off is the first, the
 * others follow it. Each is counted live, and with `filling` as being
 * written, as wom__rec_alloc's one is. */
int wom__rec_alloc_n(wom__reg *r, uint64_t need, uint64_t count, int filling, uint64_t *off);
void wom__rec_kill(wom__eng *e, uint64_t off);
/* n records of the chunk holding off died. */
void wom__rec_kill_n(wom__eng *e, uint64_t off, uint64_t n);
/* Pin the chunk holding off in this process's slot (WOM_ETRIMMED once it
 * is retired); unpin in the slot the pin was taken in. */
int wom__pin(wom__eng *e, uint64_t off);
void wom__unpin(wom__eng *e, uint64_t off, uint32_t slot);
/* End the free-chunk period if `now` (monotonic ns) is past it: warm chunks
 * beyond what the last two periods took are punched onto the cold stack.
 * Called by every chunk release and reuse; tests call it with a made-up
 * clock. */
void wom__chunk_decay(wom__eng *e, int64_t now);
/* No other process uses the segment and every pin is dropped: rebuild the
 * free stacks from the chunks themselves, taking back the chunks that a
 * process which died between a pop and a push held (released, retired but
 * not released, or taken and never installed), each once. */
void wom__eng_rebuild_free(wom__eng *e);
void wom__stack_push(wom__eng *e, wom_a64 *head, wom_a64 *link, uint64_t off, int shift);
uint64_t wom__stack_pop(wom__eng *e, wom_a64 *head, uint64_t (*link_of)(wom__eng *, uint64_t),
                        int shift);
/* index.c */
/* The last leaf each thread used per region slot: streams of reads or
 * writes stay in one leaf for WOM__LEAF_CELLS addresses, so most lookups
 * skip the descent (index.c says why a stale entry is safe). */
struct wom__leaf_cache {
    uint64_t key; /* the wom__reg's leaf_key; 0: unused */
    uint64_t leafno;
    wom_a64 *cells;
};
#define WOM__LEAF_CACHE 8
extern _Thread_local struct wom__leaf_cache wom__leaf_cache[WOM__LEAF_CACHE];
/* The descent of wom__cell, for a leaf not in the cache. */
int wom__cell_slow(wom__reg *r, uint64_t addr, int create, wom_a64 **cell);

/* Find the cell word for addr; with create, make missing nodes and leaves.
 * WOM_EEMPTY when absent (without create), WOM_ETRIMMED under a released
 * subtree, WOM_ENOSPC. Inline: the cached leaf is the common case of every
 * append and read, and a call costs more than the look-up itself. */
static inline int wom__cell(wom__reg *r, uint64_t addr, int create, wom_a64 **cell)
{
    const struct wom__leaf_cache *lc = &wom__leaf_cache[r->idx % WOM__LEAF_CACHE];
    if (lc->key == r->leaf_key && lc->leafno == addr >> WOM__LEAF_BITS) {
        *cell = lc->cells + (addr & (WOM__LEAF_CELLS - 1));
        return 0;
    }
    return wom__cell_slow(r, addr, create, cell);
}
/* Release everything in [from, below) (caller holds the trim lock). */
void wom__index_trim(wom__reg *r, uint64_t from, uint64_t below);
/* Retire the value in a WRITTEN word taken out of the index. */
void wom__cell_released(wom__reg *r, wom_a64 *cell, uint64_t old);

#endif
