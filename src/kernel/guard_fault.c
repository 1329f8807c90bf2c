/*
 * guard_fault.c - the SIGSEGV/SIGBUS handler of guard pages and the
 * registry of guarded ranges it looks faults up in (guard_fault.h).
 *
 * A fault is in a guarded range when si_addr lies in a live slot of the
 * registry and the signal is an access that repeats if the handler returns
 * (fault_repeats: the kernel sent it for this access). The handler then
 * fills a fault slot (address, READ or WRITE from the CPU's fault context,
 * the faulting pc and the frame-pointer chain above it, the top of the
 * stack, the thread), asks the range's owner, and unless the owner declines
 * the fault writes one line to stderr with write(2) (the report's first).
 * Anything else goes to the handler that was installed before ours, as
 * the kernel would have run it: sa_sigaction or sa_handler under its own
 * mask (SA_RESETHAND: once), SIG_IGN (a real fault cannot be ignored: the
 * kernel kills; a sent signal is dropped), SIG_DFL (restored, then the
 * fault repeats, or a sent signal is raised again, so the process dies of
 * the right signal, with its core). Not reproduced: the previous handler's
 * SA_ONSTACK (it runs on the stack ours runs on).
 *
 * Async-signal-safety: from its first instruction the handler reads only
 * atomics and its own preallocated slots, and calls only system calls
 * (write, gettid, getpid, process_vm_readv, sigaction, pthread_sigmask,
 * raise) and memcpy/memset on its own stack. The frame walk reads the stack through
 * process_vm_readv, which fails (EFAULT) where a read would fault: a corrupt frame pointer ends the
 * walk instead of faulting in the handler. Where that call is refused
 * (seccomp), the stack is the faulting pc alone. A fault inside the handler
 * itself (a callback's bug) restores SIG_DFL, so the repeat kills.
 *
 * Registry invariants (each slot of ranges[]):
 *   - version is even when the slot is stable, odd while register or
 *     unregister changes it; only writers holding registry_lock change it;
 *   - a stable slot with end != 0 is live: start < end, callback != NULL;
 *   - live ranges never overlap;
 *   - users counts handlers that may be running the slot's callback; after
 *     unregister has made version odd, it waits for users to drop to 0
 *     before it returns, so no callback runs with a withdrawn cookie.
 * Memory ordering: the handler increments users, then loads version (both
 * seq_cst); unregister stores the odd version, then loads users (both
 * seq_cst): one of them sees the other (Dekker), so a handler either skips
 * the slot or is waited for. A handler reading a slot being filled by
 * register (no wait there: no callback can run on a slot not yet live)
 * uses the seqlock: version (acquire), the fields (relaxed), an acquire
 * fence, version again; a changed or odd version skips the slot.
 *
 * Fault slots: fault_total hands each guarded fault a number; slot number %
 * KERNEL_GUARD_FAULT_SLOTS is claimed with a busy flag (a handler that
 * finds it busy, KERNEL_GUARD_FAULT_SLOTS faults at once, fills a record on
 * its own stack, given to the callback but not kept). The slot stays busy
 * until the handler is done with it (callback and report line included);
 * published is number + 1 once the record is complete (release), 0 while
 * it is written; kernel_guard_fault_copy reads it as a seqlock.
 *
 * The previous handlers are saved once, under registry_lock, before ours is
 * installed: the handler only reads them (prev_reset_done records that a
 * previous handler with SA_RESETHAND has had its one delivery).
 *
 * Valgrind: guards are off under it (kernel_guard_available): memcheck
 * checks every access itself (the debug module describes its blocks to
 * it), and each guard page would cost a mapping of its own for nothing.
 * AddressSanitizer installs its SIGSEGV
 * handler at start (handle_segv=1): ours, installed later, runs first and
 * hands ASan every fault that is not a guard fault, so ASan's SEGV report
 * is unchanged.
 *
 * Locking: registry_lock (a leaf) serialises register, unregister and the
 * installation of the handlers; the handler takes no lock. fork() takes
 * registry_lock around itself (pthread_atfork), and the child, which has
 * only the forking thread, starts with every users count and busy flag at
 * 0 (a callback must not fork).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#endif

#include "kernel/guard_fault.h"
#include "kernel/lock.h"

/* a frame is at most this far above the one it called */
#define MAX_FRAME_SIZE (16u << 20)

struct guard_range {
	_Atomic unsigned version;
	_Atomic unsigned users;
	_Atomic uintptr_t start;
	_Atomic uintptr_t end; /* 0: free */
	_Atomic(kernel_guard_callback) callback;
	_Atomic(void *) cookie;
};

struct fault_slot {
	_Atomic uint64_t published;
	atomic_bool busy;
	struct kernel_guard_fault fault;
	uintptr_t stack[KERNEL_GUARD_STACK_WORDS]; /* fault.stack */
};

static struct guard_range ranges[KERNEL_GUARD_MAX_RANGES];
static struct fault_slot fault_slots[KERNEL_GUARD_FAULT_SLOTS];
static _Atomic uint64_t fault_total;
static mutex registry_lock = MUTEX_INITIALIZER("area_malloc guard ranges");
static atomic_bool installed;
static bool atfork_registered; /* registry_lock */

/* [0]: SIGSEGV, [1]: SIGBUS */
static const int guarded_signals[2] = { SIGSEGV, SIGBUS };
static struct sigaction prev_actions[2];
static atomic_bool prev_reset_done[2];

/* initial-exec: the handler must not call __tls_get_addr (it may allocate) */
static __thread unsigned handler_depth __attribute__((tls_model("initial-exec")));

bool kernel_guard_available(void)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (RUNNING_ON_VALGRIND)
		return false;
#endif
	return true;
}

/* ---- the report line, without stdio ---- */

struct line {
	char text[160];
	size_t length;
};

static void line_add(struct line *line, const char *text)
{
	while (*text != '\0' && line->length < sizeof(line->text))
		line->text[line->length++] = *text++;
}

static void line_add_number(struct line *line, uint64_t value, unsigned base)
{
	char digits[24];
	size_t count = 0;

	if (base == 16)
		line_add(line, "0x");
	do {
		digits[count++] = "0123456789abcdef"[value % base];
		value /= base;
	} while (value != 0);
	while (count > 0 && line->length < sizeof(line->text))
		line->text[line->length++] = digits[--count];
}

static void line_write(const struct line *line)
{
	size_t done = 0;

	while (done < line->length) {
		ssize_t written = write(STDERR_FILENO, line->text + done, line->length - done);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return;
		done += (size_t)written;
	}
}

static const char *access_name(enum kernel_guard_access access)
{
	switch (access) {
	case KERNEL_GUARD_ACCESS_READ:
		return "READ";
	case KERNEL_GUARD_ACCESS_WRITE:
		return "WRITE";
	default:
		return "access";
	}
}

static void write_fault_line(const struct kernel_guard_fault *fault)
{
	struct line line = { .length = 0 };

	line_add(&line, "area_malloc: guard page fault: ");
	line_add(&line, access_name(fault->access));
	line_add(&line, " of ");
	line_add_number(&line, fault->address, 16);
	line_add(&line, " at pc ");
	line_add_number(&line, fault->frames[0], 16);
	line_add(&line, " in thread ");
	line_add_number(&line, (uint64_t)fault->thread, 10);
	line_add(&line, "\n");
	line_write(&line);
}

/* ---- the fault's context ---- */

#if defined(__aarch64__)
/* The records of the signal frame's __reserved area (the kernel's
 * asm/sigcontext.h, which clashes with glibc's signal.h). */
#define AARCH64_ESR_MAGIC 0x45535201u
struct aarch64_record {
	uint32_t magic;
	uint32_t size;
};
#endif

static enum kernel_guard_access access_of(const ucontext_t *context)
{
#if defined(__x86_64__)
	/* a page fault (trap 14) pushes an error code whose bit 1 is "write" */
	if (context->uc_mcontext.gregs[REG_TRAPNO] == 14)
		return context->uc_mcontext.gregs[REG_ERR] & 2 ? KERNEL_GUARD_ACCESS_WRITE
							       : KERNEL_GUARD_ACCESS_READ;
#elif defined(__aarch64__)
	const unsigned char *at = (const unsigned char *)context->uc_mcontext.__reserved;
	const unsigned char *end = at + sizeof(context->uc_mcontext.__reserved);

	while (at + sizeof(struct aarch64_record) <= end) {
		struct aarch64_record record;
		memcpy(&record, at, sizeof(record));
		if (record.magic == 0 || record.size < sizeof(record)
			|| record.size > (size_t)(end - at))
			break;
		if (record.magic == AARCH64_ESR_MAGIC && record.size >= sizeof(record) + 8) {
			uint64_t esr;
			unsigned class;
			memcpy(&esr, at + sizeof(record), sizeof(esr));
			class = (unsigned)(esr >> 26) & 0x3f;
			/* data aborts (from EL0 or EL1): ISS bit 6 is WnR */
			if (class == 0x24 || class == 0x25)
				return esr & (1u << 6) ? KERNEL_GUARD_ACCESS_WRITE
						       : KERNEL_GUARD_ACCESS_READ;
			break;
		}
		at += record.size;
	}
#else
	(void)context;
#endif
	return KERNEL_GUARD_ACCESS_UNKNOWN;
}

/* Reads count words at address from our own memory without faulting:
 * how many could be read. */
static unsigned read_words(pid_t self, uintptr_t address, uintptr_t *words, unsigned count)
{
	struct iovec local = { words, count * sizeof(uintptr_t) };
	struct iovec remote = { (void *)address, count * sizeof(uintptr_t) };
	long got = syscall(SYS_process_vm_readv, self, &local, 1UL, &remote, 1UL, 0UL);

	return got > 0 ? (unsigned)((size_t)got / sizeof(uintptr_t)) : 0;
}

/*
 * frames[0] = the faulting pc, then the return addresses of the
 * frame-pointer chain from the context's frame pointer. Each step must go
 * up the stack (above the stack pointer, strictly above the last frame,
 * by less than MAX_FRAME_SIZE, aligned) and lead to a plausible address:
 * the walk ends at the first that does not (0 or 1 at the bottom of a
 * glibc stack, or a function built without frame pointers).
 */
static void walk_frames(const ucontext_t *context, struct kernel_guard_fault *fault,
	uintptr_t *stack)
{
	uintptr_t pc = 0, fp = 0, sp = 0;
	uintptr_t *frames = fault->frames;
	unsigned count = 0;
	pid_t self = getpid();

#if defined(__x86_64__)
	pc = (uintptr_t)context->uc_mcontext.gregs[REG_RIP];
	fp = (uintptr_t)context->uc_mcontext.gregs[REG_RBP];
	sp = (uintptr_t)context->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	pc = (uintptr_t)context->uc_mcontext.pc;
	fp = (uintptr_t)context->uc_mcontext.regs[29];
	sp = (uintptr_t)context->uc_mcontext.sp;
#else
	(void)context;
#endif
	fault->stack_pointer = sp;
	fault->frame_pointer = fp;
	fault->stack = stack;
	fault->stack_word_count =
		stack != NULL ? read_words(self, sp, stack, KERNEL_GUARD_STACK_WORDS) : 0;
	fault->return_slots[count] = 0;
	frames[count++] = pc;
	while (count < KERNEL_GUARD_MAX_FRAMES && fp >= sp && fp - sp < MAX_FRAME_SIZE
		&& fp % sizeof(uintptr_t) == 0) {
		uintptr_t words[2];
		if (read_words(self, fp, words, 2) != 2 || words[1] < 4096)
			break;
		fault->return_slots[count] = fp + sizeof(uintptr_t);
		frames[count++] = words[1];
		if (words[0] <= fp)
			break;
		sp = fp;
		fp = words[0];
	}
	fault->frame_count = count;
}

/* ---- the registry, from the handler ---- */

/* The live range holding address, with users taken (release_range after
 * the callback), or NULL. */
static struct guard_range *enter_range(uintptr_t address, uintptr_t *start, uintptr_t *end,
	kernel_guard_callback *callback, void **cookie)
{
	for (size_t i = 0; i < KERNEL_GUARD_MAX_RANGES; i++) {
		struct guard_range *range = &ranges[i];
		unsigned version;

		if (atomic_load_explicit(&range->end, memory_order_relaxed) == 0)
			continue;
		atomic_fetch_add(&range->users, 1);
		version = atomic_load(&range->version);
		/* acquire loads, not relaxed loads and a fence: the version's
		 * second look cannot move above them, and ThreadSanitizer (which
		 * does not model fences) sees the same ordering */
		*start = atomic_load_explicit(&range->start, memory_order_acquire);
		*end = atomic_load_explicit(&range->end, memory_order_acquire);
		*callback = atomic_load_explicit(&range->callback, memory_order_acquire);
		*cookie = atomic_load_explicit(&range->cookie, memory_order_acquire);
		if (version % 2 == 0
			&& atomic_load_explicit(&range->version, memory_order_relaxed) == version
			&& *end != 0 && address >= *start && address < *end)
			return range;
		atomic_fetch_sub(&range->users, 1);
	}
	return NULL;
}

static void release_range(struct guard_range *range)
{
	atomic_fetch_sub(&range->users, 1);
}

/* ---- handing a fault on ---- */

/* Does the access repeat when the handler returns? A fault the kernel
 * sent does, except an asynchronous memory error (BUS_MCEERR_AO, a page
 * found bad that the thread was not touching); a sent signal does not. */
static bool fault_repeats(int signal, const siginfo_t *info)
{
	return info->si_code > 0 && !(signal == SIGBUS && info->si_code == BUS_MCEERR_AO);
}

static int signal_index(int signal)
{
	return signal == SIGBUS ? 1 : 0;
}

/* The default action: a fault repeats when the handler returns and kills
 * with SIG_DFL in place; a sent signal is sent again. */
static void default_action(int signal, const siginfo_t *info)
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_handler = SIG_DFL;
	sigemptyset(&action.sa_mask);
	sigaction(signal, &action, NULL);
	if (!fault_repeats(signal, info))
		raise(signal);
}

/* Runs the handler that was installed before ours, as the kernel would. */
static void chain(int signal, siginfo_t *info, void *context)
{
	int index = signal_index(signal);
	const struct sigaction *prev = &prev_actions[index];
	sigset_t mask, old_mask;

	if (prev->sa_flags & SA_RESETHAND && atomic_exchange(&prev_reset_done[index], true)) {
		default_action(signal, info);
		return;
	}
	if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_DFL) {
		default_action(signal, info);
		return;
	}
	if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_IGN) {
		if (fault_repeats(signal, info))
			default_action(signal, info);
		return;
	}
	mask = prev->sa_mask;
	if (!(prev->sa_flags & SA_NODEFER))
		sigaddset(&mask, signal);
	pthread_sigmask(SIG_BLOCK, &mask, &old_mask);
	if (prev->sa_flags & SA_SIGINFO)
		prev->sa_sigaction(signal, info, context);
	else
		prev->sa_handler(signal);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
}

/* Claims the fault's slot, or NULL when a fault in another thread holds it. */
static struct fault_slot *claim_fault_slot(uint64_t number)
{
	struct fault_slot *slot = &fault_slots[number % KERNEL_GUARD_FAULT_SLOTS];

	if (atomic_exchange_explicit(&slot->busy, true, memory_order_acquire))
		return NULL;
	/* an acquire-release exchange rather than a store and a fence: the
	 * record's writes that follow cannot move above it, in C11 and for
	 * ThreadSanitizer */
	atomic_exchange_explicit(&slot->published, 0, memory_order_acq_rel);
	return slot;
}

static void publish_fault_slot(struct fault_slot *slot, uint64_t number)
{
	atomic_store_explicit(&slot->published, number + 1, memory_order_release);
	atomic_store_explicit(&slot->busy, false, memory_order_release);
}

static void guard_handler(int signal, siginfo_t *info, void *raw_context)
{
	int saved_errno = errno;
	uintptr_t address = (uintptr_t)info->si_addr;
	struct guard_range *range = NULL;
	uintptr_t start, end;
	kernel_guard_callback callback;
	void *cookie;

	if (handler_depth > 0) {
		/* a fault inside the handler or a callback: stop at the repeat */
		static const char message[] = "area_malloc: fault inside the guard page handler\n";
		ssize_t ignored = write(STDERR_FILENO, message, sizeof(message) - 1);
		(void)ignored;
		default_action(signal, info);
		errno = saved_errno;
		return;
	}
	if (fault_repeats(signal, info))
		range = enter_range(address, &start, &end, &callback, &cookie);
	if (range != NULL) {
		const ucontext_t *context = raw_context;
		uint64_t number = atomic_fetch_add(&fault_total, 1);
		struct fault_slot *slot = claim_fault_slot(number);
		struct kernel_guard_fault own;
		struct kernel_guard_fault *fault = slot != NULL ? &slot->fault : &own;
		enum kernel_guard_verdict verdict;

		handler_depth++;
		fault->number = number;
		fault->signal = signal;
		fault->code = info->si_code;
		fault->address = address;
		fault->range_start = start;
		fault->range_size = end - start;
		fault->access = access_of(context);
		fault->thread = (pid_t)syscall(SYS_gettid);
		walk_frames(context, fault, slot != NULL ? slot->stack : NULL);
		verdict = callback(fault, cookie);
		release_range(range);
		handler_depth--;
		if (verdict == KERNEL_GUARD_CONTINUE || verdict == KERNEL_GUARD_FATAL)
			write_fault_line(fault);
		if (slot != NULL)
			publish_fault_slot(slot, number);
		if (verdict == KERNEL_GUARD_FATAL || verdict == KERNEL_GUARD_FATAL_QUIET)
			default_action(signal, info);
		if (verdict != KERNEL_GUARD_DECLINE) {
			errno = saved_errno;
			return;
		}
	}
	chain(signal, info, raw_context);
	errno = saved_errno;
}

/* ---- registration ---- */

/* fork() with registry_lock held by another thread, or a handler of
 * another thread inside a callback, would leave the child a lock no one
 * unlocks and users no one drops: the child, where that thread does not
 * exist, starts with neither. */
static void lock_registry_for_fork(void)
{
	mutex_lock(&registry_lock);
}

static void unlock_registry_after_fork(void)
{
	mutex_unlock(&registry_lock);
}

static void reset_registry_in_child(void)
{
	for (size_t i = 0; i < KERNEL_GUARD_MAX_RANGES; i++)
		atomic_store(&ranges[i].users, 0);
	for (size_t i = 0; i < KERNEL_GUARD_FAULT_SLOTS; i++)
		atomic_store(&fault_slots[i].busy, false);
	mutex_init(&registry_lock, registry_lock.name);
}

/* Saves the handlers in place and installs ours; registry_lock held. */
static bool install_handlers(void)
{
	struct sigaction action;

	if (atomic_load(&installed))
		return true;
	if (!atfork_registered) {
		if (pthread_atfork(lock_registry_for_fork, unlock_registry_after_fork,
			    reset_registry_in_child)
			!= 0)
			return false;
		atfork_registered = true;
	}
	memset(&action, 0, sizeof(action));
	action.sa_sigaction = guard_handler;
	sigemptyset(&action.sa_mask);
	for (int i = 0; i < 2; i++)
		if (sigaction(guarded_signals[i], NULL, &prev_actions[i]) != 0)
			return false;
	for (int i = 0; i < 2; i++) {
		/* SA_NODEFER: a fault in a callback comes back to the handler,
		 * which then restores SIG_DFL; blocked, the kernel would kill at
		 * once with no word of why. SA_ONSTACK: a driver's alternate
		 * stack is used. SA_RESTART as the handler we replace had it, for
		 * the system calls a sent signal interrupts. */
		action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER
			| (prev_actions[i].sa_flags & SA_RESTART);
		if (sigaction(guarded_signals[i], &action, NULL) != 0) {
			if (i == 1)
				sigaction(guarded_signals[0], &prev_actions[0], NULL);
			return false;
		}
	}
	atomic_store(&installed, true);
	return true;
}

/* The live range overlapping [start, end), or NULL; registry_lock held. */
static struct guard_range *find_overlap(uintptr_t start, uintptr_t end)
{
	for (size_t i = 0; i < KERNEL_GUARD_MAX_RANGES; i++) {
		struct guard_range *range = &ranges[i];
		uintptr_t range_end = atomic_load_explicit(&range->end, memory_order_relaxed);
		if (range_end != 0 && start < range_end
			&& atomic_load_explicit(&range->start, memory_order_relaxed) < end)
			return range;
	}
	return NULL;
}

status_t kernel_guard_register(uintptr_t start, size_t size, kernel_guard_callback callback,
	void *cookie)
{
	struct guard_range *free_range = NULL;
	status_t status = B_OK;

	if (size == 0 || start + size < start || callback == NULL)
		return B_BAD_VALUE;
	if (!kernel_guard_available())
		return B_NOT_ALLOWED;
	mutex_lock(&registry_lock);
	if (find_overlap(start, start + size) != NULL) {
		status = B_NAME_IN_USE;
		goto out;
	}
	for (size_t i = 0; i < KERNEL_GUARD_MAX_RANGES && free_range == NULL; i++)
		if (atomic_load_explicit(&ranges[i].end, memory_order_relaxed) == 0)
			free_range = &ranges[i];
	if (free_range == NULL) {
		status = B_NO_MEMORY;
		goto out;
	}
	if (!install_handlers()) {
		status = B_ERROR;
		goto out;
	}
	atomic_fetch_add(&free_range->version, 1);
	atomic_store_explicit(&free_range->start, start, memory_order_relaxed);
	atomic_store_explicit(&free_range->callback, callback, memory_order_relaxed);
	atomic_store_explicit(&free_range->cookie, cookie, memory_order_relaxed);
	atomic_store_explicit(&free_range->end, start + size, memory_order_relaxed);
	atomic_fetch_add_explicit(&free_range->version, 1, memory_order_release);
out:
	mutex_unlock(&registry_lock);
	return status;
}

status_t kernel_guard_unregister(uintptr_t start)
{
	struct guard_range *range = NULL;

	mutex_lock(&registry_lock);
	for (size_t i = 0; i < KERNEL_GUARD_MAX_RANGES && range == NULL; i++)
		if (atomic_load_explicit(&ranges[i].end, memory_order_relaxed) != 0
			&& atomic_load_explicit(&ranges[i].start, memory_order_relaxed) == start)
			range = &ranges[i];
	if (range == NULL) {
		mutex_unlock(&registry_lock);
		return B_ENTRY_NOT_FOUND;
	}
	atomic_fetch_add(&range->version, 1);
	while (atomic_load(&range->users) != 0)
		sched_yield();
	atomic_store_explicit(&range->end, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&range->version, 1, memory_order_release);
	mutex_unlock(&registry_lock);
	return B_OK;
}

/* ---- faults, after the handler ---- */

uint64_t kernel_guard_fault_total(void)
{
	return atomic_load(&fault_total);
}

bool kernel_guard_fault_copy(uint64_t number, struct kernel_guard_fault *fault)
{
	const struct fault_slot *slot = &fault_slots[number % KERNEL_GUARD_FAULT_SLOTS];

	if (atomic_load_explicit(&slot->published, memory_order_acquire) != number + 1)
		return false;
	memcpy(fault, &slot->fault, sizeof(*fault));
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&slot->published, memory_order_relaxed) == number + 1;
}
