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
 * Layout and invariants: heap_layout.h. The validator (heap_validate) and
 * the walk of an untrusted copy (heap_walk_image) live apart from this fast
 * path, in heap_check.c.
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
 * Sizes: requests above max_request (the region's capacity less one header)
 * return NULL before any arithmetic, which also rules out overflow when
 * rounding. heap_region_bytes_for() returns SIZE_MAX when no region can
 * serve the size.
 *
 * Locking: none; the owner serialises all calls on one heap (see heap.h).
 */
#include "config.h"

#include <string.h>

#include "core/heap.h"
#include "core/heap_fast.h"
#include "core/heap_layout.h"

_Static_assert(offsetof(struct chunk, prev_size) == HEADER_BYTES - HEAP_FAST_PREV_SIZE_BACK
		&& offsetof(struct chunk, size_flags) == HEADER_BYTES - HEAP_FAST_SIZE_FLAGS_BACK
		&& HEAP_FAST_FLAGS == CHUNK_FLAGS && HEAP_FAST_USED == CHUNK_USED
		&& HEAP_FAST_MIN_CHUNK == MIN_CHUNK,
	"heap_fast.h reads the chunk layout of heap_layout.h");

/* ---- the checked heap --------------------------------------------------- */

/*
 * Built with HEAP_CHECKED=1 (the debug build's copy of this file), every
 * operation checks each tag and link it is about to follow or write through
 * before it changes anything: a driver's overflow may have written any bytes
 * over chunk headers and free-list links, and following a damaged one would
 * loop, fault or scribble elsewhere. On damage the operation changes nothing
 * and fails (alloc NULL, resize false, free leaves the block used), and the
 * first damage is recorded (heap_damaged()); every later change is refused
 * too, until heap_clear_damage(). Built without (the release build), every
 * check below compiles away: `if (HEAP_CHECKED && ...)`.
 */

#if HEAP_CHECKED
/* initial-exec: the debug module is dlopen()ed, and the default model would
 * call __tls_get_addr() on every allocation */
__thread uint64_t *heap_change_note __attribute__((tls_model("initial-exec")));

/* Tells the owner which chunk an allocation takes (heap.h): a compiler
 * barrier on each side keeps the stores ahead of the chunk's own, so a
 * process killed between any two of them leaves a note that covers them. */
static inline void note_change(const struct chunk *c)
{
	uint64_t *note = heap_change_note;

	if (note == NULL)
		return;
	note[1] = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	note[0] = address(c);
	note[1] = address(c) + chunk_size(c);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
#else
static inline void note_change(const struct chunk *c)
{
	(void)c;
}
#endif

/* Records the first damage; returns false, for `return ... || record(...)`. */
static bool record_damage(struct heap *heap, const void *at, const char *why)
{
	if (heap->damage_at == 0) {
		heap->damage_at = address(at);
		heap->damage_why = why;
	}
	return false;
}

/* The heap's own layout pointers, before any of them is followed. */
static bool control_sound(struct heap *heap)
{
	const char *why = control_problem(heap);

	return why == NULL || record_damage(heap, heap, why);
}

/* c (a chunk address) has a sane header and the boundary tag above agrees. */
HEAP_PROBING static bool tags_sound(struct heap *heap, const struct chunk *c)
{
	size_t size = chunk_size(c);

	if ((c->size_flags & CHUNK_FLAGS & ~CHUNK_USED) != 0)
		return record_damage(heap, &c->size_flags, "a chunk header has unknown flag bits");
	if (size < MIN_CHUNK || size > address(heap->sentinel) - address(c))
		return record_damage(heap, &c->size_flags,
			"a chunk size tag leads outside the heap");
	if (chunk_at(c, size)->prev_size != size)
		return record_damage(heap, chunk_at(c, size),
			"a prev_size tag disagrees with the chunk below it");
	return true;
}

/* The chunk above c, about to be merged with or written: sound, or the end. */
HEAP_PROBING static bool above_sound(struct heap *heap, const struct chunk *next)
{
	if (next == heap->sentinel)
		return next->size_flags == CHUNK_USED
			|| record_damage(heap, &next->size_flags,
				"the heap's end sentinel is damaged");
	return tags_sound(heap, next);
}

/* The chunk below c, which c's prev_size names: the prologue or a chunk
 * whose size tag agrees. */
HEAP_PROBING static bool below_sound(struct heap *heap, const struct chunk *c)
{
	size_t below = c->prev_size;

	/* bounded first: prev_chunk(c) is then the prologue or a chunk */
	if (below % HEAP_ALIGN != 0 || below < PROLOGUE_BYTES
		|| below > address(c) - (address(heap->first) - PROLOGUE_BYTES)
		|| chunk_size(prev_chunk(c)) != below)
		return record_damage(heap, c, "a prev_size tag disagrees with the chunk below it");
	return true;
}

/* A free chunk about to be taken off its list: its tags and both links. */
HEAP_PROBING static bool free_chunk_sound(struct heap *heap, const struct chunk *c)
{
	const struct chunk *next, *prev;

	if (!is_chunk_address(heap, c) || chunk_is_used(c))
		return record_damage(heap, c, "a free-list link names no free chunk");
	if (!tags_sound(heap, c))
		return false;
	next = c->next_free;
	if (next != list_end(heap)
		&& (!is_chunk_address(heap, next) || chunk_is_used(next) || next->prev_free != c))
		return record_damage(heap, &c->next_free, "a free chunk's next link is damaged");
	if (*list_head(heap, mapping_insert(chunk_size(c))) == c)
		return c->prev_free == list_end(heap)
			|| record_damage(heap, &c->prev_free,
				"a free-list head's back link is damaged");
	prev = c->prev_free;
	if (!is_chunk_address(heap, prev) || chunk_is_used(prev) || prev->next_free != c)
		return record_damage(heap, &c->prev_free, "a free chunk's back link is damaged");
	return true;
}

/* The head of the list a chunk of size bytes goes to (insert_free writes
 * through it): the list's end or a free chunk. */
HEAP_PROBING static bool head_sound(struct heap *heap, size_t size)
{
	struct chunk **head = list_head(heap, mapping_insert(size));
	const struct chunk *c = *head;

	if (c != list_end(heap) && (!is_chunk_address(heap, c) || chunk_is_used(c)))
		return record_damage(heap, head, "a free-list head names no free chunk");
	return true;
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
	/* the checked heap keeps a head's back link known, so a write there is
	 * damage it can see (the release heap never reads it) */
	if (HEAP_CHECKED)
		c->prev_free = list_end(heap);
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
		if (HEAP_CHECKED)
			next->prev_free = list_end(heap);
		update_list_bits(heap, at, next);
		return;
	}
	struct chunk *prev = c->prev_free;
	prev->next_free = next;
	next->prev_free = prev;
}

/* A chunk found for need bytes, before it is taken: sound, and the list
 * its remainder would go to too (checked heap). */
static inline bool take_sound(struct heap *heap, const struct chunk *c, size_t need)
{
	return !HEAP_CHECKED
		|| (free_chunk_sound(heap, c)
			&& (chunk_size(c) - need < MIN_CHUNK
				|| head_sound(heap, chunk_size(c) - need)));
}

/* Tries up to FALLBACK_SCAN blocks of need's own class; see "Allocation". */
static struct chunk *scan_own_class(struct heap *heap, size_t need)
{
	struct chunk *c = *list_head(heap, mapping_insert(need));

	for (int i = 0; c != list_end(heap) && i < FALLBACK_SCAN; i++, c = c->next_free) {
		if (HEAP_CHECKED && !free_chunk_sound(heap, c))
			return NULL;
		if (chunk_size(c) >= need) {
			if (!take_sound(heap, c, need))
				return NULL;
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
			if (HEAP_CHECKED && c == list_end(heap)) {
				record_damage(heap, &heap->sl_bitmap[at.fl],
					"a free-list bitmap names an empty list");
				return NULL;
			}
			if (!take_sound(heap, c, need))
				return NULL;
			struct chunk *next = c->next_free;
			*head = next;
			if (HEAP_CHECKED)
				next->prev_free = list_end(heap);
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
	c->size_flags = have | CHUNK_USED | chunk_check_bits(c, have);
	return have;
}

static inline void account_used(struct heap *heap, size_t used_bytes)
{
	heap->used_bytes = used_bytes;
	if (used_bytes > heap->peak_used_bytes)
		heap->peak_used_bytes = used_bytes;
}

/* ---- public interface --------------------------------------------------- */

/* The bytes between the first chunk and the sentinel of a heap placed in a
 * region of bytes (a multiple of HEAP_ALIGN) with fl_count classes. */
static size_t capacity_of(size_t bytes, unsigned fl_count)
{
	return bytes - HEADER_BYTES - (prologue_offset(fl_count) + PROLOGUE_BYTES);
}

size_t heap_capacity_for_region(size_t bytes)
{
	bytes &= ~CHUNK_FLAGS;
	if (bytes < MIN_CHUNK || bytes < control_bytes(fl_count_for(bytes)) + MIN_CHUNK)
		return 0;
	return capacity_of(bytes, fl_count_for(bytes));
}

size_t heap_chunk_bytes_for(size_t size)
{
	return size > SIZE_MAX / 4 ? SIZE_MAX : chunk_size_for(size);
}

struct heap *heap_init(void *mem, size_t bytes)
{
	if (!mem || address(mem) % HEAP_ALIGN)
		return NULL;
	size_t region_bytes = bytes;
	bytes &= ~CHUNK_FLAGS;
	/* every size must fit below the check bits (heap_layout.h) */
	if (bytes < MIN_CHUNK || address(mem) + bytes < address(mem) || size_of_tag(bytes) != bytes)
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
	size_t capacity = capacity_of(bytes, fl_count);
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
	if (unlikely(size > heap->max_request)
		|| (HEAP_CHECKED && (heap->damage_at != 0 || !control_sound(heap))))
		return NULL;
	size_t need = chunk_size_for(size);
	struct chunk *c = take_free_chunk(heap, need);
	if (unlikely(!c))
		return NULL;
	note_change(c);
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

/* Everything heap_free(c) follows and writes (checked heap): c's tags, both
 * neighbours (and their links when they are merged), the list the merged
 * chunk goes to. */
HEAP_PROBING static bool free_sound(struct heap *heap, const struct chunk *c)
{
	size_t merged = chunk_size(c);
	const struct chunk *next, *prev;

	if (heap->damage_at != 0 || !control_sound(heap))
		return false;
	if (!chunk_is_used(c))
		return record_damage(heap, c, "a block given back is not in use");
	if (!tags_sound(heap, c))
		return false;
	next = chunk_at(c, merged);
	if (!above_sound(heap, next) || !below_sound(heap, c))
		return false;
	if (!chunk_is_used(next)) {
		if (!free_chunk_sound(heap, next))
			return false;
		merged += chunk_size(next);
	}
	prev = prev_chunk(c);
	if (!chunk_is_used(prev)) {
		if (!free_chunk_sound(heap, prev))
			return false;
		merged += chunk_size(prev);
	}
	return head_sound(heap, merged);
}

/* Frees chunk c (used) and returns the free chunk it ended up in, merged
 * with its free neighbours; NULL when the checked heap refused. */
static inline struct chunk *free_chunk(struct heap *heap, struct chunk *c)
{
	size_t size = chunk_size(c);

	if (HEAP_CHECKED && !free_sound(heap, c))
		return NULL;
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
	return c;
}

/* NULL is accepted and ignored, as free() does. */
void heap_free(struct heap *heap, void *ptr)
{
	if (ptr)
		free_chunk(heap, payload_to_chunk(ptr));
}

void *heap_free_merged(struct heap *heap, void *ptr, size_t *usable)
{
	struct chunk *merged = free_chunk(heap, payload_to_chunk(ptr));

	if (merged == NULL)
		return NULL;
	*usable = chunk_size(merged) - HEADER_BYTES;
	return chunk_payload(merged);
}

void *heap_free_above(const struct heap *heap, const void *ptr, size_t *usable)
{
	const struct chunk *next = next_chunk(payload_to_chunk(ptr));

	if (next == heap->sentinel || chunk_is_used(next))
		return NULL;
	*usable = chunk_size(next) - HEADER_BYTES;
	return chunk_payload(next);
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

	if (HEAP_CHECKED
		&& (heap->damage_at != 0 || !control_sound(heap) || !tags_sound(heap, c)
			|| !above_sound(heap, next)
			|| (!chunk_is_used(next) && !free_chunk_sound(heap, next))))
		return false;
	if (!chunk_is_used(next))
		have += chunk_size(next);
	if (need > have)
		return false;
	if (need == size_now || (have == size_now && size_now - need < MIN_CHUNK))
		return true; /* fits, and no tail worth giving back */
	if (HEAP_CHECKED && have - need >= MIN_CHUNK && !head_sound(heap, have - need))
		return false;
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
	return heap && address(ptr) >= address(heap->first)
		&& address(ptr) < address(heap->sentinel);
}

/*
 * Loads a header word that an untrusted pointer leads to. The debug build
 * hides blocks from AddressSanitizer, and a wild pointer may land in one:
 * probing such bytes is this function's job, so it is exempt. An exempt
 * function must not be inlined into instrumented callers. Inlining it in
 * builds without a sanitizer made debug frees 3 % faster but the release
 * build's churn 10 % slower, two threads on one pool included: it is
 * inlined in the checked heap (the debug build's, which probes several
 * times a call, under its pool's lock) of a build without sanitizers, and
 * kept out of line in the release heap.
 */
#if HEAP_CHECKED && !defined(AREA_MALLOC_BUILT_WITH_ASAN) && !defined(AREA_MALLOC_BUILT_WITH_TSAN)
#define PROBE_PLACEMENT inline __attribute__((always_inline))
#else
#define PROBE_PLACEMENT __attribute__((no_sanitize("address", "thread"), noinline))
#endif

static PROBE_PLACEMENT size_t probe_word(uintptr_t at)
{
	return *(const volatile size_t *)at;
}

bool heap_block_is_live(const struct heap *heap, const void *ptr)
{
	if (!heap || address(ptr) % HEAP_ALIGN)
		return false;
	uintptr_t c_at = address(ptr) - HEADER_BYTES;
	if (address(ptr) < address(heap->first) + HEADER_BYTES
		|| c_at > address(heap->sentinel) - MIN_CHUNK)
		return false;

	size_t size_flags = probe_word(c_at + offsetof(struct chunk, size_flags));
	size_t size = size_of_tag(size_flags);
	if ((size_flags & CHUNK_FLAGS) != CHUNK_USED
		|| (size_flags & CHUNK_CHECK_MASK)
			!= chunk_check_bits((const struct chunk *)c_at, size))
		return false;
	if (size < MIN_CHUNK || size > address(heap->sentinel) - c_at)
		return false;
	if (probe_word(c_at + size + offsetof(struct chunk, prev_size)) != size)
		return false;
	/* the prologue sits just below first, so a sane prev_size lands on a header */
	size_t below = probe_word(c_at + offsetof(struct chunk, prev_size));
	if (below % HEAP_ALIGN || below > c_at - (address(heap->first) - PROLOGUE_BYTES))
		return false;
	return below >= PROLOGUE_BYTES
		&& size_of_tag(probe_word(c_at - below + offsetof(struct chunk, size_flags)))
		== below;
}

/*
 * The lock-free half of heap_block_is_live(), for a thread that frees a block
 * without the heap's owner serialising the call (the release build's thread
 * caches, the debug build's checks ahead of the lock). It reads only the
 * block's own size tag and, in the checked heap, the boundary tag just
 * above it (the release heap's size tag carries check bits instead, in the
 * block's own header line: heap_fast.h says why): while the block is live,
 * only operations on this very block write them, never a split or merge of
 * its neighbours (a merge from below rewrites the block's prev_size, which
 * is not read). Returns the usable size, or 0 when ptr is not plausibly a
 * live block; callers fall back to the locked check then.
 */
size_t heap_live_usable_size_unlocked(const struct heap *heap, const void *ptr, size_t max_usable)
{
	if (!heap || address(ptr) % HEAP_ALIGN)
		return 0;
	uintptr_t c_at = address(ptr) - HEADER_BYTES;
	if (address(ptr) < address(heap->first) + HEADER_BYTES
		|| c_at > address(heap->sentinel) - MIN_CHUNK)
		return 0;
	size_t size_flags = probe_word(c_at + offsetof(struct chunk, size_flags));
	size_t size = size_of_tag(size_flags);
	if (size - HEADER_BYTES > max_usable)
		return 0;
	if ((size_flags & CHUNK_FLAGS) != CHUNK_USED || size < MIN_CHUNK
		|| size > address(heap->sentinel) - c_at)
		return 0;
	if (HEAP_CHECKED ? probe_word(c_at + size + offsetof(struct chunk, prev_size)) != size
			 : (size_flags & CHUNK_CHECK_MASK)
				!= chunk_check_bits((const struct chunk *)c_at, size))
		return 0;
	return size - HEADER_BYTES;
}

/* The range heap_live_usable_size_unlocked() accepts, for its inline twin. */
void heap_fast_get_bounds(const struct heap *heap, struct heap_fast_bounds *bounds)
{
	uintptr_t highest = address(heap->sentinel) - MIN_CHUNK + HEADER_BYTES;

	bounds->low = address(heap->first) + HEADER_BYTES;
	bounds->span = highest - bounds->low + 1;
	bounds->sentinel = address(heap->sentinel);
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

uintptr_t heap_touched_end(const struct heap *heap)
{
	return heap->touched_end;
}
