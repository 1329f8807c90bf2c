/*
 * cache_depot.h - a pool's depot of full magazines between its threads'
 * caches (the release build; Bonwick's magazine layer, jemalloc's tcache
 * flush and fill in batches).
 *
 * Why: a thread that only frees (a consumer) fills its cache and would then
 * free every block under the pool's lock, while the thread that only
 * allocates (a producer) finds its cache empty and allocates every block
 * under the same lock: both meet on it for every call. With the depot, the
 * consumer hands over a whole magazine and the producer takes one, in
 * constant time and one short flag each, so the lock is taken once per
 * magazine instead of once per block.
 *
 * Invariants (checked by cache_depot_validate):
 *  D1 each class holds at most DEPOT_MAGAZINES magazines, each non-empty,
 *     of blocks filed in that class (cache_magazine.h, M1-M3);
 *  D2 bytes and blocks are the sums over the magazines, bytes at most
 *     byte_limit;
 *  D3 every block is a live chunk of the pool's heap marked with the
 *     caches' key (it counts as free in the pool's statistics).
 *
 * Locking: depot->busy (an atomic flag) protects everything in it. A
 * thread's fast path tries it once, with its own cache's flag held, and
 * never waits: finding it taken it falls back to the heap. Whoever must
 * have it (drain, statistics, detach, fork) holds thread_cache.c's
 * cache_lock and spins, yielding, until it is free; the holders on the fast
 * path are in a critical section of a few stores. Lock order: cache_lock,
 * the pool's lock, a cache's flag, the depot's flag.
 */
#ifndef AREA_MALLOC_CORE_CACHE_DEPOT_H
#define AREA_MALLOC_CORE_CACHE_DEPOT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cache_magazine.h"

struct cache_depot;
struct heap;

/* A depot for a pool of area_size bytes, put on list (the caller's list of
 * every depot, for fork), or NULL without memory. */
struct cache_depot *cache_depot_create(size_t area_size, struct cache_depot **list);
/* Takes it off its list and frees it (it holds no block: spilled or
 * forgotten; and no parked cache). */
void cache_depot_destroy(struct cache_depot *depot);

/* Fast path: moves the whole magazine into the depot (it is then empty) and
 * returns true; false when the depot is busy or full for it. */
bool cache_depot_try_put(struct cache_depot *depot, unsigned class_index,
	struct magazine *magazine);

/* Off the fast path (held): the same move as cache_depot_try_put. */
bool cache_depot_put_held(struct cache_depot *depot, unsigned class_index,
	struct magazine *magazine);

/* Fast path: fills the empty magazine with one of the depot's magazines of
 * the class and returns true; false when the depot is busy or has none. */
bool cache_depot_try_take(struct cache_depot *depot, unsigned class_index,
	struct magazine *magazine);

/* The head of the chain of caches parked with the depot's pool
 * (thread_cache.c, "Eviction", C5). Not the depot's: protected by
 * thread_cache.c's cache_lock, not by the depot's flag, and NULL when the
 * depot is destroyed (every parked cache leaves with its pool). */
struct thread_cache;
struct thread_cache **cache_depot_parked(struct cache_depot *depot);

/* Off the fast path (cache_lock held): waits for the depot's flag. */
void cache_depot_hold(struct cache_depot *depot);
void cache_depot_release(struct cache_depot *depot);

/* fork(): every depot of the list held, then released (cache_lock held). */
void cache_depot_hold_all(struct cache_depot *list);
void cache_depot_release_all(struct cache_depot *list);

/* What the depot holds now (held). */
void cache_depot_totals(const struct cache_depot *depot, size_t *bytes, size_t *blocks);

/* Frees every block of the depot into heap (held, and the pool's lock);
 * returns how many. */
size_t cache_depot_spill(struct cache_depot *depot, struct heap *heap);

/* Forgets every block (the pool's area is going away; held). */
void cache_depot_forget(struct cache_depot *depot);

/* D1-D3 (held, and the pool's lock for D3's look at the heap); NULL or a
 * sentence saying what is broken. */
const char *cache_depot_validate(const struct cache_depot *depot, const struct heap *heap,
	uint64_t key);

/* M1-M3 of a magazine of class_index whose blocks carry key (the pool's
 * lock held): NULL or a sentence saying what is broken. */
const char *magazine_validate(const struct magazine *magazine, unsigned class_index,
	const struct heap *heap, uint64_t key);

/* Frees every block of magazine into heap, clearing the caches' key. */
size_t magazine_spill(struct magazine *magazine, struct heap *heap);

#endif /* AREA_MALLOC_CORE_CACHE_DEPOT_H */
