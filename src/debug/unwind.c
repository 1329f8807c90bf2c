/*
 * unwind.c - the stack of a call into the module, cheaply: the frame
 * pointer chain walked with every step validated, and libgcc's unwinder
 * (backtrace(3), the unwind tables) for a capture where a step cannot be
 * trusted. Never faults: the walk reads only inside the calling thread's
 * own stack.
 *
 * A step of the walk goes from a frame pointer fp, whose frame holds the
 * return address R into function F at fp[1], to the frame pointer of F's
 * frame, fp[0] (what F's callee saved). It is checked:
 *   - fp[0] lies inside the thread's stack (pthread_getattr_np bounds,
 *     cached per thread), above fp (frames grow monotonically), 8-aligned;
 *   - the return address it leads to lies in an executable segment of a
 *     loaded image (dl_iterate_phdr ranges, rebuilt when the loader's
 *     adds/subs counters moved);
 *   - F keeps a frame pointer at R: a driver built at -O2 without
 *     -fno-omit-frame-pointer does not, and its rbp then holds its caller's
 *     frame pointer (the walk would skip a frame and look sound) or
 *     anything. Whether F does is a fact about R, learned once per return
 *     address by comparing a walk with the unwind tables (the verdict
 *     table below) and then looked up.
 * The chain ends where the next frame pointer is not a frame (glibc's
 * start code leaves 0 or 1 there): such an end is accepted after a return
 * address in libc's start code whose end the unwind tables confirmed once
 * (what they see below it is start code only: libc, or the program's
 * _start), so a stack ends in __libc_start_call_main or start_thread, not
 * in __libc_start_main, _start or clone3 (nothing of interest is lost).
 *
 * A walk whose steps are not all known good is checked against libgcc's
 * unwinder (_Unwind_Backtrace, what backtrace(3) uses), which teaches the
 * verdicts; the capture then takes the walk's frames when they agree, else
 * the unwind tables'. So the frames of a call site do not depend on which
 * path found them: a stack is the same stack in the depot whichever way it
 * was captured. The unwind tables also say where each of their frames lies
 * (unwind_slots), so that stacks.c can recognise the same stack later
 * without unwinding again.
 *
 * Invariants: a verdict word is 0 or a return address (below 2^56) with
 * verdict bits above it; bits are only ever added (BAD wins over GOOD).
 * Image tables are written in turn and never freed, as node_writer.c's.
 *
 * Locking: image_lock (a leaf under which only the loader's locks are
 * taken, through dl_iterate_phdr) serialises rebuilding the image table;
 * lookups and the verdict table are lock-free.
 */
#include "config.h"

#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>
#include <unwind.h>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#endif

#include "debug/debug_internal.h"
#include "debug/node_writer.h"
#include "debug/unwind.h"
#include "kernel/lock.h"

/* frames between unwind_walk and the module's entry point, at most */
#define MAX_OWN_FRAMES 12
/* the unwind tables' frames above the caller's: ours, and backtrace's own */
#define TABLE_EXTRA_FRAMES 16

/* ---- the thread's stack ---- */

/* initial-exec: a module is dlopen()ed, and the default model would call
 * __tls_get_addr() on every capture (as thread_cache.c explains). 0: not
 * asked yet; low == high: unknown (no walk in this thread). */
static __thread uintptr_t stack_low __attribute__((tls_model("initial-exec")));
static __thread uintptr_t stack_high __attribute__((tls_model("initial-exec")));

static __attribute__((noinline)) void ask_thread_stack(void)
{
	pthread_attr_t attributes;
	void *address;
	size_t size;

	stack_low = stack_high = 1;
	if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
		if (pthread_attr_getstack(&attributes, &address, &size) == 0 && size > 0) {
			stack_low = (uintptr_t)address;
			stack_high = stack_low + size;
		}
		pthread_attr_destroy(&attributes);
	}
}

static inline __attribute__((always_inline)) bool thread_stack(uintptr_t *low, uintptr_t *high)
{
	if (__builtin_expect(stack_high == 0, 0))
		ask_thread_stack();
	*low = stack_low;
	*high = stack_high;
	return stack_low < stack_high;
}

/* ---- loaded images ---- */

#define MAX_RANGES 1024
#define IMAGE_TABLES 4

struct image_table {
	unsigned long long adds, subs; /* the loader's counters it was built at */
	size_t count;
	struct pc_range ranges[MAX_RANGES];
	uintptr_t libc_start, libc_end; /* the C library's image */
};

static struct image_table image_tables[IMAGE_TABLES];
static unsigned next_image_table;
static _Atomic(struct image_table *) images;
static mutex image_lock = MUTEX_INITIALIZER("area_malloc unwinder images");

struct image_scan {
	struct image_table *table;
	uintptr_t libc_marker;
};

static int scan_image(struct dl_phdr_info *info, size_t size, void *context)
{
	struct image_scan *scan = context;
	struct image_table *table = scan->table;
	uintptr_t low = UINTPTR_MAX, high = 0;
	bool libc = false;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + segment->p_vaddr;
		if (segment->p_type != PT_LOAD)
			continue;
		if (scan->libc_marker >= start && scan->libc_marker < start + segment->p_memsz)
			libc = true;
		low = start < low ? start : low;
		high = start + segment->p_memsz > high ? start + segment->p_memsz : high;
		if (!(segment->p_flags & PF_X) || table->count == MAX_RANGES)
			continue;
		table->ranges[table->count].start = start;
		table->ranges[table->count].end = start + segment->p_memsz;
		table->count++;
	}
	if (libc) {
		table->libc_start = low;
		table->libc_end = high;
	}
	return 0;
}

static int compare_ranges(const void *a, const void *b)
{
	const uintptr_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *context)
{
	unsigned long long *counters = context;

	if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
		return 1;
	counters[0] = info->dlpi_adds;
	counters[1] = info->dlpi_subs;
	return 1; /* the first image is enough */
}

/* Rebuilds the table when the loader added or removed an image since. */
static const struct image_table *refresh_images(void)
{
	unsigned long long counters[2] = { 0, 0 };
	const struct image_table *current;

	mutex_lock(&image_lock);
	dl_iterate_phdr(read_counters, counters);
	current = atomic_load(&images);
	if (current == NULL || current->adds != counters[0] || current->subs != counters[1]) {
		struct image_table *table = &image_tables[next_image_table++ % IMAGE_TABLES];
		struct image_scan scan = { table, (uintptr_t)&__libc_single_threaded };
		table->count = 0;
		table->libc_start = table->libc_end = 0;
		table->adds = counters[0];
		table->subs = counters[1];
		dl_iterate_phdr(scan_image, &scan);
		qsort(table->ranges, table->count, sizeof(table->ranges[0]), compare_ranges);
		atomic_store(&images, table);
		current = table;
	}
	mutex_unlock(&image_lock);
	return current;
}

/* Is pc in an executable range of the table (libc's: *libc)? */
static bool find_range(const struct image_table *table, uintptr_t pc, bool *libc)
{
	if (pc_range_index(table->ranges, table->count, pc) == table->count)
		return false;
	*libc = pc >= table->libc_start && pc < table->libc_end;
	return true;
}

/* Does pc lie in an executable segment of a loaded image (libc's: *libc)? */
static bool in_image(uintptr_t pc, bool *libc)
{
	const struct image_table *table = atomic_load_explicit(&images, memory_order_acquire);

	*libc = false;
	if (table != NULL && find_range(table, pc, libc))
		return true;
	/* an image loaded since, or not code at all */
	table = refresh_images();
	return find_range(table, pc, libc);
}

/* What may lie below the end of a frame-pointer chain: start code. */
static bool start_code(uintptr_t pc)
{
	uintptr_t entry = (uintptr_t)getauxval(AT_ENTRY);
	bool libc;

	/* _start calls __libc_start_main within its first few instructions */
	if (entry != 0 && pc > entry && pc - entry < 64)
		return true;
	return in_image(pc, &libc) && libc;
}

/* ---- verdicts: does the function at a return address keep a frame pointer? ---- */

#define VERDICTS 16384
#define VERDICT_PROBES 8
#define VERDICT_SHIFT 56
#define VERDICT_PC_MASK (((uint64_t)1 << VERDICT_SHIFT) - 1)

enum {
	VERDICT_GOOD = 1, /* stepping past this return address by fp[0] is right */
	VERDICT_BAD = 2,  /* it is not (the unwind tables disagreed) */
	VERDICT_END = 4,  /* a chain that ends here ends where the stack ends */
};

static _Atomic uint64_t verdicts[VERDICTS];

static inline size_t verdict_slot(uintptr_t pc)
{
	return (size_t)(((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> 50) & (VERDICTS - 1);
}

static unsigned verdict_of(uintptr_t pc)
{
	size_t slot = verdict_slot(pc);

	for (unsigned probe = 0; probe < VERDICT_PROBES; probe++) {
		uint64_t word = atomic_load_explicit(&verdicts[slot], memory_order_relaxed);
		if (word == 0)
			return 0;
		if ((word & VERDICT_PC_MASK) == (uint64_t)pc)
			return (unsigned)(word >> VERDICT_SHIFT);
		slot = (slot + 1) & (VERDICTS - 1);
	}
	return 0;
}

static void add_verdict(uintptr_t pc, unsigned verdict)
{
	size_t slot = verdict_slot(pc);

	if ((uint64_t)pc > VERDICT_PC_MASK || pc == 0)
		return;
	for (unsigned probe = 0; probe < VERDICT_PROBES; probe++) {
		uint64_t word = atomic_load_explicit(&verdicts[slot], memory_order_relaxed);
		if (word == 0
			&& atomic_compare_exchange_strong(&verdicts[slot], &word,
				(uint64_t)pc | (uint64_t)verdict << VERDICT_SHIFT))
			return;
		if ((word & VERDICT_PC_MASK) == (uint64_t)pc) {
			atomic_fetch_or(&verdicts[slot], (uint64_t)verdict << VERDICT_SHIFT);
			return;
		}
		slot = (slot + 1) & (VERDICTS - 1);
	}
	/* full around here: the return address stays unknown (unwind tables) */
}

/* ---- the walk ---- */

static bool walking_allowed(void)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	/* the walk reads stack words Valgrind may call undefined; under it
	 * every capture goes through the unwind tables */
	/* threads may ask at once: every one finds the same answer */
	static _Atomic int valgrind = -1;
	int known = atomic_load_explicit(&valgrind, memory_order_relaxed);
	if (known < 0) {
		known = RUNNING_ON_VALGRIND != 0;
		atomic_store_explicit(&valgrind, known, memory_order_relaxed);
	}
	return !known;
#else
	return true;
#endif
}

static inline bool is_frame(uintptr_t fp, uintptr_t above, uintptr_t high)
{
	return fp > above && fp % 8 == 0 && fp <= high - 2 * sizeof(uintptr_t);
}

/* From the frame at fp (ours) up to the module's frame whose return address
 * is the caller's: that frame, or 0. */
__attribute__((always_inline, no_sanitize("address", "thread"))) static inline uintptr_t
entry_frame(uintptr_t fp, uintptr_t caller, uintptr_t high)
{
	for (unsigned own = 0; own < MAX_OWN_FRAMES; own++) {
		if (((const uintptr_t *)fp)[1] == caller)
			return fp;
		if (!is_frame(((const uintptr_t *)fp)[0], fp, high))
			return 0;
		fp = ((const uintptr_t *)fp)[0];
	}
	return 0;
}

/* An offset from cfa that a slot of the stack may have: within our entry
 * frame (its saved rbp, 16 bytes below cfa) or above it. */
static bool slot_offset(uintptr_t at, uintptr_t cfa, int32_t *offset)
{
	int64_t difference = (int64_t)(at - cfa);

	if (difference < -2 * (int64_t)sizeof(uintptr_t) || difference > INT32_MAX - 64)
		return false;
	*offset = (int32_t)difference;
	return true;
}

/* A word the stack must hold again, at at. */
static inline bool add_pin(struct unwind_slots *slots, uintptr_t at, uintptr_t value)
{
	if (slots->pins == AREA_MALLOC_MAX_FRAMES + 1
		|| !slot_offset(at, slots->cfa, &slots->pin[slots->pins].at))
		return false;
	slots->pin[slots->pins++].value = value;
	return true;
}

__attribute__((noinline, no_sanitize("address", "thread"))) unsigned unwind_walk(uintptr_t caller,
	uintptr_t *frames, unsigned max, struct unwind_walk *walk)
{
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0), low, high;
	unsigned count = 1;

	frames[0] = caller;
	walk->usable = false;
	walk->ended = false;
	walk->cfa = 0;
	if (!walking_allowed() || !thread_stack(&low, &high) || !is_frame(fp, low - 1, high))
		return 1;
	/* up our own frames to the one whose return address is the caller's */
	fp = entry_frame(fp, caller, high);
	if (fp == 0)
		return 1;
	walk->usable = true;
	walk->cfa = fp + 2 * sizeof(uintptr_t);
	walk->slots.cfa = walk->cfa;
	walk->slots.pins = 0;
	walk->slots.usable = true;
	while (count < max) {
		uintptr_t next = ((const uintptr_t *)fp)[0];
		uintptr_t pc;
		/* every saved frame pointer followed, or that ended the walk */
		walk->slots.usable = walk->slots.usable && add_pin(&walk->slots, fp, next);
		if (!is_frame(next, fp, high) || (pc = ((const uintptr_t *)next)[1]) == 0) {
			walk->ended = true;
			break;
		}
		walk->slots.usable = walk->slots.usable
			&& slot_offset(next + sizeof(uintptr_t), walk->cfa,
				&walk->slots.slot[count]);
		frames[count++] = pc;
		fp = next;
	}
	walk->slots.count = count;
	return count;
}

/* Are the walk's frames right by what is known of their return addresses? */
static bool walk_verified(const uintptr_t *frames, unsigned count, const struct unwind_walk *walk)
{
	bool libc;

	if (!walk->usable)
		return false;
	for (unsigned i = 0; i + 1 < count; i++) {
		unsigned verdict = verdict_of(frames[i]);
		if ((verdict & (VERDICT_GOOD | VERDICT_BAD)) != VERDICT_GOOD)
			return false;
	}
	for (unsigned i = 1; i < count; i++)
		if (!in_image(frames[i], &libc))
			return false;
	return !walk->ended
		|| (verdict_of(frames[count - 1]) & (VERDICT_END | VERDICT_BAD)) == VERDICT_END;
}

/* One frame as libgcc's unwinder sees it: its return address (the IP), the
 * stack pointer it had at its call (_Unwind_GetCFA: the CFA of the frame it
 * called, so the return address lies just below), and rbp in it. */
struct table_frame {
	uintptr_t ip, sp, rbp;
};

struct table_trace {
	struct table_frame frames[AREA_MALLOC_MAX_FRAMES + TABLE_EXTRA_FRAMES];
	unsigned count, max;
};

static _Unwind_Reason_Code trace_frame(struct _Unwind_Context *context, void *argument)
{
	struct table_trace *trace = argument;
	struct table_frame *frame;

	uintptr_t ip = (uintptr_t)_Unwind_GetIP(context);

	/* the outermost frame has no return address (backtrace(3) drops it) */
	if (trace->count == trace->max || ip == 0)
		return _URC_END_OF_STACK;
	frame = &trace->frames[trace->count++];
	frame->ip = ip;
	frame->sp = (uintptr_t)_Unwind_GetCFA(context);
	frame->rbp = (uintptr_t)_Unwind_GetGR(context, 6); /* DWARF register 6: rbp */
	return _URC_NO_REASON;
}

/* Does frame j's CFA hang on its rbp (CFA = rbp + 16)? Its CFA is the stack
 * pointer of the frame above it. */
static inline bool hangs_on_rbp(const struct table_trace *trace, unsigned j)
{
	return j + 1 < trace->count
		&& trace->frames[j].rbp + 2 * sizeof(uintptr_t) == trace->frames[j + 1].sp;
}

/* Where the frames from trace->frames[start] on lie (see unwind_slots),
 * relative to cfa, the CFA of the module's frame below them. */
static void place_frames(const struct table_trace *trace, unsigned start, unsigned count,
	uintptr_t cfa, struct unwind_slots *slots)
{
	slots->usable = false;
	slots->count = count;
	slots->cfa = cfa;
	slots->pins = 0;
	/* the frame below the caller's is the module's own, at the walk's CFA */
	if (cfa == 0 || start == 0 || trace->frames[start].sp != cfa)
		return;
	for (unsigned k = 0; k < count; k++) {
		unsigned j = start + k;
		if (!slot_offset(trace->frames[j].sp - sizeof(uintptr_t), cfa, &slots->slot[k]))
			return;
		/* the last frame's own size places nothing that is checked */
		if (k + 1 == count || !hangs_on_rbp(trace, j))
			continue;
		/* a frame that may change size: pinned by the frame pointer its
		 * callee saved (16 bytes below the callee's CFA, its stack pointer
		 * here), which only a callee with a frame pointer does */
		if (!hangs_on_rbp(trace, j - 1)
			|| !add_pin(slots, trace->frames[j].sp - 2 * sizeof(uintptr_t),
				trace->frames[j + 1].sp - 2 * sizeof(uintptr_t)))
			return;
	}
	slots->usable = true;
}

/* The unwind tables' frames from the caller's on (just the caller when it
 * is not among them), and where they lie. */
__attribute__((noinline)) static unsigned table_frames(uintptr_t caller, uintptr_t *frames,
	unsigned max, uintptr_t cfa, struct unwind_slots *slots, bool *found)
{
	struct table_trace trace = { .max = max + TABLE_EXTRA_FRAMES };
	unsigned start = 0, count = 0;

	_Unwind_Backtrace(trace_frame, &trace);
	while (start < trace.count && trace.frames[start].ip != caller)
		start++;
	*found = start < trace.count;
	slots->usable = false;
	if (!*found) {
		frames[0] = caller;
		return 1;
	}
	for (unsigned i = start; i < trace.count && count < max; i++)
		frames[count++] = trace.frames[i].ip;
	place_frames(&trace, start, count, cfa, slots);
	return count;
}

__attribute__((no_sanitize("address", "thread"))) bool
unwind_slots_match(const struct unwind_slots *slots, const uintptr_t *frames, uintptr_t cfa)
{
	uintptr_t low, high;

	if (!slots->usable || slots->cfa != cfa || cfa == 0 || !thread_stack(&low, &high)
		|| cfa < low || cfa >= high)
		return false;
	/* the entry frame's return address, where a guessed cfa puts it */
	if (((const uintptr_t *)cfa)[-1] != frames[0])
		return false;
	/* every slot lies in our entry frame or above it, below the stack's top */
	for (uint32_t k = 1; k < slots->count; k++) {
		uintptr_t at = cfa + (uintptr_t)(intptr_t)slots->slot[k];
		if (at > high - sizeof(uintptr_t) || *(const uintptr_t *)at != frames[k])
			return false;
	}
	for (uint32_t p = 0; p < slots->pins; p++) {
		uintptr_t at = cfa + (uintptr_t)(intptr_t)slots->pin[p].at;
		if (at > high - sizeof(uintptr_t) || *(const uintptr_t *)at != slots->pin[p].value)
			return false;
	}
	return true;
}

/* What a walk and the unwind tables (both from the caller) teach. */
static void learn(const uintptr_t *walked, unsigned walked_count, const struct unwind_walk *walk,
	const uintptr_t *tables, unsigned table_count)
{
	unsigned same = 0;

	while (same < walked_count && same < table_count && walked[same] == tables[same])
		same++;
	if (same == 0)
		return;
	for (unsigned i = 0; i + 1 < same; i++)
		add_verdict(walked[i], VERDICT_GOOD);
	if (same < walked_count && same < table_count) {
		/* the step past walked[same - 1] went wrong */
		add_verdict(walked[same - 1], VERDICT_BAD);
		return;
	}
	if (same == walked_count && walk->ended) {
		/* the chain ended in start code (libc's: __libc_start_call_main,
		 * start_thread), below which the unwind tables see start code
		 * only: where the stack ends. A chain that ends anywhere else
		 * (in main, say, whose rbp is not a frame pointer) is never
		 * taken: what lies below it depends on the call. */
		bool start_only = start_code(walked[same - 1]);
		for (unsigned i = same; i < table_count && start_only; i++)
			start_only = start_code(tables[i]);
		if (start_only)
			add_verdict(walked[same - 1], VERDICT_END);
	}
}

unsigned unwind_resolve(uintptr_t caller, uintptr_t *frames, unsigned count, unsigned max,
	const struct unwind_walk *walk, bool *walked, struct unwind_slots *slots)
{
	uintptr_t tables[AREA_MALLOC_MAX_FRAMES];
	unsigned table_count;
	bool found;

	slots->usable = false;
	if (walk_verified(frames, count, walk)) {
		*walked = true;
		*slots = walk->slots;
		return count;
	}
	table_count =
		table_frames(caller, tables, max, walk->usable ? walk->cfa : 0, slots, &found);
	if (found && walk->usable) {
		learn(frames, count, walk, tables, table_count);
		if (walk_verified(frames, count, walk)) {
			*walked = true;
			*slots = walk->slots;
			return count;
		}
	}
	*walked = false;
	memcpy(frames, tables, table_count * sizeof(*tables));
	return table_count;
}
