/*
 * json_check.h - a small, strict JSON parser for the node tests: it accepts
 * exactly one RFC 8259 value (surrounded by whitespace) and builds a tree
 * the tests query, so pooldump's --json documents are both validated and
 * checked field by field.
 *
 * Locking: none; trees belong to their caller.
 */
#ifndef AREA_MALLOC_TESTS_NODE_JSON_CHECK_H
#define AREA_MALLOC_TESTS_NODE_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	double number;
	char *string;        /* JSON_STRING, decoded (UTF-8) */
	struct json **items; /* JSON_ARRAY and JSON_OBJECT values */
	char **keys;         /* JSON_OBJECT */
	size_t count;
};

/* NULL with *error set (static text) when text is not one valid JSON value. */
struct json *json_parse(const char *text, const char **error);
void json_free(struct json *value);

/* The member of an object (NULL when absent or not an object). */
const struct json *json_get(const struct json *object, const char *key);

#endif /* AREA_MALLOC_TESTS_NODE_JSON_CHECK_H */
