/*
 * stress_support.c - random numbers, checkable blocks, failures of worker
 * threads, the module under test and the summary line (see stress.h).
 *
 * Invariants: the pattern is written once (pthread_once) and only read
 * afterwards; a recorded failure message is written by exactly one thread,
 * the one that claimed first_failure, before it sets failed.
 *
 * Locking: atomics only (stress.h).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>

#include "core/cache_magazine.h"
#include "core/pool.h"
#include "stress.h"
#include "support/debug_command.h"

const char *stress_build_name(enum stress_build build)
{
	return build == STRESS_DEBUG ? "debug" : "release";
}

/* ---- random numbers ---- */

uint64_t stress_seed(void)
{
	const char *text = getenv(STRESS_SEED_VARIABLE);
	unsigned long long seed;
	char *end;

	if (text == NULL || text[0] == '\0')
		return 1;
	errno = 0;
	seed = strtoull(text, &end, 0);
	ck_assert_msg(errno == 0 && *end == '\0' && text[0] != '-',
		STRESS_SEED_VARIABLE "='%s' is not an unsigned number", text);
	return seed;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void stress_rng_init(struct stress_rng *rng, uint64_t seed, uint64_t stream)
{
	rng->state = splitmix64(seed ^ splitmix64(stream + 1));
	if (rng->state == 0)
		rng->state = 1;
}

uint64_t stress_random(struct stress_rng *rng)
{
	uint64_t x = rng->state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng->state = x;
	return x * 0x2545f4914f6cdd1dull;
}

size_t stress_below(struct stress_rng *rng, size_t bound)
{
	return (size_t)((stress_random(rng) >> 11) % bound);
}

bool stress_chance(struct stress_rng *rng, unsigned percent)
{
	return stress_below(rng, 100) < percent;
}

/* ---- blocks ---- */

/* Windows start at stamp % PATTERN_WINDOWS: two blocks (or one block's
 * old and new contents) differ unless their stamps agree modulo it. */
#define PATTERN_WINDOWS 4093

static unsigned char pattern[STRESS_MAX_BLOCK + PATTERN_WINDOWS];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void make_pattern(void)
{
	struct stress_rng rng;

	stress_rng_init(&rng, 0x5eed, 0);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)(stress_random(&rng) >> 56);
}

static const unsigned char *pattern_window(uint32_t stamp)
{
	pthread_once(&pattern_once, make_pattern);
	return pattern + stamp % PATTERN_WINDOWS;
}

size_t stress_random_size(struct stress_rng *rng)
{
	size_t kind = stress_below(rng, 100);

	if (kind < 2)
		return 0;
	if (kind < 70)
		return 1 + stress_below(rng, 256);
	if (kind < 96)
		return 257 + stress_below(rng, 4096 - 256);
	return 4097 + stress_below(rng, STRESS_MAX_BLOCK - 4096);
}

void stress_fill(struct stress_block *block, uint32_t stamp)
{
	block->stamp = stamp;
	memcpy(block->data, pattern_window(stamp), block->size);
}

size_t stress_damage(const struct stress_block *block, size_t length)
{
	const unsigned char *expected = pattern_window(block->stamp);

	if (memcmp(block->data, expected, length) == 0)
		return SIZE_MAX;
	for (size_t i = 0; i < length; i++)
		if (block->data[i] != expected[i])
			return i;
	return SIZE_MAX;
}

size_t stress_nonzero(const unsigned char *data, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (data[i] != 0)
			return i;
	return SIZE_MAX;
}

size_t stress_release_chunk(size_t size)
{
	size_t chunk = ((size + 15) & ~(size_t)15) + 16;

	return chunk < 32 ? 32 : chunk;
}

size_t stress_release_chunk_max(size_t size)
{
	size_t exact = stress_release_chunk(size) + STRESS_CHUNK_SLACK;

	if (size > THREAD_CACHE_MAX_USABLE)
		return exact;
	/* a block of the request's class or of a class above it that
	 * magazine_take_above may take from: below the size of the class after
	 * the highest of them (the last class: its own, and no more) */
	unsigned top = cache_last_class_above(cache_class_for_request(size));
	size_t cached = top + 1 < CACHE_CLASSES
		? cache_class_size(top + 1) - HEAP_ALIGN + HEAP_BLOCK_OVERHEAD
		: cache_class_size(top) + HEAP_BLOCK_OVERHEAD;
	return cached > exact ? cached : exact;
}

/* ---- failures ---- */

static atomic_bool failed;
static atomic_flag failure_claimed = ATOMIC_FLAG_INIT;
static char failure_message[1024];

void stress_fail(const char *format, ...)
{
	if (!atomic_flag_test_and_set(&failure_claimed)) {
		va_list arguments;

		va_start(arguments, format);
		vsnprintf(failure_message, sizeof(failure_message), format, arguments);
		va_end(arguments);
	}
	atomic_store(&failed, true);
}

bool stress_failed(void)
{
	return atomic_load_explicit(&failed, memory_order_relaxed);
}

void stress_assert_no_failure(void)
{
	/* the workers are joined: their writes are visible */
	ck_assert_msg(!atomic_load(&failed), "%s", failure_message);
}

void stress_reset_failure(void)
{
	atomic_store(&failed, false);
	atomic_flag_clear(&failure_claimed);
	failure_message[0] = '\0';
}

/* ---- the module under test ---- */

struct stress_reports stress_reports;

void stress_reset_reports(void)
{
	atomic_store(&stress_reports.unexpected, 0);
	atomic_store(&stress_reports.invalid_pool, 0);
	atomic_store(&stress_reports.leak_reports, 0);
	atomic_store(&stress_reports.expect_invalid_pool, false);
	atomic_store(&stress_reports.expect_leaks, false);
	atomic_flag_clear(&stress_reports.first_taken);
	stress_reports.first_unexpected[0] = '\0';
}

bool stress_report_hook(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	if (strcmp(report->kind, "invalid-pool") == 0
		&& atomic_load(&stress_reports.expect_invalid_pool)) {
		atomic_fetch_add(&stress_reports.invalid_pool, 1);
		return true;
	}
	if (strcmp(report->kind, "detected memory leaks") == 0
		&& atomic_load(&stress_reports.expect_leaks)) {
		atomic_fetch_add(&stress_reports.leak_reports, 1);
		return true;
	}
	if (!atomic_flag_test_and_set(&stress_reports.first_taken))
		snprintf(stress_reports.first_unexpected, sizeof(stress_reports.first_unexpected),
			"%s", report->text != NULL ? report->text : report->kind);
	atomic_fetch_add(&stress_reports.unexpected, 1);
	stress_fail("unexpected %s report", report->kind);
	/* taken over: the test fails with the text instead of the exit status */
	return true;
}

void stress_assert_no_unexpected_report(void)
{
	unsigned long unexpected = atomic_load(&stress_reports.unexpected);

	ck_assert_msg(unexpected == 0, "%lu unexpected report(s); the first:\n%s", unexpected,
		stress_reports.first_unexpected);
}

static const char *required_environment(const char *name)
{
	const char *value = getenv(name);

	ck_assert_msg(value != NULL && value[0] != '\0', "%s is not set (run `make check`)", name);
	return value;
}

/* The release module's directory: KERNEL_MODULE_PATH as the test found it
 * (make check points it there), before any test changed it. */
static const char *release_module_path(void)
{
	static char path[PATH_MAX];

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s", required_environment("KERNEL_MODULE_PATH"));
	return path;
}

static void make_node_dir(char *node_dir, size_t size)
{
	const char *parents[] = { "/dev/shm", getenv("TMPDIR"), "/tmp" };

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		if (parents[i] == NULL)
			continue;
		snprintf(node_dir, size, "%s/area_malloc-stress-XXXXXX", parents[i]);
		if (mkdtemp(node_dir) != NULL)
			return; /* mode 0700, ours: what the node writer demands */
	}
	ck_abort_msg("cannot create a node directory: %s", strerror(errno));
}

void stress_select_build(enum stress_build build, char *node_dir, size_t size)
{
	const char *release = release_module_path();
	char path[PATH_MAX], options[PATH_MAX + 64];

	if (build == STRESS_RELEASE) {
		ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", release, 1), 0);
		ck_assert_int_eq(unsetenv("AREA_MALLOC_OPTIONS"), 0);
		if (node_dir != NULL)
			node_dir[0] = '\0';
		return;
	}
	snprintf(path, sizeof(path), "%s/modules/debug",
		required_environment("AREA_MALLOC_TEST_BUILDDIR"));
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
	make_node_dir(node_dir, size);
	snprintf(options, sizeof(options), "node_dir='%s':keep_dead_nodes=0", node_dir);
	ck_assert_int_eq(setenv("AREA_MALLOC_OPTIONS", options, 1), 0);
}

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
	(void)status;
	(void)type;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void stress_remove_node_dir(const char *node_dir)
{
	if (node_dir[0] != '\0')
		nftw(node_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void stress_open(struct stress_module *module, enum stress_build build)
{
	memset(module, 0, sizeof(*module));
	module->build = build;
	stress_reset_failure();
	stress_reset_reports();
	stress_select_build(build, module->node_dir, sizeof(module->node_dir));
	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&module->am), B_OK);
	if (build == STRESS_DEBUG) {
		ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME,
					 (module_info **)&module->dbg),
			B_OK);
		module->dbg->set_report_hook(stress_report_hook, NULL);
	}
}

void stress_assert_no_pool_areas(void)
{
	area_id left = find_area(POOL_AREA_NAME);

	ck_assert_msg(left < 0, "area %d of a pool is still there", (int)left);
}

void stress_close(struct stress_module *module)
{
	char *output = NULL;

	if (module->dbg != NULL) {
		ck_assert_uint_eq(module->dbg->error_count(), 0);
		module->dbg->set_report_hook(NULL, NULL);
		ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	}
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	stress_assert_no_pool_areas();
	/* unloaded: its debugger commands went with it */
	ck_assert_int_eq(run_debug_command("pools", &output), B_ENTRY_NOT_FOUND);
	free(output);
	if (module->build == STRESS_DEBUG) {
		char node[PATH_MAX + 16];
		struct stat status;

		/* the last put_module removed the node */
		snprintf(node, sizeof(node), "%s/%d", module->node_dir, (int)getpid());
		ck_assert_msg(stat(node, &status) != 0 && errno == ENOENT,
			"the node %s is still there after unload", node);
		stress_remove_node_dir(module->node_dir);
	}
	stress_assert_no_unexpected_report();
	stress_assert_no_failure();
}

/* ---- the summary line ---- */

void stress_print_summary(const struct stress_summary *summary)
{
	struct rusage usage;

	getrusage(RUSAGE_SELF, &usage);
	printf("stress: %s build=%s threads=%d seed=%" PRIu64 " ops=%" PRIu64
	       " failed_allocs=%" PRIu64 " reader_commands=%" PRIu64 " torn_copies=%" PRIu64
	       " reports=%" PRIu64 " maxrss_kb=%ld\n",
		summary->test, stress_build_name(summary->build), summary->threads, summary->seed,
		summary->operations, summary->failed_allocations, summary->reader_commands,
		summary->torn_copies, summary->reports, usage.ru_maxrss);
	fflush(stdout);
}
