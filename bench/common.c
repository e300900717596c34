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

/* ---- the placement probe ---- */

#define PROBE_TRIPS 2048u /* round trips per probe, */
#define PROBE_BLOCK 8u    /* timed in blocks of this many */
#define PROBE_LIMIT_NS 10000000 /* a probe that takes longer stops early */
#define PROBE_STOP UINT64_MAX

/* The line the two threads hand back and forth: odd values are the
 * prober's turn to be answered, even values the echo's answer. */
struct probe {
    _Alignas(64) atomic_uint_fast64_t line;
    char pad[64 - sizeof(atomic_uint_fast64_t)];
};

/* Answer 2k-1 with 2k until the prober says stop. The answer is a
 * compare-and-swap from 2k-1, so a stop the prober stores meanwhile (it
 * stops a probe that ran out of time, then joins us) is never overwritten:
 * only the prober changes the line while it is 2k-1, and only to the stop. */
static void *probe_echo(void *arg)
{
    struct probe *p = arg;
    for (uint64_t k = 1;; k++) {
        unsigned spins = 0;
        uint64_t v;
        /* Acquire pairs with the prober's release of 2k-1 (or the stop). */
        while ((v = atomic_load_explicit(&p->line, memory_order_acquire)) != 2 * k - 1) {
            if (v == PROBE_STOP)
                return NULL;
            bench_spin(&spins);
        }
        /* Release: the answer, for the prober's acquire. */
        if (!atomic_compare_exchange_strong_explicit(&p->line, &v, 2 * k, memory_order_release,
                                                     memory_order_relaxed))
            return NULL;
    }
}

double bench_probe_ns(void)
{
    static struct probe p;
    int64_t block[PROBE_TRIPS / PROBE_BLOCK];
    uint64_t nb = 0, k = 0;
    pthread_t t;
    atomic_store_explicit(&p.line, 0, memory_order_relaxed);
    if (pthread_create(&t, NULL, probe_echo, &p))
        return -1;
    int64_t start = wom__now_ns(), t0 = start;
    int late = 0;
    while (nb < PROBE_TRIPS / PROBE_BLOCK && !late) {
        for (unsigned b = 0; b < PROBE_BLOCK && !late; b++) {
            k++;
            /* Release pairs with the echo's acquire; acquire below with its answer. */
            atomic_store_explicit(&p.line, 2 * k - 1, memory_order_release);
            unsigned spins = 0;
            while (atomic_load_explicit(&p.line, memory_order_acquire) != 2 * k && !late) {
                bench_spin(&spins);
                late = spins > 256 && wom__now_ns() - start > PROBE_LIMIT_NS;
            }
        }
        int64_t t1 = wom__now_ns();
        late |= t1 - start > PROBE_LIMIT_NS;
        if (!late || !nb)
            block[nb++] = t1 - t0;
        t0 = t1;
    }
    atomic_store_explicit(&p.line, PROBE_STOP, memory_order_release);
    pthread_join(t, NULL);
    /* The median block, per round trip: a block the scheduler interrupted
     * is an outlier, not the placement. */
    for (uint64_t i = 1; i < nb; i++)
        for (uint64_t j = i; j > 0 && block[j - 1] > block[j]; j--) {
            int64_t x = block[j];
            block[j] = block[j - 1];
            block[j - 1] = x;
        }
    return (double)block[nb / 2] / PROBE_BLOCK;
}

static char probe_class(double ns)
{
    if (ns < 0)
        return '?';
    return ns < BENCH_NEAR_NS ? 'n' : ns < BENCH_FAR_NS ? 'f' : 'b';
}

char bench_regime(double before_ns, double after_ns)
{
    char a = probe_class(before_ns), b = probe_class(after_ns);
    if (a == '?' || b == '?')
        return '?';
    if (a == 'b' || b == 'b')
        return 'b';
    return a == b ? a : 'm';
}
