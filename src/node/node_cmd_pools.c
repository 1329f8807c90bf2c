/*
 * node_cmd_pools.c - the commands "pools" (every pool, one line each, from
 * the descriptors alone) and "pool ID" (one pool in detail: heap, blocks,
 * log, control region, how consistent the copy is).
 *
 * Invariants: "pools" reads only descriptors (no copy of a pool), so it is
 * cheap on a process with large pools; a descriptor read while it changed
 * is shown with a warning rather than left out.
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <inttypes.h>

#include "node/node_commands_internal.h"

static uint64_t creator_address(const struct node_pool_descriptor *descriptor)
{
	return descriptor->creator.frame_count > 0 ? descriptor->creator.frames[0] : 0;
}

/* The pool's line: its descriptor's counters with its live guarded blocks
 * (counted in blocks and used, as the pool's statistics count them, and
 * shown apart). */
static void text_pool_line(struct session *session, const struct node_pool_descriptor *d,
	const struct node_guard_counts *guarded)
{
	struct output *out = &session->out;

	emit(out, "pool %d: id: 0x%" PRIx64 "; name: \"", (int)d->area, d->pool_id);
	put_text(out, d->name);
	emit(out,
		"\"; base: 0x%" PRIx64 "; size: %" PRIu64 "; area_size: %" PRIu64 "; used: %" PRIu64
		"; peak: %" PRIu64 "; blocks: %" PRIu64 "; quarantined: %" PRIu64 " in %" PRIu64
		"; ",
		d->base_address, d->requested_size, d->area_size,
		d->used_bytes + guarded->live_bytes, d->peak_bytes,
		d->live_blocks + guarded->live_blocks, d->quarantined_bytes, d->quarantined_blocks);
	if (guarded->present)
		emit(out, "guarded: %" PRIu32 " live (%" PRIu64 " bytes), %" PRIu32 " freed; ",
			guarded->live_blocks, guarded->live_bytes, guarded->quarantined_blocks);
	emit(out,
		"failed: %" PRIu64 "; injected: %" PRIu64 "; errors: %" PRIu64 "; creator: %s%s\n",
		d->failed_requests, d->injected_failures, d->errors,
		symbol(session, creator_address(d)),
		d->state == NODE_POOL_DELETING ? "; state: deleting" : "");
}

/* The pool object's fields, without the closing brace (blocks and used
 * count the live guarded blocks too, as text_pool_line's). */
static void json_pool_fields(struct session *session, const struct node_pool_descriptor *d,
	const struct node_guard_counts *guarded)
{
	struct output *out = &session->out;

	emit(out, "{\"id\":%d,\"pool_id\":\"0x%" PRIx64 "\",\"name\":", (int)d->area, d->pool_id);
	put_json_string(out, d->name);
	emit(out,
		",\"state\":\"%s\",\"base\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
		",\"area_size\":%" PRIu64 ",\"used\":%" PRIu64 ",\"peak\":%" PRIu64
		",\"blocks\":%" PRIu64 ",\"quarantined_bytes\":%" PRIu64
		",\"quarantined_blocks\":%" PRIu64 ",\"guarded_blocks\":%" PRIu32
		",\"guarded_bytes\":%" PRIu64 ",\"guarded_freed\":%" PRIu32
		",\"allocations\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"failed_requests\":%" PRIu64
		",\"injected_failures\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"creator\":",
		d->state == NODE_POOL_DELETING ? "deleting" : "live", d->base_address,
		d->requested_size, d->area_size, d->used_bytes + guarded->live_bytes, d->peak_bytes,
		d->live_blocks + guarded->live_blocks, d->quarantined_bytes, d->quarantined_blocks,
		guarded->live_blocks, guarded->live_bytes, guarded->quarantined_blocks,
		d->allocations, d->frees, d->failed_requests, d->injected_failures, d->errors);
	put_json_string(out, symbol(session, creator_address(d)));
	emit(out, ",\"creator_address\":\"0x%" PRIx64 "\"", creator_address(d));
}

int command_pools(struct session *session, int argc, char **argv)
{
	struct output *out = &session->out;
	struct node *node;
	size_t listed = 0;
	int status;

	(void)argv;
	if (argc != 1)
		return usage_error(session, "pools", "pools takes no arguments");
	if (!session_open_node(session, &status))
		return status;
	node = session->node;
	if (session->context->json)
		put_str(out, ",\"pools\":[");
	else
		emit(out, "%zu pool(s)\n", node->pool_count);
	for (size_t i = 0; i < node->pool_count; i++) {
		struct node_pool_descriptor descriptor;
		struct node_guard_counts guarded;
		struct node_error error = { 0 };
		bool consistent;
		if (node_pool_read_descriptor(node, node->pool_areas[i], &descriptor, &guarded,
			    &consistent, &error)
			!= NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH)
				session_error(session, error.status, error.message);
			continue;
		}
		if (!consistent)
			node_warn(node, "pool %d: its counters were changing while read",
				node->pool_areas[i]);
		if (session->context->json) {
			if (listed > 0)
				put_str(out, ",");
			json_pool_fields(session, &descriptor, &guarded);
			put_str(out, "}");
		} else {
			text_pool_line(session, &descriptor, &guarded);
		}
		listed++;
	}
	if (session->context->json)
		put_str(out, "]");
	return session_finish(session);
}

/* The copy's kind: its JSON name, and how the text says it. */
static const char *copy_name(enum node_copy copy, bool json)
{
	switch (copy) {
	case NODE_COPY_CONSISTENT:
		return "consistent";
	case NODE_COPY_QUIET:
		return json ? "quiet" : "consistent, in a quiet window";
	case NODE_COPY_PARTIAL:
		return json ? "partial" : "partial view";
	case NODE_COPY_INCONSISTENT:
		break;
	}
	return json ? "inconsistent" : "may be inconsistent";
}

static bool copy_incomplete(enum node_copy copy)
{
	return copy == NODE_COPY_PARTIAL || copy == NODE_COPY_INCONSISTENT;
}

/* ---- guarded blocks (node_guarded.c) ---- */

static void text_guarded_block(const struct node_pool *pool, const struct node_guarded_block *block,
	void *context)
{
	struct session *session = context;
	const area_malloc_owner *owner = &block->allocated;

	(void)pool;
	emit(&session->out,
		"\tguarded block 0x%" PRIx64 ": %" PRIu64 " bytes, %s%s; allocated by "
		"thread T%d, seq %u, at %s\n",
		block->address, block->size, block->freed ? "freed" : "live",
		block->underflow ? " (guard page before it)" : "", (int)owner->thread,
		owner->sequence,
		owner->frame_count > 0 ? symbol(session, owner->frames[0]) : "(stack unknown)");
}

struct guarded_listing {
	struct session *session;
	bool first;
};

static void json_guarded_block(const struct node_pool *pool, const struct node_guarded_block *block,
	void *context)
{
	struct guarded_listing *listing = context;
	struct session *session = listing->session;
	const area_malloc_owner *owner = &block->allocated;

	(void)pool;
	emit(&session->out,
		"%s{\"address\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
		",\"state\":\"%s\",\"underflow\":%s,\"thread\":%d,\"sequence\":%u,\"caller\":",
		listing->first ? "" : ",", block->address, block->size,
		block->freed ? "freed" : "live", block->underflow ? "true" : "false",
		(int)owner->thread, owner->sequence);
	listing->first = false;
	put_json_string(&session->out,
		owner->frame_count > 0 ? symbol(session, owner->frames[0]) : "");
	put_str(&session->out, "}");
}

/* The pool's guarded blocks: a JSON member, or one line each. */
static void show_guarded(struct session *session, struct node_pool *pool)
{
	struct guarded_listing listing = { session, true };
	const char *problem;
	size_t damaged;

	if (session->context->json) {
		put_str(&session->out, ",\"guarded\":[");
		problem = node_pool_guarded_walk(pool, json_guarded_block, &listing, &damaged);
		emit(&session->out, "],\"guarded_damaged\":%zu,\"guard_table\":", damaged);
		if (problem != NULL)
			put_json_string(&session->out, problem);
		else
			put_str(&session->out, "null");
		return;
	}
	if (pool->guard_problem == NULL && pool->guard_counts.present)
		emit(&session->out,
			"\tguarded blocks: %zu live (%" PRIu64 " bytes requested), %zu freed\n",
			pool->guarded_live, pool->guarded_live_bytes, pool->guarded_freed);
	problem = node_pool_guarded_walk(pool, text_guarded_block, session, &damaged);
	if (problem != NULL)
		emit(&session->out, "\tguard table damaged: %s\n", problem);
	if (damaged != 0)
		emit(&session->out, "\tguard table: %zu slot(s) damaged, not shown\n", damaged);
}

static void show_pool(struct session *session, struct node_pool *pool, void *context)
{
	const struct node_pool_descriptor *d = &pool->descriptor;
	struct output *out = &session->out;
	uint64_t heap_address = d->base_address + d->heap_offset;

	(void)context;
	if (session->context->json) {
		put_str(out, ",\"pool\":");
		json_pool_fields(session, d, &pool->guard_counts);
		emit(out,
			",\"heap\":{\"address\":\"0x%" PRIx64 "\",\"bytes\":%" PRIu64
			",\"used_chunks\":%zu,\"used_chunk_bytes\":%" PRIu64 ",\"free_chunks\":%zu"
			",\"free_chunk_bytes\":%" PRIu64 ",\"largest_free\":%" PRIu64
			",\"problem\":",
			heap_address, d->heap_bytes, pool->used_chunks, pool->used_chunk_bytes,
			pool->free_chunks, pool->free_chunk_bytes, pool->largest_free);
		if (pool->heap_problem != NULL)
			put_json_string(out, pool->heap_problem);
		else
			put_str(out, "null");
		emit(out,
			"},\"live_blocks\":%zu,\"live_bytes\":%" PRIu64
			",\"quarantined_chunks\":%zu"
			",\"quarantined_chunk_bytes\":%" PRIu64
			",\"damaged_blocks\":%zu,\"seq\":%" PRIu64 ",\"log\":",
			pool->live_blocks, pool->live_bytes, pool->quarantined_blocks,
			pool->quarantined_bytes, pool->damaged_blocks, d->seq);
		if (pool->log != NULL)
			emit(out, "{\"capacity\":%u,\"appended\":%" PRIu64 "}", pool->log->capacity,
				pool->log->appended);
		else
			put_str(out, "null");
		show_guarded(session, pool);
		emit(out, ",\"copy\":\"%s\"}", copy_name(pool->copy, true));
		return;
	}
	text_pool_line(session, d, &pool->guard_counts);
	emit(out,
		"\theap: 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64
		" bytes); chunks: %zu used (%" PRIu64 " bytes), %zu free (%" PRIu64
		" bytes); largest free: %" PRIu64 "\n",
		heap_address, heap_address + d->heap_bytes, d->heap_bytes, pool->used_chunks,
		pool->used_chunk_bytes, pool->free_chunks, pool->free_chunk_bytes,
		pool->largest_free);
	emit(out,
		"\tblocks: %zu live (%" PRIu64 " bytes requested); %zu quarantined (%" PRIu64
		" bytes); %zu with a damaged header\n",
		pool->live_blocks, pool->live_bytes, pool->quarantined_blocks,
		pool->quarantined_bytes, pool->damaged_blocks);
	emit(out, "\tallocations: %" PRIu64 "; frees: %" PRIu64 "; seq: %" PRIu64 "\n",
		d->allocations, d->frees, d->seq);
	emit(out, "\tcontrol: descriptor at +0x%" PRIx64 "; ", d->control_offset);
	if (d->guard_offset != 0)
		emit(out, "guard page at +0x%" PRIx64 "; ", d->guard_offset);
	else
		emit(out, "no guard page; ");
	if (pool->log != NULL)
		emit(out, "log at +0x%" PRIx64 " (%" PRIu64 " event(s) appended, capacity %u)\n",
			d->log_offset, pool->log->appended, pool->log->capacity);
	else
		emit(out, "log: %s\n", pool->log_problem);
	emit(out, "\tcopy: %s%s%s\n", copy_name(pool->copy, false),
		copy_incomplete(pool->copy) ? ": " : "",
		copy_incomplete(pool->copy) ? pool->copy_problem : "");
	if (pool->heap_problem != NULL)
		emit(out, "\theap damaged: %s\n", pool->heap_problem);
	show_guarded(session, pool);
}

int command_pool(struct session *session, int argc, char **argv)
{
	int area, status;

	if (argc != 2 || !parse_area(argv[1], &area))
		return usage_error(session, "pool ID", "pool needs one pool ID (an area id)");
	if (!session_open_node(session, &status))
		return status;
	for_each_pool(session, area, show_pool, NULL);
	return session_finish(session);
}
