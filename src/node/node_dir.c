/*
 * node_dir.c - the node directory (NODE_DIR_PREFIX + uid) and the process
 * nodes in it: the process file, its image records, and the list of pool
 * files (see node_reader.h for the rules, node_format.h for the layout).
 *
 * Invariants: the directory and each node are refused unless they are
 * directories, not links, of the reader (root: of anyone) with nothing for
 * group or others. The process file's header is checked (magic, version,
 * sizes, pid, block layout) before the node is used. Its image table is
 * read between two even, equal generations (else used with a warning that
 * callers may be misnamed), and a record that cannot be right is dropped
 * with a warning rather than failing the node. Whether the process lives
 * is whether another open file description holds the lock on its process
 * file.
 *
 * Locking: none; the process file's lock is only tested (F_OFD_GETLK).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node_reader_internal.h"

#define PROCESS_FILE_MAX ((uint64_t)64 << 20)
#define MAX_IMAGES 65536
#define GENERATION_TRIES 8

/* ---- the node directory ---- */

void node_default_dir(char *buffer, size_t size)
{
	snprintf(buffer, size, "%s%u", NODE_DIR_PREFIX, (unsigned)geteuid());
}

bool node_fallback_dir(char *buffer, size_t size)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");

	return runtime != NULL && runtime[0] == '/'
		&& snprintf(buffer, size, "%s/%s", runtime, NODE_FALLBACK_DIR) < (int)size;
}

/* The owner a reader accepts: its own uid; root accepts anyone's where it
 * named the directory itself. */
static bool owner_acceptable(uid_t owner, bool own_only)
{
	return owner == geteuid() || (geteuid() == 0 && !own_only);
}

enum node_status node_dir_open(const char *path, bool own_only, struct node_dir *dir,
	struct node_error *error)
{
	struct stat link_status, status;
	int fd;

	dir->fd = -1;
	if (snprintf(dir->path, sizeof(dir->path), "%s", path) >= (int)sizeof(dir->path)) {
		set_error(error, NODE_STATUS_USAGE, "node directory path too long");
		return error->status;
	}
	if (lstat(path, &link_status) != 0) {
		if (errno == ENOENT) {
			set_error(error, NODE_STATUS_NO_SUCH,
				"no node directory %s (no process has published a node)", path);
			return error->status;
		}
		set_error(error, NODE_STATUS_DAMAGED, "cannot read node directory %s: %s", path,
			strerror(errno));
		return error->status;
	}
	if (S_ISLNK(link_status.st_mode)) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node directory %s is a symbolic link: refused", path);
		return error->status;
	}
	if (!S_ISDIR(link_status.st_mode)) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node directory %s is not a directory: refused", path);
		return error->status;
	}
	if (!owner_acceptable(link_status.st_uid, own_only)) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node directory %s belongs to uid %u, not to you (uid %u): refused", path,
			(unsigned)link_status.st_uid, (unsigned)geteuid());
		return error->status;
	}
	if ((link_status.st_mode & 077) != 0) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node directory %s is open to other users (mode %04o): refused", path,
			(unsigned)(link_status.st_mode & 07777));
		return error->status;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		set_error(error, NODE_STATUS_DAMAGED, "cannot open node directory %s: %s", path,
			strerror(errno));
		return error->status;
	}
	if (fstat(fd, &status) != 0 || status.st_dev != link_status.st_dev
		|| status.st_ino != link_status.st_ino || status.st_uid != link_status.st_uid
		|| (status.st_mode & 077) != 0) {
		close(fd);
		set_error(error, NODE_STATUS_DAMAGED,
			"node directory %s changed while it was checked: refused", path);
		return error->status;
	}
	dir->fd = fd;
	dir->owner = status.st_uid;
	return NODE_STATUS_OK;
}

void node_dir_close(struct node_dir *dir)
{
	if (dir->fd >= 0)
		close(dir->fd);
	dir->fd = -1;
}

/* A decimal number in [1, INT32_MAX] spelled without sign or leading zero. */
static bool parse_positive_name(const char *text, long *value)
{
	long result = 0;

	if (text[0] < '1' || text[0] > '9')
		return false;
	for (const char *c = text; *c != '\0'; c++) {
		if (*c < '0' || *c > '9' || c - text >= 10)
			return false;
		result = result * 10 + (*c - '0');
	}
	if (result > INT32_MAX)
		return false;
	*value = result;
	return true;
}

static int compare_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Names of dir_fd that are prefix + a positive number, sorted. */
static enum node_status list_numbered(int dir_fd, const char *prefix, int **numbers, size_t *count,
	struct node_error *error)
{
	size_t prefix_length = strlen(prefix), capacity = 0;
	struct dirent *entry;
	int *list = NULL;
	DIR *stream;
	int fd;

	*numbers = NULL;
	*count = 0;
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (stream = fdopendir(fd)) == NULL) {
		set_error(error, NODE_STATUS_DAMAGED, "cannot list a node directory: %s",
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return error->status;
	}
	errno = 0;
	while ((entry = readdir(stream)) != NULL) {
		long value;
		if (strncmp(entry->d_name, prefix, prefix_length) != 0
			|| !parse_positive_name(entry->d_name + prefix_length, &value))
			continue;
		if (*count == capacity) {
			size_t grown = capacity ? capacity * 2 : 16;
			int *larger = realloc(list, grown * sizeof(*list));
			if (larger == NULL) {
				free(list);
				closedir(stream);
				set_error(error, NODE_STATUS_DAMAGED,
					"out of memory listing a node");
				return error->status;
			}
			list = larger;
			capacity = grown;
		}
		list[(*count)++] = (int)value;
	}
	closedir(stream);
	if (*count > 1)
		qsort(list, *count, sizeof(*list), compare_int);
	*numbers = list;
	return NODE_STATUS_OK;
}

enum node_status node_dir_pids(const struct node_dir *dir, pid_t **pids, size_t *count,
	struct node_error *error)
{
	_Static_assert(sizeof(pid_t) == sizeof(int), "pid_t is an int");
	return list_numbered(dir->fd, "", (int **)pids, count, error);
}

bool node_process_file_alive(int fd)
{
	struct flock lock = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 1,
	};

	/* a lock held through another open file description conflicts */
	return fcntl(fd, F_OFD_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
}

/* ---- the process file ---- */

static bool layout_from_process(const struct node_process_file *process,
	struct debug_layout *layout, char *why, size_t why_size)
{
	struct debug_layout expected;

	if (process->block_frame_count < 1 || process->block_frame_count > AREA_MALLOC_MAX_FRAMES) {
		snprintf(why, why_size, "block frame count %u out of range",
			process->block_frame_count);
		return false;
	}
	/* the geometry is the format's (stacks are in the depot): derive it,
	 * then compare */
	debug_layout_init(&expected, process->block_frame_count);
	if (process->block_header_size != expected.header_size
		|| process->block_front_size != expected.front_size) {
		snprintf(why, why_size,
			"block layout (header %u, front %u bytes) is not this format's (%u, %u)",
			process->block_header_size, process->block_front_size, expected.header_size,
			expected.front_size);
		return false;
	}
	*layout = expected;
	layout->key = process->block_key;
	return true;
}

static enum node_status read_images(struct node *node, int fd, uint64_t file_bytes,
	struct node_error *error)
{
	const struct node_process_file *process = &node->process;
	size_t record_bytes = sizeof(struct symbolizer_image_record);
	struct symbolizer_image_record *records;
	uint64_t generation = 0, count = process->image_count;
	size_t kept = 0, skipped = 0;
	bool settled = false;

	if (count == 0)
		return NODE_STATUS_OK;
	if (process->image_record_bytes != record_bytes) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file: image records of %u bytes, expected %zu",
			process->image_record_bytes, record_bytes);
		return error->status;
	}
	/* only the records in use must be in the file: the writer may leave the
	 * rest of the capacity unwritten */
	if (process->images_offset % 8 != 0 || process->images_offset < sizeof(*process)
		|| process->images_offset > file_bytes
		|| count > (file_bytes - process->images_offset) / record_bytes
		|| count > process->images_capacity || count > MAX_IMAGES) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file: image table (%" PRIu64 " of %" PRIu64
			" records at offset %" PRIu64 ") lies outside the %" PRIu64 "-byte file",
			count, process->images_capacity, process->images_offset, file_bytes);
		return error->status;
	}
	records = calloc(count, record_bytes);
	if (records == NULL) {
		set_error(error, NODE_STATUS_DAMAGED, "out of memory reading %" PRIu64 " images",
			count);
		return error->status;
	}
	for (unsigned attempt = 0; attempt < GENERATION_TRIES && !settled; attempt++) {
		uint64_t after;
		if (attempt > 0)
			pause_before_retry(attempt + 3);
		if (!pread_full(fd, &generation, sizeof(generation),
			    offsetof(struct node_process_file, images_generation))
			|| !pread_full(fd, records, count * record_bytes, process->images_offset)
			|| !pread_full(fd, &after, sizeof(after),
				offsetof(struct node_process_file, images_generation))) {
			set_error(error, NODE_STATUS_DAMAGED, "cannot read the process file: %s",
				read_failure());
			free(records);
			return error->status;
		}
		settled = generation % 2 == 0 && generation == after;
		if (!node->alive && generation % 2 != 0)
			break; /* it will not change any more */
	}
	if (!settled)
		node_warn(node, "the image table was being rewritten%s; callers may be misnamed",
			node->alive ? "" : " when the process died");
	for (uint64_t i = 0; i < count; i++) {
		struct symbolizer_image_record *record = &records[i];
		terminate(record->path, sizeof(record->path));
		if (record->build_id_size > SYMBOLIZER_BUILD_ID_MAX
			|| record->start > record->end) {
			skipped++;
			continue;
		}
		if (kept != i)
			records[kept] = *record;
		kept++;
	}
	if (skipped > 0)
		node_warn(node, "%zu damaged image record(s) ignored", skipped);
	node->images = records;
	node->image_count = kept;
	return NODE_STATUS_OK;
}

static enum node_status read_process_file(struct node *node, struct node_error *error)
{
	struct node_process_file *process = &node->process;
	char why[200];
	struct stat status;
	enum node_status result;
	int fd;

	fd = open_checked_file(node->dir_fd, NODE_PROCESS_FILE, O_RDONLY, node->owner, &status,
		error);
	if (fd < 0) {
		if (error->status == NODE_STATUS_NO_SUCH)
			set_error(error, NODE_STATUS_DAMAGED, "node %d has no process file",
				(int)node->pid);
		return error->status;
	}
	node->alive = node_process_file_alive(fd);
	if ((uint64_t)status.st_size < sizeof(*process)
		|| (uint64_t)status.st_size > PROCESS_FILE_MAX) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file is %lld bytes; its header alone is %zu%s",
			(long long)status.st_size, sizeof(*process),
			(uint64_t)status.st_size > PROCESS_FILE_MAX ? " (too large)" : "");
		close(fd);
		return error->status;
	}
	if (!pread_full(fd, process, sizeof(*process), 0)) {
		set_error(error, NODE_STATUS_DAMAGED, "cannot read the process file: %s",
			read_failure());
		close(fd);
		return error->status;
	}
	if (memcmp(process->magic, NODE_PROCESS_MAGIC, sizeof(process->magic)) != 0) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file: bad magic (not a node, or "
			"written with another byte order)");
	} else if (process->version == 2) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node %d was written in node format version 2 "
			"(stack frames in every block header); this pooldump reads version %d only "
			"(stacks in a stack depot): read it with the pooldump of the area_malloc that "
			"wrote it",
			(int)node->pid, NODE_FORMAT_VERSION);
	} else if (process->version != NODE_FORMAT_VERSION) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file: format version %u, this reader "
			"knows %d",
			process->version, NODE_FORMAT_VERSION);
	} else if (process->header_bytes != sizeof(*process)) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file: header of %u bytes, expected %zu", process->header_bytes,
			sizeof(*process));
	} else if (process->pid != node->pid) {
		set_error(error, NODE_STATUS_DAMAGED, "process file names pid %d in node %d",
			(int)process->pid, (int)node->pid);
	} else if (!layout_from_process(process, &node->layout, why, sizeof(why))) {
		set_error(error, NODE_STATUS_DAMAGED, "process file: %s", why);
	} else {
		terminate(process->command_line, sizeof(process->command_line));
		terminate(process->options, sizeof(process->options));
		result = read_images(node, fd, (uint64_t)status.st_size, error);
		close(fd);
		return result;
	}
	close(fd);
	return error->status;
}

/* ---- nodes ---- */

void node_warn(struct node *node, const char *format, ...)
{
	va_list arguments;
	char **grown;
	char *text;

	va_start(arguments, format);
	if (vasprintf(&text, format, arguments) < 0)
		text = NULL;
	va_end(arguments);
	if (text == NULL)
		return;
	grown = realloc(node->warnings, (node->warning_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(text);
		return;
	}
	node->warnings = grown;
	node->warnings[node->warning_count++] = text;
}

enum node_status node_open(const struct node_dir *dir, pid_t pid, struct node **out,
	struct node_error *error)
{
	struct node *node;
	struct stat status;
	char name[16];

	*out = NULL;
	node = calloc(1, sizeof(*node));
	if (node == NULL) {
		set_error(error, NODE_STATUS_DAMAGED, "out of memory");
		return error->status;
	}
	node->pid = pid;
	node->owner = dir->owner;
	snprintf(name, sizeof(name), "%d", (int)pid);
	node->dir_fd = openat(dir->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (node->dir_fd < 0) {
		if (errno == ENOENT)
			set_error(error, NODE_STATUS_NO_SUCH, "no node for process %d in %s",
				(int)pid, dir->path);
		else if (errno == ELOOP || errno == ENOTDIR)
			set_error(error, NODE_STATUS_DAMAGED,
				"node %s/%s is a symbolic link or not a directory: refused",
				dir->path, name);
		else
			set_error(error, NODE_STATUS_DAMAGED, "cannot open node %s/%s: %s",
				dir->path, name, strerror(errno));
		free(node);
		return error->status;
	}
	if (fstat(node->dir_fd, &status) != 0 || status.st_uid != dir->owner
		|| (status.st_mode & 077) != 0) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node %s/%s is not owned by uid %u with mode 0700: refused", dir->path,
			name, (unsigned)dir->owner);
		node_close(node);
		return error->status;
	}
	if (read_process_file(node, error) != NODE_STATUS_OK
		|| list_numbered(node->dir_fd, NODE_POOL_FILE_PREFIX, &node->pool_areas,
			   &node->pool_count, error)
			!= NODE_STATUS_OK) {
		node_close(node);
		return error->status;
	}
	node_stacks_refresh(node);
	*out = node;
	return NODE_STATUS_OK;
}

void node_close(struct node *node)
{
	if (node == NULL)
		return;
	if (node->dir_fd >= 0)
		close(node->dir_fd);
	for (size_t i = 0; i < node->warning_count; i++)
		free(node->warnings[i]);
	free(node->warnings);
	for (size_t i = 0; i < node->symbol_capacity; i++) {
		free(node->symbols[i].text);
		free(node->symbols[i].function);
	}
	free(node->symbols);
	symbolizer_close(node->symbolizer);
	free(node->images);
	free(node->pool_areas);
	node_stacks_free(node);
	free(node);
}
