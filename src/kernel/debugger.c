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
 * stored, not copied (as on Haiku), so they must outlive the registration.
 *
 * Locking: registry_lock protects the command list. It is not held while a
 * hook runs, so a hook may itself add or remove commands; a command removed
 * while its hook runs finishes that run.
 */
#include "config.h"

#include <ctype.h>
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
};

static mutex registry_lock = MUTEX_INITIALIZER("debugger commands");
static struct debugger_command *commands;

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
	if (command != NULL)
		hook = command->hook;
	mutex_unlock(&registry_lock);

	if (hook != NULL)
		return hook(argc, argv);
	if (strcmp(argv[0], "help") == 0) {
		print_help();
		return B_OK;
	}
	kprintf("unknown command \"%s\", enter \"help\" to get a list of all supported commands\n",
		argv[0]);
	return B_ENTRY_NOT_FOUND;
}
