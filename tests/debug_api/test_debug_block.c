/*
 * test_debug_block.c - the debug block layout and its validator
 * (src/format/debug_block.c): the geometry (one for every stack_depth: the
 * stacks are in the stack depot), and what debug_block_check() finds in a
 * block built in a plain buffer. Every operation is followed by the check;
 * every damage is a single byte. And the stack depot itself
 * (src/format/stack_depot.c): one record per distinct stack, the reserve
 * and the lost handle when full, and reads of hostile copies that fail,
 * never stray.
 *
 * Locking: none; one thread.
 */
#include "config.h"

#include <check.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "format/debug_block.h"
#include "format/stack_depot.h"
#include "support/check_main.h"
#include "support/test_stacks.h"

#define BUFFER_BYTES 4096

/* Chunks as the heap hands them out: 16-aligned, usable bytes known. */
static alignas(16) unsigned char arena[2][BUFFER_BYTES];
static struct test_stacks stacks;

/* A layout whose blocks keep their stacks in a fresh depot. */
static void layout_with_stacks(struct debug_layout *layout, unsigned stack_depth)
{
	debug_layout_init(layout, stack_depth);
	test_stacks_free(&stacks);
	test_stacks_init(&stacks, 1 << 20, layout);
	ck_assert_ptr_nonnull(stacks.depot);
}

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
	debug_block_init(layout, header, *usable, size, &owner, SIZE_MAX);
	return header;
}

static void assert_problem(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, enum debug_block_problem problem)
{
	struct debug_block_finding finding = debug_block_check(layout, header, usable);

	ck_assert_int_eq(finding.problem, problem);
}

/* A 32-byte header and a 48-byte front at every depth (node format 2 had
 * 32 bytes plus 8 a frame: 40 at one frame, 160 at 16). */
START_TEST(test_geometry)
{
	static const unsigned depths[] = { 1, 2, 16, 32 };
	struct debug_layout layout;

	ck_assert_uint_eq(sizeof(struct debug_block_header), 32);
	ck_assert_uint_eq(sizeof(struct debug_free_record), 32);
	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		debug_layout_init(&layout, depths[i]);
		ck_assert_uint_eq(layout.frame_count, depths[i]);
		ck_assert_uint_eq(layout.header_size, 32);
		ck_assert_uint_eq(layout.front_size, 48);
		ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 0), 48 + 32);
		ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 24), 48 + 32);
		ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 25), 48 + 48);
		ck_assert_uint_eq(debug_block_chunk_bytes(&layout, 64), 48 + 80);
		ck_assert_uint_eq(debug_block_chunk_bytes(&layout, SIZE_MAX), SIZE_MAX);
	}
	/* the size shares its word with the team: requests stop at 1 TiB */
	ck_assert_uint_ne(debug_block_chunk_bytes(&layout, DEBUG_BLOCK_MAX_SIZE), SIZE_MAX);
	ck_assert_uint_eq(debug_block_chunk_bytes(&layout, DEBUG_BLOCK_MAX_SIZE + 1), SIZE_MAX);
}
END_TEST

START_TEST(test_live_block_owner_and_fills)
{
	struct debug_layout layout;
	struct debug_block_header *header;
	area_malloc_owner owner;
	unsigned char *user;
	size_t usable;

	layout_with_stacks(&layout, 1);
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
			: at < layout.front_size   ? BLOCK_UNDERFLOW
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
	ck_assert_int_eq(debug_block_check_at(&layout, copy, usable, (uintptr_t)header).problem,
		BLOCK_OK);
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

	layout_with_stacks(&layout, 2); /* a 16-byte leading canary: 8 after the link */
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

static area_malloc_owner deep_owner(uintptr_t base, uint32_t count)
{
	area_malloc_owner owner = owner_of(11, 3);

	owner.frame_count = count;
	for (uint32_t i = 0; i < count; i++)
		owner.frames[i] = base + 0x10 * i;
	return owner;
}

static void assert_same_stack(const area_malloc_owner *got, const area_malloc_owner *want)
{
	ck_assert_uint_eq(got->frame_count, want->frame_count);
	for (uint32_t i = 0; i < want->frame_count; i++)
		ck_assert_uint_eq(got->frames[i], want->frames[i]);
}

/* Whole stacks, allocation and free, through handles: the same stack gives
 * the same handle, and the depot holds it once. */
START_TEST(test_deep_stacks_through_the_depot)
{
	area_malloc_owner allocated = deep_owner(0x401000, 16), freed = deep_owner(0x402000, 16);
	area_malloc_owner read_back;
	struct debug_layout layout;
	struct debug_block_header *first, *second;
	size_t usable;

	layout_with_stacks(&layout, 16);
	first = (struct debug_block_header *)arena[0];
	second = (struct debug_block_header *)arena[1];
	usable = debug_block_chunk_bytes(&layout, 100);
	debug_block_init(&layout, first, usable, 100, &allocated, true);
	debug_block_init(&layout, second, usable, 100, &allocated, true);
	ck_assert_uint_ne(first->stack, 0);
	ck_assert_uint_eq(first->stack, second->stack);
	ck_assert_uint_eq(stacks.depot->stacks, 1);
	debug_block_owner(&layout, first, &read_back);
	assert_same_stack(&read_back, &allocated);
	ck_assert_int_eq(read_back.team, 4242);

	debug_block_quarantine(&layout, first, usable, &freed);
	assert_problem(&layout, first, usable, BLOCK_OK);
	ck_assert(debug_block_freed_by(&layout, first, &read_back, NULL));
	assert_same_stack(&read_back, &freed);
	debug_block_owner(&layout, first, &read_back);
	assert_same_stack(&read_back, &allocated);
	ck_assert_uint_eq(stacks.depot->stacks, 2);
}
END_TEST

/* A layout without a depot: blocks work, their stacks are unknown. */
START_TEST(test_blocks_without_a_depot)
{
	area_malloc_owner allocated = deep_owner(0x401000, 4), read_back;
	struct debug_layout layout;
	struct debug_block_header *header = (struct debug_block_header *)arena[0];
	size_t usable;

	debug_layout_init(&layout, 4);
	usable = debug_block_chunk_bytes(&layout, 10);
	debug_block_init(&layout, header, usable, 10, &allocated, true);
	assert_problem(&layout, header, usable, BLOCK_OK);
	ck_assert_uint_eq(header->stack, 0);
	debug_block_owner(&layout, header, &read_back);
	ck_assert_uint_eq(read_back.frame_count, 0);
	ck_assert_uint_eq(read_back.frames[0], 0);
}
END_TEST

/* ---- the depot ---- */

static uint32_t put(struct stack_depot *depot, const uintptr_t *frames, uint32_t count)
{
	area_malloc_owner owner;

	memset(&owner, 0, sizeof(owner));
	owner.frame_count = count;
	memcpy(owner.frames, frames, count * sizeof(*frames));
	(void)depot;
	return test_stacks_handle_of(&stacks, &owner);
}

START_TEST(test_depot_stores_each_stack_once)
{
	uintptr_t frames[AREA_MALLOC_MAX_FRAMES];
	uint32_t handles[64];
	struct stack_depot_view view;
	const uint64_t *got;
	uint32_t count;
	bool truncated;

	test_stacks_free(&stacks);
	test_stacks_init(&stacks, 1 << 20, NULL);
	for (uint32_t i = 0; i < 64; i++) {
		for (uint32_t f = 0; f < AREA_MALLOC_MAX_FRAMES; f++)
			frames[f] = 0x400000 + 0x100 * f + i;
		handles[i] = put(stacks.depot, frames, 1 + i % AREA_MALLOC_MAX_FRAMES);
		ck_assert_uint_ne(handles[i], 0);
		ck_assert_uint_eq(handles[i] & STACK_HANDLE_TRUNCATED, 0);
	}
	ck_assert_uint_eq(stacks.depot->stacks, 64);
	for (uint32_t i = 0; i < 64; i++) {
		for (uint32_t f = 0; f < AREA_MALLOC_MAX_FRAMES; f++)
			frames[f] = 0x400000 + 0x100 * f + i;
		ck_assert_uint_eq(put(stacks.depot, frames, 1 + i % AREA_MALLOC_MAX_FRAMES),
			handles[i]);
		/* a prefix is another stack */
		if (i % AREA_MALLOC_MAX_FRAMES > 0)
			ck_assert_uint_ne(put(stacks.depot, frames, i % AREA_MALLOC_MAX_FRAMES),
				handles[i]);
	}
	stack_depot_live_view(stacks.depot, &view);
	ck_assert(stack_depot_frames(&view, handles[5], &got, &count, &truncated));
	ck_assert_uint_eq(count, 6);
	ck_assert(!truncated);
	ck_assert_uint_eq(got[5], 0x400000 + 0x500 + 5);
	/* the chains rebuilt from the records find the same handles */
	memset((char *)stacks.depot + stacks.depot->buckets_offset, 0,
		stacks.depot->bucket_count * sizeof(uint32_t));
	stack_depot_rebuild_buckets(stacks.depot);
	for (uint32_t f = 0; f < AREA_MALLOC_MAX_FRAMES; f++)
		frames[f] = 0x400000 + 0x100 * f + 5;
	ck_assert_uint_eq(stack_depot_find(stacks.depot, frames, 6, stack_depot_hash(frames, 6),
				  false),
		handles[5]);
}
END_TEST

/* Full: new stacks keep their first frame (one record per first frame, in
 * the reserve, the handle marked); with the reserve full too, lost. */
START_TEST(test_full_depot_keeps_first_frames_then_loses)
{
	uintptr_t frames[16];
	struct stack_depot_view view;
	const uint64_t *got;
	uint32_t handle, first_cut = 0, count, i;
	bool truncated;

	test_stacks_free(&stacks);
	test_stacks_init(&stacks, 4096, NULL);
	for (i = 0; i < 1000; i++) {
		for (uint32_t f = 0; f < 16; f++)
			frames[f] = 0x500000 + 0x1000 * i + f;
		handle = put(stacks.depot, frames, 16);
		if (handle & STACK_HANDLE_TRUNCATED) {
			first_cut = handle;
			break;
		}
	}
	ck_assert_uint_ne(first_cut, 0);
	ck_assert_uint_ne(first_cut, STACK_HANDLE_LOST);
	stack_depot_live_view(stacks.depot, &view);
	ck_assert(stack_depot_frames(&view, first_cut, &got, &count, &truncated));
	ck_assert(truncated);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(got[0], frames[0]);
	/* another stack from the same first frame shares the record */
	frames[3]++;
	ck_assert_uint_eq(put(stacks.depot, frames, 16), first_cut);
	for (i = 1; i < 10000; i++) {
		frames[0] = 0x900000 + i;
		handle = put(stacks.depot, frames, 16);
		if (handle == STACK_HANDLE_LOST)
			break;
		ck_assert_uint_ne(handle & STACK_HANDLE_TRUNCATED, 0);
	}
	ck_assert_uint_eq(handle, STACK_HANDLE_LOST);
	stack_depot_live_view(stacks.depot, &view);
	ck_assert(!stack_depot_frames(&view, STACK_HANDLE_LOST, &got, &count, &truncated));
	ck_assert_uint_eq(count, 0);
}
END_TEST

/* A copy read from a hostile file: every handle either resolves to a sound
 * record inside the view or fails; a damaged record fails its hash. */
START_TEST(test_depot_view_refuses_what_it_cannot_trust)
{
	uintptr_t frames[4] = { 0x401000, 0x402000, 0x403000, 0x404000 };
	struct stack_depot_view view;
	struct stack_depot bad;
	const uint64_t *got;
	uint32_t handle, count;
	bool truncated;
	char why[80];

	test_stacks_free(&stacks);
	test_stacks_init(&stacks, 1 << 16, NULL);
	handle = put(stacks.depot, frames, 4);
	stack_depot_live_view(stacks.depot, &view);
	ck_assert(stack_depot_frames(&view, handle, &got, &count, &truncated));
	/* every handle of the first few kilobytes, and a few far ones */
	for (uint32_t probe = 0; probe < 4096; probe++) {
		uint32_t handles[] = { probe, probe | STACK_HANDLE_TRUNCATED, 0x7fffffff - probe };
		for (size_t h = 0; h < 3; h++) {
			if (stack_depot_frames(&view, handles[h], &got, &count, &truncated)) {
				ck_assert_uint_ge(count, 1);
				ck_assert_uint_le(count, AREA_MALLOC_MAX_FRAMES);
				ck_assert((const unsigned char *)got >= view.main);
				ck_assert((const unsigned char *)(got + count)
					<= view.main + view.main_bytes);
			}
		}
	}
	/* cut short: the record no longer fits */
	view.main_bytes -= 8;
	ck_assert(!stack_depot_frames(&view, handle, &got, &count, &truncated));
	view.main_bytes += 8;
	/* a damaged frame */
	((uint64_t *)(view.main + sizeof(struct stack_record)))[2] ^= 1;
	ck_assert(!stack_depot_frames(&view, handle, &got, &count, &truncated));
	((uint64_t *)(view.main + sizeof(struct stack_record)))[2] ^= 1;
	/* a frame count out of range */
	((struct stack_record *)view.main)->frame_count = AREA_MALLOC_MAX_FRAMES + 1;
	ck_assert(!stack_depot_frames(&view, handle, &got, &count, &truncated));
	/* headers: sound, then each field wrong */
	ck_assert(stack_depot_header_sound(stacks.depot, stacks.bytes, why, sizeof(why)));
	ck_assert(!stack_depot_header_sound(stacks.depot, stacks.depot->records_offset, why,
		sizeof(why)));
	bad = *stacks.depot;
	bad.magic[0] ^= 1;
	ck_assert(!stack_depot_header_sound(&bad, stacks.bytes, why, sizeof(why)));
	bad = *stacks.depot;
	bad.bucket_count = 1000;
	ck_assert(!stack_depot_header_sound(&bad, stacks.bytes, why, sizeof(why)));
	bad = *stacks.depot;
	bad.used = bad.reserve_offset + 8;
	ck_assert(!stack_depot_header_sound(&bad, stacks.bytes, why, sizeof(why)));
	bad = *stacks.depot;
	bad.reserve_used = UINT64_MAX - 7;
	ck_assert(!stack_depot_header_sound(&bad, stacks.bytes, why, sizeof(why)));
	bad = *stacks.depot;
	bad.records_offset = UINT64_MAX - 7;
	ck_assert(!stack_depot_header_sound(&bad, stacks.bytes, why, sizeof(why)));
}
END_TEST

/*
 * A large quarantined block whose discard run was given back: whole pages
 * of zeros (here dropped with MADV_DONTNEED, so not resident) check as
 * sound, a reader's copy of them too (zeros, resident); a page of the run
 * poisoned instead is sound; a write anywhere in the run, into a zero page
 * or a poisoned one, or at the run's edges, is found at its own offset.
 */
START_TEST(test_discard_run_of_a_large_block)
{
	const size_t size = 300 * 1024 + 24, page = DEBUG_PAGE_BYTES;
	struct debug_layout layout;
	area_malloc_owner owner = owner_of(5, 1), freed_by = owner_of(6, 2);
	uintptr_t run_start, run_end;
	size_t usable = 0, run_from, run_to;
	struct debug_block_header *header;
	struct debug_block_finding finding;
	unsigned char *area, *user, *copy;
	/* the header at every 16-byte phase of a page, as the heap places it */
	const size_t phases[] = { 16, 48, 2048, 4096 - 64, 4096 - 16 };

	layout_with_stacks(&layout, 4);
	area = mmap(NULL, size + 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		0);
	copy = mmap(NULL, size + 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		0);
	ck_assert(area != MAP_FAILED && copy != MAP_FAILED);
	for (size_t p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
		header = (struct debug_block_header *)(area + phases[p]);
		usable = debug_block_chunk_bytes(&layout, size);
		debug_block_init(&layout, header, usable, size, &owner, 4096);
		user = debug_block_user(&layout, header);
		ck_assert(debug_block_discard_run(&layout, (uintptr_t)header, usable, &run_start,
			&run_end));
		ck_assert_uint_eq(run_start % page, 0);
		ck_assert_uint_eq(run_end % page, 0);
		ck_assert_uint_ge(run_start, (uintptr_t)user + DEBUG_POISON_START);
		ck_assert_uint_le(run_end,
			(uintptr_t)user + debug_block_user_area(&layout, usable));
		ck_assert_uint_ge(run_end - run_start, DEBUG_DISCARD_MIN);
		ck_assert_int_eq(madvise((void *)run_start, run_end - run_start, MADV_DONTNEED), 0);
		debug_block_quarantine_poisoned(&layout, header, usable, &freed_by, 0, run_start,
			run_end);
		run_from = run_start - (uintptr_t)user;
		run_to = run_end - (uintptr_t)user;
		/* given back: not resident, and sound */
		unsigned char resident = 1;
		ck_assert_int_eq(mincore((void *)(run_start + page), page, &resident), 0);
		ck_assert_uint_eq(resident & 1, 0);
		assert_problem(&layout, header, usable, BLOCK_OK);
		ck_assert_int_eq(mincore((void *)(run_start + page), page, &resident), 0);
		ck_assert_uint_eq(resident & 1, 0); /* the check did not read it */
		/* a reader's copy (zeros where the writer has holes) */
		memcpy(copy, area, size + 4 * page);
		ck_assert_int_eq(debug_block_check_at(&layout,
					 (struct debug_block_header *)(copy + phases[p]), usable,
					 (uintptr_t)header)
					 .problem,
			BLOCK_OK);
		/* a page of the run poisoned instead of given back */
		debug_poison_fill(user + run_from + page, page);
		assert_problem(&layout, header, usable, BLOCK_OK);
		/* writes: the run's first and last byte, a zero page, a poisoned
		 * page, and the poison just before and after the run */
		const size_t offsets[] = { run_from, run_to - 1, run_from + 2 * page + 100,
			run_from + page + 7, run_from - 1, run_to };
		for (size_t w = 0; w < sizeof(offsets) / sizeof(offsets[0]); w++) {
			if (offsets[w] < DEBUG_POISON_START
				|| offsets[w] >= debug_block_user_area(&layout, usable))
				continue; /* the run reaches the record or the area's end */
			unsigned char saved = user[offsets[w]];
			user[offsets[w]] = 0x5a;
			finding = debug_block_check(&layout, header, usable);
			ck_assert_msg(finding.problem == BLOCK_POISON_DAMAGED
					&& finding.offset == offsets[w],
				"phase %zu, write at %zu: problem %d at %zu", phases[p], offsets[w],
				(int)finding.problem, (size_t)finding.offset);
			user[offsets[w]] = saved;
		}
		assert_problem(&layout, header, usable, BLOCK_OK);
		memset(area, 0, size + 4 * page);
	}
	munmap(area, size + 4 * page);
	munmap(copy, size + 4 * page);
}
END_TEST

/* A block too small for a run of DEBUG_DISCARD_MIN bytes of whole pages has
 * none: its poison is checked byte for byte, zeros are damage. */
START_TEST(test_small_block_has_no_discard_run)
{
	struct debug_layout layout;
	area_malloc_owner freed_by = owner_of(6, 2);
	struct debug_block_header *header;
	uintptr_t run_start, run_end;
	size_t usable;

	layout_with_stacks(&layout, 2);
	header = new_block(&layout, 0, 3000, &usable);
	ck_assert(
		!debug_block_discard_run(&layout, (uintptr_t)header, usable, &run_start, &run_end));
	debug_block_quarantine(&layout, header, usable, &freed_by);
	memset((char *)debug_block_user(&layout, header) + 1000, 0, 8);
	ck_assert_int_eq(debug_block_check(&layout, header, usable).offset, 1000);
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
	tcase_add_test(layout, test_discard_run_of_a_large_block);
	tcase_add_test(layout, test_small_block_has_no_discard_run);
	tcase_add_test(layout, test_deep_stacks_through_the_depot);
	tcase_add_test(layout, test_blocks_without_a_depot);
	suite_add_tcase(suite, layout);
	TCase *depot = tcase_create("stack_depot");
	tcase_add_test(depot, test_depot_stores_each_stack_once);
	tcase_add_test(depot, test_full_depot_keeps_first_frames_then_loses);
	tcase_add_test(depot, test_depot_view_refuses_what_it_cannot_trust);
	suite_add_tcase(suite, depot);
	return suite;
}

int main(void)
{
	return run_check_suite(debug_block_suite(), CK_FORK_GETENV);
}
