/*
 * test_leak_scan.c - the reachability scan (issue 16, the in-process half):
 * the engine's classification over memory it reads through a reader
 * (src/format/leak_scan_engine.c, compiled in), and the exit-time report of
 * a driver whose blocks are held in every way a driver holds them or
 * really lost: each group's verdict, the exit status under
 * leak_mode=unreferenced, leak_interior, a block only a thread's register
 * holds, and the driver's second thread running on after the scan stopped it.
 *
 * The scenario runs in a forked child (exit-time output is under test)
 * with standard error captured to a file. Its blocks have distinct sizes,
 * each allocated from a function of its own, so each is a group of one
 * whose verdict the test reads off its "(first block ...)" line. Stale
 * copies of pointers are kept off the stack: blocks are made in noinline
 * functions, and the stack below the child's frame is wiped before exit.
 *
 * Locking: the child's second thread waits on a pipe until the report hook
 * (called after the scan resumed it) tells it to go on.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "format/leak_scan_engine.h"
#include "leak_scan/register_hold.h"
#include "support/check_main.h"
#include "support/debug_command.h"
#include "support/debug_options.h"
#include "support/scale.h"

#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define CHILD_BROKEN 99
#define LEAK_EXIT_STATUS 23

/* ---- the engine over fabricated memory ---- */

/* Memory "of another process": words at fake addresses, read by copy. */
#define FAKE_BASE ((uintptr_t)0x100000)
#define FAKE_WORDS 64

static uintptr_t fake_memory[FAKE_WORDS];

static const uintptr_t *fake_words(void *context, uintptr_t address, size_t count,
	uintptr_t *scratch)
{
	size_t first = (address - FAKE_BASE) / sizeof(uintptr_t);

	(void)context;
	if (address < FAKE_BASE || first + count > FAKE_WORDS)
		return NULL;
	memcpy(scratch, &fake_memory[first], count * sizeof(uintptr_t));
	return scratch;
}

static uintptr_t fake_at(size_t word)
{
	return FAKE_BASE + word * sizeof(uintptr_t);
}

/*
 * Words 0-7 are the root; blocks of 4 words each start at word 8 + 4i:
 *   0: root -> block 0 -> block 1 (start) and block 2 (interior only)
 *   3: block 3 -> block 4 -> block 5 -> block 4 (a cycle), 3 -> 3 (itself)
 *   6: nothing points to block 6
 */
static enum scan_state run_fake(bool interior, enum scan_state *states)
{
	static const struct scan_reader reader = { fake_words, NULL };
	struct scan_block blocks[7];
	uint8_t state[7];
	uint32_t stack[7];
	struct scan_engine engine;

	memset(fake_memory, 0, sizeof(fake_memory));
	for (size_t i = 0; i < 7; i++)
		blocks[i] = (struct scan_block){ fake_at(8 + 4 * i), fake_at(8 + 4 * i + 4) };
	fake_memory[2] = blocks[0].start;
	fake_memory[8] = blocks[1].start;
	fake_memory[9] = blocks[2].start + 8; /* inside block 2 */
	fake_memory[8 + 4 * 3] = blocks[4].start;
	fake_memory[8 + 4 * 3 + 1] = blocks[3].start;
	fake_memory[8 + 4 * 4] = blocks[5].start;
	fake_memory[8 + 4 * 5 + 3] = blocks[4].start;
	scan_engine_init(&engine, blocks, state, stack, 7, interior, &reader);
	scan_engine_root(&engine, fake_at(0), fake_at(8));
	scan_engine_classify(&engine);
	for (size_t i = 0; i < 7; i++)
		states[i] = (enum scan_state)state[i];
	ck_assert_uint_eq(scan_engine_find(&engine, blocks[6].start), 6);
	ck_assert_uint_eq(scan_engine_find(&engine, blocks[6].start + 8), interior ? 6 : SIZE_MAX);
	ck_assert_uint_eq(scan_engine_find(&engine, fake_at(0)), SIZE_MAX);
	ck_assert_uint_eq(scan_engine_find(&engine, fake_at(FAKE_WORDS)), SIZE_MAX);
	return states[0];
}

START_TEST(test_engine_classifies)
{
	enum scan_state states[7];

	run_fake(false, states);
	ck_assert_int_eq(states[0], SCAN_REACHED);
	ck_assert_int_eq(states[1], SCAN_REACHED);
	ck_assert_int_eq(states[2], SCAN_UNREFERENCED); /* an interior pointer only */
	ck_assert_int_eq(states[3], SCAN_UNREFERENCED); /* its own pointer does not count */
	ck_assert_int_eq(states[4], SCAN_INDIRECT);
	ck_assert_int_eq(states[5], SCAN_INDIRECT);
	ck_assert_int_eq(states[6], SCAN_UNREFERENCED);

	run_fake(true, states);
	ck_assert_int_eq(states[2], SCAN_REACHED);
	ck_assert_int_eq(states[6], SCAN_UNREFERENCED);
}
END_TEST

/* The in-process reader: the bytes are at the address itself. */
static const uintptr_t *own_words(void *context, uintptr_t address, size_t count,
	uintptr_t *scratch)
{
	(void)context;
	(void)count;
	(void)scratch;
	return (const uintptr_t *)address;
}

/* A million blocks in one chain: the work stack, not recursion, and a
 * binary search per word. */
START_TEST(test_engine_long_chain)
{
	enum { COUNT = 1000000 };
	static const struct scan_reader reader = { own_words, NULL };
	uintptr_t *memory = calloc((size_t)COUNT * 2 + 2, sizeof(uintptr_t));
	struct scan_block *blocks = calloc(COUNT, sizeof(*blocks));
	uint8_t *state = calloc(COUNT, 1);
	uint32_t *stack = calloc(COUNT, sizeof(*stack));
	struct scan_engine engine;
	size_t reached = 0;

	ck_assert(memory != NULL && blocks != NULL && state != NULL && stack != NULL);
	/* block i: words 2 + 2i and 3 + 2i; its first word points to block i + 1,
	 * except the last one's */
	for (size_t i = 0; i < COUNT; i++) {
		blocks[i] = (struct scan_block){ (uintptr_t)&memory[2 + 2 * i],
			(uintptr_t)&memory[4 + 2 * i] };
		if (i + 1 < COUNT)
			memory[2 + 2 * i] = (uintptr_t)&memory[4 + 2 * i];
	}
	memory[0] = blocks[0].start;
	scan_engine_init(&engine, blocks, state, stack, COUNT, false, &reader);
	scan_engine_root(&engine, (uintptr_t)&memory[0], (uintptr_t)&memory[2]);
	scan_engine_classify(&engine);
	for (size_t i = 0; i < COUNT; i++)
		reached += state[i] == SCAN_REACHED;
	ck_assert_uint_eq(reached, COUNT);

	/* the root gone: the first is unreferenced, every other one indirect */
	scan_engine_init(&engine, blocks, state, stack, COUNT, false, &reader);
	scan_engine_classify(&engine);
	ck_assert_int_eq(state[0], SCAN_UNREFERENCED);
	for (size_t i = 1; i < COUNT; i++)
		ck_assert_int_eq(state[i], SCAN_INDIRECT);
	free(memory);
	free(blocks);
	free(state);
	free(stack);
}
END_TEST

/* ---- a driver's blocks at exit ---- */

static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd;
static const void *pool;

/* what holds the blocks */
static void *volatile global_list;            /* 1001, which holds 1002 */
static void *volatile *volatile plain_holder; /* malloc'd; [0]: 1006 */
static char *volatile interior_pointer;       /* inside 1007 */
static void *volatile overwritten;            /* 1008, then 1009 */
static __thread void *volatile thread_list;   /* the second thread's: 1003 */

static int ready_pipe[2], go_pipe[2], register_pipe[2];
static pthread_t second;
static volatile int second_done;

static void child_require(bool condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "child: %s\n", what);
		_exit(CHILD_BROKEN);
	}
}

/* One allocation site per block, so each block is a group of its own. */
#define SITE(size)                                                                                 \
	__attribute__((noinline)) static void *site_##size(void)                                   \
	{                                                                                          \
		void *block = am->malloc(pool, size);                                              \
		child_require(block != NULL, "malloc");                                            \
		__asm__ volatile("" ::: "memory");                                                 \
		return block;                                                                      \
	}
SITE(1001)
SITE(1002)
SITE(1003)
SITE(1004)
SITE(1005)
SITE(1006)
SITE(1007)
SITE(1008)
SITE(1009)
SITE(1010)
SITE(1011)
SITE(1012)
SITE(1013)
SITE(1014)
SITE(1015)
SITE(1016)
SITE(1017)
SITE(1018)

/* The pool's creator: the suppression of the leaked-pool report names it. */
__attribute__((noinline)) static void make_scan_pool(void)
{
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1024 * 1024, B_NO_LOCK, KERNEL_RW);
	child_require(pool != NULL, "create_pool");
}

__attribute__((noinline)) static void make_held_blocks(void)
{
	void **first = site_1001();

	first[0] = site_1002(); /* inside another pool block */
	global_list = first;    /* a global list */
	plain_holder = malloc(4 * sizeof(void *));
	child_require(plain_holder != NULL, "malloc");
	plain_holder[0] = site_1006();               /* inside a plain malloc'd structure */
	interior_pointer = (char *)site_1007() + 16; /* inside: with leak_interior=1 */
}

__attribute__((noinline)) static void make_lost_blocks(void)
{
	void **container, **lost;

	overwritten = site_1008();
	overwritten = site_1009(); /* 1008's last pointer overwritten */
	container = site_1010();
	container[0] = site_1011();
	container[5] = container[0];
	am->free(pool, container); /* the container freed: 1011 lost */
	lost = site_1012();        /* lost, and through it 1013 and 1014 */
	lost[0] = site_1013();
	((void **)lost[0])[0] = site_1014();
}

static void *second_thread(void *unused)
{
	void *volatile on_its_stack;
	char go;

	(void)unused;
	thread_list = site_1003();  /* a per-thread list */
	on_its_stack = site_1004(); /* a stack variable of another thread */
	child_require(write(ready_pipe[1], "r", 1) == 1, "write");
	child_require(read(go_pipe[0], &go, 1) == 1, "read");
	/* resumed after the scan: its blocks are whole and its work goes on */
	memset(thread_list, 0x11, 1003);
	memset(on_its_stack, 0x22, 1004);
	am->free(pool, thread_list);
	am->free(pool, on_its_stack);
	second_done = 1;
	return NULL;
}

/* A thread that blocks every signal, the scan's included: it is not
 * stopped, and its stack is read whole. */
static void *deaf_thread(void *unused)
{
	sigset_t all;
	void *volatile on_its_stack;
	char never;

	(void)unused;
	sigfillset(&all);
	child_require(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0, "sigmask");
	on_its_stack = site_1017();
	child_require(write(ready_pipe[1], "d", 1) == 1, "write");
	/* until the process ends */
	while (read(go_pipe[0], &never, 0) >= 0 && on_its_stack != NULL)
		pause();
	return NULL;
}

#if REGISTER_HOLD_SUPPORTED
/* Holds 1018 in a register alone (leak_scan/register_hold.h) until the
 * process ends: the scan finds it in the registers it saves when it stops
 * the thread. */
static void *register_thread(void *unused)
{
	uintptr_t hidden = register_hold_hide(site_1018());

	(void)unused;
	register_hold_wipe();
	register_hold(hidden, ready_pipe[1], register_pipe[0]);
	return NULL;
}
#endif

/* Called after the scan resumed the threads: lets the second one finish. */
static bool release_second(const area_malloc_report *report, void *cookie)
{
	static bool released;

	(void)report;
	(void)cookie;
	if (!released) {
		released = true;
		child_require(write(go_pipe[1], "g", 1) == 1, "write");
		child_require(pthread_join(second, NULL) == 0, "join");
		fprintf(stderr, "second thread finished its work: %s\n",
			second_done ? "yes" : "no");
	}
	return false;
}

/* Stale copies of pointers below this frame must not be roots. */
__attribute__((noinline)) static void wipe_stack(void)
{
	volatile char area[64 * 1024];

	memset((char *)area, 0, sizeof(area));
	__asm__ volatile("" ::: "memory");
}

struct scenario {
	const char *options;
	bool only_held;   /* no lost blocks */
	bool scan_now;    /* the companion's scan_leaks, then _exit */
	bool deaf_thread; /* a third thread blocks the scan's signal */
	bool churn;       /* scans while a thread allocates and frees */
	bool in_register; /* a thread holds 1018 in a register alone */
};

static area_malloc_debug_module_info_v2 *amd2;

/* A block marked as a root, its last pointer dropped: it and the block it
 * holds stay referenced. */
__attribute__((noinline)) static void make_marked_root(void)
{
	void **marked = site_1015();

	marked[0] = site_1016();
	child_require(amd2->not_leak(pool, marked) == B_OK, "not_leak");
	child_require(amd2->not_leak(pool, marked) == B_OK, "not_leak twice");
	/* not a live block's start, not a pool: refused */
	child_require(amd2->not_leak(pool, (char *)marked + 8) == B_BAD_VALUE, "not_leak inside");
	child_require(amd2->not_leak(NULL, marked) == B_BAD_VALUE, "not_leak no pool");
}

/* ---- scans under churn ---- */

/* 1,000 scans (the criterion), AREA_MALLOC_TEST_SCALE scales them */
#define CHURN_SCANS ((int)test_scaled(1000, 20))
#define CHURN_RING 16

static volatile int churn_stop;
static volatile unsigned long churn_rounds;
static volatile int churn_broken;

/* Allocates, fills, checks and frees without pause; CHURN_RING blocks are
 * always held (on this thread's stack or in its registers). */
static void *churn_thread(void *unused)
{
	unsigned char *ring[CHURN_RING] = { NULL };

	(void)unused;
	for (unsigned long round = 0; !churn_stop; round++) {
		size_t slot = round % CHURN_RING;
		if (ring[slot] != NULL) {
			for (size_t i = 0; i < 64; i++)
				churn_broken |= ring[slot][i] != (unsigned char)slot;
			am->free(pool, ring[slot]);
		}
		ring[slot] = am->malloc(pool, 64);
		if (ring[slot] == NULL) {
			churn_broken = 1;
			break;
		}
		memset(ring[slot], (int)slot, 64);
		churn_rounds = round + 1;
	}
	for (size_t slot = 0; slot < CHURN_RING; slot++)
		if (ring[slot] != NULL)
			am->free(pool, ring[slot]);
	return NULL;
}

/* Scans a driver whose other thread never stops allocating: nothing it
 * holds is ever found lost, and it runs on correctly after every scan. */
static void scan_under_churn(void)
{
	area_malloc_scan_result result;
	size_t lost = 0, failed = 0;
	pthread_t churn;
	unsigned long before;
	int scans = CHURN_SCANS;

	child_require(get_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME, (module_info **)&amd2) == B_OK,
		"get_module(area_malloc/debug/v2)");
	child_require(pthread_create(&churn, NULL, churn_thread, NULL) == 0, "thread");

	for (int scan = 0; scan < scans; scan++) {
		before = churn_rounds;
		if (amd2->scan_leaks(pool, &result) != B_OK)
			failed++;
		lost += result.unreferenced_blocks + result.indirect_blocks;
		/* the churn goes on between scans */
		while (churn_rounds == before && !churn_broken)
			sched_yield();
	}
	churn_stop = 1;
	child_require(pthread_join(churn, NULL) == 0, "join");
	fprintf(stderr, "scans: %d, failed %zu, lost %zu, churn %s\n", scans, failed, lost,
		churn_broken ? "broken" : "ok");
	fflush(stderr);
	_exit(0);
}

/* The scan asked for while the driver runs: its result, then the second
 * thread goes on. */
static void scan_now(void)
{
	area_malloc_scan_result result;
	status_t status;

	child_require(get_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME, (module_info **)&amd2) == B_OK,
		"get_module(area_malloc/debug/v2)");
	make_marked_root();
	wipe_stack();
	status = amd2->scan_leaks(NULL, &result);
	fprintf(stderr,
		"scan_leaks: %d; unreferenced %zu/%zu, indirect %zu/%zu, referenced %zu/%zu, "
		"unscanned threads %zu\n",
		(int)status, result.unreferenced_bytes, result.unreferenced_blocks,
		result.indirect_bytes, result.indirect_blocks, result.referenced_bytes,
		result.referenced_blocks, result.unscanned_threads);
	child_require(amd2->scan_leaks((const void *)&result, NULL) == B_BAD_VALUE, "bad pool");
	{
		char *printed = NULL;
		int returned = run_debug_command("scan", &printed);
		fprintf(stderr, "scan command: %d: %s", returned, printed);
		free(printed);
		returned = run_debug_command("scan 99999", &printed);
		fprintf(stderr, "scan command: %d: %s", returned, printed);
		free(printed);
	}
	child_require(write(go_pipe[1], "g", 1) == 1, "write");
	child_require(pthread_join(second, NULL) == 0, "join");
	fprintf(stderr, "second thread finished its work: %s\n", second_done ? "yes" : "no");
	fflush(stderr);
	_exit(0);
}

static void load_debug(const char *options)
{
	char path[4096];
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	child_require(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set");
	snprintf(path, sizeof(path), "%s/modules/debug", dir);
	setenv("KERNEL_MODULE_PATH", path, 1);
	set_debug_options(options);
	child_require(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK,
		"get_module(area_malloc)");
	child_require(get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd) == B_OK,
		"get_module(area_malloc/debug)");
}

/* The child: exits from here, its stack variable alive. */
static void driver(const struct scenario *scenario)
{
	void *volatile on_stack;
	char ready;

	load_debug(scenario->options);
	make_scan_pool();
	if (scenario->churn)
		scan_under_churn();
	child_require(pipe(ready_pipe) == 0 && pipe(go_pipe) == 0, "pipe");
	child_require(pthread_create(&second, NULL, second_thread, NULL) == 0, "thread");
	child_require(read(ready_pipe[0], &ready, 1) == 1, "read");
	if (scenario->deaf_thread) {
		pthread_t deaf;
		child_require(pthread_create(&deaf, NULL, deaf_thread, NULL) == 0, "thread");
		child_require(read(ready_pipe[0], &ready, 1) == 1, "read");
	}
#if REGISTER_HOLD_SUPPORTED
	if (scenario->in_register) {
		pthread_t holder;
		child_require(pipe(register_pipe) == 0, "pipe");
		child_require(pthread_create(&holder, NULL, register_thread, NULL) == 0, "thread");
		child_require(read(ready_pipe[0], &ready, 1) == 1, "read");
	}
#endif
	make_held_blocks();
	on_stack = site_1005(); /* a stack variable */
	if (!scenario->only_held)
		make_lost_blocks();
	if (scenario->scan_now)
		scan_now();
	amd->set_report_hook(release_second, NULL);
	wipe_stack();
	exit(on_stack != NULL ? 0 : CHILD_BROKEN);
}

struct child_run {
	int status;
	char *output;
};

static struct child_run run_driver(const struct scenario *scenario)
{
	struct child_run run = { 0, NULL };
	FILE *capture = tmpfile();
	long length;
	pid_t pid;

	ck_assert_ptr_nonnull(capture);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (dup2(fileno(capture), STDERR_FILENO) < 0)
			_exit(CHILD_BROKEN);
		driver(scenario);
	}
	ck_assert_int_eq(waitpid(pid, &run.status, 0), pid);
	length = ftell(capture);
	ck_assert_int_ge(length, 0);
	run.output = calloc(1, (size_t)length + 1);
	ck_assert_ptr_nonnull(run.output);
	rewind(capture);
	ck_assert_uint_eq(fread(run.output, 1, (size_t)length, capture), (size_t)length);
	fclose(capture);
	/* the whole output for a failing assertion (Check cuts long messages) */
	if (getenv("LEAK_SCAN_TEST_OUTPUT") != NULL)
		fprintf(stderr, "%s", run.output);
	return run;
}

static void assert_exit_status(const struct child_run *run, int status)
{
	ck_assert_msg(WIFEXITED(run->status) && WEXITSTATUS(run->status) == status,
		"want exit status %d, got %s %d; its standard error:\n%s", status,
		WIFEXITED(run->status) ? "exit status" : "signal",
		WIFEXITED(run->status) ? WEXITSTATUS(run->status) : WTERMSIG(run->status),
		run->output);
}

/* The verdict on the group of the block of size (NULL: not listed). */
static const char *verdict_of(const char *output, size_t size, char *buffer, size_t room)
{
	char head[128];
	const char *at, *line, *end;

	snprintf(head, sizeof(head), "\nLeak of %zu byte(s) in 1 allocation(s) allocated from:\n",
		size);
	at = strstr(output, head);
	if (at == NULL)
		return NULL;
	line = strstr(at, "    (first block ");
	ck_assert_ptr_nonnull(line);
	end = strchr(line, '\n');
	ck_assert_ptr_nonnull(end);
	/* "(first block 0x..., thread Tn, seq n, S.mmm s old, VERDICT)" */
	at = line;
	for (int commas = 0; commas < 3 && at < end; at++)
		commas += *at == ',';
	if (at >= end)
		return "";
	{
		unsigned seconds, milliseconds;
		int used = -1;
		ck_assert_msg(sscanf(at, " %u.%3u s old,%n", &seconds, &milliseconds, &used) == 2
				&& used > 0 && at + used < end,
			"no age in %.*s", (int)(end - line), line);
		at += used;
	}
	snprintf(buffer, room, "%.*s", (int)(end - at - 2), at + 1);
	return buffer;
}

static void assert_verdict(const char *output, size_t size, const char *want)
{
	char buffer[64];
	const char *got = verdict_of(output, size, buffer, sizeof(buffer));

	if (want == NULL)
		ck_assert_msg(got == NULL, "block of %zu listed (%s):\n%s", size, got, output);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0,
			"block of %zu: want '%s', got '%s':\n%s", size, want,
			got != NULL ? got : "(not listed)", output);
}

/* Writes the suppression of the leaked-pool report; returns the option. */
static const char *suppress_pool(char *option, size_t room)
{
	static char path[] = "/tmp/leak_scan_supp_XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "leak:make_scan_pool\n", 20), 20);
	close(fd);
	snprintf(option, room, "suppressions=%s", path);
	return path;
}

static const char *const held_sizes[] = { "1001", "1002", "1003", "1004", "1005", "1006", "1009" };

START_TEST(test_exit_marks_every_group)
{
	struct scenario scenario = { "stack_depth=4:color=never", false, false, false, false,
		false };
	struct child_run run = run_driver(&scenario);

	assert_exit_status(&run, LEAK_EXIT_STATUS);
	for (size_t i = 0; i < sizeof(held_sizes) / sizeof(held_sizes[0]); i++)
		assert_verdict(run.output, (size_t)atoi(held_sizes[i]), "still referenced");
	assert_verdict(run.output, 1007, "unreferenced"); /* interior only */
	assert_verdict(run.output, 1008, "unreferenced"); /* pointer overwritten */
	assert_verdict(run.output, 1010, NULL);           /* freed */
	assert_verdict(run.output, 1011, "unreferenced"); /* its container freed */
	assert_verdict(run.output, 1012, "unreferenced");
	assert_verdict(run.output, 1013, "indirectly lost");
	assert_verdict(run.output, 1014, "indirectly lost");
	ck_assert_msg(strstr(run.output,
			      "\nSUMMARY: area_malloc: 13095 byte(s) leaked in 13 allocation(s).\n")
			!= NULL,
		"%s", run.output);
	ck_assert_msg(strstr(run.output, "second thread finished its work: yes\n") != NULL, "%s",
		run.output);
	ck_assert_msg(strstr(run.output, "did not stop") == NULL, "%s", run.output);
	free(run.output);
}
END_TEST

START_TEST(test_thread_that_does_not_stop)
{
	struct scenario scenario = { "stack_depth=4:color=never", false, false, true, false,
		false };
	struct child_run run = run_driver(&scenario);

	assert_exit_status(&run, LEAK_EXIT_STATUS);
	ck_assert_msg(strstr(run.output,
			      "\nfound at exit\n1 thread(s) did not stop and were not "
			      "scanned (their stacks were scanned whole): T")
			!= NULL,
		"%s", run.output);
	assert_verdict(run.output, 1017, "still referenced");
	assert_verdict(run.output, 1004, "still referenced");
	assert_verdict(run.output, 1008, "unreferenced");
	ck_assert_msg(strstr(run.output, "second thread finished its work: yes\n") != NULL, "%s",
		run.output);
	free(run.output);
}
END_TEST

/* A block whose only pointer is in a waiting thread's register (r12): the
 * exit-time scan stops the thread and finds it held. x86-64 only. */
START_TEST(test_register_held)
{
#if REGISTER_HOLD_SUPPORTED
	struct scenario scenario = { "stack_depth=4:color=never", true, false, false, false, true };
	struct child_run run = run_driver(&scenario);

	assert_exit_status(&run, LEAK_EXIT_STATUS);
	assert_verdict(run.output, 1018, "still referenced");
	assert_verdict(run.output, 1005, "still referenced");
	ck_assert_msg(strstr(run.output, "did not stop") == NULL, "%s", run.output);
	free(run.output);
#endif
}
END_TEST

START_TEST(test_interior_pointers)
{
	struct scenario scenario = { "stack_depth=4:color=never:leak_interior=1", false, false,
		false, false, false };
	struct child_run run = run_driver(&scenario);

	assert_exit_status(&run, LEAK_EXIT_STATUS);
	assert_verdict(run.output, 1007, "still referenced");
	assert_verdict(run.output, 1008, "unreferenced");
	assert_verdict(run.output, 1013, "indirectly lost");
	free(run.output);
}
END_TEST

START_TEST(test_leak_mode_unreferenced)
{
	char options[512], suppression[300];
	const char *path = suppress_pool(suppression, sizeof(suppression));
	struct scenario scenario = { options, false, false, false, false, false };
	struct child_run run;

	snprintf(options, sizeof(options),
		"stack_depth=4:color=never:leak_mode=unreferenced:report_format=json:%s",
		suppression);
	run = run_driver(&scenario);
	assert_exit_status(&run, LEAK_EXIT_STATUS);
	for (size_t i = 0; i < sizeof(held_sizes) / sizeof(held_sizes[0]); i++)
		assert_verdict(run.output, (size_t)atoi(held_sizes[i]), NULL);
	assert_verdict(run.output, 1008, "unreferenced");
	assert_verdict(run.output, 1014, "indirectly lost");
	ck_assert_msg(strstr(run.output,
			      "\nStill referenced, not leaks with leak_mode=unreferenced: 7030 "
			      "byte(s) in 7 allocation(s).\n")
				!= NULL
			&& strstr(run.output,
				   "\nSUMMARY: area_malloc: 6065 byte(s) leaked in 6 "
				   "allocation(s).\n")
				!= NULL,
		"%s", run.output);
	/* JSON: the totals held back, and each group's verdict */
	ck_assert_msg(strstr(run.output,
			      "\"leaked_bytes\":6065,\"leaked_blocks\":6,"
			      "\"suppressed_bytes\":0,\"suppressed_blocks\":0,"
			      "\"referenced_bytes\":7030,\"referenced_blocks\":7,"
			      "\"groups\":[")
				!= NULL
			&& strstr(run.output, "\"count\":1,\"bytes\":1014,") != NULL
			&& strstr(strstr(run.output, "\"count\":1,\"bytes\":1014,"),
				   "\"reach\":\"indirect\",\"age_us\":")
				!= NULL
			&& strstr(run.output, "\"reach\":\"referenced\"") == NULL,
		"%s", run.output);
	free(run.output);

	/* nothing lost (the interior pointer counts): no ERROR line, exit
	 * status 0 */
	snprintf(options, sizeof(options),
		"stack_depth=4:color=never:leak_mode=unreferenced:leak_interior=1:%s", suppression);
	scenario.only_held = true;
	run = run_driver(&scenario);
	assert_exit_status(&run, 0);
	ck_assert_msg(strstr(run.output, "ERROR: area_malloc: detected memory leaks") == NULL
			&& strstr(run.output,
				   "Still referenced, not leaks with leak_mode=unreferenced: 7028 "
				   "byte(s) in 7 allocation(s).\n")
				== run.output,
		"%s", run.output);
	ck_assert_msg(strstr(run.output, "second thread finished its work") == NULL, "%s",
		run.output);
	free(run.output);

	/* leak_mode=all (the default): the same blocks count */
	snprintf(options, sizeof(options), "stack_depth=4:color=never:leak_interior=1:%s",
		suppression);
	run = run_driver(&scenario);
	assert_exit_status(&run, LEAK_EXIT_STATUS);
	assert_verdict(run.output, 1001, "still referenced");
	free(run.output);
	unlink(path);
}
END_TEST

START_TEST(test_scan_while_running)
{
	struct scenario scenario = { "stack_depth=4:color=never", false, true, false, false,
		false };
	struct child_run run = run_driver(&scenario);

	assert_exit_status(&run, 0);
	ck_assert_msg(strstr(run.output,
			      "scan_leaks: 0; unreferenced 4038/4, indirect 2027/2, "
			      "referenced 9061/9, unscanned threads 0\n")
			!= NULL,
		"%s", run.output);
	ck_assert_msg(strstr(run.output, "found by scan\n") != NULL
			&& strstr(run.output, "found by scan on request\n") != NULL,
		"%s", run.output);
	ck_assert_msg(strstr(run.output,
			      "scan command: 1: 4038 byte(s) in 4 block(s) unreferenced, 2027 "
			      "byte(s) in 2 block(s) indirectly lost, 9061 byte(s) in 9 block(s) "
			      "still referenced\n")
				!= NULL
			&& strstr(run.output, "scan command: 2: scan: no pool 99999\n") != NULL,
		"%s", run.output);
	/* only the lost blocks are listed */
	assert_verdict(run.output, 1001, NULL);
	assert_verdict(run.output, 1015, NULL);
	assert_verdict(run.output, 1016, NULL);
	assert_verdict(run.output, 1008, "unreferenced");
	assert_verdict(run.output, 1013, "indirectly lost");
	ck_assert_msg(strstr(run.output,
			      "\nSUMMARY: area_malloc: 6065 byte(s) leaked in 6 "
			      "allocation(s).\n")
			!= NULL,
		"%s", run.output);
	ck_assert_msg(strstr(run.output, "second thread finished its work: yes\n") != NULL, "%s",
		run.output);
	free(run.output);
}
END_TEST

START_TEST(test_scans_under_churn)
{
	struct scenario scenario = { "stack_depth=4:color=never", false, false, false, true,
		false };
	struct child_run run = run_driver(&scenario);
	char want[128];

	assert_exit_status(&run, 0);
	snprintf(want, sizeof(want), "scans: %d, failed 0, lost 0, churn ok\n", CHURN_SCANS);
	ck_assert_msg(strstr(run.output, want) != NULL, "%s", run.output);
	ck_assert_msg(strstr(run.output, "ERROR") == NULL, "%s", run.output);
	free(run.output);
}
END_TEST

static Suite *leak_scan_suite(void)
{
	Suite *suite = suite_create("leak_scan");
	TCase *engine = tcase_create("engine");
	TCase *exit_scan = tcase_create("exit");
	TCase *churn = tcase_create("churn");

	tcase_set_timeout(engine, 120);
	tcase_add_test(engine, test_engine_classifies);
	tcase_add_test(engine, test_engine_long_chain);
	tcase_set_timeout(exit_scan, 120);
	tcase_add_test(exit_scan, test_exit_marks_every_group);
	tcase_add_test(exit_scan, test_interior_pointers);
	tcase_add_test(exit_scan, test_thread_that_does_not_stop);
	tcase_add_test(exit_scan, test_register_held);
	tcase_add_test(exit_scan, test_leak_mode_unreferenced);
	tcase_add_test(exit_scan, test_scan_while_running);
	/* a thousand scans: minutes on a loaded machine under a sanitizer */
	tcase_set_timeout(churn, 900);
	tcase_add_test(churn, test_scans_under_churn);
	suite_add_tcase(suite, engine);
	suite_add_tcase(suite, exit_scan);
	suite_add_tcase(suite, churn);
	return suite;
}

int main(void)
{
	return run_check_suite(leak_scan_suite(), CK_FORK);
}
