/*
 * report_json.h - the report.json document of "pooldump run" (its members
 * are listed in report_json.c and pooldump(1)).
 *
 * Locking: none (single-threaded runner).
 */
#ifndef AREA_MALLOC_POOLDUMP_REPORT_JSON_H
#define AREA_MALLOC_POOLDUMP_REPORT_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include "report_files.h"

/* What the runner did, beside what the processes reported. */
struct run_description {
	char *const *command; /* NULL-terminated */
	const char *module_dir;
	const char *kernel_module_path; /* as the command got them */
	const char *options;
	const char *output_dir;
	const char *junit_path;
	const char *json_path;
	int exit_status; /* the runner's */
};

bool report_json_write(const struct run_results *results, const struct run_description *description,
	FILE *out, char *error, size_t error_size);

#endif /* AREA_MALLOC_POOLDUMP_REPORT_JSON_H */
