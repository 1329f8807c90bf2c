/*
 * unwind.h - the stack of a call into the module (unwind.c): a walk of the
 * frame-pointer chain, validated step by step, and the unwind tables
 * (backtrace(3)) where the walk cannot be trusted.
 *
 * Use: unwind_walk() first (cheap, never faults); when its frames are not a
 * stack already known to be right (the depot's WALKED records, the
 * thread's memo), unwind_resolve() checks them and falls back.
 *
 * Locking: none to hold; unwind_resolve may take the unwinder's image lock
 * (a leaf above the loader's locks) and the loader's locks (backtrace,
 * dl_iterate_phdr): call it with no lock of the module held.
 */
#ifndef AREA_MALLOC_DEBUG_UNWIND_H
#define AREA_MALLOC_DEBUG_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#include <drivers/area_malloc_debug.h>

/*
 * Where a stack lies on the thread's stack, relative to the CFA of the
 * module's entry frame (the frame whose return address is the caller's):
 * the word holding each return address, and words that pin the frames'
 * places. A later call whose entry frame has the same CFA and whose stack
 * holds the same words there has the same stack, found without walking or
 * unwinding:
 *   - a stack walked by frame pointers: the pins are the saved frame
 *     pointers the walk followed (the last one too, which ended it), so
 *     the same words make the same walk;
 *   - a stack from the unwind tables: the pins are the saved frame
 *     pointers of the frames whose CFA hangs on their frame pointer (a
 *     frame that may change size: alloca, realignment); every other
 *     frame's size is fixed by its return address.
 * So a driver pays for a walk, or for the unwind tables, once per call
 * site and depth, not once per call.
 */
struct unwind_slots {
	bool usable;
	uint32_t count;
	uintptr_t cfa;
	int32_t slot[AREA_MALLOC_MAX_FRAMES]; /* frames[k] at cfa + slot[k], k >= 1 */
	uint32_t pins;
	struct {
		int32_t at;
		uintptr_t value;
	} pin[AREA_MALLOC_MAX_FRAMES + 1]; /* at cfa + at */
};

struct unwind_walk {
	bool usable;               /* the walk started from the caller's frame */
	bool ended;                /* the chain ended before max frames */
	uintptr_t cfa;             /* the module's entry frame's CFA (usable only) */
	struct unwind_slots slots; /* where the walked frames lie */
};

/*
 * Walks the frame-pointer chain from the module's frame whose return
 * address is caller: frames[0] = caller, then up to max - 1 return
 * addresses. Only bounds are checked: the frames are a guess until
 * unwind_resolve (or a stack known to have been walked right) confirms
 * them. Every function between the module's entry point and this one must
 * keep a frame pointer (src/debug is built with -fno-omit-frame-pointer).
 */
unsigned unwind_walk(uintptr_t caller, uintptr_t *frames, unsigned max, struct unwind_walk *walk)
	__attribute__((visibility("hidden")));

/*
 * Makes the count frames of unwind_walk right: keeps them when every step
 * is known good (*walked true: the same frames from a later walk are right
 * too), else takes the unwind tables' (learning from the difference) and
 * returns their count; *slots then says where they lie, when a later call
 * may be recognised by them (slots->usable).
 */
unsigned unwind_resolve(uintptr_t caller, uintptr_t *frames, unsigned count, unsigned max,
	const struct unwind_walk *walk, bool *walked, struct unwind_slots *slots)
	__attribute__((visibility("hidden")));

/* Does the thread's stack, from an entry frame at cfa, hold the stack the
 * slots describe (frames: its frames; frames[0] the entry frame's return
 * address)? cfa may be a guess: it is checked too. */
bool unwind_slots_match(const struct unwind_slots *slots, const uintptr_t *frames, uintptr_t cfa)
	__attribute__((visibility("hidden")));

#endif /* AREA_MALLOC_DEBUG_UNWIND_H */
