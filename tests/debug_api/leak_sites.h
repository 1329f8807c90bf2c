/*
 * leak_sites.h - an allocation site in a source file of its own (see
 * leak_sites.c).
 */
#ifndef AREA_MALLOC_TESTS_DEBUG_API_LEAK_SITES_H
#define AREA_MALLOC_TESTS_DEBUG_API_LEAK_SITES_H

#include <stddef.h>

#include <drivers/area_malloc.h>

/* module->malloc(pool, size), called from leak_sites.c. */
void *allocate_in_leak_sites_file(const area_malloc_module_info *module, const void *pool,
	size_t size);

#endif /* AREA_MALLOC_TESTS_DEBUG_API_LEAK_SITES_H */
