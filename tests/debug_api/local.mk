# tests/debug_api: the debug module's options parser (src/format/options.c,
# compiled straight into test_options), its block layout (test_debug_block),
# pool allocation log (test_pool_log) and table of error kinds
# (test_error_kind), and its companion module, realloc rules, fault
# injection, capacity, fork, suppressions and exit behaviour
# (test_debug_api, a driver that reaches the staged debug module through
# get_module). test_debug_api is built with -g: the module names its callers
# (fail_caller, suppressions by function and file) from .symtab and DWARF.

check_PROGRAMS += tests/debug_api/test_options
TESTS += tests/debug_api/test_options
tests_debug_api_test_options_SOURCES = tests/debug_api/test_options.c \
	src/format/options.c src/format/options.h
tests_debug_api_test_options_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_debug_api_test_options_LDADD = $(CHECK_TEST_LIBS)

# The debug block layout and its validator (src/format/debug_block.c).
check_PROGRAMS += tests/debug_api/test_debug_block
TESTS += tests/debug_api/test_debug_block
tests_debug_api_test_debug_block_SOURCES = tests/debug_api/test_debug_block.c
tests_debug_api_test_debug_block_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_debug_api_test_debug_block_LDADD = libamformat.la libamcore.la libamheap.la $(DW_LIBS) $(CHECK_TEST_LIBS)

# The pool allocation log (src/format/pool_log.c and its inline append).
check_PROGRAMS += tests/debug_api/test_pool_log
TESTS += tests/debug_api/test_pool_log
tests_debug_api_test_pool_log_SOURCES = tests/debug_api/test_pool_log.c
tests_debug_api_test_pool_log_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_debug_api_test_pool_log_LDADD = libamformat.la libamcore.la libamheap.la $(DW_LIBS) $(CHECK_TEST_LIBS)

# The table of error kinds and the finding -> kind translation
# (src/format/error_kind.c).
check_PROGRAMS += tests/debug_api/test_error_kind
TESTS += tests/debug_api/test_error_kind
tests_debug_api_test_error_kind_SOURCES = tests/debug_api/test_error_kind.c
tests_debug_api_test_error_kind_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_debug_api_test_error_kind_LDADD = libamformat.la libamcore.la libamheap.la $(DW_LIBS) $(CHECK_TEST_LIBS)

check_PROGRAMS += tests/debug_api/test_debug_api
TESTS += tests/debug_api/test_debug_api
tests_debug_api_test_debug_api_SOURCES = tests/debug_api/test_debug_api.c \
	tests/debug_api/leak_sites.c tests/debug_api/leak_sites.h \
	tests/node/json_check.c tests/node/json_check.h \
	tests/debug_api/stack_tests.c tests/debug_api/stack_tests.h
tests_debug_api_test_debug_api_CFLAGS = $(CHECK_TEST_CFLAGS) -g
tests_debug_api_test_debug_api_LDADD = libstackdriver_fp.la libstackdriver_nofp.la \
	libarea_malloc.la $(CHECK_TEST_LIBS) $(PTHREAD_FLAGS)

# One driver's allocation wrappers built twice, as drivers are: with frame
# pointers and without (Debian's -O2), for the "stacks" case (issue 14). The
# flags come after AM_CFLAGS (a sanitizer build's frame-pointer flag).
check_LTLIBRARIES += libstackdriver_fp.la libstackdriver_nofp.la
libstackdriver_fp_la_SOURCES = tests/debug_api/stack_driver.c tests/debug_api/stack_driver.h
libstackdriver_fp_la_CPPFLAGS = $(AM_CPPFLAGS) -DSTACK_DRIVER_VARIANT=fp
libstackdriver_fp_la_CFLAGS = $(AM_CFLAGS) -g -O2 -fno-omit-frame-pointer
libstackdriver_nofp_la_SOURCES = tests/debug_api/stack_driver.c tests/debug_api/stack_driver.h
libstackdriver_nofp_la_CPPFLAGS = $(AM_CPPFLAGS) -DSTACK_DRIVER_VARIANT=nofp
libstackdriver_nofp_la_CFLAGS = $(AM_CFLAGS) -g -O2 -fomit-frame-pointer
