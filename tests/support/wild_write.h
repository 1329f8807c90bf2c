/*
 * wild_write.h - the bug a test driver makes on purpose: bytes written
 * where the driver has no right to write (past a block's end), out of
 * AddressSanitizer's sight, which would stop the driver first: the debug
 * module's canaries are what such a test is about.
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_WILD_WRITE_H
#define AREA_MALLOC_TESTS_SUPPORT_WILD_WRITE_H

#include <stddef.h>

__attribute__((no_sanitize("address"), noinline, unused)) static void wild_write(void *at,
	unsigned char value, size_t count)
{
	volatile unsigned char *bytes = at;

	for (size_t i = 0; i < count; i++)
		bytes[i] = value;
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_WILD_WRITE_H */
