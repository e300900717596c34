/*
 * layout.h - the engine's structures inside a segment. Fixed-width fields and
 * offsets only (never pointers), so the same bytes work on anonymous memory,
 * on a shared file mapping and in a replica. Fields written by different
 * parties sit on different cache lines.
 *
 * Segment:  [seg_hdr | region_hdr x WOM__NREGIONS | bump area ...]
 * The bump area holds arena chunks (values), index nodes and leaves.
 *
 * Cell word (one uint64 per cell, in a leaf of 1024 cells):
 *   low 2 bits = state: 0 TRIMMED, 1 EMPTY, 2 WRITTEN, 3 ABANDONED
 *   bit 2      = WAITERS: someone sleeps on this cell
 *   EMPTY:   bits 3.. hold the leaf number (addr >> 10), the cell's tag:
 *            a leaf reused for other addresses never matches a stale writer's
 *            expected word, so its CAS fails instead of writing the wrong cell.
 *   WRITTEN: the word is the offset of the value record (8-aligned) | 2.
 * A freshly discarded page reads as zero = TRIMMED.
 */
#ifndef WOM_LAYOUT_H
#define WOM_LAYOUT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "util/atomic.h"

#define WOM__MAGIC 0x45434150534d4f57ull /* "WOMSPACE" */
#define WOM__LAYOUT_VERSION 5u /* 2: process slots, crash evidence; 3: value checksums;
                                  4: read-only sleepers, lives; 5: warm and cold
                                  free chunks, index pages in alignment gaps */
#define WOM__NREGIONS 1024u
#define WOM__CHUNK_SHIFT 23 /* arena chunk: 8 MiB */
#define WOM__CHUNK_SIZE (1ull << WOM__CHUNK_SHIFT)
#define WOM__NPROCS 256u /* process slots */
/* Pin counts per chunk: one per process slot, then one shared by processes
 * without a slot (and by mem:), padded to a cache line. */
#define WOM__PIN_SLOTS (WOM__NPROCS + 16u)
#define WOM__PIN_SLOTLESS WOM__NPROCS
#define WOM__CHUNK_HDR (128u + 4u * WOM__PIN_SLOTS)
#define WOM__CHUNK_MAGIC 0x57434b31u /* "1KCW": never the high half of an offset */
/* Released chunks stay warm (resident, blocks allocated) while fewer than
 * WOM__WARM_CHUNKS, or than the most the free chunks fell in a period of
 * WOM__WARM_PERIOD_NS (this one, or remembered: one less each period since)
 * are warm; beyond, a release punches (cold). At the end of a period, warm
 * chunks beyond WOM__WARM_IDLE and the remembered fall are punched. */
#define WOM__WARM_CHUNKS 8
#define WOM__WARM_IDLE 2
#define WOM__WARM_PERIOD_NS 1000000000ll
#define WOM__LEAF_BITS 10 /* 1024 cells = 8 KiB per leaf */
#define WOM__LEAF_CELLS (1u << WOM__LEAF_BITS)
#define WOM__NODE_BITS 9 /* 512 children = one 4 KiB page per interior node */
#define WOM__NODE_SLOTS (1u << WOM__NODE_BITS)
#define WOM__MAX_HEIGHT 6 /* 10 + 6*9 = 64 address bits */
#define WOM__PAGE 4096u
#define WOM__BACK_STEP (1u << 20) /* chunks are backed a MiB at a time */
/* The smallest segment: its header and four arena chunks, room for a few
 * regions to hold values (each region writes into a chunk of its own). */
#define WOM__MIN_SEGMENT (sizeof(struct wom__seg_hdr) + 4 * WOM__CHUNK_SIZE)

/* Cell states. */
#define C_TRIMMED 0ull
#define C_EMPTY 1ull
#define C_WRITTEN 2ull
#define C_ABANDONED 3ull
#define C_STATE 3ull
#define C_WAIT 4ull
#define C_LOW 7ull

static inline uint64_t cell_empty(uint64_t addr) { return ((addr >> WOM__LEAF_BITS) << 3) | C_EMPTY; }

/* Index slot values other than a node offset. */
#define SLOT_ABSENT 0ull
#define SLOT_TRIMMED 1ull /* subtree released by trim: everything below is trimmed */

/* A value record in an arena chunk; the value bytes follow. */
struct wom__rec {
    uint32_t len;
    uint32_t sum; /* shared segments: checksum of the value bytes */
    uint64_t version;
};
static_assert(sizeof(struct wom__rec) == 16, "record header");

/* Chunk alloc word: [used bytes/8 : 32][sealed : 1][live records : 31]. */
#define CH_SEALED (1ull << 31)
#define CH_LIVE_MASK (CH_SEALED - 1)
#define CH_USED(a) (((a) >> 32) << 3)
/* Chunk state word: RETIRED (no live record left), then RELEASED (the one
 * process that saw it unpinned gave it back) once per life. */
#define CH_RETIRED (1ull << 63)
#define CH_RELEASED (1ull << 62)

struct wom__chunk {
    wom_a64 alloc;     /* writers: bump offset, live count, sealed */
    wom_a64 next_free; /* free-list link (page index) */
    uint32_t region;
    uint32_t magic;    /* WOM__CHUNK_MAGIC: lets a lone opener find chunks */
    wom_a64 backed;    /* bytes from the chunk start known to be backed */
    wom_a64 filling;   /* ONCE records allocated here whose bytes are still
                          being written (shared segments; gates sealing) */
    uint64_t pad1[3];
    wom_a64 state; /* RETIRED, RELEASED */
    uint64_t life; /* the space's life when this life of the chunk began */
    uint64_t pad2[6];
    /* Readers' pins, per process slot: a process counts only in its own, so
     * the counts of a process that died can be found and dropped. */
    wom_a32 pins[WOM__PIN_SLOTS];
};
static_assert(sizeof(struct wom__chunk) == WOM__CHUNK_HDR, "chunk header");

enum { R_FREE = 0, R_INIT = 1, R_READY = 2 };

struct wom__region_hdr {
    /* line 0-1: identity, written once before state becomes READY */
    wom_a32 state;
    uint32_t mode;
    uint32_t max_value;
    uint32_t seq; /* creation order */
    uint64_t pad0[6];
    char name[64];
    /* line 2: index root = node offset | height (0 = no tree yet) */
    wom_a64 root;
    uint64_t pad2[7];
    /* line 3: next address for append (writers) */
    wom_a64 next;
    uint64_t pad3[7];
    /* line 4: trim state and accounting */
    wom_a64 floor;
    wom_a64 free_leaves; /* tagged stack head: [page index : 32][tag : 32] */
    wom_a64 sealed_bytes;
    wom_a32 trim_lock;
    wom_a32 crashed; /* sticky: a process died inside an append here */
    wom_a64 trim_from; /* start of the last trim's walk; == floor once done */
    uint64_t pad4b[3];
    /* line 5: current allocation chunk (offset) */
    wom_a64 cur_chunk;
    uint64_t pad5[7];
    /* lines 6-7: doorbells for waits on MANY cells, and for read-only
     * processes waiting on ONCE cells (they cannot mark a cell WAITERS) */
    wom_a32 bell[32];
};
static_assert(sizeof(struct wom__region_hdr) == 512, "region header");
static_assert(offsetof(struct wom__region_hdr, root) == 128, "region root line");
static_assert(offsetof(struct wom__region_hdr, bell) == 384, "region bells");

/* One per process attached to a shared segment (its liveness is a kernel
 * lock the backend holds for it). busy = region index + 1 while the process
 * is inside an append on that region, else 0 (see addr). */
struct wom__proc {
    wom_a64 busy;
    wom_a64 addr; /* the lowest address the append (or append many) took and
                     has not published yet; UINT64_MAX before it has one */
    wom_a64 pid;  /* for tools only (liveness is the kernel lock) */
    wom_a64 gen;  /* raised by each process that takes the slot: a holder
                     token names slot and generation (wom_holder) */
    uint64_t pad[4];
};
static_assert(sizeof(struct wom__proc) == 64, "process slot");

/* The one page a read-only process maps writable (when the file lets it):
 * per region, how many read-only processes sleep on its bells. A writer that
 * publishes while the count is not zero rings the address's bell. A stray
 * write here can only cost wake-ups (read-only sleepers also wake now and
 * then), never change a value. */
struct wom__ro_wake {
    wom_a32 sleepers[WOM__NREGIONS];
};
static_assert(sizeof(struct wom__ro_wake) == WOM__PAGE, "read-only wake page");

struct wom__seg_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;
    uint64_t size; /* bytes of the segment */
    uint32_t chunk_shift;
    uint32_t nregions;
    wom_a64 life; /* raised by each opener that finds no other process: what
                     was written in an earlier life has been at rest */
    uint64_t pad0[3];
    wom_a64 brk; /* bump allocator: next free offset */
    wom_a64 gap; /* next free offset in the alignment gap a chunk left below
                    itself (index pages go there first); its end is the next
                    chunk boundary */
    uint64_t pad1[6];
    /* Free chunks, on two tagged stacks (head: [page index : 32][tag : 32]).
     * The counts are hints: they may lag the stacks by a few. */
    wom_a64 free_chunks; /* warm: blocks allocated, pages resident */
    wom_a64 free_count;  /* free chunks, warm and cold */
    wom_a64 cold_chunks; /* cold: punched */
    wom_a64 warm_count;  /* chunks on the warm stack */
    wom_a64 free_peak;   /* highest free_count since the period began */
    wom_a64 free_dip;    /* deepest fall below free_peak in this period */
    wom_a64 dip_prev;    /* the most free_dip of the periods before, less
                            one for each period since */
    wom_a64 period_end;  /* monotonic ns: when this period ends */
    wom_a32 region_seq;
    uint32_t pad3[15];
    struct wom__region_hdr regions[WOM__NREGIONS];
    struct wom__proc procs[WOM__NPROCS];
    _Alignas(WOM__PAGE) struct wom__ro_wake wake;
};
static_assert(offsetof(struct wom__seg_hdr, brk) == 64, "brk line");
static_assert(offsetof(struct wom__seg_hdr, free_chunks) == 128, "free chunks line");
static_assert(offsetof(struct wom__seg_hdr, region_seq) == 192, "free chunks fill their line");
static_assert(offsetof(struct wom__seg_hdr, regions) == 256, "regions");
static_assert(offsetof(struct wom__seg_hdr, wake) % WOM__PAGE == 0, "wake page alone on its page");
static_assert(sizeof(struct wom__seg_hdr) % WOM__PAGE == 0, "header ends on a page");

#endif
