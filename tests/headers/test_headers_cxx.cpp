/*
 * test_headers_cxx.cpp - every public header compiled as C++17 with
 * -Wall -Wextra -Werror -pedantic (see local.mk). The static_asserts are
 * the test: a header that changes a value or a type in C++ stops the build.
 * What C++ sees at run time is handed to test_headers.c for comparison.
 *
 * Locking: none; plain functions without state.
 */
#include "config.h"

#include <KernelExport.h>
#include <cstdio>

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

#include <climits>
#include <cstddef>
#include <type_traits>

#include "test_headers_cxx.h"

static_assert(sizeof(status_t) == 4, "status_t is 32 bits");
static_assert(std::is_signed<status_t>::value, "status_t is signed");
static_assert(sizeof(int64) == 8 && sizeof(uint64) == 8, "64-bit types");
static_assert(sizeof(int32) == 4 && std::is_unsigned<uint32>::value, "32-bit types");
static_assert(sizeof(addr_t) == sizeof(void *), "addr_t holds a pointer");
static_assert(B_GENERAL_ERROR_BASE == INT_MIN, "error base");
static_assert(B_NO_MEMORY == INT_MIN, "B_NO_MEMORY");
static_assert(B_BAD_VALUE == INT_MIN + 5, "B_BAD_VALUE");
static_assert(B_BAD_ADDRESS == INT_MIN + 0x1301, "B_BAD_ADDRESS");
static_assert(B_ENTRY_NOT_FOUND == INT_MIN + 0x6003, "B_ENTRY_NOT_FOUND");
static_assert(B_DEV_INVALID_IOCTL == INT_MIN + 0xa000, "B_DEV_INVALID_IOCTL");
static_assert(B_OK == 0 && B_ERROR == -1, "B_OK, B_ERROR");
static_assert(B_ANY_KERNEL_BLOCK_ADDRESS == 5, "block address spec");
static_assert(B_32_BIT_CONTIGUOUS == 6, "last lock spec");
static_assert(B_KERNEL_STACK_AREA == 128 && B_CLONEABLE_AREA == 256, "protection bits");
static_assert(B_MODULE_INIT == 1 && B_MODULE_UNINIT == 2 && B_KEEP_LOADED == 1, "module");
static_assert(B_KDEBUG_CONT == 2 && B_KDEBUG_QUIT == 3, "debugger");
static_assert(B_DEVICE_OP_CODES_END == 9999, "device op codes");

static_assert(offsetof(area_malloc_module_info, minfo) == 0, "minfo first");
static_assert(offsetof(area_malloc_module_info, create_pool) <
			      offsetof(area_malloc_module_info, delete_pool) &&
		      offsetof(area_malloc_module_info, delete_pool) <
			      offsetof(area_malloc_module_info, malloc) &&
		      offsetof(area_malloc_module_info, malloc) <
			      offsetof(area_malloc_module_info, calloc) &&
		      offsetof(area_malloc_module_info, calloc) <
			      offsetof(area_malloc_module_info, realloc) &&
		      offsetof(area_malloc_module_info, realloc) <
			      offsetof(area_malloc_module_info, free),
	"R5 field order");
static_assert(std::is_same<decltype(area_malloc_module_info::free),
		      void *(*)(const void *, void *)>::value,
	"free returns void *");
static_assert(std::is_same<decltype(area_malloc_module_info::create_pool),
		      const void *(*)(uint32, size_t, uint32, uint32)>::value,
	"create_pool");

void cxx_header_layout(struct header_layout *layout)
{
	layout->module_info_size = sizeof(module_info);
	layout->area_malloc_module_info_size = sizeof(area_malloc_module_info);
	layout->create_pool_offset = offsetof(area_malloc_module_info, create_pool);
	layout->free_offset = offsetof(area_malloc_module_info, free);
	layout->area_info_size = sizeof(area_info);
	layout->area_info_address_offset = offsetof(area_info, address);
	layout->device_hooks_size = sizeof(device_hooks);
	layout->bad_value = B_BAD_VALUE;
	layout->device_op_codes_end = B_DEVICE_OP_CODES_END;
	layout->free_returns_pointer =
		std::is_same<std::invoke_result<decltype(area_malloc_module_info::free),
				     const void *, void *>::type,
			void *>::value;
}

void cxx_print_with_dprintf(void)
{
	dprintf("cxx %d\n", 2);
}
