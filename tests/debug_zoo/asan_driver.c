/*
 * asan_driver.c - a driver built with -fsanitize=address, run under the
 * (uninstrumented) debug module: AddressSanitizer itself must catch its
 * bad accesses inside pool blocks at the faulting instruction, because the
 * module poisons headers, canaries, quarantined blocks and free space.
 * One scenario per run; each bad access is on a line tagged asan-site.
 */
#include <stdio.h>
#include <string.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>

static area_malloc_module_info *am;

int main(int argc, char **argv)
{
	const char *scenario = argc > 1 ? argv[1] : "clean";
	volatile char sink = 0;
	const void *pool;
	char *block, *other;

	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) != B_OK)
		return 99;
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, 1 << 20, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	block = am->malloc(pool, 100);
	other = am->calloc(pool, 10, 10);
	memset(block, 1, 100);
	if (strcmp(scenario, "overflow") == 0) {
		block[100] = 1; /* asan-site:overflow */
	} else if (strcmp(scenario, "underflow") == 0) {
		sink = block[-1]; /* asan-site:underflow */
	} else if (strcmp(scenario, "use-after-free") == 0) {
		am->free(pool, other);
		sink = other[5]; /* asan-site:use-after-free */
	} else if (strcmp(scenario, "free-space") == 0) {
		/* run with quarantine_bytes=0: the block goes straight back to the heap */
		am->free(pool, other);
		sink = other[5]; /* asan-site:free-space */
	} else {
		other = am->realloc(pool, other, 5000);
		memset(other, 2, 5000);
		am->free(pool, other);
	}
	(void)sink;
	am->free(pool, block);
	am->delete_pool(pool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
	puts("asan_driver: done");
	return 0;
}
