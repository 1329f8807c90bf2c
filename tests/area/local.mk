# tests/area: create_area and friends over mmap (src/kernel/area.c): every
# address and lock specification, every error code, lookups, threads, and
# the fallback when Linux refuses to lock pages.

check_PROGRAMS += tests/area/test_area
TESTS += tests/area/test_area
tests_area_test_area_SOURCES = tests/area/test_area.c
tests_area_test_area_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_area_test_area_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
