/*
 * frame_cfi.h - an unwind by the tables over a copy of a stack: the
 * guard-page fault handler's, whose frame-pointer walk skips the caller of
 * every function that keeps no frame pointer (glibc's memcpy, a driver
 * built at -O2).
 *
 * Locking: the symbolizer's lock, taken inside (symbolize.h).
 */
#ifndef AREA_MALLOC_FORMAT_FRAME_CFI_H
#define AREA_MALLOC_FORMAT_FRAME_CFI_H

#include <stdbool.h>
#include <stdint.h>

#include "format/symbolize.h"

/* The registers an unwind step needs, of one frame: its pc (the faulting
 * instruction, or a return address into it), its stack pointer, and its
 * frame pointer when known. */
struct frame_cfi_registers {
	uintptr_t pc, stack_pointer, frame_pointer;
	bool frame_pointer_known;
};

/* Reads the stack word at address into *value: false when the word lies
 * outside the memory the caller has (a copy of the stack). */
typedef bool frame_cfi_read_word(void *context, uintptr_t address, uintptr_t *value);

/*
 * One step of an unwind by the tables (x86-64), over a stack copy that
 * read_word gives: from the frame in *registers (faulting: its pc is the
 * faulting instruction, not a return address) to its caller's, whose pc is
 * the return address. The tables must say the CFA is the stack or the frame
 * pointer plus an offset and where the return address lies from it, and
 * the caller's frame must lie above; a frame pointer the function saved
 * is restored from the copy, one it kept is passed on, any other makes it
 * unknown (a later frame whose CFA hangs on it ends the walk). false, with
 * *registers unchanged, when the tables or the copy do not say.
 */
bool frame_cfi_step(struct symbolizer *symbolizer, struct frame_cfi_registers *registers,
	bool faulting, frame_cfi_read_word *read_word, void *context);

#endif /* AREA_MALLOC_FORMAT_FRAME_CFI_H */
