/*
 * heap_fast.h - the heap's lock-free look at a block, inline, for the
 * release build's thread caches (thread_cache_fast.h).
 *
 * Why: a cached malloc/free pair of a small block is a few dozen
 * instructions, and the out-of-line heap_live_usable_size_unlocked() with
 * its two out-of-line header probes cost about 35 of them on every free
 * (callgrind, bench-malloc-simple pattern; the caches were 1.4x glibc's
 * time there). These are the same reads, inline, against bounds the cache
 * copied from the heap when it attached (struct heap_fast_bounds), so a
 * free does not follow pool -> heap -> first/sentinel either.
 *
 * What they know of the chunk layout (heap_layout.h, "Chunk layout"; heap.c
 * asserts that the two agree): a payload is preceded by a 16-byte header,
 * prev_size at payload - 16 and size_flags at payload - 8; the low four bits
 * of size_flags are flags, bit 0 "used"; the minimum chunk is 32 bytes.
 *
 * Not under ThreadSanitizer: a wild pointer's header may be a word another
 * thread is writing, which is this look's business and not a race the
 * program has; the TSan build calls heap_live_usable_size_unlocked(), whose
 * probes are exempt from instrumentation. AddressSanitizer has nothing to
 * say here: the bounds keep the reads inside the pool's area, which the
 * release build never poisons (the debug build, which does, does not use
 * this file).
 *
 * Locking: none; the caller owns the block it asks about (see
 * heap_live_usable_size_unlocked() in heap.h for why that is enough).
 */
#ifndef AREA_MALLOC_CORE_HEAP_FAST_H
#define AREA_MALLOC_CORE_HEAP_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"
#include "kernel/sanitizers.h"

#define HEAP_FAST_PREV_SIZE_BACK 16	/* prev_size: payload - 16 */
#define HEAP_FAST_SIZE_FLAGS_BACK 8	/* size_flags: payload - 8 */
#define HEAP_FAST_FLAGS ((size_t)HEAP_ALIGN - 1)
#define HEAP_FAST_USED ((size_t)1)
#define HEAP_FAST_MIN_CHUNK (2 * (size_t)HEAP_BLOCK_OVERHEAD)

/* Where live payloads may start: [low, low + span) (span 0: nowhere, a
 * detached cache), and the sentinel chunk's address, which no chunk
 * crosses. */
struct heap_fast_bounds {
	uintptr_t low;
	uintptr_t span;
	uintptr_t sentinel;
};

/* The bounds of heap's blocks (fixed from heap_init() on). */
void heap_fast_get_bounds(const struct heap *heap, struct heap_fast_bounds *bounds);

static inline size_t heap_fast_word(uintptr_t at)
{
	return *(const size_t *)at;
}

/* The usable size of a block whose header is known sound (a cached block:
 * the cache checked it when the block came in, and no operation on other
 * blocks writes it). */
static inline size_t heap_fast_usable(const void *ptr)
{
	return (heap_fast_word((uintptr_t)ptr - HEAP_FAST_SIZE_FLAGS_BACK) & ~HEAP_FAST_FLAGS)
	       - HEAP_BLOCK_OVERHEAD;
}

/*
 * heap_live_usable_size_unlocked(heap, ptr, max_usable) with the heap's
 * bounds: the usable size of ptr when it is plausibly a live block of at
 * most max_usable bytes, else 0 (then the caller checks it under the lock).
 */
static inline size_t heap_fast_live_usable(
	const struct heap_fast_bounds *bounds, const struct heap *heap, const void *ptr,
	size_t max_usable)
{
#if defined(AREA_MALLOC_BUILT_WITH_TSAN)
	(void)bounds;
	return heap_live_usable_size_unlocked(heap, ptr, max_usable);
#else
	uintptr_t at = (uintptr_t)ptr;

	(void)heap;
	if (at % HEAP_ALIGN != 0 || at - bounds->low >= bounds->span)
		return 0;
	size_t size_flags = heap_fast_word(at - HEAP_FAST_SIZE_FLAGS_BACK);
	size_t size = size_flags & ~HEAP_FAST_FLAGS;
	/* one comparison for both ends: a chunk of 32 bytes up to the caller's
	 * largest (size below 32 wraps around) */
	if (size - HEAP_FAST_MIN_CHUNK > max_usable + HEAP_BLOCK_OVERHEAD - HEAP_FAST_MIN_CHUNK
		|| (size_flags & HEAP_FAST_FLAGS) != HEAP_FAST_USED)
		return 0;
	uintptr_t chunk = at - HEAP_FAST_PREV_SIZE_BACK;
	if (size > bounds->sentinel - chunk || heap_fast_word(chunk + size) != size)
		return 0;
	return size - HEAP_BLOCK_OVERHEAD;
#endif
}

#endif /* AREA_MALLOC_CORE_HEAP_FAST_H */
