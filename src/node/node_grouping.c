/*
 * node_grouping.c - blocks grouped by site (one or more frames), for
 * allocations_per_caller (the caller) and leaks (the whole stack).
 *
 * Role: an open-addressing hash table of groups keyed by their frames, so
 * a pool of a million blocks is summarised in well under a second and each
 * distinct site is symbolized once, when it is printed.
 *
 * Invariants: a group's frames are keys[key_start, key_start + key_count),
 * at least one (a zero frame for blocks whose stack is unknown);
 * slots hold group index + 1 (0: empty) and are at most half full. Sorting
 * moves the groups, so it drops the slots: no lookup after group_table_sort.
 * Out of memory, a block is not counted and failed is set (the commands
 * report it).
 *
 * Locking: none; a table belongs to one command's run.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "node/node_commands_internal.h"

static uint64_t hash_frames(const uintptr_t *frames, uint32_t count)
{
	uint64_t hash = 1469598103934665603ull;

	for (uint32_t i = 0; i < count; i++)
		hash = (hash ^ frames[i]) * 1099511628211ull;
	return hash ^ (hash >> 31);
}

static bool group_table_grow_slots(struct group_table *table)
{
	size_t capacity = table->slot_capacity ? table->slot_capacity * 2 : 1024;
	size_t *slots = calloc(capacity, sizeof(*slots));

	if (slots == NULL)
		return false;
	for (size_t g = 0; g < table->count; g++) {
		size_t slot = table->groups[g].hash & (capacity - 1);
		while (slots[slot] != 0)
			slot = (slot + 1) & (capacity - 1);
		slots[slot] = g + 1;
	}
	free(table->slots);
	table->slots = slots;
	table->slot_capacity = capacity;
	return true;
}

static struct group *group_add(struct group_table *table, const uintptr_t *frames, uint32_t count)
{
	static const uintptr_t unknown[1] = { 0 };
	uint64_t hash;
	struct group *group;
	size_t slot;

	/* blocks whose stack is unknown (a damaged or missing depot) form one
	 * group keyed by a zero frame: every group has a first frame */
	if (count == 0) {
		frames = unknown;
		count = 1;
	}
	hash = hash_frames(frames, count);

	if (table->count * 2 >= table->slot_capacity && !group_table_grow_slots(table))
		goto fail;
	for (slot = hash & (table->slot_capacity - 1); table->slots[slot] != 0;
		slot = (slot + 1) & (table->slot_capacity - 1)) {
		group = &table->groups[table->slots[slot] - 1];
		if (group->hash == hash && group->key_count == count
			&& memcmp(&table->keys[group->key_start], frames, count * sizeof(*frames))
				== 0)
			return group;
	}
	if (table->count == table->capacity) {
		size_t capacity = table->capacity ? table->capacity * 2 : 256;
		struct group *groups = realloc(table->groups, capacity * sizeof(*groups));
		if (groups == NULL)
			goto fail;
		table->groups = groups;
		table->capacity = capacity;
	}
	if (table->key_count + count > table->key_capacity) {
		size_t capacity = (table->key_capacity ? table->key_capacity * 2 : 1024) + count;
		uintptr_t *keys = realloc(table->keys, capacity * sizeof(*keys));
		if (keys == NULL)
			goto fail;
		table->keys = keys;
		table->key_capacity = capacity;
	}
	group = &table->groups[table->count];
	memset(group, 0, sizeof(*group));
	group->hash = hash;
	group->key_start = table->key_count;
	group->key_count = count;
	group->first_frame = count > 0 ? frames[0] : 0;
	memcpy(&table->keys[table->key_count], frames, count * sizeof(*frames));
	table->key_count += count;
	table->slots[slot] = ++table->count;
	return group;
fail:
	table->failed = true;
	return NULL;
}

void group_count_block(struct group_table *table, const struct node_block *block,
	uint32_t key_frames)
{
	struct group *group = group_add(table, block->frames, key_frames);

	if (group == NULL)
		return;
	if (group->count == 0 || block->sequence < group->first_sequence) {
		group->first_address = block->address;
		group->first_sequence = block->sequence;
		group->first_thread = block->thread;
		group->first_team = block->team;
		group->first_time = block->time;
	}
	group->count++;
	group->bytes += block->size;
}

void group_table_free(struct group_table *table)
{
	free(table->groups);
	free(table->keys);
	free(table->slots);
	memset(table, 0, sizeof(*table));
}

const uintptr_t *group_key(const struct group_table *table, const struct group *group)
{
	return &table->keys[group->key_start];
}

/* Largest first; equal totals by caller address, then age: the order is total. */
static int compare_groups_by_bytes(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->first_frame != y->first_frame)
		return x->first_frame > y->first_frame ? 1 : -1;
	return (x->first_sequence > y->first_sequence) - (x->first_sequence < y->first_sequence);
}

static int compare_groups_by_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return compare_groups_by_bytes(a, b);
}

void group_table_sort(struct group_table *table, bool by_count)
{
	if (table->count > 1)
		qsort(table->groups, table->count, sizeof(*table->groups),
			by_count ? compare_groups_by_count : compare_groups_by_bytes);
	free(table->slots); /* indices are stale once sorted */
	table->slots = NULL;
	table->slot_capacity = 0;
}
