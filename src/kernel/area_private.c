/*
 * area_private.c - a file-backed area made private after fork(): the
 * child's copy of a debug pool must never write into its parent's pages
 * (area_internal.h).
 *
 * Invariants: the area keeps its base and size, so the registry (area.c)
 * is not changed; the copy replaces the shared mapping in one mremap(), so
 * the area never reads as anything but its contents, except in the last
 * resort that maps anonymous memory in place (a single-threaded child).
 *
 * Locking: the registry's lock only to read the area's place
 * (area_malloc_area_geometry); none around the copy.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/area_internal.h"

#define PRIVATE_MEMORY_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* Reads what the file holds into [into, into + size): holes stay as they are
 * (zero in fresh memory), and so does what cannot be read. Raw system calls:
 * the pool's memory may be poisoned for AddressSanitizer, whose pread()
 * would refuse to write there. */
static void read_file_data(int fd, char *into, size_t size)
{
	for (off_t data = lseek(fd, 0, SEEK_DATA); data >= 0 && (size_t)data < size;) {
		off_t hole = lseek(fd, data, SEEK_HOLE);
		size_t end = hole < 0 || (size_t)hole > size ? size : (size_t)hole;

		for (size_t offset = (size_t)data; offset < end;) {
			long got = syscall(SYS_pread64, fd, into + offset, end - offset,
				(off_t)offset);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			offset += (size_t)got;
		}
		data = lseek(fd, (off_t)end, SEEK_DATA);
	}
}

/* A private copy of the file, moved over the shared mapping by mremap():
 * the area never reads as anything but its contents. false (nothing
 * changed) when the copy or the move could not be made. */
static bool replace_by_copy(addr_t base, size_t size, int fd)
{
	void *copy = mmap(NULL, size, PROT_READ | PROT_WRITE, PRIVATE_MEMORY_FLAGS, -1, 0);

	if (copy == MAP_FAILED)
		return false;
	read_file_data(fd, copy, size);
	if (mremap(copy, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)base) == MAP_FAILED) {
		munmap(copy, size);
		return false;
	}
	return true;
}

/*
 * The file-backed area becomes private memory holding the file's contents,
 * through a copy when one can be made. When no second mapping can be made
 * (RLIMIT_AS, the map count), anonymous memory replaces the shared mapping
 * in place, which needs no more address space, and the file (still open) is
 * read back into it; the area reads as zeros in between, which only a
 * process with a single thread (a forked child) can afford. Once this
 * returns B_OK, this process never writes the shared pages again.
 */
status_t area_malloc_area_make_private(area_id id, int fd)
{
	addr_t base;
	size_t size;
	bool relock;

	if (!area_malloc_area_geometry(id, &base, &size, &relock))
		return B_BAD_VALUE;
	if (!replace_by_copy(base, size, fd)) {
		if (mmap((void *)base, size, PROT_READ | PROT_WRITE,
			    PRIVATE_MEMORY_FLAGS | MAP_FIXED, -1, 0)
			== MAP_FAILED)
			return area_malloc_status_from_errno(errno);
		read_file_data(fd, (char *)base, size);
	}
	if (relock)
		syscall(SYS_mlock, (void *)base, size);
	return B_OK;
}

/* A copy that no sanitizer checks: the module hides parts of its pools
 * from AddressSanitizer, and the copy must take them as they are. */
__attribute__((no_sanitize("address", "thread"), noinline)) static void copy_unchecked(char *into,
	const volatile char *from, size_t length)
{
	size_t i = 0;

	for (; i + sizeof(uint64_t) <= length; i += sizeof(uint64_t))
		*(uint64_t *)(into + i) = *(const volatile uint64_t *)(from + i);
	for (; i < length; i++)
		into[i] = from[i];
}

status_t area_malloc_area_make_private_from_mapping(area_id id, const size_t (*ranges)[2],
	size_t count)
{
	addr_t base;
	size_t size;
	bool relock;
	char *copy;

	if (!area_malloc_area_geometry(id, &base, &size, &relock))
		return B_BAD_VALUE;
	copy = mmap(NULL, size, PROT_READ | PROT_WRITE, PRIVATE_MEMORY_FLAGS, -1, 0);
	if (copy == MAP_FAILED)
		return B_NO_MEMORY;
	for (size_t i = 0; i < count; i++) {
		size_t start = ranges[i][0], end = ranges[i][1] < size ? ranges[i][1] : size;
		if (start < end)
			copy_unchecked(copy + start, (const char *)base + start, end - start);
	}
	if (mremap(copy, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)base) == MAP_FAILED) {
		munmap(copy, size);
		return B_NO_MEMORY;
	}
	if (relock)
		syscall(SYS_mlock, (void *)base, size);
	return B_OK;
}
