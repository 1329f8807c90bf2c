/*
 * pool_log.h - a pool's allocation log: a ring of its last N events.
 *
 * Every malloc, calloc, realloc, free, injected failure and error of a
 * pool is appended, with op, address, size, thread, caller, time and the
 * pool's sequence number. The ring lives in the pool's own area (its
 * control region), so a dump of the pool's memory holds its history.
 *
 * Invariants: 'appended' counts every event ever appended; the newest
 * event is at (appended - 1) % capacity; the ring holds the last
 * min(appended, capacity) events; next_slot == appended % capacity
 * (pool_log_validate). Readers need only appended and capacity.
 *
 * Locking: the owning pool's lock.
 */
#ifndef AREA_MALLOC_FORMAT_POOL_LOG_H
#define AREA_MALLOC_FORMAT_POOL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pool_log_op {
	LOG_MALLOC = 1,
	LOG_CALLOC,
	LOG_REALLOC, /* address: new block; size: new size */
	LOG_FREE,
	LOG_FAIL,            /* an allocation returned NULL (no room, or injected) */
	LOG_ERROR,           /* a report about this address */
	LOG_QUARANTINE_EXIT, /* a freed block really returned to the heap */
};

struct pool_log_event {
	uint64_t address;
	uint64_t size;
	uint64_t caller;
	int64_t time;
	uint32_t sequence;
	uint32_t thread;
	uint8_t op;
	uint8_t pad[7];
};

struct pool_log {
	uint64_t appended;
	uint32_t capacity;
	/* appended % capacity, kept so that appending divides nothing: a
	 * 64-bit division cost more than the rest of an append (two per
	 * malloc/free pair in the debug build's profile) */
	uint32_t next_slot;
	struct pool_log_event events[];
};

size_t pool_log_bytes(size_t capacity);
void pool_log_init(struct pool_log *log, size_t capacity);

/* Checks the invariants above; false with *why set when one fails. */
bool pool_log_validate(const struct pool_log *log, size_t capacity, const char **why);

/*
 * Appends an event. capacity is the one the log was created with, never
 * the log's own field: the log lives in the pool's area, within a driver's
 * reach, and a wild write there must not turn into a write outside the
 * ring.
 */
static inline void pool_log_append(struct pool_log *log, uint32_t capacity, enum pool_log_op op,
	const void *address, size_t size, uint64_t caller, int64_t time, uint32_t sequence,
	uint32_t thread)
{
	struct pool_log_event *event;
	uint32_t slot = log->next_slot;

	if (capacity == 0)
		return;
	if (__builtin_expect(slot >= capacity, 0))
		slot = (uint32_t)(log->appended % capacity);
	event = &log->events[slot];
	log->next_slot = slot + 1 == capacity ? 0 : slot + 1;
	log->appended++;
	event->address = (uint64_t)(uintptr_t)address;
	event->size = size;
	event->caller = caller;
	event->time = time;
	event->sequence = sequence;
	event->thread = thread;
	event->op = (uint8_t)op;
}

/* Events in the log, newest first: calls fn for at most max of them that
 * concern address (address NULL: every event). capacity: the log's, as its
 * creator knows it (the writer), or log->capacity once a reader checked it
 * against the log's region. Returns how many. */
typedef void (*pool_log_visit_fn)(const struct pool_log_event *event, void *context);
size_t pool_log_newest(const struct pool_log *log, uint32_t capacity, const void *address,
	size_t max, pool_log_visit_fn fn, void *context);

const char *pool_log_op_name(uint8_t op);

#endif /* AREA_MALLOC_FORMAT_POOL_LOG_H */
