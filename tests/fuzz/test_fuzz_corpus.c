/*
 * test_fuzz_corpus.c - the fuzz targets' regression suite for make check:
 * every file of tests/fuzz/corpus/TARGET and tests/fuzz/regressions/TARGET
 * is run through its target, compiled from the very sources the libFuzzer
 * binaries are (fuzz_ops.c, fuzz_node_reader.c, fuzz_options.c), so a
 * crash or a failed model check found by fuzzing fails here too, in every
 * build (plain, --enable-asan, --enable-fuzzing).
 *
 * One test per target and flavour (fuzz_ops runs on the release and on the
 * debug module, from the same corpus); Check runs each in a process of its
 * own, which is required: a target's setup loads its module for the life
 * of the process. A failed check inside a target becomes a Check failure
 * naming the input file; a crash (signal or sanitizer report) names it on
 * standard error.
 *
 * The corpora are found under FUZZ_SOURCE_DIR (the source tree's
 * tests/fuzz), or FUZZ_CORPUS_ROOT in the environment.
 *
 * Locking: none; each test is one thread of its own process.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_target.h"
#include "support/check_main.h"

#ifndef FUZZ_SOURCE_DIR
#error "FUZZ_SOURCE_DIR must name the source tree's tests/fuzz"
#endif

/* The largest input replayed (libFuzzer's default -max_len is 4096). */
#define MAX_INPUT_BYTES ((size_t)1 << 20)

static char current_input[2 * PATH_MAX];

static void fail_in_check(const char *message)
{
	ck_abort_msg("%s: %s", current_input, message);
}

/* A crash (a signal, or a sanitizer's report) names the input on stderr. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void name_crashed_input(void)
{
	static const char prefix[] = "test_fuzz_corpus: crashed while replaying ";
	size_t length = strlen(current_input);

	if (write(STDERR_FILENO, prefix, sizeof(prefix) - 1) < 0
		|| write(STDERR_FILENO, current_input, length) < 0
		|| write(STDERR_FILENO, "\n", 1) < 0)
		return;
}

static void crash_signal(int signal_number)
{
	name_crashed_input();
	signal(signal_number, SIG_DFL);
	raise(signal_number);
}

static void name_inputs_of_crashes(void)
{
	static const int signals[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], crash_signal);
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(name_crashed_input);
}

static const char *corpus_root(void)
{
	const char *root = getenv("FUZZ_CORPUS_ROOT");

	return root != NULL && root[0] != '\0' ? root : FUZZ_SOURCE_DIR;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files of directory, sorted (a missing directory has none). */
static size_t list_inputs(const char *directory, char ***names)
{
	DIR *stream = opendir(directory);
	size_t count = 0, capacity = 0;
	struct dirent *entry;

	*names = NULL;
	if (stream == NULL) {
		ck_assert_msg(errno == ENOENT, "cannot read %s: %s", directory, strerror(errno));
		return 0;
	}
	while ((entry = readdir(stream)) != NULL) {
		char path[PATH_MAX + sizeof(entry->d_name) + 1];
		struct stat status;
		snprintf(path, sizeof(path), "%s/%s", directory, entry->d_name);
		if (entry->d_name[0] == '.' || stat(path, &status) != 0 || !S_ISREG(status.st_mode))
			continue;
		if (count == capacity) {
			capacity = capacity ? capacity * 2 : 64;
			*names = realloc(*names, capacity * sizeof(**names));
			ck_assert_ptr_nonnull(*names);
		}
		(*names)[count] = strdup(entry->d_name);
		ck_assert_ptr_nonnull((*names)[count]);
		count++;
	}
	closedir(stream);
	if (count > 1)
		qsort(*names, count, sizeof(**names), compare_names);
	return count;
}

static size_t read_input(const char *path, uint8_t **data)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat status;
	ssize_t got;

	ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &status), 0);
	ck_assert_msg((size_t)status.st_size <= MAX_INPUT_BYTES, "%s is larger than %zu bytes",
		path, MAX_INPUT_BYTES);
	/* one byte more than needed: a zero-length input still gets a buffer */
	*data = malloc((size_t)status.st_size + 1);
	ck_assert_ptr_nonnull(*data);
	got = status.st_size > 0 ? read(fd, *data, (size_t)status.st_size) : 0;
	ck_assert_msg(got == status.st_size, "short read of %s", path);
	close(fd);
	return (size_t)got;
}

/* Replays corpus/SET and regressions/SET through one_input; returns how many. */
static size_t replay(const char *set, int (*one_input)(const uint8_t *, size_t))
{
	static const char *const kinds[] = { "corpus", "regressions" };
	size_t replayed = 0;

	fuzz_set_failure_handler(fail_in_check);
	name_inputs_of_crashes();
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char directory[PATH_MAX];
		char **names;
		size_t count;
		snprintf(directory, sizeof(directory), "%s/%s/%s", corpus_root(), kinds[k], set);
		count = list_inputs(directory, &names);
		for (size_t i = 0; i < count; i++) {
			uint8_t *data;
			size_t size;
			snprintf(current_input, sizeof(current_input), "%s/%s", directory,
				names[i]);
			size = read_input(current_input, &data);
			ck_assert_int_eq(one_input(data, size), 0);
			free(data);
			free(names[i]);
			replayed++;
		}
		free(names);
	}
	return replayed;
}

START_TEST(test_fuzz_ops_release)
{
	fuzz_ops_release_setup();
	ck_assert_uint_gt(replay("fuzz_ops", fuzz_ops_one_input), 0);
}
END_TEST

START_TEST(test_fuzz_ops_debug)
{
	fuzz_ops_debug_setup();
	ck_assert_uint_gt(replay("fuzz_ops", fuzz_ops_one_input), 0);
}
END_TEST

START_TEST(test_fuzz_node_reader)
{
	fuzz_node_reader_setup();
	ck_assert_uint_gt(replay("fuzz_node_reader", fuzz_node_reader_one_input), 0);
}
END_TEST

START_TEST(test_fuzz_options)
{
	fuzz_options_setup();
	ck_assert_uint_gt(replay("fuzz_options", fuzz_options_one_input), 0);
}
END_TEST

static Suite *fuzz_corpus_suite(void)
{
	Suite *suite = suite_create("fuzz_corpus");
	TCase *ops = tcase_create("fuzz_ops");
	TCase *node_reader = tcase_create("fuzz_node_reader");
	TCase *options = tcase_create("fuzz_options");

	tcase_add_test(ops, test_fuzz_ops_release);
	tcase_add_test(ops, test_fuzz_ops_debug);
	suite_add_tcase(suite, ops);
	tcase_add_test(node_reader, test_fuzz_node_reader);
	suite_add_tcase(suite, node_reader);
	tcase_add_test(options, test_fuzz_options);
	suite_add_tcase(suite, options);
	return suite;
}

int main(void)
{
	/* each target's setup holds its module for the life of the process */
	return run_check_suite(fuzz_corpus_suite(), CK_FORK);
}
