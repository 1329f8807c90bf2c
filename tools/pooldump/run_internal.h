/*
 * run_internal.h - what the files of "pooldump run" share; run.h is the
 * runner's face to pooldump.c, this is its inside.
 *
 * The files, in the order of a run (run_main() in run.c takes the steps):
 *   run_options.c    the command line, the debug module directory, and the
 *                    KERNEL_MODULE_PATH and AREA_MALLOC_OPTIONS the command
 *                    gets
 *   run_output.c     OUTDIR: its reports directory, junit.xml, report.json
 *   run_supervise.c  starting the command, watching it and what it leaves
 *                    behind, naming processes as they report
 *   run_summary.c    what is printed at the end: the reports in full and
 *                    the post-mortem nodes of killed processes (standard
 *                    error), the summary (standard output)
 *   run.c            the steps in order, the reports read afterwards, the
 *                    exit status
 *
 * Invariants: a step returns 0 to go on, else the runner's exit status
 * (RUN_STATUS_*, run.h) after printing why with runner_error(); the
 * configuration is filled by the steps in order, and after
 * prepare_environment() only its output streams change (run_output.c
 * closes them).
 *
 * Locking: single-threaded.
 */
#ifndef AREA_MALLOC_POOLDUMP_RUN_INTERNAL_H
#define AREA_MALLOC_POOLDUMP_RUN_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "report_files.h"

#define DEFAULT_OUTPUT_DIR "./area_malloc-report"

struct run_config {
	const char *output_dir_argument;
	const char *junit_argument;
	const char *json_argument;
	const char *module_dir_argument;
	bool quiet;           /* no reports echoed, only the summary */
	int orphan_wait_ms;   /* how long processes the command left run on */
	char *module_options; /* from the flags, in their order */
	char **command;
	/* resolved */
	char output_dir[PATH_MAX];
	char reports_dir[PATH_MAX];
	char module_dir[PATH_MAX];
	char junit_path[PATH_MAX];
	char json_path[PATH_MAX];
	char *kernel_module_path; /* as the command gets them */
	char *area_malloc_options;
	FILE *junit_file;
	FILE *json_file;
};

/* The running command, as run_supervise.c watches it. */
struct watch {
	bool armed; /* signals blocked, SIGCHLD's action saved */
	int signal_fd;
	int inotify_fd;
	sigset_t saved_mask;
	struct sigaction saved_sigchld;
	pid_t child;
	bool child_running;
	bool descendants;  /* some process is still our child */
	bool stop_waiting; /* interrupted while waiting for leftovers */
	struct timespec started;
	int orphan_wait_ms; /* the wait for descendants once the command ended */
	int reports_fd;     /* the reports directory, read as reports come */
	const struct run_config *config;
	struct run_results *results;
};

/* run.c: "pooldump run: ..." on standard error; returns RUN_STATUS_RUNNER_ERROR. */
int runner_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* run.c: a new string; out of memory ends the runner (exit 125). */
char *format_string(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* run_options.c. parse_arguments returns 0 to go on, -1 after --help,
 * else the exit status. */
int parse_arguments(int argc, char **argv, struct run_config *config);
int resolve_module_dir(struct run_config *config);
int prepare_environment(struct run_config *config);

/* run_output.c */
int prepare_output(struct run_config *config);
int write_outputs(const struct run_results *results, struct run_config *config, int exit_status);
void close_outputs(struct run_config *config, bool remove);

/* run_supervise.c. start_command returns 0, or the exit status when the
 * command cannot run. */
int watch_start(struct watch *watch, const struct run_config *config);
void watch_stop(struct watch *watch);
int start_command(struct watch *watch, struct run_config *config);
void wait_for_command(struct watch *watch);

/* run_summary.c: the reports in full (unless quiet: those not echoed while
 * the command ran) and where the nodes of processes killed by a signal are,
 * on standard error; the summary on standard output. echo_report() prints
 * one report's text. */
void echo_report(const struct run_report *report, const struct run_config *config);
void print_reports(const struct run_results *results, const struct run_config *config);
void print_summary(const struct run_results *results, const struct run_config *config,
	int exit_status);

#endif /* AREA_MALLOC_POOLDUMP_RUN_INTERNAL_H */
