# The release module: generic/area_malloc/v1 over the allocator core.
# Built as a libtool module that is not installed by libtool itself: it is
# installed and staged under its module name by the rules below.

noinst_LTLIBRARIES += src/modules/release/area_malloc_release.la
src_modules_release_area_malloc_release_la_SOURCES = src/modules/release/area_malloc_module.c
src_modules_release_area_malloc_release_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS)
src_modules_release_area_malloc_release_la_LDFLAGS = $(AM_LDFLAGS) $(MODULE_LTO_LDFLAGS) -module -avoid-version \
	-shared -rpath '$(moduledir)' -no-undefined \
	-export-symbols-regex '^modules$$'
src_modules_release_area_malloc_release_la_LIBADD = libamcore.la libamheap.la libarea_malloc.la

all_local_targets += stage-release-module
stage-release-module: src/modules/release/area_malloc_release.la
	$(AM_V_GEN)$(STAGE_MODULE) src/modules/release/area_malloc_release.la modules/release generic/area_malloc

install_exec_local_targets += install-release-module
install-release-module: src/modules/release/area_malloc_release.la
	$(STAGE_MODULE) --install '$(LIBTOOL)' src/modules/release/area_malloc_release.la '$(DESTDIR)$(moduledir)' generic/area_malloc

uninstall_local_targets += uninstall-release-module
uninstall-release-module:
	-rm -f $(DESTDIR)$(moduledir)/generic/area_malloc
	-rmdir $(DESTDIR)$(moduledir)/generic $(DESTDIR)$(moduledir) 2>/dev/null

.PHONY: stage-release-module install-release-module uninstall-release-module
