# tools/pooldump: KDL-style pool dumps of running and crashed drivers, from
# the debug nodes they publish, and "pooldump run", the QA runner that runs a
# command under the debug build and writes JUnit XML and JSON reports (see
# man/pooldump.1). Installed.

bin_PROGRAMS += tools/pooldump/pooldump
tools_pooldump_pooldump_SOURCES = tools/pooldump/pooldump.c \
	tools/pooldump/run.c tools/pooldump/run.h tools/pooldump/run_internal.h \
	tools/pooldump/run_options.c tools/pooldump/run_output.c \
	tools/pooldump/run_supervise.c tools/pooldump/run_summary.c \
	tools/pooldump/report_files.c tools/pooldump/report_files.h \
	tools/pooldump/junit.c tools/pooldump/junit.h \
	tools/pooldump/report_json.c tools/pooldump/report_json.h
# the runner's default debug module directory: the installed one
tools_pooldump_pooldump_CPPFLAGS = $(AM_CPPFLAGS) \
	-DAREA_MALLOC_DEBUG_MODULEDIR='"$(debug_moduledir)"'
tools_pooldump_pooldump_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(XML2_CFLAGS)
tools_pooldump_pooldump_LDADD = libamnodereader.la libamformat.la libamcore.la libamheap.la $(DW_LIBS) \
	$(JSONC_LIBS) $(XML2_LIBS)

# bash completion, where bash-completion looks for it under the prefix
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = tools/pooldump/completion/pooldump
