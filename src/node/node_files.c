/*
 * node_files.c - the primitives every read of a node file goes through
 * (node_reader_internal.h): the checked open, reads that are whole or
 * fail, the reader's errors, and the pause between retries of a read that
 * met a change under way.
 *
 * Invariants: a file is opened without following a link and, before any
 * byte of it is read, checked to be a regular file of the node's owner
 * with one link and nothing for group or others. A file removed between
 * the directory listing and the open (no link left) is "no such file", as
 * if the name had been gone. File data is read with pread only, never
 * mapped, so a truncated file cannot raise SIGBUS.
 *
 * Locking: none.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/node_reader_internal.h"

void set_error(struct node_error *error, enum node_status status, const char *format, ...)
{
	va_list arguments;

	error->status = status;
	va_start(arguments, format);
	vsnprintf(error->message, sizeof(error->message), format, arguments);
	va_end(arguments);
}

void pause_before_retry(unsigned attempt)
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
bool pread_full(int fd, void *buffer, size_t bytes, uint64_t offset)
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

const char *read_failure(void)
{
	return errno == 0 ? "the file ended early" : strerror(errno);
}

/*
 * Opens name in dir_fd without following a link and checks it before use:
 * a regular file of owner, one link, nothing for group or others.
 */
int open_checked_file(int dir_fd, const char *name, int flags, uid_t owner, struct stat *status,
	struct node_error *error)
{
	int fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		if (errno == ENOENT)
			set_error(error, NODE_STATUS_NO_SUCH, "%s: no such file", name);
		else if (errno == ELOOP)
			set_error(error, NODE_STATUS_DAMAGED, "%s is a symbolic link: refused",
				name);
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
		set_error(error, NODE_STATUS_DAMAGED,
			"%s is open to other users (mode %04o): refused", name,
			(unsigned)(status->st_mode & 07777));
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

void terminate(char *text, size_t size)
{
	text[size - 1] = '\0';
}
