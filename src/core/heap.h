/*
 * heap.h - the allocator core shared by the release and debug builds.
 *
 * A heap manages one contiguous memory region (a pool's area, or the block
 * part of it). Its control structure lives at the start of the region, so a
 * heap needs nothing outside its own memory. It is a TLSF-class good-fit
 * allocator: segregated free lists indexed by two-level bitmaps, boundary
 * tags and immediate coalescing, so heap_alloc() and heap_free() run in
 * constant time.
 *
 * Contract:
 *  - Every pointer returned is HEAP_ALIGN (16) byte aligned.
 *  - Per-block overhead is HEAP_BLOCK_OVERHEAD (16) bytes plus rounding of
 *    the request up to a multiple of 16; the minimum block is 32 bytes.
 *  - heap_alloc(h, 0) returns a unique, freeable pointer.
 *  - Requests whose rounded size would overflow size_t return NULL.
 *  - A failed heap_alloc/heap_realloc leaves the heap and the old block
 *    untouched.
 *  - The heap never grows; when memory runs out it returns NULL and stays
 *    fully usable.
 *  - heap_free/heap_realloc/heap_usable_size take only pointers that
 *    heap_block_is_live() accepts; callers check untrusted pointers first.
 *  - Built with HEAP_CHECKED=1 (the debug build), no operation follows a
 *    tag or link before checking it: damaged metadata makes it fail, never
 *    loop, fault or write elsewhere (heap_damaged()).
 *
 * Locking: none. A heap is not thread-safe; its owner (the pool) serialises
 * every call on one heap. Different heaps are independent.
 */
#ifndef AREA_MALLOC_CORE_HEAP_H
#define AREA_MALLOC_CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_ALIGN 16
#define HEAP_BLOCK_OVERHEAD 16

struct heap;

struct heap_stats {
	size_t region_bytes;    /* the whole region given to heap_init() */
	size_t capacity_bytes;  /* region minus the control structure */
	size_t used_bytes;      /* sum of used blocks, overhead included */
	size_t peak_used_bytes; /* high-water mark of used_bytes */
	size_t free_bytes;      /* sum of free blocks, overhead included */
	size_t largest_free;    /* largest request heap_alloc() can satisfy now */
	size_t used_blocks;
	size_t free_blocks;
};

/*
 * Places a heap in [mem, mem + bytes). mem must be HEAP_ALIGN aligned.
 * Returns NULL when the region cannot hold the control structure and one
 * minimum block. Memory never touched since the region was mapped is assumed
 * to read as zero (fresh anonymous memory); heap_alloc_zeroed() relies on it.
 */
struct heap *heap_init(void *mem, size_t bytes);

/* Smallest region in which heap_alloc(h, size) is sure to succeed once. */
size_t heap_region_bytes_for(size_t size);

/*
 * The heap's own accounting, for a debug pool that must hold no more than
 * the release build would (capacity parity): the chunk bytes a request of
 * size takes (SIZE_MAX when none could), and the bytes a heap placed in a
 * region of bytes has for chunks (heap_stats.capacity_bytes; 0 when the
 * region is too small for a heap).
 */
size_t heap_chunk_bytes_for(size_t size);
size_t heap_capacity_for_region(size_t bytes);

void *heap_alloc(struct heap *heap, size_t size);

/*
 * As heap_alloc(), and the first 'size' bytes read as zero. Bytes that were
 * never handed out or used for metadata since heap_init() are known to be
 * zero already and are not written again (so a large calloc in a fresh lazy
 * pool does not commit its pages).
 */
void *heap_alloc_zeroed(struct heap *heap, size_t size);

/*
 * As heap_alloc(), and *dirty_bytes tells how many leading bytes of the
 * block may be non-zero (the rest is known zero). For callers that must
 * zero the block themselves (the debug build, which first unpoisons it for
 * AddressSanitizer).
 */
void *heap_alloc_reporting_dirty(struct heap *heap, size_t size, size_t *dirty_bytes);

void heap_free(struct heap *heap, void *ptr);

/*
 * heap_free(), returning the free chunk the block ended up in after merging
 * with its free neighbours: its payload (as heap_alloc() would return it;
 * the first HEAP_FREE_LINK_BYTES hold the free-list links) and *usable
 * bytes. NULL when the checked heap refused (heap_damaged()). For a caller
 * that keeps free memory filled (the debug build's poison).
 */
void *heap_free_merged(struct heap *heap, void *ptr, size_t *usable);
#define HEAP_FREE_LINK_BYTES 16

/* The free chunk right above the live block at ptr: its payload and
 * *usable bytes, or NULL when the chunk above is in use (or the end). The
 * block's own tags must be sound (checked heap: call after the block was
 * checked). */
void *heap_free_above(const struct heap *heap, const void *ptr, size_t *usable);

/*
 * Resizes the block at ptr to hold at least size bytes. Grows or shrinks in
 * place when the neighbouring memory allows, otherwise allocates a new block,
 * copies min(old, new) bytes and frees the old one. Returns the block, or
 * NULL with the old block untouched when there is no room. size 0 is treated
 * as a minimum block (the POSIX free-on-zero rule is the caller's).
 */
void *heap_realloc(struct heap *heap, void *ptr, size_t size);

/* Grows or shrinks in place only; false (nothing changed) if it cannot. */
bool heap_resize_in_place(struct heap *heap, void *ptr, size_t size);

/* Bytes usable at ptr (at least what was asked for). */
size_t heap_usable_size(const struct heap *heap, const void *ptr);

/*
 * O(1) plausibility check of an untrusted pointer: inside the heap's block
 * range, aligned, the start of a block marked used (with its check bits, in
 * the release heap) whose boundary tags agree with its neighbours. A false
 * answer is certain; a true answer for a wild pointer needs forged
 * metadata.
 */
bool heap_block_is_live(const struct heap *heap, const void *ptr);

/*
 * heap_block_is_live() for a caller that does not hold the heap's owner's
 * lock but owns the block: returns its usable size, or 0 when ptr does not
 * look like a live block (then check it with heap_block_is_live() under the
 * lock) or its usable size is above max_usable (then it reads one word).
 * Reads nothing that operations on other blocks write.
 */
size_t heap_live_usable_size_unlocked(const struct heap *heap, const void *ptr, size_t max_usable);

/* True when ptr lies inside the memory the heap hands blocks out of. */
bool heap_contains(const struct heap *heap, const void *ptr);

void heap_get_stats(const struct heap *heap, struct heap_stats *stats);

/*
 * Damaged metadata: where an operation or a walk found a tag or link that it
 * would not follow, which invariant that breaks, and the nearest sound used
 * block below it (the likely culprit of an overflow; 0 when there is none).
 */
struct heap_damage {
	uintptr_t at;  /* the first damaged tag or link word */
	uintptr_t end; /* the end of the damaged words found (at + 8 or more) */
	const char *why;
	uintptr_t below; /* a payload pointer, as heap_alloc() returned it */
	/* when the tags disagree and either side could be the damage: the
	 * block (payload) below, whose size tag may be the damaged one instead
	 * (no chunk header starts where it leads); 0 when there is no doubt */
	uintptr_t suspect;
};

/*
 * Calls fn for every block in address order (payload pointer, usable size),
 * checking each chunk's tags before it is passed or stepped over: returns
 * false at the first damage (fn has seen every block below it), with
 * *damage (may be NULL) telling what. fn must not change the heap. O(n).
 */
typedef void (*heap_walk_fn)(void *ptr, size_t usable, bool used, void *context);
bool heap_walk(const struct heap *heap, heap_walk_fn fn, void *context, struct heap_damage *damage);

/* The payload of the last sound used block that starts below at, or NULL. */
void *heap_block_below(const struct heap *heap, uintptr_t at);

/*
 * The checked heap (the debug build's copy, compiled with HEAP_CHECKED=1):
 * every operation checks the tags and links it follows before it changes
 * anything; on damage it changes nothing, fails (alloc NULL, resize false,
 * free leaves the block used) and every later change is refused. This says
 * whether that happened, and where (*damage may be NULL). Always false for
 * the release build's heap.
 */
bool heap_damaged(const struct heap *heap, struct heap_damage *damage);

/* The damage was repaired: heap_validate() holds again, and the heap takes
 * changes again. false (still refusing) when it does not hold. */
bool heap_clear_damage(struct heap *heap);

/* Damage found by a walk or a check: from now on the (checked) heap refuses
 * every change, as if one of its own operations had found it. */
void heap_note_damage(struct heap *heap, const struct heap_damage *damage);

/*
 * Walks a COPY of a heap's region (for example one read from a pool file by
 * pooldump, possibly damaged or hostile): image holds image_bytes bytes
 * starting at the struct heap, which lived at image_address in its process.
 * Every offset and size is bounds-checked; fn gets each block's payload in
 * the copy, its address in the process, its usable size and whether it is
 * used. Returns false, with *why naming the problem, when the image is not
 * a sound heap (the blocks seen before the problem were still passed to fn).
 */
typedef void (*heap_image_walk_fn)(const void *payload, uintptr_t payload_address, size_t usable,
	bool used, void *context);
bool heap_walk_image(const void *image, size_t image_bytes, uintptr_t image_address,
	heap_image_walk_fn fn, void *context, const char **why);

/*
 * The high-water mark of the heap: bytes at or above it were never handed
 * out nor written. A caller that backs the region with a file reserves
 * space up to touched mark + request + HEAP_SPLIT_SLACK before allocating.
 */
uintptr_t heap_touched_end(const struct heap *heap);
#define HEAP_SPLIT_SLACK (2 * HEAP_BLOCK_OVERHEAD)

/*
 * The checked heap's word of the chunk an allocation takes (HEAP_CHECKED=1
 * only; the release heap has no such variable). When the calling thread
 * set it (two words: start, end), heap_alloc() stores there the chunk it
 * took, [chunk header, chunk end), after it was chosen and before any of
 * its tags is written, end set to 0 first: an owner that records what is
 * in flight (the debug build's node, format/node_format.h "In flight")
 * learns which chunk a process that dies inside the allocation was
 * changing, which it cannot know before the call. Thread-local, so no
 * write into the heap's region can redirect it; the owner sets it under
 * the lock that serialises the heap's calls and clears it after.
 */
extern __thread uint64_t *heap_change_note;

/*
 * Checks every invariant of the heap (see heap.c for the list); returns true
 * when all hold. When one fails and 'why' is not NULL, *why points to a
 * static string naming the broken invariant. Walks the whole heap: O(n).
 */
bool heap_validate(const struct heap *heap, const char **why);

/* heap_validate(), telling where the first broken invariant lies and the
 * nearest sound used block below it (*damage may be NULL). */
bool heap_check(const struct heap *heap, struct heap_damage *damage);

#endif /* AREA_MALLOC_CORE_HEAP_H */
