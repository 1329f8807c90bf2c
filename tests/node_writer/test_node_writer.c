/*
 * test_node_writer.c - the writer side of the debug node: what a process
 * running the debug module publishes under node_dir (src/debug/node_writer.c
 * and the node parts of src/debug/debug_pool.c), with which modes, for how
 * long, and what it survives: a refused directory, planted symlinks, a full
 * tmpfs, a reader that asks for a quiet window and never ends it, fork.
 *
 * Every test loads the debug module (KERNEL_MODULE_PATH=<builddir>/modules/
 * debug) with node_dir=<a fresh directory under /tmp>, never the real
 * /dev/shm: either in the Check test process itself (Check forks each test)
 * or in a "driver" child that the test process forks before it loads
 * anything, so that the test can watch the driver from outside, kill it, or
 * let it exit (the fork cases fork after loading, since fork itself is
 * under test there). Children never call Check: a child
 * reports a failed check on standard error and exits with CHILD_FAILED, and
 * the test asserts on its exit status. Children die with the test process
 * (PR_SET_PDEATHSIG) and give up after CHILD_TIME_LIMIT seconds (alarm);
 * main() removes every test's directory at the end, failed or not.
 *
 * Cases that need root (a directory owned by another uid, mounting a small
 * tmpfs) print "SKIP" on standard error and pass when they cannot run.
 *
 * Locking: none; test processes are single-threaded.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "format/node_format.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/debug_options.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

#define PATH_BYTES 512
/* A child whose own checks failed exits with this (see child_failed). */
#define CHILD_FAILED 97
#define CHILD_TIME_LIMIT 20
#define DESCRIPTOR_SEARCH_BYTES (64 * KIB)
#define UNPRIVILEGED_UID 65534
#define TMPFS_BYTES (2 * MIB)
#define TMPFS_BLOCK (64 * KIB)

static char run_dir[PATH_BYTES];  /* under /tmp, made and removed by main() */
static char base_dir[PATH_BYTES]; /* fresh for each test, in run_dir */
static char node_dir[PATH_BYTES]; /* the node_dir option */
static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd;

/* ---- failing in a child ---- */

static void child_failed(int line, const char *what)
{
	fprintf(stderr, "test_node_writer child %d: line %d: check failed: %s\n", (int)getpid(),
		line, what);
	fflush(stderr);
	_exit(CHILD_FAILED);
}

#define CHILD_ASSERT(condition)                                                                    \
	do {                                                                                       \
		if (!(condition))                                                                  \
			child_failed(__LINE__, #condition);                                        \
	} while (0)

/* ---- paths and files ---- */

static char *path_of(char *buffer, const char *format, ...) __attribute__((format(printf, 2, 3)));

static char *path_of(char *buffer, const char *format, ...)
{
	va_list args;
	int length;

	va_start(args, format);
	length = vsnprintf(buffer, PATH_BYTES, format, args);
	va_end(args);
	if (length < 0 || length >= PATH_BYTES)
		abort(); /* the paths here are short: a test bug */
	return buffer;
}

static char *node_path(char *buffer, pid_t pid)
{
	return path_of(buffer, "%s/%d", node_dir, (int)pid);
}

static char *pool_file_path(char *buffer, pid_t pid, area_id area)
{
	return path_of(buffer, "%s/%d/%s%d", node_dir, (int)pid, NODE_POOL_FILE_PREFIX, (int)area);
}

static char *process_file_path(char *buffer, pid_t pid)
{
	return path_of(buffer, "%s/%d/%s", node_dir, (int)pid, NODE_PROCESS_FILE);
}

static bool path_exists(const char *path)
{
	struct stat status;

	return lstat(path, &status) == 0;
}

/* Entries of a directory besides . and ..; -1 when it cannot be read. */
static int entry_count(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *entry;
	int count = 0;

	if (dir == NULL)
		return -1;
	while ((entry = readdir(dir)) != NULL)
		if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
			count++;
	closedir(dir);
	return count;
}

/* The whole file as a string (NUL-terminated); NULL when unreadable. */
static char *read_text(const char *path)
{
	FILE *file = fopen(path, "r");
	char *text = NULL;
	size_t length = 0;

	if (file == NULL)
		return NULL;
	if (getdelim(&text, &length, '\0', file) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(file);
	return text;
}

static void write_text(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");

	ck_assert_ptr_nonnull(file);
	ck_assert_int_ge(fputs(text, file), 0);
	ck_assert_int_eq(fclose(file), 0);
}

static int count_lines_with(const char *text, const char *needle)
{
	int count = 0;

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
		if (memmem(line, length, needle, strlen(needle)) != NULL)
			count++;
		line = end != NULL ? end + 1 : NULL;
	}
	return count;
}

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *where)
{
	(void)status;
	(void)type;
	(void)where;
	remove(path);
	return 0;
}

/* Removes the run's directory with every test's (run in main, after the
 * tests: a failed check ends its test process at once, without teardown). */
static void remove_run_dir(void)
{
	char mount_point[PATH_BYTES];
	struct dirent *entry;
	DIR *dir = opendir(run_dir);

	while (dir != NULL && (entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			umount2(path_of(mount_point, "%s/%s/tmpfs", run_dir, entry->d_name),
				MNT_DETACH);
	if (dir != NULL)
		closedir(dir);
	nftw(run_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void setup(void)
{
	path_of(base_dir, "%s/test-XXXXXX", run_dir);
	ck_assert_ptr_nonnull(mkdtemp(base_dir));
	path_of(node_dir, "%s/nodes", base_dir);
}

/* ---- the module ---- */

/* Selects the debug module with node_dir and extra options (may be ""), for
 * this process and the children it forks from now on. */
static void select_debug_module(const char *extra_options)
{
	const char *build = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char module_path[PATH_BYTES], options[2 * PATH_BYTES];

	path_of(module_path, "%s/modules/debug", build != NULL ? build : ".");
	snprintf(options, sizeof(options), "node_dir=%s%s%s", node_dir,
		extra_options[0] != '\0' ? ":" : "", extra_options);
	setenv("KERNEL_MODULE_PATH", module_path, 1);
	set_debug_options(options);
}

static bool load_modules(void)
{
	return get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK
		&& get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd) == B_OK;
}

static bool unload_modules(void)
{
	return put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME) == B_OK
		&& put_module(B_AREA_MALLOC_MODULE_NAME) == B_OK;
}

static area_id area_of_pool(const void *pool)
{
	area_malloc_pool_stats stats;

	if (amd->get_pool_stats(pool, &stats) != B_OK)
		return -1;
	return stats.area;
}

/* Allocates, fills and checks a block, frees it: the allocator works. */
static bool pool_works(const void *pool, size_t size)
{
	unsigned char *block = am->malloc(pool, size);
	bool intact = block != NULL;

	if (block == NULL)
		return false;
	memset(block, 0x5a, size);
	for (size_t i = 0; i < size && intact; i++)
		intact = block[i] == 0x5a;
	am->free(pool, block);
	return intact;
}

/* ---- reading the node as a reader does ---- */

/* Finds a pool file's descriptor: the magic at the offset it names itself. */
static bool read_pool_descriptor(const char *path, struct node_pool_descriptor *descriptor)
{
	unsigned char *head = malloc(DESCRIPTOR_SEARCH_BYTES);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t got = fd >= 0 && head != NULL ? pread(fd, head, DESCRIPTOR_SEARCH_BYTES, 0) : -1;
	bool found = false;

	for (size_t at = 0; got > 0 && at + sizeof(*descriptor) <= (size_t)got && !found; at += 8) {
		if (memcmp(head + at, NODE_POOL_MAGIC, sizeof(descriptor->magic)) != 0)
			continue;
		memcpy(descriptor, head + at, sizeof(*descriptor));
		found = descriptor->control_offset == at;
	}
	if (fd >= 0)
		close(fd);
	free(head);
	return found;
}

static bool read_file_bytes(const char *path, uint64_t offset, void *into, size_t length)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool read_all = fd >= 0 && pread(fd, into, length, (off_t)offset) == (ssize_t)length;

	if (fd >= 0)
		close(fd);
	return read_all;
}

/* What an F_OFD_GETLK probe for a write lock on the process file's first
 * byte answers: F_WRLCK (another open file description holds it: the process
 * lives), F_UNLCK, or -1 when the file cannot be probed. */
static int process_file_lock(pid_t pid)
{
	struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	char path[PATH_BYTES];
	int fd = open(process_file_path(path, pid), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int result = -1;

	if (fd < 0)
		return -1;
	if (fcntl(fd, F_OFD_GETLK, &probe) == 0)
		result = probe.l_type;
	close(fd);
	return result;
}

/* ---- standard error ---- */

struct stderr_capture {
	int saved;
	char path[PATH_BYTES];
};

static void redirect_stderr(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		abort();
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void capture_stderr(struct stderr_capture *capture, const char *name)
{
	path_of(capture->path, "%s/%s", base_dir, name);
	fflush(stderr);
	capture->saved = dup(STDERR_FILENO);
	ck_assert_int_ge(capture->saved, 0);
	redirect_stderr(capture->path);
}

/* Restores standard error; returns what was written (free it). */
static char *captured_stderr(struct stderr_capture *capture)
{
	char *text;

	fflush(stderr);
	dup2(capture->saved, STDERR_FILENO);
	close(capture->saved);
	text = read_text(capture->path);
	ck_assert_ptr_nonnull(text);
	return text;
}

/* ---- children ---- */

struct child {
	pid_t pid;
	int command_fd; /* the test writes a byte: the child goes on (or ends) */
	int report_fd;  /* the child writes what it has to say */
};

/* Forks; in the child runs body(command_fd, report_fd), which must not
 * return. */
static void start_child(struct child *child, void (*body)(int command_fd, int report_fd))
{
	int commands[2], reports[2];
	pid_t parent = getpid();

	ck_assert_int_eq(pipe2(commands, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(reports, O_CLOEXEC), 0);
	fflush(NULL);
	child->pid = fork();
	ck_assert_int_ge(child->pid, 0);
	if (child->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(CHILD_FAILED);
		test_alarm(CHILD_TIME_LIMIT);
		close(commands[1]);
		close(reports[0]);
		body(commands[0], reports[1]);
		_exit(CHILD_FAILED);
	}
	close(commands[0]);
	close(reports[1]);
	child->command_fd = commands[1];
	child->report_fd = reports[0];
}

/* Reads exactly length bytes of the child's report; false on end of file
 * (the child ended: see its status) or after CHILD_TIME_LIMIT seconds. */
static bool read_report(struct child *child, void *into, size_t length)
{
	struct pollfd readable = { child->report_fd, POLLIN, 0 };
	size_t done = 0;

	while (done < length) {
		ssize_t got;
		if (poll(&readable, 1, CHILD_TIME_LIMIT * 1000) <= 0)
			return false;
		got = read(child->report_fd, (char *)into + done, length - done);
		if (got <= 0)
			return false;
		done += (size_t)got;
	}
	return true;
}

static void tell_child(struct child *child)
{
	ck_assert_int_eq(write(child->command_fd, "g", 1), 1);
}

/* Waits for the child to end; returns its wait status. */
static int wait_child(struct child *child)
{
	int status = 0;

	ck_assert_int_eq(waitpid(child->pid, &status, 0), child->pid);
	close(child->command_fd);
	close(child->report_fd);
	return status;
}

static void kill_child(struct child *child)
{
	int status;

	ck_assert_int_eq(kill(child->pid, SIGKILL), 0);
	status = wait_child(child);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void assert_exited_cleanly(int status)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"child ended with %s %d (see its standard error)",
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Where a driver child's standard error goes. */
static char *driver_stderr_path(char *buffer, pid_t pid)
{
	return path_of(buffer, "%s/driver-stderr.%d", base_dir, (int)pid);
}

/* The report a driver's exit makes of its pool, and nothing else. */
static void assert_only_a_leaked_pool(const char *output)
{
	ck_assert_msg(count_lines_with(output, "ERROR: area_malloc:") == 1
			&& count_lines_with(output, "ERROR: area_malloc: leaked-pool") == 1
			&& count_lines_with(output, "found at exit") == 1,
		"want one leaked-pool report at exit, got:\n%s", output);
}

/* A driver (driver_body) that exited after reporting its pool as leaked. */
static void assert_driver_exited_leaking_its_pool(pid_t pid, int status)
{
	char path[PATH_BYTES];
	char *output = read_text(driver_stderr_path(path, pid));

	ck_assert_ptr_nonnull(output);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 23,
		"driver ended with %s %d; its standard error:\n%s",
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), output);
	assert_only_a_leaked_pool(output);
	free(output);
}

/* In a child: waits for the test's byte (or its end). */
static void wait_for_command(int command_fd)
{
	char command;

	while (read(command_fd, &command, 1) < 0 && errno == EINTR)
		;
}

/*
 * A driver: loads the module, creates a pool with a live block, reports the
 * pool's area id, waits for the test's command, frees its block and exits
 * normally (without put_module: the module's exit handler ends the node),
 * its pool never deleted on purpose: the handler still has a pool file to
 * remove, and reports the pool as leaked (exit status 23).
 */
static void driver_body(int command_fd, int report_fd)
{
	char path[PATH_BYTES];
	const void *pool;
	void *block;
	area_id area;

	redirect_stderr(driver_stderr_path(path, getpid()));
	CHILD_ASSERT(load_modules());
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	CHILD_ASSERT(pool != NULL);
	block = am->malloc(pool, 100);
	CHILD_ASSERT(block != NULL);
	area = area_of_pool(pool);
	CHILD_ASSERT(area >= 0);
	CHILD_ASSERT(write(report_fd, &area, sizeof(area)) == (ssize_t)sizeof(area));
	wait_for_command(command_fd);
	am->free(pool, block);
	exit(EXIT_SUCCESS);
}

/* Starts a driver and waits until it is ready; returns its pool's area. */
static area_id start_driver(struct child *driver)
{
	area_id area = -1;

	start_child(driver, driver_body);
	ck_assert_msg(read_report(driver, &area, sizeof(area)), "the driver did not start");
	return area;
}

/* ---- 1. a node directory that must be refused ---- */

/*
 * With node_dir as the test prepared it, the module must say so once and go
 * on without a node: pools still work and nothing is created anywhere.
 */
static void assert_node_dir_refused(void)
{
	struct stderr_capture capture;
	const void *pool;
	char *warnings;

	select_debug_module("");
	capture_stderr(&capture, "stderr");
	ck_assert(load_modules());
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	ck_assert(pool_works(pool, 1000));
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert(unload_modules());
	warnings = captured_stderr(&capture);
	ck_assert_msg(count_lines_with(warnings, "area_malloc") == 1
			&& count_lines_with(warnings, "refused") == 1
			&& count_lines_with(warnings, node_dir) == 1,
		"expected one warning refusing %s, got:\n%s", node_dir, warnings);
	free(warnings);
}

START_TEST(refuses_symlink_node_dir)
{
	char target[PATH_BYTES];

	ck_assert_int_eq(mkdir(path_of(target, "%s/real", base_dir), 0700), 0);
	ck_assert_int_eq(symlink(target, node_dir), 0);
	assert_node_dir_refused();
	ck_assert_int_eq(entry_count(target), 0);
}
END_TEST

START_TEST(refuses_node_dir_open_to_others)
{
	ck_assert_int_eq(mkdir(node_dir, 0700), 0);
	ck_assert_int_eq(chmod(node_dir, 0777), 0);
	assert_node_dir_refused();
	ck_assert_int_eq(entry_count(node_dir), 0);
}
END_TEST

START_TEST(refuses_node_dir_of_another_user)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP refuses_node_dir_of_another_user: needs root to chown\n");
		return;
	}
	ck_assert_int_eq(mkdir(node_dir, 0700), 0);
	ck_assert_int_eq(chown(node_dir, UNPRIVILEGED_UID, UNPRIVILEGED_UID), 0);
	assert_node_dir_refused();
	ck_assert_int_eq(entry_count(node_dir), 0);
}
END_TEST

START_TEST(refuses_regular_file_node_dir)
{
	struct stat status;
	char *content;

	write_text(node_dir, "not a directory\n");
	assert_node_dir_refused();
	ck_assert_int_eq(lstat(node_dir, &status), 0);
	ck_assert(S_ISREG(status.st_mode));
	content = read_text(node_dir);
	ck_assert_str_eq(content, "not a directory\n");
	free(content);
}
END_TEST

/* ---- 2. files and modes ---- */

static void assert_mode(const char *path, mode_t type, mode_t permissions)
{
	struct stat status;

	ck_assert_msg(lstat(path, &status) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg((status.st_mode & S_IFMT) == type, "%s: wrong file type %o", path,
		(unsigned)(status.st_mode & S_IFMT));
	ck_assert_msg((status.st_mode & 07777) == permissions, "%s: mode %04o, expected %04o", path,
		(unsigned)(status.st_mode & 07777), (unsigned)permissions);
	ck_assert_uint_eq(status.st_uid, geteuid());
	if (type == S_IFREG)
		ck_assert_uint_eq(status.st_nlink, 1);
}

START_TEST(node_files_are_private_and_regular)
{
	char path[PATH_BYTES];
	struct node_process_file header;
	area_malloc_pool_stats stats;
	struct stat status;
	const void *pool;

	select_debug_module("");
	ck_assert(load_modules());
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	ck_assert_int_eq(amd->get_pool_stats(pool, &stats), B_OK);

	assert_mode(node_dir, S_IFDIR, 0700);
	assert_mode(node_path(path, getpid()), S_IFDIR, 0700);
	assert_mode(process_file_path(path, getpid()), S_IFREG, 0600);
	assert_mode(pool_file_path(path, getpid(), stats.area), S_IFREG, 0600);
	assert_mode(path_of(path, "%s/%d/%s", node_dir, (int)getpid(), NODE_STACKS_FILE), S_IFREG,
		0600);
	/* nothing else: no temporary names left behind */
	ck_assert_int_eq(entry_count(node_path(path, getpid())), 3);
	ck_assert_int_eq(entry_count(node_dir), 1);

	ck_assert_int_eq(stat(pool_file_path(path, getpid(), stats.area), &status), 0);
	ck_assert_uint_eq((uint64_t)status.st_size, stats.area_size);
	ck_assert(read_file_bytes(process_file_path(path, getpid()), 0, &header, sizeof(header)));
	ck_assert_int_eq(memcmp(header.magic, NODE_PROCESS_MAGIC, sizeof(header.magic)), 0);
	ck_assert_uint_eq(header.version, NODE_FORMAT_VERSION);
	ck_assert_uint_eq(header.header_bytes, sizeof(header));
	ck_assert_int_eq(header.pid, getpid());
	ck_assert_uint_eq(header.uid, geteuid());

	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert(unload_modules());
}
END_TEST

/* A stale node under our own pid (pid reuse) whose "process" is a symlink:
 * it is dead (never opened through the link) and replaced, the link's target
 * left alone. */
START_TEST(stale_own_node_with_planted_symlink_is_replaced)
{
	char stale[PATH_BYTES], link_path[PATH_BYTES], victim[PATH_BYTES];
	char *content;

	path_of(victim, "%s/victim", base_dir);
	write_text(victim, "precious\n");
	ck_assert_int_eq(mkdir(node_dir, 0700), 0);
	ck_assert_int_eq(mkdir(node_path(stale, getpid()), 0700), 0);
	ck_assert_int_eq(symlink(victim, process_file_path(link_path, getpid())), 0);

	select_debug_module("");
	ck_assert(load_modules());
	assert_mode(process_file_path(link_path, getpid()), S_IFREG, 0600);
	ck_assert_int_eq(process_file_lock(getpid()), F_WRLCK);
	content = read_text(victim);
	ck_assert_str_eq(content, "precious\n");
	free(content);
	ck_assert(unload_modules());
	ck_assert(!path_exists(stale));
}
END_TEST

/* The pool file's creation name is fixed: a symlink planted there is not
 * followed (O_EXCL | O_NOFOLLOW); the pool does without a file. */
START_TEST(planted_pool_symlink_is_not_followed)
{
	char planted[PATH_BYTES], victim[PATH_BYTES], path[PATH_BYTES];
	struct stderr_capture capture;
	const void *pool;
	char *warnings, *content;

	path_of(victim, "%s/victim", base_dir);
	write_text(victim, "precious\n");
	select_debug_module("");
	ck_assert(load_modules());
	path_of(planted, "%s/%screating", node_path(path, getpid()), NODE_POOL_FILE_PREFIX);
	ck_assert_int_eq(symlink(victim, planted), 0);

	capture_stderr(&capture, "stderr");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	warnings = captured_stderr(&capture);
	ck_assert_ptr_nonnull(pool);
	ck_assert(pool_works(pool, 5000));
	ck_assert_msg(count_lines_with(warnings, "area_malloc") == 1
			&& count_lines_with(warnings, "private area") == 1,
		"expected one fallback warning, got:\n%s", warnings);
	free(warnings);
	content = read_text(victim);
	ck_assert_str_eq(content, "precious\n");
	free(content);
	ck_assert(!path_exists(pool_file_path(path, getpid(), area_of_pool(pool))));
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert(unload_modules());
}
END_TEST

/* ---- 3. liveness, 4. lifetime ---- */

START_TEST(lock_shows_liveness_and_sigkill_leaves_node)
{
	char path[PATH_BYTES];
	struct child driver;
	area_id area;

	select_debug_module("");
	area = start_driver(&driver);
	ck_assert_int_eq(process_file_lock(driver.pid), F_WRLCK);
	ck_assert(path_exists(pool_file_path(path, driver.pid, area)));

	kill_child(&driver);
	/* the lock went with the process; the node stays for a post-mortem */
	ck_assert_int_eq(process_file_lock(driver.pid), F_UNLCK);
	ck_assert(path_exists(pool_file_path(path, driver.pid, area)));
}
END_TEST

START_TEST(exit_removes_node)
{
	char path[PATH_BYTES];
	struct child driver;
	area_id area;

	select_debug_module("");
	area = start_driver(&driver);
	ck_assert(path_exists(pool_file_path(path, driver.pid, area)));
	tell_child(&driver);
	assert_driver_exited_leaking_its_pool(driver.pid, wait_child(&driver));
	ck_assert(!path_exists(node_path(path, driver.pid)));
	ck_assert_int_eq(entry_count(node_dir), 0);
}
END_TEST

/* What delete_pool_and_last_put_module_remove_files's hook saw. */
static int unload_reports;
static char unload_kind[32];
static area_id unload_pool_area;

static bool take_unload_report(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	unload_reports++;
	snprintf(unload_kind, sizeof(unload_kind), "%s", report->kind);
	unload_pool_area = report->pool_area;
	return true;
}

/* The second pool is left to the last put_module on purpose: the files go,
 * and the pool is reported as leaked. */
START_TEST(delete_pool_and_last_put_module_remove_files)
{
	char path[PATH_BYTES];
	const void *first, *second;
	area_id first_area, second_area;

	select_debug_module("");
	ck_assert(load_modules());
	first = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	second = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_FULL_LOCK, KERNEL_RW);
	ck_assert(first != NULL && second != NULL);
	first_area = area_of_pool(first);
	second_area = area_of_pool(second);
	ck_assert(path_exists(pool_file_path(path, getpid(), first_area)));
	ck_assert(path_exists(pool_file_path(path, getpid(), second_area)));

	ck_assert_int_eq(am->delete_pool(first), B_OK);
	ck_assert(!path_exists(pool_file_path(path, getpid(), first_area)));
	ck_assert(path_exists(pool_file_path(path, getpid(), second_area)));

	amd->set_report_hook(take_unload_report, NULL);
	/* the companion module goes first: the node stays while one is loaded */
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	ck_assert(path_exists(pool_file_path(path, getpid(), second_area)));
	ck_assert_int_eq(unload_reports, 0);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	ck_assert(!path_exists(node_path(path, getpid())));
	ck_assert_int_eq(entry_count(node_dir), 0);
	ck_assert_int_eq(unload_reports, 1);
	ck_assert_str_eq(unload_kind, "leaked-pool");
	ck_assert_int_eq(unload_pool_area, second_area);
}
END_TEST

/* A live node is never removed however old; of 4 dead ones, keep_dead_nodes=2
 * keeps the 2 newest. */
START_TEST(keep_dead_nodes_keeps_the_newest)
{
	const struct timespec apart = { 0, 30 * 1000 * 1000 }; /* > file time granularity */
	char path[PATH_BYTES];
	struct child live, dead[4];

	select_debug_module("");
	start_driver(&live);
	for (int i = 0; i < 4; i++) {
		nanosleep(&apart, NULL);
		start_driver(&dead[i]);
		kill_child(&dead[i]);
	}
	ck_assert_int_eq(entry_count(node_dir), 5);

	select_debug_module("keep_dead_nodes=2");
	ck_assert(load_modules());
	ck_assert(path_exists(node_path(path, live.pid)));
	ck_assert(!path_exists(node_path(path, dead[0].pid)));
	ck_assert(!path_exists(node_path(path, dead[1].pid)));
	ck_assert(path_exists(node_path(path, dead[2].pid)));
	ck_assert(path_exists(node_path(path, dead[3].pid)));
	ck_assert(path_exists(node_path(path, getpid())));
	ck_assert_int_eq(entry_count(node_dir), 4);
	ck_assert(unload_modules());

	tell_child(&live);
	assert_driver_exited_leaking_its_pool(live.pid, wait_child(&live));
	ck_assert_int_eq(entry_count(node_dir), 2);
}
END_TEST

/* ---- 5. a full tmpfs ---- */

/* A lazy pool far larger than the tmpfs: malloc fails cleanly when the
 * tmpfs is full, and what was handed out stays intact. */
static void fill_lazy_pool_until_null(void)
{
	enum { MAX_BLOCKS = 64 };
	unsigned char *blocks[MAX_BLOCKS];
	char path[PATH_BYTES];
	area_malloc_pool_stats stats;
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * MIB, B_NO_LOCK, KERNEL_RW);
	size_t count = 0;

	CHILD_ASSERT(pool != NULL);
	CHILD_ASSERT(path_exists(pool_file_path(path, getpid(), area_of_pool(pool))));
	while (count < MAX_BLOCKS) {
		unsigned char *block = am->malloc(pool, TMPFS_BLOCK);
		if (block == NULL)
			break;
		memset(block, (int)(count + 1), TMPFS_BLOCK);
		blocks[count++] = block;
	}
	/* the tmpfs, not the pool, ran out */
	CHILD_ASSERT(count > 0 && count < TMPFS_BYTES / TMPFS_BLOCK);
	CHILD_ASSERT(am->malloc(pool, TMPFS_BLOCK) == NULL);
	CHILD_ASSERT(amd->get_pool_stats(pool, &stats) == B_OK && stats.failed_requests == 2);
	for (size_t i = 0; i < count; i++)
		for (size_t at = 0; at < TMPFS_BLOCK; at++)
			CHILD_ASSERT(blocks[i][at] == (unsigned char)(i + 1));
	for (size_t i = 0; i < count; i++)
		am->free(pool, blocks[i]);
	CHILD_ASSERT(am->delete_pool(pool) == B_OK);
}

/* A locked pool reserves all its space at creation: larger than the tmpfs,
 * it falls back to a private area (one warning) and works. */
static void locked_pool_falls_back(void)
{
	char path[PATH_BYTES];
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 8 * MIB, B_FULL_LOCK, KERNEL_RW);

	CHILD_ASSERT(pool != NULL);
	CHILD_ASSERT(!path_exists(pool_file_path(path, getpid(), area_of_pool(pool))));
	/* the process file and the stack depot's, made when there was room */
	CHILD_ASSERT(entry_count(node_path(path, getpid())) == 2);
	for (int i = 0; i < 8; i++)
		CHILD_ASSERT(pool_works(pool, 512 * KIB));
	CHILD_ASSERT(am->delete_pool(pool) == B_OK);
}

/* An 8 GiB lazy pool is created at once and takes almost no tmpfs space. */
static void huge_lazy_pool_stays_sparse(void)
{
	char path[PATH_BYTES];
	struct stat status;
	/* "at once": CHILD_TIME_LIMIT ends a creation that touched its pages */
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 8 * GIB, B_NO_LOCK, KERNEL_RW);

	CHILD_ASSERT(pool != NULL);
	pool_file_path(path, getpid(), area_of_pool(pool));
	CHILD_ASSERT(stat(path, &status) == 0);
	CHILD_ASSERT((uint64_t)status.st_size > 8 * GIB);
	CHILD_ASSERT((uint64_t)status.st_blocks * 512 < TMPFS_BYTES);
	CHILD_ASSERT(pool_works(pool, 100 * KIB));
	CHILD_ASSERT(stat(path, &status) == 0 && (uint64_t)status.st_blocks * 512 < TMPFS_BYTES);
	CHILD_ASSERT(am->delete_pool(pool) == B_OK);
}

static void full_tmpfs_body(int command_fd, int report_fd)
{
	char path[PATH_BYTES];

	(void)command_fd;
	(void)report_fd;
	redirect_stderr(path_of(path, "%s/stderr", base_dir));
	CHILD_ASSERT(load_modules());
	fill_lazy_pool_until_null();
	locked_pool_falls_back();
	huge_lazy_pool_stays_sparse();
	CHILD_ASSERT(unload_modules());
	exit(EXIT_SUCCESS);
}

/* Mounts a TMPFS_BYTES tmpfs at base_dir/tmpfs and points node_dir into it;
 * false (after saying SKIP) when this process cannot. */
static bool mount_small_tmpfs(const char *test, char *mount_point)
{
	char mount_options[64];

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP %s: needs root to mount a tmpfs\n", test);
		return false;
	}
	ck_assert_int_eq(mkdir(path_of(mount_point, "%s/tmpfs", base_dir), 0700), 0);
	snprintf(mount_options, sizeof(mount_options), "size=%zu,mode=0700", TMPFS_BYTES);
	if (mount("tmpfs", mount_point, "tmpfs", MS_NOSUID | MS_NODEV, mount_options) != 0) {
		fprintf(stderr, "SKIP %s: cannot mount a tmpfs: %s\n", test, strerror(errno));
		return false;
	}
	path_of(node_dir, "%s/nodes", mount_point);
	return true;
}

static void unmount_small_tmpfs(const char *mount_point)
{
	if (umount(mount_point) != 0)
		umount2(mount_point, MNT_DETACH);
}

struct tmpfs_run {
	int status;     /* the driver's wait status */
	int nodes_left; /* entries of node_dir once it had ended */
	char *output;   /* its standard error (free it) */
};

/* Runs body in a driver child on the small tmpfs, its standard error going
 * to base_dir/stderr, then unmounts the tmpfs; the driver must exit with
 * want_status. */
static struct tmpfs_run run_on_small_tmpfs(const char *mount_point, void (*body)(int, int),
	const char *options, int want_status)
{
	struct tmpfs_run run;
	char path[PATH_BYTES];
	struct child child;

	select_debug_module(options);
	start_child(&child, body);
	run.status = wait_child(&child);
	run.nodes_left = entry_count(node_dir);
	unmount_small_tmpfs(mount_point);
	run.output = read_text(path_of(path, "%s/stderr", base_dir));
	ck_assert_ptr_nonnull(run.output);
	ck_assert_msg(WIFEXITED(run.status) && WEXITSTATUS(run.status) == want_status,
		"the driver ended with %s %d; its standard error:\n%s",
		WIFEXITED(run.status) ? "exit status" : "signal",
		WIFEXITED(run.status) ? WEXITSTATUS(run.status) : WTERMSIG(run.status), run.output);
	return run;
}

START_TEST(full_tmpfs_gives_null_never_sigbus)
{
	char mount_point[PATH_BYTES];
	struct tmpfs_run run;

	if (!mount_small_tmpfs("full_tmpfs_gives_null_never_sigbus", mount_point))
		return;
	/* (by default a lazy pool takes its pages as written: SIGBUS on a full
	 * tmpfs, tests/faults; node_reserve=1 reserves them ahead) */
	run = run_on_small_tmpfs(mount_point, full_tmpfs_body, "node_reserve=1", 0);
	ck_assert_msg(count_lines_with(run.output, "area_malloc") == 1
			&& count_lines_with(run.output, "private area") == 1,
		"expected one fallback warning, got:\n%s", run.output);
	ck_assert_int_eq(run.nodes_left, 0);
	free(run.output);
}
END_TEST

/* A driver that exits with a lazy pool still live (the module's exit handler
 * ends it) must exit as cleanly as one that deleted it, but for the report
 * of its leaked pool. */
static void exit_with_live_pool_body(int command_fd, int report_fd)
{
	char path[PATH_BYTES];
	const void *pool;

	(void)command_fd;
	(void)report_fd;
	redirect_stderr(path_of(path, "%s/stderr", base_dir));
	CHILD_ASSERT(load_modules());
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * MIB, B_NO_LOCK, KERNEL_RW);
	CHILD_ASSERT(pool != NULL);
	CHILD_ASSERT(path_exists(pool_file_path(path, getpid(), area_of_pool(pool))));
	CHILD_ASSERT(pool_works(pool, 1000));
	exit(EXIT_SUCCESS);
}

/*
 * Regression (was a bug, seen with --enable-asan only): the debug module
 * registered each pool's whole area as a LeakSanitizer root region; now only
 * the part its heap has touched (shadow_pool_reach). At exit LSan scans a live
 * pool through its mapping
 * before the module's exit handler runs; reading the holes of a lazy pool's
 * tmpfs file allocates them, so LSan fills the tmpfs (here 2 MiB, for a pool
 * of 64 MiB; an 8 GiB pool would take its whole area of /dev/shm), takes
 * SIGBUS ("LeakSanitizer has encountered a fatal error"), the process exits
 * 1 and the node is left behind as if it had crashed.
 */
START_TEST(exit_with_live_lazy_pool_on_small_tmpfs)
{
	char mount_point[PATH_BYTES];
	struct tmpfs_run run;

	if (!mount_small_tmpfs("exit_with_live_lazy_pool_on_small_tmpfs", mount_point))
		return;
	run = run_on_small_tmpfs(mount_point, exit_with_live_pool_body, "", 23);
	ck_assert_int_eq(run.nodes_left, 0);
	assert_only_a_leaked_pool(run.output);
	free(run.output);
}
END_TEST

/* ---- 6. the guard page ---- */

__attribute__((no_sanitize("address"), noinline)) static void write_byte(void *at)
{
	*(volatile unsigned char *)at = 0x5a;
}

static void guard_page_body(int command_fd, int report_fd)
{
	struct node_pool_descriptor descriptor;
	char path[PATH_BYTES];
	area_info info;
	const void *pool;
	area_id area;

	(void)command_fd;
	CHILD_ASSERT(load_modules());
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	CHILD_ASSERT(pool != NULL);
	CHILD_ASSERT(pool_works(pool, 1000));
	area = area_of_pool(pool);
	CHILD_ASSERT(read_pool_descriptor(pool_file_path(path, getpid(), area), &descriptor));
	CHILD_ASSERT(get_area_info(area, &info) == B_OK);
	CHILD_ASSERT(descriptor.base_address == (uint64_t)(uintptr_t)info.address);
	CHILD_ASSERT(descriptor.guard_offset > descriptor.control_offset);
	CHILD_ASSERT(descriptor.guard_offset + B_PAGE_SIZE == descriptor.heap_offset);
	signal(SIGSEGV, SIG_DFL);
	CHILD_ASSERT(write(report_fd, "w", 1) == 1);
	write_byte((char *)(uintptr_t)descriptor.base_address + descriptor.guard_offset + 100);
	fprintf(stderr, "the write to the guard page went through\n");
	_exit(EXIT_SUCCESS);
}

START_TEST(guard_page_is_inaccessible)
{
	struct child child;
	char about_to_write = 0;
	int status;

	select_debug_module("");
	start_child(&child, guard_page_body);
	ck_assert(read_report(&child, &about_to_write, 1));
	status = wait_child(&child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
		"writing the guard page ended the driver with %s %d, not SIGSEGV",
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}
END_TEST

/* ---- 7. halt_on_error and core dumps ---- */

static unsigned long read_coredump_filter(void)
{
	char *text = read_text("/proc/self/coredump_filter");
	unsigned long filter;

	ck_assert_ptr_nonnull(text);
	filter = strtoul(text, NULL, 16);
	free(text);
	return filter;
}

#define SHARED_FILE_MAPPINGS 0x8ul /* coredump_filter bit 3 */

/* Clears bit 3 first (it is inherited), so the module must be what sets it. */
static void load_with_coredump_filter_cleared(const char *options)
{
	char text[32];

	snprintf(text, sizeof(text), "0x%lx", read_coredump_filter() & ~SHARED_FILE_MAPPINGS);
	write_text("/proc/self/coredump_filter", text);
	ck_assert_uint_eq(read_coredump_filter() & SHARED_FILE_MAPPINGS, 0);
	select_debug_module(options);
	ck_assert(load_modules());
}

START_TEST(halt_on_error_dumps_shared_file_mappings)
{
	unsigned long before;

	before = read_coredump_filter() & ~SHARED_FILE_MAPPINGS;
	load_with_coredump_filter_cleared("halt_on_error=1");
	ck_assert_uint_eq(read_coredump_filter(), before | SHARED_FILE_MAPPINGS);
	ck_assert(unload_modules());
}
END_TEST

START_TEST(without_halt_on_error_coredump_filter_is_left_alone)
{
	unsigned long before;

	before = read_coredump_filter() & ~SHARED_FILE_MAPPINGS;
	load_with_coredump_filter_cleared("");
	ck_assert_uint_eq(read_coredump_filter(), before);
	ck_assert(unload_modules());
}
END_TEST

/* ---- 8. fork ---- */

#define FORK_BLOCK_BYTES 64

static const void *fork_pool;
static unsigned char *fork_block;
static uint64_t fork_block_offset; /* in the pool file */

/* The child writes its own copy of the block and reports "w"; waits; exits. */
static void forked_writer_body(int command_fd, int report_fd)
{
	memset(fork_block, 'C', FORK_BLOCK_BYTES);
	CHILD_ASSERT(fork_block[0] == 'C' && fork_block[FORK_BLOCK_BYTES - 1] == 'C');
	CHILD_ASSERT(pool_works(fork_pool, 300));
	CHILD_ASSERT(write(report_fd, "w", 1) == 1);
	wait_for_command(command_fd);
	exit(EXIT_SUCCESS);
}

/* The block as this process's pool file holds it, compared with fill. */
static bool pool_file_block_is(pid_t pid, area_id area, unsigned char fill)
{
	unsigned char file_bytes[FORK_BLOCK_BYTES];
	char path[PATH_BYTES];
	if (!read_file_bytes(pool_file_path(path, pid, area), fork_block_offset, file_bytes,
		    sizeof(file_bytes)))
		return false;
	for (size_t i = 0; i < sizeof(file_bytes); i++)
		if (file_bytes[i] != fill)
			return false;
	return true;
}

/* Loads the module, creates fork_pool with fork_block full of 'P', forks a
 * forked_writer_body child (with the pool's file renamed to hidden_name
 * meanwhile, when not NULL) and waits for its report; returns the pool's
 * area. */
static area_id fork_writer_hiding(const char *options, struct child *child, const char *hidden_name)
{
	char hidden[PATH_BYTES];
	struct node_pool_descriptor descriptor;
	char path[PATH_BYTES], written = 0;
	area_id area;

	select_debug_module(options);
	ck_assert(load_modules());
	fork_pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(fork_pool);
	fork_block = am->malloc(fork_pool, FORK_BLOCK_BYTES);
	ck_assert_ptr_nonnull(fork_block);
	memset(fork_block, 'P', FORK_BLOCK_BYTES);
	area = area_of_pool(fork_pool);
	ck_assert(read_pool_descriptor(pool_file_path(path, getpid(), area), &descriptor));
	fork_block_offset = (uint64_t)(uintptr_t)fork_block - descriptor.base_address;
	ck_assert_uint_lt(fork_block_offset, descriptor.area_size);
	ck_assert(pool_file_block_is(getpid(), area, 'P'));

	if (hidden_name != NULL)
		ck_assert_int_eq(rename(path,
					 path_of(hidden, "%s/%d/%s", node_dir, (int)getpid(),
						 hidden_name)),
			0);
	start_child(child, forked_writer_body);
	ck_assert_msg(read_report(child, &written, 1), "the forked child did not report");
	if (hidden_name != NULL)
		ck_assert_int_eq(rename(hidden, path), 0);
	return area;
}

static area_id fork_writer(const char *options, struct child *child)
{
	return fork_writer_hiding(options, child, NULL);
}

static void finish_fork_test(struct child *child, area_id area)
{
	char path[PATH_BYTES];

	tell_child(child);
	assert_exited_cleanly(wait_child(child));
	/* the child's exit ended its own node only */
	ck_assert(!path_exists(node_path(path, child->pid)));
	ck_assert(path_exists(pool_file_path(path, getpid(), area)));
	ck_assert_int_eq(process_file_lock(getpid()), F_WRLCK);
	ck_assert(pool_file_block_is(getpid(), area, 'P'));
	am->free(fork_pool, fork_block);
	ck_assert_int_eq(am->delete_pool(fork_pool), B_OK);
	ck_assert(unload_modules());
}

/* A pool file the child cannot reopen (gone from the node, as when the node
 * directory was removed by hand): the child's pool is copied from the
 * mapping itself, and its writes never reach the parent. */
START_TEST(fork_child_copies_a_pool_whose_file_is_gone)
{
	struct child child;
	area_id area = fork_writer_hiding("fork_nodes=0", &child, "moved-away");

	ck_assert_int_eq(fork_block[0], 'P');
	ck_assert(pool_file_block_is(getpid(), area, 'P'));
	finish_fork_test(&child, area);
}
END_TEST

START_TEST(fork_child_without_node_has_private_pools)
{
	struct child child;
	area_id area = fork_writer("fork_nodes=0", &child);
	char path[PATH_BYTES];

	ck_assert(!path_exists(node_path(path, child.pid)));
	ck_assert_int_eq(entry_count(node_dir), 1);
	ck_assert(pool_file_block_is(getpid(), area, 'P'));
	ck_assert_int_eq(fork_block[0], 'P');
	finish_fork_test(&child, area);
}
END_TEST

START_TEST(fork_child_with_fork_nodes_publishes_its_own)
{
	char path[PATH_BYTES];
	struct child child;
	area_id area = fork_writer("fork_nodes=1", &child);

	assert_mode(node_path(path, child.pid), S_IFDIR, 0700);
	assert_mode(pool_file_path(path, child.pid, area), S_IFREG, 0600);
	ck_assert_int_eq(process_file_lock(child.pid), F_WRLCK);
	ck_assert(pool_file_block_is(child.pid, area, 'C'));
	ck_assert(pool_file_block_is(getpid(), area, 'P'));
	ck_assert_int_eq(fork_block[0], 'P');
	finish_fork_test(&child, area);
}
END_TEST

/* ---- 9. quiet windows ---- */

/* Asks for a quiet window in the pool file as a reader does (pwrite of
 * quiet.requested), and never finishes it: a reader stopped or killed in
 * its window. */
static void request_quiet_window(const char *path, uint64_t control_offset, uint32_t request)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &request, sizeof(request),
				 (off_t)(control_offset
					 + offsetof(struct node_pool_descriptor, quiet)
					 + offsetof(struct node_quiet_window, requested))),
		(ssize_t)sizeof(request));
	close(fd);
}

/* The next call grants a request, once, and goes on without the reader's
 * "finished"; with reader_wait_us=0 no window is granted at all. */
static void check_quiet_window(const char *options, uint32_t budget_us)
{
	struct node_pool_descriptor descriptor;
	char path[PATH_BYTES];
	const void *pool;
	void *blocks[3];

	select_debug_module(options);
	ck_assert(load_modules());
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	blocks[0] = am->malloc(pool, 100);
	pool_file_path(path, getpid(), area_of_pool(pool));
	ck_assert(read_pool_descriptor(path, &descriptor));
	ck_assert_uint_eq(descriptor.quiet.budget_us, budget_us);
	ck_assert_uint_eq(descriptor.quiet.granted, 0);
	request_quiet_window(path, descriptor.control_offset, 1);
	blocks[1] = am->malloc(pool, 200); /* waits at most budget_us, once */
	blocks[2] = am->malloc(pool, 300);
	ck_assert(read_pool_descriptor(path, &descriptor));
	ck_assert_uint_eq(descriptor.quiet.requested, 1);
	ck_assert_uint_eq(descriptor.quiet.granted, budget_us != 0 ? 1 : 0);
	ck_assert_uint_eq(descriptor.quiet.finished, 0);
	ck_assert_uint_eq(descriptor.seq % 2, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(blocks[i]);
		am->free(pool, blocks[i]);
	}
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert(unload_modules());
}

START_TEST(quiet_window_is_granted_once_and_bounded)
{
	check_quiet_window("", 2000);
}
END_TEST

START_TEST(reader_wait_us_0_grants_no_window)
{
	check_quiet_window("reader_wait_us=0", 0);
}
END_TEST

/* ---- the suite ---- */

static Suite *node_writer_suite(void)
{
	Suite *suite = suite_create("node_writer");
	TCase *refused = tcase_create("refused_node_dir");
	TCase *files = tcase_create("files");
	TCase *lifetime = tcase_create("liveness_and_lifetime");
	TCase *tmpfs = tcase_create("full_tmpfs");
	TCase *protection = tcase_create("guard_and_core_dumps");
	TCase *fork_case = tcase_create("fork");
	TCase *quiet = tcase_create("quiet_window");
	TCase *all[] = { refused, files, lifetime, tmpfs, protection, fork_case, quiet };

	tcase_add_test(refused, refuses_symlink_node_dir);
	tcase_add_test(refused, refuses_node_dir_open_to_others);
	tcase_add_test(refused, refuses_node_dir_of_another_user);
	tcase_add_test(refused, refuses_regular_file_node_dir);
	tcase_add_test(files, node_files_are_private_and_regular);
	tcase_add_test(files, stale_own_node_with_planted_symlink_is_replaced);
	tcase_add_test(files, planted_pool_symlink_is_not_followed);
	tcase_add_test(lifetime, lock_shows_liveness_and_sigkill_leaves_node);
	tcase_add_test(lifetime, exit_removes_node);
	tcase_add_test(lifetime, delete_pool_and_last_put_module_remove_files);
	tcase_add_test(lifetime, keep_dead_nodes_keeps_the_newest);
	tcase_add_test(tmpfs, full_tmpfs_gives_null_never_sigbus);
	tcase_add_test(tmpfs, exit_with_live_lazy_pool_on_small_tmpfs);
	tcase_add_test(protection, guard_page_is_inaccessible);
	tcase_add_test(protection, halt_on_error_dumps_shared_file_mappings);
	tcase_add_test(protection, without_halt_on_error_coredump_filter_is_left_alone);
	tcase_add_test(fork_case, fork_child_without_node_has_private_pools);
	tcase_add_test(fork_case, fork_child_copies_a_pool_whose_file_is_gone);
	tcase_add_test(fork_case, fork_child_with_fork_nodes_publishes_its_own);
	tcase_add_test(quiet, quiet_window_is_granted_once_and_bounded);
	tcase_add_test(quiet, reader_wait_us_0_grants_no_window);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_add_checked_fixture(all[i], setup, NULL);
		tcase_set_timeout(all[i], 60);
		suite_add_tcase(suite, all[i]);
	}
	return suite;
}

int main(void)
{
	int status;

	path_of(run_dir, "/tmp/area_malloc-node-writer-XXXXXX");
	if (mkdtemp(run_dir) == NULL) {
		perror("test_node_writer: mkdtemp");
		return EXIT_FAILURE;
	}

	/* every test loads the module with its own options: one process each */
	status = run_check_suite(node_writer_suite(), CK_FORK);
	remove_run_dir();
	return status;
}
