/*
 * pool.c - pool creation, destruction, statistics and validation.
 *
 * Invariants (checked by pool_validate):
 *  - pool->base is the area's base, pool->area_size its size, and the pool
 *    structure is the first thing in the area;
 *  - the heap lies inside the area, right after the pool structure;
 *  - the heap's own invariants hold (heap_validate).
 *
 * Locking: see pool.h. pool_create and pool_destroy touch only the pool
 * being created or destroyed; the registry (pool_registry.c) serialises
 * whoever publishes or retires its id.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>

#include <KernelExport.h>

#include "core/pool.h"
#include "core/pool_registry.h"
#include "kernel/area_internal.h"

static size_t round_up_to_pages(size_t size)
{
	return (size + B_PAGE_SIZE - 1) & ~(size_t)(B_PAGE_SIZE - 1);
}

static const struct pool_backing anonymous_backing = { .fd = -1, .guard_page = false };

size_t pool_heap_offset(size_t control_bytes, const struct pool_backing *backing)
{
	size_t offset = POOL_HEADER_BYTES + ((control_bytes + 63) & ~(size_t)63);

	if (backing != NULL && backing->guard_page)
		offset = round_up_to_pages(offset) + B_PAGE_SIZE;
	return offset;
}

size_t pool_area_bytes(size_t size, size_t reserve, size_t control_bytes,
	const struct pool_backing *backing)
{
	(void)control_bytes; /* the reserve covers the control region */
	if (backing != NULL && backing->guard_page)
		reserve += 2 * B_PAGE_SIZE; /* alignment of the control region, and the guard */
	if (reserve > SIZE_MAX / 4 || size > SIZE_MAX / 4 - reserve)
		return SIZE_MAX;
	return round_up_to_pages(size + reserve);
}

size_t pool_release_capacity(size_t size)
{
	size_t area_bytes = pool_area_bytes(size, 0, 0, NULL),
	       heap_offset = pool_heap_offset(0, NULL);

	if (size == 0 || area_bytes == SIZE_MAX || area_bytes <= heap_offset)
		return 0;
	return heap_capacity_for_region(area_bytes - heap_offset);
}

struct pool *pool_create(uint32 address_spec, size_t size, size_t reserve, size_t control_bytes,
	const struct pool_backing *backing, uint32 lock_spec, uint32 protection, status_t *error)
{
	const uint32 writable = B_WRITE_AREA | B_KERNEL_WRITE_AREA;
	void *base = NULL;
	struct pool *pool;
	struct heap *heap;
	size_t area_size, heap_offset;
	status_t status;
	area_id area;

	if (error == NULL)
		error = &status;
	if ((protection & writable) == 0 || address_spec == B_EXACT_ADDRESS
		|| address_spec == B_CLONE_ADDRESS) {
		*error = B_BAD_VALUE;
		return NULL;
	}
	if (address_spec == B_BASE_ADDRESS || address_spec == B_RANDOMIZED_BASE_ADDRESS)
		address_spec = B_ANY_ADDRESS;
	if (backing == NULL)
		backing = &anonymous_backing;
	control_bytes = (control_bytes + 63) & ~(size_t)63;
	heap_offset = pool_heap_offset(control_bytes, backing);
	area_size = pool_area_bytes(size, reserve, control_bytes, backing);
	if (size == 0 || area_size == SIZE_MAX) {
		*error = size == 0 ? B_BAD_VALUE : B_NO_MEMORY;
		return NULL;
	}

	/* Whoever allocates must read and write: both protection families
	 * mean a read-write mapping here. */
	if (backing->fd >= 0)
		area = area_malloc_create_file_area(POOL_AREA_NAME, &base, address_spec, area_size,
			lock_spec, protection | B_READ_AREA | B_WRITE_AREA, backing->fd);
	else
		area = create_area(POOL_AREA_NAME, &base, address_spec, area_size, lock_spec,
			protection | B_READ_AREA | B_WRITE_AREA);
	if (area < 0) {
		*error = area;
		return NULL;
	}
	heap = heap_offset < area_size
		? heap_init((char *)base + heap_offset, area_size - heap_offset)
		: NULL;
	if (heap == NULL) {
		delete_area(area);
		*error = B_NO_MEMORY;
		return NULL;
	}
	if (backing->guard_page
		&& mprotect((char *)base + heap_offset - B_PAGE_SIZE, B_PAGE_SIZE, PROT_NONE)
			!= 0) {
		delete_area(area);
		*error = B_NO_MEMORY;
		return NULL;
	}
	pool = base;
	/* private even in a file another process reads: readers never take
	 * it (format/node_format.h, "Consistency") */
	mutex_init(&pool->lock, POOL_AREA_NAME);
	pool->area = area;
	pool->address_spec = address_spec;
	pool->lock_spec = lock_spec;
	pool->protection = protection;
	pool->base = base;
	pool->area_size = area_size;
	pool->requested_size = size;
	pool->heap = heap;
	pool->control = control_bytes != 0 ? (char *)base + POOL_HEADER_BYTES : NULL;
	pool->control_bytes = control_bytes;
	pool->heap_offset = heap_offset;
	pool->guard_offset = backing->guard_page ? heap_offset - B_PAGE_SIZE : 0;
	pool->id = NULL;
	pool->creator = NULL;
	pool->failed_requests = 0;
	pool->allocations = 0;
	pool->frees = 0;
	atomic_init(&pool->thread_caches, NULL);
	atomic_init(&pool->cache_depot, NULL);
	*error = B_OK;
	return pool;
}

void pool_destroy(struct pool *pool)
{
	mutex_destroy(&pool->lock);
	delete_area(pool->area);
}

void pool_get_stats(struct pool *pool, struct pool_stats *stats)
{
	bool locked = pool_lock(pool);

	pool_get_stats_locked(pool, stats);
	pool_unlock(pool, locked);
}

void pool_get_stats_locked(struct pool *pool, struct pool_stats *stats)
{
	struct heap_stats heap_stats;

	heap_get_stats(pool->heap, &heap_stats);
	stats->area = pool->area;
	stats->base = pool->base;
	stats->area_size = pool->area_size;
	stats->requested_size = pool->requested_size;
	stats->capacity = heap_stats.capacity_bytes;
	stats->used = heap_stats.used_bytes;
	stats->peak = heap_stats.peak_used_bytes;
	stats->largest_free = heap_stats.largest_free;
	stats->live_blocks = heap_stats.used_blocks;
	stats->allocations = pool->allocations;
	stats->frees = pool->frees;
	stats->failed_requests = pool->failed_requests;
}

bool pool_validate(struct pool *pool, const char **why)
{
	const char *problem = NULL;
	area_info info;
	bool locked;

	if (get_area_info(pool->area, &info) != B_OK)
		problem = "pool area does not exist";
	else if (info.address != pool->base || info.address != (void *)pool)
		problem = "pool structure is not at the start of its area";
	else if (info.size != pool->area_size)
		problem = "pool size does not match its area";
	else if ((char *)pool->heap != (char *)pool->base + pool->heap_offset
		|| pool->heap_offset < POOL_HEADER_BYTES + pool->control_bytes)
		problem = "heap is not after the pool structure and its control region";
	if (problem != NULL) {
		if (why != NULL)
			*why = problem;
		return false;
	}
	locked = pool_lock(pool);
	bool heap_ok = heap_validate(pool->heap, why);
	pool_unlock(pool, locked);
	return heap_ok;
}

struct containing_search {
	const void *address;
	const void *id;
};

static void check_containing(struct pool *pool, const void *id, void *context)
{
	struct containing_search *search = context;
	const char *address = search->address;

	if (address >= (const char *)pool->base
		&& address < (const char *)pool->base + pool->area_size)
		search->id = id;
}

const void *pool_id_containing(const void *address)
{
	struct containing_search search = { address, NULL };

	pool_registry_for_each(check_containing, &search);
	return search.id;
}
