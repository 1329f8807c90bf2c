# The debug build of generic/area_malloc/v1 and its companion module
# generic/area_malloc/debug/v1: one module file over the debug allocator
# (src/debug), the node reader for its in-process debugger commands
# (src/node), the format layer and the allocator core. Installed as
# $(debug_moduledir)/generic/area_malloc, staged as
# modules/debug/generic/area_malloc.

noinst_LTLIBRARIES += src/modules/debug/area_malloc_debug.la
src_modules_debug_area_malloc_debug_la_SOURCES = src/modules/debug/area_malloc_debug_module.c
# the entry points' frames are the first a capture walks through (src/debug/local.mk)
src_modules_debug_area_malloc_debug_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS) -fno-omit-frame-pointer
src_modules_debug_area_malloc_debug_la_LDFLAGS = $(AM_LDFLAGS) $(MODULE_LTO_LDFLAGS) -module -avoid-version \
	-shared -rpath '$(debug_moduledir)' -no-undefined \
	-export-symbols-regex '^modules$$'
src_modules_debug_area_malloc_debug_la_LIBADD = libamdebug.la libamnodereader.la \
	libamformat.la libamcore.la libamheap_checked.la libarea_malloc.la $(DW_LIBS)

all_local_targets += stage-debug-module
stage-debug-module: src/modules/debug/area_malloc_debug.la
	$(AM_V_GEN)$(STAGE_MODULE) src/modules/debug/area_malloc_debug.la modules/debug generic/area_malloc

install_exec_local_targets += install-debug-module
install-debug-module: src/modules/debug/area_malloc_debug.la
	$(STAGE_MODULE) --install '$(LIBTOOL)' src/modules/debug/area_malloc_debug.la '$(DESTDIR)$(debug_moduledir)' generic/area_malloc

uninstall_local_targets += uninstall-debug-module
uninstall-debug-module:
	-rm -f $(DESTDIR)$(debug_moduledir)/generic/area_malloc
	-rmdir $(DESTDIR)$(debug_moduledir)/generic $(DESTDIR)$(debug_moduledir) 2>/dev/null

.PHONY: stage-debug-module install-debug-module uninstall-debug-module
