/*
 * node_commands.h - the pool commands over debug nodes, one implementation
 * for both front ends: pooldump (output to stdout) and the debug module's
 * in-process kernel-debugger commands (output through kprintf).
 *
 * Commands (argv[0] names the command; a pool ID is the pool's area id):
 *   pools
 *   pool ID
 *   allocations [pool ID] [thread TID] [caller ADDR|SYMBOL] [size MIN[-MAX]] [stats]
 *   allocations_per_caller [-c] [pool ID]
 *   pool_log ID [N]
 *   leaks [pool ID]
 *   check [pool ID]
 *   help
 * Text output is modelled on Haiku's heap commands; with json set, each
 * command prints exactly one JSON document (schema in pooldump(1)).
 *
 * Every call returns an enum node_status (the pooldump exit status):
 * 0 success, 1 leaks or errors found (leaks, check), 2 usage error, 3 no
 * such process node or pool, 4 unreadable or damaged node.
 *
 * Locking: none; a call reads the node's files (node_reader.h) and holds no
 * pool lock while it prints.
 */
#ifndef AREA_MALLOC_NODE_COMMANDS_H
#define AREA_MALLOC_NODE_COMMANDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "node/node_reader.h"

/* Receives output text (one or more whole lines, NUL-terminated). */
typedef void (*node_print_fn)(void *cookie, const char *text);

struct node_command_context {
	const char *node_dir; /* NULL: node_default_dir() */
	pid_t pid;            /* the process whose node node_command_run reads */
	bool json;
	bool color;          /* ASan's colours in text output (never in JSON) */
	node_print_fn print; /* the command's output */
	void *print_cookie;
	node_print_fn print_error; /* errors and warnings, one line each; NULL: print */
	void *error_cookie;
	struct node_snapshot_options snapshot; /* zeros: the defaults */
};

/* Runs one command (argv[0]) on the node of context->pid. */
int node_command_run(const struct node_command_context *context, int argc, char **argv);

/* Lists the nodes of the directory: pid, command, alive, pools, blocks, bytes. */
int node_command_list(const struct node_command_context *context);

/* Removes every dead node of the directory (never a live one). */
int node_command_clean(const struct node_command_context *context);

/* The command summary, one command a line (for usage messages). */
const char *node_command_usage(void);

/* A usage error of the command line, reported as a command's would be
 * (a JSON document with context->json); returns NODE_STATUS_USAGE. */
int node_command_usage_error(const struct node_command_context *context, const char *message);

#endif /* AREA_MALLOC_NODE_COMMANDS_H */
