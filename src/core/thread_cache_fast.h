/*
 * thread_cache_fast.h - the hit paths of the release build's thread caches,
 * inline in the module's malloc and free (thread_cache.h says what the
 * caches promise, thread_cache.c how: invariants C1-C4, locking).
 *
 * Why inline: a cached malloc/free pair of a 16-byte block took about 250
 * instructions through am_malloc -> allocate -> thread_cache_take and
 * am_free -> thread_cache_put -> heap_live_usable_size_unlocked ->
 * probe_word (twice), against glibc's 190 (callgrind, bench-malloc-simple
 * pattern; 1.4x glibc's time). The calls, the registers each saved, the
 * slow paths' code mixed into the hit path, and a tail pointer and a block
 * count nobody needed were most of it. Here a hit is one function, the
 * module's own, with nothing out of line; everything else (a cache to
 * attach, an empty class, a full one, the depot) goes to the out-of-line
 * thread_cache_take_slow()/thread_cache_put_slow(), which start over.
 *
 * The fast path touches only the calling thread's cache (the TLS table
 * slot, the cache's first line and the class's magazine) and the block.
 * Locking: the cache's busy flag around each hit (enter/leave; the
 * Dekker-style protocol with drainers is described in thread_cache_claim.c).
 */
#ifndef AREA_MALLOC_CORE_THREAD_CACHE_FAST_H
#define AREA_MALLOC_CORE_THREAD_CACHE_FAST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "core/cache_magazine.h"
#include "core/heap_fast.h"
#include "core/pool.h"
#include "core/thread_cache.h"
#include "kernel/sanitizers.h"

#define THREAD_CACHE_SLOTS 8  /* pools a thread caches for at once */
#define THREAD_CACHE_ALIGN 64 /* a cache line */

struct thread_cache {
	/* the hit path's line: flags, identity, bounds, totals (a cache starts
	 * a line, and its size is whole lines: aligned_alloc in thread_cache.c) */
	_Alignas(THREAD_CACHE_ALIGN) atomic_bool busy; /* the owner is in a cached operation */
	atomic_bool claimed;                           /* a drainer holds the cache */
	const void *pool_id;                           /* written by the owner thread only */
	struct heap_fast_bounds bounds; /* the pool's heap's; span 0 while detached */
	size_t bytes;                   /* chunk bytes of the blocks held */
	size_t byte_limit;
	uint64_t allocations;
	/* the rest of the hit path's second line */
	uint64_t frees;
	struct pool *pool;                          /* NULL: detached (C2) */
	struct cache_depot *depot;                  /* the pool's, while attached (C4) */
	struct thread_cache *pool_prev, *pool_next; /* on pool->thread_caches */
	struct thread_cache *all_prev, *all_next;   /* on all_caches */
	struct thread_cache **owner_slots;          /* the owner thread's table; NULL: that
						 * thread is gone (a fork's child) */
	unsigned slot;                              /* this cache's index in that table */
	/* on its pool's depot's chain of parked caches (thread_cache.c, C5);
	 * parked_pprev NULL: not parked */
	struct thread_cache *parked_next, **parked_pprev;
	struct magazine bins[CACHE_CLASSES];
};

/* Initial-exec TLS: a module is dlopen()ed, and the general dynamic model
 * would cost a __tls_get_addr() call on every operation; 64 bytes fit in
 * the loader's static TLS reserve. */
extern __thread struct thread_cache *thread_cache_slots[THREAD_CACHE_SLOTS]
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

/* The mark of a cached block (its second word), how many blocks each class
 * keeps (C3), and whether the owner's fence is a compiler barrier: all set
 * before the first cache exists and never changed while one does. */
extern uint64_t thread_cache_key __attribute__((visibility("hidden")));
extern uint32_t thread_cache_bin_limits[CACHE_CLASSES] __attribute__((visibility("hidden")));
#if defined(AREA_MALLOC_BUILT_WITH_TSAN) || !defined(SYS_membarrier)
#define thread_cache_asymmetric_fences false
#define THREAD_CACHE_FENCES_BY_MEMBARRIER 0
#else
#define THREAD_CACHE_FENCES_BY_MEMBARRIER 1
extern bool thread_cache_asymmetric_fences __attribute__((visibility("hidden")));
#endif

void *thread_cache_take_slow(const void *pool_id, size_t size)
	__attribute__((visibility("hidden")));
bool thread_cache_put_slow(const void *pool_id, void *ptr) __attribute__((visibility("hidden")));

static inline unsigned thread_cache_slot_of(const void *pool_id)
{
	return (unsigned)(((uintptr_t)pool_id * 0x9e3779b97f4a7c15ull) >> 61);
}

/*
 * The owner enters its cache for one operation; false when a drainer holds
 * it. Not reentrant: a signal handler that allocated from a pool while its
 * thread was inside the cache would enter it again (the module's calls are
 * not for signal handlers, as the kernel's are not for interrupt handlers).
 */
static inline bool thread_cache_enter(struct thread_cache *cache)
{
	if (thread_cache_asymmetric_fences) {
		atomic_store_explicit(&cache->busy, true, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst); /* the heavy side is membarrier */
		if (!atomic_load_explicit(&cache->claimed, memory_order_acquire))
			return true;
		atomic_store_explicit(&cache->busy, false, memory_order_release);
		return false;
	}
	return !atomic_exchange_explicit(&cache->busy, true, memory_order_acquire);
}

static inline void thread_cache_leave(struct thread_cache *cache)
{
	atomic_store_explicit(&cache->busy, false, memory_order_release);
}

/*
 * The drainer's side (thread_cache_claim.c; thread_cache.c's cache_lock
 * held): claim each cache, settle the claims once (the heavy fence), then
 * wait for each owner to leave; take_busy does the three for one cache
 * (the caller's own needs no fence: it is not inside it), give_busy hands
 * it back. decide_fences chooses the fences once, before the first cache
 * exists: the fast path's fence must not change under a cache in use.
 */
#define THREAD_CACHE_HIDDEN __attribute__((visibility("hidden")))
void thread_cache_decide_fences(void) THREAD_CACHE_HIDDEN;
void thread_cache_claim(struct thread_cache *cache) THREAD_CACHE_HIDDEN;
void thread_cache_settle_claims(void) THREAD_CACHE_HIDDEN;
void thread_cache_wait_for_owner(struct thread_cache *cache) THREAD_CACHE_HIDDEN;
void thread_cache_take_busy(struct thread_cache *cache) THREAD_CACHE_HIDDEN;
void thread_cache_give_busy(struct thread_cache *cache) THREAD_CACHE_HIDDEN;

/* thread_cache_take() of thread_cache.h: a hit here, anything else in
 * thread_cache_take_slow(). A detached cache holds no block (C2), so its
 * empty class sends the call there too. */
static inline void *thread_cache_take(const void *pool_id, size_t size)
{
	struct thread_cache *cache = thread_cache_slots[thread_cache_slot_of(pool_id)];

	if (__builtin_expect(cache == NULL || cache->pool_id != pool_id
			    || size > THREAD_CACHE_MAX_USABLE,
		    0))
		return thread_cache_take_slow(pool_id, size);
	if (!thread_cache_enter(cache))
		return NULL;
	unsigned class_index = cache_class_for_request(size);
	struct magazine *bin = &cache->bins[class_index];
	if (__builtin_expect(bin->head == NULL, 0)) {
		thread_cache_leave(cache);
		return thread_cache_take_slow(pool_id, size);
	}
	size_t usable;
	void *block = magazine_pop(bin, class_index, &usable);
	cache->bytes -= usable + HEAP_BLOCK_OVERHEAD;
	cache->allocations++;
	*magazine_key_word(block) = 0;
	thread_cache_leave(cache);
	return block;
}

/* thread_cache_put() of thread_cache.h: a block that fits its class here;
 * a cache to attach or a full class in thread_cache_put_slow(). */
static inline bool thread_cache_put(const void *pool_id, void *ptr)
{
	struct thread_cache *cache = thread_cache_slots[thread_cache_slot_of(pool_id)];

	if (__builtin_expect(cache == NULL || cache->pool_id != pool_id, 0))
		return thread_cache_put_slow(pool_id, ptr);
	if (!thread_cache_enter(cache))
		return false;
	size_t usable = heap_fast_live_usable(&cache->bounds,
		cache->pool != NULL ? cache->pool->heap : NULL, ptr, THREAD_CACHE_MAX_USABLE);
	/* not plausibly live, or already cached: the caller looks under the lock */
	if (usable == 0 || *magazine_key_word(ptr) == thread_cache_key) {
		thread_cache_leave(cache);
		return false;
	}
	unsigned class_index = cache_class_for_block(usable);
	struct magazine *bin = &cache->bins[class_index];
	size_t bytes = usable + HEAP_BLOCK_OVERHEAD;
	if (__builtin_expect(bin->count >= thread_cache_bin_limits[class_index]
			    || cache->bytes + bytes > cache->byte_limit,
		    0)) {
		thread_cache_leave(cache);
		return thread_cache_put_slow(pool_id, ptr);
	}
	magazine_push(bin, ptr, usable);
	*magazine_key_word(ptr) = thread_cache_key;
	cache->bytes += bytes;
	cache->frees++;
	thread_cache_leave(cache);
	return true;
}

#endif /* AREA_MALLOC_CORE_THREAD_CACHE_FAST_H */
