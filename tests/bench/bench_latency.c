/*
 * bench_latency.c - the latency of single malloc and free calls, each timed
 * on its own with the time stamp counter, in three phases:
 *
 *   split   the pool is one huge free block: each small request (16..64
 *           bytes) is split from it, and each free merges back into it;
 *   merge   blocks are laid out in triples a b c (16..2047 bytes); a and c
 *           are freed first (not sampled), then every b is freed and
 *           sampled: a free that merges on both sides. The layout's
 *           mallocs are sampled (splits of the big block again);
 *   churn   the churn workload (1024 slots, 16..2047 bytes) after a
 *           warm-up, every malloc and free sampled.
 *
 * A pool is created once and pre-touched (filled with 256 KiB blocks that
 * are written, then freed) so that first-touch page faults are not counted;
 * glibc, jemalloc and mimalloc run with their own defaults and get the
 * churn warm-up only. Emits lat_PHASE_OP_STAT in nanoseconds, PHASE one of
 * split, merge, churn and all (the three pooled), OP malloc or free, STAT
 * p50, p999 (99.9%), p9999 (99.99%) and max; and lat_timer_p50, the cost
 * of an empty measurement (included in every sample).
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define POOL_BYTES ((size_t)64 << 20)
#define TOUCH_BLOCK ((size_t)256 << 10)
#define SPLIT_ROUNDS 100000
#define MERGE_TRIPLES 20000
#define MERGE_REPEATS 3
#define CHURN_SLOTS 1024
#define CHURN_WARMUP 50000
#define CHURN_STEPS 300000

enum { PHASE_SPLIT, PHASE_MERGE, PHASE_CHURN, PHASE_COUNT };
enum { OP_MALLOC, OP_FREE, OP_COUNT };

static const char *const phase_names[PHASE_COUNT] = { "split", "merge", "churn" };
static const char *const op_names[OP_COUNT] = { "malloc", "free" };

struct sample {
	uint32_t *ticks;
	size_t count;
	size_t capacity;
};

static struct sample samples[PHASE_COUNT][OP_COUNT];

static void sample_reserve(struct sample *sample, size_t capacity)
{
	sample->ticks = malloc(capacity * sizeof(*sample->ticks));
	if (sample->ticks == NULL) {
		perror("bench: latency samples");
		exit(EXIT_FAILURE);
	}
	sample->count = 0;
	sample->capacity = capacity;
}

static inline void record(struct sample *sample, uint64_t start, uint64_t end)
{
	uint64_t ticks = end - start;

	if (sample->count < sample->capacity)
		sample->ticks[sample->count++] = ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
}

static void *timed_malloc(const struct bench_allocator *allocator, const void *pool, size_t size,
	struct sample *sample)
{
	uint64_t start = bench_tsc_begin();
	char *block = allocator->allocate(pool, size);
	uint64_t end = bench_tsc_end();

	if (block == NULL) {
		fprintf(stderr, "bench: %s: latency: malloc(%zu) failed\n", allocator->name, size);
		exit(EXIT_FAILURE);
	}
	record(sample, start, end);
	*block = 1;
	return block;
}

static void timed_free(const struct bench_allocator *allocator, const void *pool, void *block,
	struct sample *sample)
{
	uint64_t start = bench_tsc_begin();

	allocator->release(pool, block);
	record(sample, start, bench_tsc_end());
}

static void pre_touch(const struct bench_allocator *allocator, const void *pool)
{
	size_t count = 0, capacity = POOL_BYTES / TOUCH_BLOCK + 1;
	void **blocks = malloc(capacity * sizeof(*blocks));

	if (blocks == NULL) {
		perror("bench: pre-touch");
		exit(EXIT_FAILURE);
	}
	while (count < capacity && (blocks[count] = allocator->allocate(pool, TOUCH_BLOCK)) != NULL)
		memset(blocks[count++], 0x5a, TOUCH_BLOCK);
	while (count > 0)
		allocator->release(pool, blocks[--count]);
	free(blocks);
}

static void split_phase(const struct bench_allocator *allocator, const void *pool,
	struct bench_rng *rng)
{
	struct sample *mallocs = &samples[PHASE_SPLIT][OP_MALLOC];
	struct sample *frees = &samples[PHASE_SPLIT][OP_FREE];

	for (size_t i = 0; i < SPLIT_ROUNDS; i++) {
		void *block = timed_malloc(allocator, pool, 16 + bench_rng_next(rng) % 49, mallocs);

		timed_free(allocator, pool, block, frees);
	}
}

static void merge_phase(const struct bench_allocator *allocator, const void *pool,
	struct bench_rng *rng)
{
	struct sample *mallocs = &samples[PHASE_MERGE][OP_MALLOC];
	struct sample *frees = &samples[PHASE_MERGE][OP_FREE];
	struct sample unsampled = { NULL, 0, 0 };
	void **blocks = malloc(3 * MERGE_TRIPLES * sizeof(*blocks));

	if (blocks == NULL) {
		perror("bench: merge phase");
		exit(EXIT_FAILURE);
	}
	for (int repeat = 0; repeat < MERGE_REPEATS; repeat++) {
		for (size_t i = 0; i < 3 * MERGE_TRIPLES; i++)
			blocks[i] = timed_malloc(allocator, pool, bench_random_size(rng), mallocs);
		for (size_t i = 0; i < MERGE_TRIPLES; i++) {
			timed_free(allocator, pool, blocks[3 * i], &unsampled);
			timed_free(allocator, pool, blocks[3 * i + 2], &unsampled);
		}
		for (size_t i = 0; i < MERGE_TRIPLES; i++)
			timed_free(allocator, pool, blocks[3 * i + 1], frees);
	}
	free(blocks);
}

static void churn_phase(const struct bench_allocator *allocator, const void *pool,
	struct bench_rng *rng)
{
	struct sample *mallocs = &samples[PHASE_CHURN][OP_MALLOC];
	struct sample *frees = &samples[PHASE_CHURN][OP_FREE];
	struct sample unsampled = { NULL, 0, 0 };
	void *slots[CHURN_SLOTS];

	for (size_t i = 0; i < CHURN_SLOTS; i++)
		slots[i] = timed_malloc(allocator, pool, bench_random_size(rng), &unsampled);
	for (size_t step = 0; step < CHURN_WARMUP + CHURN_STEPS; step++) {
		bool sampled = step >= CHURN_WARMUP;
		size_t slot = bench_rng_next(rng) % CHURN_SLOTS;

		timed_free(allocator, pool, slots[slot], sampled ? frees : &unsampled);
		slots[slot] = timed_malloc(allocator, pool, bench_random_size(rng),
			sampled ? mallocs : &unsampled);
	}
	for (size_t i = 0; i < CHURN_SLOTS; i++)
		allocator->release(pool, slots[i]);
}

static void emit_stats(const char *phase, const char *op, uint32_t *ticks, size_t count)
{
	static const struct {
		const char *name;
		double fraction;
	} stats[] = { { "p50", 0.5 }, { "p999", 0.999 }, { "p9999", 0.9999 }, { "max", 1.0 } };
	char key[64];

	bench_sort_u32(ticks, count);
	for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
		snprintf(key, sizeof(key), "lat_%s_%s_%s", phase, op, stats[i].name);
		bench_emit(key,
			bench_percentile_u32(ticks, count, stats[i].fraction)
				* bench_tsc_ns_per_tick());
	}
}

static void emit_timer_cost(void)
{
	struct sample timer;

	sample_reserve(&timer, 100000);
	for (size_t i = 0; i < timer.capacity; i++) {
		uint64_t start = bench_tsc_begin();

		record(&timer, start, bench_tsc_end());
	}
	bench_sort_u32(timer.ticks, timer.count);
	bench_emit("lat_timer_p50",
		bench_percentile_u32(timer.ticks, timer.count, 0.5) * bench_tsc_ns_per_tick());
	free(timer.ticks);
}

void bench_run_latency(const struct bench_allocator *allocator)
{
	struct bench_rng rng = { 0x243f6a8885a308d3ULL };
	const void *pool = bench_pool_open(allocator, POOL_BYTES);
	size_t total[OP_COUNT] = { 0 };

	bench_tsc_calibrate();
	sample_reserve(&samples[PHASE_SPLIT][OP_MALLOC], SPLIT_ROUNDS);
	sample_reserve(&samples[PHASE_SPLIT][OP_FREE], SPLIT_ROUNDS);
	sample_reserve(&samples[PHASE_MERGE][OP_MALLOC], 3 * MERGE_TRIPLES * MERGE_REPEATS);
	sample_reserve(&samples[PHASE_MERGE][OP_FREE], MERGE_TRIPLES * MERGE_REPEATS);
	sample_reserve(&samples[PHASE_CHURN][OP_MALLOC], CHURN_STEPS);
	sample_reserve(&samples[PHASE_CHURN][OP_FREE], CHURN_STEPS);
	if (pool != NULL)
		pre_touch(allocator, pool);
	split_phase(allocator, pool, &rng);
	merge_phase(allocator, pool, &rng);
	churn_phase(allocator, pool, &rng);
	bench_pool_close(allocator, pool);

	for (int op = 0; op < OP_COUNT; op++) {
		uint32_t *all;
		size_t filled = 0;

		for (int phase = 0; phase < PHASE_COUNT; phase++)
			total[op] += samples[phase][op].count;
		all = malloc(total[op] * sizeof(*all));
		if (all == NULL) {
			perror("bench: latency samples");
			exit(EXIT_FAILURE);
		}
		for (int phase = 0; phase < PHASE_COUNT; phase++) {
			memcpy(all + filled, samples[phase][op].ticks,
				samples[phase][op].count * sizeof(*all));
			filled += samples[phase][op].count;
			emit_stats(phase_names[phase], op_names[op], samples[phase][op].ticks,
				samples[phase][op].count);
			free(samples[phase][op].ticks);
		}
		emit_stats("all", op_names[op], all, filled);
		free(all);
	}
	emit_timer_cost();
}
