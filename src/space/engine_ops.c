/* engine_ops.c - the cell operations of engine-backed scopes (mem:, shm:). */
#include "space/space.h"

/* A space whose file shrank under its mapping (shm:) reads zeros where the
 * file ended (util/fault.h): whatever an op saw there is not the space's,
 * so it fails. acquire: pairs with the fault handler's release store,
 * made before it maps the zero page that this thread may have read. */
static int done(const wom_space *s, int rc)
{
    return ld_acquire(&s->broken) ? WOM_ECORRUPT : rc;
}

static int eo_region(wom_space *s, const char *name, wom_mode mode, size_t max_value,
                     wom_region *r)
{
    return done(s, wom__eng_region(&s->eng, name, mode, max_value, &r->er));
}

static void eo_info(wom_region *r, wom_region_info *out) { wom__eng_info(&r->er, out); }

static int eo_regions(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg)
{
    return done(s, wom__eng_regions(&s->eng, fn, arg));
}

static int eo_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    return done(r->s, wom__eng_put(&r->er, addr, buf, len));
}

static int eo_append(wom_region *r, const void *buf, size_t len, uint64_t *addr)
{
    return done(r->s, wom__eng_append(&r->er, buf, len, addr));
}

static int eo_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    int rc = done(r->s, wom__eng_get_view(&r->er, addr, v, timeout_ns));
    if (rc == WOM_ECORRUPT && v->pin_[0])
        wom__eng_unpin_view(v); /* it may have pinned before the space broke */
    return rc;
}

static int eo_loan(wom_region *r, size_t len, uint64_t *tok, void **data)
{
    int rc = wom__eng_loan(&r->er, len, tok, data);
    if (rc == 0 && done(r->s, 0)) {
        wom__eng_loan_cancel(&r->er, *tok);
        rc = WOM_ECORRUPT;
    }
    return rc;
}

static int eo_loan_publish(wom_region *r, uint64_t tok, int append, uint64_t *addr)
{
    return done(r->s, append ? wom__eng_loan_append(&r->er, tok, addr)
                                 : wom__eng_loan_put(&r->er, tok, *addr));
}

static void eo_loan_cancel(wom_region *r, uint64_t tok) { wom__eng_loan_cancel(&r->er, tok); }

static int eo_inspect(wom_region *r, uint64_t addr, wom_cell_info *out)
{
    return done(r->s, wom__eng_inspect(&r->er, addr, out));
}

static int eo_tail(wom_region *r, uint64_t *tail) { return done(r->s, wom__eng_tail(&r->er, tail)); }

static int eo_trim(wom_region *r, uint64_t below) { return done(r->s, wom__eng_trim(&r->er, below)); }

static int eo_store(wom_region *r, uint64_t addr, const void *buf, size_t len, int has_expect,
                    uint64_t expect, uint64_t *version)
{
    return done(r->s, wom__eng_store(&r->er, addr, buf, len, has_expect, expect, version));
}

static int eo_load(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
                   uint64_t *version)
{
    return done(r->s, wom__eng_load(&r->er, addr, buf, cap, len, version));
}

static int eo_wait(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    return done(r->s, wom__eng_wait(&r->er, addr, version, timeout_ns));
}

const struct wom__ops wom__engine_ops = {
    .region = eo_region,
    .info = eo_info,
    .regions = eo_regions,
    .put = eo_put,
    .append = eo_append,
    .get_view = eo_get_view,
    .release = wom__eng_unpin_view,
    .trim = eo_trim,
    .tail = eo_tail,
    .inspect = eo_inspect,
    .loan = eo_loan,
    .loan_publish = eo_loan_publish,
    .loan_cancel = eo_loan_cancel,
    .store = eo_store,
    .load = eo_load,
    .wait = eo_wait,
};
