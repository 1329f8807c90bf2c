/*
 * debug_pool.h - the debug build's pool operations: every call checked,
 * every block tagged with its owner, every event logged, freed blocks
 * poisoned and held in a quarantine, misuse reported and refused.
 *
 * A debug pool is a core pool (pool.h) whose control region holds a struct
 * debug_pool: name, creator, counters, quarantine and the allocation log.
 * Its area reserves room beyond the caller's size for the debug metadata, so
 * a driver that fits its pools in the release build fits them here.
 *
 * Locking: each pool's lock protects its heap, its debug_pool and its
 * blocks. Calls acquire the pool in the registry (in-flight count) before
 * locking it, so a use that races delete_pool is reported, not a crash.
 * Reports are made after the pool lock is released (the report hook may
 * call the module again). Two pools are never locked at once.
 */
#ifndef AREA_MALLOC_DEBUG_POOL_H
#define AREA_MALLOC_DEBUG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drivers/area_malloc_debug.h>

#include "format/options.h"

/* Module-wide setup (options, block layout) at B_MODULE_INIT. */
void debug_pools_init(const struct debug_options *options);
/* At unload, after the pools and the node went: the stack depot goes. */
void debug_pools_fini(void);

/* The module calls; caller is the driver's return address. */
const void *debug_create_pool(uint32 address_spec, size_t size, uint32 lock_spec, uint32 protection,
	uintptr_t caller);
status_t debug_delete_pool(const void *pool_id, uintptr_t caller);
void *debug_malloc(const void *pool_id, size_t size, uintptr_t caller);
void *debug_calloc(const void *pool_id, size_t count, size_t size, uintptr_t caller);
void *debug_realloc(const void *pool_id, void *ptr, size_t size, uintptr_t caller);
void debug_free(const void *pool_id, void *ptr, uintptr_t caller);

/* Companion module calls. */
status_t debug_set_pool_name(const void *pool_id, const char *name);
uint64 debug_mark(void);
status_t debug_report_leaks(const void *pool_id, uint64 mark, const char *when, size_t *bytes,
	size_t *blocks);
int32 debug_check_pool(const void *pool_id);
status_t debug_get_pool_stats(const void *pool_id, area_malloc_pool_stats *stats);

/* Kernel debugger views: print pools (all when area is 0). Returns how many. */
int debug_print_pools(area_id area);
/* Leaks by pool area (0: all) as the "leaks" command reports them. */
int debug_leaks_command(area_id area);
/* check by pool area (0: all); returns problems found, -1 if no such pool. */
int debug_check_command(area_id area);

/* B_MODULE_UNINIT: reports the leaks of every remaining pool, deletes it. */
void debug_delete_all_pools(const char *when);

/* Exit time: leak reports of every pool (blocks this process allocated). */
void debug_report_exit_leaks(void);

/* Exit time, after the leaks of their blocks: a leaked-pool report for
 * each pool this process created and never deleted (pool_leaks.c; the
 * last put_module makes them in debug_delete_all_pools). */
void debug_report_leaked_pools(const char *when);

#endif /* AREA_MALLOC_DEBUG_POOL_H */
