/*
 * stress_reader.c - pooldump and the node reader's commands, run against
 * this very process's debug node while the workload changes it (see
 * stress.h).
 *
 * Each command runs one of two ways, chosen at random: as the pooldump tool
 * (a child process started with posix_spawn, which runs no fork handlers,
 * so it never waits for the pools' locks) or in process through
 * node_command_run(), the code behind both pooldump and the module's own
 * debugger commands. Both must give answers that hold whatever the workload
 * does meanwhile; once the workload has stopped, stress_node_expect() holds
 * them to exact numbers. A pool copy the reader itself calls torn (it gave
 * up waiting for the pool to be quiet) excuses the damage it may show, and
 * is counted.
 *
 * Invariants: an answer's texts are always NUL-terminated.
 *
 * Locking: a reader and its buffers belong to its own thread; only 'stop'
 * is shared (atomic).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node/node_commands.h"
#include "stress.h"

extern char **environ;

#define MAX_ARGUMENTS 8

struct text {
	char *data;
	size_t length;
	size_t capacity;
};

struct answer {
	int status;
	struct text out;
	struct text err;
	bool in_process;
};

struct stress_reader {
	pthread_t thread;
	const struct stress_module *module;
	int long_lived[64];
	size_t long_lived_count;
	size_t max_blocks;
	atomic_bool stop;
	uint64_t commands;
	uint64_t torn_copies;
	char pooldump[PATH_MAX];
	struct stress_rng rng;
};

static void text_append(struct text *text, const char *data, size_t length)
{
	if (text->length + length + 1 > text->capacity) {
		size_t capacity = text->capacity ? text->capacity : 4096;
		char *grown;

		while (text->length + length + 1 > capacity)
			capacity *= 2;
		grown = realloc(text->data, capacity);
		if (grown == NULL) {
			stress_fail("out of memory reading a command's output");
			return;
		}
		text->data = grown;
		text->capacity = capacity;
	}
	memcpy(text->data + text->length, data, length);
	text->length += length;
	text->data[text->length] = '\0';
}

static void answer_reset(struct answer *answer)
{
	answer->status = -1;
	answer->out.length = answer->err.length = 0;
	text_append(&answer->out, "", 0);
	text_append(&answer->err, "", 0);
}

static void answer_free(struct answer *answer)
{
	free(answer->out.data);
	free(answer->err.data);
}

/* ---- running a command ---- */

static void print_to_text(void *cookie, const char *line)
{
	text_append(cookie, line, strlen(line));
}

static void run_in_process(const struct stress_module *module, int argc, char **argv,
	struct answer *answer)
{
	struct node_command_context context = {
		.node_dir = module->node_dir,
		.pid = getpid(),
		.print = print_to_text,
		.print_cookie = &answer->out,
		.print_error = print_to_text,
		.error_cookie = &answer->err,
	};

	answer->in_process = true;
	answer->status = node_command_run(&context, argc, argv);
}

/* Reads both pipes to their end (a child blocked on a full pipe never exits). */
static void drain(int out_fd, int err_fd, struct answer *answer)
{
	struct pollfd fds[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	int open_count = 2;
	char buffer[8192];

	while (open_count > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			stress_fail("poll: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t got;

			if (fds[i].fd < 0 || fds[i].revents == 0)
				continue;
			got = read(fds[i].fd, buffer, sizeof(buffer));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				fds[i].fd = -1;
				open_count--;
				continue;
			}
			text_append(i == 0 ? &answer->out : &answer->err, buffer, (size_t)got);
		}
	}
}

static void run_pooldump(const struct stress_reader *reader, bool json, int argc, char **argv,
	struct answer *answer)
{
	char pid[16];
	char *arguments[MAX_ARGUMENTS + 8];
	int out_pipe[2], err_pipe[2], wait_status, count = 0;
	posix_spawn_file_actions_t actions;
	pid_t child;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	arguments[count++] = (char *)reader->pooldump;
	arguments[count++] = (char *)"--node-dir";
	arguments[count++] = (char *)reader->module->node_dir;
	if (json)
		arguments[count++] = (char *)"--json";
	arguments[count++] = (char *)"-p";
	arguments[count++] = pid;
	for (int i = 0; i < argc; i++)
		arguments[count++] = argv[i];
	arguments[count] = NULL;

	answer->in_process = false;
	if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
		stress_fail("pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
	errno = posix_spawn(&child, reader->pooldump, &actions, NULL, arguments, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (errno != 0) {
		stress_fail("cannot run %s: %s", reader->pooldump, strerror(errno));
		close(out_pipe[0]);
		close(err_pipe[0]);
		return;
	}
	drain(out_pipe[0], err_pipe[0], answer);
	close(out_pipe[0]);
	close(err_pipe[0]);
	while (waitpid(child, &wait_status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wait_status))
		answer->status = WEXITSTATUS(wait_status);
	else
		stress_fail("pooldump %s died of signal %d", argv[0], WTERMSIG(wait_status));
}

/* Splits a command line (no quoting needed here) and runs it one way. */
static void run_command(struct stress_reader *reader, bool in_process, bool json, const char *line,
	struct answer *answer)
{
	char copy[256], *argv[MAX_ARGUMENTS + 1], *save = NULL;
	int argc = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	for (char *word = strtok_r(copy, " ", &save); word != NULL && argc < MAX_ARGUMENTS;
		word = strtok_r(NULL, " ", &save))
		argv[argc++] = word;
	argv[argc] = NULL;
	answer_reset(answer);
	if (in_process)
		run_in_process(reader->module, argc, argv, answer);
	else
		run_pooldump(reader, json, argc, argv, answer);
	reader->commands++;
}

/* ---- what the answers must say ---- */

#define CHECK(condition, ...)                                                                      \
	do {                                                                                       \
		if (!(condition)) {                                                                \
			complain(line, answer, __VA_ARGS__);                                       \
			return false;                                                              \
		}                                                                                  \
	} while (0)

static void complain(const char *line, const struct answer *answer, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void complain(const char *line, const struct answer *answer, const char *format, ...)
{
	char why[256];
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(why, sizeof(why), format, arguments);
	va_end(arguments);
	stress_fail("%s '%s' (status %d): %s\n--- stdout:\n%.600s\n--- stderr:\n%.300s",
		answer->in_process ? "node_command_run" : "pooldump", line, answer->status, why,
		answer->out.data, answer->err.data);
}

/* What every text answer starts with: this process, alive. */
static bool check_header(const char *line, const struct answer *answer)
{
	char expected[64];

	snprintf(expected, sizeof(expected), "process %d \"", (int)getpid());
	CHECK(strncmp(answer->out.data, expected, strlen(expected)) == 0, "no process header");
	CHECK(strstr(answer->out.data, "\": alive\n") != NULL, "the process is not alive");
	/* warnings about counters read while they changed are fine; errors are not */
	CHECK(strstr(answer->err.data, "error:") == NULL, "an error line");
	return true;
}

/*
 * A pool copied while it changed, even in a quiet window (which the driver
 * grants for a bounded time): the reader says it is a partial view, whose
 * findings it does not count as problems. Such an answer is counted.
 */
static void count_torn_copy(struct stress_reader *reader, const struct answer *answer)
{
	if (strstr(answer->err.data, "changing too fast: partial view") != NULL)
		reader->torn_copies++;
}

/* The value after "key" in text as an unsigned number; false when absent. */
static bool number_after(const char *text, const char *key, uint64_t *value)
{
	const char *at = strstr(text, key);

	if (at == NULL)
		return false;
	return sscanf(at + strlen(key), "%" SCNu64, value) == 1;
}

/* The line of the pools listing about area (NULL when absent), copied. */
static bool pool_line(const char *text, int area, char *line, size_t size)
{
	char start[32];
	const char *at, *end;

	snprintf(start, sizeof(start), "\npool %d: ", area);
	at = strstr(text, start);
	if (at == NULL)
		return false;
	at++;
	end = strchr(at, '\n');
	snprintf(line, size, "%.*s", (int)(end != NULL ? end - at : (ptrdiff_t)strlen(at)), at);
	return true;
}

static bool check_pools(const struct stress_reader *reader, const char *line,
	const struct answer *answer)
{
	const char *text = answer->out.data;
	uint64_t listed;

	CHECK(answer->status == 0, "status");
	CHECK(check_header(line, answer), "header");
	CHECK(number_after(text, "alive\n", &listed), "no pool count");
	CHECK(listed >= reader->long_lived_count, "%" PRIu64 " pools listed, %zu long-lived",
		listed, reader->long_lived_count);
	for (size_t i = 0; i < reader->long_lived_count; i++) {
		char pool[1024];
		uint64_t blocks, errors;

		CHECK(pool_line(text, reader->long_lived[i], pool, sizeof(pool)),
			"long-lived pool %d missing", reader->long_lived[i]);
		CHECK(number_after(pool, "; blocks: ", &blocks) && blocks <= reader->max_blocks,
			"pool %d: blocks out of bounds", reader->long_lived[i]);
		CHECK(number_after(pool, "; errors: ", &errors) && errors == 0,
			"pool %d counts errors", reader->long_lived[i]);
	}
	return true;
}

static bool check_pool(struct stress_reader *reader, const char *line, const struct answer *answer)
{
	uint64_t live;

	CHECK(answer->status == 0, "status");
	CHECK(check_header(line, answer), "header");
	CHECK(number_after(answer->out.data, "\tblocks: ", &live) && live <= reader->max_blocks,
		"live blocks out of bounds");
	CHECK(strstr(answer->out.data, "\tcopy: ") != NULL, "no copy line");
	count_torn_copy(reader, answer);
	/* a partial view may show a torn heap, and says it is one */
	CHECK(strstr(answer->out.data, "heap damaged") == NULL
			|| strstr(answer->out.data, "\tcopy: partial view") != NULL,
		"heap damaged");
	return true;
}

static bool check_totals(const struct stress_reader *reader, const char *line,
	const struct answer *answer, int expected_status)
{
	uint64_t blocks, bytes;

	CHECK(answer->status == expected_status, "status");
	CHECK(check_header(line, answer), "header");
	CHECK(number_after(answer->out.data, "total allocations: ", &blocks)
			&& number_after(answer->out.data, "; total bytes: ", &bytes),
		"no totals");
	CHECK(blocks <= reader->max_blocks && bytes <= blocks * STRESS_MAX_BLOCK,
		"totals out of bounds: %" PRIu64 " blocks, %" PRIu64 " bytes", blocks, bytes);
	return true;
}

static bool check_allocations(const struct stress_reader *reader, const char *line,
	const struct answer *answer)
{
	char team[32];
	const char *text = answer->out.data;

	if (!check_totals(reader, line, answer, 0))
		return false;
	/* every listed block was allocated by this process */
	snprintf(team, sizeof(team), "team: % 6d; thread: ", (int)getpid());
	for (const char *at = strstr(text, "team: "); at != NULL; at = strstr(at + 1, "\nteam: ")) {
		if (*at == '\n')
			at++;
		CHECK(strncmp(at, team, strlen(team)) == 0, "a block of another team: %.40s", at);
	}
	return true;
}

static bool check_log(const char *line, const struct answer *answer)
{
	CHECK(answer->status == 0, "status");
	CHECK(check_header(line, answer), "header");
	CHECK(strstr(answer->out.data, " event(s) logged") != NULL, "no log");
	return true;
}

static bool check_leaks(const struct stress_reader *reader, const char *line,
	const struct answer *answer)
{
	uint64_t bytes, blocks;

	CHECK(answer->status == 0 || answer->status == 1, "status");
	CHECK(check_header(line, answer), "header");
	CHECK(sscanf(strstr(answer->out.data, "SUMMARY: area_malloc: ") != NULL
			      ? strstr(answer->out.data, "SUMMARY: area_malloc: ")
			      : "",
		      "SUMMARY: area_malloc: %" SCNu64 " byte(s) outstanding in %" SCNu64, &bytes,
		      &blocks)
			== 2,
		"no summary"); /* a live process: outstanding, not lost */
	CHECK(blocks <= reader->max_blocks && bytes <= blocks * STRESS_MAX_BLOCK,
		"leaks out of bounds");
	CHECK((answer->status == 1) == (blocks > 0), "status does not match the leaks");
	return true;
}

static bool check_check(struct stress_reader *reader, const char *line, const struct answer *answer)
{
	const char *summary;
	uint64_t pools;

	CHECK(check_header(line, answer), "header");
	count_torn_copy(reader, answer);
	/* a partial view's findings are not problems: the status stays 0 */
	CHECK(answer->status == 0
			&& strstr(answer->out.data, " pool(s) checked, 0 problem(s)\n") != NULL,
		"problems found");
	/* the summary line (a partial view's count may follow it): its pool
	 * count covers the long-lived ones */
	summary = strstr(answer->out.data, " pool(s) checked, 0 problem(s)\n");
	while (summary > answer->out.data && summary[-1] != '\n')
		summary--;
	CHECK(sscanf(summary, "%" SCNu64 " pool(s) checked", &pools) == 1
			&& pools >= reader->long_lived_count,
		"pools checked");
	return true;
}

static bool check_json_check(struct stress_reader *reader, const char *line,
	const struct answer *answer)
{
	if (strstr(answer->out.data, "changing too fast: partial view") != NULL)
		reader->torn_copies++;
	CHECK(answer->out.data[0] == '{' && strstr(answer->out.data, "\"errors\":[]") != NULL,
		"not a JSON document without errors");
	CHECK(answer->status == 0 && strstr(answer->out.data, "\"problem_count\":0,") != NULL
			&& strstr(answer->out.data, "\"status\":0}\n") != NULL,
		"not a clean JSON check");
	return true;
}

#undef CHECK

/* ---- the reader thread ---- */

static int some_long_lived_area(struct stress_reader *reader)
{
	return reader->long_lived[stress_below(&reader->rng, reader->long_lived_count)];
}

/* One round: every command once, each way chosen at random. */
static void read_round(struct stress_reader *reader, struct answer *answer)
{
	char line[128];
	bool way;

#define RUN(text)                                                                                  \
	do {                                                                                       \
		way = stress_chance(&reader->rng, 50);                                             \
		snprintf(line, sizeof(line), "%s", text);                                          \
		run_command(reader, way, false, line, answer);                                     \
	} while (0)

	RUN("pools");
	if (!check_pools(reader, line, answer))
		return;
	RUN("allocations");
	if (!check_allocations(reader, line, answer))
		return;
	RUN("allocations stats");
	if (!check_totals(reader, line, answer, 0))
		return;
	RUN("allocations_per_caller -c");
	if (!check_totals(reader, line, answer, 0))
		return;
	RUN("leaks");
	if (!check_leaks(reader, line, answer))
		return;
	RUN("check");
	if (!check_check(reader, line, answer))
		return;
	if (reader->long_lived_count > 0) {
		char command[64];

		snprintf(command, sizeof(command), "pool %d", some_long_lived_area(reader));
		RUN(command);
		if (!check_pool(reader, line, answer))
			return;
		snprintf(command, sizeof(command), "pool_log %d 8", some_long_lived_area(reader));
		RUN(command);
		if (!check_log(line, answer))
			return;
	}
	snprintf(line, sizeof(line), "check");
	run_command(reader, false, true, line, answer);
	check_json_check(reader, "--json check", answer);
#undef RUN
}

static void *reader_main(void *argument)
{
	struct stress_reader *reader = argument;
	struct answer answer = { 0 };

	do
		read_round(reader, &answer);
	while (!atomic_load(&reader->stop) && !stress_failed());
	answer_free(&answer);
	return NULL;
}

struct stress_reader *stress_reader_start(const struct stress_module *module,
	const int *long_lived_areas, size_t long_lived_count, size_t max_blocks)
{
	struct stress_reader *reader = calloc(1, sizeof(*reader));
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");

	if (reader == NULL || builddir == NULL
		|| long_lived_count > sizeof(reader->long_lived) / sizeof(reader->long_lived[0])) {
		stress_fail("cannot start the node reader (AREA_MALLOC_TEST_BUILDDIR unset?)");
		free(reader);
		return NULL;
	}
	reader->module = module;
	if (long_lived_count > 0)
		memcpy(reader->long_lived, long_lived_areas, long_lived_count * sizeof(int));
	reader->long_lived_count = long_lived_count;
	reader->max_blocks = max_blocks;
	snprintf(reader->pooldump, sizeof(reader->pooldump), "%s/tools/pooldump/pooldump",
		builddir);
	stress_rng_init(&reader->rng, stress_seed(), 0xdead);
	atomic_init(&reader->stop, false);
	if (pthread_create(&reader->thread, NULL, reader_main, reader) != 0) {
		stress_fail("cannot start the node reader thread");
		free(reader);
		return NULL;
	}
	return reader;
}

void stress_reader_stop(struct stress_reader *reader, struct stress_summary *summary)
{
	if (reader == NULL)
		return;
	atomic_store(&reader->stop, true);
	pthread_join(reader->thread, NULL);
	summary->reader_commands += reader->commands;
	summary->torn_copies += reader->torn_copies;
	free(reader);
}

/* ---- exact answers once the workload has stopped ---- */

#define EXPECT(condition, ...)                                                                     \
	do {                                                                                       \
		if (!(condition)) {                                                                \
			complain(line, &answer, __VA_ARGS__);                                      \
			goto done;                                                                 \
		}                                                                                  \
	} while (0)

void stress_node_expect(const struct stress_module *module, int area, size_t blocks, uint64_t bytes)
{
	struct stress_reader reader = { .module = module, .max_blocks = blocks };
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	struct answer answer = { 0 };
	char line[128], pool[1024];
	uint64_t got_blocks, got_bytes, guarded_blocks, guarded_bytes;

	snprintf(reader.pooldump, sizeof(reader.pooldump), "%s/tools/pooldump/pooldump",
		builddir != NULL ? builddir : ".");
	for (int way = 0; way < 2; way++) {
		bool in_process = way == 1;

		snprintf(line, sizeof(line), "allocations pool %d stats", area);
		run_command(&reader, in_process, false, line, &answer);
		EXPECT(answer.status == 0
				&& number_after(answer.out.data, "total allocations: ", &got_blocks)
				&& number_after(answer.out.data, "; total bytes: ", &got_bytes),
			"no totals");
		EXPECT(got_blocks == blocks && got_bytes == bytes,
			"%" PRIu64 " blocks of %" PRIu64 " bytes listed, %zu of %" PRIu64 " held",
			got_blocks, got_bytes, blocks, bytes);

		snprintf(line, sizeof(line), "pools");
		run_command(&reader, in_process, false, line, &answer);
		EXPECT(answer.status == 0 && pool_line(answer.out.data, area, pool, sizeof(pool)),
			"pool %d not listed", area);
		EXPECT(number_after(pool, "; used: ", &got_bytes) && got_bytes == bytes
				&& number_after(pool, "; blocks: ", &got_blocks)
				&& got_blocks == blocks,
			"pool %d: the counters are not %zu blocks of %" PRIu64 " bytes", area,
			blocks, bytes);

		/* the heap walk finds the heap's blocks; the blocks the default
		 * sampling guarded are in the guard table's line */
		snprintf(line, sizeof(line), "pool %d", area);
		run_command(&reader, in_process, false, line, &answer);
		guarded_blocks = guarded_bytes = 0;
		if (answer.status == 0 && strstr(answer.out.data, "\tguarded blocks: ") != NULL)
			EXPECT(number_after(answer.out.data, "\tguarded blocks: ", &guarded_blocks)
					&& number_after(strstr(answer.out.data,
								"\tguarded blocks: "),
						" live (", &guarded_bytes),
				"no count of the guarded blocks");
		EXPECT(answer.status == 0
				&& number_after(answer.out.data, "\tblocks: ", &got_blocks)
				&& got_blocks + guarded_blocks == blocks
				&& number_after(strstr(answer.out.data, "\tblocks: "), " live (",
					&got_bytes)
				&& got_bytes + guarded_bytes == bytes,
			"the heap walk (%" PRIu64 " blocks, %" PRIu64
			" bytes) and the guard table (%" PRIu64 ", %" PRIu64
			") do not find what is held (%zu, %" PRIu64 ")",
			got_blocks, got_bytes, guarded_blocks, guarded_bytes, blocks, bytes);
		EXPECT(strstr(answer.out.data, "\tcopy: consistent") != NULL,
			"the copy of a quiet pool is not consistent");

		snprintf(line, sizeof(line), "check pool %d", area);
		run_command(&reader, in_process, false, line, &answer);
		EXPECT(answer.status == 0
				&& strstr(answer.out.data, "\n1 pool(s) checked, 0 problem(s)\n")
					!= NULL,
			"check found problems");

		snprintf(line, sizeof(line), "leaks pool %d", area);
		run_command(&reader, in_process, false, line, &answer);
		snprintf(pool, sizeof(pool),
			"SUMMARY: area_malloc: %" PRIu64
			" byte(s) outstanding in %zu allocation(s).\n",
			bytes, blocks);
		EXPECT(answer.status == (blocks > 0 ? 1 : 0)
				&& strstr(answer.out.data, pool) != NULL,
			"leaks does not say '%.100s'", pool);
	}
done:
	answer_free(&answer);
}

#undef EXPECT
