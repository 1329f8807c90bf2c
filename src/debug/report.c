/*
 * report.c - formatting, routing and counting the debug build's reports
 * (see report.h for the formats and the rules).
 *
 * Invariants: printed + duplicates + over_limit + hooked == every error
 * report made; error_count counts the errors and unsuppressed leak reports
 * that the hook did not take over.
 *
 * Leak reports and suppressions are report_leaks.c's (report_internal.h
 * holds what the two share).
 *
 * Locking: reporter_lock (a sleeping lock) protects the output, the
 * symbolizer, the duplicate table, the suppressions and the counters.
 * It is taken with no pool lock held; under it, the symbolizer's lock and
 * the loader's (docs/ARCHITECTURE.md). The hook is called with
 * reporter_lock released, so it may call the module again.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/report_internal.h"
#include "format/frame_cfi.h"
#include "format/safe_file.h"
#include "format/symbolize.h"
#include "format/utf8.h"
#include "kernel/lock.h"

#define DUPLICATE_SLOTS 1024

struct duplicate_entry {
	uint64_t key;
	uint64_t count;
	char site[160];
	enum error_kind kind;
};

mutex reporter_lock = MUTEX_INITIALIZER("area_malloc reporter");
const struct debug_options *reporter_options;
static struct symbolizer *symbolizer;
static int log_fd = -1;
static pid_t log_pid;
static struct duplicate_entry duplicates[DUPLICATE_SLOTS];
static uint64_t printed_reports, duplicate_reports, over_limit_reports;
static uint64_t error_count;
static area_malloc_report_hook report_hook;
static void *report_hook_cookie;

void reporter_init(const struct debug_options *module_options)
{
	mutex_lock(&reporter_lock);
	reporter_options = module_options;
	memset(duplicates, 0, sizeof(duplicates));
	printed_reports = duplicate_reports = over_limit_reports = error_count = 0;
	suppressions_load(reporter_options->suppressions);
	mutex_unlock(&reporter_lock);
}

void reporter_close_symbolizer(void)
{
	mutex_lock(&reporter_lock);
	symbolizer_close(symbolizer);
	symbolizer = NULL;
	mutex_unlock(&reporter_lock);
}

void reporter_fini(void)
{
	mutex_lock(&reporter_lock);
	symbolizer_close(symbolizer);
	symbolizer = NULL;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	report_hook = NULL;
	mutex_unlock(&reporter_lock);
}

/* Where reports go: log_path.PID, else standard error. With reporter_lock. */
static int output_fd_locked(void)
{
	int fd = STDERR_FILENO;

	if (reporter_options != NULL && reporter_options->log_path[0] != '\0') {
		if (log_fd < 0 || log_pid != getpid()) {
			char path[DEBUG_OPTIONS_PATH_MAX + 16];
			if (log_fd >= 0)
				close(log_fd);
			log_pid = getpid();
			char why[DEBUG_OPTIONS_PATH_MAX + 160];
			snprintf(path, sizeof(path), "%s.%d", reporter_options->log_path,
				(int)log_pid);
			/* never through a link or into another user's file: log_path
			 * may name a shared directory (safe_file.h) */
			log_fd = safe_create(path, SAFE_APPEND, 0644, why, sizeof(why));
			if (log_fd < 0)
				dprintf("area_malloc: log_path: %s; reporting to standard error\n",
					why);
		}
		if (log_fd >= 0)
			fd = log_fd;
	}
	return fd;
}

/* Colour only on standard error (never in log_path's files), as
 * color= says. With reporter_lock. */
const struct report_colors *reporter_colors_locked(void)
{
	int fd = output_fd_locked();

	return report_colors(fd == STDERR_FILENO && reporter_options != NULL
		&& color_wanted(reporter_options->color, fd));
}

/* Called with reporter_lock held. */
void reporter_write_locked(const char *text, size_t length)
{
	int fd = output_fd_locked();

	while (length > 0) {
		ssize_t written = write(fd, text, length);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			break;
		text += written;
		length -= (size_t)written;
	}
}

/* Called with reporter_lock held. */
bool reporter_symbolize_locked(uintptr_t address, struct symbol_info *info)
{
	if (symbolizer == NULL)
		symbolizer = symbolizer_open_self();
	return symbolizer != NULL && symbolize(symbolizer, address, info);
}

bool reporter_unwind_step(struct frame_cfi_registers *registers, bool faulting,
	frame_cfi_read_word *read_word, void *context)
{
	bool stepped;

	mutex_lock(&reporter_lock);
	if (symbolizer == NULL)
		symbolizer = symbolizer_open_self();
	stepped = frame_cfi_step(symbolizer, registers, faulting, read_word, context);
	mutex_unlock(&reporter_lock);
	return stepped;
}

const char *reporter_frame_locked(uintptr_t address, char *buffer, size_t size)
{
	struct symbol_info info;

	/* even when no name is known, the image and its state are worth printing */
	if (reporter_symbolize_locked(address, &info) || symbolizer != NULL)
		return symbol_format(&info, buffer, size);
	snprintf(buffer, size, "0x%" PRIxPTR, address);
	return buffer;
}

/*
 * The Check test the process is running, so that "pooldump run" files each
 * report under its test. Check keeps the name of the test a process last
 * started behind tcase_name(); a suite links Check statically as often as
 * not, so the function is also looked up in the executable's symbol table.
 * A process that ends (exit-time reports) names its test only when it is a
 * child Check forked for that one test (fork mode makes each such child a
 * process group leader and CK_FORK=no turns the mode off): in no-fork mode
 * every test ran in this process and the last name would be wrong.
 * Called with reporter_lock held.
 */
const char *reporter_check_test_locked(bool process_ends)
{
	static const char *(*test_name)(void);
	static bool resolved;

	if (!resolved) {
		resolved = true;
		test_name = (const char *(*)(void))dlsym(RTLD_DEFAULT, "tcase_name");
		if (test_name == NULL) {
			if (symbolizer == NULL)
				symbolizer = symbolizer_open_self();
			test_name = (const char *(*)(void))
				symbolizer_find_executable_function(symbolizer, "tcase_name");
		}
	}
	if (test_name == NULL)
		return NULL;
	if (process_ends) {
		const char *fork_mode = getenv("CK_FORK");
		if (getpgrp() != getpid() || (fork_mode != NULL && strcmp(fork_mode, "no") == 0))
			return NULL;
	}
	const char *name = test_name();
	return name != NULL && name[0] != '\0' ? name : NULL;
}

const char *reporter_symbolize(uintptr_t address, char *buffer, size_t size)
{
	mutex_lock(&reporter_lock);
	reporter_frame_locked(address, buffer, size);
	mutex_unlock(&reporter_lock);
	return buffer;
}

bool reporter_caller_matches(uintptr_t caller, const char *pattern)
{
	struct symbol_info info;
	bool matches = false;

	mutex_lock(&reporter_lock);
	if (reporter_symbolize_locked(caller, &info))
		matches = (info.function[0] != '\0' && fnmatch(pattern, info.function, 0) == 0)
			|| strstr(info.function, pattern) != NULL;
	mutex_unlock(&reporter_lock);
	return matches;
}

void reporter_print_frames(FILE *out, const area_malloc_owner *owner)
{
	char frame[2048];

	for (uint32_t i = 0; i < owner->frame_count && i < AREA_MALLOC_MAX_FRAMES; i++) {
		if (owner->frames[i] == 0)
			break;
		fprintf(out, "    #%u 0x%" PRIxPTR " in %s\n", i, (uintptr_t)owner->frames[i],
			reporter_frame_locked(owner->frames[i], frame, sizeof(frame)));
	}
}

/* with_sequence: the operation had a place in the pool's sequence (a
 * refused call has none) */
static void print_owner(FILE *out, const char *label, const area_malloc_owner *owner,
	bool with_sequence, const char *color, const char *reset)
{
	fprintf(out, "%s%s by thread T%d (team %d", color, label, (int)owner->thread,
		(int)owner->team);
	if (with_sequence)
		fprintf(out, ", seq %u", owner->sequence);
	fprintf(out, ", at %" PRId64 ".%06" PRId64 " s):%s\n", owner->time / 1000000,
		owner->time % 1000000, reset);
	reporter_print_frames(out, owner);
}

/* ' "NAME"' when the pool has a name, its quotes and backslashes escaped
 * (its control characters were replaced when it was set). */
static void print_pool_name(FILE *out, const char *name)
{
	if (name[0] == '\0')
		return;
	fputs(" \"", out);
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', out);
		fputc(*c, out);
	}
	fputc('"', out);
}

void reporter_print_pool(FILE *out, const char *label, const struct report_pool *pool,
	const struct report_colors *colors)
{
	fprintf(out, "%s%s pool %d", colors->location, label, (int)pool->area);
	print_pool_name(out, pool->name);
	fprintf(out, " (id %p)", pool->id);
	if (pool->creator != NULL && pool->creator->frame_count > 0
		&& pool->creator->frames[0] != 0) {
		char frame[2048];
		fprintf(out, " created by %s",
			reporter_frame_locked(pool->creator->frames[0], frame, sizeof(frame)));
	}
	fprintf(out, "%s\n", colors->reset);
}

/* A JSON string, valid UTF-8 whatever the bytes (pool names, symbols and
 * paths are any bytes): an invalid sequence's bytes become U+FFFD each. */
void reporter_json_string(FILE *out, const char *text)
{
	const unsigned char *c = (const unsigned char *)text;

	fputc('"', out);
	while (*c != '\0') {
		size_t length = utf8_sequence(c);
		if (*c == '"' || *c == '\\') {
			fprintf(out, "\\%c", *c);
			c++;
		} else if (*c < 0x20) {
			fprintf(out, "\\u%04x", *c);
			c++;
		} else if (length == 0) {
			fputs("\\ufffd", out);
			c++;
		} else {
			fwrite(c, 1, length, out);
			c += length;
		}
	}
	fputc('"', out);
}

void reporter_json_test(FILE *out, const char *test)
{
	if (test == NULL)
		return;
	fprintf(out, ",\"test\":");
	reporter_json_string(out, test);
}

/* "frames":[{"pc","symbol","function","offset","image","file","line"}...] */
void reporter_json_frames(FILE *out, const area_malloc_owner *owner)
{
	char frame[2048], members[SYMBOL_JSON_MAX];

	fputs("\"frames\":[", out);
	for (uint32_t i = 0;
		i < owner->frame_count && i < AREA_MALLOC_MAX_FRAMES && owner->frames[i] != 0;
		i++) {
		struct symbol_info info;
		if (!reporter_symbolize_locked(owner->frames[i], &info) && symbolizer == NULL)
			memset(&info, 0, sizeof(info));
		fprintf(out, "%s{\"pc\":\"0x%" PRIxPTR "\",\"symbol\":", i ? "," : "",
			(uintptr_t)owner->frames[i]);
		reporter_json_string(out,
			reporter_frame_locked(owner->frames[i], frame, sizeof(frame)));
		fputs(symbol_format_json(&info, members, sizeof(members)), out);
		fputc('}', out);
	}
	fputc(']', out);
}

/* "version", "kind" (the sentence) and "kind_key" (the table's key): the
 * members every report object opens with. */
void reporter_json_open(FILE *out, enum error_kind kind)
{
	fprintf(out, "{\"version\":%d,\"kind\":", AREA_MALLOC_JSON_VERSION);
	reporter_json_string(out, error_kind_name(kind));
	fprintf(out, ",\"kind_key\":\"%s\"", error_kind_info(kind)->key);
}

void reporter_json_owner(FILE *out, const char *key, const area_malloc_owner *owner)
{
	fprintf(out, ",\"%s\":{\"thread\":%d,\"team\":%d,\"seq\":%u,\"time\":%" PRId64 ",", key,
		(int)owner->thread, (int)owner->team, owner->sequence, owner->time);
	reporter_json_frames(out, owner);
	fputc('}', out);
}

void reporter_json_pool(FILE *out, const char *key, const struct report_pool *pool)
{
	fprintf(out, ",\"%s\":{\"id\":%d,\"pool_id\":\"%p\",\"name\":", key, (int)pool->area,
		pool->id);
	reporter_json_string(out, pool->name);
	if (pool->creator != NULL && pool->creator->frame_count > 0)
		reporter_json_owner(out, "creator", pool->creator);
	fputc('}', out);
}

#define FNV_PRIME 1099511628211ull

/* Mixes every frame an owner recorded into key (and its absence, and where
 * it ends, so that frames never pass from one owner to the next). */
static uint64_t mix_owner(uint64_t key, const area_malloc_owner *owner)
{
	if (owner != NULL) {
		for (uint32_t i = 0; i < owner->frame_count && i < AREA_MALLOC_MAX_FRAMES; i++) {
			if (owner->frames[i] == 0)
				break;
			key = (key ^ owner->frames[i]) * FNV_PRIME;
		}
	}
	return (key ^ (owner != NULL ? 0x5bd1e995u : 0x27d4eb2fu)) * FNV_PRIME;
}

/* Identical reports: the same kind, and the same frames of every site
 * recorded (the call that found it, the allocation, the free); not the
 * same address, thread or time. */
static uint64_t duplicate_key(const struct error_report *report)
{
	uint64_t key = 1469598103934665603ull;

	for (const char *c = error_kind_name(report->kind); *c != '\0'; c++)
		key = (key ^ (unsigned char)*c) * FNV_PRIME;
	key = mix_owner(key, report->detected_by);
	key = mix_owner(key, report->allocated_by);
	key = mix_owner(key, report->freed_by);
	return key | 1;
}

/* The frame a summary line names: who made the call, else who freed the
 * block (use-after-free found later), else who allocated it. */
static uintptr_t summary_site(const struct error_report *report)
{
	if (report->detected_by != NULL && report->detected_by->frames[0] != 0)
		return report->detected_by->frames[0];
	if (report->freed_by != NULL && report->freed_by->frames[0] != 0)
		return report->freed_by->frames[0];
	if (report->allocated_by != NULL)
		return report->allocated_by->frames[0];
	return 0;
}

/* Returns true when an identical report was printed before (and counts it). */
static bool seen_before(const struct error_report *report)
{
	uint64_t key = duplicate_key(report);

	for (size_t probe = 0; probe < DUPLICATE_SLOTS; probe++) {
		struct duplicate_entry *entry = &duplicates[(key + probe) % DUPLICATE_SLOTS];
		if (entry->key == key) {
			entry->count++;
			return true;
		}
		if (entry->key == 0) {
			entry->key = key;
			entry->count = 0;
			entry->kind = report->kind;
			if (summary_site(report) != 0)
				reporter_frame_locked(summary_site(report), entry->site,
					sizeof(entry->site));
			else
				snprintf(entry->site, sizeof(entry->site), "an unknown site");
			return false;
		}
	}
	return false; /* table full: print it */
}

static void fill_public_report(const struct error_report *report, const char *text,
	area_malloc_report *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = error_kind_name(report->kind);
	out->address = report->address;
	out->size = report->size;
	out->pool_id = report->pool.id;
	out->pool_area = report->pool_known ? report->pool.area : -1;
	out->pool_name = report->pool_known ? report->pool.name : "";
	out->owner_pool_id = report->owner_pool_known ? report->owner_pool.id : NULL;
	out->owner_pool_area = report->owner_pool_known ? report->owner_pool.area : -1;
	out->overflow_bytes = report->overflow_bytes;
	if (report->allocated_by != NULL) {
		out->has_allocated_by = true;
		out->allocated_by = *report->allocated_by;
	}
	if (report->freed_by != NULL) {
		out->has_freed_by = true;
		out->freed_by = *report->freed_by;
	}
	if (report->detected_by != NULL)
		out->detected_by = *report->detected_by;
	out->text = text;
}

/* Hands the report to the hook; true when the hook took it over. */
bool reporter_offer_to_hook(const area_malloc_report *report)
{
	area_malloc_report_hook hook;
	void *cookie;

	mutex_lock(&reporter_lock);
	hook = report_hook;
	cookie = report_hook_cookie;
	mutex_unlock(&reporter_lock);
	return hook != NULL && hook(report, cookie);
}

/* colors: the text's (report_colors(false) for files, hooks and pipes); the
 * JSON object never has any. */
static void format_error(FILE *out, const struct error_report *report, const char *test,
	const struct report_colors *colors)
{
	const char *reset = colors->reset;
	char frame[2048];

	const struct error_kind_info *kind = error_kind_info(report->kind);

	fprintf(out, "%s==%d==ERROR: area_malloc: %s %p", colors->error, (int)getpid(),
		kind->headline, report->address);
	if (report->size_known)
		fprintf(out, " (%zu-byte block)", report->size);
	if (report->pool_known) {
		fprintf(out, " in pool %d", (int)report->pool.area);
		print_pool_name(out, report->pool.name);
	} else {
		fprintf(out, " with pool id %p", report->pool.id);
	}
	fprintf(out, "%s\n", reset);
	if (report->detail != NULL)
		fprintf(out, "%s%s%s\n", colors->location, report->detail, reset);
	if (report->offset_known)
		fprintf(out, "%sfirst damaged byte at offset %ld from the block%s%s\n",
			colors->location, report->offset,
			report->offset < 0 ? " (before its start)" : "", reset);
	if (report->overflow_bytes != 0)
		fprintf(out,
			"%sthe write reached %zu byte(s) past the end of the %zu-byte block%s\n",
			colors->location, report->overflow_bytes, report->size, reset);
	if (report->detected_by != NULL)
		print_owner(out, report->what, report->detected_by, false, colors->access, reset);
	if (report->freed_by != NULL)
		print_owner(out, "freed", report->freed_by, true, colors->allocation, reset);
	if (report->allocated_by != NULL)
		print_owner(out, "previously allocated", report->allocated_by, true,
			colors->allocation, reset);
	if (report->victim_address != NULL) {
		char size[32] = "", label[160];
		if (report->victim_size_known)
			snprintf(size, sizeof(size), "%zu-byte ", report->victim_size);
		snprintf(label, sizeof(label),
			"the write landed in the owner tag of the %sblock at %p%s", size,
			report->victim_address,
			report->victim_allocated_by != NULL ? ", allocated" : "");
		if (report->victim_allocated_by != NULL)
			print_owner(out, label, report->victim_allocated_by, true,
				colors->allocation, reset);
		else
			fprintf(out, "%s%s%s\n", colors->location, label, reset);
	}
	if (report->pool_known)
		reporter_print_pool(out, "the call's", &report->pool, colors);
	if (report->owner_pool_known)
		reporter_print_pool(out, "the block belongs to", &report->owner_pool, colors);
	if (report->log_count > 0) {
		fprintf(out, "last events of this block in the pool log (newest first):\n");
		for (size_t i = 0; i < report->log_count; i++) {
			const struct pool_log_event *event = &report->log[i];
			fprintf(out,
				"    seq %u %-8s 0x%" PRIx64 " %" PRIu64 " bytes, thread T%u, %s\n",
				event->sequence, pool_log_op_name(event->op), event->address,
				event->size, event->thread,
				reporter_frame_locked((uintptr_t)event->caller, frame,
					sizeof(frame)));
		}
	}
	fprintf(out, "%sSUMMARY: area_malloc: %s", colors->summary, kind->name);
	if (summary_site(report) != 0)
		fprintf(out, " %s",
			reporter_frame_locked(summary_site(report), frame, sizeof(frame)));
	if (report->pool_known)
		fprintf(out, " in pool %d", (int)report->pool.area);
	fprintf(out, "%s\n", reset);

	if (reporter_options != NULL && reporter_options->report_format == REPORT_FORMAT_JSON) {
		reporter_json_open(out, report->kind);
		fprintf(out, ",\"pid\":%d,\"operation\":\"%s\",\"address\":\"%p\"", (int)getpid(),
			report->what, report->address);
		if (report->size_known)
			fprintf(out, ",\"size\":%zu", report->size);
		if (report->pool_known)
			reporter_json_pool(out, "pool", &report->pool);
		else
			fprintf(out, ",\"pool_id\":\"%p\"", report->pool.id);
		if (report->owner_pool_known)
			reporter_json_pool(out, "owner_pool", &report->owner_pool);
		if (report->overflow_bytes != 0)
			fprintf(out, ",\"overflow_bytes\":%zu", report->overflow_bytes);
		if (report->detected_by != NULL)
			reporter_json_owner(out, "detected_by", report->detected_by);
		if (report->allocated_by != NULL)
			reporter_json_owner(out, "allocated_by", report->allocated_by);
		if (report->freed_by != NULL)
			reporter_json_owner(out, "freed_by", report->freed_by);
		if (report->victim_address != NULL) {
			fprintf(out, ",\"victim\":{\"address\":\"%p\"", report->victim_address);
			if (report->victim_size_known)
				fprintf(out, ",\"size\":%zu", report->victim_size);
			if (report->victim_allocated_by != NULL)
				reporter_json_owner(out, "allocated_by",
					report->victim_allocated_by);
			fputc('}', out);
		}
		reporter_json_test(out, test);
		fputs("}\n", out);
	}
}

void report_error(const struct error_report *report)
{
	area_malloc_report public_report;
	char *text = NULL;
	size_t length = 0;
	FILE *out;
	bool print, halt;
	const char *test;

	mutex_lock(&reporter_lock);
	test = reporter_check_test_locked(false);
	out = open_memstream(&text, &length);
	if (out != NULL) {
		format_error(out, report, test, report_colors(false));
		fclose(out);
	}
	mutex_unlock(&reporter_lock);

	fill_public_report(report, text != NULL ? text : "", &public_report);
	public_report.test = test;
	if (reporter_offer_to_hook(&public_report)) {
		free(text);
		return;
	}

	mutex_lock(&reporter_lock);
	error_count++;
	print = !seen_before(report);
	if (!print) {
		duplicate_reports++;
	} else if (reporter_options != NULL && reporter_options->max_reports != 0
		&& printed_reports >= reporter_options->max_reports) {
		over_limit_reports++;
		print = false;
	}
	if (print && text != NULL) {
		const struct report_colors *colors = reporter_colors_locked();
		char *colored = NULL;
		size_t colored_length = 0;
		/* the hook and the files get the plain text; a terminal its colours */
		if (colors != report_colors(false)
			&& (out = open_memstream(&colored, &colored_length)) != NULL) {
			format_error(out, report, test, colors);
			fclose(out);
		}
		printed_reports++;
		if (colored != NULL)
			reporter_write_locked(colored, colored_length);
		else
			reporter_write_locked(text, length);
		free(colored);
	}
	halt = reporter_options != NULL && reporter_options->halt_on_error;
	mutex_unlock(&reporter_lock);
	free(text);
	if (halt) {
		dprintf("area_malloc: halt_on_error=1: aborting\n");
		abort();
	}
}

void reporter_print_totals(void)
{
	char line[512];
	int length;

	mutex_lock(&reporter_lock);
	for (size_t i = 0; i < DUPLICATE_SLOTS; i++) {
		const struct duplicate_entry *entry = &duplicates[i];
		if (entry->key == 0 || entry->count == 0)
			continue;
		length = snprintf(line, sizeof(line),
			"==%d==area_malloc: %" PRIu64 " more report(s) of %s from %s, not printed "
			"(identical to the first)\n",
			(int)getpid(), entry->count, error_kind_name(entry->kind), entry->site);
		reporter_write_locked(line,
			(size_t)length < sizeof(line) ? (size_t)length : sizeof(line) - 1);
		duplicates[i].count = 0;
	}
	if (over_limit_reports > 0) {
		length = snprintf(line, sizeof(line),
			"==%d==area_malloc: %" PRIu64 " more error report(s) not printed "
			"(max_reports=%u)\n",
			(int)getpid(), over_limit_reports,
			reporter_options != NULL ? reporter_options->max_reports : 0);
		reporter_write_locked(line,
			(size_t)length < sizeof(line) ? (size_t)length : sizeof(line) - 1);
		over_limit_reports = 0;
	}
	mutex_unlock(&reporter_lock);
}

area_malloc_report_hook reporter_set_hook(area_malloc_report_hook hook, void *cookie)
{
	area_malloc_report_hook previous;

	mutex_lock(&reporter_lock);
	previous = report_hook;
	report_hook = hook;
	report_hook_cookie = cookie;
	mutex_unlock(&reporter_lock);
	return previous;
}

void reporter_count_error_locked(void)
{
	error_count++;
}

uint64_t reporter_error_count(void)
{
	uint64_t count;

	mutex_lock(&reporter_lock);
	count = error_count;
	mutex_unlock(&reporter_lock);
	return count;
}
