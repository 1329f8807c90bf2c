/*
 * test_stacks.h - a stack depot (format/stack_depot.h) in plain memory for
 * tests that build debug blocks themselves (test_debug_block, the node
 * fixture, the fuzz corpus generator): the hooks a debug_layout needs to
 * turn an owner's frames into a handle and back, as the debug module's
 * stacks.c does, without its per-thread memo or its file.
 *
 * Locking: none; one thread.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_TEST_STACKS_H
#define AREA_MALLOC_TESTS_SUPPORT_TEST_STACKS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/debug_block.h"
#include "format/stack_depot.h"

struct test_stacks {
	struct stack_depot *depot; /* NULL: out of memory */
	size_t bytes;              /* of the region at depot */
	struct debug_stacks hooks;
};

static inline uint32_t test_stacks_handle_of(void *context, const area_malloc_owner *owner)
{
	struct test_stacks *stacks = context;
	const uintptr_t *frames = (const uintptr_t *)owner->frames;
	uint32_t count = owner->frame_count, hash, handle;

	if (stacks->depot == NULL || count == 0 || count > AREA_MALLOC_MAX_FRAMES)
		return 0;
	hash = stack_depot_hash(frames, count);
	handle = stack_depot_find(stacks->depot, frames, count, hash, false);
	if (handle == 0 && stack_depot_append_end(stacks->depot, count, false) != 0)
		handle = stack_depot_append(stacks->depot, frames, count, hash, false, 0);
	if (handle == 0) {
		hash = stack_depot_hash(frames, 1);
		handle = stack_depot_find(stacks->depot, frames, 1, hash, true);
		if (handle == 0 && stack_depot_append_end(stacks->depot, 1, true) != 0)
			handle = stack_depot_append(stacks->depot, frames, 1, hash, true, 0);
	}
	return handle != 0 ? handle : STACK_HANDLE_LOST;
}

static inline bool test_stacks_expand(void *context, uint32_t handle, area_malloc_owner *owner)
{
	struct test_stacks *stacks = context;
	struct stack_depot_view view;

	if (stacks->depot == NULL)
		return false;
	stack_depot_live_view(stacks->depot, &view);
	return stack_depot_expand(&view, handle, owner);
}

/* A depot with room for capacity bytes of records; layout (may be NULL)
 * then keeps its blocks' stacks there. */
static inline void test_stacks_init(struct test_stacks *stacks, uint64_t capacity,
	struct debug_layout *layout)
{
	stacks->bytes = stack_depot_region_bytes(capacity, NULL);
	stacks->depot = calloc(1, stacks->bytes);
	if (stacks->depot != NULL)
		stack_depot_init(stacks->depot, capacity);
	stacks->hooks.handle_of = test_stacks_handle_of;
	stacks->hooks.expand = test_stacks_expand;
	stacks->hooks.context = stacks;
	if (layout != NULL)
		layout->stacks = &stacks->hooks;
}

static inline void test_stacks_free(struct test_stacks *stacks)
{
	free(stacks->depot);
	stacks->depot = NULL;
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_TEST_STACKS_H */
