/*
 * node_driver.c - a driver-like program for pooldump's end-to-end tests.
 * Run it under the debug module (KERNEL_MODULE_PATH=<builddir>/modules/debug,
 * AREA_MALLOC_OPTIONS=node_dir=DIR): it creates two pools named "alpha" and
 * "beta", allocates known blocks from known functions, prints one line
 *     ready ALPHA_AREA BETA_AREA
 * and then, depending on its mode, works while it waits for standard input
 * to reach end of file; then it frees everything, deletes its pools, puts
 * the module and exits 0 (a clean exit).
 *
 * Known blocks: alpha holds 3 x 100 bytes from alloc_alpha_small and 1 x
 * 5000 bytes from alloc_alpha_large; beta holds 2 x 2000 bytes (calloc)
 * from alloc_beta and one freed (quarantined) 64-byte block from
 * alloc_and_free_in_beta. Each function allocates once, at one call site,
 * and is called from one call site (loops the compiler cannot unroll), so
 * the blocks of a function share their whole stack, as leaks group them.
 *
 * Modes (argv[1]):
 *   wait      nothing more
 *   churn     two threads allocate and free in both pools until end of file
 *   mark      marks a phase, then 1 x 300 bytes from alloc_after_mark
 *   overflow  writes 3 bytes past the end of the 5000-byte block
 *   fork      forks; the child allocates 1 x 777 bytes in alpha from
 *             alloc_in_child, prints "child PID", and waits for end of file too
 * In every mode a line "calls N" on standard input makes N malloc/free pairs
 * in beta, answered by "done N".
 *
 * Locking: the churn threads share nothing but the module (thread-safe).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "support/wild_write.h"

#define NOINLINE __attribute__((noinline, noipa))
#define CHURN_RING 64
/* After the call: keeps the compiler from making it a tail call, which
 * would credit the block to our caller. */
#define AFTER_CALL(value) __asm__ volatile("" : : "r"(value) : "memory")

static area_malloc_module_info *allocator;
static area_malloc_debug_module_info *debug_module;
static const void *alpha, *beta;
static void *small_blocks[3], *large_block, *beta_blocks[2], *late_block, *child_block;
static atomic_bool stop_churn;
/* trip counts the compiler cannot see: an unrolled loop makes call sites */
static volatile int three = 3, two = 2;

/* One allocation per function, each made at a single call site, so every
 * block of a function has the same caller whatever the optimiser does. */
NOINLINE static void *alloc_alpha_small(void)
{
	void *block = allocator->malloc(alpha, 100);

	AFTER_CALL(block);
	return block;
}

NOINLINE static void alloc_alpha_large(void)
{
	large_block = allocator->malloc(alpha, 5000);
}

NOINLINE static void *alloc_beta(void)
{
	void *block = allocator->calloc(beta, 1, 2000);

	AFTER_CALL(block);
	return block;
}

NOINLINE static void alloc_and_free_in_beta(void)
{
	allocator->free(beta, allocator->malloc(beta, 64));
}

NOINLINE static void alloc_after_mark(void)
{
	late_block = allocator->malloc(alpha, 300);
}

NOINLINE static void alloc_in_child(void)
{
	child_block = allocator->malloc(alpha, 777);
}

NOINLINE static void *churn(void *argument)
{
	void *ring[CHURN_RING] = { NULL };
	const void *pool = argument;
	unsigned seed = (unsigned)(uintptr_t)argument, step = 0;

	while (!atomic_load(&stop_churn)) {
		unsigned slot = step++ % CHURN_RING;
		if (ring[slot] != NULL)
			allocator->free(pool, ring[slot]);
		ring[slot] = allocator->malloc(pool, 16 + rand_r(&seed) % 200);
	}
	for (unsigned i = 0; i < CHURN_RING; i++)
		if (ring[i] != NULL)
			allocator->free(pool, ring[i]);
	return NULL;
}

/* Until end of file; a line "calls N" makes N malloc/free pairs in beta
 * from this thread, answered with "done N" once they are over (the test of
 * a stopped reader: every call of the driver completes). */
static void wait_for_end_of_input(void)
{
	char line[64];
	unsigned long calls;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (sscanf(line, "calls %lu", &calls) != 1)
			continue;
		for (unsigned long i = 0; i < calls; i++) {
			void *block = allocator->malloc(beta, 32 + i % 100);
			if (block == NULL)
				break;
			allocator->free(beta, block);
		}
		printf("done %lu\n", calls);
		fflush(stdout);
	}
}

static void free_known_blocks(void)
{
	for (int i = 0; i < 3; i++)
		allocator->free(alpha, small_blocks[i]);
	allocator->free(alpha, large_block);
	for (int i = 0; i < 2; i++)
		allocator->free(beta, beta_blocks[i]);
	if (late_block != NULL)
		allocator->free(alpha, late_block);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "wait";
	pthread_t churners[2];
	pid_t child = -1;

	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&allocator) != B_OK) {
		fprintf(stderr, "node_driver: no %s\n", B_AREA_MALLOC_MODULE_NAME);
		return 2;
	}
	if (get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&debug_module) != B_OK)
		debug_module = NULL;
	alpha = allocator->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	beta = allocator->create_pool(B_ANY_KERNEL_ADDRESS, 256 * 1024, B_FULL_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	if (alpha == NULL || beta == NULL) {
		fprintf(stderr, "node_driver: cannot create the pools\n");
		return 2;
	}
	if (debug_module != NULL) {
		debug_module->set_pool_name(alpha, "alpha");
		debug_module->set_pool_name(beta, "beta");
	}
	for (int i = 0; i < three; i++)
		small_blocks[i] = alloc_alpha_small();
	alloc_alpha_large();
	for (int i = 0; i < two; i++)
		beta_blocks[i] = alloc_beta();
	alloc_and_free_in_beta();
	if (strcmp(mode, "mark") == 0 && debug_module != NULL) {
		debug_module->mark();
		alloc_after_mark();
	} else if (strcmp(mode, "overflow") == 0) {
		wild_write((char *)large_block + 5000, 'x', 3);
	} else if (strcmp(mode, "churn") == 0) {
		pthread_create(&churners[0], NULL, churn, (void *)alpha);
		pthread_create(&churners[1], NULL, churn, (void *)beta);
	}
	printf("ready %d %d\n", (int)area_for(small_blocks[0]), (int)area_for(beta_blocks[0]));
	fflush(stdout);
	if (strcmp(mode, "fork") == 0) {
		child = fork();
		if (child == 0) {
			alloc_in_child();
			printf("child %d\n", (int)getpid());
			fflush(stdout);
			wait_for_end_of_input();
			allocator->free(alpha, child_block);
			free_known_blocks();
			allocator->delete_pool(alpha);
			allocator->delete_pool(beta);
			if (debug_module != NULL)
				put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
			put_module(B_AREA_MALLOC_MODULE_NAME);
			exit(0);
		}
	}
	wait_for_end_of_input();
	if (strcmp(mode, "churn") == 0) {
		atomic_store(&stop_churn, true);
		pthread_join(churners[0], NULL);
		pthread_join(churners[1], NULL);
	}
	if (child > 0)
		waitpid(child, NULL, 0);
	if (strcmp(mode, "overflow") == 0)
		wild_write((char *)large_block + 5000, 0xfd, 3); /* mended: the exit stays clean */
	free_known_blocks();
	allocator->delete_pool(alpha);
	allocator->delete_pool(beta);
	if (debug_module != NULL)
		put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	return 0;
}
