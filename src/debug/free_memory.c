/*
 * free_memory.c - free memory is poisoned, and a write into it is found.
 *
 * Why: a write past the last block of a pool, or into a block that left the
 * quarantine long ago, lands in free heap memory, which no canary guards;
 * ASan and Valgrind catch it, so must we.
 *
 * Invariant F1: every byte of a free chunk past its links
 * (HEAP_FREE_LINK_BYTES) and below the heap's touched mark holds the poison
 * (format/debug_block.h, debug_poison_fill), but for pages that lie wholly
 * inside that part of one free chunk: those hold the poison or zeros
 * throughout (pages a freed block gave back, backing.c; not resident until
 * written). Bytes at or above the mark were never written and stay
 * untouched: a lazy pool commits nothing for poison.
 * How it is kept, at bounded cost per call:
 *  - a freed block is poisoned whole when it enters the quarantine
 *    (debug_block_quarantine) but for its header, leading canary and free
 *    record; return_to_heap() fills those, the chunk header that merging
 *    down leaves inside the chunk below, and the header and links of a free
 *    chunk above that merging absorbs;
 *  - a realloc that shrinks in place fills the tail it gives back;
 *  - where the heap writes a split remainder's header, those bytes are the
 *    remainder's own header and links, outside F1; the rest of that page,
 *    no longer whole inside one free chunk, is poisoned if it was given
 *    back (free_memory_split: at most a page, and only then).
 * Whole pages are checked without being read when they are not resident
 * (mincore): reading a page given back would commit it.
 * How it is checked: the first max_free_check_size bytes of the part of a
 * free chunk an allocation takes (before the block is written), the same of
 * the part of a free neighbour a realloc grows into, and every free chunk
 * whole at a check, at delete_pool and at exit. Checking all an allocation
 * takes was a third pass over every block's bytes (after the poison at free
 * and the check when it leaves the quarantine), and the largest cost of a
 * debug call on blocks of kilobytes. Damage is
 * reported once (culprit.c names the block it came from) and filled again.
 *
 * Locking: the pool's lock, held by the caller.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <OS.h>

#include "debug/debug_internal.h"

/* Free memory is hidden from the sanitizers (shadow.h): exposed around the
 * module's own reads and writes. */
static void open_free(const void *start, size_t length)
{
	if (shadow_active && length > 0)
		shadow_expose(start, length);
}

static void close_free(const void *start, size_t length)
{
	if (shadow_active && shadow_hides_free_space() && length > 0)
		shadow_hide(start, length);
}

/* The part of [start, end) below the touched mark, as a length from start. */
static size_t below_touched(const struct pool *pool, uintptr_t start, uintptr_t end)
{
	uintptr_t mark = heap_touched_end(pool->heap);

	if (end > mark)
		end = mark;
	return end > start ? end - start : 0;
}

/* Fills [start, end) of a free chunk's memory with poison (start 4-aligned). */
static void fill(struct pool *pool, uintptr_t start, uintptr_t end)
{
	size_t length = below_touched(pool, start, end);

	open_free((void *)start, length);
	debug_poison_fill((void *)start, length);
	close_free((void *)start, length);
}

void return_to_heap(struct pool *pool, struct debug_block_header *header, size_t usable,
	bool damaged)
{
	uintptr_t chunk = (uintptr_t)header - HEAP_BLOCK_OVERHEAD;
	uintptr_t record_end = (uintptr_t)debug_block_user(&debug_layout, header)
		+ sizeof(struct debug_free_record);
	uintptr_t end = (uintptr_t)header + usable;
	uintptr_t payload, limit;
	size_t merged;

	payload = (uintptr_t)heap_free_merged(pool->heap, header, &merged);
	if (payload == 0)
		return; /* the heap refused (damaged tags): the block stays as it is */
	limit = payload + merged;
	/* the block's front and free record (all of it when a write into the
	 * freed block damaged its poison: reported, and discarded with it), and
	 * its chunk header when it was merged into the chunk below (never the
	 * merged chunk's own links) */
	fill(pool, chunk > payload + HEAP_FREE_LINK_BYTES ? chunk : payload + HEAP_FREE_LINK_BYTES,
		damaged ? end : record_end);
	/* the header and links of a free chunk above, merged in */
	if (end < limit)
		fill(pool, end,
			end + 2 * HEAP_BLOCK_OVERHEAD < limit ? end + 2 * HEAP_BLOCK_OVERHEAD
							      : limit);
	/* hidden from the sanitizers: the block's old range, not the whole merged
	 * chunk (a lazy pool's untouched rest costs no shadow memory) */
	chunk = chunk > payload + HEAP_FREE_LINK_BYTES ? chunk : payload + HEAP_FREE_LINK_BYTES;
	close_free((void *)chunk, end - chunk);
}

/* What a free byte at address holds: the poison word's byte at its phase,
 * or zero above the touched mark. */
static unsigned char sound_byte(uintptr_t address, bool poisoned)
{
	uint32_t word = DEBUG_POISON_WORD;
	unsigned char bytes[4];

	memcpy(bytes, &word, sizeof(bytes));
	return poisoned ? bytes[address % 4] : 0;
}

/* Length of the damaged run at damaged (inside [damaged, limit)): up to the
 * last damaged byte before the next whole word that holds what it should. */
static size_t damaged_run(const unsigned char *damaged, const unsigned char *limit, bool poisoned)
{
	const unsigned char *end = damaged + 1;

	while (end < limit) {
		size_t word = (size_t)(limit - end) < 4 ? (size_t)(limit - end) : 4, held = 0;
		while ((uintptr_t)end % 4 == 0 && held < word
			&& end[held] == sound_byte((uintptr_t)end + held, poisoned))
			held++;
		if ((uintptr_t)end % 4 == 0 && held == word)
			break;
		end++;
	}
	while (end - 1 > damaged && end[-1] == sound_byte((uintptr_t)end - 1, poisoned))
		end--;
	return (size_t)(end - damaged);
}

/* Length of the prefix of [start, start + length) that is zero. */
static size_t zero_prefix(const void *start, size_t length)
{
	static const unsigned char zeros[256];
	const unsigned char *bytes = start;
	size_t done = 0;

	while (done < length) {
		size_t chunk = length - done < sizeof(zeros) ? length - done : sizeof(zeros);
		if (memcmp(bytes + done, zeros, chunk) != 0) {
			while (bytes[done] == 0)
				done++;
			return done;
		}
		done += chunk;
	}
	return length;
}

/*
 * [start, start + length) holds its fill: the poison below the mark, zeros
 * above it (never written). A damaged run is reported, then filled again
 * (the evidence is in the report; a calloc relies on the zeros).
 */
static bool check_fill(struct pool *pool, const unsigned char *start, size_t length, bool poisoned,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending)
{
	size_t good;

	open_free(start, length);
	good = poisoned ? debug_poison_prefix(start, length) : zero_prefix(start, length);
	if (good != length) {
		report_free_memory_write(pool, (uintptr_t)start + good,
			damaged_run(start + good, start + length, poisoned), what, caller, pending);
		if (poisoned)
			debug_poison_fill((void *)start, length);
		else
			memset((void *)start, 0, length);
	}
	close_free(start, length);
	return good == length;
}

/* [start, end) of a page that may have been given back holds one fill
 * throughout; damage is reported against the fill most of it holds, and
 * that fill laid again. */
static bool check_given_back(struct pool *pool, uintptr_t start, uintptr_t end, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	const unsigned char *bytes = (const unsigned char *)start;
	size_t length = end - start;
	bool poisoned;

	open_free(bytes, length);
	poisoned = debug_poison_prefix(bytes, length) == length
		|| (zero_prefix(bytes, length) != length && debug_poison_mostly(bytes, length));
	close_free(bytes, length);
	return check_fill(pool, bytes, length, poisoned, what, caller, pending);
}

/*
 * check_fill() of poisoned free memory [start, end) in a pool whose freed
 * pages may have gone back: a page wholly inside [start, chunk_end) (the
 * free chunk's part past its links, below the mark) may hold zeros
 * throughout. Thorough (a check of the whole chunk): such pages are read
 * whole, and skipped when not resident. Otherwise (the part an allocation
 * takes, after the heap split the chunk: the rest's header lies in the
 * last page) only [start, end) of them is read, and it holds one fill.
 * The pages the chunk shares with its neighbours hold the poison.
 */
static bool check_poison_pages(struct pool *pool, uintptr_t start, uintptr_t end,
	uintptr_t chunk_end, bool thorough, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending)
{
	uintptr_t first_whole = (start + B_PAGE_SIZE - 1) & ~(uintptr_t)(B_PAGE_SIZE - 1);
	uintptr_t whole_end = chunk_end & ~(uintptr_t)(B_PAGE_SIZE - 1);
	uintptr_t at = start;
	bool sound = true;

	if (first_whole >= whole_end || first_whole >= end)
		return check_fill(pool, (const unsigned char *)start, end - start, true, what,
			caller, pending);
	if (start < first_whole) {
		sound = check_fill(pool, (const unsigned char *)start, first_whole - start, true,
			what, caller, pending);
		at = first_whole;
	}
	while (at < end && at < whole_end) {
		uintptr_t stop = end < whole_end ? end : whole_end;
		if (!thorough) {
			uintptr_t page_end = (at + B_PAGE_SIZE) & ~(uintptr_t)(B_PAGE_SIZE - 1);
			if (page_end > stop)
				page_end = stop;
			sound = check_given_back(pool, at, page_end, what, caller, pending)
				&& sound;
			at = page_end;
			continue;
		}
		stop &= ~(uintptr_t)(B_PAGE_SIZE - 1);
		if (at >= stop)
			break;
		open_free((void *)at, stop - at);
		size_t good = debug_page_run_prefix((void *)at, stop - at);
		close_free((void *)at, stop - at);
		at += good;
		if (at < stop) {
			sound = check_given_back(pool, at, at + B_PAGE_SIZE, what, caller, pending)
				&& sound;
			at += B_PAGE_SIZE;
		}
	}
	if (at < end)
		sound = check_fill(pool, (const unsigned char *)at, end - at, true, what, caller,
				pending)
			&& sound;
	return sound;
}

void free_memory_split(struct pool *pool, const void *rest, size_t usable)
{
	uintptr_t payload = (uintptr_t)rest;
	uintptr_t from = payload + HEAP_FREE_LINK_BYTES, to;

	if (payload == 0 || !debug_of(pool)->discard_allowed || from % B_PAGE_SIZE == 0
		|| usable <= HEAP_FREE_LINK_BYTES)
		return;
	to = (from + B_PAGE_SIZE - 1) & ~(uintptr_t)(B_PAGE_SIZE - 1);
	if (to > payload + usable)
		to = payload + usable;
	to = from + below_touched(pool, from, to);
	/* a page given back reads as zeros; one that held the poison starts
	 * with it (damage there is found by the next check) */
	open_free((void *)from, to - from);
	bool given_back = to > from && zero_prefix((const void *)from, to - from) == to - from;
	close_free((void *)from, to - from);
	if (given_back)
		fill(pool, from, to);
}

/*
 * Above the mark's page, only pages the kernel holds can have been written
 * (a write makes a page resident; reading one that is not would commit it,
 * on a tmpfs-backed pool): mincore() says which, a batch at a time.
 */
static bool check_resident_zero_mincore(struct pool *pool, uintptr_t start, uintptr_t end,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending)
{
	enum { BATCH = 4096 };
	unsigned char resident[BATCH];
	bool sound = true;

	for (uintptr_t batch = start; batch < end; batch += (uintptr_t)BATCH * B_PAGE_SIZE) {
		uintptr_t batch_end = end - batch > (uintptr_t)BATCH * B_PAGE_SIZE
			? batch + (uintptr_t)BATCH * B_PAGE_SIZE
			: end;
		if (mincore((void *)batch, batch_end - batch, resident) != 0)
			return sound;
		for (uintptr_t page = batch; page < batch_end; page += B_PAGE_SIZE) {
			uintptr_t page_end =
				page + B_PAGE_SIZE < batch_end ? page + B_PAGE_SIZE : batch_end;
			if ((resident[(page - batch) / B_PAGE_SIZE] & 1)
				&& !check_fill(pool, (const unsigned char *)page, page_end - page,
					false, what, caller, pending))
				sound = false;
		}
	}
	return sound;
}

/*
 * The same for a pool whose area is its node file: the file's data ranges
 * (lseek SEEK_DATA, SEEK_HOLE) are the pages that hold memory. The kernel
 * finds them in its page cache's index, skipping holes wholesale, where
 * mincore() looks each page up: over the untouched rest of an 8 GiB lazy
 * pool that took 0.36 s at every delete_pool, check and exit. The pages of
 * a data range are resident (or swapped), so reading them commits nothing.
 * false in *usable: the file gave no answer (not opened, or lseek failed
 * for another reason than the end of the data), and nothing was checked.
 */
static bool check_data_ranges_zero(struct pool *pool, uintptr_t start, uintptr_t end,
	const char *what, const area_malloc_owner *caller, struct pending_list *pending,
	bool *usable)
{
	uintptr_t base = (uintptr_t)pool->base;
	off_t at = (off_t)(start - base), stop = (off_t)(end - base);
	int fd = node_pool_file_open_readable(pool->area, false);
	bool sound = true;

	*usable = fd >= 0;
	while (*usable && at < stop) {
		off_t data = lseek(fd, at, SEEK_DATA), hole;

		if (data < 0) {
			*usable = errno == ENXIO; /* no data past at */
			break;
		}
		if (data >= stop)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			*usable = false;
			break;
		}
		if (hole > stop)
			hole = stop;
		if (!check_fill(pool, (const unsigned char *)(base + (uintptr_t)data),
			    (size_t)(hole - data), false, what, caller, pending))
			sound = false;
		at = hole;
	}
	if (fd >= 0)
		close(fd);
	return sound;
}

static bool check_resident_zero(struct pool *pool, uintptr_t start, uintptr_t end, const char *what,
	const area_malloc_owner *caller, struct pending_list *pending)
{
	bool usable = false, sound = true;

	if (debug_of(pool)->file_backed)
		sound = check_data_ranges_zero(pool, start, end, what, caller, pending, &usable);
	/* (a range checked before lseek failed is checked again: its reports
	 * are made once, check_fill() fills what it reports) */
	return usable
		? sound
		: check_resident_zero_mincore(pool, start, end, what, caller, pending) && sound;
}

bool free_memory_check(struct pool *pool, const void *start, size_t length, uintptr_t chunk_end,
	uintptr_t mark, bool thorough, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending)
{
	uintptr_t from, to, mark_page_end;
	bool sound = true;

	/* an allocation's check is bounded (option max_free_check_size): the
	 * first bytes it takes, where an overflow of the block below lands */
	if (!thorough && length > debug_options.max_free_check_size)
		length = debug_options.max_free_check_size;
	from = (uintptr_t)start;
	to = from + length;
	mark_page_end = (mark + B_PAGE_SIZE - 1) & ~(uintptr_t)(B_PAGE_SIZE - 1);

	if (from < mark && debug_of(pool)->discard_allowed)
		/* (the mark's page holds zeros above the mark: not whole) */
		sound = check_poison_pages(pool, from, to < mark ? to : mark,
			chunk_end < mark ? chunk_end : mark, thorough, what, caller, pending);
	else if (from < mark)
		sound = check_fill(pool, start, (to < mark ? to : mark) - from, true, what, caller,
			pending);
	if (from < mark)
		from = mark;
	/* the rest of the mark's own page is resident: the heap wrote in it */
	if (from < to && from < mark_page_end)
		sound = check_fill(pool, (const unsigned char *)from,
				(to < mark_page_end ? to : mark_page_end) - from, false, what,
				caller, pending)
			&& sound;
	if (thorough && mark_page_end < to)
		sound = check_resident_zero(pool, from > mark_page_end ? from : mark_page_end, to,
				what, caller, pending)
			&& sound;
	return sound;
}

void free_memory_shrunk(struct pool *pool, struct debug_block_header *header, size_t old_usable)
{
	size_t usable;
	uintptr_t payload = (uintptr_t)heap_free_above(pool->heap, header, &usable);
	uintptr_t old_end = (uintptr_t)header + old_usable;

	if (payload == 0 || payload + HEAP_FREE_LINK_BYTES >= old_end + 2 * HEAP_BLOCK_OVERHEAD)
		return;
	/* the block's old bytes past the tail's links, and a free chunk's
	 * header and links above that the tail absorbed */
	fill(pool, payload + HEAP_FREE_LINK_BYTES,
		old_end + 2 * HEAP_BLOCK_OVERHEAD < payload + usable
			? old_end + 2 * HEAP_BLOCK_OVERHEAD
			: payload + usable);
}

bool free_memory_check_above(struct pool *pool, struct debug_block_header *header,
	size_t new_usable, const char *what, const area_malloc_owner *caller,
	struct pending_list *pending)
{
	size_t usable;
	uintptr_t payload = (uintptr_t)heap_free_above(pool->heap, header, &usable);
	uintptr_t taken_end = (uintptr_t)header + new_usable;

	/* the growth that follows changes the block through that chunk (a
	 * drain since the call began may have made it larger) */
	in_flight_reach(pool, NODE_RANGE_BLOCK, NODE_STEP_CALL, header,
		heap_usable_size(pool->heap, header));
	if (payload == 0 || taken_end <= payload + HEAP_FREE_LINK_BYTES)
		return true;
	if (taken_end > payload + usable)
		taken_end = payload + usable;
	return free_memory_check(pool, (void *)(payload + HEAP_FREE_LINK_BYTES),
		taken_end - payload - HEAP_FREE_LINK_BYTES, payload + usable,
		heap_touched_end(pool->heap), false, what, caller, pending);
}
