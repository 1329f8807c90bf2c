/*
 * node_format.h - the debug node: what a process running the debug module
 * publishes under NODE_DIR/PID/ so that pooldump can read its pools, live
 * or after the process died. This header is the contract between the
 * writer (the debug module, src/debug/node_writer.c) and every reader
 * (src/node/node_reader.h, pooldump); change it only with the version.
 *
 *   NODE_DIR/                  option node_dir, default /dev/shm/area_malloc-UID, mode 0700
 *                              ($XDG_RUNTIME_DIR/area_malloc when the default is refused)
 *   NODE_DIR/PID/              one process, mode 0700
 *   NODE_DIR/PID/process       struct node_process_file + image records, mode 0600;
 *                              the process holds an open-file-description write lock
 *                              (F_OFD_SETLK) on its first byte while it lives
 *   NODE_DIR/PID/pool-AREA     one pool: the pool's area itself, mapped MAP_SHARED by
 *                              the process at node_pool_descriptor.base_address
 *   NODE_DIR/PID/stacks        the process's stack depot (format/stack_depot.h), mapped
 *                              MAP_SHARED in a mapping of its own; blocks, free records
 *                              and log events name their stacks by handles into it
 *
 * A pool file is laid out as the area:
 *
 *   0                 struct pool (core) with the pool's lock (a pthread mutex at
 *                     descriptor.lock_offset, private to the process: no reader takes it)
 *   control_offset    struct node_pool_descriptor, then the debug build's private state,
 *                     then the pool log (struct pool_log at descriptor.log_offset)
 *   guard_offset      one page mapped PROT_NONE in the process (still a page of the file)
 *   heap_offset       the heap: struct heap, then the blocks (heap_walk_image)
 *
 * Blocks are debug blocks (src/format/debug_block.h) with the layout and key
 * recorded in the process file. The stacks file is appended to (never
 * rewritten) under the depot's lock: a reader reads its header, then the
 * records below its used marks, and resolves the handles it found in a pool
 * copy made before (a handle is published before any block holds it).
 *
 * Versions: 3 keeps stacks in the depot (32-byte block headers with a stack
 * handle, free records with one) and each pool's in-flight record in its
 * descriptor; 2 kept stack_depth frames in every block
 * header and one frame in each free record. Readers refuse other versions
 * with one error that names the version. All integers are the writer's native byte
 * order (readers check the magic, which is byte-order sensitive).
 *
 * What a node file says is data, never control: a reader takes no lock
 * that lies in a node file, follows no pointer kept there, opens no path
 * named there without checking what it opens, and maps no node file
 * writable. The driver never waits for a reader beyond a bound it set.
 *
 * Consistency: the writer bumps descriptor.seq to an odd value before it
 * changes anything in the pool file and to the next even value after, all
 * under the pool's lock. A reader reads seq, copies the file (pread,
 * skipping holes), reads seq again, and retries while it was odd or moved.
 * A pool that changes all the time may never give it a whole copy; then a
 * reader of its own user's node may ask for a quiet window
 * (descriptor.quiet): it bumps quiet.requested with pwrite (a same-user
 * reader only: it needs write access to the file, and it never maps it);
 * the next pool call, holding the pool's lock with seq even, sets
 * quiet.granted to that request and waits until quiet.finished reaches it
 * or its budget has passed (option reader_wait_us, kept in its own memory;
 * quiet.budget_us shows it to readers; 0: it grants none), then goes on. A request is served once: a reader
 * stopped or killed in its window costs one pool call the budget, once.
 * The reader copies while granted names its request, writes quiet.finished
 * and checks seq as for any copy. When every copy failed, the reader uses
 * the last one and must say so ("changing too fast: partial view"); its
 * findings are then not verified.
 *
 * In flight (descriptor.in_flight): a pool's operations run under its lock,
 * so at most one is in flight per pool, and seq is odd exactly while it
 * runs. The lock holder records what it is doing before its first change
 * to the pool's heap or counters: the operation, its thread, and the
 * chunks it is about to change, each as [start, end) addresses in the
 * process from the chunk's header (heap.h) to its end, 0/0 when unused:
 *   NODE_RANGE_BLOCK   the call's own block (free, realloc)
 *   NODE_RANGE_OTHER   a second chunk the call changes: the quarantine's
 *                      tail whose link a free sets, or the free chunk above
 *                      that a realloc grows into
 *   NODE_RANGE_LEAVING the block leaving the quarantine for the heap (a
 *                      drain, inside free, malloc, realloc or delete_pool),
 *                      with the free chunk above it merges with
 *   NODE_RANGE_TAKEN   the chunk the heap takes for an allocation, written
 *                      by the heap itself before it changes the chunk
 *                      (heap_change_note, core/heap.h)
 * A range is rewritten (end first set to 0) before each step that changes
 * other chunks; step says which step that is (back to NODE_STEP_CALL when
 * a quarantine step is over). The record is cleared
 * (operation first) before seq becomes even again. A reader of a dead
 * process whose copy has an odd seq knows from it which findings the
 * interrupted operation explains (src/node/node_interrupted.c); every
 * field is untrusted data there (unknown codes, ranges outside the heap).
 */
#ifndef AREA_MALLOC_FORMAT_NODE_FORMAT_H
#define AREA_MALLOC_FORMAT_NODE_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include <drivers/area_malloc_debug.h>

#include "format/symbolize.h"

#define NODE_FORMAT_VERSION 3
#define NODE_PROCESS_MAGIC "AMPROC01" /* 8 bytes, no NUL */
#define NODE_POOL_MAGIC "AMPOOL01"
#define NODE_PROCESS_FILE "process"
/* A node whose process file nobody has locked yet, but whose process runs,
 * may still be being created: cleaners (the module's, pooldump --clean)
 * leave it alone for this long after its last change. */
#define YOUNG_NODE_SECONDS 10
#define NODE_POOL_FILE_PREFIX "pool-" /* followed by the area id in decimal */
/* room for NODE_POOL_FILE_PREFIX, any int32 in decimal and the NUL */
#define NODE_POOL_FILE_NAME_MAX 24
#define NODE_STACKS_FILE "stacks"
#define NODE_DIR_PREFIX "/dev/shm/area_malloc-" /* followed by the uid in decimal */
/* under $XDG_RUNTIME_DIR, when the default directory is another user's */
#define NODE_FALLBACK_DIR "area_malloc"

#define NODE_COMMAND_LINE_MAX 1024
#define NODE_OPTIONS_MAX 2048
#define NODE_POOL_NAME_MAX 32

struct node_process_file {
	char magic[8];
	uint32_t version;
	uint32_t header_bytes; /* sizeof(struct node_process_file) */
	int32_t pid;
	uint32_t uid;
	int64_t start_time;                       /* CLOCK_REALTIME microseconds, node creation */
	uint64_t images_generation;               /* odd while the image table is rewritten */
	int64_t mark;                             /* the companion module's last mark (0: none) */
	char command_line[NODE_COMMAND_LINE_MAX]; /* argv joined by spaces */
	char options[NODE_OPTIONS_MAX]; /* the options in force, AREA_MALLOC_OPTIONS syntax */
	/* the debug block layout (debug_block.h), needed to read blocks */
	uint32_t block_header_size;
	uint32_t block_front_size;
	uint32_t block_frame_count; /* stack_depth: frames per recorded stack */
	uint32_t reserved0;
	uint64_t block_key;
	/* loaded images, to symbolize callers post mortem */
	uint32_t image_count;
	uint32_t image_record_bytes; /* sizeof(struct symbolizer_image_record) */
	uint64_t images_offset;      /* from the start of the file */
	uint64_t images_capacity;    /* records the file has room for */
	uint8_t reserved[48];
};

enum node_pool_state {
	NODE_POOL_LIVE = 1,
	NODE_POOL_DELETING = 2, /* delete_pool is running; the file is about to go */
};

/* What the holder of a pool's lock is doing ("In flight" above). */
enum node_operation {
	NODE_OP_NONE = 0, /* nothing in flight */
	NODE_OP_MALLOC = 1,
	NODE_OP_CALLOC = 2,
	NODE_OP_REALLOC = 3,
	NODE_OP_FREE = 4,
	NODE_OP_CHECK = 5,       /* the check debugger command, check_pool() */
	NODE_OP_DELETE_POOL = 6, /* delete_pool(), and each pool's end at exit or unload */
};

/* Which part of the operation. */
enum node_step {
	NODE_STEP_CALL = 0,             /* the call's own block, or the chunk it takes */
	NODE_STEP_QUARANTINE_LINK = 1,  /* linking a freed block behind the quarantine's tail */
	NODE_STEP_QUARANTINE_DRAIN = 2, /* a block leaving the quarantine for the heap */
};

enum node_range_slot {
	NODE_RANGE_BLOCK = 0,
	NODE_RANGE_OTHER = 1,
	NODE_RANGE_LEAVING = 2,
	NODE_RANGE_TAKEN = 3,
	NODE_IN_FLIGHT_RANGES = 4,
};

struct node_in_flight {
	uint32_t operation; /* enum node_operation */
	uint32_t step;      /* enum node_step */
	uint32_t thread;    /* the lock holder's thread id */
	uint32_t reserved;
	/* [slot][0] start, [slot][1] end: a chunk from its header on, in the
	 * process's addresses; 0, 0 when unused */
	uint64_t ranges[NODE_IN_FLIGHT_RANGES][2];
};

/* Counters compared as (int32_t)(a - b), so they may wrap. */
struct node_quiet_window {
	uint32_t requested; /* the reader: the newest request */
	uint32_t granted;   /* the writer: the request it holds still for */
	uint32_t finished;  /* the reader: the request whose copy is over */
	uint32_t budget_us; /* the writer's budget, for readers to see (0: no
				 * window); it waits by its own copy, not this */
};

struct node_pool_descriptor {
	char magic[8];
	uint32_t version;
	uint32_t descriptor_bytes; /* sizeof(struct node_pool_descriptor) */
	uint64_t seq;              /* see "Consistency" above */
	int32_t area;              /* the pool id pooldump and "pools" use */
	uint32_t state;            /* enum node_pool_state */
	uint64_t pool_id;          /* the opaque id the driver holds */
	uint64_t base_address;     /* where the process maps offset 0 */
	uint64_t area_size;
	uint64_t requested_size; /* create_pool's size */
	uint64_t control_offset; /* of this descriptor */
	uint64_t lock_offset;
	uint64_t guard_offset; /* 0: no guard page */
	uint64_t heap_offset;
	uint64_t heap_bytes;
	uint64_t log_offset;
	uint64_t reserved_bytes; /* file space reserved so far (fallocate) */
	char name[NODE_POOL_NAME_MAX];
	area_malloc_owner creator;
	/* statistics, as area_malloc_pool_stats */
	uint64_t used_bytes; /* requested bytes of live blocks */
	uint64_t peak_bytes;
	uint64_t live_blocks;
	uint64_t allocations;
	uint64_t frees;
	uint64_t failed_requests;
	uint64_t injected_failures;
	uint64_t errors;
	uint64_t quarantined_bytes;
	uint64_t quarantined_blocks;
	struct node_in_flight in_flight; /* see "In flight" above */
	struct node_quiet_window quiet;  /* see "Consistency" above */
	/* the side table of guarded blocks (format/guard_table.h), from the
	 * area's base; 0: none. Taken from the reserved bytes, which writers
	 * before it left zero: the layout and version stay those of format 3 */
	uint64_t guard_table_offset;
	uint8_t reserved[40];
};

/* The name of a pool's file in its node directory: one spelling for the
 * writer, the reader and the tests. */
static inline void node_pool_file_name(char name[NODE_POOL_FILE_NAME_MAX], int32_t area)
{
	snprintf(name, NODE_POOL_FILE_NAME_MAX, NODE_POOL_FILE_PREFIX "%d", (int)area);
}

#endif /* AREA_MALLOC_FORMAT_NODE_FORMAT_H */
