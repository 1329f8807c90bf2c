/*
 * lock.h - the sleeping locks of the kernel-API layer (Haiku's kernel
 * 'mutex' and 'recursive_lock' names), inline over pthread mutexes.
 *
 * The module documentation says its calls "may block on semaphores": these
 * sleep in the kernel (futex) when contended and never spin for long, so a
 * lock holder that is preempted does not burn the other CPU.
 */
#ifndef AREA_MALLOC_KERNEL_LOCK_H
#define AREA_MALLOC_KERNEL_LOCK_H

#include <errno.h>
#include <pthread.h>

typedef struct mutex {
	pthread_mutex_t m;
	const char *name;
} mutex;

#define MUTEX_INITIALIZER(lock_name) { PTHREAD_MUTEX_INITIALIZER, (lock_name) }

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

static inline void mutex_unlock(mutex *lock)
{
	pthread_mutex_unlock(&lock->m);
}

typedef struct recursive_lock {
	pthread_mutex_t m;
	const char *name;
} recursive_lock;

#define RECURSIVE_LOCK_INITIALIZER(lock_name) \
	{ PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP, (lock_name) }

static inline void recursive_lock_lock(recursive_lock *lock)
{
	pthread_mutex_lock(&lock->m);
}

static inline void recursive_lock_unlock(recursive_lock *lock)
{
	pthread_mutex_unlock(&lock->m);
}

#endif /* AREA_MALLOC_KERNEL_LOCK_H */
