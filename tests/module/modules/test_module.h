/*
 * test_module.h - what the test modules share with the test program: the
 * extended module_info some of them export, and the std_ops that logs.
 */
#ifndef TEST_MODULE_H
#define TEST_MODULE_H

#include <module.h>

#include "../module_log.h"

typedef struct test_module_info {
	module_info info;
	/* Which build of the module this is (two builds share a module name). */
	const char *variant;
	/* 1, 2, 3... since this image was loaded: a fresh load starts at 1. */
	int32 (*next_load_serial)(void);
} test_module_info;

/*
 * Static, so each image has its own counter; a function-local static, so an
 * image that does not use it has no unused variable.
 */
static inline int32 next_load_serial(void)
{
	static int32 serial;

	return ++serial;
}

/* Defines a std_ops that only reports its calls to the module log. */
#define LOGGING_STD_OPS(function, module_name)                                                     \
	static status_t function(int32 op, ...)                                                    \
	{                                                                                          \
		return module_log_std_ops(module_name, op);                                        \
	}

#endif /* TEST_MODULE_H */
