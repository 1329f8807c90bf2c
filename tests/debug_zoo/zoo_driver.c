/*
 * zoo_driver.c - a small "network driver" that commits exactly one kind of
 * allocator misuse per run, for the bug-zoo suite's end-to-end tests.
 *
 * It is an ordinary driver: it uses generic/area_malloc/v1 only through the
 * module interface and does not know whether KERNEL_MODULE_PATH hands it the
 * release or the debug build. Run as `zoo_driver SCENARIO`; "clean" and
 * "clean-threads" misuse nothing and print a checksum of the data they moved
 * (the same with either build), every other scenario commits one bug.
 *
 * Every module call that a report names sits in a named, non-inlined helper
 * (rx_refill, tx_complete, tx_abort, ring_grow) on a line tagged
 * "zoo-site:NAME": the suite reads this file to learn the line a report's
 * SUMMARY must name.
 * Each call is followed by a compiler barrier so it is never a tail call:
 * the module's owner tag (the call's return address) then lies in the helper
 * itself, as it would in a driver that does anything after the call.
 *
 * Invariants: scenarios other than the leak ones delete their pools and put
 * the module before returning; the exit status is main's own (0) unless the
 * debug module changes it.
 *
 * Locking: clean-threads shares both pools between its workers; the module
 * serialises the calls on a pool, and each worker touches only its buffers.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

#define COMPILER_BARRIER() __asm__ __volatile__("" ::: "memory")

/* A helper that owns a call site keeps its own name in every build: never
 * inlined, never cloned ("ring_grow.constprop.0" at -O2), never merged. */
#define CALL_SITE __attribute__((noipa))

/* Writes that stray outside a block must reach the pool's memory as they
 * would from an uninstrumented driver: what the zoo exercises is the debug
 * module's canaries and poison, not AddressSanitizer (tested elsewhere). */
#define RAW_WRITES __attribute__((noinline, no_sanitize("address")))

static area_malloc_module_info *sAreaMalloc;
static const void *sRxPool;
static const void *sTxPool;

/* ---- the driver's helpers: each owns one call site ---- */

static CALL_SITE void *rx_refill(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* zoo-site:rx_refill */
	COMPILER_BARRIER();
	return buffer;
}

static CALL_SITE void tx_complete(const void *pool, void *buffer)
{
	sAreaMalloc->free(pool, buffer); /* zoo-site:tx_complete */
	COMPILER_BARRIER();
}

/* A second place that frees buffers (an error path). */
static CALL_SITE void tx_abort(const void *pool, void *buffer)
{
	sAreaMalloc->free(pool, buffer); /* zoo-site:tx_abort */
	COMPILER_BARRIER();
}

static CALL_SITE void *ring_grow(const void *pool, void *ring, size_t size)
{
	void *grown = sAreaMalloc->realloc(pool, ring, size); /* zoo-site:ring_grow */
	COMPILER_BARRIER();
	return grown;
}

/* Copies a payload of length bytes into a buffer (the overflow bugs pass a
 * length longer than the buffer). */
static RAW_WRITES void payload_fill(void *buffer, size_t length, unsigned char seed)
{
	volatile unsigned char *bytes = buffer;

	for (size_t i = 0; i < length; i++)
		bytes[i] = (unsigned char)(seed + i);
}

/* Marks a packet done by writing its status word (the use-after-free bug
 * calls it after tx_complete). */
static RAW_WRITES void rx_mark_done(void *packet)
{
	volatile unsigned char *status = (unsigned char *)packet + 64;

	status[0] = 'D';
	status[1] = 'O';
	status[2] = 'N';
	status[3] = 'E';
}

/* ---- driver life cycle ---- */

static int driver_open(void)
{
	status_t status = get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&sAreaMalloc);

	if (status != B_OK) {
		dprintf("zoo_driver: cannot get %s: %d\n", B_AREA_MALLOC_MODULE_NAME, (int)status);
		return -1;
	}
	sRxPool = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 512 * 1024, B_FULL_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	sTxPool = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 256 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	if (sRxPool == NULL || sTxPool == NULL) {
		dprintf("zoo_driver: cannot create pools\n");
		return -1;
	}
	return 0;
}

static void driver_close(void)
{
	sAreaMalloc->delete_pool(sTxPool);
	sAreaMalloc->delete_pool(sRxPool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
}

/* ---- clean workloads ---- */

static uint32 fnv1a(uint32 hash, const unsigned char *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++)
		hash = (hash ^ bytes[i]) * 16777619u;
	return hash;
}

static uint32 next_random(uint32 *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

struct workload {
	const void *pools[2];
	uint32 seed;
	unsigned operations;
	uint32 checksum;    /* of every byte verified */
	unsigned corrupted; /* buffers that did not hold their bytes */
};

#define WORKLOAD_SLOTS 64

/* Random malloc/calloc/realloc/free over a ring of slots; every buffer is
 * verified (and hashed) before it is resized or freed. */
static void run_workload(struct workload *work)
{
	void *slot[WORKLOAD_SLOTS] = { NULL };
	size_t length[WORKLOAD_SLOTS] = { 0 };
	unsigned char fill[WORKLOAD_SLOTS] = { 0 };
	const void *owner[WORKLOAD_SLOTS] = { NULL };
	uint32 state = work->seed;

	for (unsigned op = 0; op < work->operations; op++) {
		uint32 r = next_random(&state);
		unsigned i = r % WORKLOAD_SLOTS;
		size_t size = 1 + (next_random(&state) % 1000);

		if (slot[i] != NULL) {
			const unsigned char *bytes = slot[i];
			for (size_t k = 0; k < length[i]; k++)
				work->corrupted += bytes[k] != (unsigned char)(fill[i] + k);
			work->checksum = fnv1a(work->checksum, bytes, length[i]);
		}
		if (slot[i] == NULL) {
			const void *pool = work->pools[(r >> 8) & 1];
			void *buffer = (r >> 9) & 1 ? sAreaMalloc->calloc(pool, 1, size)
						    : sAreaMalloc->malloc(pool, size);
			if (buffer == NULL)
				continue;
			slot[i] = buffer;
			owner[i] = pool;
		} else if ((r >> 10) % 3 == 0) {
			void *grown = sAreaMalloc->realloc(owner[i], slot[i], size);
			if (grown == NULL)
				continue;
			slot[i] = grown;
		} else {
			sAreaMalloc->free(owner[i], slot[i]);
			slot[i] = NULL;
			continue;
		}
		length[i] = size;
		fill[i] = (unsigned char)(r >> 16);
		payload_fill(slot[i], size, fill[i]);
	}
	for (unsigned i = 0; i < WORKLOAD_SLOTS; i++) {
		if (slot[i] != NULL)
			sAreaMalloc->free(owner[i], slot[i]);
	}
}

static int scenario_clean(void)
{
	struct workload work = { { sRxPool, sTxPool }, 2463534242u, 20000, 2166136261u, 0 };

	run_workload(&work);
	printf("clean: %u operations, checksum %08x, %u corrupted\n", work.operations,
		(unsigned)work.checksum, work.corrupted);
	return 0;
}

static void *worker(void *argument)
{
	run_workload(argument);
	return NULL;
}

#define WORKERS 4

static int scenario_clean_threads(void)
{
	struct workload work[WORKERS];
	pthread_t threads[WORKERS];
	uint32 combined = 0;
	unsigned corrupted = 0;

	for (int t = 0; t < WORKERS; t++) {
		/* the workers share both pools, never a buffer */
		work[t] = (struct workload){ { sRxPool, sTxPool }, 0x9e3779b9u * (uint32)(t + 1),
			8000, 2166136261u, 0 };
		if (pthread_create(&threads[t], NULL, worker, &work[t]) != 0) {
			dprintf("zoo_driver: cannot start a worker\n");
			return 1;
		}
	}
	for (int t = 0; t < WORKERS; t++) {
		pthread_join(threads[t], NULL);
		combined ^= work[t].checksum;
		corrupted += work[t].corrupted;
	}
	printf("clean-threads: %d workers, checksum %08x, %u corrupted\n", WORKERS,
		(unsigned)combined, corrupted);
	return 0;
}

/* ---- the zoo: one bug each ---- */

static int scenario_double_free(void)
{
	void *packet = rx_refill(sRxPool, 100);

	tx_complete(sRxPool, packet);
	tx_complete(sRxPool, packet);
	return 0;
}

static int scenario_double_free_realloc(void)
{
	void *ring = rx_refill(sRxPool, 100);

	tx_complete(sRxPool, ring);
	if (ring_grow(sRxPool, ring, 200) != NULL)
		dprintf("zoo_driver: realloc of a freed ring succeeded\n");
	return 0;
}

static int scenario_double_free_repeated(void)
{
	for (int i = 0; i < 3; i++) {
		void *packet = rx_refill(sRxPool, 100);
		tx_complete(sRxPool, packet);
		tx_complete(sRxPool, packet);
	}
	return 0;
}

/* The same double free, found by the same call, of blocks from the same
 * allocation site, but freed first at two places: two bugs to fix. */
static int scenario_double_free_two_sites(void)
{
	void *first = rx_refill(sRxPool, 100);
	void *second = rx_refill(sRxPool, 100);

	tx_complete(sRxPool, first);
	tx_abort(sRxPool, second);
	tx_complete(sRxPool, first);
	tx_complete(sRxPool, second);
	return 0;
}

static int scenario_invalid_free(void)
{
	unsigned char *packet = rx_refill(sRxPool, 100);

	tx_complete(sRxPool, packet + 16);
	tx_complete(sRxPool, packet);
	return 0;
}

static int scenario_invalid_free_stack(void)
{
	unsigned char header[64];

	memset(header, 0, sizeof(header));
	tx_complete(sRxPool, header);
	return 0;
}

static int scenario_cross_pool_free(void)
{
	void *packet = rx_refill(sRxPool, 100);

	tx_complete(sTxPool, packet);
	tx_complete(sRxPool, packet);
	return 0;
}

static int scenario_invalid_pool(void)
{
	const void *stale = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 64 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);

	sAreaMalloc->delete_pool(stale);
	if (rx_refill(stale, 64) != NULL)
		dprintf("zoo_driver: allocation from a deleted pool succeeded\n");
	return 0;
}

static int scenario_heap_buffer_overflow(void)
{
	void *packet = rx_refill(sRxPool, 100);

	payload_fill(packet, 103, 0x41);
	tx_complete(sRxPool, packet);
	return 0;
}

static int scenario_heap_buffer_underflow(void)
{
	unsigned char *packet = rx_refill(sRxPool, 100);

	payload_fill(packet - 4, 4, 0x41);
	tx_complete(sRxPool, packet);
	return 0;
}

static int scenario_use_after_free(void)
{
	void *packet = rx_refill(sRxPool, 100);

	tx_complete(sRxPool, packet);
	rx_mark_done(packet);
	return 0; /* found when delete_pool empties the quarantine */
}

/* Writes after free into two blocks that rx_refill allocated for two
 * different callers (frames[1] differs, recorded with stack_depth=2). */
static int scenario_use_after_free_two_paths(void)
{
	void *first = rx_refill(sRxPool, 100);
	void *second = rx_refill(sRxPool, 100);

	tx_complete(sRxPool, first);
	tx_complete(sRxPool, second);
	rx_mark_done(first);
	rx_mark_done(second);
	return 0; /* found when delete_pool empties the quarantine */
}

/* Two different bugs: a double free, then an interior free. */
static int scenario_many_bugs(void)
{
	unsigned char *first = rx_refill(sRxPool, 100);
	unsigned char *second = rx_refill(sRxPool, 200);

	tx_complete(sRxPool, first);
	tx_complete(sRxPool, first);
	tx_complete(sRxPool, second + 32);
	tx_complete(sRxPool, second);
	return 0;
}

static int scenario_leak_delete_pool(void)
{
	for (int i = 0; i < 3; i++)
		rx_refill(sRxPool, 100);
	tx_complete(sRxPool, rx_refill(sRxPool, 50));
	return 0;
}

/* Two leak groups of two sites (rx_refill: 2 x 100 bytes; ring_grow: 64),
 * for the suppressions: one of them, or both, suppressed. */
static int scenario_leak_two_sites(void)
{
	/* one call site, so one group: a volatile count is never unrolled */
	volatile int count = 2;

	for (int i = 0; i < count; i++)
		rx_refill(sRxPool, 100);
	ring_grow(sRxPool, NULL, 64);
	return 0;
}

/* ---- scenarios that end the driver themselves ---- */

static int scenario_leak_unload(void)
{
	rx_refill(sRxPool, 100);
	sAreaMalloc->delete_pool(sTxPool);
	put_module(B_AREA_MALLOC_MODULE_NAME); /* sRxPool is never deleted */
	return 0;
}

static int scenario_leak_exit(void)
{
	rx_refill(sRxPool, 100);
	sAreaMalloc->delete_pool(sTxPool);
	return 0; /* neither the pool nor the module is ever put away */
}

static const struct scenario {
	const char *name;
	int (*run)(void);
	bool closes_itself;
} scenarios[] = {
	{ "clean", scenario_clean, false },
	{ "clean-threads", scenario_clean_threads, false },
	{ "double-free", scenario_double_free, false },
	{ "double-free-realloc", scenario_double_free_realloc, false },
	{ "double-free-repeated", scenario_double_free_repeated, false },
	{ "double-free-two-sites", scenario_double_free_two_sites, false },
	{ "invalid-free", scenario_invalid_free, false },
	{ "invalid-free-stack", scenario_invalid_free_stack, false },
	{ "cross-pool-free", scenario_cross_pool_free, false },
	{ "invalid-pool", scenario_invalid_pool, false },
	{ "heap-buffer-overflow", scenario_heap_buffer_overflow, false },
	{ "heap-buffer-underflow", scenario_heap_buffer_underflow, false },
	{ "use-after-free", scenario_use_after_free, false },
	{ "use-after-free-two-paths", scenario_use_after_free_two_paths, false },
	{ "many-bugs", scenario_many_bugs, false },
	{ "leak-delete-pool", scenario_leak_delete_pool, false },
	{ "leak-two-sites", scenario_leak_two_sites, false },
	{ "leak-unload", scenario_leak_unload, true },
	{ "leak-exit", scenario_leak_exit, true },
};

#define SCENARIO_COUNT (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(void)
{
	fprintf(stderr, "usage: zoo_driver SCENARIO\nscenarios:");
	for (size_t i = 0; i < SCENARIO_COUNT; i++)
		fprintf(stderr, " %s", scenarios[i].name);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	const struct scenario *chosen = NULL;
	int status;

	if (argc != 2) {
		usage();
		return 2;
	}
	for (size_t i = 0; i < SCENARIO_COUNT; i++) {
		if (strcmp(argv[1], scenarios[i].name) == 0)
			chosen = &scenarios[i];
	}
	if (chosen == NULL) {
		fprintf(stderr, "zoo_driver: unknown scenario '%s'\n", argv[1]);
		usage();
		return 2;
	}
	if (driver_open() != 0)
		return 1;
	status = chosen->run();
	fflush(stdout);
	if (!chosen->closes_itself)
		driver_close();
	return status;
}
