/*
 * thread_cache_claim.c - the drainer's side of the flags that decide who
 * holds a thread's cache (thread_cache.c says what the caches are and
 * when they are drained; thread_cache_fast.h has the owner's side).
 *
 * Two flags decide who holds a cache, Dekker-style: the owner raises
 * cache->busy and then looks at cache->claimed, a drainer raises claimed
 * and then waits until busy is down; an owner that finds claimed raised
 * lowers busy and uses the pool's lock instead, so it never waits. Dekker
 * needs a full fence between each side's store and its load. The owner's
 * side is the fast path (thread_cache_enter/leave), so where the kernel
 * has membarrier(2) the owner's fence is only a compiler barrier and the
 * drainer's is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes
 * every running thread of the process pass a full fence (folly's
 * asymmetric fences; drains are rare). Without it (old kernels, Valgrind)
 * and under ThreadSanitizer (which does not model membarrier) the owner
 * takes busy with an atomic exchange and the drainer with the same
 * exchange: busy alone is then the lock, as it was. The exchange was half
 * of every cached call's time (perf, bench-malloc-simple pattern).
 *
 * A drainer (thread_cache.c's cache_lock held) takes caches in three
 * steps, so that taking all of a pool's caches, or every cache at fork,
 * costs one membarrier: claim each, settle the claims (the heavy fence),
 * then wait for each owner to leave. Without asymmetric fences, claiming
 * is the exchange itself and the other two steps do nothing.
 *
 * Locking: these are the flags; a cache's flag comes after cache_lock and
 * a pool's lock in the lock order (thread_cache.c).
 */
#include "config.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <KernelExport.h>

#include "core/thread_cache_fast.h"

#if THREAD_CACHE_FENCES_BY_MEMBARRIER
bool thread_cache_asymmetric_fences;
#endif

void thread_cache_decide_fences(void)
{
#if THREAD_CACHE_FENCES_BY_MEMBARRIER
	static bool fences_decided;
	if (!fences_decided) {
		thread_cache_asymmetric_fences =
			syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)
			== 0;
		fences_decided = true;
	}
#endif
}

void thread_cache_claim(struct thread_cache *cache)
{
	if (!thread_cache_asymmetric_fences) {
		while (atomic_exchange_explicit(&cache->busy, true, memory_order_acquire))
			sched_yield();
		return;
	}
	atomic_store_explicit(&cache->claimed, true, memory_order_seq_cst);
}

/* A forked child keeps the registration; a membarrier that fails once it
 * worked is registered again, then replaced by the global command (slow but
 * needs no registration); without any, no drain would be safe. */
void thread_cache_settle_claims(void)
{
#if THREAD_CACHE_FENCES_BY_MEMBARRIER
	if (!thread_cache_asymmetric_fences)
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0
		&& syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	panic("area_malloc: membarrier(2) stopped working after it was registered (%s): "
	      "the thread caches cannot be drained safely",
		strerror(errno));
#endif
}

void thread_cache_wait_for_owner(struct thread_cache *cache)
{
	if (!thread_cache_asymmetric_fences)
		return;
	while (atomic_load_explicit(&cache->busy, memory_order_acquire))
		sched_yield();
}

void thread_cache_take_busy(struct thread_cache *cache)
{
	thread_cache_claim(cache);
	if (cache->owner_slots != thread_cache_slots)
		thread_cache_settle_claims();
	thread_cache_wait_for_owner(cache);
}

void thread_cache_give_busy(struct thread_cache *cache)
{
	if (thread_cache_asymmetric_fences)
		atomic_store_explicit(&cache->claimed, false, memory_order_release);
	else
		atomic_store_explicit(&cache->busy, false, memory_order_release);
}
