/*
 * pool_check.c - checking a whole pool: the heap's invariants, the
 * allocation log's, and every block's header, canaries and poison
 * (debug_internal.h, D1-D4). Asked for (the companion module's check_pool,
 * the "check" debugger command), and at delete_pool and exit, where the
 * damage a call already reported is not reported again.
 *
 * A damaged heap is never walked: its chunk sizes and links are what the
 * damage may have changed. It is reported as heap-corruption and the check
 * stops there.
 *
 * Invariants: reported_headers holds the last 16 damaged headers a call
 * reported (a ring; older ones may be reported again by a later check).
 *
 * Locking: the pool's lock, held by the caller (check_pools takes each
 * pool's in turn).
 */
#include "config.h"

#include <stdio.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"

#define REPORTED_HEADER_SLOTS \
	(sizeof(((struct debug_pool *)0)->reported_headers) / sizeof(uintptr_t))

void remember_reported_header(struct debug_pool *debug, const void *header)
{
	debug->reported_headers[debug->reported_header_count++ % REPORTED_HEADER_SLOTS] =
		(uintptr_t)header;
}

static bool header_already_reported(const struct debug_pool *debug, const void *header)
{
	uint32_t held = debug->reported_header_count < REPORTED_HEADER_SLOTS
		? debug->reported_header_count : (uint32_t)REPORTED_HEADER_SLOTS;

	for (uint32_t i = 0; i < held; i++)
		if (debug->reported_headers[i] == (uintptr_t)header)
			return true;
	return false;
}

struct check_walk {
	struct pool *pool;
	struct pending_list *pending;
	bool report_headers;	/* false: a damaged header that a call already reported
				 * (at free) is not reported again */
	int problems;
};

static void check_block(void *chunk, size_t usable, bool used, void *context)
{
	struct check_walk *walk = context;
	struct debug_block_header *header = chunk;
	struct debug_block_finding finding;
	struct error_figures figures;
	struct pending *report;
	void *user;

	if (!used)
		return;
	block_open(header, usable);
	finding = debug_block_check(&debug_layout, header, usable);
	if (finding.problem == BLOCK_OK
		|| (finding.problem == BLOCK_HEADER_DAMAGED && !walk->report_headers
			&& header_already_reported(debug_of(walk->pool), header))) {
		block_close(header, usable);
		return;
	}
	walk->problems++;
	figures = error_figures_of_finding(finding);
	user = debug_block_user(&debug_layout, header);
	report = new_pending(walk->pending, figures.kind, "check", user, NULL);
	if (report == NULL) {
		block_close(header, usable);
		return;
	}
	pending_set_pool(report, walk->pool);
	pending_set_block(report, header, finding.problem != BLOCK_HEADER_DAMAGED);
	pending_set_figures(report, &figures);
	snprintf(report->detail, sizeof(report->detail), "found by a check of the pool%s",
		finding.problem == BLOCK_HEADER_DAMAGED ? ": the block's header is damaged" : "");
	pending_set_log(report, walk->pool, user);
	block_close(header, usable);
}

/* A check found the pool's own bookkeeping (what, at address) damaged. */
static void report_damaged_metadata(struct pool *pool, struct pending_list *pending,
	const void *address, const char *what, const char *why, const char *cause)
{
	struct pending *report = new_pending(pending, ERROR_HEAP_CORRUPTION, "check", address, NULL);

	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail), "the pool's %s is damaged (%s): %s",
			what, why, cause);
	}
}

static int check_locked_walk(struct pool *pool, struct pending_list *pending, bool report_headers)
{
	struct check_walk walk = { pool, pending, report_headers, 0 };
	struct debug_pool *debug = debug_of(pool);
	const char *why = NULL;

	if (!heap_validate(pool->heap, &why)) {
		report_damaged_metadata(pool, pending, pool->base, "heap metadata", why,
			"a write past a block reached the allocator's own header");
		debug->d.errors++;
		return 1; /* walking a damaged heap is not safe */
	}
	if (debug->log != NULL && !pool_log_validate(debug->log, debug_options.log_size, &why)) {
		report_damaged_metadata(pool, pending, debug->log, "allocation log", why,
			"a wild write reached the pool's control region");
		walk.problems++;
	}
	heap_walk(pool->heap, check_block, &walk);
	debug->d.errors += (uint64_t)walk.problems;
	return walk.problems;
}

int check_locked(struct pool *pool, struct pending_list *pending)
{
	return check_locked_walk(pool, pending, true);
}

void check_before_leaving(struct pool *pool, struct pending_list *pending)
{
	check_locked_walk(pool, pending, false);
}

int32 debug_check_pool(const void *pool_id)
{
	struct pending_list pending;
	struct pool *pool;
	int problems;
	bool locked;

	if (pool_id == NULL) {
		int pools;
		return check_pools(0, &pools);
	}
	pool = acquire_for_query(pool_id);
	if (pool == NULL)
		return B_BAD_VALUE;
	pending_init(&pending);
	locked = debug_lock(pool);
	problems = check_locked(pool, &pending);
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	flush_pending(&pending);
	return problems;
}

static void check_one_pool(const void *id, struct pool *pool, void *context)
{
	struct pending_list pending;
	int *problems = context;
	bool locked;

	(void)id;
	pending_init(&pending);
	locked = debug_lock(pool);
	*problems += check_locked(pool, &pending);
	debug_unlock(pool, locked);
	flush_pending(&pending);
}

int check_pools(area_id area, int *pools_checked)
{
	int problems = 0;

	*pools_checked = for_each_acquired_pool(area, check_one_pool, &problems);
	if (area != 0 && *pools_checked == 0)
		return -1;
	return problems;
}
