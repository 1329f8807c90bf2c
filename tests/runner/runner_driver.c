/*
 * runner_driver.c - a small driver that misbehaves in one chosen way per
 * run, for the "pooldump run" suite (test_runner.c):
 *
 *   runner_driver SCENARIO [ARGUMENT]
 *
 * It uses generic/area_malloc/v1 through the module interface only, and
 * names its pools through the debug companion module when it is there.
 * Every module call a report names sits in a non-inlined helper on a line
 * tagged "runner-site:NAME": the suite reads this file for the line a
 * report must name. A compiler barrier after each call keeps it from being
 * a tail call, so the caller recorded is the helper itself.
 *
 * Scenarios and what they leave (the suite checks exactly this):
 *   clean [STATUS]       nothing; exits STATUS (default 0)
 *   leak                 48 bytes in 1 allocation from rx_leak, pool "net-rx", at exit
 *   double-free [N]      N double frees of a 100-byte block at tx_free, pool "net-tx"
 *   leak-on-request      a leak report asked for with the "leaks" debugger command
 *                        (it does not count), no leak
 *   fork-children        forks: a double free, a 32-byte leak, an interior free, and an
 *                        exec of "runner_driver leak"; prints "child KIND PID" for each
 *   crash [double-free]  (a double free, then) dies of SIGSEGV
 *   wait-signal          a double free, prints "ready", waits to be killed
 *   suppressions         chdir("/"), then leaks 40 bytes from leak_keep and 2 x 24 bytes
 *                        from leak_hide
 *   killed-mid-report    a child reports a double free, cuts its report file inside
 *                        the JSON line and kills itself; prints "child PID"; the
 *                        parent leaks 16 bytes from rx_leak
 *   odd-name             a double free in a pool named "a]]>b&<c\"'\x01\xff"
 *   scan [held|exit]     in pool "scanned": 40 bytes from leak_keep held by a global,
 *                        48 bytes from rx_leak whose last pointer was dropped, holding
 *                        the only pointer to 24 bytes from leak_hide; then the module
 *                        is put away with the pool open (reported at unload). held:
 *                        the held block alone; exit: the module is never put away
 *
 * Locking: single-threaded (children are forked, never threads).
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#define COMPILER_BARRIER() __asm__ __volatile__("" ::: "memory")
#define CALL_SITE __attribute__((noipa))

static area_malloc_module_info *sAreaMalloc;
static area_malloc_debug_module_info *sDebug; /* NULL with the release build */

/* ---- the call sites ---- */

static CALL_SITE void *rx_leak(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* runner-site:rx_leak */
	COMPILER_BARRIER();
	return buffer;
}

static CALL_SITE void *buffer_alloc(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* runner-site:buffer_alloc */
	COMPILER_BARRIER();
	return buffer;
}

static CALL_SITE void tx_free(const void *pool, void *buffer)
{
	sAreaMalloc->free(pool, buffer); /* runner-site:tx_free */
	COMPILER_BARRIER();
}

static CALL_SITE void *leak_keep(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* runner-site:leak_keep */
	COMPILER_BARRIER();
	return buffer;
}

static CALL_SITE void *leak_hide(const void *pool, size_t size)
{
	void *buffer = sAreaMalloc->malloc(pool, size); /* runner-site:leak_hide */
	COMPILER_BARRIER();
	return buffer;
}

/* ---- life cycle ---- */

static void driver_open(void)
{
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&sAreaMalloc) != B_OK) {
		fprintf(stderr, "runner_driver: cannot get %s\n", B_AREA_MALLOC_MODULE_NAME);
		exit(2);
	}
	if (get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&sDebug) != B_OK)
		sDebug = NULL;
}

static void driver_close(void)
{
	if (sDebug != NULL)
		put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	put_module(B_AREA_MALLOC_MODULE_NAME);
}

static const void *pool_create(const char *name)
{
	const void *pool = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 256 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);

	if (pool == NULL) {
		fprintf(stderr, "runner_driver: cannot create a pool\n");
		exit(2);
	}
	if (sDebug != NULL)
		sDebug->set_pool_name(pool, name);
	return pool;
}

static void double_free(const void *pool)
{
	void *packet = buffer_alloc(pool, 100);

	tx_free(pool, packet);
	tx_free(pool, packet);
}

/* ---- scenarios ---- */

static int scenario_clean(const char *argument)
{
	const void *pool;
	void *buffers[8];

	driver_open();
	pool = pool_create("clean");
	for (int i = 0; i < 8; i++)
		buffers[i] = buffer_alloc(pool, 32 + 16 * (size_t)i);
	for (int i = 0; i < 8; i++)
		tx_free(pool, buffers[i]);
	sAreaMalloc->delete_pool(pool);
	driver_close();
	return argument != NULL ? atoi(argument) : 0;
}

static int scenario_leak(const char *argument)
{
	(void)argument;
	driver_open();
	rx_leak(pool_create("net-rx"), 48);
	return 0; /* the pool and the module are never put away */
}

static int scenario_double_free(const char *argument)
{
	int times = argument != NULL ? atoi(argument) : 1;
	const void *pool;

	driver_open();
	pool = pool_create("net-tx");
	for (int i = 0; i < times; i++)
		double_free(pool);
	sAreaMalloc->delete_pool(pool);
	driver_close();
	return 0;
}

static int scenario_leak_on_request(const char *argument)
{
	const void *pool;
	void *buffer;

	(void)argument;
	driver_open();
	pool = pool_create("on-request");
	buffer = rx_leak(pool, 16);
	/* the "leaks" debugger command: a look, not a verdict */
	evaluate_debug_command("leaks");
	tx_free(pool, buffer);
	sAreaMalloc->delete_pool(pool);
	driver_close();
	return 0;
}

static pid_t fork_child(const char *kind)
{
	pid_t child;

	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("runner_driver: fork");
		exit(2);
	}
	if (child > 0) {
		printf("child %s %d\n", kind, (int)child);
		fflush(stdout);
	}
	return child;
}

static int scenario_fork_children(const char *argument)
{
	void *parent_blocks[3];
	const void *pool;
	int status;

	(void)argument;
	driver_open();
	pool = pool_create("shared");
	/* blocks of the parent: a child's exit-time report must not list them */
	for (int i = 0; i < 3; i++)
		parent_blocks[i] = buffer_alloc(pool, 200);
	if (fork_child("double-free") == 0) {
		double_free(pool);
		exit(0);
	}
	if (fork_child("leak") == 0) {
		rx_leak(pool, 32);
		exit(0);
	}
	if (fork_child("invalid-free") == 0) {
		unsigned char *block = buffer_alloc(pool, 64);
		tx_free(pool, block + 8);
		tx_free(pool, block);
		exit(0);
	}
	if (fork_child("exec") == 0) {
		execl("/proc/self/exe", "runner_driver", "leak", (char *)NULL);
		_exit(127);
	}
	while (wait(&status) > 0)
		continue;
	for (int i = 0; i < 3; i++)
		tx_free(pool, parent_blocks[i]);
	sAreaMalloc->delete_pool(pool);
	driver_close();
	return 0;
}

static int scenario_crash(const char *argument)
{
	struct sigaction default_action = { .sa_handler = SIG_DFL };

	if (argument != NULL && strcmp(argument, "double-free") == 0) {
		driver_open();
		double_free(pool_create("net-tx"));
	}
	/* the default action, whatever a sanitizer installed: die of it */
	sigemptyset(&default_action.sa_mask);
	sigaction(SIGSEGV, &default_action, NULL);
	fflush(NULL);
	raise(SIGSEGV);
	return 2;
}

static int scenario_wait_signal(const char *argument)
{
	struct sigaction default_action = { .sa_handler = SIG_DFL };

	(void)argument;
	/* a background job may have inherited SIG_IGN: it must die of them */
	sigemptyset(&default_action.sa_mask);
	sigaction(SIGINT, &default_action, NULL);
	sigaction(SIGTERM, &default_action, NULL);
	driver_open();
	double_free(pool_create("net-tx"));
	printf("ready\n");
	fflush(stdout);
	while (pause() != 0)
		continue;
	return 2; /* not reached: pause() returns only after a handled signal */
}

static int scenario_suppressions(const char *argument)
{
	const void *pool;

	(void)argument;
	/* a relative suppressions path would now be wrong */
	if (chdir("/") != 0)
		return 2;
	driver_open();
	pool = pool_create("suppressed");
	leak_keep(pool, 40);
	leak_hide(pool, 24);
	leak_hide(pool, 24);
	return 0;
}

/* This process's report file, from log_path in AREA_MALLOC_OPTIONS (the
 * last one wins; the suite's paths are never quoted). */
static bool own_report_file(char *path, size_t size)
{
	const char *options = getenv("AREA_MALLOC_OPTIONS"), *found = NULL;

	for (const char *cursor = options; cursor != NULL && (cursor = strstr(cursor, "log_path="));
		cursor++)
		found = cursor + strlen("log_path=");
	if (found == NULL)
		return false;
	snprintf(path, size, "%.*s.%d", (int)strcspn(found, ":"), found, (int)getpid());
	return true;
}

static int scenario_killed_mid_report(const char *argument)
{
	const void *pool;
	int status;

	(void)argument;
	driver_open();
	pool = pool_create("net-tx");
	if (fork_child("killed") == 0) {
		char path[4096];
		struct stat file;
		double_free(pool);
		/* as if killed while writing: the JSON line is cut */
		if (!own_report_file(path, sizeof(path)) || stat(path, &file) != 0
			|| truncate(path, file.st_size - 40) != 0)
			_exit(2);
		raise(SIGKILL);
	}
	while (wait(&status) > 0)
		continue;
	rx_leak(pool, 16);
	return 0;
}

/* What the scan scenario holds: the reachability scan must find it. */
static void *volatile sHeld;

/* The blocks of the scan scenario; no pointer to the lost ones survives
 * its return but in the lost block itself (and below the stack pointer). */
static CALL_SITE void make_scan_blocks(const void *pool, bool held_only)
{
	void **lost;

	sHeld = leak_keep(pool, 40);
	if (held_only)
		return;
	lost = rx_leak(pool, 48);
	lost[0] = leak_hide(pool, 24);
	COMPILER_BARRIER();
}

/* Stale copies of pointers below the caller's frame must not be roots:
 * the module's frames at put_module reuse that stack. */
static CALL_SITE void wipe_stack(void)
{
	volatile char area[64 * 1024];

	memset((char *)area, 0, sizeof(area));
	COMPILER_BARRIER();
}

static int scenario_scan(const char *argument)
{
	bool at_exit = argument != NULL && strcmp(argument, "exit") == 0;

	driver_open();
	make_scan_blocks(pool_create("scanned"), argument != NULL && strcmp(argument, "held") == 0);
	wipe_stack();
	if (!at_exit)
		driver_close(); /* the pool still open: reported at unload */
	return 0;
}

static int scenario_odd_name(const char *argument)
{
	const void *pool;

	(void)argument;
	driver_open();
	pool = pool_create("a]]>b&<c\"'\x01\xff");
	double_free(pool);
	sAreaMalloc->delete_pool(pool);
	driver_close();
	return 0;
}

static const struct scenario {
	const char *name;
	int (*run)(const char *argument);
} scenarios[] = {
	{ "clean", scenario_clean },
	{ "leak", scenario_leak },
	{ "double-free", scenario_double_free },
	{ "leak-on-request", scenario_leak_on_request },
	{ "fork-children", scenario_fork_children },
	{ "crash", scenario_crash },
	{ "wait-signal", scenario_wait_signal },
	{ "suppressions", scenario_suppressions },
	{ "killed-mid-report", scenario_killed_mid_report },
	{ "odd-name", scenario_odd_name },
	{ "scan", scenario_scan },
};

int main(int argc, char **argv)
{
	if (argc >= 2 && argc <= 3) {
		for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
			if (strcmp(argv[1], scenarios[i].name) == 0)
				return scenarios[i].run(argc == 3 ? argv[2] : NULL);
		}
	}
	fprintf(stderr, "usage: runner_driver SCENARIO [ARGUMENT]\nscenarios:");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(stderr, " %s", scenarios[i].name);
	fputc('\n', stderr);
	return 2;
}
