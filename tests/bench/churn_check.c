/*
 * churn_check.c - an independent check of the benchmark's churn ratios.
 *
 * The main benchmark (bench_main.c and friends) is a large program with its
 * own harness; a mistake in it would bend every figure the same way. This
 * one shares none of its code: one process, one workload (1024 live slots,
 * a random slot replaced by a block of a log-uniform random size from 16 to
 * 2047 bytes), glibc malloc and the module loaded through KERNEL_MODULE_PATH
 * alternating pass by pass on the same precomputed sequence, and the ratio
 * of the medians printed. `make bench-churn` runs it for the release and the
 * debug module; the figures go into docs/PERFORMANCE.md beside the main
 * benchmark's.
 *
 *   churn_check [--passes N] [--steps N]
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

#define SLOTS 1024
#define MIN_SIZE 16
#define MAX_SIZE 2047

struct step {
	unsigned slot;
	unsigned size;
};

static area_malloc_module_info *module;
static const void *pool;

static void *pool_malloc(size_t size)
{
	return module->malloc(pool, size);
}

static void pool_free(void *block)
{
	module->free(pool, block);
}

static void glibc_free(void *block)
{
	free(block);
}

static uint64_t xorshift(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* One pass: ns per replacement (a free and a malloc). */
static double run_pass(const struct step *steps, size_t count, void *(*alloc)(size_t),
	void (*release)(void *))
{
	void *slots[SLOTS] = { 0 };
	double start = now_ns();

	for (size_t i = 0; i < count; i++) {
		void **slot = &slots[steps[i].slot];
		if (*slot != NULL)
			release(*slot);
		*slot = alloc(steps[i].size);
		if (*slot == NULL) {
			fprintf(stderr, "churn_check: allocation of %u bytes failed\n",
				steps[i].size);
			exit(EXIT_FAILURE);
		}
		*(volatile char *)*slot = 1;
	}
	double elapsed = now_ns() - start;
	for (size_t i = 0; i < SLOTS; i++)
		if (slots[i] != NULL)
			release(slots[i]);
	return elapsed / (double)count;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *values, size_t count)
{
	qsort(values, count, sizeof(*values), compare_doubles);
	return values[count / 2];
}

static size_t parse_count(const char *text, const char *what)
{
	char *end;
	unsigned long value = strtoul(text, &end, 10);

	if (*text == '\0' || *end != '\0' || value == 0 || value > 100000000) {
		fprintf(stderr, "churn_check: bad %s '%s'\n", what, text);
		exit(2);
	}
	return value;
}

int main(int argc, char **argv)
{
	size_t passes = 7, count = 2000000;
	const char *path = getenv("KERNEL_MODULE_PATH");

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "usage: churn_check [--passes N] [--steps N]\n");
			return 2;
		}
		if (strcmp(argv[i], "--passes") == 0)
			passes = parse_count(argv[i + 1], "pass count");
		else if (strcmp(argv[i], "--steps") == 0)
			count = parse_count(argv[i + 1], "step count");
		else {
			fprintf(stderr, "usage: churn_check [--passes N] [--steps N]\n");
			return 2;
		}
	}
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&module) != B_OK) {
		fprintf(stderr, "churn_check: no %s module (KERNEL_MODULE_PATH=%s)\n",
			B_AREA_MALLOC_MODULE_NAME, path ? path : "");
		return 1;
	}
	pool = module->create_pool(B_ANY_KERNEL_ADDRESS, 64 << 20, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	struct step *steps = malloc(count * sizeof(*steps));
	double *pool_ns = calloc(passes, sizeof(double));
	double *glibc_ns = calloc(passes, sizeof(double));
	if (pool == NULL || steps == NULL || pool_ns == NULL || glibc_ns == NULL) {
		fprintf(stderr, "churn_check: out of memory\n");
		return 1;
	}
	uint64_t state = 0x2545f4914f6cdd1dull;
	for (size_t i = 0; i < count; i++) {
		double u = (double)(xorshift(&state) >> 11) / 9007199254740992.0;
		steps[i].slot = (unsigned)(xorshift(&state) % SLOTS);
		steps[i].size =
			(unsigned)exp(log(MIN_SIZE) + u * (log(MAX_SIZE + 1) - log(MIN_SIZE)));
		if (steps[i].size > MAX_SIZE)
			steps[i].size = MAX_SIZE;
	}
	/* one warm-up pass each, then alternate, the first of each pair alternating */
	run_pass(steps, count / 4, pool_malloc, pool_free);
	run_pass(steps, count / 4, malloc, glibc_free);
	for (size_t p = 0; p < passes; p++) {
		if (p % 2 == 0) {
			pool_ns[p] = run_pass(steps, count, pool_malloc, pool_free);
			glibc_ns[p] = run_pass(steps, count, malloc, glibc_free);
		} else {
			glibc_ns[p] = run_pass(steps, count, malloc, glibc_free);
			pool_ns[p] = run_pass(steps, count, pool_malloc, pool_free);
		}
	}
	double pool_median = median(pool_ns, passes), glibc_median = median(glibc_ns, passes);
	printf("churn_check: %s (KERNEL_MODULE_PATH=%s): pool %.1f ns/op, glibc %.1f ns/op, "
	       "ratio %.2fx (median of %zu alternated passes of %zu steps)\n",
		B_AREA_MALLOC_MODULE_NAME, path ? path : "", pool_median, glibc_median,
		pool_median / glibc_median, passes, count);
	module->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	free(steps);
	free(pool_ns);
	free(glibc_ns);
	return 0;
}
