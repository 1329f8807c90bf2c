# tests/bench: the performance benchmark of issue 5 (docs/PERFORMANCE.md).
# Not part of make check: `make bench` builds everything and runs it, which
# prints Markdown tables (about two and a half minutes on two cores). bench_asan is the
# same program built with -fsanitize=address, for the "glibc under ASan"
# column; bench starts it as a child. Both are built by `make` (so they
# keep compiling) but only run by `make bench`.
#
# BENCH_FLAGS passes options, e.g. make bench BENCH_FLAGS='--rounds 3
# --workloads churn,latency --columns release,debug,glibc'
# (tests/bench/bench --help lists them).
#
# `make bench-real` runs the real-workload suite of issue 18 (bench --suite
# real: the patterns of bench-malloc-simple and -thread, Larson,
# xmalloc-test, cfrac and malloc-large, each in one pool) on release, debug,
# glibc, jemalloc, mimalloc and glibc+asan: five to seven minutes on two cores.
# BENCH_FLAGS='--scale 0.01 --rounds 1' makes it a smoke run of seconds;
# test_bench_real (make check) runs it so at the smallest scale.

BENCH_SOURCES = tests/bench/bench.h tests/bench/bench_main.c tests/bench/bench_util.c \
	tests/bench/bench_allocators.c tests/bench/bench_workloads.c \
	tests/bench/bench_latency.c tests/bench/bench_pools.c \
	tests/bench/bench_parent.h tests/bench/bench_results.c tests/bench/bench_real.c \
	tests/bench/bench_workloads.h tests/bench/bench_real_workloads.c \
	tests/bench/bench_scan.c

# -no-install: the programs run as built (bench finds bench_asan beside
# itself through /proc/self/exe).
# The workloads call the modules as a driver does: bench is built with
# frame pointers, bench_nofp (the "debug nofp" column) without, as Debian
# builds drivers at -O2 (issue 14: the debug module walks frame pointers,
# or falls back on the unwind tables).
noinst_PROGRAMS += tests/bench/bench tests/bench/bench_nofp
tests_bench_bench_SOURCES = $(BENCH_SOURCES)
tests_bench_bench_CFLAGS = $(AM_CFLAGS) -fno-omit-frame-pointer
tests_bench_bench_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_bench_bench_LDADD = libarea_malloc.la -lm
tests_bench_bench_nofp_SOURCES = $(BENCH_SOURCES)
tests_bench_bench_nofp_CFLAGS = $(AM_CFLAGS) -fomit-frame-pointer
tests_bench_bench_nofp_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_bench_bench_nofp_LDADD = libarea_malloc.la -lm

# A ThreadSanitizer build cannot add AddressSanitizer to a program.
if !ENABLE_TSAN
noinst_PROGRAMS += tests/bench/bench_asan
endif
tests_bench_bench_asan_SOURCES = $(BENCH_SOURCES)
tests_bench_bench_asan_CFLAGS = $(AM_CFLAGS) -fsanitize=address -fno-omit-frame-pointer
tests_bench_bench_asan_LDFLAGS = $(AM_LDFLAGS) -fsanitize=address -no-install
tests_bench_bench_asan_LDADD = libarea_malloc.la -lm

# test_bench_real: the smoke test of the real-workload suite (make check):
# bench --suite real at its smallest scale, every workload on every column
# available here, the report well formed; no time asserted (~10 s).
check_PROGRAMS += tests/bench/test_bench_real
TESTS += tests/bench/test_bench_real
tests_bench_test_bench_real_SOURCES = tests/bench/test_bench_real.c
tests_bench_test_bench_real_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_bench_test_bench_real_LDADD = $(CHECK_TEST_LIBS)

# churn_check: the independent churn check (shares no code with bench).
noinst_PROGRAMS += tests/bench/churn_check
tests_bench_churn_check_SOURCES = tests/bench/churn_check.c
tests_bench_churn_check_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_bench_churn_check_LDADD = libarea_malloc.la -lm

EXTRA_DIST += docs/PERFORMANCE.md

# The modules are staged by `all`; the benchmark loads them from there.
bench: all
	tests/bench/bench$(EXEEXT) --builddir '$(abs_builddir)' \
		--asan-binary tests/bench/bench_asan$(EXEEXT) \
		--nofp-binary tests/bench/bench_nofp$(EXEEXT) $(BENCH_FLAGS)

bench-real: all
	tests/bench/bench$(EXEEXT) --suite real --builddir '$(abs_builddir)' \
		--asan-binary tests/bench/bench_asan$(EXEEXT) $(BENCH_FLAGS)

bench-churn: all
	KERNEL_MODULE_PATH='$(abs_builddir)/modules/release' tests/bench/churn_check$(EXEEXT)
	KERNEL_MODULE_PATH='$(abs_builddir)/modules/debug' tests/bench/churn_check$(EXEEXT)

.PHONY: bench bench-real bench-churn
