/*
 * debug_options.h - AREA_MALLOC_OPTIONS for the tests that assert exact
 * blocks.
 *
 * The debug build guards one allocation in guard_sample (5000 by default),
 * chosen at random (area_malloc_debug(7), GUARD PAGES): such a block lies
 * outside the heap, and an overflow of it faults at the access instead of
 * being reported at free. A test that asserts the exact report, address,
 * layout or capacity of blocks would then fail once in thousands of runs,
 * so it sets its options with set_debug_options(), which turns the
 * sampling off ahead of them: a test that wants guards says so in its own
 * options (a later key wins). Clean workloads (tests/stress) keep the
 * default, and assert zero reports with sampled blocks among theirs.
 *
 * Locking: none; called before the module is loaded.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_DEBUG_OPTIONS_H
#define AREA_MALLOC_TESTS_SUPPORT_DEBUG_OPTIONS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNSAMPLED_OPTIONS "guard_sample=0"

/* Sets AREA_MALLOC_OPTIONS to options (NULL or "": the defaults) with the
 * guard sampling off ahead of them; setenv's result. */
static inline int set_debug_options(const char *options)
{
	size_t length = sizeof(UNSAMPLED_OPTIONS) + 1 + (options != NULL ? strlen(options) : 0);
	char *text = malloc(length);
	int result;

	if (text == NULL)
		return -1;
	snprintf(text, length, "%s%s%s", UNSAMPLED_OPTIONS,
		options != NULL && options[0] != '\0' ? ":" : "", options != NULL ? options : "");
	result = setenv("AREA_MALLOC_OPTIONS", text, 1);
	free(text);
	return result;
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_DEBUG_OPTIONS_H */
