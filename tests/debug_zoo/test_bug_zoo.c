/*
 * test_bug_zoo.c - Check suite: the debug module's bug zoo.
 *
 * In process, every kind of report at every detection point (at free, at
 * realloc, on leaving the quarantine, on pool exhaustion, on check, at
 * delete_pool, at unload, at exit), damage to a pool's own metadata (its
 * heap's chunk headers, its allocation log) included, is provoked through
 * the module interface and the report is taken by the companion module's
 * report hook, which records it; each test then asserts the exact kind,
 * address, size, pools, overflow bytes, owner frames and threads, and the
 * exact number of reports.
 * Owner frames are pinned two ways: frames[0] must lie strictly between the
 * return addresses of two here() calls that bracket the module call (the
 * only call between them), and the report's text must name that frame with
 * this file's line of the call. After each misuse that the canaries or the
 * quarantine absorb, the other pools check clean, the "check" debugger
 * command finds nothing once the damaged block is gone, and bystander
 * blocks filled with patterns still hold every byte. Clean workloads (one
 * thread, four threads) must produce no report at all.
 *
 * End to end, zoo_driver (an ordinary driver, see zoo_driver.c) runs in a
 * child with its output in files: report lines, symbolized summaries naming
 * the driver's function and line, exit statuses and the report options,
 * the JSON objects (version, kind_key, each frame's parts, the leak-group
 * shape), suppressed leaks (a group suppressed: the table and the SUMMARY
 * line count it; every group: the table alone and exit status 0), the
 * ready-made suppression lines, and ASan's colours with color=always (none
 * in files, none with auto when the output is not a terminal).
 *
 * Invariants: each test loads the module itself (Check forks every test, so
 * AREA_MALLOC_OPTIONS set before the first get_module applies to it alone)
 * and unloads it at the end; every report the test does not expect fails it,
 * either by the count asserted or by the exit status the module would give.
 *
 * Locking: the report hook may run on any thread; recorded_lock protects the
 * records.
 */
#include "config.h"
#include "support/check_main.h"

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

/* The layout a pool's area has for pooldump's readers (the node file is the
 * area itself): where the pool's allocation log lies, and the log's header. */
#include "format/node_format.h"
#include "format/pool_log.h"

/* The block layout (src/format/debug_block.h), the same at every
 * stack_depth (stacks are in the stack depot): a 32-byte header, then a
 * 16-byte leading canary whose first 8 bytes are a quarantined block's
 * link, the user bytes 48 bytes into the chunk payload. */
#define HEADER_START (-48)
#define LEADING_CANARY_START (-16)
#define RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
/* The heap's chunk header (src/core/heap.c), just before each chunk's
 * payload (where the debug block's header starts): prev_size at +0, then
 * size_flags, the chunk's size (a multiple of 16) | 1 when used. */
#define CHUNK_HEADER_BYTES 16
#define CHUNK_SIZE_TAG 8
#define CHUNK_FLAG_BITS 15
#define EXIT_STATUS_AFTER_ERRORS 23 /* the exitcode option's default */

/* ---- recording reports ---- */

#define RECORDED_TEXT_MAX 8192
#define MAX_RECORDED 32
#include "support/debug_options.h"
#include "support/report_recorder.h"
#include "support/debug_module.h"

static area_malloc_module_info *am;
static area_malloc_debug_module_info *dbg;

/* ---- call sites ---- */

/* The return address of its own call: two of them bracket a module call. */
static __attribute__((noipa)) uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

struct site {
	uintptr_t before;
	uintptr_t after;
	int line;
};

/* Runs one statement holding exactly one call (the module's) between two
 * here() calls: the module's frames[0] for that call must lie strictly
 * between site.before and site.after. Keep each AT(...) on one line: the
 * call's line in the debug info is then site.line. */
#define AT(site, ...)                                                                              \
	do {                                                                                       \
		(site).before = here();                                                            \
		__VA_ARGS__;                                                                       \
		(site).after = here();                                                             \
		(site).line = __LINE__;                                                            \
	} while (0)

/* One call site for allocations made in a loop: a loop the compiler
 * unrolls or peels would otherwise make several sites of one line. */
static __attribute__((noipa)) void *malloc_at(struct site *site, const void *pool, size_t size)
{
	void *block;

	AT(*site, block = am->malloc(pool, size));
	return block;
}

static bool site_holds(const struct site *site, uintptr_t pc)
{
	return site->before < pc && pc < site->after;
}

/*
 * Finds a frame line "#N 0xPC in ... FILE:LINE" in a report's text whose PC
 * is the site's call and returns its line number (0 when there is none).
 */
static int text_frame_line(const char *text, const struct site *site)
{
	for (const char *at = strstr(text, "#"); at != NULL; at = strstr(at + 1, "#")) {
		unsigned long long pc;
		unsigned frame;
		int consumed = 0;
		const char *end, *colon;

		if (sscanf(at, "#%u 0x%llx in %n", &frame, &pc, &consumed) < 2 || consumed == 0)
			continue;
		if (!site_holds(site, (uintptr_t)pc))
			continue;
		end = strchr(at, '\n');
		if (end == NULL)
			end = at + strlen(at);
		for (colon = end; colon > at && *colon != ':'; colon--)
			;
		if (*colon == ':')
			return atoi(colon + 1);
	}
	return 0;
}

static void assert_owner_at(const char *what, const area_malloc_owner *owner,
	const struct site *site, const char *text, pid_t thread, pid_t team)
{
	ck_assert_msg(owner->frame_count >= 1, "%s: no frames", what);
	ck_assert_msg(site_holds(site, owner->frames[0]),
		"%s: frames[0] %#" PRIxPTR " is not the call at line %d (%#" PRIxPTR "..%#" PRIxPTR
		")",
		what, (uintptr_t)owner->frames[0], site->line, site->before, site->after);
	ck_assert_int_eq(owner->thread, thread);
	ck_assert_int_eq(owner->team, team);
	if (text != NULL)
		ck_assert_msg(text_frame_line(text, site) == site->line,
			"%s: the text does not name line %d for the frame:\n%s", what, site->line,
			text);
}

/* What one error report must hold; NULL sites must be absent. */
struct expected {
	const char *kind;
	const void *address;
	size_t size;
	const void *pool_id;
	area_id pool_area; /* -1: the pool is not known (invalid-pool) */
	const void *owner_pool_id;
	area_id owner_pool_area; /* -1: no owner pool */
	size_t overflow_bytes;
	const struct site *allocated;
	const struct site *freed;
	const struct site *detected; /* NULL: found later, not by a call */
};

/* The SUMMARY line names the detecting call (else the freeing one, else the
 * allocating one) by this file's line, and the call's pool. */
static void assert_summary(const struct recorded *report, const struct expected *expected)
{
	const struct site *site = expected->detected != NULL ? expected->detected
		: expected->freed != NULL                    ? expected->freed
							     : expected->allocated;
	char prefix[128], suffix[64];
	const char *line = strstr(report->text, "\nSUMMARY: area_malloc: ");
	const char *end;

	ck_assert_msg(line != NULL, "no SUMMARY line:\n%s", report->text);
	line++;
	snprintf(prefix, sizeof(prefix), "SUMMARY: area_malloc: %s ", expected->kind);
	ck_assert_msg(strncmp(line, prefix, strlen(prefix)) == 0, "SUMMARY: %s", line);
	end = strchr(line, '\n');
	ck_assert_ptr_nonnull(end);
	if (site == NULL) {
		/* nothing about the block is known: the summary names only the pool */
		snprintf(prefix, sizeof(prefix), "SUMMARY: area_malloc: %s in pool %d\n",
			expected->kind, (int)expected->pool_area);
		ck_assert_msg(strncmp(line, prefix, strlen(prefix)) == 0, "SUMMARY: %s", line);
		return;
	}
	if (expected->pool_area >= 0)
		snprintf(suffix, sizeof(suffix), "test_bug_zoo.c:%d in pool %d\n", site->line,
			(int)expected->pool_area);
	else
		snprintf(suffix, sizeof(suffix), "test_bug_zoo.c:%d\n", site->line);
	ck_assert_msg((size_t)(end + 1 - line) >= strlen(suffix)
			&& strncmp(end + 1 - strlen(suffix), suffix, strlen(suffix)) == 0,
		"SUMMARY does not end with \"%s\": %.*s", suffix, (int)(end - line), line);
}

static void assert_report(int index, const struct expected *expected)
{
	const struct recorded *report;
	pid_t thread = gettid(), team = getpid();

	ck_assert_int_lt(index, reports_so_far());
	report = &recorded[index];
	ck_assert_msg(strcmp(report->kind, expected->kind) == 0, "kind %s, expected %s:\n%s",
		report->kind, expected->kind, report->text);
	ck_assert_ptr_eq(report->address, expected->address);
	ck_assert_uint_eq(report->size, expected->size);
	ck_assert_ptr_eq(report->pool_id, expected->pool_id);
	ck_assert_int_eq(report->pool_area, expected->pool_area);
	ck_assert_ptr_eq(report->owner_pool_id, expected->owner_pool_id);
	ck_assert_int_eq(report->owner_pool_area, expected->owner_pool_area);
	ck_assert_uint_eq(report->overflow_bytes, expected->overflow_bytes);
	ck_assert_int_eq(report->has_allocated_by, expected->allocated != NULL);
	if (expected->allocated != NULL)
		assert_owner_at("allocated_by", &report->allocated_by, expected->allocated,
			report->text, thread, team);
	ck_assert_int_eq(report->has_freed_by, expected->freed != NULL);
	if (expected->freed != NULL) {
		assert_owner_at("freed_by", &report->freed_by, expected->freed, report->text,
			thread, team);
		if (expected->allocated != NULL)
			ck_assert_uint_gt(report->freed_by.sequence, report->allocated_by.sequence);
	}
	if (expected->detected != NULL) {
		assert_owner_at("detected_by", &report->detected_by, expected->detected,
			report->text, thread, team);
	} else {
		ck_assert_uint_eq(report->detected_by.frame_count, 0);
		ck_assert_uint_eq(report->detected_by.frames[0], 0);
	}
	assert_summary(report, expected);
}

static void assert_text_has(int index, const char *needle)
{
	ck_assert_msg(strstr(recorded[index].text, needle) != NULL, "no \"%s\" in:\n%s", needle,
		recorded[index].text);
}

/* ---- the module ---- */

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run `make check`)");
	return dir;
}

/* Loads the debug module with these options (NULL: none; guard sampling
 * off either way: every report's block is asserted) and hooks its reports. */
static void zoo_open(const char *options)
{
	debug_module_use_build();
	ck_assert_int_eq(set_debug_options(options), 0);
	debug_module_get(&am, &dbg);
}

static void zoo_close(void)
{
	debug_module_close();
}

static const void *new_pool(size_t size)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, RW);

	ck_assert_ptr_nonnull(pool);
	return pool;
}

static area_malloc_pool_stats pool_stats(const void *pool)
{
	area_malloc_pool_stats stats;

	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	return stats;
}

static area_id pool_area(const void *pool)
{
	return pool_stats(pool).area;
}

/* A pool that existed and was deleted: its id is stale. */
static const void *stale_pool(void)
{
	const void *pool = new_pool(64 * 1024);

	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	return pool;
}

/* Runs a kernel debugger command; its output goes to output. */
static int debug_command(const char *command, char *output, size_t size)
{
	FILE *stream = tmpfile();
	size_t length;
	int result;

	ck_assert_ptr_nonnull(stream);
	set_kprintf_output(stream);
	result = evaluate_debug_command(command);
	set_kprintf_output(NULL);
	rewind(stream);
	length = fread(output, 1, size - 1, stream);
	output[length] = '\0';
	fclose(stream);
	return result;
}

/* Writes bytes where the test means to damage the pool (a canary, a freed
 * block): the writes must reach the memory as an uninstrumented driver's
 * would, whatever AddressSanitizer thinks of that memory. */
static __attribute__((noinline, no_sanitize("address"))) void poke(void *block, long offset,
	const char *bytes, size_t length)
{
	volatile unsigned char *at = (unsigned char *)block + offset;

	for (size_t i = 0; i < length; i++)
		at[i] = (unsigned char)bytes[i];
}

static __attribute__((noinline, no_sanitize("address"))) unsigned char peek(const void *block,
	long offset)
{
	return ((const volatile unsigned char *)block)[offset];
}

/* Writes the complement of the byte at offset: a write that surely changes
 * it (a header byte may hold any value: a team id's, a time's). */
static void flip(void *block, long offset)
{
	char flipped = (char)~peek(block, offset);

	poke(block, offset, &flipped, 1);
}

/* An 8- or 4-byte field at offset, read and written as poke and peek do. */
static uint64_t peek_field(const void *base, long offset, size_t length)
{
	unsigned char bytes[sizeof(uint64_t)] = { 0 };

	for (size_t i = 0; i < length; i++)
		bytes[i] = peek(base, offset + (long)i);
	if (length == sizeof(uint32_t)) {
		uint32_t value;
		memcpy(&value, bytes, sizeof(value));
		return value;
	}
	uint64_t value;
	memcpy(&value, bytes, sizeof(value));
	return value;
}

static void poke_field(void *base, long offset, size_t length, uint64_t value)
{
	char bytes[sizeof(uint64_t)];

	if (length == sizeof(uint32_t)) {
		uint32_t narrow = (uint32_t)value;
		memcpy(bytes, &narrow, sizeof(narrow));
	} else {
		memcpy(bytes, &value, sizeof(value));
	}
	poke(base, offset, bytes, length);
}

static void fill(void *block, size_t size, unsigned seed)
{
	unsigned char *bytes = block;

	for (size_t i = 0; i < size; i++)
		bytes[i] = (unsigned char)(seed + i * 7);
}

/* One assertion per block: every Check assertion is a message to the
 * parent process, too slow for every byte of a long workload. */
static void assert_filled(const void *block, size_t size, unsigned seed)
{
	const unsigned char *bytes = block;
	size_t i = 0;

	while (i < size && bytes[i] == (unsigned char)(seed + i * 7))
		i++;
	ck_assert_msg(i == size, "byte %zu of the %zu-byte block %p changed: %#x", i, size, block,
		i < size ? bytes[i] : 0);
}

/* ---- the zoo: three pools and bystander blocks in each ---- */

#define ZOO_POOLS 3
#define BYSTANDER_SIZES 6
#define MAX_BYSTANDERS (ZOO_POOLS * BYSTANDER_SIZES * 2)

static const size_t bystander_sizes[BYSTANDER_SIZES] = { 1, 24, 48, 100, 333, 1024 };

struct zoo {
	const void *pool[ZOO_POOLS]; /* NULL once deleted */
	area_id area[ZOO_POOLS];
	void *bystander[MAX_BYSTANDERS];
	size_t bystander_size[MAX_BYSTANDERS];
	int bystander_pool[MAX_BYSTANDERS];
	int bystanders;
};

/* Bystanders go in around the victims: a write that escaped a victim's
 * canary would land in one. */
static void zoo_add_bystanders(struct zoo *zoo, int pool)
{
	for (int i = 0; i < BYSTANDER_SIZES; i++) {
		int n = zoo->bystanders++;
		ck_assert_int_lt(n, MAX_BYSTANDERS);
		zoo->bystander[n] = am->malloc(zoo->pool[pool], bystander_sizes[i]);
		ck_assert_ptr_nonnull(zoo->bystander[n]);
		zoo->bystander_size[n] = bystander_sizes[i];
		zoo->bystander_pool[n] = pool;
		fill(zoo->bystander[n], bystander_sizes[i], 31u * (unsigned)n + 5u);
	}
}

static void zoo_start(struct zoo *zoo, const char *options)
{
	static const size_t sizes[ZOO_POOLS] = { 1024 * 1024, 256 * 1024, 128 * 1024 };

	memset(zoo, 0, sizeof(*zoo));
	zoo_open(options);
	for (int i = 0; i < ZOO_POOLS; i++) {
		zoo->pool[i] = new_pool(sizes[i]);
		zoo->area[i] = pool_area(zoo->pool[i]);
		ck_assert_int_gt(zoo->area[i], 0);
		zoo_add_bystanders(zoo, i);
	}
}

static void zoo_verify_bystanders(const struct zoo *zoo)
{
	for (int n = 0; n < zoo->bystanders; n++) {
		if (zoo->bystander[n] != NULL)
			assert_filled(zoo->bystander[n], zoo->bystander_size[n],
				31u * (unsigned)n + 5u);
	}
}

static void zoo_free_bystanders(struct zoo *zoo, int pool)
{
	for (int n = 0; n < zoo->bystanders; n++) {
		if (zoo->bystander[n] != NULL && zoo->bystander_pool[n] == pool) {
			am->free(zoo->pool[pool], zoo->bystander[n]);
			zoo->bystander[n] = NULL;
		}
	}
}

static int zoo_live_pools(const struct zoo *zoo)
{
	int count = 0;

	for (int i = 0; i < ZOO_POOLS; i++)
		count += zoo->pool[i] != NULL;
	return count;
}

/* The pools other than except (-1: all) check clean one by one. */
static void zoo_assert_other_pools_clean(const struct zoo *zoo, int except)
{
	int before = reports_so_far();

	for (int i = 0; i < ZOO_POOLS; i++) {
		if (i != except && zoo->pool[i] != NULL)
			ck_assert_int_eq(dbg->check_pool(zoo->pool[i]), 0);
	}
	assert_reports(before);
}

/* After a misuse the canaries or the quarantine absorbed, once the damaged
 * block is gone: every pool checks clean (the "check" command over all of
 * them) and every bystander holds its bytes. */
static void zoo_assert_sound(const struct zoo *zoo)
{
	char output[4096], expected[64];
	int before = reports_so_far();

	zoo_assert_other_pools_clean(zoo, -1);
	ck_assert_int_eq(debug_command("check", output, sizeof(output)), 0);
	snprintf(expected, sizeof(expected), "%d pool(s) checked, 0 problem(s)\n",
		zoo_live_pools(zoo));
	ck_assert_msg(strstr(output, expected) != NULL, "check said: %s", output);
	assert_reports(before);
	zoo_verify_bystanders(zoo);
}

static void zoo_delete_pool(struct zoo *zoo, int pool)
{
	zoo_free_bystanders(zoo, pool);
	ck_assert_int_eq(am->delete_pool(zoo->pool[pool]), B_OK);
	zoo->pool[pool] = NULL;
}

/* Frees the bystanders, deletes the pools and unloads the module; the test
 * must have seen expected_reports reports by then, and no other comes. */
static void zoo_finish(struct zoo *zoo, int expected_reports)
{
	zoo_verify_bystanders(zoo);
	for (int i = 0; i < ZOO_POOLS; i++) {
		if (zoo->pool[i] != NULL)
			zoo_delete_pool(zoo, i);
	}
	assert_reports(expected_reports);
	ck_assert_uint_eq(dbg->error_count(), 0); /* the hook took every report */
	zoo_close();
	assert_reports(expected_reports);
}

enum { A, B, C };

/* ==== at free ==== */

START_TEST(double_free_at_free)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	void *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	AT(freed, am->free(zoo.pool[A], block));
	assert_reports(0);
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "double-free", block, 100, zoo.pool[A], zoo.area[A], NULL, -1,
			0, &allocated, &freed, &detected });
	ck_assert_int_eq(area_for(block), zoo.area[A]);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).errors, 1);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).frees, 1);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

START_TEST(invalid_free_interior_at_free)
{
	struct site allocated, detected;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[B], 100));
	fill(block, 100, 77);
	AT(detected, am->free(zoo.pool[B], block + 16));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "invalid-free", block + 16, 100, zoo.pool[B], zoo.area[B], NULL,
			-1, 0, &allocated, NULL, &detected });
	assert_text_has(0, "points +16 bytes from the live 100-byte block");
	/* the call was refused: the block is still live and whole */
	assert_filled(block, 100, 77);
	zoo_assert_sound(&zoo);
	am->free(zoo.pool[B], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

START_TEST(invalid_free_interior_of_freed_block)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	AT(freed, am->free(zoo.pool[A], block));
	AT(detected, am->free(zoo.pool[A], block + 32));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "invalid-free", block + 32, 100, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated, &freed, &detected });
	assert_text_has(0, "points +32 bytes from the freed 100-byte block");
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* The pool log's lines of a freed block: its free, then (older) its
 * allocation (op names padded as the report pads them). */
static void assert_text_has_free_and_allocation(int index, const void *block, size_t size,
	const char *allocation)
{
	const char *text = recorded[index].text, *log, *freed, *allocated;
	char line[160];

	log = strstr(text, "\nlast events of this block in the pool log (newest first):\n");
	ck_assert_msg(log != NULL, "no pool log lines in:\n%s", text);
	snprintf(line, sizeof(line), "\n    seq %u free     %p %zu bytes, thread T%d, ",
		recorded[index].freed_by.sequence, block, size, (int)gettid());
	freed = strstr(log, line);
	ck_assert_msg(freed != NULL, "no \"%s\" in:\n%s", line + 1, text);
	snprintf(line, sizeof(line), "\n    seq %u %-8s %p %zu bytes, thread T%d, ",
		recorded[index].allocated_by.sequence, allocation, block, size, (int)gettid());
	allocated = strstr(freed, line);
	ck_assert_msg(allocated != NULL, "no \"%s\" after the free in:\n%s", line + 1, text);
}

/*
 * A second free (or realloc) of a block that has left the quarantine (at
 * once here: quarantine_bytes=0), while the pool log still holds its free:
 * a double-free with the block's size, allocation and free from the log,
 * and the call is refused. It was an invalid-free ("not the start of a live
 * block"), which named neither the bug nor the block.
 */
START_TEST(double_free_after_quarantine_cycled)
{
	struct site allocated, freed, detected[2];
	struct zoo zoo;
	void *block, *result = (void *)1;

	zoo_start(&zoo, "quarantine_bytes=0");
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	AT(freed, am->free(zoo.pool[A], block));
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).quarantined_blocks, 0);
	assert_reports(0);
	AT(detected[0], am->free(zoo.pool[A], block));
	AT(detected[1], result = am->realloc(zoo.pool[A], block, 200));
	ck_assert_ptr_null(result);
	assert_reports(2);
	for (int i = 0; i < 2; i++) {
		assert_report(i,
			&(struct expected){ "double-free", block, 100, zoo.pool[A], zoo.area[A],
				NULL, -1, 0, &allocated, &freed, &detected[i] });
		assert_text_has_free_and_allocation(i, block, 100, "malloc");
	}
	assert_text_has(0,
		"free of a block that is already free: it has left the quarantine "
		"(the pool log holds its free, and no allocation at this address "
		"since); the second free is refused");
	assert_text_has(1, "realloc of a block that is already free");
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).errors, 2);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).frees, 1);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

/* The freed block's memory went to a bigger block since: the second free is
 * still the old block's double free (its address saw no allocation), it
 * names the block that holds the memory now, and leaves that block alone. */
START_TEST(double_free_of_memory_reused_by_another_block)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	unsigned char *below, *block, *reused;
	char now[96];

	zoo_start(&zoo, "quarantine_bytes=0");
	below = am->malloc(zoo.pool[A], 100);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	ck_assert_ptr_eq(below + 176, block);
	AT(freed, am->free(zoo.pool[A], block));
	am->free(zoo.pool[A], below);
	reused = am->malloc(zoo.pool[A], 300);
	ck_assert_msg(reused < block && block < reused + 300, "%p is not inside %p", block, reused);
	fill(reused, 300, 42);
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "double-free", block, 100, zoo.pool[A], zoo.area[A], NULL, -1,
			0, &allocated, &freed, &detected });
	snprintf(now, sizeof(now), "; its memory now lies in the live block at %p;", reused);
	assert_text_has(0, now);
	assert_filled(reused, 300, 42);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).live_blocks, 1 + BYSTANDER_SIZES);
	am->free(zoo.pool[A], reused);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* A realloc that moved the block freed it: a later free of the old pointer,
 * after the quarantine let it go, names the realloc as the free. */
START_TEST(double_free_after_moving_realloc)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	unsigned char *block, *moved;

	zoo_start(&zoo, "quarantine_bytes=0:realloc_move=1");
	AT(allocated, block = am->malloc(zoo.pool[C], 100));
	AT(freed, moved = am->realloc(zoo.pool[C], block, 200));
	ck_assert_ptr_nonnull(moved);
	ck_assert_ptr_ne(moved, block);
	fill(moved, 200, 7);
	AT(detected, am->free(zoo.pool[C], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "double-free", block, 100, zoo.pool[C], zoo.area[C], NULL, -1,
			0, &allocated, &freed, &detected });
	assert_text_has_free_and_allocation(0, block, 100, "malloc");
	assert_filled(moved, 200, 7);
	am->free(zoo.pool[C], moved);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* Where the log no longer holds the block's free (log_size=4, four events
 * since), nothing tells a double free: it stays an invalid-free. */
START_TEST(invalid_free_when_the_log_forgot_the_block)
{
	struct site detected;
	struct zoo zoo;
	unsigned char *block, *keep;

	zoo_start(&zoo, "quarantine_bytes=0:log_size=4");
	block = am->malloc(zoo.pool[A], 100);
	keep = am->malloc(zoo.pool[A], 100); /* block's chunk stays apart */
	am->free(zoo.pool[A], block);
	for (int i = 0; i < 2; i++)
		am->free(zoo.pool[A], am->malloc(zoo.pool[A], 2000));
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "invalid-free", block, 0, zoo.pool[A], zoo.area[A], NULL, -1, 0,
			NULL, NULL, &detected });
	assert_text_has(0, "is not the start of a live block");
	am->free(zoo.pool[A], keep);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* Pointers into no pool at all: the stack, the C heap, a wild address. */
START_TEST(invalid_free_outside_every_pool)
{
	struct site detected[4];
	struct zoo zoo;
	char on_stack[64];
	char *on_heap = malloc(64);
	void *wild = (void *)(uintptr_t)0x1000;
	void *result = (void *)1;

	ck_assert_ptr_nonnull(on_heap);
	zoo_start(&zoo, NULL);
	AT(detected[0], am->free(zoo.pool[A], on_stack));
	AT(detected[1], am->free(zoo.pool[A], on_heap));
	AT(detected[2], am->free(zoo.pool[C], wild));
	AT(detected[3], result = am->realloc(zoo.pool[B], on_stack, 10));
	ck_assert_ptr_null(result);
	assert_reports(4);
	assert_report(0,
		&(struct expected){ "invalid-free", on_stack, 0, zoo.pool[A], zoo.area[A], NULL, -1,
			0, NULL, NULL, &detected[0] });
	assert_report(1,
		&(struct expected){ "invalid-free", on_heap, 0, zoo.pool[A], zoo.area[A], NULL, -1,
			0, NULL, NULL, &detected[1] });
	assert_report(2,
		&(struct expected){ "invalid-free", wild, 0, zoo.pool[C], zoo.area[C], NULL, -1, 0,
			NULL, NULL, &detected[2] });
	assert_report(3,
		&(struct expected){ "invalid-free", on_stack, 0, zoo.pool[B], zoo.area[B], NULL, -1,
			0, NULL, NULL, &detected[3] });
	for (int i = 0; i < 4; i++)
		assert_text_has(i, "is not in any pool");
	free(on_heap);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 4);
}
END_TEST

START_TEST(cross_pool_free_at_free)
{
	struct site allocated, detected;
	struct zoo zoo;
	void *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	fill(block, 100, 3);
	AT(detected, am->free(zoo.pool[B], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "cross-pool-free", block, 100, zoo.pool[B], zoo.area[B],
			zoo.pool[A], zoo.area[A], 0, &allocated, NULL, &detected });
	ck_assert_int_eq(area_for(block), zoo.area[A]);
	/* left untouched in its owner pool */
	assert_filled(block, 100, 3);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).frees, 0);
	ck_assert_uint_eq(pool_stats(zoo.pool[B]).errors, 1);
	zoo_assert_sound(&zoo);
	am->free(zoo.pool[A], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* Every call with a pool id that names no live pool. */
START_TEST(invalid_pool_every_call)
{
	struct site detected[6];
	struct zoo zoo;
	const void *stale;
	void *block, *result[3];
	status_t status;
	int garbage = 0;

	zoo_start(&zoo, NULL);
	stale = stale_pool();
	block = am->malloc(zoo.pool[A], 100);
	fill(block, 100, 9);
	AT(detected[0], result[0] = am->malloc(stale, 10));
	AT(detected[1], result[1] = am->calloc(stale, 2, 8));
	AT(detected[2], result[2] = am->realloc(stale, block, 10));
	AT(detected[3], am->free(NULL, block));
	AT(detected[4], status = am->delete_pool(stale));
	AT(detected[5], am->free(&garbage, block));
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_null(result[i]);
	ck_assert_int_ne(status, B_OK);
	assert_reports(6);
	assert_report(0,
		&(struct expected){ "invalid-pool", NULL, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[0] });
	assert_report(1,
		&(struct expected){ "invalid-pool", NULL, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[1] });
	assert_report(2,
		&(struct expected){ "invalid-pool", block, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[2] });
	assert_report(3,
		&(struct expected){ "invalid-pool", block, 0, NULL, -1, NULL, -1, 0, NULL, NULL,
			&detected[3] });
	assert_report(4,
		&(struct expected){ "invalid-pool", NULL, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[4] });
	assert_report(5,
		&(struct expected){ "invalid-pool", block, 0, &garbage, -1, NULL, -1, 0, NULL, NULL,
			&detected[5] });
	/* every call was refused */
	assert_filled(block, 100, 9);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).frees, 0);
	am->free(zoo.pool[A], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 6);
}
END_TEST

/* A write past the end that stays in the trailing canary. */
START_TEST(overflow_at_free)
{
	struct site allocated[2], detected[2];
	struct zoo zoo;
	unsigned char *near, *far;

	zoo_start(&zoo, NULL);
	AT(allocated[0], near = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	AT(allocated[1], far = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	fill(near, 100, 1);
	fill(far, 100, 2);
	poke(near, 100, "ABC", 3); /* bytes 100..102 */
	poke(far, 109, "Z", 1);    /* byte 109 alone: the damage reaches 10 bytes */
	zoo_assert_other_pools_clean(&zoo, A);
	zoo_verify_bystanders(&zoo);
	AT(detected[0], am->free(zoo.pool[A], near));
	AT(detected[1], am->free(zoo.pool[A], far));
	assert_reports(2);
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", near, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 3, &allocated[0], NULL, &detected[0] });
	assert_text_has(0, "first damaged byte at offset 100 from the block");
	assert_text_has(0, "the write reached 3 byte(s) past the end of the 100-byte block");
	assert_report(1,
		&(struct expected){ "heap-buffer-overflow", far, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 10, &allocated[1], NULL, &detected[1] });
	assert_text_has(1, "first damaged byte at offset 109 from the block");
	/* the frees themselves went through */
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).frees, 2);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

/* A write just before the start that stays in the leading canary. */
START_TEST(underflow_at_free)
{
	struct site allocated, detected;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[C], 100));
	zoo_add_bystanders(&zoo, C);
	poke(block, -2, "xy", 2);
	AT(detected, am->free(zoo.pool[C], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-underflow", block, 100, zoo.pool[C], zoo.area[C],
			NULL, -1, 0, &allocated, NULL, &detected });
	assert_text_has(0, "first damaged byte at offset -2 from the block (before its start)");
	ck_assert_uint_eq(pool_stats(zoo.pool[C]).frees, 1);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* A write that reaches the block's header (its owner tag): beyond what the
 * canaries absorb, so the block is left alone and reported again by a
 * check. */
/*
 * A damaged header (owner tag) lies 28 bytes or more past the end of the
 * block below: with that block live, the write is its overflow that jumped
 * the canary (ASan would say "N bytes to the right of M-byte region"), and
 * the report names both blocks. The damaged block is left alone.
 */
START_TEST(header_damage_at_free)
{
	struct site allocated_below, allocated, detected;
	struct zoo zoo;
	unsigned char *below, *block;
	char damaged;

	zoo_start(&zoo, NULL);
	AT(allocated_below, below = am->malloc(zoo.pool[A], 100));
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	ck_assert_ptr_eq(below + 176, block);
	damaged = (char)(peek(block, HEADER_START) ^ 0x5a); /* the header's first byte */
	poke(block, HEADER_START, &damaged, 1);
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", below, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 29, &allocated_below, NULL, &detected });
	assert_text_has(0,
		"a write at least 28 bytes to the right of the 100-byte block, past "
		"its trailing canary, damaged the owner tag of the block above it (found "
		"at free); that block is left alone");
	assert_text_has(0, "first damaged byte at offset 128 from the block");
	assert_text_has(0, "the write landed in the owner tag of the 100-byte block at");
	ck_assert_int_eq(text_frame_line(recorded[0].text, &allocated), allocated.line);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).frees, 0);
	/* a check finds it again, as the same overflow */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 1);
	assert_reports(2);
	assert_report(1,
		&(struct expected){ "heap-buffer-overflow", below, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 29, &allocated_below, NULL, NULL });
	am->free(zoo.pool[A], below);
	zoo_assert_other_pools_clean(&zoo, A);
	zoo_verify_bystanders(&zoo);
	/* the damaged block is no leak: nothing it claims can be trusted */
	zoo_finish(&zoo, 2);
}
END_TEST

/* The issue's case: one byte past a 100-byte block that jumps its canary
 * and the heap's tags into the owner tag of the block above (50 bytes past
 * it: the tag is [28, 60) past its end since headers are 32 bytes; the
 * issue's 64 bytes past now land in that block's leading canary), found by
 * a check: the overflowing block is named, and the damaged neighbour too
 * (not lost). */
START_TEST(far_overflow_at_check)
{
	struct site allocated_near, allocated_far;
	struct zoo zoo;
	unsigned char *near, *far;

	zoo_start(&zoo, NULL);
	AT(allocated_near, near = am->malloc(zoo.pool[B], 100));
	AT(allocated_far, far = am->malloc(zoo.pool[B], 100));
	ck_assert_ptr_eq(near + 176, far);
	flip(near, 150); /* in far's owner tag (its team id) */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[B]), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", near, 100, zoo.pool[B], zoo.area[B],
			NULL, -1, 29, &allocated_near, NULL, NULL });
	assert_text_has(0, "the write landed in the owner tag of the 100-byte block at");
	ck_assert_int_eq(text_frame_line(recorded[0].text, &allocated_far), allocated_far.line);
	am->free(zoo.pool[B], near);
	assert_reports(1);
	zoo_assert_other_pools_clean(&zoo, B);
	zoo_finish(&zoo, 1);
}
END_TEST

/* With no live block below (it was freed long ago), header damage stays
 * the block's own underflow. */
START_TEST(header_damage_over_a_free_block)
{
	struct site detected;
	struct zoo zoo;
	unsigned char *below, *block;
	char damaged;

	zoo_start(&zoo, "quarantine_bytes=0");
	below = am->malloc(zoo.pool[A], 100);
	block = am->malloc(zoo.pool[A], 100);
	ck_assert_ptr_eq(below + 176, block);
	am->free(zoo.pool[A], below);
	damaged = (char)(peek(block, HEADER_START) ^ 0x5a);
	poke(block, HEADER_START, &damaged, 1);
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-underflow", block, 0, zoo.pool[A], zoo.area[A],
			NULL, -1, 0, NULL, NULL, &detected });
	assert_text_has(0, "the block's header (its owner tag, just before the block) is damaged");
	zoo_assert_other_pools_clean(&zoo, A);
	zoo_finish(&zoo, 1);
}
END_TEST

/* ==== at realloc ==== */

START_TEST(double_free_at_realloc)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	void *block, *result = (void *)1;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[B], 100));
	AT(freed, am->free(zoo.pool[B], block));
	AT(detected, result = am->realloc(zoo.pool[B], block, 200));
	ck_assert_ptr_null(result);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "double-free", block, 100, zoo.pool[B], zoo.area[B], NULL, -1,
			0, &allocated, &freed, &detected });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

START_TEST(invalid_free_interior_at_realloc)
{
	struct site allocated, detected;
	struct zoo zoo;
	unsigned char *block;
	void *result = (void *)1;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	fill(block, 100, 11);
	AT(detected, result = am->realloc(zoo.pool[A], block + 48, 10));
	ck_assert_ptr_null(result);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "invalid-free", block + 48, 100, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated, NULL, &detected });
	assert_filled(block, 100, 11);
	am->free(zoo.pool[A], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

START_TEST(cross_pool_free_at_realloc)
{
	struct site allocated, detected;
	struct zoo zoo;
	void *block, *result = (void *)1;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[C], 100));
	fill(block, 100, 4);
	AT(detected, result = am->realloc(zoo.pool[A], block, 500));
	ck_assert_ptr_null(result);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "cross-pool-free", block, 100, zoo.pool[A], zoo.area[A],
			zoo.pool[C], zoo.area[C], 0, &allocated, NULL, &detected });
	assert_filled(block, 100, 4);
	am->free(zoo.pool[C], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* Overflow found by a shrinking realloc (in place) and by a growing one
 * (the block moves): the call itself goes through, the data with it. */
START_TEST(overflow_at_realloc)
{
	struct site allocated[2], detected[2];
	struct zoo zoo;
	unsigned char *shrunk, *grown, *result[2];

	zoo_start(&zoo, NULL);
	AT(allocated[0], shrunk = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	AT(allocated[1], grown = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	fill(shrunk, 100, 21);
	fill(grown, 100, 22);
	poke(shrunk, 100, "!!!", 3);
	poke(grown, 100, "??", 2);
	AT(detected[0], result[0] = am->realloc(zoo.pool[A], shrunk, 50));
	AT(detected[1], result[1] = am->realloc(zoo.pool[A], grown, 5000));
	assert_reports(2);
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", shrunk, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 3, &allocated[0], NULL, &detected[0] });
	assert_report(1,
		&(struct expected){ "heap-buffer-overflow", grown, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 2, &allocated[1], NULL, &detected[1] });
	ck_assert_ptr_eq(result[0], shrunk);
	ck_assert_ptr_nonnull(result[1]);
	assert_filled(result[0], 50, 21);
	assert_filled(result[1], 100, 22);
	/* the resized blocks carry fresh canaries */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 0);
	assert_reports(2);
	am->free(zoo.pool[A], result[0]);
	am->free(zoo.pool[A], result[1]);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

START_TEST(underflow_at_realloc)
{
	struct site allocated, detected;
	struct zoo zoo;
	unsigned char *block, *result;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[B], 100));
	zoo_add_bystanders(&zoo, B);
	fill(block, 100, 8);
	poke(block, -1, "u", 1);
	AT(detected, result = am->realloc(zoo.pool[B], block, 300));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-underflow", block, 100, zoo.pool[B], zoo.area[B],
			NULL, -1, 0, &allocated, NULL, &detected });
	assert_text_has(0, "first damaged byte at offset -1 from the block (before its start)");
	ck_assert_ptr_nonnull(result);
	assert_filled(result, 100, 8);
	am->free(zoo.pool[B], result);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* ==== leaving the quarantine ==== */

/* Frees 1000-byte blocks until the quarantine of pool releases blocks for
 * the first time; returns how many reports arrived during that free (and
 * asserts none arrived before it). */
static int push_quarantine_until_release(const struct zoo *zoo, int pool)
{
	for (int i = 0; i < 1000; i++) {
		area_malloc_pool_stats before = pool_stats(zoo->pool[pool]);
		int reports = reports_so_far();
		void *block = am->malloc(zoo->pool[pool], 1000);

		ck_assert_ptr_nonnull(block);
		am->free(zoo->pool[pool], block);
		if (pool_stats(zoo->pool[pool]).quarantined_blocks <= before.quarantined_blocks)
			return reports_so_far() - reports;
		ck_assert_int_eq(reports_so_far(), reports);
	}
	ck_abort_msg("the quarantine never released a block");
	return 0;
}

/* After a damaged block left it: the quarantine goes on taking and
 * releasing blocks within its limit, and reports nothing more. */
static void assert_quarantine_keeps_working(struct zoo *zoo, int pool, int reports)
{
	for (int i = 0; i < 300; i++) {
		void *other = am->malloc(zoo->pool[pool], 1 + (size_t)(i * 37) % 2000);
		ck_assert_ptr_nonnull(other);
		am->free(zoo->pool[pool], other);
		ck_assert_uint_le(pool_stats(zoo->pool[pool]).quarantined_bytes, 8192);
	}
	assert_reports(reports);
}

/*
 * A write after free into a 100-byte block of pool A (quarantine 8 KiB):
 * the block is freed (then a newer one, when newer_after, so that its link
 * is no longer the tail's), length bytes are written at offset from it, and
 * the quarantine is pushed until the block leaves, the oldest first. One
 * use-after-free names the block, who allocated and who freed it, and the
 * first damaged byte; then the quarantine keeps working and the pools are
 * sound.
 */
static void assert_write_after_free_found(long offset, const char *bytes, size_t length,
	bool newer_after, const char *first_damaged)
{
	struct site allocated, freed;
	struct zoo zoo;
	unsigned char *block, *newer = NULL;

	zoo_start(&zoo, "quarantine_bytes=8k");
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	if (newer_after)
		newer = am->malloc(zoo.pool[A], 100);
	zoo_add_bystanders(&zoo, A);
	AT(freed, am->free(zoo.pool[A], block));
	if (newer != NULL)
		am->free(zoo.pool[A], newer);
	poke(block, offset, bytes, length);
	assert_reports(0);
	ck_assert_int_eq(push_quarantine_until_release(&zoo, A), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 100, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated, &freed, NULL });
	assert_text_has(0, first_damaged);
	assert_quarantine_keeps_working(&zoo, A, 1);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}

START_TEST(use_after_free_leaving_quarantine)
{
	assert_write_after_free_found(64, "DONE", 4, false,
		"first damaged byte at offset 64 from the block");
}
END_TEST

/* The write hits the first byte after the free record (offset 32): the
 * poison starts right there. */
START_TEST(use_after_free_just_past_free_record)
{
	assert_write_after_free_found(32, "\x5a", 1, false,
		"first damaged byte at offset 32 from the block");
}
END_TEST

/* Offset 44. Was a bug: the record was 40 bytes and the poison started at
 * byte 48, so bytes 40-47 were neither sealed nor poisoned and a write there
 * went unseen. */
START_TEST(use_after_free_in_old_gap_after_free_record)
{
	assert_write_after_free_found(44, "\x5a", 1, false,
		"first damaged byte at offset 44 from the block");
}
END_TEST

/* The write hits the quarantine link of a freed block that is not the
 * newest: the link sits in the first word of the leading canary, 16 bytes
 * before the block. A use-after-free at that offset, and the quarantine
 * relinks itself and keeps working. */
START_TEST(use_after_free_of_quarantine_link)
{
	assert_write_after_free_found(LEADING_CANARY_START, "\x11\x22\x33\x44\x55\x66\x77\x08", 8,
		true, "first damaged byte at offset -16 from the block");
}
END_TEST

/* The write hits the free record (who freed it) of
 * a block that is no longer the newest in quarantine: still a
 * use-after-free, the freer unknown, and the quarantine keeps working after
 * relinking itself. (The newest block's record: see known_bug_* below.) */
START_TEST(use_after_free_of_free_record)
{
	struct site allocated;
	struct zoo zoo;
	unsigned char *block, *newer;

	zoo_start(&zoo, "quarantine_bytes=8k");
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	newer = am->malloc(zoo.pool[A], 100);
	zoo_add_bystanders(&zoo, A);
	am->free(zoo.pool[A], block);
	am->free(zoo.pool[A], newer);
	poke(block, 0, "\x01\x02\x03\x04", 4);
	ck_assert_int_eq(push_quarantine_until_release(&zoo, A), 1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 100, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated, NULL, NULL });
	assert_text_has(0, "first damaged byte at offset 0 from the block");
	assert_quarantine_keeps_working(&zoo, A, 1);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* A pool that runs out of room empties its quarantine before failing; the
 * damaged block is found then, and its room is reused. The room is the
 * debug heap's (release_capacity=0): with capacity parity the release
 * build's limit comes first and the quarantine is not needed. */
START_TEST(use_after_free_on_pool_exhaustion)
{
	struct site allocated, freed;
	void *blocks[2048];
	int count = 0, reports;
	struct zoo zoo;
	unsigned char *block;
	const void *small;
	void *result = NULL;

	zoo_start(&zoo, "release_capacity=0");
	small = new_pool(64 * 1024);
	AT(allocated, block = am->malloc(small, 100));
	AT(freed, am->free(small, block));
	poke(block, 64, "DONE", 4);
	for (;;) {
		area_malloc_pool_stats before = pool_stats(small);
		ck_assert_int_lt(count, 2048);
		reports = reports_so_far();
		result = am->malloc(small, 100);
		if (reports_so_far() != reports) {
			/* the call that found the pool full */
			ck_assert_uint_eq(before.quarantined_blocks, 1);
			break;
		}
		ck_assert_ptr_nonnull(result);
		blocks[count++] = result;
	}
	ck_assert_int_gt(count, 100);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 100, small, pool_area(small), NULL, -1,
			0, &allocated, &freed, NULL });
	ck_assert_uint_eq(pool_stats(small).quarantined_blocks, 0);
	ck_assert_ptr_eq(result, block); /* the drained block's room, reused */
	blocks[count++] = result;
	ck_assert_ptr_null(am->malloc(small, 100)); /* the pool is full indeed */
	ck_assert_int_eq(dbg->check_pool(small), 0);
	for (int i = 0; i < count; i++)
		am->free(small, blocks[i]);
	ck_assert_int_eq(am->delete_pool(small), B_OK);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

START_TEST(use_after_free_at_check)
{
	struct site allocated, freed;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, "quarantine_bytes=8k");
	AT(allocated, block = am->malloc(zoo.pool[B], 100));
	zoo_add_bystanders(&zoo, B);
	AT(freed, am->free(zoo.pool[B], block));
	poke(block, 80, "x", 1);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[B]), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 100, zoo.pool[B], zoo.area[B], NULL,
			-1, 0, &allocated, &freed, NULL });
	assert_text_has(0, "found by a check of the pool");
	zoo_assert_other_pools_clean(&zoo, B);
	zoo_verify_bystanders(&zoo);
	/* once the block leaves the quarantine (reported once more) all is well */
	ck_assert_int_eq(push_quarantine_until_release(&zoo, B), 1);
	assert_report(1,
		&(struct expected){ "use-after-free", block, 100, zoo.pool[B], zoo.area[B], NULL,
			-1, 0, &allocated, &freed, NULL });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

START_TEST(use_after_free_at_delete_pool)
{
	struct site allocated, freed;
	struct zoo zoo;
	unsigned char *block;
	const void *pool;
	area_id area;

	zoo_start(&zoo, NULL);
	pool = zoo.pool[C];
	area = zoo.area[C];
	AT(allocated, block = am->malloc(pool, 200));
	AT(freed, am->free(pool, block));
	poke(block, 196, "!", 1);
	assert_reports(0);
	zoo_delete_pool(&zoo, C);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 200, pool, area, NULL, -1, 0,
			&allocated, &freed, NULL });
	assert_text_has(0, "first damaged byte at offset 196 from the block");
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* ==== on check ==== */

START_TEST(overflow_at_check)
{
	struct site allocated, detected;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A);
	poke(block, 100, "+++", 3);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", block, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 3, &allocated, NULL, NULL });
	assert_text_has(0, "found by a check of the pool");
	zoo_assert_other_pools_clean(&zoo, A);
	zoo_verify_bystanders(&zoo);
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(2);
	assert_report(1,
		&(struct expected){ "heap-buffer-overflow", block, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 3, &allocated, NULL, &detected });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

START_TEST(underflow_at_check)
{
	struct site allocated;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[B], 64));
	zoo_add_bystanders(&zoo, B);
	poke(block, LEADING_CANARY_START, "U", 1); /* the leading canary's first byte */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[B]), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-underflow", block, 64, zoo.pool[B], zoo.area[B],
			NULL, -1, 0, &allocated, NULL, NULL });
	assert_text_has(0, "first damaged byte at offset -16 from the block (before its start)");
	zoo_assert_other_pools_clean(&zoo, B);
	am->free(zoo.pool[B], block);
	assert_reports(2);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

/* The "check" debugger command: over all pools, over one, and its count. */
START_TEST(check_command_counts_problems)
{
	struct zoo zoo;
	char output[4096], command[32], expected[64];
	unsigned char *over, *under;

	zoo_start(&zoo, NULL);
	over = am->malloc(zoo.pool[A], 40);
	under = am->malloc(zoo.pool[C], 40);
	poke(over, 40, "o", 1);
	poke(under, -3, "u", 1);
	ck_assert_int_eq(debug_command("check", output, sizeof(output)), 1);
	ck_assert_msg(strstr(output, "3 pool(s) checked, 2 problem(s)\n") != NULL, "%s", output);
	assert_reports(2);
	snprintf(command, sizeof(command), "check %d", (int)zoo.area[C]);
	ck_assert_int_eq(debug_command(command, output, sizeof(output)), 1);
	ck_assert_msg(strstr(output, "1 pool(s) checked, 1 problem(s)\n") != NULL, "%s", output);
	assert_reports(3);
	ck_assert_str_eq(recorded[2].kind, "heap-buffer-underflow");
	ck_assert_ptr_eq(recorded[2].address, under);
	snprintf(command, sizeof(command), "check %d", (int)zoo.area[B]);
	ck_assert_int_eq(debug_command(command, output, sizeof(output)), 0);
	snprintf(expected, sizeof(expected), "1 pool(s) checked, 0 problem(s)\n");
	ck_assert_msg(strstr(output, expected) != NULL, "%s", output);
	am->free(zoo.pool[A], over);
	am->free(zoo.pool[C], under);
	assert_reports(5);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 5);
}
END_TEST

/* ==== the pool's own metadata: heap-corruption ====
 *
 * A write that reaches the heap's chunk headers or the pool's allocation
 * log is not a block's damage: it is reported as heap-corruption of the
 * pool, at the damaged tag (naming the nearest live block below it, the
 * likely culprit) or at the log, and a damaged heap is never walked or
 * changed: the pool refuses every call (one report each) until a check finds
 * it sound again, and delete_pool releases it without checks.
 */

static char *area_base(area_id area)
{
	area_info info;

	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	return info.address;
}

/* A size tag overwritten: where, and what it held. */
struct damaged_tag {
	unsigned char *block;
	struct site allocated;
	long at; /* from block */
	uint64_t saved;
};

/*
 * Overwrites the size tag of the heap chunk right after block's (a live
 * 100-byte block) with a 16-byte used chunk, below the heap's minimum chunk
 * (invariant I2). The chunk is found from block's own header: its chunk is
 * a 16-byte header, the 48-byte debug header and leading canary, and a
 * 112-byte user area; the next chunk's prev_size says the same.
 */
static struct damaged_tag damage_next_size_tag(unsigned char *block, struct site allocated)
{
	const long chunk = HEADER_START - CHUNK_HEADER_BYTES;
	uint64_t size = peek_field(block, chunk + CHUNK_SIZE_TAG, 8) & ~(uint64_t)CHUNK_FLAG_BITS;
	struct damaged_tag tag = { block, allocated, chunk + (long)size + CHUNK_SIZE_TAG, 0 };

	ck_assert_uint_eq(size, CHUNK_HEADER_BYTES + 48 + 112);
	ck_assert_uint_eq(peek_field(block, chunk + (long)size, 8), size); /* its prev_size */
	tag.saved = peek_field(block, tag.at, 8);
	ck_assert_uint_ge(tag.saved & ~(uint64_t)CHUNK_FLAG_BITS, 32);
	poke_field(block, tag.at, 8, 16 | (tag.saved & 1));
	return tag;
}

static void restore_size_tag(const struct damaged_tag *tag)
{
	poke_field(tag->block, tag->at, 8, tag->saved);
}

/* Report index: heap-corruption of the zoo's pool, found by a check. */
static void assert_heap_corruption(int index, const struct zoo *zoo, int pool, const void *address,
	const char *what, const char *why)
{
	assert_report(index,
		&(struct expected){ "heap-corruption", address, 0, zoo->pool[pool], zoo->area[pool],
			NULL, -1, 0, NULL, NULL, NULL });
	assert_text_has(index, what);
	assert_text_has(index, why);
}

/* Starts the zoo with the size tag after a live 100-byte block of pool
 * damaged (bystanders follow the block; tag->block is the block). */
static void zoo_start_with_damaged_heap(struct zoo *zoo, int pool, struct damaged_tag *tag)
{
	unsigned char *block;
	struct site allocated;

	zoo_start(zoo, NULL);
	AT(allocated, block = am->malloc(zoo->pool[pool], 100));
	ck_assert_ptr_nonnull(block);
	fill(block, 100, 21);
	zoo_add_bystanders(zoo, pool); /* the next chunk is a bystander's */
	*tag = damage_next_size_tag(block, allocated);
}

/* The damaged size tag, where the report points. */
static const void *damaged_chunk(const struct damaged_tag *tag)
{
	return tag->block + tag->at;
}

/* Found by a check (detected NULL) or refused at a call (detected). */
static void assert_damaged_heap_report(int index, const struct zoo *zoo, int pool,
	const struct damaged_tag *tag)
{
	assert_report(index,
		&(struct expected){ "heap-corruption", damaged_chunk(tag), 100, zoo->pool[pool],
			zoo->area[pool], NULL, -1, 0, &tag->allocated, NULL, NULL });
	assert_text_has(index,
		"heap metadata is damaged (I2: chunk smaller than the minimum "
		"chunk); the nearest live block below the damage, the likely culprit, "
		"is the 100-byte block");
	assert_text_has(index, "first damaged byte at offset 120 from the block");
}

/* Repairs the heap: the pool checks clean, its block held every byte, and
 * the zoo goes with no report past the expected ones. */
static void zoo_repair_heap_and_finish(struct zoo *zoo, int pool, const struct damaged_tag *tag,
	int expected_reports)
{
	restore_size_tag(tag);
	ck_assert_int_eq(dbg->check_pool(zoo->pool[pool]), 0);
	assert_reports(expected_reports);
	assert_filled(tag->block, 100, 21);
	am->free(zoo->pool[pool], tag->block);
	zoo_assert_sound(zoo);
	zoo_finish(zoo, expected_reports);
}

START_TEST(heap_corruption_at_check)
{
	struct damaged_tag tag;
	struct zoo zoo;

	zoo_start_with_damaged_heap(&zoo, A, &tag);
	zoo_assert_other_pools_clean(&zoo, A);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 1);
	assert_reports(1);
	assert_damaged_heap_report(0, &zoo, A, &tag);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).errors, 1);
	/* the damage stays until repaired: a second check finds it again */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 1);
	assert_reports(2);
	assert_damaged_heap_report(1, &zoo, A, &tag);
	ck_assert_uint_eq(pool_stats(zoo.pool[A]).errors, 2);
	zoo_repair_heap_and_finish(&zoo, A, &tag, 2);
}
END_TEST

START_TEST(heap_corruption_at_check_command)
{
	char output[4096], command[32];
	struct damaged_tag tag;
	struct zoo zoo;

	zoo_start_with_damaged_heap(&zoo, B, &tag);
	ck_assert_int_eq(debug_command("check", output, sizeof(output)), 1);
	ck_assert_msg(strstr(output, "3 pool(s) checked, 1 problem(s)\n") != NULL, "%s", output);
	assert_reports(1);
	assert_damaged_heap_report(0, &zoo, B, &tag);
	snprintf(command, sizeof(command), "check %d", (int)zoo.area[B]);
	ck_assert_int_eq(debug_command(command, output, sizeof(output)), 1);
	ck_assert_msg(strstr(output, "1 pool(s) checked, 1 problem(s)\n") != NULL, "%s", output);
	assert_reports(2);
	assert_damaged_heap_report(1, &zoo, B, &tag);
	ck_assert_uint_eq(pool_stats(zoo.pool[B]).errors, 2);
	zoo_repair_heap_and_finish(&zoo, B, &tag, 2);
}
END_TEST

/* Bystanders of a damaged pool are lost with it: freeing them would only
 * be refused. */
static void zoo_forget_bystanders(struct zoo *zoo, int pool)
{
	for (int n = 0; n < zoo->bystanders; n++) {
		if (zoo->bystander_pool[n] == pool)
			zoo->bystander[n] = NULL;
	}
}

/* Deletes a damaged pool at a site: B_OK, without any walk or leak report. */
static void zoo_delete_damaged_pool(struct zoo *zoo, int pool, struct site *deleted)
{
	status_t status;

	zoo_forget_bystanders(zoo, pool);
	AT(*deleted, status = am->delete_pool(zoo->pool[pool]));
	ck_assert_int_eq(status, B_OK);
	zoo->pool[pool] = NULL;
}

START_TEST(damaged_heap_refuses_calls_and_is_deleted)
{
	struct site refused_malloc, refused_free, deleted;
	struct damaged_tag tag;
	const void *pool;
	struct zoo zoo;
	void *block;

	zoo_start_with_damaged_heap(&zoo, A, &tag);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 1);
	assert_reports(1);
	assert_damaged_heap_report(0, &zoo, A, &tag);
	/* from now on the pool refuses every call, one report each */
	AT(refused_malloc, block = am->malloc(zoo.pool[A], 16));
	ck_assert_ptr_null(block);
	assert_reports(2);
	assert_report(1,
		&(struct expected){ "heap-corruption", NULL, 0, zoo.pool[A], zoo.area[A], NULL, -1,
			0, NULL, NULL, &refused_malloc });
	assert_text_has(1, "malloc refused: the pool's heap metadata was found damaged at");
	AT(refused_free, am->free(zoo.pool[A], tag.block));
	assert_reports(3);
	assert_report(2,
		&(struct expected){ "heap-corruption", tag.block, 0, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, NULL, NULL, &refused_free });
	/* the other pools are unaffected */
	zoo_assert_other_pools_clean(&zoo, A);
	block = am->malloc(zoo.pool[B], 100);
	ck_assert_ptr_nonnull(block);
	am->free(zoo.pool[B], block);
	/* delete_pool releases it as it is (it used to hang in a walk) */
	pool = zoo.pool[A];
	zoo_delete_damaged_pool(&zoo, A, &deleted);
	assert_reports(4);
	assert_report(3,
		&(struct expected){ "heap-corruption", damaged_chunk(&tag), 100, pool, zoo.area[A],
			NULL, -1, 0, &tag.allocated, NULL, &deleted });
	assert_text_has(3,
		"delete_pool releases the pool without checking its blocks or "
		"reporting its leaks");
	zoo_finish(&zoo, 4);
}
END_TEST

/*
 * The overflow of the issue that hung delete_pool: a memset 28 bytes past a
 * 100-byte block with a live neighbour zeroes the neighbour's chunk tags.
 * The free finds the overflow (its canary); delete_pool finds the damaged
 * tags, names the block as the likely culprit and releases the pool.
 */
START_TEST(overflow_into_the_next_chunk_tags)
{
	static const char zeros[28];
	struct site allocated, freed, deleted;
	struct zoo zoo;
	unsigned char *block;
	const void *pool;
	area_id area;

	zoo_start(&zoo, NULL);
	pool = zoo.pool[A];
	area = zoo.area[A];
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	zoo_add_bystanders(&zoo, A); /* the live neighbour */
	poke(block, 100, zeros, sizeof(zeros));
	AT(freed, am->free(zoo.pool[A], block));
	assert_reports(1);
	/* ASan: "0 bytes to the right of 100-byte region", a 28-byte write */
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", block, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 28, &allocated, NULL, &freed });
	assert_text_has(0, "first damaged byte at offset 100 from the block");
	assert_text_has(0,
		"the write ran on past the block's trailing canary into the heap's "
		"own tags");
	assert_text_has(0, "the pool refuses every call until a check finds it sound again");
	/* the free was refused with the pool: the block is still live */
	zoo_delete_damaged_pool(&zoo, A, &deleted);
	assert_reports(2);
	assert_report(1,
		&(struct expected){ "heap-corruption", block + 112, 100, pool, area, NULL, -1, 0,
			&allocated, NULL, &deleted });
	assert_text_has(1, "the likely culprit, is the 100-byte block");
	zoo_finish(&zoo, 2);
}
END_TEST

/*
 * An underflow: 64 zero bytes just in front of a block wipe its debug
 * header and its chunk's tags. Freeing it finds the damaged tags (no block
 * starts there any more), names the block below, and the pool is refused.
 */
START_TEST(underflow_over_the_chunk_tags)
{
	static const char zeros[64];
	struct site allocated_below, allocated, freed, deleted;
	struct zoo zoo;
	const void *pool;
	unsigned char *below, *block;

	zoo_start(&zoo, NULL);
	pool = zoo.pool[A];
	AT(allocated_below, below = am->malloc(zoo.pool[A], 100));
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	ck_assert_ptr_eq(below + 176, block);
	zoo_add_bystanders(&zoo, A);
	poke(block, -64, zeros, sizeof(zeros));
	AT(freed, am->free(zoo.pool[A], block));
	assert_reports(1);
	/* one run down from the block's start: its underflow, its owner from
	 * the pool log (its own header is gone) */
	assert_report(0,
		&(struct expected){ "heap-buffer-underflow", block, 100, zoo.pool[A], zoo.area[A],
			NULL, -1, 0, &allocated, NULL, &freed });
	assert_text_has(0,
		"a write ran down from the block's start through its owner tag into "
		"the heap's own tags");
	assert_text_has(0, "first damaged byte at offset -64 from the block (before its start)");
	zoo_delete_damaged_pool(&zoo, A, &deleted);
	assert_reports(2);
	/* delete_pool names the block below the damaged tags, as the walk saw it */
	assert_report(1,
		&(struct expected){ "heap-corruption", block - 64, 100, pool, zoo.area[A], NULL, -1,
			0, &allocated_below, NULL, &deleted });
	zoo_finish(&zoo, 2);
}
END_TEST

/*
 * One byte at p[-60], in the prev_size tag of p's chunk: that free still
 * passes (it reads only p's own tags), but the free of the neighbour below,
 * whose boundary tag it is, finds the damage; delete_pool no longer faults.
 */
START_TEST(one_byte_in_a_prev_size_tag)
{
	struct site allocated_below, freed_p, freed_below, deleted;
	struct zoo zoo;
	const void *pool;
	unsigned char *below, *p;

	zoo_start(&zoo, NULL);
	pool = zoo.pool[A];
	AT(allocated_below, below = am->malloc(zoo.pool[A], 100));
	p = am->malloc(zoo.pool[A], 100);
	ck_assert_ptr_nonnull(p);
	zoo_add_bystanders(&zoo, A);
	poke(p, -60, "\x41", 1);
	AT(freed_p, am->free(zoo.pool[A], p));
	assert_reports(0);
	AT(freed_below, am->free(zoo.pool[A], below));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-corruption", p - 64, 100, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated_below, NULL, &freed_below });
	zoo_delete_damaged_pool(&zoo, A, &deleted);
	assert_reports(2);
	assert_report(1,
		&(struct expected){ "heap-corruption", p - 64, 100, pool, zoo.area[A], NULL, -1, 0,
			&allocated_below, NULL, &deleted });
	(void)freed_p;
	zoo_finish(&zoo, 2);
}
END_TEST

/* ==== writes into free memory ====
 *
 * Free memory holds a poison fill below the heap's touched mark and zeros
 * above it: a write there is found at the next check (or the allocation
 * that takes the memory), and named by the block it came from.
 */

/*
 * The issue's case: a write past the last block of a pool, into memory no
 * block ever used (ASan and Valgrind both catch it): offset bytes from the
 * block, in the touched mark's page (150: past the canary, 12, the free
 * chunk's header, 16, and links, 16), or pages above it, which no block
 * ever used and which hold memory only where they were written. A check
 * finds those in the pool's node file (its data ranges, lseek SEEK_DATA)
 * or, for a pool without a node file, with mincore(); either way the write
 * is named by the last block.
 */
static void write_above_the_last_block(const char *options, size_t offset)
{
	struct site allocated;
	struct zoo zoo;
	unsigned char *block;
	char text[160];

	zoo_start(&zoo, options);
	AT(allocated, block = am->malloc(zoo.pool[B], 100));
	poke(block, offset, "W", 1);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[B]), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "heap-buffer-overflow", block, 100, zoo.pool[B], zoo.area[B],
			NULL, -1, offset - 100 + 1, &allocated, NULL, NULL });
	snprintf(text, sizeof(text),
		"a write %zu bytes to the right of the 100-byte block landed in free memory "
		"above it (found at check)",
		offset - 100);
	assert_text_has(0, text);
	snprintf(text, sizeof(text), "first damaged byte at offset %zu from the block", offset);
	assert_text_has(0, text);
	/* reported once: the free memory is sound again */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[B]), 0);
	am->free(zoo.pool[B], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}

START_TEST(write_past_the_last_block)
{
	write_above_the_last_block(NULL, 150);
}
END_TEST

START_TEST(write_pages_above_the_touched_mark_node_file)
{
	write_above_the_last_block(NULL, 5 * 4096 + 7);
}
END_TEST

START_TEST(write_pages_above_the_touched_mark_no_node)
{
	write_above_the_last_block("node=0", 5 * 4096 + 7);
}
END_TEST

/* A write into a block that left the quarantine long ago: its memory is
 * free, and the pool log still knows whose it was. */
START_TEST(write_into_a_block_freed_long_ago)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	unsigned char *block, *taken;

	zoo_start(&zoo, "quarantine_bytes=0");
	AT(allocated, block = am->malloc(zoo.pool[A], 200));
	zoo_add_bystanders(&zoo, A); /* the block is not the last one */
	AT(freed, am->free(zoo.pool[A], block));
	poke(block, 40, "late", 4);
	/* the allocation that takes the memory back finds it first */
	AT(detected, taken = am->malloc(zoo.pool[A], 200));
	ck_assert_ptr_eq(taken, block);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 200, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated, &freed, &detected });
	assert_text_has(0, "4 byte(s) of free memory were written, in a block freed long ago");
	assert_text_has(0, "first damaged byte at offset 40 from the block");
	am->free(zoo.pool[A], taken);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/*
 * An allocation checks only the first max_free_check_size bytes (1024 by
 * default) of the free memory it takes: a write further in is the next
 * check's to find, unless the block handed out over it hides it (here: the
 * new block's fill overwrote them). Set as large
 * as the block, the allocation checks it all.
 */
static void write_far_into_a_block_freed_long_ago(const char *options, bool found_at_malloc)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	unsigned char *block, *taken;

	zoo_start(&zoo, options);
	AT(allocated, block = am->malloc(zoo.pool[A], 4000));
	zoo_add_bystanders(&zoo, A);
	AT(freed, am->free(zoo.pool[A], block));
	poke(block, 2000, "late", 4);
	/* a smaller request, so that the heap's good fit picks the freed chunk */
	AT(detected, taken = am->malloc(zoo.pool[A], 3000));
	ck_assert_ptr_eq(taken, block);
	if (found_at_malloc) {
		assert_reports(1);
		assert_report(0,
			&(struct expected){ "use-after-free", block, 4000, zoo.pool[A], zoo.area[A],
				NULL, -1, 0, &allocated, &freed, &detected });
		assert_text_has(0,
			"4 byte(s) of free memory were written, in a block freed long ago");
		assert_text_has(0, "first damaged byte at offset 2000 from the block");
	} else {
		assert_reports(0);
		/* the new block's filled start (max_malloc_fill_size) covers it */
		ck_assert_uint_eq(taken[2000], 0xcc);
	}
	am->free(zoo.pool[A], taken);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, found_at_malloc ? 1 : 0);
}

START_TEST(write_beyond_the_checked_start_is_not_checked_at_malloc)
{
	write_far_into_a_block_freed_long_ago("quarantine_bytes=0", false);
}
END_TEST

START_TEST(max_free_check_size_checks_the_whole_block_at_malloc)
{
	write_far_into_a_block_freed_long_ago("quarantine_bytes=0:max_free_check_size=8k", true);
}
END_TEST

/*
 * The pool's allocation log, found as pooldump finds it: the pool's node
 * descriptor (format/node_format.h) lies in the first page of the pool's
 * area, in its control region, and names the log's offset.
 */
static char *pool_log_of(const struct zoo *zoo, int pool)
{
	char *base = area_base(zoo->area[pool]);
	uint64_t magic;

	memcpy(&magic, NODE_POOL_MAGIC, sizeof(magic));
	for (long at = 0; at + (long)sizeof(struct node_pool_descriptor) <= B_PAGE_SIZE; at += 8) {
		const char *descriptor = base + at;
		if (peek_field(descriptor, 0, sizeof(magic)) != magic)
			continue;
		ck_assert_int_eq((area_id)peek_field(descriptor,
					 offsetof(struct node_pool_descriptor, area), 4),
			zoo->area[pool]);
		ck_assert_uint_eq(peek_field(descriptor,
					  offsetof(struct node_pool_descriptor, base_address), 8),
			(uintptr_t)base);
		return base
			+ peek_field(descriptor, offsetof(struct node_pool_descriptor, log_offset),
				8);
	}
	ck_abort_msg("no pool descriptor in the first page of area %d", (int)zoo->area[pool]);
	return NULL;
}

/* The log's cursor (next_slot) made to disagree with its count of events. */
START_TEST(allocation_log_corruption_at_check)
{
	struct zoo zoo;
	char *log;
	const long cursor = (long)offsetof(struct pool_log, next_slot);
	const long appended = (long)offsetof(struct pool_log, appended);
	uint64_t capacity, slot;
	void *block;

	zoo_start(&zoo, NULL);
	log = pool_log_of(&zoo, C);
	capacity = peek_field(log, (long)offsetof(struct pool_log, capacity), 4);
	slot = peek_field(log, cursor, 4);
	ck_assert_uint_eq(capacity, 256); /* the log_size option's default */
	ck_assert_uint_eq(slot, peek_field(log, appended, 8) % capacity);
	poke_field(log, cursor, 4, (slot + 1) % capacity);
	zoo_assert_other_pools_clean(&zoo, C);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[C]), 1);
	assert_reports(1);
	assert_heap_corruption(0, &zoo, C, log, "allocation log",
		"log slot cursor differs from appended % capacity");
	/* one report, one error (it used to be counted twice) */
	ck_assert_uint_eq(pool_stats(zoo.pool[C]).errors, 1);
	/* the damage stays until repaired (events appended since keep it) */
	block = am->malloc(zoo.pool[C], 100);
	ck_assert_ptr_nonnull(block);
	am->free(zoo.pool[C], block);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[C]), 1);
	assert_reports(2);
	assert_heap_corruption(1, &zoo, C, log, "allocation log",
		"log slot cursor differs from appended % capacity");
	ck_assert_uint_eq(pool_stats(zoo.pool[C]).errors, 2);
	/* repaired: the cursor agrees with the count of events again */
	poke_field(log, cursor, 4, peek_field(log, appended, 8) % capacity);
	ck_assert_int_eq(dbg->check_pool(zoo.pool[C]), 0);
	assert_reports(2);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

/* ==== leaks: at delete_pool, at unload, at exit ==== */

/* A trip count the compiler cannot see, so a loop stays one call site. */
static volatile int two = 2;

START_TEST(leaks_at_delete_pool)
{
	struct site repeated, single;
	void *blocks[2], *small_block, *freed;
	const void *pool;
	area_id area;
	status_t status;

	zoo_open(NULL);
	pool = new_pool(128 * 1024);
	area = pool_area(pool);
	/* one call site, so one stack: unrolled (a constant trip count is),
	 * the loop would make two (the second frame, in this function, would
	 * differ), and leaks are grouped by whole stacks */
	for (int i = 0; i < two; i++)
		blocks[i] = malloc_at(&repeated, pool, 100);
	AT(single, small_block = am->malloc(pool, 30));
	freed = am->malloc(pool, 20);
	am->free(pool, freed);
	ck_assert_ptr_nonnull(small_block);
	status = am->delete_pool(pool);
	ck_assert_int_eq(status, B_OK);
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "detected memory leaks");
	ck_assert_uint_eq(recorded[0].leaked_bytes, 230);
	ck_assert_uint_eq(recorded[0].leaked_blocks, 3);
	ck_assert_ptr_eq(recorded[0].pool_id, pool);
	ck_assert_int_eq(recorded[0].pool_area, area);
	/* the report's block: the first of its largest group */
	ck_assert_msg(recorded[0].address == blocks[0] || recorded[0].address == blocks[1],
		"address %p", recorded[0].address);
	ck_assert_uint_eq(recorded[0].size, 100);
	ck_assert(recorded[0].has_allocated_by);
	assert_owner_at("allocated_by", &recorded[0].allocated_by, &repeated, recorded[0].text,
		gettid(), getpid());
	ck_assert_int_eq(text_frame_line(recorded[0].text, &single), single.line);
	ck_assert(!recorded[0].has_freed_by);
	ck_assert_uint_eq(recorded[0].detected_by.frame_count, 0);
	assert_text_has(0, "found at delete_pool");
	assert_text_has(0, "Leak of 200 byte(s) in 2 allocation(s) allocated from:");
	assert_text_has(0, "Leak of 30 byte(s) in 1 allocation(s) allocated from:");
	assert_text_has(0, "\nSUMMARY: area_malloc: 230 byte(s) leaked in 3 allocation(s).\n");
	zoo_close();
	assert_reports(1);
}
END_TEST

START_TEST(leaks_at_unload)
{
	struct site allocated;
	const void *pool, *empty;
	area_id area;
	void *block;

	area_id empty_area;

	zoo_open(NULL);
	pool = new_pool(128 * 1024);
	empty = new_pool(64 * 1024);
	area = pool_area(pool);
	empty_area = pool_area(empty);
	AT(allocated, block = am->malloc(pool, 77));
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
	assert_reports(0);
	/* the last put unloads: the pools left are reported and deleted, the
	 * leaks of their blocks first, then each pool as a leaked pool */
	ck_assert_int_eq(put_module(B_AREA_MALLOC_MODULE_NAME), B_OK);
	assert_reports(3);
	ck_assert_str_eq(recorded[1].kind, "leaked-pool");
	ck_assert_int_eq(recorded[1].pool_area, area);
	ck_assert_uint_eq(recorded[1].leaked_bytes, 128 * 1024);
	ck_assert_uint_eq(recorded[1].leaked_blocks, 1);
	assert_text_has(1,
		"found at unload\nthe pool was never deleted; 1 live block(s) of 77 byte(s)");
	ck_assert_str_eq(recorded[2].kind, "leaked-pool");
	ck_assert_int_eq(recorded[2].pool_area, empty_area);
	ck_assert_uint_eq(recorded[2].leaked_bytes, 64 * 1024);
	assert_text_has(2, "the pool was never deleted; 0 live block(s) of 0 byte(s)");
	ck_assert_str_eq(recorded[0].kind, "detected memory leaks");
	ck_assert_uint_eq(recorded[0].leaked_bytes, 77);
	ck_assert_uint_eq(recorded[0].leaked_blocks, 1);
	ck_assert_ptr_eq(recorded[0].address, block);
	ck_assert_uint_eq(recorded[0].size, 77);
	ck_assert_int_eq(recorded[0].pool_area, area);
	assert_owner_at("allocated_by", &recorded[0].allocated_by, &allocated, recorded[0].text,
		gettid(), getpid());
	assert_text_has(0, "found at unload");
	/* ... and the pools are gone with the module */
	ck_assert_int_lt(area_for(block), 0);
}
END_TEST

/* What a forked child tells its parent before it exits. */
struct child_note {
	void *block;
	struct site site;
	pid_t pid;
};

/*
 * Forks a child that allocates 50 bytes in pool and exits with exit(0),
 * never freeing it. hooked: the child's hook sends its reports down the
 * pipe; otherwise its reports go to stderr_path. The parent's own blocks
 * were allocated before the fork, so the child must not report them.
 */
static pid_t fork_leaking_child(const void *pool, bool hooked, const char *stderr_path,
	int pipe_fds[2])
{
	pid_t pid;

	ck_assert_int_eq(pipe(pipe_fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static int report_fd;
		struct child_note note;

		close(pipe_fds[0]);
		report_fd = pipe_fds[1];
		if (hooked) {
			dbg->set_report_hook(take_report, &report_fd);
		} else {
			int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			dbg->set_report_hook(NULL, NULL);
			if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
				_exit(99);
			close(fd);
		}
		AT(note.site, note.block = am->malloc(pool, 50));
		note.pid = getpid();
		recorded_write_all(report_fd, &note, sizeof(note));
		exit(0);
	}
	close(pipe_fds[1]);
	return pid;
}

static void read_exactly(int fd, void *data, size_t length)
{
	char *bytes = data;

	while (length > 0) {
		ssize_t got = read(fd, bytes, length);
		if (got < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(got, 0);
		bytes += got;
		length -= (size_t)got;
	}
}

START_TEST(leaks_at_exit_in_child)
{
	struct child_note note;
	struct recorded *report = malloc(sizeof(*report));
	const void *pool;
	void *parents;
	int fds[2], status;
	char extra;
	pid_t pid;

	ck_assert_ptr_nonnull(report);
	zoo_open(NULL);
	pool = new_pool(128 * 1024);
	parents = am->malloc(pool, 40);
	pid = fork_leaking_child(pool, true, NULL, fds);
	read_exactly(fds[0], &note, sizeof(note));
	read_exactly(fds[0], report, sizeof(*report));
	ck_assert_int_eq(read(fds[0], &extra, 1), 0); /* exactly one report */
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* the hook took the report: the child's own status stands */
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	ck_assert_int_eq(note.pid, pid);
	ck_assert_str_eq(report->kind, "detected memory leaks");
	ck_assert_uint_eq(report->leaked_bytes, 50);
	ck_assert_uint_eq(report->leaked_blocks, 1);
	ck_assert_ptr_eq(report->address, note.block);
	ck_assert_uint_eq(report->size, 50);
	ck_assert_ptr_eq(report->pool_id, pool);
	ck_assert_int_eq(report->pool_area, pool_area(pool));
	assert_owner_at("allocated_by", &report->allocated_by, &note.site, report->text, pid, pid);
	ck_assert_msg(strstr(report->text, "found at exit") != NULL, "%s", report->text);
	ck_assert_msg(strstr(report->text, "40 byte") == NULL, "%s", report->text);
	free(report);
	am->free(pool, parents);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(0);
	zoo_close();
}
END_TEST

static char *read_file(const char *path)
{
	FILE *file = fopen(path, "re");
	char *text;
	long length;

	ck_assert_msg(file != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(file, 0, SEEK_END), 0);
	length = ftell(file);
	ck_assert_int_ge(length, 0);
	rewind(file);
	text = malloc((size_t)length + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)length, file), (size_t)length);
	text[length] = '\0';
	fclose(file);
	return text;
}

START_TEST(leaks_at_exit_printed_and_exit_status)
{
	struct child_note note;
	char path[] = "/tmp/bug_zoo_exit.XXXXXX", first_line[64], frame[64];
	const void *pool;
	void *parents;
	int fds[2], status, fd;
	char *text;
	pid_t pid;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	zoo_open(NULL);
	pool = new_pool(128 * 1024);
	parents = am->malloc(pool, 40);
	pid = fork_leaking_child(pool, false, path, fds);
	read_exactly(fds[0], &note, sizeof(note));
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_STATUS_AFTER_ERRORS,
		"status %#x", status);
	text = read_file(path);
	unlink(path);
	snprintf(first_line, sizeof(first_line),
		"==%d==ERROR: area_malloc: detected memory leaks\n", (int)pid);
	ck_assert_msg(strncmp(text, first_line, strlen(first_line)) == 0, "%s", text);
	ck_assert_msg(strstr(text, "found at exit\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text,
			      "\nSUMMARY: area_malloc: 50 byte(s) leaked in 1 allocation(s).\n")
			!= NULL,
		"%s", text);
	ck_assert_msg(strstr(text, "40 byte") == NULL, "%s", text);
	ck_assert_int_eq(text_frame_line(text, &note.site), note.site.line);
	snprintf(frame, sizeof(frame), "(first block %p, thread T%d", note.block, (int)pid);
	ck_assert_msg(strstr(text, frame) != NULL, "%s", text);
	free(text);
	am->free(pool, parents);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(0);
	zoo_close();
}
END_TEST

/* ==== precedence: invalid-pool, cross-pool-free, double-free, invalid-free ==== */

START_TEST(precedence_double_free_into_wrong_pool)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	void *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	AT(freed, am->free(zoo.pool[A], block));
	AT(detected, am->free(zoo.pool[B], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "cross-pool-free", block, 100, zoo.pool[B], zoo.area[B],
			zoo.pool[A], zoo.area[A], 0, &allocated, &freed, &detected });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

START_TEST(precedence_stale_pool_beats_everything)
{
	struct site detected[3];
	struct zoo zoo;
	const void *stale;
	char on_stack[32];
	void *live, *freed;

	zoo_start(&zoo, NULL);
	stale = stale_pool();
	live = am->malloc(zoo.pool[A], 100);
	freed = am->malloc(zoo.pool[A], 100);
	am->free(zoo.pool[A], freed);
	AT(detected[0], am->free(stale, on_stack)); /* and invalid-free */
	AT(detected[1], am->free(stale, live));     /* and cross-pool-free */
	AT(detected[2], am->free(stale, freed));    /* and double-free */
	assert_reports(3);
	assert_report(0,
		&(struct expected){ "invalid-pool", on_stack, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[0] });
	assert_report(1,
		&(struct expected){ "invalid-pool", live, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[1] });
	assert_report(2,
		&(struct expected){ "invalid-pool", freed, 0, stale, -1, NULL, -1, 0, NULL, NULL,
			&detected[2] });
	am->free(zoo.pool[A], live);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 3);
}
END_TEST

/* A block that has left its pool's quarantine, freed again into another
 * pool: cross-pool-free, though its own pool's log would call it a double
 * free. */
START_TEST(precedence_cross_pool_beats_logged_double_free)
{
	struct site detected;
	struct zoo zoo;
	void *block;

	zoo_start(&zoo, "quarantine_bytes=0");
	block = am->malloc(zoo.pool[A], 100);
	am->free(zoo.pool[A], block);
	AT(detected, am->free(zoo.pool[B], block));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "cross-pool-free", block, 0, zoo.pool[B], zoo.area[B],
			zoo.pool[A], zoo.area[A], 0, NULL, NULL, &detected });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* A second free of a block whose canary was overwritten: double-free only
 * (the block is free; its canary was reported at the first free). */
START_TEST(precedence_double_free_beats_overflow)
{
	struct site allocated, freed, detected;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	poke(block, 100, "o", 1);
	AT(freed, am->free(zoo.pool[A], block));
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "heap-buffer-overflow");
	AT(detected, am->free(zoo.pool[A], block));
	assert_reports(2);
	assert_report(1,
		&(struct expected){ "double-free", block, 100, zoo.pool[A], zoo.area[A], NULL, -1,
			0, &allocated, &freed, &detected });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

/* An interior pointer of another pool's block: cross-pool-free, the block
 * left alone. */
START_TEST(precedence_cross_pool_beats_invalid_free)
{
	struct site detected;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, NULL);
	block = am->malloc(zoo.pool[B], 100);
	fill(block, 100, 6);
	AT(detected, am->free(zoo.pool[C], block + 8));
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "cross-pool-free");
	ck_assert_ptr_eq(recorded[0].address, block + 8);
	ck_assert_ptr_eq(recorded[0].pool_id, zoo.pool[C]);
	ck_assert_int_eq(recorded[0].pool_area, zoo.area[C]);
	ck_assert_ptr_eq(recorded[0].owner_pool_id, zoo.pool[B]);
	ck_assert_int_eq(recorded[0].owner_pool_area, zoo.area[B]);
	assert_owner_at("detected_by", &recorded[0].detected_by, &detected, recorded[0].text,
		gettid(), getpid());
	assert_filled(block, 100, 6);
	am->free(zoo.pool[B], block);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/* ==== negative controls ==== */

struct slot {
	const void *pool;
	unsigned char *block;
	size_t size;
	unsigned seed;
};

static uint32_t xorshift(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void check_slot(const struct slot *slot)
{
	assert_filled(slot->block, slot->size, slot->seed);
}

/* One random step on one slot of a workload over pools. */
static void workload_step(struct slot *slot, const void *const *pools, int pool_count,
	uint32_t *state)
{
	uint32_t r = xorshift(state);
	size_t size = 1 + xorshift(state) % (r % 16 == 0 ? 8000 : 700);

	if (slot->block == NULL) {
		const void *pool = pools[r % (uint32_t)pool_count];
		bool zeroed = (r >> 8) % 3 == 0;
		unsigned char *block = zeroed ? am->calloc(pool, 1, size) : am->malloc(pool, size);
		if (block == NULL)
			return;
		if (zeroed) {
			size_t i = 0;
			while (i < size && block[i] == 0)
				i++;
			ck_assert_msg(i == size, "byte %zu of a calloc'd block is %#x", i,
				block[i]);
		}
		*slot = (struct slot){ pool, block, size, r >> 16 };
		fill(block, size, slot->seed);
		return;
	}
	check_slot(slot);
	if ((r >> 8) % 3 == 0) {
		unsigned char *block = am->realloc(slot->pool, slot->block, size);
		if (block == NULL)
			return;
		assert_filled(block, size < slot->size ? size : slot->size, slot->seed);
		slot->block = block;
		slot->size = size;
		fill(block, size, slot->seed);
	} else {
		am->free(slot->pool, slot->block);
		slot->block = NULL;
	}
}

START_TEST(clean_single_thread)
{
	static struct slot slots[512];
	const void *pools[3];
	uint32_t state = 0x2545f491u;

	zoo_open(NULL);
	pools[0] = new_pool(1024 * 1024);
	pools[1] = new_pool(512 * 1024);
	pools[2] = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * 1024, B_FULL_LOCK, RW);
	ck_assert_ptr_nonnull(pools[2]);
	memset(slots, 0, sizeof(slots));
	for (int op = 1; op <= 50000; op++) {
		workload_step(&slots[xorshift(&state) % 512], pools, 3, &state);
		if (op % 10000 == 0)
			ck_assert_int_eq(dbg->check_pool(NULL), 0);
	}
	for (int i = 0; i < 512; i++) {
		if (slots[i].block != NULL) {
			check_slot(&slots[i]);
			am->free(slots[i].pool, slots[i].block);
		}
	}
	for (int i = 0; i < 3; i++) {
		area_malloc_pool_stats stats = pool_stats(pools[i]);
		ck_assert_uint_eq(stats.live_blocks, 0);
		ck_assert_uint_eq(stats.errors, 0);
		/* the workload did reach every pool, many times */
		ck_assert_uint_gt(stats.allocations, 5000);
		ck_assert_uint_gt(stats.frees, 5000);
		ck_assert_int_eq(am->delete_pool(pools[i]), B_OK);
	}
	assert_reports(0);
	ck_assert_uint_eq(dbg->error_count(), 0);
	zoo_close();
	assert_reports(0);
}
END_TEST

#define THREADS 4

struct thread_work {
	const void *pools[2]; /* its own, and the shared one */
	uint32_t seed;
	bool done;
};

static void *thread_workload(void *argument)
{
	struct thread_work *work = argument;
	struct slot slots[64];
	uint32_t state = work->seed;

	memset(slots, 0, sizeof(slots));
	for (int op = 0; op < 15000; op++)
		workload_step(&slots[xorshift(&state) % 64], work->pools, 2, &state);
	for (int i = 0; i < 64; i++) {
		if (slots[i].block != NULL) {
			check_slot(&slots[i]);
			am->free(slots[i].pool, slots[i].block);
		}
	}
	work->done = true;
	return NULL;
}

START_TEST(clean_four_threads)
{
	struct thread_work work[THREADS];
	pthread_t threads[THREADS];
	const void *shared, *own[THREADS];

	zoo_open(NULL);
	shared = new_pool(1024 * 1024);
	for (int t = 0; t < THREADS; t++) {
		own[t] = new_pool(512 * 1024);
		work[t] = (struct thread_work){ { own[t], shared }, 0x9e3779b9u * (uint32_t)(t + 1),
			false };
		ck_assert_int_eq(pthread_create(&threads[t], NULL, thread_workload, &work[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
		ck_assert(work[t].done);
	}
	ck_assert_int_eq(dbg->check_pool(NULL), 0);
	ck_assert_uint_gt(pool_stats(shared).allocations, 4 * 2000);
	for (int t = 0; t < THREADS; t++) {
		ck_assert_uint_gt(pool_stats(own[t]).allocations, 2000);
		ck_assert_uint_eq(pool_stats(own[t]).live_blocks, 0);
		ck_assert_int_eq(am->delete_pool(own[t]), B_OK);
	}
	ck_assert_uint_eq(pool_stats(shared).live_blocks, 0);
	ck_assert_int_eq(am->delete_pool(shared), B_OK);
	assert_reports(0);
	ck_assert_uint_eq(dbg->error_count(), 0);
	zoo_close();
	assert_reports(0);
}
END_TEST

/* ==== end to end: zoo_driver in a child ==== */

struct run {
	pid_t pid;
	int status;
	char *out;
	char *err;
	char dir[64];
};

/* Runs `zoo_driver scenario` against the module build kind ("debug" or
 * "release") with these options (NULL: none), its output in files. */
static void run_driver(struct run *run, const char *kind, const char *scenario, const char *options)
{
	char driver[PATH_MAX], modules[PATH_MAX], out_path[128], err_path[128];

	snprintf(driver, sizeof(driver), "%s/tests/debug_zoo/zoo_driver", builddir());
	snprintf(modules, sizeof(modules), "%s/modules/%s", builddir(), kind);
	snprintf(run->dir, sizeof(run->dir), "/tmp/bug_zoo.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run->dir));
	snprintf(out_path, sizeof(out_path), "%s/stdout", run->dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", run->dir);
	fflush(NULL);
	run->pid = fork();
	ck_assert_int_ge(run->pid, 0);
	if (run->pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out < 0 || err < 0 || dup2(out, STDOUT_FILENO) < 0
			|| dup2(err, STDERR_FILENO) < 0)
			_exit(126);
		setenv("KERNEL_MODULE_PATH", modules, 1);
		if (options != NULL)
			set_debug_options(options);
		else
			set_debug_options(NULL);
		execl(driver, "zoo_driver", scenario, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(run->pid, &run->status, 0), run->pid);
	run->out = read_file(out_path);
	run->err = read_file(err_path);
	unlink(out_path);
	unlink(err_path);
	rmdir(run->dir);
}

static void run_free(struct run *run)
{
	free(run->out);
	free(run->err);
}

static void assert_exit_status(const struct run *run, int expected)
{
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == expected,
		"status %#x, expected exit %d; stderr:\n%s", run->status, expected, run->err);
}

/* The line of zoo_driver.c tagged "zoo-site:function". */
static int driver_site_line(const char *function)
{
	char tag[64], line[512];
	FILE *source = fopen(ZOO_DRIVER_SOURCE, "re");
	int number = 0, found = 0;

	ck_assert_msg(source != NULL, "cannot read %s", ZOO_DRIVER_SOURCE);
	snprintf(tag, sizeof(tag), "/* zoo-site:%s */", function);
	while (fgets(line, sizeof(line), source) != NULL) {
		number++;
		if (strstr(line, tag) != NULL) {
			ck_assert_int_eq(found, 0);
			found = number;
		}
	}
	fclose(source);
	ck_assert_msg(found > 0, "no %s in %s", tag, ZOO_DRIVER_SOURCE);
	return found;
}

/* Whether text has a line matching the extended regular expression; the
 * first parenthesised group goes to group when given. */
static bool has_line(const char *text, const char *pattern, char *group, size_t group_size)
{
	regmatch_t match[2];
	regex_t regex;
	bool found;

	ck_assert_msg(regcomp(&regex, pattern, REG_EXTENDED | REG_NEWLINE) == 0, "bad regex %s",
		pattern);
	found = regexec(&regex, text, 2, match, 0) == 0;
	if (found && group != NULL && match[1].rm_so >= 0) {
		int length = (int)(match[1].rm_eo - match[1].rm_so);
		snprintf(group, group_size, "%.*s", length, text + match[1].rm_so);
	}
	regfree(&regex);
	return found;
}

static int count_lines_with(const char *text, const char *prefix)
{
	int count = 0;

	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			count++;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return count;
}

static int error_lines(const struct run *run)
{
	char prefix[48];

	snprintf(prefix, sizeof(prefix), "==%d==ERROR: area_malloc: ", (int)run->pid);
	return count_lines_with(run->err, prefix);
}

struct e2e_error {
	const char *scenario;
	const char *kind;
	const char *function; /* the driver function the SUMMARY names */
	bool in_pool;         /* the report names a pool (not invalid-pool) */
};

static const struct e2e_error e2e_errors[] = {
	{ "double-free", "double-free", "tx_complete", true },
	{ "double-free-realloc", "double-free", "ring_grow", true },
	{ "invalid-free", "invalid-free", "tx_complete", true },
	{ "invalid-free-stack", "invalid-free", "tx_complete", true },
	{ "cross-pool-free", "cross-pool-free", "tx_complete", true },
	{ "invalid-pool", "invalid-pool", "rx_refill", false },
	{ "heap-buffer-overflow", "heap-buffer-overflow", "tx_complete", true },
	{ "heap-buffer-underflow", "heap-buffer-underflow", "tx_complete", true },
	{ "use-after-free", "use-after-free", "tx_complete", true },
};

/* The error report's first line and SUMMARY, for one driver run. */
static void assert_error_report(const struct run *run, const struct e2e_error *expected)
{
	char pattern[512], first_pool[16] = "", summary_pool[16] = "";

	snprintf(pattern, sizeof(pattern), "==%d==ERROR: area_malloc: %s on address ",
		(int)run->pid, expected->kind);
	ck_assert_msg(strncmp(run->err, pattern, strlen(pattern)) == 0,
		"the first line is not \"%s...\":\n%s", pattern, run->err);
	ck_assert_msg(has_line(run->err, "^==[0-9]+==ERROR: area_malloc: [a-z-]+", NULL, 0), "%s",
		run->err);
	snprintf(pattern, sizeof(pattern),
		"^SUMMARY: area_malloc: %s %s\\+0x[0-9a-f]+ \\(zoo_driver\\) [^ "
		"]*zoo_driver\\.c:%d%s$",
		expected->kind, expected->function, driver_site_line(expected->function),
		expected->in_pool ? " in pool ([0-9]+)" : "");
	ck_assert_msg(has_line(run->err, pattern, summary_pool, sizeof(summary_pool)),
		"no line matches %s in:\n%s", pattern, run->err);
	if (expected->in_pool) {
		/* the first line and the summary name the same pool */
		snprintf(pattern, sizeof(pattern), "^==%d==ERROR: .* in pool ([0-9]+)$",
			(int)run->pid);
		ck_assert(has_line(run->err, pattern, first_pool, sizeof(first_pool)));
		ck_assert_str_eq(first_pool, summary_pool);
	}
}

START_TEST(e2e_error_scenarios)
{
	const struct e2e_error *expected = &e2e_errors[_i];
	struct run run;

	run_driver(&run, "debug", expected->scenario, NULL);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	assert_error_report(&run, expected);
	ck_assert_int_eq(error_lines(&run), 1);
	ck_assert_str_eq(run.out, "");
	run_free(&run);
}
END_TEST

struct e2e_leak {
	const char *scenario;
	const char *when;
	size_t bytes;
	size_t blocks;
	bool pool_leaked; /* the rx pool (512 KiB) is never deleted */
};

static const struct e2e_leak e2e_leaks[] = {
	{ "leak-delete-pool", "at delete_pool", 300, 3, false },
	{ "leak-unload", "at unload", 100, 1, true },
	{ "leak-exit", "at exit", 100, 1, true },
};

START_TEST(e2e_leak_scenarios)
{
	const struct e2e_leak *expected = &e2e_leaks[_i];
	char pattern[512];
	struct run run;

	run_driver(&run, "debug", expected->scenario, NULL);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	snprintf(pattern, sizeof(pattern), "==%d==ERROR: area_malloc: detected memory leaks\n",
		(int)run.pid);
	ck_assert_msg(strncmp(run.err, pattern, strlen(pattern)) == 0, "%s", run.err);
	ck_assert_int_eq(error_lines(&run), expected->pool_leaked ? 2 : 1);
	if (expected->pool_leaked) {
		/* after the leak of its block: the pool, created in driver_open
		 * (which the compiler may inline into main) */
		snprintf(pattern, sizeof(pattern), "^==%d==ERROR: area_malloc: leaked-pool$",
			(int)run.pid);
		ck_assert_msg(has_line(run.err, pattern, NULL, 0), "%s", run.err);
		ck_assert_msg(
			has_line(run.err,
				"^in pool [0-9]+ \\(id 0x[0-9a-f]+\\) created by "
				"[a-z_]+\\+0x[0-9a-f]+ \\(zoo_driver\\) [^ ]*zoo_driver\\.c:[0-9]+$",
				NULL, 0),
			"%s", run.err);
		ck_assert_msg(has_line(run.err,
				      "^the pool was never deleted; 1 live block\\(s\\) of "
				      "100 byte\\(s\\) are in it",
				      NULL, 0),
			"%s", run.err);
		ck_assert_msg(has_line(run.err,
				      "^SUMMARY: area_malloc: 524288 byte\\(s\\) leaked in 1 "
				      "allocation\\(s\\)\\.$",
				      NULL, 0),
			"%s", run.err);
	}
	snprintf(pattern, sizeof(pattern), "^found %s$", expected->when);
	ck_assert_msg(has_line(run.err, pattern, NULL, 0), "%s", run.err);
	snprintf(pattern, sizeof(pattern),
		"^SUMMARY: area_malloc: %zu byte\\(s\\) leaked in %zu allocation\\(s\\)\\.$",
		expected->bytes, expected->blocks);
	ck_assert_msg(has_line(run.err, pattern, NULL, 0), "%s", run.err);
	snprintf(pattern, sizeof(pattern),
		"^    #0 0x[0-9a-f]+ in rx_refill\\+0x[0-9a-f]+ \\(zoo_driver\\) "
		"[^ ]*zoo_driver\\.c:%d$",
		driver_site_line("rx_refill"));
	ck_assert_msg(has_line(run.err, pattern, NULL, 0), "no %s in:\n%s", pattern, run.err);
	ck_assert_str_eq(run.out, "");
	run_free(&run);
}
END_TEST

/* The same driver binary, against the release and the debug module. */
START_TEST(e2e_clean_with_both_builds)
{
	static const char *const scenarios[] = { "clean", "clean-threads" };
	const char *scenario = scenarios[_i];
	struct run release, debug;
	char pattern[128];

	run_driver(&release, "release", scenario, NULL);
	run_driver(&debug, "debug", scenario, NULL);
	assert_exit_status(&release, 0);
	assert_exit_status(&debug, 0);
	ck_assert_str_eq(release.err, "");
	ck_assert_str_eq(debug.err, "");
	snprintf(pattern, sizeof(pattern), "^%s: [0-9]+ [a-z]+, checksum [0-9a-f]{8}, 0 corrupted$",
		scenario);
	ck_assert_msg(has_line(debug.out, pattern, NULL, 0), "stdout: %s", debug.out);
	ck_assert_str_eq(release.out, debug.out);
	run_free(&release);
	run_free(&debug);
}
END_TEST

START_TEST(e2e_exitcode_zero)
{
	struct run run;

	run_driver(&run, "debug", "double-free", "exitcode=0");
	assert_exit_status(&run, 0);
	ck_assert_int_eq(error_lines(&run), 1);
	assert_error_report(&run, &e2e_errors[0]);
	run_free(&run);
}
END_TEST

/* ---- a strict JSON syntax check (RFC 8259 grammar, no semantics) ---- */

static void json_space(const char **at)
{
	while (**at == ' ' || **at == '\t' || **at == '\n' || **at == '\r')
		(*at)++;
}

static bool json_value(const char **at, int depth);

static bool json_string(const char **at)
{
	if (**at != '"')
		return false;
	for ((*at)++; **at != '"'; (*at)++) {
		if ((unsigned char)**at < 0x20)
			return false;
		if (**at == '\\') {
			(*at)++;
			if (**at == 'u') {
				for (int i = 1; i <= 4; i++) {
					if (!isxdigit((unsigned char)(*at)[i]))
						return false;
				}
				*at += 4;
			} else if (strchr("\"\\/bfnrt", **at) == NULL || **at == '\0') {
				return false;
			}
		}
	}
	(*at)++;
	return true;
}

static bool json_number(const char **at)
{
	const char *start;

	if (**at == '-')
		(*at)++;
	if (**at == '0') {
		(*at)++;
	} else {
		start = *at;
		while (isdigit((unsigned char)**at))
			(*at)++;
		if (*at == start)
			return false;
	}
	if (**at == '.') {
		(*at)++;
		start = *at;
		while (isdigit((unsigned char)**at))
			(*at)++;
		if (*at == start)
			return false;
	}
	if (**at == 'e' || **at == 'E') {
		(*at)++;
		if (**at == '+' || **at == '-')
			(*at)++;
		start = *at;
		while (isdigit((unsigned char)**at))
			(*at)++;
		if (*at == start)
			return false;
	}
	return true;
}

static bool json_members(const char **at, char close, int depth)
{
	(*at)++;
	json_space(at);
	if (**at == close) {
		(*at)++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			if (!json_string(at))
				return false;
			json_space(at);
			if (*(*at)++ != ':')
				return false;
		}
		if (!json_value(at, depth + 1))
			return false;
		json_space(at);
		if (**at == close) {
			(*at)++;
			return true;
		}
		if (*(*at)++ != ',')
			return false;
		json_space(at);
	}
}

static bool json_value(const char **at, int depth)
{
	if (depth > 64)
		return false;
	json_space(at);
	switch (**at) {
	case '{':
		return json_members(at, '}', depth);
	case '[':
		return json_members(at, ']', depth);
	case '"':
		return json_string(at);
	case 't':
		return strncmp(*at, "true", 4) == 0 && (*at += 4);
	case 'f':
		return strncmp(*at, "false", 5) == 0 && (*at += 5);
	case 'n':
		return strncmp(*at, "null", 4) == 0 && (*at += 4);
	default:
		return json_number(at);
	}
}

/* Whether line (up to its newline) is exactly one JSON object. */
static bool json_object_line(const char *line)
{
	const char *at = line;

	if (*at != '{' || !json_value(&at, 0))
		return false;
	while (*at == ' ' || *at == '\t')
		at++;
	return *at == '\n' || *at == '\0';
}

START_TEST(json_checker_rejects_bad_lines)
{
	ck_assert(json_object_line("{\"kind\":\"x\",\"a\":[1,-2.5e3,true,null,{}]}\n"));
	ck_assert(!json_object_line("{\"kind\":\"x\"\n"));
	ck_assert(!json_object_line("{\"kind\":\"x\",}\n"));
	ck_assert(!json_object_line("{\"kind\":\"x\"}}\n"));
	ck_assert(!json_object_line("{\"kind\":\"a\\q\"}\n"));
	ck_assert(!json_object_line("{\"kind\":01}\n"));
	ck_assert(!json_object_line("{kind:1}\n"));
}
END_TEST

/* The line right after the SUMMARY line. */
static const char *line_after_summary(const char *text)
{
	const char *summary = strstr(text, "\nSUMMARY: area_malloc: ");
	const char *next;

	ck_assert_msg(summary != NULL, "%s", text);
	next = strchr(summary + 1, '\n');
	ck_assert_ptr_nonnull(next);
	return next + 1;
}

START_TEST(e2e_json_format)
{
	static const char *const scenarios[] = { "double-free", "leak-delete-pool" };
	static const char *const kinds[] = { "double-free", "detected memory leaks" };
	static const char *const keys[] = { "double_free", "leak" };
	char start[128], pid[32], frame[160];
	const char *json;
	struct run run;

	run_driver(&run, "debug", scenarios[_i], "report_format=json");
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	json = line_after_summary(run.err);
	ck_assert_msg(json_object_line(json), "not one JSON object: %s", json);
	snprintf(start, sizeof(start), "{\"version\":2,\"kind\":\"%s\",\"kind_key\":\"%s\",",
		kinds[_i], keys[_i]);
	ck_assert_msg(strncmp(json, start, strlen(start)) == 0, "%s", json);
	/* a frame's parts beside its symbol */
	snprintf(frame, sizeof(frame),
		"\"function\":\"%s\",\"offset\":", _i == 0 ? "tx_complete" : "rx_refill");
	ck_assert_msg(strstr(json, frame) != NULL, "no %s in %s", frame, json);
	/* the file as the compiler recorded it: absolute, or relative to the
	 * build directory when configure was run by a relative path */
	snprintf(frame, sizeof(frame), ",\"image\":\"zoo_driver\",\"file\":\"");
	ck_assert_msg(strstr(json, frame) != NULL, "no %s in %.2000s", frame, json);
	snprintf(frame, sizeof(frame), "tests/debug_zoo/zoo_driver.c\",\"line\":%d}",
		driver_site_line(_i == 0 ? "tx_complete" : "rx_refill"));
	ck_assert_msg(strstr(json, frame) != NULL, "no %s in %.2000s", frame, json);
	snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)run.pid);
	ck_assert_msg(strstr(json, pid) != NULL, "%s", json);
	if (_i == 0) {
		ck_assert_msg(strstr(json, "\"operation\":\"free\"") != NULL, "%s", json);
		ck_assert_msg(strstr(json, "\"symbol\":\"tx_complete+0x") != NULL, "%s", json);
	} else {
		ck_assert_msg(strstr(json,
				      "\"leaked_bytes\":300,\"leaked_blocks\":3,"
				      "\"suppressed_bytes\":0,\"suppressed_blocks\":0,"
				      "\"groups\":[{\"pool\":")
				!= NULL,
			"%s", json);
		/* the group's shape is pooldump --json leaks' too */
		ck_assert_msg(strstr(json, ",\"count\":3,\"bytes\":300,\"first_address\":\"0x")
					!= NULL
				&& strstr(json, ",\"allocated_by\":{\"thread\":") != NULL
				&& strstr(json,
					   ",\"suppression\":\"leak:rx_refill\"}],"
					   "\"suppressions_used\":[]")
					!= NULL,
			"%s", json);
	}
	run_free(&run);
}
END_TEST

/* ==== suppressed leaks, ready-made suppressions, colour ==== */

/* A suppressions file of these lines; its path into path. */
static void write_suppressions(char *path, size_t size, const char *lines)
{
	int fd;

	snprintf(path, size, "/tmp/bug_zoo_supp.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
	close(fd);
}

/* One group suppressed: the other is reported, with a ready-made
 * suppression under it, the table and the SUMMARY line count both. */
START_TEST(e2e_leak_partly_suppressed)
{
	char supp[64], options[128];
	struct run run;

	write_suppressions(supp, sizeof(supp), "leak:ring_grow\n");
	snprintf(options, sizeof(options), "suppressions=%s", supp);
	run_driver(&run, "debug", "leak-two-sites", options);
	unlink(supp);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_int_eq(error_lines(&run), 1);
	ck_assert_msg(has_line(run.err, "^    suppression: leak:rx_refill$", NULL, 0), "%s",
		run.err);
	ck_assert_msg(!has_line(run.err, "^    suppression: leak:ring_grow$", NULL, 0), "%s",
		run.err);
	ck_assert_msg(strstr(run.err,
			      "\n\nSuppressions used:\n  count      bytes template\n"
			      "      1         64 leak:ring_grow\n\nSUMMARY: area_malloc: 200 "
			      "byte(s) leaked in 2 allocation(s); 64 byte(s) in 1 allocation(s) "
			      "suppressed.\n")
			!= NULL,
		"%s", run.err);
	run_free(&run);
}
END_TEST

/* Every group suppressed: the table alone (no ERROR, no SUMMARY line), and
 * the exit status is the driver's own; its JSON object counts them. */
START_TEST(e2e_leak_all_suppressed)
{
	static const char table[] =
		"Suppressions used:\n  count      bytes template\n"
		"      2        200 leak:rx_refill\n      1         64 leak:ring_grow\n";
	char supp[64], options[160];
	const char *json;
	struct run run;

	write_suppressions(supp, sizeof(supp), "leak:rx_refill\nleak:ring_grow\n");
	snprintf(options, sizeof(options), "suppressions=%s", supp);
	run_driver(&run, "debug", "leak-two-sites", options);
	assert_exit_status(&run, 0);
	ck_assert_str_eq(run.err, table);
	run_free(&run);

	snprintf(options, sizeof(options), "suppressions=%s:report_format=json", supp);
	run_driver(&run, "debug", "leak-two-sites", options);
	unlink(supp);
	assert_exit_status(&run, 0);
	ck_assert_msg(strncmp(run.err, table, strlen(table)) == 0, "%s", run.err);
	json = run.err + strlen(table);
	ck_assert_msg(json_object_line(json), "not one JSON object: %s", json);
	static const char json_start[] = "{\"version\":2,\"kind\":\"detected memory leaks\","
					 "\"kind_key\":\"leak\",";
	ck_assert_msg(strncmp(json, json_start, strlen(json_start)) == 0, "%s", json);
	ck_assert_msg(strstr(json,
			      "\"when\":\"at delete_pool\",\"leaked_bytes\":0,\"leaked_blocks\":0,"
			      "\"suppressed_bytes\":264,\"suppressed_blocks\":3,\"groups\":[],"
			      "\"suppressions_used\":[{\"template\":\"leak:rx_refill\",\"count\":2,"
			      "\"bytes\":200},{\"template\":\"leak:ring_grow\",\"count\":1,"
			      "\"bytes\":64}]")
			!= NULL,
		"%s", json);
	run_free(&run);
}
END_TEST

START_TEST(e2e_suggest_suppressions_off)
{
	struct run run;

	run_driver(&run, "debug", "leak-two-sites", "suggest_suppressions=0");
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_msg(strstr(run.err, "suppression:") == NULL, "%s", run.err);
	ck_assert_msg(has_line(run.err,
			      "^SUMMARY: area_malloc: 264 byte\\(s\\) leaked in 3 "
			      "allocation\\(s\\)\\.$",
			      NULL, 0),
		"%s", run.err);
	run_free(&run);
}
END_TEST

/* color=always colours as ASan does; auto does not colour a file, and
 * log_path's files never get colour. */
START_TEST(e2e_color)
{
	char expected[256], dir[] = "/tmp/bug_zoo_color.XXXXXX", options[128], log[192];
	struct run run;
	char *text;

	run_driver(&run, "debug", "leak-two-sites", "color=always");
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	snprintf(expected, sizeof(expected),
		"\033[1m\033[31m==%d==ERROR: area_malloc: detected "
		"memory leaks\033[1m\033[0m\n\033[1m\033[32min pool ",
		(int)run.pid);
	ck_assert_msg(strncmp(run.err, expected, strlen(expected)) == 0, "%s", run.err);
	ck_assert_msg(strstr(run.err,
			      "\n\033[1m\033[32mfound at delete_pool\033[1m\033[0m\n"
			      "\n\033[1m\033[34mLeak of 200 byte(s) in 2 allocation(s) allocated "
			      "from:\033[1m\033[0m\n")
			!= NULL,
		"%s", run.err);
	ck_assert_msg(strstr(run.err,
			      "\n\033[1mSUMMARY: area_malloc: 264 byte(s) leaked in 3 "
			      "allocation(s).\033[1m\033[0m\n")
			!= NULL,
		"%s", run.err);
	run_free(&run);

	run_driver(&run, "debug", "double-free", "color=always");
	snprintf(expected, sizeof(expected),
		"\033[1m\033[31m==%d==ERROR: area_malloc: double-free on "
		"address 0x",
		(int)run.pid);
	ck_assert_msg(strncmp(run.err, expected, strlen(expected)) == 0, "%s", run.err);
	ck_assert_msg(strstr(run.err, "\n\033[1m\033[35mfreed by thread T") != NULL
			&& strstr(run.err, "\n\033[1m\033[35mpreviously allocated by thread T")
				!= NULL
			&& strstr(run.err, "\n\033[1m\033[34mfree by thread T") != NULL,
		"%s", run.err);
	run_free(&run);

	run_driver(&run, "debug", "leak-two-sites", "color=auto");
	ck_assert_msg(strchr(run.err, '\033') == NULL, "%s", run.err);
	run_free(&run);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(options, sizeof(options), "color=always:log_path=%s/report", dir);
	run_driver(&run, "debug", "leak-two-sites", options);
	snprintf(log, sizeof(log), "%s/report.%d", dir, (int)run.pid);
	text = read_file(log);
	ck_assert_msg(strstr(text, "ERROR: area_malloc: detected memory leaks\n") != NULL
			&& strchr(text, '\033') == NULL,
		"%s", text);
	free(text);
	unlink(log);
	rmdir(dir);
	run_free(&run);
}
END_TEST

START_TEST(e2e_log_path)
{
	char dir[] = "/tmp/bug_zoo_log.XXXXXX", options[128], log[192];
	struct run run;
	char *text;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(options, sizeof(options), "log_path=%s/zoo", dir);
	run_driver(&run, "debug", "double-free", options);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_str_eq(run.err, "");
	snprintf(log, sizeof(log), "%s/zoo.%d", dir, (int)run.pid);
	text = read_file(log);
	unlink(log);
	rmdir(dir);
	free(run.err);
	run.err = text;
	assert_error_report(&run, &e2e_errors[0]);
	ck_assert_int_eq(error_lines(&run), 1);
	run_free(&run);
}
END_TEST

START_TEST(e2e_two_bugs_both_reported)
{
	struct run run;

	run_driver(&run, "debug", "many-bugs", NULL);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_int_eq(error_lines(&run), 2);
	assert_error_report(&run, &e2e_errors[0]);
	ck_assert(has_line(run.err, "^==[0-9]+==ERROR: area_malloc: invalid-free on address ", NULL,
		0));
	run_free(&run);
}
END_TEST

START_TEST(e2e_halt_on_error)
{
	struct run run;

	run_driver(&run, "debug", "many-bugs", "halt_on_error=1");
	ck_assert_msg(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGABRT, "status %#x:\n%s",
		run.status, run.err);
	ck_assert_int_eq(error_lines(&run), 1);
	assert_error_report(&run, &e2e_errors[0]);
	ck_assert_msg(has_line(run.err, "^area_malloc: halt_on_error=1: aborting$", NULL, 0), "%s",
		run.err);
	ck_assert_msg(strstr(run.err, "invalid-free") == NULL, "%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(e2e_max_reports)
{
	char line[128];
	struct run run;

	run_driver(&run, "debug", "many-bugs", "max_reports=1");
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_int_eq(error_lines(&run), 1);
	assert_error_report(&run, &e2e_errors[0]);
	snprintf(line, sizeof(line),
		"^==%d==area_malloc: 1 more error report\\(s\\) not printed \\(max_reports=1\\)$",
		(int)run.pid);
	ck_assert_msg(has_line(run.err, line, NULL, 0), "%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(e2e_duplicates_counted)
{
	char line[256];
	struct run run;
	const char *last;

	run_driver(&run, "debug", "double-free-repeated", NULL);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_int_eq(error_lines(&run), 1);
	assert_error_report(&run, &e2e_errors[0]);
	snprintf(line, sizeof(line),
		"^==%d==area_malloc: 2 more report\\(s\\) of double-free from "
		"tx_complete\\+0x[0-9a-f]+ "
		"\\(zoo_driver\\) [^ ]*zoo_driver\\.c:%d, not printed \\(identical to the "
		"first\\)$",
		(int)run.pid, driver_site_line("tx_complete"));
	ck_assert_msg(has_line(run.err, line, NULL, 0), "no %s in:\n%s", line, run.err);
	/* the count comes last, when the module goes away */
	last = run.err + strlen(run.err);
	ck_assert(last > run.err && last[-1] == '\n');
	for (last--; last > run.err && last[-1] != '\n'; last--)
		;
	ck_assert_msg(has_line(last, line, NULL, 0), "last line: %s", last);
	run_free(&run);
}
END_TEST

/* Whether the run printed any "N more report(s) ... not printed" line. */
static bool counted_duplicates(const struct run *run)
{
	char pattern[96];

	snprintf(pattern, sizeof(pattern), "^==%d==area_malloc: [0-9]+ more report\\(s\\) of ",
		(int)run->pid);
	return has_line(run->err, pattern, NULL, 0);
}

/* Two double frees found by the same call, of blocks from the same
 * allocation site, but freed first at two places (tx_complete, tx_abort):
 * two bugs, both printed, neither counted away as the other's duplicate. */
START_TEST(e2e_duplicates_differ_by_free_site)
{
	static const char *const frees[] = { "tx_complete", "tx_abort" };
	char pattern[256];
	struct run run;

	run_driver(&run, "debug", "double-free-two-sites", NULL);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	ck_assert_int_eq(error_lines(&run), 2);
	assert_error_report(&run, &e2e_errors[0]);
	for (size_t i = 0; i < sizeof(frees) / sizeof(frees[0]); i++) {
		/* the freed-by frame of each report (the log's lines have no #0) */
		snprintf(pattern, sizeof(pattern),
			"^freed by thread T[0-9]+ .*\n    #0 0x[0-9a-f]+ in %s\\+0x[0-9a-f]+ "
			"\\(zoo_driver\\) [^ ]*zoo_driver\\.c:%d$",
			frees[i], driver_site_line(frees[i]));
		ck_assert_msg(has_line(run.err, pattern, NULL, 0), "no %s in:\n%s", pattern,
			run.err);
	}
	ck_assert_msg(!counted_duplicates(&run), "%s", run.err);
	run_free(&run);
}
END_TEST

/* Writes after free into blocks that rx_refill allocated for two callers:
 * with stack_depth=2 their allocations differ in the second frame, two
 * reports; with one frame recorded they are the same report, printed once
 * and counted under the site that freed them (none found them in a call). */
START_TEST(e2e_duplicates_keyed_on_every_frame)
{
	static const char *const options[] = { "stack_depth=1", "stack_depth=2" };
	const struct e2e_error *expected = &e2e_errors[8];
	char line[256];
	struct run run;

	ck_assert_str_eq(expected->scenario, "use-after-free");
	run_driver(&run, "debug", "use-after-free-two-paths", options[_i]);
	assert_exit_status(&run, EXIT_STATUS_AFTER_ERRORS);
	assert_error_report(&run, expected);
	if (_i == 0) {
		ck_assert_int_eq(error_lines(&run), 1);
		snprintf(line, sizeof(line),
			"^==%d==area_malloc: 1 more report\\(s\\) of use-after-free from "
			"tx_complete\\+0x[0-9a-f]+ \\(zoo_driver\\) [^ ]*zoo_driver\\.c:%d, not "
			"printed \\(identical to the first\\)$",
			(int)run.pid, driver_site_line("tx_complete"));
		ck_assert_msg(has_line(run.err, line, NULL, 0), "no %s in:\n%s", line, run.err);
	} else {
		ck_assert_int_eq(error_lines(&run), 2);
		ck_assert_msg(!counted_duplicates(&run), "%s", run.err);
	}
	run_free(&run);
}
END_TEST

/* An overflow of a block that is never freed is reported at delete_pool as
 * what it is, before the leak report, not only as a leak. */
START_TEST(overflow_of_unfreed_block_at_delete_pool)
{
	struct site allocated;
	unsigned char *block;
	const void *pool;
	area_id area;

	zoo_open(NULL);
	pool = new_pool(128 * 1024);
	area = pool_area(pool);
	block = malloc_at(&allocated, pool, 40);
	ck_assert_ptr_nonnull(block);
	poke(block, 40, "B", 1);
	poke(block, 42, "B", 1);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(2);
	ck_assert_str_eq(recorded[0].kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(recorded[0].address, block);
	ck_assert_uint_eq(recorded[0].size, 40);
	ck_assert_uint_eq(recorded[0].overflow_bytes, 3);
	ck_assert_int_eq(recorded[0].pool_area, area);
	assert_owner_at("allocated_by", &recorded[0].allocated_by, &allocated, recorded[0].text,
		gettid(), getpid());
	ck_assert_str_eq(recorded[1].kind, "detected memory leaks");
	ck_assert_uint_eq(recorded[1].leaked_bytes, 40);
	zoo_close();
}
END_TEST

/* ==== regressions: module bugs this suite found, each fixed ====
 *
 * Each test below reproduced a module bug when it was written; they run
 * with the rest of the suite so the bugs stay fixed.
 */

/*
 * Was a bug (src/debug/debug_pool.c, report_foreign_pointer): a pointer into
 * the pool's own area that is not in its heap (its control region) is
 * reported as cross-pool-free with the call's pool as the "owner" pool
 * ("the block belongs to pool 1, not to the pool given"), instead of
 * invalid-free: find_owning_pool matches the call's own pool by area range.
 */
START_TEST(known_bug_pointer_into_own_pool_metadata)
{
	struct site detected;
	struct zoo zoo;
	area_info info;
	char *base;

	zoo_start(&zoo, NULL);
	ck_assert_int_eq(get_area_info(zoo.area[A], &info), B_OK);
	base = info.address;
	AT(detected, am->free(zoo.pool[A], base + 64));
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "invalid-free", base + 64, 0, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, NULL, NULL, &detected });
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 1);
}
END_TEST

/*
 * Was a bug (src/format/debug_block.c, debug_block_set_next, called by
 * quarantine_push): a write into the free record of the newest quarantined
 * block is found by a check, but the next free re-seals that record (to link
 * the new block) without verifying it first, so the damage is laundered: no
 * check and no release ever reports it, and the record's "freed by" may now
 * be wrong.
 */
START_TEST(known_bug_newest_free_record_resealed)
{
	struct site allocated;
	struct zoo zoo;
	unsigned char *block;

	zoo_start(&zoo, "quarantine_bytes=8k");
	AT(allocated, block = am->malloc(zoo.pool[A], 100));
	am->free(zoo.pool[A], block);
	poke(block, 0, "\x01\x02\x03\x04", 4);
	am->free(zoo.pool[A], am->malloc(zoo.pool[A], 100)); /* links the next block */
	ck_assert_int_eq(dbg->check_pool(zoo.pool[A]), 1);
	assert_reports(1);
	assert_report(0,
		&(struct expected){ "use-after-free", block, 100, zoo.pool[A], zoo.area[A], NULL,
			-1, 0, &allocated, NULL, NULL });
	ck_assert_int_eq(push_quarantine_until_release(&zoo, A), 1);
	zoo_finish(&zoo, 2);
}
END_TEST

/*
 * Was a bug (src/debug/debug_pool.c, relink_quarantined): when a damaged
 * free record breaks the quarantine's list, the rebuild re-seals every
 * quarantined record ("the block is released (and its damage reported)
 * when it leaves" says its comment), which launders the other damaged
 * records: of two blocks with written records, only the first is reported.
 */
START_TEST(known_bug_rebuild_launders_damaged_records)
{
	struct zoo zoo;
	unsigned char *first, *second, *newest;

	zoo_start(&zoo, "quarantine_bytes=8k");
	first = am->malloc(zoo.pool[A], 100);
	second = am->malloc(zoo.pool[A], 100);
	newest = am->malloc(zoo.pool[A], 100);
	am->free(zoo.pool[A], first);
	am->free(zoo.pool[A], second);
	am->free(zoo.pool[A], newest);
	poke(first, 0, "\x01\x02\x03\x04", 4);
	poke(second, 8, "\x01\x02\x03\x04", 4);
	for (int i = 0; i < 40; i++)
		am->free(zoo.pool[A], am->malloc(zoo.pool[A], 1000));
	assert_reports(2);
	ck_assert_ptr_eq(recorded[0].address, first);
	ck_assert_ptr_eq(recorded[1].address, second);
	zoo_assert_sound(&zoo);
	zoo_finish(&zoo, 2);
}
END_TEST

static Suite *bug_zoo_suite(void)
{
	Suite *suite = suite_create("bug_zoo");
	TCase *at_free = tcase_create("at_free");
	TCase *at_realloc = tcase_create("at_realloc");
	TCase *quarantine = tcase_create("quarantine");
	TCase *check = tcase_create("check");
	TCase *leaks = tcase_create("leaks");
	TCase *precedence = tcase_create("precedence");
	TCase *clean = tcase_create("clean");
	TCase *end_to_end = tcase_create("end_to_end");
	TCase *all[] = { at_free, at_realloc, quarantine, check, leaks, precedence, clean,
		end_to_end };

	tcase_add_test(at_free, double_free_at_free);
	tcase_add_test(at_free, invalid_free_interior_at_free);
	tcase_add_test(at_free, invalid_free_interior_of_freed_block);
	tcase_add_test(at_free, double_free_after_quarantine_cycled);
	tcase_add_test(at_free, double_free_of_memory_reused_by_another_block);
	tcase_add_test(at_free, double_free_after_moving_realloc);
	tcase_add_test(at_free, invalid_free_when_the_log_forgot_the_block);
	tcase_add_test(at_free, invalid_free_outside_every_pool);
	tcase_add_test(at_free, cross_pool_free_at_free);
	tcase_add_test(at_free, invalid_pool_every_call);
	tcase_add_test(at_free, overflow_at_free);
	tcase_add_test(at_free, underflow_at_free);
	tcase_add_test(at_free, header_damage_at_free);
	tcase_add_test(at_free, header_damage_over_a_free_block);
	tcase_add_test(at_free, far_overflow_at_check);

	tcase_add_test(at_realloc, double_free_at_realloc);
	tcase_add_test(at_realloc, invalid_free_interior_at_realloc);
	tcase_add_test(at_realloc, cross_pool_free_at_realloc);
	tcase_add_test(at_realloc, overflow_at_realloc);
	tcase_add_test(at_realloc, underflow_at_realloc);

	tcase_add_test(quarantine, use_after_free_leaving_quarantine);
	tcase_add_test(quarantine, use_after_free_just_past_free_record);
	tcase_add_test(quarantine, use_after_free_in_old_gap_after_free_record);
	tcase_add_test(quarantine, use_after_free_of_free_record);
	tcase_add_test(quarantine, use_after_free_of_quarantine_link);
	tcase_add_test(quarantine, use_after_free_on_pool_exhaustion);
	tcase_add_test(quarantine, use_after_free_at_delete_pool);

	tcase_add_test(check, use_after_free_at_check);
	tcase_add_test(check, overflow_at_check);
	tcase_add_test(check, underflow_at_check);
	tcase_add_test(check, check_command_counts_problems);
	tcase_add_test(check, heap_corruption_at_check);
	tcase_add_test(check, heap_corruption_at_check_command);
	tcase_add_test(check, damaged_heap_refuses_calls_and_is_deleted);
	tcase_add_test(check, overflow_into_the_next_chunk_tags);
	tcase_add_test(check, underflow_over_the_chunk_tags);
	tcase_add_test(check, one_byte_in_a_prev_size_tag);
	tcase_add_test(check, write_past_the_last_block);
	tcase_add_test(check, write_pages_above_the_touched_mark_node_file);
	tcase_add_test(check, write_pages_above_the_touched_mark_no_node);
	tcase_add_test(check, write_into_a_block_freed_long_ago);
	tcase_add_test(check, write_beyond_the_checked_start_is_not_checked_at_malloc);
	tcase_add_test(check, max_free_check_size_checks_the_whole_block_at_malloc);
	tcase_add_test(check, allocation_log_corruption_at_check);

	tcase_add_test(leaks, leaks_at_delete_pool);
	tcase_add_test(leaks, leaks_at_unload);
	tcase_add_test(leaks, leaks_at_exit_in_child);
	tcase_add_test(leaks, leaks_at_exit_printed_and_exit_status);

	tcase_add_test(precedence, precedence_double_free_into_wrong_pool);
	tcase_add_test(precedence, precedence_stale_pool_beats_everything);
	tcase_add_test(precedence, precedence_double_free_beats_overflow);
	tcase_add_test(precedence, precedence_cross_pool_beats_logged_double_free);
	tcase_add_test(precedence, precedence_cross_pool_beats_invalid_free);

	tcase_add_test(clean, clean_single_thread);
	tcase_add_test(clean, clean_four_threads);

	tcase_add_loop_test(end_to_end, e2e_error_scenarios, 0,
		(int)(sizeof(e2e_errors) / sizeof(e2e_errors[0])));
	tcase_add_loop_test(end_to_end, e2e_leak_scenarios, 0,
		(int)(sizeof(e2e_leaks) / sizeof(e2e_leaks[0])));
	tcase_add_loop_test(end_to_end, e2e_clean_with_both_builds, 0, 2);
	tcase_add_test(end_to_end, e2e_exitcode_zero);
	tcase_add_test(end_to_end, json_checker_rejects_bad_lines);
	tcase_add_loop_test(end_to_end, e2e_json_format, 0, 2);
	tcase_add_test(end_to_end, e2e_log_path);
	tcase_add_test(end_to_end, e2e_leak_partly_suppressed);
	tcase_add_test(end_to_end, e2e_leak_all_suppressed);
	tcase_add_test(end_to_end, e2e_suggest_suppressions_off);
	tcase_add_test(end_to_end, e2e_color);
	tcase_add_test(end_to_end, e2e_two_bugs_both_reported);
	tcase_add_test(end_to_end, e2e_halt_on_error);
	tcase_add_test(end_to_end, e2e_max_reports);
	tcase_add_test(end_to_end, e2e_duplicates_counted);
	tcase_add_test(end_to_end, e2e_duplicates_differ_by_free_site);
	tcase_add_loop_test(end_to_end, e2e_duplicates_keyed_on_every_frame, 0, 2);

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_set_timeout(all[i], 60);
		suite_add_tcase(suite, all[i]);
	}
	{
		TCase *known_bugs = tcase_create("regressions");
		tcase_add_test(known_bugs, overflow_of_unfreed_block_at_delete_pool);
		tcase_add_test(known_bugs, known_bug_pointer_into_own_pool_metadata);
		tcase_add_test(known_bugs, known_bug_newest_free_record_resealed);
		tcase_add_test(known_bugs, known_bug_rebuild_launders_damaged_records);
		tcase_set_timeout(known_bugs, 60);
		suite_add_tcase(suite, known_bugs);
	}
	return suite;
}

int main(void)
{
	/* every test loads the module with its own options: forking is a must */
	return run_check_suite(bug_zoo_suite(), CK_FORK);
}
