/* common.c - helpers shared by the benchmark modules (see bench.h). */
#include <inttypes.h>
#include <stdlib.h>

#include "bench.h"

int64_t bench_run_limit_ns;

int bench_bad_msg(const char *who, const void *p, size_t len, size_t size, uint64_t seq)
{
    uint64_t head = 0;
    if (len >= 8)
        memcpy(&head, p, 8);
    fprintf(stderr, "%s: message check failed: expected seq %" PRIu64 " of %zu bytes, got %zu "
            "bytes starting with seq %" PRIu64 "\n", who, seq, size, len, head);
    return -1;
}

int bench_fail(const char *who, const char *what, int rc, const char *msg)
{
    fprintf(stderr, "%s: %s failed: %d (%s)\n", who, what, rc, msg ? msg : "?");
    return -1;
}

static void fill_pattern(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 31 + 7);
}

void *bench_buf_new(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1))
        return NULL;
    fill_pattern(p, size);
    return p;
}

int bench_pool_init(struct bench_pool *p, uint64_t count, size_t size)
{
    p->stride = (size + 63) & ~(size_t)63;
    p->count = count;
    p->mem = bench_buf_new(p->stride * count);
    return p->mem ? 0 : -1;
}

void bench_pool_fini(struct bench_pool *p)
{
    free(p->mem);
    p->mem = NULL;
}
