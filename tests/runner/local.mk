# tests/runner: "pooldump run", the QA runner. test_runner runs the built
# pooldump over purpose-built drivers (runner_driver: one misbehaviour per
# run, forks and execs included; check_driver: a Check suite run in both
# fork modes) and checks its exit status, its summary, junit.xml (parsed
# with libxml2) and report.json (parsed with json-c); its unit cases feed
# the report-file parser and the JUnit writer fabricated files directly.
# junit.xsd: the JUnit structure Jenkins and GitLab both accept; test_runner
# validates the runner's junit.xml against it with xmllint (libxml2-utils).
#
# -g -O0 so reports name functions and lines; -no-install: the drivers run
# as they are built (no libtool wrapper), so their images and processes are
# named "runner_driver" and "check_driver".
RUNNER_TEST_CFLAGS = -g -O0

check_PROGRAMS += tests/runner/runner_driver
tests_runner_runner_driver_SOURCES = tests/runner/runner_driver.c
tests_runner_runner_driver_CFLAGS = $(AM_CFLAGS) $(RUNNER_TEST_CFLAGS)
tests_runner_runner_driver_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_runner_runner_driver_LDADD = libarea_malloc.la

check_PROGRAMS += tests/runner/check_driver
tests_runner_check_driver_SOURCES = tests/runner/check_driver.c
tests_runner_check_driver_CFLAGS = $(CHECK_TEST_CFLAGS) $(RUNNER_TEST_CFLAGS)
tests_runner_check_driver_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_runner_check_driver_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)

check_PROGRAMS += tests/runner/test_runner
TESTS += tests/runner/test_runner
tests_runner_test_runner_SOURCES = tests/runner/test_runner.c \
	tools/pooldump/report_files.c tools/pooldump/report_files.h \
	tools/pooldump/junit.c tools/pooldump/junit.h
tests_runner_test_runner_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/pooldump \
	-DRUNNER_DRIVER_SOURCE='"$(abs_top_srcdir)/tests/runner/runner_driver.c"' \
	-DCHECK_DRIVER_SOURCE='"$(abs_top_srcdir)/tests/runner/check_driver.c"' \
	-DJUNIT_XSD='"$(abs_top_srcdir)/tests/runner/junit.xsd"' \
	-DAREA_MALLOC_DEBUG_MODULEDIR='"$(debug_moduledir)"'
tests_runner_test_runner_CFLAGS = $(CHECK_TEST_CFLAGS) $(JSONC_CFLAGS) $(XML2_CFLAGS)
tests_runner_test_runner_LDADD = libamformat.la $(CHECK_TEST_LIBS) $(JSONC_LIBS) $(XML2_LIBS)
EXTRA_tests_runner_test_runner_DEPENDENCIES = tools/pooldump/pooldump$(EXEEXT) \
	tests/runner/runner_driver$(EXEEXT) tests/runner/check_driver$(EXEEXT)
EXTRA_DIST += tests/runner/junit.xsd
