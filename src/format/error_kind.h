/*
 * error_kind.h - every kind of problem the debug build reports, in one
 * table, and the one translation of a block finding into a kind.
 *
 * Role
 *   The module's reports (src/debug/report.c), its checks and quarantine
 *   (src/debug), pooldump's "check" (src/node) and the QA runner's counting
 *   (tools/pooldump) all name kinds through this table; nothing else spells
 *   a kind. Adding a kind is one row in error_kind.c, one enumerator here
 *   and the code that detects it.
 *
 * Columns (struct error_kind_info)
 *   name        the KIND of the report's first line and of its SUMMARY line,
 *               and the "kind" of its JSON object ("double-free"); stable:
 *               CI scripts and report hooks match it
 *   precedence  when several kinds describe one call, the lowest wins
 *               (invalid-pool, cross-pool-free, double-free, invalid-free
 *               are tested in that order); the runner lists kinds by it
 *   headline    what the first line says after "==PID==ERROR: area_malloc: ",
 *               up to the address when names_address ("double-free on
 *               address"), or all of it ("detected memory leaks")
 *   key         a short machine key ([a-z_]+, "double_free"): for counters
 *               and identifiers where a name with '-' or spaces does not fit
 *   leak        counts as a leak, not as an error, for the runner and for
 *               report hooks (leaked_bytes, leaked_blocks)
 *   reserved    a row for work in progress: nothing reports it yet
 *
 * Invariants (error_kinds_validate): every enumerator has exactly one row,
 * in enumerator order; names, headlines and keys are unique; precedences
 * are unique; keys are [a-z_]+.
 *
 * Locking: none; constant data.
 */
#ifndef AREA_MALLOC_FORMAT_ERROR_KIND_H
#define AREA_MALLOC_FORMAT_ERROR_KIND_H

#include <stdbool.h>
#include <stdint.h>

#include "format/debug_block.h"

enum error_kind {
	ERROR_KIND_NONE = 0, /* no problem (a block finding of BLOCK_OK) */
	ERROR_INVALID_POOL,
	ERROR_CROSS_POOL_FREE,
	ERROR_DOUBLE_FREE,
	ERROR_INVALID_FREE,
	ERROR_HEAP_BUFFER_OVERFLOW,
	ERROR_HEAP_BUFFER_UNDERFLOW,
	ERROR_USE_AFTER_FREE,
	ERROR_HEAP_CORRUPTION,   /* the pool's own metadata (heap, log) is damaged */
	ERROR_COUNTER_MISMATCH,  /* pooldump: counters disagree with the blocks */
	ERROR_GUARD_PAGE_FAULT,  /* reserved: an access to a guard page */
	ERROR_LEAK,              /* live blocks at delete_pool, unload, exit */
	ERROR_UNREFERENCED_LEAK, /* reserved: blocks no pointer reaches */
	ERROR_LEAKED_POOL,       /* a pool never deleted, at unload, exit */
	ERROR_KIND_COUNT
};

struct error_kind_info {
	const char *name;
	unsigned precedence;
	const char *headline;
	bool names_address;
	const char *key;
	bool leak;
	bool reserved;
	const char *meaning; /* one line, for help texts */
};

/* The row of a kind; ERROR_KIND_NONE and out-of-range values get a row
 * named "unknown" (never NULL). */
const struct error_kind_info *error_kind_info(enum error_kind kind);

static inline const char *error_kind_name(enum error_kind kind)
{
	return error_kind_info(kind)->name;
}

/* The kind a report names (its first line's KIND, its JSON "kind"), or
 * ERROR_KIND_NONE when no row has that name. */
enum error_kind error_kind_from_name(const char *name);

/*
 * The kind a report's first line names: line is the text after
 * "ERROR: area_malloc: " (it may go on past the headline). ERROR_KIND_NONE
 * when no row's headline starts it.
 */
enum error_kind error_kind_from_headline(const char *line);

/* What a block finding says, as a report states it. */
struct error_figures {
	enum error_kind kind; /* ERROR_KIND_NONE for BLOCK_OK */
	bool offset_known;
	long long offset;        /* first damaged byte from the user pointer
					 * (negative: before the block's start) */
	uint64_t overflow_bytes; /* overflow: bytes damaged past the end */
};

/*
 * The one translation of a debug_block_check() finding: a damaged header or
 * leading canary is a heap-buffer-underflow, a damaged trailing canary a
 * heap-buffer-overflow, damaged poison a use-after-free. Whoever finds a
 * block's damage (free, a check, the quarantine, pooldump) reports it so.
 */
struct error_figures error_figures_of_finding(struct debug_block_finding finding);

/* Checks the table's invariants (above); false with *why set when one fails. */
bool error_kinds_validate(const char **why);

#endif /* AREA_MALLOC_FORMAT_ERROR_KIND_H */
