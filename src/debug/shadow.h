/*
 * shadow.h - telling AddressSanitizer, LeakSanitizer and Valgrind memcheck
 * which bytes of a pool the driver may touch.
 *
 * The same debug module binary serves drivers built with or without
 * -fsanitize=address: the ASan runtime is found at load time through weak
 * references to its interface, Valgrind through its client requests (no-ops
 * on the real CPU). With either tool, headers, canaries and quarantined
 * blocks are hidden, and the bytes handed to the driver exposed, so a bad
 * access in the driver is caught at the faulting instruction. Free space is
 * hidden too when ASan is active and this module itself is not built with
 * ASan (its heap code then writes free memory without being checked).
 *
 * Laziness: only memory that blocks have used is ever hidden, so an 8 GiB
 * lazy pool costs shadow memory only for what the driver touched.
 *
 * The module must expose a range before it reads or writes it itself (its
 * own memset/memcmp go through ASan's interceptors) and hide it again after.
 *
 * Locking: none; callers hold the pool lock of the memory they change.
 */
#ifndef AREA_MALLOC_DEBUG_SHADOW_H
#define AREA_MALLOC_DEBUG_SHADOW_H

#include <stdbool.h>
#include <stddef.h>

/* Detects the tools; call at B_MODULE_INIT. */
void shadow_init(void);

/* True when some tool tracks accessibility (the open/close calls matter). */
extern bool shadow_active;

bool shadow_hides_free_space(void);

void shadow_hide(const void *address, size_t length);
void shadow_expose(const void *address, size_t length);

/* Copies length bytes at address into out without changing what the tools
 * think of them: for a look at memory whose state the caller does not know
 * (a neighbour's header may be hidden or opened by the caller already). */
void shadow_peek(const void *address, void *out, size_t length);

/* A block handed to the driver / taken back (Valgrind's heap-block view). */
void shadow_block_allocated(const void *user, size_t size);
void shadow_block_resized(const void *user, size_t old_size, size_t new_size);
void shadow_block_freed(const void *user);

/*
 * LeakSanitizer root regions: the part of a pool that may hold pointers,
 * [base, base + used), registered as the pool's heap reaches further
 * (never the untouched rest: scanning it would commit a lazy pool, and on a
 * full tmpfs fault). shadow_pool_reach() returns the new registered length.
 */
size_t shadow_pool_reach(const void *base, size_t registered, size_t used, size_t limit);
/* The pool's area is about to go: its root region unregistered, and the
 * shadow of [base, base + touched) (all the module ever poisoned: the heap
 * never goes past its touched mark) made clean for a new mapping there.
 * Not the whole area: an 8 GiB lazy pool's shadow is 1 GiB, which ASan
 * would write (and commit) byte by byte. */
void shadow_pool_destroyed(const void *base, size_t registered, size_t touched);

#endif /* AREA_MALLOC_DEBUG_SHADOW_H */
