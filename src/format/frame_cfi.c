/*
 * frame_cfi.c - the unwind tables (.eh_frame, else .debug_frame) of one
 * frame, read with elfutils' libdw through the symbolizer's module of the
 * image (frame_cfi.h says what is asked and why).
 *
 * Invariants: only the tables are read, never process memory (a step
 * reads the caller's copy of the stack through its read_word); an answer
 * is given only for the rule shapes it understands (CFA = stack or frame
 * pointer + N, the return address saved at CFA + M, the frame pointer
 * saved at CFA + K or left alone), anything else is no answer.
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
#define CFI_FRAME_POINTER 6 /* DWARF's number of rbp */

/* What the tables say of one frame at a pc: the CFA is a register (the
 * stack or the frame pointer) plus cfa_offset; the return address is saved
 * at the CFA plus ra_offset; the caller's frame pointer is saved at the CFA
 * plus fp_offset (fp_rule FP_SAVED), is the frame's own (FP_KEPT: the
 * function does not touch it), or is not known. */
enum fp_rule { FP_UNKNOWN, FP_KEPT, FP_SAVED };

struct frame_rule {
	int cfa_register;
	int64_t cfa_offset, ra_offset, fp_offset;
	enum fp_rule fp_rule;
};

static bool ask_frame_rule(void *opaque_module, uintptr_t pc, void *context)
{
	Dwfl_Module *module = opaque_module;
	struct frame_rule *rule = context;
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
	if (ra >= 0 && dwarf_frame_cfa(frame, &ops, &count) == 0 && count == 1
		&& ops[0].atom == DW_OP_bregx
		&& (ops[0].number == CFI_STACK_POINTER || ops[0].number == CFI_FRAME_POINTER)) {
		rule->cfa_register = (int)ops[0].number;
		rule->cfa_offset = (int64_t)ops[0].number2;
		if (dwarf_frame_register(frame, ra, ops_mem, &ops, &count) == 0
			&& cfa_plus_offset(ops, count, &rule->ra_offset)) {
			found = true;
			rule->fp_rule = FP_UNKNOWN;
			if (dwarf_frame_register(frame, CFI_FRAME_POINTER, ops_mem, &ops, &count)
				== 0) {
				/* no operations and no array: same value; with
				 * the array (ops_mem): undefined (libdw.h) */
				if (count == 0 && ops == NULL)
					rule->fp_rule = FP_KEPT;
				else if (cfa_plus_offset(ops, count, &rule->fp_offset))
					rule->fp_rule = FP_SAVED;
			}
		}
	}
	free(frame);
	return found;
}
#endif

bool frame_cfi_step(struct symbolizer *symbolizer, struct frame_cfi_registers *registers,
	bool faulting, frame_cfi_read_word *read_word, void *context)
{
#ifdef CFI_STACK_POINTER
	struct frame_rule rule;
	uintptr_t cfa, return_address, frame_pointer = registers->frame_pointer;

	/* a return address is the instruction after the call, which may be
	 * the next function's first: the call's own lies just before it */
	if (registers->pc < 4096
		|| !symbolizer_ask_module(symbolizer, faulting ? registers->pc : registers->pc - 1,
			ask_frame_rule, &rule))
		return false;
	if (rule.cfa_register == CFI_STACK_POINTER) {
		cfa = registers->stack_pointer + (uintptr_t)rule.cfa_offset;
	} else {
		if (!registers->frame_pointer_known)
			return false;
		cfa = registers->frame_pointer + (uintptr_t)rule.cfa_offset;
	}
	/* the caller's frame lies above this one's (the stack grows down) */
	if (cfa <= registers->stack_pointer
		|| !read_word(context, cfa + (uintptr_t)rule.ra_offset, &return_address))
		return false;
	if (rule.fp_rule == FP_SAVED
		&& !read_word(context, cfa + (uintptr_t)rule.fp_offset, &frame_pointer))
		return false;
	/* a frame pointer lost below stays lost through frames that keep it */
	registers->frame_pointer_known = rule.fp_rule == FP_SAVED
		|| (rule.fp_rule == FP_KEPT && registers->frame_pointer_known);
	registers->frame_pointer = frame_pointer;
	registers->stack_pointer = cfa;
	registers->pc = return_address;
	return true;
#else
	(void)symbolizer;
	(void)registers;
	(void)faulting;
	(void)read_word;
	(void)context;
	return false;
#endif
}
