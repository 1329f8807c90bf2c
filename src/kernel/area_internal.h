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

/*
 * As create_area(), but the area maps the file fd (from offset 0, shared):
 * the debug build's pools live in files of their process's node, so that
 * pooldump can read the very same pages. The file must be at least size
 * bytes long. Returns the area id or a Haiku error.
 */
area_id area_malloc_create_file_area(const char *name, void **startAddress, uint32 addressSpec,
	size_t size, uint32 lock, uint32 protection, int fd);

/* The Haiku status for a failed mmap()'s errno (area.c). */
status_t area_malloc_status_from_errno(int error);

/* Where an area lies and whether its pages are locked (area.c); false when
 * there is no such area. */
bool area_malloc_area_geometry(area_id area, addr_t *base, size_t *size, bool *relock);

/*
 * Replaces a file-backed area's mapping by a private anonymous copy of the
 * file's contents at the same address (after fork(): parent and child must
 * never share pool pages). Protections of sub-ranges are reset to
 * read-write; the caller restores its guard pages. Returns B_OK or an error.
 */
status_t area_malloc_area_make_private(area_id area, int fd);

/*
 * The same without the file (a forked child that could not open it): the
 * copy is made from the shared mapping itself, of the byte ranges given
 * ([i][0], [i][1]) only, so that an inaccessible guard page or a lazy
 * area's untouched rest is neither read nor committed; the rest of the copy
 * reads as zeros. B_NO_MEMORY (nothing changed) when no second mapping can
 * be made.
 */
status_t area_malloc_area_make_private_from_mapping(area_id area, const size_t (*ranges)[2],
	size_t count);

#endif /* AREA_MALLOC_KERNEL_AREA_INTERNAL_H */
