/*
 * leak_scan.c - one in-process reachability scan (leak_scan.h) from start
 * to end:
 *   1. the live pools are listed and acquired (they cannot go meanwhile);
 *   2. inside a dl_iterate_phdr callback (the loader's lock held, so no
 *      image comes or goes), every pool is locked and its intact LIVE
 *      blocks are listed, pool by pool in address order, so already
 *      sorted, into memory mapped for the scan (a damaged pool is left
 *      out);
 *   3. the other threads are stopped; their registers, their stacks from
 *      their stack pointers up, the images' writable segments and the
 *      process's other populated writable mappings are scanned; the blocks
 *      left are classified; the threads are resumed;
 *   4. the pools are unlocked and released.
 * Between the stop and the resume nothing here allocates, prints or takes
 * a lock: the stopped threads may hold malloc's, stdio's or the
 * symbolizer's.
 *
 * Blocks the driver marked as roots (not_leak, kmemleak_not_leak's) are
 * kept in marked[] as their address inverted (so the list itself is no
 * pointer to them for the scan) with their sequence and time: a mark whose
 * block was freed (the address no longer holds that block) is dropped by
 * the next scan. A guarded block's sequence and time come from its slot
 * (block_identity), never from before it, which may be a protected page.
 *
 * Invariants: the result's blocks are sorted by start (pools are visited
 * by address, a heap walk is in address order, pools do not overlap).
 *
 * Locking: scan_mutex, then the loader's lock, then every pool's lock in
 * registry order (the fork handlers' order; a driver's thread holds at
 * most one pool's lock and waits for no other), then marked_mutex (a
 * leaf, released before the threads are stopped). docs/ARCHITECTURE.md
 * has the whole order.
 */
#include "config.h"

#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "debug/debug_internal.h"
#include "debug/guarded.h"
#include "debug/leak_scan.h"
#include "debug/leak_scan_internal.h"

/* Room for the holes that are not pools: the scan's memory, the stop's,
 * the shadow, and the writable segments of the images. */
#define SCAN_HOLES_EXTRA 4096
#define SCAN_TEXT_BYTES (64 * 1024)
/* mincore's vector: 256 MiB of 4 KiB pages a call */
#define SCAN_RESIDENCY_PAGES (64 * 1024)
/* Bytes below a stopped thread's stack pointer a leaf function may use
 * (the x86-64 ABI's red zone). */
#define SCAN_RED_ZONE 128

static pthread_mutex_t scan_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Blocks marked as roots: at most this many at once. */
#define SCAN_MAX_MARKED 4096

struct marked_root {
	uintptr_t inverted; /* ~address */
	uint32_t sequence;
	int64_t time;
};

static pthread_mutex_t marked_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct marked_root marked[SCAN_MAX_MARKED];
static size_t marked_count;
/* The blocks (indexes) the marks name in the current scan. */
static uint32_t marked_index[SCAN_MAX_MARKED];
static size_t marked_index_count;

struct scan_pool {
	const void *id;
	struct pool *pool;
	bool locked;
};

struct leak_scan {
	void *arena;
	size_t arena_bytes;
	struct scan_engine engine;
	struct scan_block *blocks;
	size_t count;
	size_t capacity;
	size_t unscanned_threads;
	char note[256];
};

struct scan_run {
	struct leak_scan *scan;
	struct scan_pool *pools; /* registry order */
	size_t *by_address;      /* indexes into pools, by address */
	size_t pool_count;
	bool interior;
	uintptr_t floor;
	bool done;
	bool failed; /* blocks to scan, and no memory to scan them with */
	struct stopped_world world;
};

/*
 * The pools, acquired, in registry order (the order the fork handlers lock
 * them in: a scan and a fork never wait on each other's pools), and
 * by_address, their indexes sorted by address (for the block list). NULL:
 * none, or out of memory.
 */
static struct scan_pool *acquire_pools(size_t *count, size_t **by_address)
{
	size_t id_count;
	const void **ids = debug_live_pool_ids(&id_count);
	struct scan_pool *pools;
	size_t n = 0;

	pools = id_count ? calloc(id_count, sizeof(*pools)) : NULL;
	*by_address = id_count ? calloc(id_count, sizeof(**by_address)) : NULL;
	if (pools == NULL || *by_address == NULL) {
		free(pools);
		free(*by_address);
		*by_address = NULL;
		pools = NULL;
	}
	for (size_t i = 0; pools != NULL && i < id_count; i++) {
		struct pool *pool = acquire_for_query(ids[i]);
		size_t at = n;
		if (pool == NULL)
			continue; /* deleted meanwhile */
		pools[n] = (struct scan_pool){ ids[i], pool, false };
		while (at > 0
			&& (uintptr_t)pools[(*by_address)[at - 1]].pool->base
				> (uintptr_t)pool->base) {
			(*by_address)[at] = (*by_address)[at - 1];
			at--;
		}
		(*by_address)[at] = n;
		n++;
	}
	free(ids);
	*count = n;
	return pools;
}

static void release_pools(struct scan_pool *pools, size_t *by_address, size_t count)
{
	for (size_t i = 0; i < count; i++)
		pool_registry_release(pools[i].id);
	free(pools);
	free(by_address);
}

static const uintptr_t *own_words(void *context, uintptr_t address, size_t count,
	uintptr_t *scratch)
{
	(void)context;
	(void)count;
	(void)scratch;
	return (const uintptr_t *)address;
}

static const struct scan_reader own_memory = { own_words, NULL };

static void collect_block(void *chunk, size_t usable, bool used, void *context)
{
	struct leak_scan *scan = context;
	struct debug_block_header *header = chunk;

	if (!used || scan->count == scan->capacity)
		return;
	block_open(header, usable);
	if (debug_block_header_ok(&debug_layout, header, usable)
		&& debug_block_state(header) == BLOCK_LIVE) {
		uintptr_t user = (uintptr_t)debug_block_user(&debug_layout, header);
		scan->blocks[scan->count++] = (struct scan_block){ user, user + header->size };
	}
	block_close(header, usable);
}

/* A live guarded block (guarded.h) is a block like any other: reached,
 * read, reported by its verdict. Its data pages are accessible. */
static void collect_guarded_block(const void *user, size_t size, const area_malloc_owner *owner,
	uint32_t stack, void *context)
{
	struct leak_scan *scan = context;

	(void)owner;
	(void)stack;
	if (scan->count < scan->capacity)
		scan->blocks[scan->count++] =
			(struct scan_block){ (uintptr_t)user, (uintptr_t)user + size };
}

static int compare_block_starts(const void *a, const void *b)
{
	const struct scan_block *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static size_t align_up(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

/* Maps the scan's memory for up to capacity blocks; false: none. */
static bool map_arena(struct scan_run *run, struct scan_roots *roots, size_t capacity)
{
	struct leak_scan *scan = run->scan;
	size_t blocks = align_up(capacity * sizeof(struct scan_block));
	size_t states = align_up(capacity);
	size_t stack = align_up(capacity * sizeof(uint32_t));
	size_t holes = align_up((run->pool_count + SCAN_HOLES_EXTRA) * sizeof(struct scan_range));
	char *arena;

	scan->arena_bytes =
		blocks + states + stack + holes + SCAN_TEXT_BYTES + SCAN_RESIDENCY_PAGES;
	arena = mmap(NULL, scan->arena_bytes, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED) {
		scan->arena = NULL;
		return false;
	}
	scan->arena = arena;
	scan->blocks = (struct scan_block *)arena;
	scan->capacity = capacity;
	scan_engine_init(&scan->engine, scan->blocks, (uint8_t *)(arena + blocks),
		(uint32_t *)(arena + blocks + states), 0, run->interior, &own_memory);
	roots->holes = (struct scan_range *)(arena + blocks + states + stack);
	roots->hole_capacity = run->pool_count + SCAN_HOLES_EXTRA;
	roots->text = arena + blocks + states + stack + holes;
	roots->text_size = SCAN_TEXT_BYTES;
	roots->residency = (unsigned char *)roots->text + SCAN_TEXT_BYTES;
	roots->residency_pages = SCAN_RESIDENCY_PAGES;
	return true;
}

/*
 * The sequence and time of the listed block at user: a guarded block's from
 * its slot (guarded.h: the bytes before it may lie on a protected page, and
 * it has no header), any other's from its header. With every pool locked.
 */
static void block_identity(const struct scan_run *run, uintptr_t user, uint32_t *sequence,
	int64_t *time)
{
	struct debug_block_header copy;

	for (size_t i = 0; i < run->pool_count; i++) {
		area_malloc_owner owner;
		if (!guarded_holds(run->pools[i].pool, (const void *)user))
			continue;
		if (!guarded_owner_of(run->pools[i].pool, (const void *)user, &owner))
			break;
		*sequence = owner.sequence;
		*time = owner.time;
		return;
	}
	peek_header(debug_block_from_user(&debug_layout, (void *)user), &copy);
	*sequence = copy.sequence;
	*time = copy.time;
}

/* Which listed blocks the marks name; drops the marks of blocks gone. */
static void find_marked_blocks(const struct scan_run *run)
{
	struct leak_scan *scan = run->scan;
	size_t kept = 0;

	marked_index_count = 0;
	pthread_mutex_lock(&marked_mutex);
	for (size_t i = 0; i < marked_count; i++) {
		uintptr_t user = ~marked[i].inverted;
		size_t index = scan_engine_find(&scan->engine, user);
		uint32_t sequence;
		int64_t time;
		if (index == SIZE_MAX || scan->blocks[index].start != user)
			continue;
		block_identity(run, user, &sequence, &time);
		if (sequence != marked[i].sequence || time != marked[i].time)
			continue;
		marked[kept++] = marked[i];
		marked_index[marked_index_count++] = (uint32_t)index;
	}
	marked_count = kept;
	pthread_mutex_unlock(&marked_mutex);
}

bool leak_scan_mark_root(const void *user, uint32_t sequence, int64_t time)
{
	bool done = false;

	pthread_mutex_lock(&marked_mutex);
	for (size_t i = 0; i < marked_count && !done; i++)
		done = marked[i].inverted == ~(uintptr_t)user && marked[i].sequence == sequence
			&& marked[i].time == time;
	if (!done && marked_count < SCAN_MAX_MARKED) {
		marked[marked_count++] = (struct marked_root){ ~(uintptr_t)user, sequence, time };
		done = true;
	}
	pthread_mutex_unlock(&marked_mutex);
	return done;
}

/* Steps 2 and 3, with every pool locked. */
static void scan_locked(struct scan_run *run, struct scan_roots *roots)
{
	struct leak_scan *scan = run->scan;
	struct scan_range own[2];
	size_t capacity = 0, own_count;

	/* the module's own count of live blocks (D3), kept beside the heap: the
	 * heap's statistics follow free-list links, which a driver's overflow
	 * into free memory may have damaged (collect_block stops at capacity) */
	for (size_t i = 0; i < run->pool_count; i++) {
		area_malloc_pool_stats stats = { 0 };
		/* the guarded ones too (guarded.h): stats holds them alone */
		guarded_add_stats(run->pools[i].pool, &stats);
		capacity += debug_of(run->pools[i].pool)->d.live_blocks + stats.live_blocks;
	}
	if (capacity == 0)
		return;
	if (!map_arena(run, roots, capacity)) {
		run->failed = true;
		return;
	}
	for (size_t i = 0; i < run->pool_count; i++) {
		struct pool *pool = run->pools[run->by_address[i]].pool;
		size_t first = scan->count;
		roots_add_hole(roots, (uintptr_t)pool->base,
			(uintptr_t)pool->base + pool->area_size);
		/* the guard region lies below the heap; its blocks in address order */
		guarded_for_each_live(pool, false, collect_guarded_block, scan);
		qsort(scan->blocks + first, scan->count - first, sizeof(*scan->blocks),
			compare_block_starts);
		first = scan->count;
		/* a damaged heap is not followed: its blocks are left out */
		if (heap_damaged(pool->heap, NULL)
			|| !heap_walk(pool->heap, collect_block, scan, NULL))
			scan->count = first;
	}
	scan->engine.count = scan->count;
	find_marked_blocks(run);
	roots_add_hole(roots, (uintptr_t)scan->arena, (uintptr_t)scan->arena + scan->arena_bytes);
	own_count = world_own_memory(own);
	for (size_t i = 0; i < own_count; i++)
		roots_add_hole(roots, own[i].start, own[i].end);

	world_stop(&run->world);
	for (size_t i = 0; i < run->world.count; i++) {
		const struct stopped_thread *thread = &run->world.threads[i];
		scan_engine_root(&scan->engine, (uintptr_t)thread->regs,
			(uintptr_t)(thread->regs + thread->reg_count));
		roots->floors[roots->floor_count++] = thread->sp - SCAN_RED_ZONE;
	}
	roots->floors[roots->floor_count++] = run->floor;
	for (size_t i = 0; i < marked_index_count; i++)
		scan_engine_root_block(&scan->engine, marked_index[i]);
	roots_scan_images(roots, &scan->engine);
	roots_scan_mappings(roots, &scan->engine);
	scan_engine_classify(&scan->engine);
	world_resume(&run->world);
	run->done = true;
}

/* dl_iterate_phdr's callback: the loader's lock is held while it runs. */
static int scan_with_images_held(struct dl_phdr_info *info, size_t size, void *context)
{
	struct scan_run *run = context;
	struct scan_roots roots;

	(void)info;
	(void)size;
	if (run->done)
		return 1;
	memset(&roots, 0, sizeof(roots));
	for (size_t i = 0; i < run->pool_count; i++)
		run->pools[i].locked = debug_lock(run->pools[i].pool);
	scan_locked(run, &roots);
	for (size_t i = run->pool_count; i-- > 0;)
		debug_unlock(run->pools[i].pool, run->pools[i].locked);
	run->done = true;
	return 1;
}

static void describe_unscanned(struct leak_scan *scan, const struct stopped_world *world)
{
	size_t used;

	if (world->signal_taken) {
		snprintf(scan->note, sizeof(scan->note),
			"threads not stopped: signal %d has another handler; their stacks were "
			"scanned whole",
			LEAK_SCAN_SIGNAL);
		return;
	}
	scan->unscanned_threads = world->unstopped;
	if (world->unstopped == 0)
		return;
	used = (size_t)snprintf(scan->note, sizeof(scan->note),
		"%zu thread(s) did not stop and were not scanned (their stacks were scanned "
		"whole):",
		world->unstopped);
	for (size_t i = 0; i < world->unstopped && i < WORLD_MAX_NAMED && used < sizeof(scan->note);
		i++)
		used += (size_t)snprintf(scan->note + used, sizeof(scan->note) - used, " T%d",
			(int)world->unstopped_tids[i]);
}

struct leak_scan *leak_scan_run(bool interior, uintptr_t floor)
{
	struct scan_run run;

	memset(&run, 0, sizeof(run));
	run.scan = calloc(1, sizeof(*run.scan));
	if (run.scan == NULL)
		return NULL;
	run.interior = interior;
	run.floor = floor;
	pthread_mutex_lock(&scan_mutex);
	run.pools = acquire_pools(&run.pool_count, &run.by_address);
	if (run.pools != NULL)
		dl_iterate_phdr(scan_with_images_held, &run);
	release_pools(run.pools, run.by_address, run.pool_count);
	pthread_mutex_unlock(&scan_mutex);
	if (run.failed) {
		leak_scan_free(run.scan);
		return NULL;
	}
	describe_unscanned(run.scan, &run.world);
	return run.scan;
}

enum leak_reach leak_scan_reach(const struct leak_scan *scan, const void *user)
{
	size_t index;

	if (scan == NULL || scan->count == 0)
		return LEAK_REACH_UNKNOWN;
	/* the start, whatever interior said: a block allocated since the
	 * scan is unknown, not another block's inside */
	for (index = scan_engine_find(&scan->engine, (uintptr_t)user);
		index != SIZE_MAX && scan->blocks[index].start == (uintptr_t)user;) {
		switch (scan->engine.state[index]) {
		case SCAN_REACHED:
			return LEAK_REACH_REFERENCED;
		case SCAN_INDIRECT:
			return LEAK_REACH_INDIRECT;
		case SCAN_UNREFERENCED:
			return LEAK_REACH_UNREFERENCED;
		default:
			return LEAK_REACH_UNKNOWN;
		}
	}
	return LEAK_REACH_UNKNOWN;
}

void leak_scan_count(const struct leak_scan *scan, uintptr_t low, uintptr_t high,
	area_malloc_scan_result *result)
{
	memset(result, 0, sizeof(*result));
	for (size_t i = 0; scan != NULL && i < scan->count; i++) {
		const struct scan_block *block = &scan->blocks[i];
		size_t bytes = block->end - block->start;
		if (block->start < low || block->start >= high)
			continue;
		switch (scan->engine.state[i]) {
		case SCAN_REACHED:
			result->referenced_bytes += bytes;
			result->referenced_blocks++;
			break;
		case SCAN_INDIRECT:
			result->indirect_bytes += bytes;
			result->indirect_blocks++;
			break;
		default:
			result->unreferenced_bytes += bytes;
			result->unreferenced_blocks++;
		}
	}
	if (scan != NULL)
		result->unscanned_threads = scan->unscanned_threads;
}

const char *leak_scan_note(const struct leak_scan *scan)
{
	return scan != NULL && scan->note[0] != '\0' ? scan->note : NULL;
}

void leak_scan_free(struct leak_scan *scan)
{
	if (scan == NULL)
		return;
	if (scan->arena != NULL)
		munmap(scan->arena, scan->arena_bytes);
	free(scan);
}
