/*
 * thread_cache.h - per-thread caches of freed small blocks in front of a
 * pool's lock (the release build's fast path, in every process).
 *
 * A thread that frees a small block of a pool keeps it in its own cache for
 * that pool, and its next allocation of that size class takes it back
 * without the pool's lock; only misses, full caches and large blocks go to
 * the heap under the lock. The caches keep every promise the pool makes
 * (see thread_cache.c for how):
 *  - cached blocks count as free in the pool's statistics;
 *  - no allocation returns NULL while a cache of the pool still holds
 *    blocks (thread_cache_drain_pool() first);
 *  - delete_pool reclaims them (thread_cache_detach_pool());
 *  - a free or realloc of a block that sits in a cache is refused, like any
 *    other pointer that is not a live block (thread_cache_holds()).
 *
 * A single-threaded process uses them too: a cache hit (a pop from a
 * size class's list) is cheaper than the heap's search and split, and the
 * megabytes a cache may hold kept random-size churn at 0.7x glibc's time
 * (measured with 1 MiB; 4 MiB since two threads sharing a pool needed
 * more of the largest blocks: thread_cache.c).
 * Between threads, whole magazines of blocks pass through the pool's depot
 * (cache_depot.h), so a thread that frees what another allocated does not
 * take the pool's lock for each block. A thread caches for a few pools at
 * once; a call on one more pool moves the other's cache out of the way in
 * bounded work (to the depot, or parked with its pool for the next thread),
 * never by giving its blocks back one by one.
 */
#ifndef AREA_MALLOC_CORE_THREAD_CACHE_H
#define AREA_MALLOC_CORE_THREAD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

/* Largest usable size a cache keeps (size classes: cache_magazine.h). */
#define THREAD_CACHE_MAX_USABLE 32768

/*
 * The two calls of the fast path are inline, in thread_cache_fast.h:
 *
 * void *thread_cache_take(const void *pool_id, size_t size);
 *   A block of at least size bytes from this thread's cache for the pool
 *   id, or NULL (then allocate from the heap under the pool's lock).
 *
 * bool thread_cache_put(const void *pool_id, void *ptr);
 *   Keeps ptr, a block of the pool id, in this thread's cache. False when
 *   it did not (not plausibly a live block, a large block, the cache full):
 *   the caller frees it under the pool's lock as usual, checking it first.
 */

/* True when ptr, a block the heap counts as live, sits in a cache (a
 * second free or a realloc of a freed block). Call with the pool's lock. */
bool thread_cache_holds(const void *ptr);

/* Returns every cached block of the pool to its heap; true when there was
 * one. Call without the pool's lock (it takes it). */
bool thread_cache_drain_pool(struct pool *pool);

/* The pool is being deleted: its caches forget it and their blocks (which
 * go with the area). Call after its id was retired, before destroying it. */
void thread_cache_detach_pool(struct pool *pool);

/*
 * The pool's statistics (pool_get_stats) with its cached blocks counted as
 * free and the caches' allocations and frees added. Call without the pool's
 * lock (it takes the caches' lock, then the pool's).
 */
struct pool_stats;
void thread_cache_get_pool_stats(struct pool *pool, struct pool_stats *stats);

/* The caches' invariants for the pool (thread_cache.c C1-C4, the depot's
 * D1-D3): false with a sentence in *why when one is broken. Call without the
 * pool's lock. */
bool thread_cache_validate_pool(struct pool *pool, const char **why);

/*
 * The module is being put away (no thread uses it): every cache is given
 * back and freed, the other threads' tables forget them, and no destructor
 * is left to run at thread exit in code that may be unloaded.
 */
void thread_cache_shutdown(void);

/*
 * fork(): the module's handlers call these between taking the registry's
 * lock and the pools' locks (the lock order). In the child, the caches of
 * threads it does not have keep their blocks (still free for statistics,
 * still drained) until their pool is drained or deleted.
 */
void thread_cache_fork_prepare(void);
void thread_cache_fork_parent(void);
void thread_cache_fork_child(void);

#endif /* AREA_MALLOC_CORE_THREAD_CACHE_H */
