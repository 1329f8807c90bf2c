/*
 * debug_internal.h - what the files of the debug allocator share.
 *
 * Role
 *   The debug allocator is one concern a file (debug_pool.h is what the
 *   module file calls):
 *     debug_pool.c        module setup; create_pool, delete_pool; names,
 *                         statistics, marks; the pool's node file space
 *     backing.c           the node file as the pool's memory: taken lazily
 *                         (a full tmpfs stops the process with a line),
 *                         freed pages given back
 *     debug_alloc.c       malloc, calloc, realloc, free: tag, resize, retire
 *     pointer_check.c     what a pointer given to free or realloc is
 *     culprit.c           which block a write before another block came from
 *     quarantine.c        freed blocks held back from reuse, checked on leaving
 *     free_memory.c       free memory poisoned, and writes into it found
 *     pool_check.c        checks of a whole pool (asked for, at delete, at exit)
 *     leaks.c             live blocks grouped by site, leak reports
 *     pool_leaks.c        pools never deleted, reported as leaked pools
 *     debugger_views.c    the kernel-debugger views of the live pools
 *     fault_injection.c   failing allocations on purpose
 *     owner.c             owner tags: thread, team, time, frames
 *     stacks.c            the stack depot: a stack stored once, a handle
 *                         in each block; each thread's memo of its stacks
 *     unwind.c            stacks cheaply: frame pointers validated step by
 *                         step, the unwind tables where a step fails
 *     pending.c           reports found under a pool's lock, made after it
 *     debug_fork.c        fork: the child's private copies of its pools
 *     guarded.c           guarded blocks: placed against guard pages, their
 *                         side table (guarded.h, guarded_internal.h)
 *     guarded_report.c    their faults: the handler's callback, the reports
 *     in_flight.h         what the lock holder is doing, in the node
 *                         descriptor, for post-mortem readers
 *   and below them report.c (the reporter), shadow.c (what the sanitizers
 *   may see), node_writer.c (the debug node).
 *
 * A debug pool
 *   is a core pool (core/pool.h) whose control region holds a struct
 *   debug_pool. Its first member is the node descriptor (format/
 *   node_format.h) that pooldump reads from the pool's file: name, creator,
 *   counters, layout offsets, seq. The rest is private to this process.
 *
 * Invariants (pool_check.c checks D1 and D4 on top of heap_validate;
 * pooldump's check compares the counters of D2 and D3 with the blocks)
 *   D1 every used chunk of the heap holds a debug block whose header is
 *      intact; LIVE blocks have intact canaries, QUARANTINED ones intact
 *      poison and free record (format/debug_block.h);
 *   D2 the quarantine FIFO links exactly the QUARANTINED blocks, oldest
 *      first, and d.quarantined_bytes/blocks count them (usable bytes);
 *   D3 d.used_bytes and d.live_blocks count the LIVE blocks' requested sizes
 *      (the heap's: guarded blocks are counted in their side table, G4);
 *   D4 the allocation log keeps its capacity and slot cursor
 *      (pool_log_validate);
 *   D5 d.seq is odd exactly while a thread holds the pool's lock (readers of
 *      the node retry on an odd or moved seq), except in a quiet window
 *      (node_writer_hold_still) at the start of a call, where the lock is
 *      held with seq even and nothing changes; d.in_flight names what that
 *      thread changes from its first change on, and is clear while seq is
 *      even (in_flight.h);
 *   D6 release_charged is the sum of heap_chunk_bytes_for(size) over the
 *      LIVE blocks, guarded ones included, at most release_capacity (debug_alloc.c: an allocation
 *      past it fails as the release pool's would);
 *   D7 claimed holds claimed_count non-NULL entries (one fewer while a
 *      fill claim is ending: its slot is cleared first), each a LIVE block
 *      that one call writes outside the lock: a free between
 *      poison_claimed() and its locked step, or (tagged CLAIM_FILL) a
 *      malloc filling its new block's start after its locked step
 *      (debug_alloc.c); only that call writes the block meanwhile, and
 *      every other free or realloc of it is refused. A fill claim ends
 *      without the lock (debug_end_claim), so the slots and the count are
 *      read and written with atomics, and a call that finds a slot clear
 *      sees the fill that cleared it done;
 *   F1 every byte of a free chunk past its links and below the heap's
 *      touched mark holds the poison (free_memory.c).
 *   A driver may break D1, D2 and D4 (a wild write): the code that follows
 *   a link or a size checks it first (quarantine.c, pointer_check.c).
 *
 * Locking (the whole order: docs/ARCHITECTURE.md)
 *   A pool's lock protects its heap, its struct debug_pool and its blocks
 *   (but a claimed block's own bytes, D7).
 *   A call acquires the pool in the registry (in-flight count) before
 *   locking it, so a use that races delete_pool is reported, not a crash.
 *   Two pools are never locked at once. Under a pool's lock only leaf locks
 *   are taken (fault injection's random state, the stack depot's lock); reports are collected as
 *   copies (pending.c) and made after the lock is released, since the
 *   reporter symbolizes (libdw, the loader's locks) and its hook may call
 *   the module again.
 */
#ifndef AREA_MALLOC_DEBUG_INTERNAL_H
#define AREA_MALLOC_DEBUG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <drivers/area_malloc_debug.h>

#include "core/heap.h"
#include "core/pool.h"
#include "core/pool_registry.h"
#include "debug/in_flight.h"
#include "debug/node_writer.h"
#include "debug/report.h"
#include "debug/shadow.h"
#include "format/cross_process.h"
#include "format/debug_block.h"
#include "format/error_kind.h"
#include "format/guard_table.h"
#include "format/node_format.h"
#include "format/options.h"
#include "format/pool_log.h"

#define DEBUG_HIDDEN __attribute__((visibility("hidden")))

/* Blocks of a pool that frees may poison outside its lock at once. */
#define DEBUG_CLAIM_SLOTS 8

struct debug_pool {
	/* what readers of the node see: name, creator, statistics, layout */
	struct node_pool_descriptor d;
	/* private to this process */
	struct pool_log *log; /* at d.log_offset */
	uint32_t next_sequence;
	struct debug_block_header *quarantine_head; /* oldest */
	struct debug_block_header *quarantine_tail;
	size_t quarantine_limit;
	/* capacity parity (D6): the release build's chunk bytes of the LIVE
	 * blocks, and the most a release pool of this size holds (SIZE_MAX
	 * with release_capacity=0) */
	size_t release_charged;
	size_t release_capacity;
	bool file_backed; /* the area is the pool's node file (no descriptor kept) */
	/* file space reserved up to this offset; in a lazy pool, the most the
	 * file may hold data up to (what fork copies) */
	uint64_t reserved_end;
	bool lazy_backing;    /* file space taken as written (backing.c) */
	bool discard_allowed; /* freed pages may go back (backing_discard) */
	size_t root_region;   /* bytes from base registered with LeakSanitizer */
	/* blocks whose damaged header a call already reported (and left alone):
	 * the checks at delete_pool and exit do not report them again */
	uintptr_t reported_headers[16];
	uint32_t reported_header_count;
	/* the damage the checked heap recorded (heap_damaged) was reported */
	bool damage_reported;
	uint32_t quiet_served; /* the last quiet window request served (D5) */
	/* the side table of guarded blocks (guarded.h), in the control
	 * region after the log; NULL: the pool has none */
	struct guarded_pool *guarded;
	/* allocations until guarded.c is asked for a guarded block: the
	 * sampling's countdown, so the sampling on by default costs a
	 * decrement an allocation; 1 when every block is chosen on its own
	 * (guard_size, guard_pools...) */
	uint32_t guard_skip;
	/* blocks a call has claimed under the lock and writes outside it (D7:
	 * a free's poison, poison_claimed; a malloc's fill, tagged
	 * CLAIM_FILL): every other call on one is refused until the claim
	 * ends; atomics only (a fill claim ends without the lock) */
	uintptr_t claimed[DEBUG_CLAIM_SLOTS];
	uint32_t claimed_count;
};

/* Module-wide, set at B_MODULE_INIT (debug_pool.c) and read-only after. */
extern struct debug_options debug_options DEBUG_HIDDEN;
extern struct debug_layout debug_layout DEBUG_HIDDEN;

static inline struct debug_pool *debug_of(struct pool *pool)
{
	return pool->control;
}

/* The pool's guard table as its readers see it (the first member of its
 * side table: guarded.c asserts it), or NULL when it has none. Inline for
 * the calls every malloc and free make with guards on, which is the
 * default (one allocation in 5000 sampled). */
static inline const struct guard_table *debug_guard_table(struct pool *pool)
{
	return (const struct guard_table *)(const void *)debug_of(pool)->guarded;
}

/* Whether ptr lies in the pool's guard region (fixed at create_pool). */
static inline bool guarded_holds(struct pool *pool, const void *ptr)
{
	const struct guard_table *table = debug_guard_table(pool);

	return table != NULL
		&& (uintptr_t)ptr - ((uintptr_t)pool->base + table->region_offset)
		< (uintptr_t)table->pages * B_PAGE_SIZE;
}

/* The requested bytes of the pool's live guarded blocks. */
static inline size_t guarded_live_bytes(struct pool *pool)
{
	const struct guard_table *table = debug_guard_table(pool);

	return table != NULL ? table->live_bytes : 0;
}

/* ---- the pool's lock and the seqlock pooldump reads (D5) ---- */

/*
 * Every pool operation runs between these. The descriptor's seq is odd while
 * the pool may change, so a reader copying the pool file knows when its copy
 * is torn (node_format.h, "Consistency").
 */
static inline bool debug_lock(struct pool *pool)
{
	bool locked = pool_lock(pool);
	struct debug_pool *debug = debug_of(pool);

	/* one load a call: has a reader asked for a quiet window? */
	if (__builtin_expect(__atomic_load_n(&debug->d.quiet.requested, __ATOMIC_RELAXED)
			    != debug->quiet_served,
		    0))
		node_writer_hold_still(&debug->d.quiet, &debug->quiet_served,
			debug_options.reader_wait_us);
	__atomic_store_n(&debug->d.seq, debug->d.seq + 1, __ATOMIC_RELAXED);
	/* The fence orders the odd seq before the pool's changes for readers in
	 * other processes (pread of the pool file); no thread of this process
	 * reads seq without the pool lock. */
	release_fence_for_readers();
	return locked;
}

static inline void debug_unlock(struct pool *pool, bool locked)
{
	struct debug_pool *debug = debug_of(pool);

	in_flight_end(&debug->d.in_flight);
	__atomic_store_n(&debug->d.seq, debug->d.seq + 1, __ATOMIC_RELEASE);
	pool_unlock(pool, locked);
}

/* ---- what the lock holder is doing (in_flight.h) ---- */

static inline struct node_in_flight *in_flight_of(struct pool *pool)
{
	return &debug_of(pool)->d.in_flight;
}

/* debug_lock() for an operation that changes the pool from the start. */
static inline bool debug_lock_for(struct pool *pool, enum node_operation operation)
{
	bool locked = debug_lock(pool);

	in_flight_begin(in_flight_of(pool), operation);
	return locked;
}

/* The operation of an allocation logged as op. */
static inline enum node_operation allocation_operation(enum pool_log_op op)
{
	return op == LOG_CALLOC     ? NODE_OP_CALLOC
		: op == LOG_REALLOC ? NODE_OP_REALLOC
				    : NODE_OP_MALLOC;
}

/*
 * Records at slot the chunk of the block at header (usable bytes) through
 * the free chunk right above it, if any: what a resize in place or a
 * return to the heap (which merges with it) changes. The block's tags must
 * have been checked (heap_free_above).
 */
static inline void in_flight_reach(struct pool *pool, enum node_range_slot slot,
	enum node_step step, const void *header, size_t usable)
{
	size_t above_usable;
	const char *above = heap_free_above(pool->heap, header, &above_usable);
	uintptr_t end =
		above != NULL ? (uintptr_t)above + above_usable : (uintptr_t)header + usable;

	in_flight_range(in_flight_of(pool), slot, step, (uintptr_t)header - HEAP_BLOCK_OVERHEAD,
		end);
}

/* A free or realloc of a checked live block begins its changes. */
static inline void in_flight_call(struct pool *pool, enum node_operation operation,
	const void *header, size_t usable)
{
	in_flight_begin(in_flight_of(pool), operation);
	if (operation == NODE_OP_REALLOC)
		in_flight_reach(pool, NODE_RANGE_BLOCK, NODE_STEP_CALL, header, usable);
	else
		in_flight_block(in_flight_of(pool), NODE_RANGE_BLOCK, NODE_STEP_CALL, header,
			usable);
}

/* ---- what the sanitizers may see (shadow.h) ---- */

/* Before the module reads or writes a block's memory itself. */
static inline void block_open(struct debug_block_header *header, size_t usable)
{
	if (shadow_active)
		shadow_expose(header, usable);
}

/*
 * A block header read without trusting the shadow's state (shadow_peek): a
 * nested look at the same block may have hidden it already, and a damaged
 * pool's header may be hidden memory. Validate the copy before using it.
 */
static inline void peek_header(const struct debug_block_header *header,
	struct debug_block_header *copy)
{
	shadow_peek(header, copy, sizeof(*copy));
}

/* After: hide what the driver must not touch, by the block's state. */
void block_close_shadow(struct debug_block_header *header, size_t usable) DEBUG_HIDDEN;

static inline void block_close(struct debug_block_header *header, size_t usable)
{
	if (shadow_active)
		block_close_shadow(header, usable);
}

/* ---- owner tags (owner.c) ---- */

/* Fills owner for a call made from caller: thread, team, time, and up to
 * stack_depth frames starting at caller (the stack enters the depot). With
 * no lock of the module held: it may unwind (unwind.h). */
void capture_owner(area_malloc_owner *owner, uintptr_t caller) DEBUG_HIDDEN;
/* The owner clock (system_time's microseconds, at the kernel tick's grain). */
bigtime_t owner_clock(void) DEBUG_HIDDEN;
/* Forgets the cached thread and team ids (a new load, a forked child). */
void owner_reset(void) DEBUG_HIDDEN;

/* ---- the stack depot (stacks.c) ---- */

/* Maps the process's stack depot (the node's stacks file when in_node, else
 * anonymous memory) and points layout->stacks at it. */
void stacks_start(const struct debug_options *options, struct debug_layout *layout,
	bool in_node) DEBUG_HIDDEN;
/* At unload: the depot goes (its file goes with the node). */
void stacks_stop(void) DEBUG_HIDDEN;
/* owner's frames from caller on, and its stack's handle at hand for the
 * block that owner is about to tag (capture_owner's second half). */
void stacks_capture(area_malloc_owner *owner, uintptr_t caller) DEBUG_HIDDEN;
/* In a forked child, before any pool is touched: a depot of its own. */
void stacks_forked_child(bool in_node) DEBUG_HIDDEN;

static inline void log_event(struct pool *pool, enum pool_log_op op, const void *address,
	size_t size, const area_malloc_owner *owner)
{
	pool_log_append(debug_of(pool)->log, (uint32_t)debug_options.log_size, op, address, size,
		owner->frames[0], owner->time, owner->sequence, (uint32_t)owner->thread);
}

/* ---- pending reports (pending.c) ---- */

#define MAX_PENDING 8

struct pending {
	struct error_report report;
	area_malloc_owner detected;
	area_malloc_owner allocated;
	area_malloc_owner freed;
	area_malloc_owner pool_creator;
	area_malloc_owner owner_creator;
	area_malloc_owner victim; /* report.victim_allocated_by points here */
	char pool_name[NODE_POOL_NAME_MAX];
	char owner_pool_name[NODE_POOL_NAME_MAX];
	char detail[320];
};

struct pending_list {
	struct pending items[MAX_PENDING];
	size_t count;
	size_t dropped;
};

/* Only the counters: the items are written as they are used (a list is
 * some 18 KB, which zeroing on every call would cost more than the call). */
static inline void pending_init(struct pending_list *list)
{
	list->count = 0;
	list->dropped = 0;
}

/* A new report of kind about address, or NULL when the list is full (the
 * report is then counted as dropped). detected (may be NULL): the call. */
struct pending *new_pending(struct pending_list *list, enum error_kind kind, const char *what,
	const void *address, const area_malloc_owner *detected) DEBUG_HIDDEN;
/* Copies what a report says about a pool (name, creator, ids) into name and
 * creator, so it outlives the pool's lock; with that lock held. */
void describe_pool(struct pool *pool, struct report_pool *out, char *name,
	area_malloc_owner *creator) DEBUG_HIDDEN;
/* The pool the report is about (its call's pool); with its lock held. */
void pending_set_pool(struct pending *pending, struct pool *pool) DEBUG_HIDDEN;
/* The owner pool of a cross-pool free; with that pool's lock held. */
void pending_set_owner_pool(struct pending *pending, struct pool *pool) DEBUG_HIDDEN;
/* The block's size and owner (and who freed it), when its header is sound. */
void pending_set_block(struct pending *pending, const struct debug_block_header *header,
	bool header_ok) DEBUG_HIDDEN;
/* Offset and overflow of a block finding (error_figures_of_finding). */
void pending_set_figures(struct pending *pending, const struct error_figures *figures) DEBUG_HIDDEN;
/* The owner a pool log event names: its caller (one frame), thread,
 * sequence and time; the team is the pool creator's (the log does not
 * record one). With the pool's lock held. */
void owner_of_log_event(struct pool *pool, const struct pool_log_event *event,
	area_malloc_owner *owner) DEBUG_HIDDEN;
/* The block's last events from the pool's log; with the pool's lock held. */
void pending_set_log(struct pending *pending, struct pool *pool, const void *address) DEBUG_HIDDEN;
void flush_pending_reports(struct pending_list *list) DEBUG_HIDDEN;

/* Makes the reports collected under the pool lock; most calls have none. */
static inline void flush_pending(struct pending_list *list)
{
	if (__builtin_expect(list->count != 0 || list->dropped != 0, 0))
		flush_pending_reports(list);
}

/* ---- acquiring pools (debug_pool.c) ---- */

/* The pool id names, acquired (pool_registry_release() must follow), or
 * NULL after an invalid-pool report naming the call what. */
struct pool *acquire_or_report(const void *pool_id, const char *what, const void *address,
	const area_malloc_owner *detected) DEBUG_HIDDEN;
void report_invalid_pool(const void *pool_id, enum pool_acquire_result result, const char *what,
	const void *address, const area_malloc_owner *detected) DEBUG_HIDDEN;
/* The pool id names, acquired, or NULL (no report: a query). */
struct pool *acquire_for_query(const void *pool_id) DEBUG_HIDDEN;

/*
 * Calls fn for each live pool whose area is area (0: all), in registry
 * order, each acquired (it cannot be deleted meanwhile) and unlocked.
 * Returns how many were visited.
 */
typedef void (*debug_pool_visit_fn)(const void *id, struct pool *pool, void *context);
int for_each_acquired_pool(area_id area, debug_pool_visit_fn fn, void *context) DEBUG_HIDDEN;

/* The ids of every live pool, in registry order, copied under the
 * registry's lock (free() them; NULL with *count 0: none, or no memory). */
const void **debug_live_pool_ids(size_t *count) DEBUG_HIDDEN;

/* After used bytes grew, with the pool locked: the peak (high-water mark
 * of used) follows, guarded blocks' bytes counted with the heap's. */
void debug_note_peak(struct pool *pool) DEBUG_HIDDEN;

/* The companion module's statistics of a locked pool. */
void debug_read_stats_locked(struct pool *pool, area_malloc_pool_stats *stats) DEBUG_HIDDEN;

/* Before the heap hands out bytes more: the pool's node file must have the
 * space (a full tmpfs would be SIGBUS in the driver, never NULL). */
bool reserve_for(struct pool *pool, size_t bytes) DEBUG_HIDDEN;

/* ---- the pool's file as its memory (backing.c) ---- */

/* At create_pool, once the pool has its area: lazy or reserved ahead. */
void backing_setup(struct pool *pool, bool locked_spec) DEBUG_HIDDEN;
/* At delete_pool, before the area goes. */
void backing_teardown(struct pool *pool) DEBUG_HIDDEN;
/* Gives the pages [start, end) (page aligned) back, to read as zeros;
 * false when the pool keeps its pages (the caller poisons them). */
bool backing_discard(struct pool *pool, uintptr_t start, uintptr_t end) DEBUG_HIDDEN;
/* A guarded block's pages [start, end) in the guard region, which is never
 * reserved ahead: reserved when the block is placed (false: the file has
 * no room, the block is made a canary block instead), given back when it
 * is freed (a pool's region would otherwise fill its 4 MiB of tmpfs or
 * memory over time). */
bool backing_reserve_guarded(struct pool *pool, uintptr_t start, uintptr_t end) DEBUG_HIDDEN;
void backing_give_back_guarded(struct pool *pool, uintptr_t start, uintptr_t end) DEBUG_HIDDEN;

/* ---- the quarantine (quarantine.c) ---- */

/*
 * The oldest block as a free found it before taking the pool's lock
 * (quarantine_peek_leaving): sound (its header, free record and poison
 * intact) while its header began with first_word.
 */
struct quarantine_peek {
	bool sound;
	const struct debug_block_header *block;
	uint64_t first_word;
	size_t usable;
};

/* Before the pool's lock: when a block of incoming usable bytes is about to
 * push the oldest out, checks the oldest (a large one) ahead. */
void quarantine_peek_leaving(struct pool *pool, size_t incoming,
	struct quarantine_peek *peek) DEBUG_HIDDEN;
/* A freshly quarantined (poisoned, opened) block enters; the oldest leave
 * while the quarantine holds more than its limit. peek (NULL for none):
 * what quarantine_peek_leaving() found, trusted for a block that leaves
 * still as it was found. */
void quarantine_push(struct pool *pool, struct debug_block_header *header, size_t usable,
	const struct quarantine_peek *peek, struct pending_list *pending) DEBUG_HIDDEN;
/* Takes blocks off, oldest first, until it holds keep_bytes at most. */
void quarantine_drain(struct pool *pool, size_t keep_bytes,
	struct pending_list *pending) DEBUG_HIDDEN;
/* Checks the FIFO without trusting a link (D2): a damaged link is a write
 * into its freed block, reported (it counts as an error), then the FIFO is
 * rebuilt from the heap. Returns the reports made (0 or 1). */
int quarantine_check(struct pool *pool, struct pending_list *pending) DEBUG_HIDDEN;

/* ---- pointers given to free and realloc (pointer_check.c) ---- */

/*
 * Claims (D7). A slot holds a block's user address, with CLAIM_FILL set for
 * a malloc's fill (user addresses are HEAP_ALIGN-aligned), or 0. Slots are
 * taken and free claims ended with the pool locked; a fill claim ends
 * without it, by the filling thread, after its fill: the release store of 0
 * orders the fill before any call that then finds the slot clear.
 */
#define CLAIM_FILL ((uintptr_t)1)

/* The slot holding ptr's claim (ptr NULL: a free slot), DEBUG_CLAIM_SLOTS
 * when none does, and in *claim the slot's value as read (CLAIM_FILL set
 * for a malloc's fill: read once, since a fill claim may end meanwhile);
 * with the pool locked. */
static inline unsigned debug_claim_slot(const struct debug_pool *debug, const void *ptr,
	uintptr_t *claim)
{
	for (unsigned slot = 0; slot < DEBUG_CLAIM_SLOTS; slot++) {
		*claim = __atomic_load_n(&debug->claimed[slot], __ATOMIC_ACQUIRE);
		if ((*claim & ~CLAIM_FILL) == (uintptr_t)ptr)
			return slot;
	}
	*claim = 0;
	return DEBUG_CLAIM_SLOTS;
}

/* The claim of ptr (debug_claim_slot's value), 0 when no call claimed it;
 * with the pool locked. */
static inline uintptr_t debug_claim_of(const struct debug_pool *debug, const void *ptr)
{
	uintptr_t claim = 0;

	if (__atomic_load_n(&debug->claimed_count, __ATOMIC_ACQUIRE) != 0)
		debug_claim_slot(debug, ptr, &claim);
	return claim;
}

/* Claims ptr for this call (fill: a malloc's fill) in a free slot; with the
 * pool locked. Returns the slot, DEBUG_CLAIM_SLOTS when none was free. */
static inline unsigned debug_claim(struct debug_pool *debug, const void *ptr, bool fill)
{
	uintptr_t free_slot;
	unsigned slot = debug_claim_slot(debug, NULL, &free_slot);

	if (slot < DEBUG_CLAIM_SLOTS) {
		__atomic_store_n(&debug->claimed[slot], (uintptr_t)ptr | (fill ? CLAIM_FILL : 0),
			__ATOMIC_RELAXED);
		__atomic_fetch_add(&debug->claimed_count, 1, __ATOMIC_RELAXED);
	}
	return slot;
}

/* Ends the claim in slot: with the pool locked for a free's claim, by the
 * filling thread without it for a fill claim. */
static inline void debug_end_claim(struct debug_pool *debug, unsigned slot)
{
	__atomic_store_n(&debug->claimed[slot], 0, __ATOMIC_RELEASE);
	__atomic_fetch_sub(&debug->claimed_count, 1, __ATOMIC_RELEASE);
}

/*
 * Checks that ptr (inside the pool's heap) is a live block of pool; with the
 * pool locked. On success returns the header (and its usable size), opened
 * for the module's own access (the caller closes it); otherwise queues the
 * report and returns NULL. Canary damage of a live block is reported but the
 * block is still returned (the operation itself is legitimate).
 */
struct debug_block_header *check_pointer_locked(struct pool *pool, void *ptr, const char *what,
	const area_malloc_owner *caller, size_t *usable_out,
	struct pending_list *pending) DEBUG_HIDDEN;
/* A call on a block that another call has claimed (claim, debug_claim_of):
 * a double-free report, the call refused; with the pool locked. */
void report_claimed_block(struct pool *pool, void *ptr, uintptr_t claim, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending) DEBUG_HIDDEN;
/* A pointer outside the call's pool's heap: cross-pool-free when another
 * pool owns it, invalid-free otherwise. Called with no pool locked. */
void report_foreign_pointer(struct pool *call_pool, void *ptr, const char *what,
	const area_malloc_owner *caller) DEBUG_HIDDEN;

/* ---- who wrote there (culprit.c) ---- */

/*
 * A block whose header (its owner tag) is damaged: the write came past the
 * end of the block below, a far overflow that jumped its trailing canary,
 * when that block is live. Queues that report (heap-buffer-overflow of the
 * block below, naming the damaged block too, its owner from the pool log)
 * and returns true; false when there is no live block below (then it is
 * the damaged block's own underflow). With the pool locked; header opened.
 */
bool report_far_overflow(struct pool *pool, struct debug_block_header *header, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending) DEBUG_HIDDEN;

/*
 * A write into free memory (F1, free_memory.c) at at, run bytes long: a
 * use-after-free of the block that last held those bytes, as the pool log
 * remembers it; else an overflow of the nearest live block below; else
 * heap-corruption. The caller counts the error.
 */
void report_free_memory_write(struct pool *pool, uintptr_t at, size_t run, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending) DEBUG_HIDDEN;

/* ---- free memory (free_memory.c) ---- */

/* Gives a quarantined block back to the heap, keeping F1; damaged: a write
 * into the freed block (reported) left its poison damaged. */
void return_to_heap(struct pool *pool, struct debug_block_header *header, size_t usable,
	bool damaged) DEBUG_HIDDEN;
/*
 * Checks [start, start + length) of a free chunk (start 4-aligned): F1 below
 * the touched mark (mark: the heap's, or the one before an allocation that
 * just moved it), zeros above it in the mark's page and, when thorough (a
 * check, delete_pool, exit), in every resident page further up. Damage is
 * reported and filled again; true when there was none.
 */
bool free_memory_check(struct pool *pool, const void *start, size_t length, uintptr_t chunk_end,
	uintptr_t mark, bool thorough, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending) DEBUG_HIDDEN;
/* chunk_end: where the free chunk that start begins ends (before any split):
 * its whole pages may hold zeros (pages given back, backing.c). */

/* After the heap split the free chunk a block was carved from (an
 * allocation, a realloc growing in place): the rest's first page, no
 * longer whole inside a free chunk, holds the poison again (F1). rest: the
 * free chunk right above the block (heap_free_above; NULL: none), usable
 * bytes. */
void free_memory_split(struct pool *pool, const void *rest, size_t usable) DEBUG_HIDDEN;
/* After a realloc shrank a block in place: fills the tail it gave back. */
void free_memory_shrunk(struct pool *pool, struct debug_block_header *header,
	size_t old_usable) DEBUG_HIDDEN;
/* Before a realloc grows a block in place to new_usable: checks the part of
 * the free chunk above that it takes, and records the block through that
 * chunk as what is in flight (in_flight_reach). */
bool free_memory_check_above(struct pool *pool, struct debug_block_header *header,
	size_t new_usable, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending) DEBUG_HIDDEN;

/* Was the leading canary of the block at user written up to its first
 * byte (a run down from the block's own start)? */
bool underflow_reaches_start(struct pool *pool, const void *user) DEBUG_HIDDEN;
/*
 * Damaged heap tags (damage) under a block whose leading canary was written
 * up to its start: one run down from that block's start, its underflow.
 * Queues that report (size and owner from the pool log) and returns true;
 * false when the block above the damage shows no such run.
 */
bool report_underflow_through_tags(struct pool *pool, const struct heap_damage *damage,
	const char *what, const area_malloc_owner *caller,
	struct pending_list *pending) DEBUG_HIDDEN;
/* What a damaged pool does next, as its reports say (after a call of what). */
const char *damage_consequence(const char *what) DEBUG_HIDDEN;

/* ---- checks (pool_check.c) ---- */

/* Every problem of a locked pool, damaged headers included; returns how
 * many (and counts them as the pool's errors). */
int check_locked(struct pool *pool, struct pending_list *pending) DEBUG_HIDDEN;
/* At delete_pool and exit: what was not reported yet. false when the heap
 * is damaged (then nothing more may walk or change it). */
bool check_before_leaving(struct pool *pool, struct pending_list *pending) DEBUG_HIDDEN;
/* Before delete_pool or exit change or walk anything: the heap validates
 * (or its damage is reported, once); false when it does not. */
bool heap_sound_for_leaving(struct pool *pool, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending) DEBUG_HIDDEN;
/* Reports damaged heap metadata (heap-corruption at damage->at), naming the
 * nearest sound live block below it as the likely culprit. */
void report_heap_damage(struct pool *pool, const struct heap_damage *damage, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending) DEBUG_HIDDEN;
/* After a heap operation: reports the damage it found, once; true when
 * the heap is damaged (newly or not). */
bool heap_damage_found(struct pool *pool, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending) DEBUG_HIDDEN;
/* A call on a pool whose heap is damaged is refused (one report each);
 * true when it is. With the pool locked. */
bool pool_refuses(struct pool *pool, const char *what, const void *address,
	const area_malloc_owner *caller, struct pending_list *pending) DEBUG_HIDDEN;
/* A damaged header a call reported: later checks leave it out. */
void remember_reported_header(struct debug_pool *debug, const void *header) DEBUG_HIDDEN;
/* Checks the pools with that area id (0: all); -1 when there is none. */
int check_pools(area_id area, int *pools_checked) DEBUG_HIDDEN;

/* ---- leaks (leaks.c) ---- */

/* Reports the live blocks of an acquired pool allocated at or after since
 * (by team, 0: any) as leaks found 'when'; returns the unsuppressed bytes. */
size_t report_pool_leaks(struct pool *pool, int64_t since, pid_t team, const char *when,
	size_t *blocks) DEBUG_HIDDEN;
/* The same, each group marked with what scan (may be NULL) found of it;
 * lost_only: only the blocks it found unreferenced or indirectly lost. */
size_t report_scanned_pool_leaks(struct pool *pool, int64_t since, pid_t team, const char *when,
	const struct leak_scan *scan, bool lost_only, size_t *blocks) DEBUG_HIDDEN;
/* The same for every pool whose area is area (0: all), any team; sets the
 * totals and returns how many pools were looked at. */
int report_leaks_of_pools(area_id area, int64_t since, const char *when, size_t *bytes,
	size_t *blocks) DEBUG_HIDDEN;

/* ---- leaked pools (pool_leaks.c) ---- */

/* What a leaked-pool report says of each live pool this process created
 * (NULL when leak_check=0 or memory ran out): taken before the pools go. */
struct leaked_pools *leaked_pools_collect(void) DEBUG_HIDDEN;
/* Makes those reports, found 'when', and frees list (NULL: none). */
void leaked_pools_report(struct leaked_pools *list, const char *when) DEBUG_HIDDEN;

/* ---- fault injection (fault_injection.c) ---- */

void fault_injection_init(void) DEBUG_HIDDEN;
/* Any of fail_nth and fail_rate set. */
extern bool fault_injection_armed DEBUG_HIDDEN;
bool fault_injection_matches(struct pool *pool, uintptr_t caller) DEBUG_HIDDEN;

/* Is an allocation of this pool from this caller subject to injection at
 * all? Call WITHOUT the pool's lock: matching fail_caller symbolizes
 * (the reporter's lock, libdw, the loader's locks). */
static inline bool fault_injection_applies(struct pool *pool, uintptr_t caller)
{
	return __builtin_expect(fault_injection_armed, 0) && fault_injection_matches(pool, caller);
}
/* Counts one attempt of an allocation that applies; true when it must
 * fail. May be called with the pool's lock (it takes only a leaf lock). */
bool fault_injection_fires(void) DEBUG_HIDDEN;

/* ---- fork (debug_fork.c) ---- */

void debug_fork_install(void) DEBUG_HIDDEN;

#endif /* AREA_MALLOC_DEBUG_INTERNAL_H */
