/*
 * node_cmd_pool_log.c - the command "pool_log ID [N]": the pool's last
 * logged events, newest first, as the "last events" section of an error
 * report shows them.
 *
 * Invariants: the log is read from the pool's copy, and only after the
 * reader checked its capacity against its region (node_pool.log is NULL
 * otherwise, with log_problem saying why).
 *
 * Locking: none (see node_reader.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "node/node_commands_internal.h"

struct log_walk {
	struct session *session;
	size_t printed;
};

static void print_event(const struct pool_log_event *event, void *context)
{
	struct log_walk *walk = context;
	struct session *session = walk->session;
	struct output *out = &session->out;

	if (session->context->json) {
		emit(out,
			"%s{\"seq\":%u,\"op\":\"%s\",\"address\":\"0x%" PRIx64
			"\",\"size\":%" PRIu64 ",\"thread\":%u,\"time\":%" PRId64 ",\"caller\":",
			walk->printed ? "," : "", event->sequence, pool_log_op_name(event->op),
			event->address, event->size, event->thread, event->time);
		put_json_string(out, symbol(session, event->caller));
		emit(out, ",\"caller_address\":\"0x%" PRIx64 "\"}", event->caller);
	} else {
		/* as the "last events" section of an error report */
		emit(out, "    seq %u %-8s 0x%" PRIx64 " %" PRIu64 " bytes, thread T%u, %s\n",
			event->sequence, pool_log_op_name(event->op), event->address, event->size,
			event->thread, symbol(session, event->caller));
	}
	walk->printed++;
}

struct log_request {
	uint64_t count;
};

static void show_log(struct session *session, struct node_pool *pool, void *context)
{
	const struct log_request *request = context;
	struct log_walk walk = { session, 0 };
	struct output *out = &session->out;
	const struct pool_log *log = pool->log;
	uint64_t held;
	char text[NODE_MESSAGE_MAX];

	if (log == NULL) {
		if (pool->descriptor.log_offset == 0) {
			if (session->context->json)
				emit(out,
					",\"pool\":%d,\"appended\":0,\"capacity\":0,\"events\":[]",
					pool->area);
			else
				emit(out, "pool %d has no log\n", pool->area);
			return;
		}
		snprintf(text, sizeof(text), "pool %d: %s", pool->area, pool->log_problem);
		session_error(session, NODE_STATUS_DAMAGED, text);
		return;
	}
	held = log->appended < log->capacity ? log->appended : log->capacity;
	if (session->context->json) {
		emit(out, ",\"pool\":%d,\"appended\":%" PRIu64 ",\"capacity\":%u,\"events\":[",
			pool->area, log->appended, log->capacity);
	} else {
		emit(out,
			"pool %d: %" PRIu64 " event(s) logged, the last %" PRIu64
			" kept (capacity %u); newest first:\n",
			pool->area, log->appended, held, log->capacity);
	}
	pool_log_newest(log, log->capacity, NULL,
		request->count < SIZE_MAX ? (size_t)request->count : SIZE_MAX, print_event, &walk);
	if (session->context->json)
		put_str(out, "]");
}

int command_pool_log(struct session *session, int argc, char **argv)
{
	static const char usage[] = "pool_log ID [N]";
	struct log_request request = { UINT64_MAX };
	int area, status;

	if (argc < 2 || argc > 3 || !parse_area(argv[1], &area))
		return usage_error(session, usage, "pool_log needs a pool ID");
	if (argc == 3 && !parse_u64(argv[2], &request.count))
		return usage_error(session, usage, "bad event count '%s'", argv[2]);
	if (!session_open_node(session, &status))
		return status;
	for_each_pool(session, area, show_log, &request);
	return session_finish(session);
}
