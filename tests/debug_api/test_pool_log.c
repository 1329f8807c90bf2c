/*
 * test_pool_log.c - the pool allocation log (src/format/pool_log.c and the
 * append in pool_log.h): a ring of the last N events, appended without a
 * division, that stays inside its ring even when a wild write has damaged
 * its slot cursor. pool_log_validate() runs after every append.
 *
 * Locking: none; one thread.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "format/pool_log.h"
#include "support/check_main.h"

#define GUARD_BYTE 0xa5

/* A log of capacity events, followed by a guard event that no append may
 * touch. */
struct guarded_log {
	struct pool_log *log;
	size_t capacity;
	unsigned char *guard;
};

static struct guarded_log guarded_log_new(size_t capacity)
{
	struct guarded_log guarded;
	size_t bytes = pool_log_bytes(capacity);

	guarded.log = malloc(bytes + sizeof(struct pool_log_event));
	ck_assert_ptr_nonnull(guarded.log);
	guarded.capacity = capacity;
	guarded.guard = (unsigned char *)guarded.log + bytes;
	memset(guarded.guard, GUARD_BYTE, sizeof(struct pool_log_event));
	pool_log_init(guarded.log, capacity);
	return guarded;
}

static void assert_guard_intact(const struct guarded_log *guarded)
{
	for (size_t i = 0; i < sizeof(struct pool_log_event); i++)
		ck_assert_uint_eq(guarded->guard[i], GUARD_BYTE);
}

static void assert_valid(const struct guarded_log *guarded)
{
	const char *why = NULL;

	ck_assert_msg(pool_log_validate(guarded->log, guarded->capacity, &why), "log invalid: %s",
		why);
	assert_guard_intact(guarded);
}

/* Event n: address 0x1000 + n, size n, sequence n. */
static void append_event(struct guarded_log *guarded, uint32_t n)
{
	pool_log_append(guarded->log, guarded->log->capacity, LOG_MALLOC,
		(const void *)(uintptr_t)(0x1000 + n), n, 0x400000, (int64_t)n * 10, n, 77);
}

struct collected {
	uint32_t sequences[64];
	size_t count;
};

static void collect(const struct pool_log_event *event, void *context)
{
	struct collected *collected = context;

	collected->sequences[collected->count++] = event->sequence;
}

START_TEST(test_ring_keeps_the_newest_events)
{
	struct guarded_log guarded = guarded_log_new(5);
	struct collected collected = { { 0 }, 0 };

	assert_valid(&guarded);
	for (uint32_t n = 1; n <= 13; n++) {
		append_event(&guarded, n);
		assert_valid(&guarded);
		ck_assert_uint_eq(guarded.log->appended, n);
	}
	ck_assert_uint_eq(pool_log_newest(guarded.log, guarded.log->capacity, NULL, 64, collect,
				  &collected),
		5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(collected.sequences[i], 13 - i);
	/* by address: only the one event of it that the ring still holds */
	collected.count = 0;
	ck_assert_uint_eq(pool_log_newest(guarded.log, guarded.log->capacity,
				  (const void *)(uintptr_t)(0x1000 + 11), 64, collect, &collected),
		1);
	ck_assert_uint_eq(collected.sequences[0], 11);
	ck_assert_uint_eq(pool_log_newest(guarded.log, guarded.log->capacity,
				  (const void *)(uintptr_t)(0x1000 + 3), 64, collect, &collected),
		0);
	free(guarded.log);
}
END_TEST

START_TEST(test_empty_log_records_nothing)
{
	struct guarded_log guarded = guarded_log_new(0);
	struct collected collected = { { 0 }, 0 };

	append_event(&guarded, 1);
	assert_valid(&guarded);
	ck_assert_uint_eq(guarded.log->appended, 0);
	ck_assert_uint_eq(pool_log_newest(guarded.log, guarded.log->capacity, NULL, 64, collect,
				  &collected),
		0);
	free(guarded.log);
}
END_TEST

START_TEST(test_damaged_cursor_is_found_and_never_written_through)
{
	struct guarded_log guarded = guarded_log_new(4);
	struct collected collected = { { 0 }, 0 };
	const char *why = NULL;
	uint32_t wild[] = { 4, 5, 1000, UINT32_MAX };

	for (uint32_t n = 1; n <= 6; n++)
		append_event(&guarded, n);
	for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
		guarded.log->next_slot = wild[i];
		ck_assert(!pool_log_validate(guarded.log, guarded.capacity, &why));
		ck_assert_ptr_nonnull(strstr(why, "cursor"));
		/* the append falls back on appended % capacity and repairs it */
		append_event(&guarded, 7 + (uint32_t)i);
		assert_valid(&guarded);
	}
	/* a cursor inside the ring but out of step is found too */
	guarded.log->next_slot = (uint32_t)((guarded.log->appended + 1) % guarded.capacity);
	ck_assert(!pool_log_validate(guarded.log, guarded.capacity, &why));
	guarded.log->next_slot = (uint32_t)(guarded.log->appended % guarded.capacity);
	assert_valid(&guarded);
	ck_assert_uint_eq(pool_log_newest(guarded.log, guarded.log->capacity, NULL, 64, collect,
				  &collected),
		4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(collected.sequences[i], 10 - i);
	/* a changed capacity is damage as well */
	ck_assert(!pool_log_validate(guarded.log, guarded.capacity + 1, &why));
	free(guarded.log);
}
END_TEST

static Suite *pool_log_suite(void)
{
	Suite *suite = suite_create("pool_log");
	TCase *ring = tcase_create("ring");

	tcase_add_test(ring, test_ring_keeps_the_newest_events);
	tcase_add_test(ring, test_empty_log_records_nothing);
	tcase_add_test(ring, test_damaged_cursor_is_found_and_never_written_through);
	suite_add_tcase(suite, ring);
	return suite;
}

int main(void)
{
	return run_check_suite(pool_log_suite(), CK_FORK_GETENV);
}
