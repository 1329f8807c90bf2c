/*
 * debug_block.c - writing and checking debug blocks (layout in
 * debug_block.h).
 *
 * Checksums are keyed with a per-load random secret and bound to the
 * header's address, so neither random data nor a header copied from
 * elsewhere passes for a block.
 *
 * Locking: none; callers hold the owning pool's lock.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "format/debug_block.h"

#define MIN_USER_AREA 32 /* room for the free record when quarantined */

_Static_assert(sizeof(struct debug_block_header) == 32, "header layout");
_Static_assert(sizeof(struct debug_free_record) <= MIN_USER_AREA, "free record fits");
/* A quarantined block's poison starts right after its free record: a byte
 * between the two would be checked by neither. */
#define POISON_START sizeof(struct debug_free_record)
_Static_assert(POISON_START == DEBUG_POISON_START, "the header says where the poison starts");
_Static_assert(POISON_START % 4 == 0, "poison words start at the pattern's phase");

static size_t round_up_16(size_t value)
{
	return (value + 15) & ~(size_t)15;
}

void debug_layout_init(struct debug_layout *layout, unsigned stack_depth)
{
	uint64_t key = 0;

	if (stack_depth < 1)
		stack_depth = 1;
	if (stack_depth > AREA_MALLOC_MAX_FRAMES)
		stack_depth = AREA_MALLOC_MAX_FRAMES;
	layout->frame_count = stack_depth;
	/* stacks live in the depot: the header is the same at every depth */
	layout->header_size = (uint32_t)sizeof(struct debug_block_header);
	layout->front_size = (uint32_t)round_up_16(layout->header_size + 8);
	layout->stacks = NULL;
	if (getrandom(&key, sizeof(key), GRND_NONBLOCK) != sizeof(key))
		key = (uint64_t)(uintptr_t)layout ^ 0x5851f42d4c957f2dull;
	layout->key = key | 1;
}

size_t debug_block_chunk_bytes(const struct debug_layout *layout, size_t size)
{
	size_t user_area;

	if (size > SIZE_MAX / 2 || size > DEBUG_BLOCK_MAX_SIZE)
		return SIZE_MAX;
	user_area = round_up_16(size + DEBUG_MIN_TRAILING_CANARY);
	if (user_area < MIN_USER_AREA)
		user_area = MIN_USER_AREA;
	return layout->front_size + user_area;
}

/*
 * Checksums. Each object is hashed a pair of 64-bit words at a time: one
 * 64x64->128-bit multiply of the two (keyed, position-salted) words mixes
 * both, so a 40-byte header costs three multiplies, and the pairs' products
 * are independent of each other, so they overlap in the CPU.
 *
 * The header's state is left out of the hash and enters afterwards as a
 * key-derived tag: marking a block quarantined, right after its header was
 * verified, exchanges the tag instead of hashing the header again (free
 * computed five checksums per block, and they were a seventh of its cost).
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FIRST_WORD_CHECKSUM_BITS 0x00000000ffffffffull
#define FIRST_WORD_STATE_BITS 0x000000ff00000000ull
#else
#define FIRST_WORD_CHECKSUM_BITS 0xffffffff00000000ull
#define FIRST_WORD_STATE_BITS 0x00000000000000ffull
#endif
_Static_assert(offsetof(struct debug_block_header, checksum) == 0
		&& offsetof(struct debug_block_header, state_thread) == 4
		&& offsetof(struct debug_free_record, checksum) == 0,
	"checksum and state sit in the first word as the masks above say");

static inline uint64_t mix_pair(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 product = (unsigned __int128)a * b;
	return (uint64_t)product ^ (uint64_t)(product >> 64);
#else
	return a * b ^ (a >> 32) * (b | 1);
#endif
}

static inline uint64_t load_word(const unsigned char *at)
{
	uint64_t word;

	memcpy(&word, at, sizeof(word));
	return word;
}

/* Hashes length bytes of object, except the first word's bits in
 * ignored_bits, bound to the address the object has in its process (at). */
static uint32_t checksum_at(const struct debug_layout *layout, const void *object, size_t length,
	uintptr_t at, uint64_t ignored_bits)
{
	const unsigned char *bytes = object;
	uint64_t salt = 0x9e3779b97f4a7c15ull;
	uint64_t first = load_word(bytes) & ~ignored_bits;
	uint64_t sum;
	size_t offset = 16;

	/* headers and free records are whole words of at least two (asserted
	 * below); the address enters the first product, so every term and
	 * the result depend on it nonlinearly */
	sum = mix_pair(first ^ layout->key ^ salt,
		load_word(bytes + 8) ^ (uint64_t)at ^ salt ^ 0x632be59bd9b4e019ull);
	for (; offset + 16 <= length; offset += 16) {
		salt += 0x632be59bd9b4e019ull;
		sum += mix_pair(load_word(bytes + offset) ^ layout->key ^ salt,
			load_word(bytes + offset + 8) ^ salt ^ 0x632be59bd9b4e019ull);
	}
	if (offset + 8 <= length) {
		salt += 0x632be59bd9b4e019ull;
		sum += mix_pair(load_word(bytes + offset) ^ layout->key ^ salt,
			0xbf58476d1ce4e5b9ull);
	}
	return (uint32_t)(sum ^ (sum >> 32));
}

/* What a header's state adds to its checksum. */
static inline uint32_t state_tag(const struct debug_layout *layout, uint16_t state)
{
	return (uint32_t)(mix_pair(layout->key ^ state, 0xd6e8feb86659fd93ull) >> 16);
}

static uint32_t header_checksum_at(const struct debug_layout *layout,
	const struct debug_block_header *header, uintptr_t at)
{
	return checksum_at(layout, header, layout->header_size, at,
		       FIRST_WORD_CHECKSUM_BITS | FIRST_WORD_STATE_BITS)
		^ state_tag(layout, debug_block_state(header));
}

static uint32_t record_checksum_at(const struct debug_layout *layout,
	const struct debug_free_record *record, size_t length, uintptr_t at)
{
	return checksum_at(layout, record, length, at, FIRST_WORD_CHECKSUM_BITS);
}

/* Stores a checksum into the low half of an object's first word with one
 * word store (see store_word() below: a check that follows soon reads the
 * word whole). */
static void store_checksum(void *object, uint32_t checksum)
{
	uint64_t word;

	memcpy(&word, object, sizeof(word));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	word = (word & ~(uint64_t)0xffffffffu) | checksum;
#else
	word = (word & 0xffffffffu) | (uint64_t)checksum << 32;
#endif
	memcpy(object, &word, sizeof(word));
}

static void seal_header(const struct debug_layout *layout, struct debug_block_header *header)
{
	store_checksum(header, header_checksum_at(layout, header, (uintptr_t)header));
}

/* The whole record is sealed. The quarantine link lives outside it (see
 * quarantine_link()): relinking must never re-seal (and so hide) damage
 * done to a freed block. The pool validates links before following them. */
#define SEALED_RECORD_BYTES sizeof(struct debug_free_record)
_Static_assert(SEALED_RECORD_BYTES % 8 == 0 && SEALED_RECORD_BYTES >= 16,
	"checksums cover whole words, two at least");
_Static_assert(sizeof(struct debug_block_header) % 8 == 0, "checksums cover whole words");

/* A quarantined block's link: the first word of its leading canary, which
 * is at least 8 bytes (front_size rounds header_size + 8 up) and 8-aligned
 * (header_size is whole words). */
#define QUARANTINE_LINK_BYTES sizeof(struct debug_block_header *)

static inline unsigned char *quarantine_link(const struct debug_layout *layout,
	const struct debug_block_header *header)
{
	return (unsigned char *)header + layout->header_size;
}

static void seal_free_record(const struct debug_layout *layout, struct debug_free_record *record)
{
	store_checksum(record,
		record_checksum_at(layout, record, SEALED_RECORD_BYTES, (uintptr_t)record));
}

static void write_trailing_canary(const struct debug_layout *layout,
	struct debug_block_header *header, size_t usable)
{
	unsigned char *user = debug_block_user(layout, header);
	size_t user_area = debug_block_user_area(layout, usable);

	memset(user + header->size, DEBUG_FILL_CANARY, user_area - header->size);
}

/*
 * Headers and free records are written a whole 64-bit word at a time, never
 * as the 16- and 32-bit fields they hold: the checksum computed right after
 * reads them back as words, and a word load that spans several narrower
 * stores still in flight cannot be forwarded from them (the CPU waits for
 * the stores to retire, a stall that cost more than the rest of a free).
 */
static inline void store_word(void *at, uint64_t word)
{
	memcpy(at, &word, sizeof(word));
}

static inline uint64_t pack_pair(uint32_t low, uint32_t high)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint64_t)low | (uint64_t)high << 32;
#else
	return (uint64_t)high | (uint64_t)low << 32;
#endif
}

_Static_assert(offsetof(struct debug_block_header, sequence) == 8
		&& offsetof(struct debug_block_header, stack) == 12
		&& offsetof(struct debug_block_header, time) == 24,
	"header fields pair up into words as debug_block_init() writes them");
_Static_assert(offsetof(struct debug_free_record, stack) == 24,
	"the free record's stack and its reserved word are one word");

/* The header's third word: the requested size (low DEBUG_BLOCK_SIZE_BITS)
 * and the team above it, as the bit-fields lay them out (little-endian). */
static inline uint64_t size_team_word(uint64_t size, uint32_t team)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size & DEBUG_BLOCK_MAX_SIZE)
		| (uint64_t)(team & 0xffffffu) << DEBUG_BLOCK_SIZE_BITS;
#else
#error "the header's size and team bit-fields are laid out for little-endian"
#endif
}

static inline uint32_t stack_handle_of(const struct debug_layout *layout,
	const area_malloc_owner *owner)
{
	if (layout->stacks == NULL || layout->stacks->handle_of == NULL)
		return 0;
	return layout->stacks->handle_of(layout->stacks->context, owner);
}
_Static_assert(offsetof(struct debug_free_record, thread) == 4
		&& offsetof(struct debug_free_record, sequence) == 8
		&& offsetof(struct debug_free_record, team) == 12,
	"free record fields pair up into words as debug_block_quarantine() writes them");

/* The header's first word: checksum (0 until sealed), state and thread. A
 * thread id wider than DEBUG_BLOCK_THREAD_BITS (none on Linux, whose ids
 * stop at 2^22) keeps its low bits. */
static inline void write_header_first_word(struct debug_block_header *header, uint32_t checksum,
	enum debug_block_state state, uint32_t thread)
{
	store_word(header, pack_pair(checksum, (uint32_t)state | thread << 8));
}

/* A live block's owner tag and size, sealed. */
static void write_live_header(const struct debug_layout *layout, struct debug_block_header *header,
	size_t size, const area_malloc_owner *owner)
{
	write_header_first_word(header, 0, BLOCK_LIVE, (uint32_t)owner->thread);
	store_word(&header->sequence, pack_pair(owner->sequence, stack_handle_of(layout, owner)));
	store_word((char *)header + 16, size_team_word(size, (uint32_t)owner->team));
	header->time = owner->time;
	seal_header(layout, header);
}

void debug_block_init(const struct debug_layout *layout, struct debug_block_header *header,
	size_t usable, size_t size, const area_malloc_owner *owner, size_t fill_bytes)
{
	write_live_header(layout, header, size, owner);
	memset((char *)header + layout->header_size, DEBUG_FILL_CANARY,
		layout->front_size - layout->header_size);
	memset(debug_block_user(layout, header), DEBUG_FILL_NEW,
		size < fill_bytes ? size : fill_bytes);
	write_trailing_canary(layout, header, usable);
}

void debug_block_resize(const struct debug_layout *layout, struct debug_block_header *header,
	size_t usable, size_t new_size, const area_malloc_owner *owner, size_t fill_bytes)
{
	unsigned char *user = debug_block_user(layout, header);
	size_t fill_end = new_size < fill_bytes ? new_size : fill_bytes;

	if (fill_end > header->size)
		memset(user + header->size, DEBUG_FILL_NEW, fill_end - header->size);
	write_live_header(layout, header, new_size, owner);
	write_trailing_canary(layout, header, usable);
}

/*
 * Filling and comparing patterns a word at a time: poison is periodic in 4
 * bytes and its phase is the address's, canaries are one byte repeated, so
 * each is an 8-byte word for every 8-aligned address. Blocks are small and
 * these run on every call, so plain word loops beat memcpy/memcmp against a
 * pattern buffer (an inlined `rep movs` costs tens of cycles to start).
 * The bulk goes two words per vector and 64 bytes per branch: the poison
 * passes over freed, drained and handed-out blocks were the debug build's
 * largest cost (13 % of a churn operation; 10 % less time per operation
 * with the vectors).
 */
static const uint64_t poison_word = (uint64_t)DEBUG_POISON_WORD << 32 | DEBUG_POISON_WORD;
static const uint64_t canary_word = 0x0101010101010101ull * DEBUG_FILL_CANARY;

/* Two pattern words: one SSE2 register on x86-64, plain words elsewhere. */
typedef uint64_t pattern_vector __attribute__((vector_size(16)));

static inline pattern_vector load_vector(const void *at)
{
	pattern_vector vector;

	memcpy(&vector, at, sizeof(vector));
	return vector;
}

static inline void store_vector(void *at, pattern_vector vector)
{
	memcpy(at, &vector, sizeof(vector));
}

/* The byte a pattern word puts at address. */
static inline unsigned char pattern_byte(uint64_t word, uintptr_t address)
{
	unsigned char bytes[8];

	memcpy(bytes, &word, sizeof(bytes));
	return bytes[address % 8];
}

static void fill_pattern(void *start, size_t bytes, uint64_t word)
{
	unsigned char *cursor = start, *end = cursor + bytes;

	while (cursor < end && (uintptr_t)cursor % 8 != 0) {
		*cursor = pattern_byte(word, (uintptr_t)cursor);
		cursor++;
	}
	if (end - cursor >= 32) {
		const pattern_vector pattern = { word, word };

		for (; end - cursor >= 32; cursor += 32) {
			store_vector(cursor, pattern);
			store_vector(cursor + 16, pattern);
		}
	}
	for (; end - cursor >= 8; cursor += 8)
		memcpy(cursor, &word, 8);
	for (; cursor < end; cursor++)
		*cursor = pattern_byte(word, (uintptr_t)cursor);
}

/* Length of the prefix of [start, start + length) that holds the pattern
 * (length when it all does). */
static size_t pattern_prefix(const void *start, size_t length, uint64_t word)
{
	const unsigned char *bytes = start, *cursor = bytes, *end = bytes + length;

	while (cursor < end && (uintptr_t)cursor % 8 != 0) {
		if (*cursor != pattern_byte(word, (uintptr_t)cursor))
			return (size_t)(cursor - bytes);
		cursor++;
	}
	/* sound memory is the common case: 64 bytes per branch, the words'
	 * differences OR-ed together (the compiler keeps them in vector
	 * registers); the word loop below finds where a difference lies */
	if (end - cursor >= 64) {
		const pattern_vector pattern = { word, word };

		for (; end - cursor >= 64; cursor += 64) {
			pattern_vector difference = (load_vector(cursor) ^ pattern)
				| (load_vector(cursor + 16) ^ pattern)
				| (load_vector(cursor + 32) ^ pattern)
				| (load_vector(cursor + 48) ^ pattern);
			if ((difference[0] | difference[1]) != 0)
				break;
		}
	}
	for (; end - cursor >= 8; cursor += 8) {
		uint64_t held;
		memcpy(&held, cursor, 8);
		if (held != word)
			break;
	}
	for (; cursor < end; cursor++) {
		if (*cursor != pattern_byte(word, (uintptr_t)cursor))
			break;
	}
	return (size_t)(cursor - bytes);
}

static void poison(void *start, size_t bytes)
{
	fill_pattern(start, bytes, poison_word);
}

void debug_poison_fill(void *start, size_t bytes)
{
	poison(start, bytes);
}

size_t debug_poison_prefix(const void *start, size_t bytes)
{
	return pattern_prefix(start, bytes, poison_word);
}

bool debug_block_discard_run(const struct debug_layout *layout, uintptr_t at, size_t usable,
	uintptr_t *run_start, uintptr_t *run_end)
{
	uintptr_t user = at + layout->front_size;
	uintptr_t start =
		(user + POISON_START + DEBUG_PAGE_BYTES - 1) & ~(uintptr_t)(DEBUG_PAGE_BYTES - 1);
	uintptr_t end =
		(user + debug_block_user_area(layout, usable)) & ~(uintptr_t)(DEBUG_PAGE_BYTES - 1);

	if (usable < layout->front_size + POISON_START || end < start
		|| end - start < DEBUG_DISCARD_MIN) {
		*run_start = *run_end = 0;
		return false;
	}
	*run_start = start;
	*run_end = end;
	return true;
}

/* Poisons [start, end) but for [skip_start, skip_end). */
static void poison_around(char *start, char *end, uintptr_t skip_start, uintptr_t skip_end)
{
	char *skip_from = (char *)skip_start, *skip_to = (char *)skip_end;

	if (skip_from >= skip_to || skip_to <= start || skip_from >= end) {
		if (start < end)
			poison(start, (size_t)(end - start));
		return;
	}
	if (start < skip_from)
		poison(start, (size_t)(skip_from - start));
	if (skip_to < end)
		poison(skip_to, (size_t)(end - skip_to));
}

size_t debug_block_poison_own_bytes(const struct debug_layout *layout,
	struct debug_block_header *header, size_t usable, uintptr_t skip_start, uintptr_t skip_end)
{
	char *user = debug_block_user(layout, header);
	size_t end = header->size;

	/* a size the header check passed is inside the user area; a smaller
	 * limit than the area keeps a torn read in range all the same */
	if (end > debug_block_user_area(layout, usable))
		end = debug_block_user_area(layout, usable);
	if (end <= POISON_START)
		return POISON_START;
	poison_around(user + POISON_START, user + end, skip_start, skip_end);
	return end;
}

void debug_block_quarantine(const struct debug_layout *layout, struct debug_block_header *header,
	size_t usable, const area_malloc_owner *freed_by)
{
	debug_block_quarantine_poisoned(layout, header, usable, freed_by, POISON_START, 0, 0);
}

void debug_block_quarantine_poisoned(const struct debug_layout *layout,
	struct debug_block_header *header, size_t usable, const area_malloc_owner *freed_by,
	size_t poisoned_to, uintptr_t skip_start, uintptr_t skip_end)
{
	struct debug_free_record *record = debug_block_user(layout, header);
	size_t user_area = debug_block_user_area(layout, usable);
	/* the caller verified the header: only the state's tag changes */
	uint32_t checksum = header->checksum ^ state_tag(layout, debug_block_state(header))
		^ state_tag(layout, BLOCK_QUARANTINED);

	write_header_first_word(header, checksum, BLOCK_QUARANTINED, debug_block_thread(header));
	/* damage to the leading canary was reported when the block was freed;
	 * from now on only writes into the freed block count */
	memset((char *)header + layout->header_size, DEBUG_FILL_CANARY,
		layout->front_size - layout->header_size);
	store_word(record, pack_pair(0, (uint32_t)freed_by->thread));
	store_word(&record->sequence, pack_pair(freed_by->sequence, (uint32_t)freed_by->team));
	record->time = freed_by->time;
	store_word(&record->stack, pack_pair(stack_handle_of(layout, freed_by), 0));
	debug_block_set_next(layout, header, NULL);
	seal_free_record(layout, record);
	if (poisoned_to < POISON_START || poisoned_to > user_area)
		poisoned_to = POISON_START;
	poison_around((char *)record + poisoned_to, (char *)record + user_area, skip_start,
		skip_end);
}

void debug_block_set_next(const struct debug_layout *layout, struct debug_block_header *header,
	struct debug_block_header *next)
{
	memcpy(quarantine_link(layout, header), &next, QUARANTINE_LINK_BYTES);
}

struct debug_block_header *debug_block_quarantine_next(const struct debug_layout *layout,
	const struct debug_block_header *header)
{
	struct debug_block_header *next;

	memcpy(&next, quarantine_link(layout, header), QUARANTINE_LINK_BYTES);
	return next;
}

bool debug_block_header_ok(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable)
{
	return debug_block_header_ok_at(layout, header, usable, (uintptr_t)header);
}

bool debug_block_header_ok_at(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, uintptr_t at)
{
	if (usable < layout->front_size + MIN_USER_AREA)
		return false;
	if (header->checksum != header_checksum_at(layout, header, at))
		return false;
	if (debug_block_state(header) != BLOCK_LIVE
		&& debug_block_state(header) != BLOCK_QUARANTINED)
		return false;
	return header->size <= debug_block_user_area(layout, usable) - DEBUG_MIN_TRAILING_CANARY;
}

/* First index in [from, to) that is not a canary byte, or to. */
static size_t first_not_canary(const unsigned char *bytes, size_t from, size_t to)
{
	return from + pattern_prefix(bytes + from, to - from, canary_word);
}

static size_t last_not(const unsigned char *bytes, size_t from, size_t to, unsigned char value)
{
	/* runs only once damage was found: a byte loop is fine */
	for (size_t i = to; i > from; i--) {
		if (bytes[i - 1] != value)
			return i - 1;
	}
	return to;
}

/* Whether a page is resident, a batch of pages at a time (mincore). */
struct residency {
	uintptr_t batch; /* the first page of the batch, 0: none */
	size_t pages;
	unsigned char vector[256];
};

static bool page_resident(struct residency *residency, uintptr_t page, uintptr_t limit)
{
	if (residency->batch == 0 || page < residency->batch
		|| page >= residency->batch + residency->pages * DEBUG_PAGE_BYTES) {
		size_t pages = (limit - page) / DEBUG_PAGE_BYTES;
		if (pages > sizeof(residency->vector))
			pages = sizeof(residency->vector);
		/* unknown (mincore refused): resident, so that it is read */
		if (pages == 0
			|| mincore((void *)page, pages * DEBUG_PAGE_BYTES, residency->vector) != 0)
			return true;
		residency->batch = page;
		residency->pages = pages;
	}
	return residency->vector[(page - residency->batch) / DEBUG_PAGE_BYTES] & 1;
}

static bool all_zero(const unsigned char *bytes, size_t length)
{
	return length == 0 || (bytes[0] == 0 && memcmp(bytes, bytes + 1, length - 1) == 0);
}

size_t debug_page_run_prefix(const void *start, size_t length)
{
	struct residency residency = { 0, 0, { 0 } };
	uintptr_t from = (uintptr_t)start, limit = from + length, page;

	for (page = from; page < limit; page += DEBUG_PAGE_BYTES) {
		const unsigned char *bytes = (const unsigned char *)page;
		if (!page_resident(&residency, page, limit))
			continue;
		if (pattern_prefix(bytes, DEBUG_PAGE_BYTES, poison_word) != DEBUG_PAGE_BYTES
			&& !all_zero(bytes, DEBUG_PAGE_BYTES))
			break;
	}
	return (page < limit ? page : limit) - from;
}

bool debug_poison_mostly(const void *start, size_t bytes)
{
	const unsigned char *at = start;
	size_t zero_words = 0, poison_words = 0;

	for (size_t done = 0; done + 8 <= bytes; done += 8) {
		uint64_t word;
		memcpy(&word, at + done, sizeof(word));
		zero_words += word == 0;
		poison_words += word == poison_word;
	}
	return poison_words >= zero_words;
}

/* In a page of a discard run that holds neither fill throughout: the
 * offset of its first damaged byte, against the fill most of it holds (a
 * page given back reads as zeros, one poisoned instead does not). */
static size_t damaged_page_prefix(const unsigned char *page)
{
	return pattern_prefix(page, DEBUG_PAGE_BYTES,
		debug_poison_mostly(page, DEBUG_PAGE_BYTES) ? poison_word : 0);
}

/*
 * The poisoned part of a quarantined block's user area (user, user_area
 * bytes; at: its header's address in the writer's memory): the offset of
 * the first damaged byte, or user_area. The pages of its discard run may
 * hold zeros (pages given back) instead.
 */
static size_t poison_prefix_of_block(const struct debug_layout *layout, const unsigned char *user,
	size_t user_area, uintptr_t at)
{
	uintptr_t run_start, run_end;
	size_t run_from, run_to, good;

	if (!debug_block_discard_run(layout, at, layout->front_size + user_area, &run_start,
		    &run_end))
		return POISON_START
			+ pattern_prefix(user + POISON_START, user_area - POISON_START,
				poison_word);
	/* offsets from the user start: the same in a reader's copy */
	run_from = run_start - (at + layout->front_size);
	run_to = run_end - (at + layout->front_size);
	good = POISON_START
		+ pattern_prefix(user + POISON_START, run_from - POISON_START, poison_word);
	if (good != run_from)
		return good;
	if ((uintptr_t)(user + run_from) % DEBUG_PAGE_BYTES == 0) {
		good = run_from + debug_page_run_prefix(user + run_from, run_to - run_from);
	} else {
		/* a copy not aligned as the writer's memory: page by page, read */
		for (good = run_from; good < run_to; good += DEBUG_PAGE_BYTES) {
			if (pattern_prefix(user + good, DEBUG_PAGE_BYTES, poison_word)
					!= DEBUG_PAGE_BYTES
				&& !all_zero(user + good, DEBUG_PAGE_BYTES))
				break;
		}
	}
	if (good != run_to)
		return good + damaged_page_prefix(user + good);
	return run_to + pattern_prefix(user + run_to, user_area - run_to, poison_word);
}

struct debug_block_finding debug_block_check(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable)
{
	return debug_block_check_at(layout, header, usable, (uintptr_t)header);
}

struct debug_block_finding debug_block_check_at(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, uintptr_t at)
{
	struct debug_block_finding finding = { BLOCK_OK, 0, 0 };

	if (!debug_block_header_ok_at(layout, header, usable, at)) {
		finding.problem = BLOCK_HEADER_DAMAGED;
		return finding;
	}
	return debug_block_check_body_at(layout, header, usable, at);
}

struct debug_block_finding debug_block_check_body_at(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, uintptr_t at)
{
	struct debug_block_finding finding = { BLOCK_OK, 0, 0 };
	const unsigned char *front = (const unsigned char *)header;
	const unsigned char *user;
	size_t user_area, damaged;

	/* a quarantined block's link takes the canary's first word */
	damaged = first_not_canary(front,
		layout->header_size
			+ (debug_block_state(header) == BLOCK_QUARANTINED ? QUARANTINE_LINK_BYTES
									  : 0),
		layout->front_size);
	if (damaged != layout->front_size) {
		finding.problem = BLOCK_UNDERFLOW;
		finding.offset = layout->front_size - damaged; /* bytes before the start */
		return finding;
	}
	user = debug_block_user(layout, (struct debug_block_header *)header);
	user_area = debug_block_user_area(layout, usable);
	if (debug_block_state(header) == BLOCK_QUARANTINED) {
		const struct debug_free_record *record = (const void *)user;
		if (record->checksum
			!= record_checksum_at(layout, record, SEALED_RECORD_BYTES,
				at + layout->front_size)) {
			finding.problem = BLOCK_POISON_DAMAGED;
			finding.offset = 0;
			return finding;
		}
		damaged = poison_prefix_of_block(layout, user, user_area, at);
		if (damaged != user_area) {
			finding.problem = BLOCK_POISON_DAMAGED;
			finding.offset = damaged;
		}
		return finding;
	}
	damaged = first_not_canary(user, header->size, user_area);
	if (damaged != user_area) {
		finding.problem = BLOCK_OVERFLOW;
		finding.offset = damaged;
		finding.damaged_bytes = last_not(user, header->size, user_area, DEBUG_FILL_CANARY)
			- header->size + 1;
	}
	return finding;
}

bool debug_block_freed_by(const struct debug_layout *layout,
	const struct debug_block_header *header, area_malloc_owner *freed_by,
	struct debug_block_header **next)
{
	return debug_block_freed_by_at(layout, header, (uintptr_t)header, freed_by, next);
}

/* An owner's frames from a stack handle (none when it is unknown). */
static void expand_stack(const struct debug_layout *layout, uint32_t handle,
	area_malloc_owner *owner)
{
	owner->frame_count = 0;
	if (layout->stacks != NULL && layout->stacks->expand != NULL)
		layout->stacks->expand(layout->stacks->context, handle, owner);
}

bool debug_block_freed_by_at(const struct debug_layout *layout,
	const struct debug_block_header *header, uintptr_t at, area_malloc_owner *freed_by,
	struct debug_block_header **next)
{
	const struct debug_free_record *record =
		debug_block_user(layout, (struct debug_block_header *)header);

	if (record->checksum
		!= record_checksum_at(layout, record, SEALED_RECORD_BYTES, at + layout->front_size))
		return false;
	memset(freed_by, 0, sizeof(*freed_by));
	freed_by->thread = (thread_id)record->thread;
	freed_by->team = record->team;
	freed_by->sequence = record->sequence;
	freed_by->time = record->time;
	expand_stack(layout, record->stack, freed_by);
	if (next != NULL)
		*next = debug_block_quarantine_next(layout, header);
	return true;
}

void debug_block_owner(const struct debug_layout *layout, const struct debug_block_header *header,
	area_malloc_owner *owner)
{
	memset(owner, 0, sizeof(*owner));
	owner->thread = (thread_id)debug_block_thread(header);
	owner->team = header->team;
	owner->sequence = header->sequence;
	owner->time = header->time;
	expand_stack(layout, header->stack, owner);
}
