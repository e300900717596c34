/* cells.c - the commands on one cell: put, get, append (ONCE), store, load,
 * cas (MANY), inspect (either), and trim. */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

int cli_put(struct ctx *c)
{
    uint64_t addr;
    struct value v;
    int rc = cli_pos_u64(c->a, 2, "ADDR", &addr);
    if (rc || (rc = cli_get_value(c->a->cmd, c->a->pos[3], &v)))
        return rc;
    int err = wom_put(c->r, addr, v.data, v.len);
    free(v.owned);
    return err ? cli_fail(c->a->cmd, err) : EX_OK;
}

int cli_get(struct ctx *c)
{
    uint64_t addr;
    int rc = cli_pos_u64(c->a, 2, "ADDR", &addr);
    if (rc)
        return rc;
    wom_view v;
    int err = wom_get_view(c->r, addr, &v, ms_to_ns(num_or(c->a, O_TIMEOUT, 0)));
    if (err)
        return cli_fail(c->a->cmd, err);
    cli_put_bytes(v.data, v.len);
    wom_view_release(&v);
    return cli_finish_stdout();
}

int cli_append(struct ctx *c)
{
    struct value v;
    int rc = cli_get_value(c->a->cmd, c->a->pos[2], &v);
    if (rc)
        return rc;
    uint64_t addr;
    int err = wom_append(c->r, v.data, v.len, &addr);
    free(v.owned);
    if (err)
        return cli_fail(c->a->cmd, err);
    printf("%" PRIu64 "\n", addr);
    return cli_finish_stdout();
}

int cli_store(struct ctx *c)
{
    uint64_t addr, version;
    struct value v;
    int rc = cli_pos_u64(c->a, 2, "ADDR", &addr);
    if (rc || (rc = cli_get_value(c->a->cmd, c->a->pos[3], &v)))
        return rc;
    int err = wom_store(c->r, addr, v.data, v.len, &version);
    free(v.owned);
    if (err)
        return cli_fail(c->a->cmd, err);
    printf("%" PRIu64 "\n", version);
    return cli_finish_stdout();
}

/* Load addr into a buffer sized to fit: a concurrent store may grow the
 * value between the size probe and the copy, so retry until it fits. */
static int load_value(wom_region *r, uint64_t addr, char **out, size_t *len, uint64_t *ver)
{
    size_t cap = 256;
    char *buf = NULL;
    for (;;) {
        char *nb = realloc(buf, cap ? cap : 1);
        if (!nb) {
            free(buf);
            return WOM_ENOMEM;
        }
        buf = nb;
        int err = wom_load(r, addr, buf, cap, len, ver);
        if (err != WOM_ENOBUFS) {
            if (err)
                free(buf);
            else
                *out = buf;
            return err;
        }
        cap = *len;
    }
}

int cli_load(struct ctx *c)
{
    uint64_t addr, version;
    int rc = cli_pos_u64(c->a, 2, "ADDR", &addr);
    if (rc)
        return rc;
    char *buf;
    size_t len;
    int err = load_value(c->r, addr, &buf, &len, &version);
    if (err)
        return cli_fail(c->a->cmd, err);
    if (has(c->a, O_VERSION))
        printf("%" PRIu64 "\t", version);
    cli_put_bytes(buf, len);
    if (has(c->a, O_VERSION))
        putchar('\n');
    free(buf);
    return cli_finish_stdout();
}

int cli_cas(struct ctx *c)
{
    uint64_t addr, expect, version;
    struct value v;
    int rc = cli_pos_u64(c->a, 2, "ADDR", &addr);
    if (rc || (rc = cli_pos_u64(c->a, 3, "EXPECT", &expect)))
        return rc;
    if ((rc = cli_get_value(c->a->cmd, c->a->pos[4], &v)))
        return rc;
    int err = wom_cas(c->r, addr, expect, v.data, v.len, &version);
    free(v.owned);
    if (err)
        return cli_fail(c->a->cmd, err);
    printf("%" PRIu64 "\n", version);
    return cli_finish_stdout();
}

/* Open REGION with whichever mode it has (ONCE first; a new one is ONCE). */
static int open_any(struct ctx *c, const char *name, wom_region **r)
{
    int err = wom_region_open(c->s, name, WOM_ONCE, r);
    return err == WOM_EMODE ? wom_region_open(c->s, name, WOM_MANY, r) : err;
}

int cli_inspect(struct ctx *c)
{
    static const char *const names[] = {"EMPTY", "CLAIMED", "WRITTEN", "ABANDONED", "TRIMMED"};
    uint64_t addr = 0;
    int rc = cli_pos_u64(c->a, 2, "ADDR", &addr);
    if (rc)
        return rc;
    wom_region *r;
    wom_cell_info ci;
    int err = open_any(c, c->a->pos[1], &r);
    if (err)
        return cli_fail(c->a->cmd, err);
    err = wom_inspect(r, addr, &ci);
    wom_region_close(r);
    if (err)
        return cli_fail(c->a->cmd, err);
    printf("%s", names[ci.state]);
    if (ci.state == WOM_CELL_WRITTEN)
        printf(" %zu bytes, version %" PRIu64, ci.len, ci.version);
    if (ci.state == WOM_CELL_CLAIMED)
        printf(" by pid %" PRId64, ci.pid);
    printf("\n");
    return cli_finish_stdout();
}

int cli_trim(struct ctx *c)
{
    uint64_t below = 0;
    int rc = cli_pos_u64(c->a, 2, "BELOW", &below);
    if (rc)
        return rc;
    int err = wom_trim(c->r, below);
    return err ? cli_fail(c->a->cmd, err) : EX_OK;
}
