/*
 * report_internal.h - what the two halves of the reporter share: report.c
 * (error reports, routing, the symbolizer, the counters) and
 * report_leaks.c (leak reports and their suppressions). Nothing else
 * includes it; the interface is report.h.
 *
 * Locking: every *_locked function, and everything that formats (it
 * symbolizes), runs with reporter_lock held; reporter_offer_to_hook takes
 * and drops it itself, so it is called without it.
 */
#ifndef AREA_MALLOC_DEBUG_REPORT_INTERNAL_H
#define AREA_MALLOC_DEBUG_REPORT_INTERNAL_H

#include <stdio.h>

#include "debug/report.h"
#include "format/symbolize.h"
#include "kernel/lock.h"

extern mutex reporter_lock;
extern const struct debug_options *reporter_options; /* NULL before reporter_init */

/* Reads a suppressions file (leak:PATTERN lines); with the lock. */
void suppressions_load(const char *path);

bool reporter_symbolize_locked(uintptr_t address, struct symbol_info *info);
/* "function+0xoff (image) file:line" into buffer. */
const char *reporter_frame_locked(uintptr_t address, char *buffer, size_t size);
/* The Check test the process runs, or NULL (see report.c). */
const char *reporter_check_test_locked(bool process_ends);
/* The colours for the reports' destination (none but on a terminal). */
const struct report_colors *reporter_colors_locked(void);
void reporter_write_locked(const char *text, size_t length);
void reporter_count_error_locked(void);
/* true when the hook took the report over; without the lock. */
bool reporter_offer_to_hook(const area_malloc_report *report);

/* Text pieces: "    #N 0x... in SYMBOL" lines; "LABEL pool N "NAME" (id ...)". */
void reporter_print_frames(FILE *out, const area_malloc_owner *owner);
void reporter_print_pool(FILE *out, const char *label, const struct report_pool *pool,
	const struct report_colors *colors);

/* JSON pieces: a string (valid UTF-8 whatever the bytes), the opening
 * {"version","kind","kind_key", ",\"test\":" when known, "frames":[...],
 * ,"KEY":{owner}, ,"KEY":{pool}. */
void reporter_json_string(FILE *out, const char *text);
void reporter_json_open(FILE *out, enum error_kind kind);
void reporter_json_test(FILE *out, const char *test);
void reporter_json_frames(FILE *out, const area_malloc_owner *owner);
void reporter_json_owner(FILE *out, const char *key, const area_malloc_owner *owner);
void reporter_json_pool(FILE *out, const char *key, const struct report_pool *pool);

#endif /* AREA_MALLOC_DEBUG_REPORT_INTERNAL_H */
