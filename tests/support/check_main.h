/*
 * check_main.h - the end of every Check test program's main(): run a
 * suite, report, and turn the failure count into an exit status.
 *
 * fork_status: CK_FORK where every test must run in a process of its own
 * (tests that load a module with their own options, or whose setup holds a
 * module for the life of the process); CK_FORK_GETENV elsewhere, so that
 * CK_FORK=no in the environment runs the tests in one process (debuggers,
 * Valgrind).
 *
 * Locking: none; called once, from main().
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_CHECK_MAIN_H
#define AREA_MALLOC_TESTS_SUPPORT_CHECK_MAIN_H

#include <check.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>

/* Runs every test of suite; EXIT_SUCCESS when none failed. */
static inline int run_check_suite(Suite *suite, enum fork_status fork_status)
{
	SRunner *runner = srunner_create(suite);
	int failed;

	/* libdw is loaded with the program, not first by the debug module's
	 * dlopen, so its thread-local storage is static (tests/local.mk) */
	const char *volatile libdw_version = dwfl_version(NULL);
	(void)libdw_version;

	srunner_set_fork_status(runner, fork_status);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_CHECK_MAIN_H */
