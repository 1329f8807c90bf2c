/*
 * backing.c - a debug pool's memory when it is the pool's node file: when
 * the file's tmpfs space is taken, and when freed pages go back.
 *
 * Why: a tmpfs page is allocated when it is first written. Reserving the
 * file's space ahead of the heap (fallocate, node_reserve=1) turns a full
 * tmpfs into an allocation that fails, as the release build's would on a
 * full pool, but it commits every page a block spans: a driver's 32 MiB
 * buffer of which it touches two cache lines cost 32 MiB of tmpfs. By
 * default (lazy) nothing is reserved past the pool's first pages: a page
 * is taken when the driver or the module first writes it, and a full tmpfs
 * is a SIGBUS at that write. The pool's heap range is registered with the
 * fault handler (kernel/guard_fault.h), whose callback here stops the
 * process with a line that says so and how to avoid it, instead of a bare
 * "Bus error". Where the handler cannot be used (Valgrind, no free range
 * slot), a pool is reserved ahead as with node_reserve=1.
 *
 * Freed pages: a freed block's whole pages past a threshold are given
 * back (backing_discard): punched out of a lazy pool's file, dropped from
 * an anonymous pool; they then read as zeros, which the checks accept for
 * whole pages (debug_block.h, DEBUG_DISCARD_MIN; free_memory.c, F1). A pool
 * reserved ahead, or locked in memory, keeps its pages (a hole would undo
 * the reservation, or the lock's promise).
 *
 * Invariants: a pool is lazy only while its heap range is registered
 * (lazy_backing); the registration ends before its area is deleted.
 *
 * Locking: setup and teardown run in create_pool and delete_pool (no other
 * call on the pool); the callback runs in a signal handler and takes no
 * lock; backing_discard is called with or without the pool's lock, on a
 * block no other call changes.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <OS.h>

#include "debug/debug_internal.h"
#include "kernel/guard_fault.h"

/* Appends the hexadecimal digits of value to *at (async-signal-safe). */
static void append_hex(char **at, uintptr_t value)
{
	char digits[2 * sizeof(value)];
	int count = 0;

	do {
		digits[count++] = "0123456789abcdef"[value & 15];
		value >>= 4;
	} while (value != 0);
	*(*at)++ = '0';
	*(*at)++ = 'x';
	while (count > 0)
		*(*at)++ = digits[--count];
}

static void append_text(char **at, const char *text)
{
	while (*text != '\0')
		*(*at)++ = *text++;
}

/*
 * In the signal handler: a SIGBUS in the heap of a lazy pool is a page its
 * file could not get (the tmpfs is full, or the file was cut short by
 * hand). The write cannot be made; the process stops with a line that says
 * why. Anything else in the range is not ours.
 */
static enum kernel_guard_verdict backing_fault(const struct kernel_guard_fault *fault, void *cookie)
{
	char line[512], *at = line;
	ssize_t ignored;

	(void)cookie;
	if (fault->signal != SIGBUS)
		return KERNEL_GUARD_DECLINE;
	append_text(&at,
		"area_malloc: the debug node's tmpfs could not give a page to a pool "
		"at ");
	append_hex(&at, fault->address);
	append_text(&at,
		" (the tmpfs is full, or the pool's file was cut short): the process "
		"stops here. Give the tmpfs more room, or run with "
		"AREA_MALLOC_OPTIONS=node_reserve=1 (allocations then fail on a full "
		"tmpfs) or node=0\n");
	ignored = write(STDERR_FILENO, line, (size_t)(at - line));
	(void)ignored;
	return KERNEL_GUARD_FATAL_QUIET;
}

/* The heap's part of the area: what the pool hands out, past its control
 * region and guard page. */
static uintptr_t heap_range_start(const struct pool *pool)
{
	return (uintptr_t)pool->base + pool->heap_offset;
}

void backing_setup(struct pool *pool, bool locked_spec)
{
	struct debug_pool *debug = debug_of(pool);
	uintptr_t start = heap_range_start(pool);

	debug->lazy_backing = false;
	/* under a sanitizer the old way stays: its shadow names poisoned bytes */
	debug->discard_allowed = !locked_spec && !shadow_active;
	if (!debug->file_backed || locked_spec || debug_options.node_reserve
		|| !kernel_guard_available())
		return;
	if (kernel_guard_register(start, (uintptr_t)pool->base + pool->area_size - start,
		    backing_fault, NULL)
		== B_OK)
		debug->lazy_backing = true;
}

void backing_teardown(struct pool *pool)
{
	struct debug_pool *debug = debug_of(pool);

	if (debug->lazy_backing)
		kernel_guard_unregister(heap_range_start(pool));
	debug->lazy_backing = false;
}

bool backing_discard(struct pool *pool, uintptr_t start, uintptr_t end)
{
	struct debug_pool *debug = debug_of(pool);
	int advice;

	if (start >= end || !debug->discard_allowed)
		return false;
	/* a lazy pool's file gets a hole (a page written later is taken
	 * again); an anonymous pool's pages are dropped. A pool reserved
	 * ahead keeps them: a hole would undo the reservation. */
	if (debug->file_backed)
		advice = debug->lazy_backing ? MADV_REMOVE : -1;
	else
		advice = MADV_DONTNEED;
	return advice >= 0 && madvise((void *)start, end - start, advice) == 0;
}

bool backing_reserve_guarded(struct pool *pool, uintptr_t start, uintptr_t end)
{
	struct debug_pool *debug = debug_of(pool);

	/* a locked pool's file is reserved whole at create_pool */
	if (!debug->file_backed || debug->reserved_end >= pool->area_size)
		return true;
	return node_reserve_pages(pool->base, pool->area, start - (uintptr_t)pool->base,
		end - start);
}

void backing_give_back_guarded(struct pool *pool, uintptr_t start, uintptr_t end)
{
	struct debug_pool *debug = debug_of(pool);

	if (debug->file_backed && debug->reserved_end >= pool->area_size)
		return; /* locked in memory: its pages stay */
	/* the next block in these pages reserves them again
	 * (backing_reserve_guarded), so a hole undoes no reservation */
	madvise((void *)start, end - start, debug->file_backed ? MADV_REMOVE : MADV_DONTNEED);
}
