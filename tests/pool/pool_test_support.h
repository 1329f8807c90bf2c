/*
 * pool_test_support.h - what the pool tests share: getting the module as a
 * driver does, and validating every pool through the module's own "check"
 * command (debugger command lines: support/debug_command.h).
 */
#ifndef AREA_MALLOC_TESTS_POOL_TEST_SUPPORT_H
#define AREA_MALLOC_TESTS_POOL_TEST_SUPPORT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

#include "support/debug_command.h"

static inline area_malloc_module_info *get_area_malloc(void)
{
	area_malloc_module_info *module = NULL;

	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&module), B_OK);
	ck_assert_ptr_nonnull(module);
	return module;
}

/* Every pool of the module passes its validator. */
static inline void assert_pools_valid(void)
{
	char *output = NULL;
	int result = run_debug_command("check", &output);

	ck_assert_msg(result == 0, "pool check failed: %s", output);
	free(output);
}

#endif /* AREA_MALLOC_TESTS_POOL_TEST_SUPPORT_H */
