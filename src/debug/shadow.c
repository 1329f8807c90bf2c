/*
 * shadow.c - the sanitizer and Valgrind interface of the debug build (see
 * shadow.h).
 *
 * The ASan and LSan entry points are weak references: in a process without
 * the ASan runtime they stay NULL and nothing is called. ASan poisons in
 * 8-byte granules: exposing [p, p + n) with n not a multiple of 8 leaves the
 * rest of the last granule poisoned, which is what catches a 1-byte
 * overflow at the faulting access.
 *
 * Locking: none (the detection results are written once at init).
 */
#include "config.h"

#include <stdint.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif

#include "kernel/sanitizers.h"
#include "debug/shadow.h"

extern void __asan_poison_memory_region(void const volatile *address, size_t size)
	__attribute__((weak));
extern void __asan_unpoison_memory_region(void const volatile *address, size_t size)
	__attribute__((weak));
extern void __lsan_register_root_region(const void *address, size_t size) __attribute__((weak));
extern void __lsan_unregister_root_region(const void *address, size_t size) __attribute__((weak));

bool shadow_active;
static bool asan_active;
static bool valgrind_active;

void shadow_init(void)
{
	asan_active = __asan_poison_memory_region != NULL && __asan_unpoison_memory_region != NULL;
#ifdef HAVE_VALGRIND_MEMCHECK_H
	valgrind_active = RUNNING_ON_VALGRIND != 0;
#endif
	shadow_active = asan_active || valgrind_active;
}

bool shadow_hides_free_space(void)
{
#ifdef AREA_MALLOC_BUILT_WITH_ASAN
	return false; /* this module's own heap code is checked: it must reach free memory */
#else
	return asan_active;
#endif
}

void shadow_hide(const void *address, size_t length)
{
	if (length == 0)
		return;
	if (asan_active)
		__asan_poison_memory_region(address, length);
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (valgrind_active)
		(void)VALGRIND_MAKE_MEM_NOACCESS(address, length);
#endif
}

void shadow_expose(const void *address, size_t length)
{
	if (length == 0)
		return;
	if (asan_active)
		__asan_unpoison_memory_region(address, length);
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (valgrind_active)
		(void)VALGRIND_MAKE_MEM_DEFINED(address, length);
#endif
}

void shadow_block_allocated(const void *user, size_t size)
{
	(void)user;
	(void)size;
#ifdef HAVE_VALGRIND_MEMCHECK_H
	/* contents are defined: the module filled them (0xcc, or zeros) */
	if (valgrind_active)
		VALGRIND_MALLOCLIKE_BLOCK(user, size, 0, 1);
#endif
}

void shadow_block_resized(const void *user, size_t old_size, size_t new_size)
{
	(void)user;
	(void)old_size;
	(void)new_size;
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (valgrind_active)
		VALGRIND_RESIZEINPLACE_BLOCK(user, old_size, new_size, 0);
#endif
}

void shadow_block_freed(const void *user)
{
	(void)user;
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (valgrind_active)
		VALGRIND_FREELIKE_BLOCK(user, 0);
#endif
}

#define ROOT_REGION_STEP ((size_t)1 << 20)

size_t shadow_pool_reach(const void *base, size_t registered, size_t used, size_t limit)
{
	size_t wanted;

	if (__lsan_register_root_region == NULL || used <= registered)
		return registered;
	/* in steps, so that the region is not re-registered at every allocation */
	wanted = (used + ROOT_REGION_STEP - 1) & ~(ROOT_REGION_STEP - 1);
	if (wanted > limit)
		wanted = limit;
	if (registered != 0)
		__lsan_unregister_root_region(base, registered);
	__lsan_register_root_region(base, wanted);
	return wanted;
}

void shadow_pool_destroyed(const void *base, size_t registered, size_t touched)
{
	if (registered != 0 && __lsan_unregister_root_region != NULL)
		__lsan_unregister_root_region(base, registered);
	/* the area is unmapped: leave no poisoned shadow behind for a new mapping */
	if (asan_active)
		__asan_unpoison_memory_region(base, touched);
}

/* A byte copy the address sanitizer does not check (the module's own look
 * at memory it keeps hidden from the driver). */
__attribute__((no_sanitize("address"), noinline)) static void copy_unchecked(unsigned char *out,
	const volatile unsigned char *from, size_t length)
{
	for (size_t i = 0; i < length; i++)
		out[i] = from[i];
}

void shadow_peek(const void *address, void *out, size_t length)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (valgrind_active)
		VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(address, length);
#endif
	copy_unchecked(out, address, length);
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (valgrind_active) {
		VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(address, length);
		/* what was read counts as defined for the module's decisions */
		(void)VALGRIND_MAKE_MEM_DEFINED(out, length);
	}
#endif
}
