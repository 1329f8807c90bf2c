/*
 * stack_driver.c - a driver's allocation wrappers, compiled twice: with
 * frame pointers (STACK_DRIVER_VARIANT fp, -fno-omit-frame-pointer) and
 * without (nofp, -fomit-frame-pointer, as Debian builds drivers at -O2).
 * Each variant allocates and frees through a wrapper (rx_alloc_VARIANT,
 * rx_free_VARIANT) called from a path function (rx_path_VARIANT,
 * rx_drop_VARIANT), in a thread it starts (rx_thread_VARIANT), and records
 * the return addresses each frame of those stacks must hold, for
 * stack_tests.c to compare with what the debug module recorded.
 *
 * Locking: the thread writes the driver's record; the test reads it after
 * joining the thread.
 */
#include <pthread.h>
#include <stdint.h>

#include "stack_driver.h"

#define JOIN2(a, b) a##_##b
#define JOIN(a, b) JOIN2(a, b)
#define NAMED(name) JOIN(name, STACK_DRIVER_VARIANT)
#define NOINLINE __attribute__((noinline, noipa))
/* keeps a call from being a tail call (which would drop the frame) */
#define AFTER_CALL(value) __asm__ volatile("" : : "r"(value) : "memory")

static struct stack_driver *self;

NOINLINE static uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

NOINLINE void *NAMED(rx_alloc)(const void *pool, size_t size)
{
	void *block;

	self->alloc_call.before = here();
	block = self->am->malloc(pool, size);
	self->alloc_call.after = here();
	self->alloc_returns_to = (uintptr_t)__builtin_return_address(0);
	AFTER_CALL(block);
	return block;
}

NOINLINE void NAMED(rx_free)(const void *pool, void *block)
{
	self->free_call.before = here();
	self->am->free(pool, block);
	self->free_call.after = here();
	self->free_returns_to = (uintptr_t)__builtin_return_address(0);
	AFTER_CALL(block);
}

NOINLINE void *NAMED(rx_path)(const void *pool)
{
	void *block = NAMED(rx_alloc)(pool, 48);

	AFTER_CALL(block);
	if (self->paths < 2) /* rx_thread's two calls, not rx_repeat's */
		self->path_returns_to[self->paths] = (uintptr_t)__builtin_return_address(0);
	self->paths++;
	return block;
}

NOINLINE void NAMED(rx_drop)(const void *pool, void *block)
{
	NAMED(rx_free)(pool, block);
	AFTER_CALL(block);
	self->drop_returns_to[self->drops++ % 2] = (uintptr_t)__builtin_return_address(0);
}

/* The same stack a hundred times over: after the first, the module knows
 * it (from the walk, or from where the unwind tables found it). */
NOINLINE static void NAMED(rx_repeat)(const void *pool)
{
	for (int i = 0; i < 100; i++) {
		self->repeated[i] = NAMED(rx_path)(pool);
		AFTER_CALL(self->repeated[i]);
	}
	self->repeat_returns_to = (uintptr_t)__builtin_return_address(0);
}

/* A leak, and a block freed twice: the second free's report carries the
 * allocation's stack and the first free's. */
NOINLINE static void *NAMED(rx_thread)(void *argument)
{
	const void *pool = argument;
	void *block;

	self->leaked = NAMED(rx_path)(pool);
	block = NAMED(rx_path)(pool);
	self->freed = block;
	NAMED(rx_drop)(pool, block);
	NAMED(rx_drop)(pool, block);
	AFTER_CALL(block);
	NAMED(rx_repeat)(pool);
	return NULL;
}

static void NAMED(run)(struct stack_driver *driver, const void *pool)
{
	pthread_t thread;

	self = driver;
	driver->paths = driver->drops = 0;
	pthread_create(&thread, NULL, NAMED(rx_thread), (void *)pool);
	pthread_join(thread, NULL);
}

struct stack_driver NAMED(stack_driver) = {
	.name = JOIN(STACK_DRIVER_NAME, STACK_DRIVER_VARIANT),
	.run = NAMED(run),
};
