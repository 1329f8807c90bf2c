/*
 * test_area.c - Check suite for the area API over mmap (src/kernel/area.c).
 *
 * Every property is checked against what Linux reports, not against the
 * registry's own word: mincore for residency, /proc/self/smaps for locking,
 * /proc/self/maps for protections, raw mmap for occupied ranges.
 *
 * Locking: the thread TCase runs 4 threads against the registry; the other
 * tests are single-threaded. The mlock-refused fallback runs in a forked
 * child that drops CAP_IPC_LOCK and RLIMIT_MEMLOCK, so the test process
 * keeps its privileges.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/valgrind.h>
#endif

#include "kernel/area_internal.h"
#include "support/alarm.h"
#include "support/check_main.h"
#include "support/scale.h"

#define PAGE B_PAGE_SIZE
#define FOUR_GIB ((uintptr_t)1 << 32)
#define EIGHT_GIB ((size_t)8 << 30)
#define CAP_IPC_LOCK_BIT 14

/* --- What Linux says about a range -------------------------------------- */

static size_t resident_pages(const void *base, size_t size)
{
	size_t count = size / PAGE, resident = 0;
	unsigned char *vector = malloc(count);

	ck_assert_ptr_nonnull(vector);
	ck_assert_int_eq(mincore((void *)base, size, vector), 0);
	for (size_t i = 0; i < count; i++)
		resident += vector[i] & 1;
	free(vector);
	return resident;
}

/* Whether any byte of [base, base + size) is mapped (mincore fails with
 * ENOMEM on unmapped pages). */
static bool page_is_mapped(const void *address)
{
	unsigned char vector;

	return mincore((void *)((uintptr_t)address & ~(uintptr_t)(PAGE - 1)), PAGE, &vector) == 0;
}

struct vma_facts {
	bool found;
	char perms[5];
	unsigned long locked_kib;
	bool flag_locked;        /* VmFlags "lo" */
	bool flag_lock_on_fault; /* VmFlags "lf" */
	bool flag_no_reserve;    /* VmFlags "nr": no commit charge */
};

/* The smaps facts of the mapping that contains address. */
static struct vma_facts vma_facts_for(const void *address)
{
	struct vma_facts facts = { 0 };
	FILE *smaps = fopen("/proc/self/smaps", "re");
	char line[512];
	bool inside = false;

	ck_assert_ptr_nonnull(smaps);
	while (fgets(line, sizeof(line), smaps) != NULL) {
		unsigned long long start, end;
		char perms[5];

		if (sscanf(line, "%llx-%llx %4s", &start, &end, perms) == 3) {
			if (inside)
				break;
			inside = (uintptr_t)address >= start && (uintptr_t)address < end;
			if (inside) {
				facts.found = true;
				memcpy(facts.perms, perms, sizeof(perms));
			}
			continue;
		}
		if (!inside)
			continue;
		sscanf(line, "Locked: %lu kB", &facts.locked_kib);
		if (strncmp(line, "VmFlags:", 8) == 0) {
			facts.flag_locked = strstr(line, " lo") != NULL;
			facts.flag_lock_on_fault = strstr(line, " lf") != NULL;
			facts.flag_no_reserve = strstr(line, " nr") != NULL;
		}
	}
	fclose(smaps);
	return facts;
}

/* Bytes of anonymous PROT_NONE mappings: where a leftover reservation would
 * show. Read twice so that stdio's own first allocation is not counted. */
static size_t inaccessible_anonymous_bytes(void)
{
	size_t total = 0;

	for (int pass = 0; pass < 2; pass++) {
		FILE *maps = fopen("/proc/self/maps", "re");
		char line[512];

		ck_assert_ptr_nonnull(maps);
		total = 0;
		while (fgets(line, sizeof(line), maps) != NULL) {
			unsigned long long start, end, offset, inode;
			char perms[5], device[16];
			int path_at = 0;

			if (sscanf(line, "%llx-%llx %4s %llx %15s %llu %n", &start, &end, perms,
				    &offset, device, &inode, &path_at)
				< 6)
				continue;
			if (strcmp(perms, "---p") == 0 && inode == 0 && line[path_at] == '\0')
				total += end - start;
		}
		fclose(maps);
	}
	return total;
}

/* mlock() as the kernel does it: AddressSanitizer's mlock() is a no-op. */
static int raw_mlock(const void *address, size_t size)
{
	return (int)syscall(SYS_mlock, address, size);
}

static bool pages_locked(area_id area)
{
	bool locked = false;

	ck_assert_int_eq(area_malloc_area_pages_locked(area, &locked), B_OK);
	return locked;
}

/* Whether this process may lock size bytes: CAP_IPC_LOCK, or a high enough
 * RLIMIT_MEMLOCK. Probed by doing it, as create_area will. */
static bool can_lock(size_t size)
{
	void *probe = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool locked;

	ck_assert(probe != MAP_FAILED);
	locked = raw_mlock(probe, size) == 0;
	munmap(probe, size);
	return locked;
}

static unsigned long long mem_available_kib(void)
{
	FILE *meminfo = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kib = 0;

	ck_assert_ptr_nonnull(meminfo);
	while (fgets(line, sizeof(line), meminfo) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(meminfo);
	ck_assert_uint_gt(kib, 0);
	return kib;
}

/* A page-aligned range of size bytes that nothing maps right now. */
static void *free_range(size_t size)
{
	void *range =
		mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert(range != MAP_FAILED);
	ck_assert_int_eq(munmap(range, size), 0);
	return range;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

static area_id create_checked(const char *name, void **address, uint32 spec, size_t size,
	uint32 lock, uint32 protection)
{
	area_id area = create_area(name, address, spec, size, lock, protection);

	ck_assert_msg(area > 0, "create_area(%s, spec %u, size %zu, lock %u) = %#x", name, spec,
		size, lock, (unsigned)area);
	ck_assert_int_eq((uintptr_t)*address % PAGE, 0);
	return area;
}

static void fill_and_check(void *base, size_t size, unsigned char value)
{
	unsigned char *bytes = base;

	memset(bytes, value, size);
	ck_assert_uint_eq(bytes[0], value);
	ck_assert_uint_eq(bytes[size - 1], value);
}

/* --- Validation ------------------------------------------------------------ */

START_TEST(test_create_rejects_bad_arguments)
{
	void *address = (void *)0x1234000;

	ck_assert_int_eq(create_area(NULL, &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", NULL, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_ANY_ADDRESS, 0, B_NO_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_ANY_ADDRESS, 100, B_NO_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_ANY_ADDRESS, PAGE + 1, B_NO_LOCK,
				 B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_RANDOMIZED_BASE_ADDRESS + 1, PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, UINT32_MAX, PAGE, B_NO_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_CLONE_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_ANY_ADDRESS, PAGE, B_32_BIT_CONTIGUOUS + 1,
				 B_READ_AREA),
		B_BAD_VALUE);
	ck_assert_int_eq(create_area("x", &address, B_ANY_ADDRESS, PAGE, UINT32_MAX, B_READ_AREA),
		B_BAD_VALUE);
	/* A failed call leaves *startAddress alone. */
	ck_assert_ptr_eq(address, (void *)0x1234000);
}
END_TEST

START_TEST(test_create_rejects_unaligned_start)
{
	static const uint32 specs[] = { B_EXACT_ADDRESS, B_BASE_ADDRESS,
		B_RANDOMIZED_BASE_ADDRESS };

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		void *address = (char *)free_range(2 * PAGE) + 1;

		ck_assert_int_eq(create_area("unaligned", &address, specs[i], PAGE, B_NO_LOCK,
					 B_READ_AREA),
			B_BAD_VALUE);
	}
}
END_TEST

START_TEST(test_create_rejects_impossible_sizes)
{
	static const size_t sizes[] = {
		SIZE_MAX & ~(size_t)(PAGE - 1),
		(SIZE_MAX / 2 + 1),
		(size_t)1 << 48,
	};
	static const uint32 specs[] = { B_ANY_ADDRESS, B_ANY_KERNEL_BLOCK_ADDRESS, B_BASE_ADDRESS,
		B_EXACT_ADDRESS };
	static const uint32 locks[] = { B_NO_LOCK, B_LAZY_LOCK, B_FULL_LOCK, B_LOMEM };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t a = 0; a < sizeof(specs) / sizeof(specs[0]); a++)
			for (size_t l = 0; l < sizeof(locks) / sizeof(locks[0]); l++) {
				void *address = (void *)(uintptr_t)0x10000000;

				ck_assert_int_eq(create_area("huge", &address, specs[a], sizes[s],
							 locks[l], B_READ_AREA | B_WRITE_AREA),
					B_NO_MEMORY);
			}
}
END_TEST

START_TEST(test_locked_area_larger_than_memory_is_refused)
{
	size_t size = (size_t)(mem_available_kib() * 2 * 1024) & ~(size_t)(PAGE - 1);
	static const uint32 locks[] = { B_FULL_LOCK, B_CONTIGUOUS, B_LOMEM, B_32_BIT_FULL_LOCK,
		B_32_BIT_CONTIGUOUS };

	for (size_t i = 0; i < sizeof(locks) / sizeof(locks[0]); i++) {
		void *address = NULL;

		ck_assert_int_eq(create_area("too big", &address, B_ANY_ADDRESS, size, locks[i],
					 B_READ_AREA | B_WRITE_AREA),
			B_NO_MEMORY);
	}
}
END_TEST

START_TEST(test_exact_address_outside_user_space)
{
	void *address = NULL;

	area_id area;

	/* Page 0 is below vm.mmap_min_addr; no area starts in the first 64 KiB. */
	ck_assert_int_eq(create_area("zero", &address, B_EXACT_ADDRESS, PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_BAD_ADDRESS);
	address = (void *)0x1000;
	ck_assert_int_eq(create_area("low", &address, B_EXACT_ADDRESS, PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_BAD_ADDRESS);
	address = NULL;
	area = create_checked("from zero", &address, B_BASE_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	ck_assert_uint_ge((uintptr_t)address, 0x10000);
	ck_assert_int_eq(delete_area(area), B_OK);
	/* A range that wraps around the end of the address space. */
	address = (void *)(UINTPTR_MAX & ~(uintptr_t)(PAGE - 1));
	ck_assert_int_eq(create_area("wrap", &address, B_EXACT_ADDRESS, 2 * PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_BAD_VALUE);
	/* Kernel space. */
	address = (void *)(uintptr_t)0xffff800000000000ULL;
	ck_assert_int_eq(create_area("kernel", &address, B_EXACT_ADDRESS, PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_NO_MEMORY);
	/* No free range at or above the top of user space. */
	address = (void *)(uintptr_t)0xffff800000000000ULL;
	ck_assert_int_eq(create_area("base", &address, B_BASE_ADDRESS, PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_NO_MEMORY);
}
END_TEST

START_TEST(test_bad_ids_and_lookups)
{
	area_info info;
	ssize_t cookie = 0;
	void *address;
	area_id area;
	bool locked;

	ck_assert_int_eq(delete_area(0), B_BAD_VALUE);
	ck_assert_int_eq(delete_area(-1), B_BAD_VALUE);
	ck_assert_int_eq(delete_area(INT32_MAX), B_BAD_VALUE);
	area = create_checked("deleted twice", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK,
		B_READ_AREA);
	ck_assert_int_eq(delete_area(area), B_OK);
	ck_assert_int_eq(delete_area(area), B_BAD_VALUE);
	ck_assert_int_eq(get_area_info(area, &info), B_BAD_VALUE);
	ck_assert_int_eq(area_malloc_area_pages_locked(area, &locked), B_BAD_VALUE);
	ck_assert_int_eq(area_for(address), B_ERROR);

	ck_assert_int_eq(area_for(NULL), B_ERROR);
	ck_assert_int_eq(area_for(&info), B_ERROR);
	ck_assert_int_eq(find_area(NULL), B_BAD_VALUE);
	ck_assert_int_eq(find_area("no area has this name"), B_NAME_NOT_FOUND);

	area = create_checked("info", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	ck_assert_int_eq(_get_area_info(area, NULL, sizeof(area_info)), B_BAD_VALUE);
	ck_assert_int_eq(_get_area_info(area, &info, sizeof(area_info) - 1), B_BAD_VALUE);
	ck_assert_int_eq(_get_area_info(area, &info, sizeof(area_info) + 8), B_BAD_VALUE);
	ck_assert_int_eq(_get_area_info(-5, &info, sizeof(area_info)), B_BAD_VALUE);
	ck_assert_int_eq(area_malloc_area_pages_locked(area, NULL), B_BAD_VALUE);

	ck_assert_int_eq(_get_next_area_info(0, NULL, &info, sizeof(info)), B_BAD_VALUE);
	ck_assert_int_eq(_get_next_area_info(0, &cookie, NULL, sizeof(info)), B_BAD_VALUE);
	ck_assert_int_eq(_get_next_area_info(0, &cookie, &info, sizeof(info) - 4), B_BAD_VALUE);
	cookie = -1;
	ck_assert_int_eq(get_next_area_info(0, &cookie, &info), B_BAD_VALUE);
	cookie = 0;
	ck_assert_int_eq(get_next_area_info(getppid(), &cookie, &info), B_BAD_TEAM_ID);
	ck_assert_int_eq(get_next_area_info(-7, &cookie, &info), B_BAD_TEAM_ID);
	ck_assert_int_eq(cookie, 0);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

/* --- Address specifications ------------------------------------------------ */

START_TEST(test_any_address_specs)
{
	static const uint32 specs[] = { B_ANY_ADDRESS, B_ANY_KERNEL_ADDRESS,
		B_RANDOMIZED_ANY_ADDRESS };

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		void *address = (void *)0x5000; /* ignored by these specs */
		area_id area = create_checked("any", &address, specs[i], 3 * PAGE, B_NO_LOCK,
			B_READ_AREA | B_WRITE_AREA);

		ck_assert_ptr_ne(address, (void *)0x5000);
		fill_and_check(address, 3 * PAGE, 0x5a);
		ck_assert_int_eq(area_for(address), area);
		ck_assert_int_eq(delete_area(area), B_OK);
		ck_assert(!page_is_mapped(address));
	}
}
END_TEST

START_TEST(test_block_address_alignment)
{
	static const struct {
		size_t size;
		size_t alignment;
	} cases[] = {
		{ PAGE, PAGE },
		{ 3 * PAGE, 4 * PAGE },
		{ 5 * PAGE, 8 * PAGE },
		{ 64 * PAGE, 64 * PAGE },
		{ (1 << 20) + PAGE, 2 << 20 },
		{ (size_t)3 << 30, (size_t)4 << 30 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *address = NULL;
		size_t reserved_before, reserved_after;
		area_id area;
		char *bytes;

		reserved_before = inaccessible_anonymous_bytes();
		area = create_checked("block", &address, B_ANY_KERNEL_BLOCK_ADDRESS, cases[i].size,
			B_NO_LOCK, B_READ_AREA | B_WRITE_AREA);
		reserved_after = inaccessible_anonymous_bytes();
		bytes = address;
		/* The over-reservation was trimmed: nothing of it stays mapped. */
		ck_assert_uint_eq(reserved_after, reserved_before);

		ck_assert_msg((uintptr_t)address % cases[i].alignment == 0,
			"size %zu: base %p not aligned to %zu", cases[i].size, address,
			cases[i].alignment);
		bytes[0] = 1;
		bytes[cases[i].size - 1] = 2;
		ck_assert_int_eq(area_for(bytes + cases[i].size - 1), area);
		ck_assert_int_ne(area_for(bytes + cases[i].size), area);
		ck_assert_int_eq(delete_area(area), B_OK);
	}
}
END_TEST

START_TEST(test_exact_address_in_free_range)
{
	void *wanted = free_range(4 * PAGE);
	void *address = wanted;
	area_id area = create_checked("exact", &address, B_EXACT_ADDRESS, 4 * PAGE, B_NO_LOCK,
		B_READ_AREA | B_WRITE_AREA);

	ck_assert_ptr_eq(address, wanted);
	fill_and_check(address, 4 * PAGE, 0x11);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_exact_address_never_clobbers)
{
	/* [hole][occupied][occupied]: the hole is free, the rest is not ours. */
	char *range =
		mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *occupied = range + PAGE;
	void *address;

	ck_assert(range != MAP_FAILED);
	ck_assert_int_eq(munmap(range, PAGE), 0);
	memset(occupied, 0xa5, 2 * PAGE);

	address = occupied;
	ck_assert_int_eq(create_area("over", &address, B_EXACT_ADDRESS, 2 * PAGE, B_NO_LOCK,
				 B_READ_AREA | B_WRITE_AREA),
		B_NO_MEMORY);
	address = range; /* overlaps only the first occupied page */
	ck_assert_int_eq(create_area("overlap", &address, B_EXACT_ADDRESS, 2 * PAGE, B_FULL_LOCK,
				 B_READ_AREA | B_WRITE_AREA),
		B_NO_MEMORY);
	address = occupied + PAGE; /* overlaps only the last occupied page */
	ck_assert_int_eq(create_area("tail", &address, B_EXACT_ADDRESS, 2 * PAGE, B_NO_LOCK,
				 B_READ_AREA),
		B_NO_MEMORY);

	ck_assert_ptr_eq(address, occupied + PAGE);
	for (size_t i = 0; i < 2 * PAGE; i++)
		ck_assert_uint_eq((unsigned char)occupied[i], 0xa5);
	ck_assert_str_eq(vma_facts_for(occupied).perms, "rw-p");
	ck_assert(!page_is_mapped(range));
	ck_assert_int_eq(area_for(occupied), B_ERROR);
	munmap(occupied, 2 * PAGE);
}
END_TEST

START_TEST(test_base_address_takes_first_free_range)
{
	static const uint32 specs[] = { B_BASE_ADDRESS, B_RANDOMIZED_BASE_ADDRESS };

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char *base = free_range(4 * PAGE);
		void *address = base;
		area_id area = create_checked("base", &address, specs[i], 4 * PAGE, B_NO_LOCK,
			B_READ_AREA | B_WRITE_AREA);

		/* The base is free and big enough: the area starts right there. */
		ck_assert_ptr_eq(address, base);
		fill_and_check(address, 4 * PAGE, 0x33);

		/* Now the base is taken: the next area lands above the first. */
		address = base;
		area_id above = create_checked("above", &address, specs[i], 4 * PAGE, B_NO_LOCK,
			B_READ_AREA | B_WRITE_AREA);
		ck_assert_uint_ge((uintptr_t)address, (uintptr_t)(base + 4 * PAGE));
		fill_and_check(address, 4 * PAGE, 0x44);
		ck_assert_uint_eq((unsigned char)base[0], 0x33);
		ck_assert_int_eq(delete_area(above), B_OK);
		ck_assert_int_eq(delete_area(area), B_OK);
	}
}
END_TEST

START_TEST(test_base_address_skips_a_too_small_gap)
{
	/* [free page][occupied][free...]: a 2-page area cannot use the page. */
	char *range = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *address;
	area_id area;

	ck_assert(range != MAP_FAILED);
	ck_assert_int_eq(munmap(range, PAGE), 0);
	address = range;
	area = create_checked("skip", &address, B_BASE_ADDRESS, 2 * PAGE, B_NO_LOCK,
		B_READ_AREA | B_WRITE_AREA);
	ck_assert_uint_ge((uintptr_t)address, (uintptr_t)(range + 2 * PAGE));
	ck_assert(!page_is_mapped(range));
	ck_assert_int_eq(delete_area(area), B_OK);
	munmap(range + PAGE, PAGE);
}
END_TEST

/* --- Lock specifications --------------------------------------------------- */

START_TEST(test_no_lock_commits_nothing)
{
	void *address = NULL;
	area_id area = create_checked("no lock", &address, B_ANY_ADDRESS, 16 * PAGE, B_NO_LOCK,
		B_READ_AREA | B_WRITE_AREA);
	area_info info;

	ck_assert_uint_eq(resident_pages(address, 16 * PAGE), 0);
	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	ck_assert_uint_eq(info.ram_size, 0);
	ck_assert(!pages_locked(area));
	ck_assert(vma_facts_for(address).flag_no_reserve);
	ck_assert(!vma_facts_for(address).flag_locked);

	((char *)address)[5 * PAGE] = 1;
	ck_assert_uint_eq(resident_pages(address, 16 * PAGE), 1);
	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	ck_assert_uint_eq(info.ram_size, PAGE);
	ck_assert_uint_eq(vma_facts_for(address).locked_kib, 0);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_no_lock_8_gib_is_instant_and_empty)
{
	struct timespec start;
	void *address = NULL;
	area_id area;
	area_info info;
	char *bytes;

	clock_gettime(CLOCK_MONOTONIC, &start);
	area = create_checked("8 GiB", &address, B_ANY_ADDRESS, EIGHT_GIB, B_NO_LOCK,
		B_READ_AREA | B_WRITE_AREA);
	ck_assert_msg(seconds_since(&start) < 0.5, "took %.3f s", seconds_since(&start));
	bytes = address;
	ck_assert_uint_eq(resident_pages(bytes, EIGHT_GIB), 0);
	ck_assert(vma_facts_for(bytes).flag_no_reserve);
	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	ck_assert_uint_eq(info.size, EIGHT_GIB);
	ck_assert_uint_eq(info.ram_size, 0);
	bytes[0] = 1;
	bytes[EIGHT_GIB - 1] = 2;
	ck_assert_uint_eq(resident_pages(bytes, EIGHT_GIB), 2);
	ck_assert_int_eq(area_for(bytes + EIGHT_GIB - 1), area);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_lazy_lock_locks_on_fault)
{
	void *address = NULL;
	area_id area = create_checked("lazy", &address, B_ANY_ADDRESS, 8 * PAGE, B_LAZY_LOCK,
		B_READ_AREA | B_WRITE_AREA);
	struct vma_facts facts;

	ck_assert_uint_eq(resident_pages(address, 8 * PAGE), 0);
	if (!can_lock(8 * PAGE)) {
		ck_assert(!pages_locked(area));
	} else {
		ck_assert(pages_locked(area));
		facts = vma_facts_for(address);
		ck_assert(facts.flag_locked);
		ck_assert(facts.flag_lock_on_fault);
		ck_assert_uint_eq(facts.locked_kib, 0);
		memset(address, 7, 2 * PAGE);
		ck_assert_uint_ge(vma_facts_for(address).locked_kib, 2 * PAGE / 1024);
	}
	ck_assert_uint_eq(resident_pages(address, 8 * PAGE), 2);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

static void check_populated_and_locked(uint32 lock, uint32 spec, bool below_4_gib)
{
	const size_t size = 32 * PAGE;
	void *address = NULL;
	area_id area =
		create_checked("locked", &address, spec, size, lock, B_READ_AREA | B_WRITE_AREA);
	area_info info;

	if (below_4_gib)
		ck_assert_msg((uintptr_t)address + size <= FOUR_GIB, "lock %u: %p above 4 GiB",
			lock, address);
	ck_assert_uint_eq(resident_pages(address, size), size / PAGE);
	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	ck_assert_uint_eq(info.ram_size, size);
	if (can_lock(size)) {
		struct vma_facts facts = vma_facts_for(address);

		ck_assert(pages_locked(area));
		ck_assert(facts.flag_locked);
		ck_assert(!facts.flag_lock_on_fault);
		ck_assert_uint_ge(facts.locked_kib, size / 1024);
	} else {
		ck_assert(!pages_locked(area));
	}
	fill_and_check(address, size, 0x77);
	ck_assert_int_eq(delete_area(area), B_OK);
}

START_TEST(test_full_lock_and_contiguous)
{
	check_populated_and_locked(B_FULL_LOCK, B_ANY_ADDRESS, false);
	check_populated_and_locked(B_CONTIGUOUS, B_ANY_ADDRESS, false);
	check_populated_and_locked(B_FULL_LOCK, B_ANY_KERNEL_BLOCK_ADDRESS, false);
}
END_TEST

START_TEST(test_low_memory_specs_stay_below_4_gib)
{
	static const uint32 locks[] = { B_LOMEM, B_32_BIT_FULL_LOCK, B_32_BIT_CONTIGUOUS };
	static const uint32 specs[] = { B_ANY_ADDRESS, B_ANY_KERNEL_ADDRESS,
		B_RANDOMIZED_ANY_ADDRESS, B_ANY_KERNEL_BLOCK_ADDRESS, B_BASE_ADDRESS };

	for (size_t l = 0; l < sizeof(locks) / sizeof(locks[0]); l++)
		for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
			check_populated_and_locked(locks[l], specs[s], true);
}
END_TEST

START_TEST(test_low_memory_block_is_aligned)
{
	void *address = NULL;
	area_id area = create_checked("low block", &address, B_ANY_KERNEL_BLOCK_ADDRESS, 12 * PAGE,
		B_32_BIT_CONTIGUOUS, B_READ_AREA | B_WRITE_AREA);

	ck_assert_uint_eq((uintptr_t)address % (16 * PAGE), 0);
	ck_assert_uint_le((uintptr_t)address + 12 * PAGE, FOUR_GIB);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_low_memory_refuses_high_addresses)
{
	void *address = (void *)(FOUR_GIB + 16 * PAGE);

	/* An exact address above 4 GiB contradicts the lock specification. */
	ck_assert_int_eq(create_area("high exact", &address, B_EXACT_ADDRESS, PAGE, B_LOMEM,
				 B_READ_AREA),
		B_BAD_VALUE);
	address = (void *)(FOUR_GIB - PAGE);
	ck_assert_int_eq(create_area("straddle", &address, B_EXACT_ADDRESS, 2 * PAGE,
				 B_32_BIT_FULL_LOCK, B_READ_AREA),
		B_BAD_VALUE);
	/* No room below 4 GiB at or above a base of 4 GiB. */
	address = (void *)FOUR_GIB;
	ck_assert_int_eq(create_area("high base", &address, B_BASE_ADDRESS, PAGE,
				 B_32_BIT_CONTIGUOUS, B_READ_AREA),
		B_NO_MEMORY);
	/* More than 4 GiB cannot fit below 4 GiB. */
	address = NULL;
	ck_assert_int_eq(create_area("too big", &address, B_ANY_ADDRESS, (size_t)FOUR_GIB + PAGE,
				 B_LOMEM, B_READ_AREA),
		B_NO_MEMORY);
}
END_TEST

START_TEST(test_low_memory_exact_address)
{
	void *wanted = NULL, *address;
	area_id area;

	/* Find a free low range through the API itself, then free it. */
	area = create_checked("probe", &wanted, B_ANY_ADDRESS, 4 * PAGE, B_LOMEM, B_READ_AREA);
	ck_assert_int_eq(delete_area(area), B_OK);
	address = wanted;
	area = create_checked("low exact", &address, B_EXACT_ADDRESS, 4 * PAGE, B_LOMEM,
		B_READ_AREA | B_WRITE_AREA);
	ck_assert_ptr_eq(address, wanted);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_protection_bits)
{
	static const struct {
		uint32 protection;
		const char *perms;
	} cases[] = {
		{ 0, "---p" },
		{ B_READ_AREA, "r--p" },
		{ B_READ_AREA | B_WRITE_AREA, "rw-p" },
		{ B_KERNEL_READ_AREA, "r--p" },
		{ B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA, "rw-p" },
		{ B_READ_AREA | B_EXECUTE_AREA, "r-xp" },
		{ B_KERNEL_READ_AREA | B_KERNEL_EXECUTE_AREA, "r-xp" },
		{ B_READ_AREA | B_WRITE_AREA | B_CLONEABLE_AREA | B_KERNEL_READ_AREA | B_STACK_AREA,
			"rw-p" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *address = NULL;
		area_id area = create_checked("prot", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK,
			cases[i].protection);
		area_info info;

		ck_assert_str_eq(vma_facts_for(address).perms, cases[i].perms);
		ck_assert_int_eq(get_area_info(area, &info), B_OK);
		ck_assert_uint_eq(info.protection, cases[i].protection);
		ck_assert_int_eq(delete_area(area), B_OK);
	}
}
END_TEST

/* --- Lookups and information ----------------------------------------------- */

START_TEST(test_area_for_bounds)
{
	void *address = NULL;
	area_id area =
		create_checked("bounds", &address, B_ANY_ADDRESS, 5 * PAGE, B_NO_LOCK, B_READ_AREA);
	char *bytes = address;

	ck_assert_int_eq(area_for(bytes), area);
	ck_assert_int_eq(area_for(bytes + 2 * PAGE + 17), area);
	ck_assert_int_eq(area_for(bytes + 5 * PAGE - 1), area);
	ck_assert_int_ne(area_for(bytes + 5 * PAGE), area);
	ck_assert_int_ne(area_for(bytes - 1), area);
	ck_assert_int_eq(area_for(&area), B_ERROR);
	ck_assert_int_eq(area_for((void *)UINTPTR_MAX), B_ERROR);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_area_for_among_many)
{
	enum { COUNT = 40 };
	area_id areas[COUNT];
	void *bases[COUNT];

	for (int i = 0; i < COUNT; i++) {
		bases[i] = NULL;
		areas[i] = create_checked("many", &bases[i], B_ANY_ADDRESS,
			(size_t)(i % 3 + 1) * PAGE, B_NO_LOCK, B_READ_AREA);
	}
	for (int i = 0; i < COUNT; i += 2)
		ck_assert_int_eq(delete_area(areas[i]), B_OK);
	for (int i = 0; i < COUNT; i++) {
		char *last = (char *)bases[i] + (size_t)(i % 3 + 1) * PAGE - 1;

		if (i % 2 == 0) {
			ck_assert_int_ne(area_for(bases[i]), areas[i]);
		} else {
			ck_assert_int_eq(area_for(bases[i]), areas[i]);
			ck_assert_int_eq(area_for(last), areas[i]);
		}
	}
	for (int i = 1; i < COUNT; i += 2)
		ck_assert_int_eq(delete_area(areas[i]), B_OK);
}
END_TEST

START_TEST(test_ids_increase_and_are_never_reused)
{
	void *address = NULL;
	area_id first =
		create_checked("ids", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	area_id second =
		create_checked("ids", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	area_id third;

	ck_assert_int_gt(first, 0);
	ck_assert_int_gt(second, first);
	ck_assert_int_eq(delete_area(second), B_OK);
	third = create_checked("ids", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	ck_assert_int_gt(third, second);
	ck_assert_int_eq(delete_area(first), B_OK);
	ck_assert_int_eq(delete_area(third), B_OK);
}
END_TEST

START_TEST(test_find_area)
{
	static const char long_name[] = "a name far longer than thirty-one characters";
	void *address = NULL;
	area_id first =
		create_checked("twin", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	area_id second =
		create_checked("twin", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	area_id longer =
		create_checked(long_name, &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK, B_READ_AREA);
	char truncated[B_OS_NAME_LENGTH];
	area_info info;

	ck_assert_int_eq(find_area("twin"), first);
	ck_assert_int_eq(find_area("twi"), B_NAME_NOT_FOUND);
	ck_assert_int_eq(find_area("twins"), B_NAME_NOT_FOUND);
	ck_assert_int_eq(delete_area(first), B_OK);
	ck_assert_int_eq(find_area("twin"), second);

	memcpy(truncated, long_name, B_OS_NAME_LENGTH - 1);
	truncated[B_OS_NAME_LENGTH - 1] = '\0';
	ck_assert_int_eq(get_area_info(longer, &info), B_OK);
	ck_assert_str_eq(info.name, truncated);
	ck_assert_int_eq(find_area(truncated), longer);
	ck_assert_int_eq(find_area(long_name), longer);

	ck_assert_int_eq(delete_area(second), B_OK);
	ck_assert_int_eq(find_area("twin"), B_NAME_NOT_FOUND);
	ck_assert_int_eq(delete_area(longer), B_OK);
}
END_TEST

START_TEST(test_get_area_info_fields)
{
	void *address = NULL;
	const uint32 protection = B_READ_AREA | B_WRITE_AREA | B_KERNEL_READ_AREA;
	area_id area = create_checked("info fields", &address, B_ANY_ADDRESS, 6 * PAGE, B_NO_LOCK,
		protection);
	area_info info;

	memset(&info, 0xee, sizeof(info));
	memset(address, 1, 3 * PAGE);
	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	ck_assert_int_eq(info.area, area);
	ck_assert_str_eq(info.name, "info fields");
	ck_assert_uint_eq(info.size, 6 * PAGE);
	ck_assert_uint_eq(info.lock, B_NO_LOCK);
	ck_assert_uint_eq(info.protection, protection);
	ck_assert_int_eq(info.team, getpid());
	ck_assert_uint_eq(info.ram_size, 3 * PAGE);
	ck_assert_uint_eq(info.copy_count, 0);
	ck_assert_uint_eq(info.in_count, 0);
	ck_assert_uint_eq(info.out_count, 0);
	ck_assert_ptr_eq(info.address, address);
	ck_assert_int_eq(delete_area(area), B_OK);

	area = create_checked("info lock", &address, B_ANY_ADDRESS, PAGE, B_32_BIT_CONTIGUOUS,
		B_READ_AREA);
	ck_assert_int_eq(get_area_info(area, &info), B_OK);
	ck_assert_uint_eq(info.lock, B_32_BIT_CONTIGUOUS);
	ck_assert_int_eq(delete_area(area), B_OK);
}
END_TEST

START_TEST(test_get_next_area_info_iterates_in_id_order)
{
	static const team_id teams[] = { 0, -1 };
	area_id mine[3];
	void *address = NULL;

	for (int i = 0; i < 3; i++)
		mine[i] = create_checked("iterate", &address, B_ANY_ADDRESS, (size_t)(i + 1) * PAGE,
			B_NO_LOCK, B_READ_AREA);
	/* A deleted area is skipped, and later areas keep coming. */
	ck_assert_int_eq(delete_area(mine[1]), B_OK);

	for (size_t t = 0; t < sizeof(teams) / sizeof(teams[0]); t++) {
		team_id team = teams[t] == -1 ? getpid() : teams[t];
		ssize_t cookie = 0;
		area_id previous = 0;
		int seen[3] = { 0, 0, 0 };
		area_info info, direct;
		status_t status;

		while ((status = get_next_area_info(team, &cookie, &info)) == B_OK) {
			ck_assert_int_gt(info.area, previous);
			previous = info.area;
			ck_assert_int_eq(cookie, info.area);
			ck_assert_int_eq(info.team, getpid());
			ck_assert_int_eq(get_area_info(info.area, &direct), B_OK);
			ck_assert_ptr_eq(direct.address, info.address);
			ck_assert_uint_eq(direct.size, info.size);
			for (int i = 0; i < 3; i++)
				seen[i] += info.area == mine[i];
		}
		ck_assert_int_eq(status, B_BAD_VALUE);
		ck_assert_int_eq(seen[0], 1);
		ck_assert_int_eq(seen[1], 0);
		ck_assert_int_eq(seen[2], 1);
		/* Done stays done. */
		ck_assert_int_eq(get_next_area_info(team, &cookie, &info), B_BAD_VALUE);
	}
	ck_assert_int_eq(delete_area(mine[0]), B_OK);
	ck_assert_int_eq(delete_area(mine[2]), B_OK);
}
END_TEST

/* --- Threads --------------------------------------------------------------- */

enum { THREAD_COUNT = 4, ROUNDS = 300 };

struct worker {
	pthread_t thread;
	int index;
	area_id ids[ROUNDS];
	const char *failure;
};

static void *create_and_delete(void *argument)
{
	struct worker *worker = argument;
	char name[B_OS_NAME_LENGTH];

	snprintf(name, sizeof(name), "worker %d", worker->index);
	for (int round = 0; round < ROUNDS; round++) {
		size_t size = (size_t)(round % 4 + 1) * PAGE;
		void *address = NULL;
		uint32 spec = round % 3 == 0 ? B_ANY_KERNEL_BLOCK_ADDRESS : B_ANY_ADDRESS;
		area_id area = create_area(name, &address, spec, size, B_NO_LOCK,
			B_READ_AREA | B_WRITE_AREA);
		area_info info;

		worker->ids[round] = area;
		if (area <= 0) {
			worker->failure = "create_area failed";
			return NULL;
		}
		if (round > 0 && area <= worker->ids[round - 1]) {
			worker->failure = "ids did not increase";
			return NULL;
		}
		memset(address, worker->index, size);
		if (area_for(address) != area || area_for((char *)address + size - 1) != area) {
			worker->failure = "area_for missed";
			return NULL;
		}
		if (get_area_info(area, &info) != B_OK || info.address != address
			|| info.size != size || strcmp(info.name, name) != 0) {
			worker->failure = "get_area_info disagreed";
			return NULL;
		}
		if (((unsigned char *)address)[size - 1] != worker->index) {
			worker->failure = "another thread wrote into this area";
			return NULL;
		}
		if (delete_area(area) != B_OK) {
			worker->failure = "delete_area failed";
			return NULL;
		}
	}
	return NULL;
}

static int compare_ids(const void *a, const void *b)
{
	area_id left = *(const area_id *)a, right = *(const area_id *)b;

	return (left > right) - (left < right);
}

START_TEST(test_concurrent_create_and_delete)
{
	static struct worker workers[THREAD_COUNT];
	static area_id all[THREAD_COUNT * ROUNDS];
	ssize_t cookie = 0;
	area_info info;

	for (int i = 0; i < THREAD_COUNT; i++) {
		workers[i].index = i + 1;
		ck_assert_int_eq(pthread_create(&workers[i].thread, NULL, create_and_delete,
					 &workers[i]),
			0);
	}
	for (int i = 0; i < THREAD_COUNT; i++) {
		ck_assert_int_eq(pthread_join(workers[i].thread, NULL), 0);
		ck_assert_msg(workers[i].failure == NULL, "worker %d: %s", i, workers[i].failure);
		memcpy(&all[i * ROUNDS], workers[i].ids, sizeof(workers[i].ids));
	}
	qsort(all, THREAD_COUNT * ROUNDS, sizeof(all[0]), compare_ids);
	for (int i = 1; i < THREAD_COUNT * ROUNDS; i++)
		ck_assert_int_ne(all[i], all[i - 1]);
	/* Every area was deleted: none of them is left in the registry. */
	while (get_next_area_info(0, &cookie, &info) == B_OK)
		ck_assert(strncmp(info.name, "worker", 6) != 0);
}
END_TEST

/* Another thread creates and deletes areas while this one forks: every
 * child can use the area registry (it is never inherited held). The lock is
 * held for a few instructions at a time, so this rarely meets the race it
 * guards against (it did not in 3,000 forks without the fork handlers): a
 * smoke test of the handlers, not a reproducer. */
static void *churn_areas(void *argument)
{
	atomic_bool *stop = argument;

	while (!atomic_load(stop)) {
		void *address = NULL;
		area_id area = create_area("churn", &address, B_ANY_ADDRESS, PAGE, B_NO_LOCK,
			B_READ_AREA | B_WRITE_AREA);
		if (area > 0)
			delete_area(area);
	}
	return NULL;
}

START_TEST(test_fork_while_another_thread_creates_areas)
{
	long forks = test_scaled(500, 10);
	atomic_bool stop = false;
	pthread_t thread;

#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer serialises fork against its own state and stalls
	 * with a thread at work; the handlers are tested in the other builds */
	fprintf(stderr, "test_area: fork while threads run: skipped under ThreadSanitizer\n");
	return;
#endif
#if defined(__SANITIZE_ADDRESS__)
	/* Debian 12's libasan (GCC 12) takes no lock around fork(): a child
	 * forked while the other thread refills ASan's allocator inherits that
	 * size class's mutex held and hangs in its first calloc (create_area's
	 * record; gdb: SizeClassAllocator64::GetFromAllocator). This test
	 * failed so in about 1 run in 30 under load; the plain build never
	 * hangs there. Nothing of ours is involved: tested in the plain build */
	fprintf(stderr, "test_area: fork while threads run: skipped under AddressSanitizer\n");
	return;
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
	/* each child would be checked for leaks at _exit, and the other
	 * thread's half-made areas are its "leaks": tested in the other builds */
	if (RUNNING_ON_VALGRIND) {
		fprintf(stderr, "test_area: fork while threads run: skipped under Valgrind\n");
		return;
	}
#endif

	ck_assert_int_eq(pthread_create(&thread, NULL, churn_areas, &stop), 0);
	for (long i = 0; i < forks; i++) {
		int status;
		pid_t child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0) {
			void *address = NULL;
			/* a hang here (the registry lock inherited held) ends in alarm */
			test_alarm(10);
			area_id area = create_area("child", &address, B_ANY_ADDRESS, PAGE,
				B_NO_LOCK, B_READ_AREA | B_WRITE_AREA);
			_exit(area > 0 && delete_area(area) == B_OK ? 0 : 1);
		}
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			"fork %ld: the child could not use the area registry (status %#x)", i,
			status);
	}
	atomic_store(&stop, true);
	ck_assert_int_eq(pthread_join(thread, NULL), 0);
}
END_TEST

struct base_racer {
	pthread_t thread;
	char *base;
	void *address;
	area_id area;
};

static void *race_for_base(void *argument)
{
	struct base_racer *racer = argument;

	racer->address = racer->base;
	racer->area = create_area("racer", &racer->address, B_BASE_ADDRESS, 2 * PAGE, B_NO_LOCK,
		B_READ_AREA | B_WRITE_AREA);
	return NULL;
}

START_TEST(test_concurrent_base_address)
{
	char *base = free_range(64 * PAGE);
	struct base_racer racers[THREAD_COUNT];

	for (int i = 0; i < THREAD_COUNT; i++) {
		racers[i].base = base;
		ck_assert_int_eq(pthread_create(&racers[i].thread, NULL, race_for_base, &racers[i]),
			0);
	}
	for (int i = 0; i < THREAD_COUNT; i++)
		ck_assert_int_eq(pthread_join(racers[i].thread, NULL), 0);
	for (int i = 0; i < THREAD_COUNT; i++) {
		ck_assert_int_gt(racers[i].area, 0);
		ck_assert_uint_ge((uintptr_t)racers[i].address, (uintptr_t)(base));
		for (int j = 0; j < i; j++) {
			uintptr_t a = (uintptr_t)racers[i].address,
				  b = (uintptr_t)racers[j].address;

			ck_assert_msg(a + 2 * PAGE <= b || b + 2 * PAGE <= a, "areas overlap");
		}
		memset(racers[i].address, i, 2 * PAGE);
	}
	for (int i = 0; i < THREAD_COUNT; i++)
		ck_assert_int_eq(delete_area(racers[i].area), B_OK);
}
END_TEST

/* --- Locking refused -------------------------------------------------------- */

/* In the forked child: fail with the line number, which the parent reports. */
#define CHILD_REQUIRE(condition)                                                                   \
	do {                                                                                       \
		if (!(condition))                                                                  \
			child_fail(__LINE__, #condition);                                          \
	} while (0)

static void child_fail(int line, const char *condition)
{
	char message[256];
	int length = snprintf(message, sizeof(message), "line %d: %s\n", line, condition);

	if (write(STDOUT_FILENO, message, (size_t)length) < 0)
		_exit(2);
	_exit(1);
}

static bool drop_ipc_lock_capability(void)
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &header, data) != 0)
		return false;
	data[0].effective &= ~(1u << CAP_IPC_LOCK_BIT);
	data[0].permitted &= ~(1u << CAP_IPC_LOCK_BIT);
	data[0].inheritable &= ~(1u << CAP_IPC_LOCK_BIT);
	return syscall(SYS_capset, &header, data) == 0;
}

static void child_check_refused_locking(void)
{
	static const uint32 locks[] = { B_FULL_LOCK, B_LAZY_LOCK, B_CONTIGUOUS, B_LOMEM,
		B_32_BIT_FULL_LOCK, B_32_BIT_CONTIGUOUS };
	struct rlimit no_locking = { 0, 0 };
	void *probe;

	CHILD_REQUIRE(setrlimit(RLIMIT_MEMLOCK, &no_locking) == 0);
	CHILD_REQUIRE(drop_ipc_lock_capability());
	probe = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_REQUIRE(probe != MAP_FAILED);
	CHILD_REQUIRE(raw_mlock(probe, PAGE) != 0);

	for (size_t i = 0; i < sizeof(locks) / sizeof(locks[0]); i++) {
		const size_t size = 8 * PAGE;
		void *address = NULL;
		area_id area = create_area("refused", &address, B_ANY_ADDRESS, size, locks[i],
			B_READ_AREA | B_WRITE_AREA);
		unsigned char vector[8];
		bool locked = true;

		CHILD_REQUIRE(area > 0);
		CHILD_REQUIRE(area_malloc_area_pages_locked(area, &locked) == B_OK);
		CHILD_REQUIRE(!locked);
		CHILD_REQUIRE(mincore(address, size, vector) == 0);
		if (locks[i] != B_LAZY_LOCK) {
			/* Still populated, as the lock specification promised. */
			for (size_t page = 0; page < 8; page++)
				CHILD_REQUIRE(vector[page] & 1);
		}
		if (locks[i] >= B_LOMEM)
			CHILD_REQUIRE((uintptr_t)address + size <= FOUR_GIB);
		memset(address, 0x3c, size);
		CHILD_REQUIRE(((unsigned char *)address)[size - 1] == 0x3c);
		CHILD_REQUIRE(area_for((char *)address + size - 1) == area);
		CHILD_REQUIRE(delete_area(area) == B_OK);
	}
	_exit(0);
}

START_TEST(test_refused_locking_falls_back_to_unlocked)
{
	int output[2], errors[2];
	char report[4096] = "", warnings[4096] = "";
	const char *first, *second;
	ssize_t length;
	int status;
	pid_t child;

	ck_assert_int_eq(pipe(output), 0);
	ck_assert_int_eq(pipe(errors), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(output[1], STDOUT_FILENO);
		dup2(errors[1], STDERR_FILENO);
		close(output[0]);
		close(errors[0]);
		child_check_refused_locking();
	}
	close(output[1]);
	close(errors[1]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	length = read(output[0], report, sizeof(report) - 1);
	report[length > 0 ? length : 0] = '\0';
	length = read(errors[0], warnings, sizeof(warnings) - 1);
	warnings[length > 0 ? length : 0] = '\0';
	close(output[0]);
	close(errors[0]);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: %s%s", report,
		warnings);
	/* One warning for the whole process, however many areas fell back. */
	first = strstr(warnings, "refused to lock");
	ck_assert_msg(first != NULL, "no warning on stderr: '%s'", warnings);
	second = strstr(first + 1, "refused to lock");
	ck_assert_msg(second == NULL, "warned more than once: '%s'", warnings);
}
END_TEST

static Suite *area_suite(void)
{
	Suite *suite = suite_create("area");
	TCase *validation = tcase_create("validation");
	TCase *address_specs = tcase_create("address_specs");
	TCase *lock_specs = tcase_create("lock_specs");
	TCase *lookups = tcase_create("lookups");
	TCase *threads = tcase_create("threads");
	TCase *fallback = tcase_create("lock_fallback");

	tcase_add_test(validation, test_create_rejects_bad_arguments);
	tcase_add_test(validation, test_create_rejects_unaligned_start);
	tcase_add_test(validation, test_create_rejects_impossible_sizes);
	tcase_add_test(validation, test_locked_area_larger_than_memory_is_refused);
	tcase_add_test(validation, test_exact_address_outside_user_space);
	tcase_add_test(validation, test_bad_ids_and_lookups);
	suite_add_tcase(suite, validation);

	tcase_add_test(address_specs, test_any_address_specs);
	tcase_add_test(address_specs, test_block_address_alignment);
	tcase_add_test(address_specs, test_exact_address_in_free_range);
	tcase_add_test(address_specs, test_exact_address_never_clobbers);
	tcase_add_test(address_specs, test_base_address_takes_first_free_range);
	tcase_add_test(address_specs, test_base_address_skips_a_too_small_gap);
	suite_add_tcase(suite, address_specs);

	tcase_add_test(lock_specs, test_no_lock_commits_nothing);
	tcase_add_test(lock_specs, test_no_lock_8_gib_is_instant_and_empty);
	tcase_add_test(lock_specs, test_lazy_lock_locks_on_fault);
	tcase_add_test(lock_specs, test_full_lock_and_contiguous);
	tcase_add_test(lock_specs, test_low_memory_specs_stay_below_4_gib);
	tcase_add_test(lock_specs, test_low_memory_block_is_aligned);
	tcase_add_test(lock_specs, test_low_memory_refuses_high_addresses);
	tcase_add_test(lock_specs, test_low_memory_exact_address);
	tcase_add_test(lock_specs, test_protection_bits);
	suite_add_tcase(suite, lock_specs);

	tcase_add_test(lookups, test_area_for_bounds);
	tcase_add_test(lookups, test_area_for_among_many);
	tcase_add_test(lookups, test_ids_increase_and_are_never_reused);
	tcase_add_test(lookups, test_find_area);
	tcase_add_test(lookups, test_get_area_info_fields);
	tcase_add_test(lookups, test_get_next_area_info_iterates_in_id_order);
	suite_add_tcase(suite, lookups);

	tcase_add_test(threads, test_concurrent_create_and_delete);
	tcase_add_test(threads, test_concurrent_base_address);
	tcase_add_test(threads, test_fork_while_another_thread_creates_areas);
	suite_add_tcase(suite, threads);

	tcase_add_test(fallback, test_refused_locking_falls_back_to_unlocked);
	suite_add_tcase(suite, fallback);
	return suite;
}

int main(void)
{
	return run_check_suite(area_suite(), CK_FORK_GETENV);
}
