/*
 * stack_tests.c - whole stacks (issue 14), as a driver sees them through
 * the debug module: allocation and free stacks of stack_depth frames from
 * drivers built with and without frame pointers (stack_driver.c, compiled
 * twice), the stack depot's file in the node, a depot that fills up, and a
 * forked child's depot of its own. Part of test_debug_api (its suite adds
 * the "stacks" case).
 *
 * Locking: none; one thread per process (the drivers start one of their
 * own, joined before anything is checked).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "format/node_format.h"
#include "format/stack_depot.h"

#include "stack_driver.h"
#include "stack_tests.h"
#include "support/debug_options.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define MAX_REPORTS 64
#define NOINLINE __attribute__((noinline, noipa))
#define AFTER_CALL(value) __asm__ volatile("" : : "r"(value) : "memory")

static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd;
static char node_dir[256];

struct recorded {
	char kind[64];
	area_malloc_report report; /* text and the strings cleared */
	char *text;
};

static struct recorded reports[MAX_REPORTS];
static size_t report_count;

static bool record_hook(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	if (report_count < MAX_REPORTS) {
		struct recorded *r = &reports[report_count++];
		snprintf(r->kind, sizeof(r->kind), "%s", report->kind);
		r->report = *report;
		r->report.kind = r->kind;
		r->report.text = NULL;
		r->report.pool_name = NULL;
		r->report.test = NULL;
		r->text = strdup(report->text);
	}
	return true;
}

static void forget_reports(void)
{
	for (size_t i = 0; i < report_count; i++)
		free(reports[i].text);
	report_count = 0;
}

static void make_node_dir(void)
{
	snprintf(node_dir, sizeof(node_dir), "%s/stack-nodes-XXXXXX",
		getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(node_dir));
}

static void remove_node_dir(void)
{
	char command[512];

	snprintf(command, sizeof(command), "rm -rf '%s'", node_dir);
	ck_assert_int_eq(system(command), 0);
}

static void load(const char *extra)
{
	char path[4096], options[1024];

	snprintf(path, sizeof(path), "%s/modules/debug", getenv("AREA_MALLOC_TEST_BUILDDIR"));
	snprintf(options, sizeof(options), "node_dir=%s:exitcode=0%s", node_dir, extra);
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
	ck_assert_int_eq(set_debug_options(options), 0);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am), B_OK);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd), B_OK);
	amd->set_report_hook(record_hook, NULL);
}

static void unload(void)
{
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}

static const struct recorded *only_report_of(const char *kind)
{
	const struct recorded *found = NULL;

	for (size_t i = 0; i < report_count; i++) {
		if (strcmp(reports[i].kind, kind) != 0)
			continue;
		ck_assert_msg(found == NULL, "two %s reports", kind);
		found = &reports[i];
	}
	ck_assert_msg(found != NULL, "no %s report among %zu", kind, report_count);
	return found;
}

/* ---- the depot's file ---- */

struct depot_file {
	struct stack_depot header;
	unsigned char *records; /* [0, header.used) */
};

static bool read_depot(pid_t pid, struct depot_file *file)
{
	char path[512];
	int fd;
	bool read_all;

	snprintf(path, sizeof(path), "%s/%d/%s", node_dir, (int)pid, NODE_STACKS_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	read_all =
		pread(fd, &file->header, sizeof(file->header), 0) == (ssize_t)sizeof(file->header);
	file->records = read_all ? malloc(file->header.used + 1) : NULL;
	read_all = file->records != NULL
		&& pread(fd, file->records, file->header.used, (off_t)file->header.records_offset)
			== (ssize_t)file->header.used;
	close(fd);
	ck_assert_msg(read_all, "cannot read %s", path);
	ck_assert_int_eq(memcmp(file->header.magic, STACK_DEPOT_MAGIC, 8), 0);
	return true;
}

/* The flags of the record holding owner's stack; -1 when none does. */
static int record_flags(const struct depot_file *file, const area_malloc_owner *owner)
{
	for (uint64_t at = 0; at + sizeof(struct stack_record) <= file->header.used;) {
		const struct stack_record *record = (const void *)(file->records + at);
		if (record->frame_count == owner->frame_count
			&& memcmp(record->frames, owner->frames, owner->frame_count * 8) == 0)
			return record->flags;
		at += sizeof(*record) + record->frame_count * 8;
	}
	return -1;
}

/* ---- drivers with and without frame pointers ---- */

static void assert_within(const char *what, uintptr_t pc, const struct stack_driver_call *call)
{
	ck_assert_msg(call->before < pc && pc < call->after,
		"%s: frames[0] %#lx is not the driver's call (%#lx..%#lx)", what, (unsigned long)pc,
		(unsigned long)call->before, (unsigned long)call->after);
}

static void assert_frame(const char *what, const area_malloc_owner *owner, uint32_t index,
	uintptr_t expected)
{
	ck_assert_msg(owner->frame_count > index, "%s: %u frames", what, owner->frame_count);
	ck_assert_msg(owner->frames[index] == expected, "%s: frames[%u] %#lx, expected %#lx", what,
		index, (unsigned long)owner->frames[index], (unsigned long)expected);
}

static void assert_text(const struct recorded *r, const char *needle)
{
	ck_assert_msg(strstr(r->text, needle) != NULL, "no \"%s\" in:\n%s", needle, r->text);
}

/* Runs a driver twice (its stacks must be the same each time) and checks
 * its double free's report: the free, the earlier free and the allocation,
 * each named by the driver's wrapper and its caller and the thread. */
static void check_driver(struct stack_driver *driver, const char *suffix, bool walked)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	area_malloc_owner first_allocated;
	const struct recorded *report;
	struct depot_file depot;
	char name[64];

	ck_assert_ptr_nonnull(pool);
	driver->am = am;
	for (int round = 0; round < 2; round++) {
		forget_reports();
		driver->run(driver, pool);
		report = only_report_of("double-free");
		ck_assert(report->report.has_allocated_by && report->report.has_freed_by);
		assert_within("the free", report->report.detected_by.frames[0], &driver->free_call);
		assert_frame("the free", &report->report.detected_by, 1, driver->free_returns_to);
		assert_frame("the free", &report->report.detected_by, 2,
			driver->drop_returns_to[1]);
		assert_within("the first free", report->report.freed_by.frames[0],
			&driver->free_call);
		assert_frame("the first free", &report->report.freed_by, 1,
			driver->free_returns_to);
		assert_frame("the first free", &report->report.freed_by, 2,
			driver->drop_returns_to[0]);
		assert_within("the allocation", report->report.allocated_by.frames[0],
			&driver->alloc_call);
		assert_frame("the allocation", &report->report.allocated_by, 1,
			driver->alloc_returns_to);
		assert_frame("the allocation", &report->report.allocated_by, 2,
			driver->path_returns_to[1]);
		/* the thread's function, and below it libc's start_thread */
		ck_assert_uint_ge(report->report.allocated_by.frame_count, 4);
		snprintf(name, sizeof(name), " in rx_alloc_%s+", suffix);
		assert_text(report, name);
		snprintf(name, sizeof(name), " in rx_path_%s+", suffix);
		assert_text(report, name);
		snprintf(name, sizeof(name), " in rx_drop_%s+", suffix);
		assert_text(report, name);
		if (round == 0) {
			first_allocated = report->report.allocated_by;
		} else {
			ck_assert_uint_eq(report->report.allocated_by.frame_count,
				first_allocated.frame_count);
			for (uint32_t i = 0; i < first_allocated.frame_count; i++)
				ck_assert_uint_eq(report->report.allocated_by.frames[i],
					first_allocated.frames[i]);
		}
	}
	/* the leaks: the first call of rx_path in each round, and rx_repeat's
	 * loop, whose 100 calls a round are one stack (the largest group) */
	forget_reports();
	ck_assert_int_eq(amd->report_leaks(pool, 0, NULL, NULL), B_OK);
	report = only_report_of("detected memory leaks");
	ck_assert_uint_eq(report->report.leaked_blocks, 2 * 101);
	ck_assert_msg(strstr(report->text, "Leak of 9600 byte(s) in 200 allocation(s)") != NULL,
		"%s", report->text);
	assert_within("the loop", report->report.allocated_by.frames[0], &driver->alloc_call);
	assert_frame("the loop", &report->report.allocated_by, 1, driver->alloc_returns_to);
	assert_frame("the loop", &report->report.allocated_by, 3, driver->repeat_returns_to);
	ck_assert_msg(strstr(report->text, "Leak of 96 byte(s) in 2 allocation(s)") != NULL, "%s",
		report->text);
	/* the node's depot holds the stack, walked by frame pointers or not */
	ck_assert(read_depot(getpid(), &depot));
	ck_assert_int_eq(record_flags(&depot, &first_allocated) >= 0, true);
	ck_assert_msg(((record_flags(&depot, &first_allocated) & STACK_RECORD_WALKED) != 0)
			== walked,
		"%s: the stack was %swalked by frame pointers", driver->name, walked ? "not " : "");
	free(depot.records);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	forget_reports();
}

START_TEST(stacks_of_drivers_with_and_without_frame_pointers)
{
	make_node_dir();
	load(":leak_check=0");
	check_driver(&stack_driver_fp, "fp", true);
	check_driver(&stack_driver_nofp, "nofp", false);
	unload();
	remove_node_dir();
}
END_TEST

/* stack_depth=1: one frame, the caller's (issue 14 kept the option). */
START_TEST(one_frame_stacks)
{
	const void *pool;
	const struct recorded *report;

	make_node_dir();
	load(":leak_check=0:stack_depth=1");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	stack_driver_nofp.am = am;
	stack_driver_nofp.run(&stack_driver_nofp, pool);
	report = only_report_of("double-free");
	ck_assert_uint_eq(report->report.allocated_by.frame_count, 1);
	ck_assert_uint_eq(report->report.freed_by.frame_count, 1);
	assert_within("the allocation", report->report.allocated_by.frames[0],
		&stack_driver_nofp.alloc_call);
	assert_within("the first free", report->report.freed_by.frames[0],
		&stack_driver_nofp.free_call);
	am->delete_pool(pool);
	forget_reports();
	unload();
	remove_node_dir();
}
END_TEST

/* LeakSanitizer's rule: a suppression matches any frame of a leak's stack,
 * so with whole stacks a pattern naming a caller several frames up (here
 * the driver's thread function) suppresses what it reaches. */
START_TEST(suppressions_match_any_frame_of_the_stack)
{
	char path[512], extra[600];
	const void *pool;
	size_t bytes = 1, blocks = 1;
	FILE *file;

	make_node_dir();
	snprintf(path, sizeof(path), "%s/suppressions", node_dir);
	file = fopen(path, "w");
	ck_assert_ptr_nonnull(file);
	fputs("leak:rx_thread_nofp\n", file);
	fclose(file);
	snprintf(extra, sizeof(extra), ":leak_check=0:suppressions=%s", path);
	load(extra);
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	stack_driver_nofp.am = am;
	stack_driver_nofp.run(&stack_driver_nofp, pool);
	forget_reports();
	/* every leak of the driver comes from its thread: all suppressed */
	ck_assert_int_eq(amd->report_leaks(pool, 0, &bytes, &blocks), B_OK);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(blocks, 0);
	ck_assert_uint_eq(report_count, 0);
	am->delete_pool(pool);
	forget_reports();
	unload();
	remove_node_dir();
}
END_TEST

/* ---- a full depot ---- */

static int count_lines(const char *path, const char *needle)
{
	char line[1024];
	int count = 0;
	FILE *file = fopen(path, "r");

	if (file == NULL)
		return -1;
	while (fgets(line, sizeof(line), file) != NULL)
		count += strstr(line, needle) != NULL;
	fclose(file);
	return count;
}

NOINLINE static void *branch(const void *pool, unsigned n, int level);

NOINLINE static void *branch_a(const void *pool, unsigned n, int level)
{
	void *block = branch(pool, n, level);

	AFTER_CALL(block);
	return block;
}

NOINLINE static void *branch_b(const void *pool, unsigned n, int level)
{
	void *block = branch(pool, n, level);

	AFTER_CALL(block);
	return block;
}

/* A stack of its own for each n below 2^level: the bits of n choose
 * branch_a or branch_b at each level; one call site allocates. */
NOINLINE static void *branch(const void *pool, unsigned n, int level)
{
	void *block;

	if (level > 0) {
		block = (n & 1) ? branch_a(pool, n >> 1, level - 1)
				: branch_b(pool, n >> 1, level - 1);
		AFTER_CALL(block);
		return block;
	}
	block = am->malloc(pool, 16);
	AFTER_CALL(block);
	return block;
}

START_TEST(full_depot_keeps_first_frames)
{
	char errors[512];
	const void *pool;
	const struct recorded *report;
	struct depot_file depot;
	const char *at;
	int groups = 0;

	make_node_dir();
	snprintf(errors, sizeof(errors), "%s/stderr", node_dir);
	ck_assert_ptr_nonnull(freopen(errors, "w", stderr));
	load(":leak_check=0:stack_depot_bytes=4k");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	/* 4 KiB: some 25 stacks of 16 frames, 64 distinct ones here */
	for (unsigned n = 0; n < 64; n++)
		ck_assert_ptr_nonnull(branch(pool, n, 6));
	ck_assert_int_eq(amd->report_leaks(pool, 0, NULL, NULL), B_OK);
	report = only_report_of("detected memory leaks");
	ck_assert_uint_eq(report->report.leaked_blocks, 64);
	/* the largest group: every stack cut to the one first frame they share */
	ck_assert_uint_eq(report->report.allocated_by.frame_count, 1);
	ck_assert_uint_gt(report->report.allocated_by.frames[0], (uintptr_t)&branch);
	for (at = report->text; (at = strstr(at, "Leak of ")) != NULL; at++)
		groups++;
	ck_assert_msg(groups > 10 && groups < 64, "%d groups:\n%s", groups, report->text);
	ck_assert(read_depot(getpid(), &depot));
	ck_assert_uint_gt(depot.header.truncated, 0);
	ck_assert_uint_eq(depot.header.lost, 0);
	ck_assert_uint_eq(depot.header.reserve_used, sizeof(struct stack_record) + 8);
	free(depot.records);
	fflush(stderr);
	ck_assert_int_eq(count_lines(errors, "the stack depot is full"), 1);
	am->delete_pool(pool);
	forget_reports();
	unload();
	remove_node_dir();
}
END_TEST

/* ---- fork ---- */

NOINLINE static void *parent_site(const void *pool)
{
	void *block = am->malloc(pool, 40);

	AFTER_CALL(block);
	return block;
}

NOINLINE static void *child_site(const void *pool)
{
	void *block = am->malloc(pool, 24);

	AFTER_CALL(block);
	return block;
}

/* The child makes new stacks: its depot is its own (a copy), never the
 * parent's file; with fork_nodes=1 a file of its own node. */
static void fork_keeps_depots_apart(bool fork_nodes)
{
	struct depot_file before, after;
	const void *pool;
	int status;
	pid_t child;

	make_node_dir();
	load(fork_nodes ? ":leak_check=0:fork_nodes=1" : ":leak_check=0");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(parent_site(pool));
	ck_assert(read_depot(getpid(), &before));
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct depot_file own;
		bool ok = child_site(pool) != NULL && child_site(pool) != NULL;
		forget_reports();
		ok = ok && amd->report_leaks(pool, 0, NULL, NULL) == B_OK;
		/* the parent's block and the child's, each with its stack */
		ok = ok && report_count == 1 && reports[0].report.leaked_blocks == 3
			&& strstr(reports[0].text, " in child_site+") != NULL
			&& strstr(reports[0].text, " in parent_site+") != NULL;
		if (fork_nodes)
			ok = ok && read_depot(getpid(), &own)
				&& own.header.used > before.header.used
				&& memcmp(own.records, before.records, before.header.used) == 0;
		else
			ok = ok && !read_depot(getpid(), &own);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed: %#x",
		status);
	ck_assert(read_depot(getpid(), &after));
	ck_assert_uint_eq(after.header.used, before.header.used);
	ck_assert_int_eq(memcmp(after.records, before.records, before.header.used), 0);
	free(before.records);
	free(after.records);
	am->delete_pool(pool);
	forget_reports();
	unload();
	remove_node_dir();
}

START_TEST(forked_child_has_a_depot_of_its_own)
{
	fork_keeps_depots_apart(false);
}
END_TEST

START_TEST(forked_child_with_a_node_writes_its_own_depot_file)
{
	fork_keeps_depots_apart(true);
}
END_TEST

void add_stack_tests(Suite *suite)
{
	TCase *stacks = tcase_create("stacks");

	tcase_add_test(stacks, stacks_of_drivers_with_and_without_frame_pointers);
	tcase_add_test(stacks, one_frame_stacks);
	tcase_add_test(stacks, suppressions_match_any_frame_of_the_stack);
	tcase_add_test(stacks, full_depot_keeps_first_frames);
	tcase_add_test(stacks, forked_child_has_a_depot_of_its_own);
	tcase_add_test(stacks, forked_child_with_a_node_writes_its_own_depot_file);
	suite_add_tcase(suite, stacks);
}
