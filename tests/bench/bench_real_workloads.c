/*
 * bench_real_workloads.c - the real-workload suite of issue 18: our own
 * workloads after the patterns of the public allocator benchmarks that
 * allocator authors compare on (written from the descriptions; no
 * code of those benchmarks). Every allocation of a run goes into ONE pool
 * of the module (a driver whose threads share a pool); two threads where
 * threaded. As in the suite of issue 5, a pass returns nanoseconds per
 * operation (one block's malloc + free; wall time over all threads'
 * blocks), every pass replays the same precomputed sequence, and each new
 * block has its first byte written.
 *
 *   simpleN   (glibc's bench-malloc-simple) batches of N-byte blocks,
 *             malloc all, then free all in the same order; batches of 25,
 *             100, 400 and 1600 blocks in turn; N = 16, 32, 64, 128, 256
 *   thread1, thread2  (bench-malloc-thread) each thread keeps 1000 slots
 *             and replaces a random one with a block of a size drawn
 *             log-uniformly from 16 B to 32 KiB; 1 and 2 threads
 *   larson2   (Larson's server simulation) 2 threads share an array of
 *             4000 blocks of 16..1000 bytes (uniform); each replaces
 *             random slots of the whole array, so about half the blocks it
 *             frees were allocated by the other thread
 *   xmalloc2  (xmalloc-test) one thread allocates 64-byte blocks and hands
 *             them over in batches of 64, the other frees them
 *   cfrac     (cfrac's bignums) short-lived blocks of 16..200 bytes
 *             (uniform) on a stack of at most 8 temporaries, each freed
 *             newest first (or the one below it, a quarter of the time),
 *             while one malloc in 64 replaces one of 256 long-lived blocks
 *   large     (malloc-large) 20 slots, a random one replaced by a block of
 *             64 KiB..32 MiB (log-uniform), of which only the first and
 *             the last cache line are written; one B_NO_LOCK pool of
 *             2 GiB, as a driver would create it for such blocks
 *
 * Locking: larson2's shared array holds atomic pointers (a slot changes
 * hands by atomic exchange); the other threaded workloads are the shapes
 * of bench_workloads.h.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_workloads.h"

#define SIMPLE_BLOCKS_PER_BATCH_COUNT 125000
#define THREAD_POOL_BYTES ((size_t)256 << 20)
#define THREAD_SLOTS 1000
#define THREAD_STEPS 200000
#define LARSON_POOL_BYTES ((size_t)64 << 20)
#define LARSON_SLOTS 4000
#define LARSON_THREADS 2
#define LARSON_STEPS 200000
#define XMALLOC_BLOCKS 400000
#define XMALLOC_BATCH 64
#define CFRAC_POOL_BYTES ((size_t)32 << 20)
#define CFRAC_LONG_SLOTS 256
#define CFRAC_TEMPORARIES 8
#define CFRAC_MALLOCS 500000
#define CFRAC_LONG_EVERY 64
#define LARGE_POOL_BYTES ((size_t)2 << 30)
#define LARGE_SLOTS 20
#define LARGE_STEPS 300

/* ---- simpleN ---- */

static const uint16_t simple_batch_counts[] = { 25, 100, 400, 1600 };

#define SIMPLE_PREPARE(size)                                                                       \
	static void *simple##size##_prepare(const struct bench_allocator *allocator)               \
	{                                                                                          \
		return fixed_prepare(allocator, size, false, simple_batch_counts,                  \
			sizeof(simple_batch_counts) / sizeof(simple_batch_counts[0]),              \
			bench_scaled(SIMPLE_BLOCKS_PER_BATCH_COUNT));                              \
	}
SIMPLE_PREPARE(16)
SIMPLE_PREPARE(32)
SIMPLE_PREPARE(64)
SIMPLE_PREPARE(128)
SIMPLE_PREPARE(256)

/* ---- threadN ---- */

static size_t draw_16_32k(struct bench_rng *rng)
{
	return bench_log_uniform(rng, 4, 15);
}

static void *thread1_prepare(const struct bench_allocator *allocator)
{
	return threads_prepare(allocator, 1, true, THREAD_POOL_BYTES, THREAD_SLOTS,
		bench_scaled(THREAD_STEPS), draw_16_32k);
}

static void *thread2_prepare(const struct bench_allocator *allocator)
{
	return threads_prepare(allocator, 2, true, THREAD_POOL_BYTES, THREAD_SLOTS,
		bench_scaled(THREAD_STEPS), draw_16_32k);
}

/* ---- larson2 ---- */

struct larson_state;

struct larson_run {
	struct larson_state *state;
	int index;
	struct churn_plan plan; /* slots of the whole shared array */
	uint64_t end_ns;
};

struct larson_state {
	const struct bench_allocator *allocator;
	const void *pool;
	_Atomic(void *) *slots;
	struct larson_run runs[LARSON_THREADS];
	struct start_line line;
};

static size_t draw_16_1000(struct bench_rng *rng)
{
	return 16 + bench_rng_next(rng) % 985;
}

static void *larson_prepare(const struct bench_allocator *allocator)
{
	struct larson_state *state = bench_checked_malloc(sizeof(*state));

	state->allocator = allocator;
	state->pool = bench_pool_open(allocator, LARSON_POOL_BYTES);
	state->slots = bench_checked_malloc(LARSON_SLOTS * sizeof(*state->slots));
	for (int i = 0; i < LARSON_THREADS; i++) {
		state->runs[i].state = state;
		state->runs[i].index = i;
		churn_plan_init(&state->runs[i].plan, LARSON_SLOTS, bench_scaled(LARSON_STEPS),
			0x8cb92ba72f3d8dd7ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL, draw_16_1000);
	}
	return state;
}

static void *larson_thread(void *argument)
{
	struct larson_run *run = argument;
	struct larson_state *state = run->state;
	const struct bench_allocator *allocator = state->allocator;
	const void *pool = state->pool;
	struct churn_plan *plan = &run->plan;

	/* each thread fills its share; the start line waits for both */
	for (size_t i = (size_t)run->index; i < LARSON_SLOTS; i += LARSON_THREADS)
		atomic_store_explicit(&state->slots[i],
			bench_allocate_and_touch(allocator, pool, plan->initial_size[i], 0),
			memory_order_relaxed);
	start_line_wait(&state->line);
	for (size_t i = 0; i < plan->steps; i++) {
		void *block = bench_allocate_and_touch(allocator, pool, plan->size[i], (uint32_t)i);

		allocator->release(pool,
			atomic_exchange_explicit(&state->slots[plan->slot[i]], block,
				memory_order_acq_rel));
	}
	run->end_ns = bench_now_ns();
	return NULL;
}

static double larson_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct larson_state *state = prepared;
	void *(*bodies[LARSON_THREADS])(void *);
	void *arguments[LARSON_THREADS];
	uint64_t start, end = 0;

	for (int i = 0; i < LARSON_THREADS; i++) {
		bodies[i] = larson_thread;
		arguments[i] = &state->runs[i];
	}
	start_threads(&state->line, LARSON_THREADS, bodies, arguments);
	start = go_and_join(&state->line);
	for (int i = 0; i < LARSON_THREADS; i++)
		if (state->runs[i].end_ns > end)
			end = state->runs[i].end_ns;
	for (size_t i = 0; i < LARSON_SLOTS; i++)
		allocator->release(state->pool, atomic_load(&state->slots[i]));
	return (double)(end - start) / (LARSON_THREADS * (double)state->runs[0].plan.steps);
}

static void larson_finish(const struct bench_allocator *allocator, void *prepared)
{
	struct larson_state *state = prepared;

	for (int i = 0; i < LARSON_THREADS; i++)
		churn_plan_free(&state->runs[i].plan);
	free(state->slots);
	bench_pool_close(allocator, state->pool);
	free(state);
}

/* ---- xmalloc2 ---- */

static void *xmalloc_prepare(const struct bench_allocator *allocator)
{
	return pipe_prepare(allocator, 64, bench_scaled(XMALLOC_BLOCKS), XMALLOC_BATCH);
}

/* ---- cfrac ---- */

/* A tape entry: CFRAC_FREE | slot << 16 for a free, slot << 16 | size for
 * a malloc. Slots below CFRAC_LONG_SLOTS are long-lived, the others hold
 * temporaries. */
#define CFRAC_FREE 0x80000000u

struct cfrac_state {
	const void *pool;
	uint32_t *tape;
	size_t tape_length;
	size_t mallocs;
	uint16_t long_size[CFRAC_LONG_SLOTS];
	void *slots[CFRAC_LONG_SLOTS + CFRAC_TEMPORARIES];
};

static uint32_t cfrac_size(struct bench_rng *rng)
{
	return 16 + (uint32_t)(bench_rng_next(rng) % 185);
}

static void cfrac_append(struct cfrac_state *state, uint32_t entry)
{
	state->tape[state->tape_length++] = entry;
}

static void *cfrac_prepare(const struct bench_allocator *allocator)
{
	struct cfrac_state *state = bench_checked_malloc(sizeof(*state));
	struct bench_rng rng = { 0x6a09e667f3bcc909ULL };
	uint32_t stack[CFRAC_TEMPORARIES], unused[CFRAC_TEMPORARIES];
	size_t depth = 0, unused_count = CFRAC_TEMPORARIES;
	size_t mallocs = bench_scaled(CFRAC_MALLOCS);

	state->pool = bench_pool_open(allocator, CFRAC_POOL_BYTES);
	/* at most two entries per malloc, and the temporaries' frees at the end */
	state->tape = bench_checked_malloc((2 * mallocs + CFRAC_TEMPORARIES) * sizeof(uint32_t));
	state->tape_length = 0;
	state->mallocs = mallocs;
	for (size_t i = 0; i < CFRAC_LONG_SLOTS; i++)
		state->long_size[i] = (uint16_t)cfrac_size(&rng);
	for (uint32_t i = 0; i < CFRAC_TEMPORARIES; i++)
		unused[i] = CFRAC_LONG_SLOTS + i;
	for (size_t made = 0; made < mallocs;) {
		uint64_t draw = bench_rng_next(&rng);

		if (draw % CFRAC_LONG_EVERY == 0) {
			uint32_t slot = (uint32_t)(bench_rng_next(&rng) % CFRAC_LONG_SLOTS);

			cfrac_append(state, CFRAC_FREE | slot << 16);
			cfrac_append(state, slot << 16 | cfrac_size(&rng));
			made++;
		} else if (depth == 0 || (depth < CFRAC_TEMPORARIES && (draw >> 8) % 2 == 0)) {
			uint32_t slot = unused[--unused_count];

			stack[depth++] = slot;
			cfrac_append(state, slot << 16 | cfrac_size(&rng));
			made++;
		} else {
			/* newest first; the one below it a quarter of the time */
			size_t victim = depth >= 2 && (draw >> 16) % 4 == 0 ? depth - 2 : depth - 1;

			cfrac_append(state, CFRAC_FREE | stack[victim] << 16);
			unused[unused_count++] = stack[victim];
			memmove(&stack[victim], &stack[victim + 1],
				(depth - victim - 1) * sizeof(stack[0]));
			depth--;
		}
	}
	while (depth > 0)
		cfrac_append(state, CFRAC_FREE | stack[--depth] << 16);
	return state;
}

static double cfrac_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct cfrac_state *state = prepared;
	const void *pool = state->pool;
	void **slots = state->slots;
	uint64_t start, end;

	for (size_t i = 0; i < CFRAC_LONG_SLOTS; i++)
		slots[i] = bench_allocate_and_touch(allocator, pool, state->long_size[i], 0);
	start = bench_now_ns();
	for (size_t i = 0; i < state->tape_length; i++) {
		uint32_t entry = state->tape[i];
		uint32_t slot = (entry & ~CFRAC_FREE) >> 16;

		if (entry & CFRAC_FREE)
			allocator->release(pool, slots[slot]);
		else
			slots[slot] = bench_allocate_and_touch(allocator, pool, entry & 0xffff,
				(uint32_t)i);
	}
	end = bench_now_ns();
	for (size_t i = 0; i < CFRAC_LONG_SLOTS; i++)
		allocator->release(pool, slots[i]);
	return (double)(end - start) / (double)state->mallocs;
}

static void cfrac_finish(const struct bench_allocator *allocator, void *prepared)
{
	struct cfrac_state *state = prepared;

	free(state->tape);
	bench_pool_close(allocator, state->pool);
	free(state);
}

/* ---- large ---- */

static size_t draw_64k_32m(struct bench_rng *rng)
{
	return bench_log_uniform(rng, 16, 25);
}

/* The first and the last cache line of each block written: the rest stays
 * untouched. */
static void *large_prepare(const struct bench_allocator *allocator)
{
	return single_prepare(allocator, LARGE_POOL_BYTES, LARGE_SLOTS, bench_scaled(LARGE_STEPS),
		0xbb67ae8584caa73bULL, draw_64k_32m, true);
}

#define SIMPLE_WORKLOAD(size)                                                                      \
	{                                                                                          \
		"simple" #size,                                                                    \
			"(a) bench-malloc-simple: batches of 25/100/400/1600 blocks of " #size     \
			" bytes, malloc all, free all oldest first",                               \
			simple##size##_prepare, fixed_pass, fixed_finish                           \
	}

const struct bench_timed_workload bench_real_workloads[] = {
	SIMPLE_WORKLOAD(16),
	SIMPLE_WORKLOAD(32),
	SIMPLE_WORKLOAD(64),
	SIMPLE_WORKLOAD(128),
	SIMPLE_WORKLOAD(256),
	{ "thread1",
		"(b) bench-malloc-thread, 1 thread: 1000 slots, a random one replaced, "
		"16 B..32 KiB log-uniform",
		thread1_prepare, threads_pass, threads_finish },
	{ "thread2",
		"(b) bench-malloc-thread, 2 threads on one pool: 1000 slots each, a random one "
		"replaced, 16 B..32 KiB log-uniform (wall time over both threads' blocks)",
		thread2_prepare, threads_pass, threads_finish },
	{ "larson2",
		"(c) Larson, 2 threads: 4000 shared slots of 16..1000 bytes, random slots of the "
		"whole array replaced (about half the frees remote)",
		larson_prepare, larson_pass, larson_finish },
	{ "xmalloc2",
		"(d) xmalloc-test, 2 threads: one allocates 64-byte blocks (handed over 64 at a "
		"time), the other frees them",
		xmalloc_prepare, pipe_pass, pipe_finish },
	{ "cfrac",
		"(e) cfrac-style bignums: temporaries of 16..200 bytes, at most 8 live, freed "
		"mostly newest first; 1 malloc in 64 replaces one of 256 long-lived blocks",
		cfrac_prepare, cfrac_pass, cfrac_finish },
	{ "large",
		"(f) malloc-large: 20 slots, a random one replaced by 64 KiB..32 MiB "
		"(log-uniform), first and last cache line written; 2 GiB B_NO_LOCK pool",
		large_prepare, churn_pass, single_finish },
};

const size_t bench_real_workload_count =
	sizeof(bench_real_workloads) / sizeof(bench_real_workloads[0]);

/*
 * Why thread2's children also run thread1: the throughput of two threads
 * against one is a ratio of two times, and on a guest whose CPUs the host
 * shares, a thread alone took 30 to 57 ns a pair in children of the same
 * module started seconds apart, more than the figure's margin. Passes
 * alternated in one child are milliseconds apart, under the same
 * conditions; the ratio of the medians of separate children is printed
 * beside it.
 */
const struct bench_timed_workload *bench_paired_workload(
	const struct bench_timed_workload *workload)
{
	return strcmp(workload->name, "thread2") == 0 ? bench_find_timed_workload("thread1") : NULL;
}
