# tests/heap: the allocator core (src/core/heap*.c) on its own, linked straight
# against the unit so it does not depend on the rest of libamcore.
heap_sources = src/core/heap.c src/core/heap_check.c src/core/heap.h src/core/heap_layout.h
check_PROGRAMS += tests/heap/test_heap
TESTS += tests/heap/test_heap
tests_heap_test_heap_SOURCES = tests/heap/test_heap.c $(heap_sources)
tests_heap_test_heap_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_heap_test_heap_LDADD = $(CHECK_TEST_LIBS)

# A churn micro-benchmark, heap against the C library's malloc; not run by
# make check. Run: tests/heap/bench_heap [steps]
noinst_PROGRAMS += tests/heap/bench_heap
tests_heap_bench_heap_SOURCES = tests/heap/bench_heap.c $(heap_sources)
# per-target flags give heap.c its own object, apart from libamcore's
tests_heap_bench_heap_CFLAGS = $(AM_CFLAGS)
