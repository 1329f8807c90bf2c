/*
 * node_fixture.c - fabricated debug nodes (see node_fixture.h).
 *
 * Layout of a fabricated pool, as the debug build lays out a real one:
 *   0            the fixture writer's pthread mutex (lock_offset); no reader takes it
 *   256          struct node_pool_descriptor (control_offset)
 *   next 64      struct pool_log (log_offset)
 *   next page    guard page (guard_offset)
 *   guard + 4096 the heap (heap_offset)
 * Failures abort the test (Check reports the signal): a fixture that cannot
 * be built is a broken test environment, not a finding.
 *
 * Locking: none.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/symbolize.h"
#include "node_fixture.h"
#include "support/debug_options.h"

#define PAGE 4096
#define CONTROL_OFFSET 256

static void die(const char *what)
{
	fprintf(stderr, "node fixture: %s: %s\n", what, strerror(errno));
	abort();
}

static void write_file(const char *path, const void *data, size_t bytes, size_t file_bytes,
	size_t page)
{
	const unsigned char *source = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)file_bytes) != 0)
		die(path);
	for (size_t at = 0; at < bytes; at += page) {
		size_t chunk = bytes - at < page ? bytes - at : page;
		bool zero = true;
		for (size_t i = 0; i < chunk && zero; i++)
			zero = source[at + i] == 0;
		if (!zero && pwrite(fd, source + at, chunk, (off_t)at) != (ssize_t)chunk)
			die(path);
	}
	close(fd);
}

void fixture_temp_dir(char *path, size_t size)
{
	const char *base = getenv("TMPDIR");

	snprintf(path, size, "%s/node-test-XXXXXX", base != NULL && base[0] ? base : "/tmp");
	if (mkdtemp(path) == NULL)
		die("mkdtemp");
}

void fixture_remove_tree(const char *path)
{
	struct stat status;
	DIR *dir;
	struct dirent *entry;

	if (lstat(path, &status) != 0)
		return;
	if (S_ISDIR(status.st_mode)) {
		chmod(path, 0700);
		dir = opendir(path);
		while (dir != NULL && (entry = readdir(dir)) != NULL) {
			char child[PATH_MAX];
			if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
				continue;
			snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
			fixture_remove_tree(child);
		}
		if (dir != NULL)
			closedir(dir);
		rmdir(path);
	} else {
		unlink(path);
	}
}

void fixture_driver_run_init(struct fixture_driver_run *run, const char *builddir,
	const char *program, const char *extra_options)
{
	memset(run, 0, sizeof(*run));
	fixture_temp_dir(run->base, sizeof(run->base));
	snprintf(run->node_dir, sizeof(run->node_dir), "%s/nodes", run->base);
	snprintf(run->program, sizeof(run->program), "%s/%s", builddir, program);
	snprintf(run->module_path, sizeof(run->module_path), "%s/modules/debug", builddir);
	snprintf(run->options, sizeof(run->options), "node_dir=%s%s%s", run->node_dir,
		extra_options != NULL ? ":" : "", extra_options != NULL ? extra_options : "");
}

void fixture_driver_run_environment(const struct fixture_driver_run *run)
{
	setenv("KERNEL_MODULE_PATH", run->module_path, 1);
	set_debug_options(run->options);
}

void fixture_node_init(struct fixture_node *node, const char *node_dir, pid_t pid,
	const char *command_line, unsigned stack_depth)
{
	memset(node, 0, sizeof(*node));
	snprintf(node->node_dir, sizeof(node->node_dir), "%s", node_dir);
	snprintf(node->path, sizeof(node->path), "%s/%d", node_dir, (int)pid);
	snprintf(node->command_line, sizeof(node->command_line), "%s", command_line);
	node->pid = pid;
	node->clock = 1000000;
	debug_layout_init(&node->layout, stack_depth);
	test_stacks_init(&node->stacks, 1 << 20, &node->layout);
	if (node->stacks.depot == NULL)
		die("calloc");
	if (mkdir(node->path, 0700) != 0 && errno != EEXIST)
		die(node->path);
}

void fixture_node_write_process(const struct fixture_node *node)
{
	size_t count = symbolizer_list_self_images(NULL, 0);
	size_t images_offset = (sizeof(struct node_process_file) + PAGE - 1) & ~(size_t)(PAGE - 1);
	size_t bytes = images_offset + count * sizeof(struct symbolizer_image_record);
	unsigned char *file = calloc(1, bytes);
	struct node_process_file *process = (struct node_process_file *)file;
	char path[PATH_MAX + 16];

	if (file == NULL)
		die("calloc");
	memcpy(process->magic, NODE_PROCESS_MAGIC, sizeof(process->magic));
	process->version = NODE_FORMAT_VERSION;
	process->header_bytes = sizeof(*process);
	process->pid = node->pid;
	process->uid = (uint32_t)geteuid();
	process->start_time = 1700000000000000;
	process->images_generation = 2;
	process->mark = node->mark;
	snprintf(process->command_line, sizeof(process->command_line), "%s", node->command_line);
	snprintf(process->options, sizeof(process->options), "stack_depth=%u",
		node->layout.frame_count);
	process->block_header_size = node->layout.header_size;
	process->block_front_size = node->layout.front_size;
	process->block_frame_count = node->layout.frame_count;
	process->block_key = node->layout.key;
	process->image_record_bytes = sizeof(struct symbolizer_image_record);
	process->images_offset = images_offset;
	process->images_capacity = count;
	process->image_count =
		(uint32_t)symbolizer_list_self_images((struct symbolizer_image_record *)(file
							      + images_offset),
			count);
	snprintf(path, sizeof(path), "%s/%s", node->path, NODE_PROCESS_FILE);
	write_file(path, file, bytes, bytes, bytes);
	free(file);
}

void fixture_node_write_stacks(const struct fixture_node *node)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", node->path, NODE_STACKS_FILE);
	write_file(path, node->stacks.depot, node->stacks.bytes, node->stacks.bytes, PAGE);
}

void fixture_node_destroy(struct fixture_node *node)
{
	test_stacks_free(&node->stacks);
	node->layout.stacks = NULL;
}

void fixture_pool_init(struct fixture_pool *pool, struct fixture_node *node, int area,
	size_t area_size, unsigned log_capacity, const char *name)
{
	size_t log_offset =
		(CONTROL_OFFSET + sizeof(struct node_pool_descriptor) + 63) & ~(size_t)63;
	size_t guard_offset =
		(log_offset + pool_log_bytes(log_capacity) + PAGE - 1) & ~(size_t)(PAGE - 1);
	struct node_pool_descriptor *d;
	pthread_mutexattr_t attributes;

	memset(pool, 0, sizeof(*pool));
	pool->heap_offset = guard_offset + PAGE;
	pool->node = node;
	pool->area = area;
	pool->area_size = area_size;
	pool->region = mmap(NULL, area_size, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool->region == MAP_FAILED)
		die("mmap");
	pthread_mutexattr_init(&attributes);
	pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init((pthread_mutex_t *)pool->region, &attributes);
	pthread_mutexattr_destroy(&attributes);

	d = pool->descriptor = (struct node_pool_descriptor *)(pool->region + CONTROL_OFFSET);
	memcpy(d->magic, NODE_POOL_MAGIC, sizeof(d->magic));
	d->version = NODE_FORMAT_VERSION;
	d->descriptor_bytes = sizeof(*d);
	d->seq = 2;
	d->area = area;
	d->state = NODE_POOL_LIVE;
	d->pool_id = 0x1000 + (uint64_t)area;
	d->base_address = (uint64_t)(uintptr_t)pool->region;
	d->area_size = area_size;
	d->requested_size = area_size / 2;
	d->control_offset = CONTROL_OFFSET;
	d->lock_offset = 0;
	d->guard_offset = guard_offset;
	d->heap_offset = pool->heap_offset;
	d->heap_bytes = area_size - pool->heap_offset;
	d->log_offset = log_offset;
	d->reserved_bytes = area_size;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->creator.frame_count = 1;
	d->creator.frames[0] = (addr_t)(uintptr_t)&fixture_pool_init + 4;
	d->creator.team = node->pid;

	pool->log = (struct pool_log *)(pool->region + log_offset);
	pool_log_init(pool->log, log_capacity);
	pool->heap = heap_init(pool->region + pool->heap_offset, d->heap_bytes);
	if (pool->heap == NULL) {
		errno = EINVAL;
		die("heap_init");
	}
}

void *fixture_alloc(struct fixture_pool *pool, size_t size, uintptr_t caller, uint32_t thread)
{
	const struct debug_layout *layout = &pool->node->layout;
	struct node_pool_descriptor *d = pool->descriptor;
	struct debug_block_header *header;
	area_malloc_owner owner;
	size_t usable;

	header = heap_alloc(pool->heap, debug_block_chunk_bytes(layout, size));
	if (header == NULL)
		return NULL;
	usable = heap_usable_size(pool->heap, header);
	memset(&owner, 0, sizeof(owner));
	owner.thread = (thread_id)thread;
	owner.team = pool->node->pid;
	owner.sequence = pool->next_sequence++;
	owner.time = pool->node->clock++;
	owner.frame_count = layout->frame_count;
	for (uint32_t i = 0; i < layout->frame_count; i++)
		owner.frames[i] = caller + i;
	debug_block_init(layout, header, usable, size, &owner, SIZE_MAX);
	d->used_bytes += size;
	if (d->used_bytes > d->peak_bytes)
		d->peak_bytes = d->used_bytes;
	d->live_blocks++;
	d->allocations++;
	d->seq += 2;
	pool_log_append(pool->log, pool->log->capacity, LOG_MALLOC,
		debug_block_user(layout, header), size, caller, owner.time, owner.sequence, thread);
	return debug_block_user(layout, header);
}

void fixture_free(struct fixture_pool *pool, void *user, uintptr_t caller, uint32_t thread)
{
	const struct debug_layout *layout = &pool->node->layout;
	struct node_pool_descriptor *d = pool->descriptor;
	struct debug_block_header *header = debug_block_from_user(layout, user);
	size_t usable = heap_usable_size(pool->heap, header);
	area_malloc_owner freed_by;

	memset(&freed_by, 0, sizeof(freed_by));
	freed_by.thread = (thread_id)thread;
	freed_by.team = pool->node->pid;
	freed_by.sequence = pool->next_sequence++;
	freed_by.time = pool->node->clock++;
	freed_by.frame_count = 1;
	freed_by.frames[0] = caller;
	d->used_bytes -= header->size;
	d->live_blocks--;
	d->frees++;
	d->quarantined_blocks++;
	d->quarantined_bytes += usable + HEAP_BLOCK_OVERHEAD;
	d->seq += 2;
	pool_log_append(pool->log, pool->log->capacity, LOG_FREE, user, header->size, caller,
		freed_by.time, freed_by.sequence, thread);
	debug_block_quarantine(layout, header, usable, &freed_by);
}

void fixture_release(struct fixture_pool *pool, void *user)
{
	const struct debug_layout *layout = &pool->node->layout;
	struct debug_block_header *header = debug_block_from_user(layout, user);
	size_t usable = heap_usable_size(pool->heap, header);
	struct node_pool_descriptor *d = pool->descriptor;

	d->quarantined_blocks--;
	d->quarantined_bytes -= usable + HEAP_BLOCK_OVERHEAD;
	d->seq += 2;
	pool_log_append(pool->log, pool->log->capacity, LOG_QUARANTINE_EXIT, user, header->size, 0,
		pool->node->clock, pool->next_sequence, 0);
	heap_free(pool->heap, header);
}

void fixture_pool_path(const struct fixture_pool *pool, char *path, size_t size)
{
	snprintf(path, size, "%s/%s%d", pool->node->path, NODE_POOL_FILE_PREFIX, pool->area);
}

void fixture_pool_write(const struct fixture_pool *pool)
{
	char path[PATH_MAX + 32];

	fixture_pool_path(pool, path, sizeof(path));
	write_file(path, pool->region, pool->area_size, pool->area_size, PAGE);
	fixture_node_write_stacks(pool->node);
}

void fixture_pool_destroy(struct fixture_pool *pool)
{
	if (pool->region != NULL && pool->region != MAP_FAILED)
		munmap(pool->region, pool->area_size);
	pool->region = NULL;
}

size_t fixture_offset_of(const struct fixture_pool *pool, const void *address)
{
	return (size_t)((const unsigned char *)address - pool->region);
}
