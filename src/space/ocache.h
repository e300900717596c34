/*
 * ocache.h - a bounded cache of written ONCE cells, for remote scopes.
 *
 * A written ONCE value never changes, so a client may keep a copy of it for
 * ever and serve repeated reads at memory speed (docs/cluster.md). The
 * cache is bounded by bytes (the least recently used entries go first) and
 * a trim drops a region's entries below the new floor. Entries are counted
 * references: a view holds its entry, so eviction never frees bytes that a
 * view still shows. Thread-safe; sharded so that readers of different cells
 * rarely meet on one lock.
 */
#ifndef WOM_OCACHE_H
#define WOM_OCACHE_H

#include <stddef.h>
#include <stdint.h>

struct wom__ocache;
struct wom__oentry;

/* A cache of at most max_bytes (values plus per-entry bookkeeping). 0 or
 * WOM_ENOMEM. The caller owns *out (wom__ocache_free). */
int wom__ocache_new(size_t max_bytes, struct wom__ocache **out);
/* Free the cache; every entry must have been dropped. */
void wom__ocache_free(struct wom__ocache *c);
/* The entry of cell addr of region rid, held for the caller (drop it), or
 * NULL when it is not cached. */
struct wom__oentry *wom__ocache_get(struct wom__ocache *c, uint64_t rid, uint64_t addr);
/* Cache a copy of len bytes at v as cell addr of region rid and return it
 * held (an entry already there wins: a written value cannot differ). NULL
 * when out of memory or when the value is larger than the whole cache (the
 * caller then serves its own copy). */
struct wom__oentry *wom__ocache_put(struct wom__ocache *c, uint64_t rid, uint64_t addr,
                                    const void *v, size_t len);
/* Give back a hold from get or put. */
void wom__ocache_drop(struct wom__ocache *c, struct wom__oentry *e);
/* Forget region rid's cells below `below` (a trim raised its floor). */
void wom__ocache_trim(struct wom__ocache *c, uint64_t rid, uint64_t below);
/* An entry's value; valid while the entry is held. */
const void *wom__oentry_data(const struct wom__oentry *e);
size_t wom__oentry_len(const struct wom__oentry *e);
/* Bytes in use now (values plus bookkeeping), for tests and statistics. */
size_t wom__ocache_bytes(struct wom__ocache *c);

#endif
