/*
 * pool_log.c - reading a pool's allocation log (see pool_log.h).
 *
 * Locking: the owning pool's lock, or a private copy of the log.
 */
#include "config.h"

#include "format/pool_log.h"

size_t pool_log_bytes(size_t capacity)
{
	return sizeof(struct pool_log) + capacity * sizeof(struct pool_log_event);
}

void pool_log_init(struct pool_log *log, size_t capacity)
{
	log->appended = 0;
	log->capacity = (uint32_t)capacity;
	log->next_slot = 0;
}

bool pool_log_validate(const struct pool_log *log, size_t capacity, const char **why)
{
	if (log->capacity != capacity) {
		*why = "log capacity changed";
		return false;
	}
	if (capacity > 0 && log->next_slot != log->appended % capacity) {
		*why = "log slot cursor differs from appended % capacity";
		return false;
	}
	if (capacity == 0 && (log->appended != 0 || log->next_slot != 0)) {
		*why = "an empty log holds events";
		return false;
	}
	return true;
}

size_t pool_log_newest(const struct pool_log *log, uint32_t capacity, const void *address,
	size_t max, pool_log_visit_fn fn, void *context)
{
	uint64_t held = log->appended < capacity ? log->appended : capacity;
	size_t found = 0;

	for (uint64_t back = 1; back <= held && found < max; back++) {
		const struct pool_log_event *event =
			&log->events[(log->appended - back) % capacity];
		if (address != NULL && event->address != (uint64_t)(uintptr_t)address)
			continue;
		fn(event, context);
		found++;
	}
	return found;
}

const char *pool_log_op_name(uint8_t op)
{
	switch (op) {
	case LOG_MALLOC:
		return "malloc";
	case LOG_CALLOC:
		return "calloc";
	case LOG_REALLOC:
		return "realloc";
	case LOG_FREE:
		return "free";
	case LOG_FAIL:
		return "fail";
	case LOG_ERROR:
		return "error";
	case LOG_QUARANTINE_EXIT:
		return "reuse";
	default:
		return "?";
	}
}
