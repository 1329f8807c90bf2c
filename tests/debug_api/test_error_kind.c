/*
 * test_error_kind.c - the table of error kinds (src/format/error_kind.c):
 * its invariants, the names and headlines the public reports use and what
 * they map to, the precedence the man page promises, the leak column, the
 * "unknown" row for values outside the table, and the one translation of a
 * block finding (src/format/debug_block.h) into a kind, an offset and the
 * overflow's reach.
 *
 * Locking: none; one thread, constant data.
 */
#include "config.h"

#include <check.h>
#include <stddef.h>
#include <string.h>

#include "format/error_kind.h"
#include "support/check_main.h"

START_TEST(test_table_is_valid)
{
	const char *why = NULL;

	ck_assert_msg(error_kinds_validate(&why), "error_kinds_validate: %s", why);
	ck_assert_ptr_null(why); /* left alone when every invariant holds */
	ck_assert(error_kinds_validate(NULL));
}
END_TEST

START_TEST(test_every_kind_round_trips_by_name)
{
	for (unsigned kind = ERROR_KIND_NONE + 1; kind < ERROR_KIND_COUNT; kind++) {
		const struct error_kind_info *row = error_kind_info((enum error_kind)kind);
		ck_assert_ptr_nonnull(row);
		ck_assert_ptr_eq(row->name, error_kind_name((enum error_kind)kind));
		ck_assert_msg(strcmp(row->name, "unknown") != 0, "kind %u has no row", kind);
		ck_assert_msg(error_kind_from_name(row->name) == (enum error_kind)kind,
			"\"%s\" maps to %d, not to %u", row->name, error_kind_from_name(row->name),
			kind);
		/* the headline alone is a first line of its own kind too */
		ck_assert_int_eq(error_kind_from_headline(row->headline), kind);
	}
	/* the row of no kind is not a name a report uses */
	ck_assert_str_eq(error_kind_name(ERROR_KIND_NONE), "unknown");
	ck_assert_int_eq(error_kind_from_name("unknown"), ERROR_KIND_NONE);
}
END_TEST

/* The KIND of every report the module, its checks and pooldump print. */
static const struct {
	const char *name;
	enum error_kind kind;
	bool leak;
} reported[] = {
	{ "invalid-pool", ERROR_INVALID_POOL, false },
	{ "cross-pool-free", ERROR_CROSS_POOL_FREE, false },
	{ "double-free", ERROR_DOUBLE_FREE, false },
	{ "invalid-free", ERROR_INVALID_FREE, false },
	{ "heap-buffer-overflow", ERROR_HEAP_BUFFER_OVERFLOW, false },
	{ "heap-buffer-underflow", ERROR_HEAP_BUFFER_UNDERFLOW, false },
	{ "use-after-free", ERROR_USE_AFTER_FREE, false },
	{ "heap-corruption", ERROR_HEAP_CORRUPTION, false },
	{ "counter-mismatch", ERROR_COUNTER_MISMATCH, false },
	{ "detected memory leaks", ERROR_LEAK, true },
	{ "leaked-pool", ERROR_LEAKED_POOL, true },
};

START_TEST(test_reported_names_map_to_their_kinds)
{
	const char *name = reported[_i].name;
	enum error_kind kind = reported[_i].kind;
	const struct error_kind_info *row = error_kind_info(kind);

	ck_assert_msg(error_kind_from_name(name) == kind, "\"%s\" maps to %d, not %d", name,
		error_kind_from_name(name), kind);
	ck_assert_str_eq(error_kind_name(kind), name);
	ck_assert_int_eq(row->leak, reported[_i].leak);
	ck_assert_msg(!row->reserved, "\"%s\" is reported but its row is reserved", name);
	/* every kind but the leak names the address its report is about */
	ck_assert_int_eq(row->names_address, !reported[_i].leak);
}
END_TEST

/* None of texts (nor NULL) reads as a kind. */
static void assert_no_kind(enum error_kind (*read)(const char *), const char *const *texts,
	size_t count)
{
	ck_assert_int_eq(read(NULL), ERROR_KIND_NONE);
	for (size_t i = 0; i < count; i++)
		ck_assert_msg(read(texts[i]) == ERROR_KIND_NONE, "\"%s\" reads as kind %d",
			texts[i], read(texts[i]));
}

START_TEST(test_names_are_exact)
{
	static const char *const not_names[] = { "", "double", "double-free ", "Double-free",
		"double_free", "heap-buffer", "detected memory leak", "leak", "unknown" };

	assert_no_kind(error_kind_from_name, not_names, sizeof(not_names) / sizeof(not_names[0]));
}
END_TEST

/* First lines as reports print them, after "==PID==ERROR: area_malloc: ". */
START_TEST(test_headline_of_real_first_lines)
{
	ck_assert_int_eq(error_kind_from_headline(
				 "double-free on address 0x7f55 (100-byte block) in pool 1"),
		ERROR_DOUBLE_FREE);
	ck_assert_int_eq(error_kind_from_headline("heap-buffer-overflow on address 0x7f5500001030 "
						  "(100-byte block) in pool 3"),
		ERROR_HEAP_BUFFER_OVERFLOW);
	ck_assert_int_eq(error_kind_from_headline("heap-corruption on address 0x7f5500000000 in "
						  "pool 7"),
		ERROR_HEAP_CORRUPTION);
	ck_assert_int_eq(error_kind_from_headline("invalid-pool on address 0x1000\n"),
		ERROR_INVALID_POOL);
	ck_assert_int_eq(error_kind_from_headline("detected memory leaks"), ERROR_LEAK);
	ck_assert_int_eq(error_kind_from_headline("detected memory leaks\n"), ERROR_LEAK);
	ck_assert_int_eq(error_kind_from_headline(
				 "detected memory leaks\n\nDirect leak of 40 byte(s)"),
		ERROR_LEAK);
	ck_assert_int_eq(error_kind_from_headline("leaked-pool\nin pool 3 \"rx\" (id 0x8cd2)"),
		ERROR_LEAKED_POOL);
}
END_TEST

START_TEST(test_headline_near_misses)
{
	static const char *const misses[] = {
		"",
		"double-free",                  /* the name, not the headline */
		"double-free on",               /* a prefix of the headline */
		"double-free on addres",        /* one character short */
		"double-free on address0x7f55", /* no separator after the headline */
		"detected memory leak",         /* a prefix of the leak headline */
		"detected memory leaksX",
		"leaked-pools", /* no separator after the leaked-pool headline */
		"bogus-kind on address 0x7f55 (100-byte block) in pool 1", /* an unknown kind */
		"unknown",
		"unknown on address 0x1",
		" double-free on address 0x7f55", /* not at the start */
		"Double-free on address 0x7f55",
	};

	assert_no_kind(error_kind_from_headline, misses, sizeof(misses) / sizeof(misses[0]));
}
END_TEST

/* area_malloc_debug(7): a call is judged invalid-pool, then cross-pool-free,
 * then double-free, then invalid-free. */
START_TEST(test_precedence_of_pointer_checks)
{
	static const enum error_kind order[] = { ERROR_INVALID_POOL, ERROR_CROSS_POOL_FREE,
		ERROR_DOUBLE_FREE, ERROR_INVALID_FREE };

	for (size_t i = 0; i + 1 < sizeof(order) / sizeof(order[0]); i++)
		ck_assert_msg(error_kind_info(order[i])->precedence
				< error_kind_info(order[i + 1])->precedence,
			"%s does not come before %s", error_kind_name(order[i]),
			error_kind_name(order[i + 1]));
	/* the pointer checks come before any damage and any leak */
	for (unsigned kind = ERROR_KIND_NONE + 1; kind < ERROR_KIND_COUNT; kind++) {
		bool pointer_check = false;
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			pointer_check |= order[i] == (enum error_kind)kind;
		if (!pointer_check)
			ck_assert_uint_gt(error_kind_info((enum error_kind)kind)->precedence,
				error_kind_info(ERROR_INVALID_FREE)->precedence);
	}
}
END_TEST

START_TEST(test_leak_flags)
{
	ck_assert(error_kind_info(ERROR_LEAK)->leak);
	ck_assert(error_kind_info(ERROR_LEAKED_POOL)->leak);
	ck_assert(!error_kind_info(ERROR_DOUBLE_FREE)->leak);
	ck_assert(!error_kind_info(ERROR_HEAP_CORRUPTION)->leak);
	ck_assert(!error_kind_info(ERROR_KIND_NONE)->leak);
}
END_TEST

START_TEST(test_out_of_range_is_the_unknown_row)
{
	const struct error_kind_info *unknown = error_kind_info(ERROR_KIND_NONE);
	static const int outside[] = { ERROR_KIND_COUNT, ERROR_KIND_COUNT + 1, 1000, -1 };

	ck_assert_ptr_nonnull(unknown);
	ck_assert_str_eq(unknown->name, "unknown");
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		const struct error_kind_info *row = error_kind_info((enum error_kind)outside[i]);
		ck_assert_msg(row == unknown, "kind %d: not the unknown row", outside[i]);
		ck_assert_str_eq(error_kind_name((enum error_kind)outside[i]), "unknown");
	}
}
END_TEST

/* Every finding debug_block_check() can make, and what a report says of it. */
static const struct {
	struct debug_block_finding finding;
	struct error_figures figures;
} translations[] = {
	{ { BLOCK_OK, 0, 0 }, { ERROR_KIND_NONE, false, 0, 0 } },
	{ { BLOCK_OK, 12, 3 }, { ERROR_KIND_NONE, false, 0, 0 } },
	{ { BLOCK_HEADER_DAMAGED, 0, 0 }, { ERROR_HEAP_BUFFER_UNDERFLOW, false, 0, 0 } },
	{ { BLOCK_HEADER_DAMAGED, 40, 5 }, { ERROR_HEAP_BUFFER_UNDERFLOW, false, 0, 0 } },
	{ { BLOCK_UNDERFLOW, 8, 0 }, { ERROR_HEAP_BUFFER_UNDERFLOW, true, -8, 0 } },
	{ { BLOCK_UNDERFLOW, 1, 0 }, { ERROR_HEAP_BUFFER_UNDERFLOW, true, -1, 0 } },
	{ { BLOCK_OVERFLOW, 100, 3 }, { ERROR_HEAP_BUFFER_OVERFLOW, true, 100, 3 } },
	{ { BLOCK_OVERFLOW, 109, 10 }, { ERROR_HEAP_BUFFER_OVERFLOW, true, 109, 10 } },
	{ { BLOCK_POISON_DAMAGED, 0, 0 }, { ERROR_USE_AFTER_FREE, true, 0, 0 } },
	{ { BLOCK_POISON_DAMAGED, 196, 0 }, { ERROR_USE_AFTER_FREE, true, 196, 0 } },
};

START_TEST(test_figures_of_every_finding)
{
	struct debug_block_finding finding = translations[_i].finding;
	struct error_figures want = translations[_i].figures;
	struct error_figures got = error_figures_of_finding(finding);

	ck_assert_int_eq(got.kind, want.kind);
	ck_assert_int_eq(got.offset_known, want.offset_known);
	ck_assert_int_eq(got.offset, want.offset);
	ck_assert_uint_eq(got.overflow_bytes, want.overflow_bytes);
}
END_TEST

/* The table above covers every problem debug_block_check() can find. */
START_TEST(test_figures_cover_every_problem)
{
	static const enum debug_block_problem problems[] = { BLOCK_OK, BLOCK_HEADER_DAMAGED,
		BLOCK_UNDERFLOW, BLOCK_OVERFLOW, BLOCK_POISON_DAMAGED };

	for (size_t p = 0; p < sizeof(problems) / sizeof(problems[0]); p++) {
		bool covered = false;
		for (size_t t = 0; t < sizeof(translations) / sizeof(translations[0]); t++)
			covered |= translations[t].finding.problem == problems[p];
		ck_assert_msg(covered, "problem %d has no translation case", problems[p]);
	}
}
END_TEST

static Suite *error_kind_suite(void)
{
	Suite *suite = suite_create("error_kind");
	TCase *table = tcase_create("table");
	TCase *figures = tcase_create("figures");

	tcase_add_test(table, test_table_is_valid);
	tcase_add_test(table, test_every_kind_round_trips_by_name);
	tcase_add_loop_test(table, test_reported_names_map_to_their_kinds, 0,
		(int)(sizeof(reported) / sizeof(reported[0])));
	tcase_add_test(table, test_names_are_exact);
	tcase_add_test(table, test_headline_of_real_first_lines);
	tcase_add_test(table, test_headline_near_misses);
	tcase_add_test(table, test_precedence_of_pointer_checks);
	tcase_add_test(table, test_leak_flags);
	tcase_add_test(table, test_out_of_range_is_the_unknown_row);
	suite_add_tcase(suite, table);

	tcase_add_loop_test(figures, test_figures_of_every_finding, 0,
		(int)(sizeof(translations) / sizeof(translations[0])));
	tcase_add_test(figures, test_figures_cover_every_problem);
	suite_add_tcase(suite, figures);
	return suite;
}

int main(void)
{
	return run_check_suite(error_kind_suite(), CK_FORK_GETENV);
}
