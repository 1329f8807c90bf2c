# src/format: what the debug build writes and its readers read, below both
# (src/debug writes it, src/node reads it): the debug block layout and its
# validator, the pool log, the node file format, the error-kind table, the
# options, the symbolizer that names recorded callers, what valid UTF-8 is
# (utf8.h), and opening files where other users may have a hand in the path
# (safe_file.c), and the classification of a conservative reachability scan
# (leak_scan_engine.c: the debug build scans in process, pooldump another
# process). Depends on the allocator core only for the heap's own layout
# (node_format.h).

noinst_LTLIBRARIES += libamformat.la
libamformat_la_SOURCES = \
	src/format/cross_process.h \
	src/format/debug_block.c \
	src/format/debug_block.h \
	src/format/error_kind.c \
	src/format/error_kind.h \
	src/format/frame_cfi.c \
	src/format/frame_cfi.h \
	src/format/guard_table.h \
	src/format/leak_scan_engine.c \
	src/format/leak_scan_engine.h \
	src/format/node_format.h \
	src/format/options.c \
	src/format/options.h \
	src/format/pool_log.c \
	src/format/pool_log.h \
	src/format/safe_file.c \
	src/format/safe_file.h \
	src/format/stack_depot.c \
	src/format/stack_depot.h \
	src/format/symbolize.c \
	src/format/symbolize.h \
	src/format/utf8.h
libamformat_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS) $(DW_CFLAGS)
libamformat_la_LIBADD = $(DW_LIBS)
