/*
 * debug_alloc.c - malloc, calloc, realloc and free of the debug build:
 * every block gets an owner tag and canaries (format/debug_block.h), every
 * call a place in the pool's sequence and log, every freed block the
 * quarantine (quarantine.c); a pointer is freed only after pointer_check.c
 * found it a live block of the pool.
 *
 * POSIX rules as in the release build: malloc(0) returns a unique pointer,
 * calloc refuses n * size overflow, realloc(NULL, n) allocates,
 * realloc(p, 0) frees and returns NULL, a failed realloc leaves the block as
 * it was, free(pool, NULL) does nothing. realloc_move=1 always moves.
 *
 * Invariants (debug_internal.h): D3, used_bytes and live_blocks change
 * with every block that becomes or stops being LIVE, here and nowhere else;
 * D7, the claims of blocks written outside the lock (a free's poison, a
 * malloc's fill), are made and ended here.
 *
 * Locking: the pool's lock around each call's work on the pool; fault
 * injection's filters and every report are made without it, and so are a
 * free's check of the block (header and canaries: check_ahead; under the
 * lock the free only confirms the header's first word is unchanged), its
 * look at the quarantine's oldest block (quarantine_peek_leaving), and a
 * malloc's fill of its new block's start (fill_after_unlock), and the
 * poison of a large freed block's own bytes, between two rounds of the
 * lock (poison_claimed). They were most of a call's time under the lock,
 * and two threads sharing a pool waited for each other's. A free writes a
 * block only once it has claimed it under the lock: until then the block
 * is the driver's, and another thread may resize, move or free it (a race
 * the free must report, not write into); once claimed, every other call on
 * it is refused until the free's locked step ends the claim. A malloc
 * claims its new block the same way for its fill (claim_for_fill), and
 * ends the claim after it without the lock.
 */
#include "config.h"

#include <string.h>

#include "debug/debug_internal.h"
#include "debug/debug_pool.h"
#include "debug/guarded.h"
#include "debug/node_writer.h"
#include "kernel/sanitizers.h"

/*
 * Bytes that free space and the quarantine together hold, chunk headers
 * included: an upper bound of what draining the quarantine can give one
 * request. free_bytes counts headers; quarantined_bytes does not (it counts
 * usable bytes), and a quarantined chunk that merges with its neighbour
 * gives its header to the request too. Leaving those headers out refused a
 * realloc in place (or a malloc) that needed the last 16 bytes of a merge
 * with a quarantined neighbour, which the same pool without quarantine
 * granted.
 */
static size_t heap_free_and_held_bytes(struct pool *pool, struct debug_pool *debug)
{
	struct heap_stats stats;

	heap_get_stats(pool->heap, &stats);
	return stats.free_bytes + debug->d.quarantined_bytes
		+ debug->d.quarantined_blocks * HEAP_BLOCK_OVERHEAD;
}

/* The pool's LeakSanitizer root region follows its heap's touched mark. */
static void follow_touched_mark(struct pool *pool)
{
	debug_of(pool)->root_region = shadow_pool_reach(pool->base, debug_of(pool)->root_region,
		heap_touched_end(pool->heap) - (uintptr_t)pool->base, pool->area_size);
}

/*
 * Capacity parity (D6): the release pool of this size would hold a block of
 * size on top of what the pool holds, giving back a block of give_back_size
 * (a realloc in place; SIZE_MAX for none). Charged in the release build's
 * own chunk bytes, so pool-exhaustion bugs surface under the debug build.
 */
static bool release_room_for(const struct debug_pool *debug, size_t size, size_t give_back_size)
{
	size_t need = heap_chunk_bytes_for(size);
	size_t charged = debug->release_charged;

	if (give_back_size != SIZE_MAX)
		charged -= heap_chunk_bytes_for(give_back_size);
	return need != SIZE_MAX && need <= debug->release_capacity - charged;
}

void debug_note_peak(struct pool *pool)
{
	struct debug_pool *debug = debug_of(pool);
	size_t used = debug->d.used_bytes + guarded_live_bytes(pool);

	if (used > debug->d.peak_bytes)
		debug->d.peak_bytes = used;
}

static void release_charge(struct debug_pool *debug, size_t size, size_t give_back_size)
{
	if (give_back_size != SIZE_MAX)
		debug->release_charged -= heap_chunk_bytes_for(give_back_size);
	debug->release_charged += heap_chunk_bytes_for(size);
}

/* Allocates a block; with the pool locked. NULL when there is no room.
 * *fill_later: the caller would fill the block's start (fill_after_unlock);
 * cleared when this filled it (a guarded block). */
static void *allocate_locked(struct pool *pool, size_t size, bool zeroed, bool *fill_later,
	area_malloc_owner *owner, enum pool_log_op op, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	size_t bytes = debug_block_chunk_bytes(&debug_layout, size);
	struct debug_block_header *header = NULL;
	size_t usable;
	void *user;

	size_t dirty = 0;
	uintptr_t mark = 0; /* the touched mark before the allocation */

	owner->sequence = debug->next_sequence++;
	/* a guarded block (guarded.c), out of the heap: charged as a heap
	 * block of its size (D6), its guard page not */
	if (__builtin_expect(guarded_enabled, 0) && --debug->guard_skip == 0
		&& release_room_for(debug, size, SIZE_MAX)
		&& (user = guarded_allocate_locked(pool, size, zeroed, owner, op)) != NULL) {
		release_charge(debug, size, SIZE_MAX);
		*fill_later = false; /* filled with its pages made accessible */
		return user;
	}
	if (bytes != SIZE_MAX && release_room_for(debug, size, SIZE_MAX)
		&& reserve_for(pool, bytes)) {
		mark = heap_touched_end(pool->heap);
		header = heap_alloc_reporting_dirty(pool->heap, bytes, &dirty);
		if (header == NULL && debug->d.quarantined_blocks > 0
			&& bytes <= heap_free_and_held_bytes(pool, debug)) {
			/* freed blocks wait in quarantine: reuse them before failing (but
			 * keep them as evidence when even that could not help) */
			quarantine_drain(pool, 0, pending);
			mark = heap_touched_end(pool->heap);
			header = heap_alloc_reporting_dirty(pool->heap, bytes, &dirty);
		}
	}
	if (header == NULL) {
		/* the checked heap refuses what it would have to follow damaged */
		if (!heap_damage_found(pool, "malloc", owner, pending))
			debug->d.failed_requests++;
		log_event(pool, LOG_FAIL, NULL, size, owner);
		return NULL;
	}
	usable = heap_usable_size(pool->heap, header);
	/* the free memory it takes held only poison (F1) past the links, and
	 * zeros above the touched mark; the chunk it came from ended where
	 * the rest the heap split off (a free chunk, if any, above) ends */
	size_t rest_usable;
	const char *rest = heap_free_above(pool->heap, header, &rest_usable);
	if (usable > HEAP_FREE_LINK_BYTES
		&& !free_memory_check(pool, (char *)header + HEAP_FREE_LINK_BYTES,
			usable - HEAP_FREE_LINK_BYTES,
			rest != NULL ? (uintptr_t)rest + rest_usable : (uintptr_t)header + usable,
			mark, false, op == LOG_CALLOC ? "calloc" : "malloc", owner, pending))
		debug->d.errors++;
	free_memory_split(pool, rest, rest_usable);
	block_open(header, usable);
	/* memory never used since the pool was created is zero already: a large
	 * calloc in a lazy pool commits nothing */
	if (zeroed && dirty > 0)
		memset(header, 0, dirty);
	debug_block_init(&debug_layout, header, usable, size, owner,
		zeroed || *fill_later ? 0 : debug_options.max_malloc_fill_size);
	user = debug_block_user(&debug_layout, header);
	block_close(header, usable);
	if (shadow_active)
		shadow_block_allocated(user, size);
	follow_touched_mark(pool);
	debug->d.allocations++;
	debug->d.live_blocks++;
	debug->d.used_bytes += size;
	release_charge(debug, size, SIZE_MAX);
	debug_note_peak(pool);
	log_event(pool, op, user, size, owner);
	return user;
}

/*
 * Whether a malloc fills its new block's start (max_malloc_fill_size) after
 * the pool's lock is released rather than under it: only the driver reads a
 * live block's own bytes, and two threads sharing a pool then fill at the
 * same time. Not under a sanitizer's shadow: Valgrind must see the bytes
 * undefined after the fill, which shadow_block_allocated() says under the
 * lock.
 */
static bool fill_after_unlock(bool zeroed, size_t size)
{
	return !zeroed && size > 0 && !shadow_active && debug_options.max_malloc_fill_size > 0;
}

static void fill_new_block(void *user, size_t size)
{
	memset(user, DEBUG_FILL_NEW,
		size < debug_options.max_malloc_fill_size ? size
							  : debug_options.max_malloc_fill_size);
}

/*
 * A fill after the lock writes a block that is LIVE already, so until it
 * ends, a stale free by another thread (a driver's bug: a pointer to the
 * block's earlier incarnation, freed before) could take the block and the
 * fill would write into freed memory, which the next malloc there would
 * report as the driver's use after free. So the fill claims the block (D7)
 * under the lock: such a free is refused and reported as the double free it
 * is. With the lock skipped (one thread) no other thread can free; with no
 * slot free, the block is filled under the lock. Returns the slot to end
 * after the fill, or DEBUG_CLAIM_SLOTS for none; with the pool locked.
 */
static unsigned claim_for_fill(struct pool *pool, void *user, size_t size, bool locked,
	bool *fill_later)
{
	unsigned slot = DEBUG_CLAIM_SLOTS;

	if (!locked)
		return slot;
	slot = debug_claim(debug_of(pool), user, true);
	if (slot == DEBUG_CLAIM_SLOTS) {
		fill_new_block(user, size);
		*fill_later = false;
	}
	return slot;
}

static void *allocate(const void *pool_id, size_t size, bool zeroed, uintptr_t caller,
	enum pool_log_op op)
{
	struct pending_list pending;
	area_malloc_owner owner;
	struct pool *pool;
	void *user = NULL;
	bool locked;

	pending_init(&pending);
	/* the capture notes the frames of each new stack for the node's image
	 * table (stacks.c) */
	capture_owner(&owner, caller);
	pool = acquire_or_report(pool_id, op == LOG_CALLOC ? "calloc" : "malloc", NULL, &owner);
	if (pool == NULL)
		return NULL;
	if (fault_injection_applies(pool, caller) && fault_injection_fires()) {
		locked = debug_lock_for(pool, allocation_operation(op));
		debug_of(pool)->d.injected_failures++;
		log_event(pool, LOG_FAIL, NULL, size, &owner);
		debug_unlock(pool, locked);
	} else {
		bool fill_later = fill_after_unlock(zeroed, size);
		unsigned fill_claim = DEBUG_CLAIM_SLOTS;

		locked = debug_lock_for(pool, allocation_operation(op));
		if (!pool_refuses(pool, op == LOG_CALLOC ? "calloc" : "malloc", NULL, &owner,
			    &pending))
			user = allocate_locked(pool, size, zeroed, &fill_later, &owner, op,
				&pending);
		if (user != NULL && fill_later)
			fill_claim = claim_for_fill(pool, user, size, locked, &fill_later);
		debug_unlock(pool, locked);
		if (user != NULL && fill_later) {
			fill_new_block(user, size);
			if (fill_claim < DEBUG_CLAIM_SLOTS)
				debug_end_claim(debug_of(pool), fill_claim);
		}
	}
	pool_registry_release(pool_id);
	flush_pending(&pending);
	return user;
}

void *debug_malloc(const void *pool_id, size_t size, uintptr_t caller)
{
	return allocate(pool_id, size, false, caller, LOG_MALLOC);
}

void *debug_calloc(const void *pool_id, size_t count, size_t size, uintptr_t caller)
{
	size_t total;

	if (__builtin_mul_overflow(count, size, &total))
		total = SIZE_MAX; /* refused by the size check, counted as failed */
	return allocate(pool_id, total, true, caller, LOG_CALLOC);
}

/*
 * What a free found before it took the pool's lock (check_ahead): the block
 * at the pointer was a sound live block (its chunk's tags, its checksummed
 * header, both canaries) whose header began with first_word.
 */
struct checked_ahead {
	bool sound;
	uint64_t first_word;
	size_t usable;
};

/*
 * Checks a block being freed before the pool's lock is taken: with the lock
 * held, the check of its header and canaries was a large part of a free's
 * time, and two threads sharing a pool waited for each other's. Under the
 * lock the free then only confirms that the header still begins with the
 * word read here (lock_and_check): its checksum covers the whole header,
 * the block's address, state and allocation sequence number, so a block
 * freed by another thread in between (a double free), or freed and
 * allocated again, or resized, no longer matches, and gets the full check
 * under the lock (which reports what it finds). The first word is read
 * before the checks and again after them: a header that changed during the
 * checks is not trusted. Nothing is written here: the block is the
 * driver's until a locked step claims it (poison_claimed), and another
 * thread may resize it, move it or free it meanwhile (a driver's race,
 * which must end in a report, not in bytes of the moved block or heap tags
 * written over; tests/stress/test_concurrent_misuse.c). A write into the
 * canaries after this check and before the lock is not seen by this free
 * (the quarantine then rewrites them), as one just after a locked check
 * never was. Not under a sanitizer's shadow, where opening a header
 * outside the lock could race another thread's closing it, nor under
 * ThreadSanitizer: its reads race, by design, the locked writes of another
 * thread's free of the same block (a driver's double free), which TSan
 * would report against the module (as quarantine_peek_leaving()); a TSan
 * build's free checks everything under the lock, and so never claims a
 * block (poison_claimed() needs this check): TSan sees the all-locked path
 * (tests/stress/test_concurrent_misuse runs there), the plain and ASan
 * runs of that test race the claim.
 */
#if defined(AREA_MALLOC_BUILT_WITH_TSAN)
#define ahead_allowed false
#else
#define ahead_allowed true
#endif

static void check_ahead(struct pool *pool, void *ptr, struct checked_ahead *ahead)
{
	struct debug_block_header *header;
	size_t usable;
	uint64_t first_word;

	*ahead = (struct checked_ahead){ false, 0, 0 };
	if (!ahead_allowed || shadow_active || ((uintptr_t)ptr & (HEAP_ALIGN - 1)) != 0
		|| !heap_contains(pool->heap, ptr))
		return;
	header = debug_block_from_user(&debug_layout, ptr);
	usable = heap_live_usable_size_unlocked(pool->heap, header, SIZE_MAX);
	if (usable == 0)
		return;
	first_word = debug_block_first_word(header);
	if (!debug_block_header_ok(&debug_layout, header, usable)
		|| debug_block_state(header) != BLOCK_LIVE
		|| debug_block_check_body_at(&debug_layout, header, usable, (uintptr_t)header)
				.problem
			!= BLOCK_OK
		|| debug_block_first_word(header) != first_word)
		return;
	*ahead = (struct checked_ahead){ true, first_word, usable };
}

/* Whether the block check_ahead() found sound is, with the pool locked,
 * still that block: the same used chunk, the same header's first word. */
static bool still_as_checked(struct pool *pool, struct debug_block_header *header,
	const struct checked_ahead *ahead)
{
	return ahead->sound
		&& heap_live_usable_size_unlocked(pool->heap, header, ahead->usable)
		== ahead->usable
		&& debug_block_first_word(header) == ahead->first_word;
}

/*
 * A free's poison of a large block, laid between two rounds of the pool's
 * lock rather than under it: with the lock held, that fill was most of a
 * free's time for blocks of kilobytes, and two threads sharing a pool
 * waited for each other's. The first round claims the block (the block is
 * still as check_ahead found it, and no other free claimed it): from then
 * on every other free or realloc of it is refused with a report
 * (lock_and_check), so nothing but this free writes the block or the heap
 * tags inside its extent until it takes the lock again, and a realloc
 * cannot copy its bytes half poisoned. Only the block's own bytes are
 * poisoned, [DEBUG_POISON_START, size): its header and canaries, which the
 * checks read, stay as they were, and the block stays LIVE for readers (a
 * process killed here leaves a sound pool, not an interrupted operation).
 * The pages wholly inside those bytes go back rather than take the poison.
 * Returns the user offset poisoned to (0: not claimed, nothing written)
 * and the pages given back in *skip_start, *skip_end.
 */
#define CLAIM_MIN_USABLE 2048 /* below, the second lock round costs more */

static size_t poison_claimed(struct pool *pool, void *ptr, const struct checked_ahead *ahead,
	uintptr_t *skip_start, uintptr_t *skip_end)
{
	struct debug_pool *debug = debug_of(pool);
	struct debug_block_header *header = debug_block_from_user(&debug_layout, ptr);
	uintptr_t run_start, run_end;
	unsigned slot = DEBUG_CLAIM_SLOTS;
	bool locked;

	*skip_start = *skip_end = 0;
	if (!ahead->sound || ahead->usable < CLAIM_MIN_USABLE)
		return 0;
	locked = debug_lock(pool);
	if (still_as_checked(pool, header, ahead) && debug_claim_of(debug, ptr) == 0)
		slot = debug_claim(debug, ptr, false);
	debug_unlock(pool, locked);
	if (slot == DEBUG_CLAIM_SLOTS)
		return 0;
	if (debug_block_discard_run(&debug_layout, (uintptr_t)header, ahead->usable, &run_start,
		    &run_end)) {
		uintptr_t own_end =
			((uintptr_t)ptr + header->size) & ~(uintptr_t)(DEBUG_PAGE_BYTES - 1);
		if (run_end > own_end)
			run_end = own_end;
		if (backing_discard(pool, run_start, run_end)) {
			*skip_start = run_start;
			*skip_end = run_end;
		}
	}
	return debug_block_poison_own_bytes(&debug_layout, header, ahead->usable, *skip_start,
		*skip_end);
}

/* The claim of poison_claimed() ends; with the pool locked. */
static void end_claim(struct debug_pool *debug, const void *ptr)
{
	uintptr_t claim;
	unsigned slot = debug_claim_slot(debug, ptr, &claim);

	if (slot < DEBUG_CLAIM_SLOTS)
		debug_end_claim(debug, slot);
}

/*
 * What a free laid before its locked step (poison_claimed): the block's own
 * bytes poisoned up to poisoned_to (0: none) but for the pages
 * [skip_start, skip_end), given back.
 */
struct laid_poison {
	size_t poisoned_to;
	uintptr_t skip_start, skip_end;
};

/* Frees a checked live block into the quarantine; with the pool locked.
 * laid: what the free poisoned of it before (the block still as it
 * checked it), or NULL; peek: what the free found of the quarantine's
 * oldest block (quarantine_peek_leaving), or NULL. */
static void free_checked_locked(struct pool *pool, struct debug_block_header *header, size_t usable,
	area_malloc_owner *owner, const struct laid_poison *laid,
	const struct quarantine_peek *peek, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	void *user = debug_block_user(&debug_layout, header);
	uintptr_t run_start = 0, run_end = 0;
	bool laid_before = laid != NULL && laid->poisoned_to != 0;

	owner->sequence = debug->next_sequence++;
	debug->d.frees++;
	debug->d.live_blocks--;
	debug->d.used_bytes -= header->size;
	debug->release_charged -= heap_chunk_bytes_for(header->size);
	log_event(pool, LOG_FREE, user, header->size, owner);
	/* the block's whole pages go back (its canaries were checked) rather
	 * than take the poison, unless its free gave them back already */
	if (laid_before) {
		run_start = laid->skip_start;
		run_end = laid->skip_end;
	} else if (!debug_block_discard_run(&debug_layout, (uintptr_t)header, usable, &run_start,
			   &run_end)
		|| !backing_discard(pool, run_start, run_end)) {
		run_start = run_end = 0;
	}
	debug_block_quarantine_poisoned(&debug_layout, header, usable, owner,
		laid_before ? laid->poisoned_to : 0, run_start, run_end);
	if (shadow_active)
		shadow_block_freed(user);
	quarantine_push(pool, header, usable, peek, pending);
}

/*
 * The part free and realloc share, for an acquired pool: locks it and checks
 * ptr. false: ptr lies outside the pool's heap; that was reported (a
 * cross-pool or invalid free) and the pool released, nothing is held. true:
 * the pool is locked (*locked); *header is the block, opened for the
 * module's access, or NULL when ptr is not a live block of the pool (after
 * a report); end_block_call() follows. ahead (NULL for none): what
 * check_ahead() found; *as_checked says whether the block is still the one
 * it found sound, which then needs no second check. claimed: this call
 * claimed ptr (poison_claimed), and the claim ends here; a block another
 * call claimed is refused.
 */
static bool lock_and_check(const void *pool_id, struct pool *pool, void *ptr, const char *what,
	area_malloc_owner *owner, const struct checked_ahead *ahead, bool claimed, bool *as_checked,
	bool *locked, struct debug_block_header **header, size_t *usable,
	struct pending_list *pending)
{
	uintptr_t claim;

	*as_checked = false;
	*locked = debug_lock(pool);
	if (claimed)
		end_claim(debug_of(pool), ptr);
	if (!heap_contains(pool->heap, ptr)) {
		debug_unlock(pool, *locked);
		report_foreign_pointer(pool, ptr, what, owner);
		pool_registry_release(pool_id);
		return false;
	}
	if (pool_refuses(pool, what, ptr, owner, pending)) {
		*header = NULL;
	} else if ((claim = debug_claim_of(debug_of(pool), ptr)) != 0) {
		report_claimed_block(pool, ptr, claim, what, owner, pending);
		*header = NULL;
	} else if (ahead != NULL
		&& still_as_checked(pool, debug_block_from_user(&debug_layout, ptr), ahead)) {
		*as_checked = true;
		*header = debug_block_from_user(&debug_layout, ptr);
		*usable = ahead->usable;
		block_open(*header, *usable);
	} else {
		*header = check_pointer_locked(pool, ptr, what, owner, usable, pending);
	}
	if (*header == NULL)
		log_event(pool, LOG_ERROR, ptr, 0, owner);
	return true;
}

/* Ends what lock_and_check() began, and makes the reports. */
static void end_block_call(const void *pool_id, struct pool *pool, bool locked,
	struct pending_list *pending)
{
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	flush_pending(pending);
}

void debug_free(const void *pool_id, void *ptr, uintptr_t caller)
{
	struct checked_ahead ahead;
	struct laid_poison laid;
	struct quarantine_peek peek;
	struct pending_list pending;
	struct debug_block_header *header;
	area_malloc_owner owner;
	struct pool *pool;
	size_t usable = 0;
	bool locked, as_checked;

	if (ptr == NULL)
		return;
	pending_init(&pending);
	capture_owner(&owner, caller);
	pool = acquire_or_report(pool_id, "free", ptr, &owner);
	if (pool == NULL)
		return;
	if (__builtin_expect(guarded_enabled, 0) && guarded_holds(pool, ptr)) {
		guarded_free(pool_id, pool, ptr, &owner);
		return;
	}
	check_ahead(pool, ptr, &ahead);
	laid.poisoned_to = poison_claimed(pool, ptr, &ahead, &laid.skip_start, &laid.skip_end);
	quarantine_peek_leaving(pool, ahead.usable, &peek);
	if (!lock_and_check(pool_id, pool, ptr, "free", &owner, &ahead, laid.poisoned_to != 0,
		    &as_checked, &locked, &header, &usable, &pending))
		return;
	if (header != NULL) {
		in_flight_call(pool, NODE_OP_FREE, header, usable);
		free_checked_locked(pool, header, usable, &owner, as_checked ? &laid : NULL, &peek,
			&pending);
	}
	end_block_call(pool_id, pool, locked, &pending);
}

/* Resizes an opened live block in place (the heap already moved its end;
 * old_usable is the chunk's usable size before); owner, the realloc's,
 * becomes the block's. */
static void resize_block_locked(struct pool *pool, struct debug_block_header *header,
	size_t old_size, size_t new_size, size_t old_usable, const area_malloc_owner *owner)
{
	size_t usable = heap_usable_size(pool->heap, header);

	/* a smaller chunk (a larger request can need one: slack) gave back a
	 * tail holding the block's old bytes: free memory now (F1) */
	free_memory_shrunk(pool, header, old_usable);

	/* Valgrind hides what a shrink gives back: that is free heap memory
	 * now, so expose it again (and what a growth added) after telling it */
	if (shadow_active)
		shadow_block_resized(debug_block_user(&debug_layout, header), old_size, new_size);
	block_open(header, usable > old_usable ? usable : old_usable);
	debug_block_resize(&debug_layout, header, usable, new_size, owner,
		debug_options.max_malloc_fill_size);
	block_close(header, usable);
	follow_touched_mark(pool);
}

/* The bookkeeping of a realloc that the heap did in place: counters, the
 * block's header (the realloc's owner tag, as a moved block gets) and
 * canaries, its sequence and log entry. Returns the block. */
static void *resized_in_place_locked(struct pool *pool, struct debug_block_header *header,
	size_t size, size_t old_usable, area_malloc_owner *owner)
{
	struct debug_pool *debug = debug_of(pool);
	size_t old_size = header->size;
	void *user = debug_block_user(&debug_layout, header);

	debug->d.used_bytes = debug->d.used_bytes - old_size + size;
	debug_note_peak(pool);
	release_charge(debug, size, old_size);
	owner->sequence = debug->next_sequence++;
	resize_block_locked(pool, header, old_size, size, old_usable, owner);
	log_event(pool, LOG_REALLOC, user, size, owner);
	return user;
}

/* Resizes a block in place to size into the free chunk above, whose part
 * it takes is checked first (F1), when the release pool would hold it (D6).
 * bytes: the chunk payload the block needs. */
static bool grow_in_place(struct pool *pool, struct debug_block_header *header, size_t size,
	size_t bytes, const area_malloc_owner *owner, struct pending_list *pending)
{
	if (!release_room_for(debug_of(pool), size, header->size))
		return false;
	if (!free_memory_check_above(pool, header, bytes, "realloc", owner, pending))
		debug_of(pool)->d.errors++;
	if (!heap_resize_in_place(pool->heap, header, bytes))
		return false;
	size_t rest_usable;
	const void *rest = heap_free_above(pool->heap, header, &rest_usable);
	free_memory_split(pool, rest, rest_usable);
	return true;
}

/* A realloc that grows, or must move: with the pool locked, header opened. */
static void *grow_or_move_locked(struct pool *pool, struct debug_block_header *header, void *ptr,
	size_t size, size_t usable, area_malloc_owner *owner, struct pending_list *pending)
{
	size_t bytes = debug_block_chunk_bytes(&debug_layout, size);
	area_malloc_owner new_owner = *owner;
	size_t old_size = header->size;
	bool fill_later = false; /* filled under the lock, then copied over */
	void *result;

	if (!debug_options.realloc_move && bytes != SIZE_MAX && reserve_for(pool, bytes)
		&& grow_in_place(pool, header, size, bytes, owner, pending))
		return resized_in_place_locked(pool, header, size, usable, owner);
	if (heap_damage_found(pool, "realloc", owner, pending)) {
		block_close(header, usable);
		return NULL;
	}
	result = allocate_locked(pool, size, false, &fill_later, &new_owner, LOG_REALLOC, pending);
	/* allocate_locked may have drained the quarantine, never this live block */
	if (result != NULL) {
		memcpy(result, ptr, old_size < size ? old_size : size);
		free_checked_locked(pool, header, usable, owner, NULL, NULL, pending);
		return result;
	}
	if (!debug_options.realloc_move && bytes != SIZE_MAX
		&& bytes <= usable + heap_free_and_held_bytes(pool, debug_of(pool))
		&& release_room_for(debug_of(pool), size, old_size)
		&& (quarantine_drain(pool, 0, pending), reserve_for(pool, bytes))
		&& grow_in_place(pool, header, size, bytes, owner, pending)) {
		/* the pool is out of room, but the block might grow into a
		 * neighbour waiting in quarantine: the quarantine goes (if
		 * allocate_locked did not drain it already) and the block grows
		 * in place after all (allocate_locked counted a failure that was
		 * not one) */
		debug_of(pool)->d.failed_requests--;
		return resized_in_place_locked(pool, header, size, usable, owner);
	}
	block_close(header, usable);
	return NULL;
}

/* realloc of a guarded block (guarded.h): it always moves (or is freed,
 * for size 0); the pool is acquired, and released here. */
static void *realloc_guarded(const void *pool_id, struct pool *pool, void *ptr, size_t size,
	uintptr_t caller, area_malloc_owner *owner)
{
	size_t old_size = guarded_live_size(pool, ptr, "realloc", owner);
	void *result = NULL;

	if (old_size != SIZE_MAX && size != 0
		&& (result = allocate(pool_id, size, false, caller, LOG_REALLOC)) != NULL)
		memcpy(result, ptr, old_size < size ? old_size : size);
	if (old_size == SIZE_MAX || (size != 0 && result == NULL)) {
		pool_registry_release(pool_id);
		return NULL;
	}
	guarded_free(pool_id, pool, ptr, owner);
	return result;
}

void *debug_realloc(const void *pool_id, void *ptr, size_t size, uintptr_t caller)
{
	struct pending_list pending;
	struct debug_block_header *header;
	area_malloc_owner owner;
	struct pool *pool;
	size_t usable = 0;
	void *result = NULL;
	bool locked, may_fail, as_checked;

	if (ptr == NULL)
		return allocate(pool_id, size, false, caller, LOG_REALLOC);
	pending_init(&pending);
	capture_owner(&owner, caller);
	pool = acquire_or_report(pool_id, "realloc", ptr, &owner);
	if (pool == NULL)
		return NULL;
	if (__builtin_expect(guarded_enabled, 0) && guarded_holds(pool, ptr))
		return realloc_guarded(pool_id, pool, ptr, size, caller, &owner);
	/* before the lock: matching fail_caller symbolizes */
	may_fail = size != 0 && fault_injection_applies(pool, caller);
	if (!lock_and_check(pool_id, pool, ptr, "realloc", &owner, NULL, false, &as_checked,
		    &locked, &header, &usable, &pending))
		return NULL;
	if (header != NULL)
		in_flight_call(pool, NODE_OP_REALLOC, header, usable);
	if (header == NULL) {
		/* reported by lock_and_check */
	} else if (size == 0) {
		free_checked_locked(pool, header, usable, &owner, NULL, NULL, &pending);
	} else if (!debug_options.realloc_move && size <= header->size
		&& heap_resize_in_place(pool->heap, header,
			debug_block_chunk_bytes(&debug_layout, size))) {
		/* shrinking always succeeds in place */
		result = resized_in_place_locked(pool, header, size, usable, &owner);
	} else if (may_fail && fault_injection_fires()) {
		debug_of(pool)->d.injected_failures++;
		log_event(pool, LOG_FAIL, ptr, size, &owner);
		block_close(header, usable);
	} else {
		result = grow_or_move_locked(pool, header, ptr, size, usable, &owner, &pending);
	}
	end_block_call(pool_id, pool, locked, &pending);
	return result;
}
