/*
 * stress.h - what the parts of the thread-stress suite share.
 *
 * stress_support.c: random numbers, blocks whose every byte is checkable,
 * failures recorded by worker threads (only the main thread may fail a
 * Check test), the module under test (release or debug build, selected
 * through KERNEL_MODULE_PATH before the first get_module) with a report hook
 * that counts the debug build's reports, and the summary line that
 * scripts/soak adds up.
 * stress_reader.c: pooldump, and the node reader's commands in process,
 * reading the debug node of this very process while the workload runs.
 * test_stress.c: the workloads and the Check suite.
 *
 * Locking: the failure record and the report counters are atomics (the
 * message is written once, by whoever sets the flag first); everything else
 * belongs to one thread or is set up before the workers start.
 */
#ifndef AREA_MALLOC_TESTS_STRESS_STRESS_H
#define AREA_MALLOC_TESTS_STRESS_STRESS_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

/* AREA_MALLOC_STRESS_SEED: the workloads' random seed (default 1). */
#define STRESS_SEED_VARIABLE "AREA_MALLOC_STRESS_SEED"

enum stress_build {
	STRESS_RELEASE,
	STRESS_DEBUG,
};

const char *stress_build_name(enum stress_build build);

/* ---- random numbers (xorshift64*, one generator per thread) ---- */

struct stress_rng {
	uint64_t state;
};

uint64_t stress_seed(void);
/* A generator for one stream (thread) of the run seeded with seed. */
void stress_rng_init(struct stress_rng *rng, uint64_t seed, uint64_t stream);
uint64_t stress_random(struct stress_rng *rng);
/* Uniform in [0, bound); bound > 0. */
size_t stress_below(struct stress_rng *rng, size_t bound);
/* true with probability percent / 100. */
bool stress_chance(struct stress_rng *rng, unsigned percent);

/* ---- blocks ---- */

#define STRESS_MAX_BLOCK (64 * 1024)

/* A block the test holds: its bytes are a window of a fixed random pattern
 * chosen by stamp, so a block that lost, mixed up or shifted bytes shows. */
struct stress_block {
	unsigned char *data; /* NULL: the slot is empty */
	size_t size;
	uint32_t stamp;
	const void *pool;
};

/* Mostly small sizes, some of a few KiB, a few up to STRESS_MAX_BLOCK, and 0. */
size_t stress_random_size(struct stress_rng *rng);
void stress_fill(struct stress_block *block, uint32_t stamp);
/* Offset of the first of the first length bytes that is not the pattern,
 * or SIZE_MAX when they all are. */
size_t stress_damage(const struct stress_block *block, size_t length);
/* Offset of the first non-zero byte of data[0, size), or SIZE_MAX. */
size_t stress_nonzero(const unsigned char *data, size_t size);

/* Bytes of heap chunk a release block of size takes (heap.h contract: 16
 * bytes of overhead, rounded to 16, at least 32). The heap may add up to
 * STRESS_CHUNK_SLACK more when the rest of a free block is too small to
 * split off. */
size_t stress_release_chunk(size_t size);
#define STRESS_CHUNK_SLACK 16
/* The most heap space a release block of size may take: the above, or a
 * larger block a thread cache handed out for it (core/cache_magazine.h: a
 * size class serves every request up to its size with blocks whose usable
 * size is below the next class's, and an empty one of several sizes takes
 * from the CACHE_ABOVE_CLASSES classes above it). */
size_t stress_release_chunk_max(size_t size);

/* ---- failures of worker threads ---- */

/* Records the first failure (printf-style) and asks every worker to stop. */
void stress_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));
bool stress_failed(void);
/* In the test's thread: fails the test with the recorded message. */
void stress_assert_no_failure(void);
/* Forgets a recorded failure (each test starts clean, even without fork). */
void stress_reset_failure(void);

/* ---- the module under test ---- */

struct stress_module {
	enum stress_build build;
	area_malloc_module_info *am;
	area_malloc_debug_module_info *dbg; /* NULL with the release build */
	char node_dir[PATH_MAX];            /* debug: this test's private node directory */
};

/*
 * Points KERNEL_MODULE_PATH at the build's module directory and, for the
 * debug build, AREA_MALLOC_OPTIONS at a fresh private node directory
 * (written to node_dir). Call before the first get_module of the test.
 */
void stress_select_build(enum stress_build build, char *node_dir, size_t size);
void stress_remove_node_dir(const char *node_dir);

/* Selects the build, gets the module(s) and installs the report hook. */
void stress_open(struct stress_module *module, enum stress_build build);
/* Puts them away; then no pool area is left and the module is unloaded. */
void stress_close(struct stress_module *module);
/* No area of any pool exists (the module deleted every pool it made). */
void stress_assert_no_pool_areas(void);

/* What the report hook saw. The workloads say which reports they provoke;
 * any other report is unexpected and fails the test. */
struct stress_reports {
	atomic_ulong unexpected;
	atomic_ulong invalid_pool; /* expected while expect_invalid_pool */
	atomic_ulong leak_reports; /* expected while expect_leaks */
	atomic_bool expect_invalid_pool;
	atomic_bool expect_leaks;
	atomic_flag first_taken;
	char first_unexpected[2048];
};
extern struct stress_reports stress_reports;
void stress_reset_reports(void);
bool stress_report_hook(const area_malloc_report *report, void *cookie);
void stress_assert_no_unexpected_report(void);

/* ---- the summary line (scripts/soak adds these up) ---- */

struct stress_summary {
	const char *test;
	enum stress_build build;
	int threads;
	uint64_t seed;
	uint64_t operations;
	uint64_t failed_allocations; /* pool full: legitimate NULLs */
	uint64_t reader_commands;    /* pooldump, node reader and debugger commands */
	uint64_t torn_copies;        /* pool copies the node reader said may be torn */
	uint64_t reports;            /* provoked and expected */
};

/* Prints "stress: TEST build=... threads=... ops=... ... maxrss_kb=N". */
void stress_print_summary(const struct stress_summary *summary);

/* ---- the node reader (debug build) ---- */

struct stress_reader;

/*
 * Starts a thread that, until stopped, runs pooldump (the tool, a child
 * process) and the node reader's commands in process over this process's
 * node: pools, pool, allocations, allocations_per_caller, pool_log, leaks,
 * check. Each answer is parsed and checked for what must hold while the
 * workload runs: the process alive, every long-lived pool listed, no
 * problem found, no pool errors, blocks of this process only, totals within
 * bounds. Problems go to stress_fail().
 */
struct stress_reader *stress_reader_start(const struct stress_module *module,
	const int *long_lived_areas, size_t long_lived_count, size_t max_blocks);
/* Stops it after its current round; adds the commands it ran and the torn
 * copies it met (pools copied while they changed) to summary. */
void stress_reader_stop(struct stress_reader *reader, struct stress_summary *summary);

/*
 * With the workload stopped: the node must agree exactly with what the test
 * holds in pool area (blocks and bytes requested), through both pooldump
 * and the in-process commands, and check must find nothing.
 */
void stress_node_expect(const struct stress_module *module, int area, size_t blocks,
	uint64_t bytes);

#endif /* AREA_MALLOC_TESTS_STRESS_STRESS_H */
