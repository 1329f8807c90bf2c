/*
 * test_runner.c - "pooldump run", the QA runner, end to end and in parts.
 *
 * The end-to-end cases run the built pooldump (AREA_MALLOC_TEST_BUILDDIR)
 * over runner_driver and check_driver with a private output directory per
 * test, and check what a CI job sees: the exit status, the summary on
 * standard output, the reports echoed in full, the warnings and the
 * pointers at killed processes' post-mortem nodes on standard error,
 * junit.xml (parsed with libxml2, queried with XPath, validated against
 * junit.xsd with xmllint, its test-case names compared over two runs) and
 * report.json (parsed with json-c): counts, kinds, pids, Check test names,
 * failure messages, and the environment the command gets. The unit cases feed the report-file parser
 * and the JUnit writer (linked in from tools/pooldump) fabricated files:
 * cut, malformed and hostile ones.
 *
 * Expected lines are read from the drivers' sources ("runner-site:NAME"
 * tags), pool ids and pids from report.json, so nothing depends on the
 * machine.
 *
 * Locking: single-threaded; Check runs each test in its own child.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "junit.h"
#include "report_files.h"
#include "support/check_main.h"
#include "support/read_stream.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* dir/name in buffer (which must hold it). */
static const char *path_join(char *buffer, size_t size, const char *dir, const char *name)
{
	size_t dir_length = strlen(dir), name_length = strlen(name);

	ck_assert_uint_lt(dir_length + 1 + name_length, size);
	memcpy(buffer, dir, dir_length);
	buffer[dir_length] = '/';
	memcpy(buffer + dir_length + 1, name, name_length + 1);
	return buffer;
}

/* ---- fixture: a private directory per test ---- */

static char scratch[PATH_MAX]; /* the test's directory */
static char out_dir[PATH_MAX]; /* scratch/out, the runner's -o */

static void scratch_setup(void)
{
	snprintf(scratch, sizeof(scratch), "/tmp/test_runner.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	path_join(out_dir, sizeof(out_dir), scratch, "out");
}

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
	(void)status;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void scratch_teardown(void)
{
	nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *builddir(void)
{
	const char *dir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	ck_assert_msg(dir != NULL, "AREA_MALLOC_TEST_BUILDDIR is not set (run through make check)");
	return dir;
}

static const char *built(const char *relative)
{
	static char paths[4][PATH_MAX];
	static int next;

	return path_join(paths[next++ % 4], PATH_MAX, builddir(), relative);
}

#define POOLDUMP built("tools/pooldump/pooldump")
#define RUNNER_DRIVER built("tests/runner/runner_driver")
#define CHECK_DRIVER built("tests/runner/check_driver")

static char *read_file(const char *path)
{
	FILE *file = fopen(path, "re");

	return file == NULL ? NULL : read_stream(file);
}

static void write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "we");

	ck_assert_msg(file != NULL, "%s: %s", path, strerror(errno));
	fputs(text, file);
	ck_assert_int_eq(fclose(file), 0);
}

static bool exists(const char *path)
{
	struct stat status;

	return stat(path, &status) == 0;
}

/* The line of "runner-site:NAME" in a driver's source. */
static int site_line(const char *source, const char *site)
{
	char *text = read_file(source), tag[128];
	const char *found;
	int line = 1;

	ck_assert_msg(text != NULL, "cannot read %s", source);
	snprintf(tag, sizeof(tag), "runner-site:%s", site);
	found = strstr(text, tag);
	ck_assert_msg(found != NULL, "no %s in %s", tag, source);
	for (const char *c = text; c < found; c++)
		line += *c == '\n';
	free(text);
	return line;
}

/* ---- running pooldump run ---- */

struct run {
	int status; /* exit status (asserted: no signal) */
	char *out;
	char *err;
	struct json_object *json; /* report.json, or NULL */
	xmlDocPtr junit;          /* junit.xml, or NULL */
};

/*
 * Starts "pooldump ARGUMENTS" in cwd (NULL: ours) with the environment
 * changed by changes ("KEY=VALUE" sets, "KEY" unsets), its output to
 * scratch/stdout and scratch/stderr. The variables a developer may have
 * set that would change what the runner or the drivers do are unset first.
 */
static pid_t start_pooldump(const char *cwd, const char *const *changes,
	const char *const *arguments)
{
	static const char *const cleared[] = { "AREA_MALLOC_OPTIONS", "CK_FORK", "CK_RUN_SUITE",
		"CK_RUN_CASE", "CK_INCLUDE_TAGS", "CK_EXCLUDE_TAGS", "CK_TAP_LOG_FILE_NAME",
		"CK_XML_LOG_FILE_NAME", "CK_LOG_FILE_NAME" };
	char out_path[PATH_MAX], err_path[PATH_MAX];
	const char *argv[64];
	size_t count = 0;
	pid_t child;

	argv[count++] = "pooldump";
	for (; arguments[count - 1] != NULL; count++) {
		ck_assert_uint_lt(count, 63);
		argv[count] = arguments[count - 1];
	}
	argv[count] = NULL;
	path_join(out_path, sizeof(out_path), scratch, "stdout");
	path_join(err_path, sizeof(err_path), scratch, "stderr");
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(99);
		for (size_t i = 0; i < sizeof(cleared) / sizeof(cleared[0]); i++)
			unsetenv(cleared[i]);
		for (size_t i = 0; changes != NULL && changes[i] != NULL; i++) {
			const char *equals = strchr(changes[i], '=');
			if (equals == NULL) {
				unsetenv(changes[i]);
			} else {
				char key[128];
				snprintf(key, sizeof(key), "%.*s", (int)(equals - changes[i]),
					changes[i]);
				setenv(key, equals + 1, 1);
			}
		}
		if (cwd != NULL && chdir(cwd) != 0)
			_exit(98);
		execv(POOLDUMP, (char *const *)argv);
		_exit(97);
	}
	return child;
}

static void run_finish(struct run *run, pid_t child, const char *output_dir)
{
	char path[PATH_MAX];
	int status;

	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status), "pooldump died of signal %d", WTERMSIG(status));
	run->status = WEXITSTATUS(status);
	path_join(path, sizeof(path), scratch, "stdout");
	run->out = read_file(path);
	path_join(path, sizeof(path), scratch, "stderr");
	run->err = read_file(path);
	ck_assert(run->out != NULL && run->err != NULL);
	run->json = NULL;
	run->junit = NULL;
	if (output_dir == NULL)
		return;
	path_join(path, sizeof(path), output_dir, "report.json");
	if (exists(path)) {
		run->json = json_object_from_file(path);
		ck_assert_msg(run->json != NULL, "report.json does not parse: %s",
			json_util_get_last_err());
	}
	path_join(path, sizeof(path), output_dir, "junit.xml");
	if (exists(path)) {
		run->junit = xmlReadFile(path, NULL, XML_PARSE_NONET);
		ck_assert_msg(run->junit != NULL, "junit.xml does not parse");
	}
}

static void run_free(struct run *run)
{
	free(run->out);
	free(run->err);
	json_object_put(run->json);
	if (run->junit != NULL)
		xmlFreeDoc(run->junit);
}

/* pooldump ARGUMENTS, in cwd, with changes to the environment. */
static struct run run_in(const char *cwd, const char *const *changes, const char *const *arguments)
{
	struct run run;

	run_finish(&run, start_pooldump(cwd, changes, arguments), out_dir);
	return run;
}

#define ENVIRONMENT(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ARGUMENTS(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* "pooldump run -o OUT_DIR ARGUMENTS" */
#define RUN(...) run_in(NULL, NULL, ARGUMENTS("run", "-o", out_dir, __VA_ARGS__))
#define RUN_WITH(changes, ...) run_in(NULL, changes, ARGUMENTS("run", "-o", out_dir, __VA_ARGS__))

/* ---- reading the outputs ---- */

/* Collapses runs of blanks, so column widths do not matter. */
static char *squeeze(const char *text)
{
	char *copy = strdup(text), *to = copy;

	ck_assert_ptr_nonnull(copy);
	for (const char *from = text; *from != '\0'; from++) {
		if (*from == ' ' && to > copy && to[-1] == ' ')
			continue;
		*to++ = *from;
	}
	*to = '\0';
	return copy;
}

/* Asserts that output holds line (blanks squeezed in both) as a whole line. */
#define assert_line(output, ...) assert_line_at(__LINE__, output, __VA_ARGS__)
static void assert_line_at(int test_line, const char *output, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
static void assert_line_at(int test_line, const char *output, const char *format, ...)
{
	char wanted[2048], framed[2100];
	char *squeezed_output, *squeezed_line, *with_newlines;
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(wanted, sizeof(wanted), format, arguments);
	va_end(arguments);
	snprintf(framed, sizeof(framed), "\n%s\n", wanted);
	squeezed_line = squeeze(framed);
	with_newlines = malloc(strlen(output) + 2);
	ck_assert_ptr_nonnull(with_newlines);
	sprintf(with_newlines, "\n%s", output);
	squeezed_output = squeeze(with_newlines);
	ck_assert_msg(strstr(squeezed_output, squeezed_line) != NULL,
		"line %d: no line\n%s\nin the output:\n%s", test_line, wanted, output);
	free(squeezed_output);
	free(squeezed_line);
	free(with_newlines);
}

static struct json_object *member(struct json_object *object, const char *key)
{
	struct json_object *value;

	ck_assert_msg(json_object_object_get_ex(object, key, &value), "no member \"%s\" in %s", key,
		json_object_to_json_string(object));
	return value;
}

static const char *member_string(struct json_object *object, const char *key)
{
	struct json_object *value = member(object, key);

	ck_assert_msg(json_object_is_type(value, json_type_string), "\"%s\" is not a string", key);
	return json_object_get_string(value);
}

static int64_t member_int(struct json_object *object, const char *key)
{
	struct json_object *value = member(object, key);

	ck_assert_msg(json_object_is_type(value, json_type_int), "\"%s\" is not a number", key);
	return json_object_get_int64(value);
}

static bool member_bool(struct json_object *object, const char *key)
{
	struct json_object *value = member(object, key);

	ck_assert_msg(json_object_is_type(value, json_type_boolean), "\"%s\" is not a bool", key);
	return json_object_get_boolean(value);
}

static bool has_member(struct json_object *object, const char *key)
{
	return json_object_object_get_ex(object, key, NULL);
}

static size_t array_length(struct json_object *object, const char *key)
{
	struct json_object *array = member(object, key);

	ck_assert(json_object_is_type(array, json_type_array));
	return json_object_array_length(array);
}

static struct json_object *item(struct json_object *object, const char *key, size_t index)
{
	ck_assert_uint_lt(index, array_length(object, key));
	return json_object_array_get_idx(member(object, key), index);
}

static struct json_object *process_of(const struct run *run, pid_t pid)
{
	for (size_t i = 0; i < array_length(run->json, "processes"); i++) {
		struct json_object *process = item(run->json, "processes", i);
		if (member_int(process, "pid") == pid)
			return process;
	}
	ck_abort_msg("no process %d in report.json", (int)pid);
	return NULL;
}

static pid_t main_pid(const struct run *run)
{
	struct json_object *process = item(run->json, "processes", 0);

	ck_assert(member_bool(process, "main"));
	return (pid_t)member_int(process, "pid");
}

/* How many reports of report.json came from pid; the index-th of them. */
static size_t reports_of(const struct run *run, pid_t pid, size_t index,
	struct json_object **report)
{
	size_t found = 0;

	*report = NULL;
	for (size_t i = 0; i < array_length(run->json, "reports"); i++) {
		struct json_object *candidate = item(run->json, "reports", i);
		if (member_int(candidate, "pid") != pid)
			continue;
		if (found++ == index)
			*report = candidate;
	}
	return found;
}

static int64_t total(const struct run *run, const char *key)
{
	return member_int(member(run->json, "totals"), key);
}

static double xpath_number(xmlDocPtr doc, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
static double xpath_number(xmlDocPtr doc, const char *format, ...)
{
	xmlXPathContextPtr context = xmlXPathNewContext(doc);
	xmlXPathObjectPtr result;
	char expression[1024];
	va_list arguments;
	double value;

	va_start(arguments, format);
	vsnprintf(expression, sizeof(expression), format, arguments);
	va_end(arguments);
	result = xmlXPathEvalExpression(BAD_CAST expression, context);
	ck_assert_msg(result != NULL, "bad XPath %s", expression);
	value = xmlXPathCastToNumber(result);
	xmlXPathFreeObject(result);
	xmlXPathFreeContext(context);
	return value;
}

/* The string value of an XPath expression; free() it. */
static char *xpath_string(xmlDocPtr doc, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
static char *xpath_string(xmlDocPtr doc, const char *format, ...)
{
	xmlXPathContextPtr context = xmlXPathNewContext(doc);
	xmlXPathObjectPtr result;
	char expression[1024];
	xmlChar *value;
	char *copy;
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(expression, sizeof(expression), format, arguments);
	va_end(arguments);
	result = xmlXPathEvalExpression(BAD_CAST expression, context);
	ck_assert_msg(result != NULL, "bad XPath %s", expression);
	value = xmlXPathCastToString(result);
	copy = strdup((const char *)value);
	xmlFree(value);
	xmlXPathFreeObject(result);
	xmlXPathFreeContext(context);
	return copy;
}

#define assert_xpath_count(doc, expected, ...)                                                     \
	ck_assert_msg(xpath_number(doc, __VA_ARGS__) == (expected), "%s: %g, not %d",              \
		#__VA_ARGS__, xpath_number(doc, __VA_ARGS__), (int)(expected))

static void assert_xpath_string(xmlDocPtr doc, const char *expected, const char *expression)
{
	char *value = xpath_string(doc, "%s", expression);

	ck_assert_msg(strcmp(value, expected) == 0, "%s is \"%s\", not \"%s\"", expression, value,
		expected);
	free(value);
}

/* The debug module's text report, reports[index]: the failure's body. */
static void assert_failure_is_report(const struct run *run, const char *testcase,
	struct json_object *report)
{
	char expression[512];
	char *body, *message;

	snprintf(expression, sizeof(expression),
		"string(//testcase[@name='%s']/failure[@type='%s' and @message='%s'])", testcase,
		member_string(report, "kind"), member_string(report, "summary"));
	body = xpath_string(run->junit, "%s", expression);
	ck_assert_msg(strcmp(body, member_string(report, "text")) == 0,
		"%s:\n%s\nis not the text report\n%s", expression, body,
		member_string(report, "text"));
	snprintf(expression, sizeof(expression),
		"string(//testcase[@name='%s']/failure[@type='%s']/@message)", testcase,
		member_string(report, "kind"));
	message = xpath_string(run->junit, "%s", expression);
	ck_assert_str_eq(message, member_string(report, "summary"));
	ck_assert_msg(strncmp(message, "SUMMARY: area_malloc: ", 22) == 0, "message %s", message);
	free(body);
	free(message);
}

/* A scanned leak report's verdicts as the runner appends them to its
 * summary: " [unreferenced: N byte(s) in M allocation(s), ...]", from its
 * "reach" member (nothing when it is null or absent). */
static void reach_phrase(struct json_object *report, FILE *out)
{
	static const char *const keys[] = { "unreferenced", "indirect", "referenced" };
	static const char *const names[] = { "unreferenced", "indirectly lost",
		"still referenced" };
	struct json_object *reach = has_member(report, "reach") ? member(report, "reach") : NULL;
	bool first = true;

	if (reach == NULL)
		return;
	fputs(" [", out);
	for (size_t k = 0; k < 3; k++) {
		struct json_object *counts = member(reach, keys[k]);
		if (member_int(counts, "blocks") == 0)
			continue;
		fprintf(out, "%s%s: %" PRId64 " byte(s) in %" PRId64 " allocation(s)",
			first ? "" : ", ", names[k], member_int(counts, "bytes"),
			member_int(counts, "blocks"));
		first = false;
	}
	fputc(']', out);
}

/* The one failure of a test case holding several reports: "multiple"
 * unless they share a kind, "N reports: " and their summaries as its
 * message, their text reports one after the other as its body. */
static void assert_failure_holds(const struct run *run, const char *testcase,
	struct json_object *const *reports, size_t count)
{
	char expression[256], *body, *message, *want_message = NULL, *want_body = NULL;
	size_t message_length = 0, body_length = 0;
	FILE *message_text = open_memstream(&want_message, &message_length);
	FILE *body_text = open_memstream(&want_body, &body_length);
	const char *kind = NULL;

	ck_assert(message_text != NULL && body_text != NULL);
	fprintf(message_text, "%zu reports: ", count);
	for (size_t r = 0; r < count; r++) {
		const char *this_kind = member_string(reports[r], "kind");
		kind = kind == NULL || strcmp(kind, this_kind) == 0 ? this_kind : "multiple";
		fprintf(message_text, "%s%s", r > 0 ? "; " : "",
			member_string(reports[r], "summary"));
		reach_phrase(reports[r], message_text);
		fprintf(body_text, "%s%s", r > 0 ? "\n" : "", member_string(reports[r], "text"));
	}
	fclose(message_text);
	fclose(body_text);
	snprintf(expression, sizeof(expression), "count(//testcase[@name='%s']/failure)", testcase);
	assert_xpath_count(run->junit, 1, "%s", expression);
	snprintf(expression, sizeof(expression), "string(//testcase[@name='%s']/failure/@type)",
		testcase);
	assert_xpath_string(run->junit, kind, expression);
	snprintf(expression, sizeof(expression), "string(//testcase[@name='%s']/failure/@message)",
		testcase);
	message = xpath_string(run->junit, "%s", expression);
	ck_assert_str_eq(message, want_message);
	snprintf(expression, sizeof(expression), "string(//testcase[@name='%s']/failure)",
		testcase);
	body = xpath_string(run->junit, "%s", expression);
	ck_assert_str_eq(body, want_body);
	free(message);
	free(body);
	free(want_message);
	free(want_body);
}

/* The report a process made of its pool never deleted ("leaked-pool"):
 * runner_driver's pools are 256 KiB, check_driver's 128 KiB. */
static void assert_leaked_pool(struct json_object *report, const char *pool_name, int64_t bytes)
{
	ck_assert_ptr_nonnull(report);
	ck_assert_str_eq(member_string(report, "kind"), "leaked-pool");
	ck_assert_str_eq(member_string(report, "when"), "at exit");
	ck_assert_int_eq(member_int(report, "leaked_bytes"), bytes);
	ck_assert_int_eq(member_int(report, "leaked_blocks"), 1);
	ck_assert_str_eq(member_string(member(report, "pool"), "name"), pool_name);
	ck_assert(member_bool(report, "failing"));
}

#define RUNNER_POOL_BYTES (256 * 1024)
#define CHECK_POOL_BYTES (128 * 1024)

/* The summary line of a report: "KIND ... -- function file:line". */
static const char *pool_of(struct json_object *report, char *buffer, size_t size)
{
	struct json_object *pool = member(report, "pool");

	snprintf(buffer, size, "pool %d (%s)", (int)member_int(pool, "id"),
		member_string(pool, "name"));
	return buffer;
}

/* ---- cli ---- */

START_TEST(test_help)
{
	struct run run = run_in(NULL, NULL, ARGUMENTS("run", "--help"));

	ck_assert_int_eq(run.status, 0);
	ck_assert_str_eq(run.err, "");
	for (const char *const *option = ARGUMENTS("--output-dir DIR", "--junit FILE",
		     "--json FILE", "--suppressions FILE", "--halt-on-error", "--log-size N",
		     "--quarantine-bytes N", "--stack-depth N", "--fail-nth N", "--fail-rate R",
		     "--fail-seed S", "--fail-caller PATTERN", "--options 'k=v:k=v'", "--scan",
		     "--leak-mode MODE", "--guard", "--guard-pools PATTERN", "--guard-size N",
		     "--guard-sample N", "--guard-seed S", "--guard-underflow", "--module-dir DIR",
		     "--quiet", "--help", AREA_MALLOC_DEBUG_MODULEDIR);
		*option != NULL; option++)
		ck_assert_msg(strstr(run.out, *option) != NULL, "help lacks %s:\n%s", *option,
			run.out);
	ck_assert_msg(strncmp(run.out, "usage: pooldump run [OPTIONS] [--] COMMAND [ARGS...]\n", 53)
			== 0,
		"%s", run.out);
	run_free(&run);

	run = run_in(NULL, NULL, ARGUMENTS("--help"));
	ck_assert_int_eq(run.status, 0);
	ck_assert_msg(strstr(run.out, "pooldump run [OPTIONS] [--] COMMAND") != NULL, "%s",
		run.out);
	run_free(&run);
}
END_TEST

struct usage_error {
	const char *const arguments[8];
	const char *message;
};

START_TEST(test_usage_errors)
{
	static const struct usage_error cases[] = {
		{ { "--bogus", "true" }, "unknown option or missing value: --bogus" },
		{ { "--junit" }, "unknown option or missing value" },
		{ { "-q" }, "no command given" },
		{ { "--stack-depth", "99", "true" },
			"--stack-depth: area_malloc: bad value '99' "
			"for option 'stack_depth'" },
		{ { "--log-size", "lots", "true" }, "--log-size: area_malloc: bad value 'lots'" },
		{ { "--fail-rate", "2", "true" }, "--fail-rate: area_malloc: bad value '2'" },
		{ { "--options", "bogus=1", "true" },
			"--options: area_malloc: unknown option 'bogus'" },
		{ { "--options", "stack_depth", "true" },
			"--options: area_malloc: option "
			"'stack_depth' in AREA_MALLOC_OPTIONS has no value" },
		{ { "--options", "log_path=/tmp/x", "true" },
			"--options: log_path and report_format "
			"are set by pooldump run" },
		{ { "--options", "max_reports=2:report_format='text'", "true" },
			"--options: log_path and report_format are set by pooldump run" },
		{ { "--suppressions", "/nonexistent/file", "true" },
			"--suppressions: /nonexistent/file: No such file or directory" },
		{ { "--leak-mode", "lost", "true" },
			"--leak-mode: area_malloc: bad value 'lost' "
			"for option 'leak_mode'" },
		{ { "--fail-caller", "a'b\":c", "true" },
			"--fail-caller: a value with ':' or ',' cannot hold both kinds of quotes" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *arguments[12] = { "run", "-o", out_dir };
		size_t count = 3;
		for (size_t a = 0; cases[i].arguments[a] != NULL; a++)
			arguments[count++] = cases[i].arguments[a];
		arguments[count] = NULL;
		struct run run = run_in(NULL, NULL, arguments);
		ck_assert_msg(run.status == 125, "case %zu: status %d", i, run.status);
		ck_assert_msg(strncmp(run.err, "pooldump run: ", 14) == 0
				&& strstr(run.err, cases[i].message) != NULL,
			"case %zu: stderr\n%s\nlacks %s", i, run.err, cases[i].message);
		ck_assert_str_eq(run.out, "");
		/* refused, not run with the default the module would take */
		ck_assert_msg(strstr(run.err, "; using ") == NULL, "case %zu: %s", i, run.err);
		run_free(&run);
	}
}
END_TEST

START_TEST(test_command_not_found)
{
	char junit[PATH_MAX], plain_file[PATH_MAX];
	struct run run = RUN("--", "/nonexistent/command", "argument");

	ck_assert_int_eq(run.status, 127);
	ck_assert_str_eq(run.err,
		"pooldump run: cannot run /nonexistent/command: "
		"No such file or directory\n");
	ck_assert_str_eq(run.out, "");
	/* no CI files for a run that never happened */
	path_join(junit, sizeof(junit), out_dir, "junit.xml");
	ck_assert(!exists(junit));
	ck_assert_ptr_null(run.json);
	run_free(&run);

	run = RUN("no-such-command-in-path-4242");
	ck_assert_int_eq(run.status, 127);
	run_free(&run);

	/* found, but not executable: 126, as env(1) */
	path_join(plain_file, sizeof(plain_file), scratch, "plain");
	write_file(plain_file, "not a program\n");
	run = RUN(plain_file);
	ck_assert_int_eq(run.status, 126);
	ck_assert_msg(strstr(run.err, "Permission denied") != NULL, "%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(test_unwritable_output)
{
	char file[PATH_MAX], below[PATH_MAX + 8], junit[PATH_MAX + 16];
	struct run run;

	path_join(file, sizeof(file), scratch, "a-file");
	write_file(file, "");
	path_join(below, sizeof(below), file, "out");
	run = run_in(NULL, NULL, ARGUMENTS("run", "-o", below, "--", RUNNER_DRIVER, "clean"));
	ck_assert_int_eq(run.status, 125);
	ck_assert_msg(strstr(run.err, "pooldump run: cannot create the output directory") != NULL
			&& strstr(run.err, "Not a directory") != NULL,
		"%s", run.err);
	run_free(&run);

	path_join(junit, sizeof(junit), scratch, "missing-dir/junit.xml");
	run = RUN("--junit", junit, "--", RUNNER_DRIVER, "clean");
	ck_assert_int_eq(run.status, 125);
	ck_assert_msg(strstr(run.err, "cannot write") != NULL
			&& strstr(run.err, "missing-dir/junit.xml") != NULL,
		"%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(test_module_dir_choice)
{
	char debug_dir[PATH_MAX], with_slash[PATH_MAX + 2], expected[PATH_MAX + 32];
	struct run run;

	ck_assert_ptr_nonnull(realpath(built("modules/debug"), debug_dir));
	/* --module-dir wins over the environment (and is made canonical) */
	snprintf(with_slash, sizeof(with_slash), "%s/", debug_dir);
	run = RUN_WITH(ENVIRONMENT("AREA_MALLOC_DEBUG_MODULE_DIR=/nonexistent",
			       "KERNEL_MODULE_PATH"),
		"--module-dir", with_slash, "-q", "--", "env");
	ck_assert_int_eq(run.status, 0);
	snprintf(expected, sizeof(expected), "KERNEL_MODULE_PATH=%s", debug_dir);
	assert_line(run.out, "%s", expected);
	run_free(&run);

	run = RUN_WITH(ENVIRONMENT("AREA_MALLOC_DEBUG_MODULE_DIR=/nonexistent"), "true");
	ck_assert_int_eq(run.status, 125);
	ck_assert_str_eq(run.err,
		"pooldump run: debug module directory /nonexistent "
		"(AREA_MALLOC_DEBUG_MODULE_DIR): No such file or directory\n");
	run_free(&run);

	run = RUN("--module-dir", scratch, "true");
	ck_assert_int_eq(run.status, 125);
	ck_assert_msg(strstr(run.err, "no debug module in") != NULL
			&& strstr(run.err, "(--module-dir)") != NULL,
		"%s", run.err);
	run_free(&run);

	/* neither: the installed location, which may or may not be there */
	path_join(expected, sizeof(expected), AREA_MALLOC_DEBUG_MODULEDIR, "generic/area_malloc");
	run = RUN_WITH(ENVIRONMENT("AREA_MALLOC_DEBUG_MODULE_DIR"), "-q", "true");
	if (exists(expected)) {
		ck_assert_int_eq(run.status, 0);
	} else {
		ck_assert_int_eq(run.status, 125);
		ck_assert_msg(strstr(run.err, AREA_MALLOC_DEBUG_MODULEDIR) != NULL
				&& strstr(run.err, "(the installed location)") != NULL,
			"%s", run.err);
	}
	run_free(&run);
}
END_TEST

/* ---- environment ---- */

START_TEST(test_environment_merged)
{
	char suppressions[PATH_MAX], real_scratch[PATH_MAX], real_debug[PATH_MAX];
	char options[4 * PATH_MAX];
	struct run run;

	ck_assert_ptr_nonnull(realpath(scratch, real_scratch));
	ck_assert_ptr_nonnull(realpath(built("modules/debug"), real_debug));
	path_join(suppressions, sizeof(suppressions), scratch, "my.supp");
	write_file(suppressions, "leak:nothing\n");
	/* relative options, run from scratch: made absolute */
	run = run_in(scratch,
		ENVIRONMENT("KERNEL_MODULE_PATH=/previous/a:/previous/b",
			"AREA_MALLOC_OPTIONS=max_reports=7:exitcode=40"),
		ARGUMENTS("run", "-o", "out", "-q", "--halt-on-error", "--stack-depth", "4",
			"--log-size", "64", "--quarantine-bytes", "2k", "--fail-nth", "1000",
			"--fail-rate", "0.5", "--fail-seed", "9", "--fail-caller", "rx_*",
			"--guard", "--guard-pools", "net*", "--guard-size", "64", "--guard-sample",
			"100", "--guard-seed", "5", "--guard-underflow", "--options",
			"realloc_move=1:max_reports=3", "--suppressions", "my.supp", "--", "env"));
	ck_assert_int_eq(run.status, 0);
	assert_line(run.out, "KERNEL_MODULE_PATH=%s:/previous/a:/previous/b", real_debug);
	snprintf(options, sizeof(options),
		"AREA_MALLOC_OPTIONS=max_reports=7:exitcode=40:log_path=%s/out/reports/report:"
		"report_format=json:halt_on_error=1:stack_depth=4:log_size=64:quarantine_bytes=2k:"
		"fail_nth=1000:fail_rate=0.5:fail_seed=9:fail_caller=rx_*:guard=1:guard_pools=net*:"
		"guard_size=64:guard_sample=100:guard_seed=5:guard_underflow=1:realloc_move=1:"
		"max_reports=3:suppressions=%s/my.supp",
		real_scratch, real_scratch);
	assert_line(run.out, "%s", options);
	/* report.json says the same, and -q kept the summary */
	ck_assert_str_eq(member_string(run.json, "area_malloc_options"),
		options + strlen("AREA_MALLOC_OPTIONS="));
	assert_line(run.out, "result: PASS (exit 0)");
	run_free(&run);
}
END_TEST

START_TEST(test_environment_fresh_and_quoted)
{
	char real_debug[PATH_MAX], colon_dir[PATH_MAX], real_colon[PATH_MAX];
	struct run run;

	ck_assert_ptr_nonnull(realpath(built("modules/debug"), real_debug));
	run = RUN_WITH(ENVIRONMENT("KERNEL_MODULE_PATH"), "-q", "env");
	ck_assert_int_eq(run.status, 0);
	assert_line(run.out, "KERNEL_MODULE_PATH=%s", real_debug);
	ck_assert_ptr_nonnull(realpath(out_dir, real_colon));
	assert_line(run.out, "AREA_MALLOC_OPTIONS=log_path=%s/reports/report:report_format=json",
		real_colon);
	run_free(&run);

	/* an output directory with ':' is quoted, and the module still finds it */
	path_join(colon_dir, sizeof(colon_dir), scratch, "with:colon");
	snprintf(out_dir, sizeof(out_dir), "%s", colon_dir);
	run = RUN("--", RUNNER_DRIVER, "leak");
	ck_assert_int_eq(run.status, 23);
	ck_assert_ptr_nonnull(realpath(colon_dir, real_colon));
	char expected[PATH_MAX + 64];
	snprintf(expected, sizeof(expected), "log_path='%s/reports/report':report_format=json",
		real_colon);
	ck_assert_str_eq(member_string(run.json, "area_malloc_options"), expected);
	/* the block, then the pool it never deleted */
	ck_assert_int_eq(total(&run, "leak_reports"), 2);
	run_free(&run);
}
END_TEST

START_TEST(test_stale_reports_removed)
{
	char path[PATH_MAX + 32];
	struct run run;

	snprintf(path, sizeof(path), "%s", out_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	path_join(path, sizeof(path), out_dir, "reports");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	path_join(path, sizeof(path), out_dir, "reports/report.4242");
	write_file(path,
		"==4242==ERROR: area_malloc: double-free on address 0x1\n"
		"SUMMARY: area_malloc: double-free\n{\"kind\":\"double-free\",\"pid\":4242}\n");
	path_join(path, sizeof(path), out_dir, "reports/report.old");
	write_file(path, "junk");

	run = RUN("--", RUNNER_DRIVER, "clean");
	ck_assert_int_eq(run.status, 0);
	ck_assert_int_eq(array_length(run.json, "processes"), 1);
	ck_assert_int_eq(array_length(run.json, "warnings"), 0);
	ck_assert(!exists(path));
	path_join(path, sizeof(path), out_dir, "reports/report.4242");
	ck_assert(!exists(path));
	run_free(&run);
}
END_TEST

/* ---- one process ---- */

START_TEST(test_clean)
{
	struct run run = RUN("--", RUNNER_DRIVER, "clean");
	char expected[3 * PATH_MAX];
	struct json_object *process;

	ck_assert_int_eq(run.status, 0);
	ck_assert_str_eq(run.err, "");
	snprintf(expected, sizeof(expected),
		"area_malloc: 1 process, 0 errors, 0 leak reports\n"
		"junit: %s/junit.xml   json: %s/report.json\n"
		"result: PASS (exit 0)\n",
		out_dir, out_dir);
	ck_assert_str_eq(run.out, expected);

	process = item(run.json, "processes", 0);
	ck_assert(member_bool(process, "main"));
	ck_assert_str_eq(member_string(process, "name"), "runner_driver");
	ck_assert_str_eq(member_string(process, "name_source"), "command");
	ck_assert(json_object_get_type(member(process, "report_file")) == json_type_null);
	ck_assert_int_eq(member_int(process, "reports"), 0);
	ck_assert_int_eq(array_length(run.json, "reports"), 0);
	ck_assert_int_eq(member_int(run.json, "exit_status"), 0);
	ck_assert_str_eq(member_string(run.json, "result"), "PASS");
	ck_assert_int_eq(member_int(member(run.json, "command_exit"), "status"), 0);
	ck_assert_str_eq(json_object_get_string(item(run.json, "command", 1)), "clean");

	assert_xpath_count(run.junit, 1, "count(/testsuites/testsuite)");
	assert_xpath_string(run.junit, "runner_driver", "string(/testsuites/testsuite/@name)");
	assert_xpath_count(run.junit, 1, "count(//testcase)");
	assert_xpath_count(run.junit, 0, "count(//failure)");
	assert_xpath_count(run.junit, 0, "number(/testsuites/@failures)");
	/* named after the executable, never its pid; timed like its suite */
	assert_xpath_string(run.junit, "runner_driver", "string(//testcase/@name)");
	assert_xpath_string(run.junit, "runner_driver", "string(//testcase/@classname)");
	assert_xpath_count(run.junit, 1, "count(//testcase[@time = /testsuites/@time])");
	assert_xpath_count(run.junit, 1, "count(//testsuite[@time = /testsuites/@time])");
	run_free(&run);
}
END_TEST

START_TEST(test_exit_status_passed_through)
{
	struct run run = RUN("--", RUNNER_DRIVER, "clean", "3");

	ck_assert_int_eq(run.status, 3);
	assert_line(run.out, "area_malloc: 1 process, 0 errors, 0 leak reports");
	assert_line(run.out, "  command: exited with status 3");
	assert_line(run.out, "result: FAIL (exit 3)");
	ck_assert_int_eq(member_int(run.json, "exit_status"), 3);
	ck_assert_str_eq(member_string(run.json, "result"), "FAIL");
	assert_xpath_count(run.junit, 0, "count(//failure|//error)");
	run_free(&run);
}
END_TEST

START_TEST(test_leak)
{
	struct run run = RUN("--", RUNNER_DRIVER, "leak");
	struct json_object *report, *pool_report;
	char pool[128];
	pid_t pid;

	ck_assert_int_eq(run.status, 23);
	pid = main_pid(&run);
	/* the block, then its pool, never deleted either */
	ck_assert_int_eq(reports_of(&run, pid, 0, &report), 2);
	reports_of(&run, pid, 1, &pool_report);
	assert_leaked_pool(pool_report, "net-rx", RUNNER_POOL_BYTES);
	ck_assert_str_eq(member_string(report, "kind"), "detected memory leaks");
	ck_assert_str_eq(member_string(report, "when"), "at exit");
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 48);
	ck_assert_int_eq(member_int(report, "leaked_blocks"), 1);
	ck_assert_str_eq(member_string(member(report, "pool"), "name"), "net-rx");
	ck_assert(member_bool(report, "failing"));
	ck_assert(!member_bool(report, "incomplete"));
	ck_assert(!has_member(report, "test"));
	ck_assert_str_eq(member_string(report, "summary"),
		"SUMMARY: area_malloc: 48 byte(s) leaked in 1 allocation(s).");

	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 2 leak reports "
		"(262192 bytes in 2 allocations)");
	/* the exit-time report always follows a reachability scan */
	assert_line(run.out,
		"area_malloc: reachability scan: unreferenced: 48 byte(s) in 1 "
		"allocation(s)");
	assert_line(run.out,
		"  pid %d runner_driver detected memory leaks: 48 bytes in 1 "
		"allocation in %s at exit -- rx_leak runner_driver.c:%d [unreferenced: "
		"48 byte(s) in 1 allocation(s)]",
		(int)pid, pool_of(report, pool, sizeof(pool)),
		site_line(RUNNER_DRIVER_SOURCE, "rx_leak"));
	ck_assert_int_eq(member_int(member(member(report, "reach"), "unreferenced"), "bytes"), 48);
	ck_assert(json_object_get_type(member(pool_report, "reach")) == json_type_null);
	assert_line(run.out, "result: FAIL (exit 23)");
	/* the module's own exit status 23 is not news */
	ck_assert(strstr(run.out, "command:") == NULL);

	ck_assert_int_eq(total(&run, "leak_reports"), 2);
	ck_assert_int_eq(total(&run, "errors"), 0);
	ck_assert_int_eq(total(&run, "leaked_bytes"), 48 + RUNNER_POOL_BYTES);
	ck_assert_int_eq(member_int(member(member(run.json, "totals"), "by_kind"),
				 "detected memory leaks"),
		1);
	ck_assert_int_eq(member_int(member(member(run.json, "totals"), "by_kind"), "leaked-pool"),
		1);
	ck_assert_int_eq(member_int(process_of(&run, pid), "leak_reports"), 2);

	assert_xpath_count(run.junit, 1, "count(//testcase)");
	assert_xpath_count(run.junit, 1, "count(//failure)");
	assert_xpath_count(run.junit, 1, "number(/testsuites/testsuite/@failures)");
	assert_failure_holds(&run, "runner_driver", (struct json_object *[]){ report, pool_report },
		2);
	char *body = xpath_string(run.junit, "string(//failure)");
	ck_assert_msg(strstr(body, "found at exit") != NULL, "%s", body);
	free(body);
	run_free(&run);
}
END_TEST

START_TEST(test_double_free)
{
	struct run run = RUN("--", RUNNER_DRIVER, "double-free");
	struct json_object *report;
	char pool[128], summary_end[64];
	const char *summary;
	int line = site_line(RUNNER_DRIVER_SOURCE, "tx_free");
	pid_t pid;

	ck_assert_int_eq(run.status, 23);
	pid = main_pid(&run);
	ck_assert_int_eq(reports_of(&run, pid, 0, &report), 1);
	ck_assert_str_eq(member_string(report, "kind"), "double-free");
	ck_assert_int_eq(member_int(report, "size"), 100);
	assert_line(run.out, "area_malloc: 1 process, 1 error, 0 leak reports");
	assert_line(run.out,
		"  pid %d runner_driver double-free at %s in %s -- tx_free "
		"runner_driver.c:%d",
		(int)pid, member_string(report, "address"), pool_of(report, pool, sizeof(pool)),
		line);

	summary = member_string(report, "summary");
	snprintf(summary_end, sizeof(summary_end), "runner_driver.c:%d in pool %d", line,
		(int)member_int(member(report, "pool"), "id"));
	ck_assert_msg(strncmp(summary, "SUMMARY: area_malloc: double-free tx_free+0x", 44) == 0
			&& strcmp(summary + strlen(summary) - strlen(summary_end), summary_end)
				== 0,
		"%s", summary);
	assert_failure_is_report(&run, "runner_driver", report);
	ck_assert_int_eq(member_int(process_of(&run, pid), "errors"), 1);
	ck_assert_int_eq(member_int(member(member(run.json, "totals"), "by_kind"), "double-free"),
		1);
	run_free(&run);
}
END_TEST

START_TEST(test_unprinted_reports_counted)
{
	struct run run = RUN("--", RUNNER_DRIVER, "double-free", "3");
	struct json_object *report;

	ck_assert_int_eq(run.status, 23);
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 1);
	ck_assert_int_eq(member_int(process_of(&run, main_pid(&run)), "unprinted_reports"), 2);
	ck_assert_int_eq(total(&run, "unprinted_reports"), 2);
	ck_assert_int_eq(array_length(run.json, "warnings"), 0);
	assert_line(run.out, "area_malloc: 1 process, 1 error, 0 leak reports");
	assert_line(run.out,
		"  +2 reports the debug module counted but did not print "
		"(identical to one printed, or past max_reports)");
	run_free(&run);
}
END_TEST

START_TEST(test_reports_echoed)
{
	struct run run = RUN("--", RUNNER_DRIVER, "double-free");
	struct json_object *report;

	ck_assert_int_eq(run.status, 23);
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 1);
	/* the whole report on standard error, as the module wrote it, for the
	 * CI job's log; and the summary on standard output still */
	ck_assert_msg(strncmp(member_string(report, "text"), "==", 2) == 0, "%s",
		member_string(report, "text"));
	ck_assert_str_eq(run.err, member_string(report, "text"));
	assert_line(run.out, "area_malloc: 1 process, 1 error, 0 leak reports");
	run_free(&run);

	/* --quiet: only the summary */
	run = RUN("--quiet", "--", RUNNER_DRIVER, "double-free");
	ck_assert_int_eq(run.status, 23);
	ck_assert_str_eq(run.err, "");
	assert_line(run.out, "area_malloc: 1 process, 1 error, 0 leak reports");
	assert_line(run.out, "result: FAIL (exit 23)");
	run_free(&run);
}
END_TEST

START_TEST(test_leak_on_request_not_counted)
{
	struct run run = RUN("--", RUNNER_DRIVER, "leak-on-request");
	struct json_object *report;
	char pool[128];

	ck_assert_int_eq(run.status, 0);
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 1);
	ck_assert_str_eq(member_string(report, "when"), "on request");
	ck_assert(!member_bool(report, "failing"));
	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 0 leak reports, 1 leak report on "
		"request (not counted)");
	assert_line(run.out,
		"  pid %d runner_driver detected memory leaks: 16 bytes in 1 "
		"allocation in %s on request -- rx_leak runner_driver.c:%d [not counted]",
		(int)main_pid(&run), pool_of(report, pool, sizeof(pool)),
		site_line(RUNNER_DRIVER_SOURCE, "rx_leak"));
	assert_line(run.out, "result: PASS (exit 0)");
	assert_xpath_count(run.junit, 0, "count(//failure)");
	char *out = xpath_string(run.junit, "string(//testcase/system-out)");
	ck_assert_str_eq(out, member_string(report, "text"));
	free(out);
	run_free(&run);
}
END_TEST

/* ---- children and forks ---- */

/* The pid the driver printed as "child KIND PID". */
static pid_t child_pid(const char *out, const char *kind)
{
	char prefix[64];
	const char *found;

	snprintf(prefix, sizeof(prefix), "child %s ", kind);
	found = strstr(out, prefix);
	ck_assert_msg(found != NULL, "no \"%s\" in\n%s", prefix, out);
	return (pid_t)atoi(found + strlen(prefix));
}

/* Asserts that pid made exactly one report of kind, and that the one
 * failure of the runner_driver test case holds its text report and its
 * summary line (all the executable's processes merge into that case). */
static struct json_object *assert_one_report(const struct run *run, pid_t pid, const char *kind)
{
	struct json_object *report;
	char *body, *message;

	ck_assert_msg(reports_of(run, pid, 0, &report) == 1, "process %d", (int)pid);
	ck_assert_str_eq(member_string(report, "kind"), kind);
	assert_xpath_count(run->junit, 1, "count(//testcase[@name='runner_driver']/failure)");
	body = xpath_string(run->junit, "string(//testcase[@name='runner_driver']/failure)");
	ck_assert_msg(strstr(body, member_string(report, "text")) != NULL, "%s\nlacks\n%s", body,
		member_string(report, "text"));
	message = xpath_string(run->junit,
		"string(//testcase[@name='runner_driver']/failure/@message)");
	ck_assert_msg(strstr(message, member_string(report, "summary")) != NULL, "%s", message);
	ck_assert_str_eq(member_string(process_of(run, pid), "name"), "runner_driver");
	free(body);
	free(message);
	return report;
}

START_TEST(test_fork_children)
{
	struct run run = RUN("--", RUNNER_DRIVER, "fork-children");
	pid_t parent, double_free, leak, invalid_free, exec;
	struct json_object *report, *process;
	char pool[128];

	ck_assert_int_eq(run.status, 23);
	parent = main_pid(&run);
	double_free = child_pid(run.out, "double-free");
	leak = child_pid(run.out, "leak");
	invalid_free = child_pid(run.out, "invalid-free");
	exec = child_pid(run.out, "exec");
	ck_assert_int_eq(array_length(run.json, "processes"), 5);

	/* the parent reported nothing: still a process */
	process = process_of(&run, parent);
	ck_assert_int_eq(member_int(process, "reports"), 0);
	ck_assert_str_eq(member_string(process, "name"), "runner_driver");

	assert_one_report(&run, double_free, "double-free");
	assert_one_report(&run, invalid_free, "invalid-free");
	/* a forked child's exit-time report: only the block it allocated */
	report = assert_one_report(&run, leak, "detected memory leaks");
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 32);
	ck_assert_int_eq(member_int(report, "leaked_blocks"), 1);
	ck_assert_str_eq(member_string(report, "when"), "at exit");
	ck_assert_str_eq(member_string(member(report, "pool"), "name"), "shared");
	/* a program the command ran: its block, then its pool */
	ck_assert_int_eq(reports_of(&run, exec, 0, &report), 2);
	ck_assert_str_eq(member_string(report, "kind"), "detected memory leaks");
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 48);
	ck_assert_str_eq(member_string(member(report, "pool"), "name"), "net-rx");
	reports_of(&run, exec, 1, &report);
	assert_leaked_pool(report, "net-rx", RUNNER_POOL_BYTES);
	process = process_of(&run, exec);
	if (strcmp(member_string(process, "name_source"), "cmdline") == 0)
		ck_assert_str_eq(member_string(process, "command_line"), "runner_driver leak");

	assert_line(run.out,
		"area_malloc: 5 processes, 2 errors, 3 leak reports "
		"(262224 bytes in 3 allocations)");
	report = assert_one_report(&run, invalid_free, "invalid-free");
	assert_line(run.out,
		"  pid %d runner_driver invalid-free at %s in %s -- tx_free "
		"runner_driver.c:%d",
		(int)invalid_free, member_string(report, "address"),
		pool_of(report, pool, sizeof(pool)), site_line(RUNNER_DRIVER_SOURCE, "tx_free"));
	ck_assert_int_eq(total(&run, "processes"), 5);
	ck_assert_int_eq(total(&run, "errors"), 2);
	ck_assert_int_eq(total(&run, "leak_reports"), 3);
	ck_assert_int_eq(total(&run, "leaked_bytes"), 80 + RUNNER_POOL_BYTES);
	/* one suite: every process ran runner_driver; one test case for them
	 * all, and one failure holding the five reports */
	assert_xpath_count(run.junit, 1, "count(//testsuite)");
	assert_xpath_count(run.junit, 1, "count(//testsuite[@name='runner_driver']/testcase)");
	assert_xpath_count(run.junit, 1, "number(/testsuites/@failures)");
	assert_xpath_string(run.junit, "multiple", "string(//failure/@type)");
	char *message = xpath_string(run.junit, "string(//failure/@message)");
	ck_assert_msg(strncmp(message, "5 reports: SUMMARY: area_malloc: ", 33) == 0, "%s",
		message);
	free(message);
	run_free(&run);
}
END_TEST

START_TEST(test_orphans_waited_for)
{
	char script[PATH_MAX + 64];
	struct json_object *report;
	struct run run;
	pid_t orphan;

	/* the shell is gone before its background child even starts */
	snprintf(script, sizeof(script), "(sleep 0.3; exec %s leak) & exit 0", RUNNER_DRIVER);
	/* it has all the time a loaded machine may need, and the runner
	 * returns when it ended */
	run = RUN("--orphan-wait", "600", "--", "sh", "-c", script);
	ck_assert_int_eq(run.status, 23);
	ck_assert_int_eq(array_length(run.json, "processes"), 2);
	ck_assert_int_eq(member_int(process_of(&run, main_pid(&run)), "reports"), 0);
	orphan = (pid_t)member_int(item(run.json, "processes", 1), "pid");
	ck_assert_int_eq(reports_of(&run, orphan, 0, &report), 2);
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 48);
	reports_of(&run, orphan, 1, &report);
	assert_leaked_pool(report, "net-rx", RUNNER_POOL_BYTES);
	ck_assert_str_eq(member_string(process_of(&run, orphan), "name"), "runner_driver");
	ck_assert_int_eq(array_length(run.json, "warnings"), 0);
	ck_assert_int_eq(member_int(member(run.json, "command_exit"), "status"), 0);
	run_free(&run);
}
END_TEST

START_TEST(test_orphans_left_running)
{
	char marker[PATH_MAX], script[2 * PATH_MAX];
	struct stat status;
	struct run run;

	/* the orphan marks its end after 30 s: the runner waits its grace
	 * period, never for the orphan, so the mark is not there yet when it
	 * returns (no clock read: a slow machine cannot fail this) */
	path_join(marker, sizeof(marker), scratch, "orphan-ended");
	snprintf(script, sizeof(script), "(sleep 30; touch '%s') >/dev/null 2>&1 & exit 0", marker);
	run = RUN("--", "sh", "-c", script);
	ck_assert_int_eq(run.status, 0);
	ck_assert_int_ne(stat(marker, &status), 0);
	ck_assert_str_eq(run.err,
		"pooldump run: warning: processes started by the command still "
		"run 2.0 s after it ended; reports they write later are not "
		"included (see --orphan-wait)\n");
	ck_assert_int_eq(array_length(run.json, "warnings"), 1);
	assert_line(run.out, "result: PASS (exit 0)");
	run_free(&run);

	/* a wait of its own, and one the runner refuses */
	run = RUN("--orphan-wait", "0.5", "--", "sh", "-c", script);
	ck_assert_int_eq(run.status, 0);
	ck_assert_str_eq(run.err,
		"pooldump run: warning: processes started by the command still "
		"run 0.5 s after it ended; reports they write later are not "
		"included (see --orphan-wait)\n");
	run_free(&run);
	run = RUN("--orphan-wait", "2s", "--", "true");
	ck_assert_int_eq(run.status, 125);
	ck_assert_str_eq(run.err,
		"pooldump run: --orphan-wait takes seconds from 0 to 3600, not '2s'\n");
	run_free(&run);
}
END_TEST

/* ---- Check suites ---- */

START_TEST(test_check_fork_mode)
{
	struct run run = RUN_WITH(ENVIRONMENT("CK_FORK=yes"), "--", CHECK_DRIVER);
	struct json_object *leaky = NULL, *exit_leak = NULL, *leaked_pool = NULL;
	pid_t parent;

	ck_assert_int_eq(run.status, 23);
	parent = main_pid(&run);
	/* test_exit_leak's pool, never deleted, is a report of its own */
	ck_assert_int_eq(array_length(run.json, "reports"), 3);
	for (size_t i = 0; i < 3; i++) {
		struct json_object *report = item(run.json, "reports", i);
		const char *test = member_string(report, "test");
		/* each test ran in a child of its own */
		ck_assert_int_ne(member_int(report, "pid"), parent);
		if (strcmp(member_string(report, "kind"), "leaked-pool") == 0)
			leaked_pool = report;
		else if (strcmp(test, "test_leaky") == 0)
			leaky = report;
		else if (strcmp(test, "test_exit_leak") == 0)
			exit_leak = report;
	}
	ck_assert(leaky != NULL && exit_leak != NULL && leaked_pool != NULL);
	ck_assert_str_eq(member_string(leaked_pool, "test"), "test_exit_leak");
	ck_assert_int_eq(member_int(leaked_pool, "pid"), member_int(exit_leak, "pid"));
	assert_leaked_pool(leaked_pool, "", CHECK_POOL_BYTES);
	ck_assert_int_ne(member_int(leaky, "pid"), member_int(exit_leak, "pid"));
	ck_assert_str_eq(member_string(leaky, "when"), "at delete_pool");
	ck_assert_int_eq(member_int(leaky, "leaked_bytes"), 64);
	ck_assert_str_eq(member_string(exit_leak, "when"), "at exit");
	ck_assert_int_eq(member_int(exit_leak, "leaked_bytes"), 24);
	ck_assert_int_eq(array_length(run.json, "processes"), 3);
	ck_assert_str_eq(json_object_get_string(
				 item(process_of(&run, (pid_t)member_int(leaky, "pid")), "tests",
					 0)),
		"test_leaky");

	/* a suite check_driver: the executable's own case (clean), then one
	 * case per test */
	assert_xpath_count(run.junit, 1, "count(//testsuite[@name='check_driver'])");
	assert_xpath_count(run.junit, 3, "count(//testcase)");
	assert_xpath_count(run.junit, 2, "number(//testsuite/@failures)");
	assert_xpath_count(run.junit, 0, "count(//testcase[@name='check_driver']/*)");
	assert_xpath_count(run.junit, 0, "count(//testcase[@name='test_clean'])");
	assert_failure_is_report(&run, "test_leaky", leaky);
	assert_failure_holds(&run, "test_exit_leak",
		(struct json_object *[]){ exit_leak, leaked_pool }, 2);
	assert_xpath_string(run.junit, "check_driver",
		"string(//testcase[@name='test_leaky']/@classname)");

	ck_assert_msg(strstr(run.err, member_string(leaky, "text")) != NULL
			&& strstr(run.err, member_string(exit_leak, "text")) != NULL
			&& strstr(run.err, member_string(leaked_pool, "text")) != NULL,
		"%s", run.err);
	assert_line(run.out,
		"area_malloc: 3 processes, 0 errors, 3 leak reports "
		"(131160 bytes in 3 allocations)");
	assert_line(run.out,
		"  pid %d check_driver [test_leaky] detected memory leaks: 64 bytes in 1 "
		"allocation in pool %d at delete_pool -- leaky_alloc check_driver.c:%d",
		(int)member_int(leaky, "pid"), (int)member_int(member(leaky, "pool"), "id"),
		site_line(CHECK_DRIVER_SOURCE, "leaky_alloc"));
	run_free(&run);
}
END_TEST

START_TEST(test_check_nofork_mode)
{
	struct run run = RUN_WITH(ENVIRONMENT("CK_FORK=no"), "--", CHECK_DRIVER);
	struct json_object *leaky, *exit_leak, *leaked_pool;
	pid_t parent;

	ck_assert_int_eq(run.status, 23);
	parent = main_pid(&run);
	ck_assert_int_eq(array_length(run.json, "processes"), 1);
	ck_assert_int_eq(reports_of(&run, parent, 0, &leaky), 3);
	reports_of(&run, parent, 1, &exit_leak);
	reports_of(&run, parent, 2, &leaked_pool);
	assert_leaked_pool(leaked_pool, "", CHECK_POOL_BYTES);
	ck_assert(!has_member(leaked_pool, "test"));
	/* the test is known while it runs; at exit no test runs any more */
	ck_assert_str_eq(member_string(leaky, "test"), "test_leaky");
	ck_assert_str_eq(member_string(leaky, "when"), "at delete_pool");
	ck_assert(!has_member(exit_leak, "test"));
	ck_assert_str_eq(member_string(exit_leak, "when"), "at exit");

	assert_xpath_count(run.junit, 2, "count(//testcase)");
	assert_xpath_count(run.junit, 2, "number(//testsuite/@failures)");
	assert_failure_is_report(&run, "test_leaky", leaky);
	assert_failure_holds(&run, "check_driver",
		(struct json_object *[]){ exit_leak, leaked_pool }, 2);
	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 3 leak reports "
		"(131160 bytes in 3 allocations)");
	assert_line(run.out,
		"  pid %d check_driver detected memory leaks: 24 bytes in 1 "
		"allocation in pool %d at exit -- exit_alloc check_driver.c:%d "
		"[unreferenced: 24 byte(s) in 1 allocation(s)]",
		(int)parent, (int)member_int(member(exit_leak, "pool"), "id"),
		site_line(CHECK_DRIVER_SOURCE, "exit_alloc"));
	run_free(&run);
}
END_TEST

/* ---- signals ---- */

START_TEST(test_crash_after_report)
{
	struct run run = RUN("--", RUNNER_DRIVER, "crash", "double-free");
	struct json_object *command_exit, *report;
	char *body, *expected;

	ck_assert_int_eq(run.status, 23);
	assert_line(run.out, "area_malloc: 1 process, 1 error, 0 leak reports");
	assert_line(run.out, "  command: killed by signal 11 (SIGSEGV)");
	assert_line(run.out, "result: FAIL (exit 23)");
	command_exit = member(run.json, "command_exit");
	ck_assert_int_eq(member_int(command_exit, "signal"), 11);
	ck_assert_str_eq(member_string(command_exit, "signal_name"), "SIGSEGV");
	ck_assert(json_object_get_type(member(command_exit, "status")) == json_type_null);

	/* one outcome per case: the death is told in the failure, no <error> */
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 1);
	assert_xpath_count(run.junit, 0, "number(/testsuites/@errors)");
	assert_xpath_count(run.junit, 0, "count(//error)");
	assert_xpath_count(run.junit, 1, "count(//testcase[@name='runner_driver']/failure)");
	body = xpath_string(run.junit, "string(//failure[@type='double-free'])");
	ck_assert_int_ge(asprintf(&expected, "%s\nthe command was killed by signal 11 (SIGSEGV)\n",
				 member_string(report, "text")),
		0);
	ck_assert_str_eq(body, expected);
	free(body);
	free(expected);
	run_free(&run);
}
END_TEST

START_TEST(test_crash_without_report)
{
	struct run run = RUN("--", RUNNER_DRIVER, "crash");

	ck_assert_int_eq(run.status, 128 + SIGSEGV);
	assert_line(run.out, "area_malloc: 1 process, 0 errors, 0 leak reports");
	assert_line(run.out, "  command: killed by signal 11 (SIGSEGV)");
	assert_line(run.out, "result: FAIL (exit 139)");
	ck_assert_int_eq(member_int(run.json, "exit_status"), 139);
	assert_xpath_count(run.junit, 0, "count(//failure)");
	assert_xpath_count(run.junit, 1, "count(//error)");
	run_free(&run);
}
END_TEST

START_TEST(test_halt_on_error)
{
	struct run run = RUN("--halt-on-error", "--", RUNNER_DRIVER, "double-free");

	ck_assert_int_eq(run.status, 23);
	ck_assert_msg(strstr(run.out, "\n  command: killed by signal 6 (SIGABRT)") != NULL, "%s",
		run.out);
	ck_assert_int_eq(member_int(member(run.json, "command_exit"), "signal"), SIGABRT);
	ck_assert_int_eq(total(&run, "errors"), 1);
	run_free(&run);
}
END_TEST

/* A process killed by a signal: the runner points at its post-mortem node,
 * with the command that reads it, or says it left none. */
START_TEST(test_killed_points_at_node)
{
	char nodes[PATH_MAX], node_option[PATH_MAX + 16], expected[3 * PATH_MAX], pid_text[16];
	char script[PATH_MAX + 64];
	struct json_object *report;
	struct run run;
	pid_t pid;

	path_join(nodes, sizeof(nodes), scratch, "nodes");
	ck_assert_int_eq(mkdir(nodes, 0700), 0);
	snprintf(node_option, sizeof(node_option), "node_dir=%s", nodes);
	run = RUN("--options", node_option, "--", RUNNER_DRIVER, "crash", "double-free");
	ck_assert_int_eq(run.status, 23);
	pid = main_pid(&run);
	ck_assert_int_eq(reports_of(&run, pid, 0, &report), 1);
	snprintf(expected, sizeof(expected),
		"%spooldump run: pid %d (runner_driver) was killed by signal 11 (SIGSEGV); its "
		"debug node is kept for a post-mortem: pooldump --node-dir %s -p %d check (or "
		"pools, leaks, allocations)\n",
		member_string(report, "text"), (int)pid, nodes, (int)pid);
	ck_assert_str_eq(run.err, expected);
	run_free(&run);

	/* the command it names reads the dead process's pools */
	snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
	run = run_in(NULL, NULL, ARGUMENTS("--node-dir", nodes, "-p", pid_text, "pools"));
	ck_assert_int_eq(run.status, 0);
	ck_assert_msg(strstr(run.out, "dead (post mortem)") != NULL
			&& strstr(run.out, "name: \"net-tx\"") != NULL,
		"%s", run.out);
	run_free(&run);

	/* a process the command left behind, reaped by the runner */
	snprintf(script, sizeof(script), "(sleep 0.3; exec %s crash double-free) & exit 0",
		RUNNER_DRIVER);
	run = RUN("-q", "--orphan-wait", "600", "--options", node_option, "--", "sh", "-c", script);
	ck_assert_int_eq(run.status, 23);
	ck_assert_int_eq(array_length(run.json, "processes"), 2);
	pid = (pid_t)member_int(item(run.json, "processes", 1), "pid");
	snprintf(expected, sizeof(expected),
		"pooldump run: pid %d (runner_driver) was killed by signal 11 (SIGSEGV); its "
		"debug node is kept for a post-mortem: pooldump --node-dir %s -p %d check (or "
		"pools, leaks, allocations)\n",
		(int)pid, nodes, (int)pid);
	ck_assert_str_eq(run.err, expected);
	run_free(&run);

	/* no pool, no node: said so; --quiet keeps the pointer */
	run = RUN("-q", "--options", node_option, "--", RUNNER_DRIVER, "crash");
	ck_assert_int_eq(run.status, 128 + SIGSEGV);
	snprintf(expected, sizeof(expected),
		"pooldump run: pid %d (runner_driver) was killed by signal 11 (SIGSEGV); it left "
		"no debug node for a post-mortem (a process publishes one with its first pool, "
		"unless node=0; a forked child only with fork_nodes=1)\n",
		(int)main_pid(&run));
	ck_assert_str_eq(run.err, expected);
	run_free(&run);
}
END_TEST

static void wait_for_text(const char *path, const char *text)
{
	for (int tries = 0; tries < 3000; tries++) {
		char *content = read_file(path);
		bool found = content != NULL && strstr(content, text) != NULL;
		free(content);
		if (found)
			return;
		usleep(10000);
	}
	ck_abort_msg("%s never held \"%s\"", path, text);
}

/* A report is on standard error while the command still runs (a hang, or
 * a runner killed by CI's time limit, still shows it), and only once. */
/* Runs the driver's wait-signal case (a double free, then "ready", then a
 * wait for a signal) under the runner until file (in scratch: "stdout" or
 * "stderr") holds text, then sends signal to the runner. */
static struct run run_until_signalled(bool quiet, const char *file, const char *text, int signal)
{
	char path[PATH_MAX];
	struct run run;
	pid_t runner;

	/* an earlier run's text must not count */
	path_join(path, sizeof(path), scratch, file);
	unlink(path);
	runner = start_pooldump(NULL, NULL,
		quiet ? ARGUMENTS("run", "-q", "-o", out_dir, "--", RUNNER_DRIVER, "wait-signal")
		      : ARGUMENTS("run", "-o", out_dir, "--", RUNNER_DRIVER, "wait-signal"));
	wait_for_text(path, text);
	ck_assert_int_eq(kill(runner, signal), 0);
	run_finish(&run, runner, out_dir);
	return run;
}

START_TEST(test_reports_echoed_as_they_come)
{
	const char *first, *second;
	struct run run;

	/* the driver waits for the signal: only a live echo shows the report */
	run = run_until_signalled(false, "stderr", "SUMMARY: area_malloc: double-free", SIGTERM);
	ck_assert_int_eq(run.status, 23);
	first = strstr(run.err, "ERROR: area_malloc: double-free on address");
	ck_assert_msg(first != NULL, "%s", run.err);
	second = strstr(first + 1, "ERROR: area_malloc: double-free on address");
	ck_assert_msg(second == NULL, "echoed twice:\n%s", run.err);
	run_free(&run);

	/* --quiet: nothing while it runs, nothing after */
	run = run_until_signalled(true, "stdout", "ready\n", SIGTERM);
	ck_assert_int_eq(run.status, 23);
	ck_assert_ptr_null(strstr(run.err, "ERROR: area_malloc"));
	run_free(&run);
}
END_TEST

START_TEST(test_signal_forwarded)
{
	static const int signals[] = { SIGTERM, SIGINT };
	int signal = signals[_i];
	char line[64];
	struct run run;

	/* to the runner only: it must pass the signal on, then still report */
	run = run_until_signalled(false, "stdout", "ready\n", signal);
	ck_assert_int_eq(run.status, 23);
	snprintf(line, sizeof(line), "  command: killed by signal %d (SIG%s)", signal,
		sigabbrev_np(signal));
	assert_line(run.out, "%s", line);
	assert_line(run.out, "area_malloc: 1 process, 1 error, 0 leak reports");
	ck_assert_int_eq(member_int(member(run.json, "command_exit"), "signal"), signal);
	assert_xpath_count(run.junit, 1, "count(//failure[@type='double-free'])");
	run_free(&run);
}
END_TEST

/* ---- suppressions ---- */

START_TEST(test_suppressions_partial)
{
	char path[PATH_MAX], real_scratch[PATH_MAX], expected[2 * PATH_MAX];
	struct json_object *report;
	struct run run;

	path_join(path, sizeof(path), scratch, "hide.supp");
	write_file(path, "# the second site's leaks are known\nleak:leak_hide\n");
	/* a relative path, and the driver changes its directory */
	run = run_in(scratch, NULL,
		ARGUMENTS("run", "-o", out_dir, "--suppressions", "hide.supp", "--", RUNNER_DRIVER,
			"suppressions"));
	ck_assert_int_eq(run.status, 23);
	/* the leaks, then the pool, never deleted */
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 2);
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 40);
	ck_assert_int_eq(member_int(report, "leaked_blocks"), 1);
	ck_assert_int_eq(array_length(report, "groups"), 1);
	ck_assert_msg(strstr(member_string(report, "text"), "Suppressions used:") != NULL
			&& strstr(member_string(report, "text"), "48 leak:leak_hide") != NULL,
		"%s", member_string(report, "text"));
	ck_assert_int_eq(member_int(report, "suppressed_bytes"), 48);
	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 2 leak reports "
		"(262184 bytes in 2 allocations), 48 bytes in 2 allocations suppressed");
	reports_of(&run, main_pid(&run), 1, &report);
	assert_leaked_pool(report, "suppressed", RUNNER_POOL_BYTES);
	ck_assert_ptr_nonnull(realpath(scratch, real_scratch));
	snprintf(expected, sizeof(expected), ":suppressions=%s/hide.supp", real_scratch);
	ck_assert_msg(strstr(member_string(run.json, "area_malloc_options"), expected) != NULL,
		"%s", member_string(run.json, "area_malloc_options"));
	run_free(&run);
}
END_TEST

START_TEST(test_suppressions_all)
{
	char path[PATH_MAX];
	struct run run;

	path_join(path, sizeof(path), scratch, "all.supp");
	/* the blocks, and the pool (a leaked pool is suppressed by its creator) */
	write_file(path, "leak:leak_*\nleak:pool_create\n");
	run = RUN("--suppressions", path, "--", RUNNER_DRIVER, "suppressions");
	ck_assert_int_eq(run.status, 0);
	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 0 leak reports, 262232 bytes in 4 "
		"allocations suppressed");
	assert_line(run.out, "result: PASS (exit 0)");
	/* the module's "Suppressions used" tables and JSON lines: reports that
	 * do not fail, counted in the totals */
	ck_assert_int_eq(array_length(run.json, "reports"), 2);
	ck_assert_int_eq(array_length(run.json, "warnings"), 0);
	assert_line(run.out,
		"  pid %d runner_driver     detected memory leaks: 0 bytes in 0 "
		"allocations in pool 1 (suppressed) at exit (88 bytes in 3 allocations "
		"suppressed)",
		main_pid(&run));
	assert_line(run.out,
		"  pid %d runner_driver     leaked-pool: 0 bytes in 0 allocations in "
		"pool 1 (suppressed) at exit (262144 bytes in 1 allocation suppressed)",
		main_pid(&run));
	run_free(&run);
}
END_TEST

/* ---- the reachability scan (--scan, --leak-mode) ---- */

/* The verdict totals of a report.json object (a process, or the totals). */
static void assert_reach_totals(struct json_object *object, bool scanned, int64_t unreferenced,
	int64_t indirect, int64_t referenced)
{
	ck_assert_int_eq(member_bool(object, "scanned"), scanned);
	ck_assert_int_eq(member_int(object, "unreferenced_bytes"), unreferenced);
	ck_assert_int_eq(member_int(object, "unreferenced_blocks"), unreferenced > 0);
	ck_assert_int_eq(member_int(object, "indirect_bytes"), indirect);
	ck_assert_int_eq(member_int(object, "indirect_blocks"), indirect > 0);
	ck_assert_int_eq(member_int(object, "referenced_bytes"), referenced);
	ck_assert_int_eq(member_int(object, "referenced_blocks"), referenced > 0);
}

/* A group's "(first block ..., seq N, VERDICT)" line in a text report. */
static void assert_group_verdict(const char *text, const char *site, const char *verdict)
{
	const char *group = strstr(text, site), *line, *end;
	char wanted[64];
	size_t length;

	ck_assert_msg(group != NULL, "no %s in\n%s", site, text);
	line = strstr(group, "(first block ");
	ck_assert_ptr_nonnull(line);
	end = strchr(line, '\n');
	ck_assert_ptr_nonnull(end);
	/* the first block's age comes before the verdict */
	length = (size_t)snprintf(wanted, sizeof(wanted), " s old, %s)", verdict);
	ck_assert_msg((size_t)(end - line) > length && strncmp(end - length, wanted, length) == 0,
		"%s: not %s in\n%.*s", site, verdict, (int)(end - line), line);
}

/*
 * A driver that puts its module away with a pool open is reported at
 * unload: without --scan every live block, no verdict; with --scan each
 * group marked (the lost block unreferenced, the block only it points to
 * indirectly lost, the block a global holds still referenced), in the
 * report, report.json, the summary and the JUnit failure.
 */
START_TEST(test_scan_at_unload)
{
	struct json_object *report, *pool_report;
	struct run run = RUN("--", RUNNER_DRIVER, "scan");
	char pool[128];
	const char *text;
	pid_t pid;

	ck_assert_int_eq(run.status, 23);
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 2);
	ck_assert_str_eq(member_string(report, "when"), "at unload");
	ck_assert(json_object_get_type(member(report, "reach")) == json_type_null);
	ck_assert_msg(strstr(member_string(report, "text"), "referenced)") == NULL
			&& strstr(member_string(report, "text"), "lost)") == NULL,
		"%s", member_string(report, "text"));
	ck_assert(strstr(run.out, "reachability scan") == NULL);
	assert_reach_totals(member(run.json, "totals"), false, 0, 0, 0);
	run_free(&run);

	run = RUN("--scan", "--", RUNNER_DRIVER, "scan");
	ck_assert_int_eq(run.status, 23);
	pid = main_pid(&run);
	ck_assert_int_eq(reports_of(&run, pid, 0, &report), 2);
	reports_of(&run, pid, 1, &pool_report);
	ck_assert_msg(strstr(member_string(run.json, "area_malloc_options"), ":leak_scan_unload=1")
			!= NULL,
		"%s", member_string(run.json, "area_malloc_options"));
	ck_assert_str_eq(member_string(report, "when"), "at unload");
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 112);
	ck_assert(member_bool(report, "failing"));
	text = member_string(report, "text");
	assert_group_verdict(text, "in rx_leak+", "unreferenced");
	assert_group_verdict(text, "in leak_hide+", "indirectly lost");
	assert_group_verdict(text, "in leak_keep+", "still referenced");
	ck_assert_str_eq(member_string(json_object_array_get_idx(member(report, "groups"), 0),
				 "reach"),
		"unreferenced");
	ck_assert_str_eq(member_string(json_object_array_get_idx(member(report, "groups"), 1),
				 "reach"),
		"referenced");
	ck_assert_str_eq(member_string(json_object_array_get_idx(member(report, "groups"), 2),
				 "reach"),
		"indirect");
	ck_assert_int_eq(member_int(member(member(report, "reach"), "indirect"), "bytes"), 24);
	ck_assert_int_ge(member_int(json_object_array_get_idx(member(report, "groups"), 0),
				 "age_us"),
		0);
	assert_reach_totals(process_of(&run, pid), true, 48, 24, 40);
	assert_reach_totals(member(run.json, "totals"), true, 48, 24, 40);
	ck_assert_int_eq(total(&run, "referenced_reports"), 0);

	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 2 leak reports "
		"(262256 bytes in 4 allocations)");
	assert_line(run.out,
		"area_malloc: reachability scan: unreferenced: 48 byte(s) in 1 "
		"allocation(s), indirectly lost: 24 byte(s) in 1 allocation(s), still "
		"referenced: 40 byte(s) in 1 allocation(s)");
	assert_line(run.out,
		"  pid %d runner_driver detected memory leaks: 112 bytes in 3 "
		"allocations in %s at unload -- rx_leak runner_driver.c:%d "
		"[unreferenced: 48 byte(s) in 1 allocation(s), indirectly lost: 24 "
		"byte(s) in 1 allocation(s), still referenced: 40 byte(s) in 1 "
		"allocation(s)]",
		(int)pid, pool_of(report, pool, sizeof(pool)),
		site_line(RUNNER_DRIVER_SOURCE, "rx_leak"));
	assert_failure_holds(&run, "runner_driver", (struct json_object *[]){ report, pool_report },
		2);
	run_free(&run);
}
END_TEST

/* --leak-mode unreferenced: the still referenced block is no leak (one
 * line counts it); the report fails for the lost ones alone. */
START_TEST(test_scan_leak_mode_unreferenced)
{
	struct json_object *report, *pool_report;
	struct run run = RUN("--scan", "--leak-mode", "unreferenced", "--", RUNNER_DRIVER, "scan");
	pid_t pid;

	ck_assert_int_eq(run.status, 23);
	pid = main_pid(&run);
	ck_assert_int_eq(reports_of(&run, pid, 0, &report), 2);
	reports_of(&run, pid, 1, &pool_report);
	ck_assert_int_eq(member_int(report, "leaked_bytes"), 72);
	ck_assert_int_eq(member_int(report, "leaked_blocks"), 2);
	ck_assert_int_eq(member_int(report, "referenced_bytes"), 40);
	ck_assert_int_eq(array_length(report, "groups"), 2);
	ck_assert_msg(strstr(member_string(report, "text"),
			      "\nStill referenced, not leaks with "
			      "leak_mode=unreferenced: 40 byte(s) in 1 allocation(s).\n")
			!= NULL,
		"%s", member_string(report, "text"));
	ck_assert(member_bool(report, "failing"));
	assert_reach_totals(member(run.json, "totals"), true, 48, 24, 40);
	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 2 leak reports "
		"(262216 bytes in 3 allocations)");
	assert_failure_holds(&run, "runner_driver", (struct json_object *[]){ report, pool_report },
		2);
	run_free(&run);
}
END_TEST

/* Every group still referenced under leak_mode=unreferenced: the module's
 * report is its "Still referenced" line and JSON line alone, read as a
 * report that does not fail the run (no warning), counted apart. The
 * leaked pool itself is suppressed by its creator. */
START_TEST(test_scan_referenced_only_passes)
{
	char path[PATH_MAX];
	struct json_object *report;
	struct run run;
	pid_t pid;

	path_join(path, sizeof(path), scratch, "pool.supp");
	write_file(path, "leak:pool_create\n");
	run = RUN("--scan", "--leak-mode", "unreferenced", "--suppressions", path, "--",
		RUNNER_DRIVER, "scan", "held");
	ck_assert_int_eq(run.status, 0);
	pid = main_pid(&run);
	ck_assert_int_eq(reports_of(&run, pid, 0, &report), 2);
	ck_assert_int_eq(array_length(run.json, "warnings"), 0);
	ck_assert_str_eq(member_string(report, "text"),
		"Still referenced, not leaks with "
		"leak_mode=unreferenced: 40 byte(s) in 1 allocation(s).\n");
	ck_assert(!member_bool(report, "failing"));
	ck_assert_int_eq(member_int(report, "leaked_blocks"), 0);
	ck_assert_int_eq(total(&run, "referenced_reports"), 1);
	ck_assert_int_eq(total(&run, "leak_reports"), 0);
	ck_assert_int_eq(total(&run, "not_failing"), 0);
	assert_reach_totals(member(run.json, "totals"), true, 0, 0, 40);
	assert_line(run.out,
		"area_malloc: 1 process, 0 errors, 0 leak reports, 262144 bytes in 1 "
		"allocation suppressed, 1 leak report only still referenced (not "
		"counted)");
	assert_line(run.out,
		"  pid %d runner_driver detected memory leaks: 0 bytes in 0 "
		"allocations in pool 1 (scanned) at unload [still referenced: 40 byte(s) "
		"in 1 allocation(s)]",
		(int)pid);
	assert_line(run.out, "result: PASS (exit 0)");
	assert_xpath_count(run.junit, 0, "count(//failure)");
	run_free(&run);
}
END_TEST

/* ---- damaged files and hostile text ---- */

START_TEST(test_killed_mid_report)
{
	/* -q: standard error holds the warning alone, no report */
	struct run run = RUN("-q", "--", RUNNER_DRIVER, "killed-mid-report");
	struct json_object *cut, *leak;
	char *body;
	char warning[2 * PATH_MAX], real_out[PATH_MAX];
	pid_t child, parent;

	ck_assert_int_eq(run.status, 23);
	parent = main_pid(&run);
	child = child_pid(run.out, "killed");
	ck_assert_ptr_nonnull(realpath(out_dir, real_out));
	snprintf(warning, sizeof(warning),
		"pooldump run: warning: %s/reports/report.%d: line 1: a report without its JSON "
		"line (its JSON line is cut short; was the process killed while writing?): "
		"counted from its text\n",
		real_out, (int)child);
	ck_assert_str_eq(run.err, warning);
	ck_assert_int_eq(array_length(run.json, "warnings"), 1);

	/* the cut report still counts, from its text */
	ck_assert_int_eq(reports_of(&run, child, 0, &cut), 1);
	ck_assert_str_eq(member_string(cut, "kind"), "double-free");
	ck_assert(member_bool(cut, "incomplete"));
	ck_assert(member_bool(cut, "failing"));
	ck_assert_int_eq(member_int(cut, "pid"), child);
	/* the child is "unknown" or, when the runner read its name before it
	 * was killed, a second "runner_driver" test case: either way its
	 * report is in a failure that holds the cut text */
	body = xpath_string(run.junit, "string(//failure[contains(., 'double-free')])");
	ck_assert_msg(strstr(body, member_string(cut, "text")) != NULL, "%s", body);
	free(body);
	/* and the rest is there */
	ck_assert_int_eq(reports_of(&run, parent, 0, &leak), 2);
	ck_assert_int_eq(member_int(leak, "leaked_bytes"), 16);
	ck_assert(!member_bool(leak, "incomplete"));
	reports_of(&run, parent, 1, &leak);
	assert_leaked_pool(leak, "net-tx", RUNNER_POOL_BYTES);
	ck_assert(!member_bool(leak, "incomplete"));

	assert_line(run.out,
		"area_malloc: 2 processes, 1 error, 2 leak reports "
		"(262160 bytes in 2 allocations)");
	ck_assert_msg(strstr(run.out, " [incomplete report]\n") != NULL, "%s", run.out);
	assert_line(run.out, "  1 warning: see standard error and %s/report.json", real_out);
	char *system_err = xpath_string(run.junit, "string(//testsuite/system-err)");
	ck_assert_msg(strstr(system_err, "cut short") != NULL, "%s", system_err);
	free(system_err);
	run_free(&run);
}
END_TEST

START_TEST(test_odd_pool_name)
{
	struct run run = RUN("--", RUNNER_DRIVER, "odd-name");
	struct json_object *report;
	char *raw, junit_path[PATH_MAX + 16];
	const char *text;

	ck_assert_int_eq(run.status, 23);
	ck_assert_int_eq(reports_of(&run, main_pid(&run), 0, &report), 1);
	/* the module keeps the name's control character as '?' (a name must
	 * not forge report lines); the bad byte becomes U+FFFD in JSON (the
	 * module's and the runner's); the text report escapes the quote */
	ck_assert_str_eq(member_string(member(report, "pool"), "name"), "a]]>b&<c\"'?" REPLACEMENT);
	text = member_string(report, "text");
	ck_assert_msg(strstr(text, "\"a]]>b&<c\\\"'?" REPLACEMENT "\"") != NULL, "%s", text);

	/* "]]>" survives its CDATA section in the JUnit failure */
	char *body = xpath_string(run.junit, "string(//failure)");
	ck_assert_str_eq(body, text);
	free(body);
	path_join(junit_path, sizeof(junit_path), out_dir, "junit.xml");
	raw = read_file(junit_path);
	ck_assert_msg(strstr(raw, "]]]]><![CDATA[>") != NULL, "%s", raw);
	free(raw);
	run_free(&run);
}
END_TEST

/* ---- JUnit: schema and stable names ---- */

/* Runs xmllint --schema tests/runner/junit.xsd over file: 0 when it is
 * valid, 127 when there is no xmllint; its output in scratch/xmllint. */
static int xmllint(const char *file)
{
	char log[PATH_MAX];
	int status;
	pid_t child;

	path_join(log, sizeof(log), scratch, "xmllint");
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(99);
		execlp("xmllint", "xmllint", "--noout", "--nonet", "--schema", JUNIT_XSD, file,
			(char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* "classname/name" of every test case, one a line, in document order. */
static char *case_names(xmlDocPtr doc)
{
	xmlXPathContextPtr context = xmlXPathNewContext(doc);
	xmlXPathObjectPtr cases = xmlXPathEvalExpression(BAD_CAST "//testcase", context);
	char *names = NULL;
	size_t length = 0;
	FILE *out = open_memstream(&names, &length);

	ck_assert(cases != NULL && cases->nodesetval != NULL && out != NULL);
	for (int i = 0; i < cases->nodesetval->nodeNr; i++) {
		xmlNodePtr node = cases->nodesetval->nodeTab[i];
		xmlChar *classname = xmlGetProp(node, BAD_CAST "classname");
		xmlChar *name = xmlGetProp(node, BAD_CAST "name");
		fprintf(out, "%s/%s\n", (const char *)classname, (const char *)name);
		xmlFree(classname);
		xmlFree(name);
	}
	fclose(out);
	xmlXPathFreeObject(cases);
	xmlXPathFreeContext(context);
	return names;
}

/*
 * A failing Check suite (fork mode: each test in a child) and a plain
 * driver whose forked children fail: each junit.xml is valid by the
 * schema Jenkins and GitLab both accept, and its test cases keep their
 * names from one run to the next (new pids every time).
 */
START_TEST(test_junit_schema_and_stable_names)
{
	static const struct {
		const char *environment;
		const char *command;
		const char *argument;
		const char *names;
	} scenarios[] = {
		{ "CK_FORK=yes", "tests/runner/check_driver", NULL,
			"check_driver/check_driver\ncheck_driver/test_leaky\n"
			"check_driver/test_exit_leak\n" },
		{ NULL, "tests/runner/runner_driver", "fork-children",
			"runner_driver/runner_driver\n" },
	};
	char junit[PATH_MAX + 16];
	bool said_skipped = false;

	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		char *names[2];
		for (int round = 0; round < 2; round++) {
			char name[32];
			struct run run;
			int status;

			snprintf(name, sizeof(name), "out-%zu-%d", s, round);
			path_join(out_dir, sizeof(out_dir), scratch, name);
			run = RUN_WITH(ENVIRONMENT(scenarios[s].environment), "-q", "--",
				built(scenarios[s].command), scenarios[s].argument);
			ck_assert_int_eq(run.status, 23);
			path_join(junit, sizeof(junit), out_dir, "junit.xml");
			status = xmllint(junit);
			if (status == 127 && !said_skipped) {
				said_skipped = true;
				fprintf(stderr,
					"test_junit_schema_and_stable_names: SKIPPED the "
					"schema check: no xmllint (Debian package "
					"libxml2-utils; scripts/install-deps installs it)\n");
			} else if (status != 127) {
				char log[PATH_MAX], *text;
				path_join(log, sizeof(log), scratch, "xmllint");
				text = read_file(log);
				ck_assert_msg(status == 0, "%s does not validate against %s:\n%s",
					junit, JUNIT_XSD, text);
				free(text);
			}
			/* time on every case and suite */
			assert_xpath_count(run.junit, 0, "count(//testcase[not(@time)])");
			assert_xpath_count(run.junit, 0, "count(//testsuite[not(@time)])");
			assert_xpath_count(run.junit, 0, "count(//testcase[count(failure) > 1])");
			names[round] = case_names(run.junit);
			run_free(&run);
		}
		ck_assert_str_eq(names[0], scenarios[s].names);
		ck_assert_str_eq(names[1], names[0]);
		free(names[0]);
		free(names[1]);
	}
}
END_TEST

/* ---- the parts: report files, text, JUnit ---- */

#define ERROR_TEXT                                                                                 \
	"==77==ERROR: area_malloc: double-free on address 0x10 (100-byte block) in pool 3\n"       \
	"free by thread T77 (team 77, at 1.000000 s):\n"                                           \
	"    #0 0x1 in tx_free+0x1 (drv) /src/drv.c:5\n"                                           \
	"SUMMARY: area_malloc: double-free tx_free+0x1 (drv) /src/drv.c:5 in pool 3\n"
#define ERROR_JSON                                                                                 \
	"{\"kind\":\"double-free\",\"pid\":77,\"operation\":\"free\",\"address\":\"0x10\","        \
	"\"size\":100,\"pool\":{\"id\":3,\"pool_id\":\"0x1\",\"name\":\"rx\",\"creator\":"         \
	"{\"thread\":77,\"team\":77,\"seq\":0,\"time\":1,\"frames\":[{\"pc\":\"0x2\","             \
	"\"symbol\":\"main+0x9 (drv) /src/drv.c:2\"}]}},\"detected_by\":{\"thread\":77,"           \
	"\"team\":77,\"seq\":0,\"time\":1,\"frames\":[{\"pc\":\"0x1\",\"symbol\":"                 \
	"\"tx_free+0x1 (drv) /src/drv.c:5\"}]}}\n"
#define LEAK_TEXT                                                                                  \
	"==77==ERROR: area_malloc: detected memory leaks\n"                                        \
	"in pool 3 \"rx\" (id 0x1)\n"                                                              \
	"found at exit\n"                                                                          \
	"\n"                                                                                       \
	"Leak of 48 byte(s) in 2 allocation(s) allocated from:\n"                                  \
	"    #0 0x1 in rx_fill+0x1 (drv) /src/drv.c:9\n"                                           \
	"\n"                                                                                       \
	"SUMMARY: area_malloc: 48 byte(s) leaked in 2 allocation(s).\n"

struct parsed {
	struct run_results results;
	struct run_process *process;
};

static void parse(struct parsed *parsed, const char *data, size_t length)
{
	run_results_init(&parsed->results);
	parsed->process = run_results_process(&parsed->results, 77);
	report_file_parse(&parsed->results, parsed->process, "report.77", data, length);
}

static void assert_warning(const struct parsed *parsed, size_t index, const char *part)
{
	ck_assert_uint_lt(index, parsed->results.warning_count);
	ck_assert_msg(strstr(parsed->results.warnings[index].text, part) != NULL,
		"warning \"%s\" lacks \"%s\"", parsed->results.warnings[index].text, part);
	ck_assert_int_eq(parsed->results.warnings[index].pid, 77);
}

START_TEST(test_parse_complete_and_cut)
{
	static const char complete_then_cut_leak[] = ERROR_TEXT ERROR_JSON LEAK_TEXT;
	static const char cut_json[] = ERROR_TEXT "{\"kind\":\"double-free\",\"pid\":77,\"addr";
	static const char malformed_then_good[] = ERROR_TEXT "{\"kind\":1}\n" ERROR_TEXT ERROR_JSON;
	static const char two_texts[] = ERROR_TEXT ERROR_TEXT ERROR_JSON;
	struct parsed parsed;
	const struct run_report *report;

	parse(&parsed, complete_then_cut_leak, strlen(complete_then_cut_leak));
	ck_assert_uint_eq(parsed.process->report_count, 2);
	report = &parsed.process->reports[0];
	ck_assert_str_eq(report->kind, "double-free");
	ck_assert_str_eq(report->text, ERROR_TEXT);
	ck_assert_str_eq(report->summary,
		"SUMMARY: area_malloc: double-free tx_free+0x1 (drv) /src/drv.c:5 in pool 3");
	ck_assert(report->failing && !report->incomplete && !report->leak);
	report = &parsed.process->reports[1];
	ck_assert_str_eq(report->kind, "detected memory leaks");
	ck_assert(report->incomplete && report->leak && report->failing);
	/* the table's machine key beside the kind, as the module's objects have */
	ck_assert_str_eq(report_member_string(report->object, "kind_key"), "leak");
	ck_assert_uint_eq(report->leaked_bytes, 48);
	ck_assert_uint_eq(report->leaked_blocks, 2);
	ck_assert_str_eq(report->text, LEAK_TEXT);
	ck_assert_uint_eq(parsed.results.warning_count, 1);
	assert_warning(&parsed, 0,
		"report.77: line 6: a report without its JSON line (the file ends");
	run_results_free(&parsed.results);

	parse(&parsed, cut_json, strlen(cut_json));
	ck_assert_uint_eq(parsed.process->report_count, 1);
	ck_assert(parsed.process->reports[0].incomplete);
	ck_assert_str_eq(parsed.process->reports[0].kind, "double-free");
	ck_assert_int_eq(json_object_get_int(
				 json_object_object_get(parsed.process->reports[0].object, "pid")),
		77);
	assert_warning(&parsed, 0, "its JSON line is cut short");
	run_results_free(&parsed.results);

	parse(&parsed, malformed_then_good, strlen(malformed_then_good));
	ck_assert_uint_eq(parsed.process->report_count, 2);
	ck_assert(parsed.process->reports[0].incomplete);
	ck_assert(!parsed.process->reports[1].incomplete);
	ck_assert_uint_eq(parsed.results.warning_count, 1);
	assert_warning(&parsed, 0, "its JSON line is malformed");
	run_results_free(&parsed.results);

	parse(&parsed, two_texts, strlen(two_texts));
	ck_assert_uint_eq(parsed.process->report_count, 2);
	ck_assert(parsed.process->reports[0].incomplete);
	ck_assert(!parsed.process->reports[1].incomplete);
	assert_warning(&parsed, 0,
		"line 1: a report without its JSON line (another report follows");
	run_results_free(&parsed.results);
}
END_TEST

START_TEST(test_parse_garbage)
{
	static const char garbage[] = "\x00\x01\xff\xfe binary\nsome line\n\n{not json\n";
	static const char json_only[] = ERROR_JSON;
	struct parsed parsed;

	parse(&parsed, "", 0);
	ck_assert_uint_eq(parsed.process->report_count, 0);
	ck_assert_uint_eq(parsed.results.warning_count, 0);
	run_results_free(&parsed.results);

	parse(&parsed, garbage, sizeof(garbage) - 1);
	ck_assert_uint_eq(parsed.process->report_count, 0);
	ck_assert_uint_eq(parsed.results.warning_count, 2);
	assert_warning(&parsed, 0, "line 4: a malformed JSON line outside any report, ignored");
	assert_warning(&parsed, 1, "2 line(s) outside any report ignored (the first is line 1)");
	run_results_free(&parsed.results);

	/* a JSON line without its text is still a report */
	parse(&parsed, json_only, strlen(json_only));
	ck_assert_uint_eq(parsed.process->report_count, 1);
	ck_assert_str_eq(parsed.process->reports[0].text, "");
	ck_assert_str_eq(parsed.process->reports[0].summary, "double-free");
	ck_assert_uint_eq(parsed.results.warning_count, 0);
	run_results_free(&parsed.results);
}
END_TEST

START_TEST(test_parse_totals_on_request_and_bad_bytes)
{
	static const char totals[] = ERROR_TEXT ERROR_JSON
		"==77==area_malloc: 3 more report(s) of double-free from tx_free+0x1 (drv) "
		"/src/drv.c:5, not printed (identical to the first)\n"
		"==77==area_malloc: 4 more error report(s) not printed (max_reports=100)\n";
	static const char on_request[] = LEAK_TEXT
		"{\"kind\":\"detected memory leaks\",\"pid\":77,\"when\":\"on request\","
		"\"leaked_bytes\":48,\"leaked_blocks\":2,\"pool\":{\"id\":3,\"name\":\"r\xffx\"}}\n";
	struct parsed parsed;
	struct run_totals sums;

	parse(&parsed, totals, strlen(totals));
	ck_assert_uint_eq(parsed.process->unprinted_reports, 7);
	ck_assert_uint_eq(parsed.process->report_count, 1);
	ck_assert_uint_eq(parsed.results.warning_count, 0);
	run_results_totals(&parsed.results, &sums);
	ck_assert_uint_eq(sums.unprinted_reports, 7);
	ck_assert_uint_eq(sums.errors, 1);
	run_results_free(&parsed.results);

	parse(&parsed, on_request, strlen(on_request));
	ck_assert_uint_eq(parsed.process->report_count, 1);
	ck_assert(!parsed.process->reports[0].failing);
	ck_assert_str_eq(json_object_get_string(
				 json_object_object_get(json_object_object_get(parsed.process
										       ->reports[0]
										       .object,
								"pool"),
					 "name")),
		"r" REPLACEMENT "x");
	run_results_totals(&parsed.results, &sums);
	ck_assert_uint_eq(sums.leak_reports, 0);
	ck_assert_uint_eq(sums.informational, 1);
	run_results_free(&parsed.results);
}
END_TEST

/* Kinds go through format/error_kind.h's table; one it lacks (a newer
 * module's) is an error under its own name. */
START_TEST(test_parse_kinds_through_table)
{
	static const char json_kinds[] =
		"{\"kind\":\"some-future-kind\",\"pid\":77}\n"
		"{\"kind\":\"detected unreferenced memory\",\"pid\":77,\"when\":\"at exit\","
		"\"leaked_bytes\":16,\"leaked_blocks\":1}\n";
	static const char texts_cut[] =
		"==77==ERROR: area_malloc: heap-buffer-overflow on address 0x10 in pool 3\n"
		"==77==ERROR: area_malloc: some-future-kind on address 0x10 in pool 3\n"
		"==77==ERROR: area_malloc: detected odd things\n"
		"==77==ERROR: area_malloc: detected memory leaks\n";
	static const char *const cut_kinds[] = { "heap-buffer-overflow", "some-future-kind",
		"detected odd things", "detected memory leaks" };
	struct parsed parsed;
	struct run_totals sums;

	parse(&parsed, json_kinds, strlen(json_kinds));
	ck_assert_uint_eq(parsed.process->report_count, 2);
	ck_assert_str_eq(parsed.process->reports[0].kind, "some-future-kind");
	ck_assert(!parsed.process->reports[0].leak && parsed.process->reports[0].failing);
	ck_assert(parsed.process->reports[1].leak && parsed.process->reports[1].failing);
	run_results_totals(&parsed.results, &sums);
	ck_assert_uint_eq(sums.errors, 1);
	ck_assert_uint_eq(sums.leak_reports, 1);
	ck_assert_uint_eq(sums.leaked_bytes, 16);
	run_results_free(&parsed.results);

	parse(&parsed, texts_cut, strlen(texts_cut));
	ck_assert_uint_eq(parsed.process->report_count, 4);
	for (size_t r = 0; r < 4; r++) {
		ck_assert_str_eq(parsed.process->reports[r].kind, cut_kinds[r]);
		ck_assert(parsed.process->reports[r].incomplete);
		ck_assert(parsed.process->reports[r].leak == (r == 3));
	}
	run_results_free(&parsed.results);
}
END_TEST

START_TEST(test_utf8_clean)
{
	static const struct {
		const char *in;
		size_t length;
		bool for_xml;
		const char *out;
	} cases[] = {
		{ "plain\ttext\n", 11, true, "plain\ttext\n" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, true,
			"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "a\0b", 3, false, "a" REPLACEMENT "b" },
		{ "\x01\x1f\x7f", 3, false, "\x01\x1f\x7f" },
		{ "\x01\x1f\r", 3, true, REPLACEMENT REPLACEMENT "\r" },
		{ "\xc0\xaf", 2, false, REPLACEMENT REPLACEMENT },                 /* overlong */
		{ "\xed\xa0\x80", 3, false, REPLACEMENT REPLACEMENT REPLACEMENT }, /* surrogate */
		{ "\xf4\x90\x80\x80", 4, false,
			REPLACEMENT REPLACEMENT REPLACEMENT REPLACEMENT }, /* > U+10FFFF */
		{ "x\xe2\x82", 3, false, "x" REPLACEMENT REPLACEMENT },    /* cut short */
		{ "\xef\xbf\xbe", 3, true, REPLACEMENT },                  /* U+FFFE */
		{ "\xef\xbf\xbe", 3, false, "\xef\xbf\xbe" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = utf8_clean(cases[i].in, cases[i].length, cases[i].for_xml);
		ck_assert_msg(strcmp(out, cases[i].out) == 0, "case %zu", i);
		free(out);
	}
}
END_TEST

START_TEST(test_symbol_short)
{
	static const char *const cases[][2] = {
		{ "tx_free+0x1e (runner_driver) /a/b/runner_driver.c:61",
			"tx_free runner_driver.c:61" },
		{ "ns::f(int)+0x5 (libx.so) src/f.cc:3", "ns::f(int) f.cc:3" },
		{ "0x1234 (libc.so.6+0x29d90)", "0x1234 (libc.so.6)" },
		{ "g+0x2 (drv, deleted)", "g (drv)" },
		{ "0x55d0c0ffee", "0x55d0c0ffee" },
	};
	char buffer[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		symbol_short(cases[i][0], buffer, sizeof(buffer));
		ck_assert_str_eq(buffer, cases[i][1]);
	}
	ck_assert(symbol_image("main+0x9 (drv) /src/drv.c:2", buffer, sizeof(buffer)));
	ck_assert_str_eq(buffer, "drv");
	ck_assert(!symbol_image("0x55d0c0ffee", buffer, sizeof(buffer)));
}
END_TEST

START_TEST(test_junit_writer)
{
	static const char hostile[] =
		"==77==ERROR: area_malloc: double-free on address 0x10 in pool 3 \"]]>\x02<&\"\n"
		"SUMMARY: area_malloc: double-free tx_free+0x1 (drv) /src/drv.c:5 in pool 3\n"
		"{\"kind\":\"double-free\",\"pid\":77,\"test\":\"t\\u0001<]]>&\\\"\","
		"\"pool\":{\"id\":3,\"name\":\"x\",\"creator\":{\"frames\":[{\"pc\":\"0x2\","
		"\"symbol\":\"main+0x9 (drv) /src/drv.c:2\"}]}}}\n";
	struct parsed parsed;
	char *xml = NULL, error[128];
	size_t xml_length = 0;
	FILE *memory;
	xmlDocPtr doc;

	parse(&parsed, hostile, strlen(hostile));
	parsed.process->main = true;
	parsed.results.main_exit = (struct run_exit){ true, true, SIGSEGV, false };
	/* all a process that ended too soon leaves: its comm ("exe" for an exec of
	 * /proc/self/exe); the image that created its pool names it better */
	run_process_set_name(parsed.process, NULL, "exe", NAME_FROM_COMM);
	run_results_finish(&parsed.results);
	ck_assert_str_eq(parsed.results.processes[0].name, "drv");
	memory = open_memstream(&xml, &xml_length);
	ck_assert(junit_write(&parsed.results, memory, error, sizeof(error)));
	fclose(memory);
	doc = xmlReadMemory(xml, (int)xml_length, "junit.xml", NULL, XML_PARSE_NONET);
	ck_assert_msg(doc != NULL, "not XML:\n%s", xml);
	assert_xpath_count(doc, 2, "count(//testcase[@classname='drv'])");
	assert_xpath_string(doc, "t" REPLACEMENT "<]]>&\"", "string(//testcase[failure]/@name)");
	assert_xpath_string(doc,
		"==77==ERROR: area_malloc: double-free on address 0x10 in pool 3 \"]]>" REPLACEMENT
		"<&\"\nSUMMARY: area_malloc: double-free tx_free+0x1 (drv) /src/drv.c:5 in pool 3\n",
		"string(//failure)");
	assert_xpath_string(doc, "the command was killed by signal 11 (SIGSEGV)",
		"string(//testcase[@name='drv']/error/@message)");
	assert_xpath_count(doc, 1, "number(/testsuites/@failures)");
	assert_xpath_count(doc, 1, "number(/testsuites/@errors)");
	xmlFreeDoc(doc);
	free(xml);
	run_results_free(&parsed.results);
}
END_TEST

static Suite *runner_suite(void)
{
	Suite *suite = suite_create("runner");
	TCase *test_case;

	test_case = tcase_create("cli");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_help);
	tcase_add_test(test_case, test_usage_errors);
	tcase_add_test(test_case, test_command_not_found);
	tcase_add_test(test_case, test_unwritable_output);
	tcase_add_test(test_case, test_module_dir_choice);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("environment");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_environment_merged);
	tcase_add_test(test_case, test_environment_fresh_and_quoted);
	tcase_add_test(test_case, test_stale_reports_removed);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("one_process");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_clean);
	tcase_add_test(test_case, test_exit_status_passed_through);
	tcase_add_test(test_case, test_leak);
	tcase_add_test(test_case, test_double_free);
	tcase_add_test(test_case, test_reports_echoed);
	tcase_add_test(test_case, test_unprinted_reports_counted);
	tcase_add_test(test_case, test_leak_on_request_not_counted);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("processes");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_fork_children);
	tcase_add_test(test_case, test_orphans_waited_for);
	tcase_add_test(test_case, test_orphans_left_running);
	tcase_add_test(test_case, test_check_fork_mode);
	tcase_add_test(test_case, test_check_nofork_mode);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("signals");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_crash_after_report);
	tcase_add_test(test_case, test_crash_without_report);
	tcase_add_test(test_case, test_halt_on_error);
	tcase_add_test(test_case, test_killed_points_at_node);
	tcase_add_loop_test(test_case, test_signal_forwarded, 0, 2);
	tcase_add_test(test_case, test_reports_echoed_as_they_come);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("suppressions");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_suppressions_partial);
	tcase_add_test(test_case, test_suppressions_all);
	tcase_add_test(test_case, test_scan_at_unload);
	tcase_add_test(test_case, test_scan_leak_mode_unreferenced);
	tcase_add_test(test_case, test_scan_referenced_only_passes);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("robustness");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_killed_mid_report);
	tcase_add_test(test_case, test_odd_pool_name);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("junit");
	tcase_add_checked_fixture(test_case, scratch_setup, scratch_teardown);
	tcase_add_test(test_case, test_junit_schema_and_stable_names);
	suite_add_tcase(suite, test_case);

	test_case = tcase_create("parts");
	tcase_add_test(test_case, test_parse_complete_and_cut);
	tcase_add_test(test_case, test_parse_garbage);
	tcase_add_test(test_case, test_parse_totals_on_request_and_bad_bytes);
	tcase_add_test(test_case, test_parse_kinds_through_table);
	tcase_add_test(test_case, test_utf8_clean);
	tcase_add_test(test_case, test_symbol_short);
	tcase_add_test(test_case, test_junit_writer);
	suite_add_tcase(suite, test_case);
	return suite;
}

int main(void)
{
	int status = run_check_suite(runner_suite(), CK_FORK_GETENV);

	xmlCleanupParser();
	return status;
}
