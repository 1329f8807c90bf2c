/*
 * victim.c - symbolize_victim RECORDS: the dead process of the post-mortem test.
 *
 * Role
 *   A non-PIE program (loaded at its link address, load bias 0) that records
 *   its images into the file RECORDS as an array of symbolizer_image_record,
 *   symbolizes one of its own call sites while alive and prints
 *   "ADDRESS LINE FORMATTED" (address in hex). After it has exited, the test
 *   symbolizes ADDRESS from RECORDS and must get FORMATTED back.
 *
 * Invariants: exits 0 only when everything was written; 2 on bad usage, 1 on
 *   any other failure (with a message on stderr).
 * Locking: single-threaded.
 */
#include "config.h"

#include "format/symbolize.h"
#include "probe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((noipa)) static void victim_probe(struct probe_site *site)
{
	PROBE_SITE(site);
}

static int write_records(const char *path)
{
	size_t count = symbolizer_list_self_images(NULL, 0);
	struct symbolizer_image_record *records = calloc(count, sizeof *records);
	if (records == NULL || symbolizer_list_self_images(records, count) != count) {
		free(records);
		return -1;
	}
	FILE *file = fopen(path, "wb");
	int result = -1;
	if (file != NULL) {
		if (fwrite(records, sizeof *records, count, file) == count)
			result = 0;
		if (fclose(file) != 0)
			result = -1;
	}
	free(records);
	return result;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s RECORDS-FILE\n", argv[0]);
		return 2;
	}
	struct probe_site site;
	victim_probe(&site);
	if (write_records(argv[1]) != 0) {
		perror(argv[1]);
		return 1;
	}
	struct symbolizer *self = symbolizer_open_self();
	if (self == NULL) {
		perror("symbolizer_open_self");
		return 1;
	}
	struct symbol_info info;
	char text[8192];
	bool known = symbolize(self, site.return_address, &info);
	symbolizer_close(self);
	if (!known) {
		fprintf(stderr, "cannot symbolize own call site %#" PRIxPTR "\n",
			site.return_address);
		return 1;
	}
	printf("%" PRIxPTR " %d %s\n", site.return_address, site.line,
		symbol_format(&info, text, sizeof text));
	return fflush(stdout) == 0 ? 0 : 1;
}
