/*
 * run_summary.c - what "pooldump run" tells the console when it is done.
 *
 * On standard error, first (print_reports): each report in full as the
 * debug module wrote it, so that a CI job's log shows what went wrong, as
 * ASan's does (--quiet leaves them out); then, for every process known to
 * have died of a signal, where its post-mortem node is (pooldump -p PID
 * check), or that it left none.
 *
 * On standard output (print_summary): the totals, one line per report
 * (SUMMARY_MAX_LINES at most; report.json has them all), how the command
 * ended when that is news, and the result. A report's line says what the
 * debug module's SUMMARY line says (kind, address or leak totals, pool, the
 * frame to look at), read from its JSON object; for an incomplete report
 * that is what report_files.c recovered from its text.
 *
 * Invariants: reads the model (report_files.h) and changes nothing; it is
 * printed only once the CI files are written, so the paths it names exist.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "format/options.h"
#include "node/node_reader.h"

#include "run.h"
#include "run_internal.h"

#define SUMMARY_MAX_LINES 20

static const char *plural(uint64_t count, const char *singular, const char *plural_form)
{
	return count == 1 ? singular : plural_form;
}

/* " in pool 7 (net-tx)", or " with pool id 0x..." when the pool was not live. */
static void pool_phrase(struct json_object *object, char *buffer, size_t size)
{
	struct json_object *pool, *id;
	const char *name, *pool_id;

	buffer[0] = '\0';
	if (json_object_object_get_ex(object, "pool", &pool)
		&& json_object_object_get_ex(pool, "id", &id)) {
		name = report_member_string(pool, "name");
		snprintf(buffer, size, " in pool %d%s%s%s", json_object_get_int(id),
			name != NULL && name[0] != '\0' ? " (" : "", name != NULL ? name : "",
			name != NULL && name[0] != '\0' ? ")" : "");
	} else if ((pool_id = report_member_string(object, "pool_id")) != NULL) {
		snprintf(buffer, size, " with pool id %s", pool_id);
	}
}

/* The frame a report's summary names (as the debug module's SUMMARY line). */
static const char *report_site(const struct run_report *report)
{
	struct json_object *groups;
	const char *symbol = NULL;

	if (report->leak) {
		if (json_object_object_get_ex(report->object, "groups", &groups)
			&& json_object_is_type(groups, json_type_array)
			&& json_object_array_length(groups) > 0)
			symbol = report_owner_symbol(json_object_array_get_idx(groups, 0),
				"allocated_by");
		return symbol;
	}
	static const char *const owners[] = { "detected_by", "freed_by", "allocated_by" };
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]) && symbol == NULL; i++)
		symbol = report_owner_symbol(report->object, owners[i]);
	return symbol;
}

static void describe_report(const struct run_report *report, char *buffer, size_t size)
{
	const char *address = report_member_string(report->object, "address");
	const char *when = report_member_string(report->object, "when");
	const char *site = report_site(report);
	char pool[128], short_site[512];
	size_t used;

	pool_phrase(report->object, pool, sizeof(pool));
	if (report->leak)
		used = (size_t)snprintf(buffer, size, "%s: %" PRIu64 " %s in %" PRIu64 " %s%s%s%s",
			report->kind, report->leaked_bytes,
			plural(report->leaked_bytes, "byte", "bytes"), report->leaked_blocks,
			plural(report->leaked_blocks, "allocation", "allocations"), pool,
			when != NULL ? " " : "", when != NULL ? when : "");
	else
		used = (size_t)snprintf(buffer, size, "%s at %s%s", report->kind,
			address != NULL ? address : "?", pool);
	if (site != NULL && used < size) {
		symbol_short(site, short_site, sizeof(short_site));
		used += (size_t)snprintf(buffer + used, size - used, " -- %s", short_site);
	}
	if (report->suppressed_blocks > 0 && used < size)
		used += (size_t)snprintf(buffer + used, size - used,
			" (%" PRIu64 " %s in %" PRIu64 " %s suppressed)", report->suppressed_bytes,
			plural(report->suppressed_bytes, "byte", "bytes"),
			report->suppressed_blocks,
			plural(report->suppressed_blocks, "allocation", "allocations"));
	if (report->reach.scanned && used < size) {
		char reach[512];
		run_reach_phrase(&report->reach, reach, sizeof(reach));
		used += (size_t)snprintf(buffer + used, size - used, " [%s]", reach);
	}
	if (report->incomplete && used < size)
		used += (size_t)snprintf(buffer + used, size - used, " [incomplete report]");
	if (!report->failing && !report->suppressed_only && !report->referenced_only && used < size)
		snprintf(buffer + used, size - used, " [not counted]");
}

/* ---- standard error ---- */

/* A directory as a shell word: quoted unless it is plain. */
static void shell_word(const char *text, char *buffer, size_t size)
{
	if (text[strspn(text,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_/.,:=+-")]
			== '\0'
		&& text[0] != '\0') {
		snprintf(buffer, size, "%s", text);
		return;
	}
	size_t used = (size_t)snprintf(buffer, size, "'");
	for (const char *c = text; *c != '\0' && used < size; c++)
		used += (size_t)snprintf(buffer + used, size - used, *c == '\'' ? "'\\''" : "%c",
			*c);
	if (used < size)
		snprintf(buffer + used, size - used, "'");
}

/*
 * Where a dead process's debug node is: the node_dir the command got, else
 * the default directory, else the module's fallback. False when none holds
 * one: a process publishes its node with its first pool (unless node=0), a
 * forked child only with fork_nodes=1.
 */
static bool find_node(const struct run_config *config, pid_t pid, char *dir, size_t size,
	bool *default_dir)
{
	struct debug_options options;
	char node[PATH_MAX + 32];
	struct stat status;

	debug_options_set_defaults(&options);
	debug_options_parse(config->area_malloc_options, &options, NULL, NULL);
	*default_dir = options.node_dir[0] == '\0';
	if (!*default_dir)
		snprintf(dir, size, "%s", options.node_dir);
	else
		node_default_dir(dir, size);
	snprintf(node, sizeof(node), "%s/%d", dir, (int)pid);
	if (stat(node, &status) == 0 && S_ISDIR(status.st_mode))
		return true;
	if (!*default_dir || !node_fallback_dir(dir, size))
		return false;
	*default_dir = false;
	snprintf(node, sizeof(node), "%s/%d", dir, (int)pid);
	return stat(node, &status) == 0 && S_ISDIR(status.st_mode);
}

static void point_at_node(const struct run_config *config, const struct run_process *process)
{
	char how[128], dir[PATH_MAX], word[4 * PATH_MAX + 8];
	bool default_dir;

	run_exit_describe(&process->exit, how, sizeof(how));
	fprintf(stderr, "pooldump run: pid %d (%s) was %s; ", (int)process->pid, process->name,
		how);
	if (!find_node(config, process->pid, dir, sizeof(dir), &default_dir)) {
		fprintf(stderr,
			"it left no debug node for a post-mortem (a process publishes "
			"one with its first pool, unless node=0; a forked child only with "
			"fork_nodes=1)\n");
		return;
	}
	word[0] = '\0';
	if (!default_dir) {
		memcpy(word, "--node-dir ", 11);
		shell_word(dir, word + 11, sizeof(word) - 12);
		strcat(word, " ");
	}
	fprintf(stderr,
		"its debug node is kept for a post-mortem: pooldump %s-p %d check "
		"(or pools, leaks, allocations)\n",
		word, (int)process->pid);
}

void echo_report(const struct run_report *report, const struct run_config *config)
{
	size_t length = strlen(report->text);

	if (length == 0)
		fprintf(stderr, "==%d==ERROR: area_malloc: %s (no text report: see %s)\n",
			(int)report->pid, report->kind, config->json_path);
	else
		fprintf(stderr, "%s%s", report->text, report->text[length - 1] == '\n' ? "" : "\n");
}

void print_reports(const struct run_results *results, const struct run_config *config)
{
	/* what was not echoed while the command ran: the reports written
	 * last, and those a killed process left unfinished */
	for (size_t p = 0; p < results->process_count && !config->quiet; p++) {
		const struct run_process *process = &results->processes[p];
		for (size_t r = process->echoed_reports; r < process->report_count; r++)
			echo_report(&process->reports[r], config);
	}
	for (size_t p = 0; p < results->process_count; p++) {
		if (results->processes[p].exit.known && results->processes[p].exit.signaled)
			point_at_node(config, &results->processes[p]);
	}
	fflush(stderr);
}

/* ---- standard output ---- */

void print_summary(const struct run_results *results, const struct run_config *config,
	int exit_status)
{
	struct run_totals totals;
	size_t lines = 0;

	run_results_totals(results, &totals);
	printf("area_malloc: %zu %s, %zu %s, %zu %s", results->process_count,
		plural(results->process_count, "process", "processes"), totals.errors,
		plural(totals.errors, "error", "errors"), totals.leak_reports,
		plural(totals.leak_reports, "leak report", "leak reports"));
	if (totals.leak_reports > 0)
		printf(" (%" PRIu64 " %s in %" PRIu64 " %s)", totals.leaked_bytes,
			plural(totals.leaked_bytes, "byte", "bytes"), totals.leaked_blocks,
			plural(totals.leaked_blocks, "allocation", "allocations"));
	if (totals.suppressed_blocks > 0)
		printf(", %" PRIu64 " %s in %" PRIu64 " %s suppressed", totals.suppressed_bytes,
			plural(totals.suppressed_bytes, "byte", "bytes"), totals.suppressed_blocks,
			plural(totals.suppressed_blocks, "allocation", "allocations"));
	if (totals.referenced_only > 0)
		printf(", %zu %s only still referenced (not counted)", totals.referenced_only,
			plural(totals.referenced_only, "leak report", "leak reports"));
	if (totals.informational > 0)
		printf(", %zu %s on request (not counted)", totals.informational,
			plural(totals.informational, "leak report", "leak reports"));
	putchar('\n');
	if (totals.reach.scanned) {
		char reach[512];
		run_reach_phrase(&totals.reach, reach, sizeof(reach));
		printf("area_malloc: reachability scan: %s\n", reach);
	}
	for (size_t p = 0; p < results->process_count; p++) {
		const struct run_process *process = &results->processes[p];
		for (size_t r = 0; r < process->report_count; r++) {
			const struct run_report *report = &process->reports[r];
			char who[256], what[1024];
			if (lines++ == SUMMARY_MAX_LINES)
				break;
			snprintf(who, sizeof(who), "pid %d %s%s%s%s", (int)process->pid,
				process->name, report->test != NULL ? " [" : "",
				report->test != NULL ? report->test : "",
				report->test != NULL ? "]" : "");
			describe_report(report, what, sizeof(what));
			printf("  %-26s %s\n", who, what);
		}
	}
	if (lines > SUMMARY_MAX_LINES)
		printf("  ... %zu more %s: see %s\n", totals.reports - SUMMARY_MAX_LINES,
			plural(totals.reports - SUMMARY_MAX_LINES, "report", "reports"),
			config->json_path);
	if (totals.unprinted_reports > 0)
		printf("  +%" PRIu64 " %s the debug module counted but did not print (identical to "
		       "one printed, or past max_reports)\n",
			totals.unprinted_reports,
			plural(totals.unprinted_reports, "report", "reports"));
	/* exit status 23 after reports is the debug module's: nothing new */
	if (results->main_exit.signaled
		|| (results->main_exit.status != 0
			&& (results->main_exit.status != RUN_STATUS_REPORTS
				|| exit_status != RUN_STATUS_REPORTS))) {
		char how[128];
		run_exit_describe(&results->main_exit, how, sizeof(how));
		printf("  command: %s\n", how);
	}
	if (results->warning_count > 0)
		printf("  %zu %s: see standard error and %s\n", results->warning_count,
			plural(results->warning_count, "warning", "warnings"), config->json_path);
	printf("junit: %s   json: %s\n", config->junit_path, config->json_path);
	printf("result: %s (exit %d)\n", exit_status == 0 ? "PASS" : "FAIL", exit_status);
}
