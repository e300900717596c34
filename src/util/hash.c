/* hash.c - the checksum of values (util/hash.h).
 *
 * Where a program has Debian's shared libxxhash, XXH3 is its dispatching
 * entry, which picks SSE2, AVX2 or AVX-512 at run time (about 80 ns for
 * 4 KiB on the development VM). Debian's static libxxhash.a has no
 * dispatching entries, so a fully static program (cc -static ... $(pkg-config
 * --static --libs wom)) could not link one. The reference to it is
 * therefore weak: the linker resolves it where a shared libxxhash provides
 * it (libwom.so, and any dynamically linked program), and leaves it null in
 * a static link, where XXH3_64bits (SSE2 on x86-64) computes the same value.
 * So one object serves the static and the shared library, and the
 * checksums in space files are the same whichever program wrote them.
 */
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#define XXH_DISPATCH_DISABLE_REPLACE /* the plain names stay the plain entries */
#include <xxh_x86dispatch.h>
#define WOM_XXH_DISPATCH 1
/* Weak: null when nothing in the link defines it. */
XXH64_hash_t XXH3_64bits_dispatch(const void *input, size_t len) __attribute__((weak));
#endif

#include "util/hash.h"

uint32_t wom__value_sum(const void *p, size_t n)
{
#ifdef WOM_XXH_DISPATCH
    if (XXH3_64bits_dispatch)
        return (uint32_t)XXH3_64bits_dispatch(p, n);
#endif
    return (uint32_t)XXH3_64bits(p, n);
}
