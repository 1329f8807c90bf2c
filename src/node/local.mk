# src/node: reading debug nodes (src/format/node_format.h, the contract with
# the writer) without trusting them, and the pool commands that pooldump and
# the debug module's in-process debugger commands share. Over libamformat
# (blocks, pool log, symbolizer) and libamcore (heap image walk); only the
# objects it uses are pulled from those archives. The reader is one concern
# a file (node_reader_internal.h lists them).

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
	src/node/node_commands.h \
	src/node/node_commands.c
libamnodereader_la_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS)
