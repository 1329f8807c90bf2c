/*
 * test_guarded_blocks.c - Check suite: the debug module's guarded blocks
 * (src/debug/guarded.h, issue 15), end to end through the module
 * interface.
 *
 * Each test loads the debug module with its own AREA_MALLOC_OPTIONS (Check
 * forks every test), takes every report through the companion module's
 * report hook and asserts, at the access: the exact kind, the block's
 * address and size, READ or WRITE and the faulting address (the report's
 * text), the owner of the access (its thread; frames[0], the faulting pc,
 * lies between two calls that bracket the access) and the block's allocation
 * and free owners. Overflows of 1, 8 and 4096 bytes past blocks whose size
 * is a multiple of 16, small and large; the slack canary of other sizes at
 * free; underflow in underflow mode; reads and writes after free; several
 * threads; a driver's own SIGSEGV handler, installed before or after the
 * module; fork; the caps (per pool and per process), which fall back to
 * canary blocks; sampling at its rate, reproducible by its seed; the exit
 * status and halt_on_error; pooldump's views of them (pool, pools,
 * allocations, leaks, check, scan), of a live process and of a dead one,
 * and its refusal of a damaged guard table. Clean workloads with guards on make no report.
 * Under Valgrind guards are off (the one test there says so).
 *
 * Locking: the report hook may run on any thread; recorded_lock (support/report_recorder.h) protects the
 * records.
 */
#include "config.h"
#include "support/check_main.h"

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "format/guard_table.h"
#include "kernel/guard_fault.h"

#define RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define EXIT_STATUS_AFTER_ERRORS 23
#define MAX_RECORDED 64
#define RECORDED_TEXT_MAX 4096
#include "support/report_recorder.h"
#include "support/debug_module.h"

static area_malloc_module_info *am;
static area_malloc_debug_module_info *dbg;

static bool under_valgrind(void)
{
	return RUNNING_ON_VALGRIND;
}

static void open_module(const char *options)
{
	debug_module_open(options, &am, &dbg);
}

/* A fresh node directory (dir: a mkdtemp template, removed by
 * remove_tree), and the module with options and node_dir=dir. */
static void open_module_in(char *dir, const char *options)
{
	char all[PATH_MAX + 256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(all, sizeof(all), "%s:node_dir=%s", options, dir);
	open_module(all);
}

/* open_module, and the companion's v2 interface (scan_leaks, not_leak),
 * which the caller puts before close_module. */
static area_malloc_debug_module_info_v2 *open_module_v2(const char *options)
{
	area_malloc_debug_module_info_v2 *v2;

	open_module(options);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME, (module_info **)&v2), B_OK);
	return v2;
}

static void close_module(void)
{
	debug_module_close();
}

static const void *new_pool(size_t size)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, size, B_NO_LOCK, RW);

	ck_assert_ptr_nonnull(pool);
	return pool;
}

/* rm -rf dir (a node directory of a test). */
static void remove_tree(const char *dir)
{
	char command[PATH_MAX + 16];

	snprintf(command, sizeof(command), "rm -rf %s", dir);
	ck_assert_int_eq(system(command), 0);
}

/* Whether text holds the text format makes (kept in wanted, for the
 * message of ASSERT_HAS). */
static char wanted[512];

static __attribute__((format(printf, 2, 3))) bool has(const char *text, const char *format, ...)
{
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(wanted, sizeof(wanted), format, arguments);
	va_end(arguments);
	return strstr(text, wanted) != NULL;
}

#define ASSERT_HAS(text, ...)                                                                      \
	ck_assert_msg(has(text, __VA_ARGS__), "no \"%s\" in:\n%s", wanted, text)

/* ---- a child's exit report ---- */

/* A child whose exit report the parent reads (exit_reporting,
 * wait_for_exit_report): its text goes to *fd, a file made from the
 * mkstemp template path; channel is made for its data. */
static pid_t fork_reporting(char *path, int *fd, int channel[2])
{
	pid_t child;

	*fd = mkstemp(path);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(pipe(channel), 0);
	child = fork();
	ck_assert_int_ne(child, -1);
	return child;
}

/* In a forked child: hands data to the parent through channel, then
 * exits, its reports (the exit report among them) going to fd as text. */
static __attribute__((noreturn)) void exit_reporting(int channel[2], const void *data, size_t bytes,
	int fd)
{
	(void)!write(channel[1], data, bytes);
	dbg->set_report_hook(NULL, NULL);
	dup2(fd, STDERR_FILENO);
	exit(0);
}

/* The parent's side: the child's data, its text into text; the child must
 * have exited with the status after errors (its reports). */
static void wait_for_exit_report(pid_t child, int channel[2], void *data, size_t bytes, int fd,
	char *text, size_t size)
{
	ssize_t got, length;
	int status;

	close(channel[1]); /* a child that fails before it writes ends the read */
	got = read(channel[0], data, bytes);
	close(channel[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	length = pread(fd, text, size - 1, 0);
	ck_assert_int_ge(length, 0);
	text[length] = '\0';
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_STATUS_AFTER_ERRORS,
		"the child ended %#x:\n%s", status, text);
	ck_assert_int_eq(got, (ssize_t)bytes);
}

/* ---- accesses, each in a function that keeps its frame ---- */

static __attribute__((noipa)) uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

static __attribute__((noipa)) void poke(volatile char *at, char value)
{
	*at = value;
}

static __attribute__((noipa)) char peek(const volatile char *at)
{
	return *at;
}

struct site {
	uintptr_t before, after;
};

/* One access, bracketed: the faulting pc lies between the two here()
 * calls (one function each, straight code, so no branch moves the access
 * elsewhere). Not instrumented by AddressSanitizer: the guard pages are
 * under test, and a probe of a canary block (guarded_among) is no bug. */
#define PROBE __attribute__((noipa, no_sanitize_address))

static PROBE void write_at(struct site *site, char *at)
{
	site->before = here();
	*(volatile char *)at = 0x5a;
	site->after = here();
}

static PROBE void read_at(struct site *site, char *at)
{
	site->before = here();
	(void)*(volatile char *)at;
	site->after = here();
}

static void access_at(struct site *site, char *at, bool write)
{
	if (write)
		write_at(site, at);
	else
		read_at(site, at);
}

/* Any call that acquires a pool makes the reports of the faults so far. */
static void flush(const void *pool)
{
	void *block = am->malloc(pool, 1);

	ck_assert_ptr_nonnull(block);
	am->free(pool, block);
}

/* The report numbered index is a fault report of kind about the block
 * (user, size), for the access at address by this thread from site. */
static void assert_fault(int index, const char *kind, const void *user, size_t size,
	const void *address, bool write, const struct site *site)
{
	const struct recorded *r = &recorded[index];
	char expected[96];

	ck_assert_str_eq(r->kind, kind);
	ck_assert_ptr_eq(r->address, user);
	ck_assert_uint_eq(r->size, size);
	snprintf(expected, sizeof(expected), "%s of address %p at pc", write ? "WRITE" : "READ",
		address);
	ck_assert_msg(strstr(r->text, expected) != NULL, "no \"%s\" in:\n%s", expected, r->text);
	ck_assert_int_eq(r->detected_by.thread, find_thread(NULL));
	ck_assert_int_eq(r->detected_by.team, getpid());
	ck_assert_uint_ge(r->detected_by.frame_count, 2);
	ck_assert_msg(site->before < r->detected_by.frames[0]
			&& r->detected_by.frames[0] < site->after,
		"frames[0] %#" PRIxPTR " is not the access", r->detected_by.frames[0]);
	ck_assert(r->has_allocated_by);
	ck_assert_int_eq(r->allocated_by.thread, find_thread(NULL));
	ck_assert_uint_ge(r->allocated_by.frame_count, 1);
	ck_assert(r->has_freed_by == (strcmp(kind, "use-after-free") == 0));
}

/* ---- overflow ---- */

static const size_t sizes[] = { 16, 48, 4096, 40000 }; /* multiples of 16; 40000: large */
static const size_t distances[] = { 1, 8, 4096 };

START_TEST(overflow_faults_at_the_access)
{
	const void *pool;
	int expected = 0;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 20);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t d = 0; d < sizeof(distances) / sizeof(distances[0]); d++) {
			for (int write = 0; write <= 1; write++) {
				char *block = am->malloc(pool, sizes[s]);
				char *at = block + sizes[s] + distances[d] - 1;
				struct site site;
				ck_assert_ptr_nonnull(block);
				access_at(&site, at, write);
				am->free(pool, block); /* makes the report; nothing more */
				assert_reports(++expected);
				assert_fault(expected - 1, "heap-buffer-overflow", block, sizes[s],
					at, write, &site);
			}
		}
	}
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(expected);
	close_module();
}
END_TEST

/* A size that is not a multiple of 16 leaves slack below the guard page:
 * a canary, reported at free; past the slack, the guard page faults. */
START_TEST(slack_is_a_canary)
{
	const void *pool;
	char *block;
	struct site site;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 16);
	block = am->malloc(pool, 20);
	ck_assert_ptr_nonnull(block);
	ck_assert_uint_eq((uintptr_t)(block + 32) % B_PAGE_SIZE, 0);
	block[21] = 1; /* in the slack: no fault */
	assert_reports(0);
	access_at(&site, block + 32, false);
	am->free(pool, block);
	assert_reports(2);
	assert_fault(0, "heap-buffer-overflow", block, 20, block + 32, false, &site);
	ck_assert_str_eq(recorded[1].kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(recorded[1].address, block);
	ck_assert_uint_eq(recorded[1].size, 20);
	ck_assert_ptr_nonnull(strstr(recorded[1].text, "slack canary"));
	ck_assert_ptr_nonnull(strstr(recorded[1].text, "offset 21"));
	ck_assert_ptr_nonnull(strstr(recorded[1].text, "past the end of the 20-byte block"));
	close_module();
}
END_TEST

/* ---- underflow ---- */

START_TEST(underflow_faults_in_underflow_mode)
{
	const void *pool;
	int expected = 0;

	if (under_valgrind())
		return;
	open_module("guard=1:guard_underflow=1");
	pool = new_pool(1 << 20);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int write = 0; write <= 1; write++) {
			char *block = am->malloc(pool, sizes[s]);
			struct site site;
			ck_assert_ptr_nonnull(block);
			ck_assert_uint_eq((uintptr_t)block % B_PAGE_SIZE, 0);
			access_at(&site, block - 1 - 7 * write, write);
			am->free(pool, block);
			assert_reports(++expected);
			assert_fault(expected - 1, "heap-buffer-underflow", block, sizes[s],
				block - 1 - 7 * write, write, &site);
		}
	}
	close_module();
}
END_TEST

/* ---- use after free ---- */

START_TEST(use_after_free_faults)
{
	const void *pool;
	int expected = 0;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 20);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int write = 0; write <= 1; write++) {
			char *block = am->malloc(pool, sizes[s]);
			char *at = block + (write ? sizes[s] - 1 : 0);
			struct site site;
			ck_assert_ptr_nonnull(block);
			am->free(pool, block);
			access_at(&site, at, write);
			flush(pool);
			assert_reports(++expected);
			assert_fault(expected - 1, "use-after-free", block, sizes[s], at, write,
				&site);
			ck_assert_int_eq(recorded[expected - 1].freed_by.thread, find_thread(NULL));
		}
	}
	close_module();
}
END_TEST

/* A second free of a guarded block is refused and reported. */
START_TEST(double_free_of_a_guarded_block)
{
	const void *pool;
	char *block;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 16);
	block = am->malloc(pool, 64);
	am->free(pool, block);
	am->free(pool, block);
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "double-free");
	ck_assert_ptr_eq(recorded[0].address, block);
	ck_assert_uint_eq(recorded[0].size, 64);
	ck_assert(recorded[0].has_freed_by);
	close_module();
}
END_TEST

/* check_pool checks guarded blocks' canaries (and finds their charge to
 * the pool's capacity right); delete_pool reports live ones as leaks. */
START_TEST(checks_and_leaks_see_guarded_blocks)
{
	const void *pool;
	char *damaged, *leaked;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 16);
	damaged = am->malloc(pool, 40);
	leaked = am->malloc(pool, 64);
	ck_assert_int_eq(dbg->check_pool(pool), 0);
	damaged[41] = 1; /* in the slack: no fault */
	ck_assert_int_eq(dbg->check_pool(pool), 1);
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "heap-buffer-overflow");
	ck_assert_ptr_eq(recorded[0].address, damaged);
	ck_assert_uint_eq(recorded[0].size, 40);
	ck_assert_ptr_nonnull(strstr(recorded[0].text, "found at check"));
	damaged[41] = (char)0xfd; /* the canary again */
	am->free(pool, damaged);
	assert_reports(1);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(2);
	ck_assert_str_eq(recorded[1].kind, "detected memory leaks");
	ck_assert_uint_eq(recorded[1].leaked_blocks, 1);
	ck_assert_uint_eq(recorded[1].leaked_bytes, 64);
	ck_assert_ptr_nonnull(strstr(recorded[1].text, "Leak of 64 byte(s) in 1 allocation(s)"));
	(void)leaked;
	close_module();
}
END_TEST

/* The reachability scan reads guarded blocks and judges them as any
 * block: one reached only through another guarded block is referenced,
 * one whose address is kept only complemented is unreferenced. */
static void *volatile held;       /* the root of a and b */
static volatile uintptr_t hidden; /* ~address of the lost block */

/* The one report so far is a leak report of one block of bytes. */
static void assert_only_leak(size_t bytes)
{
	assert_reports(1);
	ck_assert_str_eq(recorded[0].kind, "detected memory leaks");
	ck_assert_uint_eq(recorded[0].leaked_blocks, 1);
	ck_assert_uint_eq(recorded[0].leaked_bytes, bytes);
}

static __attribute__((noipa)) void allocate_out_of_sight(const void *pool)
{
	hidden = ~(uintptr_t)am->malloc(pool, 32);
}

START_TEST(reachability_scan_reads_guarded_blocks)
{
	area_malloc_debug_module_info_v2 *v2;
	area_malloc_scan_result result;
	const void *pool;
	void **a;

	if (under_valgrind())
		return;
	v2 = open_module_v2("guard=1");
	pool = new_pool(1 << 16);
	a = am->malloc(pool, 64);
	a[0] = am->malloc(pool, 64); /* b: its only pointer is in a */
	held = a;
	allocate_out_of_sight(pool);
	ck_assert_int_eq(v2->scan_leaks(pool, &result), B_OK);
	ck_assert_uint_eq(result.referenced_blocks, 2);
	ck_assert_uint_eq(result.unreferenced_blocks, 1);
	ck_assert_uint_eq(result.unreferenced_bytes, 32);
	assert_only_leak(32);
	am->free(pool, (void *)~hidden);
	am->free(pool, a[0]);
	am->free(pool, a);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME), B_OK);
	close_module();
}
END_TEST

/* not_leak takes a live guarded block as a root, as a heap block: a scan
 * judges it (and what it reaches) referenced, so neither scan_leaks nor
 * the exit report under leak_mode=unreferenced lists it; a guarded block
 * not marked is listed. The marked block fills its page: the byte before
 * it lies on a protected page, which the scan must not read. */
static volatile uintptr_t hidden_marked; /* ~address of the marked block */

static __attribute__((noipa)) void allocate_marked_out_of_sight(const void *pool)
{
	hidden_marked = ~(uintptr_t)am->malloc(pool, 4096);
}

/* Two lost guarded blocks (hidden, 32 bytes; hidden_marked, 4096 bytes),
 * the second marked not_leak. */
static void lose_two_and_mark_one(area_malloc_debug_module_info_v2 *v2, const void *pool)
{
	allocate_out_of_sight(pool);
	allocate_marked_out_of_sight(pool);
	ck_assert_int_eq(((uintptr_t)~hidden_marked) % B_PAGE_SIZE, 0);
	ck_assert_int_eq(v2->not_leak(pool, (void *)~hidden_marked), B_OK);
}

START_TEST(not_leak_takes_a_guarded_block)
{
	char path[] = "/tmp/guarded-not-leak-XXXXXX", text[16384] = "", expected[128];
	uintptr_t lost[2];
	int channel[2];
	area_malloc_debug_module_info_v2 *v2;
	area_malloc_scan_result result;
	const void *pool;
	char *freed;
	int fd;
	pid_t child;

	if (under_valgrind())
		return;
	v2 = open_module_v2("guard=1:guard_sample=0:leak_mode=unreferenced");
	pool = new_pool(1 << 16);
	/* not a live block's start: refused */
	freed = am->malloc(pool, 64);
	ck_assert_int_eq(v2->not_leak(pool, freed + 16), B_BAD_VALUE);
	am->free(pool, freed);
	ck_assert_int_eq(v2->not_leak(pool, freed), B_BAD_VALUE);

	/* scan_leaks */
	lose_two_and_mark_one(v2, pool);
	ck_assert_int_eq(v2->scan_leaks(pool, &result), B_OK);
	ck_assert_uint_eq(result.referenced_blocks, 1);
	ck_assert_uint_eq(result.referenced_bytes, 4096);
	ck_assert_uint_eq(result.unreferenced_blocks, 1);
	ck_assert_uint_eq(result.unreferenced_bytes, 32);
	ck_assert_uint_eq(result.indirect_blocks, 0);
	assert_only_leak(32);
	snprintf(expected, sizeof(expected), "(first block %p,", (void *)~hidden);
	ck_assert_msg(strstr(recorded[0].text, expected) != NULL, "%s", recorded[0].text);
	am->free(pool, (void *)~hidden);
	am->free(pool, (void *)~hidden_marked);

	/* at exit, in a child: its two blocks, the marked one held back */
	child = fork_reporting(path, &fd, channel);
	if (child == 0) {
		lose_two_and_mark_one(v2, pool);
		lost[0] = hidden;
		lost[1] = hidden_marked;
		exit_reporting(channel, lost, sizeof(lost), fd);
	}
	wait_for_exit_report(child, channel, lost, sizeof(lost), fd, text, sizeof(text));
	ASSERT_HAS(text, "Leak of 32 byte(s) in 1 allocation(s) allocated from:\n");
	ASSERT_HAS(text, "(first block %p, thread T%d, seq 6, ", (void *)~lost[0], (int)child);
	ASSERT_HAS(text,
		"Still referenced, not leaks with leak_mode=unreferenced: 4096 byte(s) in "
		"1 allocation(s).\n");
	ASSERT_HAS(text, "SUMMARY: area_malloc: 32 byte(s) leaked in 1 allocation(s).\n");
	ck_assert_msg(!has(text, "%p", (void *)~lost[1]), "%s", text);
	close(fd);
	unlink(path);
	assert_reports(1); /* the scan's, nothing since */
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME), B_OK);
	close_module();
}
END_TEST

/* ---- threads ---- */

#define THREADS 4

struct thread_work {
	const void *pool;
	char *block;
	char *at;
	struct site site;
	thread_id thread;
};

static void *overflow_in_thread(void *context)
{
	struct thread_work *work = context;

	work->thread = find_thread(NULL);
	work->block = am->malloc(work->pool, 32);
	work->at = work->block + 32 + 8 * (work->thread % 4);
	access_at(&work->site, work->at, true);
	/* the others allocate and free meanwhile */
	for (int i = 0; i < 50; i++)
		am->free(work->pool, am->malloc(work->pool, 16 + (size_t)i));
	am->free(work->pool, work->block);
	return NULL;
}

START_TEST(faults_in_several_threads)
{
	struct thread_work work[THREADS];
	pthread_t threads[THREADS];
	const void *pool;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 20);
	for (int i = 0; i < THREADS; i++) {
		work[i].pool = pool;
		ck_assert_int_eq(pthread_create(&threads[i], NULL, overflow_in_thread, &work[i]),
			0);
	}
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
	flush(pool);
	assert_reports(THREADS);
	for (int i = 0; i < THREADS; i++) {
		int found = 0;
		for (int r = 0; r < THREADS; r++) {
			char expected[64];
			if (recorded[r].address != work[i].block)
				continue;
			found++;
			snprintf(expected, sizeof(expected), "WRITE of address %p", work[i].at);
			ck_assert_str_eq(recorded[r].kind, "heap-buffer-overflow");
			ck_assert_int_eq(recorded[r].detected_by.thread, work[i].thread);
			ck_assert_int_eq(recorded[r].allocated_by.thread, work[i].thread);
			ck_assert_ptr_nonnull(strstr(recorded[r].text, expected));
			ck_assert(work[i].site.before < recorded[r].detected_by.frames[0]
				&& recorded[r].detected_by.frames[0] < work[i].site.after);
		}
		ck_assert_int_eq(found, 1);
	}
	close_module();
}
END_TEST

/* ---- a driver's own SIGSEGV handler ---- */

static struct sigaction before_driver;
static sigjmp_buf driver_jump;
static void *driver_page;
static volatile int driver_faults;

static void driver_handler(int signal, siginfo_t *info, void *context)
{
	if (info->si_addr == driver_page) {
		driver_faults++;
		siglongjmp(driver_jump, 1);
	}
	/* not the driver's: the handler it replaced (guard faults included) */
	before_driver.sa_sigaction(signal, info, context);
}

static void install_driver_handler(void)
{
	struct sigaction action = { .sa_sigaction = driver_handler, .sa_flags = SA_SIGINFO };

	sigemptyset(&action.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &action, &before_driver), 0);
	ck_assert(before_driver.sa_flags & SA_SIGINFO);
	driver_page = mmap(NULL, B_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(driver_page, MAP_FAILED);
}

/* The driver's own fault reaches its handler, a guard fault the module. */
static void driver_and_guard_faults(const void *pool)
{
	char *block = am->malloc(pool, 64);
	struct site site;

	if (sigsetjmp(driver_jump, 1) == 0)
		(void)peek(driver_page);
	ck_assert_int_eq(driver_faults, 1);
	assert_reports(0);
	access_at(&site, block + 64, true);
	am->free(pool, block);
	assert_reports(1);
	assert_fault(0, "heap-buffer-overflow", block, 64, block + 64, true, &site);
	ck_assert_int_eq(driver_faults, 1);
}

START_TEST(driver_handler_installed_after)
{
	const void *pool;

	if (under_valgrind())
		return;
	open_module("guard=1");
	pool = new_pool(1 << 16); /* the first guarded range installs the module's handler */
	install_driver_handler();
	driver_and_guard_faults(pool);
	close_module();
}
END_TEST

/* Installed before: the module's handler gets the driver's fault first and
 * hands it on. The driver chains to SIG_DFL then, so it may not call it:
 * its own page is all it sees. */
static void driver_handler_first(int signal, siginfo_t *info, void *context)
{
	(void)signal;
	(void)context;
	if (info->si_addr == driver_page) {
		driver_faults++;
		siglongjmp(driver_jump, 1);
	}
	abort();
}

START_TEST(driver_handler_installed_before)
{
	struct sigaction action = { .sa_sigaction = driver_handler_first, .sa_flags = SA_SIGINFO };
	const void *pool;
	char *block;
	struct site site;

	if (under_valgrind())
		return;
	sigemptyset(&action.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &action, NULL), 0);
	driver_page = mmap(NULL, B_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(driver_page, MAP_FAILED);
	open_module("guard=1");
	pool = new_pool(1 << 16);
	block = am->malloc(pool, 64);
	if (sigsetjmp(driver_jump, 1) == 0)
		(void)peek(driver_page);
	ck_assert_int_eq(driver_faults, 1);
	access_at(&site, block + 64, false);
	am->free(pool, block);
	assert_reports(1);
	assert_fault(0, "heap-buffer-overflow", block, 64, block + 64, false, &site);
	close_module();
}
END_TEST

/* ---- fork ---- */

/* In a forked child: its copy of live holds live's bytes (7), an overflow
 * of live (a WRITE one past its 32 bytes) and a read of freed fault with
 * their reports. 0, or the step that failed (an exit status). */
static int child_guards_fault(const void *pool, char *live, char *freed)
{
	char write_text[96], read_text[96];
	struct site site;

	recorded_count = 0;
	/* the block's data is the child's copy, its guard still there */
	if (live[31] != 7)
		return 10;
	access_at(&site, live + 32, true);
	access_at(&site, freed, false);
	flush(pool);
	snprintf(write_text, sizeof(write_text), "WRITE of address %p at pc", live + 32);
	snprintf(read_text, sizeof(read_text), "READ of address %p at pc", freed);
	if (reports_so_far() != 2 || strcmp(recorded[0].kind, "heap-buffer-overflow") != 0
		|| recorded[0].address != live || recorded[0].size != 32
		|| strstr(recorded[0].text, write_text) == NULL
		|| strcmp(recorded[1].kind, "use-after-free") != 0 || recorded[1].address != freed
		|| recorded[1].size != 32 || !recorded[1].has_freed_by
		|| strstr(recorded[1].text, read_text) == NULL)
		return 11;
	return 0;
}

/* The parent's guards after a fork are untouched: an overflow of live
 * faults in the parent too. */
static void parent_guard_faults(const void *pool, char *live)
{
	struct site site;

	access_at(&site, live + 32, false);
	am->free(pool, live);
	assert_reports(1);
	assert_fault(0, "heap-buffer-overflow", live, 32, live + 32, false, &site);
}

/* A live block of 32 bytes (its bytes 7) and a freed one, before a fork. */
static void live_and_freed(const void *pool, char **live, char **freed)
{
	*live = am->malloc(pool, 32);
	*freed = am->malloc(pool, 32);
	ck_assert_ptr_nonnull(*live);
	ck_assert_ptr_nonnull(*freed);
	memset(*live, 7, 32);
	am->free(pool, *freed);
}

/* A forked child's guarded blocks keep faulting, as its own (the parent's
 * are untouched), however the child's pools were made its own: options. */
static void fork_keeps_guards(const char *options)
{
	const void *pool;
	char *live, *freed;
	pid_t child;
	int status;

	open_module(options);
	pool = new_pool(1 << 16);
	live_and_freed(pool, &live, &freed);
	child = fork();
	ck_assert_int_ne(child, -1);
	if (child == 0) {
		int failed = child_guards_fault(pool, live, freed);
		if (failed != 0)
			_exit(failed);
		am->free(pool, live);
		_exit(reports_so_far() == 2 ? 0 : 12);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "%s: the child ended %d", options,
		WEXITSTATUS(status));
	parent_guard_faults(pool, live);
	close_module();
}

START_TEST(guards_survive_fork)
{
	char dir[] = "/tmp/guarded-fork-XXXXXX", options[128];

	if (under_valgrind())
		return;
	fork_keeps_guards("guard=1"); /* the child's copies are private files */
#if defined(__SANITIZE_THREAD__)
	/* One load of the module a process under ThreadSanitizer: a reload
	 * registers the module's fork handlers again, after the guard
	 * registry's (kernel/guard_fault.c, registered once), and the two
	 * prepare handlers then take their locks in the other order, which
	 * ThreadSanitizer reports as an inversion (neither lock is taken
	 * under the other anywhere else: no deadlock). */
	return;
#endif
	fork_keeps_guards("guard=1:node=0"); /* anonymous pools: copied on write */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(options, sizeof(options), "guard=1:fork_nodes=1:node_dir=%s", dir);
	fork_keeps_guards(options); /* the child's pools move into its own node */
	remove_tree(dir);
}
END_TEST

/*
 * The fork path's last resort (debug_fork.c, copy_from_mapping): a child
 * that cannot reopen its pool's file (the node removed by hand; also when
 * no descriptor is left) copies the pool from its shared mapping, the
 * guard region made readable for the copy and protected again after. Its
 * guarded blocks keep faulting, and its exit report lists its own leak,
 * not the parent's live block it inherited.
 */
START_TEST(guards_survive_fork_copied_from_the_mapping)
{
	char dir[] = "/tmp/guarded-fork-copy-XXXXXX", path[] = "/tmp/guarded-fork-exit-XXXXXX";
	char pool_file[PATH_MAX], text[16384] = "";
	area_malloc_pool_stats stats;
	const void *pool;
	char *live, *freed, *own = NULL;
	int channel[2], fd;
	pid_t child;

	if (under_valgrind())
		return;
	open_module_in(dir, "guard=1:guard_sample=0:fork_nodes=0");
	pool = new_pool(1 << 16);
	live_and_freed(pool, &live, &freed);
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	/* the pool's file goes: the child cannot reopen it */
	snprintf(pool_file, sizeof(pool_file), "%s/%d/pool-%d", dir, (int)getpid(),
		(int)stats.area);
	ck_assert_int_eq(unlink(pool_file), 0);
	child = fork_reporting(path, &fd, channel);
	if (child == 0) {
		int failed = child_guards_fault(pool, live, freed);
		if (failed != 0)
			_exit(failed);
		own = am->malloc(pool, 48); /* the child's leak; live is the parent's */
		exit_reporting(channel, &own, sizeof(own), fd);
	}
	/* the faults' reports (taken by the hook) make the exit status */
	wait_for_exit_report(child, channel, &own, sizeof(own), fd, text, sizeof(text));
	ASSERT_HAS(text, "Leak of 48 byte(s) in 1 allocation(s) allocated from:\n");
	/* seq 5: live 0, freed 1 and 2 (its free), flush 3 and 4 */
	ASSERT_HAS(text, "(first block %p, thread T%d, seq 5, ", (void *)own, (int)child);
	ASSERT_HAS(text, "SUMMARY: area_malloc: 48 byte(s) leaked in 1 allocation(s).\n");
	ck_assert_msg(!has(text, "%p", (void *)live), "the parent's block in:\n%s", text);
	close(fd);
	unlink(path);
	parent_guard_faults(pool, live);
	close_module();
	remove_tree(dir);
}
END_TEST

/* ---- caps ---- */

/* Of count blocks of 32 bytes, how many fault on a read one past the end
 * (the guarded ones). */
static int guarded_among(const void *pool, int count)
{
	char *blocks[64];
	int before = reports_so_far();

	ck_assert_int_le(count, 64);
	for (int i = 0; i < count; i++) {
		struct site site;
		blocks[i] = am->malloc(pool, 32);
		ck_assert_ptr_nonnull(blocks[i]);
		access_at(&site, blocks[i] + 32, false);
	}
	for (int i = 0; i < count; i++)
		am->free(pool, blocks[i]);
	return reports_so_far() - before;
}

START_TEST(pool_cap_falls_back_to_canary_blocks)
{
	const void *pool, *other;
	area_malloc_pool_stats stats;

	if (under_valgrind())
		return;
	open_module("guard=1:guard_pool_max=4");
	pool = new_pool(1 << 16);
	other = new_pool(1 << 16);
	/* freed guarded blocks stay in the quarantine, so the second round
	 * finds the 4 slots taken by freed blocks and evicts the oldest */
	ck_assert_int_eq(guarded_among(pool, 10), 4);
	ck_assert_int_eq(guarded_among(pool, 10), 4);
	ck_assert_int_eq(guarded_among(other, 6), 4); /* the cap is per pool */
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	ck_assert_uint_eq(stats.live_blocks, 0);
	ck_assert_int_eq(dbg->check_pool(NULL), 0);
	close_module();
}
END_TEST

START_TEST(process_cap_falls_back_to_canary_blocks)
{
	const void *pool, *other;
	char *held[3];
	area_malloc_pool_stats stats;

	if (under_valgrind())
		return;
	open_module("guard=1:guard_process_max=3");
	pool = new_pool(1 << 16);
	other = new_pool(1 << 16);
	for (int i = 0; i < 3; i++)
		held[i] = am->malloc(pool, 100);
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	ck_assert_uint_eq(stats.live_blocks, 3);
	ck_assert_uint_eq(stats.used, 300);
	/* the process holds 3 live guarded blocks: none more, in any pool */
	ck_assert_int_eq(guarded_among(other, 5), 0);
	am->free(pool, held[0]);
	ck_assert_int_eq(guarded_among(other, 5), 1);
	am->free(pool, held[1]);
	am->free(pool, held[2]);
	assert_reports(1);
	close_module();
}
END_TEST

/* Capacity parity (D6): a pool holds as many blocks with guards as
 * without (guard pages are not charged; the block is, as the heap's). */
static int blocks_until_full(void)
{
	const void *pool = new_pool(4096);
	void *blocks[1024];
	int count = 0;

	while (count < 1024 && (blocks[count] = am->malloc(pool, 48)) != NULL)
		count++;
	for (int i = 0; i < count; i++)
		am->free(pool, blocks[i]);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	return count;
}

START_TEST(capacity_is_the_same_with_guards)
{
	int guarded, plain;

	if (under_valgrind())
		return;
	open_module("guard=1:guard_pool_max=8");
	guarded = blocks_until_full();
	close_module();
	open_module("guard=0");
	plain = blocks_until_full();
	close_module();
	ck_assert_int_gt(plain, 8);
	ck_assert_int_eq(guarded, plain);
	/* the pool's failed requests were counted, not reported */
	assert_reports(0);
}
END_TEST

/* ---- sampling ---- */

#define SAMPLED_RUNS 400

/* Which of SAMPLED_RUNS buggy "runs" (a block read one past its end) were
 * caught, as bits. */
static int sampled_catches(const char *options, uint8_t caught[SAMPLED_RUNS / 8])
{
	const void *pool;
	int count = 0;

	open_module(options);
	pool = new_pool(1 << 16);
	memset(caught, 0, SAMPLED_RUNS / 8);
	for (int run = 0; run < SAMPLED_RUNS; run++) {
		int before = reports_so_far();
		char *block = am->malloc(pool, 32);
		struct site site;
		access_at(&site, block + 32, false);
		am->free(pool, block);
		if (reports_so_far() > before) {
			caught[run / 8] |= (uint8_t)(1u << (run % 8));
			count++;
		}
	}
	close_module();
	return count;
}

START_TEST(sampling_catches_at_its_rate)
{
	uint8_t first[SAMPLED_RUNS / 8], again[SAMPLED_RUNS / 8], other[SAMPLED_RUNS / 8];
	int count;

	if (under_valgrind())
		return;
	/* one allocation in 4: of 400 runs, 100 expected (standard deviation
	 * 8.7; the bounds are more than 4 of them away) */
	count = sampled_catches("guard_sample=4:guard_seed=12345", first);
	ck_assert_msg(count >= 60 && count <= 140, "%d of %d caught", count, SAMPLED_RUNS);
	/* the seed makes the choice reproducible; another seed chooses others */
	ck_assert_int_eq(sampled_catches("guard_sample=4:guard_seed=12345", again), count);
	ck_assert_mem_eq(first, again, sizeof(first));
	sampled_catches("guard_sample=4:guard_seed=54321", other);
	ck_assert(memcmp(first, other, sizeof(first)) != 0);
}
END_TEST

/* guard_pools and guard_size choose blocks too. */
START_TEST(pools_by_name_and_blocks_by_size)
{
	const void *chosen, *other;

	if (under_valgrind())
		return;
	open_module("guard_pools=net*");
	chosen = new_pool(1 << 16);
	other = new_pool(1 << 16);
	ck_assert_int_eq(dbg->set_pool_name(chosen, "net_rx"), B_OK);
	ck_assert_int_eq(dbg->set_pool_name(other, "disk"), B_OK);
	ck_assert_int_eq(guarded_among(chosen, 3), 3);
	ck_assert_int_eq(guarded_among(other, 3), 0);
	close_module();
	open_module("guard_size=64");
	chosen = new_pool(1 << 16);
	ck_assert_int_eq(guarded_among(chosen, 3), 3);
	{
		/* over the size: a canary block, which does not end at a page */
		char *large = am->malloc(chosen, 80);
		ck_assert_ptr_nonnull(large);
		ck_assert_uint_ne((uintptr_t)(large + 80) % B_PAGE_SIZE, 0);
		am->free(chosen, large);
		assert_reports(3);
	}
	close_module();
}
END_TEST

/* The companion's debug/v3 chooses per pool; v1 and v2 are there too. */
START_TEST(companion_chooses_per_pool)
{
	area_malloc_debug_module_info_v3 *v3;
	area_malloc_debug_module_info_v2 *v2;
	const void *all, *none, *sampled, *plain;

	if (under_valgrind())
		return;
	open_module("guard_regions=1");
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME, (module_info **)&v3), B_OK);
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME, (module_info **)&v2), B_OK);
	/* v1's and v2's functions, at their places */
	ck_assert_ptr_eq((void *)v3->v2.v1.check_pool, (void *)dbg->check_pool);
	ck_assert_ptr_eq((void *)v3->v2.scan_leaks, (void *)v2->scan_leaks);
	ck_assert_ptr_eq((void *)v3->v2.not_leak, (void *)v2->not_leak);
	all = new_pool(1 << 16);
	none = new_pool(1 << 16);
	sampled = new_pool(1 << 16);
	plain = new_pool(1 << 16);
	ck_assert_int_eq(v3->set_pool_guard(all, B_AREA_MALLOC_GUARD_ALL, 0), B_OK);
	ck_assert_int_eq(v3->set_pool_guard(none, B_AREA_MALLOC_GUARD_NONE, 0), B_OK);
	ck_assert_int_eq(v3->set_pool_guard(sampled, B_AREA_MALLOC_GUARD_SAMPLE, 1), B_OK);
	ck_assert_int_eq(guarded_among(all, 3), 3);
	ck_assert_int_eq(guarded_among(none, 3), 0);
	ck_assert_int_eq(guarded_among(sampled, 3), 3); /* one in 1 */
	ck_assert_int_eq(guarded_among(plain, 3), 0);   /* no option guards blocks */
	ck_assert_int_eq(v3->set_pool_guard(all, B_AREA_MALLOC_GUARD_DEFAULT, 0), B_OK);
	ck_assert_int_eq(guarded_among(all, 3), 0);
	ck_assert_int_eq(v3->set_pool_guard(all, 4, 0), B_BAD_VALUE);
	ck_assert_int_eq(v3->set_pool_guard(all, B_AREA_MALLOC_GUARD_SAMPLE, 0), B_BAD_VALUE);
	ck_assert_int_eq(v3->set_pool_guard(NULL, B_AREA_MALLOC_GUARD_ALL, 0), B_BAD_VALUE);
	assert_reports(6);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME), B_OK);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME), B_OK);
	close_module();
}
END_TEST

/* Without a guard option (the default sampling turned off) no pool has a
 * guard region to choose from. */
START_TEST(companion_needs_a_guard_region)
{
	area_malloc_debug_module_info_v3 *v3;
	const void *pool;

	open_module("leak_check=1:guard_sample=0");
	ck_assert_int_eq(get_module(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME, (module_info **)&v3), B_OK);
	pool = new_pool(1 << 16);
	ck_assert_int_eq(v3->set_pool_guard(pool, B_AREA_MALLOC_GUARD_ALL, 0), B_NOT_ALLOWED);
	ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME), B_OK);
	close_module();
}
END_TEST

/* ---- the node ---- */

/* Whether text has the line pooldump's "pool ID" gives a guarded block. */
static bool lists_guarded(const char *text, const void *block, size_t size, bool freed)
{
	char line[128];

	snprintf(line, sizeof(line), "guarded block %p: %zu bytes, %s;", block, size,
		freed ? "freed" : "live");
	return strstr(text, line) != NULL;
}

/* pooldump --node-dir DIR -p PID ARGUMENTS, its output (stderr too) into
 * output; returns its exit status. */
static int pooldump(const char *dir, pid_t pid, const char *arguments, char *output, size_t size)
{
	char command[PATH_MAX + 512];
	FILE *pipe_in;
	size_t length;
	int status;

	snprintf(command, sizeof(command), "%s/tools/pooldump/pooldump --node-dir %s -p %d %s 2>&1",
		getenv("AREA_MALLOC_TEST_BUILDDIR"), dir, (int)pid, arguments);
	pipe_in = popen(command, "r");
	ck_assert_ptr_nonnull(pipe_in);
	length = fread(output, 1, size - 1, pipe_in);
	output[length] = '\0';
	status = pclose(pipe_in);
	ck_assert_msg(WIFEXITED(status), "%s: ended by a signal", command);
	return WEXITSTATUS(status);
}

/* pooldump -p PID pool ID, its output into output. */
static void pooldump_pool(const char *dir, pid_t pid, area_id area, char *output, size_t size)
{
	char arguments[32];

	snprintf(arguments, sizeof(arguments), "pool %d", (int)area);
	ck_assert_int_eq(pooldump(dir, pid, arguments, output, size), 0);
}

/* pooldump's "pool ID" lists the guarded blocks, of a live process and,
 * from its node, of a dead one. */
START_TEST(pooldump_shows_guarded_blocks)
{
	char dir[] = "/tmp/guarded-node-XXXXXX", output[8192];
	area_malloc_pool_stats stats;
	const void *pool;
	char *live, *freed, *blocks[2];
	int channel[2];
	pid_t child;
	int status;

	if (under_valgrind())
		return;
	open_module_in(dir, "guard=1:fork_nodes=1:keep_dead_nodes=4");
	pool = new_pool(1 << 16);
	live = am->malloc(pool, 32);
	freed = am->malloc(pool, 64);
	am->free(pool, freed);
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	pooldump_pool(dir, getpid(), stats.area, output, sizeof(output));
	ck_assert_msg(lists_guarded(output, live, 32, false)
			&& lists_guarded(output, freed, 64, true),
		"not listed:\n%s", output);
	/* a dead process: a child with a node of its own ends without a word */
	ck_assert_int_eq(pipe(channel), 0);
	child = fork();
	ck_assert_int_ne(child, -1);
	if (child == 0) {
		blocks[0] = am->malloc(pool, 48);
		blocks[1] = am->malloc(pool, 48);
		am->free(pool, blocks[1]);
		(void)!write(channel[1], blocks, sizeof(blocks));
		_exit(0);
	}
	ck_assert_int_eq(read(channel[0], blocks, sizeof(blocks)), sizeof(blocks));
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	pooldump_pool(dir, child, stats.area, output, sizeof(output));
	ck_assert_msg(strstr(output, "dead") != NULL && lists_guarded(output, blocks[0], 48, false)
			&& lists_guarded(output, blocks[1], 48, true)
			&& lists_guarded(output, live, 32, false),
		"not listed:\n%s", output);
	assert_reports(0);
	close_module();
	remove_tree(dir);
}
END_TEST

/* The canary bytes around a guarded block of 40 bytes: before it on its
 * page, and its 8 bytes of slack. */
#define CANARY ((char)0xfd)

/* pooldump's pools, allocations, leaks and check count and list live
 * guarded blocks as the heap's (a pool with both: blocks of up to 64
 * bytes are guarded), of a live process and, from the table in its node,
 * of a dead one; check finds their damaged canaries in the copy. */
START_TEST(pooldump_counts_guarded_blocks)
{
	char dir[] = "/tmp/guarded-count-XXXXXX", output[16384];
	char arguments[64];
	area_malloc_pool_stats stats;
	const void *pool;
	char *guarded, *freed, *heap, *child_blocks[2];
	int channel[2], area, me = (int)getpid();
	pid_t child;
	int status;

	if (under_valgrind())
		return;
	open_module_in(dir, "guard=0:guard_sample=0:guard_size=64:fork_nodes=1:keep_dead_nodes=4");
	pool = new_pool(1 << 16);
	guarded = am->malloc(pool, 40); /* seq 0 */
	freed = am->malloc(pool, 48);   /* seq 1, freed with seq 2 */
	am->free(pool, freed);
	heap = am->malloc(pool, 100); /* seq 3: not guarded */
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	area = (int)stats.area;
	ck_assert_uint_eq(stats.live_blocks, 2);
	ck_assert_uint_eq(stats.used, 140);
	pooldump_pool(dir, getpid(), area, output, sizeof(output));
	ck_assert_msg(lists_guarded(output, guarded, 40, false)
			&& lists_guarded(output, freed, 48, true)
			&& !lists_guarded(output, heap, 100, false)
			&& has(output, "\tguarded blocks: 1 live (40 bytes requested), 1 freed\n"),
		"%s", output);

	/* pools: the guarded block in blocks and used, and apart */
	ck_assert_int_eq(pooldump(dir, getpid(), "pools", output, sizeof(output)), 0);
	ASSERT_HAS(output,
		"used: 140; peak: 140; blocks: 2; quarantined: 0 in 0; guarded: 1 live "
		"(40 bytes), 1 freed; failed: 0;");
	ck_assert_int_eq(pooldump(dir, getpid(), "--json pools", output, sizeof(output)), 0);
	ASSERT_HAS(output,
		"\"used\":140,\"peak\":140,\"blocks\":2,\"quarantined_bytes\":0,"
		"\"quarantined_blocks\":0,\"guarded_blocks\":1,\"guarded_bytes\":40,"
		"\"guarded_freed\":1,");

	/* allocations: the live ones, in address order (the guard region lies
	 * below the heap), the freed guarded block not */
	snprintf(arguments, sizeof(arguments), "allocations pool %d", area);
	ck_assert_int_eq(pooldump(dir, getpid(), arguments, output, sizeof(output)), 0);
	ASSERT_HAS(output,
		"team: % 6d; thread: % 6d; address: %p; size: 40 bytes; pool: %d; seq: 0; "
		"caller: 0x",
		me, me, (void *)guarded, area);
	ASSERT_HAS(output,
		"team: % 6d; thread: % 6d; address: %p; size: 100 bytes; pool: %d; seq: 3; "
		"caller: 0x",
		me, me, (void *)heap, area);
	ck_assert(strstr(output, "size: 40 bytes") < strstr(output, "size: 100 bytes"));
	ck_assert_msg(!has(output, "address: %p;", (void *)freed), "%s", output);
	ASSERT_HAS(output, "total allocations: 2; total bytes: 140\n");
	snprintf(arguments, sizeof(arguments), "--json allocations pool %d", area);
	ck_assert_int_eq(pooldump(dir, getpid(), arguments, output, sizeof(output)), 0);
	ASSERT_HAS(output,
		"{\"address\":\"%p\",\"size\":40,\"pool\":%d,\"thread\":%d,"
		"\"team\":%d,\"seq\":0,",
		(void *)guarded, area, me, me);
	ASSERT_HAS(output, "\"guarded\":true,");
	ASSERT_HAS(output, "\"total_blocks\":2,\"total_bytes\":140");

	/* leaks: outstanding, the guarded block a group of its own (its own
	 * stack), with its owner as a heap block's */
	snprintf(arguments, sizeof(arguments), "leaks pool %d", area);
	ck_assert_int_eq(pooldump(dir, getpid(), arguments, output, sizeof(output)), 1);
	ASSERT_HAS(output, "Outstanding: 40 byte(s) in 1 allocation(s) allocated from:\n    #0 0x");
	ASSERT_HAS(output, "(first block %p, thread T%d, seq 0)\n", (void *)guarded, me);
	ASSERT_HAS(output, "(first block %p, thread T%d, seq 3)\n", (void *)heap, me);
	ASSERT_HAS(output, "SUMMARY: area_malloc: 140 byte(s) outstanding in 2 allocation(s).\n");

	/* check: sound, then each canary of the guarded block damaged */
	snprintf(arguments, sizeof(arguments), "check pool %d", area);
	ck_assert_int_eq(pooldump(dir, getpid(), arguments, output, sizeof(output)), 0);
	ASSERT_HAS(output, "1 pool(s) checked, 0 problem(s)\n");
	guarded[-3] = 1; /* the canary before it: no fault */
	guarded[41] = 1; /* its slack: no fault */
	ck_assert_int_eq(pooldump(dir, getpid(), arguments, output, sizeof(output)), 1);
	ASSERT_HAS(output,
		"ERROR: area_malloc: heap-buffer-underflow on address %p (40-byte block) "
		"in pool %d\nthe canary before the guarded block was overwritten\nfirst damaged byte "
		"at offset -3 from the block (before its start)\n",
		(void *)guarded, area);
	ASSERT_HAS(output,
		"ERROR: area_malloc: heap-buffer-overflow on address %p (40-byte block) "
		"in pool %d\nthe slack canary between the guarded block's end and its guard page was "
		"overwritten\nfirst damaged byte at offset 41 from the block\nthe write reached 2 "
		"byte(s) past the end of the 40-byte block\npreviously allocated by thread T%d (team "
		"%d, seq 0, at ",
		(void *)guarded, area, me, me);
	ASSERT_HAS(output, "1 pool(s) checked, 2 problem(s)\n");
	guarded[-3] = CANARY;
	guarded[41] = CANARY;

	/* a dead process: a child with a node of its own, its blocks and its
	 * parent's (its copies) in the table of its file */
	ck_assert_int_eq(pipe(channel), 0);
	child = fork();
	ck_assert_int_ne(child, -1);
	if (child == 0) {
		child_blocks[0] = am->malloc(pool, 40);  /* guarded */
		child_blocks[1] = am->malloc(pool, 200); /* in the heap */
		child_blocks[0][40] = 1;                 /* its slack */
		(void)!write(channel[1], child_blocks, sizeof(child_blocks));
		_exit(0);
	}
	ck_assert_int_eq(read(channel[0], child_blocks, sizeof(child_blocks)),
		sizeof(child_blocks));
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(pooldump(dir, child, "pools", output, sizeof(output)), 0);
	ASSERT_HAS(output,
		"used: 380; peak: 380; blocks: 4; quarantined: 0 in 0; guarded: 2 live "
		"(80 bytes), 1 freed; failed: 0;");
	snprintf(arguments, sizeof(arguments), "allocations pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 0);
	ASSERT_HAS(output,
		"team: % 6d; thread: % 6d; address: %p; size: 40 bytes; pool: %d; seq: 4; "
		"caller: 0x",
		(int)child, (int)child, (void *)child_blocks[0], area);
	ASSERT_HAS(output,
		"team: % 6d; thread: % 6d; address: %p; size: 40 bytes; pool: %d; seq: 0; "
		"caller: 0x",
		me, me, (void *)guarded, area);
	ASSERT_HAS(output, "total allocations: 4; total bytes: 380\n");
	snprintf(arguments, sizeof(arguments), "leaks pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 1);
	ASSERT_HAS(output, "blocks still allocated (no mark set) when the process died\n");
	ASSERT_HAS(output, "Leak of 40 byte(s) in 1 allocation(s) allocated from:\n");
	ASSERT_HAS(output, "(first block %p, thread T%d, seq 4)\n", (void *)child_blocks[0],
		(int)child);
	ASSERT_HAS(output, "(first block %p, thread T%d, seq 0)\n", (void *)guarded, me);
	ASSERT_HAS(output, "SUMMARY: area_malloc: 380 byte(s) leaked in 4 allocation(s).\n");
	snprintf(arguments, sizeof(arguments), "check pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 1);
	ASSERT_HAS(output,
		"ERROR: area_malloc: heap-buffer-overflow on address %p (40-byte block) "
		"in pool %d\nthe slack canary between the guarded block's end and its guard page was "
		"overwritten\nfirst damaged byte at offset 40 from the block\nthe write reached 1 "
		"byte(s) past the end of the 40-byte block\npreviously allocated by thread T%d (team "
		"%d, seq 4, at ",
		(void *)child_blocks[0], area, (int)child, (int)child);
	ASSERT_HAS(output, "1 pool(s) checked, 1 problem(s)\n");

	am->free(pool, guarded);
	am->free(pool, heap);
	assert_reports(0);
	close_module();
	remove_tree(dir);
}
END_TEST

/* pooldump's scan reads live guarded blocks from the pool copies as heap
 * blocks: one reached only through another guarded block is held, the one
 * whose address is kept only complemented is unreferenced. */
START_TEST(pooldump_scan_reads_guarded_blocks)
{
	char dir[] = "/tmp/guarded-scan-XXXXXX", output[16384];
	const void *pool;
	void **a;

	if (under_valgrind())
		return;
	open_module_in(dir, "guard=1:guard_sample=0");
	pool = new_pool(1 << 16);
	a = am->malloc(pool, 64);    /* seq 0 */
	a[0] = am->malloc(pool, 64); /* seq 1: its only pointer is in a */
	held = a;
	allocate_out_of_sight(pool); /* seq 2 */
	/* --stop: this process's dead frames below its stack pointer may still
	 * hold the lost block's address */
	ck_assert_int_eq(pooldump(dir, getpid(), "scan --stop --min-age 0", output, sizeof(output)),
		1);
	ASSERT_HAS(output, "Unreferenced: 32 byte(s) in 1 allocation(s), the oldest ");
	ASSERT_HAS(output, "(first block %p, thread T%d, seq 2)\n", (void *)~hidden, (int)getpid());
	ASSERT_HAS(output,
		"SUMMARY: area_malloc: 32 byte(s) unreferenced in 1 allocation(s), 0 "
		"byte(s) indirectly lost in 0 allocation(s).\n");
	am->free(pool, (void *)~hidden);
	am->free(pool, a[0]);
	am->free(pool, a);
	held = NULL;
	assert_reports(0);
	close_module();
	remove_tree(dir);
}
END_TEST

/* The offset of the guard table in a pool file (its magic at an 8-byte
 * boundary, in the control region), or 0. */
static off_t guard_table_in(int fd)
{
	uint32_t word[2];

	for (off_t at = 0; pread(fd, word, sizeof(word), at) == sizeof(word); at += 8)
		if (word[0] == GUARD_TABLE_MAGIC && word[1] != 0
			&& word[1] <= GUARD_TABLE_MAX_SLOTS)
			return at;
	return 0;
}

/* What another user could write into the table of a pool's file is data:
 * a slot placed outside the region, or a table that does not fit the pool,
 * is refused with a clear word and an exit status, never followed. */
START_TEST(pooldump_refuses_a_damaged_guard_table)
{
	char dir[] = "/tmp/guarded-damage-XXXXXX", output[16384], path[PATH_MAX];
	char arguments[64];
	area_malloc_pool_stats stats;
	struct guard_table table;
	struct guard_slot slot;
	area_info info;
	const void *pool;
	char *blocks[2];
	off_t at, slot_at = 0;
	int fd, area, status;
	pid_t child;

	if (under_valgrind())
		return;
	open_module_in(dir, "guard=1:guard_sample=0:fork_nodes=1:keep_dead_nodes=4");
	pool = new_pool(1 << 16);
	ck_assert_int_eq(dbg->get_pool_stats(pool, &stats), B_OK);
	area = (int)stats.area;
	ck_assert_int_eq(get_area_info(stats.area, &info), B_OK);
	child = fork();
	ck_assert_int_ne(child, -1);
	if (child == 0) {
		blocks[0] = am->malloc(pool, 32);
		blocks[1] = am->malloc(pool, 64);
		_exit(blocks[0] != NULL && blocks[1] != NULL ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(status, 0);
	snprintf(path, sizeof(path), "%s/%d/pool-%d", dir, (int)child, area);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	at = guard_table_in(fd);
	ck_assert_int_gt(at, 0);
	ck_assert_int_eq(pread(fd, &table, sizeof(table), at), sizeof(table));
	ck_assert_uint_eq(table.live_blocks, 2);
	ck_assert_uint_eq(table.live_bytes, 96);
	for (uint32_t i = 0; i < table.slots && slot_at == 0; i++) {
		off_t offset = at + table.slot_offset + (off_t)i * (off_t)sizeof(slot);
		ck_assert_int_eq(pread(fd, &slot, sizeof(slot), offset), sizeof(slot));
		if (slot.state == GUARD_SLOT_LIVE && slot.size == 64)
			slot_at = offset;
	}
	ck_assert_int_gt(slot_at, 0);

	/* a slot whose block lies outside the region: not shown, a problem */
	slot.user = 0xdead0000;
	ck_assert_int_eq(pwrite(fd, &slot, sizeof(slot), slot_at), sizeof(slot));
	snprintf(arguments, sizeof(arguments), "allocations pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 4);
	ASSERT_HAS(output, "total allocations: 1; total bytes: 32\n");
	ASSERT_HAS(output, "pool %d: 1 damaged slot(s) in its guard table (see check)", area);
	snprintf(arguments, sizeof(arguments), "check pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 1);
	ASSERT_HAS(output,
		"ERROR: area_malloc: heap-corruption on address %p in pool %d\nthe guard "
		"table has 1 damaged slot(s) (a state or a place no guarded block can have): their "
		"blocks are not shown\n",
		(char *)info.address + at, area);
	ASSERT_HAS(output, "1 pool(s) checked, 1 problem(s)\n");

	/* slots past the end of the pool: the table is refused whole */
	table.slot_offset = 0x7ffffff8;
	ck_assert_int_eq(pwrite(fd, &table, sizeof(table), at), sizeof(table));
	ck_assert_int_eq(pooldump(dir, child, "pools", output, sizeof(output)), 0);
	ASSERT_HAS(output, "pool %d: the guard table's geometry does not fit the pool", area);
	/* the refused table's blocks are not counted; the peak is the
	 * module's own, which counted them (96 bytes) */
	ASSERT_HAS(output, "used: 0; peak: 96; blocks: 0; quarantined: 0 in 0; failed: 0;");
	snprintf(arguments, sizeof(arguments), "pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 4);
	ASSERT_HAS(output,
		"\tguard table damaged: the guard table's geometry does not fit the "
		"pool\n");
	snprintf(arguments, sizeof(arguments), "leaks pool %d", area);
	ck_assert_int_eq(pooldump(dir, child, arguments, output, sizeof(output)), 4);
	ASSERT_HAS(output, "SUMMARY: area_malloc: 0 byte(s) leaked in 0 allocation(s).\n");
	close(fd);
	assert_reports(0);
	close_module();
	remove_tree(dir);
}
END_TEST

/* ---- what the process does after a fault ---- */

/* A child that faults once and makes no call of the module after it (when
 * free_after is false): the report comes at exit, which is then 23. */
static void fault_then_exit(bool free_after)
{
	char path[] = "/tmp/guarded-exit-XXXXXX", text[8192] = "";
	int fd = mkstemp(path), status;
	pid_t child;
	ssize_t length;

	ck_assert_int_ge(fd, 0);
	child = fork();
	ck_assert_int_ne(child, -1);
	if (child == 0) {
		const void *pool = new_pool(1 << 16);
		char *block = am->malloc(pool, 32);
		dbg->set_report_hook(NULL, NULL);
		dup2(fd, STDERR_FILENO);
		poke(block + 32, 1); /* goes on after the fault */
		if (free_after)
			am->free(pool, block);
		exit(0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), EXIT_STATUS_AFTER_ERRORS);
	length = pread(fd, text, sizeof(text) - 1, 0);
	ck_assert_int_gt(length, 0);
	text[length] = '\0';
	ck_assert_msg(strstr(text, "ERROR: area_malloc: heap-buffer-overflow") != NULL
			&& strstr(text, "WRITE of address") != NULL,
		"%s", text);
	close(fd);
	unlink(path);
}

START_TEST(a_fault_makes_the_exit_status)
{
	if (under_valgrind())
		return;
	open_module("guard=1");
	fault_then_exit(true);
	fault_then_exit(false); /* reported at exit */
	close_module();
}
END_TEST

START_TEST(halt_on_error_stops_at_the_fault)
{
	pid_t child;
	int status;

	if (under_valgrind())
		return;
	open_module("guard=1:halt_on_error=1");
	child = fork();
	ck_assert_int_ne(child, -1);
	if (child == 0) {
		const void *pool = new_pool(1 << 16);
		char *block = am->malloc(pool, 32);
		freopen("/dev/null", "w", stderr);
		dup2(fileno(stderr), STDERR_FILENO);
		poke(block + 32, 1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGSEGV);
	close_module();
}
END_TEST

/* ---- clean workloads ---- */

static void *clean_work(void *context)
{
	const void *pool = context;
	char *blocks[32] = { 0 };

	for (int round = 0; round < 300; round++) {
		int i = round % 32;
		size_t size = (size_t)(round * 37 % 5000);
		if (blocks[i] != NULL) {
			blocks[i] = am->realloc(pool, blocks[i], size + 1);
			ck_assert_ptr_nonnull(blocks[i]);
			am->free(pool, blocks[i]);
		}
		blocks[i] = round % 3 == 0 ? am->calloc(pool, 1, size) : am->malloc(pool, size);
		ck_assert_ptr_nonnull(blocks[i]);
		if (round % 3 == 0)
			for (size_t b = 0; b < size; b++)
				ck_assert_int_eq(blocks[i][b], 0);
		memset(blocks[i], round & 0xff, size);
	}
	for (int i = 0; i < 32; i++)
		am->free(pool, blocks[i]);
	return NULL;
}

static void clean_workload(const char *options)
{
	pthread_t threads[2];
	const void *pool;
	char *moved;

	open_module(options);
	pool = new_pool(1 << 22);
	moved = am->malloc(pool, 100);
	memset(moved, 9, 100);
	moved = am->realloc(pool, moved, 5000);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(moved[i], 9);
	am->free(pool, moved);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, clean_work, (void *)pool), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
	ck_assert_int_eq(dbg->check_pool(NULL), 0);
	ck_assert_int_eq(am->delete_pool(pool), B_OK);
	assert_reports(0);
	ck_assert_uint_eq(dbg->error_count(), 0);
	close_module();
}

START_TEST(clean_workload_every_block)
{
	clean_workload("guard=1:guard_pool_max=64");
}
END_TEST

START_TEST(clean_workload_underflow_and_sampling)
{
	clean_workload("guard_underflow=1:guard_sample=3:guard_seed=7");
}
END_TEST

/* ---- Valgrind ---- */

/* Valgrind sees every access itself: guards are off there, and a pool
 * with guard=1 works with canary blocks (scripts/check-valgrind may run
 * this case: CK_RUN_CASE=valgrind). */
START_TEST(guards_are_off_under_valgrind)
{
	const void *pool;
	char *block;

	ck_assert_int_eq(kernel_guard_available(), !under_valgrind());
	open_module("guard=1");
	pool = new_pool(1 << 16);
	block = am->malloc(pool, 32);
	ck_assert_ptr_nonnull(block);
	/* a guarded block of 32 bytes ends at a page; a canary block does not */
	ck_assert_int_eq((uintptr_t)(block + 32) % B_PAGE_SIZE == 0, !under_valgrind());
	am->free(pool, block);
	assert_reports(0);
	close_module();
}
END_TEST

static Suite *guarded_suite(void)
{
	Suite *suite = suite_create("guarded_blocks");
	TCase *faults = tcase_create("faults");
	TCase *process = tcase_create("process");
	/* pooldump scan --stop reads the whole stopped process: about a minute
	 * under AddressSanitizer (its shadow) on a loaded machine, past make
	 * check's 120 s default with the other tests of the case */
	tcase_set_timeout(process, 600);
	TCase *choice = tcase_create("choice");
	TCase *clean = tcase_create("clean");
	TCase *valgrind = tcase_create("valgrind");

	tcase_add_test(faults, overflow_faults_at_the_access);
	tcase_add_test(faults, slack_is_a_canary);
	tcase_add_test(faults, underflow_faults_in_underflow_mode);
	tcase_add_test(faults, use_after_free_faults);
	tcase_add_test(faults, double_free_of_a_guarded_block);
	tcase_add_test(faults, faults_in_several_threads);
	tcase_add_test(faults, checks_and_leaks_see_guarded_blocks);
	tcase_add_test(faults, reachability_scan_reads_guarded_blocks);
	tcase_add_test(faults, not_leak_takes_a_guarded_block);
	tcase_add_test(process, driver_handler_installed_after);
	tcase_add_test(process, driver_handler_installed_before);
	tcase_add_test(process, guards_survive_fork);
	tcase_add_test(process, guards_survive_fork_copied_from_the_mapping);
	tcase_add_test(process, pooldump_shows_guarded_blocks);
	tcase_add_test(process, pooldump_counts_guarded_blocks);
	tcase_add_test(process, pooldump_scan_reads_guarded_blocks);
	tcase_add_test(process, pooldump_refuses_a_damaged_guard_table);
	tcase_add_test(process, a_fault_makes_the_exit_status);
	tcase_add_test(process, halt_on_error_stops_at_the_fault);
	tcase_add_test(choice, pool_cap_falls_back_to_canary_blocks);
	tcase_add_test(choice, process_cap_falls_back_to_canary_blocks);
	tcase_add_test(choice, capacity_is_the_same_with_guards);
	tcase_add_test(choice, sampling_catches_at_its_rate);
	tcase_add_test(choice, pools_by_name_and_blocks_by_size);
	tcase_add_test(choice, companion_chooses_per_pool);
	tcase_add_test(choice, companion_needs_a_guard_region);
	tcase_add_test(clean, clean_workload_every_block);
	tcase_add_test(clean, clean_workload_underflow_and_sampling);
	tcase_add_test(valgrind, guards_are_off_under_valgrind);
	suite_add_tcase(suite, faults);
	suite_add_tcase(suite, process);
	suite_add_tcase(suite, choice);
	suite_add_tcase(suite, clean);
	suite_add_tcase(suite, valgrind);
	return suite;
}

int main(void)
{
	return run_check_suite(guarded_suite(), CK_FORK);
}
