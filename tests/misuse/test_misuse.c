/*
 * test_misuse.c - Check suite: misuse never damages other data.
 *
 * A world of five pools (every lock specification, several address
 * specifications and sizes) holds many live blocks of sizes from 0 to 10000
 * bytes, each filled with its own byte pattern, with freed blocks between
 * them (in the debug build, some still in quarantine). Then one kind of
 * misuse is committed, three times over on fresh victims: double free,
 * cross-pool free and realloc, interior, wild, stack and heap pointers,
 * pointers into a pool's own or another pool's control pages, overflow
 * within the trailing canary, underflow within the leading canary, writes
 * into a freed block while it is in quarantine, realloc of freed and
 * foreign blocks, invalid, garbage and stale pool ids (also one whose slot
 * a new pool took), delete_pool twice, calloc overflow.
 *
 * After each one: the faulty call returned exactly what it must (NULL,
 * B_ERROR) and was refused (or, for canary damage, went through after the
 * report); the debug module reported exactly the expected kinds, addresses,
 * sizes and pools through the companion's report hook, and the release
 * module printed exactly its one dprintf line (for what it detects cheaply:
 * see src/modules/release/area_malloc_module.c); every other block in every pool
 * holds every byte; every pool validates (check_pool and the "check"
 * debugger command) with live blocks, bytes and error counters exactly as
 * the world accounts them; and afterwards every pool still allocates,
 * reallocates and frees, and is deleted without a leak report.
 *
 * Locking: none; one thread.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "support/debug_command.h"
#include "support/check_main.h"
#include "support/debug_options.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define KIB ((size_t)1024)
#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))
#define REPETITIONS 3

/* ==== reports (debug build) ==== */

#define MAX_RECORDED 256

struct recorded {
	char kind[48];
	const void *address;
	size_t size;
	const void *pool_id;
	const void *owner_pool_id;
	size_t overflow_bytes;
};

static struct recorded recorded[MAX_RECORDED];
static int recorded_count;

static bool take_report(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	if (recorded_count < MAX_RECORDED) {
		struct recorded *copy = &recorded[recorded_count];
		snprintf(copy->kind, sizeof(copy->kind), "%s", report->kind);
		copy->address = report->address;
		copy->size = report->size;
		copy->pool_id = report->pool_id;
		copy->owner_pool_id = report->owner_pool_id;
		copy->overflow_bytes = report->overflow_bytes;
	}
	recorded_count++;
	return true;
}

/* What one report must say; owner NULL: no owner pool. */
struct expected {
	const char *kind;
	const void *address;
	size_t size;
	const void *pool_id;
	const void *owner_pool_id;
	size_t overflow_bytes;
};

static void assert_report(int index, const struct expected *expected)
{
	const struct recorded *report;

	ck_assert_int_lt(index, recorded_count);
	report = &recorded[index];
	ck_assert_msg(strcmp(report->kind, expected->kind) == 0, "report %d: %s, expected %s",
		index, report->kind, expected->kind);
	ck_assert_ptr_eq(report->address, expected->address);
	ck_assert_uint_eq(report->size, expected->size);
	ck_assert_ptr_eq(report->pool_id, expected->pool_id);
	ck_assert_ptr_eq(report->owner_pool_id, expected->owner_pool_id);
	ck_assert_uint_eq(report->overflow_bytes, expected->overflow_bytes);
}

/* ==== standard error (release build's dprintf lines) ==== */

static int saved_stderr = -1;
static FILE *captured;

static void capture_begin(void)
{
	captured = tmpfile();
	ck_assert_ptr_nonnull(captured);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fileno(captured), STDERR_FILENO), 0);
}

/* Restores standard error; returns what was written (static buffer). */
static const char *capture_end(void)
{
	static char text[8192];
	size_t length;

	fflush(stderr);
	ck_assert_int_ge(dup2(saved_stderr, STDERR_FILENO), 0);
	close(saved_stderr);
	rewind(captured);
	length = fread(text, 1, sizeof(text) - 1, captured);
	text[length] = '\0';
	fclose(captured);
	return text;
}

/* ==== the module ==== */

enum build { BUILD_RELEASE, BUILD_DEBUG };

static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd; /* NULL with the release module */

static void load(enum build build, const char *options)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char path[PATH_MAX];

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run `make check`)");
	snprintf(path, sizeof(path), "%s/modules/%s", dir,
		build == BUILD_RELEASE ? "release" : "debug");
	ck_assert_int_eq(setenv("KERNEL_MODULE_PATH", path, 1), 0);
	/* node=0: never publish into the real /dev/shm */
	snprintf(path, sizeof(path), "node=0%s%s", options != NULL ? ":" : "",
		options != NULL ? options : "");
	ck_assert_int_eq(set_debug_options(path), 0);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am), B_OK);
	amd = NULL;
	if (build == BUILD_DEBUG) {
		ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd),
			B_OK);
		amd->set_report_hook(take_report, NULL);
	}
	recorded_count = 0;
}

static void unload(void)
{
	if (amd != NULL) {
		/* the hook took every report: none counts for the exit status */
		ck_assert_uint_eq(amd->error_count(), 0);
		ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	}
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}

/* ==== bytes ==== */

static unsigned char pattern_byte(unsigned seed, size_t i)
{
	return (unsigned char)(seed * 151u + i * 13u + (i >> 7) + 1u);
}

static void fill(void *block, size_t size, unsigned seed)
{
	for (size_t i = 0; i < size; i++)
		((unsigned char *)block)[i] = pattern_byte(seed, i);
}

/* The first byte that differs from the pattern, or size. */
static size_t first_changed(const void *block, size_t size, unsigned seed)
{
	for (size_t i = 0; i < size; i++)
		if (((const unsigned char *)block)[i] != pattern_byte(seed, i))
			return i;
	return size;
}

/* Writes where a buggy driver would (canaries, freed blocks): as an
 * uninstrumented driver does, whatever AddressSanitizer thinks of it. */
static __attribute__((noinline, no_sanitize("address"))) void poke(void *block, long offset,
	const char *bytes, size_t length)
{
	volatile unsigned char *at = (unsigned char *)block + offset;

	for (size_t i = 0; i < length; i++)
		at[i] = (unsigned char)bytes[i];
}

/* ==== the world ==== */

#define WORLD_POOLS 5
#define MAX_WORLD_BLOCKS 96

static const struct {
	uint32 address_spec;
	size_t size;
	uint32 lock_spec;
} pool_specs[WORLD_POOLS] = {
	{ B_ANY_KERNEL_ADDRESS, 1024 * KIB, B_NO_LOCK },
	{ B_ANY_ADDRESS, 256 * KIB, B_LAZY_LOCK },
	{ B_ANY_KERNEL_BLOCK_ADDRESS, 512 * KIB, B_FULL_LOCK },
	{ B_BASE_ADDRESS, 128 * KIB, B_CONTIGUOUS },
	{ B_RANDOMIZED_ANY_ADDRESS, 96 * KIB, B_NO_LOCK },
};

static const size_t block_sizes[] = { 0, 1, 7, 15, 16, 17, 24, 31, 48, 63, 64, 100, 255, 256, 1000,
	4095, 4096, 10000 };

struct world_block {
	unsigned char *address;
	size_t size;
	unsigned seed;
};

struct world_pool {
	const void *id;
	area_id area;
	void *base;
	struct world_block blocks[MAX_WORLD_BLOCKS];
	int block_count;
	uint64_t reports; /* reports about this pool so far (debug) */
};

static struct {
	enum build build;
	struct world_pool pools[WORLD_POOLS];
	unsigned next_seed;
} world;

static area_id area_of(const void *block)
{
	return area_for((void *)block);
}

/* Fills the pools: two rounds of every size, then frees every third block
 * (freed memory between live blocks, and a quarantine that holds some). */
static void world_start(enum build build, const char *options)
{
	memset(&world, 0, sizeof(world));
	world.build = build;
	world.next_seed = 1;
	load(build, options);
	for (int p = 0; p < WORLD_POOLS; p++) {
		struct world_pool *pool = &world.pools[p];
		area_info info;
		pool->id = am->create_pool(pool_specs[p].address_spec, pool_specs[p].size,
			pool_specs[p].lock_spec, KERNEL_RW);
		ck_assert_ptr_nonnull(pool->id);
		for (int round = 0; round < 2; round++) {
			for (size_t s = 0; s < COUNT_OF(block_sizes); s++) {
				struct world_block *block = &pool->blocks[pool->block_count++];
				block->size = block_sizes[s];
				block->seed = world.next_seed++;
				block->address = am->malloc(pool->id, block->size);
				ck_assert_ptr_nonnull(block->address);
				fill(block->address, block->size, block->seed);
			}
		}
		pool->area = area_of(pool->blocks[0].address);
		ck_assert_int_gt(pool->area, 0);
		ck_assert_int_eq(get_area_info(pool->area, &info), B_OK);
		pool->base = info.address;
		for (int b = pool->block_count - 1; b >= 0; b -= 3) {
			am->free(pool->id, pool->blocks[b].address);
			pool->blocks[b] = pool->blocks[--pool->block_count];
		}
	}
}

static struct world_pool *pool_at(int p)
{
	return &world.pools[p];
}

/* A block for the misuse, outside the world's accounting until adopted. */
static unsigned char *new_victim(int p, size_t size, unsigned *seed)
{
	unsigned char *block = am->malloc(pool_at(p)->id, size);

	ck_assert_ptr_nonnull(block);
	*seed = world.next_seed++;
	fill(block, size, *seed);
	return block;
}

/* Counts a report about pool p (an error counter the pool must show). */
static void count_report(int p)
{
	pool_at(p)->reports++;
}

struct pool_numbers {
	size_t live_blocks;
	size_t used;     /* debug: requested bytes; release: heap bytes */
	uint64_t errors; /* debug only */
	uint64_t failed;
};

/* What a debugger command printed (free it). Not inlined: GCC takes the
 * memstream's buffer for a local of run_debug_command once it is. */
static __attribute__((noinline)) char *command_output(const char *command, int *result)
{
	char *output;

	*result = run_debug_command(command, &output);
	return output;
}

static struct pool_numbers numbers_of(const struct world_pool *pool)
{
	struct pool_numbers numbers = { 0, 0, 0, 0 };

	if (amd != NULL) {
		area_malloc_pool_stats stats;
		ck_assert_int_eq(amd->get_pool_stats(pool->id, &stats), B_OK);
		numbers.live_blocks = stats.live_blocks;
		numbers.used = stats.used;
		numbers.errors = stats.errors;
		numbers.failed = stats.failed_requests;
	} else {
		char command[32], *output, *at;
		unsigned long long failed;
		int result;
		snprintf(command, sizeof(command), "pool %d", (int)pool->area);
		output = command_output(command, &result);
		ck_assert_int_eq(result, 0);
		at = strstr(output, "; used: ");
		ck_assert_msg(at != NULL, "%s said: %s", command, output);
		ck_assert_int_eq(sscanf(at, "; used: %zu", &numbers.used), 1);
		ck_assert_int_eq(sscanf(strstr(output, "; blocks: "), "; blocks: %zu",
					 &numbers.live_blocks),
			1);
		ck_assert_int_eq(sscanf(strstr(output, "; failed: "), "; failed: %llu", &failed),
			1);
		numbers.failed = failed;
		free(output);
	}
	return numbers;
}

/* Every world block holds its bytes; every pool validates, alone and all
 * together, and counts exactly the world's live blocks (and, in the debug
 * build, their bytes and the reports about it). */
static void world_assert_sound(void)
{
	char *output, expected[64];
	int reports = recorded_count, result;

	for (int p = 0; p < WORLD_POOLS; p++) {
		struct world_pool *pool = pool_at(p);
		struct pool_numbers numbers = numbers_of(pool);
		size_t used = 0;
		for (int b = 0; b < pool->block_count; b++) {
			const struct world_block *block = &pool->blocks[b];
			size_t changed = first_changed(block->address, block->size, block->seed);
			ck_assert_msg(changed == block->size,
				"pool %d: byte %zu of the %zu-byte block %p changed", p, changed,
				block->size, (void *)block->address);
			used += block->size;
		}
		ck_assert_uint_eq(numbers.live_blocks, (size_t)pool->block_count);
		if (amd != NULL) {
			ck_assert_uint_eq(numbers.used, used);
			ck_assert_uint_eq(numbers.errors, pool->reports);
			ck_assert_int_eq(amd->check_pool(pool->id), 0);
		}
	}
	output = command_output("check", &result);
	ck_assert_int_eq(result, 0);
	snprintf(expected, sizeof(expected),
		amd != NULL ? "%d pool(s) checked, 0 problem(s)\n"
			    : "%d pool(s) checked, 0 damaged\n",
		WORLD_POOLS);
	ck_assert_msg(strstr(output, expected) != NULL, "check said: %s", output);
	free(output);
	ck_assert_int_eq(recorded_count, reports);
}

/* The pools go on working: fresh blocks of every size in every pool, every
 * world block grown and shrunk (or, where a pool is too full to grow it,
 * left whole), everything freed, every pool deleted without a report. */
static void world_finish(void)
{
	int reports = recorded_count;

	for (int p = 0; p < WORLD_POOLS; p++) {
		struct world_pool *pool = pool_at(p);
		unsigned char *fresh[COUNT_OF(block_sizes)];
		for (size_t s = 0; s < COUNT_OF(block_sizes); s++) {
			fresh[s] = am->malloc(pool->id, block_sizes[s]);
			ck_assert_ptr_nonnull(fresh[s]);
			fill(fresh[s], block_sizes[s], 9000 + (unsigned)s);
		}
		for (int b = 0; b < pool->block_count; b++) {
			struct world_block *block = &pool->blocks[b];
			size_t grown = block->size + block->size / 2 + 1;
			unsigned char *moved;
			if (block->size == 0)
				continue; /* shrinking back to 0 would free it */
			moved = am->realloc(pool->id, block->address, grown);
			if (moved != NULL) {
				block->address = moved;
				fill(block->address + block->size, grown - block->size, 0);
				moved = am->realloc(pool->id, block->address, block->size);
				ck_assert_ptr_nonnull(moved);
				block->address = moved;
			}
			ck_assert_uint_eq(first_changed(block->address, block->size, block->seed),
				block->size);
		}
		for (size_t s = 0; s < COUNT_OF(block_sizes); s++) {
			ck_assert_uint_eq(first_changed(fresh[s], block_sizes[s],
						  9000 + (unsigned)s),
				block_sizes[s]);
			am->free(pool->id, fresh[s]);
		}
	}
	world_assert_sound();
	for (int p = 0; p < WORLD_POOLS; p++) {
		struct world_pool *pool = pool_at(p);
		for (int b = 0; b < pool->block_count; b++)
			am->free(pool->id, pool->blocks[b].address);
		pool->block_count = 0;
		ck_assert_uint_eq(numbers_of(pool).live_blocks, 0);
		ck_assert_int_eq(am->delete_pool(pool->id), B_OK);
	}
	ck_assert_int_eq(recorded_count, reports);
	unload();
}

/* ==== one misuse: its call, its exact outcome ==== */

/* The release module's line for a refused free or realloc. */
static void expect_release_line(const char *text, const char *call, const void *pool,
	const void *ptr, bool pool_is_live)
{
	char line[256];

	snprintf(line, sizeof(line), "area_malloc: %s(%p, %p): %s; ignored\n", call, pool, ptr,
		pool_is_live ? "not a live block of this pool" : "no such pool");
	ck_assert_msg(strstr(text, line) != NULL, "expected \"%s\" in:\n%s", line, text);
}

/* Runs one refused free(pool, ptr): the exact report (debug) or line
 * (release). size: the enclosing block's size as the report gives it. */
static void refused_free(int p, void *ptr, const char *kind, size_t size, int owner)
{
	const void *pool = pool_at(p)->id;
	int before = recorded_count;

	if (amd == NULL) {
		capture_begin();
		ck_assert_ptr_null(am->free(pool, ptr));
		expect_release_line(capture_end(), "free", pool, ptr, true);
		return;
	}
	ck_assert_ptr_null(am->free(pool, ptr));
	ck_assert_int_eq(recorded_count, before + 1);
	assert_report(before,
		&(struct expected){ kind, ptr, size, pool, owner >= 0 ? pool_at(owner)->id : NULL,
			0 });
	count_report(p);
}

/* The same for realloc(pool, ptr, size): NULL, and refused. */
static void refused_realloc(int p, void *ptr, size_t new_size, const char *kind, size_t size,
	int owner)
{
	const void *pool = pool_at(p)->id;
	int before = recorded_count;

	if (amd == NULL) {
		capture_begin();
		ck_assert_ptr_null(am->realloc(pool, ptr, new_size));
		expect_release_line(capture_end(), "realloc", pool, ptr, true);
		return;
	}
	ck_assert_ptr_null(am->realloc(pool, ptr, new_size));
	ck_assert_int_eq(recorded_count, before + 1);
	assert_report(before,
		&(struct expected){ kind, ptr, size, pool, owner >= 0 ? pool_at(owner)->id : NULL,
			0 });
	count_report(p);
}

static void assert_victim(const unsigned char *victim, size_t size, unsigned seed)
{
	ck_assert_uint_eq(first_changed(victim, size, seed), size);
}

/* ---- the misuses ---- */

static void double_free(int round)
{
	int p = round % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 100 + round, &seed);

	am->free(pool_at(p)->id, victim);
	refused_free(p, victim, "double-free", 100 + round, -1);
	/* the block's memory was not given twice */
	{
		unsigned char *a = am->malloc(pool_at(p)->id, 100 + round);
		unsigned char *b = am->malloc(pool_at(p)->id, 100 + round);
		ck_assert_ptr_ne(a, b);
		am->free(pool_at(p)->id, a);
		am->free(pool_at(p)->id, b);
	}
}

/* Without quarantine the freed chunk is free memory at once (debug only:
 * quarantine_bytes=0); the pool log still holds the free, so the second
 * free is a double free of the 300-byte block, and refused. */
static void double_free_without_quarantine(int round)
{
	int p = (round + 1) % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 300, &seed);

	am->free(pool_at(p)->id, victim);
	refused_free(p, victim, "double-free", 300, -1);
}

static void cross_pool_free(int round)
{
	int owner = round % WORLD_POOLS, p = (round + 2) % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(owner, 200, &seed);

	refused_free(p, victim, "cross-pool-free", 200, owner);
	refused_realloc(p, victim, 400, "cross-pool-free", 200, owner);
	assert_victim(victim, 200, seed);
	am->free(pool_at(owner)->id, victim);
}

static void interior_free(int round)
{
	static const long offsets[] = { 16, 1, 99, 64, -8 };
	int p = (round + 3) % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 100, &seed);

	for (size_t i = 0; i < COUNT_OF(offsets); i++)
		refused_free(p, victim + offsets[i], "invalid-free", 100, -1);
	refused_realloc(p, victim + 32, 10, "invalid-free", 100, -1);
	assert_victim(victim, 100, seed);
	am->free(pool_at(p)->id, victim);
}

static void interior_of_freed_block(int round)
{
	int p = (round + 4) % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 100, &seed);

	am->free(pool_at(p)->id, victim);
	/* a freed block's size is known while it waits in quarantine, not
	 * once its memory is free again (release: never) */
	refused_free(p, victim + 32, "invalid-free", 100, -1);
}

static void wild_free(int round)
{
	int p = round % WORLD_POOLS;
	char on_stack[64];
	char *on_heap = malloc(64);
	void *const wild[] = { on_stack, on_heap, (void *)(uintptr_t)0x1000,
		(void *)(UINTPTR_MAX & ~(uintptr_t)15), (char *)pool_at(p)->base + 64 };

	ck_assert_ptr_nonnull(on_heap);
	for (size_t i = 0; i < COUNT_OF(wild); i++)
		refused_free(p, wild[i], "invalid-free", 0, -1);
	refused_realloc(p, on_stack, 10, "invalid-free", 0, -1);
	refused_realloc(p, (char *)pool_at(p)->base + 128, 10, "invalid-free", 0, -1);
	free(on_heap);
}

/* Another pool's control pages belong to that pool's area: cross-pool. */
static void foreign_control_pages(int round)
{
	int p = round % WORLD_POOLS, owner = (round + 1) % WORLD_POOLS;

	refused_free(p, (char *)pool_at(owner)->base + 64, "cross-pool-free", 0, owner);
}

/* Damage within a canary: reported, and the free itself goes through. */
static void canary_damage_freed(int p, unsigned char *victim, size_t size, const char *kind,
	size_t overflow)
{
	int before = recorded_count;

	ck_assert_ptr_null(am->free(pool_at(p)->id, victim));
	ck_assert_int_eq(recorded_count, before + 1);
	assert_report(before,
		&(struct expected){ kind, victim, size, pool_at(p)->id, NULL, overflow });
	count_report(p);
}

static void overflow_within_canary(int round)
{
	int p = (round + 1) % WORLD_POOLS;
	unsigned seed;
	unsigned char *wide = new_victim(p, 100, &seed);
	unsigned char *tiny = new_victim(p, 1, &seed);

	/* the trailing canary is 8 bytes at least; a 1-byte block has 31 (its
	 * user area is the 32-byte minimum, room for a free record) */
	poke(wide, 100, "12345678", 8);
	poke(tiny, 1, "abcdefghijklmnopqrstuvwxyz0123", 30);
	canary_damage_freed(p, wide, 100, "heap-buffer-overflow", 8);
	canary_damage_freed(p, tiny, 1, "heap-buffer-overflow", 30);
}

static void underflow_within_canary(int round)
{
	int p = (round + 2) % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 64, &seed);

	poke(victim, -8, "87654321", 8);
	canary_damage_freed(p, victim, 64, "heap-buffer-underflow", 0);
}

/* A freed block written while in quarantine (beyond its 32-byte free
 * record): found by a check of its pool, and again when it leaves the
 * quarantine, after which the pool is clean. */
static void write_after_free_in_quarantine(int round)
{
	int p = 0; /* the largest pool: room to push the quarantine */
	unsigned seed;
	unsigned char *victim = new_victim(p, 200, &seed);
	int before = recorded_count;
	(void)round;

	am->free(pool_at(p)->id, victim);
	poke(victim, 100, "late", 4);
	ck_assert_int_eq(amd->check_pool(pool_at(p)->id), 1);
	ck_assert_int_eq(recorded_count, before + 1);
	assert_report(before,
		&(struct expected){ "use-after-free", victim, 200, pool_at(p)->id, NULL, 0 });
	count_report(p);
	for (int i = 0; i < 1000 && recorded_count == before + 1; i++) {
		void *push = am->malloc(pool_at(p)->id, 2000);
		ck_assert_ptr_nonnull(push);
		am->free(pool_at(p)->id, push);
	}
	ck_assert_int_eq(recorded_count, before + 2);
	assert_report(before + 1,
		&(struct expected){ "use-after-free", victim, 200, pool_at(p)->id, NULL, 0 });
	count_report(p);
}

static void realloc_of_freed_block(int round)
{
	int p = (round + 3) % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 500, &seed);

	am->free(pool_at(p)->id, victim);
	refused_realloc(p, victim, 1000, "double-free", 500, -1);
	refused_realloc(p, victim, 10, "double-free", 500, -1);
}

/* Every call with a pool id that names no live pool. */
static void invalid_pool_ids(int round)
{
	int p = round % WORLD_POOLS;
	unsigned seed;
	unsigned char *victim = new_victim(p, 100, &seed);
	const void *stale = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	int local;
	const void *bad_ids[] = { NULL, stale, &local, victim, (const void *)(uintptr_t)1,
		(const void *)UINTPTR_MAX,
		(const void *)((uintptr_t)pool_at(p)->id ^ ((uintptr_t)1 << 62)) };

	ck_assert_ptr_nonnull(stale);
	ck_assert_int_eq(am->delete_pool(stale), B_OK);
	for (size_t i = 0; i < COUNT_OF(bad_ids); i++) {
		const void *bad = bad_ids[i];
		int before = recorded_count;
		const char *text = NULL;
		if (amd == NULL)
			capture_begin();
		ck_assert_ptr_null(am->malloc(bad, 10));
		ck_assert_ptr_null(am->calloc(bad, 2, 5));
		ck_assert_ptr_null(am->realloc(bad, NULL, 10));
		ck_assert_ptr_null(am->realloc(bad, victim, 10));
		ck_assert_ptr_null(am->free(bad, victim));
		ck_assert_int_eq(am->delete_pool(bad), B_ERROR);
		if (amd == NULL) {
			text = capture_end();
			/* only free says something; the others answer NULL or B_ERROR */
			expect_release_line(text, "free", bad, victim, false);
			ck_assert_int_eq(strchr(text, '\n') - text + 1, (long)strlen(text));
			continue;
		}
		ck_assert_int_eq(recorded_count, before + 6);
		assert_report(before + 0,
			&(struct expected){ "invalid-pool", NULL, 0, bad, NULL, 0 });
		assert_report(before + 1,
			&(struct expected){ "invalid-pool", NULL, 0, bad, NULL, 0 });
		assert_report(before + 2,
			&(struct expected){ "invalid-pool", NULL, 0, bad, NULL, 0 });
		assert_report(before + 3,
			&(struct expected){ "invalid-pool", victim, 0, bad, NULL, 0 });
		assert_report(before + 4,
			&(struct expected){ "invalid-pool", victim, 0, bad, NULL, 0 });
		assert_report(before + 5,
			&(struct expected){ "invalid-pool", NULL, 0, bad, NULL, 0 });
	}
	assert_victim(victim, 100, seed);
	am->free(pool_at(p)->id, victim);
}

static void delete_pool_twice(int round)
{
	const void *extra = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	int before;
	(void)round;

	ck_assert_ptr_nonnull(extra);
	am->free(extra, am->malloc(extra, 1000));
	ck_assert_int_eq(am->delete_pool(extra), B_OK);
	before = recorded_count;
	ck_assert_int_eq(am->delete_pool(extra), B_ERROR);
	if (amd != NULL) {
		ck_assert_int_eq(recorded_count, before + 1);
		assert_report(before,
			&(struct expected){ "invalid-pool", NULL, 0, extra, NULL, 0 });
	}
}

/* A deleted pool's id, once a new pool took its slot: it names neither. */
static void stale_id_of_a_reused_slot(int round)
{
	const void *old = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	const void *young;
	unsigned char *block;
	int before;
	(void)round;

	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(am->delete_pool(old), B_OK);
	young = am->create_pool(B_ANY_KERNEL_ADDRESS, 64 * KIB, B_NO_LOCK, KERNEL_RW);
	ck_assert_ptr_nonnull(young);
	ck_assert_ptr_ne(young, old);
	block = am->malloc(young, 300);
	ck_assert_ptr_nonnull(block);
	fill(block, 300, 4242);
	before = recorded_count;
	if (amd == NULL)
		capture_begin();
	ck_assert_ptr_null(am->malloc(old, 10));
	ck_assert_ptr_null(am->realloc(old, block, 600));
	ck_assert_ptr_null(am->free(old, block));
	ck_assert_int_eq(am->delete_pool(old), B_ERROR);
	if (amd == NULL)
		expect_release_line(capture_end(), "free", old, block, false);
	else
		ck_assert_int_eq(recorded_count, before + 4);
	ck_assert_uint_eq(first_changed(block, 300, 4242), 300);
	am->free(young, block);
	ck_assert_int_eq(am->delete_pool(young), B_OK);
}

/* Not a misuse the module reports, but bad input all the same. */
static void calloc_overflow(int round)
{
	int p = round % WORLD_POOLS;
	struct pool_numbers before = numbers_of(pool_at(p));

	ck_assert_ptr_null(am->calloc(pool_at(p)->id, SIZE_MAX / 2 + 1, 2));
	ck_assert_ptr_null(am->calloc(pool_at(p)->id, 2, SIZE_MAX / 2 + 1));
	ck_assert_uint_eq(numbers_of(pool_at(p)).failed, before.failed + 2);
}

/* ==== the scenarios ==== */

struct scenario {
	const char *name;
	void (*commit)(int round);
	bool release_detects; /* the release module refuses it too */
	const char *options;  /* debug options, NULL: the world's */
};

static const struct scenario scenarios[] = {
	{ "double free", double_free, true, NULL },
	{ "double free without quarantine", double_free_without_quarantine, true,
		"quarantine_bytes=0" },
	{ "cross-pool free and realloc", cross_pool_free, true, NULL },
	{ "interior pointers", interior_free, true, NULL },
	{ "interior pointer of a freed block", interior_of_freed_block, true, NULL },
	{ "stack, heap, wild and control-page pointers", wild_free, true, NULL },
	{ "another pool's control pages", foreign_control_pages, false, NULL },
	{ "overflow within the trailing canary", overflow_within_canary, false, NULL },
	{ "underflow within the leading canary", underflow_within_canary, false, NULL },
	{ "write after free within quarantine", write_after_free_in_quarantine, false,
		"quarantine_bytes=64k" },
	{ "realloc of a freed block", realloc_of_freed_block, true, NULL },
	{ "invalid, garbage and stale pool ids", invalid_pool_ids, true, NULL },
	{ "delete_pool twice", delete_pool_twice, true, NULL },
	{ "stale id of a reused slot", stale_id_of_a_reused_slot, true, NULL },
	{ "calloc overflow", calloc_overflow, true, NULL },
};

/* Expected sizes in the release build: the release module knows none, and
 * what the debug build says of a freed block only the debug build says. */
static void run_scenario(enum build build, const struct scenario *scenario)
{
	world_start(build, build == BUILD_DEBUG ? scenario->options : NULL);
	world_assert_sound();
	for (int round = 0; round < REPETITIONS; round++) {
		scenario->commit(round);
		world_assert_sound();
	}
	world_finish();
}

START_TEST(debug_misuse_leaves_other_data_alone)
{
	run_scenario(BUILD_DEBUG, &scenarios[_i]);
}
END_TEST

START_TEST(release_misuse_leaves_other_data_alone)
{
	if (!scenarios[_i].release_detects)
		return;
	run_scenario(BUILD_RELEASE, &scenarios[_i]);
}
END_TEST

/* Every misuse one after the other in one world: the refusals do not add
 * up to damage. */
START_TEST(every_misuse_in_one_world)
{
	enum build build = _i == 0 ? BUILD_DEBUG : BUILD_RELEASE;

	world_start(build, "quarantine_bytes=64k");
	for (int round = 0; round < REPETITIONS; round++) {
		for (size_t s = 0; s < COUNT_OF(scenarios); s++) {
			if (scenarios[s].options != NULL)
				continue;
			if (build == BUILD_RELEASE && !scenarios[s].release_detects)
				continue;
			scenarios[s].commit(round);
		}
		if (build == BUILD_DEBUG)
			write_after_free_in_quarantine(round);
		world_assert_sound();
	}
	world_finish();
}
END_TEST

static Suite *misuse_suite(void)
{
	Suite *suite = suite_create("misuse");
	TCase *debug = tcase_create("debug");
	TCase *release = tcase_create("release");
	TCase *all = tcase_create("all_in_one_world");

	tcase_add_loop_test(debug, debug_misuse_leaves_other_data_alone, 0, COUNT_OF(scenarios));
	tcase_add_loop_test(release, release_misuse_leaves_other_data_alone, 0,
		COUNT_OF(scenarios));
	tcase_add_loop_test(all, every_misuse_in_one_world, 0, 2);
	tcase_set_timeout(debug, 120);
	tcase_set_timeout(release, 120);
	tcase_set_timeout(all, 120);
	suite_add_tcase(suite, debug);
	suite_add_tcase(suite, release);
	suite_add_tcase(suite, all);
	return suite;
}

int main(void)
{
	/* every test loads the module with its own options: one process each */
	return run_check_suite(misuse_suite(), CK_FORK);
}
