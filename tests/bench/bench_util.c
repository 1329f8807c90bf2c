/*
 * bench_util.c - the benchmark's clocks, statistics, random numbers, scale,
 * memory readings and result lines.
 *
 * Two clocks: CLOCK_MONOTONIC for passes (milliseconds long), and the time
 * stamp counter for single calls (tens of nanoseconds), fenced so that the
 * measured call cannot move across the reads, and converted to nanoseconds
 * with a ratio calibrated against CLOCK_MONOTONIC. The benchmark expects an
 * invariant TSC (constant_tsc, nonstop_tsc), which bench_tsc_calibrate
 * cannot check; it measures the ratio, so a drifting TSC shows up as an
 * implausible one.
 *
 * Locking: bench_tsc_calibrate runs before any thread; the rest keeps no
 * shared state (bench_emit writes whole lines with one stdio call).
 */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench.h"

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint64_t bench_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t bench_thread_cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

double bench_last_pass_cpu_ns = __builtin_nan("");

static double ns_per_tick;

uint64_t bench_tsc_begin(void)
{
	uint64_t ticks;

	_mm_lfence();
	ticks = __rdtsc();
	_mm_lfence();
	return ticks;
}

uint64_t bench_tsc_end(void)
{
	unsigned int aux;
	uint64_t ticks = __rdtscp(&aux);

	_mm_lfence();
	return ticks;
}

void bench_tsc_calibrate(void)
{
	uint64_t start_ns = bench_now_ns();
	uint64_t start_ticks = bench_tsc_begin();
	uint64_t end_ns;

	do
		end_ns = bench_now_ns();
	while (end_ns - start_ns < 50000000u);
	ns_per_tick = (double)(end_ns - start_ns) / (double)(bench_tsc_end() - start_ticks);
}

double bench_tsc_ns_per_tick(void)
{
	return ns_per_tick;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *values, size_t count)
{
	if (count == 0)
		return 0;
	qsort(values, count, sizeof(*values), compare_doubles);
	if (count % 2 == 1)
		return values[count / 2];
	return (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* A radix sort: a latency sample holds millions of values. */
void bench_sort_u32(uint32_t *values, size_t count)
{
	uint32_t *scratch = malloc(count * sizeof(*scratch));
	uint32_t *from = values, *to = scratch;

	if (scratch == NULL) {
		perror("bench: sort");
		exit(EXIT_FAILURE);
	}
	for (unsigned shift = 0; shift < 32; shift += 8) {
		size_t offsets[257] = { 0 };

		for (size_t i = 0; i < count; i++)
			offsets[((from[i] >> shift) & 0xff) + 1]++;
		for (int digit = 0; digit < 256; digit++)
			offsets[digit + 1] += offsets[digit];
		for (size_t i = 0; i < count; i++)
			to[offsets[(from[i] >> shift) & 0xff]++] = from[i];
		uint32_t *swap = from;
		from = to;
		to = swap;
	}
	/* four passes: the sorted values are back in 'values' */
	free(scratch);
}

/* Nearest-rank percentile: the smallest value with at least fraction of the
 * sample at or below it. */
uint32_t bench_percentile_u32(uint32_t *sorted, size_t count, double fraction)
{
	size_t rank;

	if (count == 0)
		return 0;
	rank = (size_t)(fraction * (double)count + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > count)
		rank = count;
	return sorted[rank - 1];
}

uint64_t bench_rng_next(struct bench_rng *rng)
{
	rng->state ^= rng->state >> 12;
	rng->state ^= rng->state << 25;
	rng->state ^= rng->state >> 27;
	return rng->state * 0x2545F4914F6CDD1DULL;
}

size_t bench_log_uniform(struct bench_rng *rng, unsigned low_log2, unsigned high_log2)
{
	unsigned octave = low_log2 + (unsigned)(bench_rng_next(rng) % (high_log2 - low_log2));

	return ((size_t)1 << octave) + bench_rng_next(rng) % ((size_t)1 << octave);
}

uint16_t bench_random_size(struct bench_rng *rng)
{
	return (uint16_t)bench_log_uniform(rng, 4, 11);
}

double bench_scale = 1.0;

size_t bench_scaled(size_t count)
{
	size_t scaled = (size_t)((double)count * bench_scale);

	return scaled > 0 ? scaled : 1;
}

bool bench_peak_rss_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	bool done = fd >= 0 && write(fd, "5", 1) == 1;

	if (fd >= 0)
		close(fd);
	return done;
}

/* NAN when the field is missing. */
double bench_status_kib(const char *field)
{
	FILE *status = fopen("/proc/self/status", "r");
	size_t length = strlen(field);
	double kib = __builtin_nan("");
	char line[256];

	while (status != NULL && fgets(line, sizeof(line), status) != NULL) {
		if (strncmp(line, field, length) == 0 && line[length] == ':') {
			kib = strtod(line + length + 1, NULL);
			break;
		}
	}
	if (status != NULL)
		fclose(status);
	return kib;
}

static double node_bytes;

static int add_node_file(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F)
		node_bytes += 512.0 * (double)status->st_blocks;
	return 0;
}

double bench_node_kib(void)
{
	const char *options = getenv("AREA_MALLOC_OPTIONS");
	const char *option = options != NULL ? strstr(options, "node_dir=") : NULL;
	char directory[4096];

	if (option != NULL) {
		option += strlen("node_dir=");
		snprintf(directory, sizeof(directory), "%.*s/%ld", (int)strcspn(option, ":"),
			option, (long)getpid());
	} else {
		snprintf(directory, sizeof(directory), "/dev/shm/area_malloc-%ld/%ld",
			(long)geteuid(), (long)getpid());
	}
	node_bytes = 0;
	if (nftw(directory, add_node_file, 8, FTW_PHYS) != 0)
		return -1;
	return node_bytes / 1024;
}

void bench_emit(const char *key, double value)
{
	printf("%s %.6g\n", key, value);
}
