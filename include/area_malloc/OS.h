/*
 * OS.h - the part of Haiku's kernel kit that area_malloc needs: areas,
 * and the thread and time calls a driver uses beside them.
 *
 * Names and values follow Haiku's headers/os/kernel/OS.h. The Linux meaning
 * of every address and lock specification is documented in area_malloc(3).
 */
#ifndef _AREA_MALLOC_OS_H
#define _AREA_MALLOC_OS_H

#include <SupportDefs.h>

#ifdef __cplusplus
extern "C" {
#endif

#define B_OS_NAME_LENGTH 32
#define B_PAGE_SIZE 4096
#define B_INFINITE_TIMEOUT (9223372036854775807LL)

typedef int32 area_id;
typedef int32 port_id;
typedef int32 sem_id;
typedef int32 team_id;
typedef int32 thread_id;
typedef int32 image_id;

/* Address specifications for create_area() */
#define B_ANY_ADDRESS 0
#define B_EXACT_ADDRESS 1
#define B_BASE_ADDRESS 2
#define B_CLONE_ADDRESS 3
#define B_ANY_KERNEL_ADDRESS 4
/* B_ANY_KERNEL_BLOCK_ADDRESS (5) is declared in KernelExport.h, as on Haiku */
#define B_RANDOMIZED_ANY_ADDRESS 6
#define B_RANDOMIZED_BASE_ADDRESS 7

/* Lock specifications for create_area() */
#define B_NO_LOCK 0
#define B_LAZY_LOCK 1
#define B_FULL_LOCK 2
#define B_CONTIGUOUS 3
#define B_LOMEM 4
#define B_32_BIT_FULL_LOCK 5
#define B_32_BIT_CONTIGUOUS 6

/* Area protection bits */
#define B_READ_AREA (1 << 0)
#define B_WRITE_AREA (1 << 1)
#define B_EXECUTE_AREA (1 << 2)
#define B_STACK_AREA (1 << 3)
#define B_CLONEABLE_AREA (1 << 8)

typedef struct area_info {
	area_id area;
	char name[B_OS_NAME_LENGTH];
	size_t size;
	uint32 lock;
	uint32 protection;
	team_id team;
	uint32 ram_size;
	uint32 copy_count;
	uint32 in_count;
	uint32 out_count;
	void *address;
} area_info;

area_id create_area(const char *name, void **startAddress, uint32 addressSpec, size_t size,
	uint32 lock, uint32 protection);
status_t delete_area(area_id area);
area_id area_for(void *address);
area_id find_area(const char *name);
status_t _get_area_info(area_id area, area_info *info, size_t size);
status_t _get_next_area_info(team_id team, ssize_t *cookie, area_info *info, size_t size);

#define get_area_info(area, info) _get_area_info((area), (info), sizeof(*(info)))
#define get_next_area_info(team, cookie, info)                                                     \
	_get_next_area_info((team), (cookie), (info), sizeof(*(info)))

/* The calling thread's id (name must be NULL here), and time in microseconds. */
thread_id find_thread(const char *name);
bigtime_t system_time(void);
status_t snooze(bigtime_t amount);

#ifdef __cplusplus
}
#endif

#endif /* _AREA_MALLOC_OS_H */
