/*
 * bench_pools.c - the figures that are not ns per operation:
 *
 *   pool_overhead_N     bytes a block of N bytes costs beyond N: the median
 *                       distance between consecutive blocks of N bytes, less
 *                       N (for every allocator: glibc's, jemalloc's size
 *                       classes and ASan's redzones show the same way);
 *   pool_fill_64, pool_fill_4000, pool_fill_random
 *                       share of a 16 MiB pool's area handed out to the
 *                       caller (requested bytes / area size, get_area_info)
 *                       when allocating until the pool is exhausted
 *                       (random: 16..2047 log-uniform, until 256 requests
 *                       in a row fail); pool_fill_*_asked: the same bytes
 *                       over create_pool's size (the debug build makes its
 *                       area larger than asked, for its headers);
 *   pool_churn_held     blocks a 16 MiB pool holds when it is churned to
 *                       exhaustion with sizes 16..4095 (log-uniform): three
 *                       steps in four free a random live block and allocate
 *                       another, the fourth adds one, until an allocation
 *                       fails. A fill never reuses a freed block, so it does
 *                       not see the heap's fragmentation nor the release
 *                       build's caches handing a larger freed block to a
 *                       smaller request; a driver's pool under load does;
 *   pool_create_delete_us  create_pool(1 MiB) + one malloc/free + delete_pool;
 *   pool_big_*          an 8 GiB B_NO_LOCK pool: create and delete time,
 *                       resident memory added by create_pool and by a first
 *                       64-byte malloc (median of three, resident: worst).
 *
 * The pool figures are emitted only for allocators with pools.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define OVERHEAD_BLOCKS 17
#define FILL_POOL_BYTES ((size_t)16 << 20)
#define FILL_GIVE_UP 256
#define CREATE_DELETE_ROUNDS 500
#define BIG_POOL_BYTES ((size_t)8 << 30)
#define BIG_POOL_ROUNDS 3

static void *checked_calloc(size_t count, size_t size)
{
	void *memory = calloc(count, size);

	if (memory == NULL) {
		perror("bench: calloc");
		exit(EXIT_FAILURE);
	}
	return memory;
}

static void emit_overhead(const struct bench_allocator *allocator, size_t size)
{
	const void *pool = bench_pool_open(allocator, (size_t)1 << 20);
	char *blocks[OVERHEAD_BLOCKS];
	double distances[OVERHEAD_BLOCKS - 1];
	char key[48];

	for (int i = 0; i < OVERHEAD_BLOCKS; i++) {
		blocks[i] = allocator->allocate(pool, size);
		if (blocks[i] == NULL) {
			fprintf(stderr, "bench: %s: malloc(%zu) failed\n", allocator->name, size);
			exit(EXIT_FAILURE);
		}
	}
	for (int i = 0; i + 1 < OVERHEAD_BLOCKS; i++) {
		intptr_t distance = blocks[i + 1] - blocks[i];

		distances[i] = (double)(distance < 0 ? -distance : distance);
	}
	for (int i = 0; i < OVERHEAD_BLOCKS; i++)
		allocator->release(pool, blocks[i]);
	bench_pool_close(allocator, pool);
	snprintf(key, sizeof(key), "pool_overhead_%zu", size);
	bench_emit(key, bench_median(distances, OVERHEAD_BLOCKS - 1) - (double)size);
}

static size_t area_bytes_of(const void *block)
{
	area_info info;

	if (block == NULL || get_area_info(area_for((void *)block), &info) != B_OK) {
		fprintf(stderr, "bench: no area holds block %p\n", block);
		exit(EXIT_FAILURE);
	}
	return info.size;
}

/* size 0: random sizes. */
static void emit_fill(const struct bench_allocator *allocator, size_t size, const char *key)
{
	char asked_key[64];
	size_t area_bytes;
	const void *pool = bench_pool_open(allocator, FILL_POOL_BYTES);
	size_t capacity = FILL_POOL_BYTES / 16, count = 0, failures = 0;
	void **blocks = checked_calloc(capacity, sizeof(*blocks));
	struct bench_rng rng = { 0x13198a2e03707344ULL };
	size_t handed_out = 0;

	while (count < capacity && failures < (size == 0 ? FILL_GIVE_UP : 1)) {
		size_t request = size == 0 ? bench_random_size(&rng) : size;
		void *block = allocator->allocate(pool, request);

		if (block == NULL) {
			failures++;
			continue;
		}
		failures = 0;
		blocks[count++] = block;
		handed_out += request;
	}
	area_bytes = area_bytes_of(blocks[0]);
	while (count > 0)
		allocator->release(pool, blocks[--count]);
	free(blocks);
	bench_pool_close(allocator, pool);
	bench_emit(key, (double)handed_out / (double)area_bytes);
	snprintf(asked_key, sizeof(asked_key), "%s_asked", key);
	bench_emit(asked_key, (double)handed_out / (double)FILL_POOL_BYTES);
}

static void emit_churn_held(const struct bench_allocator *allocator)
{
	const void *pool = bench_pool_open(allocator, FILL_POOL_BYTES);
	size_t capacity = FILL_POOL_BYTES / 16, held = 0;
	void **blocks = checked_calloc(capacity, sizeof(*blocks));
	struct bench_rng rng = { 0xa4093822299f31d0ULL };

	for (uint64_t step = 0; held < capacity; step++) {
		size_t request = bench_log_uniform(&rng, 4, 12);
		size_t slot = held;

		if (step % 4 != 3 && held > 0) {
			slot = (size_t)(bench_rng_next(&rng) % held);
			allocator->release(pool, blocks[slot]);
		}
		blocks[slot] = allocator->allocate(pool, request);
		if (blocks[slot] == NULL) {
			if (slot != held)
				blocks[slot] = blocks[--held];
			break;
		}
		if (slot == held)
			held++;
	}
	bench_emit("pool_churn_held", (double)held);
	for (size_t i = 0; i < held; i++)
		allocator->release(pool, blocks[i]);
	free(blocks);
	bench_pool_close(allocator, pool);
}

static void emit_create_delete_rate(const struct bench_allocator *allocator)
{
	uint64_t start = bench_now_ns();

	for (int i = 0; i < CREATE_DELETE_ROUNDS; i++) {
		const void *pool = bench_pool_open(allocator, (size_t)1 << 20);
		void *block = allocator->allocate(pool, 64);

		if (block == NULL) {
			fprintf(stderr, "bench: %s: malloc in a new pool failed\n",
				allocator->name);
			exit(EXIT_FAILURE);
		}
		allocator->release(pool, block);
		bench_pool_close(allocator, pool);
	}
	bench_emit("pool_create_delete_us",
		(double)(bench_now_ns() - start) / 1000.0 / CREATE_DELETE_ROUNDS);
}

static double resident_kib(void)
{
	unsigned long size_pages, resident_pages;
	FILE *statm = fopen("/proc/self/statm", "r");
	int matched;

	if (statm == NULL) {
		perror("bench: /proc/self/statm");
		exit(EXIT_FAILURE);
	}
	matched = fscanf(statm, "%lu %lu", &size_pages, &resident_pages);
	fclose(statm);
	if (matched != 2) {
		fprintf(stderr, "bench: /proc/self/statm: unexpected format\n");
		exit(EXIT_FAILURE);
	}
	return (double)resident_pages * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

static void emit_big_pool(const struct bench_allocator *allocator)
{
	double create_us[BIG_POOL_ROUNDS], delete_us[BIG_POOL_ROUNDS];
	double created_kib = 0, first_block_kib = 0;

	for (int round = 0; round < BIG_POOL_ROUNDS; round++) {
		double before = resident_kib();
		uint64_t start = bench_now_ns();
		const void *pool = allocator->create_pool(B_ANY_ADDRESS, BIG_POOL_BYTES, B_NO_LOCK,
			B_READ_AREA | B_WRITE_AREA);
		uint64_t created = bench_now_ns();
		double after_create = resident_kib(), after_block;
		char *block;

		if (pool == NULL) {
			fprintf(stderr, "bench: %s: create_pool(8 GiB, B_NO_LOCK) failed\n",
				allocator->name);
			bench_emit("pool_big_failed", 1);
			return;
		}
		block = allocator->allocate(pool, 64);
		if (block == NULL) {
			fprintf(stderr, "bench: %s: malloc(64) in the 8 GiB pool failed\n",
				allocator->name);
			exit(EXIT_FAILURE);
		}
		memset(block, 0x5a, 64);
		after_block = resident_kib();
		allocator->release(pool, block);
		create_us[round] = (double)(created - start) / 1000.0;
		start = bench_now_ns();
		bench_pool_close(allocator, pool);
		delete_us[round] = (double)(bench_now_ns() - start) / 1000.0;
		if (after_create - before > created_kib)
			created_kib = after_create - before;
		if (after_block - before > first_block_kib)
			first_block_kib = after_block - before;
	}
	bench_emit("pool_big_create_us", bench_median(create_us, BIG_POOL_ROUNDS));
	bench_emit("pool_big_delete_us", bench_median(delete_us, BIG_POOL_ROUNDS));
	bench_emit("pool_big_rss_create_kib", created_kib);
	bench_emit("pool_big_rss_first_block_kib", first_block_kib);
}

void bench_run_pool_figures(const struct bench_allocator *allocator)
{
	static const size_t overhead_sizes[] = { 16, 64, 4000 };

	for (size_t i = 0; i < sizeof(overhead_sizes) / sizeof(overhead_sizes[0]); i++)
		emit_overhead(allocator, overhead_sizes[i]);
	if (allocator->create_pool == NULL)
		return;
	emit_fill(allocator, 64, "pool_fill_64");
	emit_fill(allocator, 4000, "pool_fill_4000");
	emit_fill(allocator, 0, "pool_fill_random");
	emit_churn_held(allocator);
	emit_create_delete_rate(allocator);
	emit_big_pool(allocator);
}
