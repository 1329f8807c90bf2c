/*
 * test_frame_cfi.c - Check suite for frame_cfi_step (src/format/frame_cfi.c):
 * one step of an unwind by the tables over a copy of a stack, the walk the
 * debug module's guard fault reports make (debug/guarded_report.c).
 *
 * Role
 *   Three functions written in assembly, never run, give the tables exact
 *   rules: one saves the caller's frame pointer at CFA - 16, one says the
 *   caller's frame pointer is lost (DW_CFA_undefined: it was used as a
 *   general register and not saved), one keeps it (DW_CFA_same_value), and
 *   one's CFA hangs on the frame pointer. A stack copy (an array, read by
 *   read_word) holds the return addresses the test lays out, and the steps
 *   must give exactly the pcs, CFAs and frame pointers the rules say, or
 *   stop where the rules say nothing.
 *
 * Invariants
 *   The rules are the .cfi directives below; each probe label lies inside
 *   the function whose rule it names (a return address minus one too).
 *
 * Locking
 *   None: one thread.
 */
#include "config.h"

#include "format/frame_cfi.h"
#include "format/symbolize.h"
#include "support/check_main.h"

#include <check.h>
#include <stdint.h>

#if defined(__x86_64__)
__asm__(".text\n"
	/* the caller's rbp is saved at CFA - 16 */
	".type fcp_saves_fp, @function\n"
	"fcp_saves_fp:\n"
	".cfi_startproc\n"
	"	push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"fcp_saves_fp_at:\n"
	"	nop\n"
	"	pop %rbp\n"
	".cfi_def_cfa_offset 8\n"
	"	ret\n"
	".cfi_endproc\n"
	".size fcp_saves_fp, .-fcp_saves_fp\n"
	/* the caller's rbp is lost (a general register, not saved) */
	".type fcp_loses_fp, @function\n"
	"fcp_loses_fp:\n"
	".cfi_startproc\n"
	".cfi_undefined %rbp\n"
	"fcp_loses_fp_at:\n"
	"	nop\n"
	"	ret\n"
	".cfi_endproc\n"
	".size fcp_loses_fp, .-fcp_loses_fp\n"
	/* frameless, rbp untouched */
	".type fcp_keeps_fp, @function\n"
	"fcp_keeps_fp:\n"
	".cfi_startproc\n"
	".cfi_same_value %rbp\n"
	"	call fcp_loses_fp\n"
	"fcp_keeps_fp_return:\n"
	"	ret\n"
	".cfi_endproc\n"
	".size fcp_keeps_fp, .-fcp_keeps_fp\n"
	/* CFA = rbp + 16 */
	".type fcp_on_fp, @function\n"
	"fcp_on_fp:\n"
	".cfi_startproc\n"
	"	push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"	mov %rsp, %rbp\n"
	".cfi_def_cfa_register %rbp\n"
	"	call fcp_keeps_fp\n"
	"fcp_on_fp_return:\n"
	"	leave\n"
	".cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	".cfi_endproc\n"
	".size fcp_on_fp, .-fcp_on_fp\n");

extern const char fcp_saves_fp_at[], fcp_loses_fp_at[], fcp_keeps_fp_return[], fcp_on_fp_return[];

/* a return address above fcp_on_fp, which the tables need not know */
#define OUTER_RETURN ((uintptr_t)0x5000)

static uintptr_t stack_copy[8];

static bool read_copy(void *context, uintptr_t address, uintptr_t *value)
{
	uintptr_t base = (uintptr_t)context;

	if (address < base || (address - base) % sizeof(uintptr_t) != 0
		|| (address - base) / sizeof(uintptr_t)
			>= sizeof(stack_copy) / sizeof(stack_copy[0]))
		return false;
	*value = stack_copy[(address - base) / sizeof(uintptr_t)];
	return true;
}

static struct symbolizer *symbolizer;

static void open_symbolizer(void)
{
	symbolizer = symbolizer_open_self();
	ck_assert_ptr_nonnull(symbolizer);
}

static void close_symbolizer(void)
{
	symbolizer_close(symbolizer);
}

/* The stack copy's addresses: word i of the copy lies at sp0 + 8 i. */
#define WORD(i) ((uintptr_t)&stack_copy[i])

/* One step, which must succeed and reach pc with its CFA at stack_pointer. */
static void step_to(struct frame_cfi_registers *registers, bool faulting, uintptr_t pc,
	uintptr_t stack_pointer)
{
	ck_assert(frame_cfi_step(symbolizer, registers, faulting, read_copy, (void *)WORD(0)));
	ck_assert_uint_eq(registers->pc, pc);
	ck_assert_uint_eq(registers->stack_pointer, stack_pointer);
}

/*
 * fcp_saves_fp faults (CFA sp0 + 16: rbp saved at [0], returns at [1] into
 * fcp_keeps_fp), which returns at [2] into fcp_on_fp, whose frame is
 * [3] (its caller's rbp) and [4] (its return address): the saved rbp is
 * restored, kept through fcp_keeps_fp, and fcp_on_fp's CFA hangs on it.
 */
START_TEST(saved_frame_pointer_is_kept_through_a_frameless_frame)
{
	struct frame_cfi_registers registers = { (uintptr_t)fcp_saves_fp_at, WORD(0), 0x1234,
		true };

	stack_copy[0] = WORD(3);
	stack_copy[1] = (uintptr_t)fcp_keeps_fp_return;
	stack_copy[2] = (uintptr_t)fcp_on_fp_return;
	stack_copy[3] = 0;
	stack_copy[4] = OUTER_RETURN;
	step_to(&registers, true, (uintptr_t)fcp_keeps_fp_return, WORD(2));
	ck_assert_uint_eq(registers.frame_pointer, WORD(3));
	ck_assert(registers.frame_pointer_known);
	step_to(&registers, false, (uintptr_t)fcp_on_fp_return, WORD(3));
	ck_assert_uint_eq(registers.frame_pointer, WORD(3));
	ck_assert(registers.frame_pointer_known);
	step_to(&registers, false, OUTER_RETURN, WORD(5));
	ck_assert_uint_eq(registers.frame_pointer, 0);
}
END_TEST

/*
 * fcp_loses_fp faults (CFA sp0 + 8, returns at [0] into fcp_keeps_fp),
 * which returns at [1] into fcp_on_fp. The caller's rbp is lost in the
 * first step; fcp_keeps_fp does not touch it, so it is still lost, and
 * fcp_on_fp's CFA cannot be found: the walk must stop there, not take the
 * faulting context's rbp (here WORD(2), where [3] looks like a return
 * address) for fcp_on_fp's.
 */
START_TEST(lost_frame_pointer_stays_lost_through_a_frameless_frame)
{
	struct frame_cfi_registers registers = { (uintptr_t)fcp_loses_fp_at, WORD(0), WORD(2),
		true };

	stack_copy[0] = (uintptr_t)fcp_keeps_fp_return;
	stack_copy[1] = (uintptr_t)fcp_on_fp_return;
	stack_copy[2] = 0;
	stack_copy[3] = OUTER_RETURN;
	step_to(&registers, true, (uintptr_t)fcp_keeps_fp_return, WORD(1));
	ck_assert(!registers.frame_pointer_known);
	step_to(&registers, false, (uintptr_t)fcp_on_fp_return, WORD(2));
	ck_assert_msg(!registers.frame_pointer_known,
		"a frame pointer lost below a frame that keeps it is known again (%#lx)",
		(unsigned long)registers.frame_pointer);
	ck_assert_msg(!frame_cfi_step(symbolizer, &registers, false, read_copy, (void *)WORD(0)),
		"the step over a frame on a lost frame pointer gave pc %#lx",
		(unsigned long)registers.pc);
}
END_TEST
#endif

int main(void)
{
	Suite *suite = suite_create("frame_cfi");
	TCase *tcase = tcase_create("step");

	tcase_add_checked_fixture(tcase, open_symbolizer, close_symbolizer);
#if defined(__x86_64__)
	tcase_add_test(tcase, saved_frame_pointer_is_kept_through_a_frameless_frame);
	tcase_add_test(tcase, lost_frame_pointer_stays_lost_through_a_frameless_frame);
#endif
	suite_add_tcase(suite, tcase);
	return run_check_suite(suite, CK_FORK_GETENV);
}
