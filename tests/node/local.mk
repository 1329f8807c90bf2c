# tests/node: the debug node reader and the pool commands (src/node) and the
# pooldump tool. test_node fabricates nodes (node_fixture.c builds pool files
# exactly as node_format.h lays them out) to test every command, filter and
# exit status, damaged and hostile nodes, permissions and --clean; its
# end-to-end cases run node_driver, an ordinary driver, under the debug
# module with a private node_dir, and query it live and after kill -9.
#
# -g so callers are named with file:line; -no-install: the programs run as
# built, so images are named "test_node" and "node_driver".
NODE_TEST_CFLAGS = -g -O0

check_PROGRAMS += tests/node/test_node
TESTS += tests/node/test_node
tests_node_test_node_SOURCES = tests/node/test_node.c \
	tests/node/node_fixture.c tests/node/node_fixture.h \
	tests/node/json_check.c tests/node/json_check.h tests/node/json_assert.h
tests_node_test_node_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS) $(NODE_TEST_CFLAGS) \
	-DPOOLDUMP_COMPLETION='"$(abs_top_srcdir)/tools/pooldump/completion/pooldump"'
tests_node_test_node_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_node_test_node_LDADD = libamnodereader.la libamformat.la libamcore.la libamheap.la $(DW_LIBS) \
	$(CHECK_TEST_LIBS)
EXTRA_tests_node_test_node_DEPENDENCIES = tests/node/node_driver$(EXEEXT) \
	tools/pooldump/pooldump$(EXEEXT)

check_PROGRAMS += tests/node/node_driver
tests_node_node_driver_SOURCES = tests/node/node_driver.c
tests_node_node_driver_CFLAGS = $(AM_CFLAGS) $(NODE_TEST_CFLAGS) -I$(top_srcdir)/tests
tests_node_node_driver_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_node_node_driver_LDADD = libarea_malloc.la

# allocations_per_caller over a million blocks; not run by make check.
# Run: tests/node/bench_node [blocks]
noinst_PROGRAMS += tests/node/bench_node
tests_node_bench_node_SOURCES = tests/node/bench_node.c \
	tests/node/node_fixture.c tests/node/node_fixture.h
tests_node_bench_node_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS) -I$(top_srcdir)/tests
tests_node_bench_node_LDADD = libamnodereader.la libamformat.la libamcore.la libamheap.la $(DW_LIBS)

# pooldump scan (issue 16): test_scan runs scan_driver under the debug
# module and scans it from outside; exact counts of what it holds and loses.
check_PROGRAMS += tests/node/test_scan
TESTS += tests/node/test_scan
tests_node_test_scan_SOURCES = tests/node/test_scan.c \
	tests/node/node_fixture.c tests/node/node_fixture.h \
	tests/node/json_check.c tests/node/json_check.h tests/node/json_assert.h
tests_node_test_scan_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS) $(NODE_TEST_CFLAGS)
tests_node_test_scan_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_node_test_scan_LDADD = libamnodereader.la libamformat.la libamcore.la libamheap.la $(DW_LIBS) \
	$(CHECK_TEST_LIBS)
EXTRA_tests_node_test_scan_DEPENDENCIES = tests/node/scan_driver$(EXEEXT) \
	tools/pooldump/pooldump$(EXEEXT)

check_PROGRAMS += tests/node/scan_driver
tests_node_scan_driver_SOURCES = tests/node/scan_driver.c
tests_node_scan_driver_CFLAGS = $(AM_CFLAGS) $(NODE_TEST_CFLAGS) -I$(top_srcdir)/tests
tests_node_scan_driver_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_node_scan_driver_LDADD = libarea_malloc.la $(PTHREAD_FLAGS)
