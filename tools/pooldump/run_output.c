/*
 * run_output.c - where "pooldump run" puts what it learns: OUTDIR, its
 * reports directory (the command's log_path), junit.xml and report.json
 * (junit.c and report_json.c write them).
 *
 * Invariants: the output files are opened before the command runs, so an
 * unwritable OUTDIR fails at once (exit 125) rather than after a long test
 * run; close_outputs() removes them again when run_main() gives up (the
 * command cannot be started, its reports cannot be read). The report.*
 * files an earlier run left are removed first, so that every file read
 * afterwards belongs to this run.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/safe_file.h"

#include "junit.h"
#include "report_json.h"
#include "run_internal.h"

#define REPORTS_SUBDIR "reports"

/* mkdir -p */
static bool make_directories(const char *path)
{
	char partial[PATH_MAX];
	size_t length = strlen(path);

	if (length == 0 || length >= sizeof(partial)) {
		errno = length == 0 ? ENOENT : ENAMETOOLONG;
		return false;
	}
	memcpy(partial, path, length + 1);
	for (char *slash = strchr(partial + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash != NULL)
			*slash = '\0';
		if (mkdir(partial, 0777) != 0 && errno != EEXIST)
			return false;
		if (slash == NULL)
			return true;
		*slash = '/';
		while (slash[1] == '/')
			slash++;
	}
}

/* Removes the report.* files an earlier run left. */
static int remove_stale_reports(const char *dir)
{
	struct dirent *entry;
	DIR *directory = opendir(dir);
	int status = 0;

	if (directory == NULL)
		return runner_error("cannot read %s: %s", dir, strerror(errno));
	while ((entry = readdir(directory)) != NULL) {
		if (strncmp(entry->d_name, "report.", 7) != 0)
			continue;
		if (unlinkat(dirfd(directory), entry->d_name, 0) != 0 && errno != ENOENT) {
			status = runner_error("cannot remove the stale %s/%s: %s", dir,
				entry->d_name, strerror(errno));
			break;
		}
	}
	closedir(directory);
	return status;
}

/* Output files are created anew, never through a link or over another
 * user's file (format/safe_file.h): OUTDIR or --junit may name a shared
 * directory. */
static int open_output(const char *argument, const char *dir, const char *default_name, char *path,
	size_t size, FILE **file)
{
	char why[PATH_MAX + 160];
	int fd;

	if (argument != NULL)
		snprintf(path, size, "%s", argument);
	else
		snprintf(path, size, "%s/%s", dir, default_name);
	fd = safe_create(path, SAFE_REPLACE, 0644, why, sizeof(why));
	if (fd < 0)
		return runner_error("cannot write %s: %s", path, why);
	*file = fdopen(fd, "w");
	if (*file == NULL) {
		close(fd);
		return runner_error("cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

/* A directory the runner writes into (or the command's processes, its
 * reports) must be one nobody else can plant files or links in. */
static int check_directory(const char *path)
{
	char why[PATH_MAX + 160];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool safe;

	if (fd < 0)
		return runner_error("cannot open %s: %s", path, strerror(errno));
	safe = safe_directory(fd, path, why, sizeof(why));
	close(fd);
	return safe ? 0 : runner_error("%s", why);
}

int prepare_output(struct run_config *config)
{
	const char *dir =
		config->output_dir_argument ? config->output_dir_argument : DEFAULT_OUTPUT_DIR;
	int status;

	if (!make_directories(dir) || realpath(dir, config->output_dir) == NULL)
		return runner_error("cannot create the output directory %s: %s", dir,
			strerror(errno));
	if ((size_t)snprintf(config->reports_dir, sizeof(config->reports_dir), "%s/" REPORTS_SUBDIR,
		    config->output_dir)
		>= sizeof(config->reports_dir) - 32)
		return runner_error("output directory %s: path too long", config->output_dir);
	if ((status = check_directory(config->output_dir)) != 0)
		return status;
	if (mkdir(config->reports_dir, 0777) != 0 && errno != EEXIST)
		return runner_error("cannot create %s: %s", config->reports_dir, strerror(errno));
	if ((status = check_directory(config->reports_dir)) != 0)
		return status;
	if (access(config->reports_dir, W_OK | X_OK) != 0)
		return runner_error("cannot write to %s: %s", config->reports_dir, strerror(errno));
	if ((status = remove_stale_reports(config->reports_dir)) != 0)
		return status;
	if ((status = open_output(config->junit_argument, config->output_dir, "junit.xml",
		     config->junit_path, sizeof(config->junit_path), &config->junit_file))
		!= 0)
		return status;
	return open_output(config->json_argument, config->output_dir, "report.json",
		config->json_path, sizeof(config->json_path), &config->json_file);
}

int write_outputs(const struct run_results *results, struct run_config *config, int exit_status)
{
	struct run_description description = {
		.command = config->command,
		.module_dir = config->module_dir,
		.kernel_module_path = config->kernel_module_path,
		.options = config->area_malloc_options,
		.output_dir = config->output_dir,
		.junit_path = config->junit_path,
		.json_path = config->json_path,
		.exit_status = exit_status,
	};
	char error[256];
	int status = 0;

	if (!junit_write(results, config->junit_file, error, sizeof(error)))
		status = runner_error("cannot write %s: %s", config->junit_path, error);
	if (fclose(config->junit_file) != 0 && status == 0)
		status = runner_error("cannot write %s: %s", config->junit_path, strerror(errno));
	config->junit_file = NULL;
	if (!report_json_write(results, &description, config->json_file, error, sizeof(error)))
		status = runner_error("cannot write %s: %s", config->json_path, error);
	if (fclose(config->json_file) != 0 && status == 0)
		status = runner_error("cannot write %s: %s", config->json_path, strerror(errno));
	config->json_file = NULL;
	return status;
}

void close_outputs(struct run_config *config, bool remove)
{
	if (config->junit_file != NULL) {
		fclose(config->junit_file);
		if (remove)
			unlink(config->junit_path);
	}
	if (config->json_file != NULL) {
		fclose(config->json_file);
		if (remove)
			unlink(config->json_path);
	}
	config->junit_file = config->json_file = NULL;
}
