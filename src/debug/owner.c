/*
 * owner.c - owner tags: who made a call (thread, team), when, and from
 * where (its stack: stack_depth frames from the caller's, captured by
 * stacks.c into the stack depot). Every block's header, every free record
 * and every log event carries one (blocks and free records the stack's
 * depot handle, log events the caller's frame).
 *
 * Invariants: cached_thread is 0 or this thread's id; cached_team is 0 or
 * this process's id (owner_reset() clears both in a forked child, whose
 * thread and process ids differ from the parent's).
 *
 * Locking: none; thread-local and relaxed atomic caches.
 */
#include "config.h"

#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "debug/debug_internal.h"

/* initial-exec: a module is dlopen()ed, and the default model would call
 * __tls_get_addr() on every allocation (as thread_cache.c explains) */
static __thread uint32_t cached_thread __attribute__((tls_model("initial-exec")));
/* Every thread may fill it in (with the same value): relaxed atomics, so the
 * first calls of several threads at once are not a data race. */
static _Atomic pid_t cached_team;

uint32_t owner_thread(void)
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

void owner_reset(void)
{
	cached_thread = 0;
	atomic_store_explicit(&cached_team, 0, memory_order_relaxed);
}

/*
 * Owner tags take their time from the coarse monotonic clock (the kernel's
 * tick, a few milliseconds): reading it costs a load, where the precise
 * clock can cost more than the rest of a call on a virtual machine. In the
 * same microseconds as system_time().
 */
bigtime_t owner_clock(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return (bigtime_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void capture_owner(area_malloc_owner *owner, uintptr_t caller)
{
	owner->thread = (thread_id)owner_thread();
	owner->team = current_team();
	owner->sequence = 0;
	owner->time = owner_clock();
	stacks_capture(owner, caller);
}
