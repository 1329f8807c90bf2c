/*
 * guarded.c - guarded blocks: placed against a guard page in the pool's
 * guard region, their metadata in a side table, their faults reported
 * (guarded.h says what they are, their invariants G1-G4 and the locking).
 *
 * The fault callback and the reports of faults are guarded_report.c's;
 * the side table's layout is in guarded_internal.h.
 */
#include "config.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/guarded_internal.h"

bool guarded_enabled;

static uint32_t pool_slots, region_pages;
/* whether an option guards whole pools or sizes (not sampling alone):
 * locked pools then get a guard region too */
static bool locked_pools_guarded;
static unsigned process_max;
static unsigned process_live; /* atomic: live guarded blocks of every pool */
static uint64_t sample_seed;
static uint64_t pools_seeded; /* atomic: pools given a sampling generator */
/* A page of canary bytes (set at init): the canary before a block, up to
 * a page, is compared with it, not byte by byte (most of a free's own
 * time when it was). */
static uint8_t canary_page[B_PAGE_SIZE];

static void plan_next(struct pool *pool, struct guarded_pool *table);

/* ---- options ---- */

static unsigned map_count_budget(void)
{
	char text[32] = "";
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	long count = 65530;

	if (fd >= 0) {
		ssize_t length = read(fd, text, sizeof(text) - 1);
		if (length > 0 && atol(text) > 0)
			count = atol(text);
		close(fd);
	}
	/* a live guarded block splits its mapping in up to two more: an eighth
	 * of the budget leaves the driver three quarters of it */
	return (unsigned)(count / 8);
}

void guarded_init(const struct debug_options *options)
{
	bool wanted = options->guard || options->guard_pools[0] != '\0' || options->guard_size != 0
		|| options->guard_sample != 0 || options->guard_regions;

	guarded_enabled = wanted && kernel_guard_available();
	locked_pools_guarded = options->guard || options->guard_pools[0] != '\0'
		|| options->guard_size != 0 || options->guard_regions;
	pool_slots = options->guard_pool_max;
	/* a small block takes two pages; the rest is room for large ones */
	region_pages = pool_slots * 4;
	process_max =
		options->guard_process_max != 0 ? options->guard_process_max : map_count_budget();
	sample_seed = options->guard_seed;
	if (sample_seed == 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		sample_seed = (uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 32
			^ (uint64_t)getpid() << 20;
	}
	pools_seeded = 0;
	memset(canary_page, DEBUG_FILL_CANARY, sizeof(canary_page));
}

static size_t table_bytes(void)
{
	/* 64 bytes more: the table is aligned where the log ends */
	return ((sizeof(struct guarded_pool) + pool_slots * sizeof(struct guard_slot)
			+ region_pages * sizeof(uint16_t) + 63)
		       & ~(size_t)63)
		+ 64;
}

size_t guarded_control_bytes(bool locked)
{
	/* sampling (on by default) leaves locked pools alone: their whole
	 * area is locked in memory and counts against RLIMIT_MEMLOCK, the
	 * region's 4 MiB included, for one block in thousands */
	if (!guarded_enabled || (locked && !locked_pools_guarded))
		return 0;
	/* the region is page aligned wherever the table starts */
	return table_bytes() + B_PAGE_SIZE + (size_t)region_pages * B_PAGE_SIZE;
}

/* The region of a table placed at memory (an address, or an offset from
 * the page-aligned area base: the same arithmetic). */
static uintptr_t region_at(uintptr_t memory)
{
	return (memory + table_bytes() + B_PAGE_SIZE - 1) & ~(uintptr_t)(B_PAGE_SIZE - 1);
}

void guarded_region_span(uintptr_t table_offset, bool locked, uint64_t *from, uint64_t *to)
{
	*from = *to = 0;
	if (guarded_control_bytes(locked) == 0)
		return;
	*from = region_at(table_offset);
	*to = *from + (uint64_t)region_pages * B_PAGE_SIZE;
}

/* ---- pools ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

void guarded_pool_init(struct pool *pool, void *memory, bool locked)
{
	struct guarded_pool *table =
		(struct guarded_pool *)(((uintptr_t)memory + 63) & ~(uintptr_t)63);
	uintptr_t region = region_at((uintptr_t)memory);
	size_t bytes = (size_t)region_pages * B_PAGE_SIZE;

	debug_of(pool)->guarded = NULL;
	plan_next(pool, NULL);
	if (guarded_control_bytes(locked) == 0)
		return;
	table->region = region;
	table->pages = region_pages;
	table->slots = pool_slots;
	table->slots_used = 0;
	table->pool = pool;
	table->slot = (struct guard_slot *)(table + 1);
	table->page_owner = (uint16_t *)(table->slot + pool_slots);
	table->sample_state =
		mix64(sample_seed ^ mix64(__atomic_fetch_add(&pools_seeded, 1, __ATOMIC_RELAXED)))
		| 1;
	if (mprotect((void *)region, bytes, PROT_NONE) != 0)
		return;
	if (kernel_guard_register(region, bytes, guarded_fault_callback, table) != B_OK) {
		/* no range left (KERNEL_GUARD_MAX_RANGES pools): canary blocks */
		mprotect((void *)region, bytes, PROT_READ | PROT_WRITE);
		return;
	}
	debug_of(pool)->guarded = table;
	plan_next(pool, table);
	/* what readers of the pool's file find (format/guard_table.h) */
	table->format.slots = table->slots;
	table->format.pages = table->pages;
	table->format.slot_offset = (uint32_t)((uintptr_t)table->slot - (uintptr_t)table);
	table->format.page_owner_offset = (uintptr_t)table->page_owner - (uintptr_t)table;
	table->format.region_offset = region - (uintptr_t)pool->base;
	__atomic_store_n(&table->format.magic, GUARD_TABLE_MAGIC, __ATOMIC_RELEASE);
	debug_of(pool)->d.guard_table_offset = (uintptr_t)table - (uintptr_t)pool->base;
}

void guarded_pool_fini(struct pool *pool)
{
	struct guarded_pool *table = table_of(pool);

	if (table == NULL)
		return;
	kernel_guard_unregister(table->region);
	__atomic_fetch_sub(&process_live, table->format.live_blocks, __ATOMIC_RELAXED);
	debug_of(pool)->guarded = NULL;
}

void guarded_region_of(struct pool *pool, uint64_t *from, uint64_t *to)
{
	struct guarded_pool *table = table_of(pool);

	*from = *to = 0;
	if (table == NULL)
		return;
	*from = table->region - (uintptr_t)pool->base;
	*to = *from + (uint64_t)table->pages * B_PAGE_SIZE;
}

_Static_assert(offsetof(struct guarded_pool, format) == 0,
	"debug_guard_table() reads the side table's first member");

/* ---- allocation ---- */

/* The pool's generator's next number, uniform on 1..2^64-1 (xorshift64). */
static uint64_t next_random(struct guarded_pool *table)
{
	uint64_t x = table->sample_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	table->sample_state = x;
	return x;
}

/*
 * One allocation in rate, chosen at random, where blocks are chosen one by
 * one (sampling beside guard_size or guard_pools): each allocation with
 * probability 1/rate, independently of the others. The generator is the
 * pool's own, advanced with its lock held (a counter shared by the process
 * cost an atomic on a line every thread writes). With guard_seed, a pool's
 * sequence depends only on the seed and the order in which pools were
 * created.
 */
static bool sampled(struct guarded_pool *table, uint64_t rate)
{
	/* uniform on 1..2^64-1: below 2^64 / rate with probability 1/rate */
	return (uint64_t)(((unsigned __int128)next_random(table) * rate) >> 64) == 0;
}

/*
 * Allocations up to and including the next sampled one: geometric with
 * p = 1/rate, which is memoryless, so every allocation is still chosen
 * with probability 1/rate independently of the others (GWP-ASan's
 * uniform countdown is not: its first allocations have half the rate).
 */
static uint32_t draw_skip(struct guarded_pool *table, uint64_t rate)
{
	double uniform, count;

	if (rate <= 1)
		return 1;
	uniform = (double)((next_random(table) >> 11) + 1) * 0x1p-53; /* (0, 1] */
	count = floor(log(uniform) / log1p(-1.0 / (double)rate)) + 1;
	return count >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)count;
}

enum { CHOOSE_EACH = 0, CHOOSE_NONE = -1 };

/* The rate when sampling is all that can guard the pool's blocks;
 * CHOOSE_EACH when blocks are chosen one by one (by size, by the pool's
 * name, all of them), CHOOSE_NONE when none is. */
static int64_t sampling_only_rate(const struct guarded_pool *table)
{
	switch (table->mode) {
	case B_AREA_MALLOC_GUARD_NONE:
		return CHOOSE_NONE;
	case B_AREA_MALLOC_GUARD_ALL:
		return CHOOSE_EACH;
	case B_AREA_MALLOC_GUARD_SAMPLE:
		return table->sample_rate;
	default:
		break;
	}
	/* a pool's name may change (set_pool_name): guard_pools is asked
	 * block by block */
	if (debug_options.guard || debug_options.guard_size != 0
		|| debug_options.guard_pools[0] != '\0')
		return CHOOSE_EACH;
	if (debug_options.guard_sample == 0)
		return CHOOSE_NONE;
	return debug_options.guard_sample > INT64_MAX ? INT64_MAX
						      : (int64_t)debug_options.guard_sample;
}

/* Sets the pool's countdown to when guarded_allocate_locked is asked next. */
static void plan_next(struct pool *pool, struct guarded_pool *table)
{
	int64_t rate = table != NULL ? sampling_only_rate(table) : CHOOSE_NONE;

	debug_of(pool)->guard_skip = rate == CHOOSE_EACH ? 1
		: rate == CHOOSE_NONE                    ? UINT32_MAX
							 : draw_skip(table, (uint64_t)rate);
}

/* Whether the pool's choice (set_pool_guard), else the options, want
 * this block guarded. */
static bool selected(struct pool *pool, struct guarded_pool *table, size_t size)
{
	if (table->mode == B_AREA_MALLOC_GUARD_NONE)
		return false;
	if (table->mode == B_AREA_MALLOC_GUARD_ALL)
		return true;
	if (table->mode == B_AREA_MALLOC_GUARD_SAMPLE)
		return sampled(table, table->sample_rate);
	if (debug_options.guard
		|| (debug_options.guard_size != 0 && size <= debug_options.guard_size))
		return true;
	if (debug_options.guard_pools[0] != '\0'
		&& fnmatch(debug_options.guard_pools, debug_of(pool)->d.name, 0) == 0)
		return true;
	return debug_options.guard_sample != 0 && sampled(table, debug_options.guard_sample);
}

static uintptr_t page_address(const struct guarded_pool *table, uint32_t page)
{
	return table->region + (uintptr_t)page * B_PAGE_SIZE;
}

static uintptr_t data_start(const struct guarded_pool *table, const struct guard_slot *slot)
{
	return page_address(table, slot->first_page + (slot->underflow ? 1 : 0));
}

static void set_page_owners(struct guarded_pool *table, const struct guard_slot *slot,
	uint16_t owner)
{
	for (uint32_t page = slot->first_page; page <= slot->first_page + slot->data_pages; page++)
		__atomic_store_n(&table->page_owner[page], owner, __ATOMIC_RELEASE);
}

/* The oldest freed block leaves the quarantine (its pages stay protected). */
static bool evict_oldest(struct guarded_pool *table)
{
	struct guard_slot *slot;

	if (table->quarantine_head == 0)
		return false;
	slot = &table->slot[table->quarantine_head - 1];
	table->quarantine_head = slot->next;
	if (table->quarantine_head == 0)
		table->quarantine_tail = 0;
	table->format.quarantined_blocks--;
	/* a fault after free made a page writable and the driver went on: it
	 * may have taken its page again */
	if (slot->exposed) {
		mprotect((void *)page_address(table, slot->first_page),
			(size_t)(slot->data_pages + 1) * B_PAGE_SIZE, PROT_NONE);
		backing_give_back_guarded(table->pool, data_start(table, slot),
			data_start(table, slot) + (size_t)slot->data_pages * B_PAGE_SIZE);
	}
	__atomic_store_n(&slot->state, GUARD_SLOT_FREE, __ATOMIC_RELEASE);
	set_page_owners(table, slot, 0);
	return true;
}

/* The first page of count free pages in a row, from the next-fit cursor
 * on; UINT32_MAX when there are none. */
static uint32_t find_pages(struct guarded_pool *table, uint32_t count)
{
	uint32_t run = 0;

	if (count > table->pages)
		return UINT32_MAX;
	for (uint32_t step = 0; step < table->pages + count; step++) {
		uint32_t page = (table->next_fit + step) % table->pages;
		if (page == 0)
			run = 0; /* a run does not wrap around the region's end */
		run = table->page_owner[page] == 0 ? run + 1 : 0;
		if (run == count)
			return page + 1 - count;
	}
	return UINT32_MAX;
}

static struct guard_slot *find_slot(struct guarded_pool *table)
{
	uint32_t used = slots_in_use(table);

	for (uint32_t i = 0; i < used; i++)
		if (table->slot[i].state == GUARD_SLOT_FREE)
			return &table->slot[i];
	if (used == table->slots)
		return NULL;
	table->slots_used = used + 1;
	return &table->slot[used];
}

static void tag_of(struct guard_tag *tag, const area_malloc_owner *owner)
{
	const struct debug_stacks *stacks = debug_layout.stacks;

	tag->thread = (uint32_t)owner->thread;
	tag->team = owner->team;
	tag->sequence = owner->sequence;
	tag->time = owner->time;
	tag->stack = stacks != NULL && stacks->handle_of != NULL
		? stacks->handle_of(stacks->context, owner)
		: 0;
}

void guarded_owner_of_tag(const struct guard_tag *tag, area_malloc_owner *owner)
{
	const struct debug_stacks *stacks = debug_layout.stacks;

	memset(owner, 0, sizeof(*owner));
	owner->thread = (thread_id)tag->thread;
	owner->team = tag->team;
	owner->sequence = tag->sequence;
	owner->time = tag->time;
	if (tag->stack != 0 && stacks != NULL && stacks->expand != NULL)
		stacks->expand(stacks->context, tag->stack, owner);
}

static size_t rounded(size_t size)
{
	return ((size != 0 ? size : 1) + 15) & ~(size_t)15;
}

/* Pages and place of a block of size; false when it cannot be guarded. */
static bool place(struct guarded_pool *table, struct guard_slot *slot, size_t size)
{
	uint32_t data_pages = (uint32_t)((rounded(size) + B_PAGE_SIZE - 1) / B_PAGE_SIZE);
	uint32_t first;

	while ((first = find_pages(table, data_pages + 1)) == UINT32_MAX)
		if (!evict_oldest(table))
			return false;
	slot->first_page = first;
	slot->data_pages = data_pages;
	slot->underflow = debug_options.guard_underflow;
	if (slot->underflow)
		slot->user = page_address(table, first + 1);
	else
		slot->user = page_address(table, first + data_pages) - rounded(size);
	table->next_fit = (first + data_pages + 1) % table->pages;
	return true;
}

void *guarded_allocate_locked(struct pool *pool, size_t size, bool zeroed, area_malloc_owner *owner,
	enum pool_log_op op)
{
	struct guarded_pool *table = table_of(pool);
	struct debug_pool *debug = debug_of(pool);
	struct guard_slot *slot;
	uintptr_t start, user;
	size_t fill;
	int64_t rate;
	bool chosen;

	/* asked when the pool's countdown ran out (debug_alloc.c): with
	 * sampling alone, that is this allocation's turn */
	if (table == NULL) {
		plan_next(pool, NULL);
		return NULL;
	}
	rate = sampling_only_rate(table);
	chosen = rate == CHOOSE_EACH ? selected(pool, table, size) : rate != CHOOSE_NONE;
	plan_next(pool, table);
	if (!chosen || size > (size_t)table->pages * B_PAGE_SIZE)
		return NULL;
	if (__atomic_add_fetch(&process_live, 1, __ATOMIC_RELAXED) > process_max) {
		__atomic_fetch_sub(&process_live, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	while ((slot = find_slot(table)) == NULL)
		if (!evict_oldest(table))
			break;
	if (slot == NULL || !place(table, slot, size)) {
		__atomic_fetch_sub(&process_live, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	start = data_start(table, slot);
	if (mprotect((void *)start, (size_t)slot->data_pages * B_PAGE_SIZE, PROT_READ | PROT_WRITE)
		!= 0) {
		__atomic_fetch_sub(&process_live, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	if (!backing_reserve_guarded(pool, start, start + (size_t)slot->data_pages * B_PAGE_SIZE)) {
		/* a full tmpfs: a canary block in the heap's reserved space */
		mprotect((void *)start, (size_t)slot->data_pages * B_PAGE_SIZE, PROT_NONE);
		__atomic_fetch_sub(&process_live, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	user = slot->user;
	memset((void *)start, DEBUG_FILL_CANARY, user - start);
	fill = zeroed                                       ? size
		: size < debug_options.max_malloc_fill_size ? size
							    : debug_options.max_malloc_fill_size;
	memset((void *)user, zeroed ? 0 : DEBUG_FILL_NEW, fill);
	memset((void *)(user + size), DEBUG_FILL_CANARY, rounded(size) - size);
	slot->size = size;
	slot->exposed = 0;
	slot->next = 0;
	tag_of(&slot->allocated, owner);
	memset(&slot->freed, 0, sizeof(slot->freed));
	set_page_owners(table, slot, (uint16_t)(slot - table->slot + 1));
	__atomic_store_n(&slot->state, GUARD_SLOT_LIVE, __ATOMIC_RELEASE);
	table->format.live_blocks++;
	table->format.live_bytes += size;
	debug_note_peak(pool);
	debug->d.allocations++;
	log_event(pool, op, (void *)user, size, owner);
	return (void *)user;
}

/* ---- free ---- */

/* The slot whose block starts at ptr, or NULL. */
static struct guard_slot *slot_at(struct guarded_pool *table, const void *ptr)
{
	struct guard_slot *slot =
		slot_of_page(table, ((uintptr_t)ptr - table->region) / B_PAGE_SIZE);

	return slot != NULL && slot->user == (uintptr_t)ptr && slot->state != GUARD_SLOT_FREE
		? slot
		: NULL;
}

/* The first byte of [start, end) that is not the canary, or end. */
static uintptr_t first_damaged(uintptr_t start, uintptr_t end)
{
	while (end - start >= sizeof(canary_page)
		&& memcmp((const void *)start, canary_page, sizeof(canary_page)) == 0)
		start += sizeof(canary_page);
	if (end - start < sizeof(canary_page)
		&& memcmp((const void *)start, canary_page, end - start) == 0)
		return end;
	for (uintptr_t at = start; at < end; at++)
		if (*(const uint8_t *)at != DEBUG_FILL_CANARY)
			return at;
	return end;
}

static uintptr_t last_damaged(uintptr_t start, uintptr_t end)
{
	for (uintptr_t at = end; at > start; at--)
		if (*(const uint8_t *)(at - 1) != DEBUG_FILL_CANARY)
			return at - 1;
	return end;
}

static struct pending *slot_report(struct pool *pool, struct guard_slot *slot, enum error_kind kind,
	const char *what, const area_malloc_owner *owner, struct pending_list *pending)
{
	struct pending *report = new_pending(pending, kind, what, (void *)slot->user, owner);

	if (report == NULL)
		return NULL;
	pending_set_pool(report, pool);
	report->report.size = slot->size;
	report->report.size_known = true;
	guarded_owner_of_tag(&slot->allocated, &report->allocated);
	report->report.allocated_by = &report->allocated;
	if (slot->state == GUARD_SLOT_QUARANTINED) {
		guarded_owner_of_tag(&slot->freed, &report->freed);
		report->report.freed_by = &report->freed;
	}
	pending_set_log(report, pool, (void *)slot->user);
	return report;
}

/* The canaries of a live block: before it on its first page, its slack.
 * Returns the problems reported (0 to 2). */
static int check_canaries(struct pool *pool, struct guard_slot *slot, const char *what,
	const area_malloc_owner *owner, struct pending_list *pending)
{
	uintptr_t start = data_start(table_of(pool), slot), user = slot->user;
	uintptr_t end = user + rounded(slot->size);
	uintptr_t below = first_damaged(start, user), above = last_damaged(user + slot->size, end);
	struct pending *report;

	if (below != user) {
		report = slot_report(pool, slot, ERROR_HEAP_BUFFER_UNDERFLOW, what, owner, pending);
		if (report != NULL) {
			report->report.offset = (long)below - (long)user;
			report->report.offset_known = true;
			snprintf(report->detail, sizeof(report->detail),
				"the canary before the guarded block was overwritten (found at %s)",
				what);
		}
	}
	if (above != end) {
		report = slot_report(pool, slot, ERROR_HEAP_BUFFER_OVERFLOW, what, owner, pending);
		if (report != NULL) {
			report->report.offset =
				(long)(first_damaged(user + slot->size, end) - user);
			report->report.offset_known = true;
			report->report.overflow_bytes = above + 1 - (user + slot->size);
			snprintf(report->detail, sizeof(report->detail),
				"the slack canary between the guarded block's end and its guard "
				"page was overwritten (found at %s)",
				what);
		}
	}
	return (below != user) + (above != end);
}

int guarded_check_locked(struct pool *pool, struct pending_list *pending, size_t *charged)
{
	struct guarded_pool *table = table_of(pool);
	int problems = 0;

	for (uint32_t i = 0; table != NULL && i < slots_in_use(table); i++) {
		struct guard_slot *slot = &table->slot[i];
		if (slot->state != GUARD_SLOT_LIVE)
			continue;
		problems += check_canaries(pool, slot, "check", NULL, pending);
		*charged += heap_chunk_bytes_for(slot->size);
	}
	return problems;
}

/* The block at ptr, checked: the live slot, or NULL after a report. */
static struct guard_slot *live_slot_locked(struct pool *pool, void *ptr, const char *what,
	area_malloc_owner *owner, struct pending_list *pending)
{
	struct guard_slot *slot = slot_at(table_of(pool), ptr);
	struct pending *report;

	if (slot != NULL && slot->state == GUARD_SLOT_LIVE)
		return slot;
	debug_of(pool)->d.errors++;
	if (slot != NULL) {
		report = slot_report(pool, slot, ERROR_DOUBLE_FREE, what, owner, pending);
		if (report != NULL)
			snprintf(report->detail, sizeof(report->detail),
				"%s of a guarded block that is already free; the second free is "
				"refused",
				what);
		return NULL;
	}
	report = new_pending(pending, ERROR_INVALID_FREE, what, ptr, owner);
	if (report != NULL) {
		pending_set_pool(report, pool);
		snprintf(report->detail, sizeof(report->detail),
			"%s of %p, which is not the start of a live block (it lies in the pool's "
			"guard region)",
			what, ptr);
	}
	return NULL;
}

void guarded_free(const void *pool_id, struct pool *pool, void *ptr, area_malloc_owner *owner)
{
	struct guarded_pool *table = table_of(pool);
	struct debug_pool *debug = debug_of(pool);
	struct pending_list pending;
	struct guard_slot *slot;
	bool locked;

	pending_init(&pending);
	locked = debug_lock_for(pool, NODE_OP_FREE);
	slot = live_slot_locked(pool, ptr, "free", owner, &pending);
	if (slot == NULL) {
		log_event(pool, LOG_ERROR, ptr, 0, owner);
	} else {
		debug->d.errors += (uint64_t)check_canaries(pool, slot, "free", owner, &pending);
		owner->sequence = debug->next_sequence++;
		debug->d.frees++;
		debug->release_charged -= heap_chunk_bytes_for(slot->size);
		log_event(pool, LOG_FREE, ptr, slot->size, owner);
		tag_of(&slot->freed, owner);
		mprotect((void *)page_address(table, slot->first_page),
			(size_t)(slot->data_pages + 1) * B_PAGE_SIZE, PROT_NONE);
		/* nothing reads a freed guarded block's bytes (its records are
		 * in the side table): its pages go back now, not when the slot
		 * is reused (256 slots a pool held a page each, 1 MiB) */
		backing_give_back_guarded(pool, data_start(table, slot),
			data_start(table, slot) + (size_t)slot->data_pages * B_PAGE_SIZE);
		slot->exposed = 0;
		__atomic_store_n(&slot->state, GUARD_SLOT_QUARANTINED, __ATOMIC_RELEASE);
		if (table->quarantine_tail != 0)
			table->slot[table->quarantine_tail - 1].next =
				(uint32_t)(slot - table->slot + 1);
		else
			table->quarantine_head = (uint32_t)(slot - table->slot + 1);
		table->quarantine_tail = (uint32_t)(slot - table->slot + 1);
		table->format.live_blocks--;
		table->format.live_bytes -= slot->size;
		table->format.quarantined_blocks++;
		__atomic_fetch_sub(&process_live, 1, __ATOMIC_RELAXED);
	}
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	flush_pending(&pending);
}

size_t guarded_live_size(struct pool *pool, void *ptr, const char *what, area_malloc_owner *owner)
{
	struct pending_list pending;
	struct guard_slot *slot;
	size_t size = SIZE_MAX;
	bool locked;

	pending_init(&pending);
	locked = debug_lock(pool);
	slot = live_slot_locked(pool, ptr, what, owner, &pending);
	if (slot != NULL)
		size = slot->size;
	debug_unlock(pool, locked);
	flush_pending(&pending);
	return size;
}

void guarded_for_each_live(struct pool *pool, bool want_frames, guarded_live_fn fn, void *context)
{
	struct guarded_pool *table = table_of(pool);

	for (uint32_t i = 0; table != NULL && i < slots_in_use(table); i++) {
		const struct guard_slot *slot = &table->slot[i];
		area_malloc_owner owner;
		if (slot->state != GUARD_SLOT_LIVE)
			continue;
		if (want_frames) {
			guarded_owner_of_tag(&slot->allocated, &owner);
		} else {
			memset(&owner, 0, sizeof(owner));
			owner.thread = (thread_id)slot->allocated.thread;
			owner.team = slot->allocated.team;
			owner.sequence = slot->allocated.sequence;
			owner.time = slot->allocated.time;
		}
		fn((const void *)(uintptr_t)slot->user, slot->size, &owner, slot->allocated.stack,
			context);
	}
}

bool guarded_owner_of(struct pool *pool, const void *user, area_malloc_owner *owner)
{
	struct guarded_pool *table = table_of(pool);
	struct guard_slot *slot;

	if (table == NULL || !guarded_holds(pool, user))
		return false;
	slot = slot_at(table, user);
	if (slot == NULL || slot->state != GUARD_SLOT_LIVE)
		return false;
	guarded_owner_of_tag(&slot->allocated, owner);
	return true;
}

status_t guarded_set_pool_guard(const void *pool_id, uint32 mode, uint32 sample_rate)
{
	struct pool *pool;
	struct guarded_pool *table;
	status_t status = B_OK;
	bool locked;

	if (mode > B_AREA_MALLOC_GUARD_SAMPLE
		|| (mode == B_AREA_MALLOC_GUARD_SAMPLE && sample_rate == 0))
		return B_BAD_VALUE;
	pool = acquire_for_query(pool_id);
	if (pool == NULL)
		return B_BAD_VALUE;
	locked = debug_lock(pool);
	table = table_of(pool);
	if (table == NULL) {
		status = B_NOT_ALLOWED;
	} else {
		table->mode = mode;
		table->sample_rate = sample_rate;
		plan_next(pool, table);
	}
	debug_unlock(pool, locked);
	pool_registry_release(pool_id);
	return status;
}

void guarded_add_stats(struct pool *pool, area_malloc_pool_stats *stats)
{
	struct guarded_pool *table = table_of(pool);

	if (table == NULL)
		return;
	stats->live_blocks += table->format.live_blocks;
	stats->used += table->format.live_bytes;
}

/* ---- fork ---- */

void guarded_fork_child_open(struct pool *pool)
{
	struct guarded_pool *table = table_of(pool);

	if (table != NULL)
		mprotect((void *)table->region, (size_t)table->pages * B_PAGE_SIZE,
			PROT_READ | PROT_WRITE);
}

void guarded_fork_child_close(struct pool *pool)
{
	struct guarded_pool *table = table_of(pool);

	if (table == NULL)
		return;
	mprotect((void *)table->region, (size_t)table->pages * B_PAGE_SIZE, PROT_NONE);
	for (uint32_t i = 0; i < slots_in_use(table); i++) {
		struct guard_slot *slot = &table->slot[i];
		if (slot->state == GUARD_SLOT_LIVE)
			mprotect((void *)data_start(table, slot),
				(size_t)slot->data_pages * B_PAGE_SIZE, PROT_READ | PROT_WRITE);
	}
}
