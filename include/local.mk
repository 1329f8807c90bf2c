# Public headers, installed under $(includedir)/area_malloc so that nothing
# named OS.h lands in /usr/include. pkg-config puts both this folder and its
# drivers/ subfolder on the include path: <drivers/area_malloc.h> and the
# short names Haiku drivers use (<module.h>, <KernelExport.h>) both resolve.

amincludedir = $(includedir)/area_malloc
aminclude_HEADERS = \
	include/area_malloc/SupportDefs.h \
	include/area_malloc/Errors.h \
	include/area_malloc/OS.h \
	include/area_malloc/KernelExport.h

amdriversincludedir = $(includedir)/area_malloc/drivers
amdriversinclude_HEADERS = \
	include/area_malloc/drivers/KernelExport.h \
	include/area_malloc/drivers/module.h \
	include/area_malloc/drivers/area_malloc.h \
	include/area_malloc/drivers/area_malloc_debug.h \
	include/area_malloc/drivers/Drivers.h
