# src/debug: the debug allocator: every call checked, blocks tagged and
# quarantined, pools published in the debug node, misuse reported. Linked
# only into the debug module (src/modules/debug); writes what src/format
# describes, never reads a node (that is src/node's job). One concern a
# file: debug_internal.h lists them.

noinst_LTLIBRARIES += libamdebug.la
libamdebug_la_SOURCES = \
	src/debug/backing.c \
	src/debug/culprit.c \
	src/debug/debug_alloc.c \
	src/debug/debug_fork.c \
	src/debug/debug_internal.h \
	src/debug/debug_pool.c \
	src/debug/debug_pool.h \
	src/debug/debugger_views.c \
	src/debug/fault_injection.c \
	src/debug/free_memory.c \
	src/debug/guarded.c \
	src/debug/guarded.h \
	src/debug/guarded_internal.h \
	src/debug/guarded_report.c \
	src/debug/in_flight.h \
	src/debug/leak_scan.c \
	src/debug/leak_scan.h \
	src/debug/leak_scan_internal.h \
	src/debug/leak_scan_roots.c \
	src/debug/leak_scan_threads.c \
	src/debug/leaks.c \
	src/debug/node_writer.c \
	src/debug/node_writer.h \
	src/debug/owner.c \
	src/debug/pending.c \
	src/debug/pointer_check.c \
	src/debug/pool_check.c \
	src/debug/pool_leaks.c \
	src/debug/quarantine.c \
	src/debug/report.c \
	src/debug/report.h \
	src/debug/report_internal.h \
	src/debug/report_leaks.c \
	src/debug/shadow.c \
	src/debug/shadow.h \
	src/debug/stacks.c \
	src/debug/unwind.c \
	src/debug/unwind.h
# Frame pointers: a capture walks up through the module's own frames to the
# driver's (debug/unwind.c), so every function of the debug allocator keeps one.
libamdebug_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS) $(DW_CFLAGS) -fno-omit-frame-pointer
libamdebug_la_LIBADD = $(DW_LIBS) -lm
