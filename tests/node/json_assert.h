/*
 * json_assert.h - json_check.h for Check tests: a document that must parse,
 * members that must be there with the right type, each a test failure
 * naming what was missing otherwise. Header-only, so that json_check.c
 * stays free of Check (the fuzz targets link it too).
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_TESTS_NODE_JSON_ASSERT_H
#define AREA_MALLOC_TESTS_NODE_JSON_ASSERT_H

#include <check.h>

#include "json_check.h"

/* The one JSON value text holds (the caller frees it). */
static inline struct json *json_parse_asserted(const char *text)
{
	const char *error = NULL;
	struct json *value = json_parse(text, &error);

	ck_assert_msg(value != NULL, "invalid JSON (%s): %.2000s", error, text);
	return value;
}

/* The member key of object, of type type. */
static inline const struct json *json_member(const struct json *object, const char *key,
	enum json_type type)
{
	const struct json *value = json_get(object, key);

	ck_assert_msg(value != NULL && value->type == type, "no member '%s' of JSON type %d", key,
		(int)type);
	return value;
}

#endif /* AREA_MALLOC_TESTS_NODE_JSON_ASSERT_H */
