/*
 * node_writer.c - publishing this process's debug node (see node_writer.h
 * and node_format.h).
 *
 * Security: the node directory is created 0700 and refused when it is a
 * symlink, not a directory, not owned by this user or open to others; the
 * default one refused (another user made it first), the node goes under
 * $XDG_RUNTIME_DIR (open_fallback_root), else there is none: one warning
 * either way. Every file is created with O_EXCL | O_NOFOLLOW, mode 0600,
 * relative to directory descriptors opened with O_NOFOLLOW, so no path is
 * resolved twice.
 *
 * Liveness: the process file carries an open-file-description lock while
 * the process lives; the lock goes away with the process however it dies,
 * and a forked child closes its inherited descriptor so that it does not
 * keep its parent's node "alive".
 *
 * Invariants: active implies dir_fd, process_fd and the lock are valid and
 * owner_pid == getpid(); the published image table is sorted by start and
 * never freed (a reader may hold it without a lock).
 *
 * Locking: writer_lock protects everything here except the image table's
 * lock-free reads in node_writer_note_caller().
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>

#include "format/symbolize.h"
#include "kernel/lock.h"
#include "format/node_format.h"
#include "debug/node_writer.h"

#define MAX_IMAGES 512
#define RESERVE_STEP (1u << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

struct image_table {
	uint64_t generation; /* new each time the table is (re)written */
	size_t count;
	struct pc_range ranges[MAX_IMAGES];
};

/* Tables are static and reused in turn: a lock-free reader holds one for a
 * binary search only, far shorter than the one-second refresh interval. */
#define IMAGE_TABLES 4
static struct image_table image_tables[IMAGE_TABLES];
static unsigned next_image_table;
static uint64_t image_table_generations;

static mutex writer_lock = MUTEX_INITIALIZER("area_malloc node writer");
static bool active;
static pid_t owner_pid;
static int root_fd = -1;
static int dir_fd = -1;
static int inherited_dir_fd = -1; /* a forked child's parent node, until fork done */
static int process_fd = -1;
static char root_path[DEBUG_OPTIONS_PATH_MAX];
static struct debug_options writer_options;
static struct debug_layout writer_layout;
/* one warning per process for the files of the node that cannot be made */
static bool warned_file;
static _Atomic(struct image_table *) known_images;
static _Atomic int64_t last_image_refresh;

static void warn(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void warn(const char *format, ...)
{
	char line[768];
	va_list args;

	va_start(args, format);
	vsnprintf(line, sizeof(line), format, args);
	va_end(args);
	dprintf("area_malloc: %s\n", line);
}

/* A file of the node could not be made: one warning per process. */
static void warn_file_once(const char *file, int error, const char *consequence)
{
	if (warned_file)
		return;
	warned_file = true;
	warn("cannot create %s in the node %s/%d (%s): %s", file, root_path, (int)owner_pid,
		strerror(error), consequence);
}

/* ---- the node directory ---- */

/* The node directory at path, made (0700) when missing; -1 with why (a
 * sentence) when it is refused or cannot be made. */
static int open_checked_root(const char *path, char *why, size_t why_size)
{
	struct stat status;
	int fd;

	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_size, "cannot create the node directory %s: %s", path,
			strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_size, "node directory %s refused (%s%s)", path, strerror(errno),
			errno == ELOOP || errno == ENOTDIR ? ": a symlink or not a directory" : "");
		return -1;
	}
	if (fstat(fd, &status) != 0 || !S_ISDIR(status.st_mode) || status.st_uid != geteuid()
		|| (status.st_mode & 077) != 0) {
		snprintf(why, why_size,
			"node directory %s refused: it must be a directory owned by "
			"uid %d with mode 0700 (found uid %d, mode %04o)",
			path, (int)geteuid(), (int)status.st_uid,
			(unsigned)(status.st_mode & 07777));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The default directory refused (another user may create it first, to deny
 * this user its node): NODE_FALLBACK_DIR under $XDG_RUNTIME_DIR, when that
 * is an absolute path to a directory of this user that no one else may
 * write. pooldump looks there too.
 */
static int open_fallback_root(char *why, size_t why_size)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char path[sizeof(root_path)];
	struct stat status;
	int fd;

	if (runtime == NULL || runtime[0] != '/'
		|| snprintf(path, sizeof(path), "%s/%s", runtime, NODE_FALLBACK_DIR)
			>= (int)sizeof(path)
		|| lstat(runtime, &status) != 0 || !S_ISDIR(status.st_mode)
		|| status.st_uid != geteuid() || (status.st_mode & 022) != 0)
		return -1;
	fd = open_checked_root(path, why, why_size);
	if (fd >= 0)
		snprintf(root_path, sizeof(root_path), "%s", path);
	return fd;
}

/* True when the node dir entry of pid is held by a live process. */
static bool node_is_alive(int node_dir_fd)
{
	struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd = openat(node_dir_fd, NODE_PROCESS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool alive;

	if (fd < 0)
		return false;
	alive = fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
	close(fd);
	return alive;
}

/* A directory stream over fd (taken over), or NULL (fd closed). */
static DIR *open_dir_stream(int fd)
{
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

	if (dir == NULL && fd >= 0)
		close(fd);
	return dir;
}

static void remove_node_dir(int parent_fd, const char *name)
{
	DIR *dir = open_dir_stream(
		openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	struct dirent *entry;

	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
			unlinkat(dirfd(dir), entry->d_name, 0);
	}
	closedir(dir);
	unlinkat(parent_fd, name, AT_REMOVEDIR);
}

struct dead_node {
	char name[16];
	int64_t age_key;
};

static int compare_dead(const void *a, const void *b)
{
	const struct dead_node *x = a, *y = b;

	return x->age_key < y->age_key ? -1 : x->age_key > y->age_key;
}

static bool is_pid_name(const char *name)
{
	if (*name == '\0' || strlen(name) > 10)
		return false;
	for (; *name != '\0'; name++)
		if (*name < '0' || *name > '9')
			return false;
	return true;
}

/* Removes our own stale directory (a dead process had our pid) and the
 * oldest dead nodes beyond keep. */
static void clean_dead_nodes(int keep)
{
	struct dead_node *dead = NULL;
	size_t dead_count = 0, capacity = 0;
	char own[16];
	struct dirent *entry;
	DIR *dir = open_dir_stream(dup(root_fd));

	if (dir == NULL)
		return;
	snprintf(own, sizeof(own), "%d", (int)getpid());
	while ((entry = readdir(dir)) != NULL) {
		struct stat status;
		int node_fd;

		if (!is_pid_name(entry->d_name))
			continue;
		node_fd = openat(root_fd, entry->d_name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (node_fd < 0)
			continue;
		if (node_is_alive(node_fd) || fstat(node_fd, &status) != 0
			|| status.st_uid != geteuid()) {
			close(node_fd);
			continue;
		}
		/* unlocked but young, its process running: it may be a node still
		 * being created (as pooldump --clean judges) */
		if (status.st_mtime > time(NULL) - YOUNG_NODE_SECONDS
			&& kill((pid_t)atoi(entry->d_name), 0) == 0
			&& strcmp(entry->d_name, own) != 0) {
			close(node_fd);
			continue;
		}
		close(node_fd);
		if (strcmp(entry->d_name, own) == 0) {
			remove_node_dir(root_fd, entry->d_name);
			continue;
		}
		if (dead_count == capacity) {
			struct dead_node *grown;
			capacity = capacity ? capacity * 2 : 16;
			grown = realloc(dead, capacity * sizeof(*dead));
			if (grown == NULL)
				break;
			dead = grown;
		}
		snprintf(dead[dead_count].name, sizeof(dead[dead_count].name), "%s", entry->d_name);
		dead[dead_count].age_key =
			(int64_t)status.st_mtim.tv_sec * 1000000000 + status.st_mtim.tv_nsec;
		dead_count++;
	}
	closedir(dir);
	if (dead_count > (size_t)keep) {
		qsort(dead, dead_count, sizeof(*dead), compare_dead);
		for (size_t i = 0; i < dead_count - (size_t)keep; i++)
			remove_node_dir(root_fd, dead[i].name);
	}
	free(dead);
}

/* Whether a file of bytes may exist under RLIMIT_FSIZE: growing a file past
 * the limit (ftruncate, fallocate, write) raises SIGXFSZ, which would end
 * the driver; such a file is refused with EFBIG instead. */
static bool within_file_size_limit(uint64_t bytes)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
		return true;
	if (bytes <= (uint64_t)limit.rlim_cur)
		return true;
	errno = EFBIG;
	return false;
}

/* ---- the process file ---- */

static void read_command_line(char *buffer, size_t size)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t length = fd >= 0 ? read(fd, buffer, size - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (length <= 0) {
		snprintf(buffer, size, "?");
		return;
	}
	for (ssize_t i = 0; i < length - 1; i++)
		if (buffer[i] == '\0')
			buffer[i] = ' ';
	buffer[length] = '\0';
}

static bool write_all(int fd, const void *data, size_t length, off_t offset)
{
	const char *bytes = data;

	while (length > 0) {
		ssize_t written = pwrite(fd, bytes, length, offset);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return false;
		bytes += written;
		length -= (size_t)written;
		offset += written;
	}
	return true;
}

static int compare_ranges(const void *a, const void *b)
{
	const uintptr_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Rewrites the image table of the process file; with writer_lock held. */
static void write_images_locked(void)
{
	struct symbolizer_image_record *records = calloc(MAX_IMAGES, sizeof(*records));
	struct node_process_file header;
	struct image_table *table;
	size_t count;

	if (records == NULL)
		return;
	count = symbolizer_list_self_images(records, MAX_IMAGES);
	if (count > MAX_IMAGES)
		count = MAX_IMAGES;
	if (pread(process_fd, &header, sizeof(header), 0) != (ssize_t)sizeof(header)) {
		free(records);
		return;
	}
	/* odd generation: readers retry while the table is rewritten */
	header.images_generation |= 1;
	write_all(process_fd, &header, sizeof(header), 0);
	write_all(process_fd, records, count * sizeof(*records), (off_t)header.images_offset);
	header.image_count = (uint32_t)count;
	header.images_capacity = MAX_IMAGES;
	header.images_generation++;
	write_all(process_fd, &header, sizeof(header), 0);

	table = &image_tables[next_image_table++ % IMAGE_TABLES];
	{
		table->generation = ++image_table_generations;
		table->count = 0;
		for (size_t i = 0; i < count; i++) {
			if (records[i].end <= records[i].start)
				continue;
			table->ranges[table->count].start = (uintptr_t)records[i].start;
			table->ranges[table->count].end = (uintptr_t)records[i].end;
			table->count++;
		}
		qsort(table->ranges, table->count, sizeof(table->ranges[0]), compare_ranges);
		/* the old table is left for readers that may still hold it */
		atomic_store(&known_images, table);
	}
	free(records);
}

static bool create_process_file(void)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	struct node_process_file header;
	struct timespec now;

	process_fd = openat(dir_fd, NODE_PROCESS_FILE,
		O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (process_fd < 0) {
		warn("cannot create the node's process file: %s; no debug node", strerror(errno));
		return false;
	}
	if (fcntl(process_fd, F_OFD_SETLK, &lock) != 0) {
		warn("cannot lock the node's process file: %s; no debug node", strerror(errno));
		return false;
	}
	memset(&header, 0, sizeof(header));
	memcpy(header.magic, NODE_PROCESS_MAGIC, sizeof(header.magic));
	header.version = NODE_FORMAT_VERSION;
	header.header_bytes = sizeof(header);
	header.pid = (int32_t)getpid();
	header.uid = (uint32_t)geteuid();
	clock_gettime(CLOCK_REALTIME, &now);
	header.start_time = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	read_command_line(header.command_line, sizeof(header.command_line));
	debug_options_format(&writer_options, header.options, sizeof(header.options));
	header.block_header_size = writer_layout.header_size;
	header.block_front_size = writer_layout.front_size;
	header.block_frame_count = writer_layout.frame_count;
	header.block_key = writer_layout.key;
	header.image_record_bytes = sizeof(struct symbolizer_image_record);
	header.images_offset = (sizeof(header) + 4095) & ~(uint64_t)4095;
	header.images_capacity = MAX_IMAGES;
	/* room for the whole image table (sparse until used) */
	if (!within_file_size_limit(header.images_offset
		    + (uint64_t)MAX_IMAGES * sizeof(struct symbolizer_image_record))
		|| ftruncate(process_fd,
			   (off_t)(header.images_offset
				   + (uint64_t)MAX_IMAGES * sizeof(struct symbolizer_image_record)))
			!= 0
		|| !write_all(process_fd, &header, sizeof(header), 0)) {
		warn("cannot write the node's process file: %s; no debug node", strerror(errno));
		return false;
	}
	write_images_locked();
	return true;
}

/* With halt_on_error, a core dump should hold the pools: they are shared
 * file mappings, which the default coredump_filter leaves out (bit 3). */
static void include_pools_in_core_dumps(void)
{
	char text[32] = "";
	unsigned long filter;
	int fd = open("/proc/self/coredump_filter", O_RDWR | O_CLOEXEC);
	ssize_t length;

	if (fd < 0)
		return;
	length = read(fd, text, sizeof(text) - 1);
	if (length > 0) {
		text[length] = '\0';
		filter = strtoul(text, NULL, 16) | 0x8;
		length = snprintf(text, sizeof(text), "0x%lx", filter);
		if (pwrite(fd, text, (size_t)length, 0) != length)
			warn("cannot include the pools in core dumps (coredump_filter)");
	}
	close(fd);
}

static void close_descriptors(void)
{
	if (process_fd >= 0)
		close(process_fd);
	if (dir_fd >= 0)
		close(dir_fd);
	if (root_fd >= 0)
		close(root_fd);
	process_fd = dir_fd = root_fd = -1;
}

bool node_writer_start(const struct debug_options *options, const struct debug_layout *layout)
{
	char why[sizeof(root_path) + 160], fallback_why[sizeof(root_path) + 160] = "";
	char name[16];
	bool started = false;

	mutex_lock(&writer_lock);
	if (active) {
		mutex_unlock(&writer_lock);
		return true;
	}
	writer_options = *options;
	writer_layout = *layout;
	if (options->node_dir[0] != '\0')
		snprintf(root_path, sizeof(root_path), "%s", options->node_dir);
	else
		snprintf(root_path, sizeof(root_path), "%s%d", NODE_DIR_PREFIX, (int)geteuid());
	root_fd = open_checked_root(root_path, why, sizeof(why));
	if (root_fd < 0 && options->node_dir[0] == '\0') {
		root_fd = open_fallback_root(fallback_why, sizeof(fallback_why));
		if (root_fd >= 0)
			warn("%s; the node is in %s instead", why, root_path);
	}
	if (root_fd < 0)
		warn("%s%s%s; no debug node", why, fallback_why[0] != '\0' ? "; and " : "",
			fallback_why);
	if (root_fd >= 0) {
		clean_dead_nodes((int)options->keep_dead_nodes);
		snprintf(name, sizeof(name), "%d", (int)getpid());
		if (mkdirat(root_fd, name, 0700) != 0)
			warn("cannot create the node %s/%s: %s; no debug node", root_path, name,
				strerror(errno));
		else if ((dir_fd = openat(root_fd, name,
				  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))
			< 0)
			warn("cannot open the node %s/%s: %s; no debug node", root_path, name,
				strerror(errno));
		else
			started = create_process_file();
		if (!started && dir_fd >= 0) {
			close_descriptors();
			root_fd = open(root_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (root_fd >= 0)
				remove_node_dir(root_fd, name);
		}
	}
	if (started) {
		active = true;
		owner_pid = getpid();
		if (options->halt_on_error)
			include_pools_in_core_dumps();
	} else {
		close_descriptors();
	}
	mutex_unlock(&writer_lock);
	return started;
}

void node_writer_stop(bool process_ends)
{
	char name[16];

	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid()) {
		snprintf(name, sizeof(name), "%d", (int)owner_pid);
		remove_node_dir(root_fd, name);
	}
	active = false;
	if (!process_ends)
		close_descriptors();
	mutex_unlock(&writer_lock);
}

bool node_writer_active(void)
{
	bool result;

	mutex_lock(&writer_lock);
	result = active && owner_pid == getpid();
	mutex_unlock(&writer_lock);
	return result;
}

void node_writer_forked_child(void)
{
	/* The parent's node is not ours: close (never remove) what we inherited;
	 * closing the process file also stops keeping the parent "alive". Its
	 * directory stays open until the pools are the child's own: they are
	 * copied from the parent's files (node_pool_file_open_readable). */
	active = false;
	inherited_dir_fd = dir_fd;
	dir_fd = -1;
	close_descriptors();
	/* another thread of the parent may have held the lock at fork */
	mutex_init(&writer_lock, "area_malloc node writer");
	if (writer_options.fork_nodes)
		node_writer_start(&writer_options, &writer_layout);
}

/* ---- pool files ---- */

static void temporary_name(int fd, char *name, size_t size)
{
	snprintf(name, size, "%snew-%d", NODE_POOL_FILE_PREFIX, fd);
}

/* A pool file opened for one call (the kernel's fallocate needs it): by
 * name in dir (this process's node, or the parent's in a forked child). */
static int open_pool_file(int dir, area_id area, int flags)
{
	char name[NODE_POOL_FILE_NAME_MAX];

	if (dir < 0) {
		errno = EBADF;
		return -1;
	}
	node_pool_file_name(name, area);
	return openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC);
}

bool node_reserve_range(int fd, uint64_t offset, uint64_t length)
{
	int result;

	if (length == 0)
		return true;
	do
		result = fallocate(fd, 0, (off_t)offset, (off_t)length);
	while (result != 0 && errno == EINTR);
	return result == 0;
}

/* Reserves [from, to) of fd but the part in [hole_from, hole_to). */
static bool reserve_around(int fd, uint64_t from, uint64_t to, uint64_t hole_from, uint64_t hole_to)
{
	if (hole_from >= hole_to || hole_from >= to || hole_to <= from)
		return node_reserve_range(fd, from, to - from);
	return (hole_from <= from || node_reserve_range(fd, from, hole_from - from))
		&& (hole_to >= to || node_reserve_range(fd, hole_to, to - hole_to));
}

int node_pool_file_create(size_t area_bytes, size_t reserve_to, uint64_t hole_from,
	uint64_t hole_to, bool reserve_all)
{
	char name[32];
	int fd = -1, error = 0;

	mutex_lock(&writer_lock);
	if (!active || owner_pid != getpid()) {
		mutex_unlock(&writer_lock);
		return -1;
	}
	fd = openat(dir_fd, NODE_POOL_FILE_PREFIX "creating",
		O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		temporary_name(fd, name, sizeof(name));
		if (renameat(dir_fd, NODE_POOL_FILE_PREFIX "creating", dir_fd, name) != 0) {
			error = errno;
			unlinkat(dir_fd, NODE_POOL_FILE_PREFIX "creating", 0);
		}
	} else {
		error = errno;
	}
	if (fd >= 0 && error == 0) {
		if (!within_file_size_limit(area_bytes) || ftruncate(fd, (off_t)area_bytes) != 0
			|| !(reserve_all ? node_reserve_range(fd, 0, area_bytes)
					 : reserve_around(fd, 0, reserve_to, hole_from, hole_to))
			|| !node_reserve_range(fd, area_bytes - B_PAGE_SIZE, B_PAGE_SIZE))
			error = errno;
		if (error != 0)
			unlinkat(dir_fd, name, 0);
	}
	if (error != 0) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		warn_file_once("a pool file", error,
			"such pools (and the stack depot, when its "
			"file cannot be made) use a private area without a node");
	}
	mutex_unlock(&writer_lock);
	return fd;
}

void node_pool_file_publish(int fd, area_id area)
{
	char from[32], to[NODE_POOL_FILE_NAME_MAX];

	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid()) {
		temporary_name(fd, from, sizeof(from));
		node_pool_file_name(to, area);
		renameat(dir_fd, from, dir_fd, to);
	}
	mutex_unlock(&writer_lock);
	/* the mapping stays; a pool keeps no descriptor (node_writer.h) */
	close(fd);
}

void node_pool_file_discard(int fd)
{
	char name[32];

	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid()) {
		temporary_name(fd, name, sizeof(name));
		unlinkat(dir_fd, name, 0);
	}
	mutex_unlock(&writer_lock);
	close(fd);
}

void node_pool_file_remove(area_id area)
{
	char name[NODE_POOL_FILE_NAME_MAX];

	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid()) {
		node_pool_file_name(name, area);
		unlinkat(dir_fd, name, 0);
	}
	mutex_unlock(&writer_lock);
}

int node_pool_file_open_readable(area_id area, bool parents)
{
	return open_pool_file(parents ? inherited_dir_fd
				      : __atomic_load_n(&dir_fd, __ATOMIC_ACQUIRE),
		area, O_RDONLY);
}

void node_writer_fork_done(void)
{
	if (inherited_dir_fd >= 0)
		close(inherited_dir_fd);
	inherited_dir_fd = -1;
}

/* ---- the stack depot's file ---- */

int node_stacks_file_create(uint64_t bytes, uint64_t reserve_to)
{
	int fd = -1, error = 0;

	mutex_lock(&writer_lock);
	if (!active || owner_pid != getpid()) {
		mutex_unlock(&writer_lock);
		return -1;
	}
	fd = openat(dir_fd, NODE_STACKS_FILE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		0600);
	if (fd < 0) {
		error = errno;
	} else if (!within_file_size_limit(bytes) || ftruncate(fd, (off_t)bytes) != 0
		|| !node_reserve_range(fd, 0, reserve_to)) {
		error = errno;
		unlinkat(dir_fd, NODE_STACKS_FILE, 0);
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		warn_file_once("the stack depot's file", error,
			"the stack depot (so pooldump "
			"shows no stacks), and any pool whose file cannot be made, use a private area "
			"without a node");
	mutex_unlock(&writer_lock);
	return fd;
}

void node_stacks_file_remove(int fd)
{
	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid())
		unlinkat(dir_fd, NODE_STACKS_FILE, 0);
	mutex_unlock(&writer_lock);
	close(fd);
}

/*
 * Reserves [offset, offset + length) of a pool's file: fallocate through
 * the file, opened for the call (no descriptor is kept per pool), which
 * leaves the pages out of the process's resident set until they are used.
 * Without the file (no descriptor to spare, EMFILE or ENFILE, or a node
 * removed by hand) the pages are reserved through the mapping instead:
 * MADV_POPULATE_WRITE (Linux 5.14) allocates them and fails with an error
 * where a write would raise SIGBUS; they are then resident, but the
 * allocation is served as the release build's is. (An older kernel
 * refuses it: the allocation fails then, as on a full tmpfs.)
 */
bool node_reserve_pages(void *base, area_id area, uint64_t offset, uint64_t length)
{
	uint64_t start = offset & ~(uint64_t)(B_PAGE_SIZE - 1);
	uint64_t end = (offset + length + B_PAGE_SIZE - 1) & ~(uint64_t)(B_PAGE_SIZE - 1);
	int result, fd;

	if (length == 0)
		return true;
	fd = open_pool_file(__atomic_load_n(&dir_fd, __ATOMIC_ACQUIRE), area, O_RDWR);
	if (fd >= 0) {
		bool reserved = node_reserve_range(fd, start, end - start);
		close(fd);
		return reserved;
	}
	do
		result = madvise((char *)base + start, end - start, MADV_POPULATE_WRITE);
	while (result != 0 && errno == EINTR);
	return result == 0;
}

bool node_reserve(void *base, area_id area, uint64_t *reserved_end, uint64_t upto,
	uint64_t file_size)
{
	uint64_t step, target;

	if (upto <= *reserved_end)
		return true;
	if (upto > file_size)
		upto = file_size;
	step = *reserved_end / 8 > RESERVE_STEP ? *reserved_end / 8 : RESERVE_STEP;
	target = upto + step;
	target = (target + B_PAGE_SIZE - 1) & ~(uint64_t)(B_PAGE_SIZE - 1);
	if (target > file_size)
		target = file_size;
	if (!node_reserve_pages(base, area, *reserved_end, target - *reserved_end)) {
		/* the whole step may not fit, what is needed might */
		target = (upto + B_PAGE_SIZE - 1) & ~(uint64_t)(B_PAGE_SIZE - 1);
		if (target > file_size)
			target = file_size;
		if (!node_reserve_pages(base, area, *reserved_end, target - *reserved_end))
			return false;
	}
	*reserved_end = target;
	return true;
}

/* The reader is in another process and writes with pwrite: the words are
 * read atomically from the shared mapping, and never trusted beyond their
 * comparison (a hostile same-user reader can cost each call the budget,
 * which its user can do to its own process anyway). */
void node_writer_hold_still(struct node_quiet_window *quiet, uint32_t *served, uint32_t budget_us)
{
	uint32_t request = __atomic_load_n(&quiet->requested, __ATOMIC_ACQUIRE);

	*served = request;
	if (budget_us == 0)
		return;
	__atomic_store_n(&quiet->granted, request, __ATOMIC_RELEASE);
	bigtime_t deadline = system_time() + budget_us;
	/* yield, not sleep: a copy takes tens of microseconds, a sleep longer */
	while ((int32_t)(__atomic_load_n(&quiet->finished, __ATOMIC_ACQUIRE) - request) < 0
		&& system_time() < deadline)
		sched_yield();
}

void node_writer_set_mark(int64_t mark)
{
	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid())
		write_all(process_fd, &mark, sizeof(mark),
			offsetof(struct node_process_file, mark));
	mutex_unlock(&writer_lock);
}

/*
 * The image range the calling thread's last caller was found in, and the
 * generation of the table it was found in: a driver allocates from a few
 * call sites, so nearly every call hits it and skips the binary search. A
 * refresh writes a table with a new generation, which no cached range
 * matches. initial-exec: a module is dlopen()ed,
 * and the default model would call __tls_get_addr() on every allocation.
 */
static __thread struct {
	uint64_t generation;
	uintptr_t start, end;
} last_hit __attribute__((tls_model("initial-exec")));

static bool in_known_image(const struct image_table *table, uintptr_t pc)
{
	size_t found;

	if (last_hit.generation == table->generation && pc >= last_hit.start && pc < last_hit.end)
		return true;
	found = pc_range_index(table->ranges, table->count, pc);
	if (found == table->count)
		return false;
	last_hit.generation = table->generation;
	last_hit.start = table->ranges[found].start;
	last_hit.end = table->ranges[found].end;
	return true;
}

size_t pc_range_index(const struct pc_range *ranges, size_t count, uintptr_t pc)
{
	size_t low = 0, high = count;

	while (low < high) {
		size_t middle = (low + high) / 2;
		if (pc < ranges[middle].start)
			high = middle;
		else if (pc >= ranges[middle].end)
			low = middle + 1;
		else
			return middle;
	}
	return count;
}

void node_writer_note_caller(uintptr_t pc)
{
	const struct image_table *table = atomic_load_explicit(&known_images, memory_order_acquire);
	int64_t now;

	/* no node, no image table to keep current (and no clock to read) */
	if (pc == 0 || table == NULL || in_known_image(table, pc))
		return;
	/* at most once a second: code outside every image (JIT) must not
	 * rewrite the table on every allocation */
	now = system_time();
	if (now - atomic_load(&last_image_refresh) < 1000000)
		return;
	atomic_store(&last_image_refresh, now);
	mutex_lock(&writer_lock);
	if (active && owner_pid == getpid())
		write_images_locked();
	mutex_unlock(&writer_lock);
}
