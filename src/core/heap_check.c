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

bool heap_damaged(const struct heap *heap, struct heap_damage *damage)
{
	if (heap->damage_at == 0)
		return false;
	if (damage != NULL) {
		damage->at = heap->damage_at;
		damage->end = heap->damage_at + sizeof(size_t);
		damage->suspect = 0;
		damage->why = heap->damage_why;
		damage->below = (uintptr_t)heap_block_below(heap, heap->damage_at);
	}
	return true;
}

bool heap_clear_damage(struct heap *heap)
{
	if (!heap_validate(heap, NULL))
		return false;
	heap->damage_at = 0;
	heap->damage_why = NULL;
	return true;
}

/*
 * The walk trusts no tag: each chunk's header must be sane and inside the
 * range, and the tags on both sides of it must agree (I2, I3), before fn
 * sees the chunk or the walk steps past it. So damage ends the walk where it
 * is, never in a loop (a size of 0) or outside the heap (a huge size).
 */
/* c's size tag (c a chunk address below the sentinel): flags known, size
 * at least a minimum chunk and inside the heap. */
HEAP_PROBING static bool size_tag_sound(const struct heap *heap, const struct chunk *c)
{
	size_t size = chunk_size(c);

	return (c->size_flags & CHUNK_FLAGS & ~CHUNK_USED) == 0 && size >= MIN_CHUNK
		&& size <= address(heap->sentinel) - address(c) && chunk_check_bits_sound(c);
}

HEAP_PROBING bool heap_walk(const struct heap *heap, heap_walk_fn fn, void *context,
	struct heap_damage *damage)
{
	const char *why = control_problem(heap);
	const struct chunk *c = heap->first;
	size_t below_size = PROLOGUE_BYTES;
	uintptr_t last_used = 0;
	const void *at = heap;

	size_t damaged_words = 1;
	const void *suspect = NULL;

	while (why == NULL && c != heap->sentinel) {
		size_t size = chunk_size(c);
		at = c;
		if (address(c) > address(heap->sentinel) - MIN_CHUNK) {
			why = "the chunk walk ran past the heap's end";
		} else if (c->prev_size != below_size) {
			why = "a prev_size tag disagrees with the chunk below it";
		} else if (!size_tag_sound(heap, c)) {
			why = "a chunk size tag leads outside the heap";
			at = &c->size_flags;
		} else if (chunk_at(c, size)->prev_size != size) {
			const struct chunk *next = chunk_at(c, size);
			why = "a prev_size tag disagrees with the chunk below it";
			at = next;
			/* no chunk header where c's size leads: either that header is
			 * damaged, or c's size tag is (and still looked plausible) */
			if (next != heap->sentinel && !size_tag_sound(heap, next))
				suspect = chunk_payload(c);
			/* c's own header is sound: the block below the damage */
			if (chunk_is_used(c))
				last_used = address(chunk_payload(c));
		} else {
			fn(chunk_payload(c), size - HEADER_BYTES, chunk_is_used(c), context);
			if (chunk_is_used(c))
				last_used = address(chunk_payload(c));
			below_size = size;
			c = chunk_at(c, size);
		}
	}
	if (why == NULL && c->size_flags != CHUNK_USED) {
		why = "the heap's end sentinel is damaged";
		at = c;
	}
	if (why != NULL && damage != NULL) {
		/* a chunk header damaged whole (both words): how far the damage runs */
		if (suspect != NULL)
			damaged_words = 2;
		damage->at = address(at);
		damage->end = address(at) + damaged_words * sizeof(size_t);
		damage->why = why;
		damage->below = last_used;
		damage->suspect = address(suspect);
	}
	return why == NULL;
}

static void note_used_below(void *payload, size_t usable, bool used, void *context)
{
	uintptr_t *search = context; /* [0]: the address, [1]: the answer */

	(void)usable;
	if (used && address(payload) - HEADER_BYTES < search[0])
		search[1] = address(payload);
}

void *heap_block_below(const struct heap *heap, uintptr_t at)
{
	uintptr_t search[2] = { at, 0 };
	struct heap_damage damage;

	/* a walk that stops at damage has seen every sound chunk below it, the
	 * one whose upper tag is damaged included (damage.below) */
	if (!heap_walk(heap, note_used_below, search, &damage) && damage.below != 0
		&& damage.below - HEADER_BYTES < at && damage.below > search[1])
		search[1] = damage.below;
	return (void *)search[1];
}

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
		/* the top bits are 0 (the checked heap's tags: the debug build's
		 * images) or a used chunk's check bits at the writer's address */
		size = header.size_flags & ~(CHUNK_FLAGS | HEAP_FAST_CHECK_MASK);
		size_t check = header.size_flags & HEAP_FAST_CHECK_MASK;
		if ((header.size_flags & CHUNK_FLAGS & ~CHUNK_USED) != 0 || size < MIN_CHUNK
			|| size > sentinel - offset
			|| (check != 0
				&& ((header.size_flags & CHUNK_USED) == 0
					|| check
						!= heap_fast_check_bits(image_address + offset,
							size)))) {
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

/* What one validation pass counts, and where it found a broken invariant. */
struct validation {
	size_t used_bytes;
	size_t used_blocks;
	size_t free_blocks;
	const void *at;      /* the broken tag, link or field */
	const void *suspect; /* heap_damage.suspect */
};

/* Notes where an invariant is broken; returns why, for `return broken(...)`. */
static const char *broken(struct validation *v, const void *at, const char *why)
{
	v->at = at;
	return why;
}

HEAP_PROBING static const char *check_control(const struct heap *heap, struct validation *v)
{
	if (heap->magic != HEAP_MAGIC)
		return broken(v, &heap->magic, "I1: control structure magic damaged");
	size_t bytes = heap->region_bytes & ~CHUNK_FLAGS;
	unsigned fl_count = heap->fl_count;
	if (bytes < MIN_CHUNK || fl_count > FL_COUNT_MAX || fl_count != fl_count_for(bytes))
		return broken(v, &heap->fl_count, "I1: fl_count disagrees with the region size");
	const char *base = (const char *)heap;
	if ((const char *)heap->heads != base + heads_offset(fl_count))
		return broken(v, &heap->heads, "I1: free-list heads pointer damaged");
	const struct chunk *prologue = (const struct chunk *)(base + prologue_offset(fl_count));
	if (heap->first != chunk_at(prologue, PROLOGUE_BYTES))
		return broken(v, &heap->first, "I1: first chunk pointer damaged");
	if ((const char *)heap->sentinel != base + bytes - HEADER_BYTES)
		return broken(v, &heap->sentinel,
			"I1: sentinel pointer disagrees with the region size");
	if (heap->max_request != address(heap->sentinel) - address(heap->first) - HEADER_BYTES)
		return broken(v, &heap->max_request, "I1: max_request disagrees with the capacity");
	if (prologue->size_flags != (PROLOGUE_BYTES | CHUNK_USED) || prologue->prev_size != 0)
		return broken(v, prologue, "I1: prologue header damaged");
	if (heap->touched_end < address(heap->first) + MIN_CHUNK
		|| heap->touched_end > address(heap->sentinel))
		return broken(v, &heap->touched_end, "I8: touched mark outside the block range");
	return NULL;
}

/* I5, seen from one free chunk: its neighbours in the list point back at it. */
HEAP_PROBING static const char *check_free_links(const struct heap *heap, const struct chunk *c,
	struct validation *v)
{
	const struct chunk *next = c->next_free;

	if (*list_head(heap, mapping_insert(chunk_size(c))) != c) {
		const struct chunk *prev = c->prev_free;
		if (!is_chunk_address(heap, prev) || prev->next_free != c)
			return broken(v, &c->prev_free,
				"I5: free chunk is neither a list head nor linked from its list");
	} else if (HEAP_CHECKED && c->prev_free != list_end(heap)) {
		/* the checked heap keeps a head's back link at the list's end */
		return broken(v, &c->prev_free, "I5: a list head's back link is damaged");
	}
	if (next != list_end(heap) && (!is_chunk_address(heap, next) || next->prev_free != c))
		return broken(v, &c->next_free, "I5: free chunk's next_free link is broken");
	return NULL;
}

/* I2, I3, I4, I8 and the local half of I5, in one pass over every chunk. */
HEAP_PROBING static const char *check_chunks(const struct heap *heap, struct validation *v)
{
	const struct chunk *c = heap->first, *below = NULL;
	size_t below_size = PROLOGUE_BYTES;
	bool below_free = false;

	while (c != heap->sentinel) {
		if (address(c) > address(heap->sentinel) - MIN_CHUNK)
			return broken(v, c, "I2: chunk walk overran the sentinel");
		if (c->prev_size != below_size) {
			/* no chunk header here: this header is damaged, or the size
			 * tag below that led here is */
			if (below != NULL && !size_tag_sound(heap, c))
				v->suspect = chunk_payload(below);
			return broken(v, c, "I3: prev_size tag disagrees with the chunk below");
		}
		size_t flags = c->size_flags & CHUNK_FLAGS;
		size_t size = chunk_size(c);
		if (flags & ~CHUNK_USED)
			return broken(v, &c->size_flags, "I2: chunk header has unknown flag bits");
		if (size < MIN_CHUNK)
			return broken(v, &c->size_flags,
				"I2: chunk smaller than the minimum chunk");
		if (size > address(heap->sentinel) - address(c))
			return broken(v, &c->size_flags, "I2: chunk extends past the sentinel");
		if (!chunk_check_bits_sound(c))
			return broken(v, &c->size_flags,
				"I2: a size tag's check bits disagree with its chunk");
		if (flags & CHUNK_USED) {
			if (address(c) + size > heap->touched_end)
				return broken(v, c, "I8: used chunk above the touched mark");
			v->used_bytes += size;
			v->used_blocks++;
		} else {
			if (below_free)
				return broken(v, c, "I4: two adjacent free chunks");
			if (address(c) + MIN_CHUNK > heap->touched_end)
				return broken(v, c,
					"I8: free chunk metadata above the touched mark");
			const char *why = check_free_links(heap, c, v);
			if (why)
				return why;
			v->free_blocks++;
		}
		below_size = size;
		below_free = !(flags & CHUNK_USED);
		below = c;
		c = chunk_at(c, size);
	}
	if (heap->sentinel->size_flags != CHUNK_USED)
		return broken(v, &heap->sentinel->size_flags, "I2: sentinel header damaged");
	if (heap->sentinel->prev_size != below_size)
		return broken(v, heap->sentinel,
			"I3: sentinel prev_size disagrees with the last chunk");
	return NULL;
}

/* I5 and I6, list by list; free_blocks bounds each walk against cycles. */
HEAP_PROBING static const char *check_lists(const struct heap *heap, struct validation *v)
{
	size_t listed = 0;

	if (heap->fl_count < 64 && heap->fl_bitmap >> heap->fl_count)
		return broken(v, &heap->fl_bitmap,
			"I6: first-level bitmap has bits past the last row");
	for (unsigned fl = 0; fl < heap->fl_count; fl++) {
		uint32_t sl_map = heap->sl_bitmap[fl];
		if (!!(heap->fl_bitmap & ((uint64_t)1 << fl)) != !!sl_map)
			return broken(v, &heap->sl_bitmap[fl],
				"I6: first-level bit disagrees with its second-level bitmap");
		for (unsigned sl = 0; sl < SL_COUNT; sl++) {
			struct list_index at = { fl, sl };
			const struct chunk *c = *list_head(heap, at);
			if (!!(sl_map & (1u << sl)) != (c != list_end(heap)))
				return broken(v, list_head(heap, at),
					"I6: second-level bit disagrees with its list's emptiness");
			for (const struct chunk *prev = NULL; c != list_end(heap);
				prev = c, c = c->next_free) {
				const void *link = prev ? (const void *)&prev->next_free
							: (const void *)list_head(heap, at);
				if (++listed > v->free_blocks)
					return broken(v, link,
						"I5: free lists hold more chunks than are free");
				if (!is_chunk_address(heap, c))
					return broken(v, link,
						"I5: free-list link points outside the block range");
				if (chunk_is_used(c))
					return broken(v, link, "I5: a listed chunk is marked used");
				struct list_index want = mapping_insert(chunk_size(c));
				if (want.fl != fl || want.sl != sl)
					return broken(v, c,
						"I5: a listed chunk is in the wrong size class");
				if (prev && c->prev_free != prev)
					return broken(v, &c->prev_free,
						"I5: free-list back link is broken");
			}
		}
	}
	if (listed != v->free_blocks)
		return broken(v, heap->heads, "I5: free lists hold fewer chunks than are free");
	return NULL;
}

static const char *check_counters(const struct heap *heap, struct validation *v)
{
	if (heap->used_bytes != v->used_bytes)
		return broken(v, &heap->used_bytes,
			"I7: used_bytes counter disagrees with the walk");
	if (heap->used_blocks != v->used_blocks)
		return broken(v, &heap->used_blocks,
			"I7: used_blocks counter disagrees with the walk");
	if (heap->free_blocks != v->free_blocks)
		return broken(v, &heap->free_blocks,
			"I7: free_blocks counter disagrees with the walk");
	if (heap->peak_used_bytes < heap->used_bytes)
		return broken(v, &heap->peak_used_bytes, "I7: peak_used_bytes below used_bytes");
	return NULL;
}

bool heap_check(const struct heap *heap, struct heap_damage *damage)
{
	struct validation v = { 0, 0, 0, heap, NULL };
	const char *why = heap == NULL ? "I1: heap is NULL" : check_control(heap, &v);

	if (!why)
		why = check_chunks(heap, &v);
	if (!why)
		why = check_lists(heap, &v);
	if (!why)
		why = check_counters(heap, &v);
	if (why && damage) {
		damage->at = address(v.at);
		damage->end = address(v.at) + (v.suspect != NULL ? 2 : 1) * sizeof(size_t);
		damage->suspect = address(v.suspect);
		damage->why = why;
		/* heap_block_below walks, which a damaged control refuses cheaply */
		damage->below = heap != NULL ? address(heap_block_below(heap, address(v.at))) : 0;
	}
	return !why;
}

bool heap_validate(const struct heap *heap, const char **why)
{
	struct heap_damage damage;

	if (heap_check(heap, why != NULL ? &damage : NULL))
		return true;
	if (why != NULL)
		*why = damage.why;
	return false;
}

void heap_note_damage(struct heap *heap, const struct heap_damage *damage)
{
	if (heap->damage_at == 0) {
		heap->damage_at = damage->at != 0 ? damage->at : address(heap);
		heap->damage_why = damage->why;
	}
}
