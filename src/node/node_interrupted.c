/*
 * node_interrupted.c - a dead process's pool caught in the middle of an
 * operation: its descriptor's in-flight record (node_format.h, "In flight")
 * read into node_pool.interrupted, and which damage that operation
 * explains (node_interrupted_range), so that check reports a half-written
 * header or a counter not yet updated as interrupted by the process's
 * death, not as the driver's error.
 *
 * Why only dead processes with an odd seq: seq is odd exactly while a
 * thread holds the pool's lock (D5), and a live writer finishes its change
 * (the reader retries, or takes the lock); a record found with an even seq
 * is stale or forged, and is ignored.
 *
 * Invariants: the record is data from a file another process wrote, maybe
 * a hostile one: an unknown operation explains nothing (it is named
 * "unknown" with its code), a range is used only when it is non-empty and
 * lies inside the pool's heap (so it can never cover another pool's or the
 * control region's bytes), nothing in it is followed as a pointer. An
 * operation explains only what meets its ranges (and the header of the
 * chunk right above one, whose tags an operation writes), never damage
 * elsewhere in the pool.
 *
 * Locking: none; the copy is private (node_reader.h).
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "core/heap.h"
#include "node/node_reader_internal.h"

const char *node_operation_name(uint32_t operation)
{
	switch (operation) {
	case NODE_OP_MALLOC:
		return "malloc";
	case NODE_OP_CALLOC:
		return "calloc";
	case NODE_OP_REALLOC:
		return "realloc";
	case NODE_OP_FREE:
		return "free";
	case NODE_OP_CHECK:
		return "check";
	case NODE_OP_DELETE_POOL:
		return "delete_pool";
	}
	return "unknown";
}

const char *node_step_text(uint32_t step)
{
	switch (step) {
	case NODE_STEP_CALL:
		return "changing its own blocks";
	case NODE_STEP_QUARANTINE_LINK:
		return "linking a freed block into the quarantine";
	case NODE_STEP_QUARANTINE_DRAIN:
		return "returning a quarantined block to the heap";
	}
	return "at an unknown step";
}

static bool operation_known(uint32_t operation)
{
	return operation >= NODE_OP_MALLOC && operation <= NODE_OP_DELETE_POOL;
}

void node_interrupted_read(struct node_pool *pool)
{
	const struct node_pool_descriptor *d = &pool->descriptor;
	const struct node_in_flight *record = &d->in_flight;
	struct node_interrupted *out = &pool->interrupted;
	/* descriptor_sound: the heap lies inside the area, which cannot wrap */
	uint64_t heap_start = d->base_address + d->heap_offset;
	uint64_t heap_end = heap_start + d->heap_bytes;

	memset(out, 0, sizeof(*out));
	if (pool->node->alive || record->operation == NODE_OP_NONE)
		return;
	if (d->seq % 2 == 0) {
		node_warn(pool->node,
			"pool %d: an in-flight record (%s) with no change under way "
			"(even seq); ignored",
			pool->area, node_operation_name(record->operation));
		return;
	}
	out->caught = true;
	out->known = operation_known(record->operation);
	out->operation = record->operation;
	out->step = record->step;
	out->thread = record->thread;
	for (size_t i = 0; i < NODE_IN_FLIGHT_RANGES; i++) {
		uint64_t start = record->ranges[i][0], end = record->ranges[i][1];
		/* unused, or being rewritten (end first): nothing was written
		 * under the new range yet */
		if (end == 0)
			continue;
		if (start >= end || start < heap_start || end > heap_end) {
			out->ranges_refused++;
			continue;
		}
		out->ranges[out->range_count][0] = start;
		out->ranges[out->range_count][1] = end;
		out->range_count++;
	}
	if (!out->known)
		node_warn(pool->node,
			"pool %d: the process died in the middle of an unknown "
			"operation (code %" PRIu32 "); it explains no finding",
			pool->area, record->operation);
	if (out->ranges_refused > 0)
		node_warn(pool->node,
			"pool %d: %zu range(s) of the in-flight record are empty or "
			"outside the pool's heap; ignored",
			pool->area, out->ranges_refused);
}

int node_interrupted_range(const struct node_pool *pool, uint64_t start, uint64_t end)
{
	const struct node_interrupted *interrupted = &pool->interrupted;

	if (!interrupted->caught || !interrupted->known)
		return -1;
	for (size_t i = 0; i < interrupted->range_count; i++) {
		/* the range's chunks, and the header of the chunk right above
		 * them (its prev_size is written by the same step); ranges lie
		 * inside the heap, far below UINT64_MAX */
		uint64_t range_end = interrupted->ranges[i][1] + HEAP_BLOCK_OVERHEAD;
		if (start < range_end && end > interrupted->ranges[i][0])
			return (int)i;
	}
	return -1;
}
