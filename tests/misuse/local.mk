# tests/misuse: misuse never damages other data. test_misuse fills several
# pools (every lock kind, many block sizes, per-block byte patterns), commits
# one kind of misuse after another (each three times over) and checks that the
# faulty call was refused with the exact report (debug) or dprintf line
# (release), that every other block kept every byte, that every pool
# validates with exact statistics, and that the pools go on working.

check_PROGRAMS += tests/misuse/test_misuse
TESTS += tests/misuse/test_misuse
tests_misuse_test_misuse_SOURCES = tests/misuse/test_misuse.c
tests_misuse_test_misuse_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_misuse_test_misuse_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
