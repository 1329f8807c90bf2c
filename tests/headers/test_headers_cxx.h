/*
 * test_headers_cxx.h - what the C++ translation unit of the headers test
 * (test_headers_cxx.cpp) reports to the C one (test_headers.c), so that the
 * C and C++ views of each shared structure can be compared.
 *
 * Locking: none; plain functions without state.
 */
#ifndef AREA_MALLOC_TEST_HEADERS_CXX_H
#define AREA_MALLOC_TEST_HEADERS_CXX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct header_layout {
	size_t module_info_size;
	size_t area_malloc_module_info_size;
	size_t create_pool_offset;
	size_t free_offset;
	size_t area_info_size;
	size_t area_info_address_offset;
	size_t device_hooks_size;
	int bad_value;
	int device_op_codes_end;
	int free_returns_pointer;
};

/* Fills layout with what C++ sees. */
void cxx_header_layout(struct header_layout *layout);

/* Calls dprintf("cxx %d\n", 2) from C++, after <cstdio>. */
void cxx_print_with_dprintf(void);

#ifdef __cplusplus
}
#endif

#endif /* AREA_MALLOC_TEST_HEADERS_CXX_H */
