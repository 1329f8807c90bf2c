/*
 * test_node.c - Check suite for the debug node reader, the pool commands
 * and pooldump (src/node, tools/pooldump).
 *
 * Most cases fabricate nodes (node_fixture.h): pools built in this process
 * exactly as node_format.h lays them out, with blocks whose callers are
 * functions of this program, written to a private temporary node directory.
 * Commands run in-process through node_command_run (output captured), and
 * through the pooldump binary for the command line. Expected caller strings
 * come from this program's own symbolizer, so "symbolized callers" is checked
 * to the byte. The end-to-end cases run node_driver under the debug module
 * with AREA_MALLOC_OPTIONS=node_dir=<tmp> (never the real /dev/shm), query
 * it while it runs and after kill -9.
 *
 * Each test runs in its own forked child (Check); helper children (lock
 * holders, churners, drivers) are killed and reaped by the test that made
 * them. Locking: none beyond that.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format/error_kind.h"
#include "format/options.h"
#include "format/symbolize.h"
#include "json_assert.h"
#include "node/node_commands.h"
#include "node/node_reader.h"
#include "node_fixture.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/read_stream.h"

#define NOINLINE __attribute__((noinline, noipa))
#define FAKE_PID 4242

/* ---- call sites: addresses inside these functions are the callers ---- */

NOINLINE static int site_small(int x)
{
	volatile int value = x;
	for (int i = 0; i < 4; i++)
		value += i * x;
	return value;
}

NOINLINE static int site_large(int x)
{
	volatile int value = x;
	for (int i = 0; i < 5; i++)
		value -= i * x;
	return value;
}

NOINLINE static int site_beta(int x)
{
	volatile int value = x;
	for (int i = 0; i < 6; i++)
		value ^= i * x;
	return value;
}

NOINLINE static int site_free(int x)
{
	volatile int value = x;
	for (int i = 0; i < 7; i++)
		value |= i * x;
	return value;
}

/* A return address 8 bytes into fn, as a backtrace would record it. */
#define SITE(fn) ((uintptr_t)(fn) + 8)

static const char *expected_symbol(uintptr_t address)
{
	static struct symbolizer *self;
	static char buffers[8][2048];
	static unsigned next;
	struct symbol_info info;
	char *buffer = buffers[next++ % 8];

	if (self == NULL)
		self = symbolizer_open_self();
	ck_assert_ptr_nonnull(self);
	symbolize(self, address, &info);
	return symbol_format(&info, buffer, sizeof(buffers[0]));
}

/* ---- running commands ---- */

struct result {
	int status;
	char *out;
	char *err;
};

static void print_to(void *cookie, const char *text)
{
	fputs(text, cookie);
}

enum run_kind { RUN_COMMAND, RUN_LIST, RUN_CLEAN };

static struct result run_in_process(enum run_kind kind, const char *dir, pid_t pid, bool json,
	unsigned grant_timeout_ms, const char *line)
{
	struct result result = { 0, NULL, NULL };
	size_t out_length, err_length;
	FILE *out = open_memstream(&result.out, &out_length);
	FILE *err = open_memstream(&result.err, &err_length);
	char *copy = strdup(line != NULL ? line : ""), *argv[32], *save = NULL;
	int argc = 0;
	struct node_command_context context = {
		.node_dir = dir,
		.pid = pid,
		.json = json,
		.print = print_to,
		.print_cookie = out,
		.print_error = print_to,
		.error_cookie = err,
		.snapshot = { .tries = 0, .grant_timeout_ms = grant_timeout_ms },
	};

	ck_assert(out != NULL && err != NULL && copy != NULL);
	for (char *word = strtok_r(copy, " ", &save); word != NULL && argc < 31;
		word = strtok_r(NULL, " ", &save))
		argv[argc++] = word;
	argv[argc] = NULL;
	if (kind == RUN_LIST)
		result.status = node_command_list(&context);
	else if (kind == RUN_CLEAN)
		result.status = node_command_clean(&context);
	else
		result.status = node_command_run(&context, argc, argv);
	fclose(out);
	fclose(err);
	free(copy);
	return result;
}

static struct result run(const char *dir, pid_t pid, bool json, const char *line)
{
	return run_in_process(RUN_COMMAND, dir, pid, json, 0, line);
}

static struct result pooldump(const char *const *arguments);

static void result_free(struct result *result)
{
	free(result->out);
	free(result->err);
	result->out = result->err = NULL;
}

static size_t count_occurrences(const char *text, const char *needle)
{
	size_t count = 0;

	for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
		count++;
	return count;
}

static struct json *parse_json(const char *text)
{
	return json_parse_asserted(text);
}

static double number_of(const struct json *object, const char *key)
{
	return json_member(object, key, JSON_NUMBER)->number;
}

static const char *string_of(const struct json *object, const char *key)
{
	return json_member(object, key, JSON_STRING)->string;
}

static const struct json *array_of(const struct json *object, const char *key)
{
	return json_member(object, key, JSON_ARRAY);
}

static const char *hex(uint64_t value)
{
	static char buffers[8][32];
	static unsigned next;
	char *buffer = buffers[next++ % 8];

	snprintf(buffer, sizeof(buffers[0]), "0x%" PRIx64, value);
	return buffer;
}

/* ---- the standard fabricated node ---- */

/*
 * Process FAKE_PID ("fake driver --verbose"), dead, stack depth 1:
 *   pool 101 "alpha": 3 x 100 bytes from site_small (thread 11, seq 0-2),
 *                     1 x 5000 bytes from site_large (thread 12, seq 3),
 *                     1 x 64 bytes (seq 4) freed by site_free (seq 5): quarantined
 *   pool 202 "beta":  2 x 2000 bytes from site_beta (thread 13, seq 0-1)
 * Owner times run 1000000, 1000001, ... in that order (small, large, the
 * 64-byte block, its free, beta, beta).
 */
struct standard {
	char dir[PATH_MAX];
	struct fixture_node node;
	struct fixture_pool alpha, beta;
	void *small[3], *large, *freed, *beta_blocks[2];
};

static struct standard standard;

static void build_standard(unsigned stack_depth)
{
	struct standard *s = &standard;

	fixture_temp_dir(s->dir, sizeof(s->dir));
	fixture_node_init(&s->node, s->dir, FAKE_PID, "fake driver --verbose", stack_depth);
	fixture_pool_init(&s->alpha, &s->node, 101, 1 << 20, 64, "alpha");
	fixture_pool_init(&s->beta, &s->node, 202, 256 << 10, 64, "beta");
	for (int i = 0; i < 3; i++)
		s->small[i] = fixture_alloc(&s->alpha, 100, SITE(site_small), 11);
	s->large = fixture_alloc(&s->alpha, 5000, SITE(site_large), 12);
	s->freed = fixture_alloc(&s->alpha, 64, SITE(site_small), 11);
	fixture_free(&s->alpha, s->freed, SITE(site_free), 11);
	for (int i = 0; i < 2; i++)
		s->beta_blocks[i] = fixture_alloc(&s->beta, 2000, SITE(site_beta), 13);
	fixture_node_write_process(&s->node);
	fixture_pool_write(&s->alpha);
	fixture_pool_write(&s->beta);
}

static void standard_setup(void)
{
	build_standard(1);
}

static void standard_teardown(void)
{
	fixture_pool_destroy(&standard.alpha);
	fixture_pool_destroy(&standard.beta);
	fixture_node_destroy(&standard.node);
	fixture_remove_tree(standard.dir);
}

static struct result run_standard(bool json, const char *line)
{
	return run(standard.dir, FAKE_PID, json, line);
}

/* ---- commands on the standard node ---- */

START_TEST(test_pools_text_and_json)
{
	struct result text = run_standard(false, "pools");
	struct result json = run_standard(true, "pools");
	char line[1024];
	struct json *document, *pool;
	const struct json *pools;

	ck_assert_int_eq(text.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(text.out,
			      "process 4242 \"fake driver --verbose\": dead (post mortem)\n"
			      "2 pool(s)\n")
			== text.out,
		"%s", text.out);
	snprintf(line, sizeof(line),
		"pool 101: id: 0x1065; name: \"alpha\"; base: %s; size: %d; "
		"area_size: %d; used: 5300; peak: 5364; blocks: 4; quarantined: %" PRIu64 " in 1; "
		"failed: 0; injected: 0; errors: 0; creator: %s\n",
		hex((uintptr_t)standard.alpha.region), (1 << 20) / 2, 1 << 20,
		standard.alpha.descriptor->quarantined_bytes,
		expected_symbol(standard.alpha.descriptor->creator.frames[0]));
	ck_assert_msg(strstr(text.out, line) != NULL, "missing\n%s\nin\n%s", line, text.out);
	ck_assert_msg(strstr(text.out, "pool 202: id: 0x10ca; name: \"beta\";") != NULL, "%s",
		text.out);
	ck_assert_str_eq(text.err, "");

	ck_assert_int_eq(json.status, NODE_STATUS_OK);
	document = parse_json(json.out);
	ck_assert_str_eq(string_of(document, "query"), "pools");
	ck_assert(json_get(json_get(document, "process"), "alive")->type == JSON_BOOL);
	ck_assert(!json_get(json_get(document, "process"), "alive")->boolean);
	pools = array_of(document, "pools");
	ck_assert_uint_eq(pools->count, 2);
	pool = pools->items[0];
	ck_assert_int_eq((int)number_of(pool, "id"), 101);
	ck_assert_int_eq((int)number_of(pool, "size"), (1 << 20) / 2);
	ck_assert_int_eq((int)number_of(pool, "used"), 5300);
	ck_assert_int_eq((int)number_of(pool, "peak"), 5364);
	ck_assert_int_eq((int)number_of(pool, "blocks"), 4);
	ck_assert_str_eq(string_of(pool, "name"), "alpha");
	ck_assert_str_eq(string_of(pool, "creator"),
		expected_symbol(standard.alpha.descriptor->creator.frames[0]));
	ck_assert_int_eq((int)number_of(pools->items[1], "id"), 202);
	ck_assert_int_eq((int)number_of(pools->items[1], "used"), 4000);
	ck_assert_int_eq((int)number_of(pools->items[1], "blocks"), 2);
	ck_assert_int_eq((int)number_of(document, "status"), 0);
	json_free(document);
	result_free(&text);
	result_free(&json);
}
END_TEST

START_TEST(test_pool_detail)
{
	struct result text = run_standard(false, "pool 101");
	struct result json = run_standard(true, "pool 202");
	struct json *document;
	const struct json *pool, *heap, *log;

	ck_assert_int_eq(text.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(text.out, "\tblocks: 4 live (5300 bytes requested); 1 quarantined (")
			!= NULL,
		"%s", text.out);
	ck_assert_msg(strstr(text.out, "0 with a damaged header") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "\tallocations: 5; frees: 1;") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "(6 event(s) appended, capacity 64)") != NULL, "%s",
		text.out);
	ck_assert_msg(strstr(text.out, "\tcopy: consistent\n") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "chunks: 5 used") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "pool 202") == NULL, "%s", text.out);

	ck_assert_int_eq(json.status, NODE_STATUS_OK);
	document = parse_json(json.out);
	pool = json_get(document, "pool");
	ck_assert_int_eq((int)number_of(pool, "id"), 202);
	ck_assert_int_eq((int)number_of(pool, "live_blocks"), 2);
	ck_assert_int_eq((int)number_of(pool, "live_bytes"), 4000);
	ck_assert_str_eq(string_of(pool, "copy"), "consistent");
	heap = json_get(pool, "heap");
	ck_assert_int_eq((int)number_of(heap, "used_chunks"), 2);
	ck_assert(json_get(heap, "problem")->type == JSON_NULL);
	log = json_get(pool, "log");
	ck_assert_int_eq((int)number_of(log, "appended"), 2);
	json_free(document);
	result_free(&text);
	result_free(&json);
}
END_TEST

static const char *allocation_line(int team, int thread, const void *address, uint64_t size,
	int pool, unsigned seq, uintptr_t caller)
{
	static char line[1024];

	snprintf(line, sizeof(line),
		"team: % 6d; thread: % 6d; address: 0x%08" PRIxPTR "; size: %" PRIu64
		" bytes; pool: %d; seq: %u; caller: %#" PRIxPTR " %s\n",
		team, thread, (uintptr_t)address, size, pool, seq, caller, expected_symbol(caller));
	return line;
}

START_TEST(test_allocations_exact)
{
	struct result text = run_standard(false, "allocations");
	struct result json = run_standard(true, "allocations");
	struct json *document;
	const struct json *blocks;
	size_t found = 0;

	ck_assert_int_eq(text.status, NODE_STATUS_OK);
	for (int i = 0; i < 3; i++) {
		const char *line = allocation_line(FAKE_PID, 11, standard.small[i], 100, 101,
			(unsigned)i, SITE(site_small));
		ck_assert_msg(strstr(text.out, line) != NULL, "missing %s in\n%s", line, text.out);
	}
	ck_assert_msg(strstr(text.out,
			      allocation_line(FAKE_PID, 12, standard.large, 5000, 101, 3,
				      SITE(site_large)))
			!= NULL,
		"%s", text.out);
	for (int i = 0; i < 2; i++)
		ck_assert_msg(strstr(text.out,
				      allocation_line(FAKE_PID, 13, standard.beta_blocks[i], 2000,
					      202, (unsigned)i, SITE(site_beta)))
				!= NULL,
			"%s", text.out);
	ck_assert_uint_eq(count_occurrences(text.out, "team: "), 6);
	ck_assert_msg(strstr(text.out, "total allocations: 6; total bytes: 9300\n") != NULL, "%s",
		text.out);
	/* the freed block is not an allocation */
	ck_assert_msg(strstr(text.out, hex((uintptr_t)standard.freed)) == NULL, "%s", text.out);

	ck_assert_int_eq(json.status, NODE_STATUS_OK);
	document = parse_json(json.out);
	blocks = array_of(document, "blocks");
	ck_assert_uint_eq(blocks->count, 6);
	for (size_t i = 0; i < blocks->count; i++) {
		const struct json *block = blocks->items[i];
		const char *address = string_of(block, "address");
		if (strcmp(address, hex((uintptr_t)standard.large)) == 0) {
			ck_assert_int_eq((int)number_of(block, "size"), 5000);
			ck_assert_int_eq((int)number_of(block, "pool"), 101);
			ck_assert_int_eq((int)number_of(block, "thread"), 12);
			ck_assert_int_eq((int)number_of(block, "seq"), 3);
			ck_assert_str_eq(string_of(block, "caller"),
				expected_symbol(SITE(site_large)));
			found++;
		} else if (strcmp(address, hex((uintptr_t)standard.beta_blocks[1])) == 0) {
			ck_assert_int_eq((int)number_of(block, "size"), 2000);
			ck_assert_int_eq((int)number_of(block, "pool"), 202);
			ck_assert_int_eq((int)number_of(block, "seq"), 1);
			ck_assert_str_eq(string_of(block, "caller"),
				expected_symbol(SITE(site_beta)));
			found++;
		}
		ck_assert(strncmp(address, "0x", 2) == 0);
	}
	ck_assert_uint_eq(found, 2);
	ck_assert_int_eq((int)number_of(document, "total_blocks"), 6);
	ck_assert_int_eq((int)number_of(document, "total_bytes"), 9300);
	json_free(document);
	result_free(&text);
	result_free(&json);
}
END_TEST

static void expect_totals(const char *line, int blocks, int bytes)
{
	struct result text = run_standard(false, line);
	struct result json = run_standard(true, line);
	char expected[128];
	struct json *document;

	ck_assert_msg(text.status == NODE_STATUS_OK, "%s: status %d: %s", line, text.status,
		text.err);
	snprintf(expected, sizeof(expected), "total allocations: %d; total bytes: %d\n", blocks,
		bytes);
	ck_assert_msg(strstr(text.out, expected) != NULL, "%s: expected %s in\n%s", line, expected,
		text.out);
	ck_assert_msg((int)count_occurrences(text.out, "team: ")
			== (strstr(line, "stats") ? 0 : blocks),
		"%s:\n%s", line, text.out);
	document = parse_json(json.out);
	ck_assert_int_eq((int)number_of(document, "total_blocks"), blocks);
	ck_assert_int_eq((int)number_of(document, "total_bytes"), bytes);
	if (strstr(line, "stats") != NULL)
		ck_assert(json_get(document, "blocks") == NULL);
	else
		ck_assert_uint_eq(array_of(document, "blocks")->count, (size_t)blocks);
	json_free(document);
	result_free(&text);
	result_free(&json);
}

START_TEST(test_allocations_filters)
{
	char line[256];

	expect_totals("allocations pool 202", 2, 4000);
	expect_totals("allocations pool 101", 4, 5300);
	expect_totals("allocations thread 12", 1, 5000);
	expect_totals("allocations thread 99", 0, 0);
	expect_totals("allocations caller site_small", 3, 300);
	expect_totals("allocations caller site_*", 6, 9300);
	expect_totals("allocations caller no_such_function", 0, 0);
	snprintf(line, sizeof(line), "allocations caller %s", hex(SITE(site_beta)));
	expect_totals(line, 2, 4000);
	snprintf(line, sizeof(line), "allocations caller %" PRIuPTR, SITE(site_large));
	expect_totals(line, 1, 5000);
	expect_totals("allocations size 1000-3000", 2, 4000);
	expect_totals("allocations size 2000", 3, 9000);
	expect_totals("allocations size 100-100", 3, 300);
	expect_totals("allocations stats", 6, 9300);
	expect_totals("allocations pool 101 thread 11 size 50-200 stats", 3, 300);
	expect_totals("allocations caller site_small pool 202", 0, 0);
}
END_TEST

START_TEST(test_allocations_per_caller)
{
	struct result by_size = run_standard(false, "allocations_per_caller");
	struct result by_count = run_standard(false, "allocations_per_caller -c");
	struct result one_pool = run_standard(true, "allocations_per_caller pool 101");
	struct result json = run_standard(true, "allocations_per_caller -c");
	char expected[4096];
	struct json *document;
	const struct json *callers;

	ck_assert_int_eq(by_size.status, NODE_STATUS_OK);
	snprintf(expected, sizeof(expected),
		"3 different callers, sorted by size...\n"
		"     count        size      caller\n"
		"----------------------------------\n"
		"%10d  %10d  %#08" PRIxPTR "  %s\n%10d  %10d  %#08" PRIxPTR "  %s\n"
		"%10d  %10d  %#08" PRIxPTR "  %s\n"
		"total allocations: 6; total bytes: 9300\n",
		1, 5000, SITE(site_large), expected_symbol(SITE(site_large)), 2, 4000,
		SITE(site_beta), expected_symbol(SITE(site_beta)), 3, 300, SITE(site_small),
		expected_symbol(SITE(site_small)));
	ck_assert_msg(strstr(by_size.out, expected) != NULL, "expected\n%s\nin\n%s", expected,
		by_size.out);
	snprintf(expected, sizeof(expected),
		"sorted by count...\n"
		"     count        size      caller\n"
		"----------------------------------\n"
		"%10d  %10d  %#08" PRIxPTR "  %s\n",
		3, 300, SITE(site_small), expected_symbol(SITE(site_small)));
	ck_assert_msg(strstr(by_count.out, expected) != NULL, "expected\n%s\nin\n%s", expected,
		by_count.out);

	document = parse_json(one_pool.out);
	callers = array_of(document, "callers");
	ck_assert_uint_eq(callers->count, 2);
	ck_assert_str_eq(string_of(callers->items[0], "caller"), expected_symbol(SITE(site_large)));
	ck_assert_int_eq((int)number_of(callers->items[0], "bytes"), 5000);
	ck_assert_int_eq((int)number_of(callers->items[1], "count"), 3);
	json_free(document);

	document = parse_json(json.out);
	ck_assert_str_eq(string_of(document, "sort"), "count");
	callers = array_of(document, "callers");
	ck_assert_uint_eq(callers->count, 3);
	ck_assert_str_eq(string_of(callers->items[0], "caller"), expected_symbol(SITE(site_small)));
	ck_assert_int_eq((int)number_of(callers->items[0], "count"), 3);
	ck_assert_int_eq((int)number_of(callers->items[0], "bytes"), 300);
	ck_assert_str_eq(string_of(callers->items[2], "caller"), expected_symbol(SITE(site_large)));
	json_free(document);
	result_free(&by_size);
	result_free(&by_count);
	result_free(&one_pool);
	result_free(&json);
}
END_TEST

START_TEST(test_pool_log)
{
	struct result all = run_standard(false, "pool_log 101");
	struct result two = run_standard(false, "pool_log 101 2");
	struct result json = run_standard(true, "pool_log 101 3");
	char expected[2048];
	struct json *document;
	const struct json *events;

	ck_assert_int_eq(all.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(all.out,
			      "pool 101: 6 event(s) logged, the last 6 kept (capacity 64); "
			      "newest first:\n")
			!= NULL,
		"%s", all.out);
	ck_assert_uint_eq(count_occurrences(all.out, "    seq "), 6);
	snprintf(expected, sizeof(expected),
		"    seq 5 free     %s 64 bytes, thread T11, %s\n"
		"    seq 4 malloc   %s 64 bytes, thread T11, %s\n",
		hex((uintptr_t)standard.freed), expected_symbol(SITE(site_free)),
		hex((uintptr_t)standard.freed), expected_symbol(SITE(site_small)));
	ck_assert_msg(strstr(two.out, expected) != NULL, "expected\n%s\nin\n%s", expected, two.out);
	ck_assert_uint_eq(count_occurrences(two.out, "    seq "), 2);

	document = parse_json(json.out);
	events = array_of(document, "events");
	ck_assert_uint_eq(events->count, 3);
	ck_assert_str_eq(string_of(events->items[0], "op"), "free");
	ck_assert_int_eq((int)number_of(events->items[0], "seq"), 5);
	ck_assert_str_eq(string_of(events->items[2], "op"), "malloc");
	ck_assert_int_eq((int)number_of(events->items[2], "size"), 5000);
	ck_assert_str_eq(string_of(events->items[2], "caller"), expected_symbol(SITE(site_large)));
	ck_assert_int_eq((int)number_of(document, "capacity"), 64);
	json_free(document);
	result_free(&all);
	result_free(&two);
	result_free(&json);
}
END_TEST

/*
 * The document's version, and pool 202's group in the shape every JSON
 * document gives a leak group (the debug module's report objects too): its
 * site, oldest block, allocated_by and a ready-made suppression, and each
 * frame's parts from the symbolizer.
 */
static void assert_leak_group_shape(const struct json *document, const struct json *group)
{
	const struct json *owner, *frame;
	struct symbol_info info;
	struct symbolizer *self = symbolizer_open_self();

	ck_assert_ptr_nonnull(self);
	ck_assert(symbolize(self, SITE(site_beta), &info));
	symbolizer_close(self);
	ck_assert_int_eq((int)number_of(document, "version"), AREA_MALLOC_JSON_VERSION);
	ck_assert_int_eq((int)number_of(group, "pool"), 202);
	ck_assert_str_eq(string_of(group, "address"), hex(SITE(site_beta)));
	ck_assert_str_eq(string_of(group, "first_address"),
		hex((uintptr_t)standard.beta_blocks[0]));
	ck_assert_int_eq((int)number_of(group, "thread"), 13);
	ck_assert_int_eq((int)number_of(group, "seq"), 0);
	ck_assert_str_eq(string_of(group, "suppression"), "leak:site_beta");
	owner = json_member(group, "allocated_by", JSON_OBJECT);
	ck_assert_int_eq((int)number_of(owner, "thread"), 13);
	ck_assert_int_eq((int)number_of(owner, "seq"), 0);
	ck_assert_uint_eq(array_of(owner, "frames")->count, array_of(group, "frames")->count);
	frame = array_of(group, "frames")->items[0];
	ck_assert_str_eq(string_of(frame, "pc"), hex(SITE(site_beta)));
	ck_assert_str_eq(string_of(frame, "symbol"), expected_symbol(SITE(site_beta)));
	ck_assert_str_eq(string_of(frame, "function"), "site_beta");
	ck_assert_int_eq((int)number_of(frame, "offset"), 8);
	ck_assert_str_eq(string_of(frame, "image"), info.image);
	ck_assert_str_eq(string_of(frame, "file"), info.file);
	ck_assert_int_eq((int)number_of(frame, "line"), info.line);
	ck_assert_int_gt(info.line, 0);
}

START_TEST(test_leaks_all_and_since_mark)
{
	struct result all = run_standard(false, "leaks");
	struct result beta = run_standard(true, "leaks pool 202");
	struct result since, since_json;
	char expected[2048];
	struct json *document;
	const struct json *groups;

	ck_assert_int_eq(all.status, NODE_STATUS_FOUND);
	ck_assert_msg(strstr(all.out,
			      "blocks still allocated (no mark set) when the process died\n")
			!= NULL,
		"%s", all.out);
	snprintf(expected, sizeof(expected),
		"\nLeak of 300 byte(s) in 3 allocation(s) allocated from:\n"
		"    #0 0x%" PRIxPTR " in %s\n    (first block %s, thread T11, seq 0)\n"
		"    suppression: leak:site_small\n",
		SITE(site_small), expected_symbol(SITE(site_small)),
		hex((uintptr_t)standard.small[0]));
	ck_assert_msg(strstr(all.out, expected) != NULL, "expected\n%s\nin\n%s", expected, all.out);
	ck_assert_msg(strstr(all.out, "in pool 101 \"alpha\" (id 0x1065)\n") != NULL, "%s",
		all.out);
	ck_assert_msg(strstr(all.out,
			      "\nSUMMARY: area_malloc: 9300 byte(s) leaked in 6 "
			      "allocation(s).\n")
			!= NULL,
		"%s", all.out);

	ck_assert_int_eq(beta.status, NODE_STATUS_FOUND);
	document = parse_json(beta.out);
	ck_assert(json_get(document, "since_mark")->type == JSON_NULL);
	groups = array_of(document, "groups");
	ck_assert_uint_eq(groups->count, 1);
	ck_assert_str_eq(string_of(groups->items[0], "caller"), expected_symbol(SITE(site_beta)));
	ck_assert_int_eq((int)number_of(groups->items[0], "count"), 2);
	ck_assert_int_eq((int)number_of(groups->items[0], "bytes"), 4000);
	ck_assert_int_eq((int)number_of(document, "leaked_bytes"), 4000);
	assert_leak_group_shape(document, groups->items[0]);
	json_free(document);

	/* a mark between the small blocks and the large one */
	standard.node.mark = 1000003;
	fixture_node_write_process(&standard.node);
	since = run_standard(false, "leaks");
	since_json = run_standard(true, "leaks");
	ck_assert_int_eq(since.status, NODE_STATUS_FOUND);
	ck_assert_msg(strstr(since.out,
			      "blocks allocated since the mark at 1.000003 s (set through "
			      "the companion module) and still live\n")
			!= NULL,
		"%s", since.out);
	ck_assert_msg(strstr(since.out,
			      "SUMMARY: area_malloc: 9000 byte(s) leaked in 3 "
			      "allocation(s).")
			!= NULL,
		"%s", since.out);
	ck_assert_msg(strstr(since.out, "site_small") == NULL, "%s", since.out);
	document = parse_json(since_json.out);
	ck_assert_int_eq((int)number_of(document, "since_mark"), 1000003);
	ck_assert_int_eq((int)number_of(document, "leaked_blocks"), 3);
	json_free(document);

	/* nothing since a later mark: no leaks, status 0 */
	result_free(&since);
	standard.node.mark = 2000000;
	fixture_node_write_process(&standard.node);
	since = run_standard(false, "leaks");
	ck_assert_int_eq(since.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(since.out, "0 byte(s) leaked in 0 allocation(s).") != NULL, "%s",
		since.out);
	result_free(&since);
	result_free(&since_json);
	result_free(&all);
	result_free(&beta);
}
END_TEST

START_TEST(test_check_clean)
{
	struct result text = run_standard(false, "check");
	struct result json = run_standard(true, "check pool 101");
	struct json *document;

	ck_assert_int_eq(text.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(text.out, "2 pool(s) checked, 0 problem(s)\n") != NULL, "%s",
		text.out);
	ck_assert_int_eq(json.status, NODE_STATUS_OK);
	document = parse_json(json.out);
	ck_assert_int_eq((int)number_of(document, "pools_checked"), 1);
	ck_assert_int_eq((int)number_of(document, "problem_count"), 0);
	ck_assert_uint_eq(array_of(document, "problems")->count, 0);
	json_free(document);
	result_free(&text);
	result_free(&json);
}
END_TEST

static const struct json *problem_of_kind(const struct json *problems, const char *kind)
{
	for (size_t i = 0; i < problems->count; i++) {
		if (strcmp(string_of(problems->items[i], "kind"), kind) == 0) {
			/* the table's machine key beside its name */
			enum error_kind row = error_kind_from_name(kind);
			ck_assert_str_eq(string_of(problems->items[i], "kind_key"),
				error_kind_info(row)->key);
			return problems->items[i];
		}
	}
	ck_abort_msg("no %s problem", kind);
	return NULL;
}

START_TEST(test_check_finds_damage)
{
	struct standard *s = &standard;
	unsigned char *large = s->large, *small1 = s->small[1], *freed = s->freed;
	unsigned char *small2_header = (unsigned char *)s->small[2] - s->node.layout.front_size;
	struct result text, json;
	struct json *document;
	const struct json *problems, *problem;
	char expected[1024];

	large[5000] = 'x'; /* 2 bytes past the end */
	large[5001] = 'y';
	small1[-3] = 0;            /* leading canary */
	freed[60] = 0x42;          /* written after free */
	small2_header[12] ^= 0x10; /* header: checksum mismatch */
	fixture_pool_write(&s->alpha);
	text = run_standard(false, "check");
	json = run_standard(true, "check");

	ck_assert_int_eq(text.status, NODE_STATUS_FOUND);
	snprintf(expected, sizeof(expected),
		"==4242==ERROR: area_malloc: heap-buffer-overflow on address %s (5000-byte block) in "
		"pool 101 \"alpha\"\nthe trailing canary is damaged\nfirst damaged byte at offset 5000 "
		"from the block\nthe write reached 2 byte(s) past the end of the 5000-byte block\n"
		"previously allocated by thread T12 (team 4242, seq 3, at 1.000003 s):\n"
		"    #0 0x%" PRIxPTR
		" in %s\nSUMMARY: area_malloc: heap-buffer-overflow %s in pool 101\n",
		hex((uintptr_t)large), SITE(site_large), expected_symbol(SITE(site_large)),
		expected_symbol(SITE(site_large)));
	ck_assert_msg(strstr(text.out, expected) != NULL, "expected\n%s\nin\n%s", expected,
		text.out);
	ck_assert_msg(strstr(text.out, "heap-buffer-underflow on address ") != NULL, "%s",
		text.out);
	ck_assert_msg(strstr(text.out,
			      "first damaged byte at offset -3 from the block (before its "
			      "start)")
			!= NULL,
		"%s", text.out);
	ck_assert_msg(strstr(text.out, "the block's header is damaged") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "use-after-free on address ") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "freed by thread T11 (team 4242, seq 5") != NULL, "%s",
		text.out);
	ck_assert_msg(strstr(text.out, "2 pool(s) checked, 4 problem(s)\n") != NULL, "%s",
		text.out);

	ck_assert_int_eq(json.status, NODE_STATUS_FOUND);
	document = parse_json(json.out);
	problems = array_of(document, "problems");
	ck_assert_uint_eq(problems->count, 4);
	problem = problem_of_kind(problems, "heap-buffer-overflow");
	ck_assert_str_eq(string_of(problem, "address"), hex((uintptr_t)large));
	ck_assert_int_eq((int)number_of(problem, "size"), 5000);
	ck_assert_int_eq((int)number_of(problem, "overflow_bytes"), 2);
	ck_assert_str_eq(string_of(problem, "caller"), expected_symbol(SITE(site_large)));
	problem = problem_of_kind(problems, "use-after-free");
	ck_assert_int_eq((int)number_of(problem, "offset"), 60);
	ck_assert_str_eq(string_of(json_get(problem, "freed_by"), "caller"),
		expected_symbol(SITE(site_free)));
	problem = problem_of_kind(problems, "heap-buffer-underflow");
	ck_assert_int_eq((int)number_of(document, "problem_count"), 4);
	json_free(document);
	result_free(&text);
	result_free(&json);
}
END_TEST

START_TEST(test_check_counters)
{
	struct result text;

	standard.beta.descriptor->live_blocks = 7;
	fixture_pool_write(&standard.beta);
	text = run_standard(false, "check 202");
	ck_assert_int_eq(text.status, NODE_STATUS_FOUND);
	ck_assert_msg(strstr(text.out, "counter-mismatch") != NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out,
			      "7 live block(s) of 4000 bytes and 0 quarantined counted, "
			      "2 of 4000 bytes and 0 found")
			!= NULL,
		"%s", text.out);
	result_free(&text);
}
END_TEST

START_TEST(test_help_usage_and_statuses)
{
	static const char *const usage_errors[] = {
		"frobnicate",
		"pools extra",
		"pool",
		"pool abc",
		"pool 0",
		"pool -5",
		"pool 101 7",
		"allocations thread",
		"allocations size 9-3",
		"allocations size x",
		"allocations pool",
		"allocations bogus",
		"allocations caller",
		"allocations_per_caller -x",
		"allocations_per_caller pool",
		"pool_log",
		"pool_log 101 many",
		"leaks 1 2 3",
		"check pool",
		"check 101 extra",
		"scan --interval",
		"scan --min-age -1",
		"scan extra",
	};
	struct result help = run_standard(false, "help");
	struct result help_json = run_standard(true, "help");
	struct result result;
	struct json *document;

	ck_assert_int_eq(help.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(help.out, "allocations_per_caller [-c] [pool ID]") != NULL, "%s",
		help.out);
	document = parse_json(help_json.out);
	ck_assert_uint_eq(array_of(document, "commands")->count, 9);
	json_free(document);

	for (size_t i = 0; i < sizeof(usage_errors) / sizeof(usage_errors[0]); i++) {
		result = run_standard(false, usage_errors[i]);
		ck_assert_msg(result.status == NODE_STATUS_USAGE, "'%s': status %d",
			usage_errors[i], result.status);
		ck_assert_msg(strstr(result.err, "usage: ") != NULL, "'%s': %s", usage_errors[i],
			result.err);
		result_free(&result);
		result = run_standard(true, usage_errors[i]);
		document = parse_json(result.out);
		ck_assert_int_eq((int)number_of(document, "status"), NODE_STATUS_USAGE);
		json_free(document);
		result_free(&result);
	}
	result = run_standard(false, "pool 303");
	ck_assert_int_eq(result.status, NODE_STATUS_NO_SUCH);
	ck_assert_msg(strstr(result.err, "process 4242 has no pool 303") != NULL, "%s", result.err);
	result_free(&result);
	result = run_standard(true, "allocations pool 303");
	ck_assert_int_eq(result.status, NODE_STATUS_NO_SUCH);
	document = parse_json(result.out);
	ck_assert_uint_eq(array_of(document, "errors")->count, 1);
	json_free(document);
	result_free(&result);
	result = run(standard.dir, 4343, false, "pools");
	ck_assert_int_eq(result.status, NODE_STATUS_NO_SUCH);
	ck_assert_msg(strstr(result.err, "no node for process 4343") != NULL, "%s", result.err);
	result_free(&result);
	result = run(standard.dir, 4343, true, "pools");
	document = parse_json(result.out);
	ck_assert_int_eq((int)number_of(document, "status"), NODE_STATUS_NO_SUCH);
	ck_assert(strstr(string_of(document, "error"), "4343") != NULL);
	json_free(document);
	result_free(&result);
	result_free(&help);
	result_free(&help_json);
}
END_TEST

START_TEST(test_deep_stacks)
{
	struct result text, json;
	struct json *document;
	const struct json *blocks, *frames;

	standard_teardown();
	build_standard(4);
	text = run_standard(false, "leaks pool 202");
	json = run_standard(true, "allocations pool 202");
	ck_assert_int_eq(text.status, NODE_STATUS_FOUND);
	for (unsigned i = 0; i < 4; i++) {
		char expected[1024];
		snprintf(expected, sizeof(expected), "    #%u 0x%" PRIxPTR " in %s\n", i,
			SITE(site_beta) + i, expected_symbol(SITE(site_beta) + i));
		ck_assert_msg(strstr(text.out, expected) != NULL, "%s", text.out);
	}
	document = parse_json(json.out);
	blocks = array_of(document, "blocks");
	ck_assert_uint_eq(blocks->count, 2);
	frames = array_of(blocks->items[0], "frames");
	ck_assert_uint_eq(frames->count, 4);
	ck_assert_str_eq(string_of(frames->items[3], "pc"), hex(SITE(site_beta) + 3));
	json_free(document);
	result_free(&text);
	result_free(&json);
}
END_TEST

START_TEST(test_hostile_strings_are_escaped)
{
	struct result text, json, list;
	struct json *document;

	snprintf(standard.node.command_line, sizeof(standard.node.command_line),
		"evil\033[31m\x01\xff\xc3(\"quote\\");
	fixture_node_write_process(&standard.node);
	memcpy(standard.alpha.descriptor->name, "na\nme\033\x80", 8);
	fixture_pool_write(&standard.alpha);
	text = run_standard(false, "pools");
	json = run_standard(true, "pools");
	list = run_in_process(RUN_LIST, standard.dir, 0, true, 0, NULL);
	ck_assert_int_eq(text.status, NODE_STATUS_OK);
	ck_assert_msg(strchr(text.out, '\033') == NULL, "%s", text.out);
	ck_assert_msg(strstr(text.out, "name: \"na?me?") != NULL, "%s", text.out);
	document = parse_json(json.out);
	ck_assert(strstr(string_of(json_get(document, "process"), "command_line"), "\"quote\\")
		!= NULL);
	json_free(document);
	document = parse_json(list.out);
	json_free(document);
	result_free(&text);
	result_free(&json);
	result_free(&list);
}
END_TEST

/* ---- listing ---- */

/* A child that holds the OFD lock of a node's process file until killed. */
static pid_t hold_process_lock(const char *node_path)
{
	char path[PATH_MAX + 16];
	int ready[2];
	pid_t child;
	char byte;

	snprintf(path, sizeof(path), "%s/process", node_path);
	ck_assert_int_eq(pipe(ready), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct flock lock = { .l_type = F_WRLCK,
			.l_whence = SEEK_SET,
			.l_start = 0,
			.l_len = 1 };
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fcntl(fd, F_OFD_SETLK, &lock) != 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return child;
}

static void stop_child(pid_t child)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

START_TEST(test_list_alive_and_dead)
{
	struct fixture_node other;
	struct fixture_pool pool;
	struct result text, json;
	struct json *document;
	const struct json *nodes;
	pid_t holder;

	fixture_node_init(&other, standard.dir, 77, "second one", 1);
	fixture_node_write_process(&other);
	fixture_pool_init(&pool, &other, 5, 128 << 10, 16, "p");
	fixture_alloc(&pool, 10, SITE(site_small), 1);
	fixture_pool_write(&pool);
	holder = hold_process_lock(other.path);

	text = run_in_process(RUN_LIST, standard.dir, 0, false, 0, NULL);
	json = run_in_process(RUN_LIST, standard.dir, 0, true, 0, NULL);
	ck_assert_int_eq(text.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(text.out, "2 node(s) in ") == text.out, "%s", text.out);
	ck_assert_msg(strstr(text.out,
			      "      77  alive        1           1              10  "
			      "second one\n")
			!= NULL,
		"%s", text.out);
	ck_assert_msg(strstr(text.out,
			      "    4242  dead         2           6            9300  "
			      "fake driver --verbose\n")
			!= NULL,
		"%s", text.out);
	document = parse_json(json.out);
	nodes = array_of(document, "nodes");
	ck_assert_uint_eq(nodes->count, 2);
	ck_assert_int_eq((int)number_of(nodes->items[0], "pid"), 77);
	ck_assert(json_get(nodes->items[0], "alive")->boolean);
	ck_assert_str_eq(string_of(nodes->items[1], "state"), "dead");
	ck_assert(!json_get(nodes->items[1], "alive")->boolean);
	ck_assert_int_eq((int)number_of(nodes->items[1], "pools"), 2);
	ck_assert_int_eq((int)number_of(nodes->items[1], "blocks"), 6);
	ck_assert_int_eq((int)number_of(nodes->items[1], "bytes"), 9300);
	ck_assert_str_eq(string_of(nodes->items[1], "command_line"), "fake driver --verbose");
	json_free(document);
	result_free(&text);
	result_free(&json);

	text = run(standard.dir, 77, false, "pools");
	ck_assert_msg(strstr(text.out, "process 77 \"second one\": alive\n") == text.out, "%s",
		text.out);
	result_free(&text);
	stop_child(holder);
	text = run(standard.dir, 77, false, "pools");
	ck_assert_msg(strstr(text.out, "process 77 \"second one\": dead") == text.out, "%s",
		text.out);
	result_free(&text);
	fixture_pool_destroy(&pool);
	fixture_node_destroy(&other);
}
END_TEST

START_TEST(test_list_without_directory_and_damaged_node)
{
	char missing[PATH_MAX + 16], path[PATH_MAX + 16];
	struct result result;
	struct json *document;
	int fd;

	snprintf(missing, sizeof(missing), "%s/none", standard.dir);
	result = run_in_process(RUN_LIST, missing, 0, false, 0, NULL);
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(result.out, "no nodes in ") != NULL, "%s", result.out);
	result_free(&result);
	result = run_in_process(RUN_LIST, missing, 0, true, 0, NULL);
	document = parse_json(result.out);
	ck_assert_uint_eq(array_of(document, "nodes")->count, 0);
	json_free(document);
	result_free(&result);

	/* a node whose process file is garbage is listed as damaged */
	snprintf(path, sizeof(path), "%s/%d/process", standard.dir, FAKE_PID);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "garbage", 7), 7);
	close(fd);
	result = run_in_process(RUN_LIST, standard.dir, 0, false, 0, NULL);
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(result.out, "    4242  damaged") != NULL, "%s", result.out);
	result_free(&result);
	result = run_in_process(RUN_LIST, standard.dir, 0, true, 0, NULL);
	document = parse_json(result.out);
	ck_assert_str_eq(string_of(array_of(document, "nodes")->items[0], "state"), "damaged");
	json_free(document);
	result_free(&result);
}
END_TEST

/* ---- damaged and hostile nodes ---- */

static const char *const every_command[] = {
	"pools",
	"pool 101",
	"allocations",
	"allocations pool 101 size 1-100000",
	"allocations_per_caller",
	"pool_log 101",
	"leaks",
	"check",
};
#define EVERY_COMMAND (sizeof(every_command) / sizeof(every_command[0]))

static char *read_whole(const char *path, size_t *bytes)
{
	struct stat status;
	char *data;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &status), 0);
	data = malloc((size_t)status.st_size + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(pread(fd, data, (size_t)status.st_size, 0), status.st_size);
	close(fd);
	*bytes = (size_t)status.st_size;
	return data;
}

static void write_whole(const char *path, const void *data, size_t bytes)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, data, bytes, 0), (ssize_t)bytes);
	close(fd);
}

/* Runs every command in text and JSON; each must end with one of the allowed statuses. */
static void run_every_command(unsigned allowed_mask, const char *what)
{
	for (size_t i = 0; i < EVERY_COMMAND; i++) {
		for (int json = 0; json < 2; json++) {
			struct result result = run_standard(json, every_command[i]);
			ck_assert_msg(((1u << result.status) & allowed_mask) != 0,
				"%s: '%s' returned %d: %s", what, every_command[i], result.status,
				result.err);
			if (json)
				json_free(parse_json(result.out));
			result_free(&result);
		}
	}
}

START_TEST(test_truncated_pool_files)
{
	char path[PATH_MAX + 32];
	size_t bytes, lengths[64], count = 0;
	char *original;

	fixture_pool_path(&standard.alpha, path, sizeof(path));
	original = read_whole(path, &bytes);
	for (size_t length = 0; length < 1024; length = length * 2 + 1)
		lengths[count++] = length;
	lengths[count++] = standard.alpha.heap_offset;
	lengths[count++] = standard.alpha.heap_offset + 8;
	lengths[count++] = standard.alpha.heap_offset + 4096;
	lengths[count++] = bytes / 2;
	lengths[count++] = bytes - 4096;
	lengths[count++] = bytes - 1;
	for (size_t i = 0; i < count; i++) {
		struct result result;
		ck_assert_int_eq(truncate(path, (off_t)lengths[i]), 0);
		result = run_standard(false, "allocations pool 101");
		ck_assert_msg(result.status == NODE_STATUS_DAMAGED, "length %zu: status %d",
			lengths[i], result.status);
		ck_assert_msg(strstr(result.err, "pool 101") != NULL, "length %zu: %s", lengths[i],
			result.err);
		result_free(&result);
		run_every_command(1u << NODE_STATUS_DAMAGED | 1u << NODE_STATUS_FOUND, "truncated");
	}
	/* and back to whole: all is well again */
	ck_assert_int_eq(truncate(path, (off_t)bytes), 0);
	write_whole(path, original, bytes);
	run_every_command(1u << NODE_STATUS_OK | 1u << NODE_STATUS_FOUND, "restored");
	free(original);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

START_TEST(test_scrambled_pool_files)
{
	char path[PATH_MAX + 32];
	size_t bytes, used_end;
	char *original, *scrambled;
	unsigned damaged = 0;

	fixture_pool_path(&standard.alpha, path, sizeof(path));
	original = read_whole(path, &bytes);
	scrambled = malloc(bytes);
	ck_assert_ptr_nonnull(scrambled);
	used_end = standard.alpha.heap_offset + 16 * 1024;
	for (unsigned round = 0; round < 120; round++) {
		unsigned flips = 1 + (unsigned)(rng() % 8);
		memcpy(scrambled, original, bytes);
		for (unsigned f = 0; f < flips; f++) {
			/* mostly where the structure is: control page, heap control, blocks */
			size_t offset = rng() % 4 == 0 ? rng() % bytes : rng() % used_end;
			scrambled[offset] ^= (char)(1 + rng() % 255);
		}
		write_whole(path, scrambled, bytes);
		for (size_t i = 0; i < EVERY_COMMAND; i++) {
			struct result result = run_standard(round % 2 == 0, every_command[i]);
			ck_assert_msg(result.status == NODE_STATUS_OK
					|| result.status == NODE_STATUS_FOUND
					|| result.status == NODE_STATUS_DAMAGED
					|| (result.status == NODE_STATUS_NO_SUCH
						&& strstr(result.err, "no pool") != NULL),
				"round %u '%s': status %d %s", round, every_command[i],
				result.status, result.err);
			if (round % 2 == 0)
				json_free(parse_json(result.out));
			damaged += result.status == NODE_STATUS_DAMAGED;
			result_free(&result);
		}
	}
	ck_assert_uint_gt(damaged, 0);
	free(original);
	free(scrambled);
}
END_TEST

struct hostile_field {
	const char *name;
	size_t offset;
};

#define DESCRIPTOR_FIELD(field)                                                                    \
	{                                                                                          \
#field, offsetof(struct node_pool_descriptor, field)                               \
	}

START_TEST(test_hostile_descriptor)
{
	static const struct hostile_field fields[] = {
		DESCRIPTOR_FIELD(area_size),
		DESCRIPTOR_FIELD(base_address),
		DESCRIPTOR_FIELD(control_offset),
		DESCRIPTOR_FIELD(lock_offset),
		DESCRIPTOR_FIELD(guard_offset),
		DESCRIPTOR_FIELD(heap_offset),
		DESCRIPTOR_FIELD(heap_bytes),
		DESCRIPTOR_FIELD(log_offset),
	};
	struct fixture_pool *pool = &standard.alpha;
	const uint64_t size = pool->area_size;
	const uint64_t values[] = { 1, 7, 8, 255, 4095, 4097, size - 8, size, size + 1, size * 2,
		UINT64_MAX, UINT64_MAX - 7, (uint64_t)1 << 63, 0x7fffffffffffffffull };
	struct node_pool_descriptor saved = *pool->descriptor;

	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			struct result result;
			*pool->descriptor = saved;
			memcpy((char *)pool->descriptor + fields[f].offset, &values[v], 8);
			fixture_pool_write(pool);
			result = run_standard(false, "allocations pool 101");
			/* a value that happens to be harmless must read as before */
			if (result.status == NODE_STATUS_OK)
				ck_assert_msg(strstr(result.out,
						      "total allocations: 4; total bytes: "
						      "5300")
						!= NULL,
					"%s=%" PRIu64 ": %s", fields[f].name, values[v],
					result.out);
			else
				ck_assert_msg(result.status == NODE_STATUS_DAMAGED,
					"%s=%" PRIu64 ": status %d", fields[f].name, values[v],
					result.status);
			result_free(&result);
			result = run_standard(true, "check");
			ck_assert_int_ne(result.status, NODE_STATUS_USAGE);
			json_free(parse_json(result.out));
			result_free(&result);
		}
	}
	/* the plainly impossible ones are refused with the reason */
	*pool->descriptor = saved;
	pool->descriptor->heap_bytes = size;
	fixture_pool_write(pool);
	{
		struct result result = run_standard(false, "pool 101");
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		ck_assert_msg(strstr(result.err, "heap range") != NULL, "%s", result.err);
		result_free(&result);
	}
	*pool->descriptor = saved;
	pool->descriptor->version = 99;
	fixture_pool_write(pool);
	{
		struct result result = run_standard(false, "pools");
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		ck_assert_msg(strstr(result.err, "version 99") != NULL, "%s", result.err);
		result_free(&result);
	}
	*pool->descriptor = saved;
	pool->descriptor->area = 102;
	fixture_pool_write(pool);
	{
		struct result result = run_standard(false, "pool 101");
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		ck_assert_msg(strstr(result.err, "names pool 102") != NULL, "%s", result.err);
		result_free(&result);
	}
	/* a log that claims more events than its region holds */
	*pool->descriptor = saved;
	pool->log->capacity = 1u << 30;
	fixture_pool_write(pool);
	{
		struct result result = run_standard(false, "pool_log 101");
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		ck_assert_msg(strstr(result.err, "more than its region holds") != NULL, "%s",
			result.err);
		result_free(&result);
	}
}
END_TEST

#define PROCESS_FIELD(field) offsetof(struct node_process_file, field)

START_TEST(test_hostile_process_file)
{
	struct {
		size_t offset;
		size_t width;
		uint64_t value;
		const char *message;
	} cases[] = {
		{ PROCESS_FIELD(magic), 8, 0x4141414141414141ull, "bad magic" },
		{ PROCESS_FIELD(version), 4, NODE_FORMAT_VERSION + 1, "format version 4" },
		/* the previous format: said plainly, by its version */
		{ PROCESS_FIELD(version), 4, 2, "was written in node format version 2" },
		{ PROCESS_FIELD(version), 4, 1, "format version 1" },
		{ PROCESS_FIELD(header_bytes), 4, 12, "header of 12 bytes" },
		{ PROCESS_FIELD(pid), 4, 4243, "names pid 4243" },
		{ PROCESS_FIELD(block_frame_count), 4, 0, "frame count 0" },
		{ PROCESS_FIELD(block_frame_count), 4, 33, "frame count 33" },
		/* version 2's header of one frame */
		{ PROCESS_FIELD(block_header_size), 4, 40, "is not this format's" },
		{ PROCESS_FIELD(block_header_size), 4, 4096, "is not this format's" },
		{ PROCESS_FIELD(block_front_size), 4, 0xffffffff, "is not this format's" },
		{ PROCESS_FIELD(image_count), 4, 0xffffffff, "image table" },
		{ PROCESS_FIELD(image_record_bytes), 4, 8, "image records of 8 bytes" },
		{ PROCESS_FIELD(images_offset), 8, UINT64_MAX - 4095, "image table" },
		{ PROCESS_FIELD(images_offset), 8, 12, "image table" },
		{ PROCESS_FIELD(images_offset), 8, 1ull << 40, "image table" },
		{ PROCESS_FIELD(images_capacity), 8, 0, "image table" },
	};
	char path[PATH_MAX + 16];
	size_t bytes;
	char *original, *hostile;

	snprintf(path, sizeof(path), "%s/process", standard.node.path);
	original = read_whole(path, &bytes);
	hostile = malloc(bytes);
	ck_assert_ptr_nonnull(hostile);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result result;
		memcpy(hostile, original, bytes);
		memcpy(hostile + cases[i].offset, &cases[i].value, cases[i].width);
		write_whole(path, hostile, bytes);
		result = run_standard(false, "pools");
		ck_assert_msg(result.status == NODE_STATUS_DAMAGED, "case %zu: status %d", i,
			result.status);
		ck_assert_msg(strstr(result.err, cases[i].message) != NULL, "case %zu: %s", i,
			result.err);
		result_free(&result);
	}
	/* truncated process files */
	for (size_t length = 0; length < bytes; length = length * 3 + 1) {
		struct result result;
		ck_assert_int_eq(truncate(path, (off_t)length), 0);
		result = run_standard(true, "allocations");
		ck_assert_msg(result.status == NODE_STATUS_DAMAGED, "length %zu: %d", length,
			result.status);
		json_free(parse_json(result.out));
		result_free(&result);
		ck_assert_int_eq(truncate(path, (off_t)bytes), 0);
		write_whole(path, original, bytes);
	}
	/* an image record with an impossible build-id is skipped, with a warning */
	{
		struct node_process_file header;
		struct symbolizer_image_record record;
		struct result result;
		memcpy(&header, original, sizeof(header));
		memcpy(hostile, original, bytes);
		memcpy(&record, hostile + header.images_offset, sizeof(record));
		record.build_id_size = 500;
		memcpy(hostile + header.images_offset, &record, sizeof(record));
		write_whole(path, hostile, bytes);
		result = run_standard(false, "allocations pool 202");
		ck_assert_int_eq(result.status, NODE_STATUS_OK);
		ck_assert_msg(strstr(result.err, "damaged image record(s) ignored") != NULL, "%s",
			result.err);
		result_free(&result);
	}
	free(original);
	free(hostile);
}
END_TEST

START_TEST(test_damaged_heap)
{
	struct fixture_pool *pool = &standard.alpha;
	struct result result;
	struct json *document;
	unsigned char *chunk_header = (unsigned char *)standard.large
		- pool->node->layout.front_size - HEAP_BLOCK_OVERHEAD + 8;

	/* the size word of the large block's chunk */
	memset(chunk_header, 0xff, 8);
	fixture_pool_write(pool);
	result = run_standard(false, "allocations pool 101");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "damaged block header") != NULL, "%s", result.err);
	ck_assert_msg(strstr(result.out, "total allocations: 3; total bytes: 300") != NULL, "%s",
		result.out);
	result_free(&result);
	result = run_standard(true, "check");
	ck_assert_int_eq(result.status, NODE_STATUS_FOUND);
	document = parse_json(result.out);
	problem_of_kind(array_of(document, "problems"), "heap-corruption");
	json_free(document);
	result_free(&result);
	/* the heap's own control structure */
	memset(pool->region + pool->heap_offset, 0x5a, 64);
	fixture_pool_write(pool);
	result = run_standard(false, "check pool 101");
	ck_assert_int_eq(result.status, NODE_STATUS_FOUND);
	ck_assert_msg(strstr(result.out, "heap-corruption") != NULL, "%s", result.out);
	result_free(&result);
}
END_TEST

START_TEST(test_special_files)
{
	char path[PATH_MAX + 32];
	struct result result;
	time_t start = time(NULL);

	/* a FIFO for the process file must not hang the reader */
	snprintf(path, sizeof(path), "%s/process", standard.node.path);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	result = run_standard(false, "pools");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "not a regular file") != NULL, "%s", result.err);
	ck_assert(time(NULL) - start < 5);
	result_free(&result);
	ck_assert_int_eq(unlink(path), 0);
	fixture_node_write_process(&standard.node);

	/* a directory where a pool file should be */
	fixture_pool_path(&standard.beta, path, sizeof(path));
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	result = run_standard(false, "pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	result_free(&result);
	/* the other pool still reads; all-pool commands say which one failed */
	result = run_standard(false, "allocations");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.out, "total allocations: 4; total bytes: 5300") != NULL, "%s",
		result.out);
	ck_assert_msg(strstr(result.err, "pool 202") != NULL, "%s", result.err);
	result_free(&result);
}
END_TEST

/* ---- permissions ---- */

START_TEST(test_refused_node_directories)
{
	char link_path[PATH_MAX + 16], pool_path[PATH_MAX + 32], other[PATH_MAX + 48];
	struct result result;

	snprintf(link_path, sizeof(link_path), "%s.link", standard.dir);
	ck_assert_int_eq(symlink(standard.dir, link_path), 0);
	result = run(link_path, FAKE_PID, false, "pools");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "is a symbolic link: refused") != NULL, "%s", result.err);
	result_free(&result);
	result = run_in_process(RUN_LIST, link_path, 0, false, 0, NULL);
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	result_free(&result);
	unlink(link_path);

	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(chmod(standard.dir, i == 0 ? 0777 : 0750), 0);
		result = run(standard.dir, FAKE_PID, false, "pools");
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		ck_assert_msg(strstr(result.err, "is open to other users") != NULL, "%s",
			result.err);
		result_free(&result);
		result = run_in_process(RUN_CLEAN, standard.dir, 0, false, 0, NULL);
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		result_free(&result);
	}
	ck_assert_int_eq(chmod(standard.dir, 0700), 0);

	/* a symlinked pid directory */
	snprintf(link_path, sizeof(link_path), "%s/4343", standard.dir);
	ck_assert_int_eq(symlink(standard.node.path, link_path), 0);
	result = run(standard.dir, 4343, false, "pools");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "symbolic link") != NULL, "%s", result.err);
	result_free(&result);
	unlink(link_path);

	/* a pool file that is a symlink, or has a second link, or is open to others */
	fixture_pool_path(&standard.beta, pool_path, sizeof(pool_path));
	snprintf(other, sizeof(other), "%s/elsewhere", standard.dir);
	ck_assert_int_eq(rename(pool_path, other), 0);
	ck_assert_int_eq(symlink(other, pool_path), 0);
	result = run_standard(false, "pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "symbolic link") != NULL, "%s", result.err);
	result_free(&result);
	ck_assert_int_eq(unlink(pool_path), 0);
	ck_assert_int_eq(link(other, pool_path), 0);
	result = run_standard(false, "pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "has 2 links: refused") != NULL, "%s", result.err);
	result_free(&result);
	ck_assert_int_eq(unlink(other), 0);
	ck_assert_int_eq(chmod(pool_path, 0644), 0);
	result = run_standard(false, "pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "open to other users") != NULL, "%s", result.err);
	result_free(&result);
}
END_TEST

/* Runs fn in a child that dropped to uid/gid 65534; returns its exit status. */
static int as_nobody(int (*fn)(void))
{
	pid_t child = fork();
	int status;

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		_exit(fn());
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int nobody_lists(void)
{
	struct result result = run_in_process(RUN_LIST, standard.dir, 0, false, 0, NULL);
	int status = result.status;

	/* the message must say why */
	if (strstr(result.err, "Permission denied") == NULL
		&& strstr(result.err, "not to you") == NULL)
		status = 99;
	result_free(&result);
	return status;
}

static int nobody_reads(void)
{
	struct result result = run_standard(false, "allocations");
	int status = result.status;

	result_free(&result);
	return status;
}

START_TEST(test_other_uid_cannot_read)
{
	if (geteuid() != 0) {
		/* not root: this process is the other uid; root's directory is refused */
		struct result result = run_in_process(RUN_LIST, "/root", 0, false, 0, NULL);
		ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
		result_free(&result);
		return;
	}
	/* the walk to the node directory is open, the directory itself is not */
	ck_assert_int_eq(chmod(standard.dir, 0700), 0);
	ck_assert_int_eq(as_nobody(nobody_lists), NODE_STATUS_DAMAGED);
	ck_assert_int_eq(as_nobody(nobody_reads), NODE_STATUS_DAMAGED);
	/* even with the permission bits open, the owner check refuses */
	ck_assert_int_eq(chmod(standard.dir, 0755), 0);
	ck_assert_int_eq(as_nobody(nobody_lists), NODE_STATUS_DAMAGED);
	ck_assert_int_eq(chmod(standard.dir, 0700), 0);
}
END_TEST

static void chown_tree(const char *path, uid_t uid)
{
	char child[PATH_MAX + 64];

	ck_assert_int_eq(lchown(path, uid, uid), 0);
	snprintf(child, sizeof(child), "%s/%d", path, FAKE_PID);
	ck_assert_int_eq(lchown(child, uid, uid), 0);
	snprintf(child, sizeof(child), "%s/%d/process", path, FAKE_PID);
	ck_assert_int_eq(lchown(child, uid, uid), 0);
	snprintf(child, sizeof(child), "%s/%d/pool-101", path, FAKE_PID);
	ck_assert_int_eq(lchown(child, uid, uid), 0);
	snprintf(child, sizeof(child), "%s/%d/pool-202", path, FAKE_PID);
	ck_assert_int_eq(lchown(child, uid, uid), 0);
}

START_TEST(test_root_reads_another_users_node)
{
	struct result result;
	char path[PATH_MAX + 32];

	if (geteuid() != 0) {
		result = run_standard(false, "allocations stats");
		ck_assert_int_eq(result.status, NODE_STATUS_OK);
		result_free(&result);
		return;
	}
	chown_tree(standard.dir, 65534);
	result = run_standard(false, "allocations stats");
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(result.out, "total allocations: 6; total bytes: 9300") != NULL, "%s",
		result.out);
	result_free(&result);
	/* but a file of that node owned by someone else is refused */
	snprintf(path, sizeof(path), "%s/%d/pool-202", standard.dir, FAKE_PID);
	ck_assert_int_eq(lchown(path, 0, 0), 0);
	result = run_standard(false, "pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "belongs to uid 0, not to the node's owner (uid 65534)")
			!= NULL,
		"%s", result.err);
	result_free(&result);
	/* the pooldump command parses it as that user, in a child: a file of
	 * the node only root may read cannot even be opened there */
	ck_assert_int_eq(chmod(path, 0600), 0);
	result = pooldump((const char *const[]){ "--node-dir", standard.dir, "-p", "4242", "pool",
		"202", NULL });
	ck_assert_int_eq(result.status, NODE_STATUS_DAMAGED);
	ck_assert_msg(strstr(result.err, "Permission denied") != NULL, "%s", result.err);
	result_free(&result);
	result = pooldump((const char *const[]){ "--node-dir", standard.dir, "-p", "4242", "pool",
		"101", NULL });
	ck_assert_msg(result.status == NODE_STATUS_OK && strstr(result.out, "pool 101") != NULL,
		"status %d\n%s%s", result.status, result.out, result.err);
	result_free(&result);
	chown_tree(standard.dir, 0);
}
END_TEST

/* ---- --clean ---- */

static void age(const char *path)
{
	struct timespec times[2] = { { time(NULL) - 3600, 0 }, { time(NULL) - 3600, 0 } };

	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

START_TEST(test_clean_removes_only_dead_nodes)
{
	struct fixture_node live, young;
	char path[PATH_MAX + 32], outside[PATH_MAX + 16];
	struct result result;
	struct json *document;
	pid_t holder;
	int fd;

	fixture_node_init(&live, standard.dir, 77, "live", 1);
	fixture_node_write_process(&live);
	holder = hold_process_lock(live.path);
	/* a node being created right now by a running process (this one) */
	fixture_node_init(&young, standard.dir, getpid(), "young", 1);
	/* the dead node has a symlink to a file outside: the file must survive */
	snprintf(outside, sizeof(outside), "%s.outside", standard.dir);
	fd = open(outside, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/link", standard.node.path);
	ck_assert_int_eq(symlink(outside, path), 0);
	snprintf(path, sizeof(path), "%s/process", standard.node.path);
	age(path);

	result = run_in_process(RUN_CLEAN, standard.dir, 0, false, 0, NULL);
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(result.out, "removed dead node 4242\n") != NULL, "%s", result.out);
	ck_assert_msg(strstr(result.out, "1 dead node(s) removed, 2 live node(s) kept\n") != NULL,
		"%s", result.out);
	result_free(&result);
	ck_assert_int_eq(access(standard.node.path, F_OK), -1);
	ck_assert_int_eq(access(live.path, F_OK), 0);
	ck_assert_int_eq(access(young.path, F_OK), 0);
	ck_assert_int_eq(access(outside, F_OK), 0);
	unlink(outside);

	/* once its holder is gone the live node is dead, and goes too (JSON) */
	stop_child(holder);
	snprintf(path, sizeof(path), "%s/process", live.path);
	age(path);
	result = run_in_process(RUN_CLEAN, standard.dir, 0, true, 0, NULL);
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	document = parse_json(result.out);
	ck_assert_uint_eq(array_of(document, "removed")->count, 1);
	ck_assert_int_eq((int)array_of(document, "removed")->items[0]->number, 77);
	json_free(document);
	result_free(&result);
	ck_assert_int_eq(access(live.path, F_OK), -1);
	fixture_remove_tree(young.path);
	fixture_node_destroy(&live);
	fixture_node_destroy(&young);
}
END_TEST

/* ---- consistency with a writer at work ---- */

/*
 * A writer in a child: maps the pool file shared at the pool's own address
 * and changes the pool under the seq protocol and a lock of its own (the
 * fixture's mutex; no reader takes it), as the debug module does, granting
 * quiet windows as node_format.h says when the descriptor's budget is set.
 * The parent's region stays untouched (private).
 */
static pthread_mutex_t *map_pool_shared(const struct fixture_pool *pool)
{
	char path[PATH_MAX + 32];
	void *mapping;
	int fd;

	fixture_pool_path(pool, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0)
		_exit(3);
	mapping = mmap(pool->region, pool->area_size, PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_FIXED, fd, 0);
	close(fd);
	if (mapping != pool->region)
		_exit(4);
	return (pthread_mutex_t *)pool->region;
}

/* The writer's side of a quiet window (node_writer_hold_still's protocol),
 * but patient: a window once granted is held until the reader says it is
 * done, up to 10 s whatever the pool's budget (a budget of 0 still grants
 * none). A reader on a loaded machine can be descheduled for longer than
 * any budget, which would end the window early and make the copy a partial
 * view: no failure of the protocol these tests prove (the real writer's
 * budget is test_node_writer's). */
static void grant_quiet_window(struct node_quiet_window *quiet, uint32_t *served)
{
	uint32_t request = __atomic_load_n(&quiet->requested, __ATOMIC_ACQUIRE);
	long patience_us = quiet->budget_us == 0 ? 0 : 10L * 1000 * 1000;
	struct timespec start, now;

	if (request == *served)
		return;
	*served = request;
	__atomic_store_n(&quiet->granted, request, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((int32_t)(__atomic_load_n(&quiet->finished, __ATOMIC_ACQUIRE) - request) < 0
		&& (now.tv_sec - start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000
			< patience_us);
}

/* Returns once the writer runs (its seq is odd): a copy made before would
 * find the pool still and whole without any window, on a machine too
 * loaded to schedule the new process during the reader's rounds. */
static pid_t start_churning_writer(struct fixture_pool *pool)
{
	int started[2];
	pid_t child;
	char byte;

	ck_assert_int_eq(pipe(started), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pthread_mutex_t *lock = map_pool_shared(pool);
		const struct timespec long_change = { 0, 200 * 1000 };
		void *ring[32] = { NULL };
		uint32_t served = pool->descriptor->quiet.requested;
		/* seq stays odd all the time but in a granted window, so a
		 * lock-free copy never succeeds however the writer is scheduled
		 * (a writer starved on a loaded machine would otherwise leave the
		 * pool still, and every copy whole without a window) */
		__atomic_add_fetch(&pool->descriptor->seq, 1, __ATOMIC_SEQ_CST);
		close(started[0]);
		if (write(started[1], "", 1) != 1)
			_exit(6);
		close(started[1]);
		for (unsigned step = 0;; step++) {
			unsigned slot = step % 32;
			pthread_mutex_lock(lock);
			if (__atomic_load_n(&pool->descriptor->quiet.requested, __ATOMIC_ACQUIRE)
				!= served) {
				/* no change in progress while the reader copies */
				__atomic_add_fetch(&pool->descriptor->seq, 1, __ATOMIC_SEQ_CST);
				grant_quiet_window(&pool->descriptor->quiet, &served);
				__atomic_add_fetch(&pool->descriptor->seq, 1, __ATOMIC_SEQ_CST);
			}
			if (ring[slot] != NULL) {
				fixture_free(pool, ring[slot], SITE(site_free), 21);
				fixture_release(pool, ring[slot]);
			}
			/* fixture_* bump seq by 2 themselves: it stays odd */
			ring[slot] = fixture_alloc(pool, 8 + step % 300, SITE(site_small), 21);
			nanosleep(&long_change, NULL);
			pthread_mutex_unlock(lock);
			if (ring[slot] == NULL)
				_exit(5);
		}
	}
	close(started[1]);
	ck_assert_msg(read(started[0], &byte, 1) == 1, "the churning writer did not start");
	close(started[0]);
	return child;
}

/*
 * Waits (up to 5 s) until the churning writer is out of any quiet window:
 * its seq, read from the pool's file, is odd again. The window a reader was
 * granted ends only when the writer next runs after that reader said it was
 * done; a reader started before then found seq even and copied without a
 * window of its own. On a loaded machine that repeated: each window, asked
 * for by a "check pool" round, was still open when the "pool" round after
 * it copied, and 200 rounds described no copy made in a window of their own.
 */
static void wait_for_writer_outside_windows(const struct fixture_pool *pool)
{
	const struct timespec step = { 0, 100 * 1000 };
	off_t seq_at = (off_t)((const unsigned char *)&pool->descriptor->seq - pool->region);
	char path[PATH_MAX + 32];
	uint64_t seq = 0;
	int fd;

	fixture_pool_path(pool, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	for (int waited = 0; waited < 50000; waited++) {
		ck_assert_int_eq(pread(fd, &seq, sizeof(seq), seq_at), (ssize_t)sizeof(seq));
		if (seq % 2 == 1)
			break;
		nanosleep(&step, NULL);
	}
	close(fd);
}

/* Sets the pool's quiet window budget in its file (0: the writer grants none). */
static void set_quiet_budget(struct fixture_pool *pool, uint32_t budget_us)
{
	pool->descriptor->quiet.budget_us = budget_us;
	fixture_pool_write(pool);
}

/* A pool that never stops changing: each copy is consistent, made in a quiet
 * window the writer granted, and check finds nothing (a torn copy would
 * show counters or headers that disagree). */
START_TEST(test_snapshots_while_a_writer_changes_the_pool)
{
	struct fixture_pool *pool = &standard.beta;
	pid_t holder = hold_process_lock(standard.node.path);
	pid_t writer;
	unsigned quiet = 0, plain = 0, described = 0, rounds = 0;
	char other[128] = "";

	/* the longest window: the test proves the protocol, not the speed */
	set_quiet_budget(pool, 100000);
	writer = start_churning_writer(pool);
	/* 40 rounds, and more (up to 200) until one copy came from a window;
	 * each round begins with the writer out of the window of the round
	 * before (a copy that found seq even there was consistent without one
	 * of its own, and on a loaded machine every copy did) */
	for (int i = 0; i < 200 && (i < 40 || quiet == 0); i++, rounds++) {
		wait_for_writer_outside_windows(pool);
		/* a grant waited for up to 5 s: a loaded machine may be slow to
		 * schedule the writer, which is no failure of the protocol */
		struct result result = run_in_process(RUN_COMMAND, standard.dir, FAKE_PID, false,
			5000, i % 2 == 0 ? "check pool 202" : "pool 202");
		ck_assert_msg(result.status == NODE_STATUS_OK
				&& strstr(result.err, "partial view") == NULL,
			"round %d: status %d\n%s\n%s", i, result.status, result.out, result.err);
		/* "pool" says what its copy was ("check pool" says only what it found) */
		const char *copy = strstr(result.out, "copy: ");
		if (copy != NULL) {
			described++;
			if (strncmp(copy, "copy: consistent, in a quiet window", 35) == 0)
				quiet++;
			else if (strncmp(copy, "copy: consistent", 16) == 0)
				plain++;
			else
				snprintf(other, sizeof(other), "%.100s", copy);
		}
		result_free(&result);
	}
	/* the writer's seq is odd but in a window: copies come from windows */
	ck_assert_msg(quiet > 0 && quiet + plain == described,
		"%u rounds, %u copies described: %u in a quiet window, %u consistent without one; "
		"another: '%s'",
		rounds, described, quiet, plain, other);
	stop_child(writer);
	stop_child(holder);
}
END_TEST

/* A child that takes the writer's lock, makes seq odd, and keeps both
 * until killed: a driver thread stopped in the middle of a call. */
static pid_t start_stuck_writer(struct fixture_pool *pool)
{
	int ready[2];
	pid_t child;
	char byte;

	ck_assert_int_eq(pipe(ready), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pthread_mutex_t *lock = map_pool_shared(pool);
		pthread_mutex_lock(lock);
		__atomic_add_fetch(&pool->descriptor->seq, 1, __ATOMIC_SEQ_CST);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return child;
}

/* A pool whose process grants no window (reader_wait_us=0) while a driver
 * thread is stuck in the middle of a call: a partial view, said to be one,
 * whose findings (here a real overflow) are printed as not verified and are
 * not problems; and a pool that churns without a window never gives a
 * false problem, whether its copies were whole or not. */
START_TEST(test_partial_view_when_no_window_is_granted)
{
	unsigned char *large = standard.large;
	pid_t holder = hold_process_lock(standard.node.path);
	struct result result;
	struct json *document;
	pid_t writer;

	large[5000] = 'x';
	standard.alpha.descriptor->quiet.budget_us = 0;
	fixture_pool_write(&standard.alpha);
	writer = start_stuck_writer(&standard.alpha);
	result = run_standard(false, "check pool 101");
	ck_assert_msg(result.status == NODE_STATUS_OK, "status %d\n%s\n%s", result.status,
		result.out, result.err);
	ck_assert_msg(
		strstr(result.err,
			"pool 101: changing too fast: partial view (its process "
			"grants no quiet window (reader_wait_us=0)); what it shows is not verified")
			!= NULL,
		"%s", result.err);
	ck_assert_msg(strstr(result.out, "ERROR:") == NULL
			&& strstr(result.out,
				   "pool 101 \"alpha\": "
				   "changing too fast: partial view (its process grants no quiet window")
				!= NULL
			&& strstr(result.out, "    not verified: heap-buffer-overflow at ") != NULL
			&& strstr(result.out,
				   "1 pool(s) checked, 0 problem(s)\n1 finding(s) in 1 pool(s) not "
				   "verified")
				!= NULL,
		"%s", result.out);
	result_free(&result);
	result = run_standard(true, "check pool 101");
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	document = parse_json(result.out);
	ck_assert_uint_eq(array_of(document, "problems")->count, 0);
	ck_assert_uint_eq(array_of(document, "unverified")->count, 1);
	ck_assert_int_eq((int)number_of(document, "unverified_count"), 1);
	ck_assert_str_eq(string_of(array_of(array_of(document, "unverified")->items[0], "findings")
					   ->items[0],
				 "kind"),
		"heap-buffer-overflow");
	json_free(document);
	result_free(&result);
	stop_child(writer);

	set_quiet_budget(&standard.beta, 0);
	writer = start_churning_writer(&standard.beta);
	for (int i = 0; i < 20; i++) {
		result = run_standard(false, "check pool 202");
		ck_assert_msg(result.status == NODE_STATUS_OK
				&& strstr(result.out, "ERROR:") == NULL,
			"round %d: status %d\n%s\n%s", i, result.status, result.out, result.err);
		result_free(&result);
	}
	stop_child(writer);
	stop_child(holder);
}
END_TEST

/* Nobody grants the window: after grant_timeout_ms the reader says so and
 * shows the partial view; check counts nothing from it. */
START_TEST(test_partial_view_when_the_writer_is_stuck)
{
	pid_t holder = hold_process_lock(standard.node.path);
	pid_t writer;
	struct result result;
	struct json *document;

	set_quiet_budget(&standard.beta, 2000);
	writer = start_stuck_writer(&standard.beta);
	result = run_in_process(RUN_COMMAND, standard.dir, FAKE_PID, false, 100, "pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(result.err,
			      "pool 202: changing too fast: partial view (no pool call "
			      "granted a quiet window within 100 ms)")
			!= NULL,
		"%s", result.err);
	ck_assert_msg(strstr(result.out, "\tcopy: partial view: no pool call granted") != NULL,
		"%s", result.out);
	result_free(&result);
	result = run_in_process(RUN_COMMAND, standard.dir, FAKE_PID, true, 100, "pool 202");
	document = parse_json(result.out);
	ck_assert_str_eq(string_of(json_get(document, "pool"), "copy"), "partial");
	ck_assert_uint_eq(array_of(document, "warnings")->count, 1);
	json_free(document);
	result_free(&result);
	result = run_in_process(RUN_COMMAND, standard.dir, FAKE_PID, true, 100, "check 202");
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	document = parse_json(result.out);
	ck_assert_uint_eq(array_of(document, "unverified")->count, 1);
	ck_assert_uint_eq(array_of(document, "problems")->count, 0);
	json_free(document);
	result_free(&result);
	stop_child(writer);
	stop_child(holder);
}
END_TEST

/* A pool file of another user (root reading a user's node): the reader
 * writes nothing into it, not even a quiet window request, however the
 * pool changes. Root only: the node is given to an unused uid. */
START_TEST(test_another_users_pool_is_never_asked_to_hold_still)
{
	struct node_quiet_window quiet;
	pid_t holder, writer;
	char path[PATH_MAX + 32];
	struct result result;
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr,
			"test_node: not root: cannot give a file to another user; "
			"case skipped\n");
		return;
	}
	holder = hold_process_lock(standard.node.path);
	set_quiet_budget(&standard.beta, 2000);
	writer = start_stuck_writer(&standard.beta);
	/* the whole node is the other user's, as a user's own node is */
	snprintf(path, sizeof(path), "chown -R 61123:61123 '%s'", standard.dir);
	ck_assert_int_eq(system(path), 0);
	fixture_pool_path(&standard.beta, path, sizeof(path));
	result = run_in_process(RUN_COMMAND, standard.dir, FAKE_PID, false, 100, "pool 202");
	ck_assert_msg(result.status == NODE_STATUS_OK, "status %d: %s", result.status, result.err);
	ck_assert_msg(strstr(result.err,
			      "another user's pool (uid 61123): no quiet window is "
			      "asked for")
			!= NULL,
		"%s", result.err);
	result_free(&result);
	/* no request was written */
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &quiet, sizeof(quiet),
				 (off_t)((unsigned char *)&standard.beta.descriptor->quiet
					 - standard.beta.region)),
		(ssize_t)sizeof(quiet));
	close(fd);
	ck_assert_uint_eq(quiet.requested, 0);
	snprintf(path, sizeof(path), "chown -R 0:0 '%s'", standard.dir);
	ck_assert_int_eq(system(path), 0);
	stop_child(writer);
	stop_child(holder);
}
END_TEST

START_TEST(test_dead_process_in_the_middle_of_a_change)
{
	struct result result;

	standard.beta.descriptor->seq++;
	fixture_pool_write(&standard.beta);
	result = run_standard(false, "allocations pool 202");
	ck_assert_int_eq(result.status, NODE_STATUS_OK);
	ck_assert_msg(strstr(result.err, "the process died in the middle of a change to the pool")
			!= NULL,
		"%s", result.err);
	ck_assert_msg(strstr(result.out, "total allocations: 2; total bytes: 4000") != NULL, "%s",
		result.out);
	result_free(&result);
}
END_TEST

/* ---- the pooldump command line ---- */

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run through make check)");
	return dir;
}

/* Runs a program with arguments; captures standard output and error. */
static struct result run_program(const char *program, const char *const *arguments)
{
	struct result result = { 0, NULL, NULL };
	FILE *out = tmpfile(), *err = tmpfile();
	const char *argv[32];
	int status, count = 0;
	pid_t child;

	ck_assert(out != NULL && err != NULL);
	argv[count++] = program;
	for (; arguments[count - 1] != NULL && count < 31; count++)
		argv[count] = arguments[count - 1];
	argv[count] = NULL;
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(fileno(out), STDOUT_FILENO);
		dup2(fileno(err), STDERR_FILENO);
		execv(program, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status), "%s died of signal %d", program, WTERMSIG(status));
	result.status = WEXITSTATUS(status);
	for (int stream = 0; stream < 2; stream++) {
		*(stream == 0 ? &result.out : &result.err) = read_stream(stream == 0 ? out : err);
	}
	return result;
}

static struct result pooldump(const char *const *arguments)
{
	char program[PATH_MAX];

	snprintf(program, sizeof(program), "%s/tools/pooldump/pooldump", builddir());
	return run_program(program, arguments);
}

/* --color=WHEN: ASan's colours in the text, never in JSON; auto (the
 * default) does not colour a file; a bad WHEN is a usage error. */
START_TEST(test_pooldump_color)
{
	const char *const always[] = { "--color=always", "--node-dir", standard.dir, "-p", "4242",
		"leaks", NULL };
	const char *const after[] = { "--node-dir", standard.dir, "-p", "4242", "leaks",
		"--color=always", NULL };
	const char *const after_two_words[] = { "--node-dir", standard.dir, "-p", "4242", "leaks",
		"--colour", "always", NULL };
	const char *const json[] = { "--color=always", "--json", "--node-dir", standard.dir, "-p",
		"4242", "leaks", NULL };
	const char *const automatic[] = { "--node-dir", standard.dir, "-p", "4242", "leaks", NULL };
	const char *const bad[] = { "--color=sometimes", "--node-dir", standard.dir, "-p", "4242",
		"leaks", NULL };
	const char *const bad_after[] = { "--node-dir", standard.dir, "-p", "4242", "leaks",
		"--color=", NULL };
	struct result result;

	for (int i = 0; i < 3; i++) {
		result = pooldump(i == 0 ? always : i == 1 ? after : after_two_words);
		ck_assert_int_eq(result.status, 1);
		ck_assert_msg(strstr(result.out,
				      "\n\033[1m\033[32min pool 101 \"alpha\" (id 0x1065)"
				      "\033[1m\033[0m\n\n\033[1m\033[34mLeak of ")
				!= NULL,
			"%s", result.out);
		result_free(&result);
	}
	result = pooldump(json);
	ck_assert_int_eq(result.status, 1);
	ck_assert_msg(strchr(result.out, '\033') == NULL, "%s", result.out);
	result_free(&result);
	result = pooldump(automatic);
	ck_assert_msg(strchr(result.out, '\033') == NULL, "%s", result.out);
	result_free(&result);
	result = pooldump(bad);
	ck_assert_int_eq(result.status, 2);
	ck_assert_str_eq(result.err,
		"pooldump: --color takes auto, always or never: sometimes\n"
		"Try 'pooldump help' for more information.\n");
	result_free(&result);
	result = pooldump(bad_after);
	ck_assert_int_eq(result.status, 2);
	ck_assert_str_eq(result.err,
		"pooldump: --color takes auto, always or never: \n"
		"Try 'pooldump help' for more information.\n");
	result_free(&result);
}
END_TEST

START_TEST(test_pooldump_exit_statuses)
{
	const char *dir = standard.dir;
	struct {
		const char *arguments[10];
		int status;
		const char *out_or_err;
	} cases[] = {
		{ { "--help", NULL }, 0, "usage: pooldump" },
		{ { "help", NULL }, 0, "allocations_per_caller [-c] [pool ID]" },
		{ { "help", "extra", NULL }, 2, "unknown command 'extra'; usage: help [COMMAND]" },
		{ { "help", "leaks", NULL }, 0, "usage: pooldump -p PID leaks [pool ID]\n" },
		{ { "--version", NULL }, 0, "pooldump (area_malloc) " },
		{ { "--node-dir", dir, "-p", "4242", "leaks", "--help", NULL }, 0,
			"usage: pooldump -p PID leaks" },
		/* options after the command, and "--" ending them */
		{ { "pools", "--node-dir", dir, "-p", "4242", NULL }, 0, "2 pool(s)" },
		{ { "pools", "--node-dir", dir, "--pid=4242", "--json", NULL }, 0,
			"{\"version\":2,\"query\":\"pools\"" },
		{ { "--node-dir", dir, "-p", "4242", "--", "pools", "--json", NULL }, 2,
			"pools takes no arguments" },
		{ { "pools", "--node-dir", NULL }, 2,
			"unknown or incomplete option: --node-dir\n"
			"Try 'pooldump help' for more information.\n" },
		{ { "--node-dir", dir, NULL }, 0, "1 node(s) in " },
		{ { "--node-dir", dir, "-p", "4242", "pools", NULL }, 0, "2 pool(s)" },
		{ { "--node-dir", dir, "-p", "4242", "allocations_per_caller", "-c", NULL }, 0,
			"sorted by count" },
		{ { "--node-dir", dir, "-p", "4242", "leaks", NULL }, 1,
			"SUMMARY: area_malloc: 9300" },
		{ { "--node-dir", dir, "-p", "4242", "check", NULL }, 0, "0 problem(s)" },
		{ { "--node-dir", dir, "-p", "4242", "frobnicate", NULL }, 2,
			"unknown command 'frobnicate'" },
		{ { "--node-dir", dir, "-p", "4242", NULL }, 2, "no command given" },
		{ { "--node-dir", dir, "pools", NULL }, 2, "needs a process" },
		{ { "--node-dir", dir, "-p", "abc", "pools", NULL }, 2, "bad process id" },
		{ { "--bogus", NULL }, 2, "unknown or incomplete option" },
		{ { "--node-dir", NULL }, 2, "unknown or incomplete option" },
		{ { "--clean", "-p", "1", NULL }, 2, "--clean takes no process" },
		{ { "--node-dir", dir, "-p", "4343", "pools", NULL }, 3,
			"no node for process 4343" },
		{ { "--node-dir", dir, "-p", "4242", "pool", "999", NULL }, 3, "has no pool 999" },
		{ { "--node-dir", "/proc/self", "-p", "4242", "pools", NULL }, 4, "refused" },
		{ { "--json", "help", NULL }, 0,
			"{\"version\":2,\"query\":\"help\",\"commands\":[{\"name\":\"pools\"" },
		{ { "--json", "--bogus", NULL }, 2,
			"{\"version\":2,\"error\":\"unknown or incomplete option: --bogus\",\"status\":2}" },
		{ { "--json", "-p", "abc", "pools", NULL }, 2,
			"{\"version\":2,\"error\":\"bad process id: abc\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result result = pooldump(cases[i].arguments);
		ck_assert_msg(result.status == cases[i].status,
			"case %zu: status %d, expected %d\n%s%s", i, result.status, cases[i].status,
			result.out, result.err);
		ck_assert_msg(strstr(result.out, cases[i].out_or_err) != NULL
				|| strstr(result.err, cases[i].out_or_err) != NULL,
			"case %zu: no '%s' in\n%s%s", i, cases[i].out_or_err, result.out,
			result.err);
		result_free(&result);
	}
	/* a damaged node: status 4, with --json before or after -p */
	standard.alpha.descriptor->version = 7;
	fixture_pool_write(&standard.alpha);
	for (int order = 0; order < 2; order++) {
		const char *before[] = { "--node-dir", dir, "--json", "-p", "4242", "pool", "101",
			NULL };
		const char *after[] = { "--node-dir", dir, "-p", "4242", "--json", "pool", "101",
			NULL };
		struct result result = pooldump(order == 0 ? before : after);
		struct json *document;
		ck_assert_int_eq(result.status, 4);
		document = parse_json(result.out);
		ck_assert_uint_eq(array_of(document, "errors")->count, 1);
		ck_assert_int_eq((int)number_of(document, "status"), 4);
		json_free(document);
		result_free(&result);
	}
}
END_TEST

/* The node directory: --node-dir, else POOLDUMP_NODE_DIR, else node_dir in
 * AREA_MALLOC_OPTIONS (where the module publishes), else the default. */
/* The bash completion: what it offers after the words typed so far (the
 * word being completed last, "" for a new one), one line a candidate. */
static char *complete(const char *words)
{
	char script[PATH_MAX * 2 + 1024];
	struct result result;

	snprintf(script, sizeof(script),
		"source '%s' && PATH='%s/tools/pooldump':$PATH && COMP_WORDS=(%s) && "
		"COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _pooldump && printf '%%s\\n' "
		"\"${COMPREPLY[@]}\"",
		POOLDUMP_COMPLETION, builddir(), words);
	result = run_program("/bin/bash", (const char *const[]){ "-c", script, NULL });
	ck_assert_msg(result.status == 0, "%s: %s", words, result.err);
	free(result.err);
	return result.out;
}

START_TEST(test_bash_completion)
{
	static const struct {
		const char *words;
		const char *offered;
	} cases[] = {
		{ "pooldump al", "allocations\nallocations_per_caller\n" },
		{ "pooldump --ver", "--version\n" },
		{ "pooldump help ch", "check\n" },
		{ "pooldump -p 1 scan --", "--min-age\n--interval\n--stop\n" },
		{ "pooldump run --stack-d", "--stack-depth\n" },
		{ "pooldump run --sc", "--scan\n" },
		{ "pooldump run --leak-mode ''", "all\nunreferenced\n" },
		{ "pooldump --col", "--color=\n" },
		{ "pooldump --color ''", "auto\nalways\nnever\n" },
		{ "pooldump --color=al", "always\n" },
		/* as bash splits them, '=' in its COMP_WORDBREAKS */
		{ "pooldump --color = al", "always\n" },
		{ "pooldump -p 1 leaks --colour = ''", "auto\nalways\nnever\n" },
		{ "pooldump --color =", "auto\nalways\nnever\n" },
		/* the pids of the directory's nodes */
		{ "pooldump --node-dir '%s' -p ''", "4242\n" },
	};
	char words[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(words, sizeof(words), cases[i].words, standard.dir);
		char *offered = complete(words);
		ck_assert_msg(strcmp(offered, cases[i].offered) == 0, "%s: offered\n%s", words,
			offered);
		free(offered);
	}
}
END_TEST

START_TEST(test_pooldump_node_dir_from_environment)
{
	const char *pools[] = { "-p", "4242", "pools", NULL };
	const char *elsewhere[] = { "--node-dir", "/nonexistent-node-dir", "-p", "4242", "pools",
		NULL };
	char options[PATH_MAX + 64];
	struct result result;

	snprintf(options, sizeof(options), "stack_depth=4:node_dir='%s',log_size=8", standard.dir);
	setenv("AREA_MALLOC_OPTIONS", options, 1);
	result = pooldump(pools);
	ck_assert_msg(result.status == 0 && strstr(result.out, "2 pool(s)") != NULL, "%d %s%s",
		result.status, result.out, result.err);
	result_free(&result);
	setenv("AREA_MALLOC_OPTIONS", "node_dir=/nonexistent-node-dir", 1);
	setenv("POOLDUMP_NODE_DIR", standard.dir, 1);
	result = pooldump(pools);
	ck_assert_msg(result.status == 0 && strstr(result.out, "2 pool(s)") != NULL, "%d %s%s",
		result.status, result.out, result.err);
	result_free(&result);
	/* --node-dir wins over both */
	result = pooldump(elsewhere);
	ck_assert_msg(result.status == NODE_STATUS_NO_SUCH
			&& strstr(result.err, "/nonexistent-node-dir") != NULL,
		"%d %s", result.status, result.err);
	result_free(&result);
	unsetenv("POOLDUMP_NODE_DIR");
	unsetenv("AREA_MALLOC_OPTIONS");
}
END_TEST

/* ---- end to end: node_driver under the debug module ---- */

struct driver {
	pid_t pid;
	int input; /* its standard input: closing it ends the driver */
	FILE *output;
	int alpha, beta;
	pid_t child; /* fork mode */
	struct fixture_driver_run run;
};

static void driver_start(struct driver *driver, const char *mode, const char *extra_options)
{
	char line[128];
	int in[2], out[2];

	memset(driver, 0, sizeof(*driver));
	fixture_driver_run_init(&driver->run, builddir(), "tests/node/node_driver", extra_options);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	driver->pid = fork();
	ck_assert_int_ge(driver->pid, 0);
	if (driver->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		fixture_driver_run_environment(&driver->run);
		execl(driver->run.program, driver->run.program, mode, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	driver->input = in[1];
	driver->output = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(driver->output);
	ck_assert_msg(fgets(line, sizeof(line), driver->output) != NULL,
		"node_driver said nothing");
	ck_assert_msg(sscanf(line, "ready %d %d", &driver->alpha, &driver->beta) == 2, "%s", line);
	if (strcmp(mode, "fork") == 0) {
		ck_assert(fgets(line, sizeof(line), driver->output) != NULL);
		ck_assert_msg(sscanf(line, "child %d", &driver->child) == 1, "%s", line);
	}
}

/* Closes its input: the driver frees everything and exits; returns its status. */
static int driver_finish(struct driver *driver)
{
	int status;

	close(driver->input);
	ck_assert_int_eq(waitpid(driver->pid, &status, 0), driver->pid);
	fclose(driver->output);
	ck_assert_msg(WIFEXITED(status), "node_driver died of signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

static void driver_kill(struct driver *driver)
{
	kill(driver->pid, SIGKILL);
	ck_assert_int_eq(waitpid(driver->pid, NULL, 0), driver->pid);
	close(driver->input);
	fclose(driver->output);
}

static struct result query(const struct driver *driver, pid_t pid, bool json, const char *command,
	const char *argument)
{
	char pid_text[16];
	const char *arguments[10];
	int count = 0;

	snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
	arguments[count++] = "--node-dir";
	arguments[count++] = driver->run.node_dir;
	if (json)
		arguments[count++] = "--json";
	arguments[count++] = "-p";
	arguments[count++] = pid_text;
	arguments[count++] = command;
	if (argument != NULL)
		arguments[count++] = argument;
	arguments[count] = NULL;
	return pooldump(arguments);
}

static bool caller_is(const struct json *object, const char *function)
{
	const char *caller = string_of(object, "caller");
	size_t length = strlen(function);

	return strncmp(caller, function, length) == 0 && caller[length] == '+'
		&& strstr(caller, "(node_driver)") != NULL;
}

/* What the driver's known blocks look like, live or post mortem. */
static void expect_known_blocks(const struct driver *driver, bool alive)
{
	struct result allocations = query(driver, driver->pid, true, "allocations", NULL);
	struct result pools = query(driver, driver->pid, true, "pools", NULL);
	struct result leaks = query(driver, driver->pid, false, "leaks", NULL);
	struct json *document;
	const struct json *blocks, *list;
	size_t small = 0, large = 0, beta = 0;

	ck_assert_msg(allocations.status == 0, "%s", allocations.err);
	document = parse_json(allocations.out);
	blocks = array_of(document, "blocks");
	ck_assert_uint_eq(blocks->count, 6);
	for (size_t i = 0; i < blocks->count; i++) {
		const struct json *block = blocks->items[i];
		int size = (int)number_of(block, "size"), pool = (int)number_of(block, "pool");
		ck_assert(strncmp(string_of(block, "address"), "0x", 2) == 0);
		ck_assert_int_eq((int)number_of(block, "thread"), driver->pid);
		if (size == 100 && pool == driver->alpha && caller_is(block, "alloc_alpha_small"))
			small++;
		else if (size == 5000 && pool == driver->alpha
			&& caller_is(block, "alloc_alpha_large"))
			large++;
		else if (size == 2000 && pool == driver->beta && caller_is(block, "alloc_beta"))
			beta++;
		else
			ck_abort_msg("unexpected block %d bytes in pool %d from %s", size, pool,
				string_of(block, "caller"));
	}
	ck_assert_uint_eq(small, 3);
	ck_assert_uint_eq(large, 1);
	ck_assert_uint_eq(beta, 2);
	ck_assert_int_eq((int)number_of(document, "total_bytes"), 9300);
	json_free(document);

	ck_assert_msg(pools.status == 0, "%s", pools.err);
	document = parse_json(pools.out);
	list = array_of(document, "pools");
	ck_assert_uint_eq(list->count, 2);
	ck_assert_int_eq((int)number_of(list->items[0], "id"), driver->alpha);
	ck_assert_str_eq(string_of(list->items[0], "name"), "alpha");
	ck_assert_int_eq((int)number_of(list->items[0], "size"), 1024 * 1024);
	ck_assert_int_eq((int)number_of(list->items[0], "used"), 5300);
	ck_assert_int_eq((int)number_of(list->items[0], "blocks"), 4);
	ck_assert_int_eq((int)number_of(list->items[1], "id"), driver->beta);
	ck_assert_str_eq(string_of(list->items[1], "name"), "beta");
	ck_assert_int_eq((int)number_of(list->items[1], "used"), 4000);
	ck_assert_int_eq((int)number_of(list->items[1], "blocks"), 2);
	ck_assert_int_eq((int)number_of(list->items[1], "quarantined_blocks"), 1);
	ck_assert(strncmp(string_of(list->items[0], "creator"), "main+", 5) == 0);
	json_free(document);

	/* a live process's blocks are outstanding; a dead one's were leaked */
	const char *header = alive
		? "\nblocks outstanding (no mark set)\n(live now, not "
		  "necessarily lost: the scan command finds those no pointer "
		  "reaches)\n\n"
		: "\nblocks still allocated (no mark set) when the process died\n\n";
	const char *group = alive ? "Outstanding:" : "Leak of";
	char expected[256];

	ck_assert_int_eq(leaks.status, 1);
	ck_assert_msg(strstr(leaks.out, header) != NULL, "%s", leaks.out);
	snprintf(expected, sizeof(expected),
		"%s 300 byte(s) in 3 allocation(s) allocated from:\n    #0 0x", group);
	ck_assert_msg(strstr(leaks.out, expected) != NULL, "%s", leaks.out);
	ck_assert_msg(strstr(leaks.out, " in alloc_alpha_small+0x") != NULL, "%s", leaks.out);
	snprintf(expected, sizeof(expected), "%s 4000 byte(s) in 2 allocation(s)", group);
	ck_assert_msg(strstr(leaks.out, expected) != NULL, "%s", leaks.out);
	snprintf(expected, sizeof(expected),
		"SUMMARY: area_malloc: 9300 byte(s) %s in 6 "
		"allocation(s).",
		alive ? "outstanding" : "leaked");
	ck_assert_msg(strstr(leaks.out, expected) != NULL, "%s", leaks.out);
	result_free(&allocations);
	result_free(&pools);
	result_free(&leaks);
}

static bool node_exists(const struct driver *driver, pid_t pid)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%d", driver->run.node_dir, (int)pid);
	return access(path, F_OK) == 0;
}

START_TEST(test_end_to_end_live_and_post_mortem)
{
	struct driver driver;
	struct result result;
	const char *list[] = { "--node-dir", driver.run.node_dir, NULL };
	const char *clean[] = { "--node-dir", driver.run.node_dir, "--clean", NULL };
	char expected[64];

	driver_start(&driver, "wait", NULL);
	expect_known_blocks(&driver, true);
	result = pooldump(list);
	snprintf(expected, sizeof(expected), "%8d  alive        2           6            9300  ",
		(int)driver.pid);
	ck_assert_msg(strstr(result.out, expected) != NULL, "%s", result.out);
	result_free(&result);

	driver_kill(&driver);
	ck_assert(node_exists(&driver, driver.pid));
	result = pooldump(list);
	snprintf(expected, sizeof(expected), "%8d  dead         2           6            9300  ",
		(int)driver.pid);
	ck_assert_msg(strstr(result.out, expected) != NULL, "%s", result.out);
	result_free(&result);
	expect_known_blocks(&driver, false);
	result = query(&driver, driver.pid, false, "check", NULL);
	ck_assert_msg(result.status == 0, "%s%s", result.out, result.err);
	result_free(&result);

	result = pooldump(clean);
	ck_assert_int_eq(result.status, 0);
	ck_assert(!node_exists(&driver, driver.pid));
	result_free(&result);
	fixture_remove_tree(driver.run.base);
}
END_TEST

START_TEST(test_end_to_end_churn_and_clean_exit)
{
	struct driver driver;

	driver_start(&driver, "churn", NULL);
	for (int i = 0; i < 15; i++) {
		struct result check = query(&driver, driver.pid, false, "check", NULL);
		struct result callers =
			query(&driver, driver.pid, true, "allocations_per_caller", NULL);
		struct json *document;
		ck_assert_msg(check.status == 0, "round %d: %s%s", i, check.out, check.err);
		ck_assert_msg(strstr(check.out, "2 pool(s) checked, 0 problem(s)") != NULL, "%s",
			check.out);
		ck_assert_msg(strstr(check.err, "inconsistent") == NULL, "%s", check.err);
		ck_assert_int_eq(callers.status, 0);
		document = parse_json(callers.out);
		ck_assert_int_ge((int)number_of(document, "total_blocks"), 6);
		json_free(document);
		result_free(&check);
		result_free(&callers);
	}
	ck_assert_int_eq(driver_finish(&driver), 0);
	/* a clean exit leaves no node */
	ck_assert(!node_exists(&driver, driver.pid));
	fixture_remove_tree(driver.run.base);
}
END_TEST

START_TEST(test_end_to_end_mark_and_overflow)
{
	struct driver driver;
	struct result result;
	struct json *document;
	const struct json *groups;

	driver_start(&driver, "mark", NULL);
	result = query(&driver, driver.pid, true, "leaks", NULL);
	ck_assert_int_eq(result.status, 1);
	document = parse_json(result.out);
	ck_assert(json_get(document, "since_mark")->type == JSON_NUMBER);
	groups = array_of(document, "groups");
	ck_assert_uint_eq(groups->count, 1);
	ck_assert(caller_is(groups->items[0], "alloc_after_mark"));
	ck_assert_int_eq((int)number_of(groups->items[0], "bytes"), 300);
	json_free(document);
	result_free(&result);
	ck_assert_int_eq(driver_finish(&driver), 0);
	fixture_remove_tree(driver.run.base);

	driver_start(&driver, "overflow", NULL);
	result = query(&driver, driver.pid, false, "check", NULL);
	ck_assert_int_eq(result.status, 1);
	ck_assert_msg(strstr(result.out, "heap-buffer-overflow on address ") != NULL, "%s",
		result.out);
	ck_assert_msg(strstr(result.out,
			      "the write reached 3 byte(s) past the end of the "
			      "5000-byte block")
			!= NULL,
		"%s", result.out);
	ck_assert_msg(strstr(result.out,
			      "SUMMARY: area_malloc: heap-buffer-overflow "
			      "alloc_alpha_large+0x")
			!= NULL,
		"%s", result.out);
	result_free(&result);
	ck_assert_int_eq(driver_finish(&driver), 0);
	fixture_remove_tree(driver.run.base);
}
END_TEST

START_TEST(test_end_to_end_fork_gives_the_child_its_own_pools)
{
	struct driver driver;
	struct result parent, child;
	struct json *document;
	const struct json *callers;
	bool found = false;

	driver_start(&driver, "fork", "fork_nodes=1");
	parent = query(&driver, driver.pid, false, "allocations", NULL);
	child = query(&driver, driver.child, true, "allocations_per_caller", NULL);
	ck_assert_int_eq(parent.status, 0);
	ck_assert_msg(strstr(parent.out, "total allocations: 6; total bytes: 9300") != NULL, "%s",
		parent.out);
	ck_assert_msg(strstr(parent.out, "alloc_in_child") == NULL, "%s", parent.out);
	ck_assert_msg(child.status == 0, "%s", child.err);
	document = parse_json(child.out);
	ck_assert_int_eq((int)number_of(document, "total_blocks"), 7);
	callers = array_of(document, "callers");
	for (size_t i = 0; i < callers->count; i++)
		found |= caller_is(callers->items[i], "alloc_in_child")
			&& (int)number_of(callers->items[i], "bytes") == 777;
	ck_assert(found);
	json_free(document);
	result_free(&parent);
	result_free(&child);
	ck_assert_int_eq(driver_finish(&driver), 0);
	ck_assert(!node_exists(&driver, driver.pid));
	ck_assert(!node_exists(&driver, driver.child));
	fixture_remove_tree(driver.run.base);
}
END_TEST

/* ---- a stopped reader never holds up the driver ---- */

/* Asks the driver for calls malloc/free pairs and waits for them: a driver
 * held up by a reader hangs here, and SIGALRM ends the test. */
static void driver_calls(struct driver *driver, unsigned long calls)
{
	char line[64];
	unsigned long done = 0;

	ck_assert(dprintf(driver->input, "calls %lu\n", calls) > 0);
	test_alarm(120);
	ck_assert_msg(fgets(line, sizeof(line), driver->output) != NULL, "the driver said nothing");
	test_alarm(0);
	ck_assert_msg(sscanf(line, "done %lu", &done) == 1 && done == calls, "%s", line);
}

static void say_nothing(void *cookie, const char *text)
{
	(void)cookie;
	(void)text;
}

static void stop_at(enum node_quiet_step step, void *context)
{
	if (step == *(const enum node_quiet_step *)context)
		raise(SIGSTOP);
}

/* A reader (a child of this process) that checks the driver's pools until
 * it reaches step of a quiet window, where it stops itself (SIGSTOP). */
static pid_t start_reader_stopping_at(const struct driver *driver, enum node_quiet_step step)
{
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		char check[] = "check", *argv[] = { check, NULL };
		struct node_command_context context = {
			.node_dir = driver->run.node_dir,
			.pid = driver->pid,
			.print = say_nothing,
			.print_error = say_nothing,
			/* one lock-free try: the churning pools never give a whole copy */
			.snapshot = { .tries = 1, .at_step = stop_at, .step_context = &step },
		};
		for (int round = 0; round < 500; round++)
			node_command_run(&context, 1, argv);
		_exit(3); /* never reached the step */
	}
	return child;
}

/* True when the stopped process maps no file of the node directory. */
static bool maps_nothing_of(pid_t pid, const char *node_dir)
{
	char path[64], line[PATH_MAX + 128];
	bool clean = true;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	ck_assert_ptr_nonnull(maps);
	while (fgets(line, sizeof(line), maps) != NULL)
		clean &= strstr(line, node_dir) == NULL;
	fclose(maps);
	return clean;
}

/*
 * A reader stopped (Ctrl-Z, a debugger) at each point of a quiet window where
 * it could hold anything the driver needs (asked, granted, copied but not
 * yet finished), then killed there: the driver's calls all complete, its
 * two churning threads and its main thread alike, and the reader maps no
 * node file at any of them.
 */
START_TEST(test_end_to_end_stopped_reader_never_holds_up_the_driver)
{
	const enum node_quiet_step steps[] = { NODE_QUIET_ASKED, NODE_QUIET_GRANTED,
		NODE_QUIET_COPIED };
	struct driver driver;
	int status;

	driver_start(&driver, "churn", "reader_wait_us=2000");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		pid_t reader = start_reader_stopping_at(&driver, steps[i]);
		ck_assert_int_eq(waitpid(reader, &status, WUNTRACED), reader);
		ck_assert_msg(WIFSTOPPED(status),
			"step %d: the reader ended (status 0x%x) without "
			"reaching it",
			(int)steps[i], status);
		ck_assert(maps_nothing_of(reader, driver.run.node_dir));
		driver_calls(&driver, 2000);
		kill(reader, SIGKILL);
		ck_assert_int_eq(waitpid(reader, &status, 0), reader);
		driver_calls(&driver, 2000);
	}
	/* pooldump itself, stopped wherever it happens to be */
	for (int round = 0; round < 20; round++) {
		char pid_text[16], program[PATH_MAX];
		/* 0 to 40 ms: start-up, the lock-free copies, the window */
		struct timespec delay = { 0, (long)((unsigned)round * 7919u % 40) * 1000 * 1000 };
		pid_t reader;

		snprintf(pid_text, sizeof(pid_text), "%d", (int)driver.pid);
		snprintf(program, sizeof(program), "%s/tools/pooldump/pooldump", builddir());
		reader = fork();
		ck_assert_int_ge(reader, 0);
		if (reader == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			execl(program, program, "--node-dir", driver.run.node_dir, "-p", pid_text,
				"check", (char *)NULL);
			_exit(127);
		}
		nanosleep(&delay, NULL);
		kill(reader, SIGSTOP);
		ck_assert_int_eq(waitpid(reader, &status, WUNTRACED), reader);
		driver_calls(&driver, 500);
		/* it may have ended before the stop: then it is reaped already */
		if (WIFSTOPPED(status)) {
			kill(reader, SIGKILL);
			waitpid(reader, &status, 0);
		}
	}
	ck_assert_int_eq(driver_finish(&driver), 0);
	fixture_remove_tree(driver.run.base);
}
END_TEST

static Suite *node_suite(void)
{
	Suite *suite = suite_create("node");
	TCase *commands = tcase_create("commands");
	TCase *listing = tcase_create("listing");
	TCase *damage = tcase_create("damage");
	TCase *security = tcase_create("security");
	TCase *clean = tcase_create("clean");
	TCase *consistency = tcase_create("consistency");
	TCase *cli = tcase_create("cli");
	TCase *end_to_end = tcase_create("end_to_end");
	TCase *with_standard[] = { commands, listing, damage, security, clean, consistency, cli };

	for (size_t i = 0; i < sizeof(with_standard) / sizeof(with_standard[0]); i++)
		tcase_add_checked_fixture(with_standard[i], standard_setup, standard_teardown);

	tcase_add_test(commands, test_pools_text_and_json);
	tcase_add_test(commands, test_pool_detail);
	tcase_add_test(commands, test_allocations_exact);
	tcase_add_test(commands, test_allocations_filters);
	tcase_add_test(commands, test_allocations_per_caller);
	tcase_add_test(commands, test_pool_log);
	tcase_add_test(commands, test_leaks_all_and_since_mark);
	tcase_add_test(commands, test_check_clean);
	tcase_add_test(commands, test_check_finds_damage);
	tcase_add_test(commands, test_check_counters);
	tcase_add_test(commands, test_help_usage_and_statuses);
	tcase_add_test(commands, test_deep_stacks);
	tcase_add_test(commands, test_hostile_strings_are_escaped);
	suite_add_tcase(suite, commands);

	tcase_add_test(listing, test_list_alive_and_dead);
	tcase_add_test(listing, test_list_without_directory_and_damaged_node);
	suite_add_tcase(suite, listing);

	tcase_add_test(damage, test_truncated_pool_files);
	tcase_add_test(damage, test_scrambled_pool_files);
	tcase_add_test(damage, test_hostile_descriptor);
	tcase_add_test(damage, test_hostile_process_file);
	tcase_add_test(damage, test_damaged_heap);
	tcase_add_test(damage, test_special_files);
	tcase_set_timeout(damage, 300);
	suite_add_tcase(suite, damage);

	tcase_add_test(security, test_refused_node_directories);
	tcase_add_test(security, test_other_uid_cannot_read);
	tcase_add_test(security, test_root_reads_another_users_node);
	suite_add_tcase(suite, security);

	tcase_add_test(clean, test_clean_removes_only_dead_nodes);
	suite_add_tcase(suite, clean);

	tcase_add_test(consistency, test_snapshots_while_a_writer_changes_the_pool);
	tcase_add_test(consistency, test_partial_view_when_no_window_is_granted);
	tcase_add_test(consistency, test_partial_view_when_the_writer_is_stuck);
	tcase_add_test(consistency, test_another_users_pool_is_never_asked_to_hold_still);
	tcase_add_test(consistency, test_dead_process_in_the_middle_of_a_change);
	suite_add_tcase(suite, consistency);

	tcase_add_test(cli, test_pooldump_exit_statuses);
	tcase_add_test(cli, test_pooldump_color);
	tcase_add_test(cli, test_pooldump_node_dir_from_environment);
	tcase_add_test(cli, test_bash_completion);
	suite_add_tcase(suite, cli);

	tcase_add_test(end_to_end, test_end_to_end_live_and_post_mortem);
	tcase_add_test(end_to_end, test_end_to_end_churn_and_clean_exit);
	tcase_add_test(end_to_end, test_end_to_end_mark_and_overflow);
	tcase_add_test(end_to_end, test_end_to_end_fork_gives_the_child_its_own_pools);
	tcase_add_test(end_to_end, test_end_to_end_stopped_reader_never_holds_up_the_driver);
	tcase_set_timeout(end_to_end, 300);
	suite_add_tcase(suite, end_to_end);
	return suite;
}

int main(void)
{
	return run_check_suite(node_suite(), CK_FORK_GETENV);
}
