/*
 * fuzz_support.c - failing, module lookup, scratch directories and the
 * thread setup shared by the fuzz targets (see fuzz_target.h).
 *
 * A failure message goes to standard error and, when a sanitizer runtime is
 * linked, to its report stream too: scripts/check-fuzz runs libFuzzer with
 * -close_fd_mask, which silences standard error but keeps that stream.
 *
 * Locking: none; failure_handler is set before any input runs.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_target.h"

/* Provided by the sanitizer runtimes; absent from plain builds. */
extern void __sanitizer_report_error_summary(const char *summary) __attribute__((weak));

static fuzz_failure_fn failure_handler;

void fuzz_set_failure_handler(fuzz_failure_fn handler)
{
	failure_handler = handler;
}

void fuzz_fail_at(const char *file, int line, const char *format, ...)
{
	char message[2048];
	int length;
	va_list arguments;

	length = snprintf(message, sizeof(message), "%s:%d: ", file, line);
	if (length < 0 || (size_t)length >= sizeof(message))
		length = 0;
	va_start(arguments, format);
	vsnprintf(message + length, sizeof(message) - (size_t)length, format, arguments);
	va_end(arguments);
	if (failure_handler != NULL)
		failure_handler(message);
	fprintf(stderr, "fuzz target failed: %s\n", message);
	fflush(stderr);
	if (__sanitizer_report_error_summary != NULL) {
		char summary[2100];
		snprintf(summary, sizeof(summary), "fuzz target failed: %s", message);
		__sanitizer_report_error_summary(summary);
	}
	abort();
}

void fuzz_module_dir(const char *variant, char *path, size_t size)
{
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	struct stat status;
	int written;

	if (builddir != NULL && builddir[0] != '\0') {
		written = snprintf(path, size, "%s/modules/%s", builddir, variant);
	} else {
		char program[PATH_MAX];
		ssize_t length = readlink("/proc/self/exe", program, sizeof(program) - 1);
		FUZZ_CHECK(length > 0, "cannot find the running program: %s", strerror(errno));
		program[length] = '\0';
		/* the program is <builddir>/tests/fuzz/NAME */
		written = snprintf(path, size, "%s/../../modules/%s", dirname(program), variant);
	}
	FUZZ_CHECK(written > 0 && (size_t)written < size, "module directory path too long");
	FUZZ_CHECK(stat(path, &status) == 0 && S_ISDIR(status.st_mode),
		"no module directory %s (set AREA_MALLOC_TEST_BUILDDIR to the build directory)",
		path);
}

void fuzz_temp_dir(const char *tag, char *path, size_t size)
{
	const char *base = getenv("TMPDIR");
	int written;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	written = snprintf(path, size, "%s/area_malloc_%s_XXXXXX", base, tag);
	FUZZ_CHECK(written > 0 && (size_t)written < size, "temporary directory path too long");
	FUZZ_CHECK(mkdtemp(path) != NULL, "mkdtemp %s: %s", path, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
	(void)status;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fuzz_remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void *do_nothing(void *argument)
{
	return argument;
}

void fuzz_become_multithreaded(void)
{
	pthread_t thread;

	FUZZ_CHECK(pthread_create(&thread, NULL, do_nothing, NULL) == 0, "pthread_create failed");
	pthread_join(thread, NULL);
}
