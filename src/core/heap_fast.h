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
 * of size_flags are flags, bit 0 "used", and the top 16 bits of a used
 * chunk's size_flags are its check bits (below); the minimum chunk is 32
 * bytes.
 *
 * Why check bits: a free must tell a live block from a pointer into the
 * middle of one, whose "header" is the driver's data, before it caches the
 * block. It used to compare the size tag with the boundary tag above the
 * block, which lies in the line of the next chunk's header and first payload
 * bytes: with two threads sharing a pool that line is often the other
 * thread's (it writes its block's first bytes), and that one read made two
 * threads' frees about 18 % slower (docs/PERFORMANCE.md, "Check bits"). A
 * hash of the chunk's address and size in the size tag's top bits is in the
 * block's own header line. The check bits are never all 0 or all 1, so a
 * word of a driver's data whose top 16 bits are (small integers, pointers)
 * never passes for a size tag; any other word passes about once in 2^19
 * (15 bits of hash, 4 flag bits) before the bounds, where the boundary tag
 * needed a second word to agree. A wild free that gets through (the cache
 * then hands the address out again while the driver's block is there) is a
 * driver bug the release build was never able to catch every time (the
 * debug build checksums its block headers), and a block whose header is
 * sound is cached exactly as before.
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

#define HEAP_FAST_PREV_SIZE_BACK 16 /* prev_size: payload - 16 */
#define HEAP_FAST_SIZE_FLAGS_BACK 8 /* size_flags: payload - 8 */
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

/* The check bits of a used chunk at address chunk spanning size bytes (the
 * release heap's; see above and heap_layout.h). Sizes stay below 2^48:
 * heap_init() refuses larger regions. */
#define HEAP_FAST_CHECK_SHIFT 48
#define HEAP_FAST_CHECK_MASK (~(size_t)0 << HEAP_FAST_CHECK_SHIFT)
_Static_assert(sizeof(size_t) == 8, "check bits live in the top of a 64-bit size tag");

static inline size_t heap_fast_check_bits(uintptr_t chunk, size_t size)
{
	/* the top bits of a product depend on every bit of its factors */
	uint64_t mixed =
		((uint64_t)chunk * 0x9e3779b97f4a7c15u) ^ ((uint64_t)size * 0xc2b2ae3d27d4eb4fu);
	/* the top bit always set and the next one clear when all others are
	 * set: never all 0 (small integers, user-space pointers) nor all 1
	 * (small negative integers, kernel-half pointers), the words a
	 * driver's data holds most */
	size_t bits = ((size_t)mixed & HEAP_FAST_CHECK_MASK) | ((size_t)1 << 63);

	return bits == HEAP_FAST_CHECK_MASK ? bits & ~((size_t)1 << 62) : bits;
}

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
	return (heap_fast_word((uintptr_t)ptr - HEAP_FAST_SIZE_FLAGS_BACK)
		       & ~(HEAP_FAST_FLAGS | HEAP_FAST_CHECK_MASK))
		- HEAP_BLOCK_OVERHEAD;
}

/*
 * heap_live_usable_size_unlocked(heap, ptr, max_usable) with the heap's
 * bounds: the usable size of ptr when it is plausibly a live block of at
 * most max_usable bytes, else 0 (then the caller checks it under the lock).
 */
static inline size_t heap_fast_live_usable(const struct heap_fast_bounds *bounds,
	const struct heap *heap, const void *ptr, size_t max_usable)
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
	size_t size = size_flags & ~(HEAP_FAST_FLAGS | HEAP_FAST_CHECK_MASK);
	uintptr_t chunk = at - HEAP_FAST_PREV_SIZE_BACK;
	/* one comparison for both ends: a chunk of 32 bytes up to the caller's
	 * largest (size below 32 wraps around) */
	if (size - HEAP_FAST_MIN_CHUNK > max_usable + HEAP_BLOCK_OVERHEAD - HEAP_FAST_MIN_CHUNK
		|| (size_flags & HEAP_FAST_FLAGS) != HEAP_FAST_USED
		|| (size_flags & HEAP_FAST_CHECK_MASK) != heap_fast_check_bits(chunk, size)
		|| size > bounds->sentinel - chunk)
		return 0;
	return size - HEAP_BLOCK_OVERHEAD;
#endif
}

#endif /* AREA_MALLOC_CORE_HEAP_FAST_H */
