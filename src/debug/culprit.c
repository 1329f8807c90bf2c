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

	if (!found->found
		&& (event->op == LOG_MALLOC || event->op == LOG_CALLOC
			|| event->op == LOG_REALLOC)) {
		found->found = true;
		found->event = *event;
	}
}

/* The owner and size of the block at user from the newest allocation the
 * pool log holds for its address; false when the log no longer has one. */
static bool logged_owner(struct pool *pool, const void *user, area_malloc_owner *owner,
	size_t *size)
{
	struct logged_allocation found = { false, { 0 } };

	pool_log_newest(debug_of(pool)->log, (uint32_t)debug_options.log_size, user,
		REPORT_MAX_LOG_EVENTS, newest_allocation, &found);
	if (!found.found)
		return false;
	owner_of_log_event(pool, &found.event, owner);
	*size = (size_t)found.event.size;
	return true;
}

static void victim_from_log(struct pending *report, struct pool *pool, const void *user)
{
	if (!logged_owner(pool, user, &report->victim, &report->report.victim_size))
		return;
	report->report.victim_allocated_by = &report->victim;
	report->report.victim_size_known = true;
}

/* Is the block at user live, as its header (when sound) or else the pool
 * log says? A freed block's leading canary holds its quarantine link. */
static bool block_is_live(struct pool *pool, const void *user)
{
	struct debug_block_header *header = debug_block_from_user(&debug_layout, user);
	struct logged_allocation found = { false, { 0 } };
	/* the caller may hold this header open, or not */
	struct debug_block_header copy;

	peek_header(header, &copy);
	/* the size bound is the chunk's, which may be damaged: the checksum
	 * decides */
	if (debug_block_header_ok_at(&debug_layout, &copy, SIZE_MAX / 2, (uintptr_t)header))
		return debug_block_state(&copy) == BLOCK_LIVE;
	pool_log_newest(debug_of(pool)->log, (uint32_t)debug_options.log_size, user, 1,
		newest_allocation, &found);
	return found.found;
}

bool underflow_reaches_start(struct pool *pool, const void *user)
{
	unsigned char last;

	/* a freed block's canary may be its link whole: no evidence there */
	if (debug_layout.front_size - debug_layout.header_size <= sizeof(void *)
		&& !block_is_live(pool, user))
		return false;
	shadow_peek((const unsigned char *)user - 1, &last, 1);
	return last != DEBUG_FILL_CANARY;
}

bool report_far_overflow(struct pool *pool, struct debug_block_header *header, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	struct debug_block_header *below =
		heap_block_below(pool->heap, (uintptr_t)header - HEAP_BLOCK_OVERHEAD);
	void *user = debug_block_user(&debug_layout, header);
	const unsigned char *below_end;
	struct pending *report;
	size_t usable;
	bool live;

	struct debug_block_finding finding;

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
	/* a run down from the damaged block's own start is its underflow,
	 * unless the damage begins right at the end of the block below */
	if (live) {
		finding = debug_block_check_body_at(&debug_layout, below, usable, (uintptr_t)below);
		live = (finding.problem == BLOCK_OVERFLOW && finding.offset == below->size)
			|| !underflow_reaches_start(pool, user);
	}
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
			"that block is left alone",
			(size_t)(damaged - below_end), (size_t)below->size, what);
		pending_set_log(report, pool, debug_block_user(&debug_layout, below));
	}
	block_close(below, usable);
	return true;
}

/* The newest logged event whose block held an address, and the allocation
 * before it. */
struct holder_search {
	uintptr_t at;
	bool found;
	struct pool_log_event event; /* the newest event whose block held at */
	bool allocation_found;
	struct pool_log_event allocation;
};

/* The block an event is about, as the bytes it held: header and canaries
 * included, so a write into a freed block's old front or tail counts. */
static bool event_held(const struct pool_log_event *event, uintptr_t at)
{
	uintptr_t user = (uintptr_t)event->address;
	size_t bytes = debug_block_chunk_bytes(&debug_layout, (size_t)event->size);

	return user != 0 && bytes != SIZE_MAX && at >= user - debug_layout.front_size
		&& at < user - debug_layout.front_size + bytes;
}

static void find_holder(const struct pool_log_event *event, void *context)
{
	struct holder_search *search = context;
	bool allocation =
		event->op == LOG_MALLOC || event->op == LOG_CALLOC || event->op == LOG_REALLOC;

	if (!allocation && event->op != LOG_FREE && event->op != LOG_QUARANTINE_EXIT)
		return;
	if (!event_held(event, search->at))
		return;
	if (!search->found) {
		search->found = true;
		search->event = *event;
	} else if (allocation && !search->allocation_found
		&& event->address == search->event.address) {
		search->allocation_found = true;
		search->allocation = *event;
	}
}

void report_free_memory_write(struct pool *pool, uintptr_t at, size_t run, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	struct holder_search search = { at, false, { 0 }, false, { 0 } };
	struct debug_block_header *below;
	struct pending *report;
	size_t usable;

	pool_log_newest(debug_of(pool)->log, (uint32_t)debug_options.log_size, NULL,
		debug_options.log_size, find_holder, &search);
	/* the bytes last belonged to a block that was freed: a use after free */
	if (search.found
		&& (search.event.op == LOG_FREE || search.event.op == LOG_QUARANTINE_EXIT)) {
		const void *user = (const void *)(uintptr_t)search.event.address;
		report = new_pending(pending, ERROR_USE_AFTER_FREE, what, user, caller);
		if (report == NULL)
			return;
		pending_set_pool(report, pool);
		report->report.size = (size_t)search.event.size;
		report->report.size_known = true;
		report->report.offset = (long)(at - (uintptr_t)user);
		report->report.offset_known = true;
		if (search.event.op == LOG_FREE) {
			owner_of_log_event(pool, &search.event, &report->freed);
			report->report.freed_by = &report->freed;
		}
		if (search.allocation_found) {
			owner_of_log_event(pool, &search.allocation, &report->allocated);
			report->report.allocated_by = &report->allocated;
		}
		snprintf(report->detail, sizeof(report->detail),
			"%zu byte(s) of free memory were written, in a block freed long ago (it left "
			"the quarantine: found at %s); the pool log remembers the block",
			run, what);
		pending_set_log(report, pool, user);
		return;
	}
	/* else the nearest live block below, written past its end */
	below = heap_block_below(pool->heap, at);
	if (below != NULL) {
		usable = heap_usable_size(pool->heap, below);
		block_open(below, usable);
		if (debug_block_header_ok(&debug_layout, below, usable)
			&& debug_block_state(below) == BLOCK_LIVE) {
			uintptr_t user = (uintptr_t)debug_block_user(&debug_layout, below);
			report = new_pending(pending, ERROR_HEAP_BUFFER_OVERFLOW, what,
				(void *)user, caller);
			if (report != NULL) {
				pending_set_pool(report, pool);
				pending_set_block(report, below, true);
				report->report.offset = (long)(at - user);
				report->report.offset_known = true;
				report->report.overflow_bytes =
					(size_t)(at + run - user - below->size);
				snprintf(report->detail, sizeof(report->detail),
					"a write %zu bytes to the right of the %zu-byte block landed in free "
					"memory above it (found at %s)",
					(size_t)(at - user - below->size), (size_t)below->size,
					what);
				pending_set_log(report, pool, (void *)user);
			}
			block_close(below, usable);
			return;
		}
		block_close(below, usable);
	}
	report = new_pending(pending, ERROR_HEAP_CORRUPTION, what, (const void *)at, caller);
	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail),
			"%zu byte(s) of free memory were written, and no block the pool log remembers "
			"held them (found at %s)",
			run, what);
	}
}

bool report_underflow_through_tags(struct pool *pool, const struct heap_damage *damage,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending)
{
	/* the chunk whose tags are damaged, and the block it would hold */
	uintptr_t chunk = damage->at & ~(uintptr_t)(HEAP_ALIGN - 1);
	void *user = (void *)(chunk + HEAP_BLOCK_OVERHEAD + debug_layout.front_size);
	struct pending *report;

	if (!heap_contains(pool->heap, user) || !underflow_reaches_start(pool, user))
		return false;
	report = new_pending(pending, ERROR_HEAP_BUFFER_UNDERFLOW, what, user, caller);
	if (report == NULL)
		return true;
	pending_set_pool(report, pool);
	if (logged_owner(pool, user, &report->allocated, &report->report.size)) {
		report->report.allocated_by = &report->allocated;
		report->report.size_known = true;
	}
	report->report.offset = -(long)((uintptr_t)user - damage->at);
	report->report.offset_known = true;
	snprintf(report->detail, sizeof(report->detail),
		"a write ran down from the block's start through its owner tag into the heap's own "
		"tags (%s); %s",
		damage->why, damage_consequence(what));
	pending_set_log(report, pool, user);
	return true;
}
