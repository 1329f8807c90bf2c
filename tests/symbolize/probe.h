/*
 * probe.h - call sites whose return address and line the symbolizer tests know.
 *
 * Role
 *   PROBE_SITE(site) makes a real call on the line where it is written and
 *   stores that call's return address and that line in *site: symbolizing the
 *   return address must give back the calling function and exactly that line.
 *   Shared by the test, its C and C++ libraries and the non-PIE victim.
 *
 * Invariants
 *   probe_return_address() is noipa: never inlined, cloned or analysed away,
 *   so the call exists at every optimisation level. The store after the call
 *   keeps it from being a tail call, so the return address is in the caller.
 *
 * Locking: none (each site belongs to its caller).
 */
#ifndef SYMBOLIZE_TEST_PROBE_H
#define SYMBOLIZE_TEST_PROBE_H

#include <stdint.h>

struct probe_site {
	uintptr_t return_address;
	int line;
};

__attribute__((noipa, unused)) static uintptr_t probe_return_address(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

#define PROBE_SITE(site) ((site)->return_address = probe_return_address(), (site)->line = __LINE__)

#endif /* SYMBOLIZE_TEST_PROBE_H */
