# The allocator core shared by the release and debug module builds: the
# TLSF heap, the pool-id registry, the pool layer (area, lock, statistics),
# fork handling and the release build's thread caches.
#
# The heap is built twice: libamheap for the release build and for readers
# (pooldump walks heap images), libamheap_checked (HEAP_CHECKED=1: every tag
# and link checked before it is followed, heap.c) for the debug build. A
# module links one of them, never both.

core_heap_sources = \
	src/core/heap.c \
	src/core/heap.h \
	src/core/heap_check.c \
	src/core/heap_fast.h \
	src/core/heap_layout.h

noinst_LTLIBRARIES += libamheap.la libamheap_checked.la
libamheap_la_SOURCES = $(core_heap_sources)
libamheap_checked_la_SOURCES = $(core_heap_sources)
libamheap_checked_la_CPPFLAGS = $(AM_CPPFLAGS) -DHEAP_CHECKED=1
# fat LTO objects for the module files (configure.ac, --disable-lto)
libamheap_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS)
libamheap_checked_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS)
libamcore_la_CFLAGS = $(AM_CFLAGS) $(MODULE_LTO_CFLAGS)

noinst_LTLIBRARIES += libamcore.la
libamcore_la_SOURCES = \
	src/core/pool_registry.c \
	src/core/pool_registry.h \
	src/core/pool.c \
	src/core/pool.h \
	src/core/pool_fork.c \
	src/core/pool_fork.h \
	src/core/thread_cache.c \
	src/core/thread_cache_claim.c \
	src/core/thread_cache.h \
	src/core/thread_cache_fast.h \
	src/core/cache_magazine.h \
	src/core/cache_depot.c \
	src/core/cache_depot.h
