/*
 * lock.h - the sleeping locks of the kernel-API layer (Haiku's kernel
 * 'mutex' and 'recursive_lock' names), inline over pthread mutexes.
 *
 * The module documentation says its calls "may block on semaphores": these
 * sleep in the kernel (futex) when contended and never spin for long, so a
 * lock holder that is preempted does not burn the other CPU. A pool's lock
 * (mutex_lock_spinning) waits a few microseconds on the CPU first: its
 * critical sections are short and its threads run at the same time.
 */
#ifndef AREA_MALLOC_KERNEL_LOCK_H
#define AREA_MALLOC_KERNEL_LOCK_H

#include <errno.h>
#include <pthread.h>

typedef struct mutex {
	pthread_mutex_t m;
	const char *name;
} mutex;

#define MUTEX_INITIALIZER(lock_name)                                                               \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, (lock_name)                                             \
	}

static inline void mutex_init(mutex *lock, const char *name)
{
	pthread_mutex_init(&lock->m, NULL);
	lock->name = name;
}

static inline void mutex_destroy(mutex *lock)
{
	pthread_mutex_destroy(&lock->m);
}

static inline void mutex_lock(mutex *lock)
{
	pthread_mutex_lock(&lock->m);
}

/* One step of waiting for a lock held on another CPU: tells the CPU to
 * yield its pipeline to the other hyperthread and to leave the line alone. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Waits at most this many cpu_relax() steps (some microseconds: a pause
 * takes 10 to 150 cycles) before sleeping. */
#define MUTEX_SPIN_STEPS 256

/*
 * mutex_lock() for locks held for short critical sections by threads that
 * run at the same time (a pool's lock): waits a bounded while on the CPU
 * before sleeping. Two threads sharing a pool otherwise put each other to
 * sleep on nearly every call: each unlock then wakes the other in the
 * kernel (futex) and each lock waits for that wakeup, which on 2 CPUs made
 * a call of the debug build 4 times slower with 2 threads than with 1. The
 * wait only reads the lock word (no atomic write) until it looks free, so
 * the holder's line is not pulled away at every step. Bounded: a holder
 * that was preempted costs the waiter a few microseconds, not a time slice.
 */
static inline void mutex_lock_spinning(mutex *lock)
{
	if (pthread_mutex_trylock(&lock->m) == 0)
		return;
	for (int step = 0; step < MUTEX_SPIN_STEPS; step++) {
		cpu_relax();
		/* glibc's lock word: 0 when free (Debian's libc is glibc) */
		if (__atomic_load_n(&lock->m.__data.__lock, __ATOMIC_RELAXED) == 0
			&& pthread_mutex_trylock(&lock->m) == 0)
			return;
	}
	pthread_mutex_lock(&lock->m);
}

static inline void mutex_unlock(mutex *lock)
{
	pthread_mutex_unlock(&lock->m);
}

typedef struct recursive_lock {
	pthread_mutex_t m;
	const char *name;
} recursive_lock;

#define RECURSIVE_LOCK_INITIALIZER(lock_name)                                                      \
	{                                                                                          \
		PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP, (lock_name)                                \
	}

static inline void recursive_lock_lock(recursive_lock *lock)
{
	pthread_mutex_lock(&lock->m);
}

static inline void recursive_lock_unlock(recursive_lock *lock)
{
	pthread_mutex_unlock(&lock->m);
}

#endif /* AREA_MALLOC_KERNEL_LOCK_H */
