/*
 * node_pool_copy.c - copying a pool file into private memory under the
 * seqlock protocol (node_format.h, "Consistency"), the quiet window, and
 * loading a pool from its copy (node_pool_load).
 *
 * The protocol: a copy counts when the descriptor's seq was even before
 * it, unchanged after it, and the same in the copy. After a few failed
 * tries, and only while the process lives and the file is the reader's own
 * user's, the reader asks the driver for a quiet window and copies in it.
 * A copy that stays inconsistent is used and said to be so (node_pool.copy:
 * a live pool's is a partial view): a busy, hung or dead writer must not
 * make the pool unreadable.
 *
 * Invariants: the copy is anonymous memory filled with pread, holes
 * skipped (SEEK_DATA/SEEK_HOLE) and given back as zero pages. No node file
 * is ever mapped; the only writes are the quiet window's two counters, by
 * pwrite, in a file of the reader's own user. From the copy on, only the
 * copy counts: its own descriptor is checked again before anything in it
 * is used.
 *
 * Locking: none. The driver's lock is never taken (node_format.h: what a
 * node file says is data, never control); the driver waits for a reader
 * only in a quiet window, for at most the budget it set itself.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/heap.h"
#include "node/node_reader_internal.h"

#define DEFAULT_GRANT_TIMEOUT_MS 200

static void zero_range(unsigned char *buffer, size_t from, size_t to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t first_page = (from + page - 1) & ~(page - 1), last_page = to & ~(page - 1);

	if (from >= to)
		return;
	/* whole pages go back to the kernel, which hands out zeros again: zeroing
	 * a large hole by hand would commit the memory the hole saves */
	if (first_page < last_page
		&& madvise(buffer + first_page, last_page - first_page, MADV_DONTNEED) == 0) {
		memset(buffer + from, 0, first_page - from);
		memset(buffer + last_page, 0, to - last_page);
		return;
	}
	memset(buffer + from, 0, to - from);
}

/*
 * Copies [0, bytes) of the file into buffer with pread, skipping holes
 * (which read as zero). fresh: buffer is all zero already. False when the
 * file could not be read to its end (truncated meanwhile, or an error).
 */
static bool copy_file(int fd, unsigned char *buffer, size_t bytes, bool fresh)
{
	bool seek_works = true;
	size_t at = 0;

	while (at < bytes) {
		off_t data = (off_t)at, hole = (off_t)bytes;
		if (seek_works) {
			data = lseek(fd, (off_t)at, SEEK_DATA);
			if (data < 0 && errno == ENXIO) {
				data = (off_t)bytes; /* only holes (or the end) from here */
			} else if (data < 0) {
				seek_works = false; /* no hole support: read everything */
				data = (off_t)at;
			}
		}
		if ((uint64_t)data > bytes)
			data = (off_t)bytes;
		if (!fresh)
			zero_range(buffer, at, (size_t)data);
		if ((size_t)data == bytes)
			break;
		if (seek_works) {
			hole = lseek(fd, data, SEEK_HOLE);
			if (hole < 0 || (uint64_t)hole > bytes)
				hole = (off_t)bytes;
		}
		if (hole <= data)
			hole = (off_t)bytes;
		if (!pread_full(fd, buffer + data, (size_t)(hole - data), (uint64_t)data))
			return false;
		at = (size_t)hole;
	}
	return true;
}

struct copy_attempt {
	int fd;
	uint64_t control_offset;
	bool copied;    /* the buffer holds some copy */
	bool truncated; /* the file ended early during a copy */
};

/* One copy between two reads of seq; true when it is consistent. */
static bool copy_between_seqs(struct node_pool *pool, struct copy_attempt *attempt, bool *seq_odd)
{
	uint64_t before, after, copied;

	*seq_odd = false;
	if (!read_seq(attempt->fd, attempt->control_offset, &before))
		return false;
	if (before % 2 != 0 && attempt->copied) {
		*seq_odd = true;
		return false; /* a change is under way: do not copy it */
	}
	if (!copy_file(attempt->fd, pool->image, pool->image_bytes, !attempt->copied)) {
		attempt->truncated = true;
		return false;
	}
	attempt->copied = true;
	if (!read_seq(attempt->fd, attempt->control_offset, &after))
		return false;
	memcpy(&copied,
		pool->image + attempt->control_offset + offsetof(struct node_pool_descriptor, seq),
		sizeof(copied));
	*seq_odd = before % 2 != 0;
	return before % 2 == 0 && before == after && copied == before;
}

/* The quiet window's words, as the reader writes them (node_format.h). */
static uint64_t quiet_offset(const struct copy_attempt *attempt, size_t field)
{
	return attempt->control_offset + offsetof(struct node_pool_descriptor, quiet) + field;
}

static void at_step(const struct node_snapshot_options *options, enum node_quiet_step step)
{
	if (options != NULL && options->at_step != NULL)
		options->at_step(step, options->step_context);
}

/* Waits for a pool call to grant request (or a later one); false after
 * timeout_ms. Polls: yielding at first (a busy pool grants within
 * microseconds, and the window's budget runs from the grant), then in
 * naps. */
static bool wait_for_grant(int fd, uint64_t offset, uint32_t request, unsigned timeout_ms)
{
	struct timespec start, now;
	const struct timespec nap = { 0, 100 * 1000 };
	uint32_t granted;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (pread_full(fd, &granted, sizeof(granted), offset)
			&& (int32_t)(granted - request) >= 0)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t waited_us = (int64_t)(now.tv_sec - start.tv_sec) * 1000000
			+ (now.tv_nsec - start.tv_nsec) / 1000;
		if (waited_us >= (int64_t)timeout_ms * 1000)
			return false;
		if (waited_us < 2000)
			sched_yield();
		else
			nanosleep(&nap, NULL);
	}
}

/*
 * The last resort for a pool that changed during every copy: a quiet window
 * (node_format.h, "Consistency"). Only in a file of the reader's own user,
 * opened write-only for two pwrites of a counter: nothing of the file is
 * mapped, nothing in it is followed, and the driver holds still for at most
 * the budget it set itself, whatever this process does meanwhile.
 */
static bool copy_in_quiet_window(struct node_pool *pool, struct copy_attempt *attempt,
	const struct node_snapshot_options *options)
{
	unsigned timeout_ms = options != NULL && options->grant_timeout_ms != 0
		? options->grant_timeout_ms
		: DEFAULT_GRANT_TIMEOUT_MS;
	uint32_t budget_us = pool->descriptor.quiet.budget_us;
	struct node_quiet_window window;
	struct stat first, second;
	bool odd, consistent, granted;
	char name[NODE_POOL_FILE_NAME_MAX];
	int fd;

	if (budget_us == 0) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"its process grants no quiet window (reader_wait_us=0)");
		return false;
	}
	/* another user's driver is not ours to slow down, even as root (nor
	 * by a reader that became that user to read its node) */
	if (fstat(attempt->fd, &first) != 0 || first.st_uid != geteuid()
		|| (options != NULL && options->foreign)) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"another user's pool (uid %u): no quiet window is asked for",
			(unsigned)first.st_uid);
		return false;
	}
	node_pool_file_name(name, pool->area);
	fd = openat(pool->node->dir_fd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &second) != 0 || first.st_ino != second.st_ino
		|| first.st_dev != second.st_dev || !S_ISREG(second.st_mode)) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"no quiet window could be asked for: the pool file cannot be written");
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (!pread_full(attempt->fd, &window, sizeof(window), quiet_offset(attempt, 0))) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"no quiet window could be asked for: the descriptor cannot be read");
		close(fd);
		return false;
	}
	uint32_t request = window.requested + 1;
	if (pwrite(fd, &request, sizeof(request),
		    (off_t)quiet_offset(attempt, offsetof(struct node_quiet_window, requested)))
		!= (ssize_t)sizeof(request)) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"no quiet window could be asked for: %s", strerror(errno));
		close(fd);
		return false;
	}
	at_step(options, NODE_QUIET_ASKED);
	granted = wait_for_grant(attempt->fd,
		quiet_offset(attempt, offsetof(struct node_quiet_window, granted)), request,
		timeout_ms);
	if (granted)
		at_step(options, NODE_QUIET_GRANTED);
	/* not granted: no call came in all that time, so the pool may be still */
	consistent = copy_between_seqs(pool, attempt, &odd);
	if (granted)
		at_step(options, NODE_QUIET_COPIED);
	/* over, granted or not: a request left behind would cost a later call
	 * the budget for nobody */
	(void)!pwrite(fd, &request, sizeof(request),
		(off_t)quiet_offset(attempt, offsetof(struct node_quiet_window, finished)));
	close(fd);
	if (consistent) {
		pool->copy = granted ? NODE_COPY_QUIET : NODE_COPY_CONSISTENT;
		return true;
	}
	if (granted)
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool changed during its quiet window too (a copy longer than "
			"reader_wait_us=%u)",
			budget_us);
	else
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"no pool call granted a quiet window within %u ms", timeout_ms);
	return false;
}

static void parse_log(struct node_pool *pool)
{
	const struct node_pool_descriptor *d = &pool->descriptor;
	uint64_t control_end = d->guard_offset != 0 ? d->guard_offset : d->heap_offset;
	const struct pool_log *log;

	if (d->log_offset == 0) {
		snprintf(pool->log_problem, sizeof(pool->log_problem), "the pool has no log");
		return;
	}
	log = (const struct pool_log *)(pool->image + d->log_offset);
	/* descriptor_sound() made sure the log's header fits */
	if (log->capacity
		> (control_end - d->log_offset - sizeof(*log)) / sizeof(struct pool_log_event)) {
		snprintf(pool->log_problem, sizeof(pool->log_problem),
			"the log claims %u events, more than its region holds", log->capacity);
		return;
	}
	pool->log = log;
}

enum node_status node_pool_load(struct node *node, int area,
	const struct node_snapshot_options *options, struct node_pool **out,
	struct node_error *error)
{
	unsigned tries = options != NULL && options->tries != 0 ? options->tries : DEFAULT_TRIES;
	struct copy_attempt attempt = { .fd = -1 };
	bool consistent = false, odd = false;
	struct node_pool *pool;
	struct stat status;
	char why[200];
	uint64_t offset;

	*out = NULL;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL) {
		set_error(error, NODE_STATUS_DAMAGED, "out of memory");
		return error->status;
	}
	pool->node = node;
	pool->area = area;
	pool->image = MAP_FAILED;
	if (node_pool_read_descriptor(node, area, &pool->descriptor, NULL, &consistent, error)
		!= NODE_STATUS_OK)
		goto fail;
	attempt.fd = open_pool_file(node, area, O_RDONLY, &status, error);
	if (attempt.fd < 0)
		goto fail;
	if (locate_descriptor(node, area, attempt.fd, (uint64_t)status.st_size, &offset, error)
		!= NODE_STATUS_OK)
		goto fail;
	if (offset != pool->descriptor.control_offset) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d: its descriptor moved", area);
		goto fail;
	}
	attempt.control_offset = offset;
	pool->file_bytes = (uint64_t)status.st_size;
	pool->image_bytes = (size_t)pool->descriptor.area_size;
	pool->image = mmap(NULL, pool->image_bytes, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool->image == MAP_FAILED) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d: no memory for a %zu-byte copy: %s",
			area, pool->image_bytes, strerror(errno));
		goto fail;
	}

	consistent = false;
	for (unsigned attempt_number = 0; attempt_number < tries && !consistent; attempt_number++) {
		if (attempt_number > 0)
			pause_before_retry(attempt_number);
		consistent = copy_between_seqs(pool, &attempt, &odd);
		if (attempt.truncated)
			break;
		if (!node->alive && attempt.copied)
			break; /* nobody will finish a change any more */
	}
	if (consistent) {
		pool->copy = NODE_COPY_CONSISTENT;
	} else if (!attempt.truncated && node->alive) {
		consistent = copy_in_quiet_window(pool, &attempt, options);
	} else if (!attempt.truncated) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the process died in the middle of a change to the pool");
	}
	if (!consistent) {
		/* a live pool that never held still: what the last copy shows */
		pool->copy = node->alive ? NODE_COPY_PARTIAL : NODE_COPY_INCONSISTENT;
		if (!attempt.copied && !attempt.truncated
			&& !copy_file(attempt.fd, pool->image, pool->image_bytes, true))
			attempt.truncated = true;
		if (pool->copy_problem[0] == '\0')
			snprintf(pool->copy_problem, sizeof(pool->copy_problem),
				"the pool kept changing during every copy");
	}
	if (attempt.truncated || fstat(attempt.fd, &status) != 0
		|| (uint64_t)status.st_size < pool->image_bytes) {
		set_error(error, NODE_STATUS_DAMAGED,
			"pool %d of process %d: the file ended before the %zu-byte area "
			"(truncated while it was read)",
			area, (int)node->pid, pool->image_bytes);
		goto fail;
	}
	close(attempt.fd);
	attempt.fd = -1;

	/* from here on only the copy counts: check its own descriptor again */
	memcpy(&pool->descriptor, pool->image + offset, sizeof(pool->descriptor));
	if (!descriptor_sound(&pool->descriptor, pool->image_bytes, area, offset, why,
		    sizeof(why))) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d of process %d is damaged: %s", area,
			(int)node->pid, why);
		goto fail;
	}
	terminate(pool->descriptor.name, sizeof(pool->descriptor.name));
	if (pool->descriptor.creator.frame_count > AREA_MALLOC_MAX_FRAMES)
		pool->descriptor.creator.frame_count = AREA_MALLOC_MAX_FRAMES;
	node_interrupted_read(pool);
	if (pool->interrupted.caught)
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the process died in the middle of a change to the pool: %s by thread T%u, %s",
			node_operation_name(pool->interrupted.operation), pool->interrupted.thread,
			node_step_text(pool->interrupted.step));
	if (pool->copy == NODE_COPY_PARTIAL)
		node_warn(node,
			"pool %d: changing too fast: partial view (%s); what it shows "
			"is not verified",
			area, pool->copy_problem);
	else if (pool->copy == NODE_COPY_INCONSISTENT)
		node_warn(node, "pool %d: the copy may be inconsistent: %s", area,
			pool->copy_problem);

	if (!heap_walk_image(pool->image + pool->descriptor.heap_offset,
		    pool->descriptor.heap_bytes,
		    (uintptr_t)(pool->descriptor.base_address + pool->descriptor.heap_offset),
		    count_chunk, pool, &pool->heap_problem)) {
		/* the walk stopped at the header above the last chunk it passed */
		pool->heap_problem_at = pool->walked_to;
		node_warn(node, "pool %d: %s; blocks after the damage are not shown", area,
			pool->heap_problem);
	}
	if (pool->damaged_blocks > 0)
		node_warn(node, "pool %d: %zu block(s) with a damaged header (see check)", area,
			pool->damaged_blocks);
	node_guarded_count(pool);
	parse_log(pool);
	/* the handles in this copy were published before it was made */
	node_stacks_refresh(node);
	*out = pool;
	return NODE_STATUS_OK;
fail:
	if (attempt.fd >= 0)
		close(attempt.fd);
	node_pool_release(pool);
	return error->status;
}

void node_pool_release(struct node_pool *pool)
{
	if (pool == NULL)
		return;
	if (pool->image != MAP_FAILED && pool->image != NULL)
		munmap(pool->image, pool->image_bytes);
	free(pool);
}
