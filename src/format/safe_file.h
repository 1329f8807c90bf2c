/*
 * safe_file.h - opening files where another user may have a hand in the
 * path (area_malloc_debug(7), SECURITY): the reports the debug build appends
 * to (log_path), the files pooldump run creates (-o DIR, --junit, --json),
 * and the files either only reads (suppressions).
 *
 * The rules:
 *   - a file is created or appended to only inside a directory that is
 *     owned by the caller or root and that nobody else may write (no write
 *     bit for others, nor for a group other than the caller's), or that is
 *     sticky (as /tmp is): there, nobody else can plant a file or a link
 *     the caller would then write through;
 *   - its last component is never followed (O_NOFOLLOW), and what is opened
 *     must be a regular file of the caller's with one link: a planted file
 *     or hard link in a sticky directory is refused, not written;
 *   - a file that is replaced (an output of an earlier run) is created
 *     anew with O_EXCL after the caller's own stale file is removed;
 *   - a file that is only read must be a regular file (a symbolic link to
 *     one is fine) no larger than its reader's bound, opened without
 *     blocking (a FIFO or a device is refused, never waited on).
 * Each refusal fills why with one sentence naming the path and the reason.
 *
 * Locking: none; every call works on its own descriptors.
 */
#ifndef AREA_MALLOC_FORMAT_SAFE_FILE_H
#define AREA_MALLOC_FORMAT_SAFE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum safe_create_mode {
	SAFE_APPEND,  /* create, or append to the caller's own file */
	SAFE_REPLACE, /* create anew, removing the caller's own stale file */
};

/* Whether the open directory dir_fd (named path, for why) is one the
 * caller may create files in (the rules above). */
bool safe_directory(int dir_fd, const char *path, char *why, size_t why_size);

/* Opens name in the directory dir_fd (already found safe) for writing, as
 * mode says; -1 with why filled on refusal. dir_path names the directory
 * in why. */
int safe_create_at(int dir_fd, const char *dir_path, const char *name, enum safe_create_mode mode,
	mode_t permissions, char *why, size_t why_size);

/* The same for a path: its directory is opened and checked first. */
int safe_create(const char *path, enum safe_create_mode mode, mode_t permissions, char *why,
	size_t why_size);

/* Opens path for reading: a regular file of at most max_bytes; -1 with why
 * filled otherwise. The descriptor is blocking again when returned. */
int safe_open_regular(const char *path, off_t max_bytes, char *why, size_t why_size);

#endif /* AREA_MALLOC_FORMAT_SAFE_FILE_H */
