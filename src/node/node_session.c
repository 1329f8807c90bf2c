/*
 * node_session.c - the output and the session of a pool command, and the
 * pieces every command uses (node_commands_internal.h).
 *
 * Role
 *   Output goes through the context's printer in chunks of whole lines
 *   (OUTPUT_FLUSH_BYTES); text from node files (command lines, pool names,
 *   the image paths in symbols) is escaped for the terminal and for JSON,
 *   where it is also made valid UTF-8, since a hostile node may hold any
 *   byte. A session opens the node, collects errors, ranks the status and
 *   ends the document; for_each_pool loads the pools one at a time (the
 *   only moment a pool's lock may be held), so memory stays bounded by the
 *   largest pool.
 *
 * Invariants: in JSON mode every outcome, failures included, is exactly one
 * document on the output printer (session_finish or session_fail ends it);
 * errors and warnings go to the error printer in text mode only, one
 * terminal-safe line each.
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/options.h"
#include "format/utf8.h"
#include "node/node_commands_internal.h"

#define OUTPUT_FLUSH_BYTES 65536

/* ---- output ---- */

static void output_flush(struct output *out)
{
	if (out->length == 0)
		return;
	out->buffer[out->length] = '\0';
	out->context->print(out->context->print_cookie, out->buffer);
	out->length = 0;
}

static bool output_reserve(struct output *out, size_t more)
{
	char *grown;
	size_t capacity;

	if (out->length + more + 1 <= out->capacity)
		return true;
	output_flush(out);
	if (more + 1 <= out->capacity)
		return true;
	capacity = more + 1 + OUTPUT_FLUSH_BYTES;
	grown = realloc(out->buffer, capacity);
	if (grown == NULL)
		return false;
	out->buffer = grown;
	out->capacity = capacity;
	return true;
}

void put(struct output *out, const char *text, size_t length)
{
	if (!output_reserve(out, length))
		return;
	memcpy(out->buffer + out->length, text, length);
	out->length += length;
	if (out->length >= OUTPUT_FLUSH_BYTES)
		output_flush(out);
}

void put_str(struct output *out, const char *text)
{
	put(out, text, strlen(text));
}

void emit(struct output *out, const char *format, ...)
{
	va_list arguments;
	char line[512];
	int length;

	va_start(arguments, format);
	length = vsnprintf(line, sizeof(line), format, arguments);
	va_end(arguments);
	if (length < 0)
		return;
	if ((size_t)length < sizeof(line)) {
		put(out, line, (size_t)length);
		return;
	}
	if (!output_reserve(out, (size_t)length))
		return;
	va_start(arguments, format);
	vsnprintf(out->buffer + out->length, (size_t)length + 1, format, arguments);
	va_end(arguments);
	out->length += (size_t)length;
	if (out->length >= OUTPUT_FLUSH_BYTES)
		output_flush(out);
}

/* ---- held output ---- */

static void hold_text(void *cookie, const char *text)
{
	struct held_output *held = cookie;
	size_t length = strlen(text);
	char *grown;

	if (held->failed)
		return;
	if (held->length + length + 1 > held->capacity) {
		size_t capacity = (held->length + length + 1) * 2;
		grown = realloc(held->text, capacity);
		if (grown == NULL) {
			held->failed = true; /* the part is cut short, never the document */
			return;
		}
		held->text = grown;
		held->capacity = capacity;
	}
	memcpy(held->text + held->length, text, length + 1);
	held->length += length;
}

bool held_output_start(struct held_output *held, const struct session *session)
{
	memset(held, 0, sizeof(*held));
	held->context = *session->context;
	held->context.print = hold_text;
	held->context.print_cookie = held;
	held->out.context = &held->context;
	held->out.capacity = OUTPUT_FLUSH_BYTES;
	held->out.buffer = malloc(held->out.capacity);
	return held->out.buffer != NULL;
}

void held_output_move(struct held_output *held, struct output *into)
{
	output_flush(&held->out);
	if (held->length > 0)
		put(into, held->text, held->length);
	held->length = 0;
}

void held_output_end(struct held_output *held)
{
	free(held->out.buffer);
	free(held->text);
}

/* Terminal-safe text: control characters become '?'. */
void put_text(struct output *out, const char *text)
{
	for (const unsigned char *c = (const unsigned char *)text; *c != '\0';) {
		size_t run = 0;
		while (c[run] != '\0' && c[run] >= 0x20 && c[run] != 0x7f)
			run++;
		put(out, (const char *)c, run);
		c += run;
		if (*c != '\0') {
			put_str(out, "?");
			c++;
		}
	}
}

/* A JSON string: escaped, and valid UTF-8 whatever the file held. */
void put_json_string(struct output *out, const char *text)
{
	const unsigned char *c = (const unsigned char *)text;

	put_str(out, "\"");
	while (*c != '\0') {
		size_t length = utf8_sequence(c);
		if (*c == '"' || *c == '\\') {
			char escaped[2] = { '\\', (char)*c };
			put(out, escaped, 2);
			c++;
		} else if (*c < 0x20 || *c == 0x7f) {
			emit(out, "\\u%04x", *c);
			c++;
		} else if (length == 0) {
			put_str(out, "\\ufffd");
			c++;
		} else {
			put(out, (const char *)c, length);
			c += length;
		}
	}
	put_str(out, "\"");
}

/* ---- sessions ---- */

/* "," before every element of a JSON array but the first. */
const char *separator(struct session *session)
{
	return session->items++ > 0 ? "," : "";
}

/* Which status wins when several apply: damage, then a missing pool, then findings. */
static int status_rank(enum node_status status)
{
	switch (status) {
	case NODE_STATUS_DAMAGED:
		return 4;
	case NODE_STATUS_USAGE:
		return 3;
	case NODE_STATUS_NO_SUCH:
		return 2;
	case NODE_STATUS_FOUND:
		return 1;
	default:
		return 0;
	}
}

void raise_status(struct session *session, enum node_status status)
{
	if (status_rank(status) > status_rank(session->status))
		session->status = status;
}

static void error_line(const struct node_command_context *context, const char *prefix,
	const char *text)
{
	char line[NODE_MESSAGE_MAX + 64];
	node_print_fn print = context->print_error != NULL ? context->print_error : context->print;
	void *cookie = context->print_error != NULL ? context->error_cookie : context->print_cookie;

	snprintf(line, sizeof(line), "%s%s\n", prefix, text);
	for (unsigned char *c = (unsigned char *)line; *c != '\0'; c++) {
		if ((*c < 0x20 && *c != '\n') || *c == 0x7f)
			*c = '?';
	}
	print(cookie, line);
}

/* A problem with one part of the node: listed at the end, and it sets the status. */
void session_error(struct session *session, enum node_status status, const char *text)
{
	char **grown = realloc(session->errors, (session->error_count + 1) * sizeof(*grown));

	raise_status(session, status);
	if (grown == NULL)
		return;
	session->errors = grown;
	session->errors[session->error_count] = strdup(text);
	if (session->errors[session->error_count] != NULL)
		session->error_count++;
}

bool session_start(struct session *session, const struct node_command_context *context,
	const char *query)
{
	memset(session, 0, sizeof(*session));
	session->context = context;
	session->dir.fd = -1;
	session->query = query;
	session->out.context = context;
	session->out.capacity = OUTPUT_FLUSH_BYTES * 2;
	session->out.buffer = malloc(session->out.capacity);
	if (session->out.buffer == NULL) {
		error_line(context, "error: ", "out of memory");
		return false;
	}
	return true;
}

static void put_json_string_list(struct output *out, const char *key, char **items, size_t count)
{
	emit(out, ",\"%s\":[", key);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			put_str(out, ",");
		put_json_string(out, items[i]);
	}
	put_str(out, "]");
}

/* Ends the document (JSON) or prints warnings and errors (text); returns the status. */
int session_finish(struct session *session)
{
	struct output *out = &session->out;
	char **warnings = session->node != NULL ? session->node->warnings : NULL;
	size_t warning_count = session->node != NULL ? session->node->warning_count : 0;

	char *dir_note = session->dir_note;

	if (session->context->json) {
		put_str(out, ",\"warnings\":[");
		if (dir_note[0] != '\0')
			put_json_string(out, dir_note);
		for (size_t i = 0; i < warning_count; i++) {
			if (i > 0 || dir_note[0] != '\0')
				put_str(out, ",");
			put_json_string(out, warnings[i]);
		}
		put_str(out, "]");
		put_json_string_list(out, "errors", session->errors, session->error_count);
		emit(out, ",\"status\":%d}\n", (int)session->status);
		output_flush(out);
	} else {
		output_flush(out);
		if (dir_note[0] != '\0')
			error_line(session->context, "warning: ", dir_note);
		for (size_t i = 0; i < warning_count; i++)
			error_line(session->context, "warning: ", warnings[i]);
		for (size_t i = 0; i < session->error_count; i++)
			error_line(session->context, "error: ", session->errors[i]);
	}
	for (size_t i = 0; i < session->error_count; i++)
		free(session->errors[i]);
	free(session->errors);
	node_close(session->node);
	node_dir_close(&session->dir);
	free(out->buffer);
	return (int)session->status;
}

/* A failure before any output: one error line, or one JSON document. */
int session_fail(struct session *session, enum node_status status, const char *text)
{
	struct output *out = &session->out;

	if (session->context->json) {
		emit(out, "{\"version\":%d,\"error\":", AREA_MALLOC_JSON_VERSION);
		put_json_string(out, text);
		emit(out, ",\"status\":%d}\n", (int)status);
		output_flush(out);
	} else {
		error_line(session->context, "error: ", text);
	}
	node_close(session->node);
	node_dir_close(&session->dir);
	free(out->buffer);
	return (int)status;
}

/* The fallback directory instead of the one open; false (nothing changed)
 * when there is none, it is the one open, or it cannot be opened. */
static bool open_fallback_dir(struct session *session)
{
	struct node_error error = { 0 };
	struct node_dir fallback;
	char path[PATH_MAX];

	if (session->context->node_dir != NULL || !node_fallback_dir(path, sizeof(path))
		|| (session->dir.fd >= 0 && strcmp(path, session->dir.path) == 0)
		|| node_dir_open(path, true, &fallback, &error) != NODE_STATUS_OK)
		return false;
	node_dir_close(&session->dir);
	session->dir = fallback;
	return true;
}

enum node_status session_open_dir(struct session *session, struct node_error *error)
{
	char default_dir[PATH_MAX];

	if (session->context->node_dir != NULL)
		return node_dir_open(session->context->node_dir, false, &session->dir, error);
	node_default_dir(default_dir, sizeof(default_dir));
	if (node_dir_open(default_dir, true, &session->dir, error) == NODE_STATUS_OK)
		return NODE_STATUS_OK;
	if (!open_fallback_dir(session))
		return error->status;
	if (error->status != NODE_STATUS_NO_SUCH)
		snprintf(session->dir_note, sizeof(session->dir_note), "%s; reading %s instead",
			error->message, session->dir.path);
	memset(error, 0, sizeof(*error));
	return NODE_STATUS_OK;
}

/* ---- shared pieces of the commands ---- */

void put_time(struct output *out, int64_t microseconds)
{
	emit(out, "%" PRId64 ".%06" PRId64 " s", microseconds / 1000000,
		(microseconds % 1000000 + 1000000) % 1000000);
}

/*
 * A caller as the output shows it. Its text names the image by the path a
 * process file recorded, which may hold any byte: in text output control
 * characters become '?' (JSON escapes them itself). The copy lives until
 * SYMBOL_RING more symbols are asked for: longer than the one output call
 * it is made for.
 */
const char *symbol(struct session *session, uint64_t address)
{
	const char *text = node_symbolize(session->node, (uintptr_t)address, NULL);
	char *copy;
	size_t i;

	if (session->context->json)
		return text;
	copy = session->symbol_text[session->symbol_next++ % SYMBOL_RING];
	for (i = 0; text[i] != '\0' && i + 1 < SYMBOL_TEXT_MAX; i++)
		copy[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
	copy[i] = '\0';
	return copy;
}

static void json_process_header(struct session *session)
{
	struct output *out = &session->out;
	const struct node *node = session->node;

	json_document_start(out, session->query);
	emit(out, ",\"process\":{\"pid\":%d,\"alive\":%s,\"command_line\":", (int)node->pid,
		node->alive ? "true" : "false");
	put_json_string(out, node->process.command_line);
	emit(out, ",\"start_time\":%" PRId64 ",\"mark\":%" PRId64 "}", node->process.start_time,
		node->process.mark);
}

static void text_process_header(struct session *session)
{
	struct output *out = &session->out;

	emit(out, "process %d \"", (int)session->node->pid);
	put_text(out, session->node->process.command_line);
	emit(out, "\": %s\n", session->node->alive ? "alive" : "dead (post mortem)");
}

/* Opens the directory and the node; prints the header. false: already failed. */
bool session_open_node(struct session *session, int *status)
{
	struct node_error error = { 0 };

	if (session->context->pid <= 0) {
		*status = session_fail(session, NODE_STATUS_USAGE, "no process given (-p PID)");
		return false;
	}
	if (session_open_dir(session, &error) != NODE_STATUS_OK
		|| (node_open(&session->dir, session->context->pid, &session->node, &error)
				!= NODE_STATUS_OK
			/* the default directory is fine but the node is not there: the
			 * fallback is looked in too */
			&& (error.status != NODE_STATUS_NO_SUCH || !open_fallback_dir(session)
				|| node_open(&session->dir, session->context->pid, &session->node,
					   &error)
					!= NODE_STATUS_OK))) {
		*status = session_fail(session, error.status, error.message);
		return false;
	}
	if (session->context->json)
		json_process_header(session);
	else
		text_process_header(session);
	return true;
}

static bool node_has_pool(const struct node *node, int area)
{
	for (size_t i = 0; i < node->pool_count; i++) {
		if (node->pool_areas[i] == area)
			return true;
	}
	return false;
}

/*
 * Loads the pools one at a time (area 0: all of them) and hands each to fn.
 * A pool that is gone is skipped when all are asked for, an error when it
 * was named; a damaged one is an error either way. Returns how many were
 * visited.
 */
int for_each_pool(struct session *session, int area, pool_visit_fn fn, void *context)
{
	int visited = 0;

	if (area != 0 && !node_has_pool(session->node, area)) {
		char text[128];
		snprintf(text, sizeof(text), "process %d has no pool %d", (int)session->node->pid,
			area);
		session_error(session, NODE_STATUS_NO_SUCH, text);
		return 0;
	}
	for (size_t i = 0; i < session->node->pool_count; i++) {
		struct node_error error = { 0 };
		struct node_pool *pool;
		if (area != 0 && session->node->pool_areas[i] != area)
			continue;
		if (node_pool_load(session->node, session->node->pool_areas[i],
			    &session->context->snapshot, &pool, &error)
			!= NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH || area != 0)
				session_error(session, error.status, error.message);
			continue;
		}
		/* the blocks past the damage are missing from any listing; in a
		 * partial view the damage may be a tear (the warning says so) */
		if ((pool->heap_problem != NULL || pool->guard_problem != NULL
			    || pool->guarded_damaged > 0)
			&& !session->damage_is_finding && pool->copy != NODE_COPY_PARTIAL)
			raise_status(session, NODE_STATUS_DAMAGED);
		fn(session, pool, context);
		node_pool_release(pool);
		visited++;
	}
	return visited;
}

void session_walk_blocks(struct session *session, const struct node_pool *pool, node_block_fn fn,
	void *context)
{
	char text[128];

	if (node_pool_walk_blocks(pool, fn, context))
		return;
	snprintf(text, sizeof(text), "out of memory: the guarded blocks of pool %d were left out",
		pool->area);
	session_error(session, NODE_STATUS_DAMAGED, text);
}

bool parse_u64(const char *text, uint64_t *value)
{
	char *end;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	*value = strtoull(text, &end, 0);
	return errno == 0 && *end == '\0';
}

bool parse_area(const char *text, int *area)
{
	uint64_t value;

	if (!parse_u64(text, &value) || value == 0 || value > INT32_MAX)
		return false;
	*area = (int)value;
	return true;
}

int usage_error(struct session *session, const char *usage, const char *format, ...)
{
	char text[NODE_MESSAGE_MAX];
	va_list arguments;
	int length;

	va_start(arguments, format);
	length = vsnprintf(text, sizeof(text), format, arguments);
	va_end(arguments);
	if (length >= 0 && (size_t)length < sizeof(text))
		snprintf(text + length, sizeof(text) - (size_t)length, "; usage: %s", usage);
	return session_fail(session, NODE_STATUS_USAGE, text);
}

void json_document_start(struct output *out, const char *query)
{
	emit(out, "{\"version\":%d,\"query\":\"%s\"", AREA_MALLOC_JSON_VERSION, query);
}

void json_frames(struct session *session, struct output *out, const uintptr_t *frames,
	uint32_t count)
{
	put_str(out, ",\"frames\":[");
	for (uint32_t i = 0; i < count && frames[i] != 0; i++) {
		emit(out, "%s{\"pc\":\"0x%" PRIxPTR "\",\"symbol\":", i ? "," : "", frames[i]);
		put_json_string(out, symbol(session, frames[i]));
		put_str(out, node_symbolize_json(session->node, frames[i]));
		put_str(out, "}");
	}
	put_str(out, "]");
}
