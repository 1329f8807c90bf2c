# tests/stress: the module under threads, release and debug builds: 2 to 8
# threads churning shared and private pools with every byte checked,
# create_pool/delete_pool races, get_module/put_module races, and (debug)
# pooldump and the node reader reading the process's node all along; then
# exact validation of every pool. AREA_MALLOC_TEST_SCALE scales it (support/
# scale.h); scripts/check-tsan, scripts/check-valgrind and scripts/soak run
# it at other scales. It links the node reader to run pooldump's commands in
# process too.

check_PROGRAMS += tests/stress/test_stress
TESTS += tests/stress/test_stress
tests_stress_test_stress_SOURCES = tests/stress/test_stress.c tests/stress/stress.h \
	tests/stress/stress_support.c tests/stress/stress_reader.c
tests_stress_test_stress_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS)
tests_stress_test_stress_LDADD = libamnodereader.la libamformat.la libamcore.la libamheap.la \
	libarea_malloc.la $(DW_LIBS) $(CHECK_TEST_LIBS)
# pooldump runs as a child of the test
EXTRA_tests_stress_test_stress_DEPENDENCIES = tools/pooldump/pooldump$(EXEEXT)

EXTRA_DIST += tests/support/scale.h scripts/check-tsan scripts/check-valgrind scripts/soak

# test_concurrent_misuse: threads racing misuse on one pool of the debug
# module (a double free of one block by two threads at once, a free racing
# a realloc of the block, stale frees racing the block's reallocation): the
# exact reports, the pool's counters and a clean check after each race
# (the free that checks its block before the pool's lock, debug_alloc.c).
check_PROGRAMS += tests/stress/test_concurrent_misuse
TESTS += tests/stress/test_concurrent_misuse
tests_stress_test_concurrent_misuse_SOURCES = tests/stress/test_concurrent_misuse.c
tests_stress_test_concurrent_misuse_CFLAGS = $(CHECK_TEST_CFLAGS) -g
tests_stress_test_concurrent_misuse_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
