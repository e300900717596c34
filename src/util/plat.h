/* plat.h - the platform under the engine: futexes, clocks, virtual memory.
 * Functions return 0 or -errno. */
#ifndef WOM_PLAT_H
#define WOM_PLAT_H

#include <stddef.h>
#include <stdint.h>

#include "util/atomic.h"
#include "util/clock.h"

/* Absolute deadline for a relative timeout (< 0 stays "forever"). */
int64_t wom__deadline(int64_t timeout_ns);

/* Sleep while *word == expect, until woken or the absolute monotonic
 * deadline_ns (< 0: none). shared: the word may live in memory shared between
 * processes. Returns 0 (woken or value changed: re-check), -ETIMEDOUT. */
int wom__futex_wait(wom_a32 *word, uint32_t expect, int shared, int64_t deadline_ns);
/* Wake every sleeper on word. */
void wom__futex_wake(wom_a32 *word, int shared);

/* Reserve len bytes of zero-filled address space, taken lazily. */
int wom__vm_reserve(size_t len, void **out);
void wom__vm_unmap(void *p, size_t len);
/* Give the pages of [p, p+len) back to the system; they read as zero after. */
void wom__vm_discard(void *p, size_t len);
/* Make [p, p+len) read-only (writable = 0) or read-write again. */
int wom__vm_protect(void *p, size_t len, int writable);

#endif
