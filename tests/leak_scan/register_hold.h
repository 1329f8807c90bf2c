/*
 * register_hold.h - a thread that holds the only pointer to a block in a
 * register (issue 16: "a register-held pointer"), for the in-process scan's
 * test (test_leak_scan.c) and pooldump scan's (tests/node/scan_driver.c).
 *
 * register_hold() is given the block's address complemented (no pointer,
 * register_hold_hide):
 * only inside its assembly is the address itself in a register (r12,
 * callee-saved, which a system call keeps), never in memory. There it says
 * it is ready (a byte on ready_fd) and blocks reading wait_fd until end of
 * file, so a scan that stops the thread finds the address in its saved
 * registers alone, and one that does not stop it finds it nowhere. The
 * caller wipes the dead frames below its own first (register_hold_wipe):
 * the allocation left copies of the address there.
 *
 * Invariants: x86-64 only (REGISTER_HOLD_SUPPORTED); elsewhere the tests
 * that need it say they are skipped.
 *
 * Locking: none; the thread blocks in read(2) until its pipe's writer closes.
 */
#ifndef AREA_MALLOC_TESTS_REGISTER_HOLD_H
#define AREA_MALLOC_TESTS_REGISTER_HOLD_H

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define REGISTER_HOLD_SUPPORTED 1

/* ~block, computed now: the compiler cannot keep block itself for later
 * (in a callee-saved register that the next call would save to memory). */
static inline uintptr_t register_hold_hide(void *block)
{
	uintptr_t hidden = ~(uintptr_t)block;

	__asm__ volatile("" : "+r"(hidden));
	return hidden;
}

/* Zeroes the stack below the caller's frame: an allocation's dead frames. */
__attribute__((noinline, noipa, unused)) static void register_hold_wipe(void)
{
	volatile char area[64 * 1024];

	memset((char *)area, 0, sizeof(area));
	__asm__ volatile("" ::: "memory");
}

/* Returns once wait_fd reaches end of file; hidden is ~address throughout
 * (the address is only in r12 in between). */
__attribute__((noinline, noipa, unused)) static void register_hold(uintptr_t hidden, int ready_fd,
	int wait_fd)
{
	register uintptr_t key __asm__("r12") = hidden;
	char byte = 'r';

	/* r8-r10 cleared: scratch registers the allocation may have left a
	 * copy in */
	__asm__ volatile("xorl %%r8d, %%r8d\n\t"
			 "xorl %%r9d, %%r9d\n\t"
			 "xorl %%r10d, %%r10d\n\t"
			 "notq %%r12\n\t"
			 /* write(ready_fd, &byte, 1) */
			 "movl %[nr_write], %%eax\n\t"
			 "movl %[ready], %%edi\n\t"
			 "movq %[buffer], %%rsi\n\t"
			 "movl $1, %%edx\n\t"
			 "syscall\n"
			 /* read(wait_fd, &byte, 1) until end of file or an error
		 * other than EINTR (a scan's signal) */
			 "1:\n\t"
			 "movl %[nr_read], %%eax\n\t"
			 "movl %[wait], %%edi\n\t"
			 "movq %[buffer], %%rsi\n\t"
			 "movl $1, %%edx\n\t"
			 "syscall\n\t"
			 "cmpq $-4, %%rax\n\t"
			 "je 1b\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jg 1b\n\t"
			 "notq %%r12\n\t"
			 : "+r"(key)
			 : [nr_write] "i"(SYS_write), [nr_read] "i"(SYS_read),
			 [ready] "r"(ready_fd), [wait] "r"(wait_fd), [buffer] "r"(&byte)
			 : "rax", "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "memory",
			 "cc");
}
#else
#define REGISTER_HOLD_SUPPORTED 0
#endif

#endif /* AREA_MALLOC_TESTS_REGISTER_HOLD_H */
