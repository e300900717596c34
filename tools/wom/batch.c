/* batch.c - wom batch: commands from stdin, one per line, in one space. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define BATCH_MAX_TOKENS 32

/* Run one line of a batch ("CMD REGION ARGS...", blank-separated, '#'
 * starts a comment line) in the batch's space. */
static int batch_line(struct ctx *bx, char *line)
{
    char *tok[BATCH_MAX_TOKENS + 1], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save))
        if (n <= BATCH_MAX_TOKENS)
            tok[n++] = t;
    if (n == 0 || tok[0][0] == '#')
        return EX_OK;
    if (n > BATCH_MAX_TOKENS)
        return cli_usage_error("batch", "more than %d words on a line", BATCH_MAX_TOKENS);
    const struct cmd *c = cli_find_command(tok[0]);
    if (!c)
        return cli_usage_error("batch", "unknown command '%s'", ESC(tok[0]));
    if (c->need == NEED_NOTHING || c->run == cli_batch)
        return cli_usage_error("batch", "'%s' cannot run inside a batch", ESC(tok[0]));
    struct args a = {.cmd = c->name, .pos = {bx->a->pos[0]}, .npos = 1};
    int rc = cli_parse_command(c, &a, 0, n - 1, tok + 1);
    for (int i = 1; !rc && i < a.npos; i++)
        if (strcmp(a.pos[i], "-") == 0)
            rc = cli_usage_error("batch", "'-' cannot read stdin: it is the batch itself");
    return rc ? rc : cli_run_in_space(c, &a, bx->s);
}

int cli_batch(struct ctx *x)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned long n = 0;
    ssize_t len;
    int rc = EX_OK;
    while (rc == EX_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        n++;
        /* The words of a line are C strings: a NUL would cut a value short
         * without a word. Refuse the line (binary values need 'wom put
         * SPACE REGION ADDR -', one per command). */
        if (memchr(line, 0, (size_t)len))
            rc = cli_usage_error("batch", "line %lu holds a NUL byte; a batch is text (for a "
                                 "binary value run 'wom put SPACE REGION ADDR -')", n);
        else
            rc = batch_line(x, line);
        if (rc == EX_OK)
            rc = cli_finish_stdout();
    }
    free(line);
    if (rc != EX_OK) {
        fprintf(stderr, "wom: batch: stopped at line %lu\n", n);
        return rc;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "wom: batch: reading stdin: %s\n", strerror(errno));
        return EX_IO;
    }
    return EX_OK;
}
