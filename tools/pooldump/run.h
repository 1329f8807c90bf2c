/*
 * run.h - "pooldump run", the QA runner: runs a command with the debug
 * build of area_malloc swapped in, collects the reports of every process it
 * starts, prints a summary and writes junit.xml and report.json
 * (pooldump(1), RUN).
 *
 * Locking: single-threaded.
 */
#ifndef AREA_MALLOC_POOLDUMP_RUN_H
#define AREA_MALLOC_POOLDUMP_RUN_H

#include <stdio.h>

/* Exit statuses of the runner itself (as env(1) and timeout(1) use them). */
#define RUN_STATUS_REPORTS 23         /* errors or leaks were reported */
#define RUN_STATUS_RUNNER_ERROR 125   /* bad option, unwritable output... */
#define RUN_STATUS_CANNOT_EXECUTE 126 /* found, but cannot be run */
#define RUN_STATUS_NOT_FOUND 127      /* no such command */

/* argv[0] is "run"; returns the exit status. */
int run_main(int argc, char **argv);

void run_usage(FILE *out);

#endif /* AREA_MALLOC_POOLDUMP_RUN_H */
