/*
 * scan_driver.c - the target of pooldump scan's tests (test_scan.c). Run it
 * under the debug module (KERNEL_MODULE_PATH=<builddir>/modules/debug,
 * AREA_MALLOC_OPTIONS=node_dir=DIR): it makes one pool and holds its blocks
 * in every way a driver holds them, loses others, prints
 *     ready AREA
 * and waits for end of file on standard input, then frees everything
 * (the lost blocks through their complemented addresses), deletes its pool
 * and exits 0.
 *
 * Held (9 blocks, never reported): 2 x 40 bytes in a global list (the head
 * in .bss, the second linked from the first), 1 x 48 on main's stack, 1 x
 * 56 pointed to only from inside another pool block (which the global
 * holder points to: 2 blocks), 1 x 72 in malloc'd memory, 1 x 88 by an
 * interior pointer held in .data, 1 x 96 pointed to only from a thread's stack.
 * Lost: 1 x 200 from lose_overwritten (its last pointer overwritten): one
 * unreferenced block; a 300-byte container from lose_container pointing to
 * 2 x 120-byte blocks from lose_contents, whose last pointer (in a global)
 * is cleared: one unreferenced block and two indirectly lost ones.
 *
 * In mode "dumpable0" the driver makes itself not dumpable before ready
 * (PR_SET_DUMPABLE 0): only a reader with CAP_SYS_PTRACE may read it.
 * In mode "register" (x86-64; elsewhere it exits 77 at once) one more
 * thread holds the only pointer to a 136-byte block from register_holder
 * in a register (leak_scan/register_hold.h) while it waits.
 * In mode "reserve" the driver also reserves RESERVE_BYTES of readable and
 * writable memory it never touches but for one page in the middle, which
 * holds the only pointer to a 104-byte block (held: a scan must read that
 * page, and must not fault in the others).
 *
 * Locking: the helper thread only blocks on a pipe.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "leak_scan/register_hold.h"

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>

#define NOINLINE __attribute__((noinline, noipa))

struct link {
	struct link *next;
	char payload[32];
};

static area_malloc_module_info *allocator;
static const void *pool;
/* volatile: written once and never read, a global the compiler may keep
 * in a register otherwise (main runs once) */
static struct link *volatile list_head;
static void **volatile holder;              /* a pool block holding another */
static void **volatile malloc_holder;       /* malloc'd memory holding a block */
static char *volatile interior = (char *)1; /* .data: points inside a block */
static void *volatile lost_slot;            /* overwritten below */
/* the lost blocks' addresses, complemented (no pointer to them): freed at
 * the end so the module's exit-time verdict finds nothing */
static uintptr_t hidden[4];
static int hidden_count;
/* a trip count the compiler cannot see: an unrolled loop makes call sites */
static volatile int two = 2;
static int thread_pipe[2], ready_pipe[2], register_pipe[2];

/* mode "reserve": 4 GiB, of which the page at the middle is touched */
#define RESERVE_BYTES ((size_t)4 << 30)
static uintptr_t reserve_hidden; /* the page's address, complemented */

NOINLINE static void *alloc(size_t size)
{
	void *block = allocator->malloc(pool, size);

	if (block == NULL) {
		fprintf(stderr, "scan_driver: out of pool memory\n");
		exit(2);
	}
	memset(block, 0, size);
	return block;
}

NOINLINE static void lose_overwritten(void)
{
	lost_slot = alloc(200);
	hidden[hidden_count++] = ~(uintptr_t)lost_slot;
	lost_slot = NULL;
}

NOINLINE static void *lose_contents(void)
{
	void *block = alloc(120);

	/* after the call: no tail call, which would credit the block to our caller */
	__asm__ volatile("" : : "r"(block) : "memory");
	return block;
}

NOINLINE static void lose_container(void)
{
	void **container = alloc(300);

	for (int i = 0; i < two; i++) {
		container[i] = lose_contents();
		hidden[hidden_count++] = ~(uintptr_t)container[i];
	}
	hidden[hidden_count++] = ~(uintptr_t)container;
	lost_slot = container;
	lost_slot = NULL;
}

/* Loses the blocks on a stack of its own, zeroed and unmapped after: the
 * scan reads every stack whole, and a lost block's address left in a dead
 * frame would hold it. */
static void *loser(void *unused)
{
	(void)unused;
	lose_overwritten();
	lose_container();
	return NULL;
}

static int lose_blocks(void)
{
	const size_t size = 256 * 1024;
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_attr_t attributes;
	pthread_t thread;

	if (stack == MAP_FAILED || pthread_attr_init(&attributes) != 0
		|| pthread_attr_setstack(&attributes, stack, size) != 0
		|| pthread_create(&thread, &attributes, loser, NULL) != 0
		|| pthread_join(thread, NULL) != 0)
		return -1;
	pthread_attr_destroy(&attributes);
	memset(stack, 0, size);
	return munmap(stack, size);
}

/* Holds a 96-byte block on its own stack until the pipe is closed. */
static void *stack_holder(void *unused)
{
	void *volatile held = alloc(96);
	char byte;

	(void)unused;
	if (write(ready_pipe[1], "r", 1) != 1)
		exit(2);
	while (read(thread_pipe[0], &byte, 1) > 0)
		;
	return held;
}

#if REGISTER_HOLD_SUPPORTED
/* Holds a 136-byte block in a register alone until its pipe is closed;
 * returns it for main to free. */
static void *register_holder(void *unused)
{
	uintptr_t hidden = register_hold_hide(alloc(136));

	(void)unused;
	register_hold_wipe();
	register_hold(hidden, ready_pipe[1], register_pipe[0]);
	return (void *)~hidden;
}
#endif

/* Mode "register": starts register_holder and waits until it holds its
 * block; false when it cannot (77: not on this architecture). */
static bool start_register_holder(pthread_t *thread)
{
#if REGISTER_HOLD_SUPPORTED
	char byte;

	return pipe(register_pipe) == 0 && pthread_create(thread, NULL, register_holder, NULL) == 0
		&& read(ready_pipe[0], &byte, 1) == 1;
#else
	(void)thread;
	exit(77);
#endif
}

int main(int argc, char **argv)
{
	bool register_mode = argc > 1 && strcmp(argv[1], "register") == 0;
	pthread_t register_thread;
	void *register_block = NULL;
	void *volatile on_stack;
	pthread_t thread;
	void *thread_block;
	char line[64];
	int area;

	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&allocator) != B_OK) {
		fprintf(stderr, "scan_driver: no %s\n", B_AREA_MALLOC_MODULE_NAME);
		return 2;
	}
	pool = allocator->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	if (pool == NULL)
		return 2;
	list_head = alloc(40);
	list_head->next = alloc(40);
	on_stack = alloc(48);
	holder = alloc(64);
	holder[0] = alloc(56);
	malloc_holder = malloc(64);
	malloc_holder[0] = alloc(72);
	interior = (char *)alloc(88) + 40;
	if (pipe(thread_pipe) != 0 || pipe(ready_pipe) != 0
		|| pthread_create(&thread, NULL, stack_holder, NULL) != 0
		|| read(ready_pipe[0], line, 1) != 1)
		return 2;
	if (lose_blocks() != 0)
		return 2;
	if (register_mode && !start_register_holder(&register_thread))
		return 2;
	if (argc > 1 && strcmp(argv[1], "dumpable0") == 0)
		prctl(PR_SET_DUMPABLE, 0);
	if (argc > 1 && strcmp(argv[1], "reserve") == 0) {
		char *reserve = mmap(NULL, RESERVE_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (reserve == MAP_FAILED)
			return 2;
		/* the page's address only as a number the scan cannot take for
		 * one (the reservation's address is dropped with reserve) */
		reserve_hidden = ~(uintptr_t)(reserve + RESERVE_BYTES / 2);
		((void **)~reserve_hidden)[7] = alloc(104);
	}
	area = (int)area_for(list_head);
	printf("ready %d\n", area);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	close(thread_pipe[1]);
	pthread_join(thread, &thread_block);
	if (register_mode) {
		close(register_pipe[1]);
		pthread_join(register_thread, &register_block);
		allocator->free(pool, register_block);
	}
	allocator->free(pool, thread_block);
	allocator->free(pool, on_stack);
	allocator->free(pool, list_head->next);
	allocator->free(pool, list_head);
	allocator->free(pool, holder[0]);
	allocator->free(pool, holder);
	allocator->free(pool, malloc_holder[0]);
	free(malloc_holder);
	allocator->free(pool, interior - 40);
	if (reserve_hidden != 0) {
		void **page = (void **)~reserve_hidden;
		allocator->free(pool, page[7]);
		munmap((char *)page - RESERVE_BYTES / 2, RESERVE_BYTES);
	}
	for (int i = 0; i < hidden_count; i++)
		allocator->free(pool, (void *)~hidden[i]);
	allocator->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	return 0;
}
