# tests/leak_scan: the reachability scan (issue 16): the engine's
# classification over fabricated memory (src/format/leak_scan_engine.c,
# compiled in), and the debug module's exit-time verdicts on a driver's
# blocks held in every way a driver holds them, or lost (test_leak_scan,
# a driver that reaches the staged debug module through get_module). -g:
# the leaked-pool suppression names the pool's creating function.
check_PROGRAMS += tests/leak_scan/test_leak_scan
TESTS += tests/leak_scan/test_leak_scan
tests_leak_scan_test_leak_scan_SOURCES = tests/leak_scan/test_leak_scan.c \
	tests/leak_scan/register_hold.h \
	src/format/leak_scan_engine.c src/format/leak_scan_engine.h
tests_leak_scan_test_leak_scan_CFLAGS = $(CHECK_TEST_CFLAGS) -g
tests_leak_scan_test_leak_scan_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS) $(PTHREAD_FLAGS)
