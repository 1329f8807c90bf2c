/*
 * thread_cache.c - per-thread caches of freed small blocks (see
 * thread_cache.h for what they promise).
 *
 * Why: two threads churning one pool otherwise meet on the pool's lock for
 * every call, and the lock's cache line and futex waits cost more than the
 * heap operation itself (2.3x glibc on the two-thread benchmark, where glibc
 * has per-thread tcaches). A cache hit costs one uncontended atomic exchange
 * on a line only this thread normally touches, which is less than the
 * heap's search and split even with one thread: single-threaded processes
 * use the caches too (random-size churn 1.1x -> 0.7x glibc). A free that
 * finds its class full goes to the heap alone: giving part of the class
 * back with it would spare the lock in bursts of equal frees, but each block
 * given back is a heap_free of a cold block, and four of them took that one
 * free past a microsecond at p99.99 (the release latency target).
 *
 * Shape: a thread has a small direct-mapped table of caches in TLS
 * (THREAD_CACHE_SLOTS, indexed by a hash of the pool id); a cache serves one pool
 * and holds, per size class (cache_magazine.h: exact 16-byte classes up to
 * 256 bytes, then four per doubling up to THREAD_CACHE_MAX_USABLE), one
 * magazine of freed blocks, LIFO. A cached block stays "used" in the heap,
 * so the heap never sees the cache; the cache marks it with thread_cache_key in
 * its second word, which is how a second free of it is recognised (the key
 * is cleared whenever the block leaves the caches). A class keeps at most
 * bin_limit() blocks (about BIN_BYTES of them, so a batch of a thousand
 * small blocks freed and allocated again never reaches the heap) and a
 * cache at most cache->byte_limit bytes (a share of the pool), so a cache
 * never hoards a small pool. A class that is full passes its whole
 * magazine to the pool's depot (cache_depot.h), and a class that is empty
 * takes one from there, so threads that hand blocks to each other (one
 * allocates, another frees) meet on a flag once per magazine, not on the
 * pool's lock once per block.
 *
 * Eviction: the table is direct-mapped, so a thread that uses two pools
 * whose ids share a slot moves the slot between them, and a free on the
 * pool that comes second evicts the other's cache inside that call. The
 * call must do bounded work whatever the cache holds (the constant-time
 * worst case): emptying it into its heap, up to its 4 MiB of blocks with
 * one heap_free each, made that one free as slow as thousands. So an
 * eviction gives no block to the heap. Each magazine worth a depot's place
 * (at least half its class's limit, the rule of a free that finds the
 * cache full) goes to the pool's depot whole, where any thread of the pool
 * takes it; a cache then empty serves the new pool. A cache that still
 * holds blocks (the depot full, or short magazines left) is parked: it
 * stays with its pool, blocks and counters and all, on the pool's list
 * (statistics, the drain before a NULL, delete_pool, fork and unload see
 * it like any cache) and on a chain the pool's depot keeps, and belongs to
 * no thread; the thread gets a new cache for the new pool, or takes up one
 * parked there. The next thread to attach to the parked cache's pool takes
 * it up (the chain's head) instead of a new one. So an eviction is at most
 * one move per class (44), a few pointers and, when nothing is parked for
 * the new pool, one allocation, as a first attach; a thread that moves
 * between two pools swaps two parked caches. Bounded: a cache is made
 * only when none is parked for its pool, so a pool never has more parked
 * caches plus caches in use than it had threads attached at once; a thread
 * that exits leaves its parked caches for the next, like the depot's
 * magazines. Not chosen: a set-associative table only makes collisions
 * rarer (a thread with more pools than ways still evicts), and emptying
 * the evicted cache a few blocks per later call puts heap_frees of cold
 * blocks into other calls (four in one free already took it past a
 * microsecond at p99.99); a parked cache costs nothing until its pool
 * needs the memory, and then the drain before a NULL takes it like any
 * cache.
 *
 * The hits (a take from a non-empty class, a put into a class with room)
 * are inline in the module's malloc and free (thread_cache_fast.h); this
 * file holds everything else, starting with the same calls' slow halves.
 *
 * Invariants (checked by thread_cache_validate_pool):
 *  C1 a cache with pool != NULL is on that pool's list (pool->thread_caches)
 *     and its blocks are live chunks of that pool's heap, marked with the
 *     key, each in the class of its usable size (cache_magazine.h M1-M3);
 *  C1 also: its bounds (cache->bounds) are its pool's heap's
 *     (heap_fast_get_bounds), which the fast path's free checks a block
 *     against;
 *  C2 a cache with pool == NULL holds no block and its bounds admit none
 *     (span 0): the fast path relies on both instead of testing pool
 *     (an empty class sends a take, a failed bound a put, to the slow
 *     paths, which see the detached cache);
 *  C3 bytes equals the sum over the classes, and no class holds
 *     more than bin_limit() blocks (byte_limit bounds what a free puts in:
 *     a magazine taken from the depot may carry a cache past it until its
 *     blocks are handed out);
 *  C4 a pool with a cache has a depot (pool->cache_depot) unless there was
 *     no memory for one; the depot's blocks keep C1's marks (D1-D3);
 *  C5 a cache is on its pool's depot's chain of parked caches
 *     (cache_depot_parked) iff an eviction parked it and no thread has
 *     taken it up since; a parked cache is attached (C1), holds at least
 *     one block and belongs to no thread (owner_slots NULL: in no table).
 *
 * Locking:
 *  cache_lock (global, sleeping) protects every pool's list of caches, the
 *  list of all caches, each cache's pool pointer being set (attach) or
 *  cleared (detach), a pool's depot being created or destroyed, and the
 *  depots' chains of parked caches (a parked cache is in no thread's
 *  table: nobody else touches it). Taken only off the fast path: attach,
 *  eviction, thread exit, drain, detach, statistics, validation, fork.
 *  A cache's classes and counters belong to whoever holds the cache: its
 *  own thread around each cached operation, or a drainer (any thread doing
 *  the work above, under cache_lock), decided by two flags, busy and
 *  claimed (the protocol: thread_cache_claim.c).
 *  A depot's flag: see cache_depot.h (the fast path tries it once, with its
 *  cache's flag held).
 *  Lock order: the pool registry's lock (statistics of every pool, fork),
 *  then cache_lock, then a pool's lock, then a cache's busy flag, then a
 *  depot's flag.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>

#include "core/cache_depot.h"
#include "core/pool.h"
#include "core/pool_registry.h"
#include "core/thread_cache.h"
#include "core/thread_cache_fast.h"
#include "kernel/lock.h"
#include "kernel/sanitizers.h"

/* Bytes of blocks a class keeps, at least BIN_MIN_BLOCKS and at most
 * BIN_MAX_BLOCKS blocks: glibc's bench-malloc-simple allocates batches of up
 * to 1,600 blocks of one small size and frees them all; with 16 blocks a
 * class, all but 16 of each batch went through the heap, 3x glibc's time.
 * At least 16 of the largest blocks too: with 4, a class of 16-32 KiB
 * blocks was full or empty every few calls of pattern (b) (random sizes up
 * to 32 KiB), and passed a magazine through the depot, a line both threads
 * sharing the pool write, on one call in thirty. */
#define BIN_BYTES ((size_t)64 * 1024)
#define BIN_MIN_BLOCKS 16
#define BIN_MAX_BLOCKS 2048
/* Bytes a cache may hold: with 128 KiB, two threads churning random sizes
 * in one pool found a full cache on one free in six, and each miss of the
 * cache is a trip to a pool lock the other CPU holds: 4x glibc's time per
 * call (tests/bench "shared2"); with 1 MiB, 1.25x (docs/PERFORMANCE.md).
 * 4 MiB, since bins of the largest classes keep 16 blocks (above). */
#define CACHE_MAX_BYTES ((size_t)4 * 1024 * 1024)
#define CACHE_POOL_SHARE 16 /* a cache keeps at most 1/16 of its pool */
/* Blocks of the class below that a take of an empty class looks at
 * (magazine_take_fitting): each is a read of a cold header, and a take
 * that finds none goes to the depot and the heap (the release latency
 * target is a microsecond at p99.99). */
#define FIT_SCAN_BLOCKS 4

static mutex cache_lock = MUTEX_INITIALIZER("area_malloc thread caches");
static struct thread_cache *all_caches;
static struct cache_depot *all_depots; /* every pool's depot (fork holds them) */
static pthread_key_t exit_key;
static bool exit_key_made; /* between the first attach and thread_cache_shutdown() */

__thread struct thread_cache *thread_cache_slots[THREAD_CACHE_SLOTS]
	__attribute__((tls_model("initial-exec")));
uint64_t thread_cache_key;
uint32_t thread_cache_bin_limits[CACHE_CLASSES];

/* The head of a pool's list of caches: written under cache_lock, but also
 * read without it (the fast "does this pool have a cache at all?" look of
 * drain and detach). Release and acquire: a delete_pool that sees the list
 * empty without cache_lock is about to destroy the pool's lock, so all a
 * retiring thread did with that lock (retire_locked unlinks its cache only
 * after its pool_unlock) must be over before. */
static inline struct thread_cache *first_cache(struct pool *pool)
{
	return atomic_load_explicit(&pool->thread_caches, memory_order_acquire);
}

static inline void set_first_cache(struct pool *pool, struct thread_cache *cache)
{
	atomic_store_explicit(&pool->thread_caches, cache, memory_order_release);
}

/* The pool's depot, with the same unlocked look and ordering as its list. */
static inline struct cache_depot *depot_of(struct pool *pool)
{
	return atomic_load_explicit(&pool->cache_depot, memory_order_acquire);
}

static inline void set_depot(struct pool *pool, struct cache_depot *depot)
{
	atomic_store_explicit(&pool->cache_depot, depot, memory_order_release);
}

/* Whether the pool has anything cached at all (the look without cache_lock). */
static inline bool has_caches(struct pool *pool)
{
	return first_cache(pool) != NULL || depot_of(pool) != NULL;
}

/* How many blocks each class keeps (C3): computed once, before the first
 * cache exists (set_up_locked), so a free reads it instead of dividing. */
static void compute_bin_limits(void)
{
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		size_t blocks = BIN_BYTES / (cache_class_size(c) + HEAP_BLOCK_OVERHEAD);
		thread_cache_bin_limits[c] = blocks < BIN_MIN_BLOCKS ? BIN_MIN_BLOCKS
			: blocks > BIN_MAX_BLOCKS                    ? BIN_MAX_BLOCKS
								     : (uint32_t)blocks;
	}
}

static inline uint32_t bin_limit(unsigned class_index)
{
	return thread_cache_bin_limits[class_index];
}

/* Every cache of the pool (cache_lock held). */
static void take_pool_caches(struct pool *pool)
{
	for (struct thread_cache *cache = first_cache(pool); cache != NULL;
		cache = cache->pool_next)
		thread_cache_claim(cache);
	thread_cache_settle_claims();
	for (struct thread_cache *cache = first_cache(pool); cache != NULL;
		cache = cache->pool_next)
		thread_cache_wait_for_owner(cache);
}

/* ---- Fast path ---- */

static struct thread_cache *attach(const void *pool_id);

/* An empty class takes a magazine from the depot (busy held). */
static bool refill(struct thread_cache *cache, unsigned class_index)
{
	struct magazine *bin = &cache->bins[class_index];

	if (cache->depot == NULL || !cache_depot_try_take(cache->depot, class_index, bin))
		return false;
	cache->bytes += bin->bytes;
	return true;
}

/* Everything thread_cache_take() (thread_cache_fast.h) does not do inline:
 * no cache yet, an empty class (the class below, the depot, the classes
 * above), or a request too large for the caches. */
void *thread_cache_take_slow(const void *pool_id, size_t size)
{
	struct thread_cache *cache = thread_cache_slots[thread_cache_slot_of(pool_id)];
	void *block = NULL;

	if (size > THREAD_CACHE_MAX_USABLE)
		return NULL;
	/* a thread that only allocates (a producer) gets a cache too, to take
	 * the magazines other threads left in the depot; a slot taken by
	 * another pool is left alone here (frees move it) */
	if (cache == NULL)
		cache = attach(pool_id);
	if (cache == NULL || cache->pool_id != pool_id)
		return NULL;
	if (!thread_cache_enter(cache))
		return NULL;
	if (cache->pool != NULL) {
		unsigned class_index = cache_class_for_request(size);
		struct magazine *bin = &cache->bins[class_index];
		size_t usable = 0;
		/* a block from the heap for a size between two classes was filed
		 * one class down: one of the first few there may fit (not in a
		 * class of one size below this one's) */
		if (bin->head == NULL && class_index > 0 && cache_class_sizes_vary(class_index - 1))
			block = magazine_take_fitting(bin - 1, class_index - 1, size,
				FIT_SCAN_BLOCKS, &usable);
		if (block == NULL && (bin->head != NULL || refill(cache, class_index)))
			block = magazine_pop(bin, class_index, &usable);
		/* none for a class of one size (cache_magazine.h,
		 * CACHE_ABOVE_CLASSES: it would only round the request up) */
		if (block == NULL)
			block = magazine_take_above(cache->bins, class_index, &usable);
		if (block != NULL) {
			cache->bytes -= usable + HEAP_BLOCK_OVERHEAD;
			cache->allocations++;
			*magazine_key_word(block) = 0;
		}
	}
	thread_cache_leave(cache);
	return block;
}

/* Room in a class for a block of bytes, passing the class's magazine to the
 * depot when it is full, or at least half full when the cache is (a
 * magazine of one or two blocks would take a depot's place for little);
 * busy held. */
static bool make_room(struct thread_cache *cache, unsigned class_index, size_t bytes)
{
	struct magazine *bin = &cache->bins[class_index];
	uint32_t limit = bin_limit(class_index);

	if (bin->count < limit && cache->bytes + bytes <= cache->byte_limit)
		return true;
	if (bin->count * 2 < limit)
		return false;
	size_t moved_bytes = bin->bytes;
	if (cache->depot == NULL || !cache_depot_try_put(cache->depot, class_index, bin))
		return false;
	cache->bytes -= moved_bytes;
	return cache->bytes + bytes <= cache->byte_limit;
}

/* Everything thread_cache_put() (thread_cache_fast.h) does not do inline:
 * no cache for the pool yet (attach), or a full class (the depot). */
bool thread_cache_put_slow(const void *pool_id, void *ptr)
{
	struct thread_cache *cache = thread_cache_slots[thread_cache_slot_of(pool_id)];
	bool kept = false;

	if (cache == NULL || cache->pool_id != pool_id) {
		cache = attach(pool_id);
		if (cache == NULL)
			return false;
	}
	if (!thread_cache_enter(cache))
		return false;
	struct pool *pool = cache->pool;
	size_t usable = pool != NULL
		? heap_live_usable_size_unlocked(pool->heap, ptr, THREAD_CACHE_MAX_USABLE)
		: 0;
	if (usable != 0 && *magazine_key_word(ptr) != thread_cache_key) {
		unsigned class_index = cache_class_for_block(usable);
		size_t bytes = usable + HEAP_BLOCK_OVERHEAD;
		if (make_room(cache, class_index, bytes)) {
			magazine_push(&cache->bins[class_index], ptr, usable);
			*magazine_key_word(ptr) = thread_cache_key;
			cache->bytes += bytes;
			cache->frees++;
			kept = true;
		}
	}
	thread_cache_leave(cache);
	return kept;
}

bool thread_cache_holds(const void *ptr)
{
	return thread_cache_key != 0 && *magazine_key_word((void *)ptr) == thread_cache_key;
}

/* ---- Moving blocks back to the heap (cache_lock held) ---- */

/* Empties a cache into its pool's heap; the pool's lock and the cache's
 * busy flag are held. Returns how many blocks went back. */
static size_t spill_locked(struct thread_cache *cache)
{
	struct pool *pool = cache->pool;
	size_t spilled = 0;

	for (unsigned i = 0; i < CACHE_CLASSES; i++)
		spilled += magazine_spill(&cache->bins[i], pool->heap);
	pool->allocations += cache->allocations;
	pool->frees += cache->frees;
	cache->allocations = cache->frees = 0;
	cache->bytes = 0;
	return spilled;
}

/* Off its depot's chain, if it is parked (C5; cache_lock held). */
static void unpark(struct thread_cache *cache)
{
	if (cache->parked_pprev == NULL)
		return;
	*cache->parked_pprev = cache->parked_next;
	if (cache->parked_next != NULL)
		cache->parked_next->parked_pprev = cache->parked_pprev;
	cache->parked_next = NULL;
	cache->parked_pprev = NULL;
}

static void unlink_from_pool(struct thread_cache *cache)
{
	if (cache->pool_prev != NULL)
		cache->pool_prev->pool_next = cache->pool_next;
	else
		set_first_cache(cache->pool, cache->pool_next);
	if (cache->pool_next != NULL)
		cache->pool_next->pool_prev = cache->pool_prev;
	cache->pool_prev = cache->pool_next = NULL;
}

/* The cache no longer serves its pool (C2: it holds no block now): no
 * pointer passes the fast path's bounds any more (cache_lock and the
 * cache's flag held). */
static void forget_pool(struct thread_cache *cache)
{
	unpark(cache);
	cache->pool = NULL;
	cache->depot = NULL;
	cache->bounds.span = 0;
}

/* Gives a cache's blocks back and takes it off its pool (cache_lock held). */
static void retire_locked(struct thread_cache *cache)
{
	struct pool *pool = cache->pool;

	if (pool == NULL)
		return;
	bool locked = pool_lock(pool);
	thread_cache_take_busy(cache);
	spill_locked(cache);
	pool_unlock(pool, locked);
	/* only now: once the pool's list no longer has this cache, a
	 * delete_pool may destroy the lock just released (first_cache) */
	unlink_from_pool(cache);
	forget_pool(cache);
	thread_cache_give_busy(cache);
}

/* Frees a cache that serves no pool (cache_lock held). */
static void free_cache(struct thread_cache *cache)
{
	if (cache->all_prev != NULL)
		cache->all_prev->all_next = cache->all_next;
	else
		all_caches = cache->all_next;
	if (cache->all_next != NULL)
		cache->all_next->all_prev = cache->all_prev;
	free(cache);
}

/* ---- Eviction (see the header; cache_lock held) ---- */

/* The cache stays with its pool, blocks and all, and leaves its thread
 * (C5): on its depot's chain, where the next thread to attach to the pool
 * takes it up; without a depot (no memory for one) on the pool's list
 * only, until the pool is drained or deleted. */
static void park(struct thread_cache *cache)
{
	cache->owner_slots = NULL;
	if (cache->depot == NULL)
		return;
	struct thread_cache **head = cache_depot_parked(cache->depot);
	cache->parked_next = *head;
	if (*head != NULL)
		(*head)->parked_pprev = &cache->parked_next;
	cache->parked_pprev = head;
	*head = cache;
}

/* A cache parked with the pool, taken off the chain for the calling
 * thread, or NULL. */
static struct thread_cache *take_parked(struct pool *pool)
{
	struct cache_depot *depot = depot_of(pool);
	struct thread_cache *cache = depot != NULL ? *cache_depot_parked(depot) : NULL;

	if (cache != NULL)
		unpark(cache);
	return cache;
}

/*
 * The thread's slot is wanted for another pool: its cache leaves its pool
 * in bounded work, one move per class and no block to the heap. Each
 * magazine worth a depot's place goes to the pool's depot whole. Returns
 * true when the cache is then empty and detached (it may serve another
 * pool), false when it still holds blocks and was parked (no longer the
 * thread's). The pool's lock is taken for the counters of an emptied cache,
 * before the flags (the lock order).
 */
static bool evict_locked(struct thread_cache *cache)
{
	struct pool *pool = cache->pool;

	if (pool == NULL)
		return true; /* detached by delete_pool: empty (C2) */
	bool locked = pool_lock(pool);
	thread_cache_take_busy(cache);
	if (cache->depot != NULL && cache->bytes != 0) {
		cache_depot_hold(cache->depot);
		for (unsigned c = 0; c < CACHE_CLASSES; c++) {
			struct magazine *bin = &cache->bins[c];
			size_t moved_bytes = bin->bytes;
			if (bin->count * 2 >= bin_limit(c)
				&& cache_depot_put_held(cache->depot, c, bin))
				cache->bytes -= moved_bytes;
		}
		cache_depot_release(cache->depot);
	}
	bool emptied = cache->bytes == 0;
	if (emptied) {
		pool->allocations += cache->allocations;
		pool->frees += cache->frees;
		cache->allocations = cache->frees = 0;
	}
	pool_unlock(pool, locked);
	if (emptied) {
		/* after pool_unlock, as in retire_locked() */
		unlink_from_pool(cache);
		forget_pool(cache);
	} else {
		park(cache);
	}
	thread_cache_give_busy(cache);
	return emptied;
}

/* ---- Attaching, thread exit, fork ---- */

/* A thread ends: its caches go back to their pools. */
static void thread_exits(void *slots_pointer)
{
	struct thread_cache **slots = slots_pointer;

	mutex_lock(&cache_lock);
	for (unsigned i = 0; i < THREAD_CACHE_SLOTS; i++) {
		struct thread_cache *cache = slots[i];
		if (cache == NULL)
			continue;
		retire_locked(cache);
		free_cache(cache);
		slots[i] = NULL;
	}
	mutex_unlock(&cache_lock);
}

/* Every cache's flag and every depot's are held across fork, so the child
 * never copies a magazine half moved (the fast path holds a flag for a few
 * stores and never waits while holding one, so this waits briefly). The
 * pools' locks are taken after these (pool_fork.c), against the lock order;
 * it cannot deadlock: whoever holds a pool's lock and then waits for a flag
 * holds cache_lock too, which fork holds. */
void thread_cache_fork_prepare(void)
{
	mutex_lock(&cache_lock);
	for (struct thread_cache *cache = all_caches; cache != NULL; cache = cache->all_next)
		thread_cache_claim(cache);
	thread_cache_settle_claims();
	for (struct thread_cache *cache = all_caches; cache != NULL; cache = cache->all_next)
		thread_cache_wait_for_owner(cache);
	cache_depot_hold_all(all_depots);
}

void thread_cache_fork_parent(void)
{
	cache_depot_release_all(all_depots);
	for (struct thread_cache *cache = all_caches; cache != NULL; cache = cache->all_next)
		thread_cache_give_busy(cache);
	mutex_unlock(&cache_lock);
}

/*
 * The child's only thread is the one that forked. Other threads' caches
 * keep their blocks (still counted free, still drained before a NULL), but
 * no thread will use them again; the flags fork_prepare took are released,
 * and they are freed when their pool is detached or drained.
 */
void thread_cache_fork_child(void)
{
	for (struct thread_cache *cache = all_caches; cache != NULL; cache = cache->all_next) {
		atomic_store_explicit(&cache->busy, false, memory_order_relaxed);
		atomic_store_explicit(&cache->claimed, false, memory_order_relaxed);
		if (cache->owner_slots != thread_cache_slots)
			cache->owner_slots = NULL;
	}
	cache_depot_release_all(all_depots);
	mutex_unlock(&cache_lock);
}

/* First attach since load (or since thread_cache_shutdown()); cache_lock held. */
static bool set_up_locked(void)
{
	if (exit_key_made)
		return true;
	if (thread_cache_key == 0) {
		uint64_t key = 0;
		if (getrandom(&key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key)) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			key = ((uint64_t)now.tv_nsec << 32) ^ (uint64_t)now.tv_sec
				^ (uintptr_t)&key;
		}
		/* never a pointer or a small number a driver would store */
		thread_cache_key = key | 0x8000000000000001ull;
	}
	compute_bin_limits();
	exit_key_made = pthread_key_create(&exit_key, thread_exits) == 0;
	thread_cache_decide_fences();
	return exit_key_made;
}

/* A cache that serves no pool starts serving pool (cache_lock held). */
static void link_to_pool(struct thread_cache *cache, struct pool *pool, const void *pool_id)
{
	size_t share = pool->heap != NULL ? pool->area_size / CACHE_POOL_SHARE : 0;
	cache->byte_limit = share < CACHE_MAX_BYTES ? share : CACHE_MAX_BYTES;
	/* without memory for a depot, the caches work alone (C4) */
	if (depot_of(pool) == NULL)
		set_depot(pool, cache_depot_create(pool->area_size, &all_depots));
	cache->depot = depot_of(pool);
	heap_fast_get_bounds(pool->heap, &cache->bounds);
	cache->pool_id = pool_id;
	cache->pool_prev = NULL;
	cache->pool_next = first_cache(pool);
	if (cache->pool_next != NULL)
		cache->pool_next->pool_prev = cache;
	set_first_cache(pool, cache);
	cache->pool = pool;
}

static struct thread_cache *attach(const void *pool_id)
{
	unsigned slot = thread_cache_slot_of(pool_id);
	struct thread_cache *cache = thread_cache_slots[slot];

	mutex_lock(&cache_lock);
	if (!set_up_locked()) {
		mutex_unlock(&cache_lock);
		return NULL;
	}
	/* looked up under cache_lock: a delete_pool that retired the id before
	 * this cannot destroy the pool until it has detached this cache */
	struct pool *pool = pool_registry_lookup(pool_id);
	if (pool == NULL) {
		mutex_unlock(&cache_lock);
		return NULL;
	}
	/* the slot's cache leaves its pool, emptied into the depot or parked */
	if (cache != NULL && !evict_locked(cache)) {
		thread_cache_slots[slot] = NULL;
		cache = NULL;
	}
	struct thread_cache *parked = take_parked(pool);
	if (parked != NULL) {
		if (cache != NULL)
			free_cache(cache);
		cache = parked;
	} else if (cache == NULL) {
		/* lines of its own: a cache is written on every cached call of
		 * its thread, and a neighbour in the same line would be another
		 * thread's (a cache made right after it, by malloc's arena) */
		cache = aligned_alloc(THREAD_CACHE_ALIGN, sizeof(*cache));
		if (cache != NULL)
			memset(cache, 0, sizeof(*cache));
		if (cache == NULL) {
			mutex_unlock(&cache_lock);
			return NULL;
		}
		cache->all_next = all_caches;
		if (all_caches != NULL)
			all_caches->all_prev = cache;
		all_caches = cache;
	}
	cache->owner_slots = thread_cache_slots;
	cache->slot = slot;
	thread_cache_slots[slot] = cache;
	pthread_setspecific(exit_key, thread_cache_slots);
	if (parked == NULL)
		link_to_pool(cache, pool, pool_id);
	mutex_unlock(&cache_lock);
	return cache;
}

/* ---- What the pool layer asks ---- */

/* Frees a cache that belongs to no thread: parked (C5), or of a thread a
 * forked child does not have. cache_lock held. */
static void forget_orphan(struct thread_cache *cache)
{
	if (cache->owner_slots != NULL)
		return;
	free_cache(cache);
}

bool thread_cache_drain_pool(struct pool *pool)
{
	size_t spilled = 0;

	if (!has_caches(pool))
		return false;
	mutex_lock(&cache_lock);
	bool locked = pool_lock(pool);
	take_pool_caches(pool);
	for (struct thread_cache *cache = first_cache(pool), *next; cache != NULL; cache = next) {
		next = cache->pool_next;
		spilled += spill_locked(cache);
		if (cache->owner_slots == NULL) {
			unlink_from_pool(cache);
			forget_pool(cache);
			thread_cache_give_busy(cache);
			forget_orphan(cache);
			continue;
		}
		thread_cache_give_busy(cache);
	}
	struct cache_depot *depot = depot_of(pool);
	if (depot != NULL) {
		cache_depot_hold(depot);
		spilled += cache_depot_spill(depot, pool->heap);
		cache_depot_release(depot);
	}
	pool_unlock(pool, locked);
	mutex_unlock(&cache_lock);
	return spilled != 0;
}

/* Always under cache_lock, even for a pool that has no cache yet: another
 * thread's attach() may be between its lookup of the pool (under
 * cache_lock) and linking its cache, and the pool must not go before. */
void thread_cache_detach_pool(struct pool *pool)
{
	mutex_lock(&cache_lock);
	take_pool_caches(pool);
	for (struct thread_cache *cache = first_cache(pool), *next; cache != NULL; cache = next) {
		next = cache->pool_next;
		/* the blocks go with the area */
		memset(cache->bins, 0, sizeof(cache->bins));
		cache->bytes = 0;
		cache->allocations = cache->frees = 0;
		forget_pool(cache);
		cache->pool_prev = cache->pool_next = NULL;
		thread_cache_give_busy(cache);
		forget_orphan(cache);
	}
	set_first_cache(pool, NULL);
	/* no cache reaches the depot now: its blocks go with the area too */
	struct cache_depot *depot = depot_of(pool);
	if (depot != NULL) {
		cache_depot_hold(depot);
		cache_depot_forget(depot);
		cache_depot_destroy(depot);
		set_depot(pool, NULL);
	}
	mutex_unlock(&cache_lock);
}

/* How many blocks a cache holds (its flag held): counted here rather than
 * on every hit, which would be one more store per call. */
static size_t cached_blocks(const struct thread_cache *cache)
{
	size_t blocks = 0;

	for (unsigned c = 0; c < CACHE_CLASSES; c++)
		blocks += cache->bins[c].count;
	return blocks;
}

/*
 * One look at everything: the pool's lock, every cache's flag and the
 * depot's are held together, so a magazine moving between a cache and the
 * depot, or a block between a cache and the heap, is counted exactly once.
 */
void thread_cache_get_pool_stats(struct pool *pool, struct pool_stats *stats)
{
	size_t bytes = 0, blocks = 0;
	uint64_t allocations = 0, frees = 0;

	mutex_lock(&cache_lock);
	bool locked = pool_lock(pool);
	take_pool_caches(pool);
	for (struct thread_cache *cache = first_cache(pool); cache != NULL;
		cache = cache->pool_next) {
		bytes += cache->bytes;
		blocks += cached_blocks(cache);
		allocations += cache->allocations;
		frees += cache->frees;
	}
	struct cache_depot *depot = depot_of(pool);
	if (depot != NULL) {
		size_t depot_bytes, depot_blocks;
		cache_depot_hold(depot);
		cache_depot_totals(depot, &depot_bytes, &depot_blocks);
		cache_depot_release(depot);
		bytes += depot_bytes;
		blocks += depot_blocks;
	}
	pool_get_stats_locked(pool, stats);
	for (struct thread_cache *cache = first_cache(pool); cache != NULL;
		cache = cache->pool_next)
		thread_cache_give_busy(cache);
	pool_unlock(pool, locked);
	mutex_unlock(&cache_lock);
	/* cached blocks are used in the heap but free for whoever asks */
	stats->used -= bytes;
	stats->live_blocks -= blocks;
	stats->allocations += allocations;
	stats->frees += frees;
}

/* C1-C3 for one cache of pool (cache_lock, the pool's lock and the cache's
 * flag held). */
static const char *validate_cache(const struct thread_cache *cache, struct pool *pool)
{
	size_t bytes = 0;
	struct heap_fast_bounds bounds;

	if (cache->pool != pool || cache->depot != depot_of(pool))
		return "a cache on a pool's list is attached elsewhere";
	heap_fast_get_bounds(pool->heap, &bounds);
	if (memcmp(&bounds, &cache->bounds, sizeof(bounds)) != 0)
		return "a cache's bounds of its pool's blocks are not its pool's heap's";
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		const char *why =
			magazine_validate(&cache->bins[c], c, pool->heap, thread_cache_key);
		if (why != NULL)
			return why;
		if (cache->bins[c].count > bin_limit(c))
			return "a cache's size class holds more blocks than it may";
		bytes += cache->bins[c].bytes;
	}
	if (bytes != cache->bytes)
		return "a cache's bytes are not the sum over its size classes";
	return NULL;
}

/* C5 for the pool's depot's chain (cache_lock held; a parked cache is in
 * no thread's table, so its classes need no flag). */
static const char *validate_parked(struct pool *pool)
{
	struct cache_depot *depot = depot_of(pool);
	size_t listed = 0, marked = 0;

	for (const struct thread_cache *cache = first_cache(pool); cache != NULL;
		cache = cache->pool_next) {
		listed++;
		marked += cache->parked_pprev != NULL;
	}
	if (depot == NULL)
		return marked == 0 ? NULL : "a cache is parked with a pool that has no depot";
	struct thread_cache **link = cache_depot_parked(depot);
	for (const struct thread_cache *cache = *link; cache != NULL; cache = *link) {
		/* bounded by the pool's list: a cycle is damage, not a loop */
		if (listed-- == 0 || marked-- == 0)
			return "a parked cache is not on its pool's list of caches";
		if (cache->parked_pprev != link)
			return "a parked cache's link back into its chain is wrong";
		if (cache->owner_slots != NULL)
			return "a parked cache still belongs to a thread";
		if (cached_blocks(cache) == 0)
			return "a parked cache holds no block";
		link = (struct thread_cache **)&cache->parked_next;
	}
	return marked == 0 ? NULL : "a cache marked parked is not on its pool's depot's chain";
}

bool thread_cache_validate_pool(struct pool *pool, const char **why)
{
	const char *problem = NULL;

	mutex_lock(&cache_lock);
	for (const struct thread_cache *cache = all_caches; cache != NULL && problem == NULL;
		cache = cache->all_next) {
		if (cache->pool == NULL && (cached_blocks(cache) != 0 || cache->bytes != 0))
			problem = "a detached cache still holds blocks"; /* C2 */
		else if (cache->pool == NULL && cache->bounds.span != 0)
			problem = "a detached cache still lets blocks in"; /* C2 */
		else if (cache->pool == NULL && cache->parked_pprev != NULL)
			problem = "a detached cache is still parked"; /* C5 */
	}
	bool locked = pool_lock(pool);
	take_pool_caches(pool);
	for (struct thread_cache *cache = first_cache(pool); cache != NULL;
		cache = cache->pool_next) {
		if (problem == NULL)
			problem = validate_cache(cache, pool);
		thread_cache_give_busy(cache);
	}
	if (problem == NULL)
		problem = validate_parked(pool);
	struct cache_depot *depot = depot_of(pool);
	if (problem == NULL && depot != NULL) {
		cache_depot_hold(depot);
		problem = cache_depot_validate(depot, pool->heap, thread_cache_key);
		cache_depot_release(depot);
	}
	pool_unlock(pool, locked);
	mutex_unlock(&cache_lock);
	if (problem != NULL && why != NULL)
		*why = problem;
	return problem == NULL;
}

void thread_cache_shutdown(void)
{
	mutex_lock(&cache_lock);
	while (all_caches != NULL) {
		struct thread_cache *cache = all_caches;
		retire_locked(cache);
		if (cache->owner_slots != NULL)
			cache->owner_slots[cache->slot] = NULL;
		free_cache(cache);
	}
	if (exit_key_made)
		pthread_key_delete(exit_key);
	exit_key_made = false;
	mutex_unlock(&cache_lock);
}
