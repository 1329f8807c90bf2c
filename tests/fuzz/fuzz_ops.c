/*
 * fuzz_ops.c - libFuzzer target: generic/area_malloc/v1 driven by an
 * operation sequence and checked against a reference model after every
 * step. One source, two flavours: the release module (fuzz_ops_release) and
 * the debug module with its companion (fuzz_ops_debug); the module is loaded
 * with get_module() from <builddir>/modules/{release,debug}.
 *
 * Input: a sequence of operations, each an opcode byte (taken mod 16) and
 * its argument bytes; reads past the end yield zeros.
 *   0-1   create_pool   size, address spec, lock spec, protection (tables)
 *   2     delete_pool   pool
 *   3-6   malloc        pool, size
 *   7     calloc        pool, count, size
 *   8-10  realloc       pool, pointer, size
 *   11-14 free          pool, pointer
 *   15    query         debugger commands, and in the debug build the
 *                       companion's set_pool_name, report_leaks, check_pool,
 *                       get_pool_stats
 * A pool argument names a live pool, a deleted one's stale id, NULL, or a
 * forged id; a pointer argument a live block of the pool, of another pool,
 * a freed (stale) pointer, an interior pointer, NULL, and in the debug
 * build a wild pointer or one of a deleted pool. At the end every pool left
 * is deleted.
 *
 * The model knows every live block (address, size, pool, tag) and fills it
 * with a pattern derived from its tag; after every step every byte of every
 * live block is compared with its pattern, and the pools are validated: the
 * release module's "check" debugger command, the companion's check_pool().
 * New blocks must be 16-aligned, inside their pool's area and disjoint from
 * every other live block; calloc blocks read as zero; realloc keeps the
 * prefix (and shrinks in place); an allocation that must fit (an empty pool,
 * half its size) must succeed and one larger than any pool must fail.
 *
 * Misuse: the release build is fed only what it defines as detected (bad
 * or stale pool ids, pointers that are not a live block of the pool: freed,
 * interior, another pool's); its answer is NULL or B_ERROR and no change. A
 * wild pointer is undefined behaviour there, as with free(). The debug build
 * is fed everything; a report hook takes every report and the model names
 * the kind it predicts (area_malloc_debug(7)'s precedence: invalid-pool,
 * cross-pool-free, double-free, invalid-free; leaks at delete_pool and on
 * request), the address, the pool, the owner pool and the leak totals. Its
 * quarantine is modelled as the FIFO it is: after every step the model
 * drops its oldest entries down to the companion's quarantined_blocks, so a
 * stale pointer is known to be a double-free or an invalid-free.
 *
 * The release pattern has no zero byte: a pointer into a block's data can
 * never read as a chunk header, which keeps interior pointers defined for
 * the release build's O(1) plausibility check (heap.h).
 *
 * Locking: none; one thread. The process is made multi-threaded at setup
 * (fuzz_become_multithreaded) so the replay test runs the modules' paths
 * for several threads, as libFuzzer's own thread makes them run.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "fuzz_target.h"

#define MAX_POOLS 6
#define MAX_DEAD_IDS 16
#define MAX_BLOCKS 128
#define MAX_HISTORY 64
#define MAX_STEPS 4096
#define MAX_REPORTS 16
#define PATTERN_PERIOD 256
#define MAX_TRACKED_BLOCK ((size_t)64 * 1024)
#define MAX_TRACKED_BYTES ((size_t)512 * 1024)
/* larger than any area the model creates (1 MiB pools, plus the debug reserve) */
#define SURELY_TOO_LARGE ((size_t)64 << 20)
#define DEBUG_FILL_NEW 0xcc
/* the debug module's max_malloc_fill_size default: bytes past it are not filled */
#define DEFAULT_MAX_MALLOC_FILL ((size_t)4096)
/* the debug module's quarantine_bytes default: no pool holds more back */
#define DEFAULT_QUARANTINE_BYTES ((size_t)1 << 20)
#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)

enum flavor {
	FLAVOR_RELEASE,
	FLAVOR_DEBUG,
};

struct quarantine_entry {
	void *ptr;
	size_t size;
};

struct model_pool {
	bool live;
	const void *id;
	size_t size;  /* create_pool's size */
	area_id area; /* 0 until known (release: from its first block) */
	uintptr_t base;
	size_t area_size;
	struct quarantine_entry *quarantine; /* debug: the module's FIFO, oldest first */
	size_t quarantined;
	size_t quarantine_capacity;
	/* debug: blocks that left the quarantine and nothing was allocated at
	 * their address since: freeing one again is a double free while the
	 * pool log still holds its free, an invalid free once it rolled out */
	struct quarantine_entry *released;
	size_t released_count;
	size_t released_capacity;
};

struct model_block {
	void *ptr;
	size_t size;
	int pool; /* slot in model.pools */
	uint32_t tag;
};

/* A pointer that was a block once: freed, or live when its pool went. */
struct old_pointer {
	void *ptr;
	size_t size;
	const void *pool_id;
	bool pool_deleted;
};

struct expected_report {
	const char *kind;
	const char *or_kind; /* also accepted, its size not checked */
	const void *address;
	bool any_address;
	size_t size;
	bool check_size;
	const void *pool_id;
	const void *owner_pool_id;
	size_t leaked_bytes;
	size_t leaked_blocks;
	bool matched;
};

struct seen_report {
	char kind[48];
	const void *address;
	size_t size;
	const void *pool_id;
	const void *owner_pool_id;
	size_t leaked_bytes;
	size_t leaked_blocks;
};

struct model {
	struct model_pool pools[MAX_POOLS];
	const void *dead_ids[MAX_DEAD_IDS];
	size_t dead_id_count; /* ever; a ring of the last MAX_DEAD_IDS */
	struct model_block blocks[MAX_BLOCKS];
	size_t block_count;
	size_t tracked_bytes;
	struct old_pointer history[MAX_HISTORY];
	size_t history_count; /* ever; a ring of the last MAX_HISTORY */
	uint32_t next_tag;
	size_t step;
	const char *operation;
	struct expected_report expected[MAX_REPORTS];
	size_t expected_count;
	struct seen_report seen[MAX_REPORTS];
	size_t seen_count;
	bool too_many_reports;
};

/* What a free or realloc of a pointer must do. */
enum verdict_kind {
	VERDICT_INVALID_POOL,
	VERDICT_VALID,          /* a live block of the pool */
	VERDICT_DOUBLE_FREE,    /* debug: a block in the pool's quarantine */
	VERDICT_FREED_LONG_AGO, /* debug: a block that left the quarantine */
	VERDICT_INVALID_FREE,   /* debug: not a block of any pool */
	VERDICT_CROSS_POOL,     /* debug: in another pool's area */
	VERDICT_IGNORED,        /* release: not a live block of the pool: refused */
};

struct verdict {
	enum verdict_kind kind;
	size_t block; /* VALID: index in model.blocks */
	size_t size;  /* DOUBLE_FREE, FREED_LONG_AGO: the freed block's size */
	int owner;    /* CROSS_POOL: slot of the owning pool */
};

struct pool_choice {
	const void *id;
	int slot; /* -1: not a live pool */
};

static enum flavor flavor;
static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd;
static struct model model;
static uint8_t pattern[MAX_TRACKED_BLOCK + PATTERN_PERIOD];
static char wild_static[64] __attribute__((aligned(16)));
static void *wild_heap;
static char node_dir[PATH_MAX];
static FILE *kprintf_sink; /* /dev/null: debugger command output */

/* ---- reports (debug) ---- */

static bool take_report(const area_malloc_report *report, void *cookie)
{
	struct seen_report *seen;

	(void)cookie;
	FUZZ_CHECK(report->kind != NULL && report->text != NULL
			&& strstr(report->text, report->kind) != NULL,
		"step %zu (%s): report of kind '%s' whose text does not name it", model.step,
		model.operation, report->kind != NULL ? report->kind : "(null)");
	if (model.seen_count == MAX_REPORTS) {
		model.too_many_reports = true;
		return true;
	}
	seen = &model.seen[model.seen_count++];
	snprintf(seen->kind, sizeof(seen->kind), "%s", report->kind);
	seen->address = report->address;
	seen->size = report->size;
	seen->pool_id = report->pool_id;
	seen->owner_pool_id = report->owner_pool_id;
	seen->leaked_bytes = report->leaked_bytes;
	seen->leaked_blocks = report->leaked_blocks;
	return true;
}

static struct expected_report *expect(const char *kind, const void *pool_id, const void *address)
{
	struct expected_report *expected;

	if (flavor != FLAVOR_DEBUG)
		return NULL;
	FUZZ_CHECK(model.expected_count < MAX_REPORTS, "too many expected reports");
	expected = &model.expected[model.expected_count++];
	memset(expected, 0, sizeof(*expected));
	expected->kind = kind;
	expected->pool_id = pool_id;
	expected->address = address;
	return expected;
}

static void expect_leak(const void *pool_id, size_t bytes, size_t blocks)
{
	struct expected_report *expected = expect("detected memory leaks", pool_id, NULL);

	if (expected == NULL)
		return;
	expected->any_address = true;
	expected->leaked_bytes = bytes;
	expected->leaked_blocks = blocks;
}

static bool report_matches(const struct expected_report *expected, const struct seen_report *seen)
{
	bool alternative = expected->or_kind != NULL && strcmp(expected->or_kind, seen->kind) == 0;

	if ((strcmp(expected->kind, seen->kind) != 0 && !alternative)
		|| expected->pool_id != seen->pool_id)
		return false;
	if (!expected->any_address && expected->address != seen->address)
		return false;
	if (expected->check_size && !alternative && expected->size != seen->size)
		return false;
	if (strcmp(seen->kind, "cross-pool-free") == 0
		&& expected->owner_pool_id != seen->owner_pool_id)
		return false;
	if (strcmp(seen->kind, "detected memory leaks") == 0
		&& (expected->leaked_bytes != seen->leaked_bytes
			|| expected->leaked_blocks != seen->leaked_blocks))
		return false;
	return true;
}

static void describe_reports(char *text, size_t size)
{
	size_t used = 0;

	text[0] = '\0';
	for (size_t i = 0; i < model.expected_count && used < size; i++)
		used += (size_t)snprintf(text + used, size - used,
			" expected %s at %p (pool %p, size %zu, owner %p, leaked %zu/%zu);",
			model.expected[i].kind, model.expected[i].address,
			model.expected[i].pool_id, model.expected[i].size,
			model.expected[i].owner_pool_id, model.expected[i].leaked_bytes,
			model.expected[i].leaked_blocks);
	for (size_t i = 0; i < model.seen_count && used < size; i++)
		used += (size_t)snprintf(text + used, size - used,
			" got %s at %p (pool %p, size %zu, owner %p, leaked %zu/%zu);",
			model.seen[i].kind, model.seen[i].address, model.seen[i].pool_id,
			model.seen[i].size, model.seen[i].owner_pool_id, model.seen[i].leaked_bytes,
			model.seen[i].leaked_blocks);
}

/* Every report seen is one expected, and every expected one was seen. */
static void compare_reports(void)
{
	char text[1536];

	for (size_t i = 0; i < model.seen_count; i++) {
		bool found = false;
		for (size_t j = 0; j < model.expected_count && !found; j++) {
			if (!model.expected[j].matched
				&& report_matches(&model.expected[j], &model.seen[i])) {
				model.expected[j].matched = true;
				found = true;
			}
		}
		if (!found) {
			describe_reports(text, sizeof(text));
			fuzz_fail("step %zu (%s): unexpected report '%s':%s", model.step,
				model.operation, model.seen[i].kind, text);
		}
	}
	if (model.too_many_reports || model.seen_count != model.expected_count) {
		describe_reports(text, sizeof(text));
		fuzz_fail("step %zu (%s): %zu report(s)%s, %zu expected:%s", model.step,
			model.operation, model.seen_count,
			model.too_many_reports ? " and more" : "", model.expected_count, text);
	}
	model.seen_count = 0;
	model.expected_count = 0;
}

/* ---- blocks ---- */

static const uint8_t *pattern_of(uint32_t tag)
{
	return pattern + (tag * 37u) % PATTERN_PERIOD;
}

static void verify_bytes(const void *ptr, const uint8_t *want, size_t size, const char *what)
{
	const uint8_t *have = ptr;

	if (memcmp(have, want, size) == 0)
		return;
	for (size_t i = 0; i < size; i++) {
		FUZZ_CHECK(have[i] == want[i],
			"step %zu (%s): %s %p: byte %zu of %zu is 0x%02x, "
			"expected 0x%02x",
			model.step, model.operation, what, ptr, i, size, have[i], want[i]);
	}
}

/* bytes [from, to) of ptr all hold fill (0 or DEBUG_FILL_NEW) */
static void verify_fill(const void *ptr, uint8_t fill, size_t from, size_t to, const char *what)
{
	static uint8_t zeros[4096], news[4096];
	const uint8_t *bytes = ptr, *want = fill == 0 ? zeros : news;

	FUZZ_CHECK(fill == 0 || fill == DEBUG_FILL_NEW, "no reference for fill 0x%02x", fill);
	if (news[0] != DEBUG_FILL_NEW)
		memset(news, DEBUG_FILL_NEW, sizeof(news));
	for (size_t at = from; at < to;) {
		size_t chunk = to - at < sizeof(zeros) ? to - at : sizeof(zeros);
		if (memcmp(bytes + at, want, chunk) != 0) {
			for (size_t i = at; i < at + chunk; i++)
				FUZZ_CHECK(bytes[i] == fill,
					"step %zu (%s): %s %p: byte %zu of %zu is "
					"0x%02x, expected 0x%02x",
					model.step, model.operation, what, ptr, i, to, bytes[i],
					fill);
		}
		at += chunk;
	}
}

static void verify_all_blocks(void)
{
	for (size_t i = 0; i < model.block_count; i++) {
		const struct model_block *block = &model.blocks[i];
		verify_bytes(block->ptr, pattern_of(block->tag), block->size, "live block");
	}
}

static bool area_contains(const struct model_pool *pool, const void *ptr)
{
	uintptr_t address = (uintptr_t)ptr;

	return pool->area != 0 && address >= pool->base && address - pool->base < pool->area_size;
}

static ssize_t find_live_block(int slot, const void *ptr)
{
	for (size_t i = 0; i < model.block_count; i++) {
		if (model.blocks[i].ptr == ptr && model.blocks[i].pool == slot)
			return (ssize_t)i;
	}
	return -1;
}

static ssize_t find_quarantined(const struct model_pool *pool, const void *ptr)
{
	for (size_t i = 0; i < pool->quarantined; i++) {
		if (pool->quarantine[i].ptr == ptr)
			return (ssize_t)i;
	}
	return -1;
}

/* Appends {ptr, size} to a growing array of entries. */
static void entries_push(struct quarantine_entry **entries, size_t *count, size_t *capacity,
	void *ptr, size_t size)
{
	if (*count == *capacity) {
		size_t grown_capacity = *capacity ? *capacity * 2 : 64;
		struct quarantine_entry *grown = realloc(*entries, grown_capacity * sizeof(*grown));
		FUZZ_CHECK(grown != NULL, "out of memory");
		*entries = grown;
		*capacity = grown_capacity;
	}
	(*entries)[(*count)++] = (struct quarantine_entry){ ptr, size };
}

static ssize_t find_released(const struct model_pool *pool, const void *ptr)
{
	for (size_t i = 0; i < pool->released_count; i++) {
		if (pool->released[i].ptr == ptr)
			return (ssize_t)i;
	}
	return -1;
}

/* Something was allocated at ptr, or it was freed again: the pool log's
 * newest event there is no longer the old free. */
static void forget_released(struct model_pool *pool, const void *ptr)
{
	ssize_t index = find_released(pool, ptr);

	if (index >= 0)
		pool->released[index] = pool->released[--pool->released_count];
}

/* The area of a release pool, learnt from its first block. */
static void learn_area(int slot, void *ptr)
{
	struct model_pool *pool = &model.pools[slot];
	area_id area = area_for(ptr);
	area_info info;

	FUZZ_CHECK(area > 0, "step %zu (%s): block %p lies in no area", model.step, model.operation,
		ptr);
	if (pool->area != 0) {
		FUZZ_CHECK(area == pool->area,
			"step %zu (%s): block %p of pool %p lies in area %d, "
			"its pool's blocks in area %d",
			model.step, model.operation, ptr, pool->id, (int)area, (int)pool->area);
		return;
	}
	FUZZ_CHECK(get_area_info(area, &info) == B_OK, "no area_info for area %d", (int)area);
	for (int other = 0; other < MAX_POOLS; other++)
		FUZZ_CHECK(!model.pools[other].live || model.pools[other].area != area,
			"step %zu (%s): pools %p and %p share area %d", model.step, model.operation,
			pool->id, model.pools[other].id, (int)area);
	pool->area = area;
	pool->base = (uintptr_t)info.address;
	pool->area_size = info.size;
}

/* Where a new block may be: aligned, in its area, over no other block. */
static void check_new_block(int slot, void *ptr, size_t size, ssize_t replacing)
{
	const struct model_pool *pool = &model.pools[slot];
	uintptr_t address = (uintptr_t)ptr, extent = size > 0 ? size : 1;

	FUZZ_CHECK(address % 16 == 0, "step %zu (%s): block %p is not 16-byte aligned", model.step,
		model.operation, ptr);
	if (flavor == FLAVOR_RELEASE)
		learn_area(slot, ptr);
	forget_released(&model.pools[slot], ptr);
	FUZZ_CHECK(area_contains(pool, ptr) && pool->area_size - (address - pool->base) >= size,
		"step %zu (%s): block %p (%zu bytes) is not inside its pool's area [%#lx, +%zu)",
		model.step, model.operation, ptr, size, (unsigned long)pool->base, pool->area_size);
	for (size_t i = 0; i < model.block_count; i++) {
		const struct model_block *other = &model.blocks[i];
		uintptr_t start = (uintptr_t)other->ptr,
			  end = start + (other->size ? other->size : 1);
		if ((ssize_t)i == replacing)
			continue;
		FUZZ_CHECK(address + extent <= start || address >= end,
			"step %zu (%s): new block %p (%zu bytes) overlaps live block %p (%zu bytes)",
			model.step, model.operation, ptr, size, other->ptr, other->size);
	}
}

static void remember_old_pointer(void *ptr, size_t size, const void *pool_id, bool pool_deleted)
{
	struct old_pointer *old = &model.history[model.history_count++ % MAX_HISTORY];

	old->ptr = ptr;
	old->size = size;
	old->pool_id = pool_id;
	old->pool_deleted = pool_deleted;
}

static void quarantine_push(struct model_pool *pool, void *ptr, size_t size)
{
	if (flavor != FLAVOR_DEBUG)
		return;
	forget_released(pool, ptr);
	entries_push(&pool->quarantine, &pool->quarantined, &pool->quarantine_capacity, ptr, size);
}

/* The module freed a block of the pool: it went to the quarantine (debug). */
static void note_freed(int slot, void *ptr, size_t size)
{
	quarantine_push(&model.pools[slot], ptr, size);
	remember_old_pointer(ptr, size, model.pools[slot].id, false);
}

static void forget_block(size_t index)
{
	model.tracked_bytes -= model.blocks[index].size;
	model.blocks[index] = model.blocks[--model.block_count];
}

/* A block the model does not keep (too large, or the model is full):
 * touch both ends, then free it as a driver would. */
static void probe_and_free(int slot, void *ptr, size_t size)
{
	uint8_t *bytes = ptr;

	if (size > 0) {
		bytes[0] = 0x5a;
		bytes[size - 1] = 0xa5;
	}
	FUZZ_CHECK(am->free(model.pools[slot].id, ptr) == NULL, "free returned non-NULL");
	note_freed(slot, ptr, size);
}

/* Keeps a new block (filled with its pattern) or probes and frees it. */
static void keep_block(int slot, void *ptr, size_t size)
{
	struct model_block *block;

	if (size > MAX_TRACKED_BLOCK || model.block_count == MAX_BLOCKS
		|| model.tracked_bytes + size > MAX_TRACKED_BYTES) {
		probe_and_free(slot, ptr, size);
		return;
	}
	block = &model.blocks[model.block_count++];
	block->ptr = ptr;
	block->size = size;
	block->pool = slot;
	block->tag = model.next_tag++;
	model.tracked_bytes += size;
	memcpy(ptr, pattern_of(block->tag), size);
}

static void pool_totals(int slot, size_t *bytes, size_t *blocks)
{
	*bytes = 0;
	*blocks = 0;
	for (size_t i = 0; i < model.block_count; i++) {
		if (model.blocks[i].pool == slot) {
			*bytes += model.blocks[i].size;
			(*blocks)++;
		}
	}
}

/* ---- pools ---- */

static size_t live_slots(int *slots)
{
	size_t count = 0;

	for (int slot = 0; slot < MAX_POOLS; slot++) {
		if (model.pools[slot].live)
			slots[count++] = slot;
	}
	return count;
}

static struct pool_choice resolve_pool(const void *id)
{
	for (int slot = 0; slot < MAX_POOLS; slot++) {
		if (model.pools[slot].live && model.pools[slot].id == id)
			return (struct pool_choice){ id, slot };
	}
	return (struct pool_choice){ id, -1 };
}

static struct pool_choice pick_pool(struct fuzz_input *input)
{
	uint8_t choice = fuzz_u8(input);
	int live[MAX_POOLS];
	size_t count = live_slots(live);
	const void *id;

	if (choice < 0xe0 && count > 0)
		return (struct pool_choice){ model.pools[live[choice % count]].id,
			live[choice % count] };
	switch (choice & 7) {
	case 0:
	case 1: {
		size_t held =
			model.dead_id_count < MAX_DEAD_IDS ? model.dead_id_count : MAX_DEAD_IDS;
		id = held > 0 ? model.dead_ids[(choice >> 3) % held] : NULL;
		break;
	}
	case 2:
		id = NULL;
		break;
	case 3:
		id = (const void *)(uintptr_t)fuzz_u64(input);
		break;
	case 4: /* the same slot, a generation never handed out */
		id = count > 0 ? (const void *)((uintptr_t)model.pools[live[0]].id ^ (1ul << 16))
			       : (const void *)1;
		break;
	case 5: /* the next slot, the same generation */
		id = count > 0 ? (const void *)((uintptr_t)model.pools[live[choice % count]].id + 1)
			       : (const void *)wild_static;
		break;
	case 6: /* the tag bit cleared: a canonical address, never an id */
		id = count > 0 ? (const void *)((uintptr_t)model.pools[live[0]].id & ~(1ul << 63))
			       : wild_heap;
		break;
	default:
		id = wild_static;
		break;
	}
	/* a forged id may still name a live pool */
	return resolve_pool(id);
}

/* A pool's area in the debug build, from the companion and the area. */
static void learn_debug_area(int slot)
{
	struct model_pool *pool = &model.pools[slot];
	area_malloc_pool_stats stats;
	area_info info;

	FUZZ_CHECK(amd->get_pool_stats(pool->id, &stats) == B_OK, "no statistics for a new pool");
	FUZZ_CHECK(stats.size == pool->size && stats.live_blocks == 0 && stats.used == 0
			&& stats.quarantined_blocks == 0,
		"step %zu: a new pool's statistics are wrong", model.step);
	FUZZ_CHECK(get_area_info(stats.area, &info) == B_OK && info.size == stats.area_size,
		"step %zu: pool area %d not found or of another size", model.step, (int)stats.area);
	for (int other = 0; other < MAX_POOLS; other++) {
		const struct model_pool *them = &model.pools[other];
		FUZZ_CHECK(other == slot || !them->live
				|| (uintptr_t)info.address + info.size <= them->base
				|| (uintptr_t)info.address >= them->base + them->area_size,
			"step %zu: the areas of pools %p and %p overlap", model.step, pool->id,
			them->id);
	}
	pool->area = stats.area;
	pool->base = (uintptr_t)info.address;
	pool->area_size = info.size;
}

enum outcome { MUST_FAIL, MAY_FAIL, MUST_SUCCEED };

struct spec_choice {
	uint32 value;
	enum outcome outcome;
};

static const size_t pool_sizes[] = { 1, 24, 100, 1000, 4096, 10000, 12289, 65536, 262144, 1048576,
	0, SIZE_MAX, (size_t)1 << 62, (size_t)1 << 50 };
#define VALID_POOL_SIZES 10

static const struct spec_choice address_specs[] = {
	{ B_ANY_ADDRESS, MUST_SUCCEED },
	{ B_ANY_KERNEL_ADDRESS, MUST_SUCCEED },
	{ B_ANY_KERNEL_BLOCK_ADDRESS, MUST_SUCCEED },
	{ B_RANDOMIZED_ANY_ADDRESS, MUST_SUCCEED },
	{ B_BASE_ADDRESS, MUST_SUCCEED },
	{ B_RANDOMIZED_BASE_ADDRESS, MUST_SUCCEED },
	{ B_EXACT_ADDRESS, MUST_FAIL },
	{ B_CLONE_ADDRESS, MUST_FAIL },
	{ 8, MUST_FAIL },
	{ 0xffffffffu, MUST_FAIL },
};

static const struct spec_choice lock_specs[] = {
	{ B_NO_LOCK, MUST_SUCCEED },
	{ B_LAZY_LOCK, MUST_SUCCEED },
	{ B_FULL_LOCK, MUST_SUCCEED },
	{ B_CONTIGUOUS, MUST_SUCCEED },
	{ B_LOMEM, MAY_FAIL },
	{ B_32_BIT_FULL_LOCK, MAY_FAIL },
	{ B_32_BIT_CONTIGUOUS, MAY_FAIL },
	{ 7, MUST_FAIL },
	{ 0xffffffffu, MUST_FAIL },
};

static const struct spec_choice protections[] = {
	{ B_READ_AREA | B_WRITE_AREA, MUST_SUCCEED },
	{ KERNEL_RW, MUST_SUCCEED },
	{ B_WRITE_AREA, MUST_SUCCEED },
	{ B_KERNEL_WRITE_AREA, MUST_SUCCEED },
	{ KERNEL_RW | B_CLONEABLE_AREA, MUST_SUCCEED },
	{ B_READ_AREA, MUST_FAIL },
	{ B_KERNEL_READ_AREA, MUST_FAIL },
	{ 0, MUST_FAIL },
};

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

static enum outcome weaker(enum outcome a, enum outcome b)
{
	return a < b ? a : b;
}

static void op_create_pool(struct fuzz_input *input)
{
	size_t size_index = fuzz_u8(input) % COUNT_OF(pool_sizes);
	const struct spec_choice *address =
		&address_specs[fuzz_u8(input) % COUNT_OF(address_specs)];
	const struct spec_choice *lock = &lock_specs[fuzz_u8(input) % COUNT_OF(lock_specs)];
	const struct spec_choice *protection = &protections[fuzz_u8(input) % COUNT_OF(protections)];
	size_t size = pool_sizes[size_index];
	enum outcome outcome = weaker(weaker(address->outcome, lock->outcome),
		weaker(protection->outcome,
			size_index < VALID_POOL_SIZES ? MUST_SUCCEED : MUST_FAIL));
	int live[MAX_POOLS];
	const void *id;
	int slot;

	model.operation = "create_pool";
	if (live_slots(live) == MAX_POOLS)
		return;
	id = am->create_pool(address->value, size, lock->value, protection->value);
	FUZZ_CHECK(id != NULL || outcome != MUST_SUCCEED,
		"step %zu: create_pool(%#x, %zu, %#x, %#x) failed", model.step, address->value,
		size, lock->value, protection->value);
	FUZZ_CHECK(id == NULL || outcome != MUST_FAIL,
		"step %zu: create_pool(%#x, %zu, %#x, %#x) succeeded", model.step, address->value,
		size, lock->value, protection->value);
	if (id == NULL)
		return;
	FUZZ_CHECK(resolve_pool(id).slot < 0, "create_pool returned the id of a live pool");
	for (slot = 0; model.pools[slot].live; slot++)
		;
	model.pools[slot] = (struct model_pool){ .live = true, .id = id, .size = size };
	if (flavor == FLAVOR_DEBUG)
		learn_debug_area(slot);
}

/* A successful delete_pool: every block of the pool is gone with it. */
static void forget_pool(int slot)
{
	struct model_pool *pool = &model.pools[slot];

	for (size_t i = 0; i < model.history_count && i < MAX_HISTORY; i++) {
		if (model.history[i].pool_id == pool->id)
			model.history[i].pool_deleted = true;
	}
	for (size_t i = 0; i < model.block_count;) {
		if (model.blocks[i].pool == slot) {
			remember_old_pointer(model.blocks[i].ptr, model.blocks[i].size, pool->id,
				true);
			forget_block(i);
		} else {
			i++;
		}
	}
	model.dead_ids[model.dead_id_count++ % MAX_DEAD_IDS] = pool->id;
	free(pool->quarantine);
	free(pool->released);
	memset(pool, 0, sizeof(*pool));
}

static void delete_pool(struct pool_choice pool)
{
	status_t status;

	model.operation = "delete_pool";
	if (pool.slot >= 0) {
		size_t bytes, blocks;
		pool_totals(pool.slot, &bytes, &blocks);
		if (blocks > 0)
			expect_leak(pool.id, bytes, blocks);
	} else {
		expect("invalid-pool", pool.id, NULL);
	}
	status = am->delete_pool(pool.id);
	FUZZ_CHECK(status == (pool.slot >= 0 ? B_OK : B_ERROR),
		"step %zu: delete_pool(%p) of a %s pool returned %d", model.step, pool.id,
		pool.slot >= 0 ? "live" : "dead or forged", (int)status);
	if (pool.slot >= 0)
		forget_pool(pool.slot);
}

/* ---- sizes and pointers ---- */

static size_t pick_size(struct fuzz_input *input, const struct pool_choice *pool)
{
	uint8_t choice = fuzz_u8(input);
	size_t pool_size = pool->slot >= 0 ? model.pools[pool->slot].size : 4096;

	if (choice < 112)
		return choice;
	if (choice < 176)
		return 112 + (size_t)(choice - 112) * 16 + (fuzz_u8(input) & 15);
	if (choice < 232)
		return fuzz_u16(input) % 8192;
	if (choice < 248)
		return fuzz_u16(input) + (size_t)(fuzz_u8(input) & 1) * 65536;
	switch (choice - 248) {
	case 0:
		return SIZE_MAX;
	case 1:
		return SIZE_MAX / 2 + 1;
	case 2:
		return (size_t)1 << 40;
	case 3:
		return pool_size;
	case 4:
		return pool_size / 2;
	case 5:
		return pool_size * 2 + 4096;
	case 6:
		return SIZE_MAX - 15;
	default:
		return (size_t)1 << 20;
	}
}

static bool block_matches(const struct model_block *block, int slot, bool same_pool)
{
	return slot < 0 || (block->pool == slot) == same_pool;
}

/* The index-th live block (cyclically) of the pool or of the others. */
static struct model_block *nth_block(unsigned index, int slot, bool same_pool)
{
	size_t matching = 0;

	for (size_t i = 0; i < model.block_count; i++)
		matching += block_matches(&model.blocks[i], slot, same_pool);
	if (matching == 0)
		return NULL;
	index %= matching;
	for (size_t i = 0; i < model.block_count; i++) {
		if (block_matches(&model.blocks[i], slot, same_pool) && index-- == 0)
			return &model.blocks[i];
	}
	return NULL;
}

static struct old_pointer *nth_old_pointer(unsigned index, bool pool_deleted)
{
	size_t held = model.history_count < MAX_HISTORY ? model.history_count : MAX_HISTORY;
	size_t matching = 0;

	for (size_t i = 0; i < held; i++)
		matching += model.history[i].pool_deleted == pool_deleted;
	if (matching == 0)
		return NULL;
	index %= matching;
	for (size_t i = 0; i < held; i++) {
		if (model.history[i].pool_deleted == pool_deleted && index-- == 0)
			return &model.history[i];
	}
	return NULL;
}

static void *wild_pointer(unsigned index, int slot)
{
	int live[MAX_POOLS];
	size_t count = live_slots(live);
	const struct model_pool *pool = slot >= 0 ? &model.pools[slot]
		: count > 0                       ? &model.pools[live[index % count]]
						  : NULL;

	switch (index % 8) {
	case 0:
		return wild_static + (index & 16);
	case 1:
		return __builtin_frame_address(0);
	case 2:
		return wild_heap;
	case 3:
		return (void *)(uintptr_t)0x10;
	case 4:
		return (void *)(uintptr_t)0x8000000000000010ull;
	case 5:
		return (void *)(uintptr_t)-16;
	case 6: /* the pool's own control pages */
		return pool != NULL ? (void *)pool->base : NULL;
	default: /* another pool's control pages, or the end of an area */
		if (count > 1)
			return (void *)model.pools[live[(index / 8) % count]].base;
		return pool != NULL ? (void *)(pool->base + pool->area_size - 16) : NULL;
	}
}

/*
 * The pointer argument (see the header). The release build gets no wild
 * pointer and none of a deleted pool: those selectors fall back to a freed
 * pointer and another pool's block.
 */
static void *pick_pointer(struct fuzz_input *input, int slot)
{
	uint8_t choice = fuzz_u8(input);
	unsigned kind = choice & 7, index = choice >> 3;
	struct model_block *block = NULL;
	struct old_pointer *old;

	if (choice == 0xff)
		return NULL;
	if (flavor == FLAVOR_RELEASE && kind == 6)
		kind = 4;
	if (flavor == FLAVOR_RELEASE && kind == 7)
		kind = 3;
	switch (kind) {
	case 0:
	case 1:
	case 2:
		block = nth_block(index, slot, true);
		if (block == NULL)
			block = nth_block(index, slot, false);
		return block != NULL ? block->ptr : NULL;
	case 3:
		block = nth_block(index, slot, false);
		return block != NULL ? block->ptr : NULL;
	case 4:
		old = nth_old_pointer(index, false);
		return old != NULL ? old->ptr : NULL;
	case 5: {
		uint16_t offset = fuzz_u16(input);
		block = nth_block(index, slot, true);
		if (block == NULL)
			block = nth_block(index, slot, false);
		if (block == NULL)
			return NULL;
		/* release: inside the pattern bytes only; debug: into the canary too */
		if (flavor == FLAVOR_RELEASE)
			return block->size >= 2
				? (char *)block->ptr + 1 + offset % (block->size - 1)
				: NULL;
		return (char *)block->ptr + 1 + offset % (block->size + 8);
	}
	case 6:
		return wild_pointer(index, slot);
	default:
		old = nth_old_pointer(index, true);
		return old != NULL ? old->ptr : NULL;
	}
}

/* What free(pool, ptr) or realloc(pool, ptr, n) must do, ptr not NULL. */
static struct verdict classify(struct pool_choice pool, void *ptr)
{
	struct verdict verdict = { VERDICT_INVALID_POOL, 0, 0, -1 };
	ssize_t index;

	if (pool.slot < 0)
		return verdict;
	index = find_live_block(pool.slot, ptr);
	if (index >= 0) {
		verdict.kind = VERDICT_VALID;
		verdict.block = (size_t)index;
		return verdict;
	}
	if (flavor == FLAVOR_RELEASE) {
		verdict.kind = VERDICT_IGNORED;
		return verdict;
	}
	if (area_contains(&model.pools[pool.slot], ptr)) {
		index = find_quarantined(&model.pools[pool.slot], ptr);
		verdict.kind = index >= 0 ? VERDICT_DOUBLE_FREE : VERDICT_INVALID_FREE;
		if (index >= 0) {
			verdict.size = model.pools[pool.slot].quarantine[index].size;
			return verdict;
		}
		index = find_released(&model.pools[pool.slot], ptr);
		if (index >= 0) {
			verdict.kind = VERDICT_FREED_LONG_AGO;
			verdict.size = model.pools[pool.slot].released[index].size;
		}
		return verdict;
	}
	verdict.kind = VERDICT_INVALID_FREE;
	for (int other = 0; other < MAX_POOLS; other++) {
		if (model.pools[other].live && area_contains(&model.pools[other], ptr)) {
			verdict.kind = VERDICT_CROSS_POOL;
			verdict.owner = other;
		}
	}
	return verdict;
}

/* The report a refused free/realloc must make (debug). */
static void expect_refusal(struct pool_choice pool, void *ptr, const struct verdict *verdict)
{
	struct expected_report *expected;

	switch (verdict->kind) {
	case VERDICT_INVALID_POOL:
		expect("invalid-pool", pool.id, ptr);
		break;
	case VERDICT_DOUBLE_FREE:
		expected = expect("double-free", pool.id, ptr);
		if (expected != NULL) {
			expected->size = verdict->size;
			expected->check_size = true;
		}
		break;
	case VERDICT_FREED_LONG_AGO:
		/* the pool log may have rolled its free out: then it is only an
		 * address no block starts at */
		expected = expect("double-free", pool.id, ptr);
		if (expected != NULL) {
			expected->or_kind = "invalid-free";
			expected->size = verdict->size;
			expected->check_size = true;
		}
		break;
	case VERDICT_INVALID_FREE:
		expect("invalid-free", pool.id, ptr);
		break;
	case VERDICT_CROSS_POOL:
		expected = expect("cross-pool-free", pool.id, ptr);
		if (expected != NULL)
			expected->owner_pool_id = model.pools[verdict->owner].id;
		break;
	default:
		break;
	}
}

/* ---- allocation ---- */

/* A request that must fit: the pool is empty and asks for half its size. */
static bool must_fit(int slot, size_t size)
{
	size_t bytes, blocks;

	pool_totals(slot, &bytes, &blocks);
	return blocks == 0 && size <= model.pools[slot].size / 2;
}

static void allocated(struct pool_choice pool, void *ptr, size_t size, bool zeroed)
{
	check_new_block(pool.slot, ptr, size, -1);
	if (zeroed)
		verify_fill(ptr, 0, 0, size, "calloc block");
	else if (flavor == FLAVOR_DEBUG)
		verify_fill(ptr, DEBUG_FILL_NEW, 0,
			size < DEFAULT_MAX_MALLOC_FILL ? size : DEFAULT_MAX_MALLOC_FILL,
			"new block");
	keep_block(pool.slot, ptr, size);
}

static void check_allocation_result(struct pool_choice pool, void *ptr, size_t size,
	bool overflowed)
{
	FUZZ_CHECK(ptr == NULL || pool.slot >= 0,
		"step %zu (%s): %p from pool id %p, which is "
		"not a live pool",
		model.step, model.operation, ptr, pool.id);
	if (pool.slot < 0)
		return;
	FUZZ_CHECK(ptr == NULL || (!overflowed && size < SURELY_TOO_LARGE),
		"step %zu (%s): a request of %zu bytes%s succeeded", model.step, model.operation,
		size, overflowed ? " (overflowing)" : "");
	FUZZ_CHECK(ptr != NULL || overflowed || !must_fit(pool.slot, size),
		"step %zu (%s): %zu bytes from an empty pool of %zu failed", model.step,
		model.operation, size, model.pools[pool.slot].size);
}

static void op_malloc(struct fuzz_input *input)
{
	struct pool_choice pool = pick_pool(input);
	size_t size = pick_size(input, &pool);
	void *ptr;

	model.operation = "malloc";
	if (pool.slot < 0)
		expect("invalid-pool", pool.id, NULL);
	ptr = am->malloc(pool.id, size);
	check_allocation_result(pool, ptr, size, false);
	if (ptr != NULL)
		allocated(pool, ptr, size, false);
}

static const size_t calloc_counts[] = { 0, 1, 2, 3, 5, 16, 100, 1000, SIZE_MAX, SIZE_MAX / 2 + 1,
	(size_t)1 << 32, (size_t)1 << 33 };

static void op_calloc(struct fuzz_input *input)
{
	struct pool_choice pool = pick_pool(input);
	size_t count = calloc_counts[fuzz_u8(input) % COUNT_OF(calloc_counts)];
	size_t size = pick_size(input, &pool), total;
	bool overflowed = __builtin_mul_overflow(count, size, &total);
	void *ptr;

	model.operation = "calloc";
	if (pool.slot < 0)
		expect("invalid-pool", pool.id, NULL);
	ptr = am->calloc(pool.id, count, size);
	check_allocation_result(pool, ptr, overflowed ? SIZE_MAX : total, overflowed);
	if (ptr != NULL)
		allocated(pool, ptr, total, true);
}

/* realloc of a live block of the pool, size > 0. */
static void realloc_block(struct pool_choice pool, size_t index, size_t size)
{
	struct model_block old = model.blocks[index];
	void *ptr;

	ptr = am->realloc(pool.id, old.ptr, size);
	if (ptr == NULL) {
		FUZZ_CHECK(size > old.size,
			"step %zu (realloc): shrinking %p from %zu to %zu bytes "
			"failed",
			model.step, old.ptr, old.size, size);
		return;
	}
	FUZZ_CHECK(size < SURELY_TOO_LARGE,
		"step %zu (realloc): growing %p to %zu bytes "
		"succeeded",
		model.step, old.ptr, size);
	FUZZ_CHECK(size > old.size || ptr == old.ptr,
		"step %zu (realloc): shrinking %p from %zu "
		"to %zu bytes moved it to %p",
		model.step, old.ptr, old.size, size, ptr);
	check_new_block(pool.slot, ptr, size, (ssize_t)index);
	verify_bytes(ptr, pattern_of(old.tag), old.size < size ? old.size : size,
		"reallocated block");
	if (flavor == FLAVOR_DEBUG && size > old.size && old.size < DEFAULT_MAX_MALLOC_FILL)
		verify_fill(ptr, DEBUG_FILL_NEW, old.size,
			size < DEFAULT_MAX_MALLOC_FILL ? size : DEFAULT_MAX_MALLOC_FILL,
			"grown block");
	forget_block(index);
	if (ptr != old.ptr)
		note_freed(pool.slot, old.ptr, old.size);
	keep_block(pool.slot, ptr, size);
}

static void op_realloc(struct fuzz_input *input)
{
	struct pool_choice pool = pick_pool(input);
	void *old = pick_pointer(input, pool.slot);
	size_t size = pick_size(input, &pool);
	struct verdict verdict;
	void *ptr;

	model.operation = "realloc";
	if (old == NULL) {
		if (pool.slot < 0)
			expect("invalid-pool", pool.id, NULL);
		ptr = am->realloc(pool.id, NULL, size);
		check_allocation_result(pool, ptr, size, false);
		if (ptr != NULL)
			allocated(pool, ptr, size, false);
		return;
	}
	verdict = classify(pool, old);
	if (verdict.kind != VERDICT_VALID) {
		expect_refusal(pool, old, &verdict);
		ptr = am->realloc(pool.id, old, size);
		FUZZ_CHECK(ptr == NULL,
			"step %zu: realloc(%p, %p, %zu) of a pointer that is not a "
			"live block of the pool returned %p",
			model.step, pool.id, old, size, ptr);
		return;
	}
	if (size == 0) {
		struct model_block block = model.blocks[verdict.block];
		ptr = am->realloc(pool.id, old, 0);
		FUZZ_CHECK(ptr == NULL, "step %zu: realloc(%p, 0) returned %p", model.step, old,
			ptr);
		forget_block(verdict.block);
		note_freed(pool.slot, block.ptr, block.size);
		return;
	}
	realloc_block(pool, verdict.block, size);
}

static void op_free(struct fuzz_input *input)
{
	struct pool_choice pool = pick_pool(input);
	void *ptr = pick_pointer(input, pool.slot);
	struct verdict verdict = { VERDICT_IGNORED, 0, 0, -1 };
	void *result;

	model.operation = "free";
	/* free(pool, NULL) does nothing, whatever the pool */
	if (ptr != NULL) {
		verdict = classify(pool, ptr);
		expect_refusal(pool, ptr, &verdict);
	}
	result = am->free(pool.id, ptr);
	FUZZ_CHECK(result == NULL, "step %zu: free returned %p", model.step, result);
	if (verdict.kind == VERDICT_VALID) {
		struct model_block block = model.blocks[verdict.block];
		forget_block(verdict.block);
		note_freed(pool.slot, block.ptr, block.size);
	}
}

/* ---- queries ---- */

static int debug_command(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int debug_command(const char *format, ...)
{
	char line[128];
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(line, sizeof(line), format, arguments);
	va_end(arguments);
	return evaluate_debug_command(line);
}

/* A pool id for the debugger: a live pool's area, or one that is none. */
static int command_area(struct pool_choice pool, bool *known)
{
	*known = pool.slot >= 0 && model.pools[pool.slot].area != 0;
	return *known ? (int)model.pools[pool.slot].area : 0x7ffffff0;
}

static void expect_leaks_of(int slot, size_t *total_bytes, size_t *total_blocks)
{
	size_t bytes, blocks;

	pool_totals(slot, &bytes, &blocks);
	if (blocks > 0)
		expect_leak(model.pools[slot].id, bytes, blocks);
	*total_bytes += bytes;
	*total_blocks += blocks;
}

static void expect_all_leaks(size_t *bytes, size_t *blocks)
{
	*bytes = *blocks = 0;
	for (int slot = 0; slot < MAX_POOLS; slot++) {
		if (model.pools[slot].live)
			expect_leaks_of(slot, bytes, blocks);
	}
}

/* "pools" lists every live pool with its live blocks ("id: ID; ... blocks: N;"). */
static void release_pools_command(void)
{
	char *text = NULL, *whole, *line, *next;
	size_t length = 0, listed = 0;
	FILE *capture = open_memstream(&text, &length);
	int live[MAX_POOLS], result;
	size_t count = live_slots(live);

	FUZZ_CHECK(capture != NULL, "open_memstream failed");
	set_kprintf_output(capture);
	result = evaluate_debug_command("pools");
	set_kprintf_output(kprintf_sink);
	fclose(capture);
	FUZZ_CHECK(result == 0 && text != NULL, "pools returned %d", result);
	whole = strdup(text);
	FUZZ_CHECK(whole != NULL, "out of memory");
	for (line = text; line != NULL && *line != '\0'; line = next) {
		const char *id_text, *blocks_text;
		void *id;
		size_t blocks, bytes, model_blocks;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		id_text = strstr(line, " id: ");
		blocks_text = strstr(line, " blocks: ");
		if (id_text == NULL || blocks_text == NULL || sscanf(id_text, " id: %p", &id) != 1
			|| sscanf(blocks_text, " blocks: %zu", &blocks) != 1)
			continue;
		struct pool_choice pool = resolve_pool(id);
		FUZZ_CHECK(pool.slot >= 0,
			"step %zu: pools lists %p, which the model does not know: "
			"%s",
			model.step, id, line);
		pool_totals(pool.slot, &bytes, &model_blocks);
		FUZZ_CHECK(blocks == model_blocks,
			"step %zu: pools says %zu live blocks, the model "
			"%zu: %s",
			model.step, blocks, model_blocks, line);
		listed++;
	}
	FUZZ_CHECK(listed == count, "step %zu: pools listed %zu pools, the model has %zu: %s",
		model.step, listed, count, whole);
	free(whole);
	free(text);
}

static void release_query(struct fuzz_input *input)
{
	uint8_t which = fuzz_u8(input) % 4;
	struct pool_choice pool = pick_pool(input);
	bool known;
	int area = command_area(pool, &known), result;

	model.operation = "debugger command";
	switch (which) {
	case 0:
		release_pools_command();
		break;
	case 1:
		result = debug_command("pool %d", area);
		FUZZ_CHECK(result == (known ? 0 : 2), "pool %d of a %s pool returned %d", area,
			known ? "live" : "missing", result);
		break;
	case 2:
		result = debug_command("check %d", area);
		FUZZ_CHECK(result == (known ? 0 : 2), "check %d of a %s pool returned %d", area,
			known ? "live" : "missing", result);
		break;
	default:
		result = debug_command("check %s", "nonsense");
		FUZZ_CHECK(result == 2, "check nonsense returned %d", result);
		break;
	}
}

static void debug_query(struct fuzz_input *input)
{
	uint8_t which = fuzz_u8(input) % 9;
	struct pool_choice pool = pick_pool(input);
	size_t bytes = 0, blocks = 0, got_bytes = 99, got_blocks = 99;
	area_malloc_pool_stats stats;
	bool known;
	int area = command_area(pool, &known), result;

	switch (which) {
	case 0: {
		const uint8_t *name;
		char text[64];
		size_t length = fuzz_bytes(input, fuzz_u8(input) % 48, &name);
		memcpy(text, name, length);
		text[length] = '\0';
		model.operation = "set_pool_name";
		result = amd->set_pool_name(pool.id, text);
		FUZZ_CHECK(result == (pool.slot >= 0 ? B_OK : B_BAD_VALUE),
			"set_pool_name(%p) returned %d", pool.id, result);
		break;
	}
	case 1:
		model.operation = "report_leaks";
		if (pool.id == NULL)
			expect_all_leaks(&bytes, &blocks);
		else if (pool.slot >= 0)
			expect_leaks_of(pool.slot, &bytes, &blocks);
		result = amd->report_leaks(pool.id, 0, &got_bytes, &got_blocks);
		FUZZ_CHECK(result == (pool.id == NULL || pool.slot >= 0 ? B_OK : B_BAD_VALUE),
			"report_leaks(%p) returned %d", pool.id, result);
		FUZZ_CHECK(result != B_OK || (got_bytes == bytes && got_blocks == blocks),
			"report_leaks(%p): %zu bytes in %zu blocks, the model has %zu in %zu",
			pool.id, got_bytes, got_blocks, bytes, blocks);
		break;
	case 2:
		model.operation = "check_pool";
		result = amd->check_pool(pool.id);
		FUZZ_CHECK(result == (pool.id == NULL || pool.slot >= 0 ? 0 : B_BAD_VALUE),
			"check_pool(%p) returned %d", pool.id, result);
		break;
	case 3:
		model.operation = "get_pool_stats";
		result = amd->get_pool_stats(pool.id, &stats);
		FUZZ_CHECK(result == (pool.slot >= 0 ? B_OK : B_BAD_VALUE),
			"get_pool_stats(%p) returned %d", pool.id, result);
		result = amd->get_pool_stats(pool.id, NULL);
		FUZZ_CHECK(result == B_BAD_VALUE, "get_pool_stats(%p, NULL) returned %d", pool.id,
			result);
		break;
	case 4:
		model.operation = "debugger pools";
		result = debug_command(known ? "pool %d" : "pools", area);
		FUZZ_CHECK(result == 0, "pool(s) %d returned %d", area, result);
		break;
	case 5:
		model.operation = "debugger check";
		result = known ? debug_command("check %d", area) : debug_command("check");
		FUZZ_CHECK(result == 0, "check %d returned %d", area, result);
		break;
	case 6:
		model.operation = "debugger leaks";
		if (known)
			expect_leaks_of(pool.slot, &bytes, &blocks);
		else
			expect_all_leaks(&bytes, &blocks);
		result = known ? debug_command("leaks %d", area) : debug_command("leaks");
		FUZZ_CHECK(result == 0, "leaks %d returned %d", area, result);
		break;
	case 7:
		model.operation = "debugger allocations";
		result = known ? debug_command("allocations pool %d", area)
			       : debug_command("allocations_per_caller");
		FUZZ_CHECK(result == 0, "allocations(_per_caller) of pool %d returned %d", area,
			result);
		break;
	default:
		model.operation = "debugger pool_log";
		result = debug_command("pool_log %d 4", area);
		FUZZ_CHECK(result == (known ? 0 : 3), "pool_log %d of a %s pool returned %d", area,
			known ? "live" : "missing", result);
		break;
	}
}

/* ---- checks after every step ---- */

static void validate_pools(void)
{
	if (flavor == FLAVOR_RELEASE) {
		int result = evaluate_debug_command("check");
		if (result != 0) {
			char *text = NULL;
			size_t length = 0;
			FILE *capture = open_memstream(&text, &length);
			set_kprintf_output(capture);
			evaluate_debug_command("check");
			set_kprintf_output(kprintf_sink);
			fclose(capture);
			fuzz_fail("step %zu (%s): the check command returned %d: %s", model.step,
				model.operation, result, text != NULL ? text : "");
		}
		return;
	}
	int32 problems = amd->check_pool(NULL);
	FUZZ_CHECK(problems == 0 && model.seen_count == 0,
		"step %zu (%s): check_pool found %d problem(s) (%zu report(s), the first '%s')",
		model.step, model.operation, (int)problems, model.seen_count,
		model.seen_count > 0 ? model.seen[0].kind : "");
}

/* The companion's statistics agree with the model; the quarantine FIFO
 * keeps what the module still holds. */
static void sync_debug_statistics(void)
{
	for (int slot = 0; slot < MAX_POOLS; slot++) {
		struct model_pool *pool = &model.pools[slot];
		area_malloc_pool_stats stats;
		size_t bytes, blocks, left, held;
		if (!pool->live)
			continue;
		FUZZ_CHECK(amd->get_pool_stats(pool->id, &stats) == B_OK,
			"step %zu: no statistics for live pool %p", model.step, pool->id);
		pool_totals(slot, &bytes, &blocks);
		FUZZ_CHECK(stats.live_blocks == blocks && stats.used == bytes
				&& stats.area == pool->area && stats.size == pool->size,
			"step %zu (%s): pool %p: statistics say %zu blocks of %zu bytes, the model %zu "
			"of %zu",
			model.step, model.operation, pool->id, stats.live_blocks, stats.used,
			blocks, bytes);
		FUZZ_CHECK(stats.peak >= stats.used,
			"step %zu (%s): pool %p: peak %zu below used %zu", model.step,
			model.operation, pool->id, stats.peak, stats.used);
		FUZZ_CHECK(stats.quarantined_bytes <= DEFAULT_QUARANTINE_BYTES,
			"step %zu (%s): pool %p quarantines %zu bytes, more than the limit",
			model.step, model.operation, pool->id, stats.quarantined_bytes);
		FUZZ_CHECK(stats.quarantined_blocks <= pool->quarantined,
			"step %zu (%s): pool %p quarantines %zu blocks, more than the %zu freed",
			model.step, model.operation, pool->id, stats.quarantined_blocks,
			pool->quarantined);
		left = pool->quarantined - stats.quarantined_blocks;
		for (size_t i = 0; i < left; i++)
			entries_push(&pool->released, &pool->released_count,
				&pool->released_capacity, pool->quarantine[i].ptr,
				pool->quarantine[i].size);
		if (left > 0)
			memmove(pool->quarantine, pool->quarantine + left,
				stats.quarantined_blocks * sizeof(*pool->quarantine));
		pool->quarantined = stats.quarantined_blocks;
		/* a quarantined chunk holds at least its block */
		held = 0;
		for (size_t i = 0; i < pool->quarantined; i++)
			held += pool->quarantine[i].size;
		FUZZ_CHECK(stats.quarantined_bytes >= held,
			"step %zu (%s): pool %p: %zu blocks quarantined in %zu bytes, fewer than they "
			"hold",
			model.step, model.operation, pool->id, stats.quarantined_blocks,
			stats.quarantined_bytes);
		for (size_t i = 0; i < model.block_count; i++)
			FUZZ_CHECK(model.blocks[i].pool != slot
					|| find_quarantined(pool, model.blocks[i].ptr) < 0,
				"step %zu (%s): live block %p is also in the quarantine",
				model.step, model.operation, model.blocks[i].ptr);
	}
}

static void end_step(void)
{
	if (flavor == FLAVOR_DEBUG)
		compare_reports();
	verify_all_blocks();
	validate_pools();
	if (flavor == FLAVOR_DEBUG)
		sync_debug_statistics();
}

/* ---- setup and inputs ---- */

static void remove_node_dir(void)
{
	if (node_dir[0] != '\0')
		fuzz_remove_tree(node_dir);
}

static void setup(enum flavor chosen)
{
	char modules[PATH_MAX], options[PATH_MAX + 64];
	area_malloc_debug_module_info *companion = NULL;
	flavor = chosen;
	fuzz_become_multithreaded();
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(1 + ((i % PATTERN_PERIOD) * 167 + 89) % 255);
	wild_heap = malloc(64);
	kprintf_sink = fopen("/dev/null", "w");
	FUZZ_CHECK(wild_heap != NULL && kprintf_sink != NULL, "setup: out of resources");
	set_kprintf_output(kprintf_sink);
	fuzz_module_dir(flavor == FLAVOR_DEBUG ? "debug" : "release", modules, sizeof(modules));
	FUZZ_CHECK(setenv("KERNEL_MODULE_PATH", modules, 1) == 0, "setenv failed");
	if (flavor == FLAVOR_DEBUG) {
		/* the node writer publishes every pool, as by default, in a private
		 * directory; guard sampling off, as in every test that asserts exact
		 * blocks: the model has a shrinking realloc stay in place, and a
		 * sampled guarded block always moves (area_malloc_debug(7); the
		 * fuzzer met one in CI at step 13 of an input). tests/guard covers
		 * guarded blocks. */
		fuzz_temp_dir("fuzz_ops_nodes", node_dir, sizeof(node_dir));
		atexit(remove_node_dir);
		snprintf(options, sizeof(options), "guard_sample=0:node_dir=%s", node_dir);
		FUZZ_CHECK(setenv("AREA_MALLOC_OPTIONS", options, 1) == 0, "setenv failed");
	}
	FUZZ_CHECK(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK,
		"cannot load %s from %s", B_AREA_MALLOC_MODULE_NAME, modules);
	if (flavor == FLAVOR_DEBUG) {
		FUZZ_CHECK(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd)
				== B_OK,
			"cannot load %s from %s", B_AREA_MALLOC_DEBUG_MODULE_NAME, modules);
		amd->set_report_hook(take_report, NULL);
	} else {
		FUZZ_CHECK(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&companion)
				!= B_OK,
			"the release module offers the debug companion");
	}
}

void fuzz_ops_release_setup(void)
{
	setup(FLAVOR_RELEASE);
}

void fuzz_ops_debug_setup(void)
{
	setup(FLAVOR_DEBUG);
}

int fuzz_ops_one_input(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size, 0 };

	memset(&model, 0, sizeof(model));
	while (!fuzz_input_done(&input) && model.step < MAX_STEPS) {
		uint8_t opcode = fuzz_u8(&input) % 16;
		model.operation = "?";
		if (opcode <= 1)
			op_create_pool(&input);
		else if (opcode == 2)
			delete_pool(pick_pool(&input));
		else if (opcode <= 6)
			op_malloc(&input);
		else if (opcode == 7)
			op_calloc(&input);
		else if (opcode <= 10)
			op_realloc(&input);
		else if (opcode <= 14)
			op_free(&input);
		else if (flavor == FLAVOR_DEBUG)
			debug_query(&input);
		else
			release_query(&input);
		end_step();
		model.step++;
	}
	/* what a driver must do before it goes: delete every pool (the leaks are reported) */
	for (int slot = 0; slot < MAX_POOLS; slot++) {
		if (!model.pools[slot].live)
			continue;
		delete_pool((struct pool_choice){ model.pools[slot].id, slot });
		end_step();
		model.step++;
	}
	FUZZ_CHECK(flavor != FLAVOR_DEBUG || amd->error_count() == 0,
		"reports escaped the hook: error_count is %llu",
		(unsigned long long)amd->error_count());
	return 0;
}

#ifdef FUZZ_OPS_DEBUG
FUZZ_ENTRY_POINTS(fuzz_ops_debug_setup, fuzz_ops_one_input)
#else
FUZZ_ENTRY_POINTS(fuzz_ops_release_setup, fuzz_ops_one_input)
#endif
