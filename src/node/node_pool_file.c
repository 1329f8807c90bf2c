/*
 * node_pool_file.c - a pool file (NODE_POOL_FILE_PREFIX + area) and its
 * descriptor: opening it, finding the descriptor in its control page(s),
 * checking the descriptor against the file, and reading it alone (for
 * lists, without copying the pool).
 *
 * Invariants: descriptor_sound is the one check of everything a reader
 * relies on in a descriptor (magic, version, area, state, the area's size
 * against the file, every offset inside the control region), in unsigned
 * arithmetic that cannot wrap; nothing of a descriptor is used before it
 * passed. A descriptor is read consistently when seq was even and
 * unchanged around the read (the writer's seqlock, node_format.h).
 *
 * Locking: none; the pool's lock is never taken here.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/heap.h"
#include "node/node_reader_internal.h"

#define DESCRIPTOR_SCAN_BYTES (64 * 1024) /* the descriptor sits in the control page(s) */

int open_pool_file(struct node *node, int area, int flags, struct stat *status,
	struct node_error *error)
{
	char name[NODE_POOL_FILE_NAME_MAX];
	int fd;

	node_pool_file_name(name, area);
	fd = open_checked_file(node->dir_fd, name, flags, node->owner, status, error);
	if (fd < 0 && error->status == NODE_STATUS_NO_SUCH) {
		set_error(error, NODE_STATUS_NO_SUCH, "process %d has no pool %d", (int)node->pid,
			area);
	} else if (fd < 0) {
		char why[NODE_MESSAGE_MAX];
		memcpy(why, error->message, sizeof(why));
		set_error(error, error->status, "pool %d of process %d: %.*s", area, (int)node->pid,
			NODE_MESSAGE_MAX - 48, why);
	}
	return fd;
}

/*
 * Everything a reader relies on in a descriptor, against the file it came
 * from. Unsigned arithmetic only in forms that cannot wrap.
 */
bool descriptor_sound(const struct node_pool_descriptor *d, uint64_t file_bytes, int area,
	uint64_t found_at, char *why, size_t size)
{
	uint64_t descriptor_end, control_end;

	if (memcmp(d->magic, NODE_POOL_MAGIC, sizeof(d->magic)) != 0) {
		snprintf(why, size, "bad magic");
		return false;
	}
	if (d->version != NODE_FORMAT_VERSION || d->descriptor_bytes != sizeof(*d)) {
		snprintf(why, size,
			"format version %u with a %u-byte descriptor, this reader knows "
			"version %d (%zu bytes)",
			d->version, d->descriptor_bytes, NODE_FORMAT_VERSION, sizeof(*d));
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
		snprintf(why, size, "descriptor found at offset %" PRIu64 " says %" PRIu64,
			found_at, d->control_offset);
		return false;
	}
	if (d->area_size == 0 || d->area_size > file_bytes || d->area_size > SIZE_MAX / 2) {
		snprintf(why, size,
			"the file is %" PRIu64 " bytes but the area is %" PRIu64
			" (truncated or damaged)",
			file_bytes, d->area_size);
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
		snprintf(why, size,
			"heap range [%" PRIu64 ", +%" PRIu64 ") outside the %" PRIu64 "-byte area",
			d->heap_offset, d->heap_bytes, d->area_size);
		return false;
	}
	if (d->guard_offset != 0
		&& (d->guard_offset < descriptor_end || d->guard_offset >= d->heap_offset)) {
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
	if (d->log_offset != 0
		&& (d->log_offset % 8 != 0 || d->log_offset < descriptor_end
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
	size_t scan =
		file_bytes < DESCRIPTOR_SCAN_BYTES ? (size_t)file_bytes : DESCRIPTOR_SCAN_BYTES;
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

enum node_status locate_descriptor(struct node *node, int area, int fd, uint64_t file_bytes,
	uint64_t *offset, struct node_error *error)
{
	if (!find_descriptor(fd, file_bytes, offset)) {
		set_error(error, NODE_STATUS_DAMAGED,
			"pool %d of process %d: no pool descriptor in its first %d KiB "
			"(%" PRIu64 "-byte file: truncated or damaged)",
			area, (int)node->pid, DESCRIPTOR_SCAN_BYTES / 1024, file_bytes);
		return error->status;
	}
	return NODE_STATUS_OK;
}

bool read_seq(int fd, uint64_t control_offset, uint64_t *seq)
{
	return pread_full(fd, seq, sizeof(*seq),
		control_offset + offsetof(struct node_pool_descriptor, seq));
}

enum node_status node_pool_read_descriptor(struct node *node, int area,
	struct node_pool_descriptor *descriptor, struct node_guard_counts *guarded,
	bool *consistent, struct node_error *error)
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
		/* the guard table's counters between the same two reads of seq */
		if (!pread_full(fd, descriptor, sizeof(*descriptor), offset)
			|| (guarded != NULL
				&& !node_guard_counts_read(fd, descriptor->guard_table_offset,
					(uint64_t)status.st_size, guarded))
			|| !read_seq(fd, offset, &after)) {
			set_error(error, NODE_STATUS_DAMAGED,
				"pool %d: cannot read its descriptor: %s", area, read_failure());
			close(fd);
			return error->status;
		}
		*consistent = descriptor->seq % 2 == 0 && descriptor->seq == after;
		if (!node->alive)
			break;
	}
	close(fd);
	if (!descriptor_sound(descriptor, (uint64_t)status.st_size, area, offset, why,
		    sizeof(why))) {
		set_error(error, NODE_STATUS_DAMAGED, "pool %d of process %d is damaged: %s", area,
			(int)node->pid, why);
		return error->status;
	}
	terminate(descriptor->name, sizeof(descriptor->name));
	if (descriptor->creator.frame_count > AREA_MALLOC_MAX_FRAMES)
		descriptor->creator.frame_count = AREA_MALLOC_MAX_FRAMES;
	if (guarded != NULL && guarded->problem != NULL)
		node_warn(node, "pool %d: %s", area, guarded->problem);
	return NODE_STATUS_OK;
}
