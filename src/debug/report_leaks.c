/*
 * report_leaks.c - leak reports (report_leaks in report.h) and the
 * suppressions that hide some of their groups.
 *
 * A group is suppressed when a leak:PATTERN line matches the function,
 * source file or image of any of its frames (fnmatch, or as a substring,
 * as LSan's). Suppressed groups are counted, never hidden: the report's
 * "Suppressions used" table, its SUMMARY line and its JSON object say how
 * many bytes and blocks each pattern took. A report whose every group is
 * suppressed is that table alone (no ERROR line, no SUMMARY line: log
 * scrapers must not fail a clean run), is not offered to the hook and does
 * not count toward the exit status.
 *
 * At exit each group carries the reachability scan's verdict, printed on
 * its "(first block ...)" line and in its JSON object ("reach"), with the
 * first block's age (time since its allocation: "1.250 s old", "age_us"),
 * kmemleak's and pooldump scan's measure of how long it has been lost. With
 * leak_mode=unreferenced a group still referenced is no leak: it is
 * counted on one "still referenced" line, never listed, and, as a
 * suppressed group, counts toward no exit status.
 *
 * Invariants: suppressions[0, suppression_count) are the file's patterns,
 * loaded once by reporter_init; hits and bytes only grow.
 *
 * Locking: reporter_lock (report_internal.h) protects the suppressions and
 * everything a report formats.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/report_internal.h"
#include "format/safe_file.h"

#define MAX_SUPPRESSIONS 256

struct suppression {
	char pattern[256];
	uint64_t hits;
	uint64_t bytes;
};

static struct suppression suppressions[MAX_SUPPRESSIONS];
static size_t suppression_count;

/* Bounds on what a suppressions file may cost: its size, and the warnings
 * about its lines (the rest are counted in one line). */
#define SUPPRESSIONS_MAX_BYTES (1 << 20)
#define SUPPRESSION_WARNINGS_MAX 10

void suppressions_load(const char *path)
{
	char line[512], why[PATH_MAX + 128];
	unsigned ignored = 0;
	FILE *file;
	int number = 0, fd;

	suppression_count = 0;
	if (path == NULL || path[0] == '\0')
		return;
	/* a regular file of bounded size: a FIFO, a device or /dev/zero would
	 * hang or flood get_module */
	fd = safe_open_regular(path, SUPPRESSIONS_MAX_BYTES, why, sizeof(why));
	file = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (file == NULL) {
		if (fd >= 0) {
			snprintf(why, sizeof(why), "cannot read %s: %s", path, strerror(errno));
			close(fd);
		}
		dprintf("area_malloc: suppressions: %s; no suppressions\n", why);
		return;
	}
	while (fgets(line, sizeof(line), file) != NULL) {
		char *text = line;
		size_t length;

		number++;
		while (*text == ' ' || *text == '\t')
			text++;
		length = strcspn(text, "\r\n");
		text[length] = '\0';
		while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\t'))
			text[--length] = '\0';
		if (text[0] == '\0' || text[0] == '#')
			continue;
		if (strncmp(text, "leak:", 5) != 0 || text[5] == '\0') {
			if (ignored++ < SUPPRESSION_WARNINGS_MAX)
				dprintf("area_malloc: %s:%d: not a 'leak:PATTERN' line, ignored: "
					"%.80s\n",
					path, number, text);
			continue;
		}
		if (suppression_count == MAX_SUPPRESSIONS) {
			dprintf("area_malloc: %s: more than %d suppressions, the rest ignored\n",
				path, MAX_SUPPRESSIONS);
			break;
		}
		snprintf(suppressions[suppression_count].pattern,
			sizeof(suppressions[suppression_count].pattern), "%s", text + 5);
		suppressions[suppression_count].hits = 0;
		suppressions[suppression_count].bytes = 0;
		suppression_count++;
	}
	if (ignored > SUPPRESSION_WARNINGS_MAX)
		dprintf("area_malloc: %s: %u more lines that are not 'leak:PATTERN' ignored\n",
			path, ignored - SUPPRESSION_WARNINGS_MAX);
	fclose(file);
}

/* Which suppression (if any) matches a frame of the group; with the lock. */
static struct suppression *find_suppression(const struct leak_group *group)
{
	for (uint32_t i = 0; i < group->owner.frame_count && group->owner.frames[i] != 0; i++) {
		struct symbol_info info;
		if (!reporter_symbolize_locked(group->owner.frames[i], &info))
			continue;
		for (size_t s = 0; s < suppression_count; s++) {
			const char *pattern = suppressions[s].pattern;
			const char *names[] = { info.function, info.file, info.image,
				info.image_path };
			for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
				if (names[n][0] == '\0')
					continue;
				if (fnmatch(pattern, names[n], 0) == 0
					|| strstr(names[n], pattern) != NULL)
					return &suppressions[s];
			}
		}
	}
	return NULL;
}

/* What one leak report found, suppressions applied. */
struct leak_tally {
	bool *suppressed; /* per group; NULL: out of memory, none */
	struct suppression *used[MAX_SUPPRESSIONS];
	uint64_t used_count_of[MAX_SUPPRESSIONS], used_bytes_of[MAX_SUPPRESSIONS];
	size_t used_count;
	size_t bytes, blocks; /* not suppressed */
	size_t suppressed_bytes, suppressed_blocks;
	size_t referenced_bytes, referenced_blocks; /* held back by leak_mode */
	bigtime_t now;                              /* the groups' ages are taken at this time */
};

/* leak_mode=unreferenced: a group a root still reaches is no leak. */
static bool held_back(const struct leak_group *group)
{
	return reporter_options != NULL && reporter_options->leak_mode == LEAK_MODE_UNREFERENCED
		&& group->reach == LEAK_REACH_REFERENCED;
}

/* Is group g listed as a leak (neither suppressed nor held back)? */
static bool listed(const struct leak_report *report, const struct leak_tally *tally, size_t g)
{
	return !held_back(&report->groups[g])
		&& (tally->suppressed == NULL || !tally->suppressed[g]);
}

/* Applies the suppressions to every group; with the lock. */
static void tally_leaks_locked(const struct leak_report *report, struct leak_tally *tally)
{
	for (size_t g = 0; g < report->group_count; g++) {
		const struct leak_group *group = &report->groups[g];
		struct suppression *match;
		size_t u = 0;
		if (held_back(group)) {
			tally->referenced_bytes += group->bytes;
			tally->referenced_blocks += group->count;
			continue;
		}
		match = find_suppression(group);
		if (match == NULL || tally->suppressed == NULL) {
			tally->bytes += group->bytes;
			tally->blocks += group->count;
			continue;
		}
		tally->suppressed[g] = true;
		tally->suppressed_bytes += group->bytes;
		tally->suppressed_blocks += group->count;
		while (u < tally->used_count && tally->used[u] != match)
			u++;
		if (u == tally->used_count)
			tally->used[tally->used_count++] = match;
		tally->used_count_of[u] += group->count;
		tally->used_bytes_of[u] += group->bytes;
		match->hits += group->count;
		match->bytes += group->bytes;
	}
}

/* A ready-made suppression of a group: "leak:FUNCTION" of its first frame
 * whose function is known and no program entry (symbol_is_program_entry:
 * "leak:main" would hide every leak); pooldump's leaks suggests the same.
 * With the lock. false when no frame qualifies. */
static bool suggest_suppression_locked(const struct leak_group *group, char *buffer, size_t size)
{
	const area_malloc_owner *owner = &group->owner;
	struct symbol_info info;

	for (uint32_t i = 0;
		i < owner->frame_count && i < AREA_MALLOC_MAX_FRAMES && owner->frames[i] != 0;
		i++) {
		if (reporter_symbolize_locked(owner->frames[i], &info) && info.function[0] != '\0'
			&& !symbol_is_program_entry(info.function)) {
			snprintf(buffer, size, "leak:%s", info.function);
			return true;
		}
	}
	return false;
}

/* Microseconds since the group's first block was allocated (its time is
 * the owner clock, CLOCK_MONOTONIC as system_time(), but coarse: a block
 * made a moment ago may look a few milliseconds younger than 0). */
static int64_t group_age(const struct leak_group *group, bigtime_t now)
{
	int64_t age = (int64_t)now - (int64_t)group->owner.time;

	return age > 0 ? age : 0;
}

/* A leak group as every JSON document shows it (pooldump --json leaks too):
 * pool, caller, address, count, bytes, first_address, thread, seq, frames,
 * allocated_by, suppression. */
static void json_leak_group(FILE *out, const struct leak_report *report,
	const struct leak_group *group, bigtime_t now)
{
	char frame[2048], suggestion[300];

	fprintf(out, "{\"pool\":%d,\"caller\":", (int)report->pool.area);
	reporter_json_string(out,
		reporter_frame_locked(group->owner.frames[0], frame, sizeof(frame)));
	fprintf(out,
		",\"address\":\"0x%" PRIxPTR "\",\"count\":%zu,\"bytes\":%zu,"
		"\"first_address\":\"0x%" PRIxPTR "\",\"thread\":%d,\"seq\":%u,",
		(uintptr_t)group->owner.frames[0], group->count, group->bytes,
		(uintptr_t)group->first_address, (int)group->owner.thread, group->owner.sequence);
	if (leak_reach_key(group->reach) != NULL)
		fprintf(out, "\"reach\":\"%s\",\"age_us\":%" PRId64 ",",
			leak_reach_key(group->reach), group_age(group, now));
	reporter_json_frames(out, &group->owner);
	reporter_json_owner(out, "allocated_by", &group->owner);
	fputs(",\"suppression\":", out);
	if (suggest_suppression_locked(group, suggestion, sizeof(suggestion)))
		reporter_json_string(out, suggestion);
	else
		fputs("null", out);
	fputc('}', out);
}

/*
 * The text of a leak report, and its JSON object with report_format=json.
 * A report whose every group was suppressed is its "Suppressions used"
 * table alone: no ERROR line, no SUMMARY line, which log scrapers count.
 */
static void format_leaks(FILE *out, const struct leak_report *report,
	const struct leak_tally *tally, const char *test, const struct report_colors *colors)
{
	const char *reset = colors->reset;
	char suggestion[300];
	bool first = true;

	if (tally->blocks > 0) {
		fprintf(out, "%s==%d==ERROR: area_malloc: %s%s\n", colors->error, (int)getpid(),
			error_kind_info(report->kind)->headline, reset);
		reporter_print_pool(out, "in", &report->pool, colors);
		fprintf(out, "%sfound %s%s\n", colors->location, report->when, reset);
		if (report->detail != NULL)
			fprintf(out, "%s\n", report->detail);
	}
	for (size_t g = 0; g < report->group_count && tally->blocks > 0; g++) {
		const struct leak_group *group = &report->groups[g];
		const char *reach = leak_reach_name(group->reach);
		if (!listed(report, tally, g))
			continue;
		fprintf(out, "\n%sLeak of %zu byte(s) in %zu allocation(s) allocated from:%s\n",
			colors->leak, group->bytes, group->count, reset);
		reporter_print_frames(out, &group->owner);
		fprintf(out, "    (first block %p, thread T%d, seq %u", group->first_address,
			(int)group->owner.thread, group->owner.sequence);
		if (reach != NULL)
			fprintf(out, ", %" PRId64 ".%03" PRId64 " s old, %s",
				group_age(group, tally->now) / 1000000,
				group_age(group, tally->now) / 1000 % 1000, reach);
		fputs(")\n", out);
		if (reporter_options != NULL && reporter_options->suggest_suppressions
			&& suggest_suppression_locked(group, suggestion, sizeof(suggestion)))
			fprintf(out, "    suppression: %s\n", suggestion);
	}
	if (tally->referenced_blocks > 0)
		fprintf(out,
			"%sStill referenced, not leaks with leak_mode=unreferenced: %zu byte(s) in "
			"%zu allocation(s).\n",
			tally->blocks > 0 ? "\n" : "", tally->referenced_bytes,
			tally->referenced_blocks);
	if (tally->used_count > 0) {
		fprintf(out, "%sSuppressions used:\n  count      bytes template\n",
			tally->blocks > 0 || tally->referenced_blocks > 0 ? "\n" : "");
		for (size_t s = 0; s < tally->used_count; s++)
			fprintf(out, "%7" PRIu64 " %10" PRIu64 " leak:%s\n",
				tally->used_count_of[s], tally->used_bytes_of[s],
				tally->used[s]->pattern);
	}
	if (tally->blocks > 0) {
		fprintf(out, "\n%sSUMMARY: area_malloc: %zu byte(s) leaked in %zu allocation(s)",
			colors->summary, tally->bytes, tally->blocks);
		if (tally->suppressed_blocks > 0)
			fprintf(out, "; %zu byte(s) in %zu allocation(s) suppressed",
				tally->suppressed_bytes, tally->suppressed_blocks);
		fprintf(out, ".%s\n", reset);
	}
	if (reporter_options == NULL || reporter_options->report_format != REPORT_FORMAT_JSON)
		return;
	reporter_json_open(out, report->kind);
	fprintf(out, ",\"pid\":%d", (int)getpid());
	if (report->detail != NULL) {
		fputs(",\"detail\":", out);
		reporter_json_string(out, report->detail);
	}
	reporter_json_pool(out, "pool", &report->pool);
	fprintf(out,
		",\"when\":\"%s\",\"leaked_bytes\":%zu,\"leaked_blocks\":%zu,"
		"\"suppressed_bytes\":%zu,\"suppressed_blocks\":%zu,",
		report->when, tally->bytes, tally->blocks, tally->suppressed_bytes,
		tally->suppressed_blocks);
	if (tally->referenced_blocks > 0)
		fprintf(out, "\"referenced_bytes\":%zu,\"referenced_blocks\":%zu,",
			tally->referenced_bytes, tally->referenced_blocks);
	fputs("\"groups\":[", out);
	for (size_t g = 0; g < report->group_count; g++) {
		if (!listed(report, tally, g))
			continue;
		if (!first)
			fputc(',', out);
		json_leak_group(out, report, &report->groups[g], tally->now);
		first = false;
	}
	fputs("],\"suppressions_used\":[", out);
	for (size_t s = 0; s < tally->used_count; s++) {
		char template[sizeof(tally->used[s]->pattern) + 8];
		snprintf(template, sizeof(template), "leak:%s", tally->used[s]->pattern);
		fprintf(out, "%s{\"template\":", s ? "," : "");
		reporter_json_string(out, template);
		fprintf(out, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
			tally->used_count_of[s], tally->used_bytes_of[s]);
	}
	fputc(']', out);
	reporter_json_test(out, test);
	fputs("}\n", out);
}

/* Formats with the lock held; returns the text (NULL: out of memory). */
static char *format_leaks_locked(const struct leak_report *report, const struct leak_tally *tally,
	const char *test, const struct report_colors *colors, size_t *length)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, length);

	if (out == NULL)
		return NULL;
	format_leaks(out, report, tally, test, colors);
	fclose(out);
	return text;
}

size_t report_leaks(const struct leak_report *report, size_t *unsuppressed_blocks)
{
	struct leak_tally *tally;
	area_malloc_report public_report;
	const struct report_colors *colors;
	char *text = NULL, *colored = NULL;
	size_t length = 0, colored_length = 0, bytes, blocks, first = 0;
	const char *test;

	if (unsuppressed_blocks != NULL)
		*unsuppressed_blocks = 0;
	if (report->group_count == 0)
		return 0;
	tally = calloc(1, sizeof(*tally));
	if (tally == NULL)
		return 0;
	tally->suppressed = calloc(report->group_count, sizeof(*tally->suppressed));
	tally->now = system_time();
	mutex_lock(&reporter_lock);
	tally_leaks_locked(report, tally);
	test = reporter_check_test_locked(strcmp(report->when, "at exit") == 0);
	text = format_leaks_locked(report, tally, test, report_colors(false), &length);
	mutex_unlock(&reporter_lock);
	bytes = tally->bytes;
	blocks = tally->blocks;

	if (unsuppressed_blocks != NULL)
		*unsuppressed_blocks = blocks;
	memset(&public_report, 0, sizeof(public_report));
	public_report.kind = error_kind_name(report->kind);
	public_report.pool_id = report->pool.id;
	public_report.pool_area = report->pool.area;
	public_report.pool_name = report->pool.name;
	public_report.leaked_bytes = bytes;
	public_report.leaked_blocks = blocks;
	public_report.test = test;
	/* the largest group that is not suppressed speaks for the report */
	while (first < report->group_count - 1 && !listed(report, tally, first))
		first++;
	public_report.address = report->groups[first].first_address;
	public_report.size = report->groups[first].bytes
		/ (report->groups[first].count ? report->groups[first].count : 1);
	public_report.has_allocated_by = true;
	public_report.allocated_by = report->groups[first].owner;
	public_report.text = text != NULL ? text : "";
	/* every group suppressed: the table is printed, no report is made */
	if (blocks == 0 || !reporter_offer_to_hook(&public_report)) {
		mutex_lock(&reporter_lock);
		if (report->counts && blocks > 0)
			reporter_count_error_locked();
		colors = reporter_colors_locked();
		if (colors != report_colors(false))
			colored = format_leaks_locked(report, tally, test, colors, &colored_length);
		if (colored != NULL)
			reporter_write_locked(colored, colored_length);
		else if (text != NULL)
			reporter_write_locked(text, length);
		mutex_unlock(&reporter_lock);
	}
	free(colored);
	free(text);
	free(tally->suppressed);
	free(tally);
	return bytes;
}
