/* hash.c - the checksum of values (util/hash.h). xxHash picks SSE2, AVX2 or
 * AVX-512 at run time where it can (about 80 ns for 4 KiB on the development
 * VM). */
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h>
#endif

#include "util/hash.h"

uint32_t wom__value_sum(const void *p, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
    return (uint32_t)XXH3_64bits_dispatch(p, n);
#else
    return (uint32_t)XXH3_64bits(p, n);
#endif
}
