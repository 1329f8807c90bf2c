/*
 * options.c - parsing AREA_MALLOC_OPTIONS into struct debug_options.
 *
 * One table describes every option: its key, its type, where it lives in
 * struct debug_options, its range and its help text; parsing, warnings,
 * help=1 and formatting all read that table, so an option is added in one
 * place. Pairs are separated by ':' or ',' (ASAN_OPTIONS takes both); a
 * few options answer to ASan's names too (option_aliases).
 *
 * Invariants: after debug_options_parse(), every field holds either its
 * default or a value inside the range its table entry states. The parser
 * reads at most the text it was given and writes only to options.
 *
 * Locking: none; the module parses once at B_MODULE_INIT.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/options.h"

enum option_type {
	OPTION_BOOL,
	OPTION_UNSIGNED, /* unsigned in [min, max] */
	OPTION_SIZE,     /* size_t in [min, max], with an optional k/m/g suffix */
	OPTION_U64,
	OPTION_INT,
	OPTION_I32,
	OPTION_PROBABILITY, /* double in [0, 1] */
	OPTION_STRING,      /* char[] of field_size bytes */
	OPTION_CHOICE,      /* one of choices[], stored as an enum (its index) */
};

struct option_spec {
	const char *key;
	enum option_type type;
	size_t offset;
	size_t field_size;
	uint64_t min;
	uint64_t max;
	const char *help;
	const char *const *choices; /* OPTION_CHOICE: NULL-terminated */
};

static const char *const format_choices[] = { "text", "json", NULL };
static const char *const color_choices[] = { "auto", "always", "never", NULL };
static const char *const leak_mode_choices[] = { "all", "unreferenced", NULL };
/* a choice is stored through an int */
_Static_assert(sizeof(enum report_format) == sizeof(int) && sizeof(enum color_mode) == sizeof(int)
		&& sizeof(enum leak_mode) == sizeof(int),
	"choice options are int-sized enums");

#define FIELD(name) offsetof(struct debug_options, name), sizeof(((struct debug_options *)0)->name)

static const struct option_spec option_specs[] = {
	{ "stack_depth", OPTION_UNSIGNED, FIELD(stack_depth), 1, 32,
		"frames recorded per allocation and free, 1 to 32", NULL },
	{ "stack_depot_bytes", OPTION_SIZE, FIELD(stack_depot_bytes), 4096, (uint64_t)1 << 32,
		"room for distinct stacks in the stack depot, 4k to 4g (k, m, g suffixes)", NULL },
	{ "log_size", OPTION_SIZE, FIELD(log_size), 0, 1u << 20,
		"events kept in each pool's log, 0 to 1048576", NULL },
	{ "quarantine_bytes", OPTION_SIZE, FIELD(quarantine_bytes), 0, (uint64_t)1 << 40,
		"freed bytes each pool holds back from reuse (k, m, g suffixes)", NULL },
	{ "max_malloc_fill_size", OPTION_SIZE, FIELD(max_malloc_fill_size), 0, (uint64_t)1 << 40,
		"bytes at the start of a new block filled with 0xcc (k, m, g suffixes)", NULL },
	{ "max_free_check_size", OPTION_SIZE, FIELD(max_free_check_size), 0, (uint64_t)1 << 40,
		"bytes of free memory an allocation checks for the poison before taking it "
		"(k, m, g suffixes)",
		NULL },
	{ "max_reports", OPTION_UNSIGNED, FIELD(max_reports), 0, UINT32_MAX,
		"error reports printed in full, 0 for no limit", NULL },
	{ "release_capacity", OPTION_BOOL, FIELD(release_capacity), 0, 1,
		"a pool holds no more than the release build's pool of its size, 0 or 1", NULL },
	{ "realloc_move", OPTION_BOOL, FIELD(realloc_move), 0, 1, "realloc always moves, 0 or 1",
		NULL },
	{ "fail_nth", OPTION_U64, FIELD(fail_nth), 0, UINT64_MAX,
		"make the Nth allocation fail, 0 for never", NULL },
	{ "fail_rate", OPTION_PROBABILITY, FIELD(fail_rate), 0, 1,
		"probability that an allocation fails, 0 to 1", NULL },
	{ "fail_seed", OPTION_U64, FIELD(fail_seed), 0, UINT64_MAX,
		"seed of the fail_rate random sequence", NULL },
	{ "fail_pool", OPTION_I32, FIELD(fail_pool), 0, INT32_MAX,
		"inject failures only in the pool with this id (its area id)", NULL },
	{ "fail_caller", OPTION_STRING, FIELD(fail_caller), 0, 0,
		"inject failures only for callers whose function matches this pattern", NULL },
	{ "halt_on_error", OPTION_BOOL, FIELD(halt_on_error), 0, 1,
		"abort right after the first error report, 0 or 1", NULL },
	{ "exitcode", OPTION_INT, FIELD(exitcode), 0, 255,
		"exit status after errors or leaks, 0 to keep the process's own", NULL },
	{ "leak_check", OPTION_BOOL, FIELD(leak_check), 0, 1,
		"report leaks at delete_pool, unload and exit, 0 or 1", NULL },
	{ "leak_mode", OPTION_CHOICE, FIELD(leak_mode), 0, 0,
		"which exit-time leaks count for the exit status: all live blocks, or only "
		"unreferenced ones (no pointer to them found by the reachability scan)",
		leak_mode_choices },
	{ "leak_interior", OPTION_BOOL, FIELD(leak_interior), 0, 1,
		"a pointer inside a block (not only to its start) references it, 0 or 1", NULL },
	{ "leak_scan_unload", OPTION_BOOL, FIELD(leak_scan_unload), 0, 1,
		"the last put_module runs the reachability scan first, so its leak reports "
		"carry verdicts (and leak_mode applies) as at exit, 0 or 1",
		NULL },
	{ "guard", OPTION_BOOL, FIELD(guard), 0, 1,
		"every block of every pool meets a guard page (faults at the access), 0 or 1",
		NULL },
	{ "guard_pools", OPTION_STRING, FIELD(guard_pools), 0, 0,
		"guard every block of the pools whose name matches this pattern", NULL },
	{ "guard_size", OPTION_SIZE, FIELD(guard_size), 0, (uint64_t)1 << 40,
		"guard every block of at most this many bytes, 0 for none (k, m, g suffixes)",
		NULL },
	{ "guard_sample", OPTION_U64, FIELD(guard_sample), 0, UINT64_MAX,
		"guard one allocation in N, chosen at random, 0 for none", NULL },
	{ "guard_seed", OPTION_U64, FIELD(guard_seed), 0, UINT64_MAX,
		"seed of guard_sample's choice, 0 for a fresh seed each run", NULL },
	{ "guard_underflow", OPTION_BOOL, FIELD(guard_underflow), 0, 1,
		"a guarded block starts right after its guard page instead of ending at it, "
		"0 or 1",
		NULL },
	{ "guard_pool_max", OPTION_UNSIGNED, FIELD(guard_pool_max), 1, 16384,
		"guarded blocks (live and freed) a pool holds at once, 1 to 16384; past it, "
		"canary blocks",
		NULL },
	{ "guard_process_max", OPTION_UNSIGNED, FIELD(guard_process_max), 0, 1u << 24,
		"live guarded blocks in the process, 0 for an eighth of vm.max_map_count; "
		"past it, canary blocks",
		NULL },
	{ "guard_regions", OPTION_BOOL, FIELD(guard_regions), 0, 1,
		"every pool gets a guard region even when no option guards its blocks, so the "
		"companion's set_pool_guard can, 0 or 1",
		NULL },
	{ "suppressions", OPTION_STRING, FIELD(suppressions), 0, 0, "file of leak:PATTERN lines",
		NULL },
	{ "log_path", OPTION_STRING, FIELD(log_path), 0, 0,
		"write reports to PATH.PID instead of standard error", NULL },
	{ "report_format", OPTION_CHOICE, FIELD(report_format), 0, 0,
		"text, or json for a JSON object after each report", format_choices },
	{ "color", OPTION_CHOICE, FIELD(color), 0, 0,
		"colour the reports: auto (on a terminal whose TERM is not dumb, unless NO_COLOR "
		"is set), always or never",
		color_choices },
	{ "suggest_suppressions", OPTION_BOOL, FIELD(suggest_suppressions), 0, 1,
		"print a ready-made leak:FUNCTION suppression under each leak group, 0 or 1",
		NULL },
	{ "node", OPTION_BOOL, FIELD(node), 0, 1,
		"publish the pools in a debug node for pooldump, 0 or 1", NULL },
	{ "node_dir", OPTION_STRING, FIELD(node_dir), 0, 0,
		"directory of the debug nodes (default /dev/shm/area_malloc-UID)", NULL },
	{ "keep_dead_nodes", OPTION_UNSIGNED, FIELD(keep_dead_nodes), 0, 100000,
		"dead nodes of the user kept for post-mortems, 0 to 100000", NULL },
	{ "node_reserve", OPTION_BOOL, FIELD(node_reserve), 0, 1,
		"reserve a pool file's tmpfs space before the pool hands it out, so that a full "
		"tmpfs makes allocations fail instead of stopping the process (it commits "
		"memory the driver may never touch), 0 or 1",
		NULL },
	{ "fork_nodes", OPTION_BOOL, FIELD(fork_nodes), 0, 1,
		"a forked child publishes a node of its own, 0 or 1", NULL },
	{ "reader_wait_us", OPTION_UNSIGNED, FIELD(reader_wait_us), 0, 100000,
		"longest a pool call holds still for pooldump's copy, microseconds, 0 to 100000",
		NULL },
};

#define OPTION_COUNT (sizeof(option_specs) / sizeof(option_specs[0]))

/* Other names an option answers to: ASan's, where ours differs. */
static const struct {
	const char *alias;
	const char *key;
} option_aliases[] = {
	{ "detect_leaks", "leak_check" },
};

/* ':' as ASan's ASAN_OPTIONS and ours always had, ',' as ASan takes too */
static bool is_separator(char c)
{
	return c == ':' || c == ',';
}

void debug_options_set_defaults(struct debug_options *options)
{
	memset(options, 0, sizeof(*options));
	options->stack_depth = 16;
	options->stack_depot_bytes = (size_t)32 << 20;
	options->log_size = 256;
	options->quarantine_bytes = 1u << 20;
	options->max_malloc_fill_size = 4096;
	options->max_free_check_size = 1024;
	options->max_reports = 100;
	options->exitcode = 23;
	options->leak_check = true;
	options->release_capacity = true;
	options->report_format = REPORT_FORMAT_TEXT;
	options->keep_dead_nodes = 8;
	options->reader_wait_us = 2000;
	options->node = true;
	options->color = COLOR_AUTO;
	options->suggest_suppressions = true;
	options->guard_pool_max = 256;
	/* KFENCE and GWP-ASan's way: cheap enough to leave on (docs/PERFORMANCE.md,
	 * "Guard pages"), and over many runs it catches an overflow or a use
	 * after free at the access, reads included */
	options->guard_sample = 5000;
}

bool color_mode_parse(const char *text, enum color_mode *mode)
{
	for (int i = 0; color_choices[i] != NULL; i++) {
		if (strcmp(text, color_choices[i]) == 0) {
			*mode = (enum color_mode)i;
			return true;
		}
	}
	return false;
}

bool color_wanted(enum color_mode mode, int fd)
{
	const char *term = getenv("TERM"), *no_color = getenv("NO_COLOR");

	if (mode != COLOR_AUTO)
		return mode == COLOR_ALWAYS;
	/* no-color.org: set and not empty turns automatic colour off */
	if (no_color != NULL && no_color[0] != '\0')
		return false;
	return isatty(fd) && term != NULL && term[0] != '\0' && strcmp(term, "dumb") != 0;
}

const struct report_colors *report_colors(bool colored)
{
	static const struct report_colors none = { "", "", "", "", "", "", "" };
	static const struct report_colors ansi = {
		.error = "\033[1m\033[31m",
		.access = "\033[1m\033[34m",
		.allocation = "\033[1m\033[35m",
		.location = "\033[1m\033[32m",
		.leak = "\033[1m\033[34m",
		.summary = "\033[1m",
		.reset = "\033[1m\033[0m",
	};

	return colored ? &ansi : &none;
}

static const struct option_spec *find_spec(const char *key, size_t length)
{
	for (size_t i = 0; i < sizeof(option_aliases) / sizeof(option_aliases[0]); i++) {
		if (strlen(option_aliases[i].alias) == length
			&& strncmp(option_aliases[i].alias, key, length) == 0) {
			key = option_aliases[i].key;
			length = strlen(key);
		}
	}
	for (size_t i = 0; i < OPTION_COUNT; i++) {
		if (strlen(option_specs[i].key) == length
			&& strncmp(option_specs[i].key, key, length) == 0)
			return &option_specs[i];
	}
	return NULL;
}

static bool parse_u64(const char *text, uint64_t *value, bool allow_suffix)
{
	char *end;
	unsigned long long parsed;

	if (!isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	parsed = strtoull(text, &end, 0);
	if (errno != 0)
		return false;
	if (allow_suffix && *end != '\0' && end[1] == '\0') {
		unsigned shift = 0;
		switch (tolower((unsigned char)*end)) {
		case 'k':
			shift = 10;
			break;
		case 'm':
			shift = 20;
			break;
		case 'g':
			shift = 30;
			break;
		default:
			return false;
		}
		if (parsed > (UINT64_MAX >> shift))
			return false;
		parsed <<= shift;
		end++;
	}
	if (*end != '\0')
		return false;
	*value = parsed;
	return true;
}

/* Stores value into the option's field; false when it is not acceptable. */
static bool apply_value(const struct option_spec *spec, const char *value, void *field)
{
	uint64_t number;

	switch (spec->type) {
	case OPTION_BOOL:
		if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
			*(bool *)field = true;
			return true;
		}
		if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
			*(bool *)field = false;
			return true;
		}
		return false;
	case OPTION_UNSIGNED:
	case OPTION_SIZE:
	case OPTION_U64:
	case OPTION_INT:
	case OPTION_I32:
		if (!parse_u64(value, &number, spec->type == OPTION_SIZE) || number < spec->min
			|| number > spec->max)
			return false;
		if (spec->type == OPTION_UNSIGNED)
			*(unsigned *)field = (unsigned)number;
		else if (spec->type == OPTION_SIZE)
			*(size_t *)field = (size_t)number;
		else if (spec->type == OPTION_U64)
			*(uint64_t *)field = number;
		else if (spec->type == OPTION_INT)
			*(int *)field = (int)number;
		else
			*(int32_t *)field = (int32_t)number;
		return true;
	case OPTION_PROBABILITY: {
		char *end;
		double probability;
		/*
		 * errno is not looked at: an overflow (ERANGE, HUGE_VAL) fails the
		 * range check anyway, and an underflow (ERANGE, a subnormal or zero)
		 * is a fine probability. Refusing it would refuse the formatted
		 * text of a subnormal given exactly (0x1p-1074 is accepted, its
		 * "%.17g" form underflows), and format -> parse must round-trip.
		 */
		probability = strtod(value, &end);
		if (value[0] == '\0' || *end != '\0' || !(probability >= 0.0)
			|| !(probability <= 1.0))
			return false;
		*(double *)field = probability;
		return true;
	}
	case OPTION_STRING:
		if (strlen(value) >= spec->field_size)
			return false;
		strcpy(field, value);
		return true;
	case OPTION_CHOICE:
		for (int i = 0; spec->choices[i] != NULL; i++) {
			if (strcmp(value, spec->choices[i]) == 0) {
				*(int *)field = i;
				return true;
			}
		}
		return false;
	}
	return false;
}

static void format_value(const struct option_spec *spec, const void *field, char *buffer,
	size_t size)
{
	switch (spec->type) {
	case OPTION_BOOL:
		snprintf(buffer, size, "%d", *(const bool *)field ? 1 : 0);
		break;
	case OPTION_UNSIGNED:
		snprintf(buffer, size, "%u", *(const unsigned *)field);
		break;
	case OPTION_SIZE:
		snprintf(buffer, size, "%zu", *(const size_t *)field);
		break;
	case OPTION_U64:
		snprintf(buffer, size, "%" PRIu64, *(const uint64_t *)field);
		break;
	case OPTION_INT:
		snprintf(buffer, size, "%d", *(const int *)field);
		break;
	case OPTION_I32:
		snprintf(buffer, size, "%" PRId32, *(const int32_t *)field);
		break;
	case OPTION_PROBABILITY:
		snprintf(buffer, size, "%.17g", *(const double *)field);
		break;
	case OPTION_STRING:
		snprintf(buffer, size, "%s", (const char *)field);
		break;
	case OPTION_CHOICE:
		snprintf(buffer, size, "%s", spec->choices[*(const int *)field]);
		break;
	}
}

/* Copies text for a one-line message: control characters become '?'. */
static void printable(const char *text, char *buffer, size_t size)
{
	size_t i = 0;

	for (; text[i] != '\0' && i + 1 < size; i++)
		buffer[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
	buffer[i] = '\0';
}

static void warn_unknown_key(const char *key, size_t length, debug_options_warn_fn warn,
	void *context)
{
	char message[1024], name[65];
	size_t used;

	snprintf(name, sizeof(name), "%.*s", (int)(length > 64 ? 64 : length), key);
	printable(name, name, sizeof(name));
	used = (size_t)snprintf(message, sizeof(message),
		"area_malloc: unknown option '%s' in AREA_MALLOC_OPTIONS, ignored; valid options:",
		name);

	for (size_t i = 0; i < OPTION_COUNT && used < sizeof(message); i++)
		used += (size_t)snprintf(message + used, sizeof(message) - used, "%s %s",
			i == 0 ? "" : ",", option_specs[i].key);
	warn(message, context);
}

/* What the option accepts, from its table entry, so no help text can miss it. */
static void describe_accepted(const struct option_spec *spec, char *buffer, size_t size)
{
	switch (spec->type) {
	case OPTION_UNSIGNED:
	case OPTION_U64:
	case OPTION_INT:
	case OPTION_I32:
		snprintf(buffer, size, "a number from %llu to %llu", (unsigned long long)spec->min,
			(unsigned long long)spec->max);
		break;
	case OPTION_SIZE:
		snprintf(buffer, size, "a size from %llu to %llu bytes, k/m/g suffixes allowed",
			(unsigned long long)spec->min, (unsigned long long)spec->max);
		break;
	case OPTION_STRING:
		snprintf(buffer, size, "at most %zu characters", spec->field_size - 1);
		break;
	case OPTION_BOOL:
		snprintf(buffer, size, "0 or 1");
		break;
	case OPTION_PROBABILITY:
		snprintf(buffer, size, "a number from 0 to 1");
		break;
	case OPTION_CHOICE: {
		size_t used = 0;
		buffer[0] = '\0';
		for (int i = 0; spec->choices[i] != NULL && used < size; i++)
			used += (size_t)snprintf(buffer + used, size - used, "%s%s",
				i == 0                                 ? ""
					: spec->choices[i + 1] == NULL ? " or "
								       : ", ",
				spec->choices[i]);
		break;
	}
	}
}

static void warn_bad_value(const struct option_spec *spec, const char *value, const void *field,
	debug_options_warn_fn warn, void *context)
{
	char message[1024], current[DEBUG_OPTIONS_PATH_MAX + 1], shown[65], current_shown[201];
	char accepted[128];

	format_value(spec, field, current, sizeof(current));
	printable(value, shown, sizeof(shown));
	printable(current, current_shown, sizeof(current_shown));
	describe_accepted(spec, accepted, sizeof(accepted));
	snprintf(message, sizeof(message),
		"area_malloc: bad value '%s' for option '%s' (%s: %s); using %s%s%s", shown,
		spec->key, spec->help, accepted, current[0] ? "" : "'", current_shown,
		current[0] ? "" : "'");
	warn(message, context);
}

static void ignore_warning(const char *message, void *context)
{
	(void)message;
	(void)context;
}

/* help=1: every option, its default and what it means, one line each (as
 * ASan's help=1). */
static const struct option_spec help_spec = { "help", OPTION_BOOL, 0, sizeof(bool), 0, 1,
	"print every option with its default and meaning, 0 or 1", NULL };

static void print_help(debug_options_warn_fn warn, void *context)
{
	struct debug_options defaults;
	char line[1024], value[DEBUG_OPTIONS_PATH_MAX + 1], shown[201];

	debug_options_set_defaults(&defaults);
	warn(DEBUG_OPTIONS_HELP_PREFIX "options (AREA_MALLOC_OPTIONS=key=value, separated by "
				       "':' or ','; quote a value that holds one):",
		context);
	for (size_t i = 0; i < OPTION_COUNT; i++) {
		const struct option_spec *spec = &option_specs[i];
		format_value(spec, (const char *)&defaults + spec->offset, value, sizeof(value));
		printable(value, shown, sizeof(shown));
		snprintf(line, sizeof(line), DEBUG_OPTIONS_HELP_PREFIX "  %s=%s%s%s - %s",
			spec->key, shown[0] ? "" : "'", shown, shown[0] ? "" : "'", spec->help);
		warn(line, context);
	}
	for (size_t i = 0; i < sizeof(option_aliases) / sizeof(option_aliases[0]); i++) {
		snprintf(line, sizeof(line), DEBUG_OPTIONS_HELP_PREFIX "  %s - another name of %s",
			option_aliases[i].alias, option_aliases[i].key);
		warn(line, context);
	}
}

int debug_options_parse(const char *text, struct debug_options *options, debug_options_warn_fn warn,
	void *context)
{
	char value[DEBUG_OPTIONS_PATH_MAX + 1];
	const char *cursor = text;
	int problems = 0;

	if (warn == NULL)
		warn = ignore_warning;
	if (text == NULL)
		return 0;
	while (*cursor != '\0') {
		const char *key = cursor;
		size_t key_length, value_length = 0;
		const struct option_spec *spec;
		bool overlong = false;

		if (is_separator(*cursor)) {
			cursor++;
			continue;
		}
		while (*cursor != '\0' && *cursor != '=' && !is_separator(*cursor))
			cursor++;
		key_length = (size_t)(cursor - key);
		if (*cursor != '=') {
			char message[256], name[65];
			snprintf(name, sizeof(name), "%.*s",
				(int)(key_length > 64 ? 64 : key_length), key);
			printable(name, name, sizeof(name));
			snprintf(message, sizeof(message),
				"area_malloc: option '%s' in AREA_MALLOC_OPTIONS has no value "
				"(write key=value), ignored",
				name);
			warn(message, context);
			problems++;
			continue;
		}
		cursor++;
		if (*cursor == '\'' || *cursor == '"') {
			char quote = *cursor++;
			while (*cursor != '\0' && *cursor != quote) {
				if (value_length < sizeof(value) - 1)
					value[value_length++] = *cursor;
				else
					overlong = true;
				cursor++;
			}
			if (*cursor == quote)
				cursor++;
			else
				overlong = true; /* unterminated quote: refuse the value */
			if (*cursor != '\0' && !is_separator(*cursor)) {
				overlong = true; /* text after the closing quote */
				while (*cursor != '\0' && !is_separator(*cursor))
					cursor++;
			}
		} else {
			while (*cursor != '\0' && !is_separator(*cursor)) {
				if (value_length < sizeof(value) - 1)
					value[value_length++] = *cursor;
				else
					overlong = true;
				cursor++;
			}
		}
		value[value_length] = '\0';

		if (key_length == 4 && strncmp(key, "help", 4) == 0) {
			bool wanted = false;
			if (overlong || !apply_value(&help_spec, value, &wanted)) {
				warn_bad_value(&help_spec, value, &wanted, warn, context);
				problems++;
			} else if (wanted) {
				print_help(warn, context);
			}
			continue;
		}
		spec = find_spec(key, key_length);
		if (spec == NULL) {
			warn_unknown_key(key, key_length, warn, context);
			problems++;
			continue;
		}
		if (overlong || !apply_value(spec, value, (char *)options + spec->offset)) {
			warn_bad_value(spec, value, (char *)options + spec->offset, warn, context);
			problems++;
		}
	}
	return problems;
}

size_t debug_options_format(const struct debug_options *options, char *buffer, size_t size)
{
	size_t used = 0;

	if (size > 0)
		buffer[0] = '\0';
	for (size_t i = 0; i < OPTION_COUNT; i++) {
		const struct option_spec *spec = &option_specs[i];
		char value[DEBUG_OPTIONS_PATH_MAX + 1];
		char quote;
		int written;

		format_value(spec, (const char *)options + spec->offset, value, sizeof(value));
		/*
		 * A value with a separator (':' or ','), or one that starts with a
		 * quote (the parser would take it for an opening quote), is quoted
		 * with the quote it does not contain. A parsed value always lacks
		 * one of the two: a quoted one cannot contain its own quote, and an
		 * unquoted one has no separator and does not start with a quote.
		 */
		quote = strpbrk(value, ":,") != NULL || value[0] == '\'' || value[0] == '"'
			? (strchr(value, '\'') != NULL ? '"' : '\'')
			: 0;
		written = snprintf(used < size ? buffer + used : NULL,
			used < size ? size - used : 0, "%s%s=%.*s%s%.*s", i == 0 ? "" : ":",
			spec->key, quote ? 1 : 0, &quote, value, quote ? 1 : 0, &quote);
		if (written > 0)
			used += (size_t)written;
	}
	return used;
}
