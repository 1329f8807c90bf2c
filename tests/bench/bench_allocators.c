/*
 * bench_allocators.c - the allocators a child can measure, behind one
 * interface (struct bench_allocator).
 *
 * - glibc: the C library's malloc and free.
 * - jemalloc, mimalloc: Debian's shared libraries loaded with dlopen and
 *   RTLD_LOCAL, so that their malloc does not replace glibc's for the
 *   process and both run side by side. jemalloc's image has no prefixed
 *   entry points (nm -D shows malloc and free) and asks for initial-exec
 *   TLS, so the parent starts its child with
 *   GLIBC_TUNABLES=glibc.rtld.optional_static_tls to leave room for it;
 *   mimalloc exports mi_malloc and mi_free.
 * - module: generic/area_malloc/v1 through get_module, found along
 *   KERNEL_MODULE_PATH (release or debug build; the debug build reads
 *   AREA_MALLOC_OPTIONS at that first get_module). Its functions are the
 *   allocator's own: a workload calls them exactly as a driver does.
 *
 * Locking: opened once per child, before any workload thread starts.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drivers/area_malloc.h>

#include "bench.h"

static void *glibc_allocate(const void *pool, size_t size)
{
	(void)pool;
	return malloc(size);
}

static void *glibc_release(const void *pool, void *block)
{
	(void)pool;
	free(block);
	return NULL;
}

static const struct bench_allocator glibc_allocator = {
	.name = "glibc",
	.allocate = glibc_allocate,
	.release = glibc_release,
};

const struct bench_allocator *bench_glibc(void)
{
	return &glibc_allocator;
}

/* The entry points of the dlopened allocator (one per child). */
static void *(*library_malloc)(size_t size);
static void (*library_free)(void *block);
static void *library_handle;

static void *library_allocate(const void *pool, size_t size)
{
	(void)pool;
	return library_malloc(size);
}

static void *library_release(const void *pool, void *block)
{
	(void)pool;
	library_free(block);
	return NULL;
}

static bool open_library(const char *name, const char *soname, const char *malloc_name,
	const char *free_name, struct bench_allocator *allocator)
{
	library_handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (library_handle == NULL) {
		fprintf(stderr, "bench: %s unavailable: %s\n", name, dlerror());
		return false;
	}
	library_malloc = (void *(*)(size_t))dlsym(library_handle, malloc_name);
	library_free = (void (*)(void *))dlsym(library_handle, free_name);
	if (library_malloc == NULL || library_free == NULL) {
		fprintf(stderr, "bench: %s: %s or %s not exported\n", soname, malloc_name,
			free_name);
		return false;
	}
	*allocator = (struct bench_allocator){
		.name = name,
		.allocate = library_allocate,
		.release = library_release,
	};
	return true;
}

static area_malloc_module_info *module;

static bool open_module(struct bench_allocator *allocator)
{
	status_t status = get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&module);

	if (status != B_OK) {
		fprintf(stderr,
			"bench: get_module(%s) along KERNEL_MODULE_PATH=%s failed "
			"(status %d)\n",
			B_AREA_MALLOC_MODULE_NAME, getenv("KERNEL_MODULE_PATH") ?: "(unset)",
			(int)status);
		return false;
	}
	*allocator = (struct bench_allocator){
		.name = "module",
		.allocate = module->malloc,
		.release = module->free,
		.create_pool = module->create_pool,
		.delete_pool = module->delete_pool,
	};
	return true;
}

bool bench_kind_from_name(const char *name, enum bench_allocator_kind *kind)
{
	static const struct {
		const char *name;
		enum bench_allocator_kind kind;
	} kinds[] = {
		{ "glibc", BENCH_GLIBC },
		{ "jemalloc", BENCH_JEMALLOC },
		{ "mimalloc", BENCH_MIMALLOC },
		{ "module", BENCH_MODULE },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(name, kinds[i].name) == 0) {
			*kind = kinds[i].kind;
			return true;
		}
	}
	return false;
}

bool bench_allocator_open(enum bench_allocator_kind kind, struct bench_allocator *allocator)
{
	switch (kind) {
	case BENCH_GLIBC:
		*allocator = glibc_allocator;
		return true;
	case BENCH_JEMALLOC:
		return open_library("jemalloc", "libjemalloc.so.2", "malloc", "free", allocator);
	case BENCH_MIMALLOC:
		return open_library("mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free",
			allocator);
	case BENCH_MODULE:
		return open_module(allocator);
	}
	return false;
}

void bench_allocator_close(enum bench_allocator_kind kind)
{
	if (kind == BENCH_MODULE && module != NULL) {
		put_module(B_AREA_MALLOC_MODULE_NAME);
		module = NULL;
	}
	/* dlopened allocators stay: blocks of theirs may still be cached in TLS */
}

const void *bench_pool_open(const struct bench_allocator *allocator, size_t size)
{
	const void *pool;

	if (allocator->create_pool == NULL)
		return NULL;
	pool = allocator->create_pool(B_ANY_ADDRESS, size, B_NO_LOCK, B_READ_AREA | B_WRITE_AREA);
	if (pool == NULL) {
		fprintf(stderr, "bench: create_pool(%zu bytes) failed\n", size);
		exit(EXIT_FAILURE);
	}
	return pool;
}

void bench_pool_close(const struct bench_allocator *allocator, const void *pool)
{
	if (allocator->delete_pool != NULL && allocator->delete_pool(pool) != B_OK) {
		fprintf(stderr, "bench: delete_pool(%p) failed\n", pool);
		exit(EXIT_FAILURE);
	}
}
