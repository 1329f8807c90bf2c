/*
 * SupportDefs.h - Haiku's basic types, on Linux.
 *
 * Part of area_malloc's kernel-API layer. Names and widths follow Haiku's
 * headers/os/support/SupportDefs.h so that driver code written for
 * BeOS/Haiku compiles unchanged.
 */
#ifndef _AREA_MALLOC_SUPPORT_DEFS_H
#define _AREA_MALLOC_SUPPORT_DEFS_H

#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/types.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#include <Errors.h>

typedef int8_t int8;
typedef uint8_t uint8;
typedef int16_t int16;
typedef uint16_t uint16;
typedef int32_t int32;
typedef uint32_t uint32;
typedef int64_t int64;
typedef uint64_t uint64;

typedef volatile int8 vint8;
typedef volatile uint8 vuint8;
typedef volatile int16 vint16;
typedef volatile uint16 vuint16;
typedef volatile int32 vint32;
typedef volatile uint32 vuint32;
typedef volatile int64 vint64;
typedef volatile uint64 vuint64;

typedef int32 status_t;
typedef int64 bigtime_t;
typedef int64 nanotime_t;
typedef uint32 type_code;
typedef uint32 perform_code;

typedef uintptr_t addr_t;
typedef uint64 phys_addr_t;
typedef uint64 phys_size_t;
typedef uint64 generic_addr_t;
typedef uint64 generic_size_t;

/* Haiku's 'uchar' and 'unichar' */
typedef unsigned char uchar;
typedef uint16 unichar;

#ifndef NULL
#define NULL 0
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define min_c(a, b) ((a) > (b) ? (b) : (a))
#define max_c(a, b) ((a) > (b) ? (a) : (b))

/* Printf length modifiers for Haiku's types, as Haiku defines them. */
#define B_PRId32 PRId32
#define B_PRIu32 PRIu32
#define B_PRIx32 PRIx32
#define B_PRId64 PRId64
#define B_PRIu64 PRIu64
#define B_PRIx64 PRIx64
#define B_PRIuSIZE "zu"
#define B_PRIdSSIZE "zd"
#define B_PRIxADDR "lx"

#endif /* _AREA_MALLOC_SUPPORT_DEFS_H */
