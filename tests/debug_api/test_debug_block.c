/*
 * test_debug_block.c - the debug block layout and its validator
 * (src/format/debug_block.c): the geometry each stack_depth gives, and what
 * debug_block_check() finds in a block built in a plain buffer. Every
 * operation is followed by the check; every damage is a single byte.
 *
 * Locking: none; one thread.
 */
#include "config.h"

#include <check.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "format/debug_block.h"
#include "support/check_main.h"

#define BUFFER_BYTES 4096

/* Chunks as the heap hands them out: 16-aligned, usable bytes known. */
static alignas(16) unsigned char arena[2][BUFFER_BYTES];

static area_malloc_owner owner_of(uint32_t thread, uint32_t sequence)
{
	area_malloc_owner owner;

	memset(&owner, 0, sizeof(owner));
	owner.thread = (thread_id)thread;
	owner.team = 4242;
	owner.sequence = sequence;
	owner.time = 123456789;
	owner.frame_count = 1;
	owner.frames[0] = 0x401000 + sequence;
	return owner;
}

/* A live block of size in arena[which], usable bytes just enough. */
static struct debug_block_header *new_block(const struct debug_layout *layout, int which,
	size_t size, size_t *usable)
{
	struct debug_block_header *header = (struct debug_block_header *)arena[which];
	area_malloc_owner owner = owner_of(0x3fffff, 7);

	*usable = debug_block_chunk_bytes(layout, size);
	ck_assert_uint_le(*usable, BUFFER_BYTES);
	memset(arena[which], 0x55, BUFFER_BYTES);
	debug_block_init(layout, header, *usable, size, &owner, true);
	return header;
}

static void assert_problem(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, enum debug_block_problem problem)
{
	struct debug_block_finding finding = debug_block_check(layout, header, usable);

	ck_assert_int_eq(finding.problem, problem);
}

START_TEST(test_geometry)
{
	struct debug_layout layout;

	debug_layout_init(&layout, 1);
	ck_assert_uint_eq(layout.header_size, 40);
	ck_assert_uint_eq(layout.front_size, 48);
	ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 0), 48 + 32);
	ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 24), 48 + 32);
	ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 25), 48 + 48);
	ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 64), 48 + 80);
	ck_assert_uint_eq(debug_block_chunk_bytes(&layout, SIZE_MAX), SIZE_MAX);
	debug_layout_init(&layout, 2);
	ck_assert_uint_eq(layout.header_size, 48);
	ck_assert_uint_eq(layout.front_size, 64);
	debug_layout_init(&layout, 32);
	ck_assert_uint_eq(layout.header_size, 32 + 32 * 8);
	ck_assert_uint_eq(layout.front_size % 16, 0);
	ck_assert_uint_ge(layout.front_size - layout.header_size, 8);
}
END_TEST

START_TEST(test_live_block_owner_and_fills)
{
	struct debug_layout layout;
	struct debug_block_header *header;
	area_malloc_owner owner;
	unsigned char *user;
	size_t usable;

	debug_layout_init(&layout, 1);
	header = new_block(&layout, 0, 20, &usable);
	assert_problem(&layout, header, usable, BLOCK_OK);
	ck_assert(debug_block_header_ok(&layout, header, usable));
	ck_assert_int_eq(debug_block_state(header), BLOCK_LIVE);
	ck_assert_uint_eq(debug_block_thread(header), 0x3fffff);
	debug_block_owner(&layout, header, &owner);
	ck_assert_int_eq(owner.thread, 0x3fffff);
	ck_assert_int_eq(owner.team, 4242);
	ck_assert_uint_eq(owner.sequence, 7);
	ck_assert_int_eq(owner.time, 123456789);
	ck_assert_uint_eq(owner.frame_count, 1);
	ck_assert_uint_eq(owner.frames[0], 0x401007);
	user = debug_block_user(&layout, header);
	for (size_t i = 0; i < 20; i++)
		ck_assert_uint_eq(user[i], DEBUG_FILL_NEW);
	for (size_t i = 20; i < debug_block_user_area(&layout, usable); i++)
		ck_assert_uint_eq(user[i], DEBUG_FILL_CANARY);
}
END_TEST

/* Every byte of the header and both canaries is covered: one changed byte
 * anywhere is found, as header damage or as the canary it hit. */
START_TEST(test_every_damaged_byte_is_found)
{
	struct debug_layout layout;
	struct debug_block_header *header;
	unsigned char *bytes;
	size_t usable, size = 20;

	debug_layout_init(&layout, 1);
	header = new_block(&layout, 0, size, &usable);
	bytes = (unsigned char *)header;
	for (size_t at = 0; at < usable; at++) {
		enum debug_block_problem expected;
		if (at >= layout.front_size && at < layout.front_size + size)
			continue; /* the driver's bytes */
		expected = at < layout.header_size ? BLOCK_HEADER_DAMAGED
			: at < layout.front_size	   ? BLOCK_UNDERFLOW
						   : BLOCK_OVERFLOW;
		bytes[at] ^= 0x01;
		assert_problem(&layout, header, usable, expected);
		bytes[at] ^= 0x01;
		assert_problem(&layout, header, usable, BLOCK_OK);
	}
}
END_TEST

/* The checksum is bound to the header's address: a block copied elsewhere
 * is no block there, but reads as one at the address it came from (what
 * pooldump does with copies of a pool). */
START_TEST(test_copied_block_is_bound_to_its_address)
{
	struct debug_layout layout;
	struct debug_block_header *header, *copy;
	size_t usable;

	debug_layout_init(&layout, 1);
	header = new_block(&layout, 0, 100, &usable);
	copy = (struct debug_block_header *)arena[1];
	memcpy(copy, header, usable);
	ck_assert(!debug_block_header_ok(&layout, copy, usable));
	ck_assert(debug_block_header_ok_at(&layout, copy, usable, (uintptr_t)header));
	ck_assert_int_eq(
		debug_block_check_at(&layout, copy, usable, (uintptr_t)header).problem, BLOCK_OK);
}
END_TEST

/* Quarantined: the record names who freed it, the rest is poison, the
 * link sits in the leading canary and is no part of any checksum. */
START_TEST(test_quarantined_block)
{
	struct debug_layout layout;
	struct debug_block_header *header, *next;
	area_malloc_owner freed_by = owner_of(77, 9), read_back;
	struct debug_block_finding finding;
	unsigned char *user;
	size_t usable, user_area;

	debug_layout_init(&layout, 2); /* a 16-byte leading canary: 8 after the link */
	header = new_block(&layout, 0, 100, &usable);
	ck_assert(debug_block_header_ok(&layout, header, usable));
	debug_block_quarantine(&layout, header, usable, &freed_by);
	assert_problem(&layout, header, usable, BLOCK_OK);
	ck_assert_int_eq(debug_block_state(header), BLOCK_QUARANTINED);
	ck_assert_uint_eq(debug_block_thread(header), 0x3fffff);
	ck_assert(debug_block_freed_by(&layout, header, &read_back, &next));
	ck_assert_int_eq(read_back.thread, 77);
	ck_assert_uint_eq(read_back.sequence, 9);
	ck_assert_uint_eq(read_back.frames[0], 0x401009);
	ck_assert_ptr_null(next);

	/* relinking never changes what the checks find */
	debug_block_set_next(&layout, header, (struct debug_block_header *)arena[1]);
	ck_assert_ptr_eq(debug_block_quarantine_next(&layout, header), arena[1]);
	assert_problem(&layout, header, usable, BLOCK_OK);

	/* the record, the poison right after it, the last poison byte */
	user = debug_block_user(&layout, header);
	user_area = debug_block_user_area(&layout, usable);
	size_t record = sizeof(struct debug_free_record);
	size_t places[] = { 0, record - 1, record, user_area - 1 };
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		user[places[i]] ^= 0x80;
		finding = debug_block_check(&layout, header, usable);
		ck_assert_int_eq(finding.problem, BLOCK_POISON_DAMAGED);
		ck_assert_uint_eq(finding.offset, places[i] < record ? 0 : places[i]);
		user[places[i]] ^= 0x80;
	}
	/* the canary bytes after the link */
	((unsigned char *)header)[layout.header_size + 8] ^= 0x01;
	assert_problem(&layout, header, usable, BLOCK_UNDERFLOW);
	((unsigned char *)header)[layout.header_size + 8] ^= 0x01;
	assert_problem(&layout, header, usable, BLOCK_OK);
}
END_TEST

static Suite *debug_block_suite(void)
{
	Suite *suite = suite_create("debug_block");
	TCase *layout = tcase_create("layout");

	tcase_add_test(layout, test_geometry);
	tcase_add_test(layout, test_live_block_owner_and_fills);
	tcase_add_test(layout, test_every_damaged_byte_is_found);
	tcase_add_test(layout, test_copied_block_is_bound_to_its_address);
	tcase_add_test(layout, test_quarantined_block);
	suite_add_tcase(suite, layout);
	return suite;
}

int main(void)
{
	return run_check_suite(debug_block_suite(), CK_FORK_GETENV);
}
