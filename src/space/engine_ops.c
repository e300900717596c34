/* engine_ops.c - the ops of engine-backed scopes (mem:, shm:): each space
 * is a wom__espace (the engine over one mapping), each region a wom__reg
 * right behind its handle. */
#include "space/space.h"


/* A space whose file shrank under its mapping (shm:) reads zeros where the
 * file ended (util/fault.h): whatever an op saw there is not the space's,
 * so it fails. acquire: pairs with the fault handler's release store,
 * made before it maps the zero page that this thread may have read. */
static int done(wom_space *s, int rc)
{
    return ld_acquire(&wom__espace_of(s)->broken) ? WOM_ECORRUPT : rc;
}

static void eo_close(wom_space *s) { wom__espace_of(s)->close(wom__espace_of(s)); }

static int eo_sync(wom_space *s)
{
    struct wom__espace *es = wom__espace_of(s);
    return done(s, es->sync ? es->sync(es) : 0);
}

static int eo_holder(wom_space *s, uint64_t *token)
{
    *token = wom__eng_holder(&wom__espace_of(s)->eng);
    return 0;
}

static int eo_holder_alive(wom_space *s, uint64_t token, int *alive)
{
    *alive = wom__eng_holder_alive(&wom__espace_of(s)->eng, token);
    return 0;
}

static int eo_region_open(wom_space *s, const char *name, wom_mode mode, size_t max_value,
                          wom_region *r)
{
    return done(s, wom__eng_region(&wom__espace_of(s)->eng, name, mode, max_value, wom__reg_of(r)));
}

static void eo_region_close(wom_region *r) { (void)r; /* nothing beyond the handle */ }

static int eo_info(wom_region *r, wom_region_info *out)
{
    wom__eng_info(wom__reg_of(r), out);
    return done(r->s, 0);
}

static int eo_regions(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg)
{
    return done(s, wom__eng_regions(&wom__espace_of(s)->eng, fn, arg));
}

static int eo_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    return done(r->s, wom__eng_put(wom__reg_of(r), addr, buf, len));
}

static int eo_append(wom_region *r, const void *buf, size_t len, uint64_t *addr)
{
    return done(r->s, wom__eng_append(wom__reg_of(r), buf, len, addr));
}

static int eo_append_many(wom_region *r, const wom_iov *v, size_t n, uint64_t *addrs,
                          size_t *d)
{
    return done(r->s, wom__eng_append_many(wom__reg_of(r), v, n, addrs, d));
}

static int eo_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    int rc = done(r->s, wom__eng_get_view(wom__reg_of(r), addr, v, timeout_ns));
    if (rc == WOM_ECORRUPT && v->pin_[0])
        wom__eng_unpin_view(v); /* it may have pinned before the space broke */
    return rc;
}

static int eo_loan(wom_region *r, size_t len, uint64_t *tok, void **data)
{
    int rc = wom__eng_loan(wom__reg_of(r), len, tok, data);
    if (rc == 0 && done(r->s, 0)) {
        wom__eng_loan_cancel(wom__reg_of(r), *tok);
        rc = WOM_ECORRUPT;
    }
    return rc;
}

/* A publish that took place ends the loan whatever happened to the space
 * since: reporting it as failed would have the caller cancel the record of
 * a published value (the next op reports the broken space). */
static int eo_loan_publish(wom_region *r, uint64_t tok, int append, uint64_t *addr)
{
    int rc = append ? wom__eng_loan_append(wom__reg_of(r), tok, addr) : wom__eng_loan_put(wom__reg_of(r), tok, *addr);
    return rc ? done(r->s, rc) : 0;
}

static void eo_loan_cancel(wom_region *r, uint64_t tok) { wom__eng_loan_cancel(wom__reg_of(r), tok); }

static int eo_inspect(wom_region *r, uint64_t addr, wom_cell_info *out)
{
    return done(r->s, wom__eng_inspect(wom__reg_of(r), addr, out));
}

static int eo_tail(wom_region *r, uint64_t *tail) { return done(r->s, wom__eng_tail(wom__reg_of(r), tail)); }

static int eo_trim(wom_region *r, uint64_t below) { return done(r->s, wom__eng_trim(wom__reg_of(r), below)); }

static int eo_store(wom_region *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                    uint64_t expect, uint64_t *version)
{
    return done(r->s, wom__eng_store(wom__reg_of(r), addr, buf, len, has_expect, expect, version));
}

static int eo_load(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                   uint64_t *version)
{
    return done(r->s, wom__eng_load(wom__reg_of(r), addr, buf, cap, len, version));
}

static int eo_wait(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    return done(r->s, wom__eng_wait(wom__reg_of(r), addr, version, timeout_ns));
}

/* The figures are hints read without order: a tool's snapshot. A slot
 * counts when the host says its process lives (shm: a kernel lock query;
 * never dead on doubt); mem: has no host and no slots. */
static int eo_space_info(wom_space *s, wom_space_info *out)
{
    const wom__eng *e = &wom__espace_of(s)->eng;
    uint64_t used = ld_relaxed(&e->hdr->brk), free = ld_relaxed(&e->hdr->free_count);
    /* a count below zero for a moment (a take before its give) reads huge */
    wom_space_info in = {.size = e->size,
                         .used = used < e->size ? used : e->size,
                         .chunk_size = WOM__CHUNK_SIZE,
                         .free_chunks = free <= e->size / WOM__CHUNK_SIZE ? free : 0};
    if (e->host) {
        in.procs_max = WOM__NPROCS;
        for (uint32_t slot = 0; slot < WOM__NPROCS; slot++)
            in.procs += (uint32_t)eng_alive(e, slot);
    }
    int rc = done(s, 0);
    if (!rc)
        *out = in;
    return rc;
}

const struct wom__ops wom__engine_ops = {
    .region_size = sizeof(wom__reg),
    .close = eo_close,
    .sync = eo_sync,
    .holder = eo_holder,
    .holder_alive = eo_holder_alive,
    .region_open = eo_region_open,
    .region_close = eo_region_close,
    .info = eo_info,
    .regions = eo_regions,
    .put = eo_put,
    .append = eo_append,
    .append_many = eo_append_many,
    .tail = eo_tail,
    .trim = eo_trim,
    .inspect = eo_inspect,
    .get_view = eo_get_view,
    .loan = eo_loan,
    .loan_publish = eo_loan_publish,
    .loan_cancel = eo_loan_cancel,
    .store = eo_store,
    .load = eo_load,
    .wait = eo_wait,
    .space_info = eo_space_info,
};
