/*
 * cache_magazine.h - the size classes of the release build's caches and
 * the magazine, the list of freed blocks that the caches hold and pass on.
 *
 * Size classes: exact 16-byte classes up to 256 bytes (where a driver's
 * fixed-size structures live, and where rounding would waste the most in
 * proportion), then four classes per doubling up to THREAD_CACHE_MAX_USABLE
 * (32 KiB), as jemalloc's and mimalloc's. A freed block goes to the largest
 * class not above its usable size (floor); a request is served from the
 * smallest class not below it (ceiling), so every block a class holds fits
 * every request it serves. Requests are never rounded up on their way to the
 * heap: a pool holds as many blocks of one size, or of up to 240 bytes, as
 * it would without caches (its capacity is a promise; a larger cached
 * block given for a smaller request keeps its size while the driver holds
 * it); a block from the heap for a request between two
 * classes is filed one class down when freed, so a take that finds its
 * class empty looks at the first few blocks of that class
 * (magazine_take_fitting()). Looking at the head only sent the largest
 * classes' requests to the pool's lock on about one call in forty in
 * pattern (b) of the real-workload benchmark (blocks of 16 B..32 KiB): the
 * blocks of requests between 28 and 32 KiB piled up one class down while
 * the same requests missed. For the same reason most classes of several
 * sizes are fed more slowly than they are drawn from when sizes spread over
 * them, so a take there that still finds nothing (not in the depot either)
 * takes the head of one of the two classes above (magazine_take_above());
 * every block there fits, and goes back to its own class when freed.
 *
 * A magazine is a LIFO list of cached blocks of one class linked through
 * each block's first word, with its block count and its bytes (chunk bytes,
 * the heap's header included, as the pool's statistics count them): a whole
 * magazine moves between a thread's cache and its pool's depot as these
 * three words, in constant time. (It kept its tail too, which nothing
 * used: one more store on every push and pop.) A cached block's second
 * word is the caches' key (thread_cache.c). A block's usable size is known
 * from its class below 240 bytes (exact classes) and read from its heap
 * header above, never from a word the driver could have written after
 * freeing it: a block smaller than the request must never be handed out.
 *
 * Invariants (of a magazine m):
 *  M1 m->count blocks are reachable from m->head through first words and
 *     the last one's first word is NULL; count 0 <=> head NULL;
 *  M2 m->bytes is the sum of the blocks' chunk bytes;
 *  M3 every block's usable size is at least its class's size.
 *
 * Locking: none here; a magazine belongs to whoever holds the flag of the
 * cache or depot it is in.
 */
#ifndef AREA_MALLOC_CORE_CACHE_MAGAZINE_H
#define AREA_MALLOC_CORE_CACHE_MAGAZINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"
#include "core/heap_fast.h"
#include "core/thread_cache.h"

#define CACHE_EXACT_LIMIT 256 /* exact 16-byte classes up to here */
#define CACHE_EXACT_CLASSES (CACHE_EXACT_LIMIT / HEAP_ALIGN)
#define CACHE_CLASSES_PER_DOUBLING 4
#define CACHE_DOUBLINGS 7 /* 256 -> 32 KiB */
#define CACHE_CLASSES (CACHE_EXACT_CLASSES + CACHE_CLASSES_PER_DOUBLING * CACHE_DOUBLINGS)

_Static_assert((size_t)CACHE_EXACT_LIMIT << CACHE_DOUBLINGS == THREAD_CACHE_MAX_USABLE,
	"the geometric classes end at the largest cached size");

/* 16 bytes, four to a cache line. A magazine holds at most a class's
 * bin limit of blocks (thread_cache.c: about 64 KiB, at least 16 blocks of
 * up to 32 KiB), so 32 bits count its bytes. */
struct magazine {
	void *head;
	uint32_t count;
	uint32_t bytes;
};

static inline unsigned cache_log2(size_t value)
{
	return 63u - (unsigned)__builtin_clzll((unsigned long long)value);
}

/* log2 of the width of one class in the doubling above
 * CACHE_EXACT_LIMIT << doubling: a shift, not a division (a 64-bit divide
 * took some 40 cycles on every cached call of a block above 256 bytes). */
static inline unsigned cache_step_log2(unsigned doubling)
{
	_Static_assert((CACHE_CLASSES_PER_DOUBLING & (CACHE_CLASSES_PER_DOUBLING - 1)) == 0,
		"classes per doubling: a power of two");
	return cache_log2(CACHE_EXACT_LIMIT) + doubling - cache_log2(CACHE_CLASSES_PER_DOUBLING);
}

/* The usable size every block of a class has at least. */
static inline size_t cache_class_size(unsigned class_index)
{
	if (class_index < CACHE_EXACT_CLASSES)
		return ((size_t)class_index + 1) * HEAP_ALIGN;
	unsigned geometric = class_index - CACHE_EXACT_CLASSES;
	size_t base = (size_t)CACHE_EXACT_LIMIT << (geometric / CACHE_CLASSES_PER_DOUBLING);
	return base
		+ (geometric % CACHE_CLASSES_PER_DOUBLING + 1)
		* (base / CACHE_CLASSES_PER_DOUBLING);
}

/* The class that serves a request of size bytes (<= THREAD_CACHE_MAX_USABLE). */
static inline unsigned cache_class_for_request(size_t size)
{
	if (size <= CACHE_EXACT_LIMIT)
		return size == 0 ? 0 : (unsigned)((size - 1) / HEAP_ALIGN);
	unsigned doubling = cache_log2(size - 1) - cache_log2(CACHE_EXACT_LIMIT);
	size_t base = (size_t)CACHE_EXACT_LIMIT << doubling;
	unsigned step = (unsigned)((size - 1 - base) >> cache_step_log2(doubling));
	return CACHE_EXACT_CLASSES + doubling * CACHE_CLASSES_PER_DOUBLING + step;
}

/* The class a freed block of usable size (a multiple of HEAP_ALIGN, at
 * most THREAD_CACHE_MAX_USABLE) is filed in. */
static inline unsigned cache_class_for_block(size_t usable)
{
	if (usable < CACHE_EXACT_LIMIT + CACHE_EXACT_LIMIT / CACHE_CLASSES_PER_DOUBLING)
		return usable >= CACHE_EXACT_LIMIT ? CACHE_EXACT_CLASSES - 1
						   : (unsigned)(usable / HEAP_ALIGN - 1);
	unsigned doubling = cache_log2(usable) - cache_log2(CACHE_EXACT_LIMIT);
	size_t base = (size_t)CACHE_EXACT_LIMIT << doubling;
	unsigned step = (unsigned)((usable - base) >> cache_step_log2(doubling));
	/* step 0 is the last class of the doubling below */
	return CACHE_EXACT_CLASSES + doubling * CACHE_CLASSES_PER_DOUBLING + step - 1;
}

static inline void **magazine_link(void *block)
{
	return (void **)block;
}

/* The caches' key (thread_cache.c) marks a cached block in its second word:
 * how a second free of it is recognised. */
static inline uint64_t *magazine_key_word(void *block)
{
	return (uint64_t *)block + 1;
}

/* Below the last exact class a class holds one size only
 * (cache_class_for_block); from it on, blocks of several sizes. */
static inline bool cache_class_sizes_vary(unsigned class_index)
{
	return class_index >= CACHE_EXACT_CLASSES - 1;
}

/* The usable size of a cached block filed in class_index: the class's own
 * size where that is the only one, and the header need not be read. */
static inline size_t magazine_block_usable(const void *block, unsigned class_index)
{
	return cache_class_sizes_vary(class_index) ? heap_fast_usable(block)
						   : ((size_t)class_index + 1) * HEAP_ALIGN;
}

static inline void magazine_push(struct magazine *magazine, void *block, size_t usable)
{
	*magazine_link(block) = magazine->head;
	magazine->head = block;
	magazine->count++;
	magazine->bytes += (uint32_t)(usable + HEAP_BLOCK_OVERHEAD);
}

/* Takes the head (the magazine is not empty) and its usable size. */
static inline void *magazine_pop(struct magazine *magazine, unsigned class_index, size_t *usable)
{
	void *block = magazine->head;

	*usable = magazine_block_usable(block, class_index);
	magazine->head = *magazine_link(block);
	magazine->count--;
	magazine->bytes -= (uint32_t)(*usable + HEAP_BLOCK_OVERHEAD);
	return block;
}

/* Takes the first of the magazine's first max_scan blocks whose usable size
 * is at least size, with that size; NULL when none of them is. */
static inline void *magazine_take_fitting(struct magazine *magazine, unsigned class_index,
	size_t size, unsigned max_scan, size_t *usable)
{
	void **link = &magazine->head;

	for (unsigned scanned = 0; *link != NULL && scanned < max_scan; scanned++) {
		void *block = *link;
		size_t block_usable = magazine_block_usable(block, class_index);
		if (block_usable >= size) {
			*link = *magazine_link(block);
			magazine->count--;
			magazine->bytes -= (uint32_t)(block_usable + HEAP_BLOCK_OVERHEAD);
			*usable = block_usable;
			return block;
		}
		link = magazine_link(block);
	}
	return NULL;
}

/*
 * Classes above an empty one that a take looks at last, after the class
 * below and the depot, before the pool's lock (magazine_take_above). Why:
 * a freed block is filed one class down from the class its request was
 * served from (the top of this file), so with sizes spread over the
 * classes, as in pattern (b), most classes are fed more slowly than they
 * are drawn from: their misses went to the pool's lock while blocks piled
 * up in the classes above, until the cache's byte limit sent frees to the
 * lock too. With two threads sharing the pool each such trip meets the
 * other thread's lines (the lock, the heap's lists). Counted over 1.6
 * million calls of pattern (b), one thread: trips to the heap fell from
 * 0.94 % of the calls to 0.55 %, and to the depot from 0.32 % to 0.28 %;
 * two threads' CPU time per pair went from 1.11x one thread's to 1.05x
 * (docs/PERFORMANCE.md). The depot comes first: its batch is of the
 * class's own size, one trip for many blocks. What it costs: the block
 * handed out is larger than the class's own (less than twice the request);
 * it goes back to its own class when freed, so the cache holds no more than
 * before (the peak resident set of pattern (b): 13.6 -> 10.7 MiB). Only
 * for the classes of several sizes (cache_class_sizes_vary(),
 * requests above 240 bytes): a class of one size is fed by its own
 * requests, and is empty only when none of them is free; there a larger
 * block is only the request rounded up, the waste the exact classes are
 * there to avoid, and it stays with the block while the driver keeps it:
 * a driver that kept 16-byte blocks and freed a 48-byte one before each
 * fitted half as many in its pool, each in a 64-byte chunk
 * (test_small_blocks_beside_larger_ones_fill_the_pool).
 */
#define CACHE_ABOVE_CLASSES 2

/* The highest class a take of class_index may take a block from when that
 * class is empty (magazine_take_above): class_index itself for a class of
 * one size, which takes nothing from above. */
static inline unsigned cache_last_class_above(unsigned class_index)
{
	unsigned last = class_index + CACHE_ABOVE_CLASSES;

	if (!cache_class_sizes_vary(class_index))
		return class_index;
	return last < CACHE_CLASSES ? last : CACHE_CLASSES - 1;
}

/* The head of the first class above class_index, up to
 * cache_last_class_above(), that holds a block (of a cache's bins), with
 * its usable size; NULL when none does. Every block there fits a request
 * of class_index (M3: its usable size is at least its own class's size,
 * larger than class_index's). */
static inline void *magazine_take_above(struct magazine *bins, unsigned class_index, size_t *usable)
{
	unsigned last = cache_last_class_above(class_index);

	for (unsigned above = class_index + 1; above <= last; above++)
		if (bins[above].head != NULL)
			return magazine_pop(&bins[above], above, usable);
	return NULL;
}

static inline void magazine_reset(struct magazine *magazine)
{
	magazine->head = NULL;
	magazine->count = 0;
	magazine->bytes = 0;
}

#endif /* AREA_MALLOC_CORE_CACHE_MAGAZINE_H */
