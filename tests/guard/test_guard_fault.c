/*
 * test_guard_fault.c - the guard page fault handler of the kernel-API layer
 * (src/kernel/guard_fault.c): faults inside a registered range reach its
 * owner with the exact address, access and stack, and execution goes on
 * when the owner unprotects; every other fault reaches the handler that was
 * there before (a driver's, installed before or after ours, SIG_IGN,
 * SIG_DFL, AddressSanitizer's) as if the library were not there.
 *
 * Handlers are process-wide and installed once: every test runs in a
 * process of its own (CK_FORK), and tests that expect a death fork again
 * and check how the child ended. The Check runner never registers a range.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#endif

#include "kernel/sanitizers.h"
#include "kernel/guard_fault.h"
#include "support/check_main.h"

#define MAX_SEEN 8
#define THREAD_FAULTS 500
#define THREAD_REGISTRATIONS 500

static size_t page_size;
/* faults the owner's callback saw */
static struct kernel_guard_fault seen[MAX_SEEN];
static _Atomic unsigned seen_count;
/* faults the driver's own handler saw */
static uintptr_t driver_seen[MAX_SEEN];
static _Atomic unsigned driver_count;
static struct sigaction driver_saved;
/* the page the driver's handler makes accessible (its own fault) */
static char *driver_page;
/* return address of the last faulting access (frames[1] of its fault) */
static uintptr_t access_return;
static int bus_fd = -1;

static char *protected_pages(size_t count)
{
	char *pages = mmap(NULL, count * page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(pages, MAP_FAILED);
	return pages;
}

static void record(const struct kernel_guard_fault *fault)
{
	unsigned index = atomic_fetch_add(&seen_count, 1);

	if (index < MAX_SEEN)
		seen[index] = *fault;
}

/* The owner: makes the faulting page accessible (cookie: the range). */
static enum kernel_guard_verdict unprotect(const struct kernel_guard_fault *fault, void *cookie)
{
	record(fault);
	mprotect(cookie, fault->range_size, PROT_READ | PROT_WRITE);
	return KERNEL_GUARD_CONTINUE;
}

static enum kernel_guard_verdict fatal(const struct kernel_guard_fault *fault, void *cookie)
{
	(void)cookie;
	record(fault);
	return KERNEL_GUARD_FATAL;
}

static enum kernel_guard_verdict decline(const struct kernel_guard_fault *fault, void *cookie)
{
	(void)cookie;
	record(fault);
	return KERNEL_GUARD_DECLINE;
}

/* The SIGBUS owner: gives the file its page, so the access can be made. */
static enum kernel_guard_verdict grow_file(const struct kernel_guard_fault *fault, void *cookie)
{
	(void)cookie;
	record(fault);
	return ftruncate(bus_fd, (off_t)page_size) == 0 ? KERNEL_GUARD_CONTINUE
							: KERNEL_GUARD_FATAL;
}

/* A call after the access keeps the accessing function's frame up until
 * then (a leaf may drop it before its last access). */
static __attribute__((noinline)) void after_access(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Accesses with a frame of their own, so the fault's frames[1] is known. */
static __attribute__((noinline)) int read_at(volatile char *at)
{
	int value;

	access_return = (uintptr_t)__builtin_return_address(0);
	value = *at;
	after_access();
	return value;
}

static __attribute__((noinline)) int write_at(volatile char *at, char value)
{
	access_return = (uintptr_t)__builtin_return_address(0);
	*at = value;
	after_access();
	return value;
}

static void check_fault(unsigned index, int signal, uintptr_t address, char *range, size_t size,
	enum kernel_guard_access access)
{
	const struct kernel_guard_fault *fault = &seen[index];
	struct kernel_guard_fault copy;

	ck_assert_int_eq(fault->signal, signal);
	ck_assert_uint_eq(fault->address, address);
	ck_assert_uint_eq(fault->range_start, (uintptr_t)range);
	ck_assert_uint_eq(fault->range_size, size);
	ck_assert_int_eq(fault->access, access);
	ck_assert_int_eq(fault->thread, (pid_t)syscall(SYS_gettid));
	ck_assert_uint_ge(fault->frame_count, 2);
	ck_assert_uint_eq(fault->frames[1], access_return);
	/* the stack copy holds the accessing function's frame */
	ck_assert_ptr_nonnull(fault->stack);
	ck_assert_uint_ge(fault->frame_pointer, fault->stack_pointer);
	ck_assert_uint_lt((fault->frame_pointer - fault->stack_pointer) / sizeof(uintptr_t) + 1,
		fault->stack_word_count);
	ck_assert_uint_eq(fault->stack[(fault->frame_pointer - fault->stack_pointer)
					  / sizeof(uintptr_t)
				  + 1],
		access_return);
	ck_assert(kernel_guard_fault_copy(fault->number, &copy));
	ck_assert_mem_eq(&copy, fault, sizeof(copy));
}

/* ---- the driver's own handler ---- */

/* Handles its own page's faults; chains the rest to what it replaced. */
static void driver_handler(int signal, siginfo_t *info, void *context)
{
	unsigned index = atomic_fetch_add(&driver_count, 1);

	if (index < MAX_SEEN)
		driver_seen[index] = (uintptr_t)info->si_addr;
	if (driver_page != NULL && (char *)info->si_addr >= driver_page
		&& (char *)info->si_addr < driver_page + page_size) {
		mprotect(driver_page, page_size, PROT_READ | PROT_WRITE);
		return;
	}
	if (driver_saved.sa_flags & SA_SIGINFO)
		driver_saved.sa_sigaction(signal, info, context);
}

static void install_driver_handler_with(int flags)
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_sigaction = driver_handler;
	action.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&action.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &action, &driver_saved), 0);
}

static void install_driver_handler(void)
{
	install_driver_handler_with(0);
}

static void set_disposition(int signal, void (*handler)(int))
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_handler = handler;
	sigemptyset(&action.sa_mask);
	ck_assert_int_eq(sigaction(signal, &action, NULL), 0);
}

/* ---- children that die ---- */

struct ending {
	int status;
	char output[4096]; /* the child's stderr */
};

/* Runs body in a child whose stderr is captured (no core file). */
static pid_t run_child(void (*body)(void), struct ending *ending)
{
	int pipe_fds[2];
	size_t length = 0;
	pid_t child;

	ck_assert_int_eq(pipe(pipe_fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(pipe_fds[1], STDERR_FILENO);
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		body();
		_exit(0);
	}
	close(pipe_fds[1]);
	for (;;) {
		ssize_t got = read(pipe_fds[0], ending->output + length,
			sizeof(ending->output) - 1 - length);
		if (got <= 0)
			break;
		length += (size_t)got;
	}
	ending->output[length] = '\0';
	close(pipe_fds[0]);
	ck_assert_int_eq(waitpid(child, &ending->status, 0), child);
	return child;
}

static pid_t expect_death(void (*body)(void), int signal, struct ending *ending)
{
	pid_t child = run_child(body, ending);

	ck_assert_msg(WIFSIGNALED(ending->status) && WTERMSIG(ending->status) == signal,
		"child ended with status %#x, not signal %d; stderr: %s", ending->status, signal,
		ending->output);
	return child;
}

/* SIG_DFL in place (ASan's handler too removed), then a guarded range. */
static char *register_with_default_handlers(void)
{
	char *guarded = protected_pages(1);

	set_disposition(SIGSEGV, SIG_DFL);
	set_disposition(SIGBUS, SIG_DFL);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)guarded, page_size, unprotect, guarded),
		B_OK);
	return guarded;
}

static void setup(void)
{
	page_size = (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- faults in a range ---- */

START_TEST(read_and_write_faults_reach_the_owner_and_continue)
{
	char *range = protected_pages(2);

	ck_assert(kernel_guard_available());
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, 2 * page_size, unprotect, range),
		B_OK);
	ck_assert_int_eq(read_at(range + page_size + 5), 0);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	check_fault(0, SIGSEGV, (uintptr_t)(range + page_size + 5), range, 2 * page_size,
		KERNEL_GUARD_ACCESS_READ);
	ck_assert_int_eq(seen[0].code, SEGV_ACCERR);

	ck_assert_int_eq(mprotect(range, 2 * page_size, PROT_READ), 0);
	write_at(range + 100, 0x5a);
	ck_assert_uint_eq(atomic_load(&seen_count), 2);
	check_fault(1, SIGSEGV, (uintptr_t)(range + 100), range, 2 * page_size,
		KERNEL_GUARD_ACCESS_WRITE);
	ck_assert_int_eq(range[100], 0x5a);
	ck_assert_uint_eq(seen[1].number, seen[0].number + 1);
	ck_assert_uint_eq(kernel_guard_fault_total(), seen[1].number + 1);
}
END_TEST

START_TEST(registration_errors)
{
	char *range = protected_pages(2);

	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, 0, unprotect, NULL), B_BAD_VALUE);
	ck_assert_int_eq(kernel_guard_register(UINTPTR_MAX - 10, 20, unprotect, NULL), B_BAD_VALUE);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, page_size, NULL, NULL),
		B_BAD_VALUE);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, page_size, unprotect, NULL), B_OK);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range + page_size - 1, page_size,
				 unprotect, NULL),
		B_NAME_IN_USE);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range + page_size, page_size, unprotect,
				 NULL),
		B_OK);
	ck_assert_int_eq(kernel_guard_unregister((uintptr_t)range + 1), B_ENTRY_NOT_FOUND);
	ck_assert_int_eq(kernel_guard_unregister((uintptr_t)range), B_OK);
	ck_assert_int_eq(kernel_guard_unregister((uintptr_t)range), B_ENTRY_NOT_FOUND);
	ck_assert_int_eq(kernel_guard_unregister((uintptr_t)range + page_size), B_OK);
	for (uintptr_t i = 0; i < KERNEL_GUARD_MAX_RANGES; i++)
		ck_assert_int_eq(kernel_guard_register(4096 * (i + 1), 16, unprotect, NULL), B_OK);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, page_size, unprotect, NULL),
		B_NO_MEMORY);
	ck_assert_int_eq(kernel_guard_unregister(4096), B_OK);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, page_size, unprotect, NULL), B_OK);
}
END_TEST

START_TEST(sigbus_in_a_range_reaches_the_owner)
{
	char *mapping;

	bus_fd = memfd_create("guard_fault", 0);
	ck_assert_int_ge(bus_fd, 0);
	mapping = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, bus_fd, 0);
	ck_assert_ptr_ne(mapping, MAP_FAILED);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)mapping, page_size, grow_file, NULL),
		B_OK);
	write_at(mapping + 8, 7);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	check_fault(0, SIGBUS, (uintptr_t)(mapping + 8), mapping, page_size,
		KERNEL_GUARD_ACCESS_WRITE);
	ck_assert_int_eq(seen[0].code, BUS_ADRERR);
	ck_assert_int_eq(mapping[8], 7);
}
END_TEST

/* The owner of a page its backing could not provide: the file grows, and
 * the fault is no bug of the program's. */
static enum kernel_guard_verdict grow_file_quietly(const struct kernel_guard_fault *fault,
	void *cookie)
{
	(void)cookie;
	record(fault);
	return ftruncate(bus_fd, (off_t)page_size) == 0 ? KERNEL_GUARD_CONTINUE_QUIET
							: KERNEL_GUARD_FATAL;
}

static void quiet_sigbus_body(void)
{
	char *mapping;

	bus_fd = memfd_create("guard_fault", 0);
	mapping = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, bus_fd, 0);
	if (mapping == MAP_FAILED
		|| kernel_guard_register((uintptr_t)mapping, page_size, grow_file_quietly, NULL)
			!= B_OK)
		_exit(2);
	write_at(mapping + 8, 7);
	_exit(mapping[8] == 7 && atomic_load(&seen_count) == 1 ? 0 : 3);
}

/* CONTINUE_QUIET: the access goes on, and no report line is written. */
START_TEST(quiet_verdict_continues_without_a_line)
{
	struct ending ending;

	run_child(quiet_sigbus_body, &ending);
	ck_assert_msg(WIFEXITED(ending.status) && WEXITSTATUS(ending.status) == 0, "status %#x: %s",
		ending.status, ending.output);
	ck_assert_str_eq(ending.output, "");
}
END_TEST

static void fatal_verdict_body(void)
{
	char *guarded = protected_pages(1);
	char line[64];

	set_disposition(SIGSEGV, SIG_DFL);
	kernel_guard_register((uintptr_t)guarded, page_size, fatal, NULL);
	snprintf(line, sizeof(line), "%p\n", (void *)(guarded + 3));
	ck_assert_int_eq(write(STDERR_FILENO, line, strlen(line)), (ssize_t)strlen(line));
	write_at(guarded + 3, 1);
}

START_TEST(fatal_verdict_writes_the_line_and_kills)
{
	struct ending ending;
	char prefix[128], suffix[64];
	const char *line;
	pid_t child = expect_death(fatal_verdict_body, SIGSEGV, &ending);

	/* the child's first line: the address it wrote to */
	line = strchr(ending.output, '\n');
	ck_assert_ptr_nonnull(line);
	line++;
	snprintf(prefix, sizeof(prefix), "area_malloc: guard page fault: WRITE of %.*s at pc 0x",
		(int)(line - 1 - ending.output), ending.output);
	snprintf(suffix, sizeof(suffix), " in thread %d\n", (int)child);
	ck_assert_msg(strncmp(line, prefix, strlen(prefix)) == 0, "'%s' does not start '%s'", line,
		prefix);
	ck_assert_str_eq(line + strlen(line) - strlen(suffix), suffix);
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
}
END_TEST

/* ---- faults that are not ours ---- */

static char *unguarded_page;

static void fault_outside_body(void)
{
	register_with_default_handlers();
	unguarded_page = protected_pages(1);
	read_at(unguarded_page);
}

static void sent_signal_body(void)
{
	register_with_default_handlers();
	raise(SIGSEGV);
}

static void bus_outside_body(void)
{
	int fd = memfd_create("guard_fault", 0);
	char *mapping = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0);

	register_with_default_handlers();
	read_at(mapping);
}

static void decline_body(void)
{
	char *guarded = protected_pages(1);

	set_disposition(SIGSEGV, SIG_DFL);
	kernel_guard_register((uintptr_t)guarded, page_size, decline, NULL);
	read_at(guarded);
}

START_TEST(faults_outside_ranges_kill_with_the_default_action)
{
	struct ending ending;

	expect_death(fault_outside_body, SIGSEGV, &ending);
	ck_assert_str_eq(ending.output, "");
	expect_death(sent_signal_body, SIGSEGV, &ending);
	ck_assert_str_eq(ending.output, "");
	expect_death(bus_outside_body, SIGBUS, &ending);
	ck_assert_str_eq(ending.output, "");
	expect_death(decline_body, SIGSEGV, &ending);
	ck_assert_str_eq(ending.output, "");
}
END_TEST

static void ignored_fault_body(void)
{
	set_disposition(SIGSEGV, SIG_IGN);
	kernel_guard_register((uintptr_t)protected_pages(1), page_size, unprotect, NULL);
	read_at(protected_pages(1));
}

START_TEST(sig_ign_drops_sent_signals_not_faults)
{
	struct sigaction now;
	struct ending ending;
	char *guarded;

	set_disposition(SIGSEGV, SIG_IGN);
	guarded = protected_pages(1);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)guarded, page_size, unprotect, guarded),
		B_OK);
	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &now), 0);
	ck_assert(now.sa_flags & SA_SIGINFO);
	ck_assert_int_eq(raise(SIGSEGV), 0);
	ck_assert_uint_eq(atomic_load(&seen_count), 0);
	read_at(guarded);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	/* a real fault cannot be ignored: the kernel's default action */
	expect_death(ignored_fault_body, SIGSEGV, &ending);
	ck_assert_str_eq(ending.output, "");
}
END_TEST

START_TEST(driver_handler_installed_before_gets_its_own_faults)
{
	char *guarded = protected_pages(1);

	driver_page = protected_pages(1);
	install_driver_handler();
	ck_assert_int_eq(kernel_guard_register((uintptr_t)guarded, page_size, unprotect, guarded),
		B_OK);
	read_at(driver_page + 9);
	ck_assert_uint_eq(atomic_load(&driver_count), 1);
	ck_assert_uint_eq(driver_seen[0], (uintptr_t)(driver_page + 9));
	ck_assert_uint_eq(atomic_load(&seen_count), 0);
	write_at(guarded + 1, 1);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	check_fault(0, SIGSEGV, (uintptr_t)(guarded + 1), guarded, page_size,
		KERNEL_GUARD_ACCESS_WRITE);
	ck_assert_uint_eq(atomic_load(&driver_count), 1);
}
END_TEST

START_TEST(driver_handler_installed_after_gets_guard_faults_first)
{
	char *guarded = protected_pages(1);

	driver_page = protected_pages(1);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)guarded, page_size, unprotect, guarded),
		B_OK);
	install_driver_handler();
	write_at(guarded + 2, 1);
	ck_assert_uint_eq(atomic_load(&driver_count), 1);
	ck_assert_uint_eq(driver_seen[0], (uintptr_t)(guarded + 2));
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	check_fault(0, SIGSEGV, (uintptr_t)(guarded + 2), guarded, page_size,
		KERNEL_GUARD_ACCESS_WRITE);
	read_at(driver_page);
	ck_assert_uint_eq(atomic_load(&driver_count), 2);
	ck_assert_uint_eq(driver_seen[1], (uintptr_t)driver_page);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
}
END_TEST

static void reset_handler_body(void)
{
	static const char line[] = "driver handled its fault\n";

	set_disposition(SIGSEGV, SIG_DFL);
	driver_page = protected_pages(1);
	install_driver_handler_with(SA_RESETHAND);
	kernel_guard_register((uintptr_t)protected_pages(1), page_size, unprotect, NULL);
	read_at(driver_page);
	ck_assert_int_eq(write(STDERR_FILENO, line, sizeof(line) - 1), sizeof(line) - 1);
	mprotect(driver_page, page_size, PROT_NONE);
	read_at(driver_page);
}

/* A driver's SA_RESETHAND handler runs once, then the default action. */
START_TEST(driver_handler_with_resethand_runs_once)
{
	struct ending ending;

	expect_death(reset_handler_body, SIGSEGV, &ending);
	ck_assert_str_eq(ending.output, "driver handled its fault\n");
}
END_TEST

START_TEST(unregister_hands_faults_to_the_previous_handler)
{
	char *guarded = protected_pages(1);

	install_driver_handler();
	ck_assert_int_eq(kernel_guard_register((uintptr_t)guarded, page_size, unprotect, guarded),
		B_OK);
	read_at(guarded);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	ck_assert_int_eq(kernel_guard_unregister((uintptr_t)guarded), B_OK);
	ck_assert_int_eq(mprotect(guarded, page_size, PROT_NONE), 0);
	driver_page = guarded;
	read_at(guarded + 4);
	ck_assert_uint_eq(atomic_load(&seen_count), 1);
	ck_assert_uint_eq(atomic_load(&driver_count), 1);
	ck_assert_uint_eq(driver_seen[0], (uintptr_t)(guarded + 4));
}
END_TEST

/* ---- threads ---- */

static struct kernel_guard_fault last_thread_fault;

struct fault_thread {
	pthread_barrier_t *start;
	char *guarded;
	pid_t tid;
	unsigned wrong;
};

static void *fault_repeatedly(void *argument)
{
	struct fault_thread *thread = argument;

	thread->tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_wait(thread->start);
	for (unsigned i = 0; i < THREAD_FAULTS; i++) {
		unsigned before = atomic_load(&seen_count);
		char *at = thread->guarded + i % page_size;
		mprotect(thread->guarded, page_size, PROT_NONE);
		write_at(at, 1);
		if (atomic_load(&seen_count) != before + 1
			|| last_thread_fault.address != (uintptr_t)at
			|| last_thread_fault.thread != thread->tid
			|| last_thread_fault.access != KERNEL_GUARD_ACCESS_WRITE)
			thread->wrong++;
	}
	return NULL;
}

static enum kernel_guard_verdict count_and_unprotect(const struct kernel_guard_fault *fault,
	void *cookie)
{
	last_thread_fault = *fault;
	atomic_fetch_add(&seen_count, 1);
	mprotect(cookie, fault->range_size, PROT_READ | PROT_WRITE);
	return KERNEL_GUARD_CONTINUE;
}

START_TEST(faults_while_another_thread_registers)
{
	pthread_barrier_t start;
	struct fault_thread thread = { &start, protected_pages(1), 0, 0 };
	char *others = protected_pages(4);
	pthread_t faulter;
	unsigned failures = 0;

	int output = memfd_create("guard_fault_lines", 0);
	char line[128];
	FILE *lines;
	unsigned line_count = 0;

	ck_assert_int_ge(output, 0);
	ck_assert_int_eq(dup2(output, STDERR_FILENO), STDERR_FILENO);
	pthread_barrier_init(&start, NULL, 2);
	ck_assert_int_eq(kernel_guard_register((uintptr_t)thread.guarded, page_size,
				 count_and_unprotect, thread.guarded),
		B_OK);
	ck_assert_int_eq(pthread_create(&faulter, NULL, fault_repeatedly, &thread), 0);
	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < THREAD_REGISTRATIONS; i++) {
		uintptr_t other = (uintptr_t)others + (i % 4) * page_size;
		failures += kernel_guard_register(other, page_size, unprotect, NULL) != B_OK;
		failures += kernel_guard_unregister(other) != B_OK;
	}
	ck_assert_int_eq(pthread_join(faulter, NULL), 0);
	ck_assert_uint_eq(failures, 0);
	ck_assert_uint_eq(thread.wrong, 0);
	ck_assert_uint_eq(atomic_load(&seen_count), THREAD_FAULTS);
	ck_assert_int_eq(last_thread_fault.thread, thread.tid);
	ck_assert_uint_eq(last_thread_fault.address,
		(uintptr_t)thread.guarded + (THREAD_FAULTS - 1) % page_size);
	ck_assert_int_eq(last_thread_fault.access, KERNEL_GUARD_ACCESS_WRITE);
	/* one report line per fault, each whole */
	lines = fdopen(output, "r");
	ck_assert_ptr_nonnull(lines);
	rewind(lines);
	while (fgets(line, sizeof(line), lines) != NULL) {
		ck_assert_msg(strncmp(line, "area_malloc: guard page fault: WRITE of 0x", 42) == 0,
			"line %u: %s", line_count, line);
		line_count++;
	}
	ck_assert_uint_eq(line_count, THREAD_FAULTS);
}
END_TEST

static atomic_bool in_callback, leave_callback;

/* Holds its thread inside the handler until the test lets it go. */
static enum kernel_guard_verdict wait_in_callback(const struct kernel_guard_fault *fault,
	void *cookie)
{
	atomic_store(&in_callback, true);
	while (!atomic_load(&leave_callback))
		sched_yield();
	mprotect(cookie, fault->range_size, PROT_READ | PROT_WRITE);
	return KERNEL_GUARD_CONTINUE;
}

static void *write_once(void *guarded)
{
	write_at(guarded, 1);
	return NULL;
}

/* The child of a fork made while another thread runs a callback can
 * withdraw that range: no handler runs it there. */
START_TEST(fork_while_a_callback_runs)
{
	char *guarded = protected_pages(1);
	pthread_t faulter;
	pid_t child;
	int status;

	ck_assert_int_eq(kernel_guard_register((uintptr_t)guarded, page_size, wait_in_callback,
				 guarded),
		B_OK);
	ck_assert_int_eq(pthread_create(&faulter, NULL, write_once, guarded), 0);
	while (!atomic_load(&in_callback))
		sched_yield();
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(kernel_guard_unregister((uintptr_t)guarded) == B_OK
					&& kernel_guard_register((uintptr_t)guarded, page_size,
						   unprotect, guarded)
						== B_OK
				? 0
				: 1);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	atomic_store(&leave_callback, true);
	ck_assert_int_eq(pthread_join(faulter, NULL), 0);
	ck_assert_int_eq(guarded[0], 1);
	ck_assert_int_eq(kernel_guard_unregister((uintptr_t)guarded), B_OK);
}
END_TEST

/* ---- Valgrind ---- */

static bool under_valgrind(void)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	return RUNNING_ON_VALGRIND;
#else
	return false;
#endif
}

/* Valgrind sees every access itself: no guard there (scripts/check-valgrind
 * may run this case: CK_RUN_CASE=valgrind). */
START_TEST(guards_are_off_under_valgrind)
{
	char *range = protected_pages(1);
	struct sigaction now;

	ck_assert_int_eq(kernel_guard_available(), !under_valgrind());
	ck_assert_int_eq(kernel_guard_register((uintptr_t)range, page_size, unprotect, range),
		under_valgrind() ? B_NOT_ALLOWED : B_OK);
	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &now), 0);
	ck_assert_int_eq((now.sa_flags & SA_SIGINFO) != 0, !under_valgrind());
}
END_TEST

#ifdef AREA_MALLOC_BUILT_WITH_ASAN
static void asan_body(void)
{
	char *guarded = protected_pages(1);

	/* ASan's handler is the one in place: ours chains to it */
	kernel_guard_register((uintptr_t)guarded, page_size, unprotect, guarded);
	unguarded_page = protected_pages(1);
	fprintf(stderr, "unguarded %p\n", (void *)unguarded_page);
	read_at(unguarded_page);
}

START_TEST(asan_reports_faults_outside_ranges)
{
	struct ending ending;
	char expected[128];
	void *address;

	run_child(asan_body, &ending);
	ck_assert_int_eq(sscanf(ending.output, "unguarded %p", &address), 1);
	snprintf(expected, sizeof(expected), "ERROR: AddressSanitizer: SEGV on unknown address %p",
		address);
	ck_assert_msg(strstr(ending.output, expected) != NULL, "no '%s' in: %s", expected,
		ending.output);
	ck_assert_ptr_eq(strstr(ending.output, "guard page fault"), NULL);
	ck_assert(WIFEXITED(ending.status) && WEXITSTATUS(ending.status) != 0);
}
END_TEST
#endif

static Suite *guard_fault_suite(void)
{
	Suite *suite = suite_create("guard_fault");
	TCase *in_range = tcase_create("in_range");
	TCase *chained = tcase_create("chained");
	TCase *threads = tcase_create("threads");
	TCase *valgrind = tcase_create("valgrind");

	tcase_add_checked_fixture(in_range, setup, NULL);
	tcase_add_test(in_range, read_and_write_faults_reach_the_owner_and_continue);
	tcase_add_test(in_range, registration_errors);
	tcase_add_test(in_range, sigbus_in_a_range_reaches_the_owner);
	tcase_add_test(in_range, quiet_verdict_continues_without_a_line);
	tcase_add_test(in_range, fatal_verdict_writes_the_line_and_kills);
	suite_add_tcase(suite, in_range);

	tcase_add_checked_fixture(chained, setup, NULL);
	tcase_add_test(chained, faults_outside_ranges_kill_with_the_default_action);
	tcase_add_test(chained, sig_ign_drops_sent_signals_not_faults);
	tcase_add_test(chained, driver_handler_installed_before_gets_its_own_faults);
	tcase_add_test(chained, driver_handler_installed_after_gets_guard_faults_first);
	tcase_add_test(chained, driver_handler_with_resethand_runs_once);
	tcase_add_test(chained, unregister_hands_faults_to_the_previous_handler);
#ifdef AREA_MALLOC_BUILT_WITH_ASAN
	tcase_add_test(chained, asan_reports_faults_outside_ranges);
#endif
	suite_add_tcase(suite, chained);

	tcase_add_checked_fixture(threads, setup, NULL);
	tcase_add_test(threads, faults_while_another_thread_registers);
	tcase_add_test(threads, fork_while_a_callback_runs);
	suite_add_tcase(suite, threads);

	tcase_add_checked_fixture(valgrind, setup, NULL);
	tcase_add_test(valgrind, guards_are_off_under_valgrind);
	suite_add_tcase(suite, valgrind);
	return suite;
}

int main(void)
{
	return run_check_suite(guard_fault_suite(), CK_FORK);
}
