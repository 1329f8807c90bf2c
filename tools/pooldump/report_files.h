/*
 * report_files.h - what "pooldump run" learns from a run: the processes it
 * knows of, the reports each wrote to its log_path file (report.PID), and
 * the warnings about files it could not fully read. report_files.c builds
 * this model from the files; junit.c, report_json.c and the summary read it.
 *
 * A report file holds, for every report, the debug module's text report
 * (from its "==PID==ERROR: area_malloc:" line to its SUMMARY line, possibly
 * many lines) followed by one line with the report's JSON object, and at
 * the end "==PID==area_malloc: N more ..." lines for reports the module
 * counted without printing them.
 *
 * Invariants: every string in the model is valid UTF-8 without NUL bytes
 * (file contents are cleaned before parsing); processes are kept in the
 * order run_results_sort() gives (the command's own process first, then by
 * pid); a report's kind, test and numbers are read from its JSON object.
 *
 * Locking: none; the model belongs to the single-threaded runner.
 */
#ifndef AREA_MALLOC_POOLDUMP_REPORT_FILES_H
#define AREA_MALLOC_POOLDUMP_REPORT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

/* The reachability scan's verdicts on a leak report's blocks, in the
 * order the module's report gives them. */
enum run_reach {
	RUN_REACH_UNREFERENCED,
	RUN_REACH_INDIRECT,
	RUN_REACH_REFERENCED,
	RUN_REACH_COUNT,
};

struct run_reach_totals {
	bool scanned; /* some group carried a verdict */
	uint64_t bytes[RUN_REACH_COUNT];
	uint64_t blocks[RUN_REACH_COUNT];
};

struct run_report {
	/* The module's JSON object, with the runner's members "text",
	 * "summary", "failing" and "incomplete" added. Owned. */
	struct json_object *object;
	const char *kind;      /* in object */
	const char *test;      /* in object: the Check test, or NULL */
	const char *text;      /* in object: the whole text report */
	const char *summary;   /* in object: its SUMMARY line (or first line) */
	pid_t pid;             /* the process whose file held it */
	bool leak;             /* its kind's row in format/error_kind.h says so;
				 * a kind the table lacks is an error */
	bool failing;          /* counts toward the exit status ("on request"
				 * leak reports do not, as in the module) */
	bool incomplete;       /* text without its JSON line: the process died
				 * while writing, or the file was cut */
	uint64_t leaked_bytes; /* leak reports */
	uint64_t leaked_blocks;
	uint64_t suppressed_bytes; /* leak reports: what suppressions took */
	uint64_t suppressed_blocks;
	bool suppressed_only; /* every group suppressed: its table alone, not failing */
	/* leak reports made after a reachability scan (at exit, or at unload
	 * with leak_scan_unload): its groups' "reach" and the blocks
	 * leak_mode=unreferenced held back ("referenced_bytes") */
	struct run_reach_totals reach;
	bool referenced_only; /* leak_mode=unreferenced held every group back:
				 * its "Still referenced" line alone, not failing */
};

/*
 * Where a process's name came from, best first. The image a report names
 * comes before comm: comm is cut to 15 characters and names the file that
 * was executed, maybe a link ("exe" for /proc/self/exe); it is all a
 * process that ended before the runner could read its cmdline leaves.
 */
enum process_name_source {
	NAME_FROM_CMDLINE, /* /proc/PID/cmdline while it ran */
	NAME_FROM_COMMAND, /* the command the runner started */
	NAME_FROM_REPORT,  /* the image that created its first report's pool */
	NAME_FROM_COMM,    /* /proc/PID/comm */
	NAME_UNKNOWN,
};

/* How a process ended, when the runner learned it. */
struct run_exit {
	bool known;
	bool signaled;
	int status; /* exit status, or the signal number */
	bool core_dumped;
};

/* "killed by signal 11 (SIGSEGV)" / "exited with status 3". */
void run_exit_describe(const struct run_exit *exit, char *buffer, size_t size);

struct run_process {
	pid_t pid;
	bool main;          /* the process the runner started */
	char *name;         /* executable's base name: groups JUnit suites */
	char *command_line; /* NULL when unknown */
	enum process_name_source name_source;
	char *report_file; /* NULL when it wrote none */
	struct run_report *reports;
	size_t report_count;
	uint64_t unprinted_reports; /* counted by the module, not printed */
	size_t echoed_reports;      /* its first reports, echoed while it ran */
	/* known for the command's process, and for one the runner reaped (as
	 * subreaper) that died of a signal */
	struct run_exit exit;
};

struct run_warning {
	pid_t pid; /* 0: about the run, no process */
	char *text;
};

struct run_results {
	struct run_process *processes;
	size_t process_count;
	struct run_warning *warnings;
	size_t warning_count;
	struct run_exit main_exit; /* the command's process */
	double seconds;            /* how long the command ran */
};

void run_results_init(struct run_results *results);
void run_results_free(struct run_results *results);

/* The process with this pid, added (unnamed, no reports) when new. */
struct run_process *run_results_process(struct run_results *results, pid_t pid);

/* Names a process (name: the command line's first word is used when NULL). */
void run_process_set_name(struct run_process *process, const char *command_line, const char *name,
	enum process_name_source source);

void run_results_warn(struct run_results *results, pid_t pid, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Reads one report file's contents into process (its reports and the
 * count of unprinted ones). Anything that is not a complete report gives
 * a warning naming file_name; complete reports around it are kept.
 */
void report_file_parse(struct run_results *results, struct run_process *process,
	const char *file_name, const char *data, size_t length);

/* The pid of a file named "report.PID", else 0. */
pid_t report_file_pid(const char *name);

/*
 * Reads every "report.PID" file of dir. Returns false (errno set) when the
 * directory cannot be read; a file that cannot be read gives a warning.
 */
bool report_dir_read(struct run_results *results, const char *dir);

/* Reads the file name (a "report.PID") of the directory dir_fd (named dir)
 * into its process; returns that process, or NULL when name is no report
 * file (a warning when it looks like one). */
struct run_process *report_file_read(struct run_results *results, int dir_fd, const char *dir,
	const char *name);

/* Gives nameless processes a name from their reports; orders processes. */
void run_results_finish(struct run_results *results);

/* Totals over every process. */
struct run_totals {
	size_t reports;
	size_t errors;        /* failing reports other than leak reports */
	size_t leak_reports;  /* failing leak reports */
	size_t informational; /* reports that do not fail the run */
	uint64_t leaked_bytes;
	uint64_t leaked_blocks;
	uint64_t suppressed_bytes; /* every leak report's suppressed groups */
	uint64_t suppressed_blocks;
	size_t suppressed_only;        /* reports whose every group was suppressed */
	size_t referenced_only;        /* reports whose every group was still referenced */
	struct run_reach_totals reach; /* every leak report's verdicts */
	uint64_t unprinted_reports;
};

void run_results_totals(const struct run_results *results, struct run_totals *totals);

/* "unreferenced", "indirect", "referenced" (report.json's keys). */
extern const char *const run_reach_keys[RUN_REACH_COUNT];

/* Adds one report's verdicts to a sum. */
void run_reach_add(struct run_reach_totals *sum, const struct run_reach_totals *reach);

/* "unreferenced: 48 byte(s) in 1 allocation(s), still referenced: ..."
 * (the verdicts that have blocks), or "" when nothing was scanned. */
void run_reach_phrase(const struct run_reach_totals *reach, char *buffer, size_t size);

/* Members of a report's JSON object: a string (NULL when absent or not a
 * string), a number (0 when absent), frames[0].symbol of an owner member
 * such as "allocated_by" (NULL when absent). */
const char *report_member_string(struct json_object *object, const char *key);
uint64_t report_member_number(struct json_object *object, const char *key);
const char *report_owner_symbol(struct json_object *object, const char *key);

/*
 * Copies text as valid UTF-8: NUL bytes and invalid sequences (overlong
 * forms, surrogates, beyond U+10FFFF, truncated) become U+FFFD; with
 * for_xml, so do the characters XML 1.0 cannot hold at all (control
 * characters other than tab, line feed and carriage return, U+FFFE and
 * U+FFFF). Returns a new string, NULL when out of memory.
 */
char *utf8_clean(const char *text, size_t length, bool for_xml);

/* "function+0x1f (image) dir/file.c:12" -> "function file.c:12"; a symbol
 * in another shape is copied as it is. */
void symbol_short(const char *symbol, char *buffer, size_t size);

/* The image in "function+0x1f (image) ...", or false. */
bool symbol_image(const char *symbol, char *buffer, size_t size);

#endif /* AREA_MALLOC_POOLDUMP_REPORT_FILES_H */
