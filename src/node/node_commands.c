/*
 * node_commands.c - the pool commands over debug nodes (see
 * node_commands.h), shared by pooldump and the in-process debugger.
 *
 * Each command loads one pool at a time (node_pool_load: the only moment a
 * pool's lock may be held), prints from the private copy, then releases it,
 * so memory stays bounded by the largest pool. Groupings (per caller, per
 * leak site) use hash tables and symbolize each distinct address once, so a
 * pool of a million blocks is summarised in well under a second.
 *
 * Output goes through the context's printer in chunks of whole lines; text
 * from node files (command lines, pool names, the image paths in symbols) is
 * escaped for the terminal and for JSON. In JSON mode every outcome,
 * failures included, is exactly one document on the output printer.
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node/node_commands.h"

#define OUTPUT_FLUSH_BYTES 65536
#define YOUNG_NODE_SECONDS 10
#define SYMBOL_RING 4
#define SYMBOL_TEXT_MAX 2048

/* ---- output ---- */

struct output {
	const struct node_command_context *context;
	char *buffer;
	size_t length;
	size_t capacity;
};

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

static void put(struct output *out, const char *text, size_t length)
{
	if (!output_reserve(out, length))
		return;
	memcpy(out->buffer + out->length, text, length);
	out->length += length;
	if (out->length >= OUTPUT_FLUSH_BYTES)
		output_flush(out);
}

static void put_str(struct output *out, const char *text)
{
	put(out, text, strlen(text));
}

static void emit(struct output *out, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct output *out, const char *format, ...)
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

/* Terminal-safe text: control characters become '?'. */
static void put_text(struct output *out, const char *text)
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

/* Length of the valid UTF-8 sequence at text (0: not valid). */
static size_t utf8_sequence(const unsigned char *text)
{
	size_t length;
	uint32_t code;

	if (text[0] < 0x80)
		return 1;
	if (text[0] >= 0xc2 && text[0] <= 0xdf) {
		length = 2;
		code = text[0] & 0x1f;
	} else if (text[0] >= 0xe0 && text[0] <= 0xef) {
		length = 3;
		code = text[0] & 0x0f;
	} else if (text[0] >= 0xf0 && text[0] <= 0xf4) {
		length = 4;
		code = text[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < length; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (text[i] & 0x3f);
	}
	if ((length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff)))
		|| (length == 4 && (code < 0x10000 || code > 0x10ffff)))
		return 0;
	return length;
}

/* A JSON string: escaped, and valid UTF-8 whatever the file held. */
static void put_json_string(struct output *out, const char *text)
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

struct session {
	const struct node_command_context *context;
	struct output out;
	struct node_dir dir;
	struct node *node;
	enum node_status status;
	char **errors;
	size_t error_count;
	const char *query;
	size_t items;		/* elements printed in the current JSON array */
	bool damage_is_finding;	/* check: a damaged heap is what it looks for */
	/* terminal-safe copies of the last symbols (text output), see symbol() */
	char symbol_text[SYMBOL_RING][SYMBOL_TEXT_MAX];
	unsigned symbol_next;
};

/* "," before every element of a JSON array but the first. */
static const char *separator(struct session *session)
{
	return session->items++ > 0 ? "," : "";
}

/* Which status wins when several apply: damage, then a missing pool, then findings. */
static int status_rank(enum node_status status)
{
	switch (status) {
	case NODE_STATUS_DAMAGED: return 4;
	case NODE_STATUS_USAGE: return 3;
	case NODE_STATUS_NO_SUCH: return 2;
	case NODE_STATUS_FOUND: return 1;
	default: return 0;
	}
}

static void raise_status(struct session *session, enum node_status status)
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
static void session_error(struct session *session, enum node_status status, const char *text)
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

static bool session_start(struct session *session, const struct node_command_context *context,
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
static int session_finish(struct session *session)
{
	struct output *out = &session->out;
	char **warnings = session->node != NULL ? session->node->warnings : NULL;
	size_t warning_count = session->node != NULL ? session->node->warning_count : 0;

	if (session->context->json) {
		put_json_string_list(out, "warnings", warnings, warning_count);
		put_json_string_list(out, "errors", session->errors, session->error_count);
		emit(out, ",\"status\":%d}\n", (int)session->status);
		output_flush(out);
	} else {
		output_flush(out);
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
static int session_fail(struct session *session, enum node_status status, const char *text)
{
	struct output *out = &session->out;

	if (session->context->json) {
		put_str(out, "{\"error\":");
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

static enum node_status session_open_dir(struct session *session, struct node_error *error)
{
	char default_dir[PATH_MAX];
	const char *path = session->context->node_dir;

	if (path == NULL) {
		node_default_dir(default_dir, sizeof(default_dir));
		path = default_dir;
	}
	return node_dir_open(path, &session->dir, error);
}

/* ---- shared pieces of the commands ---- */

static void put_time(struct output *out, int64_t microseconds)
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
static const char *symbol(struct session *session, uint64_t address)
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

static uint64_t creator_address(const struct node_pool_descriptor *descriptor)
{
	return descriptor->creator.frame_count > 0 ? descriptor->creator.frames[0] : 0;
}

static void json_process_header(struct session *session)
{
	struct output *out = &session->out;
	const struct node *node = session->node;

	emit(out, "{\"query\":\"%s\",\"process\":{\"pid\":%d,\"alive\":%s,\"command_line\":",
		session->query, (int)node->pid, node->alive ? "true" : "false");
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
static bool session_open_node(struct session *session, int *status)
{
	struct node_error error = { 0 };

	if (session->context->pid <= 0) {
		*status = session_fail(session, NODE_STATUS_USAGE, "no process given (-p PID)");
		return false;
	}
	if (session_open_dir(session, &error) != NODE_STATUS_OK
		|| node_open(&session->dir, session->context->pid, &session->node, &error)
			!= NODE_STATUS_OK) {
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

typedef void (*pool_visit_fn)(struct session *session, struct node_pool *pool, void *context);

/*
 * Loads the pools one at a time (area 0: all of them) and hands each to fn.
 * A pool that is gone is skipped when all are asked for, an error when it
 * was named; a damaged one is an error either way. Returns how many were
 * visited.
 */
static int for_each_pool(struct session *session, int area, pool_visit_fn fn, void *context)
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
			&session->context->snapshot, &pool, &error) != NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH || area != 0)
				session_error(session, error.status, error.message);
			continue;
		}
		/* the blocks past the damage are missing from any listing */
		if (pool->heap_problem != NULL && !session->damage_is_finding)
			raise_status(session, NODE_STATUS_DAMAGED);
		fn(session, pool, context);
		node_pool_release(pool);
		visited++;
	}
	return visited;
}

static bool parse_u64(const char *text, uint64_t *value)
{
	char *end;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	*value = strtoull(text, &end, 0);
	return errno == 0 && *end == '\0';
}

static bool parse_area(const char *text, int *area)
{
	uint64_t value;

	if (!parse_u64(text, &value) || value == 0 || value > INT32_MAX)
		return false;
	*area = (int)value;
	return true;
}

static int usage_error(struct session *session, const char *usage, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static int usage_error(struct session *session, const char *usage, const char *format, ...)
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

/* ---- grouping: hash table of sites (one or more frames) ---- */

struct group {
	uint64_t hash;
	size_t key_start;	/* in group_table.keys */
	uint32_t key_count;
	size_t count;
	uint64_t bytes;
	uint64_t first_address;	/* the oldest block of the group (lowest seq) */
	uint32_t first_sequence;
	uint32_t first_thread;
	uintptr_t first_frame;	/* the caller: the tie-break of sorting */
};

struct group_table {
	struct group *groups;
	size_t count, capacity;
	uintptr_t *keys;
	size_t key_count, key_capacity;
	size_t *slots;		/* group index + 1; 0: empty */
	size_t slot_capacity;
	bool failed;		/* out of memory: some blocks were not counted */
};

static uint64_t hash_frames(const uintptr_t *frames, uint32_t count)
{
	uint64_t hash = 1469598103934665603ull;

	for (uint32_t i = 0; i < count; i++)
		hash = (hash ^ frames[i]) * 1099511628211ull;
	return hash ^ (hash >> 31);
}

static bool group_table_grow_slots(struct group_table *table)
{
	size_t capacity = table->slot_capacity ? table->slot_capacity * 2 : 1024;
	size_t *slots = calloc(capacity, sizeof(*slots));

	if (slots == NULL)
		return false;
	for (size_t g = 0; g < table->count; g++) {
		size_t slot = table->groups[g].hash & (capacity - 1);
		while (slots[slot] != 0)
			slot = (slot + 1) & (capacity - 1);
		slots[slot] = g + 1;
	}
	free(table->slots);
	table->slots = slots;
	table->slot_capacity = capacity;
	return true;
}

static struct group *group_add(struct group_table *table, const uintptr_t *frames, uint32_t count)
{
	uint64_t hash = hash_frames(frames, count);
	struct group *group;
	size_t slot;

	if (table->count * 2 >= table->slot_capacity && !group_table_grow_slots(table))
		goto fail;
	for (slot = hash & (table->slot_capacity - 1); table->slots[slot] != 0;
		slot = (slot + 1) & (table->slot_capacity - 1)) {
		group = &table->groups[table->slots[slot] - 1];
		if (group->hash == hash && group->key_count == count
			&& memcmp(&table->keys[group->key_start], frames, count * sizeof(*frames))
				== 0)
			return group;
	}
	if (table->count == table->capacity) {
		size_t capacity = table->capacity ? table->capacity * 2 : 256;
		struct group *groups = realloc(table->groups, capacity * sizeof(*groups));
		if (groups == NULL)
			goto fail;
		table->groups = groups;
		table->capacity = capacity;
	}
	if (table->key_count + count > table->key_capacity) {
		size_t capacity = (table->key_capacity ? table->key_capacity * 2 : 1024) + count;
		uintptr_t *keys = realloc(table->keys, capacity * sizeof(*keys));
		if (keys == NULL)
			goto fail;
		table->keys = keys;
		table->key_capacity = capacity;
	}
	group = &table->groups[table->count];
	memset(group, 0, sizeof(*group));
	group->hash = hash;
	group->key_start = table->key_count;
	group->key_count = count;
	group->first_frame = count > 0 ? frames[0] : 0;
	memcpy(&table->keys[table->key_count], frames, count * sizeof(*frames));
	table->key_count += count;
	table->slots[slot] = ++table->count;
	return group;
fail:
	table->failed = true;
	return NULL;
}

static void group_count_block(struct group_table *table, const struct node_block *block,
	uint32_t key_frames)
{
	struct group *group = group_add(table, block->frames, key_frames);

	if (group == NULL)
		return;
	if (group->count == 0 || block->sequence < group->first_sequence) {
		group->first_address = block->address;
		group->first_sequence = block->sequence;
		group->first_thread = block->thread;
	}
	group->count++;
	group->bytes += block->size;
}

static void group_table_free(struct group_table *table)
{
	free(table->groups);
	free(table->keys);
	free(table->slots);
	memset(table, 0, sizeof(*table));
}

static const uintptr_t *group_key(const struct group_table *table, const struct group *group)
{
	return &table->keys[group->key_start];
}

/* Largest first; equal totals by caller address, then age: the order is total. */
static int compare_groups_by_bytes(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->first_frame != y->first_frame)
		return x->first_frame > y->first_frame ? 1 : -1;
	return (x->first_sequence > y->first_sequence) - (x->first_sequence < y->first_sequence);
}

static int compare_groups_by_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return compare_groups_by_bytes(a, b);
}

static void group_table_sort(struct group_table *table, bool by_count)
{
	if (table->count > 1)
		qsort(table->groups, table->count, sizeof(*table->groups),
			by_count ? compare_groups_by_count : compare_groups_by_bytes);
	free(table->slots); /* indices are stale once sorted */
	table->slots = NULL;
	table->slot_capacity = 0;
}

/* ---- pools ---- */

static void text_pool_line(struct session *session, const struct node_pool_descriptor *d)
{
	struct output *out = &session->out;

	emit(out, "pool %d: id: 0x%" PRIx64 "; name: \"", (int)d->area, d->pool_id);
	put_text(out, d->name);
	emit(out, "\"; base: 0x%" PRIx64 "; size: %" PRIu64 "; area_size: %" PRIu64 "; used: %"
		PRIu64 "; peak: %" PRIu64 "; blocks: %" PRIu64 "; quarantined: %" PRIu64 " in %"
		PRIu64 "; failed: %" PRIu64 "; injected: %" PRIu64 "; errors: %" PRIu64
		"; creator: %s%s\n", d->base_address, d->requested_size, d->area_size, d->used_bytes,
		d->peak_bytes, d->live_blocks, d->quarantined_bytes, d->quarantined_blocks,
		d->failed_requests, d->injected_failures, d->errors,
		symbol(session, creator_address(d)),
		d->state == NODE_POOL_DELETING ? "; state: deleting" : "");
}

/* The pool object's fields, without the closing brace. */
static void json_pool_fields(struct session *session, const struct node_pool_descriptor *d)
{
	struct output *out = &session->out;

	emit(out, "{\"id\":%d,\"pool_id\":\"0x%" PRIx64 "\",\"name\":", (int)d->area, d->pool_id);
	put_json_string(out, d->name);
	emit(out, ",\"state\":\"%s\",\"base\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
		",\"area_size\":%" PRIu64 ",\"used\":%" PRIu64 ",\"peak\":%" PRIu64 ",\"blocks\":%"
		PRIu64 ",\"quarantined_bytes\":%" PRIu64 ",\"quarantined_blocks\":%" PRIu64
		",\"allocations\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"failed_requests\":%" PRIu64
		",\"injected_failures\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"creator\":",
		d->state == NODE_POOL_DELETING ? "deleting" : "live", d->base_address,
		d->requested_size, d->area_size, d->used_bytes, d->peak_bytes, d->live_blocks,
		d->quarantined_bytes, d->quarantined_blocks, d->allocations, d->frees,
		d->failed_requests, d->injected_failures, d->errors);
	put_json_string(out, symbol(session, creator_address(d)));
	emit(out, ",\"creator_address\":\"0x%" PRIx64 "\"", creator_address(d));
}

static int command_pools(struct session *session, int argc, char **argv)
{
	struct output *out = &session->out;
	struct node *node;
	size_t listed = 0;
	int status;

	(void)argv;
	if (argc != 1)
		return usage_error(session, "pools", "pools takes no arguments");
	if (!session_open_node(session, &status))
		return status;
	node = session->node;
	if (session->context->json)
		put_str(out, ",\"pools\":[");
	else
		emit(out, "%zu pool(s)\n", node->pool_count);
	for (size_t i = 0; i < node->pool_count; i++) {
		struct node_pool_descriptor descriptor;
		struct node_error error = { 0 };
		bool consistent;
		if (node_pool_read_descriptor(node, node->pool_areas[i], &descriptor, &consistent,
			&error) != NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH)
				session_error(session, error.status, error.message);
			continue;
		}
		if (!consistent)
			node_warn(node, "pool %d: its counters were changing while read",
				node->pool_areas[i]);
		if (session->context->json) {
			if (listed > 0)
				put_str(out, ",");
			json_pool_fields(session, &descriptor);
			put_str(out, "}");
		} else {
			text_pool_line(session, &descriptor);
		}
		listed++;
	}
	if (session->context->json)
		put_str(out, "]");
	return session_finish(session);
}

static const char *copy_name(enum node_copy copy)
{
	switch (copy) {
	case NODE_COPY_CONSISTENT: return "consistent";
	case NODE_COPY_LOCKED: return "consistent, under the pool's lock";
	default: return "may be inconsistent";
	}
}

static void show_pool(struct session *session, struct node_pool *pool, void *context)
{
	const struct node_pool_descriptor *d = &pool->descriptor;
	struct output *out = &session->out;
	uint64_t heap_address = d->base_address + d->heap_offset;

	(void)context;
	if (session->context->json) {
		put_str(out, ",\"pool\":");
		json_pool_fields(session, d);
		emit(out, ",\"heap\":{\"address\":\"0x%" PRIx64 "\",\"bytes\":%" PRIu64
			",\"used_chunks\":%zu,\"used_chunk_bytes\":%" PRIu64 ",\"free_chunks\":%zu"
			",\"free_chunk_bytes\":%" PRIu64 ",\"largest_free\":%" PRIu64 ",\"problem\":",
			heap_address, d->heap_bytes, pool->used_chunks, pool->used_chunk_bytes,
			pool->free_chunks, pool->free_chunk_bytes, pool->largest_free);
		if (pool->heap_problem != NULL)
			put_json_string(out, pool->heap_problem);
		else
			put_str(out, "null");
		emit(out, "},\"live_blocks\":%zu,\"live_bytes\":%" PRIu64 ",\"quarantined_chunks\":%zu"
			",\"quarantined_chunk_bytes\":%" PRIu64 ",\"damaged_blocks\":%zu,\"seq\":%" PRIu64
			",\"log\":", pool->live_blocks, pool->live_bytes, pool->quarantined_blocks,
			pool->quarantined_bytes, pool->damaged_blocks, d->seq);
		if (pool->log != NULL)
			emit(out, "{\"capacity\":%u,\"appended\":%" PRIu64 "}", pool->log->capacity,
				pool->log->appended);
		else
			put_str(out, "null");
		emit(out, ",\"copy\":\"%s\"}", pool->copy == NODE_COPY_INCONSISTENT
			? "inconsistent" : pool->copy == NODE_COPY_LOCKED ? "locked" : "consistent");
		return;
	}
	text_pool_line(session, d);
	emit(out, "\theap: 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " bytes); chunks: %zu used (%"
		PRIu64 " bytes), %zu free (%" PRIu64 " bytes); largest free: %" PRIu64 "\n",
		heap_address, heap_address + d->heap_bytes, d->heap_bytes, pool->used_chunks,
		pool->used_chunk_bytes, pool->free_chunks, pool->free_chunk_bytes, pool->largest_free);
	emit(out, "\tblocks: %zu live (%" PRIu64 " bytes requested); %zu quarantined (%" PRIu64
		" bytes); %zu with a damaged header\n", pool->live_blocks, pool->live_bytes,
		pool->quarantined_blocks, pool->quarantined_bytes, pool->damaged_blocks);
	emit(out, "\tallocations: %" PRIu64 "; frees: %" PRIu64 "; seq: %" PRIu64 "\n",
		d->allocations, d->frees, d->seq);
	emit(out, "\tcontrol: descriptor at +0x%" PRIx64 "; lock at +0x%" PRIx64 "; ",
		d->control_offset, d->lock_offset);
	if (d->guard_offset != 0)
		emit(out, "guard page at +0x%" PRIx64 "; ", d->guard_offset);
	else
		emit(out, "no guard page; ");
	if (pool->log != NULL)
		emit(out, "log at +0x%" PRIx64 " (%" PRIu64 " event(s) appended, capacity %u)\n",
			d->log_offset, pool->log->appended, pool->log->capacity);
	else
		emit(out, "log: %s\n", pool->log_problem);
	emit(out, "\tcopy: %s%s%s\n", copy_name(pool->copy),
		pool->copy == NODE_COPY_INCONSISTENT ? ": " : "",
		pool->copy == NODE_COPY_INCONSISTENT ? pool->copy_problem : "");
	if (pool->heap_problem != NULL)
		emit(out, "\theap damaged: %s\n", pool->heap_problem);
}

static int command_pool(struct session *session, int argc, char **argv)
{
	int area, status;

	if (argc != 2 || !parse_area(argv[1], &area))
		return usage_error(session, "pool ID", "pool needs one pool ID (an area id)");
	if (!session_open_node(session, &status))
		return status;
	for_each_pool(session, area, show_pool, NULL);
	return session_finish(session);
}

/* ---- allocations ---- */

struct allocation_filter {
	int area;
	bool by_thread;
	uint32_t thread;
	bool by_caller_address;
	uint64_t caller_address;
	const char *caller_pattern;
	bool by_size;
	uint64_t size_min, size_max;
	bool stats_only;
};

struct allocation_walk {
	struct session *session;
	const struct allocation_filter *filter;
	size_t blocks;
	uint64_t bytes;
};

static bool function_matches(const char *function, const char *pattern)
{
	return function[0] != '\0'
		&& (fnmatch(pattern, function, 0) == 0 || strstr(function, pattern) != NULL);
}

static bool block_selected(struct session *session, const struct allocation_filter *filter,
	const struct node_block *block)
{
	const char *function;

	if (!block->header_ok || block->state != BLOCK_LIVE)
		return false;
	if (filter->by_thread && block->thread != filter->thread)
		return false;
	if (filter->by_size && (block->size < filter->size_min || block->size > filter->size_max))
		return false;
	if (filter->by_caller_address && block->frames[0] != filter->caller_address)
		return false;
	if (filter->caller_pattern != NULL) {
		node_symbolize(session->node, block->frames[0], &function);
		if (!function_matches(function, filter->caller_pattern))
			return false;
	}
	return true;
}

static void json_frames(struct session *session, const uintptr_t *frames, uint32_t count)
{
	struct output *out = &session->out;

	put_str(out, ",\"frames\":[");
	for (uint32_t i = 0; i < count && frames[i] != 0; i++) {
		emit(out, "%s{\"pc\":\"0x%" PRIxPTR "\",\"symbol\":", i ? "," : "", frames[i]);
		put_json_string(out, symbol(session, frames[i]));
		put_str(out, "}");
	}
	put_str(out, "]");
}

static void list_allocation(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct allocation_walk *walk = context;
	struct session *session = walk->session;
	struct output *out = &session->out;
	uint64_t caller;

	if (!block_selected(session, walk->filter, block))
		return;
	walk->blocks++;
	walk->bytes += block->size;
	if (walk->filter->stats_only)
		return;
	caller = block->frames[0];
	if (session->context->json) {
		emit(out, "%s{\"address\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"pool\":%d,"
			"\"thread\":%u,\"team\":%d,\"seq\":%u,\"time\":%" PRId64 ",\"caller\":",
			separator(session), block->address, block->size, pool->area,
			block->thread, (int)block->team, block->sequence, block->time);
		put_json_string(out, symbol(session, caller));
		emit(out, ",\"caller_address\":\"0x%" PRIx64 "\"", caller);
		if (block->frame_count > 1)
			json_frames(session, block->frames, block->frame_count);
		put_str(out, "}");
		return;
	}
	emit(out, "team: % 6d; thread: % 6d; address: 0x%08" PRIx64 "; size: %" PRIu64
		" bytes; pool: %d; seq: %u; caller: %#" PRIx64 " %s\n", (int)block->team,
		(int)block->thread, block->address, block->size, pool->area, block->sequence, caller,
		symbol(session, caller));
}

static void list_pool_allocations(struct session *session, struct node_pool *pool, void *context)
{
	(void)session;
	node_pool_walk(pool, list_allocation, context);
}

static const char allocations_usage[] =
	"allocations [pool ID] [thread TID] [caller ADDR|SYMBOL] [size MIN[-MAX]] [stats]";

static bool parse_size_range(const char *text, uint64_t *min, uint64_t *max)
{
	char first[32];
	const char *dash = strchr(text, '-');

	if (dash == NULL) {
		*max = UINT64_MAX;
		return parse_u64(text, min);
	}
	if ((size_t)(dash - text) >= sizeof(first))
		return false;
	memcpy(first, text, (size_t)(dash - text));
	first[dash - text] = '\0';
	return parse_u64(first, min) && parse_u64(dash + 1, max) && *min <= *max;
}

static int command_allocations(struct session *session, int argc, char **argv)
{
	struct allocation_filter filter = { 0 };
	struct allocation_walk walk = { session, &filter, 0, 0 };
	struct output *out = &session->out;
	int status;

	for (int i = 1; i < argc; i++) {
		const char *keyword = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t number;
		if (strcmp(keyword, "stats") == 0) {
			filter.stats_only = true;
			continue;
		}
		if (value == NULL)
			return usage_error(session, allocations_usage, "'%s' needs a value", keyword);
		i++;
		if (strcmp(keyword, "pool") == 0) {
			if (!parse_area(value, &filter.area))
				return usage_error(session, allocations_usage, "bad pool ID '%s'", value);
		} else if (strcmp(keyword, "thread") == 0) {
			if (!parse_u64(value, &number) || number > UINT32_MAX)
				return usage_error(session, allocations_usage, "bad thread id '%s'",
					value);
			filter.by_thread = true;
			filter.thread = (uint32_t)number;
		} else if (strcmp(keyword, "caller") == 0) {
			if (parse_u64(value, &number)) {
				filter.by_caller_address = true;
				filter.caller_address = number;
			} else if (value[0] != '\0') {
				filter.caller_pattern = value;
			} else {
				return usage_error(session, allocations_usage, "empty caller");
			}
		} else if (strcmp(keyword, "size") == 0) {
			if (!parse_size_range(value, &filter.size_min, &filter.size_max))
				return usage_error(session, allocations_usage,
					"bad size '%s' (MIN or MIN-MAX)", value);
			filter.by_size = true;
		} else {
			return usage_error(session, allocations_usage, "unknown argument '%s'",
				keyword);
		}
	}
	if (!session_open_node(session, &status))
		return status;
	if (session->context->json && !filter.stats_only)
		put_str(out, ",\"blocks\":[");
	for_each_pool(session, filter.area, list_pool_allocations, &walk);
	if (session->context->json)
		emit(out, "%s,\"total_blocks\":%zu,\"total_bytes\":%" PRIu64,
			filter.stats_only ? "" : "]", walk.blocks, walk.bytes);
	else
		emit(out, "total allocations: %zu; total bytes: %" PRIu64 "\n", walk.blocks,
			walk.bytes);
	return session_finish(session);
}

/* ---- allocations_per_caller ---- */

struct caller_walk {
	struct group_table table;
	size_t blocks;
	uint64_t bytes;
};

static void count_caller(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct caller_walk *walk = context;

	(void)pool;
	if (!block->header_ok || block->state != BLOCK_LIVE)
		return;
	walk->blocks++;
	walk->bytes += block->size;
	group_count_block(&walk->table, block, 1);
}

static void count_pool_callers(struct session *session, struct node_pool *pool, void *context)
{
	(void)session;
	node_pool_walk(pool, count_caller, context);
}

static int command_allocations_per_caller(struct session *session, int argc, char **argv)
{
	static const char usage[] = "allocations_per_caller [-c] [pool ID]";
	struct caller_walk walk = { 0 };
	struct output *out = &session->out;
	bool by_count = false;
	int area = 0, status;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			by_count = true;
		} else if (strcmp(argv[i], "pool") == 0 && i + 1 < argc) {
			if (!parse_area(argv[++i], &area))
				return usage_error(session, usage, "bad pool ID '%s'", argv[i]);
		} else {
			return usage_error(session, usage, "unknown argument '%s'", argv[i]);
		}
	}
	if (!session_open_node(session, &status))
		return status;
	for_each_pool(session, area, count_pool_callers, &walk);
	if (walk.table.failed)
		session_error(session, NODE_STATUS_DAMAGED,
			"out of memory: some callers were not counted");
	group_table_sort(&walk.table, by_count);
	if (session->context->json) {
		emit(out, ",\"sort\":\"%s\",\"callers\":[", by_count ? "count" : "size");
		for (size_t g = 0; g < walk.table.count; g++) {
			const struct group *group = &walk.table.groups[g];
			uintptr_t caller = group_key(&walk.table, group)[0];
			emit(out, "%s{\"caller\":", g ? "," : "");
			put_json_string(out, symbol(session, caller));
			emit(out, ",\"address\":\"0x%" PRIxPTR "\",\"count\":%zu,\"bytes\":%" PRIu64
				"}", caller, group->count, group->bytes);
		}
		emit(out, "],\"total_blocks\":%zu,\"total_bytes\":%" PRIu64, walk.blocks,
			walk.bytes);
	} else {
		emit(out, "%zu different callers, sorted by %s...\n", walk.table.count,
			by_count ? "count" : "size");
		emit(out, "     count        size      caller\n"
			"----------------------------------\n");
		for (size_t g = 0; g < walk.table.count; g++) {
			const struct group *group = &walk.table.groups[g];
			uintptr_t caller = group_key(&walk.table, group)[0];
			emit(out, "%10zu  %10" PRIu64 "  %#08" PRIxPTR "  %s\n", group->count,
				group->bytes, caller, symbol(session, caller));
		}
		emit(out, "total allocations: %zu; total bytes: %" PRIu64 "\n", walk.blocks,
			walk.bytes);
	}
	group_table_free(&walk.table);
	return session_finish(session);
}

/* ---- pool_log ---- */

struct log_walk {
	struct session *session;
	size_t printed;
};

static void print_event(const struct pool_log_event *event, void *context)
{
	struct log_walk *walk = context;
	struct session *session = walk->session;
	struct output *out = &session->out;

	if (session->context->json) {
		emit(out, "%s{\"seq\":%u,\"op\":\"%s\",\"address\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
			",\"thread\":%u,\"time\":%" PRId64 ",\"caller\":", walk->printed ? "," : "",
			event->sequence, pool_log_op_name(event->op), event->address, event->size,
			event->thread, event->time);
		put_json_string(out, symbol(session, event->caller));
		emit(out, ",\"caller_address\":\"0x%" PRIx64 "\"}", event->caller);
	} else {
		/* as the "last events" section of an error report */
		emit(out, "    seq %u %-8s 0x%" PRIx64 " %" PRIu64 " bytes, thread T%u, %s\n",
			event->sequence, pool_log_op_name(event->op), event->address, event->size,
			event->thread, symbol(session, event->caller));
	}
	walk->printed++;
}

struct log_request {
	uint64_t count;
};

static void show_log(struct session *session, struct node_pool *pool, void *context)
{
	const struct log_request *request = context;
	struct log_walk walk = { session, 0 };
	struct output *out = &session->out;
	const struct pool_log *log = pool->log;
	uint64_t held;
	char text[NODE_MESSAGE_MAX];

	if (log == NULL) {
		if (pool->descriptor.log_offset == 0) {
			if (session->context->json)
				emit(out, ",\"pool\":%d,\"appended\":0,\"capacity\":0,\"events\":[]",
					pool->area);
			else
				emit(out, "pool %d has no log\n", pool->area);
			return;
		}
		snprintf(text, sizeof(text), "pool %d: %s", pool->area, pool->log_problem);
		session_error(session, NODE_STATUS_DAMAGED, text);
		return;
	}
	held = log->appended < log->capacity ? log->appended : log->capacity;
	if (session->context->json) {
		emit(out, ",\"pool\":%d,\"appended\":%" PRIu64 ",\"capacity\":%u,\"events\":[",
			pool->area, log->appended, log->capacity);
	} else {
		emit(out, "pool %d: %" PRIu64 " event(s) logged, the last %" PRIu64
			" kept (capacity %u); newest first:\n", pool->area, log->appended, held,
			log->capacity);
	}
	pool_log_newest(log, NULL, request->count < SIZE_MAX ? (size_t)request->count : SIZE_MAX,
		print_event, &walk);
	if (session->context->json)
		put_str(out, "]");
}

static int command_pool_log(struct session *session, int argc, char **argv)
{
	static const char usage[] = "pool_log ID [N]";
	struct log_request request = { UINT64_MAX };
	int area, status;

	if (argc < 2 || argc > 3 || !parse_area(argv[1], &area))
		return usage_error(session, usage, "pool_log needs a pool ID");
	if (argc == 3 && !parse_u64(argv[2], &request.count))
		return usage_error(session, usage, "bad event count '%s'", argv[2]);
	if (!session_open_node(session, &status))
		return status;
	for_each_pool(session, area, show_log, &request);
	return session_finish(session);
}

/* ---- leaks ---- */

struct leak_walk {
	struct group_table table;
	int64_t since;		/* the process's mark; 0: every live block */
};

struct leak_totals {
	size_t blocks;
	uint64_t bytes;
	size_t groups;
	int pools_with_leaks;
};

static void count_leak(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct leak_walk *walk = context;

	(void)pool;
	if (!block->header_ok || block->state != BLOCK_LIVE
		|| (walk->since != 0 && block->time < walk->since))
		return;
	group_count_block(&walk->table, block, block->frame_count);
}

static void leaks_of_pool(struct session *session, struct node_pool *pool, void *context)
{
	struct leak_totals *totals = context;
	struct leak_walk walk = { .since = session->node->process.mark };
	struct output *out = &session->out;
	const struct node_pool_descriptor *d = &pool->descriptor;

	node_pool_walk(pool, count_leak, &walk);
	if (walk.table.failed)
		session_error(session, NODE_STATUS_DAMAGED,
			"out of memory: some leaks were not counted");
	group_table_sort(&walk.table, false);
	if (walk.table.count > 0 && !session->context->json) {
		emit(out, "\nin pool %d \"", pool->area);
		put_text(out, d->name);
		emit(out, "\" (id 0x%" PRIx64 ")\n", d->pool_id);
	}
	for (size_t g = 0; g < walk.table.count; g++) {
		const struct group *group = &walk.table.groups[g];
		const uintptr_t *frames = group_key(&walk.table, group);
		if (session->context->json) {
			emit(out, "%s{\"pool\":%d,\"caller\":", separator(session), pool->area);
			put_json_string(out, symbol(session, frames[0]));
			emit(out, ",\"address\":\"0x%" PRIxPTR "\",\"count\":%zu,\"bytes\":%" PRIu64
				",\"first_address\":\"0x%" PRIx64 "\",\"thread\":%u,\"seq\":%u",
				frames[0], group->count, group->bytes, group->first_address,
				group->first_thread, group->first_sequence);
			json_frames(session, frames, group->key_count);
			put_str(out, "}");
		} else {
			emit(out, "\nLeak of %" PRIu64 " byte(s) in %zu allocation(s) allocated from:\n",
				group->bytes, group->count);
			for (uint32_t i = 0; i < group->key_count && frames[i] != 0; i++)
				emit(out, "    #%u 0x%" PRIxPTR " in %s\n", i, frames[i],
					symbol(session, frames[i]));
			emit(out, "    (first block 0x%" PRIx64 ", thread T%u, seq %u)\n",
				group->first_address, group->first_thread, group->first_sequence);
		}
		totals->groups++;
		totals->blocks += group->count;
		totals->bytes += group->bytes;
	}
	if (walk.table.count > 0)
		totals->pools_with_leaks++;
	group_table_free(&walk.table);
}

static int command_leaks(struct session *session, int argc, char **argv)
{
	static const char usage[] = "leaks [pool ID]";
	struct leak_totals totals = { 0 };
	struct output *out = &session->out;
	int64_t mark;
	int area = 0, status;

	if (argc == 3 && strcmp(argv[1], "pool") == 0) {
		if (!parse_area(argv[2], &area))
			return usage_error(session, usage, "bad pool ID '%s'", argv[2]);
	} else if (argc != 1) {
		return usage_error(session, usage, "unknown argument '%s'", argv[1]);
	}
	if (!session_open_node(session, &status))
		return status;
	mark = session->node->process.mark;
	if (session->context->json) {
		put_str(out, ",\"since_mark\":");
		if (mark != 0)
			emit(out, "%" PRId64, mark);
		else
			put_str(out, "null");
		put_str(out, ",\"groups\":[");
	} else if (mark != 0) {
		put_str(out, "blocks allocated since the mark at ");
		put_time(out, mark);
		put_str(out, " (set through the companion module) and still live\n");
	} else {
		emit(out, "blocks still allocated (no mark set)%s\n",
			session->node->alive ? "" : " when the process died");
	}
	for_each_pool(session, area, leaks_of_pool, &totals);
	if (session->context->json)
		emit(out, "],\"leaked_bytes\":%" PRIu64 ",\"leaked_blocks\":%zu", totals.bytes,
			totals.blocks);
	else
		emit(out, "\nSUMMARY: area_malloc: %" PRIu64 " byte(s) leaked in %zu allocation(s).\n",
			totals.bytes, totals.blocks);
	if (totals.blocks > 0)
		raise_status(session, NODE_STATUS_FOUND);
	return session_finish(session);
}

/* ---- check ---- */

struct check_walk {
	struct session *session;
	const struct node_pool *pool;
	size_t problems;
};

struct problem {
	const char *kind;
	const char *detail;
	uint64_t address;
	bool size_known;
	uint64_t size;
	bool offset_known;
	long long offset;
	uint64_t overflow_bytes;
	const struct node_block *block;
	bool freed_known;
	area_malloc_owner freed_by;
};

static void text_owner(struct session *session, const char *label, uint32_t thread, int32_t team,
	uint32_t sequence, int64_t time, const uintptr_t *frames, uint32_t frame_count)
{
	struct output *out = &session->out;

	emit(out, "%s by thread T%u (team %d, seq %u, at ", label, thread, (int)team, sequence);
	put_time(out, time);
	put_str(out, "):\n");
	for (uint32_t i = 0; i < frame_count && frames[i] != 0; i++)
		emit(out, "    #%u 0x%" PRIxPTR " in %s\n", i, frames[i], symbol(session, frames[i]));
}

static void print_problem(struct check_walk *walk, const struct problem *problem)
{
	struct session *session = walk->session;
	struct output *out = &session->out;
	const struct node_pool *pool = walk->pool;
	const struct node_block *block = problem->block;
	uintptr_t freed_frames[1] = { problem->freed_known ? problem->freed_by.frames[0] : 0 };
	uint64_t site = problem->freed_known ? freed_frames[0]
		: block != NULL && block->header_ok ? block->frames[0] : 0;

	if (session->context->json) {
		emit(out, "%s{\"kind\":\"%s\",\"pool\":%d,\"address\":\"0x%" PRIx64 "\",\"size\":",
			separator(session), problem->kind, pool->area, problem->address);
		if (problem->size_known)
			emit(out, "%" PRIu64, problem->size);
		else
			put_str(out, "null");
		if (problem->offset_known)
			emit(out, ",\"offset\":%lld", problem->offset);
		if (problem->overflow_bytes != 0)
			emit(out, ",\"overflow_bytes\":%" PRIu64, problem->overflow_bytes);
		put_str(out, ",\"detail\":");
		put_json_string(out, problem->detail != NULL ? problem->detail : "");
		if (block != NULL && block->header_ok) {
			emit(out, ",\"thread\":%u,\"seq\":%u,\"caller\":", block->thread,
				block->sequence);
			put_json_string(out, symbol(session, block->frames[0]));
			json_frames(session, block->frames, block->frame_count);
		}
		if (problem->freed_known) {
			emit(out, ",\"freed_by\":{\"thread\":%d,\"seq\":%u,\"caller\":",
				(int)problem->freed_by.thread, problem->freed_by.sequence);
			put_json_string(out, symbol(session, freed_frames[0]));
			put_str(out, "}");
		}
		put_str(out, "}");
		return;
	}
	emit(out, "==%d==ERROR: area_malloc: %s on address 0x%" PRIx64, (int)session->node->pid,
		problem->kind, problem->address);
	if (problem->size_known)
		emit(out, " (%" PRIu64 "-byte block)", problem->size);
	emit(out, " in pool %d%s", pool->area, pool->descriptor.name[0] ? " \"" : "");
	put_text(out, pool->descriptor.name);
	emit(out, "%s\n", pool->descriptor.name[0] ? "\"" : "");
	if (problem->detail != NULL)
		emit(out, "%s\n", problem->detail);
	if (problem->offset_known)
		emit(out, "first damaged byte at offset %lld from the block%s\n", problem->offset,
			problem->offset < 0 ? " (before its start)" : "");
	if (problem->overflow_bytes != 0)
		emit(out, "the write reached %" PRIu64 " byte(s) past the end of the %" PRIu64
			"-byte block\n", problem->overflow_bytes, problem->size);
	if (problem->freed_known)
		text_owner(session, "freed", (uint32_t)problem->freed_by.thread,
			problem->freed_by.team, problem->freed_by.sequence, problem->freed_by.time,
			freed_frames, 1);
	if (block != NULL && block->header_ok)
		text_owner(session, "previously allocated", block->thread, block->team,
			block->sequence, block->time, block->frames, block->frame_count);
	emit(out, "SUMMARY: area_malloc: %s", problem->kind);
	if (site != 0)
		emit(out, " %s", symbol(session, site));
	emit(out, " in pool %d\n", pool->area);
}

static void check_block(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct check_walk *walk = context;
	struct problem problem = { .address = block->address, .block = block };
	struct debug_block_finding finding;

	(void)pool;
	if (!block->header_ok) {
		problem.kind = "heap-buffer-underflow";
		problem.detail = "the block's header is damaged (checksum or fields)";
	} else {
		problem.size_known = true;
		problem.size = block->size;
		finding = node_block_check(walk->pool, block);
		switch (finding.problem) {
		case BLOCK_OK:
			return;
		case BLOCK_HEADER_DAMAGED: /* header_ok said otherwise: cannot happen */
			problem.kind = "heap-buffer-underflow";
			problem.detail = "the block's header is damaged (checksum or fields)";
			break;
		case BLOCK_UNDERFLOW:
			problem.kind = "heap-buffer-underflow";
			problem.detail = "the leading canary is damaged";
			problem.offset_known = true;
			problem.offset = -(long long)finding.offset;
			break;
		case BLOCK_OVERFLOW:
			problem.kind = "heap-buffer-overflow";
			problem.detail = "the trailing canary is damaged";
			problem.offset_known = true;
			problem.offset = (long long)finding.offset;
			problem.overflow_bytes = finding.damaged_bytes;
			break;
		case BLOCK_POISON_DAMAGED:
			problem.kind = "use-after-free";
			problem.detail = "a freed block (in quarantine) was written";
			problem.offset_known = true;
			problem.offset = (long long)finding.offset;
			problem.freed_known = node_block_freed_by(walk->pool, block,
				&problem.freed_by);
			if (!problem.freed_known)
				problem.detail = "a freed block (in quarantine) was written over its "
					"free record";
			break;
		}
	}
	print_problem(walk, &problem);
	walk->problems++;
}

/* A problem of the pool as a whole (heap, counters). */
static void pool_problem(struct check_walk *walk, const char *kind, const char *detail)
{
	struct problem problem = {
		.kind = kind,
		.detail = detail,
		.address = walk->pool->descriptor.base_address + walk->pool->descriptor.heap_offset,
	};

	print_problem(walk, &problem);
	walk->problems++;
}

struct check_totals {
	size_t problems;
	int pools;
};

static void check_pool(struct session *session, struct node_pool *pool, void *context)
{
	struct check_totals *totals = context;
	struct check_walk walk = { session, pool, 0 };
	const struct node_pool_descriptor *d = &pool->descriptor;
	char detail[256];

	node_pool_walk(pool, check_block, &walk);
	if (pool->heap_problem != NULL) {
		pool_problem(&walk, "heap-corruption", pool->heap_problem);
	} else if (pool->copy != NODE_COPY_INCONSISTENT && pool->damaged_blocks == 0
		&& (d->live_blocks != pool->live_blocks || d->used_bytes != pool->live_bytes
			|| d->quarantined_blocks != pool->quarantined_blocks)) {
		snprintf(detail, sizeof(detail),
			"the pool's counters disagree with its blocks: %" PRIu64 " live block(s) of %"
			PRIu64 " bytes and %" PRIu64 " quarantined counted, %zu of %" PRIu64
			" bytes and %zu found", d->live_blocks, d->used_bytes, d->quarantined_blocks,
			pool->live_blocks, pool->live_bytes, pool->quarantined_blocks);
		pool_problem(&walk, "counter-mismatch", detail);
	}
	totals->problems += walk.problems;
	totals->pools++;
}

static int command_check(struct session *session, int argc, char **argv)
{
	static const char usage[] = "check [pool ID]";
	struct check_totals totals = { 0 };
	struct output *out = &session->out;
	int area = 0, status;

	if (argc == 3 && strcmp(argv[1], "pool") == 0) {
		if (!parse_area(argv[2], &area))
			return usage_error(session, usage, "bad pool ID '%s'", argv[2]);
	} else if (argc == 2 && parse_area(argv[1], &area)) {
		/* "check ID", as the in-process debugger command takes it */
	} else if (argc != 1) {
		return usage_error(session, usage, "unknown argument '%s'", argv[1]);
	}
	if (!session_open_node(session, &status))
		return status;
	session->damage_is_finding = true;
	if (session->context->json)
		put_str(out, ",\"problems\":[");
	for_each_pool(session, area, check_pool, &totals);
	if (session->context->json)
		emit(out, "],\"pools_checked\":%d,\"problem_count\":%zu", totals.pools,
			totals.problems);
	else
		emit(out, "%d pool(s) checked, %zu problem(s)\n", totals.pools, totals.problems);
	if (totals.problems > 0)
		raise_status(session, NODE_STATUS_FOUND);
	return session_finish(session);
}

/* ---- help and dispatch ---- */

struct command {
	const char *name;
	const char *usage;
	const char *summary;
	int (*run)(struct session *session, int argc, char **argv);
};

static int command_help(struct session *session, int argc, char **argv);

static const struct command commands[] = {
	{ "pools", "pools", "list the pools of the process", command_pools },
	{ "pool", "pool ID", "one pool in detail: heap, blocks, log, consistency", command_pool },
	{ "allocations", allocations_usage,
		"live blocks (size MIN: at least MIN; size MIN-MAX: inclusive); stats: totals only",
		command_allocations },
	{ "allocations_per_caller", "allocations_per_caller [-c] [pool ID]",
		"live blocks grouped by caller, sorted by size (by count with -c)",
		command_allocations_per_caller },
	{ "pool_log", "pool_log ID [N]", "the pool's last N logged events, newest first",
		command_pool_log },
	{ "leaks", "leaks [pool ID]",
		"live blocks grouped by allocation site (since the mark when one is set)",
		command_leaks },
	{ "check", "check [pool ID]", "check canaries, poison and heap invariants now",
		command_check },
	{ "help", "help", "this list", command_help },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static char usage_text[2048];
static pthread_once_t usage_once = PTHREAD_ONCE_INIT;

static void compose_usage(void)
{
	size_t length = 0;

	for (size_t i = 0; i < COMMAND_COUNT && length < sizeof(usage_text); i++)
		length += (size_t)snprintf(usage_text + length, sizeof(usage_text) - length,
			"  %s\n      %s\n", commands[i].usage, commands[i].summary);
}

const char *node_command_usage(void)
{
	pthread_once(&usage_once, compose_usage);
	return usage_text;
}

static int command_help(struct session *session, int argc, char **argv)
{
	struct output *out = &session->out;

	(void)argc;
	(void)argv;
	if (session->context->json) {
		put_str(out, "{\"query\":\"help\",\"commands\":[");
		for (size_t i = 0; i < COMMAND_COUNT; i++) {
			emit(out, "%s{\"name\":\"%s\",\"usage\":", i ? "," : "", commands[i].name);
			put_json_string(out, commands[i].usage);
			put_str(out, ",\"summary\":");
			put_json_string(out, commands[i].summary);
			put_str(out, "}");
		}
		put_str(out, "]");
	} else {
		emit(out, "pool commands (a pool ID is the pool's area id, as \"pools\" lists it):\n%s",
			node_command_usage());
	}
	return session_finish(session);
}

int node_command_run(const struct node_command_context *context, int argc, char **argv)
{
	struct session session;

	if (!session_start(&session, context, argc > 0 ? argv[0] : ""))
		return NODE_STATUS_DAMAGED;
	if (argc < 1 || argv[0] == NULL)
		return usage_error(&session, "COMMAND [ARGS]", "no command given");
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			session.query = commands[i].name;
			return commands[i].run(&session, argc, argv);
		}
	}
	session.query = "";
	return usage_error(&session, "pools | pool | allocations | allocations_per_caller | "
		"pool_log | leaks | check | help", "unknown command '%s'", argv[0]);
}

/* ---- listing and cleaning the directory ---- */

static void list_node(struct session *session, pid_t pid, size_t *listed)
{
	struct output *out = &session->out;
	struct node_error error = { 0 };
	uint64_t blocks = 0, bytes = 0;
	size_t pools = 0;
	struct node *node;
	char problem[NODE_MESSAGE_MAX] = "";

	if (node_open(&session->dir, pid, &node, &error) != NODE_STATUS_OK) {
		if (error.status == NODE_STATUS_NO_SUCH)
			return; /* gone since the directory was read */
		if (session->context->json) {
			emit(out, "%s{\"pid\":%d,\"state\":\"damaged\",\"alive\":null,\"command_line\":"
				"null,\"pools\":null,\"blocks\":null,\"bytes\":null,\"error\":",
				*listed ? "," : "", (int)pid);
			put_json_string(out, error.message);
			put_str(out, "}");
		} else {
			emit(out, "%8d  %-7s  %5s  %10s  %14s  (", (int)pid, "damaged", "-", "-", "-");
			put_text(out, error.message);
			put_str(out, ")\n");
		}
		(*listed)++;
		return;
	}
	for (size_t i = 0; i < node->pool_count; i++) {
		struct node_pool_descriptor descriptor;
		bool consistent;
		if (node_pool_read_descriptor(node, node->pool_areas[i], &descriptor, &consistent,
			&error) != NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH && problem[0] == '\0')
				snprintf(problem, sizeof(problem), "%s", error.message);
			continue;
		}
		pools++;
		blocks += descriptor.live_blocks;
		bytes += descriptor.used_bytes;
	}
	if (session->context->json) {
		emit(out, "%s{\"pid\":%d,\"state\":\"%s\",\"alive\":%s,\"command_line\":",
			*listed ? "," : "", (int)pid, node->alive ? "alive" : "dead",
			node->alive ? "true" : "false");
		put_json_string(out, node->process.command_line);
		emit(out, ",\"start_time\":%" PRId64 ",\"pools\":%zu,\"blocks\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"error\":", node->process.start_time, pools, blocks,
			bytes);
		if (problem[0] != '\0')
			put_json_string(out, problem);
		else
			put_str(out, "null");
		put_str(out, "}");
	} else {
		emit(out, "%8d  %-7s  %5zu  %10" PRIu64 "  %14" PRIu64 "  ", (int)pid,
			node->alive ? "alive" : "dead", pools, blocks, bytes);
		put_text(out, node->process.command_line);
		if (problem[0] != '\0') {
			put_str(out, "  (");
			put_text(out, problem);
			put_str(out, ")");
		}
		put_str(out, "\n");
	}
	(*listed)++;
	node_close(node);
}

int node_command_list(const struct node_command_context *context)
{
	struct node_error error = { 0 };
	struct session session;
	struct output *out = &session.out;
	size_t count = 0, listed = 0;
	pid_t *pids = NULL;
	enum node_status status;

	if (!session_start(&session, context, "list"))
		return NODE_STATUS_DAMAGED;
	status = session_open_dir(&session, &error);
	if (status == NODE_STATUS_NO_SUCH) {
		/* no directory: nobody published a node yet, an empty list */
		if (context->json) {
			put_str(out, "{\"query\":\"list\",\"node_dir\":");
			put_json_string(out, session.dir.path);
			put_str(out, ",\"nodes\":[]");
		} else {
			emit(out, "no nodes in %s\n", session.dir.path);
		}
		return session_finish(&session);
	}
	if (status != NODE_STATUS_OK || node_dir_pids(&session.dir, &pids, &count, &error)
		!= NODE_STATUS_OK)
		return session_fail(&session, error.status, error.message);
	if (context->json) {
		put_str(out, "{\"query\":\"list\",\"node_dir\":");
		put_json_string(out, session.dir.path);
		put_str(out, ",\"nodes\":[");
	} else {
		emit(out, "%zu node(s) in ", count);
		put_text(out, session.dir.path);
		emit(out, "\n%8s  %-7s  %5s  %10s  %14s  %s\n", "pid", "state", "pools", "blocks",
			"bytes", "command");
	}
	for (size_t i = 0; i < count; i++)
		list_node(&session, pids[i], &listed);
	if (context->json)
		put_str(out, "]");
	free(pids);
	return session_finish(&session);
}

/* Removes a node's files, then the node, all inside the checked directory. */
static bool remove_node(const struct node_dir *dir, const char *name, char *why, size_t size)
{
	struct dirent *entry;
	struct stat status;
	DIR *stream;
	int fd;

	fd = openat(dir->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &status) != 0 || status.st_uid != dir->owner) {
		snprintf(why, size, "cannot open it as a directory of uid %u: %s",
			(unsigned)dir->owner, fd < 0 ? strerror(errno) : "wrong owner");
		if (fd >= 0)
			close(fd);
		return false;
	}
	stream = fdopendir(fd);
	if (stream == NULL) {
		snprintf(why, size, "cannot list it: %s", strerror(errno));
		close(fd);
		return false;
	}
	while ((entry = readdir(stream)) != NULL) {
		struct stat file;
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		/* unlinkat removes a symlink itself, never what it points to */
		if (fstatat(fd, entry->d_name, &file, AT_SYMLINK_NOFOLLOW) == 0
			&& !S_ISDIR(file.st_mode) && unlinkat(fd, entry->d_name, 0) != 0
			&& errno != ENOENT) {
			snprintf(why, size, "cannot remove %s: %s", entry->d_name, strerror(errno));
			closedir(stream);
			return false;
		}
	}
	closedir(stream);
	if (unlinkat(dir->fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
		snprintf(why, size, "cannot remove the directory: %s", strerror(errno));
		return false;
	}
	return true;
}

/*
 * Is the node dead? Its process file is not locked by anyone. A node with
 * no readable process file is taken as dead unless it is young and its pid
 * runs: it may be a process that is still creating its node.
 */
static bool node_is_dead(const struct node_dir *dir, const char *name, pid_t pid)
{
	struct stat status;
	bool dead;
	int node_fd, fd;

	node_fd = openat(dir->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (node_fd < 0)
		return false;
	fd = openat(node_fd, NODE_PROCESS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && fstat(fd, &status) == 0 && S_ISREG(status.st_mode)) {
		dead = !node_process_file_alive(fd);
		/* a fresh, still unlocked file: its writer may be about to lock it */
		if (dead && status.st_mtime > time(NULL) - YOUNG_NODE_SECONDS && kill(pid, 0) == 0)
			dead = false;
	} else {
		dead = !(fstat(node_fd, &status) == 0 && status.st_mtime > time(NULL) - YOUNG_NODE_SECONDS
			&& kill(pid, 0) == 0);
	}
	if (fd >= 0)
		close(fd);
	close(node_fd);
	return dead;
}

int node_command_clean(const struct node_command_context *context)
{
	struct node_error error = { 0 };
	struct session session;
	struct output *out = &session.out;
	size_t count = 0, removed = 0, kept = 0;
	pid_t *pids = NULL;
	enum node_status status;

	if (!session_start(&session, context, "clean"))
		return NODE_STATUS_DAMAGED;
	status = session_open_dir(&session, &error);
	if (status == NODE_STATUS_NO_SUCH) {
		if (context->json)
			put_str(out, "{\"query\":\"clean\",\"removed\":[],\"kept\":[]");
		else
			emit(out, "no nodes in %s\n", session.dir.path);
		return session_finish(&session);
	}
	if (status != NODE_STATUS_OK || node_dir_pids(&session.dir, &pids, &count, &error)
		!= NODE_STATUS_OK)
		return session_fail(&session, error.status, error.message);
	if (context->json)
		put_str(out, "{\"query\":\"clean\",\"removed\":[");
	for (size_t i = 0; i < count; i++) {
		char name[16], why[NODE_MESSAGE_MAX - 64], text[NODE_MESSAGE_MAX];
		snprintf(name, sizeof(name), "%d", (int)pids[i]);
		if (!node_is_dead(&session.dir, name, pids[i])) {
			pids[kept++] = pids[i]; /* compacted: the list of kept nodes */
			continue;
		}
		if (!remove_node(&session.dir, name, why, sizeof(why))) {
			snprintf(text, sizeof(text), "node %s: %s", name, why);
			session_error(&session, NODE_STATUS_DAMAGED, text);
			continue;
		}
		if (context->json)
			emit(out, "%s%s", removed ? "," : "", name);
		else
			emit(out, "removed dead node %s\n", name);
		removed++;
	}
	if (context->json) {
		put_str(out, "],\"kept\":[");
		for (size_t i = 0; i < kept; i++)
			emit(out, "%s%d", i ? "," : "", (int)pids[i]);
		put_str(out, "]");
	} else {
		emit(out, "%zu dead node(s) removed, %zu live node(s) kept\n", removed, kept);
	}
	free(pids);
	return session_finish(&session);
}
