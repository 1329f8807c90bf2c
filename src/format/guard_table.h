/*
 * guard_table.h - the side table of a pool's guarded blocks (issue 15,
 * src/debug/guarded.h), as readers of the pool's file find it: at
 * descriptor.guard_table_offset from the area's base (0: the pool has
 * none), in the pool's control region, before its guard region.
 *
 *   | struct guard_table | slots[slots] | page_owner[pages] (uint16) | ...
 *   guard region: pages pages at region_offset, page aligned
 *
 * A slot is FREE, LIVE or QUARANTINED (freed, its pages inaccessible in
 * the process). A LIVE or QUARANTINED slot's block lies at user (an
 * address in the process, inside the region), size bytes requested; its
 * owner tags name stacks by their depot handle (stack_depot.h). Readers
 * of the file never need the region's pages: everything a report says
 * about a guarded block is in the table (a dead process's pages of freed
 * blocks were inaccessible, but the file holds them as they were).
 *
 * The header's counters are the LIVE slots (and their requested bytes) and
 * the QUARANTINED ones: what pooldump's "pools" shows without copying the
 * pool, and what its "check" compares with the slots it finds.
 *
 * Invariants (writer): magic, slots, pages and the offsets never change
 * after the pool is created; a slot's fields and the counters change under
 * the pool's lock (seq odd), a slot's state last (so a reader of a torn
 * copy sees the old state or the new one, with seq telling which, as for
 * every part of the pool); the counters agree with the slots whenever seq
 * is even.
 *
 * Locking: none here; see node_format.h, "Consistency".
 */
#ifndef AREA_MALLOC_FORMAT_GUARD_TABLE_H
#define AREA_MALLOC_FORMAT_GUARD_TABLE_H

#include <stdint.h>

#define GUARD_TABLE_MAGIC 0x31445247u /* "GRD1" */
/* bounds a reader checks (the guard_pool_max option's range, 4 pages a slot) */
#define GUARD_TABLE_MAX_SLOTS 16384
#define GUARD_TABLE_MAX_PAGES (4 * GUARD_TABLE_MAX_SLOTS)

enum guard_slot_state {
	GUARD_SLOT_FREE = 0,
	GUARD_SLOT_LIVE,
	GUARD_SLOT_QUARANTINED,
};

/* An owner tag as a block header keeps it: the stack is a depot handle. */
struct guard_tag {
	uint32_t thread;
	int32_t team;
	uint32_t sequence;
	uint32_t stack;
	int64_t time;
};

struct guard_slot {
	uint32_t state;      /* enum guard_slot_state */
	uint32_t first_page; /* the slot's first page (a guard page in underflow mode) */
	uint32_t data_pages; /* its data pages; one guard page besides */
	uint32_t next;       /* the quarantine's next slot + 1 (0: none) */
	uint64_t user;
	uint64_t size;
	uint8_t underflow; /* placed in underflow mode */
	uint8_t exposed;   /* a fault made one of its pages accessible */
	uint8_t reserved[6];
	struct guard_tag allocated, freed;
};

struct guard_table {
	uint32_t magic;
	uint32_t slots;
	uint32_t pages;
	uint32_t slot_offset;        /* from the table */
	uint64_t page_owner_offset;  /* from the table */
	uint64_t region_offset;      /* from the area's base */
	uint32_t live_blocks;        /* LIVE slots */
	uint32_t quarantined_blocks; /* QUARANTINED slots */
	uint64_t live_bytes;         /* their requested bytes */
};

#endif /* AREA_MALLOC_FORMAT_GUARD_TABLE_H */
