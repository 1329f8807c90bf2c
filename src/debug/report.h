/*
 * report.h - the debug build's error and leak reports.
 *
 * Every report goes first to the report hook (the companion module's
 * callback), which may take it over; otherwise it is printed in ASan's
 * shape, which CI log scrapers already read:
 *
 *   ==PID==ERROR: area_malloc: KIND ...
 *   ... owner frames, pool, pool log ...
 *   SUMMARY: area_malloc: KIND ...
 *
 * to standard error or to log_path.PID (coloured as ASan's on a terminal,
 * option color; never in files or in the hook's text), followed by one JSON
 * object when report_format=json (valid UTF-8 whatever the bytes of names and
 * symbols). Identical error reports (the same kind and the same frames of
 * every site recorded: the detecting call, the allocation, the free) are
 * printed once and counted; after max_reports only counts are kept; both
 * counts are printed by reporter_print_totals(). Errors and unsuppressed
 * leaks that the hook did not take make the process exit with 'exitcode'.
 *
 * Locking: reporter_lock serialises formatting, printing and the counters;
 * it is taken with no pool lock held (a pool operation collects its reports
 * as copies and makes them after it released the pool: debug/pending.c).
 * The hook runs with the reporter lock released. The whole order:
 * docs/ARCHITECTURE.md.
 */
#ifndef AREA_MALLOC_DEBUG_REPORT_H
#define AREA_MALLOC_DEBUG_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <drivers/area_malloc_debug.h>

#include "debug/leak_scan.h"
#include "format/error_kind.h"
#include "format/frame_cfi.h"
#include "format/options.h"
#include "format/pool_log.h"

#define REPORT_MAX_LOG_EVENTS 8

/* The pool a report is about, as reports name it. */
struct report_pool {
	const void *id;
	area_id area;
	const char *name; /* "" when unnamed */
	const area_malloc_owner *creator;
};

struct error_report {
	enum error_kind kind;
	const char *what; /* "free", "realloc", "malloc", "delete_pool", "check" */
	const void *address;
	size_t size; /* requested size of the block; 0 if unknown */
	bool size_known;
	struct report_pool pool; /* the pool of the call (id only when invalid) */
	bool pool_known;
	struct report_pool owner_pool; /* cross-pool-free: the pool that owns it */
	bool owner_pool_known;
	size_t overflow_bytes;
	long offset; /* first damaged byte relative to the block */
	bool offset_known;
	const char *detail; /* one more sentence, or NULL */
	const area_malloc_owner *detected_by;
	const area_malloc_owner *allocated_by; /* NULL when unknown */
	const area_malloc_owner *freed_by;
	/* a far overflow: the block the write landed in (its header or leading
	 * canary), besides the block it came from */
	const void *victim_address; /* NULL: none */
	size_t victim_size;
	bool victim_size_known;
	const area_malloc_owner *victim_allocated_by; /* NULL when unknown */
	struct pool_log_event log[REPORT_MAX_LOG_EVENTS];
	size_t log_count;
};

struct leak_group {
	size_t bytes;
	size_t count;
	area_malloc_owner owner; /* of the first block (frames identify the group) */
	const void *first_address;
	enum leak_reach reach; /* the exit-time scan's verdict (leak_scan.h);
					 * LEAK_REACH_UNKNOWN: no scan */
};

struct leak_report {
	enum error_kind kind; /* ERROR_LEAK, or ERROR_LEAKED_POOL: one group,
					 * the pool itself (pool_leaks.c) */
	struct report_pool pool;
	const char *when;          /* "at delete_pool", "at unload", "at exit", "on request" */
	struct leak_group *groups; /* sorted by bytes, largest first, by the caller */
	size_t group_count;
	bool counts;        /* toward the exit status (not for a look from
					 * the kernel debugger) */
	const char *detail; /* one more line after "found WHEN", or NULL */
};

void reporter_init(const struct debug_options *options);
void reporter_fini(void);
/* Frees the symbolizer (libdw's tables) once the exit-time reports are
 * made: a process that exits with the module held would otherwise leave
 * them to a leak checker, which counts libdw's search trees (tagged
 * pointers) as possibly lost. A later report opens it again. */
void reporter_close_symbolizer(void);

void report_error(const struct error_report *report);

/* Applies suppressions, prints, counts (report_leaks.c): a report whose
 * every group is suppressed is its "Suppressions used" table alone, made
 * for no hook and counted for no exit status. Returns the unsuppressed
 * bytes. */
size_t report_leaks(const struct leak_report *report, size_t *unsuppressed_blocks);

/* Prints how many reports were not printed (duplicates, max_reports). */
void reporter_print_totals(void);

area_malloc_report_hook reporter_set_hook(area_malloc_report_hook hook, void *cookie);
uint64_t reporter_error_count(void);

/* Formats one owner frame as "function+0xoff (image) file:line". */
const char *reporter_symbolize(uintptr_t address, char *buffer, size_t size);

/* Matches a caller's function name against a pattern (fail_caller). */
bool reporter_caller_matches(uintptr_t caller, const char *pattern);

/* One step of an unwind by the tables over a copy of a stack
 * (frame_cfi_step, format/frame_cfi.h); takes the reporter's lock, so never
 * with a pool's lock held. */
bool reporter_unwind_step(struct frame_cfi_registers *registers, bool faulting,
	frame_cfi_read_word *read_word, void *context);

#endif /* AREA_MALLOC_DEBUG_REPORT_H */
