/*
 * frame_cfi.c - the unwind tables (.eh_frame, else .debug_frame) of one
 * frame, read with elfutils' libdw through the symbolizer's module of the
 * image (frame_cfi.h says what is asked and why).
 *
 * Invariants: only the tables are read, never process memory; an answer
 * is given only for the one rule shape it understands (CFA = stack pointer
 * + N, the return address saved at CFA + M), anything else is no answer.
 *
 * Locking: runs under the symbolizer's lock (symbolizer_ask_module).
 */
#include "config.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>

#include "format/frame_cfi.h"

#if defined(__x86_64__)
#define CFI_STACK_POINTER 7 /* DWARF's number of rsp */
#endif

/* The offset a register rule's expression adds to the CFA:
 * DW_OP_call_frame_cfa, then nothing, DW_OP_plus_uconst N (N may wrap:
 * negative), or DW_OP_consts N and DW_OP_plus. false for anything else. */
static bool cfa_plus_offset(const Dwarf_Op *ops, size_t count, int64_t *offset)
{
	if (count == 0 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (count == 1) {
		*offset = 0;
		return true;
	}
	if (count == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*offset = (int64_t)ops[1].number;
		return true;
	}
	if (count == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus) {
		*offset = (int64_t)ops[1].number;
		return true;
	}
	return false;
}

#ifdef CFI_STACK_POINTER
static bool ask_return_address_slot(void *opaque_module, uintptr_t pc, void *context)
{
	Dwfl_Module *module = opaque_module;
	int64_t *from_stack_pointer = context, cfa_offset, ra_offset;
	Dwarf_Addr bias = 0;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(module, &bias);
	Dwarf_Frame *frame = NULL;
	Dwarf_Op *ops = NULL, ops_mem[3];
	size_t count = 0;
	bool found = false;
	int ra;

	if (cfi == NULL)
		cfi = dwfl_module_dwarf_cfi(module, &bias);
	if (cfi == NULL || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0)
		return false;
	ra = dwarf_frame_info(frame, NULL, NULL, NULL);
	/* the CFA is rsp + N: the function keeps no frame pointer at pc */
	if (ra >= 0 && dwarf_frame_cfa(frame, &ops, &count) == 0 && count == 1
		&& ops[0].atom == DW_OP_bregx && ops[0].number == CFI_STACK_POINTER) {
		cfa_offset = (int64_t)ops[0].number2;
		if (dwarf_frame_register(frame, ra, ops_mem, &ops, &count) == 0
			&& cfa_plus_offset(ops, count, &ra_offset)) {
			*from_stack_pointer = cfa_offset + ra_offset;
			found = true;
		}
	}
	free(frame);
	return found;
}
#endif

bool frame_cfi_return_address_slot(struct symbolizer *symbolizer, uintptr_t pc,
	int64_t *from_stack_pointer)
{
#ifdef CFI_STACK_POINTER
	return symbolizer_ask_module(symbolizer, pc, ask_return_address_slot, from_stack_pointer);
#else
	(void)symbolizer;
	(void)pc;
	(void)from_stack_pointer;
	return false;
#endif
}
