/*
 * matrix.h - the corruption matrix: every way an overflow or underflow may
 * damage the memory near a block of a debug pool, each case run through the
 * debug module to one detection point.
 *
 * The case space (matrix.c lists each dimension's values and why):
 *   block size x neighbour above (live, quarantined, free, none) x damage
 *   (a run from the block's end outwards, a run from its start backwards,
 *   one byte at an offset past its end) x amount (run length or offset) x
 *   pattern (zeros, 0xff, a pointer into the pool, a copy of a sound block
 *   front) x detection point (free, check, delete_pool, put_module, exit).
 * Each case must end without a crash or a hang, with the other pool intact;
 * a run must end in a report of the right kind naming the block written
 * past (its first report), a lone write into metadata in a report of some
 * kind; a lone write inside a live neighbour's own bytes may go unseen.
 *
 * Locking: none; each worker is a process of its own, one thread.
 */
#ifndef AREA_MALLOC_TESTS_CORRUPTION_MATRIX_H
#define AREA_MALLOC_TESTS_CORRUPTION_MATRIX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct matrix_run {
	uint64_t seed;          /* shuffles the cases; the same seed, the same cases */
	uint64_t cases;         /* how many (0: all) */
	double seconds;         /* stop starting cases after this long (0: no bound) */
	const char *module_dir; /* the debug module's directory */
	FILE *log;              /* a line per failure (and per case when verbose),
				 * flushed as it is written */
	bool verbose;
	unsigned shard, shards; /* --all in parallel: this process runs the
				 * cases whose number is shard modulo shards */
};

struct matrix_totals {
	uint64_t run;
	uint64_t failed;
	uint64_t caught; /* damage to guarded memory, reported */
	uint64_t unseen; /* only a live block's own user bytes changed:
				 * not judged (only guard pages see that) */
	uint64_t no_op;  /* the damage changed no byte */
	uint64_t space;  /* the whole case space */
};

/* Runs one case as the matrix does, its reports printed (replaying a
 * failure). Returns 0 when it held, 1 otherwise. */
int matrix_show(const char *module_dir, uint64_t id);

/* Runs the cases; returns the totals (failed == 0: every case held). */
struct matrix_totals matrix_run(const struct matrix_run *run);

#endif /* AREA_MALLOC_TESTS_CORRUPTION_MATRIX_H */
