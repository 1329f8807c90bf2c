/*
 * test_stress.c - generic/area_malloc/v1 under threads, release and debug
 * builds alike: 2, 4 and 8 threads over shared and private pools.
 *
 *  churn      malloc, calloc, realloc and free with every byte of every
 *             block checked, blocks handed between threads, short-lived
 *             pools created and deleted meanwhile, and the module's
 *             debugger commands (check, pools, pool) run all along by
 *             another thread; then a full validation
 *             (release: the "check" and "pools" debugger commands; debug:
 *             check_pool, the statistics, report_leaks, "check") against
 *             what the threads hold, exactly. The debug build's run also
 *             has pooldump and the node reader read this process's node
 *             all along (stress_reader.c) and agree with it at the end.
 *  lifecycle  create_pool/delete_pool racing each other: pools passed
 *             between threads through mailboxes, two threads racing to
 *             delete one pool (exactly one wins), stale ids used after the
 *             delete (refused, and never another pool's: the debug build
 *             reports each as invalid-pool, counted by the report hook).
 *  modules    get_module/put_module racing each other, with the module
 *             held by the test all along (only counts move) and without
 *             (init and uninit race the gets); each reference is used for
 *             a pool before it is put; the release build also leaves pools
 *             behind for the last put_module to delete; and the module's
 *             "pools" debugger command runs all along from a thread that
 *             holds no reference (racing the unload).
 *  debugger_commands  removing a command waits for its hook's runs in
 *             other threads, not for the remover's own, nor (in a forked
 *             child) for threads that are gone.
 *
 * Every workload is clean except what it provokes on purpose: the report
 * hook fails the test on any other report. Iteration counts scale with
 * AREA_MALLOC_TEST_SCALE (support/scale.h); the seed is
 * AREA_MALLOC_STRESS_SEED. Each test prints a "stress:" summary line
 * (operations, failed allocations, pooldump/node reader/debugger commands,
 * peak RSS) that scripts/soak adds up. TCases are tagged "release" or
 * "debug" (CK_INCLUDE_TAGS selects one build).
 *
 * Locking: worker threads share only the module, atomics (mailboxes,
 * exchange slots, counters) and the failure record (stress.h); the test's
 * own thread validates after joining them.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "stress.h"
#include "support/debug_command.h"
#include "support/scale.h"
#include "support/check_main.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define MIB ((size_t)1024 * 1024)
#define MAX_THREADS 8

static const int thread_counts[] = { 2, 4, 8 };
#define THREAD_COUNT_CASES ((int)(sizeof(thread_counts) / sizeof(thread_counts[0])))

static const uint32 lock_specs[] = { B_NO_LOCK, B_LAZY_LOCK, B_FULL_LOCK, B_CONTIGUOUS };

static uint32 random_lock_spec(struct stress_rng *rng)
{
	return lock_specs[stress_below(rng, sizeof(lock_specs) / sizeof(lock_specs[0]))];
}

/* The pool's area id: the debug build says it, the release build's blocks do. */
static int pool_area(const struct stress_module *module, const void *pool)
{
	area_malloc_pool_stats stats;
	void *block;
	int area;

	if (module->dbg != NULL) {
		ck_assert_int_eq(module->dbg->get_pool_stats(pool, &stats), B_OK);
		return stats.area;
	}
	block = module->am->malloc(pool, 1);
	ck_assert_ptr_nonnull(block);
	area = area_for(block);
	module->am->free(pool, block);
	return area;
}

/* ==== churn ==== */

#define HELD_SLOTS 48
#define EXCHANGE_SLOTS 16
#define SHARED_POOLS 2
#define SHARED_POOL_BYTES (8 * MIB)
#define PRIVATE_POOL_BYTES (2 * MIB)
/* every thread's blocks, the exchange, and a short-lived pool's */
#define MAX_LIVE_BLOCKS (MAX_THREADS * (HELD_SLOTS + 16) + EXCHANGE_SLOTS)

struct churn_run;

struct churn_worker {
	struct churn_run *run;
	int index;
	pthread_t thread;
	struct stress_rng rng;
	const void *own_pool;
	long iterations;
	uint64_t operations;
	uint64_t allocations;
	uint64_t failed_allocations;
	struct stress_block held[HELD_SLOTS];
};

struct churn_run {
	const struct stress_module *module;
	int thread_count;
	const void *shared[SHARED_POOLS];
	int shared_area[SHARED_POOLS];
	/* blocks of shared pools on their way between threads (boxes: malloc'ed) */
	_Atomic(struct stress_block *) exchange[EXCHANGE_SLOTS];
	pthread_barrier_t start;
	struct churn_worker workers[MAX_THREADS];
};

static bool block_intact(const struct stress_block *block, size_t length, const char *when)
{
	size_t bad = stress_damage(block, length);

	if (bad != SIZE_MAX) {
		stress_fail("%s: byte %zu of the %zu-byte block %p (pool %p) changed", when, bad,
			block->size, (void *)block->data, block->pool);
		return false;
	}
	return true;
}

static bool is_shared(const struct churn_run *run, const void *pool)
{
	for (int i = 0; i < SHARED_POOLS; i++)
		if (run->shared[i] == pool)
			return true;
	return false;
}

static const void *random_pool(struct churn_worker *worker)
{
	if (stress_chance(&worker->rng, 40))
		return worker->own_pool;
	return worker->run->shared[stress_below(&worker->rng, SHARED_POOLS)];
}

/* Allocates into an empty slot: malloc or calloc, checked and filled. */
static void churn_allocate(struct churn_worker *worker, struct stress_block *slot)
{
	const area_malloc_module_info *am = worker->run->module->am;
	const void *pool = random_pool(worker);
	size_t size = stress_random_size(&worker->rng);
	unsigned char *data;

	worker->allocations++;
	if (stress_chance(&worker->rng, 30)) {
		size_t count = 1 + stress_below(&worker->rng, 4);
		size = size / count * count;
		data = am->calloc(pool, count, size / count);
		if (data != NULL && stress_nonzero(data, size) != SIZE_MAX) {
			stress_fail("calloc(%zu, %zu) returned a block with byte %zu not zero",
				count, size / count, stress_nonzero(data, size));
			return;
		}
	} else {
		data = am->malloc(pool, size);
	}
	if (data == NULL) {
		worker->failed_allocations++;
		return;
	}
	*slot = (struct stress_block){ data, size, 0, pool };
	stress_fill(slot, (uint32_t)stress_random(&worker->rng));
}

static void churn_free(struct churn_worker *worker, struct stress_block *slot)
{
	if (!block_intact(slot, slot->size, "before free"))
		return;
	if (worker->run->module->am->free(slot->pool, slot->data) != NULL)
		stress_fail("free returned non-NULL");
	slot->data = NULL;
}

static void churn_realloc(struct churn_worker *worker, struct stress_block *slot)
{
	const area_malloc_module_info *am = worker->run->module->am;
	size_t size = stress_random_size(&worker->rng);
	unsigned char *moved;

	if (slot->data == NULL) {
		/* realloc(NULL, n) allocates */
		const void *pool = random_pool(worker);
		worker->allocations++;
		moved = am->realloc(pool, NULL, size);
		if (moved == NULL) {
			worker->failed_allocations++;
			return;
		}
		*slot = (struct stress_block){ moved, size, 0, pool };
		stress_fill(slot, (uint32_t)stress_random(&worker->rng));
		return;
	}
	if (!block_intact(slot, slot->size, "before realloc"))
		return;
	moved = am->realloc(slot->pool, slot->data, size);
	if (size == 0) {
		/* realloc(p, 0) frees */
		if (moved != NULL)
			stress_fail("realloc(%p, 0) returned %p, not NULL", (void *)slot->data,
				(void *)moved);
		slot->data = NULL;
		return;
	}
	if (moved == NULL) {
		/* no room: the block is untouched */
		worker->failed_allocations++;
		block_intact(slot, slot->size, "after a failed realloc");
		return;
	}
	slot->data = moved;
	if (!block_intact(slot, slot->size < size ? slot->size : size, "after realloc"))
		return;
	slot->size = size;
	stress_fill(slot, (uint32_t)stress_random(&worker->rng));
}

/* Trades a shared-pool block (or nothing) for whatever waits in a slot of
 * the exchange: blocks are freed and reallocated by other threads. */
static void churn_hand_over(struct churn_worker *worker, struct stress_block *slot)
{
	struct churn_run *run = worker->run;
	struct stress_block *box = NULL, *received;

	if (slot->data != NULL) {
		if (!is_shared(run, slot->pool))
			return;
		box = malloc(sizeof(*box));
		if (box == NULL) {
			stress_fail("out of memory");
			return;
		}
		*box = *slot;
		slot->data = NULL;
	}
	received = atomic_exchange(&run->exchange[stress_below(&worker->rng, EXCHANGE_SLOTS)], box);
	if (received != NULL) {
		*slot = *received;
		free(received);
		block_intact(slot, slot->size, "after a hand-over");
	}
}

/* The debug build's counters of the thread's own pool, which only it
 * allocates from and frees to, agree with its blocks at any time. */
static void churn_check_own_pool(struct churn_worker *worker)
{
	const struct stress_module *module = worker->run->module;
	area_malloc_pool_stats stats;
	size_t blocks = 0, bytes = 0;

	if (module->dbg == NULL)
		return;
	for (int i = 0; i < HELD_SLOTS; i++) {
		if (worker->held[i].data != NULL && worker->held[i].pool == worker->own_pool) {
			blocks++;
			bytes += worker->held[i].size;
		}
	}
	if (module->dbg->get_pool_stats(worker->own_pool, &stats) != B_OK) {
		stress_fail("get_pool_stats of a live pool failed");
		return;
	}
	if (stats.live_blocks != blocks || stats.used != bytes
		|| stats.allocations - stats.frees != blocks || stats.errors != 0)
		stress_fail("thread %d's pool: %zu blocks of %zu bytes (%" PRIu64
			    " allocations, %" PRIu64 " frees, %" PRIu64 " errors) counted,"
			    " %zu of %zu held",
			worker->index, stats.live_blocks, stats.used, stats.allocations,
			stats.frees, stats.errors, blocks, bytes);
}

/* A short-lived pool, created and deleted while the others churn. */
static void churn_short_lived_pool(struct churn_worker *worker)
{
	const struct stress_module *module = worker->run->module;
	struct stress_block blocks[16];
	size_t count = 1 + stress_below(&worker->rng, 16);
	size_t size = 64 * 1024 + stress_below(&worker->rng, 448 * 1024);
	const void *pool = module->am->create_pool(B_ANY_KERNEL_ADDRESS, size,
		random_lock_spec(&worker->rng), KERNEL_RW);

	if (pool == NULL) {
		stress_fail("create_pool(%zu) failed", size);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		blocks[i].size = stress_below(&worker->rng, 4096);
		blocks[i].pool = pool;
		blocks[i].data = module->am->malloc(pool, blocks[i].size);
		if (blocks[i].data == NULL) {
			stress_fail("malloc(%zu) in a fresh %zu-byte pool failed", blocks[i].size,
				size);
			count = i;
			break;
		}
		stress_fill(&blocks[i], (uint32_t)stress_random(&worker->rng));
	}
	for (size_t i = 0; i < count; i++) {
		if (block_intact(&blocks[i], blocks[i].size, "in a short-lived pool"))
			module->am->free(pool, blocks[i].data);
	}
	if (module->am->delete_pool(pool) != B_OK)
		stress_fail("delete_pool of a short-lived pool failed");
}

static void churn_step(struct churn_worker *worker)
{
	struct stress_block *slot = &worker->held[stress_below(&worker->rng, HELD_SLOTS)];
	size_t choice = stress_below(&worker->rng, 1000);

	worker->operations++;
	if (choice < 400) {
		if (slot->data != NULL)
			churn_free(worker, slot);
		if (slot->data == NULL)
			churn_allocate(worker, slot);
	} else if (choice < 650) {
		churn_realloc(worker, slot);
	} else if (choice < 800) {
		if (slot->data != NULL)
			churn_free(worker, slot);
	} else if (choice < 900) {
		churn_hand_over(worker, slot);
	} else if (choice < 990) {
		if (slot->data != NULL)
			block_intact(slot, slot->size, "while held");
	} else if (choice < 995) {
		churn_check_own_pool(worker);
	} else {
		churn_short_lived_pool(worker);
	}
}

static void *churn_main(void *argument)
{
	struct churn_worker *worker = argument;

	pthread_barrier_wait(&worker->run->start);
	for (long i = 0; i < worker->iterations && !stress_failed(); i++)
		churn_step(worker);
	return NULL;
}

/* What the test holds in one pool. */
struct holding {
	size_t blocks;
	uint64_t bytes;
	uint64_t chunk_bytes;     /* release: the least heap space they take */
	uint64_t chunk_bytes_max; /* release: the most (from a thread's cache) */
};

static void hold(struct holding *holding, const struct stress_block *block)
{
	holding->blocks++;
	holding->bytes += block->size;
	holding->chunk_bytes += stress_release_chunk(block->size);
	holding->chunk_bytes_max += stress_release_chunk_max(block->size);
}

/* Calls fn on every block the run holds (workers' slots and the exchange). */
static void for_each_held(struct churn_run *run, void (*fn)(struct stress_block *, void *),
	void *context)
{
	for (int t = 0; t < run->thread_count; t++)
		for (int i = 0; i < HELD_SLOTS; i++)
			if (run->workers[t].held[i].data != NULL)
				fn(&run->workers[t].held[i], context);
	for (int i = 0; i < EXCHANGE_SLOTS; i++) {
		struct stress_block *box = atomic_load(&run->exchange[i]);
		if (box != NULL)
			fn(box, context);
	}
}

struct pool_tally {
	const void *pool;
	struct holding holding;
};

static void tally_block(struct stress_block *block, void *context)
{
	struct pool_tally *tally = context;

	if (block->pool == tally->pool)
		hold(&tally->holding, block);
}

static struct holding held_in(struct churn_run *run, const void *pool)
{
	struct pool_tally tally = { pool, { 0, 0, 0, 0 } };

	for_each_held(run, tally_block, &tally);
	return tally.holding;
}

static void verify_block(struct stress_block *block, void *context)
{
	(void)context;
	block_intact(block, block->size, "after the threads stopped");
}

static void free_block(struct stress_block *block, void *context)
{
	const area_malloc_module_info *am = context;

	am->free(block->pool, block->data);
	block->data = NULL;
}

/* Every pool of the run, shared ones first. */
static size_t run_pools(const struct churn_run *run, const void **pools)
{
	size_t count = 0;

	for (int i = 0; i < SHARED_POOLS; i++)
		pools[count++] = run->shared[i];
	for (int t = 0; t < run->thread_count; t++)
		pools[count++] = run->workers[t].own_pool;
	return count;
}

/* The release module's "pools" line of pool id: its blocks and used bytes.
 * (Not inlined: GCC 12 then mistakes the listing for run_debug_command's
 * local pointer variable and warns of a dangling pointer.) */
__attribute__((noinline)) static void release_pool_counters(const char *listing, const void *pool,
	size_t *blocks, size_t *used)
{
	char id[48];
	const char *line, *used_at, *blocks_at;
	bool parsed;

	snprintf(id, sizeof(id), ": id: %p;", pool);
	line = strstr(listing, id);
	used_at = line != NULL ? strstr(line, "; used: ") : NULL;
	blocks_at = line != NULL ? strstr(line, "; blocks: ") : NULL;
	parsed = used_at != NULL && blocks_at != NULL && sscanf(used_at, "; used: %zu;", used) == 1
		&& sscanf(blocks_at, "; blocks: %zu;", blocks) == 1;
	ck_assert_msg(parsed, "pool %p is not listed as expected:\n%s", pool, listing);
}

/* With the threads stopped: the module's view of every pool is exactly
 * what the test holds (also once everything is freed: nothing). */
static void validate_pools(struct churn_run *run)
{
	const struct stress_module *module = run->module;
	const void *pools[SHARED_POOLS + MAX_THREADS];
	size_t pool_count = run_pools(run, pools);
	char *output = NULL, expected[64];

	if (module->dbg == NULL) {
		char *listing = NULL;

		ck_assert_int_eq(run_debug_command("check", &output), 0);
		snprintf(expected, sizeof(expected), "%zu pool(s) checked, 0 damaged", pool_count);
		ck_assert_msg(strstr(output, expected) != NULL, "'%s' not in: %s", expected,
			output);
		free(output);
		ck_assert_int_eq(run_debug_command("pools", &listing), 0);
		for (size_t i = 0; i < pool_count; i++) {
			struct holding holding = held_in(run, pools[i]);
			size_t blocks, used;

			release_pool_counters(listing, pools[i], &blocks, &used);
			ck_assert_msg(blocks == holding.blocks,
				"pool %p: %zu live blocks counted, %zu held", pools[i], blocks,
				holding.blocks);
			ck_assert_msg(used >= holding.chunk_bytes
					&& used <= holding.chunk_bytes_max,
				"pool %p: %zu bytes used for %zu blocks that need %" PRIu64
				" to %" PRIu64,
				pools[i], used, holding.blocks, holding.chunk_bytes,
				holding.chunk_bytes_max);
		}
		free(listing);
		return;
	}

	ck_assert_int_eq(module->dbg->check_pool(NULL), 0);
	ck_assert_int_eq(run_debug_command("check", &output), 0);
	snprintf(expected, sizeof(expected), "%zu pool(s) checked, 0 problem(s)", pool_count);
	ck_assert_msg(strstr(output, expected) != NULL, "'%s' not in: %s", expected, output);
	free(output);
	for (size_t i = 0; i < pool_count; i++) {
		struct holding holding = held_in(run, pools[i]);
		area_malloc_pool_stats stats;
		size_t leaked_bytes = 0, leaked_blocks = 0;

		ck_assert_int_eq(module->dbg->get_pool_stats(pools[i], &stats), B_OK);
		ck_assert_msg(stats.live_blocks == holding.blocks && stats.used == holding.bytes,
			"pool %d: %zu blocks of %zu bytes counted, %zu of %" PRIu64 " held",
			(int)stats.area, stats.live_blocks, stats.used, holding.blocks,
			holding.bytes);
		ck_assert_uint_eq(stats.allocations - stats.frees, holding.blocks);
		ck_assert_uint_eq(stats.errors, 0);
		ck_assert_uint_eq(stats.injected_failures, 0);
		ck_assert_uint_le(stats.used, stats.peak);
		/* report_leaks sees the same blocks (its reports are expected here) */
		atomic_store(&stress_reports.expect_leaks, true);
		ck_assert_int_eq(module->dbg->report_leaks(pools[i], 0, &leaked_bytes,
					 &leaked_blocks),
			B_OK);
		atomic_store(&stress_reports.expect_leaks, false);
		ck_assert_uint_eq(leaked_blocks, holding.blocks);
		ck_assert_uint_eq(leaked_bytes, holding.bytes);
	}
	/* pooldump and the node reader agree (shared pools and one private one) */
	for (size_t i = 0; i < SHARED_POOLS + 1; i++) {
		struct holding holding = held_in(run, pools[i]);
		stress_node_expect(module, pool_area(module, pools[i]), holding.blocks,
			holding.bytes);
		stress_assert_no_failure();
	}
}

/*
 * The module's own debugger commands while the threads churn: "check" walks
 * every pool under the registry's and each pool's lock, "pools" reads every
 * pool's counters, as a kernel debugger user would at any moment. Only this
 * thread prints through kprintf meanwhile (the output stream is global).
 */
struct watcher {
	struct churn_run *run;
	pthread_t thread;
	atomic_bool stop;
	uint64_t commands;
};

static const struct timespec watch_pause = { 0, 200 * 1000 };

/* Runs a debugger command line from a worker thread (run_debug_command
 * asserts, which only the test's thread may): its result, and its output in
 * *text (freed by the caller). */
static int debugger_command(const char *line, char **text)
{
	size_t length = 0;
	FILE *stream = open_memstream(text, &length);
	int result;

	if (stream == NULL) {
		stress_fail("open_memstream failed");
		*text = NULL;
		return B_NO_MEMORY;
	}
	set_kprintf_output(stream);
	result = evaluate_debug_command(line);
	set_kprintf_output(NULL);
	fclose(stream);
	return result;
}

/* Runs a command line, its output captured; false (after stress_fail) when
 * it fails or does not say expected. */
static bool watch_command(struct watcher *watcher, const char *line, const char *expected)
{
	char *text = NULL;
	int result = debugger_command(line, &text);
	bool ok;

	if (text == NULL)
		return false;
	watcher->commands++;
	ok = result == 0 && strstr(text, expected) != NULL;
	if (!ok)
		stress_fail("debugger command '%s' returned %d without '%s':\n%.800s", line, result,
			expected, text);
	free(text);
	return ok;
}

static void *watch_main(void *argument)
{
	struct watcher *watcher = argument;
	struct churn_run *run = watcher->run;
	bool debug = run->module->dbg != NULL;
	char line[64], expected[64];

	do {
		if (!watch_command(watcher, "check", debug ? ", 0 problem(s)\n" : ", 0 damaged\n"))
			break;
		if (!watch_command(watcher, "pools", " pool(s)\n"))
			break;
		int which = (int)(watcher->commands % SHARED_POOLS);

		snprintf(line, sizeof(line), "pool %d", run->shared_area[which]);
		snprintf(expected, sizeof(expected), "pool %d: id: %p;", run->shared_area[which],
			run->shared[which]);
		if (!watch_command(watcher, line, expected))
			break;
		/* a look every so often, not a second workload holding every lock */
		nanosleep(&watch_pause, NULL);
	} while (!atomic_load(&watcher->stop) && !stress_failed());
	return NULL;
}

static void run_churn(enum stress_build build, int thread_count)
{
	struct stress_module module;
	struct churn_run *run = calloc(1, sizeof(*run));
	struct stress_reader *reader = NULL;
	struct watcher watcher = { .run = run };
	struct stress_summary summary = { .test = "churn",
		.build = build,
		.threads = thread_count,
		.seed = stress_seed() };
	/* the debug build does several times the work per call: fewer calls */
	long total = test_scaled(build == STRESS_DEBUG ? 300000 : 1200000, 200);

	ck_assert_ptr_nonnull(run);
	stress_open(&module, build);
	run->module = &module;
	run->thread_count = thread_count;
	for (int i = 0; i < SHARED_POOLS; i++) {
		run->shared[i] = module.am->create_pool(B_ANY_KERNEL_ADDRESS, SHARED_POOL_BYTES,
			B_NO_LOCK, KERNEL_RW);
		ck_assert_ptr_nonnull(run->shared[i]);
		if (module.dbg != NULL) {
			char name[32];
			snprintf(name, sizeof(name), "shared-%d", i);
			ck_assert_int_eq(module.dbg->set_pool_name(run->shared[i], name), B_OK);
		}
		run->shared_area[i] = pool_area(&module, run->shared[i]);
	}
	ck_assert_int_eq(pthread_barrier_init(&run->start, NULL, (unsigned)thread_count), 0);
	for (int t = 0; t < thread_count; t++) {
		struct churn_worker *worker = &run->workers[t];
		worker->run = run;
		worker->index = t;
		worker->iterations = total / thread_count;
		stress_rng_init(&worker->rng, summary.seed, (uint64_t)t);
		worker->own_pool = module.am->create_pool(B_ANY_KERNEL_ADDRESS, PRIVATE_POOL_BYTES,
			random_lock_spec(&worker->rng), KERNEL_RW);
		ck_assert_ptr_nonnull(worker->own_pool);
	}
	if (build == STRESS_DEBUG) {
		int areas[SHARED_POOLS + MAX_THREADS];
		for (int i = 0; i < SHARED_POOLS; i++)
			areas[i] = run->shared_area[i];
		for (int t = 0; t < thread_count; t++)
			areas[SHARED_POOLS + t] = pool_area(&module, run->workers[t].own_pool);
		reader = stress_reader_start(&module, areas, (size_t)(SHARED_POOLS + thread_count),
			MAX_LIVE_BLOCKS);
	}
	atomic_init(&watcher.stop, false);
	ck_assert_int_eq(pthread_create(&watcher.thread, NULL, watch_main, &watcher), 0);
	for (int t = 0; t < thread_count; t++)
		ck_assert_int_eq(pthread_create(&run->workers[t].thread, NULL, churn_main,
					 &run->workers[t]),
			0);
	for (int t = 0; t < thread_count; t++) {
		pthread_join(run->workers[t].thread, NULL);
		summary.operations += run->workers[t].operations;
		summary.failed_allocations += run->workers[t].failed_allocations;
	}
	atomic_store(&watcher.stop, true);
	pthread_join(watcher.thread, NULL);
	summary.reader_commands = watcher.commands;
	stress_reader_stop(reader, &summary);
	pthread_barrier_destroy(&run->start);
	stress_assert_no_failure();
	stress_assert_no_unexpected_report();

	for_each_held(run, verify_block, NULL);
	stress_assert_no_failure();
	validate_pools(run);
	/* a pool can be full now and then, never for long */
	for (int t = 0; t < thread_count; t++)
		ck_assert_msg(run->workers[t].failed_allocations * 50
				<= run->workers[t].allocations + 50,
			"thread %d: %" PRIu64 " of %" PRIu64 " allocations failed", t,
			run->workers[t].failed_allocations, run->workers[t].allocations);

	/* everything freed: the pools are empty, exactly */
	for_each_held(run, free_block, (void *)module.am);
	for (int i = 0; i < EXCHANGE_SLOTS; i++)
		free(atomic_exchange(&run->exchange[i], NULL));
	validate_pools(run);
	for (int i = 0; i < SHARED_POOLS; i++)
		ck_assert_int_eq(module.am->delete_pool(run->shared[i]), B_OK);
	for (int t = 0; t < thread_count; t++)
		ck_assert_int_eq(module.am->delete_pool(run->workers[t].own_pool), B_OK);
	stress_close(&module);
	stress_print_summary(&summary);
	free(run);
}

START_TEST(test_release_churn)
{
	run_churn(STRESS_RELEASE, thread_counts[_i]);
}
END_TEST

START_TEST(test_debug_churn)
{
	run_churn(STRESS_DEBUG, thread_counts[_i]);
}
END_TEST

/* ==== lifecycle ==== */

#define MAILBOXES 8
#define RACE_SLOTS 4

struct lifecycle_run {
	const struct stress_module *module;
	_Atomic uintptr_t mailbox[MAILBOXES]; /* pools left for another thread to delete */
	_Atomic uintptr_t race[RACE_SLOTS];   /* pools that several threads delete at once */
	atomic_ulong created;
	atomic_ulong deleted; /* delete_pool returned B_OK */
	atomic_ulong refused; /* calls on a deleted id, refused */
	atomic_ulong operations;
	pthread_barrier_t start;
};

struct lifecycle_worker {
	struct lifecycle_run *run;
	pthread_t thread;
	struct stress_rng rng;
	long rounds;
};

/* delete_pool on an id that may be live or not: counts either answer. */
static void lifecycle_delete(struct lifecycle_run *run, uintptr_t id)
{
	status_t status = run->module->am->delete_pool((const void *)id);

	if (status == B_OK)
		atomic_fetch_add(&run->deleted, 1);
	else if (status == B_ERROR)
		atomic_fetch_add(&run->refused, 1);
	else
		stress_fail("delete_pool returned %d", (int)status);
}

/* A pool that is gone refuses everything and never names a newer pool. */
static void lifecycle_use_stale(struct lifecycle_run *run, const void *stale)
{
	const area_malloc_module_info *am = run->module->am;

	if (am->delete_pool(stale) != B_ERROR || am->malloc(stale, 16) != NULL
		|| am->realloc(stale, NULL, 16) != NULL || am->calloc(stale, 2, 8) != NULL)
		stress_fail("a deleted pool id was accepted");
	atomic_fetch_add(&run->refused, 4);
}

static const void *lifecycle_new_pool(struct lifecycle_worker *worker)
{
	const area_malloc_module_info *am = worker->run->module->am;
	/* at least two pages: a one-page release pool spends about a third of
	 * itself on its control structure (area_malloc(3)), so a block of up to
	 * 4 KiB is sure to fit only from 8 KiB up (the soak found a 4096-byte
	 * pool refusing 3399 bytes, as it should) */
	size_t size = 8192 + stress_below(&worker->rng, 512 * 1024);
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size,
		random_lock_spec(&worker->rng), KERNEL_RW);
	struct stress_block block = { NULL, 1 + stress_below(&worker->rng, 4096), 0, pool };

	if (pool == NULL) {
		stress_fail("create_pool(%zu) failed", size);
		return NULL;
	}
	atomic_fetch_add(&worker->run->created, 1);
	block.data = am->malloc(pool, block.size);
	if (block.data == NULL) {
		stress_fail("malloc(%zu) in a fresh %zu-byte pool failed", block.size, size);
		return pool;
	}
	stress_fill(&block, (uint32_t)stress_random(&worker->rng));
	block_intact(&block, block.size, "in a new pool");
	am->free(pool, block.data);
	return pool;
}

static void lifecycle_round(struct lifecycle_worker *worker)
{
	struct lifecycle_run *run = worker->run;
	const void *pool = lifecycle_new_pool(worker);
	size_t choice = stress_below(&worker->rng, 100);
	uintptr_t id = (uintptr_t)pool, expected = 0;
	_Atomic uintptr_t *race = &run->race[stress_below(&worker->rng, RACE_SLOTS)];

	if (pool == NULL)
		return;
	atomic_fetch_add(&run->operations, 1);
	if (choice < 30) {
		/* delete it at once, then use the dead id */
		lifecycle_delete(run, id);
		lifecycle_use_stale(run, pool);
	} else if (choice < 65) {
		/* leave it for another thread; delete what waited there */
		uintptr_t waiting =
			atomic_exchange(&run->mailbox[stress_below(&worker->rng, MAILBOXES)], id);
		if (waiting != 0)
			lifecycle_delete(run, waiting);
	} else if (atomic_compare_exchange_strong(race, &expected, id)) {
		/* published: anyone may delete it now, this thread too */
		for (int i = 0; i < 1 + (int)stress_below(&worker->rng, 8); i++)
			sched_yield();
		lifecycle_delete(run, id);
		expected = id;
		atomic_compare_exchange_strong(race, &expected, 0);
	} else {
		/* the slot holds another thread's pool: race it to the delete */
		if (expected != 0)
			lifecycle_delete(run, expected);
		lifecycle_delete(run, id);
	}
}

static void *lifecycle_main(void *argument)
{
	struct lifecycle_worker *worker = argument;

	pthread_barrier_wait(&worker->run->start);
	for (long i = 0; i < worker->rounds && !stress_failed(); i++)
		lifecycle_round(worker);
	return NULL;
}

static void run_lifecycle(enum stress_build build, int thread_count)
{
	struct stress_module module;
	struct lifecycle_run run = { 0 };
	struct lifecycle_worker workers[MAX_THREADS];
	struct stress_reader *reader = NULL;
	struct stress_summary summary = { .test = "lifecycle",
		.build = build,
		.threads = thread_count,
		.seed = stress_seed() };
	long total = test_scaled(build == STRESS_DEBUG ? 1500 : 6000, 40);
	char *output = NULL;

	stress_open(&module, build);
	run.module = &module;
	/* every refused call on a dead id is an invalid-pool report */
	atomic_store(&stress_reports.expect_invalid_pool, true);
	if (build == STRESS_DEBUG)
		reader = stress_reader_start(&module, NULL, 0, MAX_LIVE_BLOCKS);
	ck_assert_int_eq(pthread_barrier_init(&run.start, NULL, (unsigned)thread_count), 0);
	for (int t = 0; t < thread_count; t++) {
		workers[t] = (struct lifecycle_worker){ &run, 0, { 0 }, total / thread_count };
		stress_rng_init(&workers[t].rng, summary.seed, 100 + (uint64_t)t);
		ck_assert_int_eq(pthread_create(&workers[t].thread, NULL, lifecycle_main,
					 &workers[t]),
			0);
	}
	for (int t = 0; t < thread_count; t++)
		pthread_join(workers[t].thread, NULL);
	stress_reader_stop(reader, &summary);
	pthread_barrier_destroy(&run.start);
	stress_assert_no_failure();
	for (int i = 0; i < MAILBOXES; i++) {
		uintptr_t waiting = atomic_exchange(&run.mailbox[i], 0);
		if (waiting != 0)
			lifecycle_delete(&run, waiting);
	}
	for (int i = 0; i < RACE_SLOTS; i++)
		ck_assert_uint_eq(atomic_load(&run.race[i]), 0);
	stress_assert_no_failure();

	/* each pool was deleted exactly once; nothing is left */
	ck_assert_uint_eq(atomic_load(&run.deleted), atomic_load(&run.created));
	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	ck_assert_msg(strncmp(output, "0 pool(s)\n", 10) == 0, "pools left: %s", output);
	free(output);
	stress_assert_no_pool_areas();
	if (build == STRESS_DEBUG)
		ck_assert_uint_eq(atomic_load(&stress_reports.invalid_pool),
			atomic_load(&run.refused));
	atomic_store(&stress_reports.expect_invalid_pool, false);
	summary.operations = atomic_load(&run.operations) + atomic_load(&run.refused);
	summary.reports = atomic_load(&stress_reports.invalid_pool);
	stress_close(&module);
	stress_print_summary(&summary);
}

START_TEST(test_release_lifecycle)
{
	run_lifecycle(STRESS_RELEASE, thread_counts[_i]);
}
END_TEST

START_TEST(test_debug_lifecycle)
{
	run_lifecycle(STRESS_DEBUG, thread_counts[_i]);
}
END_TEST

/* ==== get_module / put_module ==== */

struct module_run {
	enum stress_build build;
	bool held;                     /* the test holds the module all along */
	area_malloc_module_info *base; /* its reference, when held */
	atomic_ulong abandoned;        /* release: pools left for unload to delete
					 * (counts past MAX_ABANDONED were not left) */
	atomic_ulong operations;
	atomic_ulong commands; /* debugger commands run meanwhile */
	atomic_bool stop;
	pthread_barrier_t start;
};

/* Pools left behind at most: while the test holds the module they pile up,
 * and every "pools" listing (under the registry's lock) grows with them. */
#define MAX_ABANDONED 32

struct module_worker {
	struct module_run *run;
	pthread_t thread;
	struct stress_rng rng;
	long rounds;
};

static bool got(const char *name, module_info **info)
{
	status_t status = get_module(name, info);

	if (status != B_OK || *info == NULL)
		stress_fail("get_module(%s) returned %d", name, (int)status);
	return status == B_OK;
}

static void put(const char *name)
{
	status_t status = put_module(name);

	if (status != B_OK)
		stress_fail("put_module(%s) returned %d", name, (int)status);
}

/* What a driver does with its reference: a pool, some blocks, and (release
 * build, now and then) a pool left for the last put_module to delete. */
static void module_use(struct module_worker *worker, area_malloc_module_info *am)
{
	struct stress_block blocks[4];
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 256 * 1024, B_NO_LOCK, KERNEL_RW);

	if (pool == NULL) {
		stress_fail("create_pool failed");
		return;
	}
	for (int i = 0; i < 4; i++) {
		blocks[i] =
			(struct stress_block){ NULL, stress_below(&worker->rng, 2048), 0, pool };
		blocks[i].data = am->malloc(pool, blocks[i].size);
		if (blocks[i].data == NULL) {
			stress_fail("malloc in a fresh pool failed");
			return;
		}
		stress_fill(&blocks[i], (uint32_t)stress_random(&worker->rng));
	}
	for (int i = 0; i < 4; i++)
		block_intact(&blocks[i], blocks[i].size, "in a module user's pool");
	if (worker->run->build == STRESS_RELEASE && stress_chance(&worker->rng, 5)
		&& atomic_fetch_add(&worker->run->abandoned, 1) < MAX_ABANDONED)
		return;
	for (int i = 0; i < 4; i++)
		am->free(pool, blocks[i].data);
	if (am->delete_pool(pool) != B_OK)
		stress_fail("delete_pool failed");
}

static void module_round(struct module_worker *worker)
{
	struct module_run *run = worker->run;
	area_malloc_module_info *am = NULL;
	area_malloc_debug_module_info *dbg = NULL;
	/* debug build: either module first, or only one of them (they share init) */
	size_t which = run->build == STRESS_DEBUG ? stress_below(&worker->rng, 4) : 0;
	bool want_am = which != 1, want_dbg = which != 0;

	if (which == 3) {
		if (!got(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&dbg))
			return;
		if (!got(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am))
			return;
	} else {
		if (want_am && !got(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am))
			return;
		if (want_dbg && !got(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&dbg))
			return;
	}
	if (am != NULL && run->base != NULL && am != run->base)
		stress_fail("get_module returned %p while the module %p is held", (void *)am,
			(void *)run->base);
	if (dbg != NULL) {
		dbg->set_report_hook(stress_report_hook, NULL);
		if (dbg->check_pool(NULL) != 0 || dbg->error_count() != 0)
			stress_fail("the debug module found problems");
	}
	if (am != NULL)
		module_use(worker, am);
	atomic_fetch_add(&run->operations, 1);
	if (stress_chance(&worker->rng, 50)) {
		if (want_am)
			put(B_AREA_MALLOC_MODULE_NAME);
		if (want_dbg)
			put(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	} else {
		if (want_dbg)
			put(B_AREA_MALLOC_DEBUG_MODULE_NAME);
		if (want_am)
			put(B_AREA_MALLOC_MODULE_NAME);
	}
}

static void *module_main(void *argument)
{
	struct module_worker *worker = argument;

	pthread_barrier_wait(&worker->run->start);
	for (long i = 0; i < worker->rounds && !stress_failed(); i++)
		module_round(worker);
	return NULL;
}

/*
 * The module's "pools" debugger command while the workers get and put it,
 * from a thread that holds no reference: it runs while the module is
 * loaded (and may run while the last put_module unloads it), and is an
 * unknown command while it is not.
 */
static void *debugger_main(void *argument)
{
	struct module_run *run = argument;

	while (!atomic_load(&run->stop) && !stress_failed()) {
		char *text = NULL;
		int result = debugger_command("pools", &text);

		if (text == NULL)
			break;
		if ((result != B_OK || strstr(text, " pool(s)\n") == NULL)
			&& (run->held || result != B_ENTRY_NOT_FOUND))
			stress_fail("debugger command 'pools' returned %d: %.300s", result, text);
		free(text);
		atomic_fetch_add(&run->commands, 1);
		/* as often as it can: it races the unload, and (module held) the
		 * workers' create_pool/delete_pool, which is how the registry's
		 * acquire-versus-delete race was found */
		sched_yield();
	}
	return NULL;
}

static void run_modules(enum stress_build build, int thread_count, bool held)
{
	struct module_run run = { .build = build, .held = held };
	struct module_worker workers[MAX_THREADS];
	pthread_t debugger;
	area_malloc_debug_module_info *dbg = NULL;
	struct stress_summary summary = { .test = held ? "modules-held" : "modules-cycling",
		.build = build,
		.threads = thread_count,
		.seed = stress_seed() };
	long total = test_scaled(held ? 16000 : 6000, 20);
	char node_dir[PATH_MAX], *output = NULL, expected[32];

	stress_reset_failure();
	stress_reset_reports();
	stress_select_build(build, node_dir, sizeof(node_dir));
	if (held) {
		ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&run.base),
			B_OK);
		if (build == STRESS_DEBUG) {
			ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME,
						 (module_info **)&dbg),
				B_OK);
			dbg->set_report_hook(stress_report_hook, NULL);
		}
	}
	ck_assert_int_eq(pthread_barrier_init(&run.start, NULL, (unsigned)thread_count), 0);
	ck_assert_int_eq(pthread_create(&debugger, NULL, debugger_main, &run), 0);
	for (int t = 0; t < thread_count; t++) {
		workers[t] = (struct module_worker){ &run, 0, { 0 }, total / thread_count };
		stress_rng_init(&workers[t].rng, summary.seed, 200 + (uint64_t)t);
		ck_assert_int_eq(pthread_create(&workers[t].thread, NULL, module_main, &workers[t]),
			0);
	}
	for (int t = 0; t < thread_count; t++)
		pthread_join(workers[t].thread, NULL);
	atomic_store(&run.stop, true);
	pthread_join(debugger, NULL);
	summary.reader_commands = atomic_load(&run.commands);
	pthread_barrier_destroy(&run.start);
	stress_assert_no_failure();
	stress_assert_no_unexpected_report();
	if (held) {
		/* only the pools left on purpose remain, until the last put */
		ck_assert_int_eq(run_debug_command("pools", &output), 0);
		snprintf(expected, sizeof(expected), "%lu pool(s)\n",
			atomic_load(&run.abandoned) < MAX_ABANDONED ? atomic_load(&run.abandoned)
								    : MAX_ABANDONED);
		ck_assert_msg(strncmp(output, expected, strlen(expected)) == 0, "'%s' expected: %s",
			expected, output);
		free(output);
		if (dbg != NULL) {
			ck_assert_uint_eq(dbg->error_count(), 0);
			dbg->set_report_hook(NULL, NULL);
			ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
		}
		ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	}
	/* nobody holds it: uninitialised, unloaded, every pool deleted */
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_BAD_VALUE);
	stress_assert_no_pool_areas();
	ck_assert_int_eq(run_debug_command("pools", &output), B_ENTRY_NOT_FOUND);
	free(output);
	stress_remove_node_dir(node_dir);
	summary.operations = atomic_load(&run.operations);
	stress_print_summary(&summary);
}

START_TEST(test_release_modules_held)
{
	run_modules(STRESS_RELEASE, thread_counts[_i], true);
}
END_TEST

START_TEST(test_release_modules_cycling)
{
	run_modules(STRESS_RELEASE, thread_counts[_i], false);
}
END_TEST

START_TEST(test_debug_modules_held)
{
	run_modules(STRESS_DEBUG, thread_counts[_i], true);
}
END_TEST

START_TEST(test_debug_modules_cycling)
{
	run_modules(STRESS_DEBUG, thread_counts[_i], false);
}
END_TEST

/* ==== debugger commands and the threads that run them ==== */

/*
 * A module removes its debugger commands at B_MODULE_UNINIT and is unloaded
 * right after: removing a command must wait for the runs of its hook that
 * other threads started (modules-cycling races "pools" against unload), but
 * not for a run of the removing thread itself, nor for threads a forked
 * child does not have.
 */
static atomic_bool blocker_entered;
static atomic_bool blocker_release;
static atomic_bool blocker_finished;

static int blocking_hook(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	atomic_store(&blocker_entered, true);
	while (!atomic_load(&blocker_release))
		sched_yield();
	atomic_store(&blocker_finished, true);
	return 7;
}

static void *run_blocker(void *argument)
{
	(void)argument;
	return (void *)(intptr_t)evaluate_debug_command("stress_blocker");
}

static atomic_bool remove_returned;

static void *remove_blocker(void *argument)
{
	(void)argument;
	if (remove_debugger_command("stress_blocker", blocking_hook) != B_OK)
		stress_fail("remove_debugger_command failed");
	/* the hook's run is over before the remove returns */
	if (!atomic_load(&blocker_finished))
		stress_fail("remove_debugger_command returned while the hook ran");
	atomic_store(&remove_returned, true);
	return NULL;
}

static pthread_t start_blocker(void)
{
	pthread_t runner;

	atomic_store(&blocker_entered, false);
	atomic_store(&blocker_release, false);
	atomic_store(&blocker_finished, false);
	ck_assert_int_eq(add_debugger_command("stress_blocker", blocking_hook, "test"), B_OK);
	ck_assert_int_eq(pthread_create(&runner, NULL, run_blocker, NULL), 0);
	while (!atomic_load(&blocker_entered))
		sched_yield();
	return runner;
}

static void join_blocker(pthread_t runner)
{
	void *result;

	pthread_join(runner, &result);
	ck_assert_int_eq((int)(intptr_t)result, 7);
}

START_TEST(test_remove_waits_for_running_hook)
{
	pthread_t runner, remover;
	struct timespec pause = { 0, 50 * 1000 * 1000 };

	stress_reset_failure();
	runner = start_blocker();
	atomic_store(&remove_returned, false);
	ck_assert_int_eq(pthread_create(&remover, NULL, remove_blocker, NULL), 0);
	nanosleep(&pause, NULL);
	ck_assert(!atomic_load(&remove_returned));
	/* off the list already: no new run starts */
	ck_assert_int_eq(run_debug_command("stress_blocker", NULL), B_ENTRY_NOT_FOUND);
	atomic_store(&blocker_release, true);
	pthread_join(remover, NULL);
	join_blocker(runner);
	ck_assert(atomic_load(&remove_returned));
	stress_assert_no_failure();
}
END_TEST

static int removing_itself(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return remove_debugger_command("stress_self", removing_itself) == B_OK ? 5 : 6;
}

START_TEST(test_hook_removes_its_own_command)
{
	ck_assert_int_eq(add_debugger_command("stress_self", removing_itself, "test"), B_OK);
	/* no wait for itself, and the command is freed once the run is over */
	ck_assert_int_eq(run_debug_command("stress_self", NULL), 5);
	ck_assert_int_eq(run_debug_command("stress_self", NULL), B_ENTRY_NOT_FOUND);
	ck_assert_int_eq(add_debugger_command("stress_self", removing_itself, "test"), B_OK);
	ck_assert_int_eq(remove_debugger_command("stress_self", removing_itself), B_OK);
}
END_TEST

START_TEST(test_forked_child_does_not_wait_for_missing_threads)
{
	pthread_t runner = start_blocker();
	int status;
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(remove_debugger_command("stress_blocker", blocking_hook) == B_OK ? 0 : 1);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	atomic_store(&blocker_release, true);
	join_blocker(runner);
	ck_assert_int_eq(remove_debugger_command("stress_blocker", blocking_hook), B_OK);
}
END_TEST

/* ==== the suite ==== */

static TCase *thread_case(const char *name, const char *tag, const TTest *test)
{
	TCase *tcase = tcase_create(name);

	tcase_set_tags(tcase, tag);
	tcase_add_loop_test(tcase, test, 0, THREAD_COUNT_CASES);
	return tcase;
}

static Suite *stress_suite(void)
{
	Suite *suite = suite_create("stress");
	TCase *tcase;

	suite_add_tcase(suite, thread_case("release_churn", "release", test_release_churn));
	suite_add_tcase(suite, thread_case("release_lifecycle", "release", test_release_lifecycle));
	suite_add_tcase(suite,
		thread_case("release_modules_held", "release", test_release_modules_held));
	suite_add_tcase(suite,
		thread_case("release_modules_cycling", "release", test_release_modules_cycling));
	suite_add_tcase(suite, thread_case("debug_churn", "debug", test_debug_churn));
	suite_add_tcase(suite, thread_case("debug_lifecycle", "debug", test_debug_lifecycle));
	suite_add_tcase(suite, thread_case("debug_modules_held", "debug", test_debug_modules_held));
	suite_add_tcase(suite,
		thread_case("debug_modules_cycling", "debug", test_debug_modules_cycling));
	tcase = tcase_create("debugger_commands");
	tcase_set_tags(tcase, "release");
	tcase_add_test(tcase, test_remove_waits_for_running_hook);
	tcase_add_test(tcase, test_hook_removes_its_own_command);
	tcase_add_test(tcase, test_forked_child_does_not_wait_for_missing_threads);
	suite_add_tcase(suite, tcase);
	return suite;
}

int main(void)
{
	return run_check_suite(stress_suite(), CK_FORK_GETENV);
}
