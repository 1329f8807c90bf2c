# src/node: reading debug nodes (src/format/node_format.h, the contract with
# the writer) without trusting them, and the pool commands that pooldump and
# the debug module's in-process debugger commands share. Over libamformat
# (blocks, pool log, symbolizer, error kinds) and libamcore (heap image
# walk); only the objects it uses are pulled from those archives. One
# concern a file: node_reader_internal.h and node_commands_internal.h list
# them.

noinst_LTLIBRARIES += libamnodereader.la
libamnodereader_la_SOURCES = \
	src/node/node_reader.h \
	src/node/node_reader_internal.h \
	src/node/node_files.c \
	src/node/node_dir.c \
	src/node/node_symbolize.c \
	src/node/node_pool_file.c \
	src/node/node_pool_copy.c \
	src/node/node_pool_walk.c \
	src/node/node_stacks.c \
	src/node/node_interrupted.c \
	src/node/node_commands.h \
	src/node/node_commands_internal.h \
	src/node/node_session.c \
	src/node/node_grouping.c \
	src/node/node_guarded.c \
	src/node/node_commands.c \
	src/node/node_cmd_pools.c \
	src/node/node_cmd_allocations.c \
	src/node/node_cmd_pool_log.c \
	src/node/node_cmd_leaks.c \
	src/node/node_cmd_check.c \
	src/node/node_cmd_scan.c \
	src/node/node_scan_stop.c \
	src/node/node_cmd_dir.c
libamnodereader_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS) $(DW_CFLAGS)
