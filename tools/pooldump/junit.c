/*
 * junit.c - writes a run's reports as JUnit XML (libxml2's xmlwriter), the
 * shape CI servers read (Jenkins' JUnit plugin, GitLab's unit test reports;
 * tests/runner/junit.xsd is the structure both accept):
 *
 *   <testsuites name="area_malloc" tests failures errors skipped time>
 *     <testsuite name=EXECUTABLE tests failures errors skipped time>
 *       <testcase classname=EXECUTABLE name=EXECUTABLE or CHECK_TEST time>
 *         <failure type=KIND message=SUMMARY_LINE(S)><![CDATA[text reports]]></failure>
 *         (a leak report made after a reachability scan adds its verdicts to
 *         its summary line: " [unreferenced: N byte(s) in M allocation(s), ...]")
 *         or <error type="signal" message="the command was killed by signal N (SIGNAME)"/>
 *         <system-out>reports that do not fail the run</system-out>
 *       </testcase>
 *       <system-err>warnings about the suite's report files</system-err>
 *     </testsuite>
 *   </testsuites>
 *
 * Names are stable from run to run, so that a CI server keeps each test's
 * history: one suite per executable (processes grouped by name, the
 * command's own first); in it one test case named after the executable,
 * for everything its processes did outside a Check test (all its
 * processes merge into it; it passes when they reported nothing), and one
 * per Check test that reported (from every process that ran it: Check's
 * fork mode runs each test in a child). Never a pid.
 *
 * One outcome per test case, as the strictest consumers read it (several
 * <failure> elements show as one, or as passed): all of a case's failing
 * reports are one <failure> whose text holds them all in order, with the
 * command's death by a signal appended; a case with no failing report
 * whose process died of a signal has an <error>. time is on every case and
 * suite: the command's run time on the case of its own executable, 0 on
 * the others (the runner cannot time a Check test or another process).
 *
 * Invariants: everything written goes through utf8_clean(.., true): XML 1.0
 * cannot hold most control characters even as references, so they become
 * U+FFFD; "]]>" inside a report is split across two CDATA sections.
 *
 * Locking: none (single-threaded runner).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "junit.h"

struct test_case {
	const char *name; /* the executable, or the Check test */
	const struct run_report **reports;
	size_t report_count;
	size_t failing;    /* reports that fail the run */
	bool signal_error; /* the command's process died of a signal */
	double seconds;
};

struct test_suite {
	const char *name;
	struct test_case *cases;
	size_t case_count;
	size_t failures;
	size_t errors;
	double seconds;
};

struct junit_writer {
	xmlTextWriterPtr writer;
	bool failed; /* an xmlwriter call failed */
};

static void *grow(void *memory, size_t count, size_t size)
{
	void *grown = realloc(memory, count * size);

	if (grown == NULL) {
		fputs("pooldump: out of memory\n", stderr);
		exit(125);
	}
	return grown;
}

static void case_add_report(struct test_case *test_case, const struct run_report *report)
{
	test_case->reports =
		grow(test_case->reports, test_case->report_count + 1, sizeof(*test_case->reports));
	test_case->reports[test_case->report_count++] = report;
	test_case->failing += report->failing;
}

/* The suite's case of this name, added when new. */
static struct test_case *test_case_named(struct test_suite *suite, const char *name)
{
	struct test_case *test_case;

	for (size_t i = 0; i < suite->case_count; i++) {
		if (strcmp(suite->cases[i].name, name) == 0)
			return &suite->cases[i];
	}
	suite->cases = grow(suite->cases, suite->case_count + 1, sizeof(*suite->cases));
	test_case = &suite->cases[suite->case_count++];
	memset(test_case, 0, sizeof(*test_case));
	test_case->name = name;
	return test_case;
}

/* Files one process's reports into its suite. */
static void add_process(const struct run_results *results, struct test_suite *suite,
	const struct run_process *process)
{
	/* first: the executable's own case leads its suite */
	struct test_case *own = test_case_named(suite, suite->name);

	if (process->main) {
		own->seconds = results->seconds;
		own->signal_error = results->main_exit.known && results->main_exit.signaled;
	}
	for (size_t r = 0; r < process->report_count; r++) {
		const struct run_report *report = &process->reports[r];
		case_add_report(test_case_named(suite,
					report->test != NULL ? report->test : suite->name),
			report);
	}
}

/* Groups the processes into suites, one per executable name. */
static struct test_suite *build_suites(const struct run_results *results, size_t *count)
{
	struct test_suite *suites = NULL;

	*count = 0;
	for (size_t p = 0; p < results->process_count; p++) {
		const struct run_process *process = &results->processes[p];
		struct test_suite *suite = NULL;

		for (size_t s = 0; s < *count && suite == NULL; s++) {
			if (strcmp(suites[s].name, process->name) == 0)
				suite = &suites[s];
		}
		if (suite == NULL) {
			suites = grow(suites, *count + 1, sizeof(*suites));
			suite = &suites[(*count)++];
			memset(suite, 0, sizeof(*suite));
			suite->name = process->name;
		}
		add_process(results, suite, process);
	}
	for (size_t s = 0; s < *count; s++) {
		for (size_t c = 0; c < suites[s].case_count; c++) {
			const struct test_case *test_case = &suites[s].cases[c];
			suites[s].failures += test_case->failing > 0;
			suites[s].errors += test_case->failing == 0 && test_case->signal_error;
			suites[s].seconds += test_case->seconds;
		}
	}
	return suites;
}

static void free_suites(struct test_suite *suites, size_t count)
{
	for (size_t s = 0; s < count; s++) {
		for (size_t c = 0; c < suites[s].case_count; c++)
			free(suites[s].cases[c].reports);
		free(suites[s].cases);
	}
	free(suites);
}

/* ---- writing ---- */

static void check(struct junit_writer *junit, int result)
{
	if (result < 0)
		junit->failed = true;
}

static void start(struct junit_writer *junit, const char *element)
{
	check(junit, xmlTextWriterStartElement(junit->writer, BAD_CAST element));
}

static void end(struct junit_writer *junit)
{
	check(junit, xmlTextWriterEndElement(junit->writer));
}

static void attribute(struct junit_writer *junit, const char *name, const char *value)
{
	char *clean = utf8_clean(value, strlen(value), true);

	if (clean == NULL) {
		junit->failed = true;
		return;
	}
	check(junit, xmlTextWriterWriteAttribute(junit->writer, BAD_CAST name, BAD_CAST clean));
	free(clean);
}

static void attribute_number(struct junit_writer *junit, const char *name, size_t value)
{
	char text[32];

	snprintf(text, sizeof(text), "%zu", value);
	attribute(junit, name, text);
}

/* Text as CDATA sections: "]]>" ends a section, so it is split between
 * two ("]]" closes the first, ">" opens the second). */
static void cdata(struct junit_writer *junit, const char *text)
{
	char *clean = utf8_clean(text, strlen(text), true);
	const char *cursor = clean, *split;

	if (clean == NULL) {
		junit->failed = true;
		return;
	}
	for (;;) {
		split = strstr(cursor, "]]>");
		check(junit, xmlTextWriterStartCDATA(junit->writer));
		if (split == NULL) {
			check(junit, xmlTextWriterWriteRaw(junit->writer, BAD_CAST cursor));
			check(junit, xmlTextWriterEndCDATA(junit->writer));
			break;
		}
		check(junit,
			xmlTextWriterWriteRawLen(junit->writer, BAD_CAST cursor,
				(int)(split + 2 - cursor)));
		check(junit, xmlTextWriterEndCDATA(junit->writer));
		cursor = split + 2;
	}
	free(clean);
}

static void attribute_seconds(struct junit_writer *junit, const char *name, double seconds)
{
	char text[32];

	snprintf(text, sizeof(text), "%.3f", seconds);
	attribute(junit, name, text);
}

/* "the command was killed by signal 11 (SIGSEGV)" */
static void signal_message(const struct run_results *results, char *buffer, size_t size)
{
	char how[96];

	run_exit_describe(&results->main_exit, how, sizeof(how));
	snprintf(buffer, size, "the command was %s", how);
}

/*
 * The case's one <failure>: its kind when all its failing reports share
 * one (else "multiple"), their summary lines (with a count when several),
 * and their text reports one after the other.
 */
static void write_failure(struct junit_writer *junit, const struct run_results *results,
	const struct test_case *test_case)
{
	const char *kind = NULL;
	char *message = NULL;
	size_t length = 0;
	FILE *text = open_memstream(&message, &length);

	if (text == NULL) {
		junit->failed = true;
		return;
	}
	if (test_case->failing > 1)
		fprintf(text, "%zu reports: ", test_case->failing);
	for (size_t r = 0, written = 0; r < test_case->report_count; r++) {
		const struct run_report *report = test_case->reports[r];
		if (!report->failing)
			continue;
		kind = kind == NULL || strcmp(kind, report->kind) == 0 ? report->kind : "multiple";
		fprintf(text, "%s%s", written++ > 0 ? "; " : "", report->summary);
		if (report->reach.scanned) {
			char reach[512];
			run_reach_phrase(&report->reach, reach, sizeof(reach));
			fprintf(text, " [%s]", reach);
		}
	}
	if (fclose(text) != 0) {
		free(message);
		junit->failed = true;
		return;
	}
	start(junit, "failure");
	attribute(junit, "type", kind);
	attribute(junit, "message", message);
	free(message);
	for (size_t r = 0, written = 0; r < test_case->report_count; r++) {
		if (!test_case->reports[r]->failing)
			continue;
		if (written++ > 0)
			cdata(junit, "\n");
		cdata(junit, test_case->reports[r]->text);
	}
	if (test_case->signal_error) {
		char died[128];
		signal_message(results, died, sizeof(died));
		cdata(junit, "\n");
		cdata(junit, died);
		cdata(junit, "\n");
	}
	end(junit);
}

static void write_case(struct junit_writer *junit, const struct run_results *results,
	const struct test_suite *suite, const struct test_case *test_case)
{
	bool informational = false;

	start(junit, "testcase");
	attribute(junit, "classname", suite->name);
	attribute(junit, "name", test_case->name);
	attribute_seconds(junit, "time", test_case->seconds);
	for (size_t r = 0; r < test_case->report_count; r++)
		informational |= !test_case->reports[r]->failing;
	if (test_case->failing > 0) {
		write_failure(junit, results, test_case);
	} else if (test_case->signal_error) {
		char died[128];
		signal_message(results, died, sizeof(died));
		start(junit, "error");
		attribute(junit, "type", "signal");
		attribute(junit, "message", died);
		end(junit);
	}
	if (informational) {
		/* reports that do not fail the run (leaks listed on request) */
		start(junit, "system-out");
		for (size_t r = 0; r < test_case->report_count; r++) {
			if (!test_case->reports[r]->failing)
				cdata(junit, test_case->reports[r]->text);
		}
		end(junit);
	}
	end(junit);
}

static bool suite_has_process(const struct test_suite *suite, const struct run_results *results,
	pid_t pid)
{
	for (size_t p = 0; p < results->process_count; p++) {
		if (results->processes[p].pid == pid)
			return strcmp(results->processes[p].name, suite->name) == 0;
	}
	return false;
}

static void write_suite(struct junit_writer *junit, const struct run_results *results,
	const struct test_suite *suite)
{
	bool warned = false;

	start(junit, "testsuite");
	attribute(junit, "name", suite->name);
	attribute_number(junit, "tests", suite->case_count);
	attribute_number(junit, "failures", suite->failures);
	attribute_number(junit, "errors", suite->errors);
	attribute_number(junit, "skipped", 0);
	attribute_seconds(junit, "time", suite->seconds);
	for (size_t c = 0; c < suite->case_count; c++)
		write_case(junit, results, suite, &suite->cases[c]);
	for (size_t w = 0; w < results->warning_count; w++) {
		const struct run_warning *warning = &results->warnings[w];
		if (warning->pid == 0 || !suite_has_process(suite, results, warning->pid))
			continue;
		if (!warned)
			start(junit, "system-err");
		warned = true;
		cdata(junit, warning->text);
		cdata(junit, "\n");
	}
	if (warned)
		end(junit);
	end(junit);
}

bool junit_write(const struct run_results *results, FILE *out, char *error, size_t error_size)
{
	struct junit_writer junit = { NULL, false };
	size_t suite_count, tests = 0, failures = 0, errors = 0;
	struct test_suite *suites;
	xmlBufferPtr buffer;

	buffer = xmlBufferCreate();
	junit.writer = buffer != NULL ? xmlNewTextWriterMemory(buffer, 0) : NULL;
	if (junit.writer == NULL) {
		snprintf(error, error_size, "cannot start the XML writer");
		if (buffer != NULL)
			xmlBufferFree(buffer);
		return false;
	}
	suites = build_suites(results, &suite_count);
	for (size_t s = 0; s < suite_count; s++) {
		tests += suites[s].case_count;
		failures += suites[s].failures;
		errors += suites[s].errors;
	}
	check(&junit, xmlTextWriterSetIndent(junit.writer, 1));
	check(&junit, xmlTextWriterSetIndentString(junit.writer, BAD_CAST "  "));
	check(&junit, xmlTextWriterStartDocument(junit.writer, NULL, "UTF-8", NULL));
	start(&junit, "testsuites");
	attribute(&junit, "name", "area_malloc");
	attribute_number(&junit, "tests", tests);
	attribute_number(&junit, "failures", failures);
	attribute_number(&junit, "errors", errors);
	attribute_number(&junit, "skipped", 0);
	attribute_seconds(&junit, "time", results->seconds);
	for (size_t s = 0; s < suite_count; s++)
		write_suite(&junit, results, &suites[s]);
	end(&junit);
	check(&junit, xmlTextWriterEndDocument(junit.writer));
	xmlFreeTextWriter(junit.writer);
	free_suites(suites, suite_count);

	if (junit.failed) {
		snprintf(error, error_size, "the XML writer failed");
	} else if (fwrite(xmlBufferContent(buffer), 1, (size_t)xmlBufferLength(buffer), out)
		!= (size_t)xmlBufferLength(buffer)) {
		snprintf(error, error_size, "%s", strerror(errno));
		junit.failed = true;
	}
	xmlBufferFree(buffer);
	return !junit.failed;
}
