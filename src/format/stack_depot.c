/*
 * stack_depot.c - the stack depot's hash table (layout and rules in
 * stack_depot.h): lock-free lookups, appends under the writer's lock, and
 * the bounds-checked reads every reader (the module's reports, pooldump)
 * goes through.
 *
 * Locking: none here (see stack_depot.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "format/cross_process.h"
#include "format/node_format.h"
#include "format/stack_depot.h"

#define DEPOT_PAGE 4096u
#define RECORD_BYTES(count) (sizeof(struct stack_record) + (uint64_t)(count) * sizeof(uint64_t))

_Static_assert(sizeof(struct stack_depot) == 128, "depot header layout");
_Static_assert(sizeof(struct stack_record) == 16, "record header layout");
_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "frames are stored as 64-bit words");

static inline uint64_t rotate_left(uint64_t value, unsigned bits)
{
	return value << bits | value >> (64 - bits);
}

uint32_t stack_depot_hash(const uintptr_t *frames, uint32_t count)
{
	uint64_t hash = 0x9e3779b97f4a7c15ull ^ count;

	/* the multiplies are independent of each other; only the rotate and
	 * xor chain from frame to frame */
	for (uint32_t i = 0; i < count; i++)
		hash = rotate_left(hash, 23) ^ ((uint64_t)frames[i] * 0xff51afd7ed558ccdull);
	hash ^= hash >> 33;
	hash *= 0xc4ceb9fe1a85ec53ull;
	hash ^= hash >> 29;
	return (uint32_t)hash;
}

static uint32_t buckets_for(uint64_t capacity)
{
	uint32_t buckets = STACK_DEPOT_MIN_BUCKETS;

	/* about one bucket per two stacks of 16 frames (144 bytes) */
	while (buckets < STACK_DEPOT_MAX_BUCKETS && (uint64_t)buckets * 256 < capacity)
		buckets *= 2;
	return buckets;
}

static uint64_t round_page(uint64_t value)
{
	return (value + DEPOT_PAGE - 1) & ~(uint64_t)(DEPOT_PAGE - 1);
}

size_t stack_depot_region_bytes(uint64_t capacity, uint32_t *buckets)
{
	uint32_t count = buckets_for(capacity);

	if (buckets != NULL)
		*buckets = count;
	capacity = (capacity + 7) & ~(uint64_t)7;
	return (size_t)(DEPOT_PAGE + round_page((uint64_t)count * sizeof(uint32_t)) + capacity);
}

uint64_t stack_depot_records_offset(uint64_t capacity)
{
	return DEPOT_PAGE + round_page((uint64_t)buckets_for(capacity) * sizeof(uint32_t));
}

void stack_depot_init(struct stack_depot *depot, uint64_t capacity)
{
	uint32_t buckets;
	uint64_t reserve;

	if (capacity > STACK_DEPOT_MAX_CAPACITY)
		capacity = STACK_DEPOT_MAX_CAPACITY;
	capacity = (capacity + 7) & ~(uint64_t)7;
	stack_depot_region_bytes(capacity, &buckets);
	/* a sixteenth for stacks cut to their first frame, 24 bytes each */
	reserve = (capacity / 16 + 7) & ~(uint64_t)7;
	if (reserve < RECORD_BYTES(1))
		reserve = capacity < RECORD_BYTES(1) ? capacity : RECORD_BYTES(1);
	depot->version = NODE_FORMAT_VERSION;
	depot->header_bytes = sizeof(*depot);
	depot->bucket_count = buckets;
	depot->max_frames = AREA_MALLOC_MAX_FRAMES;
	depot->buckets_offset = DEPOT_PAGE;
	depot->records_offset = stack_depot_records_offset(capacity);
	depot->capacity = capacity;
	depot->reserve_offset = capacity - reserve;
	/* the magic last: a reader that sees it sees the rest */
	release_fence_for_readers();
	memcpy(depot->magic, STACK_DEPOT_MAGIC, sizeof(depot->magic));
}

static inline uint32_t *buckets_of(const struct stack_depot *depot)
{
	return (uint32_t *)((char *)depot + depot->buckets_offset);
}

static inline const unsigned char *records_of(const struct stack_depot *depot)
{
	return (const unsigned char *)depot + depot->records_offset;
}

/* The bit of bucket_pages for a bucket index. */
static inline uint64_t page_bit(uint32_t bucket)
{
	return (uint64_t)1 << ((uint64_t)bucket * sizeof(uint32_t) / DEPOT_PAGE);
}

_Static_assert((uint64_t)STACK_DEPOT_MAX_BUCKETS * sizeof(uint32_t) <= 64 * DEPOT_PAGE,
	"a bit of bucket_pages for each page of buckets");

static inline uint64_t offset_of_handle(uint32_t handle)
{
	return (uint64_t)((handle & ~STACK_HANDLE_TRUNCATED) - 1) * 8;
}

static inline uint32_t handle_of_offset(uint64_t offset, bool truncated)
{
	return (uint32_t)(offset / 8 + 1) | (truncated ? STACK_HANDLE_TRUNCATED : 0);
}

uint32_t stack_depot_find(const struct stack_depot *depot, const uintptr_t *frames, uint32_t count,
	uint32_t hash, bool truncated)
{
	const unsigned char *records = records_of(depot);
	uint32_t bucket = hash & (depot->bucket_count - 1), handle;

	if (!(__atomic_load_n(&depot->bucket_pages, __ATOMIC_ACQUIRE) & page_bit(bucket)))
		return 0; /* a page never written: no record hashes there */
	handle = __atomic_load_n(&buckets_of(depot)[bucket], __ATOMIC_ACQUIRE);
	if (truncated)
		count = 1;
	/* records are published whole before their bucket points at them, and
	 * a chain only ever links older records: every step is sound */
	while (handle != 0) {
		const struct stack_record *record =
			(const struct stack_record *)(records + offset_of_handle(handle));
		if (record->hash == hash && record->frame_count == count
			&& (record->flags & STACK_RECORD_TRUNCATED)
				== (truncated ? STACK_RECORD_TRUNCATED : 0)
			&& memcmp(record->frames, frames, count * sizeof(uint64_t)) == 0)
			return handle;
		handle = record->next;
	}
	return 0;
}

uint64_t stack_depot_append_end(const struct stack_depot *depot, uint32_t count, bool truncated)
{
	uint64_t bytes = RECORD_BYTES(truncated ? 1 : count);
	uint64_t start = truncated ? depot->reserve_offset + depot->reserve_used : depot->used;
	uint64_t limit = truncated ? depot->capacity : depot->reserve_offset;

	if (count == 0 || count > AREA_MALLOC_MAX_FRAMES || start + bytes > limit)
		return 0;
	return depot->records_offset + start + bytes;
}

uint32_t stack_depot_append(struct stack_depot *depot, const uintptr_t *frames, uint32_t count,
	uint32_t hash, bool truncated, uint16_t flags)
{
	uint64_t offset = truncated ? depot->reserve_offset + depot->reserve_used : depot->used;
	struct stack_record *record =
		(struct stack_record *)((unsigned char *)records_of(depot) + offset);
	uint32_t bucket_index = hash & (depot->bucket_count - 1);
	uint32_t *bucket = &buckets_of(depot)[bucket_index];
	uint32_t handle = handle_of_offset(offset, truncated);

	if (truncated)
		count = 1;
	record->next = depot->bucket_pages & page_bit(bucket_index) ? *bucket : 0;
	record->hash = hash;
	record->frame_count = (uint16_t)count;
	record->flags = (uint16_t)((flags & ~STACK_RECORD_TRUNCATED)
		| (truncated ? STACK_RECORD_TRUNCATED : 0));
	record->reserved = 0;
	memcpy(record->frames, frames, count * sizeof(uint64_t));
	__atomic_store_n(bucket, handle, __ATOMIC_RELEASE);
	__atomic_fetch_or(&depot->bucket_pages, page_bit(bucket_index), __ATOMIC_RELEASE);
	if (truncated) {
		__atomic_store_n(&depot->reserve_used, depot->reserve_used + RECORD_BYTES(1),
			__ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&depot->used, depot->used + RECORD_BYTES(count), __ATOMIC_RELEASE);
		depot->stacks++;
	}
	return handle;
}

static inline struct stack_record *live_record(const struct stack_depot *depot, uint32_t handle)
{
	return (struct stack_record *)((unsigned char *)records_of(depot)
		+ offset_of_handle(handle));
}

uint16_t stack_depot_flags(const struct stack_depot *depot, uint32_t handle)
{
	if (handle == 0 || handle == STACK_HANDLE_LOST)
		return 0;
	return __atomic_load_n(&live_record(depot, handle)->flags, __ATOMIC_RELAXED);
}

void stack_depot_add_flags(struct stack_depot *depot, uint32_t handle, uint16_t flags)
{
	if (handle != 0 && handle != STACK_HANDLE_LOST)
		__atomic_fetch_or(&live_record(depot, handle)->flags,
			(uint16_t)(flags & ~STACK_RECORD_TRUNCATED), __ATOMIC_RELAXED);
}

/* Links the records of [from, to) (from records_offset) into their chains. */
static void relink(struct stack_depot *depot, uint64_t from, uint64_t to, bool truncated)
{
	unsigned char *records = (unsigned char *)records_of(depot);

	while (from + sizeof(struct stack_record) <= to) {
		struct stack_record *record = (struct stack_record *)(records + from);
		uint32_t bucket_index = record->hash & (depot->bucket_count - 1);
		uint32_t *bucket = &buckets_of(depot)[bucket_index];
		if (record->frame_count == 0 || record->frame_count > AREA_MALLOC_MAX_FRAMES
			|| from + RECORD_BYTES(record->frame_count) > to)
			return;
		record->next = depot->bucket_pages & page_bit(bucket_index) ? *bucket : 0;
		*bucket = handle_of_offset(from, truncated);
		depot->bucket_pages |= page_bit(bucket_index);
		from += RECORD_BYTES(record->frame_count);
	}
}

void stack_depot_rebuild_buckets(struct stack_depot *depot)
{
	/* the pages written so far are cleared; the others stay untouched */
	for (uint32_t page = 0; page * (DEPOT_PAGE / sizeof(uint32_t)) < depot->bucket_count;
		page++)
		if (depot->bucket_pages & (uint64_t)1 << page)
			memset((char *)buckets_of(depot) + (size_t)page * DEPOT_PAGE, 0,
				DEPOT_PAGE);
	depot->bucket_pages = 0;
	relink(depot, 0, depot->used, false);
	relink(depot, depot->reserve_offset, depot->reserve_offset + depot->reserve_used, true);
}

bool stack_depot_header_sound(const struct stack_depot *depot, uint64_t region_bytes, char *why,
	size_t why_size)
{
	const char *problem = NULL;

	if (memcmp(depot->magic, STACK_DEPOT_MAGIC, sizeof(depot->magic)) != 0)
		problem = "bad magic";
	else if (depot->version != NODE_FORMAT_VERSION)
		problem = "another format version";
	else if (depot->header_bytes != sizeof(*depot))
		problem = "header of another size";
	else if (depot->max_frames != AREA_MALLOC_MAX_FRAMES)
		problem = "another frame limit";
	else if (depot->bucket_count < STACK_DEPOT_MIN_BUCKETS
		|| depot->bucket_count > STACK_DEPOT_MAX_BUCKETS
		|| (depot->bucket_count & (depot->bucket_count - 1)) != 0)
		problem = "bucket count out of range";
	else if (depot->records_offset % 8 != 0 || depot->records_offset < sizeof(*depot)
		|| depot->capacity % 8 != 0 || depot->capacity > STACK_DEPOT_MAX_CAPACITY
		|| depot->reserve_offset % 8 != 0 || depot->reserve_offset > depot->capacity)
		problem = "records out of range";
	else if (depot->used % 8 != 0 || depot->used > depot->reserve_offset
		|| depot->reserve_used % 8 != 0
		|| depot->reserve_used > depot->capacity - depot->reserve_offset)
		problem = "more records used than there is room for";
	else if (depot->records_offset > region_bytes
		|| depot->reserve_offset + depot->reserve_used
			> region_bytes - depot->records_offset
		|| depot->used > region_bytes - depot->records_offset)
		problem = "records past the end of the file";
	if (problem != NULL)
		snprintf(why, why_size, "%s", problem);
	return problem == NULL;
}

void stack_depot_live_view(const struct stack_depot *depot, struct stack_depot_view *view)
{
	view->main = records_of(depot);
	view->main_bytes = __atomic_load_n(&depot->used, __ATOMIC_ACQUIRE);
	view->reserve = records_of(depot) + depot->reserve_offset;
	view->reserve_offset = depot->reserve_offset;
	view->reserve_bytes = __atomic_load_n(&depot->reserve_used, __ATOMIC_ACQUIRE);
}

bool stack_depot_frames(const struct stack_depot_view *view, uint32_t handle,
	const uint64_t **frames, uint32_t *count, bool *truncated)
{
	bool cut = (handle & STACK_HANDLE_TRUNCATED) != 0;
	const unsigned char *base;
	uint64_t offset, end;
	const struct stack_record *record;

	*frames = NULL;
	*count = 0;
	*truncated = cut;
	if (handle == 0 || handle == STACK_HANDLE_LOST || view == NULL)
		return false;
	offset = offset_of_handle(handle);
	if (cut) {
		if (offset < view->reserve_offset)
			return false;
		offset -= view->reserve_offset;
		base = view->reserve;
		end = view->reserve_bytes;
	} else {
		base = view->main;
		end = view->main_bytes;
	}
	if (base == NULL || offset >= end || end - offset < sizeof(*record))
		return false;
	record = (const struct stack_record *)(base + offset);
	if (record->frame_count == 0 || record->frame_count > AREA_MALLOC_MAX_FRAMES
		|| RECORD_BYTES(record->frame_count) > end - offset
		|| (cut ? record->frame_count != 1 || !(record->flags & STACK_RECORD_TRUNCATED)
			: (record->flags & STACK_RECORD_TRUNCATED) != 0)
		|| record->hash
			!= stack_depot_hash((const uintptr_t *)record->frames, record->frame_count))
		return false;
	*frames = record->frames;
	*count = record->frame_count;
	return true;
}

bool stack_depot_expand(const struct stack_depot_view *view, uint32_t handle,
	area_malloc_owner *owner)
{
	const uint64_t *frames;
	uint32_t count;
	bool truncated;

	if (!stack_depot_frames(view, handle, &frames, &count, &truncated)) {
		owner->frame_count = 0;
		memset(owner->frames, 0, sizeof(owner->frames));
		return false;
	}
	owner->frame_count = count;
	for (uint32_t i = 0; i < AREA_MALLOC_MAX_FRAMES; i++)
		owner->frames[i] = i < count ? (addr_t)frames[i] : 0;
	return true;
}
