/*
 * junit.h - the JUnit XML file of "pooldump run" (see junit.c for its shape).
 *
 * Locking: none (single-threaded runner).
 */
#ifndef AREA_MALLOC_POOLDUMP_JUNIT_H
#define AREA_MALLOC_POOLDUMP_JUNIT_H

#include <stdbool.h>
#include <stdio.h>

#include "report_files.h"

/* Writes the document to out; false with error filled when it cannot. */
bool junit_write(const struct run_results *results, FILE *out, char *error, size_t error_size);

#endif /* AREA_MALLOC_POOLDUMP_JUNIT_H */
