/*
 * sanitizers.h - which sanitizer instruments the code being compiled.
 *
 * gcc defines __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang defines
 * neither and answers __has_feature(address_sanitizer) and
 * __has_feature(thread_sanitizer) instead. Testing only gcc's macros once
 * hid free heap space from the module's own heap code in clang builds
 * (tests/fuzz/regressions/README): ask here, nowhere else.
 *
 * Locking: none; compile-time facts.
 */
#ifndef AREA_MALLOC_KERNEL_SANITIZERS_H
#define AREA_MALLOC_KERNEL_SANITIZERS_H

#if defined(__SANITIZE_ADDRESS__)
#define AREA_MALLOC_BUILT_WITH_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define AREA_MALLOC_BUILT_WITH_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(AREA_MALLOC_BUILT_WITH_ASAN)
#define AREA_MALLOC_BUILT_WITH_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(AREA_MALLOC_BUILT_WITH_TSAN)
#define AREA_MALLOC_BUILT_WITH_TSAN 1
#endif
#endif

#endif /* AREA_MALLOC_KERNEL_SANITIZERS_H */
