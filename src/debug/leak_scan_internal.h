/*
 * leak_scan_internal.h - what the files of the in-process scan share:
 *   leak_scan.c          the scan as a whole: pools locked, blocks listed,
 *                        the other threads stopped, roots scanned, result
 *   leak_scan_threads.c  stopping and resuming the other threads (signals)
 *   leak_scan_roots.c    the roots: images' writable segments, the
 *                        process's writable mappings, stacks from their sp
 *   leak_scan_engine.c   the classification itself (leak_scan_engine.h)
 * Nothing else includes it; the interface is leak_scan.h.
 *
 * Locking: everything here runs on the scanning thread, with the scan's
 * mutex held (one scan at a time), and between world_stop and
 * world_resume calls nothing that may take a lock (no malloc, no stdio,
 * no libdw, no pthread mutex): only system calls and atomics.
 */
#ifndef AREA_MALLOC_DEBUG_LEAK_SCAN_INTERNAL_H
#define AREA_MALLOC_DEBUG_LEAK_SCAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/leak_scan_engine.h"

/* Threads a scan stops; more are reported as not scanned. */
#define WORLD_MAX_THREADS 512
/* General registers saved per thread (x86-64 has 23, arm64 33). */
#define WORLD_MAX_REGS 34
/* Not-scanned threads a scan names (the rest are counted). */
#define WORLD_MAX_NAMED 16

/*
 * A range the roots pass must not scan (a pool's area, the scan's own
 * memory, a segment already scanned), kept sorted by start.
 */
struct scan_range {
	uintptr_t start;
	uintptr_t end;
};

struct stopped_thread {
	pid_t tid;
	uintptr_t sp;
	uintptr_t regs[WORLD_MAX_REGS];
	uint32_t reg_count;
};

struct stopped_world {
	const struct stopped_thread *threads; /* the stopped ones */
	size_t count;
	/* threads that did not answer in time (or past WORLD_MAX_THREADS) */
	size_t unstopped;
	pid_t unstopped_tids[WORLD_MAX_NAMED];
	/* the driver installed its own handler for the signal: nobody stopped */
	bool signal_taken;
};

/* Stops every other thread of the process (leak_scan_threads.c). */
void world_stop(struct stopped_world *world);
/* Resumes them; every path that stopped them calls it. */
void world_resume(struct stopped_world *world);
/* The memory the stop keeps registers in: no root (the registers of the
 * stopped threads are scanned from world->threads, and a late answer to
 * an old scan must not look like a pointer). Fills at most 2 ranges. */
size_t world_own_memory(struct scan_range *ranges);

struct scan_roots {
	struct scan_range *holes;
	size_t hole_count;
	size_t hole_capacity;
	/* stack floors: in the mapping that holds one, only the bytes from
	 * the lowest floor up are roots (a thread's sp, the scanner's entry) */
	uintptr_t floors[WORLD_MAX_THREADS + 1];
	size_t floor_count;
	char *text; /* room to read /proc/self/maps through */
	size_t text_size;
	unsigned char *residency; /* mincore's vector */
	size_t residency_pages;
	size_t mappings_scanned;
	bool maps_unreadable;
};

/* Adds a hole (ignored when there is no more room: then it is scanned). */
void roots_add_hole(struct scan_roots *roots, uintptr_t start, uintptr_t end);
/* The writable PT_LOAD segments of every loaded image: scanned, and made
 * holes for the mappings pass. Takes the loader's lock: call it before the
 * other threads are stopped, or with that lock held (it is recursive). */
void roots_scan_images(struct scan_roots *roots, struct scan_engine *engine);
/* Every readable, writable, populated mapping outside the holes. */
void roots_scan_mappings(struct scan_roots *roots, struct scan_engine *engine);

#endif /* AREA_MALLOC_DEBUG_LEAK_SCAN_INTERNAL_H */
