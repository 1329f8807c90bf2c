/*
 * node_commands_internal.h - what the files of the pool commands share
 * (the public interface is node_commands.h).
 *
 * Role
 *   The commands are one concern a file:
 *     node_session.c        output (buffered, escaped for the terminal and
 *                           for JSON), sessions (opening the node, errors,
 *                           the status), the pieces every command uses
 *     node_grouping.c       the hash table of sites (one or more frames)
 *     node_cmd_pools.c      pools, pool
 *     node_cmd_allocations.c allocations, allocations_per_caller
 *     node_cmd_pool_log.c   pool_log
 *     node_cmd_leaks.c      leaks
 *     node_cmd_check.c      check
 *     node_cmd_scan.c       scan (a live process's memory, from outside)
 *     node_scan_stop.c      scan --stop: the target's threads stopped (ptrace)
 *     node_commands.c       help, the command table and dispatch
 *     node_cmd_dir.c        list and clean (the node directory)
 *   all over the node reader (node_reader.h).
 *
 * A session
 *   is one command's run: session_start, then the command's output, then
 *   exactly one of session_finish (the document's end, warnings, errors)
 *   or session_fail (a failure before any output), which both free the
 *   session and return its status. Text that comes from node files (command
 *   lines, pool names, symbols naming images) goes out through put_text,
 *   put_json_string or symbol(), never as a format argument of emit.
 *
 * Invariants
 *   In JSON mode every outcome, failures included, is exactly one document
 *   on the output printer. session->status only rises (raise_status: damage,
 *   usage, a missing pool, findings). A pool is loaded only inside
 *   for_each_pool and released before the next one is loaded.
 *
 * Locking: none; a session belongs to one thread and holds no pool lock
 * while it prints (node_reader.h).
 */
#ifndef AREA_MALLOC_NODE_COMMANDS_INTERNAL_H
#define AREA_MALLOC_NODE_COMMANDS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/user.h>

#include "node/node_commands.h"
#include "node/node_reader.h"

#ifndef NODE_HIDDEN
/* Internal to the library, and to the debug module that links it. */
#define NODE_HIDDEN __attribute__((visibility("hidden")))
#endif

#define SYMBOL_RING 4
#define SYMBOL_TEXT_MAX 2048

/* ---- output (node_session.c) ---- */

struct output {
	const struct node_command_context *context;
	char *buffer;
	size_t length;
	size_t capacity;
};

NODE_HIDDEN void put(struct output *out, const char *text, size_t length);
NODE_HIDDEN void put_str(struct output *out, const char *text);
NODE_HIDDEN void emit(struct output *out, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
/* Terminal-safe text: control characters become '?'. */
NODE_HIDDEN void put_text(struct output *out, const char *text);
/* A JSON string: escaped, and valid UTF-8 whatever the file held. */
NODE_HIDDEN void put_json_string(struct output *out, const char *text);
NODE_HIDDEN void put_time(struct output *out, int64_t microseconds);

/*
 * A part of a document made now and printed later (check's interrupted
 * findings, made pool by pool, printed after its problems): an output whose
 * printer keeps the text. The held context is the session's, but for the
 * printer; held->out must not outlive held.
 */
struct held_output {
	struct output out;
	struct node_command_context context;
	char *text;
	size_t length, capacity;
	bool failed;  /* out of memory: the held part was cut short */
	size_t items; /* elements put into a JSON array held here */
};

struct session;
NODE_HIDDEN bool held_output_start(struct held_output *held, const struct session *session);
/* Puts what was held into into, and holds nothing any more. */
NODE_HIDDEN void held_output_move(struct held_output *held, struct output *into);
NODE_HIDDEN void held_output_end(struct held_output *held);

/* ---- sessions (node_session.c) ---- */

struct session {
	const struct node_command_context *context;
	struct output out;
	struct node_dir dir;
	struct node *node;
	enum node_status status;
	char **errors;
	size_t error_count;
	const char *query;
	size_t items;           /* elements printed in the current JSON array */
	bool damage_is_finding; /* check: a damaged heap is what it looks for */
	/* why the fallback directory is read ("": it is not, or silently) */
	char dir_note[NODE_MESSAGE_MAX + PATH_MAX + 32];
	/* terminal-safe copies of the last symbols (text output), see symbol() */
	char symbol_text[SYMBOL_RING][SYMBOL_TEXT_MAX];
	unsigned symbol_next;
};

NODE_HIDDEN bool session_start(struct session *session, const struct node_command_context *context,
	const char *query);
/* Ends the document (JSON) or prints warnings and errors (text); returns the status. */
NODE_HIDDEN int session_finish(struct session *session);
/* A failure before any output: one error line, or one JSON document. */
NODE_HIDDEN int session_fail(struct session *session, enum node_status status, const char *text);
/* The directory the command names, else the default one, else (refused or
 * missing) the fallback under $XDG_RUNTIME_DIR where the module publishes
 * then; the defaults only when they are the reader's own (root too). */
NODE_HIDDEN enum node_status session_open_dir(struct session *session, struct node_error *error);
/* Opens the directory and the node; prints the header. false: already failed. */
NODE_HIDDEN bool session_open_node(struct session *session, int *status);
NODE_HIDDEN void raise_status(struct session *session, enum node_status status);
/* A problem with one part of the node: listed at the end, and it sets the status. */
NODE_HIDDEN void session_error(struct session *session, enum node_status status, const char *text);
/* "," before every element of a JSON array but the first. */
NODE_HIDDEN const char *separator(struct session *session);

/* A caller as the output shows it (escaped in text output). */
NODE_HIDDEN const char *symbol(struct session *session, uint64_t address);
/* Opens a JSON document: {"version":AREA_MALLOC_JSON_VERSION,"query":"QUERY" */
NODE_HIDDEN void json_document_start(struct output *out, const char *query);
/* ",\"frames\":[...]" into out: each frame's pc, symbol, function, offset,
 * image, file and line (symbol_format_json). */
NODE_HIDDEN void json_frames(struct session *session, struct output *out, const uintptr_t *frames,
	uint32_t count);

typedef void (*pool_visit_fn)(struct session *session, struct node_pool *pool, void *context);

/* Loads the pools one at a time (area 0: all of them) and hands each to fn. */
NODE_HIDDEN int for_each_pool(struct session *session, int area, pool_visit_fn fn, void *context);

/* Every block of the pool, guarded ones first (node_pool_walk_blocks); the
 * guarded ones left out (out of memory) are an error of the session. */
NODE_HIDDEN void session_walk_blocks(struct session *session, const struct node_pool *pool,
	node_block_fn fn, void *context);

NODE_HIDDEN bool parse_u64(const char *text, uint64_t *value);
NODE_HIDDEN bool parse_area(const char *text, int *area);
/* Fails the session with a usage error: the message, then "; usage: USAGE". */
NODE_HIDDEN int usage_error(struct session *session, const char *usage, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- grouping (node_grouping.c) ---- */

struct group {
	uint64_t hash;
	size_t key_start; /* in group_table.keys */
	uint32_t key_count;
	size_t count;
	uint64_t bytes;
	uint64_t first_address; /* the oldest block of the group (lowest seq) */
	uint32_t first_sequence;
	uint32_t first_thread;
	int32_t first_team;
	int64_t first_time;
	uintptr_t first_frame; /* the caller: the tie-break of sorting */
};

struct group_table {
	struct group *groups;
	size_t count, capacity;
	uintptr_t *keys;
	size_t key_count, key_capacity;
	size_t *slots; /* group index + 1; 0: empty */
	size_t slot_capacity;
	bool failed; /* out of memory: some blocks were not counted */
};

/* Counts a block in the group of its first key_frames frames. */
NODE_HIDDEN void group_count_block(struct group_table *table, const struct node_block *block,
	uint32_t key_frames);
/* The group's frames. */
NODE_HIDDEN const uintptr_t *group_key(const struct group_table *table, const struct group *group);
/* Largest first (most blocks first with by_count); no lookups afterwards. */
NODE_HIDDEN void group_table_sort(struct group_table *table, bool by_count);
NODE_HIDDEN void group_table_free(struct group_table *table);

/* ---- the commands (one file a family), dispatched by node_commands.c ---- */

NODE_HIDDEN int command_pools(struct session *session, int argc, char **argv);
NODE_HIDDEN int command_pool(struct session *session, int argc, char **argv);
extern NODE_HIDDEN const char allocations_usage[];
NODE_HIDDEN int command_allocations(struct session *session, int argc, char **argv);
NODE_HIDDEN int command_allocations_per_caller(struct session *session, int argc, char **argv);
NODE_HIDDEN int command_pool_log(struct session *session, int argc, char **argv);
NODE_HIDDEN int command_leaks(struct session *session, int argc, char **argv);
NODE_HIDDEN int command_check(struct session *session, int argc, char **argv);
NODE_HIDDEN int command_scan(struct session *session, int argc, char **argv);

/* ---- scan --stop (node_scan_stop.c) ---- */

struct scan_thread {
	pid_t tid;
	bool registers_known;
	struct user_regs_struct registers;
};

struct scan_world {
	struct scan_thread *threads;
	size_t count, capacity;
	sigset_t saved_mask;
	bool mask_saved;
};

/* Stops every thread of pid (ptrace), reads their registers; false with
 * errno (everything already resumed). */
NODE_HIDDEN bool scan_stop(pid_t pid, struct scan_world *world);
/* Detaches every stopped thread; restores pooldump's signal mask. */
NODE_HIDDEN void scan_resume(struct scan_world *world);

#endif /* AREA_MALLOC_NODE_COMMANDS_INTERNAL_H */
