/*
 * bench_real.c - the report of the real-workload suite (--suite real,
 * issue 18) after its time and ratio tables: throughput of pattern (b) with
 * 1 and 2 threads, the memory table (peak resident set of every column,
 * the debug node's tmpfs use), and the figures of the "Done when",
 * each marked met or NOT MET with its number. "At or below" allows 5 % for
 * noise, as the issue says; "at least" does not.
 *
 * Locking: none; the parent is single-threaded.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bench_parent.h"

#define NOISE 1.05

static const bool *selection;

static bool selected(const char *name)
{
	for (size_t w = 0; w < bench_real_workload_count; w++)
		if (strcmp(bench_real_workloads[w].name, name) == 0)
			return selection == NULL || selection[w];
	return false;
}

/* NAN unless both ran: the ratio of the medians of separate children. */
static double scaling(int column)
{
	if (!selected("thread1") || !selected("thread2"))
		return __builtin_nan("");
	return median_of(column, "thread1", "ns") / median_of(column, "thread2", "ns");
}

/* The same ratio from the passes each thread2 child alternated with
 * thread1 passes (bench_paired_workload): the median over the rounds of
 * each child's median of (one-thread pass / the two-thread pass next to it). */
static double paired_scaling(int column)
{
	return selected("thread2") ? median_of(column, "thread2", "paired_ratio")
				   : __builtin_nan("");
}

static void print_throughput_table(void)
{
	static const char *const headers[] = { "thread1 ns/op", "thread1 Mops/s", "thread2 ns/op",
		"thread2 Mops/s", "2-thread / 1-thread throughput, separate children",
		"2-thread / 1-thread throughput, paired passes", "thread2 CPU ns/op",
		"2-thread / 1-thread CPU per pair" };

	if (!selected("thread1") && !selected("thread2"))
		return;
	printf("\n### (b) bench-malloc-thread: throughput with 1 and 2 threads on one pool\n\n");
	print_header("allocator", headers, sizeof(headers) / sizeof(headers[0]));
	for (int c = 0; c < COLUMN_COUNT; c++) {
		double one = median_of(c, "thread1", "ns"), two = median_of(c, "thread2", "ns");
		double cpu_one = median_of(c, "thread1", "cpu_ns");
		double cpu_two = median_of(c, "thread2", "cpu_ns");

		if (!columns[c].available)
			continue;
		printf("| %s", columns[c].label);
		print_cell(one, " | %.1f");
		print_cell(1000 / one, " | %.1f");
		print_cell(two, " | %.1f");
		print_cell(1000 / two, " | %.1f");
		print_cell(scaling(c), " | %.2f");
		print_cell(paired_scaling(c), " | %.2f");
		print_cell(cpu_two, " | %.1f");
		print_cell(cpu_two / cpu_one, " | %.2f");
		printf(" |\n");
	}
	printf("\nns/op: wall time over all threads' malloc+free pairs (median of the runs); "
	       "Mops/s: millions of pairs per second, all threads together. Perfect scaling on "
	       "two CPUs gives 2.00. Separate children: the thread1 column's median over the "
	       "thread2 column's, each from children started seconds apart. Paired passes: "
	       "each thread2 child also runs thread1 passes on the same allocator, alternated "
	       "with its own, and takes the median of each one-thread pass's time over the "
	       "two-thread pass's next to it; the figure is the median of those over the "
	       "rounds. CPU ns/op: each thread's own CPU time "
	       "(CLOCK_THREAD_CPUTIME_ID) per pair; 2-thread / 1-thread CPU per pair near 1.00 "
	       "means the threads do not slow each other down (locks, shared lines), and the "
	       "throughput ratio is then what the machine gives two threads at once: on a guest "
	       "whose CPUs the host also runs other work on, the first moves less than the "
	       "second.\n");
}

static double mib(int column, const char *workload, const char *key)
{
	return median_of(column, workload, key) / 1024;
}

static void print_memory_table(void)
{
	const char *headers[COLUMN_COUNT + 2];
	size_t count = 0;
	bool not_reset = false;

	for (int c = 0; c < COLUMN_COUNT; c++)
		if (columns[c].available)
			headers[count++] = columns[c].label;
	headers[count++] = "debug node tmpfs";
	headers[count++] = "debug RSS + node tmpfs";
	printf("\n### Memory (MiB): peak resident set during the allocator's passes; the debug "
	       "node's tmpfs use at the end\n\n");
	print_header("workload", headers, count);
	for (size_t w = 0; w < bench_real_workload_count; w++) {
		const char *name = bench_real_workloads[w].name;

		if (!selected(name))
			continue;
		printf("| %s", name);
		for (int c = 0; c < COLUMN_COUNT; c++) {
			if (!columns[c].available)
				continue;
			print_cell(mib(c, name, "rss_kib"), " | %.1f");
			not_reset |= known(median_of(c, name, "rss_not_reset"));
		}
		print_cell(mib(COL_DEBUG, name, "node_kib"), " | %.1f");
		print_cell(mib(COL_DEBUG, name, "rss_kib") + mib(COL_DEBUG, name, "node_kib"),
			" | %.1f");
		printf(" |\n");
	}
	printf("\nResident set: VmHWM of the child process (/proc/self/status), reset "
	       "(/proc/self/clear_refs) before each pass of the allocator under test and read "
	       "after it; the largest over its passes, median over the runs. It includes the "
	       "program, its libraries and what the child's glibc reference passes left "
	       "resident; for glibc+asan, ASan's shadow and quarantine. Node tmpfs: the blocks "
	       "of the files under NODE_DIR/PID/ after the last pass, before delete_pool. "
	       "Pages of a node file the process has mapped and touched count in both.\n");
	if (not_reset)
		printf("\nWARNING: /proc/self/clear_refs could not reset VmHWM in some children: "
		       "their resident sets are the peak of the whole child.\n");
}

/* One workload's figure and its bound: ratios to glibc, or times. */
typedef double (*value_of)(const char *workload);

/* Lists the selected workloads whose value is above bound * NOISE; false
 * when a value or a bound was not measured. */
static bool list_above(value_of value, value_of bound, const char *format, char *text, size_t size)
{
	text[0] = '\0';
	for (size_t w = 0; w < bench_real_workload_count; w++) {
		const char *name = bench_real_workloads[w].name;
		double mine = value(name), limit = bound(name);

		if (!selected(name))
			continue;
		if (!known(mine) || !known(limit))
			return false;
		if (mine > limit * NOISE) {
			snprintf(text + strlen(text), size - strlen(text), "%s %s ",
				text[0] ? ";" : "", name);
			snprintf(text + strlen(text), size - strlen(text), format, mine, limit);
		}
	}
	return true;
}

static double release_ratio(const char *workload)
{
	return ratio_of(COL_RELEASE, workload);
}

static double release_limit(const char *workload)
{
	double jemalloc = ratio_of(COL_JEMALLOC, workload);

	return columns[COL_JEMALLOC].available && known(jemalloc) && jemalloc > 1.2 ? jemalloc
										    : 1.2;
}

static double debug_ns(const char *workload)
{
	return median_of(COL_DEBUG, workload, "ns");
}

static double asan_ns(const char *workload)
{
	return median_of(COL_ASAN, workload, "ns");
}

static void print_real_figures(void)
{
	char above[1024];
	double value, limit, asan;
	bool measured;

	printf("\n### Figures of issue 18 (\"at or below\" allows 5 %% for noise)\n\n");
	value = geometric_mean_ratio(COL_RELEASE, bench_real_workloads, bench_real_workload_count,
		selection);
	figure(known(value), value <= 0.9 * NOISE,
		"release geometric mean at or below 0.9x glibc: %.2fx", value);
	measured = list_above(release_ratio, release_limit, "%.2fx (limit %.2fx)", above,
		sizeof(above));
	figure(measured, above[0] == '\0',
		"release: no workload above 1.2x glibc or above jemalloc's ratio, whichever is "
		"higher:%s",
		above[0] ? above : " none above");
	value = paired_scaling(COL_RELEASE);
	figure(known(value), value >= 1.8,
		"release, (b) with 2 threads on one pool: throughput at least 1.8x the 1-thread "
		"throughput: %.2fx in paired passes (glibc %.2fx, mimalloc %.2fx); %.2fx from "
		"separate children (%.1f vs %.1f Mops/s); each thread's CPU per pair %.2fx one "
		"thread's, glibc's %.2fx",
		value, paired_scaling(COL_GLIBC), paired_scaling(COL_MIMALLOC),
		scaling(COL_RELEASE), 1000 / median_of(COL_RELEASE, "thread2", "ns"),
		1000 / median_of(COL_RELEASE, "thread1", "ns"),
		median_of(COL_RELEASE, "thread2", "cpu_ns")
			/ median_of(COL_RELEASE, "thread1", "cpu_ns"),
		median_of(COL_GLIBC, "thread2", "cpu_ns")
			/ median_of(COL_GLIBC, "thread1", "cpu_ns"));
	value = selected("simple16") ? ratio_of(COL_RELEASE, "simple16") : __builtin_nan("");
	figure(known(value), value <= NOISE,
		"release, (a) at 16 bytes at or below glibc's time: %.2fx (%.1f vs %.1f ns)", value,
		median_of(COL_RELEASE, "simple16", "ns"),
		median_of(COL_RELEASE, "simple16", "glibc_ns"));
	measured =
		list_above(debug_ns, asan_ns, "%.1f ns (glibc+asan %.1f ns)", above, sizeof(above));
	figure(measured, above[0] == '\0',
		"debug at or below glibc+asan's time on every workload, 1 and 2 threads:%s",
		above[0] ? above : " on every workload");
	value = geometric_mean_ratio(COL_DEBUG, bench_real_workloads, bench_real_workload_count,
		selection);
	asan = geometric_mean_ratio(COL_ASAN, bench_real_workloads, bench_real_workload_count,
		selection);
	figure(known(value) && known(asan), value <= 0.5 * asan * NOISE,
		"debug geometric mean at or below 0.5x glibc+asan's: %.2fx against %.2fx (%.2f of "
		"it)",
		value, asan, value / asan);
	/* issue 15: the sampling on by default must stay cheap; a cost that
	 * small is taken round by round (paired_ratio) */
	value = geometric_mean_paired(COL_DEBUG, COL_DEBUG_NOGUARD, bench_real_workloads,
		bench_real_workload_count, selection);
	figure(known(value), value <= 1.02,
		"debug: the default guard sampling (one allocation in 5000) costs under 2 %% "
		"(geometric mean over the workloads of the median per-round ratio to debug "
		"noguard, guard_sample=0): %+.1f%%",
		100 * (value - 1));
	value = selected("large")
		? mib(COL_DEBUG, "large", "rss_kib") + mib(COL_DEBUG, "large", "node_kib")
		: __builtin_nan("");
	limit = 2 * mib(COL_GLIBC, "large", "rss_kib");
	figure(known(value) && known(limit), value <= limit * NOISE,
		"debug RSS plus node tmpfs within 2x glibc's RSS on (f): %.1f MiB (RSS %.1f + "
		"tmpfs %.1f) against 2 x %.1f MiB",
		value, mib(COL_DEBUG, "large", "rss_kib"), mib(COL_DEBUG, "large", "node_kib"),
		limit / 2);
}

void print_real_report(const bool *selected_workloads)
{
	selection = selected_workloads;
	print_throughput_table();
	print_memory_table();
	print_real_figures();
	print_figure_totals();
}
