# tests/faults: fault injection. test_faults makes the system refuse what the
# module asks of it (mmap, mlock, the node directory and its tmpfs, file
# size, module init) and makes allocations fail at every point of a realloc
# (pool exhaustion, the debug build's fail_nth), and checks that each
# failure is a clean NULL or Haiku error that leaks nothing and leaves every
# pool valid. mmap and munmap are interposed by the test program itself
# (exported, so that libarea_malloc and the module images bind to them).
# It reuses tests/module's staged test modules and their log library.

check_PROGRAMS += tests/faults/test_faults
TESTS += tests/faults/test_faults
tests_faults_test_faults_SOURCES = tests/faults/test_faults.c
tests_faults_test_faults_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_faults_test_faults_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--export-dynamic-symbol=mmap -Wl,--export-dynamic-symbol=mmap64 \
	-Wl,--export-dynamic-symbol=munmap
tests_faults_test_faults_LDADD = tests/module/libmodule_log.la libarea_malloc.la \
	$(CHECK_TEST_LIBS)
EXTRA_tests_faults_test_faults_DEPENDENCIES = $(module_test_dirs)/staged.stamp
