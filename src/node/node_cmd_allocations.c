/*
 * node_cmd_allocations.c - the commands "allocations" (live blocks,
 * filtered by pool, thread, caller and size; or their totals) and
 * "allocations_per_caller" (live blocks grouped by caller).
 *
 * Invariants: only blocks with a sound header and the LIVE state are
 * counted, live guarded blocks among them (node_pool_walk_blocks: listed
 * as heap blocks are, first, as their region lies below the heap); damaged
 * ones are check's business. A caller given as a symbol
 * matches the bare function name (a glob, or a substring).
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>

#include "node/node_commands_internal.h"

struct allocation_filter {
	int area;
	bool by_thread;
	uint32_t thread;
	bool by_caller_address;
	uint64_t caller_address;
	const char *caller_pattern;
	bool by_size;
	uint64_t size_min, size_max;
	bool stats_only;
};

struct allocation_walk {
	struct session *session;
	const struct allocation_filter *filter;
	size_t blocks;
	uint64_t bytes;
};

static bool function_matches(const char *function, const char *pattern)
{
	return function[0] != '\0'
		&& (fnmatch(pattern, function, 0) == 0 || strstr(function, pattern) != NULL);
}

static bool block_selected(struct session *session, const struct allocation_filter *filter,
	const struct node_block *block)
{
	const char *function;

	if (!node_block_is_live(block))
		return false;
	if (filter->by_thread && block->thread != filter->thread)
		return false;
	if (filter->by_size && (block->size < filter->size_min || block->size > filter->size_max))
		return false;
	if (filter->by_caller_address && block->frames[0] != filter->caller_address)
		return false;
	if (filter->caller_pattern != NULL) {
		node_symbolize(session->node, block->frames[0], &function);
		if (!function_matches(function, filter->caller_pattern))
			return false;
	}
	return true;
}

static void list_allocation(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct allocation_walk *walk = context;
	struct session *session = walk->session;
	struct output *out = &session->out;
	uint64_t caller;

	if (!block_selected(session, walk->filter, block))
		return;
	walk->blocks++;
	walk->bytes += block->size;
	if (walk->filter->stats_only)
		return;
	caller = block->frames[0];
	if (session->context->json) {
		emit(out,
			"%s{\"address\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"pool\":%d,"
			"\"thread\":%u,\"team\":%d,\"seq\":%u,\"time\":%" PRId64 ",\"guarded\":%s"
			",\"caller\":",
			separator(session), block->address, block->size, pool->area, block->thread,
			(int)block->team, block->sequence, block->time,
			block->guard_slot != NULL ? "true" : "false");
		put_json_string(out, symbol(session, caller));
		emit(out, ",\"caller_address\":\"0x%" PRIx64 "\"", caller);
		if (block->frame_count > 1)
			json_frames(session, &session->out, block->frames, block->frame_count);
		put_str(out, "}");
		return;
	}
	emit(out,
		"team: % 6d; thread: % 6d; address: 0x%08" PRIx64 "; size: %" PRIu64
		" bytes; pool: %d; seq: %u; caller: %#" PRIx64 " %s\n",
		(int)block->team, (int)block->thread, block->address, block->size, pool->area,
		block->sequence, caller, symbol(session, caller));
}

static void list_pool_allocations(struct session *session, struct node_pool *pool, void *context)
{
	session_walk_blocks(session, pool, list_allocation, context);
}

const char allocations_usage[] =
	"allocations [pool ID] [thread TID] [caller ADDR|SYMBOL] [size MIN[-MAX]] [stats]";

static bool parse_size_range(const char *text, uint64_t *min, uint64_t *max)
{
	char first[32];
	const char *dash = strchr(text, '-');

	if (dash == NULL) {
		*max = UINT64_MAX;
		return parse_u64(text, min);
	}
	if ((size_t)(dash - text) >= sizeof(first))
		return false;
	memcpy(first, text, (size_t)(dash - text));
	first[dash - text] = '\0';
	return parse_u64(first, min) && parse_u64(dash + 1, max) && *min <= *max;
}

int command_allocations(struct session *session, int argc, char **argv)
{
	struct allocation_filter filter = { 0 };
	struct allocation_walk walk = { session, &filter, 0, 0 };
	struct output *out = &session->out;
	int status;

	for (int i = 1; i < argc; i++) {
		const char *keyword = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t number;
		if (strcmp(keyword, "stats") == 0) {
			filter.stats_only = true;
			continue;
		}
		if (value == NULL)
			return usage_error(session, allocations_usage, "'%s' needs a value",
				keyword);
		i++;
		if (strcmp(keyword, "pool") == 0) {
			if (!parse_area(value, &filter.area))
				return usage_error(session, allocations_usage, "bad pool ID '%s'",
					value);
		} else if (strcmp(keyword, "thread") == 0) {
			if (!parse_u64(value, &number) || number > UINT32_MAX)
				return usage_error(session, allocations_usage, "bad thread id '%s'",
					value);
			filter.by_thread = true;
			filter.thread = (uint32_t)number;
		} else if (strcmp(keyword, "caller") == 0) {
			if (parse_u64(value, &number)) {
				filter.by_caller_address = true;
				filter.caller_address = number;
			} else if (value[0] != '\0') {
				filter.caller_pattern = value;
			} else {
				return usage_error(session, allocations_usage, "empty caller");
			}
		} else if (strcmp(keyword, "size") == 0) {
			if (!parse_size_range(value, &filter.size_min, &filter.size_max))
				return usage_error(session, allocations_usage,
					"bad size '%s' (MIN or MIN-MAX)", value);
			filter.by_size = true;
		} else {
			return usage_error(session, allocations_usage, "unknown argument '%s'",
				keyword);
		}
	}
	if (!session_open_node(session, &status))
		return status;
	if (session->context->json && !filter.stats_only)
		put_str(out, ",\"blocks\":[");
	for_each_pool(session, filter.area, list_pool_allocations, &walk);
	if (session->context->json)
		emit(out, "%s,\"total_blocks\":%zu,\"total_bytes\":%" PRIu64,
			filter.stats_only ? "" : "]", walk.blocks, walk.bytes);
	else
		emit(out, "total allocations: %zu; total bytes: %" PRIu64 "\n", walk.blocks,
			walk.bytes);
	return session_finish(session);
}

/* ---- allocations_per_caller ---- */

struct caller_walk {
	struct group_table table;
	size_t blocks;
	uint64_t bytes;
};

static void count_caller(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct caller_walk *walk = context;

	(void)pool;
	if (!node_block_is_live(block))
		return;
	walk->blocks++;
	walk->bytes += block->size;
	group_count_block(&walk->table, block, 1);
}

static void count_pool_callers(struct session *session, struct node_pool *pool, void *context)
{
	session_walk_blocks(session, pool, count_caller, context);
}

int command_allocations_per_caller(struct session *session, int argc, char **argv)
{
	static const char usage[] = "allocations_per_caller [-c] [pool ID]";
	struct caller_walk walk = { 0 };
	struct output *out = &session->out;
	bool by_count = false;
	int area = 0, status;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			by_count = true;
		} else if (strcmp(argv[i], "pool") == 0 && i + 1 < argc) {
			if (!parse_area(argv[++i], &area))
				return usage_error(session, usage, "bad pool ID '%s'", argv[i]);
		} else {
			return usage_error(session, usage, "unknown argument '%s'", argv[i]);
		}
	}
	if (!session_open_node(session, &status))
		return status;
	for_each_pool(session, area, count_pool_callers, &walk);
	if (walk.table.failed)
		session_error(session, NODE_STATUS_DAMAGED,
			"out of memory: some callers were not counted");
	group_table_sort(&walk.table, by_count);
	if (session->context->json) {
		emit(out, ",\"sort\":\"%s\",\"callers\":[", by_count ? "count" : "size");
		for (size_t g = 0; g < walk.table.count; g++) {
			const struct group *group = &walk.table.groups[g];
			uintptr_t caller = group_key(&walk.table, group)[0];
			emit(out, "%s{\"caller\":", g ? "," : "");
			put_json_string(out, symbol(session, caller));
			emit(out,
				",\"address\":\"0x%" PRIxPTR "\",\"count\":%zu,\"bytes\":%" PRIu64
				"}",
				caller, group->count, group->bytes);
		}
		emit(out, "],\"total_blocks\":%zu,\"total_bytes\":%" PRIu64, walk.blocks,
			walk.bytes);
	} else {
		emit(out, "%zu different callers, sorted by %s...\n", walk.table.count,
			by_count ? "count" : "size");
		emit(out,
			"     count        size      caller\n"
			"----------------------------------\n");
		for (size_t g = 0; g < walk.table.count; g++) {
			const struct group *group = &walk.table.groups[g];
			uintptr_t caller = group_key(&walk.table, group)[0];
			emit(out, "%10zu  %10" PRIu64 "  %#08" PRIxPTR "  %s\n", group->count,
				group->bytes, caller, symbol(session, caller));
		}
		emit(out, "total allocations: %zu; total bytes: %" PRIu64 "\n", walk.blocks,
			walk.bytes);
	}
	group_table_free(&walk.table);
	return session_finish(session);
}
