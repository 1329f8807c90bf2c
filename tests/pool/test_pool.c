/*
 * test_pool.c - the release module generic/area_malloc/v1, tested through
 * get_module() as a driver uses it: pool creation for every address and
 * lock spec, opaque ids, POSIX edge cases, exhaustion and coalescing,
 * random operations against a model, threads, debugger commands, unload.
 * Every test validates the pools (the module's "check" command) as it goes.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

#include "pool_test_support.h"
#include "support/scale.h"
#include "support/check_main.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define MIB (1024 * 1024)

static area_malloc_module_info *am;

static void setup(void)
{
	am = get_area_malloc();
}

static void teardown(void)
{
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
}

static const void *new_pool(size_t size)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, KERNEL_RW);

	ck_assert_ptr_nonnull(pool);
	return pool;
}

/* ---- creation ---- */

START_TEST(test_module_info)
{
	ck_assert_str_eq(am->minfo.name, B_AREA_MALLOC_MODULE_NAME);
	ck_assert_ptr_nonnull(am->create_pool);
	ck_assert_ptr_nonnull(am->free);
}
END_TEST

static const uint32 every_address_spec[] = { B_ANY_ADDRESS, B_ANY_KERNEL_ADDRESS,
	B_ANY_KERNEL_BLOCK_ADDRESS, B_BASE_ADDRESS, B_RANDOMIZED_ANY_ADDRESS,
	B_RANDOMIZED_BASE_ADDRESS };

START_TEST(test_create_every_address_spec)
{
	uint32 spec = every_address_spec[_i];
	const void *pool = am->create_pool(spec, 64 * 1024, B_NO_LOCK, KERNEL_RW);
	char *block;

	ck_assert_msg(pool != NULL, "address spec %u", spec);
	block = am->malloc(pool, 1000);
	ck_assert_ptr_nonnull(block);
	memset(block, 0x5a, 1000);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

static const uint32 every_lock_spec[] = { B_NO_LOCK, B_LAZY_LOCK, B_FULL_LOCK, B_CONTIGUOUS,
	B_LOMEM, B_32_BIT_FULL_LOCK, B_32_BIT_CONTIGUOUS };

START_TEST(test_create_every_lock_spec)
{
	uint32 spec = every_lock_spec[_i];
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 256 * 1024, spec, KERNEL_RW);
	char *block;

	ck_assert_msg(pool != NULL, "lock spec %u", spec);
	block = am->malloc(pool, 4096);
	ck_assert_ptr_nonnull(block);
	memset(block, 0xa5, 4096);
	if (spec >= B_LOMEM)
		ck_assert_msg((uintptr_t)block + 4096 <= (UINT64_C(1) << 32),
			"lock spec %u gave %p, not below 4 GiB", spec, (void *)block);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

START_TEST(test_create_refuses_bad_arguments)
{
	ck_assert_ptr_null(am->create_pool(B_EXACT_ADDRESS, 65536, B_NO_LOCK, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(B_CLONE_ADDRESS, 65536, B_NO_LOCK, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(99, 65536, B_NO_LOCK, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, 65536, 99, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, 0, B_NO_LOCK, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, SIZE_MAX, B_NO_LOCK, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, SIZE_MAX / 2, B_NO_LOCK, KERNEL_RW));
	/* a pool nobody can write to is of no use */
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, 65536, B_NO_LOCK, B_KERNEL_READ_AREA));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, 65536, B_NO_LOCK, B_READ_AREA));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, 65536, B_NO_LOCK, 0));
}
END_TEST

START_TEST(test_both_protection_families_are_read_write)
{
	const uint32 protections[] = { B_READ_AREA | B_WRITE_AREA, KERNEL_RW, B_WRITE_AREA,
		B_KERNEL_WRITE_AREA };

	for (size_t i = 0; i < sizeof(protections) / sizeof(protections[0]); i++) {
		const void *pool = am->create_pool(B_ANY_ADDRESS, 65536, B_NO_LOCK, protections[i]);
		char *block;

		ck_assert_ptr_nonnull(pool);
		block = am->malloc(pool, 100);
		ck_assert_ptr_nonnull(block);
		memset(block, 1, 100);
		ck_assert_int_eq(block[99], 1);
		ck_assert_int_eq(am->delete_pool(pool), B_OK);
	}
}
END_TEST

START_TEST(test_size_rounded_up_to_pages)
{
	const void *pool = am->create_pool(B_ANY_ADDRESS, 1, B_NO_LOCK, KERNEL_RW);
	void *block;
	area_info info;

	ck_assert_ptr_nonnull(pool);
	block = am->malloc(pool, 16);
	ck_assert_ptr_nonnull(block);
	ck_assert_int_eq(get_area_info(area_for(block), &info), B_OK);
	ck_assert_uint_eq(info.size, B_PAGE_SIZE);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

START_TEST(test_locked_pool_larger_than_memory_fails)
{
	/* 64 TiB can be neither populated nor locked: NULL, not the OOM killer */
	size_t huge = (size_t)64 << 40;

	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, huge, B_FULL_LOCK, KERNEL_RW));
	ck_assert_ptr_null(am->create_pool(B_ANY_ADDRESS, huge, B_CONTIGUOUS, KERNEL_RW));
}
END_TEST

START_TEST(test_huge_lazy_pool_commits_nothing)
{
	size_t size = (size_t)8 << 30;
	const void *pool = am->create_pool(B_ANY_ADDRESS, size, B_NO_LOCK, KERNEL_RW);
	area_info info;
	char *block;

	ck_assert_ptr_nonnull(pool);
	block = am->malloc(pool, 100);
	ck_assert_ptr_nonnull(block);
	ck_assert_int_eq(get_area_info(area_for(block), &info), B_OK);
	ck_assert_uint_ge(info.size, size);
	ck_assert_msg(info.ram_size < 1 * MIB, "8 GiB lazy pool has %u bytes resident",
		info.ram_size);
	/* a large calloc in a fresh lazy pool must not commit its pages either */
	block = am->calloc(pool, 1, (size_t)1 << 30);
	ck_assert_ptr_nonnull(block);
	ck_assert_int_eq(block[0] | block[((size_t)1 << 30) - 1], 0);
	ck_assert_int_eq(get_area_info(area_for(block), &info), B_OK);
	ck_assert_msg(info.ram_size < 1 * MIB, "1 GiB calloc committed %u bytes", info.ram_size);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}
END_TEST

/* ---- opaque ids ---- */

START_TEST(test_double_delete_fails)
{
	const void *pool = new_pool(65536);

	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	ck_assert_int_eq(am->delete_pool(pool), B_ERROR);
}
END_TEST

START_TEST(test_stale_id_never_names_a_new_pool)
{
	const void *old = new_pool(65536);
	const void *fresh;
	char *block;

	ck_assert_int_eq(am->delete_pool(old), B_OK);
	fresh = new_pool(65536);
	ck_assert_ptr_ne(fresh, old);
	ck_assert_ptr_null(am->malloc(old, 16));
	ck_assert_ptr_null(am->calloc(old, 1, 16));
	ck_assert_ptr_null(am->realloc(old, NULL, 16));
	ck_assert_int_eq(am->delete_pool(old), B_ERROR);
	block = am->malloc(fresh, 16);
	ck_assert_ptr_nonnull(block);
	/* freeing through the stale id neither frees nor crashes */
	ck_assert_ptr_null(am->free(old, block));
	ck_assert_ptr_null(am->realloc(old, block, 32));
	memset(block, 7, 16);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(fresh), B_OK);
}
END_TEST

START_TEST(test_garbage_ids_are_refused)
{
	int on_stack = 0;
	void *heap_pointer = malloc(16);
	const void *pool = new_pool(65536);
	const void *garbage[] = { NULL, (void *)1, (void *)-1, &on_stack, heap_pointer,
		(const char *)pool + 1, (const char *)pool - 1,
		(void *)(uintptr_t)0x8000000000000000u, (void *)(uintptr_t)0xdeadbeefcafebabeu,
		am };

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		ck_assert_ptr_null(am->malloc(garbage[i], 16));
		ck_assert_ptr_null(am->calloc(garbage[i], 2, 16));
		ck_assert_ptr_null(am->realloc(garbage[i], NULL, 16));
		ck_assert_ptr_null(am->free(garbage[i], heap_pointer));
		ck_assert_int_eq(am->delete_pool(garbage[i]), B_ERROR);
	}
	ck_assert_int_eq(on_stack, 0);
	assert_pools_valid();
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	free(heap_pointer);
}
END_TEST

/* ---- POSIX semantics ---- */

START_TEST(test_alignment)
{
	const void *pool = new_pool(4 * MIB);

	for (size_t size = 0; size < 3000; size += 7) {
		void *block = am->malloc(pool, size);
		ck_assert_ptr_nonnull(block);
		ck_assert_uint_eq((uintptr_t)block % _Alignof(max_align_t), 0);
		block = am->calloc(pool, 1, size);
		ck_assert_uint_eq((uintptr_t)block % 16, 0);
	}
	assert_pools_valid();
}
END_TEST

START_TEST(test_malloc_zero_is_unique_and_freeable)
{
	const void *pool = new_pool(65536);
	void *a = am->malloc(pool, 0);
	void *b = am->malloc(pool, 0);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_null(am->free(pool, a));
	ck_assert_ptr_null(am->free(pool, b));
	assert_pools_valid();
}
END_TEST

START_TEST(test_free_returns_null_and_null_is_noop)
{
	const void *pool = new_pool(65536);

	ck_assert_ptr_null(am->free(pool, NULL));
	ck_assert_ptr_null(am->free(pool, am->malloc(pool, 10)));
	assert_pools_valid();
}
END_TEST

START_TEST(test_calloc_overflow_and_zeroing)
{
	const void *pool = new_pool(65536);
	unsigned char *block;

	ck_assert_ptr_null(am->calloc(pool, SIZE_MAX / 2, 3));
	ck_assert_ptr_null(am->calloc(pool, (size_t)1 << 33, (size_t)1 << 32));
	/* dirty memory, free it, calloc it again: zeros */
	block = am->malloc(pool, 4000);
	memset(block, 0xff, 4000);
	am->free(pool, block);
	block = am->calloc(pool, 100, 40);
	ck_assert_ptr_nonnull(block);
	for (int i = 0; i < 4000; i++)
		ck_assert_int_eq(block[i], 0);
	ck_assert_ptr_nonnull(am->calloc(pool, 0, 10));
	ck_assert_ptr_nonnull(am->calloc(pool, 10, 0));
	assert_pools_valid();
}
END_TEST

START_TEST(test_huge_sizes_fail_and_pool_stays_usable)
{
	const void *pool = new_pool(65536);
	const size_t sizes[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX / 2,
		65536, 1 << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ck_assert_ptr_null(am->malloc(pool, sizes[i]));
		ck_assert_ptr_null(am->calloc(pool, 1, sizes[i]));
	}
	ck_assert_ptr_nonnull(am->malloc(pool, 1000));
	assert_pools_valid();
}
END_TEST

START_TEST(test_realloc_rules)
{
	const void *pool = new_pool(65536);
	unsigned char *block = am->realloc(pool, NULL, 100);
	unsigned char *grown;

	ck_assert_ptr_nonnull(block);
	for (int i = 0; i < 100; i++)
		block[i] = (unsigned char)i;
	/* shrink in place, then grow in place into the free space after it */
	ck_assert_ptr_eq(am->realloc(pool, block, 50), block);
	grown = am->realloc(pool, block, 3000);
	ck_assert_ptr_eq(grown, block);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(grown[i], i);
	/* a failed realloc leaves the block untouched */
	ck_assert_ptr_null(am->realloc(pool, grown, 1 << 20));
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(grown[i], i);
	/* realloc(p, 0) frees and returns NULL */
	ck_assert_ptr_null(am->realloc(pool, grown, 0));
	assert_pools_valid();
}
END_TEST

START_TEST(test_realloc_moves_and_preserves)
{
	const void *pool = new_pool(65536);
	unsigned char *block = am->malloc(pool, 64);
	unsigned char *fence = am->malloc(pool, 64); /* blocks growth in place */
	unsigned char *moved;

	for (int i = 0; i < 64; i++)
		block[i] = (unsigned char)(i * 3);
	moved = am->realloc(pool, block, 5000);
	ck_assert_ptr_nonnull(moved);
	ck_assert_ptr_ne(moved, block);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(moved[i], (unsigned char)(i * 3));
	ck_assert_ptr_nonnull(fence);
	assert_pools_valid();
}
END_TEST

START_TEST(test_bad_pointers_are_refused)
{
	const void *pool = new_pool(65536);
	const void *other = new_pool(65536);
	char *block = am->malloc(pool, 256);
	char *foreign = am->malloc(other, 256);
	int on_stack;

	memset(block, 0x11, 256);
	memset(foreign, 0x22, 256);
	am->free(pool, block + 16); /* interior */
	am->free(pool, &on_stack);  /* stack */
	am->free(pool, foreign);    /* another pool's block */
	ck_assert_ptr_null(am->realloc(pool, block + 1, 10));
	am->free(pool, block);
	am->free(pool, block); /* double free */
	assert_pools_valid();
	for (int i = 0; i < 256; i++)
		ck_assert_int_eq(foreign[i], 0x22);
}
END_TEST

/* ---- exhaustion ---- */

static size_t fill_pool(const void *pool, size_t block_size, void ***blocks_out)
{
	size_t capacity = 1024, count = 0;
	void **blocks = malloc(capacity * sizeof(*blocks));
	void *block;

	while ((block = am->malloc(pool, block_size)) != NULL) {
		if (count == capacity)
			blocks = realloc(blocks, (capacity *= 2) * sizeof(*blocks));
		memset(block, (int)count, block_size);
		blocks[count++] = block;
	}
	*blocks_out = blocks;
	return count;
}

static void exhaust_and_recover(size_t block_size, double required_share)
{
	const size_t pool_size = 4 * MIB;
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, pool_size, B_FULL_LOCK, KERNEL_RW);
	void **blocks;
	size_t count;
	double share;

	ck_assert_ptr_nonnull(pool);
	count = fill_pool(pool, block_size, &blocks);
	share = (double)(count * block_size) / pool_size;
	ck_assert_msg(share >= required_share, "%zu-byte blocks used %.1f%% of the pool",
		block_size, share * 100);
	assert_pools_valid();
	/* still fully usable after running out */
	ck_assert_ptr_null(am->malloc(pool, block_size));
	srand(42);
	for (size_t i = count; i > 1; i--) {
		size_t j = (size_t)rand() % i;
		void *swap = blocks[i - 1];
		blocks[i - 1] = blocks[j];
		blocks[j] = swap;
	}
	for (size_t i = 0; i < count; i++)
		am->free(pool, blocks[i]);
	assert_pools_valid();
	ck_assert_msg(am->malloc(pool, pool_size / 10 * 9) != NULL,
		"one block of 90%% of the pool does not fit after freeing everything");
	free(blocks);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
}

START_TEST(test_exhaustion_4000_byte_blocks)
{
	exhaust_and_recover(4000, 0.90);
}
END_TEST

START_TEST(test_exhaustion_64_byte_blocks)
{
	exhaust_and_recover(64, 0.75);
}
END_TEST

/* ---- random operations against a model ---- */

struct model_block {
	unsigned char *pointer;
	size_t size;
	unsigned char pattern;
};

static void fill_block(struct model_block *block)
{
	memset(block->pointer, block->pattern, block->size);
}

static void verify_block(const struct model_block *block)
{
	for (size_t i = 0; i < block->size; i++)
		ck_assert_msg(block->pointer[i] == block->pattern, "block %p byte %zu damaged",
			(void *)block->pointer, i);
}

START_TEST(test_random_operations_against_model)
{
	enum { SLOTS = 256 };
	const long operations = test_scaled(6000, 100);
	const void *pool = new_pool(1 * MIB);
	struct model_block blocks[SLOTS] = { { 0 } };
	unsigned seed = 12345;

	for (int op = 0; op < operations; op++) {
		struct model_block *block = &blocks[rand_r(&seed) % SLOTS];
		size_t size = (size_t)rand_r(&seed) % (rand_r(&seed) % 4 == 0 ? 16384 : 512);
		int choice = rand_r(&seed) % 4;

		if (block->pointer != NULL)
			verify_block(block);
		if (block->pointer == NULL || choice == 0) {
			if (block->pointer != NULL)
				am->free(pool, block->pointer);
			block->pointer =
				choice == 1 ? am->calloc(pool, 1, size) : am->malloc(pool, size);
			if (block->pointer != NULL && choice == 1)
				for (size_t i = 0; i < size; i++)
					ck_assert_int_eq(block->pointer[i], 0);
		} else if (choice == 1) {
			unsigned char *moved = am->realloc(pool, block->pointer, size);
			if (size == 0) {
				ck_assert_ptr_null(moved);
				block->pointer = NULL;
			} else if (moved != NULL) {
				block->pointer = moved;
				block->size = block->size < size ? block->size : size;
				verify_block(block);
			}
		} else {
			am->free(pool, block->pointer);
			block->pointer = NULL;
		}
		if (block->pointer != NULL) {
			block->size = size;
			block->pattern = (unsigned char)(op | 1);
			fill_block(block);
		}
		if (op % 7 == 0)
			assert_pools_valid();
	}
	for (int i = 0; i < SLOTS; i++)
		if (blocks[i].pointer != NULL)
			verify_block(&blocks[i]);
	assert_pools_valid();
}
END_TEST

/* ---- threads ---- */

struct churn_job {
	const void *pool;
	unsigned seed;
	int iterations;
	int failures;
};

static void *churn(void *argument)
{
	struct churn_job *job = argument;
	struct model_block blocks[64] = { { 0 } };

	for (int i = 0; i < job->iterations; i++) {
		struct model_block *block = &blocks[rand_r(&job->seed) % 64];
		if (block->pointer != NULL) {
			for (size_t b = 0; b < block->size; b++)
				if (block->pointer[b] != block->pattern)
					job->failures++;
			am->free(job->pool, block->pointer);
		}
		block->size = 16 + (size_t)rand_r(&job->seed) % 2000;
		block->pointer = am->malloc(job->pool, block->size);
		block->pattern = (unsigned char)rand_r(&job->seed);
		if (block->pointer != NULL)
			fill_block(block);
	}
	for (int i = 0; i < 64; i++)
		am->free(job->pool, blocks[i].pointer);
	return NULL;
}

static void run_threads(int thread_count, bool shared)
{
	pthread_t threads[8];
	struct churn_job jobs[8];
	const void *shared_pool = new_pool(4 * MIB);
	char *stats = NULL;

	for (int t = 0; t < thread_count; t++) {
		jobs[t] = (struct churn_job){ shared ? shared_pool : new_pool(1 * MIB),
			(unsigned)t * 7919 + 1, (int)test_scaled(20000, 500), 0 };
		ck_assert_int_eq(pthread_create(&threads[t], NULL, churn, &jobs[t]), 0);
	}
	for (int t = 0; t < thread_count; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(jobs[t].failures, 0);
	}
	assert_pools_valid();
	run_debug_command("pools", &stats);
	ck_assert_ptr_nonnull(strstr(stats, "blocks: 0;"));
	free(stats);
}

START_TEST(test_threads_share_one_pool)
{
	run_threads(2 + _i, true);
}
END_TEST

START_TEST(test_threads_own_pools)
{
	run_threads(2 + _i, false);
}
END_TEST

/* ---- debugger commands and unload ---- */

START_TEST(test_debugger_commands)
{
	const void *pool = new_pool(65536);
	char *output = NULL;
	char expected[64];
	void *block = am->malloc(pool, 1000);
	area_id area = area_for(block);

	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	snprintf(expected, sizeof(expected), "pool %d: id: %p;", (int)area, pool);
	ck_assert_msg(strstr(output, expected) != NULL, "'%s' not in: %s", expected, output);
	ck_assert_ptr_nonnull(strstr(output, "blocks: 1;"));
	free(output);

	snprintf(expected, sizeof(expected), "pool %d", (int)area);
	ck_assert_int_eq(run_debug_command(expected, &output), 0);
	ck_assert_ptr_nonnull(strstr(output, "size: 65536;"));
	free(output);

	run_debug_command("pool banana", &output);
	ck_assert_ptr_nonnull(strstr(output, "is not a pool id"));
	free(output);
	run_debug_command("pool", &output);
	ck_assert_ptr_nonnull(strstr(output, "usage"));
	free(output);
	ck_assert_int_eq(run_debug_command("check 999999", &output), 2);
	free(output);
	ck_assert_int_eq(run_debug_command("check", &output), 0);
	ck_assert_ptr_nonnull(strstr(output, "0 damaged"));
	free(output);
	ck_assert_int_eq(run_debug_command("help", &output), 0);
	ck_assert_ptr_nonnull(strstr(output, "pools"));
	free(output);
}
END_TEST

START_TEST(test_failed_requests_are_counted)
{
	const void *pool = new_pool(65536);
	char *output = NULL;

	ck_assert_ptr_null(am->malloc(pool, 1 << 20));
	ck_assert_ptr_null(am->calloc(pool, 1 << 10, 1 << 10));
	run_debug_command("pools", &output);
	ck_assert_msg(strstr(output, "failed: 2;") != NULL, "%s", output);
	free(output);
}
END_TEST

START_TEST(test_last_put_deletes_every_pool)
{
	area_malloc_module_info *second = get_area_malloc();
	void *blocks[20];

	for (int i = 0; i < 20; i++) {
		const void *pool = new_pool(65536);
		blocks[i] = am->malloc(pool, 100);
		ck_assert_int_ge(area_for(blocks[i]), 0);
	}
	ck_assert_ptr_eq(second, am);
	/* one user left: the pools stay */
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	ck_assert_int_ge(area_for(blocks[0]), 0);
	/* the last user puts the module away (teardown): get it again to check */
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	for (int i = 0; i < 20; i++)
		ck_assert_int_lt(area_for(blocks[i]), 0);
	ck_assert_int_eq(find_area("area_malloc pool"), B_NAME_NOT_FOUND);
	am = get_area_malloc();
	ck_assert_int_eq(run_debug_command("pools", NULL), 0);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *suite = suite_create("release module");
	TCase *tc;

	tc = tcase_create("creation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_module_info);
	tcase_add_loop_test(tc, test_create_every_address_spec, 0,
		sizeof(every_address_spec) / sizeof(every_address_spec[0]));
	tcase_add_loop_test(tc, test_create_every_lock_spec, 0,
		sizeof(every_lock_spec) / sizeof(every_lock_spec[0]));
	tcase_add_test(tc, test_create_refuses_bad_arguments);
	tcase_add_test(tc, test_both_protection_families_are_read_write);
	tcase_add_test(tc, test_size_rounded_up_to_pages);
	tcase_add_test(tc, test_locked_pool_larger_than_memory_fails);
	tcase_add_test(tc, test_huge_lazy_pool_commits_nothing);
	suite_add_tcase(suite, tc);

	tc = tcase_create("pool ids");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_double_delete_fails);
	tcase_add_test(tc, test_stale_id_never_names_a_new_pool);
	tcase_add_test(tc, test_garbage_ids_are_refused);
	suite_add_tcase(suite, tc);

	tc = tcase_create("posix semantics");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_alignment);
	tcase_add_test(tc, test_malloc_zero_is_unique_and_freeable);
	tcase_add_test(tc, test_free_returns_null_and_null_is_noop);
	tcase_add_test(tc, test_calloc_overflow_and_zeroing);
	tcase_add_test(tc, test_huge_sizes_fail_and_pool_stays_usable);
	tcase_add_test(tc, test_realloc_rules);
	tcase_add_test(tc, test_realloc_moves_and_preserves);
	tcase_add_test(tc, test_bad_pointers_are_refused);
	suite_add_tcase(suite, tc);

	tc = tcase_create("exhaustion");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_exhaustion_4000_byte_blocks);
	tcase_add_test(tc, test_exhaustion_64_byte_blocks);
	tcase_add_test(tc, test_random_operations_against_model);
	suite_add_tcase(suite, tc);

	tc = tcase_create("threads");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_threads_share_one_pool, 0, 3);
	tcase_add_loop_test(tc, test_threads_own_pools, 0, 3);
	suite_add_tcase(suite, tc);

	tc = tcase_create("debugger and unload");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_debugger_commands);
	tcase_add_test(tc, test_failed_requests_are_counted);
	tcase_add_test(tc, test_last_put_deletes_every_pool);
	suite_add_tcase(suite, tc);
	return suite;
}

int main(void)
{
	return run_check_suite(pool_suite(), CK_FORK_GETENV);
}
