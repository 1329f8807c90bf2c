/*
 * guard_fault.h - the fault side of guard pages (issue 15): a registry of
 * guarded address ranges, and the SIGSEGV/SIGBUS handler that sends a
 * fault inside one to the range's owner (guard_fault.c).
 *
 * The handler lives in the kernel-API library because that library is never
 * unloaded: a handler in the debug module would leave the driver's chained
 * handlers (and ours, saved by them) jumping into an unmapped image after
 * the last put_module. Not a public interface: the debug module uses it.
 *
 * Order of handlers: the handler is installed at the first registration and
 * saves the handler that was there (the driver's, a sanitizer's, SIG_IGN or
 * SIG_DFL); a fault outside every range goes to that one as if the library
 * were not there. A driver that installs its own SIGSEGV or SIGBUS handler
 * after the first registration gets every fault first, guard faults
 * included: it must chain to the handler sigaction() gave back (calling its
 * sa_sigaction with the same three arguments) for guard pages to work.
 *
 * Use (the debug module): register a pool's whole area once (the lookup is
 * a scan of KERNEL_GUARD_MAX_RANGES slots, made for a few ranges per pool,
 * not one per block); the callback decides whether the faulting page is a
 * guard page of the pool (its side table), returns KERNEL_GUARD_DECLINE
 * when it is not, else copies what it needs into its own preallocated
 * record, makes the page accessible (KFENCE's way) and returns
 * KERNEL_GUARD_CONTINUE, or KERNEL_GUARD_FATAL under halt_on_error. The
 * report (symbols, the block's stacks, JSON) is made later, outside the
 * handler, from that record or kernel_guard_fault_copy. Unregister before
 * the area is deleted and before the module is unloaded (the callback is
 * the module's code).
 *
 * Locking: register and unregister take the registry's mutex; the handler
 * takes no lock and calls nothing that is not async-signal-safe.
 */
#ifndef AREA_MALLOC_KERNEL_GUARD_FAULT_H
#define AREA_MALLOC_KERNEL_GUARD_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <OS.h>

/* ranges registered at once, and faults kept for kernel_guard_fault_copy */
#define KERNEL_GUARD_MAX_RANGES 1024
#define KERNEL_GUARD_FAULT_SLOTS 32
/* the faulting pc and the return addresses above it */
#define KERNEL_GUARD_MAX_FRAMES 32
/* words copied from the faulting thread's stack pointer up (4 KiB: the
 * frames of a dozen functions built at -O2, for an unwind by the tables) */
#define KERNEL_GUARD_STACK_WORDS 512

enum kernel_guard_access {
	KERNEL_GUARD_ACCESS_UNKNOWN, /* the CPU did not say (or not to us) */
	KERNEL_GUARD_ACCESS_READ,
	KERNEL_GUARD_ACCESS_WRITE,
};

/* What the owner's callback decided about a fault in its range. */
enum kernel_guard_verdict {
	/* The owner made the access possible (mprotect): the access repeats. */
	KERNEL_GUARD_CONTINUE,
	/* Stop: the default action of the signal (the access repeats with
	 * SIG_DFL installed, so the process dies of the signal, with a core). */
	KERNEL_GUARD_FATAL,
	/* Not a fault of the owner's (an accessible page of the range): the
	 * handler that was installed before gets it, as for any other address. */
	KERNEL_GUARD_DECLINE,
	/* As KERNEL_GUARD_CONTINUE, but no bug of the program's: the owner
	 * replaced a page its backing could not provide (a SIGBUS of a full
	 * tmpfs), so no report line is written. */
	KERNEL_GUARD_CONTINUE_QUIET,
	/* As KERNEL_GUARD_FATAL, but the owner wrote its own line: the fault
	 * is no guard page's. */
	KERNEL_GUARD_FATAL_QUIET,
};

/* The facts of one fault, collected in the handler. */
struct kernel_guard_fault {
	uint64_t number;       /* faults in guarded ranges so far, from 0 */
	int signal;            /* SIGSEGV or SIGBUS */
	int code;              /* si_code */
	uintptr_t address;     /* si_addr */
	uintptr_t range_start; /* the registered range holding address */
	size_t range_size;
	enum kernel_guard_access access;
	pid_t thread;         /* gettid() of the faulting thread */
	unsigned frame_count; /* frames[0] is the faulting pc */
	uintptr_t frames[KERNEL_GUARD_MAX_FRAMES];
	/* where the walk read frames[i] (i >= 1): the return address's slot */
	uintptr_t return_slots[KERNEL_GUARD_MAX_FRAMES];
	/*
	 * The frame-pointer walk misses the caller of every function that
	 * keeps no frame pointer (memcpy, a driver built at -O2): frames[1] is
	 * then some caller further up. The unwind tables find them in a copy of
	 * the stack, outside the handler (guarded_report.c). The copy lies in
	 * the fault's slot: valid during the callback and until
	 * KERNEL_GUARD_FAULT_SLOTS faults later; NULL (count 0) when no slot
	 * was free (the record was then on the handler's stack, which must
	 * stay small: it may be a driver's alternate signal stack).
	 */
	uintptr_t stack_pointer, frame_pointer;
	unsigned stack_word_count; /* words copied (0: none readable) */
	const uintptr_t *stack;    /* from stack_pointer up */
};

/*
 * Called in the signal handler, on the faulting thread, so it must be
 * async-signal-safe (mprotect, write, atomics; no malloc, stdio, locks, and
 * no kernel_guard_register/unregister). Unless it declines, the handler
 * then writes the report's first line ("area_malloc: guard page fault:
 * WRITE of 0x... at pc 0x... in thread N"), before the signal's default
 * action for KERNEL_GUARD_FATAL; the rest of the report comes later,
 * outside the handler. fault is valid during the call only (a copy stays
 * in the fault slots for kernel_guard_fault_copy, unless
 * KERNEL_GUARD_FAULT_SLOTS faults come at once).
 */
typedef enum kernel_guard_verdict (
	*kernel_guard_callback)(const struct kernel_guard_fault *fault, void *cookie);

/*
 * Guards [start, start + size): faults there go to callback(fault, cookie).
 * Installs the handlers at the first registration. B_BAD_VALUE for an empty
 * or wrapping range or no callback, B_NAME_IN_USE when it overlaps a
 * registered range, B_NO_MEMORY when all KERNEL_GUARD_MAX_RANGES are in use,
 * B_NOT_ALLOWED when guards are off (kernel_guard_available), B_ERROR when
 * the handlers could not be installed.
 */
status_t kernel_guard_register(uintptr_t start, size_t size, kernel_guard_callback callback,
	void *cookie);

/*
 * Withdraws the range that starts at start (B_ENTRY_NOT_FOUND if none).
 * Returns once no handler runs the range's callback any more, so the cookie
 * may then be freed. Faults there then go to the previously installed
 * handler. The handlers themselves stay installed.
 */
status_t kernel_guard_unregister(uintptr_t start);

/* Whether guard pages may be used: not under Valgrind, which sees every
 * access itself and does not hand faults on guard pages to the process. */
bool kernel_guard_available(void);

/* Faults in guarded ranges since the process started (fork keeps counting). */
uint64_t kernel_guard_fault_total(void);

/* Copies the fault numbered number into *fault, outside the handler (for
 * the report that follows it): false when that slot was since reused, or
 * is being written. */
bool kernel_guard_fault_copy(uint64_t number, struct kernel_guard_fault *fault);

#endif /* AREA_MALLOC_KERNEL_GUARD_FAULT_H */
