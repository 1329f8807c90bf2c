/*
 * debug_pool.c - the life of a debug pool: module setup, create_pool,
 * delete_pool (the last checks and the leak report), names, statistics,
 * marks, and the space of the pool's file in the debug node. The calls on
 * blocks are debug_alloc.c's; debug_internal.h lists every file and the
 * invariants of a debug pool.
 *
 * A pool's area reserves room beyond the caller's size for the debug
 * metadata (debug_reserve), so a driver that fits its pools in the release
 * build fits them here; and by default a pool holds no more than the
 * release pool would (D6), so one that does not fit fails here too. Published pools are backed by a file of the node
 * (node_writer.h), which readers copy; its space is reserved ahead of the
 * heap's touched mark (reserve_for), so a full tmpfs means NULL from malloc,
 * never SIGBUS in the driver.
 *
 * Invariants: a pool is in the registry from the end of create_pool until
 * delete_pool removed it; while it is, its descriptor's state is LIVE, then
 * DELETING. debug_options and debug_layout change only at B_MODULE_INIT.
 *
 * Locking: create and delete are serialised against other calls on the same
 * pool by the registry (in-flight counts, pool_registry_begin_delete); every
 * other call here takes the pool's lock around what it reads or writes.
 */
#include "config.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"
#include "debug/guarded.h"
#include "debug/node_writer.h"
#include "format/utf8.h"

/* The initial file space of a lazy pool past its heap offset. */
#define INITIAL_HEAP_RESERVE (64 * 1024)

struct debug_options debug_options;
struct debug_layout debug_layout;

/* ---- setup ---- */

/*
 * The most chunk bytes a debug block takes per chunk byte the release build
 * gives the same request, in sixteenths (48 for a 1-byte request: a 96-byte
 * chunk against 32). The ratio falls as requests grow (header and canaries
 * are a fixed cost), so the small requests decide it.
 */
static unsigned chunk_ratio_sixteenths;

static void measure_chunk_ratio(void)
{
	chunk_ratio_sixteenths = 16;
	for (size_t size = 0; size <= 4096; size++) {
		size_t debug_chunk =
			heap_chunk_bytes_for(debug_block_chunk_bytes(&debug_layout, size));
		size_t release_chunk = heap_chunk_bytes_for(size);
		unsigned ratio = (unsigned)((debug_chunk * 16 + release_chunk - 1) / release_chunk);

		if (ratio > chunk_ratio_sixteenths)
			chunk_ratio_sixteenths = ratio;
	}
}

void debug_pools_init(const struct debug_options *module_options)
{
	debug_options = *module_options;
	debug_layout_init(&debug_layout, debug_options.stack_depth);
	guarded_init(&debug_options);
	measure_chunk_ratio();
	fault_injection_init();
	shadow_init();
	if (debug_options.node)
		node_writer_start(&debug_options, &debug_layout);
	stacks_start(&debug_options, &debug_layout, debug_options.node && node_writer_active());
	debug_fork_install();
	owner_reset();
}

void debug_pools_fini(void)
{
	stacks_stop();
}

/* Where a pool's guard table starts, from its area's start: after the
 * descriptor and the log (the control region's order, guarded.h). */
static size_t guard_table_offset(void)
{
	return POOL_HEADER_BYTES + ((sizeof(struct debug_pool) + 63) & ~(size_t)63)
		+ pool_log_bytes(debug_options.log_size);
}

/* locked: the pool is locked in memory (guarded_control_bytes). */
static size_t control_bytes(bool locked)
{
	return guard_table_offset() - POOL_HEADER_BYTES + guarded_control_bytes(locked);
}

/* Room beyond the caller's size for headers, canaries and the log: enough
 * that a pool holds every mix of blocks the release pool of its size holds
 * (the worst chunk ratio, capacity parity), and half the size more for the
 * quarantine, which gives its blocks back before an allocation fails. */
static size_t debug_reserve(size_t size, bool locked)
{
	if (size > SIZE_MAX / 16)
		return SIZE_MAX / 4;
	return (size / 16 + 1) * (chunk_ratio_sixteenths - 16) + size / 2 + control_bytes(locked)
		+ B_PAGE_SIZE;
}

/* ---- the pool's file ---- */

/* Fills the part of the descriptor that readers need to find their way. */
static void describe_layout(struct pool *pool, struct debug_pool *debug)
{
	struct node_pool_descriptor *d = &debug->d;

	memcpy(d->magic, NODE_POOL_MAGIC, sizeof(d->magic));
	d->version = NODE_FORMAT_VERSION;
	d->descriptor_bytes = sizeof(*d);
	d->area = pool->area;
	d->state = NODE_POOL_LIVE;
	d->base_address = (uint64_t)(uintptr_t)pool->base;
	d->area_size = pool->area_size;
	d->control_offset = (uint64_t)((char *)debug - (char *)pool->base);
	d->lock_offset = (uint64_t)((char *)&pool->lock - (char *)pool->base);
	d->quiet.budget_us = debug_options.reader_wait_us;
	d->guard_offset = pool->guard_offset;
	d->heap_offset = pool->heap_offset;
	d->heap_bytes = pool->area_size - pool->heap_offset;
	d->log_offset = (uint64_t)((char *)debug->log - (char *)pool->base);
}

/*
 * Before the heap hands out memory, the file behind the pool must have the
 * space: on a full tmpfs, touching an unreserved page would be SIGBUS in the
 * driver, never a NULL. The heap writes at most request + HEAP_SPLIT_SLACK
 * bytes past its touched mark.
 */
bool reserve_for(struct pool *pool, size_t bytes)
{
	struct debug_pool *debug = debug_of(pool);
	uint64_t upto;

	if (!debug->file_backed)
		return true;
	upto = (uint64_t)(heap_touched_end(pool->heap) - (uintptr_t)pool->base) + bytes
		+ HEAP_SPLIT_SLACK;
	if (upto <= debug->reserved_end)
		return true; /* nearly every call: space is reserved a megabyte ahead */
	if (debug->lazy_backing) {
		/* taken as written (backing.c); fork copies up to here */
		debug->reserved_end = upto < pool->area_size ? upto : pool->area_size;
		return true;
	}
	if (!node_reserve(pool->base, pool->area, &debug->reserved_end, upto, pool->area_size))
		return false;
	debug->d.reserved_bytes = debug->reserved_end;
	return true;
}

/* ---- what the sanitizers may see ---- */

void block_close_shadow(struct debug_block_header *header, size_t usable)
{
	/* a nested look at the same block (a report that names it) may have
	 * hidden the header already */
	struct debug_block_header copy;

	peek_header(header, &copy);
	if (debug_block_state(&copy) == BLOCK_LIVE
		&& debug_block_header_ok_at(&debug_layout, &copy, usable, (uintptr_t)header)) {
		size_t size = copy.size;
		shadow_hide(header, debug_layout.front_size);
		shadow_hide((char *)header + debug_layout.front_size + size,
			usable - debug_layout.front_size - size);
	} else {
		shadow_hide(header, usable);
	}
}

/* ---- create_pool ---- */

const void *debug_create_pool(uint32 address_spec, size_t size, uint32 lock_spec, uint32 protection,
	uintptr_t caller)
{
	struct pool_backing backing = { .fd = -1, .guard_page = true };
	bool locked_spec = lock_spec != B_NO_LOCK && lock_spec != B_LAZY_LOCK;
	size_t reserve = debug_reserve(size, locked_spec), area_bytes, heap_offset;
	size_t control = control_bytes(locked_spec);
	uint64_t hole_from, hole_to;
	struct debug_pool *debug;
	struct heap_stats stats;
	struct pool *pool;
	const void *id;

	area_bytes = pool_area_bytes(size, reserve, control, &backing);
	heap_offset = pool_heap_offset(control, &backing);
	if (size != 0 && area_bytes != SIZE_MAX && debug_options.node && node_writer_active()) {
		/* locked pools reserve all their space now; lazy ones in steps,
		 * and never the guard region: its pages are reserved block by
		 * block (4 MiB per pool otherwise, with sampling on by default) */
		guarded_region_span(guard_table_offset(), locked_spec, &hole_from, &hole_to);
		backing.fd = node_pool_file_create(area_bytes, heap_offset + INITIAL_HEAP_RESERVE,
			hole_from, hole_to, locked_spec);
	}
	pool = pool_create(address_spec, size, reserve, control, &backing, lock_spec, protection,
		NULL);
	if (pool == NULL) {
		if (backing.fd >= 0)
			node_pool_file_discard(backing.fd);
		return NULL;
	}
	debug = debug_of(pool);
	debug->file_backed = backing.fd >= 0;
	debug->reserved_end = backing.fd < 0 ? 0
		: locked_spec                ? area_bytes
					     : heap_offset + INITIAL_HEAP_RESERVE;
	debug->d.reserved_bytes = debug->reserved_end;
	backing_setup(pool, locked_spec);
	capture_owner(&debug->d.creator, caller);
	debug->d.requested_size = size;
	debug->log = (struct pool_log *)((char *)debug
		+ ((sizeof(struct debug_pool) + 63) & ~(size_t)63));
	pool_log_init(debug->log, debug_options.log_size);
	/* guarded blocks: their side table and guard region end the control
	 * region (guarded.h) */
	guarded_pool_init(pool, (char *)pool->base + guard_table_offset(), locked_spec);
	heap_get_stats(pool->heap, &stats);
	debug->quarantine_limit = debug_options.quarantine_bytes < stats.capacity_bytes / 4
		? debug_options.quarantine_bytes
		: stats.capacity_bytes / 4;
	debug->release_charged = 0;
	debug->release_capacity =
		debug_options.release_capacity ? pool_release_capacity(size) : SIZE_MAX;
	pool->creator = (void *)caller;
	describe_layout(pool, debug);
	id = pool_registry_add(pool);
	if (id == NULL) {
		backing_teardown(pool);
		pool_destroy(pool);
		if (backing.fd >= 0)
			node_pool_file_discard(backing.fd);
		return NULL;
	}
	pool->id = id;
	debug->d.pool_id = (uint64_t)(uintptr_t)id;
	debug->root_region = shadow_pool_reach(pool->base, 0,
		heap_touched_end(pool->heap) - (uintptr_t)pool->base, pool->area_size);
	if (backing.fd >= 0)
		node_pool_file_publish(backing.fd, pool->area);
	node_writer_note_caller(caller);
	return id;
}

/* ---- acquiring pools ---- */

void report_invalid_pool(const void *pool_id, enum pool_acquire_result result, const char *what,
	const void *address, const area_malloc_owner *detected)
{
	struct pending_list list;
	struct pending *pending;

	pending_init(&list);
	pending = new_pending(&list, ERROR_INVALID_POOL, what, address, detected);
	pending->report.pool.id = pool_id;
	if (result == POOL_DELETING)
		snprintf(pending->detail, sizeof(pending->detail),
			"%s(%p) called while delete_pool runs on that pool (the calls are not safe "
			"against delete_pool of the same pool); the call is refused",
			what, pool_id);
	else
		snprintf(pending->detail, sizeof(pending->detail),
			"%s: pool id %p is not a live pool (NULL, never created, or already "
			"deleted); the call is refused",
			what, pool_id);
	flush_pending(&list);
}

struct pool *acquire_or_report(const void *pool_id, const char *what, const void *address,
	const area_malloc_owner *detected)
{
	struct pool *pool = NULL;
	enum pool_acquire_result result;

	/* guard page faults since the last call are reported now (guarded.h) */
	guarded_report_faults();
	result = pool_registry_acquire(pool_id, &pool);
	if (result == POOL_ACQUIRED)
		return pool;
	report_invalid_pool(pool_id, result, what, address, detected);
	return NULL;
}

struct pool *acquire_for_query(const void *pool_id)
{
	struct pool *pool = NULL;

	return pool_registry_acquire(pool_id, &pool) == POOL_ACQUIRED ? pool : NULL;
}

/* The ids of every live pool, in registry order (freed by the caller). */
struct id_list {
	const void **ids;
	size_t count;
	size_t capacity;
};

static void append_id(struct pool *pool, const void *id, void *context)
{
	struct id_list *list = context;

	(void)pool;
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 64;
		const void **ids = realloc(list->ids, capacity * sizeof(*ids));
		if (ids == NULL)
			return;
		list->ids = ids;
		list->capacity = capacity;
	}
	list->ids[list->count++] = id;
}

/* The ids are copied under the registry's lock and the pools visited after
 * it: a visit may take a pool's lock, report and call the hook. */
static struct id_list live_pool_ids(void)
{
	struct id_list list = { NULL, 0, 0 };

	pool_registry_for_each(append_id, &list);
	return list;
}

const void **debug_live_pool_ids(size_t *count)
{
	struct id_list list = live_pool_ids();

	*count = list.count;
	return list.ids;
}

int for_each_acquired_pool(area_id area, debug_pool_visit_fn fn, void *context)
{
	struct id_list list = live_pool_ids();
	int visited = 0;

	for (size_t i = 0; i < list.count; i++) {
		struct pool *pool = acquire_for_query(list.ids[i]);
		if (pool == NULL)
			continue; /* deleted meanwhile */
		if (area == 0 || pool->area == area) {
			fn(list.ids[i], pool, context);
			visited++;
		}
		pool_registry_release(list.ids[i]);
	}
	free(list.ids);
	return visited;
}

/* ---- delete_pool ---- */

static status_t delete_pool_reporting(const void *pool_id, const char *when,
	const area_malloc_owner *caller, const struct leak_scan *scan)
{
	struct pending_list pending;
	struct pool *pool = NULL;
	enum pool_acquire_result result = pool_registry_begin_delete(pool_id, &pool);
	area_id area;
	bool locked, sound;
	bool file_backed;

	if (result != POOL_ACQUIRED) {
		report_invalid_pool(pool_id, result, "delete_pool", NULL, caller);
		return B_ERROR;
	}
	pending_init(&pending);
	locked = debug_lock_for(pool, NODE_OP_DELETE_POOL);
	debug_of(pool)->d.state = NODE_POOL_DELETING;
	/* The heap is validated before anything drains, merges or walks it: a
	 * damaged pool is released as it is, its blocks neither checked nor
	 * counted as leaks. Otherwise every quarantined block leaves (its
	 * poison is checked on the way) and the blocks still live are checked
	 * too (their canaries), so damage to a block that was never freed is
	 * reported as what it is, not only as a leak. */
	sound = heap_sound_for_leaving(pool, "delete_pool", caller, &pending);
	if (sound) {
		quarantine_drain(pool, 0, &pending);
		sound = check_before_leaving(pool, &pending);
	}
	debug_unlock(pool, locked);
	flush_pending(&pending);
	/* only this process's blocks: after fork, those the parent allocated
	 * are the parent's to free (as at exit, leaks.c) */
	if (sound && debug_options.leak_check)
		report_scanned_pool_leaks(pool, 0, getpid(), when, scan, false, NULL);
	pool_registry_remove(pool_id);
	shadow_pool_destroyed(pool->base, debug_of(pool)->root_region,
		heap_touched_end(pool->heap) - (uintptr_t)pool->base);
	file_backed = debug_of(pool)->file_backed;
	area = pool->area;
	guarded_pool_fini(pool);
	backing_teardown(pool);
	pool_destroy(pool);
	if (file_backed)
		node_pool_file_remove(area);
	return B_OK;
}

status_t debug_delete_pool(const void *pool_id, uintptr_t caller)
{
	area_malloc_owner owner;

	capture_owner(&owner, caller);
	return delete_pool_reporting(pool_id, "at delete_pool", &owner, NULL);
}

/*
 * With leak_scan_unload the last put_module is a process's exit point as
 * much as exit is (a driver that puts its module away before it returns
 * from main never reaches the exit-time report with a pool open): the
 * reachability scan runs before any pool goes, so every report it makes
 * carries verdicts and leak_mode applies, as at exit. The scan runs here,
 * with no pool locked, once for all of them.
 */
void debug_delete_all_pools(const char *when)
{
	/* described while they live, reported after their blocks (as at exit) */
	struct leaked_pools *leaked = leaked_pools_collect();
	struct id_list list = live_pool_ids();
	struct leak_scan *scan = NULL;

	/* the driver's values in callee-saved registers go into this frame */
	__builtin_unwind_init();
	if (debug_options.leak_check && debug_options.leak_scan_unload && list.count > 0)
		scan = leak_scan_run(debug_options.leak_interior, LEAK_SCAN_ENTRY_FLOOR());
	for (size_t i = 0; i < list.count; i++)
		delete_pool_reporting(list.ids[i], when, NULL, scan);
	leak_scan_free(scan);
	free(list.ids);
	leaked_pools_report(leaked, when);
}

/* ---- names, statistics, marks ---- */

uint64 debug_mark(void)
{
	/* Blocks allocated before this call have a time below the mark, later
	 * ones at or above it: wait for the owner clock (a coarse one, see
	 * owner_clock) to move past now; at most one tick. */
	bigtime_t mark = owner_clock() + 1;

	while (owner_clock() < mark)
		sched_yield();
	node_writer_set_mark(mark);
	return (uint64)mark;
}

/* Runs fn on the pool id names, under its lock; B_BAD_VALUE when it names none. */
static status_t with_locked_pool(const void *pool_id, void (*fn)(struct pool *, void *),
	void *context)
{
	struct pool *pool = acquire_for_query(pool_id);
	bool locked;

	if (pool == NULL)
		return B_BAD_VALUE;
	locked = debug_lock(pool);
	fn(pool, context);
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	return B_OK;
}

/*
 * The name is kept with its control characters as '?': it is printed into
 * reports, the pools command and node files that scripts read line by line,
 * and a name holding a newline could forge a report line ("SUMMARY: ...")
 * or an escape sequence reach a terminal. A long name is cut between
 * characters, never inside a UTF-8 sequence (a byte that is not valid
 * UTF-8 counts as one character and is kept as it is).
 */
static void set_name_locked(struct pool *pool, void *name)
{
	char *kept = debug_of(pool)->d.name;
	const unsigned char *given = name;
	size_t i = 0;

	while (given[i] != '\0') {
		size_t length = utf8_sequence(given + i);
		if (length == 0)
			length = 1;
		if (i + length >= NODE_POOL_NAME_MAX)
			break;
		for (size_t end = i + length; i < end; i++)
			kept[i] = given[i] < 0x20 || given[i] == 0x7f ? '?' : (char)given[i];
	}
	memset(kept + i, 0, NODE_POOL_NAME_MAX - i);
}

status_t debug_set_pool_name(const void *pool_id, const char *name)
{
	if (name == NULL)
		return B_BAD_VALUE;
	return with_locked_pool(pool_id, set_name_locked, (void *)name);
}

void debug_read_stats_locked(struct pool *pool, area_malloc_pool_stats *stats)
{
	struct debug_pool *debug = debug_of(pool);

	stats->area = pool->area;
	stats->size = debug->d.requested_size;
	stats->area_size = pool->area_size;
	stats->used = debug->d.used_bytes;
	stats->peak = debug->d.peak_bytes;
	stats->live_blocks = debug->d.live_blocks;
	stats->quarantined_bytes = debug->d.quarantined_bytes;
	stats->quarantined_blocks = debug->d.quarantined_blocks;
	stats->allocations = debug->d.allocations;
	stats->frees = debug->d.frees;
	stats->failed_requests = debug->d.failed_requests;
	stats->injected_failures = debug->d.injected_failures;
	stats->errors = debug->d.errors;
	guarded_add_stats(pool, stats);
}

static void read_stats(struct pool *pool, void *stats)
{
	debug_read_stats_locked(pool, stats);
}

status_t debug_get_pool_stats(const void *pool_id, area_malloc_pool_stats *stats)
{
	if (stats == NULL)
		return B_BAD_VALUE;
	return with_locked_pool(pool_id, read_stats, stats);
}
