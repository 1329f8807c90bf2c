/*
 * test_guard_stacks.c - Check suite: the stack of a guard page fault in
 * functions that keep no frame pointer (glibc's memcpy and memset, a driver
 * built at -O2 as Debian builds drivers). The signal handler walks the
 * frame-pointer chain, which skips every such function's caller (the
 * driver function that called memcpy, the one a developer needs, and those
 * that called it); the report walks the stack words the handler copied by
 * the unwind tables instead (src/debug/guarded_report.c, access_frames),
 * and the whole chain is there: memcpy, each driver function, the test.
 * Past the 4 KiB the handler copies, the handler's frame-pointer chain goes
 * on only where it meets the tables' walk: with frame pointers it does; in
 * a driver without them the stack ends with the copy, no stale word taken
 * for a frame.
 *
 * Each test loads the debug module with guard=1 (Check forks every test)
 * and takes the reports through the companion's report hook.
 *
 * Locking: the report hook may run on any thread; recorded_lock
 * (support/report_recorder.h) protects the records.
 */
#include "config.h"
#include "support/check_main.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/valgrind.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "support/report_recorder.h"
#include "support/debug_module.h"
#include "guard/frameless_driver.h"

#define RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)

static area_malloc_module_info *am;
static area_malloc_debug_module_info *dbg;

struct site {
	uintptr_t before, after;
};

static __attribute__((noipa)) uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

/* The driver's function: its call of memcpy or memset lies between the
 * two here() calls, so memcpy's return address into it does too. */
static __attribute__((noipa)) void copy_into(struct site *site, char *to, const char *from,
	size_t length)
{
	site->before = here();
	memcpy(to, from, length);
	site->after = here();
}

static __attribute__((noipa)) void clear(struct site *site, char *to, size_t length)
{
	site->before = here();
	memset(to, 0, length);
	site->after = here();
}

/* The one report is an overflow of block whose frames[1] is the return
 * address into the driver's function at site. Under AddressSanitizer
 * memcpy and memset are its interceptors, which call libc's (or its own
 * copy): the driver's function is then one of the next frames. */
static void assert_caller_found(const void *block, const struct site *site)
{
#ifdef __SANITIZE_ADDRESS__
	const unsigned last = 3;
#else
	const unsigned last = 1;
#endif
	const struct recorded *r;
	unsigned frame;

	assert_reports(1);
	r = &recorded[0];
	ck_assert_str_eq(r->kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(r->address, block);
	for (frame = 1; frame <= last && frame < r->detected_by.frame_count; frame++)
		if (site->before < r->detected_by.frames[frame]
			&& r->detected_by.frames[frame] < site->after)
			break;
	ck_assert_msg(frame <= last && frame < r->detected_by.frame_count,
		"no frame among #1..#%u is the call in the driver's function (%#lx..%#lx): "
		"#1 %#lx",
		last, (unsigned long)site->before, (unsigned long)site->after,
		(unsigned long)(r->detected_by.frame_count > 1 ? r->detected_by.frames[1] : 0));
}

/* A block of size in a new pool of the debug module, loaded with every
 * block guarded. */
static char *open_guarded_block(size_t size, const void **pool)
{
	char *block;

	debug_module_open("guard=1:exitcode=0", &am, &dbg);
	*pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 16, B_NO_LOCK, RW);
	ck_assert_ptr_nonnull(*pool);
	block = am->malloc(*pool, size);
	ck_assert_ptr_nonnull(block);
	return block;
}

/* A block of size in a guarded pool, written past by write_past. */
typedef void (*write_past_fn)(struct site *site, char *block, size_t size);

static void write_past_names_the_caller(size_t size, write_past_fn write_past)
{
	const void *pool;
	struct site site;
	char *block = open_guarded_block(size, &pool);

	write_past(&site, block, size);
	am->free(pool, am->malloc(pool, 1)); /* makes the fault's report */
	assert_caller_found(block, &site);
	debug_module_close();
}

static void copy_16_past(struct site *site, char *block, size_t size)
{
	static const char source[8192];

	copy_into(site, block, source, size + 16);
}

static void clear_100_past(struct site *site, char *block, size_t size)
{
	clear(site, block, size + 100);
}

START_TEST(memcpy_past_a_block_names_its_caller)
{
	if (!RUNNING_ON_VALGRIND)
		write_past_names_the_caller(32, copy_16_past);
}
END_TEST

START_TEST(memset_past_a_block_names_its_caller)
{
	if (!RUNNING_ON_VALGRIND)
		write_past_names_the_caller(4096, clear_100_past);
}
END_TEST

/*
 * A whole driver without frame pointers (frameless_driver.c): the report
 * has memset's or memcpy's frame, then each of the driver's three
 * functions in turn, then the test function that called the driver
 * (which keeps its frame), then that function's own caller, found by the
 * handler's frame-pointer walk or the tables: the chain is whole, with no
 * frame twice.
 */
struct frameless_run {
	struct frameless_sites sites;
	struct site test_call;
	uintptr_t test_returns_to;
};

/* One call site between the two here() calls (a branch around two calls
 * would let the compiler lay one outside them). */
static __attribute__((noipa)) void run_frameless_driver(struct frameless_run *run,
	frameless_entry *entry, char *block, size_t length)
{
	static const char source[8192];

	run->test_returns_to = (uintptr_t)__builtin_return_address(0);
	run->test_call.before = here();
	entry(&run->sites, block, source, length);
	run->test_call.after = here();
}

static bool inside(uintptr_t address, uintptr_t before, uintptr_t after)
{
	return before < address && address < after;
}

static void frameless_chain_is_whole(size_t size, frameless_entry *entry, size_t past)
{
#ifdef __SANITIZE_ADDRESS__
	const unsigned last_first = 3; /* past ASan's interceptor frames */
#else
	const unsigned last_first = 1;
#endif
	struct frameless_run run;
	const struct recorded *r;
	const uintptr_t *frames;
	unsigned first;
	const void *pool;
	char *block = open_guarded_block(size, &pool);

	run_frameless_driver(&run, entry, block, size + past);
	am->free(pool, am->malloc(pool, 1)); /* makes the fault's report */
	assert_reports(1);
	r = &recorded[0];
	frames = r->detected_by.frames;
	ck_assert_str_eq(r->kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(r->address, block);
	for (first = 1; first <= last_first && first < r->detected_by.frame_count; first++)
		if (inside(frames[first], run.sites.level[0].before, run.sites.level[0].after))
			break;
	ck_assert_msg(first <= last_first,
		"no frame among #1..#%u is memset's or memcpy's call "
		"in the driver; #1 %#lx",
		last_first, (unsigned long)frames[1]);
	ck_assert_uint_gt(r->detected_by.frame_count, first + 4);
	for (unsigned level = 1; level < 3; level++)
		ck_assert_msg(inside(frames[first + level], run.sites.level[level].before,
				      run.sites.level[level].after),
			"frame #%u is %#lx, not the driver's call at level %u", first + level,
			(unsigned long)frames[first + level], level);
	ck_assert_msg(inside(frames[first + 3], run.test_call.before, run.test_call.after),
		"frame #%u is %#lx, not the test's call of the driver:\n%s", first + 3,
		(unsigned long)frames[first + 3], r->text);
	ck_assert_uint_eq(frames[first + 4], run.test_returns_to);
	debug_module_close();
}

START_TEST(frameless_driver_memset_chain_is_whole)
{
	if (!RUNNING_ON_VALGRIND)
		frameless_chain_is_whole(4096, frameless_outer_clear, 100);
}
END_TEST

START_TEST(frameless_driver_memcpy_chain_is_whole)
{
	if (!RUNNING_ON_VALGRIND)
		frameless_chain_is_whole(32, frameless_outer_copy, 16);
}
END_TEST

/*
 * Stacks deeper than the 4 KiB the fault handler copies: a caller with a
 * 6000-byte frame between the access and the rest of the stack. The
 * tables' walk ends in that caller (its return address lies past the
 * copy). With frame pointers all the way down, the handler's chain meets
 * the walk there and the stack goes on to the caller's caller; in a driver
 * without frame pointers the handler's chain began at whatever the driver
 * left in rbp, so the stack ends in the deep caller, with no frame made
 * up from a stale word.
 */
struct deep_call {
	void (*call)(struct deep_call *deep);
	struct site site; /* the call of call() */
	uintptr_t returns_to;
	char *block;
	size_t size;
	struct frameless_run run; /* call is run_frameless_deep */
	struct site copy_site;    /* call is copy_deep */
};

static __attribute__((noipa)) void deep_caller(struct deep_call *deep)
{
	volatile char locals[6000];

	locals[0] = 1;
	locals[sizeof(locals) - 1] = 1;
	deep->returns_to = (uintptr_t)__builtin_return_address(0);
	deep->site.before = here();
	deep->call(deep);
	deep->site.after = here();
	locals[1] = locals[0];
}

static __attribute__((noipa)) void run_frameless_deep(struct deep_call *deep)
{
	run_frameless_driver(&deep->run, frameless_outer_clear, deep->block, deep->size + 100);
}

static __attribute__((noipa)) void copy_deep(struct deep_call *deep)
{
	static const char source[8192];

	copy_into(&deep->copy_site, deep->block, source, deep->size + 16);
}

/* The frame of frames[] (count of them) inside (before, after), from #1 to
 * #last. */
static unsigned frame_inside(const uintptr_t *frames, unsigned count, unsigned last,
	uintptr_t before, uintptr_t after)
{
	unsigned frame;

	for (frame = 1; frame <= last && frame < count; frame++)
		if (inside(frames[frame], before, after))
			return frame;
	ck_abort_msg("no frame among #1..#%u lies in %#lx..%#lx", last, (unsigned long)before,
		(unsigned long)after);
	return 0;
}

/*
 * Runs call under deep_caller, overflowing a guarded block of size, and
 * takes the one report; returns it, with *access the index of the frame
 * inside the driver's call of memset or memcpy (*before, *after: that
 * call's bounds, which the call fills in).
 */
static const struct recorded *deep_fault(struct deep_call *deep, void (*call)(struct deep_call *),
	size_t size, const uintptr_t *before, const uintptr_t *after, unsigned *access)
{
	const void *pool;
	const struct recorded *r;

	deep->call = call;
	deep->size = size;
	deep->block = open_guarded_block(size, &pool);
	deep_caller(deep);
	am->free(pool, am->malloc(pool, 1)); /* makes the fault's report */
	assert_reports(1);
	r = &recorded[0];
	ck_assert_str_eq(r->kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(r->address, deep->block);
	*access =
		frame_inside(r->detected_by.frames, r->detected_by.frame_count, 3, *before, *after);
	return r;
}

START_TEST(deep_frameless_stack_ends_with_the_copy)
{
	struct deep_call deep;
	const struct recorded *r;
	unsigned driver;

	if (RUNNING_ON_VALGRIND)
		return;
	r = deep_fault(&deep, run_frameless_deep, 4096, &deep.run.sites.level[0].before,
		&deep.run.sites.level[0].after, &driver);
	/* memset, the driver's three functions, run_frameless_driver,
	 * run_frameless_deep, deep_caller: then nothing */
	ck_assert_msg(r->detected_by.frame_count == driver + 6, "%u frames, %u wanted:\n%s",
		r->detected_by.frame_count, driver + 6, r->text);
	ck_assert(inside(r->detected_by.frames[driver + 3], deep.run.test_call.before,
		deep.run.test_call.after));
	ck_assert_uint_eq(r->detected_by.frames[driver + 4], deep.run.test_returns_to);
	ck_assert(inside(r->detected_by.frames[driver + 5], deep.site.before, deep.site.after));
	debug_module_close();
}
END_TEST

START_TEST(deep_stack_with_frame_pointers_goes_on_past_the_copy)
{
	struct deep_call deep;
	const struct recorded *r;
	unsigned driver;

	if (RUNNING_ON_VALGRIND)
		return;
	r = deep_fault(&deep, copy_deep, 32, &deep.copy_site.before, &deep.copy_site.after,
		&driver);
	/* memcpy, copy_into, copy_deep, deep_caller, then its caller */
	ck_assert_msg(r->detected_by.frame_count > driver + 3, "%u frames:\n%s",
		r->detected_by.frame_count, r->text);
	ck_assert(inside(r->detected_by.frames[driver + 2], deep.site.before, deep.site.after));
	ck_assert_msg(r->detected_by.frames[driver + 3] == deep.returns_to,
		"frame #%u is %#lx, not deep_caller's return address %#lx:\n%s", driver + 3,
		(unsigned long)r->detected_by.frames[driver + 3], (unsigned long)deep.returns_to,
		r->text);
	debug_module_close();
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("guard_stacks");
	TCase *tcase = tcase_create("frameless");

	tcase_add_test(tcase, memcpy_past_a_block_names_its_caller);
	tcase_add_test(tcase, memset_past_a_block_names_its_caller);
	tcase_add_test(tcase, frameless_driver_memset_chain_is_whole);
	tcase_add_test(tcase, frameless_driver_memcpy_chain_is_whole);
	tcase_add_test(tcase, deep_frameless_stack_ends_with_the_copy);
	tcase_add_test(tcase, deep_stack_with_frame_pointers_goes_on_past_the_copy);
	suite_add_tcase(suite, tcase);
	return run_check_suite(suite, CK_FORK);
}
