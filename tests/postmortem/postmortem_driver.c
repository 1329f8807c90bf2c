/*
 * postmortem_driver.c - a correct driver that dies in the middle of an
 * allocator operation, for the post-mortem tests (test_postmortem.c). Run
 * it under the debug module (KERNEL_MODULE_PATH=<builddir>/modules/debug,
 * AREA_MALLOC_OPTIONS=node_dir=DIR[:...]): its node stays behind for
 * pooldump.
 *
 * Modes (argv[1]):
 *   churn SEED  two threads run malloc, calloc, realloc and free on two
 *               pools (the quarantine drains as it fills), check a pool now
 *               and then, and create and delete a third one, forever;
 *               prints "ready" once they run. The test kills it.
 *   die CASE    sets up one pool, prints "ready" (and "block ADDR" for the
 *               block the case changes, "damaged ADDR" for a block it
 *               overflowed on purpose), then dies of SIGKILL in the middle
 *               of the case's operation: malloc, calloc, free, link,
 *               drain, realloc, realloc-move, check, delete_pool, or
 *               free-with-damage (a free, with a genuine overflow in
 *               another block of the pool); or outside the pool's lock:
 *               malloc-fill (filling a new block's start after it) and
 *               free-ahead (poisoning a freed block's own bytes before
 *               it). Exit status 3 when it lived.
 *
 * How it dies exactly there, without a hook in the module: before the call
 * it makes one page of the pool read-only (or inaccessible, for check,
 * which only reads), chosen so that the call's first write (or read) of
 * that page is the step the case is about; the SIGSEGV handler kills the
 * process with SIGKILL. The thread stops at that instruction with every
 * earlier store in the pool's file, as a SIGKILL at a random moment would
 * leave it. Pages are chosen from where the blocks lie: a block's chunk
 * header is 16 bytes (core/heap.h) before its debug header, which is
 * front_size bytes (format/debug_block.h) before the user pointer; a
 * probe allocation freed without quarantine shows where the next one
 * lands. Single-threaded, so the pool's lock is skipped (seq and the
 * in-flight record are written all the same).
 *
 * Locking: the churn threads share nothing but the module (thread-safe).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "support/wild_write.h"

#include "core/heap.h"
#include "format/debug_block.h"

#define NOINLINE __attribute__((noinline, noipa))
#define PAGE ((uintptr_t)B_PAGE_SIZE)
#define BIG (5 * B_PAGE_SIZE) /* a block of several pages: a page in its middle */
#define CHURN_RING 48

static area_malloc_module_info *allocator;
static area_malloc_debug_module_info *debug_module;
static size_t front_size;

static const void *new_pool(size_t size)
{
	const void *pool = allocator->create_pool(B_ANY_KERNEL_ADDRESS, size, B_FULL_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);

	if (pool == NULL) {
		fprintf(stderr, "postmortem_driver: cannot create a pool\n");
		exit(2);
	}
	return pool;
}

/* ---- churn: a correct program, killed at a random moment by the test ---- */

struct churner {
	const void *pools[2];
	unsigned seed;
};

NOINLINE static void *churn(void *argument)
{
	struct churner *churner = argument;
	void *ring[2][CHURN_RING] = { { NULL } };
	size_t sizes[2][CHURN_RING] = { { 0 } };

	for (unsigned step = 0;; step++) {
		unsigned which = rand_r(&churner->seed) % 2,
			 slot = rand_r(&churner->seed) % CHURN_RING;
		const void *pool = churner->pools[which];
		size_t size = 1 + rand_r(&churner->seed) % 3000;
		void **block = &ring[which][slot], *moved;

		switch (rand_r(&churner->seed) % 4) {
		case 0:
			allocator->free(pool, *block);
			*block = allocator->malloc(pool, size);
			break;
		case 1:
			allocator->free(pool, *block);
			*block = allocator->calloc(pool, 1, size);
			break;
		case 2:
			moved = allocator->realloc(pool, *block, size);
			if (moved == NULL)
				size = sizes[which][slot]; /* the block stays as it was */
			else
				*block = moved;
			break;
		default:
			allocator->free(pool, *block);
			*block = NULL;
			break;
		}
		sizes[which][slot] = *block != NULL ? size : 0;
		/* the driver uses what it holds, and only that */
		if (*block != NULL)
			memset(*block, (int)step, size);
		if (step % 997 == 0 && debug_module != NULL)
			debug_module->check_pool(pool);
		if (step % 1499 == 0) {
			/* a short-lived pool: created, used, emptied and deleted */
			const void *scratch = new_pool(64 * 1024);
			void *blocks[4];
			for (int i = 0; i < 4; i++)
				blocks[i] = allocator->malloc(scratch, 100 + 500 * (size_t)i);
			for (int i = 0; i < 4; i++)
				allocator->free(scratch, blocks[i]);
			allocator->delete_pool(scratch);
		}
	}
	return NULL;
}

static _Noreturn void run_churn(unsigned seed)
{
	static struct churner churners[2];
	const void *pools[2] = { new_pool(1024 * 1024), new_pool(512 * 1024) };
	pthread_t threads[2];

	for (int i = 0; i < 2; i++) {
		churners[i].pools[0] = pools[0];
		churners[i].pools[1] = pools[1];
		churners[i].seed = seed * 2 + (unsigned)i;
		pthread_create(&threads[i], NULL, churn, &churners[i]);
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* ---- die: in the middle of one operation ---- */

static void die_now(int signal, siginfo_t *info, void *context)
{
	(void)signal;
	(void)info;
	(void)context;
	kill(getpid(), SIGKILL);
}

/* The first access of the page holding address that protection forbids
 * kills the process. */
static void arm(const void *address, int protection)
{
	struct sigaction action;
	void *page = (void *)((uintptr_t)address & ~(PAGE - 1));

	memset(&action, 0, sizeof(action));
	action.sa_sigaction = die_now;
	action.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &action, NULL);
	sigaction(SIGBUS, &action, NULL);
	fflush(stdout);
	if (mprotect(page, PAGE, protection) != 0) {
		perror("postmortem_driver: mprotect");
		exit(2);
	}
}

/* A page strictly inside a block of BIG bytes at user, past its first. */
static const void *middle_page(const void *user)
{
	return (const char *)user + 2 * PAGE;
}

static const void *page_of(const void *address)
{
	return (const void *)((uintptr_t)address & ~(PAGE - 1));
}

/* The size between BIG - PAGE and BIG of a block at user whose bytes end
 * short bytes before a page's end. */
static size_t size_ending_at_page_end(const void *user, size_t short_of)
{
	uintptr_t end = (((uintptr_t)user + BIG) & ~(PAGE - 1)) - short_of;

	return end - (uintptr_t)user;
}

/* A block's chunk header (core/heap.h), where returning it to the heap
 * writes first. */
static const void *chunk_of(const void *user)
{
	return (const char *)user - front_size - HEAP_BLOCK_OVERHEAD;
}

/* A quarantined block's link: the first word of its leading canary
 * (format/debug_block.h), right after its debug header. */
static const void *link_of(const void *user)
{
	return (const char *)user - front_size + sizeof(struct debug_block_header);
}

/* Where the next allocation of size bytes will lie: a probe freed without
 * quarantine (quarantine_bytes=0) goes back to the free chunk it came from. */
static void *next_block(const void *pool, size_t size)
{
	void *probe = allocator->malloc(pool, size);

	allocator->free(pool, probe);
	return probe;
}

static void say(const char *what, const void *address)
{
	printf("%s %p\n", what, address);
}

static int run_case(const char *name)
{
	const void *pool = new_pool(1024 * 1024);
	void *block, *other;

	printf("ready\n");
	if (strcmp(name, "malloc") == 0) {
		/* dies writing the new block's trailing canary: its bytes end 4
		 * bytes before a page's end, so that page's first write under
		 * the lock is the canary's (the heap's split writes the page
		 * after it, the fill of the block's start comes after the lock) */
		allocator->malloc(pool, 100);
		block = next_block(pool, BIG);
		say("block", block);
		arm(page_of((char *)block + size_ending_at_page_end(block, 4) - 1), PROT_READ);
		allocator->malloc(pool, size_ending_at_page_end(block, 4));
	} else if (strcmp(name, "malloc-fill") == 0) {
		/* dies filling the new block's start, after the lock: the block
		 * is whole, only its own bytes are half filled */
		allocator->malloc(pool, 100);
		block = next_block(pool, BIG);
		say("block", block);
		arm(middle_page(block), PROT_READ);
		allocator->malloc(pool, BIG);
	} else if (strcmp(name, "free-ahead") == 0) {
		/* dies poisoning the freed block's own bytes, before the lock */
		block = allocator->malloc(pool, BIG);
		say("block", block);
		arm(middle_page(block), PROT_READ);
		allocator->free(pool, block);
	} else if (strcmp(name, "calloc") == 0) {
		/* dies zeroing the reused chunk: the header is zeros already */
		allocator->malloc(pool, 100);
		block = next_block(pool, BIG);
		say("block", block);
		arm(middle_page(block), PROT_READ);
		allocator->calloc(pool, 1, BIG);
	} else if (strcmp(name, "free") == 0 || strcmp(name, "free-with-damage") == 0) {
		/* dies poisoning the freed block */
		if (strcmp(name, "free-with-damage") == 0) {
			other = allocator->malloc(pool, 100);
			wild_write((char *)other + 100, 'x', 3);
			say("damaged", other);
			allocator->malloc(pool, 2 * PAGE); /* apart from the freed block */
		}
		/* its bytes end at a page's end: the first write of the page
		 * after them is the poison of its trailing canary, under the
		 * lock (its own bytes were poisoned before) */
		block = allocator->malloc(pool, BIG);
		if (allocator->realloc(pool, block, size_ending_at_page_end(block, 0)) != block) {
			fprintf(stderr, "postmortem_driver: a shrinking realloc moved\n");
			return 2;
		}
		say("block", block);
		arm((char *)block + size_ending_at_page_end(block, 0), PROT_READ);
		allocator->free(pool, block);
	} else if (strcmp(name, "link") == 0) {
		/* dies setting the quarantine tail's link to the freed block */
		other = allocator->malloc(pool, 200);
		allocator->malloc(pool, 2 * PAGE);
		block = allocator->malloc(pool, 200);
		allocator->free(pool, other);
		say("block", other);
		arm(link_of(other), PROT_READ);
		allocator->free(pool, block);
	} else if (strcmp(name, "drain") == 0 || strcmp(name, "delete_pool") == 0) {
		/* dies returning the oldest quarantined block to the heap: the
		 * pool's counters say it left, its header says it did not */
		void *oldest, *blocks[3];
		allocator->malloc(pool, 2 * PAGE); /* away from the heap's own page */
		oldest = allocator->malloc(pool, 3000);
		allocator->malloc(pool, 2 * PAGE);
		for (int i = 0; i < 3; i++) {
			blocks[i] = allocator->malloc(pool, 3000);
			allocator->malloc(pool, 2 * PAGE);
		}
		allocator->free(pool, oldest);
		allocator->free(pool, blocks[0]);
		say("block", oldest);
		arm(chunk_of(oldest), PROT_READ);
		if (strcmp(name, "drain") == 0)
			allocator->free(pool, blocks[1]); /* quarantine_bytes=8192: one too many */
		else
			allocator->delete_pool(pool);
	} else if (strcmp(name, "realloc") == 0) {
		/* dies filling the part a block grew by in place */
		block = allocator->malloc(pool, 200);
		say("block", block);
		arm(middle_page(block), PROT_READ);
		allocator->realloc(pool, block, BIG);
	} else if (strcmp(name, "realloc-move") == 0) {
		/* dies filling the new block of a realloc that moves */
		block = allocator->malloc(pool, 200);
		allocator->malloc(pool, 200); /* nothing to grow into */
		other = next_block(pool, BIG);
		say("block", other);
		arm(middle_page(other), PROT_READ);
		allocator->realloc(pool, block, BIG);
	} else if (strcmp(name, "check") == 0) {
		/* dies reading: a check changes nothing in a sound pool */
		block = allocator->malloc(pool, BIG);
		say("block", block);
		arm((char *)block + BIG, PROT_NONE);
		debug_module->check_pool(pool);
	} else {
		fprintf(stderr, "postmortem_driver: unknown case '%s'\n", name);
		return 2;
	}
	printf("survived\n");
	return 3;
}

int main(int argc, char **argv)
{
	struct debug_layout layout;

	if (argc != 3) {
		fprintf(stderr, "usage: postmortem_driver churn SEED | die CASE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	debug_layout_init(&layout, 1);
	front_size = layout.front_size;
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&allocator) != B_OK
		|| get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&debug_module)
			!= B_OK) {
		fprintf(stderr, "postmortem_driver: no debug module\n");
		return 2;
	}
	if (strcmp(argv[1], "churn") == 0)
		run_churn((unsigned)strtoul(argv[2], NULL, 0));
	if (strcmp(argv[1], "die") == 0)
		return run_case(argv[2]);
	fprintf(stderr, "postmortem_driver: unknown mode '%s'\n", argv[1]);
	return 2;
}
