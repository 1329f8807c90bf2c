/* area_internal.h - STUB */
