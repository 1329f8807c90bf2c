/*
 * leak_sites.c - an allocation site in a source file of its own, so that a
 * suppression by file name (leak:leak_sites.c) matches it and nothing in
 * test_debug_api.c. Built with -g: the module reads the file from DWARF.
 *
 * Locking: none; it only calls the module, which locks its pools itself.
 */
#include "config.h"

#include "leak_sites.h"

/* noipa and the barrier keep the call a real call from this file (no
 * inlining into the caller, no tail call), so the caller the module records
 * is here. */
__attribute__((noipa)) void *allocate_in_leak_sites_file(const area_malloc_module_info *module,
	const void *pool, size_t size)
{
	void *block = module->malloc(pool, size);

	__asm__ volatile("" ::: "memory");
	return block;
}
