/*
 * frameless_driver.c - the functions of frameless_driver.h, compiled with
 * -O2 -fomit-frame-pointer (tests/guard/local.mk): none keeps a frame
 * pointer, so a frame-pointer walk from the memset or memcpy that faults
 * skips all three. Each records where its call lies, for the test to find
 * the return addresses in the reported stack.
 *
 * Locking: none.
 */
#include <string.h>

#include "guard/frameless_driver.h"

#define NOINLINE __attribute__((noinline, noipa))
/* keeps a call from being a tail call (which would drop the frame) */
#define AFTER_CALL(value) __asm__ volatile("" : : "r"(value) : "memory")

NOINLINE static uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

NOINLINE static void inner_clear(struct frameless_sites *sites, char *to, size_t length)
{
	sites->level[0].before = here();
	memset(to, 0, length);
	sites->level[0].after = here();
	AFTER_CALL(to);
}

NOINLINE static void inner_copy(struct frameless_sites *sites, char *to, const char *from,
	size_t length)
{
	sites->level[0].before = here();
	memcpy(to, from, length);
	sites->level[0].after = here();
	AFTER_CALL(to);
}

NOINLINE static void middle_clear(struct frameless_sites *sites, char *to, size_t length)
{
	sites->level[1].before = here();
	inner_clear(sites, to, length);
	sites->level[1].after = here();
	AFTER_CALL(to);
}

NOINLINE static void middle_copy(struct frameless_sites *sites, char *to, const char *from,
	size_t length)
{
	sites->level[1].before = here();
	inner_copy(sites, to, from, length);
	sites->level[1].after = here();
	AFTER_CALL(to);
}

NOINLINE void frameless_outer_clear(struct frameless_sites *sites, char *to, const char *from,
	size_t length)
{
	(void)from;
	sites->level[2].before = here();
	middle_clear(sites, to, length);
	sites->level[2].after = here();
	AFTER_CALL(to);
}

NOINLINE void frameless_outer_copy(struct frameless_sites *sites, char *to, const char *from,
	size_t length)
{
	sites->level[2].before = here();
	middle_copy(sites, to, from, length);
	sites->level[2].after = here();
	AFTER_CALL(to);
}
