# tests/node_writer: the writer side of the debug node (src/debug/node_writer.c
# and the node parts of src/debug/debug_pool.c). test_node_writer is a driver
# reaching the staged debug module through get_module(), with node_dir in a
# private temporary directory; it forks its own driver children (no helper
# program) to watch a node from outside, kill its process or let it exit.
# Root-only cases (a foreign owner, a small tmpfs) skip without root.

check_PROGRAMS += tests/node_writer/test_node_writer
TESTS += tests/node_writer/test_node_writer
tests_node_writer_test_node_writer_SOURCES = tests/node_writer/test_node_writer.c
tests_node_writer_test_node_writer_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_node_writer_test_node_writer_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
