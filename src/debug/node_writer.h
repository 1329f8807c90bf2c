/*
 * node_writer.h - the debug module's side of the debug node (node_format.h):
 * the node directory and process file of this process, and the files that
 * back its pools.
 *
 * Lifetime: started at B_MODULE_INIT; stopped (node removed) at the last
 * put_module and at normal exit; a crash leaves the node for a post-mortem.
 * At start-up, dead nodes of the user beyond keep_dead_nodes are removed,
 * oldest first. Anything that cannot be done (directory refused, tmpfs
 * full) costs one warning and the node: the allocator keeps working.
 *
 * Descriptors: the node keeps four open whatever the number of pools (its
 * root and directory, the process file, which carries the liveness lock,
 * and the stack depot's file); a pool file is open only while it is made
 * and for each step of file space reserved (node_reserve), and in a forked
 * child while its pools are copied. A descriptor that cannot be had
 * (EMFILE, ENFILE) costs a new pool its node file (it falls back to a
 * private area, with the one warning), and a reservation its descriptor
 * (the space is reserved through the pool's mapping instead).
 *
 * Locking: writer_lock protects the writer's state and the process file.
 * Pool files are written only by their pool's operations (pool lock), the
 * stacks file only under the depot's lock (debug/stacks.c).
 */
#ifndef AREA_MALLOC_DEBUG_NODE_WRITER_H
#define AREA_MALLOC_DEBUG_NODE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <OS.h>

#include "format/debug_block.h"
#include "format/options.h"

/* Publishes this process's node; false (after one warning) when there is none. */
bool node_writer_start(const struct debug_options *options, const struct debug_layout *layout);

/* Removes this process's node (normal exit, unload). At exit
 * (process_ends) the descriptors stay open: other threads may still reserve
 * file space through the directory's, and a closed number could be reused
 * for something else before the process is gone. */
void node_writer_stop(bool process_ends);

bool node_writer_active(void);

/*
 * Creates the file that will back a new pool of area_bytes, with space
 * reserved for [0, reserve_to) but the hole [hole_from, hole_to) (the guard
 * region: guarded.h), and the last page (heap_init writes there); all of it
 * when reserve_all (locked pools). Returns the file descriptor, or
 * -1 (after one warning per process) when the pool must do without a node.
 * The file has a temporary name until node_pool_file_publish(), which
 * names it after the area and closes fd (the mapping stays).
 */
int node_pool_file_create(size_t area_bytes, size_t reserve_to, uint64_t hole_from,
	uint64_t hole_to, bool reserve_all);
void node_pool_file_publish(int fd, area_id area);
/* The file did not become a pool (the area could not be created); closes fd. */
void node_pool_file_discard(int fd);
/* delete_pool: the file goes away with the pool. */
void node_pool_file_remove(area_id area);

/* A pool's file, opened read-only (-1 with errno when it cannot be): this
 * process's, for one look at which of its pages hold memory (lseek
 * SEEK_DATA; no lock taken, so it may be called under a pool's lock, as
 * node_reserve_pages); or, with parents, in a forked child until
 * node_writer_fork_done(), the parent's. */
int node_pool_file_open_readable(area_id area, bool parents);
void node_writer_fork_done(void);

/*
 * Creates NODE_DIR/PID/stacks, the stack depot's file (debug/stacks.c), of
 * bytes with [0, reserve_to) reserved; -1 when there is no node or it
 * cannot be made (then one warning per process, shared with pool files).
 * node_stacks_file_remove undoes it.
 */
int node_stacks_file_create(uint64_t bytes, uint64_t reserve_to);
void node_stacks_file_remove(int fd);

/* fallocate of [offset, offset + length) of a node file, EINTR retried;
 * false when the space is not there. */
bool node_reserve_range(int fd, uint64_t offset, uint64_t length);

/* Sorted, disjoint address ranges [start, end) (images' code). */
struct pc_range {
	uintptr_t start, end;
};
/* The index of the range holding pc, or count. */
size_t pc_range_index(const struct pc_range *ranges, size_t count, uintptr_t pc);

/* Reserves the pages spanning [offset, offset + length) of the file of
 * the pool at base (area): through the file, else the mapping (node_reserve
 * says how). A guarded block's pages, which no reservation covers ahead. */
bool node_reserve_pages(void *base, area_id area, uint64_t offset, uint64_t length);

/*
 * Makes sure [0, upto) of the file of the pool mapped at base has disk
 * (tmpfs) space, reserving in steps so that later allocations rarely need a
 * call; *reserved_end is the pool's record of what is reserved. false when
 * the space is not there (ENOSPC): the caller must not touch memory at or
 * above *reserved_end.
 */
bool node_reserve(void *base, area_id area, uint64_t *reserved_end, uint64_t upto,
	uint64_t file_size);

struct node_quiet_window;
/*
 * A reader asked for a quiet window (quiet->requested moved past *served):
 * grants it and waits, holding the pool's lock with seq even, until the
 * reader says its copy is over or budget_us have passed (node_format.h,
 * "Consistency"): the budget the driver set (reader_wait_us), never the
 * copy in the file, which a reader could rewrite. Each request is served
 * once.
 */
void node_writer_hold_still(struct node_quiet_window *quiet, uint32_t *served, uint32_t budget_us);

/* The companion module's mark, recorded for "leaks" in pooldump. */
void node_writer_set_mark(int64_t mark);

/* An owner frame seen: refreshes the image table when it lies outside
 * every image known so far (a library loaded since). */
void node_writer_note_caller(uintptr_t pc);

/* In a forked child: this node is the parent's; forget it (or, with
 * fork_nodes=1, start the child's own). */
void node_writer_forked_child(void);

#endif /* AREA_MALLOC_DEBUG_NODE_WRITER_H */
