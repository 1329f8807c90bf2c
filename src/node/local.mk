# src/node: reading debug nodes (src/format/node_format.h, the contract with
# the writer) without trusting them, and the pool commands that pooldump and
# the debug module's in-process debugger commands share. Over libamformat
# (blocks, pool log, symbolizer) and libamcore (heap image walk); only the
# objects it uses are pulled from those archives.

noinst_LTLIBRARIES += libamnodereader.la
libamnodereader_la_SOURCES = \
	src/node/node_reader.c \
	src/node/node_reader.h \
	src/node/node_commands.c \
	src/node/node_commands.h
libamnodereader_la_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS)
