/*
 * stack_driver.h - the two builds of stack_driver.c (with and without frame
 * pointers) as stack_tests.c sees them.
 *
 * Locking: see stack_driver.c.
 */
#ifndef AREA_MALLOC_TESTS_DEBUG_API_STACK_DRIVER_H
#define AREA_MALLOC_TESTS_DEBUG_API_STACK_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include <drivers/area_malloc.h>

#define STACK_DRIVER_NAME_fp "with frame pointers"
#define STACK_DRIVER_NAME_nofp "without frame pointers"

struct stack_driver_call {
	uintptr_t before, after; /* the module's frames[0] lies strictly between */
};

struct stack_driver {
	const char *name;
	void (*run)(struct stack_driver *driver, const void *pool);
	area_malloc_module_info *am; /* set by the test */
	/* what run() did and where: frames the module must record */
	struct stack_driver_call alloc_call, free_call;
	uintptr_t alloc_returns_to;   /* into rx_path: an allocation's frames[1] */
	uintptr_t path_returns_to[2]; /* into rx_thread: its frames[2], by call */
	uintptr_t free_returns_to;    /* into rx_drop: a free's frames[1] */
	uintptr_t drop_returns_to[2]; /* into rx_thread: its frames[2], by call */
	unsigned paths, drops;        /* calls so far */
	void *leaked, *freed;
	/* then 100 blocks from one call site of rx_repeat (a loop) */
	void *repeated[100];
	uintptr_t repeat_returns_to; /* into rx_thread: their frames[3] */
};

extern struct stack_driver stack_driver_fp, stack_driver_nofp;

#endif /* AREA_MALLOC_TESTS_DEBUG_API_STACK_DRIVER_H */
