/*
 * debug_fork.c - fork() in the debug build: the core's handlers
 * (core/pool_fork.h) with the debug build's own state.
 *
 * A forked child must own private copies of its pools (the release build's
 * meaning of fork), never pages shared with the parent through the node
 * files. The copies must be the pools as they were at fork: so the parent
 * keeps every pool's lock (the core takes them) until the child reports
 * through a pipe that it has made its copies; the child replaces each
 * file-backed pool by a private copy at the same address. With
 * fork_nodes=1 the child then publishes its own node and moves each copy
 * into a file of it. Copies go through file descriptors (pread,
 * copy_file_range), never through the module reading pool memory, which
 * AddressSanitizer may have poisoned. The stack depot is made the child's
 * the same way, before any pool (stacks.c).
 *
 * Invariants: fork_pipe is open (both ends) only between the prepare
 * handler and the after-fork handlers, and only when a pool has a file.
 *
 * Locking: the handlers run with the registry's lock and every pool's lock
 * held (pool_fork.c); the child takes the node writer's lock, which it has
 * just initialised afresh (node_writer_forked_child).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <KernelExport.h>

#include "core/pool_fork.h"
#include "debug/debug_internal.h"
#include "debug/guarded.h"
#include "debug/node_writer.h"
#include "kernel/area_internal.h"

static int fork_pipe[2] = { -1, -1 };

static void has_file_backed_pool(struct pool *pool, const void *id, void *context)
{
	(void)id;
	if (debug_of(pool)->file_backed)
		*(bool *)context = true;
}

static void prepare(void)
{
	bool any_file = false;

	pool_registry_for_each_held(has_file_backed_pool, &any_file);
	if (!any_file || pipe2(fork_pipe, O_CLOEXEC) != 0)
		fork_pipe[0] = fork_pipe[1] = -1;
}

static void in_parent(void)
{
	struct pollfd wait_for_child = { fork_pipe[0], POLLIN, 0 };
	char done;

	if (fork_pipe[0] < 0)
		return;
	close(fork_pipe[1]);
	/* the child copies what it has used of its pools; a child that dies
	 * first closes the pipe, which ends the wait too */
	if (poll(&wait_for_child, 1, 30000) > 0)
		(void)!read(fork_pipe[0], &done, 1);
	close(fork_pipe[0]);
	fork_pipe[0] = fork_pipe[1] = -1;
}

static void in_child_first(void)
{
	owner_reset();
	node_writer_forked_child();
	/* the parent's depot file is not the child's to write either */
	stacks_forked_child(debug_options.node && node_writer_active());
}

/* Copies length bytes of a file at offset into another; false when short. */
static bool copy_range(int from_fd, int to_fd, loff_t offset, size_t length)
{
	loff_t from = offset, to = offset;

	while (length > 0) {
		ssize_t copied = copy_file_range(from_fd, &from, to_fd, &to, length, 0);
		if (copied <= 0)
			return false;
		length -= (size_t)copied;
	}
	return true;
}

/*
 * Copies what the parent's file holds of [offset, offset + length): its
 * data, not its holes, which read as zeros in the new file too. A lazy
 * pool's file and its guard region (never reserved: guarded.h) are mostly
 * holes, and a copy of their zeros would take the child that much tmpfs.
 * Where the file cannot say (no SEEK_DATA), everything is copied.
 */
static bool copy_data(int from_fd, int to_fd, loff_t offset, size_t length)
{
	loff_t end = offset + (loff_t)length;

	while (offset < end) {
		loff_t data = lseek(from_fd, offset, SEEK_DATA), hole;
		if (data < 0)
			return errno == ENXIO
				|| copy_range(from_fd, to_fd, offset, (size_t)(end - offset));
		if (data >= end)
			return true;
		hole = lseek(from_fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		if (!copy_range(from_fd, to_fd, data, (size_t)(hole - data)))
			return false;
		offset = hole;
	}
	return true;
}

/* Moves a pool into a file of the child's node; false when it could not. */
static bool republish_pool(struct pool *pool, int parent_fd, uint64_t reserved_end)
{
	struct debug_pool *debug = debug_of(pool);
	uint64_t hole_from, hole_to;
	bool copied;
	int fd;

	guarded_region_of(pool, &hole_from, &hole_to);
	fd = node_pool_file_create(pool->area_size, reserved_end, hole_from, hole_to, false);
	if (fd < 0)
		return false;
	copied = copy_data(parent_fd, fd, 0, reserved_end)
		/* and the last page, where the heap keeps its end sentinel */
		&& (reserved_end >= pool->area_size
			|| copy_range(parent_fd, fd, (loff_t)(pool->area_size - B_PAGE_SIZE),
				B_PAGE_SIZE));
	if (!copied
		|| mmap(pool->base, pool->area_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			   fd, 0)
			== MAP_FAILED) {
		node_pool_file_discard(fd);
		return false;
	}
	if (pool->guard_offset)
		mprotect((char *)pool->base + pool->guard_offset, B_PAGE_SIZE, PROT_NONE);
	debug->reserved_end = reserved_end;
	node_pool_file_publish(fd, pool->area);
	return true;
}

/*
 * No file to copy from (no descriptor to spare, or the node removed by
 * hand): the pool is copied from its own shared mapping, all but the guard
 * page, up to what its file has reserved and its last page (where the heap
 * keeps its end sentinel). If not even that can be done, the child must
 * not write into its parent's pages: it ends.
 */
static void copy_from_mapping(struct pool *pool)
{
	struct debug_pool *debug = debug_of(pool);
	size_t guard = pool->guard_offset;
	size_t used = debug->reserved_end < pool->area_size ? debug->reserved_end : pool->area_size;
	const size_t ranges[3][2] = {
		{ 0, guard != 0 ? guard : used },
		{ guard != 0 ? guard + B_PAGE_SIZE : used, used },
		{ pool->area_size - B_PAGE_SIZE, pool->area_size },
	};

	if (area_malloc_area_make_private_from_mapping(pool->area, ranges, 3) != B_OK) {
		dprintf("area_malloc: fork: pool %d can be neither reopened nor copied; the "
			"child would share its parent's memory: it ends\n",
			(int)pool->area);
		_exit(127);
	}
	if (guard != 0)
		mprotect((char *)pool->base + guard, B_PAGE_SIZE, PROT_NONE);
	debug->file_backed = false;
	debug->reserved_end = 0;
}

/* The child has only the forking thread: a free or a malloc's fill that
 * claimed a block (D7) will never end its claim here. The block stays LIVE,
 * its own bytes partly poisoned or filled: the child's to free, or to leak. */
static void forget_claims(struct debug_pool *debug)
{
	memset(debug->claimed, 0, sizeof(debug->claimed));
	debug->claimed_count = 0;
}

static void make_pool_private_pages(struct pool *pool)
{
	struct debug_pool *debug = debug_of(pool);
	bool republish = debug_options.node && debug_options.fork_nodes && node_writer_active();
	int parent_fd;

	/* Nothing may be written into a file-backed pool before it is the
	 * child's own: until then its pages are the parent's. */
	if (!debug->file_backed)
		return;
	/* the guard region's pages are copied too, and protected again after
	 * (a new mapping has no protections): guarded.h */
	guarded_fork_child_open(pool);
	parent_fd = node_pool_file_open_readable(pool->area, true);
	if (parent_fd < 0) {
		copy_from_mapping(pool);
		guarded_fork_child_close(pool);
		return;
	}
	if (!republish || !republish_pool(pool, parent_fd, debug->reserved_end)) {
		if (area_malloc_area_make_private(pool->area, parent_fd) == B_OK
			&& pool->guard_offset)
			mprotect((char *)pool->base + pool->guard_offset, B_PAGE_SIZE, PROT_NONE);
		debug->file_backed = false;
		debug->reserved_end = 0;
	}
	close(parent_fd);
	guarded_fork_child_close(pool);
}

/* A pool of the child: its pages made its own (file-backed pools: nothing
 * is written before), then its claims forgotten. */
static void make_pool_private(struct pool *pool)
{
	make_pool_private_pages(pool);
	forget_claims(debug_of(pool));
}

static void in_child_last(void)
{
	node_writer_fork_done();
	if (fork_pipe[1] >= 0) {
		(void)!write(fork_pipe[1], "", 1);
		close(fork_pipe[1]);
		close(fork_pipe[0]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
}

static const struct pool_fork_hooks hooks = {
	.prepare = prepare,
	.parent = in_parent,
	.child_begin = in_child_first,
	.child_pool = make_pool_private,
	.child_end = in_child_last,
};

void debug_fork_install(void)
{
	pool_fork_install(&hooks);
}
