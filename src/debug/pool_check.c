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
#include <string.h>

#include <KernelExport.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"
#include "debug/guarded.h"

#define REPORTED_HEADER_SLOTS                                                                      \
	(sizeof(((struct debug_pool *)0)->reported_headers) / sizeof(uintptr_t))

void remember_reported_header(struct debug_pool *debug, const void *header)
{
	debug->reported_headers[debug->reported_header_count++ % REPORTED_HEADER_SLOTS] =
		(uintptr_t)header;
}

static bool header_already_reported(const struct debug_pool *debug, const void *header)
{
	uint32_t held = debug->reported_header_count < REPORTED_HEADER_SLOTS
		? debug->reported_header_count
		: (uint32_t)REPORTED_HEADER_SLOTS;

	for (uint32_t i = 0; i < held; i++)
		if (debug->reported_headers[i] == (uintptr_t)header)
			return true;
	return false;
}

struct check_walk {
	struct pool *pool;
	struct pending_list *pending;
	bool report_headers; /* false: a damaged header that a call already reported
				 * (at free) is not reported again */
	int problems;
	bool all_headers_sound;
	size_t release_charged; /* D6, over the LIVE blocks with sound headers */
};

static void check_block(void *chunk, size_t usable, bool used, void *context)
{
	struct check_walk *walk = context;
	struct debug_block_header *header = chunk;
	struct debug_block_finding finding;
	struct error_figures figures;
	struct pending *report;
	void *user;

	if (!used) {
		/* free memory holds only poison past its links (F1) */
		if (usable > HEAP_FREE_LINK_BYTES
			&& !free_memory_check(walk->pool, (char *)chunk + HEAP_FREE_LINK_BYTES,
				usable - HEAP_FREE_LINK_BYTES, (uintptr_t)chunk + usable,
				heap_touched_end(walk->pool->heap), true, "check", NULL,
				walk->pending))
			walk->problems++;
		return;
	}
	block_open(header, usable);
	finding = debug_block_check(&debug_layout, header, usable);
	if (finding.problem == BLOCK_HEADER_DAMAGED)
		walk->all_headers_sound = false;
	else if (debug_block_state(header) == BLOCK_LIVE)
		walk->release_charged += heap_chunk_bytes_for(header->size);
	if (finding.problem == BLOCK_OK
		|| (finding.problem == BLOCK_HEADER_DAMAGED && !walk->report_headers
			&& header_already_reported(debug_of(walk->pool), header))) {
		block_close(header, usable);
		return;
	}
	walk->problems++;
	if (finding.problem == BLOCK_HEADER_DAMAGED
		&& report_far_overflow(walk->pool, header, "check", NULL, walk->pending)) {
		remember_reported_header(debug_of(walk->pool), header);
		block_close(header, usable);
		return;
	}
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

const char *damage_consequence(const char *what)
{
	if (strcmp(what, "delete_pool") == 0)
		return "delete_pool releases the pool without checking its blocks or reporting "
		       "its leaks";
	if (strcmp(what, "exit") == 0)
		return "at exit its blocks are neither checked nor reported as leaks";
	return "the pool refuses every call until a check finds it sound again";
}

/*
 * The first report of damaged heap metadata. An overflow runs upwards, so
 * the nearest sound live block below the damage is its likely culprit; when
 * that block's trailing canary is damaged too, the damage is one run from
 * its end into the heap's tags, and it is reported as what it is, that
 * block's heap-buffer-overflow, reaching at least to the end of the damaged
 * tag (ASan's "N bytes to the right of M-byte region"). Otherwise it is
 * heap-corruption, naming the block below. Later reports about the same
 * damage (consequence: what a refused call, delete_pool or exit does) are
 * heap-corruption.
 */
static void report_damage(struct pool *pool, const struct heap_damage *damage, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending, bool first)
{
	struct debug_block_header *below = (struct debug_block_header *)damage->below;
	struct debug_block_finding finding = { BLOCK_OK, 0, 0 };
	enum error_kind kind = ERROR_HEAP_CORRUPTION;
	struct pending *report;
	size_t usable = 0;
	uintptr_t user = 0;
	bool sound = false;

	debug_of(pool)->d.errors++;
	/* the block below's own size tag may be the damage (the heap cannot
	 * tell): a run down from that block's start says it is */
	if (first && damage->suspect != 0) {
		struct heap_damage own = *damage;
		own.at = damage->suspect - HEAP_BLOCK_OVERHEAD;
		own.why = "a chunk size tag is damaged (no chunk starts where it leads)";
		if (report_underflow_through_tags(pool, &own, what, caller, pending))
			return;
	}
	if (below != NULL) {
		usable = heap_usable_size(pool->heap, below);
		block_open(below, usable);
		sound = debug_block_header_ok(&debug_layout, below, usable);
		user = (uintptr_t)debug_block_user(&debug_layout, below);
		if (sound && first && debug_block_state(below) == BLOCK_LIVE)
			finding = debug_block_check_body_at(&debug_layout, below, usable,
				(uintptr_t)below);
		/* damage from the block's very end on: its overflow, which wins
		 * over reading the same run as the next block's underflow */
		if (finding.problem == BLOCK_OVERFLOW && finding.offset == below->size)
			kind = ERROR_HEAP_BUFFER_OVERFLOW;
	}
	if (first && kind != ERROR_HEAP_BUFFER_OVERFLOW
		&& report_underflow_through_tags(pool, damage, what, caller, pending)) {
		if (below != NULL)
			block_close(below, usable);
		return;
	}
	if (finding.problem == BLOCK_OVERFLOW)
		kind = ERROR_HEAP_BUFFER_OVERFLOW;
	report = new_pending(pending, kind, what,
		kind == ERROR_HEAP_BUFFER_OVERFLOW ? (const void *)user : (const void *)damage->at,
		caller);
	if (report != NULL) {
		pending_set_pool(report, pool);
		pending_set_block(report, below, sound);
		if (kind == ERROR_HEAP_BUFFER_OVERFLOW) {
			struct error_figures figures = error_figures_of_finding(finding);
			uint64_t reach = damage->end - (user + below->size);
			if (reach > figures.overflow_bytes)
				figures.overflow_bytes = reach;
			pending_set_figures(report, &figures);
			snprintf(report->detail, sizeof(report->detail),
				"the write ran on past the block's trailing canary into the heap's own "
				"tags (%s, at %p); %s",
				damage->why, (void *)damage->at, damage_consequence(what));
		} else {
			if (sound && damage->at >= user) {
				report->report.offset = (long)(damage->at - user);
				report->report.offset_known = true;
			}
			if (sound)
				snprintf(report->detail, sizeof(report->detail),
					"the pool's heap metadata is damaged (%s); the nearest live block "
					"below the damage, the likely culprit, is the %zu-byte block at "
					"%p; %s",
					damage->why, (size_t)below->size, (void *)user,
					damage_consequence(what));
			else
				snprintf(report->detail, sizeof(report->detail),
					"the pool's heap metadata is damaged (%s): a wild write reached "
					"the allocator's own tags; %s",
					damage->why, damage_consequence(what));
		}
	}
	if (below != NULL)
		block_close(below, usable);
}

void report_heap_damage(struct pool *pool, const struct heap_damage *damage, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	report_damage(pool, damage, what, caller, pending, true);
}

bool pool_refuses(struct pool *pool, const char *what, const void *address,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	struct heap_damage damage;
	struct pending *report;

	if (__builtin_expect(!heap_damaged(pool->heap, &damage), 1))
		return false;
	debug_of(pool)->d.errors++;
	report = new_pending(pending, ERROR_HEAP_CORRUPTION, what, address, caller);
	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail),
			"%s refused: the pool's heap metadata was found damaged at %p (%s); the "
			"pool refuses every call until a check finds it sound again",
			what, (void *)damage.at, damage.why);
	}
	return true;
}

bool heap_damage_found(struct pool *pool, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending)
{
	struct heap_damage damage;
	struct debug_pool *debug = debug_of(pool);

	if (__builtin_expect(!heap_damaged(pool->heap, &damage), 1))
		return false;
	if (!debug->damage_reported) {
		debug->damage_reported = true;
		report_heap_damage(pool, &damage, what, caller, pending);
	}
	return true;
}

/* A check found the pool's allocation log damaged. */
static void report_damaged_log(struct pool *pool, struct pending_list *pending, const char *why)
{
	struct pending *report =
		new_pending(pending, ERROR_HEAP_CORRUPTION, "check", debug_of(pool)->log, NULL);

	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail),
			"the pool's allocation log is damaged (%s): a wild write reached the pool's "
			"control region",
			why);
	}
}

/*
 * The heap first: its metadata is what a walk follows. Damage found here
 * (or earlier, by an operation) is reported once with its likely culprit
 * and the pool refuses calls from then on; a heap found sound again (a
 * debugger user repaired it) takes calls again.
 */
static bool check_heap_locked(struct pool *pool, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	struct heap_damage damage;

	if (heap_check(pool->heap, &damage)) {
		heap_clear_damage(pool->heap);
		debug->damage_reported = false;
		return true;
	}
	heap_note_damage(pool->heap, &damage);
	debug->damage_reported = true;
	report_heap_damage(pool, &damage, "check", NULL, pending);
	return false;
}

static int check_locked_walk(struct pool *pool, struct pending_list *pending, bool report_headers)
{
	struct check_walk walk = { pool, pending, report_headers, 0, true, 0 };
	struct debug_pool *debug = debug_of(pool);
	const char *why = NULL;

	if (!check_heap_locked(pool, pending))
		return 1; /* walking a damaged heap is not safe */
	if (debug->log != NULL && !pool_log_validate(debug->log, debug_options.log_size, &why)) {
		report_damaged_log(pool, pending, why);
		walk.problems++;
	}
	heap_walk(pool->heap, check_block, &walk, NULL);
	/* guarded blocks (guarded.h): their canaries, and their charge (D6) */
	walk.problems += guarded_check_locked(pool, pending, &walk.release_charged);
	if (walk.all_headers_sound && walk.release_charged != debug->release_charged) {
		/* the module's own accounting, not the driver's doing */
		dprintf("area_malloc: internal error: pool %p charges %zu release bytes, its "
			"blocks take %zu (D6)\n",
			pool->id, debug->release_charged, walk.release_charged);
		walk.problems++;
	}
	debug->d.errors += (uint64_t)walk.problems;
	/* the FIFO's links lie in the freed blocks (counted as errors there) */
	return walk.problems + quarantine_check(pool, pending);
}

int check_locked(struct pool *pool, struct pending_list *pending)
{
	in_flight_begin(in_flight_of(pool), NODE_OP_CHECK);
	return check_locked_walk(pool, pending, true);
}

bool heap_sound_for_leaving(struct pool *pool, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	struct heap_damage damage;

	bool first = false;

	/* damage found before was reported then; this says what happens now */
	if (!heap_damaged(pool->heap, &damage)) {
		if (heap_check(pool->heap, &damage))
			return true;
		heap_note_damage(pool->heap, &damage);
		first = true;
	}
	report_damage(pool, &damage, what, caller, pending, first || !debug->damage_reported);
	debug->damage_reported = true;
	return false;
}

bool check_before_leaving(struct pool *pool, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	struct heap_damage damage;

	/* damage found and reported: not again, nothing walked */
	if (heap_damaged(pool->heap, &damage) && debug->damage_reported)
		return false;
	return check_locked_walk(pool, pending, false) == 0 || heap_check(pool->heap, NULL);
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
