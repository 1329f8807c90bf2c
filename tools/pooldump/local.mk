# tools/pooldump: KDL-style pool dumps of running and crashed drivers, from
# the debug nodes they publish (see man/pooldump.1). Installed.

bin_PROGRAMS += tools/pooldump/pooldump
tools_pooldump_pooldump_SOURCES = tools/pooldump/pooldump.c
tools_pooldump_pooldump_CFLAGS = $(AM_CFLAGS)
tools_pooldump_pooldump_LDADD = libamnodereader.la libamdebug.la libamcore.la $(DW_LIBS)
