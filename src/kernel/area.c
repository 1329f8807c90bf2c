/*
 * area.c - Haiku's areas over Linux mmap: create_area, delete_area, area_for,
 * find_area, get_area_info and get_next_area_info.
 *
 * An area is one private anonymous mapping created here and recorded in a
 * process-wide registry. Ids are positive, strictly increasing and never
 * reused in a process (after INT32_MAX ids, create_area fails with
 * B_NO_MEMORY). Names are kept to B_OS_NAME_LENGTH - 1 bytes; find_area()
 * compares the same prefix of the name it is given.
 *
 * Invariants: areas_by_id and areas_by_base hold the same records, sorted by
 * id and by base address; registered areas never overlap, because every
 * mapping comes from the kernel's own choice, from MAP_FIXED_NOREPLACE (which
 * refuses a used range instead of clobbering it), or from MAP_FIXED over a
 * reservation this very call holds (or over the area's own range, when a
 * file-backed area is made private).
 *
 * Locking: one pthread mutex, registry_lock, protects both arrays, the id
 * counter and every record. It covers bookkeeping only, never mmap, mlock,
 * munmap or /proc reads, so populating a large locked area does not stall
 * area_for() in other threads. delete_area unlinks a record before it unmaps
 * the range, so the range never belongs to two live areas. fork() holds it
 * (pthread_atfork, registered when the library loads, before any module
 * registers its own handlers): a child never inherits it held by a thread
 * that does not exist there, and since prepare handlers run in the reverse
 * order of registration it is taken after every pool lock (it is a leaf)
 * and released in the child before a module's handler makes areas private.
 *
 * Lock specifications on Linux:
 *  B_NO_LOCK           mmap(MAP_NORESERVE): no page and no commit charge
 *                      until a page is touched; may be swapped out.
 *  B_LAZY_LOCK         pages are faulted in on first touch and locked as
 *                      they are: mlock2(MLOCK_ONFAULT) (Linux 4.4).
 *  B_FULL_LOCK,        mmap(MAP_POPULATE) + mlock(): every page is resident
 *  B_CONTIGUOUS        and locked when create_area returns. Physical
 *                      contiguity has no meaning in user space.
 *  B_LOMEM,            as B_FULL_LOCK, and the whole area lies below 4 GiB:
 *  B_32_BIT_FULL_LOCK, a free gap between 64 KiB (or vm.mmap_min_addr, if
 *  B_32_BIT_CONTIGUOUS higher) and 4 GiB is found in /proc/self/maps and
 *                      mapped with MAP_FIXED_NOREPLACE (MAP_32BIT only covers
 *                      2 GiB, and ASan reserves low memory). No such gap:
 *                      B_NO_MEMORY.
 *  Populated specs refuse a size above MemAvailable (/proc/meminfo) with
 *  B_NO_MEMORY rather than wake the OOM killer. When Linux refuses to lock
 *  (RLIMIT_MEMLOCK, no CAP_IPC_LOCK: mlock fails with EPERM, ENOMEM or
 *  EAGAIN), the area is still created, populated but unlocked, and the first
 *  such refusal in the process prints one dprintf warning.
 *
 * Address specifications on Linux:
 *  B_ANY_ADDRESS, B_ANY_KERNEL_ADDRESS, B_RANDOMIZED_ANY_ADDRESS: the
 *  kernel's choice (Linux already randomises it).
 *  B_ANY_KERNEL_BLOCK_ADDRESS: the base is aligned to the size rounded up to
 *  a power of two.
 *  B_EXACT_ADDRESS: exactly *startAddress, never over an existing mapping
 *  (range in use: B_NO_MEMORY; below 64 KiB or vm.mmap_min_addr:
 *  B_BAD_ADDRESS).
 *  B_BASE_ADDRESS, B_RANDOMIZED_BASE_ADDRESS: the first free range at or
 *  above *startAddress.
 *  B_CLONE_ADDRESS: B_BAD_VALUE (it belongs to clone_area).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <KernelExport.h>

#include "kernel/area_internal.h"
#include "kernel/lock.h"

#ifndef MAP_FIXED_NOREPLACE
/* Older libc headers lack it; kernels before 4.17 take it as a plain hint,
 * which map_exactly() detects. */
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Where B_LOMEM and the 32-bit lock specifications must end. */
#define LOW_MEMORY_END ((addr_t)1 << 32)

/* The top of the user address space with 4-level page tables (x86-64, and
 * below arm64's 48 bits). Gap searches stop here; larger sizes cannot fit. */
#define USER_ADDRESS_END ((addr_t)1 << 47)

/* Tries of the gap search when another thread maps into the gap first. */
#define PLACEMENT_ATTEMPTS 8

/* Never hand out the first 64 KiB: it is the sysctl's usual value, and
 * security modules (SELinux, AppArmor) enforce their own minimum, usually
 * this one, which the sysctl does not show. */
#define LOWEST_AREA_ADDRESS ((addr_t)65536)

struct area {
	area_id id;
	uint32 lock;
	uint32 protection;
	bool pages_locked;
	addr_t base;
	size_t size;
	char name[B_OS_NAME_LENGTH];
};

/* What the lock specification asks of the mapping. */
struct lock_traits {
	bool populate;
	bool below_4_gib;
};

static const struct lock_traits lock_traits[] = {
	[B_NO_LOCK] = { false, false },
	[B_LAZY_LOCK] = { false, false },
	[B_FULL_LOCK] = { true, false },
	[B_CONTIGUOUS] = { true, false },
	[B_LOMEM] = { true, true },
	[B_32_BIT_FULL_LOCK] = { true, true },
	[B_32_BIT_CONTIGUOUS] = { true, true },
};

#define LOCK_SPEC_COUNT (sizeof(lock_traits) / sizeof(lock_traits[0]))

/* The arguments of every mmap that creates the area itself. */
struct mapping {
	size_t size;
	int prot;
	int flags;
	int fd; /* -1: anonymous memory; else a file mapped from offset 0 */
};

static mutex registry_lock = MUTEX_INITIALIZER("area registry");
static struct area **areas_by_id;
static struct area **areas_by_base;
static size_t area_count;
static size_t area_capacity;
static area_id last_area_id;

static atomic_flag lock_refusal_reported = ATOMIC_FLAG_INIT;

static void lock_registry_for_fork(void)
{
	mutex_lock(&registry_lock);
}

static void unlock_registry_after_fork(void)
{
	mutex_unlock(&registry_lock);
}

__attribute__((constructor)) static void install_fork_handlers(void)
{
	pthread_atfork(lock_registry_for_fork, unlock_registry_after_fork,
		unlock_registry_after_fork);
}

static pthread_once_t mmap_min_addr_once = PTHREAD_ONCE_INIT;
static addr_t mmap_min_addr_value;

static addr_t align_up(addr_t value, size_t alignment, bool *_overflow)
{
	addr_t aligned = (value + (alignment - 1)) & ~(addr_t)(alignment - 1);

	*_overflow = aligned < value;
	return aligned;
}

static void copy_area_name(char *destination, const char *name)
{
	size_t length = strnlen(name, B_OS_NAME_LENGTH - 1);

	memcpy(destination, name, length);
	destination[length] = '\0';
}

status_t area_malloc_status_from_errno(int error)
{
	switch (error) {
	case EINVAL:
		return B_BAD_VALUE;
	case EPERM:
	case EACCES:
		return B_PERMISSION_DENIED;
	default:
		return B_NO_MEMORY;
	}
}

static int protection_to_prot(uint32 protection)
{
	int prot = PROT_NONE;

	if (protection & (B_READ_AREA | B_KERNEL_READ_AREA))
		prot |= PROT_READ;
	if (protection & (B_WRITE_AREA | B_KERNEL_WRITE_AREA))
		prot |= PROT_WRITE;
	if (protection & (B_EXECUTE_AREA | B_KERNEL_EXECUTE_AREA))
		prot |= PROT_EXEC;
	return prot;
}

static void read_mmap_min_addr(void)
{
	FILE *file = fopen("/proc/sys/vm/mmap_min_addr", "re");
	unsigned long long value;
	bool overflow;

	mmap_min_addr_value = LOWEST_AREA_ADDRESS;
	if (file == NULL)
		return;
	if (fscanf(file, "%llu", &value) == 1 && value > LOWEST_AREA_ADDRESS
		&& value < LOW_MEMORY_END)
		mmap_min_addr_value = align_up((addr_t)value, B_PAGE_SIZE, &overflow);
	fclose(file);
}

/* The lowest address an area may start at: vm.mmap_min_addr, page aligned,
 * and at least LOWEST_AREA_ADDRESS. */
static addr_t lowest_mappable_address(void)
{
	pthread_once(&mmap_min_addr_once, read_mmap_min_addr);
	return mmap_min_addr_value;
}

/* Whether size exceeds MemAvailable; false when /proc/meminfo is unreadable,
 * so that a locked-down /proc does not forbid locked areas. */
static bool exceeds_available_memory(size_t size)
{
	FILE *meminfo = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long available_kib;
	bool exceeds = false;

	if (meminfo == NULL)
		return false;
	while (fgets(line, sizeof(line), meminfo) != NULL) {
		if (sscanf(line, "MemAvailable: %llu kB", &available_kib) == 1) {
			exceeds = size / 1024 > available_kib;
			break;
		}
	}
	fclose(meminfo);
	return exceeds;
}

/*
 * Finds the lowest address >= lower, aligned to alignment, where size bytes
 * fit before upper without touching any mapping listed in /proc/self/maps.
 * The answer may be stale by the time it is used: callers map it with
 * MAP_FIXED_NOREPLACE and search again when someone got there first.
 */
static status_t find_free_gap(addr_t lower, addr_t upper, size_t size, size_t alignment,
	addr_t *_gap)
{
	FILE *maps;
	char line[256];
	bool at_line_start = true;
	bool overflow;
	addr_t candidate = align_up(lower, alignment, &overflow);

	if (overflow || candidate >= upper || upper - candidate < size)
		return B_NO_MEMORY;
	maps = fopen("/proc/self/maps", "re");
	if (maps == NULL)
		return B_NO_MEMORY;
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long long start, end;
		bool was_line_start = at_line_start;

		/* A long path name splits a line over several reads. */
		at_line_start = strchr(line, '\n') != NULL;
		if (!was_line_start || sscanf(line, "%llx-%llx", &start, &end) != 2)
			continue;
		if (end <= candidate)
			continue;
		if (start >= candidate && start - candidate >= size)
			break;
		candidate = align_up((addr_t)end, alignment, &overflow);
		if (overflow || candidate >= upper)
			break;
	}
	fclose(maps);
	if (overflow || candidate >= upper || upper - candidate < size)
		return B_NO_MEMORY;
	*_gap = candidate;
	return B_OK;
}

/* Maps exactly at address, or fails with B_NO_MEMORY if any of the range is
 * in use. Never replaces an existing mapping. */
static status_t map_exactly(const struct mapping *mapping, addr_t address, addr_t *_base)
{
	void *result = mmap((void *)address, mapping->size, mapping->prot,
		mapping->flags | MAP_FIXED_NOREPLACE, mapping->fd, 0);

	if (result == MAP_FAILED)
		return errno == EEXIST ? B_NO_MEMORY : area_malloc_status_from_errno(errno);
	if ((addr_t)result != address) {
		/* A kernel older than 4.17 took the flag as a hint: the range
		 * was in use and the kernel put the mapping elsewhere. */
		munmap(result, mapping->size);
		return B_NO_MEMORY;
	}
	*_base = address;
	return B_OK;
}

static status_t map_in_free_gap(const struct mapping *mapping, addr_t lower, addr_t upper,
	size_t alignment, addr_t *_base)
{
	for (int attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
		addr_t gap;
		status_t status = find_free_gap(lower, upper, mapping->size, alignment, &gap);

		if (status != B_OK)
			return status;
		status = map_exactly(mapping, gap, _base);
		if (status != B_NO_MEMORY)
			return status;
		/* Another thread mapped into the gap: read the maps again. */
	}
	return B_NO_MEMORY;
}

static status_t map_anywhere(const struct mapping *mapping, addr_t *_base)
{
	void *result = mmap(NULL, mapping->size, mapping->prot, mapping->flags, mapping->fd, 0);

	if (result == MAP_FAILED)
		return area_malloc_status_from_errno(errno);
	*_base = (addr_t)result;
	return B_OK;
}

/* Reserves size + alignment - 1 page where the kernel likes, trims the
 * reservation to an aligned range, and maps the area over what is left. */
static status_t map_aligned_anywhere(const struct mapping *mapping, size_t alignment, addr_t *_base)
{
	size_t slack = alignment - B_PAGE_SIZE;
	size_t reservation_size;
	void *reservation;
	addr_t start, aligned, end;
	bool overflow;
	void *result;

	if (mapping->size > SIZE_MAX - slack)
		return B_NO_MEMORY;
	reservation_size = mapping->size + slack;
	reservation = mmap(NULL, reservation_size, PROT_NONE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reservation == MAP_FAILED)
		return area_malloc_status_from_errno(errno);
	start = (addr_t)reservation;
	end = start + reservation_size;
	aligned = align_up(start, alignment, &overflow);
	if (aligned > start)
		munmap(reservation, aligned - start);
	if (end > aligned + mapping->size)
		munmap((void *)(aligned + mapping->size), end - (aligned + mapping->size));

	/* MAP_FIXED is safe here: the range is this call's own reservation. */
	result = mmap((void *)aligned, mapping->size, mapping->prot, mapping->flags | MAP_FIXED,
		mapping->fd, 0);
	if (result == MAP_FAILED) {
		status_t status = area_malloc_status_from_errno(errno);

		munmap((void *)aligned, mapping->size);
		return status;
	}
	*_base = aligned;
	return B_OK;
}

/* The smallest power of two >= size, or 0 if there is none in a size_t. */
static size_t block_alignment(size_t size)
{
	size_t alignment = B_PAGE_SIZE;

	while (alignment < size) {
		if (alignment > SIZE_MAX / 2)
			return 0;
		alignment <<= 1;
	}
	return alignment;
}

static status_t place_area(const struct mapping *mapping, uint32 address_spec, addr_t start,
	bool below_4_gib, addr_t *_base)
{
	addr_t lower = lowest_mappable_address();
	addr_t upper = below_4_gib ? LOW_MEMORY_END : USER_ADDRESS_END;
	size_t alignment;

	switch (address_spec) {
	case B_EXACT_ADDRESS:
		if (start < lower)
			return B_BAD_ADDRESS;
		if (below_4_gib && (start >= upper || upper - start < mapping->size))
			return B_BAD_VALUE;
		return map_exactly(mapping, start, _base);
	case B_BASE_ADDRESS:
	case B_RANDOMIZED_BASE_ADDRESS:
		return map_in_free_gap(mapping, start > lower ? start : lower, upper, B_PAGE_SIZE,
			_base);
	case B_ANY_KERNEL_BLOCK_ADDRESS:
		alignment = block_alignment(mapping->size);
		if (alignment == 0)
			return B_NO_MEMORY;
		if (below_4_gib)
			return map_in_free_gap(mapping, lower, upper, alignment, _base);
		return map_aligned_anywhere(mapping, alignment, _base);
	default:
		if (below_4_gib)
			return map_in_free_gap(mapping, lower, upper, B_PAGE_SIZE, _base);
		return map_anywhere(mapping, _base);
	}
}

static void report_lock_refusal(const char *name, int error)
{
	if (atomic_flag_test_and_set(&lock_refusal_reported))
		return;
	dprintf("area_malloc: Linux refused to lock area \"%s\" in memory (%s); "
		"locked areas are created populated but unlocked. Raise RLIMIT_MEMLOCK "
		"(ulimit -l) or grant CAP_IPC_LOCK to lock them. (Reported once.)\n",
		name, strerror(error));
}

/* Locks the area's pages as its lock specification asks; returns whether
 * they are locked. A refusal leaves the area usable, only unlocked. */
static bool lock_area_pages(const struct area *area)
{
	int result, error;

	/* Raw system calls: AddressSanitizer replaces mlock() and munlock()
	 * with no-ops that report success, and the registry must record what
	 * the kernel did. */
	switch (area->lock) {
	case B_NO_LOCK:
		return false;
	case B_LAZY_LOCK:
		result = (int)syscall(SYS_mlock2, area->base, area->size, MLOCK_ONFAULT);
		break;
	default:
		result = (int)syscall(SYS_mlock, area->base, area->size);
		break;
	}
	if (result == 0)
		return true;
	error = errno;

	/* A failure part way may have locked some pages: leave none locked,
	 * so that the state is what area_malloc_area_pages_locked() says. */
	syscall(SYS_munlock, area->base, area->size);
	report_lock_refusal(area->name, error);
	return false;
}

static status_t validate_request(const char *name, void **start_address, uint32 address_spec,
	size_t size, uint32 lock)
{
	if (name == NULL || start_address == NULL)
		return B_BAD_VALUE;
	if (address_spec > B_RANDOMIZED_BASE_ADDRESS || address_spec == B_CLONE_ADDRESS)
		return B_BAD_VALUE;
	if (lock >= LOCK_SPEC_COUNT)
		return B_BAD_VALUE;
	if (size == 0 || size % B_PAGE_SIZE != 0)
		return B_BAD_VALUE;
	if (size > USER_ADDRESS_END)
		return B_NO_MEMORY;
	if (address_spec == B_EXACT_ADDRESS || address_spec == B_BASE_ADDRESS
		|| address_spec == B_RANDOMIZED_BASE_ADDRESS) {
		addr_t start = (addr_t)*start_address;

		if (start % B_PAGE_SIZE != 0)
			return B_BAD_VALUE;
		if (address_spec == B_EXACT_ADDRESS && start + size < start)
			return B_BAD_VALUE;
	}
	if (lock_traits[lock].populate && exceeds_available_memory(size))
		return B_NO_MEMORY;
	return B_OK;
}

/* Index of the first area whose id is >= id. Caller holds registry_lock. */
static size_t index_by_id(area_id id)
{
	size_t low = 0, high = area_count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (areas_by_id[middle]->id < id)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

/* Index of the first area whose base is > address. Caller holds registry_lock. */
static size_t index_after_address(addr_t address)
{
	size_t low = 0, high = area_count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;

		if (areas_by_base[middle]->base <= address)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

/* The area with this id, or NULL. Caller holds registry_lock. */
static struct area *lookup_area(area_id id)
{
	size_t index = index_by_id(id);

	if (index < area_count && areas_by_id[index]->id == id)
		return areas_by_id[index];
	return NULL;
}

static bool grow_registry(void)
{
	size_t capacity = area_capacity != 0 ? area_capacity * 2 : 64;
	struct area **by_id, **by_base;

	by_id = realloc(areas_by_id, capacity * sizeof(*by_id));
	if (by_id == NULL)
		return false;
	areas_by_id = by_id;
	by_base = realloc(areas_by_base, capacity * sizeof(*by_base));
	if (by_base == NULL)
		return false;
	areas_by_base = by_base;
	area_capacity = capacity;
	return true;
}

/* Gives the area its id and links it into both arrays. */
static status_t register_area(struct area *area)
{
	status_t status = B_OK;

	mutex_lock(&registry_lock);
	if (last_area_id == INT32_MAX || (area_count == area_capacity && !grow_registry())) {
		status = B_NO_MEMORY;
	} else {
		size_t base_index = index_after_address(area->base);

		area->id = ++last_area_id;
		areas_by_id[area_count] = area;
		memmove(&areas_by_base[base_index + 1], &areas_by_base[base_index],
			(area_count - base_index) * sizeof(*areas_by_base));
		areas_by_base[base_index] = area;
		area_count++;
	}
	mutex_unlock(&registry_lock);
	return status;
}

/* Unlinks the area with this id and returns it, or NULL. Caller holds registry_lock. */
static struct area *unregister_area(area_id id)
{
	size_t id_index = index_by_id(id);
	size_t base_index;
	struct area *area;

	if (id_index >= area_count || areas_by_id[id_index]->id != id)
		return NULL;
	area = areas_by_id[id_index];
	base_index = index_after_address(area->base) - 1;
	memmove(&areas_by_id[id_index], &areas_by_id[id_index + 1],
		(area_count - id_index - 1) * sizeof(*areas_by_id));
	memmove(&areas_by_base[base_index], &areas_by_base[base_index + 1],
		(area_count - base_index - 1) * sizeof(*areas_by_base));
	area_count--;
	return area;
}

static area_id create_mapped_area(const char *name, void **startAddress, uint32 addressSpec,
	size_t size, uint32 lock, uint32 protection, int fd)
{
	struct mapping mapping;
	struct area *area;
	status_t status;

	status = validate_request(name, startAddress, addressSpec, size, lock);
	if (status != B_OK)
		return status;

	area = calloc(1, sizeof(*area));
	if (area == NULL)
		return B_NO_MEMORY;
	copy_area_name(area->name, name);
	area->size = size;
	area->lock = lock;
	area->protection = protection;

	mapping.size = size;
	mapping.prot = protection_to_prot(protection);
	mapping.fd = fd;
	mapping.flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
	if (lock == B_NO_LOCK)
		mapping.flags |= MAP_NORESERVE;
	if (lock_traits[lock].populate)
		mapping.flags |= MAP_POPULATE;

	status = place_area(&mapping, addressSpec, (addr_t)*startAddress,
		lock_traits[lock].below_4_gib, &area->base);
	if (status != B_OK) {
		free(area);
		return status;
	}
	area->pages_locked = lock_area_pages(area);

	status = register_area(area);
	if (status != B_OK) {
		munmap((void *)area->base, area->size);
		free(area);
		return status;
	}
	*startAddress = (void *)area->base;
	return area->id;
}

area_id create_area(const char *name, void **startAddress, uint32 addressSpec, size_t size,
	uint32 lock, uint32 protection)
{
	return create_mapped_area(name, startAddress, addressSpec, size, lock, protection, -1);
}

area_id area_malloc_create_file_area(const char *name, void **startAddress, uint32 addressSpec,
	size_t size, uint32 lock, uint32 protection, int fd)
{
	if (fd < 0)
		return B_BAD_VALUE;
	return create_mapped_area(name, startAddress, addressSpec, size, lock, protection, fd);
}

/* Where an area lies, and whether its pages are locked; false: no such area. */
bool area_malloc_area_geometry(area_id id, addr_t *base, size_t *size, bool *relock)
{
	struct area *area;

	mutex_lock(&registry_lock);
	area = lookup_area(id);
	if (area != NULL) {
		*base = area->base;
		*size = area->size;
		*relock = area->pages_locked;
	}
	mutex_unlock(&registry_lock);
	return area != NULL;
}

status_t delete_area(area_id id)
{
	struct area *area;

	mutex_lock(&registry_lock);
	area = unregister_area(id);
	mutex_unlock(&registry_lock);
	if (area == NULL)
		return B_BAD_VALUE;
	munmap((void *)area->base, area->size);
	free(area);
	return B_OK;
}

area_id area_for(void *address)
{
	area_id id = B_ERROR;
	size_t index;

	mutex_lock(&registry_lock);
	index = index_after_address((addr_t)address);
	if (index > 0) {
		const struct area *area = areas_by_base[index - 1];

		if ((addr_t)address - area->base < area->size)
			id = area->id;
	}
	mutex_unlock(&registry_lock);
	return id;
}

area_id find_area(const char *name)
{
	char wanted[B_OS_NAME_LENGTH];
	area_id id = B_NAME_NOT_FOUND;

	if (name == NULL)
		return B_BAD_VALUE;
	copy_area_name(wanted, name);

	mutex_lock(&registry_lock);
	for (size_t i = 0; i < area_count; i++) {
		if (strcmp(areas_by_id[i]->name, wanted) == 0) {
			id = areas_by_id[i]->id;
			break;
		}
	}
	mutex_unlock(&registry_lock);
	return id;
}

/* Bytes of [base, base + size) that are resident, by mincore(). Stops
 * counting at an error (the range was unmapped under us). */
static size_t resident_bytes(addr_t base, size_t size)
{
	unsigned char residency[4096];
	size_t page_size = (size_t)sysconf(_SC_PAGESIZE);
	size_t page_count = (size + page_size - 1) / page_size;
	size_t resident = 0;

	for (size_t done = 0; done < page_count;) {
		size_t chunk = page_count - done;

		if (chunk > sizeof(residency))
			chunk = sizeof(residency);
		if (mincore((void *)(base + done * page_size), chunk * page_size, residency) != 0)
			break;
		for (size_t i = 0; i < chunk; i++)
			resident += residency[i] & 1;
		done += chunk;
	}
	return resident * page_size;
}

/* Fills info from a copy of an area taken under registry_lock; runs unlocked,
 * since mincore() of a large area takes a while. */
static void fill_area_info(const struct area *area, area_info *info)
{
	size_t resident = resident_bytes(area->base, area->size);

	memset(info, 0, sizeof(*info));
	info->area = area->id;
	memcpy(info->name, area->name, sizeof(info->name));
	info->size = area->size;
	info->lock = area->lock;
	info->protection = area->protection;
	info->team = getpid();
	info->ram_size = resident > UINT32_MAX ? UINT32_MAX : (uint32)resident;
	info->copy_count = 0;
	info->in_count = 0;
	info->out_count = 0;
	info->address = (void *)area->base;
}

status_t _get_area_info(area_id id, area_info *info, size_t size)
{
	struct area copy;
	const struct area *area;

	if (info == NULL || size != sizeof(area_info))
		return B_BAD_VALUE;
	mutex_lock(&registry_lock);
	area = lookup_area(id);
	if (area != NULL)
		copy = *area;
	mutex_unlock(&registry_lock);
	if (area == NULL)
		return B_BAD_VALUE;
	fill_area_info(&copy, info);
	return B_OK;
}

/* The cookie holds the id last returned (0 before the first call), so the
 * iteration survives areas created or deleted between calls. */
status_t _get_next_area_info(team_id team, ssize_t *cookie, area_info *info, size_t size)
{
	struct area copy;
	size_t index;
	bool found;

	if (cookie == NULL || *cookie < 0 || info == NULL || size != sizeof(area_info))
		return B_BAD_VALUE;
	if (team != 0 && team != getpid())
		return B_BAD_TEAM_ID;
	if (*cookie >= INT32_MAX)
		return B_BAD_VALUE;

	mutex_lock(&registry_lock);
	index = index_by_id((area_id)*cookie + 1);
	found = index < area_count;
	if (found)
		copy = *areas_by_id[index];
	mutex_unlock(&registry_lock);
	if (!found)
		return B_BAD_VALUE;
	*cookie = copy.id;
	fill_area_info(&copy, info);
	return B_OK;
}

status_t area_malloc_area_pages_locked(area_id id, bool *_locked)
{
	const struct area *area;

	if (_locked == NULL)
		return B_BAD_VALUE;
	mutex_lock(&registry_lock);
	area = lookup_area(id);
	if (area != NULL)
		*_locked = area->pages_locked;
	mutex_unlock(&registry_lock);
	return area != NULL ? B_OK : B_BAD_VALUE;
}
