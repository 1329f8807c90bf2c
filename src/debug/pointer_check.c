/*
 * pointer_check.c - what a pointer given to free or realloc is, and the
 * report when it is not a live block of the call's pool.
 *
 * Precedence (format/error_kind.c): invalid-pool (debug_pool.c, before
 * the pool is locked), cross-pool-free, double-free (of a block in the
 * quarantine, or of one that has left it while the pool log still holds
 * its free and no allocation at that address since), invalid-free; a live
 * block whose header or leading canary is damaged is refused as a
 * heap-buffer-underflow; damage to its trailing canary is reported and the
 * call goes on (the call itself is legitimate). Whatever the pointer,
 * nothing unknown is ever handed to the heap.
 *
 * Invariants: a header is trusted only after its keyed checksum, bound to
 * its address, matched (debug_block_header_ok); a chunk only after the heap
 * found it live. Neither a wild pointer nor a pointer into the middle of
 * data can forge either.
 *
 * Locking: check_pointer_locked runs with the call's pool locked;
 * report_foreign_pointer with no pool locked, and it locks the call's pool
 * and the owner pool one after the other, never both.
 */
#include "config.h"

#include <stdio.h>

#include "debug/debug_internal.h"

struct enclosing_search {
	const char *address;
	void *chunk;
	size_t usable;
	bool used;
};

static void find_enclosing(void *chunk, size_t usable, bool used, void *context)
{
	struct enclosing_search *search = context;

	if (search->address >= (const char *)chunk
		&& search->address < (const char *)chunk + usable) {
		search->chunk = chunk;
		search->usable = usable;
		search->used = used;
	}
}

/*
 * What the pool log says of an address no block starts at: a block that
 * started there was freed (LOG_FREE, or LOG_QUARANTINE_EXIT when the free
 * itself has rolled out of the log) and nothing was allocated there since.
 * Events are visited newest first; the allocation found after the free is
 * the one the freed block came from.
 */
struct logged_free {
	bool freed;         /* a free with no allocation since */
	bool has_free_call; /* free_event is the LOG_FREE (who freed) */
	bool allocated;     /* alloc_event is the block's allocation */
	bool done;          /* an allocation was met: nothing older counts */
	struct pool_log_event free_event;
	struct pool_log_event alloc_event;
};

static void find_logged_free(const struct pool_log_event *event, void *context)
{
	struct logged_free *found = context;

	if (found->done)
		return;
	switch (event->op) {
	case LOG_MALLOC:
	case LOG_CALLOC:
	case LOG_REALLOC:
		found->done = true;
		if (found->freed) {
			found->allocated = true;
			found->alloc_event = *event;
		}
		break;
	case LOG_QUARANTINE_EXIT:
		if (!found->freed) {
			found->freed = true;
			found->free_event = *event;
		}
		break;
	case LOG_FREE:
		if (!found->has_free_call) {
			found->freed = true;
			found->has_free_call = true;
			found->free_event = *event;
		}
		break;
	default:
		break; /* refused calls (LOG_ERROR), failures: nothing changed there */
	}
}

/*
 * A second free of a block that has left the quarantine (its memory went
 * back to the heap, maybe to another block since): when the log still holds
 * its free and no allocation at that address came after, it is reported as
 * the double free it is, with the block's history from the log. false when
 * the log does not tell (then it is an invalid free). search: the chunk
 * ptr lies in, when any.
 */
static bool report_logged_double_free(struct pool *pool, void *ptr, const char *what,
	const area_malloc_owner *caller, const struct enclosing_search *search,
	struct pending_list *pending)
{
	struct logged_free found = { 0 };
	struct pending *report;
	char now[160] = "";

	pool_log_newest(debug_of(pool)->log, (uint32_t)debug_options.log_size, ptr, SIZE_MAX,
		find_logged_free, &found);
	if (!found.freed)
		return false;
	debug_of(pool)->d.errors++;
	report = new_pending(pending, ERROR_DOUBLE_FREE, what, ptr, caller);
	if (report == NULL)
		return true;
	pending_set_pool(report, pool);
	report->report.size = (size_t)found.free_event.size;
	report->report.size_known = true;
	if (found.has_free_call) {
		owner_of_log_event(pool, &found.free_event, &report->freed);
		report->report.freed_by = &report->freed;
	}
	if (found.allocated) {
		owner_of_log_event(pool, &found.alloc_event, &report->allocated);
		report->report.allocated_by = &report->allocated;
	}
	if (search->chunk != NULL && search->used) {
		/* the state is all this reads: the header is not trusted here */
		block_open(search->chunk, search->usable);
		snprintf(now, sizeof(now), "; its memory now lies in the %s block at %p",
			debug_block_header_ok(&debug_layout, search->chunk, search->usable)
					&& debug_block_state(search->chunk) == BLOCK_QUARANTINED
				? "freed"
				: "live",
			debug_block_user(&debug_layout, search->chunk));
		block_close(search->chunk, search->usable);
	}
	snprintf(report->detail, sizeof(report->detail),
		"%s of a block that is already free: it has left the quarantine (the pool log "
		"holds its free, and no allocation at this address since)%s; the second free is "
		"refused",
		what, now);
	pending_set_log(report, pool, ptr);
	return true;
}

/* ptr is not the start of any live block: a block freed before, when the
 * pool log says so, else name the block it points into. Counts the report
 * as one of the pool's errors. */
static void report_not_a_block(struct pool *pool, void *ptr, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	struct enclosing_search search = { ptr, NULL, 0, false };
	struct heap_damage damage;
	struct pending *report;

	if (!heap_walk(pool->heap, find_enclosing, &search, &damage)) {
		/* the walk met damaged tags before it could tell: that is the
		 * finding, and the pool refuses further calls */
		heap_note_damage(pool->heap, &damage);
		debug_of(pool)->damage_reported = true;
		report_heap_damage(pool, &damage, what, caller, pending);
		return;
	}
	if (report_logged_double_free(pool, ptr, what, caller, &search, pending))
		return;
	debug_of(pool)->d.errors++;
	report = new_pending(pending, ERROR_INVALID_FREE, what, ptr, caller);
	if (report == NULL)
		return;
	pending_set_pool(report, pool);
	if (search.chunk != NULL && search.used)
		block_open(search.chunk, search.usable);
	if (search.chunk != NULL && search.used
		&& debug_block_header_ok(&debug_layout, search.chunk, search.usable)) {
		struct debug_block_header *enclosing = search.chunk;
		void *start = debug_block_user(&debug_layout, enclosing);
		pending_set_block(report, enclosing, true);
		snprintf(report->detail, sizeof(report->detail),
			"%p is not the start of a block: it points %+ld bytes from the %s "
			"%zu-byte block at %p",
			ptr, (long)((char *)ptr - (char *)start),
			debug_block_state(enclosing) == BLOCK_QUARANTINED ? "freed" : "live",
			(size_t)enclosing->size, start);
		pending_set_log(report, pool, start);
	} else {
		snprintf(report->detail, sizeof(report->detail),
			"%p lies in the pool's area but is not the start of a live block "
			"(free memory, metadata, or a block freed long ago)",
			ptr);
	}
	if (search.chunk != NULL && search.used)
		block_close(search.chunk, search.usable);
}

/* A live chunk whose owner tag is damaged: left alone, reported once. */
static void report_damaged_header(struct pool *pool, struct debug_block_header *header, void *ptr,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending)
{
	size_t usable = heap_usable_size(pool->heap, header);
	struct error_figures figures = error_figures_of_finding(
		(struct debug_block_finding){ BLOCK_HEADER_DAMAGED, 0, 0 });
	struct pending *report;

	block_open(header, usable);
	remember_reported_header(debug_of(pool), header);
	if (report_far_overflow(pool, header, what, caller, pending)) {
		block_close(header, usable);
		return;
	}
	report = new_pending(pending, figures.kind, what, ptr, caller);
	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail),
			"the block's header (its owner tag, just before the block) is damaged: "
			"something wrote before the start of the block; the block is left alone");
		pending_set_log(report, pool, ptr);
	}
	block_close(header, usable);
}

/* A double free of the block at header (intact, opened): one report, whose
 * detail is "WHAT of a block that STATE" followed by rest, and which shows
 * the block's history from the pool log. */
static void report_double_free_of(struct pool *pool, struct debug_block_header *header, void *ptr,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending,
	const char *state, const char *rest)
{
	struct pending *report = new_pending(pending, ERROR_DOUBLE_FREE, what, ptr, caller);

	debug_of(pool)->d.errors++;
	if (report == NULL)
		return;
	pending_set_pool(report, pool);
	pending_set_block(report, header, true);
	snprintf(report->detail, sizeof(report->detail), "%s of a block that %s%s", what, state,
		rest);
	pending_set_log(report, pool, ptr);
}

static void report_double_free(struct pool *pool, struct debug_block_header *header, void *ptr,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending,
	const char *rest)
{
	report_double_free_of(pool, header, ptr, what, caller, pending, "is already free", rest);
}

void report_claimed_block(struct pool *pool, void *ptr, uintptr_t claim, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	struct debug_block_header *header = debug_block_from_user(&debug_layout, ptr);
	size_t usable = heap_usable_size(pool->heap, header);

	/* the claiming call checked or made the block, and writes only its
	 * own bytes */
	block_open(header, usable);
	if (claim & CLAIM_FILL)
		/* the caller's pointer is to the block's earlier incarnation,
		 * which the pool log shows freed */
		report_double_free_of(pool, header, ptr, what, caller, pending,
			"another thread's malloc has just been given",
			" (this pointer is stale: the block was freed before); this call is refused");
	else
		report_double_free(pool, header, ptr, what, caller, pending,
			": another thread's free of it is under way; this call is refused");
	block_close(header, usable);
}

struct debug_block_header *check_pointer_locked(struct pool *pool, void *ptr, const char *what,
	const area_malloc_owner *caller, size_t *usable_out, struct pending_list *pending)
{
	struct debug_block_header *header = debug_block_from_user(&debug_layout, ptr);
	struct debug_block_finding finding;
	struct pending *report;
	size_t usable = 0;
	bool aligned = ((uintptr_t)ptr & (HEAP_ALIGN - 1)) == 0
		&& (uintptr_t)ptr >= debug_layout.front_size;

	/*
	 * The common case first, touching only what the free itself touches:
	 * the chunk's own header and end tag, and the checksummed owner tag (a
	 * checksum keyed and bound to its address, which no pointer into the
	 * middle of data forges). Only when that fails does the full check
	 * (heap_block_is_live, which also reads the chunk below, a cache miss
	 * the free would not otherwise take) tell a wild or interior pointer
	 * from a damaged header.
	 */
	bool header_sound = false;

	if (aligned)
		usable = heap_live_usable_size_unlocked(pool->heap, header, SIZE_MAX);
	if (usable != 0) {
		block_open(header, usable);
		header_sound = debug_block_header_ok(&debug_layout, header, usable);
		if (!header_sound)
			block_close(header, usable);
	}
	if (!header_sound) {
		if (!aligned || !heap_block_is_live(pool->heap, header)) {
			report_not_a_block(pool, ptr, what, caller, pending);
		} else {
			report_damaged_header(pool, header, ptr, what, caller, pending);
			debug_of(pool)->d.errors++;
		}
		return NULL;
	}
	if (debug_block_state(header) == BLOCK_QUARANTINED) {
		report_double_free(pool, header, ptr, what, caller, pending,
			"; the second free is refused");
		block_close(header, usable);
		return NULL;
	}
	/* the header was found intact just above: only the canaries are left */
	finding = debug_block_check_body_at(&debug_layout, header, usable, (uintptr_t)header);
	if (finding.problem == BLOCK_UNDERFLOW || finding.problem == BLOCK_OVERFLOW) {
		struct error_figures figures = error_figures_of_finding(finding);
		report = new_pending(pending, figures.kind, what, ptr, caller);
		if (report != NULL) {
			pending_set_pool(report, pool);
			pending_set_block(report, header, true);
			pending_set_figures(report, &figures);
			snprintf(report->detail, sizeof(report->detail),
				"the %s canary of the block was overwritten (found at %s)",
				finding.problem == BLOCK_OVERFLOW ? "trailing" : "leading", what);
			pending_set_log(report, pool, ptr);
		}
		debug_of(pool)->d.errors++;
	}
	*usable_out = usable;
	return header;
}

/* The report of a call the pool refuses, counted and logged in its pool. */
static struct pending *refused_call_report(struct pool *call_pool, enum error_kind kind, void *ptr,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending)
{
	struct pending *report = new_pending(pending, kind, what, ptr, caller);
	bool locked = debug_lock(call_pool);

	pending_set_pool(report, call_pool);
	debug_of(call_pool)->d.errors++;
	log_event(call_pool, LOG_ERROR, ptr, 0, caller);
	debug_unlock(call_pool, locked);
	return report;
}

void report_foreign_pointer(struct pool *call_pool, void *ptr, const char *what,
	const area_malloc_owner *caller)
{
	struct pending_list pending;
	const void *owner_id = pool_id_containing(ptr);
	struct pending *report;
	struct pool *owner = NULL;
	bool locked;

	pending_init(&pending);
	/* the call's own area but outside its blocks (its control pages): not
	 * another pool's block, just not a block */
	if (owner_id == call_pool->id)
		owner_id = NULL;
	if (owner_id == NULL || pool_registry_acquire(owner_id, &owner) != POOL_ACQUIRED) {
		report = refused_call_report(call_pool, ERROR_INVALID_FREE, ptr, what, caller,
			&pending);
		snprintf(report->detail, sizeof(report->detail),
			"%p is not in any pool's blocks (a stack, heap, static or wild address, or "
			"the pool's own control pages); the call is refused",
			ptr);
		flush_pending(&pending);
		return;
	}
	report = refused_call_report(call_pool, ERROR_CROSS_POOL_FREE, ptr, what, caller, &pending);

	locked = debug_lock(owner);
	pending_set_owner_pool(report, owner);
	{
		struct debug_block_header *header = debug_block_from_user(&debug_layout, ptr);
		bool live = ((uintptr_t)ptr & (HEAP_ALIGN - 1)) == 0
			&& heap_block_is_live(owner->heap, header);
		size_t usable = live ? heap_usable_size(owner->heap, header) : 0;
		if (live) {
			block_open(header, usable);
			live = debug_block_header_ok(&debug_layout, header, usable);
		}
		pending_set_block(report, header, live);
		if (usable != 0)
			block_close(header, usable);
		pending_set_log(report, owner, ptr);
		snprintf(report->detail, sizeof(report->detail),
			"%s(pool %d, %p): the block belongs to pool %d, not to the pool given; it "
			"is left untouched in its owner pool",
			what, (int)call_pool->area, ptr, (int)owner->area);
	}
	debug_unlock(owner, locked);
	pool_registry_release(owner_id);
	flush_pending(&pending);
}
