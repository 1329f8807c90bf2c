/*
 * node_stacks.c - a node's stack depot (NODE_DIR/PID/stacks,
 * format/stack_depot.h): its records copied into private memory and the
 * stack handles of blocks and free records resolved against the copy.
 *
 * The depot is appended to while its process lives: the copy is refreshed
 * after every pool copy (node_pool_load), reading only what was appended
 * since, so every handle in the pool copy, published before it was written
 * into a block, resolves. A dead node is read once.
 *
 * Invariants: nothing of the file is used before stack_depot_header_sound
 * bounded it against the file's size; the copy holds exactly
 * stack_view.main_bytes and .reserve_bytes of records; a handle resolves
 * only through stack_depot_frames, which bounds it and checks the record's
 * hash. A missing or unsound depot costs one warning and the stacks (blocks
 * then show none), never the node.
 *
 * Locking: none; a node belongs to one thread.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node_reader_internal.h"

/* What a reader copies of a depot at most: 64 times the default size. */
#define STACKS_COPY_MAX ((uint64_t)2 << 30)

static const uintptr_t no_frames[1];

static void stacks_problem(struct node *node, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void stacks_problem(struct node *node, const char *format, ...)
{
	char text[sizeof(node->stacks_problem)];
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(text, sizeof(text), format, arguments);
	va_end(arguments);
	if (strcmp(text, node->stacks_problem) != 0)
		node_warn(node, "%s; stacks are not shown", text);
	snprintf(node->stacks_problem, sizeof(node->stacks_problem), "%s", text);
}

/* Appends [from, to) of the file's records (from records_offset + base) to
 * *copy, which holds from bytes. */
static bool read_more(int fd, unsigned char **copy, uint64_t from, uint64_t to, uint64_t at)
{
	unsigned char *grown;

	if (to <= from)
		return true;
	grown = realloc(*copy, (size_t)to);
	if (grown == NULL)
		return false;
	*copy = grown;
	return pread_full(fd, grown + from, (size_t)(to - from), at + from);
}

static bool expand_from_copy(void *context, uint32_t handle, area_malloc_owner *owner)
{
	struct node *node = context;

	return stack_depot_expand(&node->stack_view, handle, owner);
}

void node_stacks_refresh(struct node *node)
{
	struct stack_depot header;
	struct node_error error;
	struct stat status;
	char why[120];
	bool same;
	int fd;

	node->stack_hooks.expand = expand_from_copy;
	node->stack_hooks.context = node;
	node->layout.stacks = &node->stack_hooks;
	if (node->stacks_known && !node->alive)
		return; /* a dead node's depot does not change */
	fd = open_checked_file(node->dir_fd, NODE_STACKS_FILE, O_RDONLY, node->owner, &status,
		&error);
	if (fd < 0) {
		if (error.status == NODE_STATUS_NO_SUCH)
			stacks_problem(node, "the node has no stack depot (no %s file)",
				NODE_STACKS_FILE);
		else
			stacks_problem(node, "stack depot: %s", error.message);
		return;
	}
	if (!pread_full(fd, &header, sizeof(header), 0)) {
		stacks_problem(node, "stack depot: cannot read its header: %s", read_failure());
		close(fd);
		return;
	}
	if (!stack_depot_header_sound(&header, (uint64_t)status.st_size, why, sizeof(why))
		|| header.used + header.reserve_used > STACKS_COPY_MAX) {
		stacks_problem(node, "stack depot damaged: %s",
			header.used + header.reserve_used > STACKS_COPY_MAX ? "too large" : why);
		close(fd);
		return;
	}
	same = node->stacks_known && header.records_offset == node->stack_header.records_offset
		&& header.reserve_offset == node->stack_header.reserve_offset
		&& header.used >= node->stack_view.main_bytes
		&& header.reserve_used >= node->stack_view.reserve_bytes;
	if (!same) {
		node->stack_view.main_bytes = 0;
		node->stack_view.reserve_bytes = 0;
	}
	if (!read_more(fd, &node->stack_main, node->stack_view.main_bytes, header.used,
		    header.records_offset)
		|| !read_more(fd, &node->stack_reserve, node->stack_view.reserve_bytes,
			header.reserve_used, header.records_offset + header.reserve_offset)) {
		stacks_problem(node, "stack depot: cannot read its records: %s", read_failure());
		node->stacks_known = false;
		node->stack_view.main_bytes = node->stack_view.reserve_bytes = 0;
		close(fd);
		return;
	}
	close(fd);
	node->stack_header = header;
	node->stack_view.main = node->stack_main;
	node->stack_view.main_bytes = header.used;
	node->stack_view.reserve = node->stack_reserve;
	node->stack_view.reserve_offset = header.reserve_offset;
	node->stack_view.reserve_bytes = header.reserve_used;
	node->stacks_known = true;
	node->stacks_problem[0] = '\0';
}

void node_stacks_free(struct node *node)
{
	free(node->stack_main);
	free(node->stack_reserve);
	node->stack_main = node->stack_reserve = NULL;
	memset(&node->stack_view, 0, sizeof(node->stack_view));
	node->stacks_known = false;
}

void node_block_stack(const struct node *node, struct node_block *block, uint32_t handle)
{
	const uint64_t *frames;
	uint32_t count;
	bool truncated;

	block->stack = handle;
	if (stack_depot_frames(&node->stack_view, handle, &frames, &count, &truncated)) {
		block->frames = (const uintptr_t *)frames;
		block->frame_count = count;
	} else {
		block->frames = no_frames;
		block->frame_count = 0;
	}
	block->stack_truncated = truncated || handle == STACK_HANDLE_LOST;
}
