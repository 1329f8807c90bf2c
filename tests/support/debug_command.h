/*
 * debug_command.h - what several test suites share: running a kernel
 * debugger command line in process and capturing what it printed.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_DEBUG_COMMAND_H
#define AREA_MALLOC_TESTS_SUPPORT_DEBUG_COMMAND_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <KernelExport.h>

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

#endif /* AREA_MALLOC_TESTS_SUPPORT_DEBUG_COMMAND_H */
