/*
 * bench_parent.h - what the benchmark's parent (bench_main.c) shares with
 * its reports (bench_results.c, bench_real.c): the columns, every value
 * the children printed, table cells and the figure lines.
 *
 * Locking: none; the parent is single-threaded.
 */
#ifndef AREA_MALLOC_TESTS_BENCH_BENCH_PARENT_H
#define AREA_MALLOC_TESTS_BENCH_BENCH_PARENT_H

#include <stdbool.h>
#include <stddef.h>

#include "bench.h"

#define MAX_ROUNDS 15

struct column {
	const char *label;
	const char *legend;
	const char *kind;
	const char *module_dir; /* under <builddir>/modules; NULL: no module */
	const char *options;    /* AREA_MALLOC_OPTIONS (node_dir is added); NULL: unset */
	bool asan;              /* run the -fsanitize=address binary */
	bool available;
	const char *left_out_because;
	bool nofp; /* run the binary built without frame pointers */
};

enum column_index {
	COL_RELEASE,
	COL_DEBUG,
	COL_DEBUG_NODE0,
	COL_DEBUG_LQ0,
	COL_DEBUG_LQ0_NODE0,
	COL_DEBUG_NOFP,
	COL_DEBUG_D1,
	COL_DEBUG_GUARD,
	COL_DEBUG_NOGUARD,
	COL_GLIBC,
	COL_JEMALLOC,
	COL_MIMALLOC,
	COL_ASAN,
	COLUMN_COUNT
};

extern struct column columns[COLUMN_COUNT];

/* Every value a child printed: (column, workload, key) -> one value per run. */
void add_value(int column, const char *workload, const char *key, double value);
/* NAN when nothing was measured. */
double median_of(int column, const char *workload, const char *key);
/* The median over the rounds of column's time over baseline's in the same
 * round (columns run in turn within a round: each pair saw the same
 * machine), for a cost too small for the noise between rounds. */
double paired_ratio(int column, int baseline, const char *workload);
double max_of(int column, const char *workload, const char *key);
/* Adds the key "ratio" (allocator / glibc in the same child) per run. */
void compute_ratios(void);
/* Time relative to glibc: the median of a child's own ratios; the ASan
 * column's median over the glibc column's median. */
double ratio_of(int column, const char *workload);
/* Geometric mean of ratio_of over the workloads with selected[w] (NULL:
 * all); NAN when one of them was not measured. */
double geometric_mean_ratio(int column, const struct bench_timed_workload *workloads, size_t count,
	const bool *selected);
/* The same over paired_ratio(column, baseline, workload). */
double geometric_mean_paired(int column, int baseline, const struct bench_timed_workload *workloads,
	size_t count, const bool *selected);

/* Markdown table pieces; NAN prints "-". */
void print_cell(double value, const char *format);
void print_header(const char *first, const char *const *rest, size_t count);
void print_column_header(const char *first);

/* A figure line "- met: ...", "- NOT MET: ..." or "- not measured: ...". */
void figure(bool measured, bool met, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* "N figure(s) met, N not met or not measured." and the load average. */
void print_figure_totals(void);
bool known(double value);
void load_average(char *text, size_t size);

/* The real-workload suite's tables and figures (bench_real.c). */
void print_real_report(const bool *selected);

#endif /* AREA_MALLOC_TESTS_BENCH_BENCH_PARENT_H */
