/*
 * damage_pattern.h - the bytes a test writes to damage a pool: the heap's
 * damage sweep (tests/heap/test_heap_damage.c) and the debug build's
 * corruption matrix (tests/corruption/matrix.c) write the same four.
 *
 * They are the ones a driver's overflow really writes: zeros (a memset, a
 * zeroed struct), 0xff (memset -1, all-ones masks), a pointer-like value (a
 * pointer field written past the end, 8 bytes at a time), and a copy of
 * something sound from elsewhere in the pool (a chunk header, a block's
 * front), which a check that only looks for the implausible lets through.
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_DAMAGE_PATTERN_H
#define AREA_MALLOC_TESTS_SUPPORT_DAMAGE_PATTERN_H

#include <stddef.h>
#include <stdint.h>

enum damage_pattern {
	PATTERN_ZEROS,
	PATTERN_ONES,
	PATTERN_POINTER, /* an address, little-endian, 8 bytes at a time */
	PATTERN_COPY,    /* sound bytes copied from elsewhere, repeated */
	PATTERNS
};

/* Byte index of a run written in pattern; pointer: PATTERN_POINTER's
 * value; copy, copy_size: PATTERN_COPY's bytes. */
static inline unsigned char damage_pattern_byte(enum damage_pattern pattern, size_t index,
	uintptr_t pointer, const unsigned char *copy, size_t copy_size)
{
	switch (pattern) {
	case PATTERN_ZEROS:
		return 0;
	case PATTERN_ONES:
		return 0xff;
	case PATTERN_POINTER:
		return (unsigned char)(pointer >> (8 * (index % 8)));
	default:
		return copy[index % copy_size];
	}
}

#endif
