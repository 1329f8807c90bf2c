/*
 * pool_leaks.c - leaked pools: the pools this process created and never
 * deleted, reported at the last put_module and at exit, as kmemleak and
 * Haiku's "areas" show leaked areas. An empty pool that is never deleted
 * is a leak too: its area stays mapped.
 *
 * Each is one leak report (report.c) of kind leaked-pool whose one group
 * is the pool itself: create_pool's size in one allocation, from its
 * creator's stack. So it is counted as leaks are (the exit status, the
 * runner's leak totals), a leak:PATTERN suppression matching a frame of
 * the creator (its function, file or image) suppresses it, and a report
 * hook sees it. Its blocks still live are counted in the report; they are
 * reported as leaks of their own (leaks.c, delete_pool), before the pools:
 * at the last put_module the pools are described before they are deleted
 * and reported after.
 *
 * Which pools: those whose creator's team is this process. A forked child
 * holds copies of its parent's pools, which are the parent's to delete
 * (as their blocks are the parent's, leaks.c).
 *
 * Locking: a pool's lock while its name, creator and counters are copied;
 * none while the reports are made (the reporter symbolizes and may call the
 * hook).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"

struct leaked_pool {
	struct leak_report report;
	struct leak_group group;
	char name[NODE_POOL_NAME_MAX];
	area_malloc_owner creator;
	char detail[192];
};

struct leaked_pools {
	struct leaked_pool *pools;
	size_t count;
	size_t capacity;
};

/* Copies what the report says of an acquired pool, if this process
 * created it. The report's pointers are set when it is made (the array
 * may move meanwhile). */
static void collect_leaked_pool(const void *id, struct pool *pool, void *context)
{
	struct leaked_pools *list = context;
	struct leaked_pool *leaked;
	bool locked;

	(void)id;
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 16;
		struct leaked_pool *pools = realloc(list->pools, capacity * sizeof(*pools));
		if (pools == NULL)
			return;
		list->pools = pools;
		list->capacity = capacity;
	}
	leaked = &list->pools[list->count];
	memset(leaked, 0, sizeof(*leaked));
	locked = debug_lock(pool);
	describe_pool(pool, &leaked->report.pool, leaked->name, &leaked->creator);
	leaked->group.bytes = debug_of(pool)->d.requested_size;
	snprintf(leaked->detail, sizeof(leaked->detail),
		"the pool was never deleted; %" PRIu64 " live block(s) of %" PRIu64
		" byte(s) are in it; the leak below is the pool itself (create_pool's size)",
		debug_of(pool)->d.live_blocks, debug_of(pool)->d.used_bytes);
	debug_unlock(pool, locked);
	if (leaked->creator.team != getpid())
		return; /* a parent's pool, copied into this forked child */
	leaked->group.count = 1;
	leaked->group.first_address = pool->base;
	list->count++;
}

struct leaked_pools *leaked_pools_collect(void)
{
	struct leaked_pools *list;

	if (!debug_options.leak_check)
		return NULL;
	list = calloc(1, sizeof(*list));
	if (list != NULL)
		for_each_acquired_pool(0, collect_leaked_pool, list);
	return list;
}

void leaked_pools_report(struct leaked_pools *list, const char *when)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++) {
		struct leaked_pool *leaked = &list->pools[i];
		leaked->report.kind = ERROR_LEAKED_POOL;
		leaked->report.pool.name = leaked->name;
		leaked->report.pool.creator = &leaked->creator;
		leaked->group.owner = leaked->creator;
		leaked->report.when = when;
		leaked->report.groups = &leaked->group;
		leaked->report.group_count = 1;
		leaked->report.counts = true;
		leaked->report.detail = leaked->detail;
		report_leaks(&leaked->report, NULL);
	}
	free(list->pools);
	free(list);
}

void debug_report_leaked_pools(const char *when)
{
	leaked_pools_report(leaked_pools_collect(), when);
}
