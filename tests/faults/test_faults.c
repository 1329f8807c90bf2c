/*
 * test_faults.c - Check suite: fault injection. The system refuses what the
 * module asks of it, or an allocation fails at a chosen point, and each
 * failure must be a clean NULL or documented Haiku error, leak nothing and
 * leave every pool valid and every block byte-for-byte as it was.
 *
 *  - mmap: this program defines mmap, mmap64 and munmap (exported, so that
 *    libarea_malloc and the module images bind to them through their PLT);
 *    they forward to the raw system calls, count calls, fail the Nth call
 *    (or every call from the Nth on) with a chosen errno, and track the
 *    ranges mapped through them, so that a failed call is seen to unmap
 *    everything it mapped. glibc's and the sanitizers' own mappings do not
 *    go through them. The dynamic loader's do not either: get_module under
 *    memory pressure is tested with RLIMIT_AS in a child. Also: pools made
 *    until create_pool fails (registry full, or vm.max_map_count), and the
 *    fork handler's mmaps (a child must never share pool pages with its
 *    parent, even when making its private copy fails once).
 *  - mlock refused: a child drops CAP_IPC_LOCK (root ignores
 *    RLIMIT_MEMLOCK) and lowers RLIMIT_MEMLOCK, then creates locked pools.
 *  - the debug node: a read-only or missing node directory, a tmpfs full at
 *    start-up or filled later (mounted in a child's private mount namespace,
 *    root only: the cases say SKIP and pass otherwise), RLIMIT_FSIZE.
 *  - module init: tests/module's staged test modules, whose std_ops results
 *    the test sets through libmodule_log.
 *  - realloc: the pool exhausted at each boundary of in-place growth, move
 *    and shrink (release: exact thresholds from heap.h's block overhead;
 *    debug: monotonic thresholds, the same with and without quarantine),
 *    and the debug build's fail_nth over every allocation point of a script.
 *
 * Children never call Check: they report a failed check on standard error
 * and exit with CHILD_FAILED; the test asserts on the exit status.
 *
 * Locking: the interposer's state is protected by its own mutex; the tests
 * are single-threaded.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "kernel/area_internal.h"
#include "module/module_log.h"
#include "support/debug_command.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/debug_options.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define CHILD_FAILED 97
#define CHILD_TIME_LIMIT 60
#define CAP_IPC_LOCK_BIT 14
#define CUSTOM_INIT_ERROR ((status_t)(B_GENERAL_ERROR_BASE + 0x4243))

/* ==== the mmap interposer ==== */

enum fault_mode {
	FAULT_OFF,
	FAULT_ONCE, /* only call number 'target' fails */
	FAULT_FROM, /* every call from number 'target' on fails */
};

struct range {
	uintptr_t start, end;
};

#define MAX_RANGES 1024

static struct {
	pthread_mutex_t lock;
	long calls;
	long target;
	enum fault_mode mode;
	int error;
	bool untracked; /* ranges not followed (a test of many pools) */
	struct range ranges[MAX_RANGES];
	size_t range_count;
	bool overflowed;
} interposer = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uintptr_t page_round_up(uintptr_t value)
{
	return (value + 4095) & ~(uintptr_t)4095;
}

/* Removes [start, end) from the tracked ranges; with the lock held. */
static void untrack_locked(uintptr_t start, uintptr_t end)
{
	size_t kept = 0;
	struct range split = { 0, 0 };

	for (size_t i = 0; i < interposer.range_count; i++) {
		struct range range = interposer.ranges[i];
		if (range.end <= start || range.start >= end) {
			interposer.ranges[kept++] = range;
			continue;
		}
		if (range.start < start && range.end > end)
			split = (struct range){ end, range.end };
		if (range.start < start)
			interposer.ranges[kept++] = (struct range){ range.start, start };
		else if (range.end > end)
			interposer.ranges[kept++] = (struct range){ end, range.end };
	}
	interposer.range_count = kept;
	if (split.end != 0) {
		if (interposer.range_count < MAX_RANGES)
			interposer.ranges[interposer.range_count++] = split;
		else
			interposer.overflowed = true;
	}
}

static void *interposed_mmap(void *address, size_t length, int prot, int flags, int fd,
	off_t offset)
{
	long result;
	bool fail;
	long call;

	pthread_mutex_lock(&interposer.lock);
	call = ++interposer.calls;
	fail = (interposer.mode == FAULT_ONCE && call == interposer.target)
		|| (interposer.mode == FAULT_FROM && call >= interposer.target);
	pthread_mutex_unlock(&interposer.lock);
	if (fail) {
		errno = interposer.error;
		return MAP_FAILED;
	}
	result = syscall(SYS_mmap, address, length, prot, flags, fd, offset);
	if (result == -1)
		return MAP_FAILED;
	if (interposer.untracked)
		return (void *)result;
	pthread_mutex_lock(&interposer.lock);
	untrack_locked((uintptr_t)result, (uintptr_t)result + page_round_up(length));
	if (interposer.range_count < MAX_RANGES)
		interposer.ranges[interposer.range_count++] = (struct range){ (uintptr_t)result,
			(uintptr_t)result + page_round_up(length) };
	else
		interposer.overflowed = true;
	pthread_mutex_unlock(&interposer.lock);
	return (void *)result;
}

void *mmap(void *address, size_t length, int prot, int flags, int fd, off_t offset)
{
	return interposed_mmap(address, length, prot, flags, fd, offset);
}

void *mmap64(void *address, size_t length, int prot, int flags, int fd, off_t offset)
{
	return interposed_mmap(address, length, prot, flags, fd, offset);
}

int munmap(void *address, size_t length)
{
	long result = syscall(SYS_munmap, address, length);

	if (result == 0 && !interposer.untracked) {
		pthread_mutex_lock(&interposer.lock);
		untrack_locked((uintptr_t)address, (uintptr_t)address + page_round_up(length));
		pthread_mutex_unlock(&interposer.lock);
	}
	return (int)result;
}

/* Starts counting calls afresh; from then on call number target fails
 * (mode FAULT_ONCE) or every call from it on (FAULT_FROM), with error. */
static void arm_mmap_fault(enum fault_mode mode, long target, int error)
{
	pthread_mutex_lock(&interposer.lock);
	interposer.calls = 0;
	interposer.mode = mode;
	interposer.target = target;
	interposer.error = error;
	pthread_mutex_unlock(&interposer.lock);
}

/* Stops failing; returns the calls made since arming. */
static long disarm_mmap_fault(void)
{
	long calls;

	pthread_mutex_lock(&interposer.lock);
	calls = interposer.calls;
	interposer.mode = FAULT_OFF;
	pthread_mutex_unlock(&interposer.lock);
	return calls;
}

static int compare_ranges(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* ==== what a failed call must not leak ==== */

struct resources {
	int fds;
	int areas;
	int node_entries; /* -1: no node directory to look at */
	size_t range_count;
	struct range ranges[MAX_RANGES];
};

static int count_entries(const char *path)
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

static int count_areas(void)
{
	ssize_t cookie = 0;
	area_info info;
	int count = 0;

	while (get_next_area_info(0, &cookie, &info) == B_OK)
		count++;
	return count;
}

static char node_dir[1024]; /* the node_dir option of the "debug with node" build */

static void take_resources(struct resources *resources)
{
	char node[sizeof(node_dir) + 16];

	resources->fds = count_entries("/proc/self/fd");
	resources->areas = count_areas();
	snprintf(node, sizeof(node), "%s/%d", node_dir, (int)getpid());
	resources->node_entries = node_dir[0] != '\0' ? count_entries(node) : -1;
	pthread_mutex_lock(&interposer.lock);
	ck_assert_msg(!interposer.overflowed, "the interposer tracks too many ranges");
	resources->range_count = interposer.range_count;
	memcpy(resources->ranges, interposer.ranges,
		interposer.range_count * sizeof(interposer.ranges[0]));
	pthread_mutex_unlock(&interposer.lock);
	qsort(resources->ranges, resources->range_count, sizeof(resources->ranges[0]),
		compare_ranges);
}

static void assert_nothing_leaked(const struct resources *before, const char *what)
{
	struct resources *now = malloc(sizeof(*now));

	ck_assert_ptr_nonnull(now);
	take_resources(now);
	ck_assert_msg(now->fds == before->fds, "%s: %d file descriptors, were %d", what, now->fds,
		before->fds);
	ck_assert_msg(now->areas == before->areas, "%s: %d areas, were %d", what, now->areas,
		before->areas);
	ck_assert_msg(now->node_entries == before->node_entries, "%s: %d node files, were %d", what,
		now->node_entries, before->node_entries);
	ck_assert_msg(now->range_count == before->range_count
			&& memcmp(now->ranges, before->ranges,
				   now->range_count * sizeof(now->ranges[0]))
				== 0,
		"%s: the mappings made through mmap changed (%zu ranges, were %zu)", what,
		now->range_count, before->range_count);
	free(now);
}

/* ==== scratch directories ==== */

static char run_dir[256];  /* made and removed by main() */
static char test_dir[512]; /* fresh for each test, inside run_dir */

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
	(void)status;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "%s/test-XXXXXX", run_dir);
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	snprintf(node_dir, sizeof(node_dir), "%s/nodes", test_dir);
}

/* ==== the module ==== */

enum build {
	BUILD_RELEASE,
	BUILD_DEBUG,      /* node=0 */
	BUILD_DEBUG_NODE, /* pools in files of a node under node_dir */
	BUILD_COUNT
};

static const char *const build_names[BUILD_COUNT] = { "release", "debug", "debug with node" };

static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd; /* NULL with the release module */
static int reports_taken;
static char last_report_kind[64];

static bool count_report(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	reports_taken++;
	snprintf(last_report_kind, sizeof(last_report_kind), "%s", report->kind);
	return true;
}

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run `make check`)");
	return dir;
}

/* Points KERNEL_MODULE_PATH and AREA_MALLOC_OPTIONS at a build; extra
 * options may be "". The debug builds never publish into the real
 * /dev/shm: node=0, or a node_dir of this test. */
static void select_build(enum build build, const char *extra)
{
	char path[PATH_MAX], options[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/modules/%s", builddir(),
		build == BUILD_RELEASE ? "release" : "debug");
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
	if (build == BUILD_DEBUG_NODE)
		snprintf(options, sizeof(options), "node_dir=%s%s%s", node_dir,
			extra[0] != '\0' ? ":" : "", extra);
	else
		snprintf(options, sizeof(options), "node=0%s%s", extra[0] != '\0' ? ":" : "",
			extra);
	ck_assert_int_eq(set_debug_options(options), 0);
}

/* Gets the module (and the companion, for the debug builds); false if not. */
static bool try_load(enum build build)
{
	amd = NULL;
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) != B_OK)
		return false;
	if (build == BUILD_RELEASE)
		return true;
	if (get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd) != B_OK)
		return false;
	amd->set_report_hook(count_report, NULL);
	return true;
}

static void load(enum build build, const char *extra)
{
	select_build(build, extra);
	reports_taken = 0;
	ck_assert_msg(try_load(build), "cannot load the %s module", build_names[build]);
}

static bool try_unload(void)
{
	if (amd != NULL && put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME) != B_OK)
		return false;
	amd = NULL;
	return put_module(B_AREA_MALLOC_MODULE_NAME) == B_OK;
}

static void unload(void)
{
	ck_assert(try_unload());
}

/* ==== pools, blocks and their numbers ==== */

static void fill(void *block, size_t size, unsigned seed)
{
	unsigned char *bytes = block;

	for (size_t i = 0; i < size; i++)
		bytes[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static bool filled(const void *block, size_t size, unsigned seed)
{
	const unsigned char *bytes = block;

	for (size_t i = 0; i < size; i++)
		if (bytes[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 8)))
			return false;
	return true;
}

/* The numbers a failed call must leave alone, read through the module's own
 * means: the companion's statistics (debug) or the "pool" command (release). */
struct pool_numbers {
	area_id area;
	size_t used;
	size_t live_blocks;
	uint64_t failed;
	uint64_t injected;
	uint64_t allocations; /* debug only (0 in the release build) */
	uint64_t frees;       /* debug only */
	uint64_t errors;      /* debug only */
};

/* The release module's "pools" line of this pool id. */
static bool release_pool_line(const void *pool, struct pool_numbers *numbers)
{
	char *output, *line, needle[64];
	bool found = false;

	run_debug_command("pools", &output);
	snprintf(needle, sizeof(needle), " id: %p;", pool);
	for (line = strtok(output, "\n"); line != NULL && !found; line = strtok(NULL, "\n")) {
		int area;
		unsigned long long failed;
		size_t used, blocks;
		if (strstr(line, needle) == NULL)
			continue;
		found = sscanf(line, "pool %d:", &area) == 1
			&& sscanf(strstr(line, "; used: "), "; used: %zu", &used) == 1
			&& sscanf(strstr(line, "; blocks: "), "; blocks: %zu", &blocks) == 1
			&& sscanf(strstr(line, "; failed: "), "; failed: %llu", &failed) == 1;
		numbers->area = area;
		numbers->used = used;
		numbers->live_blocks = blocks;
		numbers->failed = failed;
	}
	free(output);
	return found;
}

static struct pool_numbers pool_numbers(const void *pool)
{
	struct pool_numbers numbers;

	memset(&numbers, 0, sizeof(numbers));
	if (amd != NULL) {
		area_malloc_pool_stats stats;
		ck_assert_int_eq(amd->get_pool_stats(pool, &stats), B_OK);
		numbers.area = stats.area;
		numbers.used = stats.used;
		numbers.live_blocks = stats.live_blocks;
		numbers.failed = stats.failed_requests;
		numbers.injected = stats.injected_failures;
		numbers.allocations = stats.allocations;
		numbers.frees = stats.frees;
		numbers.errors = stats.errors;
	} else {
		ck_assert_msg(release_pool_line(pool, &numbers), "pool %p is not listed", pool);
	}
	return numbers;
}

/* The pool validates: the "check" command on it (both builds) and the
 * companion's check_pool (debug). No report may come of it. */
static void assert_pool_valid(const void *pool)
{
	struct pool_numbers numbers = pool_numbers(pool);
	char command[32], *output;
	int reports = reports_taken;
	int result;

	snprintf(command, sizeof(command), "check %d", (int)numbers.area);
	result = run_debug_command(command, &output);
	ck_assert_msg(result == 0
			&& strstr(output,
				   amd != NULL ? "1 pool(s) checked, 0 problem(s)"
					       : "1 pool(s) checked, 0 damaged")
				!= NULL,
		"%s returned %d: %s", command, result, output);
	free(output);
	if (amd != NULL)
		ck_assert_int_eq(amd->check_pool(pool), 0);
	ck_assert_int_eq(reports_taken, reports);
}

/* A failed call changed nothing but the failure counters. */
static void assert_only_failure_counted(const struct pool_numbers *before,
	const struct pool_numbers *after, uint64_t failed, uint64_t injected)
{
	ck_assert_uint_eq(after->used, before->used);
	ck_assert_uint_eq(after->live_blocks, before->live_blocks);
	ck_assert_uint_eq(after->allocations, before->allocations);
	ck_assert_uint_eq(after->frees, before->frees);
	ck_assert_uint_eq(after->errors, before->errors);
	ck_assert_uint_eq(after->failed, before->failed + failed);
	ck_assert_uint_eq(after->injected, before->injected + injected);
}

/* A pool with a few patterned blocks that must survive whatever the test
 * does to other pools. */
#define BYSTANDERS 8

struct bystander_pool {
	const void *pool;
	void *blocks[BYSTANDERS];
	size_t sizes[BYSTANDERS];
};

static void bystanders_start(struct bystander_pool *bystander)
{
	bystander->pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 256 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(bystander->pool);
	for (unsigned i = 0; i < BYSTANDERS; i++) {
		bystander->sizes[i] = 1 + i * 997;
		bystander->blocks[i] = am->malloc(bystander->pool, bystander->sizes[i]);
		ck_assert_ptr_nonnull(bystander->blocks[i]);
		fill(bystander->blocks[i], bystander->sizes[i], 1000 + i);
	}
}

static void bystanders_assert_intact(const struct bystander_pool *bystander)
{
	for (unsigned i = 0; i < BYSTANDERS; i++)
		ck_assert_msg(filled(bystander->blocks[i], bystander->sizes[i], 1000 + i),
			"bystander block %u changed", i);
	assert_pool_valid(bystander->pool);
}

static void bystanders_finish(struct bystander_pool *bystander)
{
	bystanders_assert_intact(bystander);
	for (unsigned i = 0; i < BYSTANDERS; i++)
		am->free(bystander->pool, bystander->blocks[i]);
	ck_assert_int_eq(am->delete_pool(bystander->pool), B_OK);
}

/* Allocates, fills, checks and frees one block of each of a few sizes. */
static bool pool_works(const void *pool)
{
	static const size_t sizes[] = { 0, 1, 100, 4000, 20000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *block = am->malloc(pool, sizes[i]);
		bool intact;
		if (block == NULL)
			return false;
		fill(block, sizes[i], (unsigned)i);
		intact = filled(block, sizes[i], (unsigned)i);
		am->free(pool, block);
		if (!intact)
			return false;
	}
	return true;
}

/* ==== children ==== */

static void child_failed(int line, const char *what)
{
	fprintf(stderr, "test_faults child %d: line %d: check failed: %s\n", (int)getpid(), line,
		what);
	fflush(stderr);
	_exit(CHILD_FAILED);
}

#define CHILD_ASSERT(condition)                                                                    \
	do {                                                                                       \
		if (!(condition))                                                                  \
			child_failed(__LINE__, #condition);                                        \
	} while (0)

struct child_run {
	int status;
	char *output; /* the child's standard error (free it) */
};

static char *read_whole_file(const char *path)
{
	FILE *file = fopen(path, "r");
	char *text = NULL;
	size_t length = 0;

	if (file == NULL)
		return strdup("");
	if (getdelim(&text, &length, '\0', file) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(file);
	return text;
}

/* Runs body(context) in a child whose standard error goes to a file;
 * body must end the child (exit or _exit). */
static struct child_run run_child(void (*body)(void *), void *context)
{
	char path[sizeof(test_dir) + 16];
	struct child_run run;
	pid_t child;

	snprintf(path, sizeof(path), "%s/child-stderr", test_dir);
	fflush(NULL);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(CHILD_FAILED);
		dup2(fd, STDERR_FILENO);
		close(fd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		test_alarm(CHILD_TIME_LIMIT);
		body(context);
		child_failed(__LINE__, "the child's body returned");
	}
	ck_assert_int_eq(waitpid(child, &run.status, 0), child);
	run.output = read_whole_file(path);
	return run;
}

static void assert_child_passed(const struct child_run *run)
{
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0,
		"the child ended with %s %d; its standard error:\n%s",
		WIFEXITED(run->status) ? "exit status" : "signal",
		WIFEXITED(run->status) ? WEXITSTATUS(run->status) : WTERMSIG(run->status),
		run->output);
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

/* In a child: a private mount namespace with a tmpfs of size_option
 * ("size=4k") at test_dir/tmpfs, and node_dir inside it; false when this
 * process cannot (the test checked can_mount() before forking). */
static bool child_mount_tmpfs(const char *size_option)
{
	char mount_point[sizeof(test_dir) + 16], options[64];

	snprintf(mount_point, sizeof(mount_point), "%s/tmpfs", test_dir);
	snprintf(options, sizeof(options), "%s,mode=0700", size_option);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
		|| mkdir(mount_point, 0700) != 0
		|| mount("tmpfs", mount_point, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
		return false;
	snprintf(node_dir, sizeof(node_dir), "%s/nodes", mount_point);
	return mkdir(node_dir, 0700) == 0;
}

/* Whether this test can mount: root. Says SKIP when not. */
static bool can_mount(const char *test)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "SKIP %s: needs root for a private mount namespace and a tmpfs\n", test);
	return false;
}

/* ==== 1. mmap fails in create_area and create_pool ==== */

struct pool_spec {
	uint32 address_spec;
	uint32 lock_spec;
};

static const uint32 address_specs[] = { B_ANY_ADDRESS, B_ANY_KERNEL_ADDRESS,
	B_ANY_KERNEL_BLOCK_ADDRESS, B_BASE_ADDRESS, B_RANDOMIZED_ANY_ADDRESS };
static const uint32 lock_specs[] = { B_NO_LOCK, B_LAZY_LOCK, B_FULL_LOCK, B_CONTIGUOUS, B_LOMEM,
	B_32_BIT_FULL_LOCK };

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* The 32-bit and low-memory specs search /proc/self/maps for a gap and try
 * again when their mmap fails with ENOMEM (someone else may have taken the
 * gap): a single failure there is survived. */
static bool searches_gap(uint32 lock_spec)
{
	return lock_spec == B_LOMEM || lock_spec == B_32_BIT_FULL_LOCK
		|| lock_spec == B_32_BIT_CONTIGUOUS;
}

static status_t status_of_errno(int error)
{
	switch (error) {
	case EINVAL:
		return B_BAD_VALUE;
	case EPERM:
	case EACCES:
		return B_PERMISSION_DENIED;
	default:
		return B_NO_MEMORY;
	}
}

/* create_area with every mmap from the Nth on failing with each errno:
 * the errno's Haiku status, and every partial mapping undone. */
START_TEST(create_area_returns_the_errno_status)
{
	static const int errors[] = { ENOMEM, EAGAIN, EPERM, EACCES, EINVAL, ENFILE };
	struct resources *before = malloc(sizeof(*before));

	ck_assert_ptr_nonnull(before);
	for (size_t a = 0; a < COUNT_OF(address_specs); a++) {
		for (size_t l = 0; l < COUNT_OF(lock_specs); l++) {
			void *address = NULL;
			area_id area;
			long calls;

			/* how many mmaps a good creation takes */
			take_resources(before);
			arm_mmap_fault(FAULT_OFF, 0, 0);
			area = create_area("faults", &address, address_specs[a], 64 * KIB,
				lock_specs[l], B_READ_AREA | B_WRITE_AREA);
			calls = disarm_mmap_fault();
			ck_assert_int_gt(area, 0);
			ck_assert_int_ge(calls, 1);
			ck_assert_int_eq(delete_area(area), B_OK);
			assert_nothing_leaked(before, "create_area and delete_area");

			for (long n = 1; n <= calls; n++) {
				for (size_t e = 0; e < COUNT_OF(errors); e++) {
					address = NULL;
					arm_mmap_fault(FAULT_FROM, n, errors[e]);
					area = create_area("faults", &address, address_specs[a],
						64 * KIB, lock_specs[l],
						B_READ_AREA | B_WRITE_AREA);
					disarm_mmap_fault();
					ck_assert_msg(area == status_of_errno(errors[e]),
						"spec %u/%u, mmap %ld of %ld failing with %s: %d",
						address_specs[a], lock_specs[l], n, calls,
						strerror(errors[e]), (int)area);
					ck_assert_ptr_null(address);
					assert_nothing_leaked(before, "a failed create_area");
				}
			}
		}
	}
	free(before);
}
END_TEST

/* create_pool with its Nth mmap failing once, or every mmap from the Nth
 * on: NULL (a single failure of a gap search is survived), nothing leaked
 * (file descriptors, areas, mappings, node files), the other pools intact,
 * and the next create_pool works. */
START_TEST(create_pool_fails_cleanly_at_every_mmap)
{
	enum build build = (enum build)_i;
	struct bystander_pool bystander;
	struct resources *before = malloc(sizeof(*before));

	ck_assert_ptr_nonnull(before);
	load(build, "");
	bystanders_start(&bystander);
	for (size_t a = 0; a < COUNT_OF(address_specs); a++) {
		for (size_t l = 0; l < COUNT_OF(lock_specs); l++) {
			const void *pool;
			long calls;

			take_resources(before);
			arm_mmap_fault(FAULT_OFF, 0, 0);
			pool = am->create_pool(address_specs[a], 64 * KIB, lock_specs[l],
				KERNEL_RW);
			calls = disarm_mmap_fault();
			ck_assert_ptr_nonnull(pool);
			ck_assert_int_ge(calls, 1);
			ck_assert(pool_works(pool));
			ck_assert_int_eq(am->delete_pool(pool), B_OK);
			assert_nothing_leaked(before, "create_pool and delete_pool");

			for (long n = 1; n <= calls; n++) {
				for (enum fault_mode mode = FAULT_ONCE; mode <= FAULT_FROM;
					mode++) {
					arm_mmap_fault(mode, n, ENOMEM);
					pool = am->create_pool(address_specs[a], 64 * KIB,
						lock_specs[l], KERNEL_RW);
					disarm_mmap_fault();
					if (mode == FAULT_ONCE && searches_gap(lock_specs[l])) {
						ck_assert_ptr_nonnull(pool);
						ck_assert(pool_works(pool));
						ck_assert_int_eq(am->delete_pool(pool), B_OK);
					} else {
						ck_assert_msg(pool == NULL,
							"%s: spec %u/%u with mmap %ld of %ld "
							"failing: "
							"a pool",
							build_names[build], address_specs[a],
							lock_specs[l], n, calls);
					}
					assert_nothing_leaked(before, "a failed create_pool");
					bystanders_assert_intact(&bystander);
				}
			}
			pool = am->create_pool(address_specs[a], 64 * KIB, lock_specs[l],
				KERNEL_RW);
			ck_assert_ptr_nonnull(pool);
			ck_assert(pool_works(pool));
			ck_assert_int_eq(am->delete_pool(pool), B_OK);
		}
	}
	bystanders_finish(&bystander);
	ck_assert_int_eq(reports_taken, 0);
	unload();
	free(before);
}
END_TEST

/*
 * A pool never grows: malloc, calloc, realloc and free make no mmap at all,
 * so they work unchanged while every mmap fails. The debug module's reports
 * and debugger commands do not need mmap either.
 */
static void mixed_workload(const void *pool, unsigned seed)
{
	enum { SLOTS = 64 };
	void *blocks[SLOTS] = { NULL };
	size_t sizes[SLOTS] = { 0 };

	for (unsigned round = 0; round < 1000; round++) {
		unsigned slot = (round * 37u + seed) % SLOTS;
		size_t size = (round * 7919u + seed) % 3000;
		if (blocks[slot] != NULL)
			ck_assert_msg(filled(blocks[slot], sizes[slot], slot),
				"block of slot %u changed", slot);
		switch (round % 4) {
		case 0:
			am->free(pool, blocks[slot]);
			blocks[slot] = am->malloc(pool, size);
			break;
		case 1:
			am->free(pool, blocks[slot]);
			blocks[slot] = am->calloc(pool, 1, size);
			break;
		default: {
			void *moved = am->realloc(pool, blocks[slot], size);
			if (size == 0) {
				ck_assert_ptr_null(moved);
				blocks[slot] = NULL;
				continue;
			}
			blocks[slot] = moved;
			break;
		}
		}
		ck_assert_ptr_nonnull(blocks[slot]);
		sizes[slot] = size;
		fill(blocks[slot], size, slot);
	}
	for (unsigned slot = 0; slot < SLOTS; slot++)
		am->free(pool, blocks[slot]);
}

START_TEST(allocation_never_maps)
{
	enum build build = (enum build)_i;
	const void *pool;
	void *block;
	char *output;
	long calls;

	load(build, "");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);

	arm_mmap_fault(FAULT_OFF, 0, 0);
	mixed_workload(pool, 1);
	calls = disarm_mmap_fault();
	ck_assert_int_eq(calls, 0);

	arm_mmap_fault(FAULT_FROM, 1, ENOMEM);
	mixed_workload(pool, 2);
	assert_pool_valid(pool);
	if (amd != NULL) {
		/* a report symbolizes its frames: without any mmap too */
		block = am->malloc(pool, 100);
		ck_assert_ptr_nonnull(block);
		am->free(pool, block);
		am->free(pool, block);
		ck_assert_int_eq(reports_taken, 1);
		ck_assert_str_eq(last_report_kind, "double-free");
		ck_assert_int_eq(run_debug_command("leaks", &output), 0);
		ck_assert_ptr_nonnull(strstr(output, "0 byte(s) in 0 live block(s) in 1 pool(s)"));
		free(output);
	}
	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	ck_assert_ptr_nonnull(strstr(output, "1 pool(s)"));
	free(output);
	disarm_mmap_fault();

	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(reports_taken, amd != NULL ? 1 : 0);
	unload();
}
END_TEST

/*
 * Pools until create_pool says no: the registry's table is full, or (debug
 * build, whose pools have a guard page: three mappings each) the process
 * reaches vm.max_map_count and mmap or mprotect fails. The failing call
 * leaves nothing behind, the pools made so far work, and a deleted pool
 * makes room for a new one.
 */
#define MAX_POOLS 70000

static int count_map_lines(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	int count = 0;

	ck_assert_ptr_nonnull(maps);
	while (fgets(line, sizeof(line), maps) != NULL)
		count += strchr(line, '\n') != NULL;
	fclose(maps);
	return count;
}

START_TEST(create_pool_until_it_fails)
{
	enum build build = (enum build)_i;
	const void **pools = calloc(MAX_POOLS, sizeof(*pools));
	struct bystander_pool bystander;
	int count = 0, areas, fds, maps;
	void *block;

	ck_assert_ptr_nonnull(pools);
#ifdef __SANITIZE_ADDRESS__
	if (build == BUILD_DEBUG) {
		/* debug pools reach vm.max_map_count first, and then AddressSanitizer
		 * cannot map its own memory and ends the process */
		fprintf(stderr,
			"SKIP create_pool_until_it_fails (debug): not under "
			"AddressSanitizer\n");
		free(pools);
		return;
	}
#endif
	load(build, "log_size=0:leak_check=0");
	interposer.untracked = true; /* far more mappings than it can follow */
	bystanders_start(&bystander);
	while (count < MAX_POOLS
		&& (pools[count] = am->create_pool(B_ANY_KERNEL_ADDRESS, 4096, B_NO_LOCK,
			    KERNEL_RW))
			!= NULL)
		count++;
	ck_assert_int_lt(count, MAX_POOLS);
	ck_assert_int_ge(count, 1000);

	areas = count_areas();
	fds = count_entries("/proc/self/fd");
	maps = count_map_lines();
	for (int i = 0; i < 10; i++)
		ck_assert_ptr_null(
			am->create_pool(B_ANY_KERNEL_ADDRESS, 4096, B_NO_LOCK, KERNEL_RW));
	ck_assert_int_eq(count_areas(), areas);
	ck_assert_int_eq(count_entries("/proc/self/fd"), fds);
	ck_assert_int_eq(count_map_lines(), maps);

	bystanders_assert_intact(&bystander);
	block = am->malloc(pools[count - 1], 1000);
	ck_assert_ptr_nonnull(block);
	am->free(pools[count - 1], block);
	/* room again: the newest pool goes, a new one comes */
	ck_assert_int_eq(am->delete_pool(pools[count - 1]), B_OK);
	pools[count - 1] = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pools[count - 1]);
	ck_assert(pool_works(pools[count - 1]));
	for (int i = count - 1; i >= 0; i--)
		ck_assert_int_eq(am->delete_pool(pools[i]), B_OK);
	bystanders_finish(&bystander);
	ck_assert_int_eq(reports_taken, 0);
	unload();
	free(pools);
}
END_TEST

/*
 * fork: a child must own private copies of its pools, never the parent's
 * pages through the node's files. The child's copies are made by mmap in
 * the module's fork handler; with one of those mmaps failing (each in turn)
 * the child still gets the pool as it was at fork, and what it writes never
 * reaches the parent. (With fork_nodes=1 the child first tries to move each
 * pool into a file of its own node.)
 */
#define FORK_BLOCK 5000

static void fork_child_writes(const void *pool, unsigned char *block)
{
	long calls;

	pthread_mutex_lock(&interposer.lock);
	calls = interposer.calls;
	pthread_mutex_unlock(&interposer.lock);
	disarm_mmap_fault();
	CHILD_ASSERT(filled(block, FORK_BLOCK, 55));
	fill(block, FORK_BLOCK, 56);
	CHILD_ASSERT(pool_works(pool));
	CHILD_ASSERT(amd->check_pool(pool) == 0);
	CHILD_ASSERT(calls < CHILD_FAILED);
	_exit((int)calls);
}

/* Forks with the mmap fault armed; returns the child's count of mmaps made
 * in the fork handler. */
static long fork_with_fault(const void *pool, unsigned char *block, enum fault_mode mode,
	long target)
{
	int status;
	pid_t child;

	fflush(NULL);
	arm_mmap_fault(mode, target, ENOMEM);
	child = fork();
	if (child == 0)
		fork_child_writes(pool, block);
	disarm_mmap_fault();
	ck_assert_int_ge(child, 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != CHILD_FAILED,
		"the child (mmap %ld failing) ended with %s %d", target,
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	ck_assert_msg(filled(block, FORK_BLOCK, 55),
		"the child's write (mmap %ld failing) reached the parent's pool", target);
	assert_pool_valid(pool);
	return WEXITSTATUS(status);
}

START_TEST(fork_child_never_shares_pool_pages)
{
	const void *pool;
	unsigned char *block;
	long calls;

	load(BUILD_DEBUG_NODE, _i == 0 ? "fork_nodes=0" : "fork_nodes=1");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(pool);
	block = am->malloc(pool, FORK_BLOCK);
	ck_assert_ptr_nonnull(block);
	fill(block, FORK_BLOCK, 55);

	calls = fork_with_fault(pool, block, FAULT_OFF, 0);
	ck_assert_int_ge(calls, 1);
	for (long n = 1; n <= calls + 1; n++)
		fork_with_fault(pool, block, FAULT_ONCE, n);

	am->free(pool, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(reports_taken, 0);
	unload();
}
END_TEST

/* ==== 2. get_module when the dynamic loader cannot map the image ==== */

static long vm_size_bytes(void)
{
	FILE *status = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (status == NULL)
		return -1;
	while (fgets(line, sizeof(line), status) != NULL)
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	fclose(status);
	return kib * 1024;
}

struct address_space_try {
	enum build build;
	long slack; /* bytes of address space left to the first get_module */
};

/* Exit status of a child whose first get_module failed cleanly. */
#define FIRST_GET_FAILED 10

static void get_module_with_little_address_space(void *context)
{
	const struct address_space_try *attempt = context;
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct rlimit limit;
	char image[PATH_MAX];
	status_t status;
	int fds;
	module_info *info = NULL;

	snprintf(image, sizeof(image), "%s/modules/%s/generic/area_malloc", builddir(),
		attempt->build == BUILD_RELEASE ? "release" : "debug");
	fds = count_entries("/proc/self/fd");
	CHILD_ASSERT(getrlimit(RLIMIT_AS, &limit) == 0);
	limit.rlim_cur = (rlim_t)(vm_size_bytes() + attempt->slack);
	CHILD_ASSERT(setrlimit(RLIMIT_AS, &limit) == 0);
	status = get_module(B_AREA_MALLOC_MODULE_NAME, &info);
	CHILD_ASSERT(setrlimit(RLIMIT_AS, &unlimited) == 0);
	if (status == B_OK) {
		/* loaded: whatever its init could not do, it must work now */
		const void *pool;
		am = (area_malloc_module_info *)info;
		pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
		CHILD_ASSERT(pool != NULL);
		CHILD_ASSERT(pool_works(pool));
		CHILD_ASSERT(am->delete_pool(pool) == B_OK);
		CHILD_ASSERT(put_module(B_AREA_MALLOC_MODULE_NAME) == B_OK);
		_exit(EXIT_SUCCESS);
	}
	/* a failed get leaves no image, reference or descriptor behind */
	CHILD_ASSERT(status == B_BAD_TYPE || status == B_NO_MEMORY);
	CHILD_ASSERT(info == NULL);
	CHILD_ASSERT(dlopen(image, RTLD_NOW | RTLD_NOLOAD) == NULL);
	CHILD_ASSERT(put_module(B_AREA_MALLOC_MODULE_NAME) == B_BAD_VALUE);
	CHILD_ASSERT(count_entries("/proc/self/fd") == fds);
	/* and the next get, with memory to spare, works */
	CHILD_ASSERT(get_module(B_AREA_MALLOC_MODULE_NAME, &info) == B_OK);
	am = (area_malloc_module_info *)info;
	CHILD_ASSERT(pool_works(am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW)));
	CHILD_ASSERT(put_module(B_AREA_MALLOC_MODULE_NAME) == B_OK);
	fflush(NULL);
	_exit(FIRST_GET_FAILED);
}

/*
 * Did AddressSanitizer's own runtime end the child, unable to map memory
 * for itself? Under a tight RLIMIT_AS the module's init meets mappings of
 * the sanitizer's allocator, which ends the process instead of failing;
 * that step of the sweep tests the sanitizer, not the module (and whether a
 * step lands there moves with the module's size: a sweep in 64 KiB steps
 * meets it at 3eef543 too).
 */
static bool sanitizer_ran_out(const struct child_run *run)
{
#ifdef __SANITIZE_ADDRESS__
	return WIFEXITED(run->status) && WEXITSTATUS(run->status) == 1
		&& strstr(run->output, "AddressSanitizer failed to allocate") != NULL;
#else
	(void)run;
	return false;
#endif
}

START_TEST(get_module_without_address_space)
{
	struct address_space_try attempt = { (enum build)_i, 0 };
	int failures = 0;
	bool loaded = false;

	select_build(attempt.build, "");
	/* from no room at all up, in steps, until the get succeeds */
	for (; attempt.slack <= 256 * (long)MIB && !loaded; attempt.slack += 512 * (long)KIB) {
		struct child_run run = run_child(get_module_with_little_address_space, &attempt);
		if (WIFEXITED(run.status) && WEXITSTATUS(run.status) == FIRST_GET_FAILED) {
			/* B_BAD_TYPE comes with the loader's message, B_NO_MEMORY without */
			failures++;
		} else if (sanitizer_ran_out(&run)) {
			/* not the module's failure: the next step gives it more room */
		} else {
			assert_child_passed(&run);
			loaded = true;
		}
		free(run.output);
	}
	ck_assert_msg(failures > 0, "get_module never failed, even without address space");
	ck_assert_msg(loaded, "get_module never succeeded");
}
END_TEST

/* ==== 3. mlock refused ==== */

static bool drop_ipc_lock_capability(void)
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &header, data) != 0)
		return false;
	data[0].effective &= ~(1u << CAP_IPC_LOCK_BIT);
	data[0].permitted &= ~(1u << CAP_IPC_LOCK_BIT);
	data[0].inheritable &= ~(1u << CAP_IPC_LOCK_BIT);
	return syscall(SYS_capset, &header, data) == 0;
}

static void limit_locking(rlim_t bytes)
{
	struct rlimit limit = { bytes, bytes };

	CHILD_ASSERT(setrlimit(RLIMIT_MEMLOCK, &limit) == 0);
	CHILD_ASSERT(drop_ipc_lock_capability());
}

static area_id child_pool_area(const void *pool)
{
	void *block = am->malloc(pool, 16);
	area_id area = area_for(block);

	am->free(pool, block);
	return area;
}

static bool pool_locked(const void *pool)
{
	bool locked = false;

	CHILD_ASSERT(area_malloc_area_pages_locked(child_pool_area(pool), &locked) == B_OK);
	return locked;
}

static size_t pool_area_size(const void *pool)
{
	area_info info;

	CHILD_ASSERT(get_area_info(child_pool_area(pool), &info) == B_OK);
	return info.size;
}

/* No locking at all: every locked pool, in every build, is created
 * unlocked and works; the process warns once. */
static void locked_pools_without_locking(void *context)
{
	static const uint32 locked_specs[] = { B_FULL_LOCK, B_CONTIGUOUS, B_LAZY_LOCK, B_LOMEM,
		B_32_BIT_FULL_LOCK, B_32_BIT_CONTIGUOUS };

	(void)context;
	limit_locking(0);
	for (enum build build = 0; build < BUILD_COUNT; build++) {
		const void *pools[COUNT_OF(locked_specs)];
		select_build(build, "");
		CHILD_ASSERT(try_load(build));
		for (size_t i = 0; i < COUNT_OF(locked_specs); i++) {
			pools[i] = am->create_pool(B_ANY_KERNEL_ADDRESS, 256 * KIB, locked_specs[i],
				KERNEL_RW);
			CHILD_ASSERT(pools[i] != NULL);
			CHILD_ASSERT(!pool_locked(pools[i]));
			CHILD_ASSERT(pool_works(pools[i]));
		}
		for (size_t i = 0; i < COUNT_OF(locked_specs); i++)
			CHILD_ASSERT(am->delete_pool(pools[i]) == B_OK);
		CHILD_ASSERT(try_unload());
	}
	exit(EXIT_SUCCESS);
}

START_TEST(locked_pools_fall_back_to_unlocked)
{
	struct child_run run = run_child(locked_pools_without_locking, NULL);

	assert_child_passed(&run);
	ck_assert_msg(count_lines_with(run.output, "refused to lock") == 1
			&& count_lines_with(run.output, "area_malloc") == 1,
		"expected one warning, got:\n%s", run.output);
	free(run.output);
}
END_TEST

/* Some locking: pools lock while RLIMIT_MEMLOCK has room for them, a pool
 * too large for what is left is created unlocked, and deleting a locked
 * pool gives its room back. */
static void locked_pools_within_a_limit(void *context)
{
	const rlim_t limit = 2 * MIB;

	(void)context;
	limit_locking(limit);
	for (enum build build = 0; build < BUILD_COUNT; build++) {
		const void *small, *large, *again;
		select_build(build, "");
		CHILD_ASSERT(try_load(build));
		small = am->create_pool(B_ANY_KERNEL_ADDRESS, 128 * KIB, B_FULL_LOCK, KERNEL_RW);
		CHILD_ASSERT(small != NULL && pool_locked(small));
		CHILD_ASSERT(pool_area_size(small) < limit / 2);
		large = am->create_pool(B_ANY_KERNEL_ADDRESS, 2 * MIB, B_CONTIGUOUS, KERNEL_RW);
		CHILD_ASSERT(large != NULL && !pool_locked(large));
		CHILD_ASSERT(pool_works(large));
		CHILD_ASSERT(pool_locked(small) && pool_works(small));
		CHILD_ASSERT(am->delete_pool(small) == B_OK);
		again = am->create_pool(B_ANY_KERNEL_ADDRESS, 512 * KIB, B_FULL_LOCK, KERNEL_RW);
		CHILD_ASSERT(again != NULL && pool_locked(again) && pool_works(again));
		CHILD_ASSERT(pool_area_size(again) <= limit);
		CHILD_ASSERT(am->delete_pool(again) == B_OK);
		CHILD_ASSERT(am->delete_pool(large) == B_OK);
		CHILD_ASSERT(try_unload());
	}
	exit(EXIT_SUCCESS);
}

START_TEST(locked_pools_lock_within_the_limit)
{
	struct child_run run;

	if (geteuid() != 0) {
		fprintf(stderr,
			"SKIP locked_pools_lock_within_the_limit: needs root to raise "
			"RLIMIT_MEMLOCK to 2 MiB\n");
		return;
	}
	run = run_child(locked_pools_within_a_limit, NULL);

	assert_child_passed(&run);
	ck_assert_msg(count_lines_with(run.output, "refused to lock") == 1
			&& count_lines_with(run.output, "area_malloc") == 1,
		"expected one warning, got:\n%s", run.output);
	free(run.output);
}
END_TEST

/* ==== 4. the debug node: directory refused, tmpfs full, file size ==== */

static const uint32 every_lock_spec[] = { B_NO_LOCK, B_LAZY_LOCK, B_FULL_LOCK, B_CONTIGUOUS };

/* In a child: the debug module with node_dir as prepared; every kind of
 * pool of pool_size bytes works; no report. */
static void child_pools_work_without_node(size_t pool_size)
{
	select_build(BUILD_DEBUG_NODE, "");
	CHILD_ASSERT(try_load(BUILD_DEBUG_NODE));
	for (size_t i = 0; i < COUNT_OF(every_lock_spec); i++) {
		const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size,
			every_lock_spec[i], KERNEL_RW);
		CHILD_ASSERT(pool != NULL);
		CHILD_ASSERT(pool_works(pool));
		CHILD_ASSERT(amd->check_pool(pool) == 0);
		CHILD_ASSERT(am->delete_pool(pool) == B_OK);
	}
	CHILD_ASSERT(reports_taken == 0);
}

static void read_only_node_dir_body(void *context)
{
	char mount_point[sizeof(test_dir) + 16];
	char *output;

	(void)context;
	CHILD_ASSERT(child_mount_tmpfs("size=1m"));
	snprintf(mount_point, sizeof(mount_point), "%s/tmpfs", test_dir);
	CHILD_ASSERT(mount(NULL, mount_point, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
	child_pools_work_without_node(MIB);
	/* the commands that read the node say there is none */
	CHILD_ASSERT(run_debug_command("allocations", &output) == 3);
	CHILD_ASSERT(strstr(output, "has no debug node") != NULL);
	free(output);
	CHILD_ASSERT(count_entries(node_dir) == 0);
	CHILD_ASSERT(try_unload());
	exit(EXIT_SUCCESS);
}

START_TEST(read_only_node_dir_costs_one_warning)
{
	struct child_run run;

	if (!can_mount("read_only_node_dir_costs_one_warning"))
		return;
	run = run_child(read_only_node_dir_body, NULL);
	assert_child_passed(&run);
	ck_assert_msg(count_lines_with(run.output, "area_malloc") == 1
			&& count_lines_with(run.output, "Read-only file system; no debug node")
				== 1,
		"expected one warning, got:\n%s", run.output);
	free(run.output);
}
END_TEST

static void missing_node_dir_body(void *context)
{
	(void)context;
	snprintf(node_dir, sizeof(node_dir), "%s/missing/nodes", test_dir);
	child_pools_work_without_node(MIB);
	CHILD_ASSERT(try_unload());
	exit(EXIT_SUCCESS);
}

START_TEST(missing_node_dir_parent_costs_one_warning)
{
	struct child_run run = run_child(missing_node_dir_body, NULL);

	assert_child_passed(&run);
	ck_assert_msg(count_lines_with(run.output, "area_malloc") == 1
			&& count_lines_with(run.output, "cannot create the node directory") == 1
			&& count_lines_with(run.output, "No such file or directory") == 1,
		"expected one warning, got:\n%s", run.output);
	free(run.output);
}
END_TEST

/* A tmpfs of one page: the node's directory fits, no pool file does. */
static void tmpfs_full_at_start_body(void *context)
{
	(void)context;
	CHILD_ASSERT(child_mount_tmpfs("size=4k"));
	child_pools_work_without_node(MIB);
	CHILD_ASSERT(try_unload());
	/* the unload removes the node */
	CHILD_ASSERT(count_entries(node_dir) == 0);
	exit(EXIT_SUCCESS);
}

START_TEST(tmpfs_full_at_start_costs_one_warning)
{
	struct child_run run;

	if (!can_mount("tmpfs_full_at_start_costs_one_warning"))
		return;
	run = run_child(tmpfs_full_at_start_body, NULL);
	assert_child_passed(&run);
	ck_assert_msg(count_lines_with(run.output, "area_malloc") == 1
			&& count_lines_with(run.output, "private area without a node") == 1,
		"expected one warning, got:\n%s", run.output);
	free(run.output);
}
END_TEST

/* Writes a file into the tmpfs until it is full; returns its path. */
static void fill_tmpfs(char *filler, size_t size)
{
	static char chunk[64 * 1024];
	int fd;

	snprintf(filler, size, "%s/tmpfs/filler", test_dir);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHILD_ASSERT(fd >= 0);
	memset(chunk, 0x11, sizeof(chunk));
	while (write(fd, chunk, sizeof(chunk)) > 0)
		;
	/* the last partial page too */
	while (write(fd, chunk, 1) > 0)
		;
	CHILD_ASSERT(errno == ENOSPC);
	close(fd);
}

/*
 * node_reserve=1: the tmpfs fills up after the pool was made: requests that
 * need file space the pool has not reserved yet return NULL (never SIGBUS),
 * a failed realloc keeps its block, the blocks already handed out keep
 * their bytes; once space is back, the same requests succeed.
 */
static void tmpfs_fills_up_body(void *context)
{
	enum { BLOCKS = 8 };
	const size_t large = 512 * KIB;
	unsigned char *blocks[BLOCKS];
	struct pool_numbers before, after;
	char filler[sizeof(test_dir) + 32];
	const void *pool;
	void *grown;

	(void)context;
	CHILD_ASSERT(child_mount_tmpfs("size=8m"));
	select_build(BUILD_DEBUG_NODE, "quarantine_bytes=0:node_reserve=1");
	CHILD_ASSERT(try_load(BUILD_DEBUG_NODE));
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * MIB, B_NO_LOCK, KERNEL_RW);
	CHILD_ASSERT(pool != NULL);
	for (unsigned i = 0; i < BLOCKS; i++) {
		blocks[i] = am->malloc(pool, 1000 + i);
		CHILD_ASSERT(blocks[i] != NULL);
		fill(blocks[i], 1000 + i, i);
	}
	fill_tmpfs(filler, sizeof(filler));

	before = pool_numbers(pool);
	CHILD_ASSERT(am->malloc(pool, large) == NULL);
	CHILD_ASSERT(am->calloc(pool, 4, large) == NULL);
	/* the last block: growing in place needs space as much as moving */
	CHILD_ASSERT(am->realloc(pool, blocks[BLOCKS - 1], large) == NULL);
	CHILD_ASSERT(am->realloc(pool, blocks[0], large) == NULL);
	after = pool_numbers(pool);
	CHILD_ASSERT(after.failed == before.failed + 4);
	CHILD_ASSERT(after.used == before.used && after.live_blocks == before.live_blocks);
	for (unsigned i = 0; i < BLOCKS; i++)
		CHILD_ASSERT(filled(blocks[i], 1000 + i, i));
	CHILD_ASSERT(amd->check_pool(pool) == 0);
	/* small requests inside what was reserved still work */
	CHILD_ASSERT(pool_works(pool));

	CHILD_ASSERT(unlink(filler) == 0);
	grown = am->realloc(pool, blocks[0], large);
	CHILD_ASSERT(grown != NULL && filled(grown, 1000, 0));
	blocks[0] = grown;
	grown = am->malloc(pool, large);
	CHILD_ASSERT(grown != NULL);
	am->free(pool, grown);
	for (unsigned i = 0; i < BLOCKS; i++)
		am->free(pool, blocks[i]);
	CHILD_ASSERT(amd->check_pool(pool) == 0);
	CHILD_ASSERT(am->delete_pool(pool) == B_OK);
	CHILD_ASSERT(reports_taken == 0);
	CHILD_ASSERT(try_unload());
	exit(EXIT_SUCCESS);
}

START_TEST(tmpfs_filling_up_gives_null_then_recovers)
{
	struct child_run run;

	if (!can_mount("tmpfs_filling_up_gives_null_then_recovers"))
		return;
	run = run_child(tmpfs_fills_up_body, NULL);
	assert_child_passed(&run);
	/* a refused reservation is an ordinary NULL: it prints nothing */
	ck_assert_msg(count_lines_with(run.output, "area_malloc") == 0, "warnings:\n%s",
		run.output);
	free(run.output);
}
END_TEST

/*
 * By default (lazy) a pool file's space is taken as it is written: a large
 * block is handed out on a full tmpfs, and the first write into a page the
 * tmpfs cannot give stops the process by SIGBUS, with a line that says why
 * and how to avoid it (not a bare "Bus error"). The blocks written before
 * keep their bytes until then.
 */
static void lazy_tmpfs_fills_up_body(void *context)
{
	const size_t large = 512 * KIB;
	char filler[sizeof(test_dir) + 32];
	unsigned char *small, *block;
	const void *pool;

	(void)context;
	CHILD_ASSERT(child_mount_tmpfs("size=8m"));
	select_build(BUILD_DEBUG_NODE, "quarantine_bytes=0");
	CHILD_ASSERT(try_load(BUILD_DEBUG_NODE));
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * MIB, B_NO_LOCK, KERNEL_RW);
	CHILD_ASSERT(pool != NULL);
	small = am->malloc(pool, 1000);
	CHILD_ASSERT(small != NULL);
	fill(small, 1000, 7);
	fill_tmpfs(filler, sizeof(filler));
	/* nothing is reserved: the block is handed out, unless the module's
	 * own first write into it (its header, fill or canary) stops first */
	block = am->malloc(pool, large);
	CHILD_ASSERT(block != NULL && filled(small, 1000, 7));
	fprintf(stderr, "block %p %p\n", (void *)block, (void *)(block + large));
	for (size_t at = 0; at < large; at += 4096)
		block[at] = 1;
	exit(EXIT_SUCCESS); /* not reached: the tmpfs is full */
}

START_TEST(tmpfs_filling_up_stops_a_lazy_pool_with_a_line)
{
	struct child_run run;
	const char *named, *block_line;
	unsigned long long address;

	if (!can_mount("tmpfs_filling_up_stops_a_lazy_pool_with_a_line"))
		return;
	run = run_child(lazy_tmpfs_fills_up_body, NULL);
	ck_assert_msg(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGBUS,
		"the child ended with status %#x; its standard error:\n%s", run.status, run.output);
	named = strstr(run.output, "could not give a page to a pool at 0x");
	ck_assert_msg(named != NULL, "%s", run.output);
	address = strtoull(named + strlen("could not give a page to a pool at "), NULL, 16);
	/* the write's address, to the byte: in the block when the driver got it */
	block_line = strstr(run.output, "block 0x");
	if (block_line != NULL) {
		unsigned long long start, end;
		ck_assert_int_eq(sscanf(block_line, "block %llx %llx", &start, &end), 2);
		ck_assert_msg(address >= start && address < end && address % 4096 == start % 4096,
			"%#llx is not a page's first write in [%#llx, %#llx)", address, start, end);
	}
	ck_assert_msg(strstr(run.output, "AREA_MALLOC_OPTIONS=node_reserve=1") != NULL, "%s",
		run.output);
	ck_assert_msg(strstr(run.output, "guard page fault") == NULL, "%s", run.output);
	free(run.output);
}
END_TEST

/*
 * RLIMIT_FSIZE below the size of a pool file (or of the node's process
 * file): the kernel answers a larger ftruncate or fallocate with SIGXFSZ,
 * which kills a process by default. The module must not cost the driver
 * its life: no node (or a private pool), one warning.
 */
static void file_size_limit_body(void *context)
{
	const rlim_t *bytes = context;
	struct rlimit limit = { *bytes, RLIM_INFINITY };

	CHILD_ASSERT(mkdir(node_dir, 0700) == 0);
	CHILD_ASSERT(setrlimit(RLIMIT_FSIZE, &limit) == 0);
	child_pools_work_without_node(16 * MIB);
	CHILD_ASSERT(try_unload());
	exit(EXIT_SUCCESS);
}

START_TEST(file_size_limit_is_no_crash)
{
	/* below the node's process file (some 2 MiB, sparse); above it, below
	 * the file of a 16 MiB pool */
	static const rlim_t limits[] = { 4 * KIB, 8 * MIB };
	rlim_t bytes = limits[_i];
	struct child_run run = run_child(file_size_limit_body, &bytes);

	assert_child_passed(&run);
	ck_assert_msg(count_lines_with(run.output, "area_malloc") == 1,
		"expected one warning, got:\n%s", run.output);
	free(run.output);
}
END_TEST

/* ==== 5. a module whose init fails ==== */

static void set_test_module_path(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/tests/module/dirs/first", builddir());
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
}

/* Whether the staged test module file is loaded (without loading it). */
static bool test_image_loaded(const char *file)
{
	char path[PATH_MAX];
	void *handle;

	snprintf(path, sizeof(path), "%s/tests/module/dirs/first/%s", builddir(), file);
	handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (handle == NULL)
		return false;
	dlclose(handle);
	return true;
}

static int mapped_lines(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 128];
	int count = 0;

	ck_assert_ptr_nonnull(maps);
	while (fgets(line, sizeof(line), maps) != NULL)
		count += strstr(line, "/tests/module/dirs/") != NULL;
	fclose(maps);
	return count;
}

/* Many failed inits: each get returns the module's own error and leaves no
 * image, mapping, descriptor or reference; once the init succeeds, the
 * get does, once. */
START_TEST(failing_init_leaks_nothing_and_is_retried)
{
	module_info *info;
	int fds;

	set_test_module_path();
	fds = count_entries("/proc/self/fd");
	module_log_set_result("test/a/v1", B_MODULE_INIT, CUSTOM_INIT_ERROR);
	for (int i = 0; i < 200; i++) {
		info = NULL;
		ck_assert_int_eq(get_module("test/a/v1", &info), CUSTOM_INIT_ERROR);
		ck_assert_ptr_null(info);
	}
	ck_assert_int_eq(module_log_calls("test/a/v1", B_MODULE_INIT), 200);
	ck_assert_int_eq(module_log_calls("test/a/v1", B_MODULE_UNINIT), 0);
	ck_assert(!test_image_loaded("test/a"));
	ck_assert_int_eq(mapped_lines(), 0);
	ck_assert_int_eq(count_entries("/proc/self/fd"), fds);
	ck_assert_int_eq(put_module("test/a/v1"), B_BAD_VALUE);

	module_log_set_result("test/a/v1", B_MODULE_INIT, B_OK);
	ck_assert_int_eq(get_module("test/a/v1", &info), B_OK);
	ck_assert_str_eq(info->name, "test/a/v1");
	ck_assert_int_eq(module_log_calls("test/a/v1", B_MODULE_INIT), 201);
	ck_assert_int_eq(put_module("test/a/v1"), B_OK);
	ck_assert_int_eq(module_log_calls("test/a/v1", B_MODULE_UNINIT), 1);
	ck_assert(!test_image_loaded("test/a"));
	ck_assert_int_eq(module_log_violations(), 0);
}
END_TEST

/* A dependency's init fails, the first or the second one: the get of the
 * dependent module fails with that error, the dependency already got is
 * put back (uninitialised once), nothing stays loaded; then the retry
 * works. */
START_TEST(failing_dependency_init_unwinds)
{
	static const char *const failing[] = { "test/a/v1", "test/multi/two" };
	const char *dependency = failing[_i];
	module_info *info = NULL;
	int fds;

	set_test_module_path();
	fds = count_entries("/proc/self/fd");
	module_log_set_result(dependency, B_MODULE_INIT, CUSTOM_INIT_ERROR);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(get_module("test/deps/v1", &info), CUSTOM_INIT_ERROR);
	ck_assert_ptr_null(info);
	ck_assert_int_eq(module_log_calls("test/deps/v1", B_MODULE_INIT), 0);
	/* the first dependency, when it was got, was put back every time */
	ck_assert_int_eq(module_log_calls("test/a/v1", B_MODULE_INIT), 20);
	ck_assert_int_eq(module_log_calls("test/a/v1", B_MODULE_UNINIT), _i == 0 ? 0 : 20);
	ck_assert(!test_image_loaded("test/deps"));
	ck_assert(!test_image_loaded("test/a"));
	ck_assert(!test_image_loaded("test/multi"));
	ck_assert_int_eq(mapped_lines(), 0);
	ck_assert_int_eq(count_entries("/proc/self/fd"), fds);

	module_log_set_result(dependency, B_MODULE_INIT, B_OK);
	ck_assert_int_eq(get_module("test/deps/v1", &info), B_OK);
	ck_assert_int_eq(module_log_calls("test/deps/v1", B_MODULE_INIT), 1);
	ck_assert_int_eq(put_module("test/deps/v1"), B_OK);
	ck_assert(!test_image_loaded("test/deps"));
	ck_assert(!test_image_loaded("test/a"));
	ck_assert_int_eq(mapped_lines(), 0);
	ck_assert_int_eq(module_log_violations(), 0);
}
END_TEST

/* ==== 6. allocation failure at every point of a realloc ==== */

/* The release heap's chunk for a request (heap.h: 16 bytes of overhead,
 * requests rounded up to 16, 32 bytes at least). */
static size_t release_chunk(size_t size)
{
	size_t rounded = (size + 15) & ~(size_t)15;

	return rounded + 16 < 32 ? 32 : rounded + 16;
}

/* Allocates until not even one byte fits; returns how many blocks. */
static size_t exhaust(const void *pool, void **blocks, size_t capacity)
{
	size_t count = 0;

	for (size_t size = 4 * MIB; size > 0; size /= 2) {
		void *block;
		while (count < capacity && (block = am->malloc(pool, size)) != NULL)
			blocks[count++] = block;
	}
	ck_assert_uint_lt(count, capacity);
	ck_assert_ptr_null(am->malloc(pool, 0));
	return count;
}

enum realloc_shape {
	SHAPE_IN_PLACE, /* the only free space follows the block */
	SHAPE_MOVE,     /* the only free space lies elsewhere */
};

#define VICTIM_SIZE 1000
#define HOLE_SIZE 3000
#define MAX_FILLERS 256

struct exhausted_pool {
	const void *pool;
	unsigned char *victim;
	void *hole; /* where the freed filler was */
	void *fillers[MAX_FILLERS];
	size_t filler_count;
};

/* A fresh pool where nothing is free but one hole of HOLE_SIZE bytes,
 * right after the victim block or apart from it. */
static void make_exhausted_pool(struct exhausted_pool *state, enum realloc_shape shape)
{
	void *wall = NULL;

	state->pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(state->pool);
	state->victim = am->malloc(state->pool, VICTIM_SIZE);
	ck_assert_ptr_nonnull(state->victim);
	fill(state->victim, VICTIM_SIZE, 77);
	if (shape == SHAPE_MOVE) {
		wall = am->malloc(state->pool, 100);
		ck_assert_ptr_nonnull(wall);
	}
	state->hole = am->malloc(state->pool, HOLE_SIZE);
	ck_assert_ptr_nonnull(state->hole);
	state->filler_count = exhaust(state->pool, state->fillers, MAX_FILLERS);
	if (wall != NULL)
		state->fillers[state->filler_count++] = wall;
	am->free(state->pool, state->hole);
}

static void free_exhausted_pool(struct exhausted_pool *state, void *victim)
{
	am->free(state->pool, victim);
	for (size_t i = 0; i < state->filler_count; i++)
		am->free(state->pool, state->fillers[i]);
	assert_pool_valid(state->pool);
	ck_assert_uint_eq(pool_numbers(state->pool).live_blocks, 0);
	ck_assert_int_eq(am->delete_pool(state->pool), B_OK);
}

/*
 * One realloc of the victim to size in a freshly exhausted pool. A failure
 * leaves the block byte for byte, the pool valid and every statistic but
 * the failure counter as it was; a success keeps the bytes, moved (into the
 * hole) or not. Returns NULL or where the block went.
 */
static void *realloc_in_exhausted_pool(enum realloc_shape shape, size_t size, bool *in_place)
{
	struct exhausted_pool state;
	struct pool_numbers before, after;
	unsigned char *result;
	int reports = reports_taken;

	make_exhausted_pool(&state, shape);
	before = pool_numbers(state.pool);
	result = am->realloc(state.pool, state.victim, size);
	after = pool_numbers(state.pool);
	if (result == NULL) {
		ck_assert_msg(filled(state.victim, VICTIM_SIZE, 77),
			"a failed realloc to %zu changed the block", size);
		assert_only_failure_counted(&before, &after, 1, 0);
		assert_pool_valid(state.pool);
		free_exhausted_pool(&state, state.victim);
	} else {
		size_t kept = size < VICTIM_SIZE ? size : VICTIM_SIZE;
		ck_assert_msg(filled(result, kept, 77), "realloc to %zu lost bytes", size);
		ck_assert(result == state.victim || result == state.hole);
		*in_place = result == state.victim;
		fill(result, size, 78);
		assert_pool_valid(state.pool);
		ck_assert_uint_eq(after.live_blocks, before.live_blocks);
		ck_assert_uint_eq(after.failed, before.failed);
		free_exhausted_pool(&state, result);
	}
	ck_assert_int_eq(reports_taken, reports);
	return result;
}

/*
 * Grows the victim by 16-byte steps (and one byte past each step) through
 * the boundary: every size up to the threshold succeeds (with placement
 * checked: in place for the in-place shape, into the hole for the other),
 * every size past it fails. Returns the largest size that succeeded.
 */
static size_t scan_growth(enum realloc_shape shape, bool check_placement)
{
	size_t largest = 0, upto = VICTIM_SIZE + HOLE_SIZE + 512;
	bool failed_once = false;

	/* 16 * k and 16 * k + 1: both sides of every rounding step */
	for (size_t step = VICTIM_SIZE / 16 * 2 + 1; step / 2 * 16 + step % 2 <= upto; step++) {
		size_t size = step / 2 * 16 + step % 2;
		bool in_place = false;
		void *result = realloc_in_exhausted_pool(shape, size, &in_place);
		if (result == NULL) {
			failed_once = true;
			continue;
		}
		ck_assert_msg(!failed_once, "realloc to %zu succeeded after a smaller one failed",
			size);
		if (check_placement && size > VICTIM_SIZE + 16)
			ck_assert_msg(in_place == (shape == SHAPE_IN_PLACE),
				"realloc to %zu (%s shape): %s", size,
				shape == SHAPE_IN_PLACE ? "in-place" : "move",
				in_place ? "in place" : "moved");
		largest = size;
	}
	ck_assert(failed_once);
	return largest;
}

START_TEST(release_realloc_at_every_boundary)
{
	size_t largest, hole = release_chunk(HOLE_SIZE), victim = release_chunk(VICTIM_SIZE);

	load(BUILD_RELEASE, "");
	/* in place: the victim's chunk and the hole together */
	largest = scan_growth(SHAPE_IN_PLACE, true);
	ck_assert_uint_eq(release_chunk(largest), victim + hole);
	ck_assert_uint_gt(release_chunk(largest + 1), victim + hole);
	/* moving: the hole alone */
	largest = scan_growth(SHAPE_MOVE, true);
	ck_assert_uint_eq(release_chunk(largest), hole);
	unload();
}
END_TEST

/* The debug build: the same shapes, with and without quarantine. A freed
 * block waiting in quarantine (the hole) must never make a request fail
 * that would succeed without quarantine; where the block goes may differ
 * (the quarantine is drained for the move first). The boundaries are the
 * debug heap's own: release_capacity=0 lifts the release build's limit,
 * which would otherwise be met first. */
START_TEST(debug_realloc_at_every_boundary)
{
	size_t in_place, moved;

	load(BUILD_DEBUG, "quarantine_bytes=0:release_capacity=0");
	in_place = scan_growth(SHAPE_IN_PLACE, true);
	moved = scan_growth(SHAPE_MOVE, true);
	ck_assert_uint_gt(in_place, moved);
	ck_assert_uint_gt(moved, VICTIM_SIZE);
	unload();

	load(BUILD_DEBUG, "release_capacity=0");
	ck_assert_uint_eq(scan_growth(SHAPE_MOVE, false), moved);
	ck_assert_uint_eq(scan_growth(SHAPE_IN_PLACE, false), in_place);
	unload();
}
END_TEST

/* In an exhausted pool: shrinking and keeping the size work in place,
 * realloc(NULL, n), malloc and calloc fail cleanly, realloc(p, 0) frees. */
START_TEST(realloc_without_room)
{
	enum build build = (enum build)_i;
	struct exhausted_pool state;
	struct pool_numbers before, after;
	unsigned char *result;

	load(build, "quarantine_bytes=0");
	make_exhausted_pool(&state, SHAPE_MOVE);
	/* take the hole too */
	state.fillers[state.filler_count++] = am->malloc(state.pool, HOLE_SIZE);
	ck_assert_ptr_nonnull(state.fillers[state.filler_count - 1]);
	ck_assert_ptr_null(am->malloc(state.pool, 1));

	before = pool_numbers(state.pool);
	ck_assert_ptr_null(am->realloc(state.pool, NULL, 1));
	ck_assert_ptr_null(am->calloc(state.pool, 1, 1));
	ck_assert_ptr_null(am->realloc(state.pool, state.victim, VICTIM_SIZE + 100));
	after = pool_numbers(state.pool);
	assert_only_failure_counted(&before, &after, 3, 0);
	ck_assert(filled(state.victim, VICTIM_SIZE, 77));

	for (size_t size = VICTIM_SIZE; size >= 1; size = size > 16 ? size - 17 : size - 1) {
		result = am->realloc(state.pool, state.victim, size);
		ck_assert_ptr_eq(result, state.victim);
		ck_assert(filled(result, size, 77));
	}
	assert_pool_valid(state.pool);
	before = pool_numbers(state.pool);
	ck_assert_ptr_null(am->realloc(state.pool, state.victim, 0));
	after = pool_numbers(state.pool);
	ck_assert_uint_eq(after.live_blocks, before.live_blocks - 1);
	ck_assert_uint_eq(after.failed, before.failed);
	free_exhausted_pool(&state, NULL);
	ck_assert_int_eq(reports_taken, 0);
	unload();
}
END_TEST

/*
 * fail_nth over a script: run N fails the Nth allocation attempt and no
 * other. The attempts are malloc, calloc, realloc(NULL, n) and every
 * realloc that grows (with realloc_move=1: every realloc to a non-zero
 * size); shrinking in place is never an attempt.
 */
enum step_op { STEP_MALLOC, STEP_CALLOC, STEP_REALLOC, STEP_FREE };

struct step {
	enum step_op op;
	int slot; /* the block operated on (realloc, free) or made */
	size_t size;
};

static const struct step script[] = {
	{ STEP_MALLOC, 0, 100 }, { STEP_CALLOC, 1, 300 },
	{ STEP_REALLOC, 2, 200 },  /* slot 2 is empty: realloc(NULL, 200) */
	{ STEP_REALLOC, 0, 1000 }, /* grows */
	{ STEP_REALLOC, 1, 50 },   /* shrinks */
	{ STEP_REALLOC, 2, 200 },  /* same size */
	{ STEP_MALLOC, 3, 0 }, { STEP_REALLOC, 3, 5000 }, { STEP_FREE, 2, 0 },
	{ STEP_CALLOC, 2, 7000 }, { STEP_REALLOC, 0, 10 }, { STEP_REALLOC, 1, 60000 },
	{ STEP_MALLOC, 4, 1 }, { STEP_REALLOC, 4, 0 }, /* frees */
};

#define SCRIPT_STEPS COUNT_OF(script)
#define SCRIPT_SLOTS 5

static bool step_is_attempt(const struct step *step, const size_t *sizes, void *const *blocks,
	bool realloc_move)
{
	switch (step->op) {
	case STEP_MALLOC:
	case STEP_CALLOC:
		return true;
	case STEP_REALLOC:
		if (blocks[step->slot] == NULL)
			return true;
		if (step->size == 0)
			return false;
		return realloc_move || step->size > sizes[step->slot];
	default:
		return false;
	}
}

/* Runs the script with fail_nth=nth (0: off) in the pool; returns how many
 * attempts it made (a failed step can turn a later realloc into
 * realloc(NULL, n), one attempt more). The attempt numbered nth must be the
 * only failure. */
static int run_script(const void *pool, uint64_t nth, bool realloc_move)
{
	void *blocks[SCRIPT_SLOTS] = { NULL };
	size_t sizes[SCRIPT_SLOTS] = { 0 };
	int attempts = 0;

	for (size_t i = 0; i < SCRIPT_STEPS; i++) {
		const struct step *step = &script[i];
		bool attempt = step_is_attempt(step, sizes, blocks, realloc_move);
		bool must_fail = attempt && (uint64_t)(attempts + 1) == nth;
		struct pool_numbers before = pool_numbers(pool), after;
		void *result = NULL;

		attempts += attempt;
		switch (step->op) {
		case STEP_MALLOC:
			result = am->malloc(pool, step->size);
			break;
		case STEP_CALLOC:
			result = am->calloc(pool, 1, step->size);
			break;
		case STEP_REALLOC:
			result = am->realloc(pool, blocks[step->slot], step->size);
			break;
		case STEP_FREE:
			am->free(pool, blocks[step->slot]);
			blocks[step->slot] = NULL;
			continue;
		}
		after = pool_numbers(pool);
		if (must_fail) {
			ck_assert_msg(result == NULL, "step %zu: attempt %llu did not fail", i,
				(unsigned long long)nth);
			assert_only_failure_counted(&before, &after, 0, 1);
			if (blocks[step->slot] != NULL)
				ck_assert_msg(filled(blocks[step->slot], sizes[step->slot],
						      40 + step->slot),
					"step %zu: the failed realloc changed the block", i);
			assert_pool_valid(pool);
			continue;
		}
		ck_assert_uint_eq(after.injected, before.injected);
		if (step->op == STEP_REALLOC && step->size == 0 && blocks[step->slot] != NULL) {
			ck_assert_ptr_null(result);
			blocks[step->slot] = NULL;
			continue;
		}
		ck_assert_msg(result != NULL, "step %zu failed (fail_nth=%llu)", i,
			(unsigned long long)nth);
		if (step->op == STEP_CALLOC)
			for (size_t at = 0; at < step->size; at++)
				ck_assert_msg(((unsigned char *)result)[at] == 0, "calloc byte %zu",
					at);
		if (blocks[step->slot] != NULL) {
			size_t kept =
				sizes[step->slot] < step->size ? sizes[step->slot] : step->size;
			ck_assert_msg(filled(result, kept, 40 + step->slot),
				"step %zu: realloc lost bytes", i);
		}
		blocks[step->slot] = result;
		sizes[step->slot] = step->size;
		fill(result, step->size, 40 + step->slot);
	}
	for (int slot = 0; slot < SCRIPT_SLOTS; slot++)
		am->free(pool, blocks[slot]);
	return attempts;
}

START_TEST(fail_nth_at_every_allocation_point)
{
	bool realloc_move = _i == 1;
	char options[64];
	int attempts;

	/* how many attempts the script makes, with nothing failing */
	snprintf(options, sizeof(options), "realloc_move=%d", realloc_move);
	load(BUILD_DEBUG, options);
	{
		const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
		ck_assert_ptr_nonnull(pool);
		attempts = run_script(pool, 0, realloc_move);
		ck_assert_uint_eq(pool_numbers(pool).injected, 0);
		ck_assert_int_eq(am->delete_pool(pool), B_OK);
	}
	unload();
	/* 9 attempts; realloc_move adds the two shrinks and the same-size one */
	ck_assert_int_eq(attempts, realloc_move ? 12 : 9);

	for (int nth = 1; nth <= attempts + 1; nth++) {
		const void *pool;
		snprintf(options, sizeof(options), "fail_nth=%d:realloc_move=%d", nth,
			realloc_move);
		load(BUILD_DEBUG, options);
		pool = am->create_pool(B_ANY_KERNEL_ADDRESS, MIB, B_NO_LOCK, KERNEL_RW);
		ck_assert_ptr_nonnull(pool);
		ck_assert_int_ge(run_script(pool, (uint64_t)nth, realloc_move), attempts);
		ck_assert_uint_eq(pool_numbers(pool).injected, nth <= attempts ? 1 : 0);
		assert_pool_valid(pool);
		ck_assert_uint_eq(pool_numbers(pool).live_blocks, 0);
		ck_assert_int_eq(am->delete_pool(pool), B_OK);
		ck_assert_int_eq(reports_taken, 0);
		ck_assert_uint_eq(amd->error_count(), 0);
		unload();
	}
}
END_TEST

/* ==== the suite ==== */

static Suite *faults_suite(void)
{
	Suite *suite = suite_create("faults");
	TCase *mmap_case = tcase_create("mmap");
	TCase *address_space = tcase_create("address_space");
	TCase *mlock_case = tcase_create("mlock_refused");
	TCase *node = tcase_create("node");
	TCase *init = tcase_create("module_init");
	TCase *reallocs = tcase_create("realloc");
	TCase *all[] = { mmap_case, address_space, mlock_case, node, init, reallocs };

	tcase_add_test(mmap_case, create_area_returns_the_errno_status);
	tcase_add_loop_test(mmap_case, create_pool_fails_cleanly_at_every_mmap, 0, BUILD_COUNT);
	tcase_add_loop_test(mmap_case, allocation_never_maps, 0, BUILD_COUNT);
	tcase_add_loop_test(mmap_case, fork_child_never_shares_pool_pages, 0, 2);
	tcase_add_loop_test(mmap_case, create_pool_until_it_fails, 0, BUILD_DEBUG + 1);
	tcase_add_loop_test(address_space, get_module_without_address_space, 0, 2);
	tcase_add_test(mlock_case, locked_pools_fall_back_to_unlocked);
	tcase_add_test(mlock_case, locked_pools_lock_within_the_limit);
	tcase_add_test(node, read_only_node_dir_costs_one_warning);
	tcase_add_test(node, missing_node_dir_parent_costs_one_warning);
	tcase_add_test(node, tmpfs_full_at_start_costs_one_warning);
	tcase_add_test(node, tmpfs_filling_up_gives_null_then_recovers);
	tcase_add_test(node, tmpfs_filling_up_stops_a_lazy_pool_with_a_line);
	tcase_add_loop_test(node, file_size_limit_is_no_crash, 0, 2);
	tcase_add_test(init, failing_init_leaks_nothing_and_is_retried);
	tcase_add_loop_test(init, failing_dependency_init_unwinds, 0, 2);
	tcase_add_test(reallocs, release_realloc_at_every_boundary);
	tcase_add_test(reallocs, debug_realloc_at_every_boundary);
	tcase_add_loop_test(reallocs, realloc_without_room, 0, BUILD_COUNT);
	tcase_add_loop_test(reallocs, fail_nth_at_every_allocation_point, 0, 2);
	for (size_t i = 0; i < COUNT_OF(all); i++) {
		tcase_add_checked_fixture(all[i], setup, NULL);
		tcase_set_timeout(all[i], 300);
		suite_add_tcase(suite, all[i]);
	}
	return suite;
}

int main(void)
{
	int status;

	snprintf(run_dir, sizeof(run_dir), "/tmp/area_malloc-faults-XXXXXX");
	if (mkdtemp(run_dir) == NULL) {
		perror("test_faults: mkdtemp");
		return EXIT_FAILURE;
	}
	/* every test loads modules with its own options: one process each */
	status = run_check_suite(faults_suite(), CK_FORK);
	nftw(run_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return status;
}
