/* regions.c - the regions of a space (wom ls), and the ones the forms keep
 * for themselves next to a channel or a queue group. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int list_add(const wom_region_info *in, void *arg)
{
    struct region_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        wom_region_info *ni = realloc(l->info, cap * sizeof *ni);
        if (!ni)
            return WOM_ENOMEM;
        l->info = ni;
        l->cap = cap;
    }
    l->info[l->n++] = *in;
    return 0;
}

int cli_list_regions(wom_space *s, struct region_list *l)
{
    l->n = 0;
    return wom_regions(s, list_add, l);
}

int cli_listed(const struct region_list *l, const char *name, size_t n, wom_mode mode)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->info[i].mode == mode && strlen(l->info[i].name) == n &&
            !memcmp(l->info[i].name, name, n))
            return 1;
    return 0;
}

/* The regions the forms create next to a channel N (region N) and next to
 * a queue group G of it (wom.h names them). */
static const struct {
    const char *suffix;
    wom_mode mode;
    int group; /* named N.G<suffix>, else N<suffix> */
    const char *what;
} form_regions[] = {
    {".seats", WOM_ONCE, 0, "seats"},
    {".acks", WOM_MANY, 0, "readers' cursors"},
    {".times", WOM_ONCE, 0, "age marks"},
    {".claims", WOM_ONCE, 1, "claims"},
    {".members", WOM_ONCE, 1, "members"},
};

/* What region `in` is, when its name and mode are those of a form's
 * bookkeeping region next to an existing channel log in l, e.g. "seats of
 * channel jobs" (names escaped), into out; 0 when it is none of those. */
static int region_role(const wom_region_info *in, const struct region_list *l, char *out,
                       size_t cap)
{
    size_t len = strlen(in->name);
    for (size_t k = 0; k < sizeof form_regions / sizeof form_regions[0]; k++) {
        size_t sl = strlen(form_regions[k].suffix);
        if (in->mode != form_regions[k].mode || len <= sl ||
            strcmp(in->name + len - sl, form_regions[k].suffix))
            continue;
        char base[WOM_NAME_MAX + 1];
        memcpy(base, in->name, len - sl);
        base[len - sl] = 0; /* N, or N.G */
        if (!form_regions[k].group) {
            if (!cli_listed(l, base, len - sl, WOM_ONCE))
                continue;
            snprintf(out, cap, "%s of channel %s", form_regions[k].what, ESC(base));
            return 1;
        }
        for (size_t d = len - sl - 1; d-- > 1;) { /* N.G, G not empty: the longest N */
            if (base[d] != '.' || !cli_listed(l, base, d, WOM_ONCE))
                continue;
            base[d] = 0;
            snprintf(out, cap, "%s of queue group %s of channel %s", form_regions[k].what,
                     ESC(base + d + 1), ESC(base));
            return 1;
        }
    }
    return 0;
}

void cli_print_role(const wom_region_info *in, const struct region_list *l)
{
    char role[3 * ESC_CAP];
    if (region_role(in, l, role, sizeof role))
        printf("  (%s)", role);
}

int cli_ls(struct ctx *c)
{
    struct region_list l = {0};
    int err = cli_list_regions(c->s, &l);
    if (err) {
        free(l.info);
        return cli_fail(c->a->cmd, err);
    }
    printf("%-24s mode %12s %12s %14s %10s\n", "NAME", "TAIL", "FLOOR", "BYTES", "MAX_VALUE");
    for (size_t i = 0; i < l.n; i++) {
        const wom_region_info *in = &l.info[i];
        if (in->mode == WOM_ONCE)
            printf("%-24s once %12" PRIu64 " %12" PRIu64, ESC(in->name), in->tail, in->floor);
        else
            printf("%-24s many %12s %12s", ESC(in->name), "-", "-");
        printf(" %14" PRIu64 " %10zu", in->bytes, in->max_value);
        cli_print_role(in, &l);
        putchar('\n');
    }
    free(l.info);
    return cli_finish_stdout();
}
