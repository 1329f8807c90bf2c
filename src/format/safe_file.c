/*
 * safe_file.c - opening files where another user may have a hand in the
 * path: the rules are safe_file.h's.
 *
 * Why these checks and not others: a directory that only the caller (or
 * root) can write cannot hold anything the caller did not put there, so
 * O_NOFOLLOW on the last component is all it takes; a sticky directory
 * (/tmp) lets others create entries but not replace or remove the caller's,
 * so a name there may be another user's file, symbolic link or hard link to
 * a file of the caller's, and what is opened is checked after the open
 * (a regular file, the caller's, one link). Components above the directory
 * are followed: the caller named them, and paths such as /tmp -> /private/tmp
 * are common.
 *
 * Locking: none.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/safe_file.h"

bool safe_directory(int dir_fd, const char *path, char *why, size_t why_size)
{
	struct stat status;

	if (fstat(dir_fd, &status) != 0) {
		snprintf(why, why_size, "cannot examine directory %s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(status.st_mode)) {
		snprintf(why, why_size, "%s is not a directory", path);
		return false;
	}
	if (status.st_mode & S_ISVTX)
		return true; /* others may create entries, not touch the caller's */
	if (status.st_uid != geteuid() && status.st_uid != 0) {
		snprintf(why, why_size,
			"directory %s belongs to user %u, not to you or root: files are not "
			"created there",
			path, (unsigned)status.st_uid);
		return false;
	}
	if ((status.st_mode & S_IWOTH)
		|| ((status.st_mode & S_IWGRP) && status.st_gid != getegid())) {
		snprintf(why, why_size,
			"directory %s may be written by other users and is not sticky: files are "
			"not created there",
			path);
		return false;
	}
	return true;
}

/* What was opened is a regular file of the caller's with a single link. */
static bool own_regular_file(int fd, const char *dir_path, const char *name, char *why,
	size_t why_size)
{
	struct stat status;

	if (fstat(fd, &status) != 0) {
		snprintf(why, why_size, "cannot examine %s/%s: %s", dir_path, name,
			strerror(errno));
		return false;
	}
	if (!S_ISREG(status.st_mode) || status.st_uid != geteuid() || status.st_nlink != 1) {
		snprintf(why, why_size,
			"%s/%s is not a regular file of yours with a single link: not written",
			dir_path, name);
		return false;
	}
	return true;
}

/* The caller's own stale file at name, removed so O_EXCL can create it anew;
 * anything else there is refused. */
static bool remove_own_stale(int dir_fd, const char *dir_path, const char *name, char *why,
	size_t why_size)
{
	struct stat status;

	if (fstatat(dir_fd, name, &status, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT;
	if (!S_ISREG(status.st_mode) || status.st_uid != geteuid()) {
		snprintf(why, why_size,
			"%s/%s exists and is not a regular file of yours (%s): not replaced",
			dir_path, name,
			S_ISLNK(status.st_mode) ? "a symbolic link"
						: "another user's or not a file");
		return false;
	}
	if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT) {
		snprintf(why, why_size, "cannot replace %s/%s: %s", dir_path, name,
			strerror(errno));
		return false;
	}
	return true;
}

int safe_create_at(int dir_fd, const char *dir_path, const char *name, enum safe_create_mode mode,
	mode_t permissions, char *why, size_t why_size)
{
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd;

	if (name[0] == '\0' || strchr(name, '/') != NULL) {
		snprintf(why, why_size, "'%s' is not a file name", name);
		return -1;
	}
	if (mode == SAFE_REPLACE) {
		if (!remove_own_stale(dir_fd, dir_path, name, why, why_size))
			return -1;
		flags |= O_EXCL;
	} else {
		flags |= O_APPEND;
	}
	fd = openat(dir_fd, name, flags, permissions);
	if (fd < 0) {
		snprintf(why, why_size, "cannot create %s/%s: %s%s", dir_path, name,
			strerror(errno), errno == ELOOP ? " (a symbolic link: not followed)" : "");
		return -1;
	}
	if (!own_regular_file(fd, dir_path, name, why, why_size)) {
		close(fd);
		return -1;
	}
	/* blocking again: a regular file never blocks, and callers write in full */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int safe_create(const char *path, enum safe_create_mode mode, mode_t permissions, char *why,
	size_t why_size)
{
	char dir_path[PATH_MAX];
	const char *slash = strrchr(path, '/'), *name;
	int dir_fd, fd;

	if (slash == NULL) {
		snprintf(dir_path, sizeof(dir_path), ".");
		name = path;
	} else {
		size_t length = slash == path ? 1 : (size_t)(slash - path);
		if (length >= sizeof(dir_path)) {
			snprintf(why, why_size, "path too long: %s", path);
			return -1;
		}
		memcpy(dir_path, path, length);
		dir_path[length] = '\0';
		name = slash + 1;
	}
	dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		snprintf(why, why_size, "cannot open directory %s: %s", dir_path, strerror(errno));
		return -1;
	}
	fd = safe_directory(dir_fd, dir_path, why, why_size)
		? safe_create_at(dir_fd, dir_path, name, mode, permissions, why, why_size)
		: -1;
	close(dir_fd);
	return fd;
}

int safe_open_regular(const char *path, off_t max_bytes, char *why, size_t why_size)
{
	struct stat status;
	int fd;

	/* looked at before it is opened: opening a device may do something */
	if (stat(path, &status) != 0) {
		snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(status.st_mode)) {
		snprintf(why, why_size, "%s is not a regular file", path);
		return -1;
	}
	/* and what was opened is checked again: the name may have changed */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
		snprintf(why, why_size, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (status.st_size > max_bytes) {
		snprintf(why, why_size, "%s is larger than %lld bytes", path, (long long)max_bytes);
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}
