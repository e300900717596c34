/* space.c - the public API: argument checks, errors, dispatch to the
 * space's ops (space.h). Copies (wom_get) are views plus memcpy, so every
 * scope implements the zero-copy path only. Nothing here knows what a
 * backend keeps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space/space.h"

/* The etcd:// scope stands on gRPC, which libwom does not link: programs
 * that have it link libwom_etcd (pkg-config wom-etcd) or its objects (the
 * wom CLI and the tests), and it is found here through a weak reference
 * (NULL without). */
extern const struct wom__scope wom__etcd_scope __attribute__((weak));

/* Every scheme wom knows, with its scope where this program has it. */
static const struct {
    const char *scheme;
    const struct wom__scope *scope;
} scopes[] = {{"mem:", &wom__mem_scope}, {"shm:", &wom__shm_scope}, {"etcd://", &wom__etcd_scope}};

const char *wom_strerror(int err)
{
    switch (err) {
#define WOM_STR_(name, val, msg)                                               \
    case val:                                                                  \
        return msg;
        WOM_ERRNO_MAP(WOM_STR_)
#undef WOM_STR_
    case 0:
        return "success";
    default:
        return "unknown error";
    }
}

const char *wom_err_name(int err)
{
    switch (err) {
#define WOM_NAME_(name, val, msg)                                              \
    case val:                                                                  \
        return "WOM_" #name;
        WOM_ERRNO_MAP(WOM_NAME_)
#undef WOM_NAME_
    case 0:
        return "OK";
    default:
        return "WOM_E?";
    }
}

const char *wom_last_error(void) { return wom__last_error_buf(); }

int wom__parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') /* strtoull would take blanks and signs */
        return WOM_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return WOM_EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (*end || v > (UINT64_MAX >> shift))
        return WOM_EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

int wom_open(const char *uri, wom_space **out)
{
    wom__last_error_buf()[0] = 0;
    if (!uri || !out)
        return WOM_EINVAL;
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
        size_t n = strlen(scopes[i].scheme);
        if (strncmp(uri, scopes[i].scheme, n) != 0)
            continue;
        if (!scopes[i].scope)
            return wom__fail(WOM_ENOTSUP, "this program has no %s scope: it is in libwom_etcd "
                             "(link with `pkg-config --libs wom-etcd`; docs/cluster.md), "
                             "which libwom alone does not bring", scopes[i].scheme);
        const struct wom__scope *sc = scopes[i].scope;
        int rc = sc->open(uri + n, out);
        /* A scope of a library of its own explains itself in its own copy
         * of the sentence (report.c). */
        const char *why = rc && sc->why ? sc->why() : NULL;
        if (why && why != wom__last_error_buf())
            wom__fail(rc, "%s", why);
        return rc;
    }
    return WOM_EURI;
}

int wom_sync(wom_space *s)
{
    if (!s)
        return WOM_EINVAL;
    return s->ops->sync ? s->ops->sync(s) : 0;
}

uint64_t wom_holder(wom_space *s)
{
    uint64_t token;
    return s && s->ops->holder(s, &token) == 0 ? token : 0;
}

int wom_holder_alive(wom_space *s, uint64_t token)
{
    int alive;
    /* On doubt (a failed call), alive: never declare a holder dead unproven. */
    return !s || s->ops->holder_alive(s, token, &alive) || alive;
}

void wom_close(wom_space *s)
{
    if (s)
        s->ops->close(s);
}

int wom_region_open_opts(wom_space *s, const char *name, wom_mode mode,
                         const wom_region_opts *opts, wom_region **out)
{
    if (!s || !name || !out)
        return WOM_EINVAL;
    /* The arguments of every scope, checked here once. */
    size_t n = strlen(name), max_value = opts && opts->max_value ? opts->max_value
                                                                 : WOM_MAX_VALUE_DEFAULT;
    if (!wom__name_ok(name, n) || (mode != WOM_ONCE && mode != WOM_MANY))
        return WOM_EINVAL;
    if (n > WOM_NAME_MAX)
        return WOM_ENAMETOOLONG;
    if (max_value > WOM_MAX_VALUE_LIMIT)
        return WOM_EMSGSIZE;
    /* The backend's region state right behind the handle: one allocation. */
    size_t head = (sizeof(wom_region) + 7) & ~(size_t)7;
    wom_region *r = calloc(1, head + s->ops->region_size);
    if (!r)
        return WOM_ENOMEM;
    r->s = s;
    r->impl = (char *)r + head;
    int rc = s->ops->region_open(s, name, mode, max_value, r);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int wom_region_open(wom_space *s, const char *name, wom_mode mode, wom_region **out)
{
    return wom_region_open_opts(s, name, mode, NULL, out);
}

void wom_region_close(wom_region *r)
{
    if (!r)
        return;
    r->s->ops->region_close(r);
    free(r);
}

int wom_region_info_get(wom_region *r, wom_region_info *out)
{
    if (!r || !out)
        return WOM_EINVAL;
    return r->s->ops->info(r, out);
}

int wom_space_info_get(wom_space *s, wom_space_info *out)
{
    if (!s || !out)
        return WOM_EINVAL;
    return s->ops->space_info ? s->ops->space_info(s, out) : WOM_ENOTSUP;
}

int wom_regions(wom_space *s, int (*fn)(const wom_region_info *, void *), void *arg)
{
    if (!s || !fn)
        return WOM_EINVAL;
    return s->ops->regions ? s->ops->regions(s, fn, arg) : WOM_ENOTSUP;
}

int wom_put(wom_region *r, uint64_t addr, const void *buf, size_t len)
{
    if (!r || (!buf && len))
        return WOM_EINVAL;
    return r->s->ops->put(r, addr, buf, len);
}

int wom_get_view(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    if (!r || !v)
        return WOM_EINVAL;
    v->pin_[0] = v->pin_[1] = 0; /* v is output only here */
    return r->s->ops->get_view(r, addr, v, timeout_ns);
}

int wom_get_view_next(wom_region *r, uint64_t addr, wom_view *v, int64_t timeout_ns)
{
    if (!r || !v)
        return WOM_EINVAL;
    return r->s->ops->get_view(r, addr, v, timeout_ns);
}

/* A scope without get_views reads one cell at a time. */
static int views_each(wom_region *r, uint64_t addr, wom_view *v, size_t max, size_t *got)
{
    int rc = 0;
    for (*got = 0; *got < max && addr + *got >= addr; ++*got)
        if ((rc = r->s->ops->get_view(r, addr + *got, &v[*got], 0)))
            break;
    if (rc == WOM_EEMPTY || rc == WOM_ETRIMMED || rc == WOM_EABANDONED || *got)
        rc = 0;
    return rc;
}

int wom_get_views(wom_region *r, uint64_t addr, wom_view *views, size_t max, size_t *got)
{
    if (!r || !got || (!views && max))
        return WOM_EINVAL;
    for (size_t i = 0; i < max; i++)
        views[i].pin_[0] = views[i].pin_[1] = 0; /* output only */
    size_t k = 0;
    int rc = r->s->ops->get_views ? r->s->ops->get_views(r, addr, views, max, &k)
                                  : views_each(r, addr, views, max, &k);
    if (!rc)
        *got = k;
    return rc;
}

void wom_view_release(wom_view *v)
{
    if (v)
        wom__view_release(v); /* to the backend that made it */
}

int wom_get(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
            int64_t timeout_ns)
{
    if (!r || !len || (!buf && cap))
        return WOM_EINVAL;
    wom_view v = WOM_VIEW_INIT;
    int rc = r->s->ops->get_view(r, addr, &v, timeout_ns);
    if (rc)
        return rc;
    *len = v.len;
    if (v.len > cap)
        rc = WOM_ENOBUFS;
    else if (v.len)
        memcpy(buf, v.data, v.len);
    wom__view_release(&v);
    return rc;
}

int wom_append(wom_region *r, const void *buf, size_t len, uint64_t *addr)
{
    if (!r || (!buf && len))
        return WOM_EINVAL;
    uint64_t a;
    int rc = r->s->ops->append(r, buf, len, &a);
    if (!rc && addr)
        *addr = a;
    return rc;
}

/* A scope without append_many appends one value at a time, after the
 * checks that make a batch all or nothing. */
static int append_each(wom_region *r, const wom_iov *v, size_t n, uint64_t *addrs,
                       size_t *done)
{
    wom_region_info info;
    int rc = r->s->ops->info(r, &info);
    if (rc)
        return rc;
    if (info.mode != WOM_ONCE)
        return WOM_EMODE;
    for (size_t i = 0; i < n; i++)
        if (v[i].len > info.max_value)
            return WOM_EMSGSIZE;
    for (*done = 0; *done < n; ++*done) {
        uint64_t a;
        rc = r->s->ops->append(r, v[*done].data, v[*done].len, &a);
        if (rc)
            return rc;
        if (addrs)
            addrs[*done] = a;
    }
    return 0;
}

int wom_append_many(wom_region *r, const wom_iov *v, size_t n, uint64_t *addrs,
                    size_t *done)
{
    size_t d = 0;
    int rc = !r || (!v && n) ? WOM_EINVAL : 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (!v[i].data && v[i].len)
            rc = WOM_EINVAL;
    if (!rc)
        rc = r->s->ops->append_many ? r->s->ops->append_many(r, v, n, addrs, &d)
                                    : append_each(r, v, n, addrs, &d);
    if (done)
        *done = d;
    return rc;
}

int wom_tail(wom_region *r, uint64_t *tail)
{
    if (!r || !tail)
        return WOM_EINVAL;
    return r->s->ops->tail(r, tail);
}

int wom_loan_new(wom_region *r, size_t len, wom_loan *l)
{
    if (!r || !l)
        return WOM_EINVAL;
    uint64_t tok;
    void *data;
    if (!r->s->ops->loan)
        return WOM_ENOTSUP; /* a scope without loans: wom_put / wom_append copy */
    int rc = r->s->ops->loan(r, len, &tok, &data);
    if (rc)
        return rc;
    *l = (wom_loan){data, len, {(uint64_t)(uintptr_t)r, tok}};
    return 0;
}

static wom_region *loan_region(const wom_loan *l)
{
    return l ? (wom_region *)(uintptr_t)l->priv_[0] : NULL;
}

int wom_loan_put(wom_loan *l, uint64_t addr)
{
    wom_region *r = loan_region(l);
    if (!r)
        return WOM_EINVAL;
    int rc = r->s->ops->loan_publish(r, l->priv_[1], 0, &addr);
    if (!rc)
        l->priv_[0] = 0;
    return rc;
}

int wom_loan_append(wom_loan *l, uint64_t *addr)
{
    wom_region *r = loan_region(l);
    if (!r)
        return WOM_EINVAL;
    uint64_t a;
    int rc = r->s->ops->loan_publish(r, l->priv_[1], 1, &a);
    if (rc)
        return rc;
    l->priv_[0] = 0;
    if (addr)
        *addr = a;
    return 0;
}

void wom_loan_cancel(wom_loan *l)
{
    wom_region *r = loan_region(l);
    if (r)
        r->s->ops->loan_cancel(r, l->priv_[1]);
    if (l)
        l->priv_[0] = 0;
}

int wom_inspect(wom_region *r, uint64_t addr, wom_cell_info *out)
{
    if (!r || !out)
        return WOM_EINVAL;
    return r->s->ops->inspect ? r->s->ops->inspect(r, addr, out) : WOM_ENOTSUP;
}

int wom_trim(wom_region *r, uint64_t below)
{
    if (!r)
        return WOM_EINVAL;
    return r->s->ops->trim(r, below);
}

int wom_store(wom_region *r, uint64_t addr, const void *buf, size_t len, uint64_t *version)
{
    if (!r || (!buf && len))
        return WOM_EINVAL;
    return r->s->ops->store(r, addr, buf, len, 0, 0, version);
}

int wom_cas(wom_region *r, uint64_t addr, uint64_t expect, const void *buf, size_t len,
            uint64_t *version)
{
    if (!r || (!buf && len))
        return WOM_EINVAL;
    return r->s->ops->store(r, addr, buf, len, 1, expect, version);
}

int wom_load(wom_region *r, uint64_t addr, void *buf, size_t cap, size_t *len,
             uint64_t *version)
{
    if (!r || !len || (!buf && cap))
        return WOM_EINVAL;
    return r->s->ops->load(r, addr, buf, cap, len, version);
}

int wom_wait(wom_region *r, uint64_t addr, uint64_t version, int64_t timeout_ns)
{
    if (!r)
        return WOM_EINVAL;
    return r->s->ops->wait(r, addr, version, timeout_ns);
}
