/*
 * bench_scan.c - the reachability scan's figures (issue 16: "make bench
 * reports the scan time for 1M live blocks and for 1 GiB of populated
 * memory, goal under 1 s each"), measured in a child of the debug column
 * through the companion's scan_leaks (area_malloc/debug/v2), every pool:
 *
 *   scan_blocks_s      one scan of a process holding SCAN_BLOCKS live
 *                      16-byte blocks of one pool, their pointers in a
 *                      malloc'd array (a root): every block is reached and
 *                      its bytes scanned; scan_blocks: how many it held
 *                      (fewer when the pool filled first), scan_blocks_lost:
 *                      how many the scan did not find referenced (0);
 *   scan_memory_s      one scan of a process with SCAN_MEMORY_BYTES of
 *                      populated anonymous memory (a root, written with a
 *                      word that points nowhere) and one live block;
 *                      scan_memory_bytes: its size.
 *
 * Each time is the median of SCAN_ROUNDS scans; --scale scales both sizes
 * (a smoke run scans a fraction). Everything is freed and the pool deleted
 * before the child exits: its exit-time scan and report find nothing.
 *
 * Locking: single-threaded (the scan stops no other thread: there is none).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <KernelExport.h>
#include <drivers/area_malloc_debug.h>

#include "bench.h"

#define SCAN_BLOCKS ((size_t)1000000)
#define SCAN_BLOCK_BYTES 16
#define SCAN_POOL_BYTES ((size_t)512 << 20)
#define SCAN_MEMORY_BYTES ((size_t)1 << 30)
#define SCAN_ROUNDS 3

/* The median time of SCAN_ROUNDS scans of every pool, in seconds; *lost:
 * the blocks the last one found unreferenced or indirectly lost. */
static double time_scans(area_malloc_debug_module_info_v2 *debug, size_t *lost)
{
	double seconds[SCAN_ROUNDS];
	area_malloc_scan_result result;

	for (int round = 0; round < SCAN_ROUNDS; round++) {
		uint64_t start = bench_now_ns();
		if (debug->scan_leaks(NULL, &result) != B_OK) {
			fprintf(stderr, "bench: scan_leaks failed\n");
			exit(EXIT_FAILURE);
		}
		seconds[round] = (double)(bench_now_ns() - start) / 1e9;
	}
	*lost = result.unreferenced_blocks + result.indirect_blocks;
	return bench_median(seconds, SCAN_ROUNDS);
}

static void scan_live_blocks(const struct bench_allocator *allocator,
	area_malloc_debug_module_info_v2 *debug)
{
	size_t wanted = bench_scaled(SCAN_BLOCKS), held = 0, lost;
	const void *pool = bench_pool_open(allocator, SCAN_POOL_BYTES);
	void **blocks = malloc(wanted * sizeof(*blocks));
	double seconds;

	if (blocks == NULL) {
		perror("bench: malloc");
		exit(EXIT_FAILURE);
	}
	while (held < wanted
		&& (blocks[held] = allocator->allocate(pool, SCAN_BLOCK_BYTES)) != NULL)
		held++;
	seconds = time_scans(debug, &lost);
	bench_emit("scan_blocks_s", seconds);
	bench_emit("scan_blocks", (double)held);
	bench_emit("scan_blocks_lost", (double)lost);
	for (size_t i = 0; i < held; i++)
		allocator->release(pool, blocks[i]);
	free(blocks);
	bench_pool_close(allocator, pool);
}

static void scan_populated_memory(const struct bench_allocator *allocator,
	area_malloc_debug_module_info_v2 *debug)
{
	size_t bytes = bench_scaled(SCAN_MEMORY_BYTES), lost;
	const void *pool = bench_pool_open(allocator, (size_t)1 << 20);
	void *block = allocator->allocate(pool, SCAN_BLOCK_BYTES);
	char *memory =
		mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double seconds;

	if (memory == MAP_FAILED || block == NULL) {
		perror("bench: mmap");
		exit(EXIT_FAILURE);
	}
	/* every page populated, every word the same non-pointer */
	memset(memory, 0x5a, bytes);
	seconds = time_scans(debug, &lost);
	bench_emit("scan_memory_s", seconds);
	bench_emit("scan_memory_bytes", (double)bytes);
	munmap(memory, bytes);
	allocator->release(pool, block);
	bench_pool_close(allocator, pool);
}

void bench_run_scan_figures(const struct bench_allocator *allocator)
{
	area_malloc_debug_module_info_v2 *debug;

	/* only the debug module has the scan */
	if (get_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME, (module_info **)&debug) != B_OK)
		return;
	scan_live_blocks(allocator, debug);
	scan_populated_memory(allocator, debug);
	put_module(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME);
}
