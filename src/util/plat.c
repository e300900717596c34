/* plat.c - Linux implementation of plat.h. */
#include "util/plat.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int64_t wom__deadline(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t now = wom__now_ns();
    return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

int wom__futex_wait(wom_a32 *word, uint32_t expect, int shared, int64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns >= 0) {
        if (wom__now_ns() >= deadline_ns)
            return -ETIMEDOUT;
        ts.tv_sec = deadline_ns / 1000000000;
        ts.tv_nsec = deadline_ns % 1000000000;
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long rc = syscall(SYS_futex, (uint32_t *)word, op, expect, tsp, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    if (rc < 0 && errno == ETIMEDOUT)
        return -ETIMEDOUT;
    return 0; /* woken, EAGAIN (value moved) or EINTR: caller re-checks */
}

void wom__futex_wake(wom_a32 *word, int shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    syscall(SYS_futex, (uint32_t *)word, op, INT_MAX, NULL, NULL, 0);
}

int wom__vm_reserve(size_t len, void **out)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

void wom__vm_unmap(void *p, size_t len) { munmap(p, len); }

void wom__vm_discard(void *p, size_t len) { madvise(p, len, MADV_DONTNEED); }

int wom__vm_protect(void *p, size_t len, int writable)
{
    return mprotect(p, len, writable ? PROT_READ | PROT_WRITE : PROT_READ) ? -errno : 0;
}
