/*
 * area_internal.h - what the kernel-API layer's area registry (area.c) tells
 * the rest of the project beyond Haiku's public area calls.
 *
 * Not installed: drivers only see OS.h. The debug build and the tests use it
 * to tell whether a locked area really is locked, or whether create_area()
 * fell back to "populated but unlocked" because Linux refused mlock().
 *
 * Locking: every function takes the registry lock itself; callers hold none.
 */
#ifndef AREA_MALLOC_KERNEL_AREA_INTERNAL_H
#define AREA_MALLOC_KERNEL_AREA_INTERNAL_H

#include <stdbool.h>

#include <OS.h>

/*
 * Sets *_locked to whether the area's pages are locked in memory (mlock, or
 * mlock2(MLOCK_ONFAULT) for B_LAZY_LOCK). False for B_NO_LOCK areas and for
 * locked areas whose mlock() was refused. Returns B_OK, or B_BAD_VALUE for an
 * unknown area or a NULL _locked.
 */
status_t area_malloc_area_pages_locked(area_id area, bool *_locked);

#endif /* AREA_MALLOC_KERNEL_AREA_INTERNAL_H */
