/*
 * forms.h - helpers shared by the communication forms (chan, queue, reg,
 * ring). The forms use only the public API of wom.h, so they run unchanged on
 * every scope; these helpers add nothing but names, deadlines and u64 cells.
 */
#ifndef WOM_FORMS_H
#define WOM_FORMS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "util/atomic.h"
#include "util/clock.h"
#include "wom.h"

/* Open region `base` + `suffix` with mode and max_value (0 = default; it
 * applies only if this call creates the region). WOM_ENAMETOOLONG when the
 * joined name does not fit. The caller owns *out. */
static inline int form_region(wom_space *s, const char *base, const char *suffix,
                              wom_mode mode, size_t max_value, wom_region **out)
{
    char name[WOM_NAME_MAX + 2];
    if (!s || !base || !*base)
        return WOM_EINVAL;
    int n = snprintf(name, sizeof name, "%s%s", base, suffix);
    if (n < 0 || n > WOM_NAME_MAX)
        return WOM_ENAMETOOLONG;
    wom_region_opts o = WOM_REGION_OPTS_INIT;
    o.max_value = max_value;
    return wom_region_open_opts(s, name, mode, &o, out);
}

/* Open ONCE region name (created with the default max_value) as a form's
 * log, and the largest value it holds into *max_value. On error nothing is
 * left open. */
static inline int form_log(wom_space *s, const char *name, wom_region **log, size_t *max_value)
{
    wom_region_info info;
    int rc = form_region(s, name, "", WOM_ONCE, 0, log);
    if (rc)
        return rc;
    if ((rc = wom_region_info_get(*log, &info))) {
        wom_region_close(*log);
        *log = NULL;
        return rc;
    }
    *max_value = info.max_value;
    return 0;
}

/* A deadline for an operation that may wait several times. timeouts as in
 * wom.h: 0 = do not wait, < 0 = forever. */
typedef struct {
    int64_t timeout;
    int64_t at; /* absolute CLOCK_MONOTONIC ns, when timeout > 0 */
} form_deadline;

static inline form_deadline form_deadline_start(int64_t timeout_ns)
{
    form_deadline dl = {timeout_ns, 0};
    if (timeout_ns > 0)
        dl.at = wom__now_ns() + timeout_ns;
    return dl;
}

/* The timeout for the next wait: 0, -1 or the positive time left. A positive
 * timeout that has run out gives WOM_ETIMEDOUT here, so a wait is never
 * turned into "do not wait" (which would answer WOM_EEMPTY) by accident. */
static inline int form_left(const form_deadline *dl, int64_t *left_ns)
{
    if (dl->timeout <= 0) {
        *left_ns = dl->timeout < 0 ? -1 : 0;
        return 0;
    }
    int64_t left = dl->at - wom__now_ns();
    if (left <= 0)
        return WOM_ETIMEDOUT;
    *left_ns = left;
    return 0;
}

/* The forms keep little u64 records in cells. Load one from a MANY cell:
 * 0 with *val and *version; WOM_EEMPTY (with *version) when the cell holds
 * the empty value; WOM_ECORRUPT when it holds a value of another size (not
 * written by a form). */
static inline int form_load_u64(wom_region *r, uint64_t addr, uint64_t *val,
                                uint64_t *version)
{
    uint64_t v = 0, ver = 0;
    size_t len = 0;
    int rc = wom_load(r, addr, &v, sizeof v, &len, &ver);
    if (rc == WOM_ENOBUFS)
        return WOM_ECORRUPT;
    if (rc)
        return rc;
    if (version)
        *version = ver;
    if (len == 0)
        return WOM_EEMPTY;
    if (len != sizeof v)
        return WOM_ECORRUPT;
    *val = v;
    return 0;
}

/* A channel handle; queue.c reads its fields. */
struct wom_chan {
    wom_space *s;
    char name[WOM_NAME_MAX + 1];
    wom_region *log;   /* N: the messages */
    wom_region *seats; /* N.seats: cell 0 = options, then one per bounded sub */
    wom_region *acks;  /* N.acks: published cursor per seat; NULL if unbounded */
    uint64_t bound;    /* 0 = unbounded (fixed by the channel's first opener) */
    size_t max_value;  /* region N's limit, checked before waiting for room */
    wom_a64 limit;     /* sends below this address need no look at the acks */
    uint64_t retain;   /* this handle's retention by count (0 = keep all) */
    uint64_t retain_bytes; /* ... by bytes held (0 = no limit) */
    int64_t retain_ns;     /* ... by age (0 = no limit) */
    wom_region *times;     /* N.times: the age index, when retain_ns */
    uint64_t trim_every; /* it trims when an address is a multiple of this
                           (a power of two) */
};

#endif
