# tests/symbolize: the caller symbolizer (src/format/symbolize.c over libdwfl),
# compiled straight into the test. The test is linked without -rdynamic: its
# static functions are in .symtab only. It dlopen()s two check-only libraries
# from this folder's .libs (a C one and a C++ one, with -g) and runs
# symbolize_victim, a non-PIE program that records its images and exits, to
# symbolize its addresses post mortem.

# -O0 unless the user's CFLAGS (which come later) say otherwise: the tests
# hold at -O2 too, since every probed function is noipa.
SYMBOLIZE_TEST_DEBUG_CFLAGS = -g -O0
SYMBOLIZE_TEST_LIBRARY_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere

check_PROGRAMS += tests/symbolize/test_symbolize
TESTS += tests/symbolize/test_symbolize
tests_symbolize_test_symbolize_SOURCES = tests/symbolize/test_symbolize.c tests/symbolize/probe.h \
	src/format/symbolize.c src/format/symbolize.h src/format/safe_file.c src/format/safe_file.h
tests_symbolize_test_symbolize_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS) $(SYMBOLIZE_TEST_DEBUG_CFLAGS)
tests_symbolize_test_symbolize_LDADD = $(DW_LIBS) $(CHECK_TEST_LIBS) -ldl

# test_frame_cfi steps by the unwind tables (src/format/frame_cfi.c) over a
# stack laid out by hand, through functions written in assembly whose .cfi
# rules are exact.
check_PROGRAMS += tests/symbolize/test_frame_cfi
TESTS += tests/symbolize/test_frame_cfi
tests_symbolize_test_frame_cfi_SOURCES = tests/symbolize/test_frame_cfi.c \
	src/format/frame_cfi.c src/format/frame_cfi.h \
	src/format/symbolize.c src/format/symbolize.h src/format/safe_file.c src/format/safe_file.h
tests_symbolize_test_frame_cfi_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS)
tests_symbolize_test_frame_cfi_LDADD = $(DW_LIBS) $(CHECK_TEST_LIBS) -ldl

check_PROGRAMS += tests/symbolize/symbolize_victim
tests_symbolize_symbolize_victim_SOURCES = tests/symbolize/victim.c tests/symbolize/probe.h \
	src/format/symbolize.c src/format/symbolize.h src/format/safe_file.c src/format/safe_file.h
tests_symbolize_symbolize_victim_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS) $(SYMBOLIZE_TEST_DEBUG_CFLAGS) -fno-pie
tests_symbolize_symbolize_victim_LDFLAGS = $(AM_LDFLAGS) -Wc,-no-pie
tests_symbolize_symbolize_victim_LDADD = $(DW_LIBS) -ldl

check_LTLIBRARIES += tests/symbolize/symbolize_plugin.la tests/symbolize/symbolize_ring.la
tests_symbolize_symbolize_plugin_la_SOURCES = tests/symbolize/plugin.c tests/symbolize/probe.h
tests_symbolize_symbolize_plugin_la_CFLAGS = $(AM_CFLAGS) $(SYMBOLIZE_TEST_DEBUG_CFLAGS)
tests_symbolize_symbolize_plugin_la_LDFLAGS = $(SYMBOLIZE_TEST_LIBRARY_LDFLAGS)

tests_symbolize_symbolize_ring_la_SOURCES = tests/symbolize/ring.cpp tests/symbolize/probe.h
tests_symbolize_symbolize_ring_la_CXXFLAGS = $(WARN_CFLAGS) $(SANITIZER_CFLAGS) $(PTHREAD_FLAGS) \
	$(SYMBOLIZE_TEST_DEBUG_CFLAGS)
tests_symbolize_symbolize_ring_la_LDFLAGS = $(SYMBOLIZE_TEST_LIBRARY_LDFLAGS)
