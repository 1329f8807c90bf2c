/*
 * heap_layout.h - the heap's region and chunk layout, private to the heap
 * (heap.c, the fast path; heap_check.c, the validator and the image walk).
 * Nothing outside src/core/heap*.c includes it: the pool layer and both
 * builds see only heap.h.
 *
 * Region layout
 *
 *   mem                                                       mem + bytes
 *   | struct heap | sl_bitmap[fl_count] | heads[fl_count][32] | P | chunk
 *   | chunk | ... | chunk | S | (up to 15 bytes of alignment slack)
 *
 *   P is the prologue, a header-only chunk marked used, and S the sentinel,
 *   a header-only chunk of size 0 marked used. They make "the previous / next
 *   chunk is free" tests branch-free at both ends of the block range.
 *
 * Size classes
 *   A chunk size s maps to a list (fl, sl): below 512 bytes, fl = 0 and
 *   sl = s / 16 (32 exact classes of 16 bytes); from 512 up, fl = log2(s) - 8
 *   and sl = the next 5 bits below the top one (32 subdivisions of each power
 *   of two). fl_bitmap has bit fl set when any list of row fl is non-empty;
 *   sl_bitmap[fl] has bit sl set when list (fl, sl) is non-empty. The number
 *   of rows (fl_count) is taken from the region size, so a one-page heap
 *   keeps 4 rows of heads (1 KiB) and a 2^64-byte one would need 56.
 *
 * Chunk layout (every field through the accessors below)
 *
 *   +0  prev_size   size of the chunk just below (valid for used chunks too)
 *   +8  size_flags  this chunk's size (a multiple of 16) | CHUNK_USED, and
 *                   on a used chunk of the release heap, check bits
 *                   (chunk_check_bits) in the top 16
 *   +16 payload     free chunks keep next_free, prev_free here
 *
 *   The header is 16 bytes, so the payload is 16-aligned and the per-block
 *   overhead is exactly HEAP_BLOCK_OVERHEAD. The minimum chunk is 32 bytes:
 *   the header plus the two free-list links.
 *
 *   Check bits (heap_fast.h says why): a hash of a used chunk's address and
 *   size, which lets the release build's lock-free free recognise a live
 *   block from its own header line. Only the release heap writes them: the
 *   checked heap (HEAP_CHECKED) leaves the top bits 0, so its tags and the
 *   heap images pooldump reads (the debug build's, heap_walk_image) keep
 *   their full-width sizes, and damage to the top bits still reads as a
 *   size leading outside the heap.
 *
 * Invariants (heap_validate() checks each one and names it when broken)
 *   I1  The control structure is intact: magic, layout pointers, prologue.
 *   I2  Chunks tile [first, sentinel) exactly: each size is a multiple of 16
 *       and at least 32, no chunk crosses the sentinel, the walk ends on it;
 *       a used chunk's check bits are chunk_check_bits(), a free chunk's 0.
 *   I3  Each chunk's prev_size equals the size of the chunk below (the
 *       prologue's for the first, the last chunk's for the sentinel).
 *   I4  No two adjacent chunks are free (coalescing is immediate).
 *   I5  Every free chunk is linked into exactly the list its size maps to:
 *       it heads that list or its prev_free links to it; every listed chunk
 *       is free and in its class; each non-head's prev_free names the chunk
 *       before it; and the lists hold as many chunks as the walk finds free.
 *   I6  A bitmap bit is set exactly when its list (or row) is non-empty.
 *   I7  The counters (used_bytes, used_blocks, free_blocks) agree with the
 *       walk and peak_used_bytes >= used_bytes.
 *   I8  first + 32 <= touched_end <= sentinel; every used chunk ends at or
 *       below it and every free chunk's header and links lie below it.
 *
 * Locking: none; the owner serialises all calls on one heap (see heap.h).
 */
#ifndef AREA_MALLOC_CORE_HEAP_LAYOUT_H
#define AREA_MALLOC_CORE_HEAP_LAYOUT_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"
#include "core/heap_fast.h"

#define ALIGN_LOG2 4
#define SL_LOG2 5
#define SL_COUNT (1u << SL_LOG2)
/* log2 of the first size past the linear classes */
#define FL_SHIFT (SL_LOG2 + ALIGN_LOG2)
#define SMALL_LIMIT ((size_t)1 << FL_SHIFT)
/* rows of a region whose chunks may be as large as SIZE_MAX */
#define FL_COUNT_MAX (64 - FL_SHIFT + 1)
/* blocks of the request's own class tried when the good-fit search fails */
#define FALLBACK_SCAN 16

#define HEADER_BYTES ((size_t)HEAP_BLOCK_OVERHEAD)
#define MIN_CHUNK (2 * HEADER_BYTES)
#define PROLOGUE_BYTES HEADER_BYTES
#define CHUNK_USED ((size_t)1)
#define CHUNK_FLAGS ((size_t)HEAP_ALIGN - 1)

#define HEAP_MAGIC 0x48454150u /* "HEAP" */

/* 1 in the debug build's copy of the heap (heap.c, "the checked heap"). */
#ifndef HEAP_CHECKED
#define HEAP_CHECKED 0
#endif

/*
 * For the code that follows tags it has not checked yet (the validator, the
 * walks, the checked heap's checks): a damaged size tag may lead into bytes
 * the debug build hides from AddressSanitizer, and looking there is that
 * code's job.
 */
#define HEAP_PROBING __attribute__((no_sanitize("address")))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct chunk {
	size_t prev_size;
	size_t size_flags;
	struct chunk *next_free; /* free chunks only */
	struct chunk *prev_free; /* free chunks only */
};

_Static_assert(offsetof(struct chunk, next_free) == HEAP_BLOCK_OVERHEAD,
	"the header must be exactly the per-block overhead");
_Static_assert(sizeof(struct chunk) == MIN_CHUNK, "a free chunk's links fill the minimum chunk");
_Static_assert(HEAP_BLOCK_OVERHEAD % HEAP_ALIGN == 0, "payloads must stay aligned");

struct heap {
	/* hot: touched by every allocation */
	uint64_t fl_bitmap;
	struct chunk **heads;
	size_t max_request;
	uintptr_t touched_end;
	size_t used_bytes;
	size_t peak_used_bytes;
	size_t used_blocks;
	size_t free_blocks;
	/* fixed at init */
	struct chunk *first;
	struct chunk *sentinel;
	size_t region_bytes;
	/* ends every free list, so linking needs no NULL tests (see insert_free) */
	struct chunk list_end;
	uint32_t magic;
	uint32_t fl_count;
	/* the checked heap (HEAP_CHECKED): the first damage an operation found
	 * and refused to follow, 0 while none; placed after the fields a reader
	 * of a heap image uses (heap_walk_image), whose offsets it keeps */
	uintptr_t damage_at;
	const char *damage_why;
	uint32_t sl_bitmap[];
};

struct list_index {
	unsigned fl;
	unsigned sl;
};

/* ---- chunk accessors ---------------------------------------------------- */

#if HEAP_CHECKED
#define CHUNK_CHECK_MASK ((size_t)0)
#else
#define CHUNK_CHECK_MASK HEAP_FAST_CHECK_MASK
#endif

/* The size a size tag holds (flags and check bits masked off). */
static inline size_t size_of_tag(size_t size_flags)
{
	return size_flags & ~(CHUNK_FLAGS | CHUNK_CHECK_MASK);
}

/* The check bits a chunk at c of size bytes carries when used (0 in the
 * checked heap). */
static inline size_t chunk_check_bits(const struct chunk *c, size_t size)
{
	return HEAP_CHECKED ? 0 : heap_fast_check_bits((uintptr_t)c, size);
}

/* c's size tag carries the check bits its state asks for (I2). */
static inline HEAP_PROBING bool chunk_check_bits_sound(const struct chunk *c)
{
	size_t size_flags = c->size_flags;

	return (size_flags & CHUNK_CHECK_MASK)
		== ((size_flags & CHUNK_USED) ? chunk_check_bits(c, size_of_tag(size_flags)) : 0);
}

static inline HEAP_PROBING size_t chunk_size(const struct chunk *c)
{
	return size_of_tag(c->size_flags);
}

static inline HEAP_PROBING bool chunk_is_used(const struct chunk *c)
{
	return c->size_flags & CHUNK_USED;
}

static inline struct chunk *chunk_at(const struct chunk *c, size_t offset)
{
	return (struct chunk *)((char *)c + offset);
}

static inline HEAP_PROBING struct chunk *next_chunk(const struct chunk *c)
{
	return chunk_at(c, chunk_size(c));
}

static inline HEAP_PROBING struct chunk *prev_chunk(const struct chunk *c)
{
	return (struct chunk *)((char *)c - c->prev_size);
}

static inline void *chunk_payload(const struct chunk *c)
{
	return (char *)c + HEADER_BYTES;
}

static inline struct chunk *payload_to_chunk(const void *ptr)
{
	return (struct chunk *)((char *)ptr - HEADER_BYTES);
}

static inline uintptr_t address(const void *p)
{
	return (uintptr_t)p;
}

/* Chunk size serving a request; the caller has bounded size by max_request. */
static inline size_t chunk_size_for(size_t size)
{
	size_t bytes = (size + HEADER_BYTES + CHUNK_FLAGS) & ~CHUNK_FLAGS;
	return bytes < MIN_CHUNK ? MIN_CHUNK : bytes;
}

/* ---- size classes ------------------------------------------------------- */

static inline unsigned log2_floor(size_t x)
{
	return 63 - (unsigned)__builtin_clzll(x);
}

/*
 * log2 of size, but FL_SHIFT for every linear-class size: then one formula
 * covers both ranges without a branch (sizes here vary at random, so a
 * branch on "small or not" would mispredict).
 */
static inline unsigned class_log2(size_t size)
{
	return log2_floor(size | SMALL_LIMIT);
}

static inline struct list_index mapping_insert(size_t size)
{
	unsigned top = class_log2(size);
	/* below 512: size >> 4 is 0..31; above: size >> (top - 5) is 32..63 */
	unsigned flat = ((top - FL_SHIFT) << SL_LOG2) + (unsigned)(size >> (top - SL_LOG2));
	return (struct list_index){ flat >> SL_LOG2, flat & (SL_COUNT - 1) };
}

/* Rounds size up so that it maps to the first class whose sizes all fit it. */
static inline size_t round_up_to_class(size_t size)
{
	return size + ((size_t)1 << (class_log2(size) - SL_LOG2)) - 1;
}

static inline HEAP_PROBING struct chunk **list_head(const struct heap *heap, struct list_index at)
{
	return &heap->heads[at.fl * SL_COUNT + at.sl];
}

static inline struct chunk *list_end(const struct heap *heap)
{
	return (struct chunk *)&heap->list_end;
}

/* An address where a chunk header could be: aligned, wholly inside the range. */
static inline bool is_chunk_address(const struct heap *heap, const struct chunk *c)
{
	return address(c) % HEAP_ALIGN == 0 && address(c) >= address(heap->first)
		&& address(c) <= address(heap->sentinel) - MIN_CHUNK;
}

/*
 * After the head of list 'at' was replaced by new_head: clears the list's
 * bit, and its row's, when they became empty. Without branches: whether a
 * list empties is a coin toss the predictor would lose.
 */
static inline void update_list_bits(struct heap *heap, struct list_index at,
	const struct chunk *new_head)
{
	uint32_t emptied = new_head == list_end(heap);
	heap->sl_bitmap[at.fl] &= ~(emptied << at.sl);
	heap->fl_bitmap &= ~((uint64_t)(heap->sl_bitmap[at.fl] == 0) << at.fl);
}

/* ---- layout ------------------------------------------------------------- */

static inline size_t align_up(size_t x, size_t alignment)
{
	return (x + alignment - 1) & ~(alignment - 1);
}

/* Rows of size classes a region of 'bytes' can need: its chunks are smaller. */
static inline unsigned fl_count_for(size_t bytes)
{
	return mapping_insert(bytes - 1).fl + 1;
}

static inline size_t heads_offset(unsigned fl_count)
{
	return align_up(offsetof(struct heap, sl_bitmap) + fl_count * sizeof(uint32_t),
		alignof(struct chunk *));
}

static inline size_t prologue_offset(unsigned fl_count)
{
	return align_up(heads_offset(fl_count)
			+ (size_t)fl_count * SL_COUNT * sizeof(struct chunk *),
		HEAP_ALIGN);
}

/* Everything in a region that is not chunks: control, prologue, sentinel. */
static inline size_t control_bytes(unsigned fl_count)
{
	return prologue_offset(fl_count) + PROLOGUE_BYTES + HEADER_BYTES;
}

/*
 * The control fields every operation and walk relies on (first, sentinel,
 * heads) agree with each other and with the region's size: NULL, or which
 * one does not. Cheap enough for the checked heap to ask on every operation
 * (an underflow of the first block walks down through the prologue into the
 * list heads towards them).
 */
static inline HEAP_PROBING const char *control_problem(const struct heap *heap)
{
	size_t bytes = heap->region_bytes & ~CHUNK_FLAGS;
	unsigned fl_count = heap->fl_count;
	const char *base = (const char *)heap;

	if (heap->magic != HEAP_MAGIC || bytes < MIN_CHUNK || fl_count > FL_COUNT_MAX
		|| fl_count != fl_count_for(bytes))
		return "the heap's control structure is damaged (magic, size or rows)";
	if ((const char *)heap->heads != base + heads_offset(fl_count)
		|| (const char *)heap->first != base + prologue_offset(fl_count) + PROLOGUE_BYTES
		|| (const char *)heap->sentinel != base + bytes - HEADER_BYTES)
		return "the heap's control structure is damaged (a layout pointer)";
	return NULL;
}

#endif /* AREA_MALLOC_CORE_HEAP_LAYOUT_H */
