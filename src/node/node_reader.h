/*
 * node_reader.h - reading debug nodes (node_format.h) of live or dead
 * processes, for pooldump and the in-process kernel-debugger commands.
 *
 * Nothing in a node is trusted: a crashing or hostile process may have left
 * it. Directories and files are opened with O_NOFOLLOW and checked (type,
 * owner, mode, link count) before anything is read; every offset, size and
 * count read from a file is bounds-checked before it is used; pool files are
 * copied with pread (holes skipped with SEEK_DATA/SEEK_HOLE) into private
 * anonymous memory, never mapped, so a truncated file cannot raise SIGBUS.
 *
 * Consistency (node_format.h): a pool is copied while its descriptor's seq
 * is even and unchanged; after a few failed tries, and only while the
 * process lives and the file is the reader's own user's, the reader asks
 * for a quiet window and copies in it. No lock of the driver is ever
 * taken. A copy that is still inconsistent is used and said to be so
 * (node_pool.copy: a live pool's partial view).
 *
 * Locking: none inside; a struct node and its pools belong to one thread.
 */
#ifndef AREA_MALLOC_NODE_READER_H
#define AREA_MALLOC_NODE_READER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/debug_block.h"
#include "format/guard_table.h"
#include "format/pool_log.h"
#include "format/node_format.h"
#include "format/stack_depot.h"

/* The exit status classes of pooldump and of every reader call. */
enum node_status {
	NODE_STATUS_OK = 0,
	NODE_STATUS_FOUND = 1,   /* leaks or errors found (leaks, check) */
	NODE_STATUS_USAGE = 2,   /* unknown command, bad arguments */
	NODE_STATUS_NO_SUCH = 3, /* no such process node (or pool) */
	NODE_STATUS_DAMAGED = 4, /* unreadable or damaged node */
};

#define NODE_MESSAGE_MAX 640

struct node_error {
	enum node_status status;
	char message[NODE_MESSAGE_MAX];
};

/* ---- the node directory ---- */

struct node_dir {
	int fd;
	uid_t owner;
	char path[PATH_MAX];
};

/* NODE_DIR_PREFIX followed by the effective uid. */
void node_default_dir(char *buffer, size_t size);

/* Where the debug module publishes when the default directory is refused
 * (another user made it first): NODE_FALLBACK_DIR under $XDG_RUNTIME_DIR;
 * false when that is not set to an absolute path. */
bool node_fallback_dir(char *buffer, size_t size);

/*
 * Opens and checks a node directory: not a symlink, a directory, mode 0700
 * (nothing for group or others), owned by the reader; root may read any
 * user's, unless own_only (the default directories: root reads only its own
 * nodes unless it names another directory). NODE_STATUS_NO_SUCH when it does
 * not exist, NODE_STATUS_DAMAGED when it is refused or unreadable.
 */
enum node_status node_dir_open(const char *path, bool own_only, struct node_dir *dir,
	struct node_error *error);
void node_dir_close(struct node_dir *dir);

/* The pids of the directory's nodes (names that are decimal numbers), sorted. */
enum node_status node_dir_pids(const struct node_dir *dir, pid_t **pids, size_t *count,
	struct node_error *error);

/* ---- a process node ---- */

struct node_symbol; /* cache entry, node_symbolize.c */

struct node {
	pid_t pid;
	int dir_fd; /* NODE_DIR/PID */
	uid_t owner;
	bool alive; /* another process holds the OFD lock on the process file */
	struct node_process_file process; /* checked; strings NUL-terminated */
	struct debug_layout layout;
	struct symbolizer_image_record *images; /* the checked records */
	size_t image_count;
	int *pool_areas; /* from the pool-AREA file names, sorted */
	size_t pool_count;
	char **warnings; /* what the reader wants the user to know */
	size_t warning_count;
	/* the stack depot, copied (node_stacks.c): block and free record
	 * handles resolve through stack_view (layout.stacks expands them) */
	struct stack_depot stack_header;
	struct stack_depot_view stack_view;
	unsigned char *stack_main, *stack_reserve;
	bool stacks_known;        /* a sound depot was read */
	char stacks_problem[200]; /* why not ("" when it was) */
	struct debug_stacks stack_hooks;
	/* symbolization, opened on first use and cached per address */
	struct symbolizer *symbolizer;
	bool symbolizer_failed;
	struct node_symbol *symbols;
	size_t symbol_count, symbol_capacity;
};

/* NODE_STATUS_NO_SUCH when there is no node for pid. */
enum node_status node_open(const struct node_dir *dir, pid_t pid, struct node **node,
	struct node_error *error);
void node_close(struct node *node);

void node_warn(struct node *node, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Is the process of this open process file alive (F_OFD_GETLK)? */
bool node_process_file_alive(int fd);

/*
 * "function+0xoff (image) file:line" for a return address (as symbol_format
 * gives it), symbolized once per address from the node's image records.
 * function (may be NULL) receives the bare function name ("" when unknown).
 * The strings live as long as the node.
 */
const char *node_symbolize(struct node *node, uintptr_t address, const char **function);

/* The same address as a frame's JSON members (symbol_format_json), cached
 * with its text. */
const char *node_symbolize_json(struct node *node, uintptr_t address);

/* ---- pools ---- */

enum node_copy {
	NODE_COPY_CONSISTENT,   /* seq even and unchanged around the copy */
	NODE_COPY_QUIET,        /* the same, in a quiet window the driver held */
	NODE_COPY_PARTIAL,      /* a live pool changing too fast: used as is, its
				  * findings unverified (copy_problem says why) */
	NODE_COPY_INCONSISTENT, /* a dead process's, caught mid-change: used as is */
};

/* Where a reader is in a quiet window (node_snapshot_options.at_step). */
enum node_quiet_step {
	NODE_QUIET_ASKED,   /* the request is written, no grant seen yet */
	NODE_QUIET_GRANTED, /* granted: the driver holds still from here */
	NODE_QUIET_COPIED,  /* the copy is made, "finished" not yet written */
};

struct node_snapshot_options {
	unsigned tries;            /* copies before a quiet window is asked for (0: default 8) */
	unsigned grant_timeout_ms; /* 0: default 200; no window is asked of the dead */
	/* the reader is not the node's owner by intent (root reading another
	 * user's node as that user): no quiet window is asked for */
	bool foreign;
	/* called at each step of a quiet window (tests stop the reader there) */
	void (*at_step)(enum node_quiet_step step, void *context);
	void *step_context;
};

/*
 * A dead process's pool caught in the middle of an operation: its
 * descriptor's in-flight record (node_format.h, "In flight"), checked
 * (node_interrupted.c). Only a copy of a dead process with an odd seq is
 * caught; a live process's pool is copied consistently or retried.
 */
struct node_interrupted {
	bool caught;        /* dead, seq odd, an operation recorded */
	bool known;         /* an operation this reader knows: it explains findings */
	uint32_t operation; /* enum node_operation, as recorded */
	uint32_t step;      /* enum node_step, as recorded */
	uint32_t thread;
	size_t range_count; /* the sound ones, in ranges */
	uint64_t ranges[NODE_IN_FLIGHT_RANGES][2];
	size_t ranges_refused; /* empty, or not inside the pool's heap */
};

/* A pool's guarded blocks as its guard table's header counts them
 * (format/guard_table.h): data the writer keeps, shown by "pools" and
 * compared with the slots by "check". */
struct node_guard_counts {
	bool present;        /* a sound table header */
	const char *problem; /* NULL: none, or a sound one; else why it is refused */
	uint32_t live_blocks, quarantined_blocks;
	uint64_t live_bytes;
};

struct node_pool {
	struct node *node;
	int area;
	uint64_t file_bytes;
	struct node_pool_descriptor descriptor; /* from the copy, checked */
	unsigned char *image;                   /* the copy of the pool file (anonymous memory) */
	size_t image_bytes;                     /* = descriptor.area_size */
	enum node_copy copy;
	char copy_problem[200];
	struct node_interrupted interrupted;
	/* the heap, from one walk of the copy */
	const char *heap_problem; /* NULL: every chunk header sound */
	uint64_t heap_problem_at; /* the damaged chunk header's address (0: unknown) */
	uint64_t walked_to;       /* the end of the last chunk the walk passed */
	size_t used_chunks, free_chunks;
	uint64_t used_chunk_bytes, free_chunk_bytes, largest_free;
	size_t live_blocks, quarantined_blocks, damaged_blocks;
	uint64_t live_bytes, quarantined_bytes;
	/* the pool log, in the copy; NULL when there is none or it is damaged */
	const struct pool_log *log;
	char log_problem[160];
	/* the guarded blocks, from the guard table in the copy (node_guarded.c):
	 * its header's counters, and what its slots hold */
	struct node_guard_counts guard_counts;
	const char *guard_problem; /* NULL: no table, or a sound one */
	size_t guarded_live, guarded_freed, guarded_damaged;
	uint64_t guarded_live_bytes;
};

/*
 * Copies and parses pool area of the node. NODE_STATUS_NO_SUCH when the
 * node has no such pool (any more), NODE_STATUS_DAMAGED when the file is
 * unreadable or its descriptor unsound; a damaged heap is not an error here
 * (heap_problem says so; the blocks before the damage are still walked).
 */
enum node_status node_pool_load(struct node *node, int area,
	const struct node_snapshot_options *options, struct node_pool **pool,
	struct node_error *error);
void node_pool_release(struct node_pool *pool);

/*
 * Reads only a pool's descriptor (for lists) and, when guarded is not NULL,
 * its guard table's counters with it: consistent when seq was even and
 * unchanged around the read, else the last read with *consistent false.
 */
enum node_status node_pool_read_descriptor(struct node *node, int area,
	struct node_pool_descriptor *descriptor, struct node_guard_counts *guarded,
	bool *consistent, struct node_error *error);

/* One used chunk of a pool's heap, as a debug block. */
struct node_block {
	uint64_t address; /* the user pointer in the process */
	uint64_t chunk_address;
	size_t usable;  /* chunk payload bytes */
	bool header_ok; /* checksum and fields sound: the rest is valid */
	uint16_t state; /* BLOCK_LIVE or BLOCK_QUARANTINED */
	uint64_t size;  /* requested */
	uint32_t thread;
	int32_t team;
	uint32_t sequence;
	int64_t time;
	uint32_t stack;          /* its depot handle */
	bool stack_truncated;    /* cut to its first frame (or lost): the depot was full */
	uint32_t frame_count;    /* 0: the stack is unknown (frames[0] is then 0) */
	const uintptr_t *frames; /* in the node's depot copy */
	const struct debug_block_header *header; /* in the copy; NULL: a guarded block */
	/* a guarded block's slot in the copy's guard table (header is NULL, the
	 * fields above come from the slot; node_pool_walk_guarded) */
	const struct guard_slot *guard_slot;
};

/* A live block whose header is sound (the blocks listings and leaks count). */
static inline bool node_block_is_live(const struct node_block *block)
{
	return block->header_ok && block->state == BLOCK_LIVE;
}

typedef void (*node_block_fn)(const struct node_pool *pool, const struct node_block *block,
	void *context);

/* Calls fn for every used chunk, in address order. */
void node_pool_walk(const struct node_pool *pool, node_block_fn fn, void *context);

/*
 * Calls fn for every guarded block, live and freed, whose slot is sound, in
 * address order, as a block (guard_slot set, header NULL, header_ok true).
 * False when out of memory (none visited).
 */
bool node_pool_walk_guarded(const struct node_pool *pool, node_block_fn fn, void *context);

/* Every block of the pool, in address order: the guarded ones (their
 * region lies in the control region, below the heap), then the heap's
 * chunks. False when the guarded ones could not be walked (out of memory). */
bool node_pool_walk_blocks(const struct node_pool *pool, node_block_fn fn, void *context);

/* Checks a heap block's canaries and poison (debug_block_check_at). */
struct debug_block_finding node_block_check(const struct node_pool *pool,
	const struct node_block *block);

/* The canaries of a live guarded block, in the copy: the bytes before it on
 * its first data page and its slack to the guard page. Up to two findings
 * (BLOCK_UNDERFLOW, BLOCK_OVERFLOW, with the offsets the module reports);
 * returns how many. A freed one's pages are not read: none. */
size_t node_guarded_check(const struct node_pool *pool, const struct node_block *block,
	struct debug_block_finding findings[2]);

/* ---- a pool caught in the middle of an operation (node_interrupted.c) ---- */

/* "malloc", ..., "delete_pool"; "unknown" for a code this reader does not know. */
const char *node_operation_name(uint32_t operation);
/* What the step was doing, as a phrase ("on its own block", ...; "unknown step"). */
const char *node_step_text(uint32_t step);
/*
 * Does the pool's interrupted operation explain damage at [start, end) (a
 * block's chunk, from its header; a damaged chunk header)? The range that
 * does (an index into pool->interrupted.ranges), or -1. Only when the pool
 * was caught and its operation is known, and only a range that [start, end)
 * meets, or whose chunk's upper neighbour's header it meets (the tags an
 * operation writes there).
 */
int node_interrupted_range(const struct node_pool *pool, uint64_t start, uint64_t end);

/* ---- guarded blocks (node_guarded.c) ---- */

/* A guarded block from the pool's guard table (format/guard_table.h). */
struct node_guarded_block {
	uint64_t address;            /* the user pointer in the process */
	uint64_t size;               /* requested */
	bool freed;                  /* in the guarded quarantine */
	bool underflow;              /* its guard page is before it */
	area_malloc_owner allocated; /* frame_count 0: its stack is unknown */
	area_malloc_owner freed_by;  /* when freed */
};

typedef void (*node_guarded_fn)(const struct node_pool *pool,
	const struct node_guarded_block *block, void *context);

/* Calls fn for each live and freed guarded block of the copy, in slot
 * order; *damaged: slots not shown (unknown state, outside the region).
 * Returns NULL, or what is wrong with the table (then nothing is shown). */
const char *node_pool_guarded_walk(const struct node_pool *pool, node_guarded_fn fn, void *context,
	size_t *damaged);

/* Who freed a quarantined block (heap or guarded); false when its free
 * record is damaged. */
bool node_block_freed_by(const struct node_pool *pool, const struct node_block *block,
	area_malloc_owner *freed_by);

#endif /* AREA_MALLOC_NODE_READER_H */
