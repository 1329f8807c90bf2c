# tests/heap: the allocator core (src/core/heap*.c) on its own, linked straight
# against the unit so it does not depend on the rest of libamcore.
check_PROGRAMS += tests/heap/test_heap
TESTS += tests/heap/test_heap
tests_heap_test_heap_SOURCES = tests/heap/test_heap.c $(core_heap_sources)
tests_heap_test_heap_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_heap_test_heap_LDADD = $(CHECK_TEST_LIBS)

# The same suite on the debug build's checked heap (HEAP_CHECKED=1), and the
# checked heap's own guarantee: damaged tags and links make operations fail,
# never loop, fault or write elsewhere (sweeps over offsets and patterns).
check_PROGRAMS += tests/heap/test_heap_checked tests/heap/test_heap_damage
TESTS += tests/heap/test_heap_checked tests/heap/test_heap_damage
tests_heap_test_heap_checked_SOURCES = tests/heap/test_heap.c $(core_heap_sources)
tests_heap_test_heap_checked_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_heap_test_heap_checked_CPPFLAGS = $(AM_CPPFLAGS) -DHEAP_CHECKED=1
tests_heap_test_heap_checked_LDADD = $(CHECK_TEST_LIBS)
tests_heap_test_heap_damage_SOURCES = tests/heap/test_heap_damage.c $(core_heap_sources)
tests_heap_test_heap_damage_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_heap_test_heap_damage_CPPFLAGS = $(AM_CPPFLAGS) -DHEAP_CHECKED=1
tests_heap_test_heap_damage_LDADD = $(CHECK_TEST_LIBS)

# A churn micro-benchmark, heap against the C library's malloc; not run by
# make check. Run: tests/heap/bench_heap [steps]
noinst_PROGRAMS += tests/heap/bench_heap
tests_heap_bench_heap_SOURCES = tests/heap/bench_heap.c $(core_heap_sources)
# per-target flags give heap.c its own object, apart from libamcore's
tests_heap_bench_heap_CFLAGS = $(AM_CFLAGS)
