/*
 * debug_pool.c - the debug build's pool operations (see debug_pool.h).
 *
 * Detection points: at free and realloc (pointer classification, header,
 * canaries, double free), when a block leaves the quarantine (poison), on
 * an explicit check, at delete_pool (poison and leaks), at unload and at
 * exit (leaks). The order in which kinds win when several apply is
 * invalid-pool, cross-pool-free, double-free, invalid-free; after any of
 * them the faulty operation is refused: nothing unknown is ever handed to
 * the heap.
 *
 * Invariants (checked by debug_check_pool, on top of heap_validate):
 *  - every used chunk of a pool's heap holds a debug block whose header is
 *    intact; LIVE blocks have intact canaries, QUARANTINED ones intact
 *    poison;
 *  - the quarantine FIFO links exactly the QUARANTINED blocks, oldest
 *    first, and quarantine_bytes/blocks count them;
 *  - used_bytes and live_blocks count the LIVE blocks' requested sizes;
 *  - the allocation log keeps its capacity and slot cursor
 *    (pool_log_validate).
 *
 * Locking: see debug_pool.h. Pending reports are collected under the pool
 * lock as copies and made after it is released.
 */
#include "config.h"

#include <execinfo.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>

#include "core/heap.h"
#include "core/pool.h"
#include "core/pool_registry.h"
#include "format/debug_block.h"
#include "kernel/area_internal.h"
#include "debug/debug_pool.h"
#include "format/pool_log.h"
#include "debug/report.h"
#include "debug/shadow.h"
#include "format/node_format.h"
#include "debug/node_writer.h"

#define MAX_PENDING 8
/* The initial file space of a lazy pool past its heap offset. */
#define INITIAL_HEAP_RESERVE (64 * 1024)
#define POOL_NAME_MAX 32

struct debug_pool {
	/* what readers of the node see: name, creator, statistics, layout */
	struct node_pool_descriptor d;
	/* private to this process */
	struct pool_log *log;	/* at d.log_offset */
	uint32_t next_sequence;
	struct debug_block_header *quarantine_head; /* oldest */
	struct debug_block_header *quarantine_tail;
	size_t quarantine_limit;
	int fd;			/* the pool's node file, -1 without one */
	uint64_t reserved_end;	/* file space reserved up to this offset */
	size_t root_region;	/* bytes from base registered with LeakSanitizer */
	/* blocks whose damaged header a call already reported (and left alone):
	 * the checks at delete_pool and exit do not report them again */
	uintptr_t reported_headers[16];
	uint32_t reported_header_count;
};

struct pending {
	struct error_report report;
	area_malloc_owner detected;
	area_malloc_owner allocated;
	area_malloc_owner freed;
	area_malloc_owner pool_creator;
	area_malloc_owner owner_creator;
	char pool_name[POOL_NAME_MAX];
	char owner_pool_name[POOL_NAME_MAX];
	char detail[192];
};

struct pending_list {
	struct pending items[MAX_PENDING];
	size_t count;
	size_t dropped;
};

static struct debug_options options;
static struct debug_layout layout;
static _Atomic uint64_t allocation_attempts;
static uint64_t fail_random_state;
static mutex fail_lock = MUTEX_INITIALIZER("area_malloc fault injection");

/* ---- owner tags ---- */

/* initial-exec: a module is dlopen()ed, and the default model would call
 * __tls_get_addr() on every allocation (as thread_cache.c explains) */
static __thread uint32_t cached_thread __attribute__((tls_model("initial-exec")));
/* Every thread may fill it in (with the same value): relaxed atomics, so the
 * first calls of several threads at once are not a data race. */
static _Atomic pid_t cached_team;

static uint32_t current_thread(void)
{
	if (cached_thread == 0)
		cached_thread = (uint32_t)syscall(SYS_gettid);
	return cached_thread;
}

static pid_t current_team(void)
{
	pid_t team = atomic_load_explicit(&cached_team, memory_order_relaxed);

	if (team == 0) {
		team = getpid();
		atomic_store_explicit(&cached_team, team, memory_order_relaxed);
	}
	return team;
}

/*
 * Owner tags take their time from the coarse monotonic clock (the kernel's
 * tick, a few milliseconds): reading it costs a load, where the precise
 * clock can cost more than the rest of a call on a virtual machine. In the
 * same microseconds as system_time().
 */
static bigtime_t owner_clock(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return (bigtime_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void capture_owner(area_malloc_owner *owner, uintptr_t caller)
{
	owner->thread = (thread_id)current_thread();
	owner->team = current_team();
	owner->sequence = 0;
	owner->time = owner_clock();
	owner->frames[0] = caller;
	owner->frame_count = 1;
	if (options.stack_depth > 1) {
		void *trace[AREA_MALLOC_MAX_FRAMES + 4];
		int depth = backtrace(trace, (int)options.stack_depth + 4);
		int start = 0;
		/* frames up to and including the caller's own are ours: skip them */
		while (start < depth && (uintptr_t)trace[start] != caller)
			start++;
		for (int i = start + 1; i < depth && owner->frame_count < options.stack_depth; i++)
			owner->frames[owner->frame_count++] = (uintptr_t)trace[i];
	}
}

/* ---- pool bookkeeping ---- */

static struct debug_pool *debug_of(struct pool *pool)
{
	return pool->control;
}

static size_t control_bytes(void)
{
	return ((sizeof(struct debug_pool) + 63) & ~(size_t)63) + pool_log_bytes(options.log_size);
}

static void describe_pool(struct pool *pool, struct report_pool *out, char *name,
	area_malloc_owner *creator)
{
	struct debug_pool *debug = debug_of(pool);

	memcpy(name, debug->d.name, POOL_NAME_MAX);
	*creator = debug->d.creator;
	out->id = pool->id;
	out->area = pool->area;
	out->name = name;
	out->creator = creator;
}

/* Only the counters: the items are written as they are used (a list is
 * some 18 KB, which zeroing on every call would cost more than the call). */
static inline void pending_init(struct pending_list *list)
{
	list->count = 0;
	list->dropped = 0;
}

static struct pending *new_pending(struct pending_list *list, const char *kind, const char *what,
	const void *address, const area_malloc_owner *detected)
{
	struct pending *pending;

	if (list->count == MAX_PENDING) {
		list->dropped++;
		return NULL;
	}
	pending = &list->items[list->count++];
	memset(pending, 0, sizeof(*pending));
	pending->report.kind = kind;
	pending->report.what = what;
	pending->report.address = address;
	if (detected != NULL) {
		pending->detected = *detected;
		pending->report.detected_by = &pending->detected;
	}
	return pending;
}

static void pending_set_pool(struct pending *pending, struct pool *pool)
{
	describe_pool(pool, &pending->report.pool, pending->pool_name, &pending->pool_creator);
	pending->report.pool_known = true;
}

static void pending_set_block(struct pending *pending, const struct debug_block_header *header,
	bool header_ok)
{
	area_malloc_owner freed_by;

	if (!header_ok)
		return;
	pending->report.size = header->size;
	pending->report.size_known = true;
	debug_block_owner(&layout, header, &pending->allocated);
	pending->report.allocated_by = &pending->allocated;
	if (debug_block_state(header) == BLOCK_QUARANTINED
		&& debug_block_freed_by(&layout, header, &freed_by, NULL)) {
		pending->freed = freed_by;
		pending->report.freed_by = &pending->freed;
	}
}

static void collect_log_event(const struct pool_log_event *event, void *context)
{
	struct error_report *report = context;

	report->log[report->log_count++] = *event;
}

static void pending_set_log(struct pending *pending, struct pool *pool, const void *address)
{
	pending->report.log_count = 0;
	pool_log_newest(debug_of(pool)->log, address, REPORT_MAX_LOG_EVENTS, collect_log_event,
		&pending->report);
}

static void flush_pending_reports(struct pending_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		struct pending *pending = &list->items[i];
		pending->report.detail = pending->detail[0] != '\0' ? pending->detail : NULL;
		pending->report.pool.name = pending->pool_name;
		pending->report.owner_pool.name = pending->owner_pool_name;
		report_error(&pending->report);
	}
	if (list->dropped > 0)
		dprintf("area_malloc: %zu more problem(s) found in the same call, not reported\n",
			list->dropped);
	list->count = list->dropped = 0;
}

/* Makes the reports collected under the pool lock; most calls have none. */
static inline void flush_pending(struct pending_list *list)
{
	if (__builtin_expect(list->count != 0 || list->dropped != 0, 0))
		flush_pending_reports(list);
}

static void log_event(struct pool *pool, enum pool_log_op op, const void *address, size_t size,
	const area_malloc_owner *owner)
{
	pool_log_append(debug_of(pool)->log, op, address, size, owner->frames[0], owner->time,
		owner->sequence, (uint32_t)owner->thread);
}

/* ---- locking: the pool lock, and the seqlock that pooldump reads ---- */

/*
 * Every pool operation runs between these. The descriptor's seq is odd while
 * the pool may change, so a reader copying the pool file knows when its copy
 * is torn (node_format.h, "Consistency").
 */
static bool debug_lock(struct pool *pool)
{
	bool locked = pool_lock(pool);
	struct debug_pool *debug = debug_of(pool);

	__atomic_store_n(&debug->d.seq, debug->d.seq + 1, __ATOMIC_RELAXED);
	/* The fence orders the odd seq before the pool's changes for readers in
	 * other processes (pread of the pool file). GCC's ThreadSanitizer does not
	 * model fences and warns; no thread of this process reads seq without
	 * the pool lock, so there is nothing for it to check here. */
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
	__atomic_thread_fence(__ATOMIC_RELEASE);
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
	return locked;
}

static void debug_unlock(struct pool *pool, bool locked)
{
	struct debug_pool *debug = debug_of(pool);

	__atomic_store_n(&debug->d.seq, debug->d.seq + 1, __ATOMIC_RELEASE);
	pool_unlock(pool, locked);
}

/* ---- backing file space (pools published in the node) ---- */

/*
 * Before the heap hands out memory, the file behind the pool must have the
 * space: on a full tmpfs, touching an unreserved page would be SIGBUS in the
 * driver, never a NULL. The heap writes at most request + HEAP_SPLIT_SLACK
 * bytes past its touched mark.
 */
static bool reserve_for(struct pool *pool, size_t bytes)
{
	struct debug_pool *debug = debug_of(pool);
	uint64_t upto;

	if (debug->fd < 0)
		return true;
	upto = (uint64_t)(heap_touched_end(pool->heap) - (uintptr_t)pool->base) + bytes
		+ HEAP_SPLIT_SLACK;
	if (upto <= debug->reserved_end)
		return true; /* nearly every call: space is reserved a megabyte ahead */
	if (!node_reserve(debug->fd, &debug->reserved_end, upto, pool->area_size))
		return false;
	debug->d.reserved_bytes = debug->reserved_end;
	return true;
}

/* ---- what the sanitizers may see (shadow.h) ---- */

/* Before the module reads or writes a block's memory itself. */
static void block_open(struct debug_block_header *header, size_t usable)
{
	if (shadow_active)
		shadow_expose(header, usable);
}

/* After: hide what the driver must not touch, by the block's state. */
static void block_close(struct debug_block_header *header, size_t usable)
{
	if (!shadow_active)
		return;
	if (debug_block_state(header) == BLOCK_LIVE && debug_block_header_ok(&layout, header, usable)) {
		size_t size = header->size;
		shadow_hide(header, layout.front_size);
		shadow_hide((char *)header + layout.front_size + size,
			usable - layout.front_size - size);
	} else {
		shadow_hide(header, usable);
	}
}

/* A chunk given back to the heap is free space. */
static void free_space_close(struct debug_block_header *header, size_t usable)
{
	/* the heap keeps its free-list links in the first 16 bytes */
	if (shadow_active && shadow_hides_free_space() && usable > 16)
		shadow_hide((char *)header + 16, usable - 16);
}

/* ---- quarantine ---- */

/* Returns a block leaving quarantine to the heap, reporting what its check
 * found. link_damaged: its quarantine link had been overwritten (a write
 * into the freed block). */
static void release_quarantined(struct pool *pool, struct debug_block_header *header,
	size_t usable, struct debug_block_finding finding, bool link_damaged,
	struct pending_list *pending)
{
	if (finding.problem != BLOCK_OK || link_damaged) {
		void *user = debug_block_user(&layout, header);
		struct pending *report = new_pending(pending, "use-after-free", "reuse", user, NULL);
		if (report != NULL) {
			pending_set_pool(report, pool);
			pending_set_block(report, header, debug_block_header_ok(&layout, header, usable));
			if (finding.problem == BLOCK_OK) {
				/* only the link, the first word of the leading canary */
				report->report.offset = -(long)(layout.front_size - layout.header_size);
				report->report.offset_known = true;
			} else {
				report->report.offset = (long)finding.offset;
				report->report.offset_known = finding.problem == BLOCK_POISON_DAMAGED;
			}
			snprintf(report->detail, sizeof(report->detail),
				"a freed block was written while in quarantine (found when it left "
				"the quarantine); the damage is discarded with the block");
			pending_set_log(report, pool, user);
		}
		debug_of(pool)->d.errors++;
	}
	heap_free(pool->heap, header);
	free_space_close(header, usable);
}

/* A quarantine link worth following: a used chunk holding a quarantined block. */
static bool quarantine_link_ok(struct pool *pool, struct debug_block_header *next)
{
	size_t usable;
	bool ok;

	if (next == NULL)
		return true;
	if (!heap_block_is_live(pool->heap, next))
		return false;
	/* the state is enough to follow the link: the block's header and record
	 * are checked in full when it leaves the quarantine */
	usable = heap_usable_size(pool->heap, next);
	block_open(next, usable);
	ok = debug_block_state(next) == BLOCK_QUARANTINED;
	block_close(next, usable);
	return ok;
}

/*
 * Starts fetching the block a quarantine link names, before it is followed.
 * Blocks leave the quarantine long after they entered it, so each is cold:
 * following the link (its chunk and debug headers) and, at the next pop,
 * checking its free record and poison would each wait for memory. Asked for
 * now, those lines arrive while the block ahead of it is checked and freed.
 * A prefetch never faults, so a damaged link costs nothing here. (Fetching
 * the whole block, and the chunk above it that heap_free() merges with,
 * measured no faster.)
 */
static void prefetch_quarantined(struct debug_block_header *next)
{
	const char *start = (const char *)next - HEAP_BLOCK_OVERHEAD;
	const char *user = debug_block_user(&layout, next);

	for (const char *line = start; line <= user; line += 64)
		__builtin_prefetch(line, 0, 0);
}

static void rebuild_quarantine_after_damage(struct pool *pool);

/*
 * Takes blocks off the quarantine, oldest first, until it holds keep_bytes
 * at most. The oldest block's link is read and its target prefetched first,
 * then the block's poison is checked, then the link is followed: the one
 * cache miss overlaps the other work.
 */
static void quarantine_drain(struct pool *pool, size_t keep_bytes, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);

	while (debug->d.quarantined_bytes > keep_bytes) {
		struct debug_block_header *header = debug->quarantine_head;
		struct debug_block_header *next;
		struct debug_block_finding finding;
		bool link_damaged;
		size_t usable;

		if (header == NULL) {
			/* a damaged link cut the FIFO short: find the rest again */
			rebuild_quarantine_after_damage(pool);
			if (debug->quarantine_head == NULL)
				break;
			continue;
		}
		usable = heap_usable_size(pool->heap, header);
		block_open(header, usable);
		next = debug_block_quarantine_next(&layout, header);
		if (next != NULL)
			prefetch_quarantined(next);
		finding = debug_block_check(&layout, header, usable);
		link_damaged = !quarantine_link_ok(pool, next);
		if (link_damaged)
			next = NULL;
		debug->quarantine_head = next;
		if (next == NULL)
			debug->quarantine_tail = NULL;
		debug->d.quarantined_blocks--;
		debug->d.quarantined_bytes -= usable;
		release_quarantined(pool, header, usable, finding, link_damaged, pending);
		if (link_damaged)
			rebuild_quarantine_after_damage(pool);
	}
}

/* Links a quarantined block (its own link already NULL) behind the tail. */
static void quarantine_append(struct pool *pool, struct debug_block_header *header, size_t usable)
{
	struct debug_pool *debug = debug_of(pool);

	if (debug->quarantine_tail != NULL) {
		struct debug_block_header *tail = debug->quarantine_tail;
		size_t tail_usable = heap_usable_size(pool->heap, tail);
		block_open(tail, tail_usable);
		debug_block_set_next(&layout, tail, header);
		block_close(tail, tail_usable);
	} else {
		debug->quarantine_head = header;
	}
	debug->quarantine_tail = header;
	debug->d.quarantined_blocks++;
	debug->d.quarantined_bytes += usable;
}

static void quarantine_push(struct pool *pool, struct debug_block_header *header, size_t usable,
	struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);

	if (debug->quarantine_limit == 0) {
		heap_free(pool->heap, header);
		free_space_close(header, usable);
		return;
	}
	quarantine_append(pool, header, usable);
	block_close(header, usable);
	if (debug->d.quarantined_bytes > debug->quarantine_limit)
		quarantine_drain(pool, debug->quarantine_limit, pending);
}

struct quarantine_rebuild {
	struct pool *pool;
};

static void relink_quarantined(void *chunk, size_t usable, bool used, void *context)
{
	struct pool *pool = ((struct quarantine_rebuild *)context)->pool;
	struct debug_block_header *header = chunk;
	bool quarantined;

	if (!used)
		return;
	block_open(header, usable);
	quarantined = debug_block_header_ok(&layout, header, usable)
		&& debug_block_state(header) == BLOCK_QUARANTINED;
	block_close(header, usable);
	if (!quarantined)
		return;
	/* rewrite the block's link even if its record was damaged: the
	 * block is released (and its damage reported) when it leaves */
	block_open(header, usable);
	debug_block_set_next(&layout, header, NULL);
	block_close(header, usable);
	quarantine_append(pool, header, usable);
}

/* A damaged free record broke the FIFO: relink every quarantined block. */
static void rebuild_quarantine_after_damage(struct pool *pool)
{
	struct debug_pool *debug = debug_of(pool);
	struct quarantine_rebuild rebuild = { pool };

	debug->quarantine_head = debug->quarantine_tail = NULL;
	debug->d.quarantined_blocks = 0;
	debug->d.quarantined_bytes = 0;
	heap_walk(pool->heap, relink_quarantined, &rebuild);
}

/* ---- fault injection ---- */

static uint64_t next_random(void)
{
	/* xorshift64*: enough for failure injection, reproducible by seed */
	uint64_t x = fail_random_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fail_random_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static bool should_inject_failure(struct pool *pool, uintptr_t caller)
{
	uint64_t attempt;
	bool fail = false;

	if (options.fail_nth == 0 && options.fail_rate <= 0.0)
		return false;
	if (options.fail_pool != 0 && pool->area != options.fail_pool)
		return false;
	if (options.fail_caller[0] != '\0' && !reporter_caller_matches(caller, options.fail_caller))
		return false;
	attempt = atomic_fetch_add(&allocation_attempts, 1) + 1;
	if (options.fail_nth != 0 && attempt == options.fail_nth)
		fail = true;
	if (!fail && options.fail_rate > 0.0) {
		mutex_lock(&fail_lock);
		fail = (double)(next_random() >> 11) / (double)(1ull << 53) < options.fail_rate;
		mutex_unlock(&fail_lock);
	}
	return fail;
}

/* ---- fork ---- */

/*
 * A forked child must own private copies of its pools (the release build's
 * meaning of fork), never pages shared with the parent through the node
 * files. The copies must be the pools as they were at fork: so the parent
 * takes every pool's lock before fork (as glibc does with its arenas) and
 * keeps them until the child reports through a pipe that it has made its
 * copies; the child replaces each file-backed pool by a private copy at the
 * same address. With fork_nodes=1 the child then publishes its own node and
 * moves each copy into a file of it. Copies go through file descriptors
 * (pread, copy_file_range), never through the module reading pool memory,
 * which AddressSanitizer may have poisoned.
 */
static int fork_pipe[2] = { -1, -1 };
static bool fork_pools_locked;

static void has_file_backed_pool(struct pool *pool, const void *id, void *context)
{
	(void)id;
	if (debug_of(pool)->fd >= 0)
		*(bool *)context = true;
}

static void before_fork(void)
{
	bool any_file = false;

	pool_registry_fork_prepare();
	pool_registry_for_each_held(has_file_backed_pool, &any_file);
	fork_pools_locked = !__libc_single_threaded;
	if (fork_pools_locked)
		pool_lock_all_held();
	if (!any_file || pipe2(fork_pipe, O_CLOEXEC) != 0)
		fork_pipe[0] = fork_pipe[1] = -1;
}

static void after_fork_in_parent(void)
{
	if (fork_pipe[0] >= 0) {
		struct pollfd wait_for_child = { fork_pipe[0], POLLIN, 0 };
		char done;
		close(fork_pipe[1]);
		/* the child copies what it has used of its pools; a child that
		 * dies first closes the pipe, which ends the wait too */
		if (poll(&wait_for_child, 1, 30000) > 0)
			(void)!read(fork_pipe[0], &done, 1);
		close(fork_pipe[0]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
	if (fork_pools_locked)
		pool_unlock_all_held();
	pool_registry_fork_parent();
}

/* Moves a pool into a file of the child's node; false when it could not. */
static bool republish_pool(struct pool *pool, int parent_fd, uint64_t reserved_end)
{
	struct debug_pool *debug = debug_of(pool);
	int fd = node_pool_file_create(pool->area_size, reserved_end, false);
	loff_t from = 0, to = 0;
	size_t left = reserved_end;

	if (fd < 0)
		return false;
	while (left > 0) {
		ssize_t copied = copy_file_range(parent_fd, &from, fd, &to, left, 0);
		if (copied <= 0)
			break;
		left -= (size_t)copied;
	}
	/* and the last page, where the heap keeps its end sentinel */
	if (left == 0 && reserved_end < pool->area_size) {
		from = to = (loff_t)(pool->area_size - B_PAGE_SIZE);
		left = B_PAGE_SIZE;
		while (left > 0) {
			ssize_t copied = copy_file_range(parent_fd, &from, fd, &to, left, 0);
			if (copied <= 0)
				break;
			left -= (size_t)copied;
		}
	}
	if (left != 0 || mmap(pool->base, pool->area_size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		node_pool_file_discard(fd);
		return false;
	}
	if (pool->guard_offset)
		mprotect((char *)pool->base + pool->guard_offset, B_PAGE_SIZE, PROT_NONE);
	debug->fd = fd;
	debug->reserved_end = reserved_end;
	node_pool_file_publish(fd, pool->area);
	return true;
}

static void make_pool_private(struct pool *pool, const void *id, void *context)
{
	struct debug_pool *debug = debug_of(pool);
	bool republish = *(bool *)context;
	int parent_fd = debug->fd;

	(void)id;
	/* Nothing may be written into a file-backed pool before it is the
	 * child's own: until then its pages are the parent's. */
	if (parent_fd >= 0) {
		if (!republish || !republish_pool(pool, parent_fd, debug->reserved_end)) {
			if (area_malloc_area_make_private(pool->area, parent_fd) == B_OK
				&& pool->guard_offset)
				mprotect((char *)pool->base + pool->guard_offset, B_PAGE_SIZE,
					PROT_NONE);
			debug->fd = -1;
			debug->reserved_end = 0;
		}
		close(parent_fd);
	}
	/* the lock was held across fork (or by a thread the child lacks) */
	if (debug->fd >= 0)
		mutex_init_shared(&pool->lock, POOL_AREA_NAME);
	else
		mutex_init(&pool->lock, POOL_AREA_NAME);
}

static void after_fork_in_child(void)
{
	bool republish;

	cached_thread = 0;
	atomic_store_explicit(&cached_team, 0, memory_order_relaxed);
	node_writer_forked_child();
	republish = options.node && options.fork_nodes && node_writer_active();
	pool_registry_for_each_held(make_pool_private, &republish);
	pool_registry_fork_child();
	if (fork_pipe[1] >= 0) {
		(void)!write(fork_pipe[1], "", 1);
		close(fork_pipe[1]);
		close(fork_pipe[0]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
}

/* ---- setup ---- */

void debug_pools_init(const struct debug_options *module_options)
{
	/* glibc unregisters a DSO's fork handlers when it is unloaded */
	static bool fork_handler_registered;

	options = *module_options;
	debug_layout_init(&layout, options.stack_depth);
	atomic_store(&allocation_attempts, 0);
	fail_random_state = options.fail_seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	if (fail_random_state == 0)
		fail_random_state = 1;
	shadow_init();
	if (options.node)
		node_writer_start(&options, &layout);
	if (!fork_handler_registered)
		fork_handler_registered = pthread_atfork(before_fork, after_fork_in_parent,
			after_fork_in_child) == 0;
	cached_thread = 0;
	atomic_store_explicit(&cached_team, 0, memory_order_relaxed);
}

/* Room beyond the caller's size for headers, canaries and the log. The
 * smallest release block is 32 bytes, a 64-byte request takes 80; the debug
 * build needs up to 160 for the latter: 1.5 times the size more keeps every
 * request of 24 bytes or more at least as plentiful as in the release build. */
static size_t debug_reserve(size_t size)
{
	if (size > SIZE_MAX / 8)
		return SIZE_MAX / 4;
	return size + size / 2 + control_bytes() + B_PAGE_SIZE;
}

/* Fills the part of the descriptor that readers need to find their way. */
static void describe_layout(struct pool *pool, struct debug_pool *debug)
{
	struct node_pool_descriptor *d = &debug->d;

	memcpy(d->magic, NODE_POOL_MAGIC, sizeof(d->magic));
	d->version = NODE_FORMAT_VERSION;
	d->descriptor_bytes = sizeof(*d);
	d->area = pool->area;
	d->state = NODE_POOL_LIVE;
	d->base_address = (uint64_t)(uintptr_t)pool->base;
	d->area_size = pool->area_size;
	d->control_offset = (uint64_t)((char *)debug - (char *)pool->base);
	d->lock_offset = (uint64_t)((char *)&pool->lock - (char *)pool->base);
	d->guard_offset = pool->guard_offset;
	d->heap_offset = pool->heap_offset;
	d->heap_bytes = pool->area_size - pool->heap_offset;
	d->log_offset = (uint64_t)((char *)debug->log - (char *)pool->base);
}


const void *debug_create_pool(uint32 address_spec, size_t size, uint32 lock_spec,
	uint32 protection, uintptr_t caller)
{
	struct pool_backing backing = { -1, true, false };
	size_t reserve = debug_reserve(size), area_bytes, heap_offset;
	struct debug_pool *debug;
	struct heap_stats stats;
	struct pool *pool;
	const void *id;
	bool locked_spec = lock_spec != B_NO_LOCK && lock_spec != B_LAZY_LOCK;

	area_bytes = pool_area_bytes(size, reserve, control_bytes(), &backing);
	heap_offset = pool_heap_offset(control_bytes(), &backing);
	if (size != 0 && area_bytes != SIZE_MAX && options.node && node_writer_active()) {
		/* locked pools reserve all their space now; lazy ones in steps */
		backing.fd = node_pool_file_create(area_bytes, heap_offset + INITIAL_HEAP_RESERVE,
			locked_spec);
		backing.shared_lock = backing.fd >= 0;
	}
	pool = pool_create(address_spec, size, reserve, control_bytes(), &backing, lock_spec,
		protection, NULL);
	if (pool == NULL) {
		if (backing.fd >= 0)
			node_pool_file_discard(backing.fd);
		return NULL;
	}
	debug = debug_of(pool);
	debug->fd = backing.fd;
	debug->reserved_end = backing.fd < 0 ? 0
		: locked_spec ? area_bytes : heap_offset + INITIAL_HEAP_RESERVE;
	debug->d.reserved_bytes = debug->reserved_end;
	capture_owner(&debug->d.creator, caller);
	debug->d.requested_size = size;
	debug->log = (struct pool_log *)((char *)debug
		+ ((sizeof(struct debug_pool) + 63) & ~(size_t)63));
	pool_log_init(debug->log, options.log_size);
	heap_get_stats(pool->heap, &stats);
	debug->quarantine_limit = options.quarantine_bytes < stats.capacity_bytes / 4
		? options.quarantine_bytes : stats.capacity_bytes / 4;
	pool->creator = (void *)caller;
	describe_layout(pool, debug);
	id = pool_registry_add(pool);
	if (id == NULL) {
		pool_destroy(pool);
		if (backing.fd >= 0)
			node_pool_file_discard(backing.fd);
		return NULL;
	}
	pool->id = id;
	debug->d.pool_id = (uint64_t)(uintptr_t)id;
	debug->root_region = shadow_pool_reach(pool->base, 0,
		heap_touched_end(pool->heap) - (uintptr_t)pool->base, pool->area_size);
	if (backing.fd >= 0)
		node_pool_file_publish(backing.fd, pool->area);
	node_writer_note_caller(caller);
	return id;
}

/* ---- acquiring a pool ---- */

static void report_invalid_pool(const void *pool_id, enum pool_acquire_result result,
	const char *what, const void *address, const area_malloc_owner *detected)
{
	struct pending_list list;
	pending_init(&list);
	struct pending *pending = new_pending(&list, "invalid-pool", what, address, detected);

	pending->report.pool.id = pool_id;
	if (result == POOL_DELETING)
		snprintf(pending->detail, sizeof(pending->detail),
			"%s(%p) called while delete_pool runs on that pool (the calls are not safe "
			"against delete_pool of the same pool); the call is refused", what, pool_id);
	else
		snprintf(pending->detail, sizeof(pending->detail),
			"%s: pool id %p is not a live pool (NULL, never created, or already "
			"deleted); the call is refused", what, pool_id);
	flush_pending(&list);
}

/* Acquires the pool or reports why not. */
static struct pool *acquire_or_report(const void *pool_id, const char *what,
	const void *address, const area_malloc_owner *detected)
{
	struct pool *pool = NULL;
	enum pool_acquire_result result = pool_registry_acquire(pool_id, &pool);

	if (result == POOL_ACQUIRED)
		return pool;
	report_invalid_pool(pool_id, result, what, address, detected);
	return NULL;
}

/* ---- allocation ---- */

/*
 * Bytes that free space and the quarantine together hold, chunk headers
 * included: an upper bound of what draining the quarantine can give one
 * request. free_bytes counts headers; quarantined_bytes does not (it counts
 * usable bytes), and a quarantined chunk that merges with its neighbour
 * gives its header to the request too. Leaving those headers out refused a
 * realloc in place (or a malloc) that needed the last 16 bytes of a merge
 * with a quarantined neighbour, which the same pool without quarantine
 * granted.
 */
static size_t heap_free_and_held_bytes(struct pool *pool, struct debug_pool *debug)
{
	struct heap_stats stats;

	heap_get_stats(pool->heap, &stats);
	return stats.free_bytes + debug->d.quarantined_bytes
		+ debug->d.quarantined_blocks * HEAP_BLOCK_OVERHEAD;
}

/* Allocates a block; with the pool locked. NULL when there is no room. */
static void *allocate_locked(struct pool *pool, size_t size, bool zeroed,
	area_malloc_owner *owner, enum pool_log_op op, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	size_t bytes = debug_block_chunk_bytes(&layout, size);
	struct debug_block_header *header = NULL;
	size_t usable;
	void *user;

	size_t dirty = 0;

	owner->sequence = debug->next_sequence++;
	if (bytes != SIZE_MAX && reserve_for(pool, bytes)) {
		header = heap_alloc_reporting_dirty(pool->heap, bytes, &dirty);
		if (header == NULL && debug->d.quarantined_blocks > 0
			&& bytes <= heap_free_and_held_bytes(pool, debug)) {
			/* freed blocks wait in quarantine: reuse them before failing (but
			 * keep them as evidence when even that could not help) */
			quarantine_drain(pool, 0, pending);
			header = heap_alloc_reporting_dirty(pool->heap, bytes, &dirty);
		}
	}
	if (header == NULL) {
		debug->d.failed_requests++;
		log_event(pool, LOG_FAIL, NULL, size, owner);
		return NULL;
	}
	usable = heap_usable_size(pool->heap, header);
	block_open(header, usable);
	/* memory never used since the pool was created is zero already: a large
	 * calloc in a lazy pool commits nothing */
	if (zeroed && dirty > 0)
		memset(header, 0, dirty);
	debug_block_init(&layout, header, usable, size, owner, !zeroed);
	user = debug_block_user(&layout, header);
	block_close(header, usable);
	if (shadow_active)
		shadow_block_allocated(user, size);
	debug->root_region = shadow_pool_reach(pool->base, debug->root_region,
		heap_touched_end(pool->heap) - (uintptr_t)pool->base, pool->area_size);
	debug->d.allocations++;
	debug->d.live_blocks++;
	debug->d.used_bytes += size;
	if (debug->d.used_bytes > debug->d.peak_bytes)
		debug->d.peak_bytes = debug->d.used_bytes;
	log_event(pool, op, user, size, owner);
	return user;
}

static void *allocate(const void *pool_id, size_t size, bool zeroed, uintptr_t caller,
	enum pool_log_op op)
{
	struct pending_list pending;
	pending_init(&pending);
	area_malloc_owner owner;
	struct pool *pool;
	void *user = NULL;
	bool locked;

	capture_owner(&owner, caller);
	node_writer_note_caller(caller);
	pool = acquire_or_report(pool_id, op == LOG_CALLOC ? "calloc" : "malloc", NULL, &owner);
	if (pool == NULL)
		return NULL;
	if (should_inject_failure(pool, caller)) {
		locked = debug_lock(pool);
		debug_of(pool)->d.injected_failures++;
		log_event(pool, LOG_FAIL, NULL, size, &owner);
		debug_unlock(pool, locked);
	} else {
		locked = debug_lock(pool);
		user = allocate_locked(pool, size, zeroed, &owner, op, &pending);
		debug_unlock(pool, locked);
	}
	pool_registry_release(pool_id);
	flush_pending(&pending);
	return user;
}

void *debug_malloc(const void *pool_id, size_t size, uintptr_t caller)
{
	return allocate(pool_id, size, false, caller, LOG_MALLOC);
}

void *debug_calloc(const void *pool_id, size_t count, size_t size, uintptr_t caller)
{
	size_t total;

	if (__builtin_mul_overflow(count, size, &total))
		total = SIZE_MAX; /* refused by the size check, counted as failed */
	return allocate(pool_id, total, true, caller, LOG_CALLOC);
}

/* ---- freeing: classify the pointer ---- */

static void remember_reported_header(struct debug_pool *debug, const void *header)
{
	uint32_t slots = sizeof(debug->reported_headers) / sizeof(debug->reported_headers[0]);

	debug->reported_headers[debug->reported_header_count++ % slots] = (uintptr_t)header;
}

static bool header_already_reported(const struct debug_pool *debug, const void *header)
{
	uint32_t slots = sizeof(debug->reported_headers) / sizeof(debug->reported_headers[0]);
	uint32_t held = debug->reported_header_count < slots ? debug->reported_header_count : slots;

	for (uint32_t i = 0; i < held; i++)
		if (debug->reported_headers[i] == (uintptr_t)header)
			return true;
	return false;
}

struct enclosing_search {
	const char *address;
	void *chunk;
	size_t usable;
	bool used;
};

static void find_enclosing(void *chunk, size_t usable, bool used, void *context)
{
	struct enclosing_search *search = context;

	if (search->address >= (const char *)chunk && search->address < (const char *)chunk + usable) {
		search->chunk = chunk;
		search->usable = usable;
		search->used = used;
	}
}

/*
 * Checks that ptr is a live block of pool; with the pool locked. On success
 * returns the header (and its usable size), opened for the module's own
 * access (the caller closes it); otherwise queues the report and returns
 * NULL. Canary damage of a live block is reported but the block is still
 * returned (the operation itself is legitimate).
 */
static struct debug_block_header *check_pointer_locked(struct pool *pool, void *ptr,
	const char *what, const area_malloc_owner *caller, size_t *usable_out,
	struct pending_list *pending)
{
	struct debug_block_header *header = debug_block_from_user(&layout, ptr);
	struct debug_block_finding finding;
	struct pending *report;
	size_t usable = 0;
	bool aligned = ((uintptr_t)ptr & (HEAP_ALIGN - 1)) == 0 && (uintptr_t)ptr >= layout.front_size;

	/*
	 * The common case first, touching only what the free itself touches:
	 * the chunk's own header and end tag, and the checksummed owner tag (a
	 * checksum keyed and bound to its address, which no pointer into the
	 * middle of data forges). Only when that fails does the full check
	 * (heap_block_is_live, which also reads the chunk below, a cache miss
	 * the free would not otherwise take) tell a wild or interior pointer
	 * from a damaged header.
	 */
	bool header_sound = false;

	if (aligned)
		usable = heap_live_usable_size_unlocked(pool->heap, header, SIZE_MAX);
	if (usable != 0) {
		block_open(header, usable);
		header_sound = debug_block_header_ok(&layout, header, usable);
		if (!header_sound)
			block_close(header, usable);
	}
	if (!header_sound && (!aligned || !heap_block_is_live(pool->heap, header))) {
		struct enclosing_search search = { ptr, NULL, 0, false };
		heap_walk(pool->heap, find_enclosing, &search);
		report = new_pending(pending, "invalid-free", what, ptr, caller);
		if (report == NULL)
			return NULL;
		pending_set_pool(report, pool);
		if (search.chunk != NULL && search.used)
			block_open(search.chunk, search.usable);
		if (search.chunk != NULL && search.used
			&& debug_block_header_ok(&layout, search.chunk, search.usable)) {
			struct debug_block_header *enclosing = search.chunk;
			void *start = debug_block_user(&layout, enclosing);
			pending_set_block(report, enclosing, true);
			snprintf(report->detail, sizeof(report->detail),
				"%p is not the start of a block: it points %+ld bytes from the %s "
				"%zu-byte block at %p", ptr, (long)((char *)ptr - (char *)start),
				debug_block_state(enclosing) == BLOCK_QUARANTINED ? "freed" : "live",
				(size_t)enclosing->size, start);
			pending_set_log(report, pool, start);
		} else {
			snprintf(report->detail, sizeof(report->detail),
				"%p lies in the pool's area but is not the start of a live block "
				"(free memory, metadata, or a block freed long ago)", ptr);
		}
		if (search.chunk != NULL && search.used)
			block_close(search.chunk, search.usable);
		debug_of(pool)->d.errors++;
		return NULL;
	}
	if (!header_sound) {
		/* a live chunk whose owner tag is damaged */
		usable = heap_usable_size(pool->heap, header);
		block_open(header, usable);
		report = new_pending(pending, "heap-buffer-underflow", what, ptr, caller);
		if (report != NULL) {
			pending_set_pool(report, pool);
			snprintf(report->detail, sizeof(report->detail),
				"the block's header (its owner tag, just before the block) is damaged: "
				"something wrote before the start of the block; the block is left alone");
			pending_set_log(report, pool, ptr);
		}
		remember_reported_header(debug_of(pool), header);
		block_close(header, usable);
		debug_of(pool)->d.errors++;
		return NULL;
	}
	if (debug_block_state(header) == BLOCK_QUARANTINED) {
		report = new_pending(pending, "double-free", what, ptr, caller);
		if (report != NULL) {
			pending_set_pool(report, pool);
			pending_set_block(report, header, true);
			snprintf(report->detail, sizeof(report->detail),
				"%s of a block that is already free; the second free is refused", what);
			pending_set_log(report, pool, ptr);
		}
		block_close(header, usable);
		debug_of(pool)->d.errors++;
		return NULL;
	}
	/* the header was found intact just above: only the canaries are left */
	finding = debug_block_check_body_at(&layout, header, usable, (uintptr_t)header);
	if (finding.problem == BLOCK_UNDERFLOW || finding.problem == BLOCK_OVERFLOW) {
		bool over = finding.problem == BLOCK_OVERFLOW;
		report = new_pending(pending, over ? "heap-buffer-overflow" : "heap-buffer-underflow",
			what, ptr, caller);
		if (report != NULL) {
			pending_set_pool(report, pool);
			pending_set_block(report, header, true);
			report->report.offset = over ? (long)finding.offset : -(long)finding.offset;
			report->report.offset_known = true;
			report->report.overflow_bytes = over ? finding.damaged_bytes : 0;
			snprintf(report->detail, sizeof(report->detail),
				"the %s canary of the block was overwritten (found at %s)",
				over ? "trailing" : "leading", what);
			pending_set_log(report, pool, ptr);
		}
		debug_of(pool)->d.errors++;
	}
	*usable_out = usable;
	return header;
}

struct owning_pool_search {
	const char *address;
	const void *id;
};

static void find_owning_pool(struct pool *pool, const void *id, void *context)
{
	struct owning_pool_search *search = context;

	if (search->address >= (const char *)pool->base
		&& search->address < (const char *)pool->base + pool->area_size)
		search->id = id;
}

/*
 * A pointer outside the call's pool: cross-pool-free when another pool owns
 * it, invalid-free otherwise. Called with no pool locked.
 */
static void report_foreign_pointer(struct pool *call_pool, void *ptr, const char *what,
	const area_malloc_owner *caller)
{
	struct pending_list pending;
	pending_init(&pending);
	struct owning_pool_search search = { ptr, NULL };
	struct pending *report;
	struct pool *owner = NULL;
	bool locked;

	pool_registry_for_each(find_owning_pool, &search);
	/* the call's own area but outside its blocks (its control pages): not
	 * another pool's block, just not a block */
	if (search.id == call_pool->id)
		search.id = NULL;
	if (search.id == NULL || pool_registry_acquire(search.id, &owner) != POOL_ACQUIRED) {
		report = new_pending(&pending, "invalid-free", what, ptr, caller);
		locked = debug_lock(call_pool);
		pending_set_pool(report, call_pool);
		debug_of(call_pool)->d.errors++;
		log_event(call_pool, LOG_ERROR, ptr, 0, caller);
		debug_unlock(call_pool, locked);
		snprintf(report->detail, sizeof(report->detail),
			"%p is not in any pool's blocks (a stack, heap, static or wild address, or "
			"the pool's own control pages); the call is refused", ptr);
		flush_pending(&pending);
		return;
	}
	report = new_pending(&pending, "cross-pool-free", what, ptr, caller);
	locked = debug_lock(call_pool);
	pending_set_pool(report, call_pool);
	debug_of(call_pool)->d.errors++;
	log_event(call_pool, LOG_ERROR, ptr, 0, caller);
	debug_unlock(call_pool, locked);

	locked = debug_lock(owner);
	describe_pool(owner, &report->report.owner_pool, report->owner_pool_name,
		&report->owner_creator);
	report->report.owner_pool_known = true;
	{
		struct debug_block_header *header = debug_block_from_user(&layout, ptr);
		bool live = ((uintptr_t)ptr & (HEAP_ALIGN - 1)) == 0
			&& heap_block_is_live(owner->heap, header);
		size_t usable = live ? heap_usable_size(owner->heap, header) : 0;
		if (live) {
			block_open(header, usable);
			live = debug_block_header_ok(&layout, header, usable);
		}
		pending_set_block(report, header, live);
		if (usable != 0)
			block_close(header, usable);
		pending_set_log(report, owner, ptr);
		snprintf(report->detail, sizeof(report->detail),
			"%s(pool %d, %p): the block belongs to pool %d, not to the pool given; it "
			"is left untouched in its owner pool", what, (int)call_pool->area, ptr,
			(int)owner->area);
	}
	debug_unlock(owner, locked);
	pool_registry_release(search.id);
	flush_pending(&pending);
}

/* Frees a checked live block into the quarantine; with the pool locked. */
static void free_checked_locked(struct pool *pool, struct debug_block_header *header,
	size_t usable, area_malloc_owner *owner, struct pending_list *pending)
{
	struct debug_pool *debug = debug_of(pool);
	void *user = debug_block_user(&layout, header);

	owner->sequence = debug->next_sequence++;
	debug->d.frees++;
	debug->d.live_blocks--;
	debug->d.used_bytes -= header->size;
	log_event(pool, LOG_FREE, user, header->size, owner);
	debug_block_quarantine(&layout, header, usable, owner);
	if (shadow_active)
		shadow_block_freed(user);
	quarantine_push(pool, header, usable, pending);
}

void debug_free(const void *pool_id, void *ptr, uintptr_t caller)
{
	struct pending_list pending;
	pending_init(&pending);
	struct debug_block_header *header;
	area_malloc_owner owner;
	struct pool *pool;
	size_t usable = 0;
	bool locked;

	if (ptr == NULL)
		return;
	capture_owner(&owner, caller);
	pool = acquire_or_report(pool_id, "free", ptr, &owner);
	if (pool == NULL)
		return;
	locked = debug_lock(pool);
	if (!heap_contains(pool->heap, ptr)) {
		debug_unlock(pool, locked);
		report_foreign_pointer(pool, ptr, "free", &owner);
		pool_registry_release(pool_id);
		return;
	}
	header = check_pointer_locked(pool, ptr, "free", &owner, &usable, &pending);
	if (header != NULL)
		free_checked_locked(pool, header, usable, &owner, &pending);
	else
		log_event(pool, LOG_ERROR, ptr, 0, &owner);
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	flush_pending(&pending);
}

/* Resizes an opened live block in place (the heap already moved its end;
 * old_usable is the chunk's usable size before). */
static void resize_block_locked(struct pool *pool, struct debug_block_header *header,
	size_t old_size, size_t new_size, size_t old_usable)
{
	size_t usable = heap_usable_size(pool->heap, header);

	/* Valgrind hides what a shrink gives back: that is free heap memory
	 * now, so expose it again (and what a growth added) after telling it */
	if (shadow_active)
		shadow_block_resized(debug_block_user(&layout, header), old_size, new_size);
	block_open(header, usable > old_usable ? usable : old_usable);
	debug_block_resize(&layout, header, usable, new_size);
	block_close(header, usable);
	debug_of(pool)->root_region = shadow_pool_reach(pool->base, debug_of(pool)->root_region,
		heap_touched_end(pool->heap) - (uintptr_t)pool->base, pool->area_size);
}

/* The bookkeeping of a realloc that the heap did in place: counters, the
 * block's header and canaries, its sequence and log entry. Returns the block. */
static void *resized_in_place_locked(struct pool *pool, struct debug_block_header *header,
	size_t size, size_t old_usable, area_malloc_owner *owner)
{
	struct debug_pool *debug = debug_of(pool);
	size_t old_size = header->size;
	void *user = debug_block_user(&layout, header);

	debug->d.used_bytes = debug->d.used_bytes - old_size + size;
	if (debug->d.used_bytes > debug->d.peak_bytes)
		debug->d.peak_bytes = debug->d.used_bytes;
	resize_block_locked(pool, header, old_size, size, old_usable);
	owner->sequence = debug->next_sequence++;
	log_event(pool, LOG_REALLOC, user, size, owner);
	return user;
}

void *debug_realloc(const void *pool_id, void *ptr, size_t size, uintptr_t caller)
{
	struct pending_list pending;
	pending_init(&pending);
	struct debug_block_header *header;
	area_malloc_owner owner;
	struct pool *pool;
	size_t usable = 0;
	void *result = NULL;
	bool locked;

	if (ptr == NULL)
		return allocate(pool_id, size, false, caller, LOG_REALLOC);
	capture_owner(&owner, caller);
	pool = acquire_or_report(pool_id, "realloc", ptr, &owner);
	if (pool == NULL)
		return NULL;
	locked = debug_lock(pool);
	if (!heap_contains(pool->heap, ptr)) {
		debug_unlock(pool, locked);
		report_foreign_pointer(pool, ptr, "realloc", &owner);
		pool_registry_release(pool_id);
		return NULL;
	}
	header = check_pointer_locked(pool, ptr, "realloc", &owner, &usable, &pending);
	if (header == NULL) {
		log_event(pool, LOG_ERROR, ptr, 0, &owner);
	} else if (size == 0) {
		free_checked_locked(pool, header, usable, &owner, &pending);
	} else if (!options.realloc_move && size <= header->size
		&& heap_resize_in_place(pool->heap, header, debug_block_chunk_bytes(&layout, size))) {
		/* shrinking always succeeds in place */
		result = resized_in_place_locked(pool, header, size, usable, &owner);
	} else if (should_inject_failure(pool, caller)) {
		debug_of(pool)->d.injected_failures++;
		log_event(pool, LOG_FAIL, ptr, size, &owner);
		block_close(header, usable);
	} else if (!options.realloc_move && debug_block_chunk_bytes(&layout, size) != SIZE_MAX
		&& reserve_for(pool, debug_block_chunk_bytes(&layout, size))
		&& heap_resize_in_place(pool->heap, header, debug_block_chunk_bytes(&layout, size))) {
		result = resized_in_place_locked(pool, header, size, usable, &owner);
	} else {
		area_malloc_owner new_owner = owner;
		size_t old_size = header->size;
		size_t bytes = debug_block_chunk_bytes(&layout, size);
		result = allocate_locked(pool, size, false, &new_owner, LOG_REALLOC, &pending);
		/* allocate_locked may have drained the quarantine, never this live block */
		if (result != NULL) {
			memcpy(result, ptr, old_size < size ? old_size : size);
			free_checked_locked(pool, header, usable, &owner, &pending);
		} else if (!options.realloc_move && bytes != SIZE_MAX
			&& bytes <= usable + heap_free_and_held_bytes(pool, debug_of(pool))
			&& (quarantine_drain(pool, 0, &pending), reserve_for(pool, bytes))
			&& heap_resize_in_place(pool->heap, header, bytes)) {
			/* the pool is out of room, but the block might grow into a
			 * neighbour waiting in quarantine: the quarantine goes (if
			 * allocate_locked did not drain it already) and the block grows
			 * in place after all (allocate_locked counted a failure that was
			 * not one) */
			debug_of(pool)->d.failed_requests--;
			result = resized_in_place_locked(pool, header, size, usable, &owner);
		} else {
			block_close(header, usable);
		}
	}
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	flush_pending(&pending);
	return result;
}

/* ---- checks, leaks, statistics ---- */

struct check_walk {
	struct pool *pool;
	struct pending_list *pending;
	bool report_headers;	/* false: a damaged header that a call already reported
				 * (at free) is not reported again */
	int problems;
	size_t live_blocks;
	size_t used_bytes;
	size_t quarantined;
};

static void check_block(void *chunk, size_t usable, bool used, void *context)
{
	struct check_walk *walk = context;
	struct debug_block_header *header = chunk;
	struct debug_block_finding finding;
	struct pending *report;
	const char *kind;
	void *user;

	if (!used)
		return;
	block_open(header, usable);
	finding = debug_block_check(&layout, header, usable);
	if (finding.problem == BLOCK_OK) {
		if (debug_block_state(header) == BLOCK_LIVE) {
			walk->live_blocks++;
			walk->used_bytes += header->size;
		} else {
			walk->quarantined++;
		}
		block_close(header, usable);
		return;
	}
	if (finding.problem == BLOCK_HEADER_DAMAGED && !walk->report_headers
		&& header_already_reported(debug_of(walk->pool), header)) {
		block_close(header, usable);
		return;
	}
	walk->problems++;
	switch (finding.problem) {
	case BLOCK_OVERFLOW: kind = "heap-buffer-overflow"; break;
	case BLOCK_POISON_DAMAGED: kind = "use-after-free"; break;
	default: kind = "heap-buffer-underflow"; break;
	}
	user = debug_block_user(&layout, header);
	report = new_pending(walk->pending, kind, "check", user, NULL);
	if (report == NULL) {
		block_close(header, usable);
		return;
	}
	pending_set_pool(report, walk->pool);
	pending_set_block(report, header, finding.problem != BLOCK_HEADER_DAMAGED);
	if (finding.problem == BLOCK_OVERFLOW || finding.problem == BLOCK_POISON_DAMAGED) {
		report->report.offset = (long)finding.offset;
		report->report.offset_known = true;
		report->report.overflow_bytes =
			finding.problem == BLOCK_OVERFLOW ? finding.damaged_bytes : 0;
	} else if (finding.problem == BLOCK_UNDERFLOW) {
		report->report.offset = -(long)finding.offset;
		report->report.offset_known = true;
	}
	snprintf(report->detail, sizeof(report->detail), "found by a check of the pool%s",
		finding.problem == BLOCK_HEADER_DAMAGED ? ": the block's header is damaged" : "");
	pending_set_log(report, walk->pool, user);
	block_close(header, usable);
}

/* A check found the pool's own bookkeeping (what, at address) damaged. */
static void report_damaged_metadata(struct pool *pool, struct pending_list *pending,
	const void *address, const char *what, const char *why, const char *cause)
{
	struct pending *report = new_pending(pending, "heap-buffer-overflow", "check", address,
		NULL);

	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail), "the pool's %s is damaged (%s): %s",
			what, why, cause);
	}
	debug_of(pool)->d.errors++;
}

static int check_locked_walk(struct pool *pool, struct pending_list *pending, bool report_headers)
{
	struct check_walk walk = { pool, pending, report_headers, 0, 0, 0, 0 };
	struct debug_pool *debug = debug_of(pool);
	const char *why = NULL;

	if (!heap_validate(pool->heap, &why)) {
		report_damaged_metadata(pool, pending, pool->base, "heap metadata", why,
			"a write past a block reached the allocator's own header");
		return 1; /* walking a damaged heap is not safe */
	}
	if (debug->log != NULL && !pool_log_validate(debug->log, options.log_size, &why)) {
		report_damaged_metadata(pool, pending, debug->log, "allocation log", why,
			"a wild write reached the pool's control region");
		walk.problems++;
	}
	heap_walk(pool->heap, check_block, &walk);
	debug->d.errors += (uint64_t)walk.problems;
	return walk.problems;
}

/* An explicit check: every problem, damaged headers included. */
static int check_locked(struct pool *pool, struct pending_list *pending)
{
	return check_locked_walk(pool, pending, true);
}

/* At delete_pool and exit: what was not reported yet. */
static void check_before_leaving(struct pool *pool, struct pending_list *pending)
{
	check_locked_walk(pool, pending, false);
}

static struct pool *acquire_for_query(const void *pool_id)
{
	struct pool *pool = NULL;

	return pool_registry_acquire(pool_id, &pool) == POOL_ACQUIRED ? pool : NULL;
}

static int check_pools(area_id area, int *pools_checked);

int32 debug_check_pool(const void *pool_id)
{
	struct pending_list pending;
	pending_init(&pending);
	struct pool *pool;
	int problems;
	bool locked;

	if (pool_id == NULL) {
		int pools;
		return check_pools(0, &pools);
	}
	pool = acquire_for_query(pool_id);
	if (pool == NULL)
		return B_BAD_VALUE;
	locked = debug_lock(pool);
	problems = check_locked(pool, &pending);
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	flush_pending(&pending);
	return problems;
}

struct leak_entry {
	uint64_t hash;
	size_t size;
	const struct debug_block_header *header;
};

struct leak_walk {
	struct leak_entry *entries;
	size_t count;
	size_t capacity;
	int64_t since;
	pid_t team;	/* 0: any */
	bool failed;
};

static uint64_t frames_hash(const struct debug_block_header *header)
{
	uint64_t hash = 1469598103934665603ull;

	for (uint32_t i = 0; i < layout.frame_count; i++)
		hash = (hash ^ header->frames[i]) * 1099511628211ull;
	return hash;
}

static void collect_leak(void *chunk, size_t usable, bool used, void *context)
{
	struct leak_walk *walk = context;
	struct debug_block_header *header = chunk;
	bool leaked;

	if (!used)
		return;
	block_open(header, usable);
	leaked = debug_block_header_ok(&layout, header, usable) && debug_block_state(header) == BLOCK_LIVE
		&& header->time >= walk->since && (walk->team == 0 || header->team == walk->team);
	if (!leaked) {
		block_close(header, usable);
		return;
	}
	if (walk->count == walk->capacity) {
		size_t capacity = walk->capacity ? walk->capacity * 2 : 256;
		struct leak_entry *entries = realloc(walk->entries, capacity * sizeof(*entries));
		if (entries == NULL) {
			walk->failed = true;
			return;
		}
		walk->entries = entries;
		walk->capacity = capacity;
	}
	walk->entries[walk->count++] = (struct leak_entry){ frames_hash(header), header->size,
		header };
	block_close(header, usable);
}

static int compare_by_hash(const void *a, const void *b)
{
	const struct leak_entry *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static int compare_groups(const void *a, const void *b)
{
	const struct leak_group *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* Groups the live blocks of a locked pool by allocation site. */
static struct leak_group *collect_leak_groups_locked(struct pool *pool, int64_t since, pid_t team,
	size_t *group_count)
{
	struct leak_walk walk = { NULL, 0, 0, since, team, false };
	struct leak_group *groups;
	size_t count = 0;

	heap_walk(pool->heap, collect_leak, &walk);
	*group_count = 0;
	if (walk.count == 0) {
		free(walk.entries);
		return NULL;
	}
	qsort(walk.entries, walk.count, sizeof(*walk.entries), compare_by_hash);
	groups = calloc(walk.count, sizeof(*groups));
	if (groups == NULL) {
		free(walk.entries);
		return NULL;
	}
	for (size_t i = 0; i < walk.count; i++) {
		const struct leak_entry *entry = &walk.entries[i];
		if (count == 0 || walk.entries[i - 1].hash != entry->hash) {
			struct leak_group *group = &groups[count++];
			struct debug_block_header *header = (struct debug_block_header *)entry->header;
			size_t usable = heap_usable_size(pool->heap, header);
			block_open(header, usable);
			debug_block_owner(&layout, header, &group->owner);
			block_close(header, usable);
			group->first_address = debug_block_user(&layout,
				(struct debug_block_header *)entry->header);
		}
		groups[count - 1].bytes += entry->size;
		groups[count - 1].count++;
	}
	free(walk.entries);
	qsort(groups, count, sizeof(*groups), compare_groups);
	*group_count = count;
	return groups;
}

/* Reports the leaks of an acquired pool; returns unsuppressed bytes. */
static size_t report_pool_leaks(struct pool *pool, int64_t since, pid_t team, const char *when,
	size_t *blocks)
{
	struct leak_report report;
	area_malloc_owner creator;
	char name[POOL_NAME_MAX];
	struct leak_group *groups;
	size_t count, bytes;
	bool locked;

	locked = debug_lock(pool);
	groups = collect_leak_groups_locked(pool, since, team, &count);
	describe_pool(pool, &report.pool, name, &creator);
	debug_unlock(pool, locked);
	report.when = when;
	report.groups = groups;
	report.group_count = count;
	/* a look from the kernel debugger is not a verdict on the process */
	report.counts = strcmp(when, "on request") != 0;
	bytes = report_leaks(&report, blocks);
	free(groups);
	return bytes;
}

/* The ids of every live pool, in registry order (freed by the caller). */
struct id_list {
	const void **ids;
	size_t count;
	size_t capacity;
};

static void append_id(struct pool *pool, const void *id, void *context)
{
	struct id_list *list = context;

	(void)pool;
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 64;
		const void **ids = realloc(list->ids, capacity * sizeof(*ids));
		if (ids == NULL)
			return;
		list->ids = ids;
		list->capacity = capacity;
	}
	list->ids[list->count++] = id;
}

static struct id_list live_pool_ids(void)
{
	struct id_list list = { NULL, 0, 0 };

	pool_registry_for_each(append_id, &list);
	return list;
}

status_t debug_report_leaks(const void *pool_id, uint64 mark, const char *when, size_t *bytes,
	size_t *blocks)
{
	size_t total_bytes = 0, total_blocks = 0;
	struct pool *pool;

	if (pool_id != NULL) {
		pool = acquire_for_query(pool_id);
		if (pool == NULL)
			return B_BAD_VALUE;
		total_bytes = report_pool_leaks(pool, (int64_t)mark, 0, when, &total_blocks);
		pool_registry_release(pool_id);
	} else {
		struct id_list list = live_pool_ids();
		for (size_t i = 0; i < list.count; i++) {
			size_t pool_blocks = 0;
			pool = acquire_for_query(list.ids[i]);
			if (pool == NULL)
				continue; /* deleted meanwhile */
			total_bytes += report_pool_leaks(pool, (int64_t)mark, 0, when, &pool_blocks);
			total_blocks += pool_blocks;
			pool_registry_release(list.ids[i]);
		}
		free(list.ids);
	}
	if (bytes != NULL)
		*bytes = total_bytes;
	if (blocks != NULL)
		*blocks = total_blocks;
	return B_OK;
}

uint64 debug_mark(void)
{
	/* Blocks allocated before this call have a time below the mark, later
	 * ones at or above it: wait for the owner clock (a coarse one, see
	 * owner_clock) to move past now; at most one tick. */
	bigtime_t mark = owner_clock() + 1;

	while (owner_clock() < mark)
		sched_yield();
	node_writer_set_mark(mark);
	return (uint64)mark;
}

/* Runs fn on the pool id names, under its lock; B_BAD_VALUE when it names none. */
static status_t with_locked_pool(const void *pool_id, void (*fn)(struct pool *, void *),
	void *context)
{
	struct pool *pool = acquire_for_query(pool_id);
	bool locked;

	if (pool == NULL)
		return B_BAD_VALUE;
	locked = debug_lock(pool);
	fn(pool, context);
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	return B_OK;
}

/*
 * The name is kept with its control characters as '?': it is printed into
 * reports, the pools command and node files that scripts read line by line,
 * and a name holding a newline could forge a report line ("SUMMARY: ...")
 * or an escape sequence reach a terminal.
 */
static void set_name_locked(struct pool *pool, void *name)
{
	char *kept = debug_of(pool)->d.name;
	const unsigned char *given = name;
	size_t i;

	for (i = 0; i + 1 < POOL_NAME_MAX && given[i] != '\0'; i++)
		kept[i] = given[i] < 0x20 || given[i] == 0x7f ? '?' : (char)given[i];
	memset(kept + i, 0, POOL_NAME_MAX - i);
}

status_t debug_set_pool_name(const void *pool_id, const char *name)
{
	if (name == NULL)
		return B_BAD_VALUE;
	return with_locked_pool(pool_id, set_name_locked, (void *)name);
}

static void read_stats_locked(struct pool *pool, area_malloc_pool_stats *stats)
{
	struct debug_pool *debug = debug_of(pool);

	stats->area = pool->area;
	stats->size = debug->d.requested_size;
	stats->area_size = pool->area_size;
	stats->used = debug->d.used_bytes;
	stats->peak = debug->d.peak_bytes;
	stats->live_blocks = debug->d.live_blocks;
	stats->quarantined_bytes = debug->d.quarantined_bytes;
	stats->quarantined_blocks = debug->d.quarantined_blocks;
	stats->allocations = debug->d.allocations;
	stats->frees = debug->d.frees;
	stats->failed_requests = debug->d.failed_requests;
	stats->injected_failures = debug->d.injected_failures;
	stats->errors = debug->d.errors;
}

static void read_stats(struct pool *pool, void *stats)
{
	read_stats_locked(pool, stats);
}

status_t debug_get_pool_stats(const void *pool_id, area_malloc_pool_stats *stats)
{
	if (stats == NULL)
		return B_BAD_VALUE;
	return with_locked_pool(pool_id, read_stats, stats);
}

/* ---- kernel debugger views ---- */

typedef void (*pool_visit_fn)(const void *id, struct pool *pool, void *context);

/* Visits the acquired pools whose area is area (0: all); returns how many. */
static int for_each_pool(area_id area, pool_visit_fn fn, void *context)
{
	struct id_list list = live_pool_ids();
	int visited = 0;

	for (size_t i = 0; i < list.count; i++) {
		struct pool *pool = acquire_for_query(list.ids[i]);
		if (pool == NULL)
			continue;
		if (area == 0 || pool->area == area) {
			fn(list.ids[i], pool, context);
			visited++;
		}
		pool_registry_release(list.ids[i]);
	}
	free(list.ids);
	return visited;
}

static void print_pool(const void *id, struct pool *pool, void *context)
{
	area_malloc_pool_stats stats;
	char name[POOL_NAME_MAX], creator[2048];
	uintptr_t creator_pc;
	bool locked;

	(void)context;
	locked = debug_lock(pool);
	read_stats_locked(pool, &stats);
	memcpy(name, debug_of(pool)->d.name, sizeof(name));
	creator_pc = debug_of(pool)->d.creator.frames[0];
	debug_unlock(pool, locked);
	kprintf("pool %d: id: %p; name: \"%s\"; base: %p; size: %zu; area_size: %zu; used: %zu; "
		"peak: %zu; blocks: %zu; quarantined: %zu in %zu; failed: %llu; injected: %llu; "
		"errors: %llu; creator: %s\n",
		(int)stats.area, id, name, pool->base, stats.size, stats.area_size, stats.used,
		stats.peak, stats.live_blocks, stats.quarantined_bytes, stats.quarantined_blocks,
		(unsigned long long)stats.failed_requests,
		(unsigned long long)stats.injected_failures, (unsigned long long)stats.errors,
		reporter_symbolize(creator_pc, creator, sizeof(creator)));
}

int debug_print_pools(area_id area)
{
	if (area == 0)
		kprintf("%zu pool(s)\n", pool_registry_count());
	return for_each_pool(area, print_pool, NULL);
}

struct leaks_command {
	size_t bytes;
	size_t blocks;
};

static void leaks_of_pool(const void *id, struct pool *pool, void *context)
{
	struct leaks_command *totals = context;
	size_t blocks = 0;

	(void)id;
	totals->bytes += report_pool_leaks(pool, 0, 0, "on request", &blocks);
	totals->blocks += blocks;
}

int debug_leaks_command(area_id area)
{
	struct leaks_command totals = { 0, 0 };
	int pools = for_each_pool(area, leaks_of_pool, &totals);

	kprintf("%zu byte(s) in %zu live block(s) in %d pool(s)\n", totals.bytes, totals.blocks,
		pools);
	return pools;
}

struct check_command {
	int problems;
};

static void check_one_pool(const void *id, struct pool *pool, void *context)
{
	struct pending_list pending;
	pending_init(&pending);
	struct check_command *totals = context;
	bool locked;

	(void)id;
	locked = debug_lock(pool);
	totals->problems += check_locked(pool, &pending);
	debug_unlock(pool, locked);
	flush_pending(&pending);
}

/* Checks the pools with that area id (0: all); -1 when there is none. */
static int check_pools(area_id area, int *pools_checked)
{
	struct check_command totals = { 0 };
	int pools = for_each_pool(area, check_one_pool, &totals);

	*pools_checked = pools;
	if (area != 0 && pools == 0)
		return -1;
	return totals.problems;
}

int debug_check_command(area_id area)
{
	int pools, problems = check_pools(area, &pools);

	if (problems >= 0)
		kprintf("%d pool(s) checked, %d problem(s)\n", pools, problems);
	return problems;
}

/* ---- deletion ---- */

static status_t delete_pool_reporting(const void *pool_id, const char *when,
	const area_malloc_owner *caller)
{
	struct pending_list pending;
	pending_init(&pending);
	struct pool *pool = NULL;
	enum pool_acquire_result result = pool_registry_begin_delete(pool_id, &pool);
	bool locked;

	if (result != POOL_ACQUIRED) {
		report_invalid_pool(pool_id, result, "delete_pool", NULL, caller);
		return B_ERROR;
	}
	locked = debug_lock(pool);
	debug_of(pool)->d.state = NODE_POOL_DELETING;
	/* every quarantined block leaves: its poison is checked on the way;
	 * the blocks still live are checked too (their canaries), so damage
	 * to a block that was never freed is reported as what it is, not only
	 * as a leak */
	quarantine_drain(pool, 0, &pending);
	check_before_leaving(pool, &pending);
	debug_unlock(pool, locked);
	flush_pending(&pending);
	if (options.leak_check)
		report_pool_leaks(pool, 0, 0, when, NULL);
	pool_registry_remove(pool_id);
	shadow_pool_destroyed(pool->base, debug_of(pool)->root_region, pool->area_size);
	{
		int fd = debug_of(pool)->fd;
		area_id area = pool->area;
		pool_destroy(pool);
		if (fd >= 0)
			node_pool_file_remove(fd, area);
	}
	return B_OK;
}

status_t debug_delete_pool(const void *pool_id, uintptr_t caller)
{
	area_malloc_owner owner;

	capture_owner(&owner, caller);
	return delete_pool_reporting(pool_id, "at delete_pool", &owner);
}

void debug_delete_all_pools(const char *when)
{
	struct id_list list = live_pool_ids();

	for (size_t i = 0; i < list.count; i++)
		delete_pool_reporting(list.ids[i], when, NULL);
	free(list.ids);
}

static void check_at_exit(struct pool *pool)
{
	struct pending_list pending;
	bool locked;

	pending_init(&pending);
	locked = debug_lock(pool);
	check_before_leaving(pool, &pending);
	debug_unlock(pool, locked);
	flush_pending(&pending);
}

void debug_report_exit_leaks(void)
{
	struct id_list list;

	if (!options.leak_check)
		return;
	list = live_pool_ids();
	for (size_t i = 0; i < list.count; i++) {
		struct pool *pool = acquire_for_query(list.ids[i]);
		if (pool == NULL)
			continue;
		/* damage first (as at delete_pool), then the leaks; after fork, the
		 * blocks inherited from the parent are the parent's */
		check_at_exit(pool);
		report_pool_leaks(pool, 0, getpid(), "at exit", NULL);
		pool_registry_release(list.ids[i]);
	}
	free(list.ids);
}
