/*
 * stack_tests.h - the "stacks" test case of test_debug_api (stack_tests.c).
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_TESTS_DEBUG_API_STACK_TESTS_H
#define AREA_MALLOC_TESTS_DEBUG_API_STACK_TESTS_H

#include <check.h>

void add_stack_tests(Suite *suite);

#endif /* AREA_MALLOC_TESTS_DEBUG_API_STACK_TESTS_H */
