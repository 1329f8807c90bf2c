/*
 * test_security.c - what another user (or an unlucky path) can do to the
 * debug build and pooldump, and that each is refused or harmless
 * (issue 17; area_malloc_debug(7), SECURITY):
 *   - log_path: a symbolic link or another user's file planted where a
 *     report goes is never written through;
 *   - pooldump run: an output directory another user owns is refused, and
 *     a link planted where junit.xml goes in a shared sticky directory is
 *     not followed;
 *   - suppressions= naming /dev/zero, /dev/urandom, a FIFO or a directory
 *     gives one clear warning, never a hang or a flood;
 *   - an image path naming a FIFO or a device (as a hostile node's process
 *     file may) is neither waited on nor opened by the symbolizer;
 *   - the module's dead-node cleanup leaves a node that is still being
 *     created (young, its process running) alone;
 *   - a hostile node of another user (its pool always changing, its lock
 *     word full of attacker bytes) read by root's pooldump: no lock taken,
 *     read by a child that became that user, a partial view;
 *   - the descriptor budget: 100 pools under a limit of 16 descriptors;
 *   - the default node directory taken by another user: the node goes
 *     under $XDG_RUNTIME_DIR, where pooldump finds it (a mount namespace
 *     with a private /dev/shm).
 * The "other user" is a forked child that switches to an unused uid with
 * setresuid, which takes root: as another user these cases are skipped
 * with a message (CI runs as root).
 *
 * Locking: none; every case runs in a forked process of its own (Check's
 * fork mode), and its children are waited for.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>
#include <drivers/module.h>

#include "format/node_format.h"
#include "format/symbolize.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/debug_options.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
/* far above any uid a test machine gives a user */
#define OTHER_UID 61123
#define SECRET "root's own secret\n"

static char scratch[256];

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set: run through make check");
	return dir;
}

static void make_scratch(mode_t mode)
{
	snprintf(scratch, sizeof(scratch), "%s/security-XXXXXX",
		getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	ck_assert_int_eq(chmod(scratch, mode), 0);
}

static void remove_scratch(void)
{
	char command[512];

	snprintf(command, sizeof(command), "rm -rf '%s'", scratch);
	ck_assert_int_eq(system(command), 0);
}

static bool skip_unless_root(void)
{
	if (geteuid() == 0)
		return false;
	fprintf(stderr,
		"test_security: not root: the second identity needs setresuid; "
		"case skipped\n");
	return true;
}

/* Runs plant(argument) as OTHER_UID in a child, and waits for it. */
static void as_other_user(void (*plant)(const char *), const char *argument)
{
	int status;
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		if (setresgid(OTHER_UID, OTHER_UID, OTHER_UID) != 0
			|| setresuid(OTHER_UID, OTHER_UID, OTHER_UID) != 0)
			_exit(90);
		plant(argument);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"the other user's child failed (status %#x)", status);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static bool file_holds(const char *path, const char *text)
{
	char buffer[256] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return false;
	got = read(fd, buffer, sizeof(buffer) - 1);
	close(fd);
	return got >= 0 && strcmp(buffer, text) == 0;
}

/* Reads what fd gives until EOF (a child's stderr). */
static char *read_all(int fd)
{
	size_t size = 0, capacity = 4096;
	char *text = malloc(capacity);
	ssize_t got;

	ck_assert_ptr_nonnull(text);
	while ((got = read(fd, text + size, capacity - size - 1)) > 0) {
		size += (size_t)got;
		if (capacity - size < 2) {
			capacity *= 2;
			text = realloc(text, capacity);
			ck_assert_ptr_nonnull(text);
		}
	}
	text[size] = '\0';
	return text;
}

/* ---- a driver in a child: loads the debug module with options, makes one
 * double free (a report), unloads; its stderr comes back ---- */

struct driver_run {
	int status;
	char *err;
	double seconds;
};

static void (*before_driver)(void);

static void drive(const char *options)
{
	area_malloc_module_info *am;
	char path[4096];
	const void *pool;
	void *block;

	if (before_driver != NULL)
		before_driver();
	snprintf(path, sizeof(path), "%s/modules/debug", builddir());
	setenv("KERNEL_MODULE_PATH", path, 1);
	set_debug_options(options);
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) != B_OK)
		_exit(91);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	block = am->malloc(pool, 100);
	am->free(pool, block);
	am->free(pool, block); /* a double free: a report */
	am->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	_exit(0);
}

/* Forks a child whose standard error goes to a pipe, and which a hang ends
 * with SIGALRM after seconds (the case reports the signal). Returns the
 * child's pid (0 in the child); *err_fd is the pipe's read end. */
static pid_t fork_with_stderr_pipe(int *err_fd, unsigned seconds)
{
	int pipe_fds[2];
	pid_t child;

	ck_assert_int_eq(pipe(pipe_fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(pipe_fds[1], STDERR_FILENO);
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		test_alarm(seconds);
		return 0;
	}
	close(pipe_fds[1]);
	*err_fd = pipe_fds[0];
	return child;
}

/* Everything the child wrote to its standard error, once it has ended. */
static char *read_stderr_pipe(int err_fd)
{
	char *text = read_all(err_fd);

	close(err_fd);
	return text;
}

static struct driver_run run_driver(const char *options)
{
	struct driver_run run = { 0, NULL, 0 };
	struct timespec start, end;
	pid_t child;
	int err_fd;

	clock_gettime(CLOCK_MONOTONIC, &start);
	child = fork_with_stderr_pipe(&err_fd, 20);
	if (child == 0)
		drive(options);
	run.err = read_stderr_pipe(err_fd);
	ck_assert_int_eq(waitpid(child, &run.status, 0), child);
	clock_gettime(CLOCK_MONOTONIC, &end);
	run.seconds = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
	return run;
}

static void assert_driver_finished(const struct driver_run *run)
{
	ck_assert_msg(!WIFSIGNALED(run->status),
		"the driver died of signal %d (a hang ends in "
		"SIGALRM):\n%s",
		WTERMSIG(run->status), run->err);
}

/* ---- log_path ---- */

static char planted_target[512];

/* The other user plants, in the sticky directory, a link named after the
 * driver's report file (report.PID: the driver is the planting process's
 * parent) to root's secret, and a file of its own for the next pid. */
static void plant_report_links(const char *dir)
{
	char link_path[600];

	snprintf(link_path, sizeof(link_path), "%s/report.%d", dir, (int)getppid());
	if (symlink(planted_target, link_path) != 0)
		_exit(92);
}

static void plant_before_driver(void)
{
	as_other_user(plant_report_links, scratch);
}

START_TEST(log_path_never_follows_a_planted_link)
{
	char options[600];
	struct driver_run run;

	if (skip_unless_root())
		return;
	make_scratch(01777);
	snprintf(planted_target, sizeof(planted_target), "%s/secret", scratch);
	write_file(planted_target, SECRET, 0600);
	snprintf(options, sizeof(options), "log_path=%s/report:node=0:exitcode=0", scratch);
	before_driver = plant_before_driver;
	run = run_driver(options);
	before_driver = NULL;
	assert_driver_finished(&run);
	ck_assert_msg(file_holds(planted_target, SECRET),
		"root's file was written through the planted link");
	/* the report went to standard error instead, with the reason */
	ck_assert_msg(strstr(run.err, "log_path:") != NULL
			&& strstr(run.err, "reporting to standard error") != NULL
			&& strstr(run.err, "ERROR: area_malloc: double-free") != NULL,
		"%s", run.err);
	free(run.err);
	remove_scratch();
}
END_TEST

/* The other user's own file where the report goes (a sticky directory lets
 * them create it first): not appended to. */
static void plant_own_report_file(const char *dir)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/report.%d", dir, (int)getppid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	if (fd < 0)
		_exit(93);
	close(fd);
}

static void plant_file_before_driver(void)
{
	as_other_user(plant_own_report_file, scratch);
}

static bool planted_file_is_empty(void)
{
	/* the driver ran in a child: its file is found by its owner */
	DIR *dir = opendir(scratch);
	struct dirent *entry;
	struct stat status;
	bool empty = true;

	ck_assert_ptr_nonnull(dir);
	while ((entry = readdir(dir)) != NULL) {
		char file[900];
		if (strncmp(entry->d_name, "report.", 7) != 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", scratch, entry->d_name);
		if (stat(file, &status) == 0 && status.st_uid == OTHER_UID && status.st_size != 0)
			empty = false;
	}
	closedir(dir);
	return empty;
}

START_TEST(log_path_never_appends_to_another_users_file)
{
	char options[600];
	struct driver_run run;

	if (skip_unless_root())
		return;
	make_scratch(01777);
	snprintf(options, sizeof(options), "log_path=%s/report:node=0:exitcode=0", scratch);
	before_driver = plant_file_before_driver;
	run = run_driver(options);
	before_driver = NULL;
	assert_driver_finished(&run);
	/* refused by our check, or by the kernel's protected_regular */
	ck_assert_msg(strstr(run.err, "log_path:") != NULL
			&& strstr(run.err, "reporting to standard error") != NULL
			&& strstr(run.err, "ERROR: area_malloc: double-free") != NULL,
		"%s", run.err);
	ck_assert_msg(planted_file_is_empty(), "a report was appended to the other user's file");
	free(run.err);
	remove_scratch();
}
END_TEST

/* A log_path in a directory of the caller's works as before. */
START_TEST(log_path_in_own_directory_works)
{
	char options[600], path[600];
	struct driver_run run;

	make_scratch(0700);
	snprintf(options, sizeof(options), "log_path=%s/report:node=0:exitcode=0", scratch);
	run = run_driver(options);
	assert_driver_finished(&run);
	ck_assert_msg(strstr(run.err, "ERROR: area_malloc") == NULL, "%s", run.err);
	free(run.err);
	/* the report is in the driver's file */
	snprintf(path, sizeof(path), "grep -q 'ERROR: area_malloc: double-free' %s/report.*",
		scratch);
	ck_assert_int_eq(system(path), 0);
	remove_scratch();
}
END_TEST

/* ---- pooldump run ---- */

static int run_pooldump(const char *const *arguments, char **err)
{
	char pooldump[4096];
	int pipe_fds[2], status;
	const char *argv[32];
	size_t count = 0;
	pid_t child;

	snprintf(pooldump, sizeof(pooldump), "%s/tools/pooldump/pooldump", builddir());
	argv[count++] = "pooldump";
	for (size_t i = 0; arguments[i] != NULL && count < 31; i++)
		argv[count++] = arguments[i];
	argv[count] = NULL;
	ck_assert_int_eq(pipe(pipe_fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(pipe_fds[1], STDERR_FILENO);
		dup2(pipe_fds[1], STDOUT_FILENO);
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		test_alarm(30);
		execv(pooldump, (char *const *)argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	*err = read_all(pipe_fds[0]);
	close(pipe_fds[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status), "pooldump died: %s", *err);
	return WEXITSTATUS(status);
}

static void make_other_users_dir(const char *path)
{
	if (mkdir(path, 0755) != 0)
		_exit(94);
}

START_TEST(runner_refuses_an_output_dir_of_another_user)
{
	char out[600], *err;
	int status;

	if (skip_unless_root())
		return;
	make_scratch(01777);
	snprintf(out, sizeof(out), "%s/theirs", scratch);
	as_other_user(make_other_users_dir, out);
	status = run_pooldump((const char *[]){ "run", "-o", out, "--", "/bin/true", NULL }, &err);
	ck_assert_int_eq(status, 125);
	ck_assert_msg(strstr(err, "belongs to user 61123") != NULL, "%s", err);
	free(err);
	remove_scratch();
}
END_TEST

static void plant_junit_link(const char *dir)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/junit.xml", dir);
	if (symlink(planted_target, path) != 0)
		_exit(95);
}

START_TEST(runner_never_writes_through_a_planted_link)
{
	char junit_dir[600], *err;
	int status;

	if (skip_unless_root())
		return;
	make_scratch(01777);
	snprintf(planted_target, sizeof(planted_target), "%s/secret", scratch);
	write_file(planted_target, SECRET, 0600);
	as_other_user(plant_junit_link, scratch);
	snprintf(junit_dir, sizeof(junit_dir), "%s/junit.xml", scratch);
	status = run_pooldump((const char *[]){ "run", "-o", scratch, "--junit", junit_dir, "--",
				      "/bin/true", NULL },
		&err);
	ck_assert_int_eq(status, 125);
	ck_assert_msg(strstr(err, "symbolic link") != NULL, "%s", err);
	ck_assert_msg(file_holds(planted_target, SECRET), "root's file was overwritten");
	free(err);
	remove_scratch();
}
END_TEST

/* ---- suppressions ---- */

static const char *suppression_paths[] = { "/dev/zero", "/dev/urandom", "FIFO", "DIR" };

START_TEST(suppressions_must_be_a_bounded_regular_file)
{
	char options[700], path[600];
	struct driver_run run;
	size_t lines = 0;

	make_scratch(0700);
	if (strcmp(suppression_paths[_i], "FIFO") == 0) {
		snprintf(path, sizeof(path), "%s/fifo", scratch);
		ck_assert_int_eq(mkfifo(path, 0600), 0);
	} else if (strcmp(suppression_paths[_i], "DIR") == 0) {
		snprintf(path, sizeof(path), "%s", scratch);
	} else {
		snprintf(path, sizeof(path), "%s", suppression_paths[_i]);
	}
	snprintf(options, sizeof(options), "suppressions=%s:node=0:exitcode=0", path);
	run = run_driver(options);
	assert_driver_finished(&run);
	ck_assert_msg(run.seconds < 15, "get_module took %.1f s", run.seconds);
	ck_assert_msg(strstr(run.err, "not a regular file") != NULL, "%s: %s", path, run.err);
	for (const char *c = run.err; *c != '\0'; c++)
		lines += *c == '\n';
	ck_assert_msg(lines < 60, "%zu lines of output for %s", lines, path);
	free(run.err);
	remove_scratch();
}
END_TEST

/* A huge regular file is refused too, and a file of many bad lines gives a
 * bounded number of warnings. */
START_TEST(suppression_warnings_are_bounded)
{
	char options[700], path[600];
	struct driver_run run;
	size_t lines = 0;
	FILE *file;

	make_scratch(0700);
	snprintf(path, sizeof(path), "%s/bad", scratch);
	file = fopen(path, "w");
	ck_assert_ptr_nonnull(file);
	for (int i = 0; i < 5000; i++)
		fprintf(file, "garbage line %d\n", i);
	fprintf(file, "leak:some_function\n");
	fclose(file);
	snprintf(options, sizeof(options), "suppressions=%s:node=0:exitcode=0", path);
	run = run_driver(options);
	assert_driver_finished(&run);
	for (const char *c = run.err; *c != '\0'; c++)
		lines += *c == '\n';
	ck_assert_msg(lines < 60, "%zu lines of output", lines);
	ck_assert_msg(strstr(run.err, "4990 more lines") != NULL, "%s", run.err);
	free(run.err);

	ck_assert_int_eq(truncate(path, (off_t)2 << 20), 0);
	run = run_driver(options);
	assert_driver_finished(&run);
	ck_assert_msg(strstr(run.err, "is larger than") != NULL, "%s", run.err);
	free(run.err);
	remove_scratch();
}
END_TEST

/* ---- image paths from a node ---- */

START_TEST(symbolizer_neither_waits_on_nor_opens_special_files)
{
	char fifo[600];
	struct symbolizer_image images[2];
	struct symbol_info info;
	struct symbolizer *symbolizer;

	make_scratch(0700);
	snprintf(fifo, sizeof(fifo), "%s/image-fifo", scratch);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	memset(images, 0, sizeof(images));
	images[0] = (struct symbolizer_image){ fifo, 0x10000, 0x10000, 0x20000, NULL, 0 };
	images[1] = (struct symbolizer_image){ "/dev/zero", 0x30000, 0x30000, 0x40000, NULL, 0 };
	symbolizer = symbolizer_open_images(images, 2);
	ck_assert_ptr_nonnull(symbolizer);
	test_alarm(10); /* a FIFO opened for reading would block here */
	symbolize(symbolizer, 0x10100, &info);
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_MISSING);
	symbolize(symbolizer, 0x30100, &info);
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_MISSING);
	test_alarm(0);
	symbolizer_close(symbolizer);
	remove_scratch();
}
END_TEST

/* ---- the module's dead-node cleanup ---- */

START_TEST(cleanup_spares_a_node_being_created)
{
	char options[700], young[700], old[700], dead[700];
	struct timespec times[2] = { { 0, 0 }, { 0, 0 } };
	struct driver_run run;
	struct stat status;
	pid_t sleeper = fork();

	ck_assert_int_ge(sleeper, 0);
	if (sleeper == 0) {
		pause();
		_exit(0);
	}
	make_scratch(0700);
	/* a running process's node with no locked process file yet: young */
	snprintf(young, sizeof(young), "%s/%d", scratch, (int)sleeper);
	ck_assert_int_eq(mkdir(young, 0700), 0);
	/* the same, but untouched for a minute: dead (nobody holds its lock) */
	snprintf(old, sizeof(old), "%s/%d", scratch, (int)getpid());
	ck_assert_int_eq(mkdir(old, 0700), 0);
	times[0].tv_sec = times[1].tv_sec = time(NULL) - 60;
	ck_assert_int_eq(utimensat(AT_FDCWD, old, times, 0), 0);
	/* a process that is gone */
	snprintf(dead, sizeof(dead), "%s/%d", scratch, 999999);
	ck_assert_int_eq(mkdir(dead, 0700), 0);

	snprintf(options, sizeof(options), "node_dir=%s:keep_dead_nodes=0:exitcode=0", scratch);
	run = run_driver(options);
	assert_driver_finished(&run);
	free(run.err);
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	ck_assert_msg(stat(young, &status) == 0, "the young node of a running process was removed");
	ck_assert_msg(stat(old, &status) != 0, "an old unlocked node was kept");
	ck_assert_msg(stat(dead, &status) != 0, "a dead process's node was kept");
	remove_scratch();
}
END_TEST

/* ---- a hostile node of another user ---- */

/* Where the pool descriptor lies in a pool file: found by its magic. */
static off_t find_descriptor(int fd)
{
	char magic[sizeof(NODE_POOL_MAGIC) - 1];

	for (off_t at = 0; at < 64 * 1024; at += 8) {
		if (pread(fd, magic, sizeof(magic), at) == (ssize_t)sizeof(magic)
			&& memcmp(magic, NODE_POOL_MAGIC, sizeof(magic)) == 0)
			return at;
	}
	return -1;
}

/*
 * The attacker (OTHER_UID): a driver under the debug module with a node in
 * nodes_dir, which then keeps rewriting its own pool file as the attack of
 * issue 17 did: 'A's over the pool's lock (where glibc keeps a robust
 * mutex's list pointers) and an odd seq (a change that never ends, so a
 * reader falls back on whatever it does for a pool it cannot copy). Says
 * "PID AREA" on report_fd, then goes on until killed.
 */
static void hostile_driver(const char *nodes_dir, int report_fd)
{
	struct node_pool_descriptor descriptor;
	area_malloc_module_info *am;
	char path[4096], options[4200], report[64];
	unsigned char garbage[64];
	const void *pool;
	void *block;
	off_t at;
	int fd;

	if (setresgid(OTHER_UID, OTHER_UID, OTHER_UID) != 0
		|| setresuid(OTHER_UID, OTHER_UID, OTHER_UID) != 0)
		_exit(90);
	snprintf(path, sizeof(path), "%s/modules/debug", builddir());
	setenv("KERNEL_MODULE_PATH", path, 1);
	snprintf(options, sizeof(options), "node_dir=%s", nodes_dir);
	set_debug_options(options);
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) != B_OK)
		_exit(91);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	block = am->malloc(pool, 100);
	if (block == NULL)
		_exit(92);
	snprintf(path, sizeof(path), "%s/%d/%s%d", nodes_dir, (int)getpid(), NODE_POOL_FILE_PREFIX,
		(int)area_for(block));
	fd = open(path, O_RDWR);
	at = fd >= 0 ? find_descriptor(fd) : -1;
	if (at < 0 || pread(fd, &descriptor, sizeof(descriptor), at) != (ssize_t)sizeof(descriptor))
		_exit(93);
	snprintf(report, sizeof(report), "%d %d\n", (int)getpid(), (int)area_for(block));
	memset(garbage, 0x41, sizeof(garbage));
	for (uint64_t seq = descriptor.seq | 1;; seq += 2) {
		(void)!pwrite(fd, garbage, sizeof(garbage), (off_t)descriptor.lock_offset);
		(void)!pwrite(fd, &seq, sizeof(seq),
			at + (off_t)offsetof(struct node_pool_descriptor, seq));
		/* the reader starts once the pool is in its hostile state: an odd
		 * seq from the start (it raced the first write and could find the
		 * pool quiet and consistent, seen on a slow guest) */
		if (report_fd >= 0) {
			if (write(report_fd, report, strlen(report)) != (ssize_t)strlen(report))
				_exit(94);
			close(report_fd);
			report_fd = -1;
		}
		usleep(100);
	}
}

/* Issue 17, item 1: a node of another user whose pool never stops changing,
 * its lock word full of attacker bytes, read by root's pooldump: never
 * steered (no lock taken, no quiet window asked for: nothing written
 * there), read by a child that has become that user, and reported as a
 * partial view. */
START_TEST(hostile_node_never_steers_roots_reader)
{
	char nodes[512], area_text[16], pid_text[16], line[64], *err;
	int report_pipe[2], status;
	pid_t attacker, pid = 0;
	int area = 0;
	FILE *report;

	if (skip_unless_root())
		return;
	make_scratch(0711);
	snprintf(nodes, sizeof(nodes), "%s/nodes", scratch);
	ck_assert_int_eq(mkdir(nodes, 0700), 0);
	ck_assert_int_eq(chown(nodes, OTHER_UID, OTHER_UID), 0);
	ck_assert_int_eq(pipe(report_pipe), 0);
	attacker = fork();
	ck_assert_int_ge(attacker, 0);
	if (attacker == 0) {
		close(report_pipe[0]);
		test_alarm(60);
		hostile_driver(nodes, report_pipe[1]);
	}
	close(report_pipe[1]);
	report = fdopen(report_pipe[0], "r");
	ck_assert_ptr_nonnull(report);
	ck_assert_msg(fgets(line, sizeof(line), report) != NULL
			&& sscanf(line, "%d %d", &pid, &area) == 2,
		"the attacker did not start");
	fclose(report);
	snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
	snprintf(area_text, sizeof(area_text), "%d", area);
	for (int round = 0; round < 5; round++) {
		const char *pool_args[] = { "--node-dir", nodes, "-p", pid_text, "pool", area_text,
			NULL };
		const char *check_args[] = { "--node-dir", nodes, "-p", pid_text, "--json", "check",
			NULL };
		status = run_pooldump(round % 2 == 0 ? pool_args : check_args, &err);
		ck_assert_msg(status == 0
				&& strstr(err,
					   "changing too fast: partial view (another "
					   "user's pool (uid 61123): no quiet window is asked for)")
					!= NULL,
			"round %d: status %d\n%s", round, status, err);
		free(err);
	}
	kill(attacker, SIGKILL);
	ck_assert_int_eq(waitpid(attacker, &status, 0), attacker);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		"the attacker ended on its own (status %#x)", status);
	remove_scratch();
}
END_TEST

/* ---- the descriptor budget ---- */

#define BUDGET_FD_LIMIT 16
#define BUDGET_POOLS 100
#define BUDGET_BLOCK (200 * 1024) /* past a new pool's first reserved step */

struct budget_report {
	int free_descriptors; /* after the pools were made and used */
	int node_entries;     /* files in the process's node (-1: none) */
	int pools_working;    /* of BUDGET_POOLS, plus the ones made at EMFILE */
};

/* Descriptors this process can still open: it opens until EMFILE, then
 * closes what it opened; held (when not NULL) keeps them open instead. */
static int free_descriptors(int *held, int capacity)
{
	int fds[BUDGET_FD_LIMIT * 2], count = 0;

	while (count < (int)(sizeof(fds) / sizeof(fds[0]))) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fds[count++] = fd;
	}
	for (int i = 0; i < count; i++) {
		if (held != NULL && i < capacity)
			held[i] = fds[i];
		else
			close(fds[i]);
	}
	return count;
}

static size_t count_occurrences(const char *text, const char *needle)
{
	size_t count = 0;

	for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
		count++;
	return count;
}

static bool block_works(area_malloc_module_info *am, const void *pool, size_t size, int fill)
{
	unsigned char *block = am->malloc(pool, size);
	bool intact = block != NULL;

	if (block == NULL)
		return false;
	memset(block, fill, size);
	for (size_t i = 0; i < size; i += 4096)
		intact &= block[i] == (unsigned char)fill;
	am->free(pool, block);
	return intact;
}

/* In a child whose descriptor limit is BUDGET_FD_LIMIT: BUDGET_POOLS pools
 * of the build, each used past its first reserved step; then, with every
 * descriptor taken, one more pool and a large block in an old one. */
static void budget_driver(const char *build, int report_fd)
{
	const struct rlimit limit = { BUDGET_FD_LIMIT, BUDGET_FD_LIMIT };
	struct budget_report report = { 0, -1, 0 };
	const void *pools[BUDGET_POOLS];
	area_malloc_module_info *am;
	char path[4096], options[512];
	int held[BUDGET_FD_LIMIT * 2];
	DIR *node;

	snprintf(path, sizeof(path), "%s/modules/%s", builddir(), build);
	setenv("KERNEL_MODULE_PATH", path, 1);
	snprintf(options, sizeof(options), "node_dir=%s/nodes", scratch);
	set_debug_options(options);
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0
		|| get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) != B_OK)
		_exit(91);
	for (int i = 0; i < BUDGET_POOLS; i++) {
		pools[i] = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
		if (pools[i] != NULL && block_works(am, pools[i], BUDGET_BLOCK, i))
			report.pools_working++;
	}
	report.free_descriptors = free_descriptors(NULL, 0);
	snprintf(path, sizeof(path), "%s/nodes/%d", scratch, (int)getpid());
	node = opendir(path);
	if (node != NULL) {
		report.node_entries = 0;
		for (struct dirent *entry = readdir(node); entry != NULL; entry = readdir(node))
			report.node_entries += entry->d_name[0] != '.';
		closedir(node);
	}
	/* not one descriptor left: a new pool and more room in an old one */
	int count = free_descriptors(held, (int)(sizeof(held) / sizeof(held[0])));
	const void *late = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	report.pools_working += late != NULL && block_works(am, late, BUDGET_BLOCK, 0x5a);
	report.pools_working += block_works(am, pools[0], 700 * 1024, 0xa5);
	for (int i = 0; i < count; i++)
		close(held[i]);
	if (write(report_fd, &report, sizeof(report)) != (ssize_t)sizeof(report))
		_exit(92);
	if (late != NULL)
		am->delete_pool(late);
	for (int i = 0; i < BUDGET_POOLS; i++)
		if (pools[i] != NULL)
			am->delete_pool(pools[i]);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	_exit(0);
}

static struct budget_report run_budget_driver(const char *build, char **err)
{
	struct budget_report report = { -1, -1, -1 };
	int report_pipe[2], err_fd, status;
	pid_t child;

	ck_assert_int_eq(pipe2(report_pipe, O_CLOEXEC), 0);
	child = fork_with_stderr_pipe(&err_fd, 60);
	if (child == 0) {
		close(report_pipe[0]);
		budget_driver(build, report_pipe[1]);
	}
	close(report_pipe[1]);
	*err = read_stderr_pipe(err_fd);
	ck_assert_int_eq(read(report_pipe[0], &report, sizeof(report)), (ssize_t)sizeof(report));
	close(report_pipe[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"the %s driver ended with status %#x:\n%s", build, status, *err);
	return report;
}

/* With the descriptor limit at 16 and 100 pools, the debug build leaves the
 * driver all but 4 of the descriptors the release build leaves it, every
 * pool has its node file, and when not one descriptor is left a new pool
 * (a private area, one warning) and a large block in an old pool (its file
 * space reserved through the mapping) are served as the release build
 * serves them. */
/* Does this kernel populate a shared mapping on request (MADV_POPULATE_WRITE,
 * Linux 5.14)? Without it, space cannot be reserved with no descriptor. */
static bool kernel_populates_mappings(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bool populates;

	ck_assert(page != MAP_FAILED);
	populates = madvise(page, 4096, 23 /* MADV_POPULATE_WRITE */) == 0;
	munmap(page, 4096);
	return populates;
}

START_TEST(debug_build_keeps_four_descriptors_whatever_the_pools)
{
	struct budget_report release, debug;
	char *release_err, *debug_err;

	if (!kernel_populates_mappings()) {
		fprintf(stderr,
			"test_security: no MADV_POPULATE_WRITE (Linux before 5.14): with "
			"no descriptor left, file space cannot be reserved; case skipped\n");
		return;
	}
	make_scratch(0700);
	release = run_budget_driver("release", &release_err);
	debug = run_budget_driver("debug", &debug_err);
	ck_assert_int_eq(release.pools_working, BUDGET_POOLS + 2);
	ck_assert_msg(debug.pools_working == BUDGET_POOLS + 2, "%d pools worked:\n%s",
		debug.pools_working, debug_err);
	ck_assert_msg(debug.free_descriptors >= release.free_descriptors - 4,
		"debug leaves %d descriptors, release %d", debug.free_descriptors,
		release.free_descriptors);
	/* every pool's file, the process file and the stack depot's */
	ck_assert_int_eq(debug.node_entries, BUDGET_POOLS + 2);
	ck_assert_msg(count_occurrences(debug_err, "area_malloc: ") == 1
			&& strstr(debug_err, "a pool file") != NULL,
		"%s", debug_err);
	free(release_err);
	free(debug_err);
	remove_scratch();
}
END_TEST

/* ---- the default node directory taken by another user ---- */

/* Runs pooldump ARGUMENTS (a shell word list) and returns its exit status,
 * its standard output and error in output (a fixed buffer). */
static int pooldump_in_namespace(const char *arguments, char *output, size_t size)
{
	char command[4600];
	size_t length = 0;
	FILE *pipe;

	snprintf(command, sizeof(command), "'%s/tools/pooldump/pooldump' %s 2>&1", builddir(),
		arguments);
	pipe = popen(command, "r");
	if (pipe == NULL)
		return -1;
	while (length + 1 < size && fgets(output + length, (int)(size - length), pipe) != NULL)
		length += strlen(output + length);
	output[length] = '\0';
	int status = pclose(pipe);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define NAMESPACE_SKIP 77
#define NAMESPACE_CHECK(condition, ...)                                                            \
	do {                                                                                       \
		if (!(condition)) {                                                                \
			fprintf(stderr, "line %d: ", __LINE__);                                    \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

/* In a mount namespace of its own with a private /dev/shm: another user
 * makes this user's default node directory first; the module publishes
 * under $XDG_RUNTIME_DIR instead (one warning) and pooldump, with no
 * --node-dir, finds the node there (one warning). */
static int denied_default_dir_body(void)
{
	char default_dir[64], runtime[600], path[1024], output[8192], arguments[64];
	area_malloc_module_info *am;
	const void *pool;
	void *block;
	int status;

	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
		|| mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
			!= 0)
		return NAMESPACE_SKIP;
	snprintf(default_dir, sizeof(default_dir), "%s%u", NODE_DIR_PREFIX, (unsigned)geteuid());
	NAMESPACE_CHECK(mkdir(default_dir, 0700) == 0
			&& chown(default_dir, OTHER_UID, OTHER_UID) == 0,
		"cannot plant %s", default_dir);
	snprintf(runtime, sizeof(runtime), "%s/run", scratch);
	NAMESPACE_CHECK(mkdir(runtime, 0700) == 0, "cannot make %s", runtime);
	setenv("XDG_RUNTIME_DIR", runtime, 1);
	snprintf(path, sizeof(path), "%s/modules/debug", builddir());
	setenv("KERNEL_MODULE_PATH", path, 1);
	unsetenv("AREA_MALLOC_OPTIONS");
	snprintf(path, sizeof(path), "%s/driver.err", scratch);
	NAMESPACE_CHECK(freopen(path, "w", stderr) != NULL, "cannot redirect stderr");
	NAMESPACE_CHECK(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK,
		"no module");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	block = am->malloc(pool, 100);
	NAMESPACE_CHECK(block != NULL, "no block");
	snprintf(path, sizeof(path), "%s/%s/%d/process", runtime, NODE_FALLBACK_DIR, (int)getpid());
	NAMESPACE_CHECK(access(path, F_OK) == 0, "no node at %s", path);
	snprintf(path, sizeof(path), "%s/driver.err", scratch);
	char *warning = NULL;
	FILE *err = fopen(path, "r");
	if (err != NULL) {
		size_t length = fread(output, 1, sizeof(output) - 1, err);
		output[length] = '\0';
		fclose(err);
		warning = strstr(output, "refused: it must be a directory owned by uid");
	}
	NAMESPACE_CHECK(warning != NULL && strstr(warning, "the node is in ") != NULL
			&& strstr(warning, "/run/area_malloc instead") != NULL,
		"the warning: %s", output);
	/* pooldump, told nothing, finds the node in the fallback */
	snprintf(arguments, sizeof(arguments), "-p %d allocations stats", (int)getpid());
	status = pooldump_in_namespace(arguments, output, sizeof(output));
	NAMESPACE_CHECK(status == 0
			&& strstr(output, "total allocations: 1; total bytes: 100") != NULL
			&& strstr(output, "/run/area_malloc instead") != NULL,
		"pooldump %s: status %d\n%s", arguments, status, output);
	status = pooldump_in_namespace("", output, sizeof(output));
	snprintf(arguments, sizeof(arguments), "%d ", (int)getpid());
	NAMESPACE_CHECK(status == 0 && strstr(output, arguments) != NULL, "pooldump: status %d\n%s",
		status, output);
	am->free(pool, block);
	am->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	return 0;
}

START_TEST(denied_default_node_dir_falls_back_to_xdg_runtime_dir)
{
	int status, err_fd;
	char *err;
	pid_t child;

	if (skip_unless_root())
		return;
	make_scratch(0700);
	child = fork_with_stderr_pipe(&err_fd, 60);
	if (child == 0)
		_exit(denied_default_dir_body());
	err = read_stderr_pipe(err_fd);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	if (WIFEXITED(status) && WEXITSTATUS(status) == NAMESPACE_SKIP) {
		fprintf(stderr, "test_security: no mount namespace here; case skipped\n");
	} else {
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s",
			status, err);
	}
	free(err);
	remove_scratch();
}
END_TEST

static Suite *security_suite(void)
{
	Suite *suite = suite_create("security");
	TCase *files = tcase_create("files");
	TCase *reading = tcase_create("reading");
	TCase *nodes = tcase_create("nodes");

	tcase_set_timeout(files, 60);
	tcase_add_test(files, log_path_never_follows_a_planted_link);
	tcase_add_test(files, log_path_never_appends_to_another_users_file);
	tcase_add_test(files, log_path_in_own_directory_works);
	tcase_add_test(files, runner_refuses_an_output_dir_of_another_user);
	tcase_add_test(files, runner_never_writes_through_a_planted_link);
	suite_add_tcase(suite, files);

	tcase_set_timeout(reading, 60);
	tcase_add_loop_test(reading, suppressions_must_be_a_bounded_regular_file, 0,
		(int)(sizeof(suppression_paths) / sizeof(suppression_paths[0])));
	tcase_add_test(reading, suppression_warnings_are_bounded);
	tcase_add_test(reading, symbolizer_neither_waits_on_nor_opens_special_files);
	suite_add_tcase(suite, reading);

	tcase_set_timeout(nodes, 120);
	tcase_add_test(nodes, cleanup_spares_a_node_being_created);
	tcase_add_test(nodes, debug_build_keeps_four_descriptors_whatever_the_pools);
	tcase_add_test(nodes, hostile_node_never_steers_roots_reader);
	tcase_add_test(nodes, denied_default_node_dir_falls_back_to_xdg_runtime_dir);
	suite_add_tcase(suite, nodes);
	return suite;
}

int main(void)
{
	return run_check_suite(security_suite(), CK_FORK_GETENV);
}
