/*
 * guarded.h - guarded blocks (issue 15): blocks that meet an inaccessible
 * page, so a read or write past their end (or, with guard_underflow,
 * before their start), or into them after free, faults at the access
 * (Driver Verifier's Special Pool, KFENCE, GWP-ASan, memguard).
 *
 * Role
 *   Where guards are wanted (options guard, guard_pools, guard_size,
 *   guard_sample; docs: area_malloc_debug(7), GUARD PAGES), each pool's
 *   control region ends with a page-aligned guard region, pages of the
 *   pool's own area outside its heap. A guarded block takes whole pages
 *   of it, its data pages and one guard page:
 *
 *     overflow mode:  | canary | user bytes | slack | GUARD |
 *                                           page end ^
 *     underflow mode: | GUARD | user bytes | slack ... |
 *
 *   The slack (the request rounded up to 16 bytes, at most 15 bytes) and
 *   the bytes of the first data page before the block hold the canary
 *   (0xfd), checked at free as a canary block's are. A freed block's pages
 *   are made inaccessible and stay so while it waits in the pool's guarded
 *   quarantine (a FIFO of its own, left only when the region needs room).
 *   Every page of the region that no live block uses is inaccessible.
 *
 *   A block's metadata (owner tag, free record, quarantine link) is in a
 *   side table before the region (its layout: format/guard_table.h, which
 *   pooldump reads from the pool's file), never on a page that may be protected:
 *   checks, the quarantine, fork copies and pooldump never read a
 *   protected page (pooldump reads the pool file, not the mapping).
 *
 *   The region is registered with kernel_guard_register (kernel/
 *   guard_fault.h); its callback (guarded_report.c) finds the block of a faulting page in the
 *   side table, copies the facts into a preallocated record, makes the page
 *   accessible (KFENCE's way: the driver goes on, the process exits with
 *   exitcode) or stops under halt_on_error. The report is made later,
 *   outside the handler: at the next call of the module, and at exit.
 *
 * Invariants
 *   G1 a slot is FREE, LIVE or QUARANTINED; the side table's page owners
 *      name exactly the pages (data and guard) of the LIVE and QUARANTINED
 *      slots;
 *   G2 the quarantine FIFO links exactly the QUARANTINED slots, oldest
 *      first;
 *   G3 a LIVE block's data pages are accessible, every other page of the
 *      region is not, except pages a reported fault made accessible;
 *   G4 live guarded blocks count in the pool's statistics
 *      (guarded_add_stats, from the side table's counters, which pooldump
 *      reads; not in the descriptor's counters, which count the heap's
 *      blocks, D3) and in release_charged (D6) by their
 *      requested size as a heap block would: guard pages are not charged.
 *   G5 the slots at and above slots_used are FREE and were never written
 *      (find_slot takes the lowest free slot): walks over slots stop there,
 *      so a pool that guarded few blocks faults in none of the table's
 *      other pages (its file keeps holes there) at a check or delete_pool.
 *   Past guard_pool_max blocks in a pool or guard_process_max live blocks
 *   in the process, or when the region has no room, a block is an ordinary
 *   canary block: a guard never makes an allocation fail.
 *
 * Locking: the pool's lock protects its side table; the fault callback
 * takes no lock (it reads the table with atomic loads, and a fault during
 * a change under the lock sees the old or the new slot, both sound); the
 * fault records are claimed with atomic exchanges.
 */
#ifndef AREA_MALLOC_DEBUG_GUARDED_H
#define AREA_MALLOC_DEBUG_GUARDED_H

#include <stdbool.h>
#include <stddef.h>

#include <drivers/area_malloc_debug.h>

#include "core/pool.h"
#include "format/options.h"
#include "format/pool_log.h"

#define GUARDED_HIDDEN __attribute__((visibility("hidden")))

/* Set at module init (debug_pools_init), read-only after: whether any
 * option asks for guarded blocks, and guards can work here (not under
 * Valgrind). The allocation path tests it before anything else. */
extern bool guarded_enabled GUARDED_HIDDEN;

/* At module init, from the options. */
void guarded_init(const struct debug_options *options) GUARDED_HIDDEN;

/* Control bytes a pool needs for its side table and guard region (0 when
 * guards are off, and for a locked pool when only sampling would guard its
 * blocks); the region is page aligned inside them. */
size_t guarded_control_bytes(bool locked) GUARDED_HIDDEN;

/* Where the guard region of a pool lies in its area, [*from, *to) from the
 * area's start, when its side table starts table_offset bytes into it (both
 * 0 when the pool has none): the pool's file reserves no space for it (a
 * guarded block reserves its own pages). */
void guarded_region_span(uintptr_t table_offset, bool locked, uint64_t *from,
	uint64_t *to) GUARDED_HIDDEN;

/* At create_pool, the pool's control region set up: places the side table
 * at table (guarded_control_bytes(locked) bytes), protects the region and
 * registers it. Without guards, or when that fails, the pool has none. */
void guarded_pool_init(struct pool *pool, void *table, bool locked) GUARDED_HIDDEN;
/* At delete_pool, before the area goes: unregisters the region. */
void guarded_pool_fini(struct pool *pool) GUARDED_HIDDEN;

/*
 * A guarded block of size for owner (its sequence set), when the options
 * select it and there is room; else NULL (the caller makes a canary block).
 * With the pool locked; counts, logs (op) and fills as allocate does.
 */
void *guarded_allocate_locked(struct pool *pool, size_t size, bool zeroed, area_malloc_owner *owner,
	enum pool_log_op op) GUARDED_HIDDEN;

/* The pool's guard region, [*from, *to) from its area's start (both 0
 * when it has none). */
void guarded_region_of(struct pool *pool, uint64_t *from, uint64_t *to) GUARDED_HIDDEN;

/* guarded_holds() and guarded_live_bytes() are inline (debug_internal.h). */

/*
 * free(ptr) of a pointer guarded_holds: checks the block's canaries and
 * quarantines it, or reports a double or invalid free. Locks the pool,
 * releases it (pool_registry_release) and makes the reports.
 */
void guarded_free(const void *pool_id, struct pool *pool, void *ptr,
	area_malloc_owner *owner) GUARDED_HIDDEN;

/* The requested size of the live guarded block at ptr, or SIZE_MAX after a
 * report (realloc of a freed or invalid pointer). Locks the pool. */
size_t guarded_live_size(struct pool *pool, void *ptr, const char *what,
	area_malloc_owner *owner) GUARDED_HIDDEN;

/* Calls fn for each live guarded block of a locked pool: its address,
 * requested size, owner (its stack expanded only when want_frames) and the
 * grouping key of its allocation stack (the depot handle, as leaks.c
 * groups canary blocks). */
typedef void (*guarded_live_fn)(const void *user, size_t size, const area_malloc_owner *owner,
	uint32_t stack, void *context);
void guarded_for_each_live(struct pool *pool, bool want_frames, guarded_live_fn fn,
	void *context) GUARDED_HIDDEN;
/* The allocation owner of the live guarded block at user; false if none. */
bool guarded_owner_of(struct pool *pool, const void *user, area_malloc_owner *owner) GUARDED_HIDDEN;

/* A check of a locked pool (pool_check.c): the canaries of its live
 * guarded blocks (reports queued); adds their release charge (D6) to
 * *charged. Returns the problems found. */
struct pending_list;
int guarded_check_locked(struct pool *pool, struct pending_list *pending,
	size_t *charged) GUARDED_HIDDEN;

/* The companion's set_pool_guard (debug/v3): the pool's own choice of
 * guarded blocks (B_AREA_MALLOC_GUARD_*). */
status_t guarded_set_pool_guard(const void *pool_id, uint32 mode,
	uint32 sample_rate) GUARDED_HIDDEN;

/* Adds the live guarded blocks to a locked pool's statistics. */
void guarded_add_stats(struct pool *pool, area_malloc_pool_stats *stats) GUARDED_HIDDEN;

/* A forked child, before its pool's pages are copied from the mapping: the
 * region readable; after the pool is its own: the protections again (a
 * new mapping has none). With the pool's lock held. */
void guarded_fork_child_open(struct pool *pool) GUARDED_HIDDEN;
void guarded_fork_child_close(struct pool *pool) GUARDED_HIDDEN;

/* Makes the reports of the faults recorded since the last time; with no
 * pool lock held. The fast path is one relaxed load. */
void guarded_report_faults_slow(void) GUARDED_HIDDEN;
extern int guarded_faults_waiting GUARDED_HIDDEN;

static inline void guarded_report_faults(void)
{
	if (__builtin_expect(__atomic_load_n(&guarded_faults_waiting, __ATOMIC_RELAXED) != 0, 0))
		guarded_report_faults_slow();
}

#endif /* AREA_MALLOC_DEBUG_GUARDED_H */
