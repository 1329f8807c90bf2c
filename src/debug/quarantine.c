/*
 * quarantine.c - freed blocks held back from reuse, so that a write into a
 * freed block (or a second free of it) is found before the memory is
 * handed out again.
 *
 * Shape: a FIFO of QUARANTINED blocks per pool, oldest first, linked
 * through the first word of each block's leading canary (format/
 * debug_block.h); it holds up to quarantine_limit usable bytes (option
 * quarantine_bytes, at most a quarter of the pool). A block leaving it has
 * its free record and poison checked: damage is a use-after-free.
 *
 * Invariants: D2 (debug_internal.h). The links lie in memory the driver can
 * write, so no link is followed before it is checked (quarantine_link_ok):
 * a damaged link is reported with its block, and the FIFO is rebuilt from a
 * walk of the heap. The tail whose link is set, and each block that leaves,
 * is recorded as in flight (in_flight.h) before it is changed.
 *
 * Locking: the pool's lock; but quarantine_peek_leaving() runs without it
 * and reads the head and the byte count, which are stored atomically
 * (relaxed) for it, and the head's block, which another thread may be
 * returning to the heap meanwhile: what it finds is trusted only for a
 * block whose header still begins with the word it read (peek_holds).
 */
#include "config.h"

#include <stdio.h>

#include "debug/debug_internal.h"
#include "kernel/sanitizers.h"

/* The head and the byte count change under the pool's lock only, but a
 * free reads them before it takes the lock (quarantine_peek_leaving). */
static inline void set_head(struct debug_pool *debug, struct debug_block_header *head)
{
	__atomic_store_n(&debug->quarantine_head, head, __ATOMIC_RELAXED);
}

static inline void set_held_bytes(struct debug_pool *debug, uint64_t bytes)
{
	__atomic_store_n(&debug->d.quarantined_bytes, bytes, __ATOMIC_RELAXED);
}

/* A write into a quarantined block (finding, or only its link): one
 * use-after-free report, found by what. */
static void report_quarantined_write(struct pool *pool, struct debug_block_header *header,
	size_t usable, struct debug_block_finding finding, const char *what, const char *when,
	const char *then, struct pending_list *pending)
{
	void *user = debug_block_user(&debug_layout, header);
	struct pending *report = new_pending(pending, ERROR_USE_AFTER_FREE, what, user, NULL);

	debug_of(pool)->d.errors++;
	if (report == NULL)
		return;
	struct error_figures figures = error_figures_of_finding(finding);
	pending_set_pool(report, pool);
	pending_set_block(report, header, debug_block_header_ok(&debug_layout, header, usable));
	if (finding.problem == BLOCK_OK) {
		/* only the link, the first word of the leading canary */
		report->report.offset = -(long)(debug_layout.front_size - debug_layout.header_size);
		report->report.offset_known = true;
	} else if (figures.kind == ERROR_USE_AFTER_FREE) {
		pending_set_figures(report, &figures);
	}
	snprintf(report->detail, sizeof(report->detail),
		"a freed block was written while in quarantine (found %s)%s", when, then);
	pending_set_log(report, pool, user);
}

/* Returns a block leaving quarantine to the heap, reporting what its check
 * found. link_damaged: its quarantine link had been overwritten (a write
 * into the freed block). */
static void release_quarantined(struct pool *pool, struct debug_block_header *header, size_t usable,
	struct debug_block_finding finding, bool link_damaged, struct pending_list *pending)
{
	if (finding.problem != BLOCK_OK || link_damaged)
		report_quarantined_write(pool, header, usable, finding, "reuse",
			"when it left the quarantine", "; the damage is discarded with the block",
			pending);
	return_to_heap(pool, header, usable, finding.problem != BLOCK_OK || link_damaged);
}

/* A quarantine link worth following: a used chunk holding a quarantined block. */
static bool quarantine_link_ok(struct pool *pool, struct debug_block_header *next)
{
	size_t usable;
	bool ok;

	if (next == NULL)
		return true;
	if (!heap_block_is_live(pool->heap, next))
		return false;
	/* the state is enough to follow the link: the block's header and record
	 * are checked in full when it leaves the quarantine */
	usable = heap_usable_size(pool->heap, next);
	block_open(next, usable);
	ok = debug_block_state(next) == BLOCK_QUARANTINED;
	block_close(next, usable);
	return ok;
}

/*
 * Starts fetching the block a quarantine link names, before it is followed.
 * Blocks leave the quarantine long after they entered it, so each is cold:
 * following the link (its chunk and debug headers) and, at the next pop,
 * checking its free record and poison would each wait for memory. Asked for
 * now, those lines arrive while the block ahead of it is checked and freed.
 * A prefetch never faults, so a damaged link costs nothing here. (Fetching
 * the whole block, and the chunk above it that heap_free() merges with,
 * measured no faster.)
 */
static void prefetch_quarantined(struct debug_block_header *next)
{
	const char *start = (const char *)next - HEAP_BLOCK_OVERHEAD;
	const char *user = debug_block_user(&debug_layout, next);

	for (const char *line = start; line <= user; line += 64)
		__builtin_prefetch(line, 0, 0);
}

/*
 * The FIFO's ends are followed without a check of their own (the links to
 * them were checked when they were made): their chunk's tags are checked
 * here before its size is used. Damaged tags are the pool's damage
 * (reported once, the pool refuses calls from then on); a head or tail that
 * is no block at all, in a sound heap, had its pointer written: rebuilt.
 */
static void rebuild_quarantine_after_damage(struct pool *pool);

static bool quarantined_chunk(struct pool *pool, struct debug_block_header *header, size_t *usable,
	const char *what, struct pending_list *pending)
{
	struct heap_damage damage;

	if (heap_block_is_live(pool->heap, header)) {
		*usable = heap_usable_size(pool->heap, header);
		return true;
	}
	if (!heap_check(pool->heap, &damage)) {
		heap_note_damage(pool->heap, &damage);
		if (pending != NULL)
			heap_damage_found(pool, what, NULL, pending);
	} else if (pending != NULL) {
		/* (never while rebuilding: the walk links only sound blocks) */
		rebuild_quarantine_after_damage(pool);
	}
	return false;
}

/* Links a quarantined block (its own link already NULL) behind the tail,
 * whose link must be NULL: a write into it is reported (pending may be NULL
 * when the FIFO is being rebuilt) before relinking hides it. */
static void quarantine_append(struct pool *pool, struct debug_block_header *header, size_t usable,
	struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);

	if (debug->quarantine_tail != NULL) {
		struct debug_block_header *tail = debug->quarantine_tail;
		size_t tail_usable = 0;
		if (!quarantined_chunk(pool, tail, &tail_usable, "free", pending)) {
			/* the block stays out of the FIFO: the pool is damaged, or
			 * the FIFO was just rebuilt (with this block, if it is
			 * quarantined already) */
			return;
		}
		in_flight_block(in_flight_of(pool), NODE_RANGE_OTHER, NODE_STEP_QUARANTINE_LINK,
			tail, tail_usable);
		block_open(tail, tail_usable);
		if (pending != NULL && debug_block_quarantine_next(&debug_layout, tail) != NULL)
			report_quarantined_write(pool, tail, tail_usable,
				(struct debug_block_finding){ BLOCK_OK, 0, 0 }, "free",
				"when a newer freed block was linked behind it", "", pending);
		debug_block_set_next(&debug_layout, tail, header);
		block_close(tail, tail_usable);
		in_flight_step_done(in_flight_of(pool));
	} else {
		set_head(debug, header);
	}
	debug->quarantine_tail = header;
	debug->d.quarantined_blocks++;
	set_held_bytes(debug, debug->d.quarantined_bytes + usable);
}

static void relink_quarantined(void *chunk, size_t usable, bool used, void *context)
{
	struct pool *pool = context;
	struct debug_block_header *header = chunk;
	bool quarantined;

	if (!used)
		return;
	block_open(header, usable);
	quarantined = debug_block_header_ok(&debug_layout, header, usable)
		&& debug_block_state(header) == BLOCK_QUARANTINED;
	block_close(header, usable);
	if (!quarantined)
		return;
	/* rewrite the block's link even if its record was damaged: the
	 * block is released (and its damage reported) when it leaves */
	block_open(header, usable);
	debug_block_set_next(&debug_layout, header, NULL);
	block_close(header, usable);
	quarantine_append(pool, header, usable, NULL);
}

/* A damaged link broke the FIFO: relink every quarantined block. */
static void rebuild_quarantine_after_damage(struct pool *pool)
{
	struct debug_pool *debug = debug_of(pool);
	struct heap_damage damage;

	set_head(debug, NULL);
	debug->quarantine_tail = NULL;
	debug->d.quarantined_blocks = 0;
	set_held_bytes(debug, 0);
	/* a damaged heap ends the walk: the blocks past it stay unlinked (the
	 * pool refuses every call from now on) */
	if (!heap_walk(pool->heap, relink_quarantined, pool, &damage))
		heap_note_damage(pool->heap, &damage);
}

/* ---- checking the oldest block before the lock ---- */

/*
 * The smallest and largest chunk a free checks ahead of its lock when it is
 * about to push it out: below, the check costs less than the peek; above,
 * a block read while another thread returns it to the heap could cost a
 * read of that much free memory for nothing.
 */
#define PEEK_MIN_USABLE 512
#define PEEK_MAX_USABLE ((size_t)1 << 20)

#if defined(AREA_MALLOC_BUILT_WITH_TSAN)
#define peek_allowed false /* see below */
#else
#define peek_allowed true
#endif

/*
 * Why: a block leaving the quarantine has its free record and every byte of
 * its poison checked, and with the lock held that pass was most of a free's
 * time when blocks are kilobytes large: two threads sharing a pool waited
 * for each other's. The free that will push the oldest block out checks it
 * first, without the lock; under the lock the drain trusts that finding
 * only for the same block still carrying the same header's first word
 * (checksum, state, thread: a block that left the quarantine in between
 * had its header filled with poison or made a free chunk's links, and one
 * allocated there since has a new checksum). The first word is read before
 * the check and again after it, so a block that changed during the check
 * is not trusted. A write into the freed block after this check is missed
 * at this drain, as one made just after the locked check always was; it
 * lands in free memory (F1), where the next check, delete_pool or exit
 * finds it. Not under a sanitizer's shadow (the block is hidden from it)
 * nor under ThreadSanitizer (another thread may be returning the block to
 * the heap while this one reads it, by design).
 */
void quarantine_peek_leaving(struct pool *pool, size_t incoming, struct quarantine_peek *peek)
{
	struct debug_pool *debug = debug_of(pool);
	const struct debug_block_header *head;
	uint64_t first_word;
	size_t usable;

	peek->sound = false;
	if (!peek_allowed || shadow_active || debug->quarantine_limit == 0
		|| __atomic_load_n(&debug->d.quarantined_bytes, __ATOMIC_RELAXED) + incoming
			<= debug->quarantine_limit)
		return;
	head = __atomic_load_n(&debug->quarantine_head, __ATOMIC_RELAXED);
	if (head == NULL || !heap_contains(pool->heap, head))
		return;
	usable = heap_live_usable_size_unlocked(pool->heap, head, PEEK_MAX_USABLE);
	if (usable < PEEK_MIN_USABLE)
		return;
	first_word = debug_block_first_word(head);
	if (debug_block_check(&debug_layout, head, usable).problem != BLOCK_OK
		|| debug_block_state(head) != BLOCK_QUARANTINED
		|| debug_block_first_word(head) != first_word)
		return;
	*peek = (struct quarantine_peek){ true, head, first_word, usable };
}

/* Whether the peek's finding holds for header, a block leaving now (with
 * the pool locked and the block's chunk checked). */
static bool peek_holds(const struct quarantine_peek *peek, const struct debug_block_header *header,
	size_t usable)
{
	return peek != NULL && peek->sound && peek->block == header && peek->usable == usable
		&& debug_block_first_word(header) == peek->first_word;
}

/*
 * The oldest block's link is read and its target prefetched first, then the
 * block's poison is checked, then the link is followed: the one cache miss
 * overlaps the other work.
 */
static void drain_past(struct pool *pool, size_t keep_bytes, const struct debug_block_header *fresh,
	const struct quarantine_peek *peek, struct pending_list *pending);

void quarantine_drain(struct pool *pool, size_t keep_bytes, struct pending_list *pending)
{
	drain_past(pool, keep_bytes, NULL, NULL, pending);
}

/*
 * quarantine_drain() for a push: fresh is the block this call poisoned and
 * linked, which leaves at once when it alone is larger than the quarantine
 * (a large block): its poison is not checked, since nothing could write it
 * since this call laid it. Checking it was half of freeing a block of
 * megabytes.
 */
static void drain_past(struct pool *pool, size_t keep_bytes, const struct debug_block_header *fresh,
	const struct quarantine_peek *peek, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);

	while (debug->d.quarantined_bytes > keep_bytes) {
		struct debug_block_header *header = debug->quarantine_head;
		struct debug_block_header *next;
		struct debug_block_finding finding;
		bool link_damaged;
		size_t usable = 0;

		if (header == NULL) {
			/* a damaged link cut the FIFO short: find the rest again */
			rebuild_quarantine_after_damage(pool);
			if (debug->quarantine_head == NULL)
				break;
			continue;
		}
		if (!quarantined_chunk(pool, header, &usable, "reuse", pending)) {
			if (heap_damaged(pool->heap, NULL))
				break; /* the heap refuses every change now */
			continue;      /* rebuilt */
		}
		/* it goes back to the heap, merging with the free chunk above */
		in_flight_reach(pool, NODE_RANGE_LEAVING, NODE_STEP_QUARANTINE_DRAIN, header,
			usable);
		block_open(header, usable);
		next = debug_block_quarantine_next(&debug_layout, header);
		if (next != NULL)
			prefetch_quarantined(next);
		finding = header == fresh || peek_holds(peek, header, usable)
			? (struct debug_block_finding){ BLOCK_OK, 0, 0 }
			: debug_block_check(&debug_layout, header, usable);
		link_damaged = !quarantine_link_ok(pool, next);
		if (link_damaged)
			next = NULL;
		set_head(debug, next);
		if (next == NULL)
			debug->quarantine_tail = NULL;
		debug->d.quarantined_blocks--;
		set_held_bytes(debug, debug->d.quarantined_bytes - usable);
		release_quarantined(pool, header, usable, finding, link_damaged, pending);
		if (link_damaged)
			rebuild_quarantine_after_damage(pool);
		if (heap_damage_found(pool, "reuse", NULL, pending))
			break; /* the heap refuses every change now */
	}
	in_flight_step_done(in_flight_of(pool));
}

void quarantine_push(struct pool *pool, struct debug_block_header *header, size_t usable,
	const struct quarantine_peek *peek, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);

	if (debug->quarantine_limit == 0) {
		return_to_heap(pool, header, usable, false);
		heap_damage_found(pool, "free", NULL, pending);
		return;
	}
	quarantine_append(pool, header, usable, pending);
	block_close(header, usable);
	if (debug->d.quarantined_bytes > debug->quarantine_limit)
		drain_past(pool, debug->quarantine_limit, header, peek, pending);
}

int quarantine_check(struct pool *pool, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	struct debug_block_header *header = debug->quarantine_head;
	uint64_t seen = 0;

	while (header != NULL && seen <= debug->d.quarantined_blocks) {
		struct debug_block_header *next;
		size_t usable;
		bool damaged;

		if (!heap_block_is_live(pool->heap, header))
			break; /* the head itself: not a block (a wild write): rebuild */
		usable = heap_usable_size(pool->heap, header);
		block_open(header, usable);
		next = debug_block_quarantine_next(&debug_layout, header);
		damaged = header == debug->quarantine_tail
			? next != NULL
			: next == NULL || !quarantine_link_ok(pool, next);
		if (damaged) {
			report_quarantined_write(pool, header, usable,
				(struct debug_block_finding){ BLOCK_OK, 0, 0 }, "check",
				"by a check of the quarantine", "", pending);
			block_close(header, usable);
			rebuild_quarantine_after_damage(pool);
			return 1;
		}
		block_close(header, usable);
		header = next;
		seen++;
	}
	if (header != NULL || seen != debug->d.quarantined_blocks)
		rebuild_quarantine_after_damage(pool);
	return 0;
}
