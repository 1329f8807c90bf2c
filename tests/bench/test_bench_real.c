/*
 * test_bench_real.c - the smoke test of the real-workload benchmark
 * (make bench-real, tests/bench/bench --suite real): runs it at its
 * smallest scale (one round, one pass, a thousandth of the iterations) and
 * checks that every workload ran to completion on every column available
 * here and that the report is well formed: each table has a row per
 * workload (per column for the throughput table) with a number in every
 * cell, and each figure of issue 18 has its line, met or NOT MET. No time
 * is asserted. Bad options fail with one clear line.
 *
 * The benchmark runs once, in an unchecked fixture; the tests read its
 * output.
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support/check_main.h"

#define MAX_COLUMNS 16
#define CELL_BYTES 64

static const char *const workloads[] = { "simple16", "simple32", "simple64", "simple128",
	"simple256", "thread1", "thread2", "larson2", "xmalloc2", "cfrac", "large" };
#define WORKLOAD_COUNT (sizeof(workloads) / sizeof(workloads[0]))

static const char *const figures[] = {
	"release geometric mean at or below 0.9x glibc: ",
	"release: no workload above 1.2x glibc or above jemalloc's ratio, whichever is higher:",
	"release, (b) with 2 threads on one pool: throughput at least 1.8x the 1-thread "
	"throughput: ",
	"release, (a) at 16 bytes at or below glibc's time: ",
	"debug at or below glibc+asan's time on every workload, 1 and 2 threads:",
	"debug geometric mean at or below 0.5x glibc+asan's: ",
	"debug: the default guard sampling (one allocation in 5000) costs under 2 % (geometric "
	"mean over the workloads of the median per-round ratio to debug noguard, "
	"guard_sample=0): ",
	"debug RSS plus node tmpfs within 2x glibc's RSS on (f): ",
};
#define FIGURE_COUNT (sizeof(figures) / sizeof(figures[0]))

static char *output;
static int exit_status;

/* Runs the benchmark with arguments; its stdout and stderr, to be freed. */
static char *run_bench(const char *arguments, int *status)
{
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char command[4096], *text = NULL;
	size_t length = 0;
	FILE *stream, *pipe;
	char buffer[4096];
	size_t got;

	ck_assert_msg(builddir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set");
	snprintf(command, sizeof(command), "'%s/tests/bench/bench' %s 2>&1", builddir, arguments);
	stream = open_memstream(&text, &length);
	pipe = popen(command, "r");
	ck_assert_ptr_nonnull(stream);
	ck_assert_ptr_nonnull(pipe);
	while ((got = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
		fwrite(buffer, 1, got, stream);
	*status = pclose(pipe);
	*status = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
	fclose(stream);
	return text;
}

static void run_smallest_suite(void)
{
	output = run_bench("--suite real --scale 0.001 --rounds 1 --passes 1", &exit_status);
}

static void free_output(void)
{
	free(output);
}

/* The line that starts with prefix, or NULL; from is where to look from. */
static const char *line_starting(const char *from, const char *prefix)
{
	size_t length = strlen(prefix);

	for (const char *line = from; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');

		if (strncmp(line, prefix, length) == 0)
			return line;
		line = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/* The end of what failure messages quote: Check cuts long messages. */
static const char *tail_of(const char *text)
{
	size_t length = strlen(text);

	return length > 1500 ? text + length - 1500 : text;
}

/* The row of table (its header line) whose first cell is name, or NULL:
 * the table ends at the first blank line. */
static const char *table_row(const char *table, const char *name)
{
	char row[CELL_BYTES + 8];
	const char *end = strstr(table, "\n\n");
	const char *line;

	snprintf(row, sizeof(row), "| %s |", name);
	line = line_starting(table, row);
	return line != NULL && (end == NULL || line < end) ? line : NULL;
}

/* Splits a Markdown row "| a | b |" into its cells; returns their count. */
static int row_cells(const char *line, char cells[][CELL_BYTES], int max)
{
	size_t length = strcspn(line, "\n");
	int count = 0;

	ck_assert_msg(length > 2 && line[0] == '|' && line[length - 1] == '|', "not a row: %.*s",
		(int)length, line);
	for (size_t at = 1; at < length && count < max;) {
		size_t cell = strcspn(line + at, "|");

		ck_assert_uint_ge(cell, 2);
		snprintf(cells[count++], CELL_BYTES, "%.*s", (int)cell - 2, line + at + 1);
		at += cell + 1;
	}
	return count;
}

/* The labels of the columns the run had (the preamble's "Columns:" list). */
static int available_columns(char labels[][CELL_BYTES])
{
	const char *line = line_starting(output, "Columns:");
	int count = 0;

	ck_assert_ptr_nonnull(line);
	for (line = strchr(line, '\n') + 1; strncmp(line, "- ", 2) == 0;
		line = strchr(line, '\n') + 1) {
		const char *end = strchr(line, '\n');

		if (strstr(line, " (left out: ") == NULL || strstr(line, " (left out: ") > end)
			snprintf(labels[count++], CELL_BYTES, "%.*s",
				(int)(strstr(line, ": ") - line - 2), line + 2);
	}
	return count;
}

static bool is_number(const char *cell, const char *suffix)
{
	char *end;

	strtod(cell, &end);
	return end != cell && strcmp(end, suffix) == 0;
}

/* Under heading: the header (first cell, then the available columns, then
 * extra), and a row per name in rows whose cells are all numbers. */
static void assert_table(const char *heading, const char *first, const char *const *extra,
	int extra_count, const char *const *rows, size_t row_count, const char *suffix)
{
	char labels[MAX_COLUMNS][CELL_BYTES], cells[MAX_COLUMNS + 4][CELL_BYTES];
	int columns = available_columns(labels);
	const char *table = line_starting(output, heading);

	ck_assert_msg(table != NULL, "no table '%s' in:\n%s", heading, tail_of(output));
	table = strchr(table, '\n') + 2; /* a blank line, then the header */
	ck_assert_int_eq(row_cells(table, cells, MAX_COLUMNS + 4), 1 + columns + extra_count);
	ck_assert_str_eq(cells[0], first);
	for (int c = 0; c < columns; c++)
		ck_assert_str_eq(cells[1 + c], labels[c]);
	for (int e = 0; e < extra_count; e++)
		ck_assert_str_eq(cells[1 + columns + e], extra[e]);
	for (size_t r = 0; r < row_count; r++) {
		const char *line;

		line = table_row(table, rows[r]);
		ck_assert_msg(line != NULL, "table '%s' has no row '%s'", heading, rows[r]);
		ck_assert_int_eq(row_cells(line, cells, MAX_COLUMNS + 4),
			1 + columns + extra_count);
		for (int c = 1; c < 1 + columns + extra_count; c++)
			ck_assert_msg(is_number(cells[c], suffix), "'%s' row '%s', cell %d: '%s'",
				heading, rows[r], c, cells[c]);
	}
}

START_TEST(every_child_completes)
{
	ck_assert_msg(exit_status == 0, "bench exited %d:\n%s", exit_status, tail_of(output));
	ck_assert_msg(strstr(output, "child exited") == NULL
			&& strstr(output, "child killed") == NULL,
		"a child failed:\n%s", tail_of(output));
	ck_assert_ptr_nonnull(line_starting(output,
		"## area_malloc benchmark: real workloads "
		"(issue 18)\n"));
}
END_TEST

START_TEST(time_and_ratio_tables_have_every_workload)
{
	static const char *const with_mean[WORKLOAD_COUNT + 1] = { "simple16", "simple32",
		"simple64", "simple128", "simple256", "thread1", "thread2", "larson2", "xmalloc2",
		"cfrac", "large", "geometric mean" };

	assert_table("### Time per operation", "workload", NULL, 0, workloads, WORKLOAD_COUNT, "");
	assert_table("### Ratio to glibc malloc", "workload", NULL, 0, with_mean,
		WORKLOAD_COUNT + 1, "x");
}
END_TEST

START_TEST(memory_table_has_every_workload)
{
	static const char *const extra[] = { "debug node tmpfs", "debug RSS + node tmpfs" };

	assert_table("### Memory (MiB)", "workload", extra, 2, workloads, WORKLOAD_COUNT, "");
}
END_TEST

START_TEST(throughput_table_has_every_column)
{
	char labels[MAX_COLUMNS][CELL_BYTES], cells[MAX_COLUMNS][CELL_BYTES];
	int columns = available_columns(labels);
	const char *table = line_starting(output, "### (b) bench-malloc-thread: throughput");

	ck_assert_ptr_nonnull(table);
	table = strchr(table, '\n') + 2;
	ck_assert_int_eq(row_cells(table, cells, MAX_COLUMNS), 9);
	ck_assert_str_eq(cells[0], "allocator");
	ck_assert_str_eq(cells[5], "2-thread / 1-thread throughput, separate children");
	ck_assert_str_eq(cells[6], "2-thread / 1-thread throughput, paired passes");
	ck_assert_str_eq(cells[8], "2-thread / 1-thread CPU per pair");
	for (int c = 0; c < columns; c++) {
		const char *line;

		line = table_row(table, labels[c]);
		ck_assert_msg(line != NULL, "no throughput row for %s", labels[c]);
		ck_assert_int_eq(row_cells(line, cells, MAX_COLUMNS), 9);
		for (int i = 1; i < 9; i++)
			ck_assert_msg(is_number(cells[i], ""), "%s: '%s'", labels[c], cells[i]);
	}
}
END_TEST

START_TEST(every_figure_has_its_line)
{
	int met = 0, not_met = 0, total_met = -1, total_missed = -1;
	char expected[128];

	for (size_t f = 0; f < FIGURE_COUNT; f++) {
		char met_line[256], missed_line[256];
		const char *line;

		snprintf(met_line, sizeof(met_line), "- met: %s", figures[f]);
		snprintf(missed_line, sizeof(missed_line), "- NOT MET: %s", figures[f]);
		if ((line = line_starting(output, met_line)) != NULL)
			met++;
		else if ((line = line_starting(output, missed_line)) != NULL)
			not_met++;
		ck_assert_msg(line != NULL, "no line for the figure '%s' in:\n%s", figures[f],
			tail_of(output));
	}
	ck_assert_ptr_null(line_starting(output, "- not measured: "));
	ck_assert_ptr_nonnull(line_starting(output, "### Figures of issue 18"));
	snprintf(expected, sizeof(expected), "\n%d figure(s) met, %d not met or not measured.\n",
		met, not_met);
	ck_assert_msg(strstr(output, expected) != NULL, "no line '%s'", expected + 1);
	ck_assert_int_eq(sscanf(strstr(output, expected) + 1, "%d figure(s) met, %d not met",
				 &total_met, &total_missed),
		2);
	ck_assert_int_eq(total_met + total_missed, (int)FIGURE_COUNT);
}
END_TEST

START_TEST(bad_options_fail_with_one_line)
{
	int status;
	char *text = run_bench("--suite nope", &status);

	ck_assert_int_eq(status, 1);
	ck_assert_str_eq(text, "bench: unknown suite 'nope' (issue5 or real)\n");
	free(text);
	text = run_bench("--suite real --scale 0", &status);
	ck_assert_int_eq(status, 1);
	ck_assert_str_eq(text, "bench: '0' is not a scale factor above 0 and at most 10\n");
	free(text);
	text = run_bench("--suite real --workloads churn", &status);
	ck_assert_int_eq(status, 1);
	ck_assert_str_eq(text, "bench: unknown workload 'churn'\n");
	free(text);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("bench_real");
	TCase *report = tcase_create("report");
	TCase *options = tcase_create("options");

	tcase_add_unchecked_fixture(report, run_smallest_suite, free_output);
	tcase_add_test(report, every_child_completes);
	tcase_add_test(report, time_and_ratio_tables_have_every_workload);
	tcase_add_test(report, memory_table_has_every_workload);
	tcase_add_test(report, throughput_table_has_every_column);
	tcase_add_test(report, every_figure_has_its_line);
	suite_add_tcase(suite, report);
	tcase_add_test(options, bad_options_fail_with_one_line);
	suite_add_tcase(suite, options);
	return run_check_suite(suite, CK_FORK_GETENV);
}
