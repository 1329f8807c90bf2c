/*
 * frameless_driver.h - a driver built as Debian builds drivers (-O2, no
 * frame pointers), for test_guard_stacks: three levels of calls whose
 * innermost writes past a block through memset or memcpy.
 *
 * Locking: none; one thread calls it and reads its sites.
 */
#ifndef AREA_MALLOC_TESTS_GUARD_FRAMELESS_DRIVER_H
#define AREA_MALLOC_TESTS_GUARD_FRAMELESS_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* A call inside one of the driver's functions: the return address of that
 * call lies strictly between before and after. */
struct frameless_site {
	uintptr_t before, after;
};

/* [0] the call of memset/memcpy in the innermost function, [1] the call of
 * the innermost in the middle one, [2] the call of the middle one in the
 * outermost. */
struct frameless_sites {
	struct frameless_site level[3];
};

/* length bytes of zeros (clear: from is not read) or of from (copy)
 * written at to, three calls deep. */
typedef void frameless_entry(struct frameless_sites *sites, char *to, const char *from,
	size_t length);
frameless_entry frameless_outer_clear, frameless_outer_copy;

#endif /* AREA_MALLOC_TESTS_GUARD_FRAMELESS_DRIVER_H */
