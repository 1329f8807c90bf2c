/*
 * test_module.c - Check suite of the module manager (get_module/put_module).
 *
 * The test modules (tests/module/modules/) are staged by `make check` into
 * $AREA_MALLOC_TEST_BUILDDIR/tests/module/dirs/{first,second,empty}; see
 * tests/module/local.mk for what lives where. Each test sets
 * KERNEL_MODULE_PATH itself (Check forks every test, so nothing leaks) and
 * reads through libmodule_log how often the modules' std_ops ran.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <module.h>

#include "module_log.h"
#include "modules/test_module.h"
#include "support/check_main.h"

/* A status no module returns by accident: "its own error". */
#define CUSTOM_INIT_ERROR ((status_t)(B_GENERAL_ERROR_BASE + 0x4242))

static const char *tree_path(const char *tree)
{
	static char paths[4][PATH_MAX];
	static int next;
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char *path = paths[next++ % 4];

	ck_assert_msg(builddir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run `make check`)");
	snprintf(path, PATH_MAX, "%s/tests/module/dirs/%s", builddir, tree);
	return path;
}

/* KERNEL_MODULE_PATH = the given staged trees, in order (NULL-terminated). */
static void set_module_path(const char *tree, ...)
{
	char path[4 * PATH_MAX] = "";
	va_list trees;

	va_start(trees, tree);
	for (; tree != NULL; tree = va_arg(trees, const char *)) {
		if (path[0] != '\0')
			strcat(path, ":");
		strcat(path, tree_path(tree));
	}
	va_end(trees);
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
}

/* Whether the staged file tree/file is mapped in this process. */
static bool image_mapped(const char *tree, const char *file)
{
	char staged[PATH_MAX];
	char resolved[PATH_MAX];
	char line[2 * PATH_MAX];
	bool mapped = false;
	FILE *maps;

	snprintf(staged, sizeof(staged), "%s/%s", tree_path(tree), file);
	ck_assert_msg(realpath(staged, resolved) != NULL, "%s is not staged", staged);
	maps = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(maps);
	while (!mapped && fgets(line, sizeof(line), maps) != NULL) {
		char *path = strchr(line, '/');

		line[strcspn(line, "\n")] = '\0';
		mapped = path != NULL && strcmp(path, resolved) == 0;
	}
	fclose(maps);
	return mapped;
}

static const char *variant_of(module_info *info)
{
	return ((test_module_info *)info)->variant;
}

static int32 next_serial_of(module_info *info)
{
	return ((test_module_info *)info)->next_load_serial();
}

static int32 inits(const char *name)
{
	return module_log_calls(name, B_MODULE_INIT);
}

static int32 uninits(const char *name)
{
	return module_log_calls(name, B_MODULE_UNINIT);
}

/* What dprintf writes (to fd 2) between the two calls. */
static int saved_stderr = -1;
static FILE *captured_stderr;

static void capture_stderr(void)
{
	captured_stderr = tmpfile();
	ck_assert_ptr_nonnull(captured_stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fileno(captured_stderr), STDERR_FILENO), 0);
}

static const char *captured_text(void)
{
	static char text[8192];
	size_t length;

	ck_assert_int_ge(dup2(saved_stderr, STDERR_FILENO), 0);
	close(saved_stderr);
	rewind(captured_stderr);
	length = fread(text, 1, sizeof(text) - 1, captured_stderr);
	text[length] = '\0';
	fclose(captured_stderr);
	return text;
}

/* get_module that must succeed and return the module of that name. */
static module_info *get_ok(const char *name)
{
	module_info *info = NULL;

	ck_assert_int_eq(get_module(name, &info), B_OK);
	ck_assert_ptr_nonnull(info);
	ck_assert_str_eq(info->name, name);
	return info;
}

static void expect_get_fails(const char *name, status_t expected)
{
	module_info *info = NULL;

	ck_assert_int_eq(get_module(name, &info), expected);
	ck_assert_ptr_null(info);
}

/* Lookup */

START_TEST(test_module_found_in_prefix_file)
{
	set_module_path("first", NULL);

	ck_assert_str_eq(variant_of(get_ok("test/a/v1")), "default");
	ck_assert(image_mapped("first", "test/a"));
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
}
END_TEST

START_TEST(test_module_found_in_full_name_and_top_level_files)
{
	set_module_path("first", NULL);

	get_ok("test/exact/v1");
	get_ok("top/level/v1");
	ck_assert(image_mapped("first", "test/exact/v1"));
	ck_assert(image_mapped("first", "top"));
	ck_assert_int_eq(put_module("test/exact/v1"), B_OK);
	ck_assert_int_eq(put_module("top/level/v1"), B_OK);
}
END_TEST

START_TEST(test_two_modules_in_one_file)
{
	module_info *one, *two;

	set_module_path("first", NULL);
	one = get_ok("test/multi/one");
	two = get_ok("test/multi/two");

	/* One image: the two modules count with the same counter. */
	ck_assert_int_eq(next_serial_of(one), 1);
	ck_assert_int_eq(next_serial_of(two), 2);
	ck_assert_int_eq(inits("test/multi/one"), 1);
	ck_assert_int_eq(inits("test/multi/two"), 1);
	ck_assert_int_eq(put_module("test/multi/one"), B_OK);
	ck_assert_int_eq(put_module("test/multi/two"), B_OK);
	ck_assert_int_eq(uninits("test/multi/one"), 1);
	ck_assert_int_eq(uninits("test/multi/two"), 1);
}
END_TEST

START_TEST(test_earlier_directory_wins_and_path_is_reread)
{
	set_module_path("first", "second", NULL);
	ck_assert_str_eq(variant_of(get_ok("test/order/v1")), "first");
	ck_assert_int_eq(put_module("test/order/v1"), B_OK);

	set_module_path("second", "first", NULL);
	ck_assert_str_eq(variant_of(get_ok("test/order/v1")), "second");
	ck_assert(image_mapped("second", "test/order"));
	ck_assert(!image_mapped("first", "test/order"));
	ck_assert_int_eq(put_module("test/order/v1"), B_OK);
}
END_TEST

START_TEST(test_later_directories_are_searched)
{
	char path[3 * PATH_MAX];

	/* Empty entries, a missing and an empty directory come first. */
	snprintf(path, sizeof(path), "::%s:/nonexistent/area_malloc::%s:", tree_path("empty"),
		tree_path("first"));
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);

	get_ok("test/a/v1");
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
}
END_TEST

START_TEST(test_bad_image_is_skipped_for_a_later_directory)
{
	const char *messages;

	set_module_path("first", "second", NULL);
	capture_stderr();
	get_ok("test/fallback/v1");
	messages = captured_text();

	ck_assert(image_mapped("second", "test/fallback"));
	ck_assert_ptr_nonnull(strstr(messages, "test/fallback"));
	ck_assert_int_eq(put_module("test/fallback/v1"), B_OK);

	/* Without the later directory, the bad image's error is what remains. */
	set_module_path("first", NULL);
	expect_get_fails("test/fallback/v1", B_BAD_TYPE);
}
END_TEST

START_TEST(test_missing_module_is_entry_not_found)
{
	set_module_path("first", "second", "empty", NULL);

	expect_get_fails("test/nothing/v1", B_ENTRY_NOT_FOUND);
	expect_get_fails("nothing", B_ENTRY_NOT_FOUND);
	/* Directories are no candidates, only regular files. */
	expect_get_fails("test/dir/v1", B_ENTRY_NOT_FOUND);
	/* A file that loads but does not list the name is closed again. */
	expect_get_fails("test/a/v9", B_ENTRY_NOT_FOUND);
	ck_assert(!image_mapped("first", "test/a"));
	ck_assert_int_eq(inits("test/a/v1"), 0);

	ck_assert_int_eq(unsetenv("KERNEL_MODULE_PATH"), 0);
	expect_get_fails("test/a/v1", B_ENTRY_NOT_FOUND);
}
END_TEST

START_TEST(test_image_without_modules_symbol_is_bad_type)
{
	set_module_path("first", NULL);

	expect_get_fails("test/bad/v1", B_BAD_TYPE);
	ck_assert(!image_mapped("first", "test/bad"));
}
END_TEST

START_TEST(test_file_that_is_not_elf_is_bad_type)
{
	char text_file[PATH_MAX];
	const char *messages;

	set_module_path("first", NULL);
	snprintf(text_file, sizeof(text_file), "%s/test/text", tree_path("first"));
	capture_stderr();
	expect_get_fails("test/text/v1", B_BAD_TYPE);
	messages = captured_text();

	/* The dprintf line names the file and carries dlerror()'s text. */
	ck_assert_msg(strstr(messages, text_file) != NULL, "no file in: %s", messages);
	ck_assert_msg(strstr(messages, "invalid ELF header") != NULL, "no dlerror in: %s",
		messages);
}
END_TEST

/* Arguments */

START_TEST(test_null_arguments)
{
	module_info *info = NULL;

	set_module_path("first", NULL);
	ck_assert_int_eq(get_module(NULL, &info), B_BAD_VALUE);
	ck_assert_int_eq(get_module("test/a/v1", NULL), B_BAD_VALUE);
	ck_assert_int_eq(put_module(NULL), B_BAD_VALUE);
	ck_assert_ptr_null(info);
	ck_assert_int_eq(inits("test/a/v1"), 0);
}
END_TEST

START_TEST(test_names_that_leave_the_module_directories)
{
	static const char *const bad_names[] = {
		"",
		"/test/a/v1",
		"../first/test/a/v1",
		"test/../test/a/v1",
		"./test/a/v1",
		"test//a/v1",
		"test/a/v1/",
		"test/a/..",
	};
	char too_long[PATH_MAX + 16];
	size_t i;

	/* From second/, "../first/test/a" would be a real module image. */
	set_module_path("second", NULL);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		expect_get_fails(bad_names[i], B_BAD_VALUE);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		ck_assert_int_eq(put_module(bad_names[i]), B_BAD_VALUE);

	memset(too_long, 'x', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	expect_get_fails(too_long, B_BAD_VALUE);
	ck_assert_int_eq(put_module(too_long), B_BAD_VALUE);

	/* Short enough as a name, too long below a directory. */
	too_long[PATH_MAX - 8] = '\0';
	expect_get_fails(too_long, B_ENTRY_NOT_FOUND);
	ck_assert_int_eq(inits("test/a/v1"), 0);
}
END_TEST

START_TEST(test_overlong_path_entry_is_skipped)
{
	char path[3 * PATH_MAX];
	size_t length;

	memset(path, 'd', PATH_MAX + 10);
	path[0] = '/';
	length = PATH_MAX + 10;
	snprintf(path + length, sizeof(path) - length, ":%s", tree_path("first"));
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);

	get_ok("test/a/v1");
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
}
END_TEST

START_TEST(test_put_without_get_is_bad_value)
{
	set_module_path("first", NULL);

	ck_assert_int_eq(put_module("test/a/v1"), B_BAD_VALUE);
	ck_assert_int_eq(put_module("test/nothing/v1"), B_BAD_VALUE);
	get_ok("test/a/v1");
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(put_module("test/a/v1"), B_BAD_VALUE);
	ck_assert_int_eq(uninits("test/a/v1"), 1);
}
END_TEST

/* Life cycle */

START_TEST(test_init_once_uninit_once)
{
	module_info *first, *second;

	set_module_path("first", NULL);
	first = get_ok("test/a/v1");
	ck_assert_int_eq(inits("test/a/v1"), 1);
	second = get_ok("test/a/v1");
	ck_assert_ptr_eq(first, second);
	ck_assert_int_eq(inits("test/a/v1"), 1);

	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(uninits("test/a/v1"), 0);
	ck_assert(image_mapped("first", "test/a"));
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(uninits("test/a/v1"), 1);
	ck_assert_int_eq(inits("test/a/v1"), 1);
	ck_assert_str_eq(module_log_events(), "+test/a/v1 -test/a/v1");
	ck_assert_int_eq(module_log_violations(), 0);
}
END_TEST

START_TEST(test_image_unloaded_after_last_put)
{
	module_info *info;

	set_module_path("first", NULL);
	info = get_ok("test/multi/one");
	ck_assert_int_eq(next_serial_of(info), 1);
	ck_assert_int_eq(next_serial_of(info), 2);
	ck_assert_int_eq(put_module("test/multi/one"), B_OK);
	ck_assert(!image_mapped("first", "test/multi"));

	/* Loaded afresh: the module's static counter starts over. */
	info = get_ok("test/multi/one");
	ck_assert(image_mapped("first", "test/multi"));
	ck_assert_int_eq(next_serial_of(info), 1);
	ck_assert_int_eq(put_module("test/multi/one"), B_OK);
	ck_assert_int_eq(inits("test/multi/one"), 2);
	ck_assert_int_eq(uninits("test/multi/one"), 2);
}
END_TEST

START_TEST(test_image_stays_while_one_of_its_modules_is_referenced)
{
	module_info *one, *two;

	set_module_path("first", NULL);
	one = get_ok("test/multi/one");
	two = get_ok("test/multi/two");
	ck_assert_int_eq(next_serial_of(one), 1);
	ck_assert_int_eq(put_module("test/multi/one"), B_OK);

	ck_assert(image_mapped("first", "test/multi"));
	ck_assert_int_eq(next_serial_of(two), 2);
	ck_assert_int_eq(uninits("test/multi/one"), 1);
	ck_assert_int_eq(uninits("test/multi/two"), 0);
	ck_assert_int_eq(put_module("test/multi/two"), B_OK);
	ck_assert(!image_mapped("first", "test/multi"));
}
END_TEST

START_TEST(test_module_without_std_ops)
{
	module_info *info;

	set_module_path("first", NULL);
	info = get_ok("test/no_std_ops/v1");
	ck_assert_ptr_null(info->std_ops);
	ck_assert_int_eq(next_serial_of(info), 1);
	ck_assert_int_eq(put_module("test/no_std_ops/v1"), B_OK);
	ck_assert(!image_mapped("first", "test/no_std_ops"));
	ck_assert_int_eq(put_module("test/no_std_ops/v1"), B_BAD_VALUE);
}
END_TEST

START_TEST(test_keep_loaded_is_never_uninitialised)
{
	set_module_path("first", NULL);
	get_ok("test/keep/v1");
	ck_assert_int_eq(put_module("test/keep/v1"), B_OK);
	ck_assert_int_eq(uninits("test/keep/v1"), 0);
	ck_assert(image_mapped("first", "test/keep"));

	/* Still known: no second init, and the permanent reference is not the caller's. */
	get_ok("test/keep/v1");
	ck_assert_int_eq(put_module("test/keep/v1"), B_OK);
	ck_assert_int_eq(put_module("test/keep/v1"), B_BAD_VALUE);
	ck_assert_int_eq(inits("test/keep/v1"), 1);
	ck_assert_int_eq(uninits("test/keep/v1"), 0);
	ck_assert(image_mapped("first", "test/keep"));
}
END_TEST

START_TEST(test_failing_init_fails_the_get_and_is_retried)
{
	set_module_path("first", NULL);
	module_log_set_result("test/a/v1", B_MODULE_INIT, CUSTOM_INIT_ERROR);
	expect_get_fails("test/a/v1", CUSTOM_INIT_ERROR);
	ck_assert_int_eq(inits("test/a/v1"), 1);
	ck_assert_int_eq(uninits("test/a/v1"), 0);
	ck_assert_int_eq(put_module("test/a/v1"), B_BAD_VALUE);
	ck_assert(!image_mapped("first", "test/a"));

	module_log_set_result("test/a/v1", B_MODULE_INIT, B_OK);
	get_ok("test/a/v1");
	ck_assert_int_eq(inits("test/a/v1"), 2);
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(uninits("test/a/v1"), 1);
}
END_TEST

START_TEST(test_failing_uninit_keeps_the_module)
{
	set_module_path("first", NULL);
	module_log_set_result("test/a/v1", B_MODULE_UNINIT, B_ERROR);
	get_ok("test/a/v1");
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(uninits("test/a/v1"), 1);

	/* Like Haiku: it stays initialised and loaded for good. */
	ck_assert(image_mapped("first", "test/a"));
	get_ok("test/a/v1");
	ck_assert_int_eq(inits("test/a/v1"), 1);
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(uninits("test/a/v1"), 1);
	ck_assert(image_mapped("first", "test/a"));
}
END_TEST

/* Modules that use the module manager */

START_TEST(test_reentrant_init_and_uninit)
{
	set_module_path("first", NULL);
	get_ok("test/reentrant/v1");
	ck_assert_int_eq(module_log_noted("reentrant get"), B_OK);
	ck_assert_int_eq(inits("test/a/v1"), 1);

	/* test/a/v1 is referenced by the reentrant module: no second init. */
	get_ok("test/a/v1");
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(uninits("test/a/v1"), 0);

	ck_assert_int_eq(put_module("test/reentrant/v1"), B_OK);
	ck_assert_int_eq(module_log_noted("reentrant put"), B_OK);
	ck_assert_str_eq(module_log_events(),
		"+test/reentrant/v1 +test/a/v1 -test/reentrant/v1 -test/a/v1");
	ck_assert(!image_mapped("first", "test/a"));
}
END_TEST

START_TEST(test_circular_init_is_an_error)
{
	set_module_path("first", NULL);
	expect_get_fails("test/circular/a", B_ERROR);

	ck_assert_int_eq(module_log_noted("b gets a"), B_ERROR);
	ck_assert_int_eq(module_log_noted("a gets b"), B_ERROR);
	ck_assert_int_eq(inits("test/circular/a"), 1);
	ck_assert_int_eq(inits("test/circular/b"), 1);
	ck_assert_int_eq(uninits("test/circular/a"), 0);
	ck_assert_int_eq(uninits("test/circular/b"), 0);
	ck_assert_int_eq(put_module("test/circular/a"), B_BAD_VALUE);
	ck_assert_int_eq(put_module("test/circular/b"), B_BAD_VALUE);
	ck_assert(!image_mapped("first", "test/circular"));
}
END_TEST

START_TEST(test_module_getting_itself_in_init_is_an_error)
{
	set_module_path("first", NULL);
	get_ok("test/circular/self");
	ck_assert_int_eq(module_log_noted("self gets self"), B_ERROR);
	ck_assert_int_eq(put_module("test/circular/self"), B_OK);
	ck_assert_int_eq(put_module("test/circular/self"), B_BAD_VALUE);
	ck_assert_int_eq(inits("test/circular/self"), 1);
	ck_assert_int_eq(uninits("test/circular/self"), 1);
}
END_TEST

START_TEST(test_get_during_uninit_is_an_error)
{
	set_module_path("first", NULL);
	get_ok("test/uninit_get/v1");
	ck_assert_int_eq(put_module("test/uninit_get/v1"), B_OK);
	ck_assert_int_eq(module_log_noted("get during uninit"), B_ERROR);
	ck_assert_int_eq(uninits("test/uninit_get/v1"), 1);
	ck_assert(!image_mapped("first", "test/uninit_get"));

	/* Forgotten after its uninit: the next get loads and inits it again. */
	get_ok("test/uninit_get/v1");
	ck_assert_int_eq(inits("test/uninit_get/v1"), 2);
	ck_assert_int_eq(put_module("test/uninit_get/v1"), B_OK);
	ck_assert_int_eq(module_log_violations(), 0);
}
END_TEST

START_TEST(test_dependencies_are_got_before_init_and_put_after_uninit)
{
	set_module_path("first", NULL);
	get_ok("test/deps/v1");
	ck_assert_int_eq(module_log_noted("dependencies stored"), B_OK);
	ck_assert_str_eq(module_log_events(), "+test/a/v1 +test/multi/two +test/deps/v1");

	ck_assert_int_eq(put_module("test/deps/v1"), B_OK);
	ck_assert_str_eq(module_log_events(),
		"+test/a/v1 +test/multi/two +test/deps/v1"
		" -test/deps/v1 -test/multi/two -test/a/v1");
	ck_assert(!image_mapped("first", "test/a"));
	ck_assert(!image_mapped("first", "test/multi"));
	ck_assert(!image_mapped("first", "test/deps"));
}
END_TEST

START_TEST(test_missing_dependency_fails_the_get)
{
	set_module_path("first", NULL);
	expect_get_fails("test/deps_missing/v1", B_ENTRY_NOT_FOUND);

	/* Never initialised, and the dependency it did get is put back. */
	ck_assert_int_eq(inits("test/deps_missing/v1"), 0);
	ck_assert_str_eq(module_log_events(), "+test/a/v1 -test/a/v1");
	ck_assert_int_eq(put_module("test/deps_missing/v1"), B_BAD_VALUE);
	ck_assert(!image_mapped("first", "test/deps_missing"));
}
END_TEST

/* Threads */

#define THREAD_COUNT 4
#define THREAD_ROUNDS 2000

static atomic_int thread_failures;

static void *get_and_put_in_a_loop(void *unused)
{
	int round;

	(void)unused;
	for (round = 0; round < THREAD_ROUNDS; round++) {
		module_info *a = NULL, *one = NULL;

		if (get_module("test/a/v1", &a) != B_OK || a == NULL
			|| strcmp(a->name, "test/a/v1") != 0)
			atomic_fetch_add(&thread_failures, 1);
		if (get_module("test/multi/one", &one) != B_OK || one == NULL
			|| strcmp(one->name, "test/multi/one") != 0)
			atomic_fetch_add(&thread_failures, 1);
		if (put_module("test/multi/one") != B_OK)
			atomic_fetch_add(&thread_failures, 1);
		if (put_module("test/a/v1") != B_OK)
			atomic_fetch_add(&thread_failures, 1);
	}
	return NULL;
}

START_TEST(test_threads_get_and_put)
{
	pthread_t threads[THREAD_COUNT];
	int failures;
	int i;

	set_module_path("first", NULL);
	/* The test holds test/multi/one throughout: it is initialised exactly once. */
	get_ok("test/multi/one");
	for (i = 0; i < THREAD_COUNT; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, get_and_put_in_a_loop, NULL), 0);
	for (i = 0; i < THREAD_COUNT; i++)
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);

	failures = atomic_load(&thread_failures);
	ck_assert_int_eq(failures, 0);
	ck_assert_int_eq(inits("test/multi/one"), 1);
	ck_assert_int_eq(uninits("test/multi/one"), 0);
	ck_assert_int_eq(put_module("test/multi/one"), B_OK);
	ck_assert_int_eq(uninits("test/multi/one"), 1);

	/* test/a/v1 came and went as the threads raced: every init has its uninit. */
	ck_assert_int_ge(inits("test/a/v1"), 1);
	ck_assert_int_eq(uninits("test/a/v1"), inits("test/a/v1"));
	ck_assert_int_eq(module_log_violations(), 0);
	ck_assert_int_eq(put_module("test/a/v1"), B_BAD_VALUE);
	ck_assert(!image_mapped("first", "test/a"));
	ck_assert(!image_mapped("first", "test/multi"));
}
END_TEST

static Suite *module_suite(void)
{
	Suite *suite = suite_create("module");
	TCase *lookup = tcase_create("lookup");
	TCase *arguments = tcase_create("arguments");
	TCase *life_cycle = tcase_create("life cycle");
	TCase *nested = tcase_create("nested gets");
	TCase *threads = tcase_create("threads");

	tcase_add_test(lookup, test_module_found_in_prefix_file);
	tcase_add_test(lookup, test_module_found_in_full_name_and_top_level_files);
	tcase_add_test(lookup, test_two_modules_in_one_file);
	tcase_add_test(lookup, test_earlier_directory_wins_and_path_is_reread);
	tcase_add_test(lookup, test_later_directories_are_searched);
	tcase_add_test(lookup, test_bad_image_is_skipped_for_a_later_directory);
	tcase_add_test(lookup, test_missing_module_is_entry_not_found);
	tcase_add_test(lookup, test_image_without_modules_symbol_is_bad_type);
	tcase_add_test(lookup, test_file_that_is_not_elf_is_bad_type);
	suite_add_tcase(suite, lookup);

	tcase_add_test(arguments, test_null_arguments);
	tcase_add_test(arguments, test_names_that_leave_the_module_directories);
	tcase_add_test(arguments, test_overlong_path_entry_is_skipped);
	tcase_add_test(arguments, test_put_without_get_is_bad_value);
	suite_add_tcase(suite, arguments);

	tcase_add_test(life_cycle, test_init_once_uninit_once);
	tcase_add_test(life_cycle, test_image_unloaded_after_last_put);
	tcase_add_test(life_cycle, test_image_stays_while_one_of_its_modules_is_referenced);
	tcase_add_test(life_cycle, test_module_without_std_ops);
	tcase_add_test(life_cycle, test_keep_loaded_is_never_uninitialised);
	tcase_add_test(life_cycle, test_failing_init_fails_the_get_and_is_retried);
	tcase_add_test(life_cycle, test_failing_uninit_keeps_the_module);
	suite_add_tcase(suite, life_cycle);

	tcase_add_test(nested, test_reentrant_init_and_uninit);
	tcase_add_test(nested, test_circular_init_is_an_error);
	tcase_add_test(nested, test_module_getting_itself_in_init_is_an_error);
	tcase_add_test(nested, test_get_during_uninit_is_an_error);
	tcase_add_test(nested, test_dependencies_are_got_before_init_and_put_after_uninit);
	tcase_add_test(nested, test_missing_dependency_fails_the_get);
	suite_add_tcase(suite, nested);

	tcase_add_test(threads, test_threads_get_and_put);
	suite_add_tcase(suite, threads);
	return suite;
}

int main(void)
{
	return run_check_suite(module_suite(), CK_FORK_GETENV);
}
