/*
 * debugger.c - the kernel debugger's command registry, in process.
 *
 * Haiku's modules add their KDL commands with add_debugger_command() at
 * B_MODULE_INIT and remove them at B_MODULE_UNINIT. Here the same registry
 * exists inside the process, and evaluate_debug_command() runs one command
 * line the way the kernel debugger's prompt would, with output through
 * kprintf(). Tools (pooldump) and tests call it directly.
 *
 * Invariants: command names are unique; the name and help pointers are
 * stored, not copied (as on Haiku), so they must outlive the registration;
 * a command's 'running' counts the runs of its hook in progress, and a
 * command is freed only once it is off the list and that count is zero
 * (by its remover, or by the last run when a hook removed its own command).
 *
 * Locking: registry_lock protects the command list and the running counts.
 * It is not held while a hook runs, so a hook may itself add or remove
 * commands. remove_debugger_command() waits (command_idle) until the runs
 * of the hook that other threads started have returned: a module removes
 * its commands at B_MODULE_UNINIT and is unloaded right after, so a hook
 * still running would execute unmapped code (a "pools" command racing the
 * last put_module did, tests/stress). A hook that removes its own command
 * does not wait for itself: each thread keeps the stack of the commands it
 * is running (running_top). So a hook must not get or put a module: the
 * uninit waiting for it holds the module manager's lock. fork() takes
 * registry_lock, so the child's list is whole, and the child forgets the
 * runs of threads it does not have.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <KernelExport.h>

#include "kernel/lock.h"

#define MAX_COMMAND_ARGUMENTS 64
#define MAX_COMMAND_LINE 1024

struct debugger_command {
	struct debugger_command *next;
	const char *name;
	const char *help;
	debugger_command_hook hook;
	int running;  /* runs of the hook in progress, in any thread */
	bool removed; /* off the list: the last run frees it */
};

/* One run of a hook, on the stack of the thread that runs it. */
struct running_frame {
	struct debugger_command *command;
	struct running_frame *outer;
};

static mutex registry_lock = MUTEX_INITIALIZER("debugger commands");
static pthread_cond_t command_idle = PTHREAD_COND_INITIALIZER;
static struct debugger_command *commands;
static __thread struct running_frame *running_top;

/* Runs of command's hook in progress in this thread (nested ones included). */
static int runs_in_this_thread(const struct debugger_command *command)
{
	int runs = 0;

	for (const struct running_frame *frame = running_top; frame != NULL; frame = frame->outer)
		runs += frame->command == command;
	return runs;
}

static void before_fork(void)
{
	mutex_lock(&registry_lock);
}

static void after_fork_in_parent(void)
{
	mutex_unlock(&registry_lock);
}

/* The child has only the thread that forked: the other threads' runs will
 * never return, and a remove must not wait for them. */
static void after_fork_in_child(void)
{
	for (struct debugger_command *command = commands; command != NULL; command = command->next)
		command->running = runs_in_this_thread(command);
	pthread_cond_init(&command_idle, NULL);
	mutex_unlock(&registry_lock);
}

__attribute__((constructor)) static void register_fork_handlers(void)
{
	pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

static struct debugger_command *find_command(const char *name)
{
	struct debugger_command *command;

	for (command = commands; command != NULL; command = command->next) {
		if (strcmp(command->name, name) == 0)
			return command;
	}
	return NULL;
}

int add_debugger_command(const char *name, debugger_command_hook hook, const char *help)
{
	struct debugger_command *command;

	if (name == NULL || name[0] == '\0' || hook == NULL)
		return B_BAD_VALUE;
	command = malloc(sizeof(*command));
	if (command == NULL)
		return B_NO_MEMORY;
	command->name = name;
	command->help = help;
	command->hook = hook;
	command->running = 0;
	command->removed = false;

	mutex_lock(&registry_lock);
	if (find_command(name) != NULL) {
		mutex_unlock(&registry_lock);
		free(command);
		return B_NAME_IN_USE;
	}
	command->next = commands;
	commands = command;
	mutex_unlock(&registry_lock);
	return B_OK;
}

int remove_debugger_command(const char *name, debugger_command_hook hook)
{
	struct debugger_command **link;

	if (name == NULL)
		return B_BAD_VALUE;
	mutex_lock(&registry_lock);
	for (link = &commands; *link != NULL; link = &(*link)->next) {
		struct debugger_command *command = *link;
		if (strcmp(command->name, name) != 0)
			continue;
		if (hook != NULL && command->hook != hook)
			break;
		*link = command->next;
		/* off the list: no new run starts; the ones started go on in
		 * hook code that the caller may be about to unload */
		while (command->running > runs_in_this_thread(command))
			pthread_cond_wait(&command_idle, &registry_lock.m);
		command->removed = true;
		if (command->running > 0)
			command = NULL; /* a hook removes its own command: freed when it returns */
		mutex_unlock(&registry_lock);
		free(command);
		return B_OK;
	}
	mutex_unlock(&registry_lock);
	return B_NAME_NOT_FOUND;
}

static void print_help(void)
{
	const struct debugger_command *command;

	kprintf("debugger commands:\n");
	mutex_lock(&registry_lock);
	for (command = commands; command != NULL; command = command->next)
		kprintf("  %-24s %s\n", command->name, command->help != NULL ? command->help : "");
	mutex_unlock(&registry_lock);
}

/*
 * Splits line (modified in place) into argv at white space; a double-quoted
 * argument may contain spaces. Returns argc, or -1 when there are too many.
 */
static int split_arguments(char *line, char **argv)
{
	int argc = 0;
	char *cursor = line;

	for (;;) {
		while (isspace((unsigned char)*cursor))
			cursor++;
		if (*cursor == '\0')
			break;
		if (argc == MAX_COMMAND_ARGUMENTS)
			return -1;
		if (*cursor == '"') {
			argv[argc++] = ++cursor;
			while (*cursor != '\0' && *cursor != '"')
				cursor++;
		} else {
			argv[argc++] = cursor;
			while (*cursor != '\0' && !isspace((unsigned char)*cursor))
				cursor++;
		}
		if (*cursor == '\0')
			break;
		*cursor++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

int evaluate_debug_command(const char *command_line)
{
	char line[MAX_COMMAND_LINE];
	char *argv[MAX_COMMAND_ARGUMENTS + 1];
	struct debugger_command *command;
	debugger_command_hook hook = NULL;
	int argc;

	if (command_line == NULL)
		return B_BAD_VALUE;
	if (strlen(command_line) >= sizeof(line)) {
		kprintf("command line too long (at most %d characters)\n", MAX_COMMAND_LINE - 1);
		return B_BAD_VALUE;
	}
	strcpy(line, command_line);
	argc = split_arguments(line, argv);
	if (argc < 0) {
		kprintf("too many arguments (at most %d)\n", MAX_COMMAND_ARGUMENTS);
		return B_BAD_VALUE;
	}
	if (argc == 0)
		return B_OK;

	mutex_lock(&registry_lock);
	command = find_command(argv[0]);
	if (command != NULL) {
		hook = command->hook;
		command->running++;
	}
	mutex_unlock(&registry_lock);

	if (hook != NULL) {
		struct running_frame frame = { command, running_top };
		bool last_of_removed;
		int result;

		running_top = &frame;
		result = hook(argc, argv);
		running_top = frame.outer;
		mutex_lock(&registry_lock);
		/* the command may be off the list now, its remover waiting */
		command->running--;
		last_of_removed = command->removed && command->running == 0;
		pthread_cond_broadcast(&command_idle);
		mutex_unlock(&registry_lock);
		if (last_of_removed)
			free(command);
		return result;
	}
	if (strcmp(argv[0], "help") == 0) {
		print_help();
		return B_OK;
	}
	kprintf("unknown command \"%s\", enter \"help\" to get a list of all supported commands\n",
		argv[0]);
	return B_ENTRY_NOT_FOUND;
}
