/*
 * pool_test_support.h - what the pool tests share: getting the module as a
 * driver does, running a debugger command and capturing what it prints,
 * and validating every pool through the module's own "check" command.
 */
#ifndef AREA_MALLOC_TESTS_POOL_TEST_SUPPORT_H
#define AREA_MALLOC_TESTS_POOL_TEST_SUPPORT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

static inline area_malloc_module_info *get_area_malloc(void)
{
	area_malloc_module_info *module = NULL;

	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&module), B_OK);
	ck_assert_ptr_nonnull(module);
	return module;
}

/* Runs a debugger command line; returns its result and (if output is not
 * NULL) what it printed, to be freed by the caller. */
static inline int run_debug_command(const char *line, char **output)
{
	char *text = NULL;
	size_t length = 0;
	FILE *stream = open_memstream(&text, &length);
	int result;

	ck_assert_ptr_nonnull(stream);
	set_kprintf_output(stream);
	result = evaluate_debug_command(line);
	set_kprintf_output(NULL);
	fclose(stream);
	if (output != NULL)
		*output = text;
	else
		free(text);
	return result;
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
