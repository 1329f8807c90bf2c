# src/debug: the debug allocator: every call checked, blocks tagged and
# quarantined, pools published in the debug node, misuse reported. Linked
# only into the debug module (src/modules/debug); writes what src/format
# describes, never reads a node (that is src/node's job).

noinst_LTLIBRARIES += libamdebug.la
libamdebug_la_SOURCES = \
	src/debug/debug_pool.c \
	src/debug/debug_pool.h \
	src/debug/node_writer.c \
	src/debug/node_writer.h \
	src/debug/report.c \
	src/debug/report.h \
	src/debug/sanitizers.h \
	src/debug/shadow.c \
	src/debug/shadow.h
libamdebug_la_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS)
libamdebug_la_LIBADD = $(DW_LIBS)
