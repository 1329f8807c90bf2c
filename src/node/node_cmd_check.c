/*
 * node_cmd_check.c - the command "check [pool ID]": every block's header,
 * canaries and poison, the heap's chunk headers and the pool's counters,
 * checked now on a copy, each problem reported as the module reports it.
 *
 * Invariants: kinds, headlines and offsets come from the table of error
 * kinds (format/error_kind.h) and its one translation of a block finding,
 * so a problem pooldump finds reads as the module would have reported it.
 * A damaged heap is a finding here (damage_is_finding), not a failure to
 * read. Counters are compared only on a copy that is consistent and has
 * no damaged block, where a difference cannot come from a change under
 * way.
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "format/error_kind.h"
#include "node/node_commands_internal.h"

struct check_walk {
	struct session *session;
	const struct node_pool *pool;
	size_t problems;
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
	struct output *out = &session->out;

	emit(out, "%s by thread T%u (team %d, seq %u, at ", label, thread, (int)team, sequence);
	put_time(out, time);
	put_str(out, "):\n");
	for (uint32_t i = 0; i < frame_count && frames[i] != 0; i++)
		emit(out, "    #%u 0x%" PRIxPTR " in %s\n", i, frames[i], symbol(session, frames[i]));
}

static void print_problem(struct check_walk *walk, const struct problem *problem)
{
	struct session *session = walk->session;
	struct output *out = &session->out;
	const struct node_pool *pool = walk->pool;
	const struct node_block *block = problem->block;
	const uintptr_t *freed_frames = (const uintptr_t *)problem->freed_by.frames;
	uint64_t site = problem->freed_known ? freed_frames[0]
		: block != NULL && block->header_ok ? block->frames[0] : 0;

	if (session->context->json) {
		emit(out, "%s{\"kind\":\"%s\",\"pool\":%d,\"address\":\"0x%" PRIx64 "\",\"size\":",
			separator(session), error_kind_name(problem->kind), pool->area,
			problem->address);
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
		if (block != NULL && block->header_ok) {
			emit(out, ",\"thread\":%u,\"seq\":%u,\"caller\":", block->thread,
				block->sequence);
			put_json_string(out, symbol(session, block->frames[0]));
			json_frames(session, block->frames, block->frame_count);
		}
		if (problem->freed_known) {
			emit(out, ",\"freed_by\":{\"thread\":%d,\"seq\":%u,\"caller\":",
				(int)problem->freed_by.thread, problem->freed_by.sequence);
			put_json_string(out, symbol(session, freed_frames[0]));
			json_frames(session, freed_frames, problem->freed_by.frame_count);
			put_str(out, "}");
		}
		put_str(out, "}");
		return;
	}
	emit(out, "==%d==ERROR: area_malloc: %s 0x%" PRIx64, (int)session->node->pid,
		error_kind_info(problem->kind)->headline, problem->address);
	if (problem->size_known)
		emit(out, " (%" PRIu64 "-byte block)", problem->size);
	emit(out, " in pool %d%s", pool->area, pool->descriptor.name[0] ? " \"" : "");
	put_text(out, pool->descriptor.name);
	emit(out, "%s\n", pool->descriptor.name[0] ? "\"" : "");
	if (problem->detail != NULL)
		emit(out, "%s\n", problem->detail);
	if (problem->offset_known)
		emit(out, "first damaged byte at offset %lld from the block%s\n", problem->offset,
			problem->offset < 0 ? " (before its start)" : "");
	if (problem->overflow_bytes != 0)
		emit(out, "the write reached %" PRIu64 " byte(s) past the end of the %" PRIu64
			"-byte block\n", problem->overflow_bytes, problem->size);
	if (problem->freed_known)
		text_owner(session, "freed", (uint32_t)problem->freed_by.thread,
			problem->freed_by.team, problem->freed_by.sequence, problem->freed_by.time,
			freed_frames, problem->freed_by.frame_count);
	if (block != NULL && block->header_ok)
		text_owner(session, "previously allocated", block->thread, block->team,
			block->sequence, block->time, block->frames, block->frame_count);
	emit(out, "SUMMARY: area_malloc: %s", error_kind_name(problem->kind));
	if (site != 0)
		emit(out, " %s", symbol(session, site));
	emit(out, " in pool %d\n", pool->area);
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
		return freed_known ? "a freed block (in quarantine) was written"
			: "a freed block (in quarantine) was written over its free record";
	}
	return NULL;
}

static void check_block(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct check_walk *walk = context;
	struct problem problem = { .address = block->address, .block = block };
	/* a header the walk found damaged (header_ok) is the finding
	 * debug_block_check_at makes of it; nothing past it can be trusted */
	struct debug_block_finding finding = { .problem = BLOCK_HEADER_DAMAGED };
	struct error_figures figures;

	(void)pool;
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
	print_problem(walk, &problem);
	walk->problems++;
}

/* A problem of the pool as a whole (heap, counters). */
static void pool_problem(struct check_walk *walk, enum error_kind kind, const char *detail)
{
	struct problem problem = {
		.kind = kind,
		.detail = detail,
		.address = walk->pool->descriptor.base_address + walk->pool->descriptor.heap_offset,
	};

	print_problem(walk, &problem);
	walk->problems++;
}

struct check_totals {
	size_t problems;
	int pools;
};

static void check_pool(struct session *session, struct node_pool *pool, void *context)
{
	struct check_totals *totals = context;
	struct check_walk walk = { session, pool, 0 };
	const struct node_pool_descriptor *d = &pool->descriptor;
	char detail[256];

	node_pool_walk(pool, check_block, &walk);
	if (pool->heap_problem != NULL) {
		pool_problem(&walk, ERROR_HEAP_CORRUPTION, pool->heap_problem);
	} else if (pool->copy != NODE_COPY_INCONSISTENT && pool->damaged_blocks == 0
		&& (d->live_blocks != pool->live_blocks || d->used_bytes != pool->live_bytes
			|| d->quarantined_blocks != pool->quarantined_blocks)) {
		snprintf(detail, sizeof(detail),
			"the pool's counters disagree with its blocks: %" PRIu64 " live block(s) of %"
			PRIu64 " bytes and %" PRIu64 " quarantined counted, %zu of %" PRIu64
			" bytes and %zu found", d->live_blocks, d->used_bytes, d->quarantined_blocks,
			pool->live_blocks, pool->live_bytes, pool->quarantined_blocks);
		pool_problem(&walk, ERROR_COUNTER_MISMATCH, detail);
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
	session->damage_is_finding = true;
	if (session->context->json)
		put_str(out, ",\"problems\":[");
	for_each_pool(session, area, check_pool, &totals);
	if (session->context->json)
		emit(out, "],\"pools_checked\":%d,\"problem_count\":%zu", totals.pools,
			totals.problems);
	else
		emit(out, "%d pool(s) checked, %zu problem(s)\n", totals.pools, totals.problems);
	if (totals.problems > 0)
		raise_status(session, NODE_STATUS_FOUND);
	return session_finish(session);
}
