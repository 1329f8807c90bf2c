/*
 * bench.h - what the benchmark's parts share: the allocator interface every
 * workload runs on, the workloads a child process measures, the result
 * lines a child prints, and the timing and statistics helpers.
 *
 * The benchmark runs as one parent (bench_main.c) that starts a child
 * process per measurement (one allocator, one workload); the child measures
 * glibc malloc and its allocator alternately in the same process and prints
 * "key value" lines that the parent collects into the table.
 *
 * Locking: none here; each workload says how its threads share data.
 */
#ifndef AREA_MALLOC_TESTS_BENCH_BENCH_H
#define AREA_MALLOC_TESTS_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <OS.h>

/*
 * One allocator as the workloads see it. The signatures are the module's
 * own, so a module's functions are called straight through its
 * module_info, as a driver calls them; process-wide allocators (glibc,
 * jemalloc, mimalloc) ignore the pool argument and have no create_pool.
 */
struct bench_allocator {
	const char *name;
	void *(*allocate)(const void *pool, size_t size);
	void *(*release)(const void *pool, void *block);
	const void *(*create_pool)(uint32 address_spec, size_t size, uint32 lock_spec,
		uint32 protection);
	status_t (*delete_pool)(const void *pool);
};

/* Allocator kinds a child can open (the parent's columns map onto them). */
enum bench_allocator_kind {
	BENCH_GLIBC,
	BENCH_JEMALLOC,
	BENCH_MIMALLOC,
	BENCH_MODULE, /* get_module(generic/area_malloc/v1) along KERNEL_MODULE_PATH */
};

/* Exit status of a child whose allocator is not installed here. */
#define BENCH_EXIT_UNAVAILABLE 77

bool bench_kind_from_name(const char *name, enum bench_allocator_kind *kind);

/* Fills *allocator; false (with a line on stderr) when it cannot be had. */
bool bench_allocator_open(enum bench_allocator_kind kind, struct bench_allocator *allocator);
void bench_allocator_close(enum bench_allocator_kind kind);
const struct bench_allocator *bench_glibc(void);

/* A pool of size bytes (B_NO_LOCK, read/write), or NULL for an allocator
 * without pools; exits the child when a pool allocator cannot make it. */
const void *bench_pool_open(const struct bench_allocator *allocator, size_t size);
void bench_pool_close(const struct bench_allocator *allocator, const void *pool);

/* Timing. */
uint64_t bench_now_ns(void);
uint64_t bench_thread_cpu_ns(void); /* the calling thread's CPU time */
/* CPU time per operation per thread of the last pass of a threaded workload
 * (threads_pass), NAN after any other: what each thread spent, whether or
 * not the machine ran the threads at once. */
extern double bench_last_pass_cpu_ns;
void bench_tsc_calibrate(void);
double bench_tsc_ns_per_tick(void);
uint64_t bench_tsc_begin(void);
uint64_t bench_tsc_end(void);

/* Statistics over a sample (sorted in place). */
double bench_median(double *values, size_t count);
uint32_t bench_percentile_u32(uint32_t *sorted, size_t count, double fraction);
void bench_sort_u32(uint32_t *values, size_t count);

/* Reproducible random numbers (xorshift64*), one stream per user. */
struct bench_rng {
	uint64_t state;
};
uint64_t bench_rng_next(struct bench_rng *rng);
/* Log-uniform in [2^low_log2, 2^high_log2): a uniform octave, then uniform
 * within it. */
size_t bench_log_uniform(struct bench_rng *rng, unsigned low_log2, unsigned high_log2);
/* Log-uniform in 16..2047. */
uint16_t bench_random_size(struct bench_rng *rng);

/*
 * The share of every timed workload's iterations a run does (--scale; 1
 * by default): a smoke test runs the workloads in a fraction of the time.
 * Set by the child before any workload is prepared.
 */
extern double bench_scale;
/* count scaled, at least 1. */
size_t bench_scaled(size_t count);

/*
 * Memory readings of the child process. Resident sizes come from
 * /proc/self/status (VmRSS, VmHWM); bench_peak_rss_reset makes VmHWM the
 * current resident size (/proc/self/clear_refs, "5") and says whether it
 * could. bench_node_kib: the tmpfs bytes (allocated blocks, not file
 * sizes) of the files of this process's debug node, NODE_DIR/PID/ with
 * NODE_DIR from AREA_MALLOC_OPTIONS's node_dir (or the default), in KiB;
 * negative when the process has no node.
 */
bool bench_peak_rss_reset(void);
double bench_status_kib(const char *field);
double bench_node_kib(void);

/* A child's results: printed as "key value" lines on stdout. */
void bench_emit(const char *key, double value);

/*
 * The workloads. A timed workload returns nanoseconds per operation of one
 * pass over allocator (an operation is one block's malloc + free); the
 * child alternates passes over glibc and the allocator under test.
 */
struct bench_timed_workload {
	const char *name;
	const char *description;
	/* prepares whatever the passes share (sequences, pools) */
	void *(*prepare)(const struct bench_allocator *allocator);
	double (*run_pass)(const struct bench_allocator *allocator, void *prepared);
	void (*finish)(const struct bench_allocator *allocator, void *prepared);
};

/* The suite of issue 5 (bench_workloads.c) and the real-workload suite of
 * issue 18 (bench_real_workloads.c); a name is unique across both. */
extern const struct bench_timed_workload bench_timed_workloads[];
extern const size_t bench_timed_workload_count;
extern const struct bench_timed_workload bench_real_workloads[];
extern const size_t bench_real_workload_count;

const struct bench_timed_workload *bench_find_timed_workload(const char *name);

/* The workload whose passes a child of this one alternates with its own,
 * on the same allocator (thread2: thread1), or NULL: the child then emits
 * paired_ns and paired_ratio (bench_main.c), a two-thread / one-thread
 * throughput taken from passes a few milliseconds apart. */
const struct bench_timed_workload *bench_paired_workload(
	const struct bench_timed_workload *workload);

/* Worst-case latency of single calls (bench_latency.c): emits lat_* keys. */
void bench_run_latency(const struct bench_allocator *allocator);

/* Pool figures (bench_pools.c): per-block overhead, fill to exhaustion,
 * create/delete rate, the 8 GiB pool; emits pool_* keys. */
void bench_run_pool_figures(const struct bench_allocator *allocator);

/* The reachability scan's figures (bench_scan.c, issue 16), for the debug
 * module only: emits scan_* keys (nothing for another allocator). */
void bench_run_scan_figures(const struct bench_allocator *allocator);

#endif /* AREA_MALLOC_TESTS_BENCH_BENCH_H */
