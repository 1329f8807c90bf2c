/*
 * report_files.c - reading the debug module's log_path files (report.PID)
 * of a "pooldump run" into the run's model (report_files.h).
 *
 * A file is cleaned to valid UTF-8 first, then read line by line: an
 * "==PID==ERROR: area_malloc:" line opens a text report, the JSON line
 * that follows it closes the report; "==PID==area_malloc: N more ..." lines
 * count reports the module did not print. A process killed while writing
 * leaves a text report without its JSON line, or a JSON line cut short:
 * such a report is still counted (kind, pid and leak totals read from its
 * text) and marked incomplete, with a warning; anything else that is not
 * part of a report is skipped with a warning. Reports around the damage
 * are kept.
 *
 * Kinds are read through the project's one table of them (format/
 * error_kind.h): its leak column says which reports count as leaks, its
 * headlines say which kind a text report's first line names. A kind the
 * table lacks (a newer module's) is counted as an error under its own
 * name, as the module spelled it.
 *
 * Invariants: see report_files.h. A process's name only improves (a better
 * name source replaces a worse one, never the reverse).
 *
 * Locking: none (single-threaded runner).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/error_kind.h"
#include "report_files.h"

#define REPORT_FILE_PREFIX "report."
/* Larger report files are read up to this size (a warning says so): the
 * module prints max_reports (100) reports in full by default, a few KB each. */
#define REPORT_FILE_MAX ((size_t)32 << 20)

static void *checked_realloc(void *memory, size_t size)
{
	void *grown = realloc(memory, size);

	if (grown == NULL) {
		fputs("pooldump: out of memory\n", stderr);
		exit(125);
	}
	return grown;
}

static char *checked_strdup(const char *text)
{
	size_t length = strlen(text) + 1;

	return memcpy(checked_realloc(NULL, length), text, length);
}

void run_results_init(struct run_results *results)
{
	memset(results, 0, sizeof(*results));
}

static void process_free(struct run_process *process)
{
	for (size_t i = 0; i < process->report_count; i++)
		json_object_put(process->reports[i].object);
	free(process->reports);
	free(process->name);
	free(process->command_line);
	free(process->report_file);
}

void run_results_free(struct run_results *results)
{
	for (size_t i = 0; i < results->process_count; i++)
		process_free(&results->processes[i]);
	free(results->processes);
	for (size_t i = 0; i < results->warning_count; i++)
		free(results->warnings[i].text);
	free(results->warnings);
	memset(results, 0, sizeof(*results));
}

/* The pointer stays valid until the next process is added. */
struct run_process *run_results_process(struct run_results *results, pid_t pid)
{
	struct run_process *process;

	for (size_t i = 0; i < results->process_count; i++) {
		if (results->processes[i].pid == pid)
			return &results->processes[i];
	}
	results->processes = checked_realloc(results->processes,
		(results->process_count + 1) * sizeof(*results->processes));
	process = &results->processes[results->process_count++];
	memset(process, 0, sizeof(*process));
	process->pid = pid;
	process->name_source = NAME_UNKNOWN;
	return process;
}

void run_process_set_name(struct run_process *process, const char *command_line,
	const char *executable, enum process_name_source source)
{
	const char *base;

	if (source >= process->name_source || executable == NULL || executable[0] == '\0')
		return;
	base = strrchr(executable, '/');
	base = base != NULL && base[1] != '\0' ? base + 1 : executable;
	free(process->name);
	process->name = utf8_clean(base, strlen(base), false);
	if (process->name == NULL)
		process->name = checked_strdup("?");
	if (command_line != NULL) {
		free(process->command_line);
		process->command_line = utf8_clean(command_line, strlen(command_line), false);
	}
	process->name_source = source;
}

void run_results_warn(struct run_results *results, pid_t pid, const char *format, ...)
{
	struct run_warning *warning;
	char text[1024];
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(text, sizeof(text), format, arguments);
	va_end(arguments);
	results->warnings = checked_realloc(results->warnings,
		(results->warning_count + 1) * sizeof(*results->warnings));
	warning = &results->warnings[results->warning_count++];
	warning->pid = pid;
	warning->text = utf8_clean(text, strlen(text), false);
	if (warning->text == NULL)
		warning->text = checked_strdup("(warning lost: out of memory)");
}

void run_exit_describe(const struct run_exit *exit, char *buffer, size_t size)
{
	const char *name;

	if (!exit->known) {
		snprintf(buffer, size, "did not run");
	} else if (exit->signaled) {
		name = sigabbrev_np(exit->status);
		snprintf(buffer, size, "killed by signal %d (SIG%s)%s", exit->status,
			name != NULL ? name : "?", exit->core_dumped ? ", core dumped" : "");
	} else {
		snprintf(buffer, size, "exited with status %d", exit->status);
	}
}

/* ---- text ---- */

char *utf8_clean(const char *text, size_t length, bool for_xml)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *in = (const unsigned char *)text;
	char *out;
	size_t used = 0;

	if (length > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(length * 3 + 1); /* every byte may become U+FFFD */
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < length;) {
		unsigned lead = in[i];
		size_t bytes = 0;
		uint32_t code = 0;
		bool valid;

		if (lead < 0x80) {
			bytes = 1;
			code = lead;
		} else if (lead >= 0xc2 && lead <= 0xdf) {
			bytes = 2;
			code = lead & 0x1f;
		} else if (lead >= 0xe0 && lead <= 0xef) {
			bytes = 3;
			code = lead & 0x0f;
		} else if (lead >= 0xf0 && lead <= 0xf4) {
			bytes = 4;
			code = lead & 0x07;
		}
		valid = bytes > 0 && i + bytes <= length;
		for (size_t k = 1; valid && k < bytes; k++) {
			valid = (in[i + k] & 0xc0) == 0x80;
			code = code << 6 | (in[i + k] & 0x3f);
		}
		if (valid
			&& ((bytes == 3 && code < 0x800) || (bytes == 4 && code < 0x10000)
				|| code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)))
			valid = false;
		if (!valid) {
			/* one byte at a time: what follows a bad lead byte is
			 * read again, as a lead byte */
			memcpy(out + used, replacement, 3);
			used += 3;
			i++;
			continue;
		}
		if (code == 0
			|| (for_xml
				&& ((code < 0x20 && code != '\t' && code != '\n' && code != '\r')
					|| code == 0xfffe || code == 0xffff))) {
			memcpy(out + used, replacement, 3);
			used += 3;
		} else {
			memcpy(out + used, in + i, bytes);
			used += bytes;
		}
		i += bytes;
	}
	out[used] = '\0';
	return out;
}

/*
 * Splits "function+0x1f (image) dir/file.c:12" (symbolize.c's
 * symbol_format()). The image part is the last " (" group: a C++ function
 * name may hold parentheses of its own.
 */
struct symbol_parts {
	const char *function;
	size_t function_length;
	const char *image;
	size_t image_length;
	const char *location; /* "" when none */
};

static bool symbol_split(const char *symbol, struct symbol_parts *parts)
{
	const char *open = NULL, *close, *offset;

	for (const char *cursor = strstr(symbol, " ("); cursor != NULL;
		cursor = strstr(cursor + 1, " ("))
		open = cursor;
	if (open == NULL || (close = strchr(open, ')')) == NULL)
		return false;
	parts->function = symbol;
	parts->function_length = (size_t)(open - symbol);
	for (const char *cursor = symbol; cursor < open; cursor++) {
		if (strncmp(cursor, "+0x", 3) == 0)
			parts->function_length = (size_t)(cursor - symbol);
	}
	parts->image = open + 2;
	parts->image_length = (size_t)(close - parts->image);
	/* "image+0x10, deleted": the offset and the trouble are not the name */
	offset = parts->image;
	while (offset < close && *offset != '+' && *offset != ',')
		offset++;
	parts->image_length = (size_t)(offset - parts->image);
	parts->location = close[1] == ' ' ? close + 2 : "";
	return true;
}

void symbol_short(const char *symbol, char *buffer, size_t size)
{
	struct symbol_parts parts;
	const char *file;

	if (!symbol_split(symbol, &parts)) {
		snprintf(buffer, size, "%s", symbol);
		return;
	}
	file = strrchr(parts.location, '/');
	file = file != NULL ? file + 1 : parts.location;
	if (file[0] != '\0')
		snprintf(buffer, size, "%.*s %s", (int)parts.function_length, parts.function, file);
	else
		snprintf(buffer, size, "%.*s (%.*s)", (int)parts.function_length, parts.function,
			(int)parts.image_length, parts.image);
}

bool symbol_image(const char *symbol, char *buffer, size_t size)
{
	struct symbol_parts parts;

	if (!symbol_split(symbol, &parts) || parts.image_length == 0)
		return false;
	snprintf(buffer, size, "%.*s", (int)parts.image_length, parts.image);
	return true;
}

/* ---- one file ---- */

/* What follows "==PID==" + tail at the start of line, or NULL. */
static const char *after_pid_prefix(const char *line, const char *tail, long *pid)
{
	const char *cursor = line;
	char *end;

	if (strncmp(cursor, "==", 2) != 0 || !isdigit((unsigned char)cursor[2]))
		return NULL;
	errno = 0;
	*pid = strtol(cursor + 2, &end, 10);
	if (errno != 0 || strncmp(end, "==", 2) != 0)
		return NULL;
	cursor = end + 2;
	if (strncmp(cursor, tail, strlen(tail)) != 0)
		return NULL;
	return cursor + strlen(tail);
}

const char *report_member_string(struct json_object *object, const char *key)
{
	struct json_object *member;

	if (!json_object_object_get_ex(object, key, &member)
		|| !json_object_is_type(member, json_type_string))
		return NULL;
	return json_object_get_string(member);
}

uint64_t report_member_number(struct json_object *object, const char *key)
{
	struct json_object *member;

	if (!json_object_object_get_ex(object, key, &member)
		|| !json_object_is_type(member, json_type_int))
		return 0;
	return json_object_get_uint64(member);
}

/* The last "SUMMARY: " line of text, else its first line. */
static void summary_line(const char *text, size_t length, const char **line, size_t *line_length)
{
	const char *first_end = memchr(text, '\n', length);

	*line = text;
	*line_length = first_end != NULL ? (size_t)(first_end - text) : length;
	for (const char *cursor = text; cursor < text + length;) {
		const char *end = memchr(cursor, '\n', (size_t)(text + length - cursor));
		size_t current =
			end != NULL ? (size_t)(end - cursor) : (size_t)(text + length - cursor);
		if (current >= 9 && strncmp(cursor, "SUMMARY: ", 9) == 0) {
			*line = cursor;
			*line_length = current;
		}
		cursor += current + 1;
	}
}

const char *const run_reach_keys[RUN_REACH_COUNT] = {
	[RUN_REACH_UNREFERENCED] = "unreferenced",
	[RUN_REACH_INDIRECT] = "indirect",
	[RUN_REACH_REFERENCED] = "referenced",
};

/* The module's words for them, as its "(first block ...)" lines print them. */
static const char *const reach_names[RUN_REACH_COUNT] = {
	[RUN_REACH_UNREFERENCED] = "unreferenced",
	[RUN_REACH_INDIRECT] = "indirectly lost",
	[RUN_REACH_REFERENCED] = "still referenced",
};

void run_reach_add(struct run_reach_totals *sum, const struct run_reach_totals *reach)
{
	sum->scanned |= reach->scanned;
	for (int r = 0; r < RUN_REACH_COUNT; r++) {
		sum->bytes[r] += reach->bytes[r];
		sum->blocks[r] += reach->blocks[r];
	}
}

void run_reach_phrase(const struct run_reach_totals *reach, char *buffer, size_t size)
{
	size_t used = 0;

	buffer[0] = '\0';
	for (int r = 0; r < RUN_REACH_COUNT && reach->scanned && used < size; r++) {
		if (reach->blocks[r] == 0)
			continue;
		used += (size_t)snprintf(buffer + used, size - used,
			"%s%s: %" PRIu64 " byte(s) in %" PRIu64 " allocation(s)",
			used > 0 ? ", " : "", reach_names[r], reach->bytes[r], reach->blocks[r]);
	}
}

/*
 * What the scan found of a leak report's blocks: each listed group's
 * "reach" (a group without one was not scanned), and the still referenced
 * blocks leak_mode=unreferenced held back from the list.
 */
static void read_reach(struct json_object *object, struct run_reach_totals *reach)
{
	struct json_object *groups;
	uint64_t held_back = report_member_number(object, "referenced_blocks");

	if (held_back > 0) {
		reach->scanned = true;
		reach->blocks[RUN_REACH_REFERENCED] += held_back;
		reach->bytes[RUN_REACH_REFERENCED] +=
			report_member_number(object, "referenced_bytes");
	}
	if (!json_object_object_get_ex(object, "groups", &groups)
		|| !json_object_is_type(groups, json_type_array))
		return;
	for (size_t g = 0; g < json_object_array_length(groups); g++) {
		struct json_object *group = json_object_array_get_idx(groups, g);
		const char *key = report_member_string(group, "reach");
		for (int r = 0; key != NULL && r < RUN_REACH_COUNT; r++) {
			if (strcmp(key, run_reach_keys[r]) != 0)
				continue;
			reach->scanned = true;
			reach->bytes[r] += report_member_number(group, "bytes");
			reach->blocks[r] += report_member_number(group, "count");
		}
	}
}

/* The runner's "reach" member of a scanned report: {"unreferenced":
 * {"bytes": N, "blocks": M}, "indirect": ..., "referenced": ...}. */
static struct json_object *reach_object(const struct run_reach_totals *reach)
{
	struct json_object *object = json_object_new_object();

	for (int r = 0; r < RUN_REACH_COUNT; r++) {
		struct json_object *counts = json_object_new_object();
		json_object_object_add(counts, "bytes", json_object_new_uint64(reach->bytes[r]));
		json_object_object_add(counts, "blocks", json_object_new_uint64(reach->blocks[r]));
		json_object_object_add(object, run_reach_keys[r], counts);
	}
	return object;
}

/* How the module's report starts when leak_mode=unreferenced held every
 * group back (report_leaks.c). */
#define HELD_BACK_LINE "Still referenced, not leaks with leak_mode=unreferenced: "

/* The first line of a leak report that lists no group: its "Suppressions
 * used:" table (every group suppressed) or its "Still referenced" line
 * (leak_mode=unreferenced held every group back). */
static bool opens_listless_report(const char *line, size_t length)
{
	return (length == 18 && strncmp(line, "Suppressions used:", 18) == 0)
		|| strncmp(line, HELD_BACK_LINE, strlen(HELD_BACK_LINE)) == 0;
}

/* Adds a report made of object (taken over) and its text report. */
static void add_report(struct run_process *process, struct json_object *object, const char *text,
	size_t text_length, bool incomplete)
{
	struct run_report *report;
	const char *summary;
	size_t summary_length;
	const char *when;

	summary_line(text, text_length, &summary, &summary_length);
	json_object_object_add(object, "text", json_object_new_string_len(text, (int)text_length));
	if (summary_length > 0)
		json_object_object_add(object, "summary",
			json_object_new_string_len(summary, (int)summary_length));
	else
		json_object_object_add(object, "summary",
			json_object_new_string(report_member_string(object, "kind")));
	json_object_object_add(object, "incomplete", json_object_new_boolean(incomplete));

	process->reports = checked_realloc(process->reports,
		(process->report_count + 1) * sizeof(*process->reports));
	report = &process->reports[process->report_count++];
	memset(report, 0, sizeof(*report));
	report->object = object;
	report->pid = process->pid;
	report->kind = report_member_string(object, "kind");
	report->test = report_member_string(object, "test");
	report->text = report_member_string(object, "text");
	report->summary = report_member_string(object, "summary");
	report->incomplete = incomplete;
	/* a kind not in the table is an error: its row ("unknown") is no leak */
	report->leak = error_kind_info(error_kind_from_name(report->kind))->leak;
	when = report_member_string(object, "when");
	report->failing = !report->leak || when == NULL || strcmp(when, "on request") != 0;
	if (report->leak) {
		report->leaked_bytes = report_member_number(object, "leaked_bytes");
		report->leaked_blocks = report_member_number(object, "leaked_blocks");
		report->suppressed_bytes = report_member_number(object, "suppressed_bytes");
		report->suppressed_blocks = report_member_number(object, "suppressed_blocks");
		/* the module made no report of it: its "Suppressions used" table */
		report->suppressed_only =
			!incomplete && report->leaked_blocks == 0 && report->suppressed_blocks > 0;
		read_reach(object, &report->reach);
		report->referenced_only = !incomplete && !report->suppressed_only
			&& report->leaked_blocks == 0
			&& report->reach.blocks[RUN_REACH_REFERENCED] > 0;
		report->failing &= !report->suppressed_only && !report->referenced_only;
		json_object_object_add(object, "reach",
			report->reach.scanned ? reach_object(&report->reach) : NULL);
	}
	json_object_object_add(object, "failing", json_object_new_boolean(report->failing));
}

/*
 * A text report whose JSON line never came: its kind, pid and leak totals
 * are read from the text ("==PID==ERROR: area_malloc: HEADLINE..." and
 * "SUMMARY: area_malloc: N byte(s) leaked in M allocation(s).").
 */
static void add_incomplete_report(struct run_process *process, const char *text, size_t length)
{
	struct json_object *object = json_object_new_object();
	const char *headline, *kind_end, *summary;
	size_t summary_length;
	long pid = process->pid;
	unsigned long long bytes, blocks;
	enum error_kind kind;

	headline = after_pid_prefix(text, "ERROR: area_malloc: ", &pid);
	if (headline == NULL)
		headline = "unknown";
	kind = error_kind_from_headline(headline);
	if (kind != ERROR_KIND_NONE) {
		json_object_object_add(object, "kind",
			json_object_new_string(error_kind_name(kind)));
		json_object_object_add(object, "kind_key",
			json_object_new_string(error_kind_info(kind)->key));
	} else {
		/* a headline the table lacks: "KIND on address ...", else the
		 * whole first line */
		kind_end = strstr(headline, " on address ");
		if (kind_end == NULL
			|| memchr(headline, '\n', (size_t)(kind_end - headline)) != NULL)
			kind_end = headline + strcspn(headline, "\n");
		json_object_object_add(object, "kind",
			json_object_new_string_len(headline, (int)(kind_end - headline)));
	}
	json_object_object_add(object, "pid", json_object_new_int64(pid));
	summary_line(text, length, &summary, &summary_length);
	if (sscanf(summary, "SUMMARY: area_malloc: %llu byte(s) leaked in %llu allocation(s).",
		    &bytes, &blocks)
		== 2) {
		json_object_object_add(object, "leaked_bytes", json_object_new_uint64(bytes));
		json_object_object_add(object, "leaked_blocks", json_object_new_uint64(blocks));
	}
	add_report(process, object, text, length, true);
}

/* The JSON object that is exactly this line, or NULL. */
static struct json_object *parse_json_line(struct json_tokener *tokener, const char *line,
	size_t length)
{
	struct json_object *object;
	size_t end;

	if (length > INT_MAX)
		return NULL;
	json_tokener_reset(tokener);
	object = json_tokener_parse_ex(tokener, line, (int)length);
	if (object == NULL)
		return NULL; /* malformed, or cut short (json_tokener_continue) */
	end = json_tokener_get_parse_end(tokener);
	while (end < length && isspace((unsigned char)line[end]))
		end++;
	if (end != length || !json_object_is_type(object, json_type_object)
		|| report_member_string(object, "kind") == NULL) {
		json_object_put(object);
		return NULL;
	}
	return object;
}

struct file_parse {
	struct run_results *results;
	struct run_process *process;
	const char *file_name;
	const char *report_start; /* the open text report, or NULL */
	size_t report_line;
};

/* Closes the open text report, if any, as incomplete (why: what ended it). */
static void close_incomplete(struct file_parse *parse, const char *end, const char *why)
{
	if (parse->report_start == NULL)
		return;
	run_results_warn(parse->results, parse->process->pid,
		"%s: line %zu: a report without its JSON line (%s; was the process killed while "
		"writing?): counted from its text",
		parse->file_name, parse->report_line, why);
	add_incomplete_report(parse->process, parse->report_start,
		(size_t)(end - parse->report_start));
	parse->report_start = NULL;
}

void report_file_parse(struct run_results *results, struct run_process *process,
	const char *file_name, const char *data, size_t length)
{
	struct file_parse parse = { results, process, file_name, NULL, 0 };
	size_t line_number = 0, stray_lines = 0, first_stray = 0;
	struct json_tokener *tokener;
	char *clean;

	clean = utf8_clean(data, length, false);
	tokener = json_tokener_new();
	if (clean == NULL || tokener == NULL) {
		run_results_warn(results, process->pid, "%s: out of memory, not read", file_name);
		free(clean);
		if (tokener != NULL)
			json_tokener_free(tokener);
		return;
	}
	for (const char *line = clean; *line != '\0';) {
		const char *end = strchr(line, '\n');
		const char *next = end != NULL ? end + 1 : line + strlen(line);
		size_t line_length = end != NULL ? (size_t)(end - line) : strlen(line);
		unsigned long long unprinted;
		const char *rest;
		long pid;

		line_number++;
		if (after_pid_prefix(line, "ERROR: area_malloc: ", &pid) != NULL
			|| (parse.report_start == NULL
				&& opens_listless_report(line, line_length))) {
			/* a leak report whose every group is suppressed (or, with
			 * leak_mode=unreferenced, still referenced): its table or
			 * its line alone, then its JSON line */
			close_incomplete(&parse, line, "another report follows");
			parse.report_start = line;
			parse.report_line = line_number;
		} else if (line[0] == '{') {
			struct json_object *object = parse_json_line(tokener, line, line_length);
			if (object != NULL) {
				/* the text ends where its JSON line begins */
				add_report(process, object,
					parse.report_start ? parse.report_start : line,
					parse.report_start ? (size_t)(line - parse.report_start)
							   : 0,
					false);
				parse.report_start = NULL;
			} else if (parse.report_start != NULL) {
				close_incomplete(&parse, line,
					end != NULL ? "its JSON line is malformed"
						    : "its JSON line is cut short");
			} else {
				run_results_warn(results, process->pid,
					"%s: line %zu: a malformed JSON line outside any report, ignored",
					file_name, line_number);
			}
		} else if ((rest = after_pid_prefix(line, "area_malloc: ", &pid)) != NULL
			&& sscanf(rest, "%llu more ", &unprinted) == 1) {
			close_incomplete(&parse, line, "the totals follow");
			process->unprinted_reports += unprinted;
		} else if (parse.report_start == NULL && line_length > 0) {
			if (stray_lines++ == 0)
				first_stray = line_number;
		}
		line = next;
	}
	close_incomplete(&parse, clean + strlen(clean), "the file ends");
	if (stray_lines > 0)
		run_results_warn(results, process->pid,
			"%s: %zu line(s) outside any report ignored (the first is line %zu)",
			file_name, stray_lines, first_stray);
	json_tokener_free(tokener);
	free(clean);
}

/* ---- the directory ---- */

pid_t report_file_pid(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, REPORT_FILE_PREFIX, strlen(REPORT_FILE_PREFIX)) != 0)
		return 0;
	name += strlen(REPORT_FILE_PREFIX);
	if (!isdigit((unsigned char)name[0]))
		return 0;
	errno = 0;
	pid = strtol(name, &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 0 || pid > INT32_MAX)
		return 0;
	return (pid_t)pid;
}

/* Reads a whole regular file (at most REPORT_FILE_MAX bytes). */
static char *read_report_file(struct run_results *results, pid_t pid, int dir_fd, const char *name,
	const char *path, size_t *length)
{
	struct stat status;
	char *data = NULL;
	size_t size;
	ssize_t got;
	int fd;

	*length = 0;
	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &status) != 0) {
		run_results_warn(results, pid, "%s: cannot read: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(status.st_mode)) {
		run_results_warn(results, pid, "%s: not a regular file, ignored", path);
		close(fd);
		return NULL;
	}
	size = (size_t)status.st_size;
	if (size > REPORT_FILE_MAX) {
		run_results_warn(results, pid, "%s: %zu bytes, only the first %zu read", path, size,
			REPORT_FILE_MAX);
		size = REPORT_FILE_MAX;
	}
	data = checked_realloc(NULL, size + 1);
	while (*length < size) {
		got = read(fd, data + *length, size - *length);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			run_results_warn(results, pid, "%s: read error: %s", path, strerror(errno));
		if (got <= 0)
			break;
		*length += (size_t)got;
	}
	close(fd);
	return data;
}

struct run_process *report_file_read(struct run_results *results, int dir_fd, const char *dir,
	const char *name)
{
	pid_t pid = report_file_pid(name);
	struct run_process *process;
	char path[PATH_MAX];
	size_t length;
	char *data;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (pid == 0) {
		if (strncmp(name, REPORT_FILE_PREFIX, strlen(REPORT_FILE_PREFIX)) == 0)
			run_results_warn(results, 0, "%s: not a report.PID file, ignored", path);
		return NULL;
	}
	data = read_report_file(results, pid, dir_fd, name, path, &length);
	process = run_results_process(results, pid);
	free(process->report_file);
	process->report_file = checked_strdup(path);
	if (data != NULL)
		report_file_parse(results, process, path, data, length);
	free(data);
	return process;
}

bool report_dir_read(struct run_results *results, const char *dir)
{
	struct dirent *entry;
	DIR *directory;

	directory = opendir(dir);
	if (directory == NULL)
		return false;
	while ((entry = readdir(directory)) != NULL)
		report_file_read(results, dirfd(directory), dir, entry->d_name);
	closedir(directory);
	return true;
}

/* ---- finishing ---- */

/* The first frame's symbol of owner (an "allocated_by"-like object). */
static const char *owner_symbol(struct json_object *owner)
{
	struct json_object *frames, *frame;

	if (owner == NULL || !json_object_object_get_ex(owner, "frames", &frames)
		|| !json_object_is_type(frames, json_type_array)
		|| json_object_array_length(frames) == 0)
		return NULL;
	frame = json_object_array_get_idx(frames, 0);
	return json_object_is_type(frame, json_type_object) ? report_member_string(frame, "symbol")
							    : NULL;
}

const char *report_owner_symbol(struct json_object *object, const char *key)
{
	struct json_object *owner;

	if (object == NULL || !json_object_object_get_ex(object, key, &owner))
		return NULL;
	return owner_symbol(owner);
}

/* The image that created the pool of a report (else allocated its block,
 * else made the call): the driver's executable more often than not. */
static bool name_from_report(const struct run_report *report, char *buffer, size_t size)
{
	struct json_object *pool, *creator = NULL, *owner = NULL, *groups;
	const char *symbol;

	if (json_object_object_get_ex(report->object, "pool", &pool))
		json_object_object_get_ex(pool, "creator", &creator);
	if ((symbol = owner_symbol(creator)) != NULL && symbol_image(symbol, buffer, size))
		return true;
	if (json_object_object_get_ex(report->object, "groups", &groups)
		&& json_object_is_type(groups, json_type_array)
		&& json_object_array_length(groups) > 0)
		json_object_object_get_ex(json_object_array_get_idx(groups, 0), "allocated_by",
			&owner);
	else if (!json_object_object_get_ex(report->object, "allocated_by", &owner))
		json_object_object_get_ex(report->object, "detected_by", &owner);
	return (symbol = owner_symbol(owner)) != NULL && symbol_image(symbol, buffer, size);
}

static int process_order(const void *left, const void *right)
{
	const struct run_process *a = left, *b = right;

	if (a->main != b->main)
		return a->main ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

void run_results_finish(struct run_results *results)
{
	for (size_t i = 0; i < results->process_count; i++) {
		struct run_process *process = &results->processes[i];
		char image[256];

		for (size_t r = 0;
			r < process->report_count && process->name_source > NAME_FROM_REPORT; r++) {
			if (name_from_report(&process->reports[r], image, sizeof(image)))
				run_process_set_name(process, NULL, image, NAME_FROM_REPORT);
		}
		/* never its pid: the name is a JUnit suite's, which must be the
		 * same in the next run */
		if (process->name == NULL)
			process->name = checked_strdup("unknown");
	}
	qsort(results->processes, results->process_count, sizeof(*results->processes),
		process_order);
}

void run_results_totals(const struct run_results *results, struct run_totals *totals)
{
	memset(totals, 0, sizeof(*totals));
	for (size_t i = 0; i < results->process_count; i++) {
		const struct run_process *process = &results->processes[i];
		totals->unprinted_reports += process->unprinted_reports;
		for (size_t r = 0; r < process->report_count; r++) {
			const struct run_report *report = &process->reports[r];
			totals->reports++;
			totals->suppressed_bytes += report->suppressed_bytes;
			totals->suppressed_blocks += report->suppressed_blocks;
			run_reach_add(&totals->reach, &report->reach);
			if (report->suppressed_only)
				totals->suppressed_only++;
			else if (report->referenced_only)
				totals->referenced_only++;
			else if (!report->failing) {
				totals->informational++;
			} else if (report->leak) {
				totals->leak_reports++;
				totals->leaked_bytes += report->leaked_bytes;
				totals->leaked_blocks += report->leaked_blocks;
			} else {
				totals->errors++;
			}
		}
	}
}
