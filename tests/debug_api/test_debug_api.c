/*
 * test_debug_api.c - the debug build of generic/area_malloc/v1 and its
 * companion generic/area_malloc/debug/v1, tested as a driver uses them:
 * through get_module() with KERNEL_MODULE_PATH=<builddir>/modules/debug.
 *
 * Covered: the companion module (present in the debug build only, pool
 * names, marks and leak reports, exact statistics, check_pool, the report
 * hook and error_count), realloc rules, fault injection (fail_nth,
 * fail_rate/fail_seed, fail_pool, fail_caller for malloc and realloc),
 * capacity parity with the release module, and what a process sees at
 * fork, exit and unload (suppressions, exit status, exit-time leak
 * reports, leaked pools: the pools a process created and never deleted).
 *
 * Each test sets KERNEL_MODULE_PATH and AREA_MALLOC_OPTIONS before its first
 * get_module(): the module reads its options at B_MODULE_INIT, and Check
 * runs every test in a process of its own (main() insists on it). Where the
 * exit status or exit-time output is under test, the test forks a child of
 * its own with standard error captured to a file and waits for it.
 *
 * Tests that make the module report errors take the reports through the
 * hook (or set exitcode=0), so that the test process itself exits 0.
 *
 * Locking: none; the tests are single-threaded (children are processes).
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "node/json_check.h"
#include "support/check_main.h"
#include "support/debug_command.h"
#include "support/debug_options.h"

#include "leak_sites.h"
#include "stack_tests.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define HUGE_REQUEST (512 * MIB)

/* A child that could not run its scenario exits with this (not 0, 3, 23). */
#define CHILD_BROKEN 99
#define LEAK_EXIT_STATUS 23

static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd;

/* ---- module selection ---- */

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set: run through make check");
	return dir;
}

/* variant: "debug" or "release"; options: AREA_MALLOC_OPTIONS or NULL. */
static void select_modules(const char *variant, const char *options)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/modules/%s", builddir(), variant);
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
	if (options != NULL)
		ck_assert_int_eq(set_debug_options(options), 0);
	else
		ck_assert_int_eq(set_debug_options(NULL), 0);
}

static void load_debug(const char *options)
{
	select_modules("debug", options);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am), B_OK);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd), B_OK);
}

static void unload_debug(void)
{
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}

static const void *new_pool(size_t size)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, KERNEL_RW);

	ck_assert_ptr_nonnull(pool);
	return pool;
}

static area_malloc_pool_stats stats_of(const void *pool)
{
	area_malloc_pool_stats stats;

	ck_assert_int_eq(amd->get_pool_stats(pool, &stats), B_OK);
	return stats;
}

/* Bytes a block of size takes out of the heap (src/format/debug_block.h's
 * layout at stack_depth 1: 48 bytes of header and leading canary, then a
 * user area of at least 32 bytes holding the size and >= 8 canary bytes,
 * 16-aligned). */
static size_t debug_chunk_bytes(size_t size)
{
	size_t user_area = (size + 8 + 15) & ~(size_t)15;

	return 48 + (user_area < 32 ? 32 : user_area);
}

/*
 * Deliberate damage for the module to find. Not instrumented: under
 * AddressSanitizer the module hides canaries and quarantined blocks, and
 * ASan would (rightly) stop the write at once.
 */
__attribute__((no_sanitize_address, noinline)) static void poke(void *address)
{
	*(volatile unsigned char *)address ^= 0x5a;
}

/* ---- the report hook ---- */

#define MAX_CAPTURED 16

struct captured_report {
	char kind[64];
	const void *address;
	size_t size;
	area_id pool_area;
	char pool_name[48];
	size_t leaked_bytes;
	size_t leaked_blocks;
	char test[64]; /* the Check test named in the report, "" when none */
	char *text;
};

struct capture {
	bool take; /* what the hook answers */
	int count; /* reports seen, also beyond MAX_CAPTURED */
	struct captured_report reports[MAX_CAPTURED];
};

static struct capture capture;

static bool capture_hook(const area_malloc_report *report, void *cookie)
{
	struct capture *into = cookie;

	if (into->count < MAX_CAPTURED) {
		struct captured_report *copy = &into->reports[into->count];
		snprintf(copy->kind, sizeof(copy->kind), "%s", report->kind);
		copy->address = report->address;
		copy->size = report->size;
		copy->pool_area = report->pool_area;
		snprintf(copy->pool_name, sizeof(copy->pool_name), "%s",
			report->pool_name != NULL ? report->pool_name : "");
		copy->leaked_bytes = report->leaked_bytes;
		copy->leaked_blocks = report->leaked_blocks;
		snprintf(copy->test, sizeof(copy->test), "%s", report->test ? report->test : "");
		copy->text = strdup(report->text != NULL ? report->text : "");
	}
	into->count++;
	return into->take;
}

static void forget_captured(void)
{
	for (int i = 0; i < capture.count && i < MAX_CAPTURED; i++)
		free(capture.reports[i].text);
	memset(&capture, 0, sizeof(capture));
}

/* Installs the capturing hook; take: whether it takes reports over. */
static void capture_reports(bool take)
{
	forget_captured();
	capture.take = take;
	amd->set_report_hook(capture_hook, &capture);
}

static void teardown_captured(void)
{
	forget_captured();
}

static const struct captured_report *captured(int index)
{
	ck_assert_msg(index < capture.count && index < MAX_CAPTURED, "report %d of %d", index,
		capture.count);
	return &capture.reports[index];
}

static void assert_no_reports(void)
{
	ck_assert_msg(capture.count == 0, "%d unexpected report(s); the first: %s", capture.count,
		capture.count > 0 ? capture.reports[0].text : "");
	ck_assert_uint_eq(amd->error_count(), 0);
}

/* ---- children with captured standard error ---- */

struct child_run {
	int status;   /* as waitpid gives it */
	char *output; /* the child's standard error */
};

/* The child's scenario: returns the status to exit() with. */
typedef int (*child_body)(void *context);

static struct child_run run_child(child_body body, void *context)
{
	struct child_run run = { 0, NULL };
	FILE *capture_file = tmpfile();
	size_t length = 0, capacity = 4096;
	pid_t pid;

	ck_assert_ptr_nonnull(capture_file);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (dup2(fileno(capture_file), STDERR_FILENO) < 0)
			_exit(CHILD_BROKEN);
		exit(body(context)); /* exit(), not _exit(): exit handlers are under test */
	}
	ck_assert_int_eq(waitpid(pid, &run.status, 0), pid);
	run.output = malloc(capacity);
	ck_assert_ptr_nonnull(run.output);
	rewind(capture_file);
	for (size_t got;
		(got = fread(run.output + length, 1, capacity - length - 1, capture_file)) > 0;) {
		length += got;
		if (capacity - length - 1 == 0) {
			capacity *= 2;
			run.output = realloc(run.output, capacity);
			ck_assert_ptr_nonnull(run.output);
		}
	}
	run.output[length] = '\0';
	fclose(capture_file);
	return run;
}

static void assert_exit_status(const struct child_run *run, int status, const char *scenario)
{
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == status,
		"%s: want exit status %d, got %s %d; its standard error:\n%s", scenario, status,
		WIFEXITED(run->status) ? "exit status" : "signal",
		WIFEXITED(run->status) ? WEXITSTATUS(run->status) : WTERMSIG(run->status),
		run->output);
}

/* In a child: give up on the scenario (not an outcome under test). */
static void child_require(bool condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "child: %s\n", what);
		_exit(CHILD_BROKEN);
	}
}

/* In a child: load the debug build with options (the child's own init). */
static void child_load_debug(const char *options)
{
	char path[4096];
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	child_require(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set");
	snprintf(path, sizeof(path), "%s/modules/debug", dir);
	setenv("KERNEL_MODULE_PATH", path, 1);
	if (options != NULL)
		set_debug_options(options);
	else
		set_debug_options(NULL);
	child_require(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK,
		"get_module(area_malloc)");
	child_require(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd) == B_OK,
		"get_module(area_malloc/debug)");
}

/* How many times needle occurs in text. */
static int occurrences(const char *text, const char *needle)
{
	int count = 0;

	for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
		count++;
	return count;
}

static const void *child_new_pool(size_t size)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, KERNEL_RW);

	child_require(pool != NULL, "create_pool");
	return pool;
}

/* ================= the companion module ================= */

START_TEST(test_companion_in_debug_build)
{
	area_malloc_debug_module_info *again = NULL;

	load_debug(NULL);
	ck_assert_str_eq(amd->minfo.name, B_AREA_MALLOC_DEBUG_MODULE_NAME);
	ck_assert_ptr_nonnull(amd->set_pool_name);
	ck_assert_ptr_nonnull(amd->mark);
	ck_assert_ptr_nonnull(amd->report_leaks);
	ck_assert_ptr_nonnull(amd->check_pool);
	ck_assert_ptr_nonnull(amd->get_pool_stats);
	ck_assert_ptr_nonnull(amd->set_report_hook);
	ck_assert_ptr_nonnull(amd->error_count);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&again), B_OK);
	ck_assert_ptr_eq(again, amd);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	ck_assert_uint_eq(amd->error_count(), 0);
	unload_debug();
}
END_TEST

/* A driver that asks for the companion under the release build gets
 * B_ENTRY_NOT_FOUND and goes on with the allocator alone. */
START_TEST(test_companion_absent_in_release_build)
{
	module_info *companion = NULL;
	const void *pool;
	char *block;

	select_modules("release", NULL);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, &companion),
		B_ENTRY_NOT_FOUND);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am), B_OK);
	pool = new_pool(64 * KIB);
	block = am->malloc(pool, 100);
	ck_assert_ptr_nonnull(block);
	memset(block, 1, 100);
	am->free(pool, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, &companion),
		B_ENTRY_NOT_FOUND);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}
END_TEST

/* A name is printed into report lines that QA scripts read: a newline in it
 * must not forge a line of its own, nor an escape sequence reach a
 * terminal. Control characters are kept as '?'. */
START_TEST(test_pool_name_control_characters_kept_as_question_marks)
{
	const char *hostile = "rx\x1b[31m\nSUMMARY: fake\x7f";
	const char *kept = "rx?[31m?SUMMARY: fake?";
	const void *pool;
	char *block, *output = NULL, expected[128];

	load_debug(NULL);
	pool = new_pool(64 * KIB);
	ck_assert_int_eq(amd->set_pool_name(pool, hostile), B_OK);
	capture_reports(true);
	block = am->malloc(pool, 32);
	ck_assert_ptr_nonnull(block);
	am->free(pool, block);
	am->free(pool, block); /* double-free, taken by the hook */
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->pool_name, kept);
	snprintf(expected, sizeof(expected), "\"%s\"", kept);
	ck_assert_msg(strstr(captured(0)->text, expected) != NULL, "'%s' not in:\n%s", expected,
		captured(0)->text);
	ck_assert_ptr_null(strchr(captured(0)->text, '\x1b'));
	ck_assert_ptr_null(strstr(captured(0)->text, "\nSUMMARY: fake"));
	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	snprintf(expected, sizeof(expected), "name: \"%s\"", kept);
	ck_assert_msg(strstr(output, expected) != NULL, "'%s' not in:\n%s", expected, output);
	ck_assert_ptr_null(strchr(output, '\x1b'));
	free(output);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	unload_debug();
}
END_TEST

START_TEST(test_pool_name_in_reports_and_pools_command)
{
	const char *long_name = "a-pool-name-longer-than-thirty-one-characters";
	const void *pool, *other;
	char *block, *output = NULL, expected[128];
	area_id area;

	load_debug(NULL);
	pool = new_pool(256 * KIB);
	other = new_pool(64 * KIB);
	area = stats_of(pool).area;
	ck_assert_int_eq(amd->set_pool_name(pool, "net-rx"), B_OK);
	ck_assert_int_eq(amd->set_pool_name(other, long_name), B_OK);

	capture_reports(true);
	block = am->malloc(pool, 32);
	ck_assert_ptr_nonnull(block);
	ck_assert_int_eq(area_for(block), area);
	am->free(pool, block);
	am->free(pool, block); /* double-free, taken by the hook */
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "double-free");
	ck_assert_str_eq(captured(0)->pool_name, "net-rx");
	ck_assert_int_eq(captured(0)->pool_area, area);
	snprintf(expected, sizeof(expected), "in pool %d \"net-rx\"", (int)area);
	ck_assert_msg(strstr(captured(0)->text, expected) != NULL, "'%s' not in:\n%s", expected,
		captured(0)->text);

	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	snprintf(expected, sizeof(expected), "pool %d: ", (int)area);
	ck_assert_msg(strstr(output, expected) != NULL, "'%s' not in:\n%s", expected, output);
	ck_assert_msg(strstr(output, "name: \"net-rx\"") != NULL, "name not in:\n%s", output);
	/* names are cut to 31 characters */
	snprintf(expected, sizeof(expected), "name: \"%.31s\"", long_name);
	ck_assert_msg(strstr(output, expected) != NULL, "'%s' not in:\n%s", expected, output);
	free(output);

	snprintf(expected, sizeof(expected), "pool %d", (int)area);
	ck_assert_int_eq(run_debug_command(expected, &output), 0);
	ck_assert_msg(strstr(output, "name: \"net-rx\"") != NULL, "name not in:\n%s", output);
	free(output);

	/* renaming replaces the name */
	ck_assert_int_eq(amd->set_pool_name(pool, "net-tx"), B_OK);
	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	ck_assert_msg(strstr(output, "name: \"net-tx\"") != NULL
			&& strstr(output, "net-rx") == NULL,
		"renamed pool:\n%s", output);
	free(output);

	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(am->delete_pool(other), B_OK);
	ck_assert_int_eq(capture.count, 1);
	unload_debug();
}
END_TEST

/* The JSON line of a report's text (the line after SUMMARY), parsed: NULL
 * fails the test, so the line is valid JSON, and its strings valid UTF-8. */
static struct json *report_json(const char *text)
{
	const char *summary = strstr(text, "\nSUMMARY: area_malloc: "), *line, *error = NULL;
	struct json *json;
	char *copy;

	ck_assert_msg(summary != NULL, "no SUMMARY in:\n%s", text);
	line = strchr(summary + 1, '\n');
	ck_assert_ptr_nonnull(line);
	copy = strndup(line + 1, strcspn(line + 1, "\n"));
	ck_assert_ptr_nonnull(copy);
	json = json_parse(copy, &error);
	ck_assert_msg(json != NULL, "not JSON (%s): %s", error, copy);
	free(copy);
	return json;
}

/* A double free in pool, taken by the hook: the report's pool name as the
 * hook and the JSON line give it (the JSON's decoded into json_name). */
static const struct captured_report *double_free_in(const void *pool, char *json_name, size_t size)
{
	int before = capture.count;
	struct json *json;
	const struct json *name;
	char *block = am->malloc(pool, 32);

	ck_assert_ptr_nonnull(block);
	am->free(pool, block);
	am->free(pool, block);
	ck_assert_int_eq(capture.count, before + 1);
	ck_assert_str_eq(captured(before)->kind, "double-free");
	json = report_json(captured(before)->text);
	name = json_get(json_get(json, "pool"), "name");
	ck_assert_msg(name != NULL && name->type == JSON_STRING, "no pool name in the JSON");
	snprintf(json_name, size, "%s", name->string);
	json_free(json);
	return captured(before);
}

/*
 * Names are cut to 31 bytes between characters: a UTF-8 sequence that would
 * not fit whole is left out, never cut (a partial one made the JSON report
 * invalid UTF-8). A sequence that fits to the last byte stays.
 */
START_TEST(test_pool_name_cut_between_characters)
{
	static const struct {
		const char *tail; /* after the ASCII head */
		size_t head;      /* 'a's first */
		const char *kept_tail;
	} cases[] = {
		{ "\xc3\xa9zz", 30, "" },         /* e-acute, 2 bytes at 30..31 */
		{ "\xc3\xa9zz", 29, "\xc3\xa9" }, /* fits to byte 30 */
		{ "\xe2\x82\xac", 29, "" },       /* euro sign, 3 bytes */
		{ "\xe2\x82\xac", 28, "\xe2\x82\xac" },
		{ "\xf0\x9f\x98\x80", 28, "" }, /* an emoji, 4 bytes */
		{ "\xf0\x9f\x98\x80", 27, "\xf0\x9f\x98\x80" },
	};
	char name[64], kept[64], json_name[64];
	const void *pool;

	load_debug("report_format=json");
	pool = new_pool(256 * KIB);
	capture_reports(true);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(name, 'a', cases[i].head);
		snprintf(name + cases[i].head, sizeof(name) - cases[i].head, "%s", cases[i].tail);
		memcpy(kept, name, cases[i].head);
		snprintf(kept + cases[i].head, sizeof(kept) - cases[i].head, "%s",
			cases[i].kept_tail);
		ck_assert_int_eq(amd->set_pool_name(pool, name), B_OK);
		ck_assert_msg(strcmp(double_free_in(pool, json_name, sizeof(json_name))->pool_name,
				      kept)
				== 0,
			"case %zu: kept \"%s\", expected \"%s\"", i,
			captured(capture.count - 1)->pool_name, kept);
		ck_assert_str_eq(json_name, kept);
	}
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, (int)(sizeof(cases) / sizeof(cases[0])));
	unload_debug();
}
END_TEST

/*
 * A name is kept as given (but for control characters): the text report
 * prints it quoted with its quotes and backslashes escaped, so the quoted
 * name ends where it seems to; the JSON report is valid UTF-8 whatever its
 * bytes, an invalid byte there being U+FFFD.
 */
START_TEST(test_pool_name_escaped_in_text_and_utf8_in_json)
{
	const char *name = "q\"uo\\te caf\xc3\xa9 \xff\xc3(";
	const char *escaped = "\"q\\\"uo\\\\te caf\xc3\xa9 \xff\xc3(\"";
	const char *in_json = "q\"uo\\te caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd(";
	const struct captured_report *report;
	char expected[128], json_name[64];
	const void *pool;
	area_id area;

	load_debug("report_format=json");
	pool = new_pool(256 * KIB);
	area = stats_of(pool).area;
	ck_assert_int_eq(amd->set_pool_name(pool, name), B_OK);
	capture_reports(true);
	report = double_free_in(pool, json_name, sizeof(json_name));
	ck_assert_str_eq(report->pool_name, name);
	snprintf(expected, sizeof(expected), " in pool %d %s\n", (int)area, escaped);
	ck_assert_msg(strstr(report->text, expected) != NULL, "'%s' not in:\n%s", expected,
		report->text);
	snprintf(expected, sizeof(expected), "the call's pool %d %s (id ", (int)area, escaped);
	ck_assert_msg(strstr(report->text, expected) != NULL, "'%s' not in:\n%s", expected,
		report->text);
	ck_assert_str_eq(json_name, in_json);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, 1);
	unload_debug();
}
END_TEST

START_TEST(test_companion_bad_pool_ids)
{
	area_malloc_pool_stats stats;
	size_t bytes = 1, blocks = 1;
	int on_stack = 0;
	const void *deleted, *pool;
	const void *bad_ids[3];

	load_debug(NULL);
	capture_reports(true);
	pool = new_pool(64 * KIB);
	deleted = new_pool(64 * KIB);
	ck_assert_int_eq(am->delete_pool(deleted), B_OK);
	bad_ids[0] = &on_stack;
	bad_ids[1] = deleted;
	bad_ids[2] = (const void *)(uintptr_t)0x1000;
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(amd->set_pool_name(bad_ids[i], "x"), B_BAD_VALUE);
		ck_assert_int_eq(amd->get_pool_stats(bad_ids[i], &stats), B_BAD_VALUE);
		ck_assert_int_eq(amd->report_leaks(bad_ids[i], 0, &bytes, &blocks), B_BAD_VALUE);
		ck_assert_int_eq(amd->check_pool(bad_ids[i]), B_BAD_VALUE);
	}
	/* NULL means "every pool" only where the header says so */
	ck_assert_int_eq(amd->set_pool_name(NULL, "x"), B_BAD_VALUE);
	ck_assert_int_eq(amd->get_pool_stats(NULL, &stats), B_BAD_VALUE);
	ck_assert_int_eq(amd->set_pool_name(pool, NULL), B_BAD_VALUE);
	ck_assert_int_eq(amd->get_pool_stats(pool, NULL), B_BAD_VALUE);
	/* the companion's queries report nothing: they are not driver errors */
	assert_no_reports();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	unload_debug();
}
END_TEST

START_TEST(test_report_leaks_since_mark)
{
	const void *pool, *other;
	char *before[2], *after[2], *freed_after, *other_block;
	size_t bytes = 0, blocks = 0;
	uint64 mark;
	char hex[32];

	load_debug(NULL);
	pool = new_pool(256 * KIB);
	other = new_pool(64 * KIB);
	capture_reports(true);
	before[0] = am->malloc(pool, 100);
	before[1] = am->calloc(pool, 2, 100);
	mark = amd->mark();
	ck_assert_uint_ne(mark, 0);
	after[0] = am->malloc(pool, 300);
	after[1] = am->malloc(pool, 40);
	freed_after = am->malloc(pool, 1000);
	other_block = am->malloc(other, 7);
	ck_assert(before[0] && before[1] && after[0] && after[1] && freed_after && other_block);
	am->free(pool, freed_after);

	/* one pool, since the mark: only after[] */
	ck_assert_int_eq(amd->report_leaks(pool, mark, &bytes, &blocks), B_OK);
	ck_assert_uint_eq(bytes, 340);
	ck_assert_uint_eq(blocks, 2);
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "detected memory leaks");
	ck_assert_uint_eq(captured(0)->leaked_bytes, 340);
	ck_assert_uint_eq(captured(0)->leaked_blocks, 2);
	/* "pooldump run" files reports under the Check test that made them */
	ck_assert_str_eq(captured(0)->test, "test_report_leaks_since_mark");
	ck_assert_int_eq(captured(0)->pool_area, area_for(after[0]));
	ck_assert_msg(strstr(captured(0)->text, "340 byte(s) leaked in 2 allocation(s)") != NULL,
		"%s", captured(0)->text);
	snprintf(hex, sizeof(hex), "%p", (void *)before[0]);
	ck_assert_msg(strstr(captured(0)->text, hex) == NULL, "a block from before the mark:\n%s",
		captured(0)->text);

	/* one pool, everything */
	ck_assert_int_eq(amd->report_leaks(pool, 0, &bytes, &blocks), B_OK);
	ck_assert_uint_eq(bytes, 640);
	ck_assert_uint_eq(blocks, 4);
	ck_assert_int_eq(capture.count, 2);
	ck_assert_uint_eq(captured(1)->leaked_bytes, 640);

	/* every pool, everything: one report per pool with leaks */
	ck_assert_int_eq(amd->report_leaks(NULL, 0, &bytes, &blocks), B_OK);
	ck_assert_uint_eq(bytes, 647);
	ck_assert_uint_eq(blocks, 5);
	ck_assert_int_eq(capture.count, 4);

	/* every pool, since the mark */
	ck_assert_int_eq(amd->report_leaks(NULL, mark, &bytes, &blocks), B_OK);
	ck_assert_uint_eq(bytes, 347);
	ck_assert_uint_eq(blocks, 3);
	ck_assert_int_eq(amd->report_leaks(NULL, mark, NULL, NULL), B_OK);

	/* a later mark: nothing since, no report */
	forget_captured();
	capture.take = true;
	ck_assert_int_eq(amd->report_leaks(NULL, amd->mark(), &bytes, &blocks), B_OK);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(blocks, 0);
	ck_assert_int_eq(capture.count, 0);

	am->free(pool, before[0]);
	am->free(pool, before[1]);
	am->free(pool, after[0]);
	am->free(pool, after[1]);
	am->free(other, other_block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(am->delete_pool(other), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* Every counter after a known sequence (fail_nth=4 injects the 4th). */
START_TEST(test_pool_stats_exact)
{
	area_malloc_pool_stats stats;
	unsigned char *a, *b, *c;
	const void *pool;

	load_debug("fail_nth=4");
	capture_reports(true);
	pool = new_pool(MIB);
	stats = stats_of(pool);
	ck_assert_uint_eq(stats.size, MIB);
	ck_assert_uint_ge(stats.area_size, MIB);
	ck_assert_uint_eq(stats.used + stats.peak + stats.live_blocks + stats.quarantined_bytes
			+ stats.quarantined_blocks + stats.allocations + stats.frees
			+ stats.failed_requests + stats.injected_failures + stats.errors,
		0);

	a = am->malloc(pool, 100);    /* allocation 1 */
	b = am->calloc(pool, 10, 30); /* 2 */
	c = am->malloc(pool, 1000);   /* 3 */
	ck_assert(a && b && c);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(a[i], 0xcc);
	for (int i = 0; i < 300; i++)
		ck_assert_uint_eq(b[i], 0);
	ck_assert_ptr_null(am->malloc(pool, 50)); /* 4: injected */
	/* 5: no room (before any free: a failing request drains the quarantine) */
	ck_assert_ptr_null(am->malloc(pool, HUGE_REQUEST));
	am->free(pool, a);                              /* into quarantine */
	ck_assert_ptr_eq(am->realloc(pool, c, 500), c); /* shrink: in place, no allocation */
	am->free(pool, a);                              /* double-free: one error */

	stats = stats_of(pool);
	ck_assert_int_eq(stats.area, area_for(b));
	ck_assert_uint_eq(stats.used, 300 + 500);
	ck_assert_uint_eq(stats.peak, 100 + 300 + 1000);
	ck_assert_uint_eq(stats.live_blocks, 2);
	ck_assert_uint_eq(stats.allocations, 3);
	ck_assert_uint_eq(stats.frees, 1);
	ck_assert_uint_eq(stats.quarantined_blocks, 1);
	ck_assert_uint_eq(stats.quarantined_bytes, debug_chunk_bytes(100));
	ck_assert_uint_eq(stats.failed_requests, 1);
	ck_assert_uint_eq(stats.injected_failures, 1);
	ck_assert_uint_eq(stats.errors, 1);
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "double-free");

	am->free(pool, b);
	am->free(pool, c);
	stats = stats_of(pool);
	ck_assert_uint_eq(stats.used, 0);
	ck_assert_uint_eq(stats.live_blocks, 0);
	ck_assert_uint_eq(stats.frees, 3);
	ck_assert_uint_eq(stats.quarantined_blocks, 3);
	ck_assert_uint_eq(stats.quarantined_bytes,
		debug_chunk_bytes(100) + debug_chunk_bytes(300) + debug_chunk_bytes(500));
	ck_assert_uint_eq(stats.peak, 1400);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, 1);
	ck_assert_uint_eq(amd->error_count(), 0);
	unload_debug();
}
END_TEST

START_TEST(test_check_pool_counts_damage)
{
	unsigned char *over, *under, *freed, *clean;
	const void *pool, *other;
	bool kinds[3] = { false, false, false };
	char *output = NULL;

	load_debug(NULL);
	pool = new_pool(256 * KIB);
	other = new_pool(64 * KIB);
	capture_reports(true);
	over = am->malloc(pool, 40);
	under = am->malloc(pool, 40);
	freed = am->malloc(pool, 200);
	clean = am->malloc(pool, 40);
	ck_assert(over && under && freed && clean);
	am->free(pool, freed);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	ck_assert_int_eq(amd->check_pool(other), 0);
	assert_no_reports();

	poke(over + 40);   /* the first byte past the block */
	poke(under - 1);   /* the last byte of the leading canary */
	poke(freed + 100); /* poison of a quarantined block */
	ck_assert_int_eq(amd->check_pool(pool), 3);
	ck_assert_int_eq(capture.count, 3);
	for (int i = 0; i < 3; i++) {
		const struct captured_report *report = captured(i);
		if (strcmp(report->kind, "heap-buffer-overflow") == 0 && report->address == over)
			kinds[0] = true;
		else if (strcmp(report->kind, "heap-buffer-underflow") == 0
			&& report->address == under)
			kinds[1] = true;
		else if (strcmp(report->kind, "use-after-free") == 0 && report->address == freed)
			kinds[2] = true;
		else
			ck_abort_msg("unexpected report: %s", report->text);
	}
	ck_assert(kinds[0] && kinds[1] && kinds[2]);
	ck_assert_int_eq(amd->check_pool(other), 0);
	ck_assert_uint_eq(stats_of(pool).errors, 3);

	/* NULL checks every pool (and prints a total through kprintf); the
	 * "check" command agrees */
	{
		size_t length = 0;
		FILE *quiet = open_memstream(&output, &length);
		ck_assert_ptr_nonnull(quiet);
		set_kprintf_output(quiet);
		ck_assert_int_eq(amd->check_pool(NULL), 3);
		set_kprintf_output(NULL);
		fclose(quiet);
		free(output);
	}
	ck_assert_int_eq(run_debug_command("check", &output), 1);
	ck_assert_msg(strstr(output, "3 problem(s)") != NULL, "%s", output);
	free(output);
	ck_assert_int_eq(capture.count, 9);

	/* the damaged blocks are still freed; delete_pool finds the poison again */
	am->free(pool, over);
	am->free(pool, under);
	am->free(pool, clean);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(am->delete_pool(other), B_OK);
	ck_assert_int_ge(capture.count, 12);
	ck_assert_uint_eq(amd->error_count(), 0);
	unload_debug();
}
END_TEST

static bool other_hook(const area_malloc_report *report, void *cookie)
{
	(void)report;
	(void)cookie;
	return true;
}

/* exitcode=0: this test lets reports through on purpose. */
START_TEST(test_report_hook_and_error_count)
{
	const void *pool;
	char *block;

	load_debug("exitcode=0");
	pool = new_pool(64 * KIB);
	ck_assert_ptr_null(amd->set_report_hook(other_hook, NULL));
	ck_assert_ptr_eq(amd->set_report_hook(capture_hook, &capture), other_hook);
	capture.take = true;
	block = am->malloc(pool, 64);
	ck_assert_ptr_nonnull(block);
	am->free(pool, block);

	am->free(pool, block); /* taken by the hook: not counted */
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->test, "test_report_hook_and_error_count");
	ck_assert_uint_eq(amd->error_count(), 0);
	ck_assert_uint_eq(stats_of(pool).errors, 1);

	capture.take = false;
	am->free(pool, block); /* seen by the hook, then printed and counted */
	ck_assert_int_eq(capture.count, 2);
	ck_assert_uint_eq(amd->error_count(), 1);

	ck_assert_ptr_eq(amd->set_report_hook(NULL, NULL), capture_hook);
	am->free(pool, block); /* no hook: counted */
	ck_assert_int_eq(capture.count, 2);
	ck_assert_uint_eq(amd->error_count(), 2);
	ck_assert_ptr_null(amd->set_report_hook(NULL, NULL));
	ck_assert_uint_eq(stats_of(pool).errors, 3);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	unload_debug();
}
END_TEST

/* ================= realloc ================= */

static void fill_pattern(unsigned char *block, size_t size)
{
	for (size_t i = 0; i < size; i++)
		block[i] = (unsigned char)(i * 7 + 3);
}

static void assert_pattern(const unsigned char *block, size_t size)
{
	for (size_t i = 0; i < size; i++)
		ck_assert_msg(block[i] == (unsigned char)(i * 7 + 3), "byte %zu of %p changed", i,
			(const void *)block);
}

/* The end of a clean test with one block left: the pool checks clean, the
 * block and the pool go, no report came, and the module is unloaded. */
static void finish_clean(const void *pool, void *block)
{
	ck_assert_int_eq(amd->check_pool(pool), 0);
	am->free(pool, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_no_reports();
	unload_debug();
}

START_TEST(test_realloc_null_allocates)
{
	const void *pool;
	unsigned char *block;

	load_debug(NULL);
	capture_reports(true);
	pool = new_pool(64 * KIB);
	block = am->realloc(pool, NULL, 100);
	ck_assert_ptr_nonnull(block);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(block[i], 0xcc);
	ck_assert_uint_eq(stats_of(pool).live_blocks, 1);
	ck_assert_uint_eq(stats_of(pool).used, 100);
	am->free(pool, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

START_TEST(test_realloc_zero_frees)
{
	const void *pool;
	char *block;

	load_debug(NULL);
	capture_reports(true);
	pool = new_pool(64 * KIB);
	block = am->malloc(pool, 100);
	ck_assert_ptr_nonnull(block);
	ck_assert_ptr_null(am->realloc(pool, block, 0));
	ck_assert_uint_eq(stats_of(pool).live_blocks, 0);
	ck_assert_uint_eq(stats_of(pool).frees, 1);
	ck_assert_uint_eq(stats_of(pool).quarantined_blocks, 1);
	assert_no_reports();
	am->free(pool, block); /* it was freed: double-free */
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "double-free");
	ck_assert_ptr_eq(captured(0)->address, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, 1);
	unload_debug();
}
END_TEST

START_TEST(test_realloc_in_place)
{
	unsigned char *block;
	const void *pool;

	load_debug(NULL);
	capture_reports(true);
	pool = new_pool(256 * KIB);
	/* the pool's first block: free space follows it */
	block = am->malloc(pool, 1000);
	ck_assert_ptr_nonnull(block);
	fill_pattern(block, 1000);
	ck_assert_ptr_eq(am->realloc(pool, block, 100), block);
	assert_pattern(block, 100);
	ck_assert_uint_eq(stats_of(pool).used, 100);
	ck_assert_int_eq(amd->check_pool(pool), 0);

	ck_assert_ptr_eq(am->realloc(pool, block, 3000), block);
	assert_pattern(block, 100);
	for (size_t i = 100; i < 3000; i++)
		ck_assert_msg(block[i] == 0xcc, "grown byte %zu is 0x%02x", i, block[i]);
	ck_assert_uint_eq(stats_of(pool).used, 3000);
	ck_assert_uint_eq(stats_of(pool).peak, 3000);
	ck_assert_uint_eq(stats_of(pool).allocations, 1);
	finish_clean(pool, block);
}
END_TEST

/* Bytes [from, to) of block hold no fill byte 0xcc: each is the free
 * memory's poison (0xdeadbeef at its address's phase) or a never-used zero. */
static void assert_not_filled(const unsigned char *block, size_t from, size_t to)
{
	const uint32_t poison = 0xdeadbeefu;

	for (size_t i = from; i < to; i++) {
		unsigned char poison_byte;
		memcpy(&poison_byte, (const unsigned char *)&poison + (uintptr_t)(block + i) % 4,
			1);
		ck_assert_msg(block[i] == 0 || block[i] == poison_byte,
			"byte %zu past the filled start is 0x%02x", i, block[i]);
	}
}

/*
 * max_malloc_fill_size (ASan's option): only the first bytes of a new
 * block, and of what realloc adds, are filled with 0xcc; past them a block
 * keeps what free memory held, so a large block costs only the pages the
 * driver touches.
 */
START_TEST(test_malloc_fill_is_bounded)
{
	unsigned char *block;
	const void *pool;

	load_debug("quarantine_bytes=0");
	capture_reports(true);
	pool = new_pool(256 * KIB);
	block = am->malloc(pool, 10000); /* memory never used: zeros past the fill */
	ck_assert_ptr_nonnull(block);
	for (size_t i = 0; i < 4096; i++)
		ck_assert_msg(block[i] == 0xcc, "byte %zu is 0x%02x", i, block[i]);
	assert_not_filled(block, 4096, 10000);
	memset(block, 0x11, 10000);
	am->free(pool, block);
	block = am->malloc(pool, 10000); /* the same memory, poisoned when freed */
	ck_assert_ptr_nonnull(block);
	ck_assert_uint_eq(block[4095], 0xcc);
	assert_not_filled(block, 4096, 10000);
	ck_assert_ptr_eq(am->realloc(pool, block, 100), block);
	ck_assert_ptr_eq(am->realloc(pool, block, 6000), block);
	for (size_t i = 100; i < 4096; i++)
		ck_assert_msg(block[i] == 0xcc, "grown byte %zu is 0x%02x", i, block[i]);
	assert_not_filled(block, 4096, 6000);
	finish_clean(pool, block);

	/* no fill at all, and a fill of every byte */
	static const struct {
		const char *options;
		size_t size, filled;
	} bounds[] = {
		{ "quarantine_bytes=0:max_malloc_fill_size=0", 100, 0 },
		{ "quarantine_bytes=0:max_malloc_fill_size=1m", 100000, 100000 },
	};
	for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
		load_debug(bounds[b].options);
		capture_reports(true);
		pool = new_pool(256 * KIB);
		block = am->malloc(pool, bounds[b].size);
		ck_assert_ptr_nonnull(block);
		for (size_t i = 0; i < bounds[b].filled; i++)
			ck_assert_msg(block[i] == 0xcc, "byte %zu is 0x%02x", i, block[i]);
		assert_not_filled(block, bounds[b].filled, bounds[b].size);
		finish_clean(pool, block);
	}
}
END_TEST

/* Pages of [start, start + length) the process holds (mincore). */
static size_t resident_pages(const void *start, size_t length)
{
	uintptr_t from = (uintptr_t)start & ~(uintptr_t)4095;
	size_t pages = ((uintptr_t)start + length - from + 4095) / 4096, count = 0;
	unsigned char *vector = malloc(pages);

	ck_assert_ptr_nonnull(vector);
	ck_assert_int_eq(mincore((void *)from, pages * 4096, vector), 0);
	for (size_t i = 0; i < pages; i++)
		count += vector[i] & 1;
	free(vector);
	return count;
}

/*
 * A freed block's whole pages (a run of at least 64 KiB) go back to the
 * system instead of taking the poison, in a pool on its node file (lazy:
 * a hole punched) and in a private one (node=0: dropped): they read as
 * zeros, which the checks accept for whole pages, while a write into them
 * is still found, at its offset, in quarantine and after. Allocations
 * carved from such memory at every offset of a page, a check after each,
 * find nothing wrong.
 */
START_TEST(test_freed_pages_go_back)
{
	static const char *const options[] = { "quarantine_bytes=4m",
		"quarantine_bytes=4m:node=0" };
	const size_t size = 1 << 20;
	unsigned char *block, *small[64];
	const void *pool;

	load_debug(options[_i]);
	capture_reports(true);
	pool = new_pool(16 << 20);
	block = am->malloc(pool, size);
	ck_assert_ptr_nonnull(block);
	memset(block, 0x11, size);
	ck_assert_uint_ge(resident_pages(block, size), size / 4096);
	am->free(pool, block);
	ck_assert_int_eq(amd->check_pool(pool), 0);
#ifndef __SANITIZE_ADDRESS__
	/* the first and last pages hold the poison and the free record; the
	 * check read no page given back (under ASan's shadow, whose state
	 * names poisoned bytes, a freed block is poisoned whole) */
	ck_assert_uint_le(resident_pages(block, size), 3);
#endif
	assert_no_reports();

	/* in quarantine: a write is a use-after-free at its offset */
	poke(block + 300000);
	ck_assert_int_eq(amd->check_pool(pool), 1);
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "use-after-free");
	ck_assert_ptr_eq(captured(0)->address, block);
	ck_assert_msg(strstr(captured(0)->text, "first damaged byte at offset 300000") != NULL,
		"%s", captured(0)->text);

	/* out of quarantine: free memory, its pages still given back */
	for (int i = 0; i < 8; i++) {
		void *other = am->malloc(pool, 1 << 20);
		ck_assert_ptr_nonnull(other);
		am->free(pool, other);
	}
	/* (a check reports a quarantined block's damage; leaving, it is
	 * reported again and discarded with the block) */
	ck_assert_int_eq(capture.count, 2);
	ck_assert_ptr_eq(captured(1)->address, block);
	ck_assert_msg(strstr(captured(1)->text, "found when it left the quarantine") != NULL
			&& strstr(captured(1)->text, "first damaged byte at offset 300000") != NULL,
		"%s", captured(1)->text);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	poke(block + 500000);
	ck_assert_int_eq(amd->check_pool(pool), 1);
	ck_assert_int_eq(capture.count, 3);
	ck_assert_str_eq(captured(2)->kind, "use-after-free");
	ck_assert_msg(strstr(captured(2)->text, "free memory were written") != NULL
			&& strstr(captured(2)->text, "first damaged byte at offset 500000") != NULL,
		"%s", captured(2)->text);

	/* carving: blocks that end at every 16-byte phase of a page given back */
	for (size_t i = 0; i < 64; i++) {
		small[i] = am->malloc(pool, 4096 + 16 * i * 4 + 1);
		ck_assert_ptr_nonnull(small[i]);
		ck_assert_int_eq(amd->check_pool(pool), 0);
	}
	for (size_t i = 0; i < 64; i++)
		am->free(pool, small[i]);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	ck_assert_int_eq(capture.count, 3);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, 3);
	unload_debug();
}
END_TEST

/* Named call sites: fail_caller matches them by function name, and the
 * owner tags in reports name them. noipa and the barrier keep each call a
 * real call from the named function. */
__attribute__((noipa)) static void *allocate_at_failing_site(const void *pool, size_t size)
{
	void *block = am->malloc(pool, size);

	__asm__ volatile("" ::: "memory");
	return block;
}

__attribute__((noipa)) static void *allocate_at_working_site(const void *pool, size_t size)
{
	void *block = am->malloc(pool, size);

	__asm__ volatile("" ::: "memory");
	return block;
}

/* Realloc's two call sites, as above. */
__attribute__((noipa)) static void *reallocate_at_failing_site(const void *pool, void *block,
	size_t size)
{
	void *result = am->realloc(pool, block, size);

	__asm__ volatile("" ::: "memory");
	return result;
}

__attribute__((noipa)) static void *reallocate_at_working_site(const void *pool, void *block,
	size_t size)
{
	void *result = am->realloc(pool, block, size);

	__asm__ volatile("" ::: "memory");
	return result;
}

/* The text has label ("previously allocated by", "Leak of ...") and the
 * first frame after it (#0) is in function. */
static void assert_site_after(const char *text, const char *label, const char *function)
{
	const char *at = strstr(text, label), *frame, *end;
	char wanted[96];

	ck_assert_msg(at != NULL, "no '%s' in:\n%s", label, text);
	snprintf(wanted, sizeof(wanted), " in %s+0x", function);
	frame = strstr(at, "    #0 0x");
	ck_assert_msg(frame != NULL, "no frame after '%s' in:\n%s", label, text);
	end = strchr(frame, '\n');
	ck_assert_ptr_nonnull(end);
	ck_assert_msg(memmem(frame, (size_t)(end - frame), wanted, strlen(wanted)) != NULL,
		"the frame after '%s' is not in %s:\n%s", label, function, text);
}

/*
 * A realloc done in place gives the block the realloc's owner tag (its
 * caller, thread, team, time and sequence), as a realloc that moves the
 * block does: the block is what that call returned. Reports then name the
 * realloc as where the block came from, and leaks group under it.
 */
START_TEST(test_realloc_in_place_takes_the_realloc_site)
{
	unsigned char *shrunk, *grown, *block;
	const void *pool, *other;
	char expected[128];

	load_debug(NULL);
	capture_reports(true);
	pool = new_pool(256 * KIB);
	block = allocate_at_working_site(pool, 1000); /* seq 0 */
	ck_assert_ptr_nonnull(block);
	shrunk = reallocate_at_working_site(pool, block, 100); /* seq 1 */
	ck_assert_ptr_eq(shrunk, block);
	am->free(pool, shrunk); /* seq 2 */
	am->free(pool, shrunk); /* double-free: names the realloc as the allocation */
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "double-free");
	ck_assert_uint_eq(captured(0)->size, 100);
	snprintf(expected, sizeof(expected),
		"previously allocated by thread T%d (team %d, seq 1, at ", (int)gettid(),
		(int)getpid());
	assert_site_after(captured(0)->text, expected, "reallocate_at_working_site");

	/* the first block of a pool grows in place (free space follows it) */
	other = new_pool(256 * KIB);
	block = allocate_at_working_site(other, 1000); /* seq 0 */
	ck_assert_ptr_nonnull(block);
	grown = reallocate_at_working_site(other, block, 3000); /* seq 1 */
	ck_assert_ptr_eq(grown, block);
	ck_assert_int_eq(am->delete_pool(other), B_OK); /* the leak: under the realloc */
	ck_assert_int_eq(capture.count, 2);
	ck_assert_str_eq(captured(1)->kind, "detected memory leaks");
	assert_site_after(captured(1)->text,
		"Leak of 3000 byte(s) in 1 allocation(s) allocated from:",
		"reallocate_at_working_site");
	snprintf(expected, sizeof(expected), "(first block %p, thread T%d, seq 1)", (void *)grown,
		(int)gettid());
	ck_assert_msg(strstr(captured(1)->text, expected) != NULL, "'%s' not in:\n%s", expected,
		captured(1)->text);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, 2);
	unload_debug();
}
END_TEST

START_TEST(test_realloc_move_always_moves)
{
	unsigned char *first, *same_size, *shrunk, *grown;
	const void *pool;

	load_debug("realloc_move=1");
	capture_reports(true);
	pool = new_pool(256 * KIB);
	first = am->malloc(pool, 1000);
	ck_assert_ptr_nonnull(first);
	fill_pattern(first, 1000);
	same_size = am->realloc(pool, first, 1000);
	ck_assert_ptr_nonnull(same_size);
	ck_assert_ptr_ne(same_size, first);
	assert_pattern(same_size, 1000);
	shrunk = am->realloc(pool, same_size, 200);
	ck_assert_ptr_nonnull(shrunk);
	ck_assert_ptr_ne(shrunk, same_size);
	assert_pattern(shrunk, 200);
	grown = am->realloc(pool, shrunk, 5000);
	ck_assert_ptr_nonnull(grown);
	ck_assert_ptr_ne(grown, shrunk);
	assert_pattern(grown, 200);
	ck_assert_uint_eq(stats_of(pool).live_blocks, 1);
	ck_assert_uint_eq(stats_of(pool).quarantined_blocks, 3);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	assert_no_reports();

	poke(same_size + 10); /* a stale pointer's write */
	am->free(pool, grown);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(capture.count, 1);
	ck_assert_str_eq(captured(0)->kind, "use-after-free");
	ck_assert_ptr_eq(captured(0)->address, same_size);
	unload_debug();
}
END_TEST

START_TEST(test_failed_realloc_keeps_block)
{
	unsigned char *block;
	const void *pool;

	load_debug(NULL);
	capture_reports(true);
	pool = new_pool(256 * KIB);
	block = am->malloc(pool, 1000);
	ck_assert_ptr_nonnull(block);
	fill_pattern(block, 1000);
	ck_assert_ptr_null(am->realloc(pool, block, HUGE_REQUEST));
	ck_assert_ptr_null(am->realloc(pool, block, SIZE_MAX));
	assert_pattern(block, 1000);
	ck_assert_uint_eq(stats_of(pool).live_blocks, 1);
	ck_assert_uint_eq(stats_of(pool).used, 1000);
	ck_assert_uint_eq(stats_of(pool).failed_requests, 2);
	ck_assert_uint_eq(stats_of(pool).quarantined_blocks, 0);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	am->free(pool, block); /* still a live block: no report */
	ck_assert_uint_eq(stats_of(pool).live_blocks, 0);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* ================= fault injection ================= */

/* fail_nth=N: exactly the Nth of these allocations fails, process-wide
 * (two pools), and no other; frees and in-place shrinks do not count. */
START_TEST(test_fail_nth)
{
	const int nth = _i;
	void *result[7] = { NULL };
	unsigned char *kept;
	const void *first, *second;
	char options[32];

	snprintf(options, sizeof(options), "fail_nth=%d", nth);
	load_debug(options);
	capture_reports(true);
	first = new_pool(256 * KIB);
	second = new_pool(256 * KIB);

	kept = result[1] = am->malloc(first, 100);
	if (kept != NULL) {
		fill_pattern(kept, 50);
		ck_assert_ptr_eq(am->realloc(first, kept, 50), kept);
	}
	result[2] = am->calloc(second, 4, 25);
	result[3] = am->realloc(first, kept, 4000); /* grows, or allocates if kept is NULL */
	if (result[3] != NULL)
		kept = result[3];
	else if (kept != NULL)
		assert_pattern(kept, 50); /* a failed realloc leaves the block */
	result[4] = am->realloc(second, NULL, 64);
	if (result[2] != NULL)
		am->free(second, result[2]);
	result[5] = am->malloc(second, 10);
	result[6] = am->calloc(first, 1, 8);
	for (int i = 1; i <= 6; i++)
		ck_assert_msg((result[i] == NULL) == (i == nth), "fail_nth=%d: allocation %d %s",
			nth, i, result[i] == NULL ? "failed" : "succeeded");
	for (int i = 0; i < 20; i++) {
		void *block = am->malloc(i % 2 ? first : second, 16);
		ck_assert_msg(block != NULL, "allocation %d failed", 7 + i);
		am->free(i % 2 ? first : second, block);
	}
	ck_assert_uint_eq(stats_of(first).injected_failures + stats_of(second).injected_failures,
		1);
	ck_assert_uint_eq(stats_of(first).failed_requests + stats_of(second).failed_requests, 0);
	am->free(first, kept);
	am->free(second, result[4]);
	am->free(second, result[5]);
	am->free(first, result[6]);
	ck_assert_int_eq(am->delete_pool(first), B_OK);
	ck_assert_int_eq(am->delete_pool(second), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

#define RATE_ATTEMPTS 256

/* Child: RATE_ATTEMPTS mallocs under fail_rate; prints "pattern: 0110..."
 * (1 = failed) and "injected: N". */
static int fail_rate_child(void *context)
{
	char pattern[RATE_ATTEMPTS + 1];
	area_malloc_pool_stats stats;
	const void *pool;

	child_load_debug(context);
	pool = child_new_pool(256 * KIB);
	for (int i = 0; i < RATE_ATTEMPTS; i++) {
		void *block = am->malloc(pool, 32);
		pattern[i] = block == NULL ? '1' : '0';
		am->free(pool, block);
	}
	pattern[RATE_ATTEMPTS] = '\0';
	child_require(amd->get_pool_stats(pool, &stats) == B_OK, "get_pool_stats");
	fprintf(stderr, "pattern: %s\ninjected: %" PRIu64 "\n", pattern,
		(uint64_t)stats.injected_failures);
	child_require(am->delete_pool(pool) == B_OK, "delete_pool");
	put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	return 0;
}

/* The pattern a child printed (checked: its exit status is 0). */
static void fail_rate_pattern(const char *options, char *pattern, unsigned *injected)
{
	struct child_run run = run_child(fail_rate_child, (void *)options);
	const char *line, *count;

	assert_exit_status(&run, 0, options);
	line = strstr(run.output, "pattern: ");
	count = strstr(run.output, "injected: ");
	ck_assert_msg(line != NULL && count != NULL, "%s: no pattern in:\n%s", options, run.output);
	memcpy(pattern, line + strlen("pattern: "), RATE_ATTEMPTS);
	pattern[RATE_ATTEMPTS] = '\0';
	*injected = (unsigned)strtoul(count + strlen("injected: "), NULL, 10);
	ck_assert_msg(strstr(run.output, "ERROR") == NULL, "%s: injected failures reported:\n%s",
		options, run.output);
	free(run.output);
}

START_TEST(test_fail_rate_reproducible_by_seed)
{
	char first[RATE_ATTEMPTS + 1], again[RATE_ATTEMPTS + 1], other[RATE_ATTEMPTS + 1];
	unsigned injected_first, injected_again, injected_other, failures = 0;

	fail_rate_pattern("fail_rate=0.3:fail_seed=7", first, &injected_first);
	fail_rate_pattern("fail_rate=0.3:fail_seed=7", again, &injected_again);
	fail_rate_pattern("fail_rate=0.3:fail_seed=8", other, &injected_other);
	ck_assert_str_eq(first, again);
	ck_assert_str_ne(first, other);
	for (int i = 0; i < RATE_ATTEMPTS; i++)
		failures += first[i] == '1';
	ck_assert_uint_eq(injected_first, failures);
	ck_assert_uint_eq(injected_again, failures);
	/* 0.3 of 256 is 77: far outside [40, 120] means the rate is not applied */
	ck_assert_msg(failures >= 40 && failures <= 120, "%u failures of %d at rate 0.3", failures,
		RATE_ATTEMPTS);
}
END_TEST

/* fail_pool names a pool by its area id, known before it exists: area ids
 * are handed out in sequence, so a probe area tells the next ones. */
START_TEST(test_fail_pool_limits_to_one_pool)
{
	void *probe_base = NULL;
	area_id probe, target_area;
	const void *spared, *target;
	char options[64];

	probe = create_area("probe", &probe_base, B_ANY_ADDRESS, B_PAGE_SIZE, B_NO_LOCK,
		B_READ_AREA | B_WRITE_AREA);
	ck_assert_int_gt(probe, 0);
	ck_assert_int_eq(delete_area(probe), B_OK);
	target_area = probe + 2; /* the second pool created after the probe */
	snprintf(options, sizeof(options), "fail_rate=1:fail_pool=%d", (int)target_area);
	load_debug(options);
	capture_reports(true);
	spared = new_pool(64 * KIB);
	target = new_pool(64 * KIB);
	ck_assert_msg(stats_of(target).area == target_area,
		"the pool got area %d, not the predicted %d: area ids not sequential?",
		(int)stats_of(target).area, (int)target_area);
	for (int i = 0; i < 10; i++) {
		void *block = am->malloc(spared, 32);
		ck_assert_ptr_nonnull(block);
		am->free(spared, block);
		ck_assert_ptr_null(am->malloc(target, 32));
	}
	ck_assert_ptr_null(am->calloc(target, 2, 8));
	ck_assert_ptr_null(am->realloc(target, NULL, 8));
	ck_assert_uint_eq(stats_of(target).injected_failures, 12);
	ck_assert_uint_eq(stats_of(target).failed_requests, 0);
	ck_assert_uint_eq(stats_of(spared).injected_failures, 0);
	ck_assert_int_eq(am->delete_pool(spared), B_OK);
	ck_assert_int_eq(am->delete_pool(target), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

static const char *const fail_caller_patterns[] = { "allocate_at_failing_site",
	"allocate_at_fail*" };

START_TEST(test_fail_caller_limits_to_one_function)
{
	const void *pool;
	char options[128];

	snprintf(options, sizeof(options), "fail_rate=1:fail_caller=%s", fail_caller_patterns[_i]);
	load_debug(options);
	capture_reports(true);
	pool = new_pool(64 * KIB);
	for (int i = 0; i < 10; i++) {
		void *block = allocate_at_working_site(pool, 48);
		ck_assert_msg(block != NULL, "%s: allocation %d from the other function failed",
			options, i);
		am->free(pool, block);
		ck_assert_msg(allocate_at_failing_site(pool, 48) == NULL,
			"%s: allocation %d from the named function succeeded", options, i);
	}
	ck_assert_uint_eq(stats_of(pool).injected_failures, 10);
	ck_assert_uint_eq(stats_of(pool).failed_requests, 0);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* every_attempt: whether each growing realloc from the named function fails
 * (fail_rate=1), or only the first (fail_nth=1: the first attempt that
 * passes the filters). */
static const struct {
	const char *options;
	bool every_attempt;
} realloc_fail_cases[] = {
	{ "fail_rate=1:fail_caller=reallocate_at_failing_site", true },
	{ "fail_nth=1:fail_caller=reallocate_at_failing_site", false },
};

static void assert_realloc_counts(const void *pool, size_t used, uint64_t injected)
{
	area_malloc_pool_stats stats = stats_of(pool);

	ck_assert_uint_eq(stats.live_blocks, 1);
	ck_assert_uint_eq(stats.used, used);
	ck_assert_uint_eq(stats.injected_failures, injected);
	ck_assert_uint_eq(stats.failed_requests, 0);
}

/* fail_caller applies to realloc (matched before the pool's lock, as for
 * malloc): a growing realloc from the named function fails and leaves the
 * block, the same realloc from another function succeeds, and a shrink in
 * place from the named function is never failed. */
START_TEST(test_fail_caller_applies_to_realloc)
{
	const char *options = realloc_fail_cases[_i].options;
	unsigned char *block, *result;
	const void *pool;

	load_debug(options);
	capture_reports(true);
	pool = new_pool(256 * KIB);
	block = am->malloc(pool, 100); /* from this function: not matched */
	ck_assert_ptr_nonnull(block);
	fill_pattern(block, 100);

	ck_assert_msg(reallocate_at_failing_site(pool, block, 4000) == NULL,
		"%s: a growing realloc from the named function succeeded", options);
	assert_pattern(block, 100);
	assert_realloc_counts(pool, 100, 1);
	ck_assert_int_eq(amd->check_pool(pool), 0);

	ck_assert_msg(reallocate_at_failing_site(pool, block, 50) == block,
		"%s: a shrinking realloc from the named function did not shrink in place", options);
	assert_pattern(block, 50);
	assert_realloc_counts(pool, 50, 1);

	result = reallocate_at_working_site(pool, block, 4000);
	ck_assert_msg(result != NULL, "%s: a growing realloc from another function failed",
		options);
	block = result;
	assert_pattern(block, 50);
	assert_realloc_counts(pool, 4000, 1);

	result = reallocate_at_failing_site(pool, block, 8000);
	if (realloc_fail_cases[_i].every_attempt) {
		ck_assert_msg(result == NULL, "%s: the second growing realloc succeeded", options);
		assert_realloc_counts(pool, 4000, 2);
	} else {
		ck_assert_msg(result != NULL, "%s: the second growing realloc failed", options);
		block = result;
		assert_realloc_counts(pool, 8000, 1);
	}
	assert_pattern(block, 50);
	finish_clean(pool, block);
}
END_TEST

/* ================= capacity ================= */

#define CAPACITY_POOL (4 * MIB)

/*
 * Capacity parity: a debug pool holds what the release pool of its size
 * holds, no more (pool-exhaustion bugs surface in QA) and no fewer (within
 * 5 %), whatever the block sizes; release_capacity=0 gives the debug pool
 * its whole area. A case's size 0 means a mix: sizes 1 to 2048 drawn from a
 * fixed sequence, the same in both builds.
 */

/* The nth request of a case (its size, or the mixed sequence's nth). */
static size_t case_request(size_t size, size_t n)
{
	uint64_t x = (n + 1) * 0x9e3779b97f4a7c15ull;

	if (size != 0)
		return size;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return 1 + (size_t)(x % 2048);
}

/* Child: how many requests of *size fit in a fresh release pool. */
static int release_count_child(void *context)
{
	size_t size = *(const size_t *)context, count = 0;
	const void *pool;
	char path[4096];

	snprintf(path, sizeof(path), "%s/modules/release", getenv("AREA_MALLOC_TEST_BUILDDIR"));
	setenv("KERNEL_MODULE_PATH", path, 1);
	child_require(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK,
		"get_module(release)");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, CAPACITY_POOL, B_FULL_LOCK, KERNEL_RW);
	child_require(pool != NULL, "create_pool(release)");
	while (am->malloc(pool, case_request(size, count)) != NULL)
		count++;
	fprintf(stderr, "count: %zu\n", count);
	child_require(am->delete_pool(pool) == B_OK, "delete_pool");
	put_module(B_AREA_MALLOC_MODULE_NAME);
	return 0;
}

static size_t release_block_count(size_t size)
{
	struct child_run run = run_child(release_count_child, &size);
	const char *line;
	size_t count;

	assert_exit_status(&run, 0, "release count");
	line = strstr(run.output, "count: ");
	ck_assert_msg(line != NULL, "no count in:\n%s", run.output);
	count = strtoul(line + strlen("count: "), NULL, 10);
	free(run.output);
	return count;
}

static size_t fill(const void *pool, size_t size, void **blocks, size_t capacity)
{
	size_t count = 0;

	while (count < capacity
		&& (blocks[count] = am->malloc(pool, case_request(size, count))) != NULL)
		count++;
	ck_assert_uint_lt(count, capacity);
	return count;
}

/* around the size classes and the debug block's layout: the smallest
 * requests cost the debug build three times the release build's chunk */
static const size_t capacity_cases[] = { 1, 8, 16, 17, 24, 40, 64, 100, 1000, 4000, 65536, 300000,
	0 };

START_TEST(test_capacity_parity_with_release)
{
	size_t size = capacity_cases[_i], release_count, count, refill, capacity;
	const void *pool;
	void **blocks, *big;

	/* before this process loads anything: the child loads the release build */
	release_count = release_block_count(size);
	ck_assert_uint_gt(release_count, 0);

	load_debug(NULL);
	capture_reports(true);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, CAPACITY_POOL, B_FULL_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	capacity = release_count * 2 + 16;
	blocks = malloc(capacity * sizeof(*blocks));
	ck_assert_ptr_nonnull(blocks);

	count = fill(pool, size, blocks, capacity);
	ck_assert_msg(count * 100 >= release_count * 95 && count * 100 <= release_count * 105,
		"%zu-byte requests: the debug pool holds %zu, the release pool %zu", size, count,
		release_count);
	ck_assert_int_eq(amd->check_pool(pool), 0);

	/* everything freed goes to the quarantine, which is drained before NULL */
	for (size_t i = 0; i < count; i++)
		am->free(pool, blocks[i]);
	ck_assert_uint_gt(stats_of(pool).quarantined_blocks, 0);
	refill = fill(pool, size, blocks, capacity);
	ck_assert_msg(refill == count, "refill: %zu requests of %zu bytes, first fill %zu", refill,
		size, count);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	for (size_t i = 0; i < refill; i++)
		am->free(pool, blocks[i]);

	big = am->malloc(pool, CAPACITY_POOL / 10 * 9);
	ck_assert_msg(big != NULL, "no block of 90%% of the pool after freeing everything");
	am->free(pool, big);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	free(blocks);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* A realloc that grows past the release pool's capacity fails as the
 * release build's would, in place or moving, and leaves the block intact. */
START_TEST(test_capacity_parity_realloc)
{
	const void *pool;
	unsigned char *block, *grown;

	load_debug(NULL);
	capture_reports(true);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, CAPACITY_POOL, B_FULL_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	block = am->malloc(pool, CAPACITY_POOL / 2);
	ck_assert_ptr_nonnull(block);
	memset(block, 0x5a, CAPACITY_POOL / 2);
	/* the release pool cannot hold a block of the whole pool size */
	ck_assert_ptr_null(am->realloc(pool, block, CAPACITY_POOL));
	grown = am->realloc(pool, block, CAPACITY_POOL / 10 * 9);
	ck_assert_ptr_nonnull(grown);
	for (size_t i = 0; i < CAPACITY_POOL / 2; i++)
		ck_assert_uint_eq(grown[i], 0x5a);
	ck_assert_int_eq(amd->check_pool(pool), 0);
	am->free(pool, grown);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* release_capacity=0: the debug pool uses all of its larger area. */
START_TEST(test_generous_capacity)
{
	size_t release_count = release_block_count(1000), count, capacity;
	const void *pool;
	void **blocks;

	load_debug("release_capacity=0");
	capture_reports(true);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, CAPACITY_POOL, B_FULL_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	capacity = release_count * 8;
	blocks = malloc(capacity * sizeof(*blocks));
	ck_assert_ptr_nonnull(blocks);
	count = fill(pool, 1000, blocks, capacity);
	ck_assert_msg(count >= release_count * 2, "release_capacity=0: %zu blocks, release %zu",
		count, release_count);
	for (size_t i = 0; i < count; i++)
		am->free(pool, blocks[i]);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	free(blocks);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* An 8 GiB lazy debug pool costs nothing until used, a 1 GiB calloc too. */
START_TEST(test_huge_lazy_pool)
{
	area_info info;
	const void *pool;
	unsigned char *block;

	load_debug(NULL);
	capture_reports(true);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 8 * GIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	block = am->calloc(pool, 1, GIB);
	ck_assert_ptr_nonnull(block);
	ck_assert_int_eq(get_area_info(area_for(block), &info), B_OK);
	ck_assert_uint_ge(info.size, 8 * GIB);
	ck_assert_msg(info.ram_size < 2 * MIB, "a 1 GiB calloc committed %u bytes",
		(unsigned)info.ram_size);
	ck_assert_uint_eq(block[0], 0);
	ck_assert_uint_eq(block[GIB / 2], 0);
	ck_assert_uint_eq(block[GIB - 1], 0);
	am->free(pool, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_no_reports();
	unload_debug();
}
END_TEST

/* ================= fork, exit, unload ================= */

struct fork_child {
	const void *pool;
	size_t sizes[2];          /* blocks the child allocates (0: none) */
	unsigned char *inherited; /* a parent's block the child writes to */
};

static int forked_child(void *context)
{
	const struct fork_child *child = context;

	for (size_t i = 0; i < 2; i++)
		if (child->sizes[i] != 0)
			child_require(am->malloc(child->pool, child->sizes[i]) != NULL, "malloc");
	memset(child->inherited, 'C', 1000); /* its own copy since fork */
	return 0;
}

/* The parent's pool is as it was before the fork. */
static void assert_parent_untouched(const void *pool, unsigned char *const *blocks,
	const char *after)
{
	ck_assert_msg(stats_of(pool).live_blocks == 3,
		"after %s, the parent's pool has %zu live blocks, not its own 3: the child "
		"allocated in the parent's memory",
		after, stats_of(pool).live_blocks);
	for (int i = 0; i < 3; i++)
		for (size_t b = 0; b < 1000; b++)
			ck_assert_msg(blocks[i][b] == 'P',
				"after %s, byte %zu of the parent's "
				"block %d is '%c': the child wrote to the parent's memory",
				after, b, i, blocks[i][b]);
	ck_assert_int_eq(amd->check_pool(pool), 0);
}

/*
 * Each child gets the pools as they were at fork, as private copies; at its
 * exit it reports only what it allocated itself.
 *
 * MODULE BUG (reported): with debug nodes on (the default), only the FIRST
 * child gets private pools. make_pool_private() in src/debug/debug_pool.c
 * writes debug->fd = -1 (and mutex_init(&pool->lock)) into the pool's
 * control region while the area is still the MAP_SHARED node file, i.e.
 * into the parent's pool; the parent then forgets its file, so from the
 * second fork on the children allocate and write in the parent's memory.
 * assert_parent_untouched fails after the second child here.
 */
START_TEST(test_fork_child_reports_only_its_own_blocks)
{
	struct fork_child quiet, leaky;
	struct child_run run;
	unsigned char *parents[3];
	const void *pool;

	load_debug(NULL);
	pool = new_pool(256 * KIB);
	for (int i = 0; i < 3; i++) {
		parents[i] = am->malloc(pool, 1000);
		ck_assert_ptr_nonnull(parents[i]);
		memset(parents[i], 'P', 1000);
	}

	quiet = (struct fork_child){ pool, { 0, 0 }, parents[0] };
	run = run_child(forked_child, &quiet);
	assert_exit_status(&run, 0, "child that allocated nothing");
	ck_assert_msg(strstr(run.output, "ERROR") == NULL, "the parent's blocks reported:\n%s",
		run.output);
	free(run.output);
	assert_parent_untouched(pool, parents, "the first child");

	leaky = (struct fork_child){ pool, { 200, 24 }, parents[1] };
	run = run_child(forked_child, &leaky);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "child that leaked");
	ck_assert_msg(strstr(run.output, "detected memory leaks") != NULL
			&& strstr(run.output, "found at exit") != NULL
			&& strstr(run.output,
				   "SUMMARY: area_malloc: 224 byte(s) leaked in 2 "
				   "allocation(s).")
				!= NULL,
		"the child's leaks:\n%s", run.output);
	ck_assert_msg(strstr(run.output, "1000 byte(s)") == NULL
			&& strstr(run.output, "3000 byte(s)") == NULL,
		"the parent's blocks reported:\n%s", run.output);
	free(run.output);

	assert_parent_untouched(pool, parents, "the second child");
	ck_assert_uint_eq(amd->error_count(), 0);
	for (int i = 0; i < 3; i++)
		am->free(pool, parents[i]);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_uint_eq(amd->error_count(), 0);
	unload_debug();
}
END_TEST

struct inheriting_child {
	const void *pools[2];
	bool leak; /* allocates a block in each pool and leaves it */
};

/* Deletes the first pool, then puts the module away (its last put: the
 * second pool is reported at unload). */
static int inheriting_child(void *context)
{
	const struct inheriting_child *child = context;

	if (child->leak) {
		child_require(am->malloc(child->pools[0], 200) != NULL, "malloc");
		child_require(am->malloc(child->pools[1], 24) != NULL, "malloc");
	}
	child_require(am->delete_pool(child->pools[0]) == B_OK, "delete_pool");
	fprintf(stderr, "child: pool deleted\n");
	child_require(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME) == B_OK, "put_module(debug)");
	child_require(put_module(B_AREA_MALLOC_MODULE_NAME) == B_OK, "put_module");
	fprintf(stderr, "child: module put away\n");
	return 0;
}

/*
 * The blocks a parent allocated before fork are the parent's: a child that
 * deletes an inherited pool, or puts the module away for the last time,
 * reports as leaks only the blocks it allocated itself, as at exit.
 */
START_TEST(test_fork_child_deletes_and_unloads_reporting_its_own_blocks)
{
	struct inheriting_child child;
	unsigned char *parents[2][3];
	const char *deleted, *unloaded, *put_away;
	struct child_run run;
	const void *pools[2];

	load_debug(NULL);
	for (int p = 0; p < 2; p++) {
		pools[p] = new_pool(256 * KIB);
		for (int i = 0; i < 3; i++) {
			parents[p][i] = am->malloc(pools[p], 1000);
			ck_assert_ptr_nonnull(parents[p][i]);
			memset(parents[p][i], 'P', 1000);
		}
	}

	child = (struct inheriting_child){ { pools[0], pools[1] }, false };
	run = run_child(inheriting_child, &child);
	assert_exit_status(&run, 0, "child that allocated nothing");
	ck_assert_msg(strstr(run.output, "ERROR") == NULL, "the parent's blocks reported:\n%s",
		run.output);
	ck_assert_msg(strstr(run.output, "child: module put away") != NULL, "%s", run.output);
	free(run.output);

	child.leak = true;
	run = run_child(inheriting_child, &child);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "child that leaked");
	deleted = strstr(run.output, "found at delete_pool\n");
	put_away = strstr(run.output, "child: pool deleted\n");
	unloaded = strstr(run.output, "found at unload\n");
	ck_assert_msg(deleted != NULL && put_away != NULL && unloaded != NULL && deleted < put_away
			&& put_away < unloaded,
		"the child's leaks:\n%s", run.output);
	ck_assert_msg(strstr(deleted,
			      "SUMMARY: area_malloc: 200 byte(s) leaked in 1 "
			      "allocation(s).\n")
				!= NULL
			&& strstr(unloaded,
				   "SUMMARY: area_malloc: 24 byte(s) leaked in 1 "
				   "allocation(s).\n")
				!= NULL,
		"the child's leaks:\n%s", run.output);
	ck_assert_msg(strstr(run.output, "1000 byte(s)") == NULL
			&& strstr(run.output, "3000 byte(s)") == NULL,
		"the parent's blocks reported:\n%s", run.output);
	ck_assert_msg(strstr(run.output, "found at exit") == NULL, "%s", run.output);
	free(run.output);

	/* the parent's pools are as they were */
	for (int p = 0; p < 2; p++) {
		ck_assert_uint_eq(stats_of(pools[p]).live_blocks, 3);
		ck_assert_int_eq(amd->check_pool(pools[p]), 0);
		for (int i = 0; i < 3; i++) {
			for (size_t b = 0; b < 1000; b++)
				ck_assert_uint_eq(parents[p][i][b], 'P');
			am->free(pools[p], parents[p][i]);
		}
		ck_assert_int_eq(am->delete_pool(pools[p]), B_OK);
	}
	ck_assert_uint_eq(amd->error_count(), 0);
	unload_debug();
}
END_TEST

__attribute__((noipa)) static void *allocate_in_suppressed_function(const void *pool, size_t size)
{
	void *block = am->malloc(pool, size);

	__asm__ volatile("" ::: "memory");
	return block;
}

struct suppression_child {
	char options[512];
	bool leak_unsuppressed;
};

static int suppression_child(void *context)
{
	const struct suppression_child *child = context;
	const void *pool;

	child_load_debug(child->options);
	pool = child_new_pool(256 * KIB);
	child_require(allocate_in_suppressed_function(pool, 100) != NULL, "malloc");
	child_require(allocate_in_suppressed_function(pool, 100) != NULL, "malloc");
	child_require(allocate_in_leak_sites_file(am, pool, 300) != NULL, "malloc");
	if (child->leak_unsuppressed)
		child_require(am->malloc(pool, 50) != NULL, "malloc");
	child_require(am->delete_pool(pool) == B_OK, "delete_pool");
	return 0;
}

/* The "count bytes leak:PATTERN" row of the Suppressions used table. */
static void assert_suppression_row(const char *output, const char *pattern, unsigned count,
	unsigned bytes)
{
	const char *row = strstr(output, pattern), *start;
	unsigned got_count = 0, got_bytes = 0;

	ck_assert_msg(row != NULL, "no row for %s in:\n%s", pattern, output);
	for (start = row; start > output && start[-1] != '\n'; start--)
		;
	ck_assert_msg(sscanf(start, "%u %u", &got_count, &got_bytes) == 2, "row: %.80s", start);
	ck_assert_msg(got_count == count && got_bytes == bytes, "%s: %u block(s), %u byte(s)",
		pattern, got_count, got_bytes);
}

START_TEST(test_suppressions)
{
	char path[] = "/tmp/area_malloc_suppressions_XXXXXX";
	struct suppression_child child;
	struct child_run run;
	const char *used;
	FILE *file;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	file = fdopen(fd, "w");
	ck_assert_ptr_nonnull(file);
	fputs("# what this test leaks on purpose\n"
	      "leak:allocate_in_suppressed_function\n"
	      "\n"
	      "leak:leak_sites.c\n",
		file);
	fclose(file);
	snprintf(child.options, sizeof(child.options), "suppressions=%s", path);

	child.leak_unsuppressed = true;
	run = run_child(suppression_child, &child);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "partly suppressed");
	ck_assert_msg(
		strstr(run.output,
			"SUMMARY: area_malloc: 50 byte(s) leaked in 1 allocation(s); 500 byte(s) in 3 "
			"allocation(s) suppressed.\n")
			!= NULL,
		"only the unsuppressed block is a leak:\n%s", run.output);
	used = strstr(run.output, "Suppressions used:");
	ck_assert_msg(used != NULL, "no Suppressions used table:\n%s", run.output);
	assert_suppression_row(used, "leak:allocate_in_suppressed_function", 2, 200);
	assert_suppression_row(used, "leak:leak_sites.c", 1, 300);
	ck_assert_msg(strstr(run.output, "allocate_in_suppressed_function+") == NULL
			&& strstr(run.output, "allocate_in_leak_sites_file+") == NULL,
		"a suppressed group is listed:\n%s", run.output);
	free(run.output);

	child.leak_unsuppressed = false;
	run = run_child(suppression_child, &child);
	assert_exit_status(&run, 0, "fully suppressed");
	ck_assert_msg(strstr(run.output, "ERROR") == NULL, "fully suppressed, yet:\n%s",
		run.output);
	free(run.output);
	unlink(path);
}
END_TEST

/* What the exit-ordering children share with their atexit handler. */
static const void *exit_pool;
static void *exit_block_freed_at_exit;

static void free_block_at_exit(void)
{
	am->free(exit_pool, exit_block_freed_at_exit);
}

struct exit_child {
	int status;        /* passed to exit() */
	bool leak_another; /* a block the handler does not free */
};

static int exit_ordering_child(void *context)
{
	const struct exit_child *child = context;

	child_load_debug(NULL);
	exit_pool = child_new_pool(64 * KIB);
	exit_block_freed_at_exit = am->malloc(exit_pool, 100);
	child_require(exit_block_freed_at_exit != NULL, "malloc");
	child_require(atexit(free_block_at_exit) == 0, "atexit");
	if (child->leak_another)
		child_require(am->malloc(exit_pool, 77) != NULL, "malloc");
	return child->status;
}

START_TEST(test_exit_ordering_and_status)
{
	struct exit_child freed_by_handler = { 0, false };
	struct exit_child own_status = { 3, true };
	struct exit_child leaked = { 0, true };
	struct child_run run;

	/* the driver's handler runs first: no block left to report, only the
	 * pool the child never deletes, empty by then */
	run = run_child(exit_ordering_child, &freed_by_handler);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "block freed by an atexit handler");
	ck_assert_int_eq(occurrences(run.output, "ERROR: area_malloc: "), 1);
	ck_assert_msg(strstr(run.output, "ERROR: area_malloc: leaked-pool\n") != NULL
			&& strstr(run.output,
				   "the pool was never deleted; 0 live block(s) of 0 byte(s)")
				!= NULL,
		"reported:\n%s", run.output);
	free(run.output);

	/* exit(3) stays 3, leaks or not */
	run = run_child(exit_ordering_child, &own_status);
	assert_exit_status(&run, 3, "exit(3) with a leak");
	ck_assert_msg(strstr(run.output,
			      "SUMMARY: area_malloc: 77 byte(s) leaked in 1 allocation(s).")
			!= NULL,
		"the leak is still reported:\n%s", run.output);
	free(run.output);

	/* exit(0) with a leak becomes 23 */
	run = run_child(exit_ordering_child, &leaked);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "exit(0) with a leak");
	ck_assert_msg(strstr(run.output, "77 byte(s) leaked in 1 allocation(s)") != NULL, "%s",
		run.output);
	free(run.output);
}
END_TEST

static int unload_child(void *context)
{
	const void *pool;

	(void)context;
	child_load_debug(NULL);
	pool = child_new_pool(64 * KIB);
	child_require(am->malloc(pool, 123) != NULL, "malloc");
	child_require(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME) == B_OK, "put_module(debug)");
	child_require(put_module(B_AREA_MALLOC_MODULE_NAME) == B_OK, "put_module");
	fprintf(stderr, "child: module put away\n");
	return 0;
}

START_TEST(test_unload_reports_leaks_and_exit_status)
{
	struct child_run run = run_child(unload_child, NULL);
	const char *report, *after;

	assert_exit_status(&run, LEAK_EXIT_STATUS, "leak reported at unload");
	report = strstr(run.output, "found at unload");
	after = strstr(run.output, "child: module put away");
	ck_assert_msg(report != NULL && after != NULL && report < after,
		"want a leak report at unload, before the module is gone:\n%s", run.output);
	ck_assert_msg(strstr(run.output, "123 byte(s) leaked in 1 allocation(s)") != NULL, "%s",
		run.output);
	/* the pool too, after its block */
	ck_assert_msg(strstr(report, "ERROR: area_malloc: leaked-pool\n") != NULL
			&& strstr(report, "ERROR: area_malloc: leaked-pool\n") < after,
		"%s", run.output);
	ck_assert_int_eq(occurrences(run.output, "ERROR: area_malloc: "), 2);
	/* no second report at exit: the pools went with the module */
	ck_assert_msg(strstr(run.output, "found at exit") == NULL, "%s", run.output);
	free(run.output);
}
END_TEST

/* ---- leaked pools ---- */

/* The creator that leaked-pool reports must name (frames[0] of the pool's
 * creator is the return address into this function). */
__attribute__((noinline)) static const void *open_ring(size_t size, const char *name)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, KERNEL_RW);

	if (pool != NULL && amd->set_pool_name(pool, name) != B_OK)
		return NULL;
	return pool;
}

/* A leaked-pool report as the hook took it: kind, pool, the pool as its one
 * allocation, creator, when and live blocks. */
static void assert_leaked_pool(const struct captured_report *report, const char *name, size_t size,
	const char *when, const char *live)
{
	char line[128];

	ck_assert_str_eq(report->kind, "leaked-pool");
	ck_assert_str_eq(report->pool_name, name);
	ck_assert_uint_eq(report->leaked_bytes, size);
	ck_assert_uint_eq(report->leaked_blocks, 1);
	ck_assert_uint_eq(report->size, size);
	snprintf(line, sizeof(line), "==%d==ERROR: area_malloc: leaked-pool\nin pool %d \"%s\"",
		(int)getpid(), (int)report->pool_area, name);
	ck_assert_msg(strncmp(report->text, line, strlen(line)) == 0, "want \"%s\" in:\n%.2000s",
		line, report->text);
	ck_assert_msg(strstr(report->text, ") created by open_ring+0x") != NULL
			&& strstr(report->text, "    #0 0x") != NULL
			&& strstr(strstr(report->text, "    #0 0x"), " in open_ring+0x") != NULL,
		"the creator is not open_ring:\n%.2000s", report->text);
	snprintf(line, sizeof(line), "found %s\nthe pool was never deleted; %s are in it", when,
		live);
	ck_assert_msg(strstr(report->text, line) != NULL, "want \"%s\" in:\n%.2000s", line,
		report->text);
	snprintf(line, sizeof(line), "SUMMARY: area_malloc: %zu byte(s) leaked in 1 allocation(s).",
		size);
	ck_assert_msg(strstr(report->text, line) != NULL, "want \"%s\" in:\n%.2000s", line,
		report->text);
	snprintf(line, sizeof(line),
		"{\"version\":2,\"kind\":\"leaked-pool\","
		"\"kind_key\":\"leaked_pool\",\"pid\":%d,\"detail\":",
		(int)getpid());
	ck_assert_msg(strstr(report->text, line) != NULL, "no JSON object in:\n%.2000s",
		report->text);
	snprintf(line, sizeof(line), "\"when\":\"%s\",\"leaked_bytes\":%zu,\"leaked_blocks\":1,",
		when, size);
	ck_assert_msg(strstr(report->text, line) != NULL, "want %s in:\n%.2000s", line,
		report->text);
}

/*
 * At the last put_module: a pool created and never deleted is reported,
 * empty or not, in registry order, after the leaks of the blocks in it; a
 * deleted pool is not.
 */
START_TEST(test_leaked_pools_at_unload)
{
	const void *rx, *tx, *scratch;

	load_debug("report_format=json");
	capture_reports(true);
	rx = open_ring(64 * KIB, "rx ring");
	tx = open_ring(32 * KIB, "tx ring");
	scratch = open_ring(16 * KIB, "scratch");
	ck_assert(rx != NULL && tx != NULL && scratch != NULL);
	ck_assert_ptr_nonnull(am->malloc(tx, 100));
	ck_assert_ptr_nonnull(am->malloc(tx, 20));
	ck_assert_int_eq(am->delete_pool(scratch), B_OK);
	assert_no_reports();
	unload_debug();

	ck_assert_int_eq(capture.count, 3);
	ck_assert_str_eq(captured(0)->kind, "detected memory leaks");
	ck_assert_str_eq(captured(0)->pool_name, "tx ring");
	ck_assert_uint_eq(captured(0)->leaked_bytes, 120);
	ck_assert_uint_eq(captured(0)->leaked_blocks, 2);
	assert_leaked_pool(captured(1), "rx ring", 64 * KIB, "at unload",
		"0 live block(s) of 0 byte(s)");
	assert_leaked_pool(captured(2), "tx ring", 32 * KIB, "at unload",
		"2 live block(s) of 120 byte(s)");
}
END_TEST

struct leaked_pool_child {
	char options[256];
	bool delete_it;
};

static int leaked_pool_child(void *context)
{
	const struct leaked_pool_child *child = context;
	const void *pool;

	child_load_debug(child->options);
	pool = open_ring(64 * KIB, "rx ring");
	child_require(pool != NULL, "create_pool");
	if (child->delete_it)
		child_require(am->delete_pool(pool) == B_OK, "delete_pool");
	return 0;
}

/* At exit: the report, the exit status, and neither with leak_check=0, for
 * a deleted pool, or with a leak: suppression naming the creator. */
START_TEST(test_leaked_pool_at_exit)
{
	char path[] = "/tmp/area_malloc_pool_suppressions_XXXXXX";
	struct leaked_pool_child child = { "", false };
	struct child_run run;
	int fd;

	run = run_child(leaked_pool_child, &child);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "a leaked pool");
	ck_assert_int_eq(occurrences(run.output, "ERROR: area_malloc: "), 1);
	ck_assert_msg(strstr(run.output, "ERROR: area_malloc: leaked-pool\nin pool ") != NULL
			&& strstr(run.output, " \"rx ring\" (id 0x") != NULL
			&& strstr(run.output,
				   "found at exit\nthe pool was never deleted; 0 live block(s)")
				!= NULL
			&& strstr(run.output,
				   "SUMMARY: area_malloc: 65536 byte(s) leaked in 1 "
				   "allocation(s).")
				!= NULL,
		"%s", run.output);
	free(run.output);

	child.delete_it = true;
	run = run_child(leaked_pool_child, &child);
	assert_exit_status(&run, 0, "a deleted pool");
	ck_assert_str_eq(run.output, "");
	free(run.output);

	child.delete_it = false;
	snprintf(child.options, sizeof(child.options), "leak_check=0");
	run = run_child(leaked_pool_child, &child);
	assert_exit_status(&run, 0, "leak_check=0");
	ck_assert_str_eq(run.output, "");
	free(run.output);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "leak:open_ring\n", 15), 15);
	close(fd);
	snprintf(child.options, sizeof(child.options), "suppressions=%s", path);
	run = run_child(leaked_pool_child, &child);
	unlink(path);
	assert_exit_status(&run, 0, "leak:open_ring");
	ck_assert_msg(strstr(run.output, "ERROR") == NULL, "suppressed, yet:\n%s", run.output);
	free(run.output);
}
END_TEST

/* Makes one report (a double free, its stack symbolized) and leaks
 * nothing, then exits with the module held. */
static __attribute__((noinline)) int report_then_exit_child(void *context)
{
	const void *pool;
	void *block;

	(void)context;
	child_load_debug(NULL);
	pool = child_new_pool(64 * KIB);
	block = am->malloc(pool, 32);
	child_require(block != NULL, "malloc");
	am->free(pool, block);
	am->free(pool, block);
	child_require(am->delete_pool(pool) == B_OK, "delete_pool");
	return 0;
}

/*
 * A process that exits with the module held after a report leaves nothing
 * to a leak checker: the exit handler frees the symbolizer (libdw's search
 * trees, whose tagged pointers Valgrind counted as possibly lost, so a
 * driver's QA run under Valgrind failed with its error exit code). The
 * valgrind job "debug-exit" (scripts/check-valgrind) runs this case under
 * memcheck with --leak-check=full, where the child then exits 99 instead
 * of the module's 23; without Valgrind it checks the report and the status.
 */
START_TEST(test_exit_after_a_report_leaves_nothing_to_leak_checkers)
{
	struct child_run run = run_child(report_then_exit_child, NULL);

	assert_exit_status(&run, LEAK_EXIT_STATUS, "exit(0) after a double free");
	ck_assert_int_eq(occurrences(run.output, "ERROR: area_malloc: "), 1);
	ck_assert_msg(strstr(run.output, "ERROR: area_malloc: double-free on address ") != NULL
			&& strstr(run.output, "in report_then_exit_child") != NULL,
		"%s", run.output);
	free(run.output);
}
END_TEST

/* A forked child's own pool: the child never deletes it. */
static int pool_leaking_child(void *context)
{
	(void)context;
	child_require(open_ring(16 * KIB, "child's") != NULL, "create_pool");
	return 0;
}

/* A forked child reports the pool it created, never its parent's (which it
 * holds copies of); the parent reports nothing of the child's. */
START_TEST(test_fork_child_reports_only_its_own_pools)
{
	const void *parent_pool;
	struct child_run run;

	load_debug(NULL);
	parent_pool = open_ring(64 * KIB, "parent's");
	ck_assert_ptr_nonnull(parent_pool);
	ck_assert_ptr_nonnull(am->malloc(parent_pool, 10));
	run = run_child(pool_leaking_child, NULL);
	assert_exit_status(&run, LEAK_EXIT_STATUS, "a child that leaks its own pool");
	ck_assert_int_eq(occurrences(run.output, "ERROR: area_malloc: "), 1);
	ck_assert_msg(strstr(run.output, "ERROR: area_malloc: leaked-pool\n") != NULL
			&& strstr(run.output, " \"child's\" (id 0x") != NULL
			&& strstr(run.output, "\"parent's\"") == NULL,
		"%s", run.output);
	free(run.output);

	capture_reports(true);
	ck_assert_int_eq(am->delete_pool(parent_pool), B_OK);
	ck_assert_int_eq(capture.count, 1); /* its block, at delete_pool */
	ck_assert_str_eq(captured(0)->kind, "detected memory leaks");
	forget_captured();
	unload_debug();
	ck_assert_int_eq(capture.count, 0);
}
END_TEST

/* The same with the release build (KERNEL_MODULE_PATH set by the parent). */
static int pool_leaking_child_release(void *context)
{
	(void)context;
	child_require(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK,
		"get_module(release)");
	child_require(am->create_pool(B_ANY_KERNEL_ADDRESS, 16 * KIB, B_NO_LOCK, KERNEL_RW) != NULL,
		"create_pool");
	return 0;
}

/* The release build says nothing of a pool never deleted. */
START_TEST(test_release_build_reports_no_leaked_pool)
{
	struct child_run run;

	select_modules("release", NULL);
	run = run_child(pool_leaking_child_release, NULL);
	assert_exit_status(&run, 0, "release build");
	ck_assert_str_eq(run.output, "");
	free(run.output);
}
END_TEST

static Suite *debug_api_suite(void)
{
	Suite *suite = suite_create("debug_api");

	TCase *companion = tcase_create("companion");
	tcase_add_checked_fixture(companion, NULL, teardown_captured);
	tcase_add_test(companion, test_companion_in_debug_build);
	tcase_add_test(companion, test_companion_absent_in_release_build);
	tcase_add_test(companion, test_pool_name_in_reports_and_pools_command);
	tcase_add_test(companion, test_pool_name_control_characters_kept_as_question_marks);
	tcase_add_test(companion, test_pool_name_cut_between_characters);
	tcase_add_test(companion, test_pool_name_escaped_in_text_and_utf8_in_json);
	tcase_add_test(companion, test_companion_bad_pool_ids);
	tcase_add_test(companion, test_report_leaks_since_mark);
	tcase_add_test(companion, test_pool_stats_exact);
	tcase_add_test(companion, test_check_pool_counts_damage);
	tcase_add_test(companion, test_report_hook_and_error_count);
	suite_add_tcase(suite, companion);

	TCase *realloc_rules = tcase_create("realloc");
	tcase_add_checked_fixture(realloc_rules, NULL, teardown_captured);
	tcase_add_test(realloc_rules, test_realloc_null_allocates);
	tcase_add_test(realloc_rules, test_realloc_zero_frees);
	tcase_add_test(realloc_rules, test_realloc_in_place);
	tcase_add_test(realloc_rules, test_malloc_fill_is_bounded);
	tcase_add_loop_test(realloc_rules, test_freed_pages_go_back, 0, 2);
	tcase_add_test(realloc_rules, test_realloc_in_place_takes_the_realloc_site);
	tcase_add_test(realloc_rules, test_realloc_move_always_moves);
	tcase_add_test(realloc_rules, test_failed_realloc_keeps_block);
	suite_add_tcase(suite, realloc_rules);

	TCase *faults = tcase_create("fault_injection");
	tcase_add_checked_fixture(faults, NULL, teardown_captured);
	tcase_add_loop_test(faults, test_fail_nth, 1, 7);
	tcase_add_test(faults, test_fail_rate_reproducible_by_seed);
	tcase_add_test(faults, test_fail_pool_limits_to_one_pool);
	tcase_add_loop_test(faults, test_fail_caller_limits_to_one_function, 0,
		(int)(sizeof(fail_caller_patterns) / sizeof(fail_caller_patterns[0])));
	tcase_add_loop_test(faults, test_fail_caller_applies_to_realloc, 0,
		(int)(sizeof(realloc_fail_cases) / sizeof(realloc_fail_cases[0])));
	suite_add_tcase(suite, faults);

	TCase *capacity = tcase_create("capacity");
	tcase_add_checked_fixture(capacity, NULL, teardown_captured);
	tcase_add_loop_test(capacity, test_capacity_parity_with_release, 0,
		(int)(sizeof(capacity_cases) / sizeof(capacity_cases[0])));
	tcase_add_test(capacity, test_capacity_parity_realloc);
	tcase_add_test(capacity, test_generous_capacity);
	tcase_add_test(capacity, test_huge_lazy_pool);
	suite_add_tcase(suite, capacity);

	TCase *process = tcase_create("process");
	tcase_add_checked_fixture(process, NULL, teardown_captured);
	tcase_add_test(process, test_fork_child_reports_only_its_own_blocks);
	tcase_add_test(process, test_fork_child_deletes_and_unloads_reporting_its_own_blocks);
	tcase_add_test(process, test_suppressions);
	tcase_add_test(process, test_exit_ordering_and_status);
	tcase_add_test(process, test_unload_reports_leaks_and_exit_status);
	tcase_add_test(process, test_leaked_pools_at_unload);
	tcase_add_test(process, test_leaked_pool_at_exit);
	tcase_add_test(process, test_fork_child_reports_only_its_own_pools);
	tcase_add_test(process, test_release_build_reports_no_leaked_pool);
	suite_add_tcase(suite, process);

	/* run under Valgrind by scripts/check-valgrind, alone */
	TCase *leak_checkers = tcase_create("leak_checkers");
	tcase_add_test(leak_checkers, test_exit_after_a_report_leaves_nothing_to_leak_checkers);
	suite_add_tcase(suite, leak_checkers);

	add_stack_tests(suite);
	return suite;
}

int main(void)
{
	/* every test loads the module with its own options: one process each */
	return run_check_suite(debug_api_suite(), CK_FORK);
}
