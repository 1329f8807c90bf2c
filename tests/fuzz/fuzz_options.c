/*
 * fuzz_options.c - libFuzzer target: the debug module's option parser
 * (src/format/options.c) and the suppressions file its reporter loads and
 * matches (src/debug/report.c), both linked straight in.
 *
 * Input: the AREA_MALLOC_OPTIONS text, a NUL byte, then the content of a
 * suppressions file. Without a NUL byte everything is option text and the
 * reporter is left out (it symbolizes, which costs a millisecond).
 *
 * Checks:
 *  - the parser reads nothing past the text (a heap copy of exactly its
 *    bytes, for AddressSanitizer), returns as many problems as it gave
 *    warnings, and each warning is one printable line;
 *  - every field ends inside its documented range, strings terminated;
 *  - debug_options_format() output parses back, without a warning, to the
 *    very same options, and formatting into a short buffer gives a
 *    terminated prefix of it;
 *  - the reporter, given the file as its suppressions, reports a leak of
 *    three groups (callers: three functions of this program) as exactly
 *    the groups no line suppresses: the bytes returned name a subset, the
 *    hook sees the same totals, and the JSON line (report_format=json, when
 *    the options say so) is valid JSON; a file without "leak:" suppresses
 *    nothing; a fail_caller pattern is matched against a caller without
 *    harm, and the exact name of a function matches it.
 *
 * Locking: none; one thread. The reporter keeps a pointer to
 * reporter_options, hence static storage.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/options.h"
#include "debug/report.h"
#include "fuzz_target.h"
#include "node/json_check.h"

#define LEAK_GROUPS 3
#define WARNING_MAX 1024

struct warnings {
	int count;
};

static struct debug_options reporter_options;
static char suppressions_path[PATH_MAX];
static char temp_dir[PATH_MAX - 64];
static uintptr_t leak_sites[LEAK_GROUPS];
static const char *const leak_site_names[LEAK_GROUPS] = { "fuzz_leak_site_one",
	"fuzz_leak_site_two", "fuzz_leak_site_three" };

struct hooked {
	int count;
	size_t bytes;
	size_t blocks;
	bool json_checked;
};

static struct hooked hooked;

/* ---- the callers of the synthetic leaks ---- */

__attribute__((noinline)) static uintptr_t return_address(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

/* The volatile result keeps the call from becoming a tail call: the
 * return address must lie inside each of these functions. */
__attribute__((noinline)) uintptr_t fuzz_leak_site_one(void);
__attribute__((noinline)) uintptr_t fuzz_leak_site_two(void);
__attribute__((noinline)) uintptr_t fuzz_leak_site_three(void);

__attribute__((noinline)) uintptr_t fuzz_leak_site_one(void)
{
	volatile uintptr_t site = return_address();
	return site;
}

__attribute__((noinline)) uintptr_t fuzz_leak_site_two(void)
{
	volatile uintptr_t site = return_address();
	return site + 0;
}

__attribute__((noinline)) uintptr_t fuzz_leak_site_three(void)
{
	volatile uintptr_t site = return_address();
	return site | 0;
}

/* ---- options ---- */

static void check_warning(const char *message, void *context)
{
	struct warnings *warnings = context;
	size_t length;

	FUZZ_CHECK(message != NULL, "a NULL warning");
	length = strlen(message);
	FUZZ_CHECK(length > 0 && length < WARNING_MAX, "a warning of %zu bytes", length);
	for (size_t i = 0; i < length; i++)
		FUZZ_CHECK((unsigned char)message[i] >= 0x20 && message[i] != 0x7f,
			"warning with control character 0x%02x at %zu: %s",
			(unsigned char)message[i], i, message);
	/* help=1's lines come through the same callback and are no problems
	 * (options.h): checked as text, not counted */
	if (strncmp(message, DEBUG_OPTIONS_HELP_PREFIX, strlen(DEBUG_OPTIONS_HELP_PREFIX)) != 0)
		warnings->count++;
}

static int parse(const char *text, struct debug_options *options)
{
	struct warnings warnings = { 0 };
	int problems = debug_options_parse(text, options, check_warning, &warnings);

	FUZZ_CHECK(problems == warnings.count, "parse returned %d problems but warned %d times",
		problems, warnings.count);
	return problems;
}

static bool terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

static bool bool_sound(const bool *field)
{
	unsigned char byte;

	memcpy(&byte, field, 1);
	return byte <= 1;
}

static void check_ranges(const struct debug_options *o)
{
	FUZZ_CHECK(o->stack_depth >= 1 && o->stack_depth <= 32, "stack_depth %u", o->stack_depth);
	FUZZ_CHECK(o->log_size <= (1u << 20), "log_size %zu", o->log_size);
	FUZZ_CHECK(o->quarantine_bytes <= ((size_t)1 << 40), "quarantine_bytes %zu",
		o->quarantine_bytes);
	FUZZ_CHECK(o->fail_rate >= 0.0 && o->fail_rate <= 1.0, "fail_rate %g", o->fail_rate);
	FUZZ_CHECK(o->fail_pool >= 0, "fail_pool %d", (int)o->fail_pool);
	FUZZ_CHECK(o->exitcode >= 0 && o->exitcode <= 255, "exitcode %d", o->exitcode);
	FUZZ_CHECK(o->keep_dead_nodes <= 100000, "keep_dead_nodes %u", o->keep_dead_nodes);
	FUZZ_CHECK(o->report_format == REPORT_FORMAT_TEXT || o->report_format == REPORT_FORMAT_JSON,
		"report_format %d", (int)o->report_format);
	FUZZ_CHECK(bool_sound(&o->realloc_move) && bool_sound(&o->halt_on_error)
			&& bool_sound(&o->leak_check) && bool_sound(&o->fork_nodes)
			&& bool_sound(&o->node),
		"a boolean option holds neither 0 nor 1");
	FUZZ_CHECK(terminated(o->fail_caller, sizeof(o->fail_caller))
			&& terminated(o->suppressions, sizeof(o->suppressions))
			&& terminated(o->log_path, sizeof(o->log_path))
			&& terminated(o->node_dir, sizeof(o->node_dir)),
		"a string option is not terminated");
}

static void check_same(const struct debug_options *a, const struct debug_options *b,
	const char *formatted)
{
	FUZZ_CHECK(a->stack_depth == b->stack_depth && a->log_size == b->log_size
			&& a->quarantine_bytes == b->quarantine_bytes
			&& a->max_reports == b->max_reports && a->realloc_move == b->realloc_move
			&& a->fail_nth == b->fail_nth
			&& memcmp(&a->fail_rate, &b->fail_rate, sizeof(a->fail_rate)) == 0
			&& a->fail_seed == b->fail_seed && a->fail_pool == b->fail_pool
			&& a->halt_on_error == b->halt_on_error && a->exitcode == b->exitcode
			&& a->leak_check == b->leak_check && a->report_format == b->report_format
			&& a->keep_dead_nodes == b->keep_dead_nodes
			&& a->fork_nodes == b->fork_nodes && a->node == b->node,
		"a number or switch differs after parsing '%s'", formatted);
	FUZZ_CHECK(strcmp(a->fail_caller, b->fail_caller) == 0
			&& strcmp(a->suppressions, b->suppressions) == 0
			&& strcmp(a->log_path, b->log_path) == 0
			&& strcmp(a->node_dir, b->node_dir) == 0,
		"a string differs after parsing '%s'", formatted);
}

/* format -> parse gives the options back; a short buffer gets a prefix. */
static void check_round_trip(const struct debug_options *options)
{
	size_t length = debug_options_format(options, NULL, 0);
	char *text = malloc(length + 1), small[64];
	struct debug_options again;
	size_t written;

	FUZZ_CHECK(text != NULL, "out of memory");
	written = debug_options_format(options, text, length + 1);
	FUZZ_CHECK(written == length && strlen(text) == length,
		"format: %zu bytes, then %zu (text of %zu)", length, written, strlen(text));
	debug_options_set_defaults(&again);
	FUZZ_CHECK(parse(text, &again) == 0, "the formatted options '%s' do not parse back", text);
	check_same(options, &again, text);
	for (size_t size = 1; size <= sizeof(small); size += 21) {
		memset(small, 'x', sizeof(small));
		debug_options_format(options, small, size);
		FUZZ_CHECK(strlen(small) == (size - 1 < length ? size - 1 : length)
				&& strncmp(small, text, strlen(small)) == 0,
			"format into %zu bytes: not a prefix of '%s'", size, text);
	}
	free(text);
}

/* ---- suppressions ---- */

static bool take_report(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	hooked.count++;
	hooked.bytes = report->leaked_bytes;
	hooked.blocks = report->leaked_blocks;
	FUZZ_CHECK(report->text != NULL && strstr(report->text, "detected memory leaks") != NULL,
		"leak report text: %s", report->text != NULL ? report->text : "(null)");
	if (reporter_options.report_format == REPORT_FORMAT_JSON) {
		/* the JSON object is the last line */
		const char *end = report->text + strlen(report->text), *line;
		const char *error = NULL;
		struct json *document;
		char *copy;
		while (end > report->text && end[-1] == '\n')
			end--;
		for (line = end; line > report->text && line[-1] != '\n'; line--)
			;
		copy = strndup(line, (size_t)(end - line));
		FUZZ_CHECK(copy != NULL, "out of memory");
		document = json_parse(copy, &error);
		FUZZ_CHECK(document != NULL, "the report's JSON line does not parse (%s): %s",
			error, copy);
		json_free(document);
		free(copy);
		hooked.json_checked = true;
	}
	return true;
}

static void write_suppressions(const uint8_t *content, size_t size)
{
	int fd = open(suppressions_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	FUZZ_CHECK(fd >= 0, "cannot write %s: %s", suppressions_path, strerror(errno));
	while (done < size) {
		ssize_t written = write(fd, content + done, size - done);
		FUZZ_CHECK(written > 0, "cannot write %s: %s", suppressions_path, strerror(errno));
		done += (size_t)written;
	}
	close(fd);
}

static void check_suppressions(const struct debug_options *parsed, const uint8_t *content,
	size_t size)
{
	static const size_t group_bytes[LEAK_GROUPS] = { 16, 32, 64 };
	struct leak_group groups[LEAK_GROUPS];
	struct leak_report report;
	size_t bytes, blocks, chosen;
	bool mentions_leak = false;

	memset(groups, 0, sizeof(groups));
	for (size_t g = 0; g < LEAK_GROUPS; g++) {
		groups[g].bytes = group_bytes[g];
		groups[g].count = 1;
		groups[g].owner.frame_count = 1;
		groups[g].owner.frames[0] = leak_sites[g];
		groups[g].first_address = (const void *)(uintptr_t)(0x1000 * (g + 1));
	}
	memset(&report, 0, sizeof(report));
	report.kind = ERROR_LEAK;
	report.pool.area = 1;
	report.pool.name = "";
	report.when = "on request";
	report.groups = groups;
	report.group_count = LEAK_GROUPS;

	debug_options_set_defaults(&reporter_options);
	reporter_options.report_format = parsed->report_format;
	write_suppressions(content, size);
	snprintf(reporter_options.suppressions, sizeof(reporter_options.suppressions), "%s",
		suppressions_path);
	mentions_leak = memmem(content, size, "leak:", 5) != NULL;
	reporter_init(&reporter_options);
	memset(&hooked, 0, sizeof(hooked));
	bytes = report_leaks(&report, &blocks);

	FUZZ_CHECK(bytes % 16 == 0 && bytes <= 112, "report_leaks returned %zu bytes", bytes);
	chosen = bytes / 16;
	FUZZ_CHECK(blocks == (size_t)__builtin_popcountl(chosen), "%zu bytes in %zu blocks", bytes,
		blocks);
	FUZZ_CHECK(mentions_leak || bytes == 112, "a file without 'leak:' suppressed %zu bytes",
		112 - bytes);
	FUZZ_CHECK(hooked.count == (blocks > 0 ? 1 : 0), "%d report(s) for %zu leaked blocks",
		hooked.count, blocks);
	FUZZ_CHECK(blocks == 0 || (hooked.bytes == bytes && hooked.blocks == blocks),
		"the hook saw %zu bytes in %zu blocks, report_leaks returned %zu in %zu",
		hooked.bytes, hooked.blocks, bytes, blocks);

	if (parsed->fail_caller[0] != '\0') {
		bool matches = reporter_caller_matches(leak_sites[0], parsed->fail_caller);
		FUZZ_CHECK(matches || strcmp(parsed->fail_caller, leak_site_names[0]) != 0,
			"fail_caller=%s does not match its own function", parsed->fail_caller);
	}
}

/* ---- setup and inputs ---- */

static void remove_temp_dir(void)
{
	if (temp_dir[0] != '\0')
		fuzz_remove_tree(temp_dir);
}

void fuzz_options_setup(void)
{
	fuzz_become_multithreaded();
	leak_sites[0] = fuzz_leak_site_one();
	leak_sites[1] = fuzz_leak_site_two();
	leak_sites[2] = fuzz_leak_site_three();
	fuzz_temp_dir("fuzz_options", temp_dir, sizeof(temp_dir));
	atexit(remove_temp_dir);
	snprintf(suppressions_path, sizeof(suppressions_path), "%s/suppressions", temp_dir);
	debug_options_set_defaults(&reporter_options);
	reporter_init(&reporter_options);
	reporter_set_hook(take_report, NULL);
}

int fuzz_options_one_input(const uint8_t *data, size_t size)
{
	const uint8_t *separator = memchr(data, '\0', size);
	size_t text_length = separator != NULL ? (size_t)(separator - data) : size;
	char *text = malloc(text_length + 1);
	struct debug_options options, before;

	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, data, text_length);
	text[text_length] = '\0';

	debug_options_set_defaults(&options);
	check_ranges(&options);
	parse(text, &options);
	check_ranges(&options);
	check_round_trip(&options);
	/* parsing is idempotent, and an empty text changes nothing */
	before = options;
	parse(text, &options);
	check_same(&before, &options, text);
	FUZZ_CHECK(parse("", &options) == 0 && parse(NULL, &options) == 0,
		"empty option text gave warnings");
	check_same(&before, &options, "");

	/* the reporter symbolizes every leak it reports: only inputs that carry a
	 * suppressions file pay for it */
	if (separator != NULL)
		check_suppressions(&options, separator + 1, size - text_length - 1);
	free(text);
	return 0;
}

FUZZ_ENTRY_POINTS(fuzz_options_setup, fuzz_options_one_input)
