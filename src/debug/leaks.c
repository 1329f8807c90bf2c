/*
 * leaks.c - the live blocks of a pool, grouped by allocation site (all of
 * their frames), reported as leaks: at delete_pool, at the last
 * put_module and at exit (only the blocks this process allocated: a forked
 * child does not report its parent's), since a mark, or on request.
 *
 * Grouping sorts the blocks by their stack's depot handle (one per
 * distinct stack of up to stack_depth frames), so a pool of a
 * million live blocks is grouped in O(n log n) with one allocation; groups
 * are listed by bytes, then by count, largest first. At exit a
 * reachability scan (leak_scan.h) runs first, and a site's blocks are
 * grouped by what it found of them too (unreferenced, indirectly lost,
 * still referenced): leak_mode=unreferenced counts only the first two.
 *
 * Invariants: only blocks whose header is intact are grouped (a damaged one
 * was reported as damage by the check that runs first).
 *
 * Locking: a pool's lock while its blocks are collected; none while the
 * report is made (report.c symbolizes and may call the hook).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"
#include "debug/guarded.h"

struct leak_entry {
	uint64_t hash;
	size_t size;
	const struct debug_block_header *header; /* NULL: a guarded block (guarded.h) */
	const void *user;
	enum leak_reach reach;
};

struct leak_walk {
	struct leak_entry *entries;
	size_t count;
	size_t capacity;
	int64_t since;
	pid_t team;                   /* 0: any */
	const struct leak_scan *scan; /* NULL: no verdicts */
	bool lost_only;               /* only blocks the scan found unreferenced or indirect */
	bool failed;
};

/*
 * Frees what holds blocks' addresses, cleared first: freed memory keeps
 * its bytes, and a later reachability scan reads the malloc heap as a
 * root, so a report's leftovers would make the blocks it named look
 * referenced for ever.
 */
static void forget(void *memory, size_t bytes)
{
	if (memory != NULL)
		explicit_bzero(memory, bytes);
	free(memory);
}

/* Equal stacks have equal depot handles: the handle is the grouping key. */
static uint64_t frames_hash(const struct debug_block_header *header)
{
	return header->stack;
}

/* Room for one more entry; false (walk failed) when there is none. */
static bool make_room(struct leak_walk *walk)
{
	if (walk->count == walk->capacity) {
		size_t capacity = walk->capacity ? walk->capacity * 2 : 256;
		struct leak_entry *entries = realloc(walk->entries, capacity * sizeof(*entries));
		if (entries == NULL) {
			walk->failed = true;
			return false;
		}
		walk->entries = entries;
		walk->capacity = capacity;
	}
	return true;
}

/* A live guarded block leaks as a canary block does (its tag is in the
 * side table, guarded.c). */
static void collect_guarded_leak(const void *user, size_t size, const area_malloc_owner *owner,
	uint32_t stack, void *context)
{
	struct leak_walk *walk = context;
	enum leak_reach reach = leak_scan_reach(walk->scan, user);

	if (owner->time < walk->since || (walk->team != 0 && owner->team != walk->team))
		return;
	if (walk->lost_only && reach != LEAK_REACH_UNREFERENCED && reach != LEAK_REACH_INDIRECT)
		return;
	if (make_room(walk))
		walk->entries[walk->count++] =
			(struct leak_entry){ stack, size, NULL, user, reach };
}

static void collect_leak(void *chunk, size_t usable, bool used, void *context)
{
	struct leak_walk *walk = context;
	struct debug_block_header *header = chunk;
	enum leak_reach reach;
	bool leaked;

	if (!used)
		return;
	block_open(header, usable);
	leaked = debug_block_header_ok(&debug_layout, header, usable)
		&& debug_block_state(header) == BLOCK_LIVE && header->time >= walk->since
		&& (walk->team == 0 || header->team == walk->team);
	reach = leak_scan_reach(walk->scan, debug_block_user(&debug_layout, header));
	if (walk->lost_only)
		leaked = leaked
			&& (reach == LEAK_REACH_UNREFERENCED || reach == LEAK_REACH_INDIRECT);
	if (!leaked) {
		block_close(header, usable);
		return;
	}
	if (!make_room(walk))
		return;
	walk->entries[walk->count++] = (struct leak_entry){ frames_hash(header), header->size,
		header, debug_block_user(&debug_layout, header), reach };
	block_close(header, usable);
}

/* By site, then by verdict: a group is one site and one verdict. */
static int compare_by_hash(const void *a, const void *b)
{
	const struct leak_entry *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->reach < y->reach ? 1 : x->reach > y->reach ? -1 : 0;
}

static int compare_groups(const void *a, const void *b)
{
	const struct leak_group *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* Groups the live blocks of a locked pool by allocation site. */
static struct leak_group *collect_leak_groups_locked(struct pool *pool, int64_t since, pid_t team,
	const struct leak_scan *scan, bool lost_only, size_t *group_count)
{
	struct leak_walk walk = { NULL, 0, 0, since, team, scan, lost_only, false };
	struct leak_group *groups;
	size_t count = 0;

	/* a damaged heap ends the walk: the blocks below the damage are listed */
	heap_walk(pool->heap, collect_leak, &walk, NULL);
	guarded_for_each_live(pool, false, collect_guarded_leak, &walk);
	*group_count = 0;
	if (walk.count == 0) {
		free(walk.entries);
		return NULL;
	}
	qsort(walk.entries, walk.count, sizeof(*walk.entries), compare_by_hash);
	groups = calloc(walk.count, sizeof(*groups));
	if (groups == NULL) {
		free(walk.entries);
		return NULL;
	}
	for (size_t i = 0; i < walk.count; i++) {
		const struct leak_entry *entry = &walk.entries[i];
		if (count == 0 || walk.entries[i - 1].hash != entry->hash
			|| walk.entries[i - 1].reach != entry->reach) {
			struct leak_group *group = &groups[count++];
			struct debug_block_header *header =
				(struct debug_block_header *)entry->header;
			if (header != NULL) {
				size_t usable = heap_usable_size(pool->heap, header);
				block_open(header, usable);
				debug_block_owner(&debug_layout, header, &group->owner);
				block_close(header, usable);
			} else {
				guarded_owner_of(pool, entry->user, &group->owner);
			}
			group->first_address = entry->user;
			group->reach = entry->reach;
		}
		groups[count - 1].bytes += entry->size;
		groups[count - 1].count++;
	}
	forget(walk.entries, walk.count * sizeof(*walk.entries));
	qsort(groups, count, sizeof(*groups), compare_groups);
	*group_count = count;
	return groups;
}

size_t report_pool_leaks(struct pool *pool, int64_t since, pid_t team, const char *when,
	size_t *blocks)
{
	return report_scanned_pool_leaks(pool, since, team, when, NULL, false, blocks);
}

size_t report_scanned_pool_leaks(struct pool *pool, int64_t since, pid_t team, const char *when,
	const struct leak_scan *scan, bool lost_only, size_t *blocks)
{
	struct leak_report report = { .kind = ERROR_LEAK };
	area_malloc_owner creator;
	char name[NODE_POOL_NAME_MAX];
	struct leak_group *groups;
	size_t count, bytes;
	bool locked;

	locked = debug_lock(pool);
	groups = collect_leak_groups_locked(pool, since, team, scan, lost_only, &count);
	describe_pool(pool, &report.pool, name, &creator);
	debug_unlock(pool, locked);
	report.when = when;
	report.groups = groups;
	report.group_count = count;
	report.detail = leak_scan_note(scan);
	/* a look from the kernel debugger is not a verdict on the process */
	report.counts = strstr(when, "on request") == NULL;
	bytes = report_leaks(&report, blocks);
	forget(groups, count * sizeof(*groups));
	return bytes;
}

struct leak_totals {
	int64_t since;
	pid_t team;
	const char *when;
	size_t bytes;
	size_t blocks;
};

static void report_leaks_of(const void *id, struct pool *pool, void *context)
{
	struct leak_totals *totals = context;
	size_t blocks = 0;

	(void)id;
	totals->bytes +=
		report_pool_leaks(pool, totals->since, totals->team, totals->when, &blocks);
	totals->blocks += blocks;
}

int report_leaks_of_pools(area_id area, int64_t since, const char *when, size_t *bytes,
	size_t *blocks)
{
	struct leak_totals totals = { since, 0, when, 0, 0 };
	int pools = for_each_acquired_pool(area, report_leaks_of, &totals);

	*bytes = totals.bytes;
	*blocks = totals.blocks;
	return pools;
}

status_t debug_report_leaks(const void *pool_id, uint64 mark, const char *when, size_t *bytes,
	size_t *blocks)
{
	struct leak_totals totals = { (int64_t)mark, 0, when, 0, 0 };
	struct pool *pool;

	if (pool_id != NULL) {
		pool = acquire_for_query(pool_id);
		if (pool == NULL)
			return B_BAD_VALUE;
		report_leaks_of(pool_id, pool, &totals);
		pool_registry_release(pool_id);
	} else {
		report_leaks_of_pools(0, (int64_t)mark, when, &totals.bytes, &totals.blocks);
	}
	if (bytes != NULL)
		*bytes = totals.bytes;
	if (blocks != NULL)
		*blocks = totals.blocks;
	return B_OK;
}

/* Damage first (as at delete_pool), then the leaks; after fork, the blocks
 * inherited from the parent are the parent's. */
static void check_and_report_at_exit(const void *id, struct pool *pool, void *context)
{
	struct pending_list pending;
	bool locked;

	const struct leak_scan *scan = context;
	bool sound;

	(void)id;
	pending_init(&pending);
	locked = debug_lock(pool);
	sound = heap_sound_for_leaving(pool, "exit", NULL, &pending)
		&& check_before_leaving(pool, &pending);
	debug_unlock(pool, locked);
	flush_pending(&pending);
	if (sound)
		report_scanned_pool_leaks(pool, 0, getpid(), "at exit", scan, false, NULL);
}

/* The module's entry for the scan: its frames below are no roots. */
void debug_report_exit_leaks(void)
{
	struct leak_scan *scan;

	/* the driver's values in callee-saved registers go into this frame */
	__builtin_unwind_init();
	if (!debug_options.leak_check)
		return;
	scan = leak_scan_run(debug_options.leak_interior, LEAK_SCAN_ENTRY_FLOOR());
	for_each_acquired_pool(0, check_and_report_at_exit, scan);
	leak_scan_free(scan);
}

/* ---- scans asked for (the companion's scan_leaks, the scan command) ---- */

struct scan_reports {
	const struct leak_scan *scan;
	const char *when;
};

static void report_lost_of(const void *id, struct pool *pool, void *context)
{
	struct scan_reports *reports = context;

	(void)id;
	report_scanned_pool_leaks(pool, 0, 0, reports->when, reports->scan, true, NULL);
}

status_t debug_scan_leaks(const void *pool_id, area_malloc_scan_result *result, const char *when,
	uintptr_t floor)
{
	struct scan_reports reports = { NULL, when };
	area_malloc_scan_result totals;
	struct pool *pool = NULL;

	if (pool_id != NULL && (pool = acquire_for_query(pool_id)) == NULL)
		return B_BAD_VALUE;
	reports.scan = leak_scan_run(debug_options.leak_interior, floor);
	if (reports.scan == NULL) {
		if (pool != NULL)
			pool_registry_release(pool_id);
		return B_NO_MEMORY;
	}
	if (pool != NULL) {
		report_lost_of(pool_id, pool, &reports);
		leak_scan_count(reports.scan, (uintptr_t)pool->base,
			(uintptr_t)pool->base + pool->area_size, &totals);
		pool_registry_release(pool_id);
	} else {
		for_each_acquired_pool(0, report_lost_of, &reports);
		leak_scan_count(reports.scan, 0, UINTPTR_MAX, &totals);
	}
	if (result != NULL)
		*result = totals;
	leak_scan_free((struct leak_scan *)reports.scan);
	return B_OK;
}

status_t debug_not_leak(const void *pool_id, const void *address)
{
	struct debug_block_header *header;
	struct pool *pool = acquire_for_query(pool_id);
	uint32_t sequence = 0;
	int64_t time = 0;
	bool live = false, locked;

	if (pool == NULL)
		return B_BAD_VALUE;
	locked = debug_lock(pool);
	header = debug_block_from_user(&debug_layout, address);
	if (guarded_holds(pool, address)) {
		/* a guarded block (guarded.h): its tag is in the side table, and
		 * no header precedes it */
		area_malloc_owner owner;
		live = guarded_owner_of(pool, address, &owner);
		sequence = owner.sequence;
		time = owner.time;
	} else if (heap_contains(pool->heap, header) && heap_block_is_live(pool->heap, header)) {
		size_t usable = heap_usable_size(pool->heap, header);
		block_open(header, usable);
		live = debug_block_header_ok(&debug_layout, header, usable)
			&& debug_block_state(header) == BLOCK_LIVE;
		sequence = header->sequence;
		time = header->time;
		block_close(header, usable);
	}
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	if (!live)
		return B_BAD_VALUE;
	return leak_scan_mark_root(address, sequence, time) ? B_OK : B_NO_MEMORY;
}

struct scan_command {
	area_id area;
	const void *id;
};

static void note_scanned_pool(const void *id, struct pool *pool, void *context)
{
	struct scan_command *command = context;

	(void)pool;
	command->id = id;
}

int debug_scan_command(area_id area, uintptr_t floor)
{
	struct scan_command command = { area, NULL };
	area_malloc_scan_result result;

	if (area != 0 && for_each_acquired_pool(area, note_scanned_pool, &command) == 0)
		return -1;
	if (debug_scan_leaks(command.id, &result, "by scan on request", floor) != B_OK) {
		kprintf("scan: the pool went away, or no memory for the scan\n");
		return -1;
	}
	kprintf("%zu byte(s) in %zu block(s) unreferenced, %zu byte(s) in %zu block(s) "
		"indirectly lost, %zu byte(s) in %zu block(s) still referenced\n",
		result.unreferenced_bytes, result.unreferenced_blocks, result.indirect_bytes,
		result.indirect_blocks, result.referenced_bytes, result.referenced_blocks);
	if (result.unscanned_threads > 0)
		kprintf("%zu thread(s) did not stop: their stacks were read whole\n",
			result.unscanned_threads);
	return (int)(result.unreferenced_blocks + result.indirect_blocks);
}
