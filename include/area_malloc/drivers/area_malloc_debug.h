/*
 * area_malloc_debug.h - generic/area_malloc/debug/v1, the debug build's
 * companion module.
 *
 * Only the debug build's module file exports it: with the release module,
 * get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME) returns B_ENTRY_NOT_FOUND, so
 * a driver or a QA test that uses it degrades gracefully. It names pools,
 * marks phases and reports the leaks since a mark, checks pools on demand,
 * reads pool statistics and installs a report callback (what tests use
 * instead of parsing standard error). See area_malloc_debug(7).
 */
#ifndef _AREA_MALLOC_AREA_MALLOC_DEBUG_H
#define _AREA_MALLOC_AREA_MALLOC_DEBUG_H

#include <module.h>

#ifdef __cplusplus
extern "C" {
#endif

#define B_AREA_MALLOC_DEBUG_MODULE_NAME "generic/area_malloc/debug/v1"

#define AREA_MALLOC_MAX_FRAMES 32

/* What one recorded operation knows about its caller. */
typedef struct area_malloc_owner {
	thread_id thread;
	team_id team;
	uint32 sequence; /* per pool */
	uint32 frame_count;
	bigtime_t time;                        /* system_time() */
	addr_t frames[AREA_MALLOC_MAX_FRAMES]; /* frames[0]: the caller */
} area_malloc_owner;

/* A report as the report hook receives it. Pointers live for the call. */
typedef struct area_malloc_report {
	const char *kind;    /* "double-free", "detected memory leaks", ... */
	const void *address; /* the block (user pointer) or the bad pointer */
	size_t size;         /* requested size of the block, when known */
	const void *pool_id; /* the pool of the call */
	area_id pool_area;   /* its area id, as pooldump and "pools" name pools */
	const char *pool_name;
	const void *owner_pool_id; /* cross-pool-free: the pool that owns the block */
	area_id owner_pool_area;
	size_t overflow_bytes; /* heap-buffer-overflow: bytes damaged past the end */
	bool has_allocated_by;
	area_malloc_owner allocated_by;
	bool has_freed_by;
	area_malloc_owner freed_by;
	area_malloc_owner detected_by;
	size_t leaked_bytes; /* leak reports: totals over the report */
	size_t leaked_blocks;
	const char *text; /* the whole report as it would be printed */
	const char *test; /* the Check test the process runs, or NULL */
} area_malloc_report;

/*
 * Called for every report before it is printed. Return true to take it over
 * (it is then neither printed nor counted for the exit status), false to
 * let it go on as usual.
 */
typedef bool (*area_malloc_report_hook)(const area_malloc_report *report, void *cookie);

typedef struct area_malloc_pool_stats {
	area_id area;
	size_t size;      /* create_pool's size */
	size_t area_size; /* the area, debug reserve included */
	size_t used;      /* bytes requested by live blocks */
	size_t peak;      /* high-water mark of used */
	size_t live_blocks;
	size_t quarantined_bytes;
	size_t quarantined_blocks;
	uint64 allocations;
	uint64 frees;
	uint64 failed_requests;
	uint64 injected_failures;
	uint64 errors; /* reports about this pool */
} area_malloc_pool_stats;

typedef struct area_malloc_debug_module_info {
	module_info minfo;

	/* Names a pool in reports and dumps (copied; at most 31 characters). */
	status_t (*set_pool_name)(const void *pool_id, const char *name);

	/* Marks a phase: blocks allocated from now on are "since" this mark. */
	uint64 (*mark)(void);

	/*
	 * Reports the live blocks of one pool (NULL: every pool) allocated since
	 * mark (0: all), as a leak report; the totals go to *bytes and *blocks
	 * (either may be NULL). Returns B_OK, or B_BAD_VALUE for a bad pool id.
	 */
	status_t (*report_leaks)(const void *pool_id, uint64 mark, size_t *bytes, size_t *blocks);

	/*
	 * Checks one pool (NULL: every pool) now: every block's header and
	 * canaries, every quarantined block's poison and the heap's invariants.
	 * Each problem is reported; returns how many were found (>= 0), or
	 * B_BAD_VALUE for a bad pool id.
	 */
	int32 (*check_pool)(const void *pool_id);

	status_t (*get_pool_stats)(const void *pool_id, area_malloc_pool_stats *stats);

	/* Installs the report hook (NULL removes it); returns the previous one. */
	area_malloc_report_hook (*set_report_hook)(area_malloc_report_hook hook, void *cookie);

	/* Errors and unsuppressed leaks reported so far (what the exit status uses). */
	uint64 (*error_count)(void);
} area_malloc_debug_module_info;

/*
 * generic/area_malloc/debug/v2: v1's functions (same layout, as its first
 * member) and the reachability scan of issue 16 (kmemleak's, in process).
 * The same image exports both; a driver that needs only v1 keeps asking
 * for v1.
 */
#define B_AREA_MALLOC_DEBUG_V2_MODULE_NAME "generic/area_malloc/debug/v2"

/* What a scan found, in bytes (requested sizes) and blocks. */
typedef struct area_malloc_scan_result {
	size_t unreferenced_bytes; /* no pointer to them was found */
	size_t unreferenced_blocks;
	size_t indirect_bytes; /* only lost blocks point to them */
	size_t indirect_blocks;
	size_t referenced_bytes; /* a root reaches them */
	size_t referenced_blocks;
	size_t unscanned_threads; /* threads that did not stop (stacks read whole) */
} area_malloc_scan_result;

typedef struct area_malloc_debug_module_info_v2 {
	area_malloc_debug_module_info v1; /* minfo.name is the v2 name */

	/*
	 * Scans the process now (the other threads are stopped meanwhile, see
	 * area_malloc_debug(7), REACHABILITY SCAN) and reports the unreferenced
	 * and indirectly lost blocks of one pool (NULL: every pool) as leak
	 * reports "found by scan", grouped by site; fills *result (may be
	 * NULL) for that pool or all. Returns B_OK, B_BAD_VALUE for a bad pool
	 * id, B_NO_MEMORY when the scan could not get its memory.
	 */
	status_t (*scan_leaks)(const void *pool_id, area_malloc_scan_result *result);

	/*
	 * kmemleak_not_leak(): the live block at address (of pool) is a root
	 * from now on until it is freed: it and what it reaches are never
	 * unreferenced. Returns B_OK, B_BAD_VALUE when address is not a live
	 * block of the pool, B_NO_MEMORY when too many blocks are marked.
	 */
	status_t (*not_leak)(const void *pool_id, const void *address);
} area_malloc_debug_module_info_v2;

/*
 * generic/area_malloc/debug/v3: v2's functions (same layout, as its first
 * member) and per-pool control of guarded blocks (issue 15; see
 * area_malloc_debug(7), GUARD PAGES). Same image as v1 and v2.
 */
#define B_AREA_MALLOC_DEBUG_V3_MODULE_NAME "generic/area_malloc/debug/v3"

/* Which blocks of a pool are guarded (set_pool_guard). */
enum {
	B_AREA_MALLOC_GUARD_DEFAULT = 0, /* as the guard options say */
	B_AREA_MALLOC_GUARD_NONE = 1,    /* none */
	B_AREA_MALLOC_GUARD_ALL = 2,     /* every block */
	B_AREA_MALLOC_GUARD_SAMPLE = 3,  /* one allocation in sample_rate */
};

typedef struct area_malloc_debug_module_info_v3 {
	area_malloc_debug_module_info_v2 v2; /* v2.v1.minfo.name is the v3 name */

	/*
	 * Chooses the guarded blocks of the pool's allocations from now on:
	 * mode is one of B_AREA_MALLOC_GUARD_*; sample_rate (N: one in N,
	 * at least 1) is read for B_AREA_MALLOC_GUARD_SAMPLE only. Returns
	 * B_OK, B_BAD_VALUE for a bad pool id, mode or rate, B_NOT_ALLOWED
	 * when the pool has no guard region (guards are off: no guard option
	 * was given when it was created, or the process runs under Valgrind).
	 */
	status_t (*set_pool_guard)(const void *pool_id, uint32 mode, uint32 sample_rate);
} area_malloc_debug_module_info_v3;

#ifdef __cplusplus
}
#endif

#endif /* _AREA_MALLOC_AREA_MALLOC_DEBUG_H */
