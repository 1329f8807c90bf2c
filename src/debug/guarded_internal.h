/*
 * guarded_internal.h - what guarded.c (placement, the side table) and
 * guarded_report.c (the fault callback and the reports of faults) share:
 * the side table's layout (guarded.h says what it is, its invariants and
 * its locking).
 */
#ifndef AREA_MALLOC_DEBUG_GUARDED_INTERNAL_H
#define AREA_MALLOC_DEBUG_GUARDED_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "debug/debug_internal.h"
#include "debug/guarded.h"
#include "format/guard_table.h"
#include "kernel/guard_fault.h"

/* The side table, in the pool's control region, the region after it: the
 * format's header first (what readers of the pool's file see, the counters
 * of live and quarantined blocks among it), then what only this process
 * uses. */
struct guarded_pool {
	struct guard_table format;
	uintptr_t region; /* page aligned */
	uint32_t pages, slots;
	/* slots at and above this index were never handed out: find_slot takes
	 * the lowest free one, so the walks over live slots stop here and never
	 * fault in (nor make file data of) the table's untouched pages */
	uint32_t slots_used;
	uint32_t quarantine_head, quarantine_tail; /* slot + 1 (0: empty) */
	uint32_t next_fit;                         /* where the search for pages begins */
	uint32_t mode;                             /* B_AREA_MALLOC_GUARD_* (set_pool_guard) */
	uint32_t sample_rate;                      /* for B_AREA_MALLOC_GUARD_SAMPLE */
	uint64_t sample_state;                     /* the pool's sampling generator (never 0) */
	struct pool *pool;
	struct guard_slot *slot; /* [slots] */
	uint16_t *page_owner;    /* [pages]: slot + 1, 0 for none */
};

static inline struct guarded_pool *table_of(struct pool *pool)
{
	return debug_of(pool)->guarded;
}

/* The end of the slots a walk over live ones must look at. */
static inline uint32_t slots_in_use(const struct guarded_pool *table)
{
	return table->slots_used < table->slots ? table->slots_used : table->slots;
}

/* The slot of a page, or NULL (atomic loads: the fault callback reads it
 * without the pool's lock). */
static inline struct guard_slot *slot_of_page(struct guarded_pool *table, size_t page)
{
	uint16_t owner;

	if (page >= table->pages)
		return NULL;
	owner = __atomic_load_n(&table->page_owner[page], __ATOMIC_ACQUIRE);
	return owner == 0 || owner > table->slots ? NULL : &table->slot[owner - 1];
}

/* The owner an owner tag names, its stack expanded from the depot. */
void guarded_owner_of_tag(const struct guard_tag *tag, area_malloc_owner *owner) GUARDED_HIDDEN;

/* The callback guarded_pool_init registers for a pool's region (cookie:
 * its struct guarded_pool); async-signal-safe. */
enum kernel_guard_verdict guarded_fault_callback(const struct kernel_guard_fault *fault,
	void *cookie) GUARDED_HIDDEN;

#endif /* AREA_MALLOC_DEBUG_GUARDED_INTERNAL_H */
