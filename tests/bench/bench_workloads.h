/*
 * bench_workloads.h - the pieces the two suites' workloads share
 * (bench_workloads.c defines them, bench_real_workloads.c reuses them):
 * allocation with a write, precomputed churn sequences, the start line of
 * threaded passes, and three workload shapes parameterised by the suites
 * (fixed-size batches, threads churning slots, a producer/consumer pair).
 *
 * Locking: a thread run owns its plan and its end time (read after join);
 * the start line is C11 atomics; see bench_workloads.c for the ring.
 */
#ifndef AREA_MALLOC_TESTS_BENCH_BENCH_WORKLOADS_H
#define AREA_MALLOC_TESTS_BENCH_BENCH_WORKLOADS_H

#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"

#define BENCH_MAX_THREADS 2

void *bench_checked_malloc(size_t bytes);
__attribute__((noreturn)) void bench_out_of_memory(const struct bench_allocator *allocator,
	size_t size);

/* A new block whose first byte is written, as a caller would. */
static inline void *bench_allocate_and_touch(const struct bench_allocator *allocator,
	const void *pool, size_t size, uint32_t stamp)
{
	char *block = allocator->allocate(pool, size);

	if (__builtin_expect(block == NULL, 0))
		bench_out_of_memory(allocator, size);
	*block = (char)stamp;
	return block;
}

/* Draws one block size. */
typedef size_t (*bench_size_draw)(struct bench_rng *rng);

/* A churn sequence: initial sizes of the slots, then (slot, size) per step. */
struct churn_plan {
	size_t slots;
	size_t steps;
	uint32_t *initial_size;
	uint16_t *slot;
	uint32_t *size;
	void **blocks;
	bool touch_last; /* write the last byte of each new block too */
};

void churn_plan_init(struct churn_plan *plan, size_t slots, size_t steps, uint64_t seed,
	bench_size_draw draw);
void churn_plan_free(struct churn_plan *plan);

/* Threads created and waiting before the clock starts (1 or 2 of them). */
struct start_line {
	atomic_int ready;
	atomic_bool go;
	int count;
	pthread_t threads[BENCH_MAX_THREADS];
};

void start_line_wait(struct start_line *line);
void start_threads(struct start_line *line, int count, void *(*const *body)(void *),
	void *const *arguments);
/* Starts the clock, releases the threads and waits for them; returns the start. */
uint64_t go_and_join(struct start_line *line);
/* Waiting for another thread: spin briefly, then give the CPU away. */
void bench_relax(unsigned *spins);

/* one thread churning slots in a pool of its own */
void *single_prepare(const struct bench_allocator *allocator, size_t pool_bytes, size_t slots,
	size_t steps, uint64_t seed, bench_size_draw draw, bool touch_last);
double churn_pass(const struct bench_allocator *allocator, void *prepared);
void single_finish(const struct bench_allocator *allocator, void *prepared);

/* batches of equal blocks (counts in turn from batch_counts), malloc all,
 * then free all newest (lifo) or oldest first; blocks: per batch count */
void *fixed_prepare(const struct bench_allocator *allocator, size_t size, bool lifo,
	const uint16_t *batch_counts, size_t batch_count_count, size_t blocks);
double fixed_pass(const struct bench_allocator *allocator, void *prepared);
void fixed_finish(const struct bench_allocator *allocator, void *prepared);

/* threads churning slots each, in one shared pool or a pool per thread */
void *threads_prepare(const struct bench_allocator *allocator, int threads, bool shared_pool,
	size_t pool_bytes, size_t slots, size_t steps, bench_size_draw draw);
double threads_pass(const struct bench_allocator *allocator, void *prepared);
void threads_finish(const struct bench_allocator *allocator, void *prepared);

/* one thread allocates (block_size, or log-uniform 16..2047 when 0), the
 * other frees; the producer publishes every batch blocks */
void *pipe_prepare(const struct bench_allocator *allocator, size_t block_size, size_t blocks,
	size_t batch);
double pipe_pass(const struct bench_allocator *allocator, void *prepared);
void pipe_finish(const struct bench_allocator *allocator, void *prepared);

#endif /* AREA_MALLOC_TESTS_BENCH_BENCH_WORKLOADS_H */
