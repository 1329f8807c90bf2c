/*
 * test_pool_registry.c - the opaque pool-id table, in process: ids name
 * their pool until removed, stale and garbage ids name nothing, a full table
 * refuses, and concurrent add/remove keeps the invariants.
 * pool_registry_validate() runs after every operation.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/pool_registry.h"

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

static void *add_remove_loop(void *argument)
{
	uintptr_t base = (uintptr_t)argument;

	for (int i = 0; i < 20000; i++) {
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

	for (uintptr_t t = 0; t < 4; t++)
		ck_assert_int_eq(pthread_create(&threads[t], NULL, add_remove_loop,
					 (void *)(t * 1000)), 0);
	for (int t = 0; t < 4; t++) {
		void *result;
		pthread_join(threads[t], &result);
		ck_assert_ptr_null(result);
	}
	ck_assert_uint_eq(pool_registry_count(), 0);
	assert_valid();
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("pool registry");
	TCase *tc = tcase_create("ids");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, test_add_lookup_remove);
	tcase_add_test(tc, test_reused_slot_gets_new_id);
	tcase_add_test(tc, test_garbage_ids);
	tcase_add_test(tc, test_full_table_refuses);
	tcase_add_test(tc, test_for_each_visits_live_pools);
	tcase_add_test(tc, test_concurrent_add_remove);
	suite_add_tcase(suite, tc);
	runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
