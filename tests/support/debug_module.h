/*
 * debug_module.h - loads the build's debug module the way a driver does,
 * with the test's own AREA_MALLOC_OPTIONS, for the tests that drive it end
 * to end (guard pages, the bug zoo's style): get_module of the module and
 * its companion, every report taken by the report recorder.
 *
 * Use: include support/report_recorder.h first; debug_module_open() in a
 * test (Check forks each), or debug_module_use_build(), options of the
 * test's choosing and debug_module_get(); debug_module_close() at its end.
 *
 * Locking: none; called from the test's thread, before and after the
 * driver's threads.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_DEBUG_MODULE_H
#define AREA_MALLOC_TESTS_SUPPORT_DEBUG_MODULE_H

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#ifndef AREA_MALLOC_TESTS_SUPPORT_REPORT_RECORDER_H
#error "include support/report_recorder.h before support/debug_module.h"
#endif

/* Points KERNEL_MODULE_PATH at the build's debug module. */
static inline void debug_module_use_build(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char path[PATH_MAX];

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run `make check`)");
	snprintf(path, sizeof(path), "%s/modules/debug", dir);
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
}

/* Gets the module and its companion as the environment names them; reports
 * go to the recorder, which starts empty. */
static inline void debug_module_get(area_malloc_module_info **module,
	area_malloc_debug_module_info **companion)
{
	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)module), B_OK);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)companion),
		B_OK);
	(*companion)->set_report_hook(take_report, NULL);
	recorded_count = 0;
}

/* The build's debug module with exactly these options (AREA_MALLOC_OPTIONS;
 * support/debug_options.h's set_debug_options() turns guard sampling off
 * first, for tests that assert exact blocks). */
static inline void debug_module_open(const char *options, area_malloc_module_info **module,
	area_malloc_debug_module_info **companion)
{
	debug_module_use_build();
	ck_assert_int_eq(setenv("AREA_MALLOC_OPTIONS", options, 1), 0);
	debug_module_get(module, companion);
}

static inline void debug_module_close(void)
{
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_DEBUG_MODULE_H */
