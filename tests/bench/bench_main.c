/*
 * bench_main.c - the benchmark of issue 5: one program, one table; with
 * --suite real, the real-workload suite of issue 18 (bench_real.c prints
 * its tables and figures).
 *
 * The parent starts one child process per measurement (a column, i.e. an
 * allocator with its settings, and a workload) and never allocates for the
 * measurements itself. Separate processes because the release and debug
 * builds are both "generic/area_malloc/v1" (one process can load only one
 * of them through get_module), because the debug module reads its options
 * once per process, and because ASan needs its own binary (bench_asan, the
 * same sources built with -fsanitize=address). The workloads are built
 * with frame pointers (a driver built so), and again without them
 * (bench_nofp: a driver as Debian builds it at -O2) for the column that
 * measures the debug module's stacks taken from the unwind tables. Each child (the same binary,
 * "--child KIND WORKLOAD PASSES SCALE") measures its allocator and glibc malloc in
 * alternated passes in the same process and prints "key value" lines:
 * the median times, the peak resident size during its allocator's passes
 * and, for the debug module, the tmpfs use of its node at the end.
 *
 * Runs alternate: round r runs every workload once for every column, the
 * columns in an order rotated each time, so slow drifts of the machine
 * spread over all columns. A cell is the median over the rounds; its ratio
 * is the median over the rounds of (allocator / glibc in that child). The
 * ASan column's ratio divides by the glibc column's median (its own
 * process's glibc is ASan's).
 *
 * Output: Markdown tables on stdout (progress on stderr), then the figures
 * of the issue, each marked met or NOT MET with its number, and the
 * reachability scan's times (issue 16; the "scan" child of the debug
 * column, bench_scan.c).
 *
 * Locking: single-threaded parent; children are waited for one at a time.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_parent.h"

#define DEFAULT_ROUNDS 5
#define DEFAULT_PASSES 3
#define LATENCY_ROUNDS 3
#define CHILD_TIMEOUT_SECONDS 120
#define JEMALLOC_TUNABLE "glibc.rtld.optional_static_tls=65536"

/* ---- child ---- */

/*
 * One pass. peak_kib: NULL for glibc's passes beside the allocator under
 * test; otherwise raised to the process's peak resident size during the
 * pass (VmHWM, reset before it so that the glibc passes do not count).
 * *peak_reset_failed is set when the reset could not be made (VmHWM is
 * then the peak of the whole process).
 */
static void run_pass(const struct bench_timed_workload *workload,
	const struct bench_allocator *allocator, void *prepared, double *ns, int pass,
	double *peak_kib, bool *peak_reset_failed)
{
	double peak;

	if (peak_kib != NULL && !bench_peak_rss_reset())
		*peak_reset_failed = true;
	bench_last_pass_cpu_ns = __builtin_nan("");
	ns[pass] = workload->run_pass(allocator, prepared);
	if (peak_kib != NULL && (peak = bench_status_kib("VmHWM")) > *peak_kib)
		*peak_kib = peak;
}

static int run_child(const char *kind_name, const char *workload_name, int passes)
{
	enum bench_allocator_kind kind;
	struct bench_allocator allocator;
	const struct bench_timed_workload *workload;

	/* a child that hangs must not hang make bench; profilers need longer */
	alarm(getenv("AREA_MALLOC_BENCH_TIMEOUT") != NULL
			? (unsigned)strtoul(getenv("AREA_MALLOC_BENCH_TIMEOUT"), NULL, 10)
			: CHILD_TIMEOUT_SECONDS);
	if (!bench_kind_from_name(kind_name, &kind)) {
		fprintf(stderr, "bench: unknown allocator kind '%s'\n", kind_name);
		return EXIT_FAILURE;
	}
	workload = bench_find_timed_workload(workload_name);
	if (workload == NULL && strcmp(workload_name, "probe") != 0
		&& strcmp(workload_name, "latency") != 0 && strcmp(workload_name, "pools") != 0
		&& strcmp(workload_name, "scan") != 0) {
		fprintf(stderr, "bench: unknown workload '%s'\n", workload_name);
		return EXIT_FAILURE;
	}
	if (!bench_allocator_open(kind, &allocator))
		return BENCH_EXIT_UNAVAILABLE;
	if (strcmp(workload_name, "probe") == 0) {
		bench_emit("available", 1);
	} else if (strcmp(workload_name, "latency") == 0) {
		bench_run_latency(&allocator);
	} else if (strcmp(workload_name, "pools") == 0) {
		bench_run_pool_figures(&allocator);
	} else if (strcmp(workload_name, "scan") == 0) {
		bench_run_scan_figures(&allocator);
	} else {
		const struct bench_allocator *glibc = bench_glibc();
		const struct bench_timed_workload *paired = bench_paired_workload(workload);
		bool compare = kind != BENCH_GLIBC;
		double ns[MAX_ROUNDS], glibc_ns[MAX_ROUNDS], cpu_ns[MAX_ROUNDS], peak_kib = 0,
										 node_kib;
		double paired_ns[MAX_ROUNDS], paired_ratio[MAX_ROUNDS];
		bool reset_failed = false;
		void *mine = workload->prepare(&allocator);
		void *reference = compare ? workload->prepare(glibc) : NULL;
		void *mine_paired = paired != NULL ? paired->prepare(&allocator) : NULL;

		/* a warm-up pass each, then passes alternating which goes first */
		run_pass(workload, &allocator, mine, ns, 0, &peak_kib, &reset_failed);
		if (compare)
			run_pass(workload, glibc, reference, glibc_ns, 0, NULL, NULL);
		if (paired != NULL)
			run_pass(paired, &allocator, mine_paired, paired_ns, 0, NULL, NULL);
		for (int pass = 0; pass < passes; pass++) {
			if (compare && pass % 2 == 0)
				run_pass(workload, glibc, reference, glibc_ns, pass, NULL, NULL);
			if (paired != NULL && pass % 2 == 0)
				run_pass(paired, &allocator, mine_paired, paired_ns, pass, NULL,
					NULL);
			run_pass(workload, &allocator, mine, ns, pass, &peak_kib, &reset_failed);
			cpu_ns[pass] = bench_last_pass_cpu_ns;
			if (paired != NULL && pass % 2 == 1)
				run_pass(paired, &allocator, mine_paired, paired_ns, pass, NULL,
					NULL);
			if (compare && pass % 2 == 1)
				run_pass(workload, glibc, reference, glibc_ns, pass, NULL, NULL);
			if (paired != NULL)
				paired_ratio[pass] = paired_ns[pass] / ns[pass];
		}
		bench_emit("ns", bench_median(ns, (size_t)passes));
		if (paired != NULL) {
			/* the ratios' median, not the medians' ratio: each ratio is
			 * of two passes run back to back */
			bench_emit("paired_ns", bench_median(paired_ns, (size_t)passes));
			bench_emit("paired_ratio", bench_median(paired_ratio, (size_t)passes));
			paired->finish(&allocator, mine_paired);
		}
		/* threaded workloads: each thread's CPU time per operation */
		if (!__builtin_isnan(cpu_ns[0]))
			bench_emit("cpu_ns", bench_median(cpu_ns, (size_t)passes));
		bench_emit("rss_kib", peak_kib);
		if (reset_failed)
			bench_emit("rss_not_reset", 1);
		/* the node as the run leaves it, its pools not deleted yet */
		node_kib = bench_node_kib();
		if (node_kib >= 0)
			bench_emit("node_kib", node_kib);
		if (compare) {
			bench_emit("glibc_ns", bench_median(glibc_ns, (size_t)passes));
			workload->finish(glibc, reference);
		}
		workload->finish(&allocator, mine);
	}
	fflush(stdout);
	bench_allocator_close(kind);
	return EXIT_SUCCESS;
}

/* ---- parent: running children ---- */

static struct {
	char self[PATH_MAX];
	char asan_binary[PATH_MAX];
	char nofp_binary[PATH_MAX];
	char builddir[PATH_MAX];
	char node_dir[PATH_MAX];
	int rounds;
	int passes;
	char scale[32];                               /* --scale, passed on to each child */
	bool real;                                    /* --suite real: the suite of issue 18 */
	const struct bench_timed_workload *workloads; /* the suite's */
	size_t workload_count;
	bool selected_workloads[32];
	bool any_workload_selected;
	bool latency, pools;
	bool scan; /* the reachability scan's figures (debug column) */
} config;

static void set_child_environment(const struct column *column)
{
	char path[PATH_MAX + 64];

	if (column->module_dir != NULL) {
		snprintf(path, sizeof(path), "%s/modules/%s", config.builddir, column->module_dir);
		setenv("KERNEL_MODULE_PATH", path, 1);
	}
	if (column->options != NULL) {
		char options[PATH_MAX + 128];

		snprintf(options, sizeof(options), "%s%snode_dir=%s", column->options,
			column->options[0] ? ":" : "", config.node_dir);
		setenv("AREA_MALLOC_OPTIONS", options, 1);
	} else {
		unsetenv("AREA_MALLOC_OPTIONS");
	}
	if (strcmp(column->kind, "jemalloc") == 0) {
		const char *tunables = getenv("GLIBC_TUNABLES");
		char value[1024];

		snprintf(value, sizeof(value), "%s%s%s", tunables ? tunables : "",
			tunables ? ":" : "", JEMALLOC_TUNABLE);
		setenv("GLIBC_TUNABLES", value, 1);
	}
}

/* Runs one child; stores its lines under (column, workload). Returns its
 * exit status (BENCH_EXIT_UNAVAILABLE, 0, or a failure). */
static int run_measurement(int column_index, const char *workload)
{
	const struct column *column = &columns[column_index];
	char passes[16], line[256];
	int pipe_fds[2], status;
	FILE *output;
	pid_t pid;

	snprintf(passes, sizeof(passes), "%d", config.passes);
	fflush(NULL);
	if (pipe(pipe_fds) != 0 || (pid = fork()) < 0) {
		perror("bench: starting a child");
		exit(EXIT_FAILURE);
	}
	if (pid == 0) {
		const char *binary = column->asan ? config.asan_binary
			: column->nofp            ? config.nofp_binary
						  : config.self;

		close(pipe_fds[0]);
		dup2(pipe_fds[1], STDOUT_FILENO);
		close(pipe_fds[1]);
		set_child_environment(column);
		execl(binary, binary, "--child", column->kind, workload, passes, config.scale,
			(char *)NULL);
		fprintf(stderr, "bench: cannot run %s: %s\n", binary, strerror(errno));
		_exit(126);
	}
	close(pipe_fds[1]);
	output = fdopen(pipe_fds[0], "r");
	if (output == NULL) {
		perror("bench: fdopen");
		exit(EXIT_FAILURE);
	}
	while (fgets(line, sizeof(line), output) != NULL) {
		char key[64];
		double value;

		if (sscanf(line, "%63s %lf", key, &value) == 2)
			add_value(column_index, workload, key, value);
	}
	fclose(output);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		status = WEXITSTATUS(status);
	else {
		fprintf(stderr, "bench: %s/%s: child killed by signal %d\n", column->label,
			workload, WTERMSIG(status));
		status = 128 + WTERMSIG(status);
	}
	if (status != 0 && status != BENCH_EXIT_UNAVAILABLE)
		fprintf(stderr, "bench: %s/%s: child exited with status %d (cell left out)\n",
			column->label, workload, status);
	return status;
}

/* selected: NULL for every column. */
static void probe_columns(const bool *selected)
{
	for (int c = 0; c < COLUMN_COUNT; c++) {
		if (selected != NULL && !selected[c]) {
			columns[c].left_out_because = "not selected";
			continue;
		}
		if ((columns[c].asan && access(config.asan_binary, X_OK) != 0)
			|| (columns[c].nofp && access(config.nofp_binary, X_OK) != 0)) {
			fprintf(stderr, "bench: %s: %s not built; column left out\n",
				columns[c].label,
				columns[c].asan ? config.asan_binary : config.nofp_binary);
			columns[c].left_out_because = "not built";
			continue;
		}
		columns[c].available = run_measurement(c, "probe") == 0;
		if (!columns[c].available) {
			fprintf(stderr, "bench: %s unavailable; column left out\n",
				columns[c].label);
			columns[c].left_out_because = "not available here";
		}
	}
}

static bool workload_selected(size_t index)
{
	return !config.any_workload_selected || config.selected_workloads[index];
}

static bool any_timed_workload_selected(void)
{
	for (size_t w = 0; w < config.workload_count; w++)
		if (workload_selected(w))
			return true;
	return false;
}

static void run_all(void)
{
	for (int round = 0; round < config.rounds; round++) {
		for (size_t w = 0; w < config.workload_count; w++) {
			if (!workload_selected(w))
				continue;
			fprintf(stderr, "bench: round %d/%d: %s\n", round + 1, config.rounds,
				config.workloads[w].name);
			for (int i = 0; i < COLUMN_COUNT; i++) {
				int c = (i + round + (int)w) % COLUMN_COUNT;

				if (columns[c].available)
					run_measurement(c, config.workloads[w].name);
			}
		}
	}
	for (int round = 0; config.latency && round < LATENCY_ROUNDS; round++) {
		fprintf(stderr, "bench: round %d/%d: latency\n", round + 1, LATENCY_ROUNDS);
		for (int i = 0; i < COLUMN_COUNT; i++) {
			int c = (i + round) % COLUMN_COUNT;

			if (columns[c].available)
				run_measurement(c, "latency");
		}
	}
	if (config.pools) {
		fprintf(stderr, "bench: pools\n");
		for (int c = 0; c < COLUMN_COUNT; c++)
			if (columns[c].available)
				run_measurement(c, "pools");
	}
	if (config.scan && columns[COL_DEBUG].available) {
		fprintf(stderr, "bench: scan\n");
		run_measurement(COL_DEBUG, "scan");
	}
}

/* ---- parent: the tables ---- */

static void print_timed_tables(void)
{
	printf("\n### Time per operation (ns; one operation = one malloc + one free; "
	       "median of %d runs)\n\n",
		config.rounds);
	print_column_header("workload");
	for (size_t w = 0; w < config.workload_count; w++) {
		if (!workload_selected(w))
			continue;
		printf("| %s", config.workloads[w].name);
		for (int c = 0; c < COLUMN_COUNT; c++)
			if (columns[c].available)
				print_cell(median_of(c, config.workloads[w].name, "ns"), " | %.1f");
		printf(" |\n");
	}
	printf("\n### Ratio to glibc malloc measured in the same process (median of %d runs)\n\n",
		config.rounds);
	print_column_header("workload");
	for (size_t w = 0; w < config.workload_count; w++) {
		if (!workload_selected(w))
			continue;
		printf("| %s", config.workloads[w].name);
		for (int c = 0; c < COLUMN_COUNT; c++)
			if (columns[c].available)
				print_cell(ratio_of(c, config.workloads[w].name), " | %.2fx");
		printf(" |\n");
	}
	printf("| geometric mean");
	for (int c = 0; c < COLUMN_COUNT; c++)
		if (columns[c].available)
			print_cell(geometric_mean_ratio(c, config.workloads, config.workload_count,
					   config.any_workload_selected ? config.selected_workloads
									: NULL),
				" | %.2fx");
	printf(" |\n");
	printf("\nWorkloads:\n");
	for (size_t w = 0; w < config.workload_count; w++)
		if (workload_selected(w))
			printf("- %s: %s\n", config.workloads[w].name,
				config.workloads[w].description);
}

static void print_latency_table(void)
{
	static const char *const phases[] = { "all", "split", "merge", "churn" };
	static const char *const stats[] = { "p50", "p999", "p9999", "max" };
	static const char *const headers[] = { "phase", "malloc p50", "p99.9", "p99.99", "max",
		"free p50", "p99.9", "p99.99", "max" };
	char key[64];

	printf("\n### Latency of single calls (ns, time stamp counter; percentiles: median of %d "
	       "runs, max: of all runs)\n\n",
		LATENCY_ROUNDS);
	print_header("allocator", headers, sizeof(headers) / sizeof(headers[0]));
	for (int c = 0; c < COLUMN_COUNT; c++) {
		if (!columns[c].available)
			continue;
		for (size_t p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
			printf("| %s | %s", p == 0 ? columns[c].label : "", phases[p]);
			for (int op = 0; op < 2; op++) {
				for (size_t s = 0; s < sizeof(stats) / sizeof(stats[0]); s++) {
					snprintf(key, sizeof(key), "lat_%s_%s_%s", phases[p],
						op == 0 ? "malloc" : "free", stats[s]);
					print_cell(strcmp(stats[s], "max") == 0
							? max_of(c, "latency", key)
							: median_of(c, "latency", key),
						" | %.0f");
				}
			}
			printf(" |\n");
		}
	}
	printf("\nsplit: 16..64-byte requests split from one huge free block, freed at once "
	       "(merging back); merge: the freed block's neighbours on both sides are free; "
	       "churn: the churn workload. Pools are pre-touched; an empty measurement costs "
	       "%.0f ns (included).\n",
		median_of(COL_RELEASE, "latency", "lat_timer_p50"));
}

struct pool_cell {
	const char *header;
	const char *key;
	const char *format;
	double scale;
};

static void print_pool_cells(const struct pool_cell *cells, size_t count, bool pools_only)
{
	const char *headers[16];

	for (size_t i = 0; i < count; i++)
		headers[i] = cells[i].header;
	print_header("allocator", headers, count);
	for (int c = 0; c < COLUMN_COUNT; c++) {
		if (!columns[c].available || (pools_only && columns[c].module_dir == NULL))
			continue;
		printf("| %s", columns[c].label);
		for (size_t i = 0; i < count; i++)
			print_cell(median_of(c, "pools", cells[i].key) * cells[i].scale,
				cells[i].format);
		printf(" |\n");
	}
}

static void print_pool_table(void)
{
	static const struct pool_cell space[] = {
		{ "overhead 16 B", "pool_overhead_16", " | %.0f", 1 },
		{ "overhead 64 B", "pool_overhead_64", " | %.0f", 1 },
		{ "overhead 4000 B", "pool_overhead_4000", " | %.0f", 1 },
		{ "fill 64 B", "pool_fill_64", " | %.1f%%", 100 },
		{ "fill 4000 B", "pool_fill_4000", " | %.1f%%", 100 },
		{ "fill random", "pool_fill_random", " | %.1f%%", 100 },
		{ "of asked: 64 B", "pool_fill_64_asked", " | %.1f%%", 100 },
		{ "4000 B", "pool_fill_4000_asked", " | %.1f%%", 100 },
		{ "random", "pool_fill_random_asked", " | %.1f%%", 100 },
	};
	static const struct pool_cell pools[] = {
		{ "create+delete (us)", "pool_create_delete_us", " | %.1f", 1 },
		{ "8 GiB create (us)", "pool_big_create_us", " | %.1f", 1 },
		{ "8 GiB delete (us)", "pool_big_delete_us", " | %.1f", 1 },
		{ "RSS added by create (KiB)", "pool_big_rss_create_kib", " | %.0f", 1 },
		{ "RSS after 1st malloc (KiB)", "pool_big_rss_first_block_kib", " | %.0f", 1 },
		{ "churn held (blocks)", "pool_churn_held", " | %.0f", 1 },
	};

	printf("\n### Per-block overhead (bytes) and utilisation at exhaustion\n\n");
	print_pool_cells(space, sizeof(space) / sizeof(space[0]), false);
	printf("\noverhead N B: distance between consecutive N-byte blocks, less N. fill: bytes "
	       "handed out (as requested) before a 16 MiB pool is exhausted, over the pool's area "
	       "(get_area_info); of asked: over create_pool's 16 MiB.\n");
	printf("\n### Pools: create/delete, and an 8 GiB B_NO_LOCK pool\n\n");
	print_pool_cells(pools, sizeof(pools) / sizeof(pools[0]), true);
	printf("\ncreate+delete: create_pool(1 MiB), one malloc/free, delete_pool. 8 GiB: median "
	       "of 3; RSS (resident set, /proc/self/statm) added: the largest of 3. churn held: "
	       "blocks a 16 MiB pool holds when churned to exhaustion with sizes 16..4095 (three "
	       "steps in four replace a random block, one adds a block).\n");
}

/* ---- parent: the figures ---- */

/* Issue 16's: one reachability scan (scan_leaks, every pool) of 1M live
 * blocks and of 1 GiB of populated memory, under 1 s each (--scale
 * scales the sizes; the lines say what was scanned). */
static void print_scan_figures(void)
{
	double seconds = median_of(COL_DEBUG, "scan", "scan_blocks_s");
	double blocks = median_of(COL_DEBUG, "scan", "scan_blocks");
	double lost = median_of(COL_DEBUG, "scan", "scan_blocks_lost");
	double bytes = median_of(COL_DEBUG, "scan", "scan_memory_bytes");

	if (!config.scan)
		return;
	printf("\n### Reachability scan (issue 16)\n\n");
	figure(known(seconds), seconds < 1.0,
		"debug: one scan of %.0f live blocks (all referenced, %.0f found lost) under 1 s: "
		"%.3f s",
		blocks, lost, seconds);
	seconds = median_of(COL_DEBUG, "scan", "scan_memory_s");
	figure(known(seconds), seconds < 1.0,
		"debug: one scan of %.0f MiB of populated memory under 1 s: %.3f s",
		bytes / (1 << 20), seconds);
}

/* Issue 15: what guard pages cost, against the debug build without them:
 * on every block (Special Pool), and the default sampling, which must
 * cost under 2 % to stay on by default: a cost that small is taken round
 * by round (paired_ratio), not from the two columns' medians. */
static void print_guard_figures(void)
{
	static const char *const workloads[] = { "churn", "shared2", "prodcons", "lifo16" };

	printf("\n### Guard pages (issue 15)\n\n");
	for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
		double none = median_of(COL_DEBUG_NOGUARD, workloads[w], "ns");
		double every = median_of(COL_DEBUG_GUARD, workloads[w], "ns");
		double sampled = paired_ratio(COL_DEBUG, COL_DEBUG_NOGUARD, workloads[w]);

		printf("- %s: debug noguard (guard_sample=0) %.1f ns; debug guard (guard=1, every "
		       "block) %.1f ns (%+.1f%%)\n",
			workloads[w], none, every, 100 * (every / none - 1));
		figure(known(sampled), sampled <= 1.02,
			"%s: the default sampling (one allocation in 5000 guarded) costs under 2 %%: "
			"%+.1f%% (median over the rounds of debug's time over debug noguard's)",
			workloads[w], 100 * (sampled - 1));
	}
}

static void print_figures(void)
{
	double value, limit, max;

	printf("\n### Figures of issue 5\n\n");
	value = ratio_of(COL_RELEASE, "churn");
	figure(known(value), value <= 1.0, "release churn at most 1.0x glibc: %.2fx", value);
	value = ratio_of(COL_RELEASE, "shared2");
	figure(known(value), value <= 1.5,
		"release, two threads on one shared pool, at most 1.5x "
		"glibc: %.2fx",
		value);
	value = ratio_of(COL_DEBUG, "churn");
	figure(known(value), value <= 3.0,
		"debug (default options) churn at most 3x glibc: %.2fx "
		"(glibc+asan: %.2fx)",
		value, ratio_of(COL_ASAN, "churn"));
	{
		char slower[512] = "";
		bool measured = columns[COL_DEBUG].available && columns[COL_ASAN].available;

		for (size_t w = 0; measured && w < config.workload_count; w++) {
			const char *name = config.workloads[w].name;
			double debug = median_of(COL_DEBUG, name, "ns");
			double asan = median_of(COL_ASAN, name, "ns");

			if (!workload_selected(w) || !known(debug) || !known(asan))
				continue;
			if (debug > asan)
				snprintf(slower + strlen(slower), sizeof(slower) - strlen(slower),
					"%s %s %.0f vs %.0f ns", slower[0] ? ";" : "", name, debug,
					asan);
		}
		figure(measured, slower[0] == '\0',
			"debug (default options) never slower than "
			"glibc+asan:%s",
			slower[0] ? slower : " on every workload");
	}
	for (int op = 0; op < 2; op++) {
		const char *name = op == 0 ? "malloc" : "free";
		char key[64];

		snprintf(key, sizeof(key), "lat_all_%s_p9999", name);
		value = median_of(COL_RELEASE, "latency", key);
		snprintf(key, sizeof(key), "lat_all_%s_max", name);
		max = max_of(COL_RELEASE, "latency", key);
		figure(known(value), value < 1000,
			"release %s p99.99 under 1 us: %.0f ns "
			"(max %.0f ns)",
			name, value, max);
	}
	value = median_of(COL_RELEASE, "pools", "pool_overhead_64");
	figure(known(value), value <= 16,
		"release per-block overhead at most 16 bytes: %.0f "
		"(64-byte blocks; %.0f for 16-byte, %.0f for 4000-byte)",
		value, median_of(COL_RELEASE, "pools", "pool_overhead_16"),
		median_of(COL_RELEASE, "pools", "pool_overhead_4000"));
	for (int size = 0; size < 2; size++) {
		const char *key = size == 0 ? "pool_fill_4000" : "pool_fill_64";
		const char *asked = size == 0 ? "pool_fill_4000_asked" : "pool_fill_64_asked";
		double release_asked = median_of(COL_RELEASE, "pools", asked);
		double debug_asked = median_of(COL_DEBUG, "pools", asked);

		limit = size == 0 ? 0.90 : 0.75;
		value = median_of(COL_RELEASE, "pools", key);
		figure(known(value), value >= limit,
			"release utilisation at exhaustion, %s-byte blocks, at least %.0f%%: "
			"%.1f%% of the area (%.1f%% of the size asked)",
			size == 0 ? "4000" : "64", limit * 100, value * 100, 100 * release_asked);
		/* the debug pool's area is larger by design (its metadata); what
		 * counts is that it holds what the release pool holds (issue 14) */
		figure(known(release_asked) && known(debug_asked) && release_asked > 0,
			debug_asked >= 0.95 * release_asked && debug_asked <= 1.05 * release_asked,
			"debug holds what the release pool holds at exhaustion (capacity parity, "
			"within 5%%), %s-byte blocks: %.1f%% of the size asked, release %.1f%%",
			size == 0 ? "4000" : "64", 100 * debug_asked, 100 * release_asked);
	}
	/* the same promise under churn, where the release pool's fragmentation
	 * and its caches' larger blocks count and the debug build's charges
	 * (each block's release chunk) do not see them */
	double release_held = median_of(COL_RELEASE, "pools", "pool_churn_held");
	double debug_held = median_of(COL_DEBUG, "pools", "pool_churn_held");
	figure(known(release_held) && known(debug_held) && release_held > 0,
		debug_held >= 0.95 * release_held && debug_held <= 1.05 * release_held,
		"debug holds what the release pool holds when churned to exhaustion (capacity "
		"parity, within 5%%), sizes 16..4095: debug %.0f blocks, release %.0f (%.1f%%)",
		debug_held, release_held, 100 * debug_held / release_held);
	for (int c = COL_RELEASE; c <= COL_DEBUG; c++) {
		double created = median_of(c, "pools", "pool_big_rss_create_kib");

		value = median_of(c, "pools", "pool_big_create_us");
		figure(known(value) && known(created), value < 1000 && created <= 64,
			"%s: 8 GiB B_NO_LOCK pool created in under 1 ms with no resident memory "
			"until "
			"touched: %.1f us, %+.0f KiB resident after create_pool (metadata pages; "
			"judged met up to 64 KiB)",
			columns[c].label, value, created);
		/* the debug build checks the free memory of a pool it deletes:
		 * reading which of 2 million untouched pages hold memory, one by
		 * one, took 0.36 s */
		value = median_of(c, "pools", "pool_big_delete_us");
		figure(known(value), value < 1000,
			"%s: the 8 GiB B_NO_LOCK pool, one block used, deleted in under 1 ms: "
			"%.1f us",
			columns[c].label, value);
	}
	printf("\n### Stacks (issue 14)\n\n");
	for (int w = 0; w < 2; w++) {
		const char *name = w == 0 ? "churn" : "stacks";
		printf("- %s: debug (stack_depth=16, frame pointers) %.1f ns, debug nofp (unwind "
		       "tables) %.1f ns, debug d1 (stack_depth=1) %.1f ns\n",
			name, median_of(COL_DEBUG, name, "ns"),
			median_of(COL_DEBUG_NOFP, name, "ns"), median_of(COL_DEBUG_D1, name, "ns"));
	}
	print_guard_figures();
	print_scan_figures();
	print_figure_totals();
}

static void print_preamble(int argc, char **argv)
{
	char load[128];

	char model[256] = "unknown", line[512];
	FILE *cpuinfo = fopen("/proc/cpuinfo", "r");

	while (cpuinfo != NULL && fgets(line, sizeof(line), cpuinfo) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (cpuinfo != NULL)
		fclose(cpuinfo);
	printf("## area_malloc benchmark%s\n\n", config.real ? ": real workloads (issue 18)" : "");
	printf("Command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	load_average(load, sizeof(load));
	printf("\n\nMachine: %ld online CPU(s), %s; glibc %s; /proc/loadavg at start: %s.\n",
		sysconf(_SC_NPROCESSORS_ONLN), model, gnu_get_libc_version(), load);
#ifdef __SANITIZE_ADDRESS__
	printf("\nWARNING: this benchmark binary is built with AddressSanitizer "
	       "(configure --enable-asan); its figures do not describe the allocators.\n");
#endif
	printf("\nColumns:\n");
	for (int c = 0; c < COLUMN_COUNT; c++)
		printf("- %s: %s%s%s%s\n", columns[c].label, columns[c].legend,
			columns[c].available ? "" : " (left out: ",
			columns[c].available ? "" : columns[c].left_out_because,
			columns[c].available ? "" : ")");
}

/* ---- parent: setup ---- */

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
	(void)status;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void usage(FILE *stream)
{
	fprintf(stream,
		"usage: bench [--builddir DIR] [--asan-binary PATH] [--nofp-binary PATH] "
		"[--rounds N] "
		"[--passes N]\n"
		"             [--suite issue5|real] [--scale FACTOR] [--workloads LIST] "
		"[--columns LIST]\n"
		"  --suite real: the real-workload suite of issue 18 (columns release, debug,\n"
		"    glibc, jemalloc, mimalloc, glibc+asan unless --columns says otherwise)\n"
		"  --scale FACTOR: each timed workload does FACTOR times its iterations\n"
		"    (0 < FACTOR <= 10; e.g. 0.001 for a smoke test)\n"
		"  LIST: comma-separated names; workloads of issue5: ");
	for (size_t w = 0; w < bench_timed_workload_count; w++)
		fprintf(stream, "%s,", bench_timed_workloads[w].name);
	fprintf(stream, "latency,pools,scan\n  workloads of real: ");
	for (size_t w = 0; w < bench_real_workload_count; w++)
		fprintf(stream, "%s%s", w ? "," : "", bench_real_workloads[w].name);
	fprintf(stream, "\n  columns: ");
	for (int c = 0; c < COLUMN_COUNT; c++)
		fprintf(stream, "%s%s", c ? "," : "", columns[c].label);
	fprintf(stream, " (spaces in labels as '-', e.g. debug-lq0)\n");
}

static bool same_label(const char *label, const char *name, size_t length)
{
	size_t i;

	for (i = 0; i < length && label[i] != '\0'; i++)
		if (label[i] != name[i] && !(label[i] == ' ' && name[i] == '-'))
			return false;
	return i == length && label[i] == '\0';
}

/* Parses a comma-separated list; each name must be a workload (or column). */
static bool select_names(const char *list, bool columns_list, bool *selected_columns)
{
	while (*list != '\0') {
		size_t length = strcspn(list, ",");
		bool found = false;

		if (columns_list) {
			for (int c = 0; c < COLUMN_COUNT; c++)
				if (same_label(columns[c].label, list, length))
					selected_columns[c] = found = true;
		} else {
			for (size_t w = 0; w < config.workload_count; w++) {
				if (strlen(config.workloads[w].name) == length
					&& strncmp(config.workloads[w].name, list, length) == 0)
					config.selected_workloads[w] = found = true;
			}
			if (length == 7 && strncmp(list, "latency", 7) == 0)
				config.latency = found = true;
			if (length == 5 && strncmp(list, "pools", 5) == 0)
				config.pools = found = true;
			if (length == 4 && strncmp(list, "scan", 4) == 0)
				config.scan = found = true;
			config.any_workload_selected = true;
		}
		if (!found) {
			fprintf(stderr, "bench: unknown %s '%.*s'\n",
				columns_list ? "column" : "workload", (int)length, list);
			return false;
		}
		list += length;
		if (*list == ',')
			list++;
	}
	return true;
}

/* A scale factor in (0, 10], kept as text for the children. */
static bool parse_scale(const char *text)
{
	char *end;
	double value = strtod(text, &end);

	if (*text == '\0' || *end != '\0' || !(value > 0 && value <= 10)) {
		fprintf(stderr, "bench: '%s' is not a scale factor above 0 and at most 10\n", text);
		return false;
	}
	snprintf(config.scale, sizeof(config.scale), "%.17g", value);
	return true;
}

static bool parse_count(const char *text, int max, int *count)
{
	char *end;
	long value = strtol(text, &end, 10);

	if (*text == '\0' || *end != '\0' || value < 1 || value > max) {
		fprintf(stderr, "bench: '%s' is not a count from 1 to %d\n", text, max);
		return false;
	}
	*count = (int)value;
	return true;
}

int main(int argc, char **argv)
{
	bool selected_columns[COLUMN_COUNT] = { false };
	const char *workload_list = NULL, *column_list = NULL;
	ssize_t length;
	char *slash;

	if (argc == 6 && strcmp(argv[1], "--child") == 0) {
		int passes;

		if (!parse_count(argv[4], MAX_ROUNDS, &passes) || !parse_scale(argv[5]))
			return EXIT_FAILURE;
		bench_scale = strtod(argv[5], NULL);
		return run_child(argv[2], argv[3], passes);
	}

	snprintf(config.scale, sizeof(config.scale), "1");
	config.workloads = bench_timed_workloads;
	config.workload_count = bench_timed_workload_count;
	config.rounds = DEFAULT_ROUNDS;
	config.passes = DEFAULT_PASSES;
	config.latency = config.pools = config.scan = true;
	length = readlink("/proc/self/exe", config.self, sizeof(config.self) - 1);
	if (length <= 0) {
		perror("bench: /proc/self/exe");
		return EXIT_FAILURE;
	}
	config.self[length] = '\0';
	snprintf(config.asan_binary, sizeof(config.asan_binary), "%s", config.self);
	slash = strrchr(config.asan_binary, '/');
	snprintf(slash + 1, sizeof(config.asan_binary) - (size_t)(slash + 1 - config.asan_binary),
		"bench_asan");
	snprintf(config.nofp_binary, sizeof(config.nofp_binary), "%s", config.asan_binary);
	snprintf(strrchr(config.nofp_binary, '/') + 1, 16, "bench_nofp");
	if (getenv("AREA_MALLOC_TEST_BUILDDIR") != NULL)
		snprintf(config.builddir, sizeof(config.builddir), "%s",
			getenv("AREA_MALLOC_TEST_BUILDDIR"));
	else { /* <builddir>/tests/bench/bench */
		snprintf(config.builddir, sizeof(config.builddir), "%s", config.self);
		snprintf(strrchr(config.builddir, '/'), 7, "/../..");
	}

	for (int i = 1; i < argc; i += 2) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (value == NULL) {
			usage(stderr);
			return EXIT_FAILURE;
		} else if (strcmp(argv[i], "--builddir") == 0) {
			snprintf(config.builddir, sizeof(config.builddir), "%s", value);
		} else if (strcmp(argv[i], "--asan-binary") == 0) {
			snprintf(config.asan_binary, sizeof(config.asan_binary), "%s", value);
		} else if (strcmp(argv[i], "--nofp-binary") == 0) {
			snprintf(config.nofp_binary, sizeof(config.nofp_binary), "%s", value);
		} else if (strcmp(argv[i], "--rounds") == 0) {
			if (!parse_count(value, MAX_ROUNDS, &config.rounds))
				return EXIT_FAILURE;
		} else if (strcmp(argv[i], "--passes") == 0) {
			if (!parse_count(value, MAX_ROUNDS, &config.passes))
				return EXIT_FAILURE;
		} else if (strcmp(argv[i], "--scale") == 0) {
			if (!parse_scale(value))
				return EXIT_FAILURE;
		} else if (strcmp(argv[i], "--suite") == 0) {
			if (strcmp(value, "real") != 0 && strcmp(value, "issue5") != 0) {
				fprintf(stderr, "bench: unknown suite '%s' (issue5 or real)\n",
					value);
				return EXIT_FAILURE;
			}
			config.real = strcmp(value, "real") == 0;
		} else if (strcmp(argv[i], "--workloads") == 0) {
			workload_list = value;
		} else if (strcmp(argv[i], "--columns") == 0) {
			column_list = value;
		} else {
			usage(stderr);
			return EXIT_FAILURE;
		}
	}

	/* the lists name the suite's workloads, whatever the order of the options */
	if (config.real) {
		static const int real_columns[] = { COL_RELEASE, COL_DEBUG, COL_DEBUG_NOGUARD,
			COL_GLIBC, COL_JEMALLOC, COL_MIMALLOC, COL_ASAN };

		config.workloads = bench_real_workloads;
		config.workload_count = bench_real_workload_count;
		config.latency = config.pools = config.scan = false;
		for (size_t i = 0; column_list == NULL && i < sizeof(real_columns) / sizeof(int);
			i++)
			selected_columns[real_columns[i]] = true;
	}
	if (workload_list != NULL) {
		config.latency = config.pools = config.scan = false;
		if (!select_names(workload_list, false, NULL))
			return EXIT_FAILURE;
	}
	if (column_list != NULL && !select_names(column_list, true, selected_columns))
		return EXIT_FAILURE;

	snprintf(config.node_dir, sizeof(config.node_dir), "/dev/shm/area_malloc-bench-XXXXXX");
	if (mkdtemp(config.node_dir) == NULL) {
		perror("bench: mkdtemp /dev/shm/area_malloc-bench-XXXXXX");
		return EXIT_FAILURE;
	}
	probe_columns(column_list != NULL || config.real ? selected_columns : NULL);
	print_preamble(argc, argv);
	run_all();
	compute_ratios();
	if (any_timed_workload_selected())
		print_timed_tables();
	if (config.latency)
		print_latency_table();
	if (config.pools)
		print_pool_table();
	if (config.real)
		print_real_report(config.any_workload_selected ? config.selected_workloads : NULL);
	else
		print_figures();
	nftw(config.node_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	return EXIT_SUCCESS;
}
