# tests/debug_api: the debug module's options parser (src/debug/options.c,
# compiled straight into test_options), and its companion module, realloc
# rules, fault injection, capacity, fork, suppressions and exit behaviour
# (test_debug_api, a driver that reaches the staged debug module through
# get_module). test_debug_api is built with -g: the module names its callers
# (fail_caller, suppressions by function and file) from .symtab and DWARF.

check_PROGRAMS += tests/debug_api/test_options
TESTS += tests/debug_api/test_options
tests_debug_api_test_options_SOURCES = tests/debug_api/test_options.c \
	src/debug/options.c src/debug/options.h
tests_debug_api_test_options_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_debug_api_test_options_LDADD = $(CHECK_TEST_LIBS)

check_PROGRAMS += tests/debug_api/test_debug_api
TESTS += tests/debug_api/test_debug_api
tests_debug_api_test_debug_api_SOURCES = tests/debug_api/test_debug_api.c \
	tests/debug_api/leak_sites.c tests/debug_api/leak_sites.h
tests_debug_api_test_debug_api_CFLAGS = $(CHECK_TEST_CFLAGS) -g
tests_debug_api_test_debug_api_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
