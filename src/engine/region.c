/*
 * region.c - a segment's set-up (format, attach) and its regions: create or
 * open by name, describe, list.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cell.h"

static void eng_bind(wom__eng *e, void *base, uint64_t size, const struct wom__host *host)
{
    static wom_a64 next_id = 1;
    e->id = faa_relaxed(&next_id, 1); /* any unique value will do */
    e->owner.release = wom__eng_unpin_view;
    e->base = base;
    e->size = size;
    e->host = host;
    e->shared = host != NULL;
    e->hdr = base;
    e->self = UINT32_MAX;
    e->pin_slot = WOM__PIN_SLOTLESS; /* until the backend gives it a slot */
}

/* A writable process of a shared segment seals full chunks in its mapping:
 * one bit per chunk of the reserved range. */
static int eng_sealing(wom__eng *e)
{
    if (!e->shared)
        return 0;
    e->sealed = calloc((e->size >> WOM__CHUNK_SHIFT) / 64 + 1, sizeof(wom_a64));
    return e->sealed ? 0 : WOM_ENOMEM;
}

uint64_t wom__eng_reserved(const void *base, uint64_t avail)
{
    const struct wom__seg_hdr *h = base;
    return avail >= sizeof *h && h->magic == WOM__MAGIC ? h->size : 0;
}

int wom__eng_attach(wom__eng *e, void *base, uint64_t avail, const struct wom__host *host)
{
    const struct wom__seg_hdr *h = base;
    if (avail < sizeof *h || h->magic != WOM__MAGIC)
        return WOM_ECORRUPT;
    if (h->version != WOM__LAYOUT_VERSION || h->hdr_size != sizeof *h ||
        h->chunk_shift != WOM__CHUNK_SHIFT || h->nregions != WOM__NREGIONS ||
        h->size < WOM__MIN_SEGMENT || ld_relaxed(&h->brk) > h->size ||
        ld_relaxed(&h->brk) > avail)
        return WOM_ECORRUPT;
    eng_bind(e, base, h->size, host);
    return eng_sealing(e);
}

void wom__eng_discard(wom__eng *e, uint64_t off, uint64_t len)
{
    if (e->host)
        e->host->discard(e->host->ctx, off, len);
    else
        wom__vm_discard(e->base + off, len);
}

int wom__eng_format(wom__eng *e, void *base, uint64_t size, const struct wom__host *host)
{
    if (size < WOM__MIN_SEGMENT)
        return WOM_EINVAL;
    eng_bind(e, base, size, host);
    e->hdr->version = WOM__LAYOUT_VERSION;
    e->hdr->hdr_size = sizeof(struct wom__seg_hdr);
    e->hdr->size = size;
    e->hdr->chunk_shift = WOM__CHUNK_SHIFT;
    e->hdr->nregions = WOM__NREGIONS;
    /* release: the segment is not shared yet; the backend publishes it */
    st_release(&e->hdr->brk, (sizeof(struct wom__seg_hdr) + WOM__PAGE - 1) & ~(uint64_t)(WOM__PAGE - 1));
    /* release: every field above is in memory before the magic that
     * vouches for them (readers look at the file under the set-up lock;
     * this also keeps the compiler from moving the store earlier). */
    atomic_thread_fence(memory_order_release);
    e->hdr->magic = WOM__MAGIC; /* last: a half-formatted segment has none */
    return eng_sealing(e);
}

/* ---- holders: who holds something, and whether it still lives ---- */

uint64_t wom__eng_holder(const wom__eng *e) { return e->busy ? e->token : 0; }

/* Dead when the slot's generation moved on (another process has it now) or
 * its kernel lock is gone. A process taking a slot locks it before it
 * raises the generation, so the lock is read first: a new owner caught in
 * between only reads as the old one alive, never the reverse. A token read
 * from the segment is untrusted; one of no generation names nobody. */
int wom__eng_holder_alive(wom__eng *e, uint64_t token)
{
    if (token == 0 || !e->host)
        return 1;
    uint32_t slot = (uint32_t)(token & 0xff);
    if (token >> 8 == 0)
        return 0;
    if (slot == e->self && e->busy)
        return e->token == token;
    int locked = eng_alive(e, slot);
    return locked && ld_seq(&e->hdr->procs[slot].gen) == token >> 8;
}

/* ---- the host interface (engine.h) ---- */

void wom__eng_join(wom__eng *e, uint32_t slot)
{
    struct wom__seg_hdr *h = e->hdr;
    uint64_t was = xchg_seq(&h->procs[slot].busy, 0);
    if (was && was <= WOM__NREGIONS)
        st_seq(&h->regions[was - 1].crashed, 1); /* it died inside an append */
    e->pin_slot = WOM__PIN_SLOTLESS;
    wom__eng_clean_slot(e, slot);  /* pins the slot's dead owner left */
    wom__eng_free_inits(e, slot);  /* regions it died creating */
    e->pin_slot = slot;
    st_relaxed(&h->procs[slot].pid, (uint64_t)getpid()); /* relaxed: for tools */
    /* The holder token: [generation : 56][slot : 8], read back only by
     * wom__eng_holder_alive above. */
    e->token = ((faa_seq(&h->procs[slot].gen, 1) + 1) << 8) | slot;
    e->busy = &h->procs[slot].busy;
    e->self = slot;
}

void wom__eng_leave(wom__eng *e)
{
    e->busy = NULL;
    e->token = 0;
    e->self = UINT32_MAX;
    e->pin_slot = WOM__PIN_SLOTLESS;
}

int wom__eng_read_only(wom__eng *e, int wake_writable)
{
    wom__eng_leave(e);
    e->ro = 1;
    e->ro_wake = wake_writable;
    /* Nothing is sealed (the whole mapping is read-only); the bitmap stays
     * the engine's marker of a shared segment: values carry checksums. */
    free(e->sealed);
    e->sealed = calloc(1, sizeof(wom_a64));
    return e->sealed ? 0 : WOM_ENOMEM;
}

void wom__eng_wake_page(const wom__eng *e, void **at, size_t *len)
{
    *at = &e->hdr->wake;
    *len = sizeof e->hdr->wake;
}

void wom__eng_reset_wake(wom__eng *e) { memset(&e->hdr->wake, 0, sizeof e->hdr->wake); }

void wom__eng_recover_alone(wom__eng *e)
{
    wom__eng_drop_pins(e);
    wom__eng_free_inits(e, UINT32_MAX);
    wom__eng_rebuild_free(e); /* chunks the dead held between pop and push */
    faa_seq(&e->hdr->life, 1); /* what is in the segment was at rest */
}

void wom__eng_opened(wom__eng *e) { e->life = ld_seq(&e->hdr->life); }

/* ---- regions ---- */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void reg_bind(wom__eng *e, uint32_t i, wom__reg *out)
{
    struct wom__region_hdr *h = &e->hdr->regions[i];
    out->e = e;
    out->h = h;
    out->idx = i;
    out->mode = (wom_mode)h->mode;
    out->max_value = h->max_value;
    out->leaf_key = e->id * WOM__NREGIONS + i + 1;
}

/* A slot being created holds R_INIT | (creator's slot + 1) << 2 (in a
 * shared segment every creator has a slot; 0 is left only by a damaged
 * file). Wait until it is READY; in a shared segment, a creator the kernel
 * says is dead gets its slot set back to FREE (no opener has passed an INIT
 * slot, so the probing order stays intact). Returns the state it ends on,
 * or R_BAD when the creator field names no process. */
#define R_BAD UINT32_MAX
static uint32_t reg_wait_ready(wom__eng *e, struct wom__region_hdr *h)
{
    /* acquire: pairs with the creator's release store of R_READY. */
    uint32_t st;
    while (((st = ld_acquire(&h->state)) & 3) == R_INIT) {
        if (e->host && ((st >> 2) == 0 || (st >> 2) > WOM__NPROCS))
            return R_BAD;
        int64_t until = e->host ? wom__now_ns() + RECOVER_SLICE_NS : -1;
        if (wom__futex_wait(&h->state, st, e->shared, until) == 0)
            continue;
        if (!e->host || eng_alive(e, (st >> 2) - 1))
            continue;
        if (e->ro)
            return R_FREE; /* cannot free it; to this process it is absent */
        if (cas_seq(&h->state, &st, R_FREE))
            wom__futex_wake(&h->state, e->shared);
    }
    return st;
}

void wom__eng_free_inits(wom__eng *e, uint32_t slot)
{
    for (uint32_t i = 0; i < WOM__NREGIONS; i++) {
        struct wom__region_hdr *h = &e->hdr->regions[i];
        uint32_t st = ld_seq(&h->state);
        if ((st & 3) == R_INIT && (slot == UINT32_MAX || st >> 2 == slot + 1) &&
            cas_seq(&h->state, &st, R_FREE))
            wom__futex_wake(&h->state, e->shared);
    }
}

int wom__eng_region(wom__eng *e, const char *name, wom_mode mode, size_t max_value,
                    wom__reg *out)
{
    size_t n = strlen(name); /* name, mode and size were checked by space.c */
    uint32_t start = name_hash(name) % WOM__NREGIONS;
    /* Linear probing; a slot another opener has passed never becomes free
     * again, so every opener of one name walks the same sequence and meets
     * the same slot. */
    for (uint32_t k = 0; k < WOM__NREGIONS; k++) {
        uint32_t i = (start + k) % WOM__NREGIONS;
        struct wom__region_hdr *h = &e->hdr->regions[i];
        uint32_t st = ld_acquire(&h->state); /* pairs with the R_READY release */
        if (st == R_FREE && e->ro)
            return WOM_ENOENT; /* a read-only process opens, never creates */
        if (st == R_FREE) {
            uint32_t init = R_INIT | (e->busy ? (e->self + 1) << 2 : 0);
            if (!cas_seq(&h->state, &st, init)) {
                k--; /* look at this slot again */
                continue;
            }
            memcpy(h->name, name, n + 1);
            h->mode = (uint32_t)mode;
            h->max_value = (uint32_t)max_value;
            /* relaxed: published with the region by the release below */
            h->seq = faa_relaxed(&e->hdr->region_seq, 1);
            /* release: publishes name, mode and limits; pairs with the
             * acquire loads of state above and in reg_wait_ready. */
            st_release(&h->state, R_READY);
            wom__futex_wake(&h->state, e->shared);
            reg_bind(e, i, out);
            return 0;
        }
        st = reg_wait_ready(e, h);
        if (st == R_BAD)
            return WOM_ECORRUPT;
        if (st == R_FREE && e->ro)
            return WOM_ENOENT;
        if (st == R_FREE) {
            k--; /* freed after its creator died: look again */
            continue;
        }
        if (st != R_READY || h->mode < WOM_ONCE || h->mode > WOM_MANY ||
            memchr(h->name, 0, sizeof h->name) == NULL)
            return WOM_ECORRUPT;
        if (memcmp(h->name, name, n + 1) != 0)
            continue;
        if (h->mode != (uint32_t)mode)
            return WOM_EMODE;
        reg_bind(e, i, out);
        return 0;
    }
    return WOM_ENOSPC;
}

void wom__eng_info(const wom__reg *r, wom_region_info *out)
{
    struct wom__region_hdr *h = r->h;
    memset(out, 0, sizeof *out);
    memcpy(out->name, h->name, sizeof out->name);
    out->name[WOM_NAME_MAX] = 0;
    out->mode = (wom_mode)h->mode;
    /* relaxed: wom_region_info is a snapshot of hints and statistics */
    out->tail = ld_relaxed(&h->next);
    out->floor = ld_relaxed(&h->floor);
    out->max_value = h->max_value;
    uint64_t bytes = ld_relaxed(&h->sealed_bytes);
    uint64_t c = ld_acquire(&h->cur_chunk);
    if (c && !(c & (WOM__CHUNK_SIZE - 1)) && eng_piece_ok(r->e, c, WOM__CHUNK_SIZE)) {
        uint64_t a = ld_relaxed(&eng_chunk(r->e, c)->alloc);
        if (!(a & CH_SEALED))
            bytes += CH_USED(a) - WOM__CHUNK_HDR;
    }
    out->bytes = bytes;
}

struct reg_order {
    uint32_t seq, idx;
};

static int by_seq(const void *a, const void *b)
{
    const struct reg_order *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : (x->idx > y->idx) - (x->idx < y->idx);
}

/* One pass over the table and a sort: bounded by the table's size whatever
 * the (shared, untrusted) sequence numbers say. */
int wom__eng_regions(wom__eng *e, int (*fn)(const wom_region_info *, void *), void *arg)
{
    struct reg_order order[WOM__NREGIONS]; /* 8 KiB */
    uint32_t n = 0;
    for (uint32_t i = 0; i < WOM__NREGIONS; i++) {
        struct wom__region_hdr *h = &e->hdr->regions[i];
        if (ld_acquire(&h->state) == R_READY) /* pairs with the R_READY release */
            order[n++] = (struct reg_order){h->seq, i};
    }
    qsort(order, n, sizeof order[0], by_seq);
    for (uint32_t k = 0; k < n; k++) {
        wom__reg r;
        wom_region_info info;
        reg_bind(e, order[k].idx, &r);
        wom__eng_info(&r, &info);
        int rc = fn(&info, arg);
        if (rc)
            return rc;
    }
    return 0;
}
