# tests/guard: guard pages. test_guard_fault checks the fault handler of the
# kernel-API layer (src/kernel/guard_fault.c): faults in registered ranges
# reach their owner with the exact address, access and stack, and every
# other fault reaches the handler installed before (driver, SIG_IGN,
# SIG_DFL, AddressSanitizer's). Frame pointers and no sibling calls: the
# test asserts the frame above each faulting access, which must keep its
# frame up to the access.

check_PROGRAMS += tests/guard/test_guard_fault
TESTS += tests/guard/test_guard_fault
tests_guard_test_guard_fault_SOURCES = tests/guard/test_guard_fault.c
tests_guard_test_guard_fault_CFLAGS = $(CHECK_TEST_CFLAGS) -fno-omit-frame-pointer \
	-fno-optimize-sibling-calls
tests_guard_test_guard_fault_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)

# test_guarded_blocks checks the debug module's guarded blocks
# (src/debug/guarded.c) end to end: faults at the access, reported with the
# access's frames (the accessing functions keep their frames, as above).
check_PROGRAMS += tests/guard/test_guarded_blocks
TESTS += tests/guard/test_guarded_blocks
tests_guard_test_guarded_blocks_SOURCES = tests/guard/test_guarded_blocks.c
tests_guard_test_guarded_blocks_CFLAGS = $(CHECK_TEST_CFLAGS) -g -O0 -fno-omit-frame-pointer \
	-fno-optimize-sibling-calls
tests_guard_test_guarded_blocks_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
# it reads its pools' guarded blocks with pooldump
EXTRA_tests_guard_test_guarded_blocks_DEPENDENCIES = tools/pooldump/pooldump$(EXEEXT)

# test_guard_defaults checks guard pages under the debug build's default
# options (one allocation in 5000 guarded): the rate, locked pools, the
# guard region's tmpfs use, the pool's peak.
check_PROGRAMS += tests/guard/test_guard_defaults
TESTS += tests/guard/test_guard_defaults
tests_guard_test_guard_defaults_SOURCES = tests/guard/test_guard_defaults.c
tests_guard_test_guard_defaults_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_guard_test_guard_defaults_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)

# test_guard_stacks checks the stack of a guard fault inside functions
# without a frame pointer (glibc's memcpy, memset; a driver built at -O2):
# every one of the driver's functions is found, by the unwind tables over
# the stack the fault handler copied. The test's own functions keep their
# frames.
check_PROGRAMS += tests/guard/test_guard_stacks
TESTS += tests/guard/test_guard_stacks
tests_guard_test_guard_stacks_SOURCES = tests/guard/test_guard_stacks.c
tests_guard_test_guard_stacks_CFLAGS = $(CHECK_TEST_CFLAGS) -fno-omit-frame-pointer \
	-fno-optimize-sibling-calls
tests_guard_test_guard_stacks_LDADD = libframelessdriver.la libarea_malloc.la $(CHECK_TEST_LIBS)
# the driver test_guard_stacks overflows from: built as Debian builds
# drivers, without frame pointers
check_LTLIBRARIES += libframelessdriver.la
libframelessdriver_la_SOURCES = tests/guard/frameless_driver.c tests/guard/frameless_driver.h
libframelessdriver_la_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/tests -g -O2 -fomit-frame-pointer \
	-fno-optimize-sibling-calls
