/*
 * bench_heap.c - churn micro-benchmark: the heap against the C library's
 * malloc in the same process, on the same precomputed operation sequence.
 *
 * The workload keeps 1024 live blocks; each step frees a random one and
 * allocates a replacement of a log-uniform random size in 16..2047 bytes,
 * writing its first byte (as a caller would). Reported: nanoseconds per
 * free+malloc pair, best of several rounds. Not part of make check.
 * Single-threaded; no locking.
 *
 * Usage: bench_heap [steps]   (default 4000000)
 */
#include "config.h"

#include "core/heap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define SLOTS 1024
#define ROUNDS 5
#define REGION_BYTES ((size_t)16 << 20)

struct workload {
	size_t steps;
	uint16_t *slot;
	uint16_t *size;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Log-uniform over 16..2047: a uniform octave, then uniform within it. */
static uint16_t random_size(void)
{
	unsigned octave = 4 + (unsigned)(rng_next() % 7);
	return (uint16_t)((1u << octave) + rng_next() % (1u << octave));
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct heap *bench_heap;

static void *heap_malloc(size_t size)
{
	return heap_alloc(bench_heap, size);
}

static void heap_release(void *ptr)
{
	heap_free(bench_heap, ptr);
}

/* One round: fill the slots, churn, empty them. Returns ns per pair. */
static double run_round(const struct workload *work, void *(*alloc_fn)(size_t),
	void (*free_fn)(void *))
{
	static void *live[SLOTS];

	for (size_t i = 0; i < SLOTS; i++) {
		live[i] = alloc_fn(work->size[i]);
		*(volatile char *)live[i] = 1;
	}
	double start = now_ns();
	for (size_t i = 0; i < work->steps; i++) {
		unsigned s = work->slot[i];
		free_fn(live[s]);
		live[s] = alloc_fn(work->size[i]);
		*(volatile char *)live[s] = 1;
	}
	double elapsed = now_ns() - start;
	for (size_t i = 0; i < SLOTS; i++)
		free_fn(live[i]);
	return elapsed / (double)work->steps;
}

int main(int argc, char **argv)
{
	struct workload work = { .steps = 4000000 };

	if (argc > 1) {
		char *end;
		unsigned long long steps = strtoull(argv[1], &end, 10);
		if (*end || steps < SLOTS) {
			fprintf(stderr, "usage: %s [steps >= %d]\n", argv[0], SLOTS);
			return 2;
		}
		work.steps = (size_t)steps;
	}
	work.slot = malloc(work.steps * sizeof(*work.slot));
	work.size = malloc(work.steps * sizeof(*work.size));
	if (!work.slot || !work.size) {
		fprintf(stderr, "bench_heap: out of memory for %zu steps\n", work.steps);
		return 1;
	}
	for (size_t i = 0; i < work.steps; i++) {
		work.slot[i] = (uint16_t)(rng_next() % SLOTS);
		work.size[i] = random_size();
	}

	void *region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		-1, 0);
	if (region == MAP_FAILED) {
		perror("bench_heap: mmap");
		return 1;
	}
	bench_heap = heap_init(region, REGION_BYTES);
	if (!bench_heap) {
		fprintf(stderr, "bench_heap: heap_init failed\n");
		return 1;
	}

	double best_heap = 1e300, best_libc = 1e300;
	for (int round = 0; round < ROUNDS; round++) {
		double h = run_round(&work, heap_malloc, heap_release);
		double l = run_round(&work, malloc, free);
		best_heap = h < best_heap ? h : best_heap;
		best_libc = l < best_libc ? l : best_libc;
	}
	if (!heap_validate(bench_heap, NULL)) {
		fprintf(stderr, "bench_heap: heap invalid after the run\n");
		return 1;
	}
	printf("churn, %d live slots, sizes 16..2047 log-uniform, %zu steps, best of %d:\n", SLOTS,
		work.steps, ROUNDS);
	printf("  heap  %6.1f ns per free+malloc\n", best_heap);
	printf("  libc  %6.1f ns per free+malloc\n", best_libc);
	munmap(region, REGION_BYTES);
	free(work.slot);
	free(work.size);
	return 0;
}
