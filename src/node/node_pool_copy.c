/*
 * node_pool_copy.c - copying a pool file into private memory under the
 * seqlock protocol (node_format.h), the robust-lock fallback, and loading
 * a pool from its copy (node_pool_load).
 *
 * The protocol: a copy counts when the descriptor's seq was even before
 * it, unchanged after it, and the same in the copy. After a few failed
 * tries, and only while the process lives, the pool's robust lock is taken
 * with a timeout for one bounded copy (EOWNERDEAD is repaired with
 * pthread_mutex_consistent), and only in a file of the reader's own user. A copy that stays inconsistent is used and
 * said to be so (node_pool.copy): a hung or dead writer must not make the
 * pool unreadable.
 *
 * Invariants: the copy is anonymous memory filled with pread, holes
 * skipped (SEEK_DATA/SEEK_HOLE) and given back as zero pages; the only
 * mapping of the file is the page(s) of the lock, mapped only after the
 * lock word was read and found to be a process-shared robust mutex, and
 * held for one copy. From the copy on, only the copy counts: its own
 * descriptor is checked again before anything in it is used.
 *
 * Locking: the pool's lock (another process's robust mutex) is held only
 * around copy_between_seqs in copy_under_lock: never while anything is
 * parsed or printed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#define DEFAULT_LOCK_TIMEOUT_MS 200

static void zero_range(unsigned char *buffer, size_t from, size_t to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t first_page = (from + page - 1) & ~(page - 1), last_page = to & ~(page - 1);

	if (from >= to)
		return;
	/* whole pages go back to the kernel, which hands out zeros again: zeroing
	 * a large hole by hand would commit the memory the hole saves */
	if (first_page < last_page && madvise(buffer + first_page, last_page - first_page,
		MADV_DONTNEED) == 0) {
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

/* A reference mutex's type word: process-shared, robust, of type (-1: the
 * default, which glibc encodes apart from an explicit PTHREAD_MUTEX_NORMAL). */
static int reference_kind(int type)
{
	pthread_mutexattr_t attributes;
	pthread_mutex_t reference;
	int kind;

	pthread_mutexattr_init(&attributes);
	if (type >= 0)
		pthread_mutexattr_settype(&attributes, type);
	pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&reference, &attributes);
	kind = reference.__data.__kind;
	pthread_mutex_destroy(&reference);
	pthread_mutexattr_destroy(&attributes);
	return kind;
}

/* Does the type word say process-shared robust mutex (glibc's encoding)? */
static bool is_shared_robust_mutex(const pthread_mutex_t *mutex)
{
	static const int types[] = { -1, PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_ERRORCHECK,
		PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ADAPTIVE_NP };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (reference_kind(types[i]) == mutex->__data.__kind)
			return true;
	}
	return false;
}

struct copy_attempt {
	int fd;
	uint64_t control_offset;
	bool copied;		/* the buffer holds some copy */
	bool truncated;		/* the file ended early during a copy */
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
	memcpy(&copied, pool->image + attempt->control_offset
		+ offsetof(struct node_pool_descriptor, seq), sizeof(copied));
	*seq_odd = before % 2 != 0;
	return before % 2 == 0 && before == after && copied == before;
}

/*
 * The fallback: the pool's robust lock for one copy. Maps only the page(s)
 * of the lock, and only after checking that the file there is a robust
 * process-shared mutex, so a forged lock word cannot send us into a PI or
 * priority-protected futex path.
 */
static void copy_under_lock(struct node_pool *pool, struct copy_attempt *attempt,
	const struct node_snapshot_options *options)
{
	unsigned timeout_ms = options != NULL && options->lock_timeout_ms != 0
		? options->lock_timeout_ms : DEFAULT_LOCK_TIMEOUT_MS;
	const struct node_pool_descriptor *d = &pool->descriptor;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t map_offset = d->lock_offset & ~(uint64_t)(page - 1);
	size_t map_bytes = (size_t)((d->lock_offset - map_offset + sizeof(pthread_mutex_t)
		+ page - 1) & ~(uint64_t)(page - 1));
	struct stat first, second;
	pthread_mutex_t lock_word;
	struct timespec deadline;
	unsigned char *mapping;
	bool consistent, odd;
	char name[32];
	int fd, result;

	snprintf(name, sizeof(name), NODE_POOL_FILE_PREFIX "%d", pool->area);
	fd = openat(pool->node->dir_fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(attempt->fd, &first) != 0 || fstat(fd, &second) != 0
		|| first.st_ino != second.st_ino || first.st_dev != second.st_dev
		|| (uint64_t)second.st_size < map_offset + map_bytes) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock could not be reached");
		if (fd >= 0)
			close(fd);
		return;
	}
	/* glibc follows pointers kept inside a robust mutex when it unlocks
	 * it: a lock in another user's file would let that user choose what
	 * this process writes where. Only the reader's own nodes' locks are
	 * taken (a user can only hurt their own reader). */
	if (second.st_uid != geteuid()) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock is in another user's file (uid %u): it is never taken",
			(unsigned)second.st_uid);
		close(fd);
		return;
	}
	if (!pread_full(fd, &lock_word, sizeof(lock_word), d->lock_offset)
		|| !is_shared_robust_mutex(&lock_word)) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock is not a process-shared robust mutex; it was not taken");
		close(fd);
		return;
	}
	mapping = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_offset);
	if (mapping == MAP_FAILED) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock could not be mapped: %s", strerror(errno));
		close(fd);
		return;
	}
	pthread_mutex_t *lock = (pthread_mutex_t *)(mapping + (d->lock_offset - map_offset));
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	result = pthread_mutex_timedlock(lock, &deadline);
	if (result == EOWNERDEAD) {
		/* a holder died (a reader, or the driver mid-change): the lock is
		 * ours to repair; the seq check below says whether the data is whole */
		pthread_mutex_consistent(lock);
		pool->owner_died = true;
		result = 0;
	}
	if (result == 0) {
		consistent = copy_between_seqs(pool, attempt, &odd);
		pthread_mutex_unlock(lock);
		if (consistent)
			pool->copy = NODE_COPY_LOCKED;
		else
			snprintf(pool->copy_problem, sizeof(pool->copy_problem),
				"the pool was %s even under its lock%s",
				odd ? "in the middle of a change" : "changing",
				pool->owner_died ? " (its last holder died holding it)" : "");
	} else {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock could not be taken within %u ms (%s)", timeout_ms,
			strerror(result));
	}
	munmap(mapping, map_bytes);
	close(fd);
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
	if (log->capacity > (control_end - d->log_offset - sizeof(*log))
			/ sizeof(struct pool_log_event)) {
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
	if (node_pool_read_descriptor(node, area, &pool->descriptor, &consistent, error)
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
	} else if (!attempt.truncated && node->alive && node->pid == getpid()) {
		/* our own process (the in-process debugger commands): a thread of
		 * ours may hold that very lock, and a second mapping of it is no
		 * lock of ours to take */
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool kept changing during every copy (this process's own pool)");
	} else if (!attempt.truncated && node->alive) {
		copy_under_lock(pool, &attempt, options);
	} else if (!attempt.truncated) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the process died in the middle of a change to the pool");
	}
	if (!consistent && pool->copy != NODE_COPY_LOCKED) {
		pool->copy = NODE_COPY_INCONSISTENT;
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
			"(truncated while it was read)", area, (int)node->pid, pool->image_bytes);
		goto fail;
	}
	close(attempt.fd);
	attempt.fd = -1;

	/* from here on only the copy counts: check its own descriptor again */
	memcpy(&pool->descriptor, pool->image + offset, sizeof(pool->descriptor));
	if (!descriptor_sound(&pool->descriptor, pool->image_bytes, area, offset, why, sizeof(why))) {
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
	if (pool->copy == NODE_COPY_INCONSISTENT)
		node_warn(node, "pool %d: the copy may be inconsistent: %s", area,
			pool->copy_problem);
	if (pool->owner_died)
		node_warn(node, "pool %d: the pool's lock was held by a process that died; "
			"it was made consistent again", area);

	if (!heap_walk_image(pool->image + pool->descriptor.heap_offset, pool->descriptor.heap_bytes,
		(uintptr_t)(pool->descriptor.base_address + pool->descriptor.heap_offset), count_chunk,
		pool, &pool->heap_problem)) {
		/* the walk stopped at the header above the last chunk it passed */
		pool->heap_problem_at = pool->walked_to;
		node_warn(node, "pool %d: %s; blocks after the damage are not shown", area,
			pool->heap_problem);
	}
	if (pool->damaged_blocks > 0)
		node_warn(node, "pool %d: %zu block(s) with a damaged header (see check)", area,
			pool->damaged_blocks);
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

