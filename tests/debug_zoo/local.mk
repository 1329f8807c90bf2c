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

# A driver built with -fsanitize=address, whatever the configuration: the
# debug module must make ASan itself catch bad accesses inside pools.
ASAN_DRIVER_FLAGS = -g -O1 -fsanitize=address -fno-omit-frame-pointer
check_PROGRAMS += tests/debug_zoo/asan_driver
tests_debug_zoo_asan_driver_SOURCES = tests/debug_zoo/asan_driver.c
tests_debug_zoo_asan_driver_CFLAGS = $(AM_CFLAGS) $(ASAN_DRIVER_FLAGS)
tests_debug_zoo_asan_driver_LDFLAGS = $(AM_LDFLAGS) -fsanitize=address -no-install
tests_debug_zoo_asan_driver_LDADD = libarea_malloc.la

check_PROGRAMS += tests/debug_zoo/test_sanitizers
TESTS += tests/debug_zoo/test_sanitizers
tests_debug_zoo_test_sanitizers_SOURCES = tests/debug_zoo/test_sanitizers.c
tests_debug_zoo_test_sanitizers_CFLAGS = $(CHECK_TEST_CFLAGS) \
	-DASAN_DRIVER_SOURCE='"$(abs_top_srcdir)/tests/debug_zoo/asan_driver.c"' \
	$(MODULE_ASAN_DEFINE)
tests_debug_zoo_test_sanitizers_LDADD = $(CHECK_TEST_LIBS)
EXTRA_tests_debug_zoo_test_sanitizers_DEPENDENCIES = tests/debug_zoo/asan_driver$(EXEEXT)
if ENABLE_ASAN
MODULE_ASAN_DEFINE = -DMODULE_BUILT_WITH_ASAN
endif
