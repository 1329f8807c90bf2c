/*
 * area_malloc.h - the generic/area_malloc/v1 module: malloc, calloc, realloc
 * and free that carve memory out of a pool (an area) instead of the heap.
 *
 * Field order is BeOS R5's. free() returns void * (always NULL), as the
 * module's documentation declares it; callers that ignore the result, as
 * R5's void declaration made them, keep working. See area_malloc(3).
 */
#ifndef _AREA_MALLOC_AREA_MALLOC_H
#define _AREA_MALLOC_AREA_MALLOC_H

#include <module.h>

#ifdef __cplusplus
extern "C" {
#endif

#define B_AREA_MALLOC_MODULE_NAME "generic/area_malloc/v1"

typedef struct area_malloc_module_info {
	module_info minfo;

	const void *(*create_pool)(uint32 address_spec, size_t size, uint32 lock_spec,
		uint32 protection);
	status_t (*delete_pool)(const void *pool_id);

	void *(*malloc)(const void *pool_id, size_t size);
	void *(*calloc)(const void *pool_id, size_t nmemb, size_t size);
	void *(*realloc)(const void *pool_id, void *ptr, size_t size);
	void *(*free)(const void *pool_id, void *ptr);
} area_malloc_module_info;

#ifdef __cplusplus
}
#endif

#endif /* _AREA_MALLOC_AREA_MALLOC_H */
