/*
 * node_reader_internal.h - what the files of the node reader share (the
 * public interface is node_reader.h).
 *
 * Role
 *   The reader is one concern a file:
 *     node_files.c       the checked open and the reads every node file
 *                        goes through; errors; the pause between retries
 *     node_dir.c         the node directory, the process file and its image
 *                        records, opening and closing a process node
 *     node_symbolize.c   callers named from the node's image records,
 *                        cached per address
 *     node_pool_file.c   a pool file and its descriptor: finding it,
 *                        checking it against the file, reading it alone
 *     node_pool_copy.c   copying a pool under the seqlock protocol, the
 *                        quiet window, loading a pool from its copy
 *     node_pool_walk.c   a copy's heap as debug blocks: counted at load,
 *                        walked and checked for the commands
 *     node_stacks.c      the node's stack depot, copied; block and free
 *                        record stack handles resolved against it
 *     node_interrupted.c a dead pool caught in the middle of an operation:
 *                        its in-flight record, and what that explains
 *     node_guarded.c     the guard table: its counters, its guarded blocks
 *                        as blocks, their canaries
 *
 * Invariants (node_reader.h states the rules): no byte of a node file is
 * used before the check that bounds it; every read of file data goes
 * through pread_full into memory of our own; the only mapping of a node
 * file is the page of a live pool's lock, held for one copy
 * (node_pool_copy.c). Strings from files are NUL-terminated (terminate)
 * here and escaped by whoever prints them.
 *
 * Locking: none; a node belongs to the thread that opened it.
 */
#ifndef AREA_MALLOC_NODE_READER_INTERNAL_H
#define AREA_MALLOC_NODE_READER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "node/node_reader.h"

#ifndef NODE_HIDDEN
/* Internal to the library, and to the debug module that links it. */
#define NODE_HIDDEN __attribute__((visibility("hidden")))
#endif

/* Lock-free reads of a descriptor, and copies of a pool, before giving up. */
#define DEFAULT_TRIES 8

/* An entry of a node's symbol cache (node_symbolize.c); node_close frees it. */
struct node_symbol {
	uintptr_t address;
	char *text;
	char *function;
	const char *json; /* symbol_format_json's members, in text's allocation */
};

/* ---- node_files.c ---- */

NODE_HIDDEN void set_error(struct node_error *error, enum node_status status, const char *format,
	...) __attribute__((format(printf, 3, 4)));
/* Before retry number attempt of a read that met a change under way. */
NODE_HIDDEN void pause_before_retry(unsigned attempt);
/* Reads exactly bytes at offset; false on error or end of file (errno 0). */
NODE_HIDDEN bool pread_full(int fd, void *buffer, size_t bytes, uint64_t offset);
/* Why the last failed pread_full failed. */
NODE_HIDDEN const char *read_failure(void);
/* Opens name in dir_fd, refusing anything but a regular file of owner, one
 * link, nothing for group or others; -1 with error set otherwise. */
NODE_HIDDEN int open_checked_file(int dir_fd, const char *name, int flags, uid_t owner,
	struct stat *status, struct node_error *error);
/* NUL-terminates a fixed-size string read from a file. */
NODE_HIDDEN void terminate(char *text, size_t size);

/* ---- node_pool_file.c ---- */

NODE_HIDDEN int open_pool_file(struct node *node, int area, int flags, struct stat *status,
	struct node_error *error);
/* Everything a reader relies on in a descriptor, against the file it came from. */
NODE_HIDDEN bool descriptor_sound(const struct node_pool_descriptor *d, uint64_t file_bytes,
	int area, uint64_t found_at, char *why, size_t size);
/* Where the pool file's descriptor lies (its control_offset). */
NODE_HIDDEN enum node_status locate_descriptor(struct node *node, int area, int fd,
	uint64_t file_bytes, uint64_t *offset, struct node_error *error);
NODE_HIDDEN bool read_seq(int fd, uint64_t control_offset, uint64_t *seq);

/* ---- node_stacks.c ---- */

/* Reads the depot (first call), or what was appended since (a live node);
 * a problem is one warning and no stacks. Points node->layout.stacks at
 * the copy. */
NODE_HIDDEN void node_stacks_refresh(struct node *node);
NODE_HIDDEN void node_stacks_free(struct node *node);
/* A block's stack from its handle: frames, count, truncated. */
NODE_HIDDEN void node_block_stack(const struct node *node, struct node_block *block,
	uint32_t handle);

/* ---- node_interrupted.c ---- */

/* Reads the copy's in-flight record into pool->interrupted (at load, after
 * descriptor_sound); warns about what it refuses. */
NODE_HIDDEN void node_interrupted_read(struct node_pool *pool);

/* ---- node_guarded.c ---- */

/* The guard table's counters at offset (0: none) in a pool file of
 * file_bytes, read from fd; false when the read failed (counts->problem
 * says what is wrong with a table that was read). */
NODE_HIDDEN bool node_guard_counts_read(int fd, uint64_t offset, uint64_t file_bytes,
	struct node_guard_counts *counts);
/* At load: pool->guard_counts and the guarded counts from the copy's table;
 * warns about a damaged table. */
NODE_HIDDEN void node_guarded_count(struct node_pool *pool);
NODE_HIDDEN bool node_guarded_freed_by(const struct node_pool *pool, const struct node_block *block,
	area_malloc_owner *freed_by);

/* ---- node_pool_walk.c ---- */

/* heap_walk_image's callback for node_pool_load: the pool's chunk and block counts. */
NODE_HIDDEN void count_chunk(const void *payload, uintptr_t payload_address, size_t usable,
	bool used, void *context);

#endif /* AREA_MALLOC_NODE_READER_INTERNAL_H */
