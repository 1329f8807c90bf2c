/*
 * bench_workloads.c - the timed workloads: one pass of each returns the
 * nanoseconds per operation, an operation being one block's malloc and
 * free. Every pass of a workload replays the same precomputed sequence of
 * slots and sizes, whichever allocator runs it, and writes the first byte
 * of each new block, as a caller would.
 *
 *   churn      one thread, 1024 live slots; each step frees a random slot
 *              and refills it with a log-uniform size in 16..2047
 *   lifoN/fifoN  batches of 1024 blocks of N bytes, freed newest first
 *              (LIFO) or oldest first (FIFO)
 *   shared2    two threads churning 512 slots each in ONE pool
 *   private2   two threads churning 512 slots each, a pool per thread
 *   prodcons   one thread allocates, the other frees (a 256-entry ring)
 *   stacks     churn whose allocations come through 16 call chains (depths
 *              1 to 16 of a recursive helper) in turn: 16 distinct stacks,
 *              more than the debug module's memo of a thread's last stacks
 *              keeps, so each allocation's stack is looked up (by frame
 *              pointers, or by the unwind tables in bench_nofp)
 *
 * Waiting threads spin briefly, then yield (relax()).
 * Two-thread workloads report wall time over the blocks of both threads
 * (throughput: perfect scaling on two cores halves the one-thread figure).
 * Process-wide allocators get the same threads without pools. Iteration
 * counts are scaled by bench_scale. The shapes (fixed batches, threads
 * churning, producer/consumer) are exported for the real-workload suite
 * (bench_workloads.h).
 *
 * Locking: each thread owns its slots and its end time (read after join);
 * the start line and the producer/consumer ring are C11 atomics (the ring
 * is a single-producer single-consumer queue, release/acquire on its
 * indexes).
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "bench.h"
#include "bench_workloads.h"

#define POOL_BYTES ((size_t)32 << 20)
#define CHURN_SLOTS 1024
#define CHURN_STEPS 200000
#define BATCH_BLOCKS 1024
#define BATCHES 200
#define THREAD_SLOTS 512
#define THREAD_STEPS 100000
#define PIPE_BLOCKS 20000
#define RING_ENTRIES 256

void *bench_checked_malloc(size_t bytes)
{
	void *memory = malloc(bytes);

	if (memory == NULL) {
		perror("bench: malloc");
		exit(EXIT_FAILURE);
	}
	return memory;
}

void bench_out_of_memory(const struct bench_allocator *allocator, size_t size)
{
	fprintf(stderr, "bench: %s: allocation of %zu bytes failed mid-workload\n", allocator->name,
		size);
	exit(EXIT_FAILURE);
}

static size_t draw_16_2047(struct bench_rng *rng)
{
	return bench_random_size(rng);
}

void churn_plan_init(struct churn_plan *plan, size_t slots, size_t steps, uint64_t seed,
	bench_size_draw draw)
{
	struct bench_rng rng = { seed };

	plan->slots = slots;
	plan->steps = steps;
	plan->initial_size = bench_checked_malloc(slots * sizeof(*plan->initial_size));
	plan->slot = bench_checked_malloc(steps * sizeof(*plan->slot));
	plan->size = bench_checked_malloc(steps * sizeof(*plan->size));
	plan->blocks = bench_checked_malloc(slots * sizeof(*plan->blocks));
	plan->touch_last = false;
	for (size_t i = 0; i < slots; i++)
		plan->initial_size[i] = (uint32_t)draw(&rng);
	for (size_t i = 0; i < steps; i++) {
		plan->slot[i] = (uint16_t)(bench_rng_next(&rng) % slots);
		plan->size[i] = (uint32_t)draw(&rng);
	}
}

void churn_plan_free(struct churn_plan *plan)
{
	free(plan->initial_size);
	free(plan->slot);
	free(plan->size);
	free(plan->blocks);
}

static inline void *churn_allocate(const struct bench_allocator *allocator, const void *pool,
	const struct churn_plan *plan, size_t size, uint32_t stamp)
{
	char *block = bench_allocate_and_touch(allocator, pool, size, stamp);

	if (plan->touch_last)
		block[size - 1] = (char)stamp;
	return block;
}

static void churn_fill(const struct bench_allocator *allocator, const void *pool,
	struct churn_plan *plan)
{
	for (size_t i = 0; i < plan->slots; i++)
		plan->blocks[i] = churn_allocate(allocator, pool, plan, plan->initial_size[i], 0);
}

static void churn_steps(const struct bench_allocator *allocator, const void *pool,
	struct churn_plan *plan)
{
	for (size_t i = 0; i < plan->steps; i++) {
		size_t slot = plan->slot[i];

		allocator->release(pool, plan->blocks[slot]);
		plan->blocks[slot] =
			churn_allocate(allocator, pool, plan, plan->size[i], (uint32_t)i);
	}
}

static void churn_empty(const struct bench_allocator *allocator, const void *pool,
	struct churn_plan *plan)
{
	for (size_t i = 0; i < plan->slots; i++)
		allocator->release(pool, plan->blocks[i]);
}

/* ---- churn, one thread ---- */

struct single_state {
	const void *pool;
	struct churn_plan plan;
};

void *single_prepare(const struct bench_allocator *allocator, size_t pool_bytes, size_t slots,
	size_t steps, uint64_t seed, bench_size_draw draw, bool touch_last)
{
	struct single_state *state = bench_checked_malloc(sizeof(*state));

	state->pool = bench_pool_open(allocator, pool_bytes);
	churn_plan_init(&state->plan, slots, steps, seed, draw);
	state->plan.touch_last = touch_last;
	return state;
}

static void *churn_prepare(const struct bench_allocator *allocator)
{
	return single_prepare(allocator, POOL_BYTES, CHURN_SLOTS, bench_scaled(CHURN_STEPS),
		0x9e3779b97f4a7c15ULL, draw_16_2047, false);
}

double churn_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct single_state *state = prepared;
	uint64_t start, end;

	churn_fill(allocator, state->pool, &state->plan);
	start = bench_now_ns();
	churn_steps(allocator, state->pool, &state->plan);
	end = bench_now_ns();
	churn_empty(allocator, state->pool, &state->plan);
	return (double)(end - start) / (double)state->plan.steps;
}

void single_finish(const struct bench_allocator *allocator, void *prepared)
{
	struct single_state *state = prepared;

	churn_plan_free(&state->plan);
	bench_pool_close(allocator, state->pool);
	free(state);
}

/* ---- stacks: churn from 16 call chains ---- */

#define STACK_CHAINS 16

/* depth frames of itself, then the allocation (never a tail call: each
 * depth is a frame of its own) */
static __attribute__((noinline)) void *allocate_at_depth(const struct bench_allocator *allocator,
	const void *pool, size_t size, uint32_t stamp, unsigned depth)
{
	void *block = depth == 0 ? bench_allocate_and_touch(allocator, pool, size, stamp)
				 : allocate_at_depth(allocator, pool, size, stamp, depth - 1);

	__asm__ volatile("" : : "r"(block) : "memory");
	return block;
}

static double stacks_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct single_state *state = prepared;
	struct churn_plan *plan = &state->plan;
	uint64_t start, end;

	churn_fill(allocator, state->pool, plan);
	start = bench_now_ns();
	for (size_t i = 0; i < plan->steps; i++) {
		size_t slot = plan->slot[i];

		allocator->release(state->pool, plan->blocks[slot]);
		plan->blocks[slot] = allocate_at_depth(allocator, state->pool, plan->size[i],
			(uint32_t)i, (unsigned)(i % STACK_CHAINS));
	}
	end = bench_now_ns();
	churn_empty(allocator, state->pool, plan);
	return (double)(end - start) / (double)plan->steps;
}
/* ---- fixed sizes, LIFO and FIFO ---- */

struct fixed_state {
	const void *pool;
	size_t size;
	bool lifo;
	const uint16_t *batch_counts;
	size_t batch_count_count;
	size_t blocks_per_count;
	void **blocks;
};

void *fixed_prepare(const struct bench_allocator *allocator, size_t size, bool lifo,
	const uint16_t *batch_counts, size_t batch_count_count, size_t blocks)
{
	struct fixed_state *state = bench_checked_malloc(sizeof(*state));
	size_t largest = 0;

	for (size_t i = 0; i < batch_count_count; i++)
		if (batch_counts[i] > largest)
			largest = batch_counts[i];
	state->pool = bench_pool_open(allocator, POOL_BYTES);
	state->size = size;
	state->lifo = lifo;
	state->batch_counts = batch_counts;
	state->batch_count_count = batch_count_count;
	state->blocks_per_count = blocks;
	state->blocks = bench_checked_malloc(largest * sizeof(*state->blocks));
	return state;
}

double fixed_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct fixed_state *state = prepared;
	const void *pool = state->pool;
	void **blocks = state->blocks;
	size_t operations = 0;
	uint64_t start = bench_now_ns(), end;

	for (size_t c = 0; c < state->batch_count_count; c++) {
		uint32_t count = state->batch_counts[c];
		size_t batches = (state->blocks_per_count + count - 1) / count;

		for (size_t batch = 0; batch < batches; batch++) {
			for (uint32_t i = 0; i < count; i++)
				blocks[i] =
					bench_allocate_and_touch(allocator, pool, state->size, i);
			if (state->lifo) {
				for (uint32_t i = count; i-- > 0;)
					allocator->release(pool, blocks[i]);
			} else {
				for (uint32_t i = 0; i < count; i++)
					allocator->release(pool, blocks[i]);
			}
		}
		operations += batches * count;
	}
	end = bench_now_ns();
	return (double)(end - start) / (double)operations;
}

void fixed_finish(const struct bench_allocator *allocator, void *prepared)
{
	struct fixed_state *state = prepared;

	free(state->blocks);
	bench_pool_close(allocator, state->pool);
	free(state);
}

static const uint16_t batch_of_1024[] = { BATCH_BLOCKS };

#define FIXED_PREPARE(order, size, lifo)                                                           \
	static void *order##size##_prepare(const struct bench_allocator *allocator)                \
	{                                                                                          \
		return fixed_prepare(allocator, size, lifo, batch_of_1024, 1,                      \
			bench_scaled((size_t)BATCHES * BATCH_BLOCKS));                             \
	}
FIXED_PREPARE(lifo, 16, true)
FIXED_PREPARE(fifo, 16, false)
FIXED_PREPARE(lifo, 32, true)
FIXED_PREPARE(fifo, 32, false)
FIXED_PREPARE(lifo, 64, true)
FIXED_PREPARE(fifo, 64, false)

/* ---- threads ---- */

/*
 * Waiting for the other thread: spin briefly, then give the CPU away. On a
 * loaded two-CPU machine a pure spin can burn a whole time slice while the
 * thread it waits for is not running.
 */
static inline void relax(unsigned *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		_mm_pause();
}

void start_line_wait(struct start_line *line)
{
	unsigned spins = 0;

	atomic_fetch_add(&line->ready, 1);
	while (!atomic_load_explicit(&line->go, memory_order_acquire))
		relax(&spins);
}

void start_threads(struct start_line *line, int count, void *(*const *body)(void *),
	void *const *arguments)
{
	atomic_store(&line->ready, 0);
	atomic_store(&line->go, false);
	line->count = count;
	for (int i = 0; i < count; i++) {
		if (pthread_create(&line->threads[i], NULL, body[i], arguments[i]) != 0) {
			perror("bench: pthread_create");
			exit(EXIT_FAILURE);
		}
	}
	unsigned spins = 0;

	while (atomic_load(&line->ready) < count)
		relax(&spins);
}

uint64_t go_and_join(struct start_line *line)
{
	uint64_t start = bench_now_ns();

	atomic_store_explicit(&line->go, true, memory_order_release);
	for (int i = 0; i < line->count; i++)
		pthread_join(line->threads[i], NULL);
	return start;
}

struct thread_run {
	const struct bench_allocator *allocator;
	const void *pool;
	struct churn_plan plan;
	struct start_line *line;
	uint64_t end_ns;
	uint64_t cpu_ns; /* the thread's CPU time over its timed steps */
};

struct threads_state {
	int threads;
	bool shared_pool;
	const void *pools[BENCH_MAX_THREADS];
	struct thread_run runs[BENCH_MAX_THREADS];
	struct start_line line;
};

void *threads_prepare(const struct bench_allocator *allocator, int threads, bool shared_pool,
	size_t pool_bytes, size_t slots, size_t steps, bench_size_draw draw)
{
	struct threads_state *state = bench_checked_malloc(sizeof(*state));

	state->threads = threads;
	state->shared_pool = shared_pool;
	for (int i = 0; i < threads; i++) {
		state->pools[i] = i > 0 && shared_pool ? state->pools[0]
						       : bench_pool_open(allocator, pool_bytes);
		state->runs[i].allocator = allocator;
		state->runs[i].pool = state->pools[i];
		churn_plan_init(&state->runs[i].plan, slots, steps,
			0x2545F4914F6CDD1DULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL, draw);
		state->runs[i].line = &state->line;
	}
	return state;
}

static void *shared2_prepare(const struct bench_allocator *allocator)
{
	return threads_prepare(allocator, 2, true, POOL_BYTES, THREAD_SLOTS,
		bench_scaled(THREAD_STEPS), draw_16_2047);
}

static void *private2_prepare(const struct bench_allocator *allocator)
{
	return threads_prepare(allocator, 2, false, POOL_BYTES, THREAD_SLOTS,
		bench_scaled(THREAD_STEPS), draw_16_2047);
}

static void *churn_thread(void *argument)
{
	struct thread_run *run = argument;

	churn_fill(run->allocator, run->pool, &run->plan);
	start_line_wait(run->line);
	uint64_t cpu_start = bench_thread_cpu_ns();
	churn_steps(run->allocator, run->pool, &run->plan);
	run->end_ns = bench_now_ns();
	run->cpu_ns = bench_thread_cpu_ns() - cpu_start;
	churn_empty(run->allocator, run->pool, &run->plan);
	return NULL;
}

double threads_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct threads_state *state = prepared;
	void *(*bodies[BENCH_MAX_THREADS])(void *);
	void *arguments[BENCH_MAX_THREADS];
	uint64_t start, end = 0;

	(void)allocator;
	for (int i = 0; i < state->threads; i++) {
		bodies[i] = churn_thread;
		arguments[i] = &state->runs[i];
	}
	start_threads(&state->line, state->threads, bodies, arguments);
	uint64_t cpu = 0;

	start = go_and_join(&state->line);
	for (int i = 0; i < state->threads; i++) {
		if (state->runs[i].end_ns > end)
			end = state->runs[i].end_ns;
		cpu += state->runs[i].cpu_ns;
	}
	double operations = (double)state->threads * (double)state->runs[0].plan.steps;
	bench_last_pass_cpu_ns = (double)cpu / operations;
	return (double)(end - start) / operations;
}

void threads_finish(const struct bench_allocator *allocator, void *prepared)
{
	struct threads_state *state = prepared;

	for (int i = 0; i < state->threads; i++) {
		churn_plan_free(&state->runs[i].plan);
		if (i == 0 || !state->shared_pool)
			bench_pool_close(allocator, state->pools[i]);
	}
	free(state);
}

/* ---- producer / consumer ---- */

struct pipe_state {
	_Alignas(64) atomic_size_t head; /* next to pop; written by the consumer */
	_Alignas(64) atomic_size_t tail; /* next to push; written by the producer */
	_Alignas(64) void *entries[RING_ENTRIES];
	const struct bench_allocator *allocator;
	const void *pool;
	size_t blocks;
	size_t batch; /* the producer publishes its blocks this many at a time */
	uint16_t *size;
	struct start_line line;
	uint64_t consumed_ns;
};

static void *produce(void *argument)
{
	struct pipe_state *state = argument;
	size_t tail = 0;

	start_line_wait(&state->line);
	for (size_t i = 0; i < state->blocks; i++) {
		void *block = bench_allocate_and_touch(state->allocator, state->pool,
			state->size[i], (uint32_t)i);
		unsigned spins = 0;

		/* never deadlocks: fewer than batch <= RING_ENTRIES are unpublished */
		while (tail - atomic_load_explicit(&state->head, memory_order_acquire)
			== RING_ENTRIES)
			relax(&spins);
		state->entries[tail % RING_ENTRIES] = block;
		tail++;
		if (tail % state->batch == 0 || i + 1 == state->blocks)
			atomic_store_explicit(&state->tail, tail, memory_order_release);
	}
	return NULL;
}

static void *consume(void *argument)
{
	struct pipe_state *state = argument;

	start_line_wait(&state->line);
	for (size_t i = 0; i < state->blocks; i++) {
		size_t head = atomic_load_explicit(&state->head, memory_order_relaxed);
		unsigned spins = 0;

		while (atomic_load_explicit(&state->tail, memory_order_acquire) == head)
			relax(&spins);
		state->allocator->release(state->pool, state->entries[head % RING_ENTRIES]);
		atomic_store_explicit(&state->head, head + 1, memory_order_release);
	}
	state->consumed_ns = bench_now_ns();
	return NULL;
}

void *pipe_prepare(const struct bench_allocator *allocator, size_t block_size, size_t blocks,
	size_t batch)
{
	size_t bytes = (sizeof(struct pipe_state) + 63) & ~(size_t)63;
	struct pipe_state *state = aligned_alloc(64, bytes);
	struct bench_rng rng = { 0x51ed270b27d3bd4bULL };

	if (state == NULL) {
		perror("bench: aligned_alloc");
		exit(EXIT_FAILURE);
	}
	memset(state, 0, sizeof(*state));
	state->allocator = allocator;
	state->pool = bench_pool_open(allocator, POOL_BYTES);
	state->blocks = blocks;
	state->batch = batch < 1 ? 1 : batch > RING_ENTRIES ? RING_ENTRIES : batch;
	state->size = bench_checked_malloc(blocks * sizeof(*state->size));
	for (size_t i = 0; i < blocks; i++)
		state->size[i] = block_size != 0 ? (uint16_t)block_size : bench_random_size(&rng);
	return state;
}

static void *prodcons_prepare(const struct bench_allocator *allocator)
{
	return pipe_prepare(allocator, 0, bench_scaled(PIPE_BLOCKS), 1);
}

double pipe_pass(const struct bench_allocator *allocator, void *prepared)
{
	struct pipe_state *state = prepared;
	void *(*const bodies[2])(void *) = { produce, consume };
	void *const arguments[2] = { state, state };
	uint64_t start;

	(void)allocator;
	atomic_store(&state->head, 0);
	atomic_store(&state->tail, 0);
	start_threads(&state->line, 2, bodies, arguments);
	start = go_and_join(&state->line);
	return (double)(state->consumed_ns - start) / (double)state->blocks;
}

void pipe_finish(const struct bench_allocator *allocator, void *prepared)
{
	struct pipe_state *state = prepared;

	free(state->size);
	bench_pool_close(allocator, state->pool);
	free(state);
}

#define FIXED_WORKLOAD(order, size, what)                                                          \
	{                                                                                          \
#order #size, "1024 blocks of " #size " bytes, freed " what,                       \
			order##size##_prepare, fixed_pass, fixed_finish                            \
	}

const struct bench_timed_workload bench_timed_workloads[] = {
	{ "churn", "1 thread, 1024 live slots, random slot replaced, sizes 16..2047 log-uniform",
		churn_prepare, churn_pass, single_finish },
	FIXED_WORKLOAD(lifo, 16, "newest first"),
	FIXED_WORKLOAD(fifo, 16, "oldest first"),
	FIXED_WORKLOAD(lifo, 32, "newest first"),
	FIXED_WORKLOAD(fifo, 32, "oldest first"),
	FIXED_WORKLOAD(lifo, 64, "newest first"),
	FIXED_WORKLOAD(fifo, 64, "oldest first"),
	{ "shared2", "2 threads churning 512 slots each in one shared pool", shared2_prepare,
		threads_pass, threads_finish },
	{ "private2", "2 threads churning 512 slots each, one pool per thread", private2_prepare,
		threads_pass, threads_finish },
	{ "prodcons", "1 thread allocates (16..2047 log-uniform), the other frees",
		prodcons_prepare, pipe_pass, pipe_finish },
	{ "stacks", "churn whose allocations come through 16 call chains (16 distinct stacks)",
		churn_prepare, stacks_pass, single_finish },
};

const size_t bench_timed_workload_count =
	sizeof(bench_timed_workloads) / sizeof(bench_timed_workloads[0]);

const struct bench_timed_workload *bench_find_timed_workload(const char *name)
{
	for (size_t i = 0; i < bench_timed_workload_count; i++)
		if (strcmp(bench_timed_workloads[i].name, name) == 0)
			return &bench_timed_workloads[i];
	for (size_t i = 0; i < bench_real_workload_count; i++)
		if (strcmp(bench_real_workloads[i].name, name) == 0)
			return &bench_real_workloads[i];
	return NULL;
}
