/*
 * netdrv_report_check.c - the verdict of `make demo` and `make demo-clean`:
 * reads the report.json that `pooldump run` wrote for the netdrv demo and
 * says, bug by bug, whether the debug build of area_malloc caught it and
 * named the right culprit.
 *
 *   netdrv_report_check buggy REPORT_JSON   every planted bug must be reported
 *                                           with the driver function at fault
 *   netdrv_report_check fixed REPORT_JSON   nothing may be reported
 *
 * Exit status: 0 verdict met, 1 not met, 2 usage or unreadable report.
 *
 * A report's culprit is the function of frame 0 of one of its owners
 * (detected_by: who made the faulty call; freed_by: who freed the block
 * first; allocated_by: who allocated it), as the debug module symbolized
 * it: "function+0xoff (image) file:line".
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct expectation {
	const char *bug;   /* what was planted */
	const char *kind;  /* the report kind that must name it */
	const char *owner; /* "detected_by", "freed_by", "allocated_by", or "leak" (a leak group) */
	const char *function;   /* the function that owner's frame 0 must be in */
	const char *also_owner; /* a second owner to check, or NULL */
	const char *also_function;
	const struct json_object *found;
};

static struct expectation planted[] = {
	{ "leak on the error path of an MTU change (fail_caller=rings_create)",
		"detected memory leaks", "leak", "rings_create", NULL, NULL, NULL },
	{ "packet buffer freed to the ring pool (cross-pool free)", "cross-pool-free",
		"detected_by", "netdrv_write", "allocated_by", "netdrv_write", NULL },
	{ "TX buffers freed at close, freed again by the free hook (double free)", "double-free",
		"detected_by", "rings_destroy", "freed_by", "tx_flush", NULL },
};

#define PLANTED_COUNT (sizeof(planted) / sizeof(planted[0]))

static const char *string_member(const struct json_object *object, const char *key)
{
	struct json_object *member;

	if (object == NULL || !json_object_object_get_ex(object, key, &member)
		|| !json_object_is_type(member, json_type_string))
		return NULL;
	return json_object_get_string(member);
}

static struct json_object *member(const struct json_object *object, const char *key)
{
	struct json_object *value;

	if (object == NULL || !json_object_object_get_ex(object, key, &value))
		return NULL;
	return value;
}

/* The symbol of an owner's frame 0: "function+0xoff (image) file:line". */
static const char *frame0(const struct json_object *owner)
{
	struct json_object *frames = member(owner, "frames");

	if (frames == NULL || !json_object_is_type(frames, json_type_array)
		|| json_object_array_length(frames) == 0)
		return NULL;
	return string_member(json_object_array_get_idx(frames, 0), "symbol");
}

/* True when symbol is in function (function+0x..., or a compiler clone function.isra.0+0x...). */
static bool in_function(const char *symbol, const char *function)
{
	size_t length = strlen(function);

	return symbol != NULL && strncmp(symbol, function, length) == 0
		&& (symbol[length] == '+' || symbol[length] == '.' || symbol[length] == ' '
			|| symbol[length] == '\0');
}

/* The owner's frame 0 when it is in function, else NULL; "leak": any leak group's. */
static const char *owner_in(const struct json_object *report, const char *owner,
	const char *function)
{
	struct json_object *groups = member(report, "groups");
	const char *symbol;

	if (strcmp(owner, "leak") != 0) {
		symbol = frame0(member(report, owner));
		return in_function(symbol, function) ? symbol : NULL;
	}
	if (groups == NULL || !json_object_is_type(groups, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(groups); i++) {
		symbol = frame0(member(json_object_array_get_idx(groups, i), "allocated_by"));
		if (in_function(symbol, function))
			return symbol;
	}
	return NULL;
}

static const char *pool_name(const struct json_object *report, const char *key)
{
	const char *name = string_member(member(report, key), "name");

	return name != NULL && name[0] != '\0' ? name : "(unnamed)";
}

static void print_report(const char *label, const struct json_object *report)
{
	const char *kind = string_member(report, "kind");
	const char *where = frame0(member(report, "detected_by"));
	struct json_object *groups = member(report, "groups");

	if (where == NULL && groups != NULL && json_object_is_type(groups, json_type_array)
		&& json_object_array_length(groups) > 0)
		where = frame0(member(json_object_array_get_idx(groups, 0), "allocated_by"));
	printf("  %-8s %s in pool \"%s\": %s\n", label, kind != NULL ? kind : "?",
		pool_name(report, "pool"), where != NULL ? where : "(no frame)");
}

static struct json_object *reports_of(struct json_object *document)
{
	struct json_object *reports = member(document, "reports");

	if (reports == NULL || !json_object_is_type(reports, json_type_array))
		return NULL;
	return reports;
}

/* Bug 2's consequence: the debug module refuses a cross-pool free, so the
 * buffer stays live in the packet pool and is reported at delete_pool. */
static bool is_refused_free_leak(const struct json_object *report)
{
	const char *kind = string_member(report, "kind");

	return kind != NULL && strcmp(kind, "detected memory leaks") == 0
		&& owner_in(report, "leak", "netdrv_write") != NULL;
}

static int check_buggy(struct json_object *reports)
{
	size_t count = json_object_array_length(reports);
	int caught = 0;

	for (size_t i = 0; i < count; i++) {
		struct json_object *report = json_object_array_get_idx(reports, i);
		const char *kind = string_member(report, "kind");

		for (size_t e = 0; e < PLANTED_COUNT; e++) {
			struct expectation *expectation = &planted[e];

			if (expectation->found != NULL || kind == NULL
				|| strcmp(kind, expectation->kind) != 0
				|| owner_in(report, expectation->owner, expectation->function)
					== NULL
				|| (expectation->also_owner != NULL
					&& owner_in(report, expectation->also_owner,
						   expectation->also_function)
						== NULL))
				continue;
			expectation->found = report;
			break;
		}
	}
	for (size_t e = 0; e < PLANTED_COUNT; e++) {
		const struct expectation *expectation = &planted[e];
		const struct json_object *report = expectation->found;

		if (report == NULL) {
			printf("  MISSED   %s\n           (no %s report naming %s)\n",
				expectation->bug, expectation->kind, expectation->function);
			continue;
		}
		caught++;
		printf("  caught   %s\n           %s in pool \"%s\"", expectation->bug,
			expectation->kind, pool_name(report, "pool"));
		if (member(report, "owner_pool") != NULL)
			printf(" (the block's pool: \"%s\")", pool_name(report, "owner_pool"));
		printf("\n           %s: %s\n",
			strcmp(expectation->owner, "leak") == 0 ? "leaked from"
								: expectation->owner,
			owner_in(report, expectation->owner, expectation->function));
		if (expectation->also_owner != NULL)
			printf("           %s: %s\n", expectation->also_owner,
				owner_in(report, expectation->also_owner,
					expectation->also_function));
	}
	for (size_t i = 0; i < count; i++) {
		struct json_object *report = json_object_array_get_idx(reports, i);
		bool expected = false;

		for (size_t e = 0; e < PLANTED_COUNT; e++)
			expected = expected || planted[e].found == report;
		if (expected)
			continue;
		print_report("also", report);
		if (is_refused_free_leak(report))
			printf("           (the packet buffer whose free into the ring pool was "
			       "refused)\n");
	}
	printf("\n%d of %zu planted bugs caught\n", caught, PLANTED_COUNT);
	return caught == (int)PLANTED_COUNT ? 0 : 1;
}

/* A count of the runner's totals, 0 when it has none. */
static int64_t total(struct json_object *document, const char *key)
{
	struct json_object *value = member(member(document, "totals"), key);

	return value != NULL ? json_object_get_int64(value) : 0;
}

static int check_fixed(struct json_object *document, struct json_object *reports)
{
	size_t count = json_object_array_length(reports);
	int64_t unprinted = total(document, "unprinted_reports");

	for (size_t i = 0; i < count; i++)
		print_report("reported", json_object_array_get_idx(reports, i));
	if (count == 0 && unprinted == 0) {
		printf("  no errors, no leaks\n");
		return 0;
	}
	printf("\n%zu report(s), %" PRId64 " more not printed: the fixed driver is not clean\n",
		count, unprinted);
	return 1;
}

int main(int argc, char **argv)
{
	struct json_object *document, *reports;
	int verdict;

	if (argc != 3 || (strcmp(argv[1], "buggy") != 0 && strcmp(argv[1], "fixed") != 0)) {
		fprintf(stderr, "usage: %s buggy|fixed REPORT_JSON\n", argv[0]);
		return 2;
	}
	document = json_object_from_file(argv[2]);
	if (document == NULL) {
		fprintf(stderr, "%s: cannot read %s: %s\n", argv[0], argv[2],
			json_util_get_last_err());
		return 2;
	}
	reports = reports_of(document);
	if (reports == NULL) {
		fprintf(stderr, "%s: %s has no \"reports\" array\n", argv[0], argv[2]);
		json_object_put(document);
		return 2;
	}
	verdict = strcmp(argv[1], "buggy") == 0 ? check_buggy(reports)
						: check_fixed(document, reports);
	json_object_put(document);
	return verdict;
}
