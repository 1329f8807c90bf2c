/*
 * cross_process.h - ordering stores for readers in other processes: the
 * debug node's files are read with pread by pooldump while the driver
 * writes them, so a writer publishes with a release fence (the pool's seq
 * before its changes, a stack depot's header before its magic).
 *
 * GCC's ThreadSanitizer does not model fences and warns (-Wtsan, an error
 * with -Werror); the readers these fences are for are other processes,
 * which ThreadSanitizer does not see either, so the warning is silenced
 * here, once.
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_FORMAT_CROSS_PROCESS_H
#define AREA_MALLOC_FORMAT_CROSS_PROCESS_H

static inline void release_fence_for_readers(void)
{
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
	__atomic_thread_fence(__ATOMIC_RELEASE);
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}

#endif /* AREA_MALLOC_FORMAT_CROSS_PROCESS_H */
