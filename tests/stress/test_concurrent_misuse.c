/*
 * test_concurrent_misuse.c - Check suite: misuse by threads racing on ONE
 * pool of the debug module, with exact outcomes.
 *
 * A free checks its block (chunk tags, header checksum, canaries) before it
 * takes the pool's lock and, under the lock, only confirms that the header
 * still begins with the word it checked (debug_alloc.c, check_ahead): a
 * double free, a free and reallocation at the address, or a resize in
 * between changes that word, and the free then gets the full locked check.
 * These tests race exactly those changes against such frees:
 *
 * - two threads free the same block at once (released together by a spin
 *   start line), thousands of times over blocks of 16 to 5000 bytes (a
 *   free once poisoned blocks of 512 bytes and more before its lock, and
 *   wrote over a block that another thread resized or moved meanwhile;
 *   these tests found it; now a free claims a block of 2 KiB or more under
 *   the lock before it poisons it, and a call on a claimed block is
 *   refused as a double free): one double-free report per
 *   block, naming it, its size and one of the two threads; with and
 *   without quarantine (without, the loser finds free memory and the pool
 *   log names the double free);
 * - one thread frees a block while another reallocs it (grow and shrink;
 *   in place when the heap can, and always moving with realloc_move=1):
 *   the realloc refused (double-free at realloc), or the free refused
 *   after a move (the moved block holding the block's bytes), or the
 *   realloc in place and the free both legitimate (no report);
 * - one thread allocates and frees a block in a loop and publishes each
 *   freed incarnation's pointer; another frees those stale pointers. A
 *   stale pointer equal to the address of the first thread's current
 *   block IS that block's pointer as far as any allocator can tell (a
 *   pointer carries no identity), so that free succeeds silently; what the
 *   module must guarantee, and what is asserted, is that the theft does
 *   not go unreported: the owner's own free of the stolen block is then
 *   refused as a double free. Exactly: every stale free is one report,
 *   either its own refusal or the owner's refused free of the block it
 *   took, and the pool's counters and checks come out exact. A malloc
 *   fills its new block's start after the lock, having claimed the block
 *   for it: a stale free in that window is refused (it once took the
 *   block, and the fill became a "use after free" the next malloc there
 *   reported); the races run with and without the fill, and
 *   stale_free_during_fill_is_refused holds the window open with a 48 MiB
 *   fill to see that refusal itself.
 *
 * After every race: the pool's statistics (every allocation freed once,
 * errors equal to the reports), a check_pool that finds nothing, no leaks,
 * and a delete_pool without a report.
 *
 * Each test loads the debug module itself (Check forks every test) with
 * guard sampling off, so every block is a heap block of the pool. The
 * counts shrink under Valgrind and ThreadSanitizer (and follow
 * AREA_MALLOC_TEST_SCALE).
 *
 * Locking: the report hook runs on the calling thread; recorded_lock
 * (support/report_recorder.h) protects the records. Racing threads never
 * assert (a Check failure must come from the test's thread): they note
 * the first unexpected outcome, which the test's thread asserts on.
 */
#include "config.h"
#include "support/check_main.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#define MAX_RECORDED 8
#include "support/debug_options.h"
#include "support/report_recorder.h"
#include "support/debug_module.h"
#include "support/scale.h"

#define RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define POOL_SIZE ((size_t)8 << 20)

static area_malloc_module_info *am;
static area_malloc_debug_module_info *dbg;

/* Below and above the 512 usable bytes from which a free poisons the block
 * before it takes the pool's lock (debug_alloc.c, POISON_AHEAD_MIN_USABLE). */
static const size_t block_sizes[] = { 16, 100, 600, 5000 };
#define SIZE_COUNT (sizeof(block_sizes) / sizeof(block_sizes[0]))

/* count, fewer under Valgrind and ThreadSanitizer, times the test scale. */
static long rounds(long count)
{
#if defined(__SANITIZE_THREAD__)
	count /= 10;
#endif
	if (RUNNING_ON_VALGRIND)
		count /= 40;
	return test_scaled(count, 2 * (long)SIZE_COUNT);
}

static void open_module(const char *options)
{
	debug_module_use_build();
	ck_assert_int_eq(set_debug_options(options), 0);
	debug_module_get(&am, &dbg);
}

static area_malloc_pool_stats pool_stats(const void *pool)
{
	area_malloc_pool_stats stats;

	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	return stats;
}

/* ---- the racing threads ---- */

/* Two threads meet here and leave together: the last to arrive opens it
 * for both. The waiter spins (yielding now and then: the test shares few
 * CPUs), so both leave within a few hundred cycles of each other when
 * both are running. */
struct start_line {
	atomic_uint arrived;
	atomic_uint generation;
};

static void meet(struct start_line *line)
{
	unsigned generation = atomic_load(&line->generation);

	if (atomic_fetch_add(&line->arrived, 1) == 1) {
		atomic_store(&line->arrived, 0);
		atomic_fetch_add(&line->generation, 1);
		return;
	}
	for (unsigned spins = 0; atomic_load(&line->generation) == generation; spins++) {
		if (spins % 256 == 255)
			sched_yield();
	}
}

/* The first unexpected outcome a racing thread saw (the test's thread
 * asserts on it), and how many there were. */
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;
static char failure[RECORDED_TEXT_MAX + 512];
static int failure_count;

static void __attribute__((format(printf, 1, 2))) note_failure(const char *format, ...)
{
	va_list arguments;

	pthread_mutex_lock(&failure_lock);
	if (failure_count++ == 0) {
		va_start(arguments, format);
		vsnprintf(failure, sizeof(failure), format, arguments);
		va_end(arguments);
	}
	pthread_mutex_unlock(&failure_lock);
}

static void assert_no_failure(void)
{
	ck_assert_msg(failure_count == 0, "%d unexpected outcome(s); the first:\n%s", failure_count,
		failure);
}

/* The reports made since the last take, when both racing threads are
 * between calls: *count of them, the first copied to *first. */
static int take_round_reports(struct recorded *first)
{
	int count;

	pthread_mutex_lock(&recorded_lock);
	count = recorded_count;
	if (count > 0)
		*first = recorded[0];
	recorded_count = 0;
	pthread_mutex_unlock(&recorded_lock);
	return count;
}

/* Whether report is a refused call of thread on block (kind, address and,
 * when size is not 0, the block's requested size); notes it if not. */
static bool expect_report(const struct recorded *report, const char *kind, const void *block,
	size_t size, pid_t thread, const char *text, long round)
{
	if (strcmp(report->kind, kind) != 0 || report->address != block
		|| (size != 0 && report->size != size) || report->detected_by.thread != thread
		|| (text != NULL && strstr(report->text, text) == NULL)) {
		note_failure("round %ld: expected %s at %p (%zu bytes) by thread %d%s%s, got %s "
			     "at %p (%zu bytes) by thread %d:\n%s",
			round, kind, block, size, (int)thread, text != NULL ? " saying " : "",
			text != NULL ? text : "", report->kind, report->address, report->size,
			(int)report->detected_by.thread, report->text);
		return false;
	}
	return true;
}

/* After the race: every allocation freed once, nothing live, errors as
 * many as the reports, a check that finds nothing, no leaks, and a
 * delete_pool without a report. */
static void assert_pool_clean_after(const void *pool, uint64_t errors)
{
	area_malloc_pool_stats stats = pool_stats(pool);
	size_t leaked_bytes = 1, leaked_blocks = 1;

	assert_no_failure();
	assert_reports(0);
	ck_assert_uint_eq(stats.errors, errors);
	ck_assert_uint_eq(stats.live_blocks, 0);
	ck_assert_uint_eq(stats.used, 0);
	ck_assert_uint_eq(stats.frees, stats.allocations);
	ck_assert_int_eq(dbg->check_pool(pool), 0);
	ck_assert_int_eq(dbg->report_leaks(pool, 0, &leaked_bytes, &leaked_blocks), B_OK);
	ck_assert_uint_eq(leaked_bytes, 0);
	ck_assert_uint_eq(leaked_blocks, 0);
	assert_reports(0);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(0);
	debug_module_close();
}

/* What both racing threads share: the pool, the start line, the block of
 * the round, and each thread's id (as reports name threads). */
struct race {
	const void *pool;
	long rounds;
	struct start_line line;
	void *_Atomic block;
	size_t size;
	pid_t thread[2];
	/* outcomes counted by the first thread */
	long outcome[3];
	void *(*run)(struct race *race, int index);
};

struct racer {
	struct race *race;
	int index;
};

static void *racer_main(void *argument)
{
	struct racer *racer = argument;

	racer->race->thread[racer->index] = gettid();
	return racer->race->run(racer->race, racer->index);
}

/* Loads the module with options (hook: the report hook, NULL for the
 * recorder's), runs the race on a new pool of it, and asserts that no
 * racing thread noted a failure. */
static void run_race(struct race *race, const char *options, area_malloc_report_hook hook)
{
	struct racer racers[2] = { { race, 0 }, { race, 1 } };
	pthread_t threads[2];

	open_module(options);
	if (hook != NULL)
		dbg->set_report_hook(hook, NULL);
	race->pool = am->create_pool(B_ANY_KERNEL_ADDRESS, POOL_SIZE, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(race->pool);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, racer_main, &racers[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
	assert_no_failure();
}

/* ==== 1. two threads free the same block at once ==== */

/* Thread 0 allocates each round's block; both free it at once; thread 0
 * then takes the round's one report. outcome[i]: rounds whose double free
 * thread i's free was refused. */
static void *double_free_racer(struct race *race, int index)
{
	for (long round = 0; round < race->rounds; round++) {
		size_t size = block_sizes[round % SIZE_COUNT];
		if (index == 0) {
			void *block = am->malloc(race->pool, size);
			if (block == NULL)
				note_failure("round %ld: malloc(%zu) failed", round, size);
			atomic_store(&race->block, block);
		}
		meet(&race->line);
		void *block = atomic_load(&race->block);
		if (block != NULL)
			am->free(race->pool, block);
		meet(&race->line);
		if (index != 0 || block == NULL)
			continue;
		struct recorded report;
		int count = take_round_reports(&report);
		if (count != 1) {
			note_failure(
				"round %ld: %d reports for a block of %zu bytes freed twice at "
				"once (one expected)%s%s",
				round, count, size, count > 0 ? "; the first:\n" : "",
				count > 0 ? report.text : "");
			continue;
		}
		int loser = report.detected_by.thread == race->thread[0] ? 0 : 1;
		if (expect_report(&report, "double-free", block, size, race->thread[loser],
			    "free of a block that is already free", round))
			race->outcome[loser]++;
	}
	return NULL;
}

static void double_free_race(const char *options)
{
	struct race race = { .rounds = rounds(1000), .run = double_free_racer };

	run_race(&race, options, NULL);
	/* every round's double free was reported once, by one of the two */
	ck_assert_int_eq(race.outcome[0] + race.outcome[1], race.rounds);
	ck_assert_uint_eq(pool_stats(race.pool).allocations, (uint64_t)race.rounds);
	ck_assert_uint_eq(pool_stats(race.pool).frees, (uint64_t)race.rounds);
	assert_pool_clean_after(race.pool, (uint64_t)race.rounds);
}

START_TEST(double_free_at_once_quarantined)
{
	/* the loser finds the block in the quarantine, or (having checked it
	 * live before the lock) finds its header's first word changed */
	double_free_race(NULL);
}
END_TEST

START_TEST(double_free_at_once_without_quarantine)
{
	/* the winner's block leaves at once: the loser finds free memory (or a
	 * header no longer as it checked it), and the pool log names the
	 * double free */
	double_free_race("quarantine_bytes=0");
}
END_TEST

/* ==== 2. a free races a realloc of the same block ==== */

enum { REALLOC_REFUSED, MOVED_THEN_FREE_REFUSED, IN_PLACE_THEN_FREED };

/* The byte of the block's pattern at offset (never 0, never a fill). */
static unsigned char pattern_at(long round, size_t offset)
{
	return (unsigned char)(0x20 + (round * 7 + (long)offset) % 0x50);
}

/* A round that must end in one double-free report by thread refused_by,
 * with text: counted as outcome when it did. */
static void count_one_double_free(struct race *race, int outcome, int count,
	const struct recorded *report, const void *block, size_t size, int refused_by,
	const char *text, long round)
{
	if (count != 1)
		note_failure("round %ld: %d reports where one double free (%s) was due", round,
			count, text);
	else if (expect_report(report, "double-free", block, size, race->thread[refused_by], text,
			 round))
		race->outcome[outcome]++;
}

/* Thread 0 allocates and fills the round's block and frees it; thread 1
 * reallocs it at the same time (grow on even rounds, shrink on odd). */
static void *free_realloc_racer(struct race *race, int index)
{
	static void *_Atomic resized;

	for (long round = 0; round < race->rounds; round++) {
		size_t size = block_sizes[(round / 2) % SIZE_COUNT];
		size_t new_size = round % 2 == 0 ? 2 * size + 24 : size / 2;
		if (index == 0) {
			unsigned char *block = am->malloc(race->pool, size);
			if (block == NULL)
				note_failure("round %ld: malloc(%zu) failed", round, size);
			for (size_t i = 0; block != NULL && i < size; i++)
				block[i] = pattern_at(round, i);
			atomic_store(&race->block, block);
		}
		meet(&race->line);
		unsigned char *block = atomic_load(&race->block);
		if (block != NULL && index == 0)
			am->free(race->pool, block);
		else if (block != NULL)
			atomic_store(&resized, am->realloc(race->pool, block, new_size));
		meet(&race->line);
		if (index != 0 || block == NULL)
			continue;
		unsigned char *result = atomic_load(&resized);
		struct recorded report;
		int count = take_round_reports(&report);
		if (result == NULL) {
			/* the free came first: the realloc is refused, the block
			 * stays freed */
			count_one_double_free(race, REALLOC_REFUSED, count, &report, block, size, 1,
				"realloc of a block that is already free", round);
		} else if (result == block) {
			/* resized in place, then freed: both calls were legitimate */
			if (count == 0)
				race->outcome[IN_PLACE_THEN_FREED]++;
			else
				note_failure("round %ld: realloc in place then free made %d "
					     "reports; the first:\n%s",
					round, count, report.text);
		} else {
			/* moved first: the free of the old address is refused, the
			 * moved block holds the block's bytes */
			size_t kept = size < new_size ? size : new_size;
			size_t wrong = kept;
			for (size_t i = 0; i < kept && wrong == kept; i++)
				if (result[i] != pattern_at(round, i))
					wrong = i;
			if (wrong != kept)
				note_failure(
					"round %ld: realloc moved a %zu-byte block to %p and the "
					"free of %p raced it: byte %zu of %zu moved is 0x%02x, not "
					"0x%02x",
					round, size, (void *)result, (void *)block, wrong, kept,
					result[wrong], pattern_at(round, wrong));
			count_one_double_free(race, MOVED_THEN_FREE_REFUSED, count, &report, block,
				size, 0, "free of a block that is already free", round);
			am->free(race->pool, result);
			if (take_round_reports(&report) != 0)
				note_failure("round %ld: the moved block's free was refused:\n%s",
					round, report.text);
		}
	}
	return NULL;
}

static void free_realloc_race(const char *options, bool always_moves)
{
	struct race race = { .rounds = rounds(1000), .run = free_realloc_racer };

	run_race(&race, options, NULL);
	ck_assert_int_eq(race.outcome[REALLOC_REFUSED] + race.outcome[MOVED_THEN_FREE_REFUSED]
			+ race.outcome[IN_PLACE_THEN_FREED],
		race.rounds);
	if (always_moves)
		ck_assert_int_eq(race.outcome[IN_PLACE_THEN_FREED], 0);
	assert_pool_clean_after(race.pool,
		(uint64_t)(race.outcome[REALLOC_REFUSED] + race.outcome[MOVED_THEN_FREE_REFUSED]));
}

START_TEST(free_races_realloc)
{
	free_realloc_race(NULL, false);
}
END_TEST

START_TEST(free_races_realloc_that_moves)
{
	free_realloc_race("realloc_move=1", true);
}
END_TEST

/* ==== 3. stale frees race the block's reallocation ==== */

#define STALE_RING 16

/* The reports of this thread's calls (the hook runs on the calling
 * thread): how many, and the last one. */
static _Thread_local long reports_on_this_thread;
static _Thread_local struct recorded last_report_here;

static bool count_and_take_report(const area_malloc_report *report, void *cookie)
{
	reports_on_this_thread++;
	snprintf(last_report_here.kind, sizeof(last_report_here.kind), "%s", report->kind);
	last_report_here.address = report->address;
	last_report_here.detected_by = report->detected_by;
	snprintf(last_report_here.text, sizeof(last_report_here.text), "%s",
		report->text != NULL ? report->text : "");
	return take_report(report, cookie);
}

struct stale {
	struct race race;
	void *_Atomic ring[STALE_RING];
	atomic_long published;
	atomic_bool done;
	/* thread 0: its frees refused (its block taken by a stale free);
	 * thread 1: its stale frees, refused and not */
	long owner_refused;
	long iterations;
	atomic_long stale_frees;
	long stale_refused;
};

/* Whether this thread's last call on block (since before reports) was
 * refused; notes anything but exactly one report of kind (or other_kind)
 * at block made by this thread. */
static bool refused_here(long before, const char *kind, const char *other_kind, const void *block,
	long iteration)
{
	long made = reports_on_this_thread - before;
	const struct recorded *report = &last_report_here;

	if (made == 0)
		return false;
	if (made != 1 || report->address != block || report->detected_by.thread != gettid()
		|| (strcmp(report->kind, kind) != 0
			&& (other_kind == NULL || strcmp(report->kind, other_kind) != 0)))
		note_failure("iteration %ld: %ld report(s) for one call on %p, expected one %s%s%s "
			     "there; the last:\n%s",
			iteration, made, block, kind, other_kind ? " or " : "",
			other_kind ? other_kind : "", report->text);
	return true;
}

static void *stale_racer(struct race *race, int index)
{
	struct stale *stale = (struct stale *)race;

	meet(&race->line);
	if (index == 0) {
		/* on until the stale frees are done (race->rounds of them: each
		 * refused one is a report, far slower than a malloc and free) */
		long iteration = 0;
		for (; !atomic_load(&stale->done); iteration++) {
			long before_malloc = reports_on_this_thread;
			void *block = am->malloc(race->pool, race->size);
			/* a malloc is never refused, and its checks of the free
			 * memory it takes find only what the module wrote there */
			if (reports_on_this_thread != before_malloc)
				note_failure(
					"iteration %ld: malloc made %ld report(s); the last:\n%s",
					iteration, reports_on_this_thread - before_malloc,
					last_report_here.text);
			if (block == NULL) {
				note_failure("iteration %ld: malloc(%zu) failed", iteration,
					race->size);
				break;
			}
			long before = reports_on_this_thread;
			am->free(race->pool, block);
			/* refused only if a stale free took the block first */
			if (refused_here(before, "double-free", NULL, block, iteration))
				stale->owner_refused++;
			atomic_store(&stale->ring[iteration % STALE_RING], block);
			atomic_fetch_add(&stale->published, 1);
			/* the stale frees get their turn on a shared CPU */
			if (iteration % 4 == 3)
				sched_yield();
		}
		stale->iterations = iteration;
		return NULL;
	}
	for (long pick = 0; pick < race->rounds; pick++) {
		long published = atomic_load(&stale->published);
		if (published == 0) {
			sched_yield();
			pick--; /* not a pick yet */
			continue;
		}
		/* the newest incarnations most often: their address is the
		 * likeliest to be live again */
		long back = pick % 4 == 3 ? pick / 4 % STALE_RING : 0;
		if (back >= published)
			back = 0;
		void *block = atomic_load(&stale->ring[(published - 1 - back) % STALE_RING]);
		long before = reports_on_this_thread;
		am->free(race->pool, block);
		atomic_fetch_add(&stale->stale_frees, 1);
		/* a block that has left the quarantine and whose free the log
		 * no longer holds is an invalid free */
		if (refused_here(before, "double-free", "invalid-free", block, pick))
			stale->stale_refused++;
		if (pick % 8 == 7)
			sched_yield();
	}
	atomic_store(&stale->done, true);
	return NULL;
}

static void stale_free_race(const char *options, size_t size)
{
	struct stale stale = {
		.race = { .rounds = rounds(150), .run = stale_racer, .size = size }
	};

	run_race(&stale.race, options, count_and_take_report);
	/* the reports were told apart above, on their threads */
	recorded_count = 0;
	ck_assert_int_eq(stale.stale_frees, stale.race.rounds);
	/* every stale free is one report: its own refusal, or (when it took
	 * the owner's live block at that address) the owner's refused free */
	ck_assert_int_eq(stale.stale_frees - stale.stale_refused, stale.owner_refused);
	ck_assert_uint_eq(pool_stats(stale.race.pool).allocations, (uint64_t)stale.iterations);
	assert_pool_clean_after(stale.race.pool, (uint64_t)stale.stale_frees);
}

/*
 * With and without the fill of a new block's start (max_malloc_fill_size,
 * 4096 bytes by default). A malloc fills its block after it releases the
 * pool's lock; it claims the block for that fill, so a stale free in the
 * window is refused (a double free) rather than taking the block and
 * turning the fill into a write into freed memory, which the next malloc
 * there once reported as the driver's use after free (the racer's malloc
 * asserts no report, and the accounting counts each stale free once).
 */
static const char *const stale_options[] = {
	/* the address is live again at once, most of the time */
	"quarantine_bytes=0:max_malloc_fill_size=0",
	/* a stale pointer is in the quarantine, or live again after it */
	"quarantine_bytes=8192:max_malloc_fill_size=0",
	/* the same two with a fill: the default 4096 bytes, and every byte */
	"quarantine_bytes=0",
	"quarantine_bytes=8192:max_malloc_fill_size=1m",
};
#define STALE_OPTION_COUNT (sizeof(stale_options) / sizeof(stale_options[0]))

/* _i: the options' index times SIZE_COUNT plus the block size's index */
START_TEST(stale_frees)
{
	stale_free_race(stale_options[(size_t)_i / SIZE_COUNT],
		block_sizes[(size_t)_i % SIZE_COUNT]);
}
END_TEST

/*
 * The window itself, held open: a 48 MiB block whose fill (48 MiB, every
 * page a first touch) takes milliseconds. Its earlier incarnation's
 * pointer is freed by a second thread once the fill has begun (its first
 * byte is the fill's); a free that reaches the pool's lock before the fill
 * ends must be refused, as a double free at the block by that thread,
 * saying the block was just given to another thread's malloc; the owner's
 * free is then legitimate. Not under a sanitizer or Valgrind, where the fill is
 * made under the lock (the shadow must say the bytes are undefined) and
 * the watching thread's reads would be reports of their own. A slow
 * machine may end a fill before the free takes the lock: the free then
 * takes the live block (the theft of stale_frees), and the test tries
 * again on a new pool, up to FILL_ATTEMPTS times.
 */
#define FILL_BLOCK ((size_t)48 << 20)
#define FILL_ATTEMPTS 8

struct fill_watch {
	const void *pool;
	unsigned char *block;
	pid_t thread;
	/* the free waits for the malloc to return: a watching thread that a
	 * loaded machine kept off the CPU until the fill had ended */
	bool late;
	atomic_bool returned; /* the malloc returned */
	atomic_bool give_up;  /* the malloc did not return the block */
};

static void *free_during_fill(void *argument)
{
	struct fill_watch *watch = argument;
	const unsigned char *first = watch->block;

	watch->thread = gettid();
	while (__atomic_load_n(first, __ATOMIC_RELAXED) != 0xcc)
		if (atomic_load(&watch->give_up))
			return NULL;
	while (watch->late && !atomic_load(&watch->returned))
		sched_yield();
	am->free(watch->pool, watch->block);
	return NULL;
}

/* Whether a thread can watch a fill after the lock: not under a sanitizer
 * or Valgrind (see above). */
static bool fill_watchable(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#endif
	return !RUNNING_ON_VALGRIND;
}

/* One try, on a new pool of the open module: true when the stale free
 * came during the fill and was refused (the pool then checked clean and
 * deleted, the module closed), false when it missed the window (the pool
 * deleted, the module still open). late: see struct fill_watch. */
static bool stale_free_fill_attempt(bool late)
{
	struct fill_watch watch = { .late = late };
	pthread_t watcher;

	watch.pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 2 * FILL_BLOCK, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(watch.pool);
	/* the earlier incarnation: its pointer is the stale one */
	watch.block = am->malloc(watch.pool, FILL_BLOCK);
	ck_assert_ptr_nonnull(watch.block);
	am->free(watch.pool, watch.block);
	ck_assert_uint_ne(watch.block[0], 0xcc);
	ck_assert_int_eq(pthread_create(&watcher, NULL, free_during_fill, &watch), 0);
	unsigned char *again = am->malloc(watch.pool, FILL_BLOCK);
	atomic_store(&watch.returned, true);
	if (again != watch.block)
		atomic_store(&watch.give_up, true);
	ck_assert_int_eq(pthread_join(watcher, NULL), 0);
	ck_assert_ptr_eq(again, watch.block);
	/* Told by the free's report, not by the block's bytes: a free that
	 * took the block poisoned them (or gave their pages back), so the
	 * fill's last byte is gone whether or not the fill had ended. */
	if (reports_so_far() == 0) {
		/* missed: the fill had ended and its claim with it; the
		 * stale free took the live block, and the owner's free is
		 * refused */
		am->free(watch.pool, again);
		ck_assert_int_eq(recorded_count, 1);
		ck_assert_str_eq(recorded[0].kind, "double-free");
		recorded_count = 0;
		ck_assert_int_eq(am->delete_pool(watch.pool), B_OK);
		return false;
	}
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "double-free");
	ck_assert_ptr_eq(recorded[0].address, again);
	ck_assert_int_eq(recorded[0].detected_by.thread, watch.thread);
	ck_assert_msg(strstr(recorded[0].text, "another thread's malloc has just been given")
			!= NULL,
		"%s", recorded[0].text);
	/* the history of the earlier incarnation, from the pool log */
	ck_assert_msg(strstr(recorded[0].text, "last events of this block in the pool log") != NULL,
		"%s", recorded[0].text);
	recorded_count = 0;
	/* the fill ran to its end, and the block is its owner's */
	ck_assert_uint_eq(again[FILL_BLOCK / 2], 0xcc);
	ck_assert_uint_eq(again[FILL_BLOCK - 1], 0xcc);
	am->free(watch.pool, again);
	assert_pool_clean_after(watch.pool, 1);
	return true;
}

START_TEST(stale_free_during_fill_is_refused)
{
	if (!fill_watchable())
		return;
	open_module("quarantine_bytes=0:max_malloc_fill_size=64m");
	for (int attempt = 0; attempt < FILL_ATTEMPTS; attempt++)
		if (stale_free_fill_attempt(false))
			return;
	ck_abort_msg("in %d attempts, no free came while a 48 MiB fill was running", FILL_ATTEMPTS);
}
END_TEST

/*
 * The miss that test retries, made certain: the stale free comes only
 * once the malloc has returned (its thread kept off the CPU for the whole
 * fill, as a loaded machine may), takes the live block, and the owner's
 * free is refused. An attempt must count it as a miss, not fail on it:
 * the free has poisoned (or given back) the block's bytes, so its last
 * byte no longer holds the fill even though the fill had ended.
 */
START_TEST(stale_free_after_fill_is_a_miss)
{
	if (!fill_watchable())
		return;
	open_module("quarantine_bytes=0:max_malloc_fill_size=64m");
	ck_assert_msg(!stale_free_fill_attempt(true),
		"a free made after the malloc returned counted as one refused during its fill");
	assert_reports(0);
	debug_module_close();
}
END_TEST

static Suite *concurrent_misuse_suite(void)
{
	Suite *suite = suite_create("concurrent_misuse");
	TCase *double_free = tcase_create("double_free");
	TCase *free_realloc = tcase_create("free_realloc");
	TCase *stale = tcase_create("stale");
	TCase *fill = tcase_create("fill");

	tcase_add_test(double_free, double_free_at_once_quarantined);
	tcase_add_test(double_free, double_free_at_once_without_quarantine);
	tcase_add_test(free_realloc, free_races_realloc);
	tcase_add_test(free_realloc, free_races_realloc_that_moves);
	tcase_add_loop_test(stale, stale_frees, 0, (int)(STALE_OPTION_COUNT * SIZE_COUNT));
	tcase_add_test(fill, stale_free_during_fill_is_refused);
	tcase_add_test(fill, stale_free_after_fill_is_a_miss);
	for (TCase **tcase = (TCase *[]){ double_free, free_realloc, stale, fill, NULL }; *tcase;
		tcase++) {
		tcase_set_timeout(*tcase, 60);
		suite_add_tcase(suite, *tcase);
	}
	return suite;
}

int main(void)
{
	return run_check_suite(concurrent_misuse_suite(), CK_FORK);
}
