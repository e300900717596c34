/* batch.c - wom batch: commands from stdin, one per line, in one space.
 * Consecutive appends to one region go as one wom_append_many (one tail
 * update; on etcd:// one transaction per 126 values) with the output and
 * exit code the appends one by one would have given. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define BATCH_MAX_TOKENS 32
#define PENDING_MAX 1024 /* appends held back for one wom_append_many */

/* Appends to one region held back, with their lines (copies: the line
 * buffer is reused). */
struct pending {
    char *region;
    wom_iov v[PENDING_MAX];
    unsigned long line[PENDING_MAX];
    uint64_t addr[PENDING_MAX];
    size_t n;
};

static void pending_clear(struct pending *p)
{
    for (size_t i = 0; i < p->n; i++)
        free((void *)p->v[i].data);
    free(p->region);
    p->region = NULL;
    p->n = 0;
}

/* Hold "append REGION VALUE" back: 1 if taken, 0 if the line is not one
 * to hold (or does not fit the run held), -1 out of memory. */
static int pending_add(struct pending *p, char **tok, int n, unsigned long line)
{
    if (n != 3 || strcmp(tok[0], "append") != 0 || tok[1][0] == '-' || tok[2][0] == '-')
        return 0; /* options, stdin and usage errors: the command's own path */
    if (p->n == PENDING_MAX || (p->n && strcmp(p->region, tok[1]) != 0))
        return 0;
    char *value = strdup(tok[2]);
    if (!value || (!p->n && !(p->region = strdup(tok[1])))) {
        free(value);
        return -1;
    }
    p->v[p->n] = (wom_iov){value, strlen(value)};
    p->line[p->n++] = line;
    return 1;
}

/* Append what is held as one batch and print each address on a line of
 * its own, as 'append' does. After an error that leaves no append in
 * doubt the rest go one by one, so that the batch stops at the very line
 * (and with the exit code) the appends one by one would have. *stop gets
 * the line of a failure. */
static int pending_flush(struct ctx *bx, struct pending *p, unsigned long *stop)
{
    if (!p->n)
        return EX_OK;
    wom_region *r = NULL;
    size_t done = 0;
    int err = wom_region_open(bx->s, p->region, WOM_ONCE, &r);
    if (!err)
        err = wom_append_many(r, p->v, p->n, p->addr, &done);
    if (err && r && err != WOM_EUNKNOWN)
        for (err = 0; !err && done < p->n; done += !err)
            err = wom_append(r, p->v[done].data, p->v[done].len, &p->addr[done]);
    for (size_t i = 0; i < done; i++)
        printf("%" PRIu64 "\n", p->addr[i]);
    int rc = err ? cli_fail("append", err) : EX_OK, out = cli_finish_stdout();
    if (rc || out)
        *stop = p->line[err ? done : p->n - 1];
    wom_region_close(r);
    pending_clear(p);
    return rc ? rc : out;
}

/* Run one line of a batch ("CMD REGION ARGS...", blank-separated, '#'
 * starts a comment line) in the batch's space, or hold it back in p; what
 * p holds runs before any other line. */
static int batch_line(struct ctx *bx, struct pending *p, char *line, unsigned long no,
                      unsigned long *stop)
{
    char *tok[BATCH_MAX_TOKENS + 1], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save))
        if (n <= BATCH_MAX_TOKENS)
            tok[n++] = t;
    if (n == 0 || tok[0][0] == '#')
        return EX_OK;
    int held = pending_add(p, tok, n, no), rc;
    if (held == 0 && p->n) {
        if ((rc = pending_flush(bx, p, stop)))
            return rc;
        held = pending_add(p, tok, n, no);
    }
    if (held < 0) {
        fprintf(stderr, "wom: batch: out of memory\n");
        return EX_OTHER;
    }
    if (held)
        return EX_OK;
    if (n > BATCH_MAX_TOKENS)
        return cli_usage_error("batch", "more than %d words on a line", BATCH_MAX_TOKENS);
    const struct cmd *c = cli_find_command(tok[0]);
    if (!c)
        return cli_usage_error("batch", "unknown command '%s'", ESC(tok[0]));
    if (c->need == NEED_NOTHING || c->run == cli_batch)
        return cli_usage_error("batch", "'%s' cannot run inside a batch", ESC(tok[0]));
    struct args a = {.cmd = c->name, .pos = {bx->a->pos[0]}, .npos = 1};
    rc = cli_parse_command(c, &a, 0, n - 1, tok + 1);
    for (int i = 1; !rc && i < a.npos; i++)
        if (strcmp(a.pos[i], "-") == 0)
            rc = cli_usage_error("batch", "'-' cannot read stdin: it is the batch itself");
    return rc ? rc : cli_run_in_space(c, &a, bx->s);
}

int cli_batch(struct ctx *x)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned long n = 0, stop = 0;
    ssize_t len;
    int rc = EX_OK;
    static struct pending p; /* one batch per process */
    while (rc == EX_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        n++;
        stop = n;
        /* The words of a line are C strings: a NUL would cut a value short
         * without a word. Refuse the line (binary values need 'wom put
         * SPACE REGION ADDR -', one per command), after what is held. */
        if (memchr(line, 0, (size_t)len)) {
            rc = pending_flush(x, &p, &stop);
            if (!rc)
                rc = cli_usage_error("batch", "line %lu holds a NUL byte; a batch is text (for "
                                     "a binary value run 'wom put SPACE REGION ADDR -')", n);
        } else {
            rc = batch_line(x, &p, line, n, &stop);
        }
        if (rc == EX_OK)
            rc = cli_finish_stdout();
    }
    if (rc == EX_OK)
        rc = pending_flush(x, &p, &stop);
    pending_clear(&p);
    free(line);
    if (rc != EX_OK) {
        fprintf(stderr, "wom: batch: stopped at line %lu\n", stop);
        return rc;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "wom: batch: reading stdin: %s\n", strerror(errno));
        return EX_IO;
    }
    return EX_OK;
}
