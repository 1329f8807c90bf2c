/*
 * node_guarded.c - a pool copy's guarded blocks (format/guard_table.h): the
 * side table in the copy's control region, read without trusting it, so
 * that "pool ID" shows which blocks are guarded, for a live process and a
 * dead one alike (the table is in the pool's file; the guarded pages are
 * never needed).
 *
 * Invariants: every offset and count is checked against the copy before
 * it is used; a slot whose block lies outside the guard region, or whose
 * state is unknown, is counted as damaged and not shown.
 *
 * Locking: none; the copy is private.
 */
#include "config.h"

#include <string.h>

#include <OS.h>

#include "format/guard_table.h"
#include "node/node_reader_internal.h"

/* The table in the copy, or NULL (*problem: why, or NULL when the pool
 * simply has none). */
static const struct guard_table *table_in_copy(const struct node_pool *pool, const char **problem)
{
	uint64_t offset = pool->descriptor.guard_table_offset;
	const struct guard_table *table;

	*problem = NULL;
	if (offset == 0 || pool->image == NULL)
		return NULL;
	if (offset % 8 != 0 || offset > pool->image_bytes
		|| pool->image_bytes - offset < sizeof(*table)) {
		*problem = "the guard table's offset lies outside the pool";
		return NULL;
	}
	table = (const struct guard_table *)(pool->image + offset);
	if (table->magic != GUARD_TABLE_MAGIC) {
		*problem = "the guard table's magic is wrong";
		return NULL;
	}
	if (table->slots > GUARD_TABLE_MAX_SLOTS || table->pages > GUARD_TABLE_MAX_PAGES
		|| table->slot_offset % 8 != 0 || table->slot_offset < sizeof(*table)
		|| table->slot_offset > pool->image_bytes - offset
		|| (pool->image_bytes - offset - table->slot_offset) / sizeof(struct guard_slot)
			< table->slots
		|| table->region_offset > pool->image_bytes
		|| (pool->image_bytes - table->region_offset) / B_PAGE_SIZE < table->pages) {
		*problem = "the guard table's geometry does not fit the pool";
		return NULL;
	}
	return table;
}

static void owner_of_tag(const struct node_pool *pool, const struct guard_tag *tag,
	area_malloc_owner *owner)
{
	const struct debug_stacks *stacks = pool->node->layout.stacks;

	memset(owner, 0, sizeof(*owner));
	owner->thread = (thread_id)tag->thread;
	owner->team = tag->team;
	owner->sequence = tag->sequence;
	owner->time = tag->time;
	if (tag->stack != 0 && stacks != NULL && stacks->expand != NULL
		&& !stacks->expand(stacks->context, tag->stack, owner))
		owner->frame_count = 0;
}

const char *node_pool_guarded_walk(const struct node_pool *pool, node_guarded_fn fn,
	void *context, size_t *damaged)
{
	const char *problem;
	const struct guard_table *table = table_in_copy(pool, &problem);
	const struct guard_slot *slots;
	uint64_t region, region_end;

	*damaged = 0;
	if (table == NULL)
		return problem;
	slots = (const struct guard_slot *)((const unsigned char *)table + table->slot_offset);
	region = pool->descriptor.base_address + table->region_offset;
	region_end = region + (uint64_t)table->pages * B_PAGE_SIZE;
	for (uint32_t i = 0; i < table->slots; i++) {
		struct guard_slot slot;
		struct node_guarded_block block;
		memcpy(&slot, &slots[i], sizeof(slot));
		if (slot.state == GUARD_SLOT_FREE)
			continue;
		if ((slot.state != GUARD_SLOT_LIVE && slot.state != GUARD_SLOT_QUARANTINED)
			|| slot.user < region || slot.user >= region_end
			|| slot.size > region_end - slot.user) {
			(*damaged)++;
			continue;
		}
		memset(&block, 0, sizeof(block));
		block.address = slot.user;
		block.size = slot.size;
		block.freed = slot.state == GUARD_SLOT_QUARANTINED;
		block.underflow = slot.underflow != 0;
		owner_of_tag(pool, &slot.allocated, &block.allocated);
		if (block.freed)
			owner_of_tag(pool, &slot.freed, &block.freed_by);
		fn(pool, &block, context);
	}
	return NULL;
}
