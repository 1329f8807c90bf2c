/*
 * test_heap.c - Check suite for the allocator core (src/core/heap.c).
 *
 * Every test takes its regions from fresh anonymous mmap, as pools do, so the
 * heap's "untouched memory reads as zero" assumption holds. A few tests look
 * at chunk headers directly (prev_size at payload - 16, size | used flag at
 * payload - 8), the layout documented in heap.c, to corrupt or inspect them.
 * Built as test_heap_checked (HEAP_CHECKED=1) it also checks the checked
 * heap's note of the chunk an allocation takes (heap_change_note).
 * No locking: Check runs each test alone in a forked child.
 */
#include "config.h"

#include "core/heap.h"
#include "core/heap_fast.h"
#include "support/scale.h"
#include "support/check_main.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef HEAP_CHECKED
#define HEAP_CHECKED 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ---- helpers ------------------------------------------------------------ */

static void *map_region(size_t bytes)
{
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_msg(mem != MAP_FAILED, "mmap of %zu bytes failed", bytes);
	return mem;
}

static void unmap_region(void *mem, size_t bytes)
{
	ck_assert_int_eq(munmap(mem, bytes), 0);
}

static struct heap *new_heap(void *mem, size_t bytes)
{
	struct heap *heap = heap_init(mem, bytes);
	ck_assert_msg(heap != NULL, "heap_init refused %zu bytes", bytes);
	return heap;
}

#define assert_valid(heap)                                                                         \
	do {                                                                                       \
		const char *why_ = NULL;                                                           \
		ck_assert_msg(heap_validate((heap), &why_), "heap invalid: %s", why_);             \
	} while (0)

static struct heap_stats stats_of(const struct heap *heap)
{
	struct heap_stats stats;
	heap_get_stats(heap, &stats);
	return stats;
}

static size_t round16(size_t x)
{
	return (x + 15) & ~(size_t)15;
}

/* The chunk a request occupies: header plus the request rounded, at least 32. */
static size_t block_bytes(size_t size)
{
	size_t bytes = HEAP_BLOCK_OVERHEAD + round16(size);
	return bytes < 32 ? 32 : bytes;
}

static bool is_aligned(const void *ptr)
{
	return (uintptr_t)ptr % HEAP_ALIGN == 0;
}

/* xorshift64*: a fixed seed gives the same sequence on every run */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 1;
}

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rng_below(size_t bound)
{
	return (size_t)(rng_next() % bound);
}

static void shuffle(void **items, size_t count)
{
	for (size_t i = count; i > 1; i--) {
		size_t j = rng_below(i);
		void *t = items[i - 1];
		items[i - 1] = items[j];
		items[j] = t;
	}
}

static bool all_bytes_are(const void *ptr, int value, size_t bytes)
{
	const unsigned char *p = ptr;
	for (size_t i = 0; i < bytes; i++) {
		if (p[i] != (unsigned char)value)
			return false;
	}
	return true;
}

/* ---- init --------------------------------------------------------------- */

START_TEST(test_init_rejects_too_small)
{
	void *mem = map_region(64 * KiB);
	size_t smallest = heap_region_bytes_for(0);

	ck_assert_ptr_null(heap_init(NULL, 64 * KiB));
	ck_assert_ptr_null(heap_init(mem, 0));
	ck_assert_ptr_null(heap_init(mem, 16));
	ck_assert_ptr_null(heap_init(mem, 64));
	ck_assert_ptr_null(heap_init(mem, 256));
	ck_assert_ptr_null(heap_init(mem, smallest - 16));
	ck_assert_ptr_null(heap_init(mem, smallest - 1));

	struct heap *heap = new_heap(mem, smallest);
	void *p = heap_alloc(heap, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(heap_alloc(heap, 0));
	assert_valid(heap);
	heap_free(heap, p);
	assert_valid(heap);
	unmap_region(mem, 64 * KiB);
}
END_TEST

START_TEST(test_init_rejects_misaligned)
{
	char *mem = map_region(64 * KiB);

	ck_assert_ptr_null(heap_init(mem + 1, 32 * KiB));
	ck_assert_ptr_null(heap_init(mem + 8, 32 * KiB));
	ck_assert_ptr_nonnull(heap_init(mem + 16, 32 * KiB));
	unmap_region(mem, 64 * KiB);
}
END_TEST

START_TEST(test_one_page_region)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *mem = map_region(page);
	struct heap *heap = new_heap(mem, page);
	struct heap_stats stats = stats_of(heap);
	void *blocks[256];
	size_t count = 0;

	ck_assert_uint_eq(stats.region_bytes, page);
	ck_assert_uint_ge(stats.capacity_bytes, page / 2);
	assert_valid(heap);
	while (count < 256) {
		void *p = heap_alloc(heap, 16);
		if (!p)
			break;
		ck_assert(is_aligned(p));
		ck_assert((char *)p >= (char *)mem && (char *)p + 16 <= (char *)mem + page);
		blocks[count++] = p;
	}
	ck_assert_uint_lt(count, 256);
	ck_assert_uint_eq(count, stats.capacity_bytes / 32);
	assert_valid(heap);
	for (size_t i = 0; i < count; i++)
		heap_free(heap, blocks[i]);
	assert_valid(heap);
	stats = stats_of(heap);
	ck_assert_uint_eq(stats.free_blocks, 1);
	ck_assert_ptr_nonnull(heap_alloc(heap, stats.largest_free));
	unmap_region(mem, page);
}
END_TEST

START_TEST(test_region_bytes_for)
{
	static const size_t sizes[] = { 0, 1, 16, 17, 100, 480, 496, 497, 511, 512, 1000, 4000,
		4096, 65536, 100000, MiB - 16, MiB, 3 * MiB + 5 };
	size_t map_bytes = 4 * MiB;
	void *mem = map_region(map_bytes);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t size = sizes[i];
		size_t region = heap_region_bytes_for(size);
		ck_assert_uint_eq(region % HEAP_ALIGN, 0);
		ck_assert_uint_le(region, map_bytes);

		struct heap *heap = new_heap(mem, region);
		ck_assert_msg(heap_alloc(heap, size) != NULL, "size %zu in %zu bytes", size,
			region);
		assert_valid(heap);

		/* and it is the smallest such region */
		heap = heap_init(mem, region - HEAP_ALIGN);
		ck_assert_msg(!heap || !heap_alloc(heap, size), "size %zu fits in %zu bytes", size,
			region - HEAP_ALIGN);
	}
	ck_assert_uint_eq(heap_region_bytes_for(SIZE_MAX), SIZE_MAX);
	ck_assert_uint_eq(heap_region_bytes_for(SIZE_MAX - 16), SIZE_MAX);
	unmap_region(mem, map_bytes);
}
END_TEST

/* The accounting a debug pool borrows for capacity parity is the heap's
 * own: a region's capacity is what heap_get_stats says of a heap placed
 * there, and a request is charged the chunk it takes. */
START_TEST(test_capacity_accounting)
{
	static const size_t regions[] = { 4096, 4096 + 16, 65536, 100000, MiB, 3 * MiB + 5 };
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 1000, 4000, 65536 };
	size_t map_bytes = 4 * MiB;
	void *mem = map_region(map_bytes);
	struct heap_stats stats;

	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		struct heap *heap = new_heap(mem, regions[i]);
		heap_get_stats(heap, &stats);
		ck_assert_uint_eq(heap_capacity_for_region(regions[i]), stats.capacity_bytes);
	}
	ck_assert_uint_eq(heap_capacity_for_region(0), 0);
	ck_assert_uint_eq(heap_capacity_for_region(16), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct heap *heap = new_heap(mem, MiB);
		void *block = heap_alloc(heap, sizes[i]);
		ck_assert_ptr_nonnull(block);
		heap_get_stats(heap, &stats);
		ck_assert_msg(stats.used_bytes == heap_chunk_bytes_for(sizes[i]),
			"a %zu-byte request took %zu bytes, charged %zu", sizes[i],
			stats.used_bytes, heap_chunk_bytes_for(sizes[i]));
		assert_valid(heap);
	}
	ck_assert_uint_eq(heap_chunk_bytes_for(SIZE_MAX), SIZE_MAX);
	unmap_region(mem, map_bytes);
}
END_TEST

/* A region of 'bytes' (lazily mapped) serves one block of nearly all of it. */
static void check_huge_region(size_t bytes)
{
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	struct heap_stats stats = stats_of(heap);

	ck_assert_uint_eq(stats.region_bytes, bytes);
	ck_assert_uint_eq(stats.largest_free, stats.capacity_bytes - HEAP_BLOCK_OVERHEAD);
	ck_assert_uint_le(bytes - stats.capacity_bytes, 16 * KiB);

	void *small = heap_alloc(heap, 100);
	void *big = heap_alloc(heap, bytes / 10 * 9);
	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_null(heap_alloc(heap, bytes / 5));
	memset(big, 0x5a, 4096);
	assert_valid(heap);
	heap_free(heap, big);
	heap_free(heap, small);
	assert_valid(heap);
	ck_assert_ptr_nonnull(heap_alloc(heap, stats_of(heap).largest_free));
	unmap_region(mem, bytes);
}

START_TEST(test_region_8_gib)
{
	check_huge_region(8 * GiB);
}
END_TEST

START_TEST(test_region_1_tib)
{
	check_huge_region((size_t)1 << 40);
}
END_TEST

/* ---- allocation --------------------------------------------------------- */

START_TEST(test_every_pointer_aligned)
{
	size_t bytes = 4 * MiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);

	for (size_t size = 0; size < 3000; size += 7) {
		char *p = heap_alloc(heap, size);
		ck_assert_ptr_nonnull(p);
		ck_assert_msg(is_aligned(p), "size %zu gave %p", size, (void *)p);
		ck_assert_uint_ge(heap_usable_size(heap, p), size);
		ck_assert(heap_contains(heap, p));
		ck_assert(heap_block_is_live(heap, p));
		memset(p, 0xee, size);
		if (size % 3 == 0)
			heap_free(heap, p);
	}
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_alloc_zero_unique)
{
	size_t bytes = 64 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	void *blocks[100];

	for (int i = 0; i < 100; i++) {
		blocks[i] = heap_alloc(heap, 0);
		ck_assert_ptr_nonnull(blocks[i]);
		ck_assert(heap_block_is_live(heap, blocks[i]));
		ck_assert_uint_ge(heap_usable_size(heap, blocks[i]), 16);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(blocks[i], blocks[j]);
	}
	ck_assert_uint_eq(stats_of(heap).used_bytes, 100 * 32);
	for (int i = 0; i < 100; i++)
		heap_free(heap, blocks[i]);
	assert_valid(heap);
	ck_assert_uint_eq(stats_of(heap).used_blocks, 0);
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_overhead_is_one_header)
{
	size_t bytes = 64 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);

	for (size_t size = 0; size <= 1100; size++) {
		char *a = heap_alloc(heap, size);
		char *b = heap_alloc(heap, size);
		size_t rounded = round16(size) < 16 ? 16 : round16(size);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ck_assert_msg((size_t)(b - a) == HEAP_BLOCK_OVERHEAD + rounded,
			"size %zu: blocks %td apart", size, b - a);
		ck_assert_uint_eq(heap_usable_size(heap, a), rounded);
		heap_free(heap, a);
		heap_free(heap, b);
	}
	assert_valid(heap);
	ck_assert_uint_eq(stats_of(heap).free_blocks, 1);
	unmap_region(mem, bytes);
}
END_TEST

/*
 * Fills a 4 MiB region with blocks of 'size', checks that at least
 * 'percent_used' of the region was handed out, frees everything in random
 * order and checks that it all coalesced back into one block.
 */
static void fill_and_drain(size_t size, size_t percent_used)
{
	size_t bytes = 4 * MiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	size_t max_blocks = bytes / 32;
	void **blocks = malloc(max_blocks * sizeof(*blocks));
	size_t count = 0;

	ck_assert_ptr_nonnull(blocks);
	for (void *p; (p = heap_alloc(heap, size)) != NULL;) {
		ck_assert_uint_lt(count, max_blocks);
		memset(p, (int)count, size);
		blocks[count++] = p;
	}
	ck_assert_msg(count * size * 100 >= bytes * percent_used,
		"only %zu blocks of %zu bytes in %zu", count, size, bytes);
	assert_valid(heap);
	struct heap_stats stats = stats_of(heap);
	ck_assert_uint_eq(stats.used_blocks, count);
	ck_assert_uint_lt(stats.largest_free, size);
	ck_assert_uint_ge(stats.used_bytes, count * block_bytes(size));
	ck_assert_uint_eq(stats.peak_used_bytes, stats.used_bytes);

	rng_seed(size);
	shuffle(blocks, count);
	for (size_t i = 0; i < count; i++) {
		heap_free(heap, blocks[i]);
		if (i % 256 == 0)
			assert_valid(heap);
	}
	assert_valid(heap);
	stats = stats_of(heap);
	ck_assert_uint_eq(stats.used_bytes, 0);
	ck_assert_uint_eq(stats.free_blocks, 1);
	ck_assert_uint_eq(stats.free_bytes, stats.capacity_bytes);

	void *big = heap_alloc(heap, bytes / 10 * 9);
	ck_assert_ptr_nonnull(big);
	assert_valid(heap);
	heap_free(heap, big);
	big = heap_alloc(heap, stats.capacity_bytes - HEAP_BLOCK_OVERHEAD);
	ck_assert_ptr_nonnull(big);
	ck_assert_uint_eq(stats_of(heap).free_blocks, 0);
	assert_valid(heap);
	free(blocks);
	unmap_region(mem, bytes);
}

START_TEST(test_exhaust_4000_then_coalesce)
{
	fill_and_drain(4000, 90);
}
END_TEST

START_TEST(test_exhaust_64_then_coalesce)
{
	fill_and_drain(64, 75);
}
END_TEST

START_TEST(test_oversize_requests_fail_cleanly)
{
	size_t bytes = MiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	size_t capacity = stats_of(heap).capacity_bytes;
	const size_t huge[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX - 31,
		SIZE_MAX / 2 + 1, SIZE_MAX / 2, bytes, capacity, capacity - 15 };
	char *keep = heap_alloc(heap, 100);

	ck_assert_ptr_nonnull(keep);
	memset(keep, 0x77, 100);
	struct heap_stats before = stats_of(heap);
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		ck_assert_ptr_null(heap_alloc(heap, huge[i]));
		ck_assert_ptr_null(heap_alloc_zeroed(heap, huge[i]));
		ck_assert_ptr_null(heap_realloc(heap, keep, huge[i]));
		ck_assert(!heap_resize_in_place(heap, keep, huge[i]));
		ck_assert(heap_block_is_live(heap, keep));
		ck_assert(all_bytes_are(keep, 0x77, 100));
	}
	struct heap_stats after = stats_of(heap);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	assert_valid(heap);
	heap_free(heap, keep);
	ck_assert_ptr_nonnull(heap_alloc(heap, capacity - HEAP_BLOCK_OVERHEAD));
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_largest_free_is_exact)
{
	size_t bytes = 4 * MiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	void *blocks[2000];
	size_t count = 0;

	rng_seed(7);
	for (void *p; count < 2000 && (p = heap_alloc(heap, 16 + rng_below(4000))) != NULL;)
		blocks[count++] = p;
	ck_assert_ptr_nonnull(heap_alloc(heap, stats_of(heap).largest_free));
	/* free every other block: holes of every size, none adjacent */
	for (size_t i = 0; i < count; i += 2)
		heap_free(heap, blocks[i]);
	/* eat the rest of the region so only the holes remain */
	while (heap_alloc(heap, 8192))
		continue;
	assert_valid(heap);

	for (int round = 0; round < 40; round++) {
		size_t largest = stats_of(heap).largest_free;
		ck_assert_uint_gt(largest, 0);
		ck_assert_ptr_null(heap_alloc(heap, largest + 1));
		void *p = heap_alloc(heap, largest);
		ck_assert_msg(p != NULL, "largest_free %zu not served", largest);
		assert_valid(heap);
	}
	unmap_region(mem, bytes);
}
END_TEST

/* ---- realloc ------------------------------------------------------------ */

START_TEST(test_realloc_grows_in_place)
{
	size_t bytes = 256 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	char *a = heap_alloc(heap, 100);
	char *hole = heap_alloc(heap, 1000);
	char *wall = heap_alloc(heap, 100);

	memset(a, 'a', 100);
	heap_free(heap, hole);
	/* into the free neighbour, which is then split */
	ck_assert_ptr_eq(heap_realloc(heap, a, 500), a);
	ck_assert(all_bytes_are(a, 'a', 100));
	ck_assert_uint_ge(heap_usable_size(heap, a), 500);
	assert_valid(heap);
	/* all of the neighbour, exactly */
	size_t whole = (size_t)(wall - a) - HEAP_BLOCK_OVERHEAD;
	ck_assert(heap_resize_in_place(heap, a, whole));
	ck_assert_uint_eq(heap_usable_size(heap, a), whole);
	ck_assert(!heap_resize_in_place(heap, a, whole + 1));
	assert_valid(heap);
	/* the last block grows into the rest of the region */
	ck_assert_ptr_eq(heap_realloc(heap, wall, 100 * KiB), wall);
	ck_assert(all_bytes_are(a, 'a', 100));
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_realloc_shrinks_in_place)
{
	size_t bytes = 256 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	char *a = heap_alloc(heap, 1000);
	char *wall = heap_alloc(heap, 16);

	ck_assert_ptr_nonnull(wall);
	memset(a, 'q', 1000);
	ck_assert_ptr_eq(heap_realloc(heap, a, 100), a);
	ck_assert(all_bytes_are(a, 'q', 100));
	ck_assert_uint_eq(heap_usable_size(heap, a), 112);
	assert_valid(heap);
	/* the tail became a free block of its own, reused first by good fit */
	ck_assert_ptr_eq(heap_alloc(heap, 800), a + block_bytes(100));
	assert_valid(heap);

	/* a tail too small to be a block stays with it */
	char *b = heap_alloc(heap, 64);
	ck_assert_ptr_nonnull(heap_alloc(heap, 16));
	ck_assert_ptr_eq(heap_realloc(heap, b, 40), b);
	ck_assert_uint_eq(heap_usable_size(heap, b), 64);
	/* to zero: the minimum block */
	ck_assert_ptr_eq(heap_realloc(heap, b, 0), b);
	ck_assert_uint_eq(heap_usable_size(heap, b), 16);
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_realloc_moves_and_preserves)
{
	size_t bytes = 256 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	unsigned char *a = heap_alloc(heap, 300);
	void *wall = heap_alloc(heap, 16);

	ck_assert_ptr_nonnull(wall);
	for (int i = 0; i < 300; i++)
		a[i] = (unsigned char)(i * 7 + 3);
	unsigned char *moved = heap_realloc(heap, a, 5000);
	ck_assert_ptr_nonnull(moved);
	ck_assert_ptr_ne(moved, a);
	for (int i = 0; i < 300; i++)
		ck_assert_uint_eq(moved[i], (unsigned char)(i * 7 + 3));
	ck_assert(!heap_block_is_live(heap, a));
	ck_assert(heap_block_is_live(heap, moved));
	assert_valid(heap);

	/* realloc of NULL allocates */
	void *fresh = heap_realloc(heap, NULL, 40);
	ck_assert_ptr_nonnull(fresh);
	ck_assert(heap_block_is_live(heap, fresh));
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_realloc_failure_keeps_block)
{
	size_t bytes = 64 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	unsigned char *a = heap_alloc(heap, 2000);

	memset(a, 0x3c, 2000);
	while (heap_alloc(heap, 512))
		continue;
	struct heap_stats before = stats_of(heap);
	ck_assert_ptr_null(heap_realloc(heap, a, 8000));
	ck_assert(!heap_resize_in_place(heap, a, 8000));
	ck_assert(heap_block_is_live(heap, a));
	ck_assert(all_bytes_are(a, 0x3c, 2000));
	struct heap_stats after = stats_of(heap);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

/* ---- zeroed allocation -------------------------------------------------- */

START_TEST(test_zeroed_clears_dirty_memory)
{
	size_t bytes = MiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	void *blocks[64];

	for (int i = 0; i < 64; i++) {
		blocks[i] = heap_alloc(heap, 1000);
		memset(blocks[i], 0xa5, 1000);
	}
	for (int i = 0; i < 64; i += 2)
		heap_free(heap, blocks[i]);
	for (int i = 0; i < 32; i++) {
		void *p = heap_alloc_zeroed(heap, 900);
		ck_assert_ptr_nonnull(p);
		ck_assert(all_bytes_are(p, 0, 900));
	}
	for (int i = 1; i < 64; i += 2)
		heap_free(heap, blocks[i]);
	/* straddles dirty blocks, free-list links and never-touched memory */
	void *p = heap_alloc_zeroed(heap, 200 * KiB);
	ck_assert_ptr_nonnull(p);
	ck_assert(all_bytes_are(p, 0, 200 * KiB));
	memset(p, 0xff, 200 * KiB);
	heap_free(heap, p);
	p = heap_alloc_zeroed(heap, 300 * KiB);
	ck_assert(all_bytes_are(p, 0, 300 * KiB));
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

static size_t resident_pages(const void *start, size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t first = (uintptr_t)start & ~(page - 1);
	size_t pages = ((uintptr_t)start + bytes - first + page - 1) / page;
	unsigned char *vec = malloc(pages);
	size_t resident = 0;

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)first, pages * page, vec), 0);
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	free(vec);
	return resident;
}

START_TEST(test_zeroed_leaves_fresh_pages_alone)
{
	size_t bytes = GiB + 4 * MiB;
	char *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	char *small = heap_alloc_zeroed(heap, 100);

	ck_assert(all_bytes_are(small, 0, 100));
	char *big = heap_alloc_zeroed(heap, GiB);
	ck_assert_ptr_nonnull(big);
	/* the first page holds the control structure and the small block */
	ck_assert_uint_le(resident_pages(big, GiB), 2);
	ck_assert_uint_le(resident_pages(mem, bytes), 4);
	ck_assert_int_eq(big[0], 0);
	ck_assert_int_eq(big[GiB / 2], 0);
	ck_assert_int_eq(big[GiB - 1], 0);
	assert_valid(heap);

	/* once handed out, the memory is dirty: a later calloc must clear it */
	memset(big + MiB, 0x11, 4096);
	heap_free(heap, big);
	char *again = heap_alloc_zeroed(heap, 2 * MiB);
	ck_assert_ptr_eq(again, big);
	ck_assert(all_bytes_are(again, 0, 2 * MiB));
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

/* ---- pointer checks ----------------------------------------------------- */

/*
 * A pointer into a live block whose bytes hold a forged "used" header of 64
 * bytes, with the boundary tag 64 bytes further agreeing: the release heap's
 * lock-free look (a thread cache's free) and its inline twin reject it from
 * the size tag's check bits alone, the checked heap's from the boundary tags,
 * and heap_block_is_live() (under the lock) from the tag of the chunk below.
 */
START_TEST(test_forged_header_is_not_live)
{
	size_t bytes = 256 * KiB;
	char *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	char *block = heap_alloc(heap, 1000);
	struct heap_fast_bounds bounds;
	size_t forged_at = 256;

	heap_fast_get_bounds(heap, &bounds);
	if (!HEAP_CHECKED) /* the release build's inline look: its heap only */
		ck_assert_uint_eq(heap_fast_live_usable(&bounds, heap, block, SIZE_MAX),
			heap_usable_size(heap, block));
	size_t *forged = (size_t *)(block + forged_at);
	forged[0] = 48;
	forged[1] = 64 | 1;
	((size_t *)(block + forged_at + 64))[0] = 64;

	char *wild = block + forged_at + 16;
	ck_assert(!heap_block_is_live(heap, wild));
	if (!HEAP_CHECKED) {
		ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, wild, SIZE_MAX), 0);
		ck_assert_uint_eq(heap_fast_live_usable(&bounds, heap, wild, SIZE_MAX), 0);
		/* with the check bits a used chunk there would have, it passes the
		 * lock-free look (a wild free that gets through is a driver bug the
		 * release build cannot always see) but not the locked one */
		forged[1] |= heap_fast_check_bits((uintptr_t)forged, 64);
		ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, wild, SIZE_MAX), 48);
		ck_assert(!heap_block_is_live(heap, wild));
	} else {
		/* the checked heap's look compares the boundary tag, which agrees */
		ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, wild, SIZE_MAX), 48);
		((size_t *)(block + forged_at + 64))[0] = 80;
		ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, wild, SIZE_MAX), 0);
	}
	heap_free(heap, block);
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

/* Check bits are never all 0 or all 1 (the top halves of small integers
 * and pointers), and a region whose sizes would reach them is refused. */
START_TEST(test_check_bits_never_look_like_data)
{
	for (uintptr_t chunk = 0x10000; chunk < 0x10000 + 16 * 65536; chunk += 16) {
		for (size_t size = 32; size <= 4096; size *= 2) {
			size_t bits = heap_fast_check_bits(chunk, size);
			ck_assert_uint_ne(bits, 0);
			ck_assert_uint_ne(bits, HEAP_FAST_CHECK_MASK);
			ck_assert_uint_eq(bits & ~HEAP_FAST_CHECK_MASK, 0);
		}
	}
	if (!HEAP_CHECKED) {
		size_t bytes = 64 * KiB;
		void *mem = map_region(bytes);
		ck_assert_ptr_null(heap_init(mem, (size_t)1 << HEAP_FAST_CHECK_SHIFT));
		unmap_region(mem, bytes);
	}
}
END_TEST

START_TEST(test_block_is_live_rejects_bad_pointers)
{
	size_t bytes = 256 * KiB;
	char *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	char *a = heap_alloc(heap, 200);
	char *b = heap_alloc(heap, 200);
	char *c = heap_alloc(heap, 200);
	int on_stack = 0;

	ck_assert(heap_block_is_live(heap, a));
	ck_assert(heap_block_is_live(heap, b));
	ck_assert(!heap_block_is_live(heap, NULL));
	ck_assert(!heap_block_is_live(heap, &on_stack));
	ck_assert(!heap_block_is_live(heap, mem));
	ck_assert(!heap_block_is_live(heap, mem + 16));
	ck_assert(!heap_block_is_live(heap, mem + bytes));
	ck_assert(!heap_block_is_live(heap, mem + bytes - 16));
	ck_assert(!heap_block_is_live(heap, b + 1));
	ck_assert(!heap_block_is_live(heap, b + 8));
	ck_assert(!heap_block_is_live(heap, b + 16));
	ck_assert(!heap_block_is_live(heap, b + 32));
	ck_assert(!heap_block_is_live(heap, b - 16));
	ck_assert(!heap_block_is_live(heap, b - 1));
	/* a forged "used" header inside a block: the neighbour's tag disagrees */
	((size_t *)(b + 64))[0] = 0;
	((size_t *)(b + 64))[1] = 64 | 1;
	ck_assert(!heap_block_is_live(heap, b + 80));

	/* the lock-free look (a free ahead of the lock) sees a live block's
	 * own size and rejects what is not one */
	ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, c, SIZE_MAX),
		heap_usable_size(heap, c));
	ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, c + 16, SIZE_MAX), 0);
	ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, c, 100), 0); /* above max_usable */

	heap_free(heap, a);
	ck_assert(!heap_block_is_live(heap, a));
	/* merged into the free block below: its stale header must not pass */
	heap_free(heap, b);
	ck_assert(!heap_block_is_live(heap, a));
	ck_assert(!heap_block_is_live(heap, b));
	ck_assert(heap_block_is_live(heap, c));
	assert_valid(heap);

	ck_assert(heap_contains(heap, c));
	ck_assert(heap_contains(heap, c + 5));
	ck_assert(heap_contains(heap, a));
	ck_assert(!heap_contains(heap, mem));
	ck_assert(!heap_contains(heap, mem + bytes));
	ck_assert(!heap_contains(heap, &on_stack));
	ck_assert(!heap_contains(heap, NULL));
	unmap_region(mem, bytes);
}
END_TEST

/* ---- walk and statistics ------------------------------------------------ */

struct walk_record {
	size_t calls;
	size_t used;
	size_t free;
	size_t bytes;
	size_t used_payload;
	uintptr_t last;
	bool ordered;
};

static void record_block(void *ptr, size_t usable, bool used, void *context)
{
	struct walk_record *record = context;

	if ((uintptr_t)ptr <= record->last)
		record->ordered = false;
	record->last = (uintptr_t)ptr;
	record->calls++;
	record->bytes += usable + HEAP_BLOCK_OVERHEAD;
	if (used) {
		record->used++;
		record->used_payload += usable;
	} else {
		record->free++;
	}
}

START_TEST(test_walk_visits_every_block)
{
	size_t bytes = MiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	void *blocks[300];
	size_t expected_payload = 0;

	for (int i = 0; i < 300; i++)
		blocks[i] = heap_alloc(heap, (size_t)i * 11);
	for (int i = 0; i < 300; i += 3)
		heap_free(heap, blocks[i]);
	for (int i = 0; i < 300; i++) {
		if (i % 3)
			expected_payload += heap_usable_size(heap, blocks[i]);
	}

	struct walk_record record = { .ordered = true };
	struct heap_damage damage = { 0 };
	ck_assert(heap_walk(heap, record_block, &record, &damage));
	ck_assert_uint_eq(damage.at, 0);
	ck_assert(!heap_damaged(heap, NULL));
	struct heap_stats stats = stats_of(heap);
	ck_assert(record.ordered);
	ck_assert_uint_eq(record.used, 200);
	ck_assert_uint_eq(record.used, stats.used_blocks);
	ck_assert_uint_eq(record.free, stats.free_blocks);
	ck_assert_uint_eq(record.calls, stats.used_blocks + stats.free_blocks);
	ck_assert_uint_eq(record.bytes, stats.capacity_bytes);
	ck_assert_uint_eq(record.used_payload, expected_payload);
	unmap_region(mem, bytes);
}
END_TEST

START_TEST(test_stats_track_operations)
{
	size_t bytes = 64 * KiB + 8;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	struct heap_stats s = stats_of(heap);

	ck_assert_uint_eq(s.region_bytes, bytes);
	ck_assert_uint_lt(s.capacity_bytes, bytes);
	ck_assert_uint_ge(s.capacity_bytes, bytes - 4 * KiB);
	ck_assert_uint_eq(s.used_bytes, 0);
	ck_assert_uint_eq(s.peak_used_bytes, 0);
	ck_assert_uint_eq(s.free_bytes, s.capacity_bytes);
	ck_assert_uint_eq(s.largest_free, s.capacity_bytes - HEAP_BLOCK_OVERHEAD);
	ck_assert_uint_eq(s.used_blocks, 0);
	ck_assert_uint_eq(s.free_blocks, 1);

	void *a = heap_alloc(heap, 100);
	void *b = heap_alloc(heap, 1000);
	s = stats_of(heap);
	ck_assert_uint_eq(s.used_bytes, block_bytes(100) + block_bytes(1000));
	ck_assert_uint_eq(s.used_blocks, 2);
	ck_assert_uint_eq(s.free_bytes + s.used_bytes, s.capacity_bytes);
	ck_assert_uint_eq(s.largest_free, s.free_bytes - HEAP_BLOCK_OVERHEAD);

	a = heap_realloc(heap, a, 3000); /* moves: b is in the way */
	s = stats_of(heap);
	ck_assert_uint_eq(s.used_bytes, block_bytes(3000) + block_bytes(1000));
	ck_assert_uint_eq(s.free_blocks, 2);
	heap_free(heap, a);
	heap_free(heap, b);
	s = stats_of(heap);
	ck_assert_uint_eq(s.used_bytes, 0);
	ck_assert_uint_eq(s.peak_used_bytes,
		block_bytes(100) + block_bytes(1000) + block_bytes(3000));
	ck_assert_uint_eq(s.used_blocks, 0);
	ck_assert_uint_eq(s.free_blocks, 1);
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST

/* ---- validation --------------------------------------------------------- */

/* Header words of the block at ptr: [0] prev_size, [1] size | used flag, and
 * on a used chunk of the release heap check bits in the top 16 bits. */
static size_t *header_of(void *ptr)
{
	return (size_t *)ptr - 2;
}

static size_t chunk_size_of(void *ptr)
{
	return header_of(ptr)[1] & ~(size_t)15 & ~HEAP_FAST_CHECK_MASK;
}

/* Rewrites the size tag of ptr's chunk the way the heap writes one for a
 * chunk of size bytes, used or free (a used chunk of the release heap
 * carries check bits), so that a test breaks only the property it means
 * to. */
static void forge_size_tag(void *ptr, size_t size, bool used)
{
	size_t check = HEAP_CHECKED ? 0 : heap_fast_check_bits((uintptr_t)header_of(ptr), size);

	header_of(ptr)[1] = used ? size | 1 | check : size;
}

/* A heap of five used blocks with a free one in the middle: 0 1 _ 3 4 */
static struct heap *corruptible_heap(void *mem, size_t bytes, char **blocks)
{
	memset(mem, 0, bytes);
	struct heap *heap = new_heap(mem, bytes);
	for (int i = 0; i < 5; i++)
		blocks[i] = heap_alloc(heap, 64);
	heap_free(heap, blocks[2]);
	assert_valid(heap);
	return heap;
}

static void assert_invalid(const struct heap *heap, const char *expected_tag)
{
	const char *why = NULL;
	ck_assert(!heap_validate(heap, &why));
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, expected_tag) == why, "expected %s, got \"%s\"", expected_tag,
		why);
	ck_assert(!heap_validate(heap, NULL));
}

START_TEST(test_validate_detects_corruption)
{
	size_t bytes = 64 * KiB;
	void *mem = map_region(bytes);
	char *blocks[5];
	struct heap *heap;

	/* a used block's size grown by 16: the walk lands off the chunk grid */
	heap = corruptible_heap(mem, bytes, blocks);
	forge_size_tag(blocks[1], chunk_size_of(blocks[1]) + 16, true);
	assert_invalid(heap, "I3");
	ck_assert(!heap_block_is_live(heap, blocks[1]));

	/* a prev_size tag overwritten (a buffer underrun of the next block) */
	heap = corruptible_heap(mem, bytes, blocks);
	header_of(blocks[4])[0] = 0x4141414141414141;
	assert_invalid(heap, "I3");
	ck_assert(!heap_block_is_live(heap, blocks[4]));

	/* a prev_size tag off by one granule: still aligned, but names no chunk */
	heap = corruptible_heap(mem, bytes, blocks);
	header_of(blocks[4])[0] += 16;
	assert_invalid(heap, "I3");
	ck_assert(!heap_block_is_live(heap, blocks[4]));
	ck_assert(!heap_block_is_live(heap, blocks[3])); /* its upper tag is wrong now */

	/* a used block marked free behind the heap's back */
	heap = corruptible_heap(mem, bytes, blocks);
	forge_size_tag(blocks[0], chunk_size_of(blocks[0]), false);
	assert_invalid(heap, "I5");

	/* two free neighbours */
	heap = corruptible_heap(mem, bytes, blocks);
	forge_size_tag(blocks[3], chunk_size_of(blocks[3]), false);
	assert_invalid(heap, "I4");

	/* a free block's list link smashed (use after free) */
	heap = corruptible_heap(mem, bytes, blocks);
	((void **)blocks[2])[0] = blocks[3];
	assert_invalid(heap, "I5");

	/* stray flag bits */
	heap = corruptible_heap(mem, bytes, blocks);
	header_of(blocks[3])[1] |= 4;
	assert_invalid(heap, "I2");

	/* a used block's check bits damaged, its size intact (only the release
	 * heap writes check bits; the checked heap reads any top bit as part
	 * of the size, which then leads outside the heap) */
	heap = corruptible_heap(mem, bytes, blocks);
	header_of(blocks[3])[1] ^= (size_t)1 << 60;
	assert_invalid(heap, "I2");
	ck_assert(!heap_block_is_live(heap, blocks[3]));
	ck_assert_uint_eq(heap_live_usable_size_unlocked(heap, blocks[3], SIZE_MAX), 0);

	/* the control structure itself: the first-level bitmap cleared */
	heap = corruptible_heap(mem, bytes, blocks);
	memset(mem, 0, sizeof(uint64_t));
	assert_invalid(heap, "I6");

	ck_assert(!heap_validate(NULL, NULL));
	unmap_region(mem, bytes);
}
END_TEST

/* ---- random operations against a model ---------------------------------- */

#define MODEL_SLOTS 1024
#define MODEL_MAX_SIZE (8 * KiB)
#define PATTERN_SPAN 4096

struct model_slot {
	unsigned char *ptr;
	size_t size;
	uint64_t id;
};

/* How often each outcome happened, so the test can show it covered them. */
struct model_counts {
	size_t refused;
	size_t moved;
	size_t resized_in_place;
	size_t not_resized;
};

static struct model_counts counts;

static unsigned char pattern[MODEL_MAX_SIZE + PATTERN_SPAN];

static const unsigned char *pattern_for(uint64_t id)
{
	return pattern + (id * 2654435761u) % PATTERN_SPAN;
}

static void fill_slot(struct model_slot *slot, uint64_t id)
{
	slot->id = id;
	memcpy(slot->ptr, pattern_for(id), slot->size);
}

static void verify_prefix(const struct model_slot *slot, size_t bytes, uint64_t op)
{
	ck_assert_msg(memcmp(slot->ptr, pattern_for(slot->id), bytes) == 0,
		"op %llu: block %llu (%zu bytes) corrupted", (unsigned long long)op,
		(unsigned long long)slot->id, slot->size);
}

/* Mostly small, some medium, a few up to 8 KiB: pool-like traffic. */
static size_t random_size(void)
{
	uint64_t kind = rng_below(100);
	if (kind < 70)
		return rng_below(257);
	if (kind < 95)
		return 256 + rng_below(1793);
	return 2048 + rng_below(MODEL_MAX_SIZE - 2048 + 1);
}

static void model_allocate(struct heap *heap, struct model_slot *slot, uint64_t op)
{
	size_t size = random_size();
	size_t largest = stats_of(heap).largest_free;
	uint64_t how = rng_below(10);
	bool zeroed = how >= 7 && how < 9;
	unsigned char *p;

	if (how < 7)
		p = heap_alloc(heap, size);
	else if (zeroed)
		p = heap_alloc_zeroed(heap, size);
	else
		p = heap_realloc(heap, NULL, size);

	if (!p) {
		counts.refused++;
		ck_assert_msg(size > largest, "op %llu: %zu bytes refused, largest_free %zu",
			(unsigned long long)op, size, largest);
		return;
	}
	ck_assert(is_aligned(p));
	ck_assert(heap_block_is_live(heap, p));
	ck_assert_uint_ge(heap_usable_size(heap, p), size);
	if (zeroed)
		ck_assert_msg(all_bytes_are(p, 0, size), "op %llu: calloc not zeroed",
			(unsigned long long)op);
	slot->ptr = p;
	slot->size = size;
	fill_slot(slot, op);
}

static void model_change(struct heap *heap, struct model_slot *slot, uint64_t op)
{
	uint64_t how = rng_below(10);

	verify_prefix(slot, slot->size, op);
	if (how < 4) {
		heap_free(heap, slot->ptr);
		slot->ptr = NULL;
		return;
	}
	size_t size = random_size();
	size_t keep = size < slot->size ? size : slot->size;
	if (how < 8) {
		unsigned char *p = heap_realloc(heap, slot->ptr, size);
		if (!p) {
			counts.refused++;
			verify_prefix(slot, slot->size, op);
			return;
		}
		if (p != slot->ptr)
			counts.moved++;
		slot->ptr = p;
	} else if (heap_resize_in_place(heap, slot->ptr, size)) {
		counts.resized_in_place++;
	} else {
		counts.not_resized++;
		verify_prefix(slot, slot->size, op);
		return;
	}
	ck_assert(heap_block_is_live(heap, slot->ptr));
	ck_assert_uint_ge(heap_usable_size(heap, slot->ptr), size);
	verify_prefix(slot, keep, op);
	slot->size = size;
	fill_slot(slot, op);
}

START_TEST(test_random_operations_match_model)
{
	size_t bytes = 512 * KiB; /* tight: some requests are refused */
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	static struct model_slot slots[MODEL_SLOTS];
	/* AREA_MALLOC_TEST_SCALE scales it; the floors of how often each path is
	 * taken scale along (100 and 1000 at the default 200000 operations) */
	const uint64_t ops = (uint64_t)test_scaled(200000, 20000);
	const uint64_t refused_floor = ops / 2000, path_floor = ops / 200;
	size_t live = 0;

	rng_seed(0x5eed);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)rng_next();
	memset(slots, 0, sizeof(slots));
	memset(&counts, 0, sizeof(counts));
	for (uint64_t op = 1; op <= ops; op++) {
		struct model_slot *slot = &slots[rng_below(MODEL_SLOTS)];
		if (slot->ptr)
			model_change(heap, slot, op);
		else
			model_allocate(heap, slot, op);
		const char *why = NULL;
		ck_assert_msg(heap_validate(heap, &why), "op %llu: %s", (unsigned long long)op,
			why);
	}
	for (size_t i = 0; i < MODEL_SLOTS; i++) {
		if (slots[i].ptr) {
			verify_prefix(&slots[i], slots[i].size, ops);
			live++;
		}
	}
	ck_assert_uint_eq(stats_of(heap).used_blocks, live);
	/* every path was taken: exhaustion, moving and in-place resizing */
	ck_assert_uint_gt(counts.refused, refused_floor);
	ck_assert_uint_gt(counts.moved, path_floor);
	ck_assert_uint_gt(counts.resized_in_place, path_floor);
	ck_assert_uint_gt(counts.not_resized, path_floor);
	for (size_t i = 0; i < MODEL_SLOTS; i++) {
		if (slots[i].ptr)
			heap_free(heap, slots[i].ptr);
	}
	assert_valid(heap);
	ck_assert_uint_eq(stats_of(heap).free_blocks, 1);
	unmap_region(mem, bytes);
}
END_TEST

#if HEAP_CHECKED
/* The checked heap notes the chunk an allocation takes, split or whole, from
 * its header to the end of the free chunk it came from (heap_change_note):
 * what a process that died inside the call may have changed. */
START_TEST(test_change_note_names_the_chunk_taken)
{
	size_t bytes = 256 * KiB;
	void *mem = map_region(bytes);
	struct heap *heap = new_heap(mem, bytes);
	uint64_t note[2] = { 0, 0 };
	char *a = heap_alloc(heap, 100);
	char *hole = heap_alloc(heap, 1000);
	char *wall = heap_alloc(heap, 100), *again, *rest;

	heap_free(heap, hole);
	heap_change_note = note;
	/* a split of the hole: the note covers the whole free chunk */
	again = heap_alloc(heap, 500);
	ck_assert_ptr_eq(again, hole);
	ck_assert_uint_eq(note[0], (uintptr_t)hole - HEAP_BLOCK_OVERHEAD);
	ck_assert_uint_eq(note[1], (uintptr_t)wall - HEAP_BLOCK_OVERHEAD);
	/* the rest of the region: up to the sentinel */
	rest = heap_alloc(heap, 1000);
	ck_assert_uint_eq(note[0], (uintptr_t)rest - HEAP_BLOCK_OVERHEAD);
	ck_assert_uint_gt(note[1], (uintptr_t)rest + 1000);
	ck_assert_uint_le(note[1], (uintptr_t)mem + bytes);
	/* a failed allocation takes nothing and leaves the note alone */
	note[0] = note[1] = 7;
	ck_assert_ptr_null(heap_alloc(heap, bytes));
	ck_assert_uint_eq(note[0] + note[1], 14);
	heap_change_note = NULL;
	(void)a;
	assert_valid(heap);
	unmap_region(mem, bytes);
}
END_TEST
#endif

/* ---- suite -------------------------------------------------------------- */

/* Generous per-test limits: ASan builds and loaded machines are slow. */
static TCase *new_tcase(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 120);
	return tc;
}

static Suite *heap_suite(void)
{
	Suite *suite = suite_create("heap");
	TCase *tc;

	tc = new_tcase("init");
	tcase_add_test(tc, test_init_rejects_too_small);
	tcase_add_test(tc, test_init_rejects_misaligned);
	tcase_add_test(tc, test_one_page_region);
	tcase_add_test(tc, test_region_bytes_for);
	tcase_add_test(tc, test_capacity_accounting);
	tcase_add_test(tc, test_region_8_gib);
	tcase_add_test(tc, test_region_1_tib);
	suite_add_tcase(suite, tc);

	tc = new_tcase("alloc");
	tcase_add_test(tc, test_every_pointer_aligned);
	tcase_add_test(tc, test_alloc_zero_unique);
	tcase_add_test(tc, test_overhead_is_one_header);
	tcase_add_test(tc, test_exhaust_4000_then_coalesce);
	tcase_add_test(tc, test_exhaust_64_then_coalesce);
	tcase_add_test(tc, test_oversize_requests_fail_cleanly);
	tcase_add_test(tc, test_largest_free_is_exact);
	suite_add_tcase(suite, tc);

	tc = new_tcase("realloc");
	tcase_add_test(tc, test_realloc_grows_in_place);
	tcase_add_test(tc, test_realloc_shrinks_in_place);
	tcase_add_test(tc, test_realloc_moves_and_preserves);
	tcase_add_test(tc, test_realloc_failure_keeps_block);
	suite_add_tcase(suite, tc);

	tc = new_tcase("zeroed");
	tcase_add_test(tc, test_zeroed_clears_dirty_memory);
	tcase_add_test(tc, test_zeroed_leaves_fresh_pages_alone);
	suite_add_tcase(suite, tc);

	tc = new_tcase("pointers");
	tcase_add_test(tc, test_block_is_live_rejects_bad_pointers);
	tcase_add_test(tc, test_forged_header_is_not_live);
	tcase_add_test(tc, test_check_bits_never_look_like_data);
	suite_add_tcase(suite, tc);

	tc = new_tcase("walk_stats");
	tcase_add_test(tc, test_walk_visits_every_block);
	tcase_add_test(tc, test_stats_track_operations);
	suite_add_tcase(suite, tc);

	tc = new_tcase("validate");
	tcase_add_test(tc, test_validate_detects_corruption);
	suite_add_tcase(suite, tc);

	tc = new_tcase("random");
	tcase_add_test(tc, test_random_operations_match_model);
	suite_add_tcase(suite, tc);

#if HEAP_CHECKED
	tc = new_tcase("change_note");
	tcase_add_test(tc, test_change_note_names_the_chunk_taken);
	suite_add_tcase(suite, tc);
#endif

	return suite;
}

int main(void)
{
	return run_check_suite(heap_suite(), CK_FORK_GETENV);
}
