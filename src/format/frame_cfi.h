/*
 * frame_cfi.h - what the unwind tables say about one frame, for a stack
 * that a frame-pointer walk took (the guard-page fault handler's).
 *
 * Locking: the symbolizer's lock, taken inside (symbolize.h).
 */
#ifndef AREA_MALLOC_FORMAT_FRAME_CFI_H
#define AREA_MALLOC_FORMAT_FRAME_CFI_H

#include <stdbool.h>
#include <stdint.h>

#include "format/symbolize.h"

/*
 * Where the caller's return address lies when pc is in a function that
 * keeps no frame pointer there (the unwind tables say its CFA is the stack
 * pointer plus an offset: a leaf built at -O2, libc's memcpy): at the stack
 * pointer plus *from_stack_pointer. A frame-pointer walk from such a pc
 * skips that caller. false when the tables say the CFA hangs on the frame
 * pointer (the walk is right), say nothing, or on other architectures than
 * x86-64 (aarch64 keeps a leaf's return address in a register).
 */
bool frame_cfi_return_address_slot(struct symbolizer *symbolizer, uintptr_t pc,
	int64_t *from_stack_pointer);

#endif /* AREA_MALLOC_FORMAT_FRAME_CFI_H */
