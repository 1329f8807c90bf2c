/*
 * test_scan.c - pooldump scan (issue 16) end to end: scan_driver, under the
 * debug module with a node directory of its own, holds blocks in every way
 * (global list, stack, another pool block, malloc'd memory, an interior
 * pointer, another thread's stack) and loses three; pooldump scans it from
 * outside and must report exactly the lost ones (exit status 1), nothing
 * when the blocks are too young (0), refuse a process it may not read (4)
 * and say a dead one is gone (3); a block only a register holds is held
 * with --stop, reported without; a scan reads only the pages the target
 * populated, so a large reservation it never touched is not faulted in.
 * No assertion depends on timing: the scans use --interval 0.1 and
 * --min-age 0 (or an hour).
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json_assert.h"
#include "node_fixture.h"
#include "support/read_stream.h"

struct result {
	int status;
	char *out, *err;
};

struct target {
	pid_t pid;
	int input;
	FILE *output;
	int area;
	struct fixture_driver_run run;
};

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run through make check)");
	return dir;
}

/* pooldump [--json] --node-dir DIR -p PID scan ARGS..., as uid when uid >= 0. */
static struct result scan(const struct target *target, int uid, bool json,
	const char *const *arguments)
{
	struct result result = { 0 };
	FILE *out = tmpfile(), *err = tmpfile();
	char program[PATH_MAX], pid[16];
	const char *argv[16] = { program, "--node-dir", target->run.node_dir, "-p", pid, "scan" };
	int count = 6, status;
	pid_t child;

	ck_assert(out != NULL && err != NULL);
	snprintf(program, sizeof(program), "%s/tools/pooldump/pooldump", builddir());
	snprintf(pid, sizeof(pid), "%d", (int)target->pid);
	if (json) {
		memmove(argv + 2, argv + 1, 5 * sizeof(*argv));
		argv[1] = "--json";
		count++;
	}
	for (; *arguments != NULL && count < 15; arguments++)
		argv[count++] = *arguments;
	argv[count] = NULL;
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(fileno(out), STDOUT_FILENO);
		dup2(fileno(err), STDERR_FILENO);
		if (uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
			_exit(126);
		execv(program, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status), "pooldump died of signal %d", WTERMSIG(status));
	result.status = WEXITSTATUS(status);
	result.out = read_stream(out);
	result.err = read_stream(err);
	return result;
}

static void result_free(struct result *result)
{
	free(result->out);
	free(result->err);
}

/* Starts scan_driver in mode, as uid when uid >= 0 (its node directory then
 * that user's), and waits for its "ready". */
static void target_start(struct target *target, const char *mode, int uid)
{
	char line[128];
	int in[2], out[2];

	memset(target, 0, sizeof(*target));
	fixture_driver_run_init(&target->run, builddir(), "tests/node/scan_driver", NULL);
	if (uid >= 0)
		ck_assert_int_eq(chown(target->run.base, (uid_t)uid, (gid_t)uid), 0);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	target->pid = fork();
	ck_assert_int_ge(target->pid, 0);
	if (target->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		if (uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
			_exit(126);
		fixture_driver_run_environment(&target->run);
		execl(target->run.program, target->run.program, mode, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	target->input = in[1];
	target->output = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(target->output);
	ck_assert_msg(fgets(line, sizeof(line), target->output) != NULL,
		"scan_driver said nothing");
	ck_assert_msg(sscanf(line, "ready %d", &target->area) == 1, "%s", line);
}

static void target_finish(struct target *target)
{
	int status;

	close(target->input);
	ck_assert_int_eq(waitpid(target->pid, &status, 0), target->pid);
	fclose(target->output);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "scan_driver: status 0x%x",
		status);
	fixture_remove_tree(target->run.base);
}

/* The verdict of scan_driver's own lost blocks (and no other). */
#define DRIVER_LOST                                                                                \
	"500 byte(s) unreferenced in 2 allocation(s), 240 byte(s) indirectly lost "                \
	"in 2 allocation(s)"

/* pooldump scan ARGUMENTS of target as its own user: status 1 (something
 * lost) and the line "SUMMARY: area_malloc: SUMMARY."; the caller frees. */
static struct result scan_finding(const struct target *target, const char *const *arguments,
	const char *summary)
{
	struct result result = scan(target, -1, false, arguments);
	char line[256];

	snprintf(line, sizeof(line), "SUMMARY: area_malloc: %s.\n", summary);
	ck_assert_msg(result.status == 1, "%d\n%.3000s\n%s", result.status, result.out, result.err);
	ck_assert_msg(strstr(result.out, line) != NULL, "no %s in\n%.3000s", line, result.out);
	return result;
}

/* The lost blocks exactly: two unreferenced groups (200 and 300 bytes) and
 * one indirectly lost (2 x 120); every held block left out. */
START_TEST(test_scan_reports_exactly_the_lost_blocks)
{
	const char *const arguments[] = { "--min-age", "0", "--interval", "0.1", NULL };
	struct target target;
	struct result result;

	target_start(&target, "wait", -1);
	result = scan_finding(&target, arguments, DRIVER_LOST);
	ck_assert_msg(strstr(result.out, "Unreferenced: 300 byte(s) in 1 allocation(s)") != NULL,
		"%.3000s", result.out);
	ck_assert_msg(strstr(result.out, "Unreferenced: 200 byte(s) in 1 allocation(s)") != NULL,
		"%.3000s", result.out);
	ck_assert_msg(strstr(result.out, "Indirectly lost: 240 byte(s) in 2 allocation(s)") != NULL,
		"%.3000s", result.out);
	ck_assert_msg(strstr(result.out, " in lose_overwritten+") != NULL, "%.3000s", result.out);
	ck_assert_msg(strstr(result.out, " in lose_container+") != NULL, "%.3000s", result.out);
	ck_assert_msg(strstr(result.out, " in lose_contents+") != NULL, "%.3000s", result.out);
	ck_assert_str_eq(result.err, "");
	result_free(&result);
	target_finish(&target);
}
END_TEST

/* The same verdict as one JSON document: kind, count and bytes a group,
 * and the totals. */
START_TEST(test_scan_json)
{
	const char *const arguments[] = { "--min-age", "0", "--interval", "0.1", NULL };
	struct target target;
	struct result result;
	struct json *document;
	const struct json *groups;
	size_t unreferenced = 0, indirect = 0;

	target_start(&target, "wait", -1);
	result = scan(&target, -1, true, arguments);
	ck_assert_msg(result.status == 1, "%d\n%.3000s\n%s", result.status, result.out, result.err);
	document = json_parse_asserted(result.out);
	ck_assert_str_eq(json_member(document, "query", JSON_STRING)->string, "scan");
	ck_assert_int_eq((int)json_member(document, "unreferenced_blocks", JSON_NUMBER)->number, 2);
	ck_assert_int_eq((int)json_member(document, "unreferenced_bytes", JSON_NUMBER)->number,
		500);
	ck_assert_int_eq((int)json_member(document, "indirect_blocks", JSON_NUMBER)->number, 2);
	ck_assert_int_eq((int)json_member(document, "indirect_bytes", JSON_NUMBER)->number, 240);
	groups = json_member(document, "groups", JSON_ARRAY);
	ck_assert_uint_eq(groups->count, 3);
	for (size_t i = 0; i < groups->count; i++) {
		const char *kind = json_member(groups->items[i], "kind", JSON_STRING)->string;
		int count = (int)json_member(groups->items[i], "count", JSON_NUMBER)->number;
		int bytes = (int)json_member(groups->items[i], "bytes", JSON_NUMBER)->number;
		if (strcmp(kind, "unreferenced") == 0 && count == 1
			&& (bytes == 200 || bytes == 300))
			unreferenced++;
		else if (strcmp(kind, "indirectly lost") == 0 && count == 2 && bytes == 240)
			indirect++;
		else
			ck_abort_msg("unexpected group %s %d %d", kind, count, bytes);
	}
	ck_assert_uint_eq(unreferenced, 2);
	ck_assert_uint_eq(indirect, 1);
	json_free(document);
	result_free(&result);
	target_finish(&target);
}
END_TEST

/* --stop: one scan with every thread stopped (ptrace), registers and
 * stacks from their pointers up as roots: the same verdict, and the target
 * runs on (it exits 0 when its input ends). */
START_TEST(test_scan_stop)
{
	const char *const arguments[] = { "--stop", "--min-age", "0", NULL };
	struct target target;
	struct result result;

	target_start(&target, "wait", -1);
	result = scan_finding(&target, arguments, DRIVER_LOST);
	ck_assert_msg(strstr(result.out,
			      "blocks no root reaches, every thread stopped, at least "
			      "0 s old\n")
			!= NULL,
		"%.3000s", result.out);
	ck_assert_str_eq(result.err, "");
	result_free(&result);
	target_finish(&target);
}
END_TEST

/* Blocks younger than --min-age are never reported: status 0. */
/* A line "NAME: N kB" of /proc/PID/status, in kB; -1 when absent. */
static long status_kib(pid_t pid, const char *name)
{
	char path[64], line[256];
	long value = -1;
	size_t length = strlen(name);
	FILE *file;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	file = fopen(path, "r");
	ck_assert_ptr_nonnull(file);
	while (fgets(line, sizeof(line), file) != NULL)
		if (strncmp(line, name, length) == 0 && line[length] == ':')
			value = strtol(line + length + 1, NULL, 10);
	fclose(file);
	return value;
}

/* A target with 4 GiB it never touched but for one page (which holds the
 * only pointer to a block): the scans read that page and leave the rest
 * alone. Before, the scan read every page of a mapping under 1 TiB, and
 * the kernel faulted each in, in the target: pieces of AddressSanitizer's
 * shadow grew a test process to 24 GiB until the OOM killer ended it.
 * Here reading the 4 GiB would map a zero page at each of its million
 * pages: 8 MiB of page tables, or 4 GiB resident where reads allocate. */
START_TEST(test_scan_leaves_untouched_memory_alone)
{
	const char *const stopped[] = { "--stop", "--min-age", "0", NULL };
	const char *const twice[] = { "--min-age", "0", "--interval", "0.1", NULL };
	struct target target;
	struct result result;
	long rss, tables;

	target_start(&target, "reserve", -1);
	rss = status_kib(target.pid, "VmRSS");
	tables = status_kib(target.pid, "VmPTE");
	ck_assert(rss > 0 && tables > 0);
	result = scan_finding(&target, stopped, DRIVER_LOST);
	result_free(&result);
	result = scan_finding(&target, twice, DRIVER_LOST);
	result_free(&result);
	ck_assert_msg(status_kib(target.pid, "VmPTE") - tables < 1024,
		"the scans grew the target's page tables from %ld to %ld kB", tables,
		status_kib(target.pid, "VmPTE"));
	ck_assert_msg(status_kib(target.pid, "VmRSS") - rss < 64 * 1024,
		"the scans grew the target's resident set from %ld to %ld kB", rss,
		status_kib(target.pid, "VmRSS"));
	target_finish(&target);
}
END_TEST

START_TEST(test_scan_min_age)
{
	const char *const arguments[] = { "--min-age", "3600", "--interval", "0", NULL };
	struct target target;
	struct result result;

	target_start(&target, "wait", -1);
	result = scan(&target, -1, false, arguments);
	ck_assert_msg(result.status == 0, "%d\n%s\n%s", result.status, result.out, result.err);
	ck_assert_msg(strstr(result.out,
			      "SUMMARY: area_malloc: 0 byte(s) unreferenced in 0 "
			      "allocation(s), 0 byte(s) indirectly lost in 0 "
			      "allocation(s).\n")
			!= NULL,
		"%.3000s", result.out);
	result_free(&result);
	target_finish(&target);
}
END_TEST

START_TEST(test_scan_bad_arguments)
{
	const char *const bad[] = { "--min-age", "soon", NULL };
	struct target target = { .pid = 1 };
	struct result result;

	snprintf(target.run.node_dir, sizeof(target.run.node_dir), "/nonexistent");
	result = scan(&target, -1, false, bad);
	ck_assert_int_eq(result.status, 2);
	ck_assert_str_eq(result.err,
		"pooldump: error: bad number of seconds for --min-age; usage: "
		"scan [--min-age SECONDS] [--interval SECONDS] [--stop]\n"
		"Try 'pooldump help' for more information.\n");
	result_free(&result);
}
END_TEST

/* A dead process's node: its memory is gone. */
START_TEST(test_scan_dead_process)
{
	const char *const arguments[] = { "--min-age", "0", "--interval", "0", NULL };
	struct target target;
	struct result result;

	target_start(&target, "wait", -1);
	kill(target.pid, SIGKILL);
	ck_assert_int_eq(waitpid(target.pid, NULL, 0), target.pid);
	result = scan(&target, -1, false, arguments);
	ck_assert_msg(result.status == 3, "%d\n%s\n%s", result.status, result.out, result.err);
	ck_assert_msg(strstr(result.err, "the process is gone: its memory cannot be scanned\n")
			!= NULL,
		"%s", result.err);
	result_free(&result);
	close(target.input);
	fclose(target.output);
	fixture_remove_tree(target.run.base);
}
END_TEST

/* A process that is not dumpable, read by its own user without
 * CAP_SYS_PTRACE (uid 65534 both): refused, status 4, with --stop too.
 * Needs root (skipped otherwise). */
START_TEST(test_scan_refused)
{
	const char *const arguments[] = { "--min-age", "0", "--interval", "0", NULL };
	struct target target;
	struct result result;

	if (geteuid() != 0)
		return;
	target_start(&target, "dumpable0", 65534);
	result = scan(&target, 65534, false, arguments);
	ck_assert_msg(result.status == 4, "%d\n%s\n%s", result.status, result.out, result.err);
	ck_assert_msg(strstr(result.err, "cannot read the memory of process") != NULL, "%s",
		result.err);
	result_free(&result);
	/* --stop: ptrace is refused the same way */
	result = scan(&target, 65534, false, (const char *const[]){ "--stop", NULL });
	ck_assert_msg(result.status == 4, "%d\n%s\n%s", result.status, result.out, result.err);
	ck_assert_msg(strstr(result.err, "cannot stop process") != NULL, "%s", result.err);
	result_free(&result);
	target_finish(&target);
}
END_TEST

/*
 * A block whose only pointer is in a waiting thread's register (r12, in
 * register_holder's thread): --stop reads every thread's registers and
 * finds it held (the verdict of test_scan_stop); a scan of the running
 * process cannot read a register, so it reports the block unreferenced
 * (pooldump(1) says so): the one case where only --stop gets it right.
 * x86-64 only (the holder is assembly).
 */
START_TEST(test_scan_register_held)
{
#if defined(__x86_64__)
	const char *const stopped[] = { "--stop", "--min-age", "0", NULL };
	const char *const running[] = { "--min-age", "0", "--interval", "0.1", NULL };
	struct target target;
	struct result result;

	target_start(&target, "register", -1);
	result = scan_finding(&target, stopped, DRIVER_LOST);
	ck_assert_msg(strstr(result.out, "register_holder") == NULL, "%.3000s", result.out);
	result_free(&result);

	result = scan_finding(&target, running,
		"636 byte(s) unreferenced in 3 allocation(s), 240 byte(s) indirectly lost in 2 "
		"allocation(s)");
	ck_assert_msg(strstr(result.out, "\nUnreferenced: 136 byte(s) in 1 allocation(s)") != NULL
			&& strstr(result.out, " in register_holder+") != NULL,
		"%.3000s", result.out);
	result_free(&result);
	/* it runs on: the holder gives its block back when its input ends */
	target_finish(&target);
#endif
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("pooldump scan");
	TCase *tcase = tcase_create("scan");
	SRunner *runner;
	int failed;

	tcase_add_test(tcase, test_scan_reports_exactly_the_lost_blocks);
	tcase_add_test(tcase, test_scan_json);
	tcase_add_test(tcase, test_scan_stop);
	tcase_add_test(tcase, test_scan_leaves_untouched_memory_alone);
	tcase_add_test(tcase, test_scan_min_age);
	tcase_add_test(tcase, test_scan_bad_arguments);
	tcase_add_test(tcase, test_scan_dead_process);
	tcase_add_test(tcase, test_scan_refused);
	tcase_add_test(tcase, test_scan_register_held);
	suite_add_tcase(suite, tcase);
	runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
