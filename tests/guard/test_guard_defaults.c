/*
 * test_guard_defaults.c - Check suite: what guard pages cost and do with
 * the debug build's default options (issue 15: one allocation in 5000
 * guarded, on by default, as KFENCE and GWP-ASan leave theirs on).
 *
 * - a driver that reads past its blocks is caught at the access about once
 *   in 5000 allocations, with nothing but the defaults (and a seed);
 * - locked pools get no guard region from the sampling alone (their area is
 *   locked whole: RLIMIT_MEMLOCK), but do when an option guards every block;
 * - a pool's guard region takes no tmpfs space until a guarded block is
 *   placed in it, and a freed block gives its pages back;
 * - a pool's peak counts its guarded blocks' bytes with its heap's;
 * - a check reads only the side table's slots that blocks have used.
 *
 * Each test loads the debug module with its own options (Check forks every
 * test); reports go through the companion's report hook.
 *
 * Locking: the report hook may run on any thread; recorded_lock
 * (support/report_recorder.h) protects the records.
 */
#include "config.h"
#include "support/check_main.h"

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "format/node_format.h"
#define MAX_RECORDED 64
#include "support/report_recorder.h"
#include "support/debug_module.h"
#include "support/wild_write.h"

#define RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)

static area_malloc_module_info *am;
static area_malloc_debug_module_info *dbg;
static area_malloc_debug_module_info_v3 *v3;
static char node_dir[PATH_MAX];

/* Loads the debug module and its companions with options (after a node
 * directory of this test's own, made in base). */
static void open_module_in(const char *base, const char *options)
{
	char all[2 * PATH_MAX];

	snprintf(node_dir, sizeof(node_dir), "%s/area_malloc-guard-defaults-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(node_dir));
	snprintf(all, sizeof(all), "node_dir=%s%s%s", node_dir, options[0] ? ":" : "", options);
	debug_module_open(all, &am, &dbg);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME, (module_info **)&v3), B_OK);
}

static void open_module(const char *options)
{
	open_module_in("/tmp", options);
}

static void close_module(void)
{
	char command[PATH_MAX + 16];

	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME), B_OK);
	debug_module_close();
	snprintf(command, sizeof(command), "rm -rf '%s'", node_dir);
	ck_assert_int_eq(system(command), 0);
}

/* The tmpfs bytes of the file behind pool (its node file). */
static long long file_bytes(const void *pool)
{
	area_malloc_pool_stats stats;
	char path[PATH_MAX + 64];
	struct stat status;

	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	snprintf(path, sizeof(path), "%s/%d/%s%d", node_dir, (int)getpid(), NODE_POOL_FILE_PREFIX,
		(int)stats.area);
	ck_assert_msg(stat(path, &status) == 0, "no pool file %s", path);
	return (long long)status.st_blocks * 512;
}

/* Reads the byte just past a block: a canary byte of a canary block, the
 * guard page of a guarded one (a fault, reported; the module then lets the
 * read go on). Not instrumented: the guard page is under test. */
static __attribute__((noipa, no_sanitize_address)) void read_past(const char *block, size_t size)
{
	(void)*(const volatile char *)(block + size);
}

START_TEST(default_sampling_catches_reads_past_blocks)
{
	enum { ALLOCATIONS = 60000, SIZE = 32 };
	const void *pool;
	int caught;

	if (RUNNING_ON_VALGRIND)
		return;
	/* the defaults but the seed (and the exit status of the faults) */
	open_module("guard_seed=20261207:exitcode=0");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(pool);
	for (int i = 0; i < ALLOCATIONS; i++) {
		char *block = am->malloc(pool, SIZE);
		ck_assert_ptr_nonnull(block);
		read_past(block, SIZE);
		am->free(pool, block);
	}
	am->free(pool, am->malloc(pool, 1)); /* makes the faults' reports */
	caught = reports_so_far();
	/* 12 expected (standard deviation 3.5): the bounds are 3 of them away */
	ck_assert_msg(caught >= 2 && caught <= 23, "%d of %d reads past a block caught", caught,
		ALLOCATIONS);
	for (int i = 0; i < caught && i < MAX_RECORDED; i++) {
		ck_assert_str_eq(recorded[i].kind, "heap-buffer-overflow");
		ck_assert_uint_eq(recorded[i].size, SIZE);
		ck_assert_ptr_eq(recorded[i].pool_id, pool);
	}
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	close_module();
}
END_TEST

START_TEST(locked_pools_are_not_sampled)
{
	const void *locked, *unlocked;

	if (RUNNING_ON_VALGRIND)
		return;
	open_module("");
	locked = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 16, B_FULL_LOCK, RW);
	unlocked = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 16, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(locked);
	ck_assert_ptr_nonnull(unlocked);
	/* a guard region is what set_pool_guard chooses in */
	ck_assert_int_eq(v3->set_pool_guard(locked, B_AREA_MALLOC_GUARD_ALL, 0), B_NOT_ALLOWED);
	ck_assert_int_eq(v3->set_pool_guard(unlocked, B_AREA_MALLOC_GUARD_ALL, 0), B_OK);
	ck_assert_int_eq(am->delete_pool(locked), B_OK);
	ck_assert_int_eq(am->delete_pool(unlocked), B_OK);
	close_module();
	assert_reports(0);
}
END_TEST

START_TEST(locked_pools_are_guarded_when_asked)
{
	const void *locked;

	if (RUNNING_ON_VALGRIND)
		return;
	open_module("guard_size=64");
	locked = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 16, B_FULL_LOCK, RW);
	ck_assert_ptr_nonnull(locked);
	ck_assert_int_eq(v3->set_pool_guard(locked, B_AREA_MALLOC_GUARD_ALL, 0), B_OK);
	ck_assert_int_eq(am->delete_pool(locked), B_OK);
	close_module();
	assert_reports(0);
}
END_TEST

START_TEST(guard_region_is_not_reserved)
{
	const void *pool;
	long long empty;

	if (RUNNING_ON_VALGRIND)
		return;
	open_module("guard=1");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(pool);
	empty = file_bytes(pool);
	/* the region is 256 slots x 4 pages of 4 KiB: 4 MiB */
	ck_assert_msg(empty < 1 << 20, "a new pool's file takes %lld bytes", empty);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	close_module();
	assert_reports(0);
}
END_TEST

/* The page faults this process took in check_pool(pool). */
static long faults_in_check(const void *pool)
{
	struct rusage before, after;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &before), 0);
	ck_assert_int_eq(dbg->check_pool(pool), 0);
	ck_assert_int_eq(getrusage(RUSAGE_SELF, &after), 0);
	return (after.ru_minflt - before.ru_minflt) + (after.ru_majflt - before.ru_majflt);
}

/* A check walks the live guarded blocks: it reads only the slots blocks
 * have used (G5), not the side table's other pages (its 256 slots span 5
 * pages). Before, every check and every delete_pool read them all: 5 of
 * the 9 page faults from create_pool to delete_pool of a 1 MiB pool whose
 * node is on tmpfs, where node directories live (a disk file system maps
 * neighbouring pages of a read fault at once, so fewer faults there). */
START_TEST(checks_read_only_the_slots_in_use)
{
	const void *pool;
	void *block;
	long faults;

	if (RUNNING_ON_VALGRIND)
		return;
	/* the defaults (one allocation in 5000 guarded: not this one), but
	 * the exit status of the error planted below */
	open_module_in(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		"guard_seed=20261208:exitcode=0");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(pool);
	block = am->malloc(pool, 64);
	ck_assert_ptr_nonnull(block);
	am->free(pool, block);
	faults = faults_in_check(pool);
	ck_assert_msg(faults <= 1, "a check of a pool with no guarded block took %ld page faults",
		faults);
	/* a guarded block takes the first slot, and the walk still reaches it:
	 * a write into its slack canary (60 bytes rounded to 64) is found */
	ck_assert_int_eq(v3->set_pool_guard(pool, B_AREA_MALLOC_GUARD_ALL, 0), B_OK);
	block = am->malloc(pool, 60);
	ck_assert_ptr_nonnull(block);
	wild_write((char *)block + 60, 0, 1);
	ck_assert_int_eq(dbg->check_pool(pool), 1);
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(recorded[0].address, block);
	ck_assert_uint_eq(recorded[0].size, 60);
	ck_assert_uint_eq(recorded[0].overflow_bytes, 1);
	ck_assert(recorded[0].has_allocated_by);
	am->free(pool, block);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	close_module();
}
END_TEST

START_TEST(freed_blocks_give_their_pages_back)
{
	enum { ROUNDS = 40 };
	const void *pool;
	long long empty, held;
	void *blocks[4];

	if (RUNNING_ON_VALGRIND)
		return;
	/* 8 slots: 32 pages of region, a small block taking one data page and
	 * its guard page, so the next-fit placement goes round the region (16
	 * data pages) several times */
	open_module("guard=1:guard_pool_max=8");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(pool);
	empty = file_bytes(pool);
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < 4; i++) {
			blocks[i] = am->malloc(pool, 16);
			ck_assert_ptr_nonnull(blocks[i]);
			memset(blocks[i], 0x11, 16);
		}
		for (int i = 0; i < 4; i++)
			am->free(pool, blocks[i]);
	}
	held = file_bytes(pool);
	/* every block freed: no data page held (freed blocks wait in the
	 * guarded quarantine without theirs), but a page or two of the
	 * pool's own metadata; not the 8 slots' pages, nor all 16 ever used */
	ck_assert_msg(held - empty <= 2 * 4096, "the region holds %lld bytes after %d rounds",
		held - empty, ROUNDS);
	ck_assert_int_eq(dbg->check_pool(pool), 0);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	close_module();
	assert_reports(0);
}
END_TEST

START_TEST(peak_counts_guarded_blocks)
{
	const void *pool;
	area_malloc_pool_stats stats;
	void *guarded, *plain;

	if (RUNNING_ON_VALGRIND)
		return;
	open_module("guard_size=100");
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(pool);
	guarded = am->malloc(pool, 100);
	plain = am->malloc(pool, 1000);
	ck_assert_ptr_nonnull(guarded);
	ck_assert_ptr_nonnull(plain);
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	ck_assert_uint_eq(stats.used, 1100);
	ck_assert_uint_eq(stats.peak, 1100);
	am->free(pool, plain);
	am->free(pool, guarded);
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	ck_assert_uint_eq(stats.used, 0);
	ck_assert_uint_eq(stats.peak, 1100);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	close_module();
	assert_reports(0);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("guard_defaults");
	TCase *tcase = tcase_create("defaults");

	tcase_add_test(tcase, default_sampling_catches_reads_past_blocks);
	tcase_add_test(tcase, locked_pools_are_not_sampled);
	tcase_add_test(tcase, locked_pools_are_guarded_when_asked);
	tcase_add_test(tcase, guard_region_is_not_reserved);
	tcase_add_test(tcase, checks_read_only_the_slots_in_use);
	tcase_add_test(tcase, freed_blocks_give_their_pages_back);
	tcase_add_test(tcase, peak_counts_guarded_blocks);
	suite_add_tcase(suite, tcase);
	return run_check_suite(suite, CK_FORK);
}
