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
#include "kernel/guard_fault.h"

enum slot_state {
	SLOT_FREE = 0,
	SLOT_LIVE,
	SLOT_QUARANTINED,
};

/* An owner tag as a block header keeps it: the stack is a depot handle. */
struct guarded_tag {
	uint32_t thread;
	int32_t team;
	uint32_t sequence;
	uint32_t stack;
	int64_t time;
};

struct guarded_slot {
	uint32_t state;		/* enum slot_state; atomic for the fault callback */
	uint32_t first_page;	/* the slot's first page (a guard page in underflow mode) */
	uint32_t data_pages;	/* its data pages; one guard page besides */
	uint32_t next;		/* the quarantine's next slot + 1 (0: none) */
	uint64_t user;
	uint64_t size;
	uint8_t underflow;	/* placed in underflow mode */
	uint8_t exposed;	/* a fault made one of its pages accessible */
	struct guarded_tag allocated, freed;
};

/* The side table, in the pool's control region, the region after it. */
struct guarded_pool {
	uintptr_t region;	/* page aligned */
	uint32_t pages, slots;
	uint32_t quarantine_head, quarantine_tail; /* slot + 1 (0: empty) */
	uint32_t live, quarantined;
	uint64_t live_bytes;
	uint32_t next_fit;	/* where the search for pages begins */
	uint32_t mode;		/* B_AREA_MALLOC_GUARD_* (set_pool_guard) */
	uint32_t sample_rate;	/* for B_AREA_MALLOC_GUARD_SAMPLE */
	struct pool *pool;
	struct guarded_slot *slot;	/* [slots] */
	uint16_t *page_owner;		/* [pages]: slot + 1, 0 for none */
};


static inline struct guarded_pool *table_of(struct pool *pool)
{
	return debug_of(pool)->guarded;
}

/* The slot of a page, or NULL (atomic loads: the fault callback reads it
 * without the pool's lock). */
static inline struct guarded_slot *slot_of_page(struct guarded_pool *table, size_t page)
{
	uint16_t owner;

	if (page >= table->pages)
		return NULL;
	owner = __atomic_load_n(&table->page_owner[page], __ATOMIC_ACQUIRE);
	return owner == 0 || owner > table->slots ? NULL : &table->slot[owner - 1];
}

/* The owner an owner tag names, its stack expanded from the depot. */
void guarded_owner_of_tag(const struct guarded_tag *tag, area_malloc_owner *owner)
	GUARDED_HIDDEN;

/* The callback guarded_pool_init registers for a pool's region (cookie:
 * its struct guarded_pool); async-signal-safe. */
enum kernel_guard_verdict guarded_fault_callback(const struct kernel_guard_fault *fault,
	void *cookie) GUARDED_HIDDEN;

#endif /* AREA_MALLOC_DEBUG_GUARDED_INTERNAL_H */
