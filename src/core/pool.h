/*
 * pool.h - a pool: one area, its lock, its heap and its statistics.
 *
 * Shared by the release and debug builds. A pool's control structure lives
 * at the start of its own area, followed by the heap that hands out blocks:
 *
 *   area base                                                       area end
 *   | struct pool | build's control | struct heap + free lists | blocks ... |
 *
 * The control region belongs to the build that created the pool (the debug
 * build keeps its log, quarantine and counters there; the release build
 * asks for none).
 *
 * The block operations themselves (what a block looks like to the driver)
 * belong to each build; this layer gives them the area, the lock and the
 * counters, so that both builds create, lock, account and destroy pools
 * the same way.
 *
 * Locking: pool->lock (a sleeping lock) protects the heap and the counters.
 * Blocks in thread caches (thread_cache.h) are live in the heap but free for
 * the statistics, which thread_cache_get_pool_stats() reports.
 * A process that has only one thread skips it, as glibc does
 * (__libc_single_threaded), since nothing can race; pool_lock() returns
 * whether it locked, and pool_unlock() takes that answer, so a pair always
 * matches even if a thread is created between them.
 */
#ifndef AREA_MALLOC_CORE_POOL_H
#define AREA_MALLOC_CORE_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sys/single_threaded.h>

#include <OS.h>

#include "core/heap.h"
#include "kernel/lock.h"

#define POOL_AREA_NAME "area_malloc pool"

struct pool {
	mutex lock;
	area_id area;
	uint32 address_spec;
	uint32 lock_spec;
	uint32 protection;
	void *base; /* the area */
	size_t area_size;
	size_t requested_size; /* create_pool's size argument */
	struct heap *heap;
	void *control; /* control_bytes for the build, 64-byte aligned */
	size_t control_bytes;
	size_t heap_offset;  /* from base */
	size_t guard_offset; /* 0: no guard page */
	const void *id;      /* the opaque id the driver holds */
	void *creator;       /* return address of create_pool's caller */
	uint64_t failed_requests;
	uint64_t allocations;
	uint64_t frees;
	/* caches of freed blocks in front of the lock (thread_cache.c; release
	 * build only): changed under thread_cache.c's cache_lock, read without
	 * it too (an atomic, so the unlocked "no cache?" look is not a race) */
	_Atomic(struct thread_cache *) thread_caches;
	/* full magazines between those caches (cache_depot.h): created and
	 * destroyed under cache_lock, used by a thread through its attached
	 * cache; atomic for the same unlocked look as thread_caches */
	_Atomic(struct cache_depot *) cache_depot;
};

/* The pool's header at the start of its area; the control region follows
 * (pool->control), then the heap at heap_offset. */
#define POOL_HEADER_BYTES ((sizeof(struct pool) + 63) & ~(size_t)63)

struct pool_stats {
	area_id area;
	void *base;
	size_t area_size;
	size_t requested_size;
	size_t capacity; /* bytes the heap can hand out, overhead included */
	size_t used;     /* bytes in live blocks, overhead included */
	size_t peak;
	size_t largest_free;
	size_t live_blocks;
	uint64_t allocations;
	uint64_t frees;
	uint64_t failed_requests;
};

/*
 * Creates a pool in a new area of at least size + reserve bytes (rounded up
 * to pages). reserve is the room a build needs for its own metadata, so that
 * a pool holds as much for the driver as the driver asked for; control_bytes
 * (zero-filled, fresh memory) are set aside after the pool structure for the
 * build's own control data, and come out of the reserve. The pool must
 * be writable: a protection without a write bit fails. backing (NULL:
 * anonymous, no guard page) says what the area is made of. B_EXACT_ADDRESS and
 * B_CLONE_ADDRESS fail (create_pool has no address argument); the base
 * address specs mean "any address". Returns NULL on any failure, with
 * *error (if not NULL) set to the Haiku status.
 */
struct pool_backing {
	int fd;          /* -1: anonymous memory; else a file as large as the area */
	bool guard_page; /* an inaccessible page between control region and heap */
};

struct pool *pool_create(uint32 address_spec, size_t size, size_t reserve, size_t control_bytes,
	const struct pool_backing *backing, uint32 lock_spec, uint32 protection, status_t *error);

/* Bytes of area a pool needs for size + reserve + control_bytes with this
 * backing (the size of its file). */
size_t pool_area_bytes(size_t size, size_t reserve, size_t control_bytes,
	const struct pool_backing *backing);

/* Offset of the heap (and end of the guard page) in such an area. */
size_t pool_heap_offset(size_t control_bytes, const struct pool_backing *backing);

/* The heap capacity (heap_stats.capacity_bytes) of the pool the release
 * module creates for size (pool_create with no reserve, no control region,
 * anonymous memory); 0 when it could create none. A debug pool holds no
 * more than this by default (capacity parity). */
size_t pool_release_capacity(size_t size);

/* Deletes the pool's area; every pointer into it is invalid afterwards. */
void pool_destroy(struct pool *pool);

static inline bool pool_lock(struct pool *pool)
{
	if (__libc_single_threaded)
		return false;
	mutex_lock_spinning(&pool->lock);
	return true;
}

static inline void pool_unlock(struct pool *pool, bool locked)
{
	if (locked)
		mutex_unlock(&pool->lock);
}

/* Reads the pool's statistics under its lock, as the heap sees them (the
 * release build's caches: thread_cache_get_pool_stats()). */
void pool_get_stats(struct pool *pool, struct pool_stats *stats);
/* The same with the pool's lock already held. */
void pool_get_stats_locked(struct pool *pool, struct pool_stats *stats);

/*
 * Validates the pool layer: the control structure agrees with its area and
 * the heap's invariants hold. Takes the lock. For tests and debug checks.
 */
bool pool_validate(struct pool *pool, const char **why);

/*
 * The id of the live pool whose area contains address, or NULL. The pool
 * may be deleted as soon as this returns: acquire the id (the registry)
 * before touching the pool.
 */
const void *pool_id_containing(const void *address);

#endif /* AREA_MALLOC_CORE_POOL_H */
