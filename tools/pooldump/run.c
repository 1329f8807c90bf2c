/*
 * run.c - "pooldump run", the QA runner (pooldump(1), RUN): run_main()
 * takes the steps of a run in order (run_internal.h lists the files that
 * hold them): options, output files and the command's environment; the
 * command, run and watched; its reports, read once it and what it left
 * behind ended; then the exit status, the CI files and the summary.
 *
 * Why the reports are counted only at the end: a process writes its
 * report.PID file until it exits (leaks at exit come last), and the files
 * are the one channel from the debug module in every process the command
 * starts. (They are echoed as they come, run_supervise.c, but the totals,
 * JUnit and JSON are made from one final read.)
 *
 * Invariants: the exit status counts reports first: 23 whenever any process
 * reported an error or a failing leak, whatever the command's own status;
 * otherwise the command's (128+N after signal N). Every warning goes to
 * standard error as well as into both files, and so does every report
 * (unless --quiet): the full text on standard error, as ASan prints it.
 * The output files are removed when the command cannot be started or its
 * reports cannot be read: no CI file claims reports the runner could not
 * read.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_files.h"
#include "run.h"
#include "run_internal.h"

int runner_error(const char *format, ...)
{
	va_list arguments;

	fflush(stdout);
	fputs("pooldump run: ", stderr);
	va_start(arguments, format);
	vfprintf(stderr, format, arguments);
	va_end(arguments);
	fputc('\n', stderr);
	return RUN_STATUS_RUNNER_ERROR;
}

char *format_string(const char *format, ...)
{
	va_list arguments;
	char *text;

	va_start(arguments, format);
	if (vasprintf(&text, format, arguments) < 0) {
		fputs("pooldump run: out of memory\n", stderr);
		exit(RUN_STATUS_RUNNER_ERROR);
	}
	va_end(arguments);
	return text;
}

/* ---- the whole run ---- */

static int exit_status_of(const struct run_results *results)
{
	struct run_totals totals;

	run_results_totals(results, &totals);
	if (totals.errors + totals.leak_reports > 0)
		return RUN_STATUS_REPORTS;
	if (results->main_exit.signaled)
		return 128 + results->main_exit.status;
	return results->main_exit.status;
}

/* Names the command's process, reads the reports, checks the obvious. */
static int collect(struct run_results *results, const struct run_config *config, pid_t child)
{
	struct run_process *main_process = run_results_process(results, child);
	char *command_line = NULL;

	main_process->main = true;
	for (char **argument = config->command; *argument != NULL; argument++) {
		char *longer = format_string("%s%s%s", command_line ? command_line : "",
			command_line ? " " : "", *argument);
		free(command_line);
		command_line = longer;
	}
	run_process_set_name(main_process, command_line, config->command[0], NAME_FROM_COMMAND);
	free(command_line);
	if (!report_dir_read(results, config->reports_dir))
		return runner_error("cannot read the reports in %s: %s", config->reports_dir,
			strerror(errno));
	run_results_finish(results);
	if (results->main_exit.known && !results->main_exit.signaled
		&& results->main_exit.status == RUN_STATUS_REPORTS) {
		struct run_totals totals;
		run_results_totals(results, &totals);
		if (totals.errors + totals.leak_reports == 0)
			run_results_warn(results, 0,
				"the command exited with status %d, the debug module's exit status "
				"after reports, but no report reached %s (did it change log_path, or "
				"take its reports with a report hook?)",
				RUN_STATUS_REPORTS, config->reports_dir);
	}
	return 0;
}

int run_main(int argc, char **argv)
{
	struct run_config config = { .orphan_wait_ms = 2000 };
	struct watch watch = { .signal_fd = -1, .inotify_fd = -1, .reports_fd = -1 };
	struct run_results results;
	int status, exit_status;

	run_results_init(&results);
	watch.results = &results;
	config.module_options = format_string("%s", "");
	status = parse_arguments(argc, argv, &config);
	if (status == 0)
		status = resolve_module_dir(&config);
	if (status == 0)
		status = prepare_output(&config);
	if (status == 0)
		status = prepare_environment(&config);
	if (status == 0)
		status = watch_start(&watch, &config);
	if (status == 0)
		status = start_command(&watch, &config);
	if (status != 0) {
		watch_stop(&watch);
		close_outputs(&config, true);
		free(config.module_options);
		free(config.kernel_module_path);
		free(config.area_malloc_options);
		run_results_free(&results);
		return status < 0 ? 0 : status;
	}
	wait_for_command(&watch);
	watch_stop(&watch);

	status = collect(&results, &config, watch.child);
	exit_status = exit_status_of(&results);
	if (status == 0)
		print_reports(&results, &config);
	for (size_t w = 0; w < results.warning_count; w++)
		fprintf(stderr, "pooldump run: warning: %s\n", results.warnings[w].text);
	if (status == 0)
		status = write_outputs(&results, &config, exit_status);
	/* no CI files that would claim reports the runner could not read */
	close_outputs(&config, true);
	if (status == 0)
		print_summary(&results, &config, exit_status);
	fflush(stdout);
	free(config.module_options);
	free(config.kernel_module_path);
	free(config.area_malloc_options);
	run_results_free(&results);
	return status != 0 ? status : exit_status;
}
