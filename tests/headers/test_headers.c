/*
 * test_headers.c - Check suite for the public headers: every constant that
 * /work/shared/reference/haiku-kernel-api.md lists has Haiku's value, the
 * types have Haiku's widths, area_malloc_module_info has R5's field order,
 * both include spellings resolve, and dprintf is the kernel's even when
 * <stdio.h> comes after <KernelExport.h>.
 *
 * Built with -pedantic (see local.mk). test_headers_cxx.cpp, linked into
 * the same program, compiles every header as C++17 and reports what it saw,
 * so that the C and C++ views of each structure can be compared here.
 *
 * Locking: none; the dprintf tests redirect stderr and run in Check's
 * forked children.
 */
#include "config.h"

/* KernelExport.h first, <stdio.h> after it: dprintf must stay the kernel's. */
#include <KernelExport.h>
#include <stdio.h>

/* Both spellings of every header. */
#include <Drivers.h>
#include <Errors.h>
#include <OS.h>
#include <SupportDefs.h>
#include <area_malloc.h>
#include <drivers/Drivers.h>
#include <drivers/KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/module.h>
#include <module.h>

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_headers_cxx.h"
#include "support/check_main.h"

/* Widths are a compile-time fact: a wrong one stops the build here. */
_Static_assert(sizeof(status_t) == 4, "status_t is 32 bits");
_Static_assert(sizeof(int8) == 1 && sizeof(uint8) == 1, "8-bit types");
_Static_assert(sizeof(int16) == 2 && sizeof(uint16) == 2, "16-bit types");
_Static_assert(sizeof(int32) == 4 && sizeof(uint32) == 4, "32-bit types");
_Static_assert(sizeof(int64) == 8 && sizeof(uint64) == 8, "64-bit types");

/* All ones is above zero only in an unsigned type. */
#define IS_SIGNED(type) (!((type) ~(type)0 > (type)0))

START_TEST(test_type_widths)
{
	ck_assert_uint_eq(sizeof(status_t), 4);
	ck_assert(IS_SIGNED(status_t));
	ck_assert_uint_eq(sizeof(int8), 1);
	ck_assert(IS_SIGNED(int8));
	ck_assert_uint_eq(sizeof(uint8), 1);
	ck_assert(!IS_SIGNED(uint8));
	ck_assert_uint_eq(sizeof(int16), 2);
	ck_assert(IS_SIGNED(int16));
	ck_assert_uint_eq(sizeof(uint16), 2);
	ck_assert(!IS_SIGNED(uint16));
	ck_assert_uint_eq(sizeof(int32), 4);
	ck_assert(IS_SIGNED(int32));
	ck_assert_uint_eq(sizeof(uint32), 4);
	ck_assert(!IS_SIGNED(uint32));
	ck_assert_uint_eq(sizeof(int64), 8);
	ck_assert(IS_SIGNED(int64));
	ck_assert_uint_eq(sizeof(uint64), 8);
	ck_assert(!IS_SIGNED(uint64));
	ck_assert_uint_eq(sizeof(bigtime_t), 8);
	ck_assert(IS_SIGNED(bigtime_t));
	ck_assert_uint_eq(sizeof(area_id), 4);
	ck_assert_uint_eq(sizeof(team_id), 4);
	ck_assert_uint_eq(sizeof(thread_id), 4);
	ck_assert_uint_eq(sizeof(addr_t), sizeof(void *));
	ck_assert(!IS_SIGNED(addr_t));
	ck_assert_uint_eq(sizeof(phys_addr_t), 8);
	ck_assert_uint_eq(sizeof(B_GENERAL_ERROR_BASE), sizeof(int));
}
END_TEST

START_TEST(test_error_bases)
{
	ck_assert_int_eq(B_GENERAL_ERROR_BASE, INT_MIN);
	ck_assert_int_eq(B_OS_ERROR_BASE, INT_MIN + 0x1000);
	ck_assert_int_eq(B_STORAGE_ERROR_BASE, INT_MIN + 0x6000);
	ck_assert_int_eq(B_DEVICE_ERROR_BASE, INT_MIN + 0xa000);
}
END_TEST

START_TEST(test_error_codes)
{
	ck_assert_int_eq(B_OK, 0);
	ck_assert_int_eq(B_NO_ERROR, 0);
	ck_assert_int_eq(B_ERROR, -1);
	ck_assert_int_eq(B_NO_MEMORY, INT_MIN + 0);
	ck_assert_int_eq(B_IO_ERROR, INT_MIN + 1);
	ck_assert_int_eq(B_PERMISSION_DENIED, INT_MIN + 2);
	ck_assert_int_eq(B_BAD_INDEX, INT_MIN + 3);
	ck_assert_int_eq(B_BAD_TYPE, INT_MIN + 4);
	ck_assert_int_eq(B_BAD_VALUE, INT_MIN + 5);
	ck_assert_int_eq(B_NAME_NOT_FOUND, INT_MIN + 7);
	ck_assert_int_eq(B_NAME_IN_USE, INT_MIN + 8);
	ck_assert_int_eq(B_TIMED_OUT, INT_MIN + 9);
	ck_assert_int_eq(B_WOULD_BLOCK, INT_MIN + 11);
	ck_assert_int_eq(B_NO_INIT, INT_MIN + 13);
	ck_assert_int_eq(B_BUSY, INT_MIN + 14);
	ck_assert_int_eq(B_NOT_ALLOWED, INT_MIN + 15);
	ck_assert_int_eq(B_BAD_ADDRESS, INT_MIN + 0x1000 + 0x301);
	ck_assert_int_eq(B_ENTRY_NOT_FOUND, INT_MIN + 0x6000 + 3);
	ck_assert_int_eq(B_DEV_INVALID_IOCTL, INT_MIN + 0xa000 + 0);
	/* Every error is negative, as status_t callers test with "< B_OK". */
	ck_assert_int_lt(B_DEV_INVALID_IOCTL, B_OK);
	ck_assert_int_lt(B_ENTRY_NOT_FOUND, B_OK);
}
END_TEST

START_TEST(test_area_constants)
{
	ck_assert_int_eq(B_ANY_ADDRESS, 0);
	ck_assert_int_eq(B_EXACT_ADDRESS, 1);
	ck_assert_int_eq(B_BASE_ADDRESS, 2);
	ck_assert_int_eq(B_CLONE_ADDRESS, 3);
	ck_assert_int_eq(B_ANY_KERNEL_ADDRESS, 4);
	ck_assert_int_eq(B_ANY_KERNEL_BLOCK_ADDRESS, 5);
	ck_assert_int_eq(B_RANDOMIZED_ANY_ADDRESS, 6);
	ck_assert_int_eq(B_RANDOMIZED_BASE_ADDRESS, 7);

	ck_assert_int_eq(B_NO_LOCK, 0);
	ck_assert_int_eq(B_LAZY_LOCK, 1);
	ck_assert_int_eq(B_FULL_LOCK, 2);
	ck_assert_int_eq(B_CONTIGUOUS, 3);
	ck_assert_int_eq(B_LOMEM, 4);
	ck_assert_int_eq(B_32_BIT_FULL_LOCK, 5);
	ck_assert_int_eq(B_32_BIT_CONTIGUOUS, 6);

	ck_assert_int_eq(B_READ_AREA, 1);
	ck_assert_int_eq(B_WRITE_AREA, 2);
	ck_assert_int_eq(B_EXECUTE_AREA, 4);
	ck_assert_int_eq(B_STACK_AREA, 8);
	ck_assert_int_eq(B_KERNEL_READ_AREA, 16);
	ck_assert_int_eq(B_KERNEL_WRITE_AREA, 32);
	ck_assert_int_eq(B_KERNEL_EXECUTE_AREA, 64);
	ck_assert_int_eq(B_KERNEL_STACK_AREA, 128);
	ck_assert_int_eq(B_CLONEABLE_AREA, 256);

	ck_assert_int_eq(B_PAGE_SIZE, 4096);
	ck_assert_int_eq(B_OS_NAME_LENGTH, 32);
	ck_assert_uint_eq(sizeof(((area_info *)NULL)->name), B_OS_NAME_LENGTH);
}
END_TEST

START_TEST(test_module_and_debugger_constants)
{
	ck_assert_int_eq(B_MODULE_INIT, 1);
	ck_assert_int_eq(B_MODULE_UNINIT, 2);
	ck_assert_int_eq(B_KEEP_LOADED, 0x00000001);
	ck_assert_int_eq(B_KDEBUG_CONT, 2);
	ck_assert_int_eq(B_KDEBUG_QUIT, 3);
	ck_assert_int_eq(B_DEVICE_OP_CODES_END, 9999);
	ck_assert_str_eq(B_AREA_MALLOC_MODULE_NAME, "generic/area_malloc/v1");
}
END_TEST

/* 1 if the expression has exactly the function pointer type, else 0. */
#define HAS_TYPE(expression, type) _Generic((expression), type : 1, default : 0)

START_TEST(test_area_malloc_module_info_layout)
{
	area_malloc_module_info *info = NULL;
	const size_t pointer = sizeof(void (*)(void));

	/* R5's order: minfo first, then the six hooks, one after another. */
	ck_assert_uint_eq(offsetof(area_malloc_module_info, minfo), 0);
	ck_assert_uint_eq(offsetof(area_malloc_module_info, create_pool), sizeof(module_info));
	ck_assert_uint_eq(offsetof(area_malloc_module_info, delete_pool),
		offsetof(area_malloc_module_info, create_pool) + pointer);
	ck_assert_uint_eq(offsetof(area_malloc_module_info, malloc),
		offsetof(area_malloc_module_info, delete_pool) + pointer);
	ck_assert_uint_eq(offsetof(area_malloc_module_info, calloc),
		offsetof(area_malloc_module_info, malloc) + pointer);
	ck_assert_uint_eq(offsetof(area_malloc_module_info, realloc),
		offsetof(area_malloc_module_info, calloc) + pointer);
	ck_assert_uint_eq(offsetof(area_malloc_module_info, free),
		offsetof(area_malloc_module_info, realloc) + pointer);
	ck_assert_uint_eq(sizeof(area_malloc_module_info),
		offsetof(area_malloc_module_info, free) + pointer);

	ck_assert(HAS_TYPE(info->create_pool, const void *(*)(uint32, size_t, uint32, uint32)));
	ck_assert(HAS_TYPE(info->delete_pool, status_t(*)(const void *)));
	ck_assert(HAS_TYPE(info->malloc, void *(*)(const void *, size_t)));
	ck_assert(HAS_TYPE(info->calloc, void *(*)(const void *, size_t, size_t)));
	ck_assert(HAS_TYPE(info->realloc, void *(*)(const void *, void *, size_t)));
	/* free returns void * (always NULL), as the seed declares it. */
	ck_assert(HAS_TYPE(info->free, void *(*)(const void *, void *)));
	ck_assert(!HAS_TYPE(info->free, void (*)(const void *, void *)));

	ck_assert_uint_eq(offsetof(module_info, name), 0);
	ck_assert_uint_lt(offsetof(module_info, name), offsetof(module_info, flags));
	ck_assert_uint_lt(offsetof(module_info, flags), offsetof(module_info, std_ops));
	ck_assert(HAS_TYPE(((module_info *)NULL)->std_ops, status_t(*)(int32, ...)));
}
END_TEST

/* C and C++ must agree on every layout a driver and the module share. */
START_TEST(test_cxx_sees_the_same_layouts)
{
	struct header_layout cxx;

	cxx_header_layout(&cxx);
	ck_assert_uint_eq(cxx.module_info_size, sizeof(module_info));
	ck_assert_uint_eq(cxx.area_malloc_module_info_size, sizeof(area_malloc_module_info));
	ck_assert_uint_eq(cxx.free_offset, offsetof(area_malloc_module_info, free));
	ck_assert_uint_eq(cxx.create_pool_offset, offsetof(area_malloc_module_info, create_pool));
	ck_assert_uint_eq(cxx.area_info_size, sizeof(area_info));
	ck_assert_uint_eq(cxx.area_info_address_offset, offsetof(area_info, address));
	ck_assert_uint_eq(cxx.device_hooks_size, sizeof(device_hooks));
	ck_assert_int_eq(cxx.bad_value, B_BAD_VALUE);
	ck_assert_int_eq(cxx.device_op_codes_end, B_DEVICE_OP_CODES_END);
	ck_assert_int_eq(cxx.free_returns_pointer, 1);
}
END_TEST

/* Runs output(), and returns what it wrote to stderr. */
static char *capture_stderr(void (*output)(void))
{
	static char captured[256];
	int pipe_ends[2], saved;
	ssize_t length;

	ck_assert_int_eq(pipe(pipe_ends), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(pipe_ends[1], STDERR_FILENO), 0);
	output();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	close(pipe_ends[1]);
	length = read(pipe_ends[0], captured, sizeof(captured) - 1);
	close(pipe_ends[0]);
	ck_assert_int_ge(length, 0);
	captured[length] = '\0';
	return captured;
}

static void print_with_kernel_dprintf(void)
{
	/* glibc's dprintf(int, const char *, ...) would not compile here. */
	dprintf("x %d\n", 1);
}

START_TEST(test_dprintf_is_the_kernel_one)
{
	ck_assert_str_eq(capture_stderr(print_with_kernel_dprintf), "x 1\n");
}
END_TEST

START_TEST(test_dprintf_is_the_kernel_one_in_cxx)
{
	ck_assert_str_eq(capture_stderr(cxx_print_with_dprintf), "cxx 2\n");
}
END_TEST

START_TEST(test_get_area_info_macros_pass_the_struct_size)
{
	area_info info;
	ssize_t cookie = -1;

	/* The macros fill in sizeof(area_info); an id that cannot exist and an
	 * invalid cookie show they reach the functions with that size. */
	ck_assert_int_eq(get_area_info(-1, &info), _get_area_info(-1, &info, sizeof(info)));
	ck_assert_int_eq(get_next_area_info(0, &cookie, &info), B_BAD_VALUE);
}
END_TEST

static Suite *headers_suite(void)
{
	Suite *suite = suite_create("headers");
	TCase *types = tcase_create("types");
	TCase *constants = tcase_create("constants");
	TCase *layouts = tcase_create("layouts");
	TCase *dprintf_case = tcase_create("dprintf");

	tcase_add_test(types, test_type_widths);
	suite_add_tcase(suite, types);

	tcase_add_test(constants, test_error_bases);
	tcase_add_test(constants, test_error_codes);
	tcase_add_test(constants, test_area_constants);
	tcase_add_test(constants, test_module_and_debugger_constants);
	suite_add_tcase(suite, constants);

	tcase_add_test(layouts, test_area_malloc_module_info_layout);
	tcase_add_test(layouts, test_cxx_sees_the_same_layouts);
	tcase_add_test(layouts, test_get_area_info_macros_pass_the_struct_size);
	suite_add_tcase(suite, layouts);

	tcase_add_test(dprintf_case, test_dprintf_is_the_kernel_one);
	tcase_add_test(dprintf_case, test_dprintf_is_the_kernel_one_in_cxx);
	suite_add_tcase(suite, dprintf_case);
	return suite;
}

int main(void)
{
	return run_check_suite(headers_suite(), CK_FORK_GETENV);
}
