# tests/pool: the release module's interface, reached the way a driver
# reaches it (get_module), and the pool layer's registry in process.

check_PROGRAMS += tests/pool/test_pool tests/pool/test_pool_registry tests/pool/test_thread_cache
TESTS += tests/pool/test_pool tests/pool/test_pool_registry tests/pool/test_thread_cache

tests_pool_test_pool_SOURCES = tests/pool/test_pool.c tests/pool/pool_test_support.h
tests_pool_test_pool_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_pool_test_pool_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)

tests_pool_test_pool_registry_SOURCES = tests/pool/test_pool_registry.c
tests_pool_test_pool_registry_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_pool_test_pool_registry_LDADD = libamcore.la libamheap.la libarea_malloc.la $(CHECK_TEST_LIBS)

tests_pool_test_thread_cache_SOURCES = tests/pool/test_thread_cache.c tests/pool/pool_test_support.h
tests_pool_test_thread_cache_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_pool_test_thread_cache_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
