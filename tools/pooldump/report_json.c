/*
 * report_json.c - writes a run as one JSON document (json-c):
 *
 *   {"version": AREA_MALLOC_JSON_VERSION, "command": [argv],
 *    "exit_status": N (the runner's), "result": "PASS"|"FAIL",
 *    "command_exit": {"status": N|null, "signal": N|null, "signal_name": "SIGSEGV"|null,
 *                     "core_dumped": bool},
 *    "module_dir", "kernel_module_path", "area_malloc_options", "output_dir",
 *    "junit", "json", "seconds",
 *    "processes": [{"pid", "main", "name", "name_source", "command_line"|null,
 *                   "report_file"|null, "reports", "errors", "leak_reports",
 *                   "leaked_bytes", "leaked_blocks", "suppressed_bytes",
 *                   "suppressed_blocks", "unprinted_reports", "tests": [],
 *                   "scanned", "unreferenced_bytes", "unreferenced_blocks",
 *                   "indirect_bytes", "indirect_blocks", "referenced_bytes",
 *                   "referenced_blocks"}],
 *    "reports": [the debug module's JSON objects, in process order, each with
 *                "text", "summary", "failing" and "incomplete" added, and leak
 *                reports with "reach": {"unreferenced"|"indirect"|"referenced":
 *                {"bytes", "blocks"}} (null when no scan ran before the report)],
 *    "totals": {"processes", "reports", "errors", "leak_reports", "leaked_bytes",
 *               "leaked_blocks", "suppressed_bytes", "suppressed_blocks",
 *               "suppressed_reports", "referenced_reports", "unprinted_reports",
 *               "not_failing", "by_kind": {KIND: N}, "scanned" and the six
 *               verdict totals as in a process},
 *
 * A leak report whose every group was suppressed is listed in "reports"
 * (not failing, "leaked_blocks" 0) and counted in "suppressed_reports",
 * not in "not_failing"; so is one whose every group leak_mode=unreferenced
 * held back as still referenced, in "referenced_reports". The verdict
 * totals ("unreferenced_bytes" ...) add up every leak report made after a
 * reachability scan, failing or not; "scanned" says whether any was.
 *    "warnings": [strings]}
 *
 * Invariants: the report objects are shared with the model (reference
 * counted), not copied; every string is valid UTF-8 (report_files.h).
 *
 * Locking: none (single-threaded runner).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "format/options.h"
#include "report_json.h"

static const char *const name_sources[] = {
	[NAME_FROM_CMDLINE] = "cmdline",
	[NAME_FROM_COMMAND] = "command",
	[NAME_FROM_COMM] = "comm",
	[NAME_FROM_REPORT] = "report",
	[NAME_UNKNOWN] = "unknown",
};

/* A string member (valid UTF-8 whatever the bytes), or null. */
static struct json_object *string_or_null(const char *text)
{
	struct json_object *string;
	char *clean;

	if (text == NULL || (clean = utf8_clean(text, strlen(text), false)) == NULL)
		return NULL;
	string = json_object_new_string(clean);
	free(clean);
	return string;
}

static struct json_object *describe_exit(const struct run_exit *exit)
{
	struct json_object *object = json_object_new_object();
	const char *name = exit->known && exit->signaled ? sigabbrev_np(exit->status) : NULL;
	char signal_name[32];

	json_object_object_add(object, "status",
		exit->known && !exit->signaled ? json_object_new_int(exit->status) : NULL);
	json_object_object_add(object, "signal",
		exit->known && exit->signaled ? json_object_new_int(exit->status) : NULL);
	snprintf(signal_name, sizeof(signal_name), "SIG%s", name != NULL ? name : "");
	json_object_object_add(object, "signal_name", string_or_null(name ? signal_name : NULL));
	json_object_object_add(object, "core_dumped", json_object_new_boolean(exit->core_dumped));
	return object;
}

/* "scanned", "unreferenced_bytes", "unreferenced_blocks", "indirect_bytes"... */
static void add_reach(struct json_object *object, const struct run_reach_totals *reach)
{
	char key[64];

	json_object_object_add(object, "scanned", json_object_new_boolean(reach->scanned));
	for (int r = 0; r < RUN_REACH_COUNT; r++) {
		snprintf(key, sizeof(key), "%s_bytes", run_reach_keys[r]);
		json_object_object_add(object, key, json_object_new_uint64(reach->bytes[r]));
		snprintf(key, sizeof(key), "%s_blocks", run_reach_keys[r]);
		json_object_object_add(object, key, json_object_new_uint64(reach->blocks[r]));
	}
}

static struct json_object *describe_process(const struct run_process *process)
{
	struct run_reach_totals reach = { 0 };
	struct json_object *object = json_object_new_object(), *tests = json_object_new_array();
	size_t errors = 0, leak_reports = 0;
	uint64_t bytes = 0, blocks = 0, suppressed_bytes = 0, suppressed_blocks = 0;

	for (size_t r = 0; r < process->report_count; r++) {
		const struct run_report *report = &process->reports[r];
		bool listed = false;
		run_reach_add(&reach, &report->reach);
		suppressed_bytes += report->suppressed_bytes;
		suppressed_blocks += report->suppressed_blocks;
		if (report->failing && report->leak) {
			leak_reports++;
			bytes += report->leaked_bytes;
			blocks += report->leaked_blocks;
		} else if (report->failing) {
			errors++;
		}
		if (report->test == NULL)
			continue;
		for (size_t t = 0; t < json_object_array_length(tests) && !listed; t++)
			listed = strcmp(json_object_get_string(json_object_array_get_idx(tests, t)),
					 report->test)
				== 0;
		if (!listed)
			json_object_array_add(tests, json_object_new_string(report->test));
	}
	json_object_object_add(object, "pid", json_object_new_int(process->pid));
	json_object_object_add(object, "main", json_object_new_boolean(process->main));
	json_object_object_add(object, "name", json_object_new_string(process->name));
	json_object_object_add(object, "name_source",
		json_object_new_string(name_sources[process->name_source]));
	json_object_object_add(object, "command_line", string_or_null(process->command_line));
	json_object_object_add(object, "report_file", string_or_null(process->report_file));
	json_object_object_add(object, "reports", json_object_new_uint64(process->report_count));
	json_object_object_add(object, "errors", json_object_new_uint64(errors));
	json_object_object_add(object, "leak_reports", json_object_new_uint64(leak_reports));
	json_object_object_add(object, "leaked_bytes", json_object_new_uint64(bytes));
	json_object_object_add(object, "leaked_blocks", json_object_new_uint64(blocks));
	json_object_object_add(object, "suppressed_bytes",
		json_object_new_uint64(suppressed_bytes));
	json_object_object_add(object, "suppressed_blocks",
		json_object_new_uint64(suppressed_blocks));
	json_object_object_add(object, "unprinted_reports",
		json_object_new_uint64(process->unprinted_reports));
	json_object_object_add(object, "tests", tests);
	add_reach(object, &reach);
	return object;
}

static struct json_object *describe_totals(const struct run_results *results)
{
	struct json_object *object = json_object_new_object(), *by_kind = json_object_new_object();
	struct run_totals totals;

	run_results_totals(results, &totals);
	for (size_t p = 0; p < results->process_count; p++) {
		for (size_t r = 0; r < results->processes[p].report_count; r++) {
			const char *kind = results->processes[p].reports[r].kind;
			struct json_object *count;
			if (json_object_object_get_ex(by_kind, kind, &count))
				json_object_set_int64(count, json_object_get_int64(count) + 1);
			else
				json_object_object_add(by_kind, kind, json_object_new_int64(1));
		}
	}
	json_object_object_add(object, "processes", json_object_new_uint64(results->process_count));
	json_object_object_add(object, "reports", json_object_new_uint64(totals.reports));
	json_object_object_add(object, "errors", json_object_new_uint64(totals.errors));
	json_object_object_add(object, "leak_reports", json_object_new_uint64(totals.leak_reports));
	json_object_object_add(object, "leaked_bytes", json_object_new_uint64(totals.leaked_bytes));
	json_object_object_add(object, "leaked_blocks",
		json_object_new_uint64(totals.leaked_blocks));
	json_object_object_add(object, "suppressed_bytes",
		json_object_new_uint64(totals.suppressed_bytes));
	json_object_object_add(object, "suppressed_blocks",
		json_object_new_uint64(totals.suppressed_blocks));
	json_object_object_add(object, "suppressed_reports",
		json_object_new_uint64(totals.suppressed_only));
	json_object_object_add(object, "unprinted_reports",
		json_object_new_uint64(totals.unprinted_reports));
	json_object_object_add(object, "not_failing", json_object_new_uint64(totals.informational));
	json_object_object_add(object, "by_kind", by_kind);
	json_object_object_add(object, "referenced_reports",
		json_object_new_uint64(totals.referenced_only));
	add_reach(object, &totals.reach);
	return object;
}

bool report_json_write(const struct run_results *results, const struct run_description *description,
	FILE *out, char *error, size_t error_size)
{
	struct json_object *document = json_object_new_object();
	struct json_object *command = json_object_new_array();
	struct json_object *processes = json_object_new_array();
	struct json_object *reports = json_object_new_array();
	struct json_object *warnings = json_object_new_array();
	const char *text;
	char seconds[32];
	bool written;

	for (char *const *argument = description->command; *argument != NULL; argument++)
		json_object_array_add(command, string_or_null(*argument));
	for (size_t p = 0; p < results->process_count; p++) {
		const struct run_process *process = &results->processes[p];
		json_object_array_add(processes, describe_process(process));
		for (size_t r = 0; r < process->report_count; r++)
			json_object_array_add(reports, json_object_get(process->reports[r].object));
	}
	for (size_t w = 0; w < results->warning_count; w++)
		json_object_array_add(warnings, json_object_new_string(results->warnings[w].text));

	json_object_object_add(document, "version", json_object_new_int(AREA_MALLOC_JSON_VERSION));
	json_object_object_add(document, "command", command);
	json_object_object_add(document, "exit_status",
		json_object_new_int(description->exit_status));
	json_object_object_add(document, "result",
		json_object_new_string(description->exit_status == 0 ? "PASS" : "FAIL"));
	json_object_object_add(document, "command_exit", describe_exit(&results->main_exit));
	json_object_object_add(document, "module_dir", string_or_null(description->module_dir));
	json_object_object_add(document, "kernel_module_path",
		string_or_null(description->kernel_module_path));
	json_object_object_add(document, "area_malloc_options",
		string_or_null(description->options));
	json_object_object_add(document, "output_dir", string_or_null(description->output_dir));
	json_object_object_add(document, "junit", string_or_null(description->junit_path));
	json_object_object_add(document, "json", string_or_null(description->json_path));
	snprintf(seconds, sizeof(seconds), "%.3f", results->seconds);
	json_object_object_add(document, "seconds",
		json_object_new_double_s(results->seconds, seconds));
	json_object_object_add(document, "processes", processes);
	json_object_object_add(document, "reports", reports);
	json_object_object_add(document, "totals", describe_totals(results));
	json_object_object_add(document, "warnings", warnings);

	text = json_object_to_json_string_ext(document,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	written = text != NULL && fputs(text, out) >= 0 && fputc('\n', out) != EOF;
	if (!written)
		snprintf(error, error_size, "%s", text == NULL ? "out of memory" : strerror(errno));
	json_object_put(document);
	return written;
}
