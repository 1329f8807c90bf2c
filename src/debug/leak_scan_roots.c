/*
 * leak_scan_roots.c - the roots of an in-process scan: the writable
 * PT_LOAD segments of every loaded image (data and bss, dl_iterate_phdr),
 * then every readable and writable mapping of /proc/self/maps outside the
 * holes (the pools' areas, whose blocks are scanned only when reached; the
 * scan's own memory; the segments already scanned). In a mapping that holds
 * a stack floor (a stopped thread's stack pointer less the red zone, the
 * scanning thread's entry frame) only the bytes from the floor up are
 * roots: what lies below is dead frames.
 *
 * Only populated pages are read (mincore): a reservation of terabytes
 * (a sanitizer's shadow, a runtime's heap reserve) costs nothing and is
 * never faulted in, and a file mapping's pages past its end (SIGBUS) are
 * never resident. Mappings over ROOTS_MAX_MAPPING are taken for such
 * reservations and skipped whole; with AddressSanitizer its shadow is a
 * hole.
 *
 * Invariants: holes[] is sorted by start. /proc/self/maps is read with
 * open/read into text (preallocated), never stdio: the other threads are
 * stopped and may hold stdio's or malloc's locks.
 *
 * Locking: see leak_scan_internal.h; dl_iterate_phdr takes the loader's
 * (recursive) lock, which the scan already holds.
 */
#include "config.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "debug/leak_scan_internal.h"
#include "kernel/sanitizers.h"

/* A writable mapping larger than this is a reservation, not data. */
#define ROOTS_MAX_MAPPING ((uintptr_t)1 << 40)

void roots_add_hole(struct scan_roots *roots, uintptr_t start, uintptr_t end)
{
	size_t at = roots->hole_count;

	if (start >= end || roots->hole_count == roots->hole_capacity)
		return;
	while (at > 0 && roots->holes[at - 1].start > start) {
		roots->holes[at] = roots->holes[at - 1];
		at--;
	}
	roots->holes[at] = (struct scan_range){ start, end };
	roots->hole_count++;
}

/* [start, end) as far as its pages are resident. */
static void scan_resident(struct scan_roots *roots, struct scan_engine *engine, uintptr_t start,
	uintptr_t end)
{
	const uintptr_t page = (uintptr_t)getpagesize();
	uintptr_t at = start & ~(page - 1);

	while (at < end) {
		size_t pages = (end - at + page - 1) / page;
		if (pages > roots->residency_pages)
			pages = roots->residency_pages;
		if (mincore((void *)at, pages * page, roots->residency) == 0)
			scan_engine_root_pages(engine, start, end, at, page, roots->residency,
				pages);
		at += pages * page;
	}
}

/* [start, end) less the holes. */
static void scan_outside_holes(struct scan_roots *roots, struct scan_engine *engine,
	uintptr_t start, uintptr_t end)
{
	uintptr_t cursor = start;

	for (size_t i = 0; i < roots->hole_count && cursor < end; i++) {
		const struct scan_range *hole = &roots->holes[i];
		if (hole->end <= cursor)
			continue;
		if (hole->start >= end)
			break;
		if (hole->start > cursor)
			scan_resident(roots, engine, cursor, hole->start);
		cursor = hole->end;
	}
	if (cursor < end)
		scan_resident(roots, engine, cursor, end);
}

struct image_walk {
	struct scan_roots *roots;
	struct scan_engine *engine;
};

static int scan_image(struct dl_phdr_info *info, size_t size, void *context)
{
	struct image_walk *walk = context;

	(void)size;
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *header = &info->dlpi_phdr[i];
		uintptr_t start, end;
		if (header->p_type != PT_LOAD || !(header->p_flags & PF_W) || header->p_memsz == 0)
			continue;
		start = (uintptr_t)info->dlpi_addr + header->p_vaddr;
		end = start + header->p_memsz;
		scan_outside_holes(walk->roots, walk->engine, start, end);
		/* the mappings pass must not read it twice */
		roots_add_hole(walk->roots, start, end);
	}
	return 0;
}

void roots_scan_images(struct scan_roots *roots, struct scan_engine *engine)
{
	struct image_walk walk = { roots, engine };

	dl_iterate_phdr(scan_image, &walk);
}

static const char *parse_hex(const char *text, const char *end, uintptr_t *value)
{
	uintptr_t v = 0;

	for (; text < end; text++) {
		char c = *text;
		if (c >= '0' && c <= '9')
			v = v * 16 + (uintptr_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uintptr_t)(c - 'a' + 10);
		else
			break;
	}
	*value = v;
	return text;
}

/* One line of /proc/self/maps: "START-END PERMS OFFSET DEV INODE [PATH]". */
static void scan_mapping_line(struct scan_roots *roots, struct scan_engine *engine,
	const char *line, const char *end)
{
	uintptr_t start, stop, floor = UINTPTR_MAX;
	const char *at = parse_hex(line, end, &start);

	if (at >= end || *at != '-')
		return;
	at = parse_hex(at + 1, end, &stop);
	if (end - at < 3 || at[0] != ' ' || at[1] != 'r' || at[2] != 'w')
		return;
	if (stop <= start || stop - start > ROOTS_MAX_MAPPING)
		return;
	for (size_t i = 0; i < roots->floor_count; i++)
		if (roots->floors[i] >= start && roots->floors[i] < stop
			&& roots->floors[i] < floor)
			floor = roots->floors[i];
	if (floor != UINTPTR_MAX)
		start = floor;
	roots->mappings_scanned++;
	scan_outside_holes(roots, engine, start, stop);
}

void roots_scan_mappings(struct scan_roots *roots, struct scan_engine *engine)
{
	size_t held = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

#if defined(AREA_MALLOC_BUILT_WITH_ASAN) && defined(__x86_64__)
	/* AddressSanitizer's shadow (its default x86-64 mapping) */
	roots_add_hole(roots, 0x7fff8000, 0x10007fff8000);
#endif
	if (fd < 0) {
		roots->maps_unreadable = true;
		return;
	}
	for (;;) {
		ssize_t got = read(fd, roots->text + held, roots->text_size - held);
		char *line = roots->text, *newline;
		if (got <= 0)
			break;
		held += (size_t)got;
		while ((newline = memchr(line, '\n', held - (size_t)(line - roots->text)))
			!= NULL) {
			scan_mapping_line(roots, engine, line, newline);
			line = newline + 1;
		}
		held -= (size_t)(line - roots->text);
		memmove(roots->text, line, held);
		if (held == roots->text_size)
			held = 0; /* a line longer than the buffer: dropped */
	}
	if (held > 0)
		scan_mapping_line(roots, engine, roots->text, roots->text + held);
	close(fd);
}
