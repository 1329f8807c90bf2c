/*
 * node_guarded.c - a pool's guarded blocks (format/guard_table.h): the side
 * table in the pool's control region, read without trusting it. Its
 * counters are read with the descriptor (node_pool_read_descriptor: the
 * "pools" listing), its slots from a pool copy: counted at load, shown by
 * "pool ID", and walked as blocks (node_pool_walk_guarded) by the commands
 * that list, group and check live blocks, so that a guarded block is
 * listed, leaks and is counted as a heap block is.
 *
 * Post mortem: everything but the canaries comes from the table (address,
 * size, state, owners and their stacks), which is in the pool's file, so a
 * dead process's guarded blocks are listed, and its live ones reported as
 * leaks, as its heap blocks are; the guarded pages are not needed for that.
 * Only check reads a live block's canaries from the copy (its data pages
 * are accessible in the process, so they are in the file); a freed block's
 * pages are never read.
 *
 * Invariants: every offset and count is checked against the copy (or the
 * file) before it is used; a slot is used only when its state is known and
 * its pages, block and size lie inside the guard region as placement puts
 * them (slot_sound); any other is counted as damaged and not shown. No
 * address the table holds is followed: a block's address is only compared
 * and translated into the copy after those checks.
 *
 * Locking: none; the copy is private.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <OS.h>

#include "format/guard_table.h"
#include "node/node_reader_internal.h"

/* The table's header is sound for a pool of image_bytes at offset (its
 * counters are data: not checked against anything here). */
static const char *header_problem(const struct guard_table *table, uint64_t offset,
	uint64_t image_bytes)
{
	if (table->magic != GUARD_TABLE_MAGIC)
		return "the guard table's magic is wrong";
	if (table->slots > GUARD_TABLE_MAX_SLOTS || table->pages > GUARD_TABLE_MAX_PAGES
		|| table->slot_offset % 8 != 0 || table->slot_offset < sizeof(*table)
		|| table->slot_offset > image_bytes - offset
		|| (image_bytes - offset - table->slot_offset) / sizeof(struct guard_slot)
			< table->slots
		|| table->region_offset % B_PAGE_SIZE != 0 || table->region_offset > image_bytes
		|| (image_bytes - table->region_offset) / B_PAGE_SIZE < table->pages)
		return "the guard table's geometry does not fit the pool";
	return NULL;
}

/* Where a table of sizeof(struct guard_table) may lie in bytes: NULL, or
 * why not. */
static const char *offset_problem(uint64_t offset, uint64_t bytes)
{
	if (offset % 8 != 0 || offset > bytes || bytes - offset < sizeof(struct guard_table))
		return "the guard table's offset lies outside the pool";
	return NULL;
}

/* The table in the copy, or NULL (*problem: why, or NULL when the pool
 * simply has none). */
static const struct guard_table *table_in_copy(const struct node_pool *pool, const char **problem)
{
	uint64_t offset = pool->descriptor.guard_table_offset;
	const struct guard_table *table;

	*problem = NULL;
	if (offset == 0 || pool->image == NULL)
		return NULL;
	*problem = offset_problem(offset, pool->image_bytes);
	if (*problem != NULL)
		return NULL;
	table = (const struct guard_table *)(pool->image + offset);
	*problem = header_problem(table, offset, pool->image_bytes);
	return *problem == NULL ? table : NULL;
}

bool node_guard_counts_read(int fd, uint64_t offset, uint64_t file_bytes,
	struct node_guard_counts *counts)
{
	struct guard_table table;

	memset(counts, 0, sizeof(*counts));
	if (offset == 0)
		return true;
	counts->problem = offset_problem(offset, file_bytes);
	if (counts->problem != NULL)
		return true;
	if (!pread_full(fd, &table, sizeof(table), offset))
		return false;
	counts->problem = header_problem(&table, offset, file_bytes);
	if (counts->problem != NULL)
		return true;
	counts->present = true;
	counts->live_blocks = table.live_blocks;
	counts->quarantined_blocks = table.quarantined_blocks;
	counts->live_bytes = table.live_bytes;
	return true;
}

static uint64_t rounded(uint64_t size)
{
	return ((size != 0 ? size : 1) + 15) & ~(uint64_t)15;
}

/* A sound slot's block in the copy's terms. */
struct slot_place {
	uint64_t data_start, data_end; /* its data pages, addresses in the process */
};

/* Whether the slot (a copy) is one placement could have made: a known
 * state, its pages (data pages and the guard page) inside the region, its
 * block inside its data pages where the mode puts it. */
static bool slot_sound(const struct guard_table *table, uint64_t region,
	const struct guard_slot *slot, struct slot_place *place)
{
	uint64_t first = slot->first_page, pages = slot->data_pages;

	if (slot->state != GUARD_SLOT_LIVE && slot->state != GUARD_SLOT_QUARANTINED)
		return false;
	if (pages == 0 || first + pages + 1 > table->pages || slot->size > pages * B_PAGE_SIZE
		|| rounded(slot->size) > pages * B_PAGE_SIZE)
		return false;
	place->data_start = region + (first + (slot->underflow ? 1 : 0)) * B_PAGE_SIZE;
	place->data_end = place->data_start + pages * B_PAGE_SIZE;
	if (slot->underflow)
		return slot->user == place->data_start;
	return slot->user == place->data_end - rounded(slot->size);
}

/* The sound slots of the copy's table, in slot order: fn for each; the
 * unsound ones counted in *damaged. Returns what is wrong with the table
 * (then no slot is visited), or NULL. */
typedef void (*slot_fn)(const struct node_pool *pool, const struct guard_slot *slot,
	const struct slot_place *place, void *context);

static const char *for_each_slot(const struct node_pool *pool, slot_fn fn, void *context,
	size_t *damaged)
{
	const char *problem;
	const struct guard_table *table = table_in_copy(pool, &problem);
	const struct guard_slot *slots;
	uint64_t region;

	*damaged = 0;
	if (table == NULL)
		return problem;
	slots = (const struct guard_slot *)((const unsigned char *)table + table->slot_offset);
	region = pool->descriptor.base_address + table->region_offset;
	for (uint32_t i = 0; i < table->slots; i++) {
		struct slot_place place;
		if (slots[i].state == GUARD_SLOT_FREE)
			continue;
		if (!slot_sound(table, region, &slots[i], &place)) {
			(*damaged)++;
			continue;
		}
		fn(pool, &slots[i], &place, context);
	}
	return NULL;
}

/* ---- counted at load ---- */

static void count_slot(const struct node_pool *pool, const struct guard_slot *slot,
	const struct slot_place *place, void *context)
{
	struct node_pool *counted = context;

	(void)pool;
	(void)place;
	if (slot->state == GUARD_SLOT_LIVE) {
		counted->guarded_live++;
		counted->guarded_live_bytes += slot->size;
	} else {
		counted->guarded_freed++;
	}
}

void node_guarded_count(struct node_pool *pool)
{
	const char *problem;
	const struct guard_table *table = table_in_copy(pool, &problem);

	memset(&pool->guard_counts, 0, sizeof(pool->guard_counts));
	pool->guard_counts.problem = problem;
	if (table != NULL) {
		pool->guard_counts.present = true;
		pool->guard_counts.live_blocks = table->live_blocks;
		pool->guard_counts.quarantined_blocks = table->quarantined_blocks;
		pool->guard_counts.live_bytes = table->live_bytes;
	}
	pool->guard_problem = for_each_slot(pool, count_slot, pool, &pool->guarded_damaged);
	if (pool->guard_problem != NULL)
		node_warn(pool->node, "pool %d: %s; its guarded blocks are not shown", pool->area,
			pool->guard_problem);
	else if (pool->guarded_damaged > 0)
		node_warn(pool->node, "pool %d: %zu damaged slot(s) in its guard table (see check)",
			pool->area, pool->guarded_damaged);
}

/* ---- "pool ID"'s lines ---- */

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

struct guarded_visit {
	node_guarded_fn fn;
	void *context;
};

static void visit_guarded(const struct node_pool *pool, const struct guard_slot *slot,
	const struct slot_place *place, void *context)
{
	struct guarded_visit *visit = context;
	struct node_guarded_block block;

	(void)place;
	memset(&block, 0, sizeof(block));
	block.address = slot->user;
	block.size = slot->size;
	block.freed = slot->state == GUARD_SLOT_QUARANTINED;
	block.underflow = slot->underflow != 0;
	owner_of_tag(pool, &slot->allocated, &block.allocated);
	if (block.freed)
		owner_of_tag(pool, &slot->freed, &block.freed_by);
	visit->fn(pool, &block, visit->context);
}

const char *node_pool_guarded_walk(const struct node_pool *pool, node_guarded_fn fn, void *context,
	size_t *damaged)
{
	struct guarded_visit visit = { fn, context };

	return for_each_slot(pool, visit_guarded, &visit, damaged);
}

/* ---- as blocks, for the listings, leaks and check ---- */

struct slot_list {
	const struct guard_slot **slots;
	size_t count;
};

static void list_slot(const struct node_pool *pool, const struct guard_slot *slot,
	const struct slot_place *place, void *context)
{
	struct slot_list *list = context;

	(void)pool;
	(void)place;
	list->slots[list->count++] = slot;
}

static int compare_slot_addresses(const void *a, const void *b)
{
	const struct guard_slot *x = *(const struct guard_slot *const *)a;
	const struct guard_slot *y = *(const struct guard_slot *const *)b;

	return (x->user > y->user) - (x->user < y->user);
}

static void block_of_slot(const struct node_pool *pool, const struct guard_slot *slot,
	struct node_block *block)
{
	memset(block, 0, sizeof(*block));
	block->address = slot->user;
	block->chunk_address = slot->user;
	block->usable = rounded(slot->size);
	block->header_ok = true;
	block->state = slot->state == GUARD_SLOT_LIVE ? BLOCK_LIVE : BLOCK_QUARANTINED;
	block->size = slot->size;
	block->thread = slot->allocated.thread;
	block->team = slot->allocated.team;
	block->sequence = slot->allocated.sequence;
	block->time = slot->allocated.time;
	block->guard_slot = slot;
	node_block_stack(pool->node, block, slot->allocated.stack);
}

bool node_pool_walk_guarded(const struct node_pool *pool, node_block_fn fn, void *context)
{
	const char *problem;
	const struct guard_table *table = table_in_copy(pool, &problem);
	struct slot_list list = { NULL, 0 };
	size_t damaged;

	if (table == NULL || pool->guarded_live + pool->guarded_freed == 0)
		return true;
	list.slots = calloc(pool->guarded_live + pool->guarded_freed, sizeof(*list.slots));
	if (list.slots == NULL)
		return false;
	for_each_slot(pool, list_slot, &list, &damaged);
	/* the table's order is the slots'; the listings are in address order */
	qsort(list.slots, list.count, sizeof(*list.slots), compare_slot_addresses);
	for (size_t i = 0; i < list.count; i++) {
		struct node_block block;
		block_of_slot(pool, list.slots[i], &block);
		fn(pool, &block, context);
	}
	free(list.slots);
	return true;
}

/* The first byte of [start, end) of the copy that is not the canary, or end. */
static uint64_t first_damaged(const unsigned char *copy, uint64_t start, uint64_t end)
{
	for (uint64_t at = start; at < end; at++)
		if (copy[at] != DEBUG_FILL_CANARY)
			return at;
	return end;
}

static uint64_t last_damaged(const unsigned char *copy, uint64_t start, uint64_t end)
{
	for (uint64_t at = end; at > start; at--)
		if (copy[at - 1] != DEBUG_FILL_CANARY)
			return at - 1;
	return end;
}

size_t node_guarded_check(const struct node_pool *pool, const struct node_block *block,
	struct debug_block_finding findings[2])
{
	const struct guard_slot *slot = block->guard_slot;
	const char *problem;
	const struct guard_table *table = table_in_copy(pool, &problem);
	uint64_t base = pool->descriptor.base_address, user, end, below, above;
	struct slot_place place;
	size_t count = 0;

	/* a slot node_pool_walk_guarded gave, checked again: the offsets into
	 * the copy below rest on it */
	if (table == NULL || slot == NULL || slot->state != GUARD_SLOT_LIVE
		|| !slot_sound(table, base + table->region_offset, slot, &place))
		return 0;
	/* offsets in the copy: the region lies inside it (header_problem) */
	user = slot->user - base;
	end = user + rounded(slot->size);
	below = first_damaged(pool->image, place.data_start - base, user);
	above = last_damaged(pool->image, user + slot->size, end);
	if (below != user)
		findings[count++] =
			(struct debug_block_finding){ BLOCK_UNDERFLOW, user - below, 0 };
	if (above != end)
		findings[count++] = (struct debug_block_finding){ BLOCK_OVERFLOW,
			first_damaged(pool->image, user + slot->size, end) - user,
			above + 1 - (user + slot->size) };
	return count;
}

bool node_guarded_freed_by(const struct node_pool *pool, const struct node_block *block,
	area_malloc_owner *freed_by)
{
	if (block->guard_slot == NULL || block->state != BLOCK_QUARANTINED)
		return false;
	owner_of_tag(pool, &block->guard_slot->freed, freed_by);
	return true;
}
