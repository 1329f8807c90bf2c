/*
 * test_pool_registry.c - the opaque pool-id table, in process: ids name
 * their pool until removed, stale and garbage ids name nothing, a full table
 * refuses, and concurrent add/remove keeps the invariants.
 * pool_registry_validate() runs after every operation.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/pool_registry.h"
#include "support/scale.h"
#include "support/check_main.h"

/* The registry never dereferences pools: distinct fake addresses do. */
static struct pool *fake_pool(uintptr_t n)
{
	return (struct pool *)(uintptr_t)(0x10000 + n * 64);
}

static void assert_valid(void)
{
	const char *why = NULL;

	ck_assert_msg(pool_registry_validate(&why), "registry invalid: %s", why);
}

START_TEST(test_add_lookup_remove)
{
	const void *id = pool_registry_add(fake_pool(1));

	ck_assert_ptr_nonnull(id);
	assert_valid();
	ck_assert_ptr_eq(pool_registry_lookup(id), fake_pool(1));
	ck_assert_uint_eq(pool_registry_count(), 1);
	ck_assert_ptr_eq(pool_registry_remove(id), fake_pool(1));
	assert_valid();
	ck_assert_ptr_null(pool_registry_lookup(id));
	ck_assert_ptr_null(pool_registry_remove(id));
	ck_assert_uint_eq(pool_registry_count(), 0);
	ck_assert_ptr_null(pool_registry_add(NULL));
	assert_valid();
}
END_TEST

START_TEST(test_reused_slot_gets_new_id)
{
	for (int round = 0; round < 1000; round++) {
		const void *old = pool_registry_add(fake_pool(1));
		const void *fresh;

		ck_assert_ptr_eq(pool_registry_remove(old), fake_pool(1));
		fresh = pool_registry_add(fake_pool(2));
		ck_assert_ptr_ne(old, fresh);
		ck_assert_ptr_null(pool_registry_lookup(old));
		ck_assert_ptr_null(pool_registry_remove(old));
		ck_assert_ptr_eq(pool_registry_lookup(fresh), fake_pool(2));
		ck_assert_ptr_eq(pool_registry_remove(fresh), fake_pool(2));
		assert_valid();
	}
}
END_TEST

START_TEST(test_garbage_ids)
{
	const void *id = pool_registry_add(fake_pool(3));
	uintptr_t raw = (uintptr_t)id;
	const void *garbage[] = { NULL, (void *)1, (void *)(raw + 1), (void *)(raw - 1),
		(void *)(raw ^ ((uintptr_t)1 << 40)), (void *)(raw & ~((uintptr_t)1 << 63)),
		(void *)UINTPTR_MAX, (void *)(uintptr_t)0x8000000000000000u, &raw };

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		ck_assert_ptr_null(pool_registry_lookup(garbage[i]));
		ck_assert_ptr_null(pool_registry_remove(garbage[i]));
	}
	ck_assert_ptr_eq(pool_registry_lookup(id), fake_pool(3));
	assert_valid();
}
END_TEST

START_TEST(test_full_table_refuses)
{
	enum { CAPACITY = 65536 };
	const void **ids = malloc(CAPACITY * sizeof(*ids));

	for (uintptr_t i = 0; i < CAPACITY; i++) {
		ids[i] = pool_registry_add(fake_pool(i));
		ck_assert_ptr_nonnull(ids[i]);
	}
	ck_assert_ptr_null(pool_registry_add(fake_pool(CAPACITY)));
	assert_valid();
	ck_assert_ptr_eq(pool_registry_remove(ids[100]), fake_pool(100));
	ids[100] = pool_registry_add(fake_pool(100));
	ck_assert_ptr_nonnull(ids[100]);
	for (uintptr_t i = 0; i < CAPACITY; i++)
		ck_assert_ptr_eq(pool_registry_remove(ids[i]), fake_pool(i));
	ck_assert_uint_eq(pool_registry_count(), 0);
	assert_valid();
	free(ids);
}
END_TEST

static void count_visit(struct pool *pool, const void *id, void *context)
{
	ck_assert_ptr_eq(pool_registry_lookup(id), pool);
	(*(int *)context)++;
}

START_TEST(test_for_each_visits_live_pools)
{
	const void *ids[10];
	int visited = 0;

	for (int i = 0; i < 10; i++)
		ids[i] = pool_registry_add(fake_pool((uintptr_t)i));
	pool_registry_remove(ids[3]);
	pool_registry_remove(ids[7]);
	pool_registry_for_each(count_visit, &visited);
	ck_assert_int_eq(visited, 8);
}
END_TEST

/* Rounds of each thread: AREA_MALLOC_TEST_SCALE scales them (read by the
 * test before its threads start). */
static long add_remove_rounds;

static void *add_remove_loop(void *argument)
{
	uintptr_t base = (uintptr_t)argument;

	for (long i = 0; i < add_remove_rounds; i++) {
		const void *id = pool_registry_add(fake_pool(base + (uintptr_t)i % 16));
		if (id == NULL || pool_registry_lookup(id) != fake_pool(base + (uintptr_t)i % 16)
			|| pool_registry_remove(id) != fake_pool(base + (uintptr_t)i % 16))
			return (void *)1;
	}
	return NULL;
}

START_TEST(test_concurrent_add_remove)
{
	pthread_t threads[4];

	add_remove_rounds = test_scaled(20000, 1000);
	for (uintptr_t t = 0; t < 4; t++)
		ck_assert_int_eq(pthread_create(&threads[t], NULL, add_remove_loop,
					 (void *)(t * 1000)),
			0);
	for (int t = 0; t < 4; t++) {
		void *result;
		pthread_join(threads[t], &result);
		ck_assert_ptr_null(result);
	}
	ck_assert_uint_eq(pool_registry_count(), 0);
	assert_valid();
}
END_TEST

/*
 * acquire() racing a delete that reuses the slot at once: one thread adds a
 * pool, publishes its id, deletes it (begin_delete, remove) and adds the
 * next, which takes the same slot; two threads acquire whatever id they
 * last saw. An acquire must give the pool of that very id or refuse: never
 * the slot's next pool, never a pool already removed. (Reading the id
 * before the deleting flag, the registry once handed out both, and the
 * NULL one was never released: the next delete_pool waited forever.)
 */
#define RACE_POOLS 64

static struct race {
	/* slot k % RACE_POOLS: round k's id (round k + RACE_POOLS has the same pool) */
	_Atomic(const void *) ids[RACE_POOLS];
	_Atomic long published; /* index of the newest id, -1 before the first */
	_Atomic bool stop;
	_Atomic long wrong_pool, null_pool, acquired, refused;
} race;

static void *race_deleter(void *argument)
{
	long rounds = *(long *)argument;

	for (long k = 0; k < rounds; k++) {
		struct pool *pool = NULL;
		const void *id = pool_registry_add(fake_pool(1 + (uintptr_t)k % RACE_POOLS));

		if (id == NULL)
			return (void *)"add failed";
		atomic_store(&race.ids[k % RACE_POOLS], id);
		atomic_store(&race.published, k);
		if (pool_registry_begin_delete(id, &pool) != POOL_ACQUIRED
			|| pool != fake_pool(1 + (uintptr_t)k % RACE_POOLS))
			return (void *)"begin_delete did not give the pool";
		if (pool_registry_remove(id) != pool)
			return (void *)"remove did not give the pool";
	}
	atomic_store(&race.stop, true);
	return NULL;
}

static void *race_caller(void *argument)
{
	(void)argument;
	while (!atomic_load(&race.stop)) {
		long k = atomic_load(&race.published);
		struct pool *pool = NULL;
		const void *id;

		if (k < 0)
			continue;
		id = atomic_load(&race.ids[k % RACE_POOLS]);
		if (pool_registry_acquire(id, &pool) != POOL_ACQUIRED) {
			atomic_fetch_add(&race.refused, 1);
			continue;
		}
		atomic_fetch_add(&race.acquired, 1);
		if (pool == NULL)
			atomic_fetch_add(&race.null_pool, 1);
		else if (pool != fake_pool(1 + (uintptr_t)k % RACE_POOLS))
			atomic_fetch_add(&race.wrong_pool, 1);
		/* released all the same, so a wrong answer fails the test
		 * instead of leaving the deleter waiting */
		pool_registry_release(id);
	}
	return NULL;
}

START_TEST(test_acquire_races_delete)
{
	long rounds = test_scaled(200000, 2000);
	pthread_t deleter, callers[2];
	void *result;

	atomic_store(&race.published, -1);
	for (int t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&callers[t], NULL, race_caller, NULL), 0);
	ck_assert_int_eq(pthread_create(&deleter, NULL, race_deleter, &rounds), 0);
	pthread_join(deleter, &result);
	ck_assert_msg(result == NULL, "%s", (const char *)result);
	for (int t = 0; t < 2; t++)
		pthread_join(callers[t], NULL);
	ck_assert_msg(atomic_load(&race.null_pool) == 0 && atomic_load(&race.wrong_pool) == 0,
		"of %ld acquires (%ld refused), %ld gave a removed pool and %ld the slot's "
		"next pool",
		atomic_load(&race.acquired), atomic_load(&race.refused),
		atomic_load(&race.null_pool), atomic_load(&race.wrong_pool));
	ck_assert_uint_eq(pool_registry_count(), 0);
	assert_valid();
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("pool registry");
	TCase *tc = tcase_create("ids");

	tcase_add_test(tc, test_add_lookup_remove);
	tcase_add_test(tc, test_reused_slot_gets_new_id);
	tcase_add_test(tc, test_garbage_ids);
	tcase_add_test(tc, test_full_table_refuses);
	tcase_add_test(tc, test_for_each_visits_live_pools);
	tcase_add_test(tc, test_concurrent_add_remove);
	tcase_add_test(tc, test_acquire_races_delete);
	suite_add_tcase(suite, tc);
	return run_check_suite(suite, CK_FORK_GETENV);
}
