/*
 * node_cmd_check.c - the command "check [pool ID]": every block's header,
 * canaries and poison, the heap's chunk headers and the pool's counters,
 * and its guarded blocks (node_guarded.c: the guard table's header, slots
 * and counters, the canaries of the live ones), checked now on a copy,
 * each problem reported as the module reports it.
 *
 * Invariants: kinds, headlines and offsets come from the table of error
 * kinds (format/error_kind.h) and its one translation of a block finding,
 * so a problem pooldump finds reads as the module would have reported it.
 * A damaged heap is a finding here (damage_is_finding), not a failure to
 * read. Counters are compared only on a copy that is consistent and has
 * no damaged block, where a difference cannot come from a change under
 * way, or on a dead process's pool caught in the middle of an operation
 * whose every damaged block that operation explains.
 *
 * Interrupted operations: on a pool a dead process left in the middle of an
 * operation (node_pool.interrupted, node_interrupted.c), a finding that
 * operation explains (damage that meets the chunks it was changing, and a
 * counter mismatch) is the process's death, not the driver's error: it is
 * printed in a section of its own ("interrupted by the process's death",
 * JSON "interrupted") and counts neither as a problem nor for the exit
 * status. Everything else stays a problem, in the same pool too.
 *
 * Partial views: a live pool that changed during every copy, quiet window
 * included (node_pool_copy.c), is read from its last copy, torn by the
 * changes made while it was taken. Its findings may be tears, not damage:
 * they are printed in a section of their own ("not verified", JSON
 * "unverified") and count neither as problems nor for the exit status; the
 * module's own checks still see real damage at the driver's next call.
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/heap.h"
#include "format/error_kind.h"
#include "format/options.h"
#include "node/node_commands_internal.h"

struct check_walk {
	struct session *session;
	const struct node_pool *pool;
	size_t problems;
	/* the pool's interrupted operation, when it was caught in one, or its
	 * partial view: the findings it explains, made now and printed after
	 * the problems */
	struct held_output *held;
	bool partial; /* every finding goes to held */
	size_t held_findings;
	size_t damaged_unexplained; /* damaged headers it does not explain */
};

struct problem {
	enum error_kind kind;
	const char *detail;
	uint64_t address;
	bool size_known;
	uint64_t size;
	bool offset_known;
	long long offset;
	uint64_t overflow_bytes;
	const struct node_block *block;
	bool freed_known;
	area_malloc_owner freed_by;
};

static void text_owner(struct session *session, const char *label, uint32_t thread, int32_t team,
	uint32_t sequence, int64_t time, const uintptr_t *frames, uint32_t frame_count)
{
	const struct report_colors *colors = report_colors(session->context->color);
	struct output *out = &session->out;

	emit(out, "%s%s by thread T%u (team %d, seq %u, at ", colors->allocation, label, thread,
		(int)team, sequence);
	put_time(out, time);
	emit(out, "):%s\n", colors->reset);
	for (uint32_t i = 0; i < frame_count && frames[i] != 0; i++)
		emit(out, "    #%u 0x%" PRIxPTR " in %s\n", i, frames[i],
			symbol(session, frames[i]));
}

/* The problem as a JSON object (range: the in-flight range that explains
 * it, -1 when none does or it is a problem). */
static void json_problem(struct check_walk *walk, struct output *out, const char *separator,
	const struct problem *problem, int range)
{
	struct session *session = walk->session;
	const struct node_block *block = problem->block;
	const uintptr_t *freed_frames = (const uintptr_t *)problem->freed_by.frames;

	emit(out,
		"%s{\"kind\":\"%s\",\"kind_key\":\"%s\",\"pool\":%d,\"address\":\"0x%" PRIx64
		"\",\"size\":",
		separator, error_kind_name(problem->kind), error_kind_info(problem->kind)->key,
		walk->pool->area, problem->address);
	if (problem->size_known)
		emit(out, "%" PRIu64, problem->size);
	else
		put_str(out, "null");
	if (problem->offset_known)
		emit(out, ",\"offset\":%lld", problem->offset);
	if (problem->overflow_bytes != 0)
		emit(out, ",\"overflow_bytes\":%" PRIu64, problem->overflow_bytes);
	put_str(out, ",\"detail\":");
	put_json_string(out, problem->detail != NULL ? problem->detail : "");
	if (range >= 0)
		emit(out, ",\"range\":{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\"}",
			walk->pool->interrupted.ranges[range][0],
			walk->pool->interrupted.ranges[range][1]);
	if (block != NULL && block->header_ok) {
		emit(out, ",\"thread\":%u,\"seq\":%u,\"caller\":", block->thread, block->sequence);
		put_json_string(out, symbol(session, block->frames[0]));
		json_frames(session, out, block->frames, block->frame_count);
	}
	if (problem->freed_known) {
		emit(out, ",\"freed_by\":{\"thread\":%d,\"seq\":%u,\"caller\":",
			(int)problem->freed_by.thread, problem->freed_by.sequence);
		put_json_string(out, symbol(session, freed_frames[0]));
		json_frames(session, out, freed_frames, problem->freed_by.frame_count);
		put_str(out, "}");
	}
	put_str(out, "}");
}

static void print_problem(struct check_walk *walk, const struct problem *problem)
{
	struct session *session = walk->session;
	struct output *out = &session->out;
	const struct node_pool *pool = walk->pool;
	const struct node_block *block = problem->block;
	const uintptr_t *freed_frames = (const uintptr_t *)problem->freed_by.frames;
	uint64_t site = problem->freed_known        ? freed_frames[0]
		: block != NULL && block->header_ok ? block->frames[0]
						    : 0;
	const struct report_colors *colors = report_colors(session->context->color);

	if (session->context->json) {
		json_problem(walk, out, separator(session), problem, -1);
		return;
	}
	emit(out, "%s==%d==ERROR: area_malloc: %s 0x%" PRIx64, colors->error,
		(int)session->node->pid, error_kind_info(problem->kind)->headline,
		problem->address);
	if (problem->size_known)
		emit(out, " (%" PRIu64 "-byte block)", problem->size);
	emit(out, " in pool %d%s", pool->area, pool->descriptor.name[0] ? " \"" : "");
	put_text(out, pool->descriptor.name);
	emit(out, "%s%s\n", pool->descriptor.name[0] ? "\"" : "", colors->reset);
	if (problem->detail != NULL)
		emit(out, "%s%s%s\n", colors->location, problem->detail, colors->reset);
	if (problem->offset_known)
		emit(out, "%sfirst damaged byte at offset %lld from the block%s%s\n",
			colors->location, problem->offset,
			problem->offset < 0 ? " (before its start)" : "", colors->reset);
	if (problem->overflow_bytes != 0)
		emit(out,
			"%sthe write reached %" PRIu64 " byte(s) past the end of the %" PRIu64
			"-byte block%s\n",
			colors->location, problem->overflow_bytes, problem->size, colors->reset);
	if (problem->freed_known)
		text_owner(session, "freed", (uint32_t)problem->freed_by.thread,
			problem->freed_by.team, problem->freed_by.sequence, problem->freed_by.time,
			freed_frames, problem->freed_by.frame_count);
	if (block != NULL && block->header_ok)
		text_owner(session, "previously allocated", block->thread, block->team,
			block->sequence, block->time, block->frames, block->frame_count);
	emit(out, "%sSUMMARY: area_malloc: %s", colors->summary, error_kind_name(problem->kind));
	if (site != 0)
		emit(out, " %s", symbol(session, site));
	emit(out, " in pool %d%s\n", pool->area, colors->reset);
}

/* A finding the interrupted operation explains, or of a partial view, in the
 * pool's section: one line (no ERROR or SUMMARY line a report scanner would
 * count). */
static void print_held(struct check_walk *walk, const struct problem *problem, int range)
{
	struct output *out = &walk->held->out;

	walk->held_findings++;
	if (walk->session->context->json) {
		json_problem(walk, out, walk->held->items++ > 0 ? "," : "", problem, range);
		return;
	}
	emit(out, "    %s: %s at 0x%" PRIx64, walk->partial ? "not verified" : "interrupted",
		error_kind_name(problem->kind), problem->address);
	if (problem->size_known)
		emit(out, " (%" PRIu64 "-byte block)", problem->size);
	if (problem->detail != NULL)
		emit(out, ": %s", problem->detail);
	if (problem->offset_known)
		emit(out, "; first damaged byte at offset %lld", problem->offset);
	put_str(out, "\n");
}

/* A finding: a problem, or interrupted when the pool's interrupted
 * operation explains it: damage at [start, end), or (whole_pool) a finding
 * of the pool as a whole, its counters, which any known operation caught
 * in the middle explains. */
static void report_finding(struct check_walk *walk, const struct problem *problem, bool whole_pool,
	uint64_t start, uint64_t end)
{
	int range = whole_pool ? -1 : node_interrupted_range(walk->pool, start, end);

	if (walk->held != NULL
		&& (walk->partial
			|| (walk->pool->interrupted.known && (range >= 0 || whole_pool)))) {
		print_held(walk, problem, walk->partial ? -1 : range);
		return;
	}
	print_problem(walk, problem);
	walk->problems++;
}

/* What the text says of a block finding beyond its kind and figures. */
static const char *finding_detail(enum debug_block_problem finding, bool freed_known)
{
	switch (finding) {
	case BLOCK_OK:
		break;
	case BLOCK_HEADER_DAMAGED:
		return "the block's header is damaged (checksum or fields)";
	case BLOCK_UNDERFLOW:
		return "the leading canary is damaged";
	case BLOCK_OVERFLOW:
		return "the trailing canary is damaged";
	case BLOCK_POISON_DAMAGED:
		return freed_known
			? "a freed block (in quarantine) was written"
			: "a freed block (in quarantine) was written over its free record";
	}
	return NULL;
}

/* A live guarded block's canaries (node_guarded_check): each damaged one
 * a problem, in the words of the module's check of a guarded block. */
static void check_guarded_block(struct check_walk *walk, const struct node_block *block)
{
	struct debug_block_finding findings[2];
	size_t count = node_guarded_check(walk->pool, block, findings);

	for (size_t i = 0; i < count; i++) {
		struct error_figures figures = error_figures_of_finding(findings[i]);
		struct problem problem = {
			.kind = figures.kind,
			.detail = findings[i].problem == BLOCK_UNDERFLOW
				? "the canary before the guarded block was overwritten"
				: "the slack canary between the guarded block's end and its guard "
				  "page was overwritten",
			.address = block->address,
			.size_known = true,
			.size = block->size,
			.offset_known = figures.offset_known,
			.offset = figures.offset,
			.overflow_bytes = figures.overflow_bytes,
			.block = block,
		};
		report_finding(walk, &problem, false, block->address,
			block->address + block->usable);
	}
}

static void check_block(const struct node_pool *pool, const struct node_block *block, void *context)
{
	struct check_walk *walk = context;
	struct problem problem = { .address = block->address, .block = block };
	/* a header the walk found damaged (header_ok) is the finding
	 * debug_block_check_at makes of it; nothing past it can be trusted */
	struct debug_block_finding finding = { .problem = BLOCK_HEADER_DAMAGED };
	struct error_figures figures;
	uint64_t chunk = block->chunk_address - HEAP_BLOCK_OVERHEAD;
	bool explained;

	if (block->guard_slot != NULL) {
		check_guarded_block(walk, block);
		return;
	}
	explained = node_interrupted_range(pool, chunk, block->chunk_address + block->usable) >= 0;
	if (!block->header_ok && !explained)
		walk->damaged_unexplained++;
	if (block->header_ok) {
		problem.size_known = true;
		problem.size = block->size;
		finding = node_block_check(walk->pool, block);
	}
	figures = error_figures_of_finding(finding);
	if (figures.kind == ERROR_KIND_NONE)
		return;
	problem.kind = figures.kind;
	problem.offset_known = figures.offset_known;
	problem.offset = figures.offset;
	problem.overflow_bytes = figures.overflow_bytes;
	/* who freed it: the record lies in the poisoned area, so it may be gone */
	if (finding.problem == BLOCK_POISON_DAMAGED)
		problem.freed_known = node_block_freed_by(walk->pool, block, &problem.freed_by);
	problem.detail = finding_detail(finding.problem, problem.freed_known);
	report_finding(walk, &problem, false, chunk, block->chunk_address + block->usable);
}

/* A problem of the pool (heap, counters): found at [at, at + bytes) (0, 0:
 * nowhere known), or (whole_pool) in the pool as a whole. */
static void pool_problem(struct check_walk *walk, enum error_kind kind, const char *detail,
	bool whole_pool, uint64_t at, uint64_t bytes)
{
	struct problem problem = {
		.kind = kind,
		.detail = detail,
		.address = walk->pool->descriptor.base_address + walk->pool->descriptor.heap_offset,
	};

	report_finding(walk, &problem, whole_pool, at, at + bytes);
}

/* The section of a pool caught in the middle of an operation: what it was
 * doing, before its findings (which the walk adds). */
static void begin_interrupted(struct check_walk *walk)
{
	const struct node_pool *pool = walk->pool;
	const struct node_interrupted *interrupted = &pool->interrupted;
	struct output *out = &walk->held->out;

	if (walk->session->context->json) {
		emit(out,
			"%s{\"pool\":%d,\"operation\":\"%s\",\"operation_code\":%" PRIu32
			",\"step\":",
			walk->held->items++ > 0 ? "," : "", pool->area,
			node_operation_name(interrupted->operation), interrupted->operation);
		put_json_string(out, node_step_text(interrupted->step));
		emit(out, ",\"thread\":%" PRIu32 ",\"ranges\":[", interrupted->thread);
		for (size_t i = 0; i < interrupted->range_count; i++)
			emit(out, "%s{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\"}",
				i > 0 ? "," : "", interrupted->ranges[i][0],
				interrupted->ranges[i][1]);
		emit(out, "],\"ranges_refused\":%zu,\"findings\":[", interrupted->ranges_refused);
		walk->held->items = 0;
		return;
	}
	emit(out, "pool %d%s", pool->area, pool->descriptor.name[0] ? " \"" : "");
	put_text(out, pool->descriptor.name);
	if (interrupted->known)
		emit(out, "%s: interrupted by the process's death: %s by thread T%" PRIu32 ", %s\n",
			pool->descriptor.name[0] ? "\"" : "",
			node_operation_name(interrupted->operation), interrupted->thread,
			node_step_text(interrupted->step));
	else
		emit(out,
			"%s: interrupted by the process's death: an unknown operation (code %" PRIu32
			") by thread T%" PRIu32 "; it explains no finding\n",
			pool->descriptor.name[0] ? "\"" : "", interrupted->operation,
			interrupted->thread);
	for (size_t i = 0; i < interrupted->range_count; i++)
		emit(out, "    changing 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " bytes)\n",
			interrupted->ranges[i][0], interrupted->ranges[i][1],
			interrupted->ranges[i][1] - interrupted->ranges[i][0]);
}

static void end_interrupted(struct check_walk *walk)
{
	struct output *out = &walk->held->out;

	if (walk->session->context->json) {
		put_str(out, "]}");
		walk->held->items = 1; /* the next pool's entry follows a comma */
		return;
	}
	if (walk->pool->interrupted.known)
		emit(out,
			"    %zu finding(s) the interrupted %s explains: not counted as problems\n",
			walk->held_findings,
			node_operation_name(walk->pool->interrupted.operation));
}

/* The section of a pool read from a partial view (node_pool.copy). */
static void begin_partial(struct check_walk *walk)
{
	const struct node_pool *pool = walk->pool;
	struct output *out = &walk->held->out;

	walk->partial = true;
	if (walk->session->context->json) {
		emit(out, "%s{\"pool\":%d,\"reason\":", walk->held->items++ > 0 ? "," : "",
			pool->area);
		put_json_string(out, pool->copy_problem);
		put_str(out, ",\"findings\":[");
		walk->held->items = 0;
		return;
	}
	emit(out, "pool %d%s", pool->area, pool->descriptor.name[0] ? " \"" : "");
	put_text(out, pool->descriptor.name);
	emit(out, "%s: changing too fast: partial view (%s)\n",
		pool->descriptor.name[0] ? "\"" : "", pool->copy_problem);
}

static void end_partial(struct check_walk *walk)
{
	struct output *out = &walk->held->out;

	if (walk->session->context->json) {
		put_str(out, "]}");
		walk->held->items = 1;
		return;
	}
	emit(out, "    %zu finding(s) not verified: not counted as problems\n",
		walk->held_findings);
}

struct check_totals {
	size_t problems;
	int pools;
	struct held_output held; /* the interrupted pools' sections */
	size_t interrupted;      /* findings explained */
	int interrupted_pools;
	struct held_output partial; /* the partial views' sections */
	size_t unverified;          /* their findings */
	int partial_pools;
};

/* The pool's counters (D2, D3) against its blocks, when they can be compared. */
static void check_counters(struct check_walk *walk)
{
	const struct node_pool *pool = walk->pool;
	const struct node_pool_descriptor *d = &pool->descriptor;
	bool comparable = pool->copy != NODE_COPY_INCONSISTENT
		? pool->damaged_blocks == 0
		: pool->interrupted.known && walk->damaged_unexplained == 0;
	char detail[256];

	if (!comparable
		|| (d->live_blocks == pool->live_blocks && d->used_bytes == pool->live_bytes
			&& d->quarantined_blocks == pool->quarantined_blocks))
		return;
	snprintf(detail, sizeof(detail),
		"the pool's counters disagree with its blocks: %" PRIu64
		" live block(s) of %" PRIu64 " bytes and %" PRIu64
		" quarantined counted, %zu of %" PRIu64 " bytes and %zu found",
		d->live_blocks, d->used_bytes, d->quarantined_blocks, pool->live_blocks,
		pool->live_bytes, pool->quarantined_blocks);
	pool_problem(walk, ERROR_COUNTER_MISMATCH, detail, true, 0, 0);
}

/* A problem of the pool's guard table (found at the table): its header,
 * its slots, its counters (whole_pool: what any interrupted operation
 * explains). */
static void guard_table_problem(struct check_walk *walk, enum error_kind kind, const char *detail,
	bool whole_pool)
{
	const struct node_pool_descriptor *d = &walk->pool->descriptor;
	struct problem problem = {
		.kind = kind,
		.detail = detail,
		.address = d->base_address + d->guard_table_offset,
	};

	report_finding(walk, &problem, whole_pool, 0, 0);
}

/* The guard table (node_guarded.c): refused, its damaged slots, and its
 * counters against its slots (G1, on a copy where they can be compared:
 * check_counters' rule). */
static void check_guard_table(struct check_walk *walk)
{
	const struct node_pool *pool = walk->pool;
	const struct node_guard_counts *counts = &pool->guard_counts;
	bool comparable = pool->copy != NODE_COPY_INCONSISTENT || pool->interrupted.known;
	char detail[256];

	if (pool->guard_problem != NULL) {
		guard_table_problem(walk, ERROR_HEAP_CORRUPTION, pool->guard_problem, false);
		return;
	}
	if (pool->guarded_damaged > 0) {
		snprintf(detail, sizeof(detail),
			"the guard table has %zu damaged slot(s) (a state "
			"or a place no guarded block can have): their blocks are not shown",
			pool->guarded_damaged);
		guard_table_problem(walk, ERROR_HEAP_CORRUPTION, detail, false);
		return;
	}
	if (!counts->present || !comparable
		|| (counts->live_blocks == pool->guarded_live
			&& counts->live_bytes == pool->guarded_live_bytes
			&& counts->quarantined_blocks == pool->guarded_freed))
		return;
	snprintf(detail, sizeof(detail),
		"the guard table's counters disagree with its slots: %" PRIu32 " live guarded "
		"block(s) of %" PRIu64 " bytes and %" PRIu32 " freed counted, %zu of %" PRIu64
		" bytes and %zu found",
		counts->live_blocks, counts->live_bytes, counts->quarantined_blocks,
		pool->guarded_live, pool->guarded_live_bytes, pool->guarded_freed);
	guard_table_problem(walk, ERROR_COUNTER_MISMATCH, detail, true);
}

static void check_pool(struct session *session, struct node_pool *pool, void *context)
{
	struct check_totals *totals = context;
	struct check_walk walk = { .session = session, .pool = pool };
	bool partial = pool->copy == NODE_COPY_PARTIAL;

	if (partial) {
		walk.held = &totals->partial;
		begin_partial(&walk);
	} else if (pool->interrupted.caught) {
		walk.held = &totals->held;
		begin_interrupted(&walk);
	}
	session_walk_blocks(session, pool, check_block, &walk);
	if (pool->heap_problem != NULL)
		pool_problem(&walk, ERROR_HEAP_CORRUPTION, pool->heap_problem, false,
			pool->heap_problem_at,
			pool->heap_problem_at != 0 ? HEAP_BLOCK_OVERHEAD : 0);
	else if (!partial)
		check_counters(&walk);
	check_guard_table(&walk);
	if (walk.held != NULL) {
		if (partial)
			end_partial(&walk);
		else
			end_interrupted(&walk);
		*(partial ? &totals->unverified : &totals->interrupted) += walk.held_findings;
		(*(partial ? &totals->partial_pools : &totals->interrupted_pools))++;
		/* text: the section follows the pool's problems */
		if (!session->context->json)
			held_output_move(walk.held, &session->out);
	}
	totals->problems += walk.problems;
	totals->pools++;
}

int command_check(struct session *session, int argc, char **argv)
{
	static const char usage[] = "check [pool ID]";
	struct check_totals totals = { 0 };
	struct output *out = &session->out;
	int area = 0, status;

	if (argc == 3 && strcmp(argv[1], "pool") == 0) {
		if (!parse_area(argv[2], &area))
			return usage_error(session, usage, "bad pool ID '%s'", argv[2]);
	} else if (argc == 2 && parse_area(argv[1], &area)) {
		/* "check ID", as the in-process debugger command takes it */
	} else if (argc != 1) {
		return usage_error(session, usage, "unknown argument '%s'", argv[1]);
	}
	if (!session_open_node(session, &status))
		return status;
	bool started = held_output_start(&totals.held, session);
	if (!held_output_start(&totals.partial, session) || !started) {
		held_output_end(&totals.held);
		held_output_end(&totals.partial);
		session_error(session, NODE_STATUS_DAMAGED, "out of memory");
		return session_finish(session);
	}
	session->damage_is_finding = true;
	if (session->context->json)
		put_str(out, ",\"problems\":[");
	for_each_pool(session, area, check_pool, &totals);
	if (session->context->json) {
		put_str(out, "],\"interrupted\":[");
		held_output_move(&totals.held, out);
		put_str(out, "],\"unverified\":[");
		held_output_move(&totals.partial, out);
		emit(out,
			"],\"pools_checked\":%d,\"problem_count\":%zu,\"interrupted_count\":%zu"
			",\"unverified_count\":%zu",
			totals.pools, totals.problems, totals.interrupted, totals.unverified);
	} else {
		emit(out, "%d pool(s) checked, %zu problem(s)\n", totals.pools, totals.problems);
		if (totals.interrupted_pools > 0)
			emit(out,
				"%zu finding(s) in %d pool(s) interrupted by the process's death "
				"(not problems)\n",
				totals.interrupted, totals.interrupted_pools);
		if (totals.partial_pools > 0)
			emit(out,
				"%zu finding(s) in %d pool(s) not verified: partial view of a pool "
				"changing too fast (not problems)\n",
				totals.unverified, totals.partial_pools);
	}
	if (totals.held.failed || totals.partial.failed)
		session_error(session, NODE_STATUS_DAMAGED,
			"out of memory: the held findings were cut short");
	held_output_end(&totals.held);
	held_output_end(&totals.partial);
	/* only problems count: what an interrupted operation explains, or a
	 * partial view shows, does not */
	if (totals.problems > 0)
		raise_status(session, NODE_STATUS_FOUND);
	return session_finish(session);
}
