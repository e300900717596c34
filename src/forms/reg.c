/*
 * reg.c - a register over a ONCE log: shared memory from message passing.
 *
 * Version v means log entries 0..v-1 exist and the value is entry v-1
 * (version 0: the empty value, as a fresh MANY cell). cas(expect) writes
 * entry `expect`, which only one writer can win; the log stays dense because
 * a writer only tries the address just past the last written one. Entries
 * far below the latest are trimmed so memory stays bounded; a reader that
 * meets a trimmed entry starts again from the tail.
 */
#include <stdlib.h>
#include <string.h>

#include "forms/forms.h"

/* Every REG_KEEP versions the writer of that version trims the log below
 * the latest REG_KEEP entries (so between REG_KEEP and 2*REG_KEEP stay). */
#define REG_KEEP 64

struct wom_reg {
    wom_region *log;
    size_t max_value;
};

int wom_reg_open(wom_space *s, const char *name, wom_reg **out)
{
    if (!s || !name || !out)
        return WOM_EINVAL;
    wom_reg *g = calloc(1, sizeof *g);
    if (!g)
        return WOM_ENOMEM;
    int rc = form_log(s, name, &g->log, &g->max_value);
    if (rc) {
        wom_reg_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void wom_reg_close(wom_reg *g)
{
    if (!g)
        return;
    wom_region_close(g->log);
    free(g);
}

/* The current version: the first empty address. The tail is only a hint
 * (a put raises it just after publishing), so probe forward from it until an
 * address is empty; that empty probe is the moment the version held. */
static int reg_version(wom_reg *g, uint64_t *version)
{
    for (;;) {
        uint64_t a;
        int rc = wom_tail(g->log, &a);
        if (rc)
            return rc;
        for (;;) {
            size_t len;
            rc = wom_get(g->log, a, NULL, 0, &len, 0);
            if (rc == WOM_EEMPTY) {
                *version = a;
                return 0;
            }
            if (rc != 0 && rc != WOM_ENOBUFS)
                break;
            a++;
        }
        if (rc != WOM_ETRIMMED) /* a hint this stale was passed by a trim */
            return rc;
    }
}

int wom_reg_load(wom_reg *g, void *buf, size_t cap, size_t *len, uint64_t *version)
{
    if (!g || !len || (!buf && cap))
        return WOM_EINVAL;
    for (;;) {
        uint64_t v;
        int rc = reg_version(g, &v);
        if (rc)
            return rc;
        if (v == 0) {
            *len = 0;
            if (version)
                *version = 0;
            return 0;
        }
        rc = wom_get(g->log, v - 1, buf, cap, len, 0);
        if (rc == WOM_ETRIMMED)
            continue; /* REG_KEEP newer versions came meanwhile: look again */
        if (rc == 0 && version)
            *version = v;
        return rc;
    }
}

/* The writer of version v trims now and then, below the latest REG_KEEP. */
static void reg_trim(wom_reg *g, uint64_t v)
{
    if (v % REG_KEEP == 0 && v > REG_KEEP)
        (void)wom_trim(g->log, v - REG_KEEP); /* a failed trim only keeps memory */
}

int wom_reg_cas(wom_reg *g, uint64_t expect, const void *buf, size_t len, uint64_t *version)
{
    if (!g || (!buf && len))
        return WOM_EINVAL;
    /* Size first, as a MANY cell does, so both give the same error. */
    if (len > g->max_value)
        return WOM_EMSGSIZE;
    uint64_t v;
    int rc = reg_version(g, &v);
    if (rc)
        return rc;
    /* Writing only at the current version keeps the log dense. */
    if (v != expect)
        return WOM_ECONFLICT;
    rc = wom_put(g->log, expect, buf, len);
    if (rc == WOM_EWRITTEN || rc == WOM_ETRIMMED)
        return WOM_ECONFLICT;
    if (rc)
        return rc;
    reg_trim(g, expect + 1);
    if (version)
        *version = expect + 1;
    return 0;
}

int wom_reg_store(wom_reg *g, const void *buf, size_t len, uint64_t *version)
{
    for (;;) {
        uint64_t v;
        int rc = g ? reg_version(g, &v) : WOM_EINVAL;
        if (rc)
            return rc;
        rc = wom_reg_cas(g, v, buf, len, version);
        if (rc != WOM_ECONFLICT)
            return rc;
    }
}
