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

/*
 * The version of every JSON document the project writes (the debug
 * module's report objects, pooldump --json, report.json): its "version"
 * member. Raised when a member changes meaning or goes away; new members
 * alone do not need it. 2: frames with function/offset/image/file/line,
 * "kind_key", one leak-group shape, suppressed counts.
 */
#define AREA_MALLOC_JSON_VERSION 2

/* Which exit-time leaks count for the exit status (leak_mode=). */
enum leak_mode {
	LEAK_MODE_ALL,          /* every block live at exit */
	LEAK_MODE_UNREFERENCED, /* only blocks no root reaches (LeakSanitizer's) */
};

/* When reports and pooldump's text use colour (ASan's color=). */
enum color_mode {
	COLOR_AUTO, /* a terminal whose TERM is not "dumb", and no NO_COLOR */
	COLOR_ALWAYS,
	COLOR_NEVER,
};

/* Parses "auto", "always" or "never"; false for anything else. */
bool color_mode_parse(const char *text, enum color_mode *mode);

/* Whether text written to fd gets colour under mode. */
bool color_wanted(enum color_mode mode, int fd);

/*
 * ASan's colours (sanitizer_report_decorator.h), as the report text uses
 * them: the ERROR line bold red, the call that found the problem blue
 * (ASan's access), the free and allocation stacks magenta, the block's
 * description and pools green (ASan's location), a leak group's line blue
 * (LSan's), the SUMMARY line bold. Every member is "" without colour.
 */
struct report_colors {
	const char *error;
	const char *access;
	const char *allocation;
	const char *location;
	const char *leak;
	const char *summary;
	const char *reset;
};

/* The colours, or the set of empty strings when colored is false. */
const struct report_colors *report_colors(bool colored);

struct debug_options {
	unsigned stack_depth;        /* frames recorded per stack (allocations, frees) */
	size_t stack_depot_bytes;    /* room for distinct stacks in the stack depot */
	size_t log_size;             /* events in each pool's log */
	size_t quarantine_bytes;     /* freed bytes each pool holds back from reuse */
	size_t max_malloc_fill_size; /* bytes of a new block filled with DEBUG_FILL_NEW */
	size_t max_free_check_size;  /* free bytes an allocation checks before taking */
	unsigned max_reports;        /* error reports printed in full (0: no limit) */
	bool realloc_move;           /* realloc always moves the block */
	bool release_capacity;       /* a pool holds no more than the release pool */
	uint64_t fail_nth;           /* the Nth allocation fails (0: off) */
	double fail_rate;            /* each allocation fails with this probability */
	uint64_t fail_seed;
	int32_t fail_pool; /* failures only in the pool with this area id (0: all) */
	char fail_caller[DEBUG_OPTIONS_PATTERN_MAX]; /* ... or from callers matching this */
	bool halt_on_error; /* abort() right after the first error report */
	int exitcode;       /* exit status after errors or leaks (0: keep it) */
	bool leak_check;    /* report leaks at delete_pool, unload and exit */
	char suppressions[DEBUG_OPTIONS_PATH_MAX];
	char log_path[DEBUG_OPTIONS_PATH_MAX];
	enum report_format report_format;
	char node_dir[DEBUG_OPTIONS_PATH_MAX]; /* "" : /dev/shm/area_malloc-UID */
	unsigned keep_dead_nodes;              /* dead nodes of the user kept for post-mortems */
	bool node_reserve;                     /* pool files' space reserved ahead (else lazily) */
	bool fork_nodes;                       /* a forked child publishes a node of its own */
	unsigned reader_wait_us;   /* a pool call's wait for a reader's copy (0: none) */
	bool node;                 /* publish a node at all */
	enum color_mode color;     /* colour in reports on a terminal */
	bool suggest_suppressions; /* a leak:FUNCTION line under each leak group */
	/* the reachability scan at exit (debug/leak_scan.h) */
	enum leak_mode leak_mode; /* which leaks count for the exit status */
	bool leak_interior;       /* a pointer inside a block reaches it */
	bool leak_scan_unload;    /* the last put_module scans before its reports */
	/* guarded blocks (debug/guarded.h): which blocks meet a guard page */
	bool guard;                                  /* every block of every pool */
	char guard_pools[DEBUG_OPTIONS_PATTERN_MAX]; /* every block of pools named so */
	size_t guard_size;                           /* every block of at most this size (0: off) */
	uint64_t guard_sample;                       /* one allocation in N (0: off) */
	uint64_t guard_seed;                         /* the sampling's seed (0: a fresh one) */
	bool guard_underflow;       /* the guard page before the block, not after */
	unsigned guard_pool_max;    /* guarded blocks a pool holds, live and freed */
	unsigned guard_process_max; /* live guarded blocks (0: from vm.max_map_count) */
	bool guard_regions;         /* every pool gets a guard region (set_pool_guard) */
};

/* Fills options with the defaults. */
void debug_options_set_defaults(struct debug_options *options);

/*
 * Parses text (may be NULL or empty) on top of what options holds. Each
 * problem is passed to warn (one line, no newline) and the option keeps its
 * value. Returns the number of problems.
 */
typedef void (*debug_options_warn_fn)(const char *message, void *context);
int debug_options_parse(const char *text, struct debug_options *options, debug_options_warn_fn warn,
	void *context);

/* Every line that help=1 gives the warning callback starts with this (the
 * lines are no problems: a caller that counts problems skips them). */
#define DEBUG_OPTIONS_HELP_PREFIX "area_malloc: help: "

/* Writes the options as AREA_MALLOC_OPTIONS text (for dumps and reports). */
size_t debug_options_format(const struct debug_options *options, char *buffer, size_t size);

#endif /* AREA_MALLOC_FORMAT_OPTIONS_H */
