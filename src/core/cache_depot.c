/*
 * cache_depot.c - a pool's depot of full magazines (see cache_depot.h for
 * why it exists, its invariants D1-D3 and its locking).
 *
 * Shape: for each size class a small stack of magazines (DEPOT_MAGAZINES),
 * so a put and a take are a copy of three words under the depot's flag. The
 * depot keeps at most byte_limit bytes, a share of its pool like a
 * thread's cache, so a consumer that runs ahead of its producer does not
 * hoard a small pool: past the limit it frees under the pool's lock as
 * before.
 *
 * The depot also keeps the head of the chain of caches parked with its
 * pool (thread_cache.c, "Eviction"): the one per-pool place the caches'
 * layer owns. It never follows the chain; thread_cache.c's cache_lock, not
 * the depot's flag, protects it.
 */
#include "config.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/cache_depot.h"
#include "core/heap.h"

#define DEPOT_MAGAZINES 4
#define DEPOT_POOL_SHARE 16 /* a depot keeps at most 1/16 of its pool */
#define DEPOT_MAX_BYTES ((size_t)4 * 1024 * 1024)

struct cache_depot {
	atomic_bool busy;
	struct cache_depot **list_prev_next, *list_next; /* on the caller's list */
	struct thread_cache *parked;                     /* cache_depot_parked(): the caller's */
	size_t byte_limit;
	size_t bytes;
	size_t blocks;
	uint8_t counts[CACHE_CLASSES];
	struct magazine magazines[CACHE_CLASSES][DEPOT_MAGAZINES];
};

struct cache_depot *cache_depot_create(size_t area_size, struct cache_depot **list)
{
	struct cache_depot *depot = calloc(1, sizeof(*depot));
	size_t share = area_size / DEPOT_POOL_SHARE;

	if (depot == NULL)
		return NULL;
	depot->byte_limit = share < DEPOT_MAX_BYTES ? share : DEPOT_MAX_BYTES;
	depot->list_next = *list;
	if (*list != NULL)
		(*list)->list_prev_next = &depot->list_next;
	depot->list_prev_next = list;
	*list = depot;
	return depot;
}

void cache_depot_destroy(struct cache_depot *depot)
{
	*depot->list_prev_next = depot->list_next;
	if (depot->list_next != NULL)
		depot->list_next->list_prev_next = depot->list_prev_next;
	free(depot);
}

void cache_depot_hold_all(struct cache_depot *list)
{
	for (struct cache_depot *depot = list; depot != NULL; depot = depot->list_next)
		cache_depot_hold(depot);
}

void cache_depot_release_all(struct cache_depot *list)
{
	for (struct cache_depot *depot = list; depot != NULL; depot = depot->list_next)
		cache_depot_release(depot);
}

static bool try_hold(struct cache_depot *depot)
{
	return !atomic_exchange_explicit(&depot->busy, true, memory_order_acquire);
}

void cache_depot_release(struct cache_depot *depot)
{
	atomic_store_explicit(&depot->busy, false, memory_order_release);
}

void cache_depot_hold(struct cache_depot *depot)
{
	while (!try_hold(depot))
		sched_yield();
}

bool cache_depot_put_held(struct cache_depot *depot, unsigned class_index,
	struct magazine *magazine)
{
	uint8_t count = depot->counts[class_index];

	if (magazine->count == 0 || count == DEPOT_MAGAZINES
		|| depot->bytes + magazine->bytes > depot->byte_limit)
		return false;
	depot->magazines[class_index][count] = *magazine;
	depot->counts[class_index] = count + 1;
	depot->bytes += magazine->bytes;
	depot->blocks += magazine->count;
	magazine_reset(magazine);
	return true;
}

bool cache_depot_try_put(struct cache_depot *depot, unsigned class_index, struct magazine *magazine)
{
	if (magazine->count == 0 || !try_hold(depot))
		return false;
	bool put = cache_depot_put_held(depot, class_index, magazine);
	cache_depot_release(depot);
	return put;
}

struct thread_cache **cache_depot_parked(struct cache_depot *depot)
{
	return &depot->parked;
}

bool cache_depot_try_take(struct cache_depot *depot, unsigned class_index,
	struct magazine *magazine)
{
	bool taken = false;

	if (!try_hold(depot))
		return false;
	uint8_t count = depot->counts[class_index];
	if (count != 0) {
		*magazine = depot->magazines[class_index][count - 1];
		depot->counts[class_index] = count - 1;
		depot->bytes -= magazine->bytes;
		depot->blocks -= magazine->count;
		taken = true;
	}
	cache_depot_release(depot);
	return taken;
}

void cache_depot_totals(const struct cache_depot *depot, size_t *bytes, size_t *blocks)
{
	*bytes = depot->bytes;
	*blocks = depot->blocks;
}

size_t magazine_spill(struct magazine *magazine, struct heap *heap)
{
	size_t spilled = 0;

	for (void *block = magazine->head, *next; block != NULL; block = next) {
		next = *magazine_link(block);
		*magazine_key_word(block) = 0;
		heap_free(heap, block);
		spilled++;
	}
	magazine_reset(magazine);
	return spilled;
}

const char *magazine_validate(const struct magazine *magazine, unsigned class_index,
	const struct heap *heap, uint64_t key)
{
	size_t bytes = 0;
	uint32_t count = 0;

	if ((magazine->head == NULL) != (magazine->count == 0))
		return "a magazine's head disagrees with its count";
	for (void *block = magazine->head; block != NULL; block = *magazine_link(block)) {
		/* bounded: a cycle is damage, not a loop */
		if (++count > magazine->count)
			return "a magazine holds more blocks than it counts";
		if (!heap_block_is_live(heap, block))
			return "a cached block is not a live block of its pool";
		if (*magazine_key_word(block) != key)
			return "a cached block lost the caches' key";
		/* the header, not the class: the pop trusts the class below the
		 * last exact one (magazine_block_usable) */
		size_t usable = heap_usable_size(heap, block);
		if (usable < cache_class_size(class_index)
			|| cache_class_for_block(usable) != class_index
			|| magazine_block_usable(block, class_index) != usable)
			return "a cached block is filed in the wrong size class";
		bytes += usable + HEAP_BLOCK_OVERHEAD;
	}
	if (count != magazine->count)
		return "a magazine's count disagrees with its list";
	if (bytes != magazine->bytes)
		return "a magazine's bytes are not the sum of its blocks";
	return NULL;
}

size_t cache_depot_spill(struct cache_depot *depot, struct heap *heap)
{
	size_t spilled = 0;

	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		for (unsigned m = 0; m < depot->counts[c]; m++)
			spilled += magazine_spill(&depot->magazines[c][m], heap);
		depot->counts[c] = 0;
	}
	depot->bytes = depot->blocks = 0;
	return spilled;
}

void cache_depot_forget(struct cache_depot *depot)
{
	for (unsigned c = 0; c < CACHE_CLASSES; c++)
		depot->counts[c] = 0;
	depot->bytes = depot->blocks = 0;
}

const char *cache_depot_validate(const struct cache_depot *depot, const struct heap *heap,
	uint64_t key)
{
	size_t bytes = 0, blocks = 0;

	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		if (depot->counts[c] > DEPOT_MAGAZINES)
			return "a depot class holds more magazines than it has room for";
		for (unsigned m = 0; m < depot->counts[c]; m++) {
			const char *why = magazine_validate(&depot->magazines[c][m], c, heap, key);
			if (why != NULL)
				return why;
			if (depot->magazines[c][m].count == 0)
				return "an empty magazine in a depot";
			bytes += depot->magazines[c][m].bytes;
			blocks += depot->magazines[c][m].count;
		}
	}
	if (bytes != depot->bytes || blocks != depot->blocks)
		return "a depot's totals are not the sums over its magazines";
	if (bytes > depot->byte_limit)
		return "a depot holds more than its share of the pool";
	return NULL;
}
