/*
 * node_cmd_dir.c - listing the node directory (node_command_list) and
 * removing its dead nodes (node_command_clean).
 *
 * Invariants: clean never removes a live node: a node is dead only when no
 * process holds the lock on its process file, and a young node whose pid
 * runs is kept (its process may still be creating it). Removal stays inside
 * the checked directory (openat, O_NOFOLLOW, the directory's owner) and
 * never follows a link.
 *
 * Locking: none; the process file's lock is only tested (F_OFD_GETLK).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node/node_commands_internal.h"

static void list_node(struct session *session, pid_t pid, size_t *listed)
{
	struct output *out = &session->out;
	struct node_error error = { 0 };
	uint64_t blocks = 0, bytes = 0;
	size_t pools = 0;
	struct node *node;
	char problem[NODE_MESSAGE_MAX] = "";

	if (node_open(&session->dir, pid, &node, &error) != NODE_STATUS_OK) {
		if (error.status == NODE_STATUS_NO_SUCH)
			return; /* gone since the directory was read */
		if (session->context->json) {
			emit(out,
				"%s{\"pid\":%d,\"state\":\"damaged\",\"alive\":null,\"command_line\":"
				"null,\"pools\":null,\"blocks\":null,\"bytes\":null,\"error\":",
				*listed ? "," : "", (int)pid);
			put_json_string(out, error.message);
			put_str(out, "}");
		} else {
			emit(out, "%8d  %-7s  %5s  %10s  %14s  (", (int)pid, "damaged", "-", "-",
				"-");
			put_text(out, error.message);
			put_str(out, ")\n");
		}
		(*listed)++;
		return;
	}
	for (size_t i = 0; i < node->pool_count; i++) {
		struct node_pool_descriptor descriptor;
		struct node_guard_counts guarded;
		bool consistent;
		if (node_pool_read_descriptor(node, node->pool_areas[i], &descriptor, &guarded,
			    &consistent, &error)
			!= NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH && problem[0] == '\0')
				snprintf(problem, sizeof(problem), "%s", error.message);
			continue;
		}
		pools++;
		/* the guarded blocks are live blocks too (guard_table.h) */
		blocks += descriptor.live_blocks + guarded.live_blocks;
		bytes += descriptor.used_bytes + guarded.live_bytes;
	}
	if (session->context->json) {
		emit(out, "%s{\"pid\":%d,\"state\":\"%s\",\"alive\":%s,\"command_line\":",
			*listed ? "," : "", (int)pid, node->alive ? "alive" : "dead",
			node->alive ? "true" : "false");
		put_json_string(out, node->process.command_line);
		emit(out,
			",\"start_time\":%" PRId64 ",\"pools\":%zu,\"blocks\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"error\":",
			node->process.start_time, pools, blocks, bytes);
		if (problem[0] != '\0')
			put_json_string(out, problem);
		else
			put_str(out, "null");
		put_str(out, "}");
	} else {
		emit(out, "%8d  %-7s  %5zu  %10" PRIu64 "  %14" PRIu64 "  ", (int)pid,
			node->alive ? "alive" : "dead", pools, blocks, bytes);
		put_text(out, node->process.command_line);
		if (problem[0] != '\0') {
			put_str(out, "  (");
			put_text(out, problem);
			put_str(out, ")");
		}
		put_str(out, "\n");
	}
	(*listed)++;
	node_close(node);
}

/*
 * Starts a command over the whole node directory: opens the session and the
 * directory and lists its nodes. false when the session already ended
 * (*result is what to return); *missing when there is no directory at all
 * (nobody published a node yet: an empty result, not an error).
 */
static bool start_dir_command(struct session *session, const struct node_command_context *context,
	const char *query, pid_t **pids, size_t *count, bool *missing, int *result)
{
	struct node_error error = { 0 };
	enum node_status status;

	*pids = NULL;
	*count = 0;
	*missing = false;
	if (!session_start(session, context, query)) {
		*result = NODE_STATUS_DAMAGED;
		return false;
	}
	status = session_open_dir(session, &error);
	if (status == NODE_STATUS_NO_SUCH) {
		*missing = true;
		return true;
	}
	if (status != NODE_STATUS_OK
		|| node_dir_pids(&session->dir, pids, count, &error) != NODE_STATUS_OK) {
		*result = session_fail(session, error.status, error.message);
		return false;
	}
	return true;
}

int node_command_list(const struct node_command_context *context)
{
	struct session session;
	struct output *out = &session.out;
	size_t count, listed = 0;
	pid_t *pids;
	bool missing;
	int result;

	if (!start_dir_command(&session, context, "list", &pids, &count, &missing, &result))
		return result;
	if (missing) {
		if (context->json) {
			json_document_start(out, "list");
			put_str(out, ",\"node_dir\":");
			put_json_string(out, session.dir.path);
			put_str(out, ",\"nodes\":[]");
		} else {
			emit(out, "no nodes in %s\n", session.dir.path);
		}
		return session_finish(&session);
	}
	if (context->json) {
		json_document_start(out, "list");
		put_str(out, ",\"node_dir\":");
		put_json_string(out, session.dir.path);
		put_str(out, ",\"nodes\":[");
	} else {
		emit(out, "%zu node(s) in ", count);
		put_text(out, session.dir.path);
		emit(out, "\n%8s  %-7s  %5s  %10s  %14s  %s\n", "pid", "state", "pools", "blocks",
			"bytes", "command");
	}
	for (size_t i = 0; i < count; i++)
		list_node(&session, pids[i], &listed);
	if (context->json)
		put_str(out, "]");
	free(pids);
	return session_finish(&session);
}

/* Removes a node's files, then the node, all inside the checked directory. */
static bool remove_node(const struct node_dir *dir, const char *name, char *why, size_t size)
{
	struct dirent *entry;
	struct stat status;
	DIR *stream;
	int fd;

	fd = openat(dir->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &status) != 0 || status.st_uid != dir->owner) {
		snprintf(why, size, "cannot open it as a directory of uid %u: %s",
			(unsigned)dir->owner, fd < 0 ? strerror(errno) : "wrong owner");
		if (fd >= 0)
			close(fd);
		return false;
	}
	stream = fdopendir(fd);
	if (stream == NULL) {
		snprintf(why, size, "cannot list it: %s", strerror(errno));
		close(fd);
		return false;
	}
	while ((entry = readdir(stream)) != NULL) {
		struct stat file;
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		/* unlinkat removes a symlink itself, never what it points to */
		if (fstatat(fd, entry->d_name, &file, AT_SYMLINK_NOFOLLOW) == 0
			&& !S_ISDIR(file.st_mode) && unlinkat(fd, entry->d_name, 0) != 0
			&& errno != ENOENT) {
			snprintf(why, size, "cannot remove %s: %s", entry->d_name, strerror(errno));
			closedir(stream);
			return false;
		}
	}
	closedir(stream);
	if (unlinkat(dir->fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
		snprintf(why, size, "cannot remove the directory: %s", strerror(errno));
		return false;
	}
	return true;
}

/*
 * Is the node dead? Its process file is not locked by anyone. A node with
 * no readable process file is taken as dead unless it is young and its pid
 * runs: it may be a process that is still creating its node.
 */
static bool node_is_dead(const struct node_dir *dir, const char *name, pid_t pid)
{
	struct stat status;
	bool dead;
	int node_fd, fd;

	node_fd = openat(dir->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (node_fd < 0)
		return false;
	fd = openat(node_fd, NODE_PROCESS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && fstat(fd, &status) == 0 && S_ISREG(status.st_mode)) {
		dead = !node_process_file_alive(fd);
		/* a fresh, still unlocked file: its writer may be about to lock it */
		if (dead && status.st_mtime > time(NULL) - YOUNG_NODE_SECONDS && kill(pid, 0) == 0)
			dead = false;
	} else {
		dead = !(fstat(node_fd, &status) == 0
			&& status.st_mtime > time(NULL) - YOUNG_NODE_SECONDS && kill(pid, 0) == 0);
	}
	if (fd >= 0)
		close(fd);
	close(node_fd);
	return dead;
}

int node_command_clean(const struct node_command_context *context)
{
	struct session session;
	struct output *out = &session.out;
	size_t count, removed = 0, kept = 0;
	pid_t *pids;
	bool missing;
	int result;

	if (!start_dir_command(&session, context, "clean", &pids, &count, &missing, &result))
		return result;
	if (missing) {
		if (context->json) {
			json_document_start(out, "clean");
			put_str(out, ",\"removed\":[],\"kept\":[]");
		} else {
			emit(out, "no nodes in %s\n", session.dir.path);
		}
		return session_finish(&session);
	}
	if (context->json) {
		json_document_start(out, "clean");
		put_str(out, ",\"removed\":[");
	}
	for (size_t i = 0; i < count; i++) {
		char name[16], why[NODE_MESSAGE_MAX - 64], text[NODE_MESSAGE_MAX];
		snprintf(name, sizeof(name), "%d", (int)pids[i]);
		if (!node_is_dead(&session.dir, name, pids[i])) {
			pids[kept++] = pids[i]; /* compacted: the list of kept nodes */
			continue;
		}
		if (!remove_node(&session.dir, name, why, sizeof(why))) {
			snprintf(text, sizeof(text), "node %s: %s", name, why);
			session_error(&session, NODE_STATUS_DAMAGED, text);
			continue;
		}
		if (context->json)
			emit(out, "%s%s", removed ? "," : "", name);
		else
			emit(out, "removed dead node %s\n", name);
		removed++;
	}
	if (context->json) {
		put_str(out, "],\"kept\":[");
		for (size_t i = 0; i < kept; i++)
			emit(out, "%s%d", i ? "," : "", (int)pids[i]);
		put_str(out, "]");
	} else {
		emit(out, "%zu dead node(s) removed, %zu live node(s) kept\n", removed, kept);
	}
	free(pids);
	return session_finish(&session);
}
