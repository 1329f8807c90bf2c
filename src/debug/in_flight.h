/*
 * in_flight.h - the pool's in-flight record: what the thread holding a
 * pool's lock is doing, kept in the pool's node descriptor
 * (format/node_format.h, "In flight") so that a post-mortem reader of a
 * process killed in the middle of an operation can tell the damage that
 * operation explains (a half-written header, a half-poisoned block, a
 * counter not yet updated) from damage the driver did.
 *
 * Why here, and this cheaply: every malloc, calloc, realloc and free of the
 * debug build passes through it, so each step is a few plain stores into
 * the descriptor (hot already: seq and the counters share it), no syscall,
 * no lock, no atomic instruction. The order of those stores against the
 * pool's changes is all that matters (a SIGKILL stops the thread between
 * two instructions; every store it retired is in the shared file), so
 * compiler barriers (atomic_signal_fence) keep a range's stores ahead of
 * the changes it covers.
 *
 * Invariants: the record is written only under the pool's lock, while seq
 * is odd (D5); the operation is set before the call's first change to the
 * heap, the blocks or the counters, and every range before the first write
 * into the chunk it names; a range being replaced has its end set to 0
 * first (never a mix of two ranges that spans the blocks between them); the
 * record is cleared, operation first, before debug_unlock makes seq even.
 * heap_change_note (core/heap.h) points at NODE_RANGE_TAKEN from
 * in_flight_begin to in_flight_end, and at nothing otherwise.
 *
 * The record lies in the descriptor, in the control region ahead of the
 * guard page and the heap: no overflow of a driver's block reaches it.
 *
 * Locking: the pool's lock, held by the caller.
 */
#ifndef AREA_MALLOC_DEBUG_IN_FLIGHT_H
#define AREA_MALLOC_DEBUG_IN_FLIGHT_H

#include <stdint.h>
#include <string.h>

#include "core/heap.h"
#include "format/node_format.h"

/* The calling thread's id, cached (owner.c). */
uint32_t owner_thread(void) __attribute__((visibility("hidden")));

/* Keeps the record's stores on the side of the pool's changes they were
 * written on (the compiler's order; the CPU retires stores in order for a
 * thread that is killed, and a dead process leaves what it retired). */
static inline void in_flight_barrier(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The operation the lock holder starts, before its first change. */
static inline void in_flight_begin(struct node_in_flight *record, enum node_operation operation)
{
	record->thread = owner_thread();
	record->step = NODE_STEP_CALL;
	heap_change_note = record->ranges[NODE_RANGE_TAKEN];
	in_flight_barrier();
	record->operation = operation;
	in_flight_barrier();
}

/* The chunk at slot: [start, end) in the process, from its header on. */
static inline void in_flight_range(struct node_in_flight *record, enum node_range_slot slot,
	enum node_step step, uintptr_t start, uintptr_t end)
{
	record->ranges[slot][1] = 0;
	in_flight_barrier();
	record->step = step;
	record->ranges[slot][0] = start;
	record->ranges[slot][1] = end;
	in_flight_barrier();
}

/* The chunk of the block at header (a heap payload of usable bytes). */
static inline void in_flight_block(struct node_in_flight *record, enum node_range_slot slot,
	enum node_step step, const void *header, size_t usable)
{
	uintptr_t payload = (uintptr_t)header;

	in_flight_range(record, slot, step, payload - HEAP_BLOCK_OVERHEAD, payload + usable);
}

/* A quarantine step is over: the call goes on with its own blocks. */
static inline void in_flight_step_done(struct node_in_flight *record)
{
	in_flight_barrier();
	record->step = NODE_STEP_CALL;
}

/* At the lock's release: nothing is in flight any more. */
static inline void in_flight_end(struct node_in_flight *record)
{
	if (record->operation == NODE_OP_NONE)
		return;
	in_flight_barrier();
	record->operation = NODE_OP_NONE;
	in_flight_barrier();
	memset(record->ranges, 0, sizeof(record->ranges));
	heap_change_note = NULL;
}

#endif /* AREA_MALLOC_DEBUG_IN_FLIGHT_H */
