/*
 * node_cmd_leaks.c - the command "leaks [pool ID]": live blocks grouped by
 * allocation site (the whole stack), since the process's mark when one is
 * set, in the shape of the module's leak report (a ready-made suppression
 * line under each group included).
 *
 * On a live process the blocks are outstanding, not lost: a ring buffer or
 * a cache is live by design, and only a reachability scan (the scan
 * command) tells which blocks nothing points to any more. Its header, its
 * groups and its SUMMARY line say "outstanding" then; on a dead process
 * (its blocks were never freed) they keep the leak report's words.
 *
 * Live guarded blocks (node_guarded.c) are grouped with the heap's: their
 * owners and stacks are in the guard table, which a dead process's file
 * holds as its heap, so they are listed post mortem too.
 *
 * Invariants: a pool's groups are counted and printed before the next pool
 * is loaded; a leak makes the status NODE_STATUS_FOUND.
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "format/options.h"
#include "node/node_commands_internal.h"

struct leak_walk {
	struct group_table table;
	int64_t since; /* the process's mark; 0: every live block */
};

struct leak_totals {
	size_t blocks;
	uint64_t bytes;
	size_t groups;
	int pools_with_leaks;
};

static void count_leak(const struct node_pool *pool, const struct node_block *block, void *context)
{
	struct leak_walk *walk = context;

	(void)pool;
	if (!node_block_is_live(block) || (walk->since != 0 && block->time < walk->since))
		return;
	group_count_block(&walk->table, block, block->frame_count);
}

/* A ready-made suppression of a group, "leak:FUNCTION" of its first frame
 * whose function is known and no program entry (symbol_is_program_entry),
 * as the debug module's reports suggest; false when no frame qualifies. */
static bool group_suppression(struct session *session, const uintptr_t *frames, uint32_t count,
	char *buffer, size_t size)
{
	const char *function = "";

	for (uint32_t i = 0; i < count && frames[i] != 0 && function[0] == '\0'; i++) {
		node_symbolize(session->node, frames[i], &function);
		if (symbol_is_program_entry(function))
			function = "";
	}
	if (function[0] == '\0')
		return false;
	snprintf(buffer, size, "leak:%s", function);
	return true;
}

/*
 * A leak group in the shape the debug module's report objects give it:
 * pool, caller, address (the first frame), count, bytes, first_address,
 * thread, seq, frames, allocated_by {thread, team, seq, time, frames} (of
 * the group's oldest block) and suppression (a ready-made leak:FUNCTION,
 * else null).
 */
static void json_leak_group(struct session *session, const struct node_pool *pool,
	const struct group *group, const uintptr_t *frames)
{
	struct output *out = &session->out;
	char suppression[SYMBOL_TEXT_MAX];

	emit(out, "%s{\"pool\":%d,\"caller\":", separator(session), pool->area);
	put_json_string(out, symbol(session, frames[0]));
	emit(out,
		",\"address\":\"0x%" PRIxPTR "\",\"count\":%zu,\"bytes\":%" PRIu64
		",\"first_address\":\"0x%" PRIx64 "\",\"thread\":%u,\"seq\":%u",
		frames[0], group->count, group->bytes, group->first_address, group->first_thread,
		group->first_sequence);
	json_frames(session, out, frames, group->key_count);
	emit(out, ",\"allocated_by\":{\"thread\":%u,\"team\":%d,\"seq\":%u,\"time\":%" PRId64,
		group->first_thread, (int)group->first_team, group->first_sequence,
		group->first_time);
	json_frames(session, out, frames, group->key_count);
	put_str(out, "},\"suppression\":");
	if (group_suppression(session, frames, group->key_count, suppression, sizeof(suppression)))
		put_json_string(out, suppression);
	else
		put_str(out, "null");
	put_str(out, "}");
}

static void leaks_of_pool(struct session *session, struct node_pool *pool, void *context)
{
	struct leak_totals *totals = context;
	struct leak_walk walk = { .since = session->node->process.mark };
	struct output *out = &session->out;
	const struct node_pool_descriptor *d = &pool->descriptor;
	const struct report_colors *colors = report_colors(session->context->color);
	char suppression[SYMBOL_TEXT_MAX];

	session_walk_blocks(session, pool, count_leak, &walk);
	if (walk.table.failed)
		session_error(session, NODE_STATUS_DAMAGED,
			"out of memory: some leaks were not counted");
	group_table_sort(&walk.table, false);
	if (walk.table.count > 0 && !session->context->json) {
		emit(out, "\n%sin pool %d \"", colors->location, pool->area);
		put_text(out, d->name);
		emit(out, "\" (id 0x%" PRIx64 ")%s\n", d->pool_id, colors->reset);
	}
	for (size_t g = 0; g < walk.table.count; g++) {
		const struct group *group = &walk.table.groups[g];
		const uintptr_t *frames = group_key(&walk.table, group);
		if (session->context->json) {
			json_leak_group(session, pool, group, frames);
		} else {
			emit(out,
				"\n%s%s %" PRIu64 " byte(s) in %zu allocation(s) allocated "
				"from:%s\n",
				colors->leak, session->node->alive ? "Outstanding:" : "Leak of",
				group->bytes, group->count, colors->reset);
			for (uint32_t i = 0; i < group->key_count && frames[i] != 0; i++)
				emit(out, "    #%u 0x%" PRIxPTR " in %s\n", i, frames[i],
					symbol(session, frames[i]));
			emit(out, "    (first block 0x%" PRIx64 ", thread T%u, seq %u)\n",
				group->first_address, group->first_thread, group->first_sequence);
			if (group_suppression(session, frames, group->key_count, suppression,
				    sizeof(suppression))) {
				put_str(out, "    suppression: ");
				put_text(out, suppression);
				put_str(out, "\n");
			}
		}
		totals->groups++;
		totals->blocks += group->count;
		totals->bytes += group->bytes;
	}
	if (walk.table.count > 0)
		totals->pools_with_leaks++;
	group_table_free(&walk.table);
}

int command_leaks(struct session *session, int argc, char **argv)
{
	static const char usage[] = "leaks [pool ID]";
	struct leak_totals totals = { 0 };
	struct output *out = &session->out;
	int64_t mark;
	int area = 0, status;

	if (argc == 3 && strcmp(argv[1], "pool") == 0) {
		if (!parse_area(argv[2], &area))
			return usage_error(session, usage, "bad pool ID '%s'", argv[2]);
	} else if (argc != 1) {
		return usage_error(session, usage, "unknown argument '%s'", argv[1]);
	}
	if (!session_open_node(session, &status))
		return status;
	mark = session->node->process.mark;
	if (session->context->json) {
		put_str(out, ",\"since_mark\":");
		if (mark != 0)
			emit(out, "%" PRId64, mark);
		else
			put_str(out, "null");
		put_str(out, ",\"groups\":[");
	} else if (mark != 0) {
		put_str(out, "blocks allocated since the mark at ");
		put_time(out, mark);
		emit(out, " (set through the companion module) and %s\n",
			session->node->alive ? "outstanding" : "still live");
	} else if (session->node->alive) {
		put_str(out, "blocks outstanding (no mark set)\n");
	} else {
		put_str(out, "blocks still allocated (no mark set) when the process died\n");
	}
	if (!session->context->json && session->node->alive)
		put_str(out,
			"(live now, not necessarily lost: the scan command finds those no "
			"pointer reaches)\n");
	for_each_pool(session, area, leaks_of_pool, &totals);
	if (session->context->json)
		emit(out, "],\"leaked_bytes\":%" PRIu64 ",\"leaked_blocks\":%zu", totals.bytes,
			totals.blocks);
	else
		emit(out, "\nSUMMARY: area_malloc: %" PRIu64 " byte(s) %s in %zu allocation(s).\n",
			totals.bytes, session->node->alive ? "outstanding" : "leaked",
			totals.blocks);
	if (totals.blocks > 0)
		raise_status(session, NODE_STATUS_FOUND);
	return session_finish(session);
}
