/*
 * pooldump.c - KDL-style pool dumps of processes that run the debug build
 * of area_malloc, live or after they died, from the debug nodes they publish
 * (node_format.h). The commands themselves live in src/node (node_commands.h),
 * shared with the debug module's in-process debugger commands; this file is
 * the command line: options, usage, output streams and exit status
 * (pooldump(1)). "pooldump run", the QA runner, lives in run.c and the
 * run_*.c files it lists (run_internal.h).
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/options.h"
#include "node/node_commands.h"
#include "run.h"

static void print_out(void *cookie, const char *text)
{
	(void)cookie;
	fputs(text, stdout);
}

static void print_err(void *cookie, const char *text)
{
	(void)cookie;
	fflush(stdout);
	fprintf(stderr, "pooldump: %s", text);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pooldump [--node-dir DIR] [--json]                        list the nodes\n"
		"       pooldump [--node-dir DIR] [--json] -p PID COMMAND [ARGS]  run a pool command\n"
		"       pooldump [--node-dir DIR] [--json] --clean                remove dead nodes\n"
		"       pooldump run [OPTIONS] [--] COMMAND [ARGS]               QA run of COMMAND under\n"
		"                                the debug build (see pooldump run --help)\n"
		"       pooldump help [COMMAND] | --help | --version\n"
		"--color=WHEN: colour the text output: auto (default: on a terminal whose TERM is\n"
		"not dumb, unless NO_COLOR is set), always or never.\n"
		"Options may also follow the command and its arguments (up to a '--').\n"
		"The node directory: --node-dir, else $POOLDUMP_NODE_DIR, else node_dir in\n"
		"$AREA_MALLOC_OPTIONS, else " NODE_DIR_PREFIX
		"UID (or $XDG_RUNTIME_DIR/area_malloc).\n"
		"Commands:\n%s"
		"Exit status: 0 success; 1 leaks or errors found (leaks, check); 2 usage error;\n"
		"3 no such process or node; 4 unreadable or damaged node (run: see its --help).\n",
		node_command_usage());
}

/* --json, seen before the options are parsed, so that a usage error is
 * JSON too. */
static bool json_output;

/* the group of a user without one of its own (Debian's nogroup) */
#define NOGROUP_GID ((gid_t)65534)

#define TRY_HELP "Try 'pooldump help' for more information.\n"

static int usage_error(const char *message, const char *argument)
{
	if (json_output) {
		const struct node_command_context context = {
			.json = true,
			.print = print_out,
			.print_error = print_err,
		};
		char text[512];

		snprintf(text, sizeof(text), "%s%s%s", message, argument ? ": " : "",
			argument ? argument : "");
		int status = node_command_usage_error(&context, text);
		fflush(stdout);
		return status;
	}
	fprintf(stderr, "pooldump: %s%s%s\n%s", message, argument ? ": " : "",
		argument ? argument : "", TRY_HELP);
	return NODE_STATUS_USAGE;
}

/*
 * Root reading a node directory of another user (it named it with
 * --node-dir): what is in it is that user's data, so it is parsed, and the
 * images it names are opened, in a child that has become that user (the
 * directory's owner, that user's own group or else nogroup, no
 * supplementary groups). True when this process must return *status: the
 * parent, once the child has ended, or a failure; false when it goes on:
 * nothing to switch, or it is the child (*foreign then: it is no reader
 * of its own nodes, and asks no driver to hold still). A symbolic link or
 * anything else is left to the directory's own checks.
 */
static bool parse_as_directory_owner(const char *node_dir, int *status, bool *foreign)
{
	struct stat directory;
	struct passwd *user;
	int wait_status;
	pid_t child;
	gid_t group;

	if (geteuid() != 0 || node_dir == NULL || lstat(node_dir, &directory) != 0
		|| !S_ISDIR(directory.st_mode) || directory.st_uid == 0)
		return false;
	fflush(stdout);
	fflush(stderr);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "pooldump: cannot start a reader as uid %u: %s\n",
			(unsigned)directory.st_uid, strerror(errno));
		*status = NODE_STATUS_DAMAGED;
		return true;
	}
	if (child == 0) {
		/* not the directory's group: root's files often keep gid 0 */
		user = getpwuid(directory.st_uid);
		group = user != NULL ? user->pw_gid : NOGROUP_GID;
		if (setgroups(0, NULL) != 0 || setresgid(group, group, group) != 0
			|| setresuid(directory.st_uid, directory.st_uid, directory.st_uid) != 0) {
			fprintf(stderr, "pooldump: cannot become uid %u to read %s: %s\n",
				(unsigned)directory.st_uid, node_dir, strerror(errno));
			_exit(NODE_STATUS_DAMAGED);
		}
		*foreign = true;
		return false;
	}
	pid_t waited;
	while ((waited = waitpid(child, &wait_status, 0)) < 0 && errno == EINTR)
		;
	if (waited != child) {
		fprintf(stderr, "pooldump: cannot wait for the reader (uid %u): %s\n",
			(unsigned)directory.st_uid, strerror(errno));
		*status = NODE_STATUS_DAMAGED;
	} else if (WIFEXITED(wait_status)) {
		*status = WEXITSTATUS(wait_status);
	} else {
		fprintf(stderr, "pooldump: the reader (uid %u) died of signal %d\n",
			(unsigned)directory.st_uid, WTERMSIG(wait_status));
		*status = NODE_STATUS_DAMAGED;
	}
	return true;
}

static bool parse_pid(const char *text, pid_t *pid)
{
	char *end;
	long value;

	if (text[0] < '0' || text[0] > '9')
		return false;
	value = strtol(text, &end, 10);
	if (*end != '\0' || value <= 0 || value > INT32_MAX)
		return false;
	*pid = (pid_t)value;
	return true;
}

/*
 * The global options that follow the command (pooldump -p PID leaks --json):
 * taken out of argv[from, argc), the command and its own arguments kept in
 * order in command[]; after a "--" everything is the command's (verbatim:
 * getopt stopped at a "--" before the command). Returns the command's
 * argument count, or -1 after a usage error (*status).
 */
static int take_trailing_options(int argc, char **argv, int from, bool verbatim, char **command,
	struct node_command_context *context, enum color_mode *color, int *status)
{
	int count = 0;

	for (int i = from; i < argc; i++) {
		if (verbatim) {
			command[count++] = argv[i];
			continue;
		}
		const char *word = argv[i];
		if (strcmp(word, "--") == 0) {
			while (++i < argc)
				command[count++] = argv[i];
			break;
		}
		if (strcmp(word, "--json") == 0 || strcmp(word, "-j") == 0) {
			context->json = true;
		} else if (strcmp(word, "--node-dir") == 0 || strcmp(word, "-p") == 0
			|| strcmp(word, "--pid") == 0) {
			if (i + 1 == argc) {
				*status = usage_error("unknown or incomplete option", word);
				return -1;
			}
			if (strcmp(word, "--node-dir") == 0) {
				context->node_dir = argv[++i];
			} else if (!parse_pid(argv[++i], &context->pid)) {
				*status = usage_error("bad process id", argv[i]);
				return -1;
			}
		} else if (strcmp(word, "--color") == 0 || strcmp(word, "--colour") == 0
			|| strncmp(word, "--color=", 8) == 0
			|| strncmp(word, "--colour=", 9) == 0) {
			/* --color=WHEN or --color WHEN, as before the command */
			const char *when = strchr(word, '=');
			if (when == NULL && i + 1 == argc) {
				*status = usage_error("unknown or incomplete option", word);
				return -1;
			}
			when = when != NULL ? when + 1 : argv[++i];
			if (!color_mode_parse(when, color)) {
				*status = usage_error("--color takes auto, always or never", when);
				return -1;
			}
		} else if (strncmp(word, "--node-dir=", 11) == 0) {
			context->node_dir = word + 11;
		} else if (strncmp(word, "--pid=", 6) == 0) {
			if (!parse_pid(word + 6, &context->pid)) {
				*status = usage_error("bad process id", word + 6);
				return -1;
			}
		} else {
			command[count++] = argv[i];
		}
	}
	command[count] = NULL;
	return count;
}

/* --node-dir, else POOLDUMP_NODE_DIR, else node_dir in AREA_MALLOC_OPTIONS
 * (as the debug module would publish), else NULL: the default. */
static const char *node_dir_from_environment(void)
{
	static struct debug_options options;
	const char *named = getenv("POOLDUMP_NODE_DIR");

	if (named != NULL && named[0] != '\0')
		return named;
	debug_options_set_defaults(&options);
	debug_options_parse(getenv("AREA_MALLOC_OPTIONS"), &options, NULL, NULL);
	return options.node_dir[0] != '\0' ? options.node_dir : NULL;
}

/* Runs what the command line asks for, once its options are all taken. */
static int dispatch(struct node_command_context *context, bool clean, int count, char **command)
{
	int status;

	if (clean) {
		if (context->pid != 0 || count > 0)
			return usage_error("--clean takes no process and no command", NULL);
		return node_command_clean(context);
	}
	if (count > 0 && strcmp(command[0], "help") == 0) {
		/* "help COMMAND", and any help as JSON, are the commands' own */
		if (count > 1 || context->json)
			return node_command_run(context, count, command);
		usage(stdout);
		return NODE_STATUS_OK;
	}
	if (context->pid == 0) {
		if (count > 0)
			return usage_error("a command needs a process (-p PID)", command[0]);
		return node_command_list(context);
	}
	if (count == 0)
		return usage_error("no command given", NULL);
	status = node_command_run(context, count, command);
	if (status == NODE_STATUS_USAGE && !context->json)
		fputs(TRY_HELP, stderr);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "node-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' },
		{ "clean", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "color", required_argument, NULL, 'C' },
		{ "colour", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	enum color_mode color = COLOR_AUTO;
	struct node_command_context context = {
		.print = print_out,
		.print_error = print_err,
	};
	bool clean = false;
	int option, status, count;
	char **command;

	/* the runner has options and exit statuses of its own */
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return run_main(argc - 1, argv + 1);
	opterr = 0;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		json_output |= strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0;
	/* '+': stop at the command, whose own arguments may start with '-' (-c) */
	while ((option = getopt_long(argc, argv, "+jp:h", options, NULL)) != -1) {
		switch (option) {
		case 'd':
			if (optarg[0] == '\0')
				return usage_error("empty node directory", NULL);
			context.node_dir = optarg;
			break;
		case 'j':
			context.json = true;
			break;
		case 'p':
			if (!parse_pid(optarg, &context.pid))
				return usage_error("bad process id", optarg);
			break;
		case 'c':
			clean = true;
			break;
		case 'C':
			if (!color_mode_parse(optarg, &color))
				return usage_error("--color takes auto, always or never", optarg);
			break;
		case 'h':
			usage(stdout);
			return NODE_STATUS_OK;
		case 'V':
			printf("pooldump (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return NODE_STATUS_OK;
		default:
			return usage_error("unknown or incomplete option", argv[optind - 1]);
		}
	}
	command = calloc((size_t)argc + 1, sizeof(*command));
	if (command == NULL) {
		fprintf(stderr, "pooldump: out of memory\n");
		return NODE_STATUS_DAMAGED;
	}
	count = take_trailing_options(argc, argv, optind,
		optind > 1 && strcmp(argv[optind - 1], "--") == 0, command, &context, &color,
		&status);
	/* text on standard output only: never JSON, files or pipes (auto) */
	context.color = !context.json && color_wanted(color, STDOUT_FILENO);
	if (count >= 0) {
		if (context.node_dir == NULL)
			context.node_dir = node_dir_from_environment();
		if (!parse_as_directory_owner(context.node_dir, &status, &context.snapshot.foreign))
			status = dispatch(&context, clean, count, command);
	}
	free(command);
	fflush(stdout);
	return status;
}
