/*
 * test_heap_damage.c - Check suite: the checked heap (HEAP_CHECKED=1, the
 * debug build's copy of src/core/heap.c) survives damaged metadata.
 *
 * A driver's overflow or underflow may write any bytes near a block, chunk
 * tags and free-list links included. For block sizes around the size-class
 * and layout boundaries, with the neighbour above live, free, or free and
 * merged with the next one, each case writes (1) one byte at each offset of
 * the neighbourhood (the next chunk's header and links and a little more),
 * (2) contiguous runs of every length from the block's end outwards, and
 * (3) contiguous runs from the block's start backwards, each with several
 * patterns (zeros, 0xff, a pointer-like value into the heap, a copy of a
 * sound chunk header). Then, in a child process bounded by an alarm, it
 * frees every block it handed out, allocates until the heap is full, walks
 * and validates the heap. Every case must end in the child's normal exit
 * (no fault, no hang), with the memory around the region unwritten (guard
 * pages on both sides, canary bytes inside them), and with the damage never
 * silently absorbed: at the end either heap_validate() holds or the heap
 * says it is damaged (heap_damaged()), and a refused operation always says
 * so.
 *
 * Invariants: each case runs in its own child (fork), so a case can damage
 * its heap freely; the parent only counts outcomes.
 *
 * Locking: none; one thread per process.
 */
#include "config.h"

#include "core/heap.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/damage_pattern.h"
#include "support/scale.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if !HEAP_CHECKED
#error "test_heap_damage tests the checked heap: build it with -DHEAP_CHECKED=1"
#endif

#define PAGE 4096
#define REGION_BYTES (64 * 1024)
#define MARGIN_BYTES 64 /* canary bytes inside the region's ends */
#define MARGIN_FILL 0x5a
#define CASE_SECONDS 5
#define MAX_BLOCKS 4096

/* Block sizes around size-class and layout boundaries: the 32-byte minimum
 * chunk, 16-byte classes, the first logarithmic class at 512, and larger. */
static const size_t block_sizes[] = { 1, 16, 24, 100, 496, 504, 512, 1000, 4000 };
#define SIZE_COUNT (sizeof(block_sizes) / sizeof(block_sizes[0]))

enum neighbour_state {
	NEIGHBOUR_LIVE,
	NEIGHBOUR_FREE,
	NEIGHBOUR_FREE_MERGED, /* free, and merged with the chunk above it */
	NEIGHBOUR_STATES
};

/* damage_pattern.h's; PATTERN_POINTER an address inside the heap,
 * PATTERN_COPY a copy of a sound chunk header (16 bytes) */

enum damage_kind {
	DAMAGE_BYTE,      /* one byte at an offset past the block's end */
	DAMAGE_OVERFLOW,  /* a run of a length from the block's end */
	DAMAGE_UNDERFLOW, /* a run of a length back from the block's start */
};

struct layout {
	unsigned char *mapping; /* guard page, region, guard page */
	unsigned char *region;
	struct heap *heap;
	void *blocks[8]; /* below, victim, neighbour, above, ... */
	bool live[8];
	size_t block_count;
	size_t victim_usable;
	unsigned char header_copy[16];
};

/* The region with a PROT_NONE page on each side and canary margins inside. */
static void build(struct layout *layout, size_t size, enum neighbour_state state)
{
	layout->mapping = mmap(NULL, REGION_BYTES + 2 * PAGE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(layout->mapping != MAP_FAILED);
	ck_assert_int_eq(mprotect(layout->mapping, PAGE, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(layout->mapping + PAGE + REGION_BYTES, PAGE, PROT_NONE), 0);
	layout->region = layout->mapping + PAGE;
	memset(layout->region, MARGIN_FILL, MARGIN_BYTES);
	memset(layout->region + REGION_BYTES - MARGIN_BYTES, MARGIN_FILL, MARGIN_BYTES);
	layout->heap = heap_init(layout->region + MARGIN_BYTES, REGION_BYTES - 2 * MARGIN_BYTES);
	ck_assert_ptr_nonnull(layout->heap);
	layout->block_count = 6;
	for (size_t i = 0; i < layout->block_count; i++) {
		layout->blocks[i] = heap_alloc(layout->heap, size);
		ck_assert_ptr_nonnull(layout->blocks[i]);
		memset(layout->blocks[i], 0x11 * (int)(i + 1), size);
		layout->live[i] = true;
	}
	/* blocks[1] is the victim that is written past, blocks[2] its neighbour */
	if (state != NEIGHBOUR_LIVE) {
		heap_free(layout->heap, layout->blocks[2]);
		layout->live[2] = false;
	}
	if (state == NEIGHBOUR_FREE_MERGED) {
		heap_free(layout->heap, layout->blocks[3]);
		layout->live[3] = false;
	}
	layout->victim_usable = heap_usable_size(layout->heap, layout->blocks[1]);
	/* a sound header: the one of blocks[4] */
	memcpy(layout->header_copy, (unsigned char *)layout->blocks[4] - 16, 16);
	ck_assert(heap_validate(layout->heap, NULL));
}

static unsigned char pattern_byte(const struct layout *layout, enum damage_pattern pattern,
	size_t index)
{
	return damage_pattern_byte(pattern, index, (uintptr_t)layout->blocks[5],
		layout->header_copy, sizeof(layout->header_copy));
}

/* Writes the damage; returns false when it would leave the region. */
static bool damage(struct layout *layout, enum damage_kind kind, enum damage_pattern pattern,
	size_t amount)
{
	unsigned char *end = (unsigned char *)layout->blocks[1] + layout->victim_usable;
	unsigned char *start = layout->blocks[1];
	unsigned char *heap_start = (unsigned char *)layout->heap;
	unsigned char *heap_end = layout->region + REGION_BYTES - MARGIN_BYTES;

	switch (kind) {
	case DAMAGE_BYTE:
		if (end + amount >= heap_end)
			return false;
		end[amount] = pattern_byte(layout, pattern, amount);
		return true;
	case DAMAGE_OVERFLOW:
		if (end + amount > heap_end)
			return false;
		for (size_t i = 0; i < amount; i++)
			end[i] = pattern_byte(layout, pattern, i);
		return true;
	case DAMAGE_UNDERFLOW:
		if (start - amount < heap_start)
			return false;
		for (size_t i = 1; i <= amount; i++)
			start[-(ptrdiff_t)i] = pattern_byte(layout, pattern, i);
		return true;
	}
	return false;
}

struct outcome {
	int refused;        /* operations that failed with the heap saying why */
	int silent_refusal; /* an operation failed while heap_damaged() said no */
	bool damaged;
	bool valid;
};

static void count_nothing(void *ptr, size_t usable, bool used, void *context)
{
	(void)ptr;
	(void)usable;
	(void)used;
	(*(size_t *)context)++;
}

/* What a driver does next: free every block it holds, allocate until the
 * heap is full, then the walk and the validator. */
static struct outcome exercise(struct layout *layout)
{
	struct outcome outcome = { 0, 0, false, false };
	struct heap *heap = layout->heap;
	static void *more[MAX_BLOCKS];
	struct heap_damage found;
	size_t count = 0;

	for (size_t i = 0; i < layout->block_count; i++) {
		if (!layout->live[i])
			continue;
		heap_free(heap, layout->blocks[i]);
		if (heap_damaged(heap, NULL))
			outcome.refused++;
	}
	for (size_t i = 0; count < MAX_BLOCKS; i++) {
		void *block = heap_alloc(heap, block_sizes[i % SIZE_COUNT]);
		if (block == NULL) {
			/* out of room is fine; a refusal must say so */
			if (block_sizes[i % SIZE_COUNT] == 1)
				break;
			continue;
		}
		memset(block, 0x77, block_sizes[i % SIZE_COUNT]);
		more[count++] = block;
	}
	for (size_t i = 0; i < count; i++)
		heap_free(heap, more[i]);
	heap_walk(heap, count_nothing, &count, &found);
	outcome.damaged = heap_damaged(heap, &found);
	outcome.valid = heap_validate(heap, NULL);
	return outcome;
}

/* Exit codes of a case's child. */
enum {
	CASE_CLEAN = 0,    /* the damage was harmless or repaired by the heap's use */
	CASE_REPORTED = 1, /* the heap found and refused the damage */
	CASE_ABSORBED = 2, /* the heap is invalid and says nothing: a failure */
	CASE_MARGIN = 3,   /* memory outside the heap's region was written */
	CASE_NOT_RUN = 4,  /* the damage would not fit the region */
};

static int run_case_child(size_t size, enum neighbour_state state, enum damage_kind kind,
	enum damage_pattern pattern, size_t amount)
{
	struct layout layout;
	struct outcome outcome;
	size_t walked = 0;

	test_alarm(CASE_SECONDS);
	build(&layout, size, state);
	if (!damage(&layout, kind, pattern, amount))
		return CASE_NOT_RUN;
	heap_walk(layout.heap, count_nothing, &walked, NULL);
	outcome = exercise(&layout);
	for (size_t i = 0; i < MARGIN_BYTES; i++) {
		if (layout.region[i] != MARGIN_FILL
			|| layout.region[REGION_BYTES - MARGIN_BYTES + i] != MARGIN_FILL)
			return CASE_MARGIN;
	}
	if (outcome.damaged)
		return CASE_REPORTED;
	return outcome.valid ? CASE_CLEAN : CASE_ABSORBED;
}

struct tally {
	int clean, reported, not_run;
};

static void run_case(struct tally *tally, size_t size, enum neighbour_state state,
	enum damage_kind kind, enum damage_pattern pattern, size_t amount)
{
	int status;
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(run_case_child(size, state, kind, pattern, amount));
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(!WIFSIGNALED(status),
		"size %zu, neighbour state %d, damage %d, pattern %d, amount %zu: the heap died of "
		"signal %d%s",
		size, (int)state, (int)kind, (int)pattern, amount, WTERMSIG(status),
		WTERMSIG(status) == SIGALRM ? " (a hang)" : "");
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) != CASE_ABSORBED,
		"size %zu, neighbour state %d, damage %d, pattern %d, amount %zu: the heap is "
		"invalid and does not say it is damaged",
		size, (int)state, (int)kind, (int)pattern, amount);
	ck_assert_msg(WEXITSTATUS(status) != CASE_MARGIN,
		"size %zu, neighbour state %d, damage %d, pattern %d, amount %zu: memory outside "
		"the heap was written",
		size, (int)state, (int)kind, (int)pattern, amount);
	switch (WEXITSTATUS(status)) {
	case CASE_CLEAN:
		tally->clean++;
		break;
	case CASE_REPORTED:
		tally->reported++;
		break;
	case CASE_NOT_RUN:
		tally->not_run++;
		break;
	default:
		ck_abort_msg("unexpected case status %d", WEXITSTATUS(status));
	}
}

/* Bytes past the block's end the sweeps reach: the next chunk's header
 * (16) and links (16), and a little of what follows. */
#define SWEEP_BYTES 48

static void sweep(enum damage_kind kind, size_t size_index)
{
	struct tally tally = { 0, 0, 0 };
	size_t size = block_sizes[size_index];
	/* every amount normally; every fifth at reduced scale (Valgrind) */
	long stride = test_scale() < 1.0 ? 5 : 1;

	for (int state = 0; state < NEIGHBOUR_STATES; state++) {
		for (int pattern = 0; pattern < PATTERNS; pattern++) {
			if (kind == DAMAGE_BYTE && pattern == PATTERN_COPY)
				continue; /* one byte of a header is one of the other patterns */
			for (size_t amount = kind == DAMAGE_BYTE ? 0 : 1; amount <= SWEEP_BYTES;
				amount += (size_t)stride)
				run_case(&tally, size, (enum neighbour_state)state,
					(enum damage_kind)kind, (enum damage_pattern)pattern,
					amount);
		}
	}
	/* the sweeps reach metadata: some cases must have been caught */
	ck_assert_int_gt(tally.reported, 0);
	printf("heap damage, kind %d, %zu-byte blocks: %d caught, %d harmless, %d not run\n",
		(int)kind, size, tally.reported, tally.clean, tally.not_run);
}

START_TEST(one_byte_past_the_end)
{
	sweep(DAMAGE_BYTE, (size_t)_i);
}
END_TEST

START_TEST(runs_past_the_end)
{
	sweep(DAMAGE_OVERFLOW, (size_t)_i);
}
END_TEST

START_TEST(runs_before_the_start)
{
	sweep(DAMAGE_UNDERFLOW, (size_t)_i);
}
END_TEST

/* The cases the issue names, one by one, with the exact answer. */

/* A chunk size of 0 once made a walk loop forever. */
START_TEST(zero_size_tag_ends_the_walk)
{
	struct layout layout;
	struct heap_damage found = { 0, 0, NULL, 0, 0 };
	size_t walked = 0;
	unsigned char *next_header;

	build(&layout, 100, NEIGHBOUR_LIVE);
	next_header = (unsigned char *)layout.blocks[2] - 16;
	memset(next_header + 8, 0, 8); /* the neighbour's size tag */
	ck_assert(!heap_walk(layout.heap, count_nothing, &walked, &found));
	ck_assert_uint_eq(walked, 2); /* the two blocks below the damage */
	ck_assert_uint_eq(found.at, (uintptr_t)next_header + 8);
	ck_assert_uint_eq(found.end, (uintptr_t)next_header + 16);
	ck_assert_uint_eq(found.below, (uintptr_t)layout.blocks[1]);
	ck_assert_ptr_nonnull(found.why);
	/* freeing the victim would merge into the damage: refused */
	heap_free(layout.heap, layout.blocks[1]);
	ck_assert(heap_damaged(layout.heap, &found));
	ck_assert_uint_eq(found.below, (uintptr_t)layout.blocks[1]);
	ck_assert_ptr_null(heap_alloc(layout.heap, 16));
}
END_TEST

/* One byte of a chunk's prev_size once made delete_pool fault in heap_free. */
START_TEST(prev_size_byte_refuses_the_free)
{
	struct layout layout;
	struct heap_damage found = { 0, 0, NULL, 0, 0 };
	struct heap_stats before, after;

	build(&layout, 100, NEIGHBOUR_LIVE);
	heap_get_stats(layout.heap, &before);
	((unsigned char *)layout.blocks[2])[-16 + 4] ^= 0x40; /* its prev_size */
	heap_free(layout.heap, layout.blocks[2]);
	ck_assert(heap_damaged(layout.heap, &found));
	ck_assert_uint_eq(found.at, (uintptr_t)layout.blocks[2] - 16);
	heap_get_stats(layout.heap, &after);
	ck_assert_uint_eq(after.used_blocks, before.used_blocks); /* nothing changed */
	/* once repaired, the heap takes changes again */
	((unsigned char *)layout.blocks[2])[-16 + 4] ^= 0x40;
	ck_assert(heap_clear_damage(layout.heap));
	heap_free(layout.heap, layout.blocks[2]);
	ck_assert(!heap_damaged(layout.heap, NULL));
	ck_assert(heap_validate(layout.heap, NULL));
}
END_TEST

/* A free chunk's links overwritten: the allocation that would follow them
 * is refused, and a double free of a free chunk too. */
START_TEST(damaged_links_refuse_the_allocation)
{
	struct layout layout;
	void **links;

	build(&layout, 100, NEIGHBOUR_FREE);
	links = layout.blocks[2];
	links[0] = (void *)0x4141414141414140ull;
	ck_assert_ptr_null(heap_alloc(layout.heap, 100));
	ck_assert(heap_damaged(layout.heap, NULL));
	build(&layout, 100, NEIGHBOUR_FREE);
	heap_free(layout.heap, layout.blocks[2]); /* already free */
	ck_assert(heap_damaged(layout.heap, NULL));
	ck_assert(heap_validate(layout.heap, NULL)); /* nothing was changed */
}
END_TEST

static Suite *heap_damage_suite(void)
{
	Suite *suite = suite_create("heap damage");
	TCase *sweeps = tcase_create("sweeps");
	TCase *cases = tcase_create("cases");

	tcase_set_timeout(sweeps, 600);
	tcase_add_loop_test(sweeps, one_byte_past_the_end, 0, (int)SIZE_COUNT);
	tcase_add_loop_test(sweeps, runs_past_the_end, 0, (int)SIZE_COUNT);
	tcase_add_loop_test(sweeps, runs_before_the_start, 0, (int)SIZE_COUNT);
	suite_add_tcase(suite, sweeps);
	tcase_add_test(cases, zero_size_tag_ends_the_walk);
	tcase_add_test(cases, prev_size_byte_refuses_the_free);
	tcase_add_test(cases, damaged_links_refuse_the_allocation);
	suite_add_tcase(suite, cases);
	return suite;
}

int main(void)
{
	return run_check_suite(heap_damage_suite(), CK_FORK_GETENV);
}
