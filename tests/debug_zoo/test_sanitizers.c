/*
 * test_sanitizers.c - the debug module under the tools drivers are tested
 * with. A driver built with -fsanitize=address: AddressSanitizer reports each
 * bad access inside a pool at the faulting line (asan_driver.c's asan-site
 * tags), and a clean run has no report; the debug module is the same binary
 * as always and finds the ASan runtime at load time. Valgrind: memcheck sees
 * pool blocks as heap blocks and reports a write past one precisely.
 */
#include "config.h"
#include "support/check_main.h"
#include "support/debug_options.h"

#include <check.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct run {
	int status;
	char output[65536];
};

/* The line of asan_driver.c tagged asan-site:NAME. */
static int site_line(const char *name)
{
	char line[512], tag[64];
	FILE *source = fopen(ASAN_DRIVER_SOURCE, "r");
	int number = 0;

	ck_assert_ptr_nonnull(source);
	snprintf(tag, sizeof(tag), "asan-site:%s */", name);
	while (fgets(line, sizeof(line), source) != NULL) {
		number++;
		if (strstr(line, tag) != NULL) {
			fclose(source);
			return number;
		}
	}
	fclose(source);
	ck_abort_msg("no asan-site:%s in the driver", name);
	return 0;
}

static void run_driver(const char *scenario, const char *options, struct run *run)
{
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char driver[4096], modules[4096], output_path[] = "/tmp/asan_zoo_XXXXXX";
	int fd = mkstemp(output_path);
	ssize_t length;
	pid_t child;

	ck_assert_msg(builddir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run make check)");
	ck_assert_int_ge(fd, 0);
	snprintf(driver, sizeof(driver), "%s/tests/debug_zoo/asan_driver", builddir);
	snprintf(modules, sizeof(modules), "%s/modules/debug", builddir);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		setenv("KERNEL_MODULE_PATH", modules, 1);
		set_debug_options(options);
		/* the module's own node files go to a private place */
		setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0", 1);
		execl(driver, driver, scenario, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(child, &run->status, 0), child);
	length = pread(fd, run->output, sizeof(run->output) - 1, 0);
	run->output[length > 0 ? length : 0] = '\0';
	close(fd);
	unlink(output_path);
}

static void assert_caught_at(const char *scenario, const char *options)
{
	struct run *run = malloc(sizeof(*run));
	char where[128];

	run_driver(scenario, options, run);
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) != 0,
		"%s: the driver should have been stopped by ASan:\n%s", scenario, run->output);
	ck_assert_msg(strstr(run->output, "ERROR: AddressSanitizer: use-after-poison") != NULL,
		"%s: no ASan report:\n%s", scenario, run->output);
	snprintf(where, sizeof(where), "asan_driver.c:%d", site_line(scenario));
	ck_assert_msg(strstr(run->output, where) != NULL, "%s: report does not name %s:\n%s",
		scenario, where, run->output);
	ck_assert_msg(strstr(run->output, "asan_driver: done") == NULL,
		"%s: the driver ran past the bad access", scenario);
	free(run);
}

#define NODE_OFF "node=0:"

START_TEST(test_overflow_caught_by_asan)
{
	assert_caught_at("overflow", NODE_OFF);
}
END_TEST

START_TEST(test_underflow_caught_by_asan)
{
	assert_caught_at("underflow", NODE_OFF);
}
END_TEST

START_TEST(test_use_after_free_caught_by_asan)
{
	assert_caught_at("use-after-free", NODE_OFF);
}
END_TEST

START_TEST(test_free_space_caught_by_asan)
{
#ifdef MODULE_BUILT_WITH_ASAN
	/* An instrumented module must reach its free memory itself, so it leaves
	 * free space unpoisoned (quarantined blocks are still poisoned). */
	return;
#endif
	assert_caught_at("free-space", NODE_OFF "quarantine_bytes=0");
}
END_TEST

START_TEST(test_clean_run_has_no_report)
{
	struct run *run = malloc(sizeof(*run));

	run_driver("clean", NODE_OFF, run);
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0, "status %d:\n%s",
		run->status, run->output);
	ck_assert_msg(strstr(run->output, "ERROR") == NULL, "unexpected report:\n%s", run->output);
	ck_assert_ptr_nonnull(strstr(run->output, "asan_driver: done"));
	free(run);
}
END_TEST

START_TEST(test_clean_run_with_node_has_no_report)
{
	struct run *run = malloc(sizeof(*run));
	char options[128], node_dir[] = "/tmp/asan_zoo_node_XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(node_dir));
	chmod(node_dir, 0700);
	snprintf(options, sizeof(options), "node_dir=%s", node_dir);
	run_driver("clean", options, run);
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0, "status %d:\n%s",
		run->status, run->output);
	ck_assert_msg(strstr(run->output, "ERROR") == NULL, "unexpected report:\n%s", run->output);
	rmdir(node_dir);
	free(run);
}
END_TEST

/* Runs zoo_driver SCENARIO under valgrind memcheck with the debug module. */
static void run_under_valgrind(const char *scenario, struct run *run)
{
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char driver[4096], modules[4096], output_path[] = "/tmp/valgrind_zoo_XXXXXX";
	int fd = mkstemp(output_path);
	ssize_t length;
	pid_t child;

	ck_assert_msg(builddir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run make check)");
	snprintf(driver, sizeof(driver), "%s/tests/debug_zoo/zoo_driver", builddir);
	snprintf(modules, sizeof(modules), "%s/modules/debug", builddir);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		setenv("KERNEL_MODULE_PATH", modules, 1);
		set_debug_options("node=0:exitcode=0");
		execlp("valgrind", "valgrind", "-q", "--error-exitcode=9", driver, scenario,
			(char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(child, &run->status, 0), child);
	length = pread(fd, run->output, sizeof(run->output) - 1, 0);
	run->output[length > 0 ? length : 0] = '\0';
	close(fd);
	unlink(output_path);
}

static bool valgrind_usable(void)
{
#ifdef MODULE_BUILT_WITH_ASAN
	return false; /* an ASan-instrumented driver cannot run under valgrind */
#else
	return system("valgrind --version >/dev/null 2>&1") == 0;
#endif
}

START_TEST(test_valgrind_sees_overflow_past_a_pool_block)
{
	struct run *run;

	if (!valgrind_usable())
		return;
	run = malloc(sizeof(*run));
	run_under_valgrind("heap-buffer-overflow", run);
	ck_assert_msg(strstr(run->output, "Invalid write") != NULL
			&& strstr(run->output, "after a block of size") != NULL,
		"memcheck did not see the overflow inside the pool:\n%s", run->output);
	ck_assert_msg(strstr(run->output, "ERROR: area_malloc: heap-buffer-overflow") != NULL,
		"the module's own report is missing:\n%s", run->output);
	free(run);
}
END_TEST

START_TEST(test_valgrind_clean_run_is_clean)
{
	struct run *run;

	if (!valgrind_usable())
		return;
	run = malloc(sizeof(*run));
	run_under_valgrind("clean", run);
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0,
		"memcheck found errors in a clean run (status %d):\n%s", run->status, run->output);
	free(run);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("debug module under AddressSanitizer and Valgrind");
	TCase *tc = tcase_create("asan");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_overflow_caught_by_asan);
	tcase_add_test(tc, test_underflow_caught_by_asan);
	tcase_add_test(tc, test_use_after_free_caught_by_asan);
	tcase_add_test(tc, test_free_space_caught_by_asan);
	tcase_add_test(tc, test_clean_run_has_no_report);
	tcase_add_test(tc, test_clean_run_with_node_has_no_report);
	suite_add_tcase(suite, tc);
	tc = tcase_create("valgrind");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_valgrind_sees_overflow_past_a_pool_block);
	tcase_add_test(tc, test_valgrind_clean_run_is_clean);
	suite_add_tcase(suite, tc);
	return run_check_suite(suite, CK_FORK_GETENV);
}
