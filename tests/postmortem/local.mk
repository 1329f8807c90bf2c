# tests/postmortem: post-mortem honesty (issue 14). test_postmortem runs
# postmortem_driver, a correct driver under the debug module, until it dies
# of SIGKILL in the middle of an allocator operation (at a chosen step, or
# at random moments), then checks what pooldump's check makes of its node:
# what the interrupted operation explains is reported as such and counted
# as no error; genuine damage still is one; hostile in-flight records are
# refused clearly.
#
# -g -O0 so callers are named; -no-install: the driver runs as built.
POSTMORTEM_TEST_CFLAGS = -g -O0

check_PROGRAMS += tests/postmortem/postmortem_driver
tests_postmortem_postmortem_driver_SOURCES = tests/postmortem/postmortem_driver.c
tests_postmortem_postmortem_driver_CFLAGS = $(AM_CFLAGS) $(POSTMORTEM_TEST_CFLAGS) \
	-I$(top_srcdir)/tests
tests_postmortem_postmortem_driver_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_postmortem_postmortem_driver_LDADD = libamformat.la libarea_malloc.la

check_PROGRAMS += tests/postmortem/test_postmortem
TESTS += tests/postmortem/test_postmortem
tests_postmortem_test_postmortem_SOURCES = tests/postmortem/test_postmortem.c \
	tests/node/node_fixture.c tests/node/node_fixture.h \
	tests/node/json_check.c tests/node/json_check.h tests/node/json_assert.h
tests_postmortem_test_postmortem_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS) \
	$(POSTMORTEM_TEST_CFLAGS)
tests_postmortem_test_postmortem_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_postmortem_test_postmortem_LDADD = libamnodereader.la libamformat.la libamcore.la \
	libamheap.la $(DW_LIBS) $(CHECK_TEST_LIBS)
EXTRA_tests_postmortem_test_postmortem_DEPENDENCIES = \
	tests/postmortem/postmortem_driver$(EXEEXT) tools/pooldump/pooldump$(EXEEXT)
