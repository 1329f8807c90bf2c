/*
 * run.c - "pooldump run", the QA runner (pooldump(1), RUN): its options,
 * the command's environment, running and watching the command, then the
 * exit status, the CI files (junit.c, report_json.c) and the summary.
 *
 * The command gets KERNEL_MODULE_PATH with the debug module directory first
 * and AREA_MALLOC_OPTIONS with log_path=OUTDIR/reports/report and
 * report_format=json, so that every process it starts (forks and programs
 * it runs included) writes its reports to its own report.PID file; the
 * runner reads them after the command ends (report_files.c).
 *
 * A file only names a pid. So that processes are named by what they ran,
 * the runner watches the reports directory with inotify and reads
 * /proc/PID/cmdline as soon as a file appears: the process is writing its
 * first report then. It is also a child subreaper, so processes the
 * command left behind are its children: it waits for them a little
 * (DESCENDANT_GRACE_MS) before reading the files, and says so when some
 * still run.
 *
 * Invariants: SIGCHLD, SIGINT and SIGTERM are blocked in the runner from
 * before the fork until it exits, and read from a signalfd while the
 * command runs (no handler, no race); the command gets the original mask
 * and SIGCHLD action back before exec. SIGINT and SIGTERM are forwarded to
 * the command unless the kernel sent them (a terminal's ^C already reached
 * the whole foreground group).
 * The output files are opened before the command runs, so an unwritable
 * OUTDIR fails at once (exit 125); they are removed again when the command
 * cannot be started.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format/options.h"
#include "junit.h"
#include "report_files.h"
#include "report_json.h"
#include "run.h"

#ifndef AREA_MALLOC_DEBUG_MODULEDIR
#error "define AREA_MALLOC_DEBUG_MODULEDIR, the installed debug module directory"
#endif

#define DEBUG_MODULE_FILE "generic/area_malloc"
#define DEFAULT_OUTPUT_DIR "./area_malloc-report"
#define REPORTS_SUBDIR "reports"
#define SUMMARY_MAX_LINES 20
#define DESCENDANT_GRACE_MS 2000

struct run_config {
	const char *output_dir_argument;
	const char *junit_argument;
	const char *json_argument;
	const char *module_dir_argument;
	bool quiet;
	char *module_options;		/* from the flags, in their order */
	char **command;
	/* resolved */
	char output_dir[PATH_MAX];
	char reports_dir[PATH_MAX];
	char module_dir[PATH_MAX];
	char junit_path[PATH_MAX];
	char json_path[PATH_MAX];
	char *kernel_module_path;	/* as the command gets them */
	char *area_malloc_options;
	FILE *junit_file;
	FILE *json_file;
};

static int runner_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int runner_error(const char *format, ...)
{
	va_list arguments;

	fflush(stdout);
	fputs("pooldump run: ", stderr);
	va_start(arguments, format);
	vfprintf(stderr, format, arguments);
	va_end(arguments);
	fputc('\n', stderr);
	return RUN_STATUS_RUNNER_ERROR;
}

static char *format_string(const char *format, ...) __attribute__((format(printf, 1, 2)));

static char *format_string(const char *format, ...)
{
	va_list arguments;
	char *text;

	va_start(arguments, format);
	if (vasprintf(&text, format, arguments) < 0) {
		fputs("pooldump run: out of memory\n", stderr);
		exit(RUN_STATUS_RUNNER_ERROR);
	}
	va_end(arguments);
	return text;
}

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
		"  --log-size N              events kept per pool (log_size=N)\n"
		"  --quarantine-bytes N      freed bytes held back per pool (quarantine_bytes=N)\n"
		"  --stack-depth N           frames recorded per block (stack_depth=N)\n"
		"  --fail-nth N, --fail-rate R, --fail-seed S, --fail-caller PATTERN\n"
		"                            allocation failure injection (fail_nth=N, ...)\n"
		"  --options 'k=v:k=v'       further AREA_MALLOC_OPTIONS\n"
		"  --module-dir DIR          the debug module directory (default:\n"
		"                            $AREA_MALLOC_DEBUG_MODULE_DIR, else\n"
		"                            " AREA_MALLOC_DEBUG_MODULEDIR ")\n"
		"  -q, --quiet               no summary (the files are still written)\n"
		"  -h, --help                this help\n"
		"Exit status: 23 when an error or an unsuppressed leak was reported in any process;\n"
		"otherwise the command's (128+N when it died of signal N); 125 for the runner's\n"
		"own errors; 126 when COMMAND cannot be run, 127 when it is not found.\n");
}

/* ---- options ---- */

struct option_check {
	char message[512];
	int problems;
};

static void collect_problem(const char *message, void *context)
{
	struct option_check *check = context;

	if (check->problems++ == 0)
		snprintf(check->message, sizeof(check->message), "%s", message);
}

/* Whether the module accepts text as it is (its own parser decides). */
static bool module_options_valid(const char *text, struct option_check *check)
{
	struct debug_options scratch;

	debug_options_set_defaults(&scratch);
	memset(check, 0, sizeof(*check));
	debug_options_parse(text, &scratch, collect_problem, check);
	return check->problems == 0;
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

	if (strchr(value, ':') == NULL && value[0] != '\'' && value[0] != '"')
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
		return runner_error("%s: a value with ':' cannot hold both kinds of quotes", flag);
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
		return runner_error("--options: log_path and report_format are set by pooldump run");
	append_module_options(config, text);
	return 0;
}

enum {
	OPTION_JUNIT = 256,
	OPTION_JSON,
	OPTION_SUPPRESSIONS,
	OPTION_HALT_ON_ERROR,
	OPTION_LOG_SIZE,
	OPTION_QUARANTINE_BYTES,
	OPTION_STACK_DEPTH,
	OPTION_FAIL_NTH,
	OPTION_FAIL_RATE,
	OPTION_FAIL_SEED,
	OPTION_FAIL_CALLER,
	OPTION_OPTIONS,
	OPTION_MODULE_DIR,
};

/* The flags that stand for one module option each. */
static const struct {
	int id;
	const char *flag;
	const char *key;
} flag_options[] = {
	{ OPTION_LOG_SIZE, "--log-size", "log_size" },
	{ OPTION_QUARANTINE_BYTES, "--quarantine-bytes", "quarantine_bytes" },
	{ OPTION_STACK_DEPTH, "--stack-depth", "stack_depth" },
	{ OPTION_FAIL_NTH, "--fail-nth", "fail_nth" },
	{ OPTION_FAIL_RATE, "--fail-rate", "fail_rate" },
	{ OPTION_FAIL_SEED, "--fail-seed", "fail_seed" },
	{ OPTION_FAIL_CALLER, "--fail-caller", "fail_caller" },
};

/* Returns 0 to go on, -1 after --help, else the exit status. */
static int parse_arguments(int argc, char **argv, struct run_config *config)
{
	static const struct option options[] = {
		{ "output-dir", required_argument, NULL, 'o' },
		{ "junit", required_argument, NULL, OPTION_JUNIT },
		{ "json", required_argument, NULL, OPTION_JSON },
		{ "suppressions", required_argument, NULL, OPTION_SUPPRESSIONS },
		{ "halt-on-error", no_argument, NULL, OPTION_HALT_ON_ERROR },
		{ "log-size", required_argument, NULL, OPTION_LOG_SIZE },
		{ "quarantine-bytes", required_argument, NULL, OPTION_QUARANTINE_BYTES },
		{ "stack-depth", required_argument, NULL, OPTION_STACK_DEPTH },
		{ "fail-nth", required_argument, NULL, OPTION_FAIL_NTH },
		{ "fail-rate", required_argument, NULL, OPTION_FAIL_RATE },
		{ "fail-seed", required_argument, NULL, OPTION_FAIL_SEED },
		{ "fail-caller", required_argument, NULL, OPTION_FAIL_CALLER },
		{ "options", required_argument, NULL, OPTION_OPTIONS },
		{ "module-dir", required_argument, NULL, OPTION_MODULE_DIR },
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
		case 'q':
			config->quiet = true;
			break;
		case 'h':
			run_usage(stdout);
			return -1;
		case OPTION_SUPPRESSIONS:
			status = add_suppressions(config, optarg);
			break;
		case OPTION_HALT_ON_ERROR:
			status = add_flag_option(config, "--halt-on-error", "halt_on_error", "1");
			break;
		case OPTION_OPTIONS:
			status = add_free_options(config, optarg);
			break;
		default:
			status = -1;
			for (size_t i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]); i++) {
				if (flag_options[i].id == option)
					status = add_flag_option(config, flag_options[i].flag,
						flag_options[i].key, optarg);
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

/* ---- where things go ---- */

static int resolve_module_dir(struct run_config *config)
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
				    "a directory with ':'", config->module_dir);
	return 0;
}

/* mkdir -p */
static bool make_directories(const char *path)
{
	char partial[PATH_MAX];
	size_t length = strlen(path);

	if (length == 0 || length >= sizeof(partial)) {
		errno = length == 0 ? ENOENT : ENAMETOOLONG;
		return false;
	}
	memcpy(partial, path, length + 1);
	for (char *slash = strchr(partial + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash != NULL)
			*slash = '\0';
		if (mkdir(partial, 0777) != 0 && errno != EEXIST)
			return false;
		if (slash == NULL)
			return true;
		*slash = '/';
		while (slash[1] == '/')
			slash++;
	}
}

/* Removes the report.* files an earlier run left. */
static int remove_stale_reports(const char *dir)
{
	struct dirent *entry;
	DIR *directory = opendir(dir);
	int status = 0;

	if (directory == NULL)
		return runner_error("cannot read %s: %s", dir, strerror(errno));
	while ((entry = readdir(directory)) != NULL) {
		if (strncmp(entry->d_name, "report.", 7) != 0)
			continue;
		if (unlinkat(dirfd(directory), entry->d_name, 0) != 0 && errno != ENOENT) {
			status = runner_error("cannot remove the stale %s/%s: %s", dir,
				entry->d_name, strerror(errno));
			break;
		}
	}
	closedir(directory);
	return status;
}

static int open_output(const char *argument, const char *dir, const char *default_name,
	char *path, size_t size, FILE **file)
{
	if (argument != NULL)
		snprintf(path, size, "%s", argument);
	else
		snprintf(path, size, "%s/%s", dir, default_name);
	*file = fopen(path, "we");
	if (*file == NULL)
		return runner_error("cannot write %s: %s", path, strerror(errno));
	return 0;
}

static int prepare_output(struct run_config *config)
{
	const char *dir = config->output_dir_argument ? config->output_dir_argument
						      : DEFAULT_OUTPUT_DIR;
	int status;

	if (!make_directories(dir) || realpath(dir, config->output_dir) == NULL)
		return runner_error("cannot create the output directory %s: %s", dir,
			strerror(errno));
	if ((size_t)snprintf(config->reports_dir, sizeof(config->reports_dir),
		    "%s/" REPORTS_SUBDIR, config->output_dir) >= sizeof(config->reports_dir) - 32)
		return runner_error("output directory %s: path too long", config->output_dir);
	if (mkdir(config->reports_dir, 0777) != 0 && errno != EEXIST)
		return runner_error("cannot create %s: %s", config->reports_dir, strerror(errno));
	if (access(config->reports_dir, W_OK | X_OK) != 0)
		return runner_error("cannot write to %s: %s", config->reports_dir, strerror(errno));
	if ((status = remove_stale_reports(config->reports_dir)) != 0)
		return status;
	if ((status = open_output(config->junit_argument, config->output_dir, "junit.xml",
		     config->junit_path, sizeof(config->junit_path), &config->junit_file)) != 0)
		return status;
	return open_output(config->json_argument, config->output_dir, "report.json",
		config->json_path, sizeof(config->json_path), &config->json_file);
}

/* Sets KERNEL_MODULE_PATH and AREA_MALLOC_OPTIONS as the command gets them. */
static int prepare_environment(struct run_config *config)
{
	const char *previous_path = getenv("KERNEL_MODULE_PATH");
	const char *previous_options = getenv("AREA_MALLOC_OPTIONS");
	char *log_path_prefix = format_string("%s/report", config->reports_dir);
	char *log_path = option_text("log_path", log_path_prefix);

	free(log_path_prefix);
	if (log_path == NULL)
		return runner_error("output directory %s: a path with ':' cannot hold both kinds "
				    "of quotes", config->output_dir);
	if (previous_path != NULL && previous_path[0] != '\0')
		config->kernel_module_path = format_string("%s:%s", config->module_dir,
			previous_path);
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

/* ---- running ---- */

struct watch {
	bool armed;		/* signals blocked, SIGCHLD's action saved */
	int signal_fd;
	int inotify_fd;
	sigset_t saved_mask;
	struct sigaction saved_sigchld;
	pid_t child;
	bool child_running;
	bool descendants;	/* some process is still our child */
	bool stop_waiting;	/* interrupted while waiting for leftovers */
	struct timespec started;
	struct run_results *results;
};

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Reads a small /proc file; returns its length (0 when unreadable). */
static size_t read_proc_file(pid_t pid, const char *name, char *buffer, size_t size)
{
	char path[64];
	size_t length = 0;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (length < size - 1 && (got = read(fd, buffer + length, size - 1 - length)) > 0)
		length += (size_t)got;
	close(fd);
	buffer[length] = '\0';
	return length;
}

/* Names a process from /proc while it runs (a zombie has only its comm). */
static void name_process(struct run_results *results, pid_t pid)
{
	struct run_process *process = run_results_process(results, pid);
	char command_line[4096], executable[PATH_MAX];
	size_t length;

	if (process->name_source <= NAME_FROM_CMDLINE)
		return;
	length = read_proc_file(pid, "cmdline", command_line, sizeof(command_line));
	if (length > 0) {
		snprintf(executable, sizeof(executable), "%s", command_line);
		while (length > 0 && command_line[length - 1] == '\0')
			length--;
		for (size_t i = 0; i < length; i++)
			command_line[i] = command_line[i] == '\0' ? ' ' : command_line[i];
		run_process_set_name(process, command_line, executable, NAME_FROM_CMDLINE);
		return;
	}
	length = read_proc_file(pid, "comm", executable, sizeof(executable));
	executable[strcspn(executable, "\n")] = '\0';
	if (length > 0)
		run_process_set_name(process, NULL, executable, NAME_FROM_COMM);
}

static void read_file_events(struct watch *watch)
{
	char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t length;

	while ((length = read(watch->inotify_fd, buffer, sizeof(buffer))) > 0) {
		const struct inotify_event *event;
		for (char *cursor = buffer; cursor < buffer + length;
			cursor += sizeof(*event) + event->len) {
			event = (const struct inotify_event *)cursor;
			pid_t pid = event->len > 0 ? report_file_pid(event->name) : 0;
			if (pid != 0)
				name_process(watch->results, pid);
		}
	}
}

static void command_ended(struct watch *watch, int status)
{
	struct run_exit *exit = &watch->results->main_exit;

	watch->results->seconds = seconds_since(&watch->started);
	watch->child_running = false;
	exit->known = true;
	exit->signaled = WIFSIGNALED(status);
	exit->status = exit->signaled ? WTERMSIG(status) : WEXITSTATUS(status);
	exit->core_dumped = exit->signaled && WCOREDUMP(status);
}

static void reap(struct watch *watch)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0 && pid == watch->child)
			command_ended(watch, status);
		if (pid <= 0) {
			watch->descendants = pid == 0; /* -1 (ECHILD): none left */
			return;
		}
	}
}

static void read_signals(struct watch *watch)
{
	struct signalfd_siginfo info;

	while (read(watch->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo == SIGCHLD) {
			reap(watch);
		} else if (watch->child_running) {
			if (info.ssi_code != SI_KERNEL)
				kill(watch->child, (int)info.ssi_signo);
		} else {
			watch->stop_waiting = true;
		}
	}
}

static int watch_start(struct watch *watch, const struct run_config *config)
{
	struct sigaction default_action = { .sa_handler = SIG_DFL };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	/* an inherited SIG_IGN would make the kernel reap our children */
	sigemptyset(&default_action.sa_mask);
	sigaction(SIGCHLD, &default_action, &watch->saved_sigchld);
	sigprocmask(SIG_BLOCK, &mask, &watch->saved_mask);
	watch->armed = true;
	watch->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	watch->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (watch->signal_fd < 0 || watch->inotify_fd < 0)
		return runner_error("cannot watch the command: %s", strerror(errno));
	if (inotify_add_watch(watch->inotify_fd, config->reports_dir, IN_CREATE | IN_MOVED_TO) < 0)
		return runner_error("cannot watch %s: %s", config->reports_dir, strerror(errno));
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		run_results_warn(watch->results, 0,
			"cannot become a child subreaper (%s): processes the command leaves "
			"behind are not waited for", strerror(errno));
	return 0;
}

static void watch_stop(struct watch *watch)
{
	if (watch->signal_fd >= 0)
		close(watch->signal_fd);
	if (watch->inotify_fd >= 0)
		close(watch->inotify_fd);
	watch->signal_fd = watch->inotify_fd = -1;
	/* the signals stay blocked: one that comes now must not kill the
	 * runner before it wrote its files */
	if (watch->armed)
		prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* Starts the command; returns 0, or the exit status when it cannot run. */
static int start_command(struct watch *watch, struct run_config *config)
{
	int exec_pipe[2], exec_error = 0;
	ssize_t got;

	if (pipe2(exec_pipe, O_CLOEXEC) != 0)
		return runner_error("cannot start the command: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &watch->started);
	fflush(NULL);
	watch->child = fork();
	if (watch->child < 0) {
		close(exec_pipe[0]);
		close(exec_pipe[1]);
		return runner_error("cannot start the command: %s", strerror(errno));
	}
	if (watch->child == 0) {
		sigaction(SIGCHLD, &watch->saved_sigchld, NULL);
		sigprocmask(SIG_SETMASK, &watch->saved_mask, NULL);
		execvp(config->command[0], config->command);
		exec_error = errno;
		(void)!write(exec_pipe[1], &exec_error, sizeof(exec_error));
		_exit(RUN_STATUS_NOT_FOUND);
	}
	close(exec_pipe[1]);
	do
		got = read(exec_pipe[0], &exec_error, sizeof(exec_error));
	while (got < 0 && errno == EINTR);
	close(exec_pipe[0]);
	watch->child_running = watch->descendants = true;
	if (got != (ssize_t)sizeof(exec_error))
		return 0; /* the pipe closed on exec */
	waitpid(watch->child, NULL, 0);
	watch->child_running = false;
	runner_error("cannot run %s: %s", config->command[0], strerror(exec_error));
	return exec_error == ENOENT || exec_error == ENOTDIR ? RUN_STATUS_NOT_FOUND
							       : RUN_STATUS_CANNOT_EXECUTE;
}

/* Waits for the command, then (briefly) for what it left behind. */
static void wait_for_command(struct watch *watch)
{
	struct pollfd fds[2] = {
		{ .fd = watch->signal_fd, .events = POLLIN },
		{ .fd = watch->inotify_fd, .events = POLLIN },
	};
	struct timespec main_ended = { 0, 0 };

	while (watch->child_running || (watch->descendants && !watch->stop_waiting)) {
		int timeout = -1;

		if (!watch->child_running) {
			double waited;
			if (main_ended.tv_sec == 0 && main_ended.tv_nsec == 0)
				clock_gettime(CLOCK_MONOTONIC, &main_ended);
			waited = seconds_since(&main_ended) * 1000.0;
			if (waited >= DESCENDANT_GRACE_MS) {
				run_results_warn(watch->results, 0,
					"processes started by the command still run %.1f s after it "
					"ended; reports they write later are not included",
					DESCENDANT_GRACE_MS / 1000.0);
				break;
			}
			timeout = DESCENDANT_GRACE_MS - (int)waited;
		}
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			/* cannot happen with these descriptors; still, never leave
			 * without the command's exit status */
			int status;
			if (watch->child_running && waitpid(watch->child, &status, 0) == watch->child)
				command_ended(watch, status);
			break;
		}
		read_file_events(watch);
		read_signals(watch);
	}
	read_file_events(watch);
}

/* ---- the summary ---- */

static const char *plural(uint64_t count, const char *singular, const char *plural_form)
{
	return count == 1 ? singular : plural_form;
}

/* " in pool 7 (net-tx)", or " with pool id 0x..." when the pool was not live. */
static void pool_phrase(struct json_object *object, char *buffer, size_t size)
{
	struct json_object *pool, *id;
	const char *name, *pool_id;

	buffer[0] = '\0';
	if (json_object_object_get_ex(object, "pool", &pool)
		&& json_object_object_get_ex(pool, "id", &id)) {
		name = report_member_string(pool, "name");
		snprintf(buffer, size, " in pool %d%s%s%s", json_object_get_int(id),
			name != NULL && name[0] != '\0' ? " (" : "", name != NULL ? name : "",
			name != NULL && name[0] != '\0' ? ")" : "");
	} else if ((pool_id = report_member_string(object, "pool_id")) != NULL) {
		snprintf(buffer, size, " with pool id %s", pool_id);
	}
}

/* The frame a report's summary names (as the debug module's SUMMARY line). */
static const char *report_site(const struct run_report *report)
{
	struct json_object *groups;
	const char *symbol = NULL;

	if (report->leak) {
		if (json_object_object_get_ex(report->object, "groups", &groups)
			&& json_object_is_type(groups, json_type_array)
			&& json_object_array_length(groups) > 0)
			symbol = report_owner_symbol(json_object_array_get_idx(groups, 0),
				"allocated_by");
		return symbol;
	}
	static const char *const owners[] = { "detected_by", "freed_by", "allocated_by" };
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]) && symbol == NULL; i++)
		symbol = report_owner_symbol(report->object, owners[i]);
	return symbol;
}

static void describe_report(const struct run_report *report, char *buffer, size_t size)
{
	const char *address = report_member_string(report->object, "address");
	const char *when = report_member_string(report->object, "when");
	const char *site = report_site(report);
	char pool[128], short_site[512];
	size_t used;

	pool_phrase(report->object, pool, sizeof(pool));
	if (report->leak)
		used = (size_t)snprintf(buffer, size, "%s: %" PRIu64 " %s in %" PRIu64 " %s%s%s%s",
			report->kind, report->leaked_bytes, plural(report->leaked_bytes, "byte", "bytes"),
			report->leaked_blocks,
			plural(report->leaked_blocks, "allocation", "allocations"), pool,
			when != NULL ? " " : "", when != NULL ? when : "");
	else
		used = (size_t)snprintf(buffer, size, "%s at %s%s", report->kind,
			address != NULL ? address : "?", pool);
	if (site != NULL && used < size) {
		symbol_short(site, short_site, sizeof(short_site));
		used += (size_t)snprintf(buffer + used, size - used, " -- %s", short_site);
	}
	if (report->incomplete && used < size)
		used += (size_t)snprintf(buffer + used, size - used, " [incomplete report]");
	if (!report->failing && used < size)
		snprintf(buffer + used, size - used, " [not counted]");
}

static void print_summary(const struct run_results *results, const struct run_config *config,
	int exit_status)
{
	struct run_totals totals;
	size_t lines = 0;

	run_results_totals(results, &totals);
	printf("area_malloc: %zu %s, %zu %s, %zu %s", results->process_count,
		plural(results->process_count, "process", "processes"), totals.errors,
		plural(totals.errors, "error", "errors"), totals.leak_reports,
		plural(totals.leak_reports, "leak report", "leak reports"));
	if (totals.leak_reports > 0)
		printf(" (%" PRIu64 " %s in %" PRIu64 " %s)", totals.leaked_bytes,
			plural(totals.leaked_bytes, "byte", "bytes"), totals.leaked_blocks,
			plural(totals.leaked_blocks, "allocation", "allocations"));
	if (totals.informational > 0)
		printf(", %zu %s on request (not counted)", totals.informational,
			plural(totals.informational, "leak report", "leak reports"));
	putchar('\n');
	for (size_t p = 0; p < results->process_count; p++) {
		const struct run_process *process = &results->processes[p];
		for (size_t r = 0; r < process->report_count; r++) {
			const struct run_report *report = &process->reports[r];
			char who[256], what[1024];
			if (lines++ == SUMMARY_MAX_LINES)
				break;
			snprintf(who, sizeof(who), "pid %d %s%s%s%s", (int)process->pid,
				process->name, report->test != NULL ? " [" : "",
				report->test != NULL ? report->test : "", report->test != NULL ? "]" : "");
			describe_report(report, what, sizeof(what));
			printf("  %-26s %s\n", who, what);
		}
	}
	if (lines > SUMMARY_MAX_LINES)
		printf("  ... %zu more %s: see %s\n", totals.reports - SUMMARY_MAX_LINES,
			plural(totals.reports - SUMMARY_MAX_LINES, "report", "reports"),
			config->json_path);
	if (totals.unprinted_reports > 0)
		printf("  +%" PRIu64 " %s the debug module counted but did not print (identical to "
		       "one printed, or past max_reports)\n", totals.unprinted_reports,
			plural(totals.unprinted_reports, "report", "reports"));
	/* exit status 23 after reports is the debug module's: nothing new */
	if (results->main_exit.signaled || (results->main_exit.status != 0
		&& (results->main_exit.status != RUN_STATUS_REPORTS || exit_status != RUN_STATUS_REPORTS))) {
		char how[128];
		run_exit_describe(&results->main_exit, how, sizeof(how));
		printf("  command: %s\n", how);
	}
	if (results->warning_count > 0)
		printf("  %zu %s: see standard error and %s\n", results->warning_count,
			plural(results->warning_count, "warning", "warnings"), config->json_path);
	printf("junit: %s   json: %s\n", config->junit_path, config->json_path);
	printf("result: %s (exit %d)\n", exit_status == 0 ? "PASS" : "FAIL", exit_status);
}

/* ---- the whole run ---- */

static int exit_status_of(const struct run_results *results)
{
	struct run_totals totals;

	run_results_totals(results, &totals);
	if (totals.errors + totals.leak_reports > 0)
		return RUN_STATUS_REPORTS;
	if (results->main_exit.signaled)
		return 128 + results->main_exit.status;
	return results->main_exit.status;
}

static int write_outputs(const struct run_results *results, struct run_config *config,
	int exit_status)
{
	struct run_description description = {
		.command = config->command,
		.module_dir = config->module_dir,
		.kernel_module_path = config->kernel_module_path,
		.options = config->area_malloc_options,
		.output_dir = config->output_dir,
		.junit_path = config->junit_path,
		.json_path = config->json_path,
		.exit_status = exit_status,
	};
	char error[256];
	int status = 0;

	if (!junit_write(results, config->junit_file, error, sizeof(error)))
		status = runner_error("cannot write %s: %s", config->junit_path, error);
	if (fclose(config->junit_file) != 0 && status == 0)
		status = runner_error("cannot write %s: %s", config->junit_path, strerror(errno));
	config->junit_file = NULL;
	if (!report_json_write(results, &description, config->json_file, error, sizeof(error)))
		status = runner_error("cannot write %s: %s", config->json_path, error);
	if (fclose(config->json_file) != 0 && status == 0)
		status = runner_error("cannot write %s: %s", config->json_path, strerror(errno));
	config->json_file = NULL;
	return status;
}

/* Names the command's process, reads the reports, checks the obvious. */
static int collect(struct run_results *results, const struct run_config *config, pid_t child)
{
	struct run_process *main_process = run_results_process(results, child);
	char *command_line = NULL;

	main_process->main = true;
	for (char **argument = config->command; *argument != NULL; argument++) {
		char *longer = format_string("%s%s%s", command_line ? command_line : "",
			command_line ? " " : "", *argument);
		free(command_line);
		command_line = longer;
	}
	run_process_set_name(main_process, command_line, config->command[0], NAME_FROM_COMMAND);
	free(command_line);
	if (!report_dir_read(results, config->reports_dir))
		return runner_error("cannot read the reports in %s: %s", config->reports_dir,
			strerror(errno));
	run_results_finish(results);
	if (results->main_exit.known && !results->main_exit.signaled
		&& results->main_exit.status == RUN_STATUS_REPORTS) {
		struct run_totals totals;
		run_results_totals(results, &totals);
		if (totals.errors + totals.leak_reports == 0)
			run_results_warn(results, 0,
				"the command exited with status %d, the debug module's exit status "
				"after reports, but no report reached %s (did it change log_path, or "
				"take its reports with a report hook?)", RUN_STATUS_REPORTS,
				config->reports_dir);
	}
	return 0;
}

static void close_outputs(struct run_config *config, bool remove)
{
	if (config->junit_file != NULL) {
		fclose(config->junit_file);
		if (remove)
			unlink(config->junit_path);
	}
	if (config->json_file != NULL) {
		fclose(config->json_file);
		if (remove)
			unlink(config->json_path);
	}
	config->junit_file = config->json_file = NULL;
}

int run_main(int argc, char **argv)
{
	struct run_config config = { 0 };
	struct watch watch = { .signal_fd = -1, .inotify_fd = -1 };
	struct run_results results;
	int status, exit_status;

	run_results_init(&results);
	watch.results = &results;
	config.module_options = format_string("%s", "");
	status = parse_arguments(argc, argv, &config);
	if (status == 0)
		status = resolve_module_dir(&config);
	if (status == 0)
		status = prepare_output(&config);
	if (status == 0)
		status = prepare_environment(&config);
	if (status == 0)
		status = watch_start(&watch, &config);
	if (status == 0)
		status = start_command(&watch, &config);
	if (status != 0) {
		watch_stop(&watch);
		close_outputs(&config, true);
		free(config.module_options);
		free(config.kernel_module_path);
		free(config.area_malloc_options);
		run_results_free(&results);
		return status < 0 ? 0 : status;
	}
	wait_for_command(&watch);
	watch_stop(&watch);

	status = collect(&results, &config, watch.child);
	exit_status = exit_status_of(&results);
	for (size_t w = 0; w < results.warning_count; w++)
		fprintf(stderr, "pooldump run: warning: %s\n", results.warnings[w].text);
	if (status == 0)
		status = write_outputs(&results, &config, exit_status);
	/* no CI files that would claim reports the runner could not read */
	close_outputs(&config, true);
	if (!config.quiet && status == 0)
		print_summary(&results, &config, exit_status);
	fflush(stdout);
	free(config.module_options);
	free(config.kernel_module_path);
	free(config.area_malloc_options);
	run_results_free(&results);
	return status != 0 ? status : exit_status;
}
