/*
 * test_corruption.c - Check suite: a seeded sample of the corruption matrix
 * (matrix.h) in make check. The whole matrix, or a larger time-bounded
 * sample, is scripts/corruption-matrix; CI runs a random sample of a few
 * minutes, plain and under ASan, printing its seed.
 *
 * Locking: none.
 */
#include "config.h"
#include "support/check_main.h"
#include "support/scale.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "corruption/matrix.h"

START_TEST(a_seeded_sample_holds)
{
	char module_dir[4096];
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	struct matrix_run run = { .seed = 20261206,
		.cases = (uint64_t)test_scaled(600, 40),
		.module_dir = module_dir,
		.log = stdout,
		.shards = 1 };
	struct matrix_totals totals;

	ck_assert_ptr_nonnull(builddir);
	snprintf(module_dir, sizeof(module_dir), "%s/modules/debug", builddir);
	totals = matrix_run(&run);
	printf("corruption matrix sample: %llu cases, %llu failed, %llu caught, %llu unseen, "
	       "%llu no-op\n",
		(unsigned long long)totals.run, (unsigned long long)totals.failed,
		(unsigned long long)totals.caught, (unsigned long long)totals.unseen,
		(unsigned long long)totals.no_op);
	ck_assert_uint_gt(totals.run, 0);
	ck_assert_uint_gt(totals.caught, totals.run / 2);
	ck_assert_uint_eq(totals.failed, 0);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("corruption matrix");
	TCase *sample = tcase_create("sample");

	tcase_set_timeout(sample, 900);
	tcase_add_test(sample, a_seeded_sample_holds);
	suite_add_tcase(suite, sample);
	return run_check_suite(suite, CK_FORK_GETENV);
}
