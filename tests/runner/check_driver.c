/*
 * check_driver.c - a Check suite whose tests use area_malloc, for the
 * "pooldump run" suite's per-test attribution (test_runner.c). Run it with
 * CK_FORK=yes (each test in a child Check forks) or CK_FORK=no (every test
 * in this process). Its tests, each in a test case of its own (a report
 * names the test function, which is what Check's tcase_name() returns):
 *
 *   test_clean      allocates and frees everything: no report
 *   test_leaky      deletes a pool holding a 64-byte block from leaky_alloc:
 *                   a leak report "at delete_pool" while the test runs
 *   test_exit_leak  leaves a 24-byte block from exit_alloc in a pool it never
 *                   deletes: a leak report "at exit", made by the process
 *                   that ran the test (fork mode: the test's child; no-fork
 *                   mode: this process, when no test runs any more)
 *
 * The tests only check that the module serves them; what the runner makes
 * of their reports is test_runner.c's business.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

#define COMPILER_BARRIER() __asm__ __volatile__("" ::: "memory")
#define CALL_SITE __attribute__((noipa))

static area_malloc_module_info *sAreaMalloc;

static CALL_SITE void *leaky_alloc(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* runner-site:leaky_alloc */
	COMPILER_BARRIER();
	return buffer;
}

static CALL_SITE void *exit_alloc(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* runner-site:exit_alloc */
	COMPILER_BARRIER();
	return buffer;
}

static const void *open_pool(void)
{
	const void *pool;

	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&sAreaMalloc), B_OK);
	pool = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 128 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	ck_assert_ptr_nonnull(pool);
	return pool;
}

START_TEST(test_clean)
{
	const void *pool = open_pool();
	void *buffer = sAreaMalloc->malloc(pool, 100);

	ck_assert_ptr_nonnull(buffer);
	sAreaMalloc->free(pool, buffer);
	sAreaMalloc->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
}
END_TEST

START_TEST(test_leaky)
{
	const void *pool = open_pool();

	ck_assert_ptr_nonnull(leaky_alloc(pool, 64));
	sAreaMalloc->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
}
END_TEST

START_TEST(test_exit_leak)
{
	ck_assert_ptr_nonnull(exit_alloc(open_pool(), 24));
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("check_driver");
	SRunner *runner;
	TCase *test_case;
	int failed;

	test_case = tcase_create("clean");
	tcase_add_test(test_case, test_clean);
	suite_add_tcase(suite, test_case);
	test_case = tcase_create("leaky");
	tcase_add_test(test_case, test_leaky);
	suite_add_tcase(suite, test_case);
	test_case = tcase_create("exit_leak");
	tcase_add_test(test_case, test_exit_leak);
	suite_add_tcase(suite, test_case);

	runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
