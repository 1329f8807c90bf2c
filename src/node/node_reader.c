/*
 * node_reader.c - reading debug nodes without trusting them (see
 * node_reader.h for the rules and node_format.h for the layout).
 *
 * Invariants: no byte of a node file is used before the check that bounds
 * it; every read of file data goes through pread into memory of our own;
 * the only mapping of a node file is the page of a live pool's lock, held
 * for one copy. Strings from files are NUL-terminated here and escaped by
 * whoever prints them.
 *
 * Locking: none; a node belongs to the thread that opened it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/heap.h"
#include "node/node_reader.h"

#define DEFAULT_TRIES 8
#define DEFAULT_LOCK_TIMEOUT_MS 200
#define DESCRIPTOR_SCAN_BYTES (64 * 1024)	/* the descriptor sits in the control page(s) */
#define PROCESS_FILE_MAX ((uint64_t)64 << 20)
#define MAX_IMAGES 65536
#define GENERATION_TRIES 8

struct node_symbol {
	uintptr_t address;
	char *text;
	char *function;
};

static void set_error(struct node_error *error, enum node_status status, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(struct node_error *error, enum node_status status, const char *format, ...)
{
	va_list arguments;

	error->status = status;
	va_start(arguments, format);
	vsnprintf(error->message, sizeof(error->message), format, arguments);
	va_end(arguments);
}

static void pause_before_retry(unsigned attempt)
{
	if (attempt < 3) {
		sched_yield();
		return;
	}
	/* 1, 2, 4, 8, 16 ms: a writer in a long change gets time to finish */
	unsigned shift = attempt - 3 < 4 ? attempt - 3 : 4;
	struct timespec delay = { 0, 1000000L << shift };
	nanosleep(&delay, NULL);
}

/* Reads exactly bytes at offset; false on error or end of file (errno 0). */
static bool pread_full(int fd, void *buffer, size_t bytes, uint64_t offset)
{
	unsigned char *out = buffer;

	if (offset > (uint64_t)INT64_MAX || bytes > (uint64_t)INT64_MAX - offset) {
		errno = EINVAL;
		return false;
	}
	while (bytes > 0) {
		ssize_t got = pread(fd, out, bytes, (off_t)offset);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = 0;
			return false;
		}
		out += got;
		offset += (uint64_t)got;
		bytes -= (size_t)got;
	}
	return true;
}

static const char *read_failure(void)
{
	return errno == 0 ? "the file ended early" : strerror(errno);
}

/* ---- the node directory ---- */

void node_default_dir(char *buffer, size_t size)
{
	snprintf(buffer, size, "%s%u", NODE_DIR_PREFIX, (unsigned)geteuid());
}

/* The owner a reader accepts: its own uid; root accepts anyone's. */
static bool owner_acceptable(uid_t owner)
{
	return geteuid() == 0 || owner == geteuid();
}

enum node_status node_dir_open(const char *path, struct node_dir *dir, struct node_error *error)
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
		set_error(error, NODE_STATUS_DAMAGED, "node directory %s is not a directory: refused",
			path);
		return error->status;
	}
	if (!owner_acceptable(link_status.st_uid)) {
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
				set_error(error, NODE_STATUS_DAMAGED, "out of memory listing a node");
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

/*
 * Opens name in dir_fd without following a link and checks it before use:
 * a regular file of owner, one link, nothing for group or others.
 */
static int open_checked_file(int dir_fd, const char *name, int flags, uid_t owner,
	struct stat *status, struct node_error *error)
{
	int fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		if (errno == ENOENT)
			set_error(error, NODE_STATUS_NO_SUCH, "%s: no such file", name);
		else if (errno == ELOOP)
			set_error(error, NODE_STATUS_DAMAGED, "%s is a symbolic link: refused", name);
		else
			set_error(error, NODE_STATUS_DAMAGED, "cannot open %s: %s", name,
				strerror(errno));
		return -1;
	}
	if (fstat(fd, status) != 0) {
		set_error(error, NODE_STATUS_DAMAGED, "cannot read %s: %s", name, strerror(errno));
	} else if (!S_ISREG(status->st_mode)) {
		set_error(error, NODE_STATUS_DAMAGED, "%s is not a regular file: refused", name);
	} else if (status->st_uid != owner) {
		set_error(error, NODE_STATUS_DAMAGED,
			"%s belongs to uid %u, not to the node's owner (uid %u): refused", name,
			(unsigned)status->st_uid, (unsigned)owner);
	} else if (status->st_nlink == 0) {
		/* removed between the directory listing and the open: the pool was
		 * deleted (or the process ended), as if the name had been gone */
		set_error(error, NODE_STATUS_NO_SUCH, "%s: no such file (just removed)", name);
	} else if (status->st_nlink != 1) {
		set_error(error, NODE_STATUS_DAMAGED, "%s has %lu links: refused", name,
			(unsigned long)status->st_nlink);
	} else if ((status->st_mode & 077) != 0) {
		set_error(error, NODE_STATUS_DAMAGED, "%s is open to other users (mode %04o): refused",
			name, (unsigned)(status->st_mode & 07777));
	} else {
		return fd;
	}
	close(fd);
	return -1;
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

static void terminate(char *text, size_t size)
{
	text[size - 1] = '\0';
}

static bool layout_from_process(const struct node_process_file *process,
	struct debug_layout *layout, char *why, size_t why_size)
{
	struct debug_layout expected;

	if (process->block_frame_count < 1 || process->block_frame_count > AREA_MALLOC_MAX_FRAMES) {
		snprintf(why, why_size, "block frame count %u out of range",
			process->block_frame_count);
		return false;
	}
	/* the geometry is a function of the frame count: derive it, then compare */
	debug_layout_init(&expected, process->block_frame_count);
	if (process->block_header_size != expected.header_size
		|| process->block_front_size != expected.front_size) {
		snprintf(why, why_size,
			"block layout (header %u, front %u bytes) does not fit %u frames",
			process->block_header_size, process->block_front_size,
			process->block_frame_count);
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
			"process file: image table (%" PRIu64 " of %" PRIu64 " records at offset %"
			PRIu64 ") lies outside the %" PRIu64 "-byte file",
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
		if (record->build_id_size > SYMBOLIZER_BUILD_ID_MAX || record->start > record->end) {
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
	if ((uint64_t)status.st_size < sizeof(*process) || (uint64_t)status.st_size > PROCESS_FILE_MAX) {
		set_error(error, NODE_STATUS_DAMAGED,
			"process file is %lld bytes; its header alone is %zu%s", (long long)status.st_size,
			sizeof(*process), (uint64_t)status.st_size > PROCESS_FILE_MAX ? " (too large)" : "");
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
		set_error(error, NODE_STATUS_DAMAGED, "process file: bad magic (not a node, or "
			"written with another byte order)");
	} else if (process->version != NODE_FORMAT_VERSION) {
		set_error(error, NODE_STATUS_DAMAGED, "process file: format version %u, this reader "
			"knows %d", process->version, NODE_FORMAT_VERSION);
	} else if (process->header_bytes != sizeof(*process)) {
		set_error(error, NODE_STATUS_DAMAGED, "process file: header of %u bytes, expected %zu",
			process->header_bytes, sizeof(*process));
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
			set_error(error, NODE_STATUS_NO_SUCH, "no node for process %d in %s", (int)pid,
				dir->path);
		else if (errno == ELOOP || errno == ENOTDIR)
			set_error(error, NODE_STATUS_DAMAGED,
				"node %s/%s is a symbolic link or not a directory: refused", dir->path,
				name);
		else
			set_error(error, NODE_STATUS_DAMAGED, "cannot open node %s/%s: %s", dir->path,
				name, strerror(errno));
		free(node);
		return error->status;
	}
	if (fstat(node->dir_fd, &status) != 0 || status.st_uid != dir->owner
		|| (status.st_mode & 077) != 0) {
		set_error(error, NODE_STATUS_DAMAGED,
			"node %s/%s is not owned by uid %u with mode 0700: refused", dir->path, name,
			(unsigned)dir->owner);
		node_close(node);
		return error->status;
	}
	if (read_process_file(node, error) != NODE_STATUS_OK
		|| list_numbered(node->dir_fd, NODE_POOL_FILE_PREFIX, &node->pool_areas,
			&node->pool_count, error) != NODE_STATUS_OK) {
		node_close(node);
		return error->status;
	}
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
	free(node);
}

/* ---- symbolization (cached per address: a million blocks share few callers) ---- */

static size_t symbol_slot(uintptr_t address, size_t capacity)
{
	uint64_t hash = (uint64_t)address * 0x9e3779b97f4a7c15ull;
	return (size_t)(hash >> 32) & (capacity - 1);
}

static bool grow_symbols(struct node *node)
{
	size_t capacity = node->symbol_capacity ? node->symbol_capacity * 2 : 256;
	struct node_symbol *table = calloc(capacity, sizeof(*table));

	if (table == NULL)
		return false;
	for (size_t i = 0; i < node->symbol_capacity; i++) {
		struct node_symbol *old = &node->symbols[i];
		size_t slot;
		if (old->text == NULL)
			continue;
		for (slot = symbol_slot(old->address, capacity); table[slot].text != NULL;
			slot = (slot + 1) & (capacity - 1))
			;
		table[slot] = *old;
	}
	free(node->symbols);
	node->symbols = table;
	node->symbol_capacity = capacity;
	return true;
}

static void open_symbolizer(struct node *node)
{
	struct symbolizer_image *images;

	if (node->symbolizer != NULL || node->symbolizer_failed)
		return;
	images = calloc(node->image_count ? node->image_count : 1, sizeof(*images));
	if (images != NULL) {
		for (size_t i = 0; i < node->image_count; i++)
			symbolizer_image_from_record(&node->images[i], &images[i]);
		node->symbolizer = symbolizer_open_images(images, node->image_count);
		free(images);
	}
	if (node->symbolizer == NULL) {
		node->symbolizer_failed = true;
		node_warn(node, "cannot symbolize callers: %s", strerror(errno ? errno : ENOMEM));
	}
}

/* When even the cache is out of memory: the bare address. */
static const char *unsymbolized(uintptr_t address)
{
	static __thread char text[32];

	snprintf(text, sizeof(text), "0x%" PRIxPTR, address);
	return text;
}

const char *node_symbolize(struct node *node, uintptr_t address, const char **function)
{
	static const char unknown_function[] = "";
	struct symbol_info info;
	struct node_symbol *entry;
	char text[2048];
	size_t slot;

	if (function != NULL)
		*function = unknown_function;
	if (node->symbol_count * 2 >= node->symbol_capacity && !grow_symbols(node))
		return unsymbolized(address);
	for (slot = symbol_slot(address, node->symbol_capacity);
		node->symbols[slot].text != NULL; slot = (slot + 1) & (node->symbol_capacity - 1)) {
		if (node->symbols[slot].address == address) {
			if (function != NULL)
				*function = node->symbols[slot].function;
			return node->symbols[slot].text;
		}
	}
	open_symbolizer(node);
	memset(&info, 0, sizeof(info));
	if (node->symbolizer != NULL) {
		symbolize(node->symbolizer, address, &info);
		symbol_format(&info, text, sizeof(text));
	} else {
		snprintf(text, sizeof(text), "0x%" PRIxPTR, address);
	}
	entry = &node->symbols[slot];
	entry->text = strdup(text);
	entry->function = strdup(info.function);
	if (entry->text == NULL || entry->function == NULL) {
		free(entry->text);
		free(entry->function);
		entry->text = entry->function = NULL;
		return unsymbolized(address);
	}
	entry->address = address;
	node->symbol_count++;
	if (function != NULL)
		*function = entry->function;
	return entry->text;
}

/* ---- pool files ---- */

static int open_pool_file(struct node *node, int area, int flags, struct stat *status,
	struct node_error *error)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), NODE_POOL_FILE_PREFIX "%d", area);
	fd = open_checked_file(node->dir_fd, name, flags, node->owner, status, error);
	if (fd < 0 && error->status == NODE_STATUS_NO_SUCH) {
		set_error(error, NODE_STATUS_NO_SUCH, "process %d has no pool %d", (int)node->pid,
			area);
	} else if (fd < 0) {
		char why[NODE_MESSAGE_MAX];
		memcpy(why, error->message, sizeof(why));
		set_error(error, error->status, "pool %d of process %d: %.*s", area,
			(int)node->pid, NODE_MESSAGE_MAX - 48, why);
	}
	return fd;
}

/*
 * Everything a reader relies on in a descriptor, against the file it came
 * from. Unsigned arithmetic only in forms that cannot wrap.
 */
static bool descriptor_sound(const struct node_pool_descriptor *d, uint64_t file_bytes, int area,
	uint64_t found_at, char *why, size_t size)
{
	uint64_t descriptor_end, control_end;

	if (memcmp(d->magic, NODE_POOL_MAGIC, sizeof(d->magic)) != 0) {
		snprintf(why, size, "bad magic");
		return false;
	}
	if (d->version != NODE_FORMAT_VERSION || d->descriptor_bytes != sizeof(*d)) {
		snprintf(why, size, "format version %u with a %u-byte descriptor, this reader knows "
			"version %d (%zu bytes)", d->version, d->descriptor_bytes, NODE_FORMAT_VERSION,
			sizeof(*d));
		return false;
	}
	if (d->area != area) {
		snprintf(why, size, "descriptor names pool %d", (int)d->area);
		return false;
	}
	if (d->state != NODE_POOL_LIVE && d->state != NODE_POOL_DELETING) {
		snprintf(why, size, "unknown state %u", d->state);
		return false;
	}
	if (d->control_offset != found_at) {
		snprintf(why, size, "descriptor found at offset %" PRIu64 " says %" PRIu64, found_at,
			d->control_offset);
		return false;
	}
	if (d->area_size == 0 || d->area_size > file_bytes || d->area_size > SIZE_MAX / 2) {
		snprintf(why, size, "the file is %" PRIu64 " bytes but the area is %" PRIu64
			" (truncated or damaged)", file_bytes, d->area_size);
		return false;
	}
	if (d->base_address == 0 || d->base_address % HEAP_ALIGN != 0
		|| d->base_address > UINT64_MAX - d->area_size) {
		snprintf(why, size, "impossible base address 0x%" PRIx64, d->base_address);
		return false;
	}
	descriptor_end = d->control_offset + d->descriptor_bytes; /* found_at < 64 KiB */
	if (descriptor_end > d->area_size) {
		snprintf(why, size, "descriptor past the end of the area");
		return false;
	}
	if (d->heap_offset % HEAP_ALIGN != 0 || d->heap_offset < descriptor_end
		|| d->heap_offset >= d->area_size || d->heap_bytes == 0
		|| d->heap_bytes > d->area_size - d->heap_offset) {
		snprintf(why, size, "heap range [%" PRIu64 ", +%" PRIu64 ") outside the %" PRIu64
			"-byte area", d->heap_offset, d->heap_bytes, d->area_size);
		return false;
	}
	if (d->guard_offset != 0 && (d->guard_offset < descriptor_end
		|| d->guard_offset >= d->heap_offset)) {
		snprintf(why, size, "guard page offset %" PRIu64 " outside the control region",
			d->guard_offset);
		return false;
	}
	control_end = d->guard_offset != 0 ? d->guard_offset : d->heap_offset;
	if (d->lock_offset % 8 != 0 || d->lock_offset > control_end
		|| sizeof(pthread_mutex_t) > control_end - d->lock_offset
		|| (d->lock_offset < descriptor_end
			&& d->lock_offset + sizeof(pthread_mutex_t) > d->control_offset)) {
		snprintf(why, size, "lock offset %" PRIu64 " outside the control region",
			d->lock_offset);
		return false;
	}
	if (d->log_offset != 0 && (d->log_offset % 8 != 0 || d->log_offset < descriptor_end
		|| d->log_offset > control_end
		|| sizeof(struct pool_log) > control_end - d->log_offset)) {
		snprintf(why, size, "log offset %" PRIu64 " outside the control region",
			d->log_offset);
		return false;
	}
	return true;
}

/*
 * Finds the descriptor in the first bytes of a pool file: the 8-aligned
 * place that holds the magic and names itself as control_offset.
 */
static bool find_descriptor(int fd, uint64_t file_bytes, uint64_t *offset)
{
	size_t scan = file_bytes < DESCRIPTOR_SCAN_BYTES ? (size_t)file_bytes : DESCRIPTOR_SCAN_BYTES;
	struct node_pool_descriptor candidate;
	unsigned char *bytes;
	bool found = false;

	if (scan < sizeof(candidate))
		return false;
	bytes = malloc(scan);
	if (bytes == NULL || !pread_full(fd, bytes, scan, 0)) {
		free(bytes);
		return false;
	}
	for (size_t at = 0; at + sizeof(candidate) <= scan && !found; at += 8) {
		if (memcmp(bytes + at, NODE_POOL_MAGIC, sizeof(candidate.magic)) != 0)
			continue;
		memcpy(&candidate, bytes + at, sizeof(candidate));
		if (candidate.control_offset == at) {
			*offset = at;
			found = true;
		}
	}
	free(bytes);
	return found;
}

static enum node_status locate_descriptor(struct node *node, int area, int fd,
	uint64_t file_bytes, uint64_t *offset, struct node_error *error)
{
	if (!find_descriptor(fd, file_bytes, offset)) {
		set_error(error, NODE_STATUS_DAMAGED,
			"pool %d of process %d: no pool descriptor in its first %d KiB "
			"(%" PRIu64 "-byte file: truncated or damaged)", area, (int)node->pid,
			DESCRIPTOR_SCAN_BYTES / 1024, file_bytes);
		return error->status;
	}
	return NODE_STATUS_OK;
}

static bool read_seq(int fd, uint64_t control_offset, uint64_t *seq)
{
	return pread_full(fd, seq, sizeof(*seq),
		control_offset + offsetof(struct node_pool_descriptor, seq));
}

enum node_status node_pool_read_descriptor(struct node *node, int area,
	struct node_pool_descriptor *descriptor, bool *consistent, struct node_error *error)
{
	struct stat status;
	uint64_t offset, after;
	char why[200];
	int fd;

	*consistent = false;
	fd = open_pool_file(node, area, O_RDONLY, &status, error);
	if (fd < 0)
		return error->status;
	if (locate_descriptor(node, area, fd, (uint64_t)status.st_size, &offset, error)
		!= NODE_STATUS_OK) {
		close(fd);
		return error->status;
	}
	for (unsigned attempt = 0; attempt < DEFAULT_TRIES && !*consistent; attempt++) {
		if (attempt > 0)
			pause_before_retry(attempt);
		if (!pread_full(fd, descriptor, sizeof(*descriptor), offset)
			|| !read_seq(fd, offset, &after)) {
			set_error(error, NODE_STATUS_DAMAGED, "pool %d: cannot read its descriptor: %s",
				area, read_failure());
			close(fd);
			return error->status;
		}
		*consistent = descriptor->seq % 2 == 0 && descriptor->seq == after;
		if (!node->alive)
			break;
	}
	close(fd);
	if (!descriptor_sound(descriptor, (uint64_t)status.st_size, area, offset, why, sizeof(why))) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d of process %d is damaged: %s", area,
			(int)node->pid, why);
		return error->status;
	}
	terminate(descriptor->name, sizeof(descriptor->name));
	if (descriptor->creator.frame_count > AREA_MALLOC_MAX_FRAMES)
		descriptor->creator.frame_count = AREA_MALLOC_MAX_FRAMES;
	return NODE_STATUS_OK;
}

static void zero_range(unsigned char *buffer, size_t from, size_t to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t first_page = (from + page - 1) & ~(page - 1), last_page = to & ~(page - 1);

	if (from >= to)
		return;
	/* whole pages go back to the kernel, which hands out zeros again: zeroing
	 * a large hole by hand would commit the memory the hole saves */
	if (first_page < last_page && madvise(buffer + first_page, last_page - first_page,
		MADV_DONTNEED) == 0) {
		memset(buffer + from, 0, first_page - from);
		memset(buffer + last_page, 0, to - last_page);
		return;
	}
	memset(buffer + from, 0, to - from);
}

/*
 * Copies [0, bytes) of the file into buffer with pread, skipping holes
 * (which read as zero). fresh: buffer is all zero already. False when the
 * file could not be read to its end (truncated meanwhile, or an error).
 */
static bool copy_file(int fd, unsigned char *buffer, size_t bytes, bool fresh)
{
	bool seek_works = true;
	size_t at = 0;

	while (at < bytes) {
		off_t data = (off_t)at, hole = (off_t)bytes;
		if (seek_works) {
			data = lseek(fd, (off_t)at, SEEK_DATA);
			if (data < 0 && errno == ENXIO) {
				data = (off_t)bytes; /* only holes (or the end) from here */
			} else if (data < 0) {
				seek_works = false; /* no hole support: read everything */
				data = (off_t)at;
			}
		}
		if ((uint64_t)data > bytes)
			data = (off_t)bytes;
		if (!fresh)
			zero_range(buffer, at, (size_t)data);
		if ((size_t)data == bytes)
			break;
		if (seek_works) {
			hole = lseek(fd, data, SEEK_HOLE);
			if (hole < 0 || (uint64_t)hole > bytes)
				hole = (off_t)bytes;
		}
		if (hole <= data)
			hole = (off_t)bytes;
		if (!pread_full(fd, buffer + data, (size_t)(hole - data), (uint64_t)data))
			return false;
		at = (size_t)hole;
	}
	return true;
}

/* A reference mutex's type word: process-shared, robust, of type (-1: the
 * default, which glibc encodes apart from an explicit PTHREAD_MUTEX_NORMAL). */
static int reference_kind(int type)
{
	pthread_mutexattr_t attributes;
	pthread_mutex_t reference;
	int kind;

	pthread_mutexattr_init(&attributes);
	if (type >= 0)
		pthread_mutexattr_settype(&attributes, type);
	pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&reference, &attributes);
	kind = reference.__data.__kind;
	pthread_mutex_destroy(&reference);
	pthread_mutexattr_destroy(&attributes);
	return kind;
}

/* Does the type word say process-shared robust mutex (glibc's encoding)? */
static bool is_shared_robust_mutex(const pthread_mutex_t *mutex)
{
	static const int types[] = { -1, PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_ERRORCHECK,
		PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ADAPTIVE_NP };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (reference_kind(types[i]) == mutex->__data.__kind)
			return true;
	}
	return false;
}

struct copy_attempt {
	int fd;
	uint64_t control_offset;
	bool copied;		/* the buffer holds some copy */
	bool truncated;		/* the file ended early during a copy */
};

/* One copy between two reads of seq; true when it is consistent. */
static bool copy_between_seqs(struct node_pool *pool, struct copy_attempt *attempt, bool *seq_odd)
{
	uint64_t before, after, copied;

	*seq_odd = false;
	if (!read_seq(attempt->fd, attempt->control_offset, &before))
		return false;
	if (before % 2 != 0 && attempt->copied) {
		*seq_odd = true;
		return false; /* a change is under way: do not copy it */
	}
	if (!copy_file(attempt->fd, pool->image, pool->image_bytes, !attempt->copied)) {
		attempt->truncated = true;
		return false;
	}
	attempt->copied = true;
	if (!read_seq(attempt->fd, attempt->control_offset, &after))
		return false;
	memcpy(&copied, pool->image + attempt->control_offset
		+ offsetof(struct node_pool_descriptor, seq), sizeof(copied));
	*seq_odd = before % 2 != 0;
	return before % 2 == 0 && before == after && copied == before;
}

/*
 * The fallback: the pool's robust lock for one copy. Maps only the page(s)
 * of the lock, and only after checking that the file there is a robust
 * process-shared mutex, so a forged lock word cannot send us into a PI or
 * priority-protected futex path.
 */
static void copy_under_lock(struct node_pool *pool, struct copy_attempt *attempt,
	const struct node_snapshot_options *options)
{
	unsigned timeout_ms = options != NULL && options->lock_timeout_ms != 0
		? options->lock_timeout_ms : DEFAULT_LOCK_TIMEOUT_MS;
	const struct node_pool_descriptor *d = &pool->descriptor;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t map_offset = d->lock_offset & ~(uint64_t)(page - 1);
	size_t map_bytes = (size_t)((d->lock_offset - map_offset + sizeof(pthread_mutex_t)
		+ page - 1) & ~(uint64_t)(page - 1));
	struct stat first, second;
	pthread_mutex_t lock_word;
	struct timespec deadline;
	unsigned char *mapping;
	bool consistent, odd;
	char name[32];
	int fd, result;

	snprintf(name, sizeof(name), NODE_POOL_FILE_PREFIX "%d", pool->area);
	fd = openat(pool->node->dir_fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(attempt->fd, &first) != 0 || fstat(fd, &second) != 0
		|| first.st_ino != second.st_ino || first.st_dev != second.st_dev
		|| (uint64_t)second.st_size < map_offset + map_bytes) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock could not be reached");
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!pread_full(fd, &lock_word, sizeof(lock_word), d->lock_offset)
		|| !is_shared_robust_mutex(&lock_word)) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock is not a process-shared robust mutex; it was not taken");
		close(fd);
		return;
	}
	mapping = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_offset);
	if (mapping == MAP_FAILED) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock could not be mapped: %s", strerror(errno));
		close(fd);
		return;
	}
	pthread_mutex_t *lock = (pthread_mutex_t *)(mapping + (d->lock_offset - map_offset));
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	result = pthread_mutex_timedlock(lock, &deadline);
	if (result == EOWNERDEAD) {
		/* a holder died (a reader, or the driver mid-change): the lock is
		 * ours to repair; the seq check below says whether the data is whole */
		pthread_mutex_consistent(lock);
		pool->owner_died = true;
		result = 0;
	}
	if (result == 0) {
		consistent = copy_between_seqs(pool, attempt, &odd);
		pthread_mutex_unlock(lock);
		if (consistent)
			pool->copy = NODE_COPY_LOCKED;
		else
			snprintf(pool->copy_problem, sizeof(pool->copy_problem),
				"the pool was %s even under its lock%s",
				odd ? "in the middle of a change" : "changing",
				pool->owner_died ? " (its last holder died holding it)" : "");
	} else {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the pool's lock could not be taken within %u ms (%s)", timeout_ms,
			strerror(result));
	}
	munmap(mapping, map_bytes);
	close(fd);
}

static void count_chunk(const void *payload, uintptr_t payload_address, size_t usable, bool used,
	void *context)
{
	struct node_pool *pool = context;
	const struct debug_block_header *header = payload;

	if (!used) {
		pool->free_chunks++;
		pool->free_chunk_bytes += usable + HEAP_BLOCK_OVERHEAD;
		if (usable > pool->largest_free)
			pool->largest_free = usable;
		return;
	}
	pool->used_chunks++;
	pool->used_chunk_bytes += usable + HEAP_BLOCK_OVERHEAD;
	if (!debug_block_header_ok_at(&pool->node->layout, header, usable, payload_address)) {
		pool->damaged_blocks++;
	} else if (debug_block_state(header) == BLOCK_LIVE) {
		pool->live_blocks++;
		pool->live_bytes += header->size;
	} else {
		pool->quarantined_blocks++;
		pool->quarantined_bytes += usable + HEAP_BLOCK_OVERHEAD;
	}
}

static void parse_log(struct node_pool *pool)
{
	const struct node_pool_descriptor *d = &pool->descriptor;
	uint64_t control_end = d->guard_offset != 0 ? d->guard_offset : d->heap_offset;
	const struct pool_log *log;

	if (d->log_offset == 0) {
		snprintf(pool->log_problem, sizeof(pool->log_problem), "the pool has no log");
		return;
	}
	log = (const struct pool_log *)(pool->image + d->log_offset);
	/* descriptor_sound() made sure the log's header fits */
	if (log->capacity > (control_end - d->log_offset - sizeof(*log))
			/ sizeof(struct pool_log_event)) {
		snprintf(pool->log_problem, sizeof(pool->log_problem),
			"the log claims %u events, more than its region holds", log->capacity);
		return;
	}
	pool->log = log;
}

enum node_status node_pool_load(struct node *node, int area,
	const struct node_snapshot_options *options, struct node_pool **out,
	struct node_error *error)
{
	unsigned tries = options != NULL && options->tries != 0 ? options->tries : DEFAULT_TRIES;
	struct copy_attempt attempt = { .fd = -1 };
	bool consistent = false, odd = false;
	struct node_pool *pool;
	struct stat status;
	char why[200];
	uint64_t offset;

	*out = NULL;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL) {
		set_error(error, NODE_STATUS_DAMAGED, "out of memory");
		return error->status;
	}
	pool->node = node;
	pool->area = area;
	pool->image = MAP_FAILED;
	if (node_pool_read_descriptor(node, area, &pool->descriptor, &consistent, error)
		!= NODE_STATUS_OK)
		goto fail;
	attempt.fd = open_pool_file(node, area, O_RDONLY, &status, error);
	if (attempt.fd < 0)
		goto fail;
	if (locate_descriptor(node, area, attempt.fd, (uint64_t)status.st_size, &offset, error)
		!= NODE_STATUS_OK)
		goto fail;
	if (offset != pool->descriptor.control_offset) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d: its descriptor moved", area);
		goto fail;
	}
	attempt.control_offset = offset;
	pool->file_bytes = (uint64_t)status.st_size;
	pool->image_bytes = (size_t)pool->descriptor.area_size;
	pool->image = mmap(NULL, pool->image_bytes, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool->image == MAP_FAILED) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d: no memory for a %zu-byte copy: %s",
			area, pool->image_bytes, strerror(errno));
		goto fail;
	}

	consistent = false;
	for (unsigned attempt_number = 0; attempt_number < tries && !consistent; attempt_number++) {
		if (attempt_number > 0)
			pause_before_retry(attempt_number);
		consistent = copy_between_seqs(pool, &attempt, &odd);
		if (attempt.truncated)
			break;
		if (!node->alive && attempt.copied)
			break; /* nobody will finish a change any more */
	}
	if (consistent) {
		pool->copy = NODE_COPY_CONSISTENT;
	} else if (!attempt.truncated && node->alive) {
		copy_under_lock(pool, &attempt, options);
	} else if (!attempt.truncated) {
		snprintf(pool->copy_problem, sizeof(pool->copy_problem),
			"the process died in the middle of a change to the pool");
	}
	if (!consistent && pool->copy != NODE_COPY_LOCKED) {
		pool->copy = NODE_COPY_INCONSISTENT;
		if (!attempt.copied && !attempt.truncated
			&& !copy_file(attempt.fd, pool->image, pool->image_bytes, true))
			attempt.truncated = true;
		if (pool->copy_problem[0] == '\0')
			snprintf(pool->copy_problem, sizeof(pool->copy_problem),
				"the pool kept changing during every copy");
	}
	if (attempt.truncated || fstat(attempt.fd, &status) != 0
		|| (uint64_t)status.st_size < pool->image_bytes) {
		set_error(error, NODE_STATUS_DAMAGED,
			"pool %d of process %d: the file ended before the %zu-byte area "
			"(truncated while it was read)", area, (int)node->pid, pool->image_bytes);
		goto fail;
	}
	close(attempt.fd);
	attempt.fd = -1;

	/* from here on only the copy counts: check its own descriptor again */
	memcpy(&pool->descriptor, pool->image + offset, sizeof(pool->descriptor));
	if (!descriptor_sound(&pool->descriptor, pool->image_bytes, area, offset, why, sizeof(why))) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d of process %d is damaged: %s", area,
			(int)node->pid, why);
		goto fail;
	}
	terminate(pool->descriptor.name, sizeof(pool->descriptor.name));
	if (pool->descriptor.creator.frame_count > AREA_MALLOC_MAX_FRAMES)
		pool->descriptor.creator.frame_count = AREA_MALLOC_MAX_FRAMES;
	if (pool->copy == NODE_COPY_INCONSISTENT)
		node_warn(node, "pool %d: the copy may be inconsistent: %s", area,
			pool->copy_problem);
	if (pool->owner_died)
		node_warn(node, "pool %d: the pool's lock was held by a process that died; "
			"it was made consistent again", area);

	if (!heap_walk_image(pool->image + pool->descriptor.heap_offset, pool->descriptor.heap_bytes,
		(uintptr_t)(pool->descriptor.base_address + pool->descriptor.heap_offset), count_chunk,
		pool, &pool->heap_problem))
		node_warn(node, "pool %d: %s; blocks after the damage are not shown", area,
			pool->heap_problem);
	if (pool->damaged_blocks > 0)
		node_warn(node, "pool %d: %zu block(s) with a damaged header (see check)", area,
			pool->damaged_blocks);
	parse_log(pool);
	*out = pool;
	return NODE_STATUS_OK;
fail:
	if (attempt.fd >= 0)
		close(attempt.fd);
	node_pool_release(pool);
	return error->status;
}

void node_pool_release(struct node_pool *pool)
{
	if (pool == NULL)
		return;
	if (pool->image != MAP_FAILED && pool->image != NULL)
		munmap(pool->image, pool->image_bytes);
	free(pool);
}

struct block_walk {
	const struct node_pool *pool;
	node_block_fn fn;
	void *context;
};

static void visit_chunk(const void *payload, uintptr_t payload_address, size_t usable, bool used,
	void *context)
{
	struct block_walk *walk = context;
	const struct debug_layout *layout = &walk->pool->node->layout;
	const struct debug_block_header *header = payload;
	struct node_block block;

	if (!used)
		return;
	memset(&block, 0, sizeof(block));
	block.chunk_address = payload_address;
	block.address = payload_address + layout->front_size;
	block.usable = usable;
	block.header = header;
	block.header_ok = debug_block_header_ok_at(layout, header, usable, payload_address);
	if (block.header_ok) {
		block.state = debug_block_state(header);
		block.size = header->size;
		block.thread = debug_block_thread(header);
		block.team = header->team;
		block.sequence = header->sequence;
		block.time = header->time;
		block.frame_count = layout->frame_count;
		block.frames = header->frames;
	}
	walk->fn(walk->pool, &block, walk->context);
}

void node_pool_walk(const struct node_pool *pool, node_block_fn fn, void *context)
{
	struct block_walk walk = { pool, fn, context };

	heap_walk_image(pool->image + pool->descriptor.heap_offset, pool->descriptor.heap_bytes,
		(uintptr_t)(pool->descriptor.base_address + pool->descriptor.heap_offset), visit_chunk,
		&walk, NULL);
}

struct debug_block_finding node_block_check(const struct node_pool *pool,
	const struct node_block *block)
{
	return debug_block_check_at(&pool->node->layout, block->header, block->usable,
		(uintptr_t)block->chunk_address);
}

bool node_block_freed_by(const struct node_pool *pool, const struct node_block *block,
	area_malloc_owner *freed_by)
{
	/* the free record lies in the user area, which header_ok bounds */
	if (!block->header_ok || block->state != BLOCK_QUARANTINED)
		return false;
	return debug_block_freed_by_at(&pool->node->layout, block->header,
		(uintptr_t)block->chunk_address, freed_by, NULL);
}
