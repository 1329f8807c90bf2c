/*
 * node_pool_walk.c - a pool copy's heap seen as debug blocks: counted once
 * at load (count_chunk), walked for the commands (node_pool_walk; with the
 * guarded blocks, node_pool_walk_blocks) and checked block by block
 * (node_block_check, node_block_freed_by).
 *
 * Invariants: a block's fields past its header are used only when the
 * header is sound (header_ok: checksum and fields, against the chunk that
 * holds it); the free record of a quarantined block lies in the user area,
 * which header_ok bounds. The walks stop at the first damaged chunk header
 * (heap_walk_image): the blocks past it are not seen (node_pool.heap_problem
 * says so).
 *
 * Locking: none; the copy is private.
 */
#include "config.h"

#include <string.h>

#include "core/heap.h"
#include "node/node_reader_internal.h"

void count_chunk(const void *payload, uintptr_t payload_address, size_t usable, bool used,
	void *context)
{
	struct node_pool *pool = context;
	const struct debug_block_header *header = payload;

	pool->walked_to = payload_address + usable;
	if (!used) {
		pool->free_chunks++;
		pool->free_chunk_bytes += usable + HEAP_BLOCK_OVERHEAD;
		if (usable > pool->largest_free)
			pool->largest_free = usable;
		return;
	}
	pool->used_chunks++;
	pool->used_chunk_bytes += usable + HEAP_BLOCK_OVERHEAD;
	if (!debug_block_header_ok_at(&pool->node->layout, header, usable, payload_address)) {
		pool->damaged_blocks++;
	} else if (debug_block_state(header) == BLOCK_LIVE) {
		pool->live_blocks++;
		pool->live_bytes += header->size;
	} else {
		pool->quarantined_blocks++;
		pool->quarantined_bytes += usable + HEAP_BLOCK_OVERHEAD;
	}
}

struct block_walk {
	const struct node_pool *pool;
	node_block_fn fn;
	void *context;
};

static void visit_chunk(const void *payload, uintptr_t payload_address, size_t usable, bool used,
	void *context)
{
	struct block_walk *walk = context;
	const struct debug_layout *layout = &walk->pool->node->layout;
	const struct debug_block_header *header = payload;
	struct node_block block;

	if (!used)
		return;
	memset(&block, 0, sizeof(block));
	block.chunk_address = payload_address;
	block.address = payload_address + layout->front_size;
	block.usable = usable;
	block.header = header;
	block.header_ok = debug_block_header_ok_at(layout, header, usable, payload_address);
	if (block.header_ok) {
		block.state = debug_block_state(header);
		block.size = header->size;
		block.thread = debug_block_thread(header);
		block.team = header->team;
		block.sequence = header->sequence;
		block.time = header->time;
		node_block_stack(walk->pool->node, &block, header->stack);
	} else {
		node_block_stack(walk->pool->node, &block, 0);
	}
	walk->fn(walk->pool, &block, walk->context);
}

void node_pool_walk(const struct node_pool *pool, node_block_fn fn, void *context)
{
	struct block_walk walk = { pool, fn, context };

	heap_walk_image(pool->image + pool->descriptor.heap_offset, pool->descriptor.heap_bytes,
		(uintptr_t)(pool->descriptor.base_address + pool->descriptor.heap_offset),
		visit_chunk, &walk, NULL);
}

bool node_pool_walk_blocks(const struct node_pool *pool, node_block_fn fn, void *context)
{
	bool guarded = node_pool_walk_guarded(pool, fn, context);

	node_pool_walk(pool, fn, context);
	return guarded;
}

struct debug_block_finding node_block_check(const struct node_pool *pool,
	const struct node_block *block)
{
	return debug_block_check_at(&pool->node->layout, block->header, block->usable,
		(uintptr_t)block->chunk_address);
}

bool node_block_freed_by(const struct node_pool *pool, const struct node_block *block,
	area_malloc_owner *freed_by)
{
	if (block->guard_slot != NULL)
		return node_guarded_freed_by(pool, block, freed_by);
	/* the free record lies in the user area, which header_ok bounds */
	if (!block->header_ok || block->state != BLOCK_QUARANTINED)
		return false;
	return debug_block_freed_by_at(&pool->node->layout, block->header,
		(uintptr_t)block->chunk_address, freed_by, NULL);
}
