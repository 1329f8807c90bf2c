/*
 * node_fixture.h - fabricated debug nodes for the reader's tests and
 * benchmark: a pool is built in anonymous memory exactly as node_format.h
 * lays a pool file out (robust lock, descriptor, log, guard page, heap of
 * debug blocks made with debug_block_init), then written to
 * NODE_DIR/PID/pool-AREA with holes where it is zero; the process file
 * records this program's images, so callers that are addresses in this
 * program are symbolized like a real driver's. Blocks keep their stacks in
 * the node's stack depot (a plain-memory depot, support/test_stacks.h),
 * written to NODE_DIR/PID/stacks with every pool. A fixture_node must not
 * be copied (its layout points at its own depot).
 *
 * Locking: none; one thread builds a node. A fixture pool's memory is the
 * "process" side: its address is the pool's base_address.
 */
#ifndef AREA_MALLOC_TESTS_NODE_FIXTURE_H
#define AREA_MALLOC_TESTS_NODE_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/heap.h"
#include "format/debug_block.h"
#include "format/pool_log.h"
#include "format/node_format.h"
#include "support/test_stacks.h"

struct fixture_node {
	char node_dir[PATH_MAX]; /* NODE_DIR */
	char path[PATH_MAX];     /* NODE_DIR/PID */
	pid_t pid;
	struct debug_layout layout;
	struct test_stacks stacks; /* layout.stacks points here */
	int64_t mark;
	int64_t clock; /* the fake system_time() of block owners */
	char command_line[128];
};

struct fixture_pool {
	struct fixture_node *node;
	int area;
	unsigned char *region; /* the pool's area; base_address = region */
	size_t area_size;
	struct node_pool_descriptor *descriptor; /* in region */
	struct pool_log *log;                    /* in region */
	struct heap *heap;                       /* in region */
	size_t heap_offset;
	uint32_t next_sequence;
};

/* A fresh directory (mode 0700) under TMPDIR or /tmp; removed by fixture_remove_tree. */
void fixture_temp_dir(char *path, size_t size);
void fixture_remove_tree(const char *path);

/* Creates NODE_DIR/PID (0700) and remembers the layout for stack_depth frames. */
void fixture_node_init(struct fixture_node *node, const char *node_dir, pid_t pid,
	const char *command_line, unsigned stack_depth);
/* Writes NODE_DIR/PID/process (0600) with this program's images. */
void fixture_node_write_process(const struct fixture_node *node);
/* Writes NODE_DIR/PID/stacks (0600), the depot as it is (pool writes do). */
void fixture_node_write_stacks(const struct fixture_node *node);
/* Frees the node's depot (not its files). */
void fixture_node_destroy(struct fixture_node *node);

void fixture_pool_init(struct fixture_pool *pool, struct fixture_node *node, int area,
	size_t area_size, unsigned log_capacity, const char *name);
/* A live block of size bytes; its stack: frames[i] = caller + i, stack_depth
 * frames. Returns the user pointer. */
void *fixture_alloc(struct fixture_pool *pool, size_t size, uintptr_t caller, uint32_t thread);
/* Frees a live block into quarantine (state, free record, poison, counters, log). */
void fixture_free(struct fixture_pool *pool, void *user, uintptr_t caller, uint32_t thread);
/* Takes a quarantined block out of quarantine, back to the heap. */
void fixture_release(struct fixture_pool *pool, void *user);
/* Writes the region to NODE_DIR/PID/pool-AREA (0600), zero pages left as
 * holes, and the node's stacks file. */
void fixture_pool_write(const struct fixture_pool *pool);
/* The file's path. */
void fixture_pool_path(const struct fixture_pool *pool, char *path, size_t size);
void fixture_pool_destroy(struct fixture_pool *pool);

/* The offset of an address of the pool in its file. */
size_t fixture_offset_of(const struct fixture_pool *pool, const void *address);

/* A driver program of the build run under the build's debug module, with a
 * node directory of its own. */
struct fixture_driver_run {
	char base[PATH_MAX];          /* a fresh temporary directory */
	char node_dir[PATH_MAX + 16]; /* base/nodes */
	char program[PATH_MAX];
	char module_path[PATH_MAX];
	char options[PATH_MAX * 2]; /* node_dir, then the extra options */
};

/* program: its path in builddir; extra_options (may be NULL) follow node_dir. */
void fixture_driver_run_init(struct fixture_driver_run *run, const char *builddir,
	const char *program, const char *extra_options);
/* In the driver's child, before exec: the module path and the options. */
void fixture_driver_run_environment(const struct fixture_driver_run *run);

#endif /* AREA_MALLOC_TESTS_NODE_FIXTURE_H */
