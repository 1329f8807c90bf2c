# The kernel-API layer: Haiku's areas, module manager, debugger command
# registry and output calls, over Linux. Drivers and modules link it.

lib_LTLIBRARIES += libarea_malloc.la
libarea_malloc_la_SOURCES = \
	src/kernel/area.c \
	src/kernel/area_internal.h \
	src/kernel/area_private.c \
	src/kernel/module.c \
	src/kernel/debugger.c \
	src/kernel/kernel_misc.c \
	src/kernel/exit_hook.c \
	src/kernel/exit_hook.h \
	src/kernel/guard_fault.c \
	src/kernel/guard_fault.h \
	src/kernel/lock.h \
	src/kernel/sanitizers.h
libarea_malloc_la_CPPFLAGS = $(AM_CPPFLAGS) -DAREA_MALLOC_MODULEDIR='"$(moduledir)"'
libarea_malloc_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0 -no-undefined
