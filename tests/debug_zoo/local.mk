# tests/debug_zoo: the debug module's bug zoo. test_bug_zoo commits every
# kind of misuse at every detection point in process (through the companion
# module's report hook) and runs zoo_driver, an ordinary driver that commits
# one bug per run, end to end against the debug and the release module.
#
# -g so reports name functions and lines; -O0 unless the user's CFLAGS (which
# come later) say otherwise: the tests hold at -O2 too. -no-install: the
# programs are run as they are built (no libtool wrapper, no relinking), so
# reports name the image "zoo_driver".
DEBUG_ZOO_CFLAGS = -g -O0

check_PROGRAMS += tests/debug_zoo/zoo_driver
tests_debug_zoo_zoo_driver_SOURCES = tests/debug_zoo/zoo_driver.c
tests_debug_zoo_zoo_driver_CFLAGS = $(AM_CFLAGS) $(DEBUG_ZOO_CFLAGS)
tests_debug_zoo_zoo_driver_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_debug_zoo_zoo_driver_LDADD = libarea_malloc.la

check_PROGRAMS += tests/debug_zoo/test_bug_zoo
TESTS += tests/debug_zoo/test_bug_zoo
tests_debug_zoo_test_bug_zoo_SOURCES = tests/debug_zoo/test_bug_zoo.c
tests_debug_zoo_test_bug_zoo_CFLAGS = $(CHECK_TEST_CFLAGS) $(DEBUG_ZOO_CFLAGS) \
	-DZOO_DRIVER_SOURCE='"$(abs_top_srcdir)/tests/debug_zoo/zoo_driver.c"'
tests_debug_zoo_test_bug_zoo_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_debug_zoo_test_bug_zoo_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
# the end-to-end tests run the driver
EXTRA_tests_debug_zoo_test_bug_zoo_DEPENDENCIES = tests/debug_zoo/zoo_driver$(EXEEXT)
