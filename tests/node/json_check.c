/*
 * json_check.c - strict recursive-descent JSON parser (see json_check.h).
 *
 * Invariants: the parser never reads past the terminating NUL; nesting is
 * limited (MAX_DEPTH) so hostile input cannot exhaust the stack; strings
 * must be valid UTF-8 and escapes well-formed.
 *
 * Locking: none.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"

#define MAX_DEPTH 64

struct parser {
	const char *at;
	const char *error;
	int depth;
};

static void skip_space(struct parser *p)
{
	while (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r')
		p->at++;
}

static struct json *fail(struct parser *p, const char *error, struct json *partial)
{
	if (p->error == NULL)
		p->error = error;
	json_free(partial);
	return NULL;
}

static struct json *new_value(enum json_type type)
{
	struct json *value = calloc(1, sizeof(*value));

	if (value != NULL)
		value->type = type;
	return value;
}

static bool append(struct json *container, struct json *item, char *key)
{
	struct json **items = realloc(container->items, (container->count + 1) * sizeof(*items));

	if (items == NULL)
		return false;
	container->items = items;
	if (container->type == JSON_OBJECT) {
		char **keys = realloc(container->keys, (container->count + 1) * sizeof(*keys));
		if (keys == NULL)
			return false;
		container->keys = keys;
		keys[container->count] = key;
	}
	items[container->count++] = item;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_hex4(struct parser *p, uint32_t *code)
{
	*code = 0;
	for (int i = 0; i < 4; i++) {
		int digit = hex_digit(p->at[i]);
		if (digit < 0)
			return false;
		*code = *code * 16 + (uint32_t)digit;
	}
	p->at += 4;
	return true;
}

static size_t put_utf8(char *out, uint32_t code)
{
	if (code < 0x80) {
		out[0] = (char)code;
		return 1;
	}
	if (code < 0x800) {
		out[0] = (char)(0xc0 | (code >> 6));
		out[1] = (char)(0x80 | (code & 0x3f));
		return 2;
	}
	if (code < 0x10000) {
		out[0] = (char)(0xe0 | (code >> 12));
		out[1] = (char)(0x80 | ((code >> 6) & 0x3f));
		out[2] = (char)(0x80 | (code & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (code >> 18));
	out[1] = (char)(0x80 | ((code >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((code >> 6) & 0x3f));
	out[3] = (char)(0x80 | (code & 0x3f));
	return 4;
}

/* Length of a valid UTF-8 sequence at s, 0 when invalid. */
static size_t utf8_length(const unsigned char *s)
{
	size_t length;
	uint32_t code;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		length = 2, code = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		length = 3, code = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		length = 4, code = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (s[i] & 0x3f);
	}
	if ((length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff)))
		|| (length == 4 && (code < 0x10000 || code > 0x10ffff)))
		return 0;
	return length;
}

static char *parse_string_text(struct parser *p)
{
	size_t capacity = 32, length = 0;
	char *text = malloc(capacity);

	if (text == NULL || *p->at != '"') {
		free(text);
		p->error = p->error ? p->error : "expected a string";
		return NULL;
	}
	p->at++;
	for (;;) {
		unsigned char c = (unsigned char)*p->at;
		char encoded[4];
		size_t encoded_length;
		if (length + 5 > capacity) {
			char *grown = realloc(text, capacity *= 2);
			if (grown == NULL)
				goto bad;
			text = grown;
		}
		if (c == '"') {
			p->at++;
			text[length] = '\0';
			return text;
		}
		if (c < 0x20) {
			p->error = "control character or end of text inside a string";
			goto bad;
		}
		if (c == '\\') {
			uint32_t code;
			p->at++;
			switch (*p->at) {
			case '"':
			case '\\':
			case '/':
				text[length++] = *p->at++;
				continue;
			case 'b':
				text[length++] = '\b';
				p->at++;
				continue;
			case 'f':
				text[length++] = '\f';
				p->at++;
				continue;
			case 'n':
				text[length++] = '\n';
				p->at++;
				continue;
			case 'r':
				text[length++] = '\r';
				p->at++;
				continue;
			case 't':
				text[length++] = '\t';
				p->at++;
				continue;
			case 'u':
				p->at++;
				if (!read_hex4(p, &code)) {
					p->error = "bad \\u escape";
					goto bad;
				}
				if (code >= 0xd800 && code <= 0xdbff) {
					uint32_t low;
					if (p->at[0] != '\\' || p->at[1] != 'u') {
						p->error = "lone surrogate";
						goto bad;
					}
					p->at += 2;
					if (!read_hex4(p, &low) || low < 0xdc00 || low > 0xdfff) {
						p->error = "bad surrogate pair";
						goto bad;
					}
					code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
				} else if (code >= 0xdc00 && code <= 0xdfff) {
					p->error = "lone surrogate";
					goto bad;
				}
				encoded_length = put_utf8(encoded, code);
				memcpy(text + length, encoded, encoded_length);
				length += encoded_length;
				continue;
			default:
				p->error = "bad escape";
				goto bad;
			}
		}
		encoded_length = utf8_length((const unsigned char *)p->at);
		if (encoded_length == 0) {
			p->error = "invalid UTF-8 in a string";
			goto bad;
		}
		memcpy(text + length, p->at, encoded_length);
		length += encoded_length;
		p->at += encoded_length;
	}
bad:
	free(text);
	return NULL;
}

static struct json *parse_value(struct parser *p);

static struct json *parse_number(struct parser *p)
{
	const char *start = p->at;
	struct json *value;
	char *end;

	if (*p->at == '-')
		p->at++;
	if (*p->at == '0')
		p->at++;
	else if (*p->at >= '1' && *p->at <= '9')
		while (*p->at >= '0' && *p->at <= '9')
			p->at++;
	else
		return fail(p, "bad number", NULL);
	if (*p->at == '.') {
		p->at++;
		if (*p->at < '0' || *p->at > '9')
			return fail(p, "bad fraction", NULL);
		while (*p->at >= '0' && *p->at <= '9')
			p->at++;
	}
	if (*p->at == 'e' || *p->at == 'E') {
		p->at++;
		if (*p->at == '+' || *p->at == '-')
			p->at++;
		if (*p->at < '0' || *p->at > '9')
			return fail(p, "bad exponent", NULL);
		while (*p->at >= '0' && *p->at <= '9')
			p->at++;
	}
	value = new_value(JSON_NUMBER);
	if (value == NULL)
		return fail(p, "out of memory", NULL);
	value->number = strtod(start, &end);
	return value;
}

static struct json *parse_container(struct parser *p, bool object)
{
	struct json *container = new_value(object ? JSON_OBJECT : JSON_ARRAY);
	char close = object ? '}' : ']';

	if (container == NULL)
		return fail(p, "out of memory", NULL);
	if (++p->depth > MAX_DEPTH)
		return fail(p, "nested too deep", container);
	p->at++;
	skip_space(p);
	if (*p->at == close) {
		p->at++;
		p->depth--;
		return container;
	}
	for (;;) {
		char *key = NULL;
		struct json *item;
		skip_space(p);
		if (object) {
			key = parse_string_text(p);
			if (key == NULL)
				return fail(p, "expected a key", container);
			skip_space(p);
			if (*p->at != ':') {
				free(key);
				return fail(p, "expected ':'", container);
			}
			p->at++;
		}
		item = parse_value(p);
		if (item == NULL || !append(container, item, key)) {
			free(key);
			json_free(item);
			return fail(p, "bad member", container);
		}
		skip_space(p);
		if (*p->at == ',') {
			p->at++;
			continue;
		}
		if (*p->at == close) {
			p->at++;
			p->depth--;
			return container;
		}
		return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'", container);
	}
}

static struct json *parse_value(struct parser *p)
{
	struct json *value;

	skip_space(p);
	switch (*p->at) {
	case '{':
		return parse_container(p, true);
	case '[':
		return parse_container(p, false);
	case '"': {
		char *text = parse_string_text(p);
		if (text == NULL)
			return fail(p, "bad string", NULL);
		value = new_value(JSON_STRING);
		if (value == NULL) {
			free(text);
			return fail(p, "out of memory", NULL);
		}
		value->string = text;
		return value;
	}
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		for (int i = 0; i < 3; i++) {
			size_t length = strlen(words[i]);
			if (strncmp(p->at, words[i], length) == 0) {
				p->at += length;
				value = new_value(i == 2 ? JSON_NULL : JSON_BOOL);
				if (value == NULL)
					return fail(p, "out of memory", NULL);
				value->boolean = i == 0;
				return value;
			}
		}
		return fail(p, "bad literal", NULL);
	}
	default:
		return parse_number(p);
	}
}

struct json *json_parse(const char *text, const char **error)
{
	struct parser p = { text, NULL, 0 };
	struct json *value = parse_value(&p);

	if (value != NULL) {
		skip_space(&p);
		if (*p.at != '\0')
			value = fail(&p, "text after the value", value);
	}
	if (value == NULL && error != NULL)
		*error = p.error != NULL ? p.error : "invalid";
	return value;
}

void json_free(struct json *value)
{
	if (value == NULL)
		return;
	for (size_t i = 0; i < value->count; i++) {
		json_free(value->items[i]);
		if (value->keys != NULL)
			free(value->keys[i]);
	}
	free(value->items);
	free(value->keys);
	free(value->string);
	free(value);
}

const struct json *json_get(const struct json *object, const char *key)
{
	if (object == NULL || object->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < object->count; i++) {
		if (strcmp(object->keys[i], key) == 0)
			return object->items[i];
	}
	return NULL;
}
