/*
 * scale.h - iteration counts that the environment can scale.
 *
 * AREA_MALLOC_TEST_SCALE multiplies the iteration counts of the long
 * randomized and threaded tests: 1 (the default) is what `make check` runs,
 * the ThreadSanitizer and Valgrind runs (scripts/check-tsan,
 * scripts/check-valgrind) ask for a fraction, scripts/soak for more. A
 * value that is not a positive number fails the test that reads it, with a
 * message naming the variable: a typo must not silently run the default.
 *
 * Locking: none; the value is read from the environment at each call.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_SCALE_H
#define AREA_MALLOC_TESTS_SUPPORT_SCALE_H

#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#define TEST_SCALE_VARIABLE "AREA_MALLOC_TEST_SCALE"
#define TEST_SCALE_MAX 10000.0

static inline double test_scale(void)
{
	const char *text = getenv(TEST_SCALE_VARIABLE);
	char *end;
	double scale;

	if (text == NULL || text[0] == '\0')
		return 1.0;
	scale = strtod(text, &end);
	ck_assert_msg(*end == '\0' && isfinite(scale) && scale > 0.0 && scale <= TEST_SCALE_MAX,
		TEST_SCALE_VARIABLE "='%s' is not a number in (0, %g]", text, TEST_SCALE_MAX);
	return scale;
}

/* count times the scale, rounded, and never below minimum (so that a tiny
 * scale still runs every code path at least that often). */
static inline long test_scaled(long count, long minimum)
{
	double scaled = (double)count * test_scale();

	if (scaled < (double)minimum)
		return minimum;
	if (scaled > (double)(LONG_MAX / 2))
		return LONG_MAX / 2;
	return (long)(scaled + 0.5);
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_SCALE_H */
