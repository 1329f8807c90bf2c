/*
 * debugger_views.c - the kernel-debugger views of the live pools, as the
 * debug module's in-process commands print them through kprintf: "pools"
 * and "pool" (one line a pool, Haiku's heap-command shape), "leaks" (the
 * live blocks grouped by site, as a look, not a verdict) and "check".
 * (allocations, allocations_per_caller and pool_log read this process's
 * node instead, with pooldump's code: src/node.)
 *
 * Invariants: a pool is visited only while acquired (it cannot be deleted
 * under the view); nothing is printed with its lock held.
 *
 * Locking: each pool's lock in turn, only to copy what is printed.
 */
#include "config.h"

#include <string.h>

#include <KernelExport.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"

static void print_pool(const void *id, struct pool *pool, void *context)
{
	area_malloc_pool_stats stats;
	char name[NODE_POOL_NAME_MAX], creator[2048];
	uintptr_t creator_pc;
	bool locked;

	(void)context;
	locked = debug_lock(pool);
	debug_read_stats_locked(pool, &stats);
	memcpy(name, debug_of(pool)->d.name, sizeof(name));
	creator_pc = debug_of(pool)->d.creator.frames[0];
	debug_unlock(pool, locked);
	kprintf("pool %d: id: %p; name: \"%s\"; base: %p; size: %zu; area_size: %zu; used: %zu; "
		"peak: %zu; blocks: %zu; quarantined: %zu in %zu; failed: %llu; injected: %llu; "
		"errors: %llu; creator: %s\n",
		(int)stats.area, id, name, pool->base, stats.size, stats.area_size, stats.used,
		stats.peak, stats.live_blocks, stats.quarantined_bytes, stats.quarantined_blocks,
		(unsigned long long)stats.failed_requests,
		(unsigned long long)stats.injected_failures, (unsigned long long)stats.errors,
		reporter_symbolize(creator_pc, creator, sizeof(creator)));
}

int debug_print_pools(area_id area)
{
	if (area == 0)
		kprintf("%zu pool(s)\n", pool_registry_count());
	return for_each_acquired_pool(area, print_pool, NULL);
}

int debug_leaks_command(area_id area)
{
	size_t bytes, blocks;
	int pools = report_leaks_of_pools(area, 0, "on request", &bytes, &blocks);

	kprintf("%zu byte(s) in %zu live block(s) in %d pool(s)\n", bytes, blocks, pools);
	return pools;
}

int debug_check_command(area_id area)
{
	int pools, problems = check_pools(area, &pools);

	if (problems >= 0)
		kprintf("%d pool(s) checked, %d problem(s)\n", pools, problems);
	return problems;
}
