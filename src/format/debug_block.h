/*
 * debug_block.h - what a block looks like in the debug build.
 *
 * The allocator core hands out a chunk payload; the debug build lays a
 * block out in it as:
 *
 *   | header (checksummed) | leading canary | user bytes | trailing canary |
 *   ^ chunk payload        ^ header_size    ^ front_size ^ front_size + size
 *
 * - The header holds the owner tag: requested size, thread, team, per-pool
 *   sequence number, time and the handle of the allocation's stack in the
 *   process's stack depot (stack_depot.h; up to stack_depth frames, each
 *   distinct stack stored once), protected by a keyed checksum so a damaged
 *   header is reported, never trusted. It is 32 bytes whatever stack_depth
 *   is: the state shares a word with the thread id (Linux thread ids fit 22
 *   bits), the size one with the team (requests stop at 1 TiB, process ids
 *   fit 22 bits), and what the layout already says (front size) is not
 *   repeated in every block, so the user bytes start 48 bytes into the chunk
 *   payload. (Node format 2 kept the frames in the header: 32 bytes plus 8
 *   a frame, 40 with one frame, 160 with 16.)
 * - The leading canary runs from the header to the user bytes (8 to 16
 *   bytes); the trailing canary starts at the first byte past the REQUESTED
 *   size (so a 1-byte overflow is caught) and runs to the end of the user
 *   area, at least 8 bytes.
 * - A quarantined block keeps its header; the first 32 bytes of its user
 *   area hold a checksummed free record (who freed it, its stack as a depot
 *   handle), the rest is
 *   poisoned with 0xdeadbeef words (Haiku's PARANOID_KERNEL_FREE), and the
 *   quarantine link takes the first 8 bytes of the leading canary. Keeping
 *   the link out of the user area lets the smallest blocks (requests up to
 *   24 bytes) have a 32-byte user area instead of 48.
 *
 * Fill bytes name memory states: 0xcc new (Haiku's PARANOID_KERNEL_MALLOC),
 * 0xfd canary ("fence"), 0xdeadbeef freed.
 *
 * Invariants (debug_block_check): the checksum matches; state is LIVE or
 * QUARANTINED; size + front_size fits the chunk; every canary byte is 0xfd;
 * for a quarantined block, the free record's checksum matches, every other
 * user byte is poison, and the canary bytes after the link are intact.
 *
 * Locking: none here; callers hold the owning pool's lock.
 */
#ifndef AREA_MALLOC_FORMAT_DEBUG_BLOCK_H
#define AREA_MALLOC_FORMAT_DEBUG_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drivers/area_malloc_debug.h>

#define DEBUG_FILL_NEW 0xcc
#define DEBUG_FILL_CANARY 0xfd
#define DEBUG_POISON_WORD 0xdeadbeefu
#define DEBUG_MIN_TRAILING_CANARY 8

enum debug_block_state {
	BLOCK_LIVE = 0x4c,        /* 'L' */
	BLOCK_QUARANTINED = 0x51, /* 'Q' */
};

#define DEBUG_BLOCK_THREAD_BITS 24
#define DEBUG_BLOCK_SIZE_BITS 40
/* The largest request a debug block records (1 TiB - 1). */
#define DEBUG_BLOCK_MAX_SIZE (((uint64_t)1 << DEBUG_BLOCK_SIZE_BITS) - 1)

struct debug_block_header {
	uint32_t checksum;
	uint32_t state_thread; /* state (low 8 bits) | thread id << 8 */
	uint32_t sequence;
	uint32_t stack;                        /* stack depot handle of the allocation's stack */
	uint64_t size : DEBUG_BLOCK_SIZE_BITS; /* requested */
	uint64_t team : 64 - DEBUG_BLOCK_SIZE_BITS;
	int64_t time; /* system_time() */
};

static inline enum debug_block_state debug_block_state(const struct debug_block_header *header)
{
	return (enum debug_block_state)(header->state_thread & 0xff);
}

static inline uint32_t debug_block_thread(const struct debug_block_header *header)
{
	return header->state_thread >> 8;
}

struct debug_free_record {
	uint32_t checksum;
	uint32_t thread;
	uint32_t sequence;
	int32_t team;
	int64_t time;
	uint32_t stack;    /* stack depot handle of the free's stack */
	uint32_t reserved; /* 0 */
};

/*
 * Where the stacks of blocks are (format/stack_depot.h): the writer asks
 * handle_of for the handle of an owner's stack (the debug module keeps the
 * handle of each thread's last capture at hand); both sides ask expand for
 * the frames of a handle. Either may be NULL: no handle (0), no frames.
 */
struct debug_stacks {
	uint32_t (*handle_of)(void *context, const area_malloc_owner *owner);
	bool (*expand)(void *context, uint32_t handle, area_malloc_owner *owner);
	void *context;
};

/* The geometry every block of a module load shares. */
struct debug_layout {
	uint32_t frame_count; /* stack_depth: frames per recorded stack */
	uint32_t header_size;
	uint32_t front_size;
	uint64_t key;                      /* per-load secret mixed into checksums */
	const struct debug_stacks *stacks; /* NULL: stacks unknown */
};

/* Sets the layout for stacks of stack_depth frames and a fresh random key
 * (stacks NULL). */
void debug_layout_init(struct debug_layout *layout, unsigned stack_depth);

/* Bytes to ask the heap for, for a user request of size (SIZE_MAX: too big). */
size_t debug_block_chunk_bytes(const struct debug_layout *layout, size_t size);

/* Bytes of user area (user bytes + trailing canary) in a chunk of usable bytes. */
static inline size_t debug_block_user_area(const struct debug_layout *layout, size_t usable)
{
	return usable - layout->front_size;
}

static inline void *debug_block_user(const struct debug_layout *layout,
	struct debug_block_header *header)
{
	return (char *)header + layout->front_size;
}

static inline struct debug_block_header *debug_block_from_user(const struct debug_layout *layout,
	const void *user)
{
	return (struct debug_block_header *)((uintptr_t)user - layout->front_size);
}

/*
 * Writes a new block's header (from owner) and canaries into a chunk of
 * usable bytes, and fills the first fill_bytes user bytes (at most size)
 * with 0xcc: the caller passes 0 for a calloc, whose zeros it wrote itself,
 * and the max_malloc_fill_size option otherwise, so that a large block, as
 * under ASan, costs only what its first pages take (the rest keeps what the
 * free memory held: its poison, or zeros where memory was never used).
 */
void debug_block_init(const struct debug_layout *layout, struct debug_block_header *header,
	size_t usable, size_t size, const area_malloc_owner *owner, size_t fill_bytes);

/* Changes a live block's requested size in place (realloc): new canary,
 * grown bytes below fill_bytes filled with 0xcc (as debug_block_init), and
 * the realloc's owner (its frames, thread, team, time and sequence) in the
 * header, as a moved block gets. */
void debug_block_resize(const struct debug_layout *layout, struct debug_block_header *header,
	size_t usable, size_t new_size, const area_malloc_owner *owner, size_t fill_bytes);

/* A header's first word (checksum, state, thread), read whole: a free
 * checks a block before the pool's lock and trusts that check under it only
 * while this word is unchanged (debug_alloc.c, quarantine.c). */
static inline uint64_t debug_block_first_word(const struct debug_block_header *header)
{
	return __atomic_load_n((const uint64_t *)(const void *)header, __ATOMIC_RELAXED);
}

/* Marks a live block quarantined: records who freed it and poisons it. The
 * caller has just verified the header (debug_block_header_ok): its checksum
 * is carried over, not recomputed. */
void debug_block_quarantine(const struct debug_layout *layout, struct debug_block_header *header,
	size_t usable, const area_malloc_owner *freed_by);

/*
 * Pages given back: a quarantined block's poison may leave out whole pages,
 * the pages of its discard run, which then read as zeros (the writer gave
 * them back to the system: a large freed block costs no memory while it
 * waits). The run is every whole DEBUG_PAGE_BYTES page of the poisoned
 * part of the user area, [DEBUG_POISON_START, user area), when there are
 * at least DEBUG_DISCARD_MIN bytes of them; each of its pages holds the
 * poison throughout or zeros throughout (a writer may poison any of them
 * instead). A page that is not resident reads as zeros and is not read
 * (reading a tmpfs page commits it): debug_page_run_prefix().
 */
#define DEBUG_PAGE_BYTES 4096
#define DEBUG_DISCARD_MIN ((size_t)64 * 1024)

/* The discard run of a block at address at (its header's address, in the
 * writer's memory) with usable bytes: false when it has none. */
bool debug_block_discard_run(const struct debug_layout *layout, uintptr_t at, size_t usable,
	uintptr_t *run_start, uintptr_t *run_end);

/* Length of the prefix of whole pages of [start, start + length) (both
 * page aligned) that each hold the poison or zeros throughout, or are not
 * resident. */
size_t debug_page_run_prefix(const void *start, size_t length);

/* Whether more of the 8-byte words of [start, start + bytes) (8-aligned)
 * hold the poison than zeros: the fill a damaged page given back (zeros)
 * or poisoned had. */
bool debug_poison_mostly(const void *start, size_t bytes);

/*
 * The bulk of a free's poison, laid ahead: the block's own bytes past where
 * its free record will go, [DEBUG_POISON_START, header->size) of the user
 * area, which only the driver reads while the block is live, but for
 * [skip_start, skip_end) (addresses: pages given back already, or none). A
 * free lays them outside the pool's lock once it has claimed the block
 * under it (debug_alloc.c), so that two threads sharing a pool fill their
 * blocks at the same time. Returns the user
 * offset poisoned to (at least DEBUG_POISON_START) for
 * debug_block_quarantine_poisoned().
 */
#define DEBUG_POISON_START sizeof(struct debug_free_record)
size_t debug_block_poison_own_bytes(const struct debug_layout *layout,
	struct debug_block_header *header, size_t usable, uintptr_t skip_start, uintptr_t skip_end);

/* debug_block_quarantine() of a block whose user bytes
 * [DEBUG_POISON_START, poisoned_to) hold the poison already, and whose
 * pages [skip_start, skip_end) (part of its discard run, or none) were
 * given back. */
void debug_block_quarantine_poisoned(const struct debug_layout *layout,
	struct debug_block_header *header, size_t usable, const area_malloc_owner *freed_by,
	size_t poisoned_to, uintptr_t skip_start, uintptr_t skip_end);

enum debug_block_problem {
	BLOCK_OK,
	BLOCK_HEADER_DAMAGED, /* checksum or fields: heap-buffer-underflow */
	BLOCK_UNDERFLOW,      /* leading canary */
	BLOCK_OVERFLOW,       /* trailing canary */
	BLOCK_POISON_DAMAGED, /* quarantined block written: use-after-free */
};

struct debug_block_finding {
	enum debug_block_problem problem;
	size_t offset;        /* first damaged byte, from the user pointer */
	size_t damaged_bytes; /* overflow: bytes damaged past the end */
};

/*
 * The _at variants read a COPY of a block (pooldump, post mortem): at is the
 * address the header had in its process, to which the checksums are bound.
 * The caller guarantees that usable bytes are readable at header.
 */
bool debug_block_header_ok_at(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, uintptr_t at);
struct debug_block_finding debug_block_check_at(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, uintptr_t at);
bool debug_block_freed_by_at(const struct debug_layout *layout,
	const struct debug_block_header *header, uintptr_t at, area_malloc_owner *freed_by,
	struct debug_block_header **next);

/* As debug_block_check_at, for a header already found intact: canaries, or
 * the free record and poison of a quarantined block. */
struct debug_block_finding debug_block_check_body_at(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable, uintptr_t at);

/* Reads only the header: is it intact, and which state does it claim? */
bool debug_block_header_ok(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable);

/* Checks header and canaries (and poison, when quarantined). */
struct debug_block_finding debug_block_check(const struct debug_layout *layout,
	const struct debug_block_header *header, size_t usable);

/* Reads the free record of a quarantined block; false if it is damaged. */
bool debug_block_freed_by(const struct debug_layout *layout,
	const struct debug_block_header *header, area_malloc_owner *freed_by,
	struct debug_block_header **next);

/* The quarantine link of a quarantined block, in its leading canary; the
 * link is not covered by any checksum (relinking never re-seals), so callers
 * validate it. */
void debug_block_set_next(const struct debug_layout *layout, struct debug_block_header *header,
	struct debug_block_header *next);
struct debug_block_header *debug_block_quarantine_next(const struct debug_layout *layout,
	const struct debug_block_header *header);

/*
 * Free memory: the debug build keeps every byte of a free heap chunk past
 * its links, below the heap's touched mark, filled with the poison words
 * (the fill of a quarantined block, so a block leaving the quarantine needs
 * only its header and free record filled again). start must be 4-aligned
 * (the pattern's phase is the address's). debug_poison_prefix() is the
 * length of the poisoned prefix of [start, start + bytes).
 */
void debug_poison_fill(void *start, size_t bytes);
size_t debug_poison_prefix(const void *start, size_t bytes);

/* The owner tag stored in a header, its stack expanded from the depot. */
void debug_block_owner(const struct debug_layout *layout, const struct debug_block_header *header,
	area_malloc_owner *owner);

#endif /* AREA_MALLOC_FORMAT_DEBUG_BLOCK_H */
