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

struct unwind_walk {
	bool usable;	/* the walk started from the caller's frame */
	bool ended;	/* the chain ended before max frames */
};

/*
 * Walks the frame-pointer chain from the module's frame whose return
 * address is caller: frames[0] = caller, then up to max - 1 return
 * addresses. Only bounds are checked: the frames are a guess until
 * unwind_resolve (or a stack known to have been walked right) confirms
 * them. Every function between the module's entry point and this one must
 * keep a frame pointer (src/debug is built with -fno-omit-frame-pointer).
 */
unsigned unwind_walk(uintptr_t caller, uintptr_t *frames, unsigned max,
	struct unwind_walk *walk) __attribute__((visibility("hidden")));

/*
 * Makes the count frames of unwind_walk right: keeps them when every step
 * is known good (*walked true: the same frames from a later walk are right
 * too), else takes the unwind tables' (learning from the difference) and
 * returns their count.
 */
unsigned unwind_resolve(uintptr_t caller, uintptr_t *frames, unsigned count, unsigned max,
	const struct unwind_walk *walk, bool *walked) __attribute__((visibility("hidden")));

#endif /* AREA_MALLOC_DEBUG_UNWIND_H */
