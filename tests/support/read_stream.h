/*
 * read_stream.h - the whole content of a test's captured output file.
 *
 * Tests that run pooldump or a driver with its output sent to a temporary
 * file read it back whole; a short read is a failed test, never a silently
 * shorter text.
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_READ_STREAM_H
#define AREA_MALLOC_TESTS_SUPPORT_READ_STREAM_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads file from its start to its end, closes it and returns the text
 * (NUL-terminated, free() it). */
static inline char *read_stream(FILE *file)
{
	long size;
	char *text;

	fseek(file, 0, SEEK_END);
	size = ftell(file);
	rewind(file);
	text = calloc(1, (size_t)size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)size, file), (size_t)size);
	fclose(file);
	return text;
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_READ_STREAM_H */
