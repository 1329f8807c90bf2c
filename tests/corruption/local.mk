# tests/corruption: the corruption matrix (matrix.h): overflows and
# underflows of every length, single writes at every offset, with several
# patterns, around blocks of many sizes with live, quarantined, free or no
# neighbours, taken to every detection point. test_corruption runs a seeded
# sample in make check; corruption_matrix runs all of it or a time-bounded
# sample (scripts/corruption-matrix; scripts/check-all runs a sample, plain
# and ASan). -no-install: the programs run as built.
CORRUPTION_SOURCES = tests/corruption/matrix.c tests/corruption/matrix.h

check_PROGRAMS += tests/corruption/test_corruption
TESTS += tests/corruption/test_corruption
tests_corruption_test_corruption_SOURCES = tests/corruption/test_corruption.c \
	$(CORRUPTION_SOURCES)
tests_corruption_test_corruption_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_corruption_test_corruption_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_corruption_test_corruption_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)

check_PROGRAMS += tests/corruption/corruption_matrix
tests_corruption_corruption_matrix_SOURCES = tests/corruption/corruption_matrix.c \
	$(CORRUPTION_SOURCES)
tests_corruption_corruption_matrix_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/tests
tests_corruption_corruption_matrix_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_corruption_corruption_matrix_LDADD = libarea_malloc.la

EXTRA_DIST += scripts/corruption-matrix
