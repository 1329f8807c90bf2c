/*
 * culprit.c - which block a write came from, when it damaged the owner tag
 * of another block.
 *
 * Why: an overflow that jumps the 8-to-15-byte trailing canary lands in the
 * header of the block above. Reported as that block's underflow, it would
 * name the wrong block, and the block that overflowed would never be named.
 * The rule follows ASan's (damage belongs to the block it lies nearest to):
 * a block's leading canary lies right before its first byte, so damage
 * there is the block's own underflow (pointer_check.c); its header lies
 * beyond the canary, 28 bytes or more past the end of the block below, so
 * damage there is reported as an overflow of the live block below,
 * "N bytes to the right of its M-byte region", naming the damaged block
 * too, with its owner from the pool log (its own header can no longer be
 * trusted). With no live block below, it stays the block's own underflow.
 *
 * Invariants: only blocks whose headers pass their checksum are named as
 * culprits; nothing here changes a block.
 *
 * Locking: the pool's lock, held by the caller.
 */
#include "config.h"

#include <stdio.h>

#include "debug/debug_internal.h"

/* The owner of a block whose header is damaged, from the newest allocation
 * the pool log holds for its address. */
struct logged_allocation {
	bool found;
	struct pool_log_event event;
};

static void newest_allocation(const struct pool_log_event *event, void *context)
{
	struct logged_allocation *found = context;

	if (!found->found && (event->op == LOG_MALLOC || event->op == LOG_CALLOC
		|| event->op == LOG_REALLOC)) {
		found->found = true;
		found->event = *event;
	}
}

static void victim_from_log(struct pending *report, struct pool *pool, const void *user)
{
	struct logged_allocation found = { false, { 0 } };

	pool_log_newest(debug_of(pool)->log, user, REPORT_MAX_LOG_EVENTS, newest_allocation, &found);
	if (!found.found)
		return;
	owner_of_log_event(pool, &found.event, &report->victim);
	report->report.victim_allocated_by = &report->victim;
	report->report.victim_size = (size_t)found.event.size;
	report->report.victim_size_known = true;
}

bool report_far_overflow(struct pool *pool, struct debug_block_header *header, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	struct debug_block_header *below = heap_block_below(pool->heap,
		(uintptr_t)header - HEAP_BLOCK_OVERHEAD);
	void *user = debug_block_user(&debug_layout, header);
	const unsigned char *below_end;
	struct pending *report;
	size_t usable;
	bool live;

	if (below == NULL)
		return false;
	usable = heap_usable_size(pool->heap, below);
	/* only the chunk right below: past a free chunk, the write came from
	 * no block we could name */
	if ((char *)below + usable != (char *)header - HEAP_BLOCK_OVERHEAD)
		return false;
	block_open(below, usable);
	live = debug_block_header_ok(&debug_layout, below, usable)
		&& debug_block_state(below) == BLOCK_LIVE;
	if (!live) {
		block_close(below, usable);
		return false;
	}
	below_end = (const unsigned char *)debug_block_user(&debug_layout, below) + below->size;
	report = new_pending(pending, ERROR_HEAP_BUFFER_OVERFLOW, what,
		debug_block_user(&debug_layout, below), caller);
	if (report != NULL) {
		/* somewhere in the header: its start is the nearest bound */
		const unsigned char *damaged = (const unsigned char *)header;
		pending_set_pool(report, pool);
		pending_set_block(report, below, true);
		report->report.offset = (long)(damaged - below_end) + (long)below->size;
		report->report.offset_known = true;
		report->report.overflow_bytes = (size_t)(damaged + 1 - below_end);
		report->report.victim_address = user;
		victim_from_log(report, pool, user);
		snprintf(report->detail, sizeof(report->detail),
			"a write at least %zu bytes to the right of the %zu-byte block, past its "
			"trailing canary, damaged the owner tag of the block above it (found at %s); "
			"that block is left alone", (size_t)(damaged - below_end), (size_t)below->size,
			what);
		pending_set_log(report, pool, debug_block_user(&debug_layout, below));
	}
	block_close(below, usable);
	return true;
}
