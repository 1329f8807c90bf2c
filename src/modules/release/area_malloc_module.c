/*
 * area_malloc_module.c - the release build of generic/area_malloc/v1.
 *
 * The module's calls over the allocator core: the pool id names a pool
 * through the registry (never dereferenced to be checked), each call takes
 * that pool's lock around the heap, and the POSIX rules are applied here:
 * malloc(0) returns a unique pointer, calloc refuses n * size overflow,
 * realloc(NULL, n) allocates, realloc(p, 0) frees and returns NULL, a failed
 * realloc leaves the block untouched, free(pool, NULL) does nothing.
 *
 * Misuse the release build can see cheaply is refused rather than allowed
 * to corrupt a pool: an invalid or stale pool id (NULL from the allocating
 * calls, B_ERROR from delete_pool), and a free or realloc of a pointer that
 * is not a live block of that pool (ignored, with one dprintf line). The
 * debug build reports these and much more.
 *
 * Threads that share a pool keep freed small blocks in per-thread caches
 * (core/thread_cache.h) and take them back without the pool's lock; the
 * caches are drained before any allocation fails, counted free in the
 * statistics and dropped by delete_pool. A second free of a cached block is
 * refused like any other pointer that is not a live block.
 *
 * Locking: each pool's lock (pool.h) around every heap operation; the
 * registry's lock for create_pool/delete_pool; thread_cache.c's locks for
 * the caches. No global lock on the malloc/free paths. Lock order:
 * registry, then the caches' lock, then a pool, then a cache (the whole
 * order of both builds: docs/ARCHITECTURE.md).
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

#include "core/pool.h"
#include "core/pool_fork.h"
#include "core/pool_registry.h"
#include "core/thread_cache.h"
#include "core/thread_cache_fast.h"

static const void *am_create_pool(uint32 address_spec, size_t size, uint32 lock_spec,
	uint32 protection)
{
	struct pool *pool =
		pool_create(address_spec, size, 0, 0, NULL, lock_spec, protection, NULL);
	const void *id;

	if (pool == NULL)
		return NULL;
	pool->creator = __builtin_return_address(0);
	id = pool_registry_add(pool);
	if (id == NULL) {
		pool_destroy(pool);
		return NULL;
	}
	pool->id = id;
	return id;
}

static status_t am_delete_pool(const void *pool_id)
{
	struct pool *pool = pool_registry_remove(pool_id);

	if (pool == NULL)
		return B_ERROR;
	thread_cache_detach_pool(pool);
	pool_destroy(pool);
	return B_OK;
}

static void *heap_allocate(struct pool *pool, size_t size, bool zeroed)
{
	return zeroed ? heap_alloc_zeroed(pool->heap, size) : heap_alloc(pool->heap, size);
}

/*
 * One allocation that this thread's cache could not serve: under the
 * pool's lock, counted as done or failed. A request the heap cannot serve
 * first takes back every cached block of the pool, so NULL means the pool
 * is really full. Out of line: the callers' cache hits (thread_cache_fast.h)
 * are then a function without a call or a saved register.
 */
static __attribute__((noinline)) void *allocate_from_heap(const void *pool_id, size_t size,
	bool zeroed)
{
	struct pool *pool;
	void *block;
	bool locked;

	pool = pool_registry_lookup(pool_id);
	if (pool == NULL)
		return NULL;
	locked = pool_lock(pool);
	block = heap_allocate(pool, size, zeroed);
	if (block == NULL) {
		pool_unlock(pool, locked);
		bool drained = thread_cache_drain_pool(pool);
		locked = pool_lock(pool);
		if (drained)
			block = heap_allocate(pool, size, zeroed);
	}
	if (block != NULL)
		pool->allocations++;
	else
		pool->failed_requests++;
	pool_unlock(pool, locked);
	return block;
}

/* A pointer the heap may take back: a live block, not one a cache holds. */
static bool is_live_block(struct pool *pool, void *ptr)
{
	return heap_block_is_live(pool->heap, ptr) && !thread_cache_holds(ptr);
}

static void *am_malloc(const void *pool_id, size_t size)
{
	void *block = thread_cache_take(pool_id, size);

	if (__builtin_expect(block != NULL, 1))
		return block;
	return allocate_from_heap(pool_id, size, false);
}

static void *am_calloc(const void *pool_id, size_t count, size_t size)
{
	size_t total;

	/* an overflowing product is a request no pool can satisfy */
	if (__builtin_mul_overflow(count, size, &total))
		total = SIZE_MAX;
	void *block = thread_cache_take(pool_id, total);
	if (block != NULL) {
		memset(block, 0, total);
		return block;
	}
	return allocate_from_heap(pool_id, total, true);
}

static void report_bad_pointer(const char *call, const void *pool_id, const void *ptr,
	bool pool_is_live)
{
	dprintf("area_malloc: %s(%p, %p): %s; ignored\n", call, pool_id, ptr,
		pool_is_live ? "not a live block of this pool" : "no such pool");
}

static void *am_realloc(const void *pool_id, void *ptr, size_t size)
{
	struct pool *pool;
	void *block;
	bool locked;

	if (ptr == NULL)
		return am_malloc(pool_id, size);
	pool = pool_registry_lookup(pool_id);
	if (pool == NULL)
		return NULL;
	locked = pool_lock(pool);
	if (!is_live_block(pool, ptr)) {
		pool_unlock(pool, locked);
		report_bad_pointer("realloc", pool_id, ptr, true);
		return NULL;
	}
	if (size == 0) {
		heap_free(pool->heap, ptr);
		pool->frees++;
		block = NULL;
	} else {
		block = heap_realloc(pool->heap, ptr, size);
		if (block == NULL) {
			pool_unlock(pool, locked);
			bool drained = thread_cache_drain_pool(pool);
			locked = pool_lock(pool);
			if (drained)
				block = heap_realloc(pool->heap, ptr, size);
		}
		if (block == NULL)
			pool->failed_requests++;
	}
	pool_unlock(pool, locked);
	return block;
}

/* A free that this thread's cache did not take: under the pool's lock,
 * after checking the pointer. Out of line for the same reason as
 * allocate_from_heap(). */
static __attribute__((noinline)) void free_to_heap(const void *pool_id, void *ptr)
{
	struct pool *pool;
	bool locked;

	pool = pool_registry_lookup(pool_id);
	if (pool == NULL) {
		report_bad_pointer("free", pool_id, ptr, false);
		return;
	}
	locked = pool_lock(pool);
	if (is_live_block(pool, ptr)) {
		heap_free(pool->heap, ptr);
		pool->frees++;
		pool_unlock(pool, locked);
		return;
	}
	pool_unlock(pool, locked);
	report_bad_pointer("free", pool_id, ptr, true);
}

static void *am_free(const void *pool_id, void *ptr)
{
	if (ptr != NULL && !thread_cache_put(pool_id, ptr))
		free_to_heap(pool_id, ptr);
	return NULL;
}

/* Kernel debugger commands: cheap pool statistics, even in the release build. */

static void print_pool_line(struct pool *pool, const void *id, void *context)
{
	struct pool_stats stats;

	(void)context;
	thread_cache_get_pool_stats(pool, &stats);
	kprintf("pool %d: id: %p; base: %p; size: %zu; used: %zu; peak: %zu; free: %zu; "
		"blocks: %zu; failed: %llu; creator: %p\n",
		(int)stats.area, id, stats.base, stats.area_size, stats.used, stats.peak,
		stats.capacity - stats.used, stats.live_blocks,
		(unsigned long long)stats.failed_requests, pool->creator);
}

static int dump_pools(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("%zu pool(s)\n", pool_registry_count());
	pool_registry_for_each(print_pool_line, NULL);
	return 0;
}

/* A pool id on the debugger command line is the pool's area id. */
static bool parse_pool_area(const char *command, const char *text, area_id *area)
{
	char *end;
	long value = strtol(text, &end, 0);

	if (*text == '\0' || *end != '\0' || value <= 0 || value > INT32_MAX) {
		kprintf("%s: \"%s\" is not a pool id\n", command, text);
		return false;
	}
	*area = (area_id)value;
	return true;
}

struct pool_by_area {
	area_id area;
	bool found;
};

static void print_pool_if_area(struct pool *pool, const void *id, void *context)
{
	struct pool_by_area *search = context;

	if (pool->area != search->area)
		return;
	search->found = true;
	print_pool_line(pool, id, NULL);
}

static int dump_pool(int argc, char **argv)
{
	struct pool_by_area search = { 0, false };
	if (argc != 2) {
		kprintf("usage: %s <pool id>   (a pool id is its area id, as 'pools' lists it)\n",
			argv[0]);
		return 2;
	}
	if (!parse_pool_area(argv[0], argv[1], &search.area))
		return 2;
	pool_registry_for_each(print_pool_if_area, &search);
	if (!search.found) {
		kprintf("%s: no pool %d\n", argv[0], (int)search.area);
		return 2;
	}
	return 0;
}

#define DRAIN_BATCH 64

struct drain_batch {
	const void *ids[DRAIN_BATCH];
	size_t count;
};

static void collect_pool_id(struct pool *pool, const void *id, void *context)
{
	struct drain_batch *batch = context;

	(void)pool;
	if (batch->count < DRAIN_BATCH)
		batch->ids[batch->count++] = id;
}

/* Deletes every remaining pool, a batch of ids at a time (ids are collected
 * under the registry lock, deleted outside it). */
static void delete_all_pools(void)
{
	struct drain_batch batch;

	do {
		batch.count = 0;
		pool_registry_for_each(collect_pool_id, &batch);
		for (size_t i = 0; i < batch.count; i++)
			am_delete_pool(batch.ids[i]);
	} while (batch.count == DRAIN_BATCH);
}

struct check_result {
	area_id only_area; /* 0: every pool */
	int checked;
	int broken;
};

static void check_one_pool(struct pool *pool, const void *id, void *context)
{
	struct check_result *result = context;
	const char *why = NULL;

	if (result->only_area != 0 && pool->area != result->only_area)
		return;
	result->checked++;
	if (!pool_validate(pool, &why) || !thread_cache_validate_pool(pool, &why)) {
		result->broken++;
		kprintf("pool %d (%p): damaged: %s\n", (int)pool->area, id, why);
	}
}

/* check [pool ID]: heap invariants of one pool or all, now. Returns 0 when
 * every checked pool is sound, 1 when one is damaged, 2 on a usage error. */
static int check_pools(int argc, char **argv)
{
	struct check_result result = { 0, 0, 0 };

	if (argc > 2 || (argc == 2 && !parse_pool_area(argv[0], argv[1], &result.only_area)))
		return 2;
	pool_registry_for_each(check_one_pool, &result);
	if (result.only_area != 0 && result.checked == 0) {
		kprintf("%s: no pool %d\n", argv[0], (int)result.only_area);
		return 2;
	}
	kprintf("%d pool(s) checked, %d damaged\n", result.checked, result.broken);
	return result.broken != 0;
}

/* fork(): the core's handlers (pool_fork.h) with the caches' lock taken
 * between the registry's and the pools' (the lock order). */
static const struct pool_fork_hooks fork_hooks = {
	.prepare = thread_cache_fork_prepare,
	.parent = thread_cache_fork_parent,
	.child_end = thread_cache_fork_child,
};

static status_t std_ops(int32 op, ...)
{
	switch (op) {
	case B_MODULE_INIT:
		pool_fork_install(&fork_hooks);
		/* A name taken by another module only costs us the command. */
		add_debugger_command("pools", dump_pools, "List area_malloc pools");
		add_debugger_command("pool", dump_pool,
			"Show one area_malloc pool: pool <pool id>");
		add_debugger_command("check", check_pools,
			"Check area_malloc pool invariants now: check [<pool id>]");
		return B_OK;
	case B_MODULE_UNINIT:
		/* The last user put the module away: delete every remaining pool. */
		delete_all_pools();
		thread_cache_shutdown();
		remove_debugger_command("pools", dump_pools);
		remove_debugger_command("pool", dump_pool);
		remove_debugger_command("check", check_pools);
		return B_OK;
	default:
		return B_ERROR;
	}
}

static area_malloc_module_info area_malloc_module = {
	.minfo = {
		.name = B_AREA_MALLOC_MODULE_NAME,
		.flags = 0,
		.std_ops = std_ops,
	},
	.create_pool = am_create_pool,
	.delete_pool = am_delete_pool,
	.malloc = am_malloc,
	.calloc = am_calloc,
	.realloc = am_realloc,
	.free = am_free,
};

module_info *modules[] = {
	(module_info *)&area_malloc_module,
	NULL,
};
