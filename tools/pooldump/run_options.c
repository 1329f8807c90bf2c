/*
 * run_options.c - the command line of "pooldump run", and the environment
 * the command gets from it: KERNEL_MODULE_PATH with the debug module
 * directory first, and AREA_MALLOC_OPTIONS with log_path=OUTDIR/reports/
 * report and report_format=json, so that every process the command starts
 * (forks and programs it runs included) writes its reports to its own
 * report.PID file, which the runner reads after the command ends
 * (report_files.c; it echoes each finished report as it comes too,
 * run_supervise.c).
 *
 * Invariants: the module option a flag stands for, and --options, are
 * checked with the module's own parser (format/options.c) before anything
 * runs: a value the module would refuse fails the runner at once (exit
 * 125), before the command's processes meet it. log_path and report_format
 * are the runner's: --options cannot set them, and they come after the
 * caller's own AREA_MALLOC_OPTIONS (the module takes an option's last
 * value).
 * KERNEL_MODULE_PATH cannot hold a directory with ':', so such a module
 * directory is refused.
 *
 * --scan is the module's leak_scan_unload=1: every process then scans
 * itself at its exit point, in process, right before it reports (at exit
 * the module always does; leak_scan_unload adds the last put_module, where
 * a well-behaved driver's open pools are reported). The runner does not
 * scan from outside (ptrace at each exit): the option reaches every
 * process the command starts, forks and execs included, as the other
 * options do; it needs no permission to trace (Yama, another uid, a
 * sanitizer or debugger already tracing); it sees the exact moment the
 * reports are made; and a process killed by a signal, which makes no
 * report, needs no scan.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/options.h"
#include "run.h"
#include "run_internal.h"

#ifndef AREA_MALLOC_DEBUG_MODULEDIR
#error "define AREA_MALLOC_DEBUG_MODULEDIR, the installed debug module directory"
#endif

#define DEBUG_MODULE_FILE "generic/area_malloc"

void run_usage(FILE *out)
{
	fprintf(out,
		"usage: pooldump run [OPTIONS] [--] COMMAND [ARGS...]\n"
		"Runs COMMAND with the debug build of area_malloc, collects the reports of every\n"
		"process it starts, prints a summary and writes OUTDIR/junit.xml and\n"
		"OUTDIR/report.json.\n"
		"Options:\n"
		"  -o, --output-dir DIR      default " DEFAULT_OUTPUT_DIR "\n"
		"  --junit FILE              default OUTDIR/junit.xml\n"
		"  --json FILE               default OUTDIR/report.json\n"
		"  --suppressions FILE       leak:PATTERN lines (suppressions=FILE)\n"
		"  --halt-on-error           abort at the first error (halt_on_error=1)\n"
		"  --scan                    a reachability scan before the reports at unload\n"
		"                            too, not only at exit: each leak group is marked\n"
		"                            unreferenced, indirectly lost or still referenced\n"
		"                            (leak_scan_unload=1)\n"
		"  --leak-mode MODE          all, or unreferenced: only blocks no pointer reaches\n"
		"                            are leaks (leak_mode=MODE)\n"
		"  --log-size N              events kept per pool (log_size=N)\n"
		"  --quarantine-bytes N      freed bytes held back per pool (quarantine_bytes=N)\n"
		"  --stack-depth N           frames recorded per block (stack_depth=N)\n"
		"  --fail-nth N, --fail-rate R, --fail-seed S, --fail-caller PATTERN\n"
		"                            allocation failure injection (fail_nth=N, ...)\n"
		"  --guard                   every block meets a guard page: overflows and uses\n"
		"                            after free fault at the access (guard=1)\n"
		"  --guard-pools PATTERN, --guard-size N, --guard-sample N, --guard-seed S\n"
		"                            guard the blocks of the pools named so, of at most\n"
		"                            N bytes, one allocation in N (guard_pools=PATTERN, ...)\n"
		"  --guard-underflow         the guard page before each guarded block\n"
		"                            (guard_underflow=1)\n"
		"  --options 'k=v:k=v'       further AREA_MALLOC_OPTIONS\n"
		"  --module-dir DIR          the debug module directory (default:\n"
		"                            $AREA_MALLOC_DEBUG_MODULE_DIR, else\n"
		"                            " AREA_MALLOC_DEBUG_MODULEDIR ")\n"
		"  --orphan-wait SECONDS     how long processes the command left behind may\n"
		"                            go on before the reports are read (default 2)\n"
		"  -q, --quiet               only the summary: no report echoed to standard\n"
		"                            error (the files are still written)\n"
		"  -h, --help                this help\n"
		"Exit status: 23 when an error or an unsuppressed leak was reported in any process;\n"
		"otherwise the command's (128+N when it died of signal N); 125 for the runner's\n"
		"own errors; 126 when COMMAND cannot be run, 127 when it is not found.\n");
}

struct option_check {
	char message[512];
	int problems;
};

/* The first problem, without the module's "; using DEFAULT": the runner
 * refuses the option instead of running with the default. */
static void collect_problem(const char *message, void *context)
{
	struct option_check *check = context;
	char *using = NULL;

	if (strncmp(message, DEBUG_OPTIONS_HELP_PREFIX, strlen(DEBUG_OPTIONS_HELP_PREFIX)) == 0
		|| check->problems++ > 0)
		return;
	snprintf(check->message, sizeof(check->message), "%s", message);
	/* the last one: the value shown before it may hold the same words */
	for (char *at = strstr(check->message, "; using "); at != NULL;
		at = strstr(at + 1, "; using "))
		using = at;
	if (using != NULL)
		*using = '\0';
}

/* Whether the module accepts text as it is (its own parser decides). */
static bool module_options_valid(const char *text, struct option_check *check)
{
	struct debug_options scratch;

	debug_options_set_defaults(&scratch);
	memset(check, 0, sizeof(*check));
	return debug_options_parse(text, &scratch, collect_problem, check) == 0;
}

/*
 * Whether text sets log_path or report_format, which the runner owns. The
 * text is parsed over two different starting values: an option it sets
 * ends up the same in both, one it leaves alone keeps them apart.
 */
static bool sets_runner_option(const char *text)
{
	struct debug_options first, second;

	debug_options_set_defaults(&first);
	debug_options_set_defaults(&second);
	first.report_format = REPORT_FORMAT_TEXT;
	second.report_format = REPORT_FORMAT_JSON;
	strcpy(second.log_path, "-");
	debug_options_parse(text, &first, NULL, NULL);
	debug_options_parse(text, &second, NULL, NULL);
	return strcmp(first.log_path, second.log_path) == 0
		|| first.report_format == second.report_format;
}

/* "key=value", the value quoted when it holds a ':' (or starts with a
 * quote); NULL when it holds both quotes and a ':' (cannot be written). */
static char *option_text(const char *key, const char *value)
{
	char quote;

	/* the module's parser separates on both */
	if (strpbrk(value, ":,") == NULL && value[0] != '\'' && value[0] != '"')
		return format_string("%s=%s", key, value);
	quote = strchr(value, '\'') == NULL ? '\'' : strchr(value, '"') == NULL ? '"' : 0;
	if (quote == 0)
		return NULL;
	return format_string("%s=%c%s%c", key, quote, value, quote);
}

static void append_module_options(struct run_config *config, const char *text)
{
	char *joined = format_string("%s%s%s", config->module_options,
		config->module_options[0] != '\0' ? ":" : "", text);

	free(config->module_options);
	config->module_options = joined;
}

/* Adds the module option a flag stands for, once the module accepts it. */
static int add_flag_option(struct run_config *config, const char *flag, const char *key,
	const char *value)
{
	struct option_check check;
	char *text = option_text(key, value);

	if (text == NULL)
		return runner_error("%s: a value with ':' or ',' cannot hold both kinds of quotes",
			flag);
	if (!module_options_valid(text, &check)) {
		free(text);
		return runner_error("%s: %s", flag, check.message);
	}
	append_module_options(config, text);
	free(text);
	return 0;
}

static int add_suppressions(struct run_config *config, const char *file)
{
	char path[PATH_MAX];

	/* absolute: the command may change its directory */
	if (realpath(file, path) == NULL)
		return runner_error("--suppressions: %s: %s", file, strerror(errno));
	return add_flag_option(config, "--suppressions", "suppressions", path);
}

static int add_free_options(struct run_config *config, const char *text)
{
	struct option_check check;

	if (!module_options_valid(text, &check))
		return runner_error("--options: %s", check.message);
	if (sets_runner_option(text))
		return runner_error(
			"--options: log_path and report_format are set by pooldump run");
	append_module_options(config, text);
	return 0;
}

enum {
	OPTION_JUNIT = 256,
	OPTION_JSON,
	OPTION_SUPPRESSIONS,
	OPTION_HALT_ON_ERROR,
	OPTION_SCAN,
	OPTION_LEAK_MODE,
	OPTION_LOG_SIZE,
	OPTION_QUARANTINE_BYTES,
	OPTION_STACK_DEPTH,
	OPTION_FAIL_NTH,
	OPTION_FAIL_RATE,
	OPTION_FAIL_SEED,
	OPTION_FAIL_CALLER,
	OPTION_GUARD,
	OPTION_GUARD_POOLS,
	OPTION_GUARD_SIZE,
	OPTION_GUARD_SAMPLE,
	OPTION_GUARD_SEED,
	OPTION_GUARD_UNDERFLOW,
	OPTION_OPTIONS,
	OPTION_MODULE_DIR,
	OPTION_ORPHAN_WAIT,
};

/* Seconds, 0 to an hour, to 1 ms; -1 when text is not that. */
static int parse_wait_ms(const char *text)
{
	char *end;
	double seconds;

	errno = 0;
	seconds = strtod(text, &end);
	if (end == text || *end != '\0' || errno != 0 || !(seconds >= 0 && seconds <= 3600))
		return -1;
	return (int)(seconds * 1000.0 + 0.5);
}

/* The flags that stand for one module option each: with the flag's
 * argument, or with value (flags that take none). */
static const struct {
	int id;
	const char *flag;
	const char *key;
	const char *value;
} flag_options[] = {
	{ OPTION_HALT_ON_ERROR, "--halt-on-error", "halt_on_error", "1" },
	{ OPTION_SCAN, "--scan", "leak_scan_unload", "1" },
	{ OPTION_GUARD, "--guard", "guard", "1" },
	{ OPTION_GUARD_UNDERFLOW, "--guard-underflow", "guard_underflow", "1" },
	{ OPTION_LEAK_MODE, "--leak-mode", "leak_mode", NULL },
	{ OPTION_LOG_SIZE, "--log-size", "log_size", NULL },
	{ OPTION_QUARANTINE_BYTES, "--quarantine-bytes", "quarantine_bytes", NULL },
	{ OPTION_STACK_DEPTH, "--stack-depth", "stack_depth", NULL },
	{ OPTION_FAIL_NTH, "--fail-nth", "fail_nth", NULL },
	{ OPTION_FAIL_RATE, "--fail-rate", "fail_rate", NULL },
	{ OPTION_FAIL_SEED, "--fail-seed", "fail_seed", NULL },
	{ OPTION_FAIL_CALLER, "--fail-caller", "fail_caller", NULL },
	{ OPTION_GUARD_POOLS, "--guard-pools", "guard_pools", NULL },
	{ OPTION_GUARD_SIZE, "--guard-size", "guard_size", NULL },
	{ OPTION_GUARD_SAMPLE, "--guard-sample", "guard_sample", NULL },
	{ OPTION_GUARD_SEED, "--guard-seed", "guard_seed", NULL },
};

/* Returns 0 to go on, -1 after --help, else the exit status. */
int parse_arguments(int argc, char **argv, struct run_config *config)
{
	static const struct option options[] = {
		{ "output-dir", required_argument, NULL, 'o' },
		{ "junit", required_argument, NULL, OPTION_JUNIT },
		{ "json", required_argument, NULL, OPTION_JSON },
		{ "suppressions", required_argument, NULL, OPTION_SUPPRESSIONS },
		{ "halt-on-error", no_argument, NULL, OPTION_HALT_ON_ERROR },
		{ "scan", no_argument, NULL, OPTION_SCAN },
		{ "leak-mode", required_argument, NULL, OPTION_LEAK_MODE },
		{ "log-size", required_argument, NULL, OPTION_LOG_SIZE },
		{ "quarantine-bytes", required_argument, NULL, OPTION_QUARANTINE_BYTES },
		{ "stack-depth", required_argument, NULL, OPTION_STACK_DEPTH },
		{ "fail-nth", required_argument, NULL, OPTION_FAIL_NTH },
		{ "fail-rate", required_argument, NULL, OPTION_FAIL_RATE },
		{ "fail-seed", required_argument, NULL, OPTION_FAIL_SEED },
		{ "fail-caller", required_argument, NULL, OPTION_FAIL_CALLER },
		{ "guard", no_argument, NULL, OPTION_GUARD },
		{ "guard-pools", required_argument, NULL, OPTION_GUARD_POOLS },
		{ "guard-size", required_argument, NULL, OPTION_GUARD_SIZE },
		{ "guard-sample", required_argument, NULL, OPTION_GUARD_SAMPLE },
		{ "guard-seed", required_argument, NULL, OPTION_GUARD_SEED },
		{ "guard-underflow", no_argument, NULL, OPTION_GUARD_UNDERFLOW },
		{ "options", required_argument, NULL, OPTION_OPTIONS },
		{ "module-dir", required_argument, NULL, OPTION_MODULE_DIR },
		{ "orphan-wait", required_argument, NULL, OPTION_ORPHAN_WAIT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int option, status = 0;

	opterr = 0;
	/* '+': the command's own options are not ours */
	while (status == 0 && (option = getopt_long(argc, argv, "+o:qh", options, NULL)) != -1) {
		switch (option) {
		case 'o':
			config->output_dir_argument = optarg;
			break;
		case OPTION_JUNIT:
			config->junit_argument = optarg;
			break;
		case OPTION_JSON:
			config->json_argument = optarg;
			break;
		case OPTION_MODULE_DIR:
			config->module_dir_argument = optarg;
			break;
		case OPTION_ORPHAN_WAIT:
			config->orphan_wait_ms = parse_wait_ms(optarg);
			if (config->orphan_wait_ms < 0)
				return runner_error(
					"--orphan-wait takes seconds from 0 to 3600, not "
					"'%s'",
					optarg);
			break;
		case 'q':
			config->quiet = true;
			break;
		case 'h':
			run_usage(stdout);
			return -1;
		case OPTION_SUPPRESSIONS:
			status = add_suppressions(config, optarg);
			break;
		case OPTION_OPTIONS:
			status = add_free_options(config, optarg);
			break;
		default:
			status = -1;
			for (size_t i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]);
				i++) {
				if (flag_options[i].id == option)
					status = add_flag_option(config, flag_options[i].flag,
						flag_options[i].key,
						flag_options[i].value != NULL
							? flag_options[i].value
							: optarg);
			}
			if (status == -1)
				return runner_error("unknown option or missing value: %s (see "
						    "pooldump run --help)",
					argv[optind - 1 < argc ? optind - 1 : argc - 1]);
		}
	}
	if (status != 0)
		return status;
	if (optind >= argc)
		return runner_error("no command given (see pooldump run --help)");
	config->command = argv + optind;
	return 0;
}

/* ---- the command's environment ---- */

int resolve_module_dir(struct run_config *config)
{
	const char *dir = config->module_dir_argument, *source = "--module-dir";
	const char *from_environment = getenv("AREA_MALLOC_DEBUG_MODULE_DIR");
	char module[PATH_MAX + sizeof(DEBUG_MODULE_FILE) + 1];
	struct stat status;

	if (dir == NULL && from_environment != NULL && from_environment[0] != '\0') {
		dir = from_environment;
		source = "AREA_MALLOC_DEBUG_MODULE_DIR";
	}
	if (dir == NULL) {
		dir = AREA_MALLOC_DEBUG_MODULEDIR;
		source = "the installed location";
	}
	if (realpath(dir, config->module_dir) == NULL)
		return runner_error("debug module directory %s (%s): %s", dir, source,
			strerror(errno));
	snprintf(module, sizeof(module), "%s/" DEBUG_MODULE_FILE, config->module_dir);
	if (stat(module, &status) != 0 || !S_ISREG(status.st_mode))
		return runner_error("no debug module in %s (%s): %s is missing", dir, source,
			module);
	if (strchr(config->module_dir, ':') != NULL)
		return runner_error("debug module directory %s: KERNEL_MODULE_PATH cannot hold "
				    "a directory with ':'",
			config->module_dir);
	return 0;
}

/* Sets KERNEL_MODULE_PATH and AREA_MALLOC_OPTIONS as the command gets them. */
int prepare_environment(struct run_config *config)
{
	const char *previous_path = getenv("KERNEL_MODULE_PATH");
	const char *previous_options = getenv("AREA_MALLOC_OPTIONS");
	char *log_path_prefix = format_string("%s/report", config->reports_dir);
	char *log_path = option_text("log_path", log_path_prefix);

	free(log_path_prefix);
	if (log_path == NULL)
		return runner_error("output directory %s: a path with ':' cannot hold both kinds "
				    "of quotes",
			config->output_dir);
	if (previous_path != NULL && previous_path[0] != '\0')
		config->kernel_module_path =
			format_string("%s:%s", config->module_dir, previous_path);
	else
		config->kernel_module_path = format_string("%s", config->module_dir);
	config->area_malloc_options = format_string("%s%s%s:report_format=json%s%s",
		previous_options != NULL ? previous_options : "",
		previous_options != NULL && previous_options[0] != '\0' ? ":" : "", log_path,
		config->module_options[0] != '\0' ? ":" : "", config->module_options);
	free(log_path);
	if (setenv("KERNEL_MODULE_PATH", config->kernel_module_path, 1) != 0
		|| setenv("AREA_MALLOC_OPTIONS", config->area_malloc_options, 1) != 0)
		return runner_error("cannot set the environment: %s", strerror(errno));
	return 0;
}
