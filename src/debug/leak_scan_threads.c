/*
 * leak_scan_threads.c - stopping the process's other threads for a scan,
 * the way LeakSanitizer's signal-based stop does: each thread listed in
 * /proc/self/task gets the reserved real-time signal LEAK_SCAN_SIGNAL by
 * tgkill; its handler saves the interrupted registers and stack pointer
 * into the thread's slot, says so, and waits on a futex until the scan
 * releases it.
 *
 * The handler is installed at the first scan and stays (a signal that
 * arrives late, after a scan gave up on its thread, must not meet the
 * default action, which ends the process). A signal it did not get from a
 * scan is passed to the handler installed before it. When the driver
 * replaced the handler, no thread is stopped: the scan says so and takes
 * every stack in whole.
 *
 * Invariants: a slot is SLOT_SIGNALLED from the tgkill until its thread
 * answers (SLOT_STOPPED) or the scan gives up; a stopped thread waits until
 * released_ticket reaches its slot's ticket, so a late answer to an old
 * scan never waits. world_resume waits (bounded) for every stopped thread
 * to leave its handler before the slots are used again.
 *
 * Locking: the scan's mutex (leak_scan.c) serialises scans; the slots are
 * shared with the handlers through atomics and futexes only. Between
 * world_stop and world_resume nothing here allocates or locks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "debug/leak_scan.h"
#include "debug/leak_scan_internal.h"

/* How long a scan waits for the threads of one round to answer. */
#define STOP_WAIT_NS (2 * 1000000000LL)
/* Rounds of listing /proc/self/task: a thread can start one more. */
#define STOP_MAX_ROUNDS 64

enum slot_state {
	SLOT_IDLE,
	SLOT_SIGNALLED,
	SLOT_STOPPED,
	SLOT_LEFT,
};

struct stop_slot {
	uint32_t state;  /* enum slot_state, atomic; futex word */
	uint32_t ticket; /* the scan that signalled it */
	struct stopped_thread thread;
};

static struct stop_slot slots[WORLD_MAX_THREADS];
static struct stopped_thread stopped[WORLD_MAX_THREADS];
static uint32_t scan_ticket;
static uint32_t released_ticket; /* atomic; futex word */
static struct sigaction previous_action;
static bool handler_installed;

static long futex(uint32_t *word, int op, uint32_t value, const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

static pid_t current_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The interrupted registers and stack pointer of a handler's context. */
static void save_context(struct stopped_thread *thread, const ucontext_t *context)
{
#if defined(__x86_64__)
	thread->reg_count = NGREG;
	for (int i = 0; i < NGREG; i++)
		thread->regs[i] = (uintptr_t)context->uc_mcontext.gregs[i];
	thread->sp = (uintptr_t)context->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	thread->reg_count = 31;
	for (int i = 0; i < 31; i++)
		thread->regs[i] = (uintptr_t)context->uc_mcontext.regs[i];
	thread->sp = (uintptr_t)context->uc_mcontext.sp;
#else
	/* registers unknown: the handler's own frame, saved on the way in,
	 * holds them, so the stack is scanned from here */
	(void)context;
	thread->reg_count = 0;
	thread->sp = (uintptr_t)__builtin_frame_address(0);
#endif
}

static void pass_on(int signal, siginfo_t *info, void *context)
{
	if (previous_action.sa_flags & SA_SIGINFO) {
		if (previous_action.sa_sigaction != NULL)
			previous_action.sa_sigaction(signal, info, context);
	} else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
		previous_action.sa_handler(signal);
	}
	/* the default action (end the process) is not taken for a signal
	 * reserved to the scans */
}

static void stop_handler(int signal, siginfo_t *info, void *context)
{
	int saved_errno = errno;
	pid_t tid = current_tid();
	struct stop_slot *slot = NULL;
	uint32_t ticket, released;

	if (info->si_code == SI_TKILL && info->si_pid == getpid()) {
		for (size_t i = 0; i < WORLD_MAX_THREADS; i++) {
			if (__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) == SLOT_SIGNALLED
				&& slots[i].thread.tid == tid) {
				slot = &slots[i];
				break;
			}
		}
	}
	if (slot == NULL) {
		pass_on(signal, info, context);
		errno = saved_errno;
		return;
	}
	ticket = slot->ticket;
	save_context(&slot->thread, context);
	__atomic_store_n(&slot->state, SLOT_STOPPED, __ATOMIC_RELEASE);
	futex(&slot->state, FUTEX_WAKE_PRIVATE, 1, NULL);
	while ((released = __atomic_load_n(&released_ticket, __ATOMIC_ACQUIRE)) < ticket)
		futex(&released_ticket, FUTEX_WAIT_PRIVATE, released, NULL);
	/* only from STOPPED: a scan that gave up waiting may have reused the
	 * slot already (SIGNALLED for the next scan must not be overwritten) */
	__atomic_compare_exchange_n(&slot->state, &(uint32_t){ SLOT_STOPPED }, SLOT_LEFT, false,
		__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	futex(&slot->state, FUTEX_WAKE_PRIVATE, 1, NULL);
	errno = saved_errno;
}

/* false when the driver took the signal over (or it cannot be set). */
static bool handler_in_place(void)
{
	struct sigaction action, current;

	if (!handler_installed) {
		memset(&action, 0, sizeof(action));
		action.sa_sigaction = stop_handler;
		action.sa_flags = SA_SIGINFO | SA_RESTART;
		sigfillset(&action.sa_mask);
		if (sigaction(LEAK_SCAN_SIGNAL, &action, &previous_action) != 0)
			return false;
		handler_installed = true;
		return true;
	}
	if (sigaction(LEAK_SCAN_SIGNAL, NULL, &current) != 0)
		return false;
	return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == stop_handler;
}

static int64_t now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* A thread signalled may end before its handler runs: it is then gone,
 * not unanswering. Checked every WAIT_SLICE_NS. */
#define WAIT_SLICE_NS (10 * 1000000LL)

static bool thread_gone(pid_t tid)
{
	return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
}

/* Waits until the slot leaves state, or the deadline passes, or (while it
 * is signalled) its thread ends: then the slot goes back to idle. */
static void wait_while(struct stop_slot *slot, uint32_t state, int64_t deadline)
{
	while (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == state) {
		int64_t left = deadline - now_ns();
		struct timespec timeout;
		if (left <= 0)
			return;
		if (left > WAIT_SLICE_NS)
			left = WAIT_SLICE_NS;
		timeout.tv_sec = left / 1000000000LL;
		timeout.tv_nsec = left % 1000000000LL;
		futex(&slot->state, FUTEX_WAIT_PRIVATE, state, &timeout);
		if (state == SLOT_SIGNALLED && thread_gone(slot->thread.tid)) {
			uint32_t expected = SLOT_SIGNALLED;
			__atomic_compare_exchange_n(&slot->state, &expected, SLOT_IDLE, false,
				__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		}
	}
}

static bool already_listed(size_t used, pid_t tid)
{
	for (size_t i = 0; i < used; i++)
		if (slots[i].thread.tid == tid)
			return true;
	return false;
}

static void note_unstopped(struct stopped_world *world, pid_t tid)
{
	if (world->unstopped < WORLD_MAX_NAMED)
		world->unstopped_tids[world->unstopped] = tid;
	world->unstopped++;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Signals every thread not signalled yet; returns how many it signalled
 * (0: the list is complete). */
static size_t signal_new_threads(struct stopped_world *world, size_t *used, pid_t self,
	uint32_t ticket, bool *overflow_noted)
{
	char buffer[4096];
	size_t signalled = 0;
	long got;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((got = syscall(SYS_getdents64, fd, buffer, sizeof(buffer))) > 0) {
		for (long at = 0; at < got;) {
			struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + at);
			pid_t tid = 0;
			at += entry->d_reclen;
			for (const char *c = entry->d_name; *c >= '0' && *c <= '9'; c++)
				tid = tid * 10 + (*c - '0');
			if (tid <= 0 || tid == self || already_listed(*used, tid))
				continue;
			if (*used == WORLD_MAX_THREADS) {
				if (!*overflow_noted)
					note_unstopped(world, tid);
				continue;
			}
			slots[*used].thread.tid = tid;
			slots[*used].ticket = ticket;
			__atomic_store_n(&slots[*used].state, SLOT_SIGNALLED, __ATOMIC_RELEASE);
			if (syscall(SYS_tgkill, getpid(), tid, LEAK_SCAN_SIGNAL) != 0) {
				/* gone meanwhile */
				__atomic_store_n(&slots[*used].state, SLOT_IDLE, __ATOMIC_RELEASE);
				continue;
			}
			(*used)++;
			signalled++;
		}
	}
	close(fd);
	if (*used == WORLD_MAX_THREADS)
		*overflow_noted = true;
	return signalled;
}

static size_t slots_used;

void world_stop(struct stopped_world *world)
{
	pid_t self = current_tid();
	bool overflow_noted = false;
	size_t used = 0, first = 0;
	uint32_t ticket;

	memset(world, 0, sizeof(*world));
	world->threads = stopped;
	if (!handler_in_place()) {
		world->signal_taken = true;
		slots_used = 0;
		return;
	}
	ticket = ++scan_ticket;
	for (int round = 0; round < STOP_MAX_ROUNDS; round++) {
		int64_t deadline;
		if (signal_new_threads(world, &used, self, ticket, &overflow_noted) == 0)
			break;
		deadline = now_ns() + STOP_WAIT_NS;
		for (size_t i = first; i < used; i++)
			wait_while(&slots[i], SLOT_SIGNALLED, deadline);
		first = used;
	}
	for (size_t i = 0; i < used; i++) {
		uint32_t state = __atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE);
		if (state == SLOT_STOPPED)
			stopped[world->count++] = slots[i].thread;
		else if (state == SLOT_SIGNALLED)
			note_unstopped(world, slots[i].thread.tid);
	}
	slots_used = used;
}

void world_resume(struct stopped_world *world)
{
	int64_t deadline;

	__atomic_store_n(&released_ticket, scan_ticket, __ATOMIC_RELEASE);
	futex(&released_ticket, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL);
	deadline = now_ns() + STOP_WAIT_NS;
	for (size_t i = 0; i < slots_used; i++) {
		wait_while(&slots[i], SLOT_STOPPED, deadline);
		/* a thread that never answered may still: its slot's ticket is
		 * released, so it will not wait */
		__atomic_store_n(&slots[i].state, SLOT_IDLE, __ATOMIC_RELEASE);
		memset(&slots[i].thread, 0, sizeof(slots[i].thread));
	}
	/* no register value of this scan stays behind for the next one */
	memset(stopped, 0, world->count * sizeof(stopped[0]));
	slots_used = 0;
}

size_t world_own_memory(struct scan_range *ranges)
{
	ranges[0] = (struct scan_range){ (uintptr_t)slots, (uintptr_t)(slots + WORLD_MAX_THREADS) };
	ranges[1] =
		(struct scan_range){ (uintptr_t)stopped, (uintptr_t)(stopped + WORLD_MAX_THREADS) };
	return 2;
}
