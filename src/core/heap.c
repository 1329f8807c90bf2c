/*
 * heap.c - the allocator core: a TLSF-class good-fit heap in one region.
 *
 * Role
 *   Carves blocks out of one contiguous region for the pool layer (release
 *   and debug builds alike). heap_alloc() and heap_free() run in constant
 *   time: segregated free lists indexed by a two-level bitmap (TLSF, Masmano
 *   et al.), boundary tags, immediate coalescing. Everything the heap needs
 *   lives inside the region, so a pool is just an area.
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
 *   +8  size_flags  this chunk's size (a multiple of 16) | CHUNK_USED
 *   +16 payload     free chunks keep next_free, prev_free here
 *
 *   The header is 16 bytes, so the payload is 16-aligned and the per-block
 *   overhead is exactly HEAP_BLOCK_OVERHEAD. The minimum chunk is 32 bytes:
 *   the header plus the two free-list links.
 *
 * Free lists
 *   Doubly linked, LIFO, ended by list_end (a dummy chunk in struct heap)
 *   rather than NULL, so linking writes the neighbour's back link without
 *   testing for it. A list head's prev_free is never read (remove_free asks
 *   the heads array whether c is a head), so popping a head does not write
 *   to the next chunk. Bitmap bits are cleared without branches. Those
 *   three choices remove the mispredicted branches and cache misses that
 *   dominated the churn benchmark (tests/heap/bench_heap).
 *
 * Allocation
 *   The request is rounded up to the next size class before the bitmap
 *   search (round_up_to_class, then mapping_insert), so the head of whatever
 *   list is found fits: good fit in O(1), no list walking. Rounding up can
 *   skip the one class that holds a large enough block (e.g. asking for
 *   nearly all of a pool), so when the search finds nothing, up to
 *   FALLBACK_SCAN blocks of the request's own class are tried. The remainder
 *   of a block is split off as a free chunk when it can form a minimum
 *   chunk. heap_get_stats() reports as largest_free exactly the largest
 *   request those two steps satisfy.
 *
 * Touched mark
 *   touched_end is a high-water mark: bytes of the block range at or above it
 *   were never handed out nor written as metadata since heap_init(), so they
 *   still hold the zeros of a fresh mapping. heap_alloc_zeroed() clears only
 *   the part of a block below the mark as it was before the allocation, so a
 *   large calloc in a lazily committed pool commits nothing. Every write of a
 *   header or free-list link and every hand-out moves the mark first.
 *   The sentinel header, written at init, lies past every payload and is not
 *   counted.
 *
 * Invariants (heap_validate() checks each one and names it when broken)
 *   I1  The control structure is intact: magic, layout pointers, prologue.
 *   I2  Chunks tile [first, sentinel) exactly: each size is a multiple of 16
 *       and at least 32, no chunk crosses the sentinel, the walk ends on it.
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
 * Sizes: requests above max_request (the region's capacity less one header)
 * return NULL before any arithmetic, which also rules out overflow when
 * rounding. heap_region_bytes_for() returns SIZE_MAX when no region can
 * serve the size.
 *
 * Locking: none; the owner serialises all calls on one heap (see heap.h).
 */
#include "config.h"

#include "core/heap.h"

#include <stdalign.h>
#include <string.h>

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
	uint32_t sl_bitmap[];
};

struct list_index {
	unsigned fl;
	unsigned sl;
};

/* ---- chunk accessors ---------------------------------------------------- */

static inline size_t chunk_size(const struct chunk *c)
{
	return c->size_flags & ~CHUNK_FLAGS;
}

static inline bool chunk_is_used(const struct chunk *c)
{
	return c->size_flags & CHUNK_USED;
}

static inline struct chunk *chunk_at(const struct chunk *c, size_t offset)
{
	return (struct chunk *)((char *)c + offset);
}

static inline struct chunk *next_chunk(const struct chunk *c)
{
	return chunk_at(c, chunk_size(c));
}

static inline struct chunk *prev_chunk(const struct chunk *c)
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
	return (struct list_index){flat >> SL_LOG2, flat & (SL_COUNT - 1)};
}

/* Rounds size up so that it maps to the first class whose sizes all fit it. */
static inline size_t round_up_to_class(size_t size)
{
	return size + ((size_t)1 << (class_log2(size) - SL_LOG2)) - 1;
}

static inline struct chunk **list_head(const struct heap *heap, struct list_index at)
{
	return &heap->heads[at.fl * SL_COUNT + at.sl];
}

static inline struct chunk *list_end(const struct heap *heap)
{
	return (struct chunk *)&heap->list_end;
}

/*
 * After the head of list 'at' was replaced by new_head: clears the list's
 * bit, and its row's, when they became empty. Without branches: whether a
 * list empties is a coin toss the predictor would lose.
 */
static inline void update_list_bits(
	struct heap *heap, struct list_index at, const struct chunk *new_head)
{
	uint32_t emptied = new_head == list_end(heap);
	heap->sl_bitmap[at.fl] &= ~(emptied << at.sl);
	heap->fl_bitmap &= ~((uint64_t)(heap->sl_bitmap[at.fl] == 0) << at.fl);
}

/* ---- free lists --------------------------------------------------------- */

static inline void touch(struct heap *heap, uintptr_t end)
{
	if (end > heap->touched_end)
		heap->touched_end = end;
}

static inline void insert_free(struct heap *heap, struct chunk *c)
{
	struct list_index at = mapping_insert(chunk_size(c));
	struct chunk **head = list_head(heap, at);
	struct chunk *old_head = *head;

	/*
	 * A head's prev_free is never read (remove_free asks the head array),
	 * so only the old head's back link is written: into list_end when the
	 * list was empty, which is harmless.
	 */
	c->next_free = old_head;
	old_head->prev_free = c;
	*head = c;
	heap->sl_bitmap[at.fl] |= 1u << at.sl;
	heap->fl_bitmap |= (uint64_t)1 << at.fl;
}

static inline void remove_free(struct heap *heap, struct chunk *c)
{
	struct list_index at = mapping_insert(chunk_size(c));
	struct chunk **head = list_head(heap, at);
	struct chunk *next = c->next_free;

	if (*head == c) {
		*head = next;
		update_list_bits(heap, at, next);
		return;
	}
	struct chunk *prev = c->prev_free;
	prev->next_free = next;
	next->prev_free = prev;
}

/* Tries up to FALLBACK_SCAN blocks of need's own class; see "Allocation". */
static struct chunk *scan_own_class(struct heap *heap, size_t need)
{
	struct chunk *c = *list_head(heap, mapping_insert(need));

	for (int i = 0; c != list_end(heap) && i < FALLBACK_SCAN; i++, c = c->next_free) {
		if (chunk_size(c) >= need) {
			remove_free(heap, c);
			return c;
		}
	}
	return NULL;
}

/* Unlinks and returns a free chunk of at least need bytes, or NULL. */
static inline struct chunk *take_free_chunk(struct heap *heap, size_t need)
{
	struct list_index at = mapping_insert(round_up_to_class(need));

	if (likely(at.fl < heap->fl_count)) {
		uint32_t sl_map = heap->sl_bitmap[at.fl] & (~0u << at.sl);
		if (!sl_map) {
			uint64_t fl_map = heap->fl_bitmap & (~(uint64_t)0 << (at.fl + 1));
			if (fl_map) {
				at.fl = (unsigned)__builtin_ctzll(fl_map);
				sl_map = heap->sl_bitmap[at.fl];
			}
		}
		if (likely(sl_map)) {
			at.sl = (unsigned)__builtin_ctz(sl_map);
			struct chunk **head = list_head(heap, at);
			struct chunk *c = *head;
			struct chunk *next = c->next_free;
			*head = next;
			update_list_bits(heap, at, next);
			return c;
		}
	}
	return scan_own_class(heap, need);
}

/*
 * Marks c, which is in no list and spans have bytes, used with need bytes,
 * splitting off the rest as a free chunk when it forms a minimum chunk. The
 * chunk above c's span must already carry prev_size == have. Returns the
 * size c ends up with.
 */
static inline size_t become_used(struct heap *heap, struct chunk *c, size_t have, size_t need)
{
	size_t rest = have - need;

	if (rest >= MIN_CHUNK) {
		struct chunk *tail = chunk_at(c, need);
		touch(heap, address(tail) + MIN_CHUNK);
		tail->prev_size = need;
		tail->size_flags = rest;
		chunk_at(tail, rest)->prev_size = rest;
		insert_free(heap, tail);
		heap->free_blocks++;
		have = need;
	} else {
		touch(heap, address(c) + have);
	}
	c->size_flags = have | CHUNK_USED;
	return have;
}

static inline void account_used(struct heap *heap, size_t used_bytes)
{
	heap->used_bytes = used_bytes;
	if (used_bytes > heap->peak_used_bytes)
		heap->peak_used_bytes = used_bytes;
}

/* ---- layout ------------------------------------------------------------- */

static size_t align_up(size_t x, size_t alignment)
{
	return (x + alignment - 1) & ~(alignment - 1);
}

/* Rows of size classes a region of 'bytes' can need: its chunks are smaller. */
static unsigned fl_count_for(size_t bytes)
{
	return mapping_insert(bytes - 1).fl + 1;
}

static size_t heads_offset(unsigned fl_count)
{
	return align_up(offsetof(struct heap, sl_bitmap) + fl_count * sizeof(uint32_t),
		alignof(struct chunk *));
}

static size_t prologue_offset(unsigned fl_count)
{
	return align_up(
		heads_offset(fl_count) + (size_t)fl_count * SL_COUNT * sizeof(struct chunk *),
		HEAP_ALIGN);
}

/* Everything in a region that is not chunks: control, prologue, sentinel. */
static size_t control_bytes(unsigned fl_count)
{
	return prologue_offset(fl_count) + PROLOGUE_BYTES + HEADER_BYTES;
}

/* ---- public interface --------------------------------------------------- */

struct heap *heap_init(void *mem, size_t bytes)
{
	if (!mem || address(mem) % HEAP_ALIGN)
		return NULL;
	size_t region_bytes = bytes;
	bytes &= ~CHUNK_FLAGS;
	if (bytes < MIN_CHUNK || address(mem) + bytes < address(mem))
		return NULL;
	unsigned fl_count = fl_count_for(bytes);
	if (bytes < control_bytes(fl_count) + MIN_CHUNK)
		return NULL;

	struct heap *heap = mem;
	memset(heap, 0, heads_offset(fl_count));
	heap->magic = HEAP_MAGIC;
	heap->fl_count = fl_count;
	heap->heads = (struct chunk **)((char *)mem + heads_offset(fl_count));
	for (size_t i = 0; i < (size_t)fl_count * SL_COUNT; i++)
		heap->heads[i] = list_end(heap);
	heap->region_bytes = region_bytes;

	struct chunk *prologue = (struct chunk *)((char *)mem + prologue_offset(fl_count));
	prologue->prev_size = 0;
	prologue->size_flags = PROLOGUE_BYTES | CHUNK_USED;

	struct chunk *first = chunk_at(prologue, PROLOGUE_BYTES);
	struct chunk *sentinel = (struct chunk *)((char *)mem + bytes - HEADER_BYTES);
	size_t capacity = address(sentinel) - address(first);
	heap->first = first;
	heap->sentinel = sentinel;
	heap->max_request = capacity - HEADER_BYTES;
	heap->touched_end = address(first) + MIN_CHUNK;

	sentinel->prev_size = capacity;
	sentinel->size_flags = CHUNK_USED;
	first->prev_size = PROLOGUE_BYTES;
	first->size_flags = capacity;
	insert_free(heap, first);
	heap->free_blocks = 1;
	return heap;
}

size_t heap_region_bytes_for(size_t size)
{
	if (size > SIZE_MAX / 4)
		return SIZE_MAX;
	size_t need = chunk_size_for(size);
	/*
	 * The control grows with the region, so iterate: each candidate is a
	 * lower bound of the answer, and the first that fits is the smallest.
	 */
	size_t region = need + control_bytes(fl_count_for(need));
	while (region < need + control_bytes(fl_count_for(region)))
		region = need + control_bytes(fl_count_for(region));
	return region;
}

void *heap_alloc(struct heap *heap, size_t size)
{
	if (unlikely(size > heap->max_request))
		return NULL;
	size_t need = chunk_size_for(size);
	struct chunk *c = take_free_chunk(heap, need);
	if (unlikely(!c))
		return NULL;
	heap->free_blocks--;
	size_t got = become_used(heap, c, chunk_size(c), need);
	heap->used_blocks++;
	account_used(heap, heap->used_bytes + got);
	return chunk_payload(c);
}

void *heap_alloc_reporting_dirty(struct heap *heap, size_t size, size_t *dirty_bytes)
{
	uintptr_t clean_from = heap->touched_end;
	void *ptr = heap_alloc(heap, size);

	*dirty_bytes = 0;
	if (ptr && address(ptr) < clean_from) {
		size_t dirty = clean_from - address(ptr);
		*dirty_bytes = dirty < size ? dirty : size;
	}
	return ptr;
}

void *heap_alloc_zeroed(struct heap *heap, size_t size)
{
	size_t dirty;
	void *ptr = heap_alloc_reporting_dirty(heap, size, &dirty);

	if (ptr && dirty > 0)
		memset(ptr, 0, dirty);
	return ptr;
}

/* NULL is accepted and ignored, as free() does. */
void heap_free(struct heap *heap, void *ptr)
{
	if (!ptr)
		return;
	struct chunk *c = payload_to_chunk(ptr);
	size_t size = chunk_size(c);

	heap->used_bytes -= size;
	heap->used_blocks--;
	/* clear the flag now: a header left behind by merging down must not look live */
	c->size_flags = size;

	struct chunk *next = chunk_at(c, size);
	if (!chunk_is_used(next)) {
		remove_free(heap, next);
		size += chunk_size(next);
		heap->free_blocks--;
	}
	struct chunk *prev = prev_chunk(c);
	if (!chunk_is_used(prev)) {
		remove_free(heap, prev);
		size += chunk_size(prev);
		c = prev;
		heap->free_blocks--;
	}
	c->size_flags = size;
	chunk_at(c, size)->prev_size = size;
	insert_free(heap, c);
	heap->free_blocks++;
}

bool heap_resize_in_place(struct heap *heap, void *ptr, size_t size)
{
	if (size > heap->max_request)
		return false;
	size_t need = chunk_size_for(size);
	struct chunk *c = payload_to_chunk(ptr);
	size_t size_now = chunk_size(c);
	struct chunk *next = chunk_at(c, size_now);
	size_t have = size_now;

	if (!chunk_is_used(next))
		have += chunk_size(next);
	if (need > have)
		return false;
	if (need == size_now || (have == size_now && size_now - need < MIN_CHUNK))
		return true; /* fits, and no tail worth giving back */
	if (have != size_now) {
		remove_free(heap, next);
		heap->free_blocks--;
		chunk_at(c, have)->prev_size = have;
	}
	size_t got = become_used(heap, c, have, need);
	account_used(heap, heap->used_bytes - size_now + got);
	return true;
}

/* A NULL ptr allocates, as realloc() does. */
void *heap_realloc(struct heap *heap, void *ptr, size_t size)
{
	if (!ptr)
		return heap_alloc(heap, size);
	if (heap_resize_in_place(heap, ptr, size))
		return ptr;
	void *moved = heap_alloc(heap, size);
	if (!moved)
		return NULL;
	size_t old_usable = heap_usable_size(heap, ptr);
	memcpy(moved, ptr, old_usable < size ? old_usable : size);
	heap_free(heap, ptr);
	return moved;
}

size_t heap_usable_size(const struct heap *heap, const void *ptr)
{
	(void)heap;
	return chunk_size(payload_to_chunk(ptr)) - HEADER_BYTES;
}

bool heap_contains(const struct heap *heap, const void *ptr)
{
	return heap && address(ptr) >= address(heap->first) &&
	       address(ptr) < address(heap->sentinel);
}

/*
 * Loads a header word that an untrusted pointer leads to. The debug build
 * hides blocks from AddressSanitizer, and a wild pointer may land in one:
 * probing such bytes is this function's job, so it is exempt. An exempt
 * function must not be inlined into instrumented callers. (Inlining it in
 * builds without a sanitizer made debug frees 3 % faster but the release
 * build's churn 10 % slower, two threads on one pool included: kept out of
 * line.)
 */
__attribute__((no_sanitize("address", "thread"), noinline)) static size_t probe_word(uintptr_t at)
{
	return *(const volatile size_t *)at;
}

bool heap_block_is_live(const struct heap *heap, const void *ptr)
{
	if (!heap || address(ptr) % HEAP_ALIGN)
		return false;
	uintptr_t c_at = address(ptr) - HEADER_BYTES;
	if (address(ptr) < address(heap->first) + HEADER_BYTES ||
		c_at > address(heap->sentinel) - MIN_CHUNK)
		return false;

	size_t size_flags = probe_word(c_at + offsetof(struct chunk, size_flags));
	if ((size_flags & CHUNK_FLAGS) != CHUNK_USED)
		return false;
	size_t size = size_flags & ~CHUNK_FLAGS;
	if (size < MIN_CHUNK || size > address(heap->sentinel) - c_at)
		return false;
	if (probe_word(c_at + size + offsetof(struct chunk, prev_size)) != size)
		return false;
	/* the prologue sits just below first, so a sane prev_size lands on a header */
	size_t below = probe_word(c_at + offsetof(struct chunk, prev_size));
	if (below % HEAP_ALIGN || below > c_at - (address(heap->first) - PROLOGUE_BYTES))
		return false;
	return below >= PROLOGUE_BYTES
		&& (probe_word(c_at - below + offsetof(struct chunk, size_flags)) & ~CHUNK_FLAGS)
		== below;
}

/*
 * The lock-free half of heap_block_is_live(), for a thread that frees a block
 * without the heap's owner serialising the call (the release build's thread
 * caches). It reads only the block's own header and the boundary tag just
 * above it: while the block is live, only operations on this very block
 * write them, never a split or merge of its neighbours (a merge from below
 * rewrites the block's prev_size, which is not read). Returns the usable
 * size, or 0 when ptr is not plausibly a live block; callers fall back to
 * the locked check then.
 */
size_t heap_live_usable_size_unlocked(const struct heap *heap, const void *ptr, size_t max_usable)
{
	if (!heap || address(ptr) % HEAP_ALIGN)
		return 0;
	uintptr_t c_at = address(ptr) - HEADER_BYTES;
	if (address(ptr) < address(heap->first) + HEADER_BYTES ||
		c_at > address(heap->sentinel) - MIN_CHUNK)
		return 0;
	size_t size_flags = probe_word(c_at + offsetof(struct chunk, size_flags));
	size_t size = size_flags & ~CHUNK_FLAGS;
	/* too large for the caller: no need to read the tag above (a line of
	 * its own, often cold, for a large block) */
	if (size - HEADER_BYTES > max_usable)
		return 0;
	if ((size_flags & CHUNK_FLAGS) != CHUNK_USED || size < MIN_CHUNK ||
		size > address(heap->sentinel) - c_at ||
		probe_word(c_at + size + offsetof(struct chunk, prev_size)) != size)
		return 0;
	return size - HEADER_BYTES;
}

/*
 * The largest request take_free_chunk() satisfies: the good-fit search serves
 * any request up to the lowest size of the highest non-empty class, and the
 * fallback any size up to the largest of the FALLBACK_SCAN blocks it tries in
 * that class. Every block of the class is at least its lowest size.
 */
static size_t largest_request(const struct heap *heap)
{
	if (!heap->fl_bitmap)
		return 0;
	struct list_index top;
	top.fl = log2_floor(heap->fl_bitmap);
	top.sl = 31 - (unsigned)__builtin_clz(heap->sl_bitmap[top.fl]);
	size_t largest = 0;
	const struct chunk *c = *list_head(heap, top);
	for (int i = 0; c != list_end(heap) && i < FALLBACK_SCAN; i++, c = c->next_free) {
		if (chunk_size(c) > largest)
			largest = chunk_size(c);
	}
	return largest - HEADER_BYTES;
}

void heap_get_stats(const struct heap *heap, struct heap_stats *stats)
{
	size_t capacity = address(heap->sentinel) - address(heap->first);

	*stats = (struct heap_stats){
		.region_bytes = heap->region_bytes,
		.capacity_bytes = capacity,
		.used_bytes = heap->used_bytes,
		.peak_used_bytes = heap->peak_used_bytes,
		.free_bytes = capacity - heap->used_bytes,
		.largest_free = largest_request(heap),
		.used_blocks = heap->used_blocks,
		.free_blocks = heap->free_blocks,
	};
}

void heap_walk(const struct heap *heap, heap_walk_fn fn, void *context)
{
	/* fn must not change the heap: the next chunk is read after it returns */
	for (const struct chunk *c = heap->first; c != heap->sentinel; c = next_chunk(c))
		fn(chunk_payload(c), chunk_size(c) - HEADER_BYTES, chunk_is_used(c), context);
}

uintptr_t heap_touched_end(const struct heap *heap)
{
	return heap->touched_end;
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
