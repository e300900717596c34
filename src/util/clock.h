/* clock.h - the one monotonic clock of the library, its forms and its
 * tools (header-only, so every layer and program may share it). */
#ifndef WOM_CLOCK_H
#define WOM_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t wom__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
