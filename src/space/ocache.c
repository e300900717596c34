/*
 * ocache.c - the bounded cache of written ONCE cells (ocache.h).
 *
 * OC_SHARDS shards, each a mutex, a chained hash table and an LRU list; a
 * cell lives in the shard its key hashes to, and each shard keeps to its
 * share of the byte budget. An entry leaves the table and the list when it
 * is evicted or trimmed; its memory goes when its last hold is dropped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "space/ocache.h"
#include "wom.h"

#define OC_SHARDS 16u
#define OC_MIN_BUCKETS 64u

struct wom__oentry {
    struct wom__oentry *hnext;       /* hash chain */
    struct wom__oentry *prev, *next; /* LRU list, most recent first */
    uint64_t rid, addr;
    size_t len;
    uint32_t holds;
    int listed; /* in the table and the list */
    unsigned char data[];
};

struct shard {
    pthread_mutex_t mu;
    struct wom__oentry **buckets;
    size_t nbuckets, count, bytes;
    struct wom__oentry lru; /* sentinel: lru.next is the most recent */
};

struct wom__ocache {
    size_t shard_max; /* byte budget of each shard */
    struct shard shards[OC_SHARDS];
};

static uint64_t key_hash(uint64_t rid, uint64_t addr)
{
    uint64_t h = (rid * 0x9e3779b97f4a7c15ull) ^ addr;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

static size_t entry_bytes(size_t len) { return sizeof(struct wom__oentry) + len; }

int wom__ocache_new(size_t max_bytes, struct wom__ocache **out)
{
    struct wom__ocache *c = calloc(1, sizeof *c);
    if (!c)
        return WOM_ENOMEM;
    c->shard_max = max_bytes / OC_SHARDS;
    for (unsigned i = 0; i < OC_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->lru.prev = s->lru.next = &s->lru;
        s->nbuckets = OC_MIN_BUCKETS;
    }
    for (unsigned i = 0; i < OC_SHARDS; i++)
        if (!(c->shards[i].buckets = calloc(OC_MIN_BUCKETS, sizeof(struct wom__oentry *)))) {
            wom__ocache_free(c);
            return WOM_ENOMEM;
        }
    *out = c;
    return 0;
}

void wom__ocache_free(struct wom__ocache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < OC_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        for (struct wom__oentry *e = s->lru.next, *n; e != &s->lru; e = n) {
            n = e->next;
            free(e);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

static struct shard *shard_of(struct wom__ocache *c, uint64_t h) { return &c->shards[h % OC_SHARDS]; }

static struct wom__oentry **slot_of(struct shard *s, uint64_t h)
{
    return &s->buckets[(h / OC_SHARDS) % s->nbuckets];
}

static void lru_unlink(struct wom__oentry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_front(struct shard *s, struct wom__oentry *e)
{
    e->next = s->lru.next;
    e->prev = &s->lru;
    s->lru.next->prev = e;
    s->lru.next = e;
}

/* Take e out of s's table and list (the caller holds s's lock); it is freed
 * now if nobody holds it, else by the last drop. */
static void shard_remove(struct shard *s, struct wom__oentry *e)
{
    struct wom__oentry **p = slot_of(s, key_hash(e->rid, e->addr));
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    lru_unlink(e);
    e->listed = 0;
    s->count--;
    s->bytes -= entry_bytes(e->len);
    if (e->holds == 0)
        free(e);
}

/* Double s's table when it holds more entries than buckets (best effort:
 * without memory the chains just get longer). */
static void shard_grow(struct shard *s)
{
    size_t n = s->nbuckets * 2;
    struct wom__oentry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (struct wom__oentry *e = s->buckets[i], *next; e; e = next) {
            next = e->hnext;
            struct wom__oentry **slot = &b[(key_hash(e->rid, e->addr) / OC_SHARDS) % n];
            e->hnext = *slot;
            *slot = e;
        }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static struct wom__oentry *shard_find(struct shard *s, uint64_t h, uint64_t rid, uint64_t addr)
{
    for (struct wom__oentry *e = *slot_of(s, h); e; e = e->hnext)
        if (e->rid == rid && e->addr == addr)
            return e;
    return NULL;
}

struct wom__oentry *wom__ocache_get(struct wom__ocache *c, uint64_t rid, uint64_t addr)
{
    uint64_t h = key_hash(rid, addr);
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    struct wom__oentry *e = shard_find(s, h, rid, addr);
    if (e) {
        e->holds++;
        lru_unlink(e);
        lru_front(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

struct wom__oentry *wom__ocache_put(struct wom__ocache *c, uint64_t rid, uint64_t addr,
                                    const void *v, size_t len)
{
    if (entry_bytes(len) > c->shard_max)
        return NULL; /* would evict the whole shard and still not fit */
    struct wom__oentry *n = malloc(entry_bytes(len));
    if (!n)
        return NULL;
    *n = (struct wom__oentry){.rid = rid, .addr = addr, .len = len, .holds = 1, .listed = 1};
    if (len)
        memcpy(n->data, v, len);
    uint64_t h = key_hash(rid, addr);
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    struct wom__oentry *e = shard_find(s, h, rid, addr);
    if (e) { /* a racer cached it first: the same bytes */
        e->holds++;
        pthread_mutex_unlock(&s->mu);
        free(n);
        return e;
    }
    if (s->count >= s->nbuckets)
        shard_grow(s);
    struct wom__oentry **slot = slot_of(s, h);
    n->hnext = *slot;
    *slot = n;
    lru_front(s, n);
    s->count++;
    s->bytes += entry_bytes(len);
    while (s->bytes > c->shard_max && s->lru.prev != n)
        shard_remove(s, s->lru.prev); /* least recently used first */
    pthread_mutex_unlock(&s->mu);
    return n;
}

void wom__ocache_drop(struct wom__ocache *c, struct wom__oentry *e)
{
    struct shard *s = shard_of(c, key_hash(e->rid, e->addr));
    pthread_mutex_lock(&s->mu);
    int gone = --e->holds == 0 && !e->listed;
    pthread_mutex_unlock(&s->mu);
    if (gone)
        free(e);
}

void wom__ocache_trim(struct wom__ocache *c, uint64_t rid, uint64_t below)
{
    for (unsigned i = 0; i < OC_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (struct wom__oentry *e = s->lru.next, *next; e != &s->lru; e = next) {
            next = e->next;
            if (e->rid == rid && e->addr < below)
                shard_remove(s, e);
        }
        pthread_mutex_unlock(&s->mu);
    }
}

const void *wom__oentry_data(const struct wom__oentry *e) { return e->data; }
size_t wom__oentry_len(const struct wom__oentry *e) { return e->len; }

size_t wom__ocache_bytes(struct wom__ocache *c)
{
    size_t n = 0;
    for (unsigned i = 0; i < OC_SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        n += c->shards[i].bytes;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    return n;
}
