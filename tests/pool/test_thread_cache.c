/*
 * test_thread_cache.c - the release module's per-thread caches keep every
 * promise of the pool (src/core/thread_cache.h): cached blocks count as
 * free, no allocation fails while a cache holds blocks, delete_pool and
 * unloading the module reclaim them, a second free of a cached block is
 * refused, a calloc served from a cache is zeroed, thread exit and fork
 * leave the pools sound; size classes up to 32 KiB, and the depot that
 * passes whole magazines between threads. Most tests start a second
 * thread (a "holder" that caches blocks and then waits while the test
 * looks); the last promise test checks them again in a process that never
 * had one.
 */
#include "config.h"

#include <check.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#endif

#include "core/cache_magazine.h"
#include "core/thread_cache_fast.h"
#include "kernel/sanitizers.h"
#include "pool_test_support.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/scale.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define KIB 1024
#define MAX_HELD 256

static area_malloc_module_info *am;

/* ---- a thread that runs one job, then waits until released ---- */

struct holder {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	void (*job)(struct holder *);
	bool job_done;
	bool released;
	const void *pool;
	size_t size;
	int count;
	void *blocks[MAX_HELD];
};

static void *holder_main(void *argument)
{
	struct holder *holder = argument;

	holder->job(holder);
	pthread_mutex_lock(&holder->lock);
	holder->job_done = true;
	pthread_cond_broadcast(&holder->changed);
	while (!holder->released)
		pthread_cond_wait(&holder->changed, &holder->lock);
	pthread_mutex_unlock(&holder->lock);
	return NULL;
}

/* Starts the holder on its job and waits until the job is done. */
static void holder_start(struct holder *holder, void (*job)(struct holder *))
{
	pthread_mutex_init(&holder->lock, NULL);
	pthread_cond_init(&holder->changed, NULL);
	holder->job = job;
	holder->job_done = holder->released = false;
	ck_assert_int_eq(pthread_create(&holder->thread, NULL, holder_main, holder), 0);
	pthread_mutex_lock(&holder->lock);
	while (!holder->job_done)
		pthread_cond_wait(&holder->changed, &holder->lock);
	pthread_mutex_unlock(&holder->lock);
}

static void holder_finish(struct holder *holder)
{
	pthread_mutex_lock(&holder->lock);
	holder->released = true;
	pthread_cond_broadcast(&holder->changed);
	pthread_mutex_unlock(&holder->lock);
	ck_assert_int_eq(pthread_join(holder->thread, NULL), 0);
}

/* Allocates count blocks of size, writes them, frees them all. */
static void allocate_then_free(struct holder *holder)
{
	for (int i = 0; i < holder->count; i++) {
		holder->blocks[i] = am->malloc(holder->pool, holder->size);
		ck_assert_ptr_nonnull(holder->blocks[i]);
		memset(holder->blocks[i], 0xa5, holder->size);
	}
	for (int i = 0; i < holder->count; i++)
		am->free(holder->pool, holder->blocks[i]);
}

/* ---- what the module's "pool" command says about a pool ---- */

struct pool_figures {
	size_t used;
	size_t free;
	size_t blocks;
};

/* What a debugger command printed (run_debug_command kept out of line: gcc
 * otherwise takes the pointer into its memstream for a dangling one). */
static __attribute__((noinline)) char *command_output(const char *line)
{
	char *output = NULL;

	ck_assert_int_eq(run_debug_command(line, &output), 0);
	ck_assert_ptr_nonnull(output);
	return output;
}

static struct pool_figures figures_of(const void *pool, void *any_block_ever)
{
	struct pool_figures figures;
	char line[64], *output;
	area_id area = area_for(any_block_ever);
	const char *at;

	ck_assert_int_gt(area, 0);
	snprintf(line, sizeof(line), "pool %d", (int)area);
	output = command_output(line);
	at = strstr(output, "used: ");
	ck_assert_msg(at != NULL, "%s", output);
	ck_assert_int_eq(sscanf(at, "used: %zu; peak: %*u; free: %zu; blocks: %zu", &figures.used,
				 &figures.free, &figures.blocks),
		3);
	free(output);
	(void)pool;
	return figures;
}

/* How many blocks of size a fresh pool of pool_size holds, from one thread
 * whose caches are not involved (it never frees). */
static int capacity_in_blocks(size_t pool_size, size_t size)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	int count = 0;

	ck_assert_ptr_nonnull(pool);
	while (am->malloc(pool, size) != NULL)
		count++;
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	return count;
}

static void setup(void)
{
	am = get_area_malloc();
}

static void teardown(void)
{
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}

/* ---- the promises ---- */

START_TEST(test_cached_blocks_count_as_free)
{
	struct holder holder = { .size = 64, .count = 12 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 256 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(holder.pool);
	holder_start(&holder, allocate_then_free);

	struct pool_figures figures = figures_of(holder.pool, holder.blocks[0]);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();

	holder_finish(&holder); /* its caches go back to the heap */
	figures = figures_of(holder.pool, holder.blocks[0]);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

/* A freed block comes back to the thread that freed it, without the lock:
 * the cache is LIFO per size class. */
START_TEST(test_cache_serves_its_thread)
{
	struct holder holder = { .size = 200, .count = 1 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 256 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	holder_finish(&holder);

	/* now this thread, in a process that has had two threads */
	void *a = am->malloc(holder.pool, 200);
	void *b = am->malloc(holder.pool, 200);
	ck_assert(a && b && a != b);
	am->free(holder.pool, b);
	ck_assert_ptr_eq(am->malloc(holder.pool, 200), b);
	/* the same size class (usable 208) serves 193..208 */
	am->free(holder.pool, b);
	ck_assert_ptr_eq(am->malloc(holder.pool, 193), b);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

START_TEST(test_calloc_from_cache_is_zeroed)
{
	struct holder holder = { .size = 100, .count = 1 };
	unsigned char *block;

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	holder_finish(&holder);
	block = am->malloc(holder.pool, 100);
	memset(block, 0xff, 100);
	am->free(holder.pool, block);
	ck_assert_ptr_eq(am->calloc(holder.pool, 10, 10), block);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(block[i], 0);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

/* Another thread's cache holds blocks; this thread still gets everything the
 * pool holds before malloc returns NULL. */
START_TEST(test_drained_before_null)
{
	const size_t pool_size = 512 * KIB;
	const size_t size = 1000;
	struct holder holder = { .size = size, .count = 40 };
	int expected = capacity_in_blocks(pool_size, size);
	int count = 0;

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	while (am->malloc(holder.pool, size) != NULL)
		count++;
	ck_assert_int_eq(count, expected);
	assert_pools_valid();

	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

START_TEST(test_large_request_after_caching)
{
	const size_t pool_size = 256 * KIB;
	struct holder holder = { .size = 2000, .count = 30 };
	void *big;

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	/* the first blocks freed sit in the cache at the start of the heap: a
	 * block of nearly the whole pool needs them merged back first */
	big = am->malloc(holder.pool, pool_size - 8 * KIB);
	ck_assert_ptr_nonnull(big);
	big = am->realloc(holder.pool, big, pool_size - 16 * KIB); /* shrinks in place */
	ck_assert_ptr_nonnull(big);
	assert_pools_valid();
	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

static void free_twice(struct holder *holder)
{
	void *block = am->malloc(holder->pool, 48);

	holder->blocks[0] = block;
	am->free(holder->pool, block);
	am->free(holder->pool, block); /* refused: it is in the cache */
	/* a realloc of it is refused too */
	ck_assert_ptr_null(am->realloc(holder->pool, block, 500));
	holder->blocks[1] = am->malloc(holder->pool, 48);
	holder->blocks[2] = am->malloc(holder->pool, 48);
}

START_TEST(test_second_free_of_cached_block_refused)
{
	struct holder holder = { 0 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, free_twice);
	/* the block was handed out once, not twice */
	ck_assert_ptr_eq(holder.blocks[1], holder.blocks[0]);
	ck_assert_ptr_nonnull(holder.blocks[2]);
	ck_assert_ptr_ne(holder.blocks[2], holder.blocks[1]);
	struct pool_figures figures = figures_of(holder.pool, holder.blocks[0]);
	ck_assert_uint_eq(figures.blocks, 2);
	assert_pools_valid();

	/* a second free from another thread than the one caching it */
	am->free(holder.pool, holder.blocks[1]);
	am->free(holder.pool, holder.blocks[1]);
	figures = figures_of(holder.pool, holder.blocks[0]);
	ck_assert_uint_eq(figures.blocks, 1);
	assert_pools_valid();
	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

START_TEST(test_delete_pool_reclaims_cached_blocks)
{
	struct holder holder = { .size = 64, .count = 8 };
	struct holder second = { .size = 64, .count = 8 };
	const void *old_pool;

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	old_pool = holder.pool;
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
	holder_finish(&holder);

	/* many pools come and go; none inherits a stale cache */
	for (int round = 0; round < 20; round++) {
		second.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
		ck_assert_ptr_nonnull(second.pool);
		holder_start(&second, allocate_then_free);
		ck_assert_ptr_null(am->malloc(old_pool, 64)); /* stale id */
		assert_pools_valid();
		ck_assert_int_eq(am->delete_pool(second.pool), B_OK);
		holder_finish(&second);
	}
}
END_TEST

/* The module goes away while a thread still has caches, and comes back. */
START_TEST(test_unload_with_live_caches)
{
	struct holder holder = { .size = 64, .count = 8 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);

	am = get_area_malloc();
	holder_finish(&holder); /* its thread exits after the unload: nothing to run */
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	struct holder again = { .pool = pool, .size = 64, .count = 8 };
	holder_start(&again, allocate_then_free);
	holder_finish(&again);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

/* A child forked while another thread's cache holds blocks gets them all. */
START_TEST(test_fork_child_gets_cached_blocks)
{
	const size_t pool_size = 256 * KIB;
	struct holder holder = { .size = 500, .count = 30 };
	int expected = capacity_in_blocks(pool_size, 500);
	int status;
	pid_t child;

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, allocate_then_free);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int count = 0;
		while (am->malloc(holder.pool, 500) != NULL)
			count++;
		char *output = NULL;
		int valid = run_debug_command("check", &output);
		_exit(count == expected && valid == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

/* ---- many threads, one pool: nothing lost, nothing handed out twice ---- */

#define STRESS_THREADS 4
#define STRESS_SLOTS 64
#define STRESS_ROUNDS 20000

struct stress_thread {
	pthread_t thread;
	const void *pools[2]; /* pools[1] NULL: one pool */
	size_t max_size;      /* 0: 3000 */
	long rounds;          /* 0: STRESS_ROUNDS */
	unsigned seed;
	int failures;
	void *seen[2]; /* a block this thread had of each pool */
};

/* Replaces a random slot's block, checking its contents first; with two
 * pools, each new block's pool is drawn too. */
static void *stress_main(void *argument)
{
	struct stress_thread *self = argument;
	unsigned char *slots[STRESS_SLOTS] = { 0 };
	size_t sizes[STRESS_SLOTS] = { 0 };
	const void *owners[STRESS_SLOTS];
	size_t max_size = self->max_size != 0 ? self->max_size : 3000;
	long rounds = self->rounds != 0 ? self->rounds : STRESS_ROUNDS;

	for (int i = 0; i < STRESS_SLOTS; i++)
		owners[i] = self->pools[0];
	for (long round = 0; round < rounds; round++) {
		int i = (int)(rand_r(&self->seed) % STRESS_SLOTS);
		if (slots[i] != NULL) {
			unsigned char mark = (unsigned char)(i ^ (uintptr_t)self);
			for (size_t b = 0; b < sizes[i]; b++)
				if (slots[i][b] != mark) {
					self->failures++;
					break;
				}
			am->free(owners[i], slots[i]);
		}
		if (self->pools[1] != NULL)
			owners[i] = self->pools[rand_r(&self->seed) % 2];
		sizes[i] = 1 + rand_r(&self->seed) % max_size;
		slots[i] = am->malloc(owners[i], sizes[i]);
		if (slots[i] == NULL) {
			self->failures++;
			continue;
		}
		memset(slots[i], (unsigned char)(i ^ (uintptr_t)self), sizes[i]);
		self->seen[owners[i] == self->pools[0] ? 0 : 1] = slots[i];
	}
	for (int i = 0; i < STRESS_SLOTS; i++)
		am->free(owners[i], slots[i]);
	return NULL;
}

START_TEST(test_threads_share_a_pool_through_caches)
{
	struct stress_thread threads[STRESS_THREADS];
	const void *pool =
		am->create_pool(B_ANY_KERNEL_ADDRESS, 4 * 1024 * KIB, B_NO_LOCK, KERNEL_RW);
	void *probe;

	ck_assert_ptr_nonnull(pool);
	for (int t = 0; t < STRESS_THREADS; t++) {
		threads[t] = (struct stress_thread){ .pools = { pool }, .seed = (unsigned)t + 1 };
		ck_assert_int_eq(pthread_create(&threads[t].thread, NULL, stress_main, &threads[t]),
			0);
	}
	for (int t = 0; t < STRESS_THREADS; t++) {
		ck_assert_int_eq(pthread_join(threads[t].thread, NULL), 0);
		ck_assert_int_eq(threads[t].failures, 0);
	}
	struct pool_figures figures = figures_of(pool, threads[0].seen[0]);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	probe = am->malloc(pool, 16);
	ck_assert_ptr_nonnull(probe);
	am->free(pool, probe);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

/* fork() while another thread is in the middle of heap operations: the
 * child never inherits a pool lock or a cache flag held by a thread it does
 * not have (the module's fork handlers take them all around fork). */
struct churner {
	pthread_t thread;
	const void *pool;
	_Atomic bool stop;
};

static void *churn_until_stopped(void *argument)
{
	struct churner *churner = argument;
	void *slots[32] = { 0 };
	unsigned seed = 7;

	while (!atomic_load(&churner->stop)) {
		int i = (int)(rand_r(&seed) % 32);
		am->free(churner->pool, slots[i]);
		slots[i] = am->malloc(churner->pool, 16 + rand_r(&seed) % 3000);
	}
	for (int i = 0; i < 32; i++)
		am->free(churner->pool, slots[i]);
	return NULL;
}

START_TEST(test_fork_while_another_thread_allocates)
{
	struct churner churner = { .pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * KIB,
					   B_NO_LOCK, KERNEL_RW) };

	ck_assert_ptr_nonnull(churner.pool);
	/* 50 forks, fewer under Valgrind (each child starts a Valgrind of its
	 * own, and the churner competes for Valgrind's one running thread) */
	long rounds = test_scaled(50, 5);

	ck_assert_int_eq(pthread_create(&churner.thread, NULL, churn_until_stopped, &churner), 0);
	for (long round = 0; round < rounds; round++) {
		pid_t child = fork();
		int status;
		ck_assert_int_ge(child, 0);
		if (child == 0) {
			test_alarm(20); /* a lock inherited held would hang here */
			for (int i = 0; i < 100; i++) {
				void *block = am->malloc(churner.pool, 100 + (size_t)i);
				if (block == NULL)
					_exit(2);
				memset(block, i, 100);
				am->free(churner.pool, block);
			}
			char *output = NULL;
			_exit(run_debug_command("check", &output) == 0 ? 0 : 3);
		}
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			"round %ld: child status 0x%x", round, status);
	}
	atomic_store(&churner.stop, true);
	ck_assert_int_eq(pthread_join(churner.thread, NULL), 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(churner.pool), B_OK);
}
END_TEST

/*
 * A process that never had a second thread uses the caches too (a cache hit
 * is cheaper than the heap), so every promise is checked again in one: Check
 * forks each test from a runner without threads, and the jobs run in the
 * test's own thread.
 */
START_TEST(test_single_threaded_process_keeps_the_promises)
{
	const size_t pool_size = 192 * KIB; /* fewer 1000-byte blocks than MAX_HELD */
	int expected = capacity_in_blocks(pool_size, 1000);
	struct holder holder = { .size = 1000, .count = 40 };
	struct pool_figures figures;
	int count = 0;

#ifndef AREA_MALLOC_BUILT_WITH_TSAN
	/* (ThreadSanitizer's runtime runs a thread of its own in every process) */
	ck_assert_msg(__libc_single_threaded, "the test process has had a thread");
#endif
	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(holder.pool);

	/* a burst of equal frees (more than a class keeps): all free in the
	 * statistics, then the whole pool can be taken again */
	allocate_then_free(&holder);
	figures = figures_of(holder.pool, holder.blocks[0]);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();
	ck_assert_int_lt(expected, MAX_HELD);
	while (count < MAX_HELD && (holder.blocks[count] = am->malloc(holder.pool, 1000)) != NULL)
		count++;
	ck_assert_int_eq(count, expected);
	assert_pools_valid();
	for (int i = 0; i < count; i++)
		am->free(holder.pool, holder.blocks[i]);

	/* a freed block comes back first, and a second free of it is refused */
	free_twice(&holder);
	ck_assert_ptr_eq(holder.blocks[1], holder.blocks[0]);
	ck_assert_ptr_nonnull(holder.blocks[2]);
	ck_assert_ptr_ne(holder.blocks[2], holder.blocks[1]);
	figures = figures_of(holder.pool, holder.blocks[0]);
	ck_assert_uint_eq(figures.blocks, 2);
	assert_pools_valid();

	/* delete_pool takes the cached blocks with the area */
	am->free(holder.pool, holder.blocks[1]);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
	assert_pools_valid();
#ifndef AREA_MALLOC_BUILT_WITH_TSAN
	ck_assert(__libc_single_threaded);
#endif
}
END_TEST

/*
 * The free path checks a pointer against the bounds of its pool's blocks
 * that the thread's cache copied when it attached (core/heap_fast.h),
 * without the lock: every pointer that is not a block's start is refused
 * there, reaches the locked check and is ignored, and the cache takes
 * nothing in. The cache is attached first (a block freed and taken back).
 */
START_TEST(test_free_refuses_pointers_outside_the_blocks)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	const void *other = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	char *first, *last = NULL, *stranger;
	area_info info;

	ck_assert_ptr_nonnull(pool);
	ck_assert_ptr_nonnull(other);
	first = am->malloc(pool, 32);
	ck_assert_ptr_nonnull(first);
	am->free(pool, first);
	ck_assert_ptr_eq(am->malloc(pool, 32), first); /* from the cache */
	/* the pool's last block: the rest of the pool in one */
	for (size_t size = 64 * KIB; size >= 16 && last == NULL; size -= 16)
		last = am->malloc(pool, size);
	ck_assert_ptr_nonnull(last);
	stranger = am->malloc(other, 32);
	ck_assert_ptr_nonnull(stranger);
	ck_assert_int_eq(get_area_info(area_for(first), &info), B_OK);
	struct pool_figures before = figures_of(pool, first);
	ck_assert_uint_eq(before.blocks, 2);

	char *area_end = (char *)info.address + info.size;
	char *wild[] = {
		(char *)info.address + 64, /* the pool's own header */
		first - 16,                /* below the first block */
		first + 8,                 /* misaligned */
		first + 16,                /* inside a block */
		last + 16, area_end - 16,  /* the heap's end sentinel */
		area_end,                  /* past the area */
		stranger,                  /* another pool's block */
	};
	for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++)
		am->free(pool, wild[i]);

	struct pool_figures after = figures_of(pool, first);
	ck_assert_uint_eq(after.blocks, before.blocks);
	ck_assert_uint_eq(after.used, before.used);
	assert_pools_valid();
	/* the real blocks still go into the cache and come back */
	am->free(pool, first);
	ck_assert_ptr_eq(am->malloc(pool, 32), first);
	am->free(pool, first);
	am->free(pool, last);
	am->free(other, stranger);
	ck_assert_uint_eq(figures_of(pool, first).blocks, 0);
	ck_assert_uint_eq(figures_of(other, stranger).blocks, 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(am->delete_pool(other), B_OK);
}
END_TEST

/*
 * delete_pool detaches the caches (C2): a detached cache admits no pointer
 * on the fast path, so a thread that cached for the pool and frees one of
 * its blocks after the delete gets the refusal of a stale id, and nothing
 * reads the unmapped area (before the bounds were cleared with the pool
 * pointer, this free faulted there). The same thread's next pool gets a
 * cache with that pool's bounds.
 */
START_TEST(test_cache_of_deleted_pool_admits_nothing)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	char *cached, *live;

	ck_assert_ptr_nonnull(pool);
	cached = am->malloc(pool, 48);
	live = am->malloc(pool, 48);
	ck_assert_ptr_nonnull(cached);
	ck_assert_ptr_nonnull(live);
	am->free(pool, cached); /* the thread's cache is attached to the pool */
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	am->free(pool, live); /* stale id: refused, the area is gone */
	ck_assert_ptr_null(am->malloc(pool, 48));

	const void *next = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(next);
	char *block = am->malloc(next, 48);
	ck_assert_ptr_nonnull(block);
	am->free(next, block);
	ck_assert_ptr_eq(am->malloc(next, 48), block); /* through the new cache */
	am->free(next, block);
	struct pool_figures figures = figures_of(next, block);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(next), B_OK);
}
END_TEST

/* ---- size classes, class sizes, the depot ---- */

/* The holder's blocks are all back in caches: the pool counts nothing used
 * and is sound; then the holder ends and the pool goes. */
static void finish_with_everything_free(struct holder *holder, void *any_block_ever)
{
	struct pool_figures figures = figures_of(holder->pool, any_block_ever);

	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();
	holder_finish(holder);
	ck_assert_int_eq(am->delete_pool(holder->pool), B_OK);
}

/* Every request has the smallest class that serves it, and every freed
 * block the largest class it can serve (core/cache_magazine.h). */
START_TEST(test_size_classes_fit_every_size)
{
	ck_assert_uint_eq(cache_class_size(0), 16);
	ck_assert_uint_eq(cache_class_size(CACHE_EXACT_CLASSES - 1), 256);
	ck_assert_uint_eq(cache_class_size(CACHE_EXACT_CLASSES), 320);
	ck_assert_uint_eq(cache_class_size(CACHE_CLASSES - 1), THREAD_CACHE_MAX_USABLE);
	for (unsigned c = 1; c < CACHE_CLASSES; c++)
		ck_assert_uint_gt(cache_class_size(c), cache_class_size(c - 1));
	for (size_t size = 0; size <= THREAD_CACHE_MAX_USABLE; size++) {
		unsigned c = cache_class_for_request(size);
		ck_assert_uint_lt(c, CACHE_CLASSES);
		ck_assert_uint_ge(cache_class_size(c), size);
		if (c > 0)
			ck_assert_uint_lt(cache_class_size(c - 1), size);
	}
	for (size_t usable = HEAP_ALIGN; usable <= THREAD_CACHE_MAX_USABLE; usable += HEAP_ALIGN) {
		unsigned c = cache_class_for_block(usable);
		ck_assert_uint_lt(c, CACHE_CLASSES);
		ck_assert_uint_le(cache_class_size(c), usable);
		if (c + 1 < CACHE_CLASSES)
			ck_assert_uint_gt(cache_class_size(c + 1), usable);
	}
}
END_TEST

/* The bound area_malloc(3) gives for a block taken from a class above
 * (magazine_take_above): only for requests of more than 240 bytes (the
 * classes of several sizes), less than twice the request, for every such
 * request and every block size those classes can hold. */
START_TEST(test_blocks_from_the_classes_above_stay_within_the_bound)
{
	size_t largest[CACHE_CLASSES] = { 0 };

	ck_assert(!cache_class_sizes_vary(cache_class_for_request(240)));
	ck_assert(cache_class_sizes_vary(cache_class_for_request(241)));
	for (size_t usable = HEAP_ALIGN; usable <= THREAD_CACHE_MAX_USABLE; usable += HEAP_ALIGN)
		largest[cache_class_for_block(usable)] = usable;
	for (size_t size = 0; size <= THREAD_CACHE_MAX_USABLE; size++) {
		unsigned c = cache_class_for_request(size), last = cache_last_class_above(c);
		ck_assert_uint_le(last, CACHE_CLASSES - 1);
		if (size <= 240)
			ck_assert_uint_eq(last, c);
		else
			ck_assert_uint_eq(last,
				c + CACHE_ABOVE_CLASSES < CACHE_CLASSES ? c + CACHE_ABOVE_CLASSES
									: CACHE_CLASSES - 1);
		for (unsigned above = c + 1; above <= last; above++) {
			ck_assert_uint_ge(cache_class_size(above), size);
			ck_assert_uint_lt(largest[above], 2 * size);
		}
	}
}
END_TEST

/* A block from the heap for 300 bytes (usable 304) is filed one class down
 * (256) when freed, and the next request for 300 still gets it back; a
 * request it is too small for does not. Blocks up to 32 KiB are cached.
 * Blocks for 600 and 540 bytes (usable 608 and 544), both filed in the
 * 512-byte class, the 544 on top: a request for 600 looks past that head
 * and gets the 608 back, and one for 520 then gets the 544. */
static void reuse_between_classes(struct holder *holder)
{
	void *block = am->malloc(holder->pool, 300);

	holder->blocks[0] = block;
	am->free(holder->pool, block);
	holder->blocks[1] = am->malloc(holder->pool, 300);
	am->free(holder->pool, holder->blocks[1]);
	holder->blocks[2] = am->malloc(holder->pool, 310);
	am->free(holder->pool, holder->blocks[2]);

	block = am->malloc(holder->pool, THREAD_CACHE_MAX_USABLE);
	holder->blocks[3] = block;
	am->free(holder->pool, block);
	holder->blocks[4] = am->malloc(holder->pool, THREAD_CACHE_MAX_USABLE - 1000);
	am->free(holder->pool, holder->blocks[4]);

	holder->blocks[5] = am->malloc(holder->pool, 600);
	holder->blocks[6] = am->malloc(holder->pool, 540);
	am->free(holder->pool, holder->blocks[5]);
	am->free(holder->pool, holder->blocks[6]);
	holder->blocks[7] = am->malloc(holder->pool, 600);
	holder->blocks[8] = am->malloc(holder->pool, 520);
	am->free(holder->pool, holder->blocks[7]);
	am->free(holder->pool, holder->blocks[8]);
}

START_TEST(test_block_between_classes_is_reused)
{
	struct holder holder = { 0 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, reuse_between_classes);
	ck_assert_ptr_nonnull(holder.blocks[0]);
	ck_assert_ptr_eq(holder.blocks[1], holder.blocks[0]);
	ck_assert_ptr_nonnull(holder.blocks[2]);
	ck_assert_ptr_ne(holder.blocks[2], holder.blocks[0]);
	ck_assert_ptr_nonnull(holder.blocks[3]);
	ck_assert_ptr_eq(holder.blocks[4], holder.blocks[3]);
	ck_assert_ptr_nonnull(holder.blocks[5]);
	ck_assert_ptr_nonnull(holder.blocks[6]);
	ck_assert_ptr_eq(holder.blocks[7], holder.blocks[5]);
	ck_assert_ptr_eq(holder.blocks[8], holder.blocks[6]);
	finish_with_everything_free(&holder, holder.blocks[0]);
}
END_TEST

/* A request of a class of several sizes whose class is empty (its own, the
 * depot) takes a block the cache holds in one of the two classes above
 * (cache_magazine.h, CACHE_ABOVE_CLASSES) rather than the heap; freed, the
 * block goes back to its own class; three classes above is too far. A
 * request of an exact class (up to 240 bytes) goes to the heap instead. */
static void take_from_classes_above(struct holder *holder)
{
	const void *pool = holder->pool;

	holder->blocks[0] = am->malloc(pool, 64); /* class 3 (64 bytes) */
	am->free(pool, holder->blocks[0]);
	holder->blocks[1] = am->malloc(pool, 32); /* class 1: exact, not from class 3 */
	am->free(pool, holder->blocks[1]);

	/* usable 1712, 2000 and 2112, filed in the 1536-, 1792- and
	 * 2048-byte classes: one, two and three above a request for 1100
	 * (the 1280-byte class, the one below empty) */
	for (int i = 2; i < 5; i++) {
		static const size_t sizes[] = { 1700, 2000, 2100 };
		holder->blocks[i] = am->malloc(pool, sizes[i - 2]);
		am->free(pool, holder->blocks[i]);
	}
	for (int i = 5; i < 8; i++)
		holder->blocks[i] = am->malloc(pool, 1100);
	for (int i = 5; i < 8; i++)
		am->free(pool, holder->blocks[i]);
}

START_TEST(test_empty_class_takes_from_the_classes_above)
{
	struct holder holder = { 0 };
	unsigned request_class = cache_class_for_request(1100);

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_uint_eq(cache_class_for_block(1712), request_class + 1);
	ck_assert_uint_eq(cache_class_for_block(2000), request_class + 2);
	ck_assert_uint_eq(cache_class_for_block(2112), request_class + 3);
	holder_start(&holder, take_from_classes_above);
	ck_assert_ptr_nonnull(holder.blocks[0]);
	ck_assert_ptr_nonnull(holder.blocks[1]);
	ck_assert_ptr_ne(holder.blocks[1], holder.blocks[0]);
	for (int i = 2; i < 5; i++)
		ck_assert_ptr_nonnull(holder.blocks[i]);
	ck_assert_ptr_eq(holder.blocks[5], holder.blocks[2]);
	ck_assert_ptr_eq(holder.blocks[6], holder.blocks[3]);
	ck_assert_ptr_nonnull(holder.blocks[7]);
	for (int i = 2; i < 7; i++)
		ck_assert_ptr_ne(holder.blocks[7], holder.blocks[i]);
	finish_with_everything_free(&holder, holder.blocks[0]);
}
END_TEST

/* In the exact classes (up to 240 bytes) a cached block is the size the heap
 * would give the request, so a pool of small blocks holds as many as
 * without the caches (area_malloc(3)): a driver that keeps 16-byte blocks
 * and allocates and frees a 48-byte scratch block before each one fills
 * the pool with as many 16-byte blocks as a thread that never frees, not
 * half as many (each kept block the 64-byte chunk of the scratch block,
 * taken from two classes above). */
static void keep_small_blocks_beside_a_scratch_block(struct holder *holder)
{
	holder->count = 0;
	for (;;) {
		void *scratch = am->malloc(holder->pool, 48);
		am->free(holder->pool, scratch);
		void *kept = am->malloc(holder->pool, 16);
		if (kept == NULL)
			break;
		if (holder->count == 0)
			holder->blocks[0] = kept;
		holder->count++;
	}
}

START_TEST(test_small_blocks_beside_larger_ones_fill_the_pool)
{
	const size_t pool_size = 64 * KIB;
	int expected = capacity_in_blocks(pool_size, 16);
	struct holder holder = { 0 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(holder.pool);
	holder_start(&holder, keep_small_blocks_beside_a_scratch_block);
	ck_assert_int_eq(holder.count, expected);
	assert_pools_valid();
	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
}
END_TEST

#define BATCH 1600 /* glibc's bench-malloc-simple's largest batch */

static void *batch[2][BATCH];

static int compare_pointers(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

/* How many of the count blocks of second are among those of first. */
static int blocks_in_common(void **first, void **second, int count)
{
	int common = 0;

	qsort(first, (size_t)count, sizeof(void *), compare_pointers);
	for (int i = 0; i < count; i++)
		common +=
			bsearch(&second[i], first, (size_t)count, sizeof(void *), compare_pointers)
			!= NULL;
	return common;
}

static void allocate_batch(const void *pool, int round, size_t size)
{
	for (int i = 0; i < BATCH; i++) {
		batch[round][i] = am->malloc(pool, size);
		ck_assert_ptr_nonnull(batch[round][i]);
	}
}

static void free_batch(const void *pool, int round)
{
	for (int i = 0; i < BATCH; i++)
		am->free(pool, batch[round][i]);
}

/* A batch of small blocks freed and allocated again never reaches the heap:
 * a class keeps 64 KiB of blocks, 2,048 of 16 bytes. */
static void batch_twice(struct holder *holder)
{
	allocate_batch(holder->pool, 0, 16);
	free_batch(holder->pool, 0);
	allocate_batch(holder->pool, 1, 16);
	holder->count = blocks_in_common(batch[0], batch[1], BATCH);
	free_batch(holder->pool, 1);
}

START_TEST(test_batch_of_small_blocks_comes_back_from_the_cache)
{
	struct holder holder = { 0 };

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * KIB, B_NO_LOCK, KERNEL_RW);
	holder_start(&holder, batch_twice);
	ck_assert_int_eq(holder.count, BATCH);
	finish_with_everything_free(&holder, batch[0][0]);
}
END_TEST

static void free_first_batch(struct holder *holder)
{
	free_batch(holder->pool, 0);
}

/*
 * One thread allocates, another frees (xmalloc-test's producer and
 * consumer): the consumer's full classes go to the pool's depot as whole
 * magazines, and the producer's next allocations come from there. Only
 * what the consumer's own class keeps (at most 64 KiB of blocks, 819 of 64
 * bytes) is not handed over. The depot's blocks count as free, are drained
 * before a NULL, are inherited by a forked child and go with delete_pool.
 */
START_TEST(test_depot_hands_blocks_from_consumer_to_producer)
{
	const size_t pool_size = 4096 * KIB, size = 64;
	const int kept_by_consumer = (int)(64 * KIB / (size + HEAP_BLOCK_OVERHEAD));
	int expected = capacity_in_blocks(pool_size, size);
	struct holder consumer = { 0 };
	int status;

	consumer.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_NO_LOCK, KERNEL_RW);
	allocate_batch(consumer.pool, 0, size);
	void *any_block = batch[0][0];
	holder_start(&consumer, free_first_batch);
	struct pool_figures figures = figures_of(consumer.pool, any_block);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();

	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int count = 0;
		while (am->malloc(consumer.pool, size) != NULL)
			count++;
		char *output = NULL;
		_exit(count == expected && run_debug_command("check", &output) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	allocate_batch(consumer.pool, 1, size);
	ck_assert_int_ge(blocks_in_common(batch[0], batch[1], BATCH), BATCH - kept_by_consumer);
	assert_pools_valid();

	/* the rest of the pool, the consumer's cache and the depot included */
	int count = BATCH;
	while (am->malloc(consumer.pool, size) != NULL)
		count++;
	ck_assert_int_eq(count, expected);
	assert_pools_valid();
	holder_finish(&consumer);
	ck_assert_int_eq(am->delete_pool(consumer.pool), B_OK);
	assert_pools_valid();
}
END_TEST

/* A second free of a block that sits in the depot (the consumer's first
 * magazine went there) is refused like one of a cached block. */
START_TEST(test_second_free_of_depot_block_refused)
{
	struct holder consumer = { 0 };

	consumer.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 4096 * KIB, B_NO_LOCK, KERNEL_RW);
	allocate_batch(consumer.pool, 0, 64);
	void *first_freed = batch[0][0];
	holder_start(&consumer, free_first_batch);
	am->free(consumer.pool, first_freed);
	struct pool_figures figures = figures_of(consumer.pool, first_freed);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();
	holder_finish(&consumer);
	figures = figures_of(consumer.pool, first_freed);
	ck_assert_uint_eq(figures.blocks, 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(consumer.pool), B_OK);
}
END_TEST

#define KEPT_BLOCKS 1000
#define CHURNED_BLOCKS 300

struct batch_churner {
	pthread_t thread;
	const void *pool;
	_Atomic bool stop;
	_Atomic long rounds;
};

/* Allocates CHURNED_BLOCKS blocks and frees them all, over and over: its
 * classes fill, pass magazines to the depot and take them back. */
static void *churn_batches(void *argument)
{
	struct batch_churner *churner = argument;
	static void *blocks[CHURNED_BLOCKS];

	while (!atomic_load(&churner->stop)) {
		for (int i = 0; i < CHURNED_BLOCKS; i++)
			blocks[i] = am->malloc(churner->pool, 256);
		for (int i = 0; i < CHURNED_BLOCKS; i++)
			am->free(churner->pool, blocks[i]);
		atomic_fetch_add(&churner->rounds, 1);
	}
	return NULL;
}

/* While another thread moves magazines between its cache and the depot, the
 * pool's statistics count each block once: never fewer live blocks than the
 * KEPT_BLOCKS this thread holds, never more than those and the churner's. */
START_TEST(test_statistics_count_moving_magazines_once)
{
	struct batch_churner churner = { 0 };
	static void *kept[KEPT_BLOCKS];
	long looks = test_scaled(2000, 100);

#ifdef HAVE_VALGRIND_MEMCHECK_H
	/* Valgrind runs one thread at a time, so it sees no race here, and
	 * each look waits out the churner's time slices (about 2 s a look) */
	if (RUNNING_ON_VALGRIND)
		looks = 5;
#endif

	churner.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 16384 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(churner.pool);
	for (int i = 0; i < KEPT_BLOCKS; i++) {
		kept[i] = am->malloc(churner.pool, 256);
		ck_assert_ptr_nonnull(kept[i]);
	}
	ck_assert_int_eq(pthread_create(&churner.thread, NULL, churn_batches, &churner), 0);
	while (atomic_load(&churner.rounds) < 2)
		sched_yield();
	for (long i = 0; i < looks; i++) {
		struct pool_figures figures = figures_of(churner.pool, kept[0]);
		ck_assert_msg(figures.blocks >= KEPT_BLOCKS
				&& figures.blocks <= KEPT_BLOCKS + CHURNED_BLOCKS,
			"look %ld: %zu live blocks, %d held here and at most %d there", i,
			figures.blocks, KEPT_BLOCKS, CHURNED_BLOCKS);
	}
	atomic_store(&churner.stop, true);
	ck_assert_int_eq(pthread_join(churner.thread, NULL), 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(churner.pool), B_OK);
}
END_TEST

/* ---- two pools in one slot of a thread's table of caches ---- */

/*
 * A thread keeps caches for THREAD_CACHE_SLOTS pools at once, in a table
 * indexed by a hash of the pool id (thread_cache_slot_of); a call on a pool
 * whose slot holds another pool's cache evicts that cache. An eviction must
 * do bounded work whatever the evicted cache holds (the release module's
 * constant-time promise): its blocks never go back to the heap one by one
 * inside the call. What the tests count is the blocks that left the caches
 * in that call: a block in a cache or a depot carries the caches' key in
 * its second word, which is cleared when it goes to the heap (or to the
 * driver), and the pool's area stays mapped, so the words can be read.
 */
#define EVICT_POOL_SIZE (16 * 1024 * KIB) /* a cache and a depot keep 1 MiB each */
#define EVICT_FILL_MAX 10000
#define EVICT_TRIES 256

static void *filled[EVICT_FILL_MAX];

/* A pool of size bytes whose id shares first's slot: pools are created
 * until one does, each miss deleted at once; with 8 slots, 256 tries all
 * miss with a probability of (7/8)^256, about 1e-15. */
static const void *pool_in_slot_of(const void *first, size_t size)
{
	for (int i = 0; i < EVICT_TRIES; i++) {
		const void *pool =
			am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, KERNEL_RW);
		ck_assert_ptr_nonnull(pool);
		if (thread_cache_slot_of(pool) == thread_cache_slot_of(first))
			return pool;
		ck_assert_int_eq(am->delete_pool(pool), B_OK);
	}
	ck_abort_msg("none of %d pools shared the slot of %p", EVICT_TRIES, first);
	return NULL;
}

/* The caches' key: the second word of a block that a cache holds. */
static uint64_t key_of_cached(void *block)
{
	uint64_t key = ((uint64_t *)block)[1];

	ck_assert_uint_ne(key, 0);
	return key;
}

/* How many of the count blocks are still in a cache or a depot. */
static int blocks_still_cached(void **blocks, int count, uint64_t key)
{
	int cached = 0;

	for (int i = 0; i < count; i++)
		cached += ((uint64_t *)blocks[i])[1] == key;
	return cached;
}

/* Blocks a class keeps (thread_cache.c: 64 KiB of blocks, 16 to 2,048). */
static int class_keeps(size_t usable)
{
	int blocks = (int)(64 * KIB / (usable + HEAP_BLOCK_OVERHEAD));

	return blocks < 16 ? 16 : blocks > 2048 ? 2048 : blocks;
}

/* Allocates count blocks of size into filled[first...], then frees them in
 * that order. */
static void fill_and_free(const void *pool, int first, int count, size_t size)
{
	ck_assert_int_le(first + count, EVICT_FILL_MAX);
	for (int i = first; i < first + count; i++) {
		filled[i] = am->malloc(pool, size);
		ck_assert_ptr_nonnull(filled[i]);
	}
	for (int i = first; i < first + count; i++)
		am->free(pool, filled[i]);
}

/*
 * A cache of the 1 MiB it may hold, every exact class (16 to 256 bytes)
 * full: about 10,000 blocks. A free on a pool in the same slot evicts it;
 * not one of its blocks goes back to the heap in that call (its full
 * magazines go to the pool's depot whole), they all still count as free,
 * and the evicting pool's block goes into the cache that took the slot.
 */
START_TEST(test_eviction_gives_no_block_back_to_the_heap)
{
	const void *pool =
		am->create_pool(B_ANY_KERNEL_ADDRESS, EVICT_POOL_SIZE, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	const void *other = pool_in_slot_of(pool, 64 * KIB);
	void *other_block = am->malloc(other, 64);
	int count = 0;

	ck_assert_ptr_nonnull(other_block);
	for (size_t size = 16; size <= CACHE_EXACT_LIMIT; size += 16) {
		int keeps = class_keeps(size);
		fill_and_free(pool, count, keeps, size);
		count += keeps;
	}
	uint64_t key = key_of_cached(filled[0]);
	ck_assert_int_eq(blocks_still_cached(filled, count, key), count);
	ck_assert_int_gt(count, 9000);

	am->free(other, other_block); /* evicts the full cache */
	ck_assert_int_eq(blocks_still_cached(filled, count, key), count);
	struct pool_figures figures = figures_of(pool, filled[0]);
	ck_assert_uint_eq(figures.used, 0);
	ck_assert_uint_eq(figures.blocks, 0);
	ck_assert_ptr_eq(am->malloc(other, 64), other_block); /* its cache has the slot */
	assert_pools_valid();

	/* back on the first pool: its blocks come back from its depot */
	void *again = am->malloc(pool, 32);
	am->free(pool, again);
	ck_assert_ptr_eq(am->malloc(pool, 16), filled[class_keeps(16) - 1]);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(other), B_OK);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

/*
 * The depot has no room for the evicted cache's magazine (its 64-byte class
 * already holds four): the cache is parked with its pool, blocks and all,
 * instead of being emptied into the heap. Fills the 64-byte class of the
 * pool's cache and depot (five magazines) and evicts it by a free on a pool
 * in the same slot; returns how many blocks were freed (filled[0...]).
 */
static int evict_into_a_full_depot(const void *pool, const void *other, void *other_block)
{
	int count = 5 * class_keeps(64);

	fill_and_free(pool, 0, count, 64);
	uint64_t key = key_of_cached(filled[0]);
	ck_assert_int_eq(blocks_still_cached(filled, count, key), count);
	am->free(other, other_block);
	ck_assert_int_eq(blocks_still_cached(filled, count, key), count);
	return count;
}

/* The holder (its blocks[1] a pool in the slot of its pool) allocates a
 * block of its pool (blocks[2], from the heap: the slot is the other
 * pool's), then fills and evicts its cache into a full depot. */
static void evict_in_holder(struct holder *holder)
{
	const void *other = holder->blocks[1];

	holder->blocks[0] = am->malloc(other, 64);
	ck_assert_ptr_nonnull(holder->blocks[0]);
	holder->blocks[2] = am->malloc(holder->pool, 64);
	ck_assert_ptr_nonnull(holder->blocks[2]);
	holder->count = evict_into_a_full_depot(holder->pool, other, holder->blocks[0]);
}

/* Parked blocks count as free and a forked child gets them (the evicting
 * thread still runs, as in the other fork tests); the next thread to attach
 * to the pool takes the parked cache up (its last freed block comes
 * first), and the pool can still be allocated whole. */
START_TEST(test_parked_cache_is_kept_and_taken_up_again)
{
	struct holder holder = { 0 };
	int expected = capacity_in_blocks(EVICT_POOL_SIZE, 64);
	int status;

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, EVICT_POOL_SIZE, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(holder.pool);
	const void *other = pool_in_slot_of(holder.pool, 64 * KIB);
	holder.blocks[1] = (void *)other;
	holder_start(&holder, evict_in_holder);
	struct pool_figures figures = figures_of(holder.pool, filled[0]);
	ck_assert_uint_eq(figures.used, 64 + HEAP_BLOCK_OVERHEAD); /* blocks[2] */
	ck_assert_uint_eq(figures.blocks, 1);
	assert_pools_valid();

	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int got = 1; /* blocks[2] */
		while (am->malloc(holder.pool, 64) != NULL)
			got++;
		char *output = NULL;
		_exit(got == expected && run_debug_command("check", &output) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* this thread's first free on the pool attaches the parked cache */
	am->free(holder.pool, holder.blocks[2]);
	ck_assert_ptr_eq(am->malloc(holder.pool, 64), filled[holder.count - 1]);
	assert_pools_valid();
	int got = 1;
	while (am->malloc(holder.pool, 64) != NULL)
		got++;
	ck_assert_int_eq(got, expected);
	assert_pools_valid();
	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(other), B_OK);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
	assert_pools_valid();
}
END_TEST

/* A cache parked by a thread that then exits stays with its pool: still
 * free in the statistics, drained before a NULL; delete_pool drops a parked
 * cache, and so does unloading the module, and the pools stay sound. */
START_TEST(test_parked_cache_outlives_its_thread_until_the_pool_goes)
{
	struct holder holder = { 0 };
	int expected = capacity_in_blocks(EVICT_POOL_SIZE, 64);

	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, EVICT_POOL_SIZE, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(holder.pool);
	const void *other = pool_in_slot_of(holder.pool, 64 * KIB);
	holder.blocks[1] = (void *)other;
	holder_start(&holder, evict_in_holder);
	holder_finish(&holder);
	struct pool_figures figures = figures_of(holder.pool, filled[0]);
	ck_assert_uint_eq(figures.used, 64 + HEAP_BLOCK_OVERHEAD); /* blocks[2] */
	ck_assert_uint_eq(figures.blocks, 1);
	assert_pools_valid();
	int got = 1;
	while (am->malloc(holder.pool, 64) != NULL)
		got++;
	ck_assert_int_eq(got, expected);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
	ck_assert_int_eq(am->delete_pool(other), B_OK);

	/* delete_pool with a parked cache */
	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, EVICT_POOL_SIZE, B_NO_LOCK, KERNEL_RW);
	other = pool_in_slot_of(holder.pool, 64 * KIB);
	holder.blocks[1] = (void *)other;
	holder_start(&holder, evict_in_holder);
	holder_finish(&holder);
	ck_assert_int_eq(am->delete_pool(holder.pool), B_OK);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(other), B_OK);

	/* the module goes away with a parked cache (and this thread's cache) */
	holder.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, EVICT_POOL_SIZE, B_NO_LOCK, KERNEL_RW);
	other = pool_in_slot_of(holder.pool, 64 * KIB);
	void *other_block = am->malloc(other, 64);
	evict_into_a_full_depot(holder.pool, other, other_block);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	am = get_area_malloc();
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	void *block = am->malloc(pool, 64);
	am->free(pool, block);
	ck_assert_ptr_eq(am->malloc(pool, 64), block);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

/* Threads that move between two 1 MiB pools of one slot evict, park and
 * take up each other's caches all the time (their magazines are short, so
 * most evictions park: about 40,000 in a run): nothing lost, nothing
 * handed out twice, no NULL, and every block is free again at the end. */
START_TEST(test_threads_move_between_pools_in_one_slot)
{
	struct stress_thread threads[STRESS_THREADS];
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * KIB, B_NO_LOCK, KERNEL_RW);

	ck_assert_ptr_nonnull(pool);
	const void *other = pool_in_slot_of(pool, 1024 * KIB);
	for (int t = 0; t < STRESS_THREADS; t++) {
		threads[t] = (struct stress_thread){ .pools = { pool, other },
			.max_size = 600,
			.rounds = test_scaled(STRESS_ROUNDS, 500),
			.seed = (unsigned)t + 11 };
		ck_assert_int_eq(pthread_create(&threads[t].thread, NULL, stress_main, &threads[t]),
			0);
	}
	for (int t = 0; t < STRESS_THREADS; t++) {
		ck_assert_int_eq(pthread_join(threads[t].thread, NULL), 0);
		ck_assert_int_eq(threads[t].failures, 0);
	}
	/* Nothing live: the blocks that exited threads' parked caches still
	 * hold are free, so a probe may get a hole a little larger than it
	 * asked for (a remainder too small for a chunk is not split off); the
	 * figures are read before any probe. */
	for (int p = 0; p < 2; p++) {
		const void *id = p == 0 ? pool : other;
		struct pool_figures figures = figures_of(id, threads[0].seen[p]);
		ck_assert_uint_eq(figures.used, 0);
		ck_assert_uint_eq(figures.blocks, 0);
		void *probe = am->malloc(id, 16);
		ck_assert_ptr_nonnull(probe);
		am->free(id, probe);
	}
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(other), B_OK);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

static Suite *thread_cache_suite(void)
{
	Suite *suite = suite_create("thread_cache");
	TCase *promises = tcase_create("promises");
	TCase *threads = tcase_create("threads");
	TCase *classes = tcase_create("classes");
	TCase *eviction = tcase_create("eviction");

	tcase_add_checked_fixture(promises, setup, teardown);
	tcase_add_test(promises, test_cached_blocks_count_as_free);
	tcase_add_test(promises, test_cache_serves_its_thread);
	tcase_add_test(promises, test_calloc_from_cache_is_zeroed);
	tcase_add_test(promises, test_drained_before_null);
	tcase_add_test(promises, test_large_request_after_caching);
	tcase_add_test(promises, test_second_free_of_cached_block_refused);
	tcase_add_test(promises, test_delete_pool_reclaims_cached_blocks);
	tcase_add_test(promises, test_unload_with_live_caches);
	tcase_add_test(promises, test_fork_child_gets_cached_blocks);
	tcase_add_test(promises, test_single_threaded_process_keeps_the_promises);
	tcase_add_test(promises, test_free_refuses_pointers_outside_the_blocks);
	tcase_add_test(promises, test_cache_of_deleted_pool_admits_nothing);
	suite_add_tcase(suite, promises);

	tcase_add_checked_fixture(classes, setup, teardown);
	tcase_add_test(classes, test_size_classes_fit_every_size);
	tcase_add_test(classes, test_blocks_from_the_classes_above_stay_within_the_bound);
	tcase_add_test(classes, test_block_between_classes_is_reused);
	tcase_add_test(classes, test_empty_class_takes_from_the_classes_above);
	tcase_add_test(classes, test_small_blocks_beside_larger_ones_fill_the_pool);
	tcase_add_test(classes, test_batch_of_small_blocks_comes_back_from_the_cache);
	tcase_add_test(classes, test_depot_hands_blocks_from_consumer_to_producer);
	tcase_add_test(classes, test_second_free_of_depot_block_refused);
	tcase_add_test(classes, test_statistics_count_moving_magazines_once);
	suite_add_tcase(suite, classes);

	tcase_add_checked_fixture(eviction, setup, teardown);
	tcase_add_test(eviction, test_eviction_gives_no_block_back_to_the_heap);
	tcase_add_test(eviction, test_parked_cache_is_kept_and_taken_up_again);
	tcase_add_test(eviction, test_parked_cache_outlives_its_thread_until_the_pool_goes);
	suite_add_tcase(suite, eviction);

	tcase_add_checked_fixture(threads, setup, teardown);
	tcase_set_timeout(threads, 120);
	tcase_add_test(threads, test_threads_share_a_pool_through_caches);
	tcase_add_test(threads, test_fork_while_another_thread_allocates);
	tcase_add_test(threads, test_threads_move_between_pools_in_one_slot);
	suite_add_tcase(suite, threads);
	return suite;
}

int main(void)
{
	return run_check_suite(thread_cache_suite(), CK_FORK_GETENV);
}
