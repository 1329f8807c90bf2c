/*
 * heap_check.c - reading a heap without trusting it: heap_validate() checks
 * every invariant of a live heap (I1-I8, heap_layout.h) and names the one
 * that is broken; heap_walk_image() walks a COPY of a heap region read from
 * elsewhere (a pool file, possibly damaged or hostile), bounds-checking every
 * size before it is used. Kept apart from the fast path (heap.c): nothing
 * here runs on malloc or free.
 *
 * Invariants: neither function writes to the heap it reads; each walk is
 * bounded by the region (chunk sizes are checked before they are added) and
 * each list walk by the number of free chunks, so damage cannot make them
 * loop or read outside the region.
 *
 * Locking: none; heap_validate's caller holds the owner's lock, an image
 * is private to its reader.
 */
#include "config.h"

#include <string.h>

#include "core/heap.h"
#include "core/heap_layout.h"

bool heap_walk_image(const void *image, size_t image_bytes, uintptr_t image_address,
	heap_image_walk_fn fn, void *context, const char **why)
{
	const unsigned char *bytes = image;
	struct heap control;
	uintptr_t first, sentinel;
	const char *problem = NULL;

	if (image == NULL || image_bytes < sizeof(control)) {
		problem = "heap image shorter than the heap's control structure";
		goto out;
	}
	memcpy(&control, image, sizeof(control));
	if (control.magic != HEAP_MAGIC) {
		problem = "heap image does not start with a heap (bad magic)";
		goto out;
	}
	first = address(control.first) - image_address;
	sentinel = address(control.sentinel) - image_address;
	/* unsigned arithmetic: a pointer below image_address wraps to a huge offset */
	if (address(control.first) < image_address || address(control.sentinel) < image_address
		|| first % HEAP_ALIGN != 0 || sentinel % HEAP_ALIGN != 0 || first < sizeof(control)
		|| sentinel < first || sentinel > image_bytes - HEADER_BYTES
		|| image_bytes < HEADER_BYTES) {
		problem = "heap image's block range lies outside the image";
		goto out;
	}
	for (uintptr_t offset = first; offset < sentinel;) {
		struct chunk header;
		size_t size;

		memcpy(&header, bytes + offset, HEADER_BYTES);
		size = header.size_flags & ~CHUNK_FLAGS;
		if ((header.size_flags & CHUNK_FLAGS & ~CHUNK_USED) != 0 || size < MIN_CHUNK
			|| size > sentinel - offset) {
			problem = "heap image has a damaged block header";
			goto out;
		}
		fn(bytes + offset + HEADER_BYTES, image_address + offset + HEADER_BYTES,
			size - HEADER_BYTES, (header.size_flags & CHUNK_USED) != 0, context);
		offset += size;
	}
out:
	if (problem != NULL && why != NULL)
		*why = problem;
	return problem == NULL;
}

/* ---- validation --------------------------------------------------------- */

struct walk_totals {
	size_t used_bytes;
	size_t used_blocks;
	size_t free_blocks;
};

/* An address where a chunk header could be: aligned, wholly inside the range. */
static bool is_chunk_address(const struct heap *heap, const struct chunk *c)
{
	return address(c) % HEAP_ALIGN == 0 && address(c) >= address(heap->first) &&
	       address(c) <= address(heap->sentinel) - MIN_CHUNK;
}

static const char *check_control(const struct heap *heap)
{
	if (!heap)
		return "I1: heap is NULL";
	if (heap->magic != HEAP_MAGIC)
		return "I1: control structure magic damaged";
	size_t bytes = heap->region_bytes & ~CHUNK_FLAGS;
	unsigned fl_count = heap->fl_count;
	if (bytes < MIN_CHUNK || fl_count > FL_COUNT_MAX || fl_count != fl_count_for(bytes))
		return "I1: fl_count disagrees with the region size";
	const char *base = (const char *)heap;
	if ((const char *)heap->heads != base + heads_offset(fl_count))
		return "I1: free-list heads pointer damaged";
	const struct chunk *prologue = (const struct chunk *)(base + prologue_offset(fl_count));
	if (heap->first != chunk_at(prologue, PROLOGUE_BYTES))
		return "I1: first chunk pointer damaged";
	if ((const char *)heap->sentinel != base + bytes - HEADER_BYTES)
		return "I1: sentinel pointer disagrees with the region size";
	if (heap->max_request != address(heap->sentinel) - address(heap->first) - HEADER_BYTES)
		return "I1: max_request disagrees with the capacity";
	if (prologue->size_flags != (PROLOGUE_BYTES | CHUNK_USED) || prologue->prev_size != 0)
		return "I1: prologue header damaged";
	if (heap->touched_end < address(heap->first) + MIN_CHUNK ||
		heap->touched_end > address(heap->sentinel))
		return "I8: touched mark outside the block range";
	return NULL;
}

/* I5, seen from one free chunk: its neighbours in the list point back at it. */
static const char *check_free_links(const struct heap *heap, const struct chunk *c)
{
	const struct chunk *next = c->next_free;

	if (*list_head(heap, mapping_insert(chunk_size(c))) != c) {
		const struct chunk *prev = c->prev_free;
		if (!is_chunk_address(heap, prev) || prev->next_free != c)
			return "I5: free chunk is neither a list head nor linked from its list";
	}
	if (next != list_end(heap) && (!is_chunk_address(heap, next) || next->prev_free != c))
		return "I5: free chunk's next_free link is broken";
	return NULL;
}

/* I2, I3, I4, I8 and the local half of I5, in one pass over every chunk. */
static const char *check_chunks(const struct heap *heap, struct walk_totals *totals)
{
	const struct chunk *c = heap->first;
	size_t below_size = PROLOGUE_BYTES;
	bool below_free = false;

	while (c != heap->sentinel) {
		if (address(c) > address(heap->sentinel) - MIN_CHUNK)
			return "I2: chunk walk overran the sentinel";
		if (c->prev_size != below_size)
			return "I3: prev_size tag disagrees with the chunk below";
		size_t flags = c->size_flags & CHUNK_FLAGS;
		size_t size = chunk_size(c);
		if (flags & ~CHUNK_USED)
			return "I2: chunk header has unknown flag bits";
		if (size < MIN_CHUNK)
			return "I2: chunk smaller than the minimum chunk";
		if (size > address(heap->sentinel) - address(c))
			return "I2: chunk extends past the sentinel";
		if (flags & CHUNK_USED) {
			if (address(c) + size > heap->touched_end)
				return "I8: used chunk above the touched mark";
			totals->used_bytes += size;
			totals->used_blocks++;
		} else {
			if (below_free)
				return "I4: two adjacent free chunks";
			if (address(c) + MIN_CHUNK > heap->touched_end)
				return "I8: free chunk metadata above the touched mark";
			const char *why = check_free_links(heap, c);
			if (why)
				return why;
			totals->free_blocks++;
		}
		below_size = size;
		below_free = !(flags & CHUNK_USED);
		c = chunk_at(c, size);
	}
	if (heap->sentinel->size_flags != CHUNK_USED)
		return "I2: sentinel header damaged";
	if (heap->sentinel->prev_size != below_size)
		return "I3: sentinel prev_size disagrees with the last chunk";
	return NULL;
}

/* I5 and I6, list by list; free_blocks bounds each walk against cycles. */
static const char *check_lists(const struct heap *heap, size_t free_blocks)
{
	size_t listed = 0;

	if (heap->fl_count < 64 && heap->fl_bitmap >> heap->fl_count)
		return "I6: first-level bitmap has bits past the last row";
	for (unsigned fl = 0; fl < heap->fl_count; fl++) {
		uint32_t sl_map = heap->sl_bitmap[fl];
		if (!!(heap->fl_bitmap & ((uint64_t)1 << fl)) != !!sl_map)
			return "I6: first-level bit disagrees with its second-level bitmap";
		for (unsigned sl = 0; sl < SL_COUNT; sl++) {
			struct list_index at = {fl, sl};
			const struct chunk *c = *list_head(heap, at);
			if (!!(sl_map & (1u << sl)) != (c != list_end(heap)))
				return "I6: second-level bit disagrees with its list's emptiness";
			for (const struct chunk *prev = NULL; c != list_end(heap);
				prev = c, c = c->next_free) {
				if (++listed > free_blocks)
					return "I5: free lists hold more chunks than are free";
				if (!is_chunk_address(heap, c))
					return "I5: free-list link points outside the block range";
				if (chunk_is_used(c))
					return "I5: a listed chunk is marked used";
				struct list_index want = mapping_insert(chunk_size(c));
				if (want.fl != fl || want.sl != sl)
					return "I5: a listed chunk is in the wrong size class";
				if (prev && c->prev_free != prev)
					return "I5: free-list back link is broken";
			}
		}
	}
	if (listed != free_blocks)
		return "I5: free lists hold fewer chunks than are free";
	return NULL;
}

static const char *check_counters(const struct heap *heap, const struct walk_totals *totals)
{
	if (heap->used_bytes != totals->used_bytes)
		return "I7: used_bytes counter disagrees with the walk";
	if (heap->used_blocks != totals->used_blocks)
		return "I7: used_blocks counter disagrees with the walk";
	if (heap->free_blocks != totals->free_blocks)
		return "I7: free_blocks counter disagrees with the walk";
	if (heap->peak_used_bytes < heap->used_bytes)
		return "I7: peak_used_bytes below used_bytes";
	return NULL;
}

bool heap_validate(const struct heap *heap, const char **why)
{
	struct walk_totals totals = {0};
	const char *broken = check_control(heap);

	if (!broken)
		broken = check_chunks(heap, &totals);
	if (!broken)
		broken = check_lists(heap, totals.free_blocks);
	if (!broken)
		broken = check_counters(heap, &totals);
	if (broken && why)
		*why = broken;
	return !broken;
}
