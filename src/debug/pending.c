/*
 * pending.c - reports found while a pool's lock is held, kept as copies
 * and made after the lock is released.
 *
 * Why: making a report symbolizes (libdw, the loader's locks) and may call
 * the report hook, which may call the module again; neither may happen
 * under a pool's lock. A call collects at most MAX_PENDING reports; the rest
 * are counted and named in one line.
 *
 * Invariants: a pending report's pointers (pool names, owners, detail)
 * point into the same struct pending, never into a pool, so a report stays
 * valid after the pool is unlocked, even deleted.
 *
 * Locking: the setters that read a pool run with that pool's lock held;
 * flush_pending_reports() runs with no pool lock held.
 */
#include "config.h"

#include <string.h>

#include <KernelExport.h>

#include "debug/debug_internal.h"

struct pending *new_pending(struct pending_list *list, enum error_kind kind, const char *what,
	const void *address, const area_malloc_owner *detected)
{
	struct pending *pending;

	if (list->count == MAX_PENDING) {
		list->dropped++;
		return NULL;
	}
	pending = &list->items[list->count++];
	memset(pending, 0, sizeof(*pending));
	pending->report.kind = kind;
	pending->report.what = what;
	pending->report.address = address;
	if (detected != NULL) {
		pending->detected = *detected;
		pending->report.detected_by = &pending->detected;
	}
	return pending;
}

void describe_pool(struct pool *pool, struct report_pool *out, char *name,
	area_malloc_owner *creator)
{
	struct debug_pool *debug = debug_of(pool);

	memcpy(name, debug->d.name, NODE_POOL_NAME_MAX);
	*creator = debug->d.creator;
	out->id = pool->id;
	out->area = pool->area;
	out->name = name;
	out->creator = creator;
}

void pending_set_pool(struct pending *pending, struct pool *pool)
{
	describe_pool(pool, &pending->report.pool, pending->pool_name, &pending->pool_creator);
	pending->report.pool_known = true;
}

void pending_set_owner_pool(struct pending *pending, struct pool *pool)
{
	describe_pool(pool, &pending->report.owner_pool, pending->owner_pool_name,
		&pending->owner_creator);
	pending->report.owner_pool_known = true;
}

void pending_set_block(struct pending *pending, const struct debug_block_header *header,
	bool header_ok)
{
	area_malloc_owner freed_by;

	if (!header_ok)
		return;
	pending->report.size = header->size;
	pending->report.size_known = true;
	debug_block_owner(&debug_layout, header, &pending->allocated);
	pending->report.allocated_by = &pending->allocated;
	if (debug_block_state(header) == BLOCK_QUARANTINED
		&& debug_block_freed_by(&debug_layout, header, &freed_by, NULL)) {
		pending->freed = freed_by;
		pending->report.freed_by = &pending->freed;
	}
}

void pending_set_figures(struct pending *pending, const struct error_figures *figures)
{
	pending->report.offset = (long)figures->offset;
	pending->report.offset_known = figures->offset_known;
	pending->report.overflow_bytes = (size_t)figures->overflow_bytes;
}

void owner_of_log_event(struct pool *pool, const struct pool_log_event *event,
	area_malloc_owner *owner)
{
	*owner = (area_malloc_owner){ 0 };
	owner->thread = (thread_id)event->thread;
	owner->team = debug_of(pool)->d.creator.team; /* the log is the process's */
	owner->sequence = event->sequence;
	owner->time = event->time;
	owner->frames[0] = (uintptr_t)event->caller;
	owner->frame_count = 1;
}

static void collect_log_event(const struct pool_log_event *event, void *context)
{
	struct error_report *report = context;

	report->log[report->log_count++] = *event;
}

void pending_set_log(struct pending *pending, struct pool *pool, const void *address)
{
	pending->report.log_count = 0;
	pool_log_newest(debug_of(pool)->log, (uint32_t)debug_options.log_size, address,
		REPORT_MAX_LOG_EVENTS, collect_log_event, &pending->report);
}

void flush_pending_reports(struct pending_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		struct pending *pending = &list->items[i];
		pending->report.detail = pending->detail[0] != '\0' ? pending->detail : NULL;
		pending->report.pool.name = pending->pool_name;
		pending->report.owner_pool.name = pending->owner_pool_name;
		if (pending->report.victim_allocated_by != NULL)
			pending->report.victim_allocated_by = &pending->victim;
		report_error(&pending->report);
	}
	if (list->dropped > 0)
		dprintf("area_malloc: %zu more problem(s) found in the same call, not reported\n",
			list->dropped);
	list->count = list->dropped = 0;
}
