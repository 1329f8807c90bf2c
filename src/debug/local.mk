# The debug build of generic/area_malloc/v1 and its companion module
# generic/area_malloc/debug/v1, one module file over the same allocator core
# as the release build. Installed as $(debug_moduledir)/generic/area_malloc,
# staged as modules/debug/generic/area_malloc.

noinst_LTLIBRARIES += libamdebug.la
libamdebug_la_SOURCES = \
	src/debug/debug_block.c \
	src/debug/debug_block.h \
	src/debug/debug_pool.c \
	src/debug/debug_pool.h \
	src/debug/options.c \
	src/debug/options.h \
	src/debug/pool_log.c \
	src/debug/pool_log.h \
	src/debug/report.c \
	src/debug/report.h \
	src/debug/shadow.c \
	src/debug/shadow.h \
	src/debug/symbolize.c \
	src/debug/symbolize.h \
	src/node/node_format.h \
	src/node/node_writer.c \
	src/node/node_writer.h
libamdebug_la_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS)
libamdebug_la_LIBADD = $(DW_LIBS)

noinst_LTLIBRARIES += src/debug/area_malloc_debug.la
src_debug_area_malloc_debug_la_SOURCES = src/debug/area_malloc_debug_module.c
src_debug_area_malloc_debug_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version \
	-shared -rpath '$(debug_moduledir)' -no-undefined \
	-export-symbols-regex '^modules$$'
src_debug_area_malloc_debug_la_LIBADD = libamnodereader.la libamdebug.la libamcore.la \
	libarea_malloc.la $(DW_LIBS)

all_local_targets += stage-debug-module
stage-debug-module: src/debug/area_malloc_debug.la
	$(AM_V_GEN)$(STAGE_MODULE) src/debug/area_malloc_debug.la modules/debug generic/area_malloc

install_exec_local_targets += install-debug-module
install-debug-module: src/debug/area_malloc_debug.la
	$(STAGE_MODULE) --install '$(LIBTOOL)' src/debug/area_malloc_debug.la '$(DESTDIR)$(debug_moduledir)' generic/area_malloc

uninstall_local_targets += uninstall-debug-module
uninstall-debug-module:
	-rm -f $(DESTDIR)$(debug_moduledir)/generic/area_malloc
	-rmdir $(DESTDIR)$(debug_moduledir)/generic $(DESTDIR)$(debug_moduledir) 2>/dev/null

.PHONY: stage-debug-module install-debug-module uninstall-debug-module
