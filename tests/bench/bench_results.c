/*
 * bench_results.c - the parent's columns and what their children printed:
 * every "key value" line is kept per (column, workload, key), one value
 * per run, and read back as a median, a maximum or a ratio to glibc; and
 * the pieces every table and figure line is printed with.
 *
 * Locking: none; the parent is single-threaded.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_parent.h"

struct column columns[COLUMN_COUNT] = {
	[COL_RELEASE] = { "release", "release module (modules/release)", "module", "release", NULL,
		false, false, NULL, false },
	[COL_DEBUG] = { "debug", "debug module, default options (one allocation in 5000 guarded)",
		"module", "debug", "", false, false, NULL, false },
	[COL_DEBUG_NODE0] = { "debug n0", "debug module, node=0 (no debug node)", "module", "debug",
		"node=0", false, false, NULL, false },
	[COL_DEBUG_LQ0] = { "debug lq0", "debug module, log_size=0:quarantine_bytes=0", "module",
		"debug", "log_size=0:quarantine_bytes=0", false, false, NULL, false },
	[COL_DEBUG_LQ0_NODE0] = { "debug lq0 n0",
		"debug module, log_size=0:quarantine_bytes=0:node=0", "module", "debug",
		"log_size=0:quarantine_bytes=0:node=0", false, false, NULL, false },
	[COL_DEBUG_NOFP] = { "debug nofp",
		"debug module, default options (stack_depth=16), "
		"workloads built without frame pointers (bench_nofp): stacks from the unwind "
		"tables",
		"module", "debug", "", false, false, NULL, true },
	[COL_DEBUG_D1] = { "debug d1", "debug module, stack_depth=1 (the default before issue 14)",
		"module", "debug", "stack_depth=1", false, false, NULL, false },
	[COL_DEBUG_GUARD] = { "debug guard",
		"debug module, guard=1 (every block meets a guard page: Special Pool)", "module",
		"debug", "guard=1", false, false, NULL, false },
	[COL_DEBUG_NOGUARD] = { "debug noguard",
		"debug module, guard_sample=0 (no guarded block: the default samples one allocation "
		"in 5000)",
		"module", "debug", "guard_sample=0", false, false, NULL, false },
	[COL_GLIBC] = { "glibc", "glibc malloc", "glibc", NULL, NULL, false, false, NULL, false },
	[COL_JEMALLOC] = { "jemalloc", "jemalloc (libjemalloc.so.2, dlopen RTLD_LOCAL)", "jemalloc",
		NULL, NULL, false, false, NULL, false },
	[COL_MIMALLOC] = { "mimalloc", "mimalloc (libmimalloc.so.2, dlopen RTLD_LOCAL)", "mimalloc",
		NULL, NULL, false, false, NULL, false },
	[COL_ASAN] = { "glibc+asan", "glibc malloc in a binary built with -fsanitize=address",
		"glibc", NULL, NULL, true, false, NULL, false },
};

struct measurement {
	int column;
	char workload[16];
	char key[40];
	double values[MAX_ROUNDS];
	int count;
};

static struct measurement *measurements;
static size_t measurement_count, measurement_capacity;

static struct measurement *find_measurement(int column, const char *workload, const char *key,
	bool create)
{
	for (size_t i = 0; i < measurement_count; i++) {
		struct measurement *m = &measurements[i];

		if (m->column == column && strcmp(m->workload, workload) == 0
			&& strcmp(m->key, key) == 0)
			return m;
	}
	if (!create)
		return NULL;
	if (measurement_count == measurement_capacity) {
		measurement_capacity = measurement_capacity ? 2 * measurement_capacity : 256;
		measurements = realloc(measurements, measurement_capacity * sizeof(*measurements));
		if (measurements == NULL) {
			perror("bench");
			exit(EXIT_FAILURE);
		}
	}
	struct measurement *m = &measurements[measurement_count++];
	memset(m, 0, sizeof(*m));
	m->column = column;
	snprintf(m->workload, sizeof(m->workload), "%s", workload);
	snprintf(m->key, sizeof(m->key), "%s", key);
	return m;
}

void add_value(int column, const char *workload, const char *key, double value)
{
	struct measurement *m = find_measurement(column, workload, key, true);

	if (m->count < MAX_ROUNDS)
		m->values[m->count++] = value;
}

double median_of(int column, const char *workload, const char *key)
{
	struct measurement *m = find_measurement(column, workload, key, false);
	double copy[MAX_ROUNDS];

	if (m == NULL || m->count == 0)
		return __builtin_nan("");
	memcpy(copy, m->values, (size_t)m->count * sizeof(double));
	return bench_median(copy, (size_t)m->count);
}

double paired_ratio(int column, int baseline, const char *workload)
{
	const struct measurement *a = find_measurement(column, workload, "ns", false);
	const struct measurement *b = find_measurement(baseline, workload, "ns", false);
	double ratios[MAX_ROUNDS];
	size_t count = 0;

	for (int r = 0; a != NULL && b != NULL && r < a->count && r < b->count; r++)
		if (b->values[r] > 0)
			ratios[count++] = a->values[r] / b->values[r];
	return count > 0 ? bench_median(ratios, count) : __builtin_nan("");
}

double max_of(int column, const char *workload, const char *key)
{
	struct measurement *m = find_measurement(column, workload, key, false);
	double max = __builtin_nan("");

	for (int i = 0; m != NULL && i < m->count; i++)
		if (i == 0 || m->values[i] > max)
			max = m->values[i];
	return max;
}

void print_cell(double value, const char *format)
{
	if (value != value)
		printf(" | -");
	else
		printf(format, value);
}

void print_header(const char *first, const char *const *rest, size_t count)
{
	printf("| %s", first);
	for (size_t i = 0; i < count; i++)
		printf(" | %s", rest[i]);
	printf(" |\n|---");
	for (size_t i = 0; i < count; i++)
		printf("|---:");
	printf("|\n");
}

void print_column_header(const char *first)
{
	const char *labels[COLUMN_COUNT];
	size_t count = 0;

	for (int c = 0; c < COLUMN_COUNT; c++)
		if (columns[c].available)
			labels[count++] = columns[c].label;
	print_header(first, labels, count);
}

double ratio_of(int column, const char *workload)
{
	if (column == COL_GLIBC)
		return columns[COL_GLIBC].available ? 1.0 : __builtin_nan("");
	if (columns[column].asan)
		return median_of(column, workload, "ns") / median_of(COL_GLIBC, workload, "ns");
	return median_of(column, workload, "ratio");
}

void compute_ratios(void)
{
	/* add_value may move measurements[] (realloc): the ratios are taken
	 * first, from a copy, and added after */
	for (size_t i = 0; i < measurement_count; i++) {
		struct measurement ns = measurements[i];
		const struct measurement *glibc;
		double ratios[MAX_ROUNDS];
		int count = 0;

		if (strcmp(ns.key, "ns") != 0)
			continue;
		glibc = find_measurement(ns.column, ns.workload, "glibc_ns", false);
		for (int r = 0; glibc != NULL && r < ns.count && r < glibc->count; r++)
			ratios[count++] = ns.values[r] / glibc->values[r];
		for (int r = 0; r < count; r++)
			add_value(ns.column, ns.workload, "ratio", ratios[r]);
	}
}

void load_average(char *text, size_t size)
{
	FILE *loadavg = fopen("/proc/loadavg", "r");

	if (loadavg == NULL || fgets(text, (int)size, loadavg) == NULL)
		snprintf(text, size, "unknown");
	text[strcspn(text, "\n")] = '\0';
	if (loadavg != NULL)
		fclose(loadavg);
}

static int figures_met, figures_missed;

void figure(bool measured, bool met, const char *format, ...)
{
	va_list arguments;

	printf("- %s: ", !measured ? "not measured" : met ? "met" : "NOT MET");
	va_start(arguments, format);
	vprintf(format, arguments);
	va_end(arguments);
	printf("\n");
	if (measured && met)
		figures_met++;
	else
		figures_missed++;
}

bool known(double value)
{
	return value == value;
}

void print_figure_totals(void)
{
	char load[128];

	printf("\n%d figure(s) met, %d not met or not measured.\n", figures_met, figures_missed);
	load_average(load, sizeof(load));
	printf("/proc/loadavg at the end: %s.\n", load);
}

/* baseline: a column to pair with round by round (paired_ratio), or -1 for
 * the ratio to glibc in the same process (ratio_of). */
static double geometric_mean_over(int column, int baseline,
	const struct bench_timed_workload *workloads, size_t count, const bool *selected)
{
	double log_sum = 0;
	size_t used = 0;

	for (size_t w = 0; w < count; w++) {
		double ratio;

		if (selected != NULL && !selected[w])
			continue;
		ratio = baseline < 0 ? ratio_of(column, workloads[w].name)
				     : paired_ratio(column, baseline, workloads[w].name);
		if (!known(ratio) || ratio <= 0)
			return __builtin_nan("");
		log_sum += log(ratio);
		used++;
	}
	return used > 0 ? exp(log_sum / (double)used) : __builtin_nan("");
}

double geometric_mean_ratio(int column, const struct bench_timed_workload *workloads, size_t count,
	const bool *selected)
{
	return geometric_mean_over(column, -1, workloads, count, selected);
}

double geometric_mean_paired(int column, int baseline, const struct bench_timed_workload *workloads,
	size_t count, const bool *selected)
{
	return geometric_mean_over(column, baseline, workloads, count, selected);
}
