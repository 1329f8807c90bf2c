/*
 * leak_scan.h - a conservative reachability scan of this process (issue
 * 16, kmemleak's and LeakSanitizer's): which live blocks of the debug pools
 * no root reaches. Roots are the writable segments of every loaded image,
 * every other thread's registers and stack from its stack pointer up, the
 * scanning thread's stack from its entry into the module up, and the
 * process's other writable memory (not the pools' areas: a block is
 * scanned only when something reaches it). A pointer-sized aligned word
 * equal to a block's start (or inside it, with interior) reaches it.
 *
 * The other threads are stopped with LEAK_SCAN_SIGNAL while the roots are
 * read (leak_scan_threads.c); every pool is locked for the whole scan, and
 * a damaged pool is left out (its blocks reach nothing and are reached by
 * nothing; its damage is reported by the check that runs before any
 * report).
 *
 * Locking: leak_scan_run takes the scan's own mutex (one scan at a time),
 * the loader's lock, then every pool's lock in registry order; call it with
 * no pool locked. The result is read without locks.
 */
#ifndef AREA_MALLOC_DEBUG_LEAK_SCAN_H
#define AREA_MALLOC_DEBUG_LEAK_SCAN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <drivers/area_malloc_debug.h>

/* The real-time signal that stops the other threads during a scan
 * (man/area_malloc_debug.7 documents it: a driver must leave it alone). */
#define LEAK_SCAN_SIGNAL (SIGRTMAX - 3)

/* What a scan found of one block. */
enum leak_reach {
	LEAK_REACH_UNKNOWN = 0,  /* not scanned (no scan, or allocated since) */
	LEAK_REACH_REFERENCED,   /* a root reaches it */
	LEAK_REACH_INDIRECT,     /* only unreferenced blocks point to it */
	LEAK_REACH_UNREFERENCED, /* nothing points to it */
};

struct leak_scan;

/*
 * The frame a module entry point passes as floor: its own frame less room
 * for the callee-saved registers its prologue saved (they may hold the
 * driver's pointers); the scanning thread's frames below are not roots.
 * The entry calls __builtin_unwind_init() first, so they are saved.
 */
#define LEAK_SCAN_ENTRY_FLOOR() ((uintptr_t)__builtin_frame_address(0) - 8 * sizeof(void *))

/* Scans the process now (NULL: out of memory). */
struct leak_scan *leak_scan_run(bool interior, uintptr_t floor);

/* What the scan found of the live block at user. */
enum leak_reach leak_scan_reach(const struct leak_scan *scan, const void *user);

/* A line on what the scan could not see (threads not stopped), or NULL. */
const char *leak_scan_note(const struct leak_scan *scan);

void leak_scan_free(struct leak_scan *scan);

/* Totals of the blocks in [low, high) by verdict, and the threads not
 * scanned. */
void leak_scan_count(const struct leak_scan *scan, uintptr_t low, uintptr_t high,
	area_malloc_scan_result *result);

/* A live block (its user address, sequence and time, which tell it from a
 * later block at the same address) is a root of every scan until it is
 * freed; false when too many are marked. */
bool leak_scan_mark_root(const void *user, uint32_t sequence, int64_t time);

/* ---- what the module file calls (leaks.c) ---- */

/* The companion's scan_leaks (floor: LEAK_SCAN_ENTRY_FLOOR() of the entry
 * point); when is "by scan" or, for the debugger, "by scan on request". */
status_t debug_scan_leaks(const void *pool_id, area_malloc_scan_result *result, const char *when,
	uintptr_t floor);
/* The companion's not_leak. */
status_t debug_not_leak(const void *pool_id, const void *address);
/* The scan debugger command: pool area (0: all); prints the totals. */
int debug_scan_command(area_id area, uintptr_t floor);

/* "unreferenced", "indirectly lost", "still referenced", or NULL. Inline:
 * the reporter prints verdicts without linking the scan. */
static inline const char *leak_reach_name(enum leak_reach reach)
{
	return reach == LEAK_REACH_REFERENCED      ? "still referenced"
		: reach == LEAK_REACH_INDIRECT     ? "indirectly lost"
		: reach == LEAK_REACH_UNREFERENCED ? "unreferenced"
						   : NULL;
}

/* The JSON form: "unreferenced", "indirect", "referenced", or NULL. */
static inline const char *leak_reach_key(enum leak_reach reach)
{
	return reach == LEAK_REACH_REFERENCED      ? "referenced"
		: reach == LEAK_REACH_INDIRECT     ? "indirect"
		: reach == LEAK_REACH_UNREFERENCED ? "unreferenced"
						   : NULL;
}

#endif /* AREA_MALLOC_DEBUG_LEAK_SCAN_H */
