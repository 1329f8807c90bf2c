# tests/security: what another user (or an unlucky path) can do to the debug
# build and pooldump, each shown refused or harmless (issue 17): links and
# files planted where reports and runner outputs go, special files named as
# suppressions or as a node's images, the module's dead-node cleanup
# beside a node still being created, a hostile node of another user read by
# root, the descriptor budget, and the default node directory taken by
# another user. The second identity is a forked child
# that switches to an unused uid (root only; skipped with a message
# otherwise).

check_PROGRAMS += tests/security/test_security
TESTS += tests/security/test_security
tests_security_test_security_SOURCES = tests/security/test_security.c
tests_security_test_security_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS)
tests_security_test_security_LDADD = libamformat.la libamcore.la libamheap.la libarea_malloc.la \
	$(DW_LIBS) $(CHECK_TEST_LIBS)
