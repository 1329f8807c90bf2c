/*
 * corruption_matrix.c - runs the corruption matrix (matrix.h) from the
 * command line: all of it, a seeded random subset of N cases, or as many
 * seeded random cases as fit in a time budget.
 *
 *   corruption_matrix [--seed S] [--cases N | --seconds T | --all]
 *                     [--shard K/N] [--module-dir DIR] [--verbose]
 *   corruption_matrix --case ID    one case, in process, its reports printed
 *
 * Prints the seed first (a failure is replayed with the same seed and
 * count), one line per failed case, and a summary; exits 1 when a case
 * failed, 2 on a usage error.
 *
 * Locking: none; one thread.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corruption/matrix.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: corruption_matrix [--seed S] [--cases N | --seconds T | --all] "
		"[--shard K/N] [--module-dir DIR] [--verbose] | --case ID\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct matrix_run run = { .seed = (uint64_t)time(NULL),
		.cases = 2000,
		.log = stdout,
		.shards = 1 };
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	char module_dir[4096];
	struct matrix_totals totals;
	time_t start = time(NULL);
	long long show = -1;

	for (int i = 1; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--all") == 0) {
			run.cases = 0;
			run.seconds = 0;
		} else if (strcmp(argv[i], "--verbose") == 0) {
			run.verbose = true;
		} else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
			run.seed = strtoull(argv[++i], &end, 0);
			if (*end != '\0')
				return usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--cases") == 0) {
			run.cases = strtoull(argv[++i], &end, 0);
			run.seconds = 0;
			if (*end != '\0' || run.cases == 0)
				return usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
			run.seconds = strtod(argv[++i], &end);
			run.cases = 0;
			if (*end != '\0' || run.seconds <= 0)
				return usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--case") == 0) {
			show = (long long)strtoull(argv[++i], &end, 0);
			if (*end != '\0')
				return usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--shard") == 0) {
			unsigned long shard = strtoul(argv[++i], &end, 10), shards;
			if (end == argv[i] || *end != '/')
				return usage();
			shards = strtoul(end + 1, &end, 10);
			if (*end != '\0' || shards == 0 || shards > 1024 || shard >= shards)
				return usage();
			run.shard = (unsigned)shard;
			run.shards = (unsigned)shards;
		} else if (i + 1 < argc && strcmp(argv[i], "--module-dir") == 0) {
			run.module_dir = argv[++i];
		} else {
			return usage();
		}
	}
	if (run.module_dir == NULL) {
		snprintf(module_dir, sizeof(module_dir), "%s/modules/debug",
			builddir != NULL ? builddir : ".");
		run.module_dir = module_dir;
	}
	if (show >= 0)
		return matrix_show(run.module_dir, (uint64_t)show);
	printf("corruption matrix: seed %llu, %s", (unsigned long long)run.seed,
		run.seconds > 0          ? "time-bounded"
			: run.cases == 0 ? "every case"
					 : "a random subset");
	if (run.shards > 1)
		printf(" (shard %u/%u: the cases whose number modulo %u is %u)", run.shard,
			run.shards, run.shards, run.shard);
	printf("\n");
	fflush(stdout);
	totals = matrix_run(&run);
	printf("corruption matrix: %llu of %llu cases run in %lld s: %llu failed, %llu caught, "
	       "%llu unseen (allowed), %llu changed no byte (seed %llu)\n",
		(unsigned long long)totals.run, (unsigned long long)totals.space,
		(long long)(time(NULL) - start), (unsigned long long)totals.failed,
		(unsigned long long)totals.caught, (unsigned long long)totals.unseen,
		(unsigned long long)totals.no_op, (unsigned long long)run.seed);
	return totals.failed == 0 ? 0 : 1;
}
