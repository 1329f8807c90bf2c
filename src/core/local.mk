# The allocator core shared by the release and debug module builds: the
# TLSF heap, the pool-id registry, the pool layer (area, lock, statistics),
# fork handling and the release build's thread caches.

noinst_LTLIBRARIES += libamcore.la
libamcore_la_SOURCES = \
	src/core/heap.c \
	src/core/heap.h \
	src/core/heap_check.c \
	src/core/heap_layout.h \
	src/core/pool_registry.c \
	src/core/pool_registry.h \
	src/core/pool.c \
	src/core/pool.h \
	src/core/pool_fork.c \
	src/core/pool_fork.h \
	src/core/thread_cache.c \
	src/core/thread_cache.h
