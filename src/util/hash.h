/* hash.h - the checksum of values in shared segments. */
#ifndef WOM_HASH_H
#define WOM_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The low half of XXH3-64 of p[0, n) (xxHash from Debian's libxxhash):
 * not cryptographic; it catches bit rot, torn and stray writes. */
uint32_t wom__value_sum(const void *p, size_t n);

#endif
