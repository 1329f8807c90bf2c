/*
 * node_commands.c - the pool commands over debug nodes (see
 * node_commands.h), shared by pooldump and the in-process debugger: the
 * command table, help and dispatch. The commands live one family a file
 * (node_commands_internal.h lists them).
 *
 * Invariants: the table is the one list of commands: dispatch, "help" and
 * node_command_usage() all read it.
 *
 * Locking: the usage text is composed once (pthread_once); otherwise none
 * (see node_reader.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "node/node_commands_internal.h"

struct command {
	const char *name;
	const char *usage;
	const char *summary;
	int (*run)(struct session *session, int argc, char **argv);
};

static int command_help(struct session *session, int argc, char **argv);

static const struct command commands[] = {
	{ "pools", "pools", "list the pools of the process", command_pools },
	{ "pool", "pool ID", "one pool in detail: heap, blocks, log, consistency", command_pool },
	{ "allocations", allocations_usage,
		"live blocks (size MIN: at least MIN; size MIN-MAX: inclusive); stats: totals only",
		command_allocations },
	{ "allocations_per_caller", "allocations_per_caller [-c] [pool ID]",
		"live blocks grouped by caller, sorted by size (by count with -c)",
		command_allocations_per_caller },
	{ "pool_log", "pool_log ID [N]", "the pool's last N logged events, newest first",
		command_pool_log },
	{ "leaks", "leaks [pool ID]",
		"live blocks grouped by allocation site (since the mark when one is set)",
		command_leaks },
	{ "check", "check [pool ID]", "check canaries, poison and heap invariants now",
		command_check },
	{ "scan", "scan [--min-age SECONDS] [--interval SECONDS] [--stop]",
		"blocks no root of the live process reaches (read from outside, twice)",
		command_scan },
	{ "help", "help [COMMAND]", "this list, or one command's usage", command_help },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static char usage_text[2048];
static pthread_once_t usage_once = PTHREAD_ONCE_INIT;

static void compose_usage(void)
{
	size_t length = 0;

	for (size_t i = 0; i < COMMAND_COUNT && length < sizeof(usage_text); i++)
		length += (size_t)snprintf(usage_text + length, sizeof(usage_text) - length,
			"  %s\n      %s\n", commands[i].usage, commands[i].summary);
}

const char *node_command_usage(void)
{
	pthread_once(&usage_once, compose_usage);
	return usage_text;
}

/* The command named name, or NULL. */
static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	}
	return NULL;
}

/* "help COMMAND": that command's usage and summary. */
static int help_for(struct session *session, const char *name)
{
	const struct command *command = find_command(name);
	struct output *out = &session->out;

	if (command == NULL)
		return usage_error(session, "help [COMMAND]", "unknown command '%s'", name);
	if (session->context->json) {
		json_document_start(out, "help");
		emit(out, ",\"command\":{\"name\":\"%s\",\"usage\":", command->name);
		put_json_string(out, command->usage);
		put_str(out, ",\"summary\":");
		put_json_string(out, command->summary);
		put_str(out, "}");
	} else {
		emit(out, "usage: pooldump -p PID %s\n  %s\n", command->usage, command->summary);
	}
	return session_finish(session);
}

static int command_help(struct session *session, int argc, char **argv)
{
	struct output *out = &session->out;

	if (argc > 2)
		return usage_error(session, "help [COMMAND]", "too many arguments");
	if (argc == 2)
		return help_for(session, argv[1]);
	if (session->context->json) {
		json_document_start(out, "help");
		put_str(out, ",\"commands\":[");
		for (size_t i = 0; i < COMMAND_COUNT; i++) {
			emit(out, "%s{\"name\":\"%s\",\"usage\":", i ? "," : "", commands[i].name);
			put_json_string(out, commands[i].usage);
			put_str(out, ",\"summary\":");
			put_json_string(out, commands[i].summary);
			put_str(out, "}");
		}
		put_str(out, "]");
	} else {
		emit(out,
			"pool commands (a pool ID is the pool's area id, as \"pools\" lists it):\n%s",
			node_command_usage());
	}
	return session_finish(session);
}

int node_command_usage_error(const struct node_command_context *context, const char *message)
{
	struct session session;

	if (!session_start(&session, context, ""))
		return NODE_STATUS_DAMAGED;
	session.query = "";
	return session_fail(&session, NODE_STATUS_USAGE, message);
}

int node_command_run(const struct node_command_context *context, int argc, char **argv)
{
	struct session session;

	if (!session_start(&session, context, argc > 0 ? argv[0] : ""))
		return NODE_STATUS_DAMAGED;
	if (argc < 1 || argv[0] == NULL)
		return usage_error(&session, "COMMAND [ARGS]", "no command given");
	const struct command *command = find_command(argv[0]);
	if (command != NULL) {
		/* "COMMAND --help" is "help COMMAND" */
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				session.query = "help";
				return help_for(&session, command->name);
			}
		}
		session.query = command->name;
		return command->run(&session, argc, argv);
	}
	session.query = "";
	return usage_error(&session,
		"pools | pool | allocations | allocations_per_caller | "
		"pool_log | leaks | check | scan | help",
		"unknown command '%s'", argv[0]);
}
