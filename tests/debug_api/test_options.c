/*
 * test_options.c - the AREA_MALLOC_OPTIONS parser (src/format/options.c,
 * compiled into this test): defaults, every key with good values, bad
 * values and unknown keys (refused with exactly one warning each, the old
 * value kept), the ':'/quote syntax, format -> parse round trips, and a
 * seeded fuzz loop that must never crash nor leave a field out of range;
 * color=auto's decision (a terminal, TERM, NO_COLOR) and ASan's colours.
 *
 * Invariant under test: after any debug_options_parse(), every field holds
 * its previous value or a value inside its documented range, and the
 * number returned equals the number of warnings given.
 *
 * Locking: none; single-threaded, each test in a process of its own.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/options.h"
#include "support/check_main.h"

#define MAX_KEPT_WARNINGS 8
#define WARNING_BYTES 2048

static const char *const valid_keys[] = { "stack_depth", "stack_depot_bytes", "log_size",
	"quarantine_bytes", "max_malloc_fill_size", "max_free_check_size", "max_reports",
	"release_capacity", "realloc_move", "fail_nth", "fail_rate", "fail_seed", "fail_pool",
	"fail_caller", "halt_on_error", "exitcode", "leak_check", "leak_mode", "leak_interior",
	"leak_scan_unload", "guard", "guard_pools", "guard_size", "guard_sample", "guard_seed",
	"guard_underflow", "guard_pool_max", "guard_process_max", "guard_regions", "suppressions",
	"log_path", "report_format", "color", "suggest_suppressions", "node", "node_dir",
	"keep_dead_nodes", "node_reserve", "fork_nodes", "reader_wait_us" };

#define VALID_KEY_COUNT (sizeof(valid_keys) / sizeof(valid_keys[0]))

struct warnings {
	int count;
	char text[MAX_KEPT_WARNINGS][WARNING_BYTES];
};

static void collect_warning(const char *message, void *context)
{
	struct warnings *warnings = context;

	if (warnings->count < MAX_KEPT_WARNINGS)
		snprintf(warnings->text[warnings->count], WARNING_BYTES, "%s", message);
	warnings->count++;
}

/* Parses text on top of *options; returns the warnings (count checked
 * against the parser's own answer). */
static struct warnings parse(const char *text, struct debug_options *options)
{
	struct warnings warnings = { 0 };
	int problems = debug_options_parse(text, options, collect_warning, &warnings);

	ck_assert_msg(problems == warnings.count,
		"'%s': returned %d problem(s) but gave %d warning(s)", text, problems,
		warnings.count);
	return warnings;
}

static struct debug_options defaults(void)
{
	struct debug_options options;

	debug_options_set_defaults(&options);
	return options;
}

/* Field by field, so a failure names the field. */
static void assert_options_equal(const struct debug_options *got, const struct debug_options *want,
	const char *context)
{
	ck_assert_msg(got->stack_depth == want->stack_depth, "%s: stack_depth %u, want %u", context,
		got->stack_depth, want->stack_depth);
	ck_assert_msg(got->stack_depot_bytes == want->stack_depot_bytes,
		"%s: stack_depot_bytes %zu, want %zu", context, got->stack_depot_bytes,
		want->stack_depot_bytes);
	ck_assert_msg(got->log_size == want->log_size, "%s: log_size %zu, want %zu", context,
		got->log_size, want->log_size);
	ck_assert_msg(got->quarantine_bytes == want->quarantine_bytes,
		"%s: quarantine_bytes %zu, want %zu", context, got->quarantine_bytes,
		want->quarantine_bytes);
	ck_assert_msg(got->max_reports == want->max_reports, "%s: max_reports %u, want %u", context,
		got->max_reports, want->max_reports);
	ck_assert_msg(got->release_capacity == want->release_capacity,
		"%s: release_capacity %d, want %d", context, got->release_capacity,
		want->release_capacity);
	ck_assert_msg(got->realloc_move == want->realloc_move, "%s: realloc_move %d, want %d",
		context, got->realloc_move, want->realloc_move);
	ck_assert_msg(got->fail_nth == want->fail_nth, "%s: fail_nth %llu, want %llu", context,
		(unsigned long long)got->fail_nth, (unsigned long long)want->fail_nth);
	ck_assert_msg(memcmp(&got->fail_rate, &want->fail_rate, sizeof(double)) == 0,
		"%s: fail_rate %.17g, want %.17g", context, got->fail_rate, want->fail_rate);
	ck_assert_msg(got->fail_seed == want->fail_seed, "%s: fail_seed %llu, want %llu", context,
		(unsigned long long)got->fail_seed, (unsigned long long)want->fail_seed);
	ck_assert_msg(got->fail_pool == want->fail_pool, "%s: fail_pool %d, want %d", context,
		(int)got->fail_pool, (int)want->fail_pool);
	ck_assert_msg(strcmp(got->fail_caller, want->fail_caller) == 0,
		"%s: fail_caller '%s', want '%s'", context, got->fail_caller, want->fail_caller);
	ck_assert_msg(got->halt_on_error == want->halt_on_error, "%s: halt_on_error %d, want %d",
		context, got->halt_on_error, want->halt_on_error);
	ck_assert_msg(got->exitcode == want->exitcode, "%s: exitcode %d, want %d", context,
		got->exitcode, want->exitcode);
	ck_assert_msg(got->leak_check == want->leak_check, "%s: leak_check %d, want %d", context,
		got->leak_check, want->leak_check);
	ck_assert_msg(got->leak_mode == want->leak_mode, "%s: leak_mode %d, want %d", context,
		(int)got->leak_mode, (int)want->leak_mode);
	ck_assert_msg(got->leak_interior == want->leak_interior, "%s: leak_interior %d, want %d",
		context, got->leak_interior, want->leak_interior);
	ck_assert_msg(strcmp(got->suppressions, want->suppressions) == 0,
		"%s: suppressions '%.80s', want '%.80s'", context, got->suppressions,
		want->suppressions);
	ck_assert_msg(strcmp(got->log_path, want->log_path) == 0,
		"%s: log_path '%.80s', want '%.80s'", context, got->log_path, want->log_path);
	ck_assert_msg(got->report_format == want->report_format, "%s: report_format %d, want %d",
		context, (int)got->report_format, (int)want->report_format);
	ck_assert_msg(got->color == want->color, "%s: color %d, want %d", context, (int)got->color,
		(int)want->color);
	ck_assert_msg(got->suggest_suppressions == want->suggest_suppressions,
		"%s: suggest_suppressions %d, want %d", context, got->suggest_suppressions,
		want->suggest_suppressions);
	ck_assert_msg(got->node == want->node, "%s: node %d, want %d", context, got->node,
		want->node);
	ck_assert_msg(strcmp(got->node_dir, want->node_dir) == 0,
		"%s: node_dir '%.80s', want '%.80s'", context, got->node_dir, want->node_dir);
	ck_assert_msg(got->keep_dead_nodes == want->keep_dead_nodes,
		"%s: keep_dead_nodes %u, want %u", context, got->keep_dead_nodes,
		want->keep_dead_nodes);
	ck_assert_msg(got->fork_nodes == want->fork_nodes, "%s: fork_nodes %d, want %d", context,
		got->fork_nodes, want->fork_nodes);
	ck_assert_msg(got->node_reserve == want->node_reserve, "%s: node_reserve %d, want %d",
		context, got->node_reserve, want->node_reserve);
	ck_assert_msg(got->reader_wait_us == want->reader_wait_us, "%s: reader_wait_us %u, want %u",
		context, got->reader_wait_us, want->reader_wait_us);
}

/* ---- defaults ---- */

START_TEST(test_defaults)
{
	struct debug_options options;

	memset(&options, 0xa5, sizeof(options));
	debug_options_set_defaults(&options);
	/* whole stacks by default (ASan records 30 frames; the depot makes
	 * them cheap), in a depot of 32 MiB */
	ck_assert_uint_eq(options.stack_depth, 16);
	ck_assert_uint_eq(options.stack_depot_bytes, 32 * 1024 * 1024);
	ck_assert_uint_eq(options.log_size, 256);
	ck_assert_uint_eq(options.quarantine_bytes, 1024 * 1024);
	ck_assert_uint_eq(options.max_reports, 100);
	ck_assert(!options.realloc_move);
	/* capacity parity with the release build, unless asked otherwise */
	ck_assert(options.release_capacity);
	ck_assert_uint_eq(options.fail_nth, 0);
	ck_assert(options.fail_rate == 0.0);
	ck_assert_uint_eq(options.fail_seed, 0);
	ck_assert_int_eq(options.fail_pool, 0);
	ck_assert_str_eq(options.fail_caller, "");
	ck_assert(!options.halt_on_error);
	ck_assert_int_eq(options.exitcode, 23);
	ck_assert(options.leak_check);
	ck_assert_str_eq(options.suppressions, "");
	ck_assert_str_eq(options.log_path, "");
	ck_assert_int_eq(options.report_format, REPORT_FORMAT_TEXT);
	ck_assert(options.node);
	ck_assert_str_eq(options.node_dir, "");
	ck_assert_uint_eq(options.keep_dead_nodes, 8);
	ck_assert(!options.fork_nodes);
	/* one allocation in 5000 guarded (KFENCE, GWP-ASan), no more unless
	 * asked; 256 a pool */
	ck_assert(!options.guard);
	ck_assert_str_eq(options.guard_pools, "");
	ck_assert_uint_eq(options.guard_size, 0);
	ck_assert_uint_eq(options.guard_sample, 5000);
	ck_assert_uint_eq(options.guard_seed, 0);
	ck_assert(!options.guard_underflow);
	ck_assert_uint_eq(options.guard_pool_max, 256);
	ck_assert_uint_eq(options.guard_process_max, 0);
	ck_assert(!options.guard_regions);
}
END_TEST

START_TEST(test_null_and_empty_text_change_nothing)
{
	const char *texts[] = { NULL, "", ":", ":::" };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct debug_options options = defaults(), want = defaults();
		struct warnings warnings = parse(texts[i], &options);

		ck_assert_msg(warnings.count == 0, "'%s': %s", texts[i] ? texts[i] : "(null)",
			warnings.text[0]);
		assert_options_equal(&options, &want, texts[i] ? texts[i] : "(null)");
	}
	/* no warning callback: problems are still counted, nothing crashes */
	{
		struct debug_options options = defaults();
		ck_assert_int_eq(debug_options_parse("bogus=1:stack_depth=0", &options, NULL, NULL),
			2);
		ck_assert_uint_eq(options.stack_depth, 16);
	}
}
END_TEST

/* ---- good values ---- */

struct good_case {
	const char *text;
	void (*expect)(struct debug_options *want);
};

#define EXPECT(name, body)                                                                         \
	static void name(struct debug_options *want)                                               \
	{                                                                                          \
		body;                                                                              \
	}

EXPECT(want_depth_1, want->stack_depth = 1)
EXPECT(want_depth_32, want->stack_depth = 32)
EXPECT(want_depth_7, want->stack_depth = 7)
EXPECT(want_depot_64k, want->stack_depot_bytes = 64 * 1024)
EXPECT(want_depot_4g, want->stack_depot_bytes = (size_t)4 << 30)
EXPECT(want_log_0, want->log_size = 0)
EXPECT(want_log_1k, want->log_size = 1024)
EXPECT(want_log_max, want->log_size = 1048576)
EXPECT(want_quarantine_0, want->quarantine_bytes = 0)
EXPECT(want_quarantine_512, want->quarantine_bytes = 512)
EXPECT(want_quarantine_4k, want->quarantine_bytes = 4096)
EXPECT(want_quarantine_2m, want->quarantine_bytes = 2 * 1024 * 1024)
EXPECT(want_quarantine_1g, want->quarantine_bytes = (size_t)1 << 30)
EXPECT(want_quarantine_max, want->quarantine_bytes = (size_t)1 << 40)
EXPECT(want_reports_0, want->max_reports = 0)
EXPECT(want_reports_max, want->max_reports = UINT32_MAX)
EXPECT(want_move, want->realloc_move = true)
EXPECT(want_no_move, want->realloc_move = false)
EXPECT(want_generous, want->release_capacity = false)
EXPECT(want_nth_5, want->fail_nth = 5)
EXPECT(want_nth_max, want->fail_nth = UINT64_MAX)
EXPECT(want_rate_0, want->fail_rate = 0.0)
EXPECT(want_rate_1, want->fail_rate = 1.0)
EXPECT(want_rate_quarter, want->fail_rate = 0.25)
EXPECT(want_rate_milli, want->fail_rate = 1e-3)
EXPECT(want_seed_42, want->fail_seed = 42)
EXPECT(want_seed_max, want->fail_seed = UINT64_MAX)
EXPECT(want_pool_9, want->fail_pool = 9)
EXPECT(want_pool_max, want->fail_pool = INT32_MAX)
EXPECT(want_caller, strcpy(want->fail_caller, "my_driver_*"))
EXPECT(want_halt, want->halt_on_error = true)
EXPECT(want_no_halt, want->halt_on_error = false)
EXPECT(want_exit_0, want->exitcode = 0)
EXPECT(want_exit_255, want->exitcode = 255)
EXPECT(want_exit_1, want->exitcode = 1)
EXPECT(want_leak_off, want->leak_check = false)
EXPECT(want_leak_on, want->leak_check = true)
EXPECT(want_unreferenced, want->leak_mode = LEAK_MODE_UNREFERENCED)
EXPECT(want_all, want->leak_mode = LEAK_MODE_ALL)
EXPECT(want_interior, want->leak_interior = true)
EXPECT(want_suppressions, strcpy(want->suppressions, "/etc/area_malloc.supp"))
EXPECT(want_log_path, strcpy(want->log_path, "/tmp/area_malloc.log"))
EXPECT(want_empty_log_path, want->log_path[0] = '\0')
EXPECT(want_json, want->report_format = REPORT_FORMAT_JSON)
EXPECT(want_text, want->report_format = REPORT_FORMAT_TEXT)
EXPECT(want_color_always, want->color = COLOR_ALWAYS)
EXPECT(want_color_never, want->color = COLOR_NEVER)
EXPECT(want_color_auto, want->color = COLOR_AUTO)
EXPECT(want_no_suggestions, want->suggest_suppressions = false)
EXPECT(want_no_node, want->node = false)
EXPECT(want_node_dir, strcpy(want->node_dir, "/run/area_malloc"))
EXPECT(want_keep_0, want->keep_dead_nodes = 0)
EXPECT(want_keep_max, want->keep_dead_nodes = 100000)
EXPECT(want_fork_nodes, want->fork_nodes = true)
EXPECT(want_node_reserve, want->node_reserve = true)
EXPECT(want_two_keys, (want->stack_depth = 4, want->log_size = 8))
EXPECT(want_last_wins, want->stack_depth = 3)
EXPECT(want_no_reader_wait, want->reader_wait_us = 0)
EXPECT(want_reader_wait_max, want->reader_wait_us = 100000)
EXPECT(want_guard, want->guard = true)
EXPECT(want_guard_pools, strcpy(want->guard_pools, "net*"))
EXPECT(want_guard_size_4k, want->guard_size = 4096)
EXPECT(want_guard_sample_1000, want->guard_sample = 1000)
EXPECT(want_guard_seed_7, want->guard_seed = 7)
EXPECT(want_guard_underflow, want->guard_underflow = true)
EXPECT(want_guard_pool_max_1, want->guard_pool_max = 1)
EXPECT(want_guard_pool_max_max, want->guard_pool_max = 16384)
EXPECT(want_guard_process_max_0, want->guard_process_max = 0)
EXPECT(want_guard_process_max_100, want->guard_process_max = 100)
EXPECT(want_guard_regions, want->guard_regions = true)

static const struct good_case good_cases[] = {
	{ "stack_depth=1", want_depth_1 },
	{ "stack_depth=32", want_depth_32 },
	{ "stack_depth=7", want_depth_7 },
	{ "stack_depot_bytes=64k", want_depot_64k },
	{ "stack_depot_bytes=4g", want_depot_4g },
	{ "log_size=0", want_log_0 },
	{ "log_size=1k", want_log_1k },
	{ "log_size=1048576", want_log_max },
	{ "log_size=1m", want_log_max },
	{ "quarantine_bytes=0", want_quarantine_0 },
	{ "quarantine_bytes=512", want_quarantine_512 },
	{ "quarantine_bytes=4k", want_quarantine_4k },
	{ "quarantine_bytes=2m", want_quarantine_2m },
	{ "quarantine_bytes=1g", want_quarantine_1g },
	{ "quarantine_bytes=1024g", want_quarantine_max },
	{ "max_reports=0", want_reports_0 },
	{ "max_reports=4294967295", want_reports_max },
	{ "realloc_move=1", want_move },
	{ "realloc_move=true", want_move },
	{ "realloc_move=0", want_no_move },
	{ "realloc_move=false", want_no_move },
	{ "release_capacity=0", want_generous },
	{ "release_capacity=false", want_generous },
	{ "fail_nth=5", want_nth_5 },
	{ "fail_nth=18446744073709551615", want_nth_max },
	{ "fail_rate=0", want_rate_0 },
	{ "fail_rate=1", want_rate_1 },
	{ "fail_rate=1.0", want_rate_1 },
	{ "fail_rate=0.25", want_rate_quarter },
	{ "fail_rate=1e-3", want_rate_milli },
	{ "fail_seed=42", want_seed_42 },
	{ "fail_seed=18446744073709551615", want_seed_max },
	{ "fail_pool=9", want_pool_9 },
	{ "fail_pool=2147483647", want_pool_max },
	{ "fail_caller=my_driver_*", want_caller },
	{ "halt_on_error=1", want_halt },
	{ "halt_on_error=true", want_halt },
	{ "halt_on_error=false", want_no_halt },
	{ "exitcode=0", want_exit_0 },
	{ "exitcode=255", want_exit_255 },
	{ "exitcode=1", want_exit_1 },
	{ "leak_check=0", want_leak_off },
	{ "leak_check=false", want_leak_off },
	{ "leak_check=1", want_leak_on },
	{ "suppressions=/etc/area_malloc.supp", want_suppressions },
	{ "log_path=/tmp/area_malloc.log", want_log_path },
	{ "log_path=", want_empty_log_path },
	{ "report_format=json", want_json },
	{ "report_format=text", want_text },
	{ "leak_mode=unreferenced", want_unreferenced },
	{ "leak_mode=all", want_all },
	{ "leak_interior=1", want_interior },
	{ "color=always", want_color_always },
	{ "color=never", want_color_never },
	{ "color=auto", want_color_auto },
	{ "suggest_suppressions=0", want_no_suggestions },
	{ "node=0", want_no_node },
	{ "node=false", want_no_node },
	{ "node_dir=/run/area_malloc", want_node_dir },
	{ "keep_dead_nodes=0", want_keep_0 },
	{ "keep_dead_nodes=100000", want_keep_max },
	{ "fork_nodes=1", want_fork_nodes },
	{ "node_reserve=1", want_node_reserve },
	{ "stack_depth=4:log_size=8", want_two_keys },
	{ "::stack_depth=4::log_size=8::", want_two_keys },
	{ "stack_depth=9:stack_depth=3", want_last_wins },
	/* ',' separates too, as in ASAN_OPTIONS */
	{ "stack_depth=4,log_size=8", want_two_keys },
	{ ",,stack_depth=4,:log_size=8,", want_two_keys },
	/* ASan's name of leak_check */
	{ "detect_leaks=0", want_leak_off },
	{ "detect_leaks=1", want_leak_on },
	{ "reader_wait_us=0", want_no_reader_wait },
	{ "reader_wait_us=100000", want_reader_wait_max },
	{ "guard=1", want_guard },
	{ "guard_pools=net*", want_guard_pools },
	{ "guard_size=4k", want_guard_size_4k },
	{ "guard_sample=1000", want_guard_sample_1000 },
	{ "guard_seed=7", want_guard_seed_7 },
	{ "guard_underflow=1", want_guard_underflow },
	{ "guard_pool_max=1", want_guard_pool_max_1 },
	{ "guard_pool_max=16384", want_guard_pool_max_max },
	{ "guard_process_max=0", want_guard_process_max_0 },
	{ "guard_process_max=100", want_guard_process_max_100 },
	{ "guard_regions=1", want_guard_regions },
};

#define GOOD_CASE_COUNT ((int)(sizeof(good_cases) / sizeof(good_cases[0])))

START_TEST(test_good_value)
{
	const struct good_case *good = &good_cases[_i];
	struct debug_options options = defaults(), want = defaults();
	struct warnings warnings = parse(good->text, &options);

	ck_assert_msg(warnings.count == 0, "'%s' warned: %s", good->text, warnings.text[0]);
	good->expect(&want);
	assert_options_equal(&options, &want, good->text);
}
END_TEST

/* A good value replaces a good value that was set before. */
START_TEST(test_good_value_over_non_default)
{
	struct debug_options options = defaults(), want = defaults();

	ck_assert_int_eq(parse("log_path=/a:report_format=json:fail_rate=0.5", &options).count, 0);
	ck_assert_int_eq(parse("log_path=/b:report_format=text:fail_rate=0", &options).count, 0);
	strcpy(want.log_path, "/b");
	assert_options_equal(&options, &want, "second parse");
}
END_TEST

/* ---- bad values ---- */

struct bad_case {
	const char *key;
	const char *value;  /* refused */
	const char *preset; /* set before, must be kept; as the warning prints it */
	/* what the warning must say about the accepted values: every entry must
	 * match, an entry matches when one of its '|' alternatives occurs */
	const char *accepted[2];
};

static const struct bad_case bad_cases[] = {
	{ "stack_depth", "0", "5", { "1 to 32" } },
	{ "stack_depth", "33", "5", { "1 to 32" } },
	{ "stack_depth", "-1", "5", { "1 to 32" } },
	{ "stack_depth", "abc", "5", { "1 to 32" } },
	{ "stack_depth", "4x", "5", { "1 to 32" } },
	{ "stack_depth", "99999999999999999999999", "5", { "1 to 32" } },
	{ "stack_depth", "", "5", { "1 to 32" } },
	{ "stack_depth", " 4", "5", { "1 to 32" } },
	{ "stack_depth", "4 ", "5", { "1 to 32" } },
	{ "stack_depth", "4k", "5", { "1 to 32" } },
	{ "stack_depot_bytes", "4095", "65536", { "4096 to 4294967296" } },
	{ "stack_depot_bytes", "5g", "65536", { "4096 to 4294967296" } },
	{ "log_size", "1048577", "512", { "0 to 1048576" } },
	{ "log_size", "2m", "512", { "0 to 1048576" } },
	{ "log_size", "1q", "512", { "0 to 1048576" } },
	{ "log_size", "1kk", "512", { "0 to 1048576" } },
	{ "log_size", "-5", "512", { "0 to 1048576" } },
	{ "log_size", "1.5k", "512", { "0 to 1048576" } },
	{ "quarantine_bytes", "2048g", "65536", { "1099511627776|1024g|1t" } },
	{ "quarantine_bytes", "1099511627777", "65536", { "1099511627776|1024g|1t" } },
	{ "quarantine_bytes", "18014398509481984k", "65536", { "1099511627776|1024g|1t" } },
	{ "quarantine_bytes", "1t", "65536", { "k, m, g|k/m/g" } },
	{ "quarantine_bytes", "1.5m", "65536", { "k, m, g|k/m/g" } },
	{ "quarantine_bytes", "-1", "65536", { "k, m, g|k/m/g" } },
	{ "quarantine_bytes", "m", "65536", { "k, m, g|k/m/g" } },
	{ "max_reports", "4294967296", "7", { "4294967295" } },
	{ "max_reports", "-1", "7", { "0 for no limit" } },
	{ "max_reports", "ten", "7", { "0 for no limit" } },
	{ "realloc_move", "2", "1", { "0 or 1" } },
	{ "realloc_move", "yes", "1", { "0 or 1" } },
	{ "realloc_move", "", "1", { "0 or 1" } },
	{ "realloc_move", "01", "1", { "0 or 1" } },
	{ "halt_on_error", "on", "1", { "0 or 1" } },
	{ "leak_check", "maybe", "0", { "0 or 1" } },
	{ "fail_nth", "18446744073709551616", "9", { "18446744073709551615" } },
	{ "fail_nth", "-3", "9", { "0 for never" } },
	{ "fail_nth", "1k", "9", { "0 for never" } },
	{ "fail_nth", "3rd", "9", { "0 for never" } },
	{ "fail_rate", "1.5", "0.25", { "0 to 1" } },
	{ "fail_rate", "-0.1", "0.25", { "0 to 1" } },
	{ "fail_rate", "nan", "0.25", { "0 to 1" } },
	{ "fail_rate", "abc", "0.25", { "0 to 1" } },
	{ "fail_rate", "0.5x", "0.25", { "0 to 1" } },
	{ "fail_rate", "", "0.25", { "0 to 1" } },
	{ "fail_seed", "18446744073709551616", "42", { "18446744073709551615" } },
	{ "fail_seed", "-1", "42", { "18446744073709551615" } },
	{ "fail_pool", "2147483648", "9", { "2147483647" } },
	{ "fail_pool", "-1", "9", { "area id" } },
	{ "exitcode", "256", "1", { "0 to 255" } },
	{ "exitcode", "-1", "1", { "0 to 255" } },
	{ "node", "2", "0", { "0 or 1" } },
	{ "fork_nodes", "no", "1", { "0 or 1" } },
	{ "node_reserve", "yes", "1", { "0 or 1" } },
	{ "keep_dead_nodes", "100001", "3", { "0 to 100000" } },
	{ "keep_dead_nodes", "-1", "3", { "0 to 100000" } },
	{ "reader_wait_us", "100001", "5", { "0 to 100000" } },
	{ "report_format", "xml", "json", { "text", "json" } },
	{ "report_format", "JSON", "json", { "text", "json" } },
	{ "report_format", "", "json", { "text", "json" } },
	{ "leak_mode", "some", "unreferenced", { "all", "unreferenced" } },
	{ "leak_interior", "2", "1", { "0 or 1" } },
	{ "color", "yes", "never", { "auto, always or never" } },
	{ "color", "ALWAYS", "always", { "auto, always or never" } },
	{ "color", "", "never", { "auto, always or never" } },
	{ "suggest_suppressions", "no", "0", { "0 or 1" } },
	{ "guard", "2", "1", { "0 or 1" } },
	{ "guard_pool_max", "0", "3", { "1 to 16384" } },
	{ "guard_pool_max", "16385", "3", { "1 to 16384" } },
	{ "guard_sample", "-1", "5", { "0 for none" } },
};

#define BAD_CASE_COUNT ((int)(sizeof(bad_cases) / sizeof(bad_cases[0])))

/* Sets the case's preset, then parses its bad value; returns the warnings
 * of the second parse after checking that nothing changed. */
static struct warnings parse_bad_case(const struct bad_case *bad)
{
	struct debug_options options = defaults(), before;
	char text[256];
	struct warnings warnings;

	snprintf(text, sizeof(text), "%s=%s", bad->key, bad->preset);
	warnings = parse(text, &options);
	ck_assert_msg(warnings.count == 0, "preset '%s' warned: %s", text, warnings.text[0]);
	before = options;
	snprintf(text, sizeof(text), "%s=%s", bad->key, bad->value);
	warnings = parse(text, &options);
	ck_assert_msg(warnings.count == 1, "'%s': %d warnings, want exactly 1", text,
		warnings.count);
	assert_options_equal(&options, &before, text);
	return warnings;
}

/* The key, the refused value and the value kept are all named. */
START_TEST(test_bad_value_is_refused_with_one_warning)
{
	const struct bad_case *bad = &bad_cases[_i];
	struct warnings warnings = parse_bad_case(bad);
	char fragment[300];

	snprintf(fragment, sizeof(fragment), "'%s'", bad->key);
	ck_assert_msg(strstr(warnings.text[0], fragment) != NULL, "%s=%s: key not named in: %s",
		bad->key, bad->value, warnings.text[0]);
	snprintf(fragment, sizeof(fragment), "'%s'", bad->value);
	ck_assert_msg(strstr(warnings.text[0], fragment) != NULL,
		"%s=%s: refused value not shown in: %s", bad->key, bad->value, warnings.text[0]);
	snprintf(fragment, sizeof(fragment), "using %s", bad->preset);
	ck_assert_msg(strstr(warnings.text[0], fragment) != NULL,
		"%s=%s: value kept (%s) not named in: %s", bad->key, bad->value, bad->preset,
		warnings.text[0]);
}
END_TEST

static bool contains_one_of(const char *text, const char *alternatives)
{
	char copy[256];
	char *save = NULL;

	snprintf(copy, sizeof(copy), "%s", alternatives);
	for (char *one = strtok_r(copy, "|", &save); one != NULL; one = strtok_r(NULL, "|", &save))
		if (strstr(text, one) != NULL)
			return true;
	return false;
}

/*
 * The warning tells what would have been accepted; for a number beyond its
 * range, that includes the bound it broke.
 *
 * MODULE BUG (reported, src/format/options.c is not ours to fix): the help
 * texts of quarantine_bytes (max 1024g), max_reports (max 4294967295),
 * fail_nth and fail_seed (max 18446744073709551615), fail_pool (max
 * 2147483647) and exitcode (0 to 255) do not state their ranges, so those
 * cases fail: e.g. "quarantine_bytes=2048g" is refused without saying
 * that 1024g is the most it takes.
 */
START_TEST(test_bad_value_warning_names_accepted_values)
{
	const struct bad_case *bad = &bad_cases[_i];
	struct warnings warnings = parse_bad_case(bad);

	for (size_t i = 0; i < 2 && bad->accepted[i] != NULL; i++)
		ck_assert_msg(contains_one_of(warnings.text[0], bad->accepted[i]),
			"%s=%s: the warning does not name the accepted values ('%s'): %s", bad->key,
			bad->value, bad->accepted[i], warnings.text[0]);
}
END_TEST

/* Strings: the longest that fits is taken, one more character is refused. */
static const struct {
	const char *key;
	size_t max_length;
} string_options[] = {
	{ "fail_caller", DEBUG_OPTIONS_PATTERN_MAX - 1 },
	{ "suppressions", DEBUG_OPTIONS_PATH_MAX - 1 },
	{ "log_path", DEBUG_OPTIONS_PATH_MAX - 1 },
	{ "node_dir", DEBUG_OPTIONS_PATH_MAX - 1 },
};

#define STRING_OPTION_COUNT ((int)(sizeof(string_options) / sizeof(string_options[0])))

static char *string_option_text(const char *key, size_t length, char fill)
{
	size_t key_length = strlen(key);
	char *text = malloc(key_length + 1 + length + 1);

	ck_assert_ptr_nonnull(text);
	memcpy(text, key, key_length);
	text[key_length] = '=';
	memset(text + key_length + 1, fill, length);
	text[key_length + 1 + length] = '\0';
	return text;
}

static const char *string_field(const struct debug_options *options, const char *key)
{
	if (strcmp(key, "fail_caller") == 0)
		return options->fail_caller;
	if (strcmp(key, "suppressions") == 0)
		return options->suppressions;
	if (strcmp(key, "node_dir") == 0)
		return options->node_dir;
	return options->log_path;
}

START_TEST(test_string_length_limit)
{
	const char *key = string_options[_i].key;
	size_t max_length = string_options[_i].max_length;
	struct debug_options options = defaults();
	struct warnings warnings;
	char *text = string_option_text(key, max_length, 'a');

	warnings = parse(text, &options);
	ck_assert_msg(warnings.count == 0, "%s of %zu characters warned: %.200s", key, max_length,
		warnings.text[0]);
	ck_assert_uint_eq(strlen(string_field(&options, key)), max_length);
	free(text);

	/* one past the limit, then far past the parser's own buffer */
	const size_t too_long[] = { max_length + 1, 3 * DEBUG_OPTIONS_PATH_MAX };
	for (size_t i = 0; i < 2; i++) {
		struct debug_options before = options;
		text = string_option_text(key, too_long[i], 'b');
		warnings = parse(text, &options);
		ck_assert_msg(warnings.count == 1, "%s of %zu characters: %d warnings", key,
			too_long[i], warnings.count);
		ck_assert_msg(strstr(warnings.text[0], key) != NULL, "key not named: %s",
			warnings.text[0]);
		assert_options_equal(&options, &before, key);
		free(text);
	}
}
END_TEST

/*
 * An overlong value is refused saying how long it may be.
 *
 * MODULE BUG (reported): the warning prints the first 64 characters and the
 * option's help, never the limit (255 for fail_caller, 4095 for paths).
 */
START_TEST(test_string_too_long_warning_names_limit)
{
	const char *key = string_options[_i].key;
	size_t max_length = string_options[_i].max_length;
	struct debug_options options = defaults();
	char *text = string_option_text(key, max_length + 1, 'c');
	struct warnings warnings = parse(text, &options);
	char limit[32];

	snprintf(limit, sizeof(limit), "%zu", max_length);
	ck_assert_int_eq(warnings.count, 1);
	ck_assert_msg(strstr(warnings.text[0], limit) != NULL,
		"%s: the warning does not say that at most %zu characters fit: %s", key, max_length,
		warnings.text[0]);
	free(text);
}
END_TEST

/* ---- keys ---- */

START_TEST(test_unknown_key_lists_valid_keys)
{
	const char *texts[] = { "colour=red", "stack_depths=4", "Stack_depth=4", "=4" };

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct debug_options options = defaults(), want = defaults();
		struct warnings warnings = parse(texts[t], &options);
		char key[64];

		ck_assert_msg(warnings.count == 1, "'%s': %d warnings", texts[t], warnings.count);
		assert_options_equal(&options, &want, texts[t]);
		snprintf(key, sizeof(key), "'%.*s'", (int)strcspn(texts[t], "="), texts[t]);
		ck_assert_msg(strstr(warnings.text[0], key) != NULL, "'%s': key %s not named: %s",
			texts[t], key, warnings.text[0]);
		for (size_t i = 0; i < VALID_KEY_COUNT; i++)
			ck_assert_msg(strstr(warnings.text[0], valid_keys[i]) != NULL,
				"'%s': valid key %s not listed: %s", texts[t], valid_keys[i],
				warnings.text[0]);
	}
}
END_TEST

START_TEST(test_unknown_key_does_not_stop_the_rest)
{
	struct debug_options options = defaults(), want = defaults();
	struct warnings warnings = parse("stack_depth=2:colour=red:log_size=9", &options);

	ck_assert_int_eq(warnings.count, 1);
	want.stack_depth = 2;
	want.log_size = 9;
	assert_options_equal(&options, &want, "unknown key in the middle");
}
END_TEST

START_TEST(test_key_without_value)
{
	const char *texts[] = { "stack_depth", "stack_depth:log_size=9", "colour:log_size=9" };

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct debug_options options = defaults(), want = defaults();
		struct warnings warnings = parse(texts[t], &options);
		char key[64];

		ck_assert_msg(warnings.count == 1, "'%s': %d warnings", texts[t], warnings.count);
		snprintf(key, sizeof(key), "'%.*s'", (int)strcspn(texts[t], ":"), texts[t]);
		ck_assert_msg(strstr(warnings.text[0], key) != NULL, "'%s': %s not named: %s",
			texts[t], key, warnings.text[0]);
		if (strstr(texts[t], "log_size") != NULL)
			want.log_size = 9;
		assert_options_equal(&options, &want, texts[t]);
	}
}
END_TEST

/*
 * options.h promises one line per warning: a value or key holding control
 * characters (AREA_MALLOC_OPTIONS may contain a newline) must not split it.
 *
 * MODULE BUG (reported): warn_bad_value/warn_unknown_key copy the raw text
 * ('%.64s'), so "stack_depth=4\n5" gives a two-line warning.
 */
START_TEST(test_warning_is_one_line)
{
	const char *texts[] = { "stack_depth=4\n5", "col\nour=1", "stack\rdepth",
		"log_size=\x1b[2J" };

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct debug_options options = defaults();
		struct warnings warnings = parse(texts[t], &options);

		ck_assert_int_eq(warnings.count, 1);
		for (const char *c = warnings.text[0]; *c != '\0'; c++)
			ck_assert_msg((unsigned char)*c >= 0x20 && *c != 0x7f,
				"text %zu: control character 0x%02x in the warning: %s", t,
				(unsigned char)*c, warnings.text[0]);
	}
}
END_TEST

/* ---- quoting ---- */

START_TEST(test_quoted_values)
{
	struct debug_options options = defaults(), want = defaults();
	struct warnings warnings;

	warnings = parse("log_path='/tmp/a:b'", &options);
	ck_assert_int_eq(warnings.count, 0);
	ck_assert_str_eq(options.log_path, "/tmp/a:b");

	warnings = parse("suppressions=\"/x:y/s.supp\":stack_depth='6':fail_caller=\"it's:*\"",
		&options);
	ck_assert_msg(warnings.count == 0, "%s", warnings.text[0]);
	ck_assert_str_eq(options.suppressions, "/x:y/s.supp");
	ck_assert_uint_eq(options.stack_depth, 6);
	ck_assert_str_eq(options.fail_caller, "it's:*");

	warnings = parse("log_path='':fail_caller=\"\"", &options);
	ck_assert_int_eq(warnings.count, 0);
	ck_assert_str_eq(options.log_path, "");
	ck_assert_str_eq(options.fail_caller, "");

	strcpy(want.suppressions, "/x:y/s.supp");
	want.stack_depth = 6;
	assert_options_equal(&options, &want, "quoted values");

	/* a ',' in a value is quoted too; unquoted, it ends the value */
	warnings = parse("log_path='/tmp/a,b'", &options);
	ck_assert_int_eq(warnings.count, 0);
	ck_assert_str_eq(options.log_path, "/tmp/a,b");
	warnings = parse("log_path=/tmp/c,d", &options);
	ck_assert_int_eq(warnings.count, 1);
	ck_assert_str_eq(options.log_path, "/tmp/c");
	ck_assert_msg(strstr(warnings.text[0], "option 'd' in AREA_MALLOC_OPTIONS has no value")
			!= NULL,
		"%s", warnings.text[0]);
}
END_TEST

/* help=1 prints, through the warning callback and as no problem, a title,
 * then every option with its default and meaning, then the aliases. */
struct help_lines {
	int count;
	char text[64 * 1024];
};

static void collect_help(const char *message, void *context)
{
	struct help_lines *lines = context;
	size_t used = strlen(lines->text);

	snprintf(lines->text + used, sizeof(lines->text) - used, "%s\n", message);
	lines->count++;
}

START_TEST(test_help_lists_every_option_with_its_default)
{
	struct debug_options options = defaults(), want = defaults();
	static struct help_lines lines;
	char expected[128];

	memset(&lines, 0, sizeof(lines));
	ck_assert_int_eq(debug_options_parse("help=1,stack_depth=5", &options, collect_help,
				 &lines),
		0);
	ck_assert_int_eq(lines.count, 1 + (int)VALID_KEY_COUNT + 1);
	ck_assert_msg(strncmp(lines.text, "area_malloc: help: options (AREA_MALLOC_OPTIONS", 47)
			== 0,
		"%s", lines.text);
	for (size_t i = 0; i < VALID_KEY_COUNT; i++) {
		snprintf(expected, sizeof(expected), "\narea_malloc: help:   %s=", valid_keys[i]);
		ck_assert_msg(strstr(lines.text, expected) != NULL, "%s missing:\n%s",
			valid_keys[i], lines.text);
	}
	ck_assert_msg(strstr(lines.text, "area_malloc: help:   stack_depth=16 - frames recorded")
				!= NULL
			&& strstr(lines.text, "area_malloc: help:   log_path='' - ") != NULL
			&& strstr(lines.text,
				   "area_malloc: help:   color=auto - colour the reports: auto "
				   "(on a terminal whose TERM is not dumb, unless NO_COLOR is set), "
				   "always or never\n")
				!= NULL
			&& strstr(lines.text,
				   "area_malloc: help:   suggest_suppressions=1 - print a "
				   "ready-made leak:FUNCTION suppression under each leak group, 0 or "
				   "1\n")
				!= NULL
			&& strstr(lines.text,
				   "area_malloc: help:   detect_leaks - another name of leak_check")
				!= NULL,
		"%s", lines.text);
	want.stack_depth = 5;
	assert_options_equal(&options, &want, "help=1");
	/* help=0 prints nothing; a bad value is one warning */
	memset(&lines, 0, sizeof(lines));
	ck_assert_int_eq(debug_options_parse("help=0", &options, collect_help, &lines), 0);
	ck_assert_int_eq(lines.count, 0);
	ck_assert_int_eq(parse("help=yes", &options).count, 1);
}
END_TEST

/* color=auto: a terminal (a pseudo-terminal here) whose TERM is not dumb,
 * unless NO_COLOR is set and not empty; always and never ignore both. */
START_TEST(test_color_decision)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY), terminal, pipe_fds[2];

	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	terminal = open(ptsname(master), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(terminal, 0);
	ck_assert_int_eq(pipe(pipe_fds), 0);
	unsetenv("NO_COLOR");
	setenv("TERM", "xterm-256color", 1);
	ck_assert(color_wanted(COLOR_AUTO, terminal));
	ck_assert(!color_wanted(COLOR_AUTO, pipe_fds[1]));
	ck_assert(color_wanted(COLOR_ALWAYS, pipe_fds[1]));
	ck_assert(!color_wanted(COLOR_NEVER, terminal));
	setenv("TERM", "dumb", 1);
	ck_assert(!color_wanted(COLOR_AUTO, terminal));
	unsetenv("TERM");
	ck_assert(!color_wanted(COLOR_AUTO, terminal));
	setenv("TERM", "xterm", 1);
	setenv("NO_COLOR", "1", 1);
	ck_assert(!color_wanted(COLOR_AUTO, terminal));
	ck_assert(color_wanted(COLOR_ALWAYS, terminal));
	setenv("NO_COLOR", "", 1);
	ck_assert(color_wanted(COLOR_AUTO, terminal));
	/* ASan's sequences; none at all without colour */
	ck_assert_str_eq(report_colors(true)->error, "\033[1m\033[31m");
	ck_assert_str_eq(report_colors(true)->reset, "\033[1m\033[0m");
	ck_assert_str_eq(report_colors(false)->error, "");
	ck_assert_str_eq(report_colors(false)->reset, "");
	ck_assert(color_mode_parse("never", &(enum color_mode){ COLOR_AUTO }));
	ck_assert(!color_mode_parse("Never", &(enum color_mode){ COLOR_AUTO }));
	close(terminal);
	close(master);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}
END_TEST

START_TEST(test_text_after_closing_quote)
{
	struct debug_options options = defaults(), want = defaults();
	struct warnings warnings;

	strcpy(want.log_path, "/kept");
	ck_assert_int_eq(parse("log_path=/kept", &options).count, 0);
	warnings = parse("log_path='/a:b'c:stack_depth=3", &options);
	ck_assert_int_eq(warnings.count, 1);
	ck_assert_msg(strstr(warnings.text[0], "'log_path'") != NULL, "%s", warnings.text[0]);
	ck_assert_msg(strstr(warnings.text[0], "using /kept") != NULL, "%s", warnings.text[0]);
	want.stack_depth = 3;
	assert_options_equal(&options, &want, "text after closing quote");
}
END_TEST

/*
 * An unterminated quote is a syntax error: one warning naming the key, and
 * the option keeps its value (it must not swallow the options after it).
 *
 * MODULE BUG (reported): debug_options_parse takes everything up to the end
 * of the text as the value, silently: "log_path=\"/x:stack_depth=9" sets
 * log_path to "/x:stack_depth=9" with no warning.
 */
START_TEST(test_unterminated_quote)
{
	const char *texts[] = { "log_path='/tmp/a:b", "log_path=\"/x:stack_depth=9" };

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct debug_options options = defaults(), want = defaults();
		struct warnings warnings = parse(texts[t], &options);

		ck_assert_msg(warnings.count == 1,
			"'%s': %d warnings, want 1 (unterminated quote); log_path became '%s'",
			texts[t], warnings.count, options.log_path);
		ck_assert_msg(strstr(warnings.text[0], "log_path") != NULL, "%s", warnings.text[0]);
		assert_options_equal(&options, &want, texts[t]);
	}
}
END_TEST

/* ---- format -> parse ---- */

static void set_everything(struct debug_options *options)
{
	options->stack_depth = 17;
	options->stack_depot_bytes = 5 * 1024 * 1024;
	options->log_size = 4096;
	options->quarantine_bytes = 3 * 1024 * 1024;
	options->max_reports = 0;
	options->realloc_move = true;
	options->release_capacity = false;
	options->fail_nth = 12345678901234ull;
	options->fail_rate = 0.125;
	options->fail_seed = UINT64_MAX;
	options->fail_pool = 77;
	strcpy(options->fail_caller, "driver_*");
	options->halt_on_error = true;
	options->exitcode = 0;
	options->leak_check = false;
	strcpy(options->suppressions, "/etc/supp:x");
	strcpy(options->log_path, "/tmp/a:b");
	options->report_format = REPORT_FORMAT_JSON;
	options->node = false;
	strcpy(options->node_dir, "/run/nodes:1");
	options->keep_dead_nodes = 99999;
	options->fork_nodes = true;
	options->reader_wait_us = 777;
}

static void set_nothing(struct debug_options *options)
{
	(void)options;
}

static void set_fail_rate_third(struct debug_options *options)
{
	options->fail_rate = 1.0 / 3.0;
}

static void set_tiny_fail_rate(struct debug_options *options)
{
	options->fail_rate = 1e-300;
}

static void set_path_with_quote_and_colon(struct debug_options *options)
{
	strcpy(options->log_path, "/tmp/it's:here");
}

static void set_path_with_comma(struct debug_options *options)
{
	strcpy(options->node_dir, "/run/a,b");
	strcpy(options->fail_caller, "x,y*");
}

static void set_longest_path(struct debug_options *options)
{
	memset(options->log_path, 'p', DEBUG_OPTIONS_PATH_MAX - 1);
	options->log_path[DEBUG_OPTIONS_PATH_MAX - 1] = '\0';
	options->log_path[100] = ':';
}

static const struct {
	const char *name;
	void (*set)(struct debug_options *options);
} round_trips[] = {
	{ "defaults", set_nothing },
	{ "every field changed, paths with ':'", set_everything },
	{ "longest path, with ':'", set_longest_path },
	/* MODULE BUG (reported): fail_rate is formatted with %g (6 digits), so
	 * 1/3 comes back as 0.333333; %.17g would round-trip */
	{ "fail_rate 1/3", set_fail_rate_third },
	{ "fail_rate 1e-300", set_tiny_fail_rate },
	/* MODULE BUG (reported): the format always quotes with ', even when the
	 * value holds a ' (it could use " then), so the text does not parse */
	{ "path with ' and ':'", set_path_with_quote_and_colon },
	{ "values with ','", set_path_with_comma },
};

#define ROUND_TRIP_COUNT ((int)(sizeof(round_trips) / sizeof(round_trips[0])))

START_TEST(test_format_round_trip)
{
	struct debug_options original = defaults(), parsed = defaults();
	static char text[4 * DEBUG_OPTIONS_PATH_MAX];
	struct warnings warnings;
	size_t length;

	round_trips[_i].set(&original);
	length = debug_options_format(&original, text, sizeof(text));
	ck_assert_uint_eq(length, strlen(text));
	warnings = parse(text, &parsed);
	ck_assert_msg(warnings.count == 0, "%s: '%.300s' warned: %.300s", round_trips[_i].name,
		text, warnings.text[0]);
	assert_options_equal(&parsed, &original, round_trips[_i].name);
}
END_TEST

START_TEST(test_format_names_every_key_and_truncates_safely)
{
	struct debug_options options = defaults();
	char full[8192], small[24];
	size_t length, small_length;

	set_everything(&options);
	length = debug_options_format(&options, full, sizeof(full));
	for (size_t i = 0; i < VALID_KEY_COUNT; i++) {
		char key[40];
		snprintf(key, sizeof(key), "%s=", valid_keys[i]);
		ck_assert_msg(strstr(full, key) != NULL, "%s missing from '%s'", valid_keys[i],
			full);
	}
	memset(small, 'z', sizeof(small));
	small_length = debug_options_format(&options, small, sizeof(small));
	ck_assert_uint_eq(small_length, length);
	ck_assert_msg(memchr(small, '\0', sizeof(small)) != NULL, "not terminated");
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(strncmp(small, full, sizeof(small) - 1), 0);
}
END_TEST

/* ---- fuzz ---- */

static uint64_t fuzz_state;

static uint64_t fuzz_next(void)
{
	/* xorshift64*: the same byte strings on every run */
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * 0x2545f4914f6cdd1dull;
}

static void append(char *text, size_t *length, size_t capacity, const char *piece)
{
	size_t piece_length = strlen(piece);

	if (*length + piece_length >= capacity)
		piece_length = capacity - 1 - *length;
	memcpy(text + *length, piece, piece_length);
	*length += piece_length;
	text[*length] = '\0';
}

/* Mostly option-like pieces, so the parser gets past its first checks. */
static void random_text(char *text, size_t capacity)
{
	static const char *const words[] = { "true", "false", "json", "text", "nan", "inf", "0x",
		"1e9", "-", "18446744073709551616", "4294967296", "1024g", "/tmp/x" };
	static const char value_chars[] = "0123456789kmgKMGt.-+xe ";
	size_t length = 0, target;

	text[0] = '\0';
	target = fuzz_next() % 100 == 0 ? 1 + fuzz_next() % (capacity - 1) : fuzz_next() % 80;
	while (length < target) {
		uint64_t choice = fuzz_next() % 100;
		char piece[64];

		if (choice < 25) {
			snprintf(piece, sizeof(piece),
				"%s=", valid_keys[fuzz_next() % VALID_KEY_COUNT]);
		} else if (choice < 35) {
			snprintf(piece, sizeof(piece), ":");
		} else if (choice < 43) {
			snprintf(piece, sizeof(piece), "%c", fuzz_next() % 2 ? '\'' : '"');
		} else if (choice < 65) {
			snprintf(piece, sizeof(piece), "%c",
				value_chars[fuzz_next() % (sizeof(value_chars) - 1)]);
		} else if (choice < 78) {
			snprintf(piece, sizeof(piece), "%s",
				words[fuzz_next() % (sizeof(words) / sizeof(words[0]))]);
		} else if (choice < 80) {
			/* a long run: overlong values and keys */
			size_t run = fuzz_next() % 600;
			while (run-- > 0 && length < capacity - 1)
				text[length++] = (char)('a' + fuzz_next() % 26);
			text[length] = '\0';
			continue;
		} else {
			piece[0] = (char)(1 + fuzz_next() % 255);
			piece[1] = '\0';
		}
		append(text, &length, capacity, piece);
	}
}

static bool string_terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

static void assert_in_range(const struct debug_options *options, const char *text)
{
	unsigned char realloc_move, release_capacity, halt_on_error, leak_check, node, fork_nodes;

	/* read the bools' bytes: a byte other than 0/1 would be the bug */
	memcpy(&realloc_move, &options->realloc_move, 1);
	memcpy(&release_capacity, &options->release_capacity, 1);
	memcpy(&halt_on_error, &options->halt_on_error, 1);
	memcpy(&leak_check, &options->leak_check, 1);
	memcpy(&node, &options->node, 1);
	memcpy(&fork_nodes, &options->fork_nodes, 1);
	ck_assert_msg(options->stack_depth >= 1 && options->stack_depth <= 32, "stack_depth %u: %s",
		options->stack_depth, text);
	ck_assert_msg(options->stack_depot_bytes >= 4096
			&& options->stack_depot_bytes <= (size_t)4 << 30,
		"stack_depot_bytes %zu: %s", options->stack_depot_bytes, text);
	ck_assert_msg(options->log_size <= 1048576, "log_size %zu: %s", options->log_size, text);
	ck_assert_msg(options->quarantine_bytes <= ((size_t)1 << 40), "quarantine_bytes %zu: %s",
		options->quarantine_bytes, text);
	ck_assert_msg(realloc_move <= 1 && release_capacity <= 1 && halt_on_error <= 1
			&& leak_check <= 1 && node <= 1 && fork_nodes <= 1,
		"bool: %s", text);
	ck_assert_msg(options->keep_dead_nodes <= 100000, "keep_dead_nodes %u: %s",
		options->keep_dead_nodes, text);
	ck_assert_msg(!isnan(options->fail_rate) && options->fail_rate >= 0.0
			&& options->fail_rate <= 1.0,
		"fail_rate %g: %s", options->fail_rate, text);
	ck_assert_msg(options->fail_pool >= 0, "fail_pool %d: %s", (int)options->fail_pool, text);
	ck_assert_msg(options->exitcode >= 0 && options->exitcode <= 255, "exitcode %d: %s",
		options->exitcode, text);
	ck_assert_msg(string_terminated(options->fail_caller, sizeof(options->fail_caller))
			&& string_terminated(options->suppressions, sizeof(options->suppressions))
			&& string_terminated(options->log_path, sizeof(options->log_path))
			&& string_terminated(options->node_dir, sizeof(options->node_dir)),
		"unterminated string: %s", text);
	ck_assert_msg(options->report_format == REPORT_FORMAT_TEXT
			|| options->report_format == REPORT_FORMAT_JSON,
		"report_format %d: %s", (int)options->report_format, text);
	ck_assert_msg(options->color == COLOR_AUTO || options->color == COLOR_ALWAYS
			|| options->color == COLOR_NEVER,
		"color %d: %s", (int)options->color, text);
}

struct guarded_options {
	uint64_t before[8];
	struct debug_options options;
	uint64_t after[8];
};

/* Line shape is test_warning_is_one_line's business: here only ranges. */
static void fuzz_warning(const char *message, void *context)
{
	(*(int *)context)++;
	ck_assert_msg(message[0] != '\0', "empty warning");
}

START_TEST(test_fuzz_never_leaves_range)
{
	static char text[6000];
	struct guarded_options guarded;

	fuzz_state = 0x853c49e6748fea9bull;
	memset(guarded.before, 0x5a, sizeof(guarded.before));
	memset(guarded.after, 0x5a, sizeof(guarded.after));
	debug_options_set_defaults(&guarded.options);
	for (int i = 0; i < 100000; i++) {
		int warnings = 0, problems;

		if (i % 1000 == 0)
			debug_options_set_defaults(&guarded.options);
		random_text(text, sizeof(text));
		problems = debug_options_parse(text, &guarded.options, fuzz_warning, &warnings);
		ck_assert_msg(problems == warnings, "iteration %d: %d problems, %d warnings", i,
			problems, warnings);
		assert_in_range(&guarded.options, text);
		for (size_t g = 0; g < 8; g++)
			ck_assert_msg(guarded.before[g] == 0x5a5a5a5a5a5a5a5aull
					&& guarded.after[g] == 0x5a5a5a5a5a5a5a5aull,
				"iteration %d wrote outside the options: %.200s", i, text);
	}
}
END_TEST

static Suite *options_suite(void)
{
	Suite *suite = suite_create("debug_options");

	TCase *basics = tcase_create("defaults");
	tcase_add_test(basics, test_defaults);
	tcase_add_test(basics, test_null_and_empty_text_change_nothing);
	suite_add_tcase(suite, basics);

	TCase *good = tcase_create("good_values");
	tcase_add_loop_test(good, test_good_value, 0, GOOD_CASE_COUNT);
	tcase_add_test(good, test_good_value_over_non_default);
	suite_add_tcase(suite, good);

	TCase *bad = tcase_create("bad_values");
	tcase_add_loop_test(bad, test_bad_value_is_refused_with_one_warning, 0, BAD_CASE_COUNT);
	tcase_add_loop_test(bad, test_bad_value_warning_names_accepted_values, 0, BAD_CASE_COUNT);
	tcase_add_loop_test(bad, test_string_length_limit, 0, STRING_OPTION_COUNT);
	tcase_add_loop_test(bad, test_string_too_long_warning_names_limit, 0, STRING_OPTION_COUNT);
	suite_add_tcase(suite, bad);

	TCase *keys = tcase_create("keys");
	tcase_add_test(keys, test_unknown_key_lists_valid_keys);
	tcase_add_test(keys, test_unknown_key_does_not_stop_the_rest);
	tcase_add_test(keys, test_key_without_value);
	tcase_add_test(keys, test_warning_is_one_line);
	suite_add_tcase(suite, keys);

	TCase *quoting = tcase_create("quoting");
	tcase_add_test(quoting, test_quoted_values);
	tcase_add_test(quoting, test_text_after_closing_quote);
	tcase_add_test(quoting, test_unterminated_quote);
	tcase_add_test(quoting, test_help_lists_every_option_with_its_default);
	tcase_add_test(quoting, test_color_decision);
	suite_add_tcase(suite, quoting);

	TCase *format = tcase_create("format");
	tcase_add_loop_test(format, test_format_round_trip, 0, ROUND_TRIP_COUNT);
	tcase_add_test(format, test_format_names_every_key_and_truncates_safely);
	suite_add_tcase(suite, format);

	TCase *fuzz = tcase_create("fuzz");
	tcase_add_test(fuzz, test_fuzz_never_leaves_range);
	suite_add_tcase(suite, fuzz);
	return suite;
}

int main(void)
{
	return run_check_suite(options_suite(), CK_FORK_GETENV);
}
