/*
 * options.h - the debug module's options, from AREA_MALLOC_OPTIONS.
 *
 * The syntax is ASan's: key=value pairs separated by ':'; a value may be
 * quoted with ' or " to contain ':'. Unknown keys and bad values print one
 * warning each (naming the valid keys, or the accepted values and the
 * default used) and never stop the driver.
 */
#ifndef AREA_MALLOC_FORMAT_OPTIONS_H
#define AREA_MALLOC_FORMAT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEBUG_OPTIONS_PATH_MAX 4096
#define DEBUG_OPTIONS_PATTERN_MAX 256

enum report_format {
	REPORT_FORMAT_TEXT,
	REPORT_FORMAT_JSON,
};

struct debug_options {
	unsigned stack_depth;		/* frames recorded per stack (allocations, frees) */
	size_t stack_depot_bytes;	/* room for distinct stacks in the stack depot */
	size_t log_size;		/* events in each pool's log */
	size_t quarantine_bytes;	/* freed bytes each pool holds back from reuse */
	unsigned max_reports;		/* error reports printed in full (0: no limit) */
	bool realloc_move;		/* realloc always moves the block */
	bool release_capacity;		/* a pool holds no more than the release pool */
	uint64_t fail_nth;		/* the Nth allocation fails (0: off) */
	double fail_rate;		/* each allocation fails with this probability */
	uint64_t fail_seed;
	int32_t fail_pool;		/* failures only in the pool with this area id (0: all) */
	char fail_caller[DEBUG_OPTIONS_PATTERN_MAX]; /* ... or from callers matching this */
	bool halt_on_error;		/* abort() right after the first error report */
	int exitcode;			/* exit status after errors or leaks (0: keep it) */
	bool leak_check;		/* report leaks at delete_pool, unload and exit */
	char suppressions[DEBUG_OPTIONS_PATH_MAX];
	char log_path[DEBUG_OPTIONS_PATH_MAX];
	enum report_format report_format;
	char node_dir[DEBUG_OPTIONS_PATH_MAX]; /* "" : /dev/shm/area_malloc-UID */
	unsigned keep_dead_nodes;	/* dead nodes of the user kept for post-mortems */
	bool fork_nodes;		/* a forked child publishes a node of its own */
	unsigned reader_wait_us;	/* a pool call's wait for a reader's copy (0: none) */
	bool node;			/* publish a node at all */
};

/* Fills options with the defaults. */
void debug_options_set_defaults(struct debug_options *options);

/*
 * Parses text (may be NULL or empty) on top of what options holds. Each
 * problem is passed to warn (one line, no newline) and the option keeps its
 * value. Returns the number of problems.
 */
typedef void (*debug_options_warn_fn)(const char *message, void *context);
int debug_options_parse(const char *text, struct debug_options *options,
	debug_options_warn_fn warn, void *context);

/* Every line that help=1 gives the warning callback starts with this (the
 * lines are no problems: a caller that counts problems skips them). */
#define DEBUG_OPTIONS_HELP_PREFIX "area_malloc: help: "

/* Writes the options as AREA_MALLOC_OPTIONS text (for dumps and reports). */
size_t debug_options_format(const struct debug_options *options, char *buffer, size_t size);

#endif /* AREA_MALLOC_FORMAT_OPTIONS_H */
