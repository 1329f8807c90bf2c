/*
 * stack_depot.h - the stack depot: every distinct stack a process records,
 * stored once (KASAN's stackdepot, ASan's StackDepot). Block headers and
 * free records (debug_block.h) keep a 32-bit handle instead of frames.
 *
 * One depot per process, in a mapping of its own (never inside a pool's
 * area, where an overflow could reach it): the node file NODE_DIR/PID/stacks
 * mapped shared (node_format.h), or anonymous memory without a node. It is
 * laid out as:
 *
 *   0                 struct stack_depot (below)
 *   buckets_offset    uint32_t[bucket_count]: the handle of the newest record
 *                     of each hash chain, 0 for none
 *   records_offset    the records, appended and never changed once published:
 *                     struct stack_record and its frames, 8-byte aligned;
 *                     the main part is [0, reserve_offset), the reserve
 *                     [reserve_offset, capacity)
 *
 * A handle is (offset of the record from records_offset) / 8 + 1 in its low
 * 31 bits; 0 is "no stack". Bit 31 (STACK_HANDLE_TRUNCATED) marks a stack
 * recorded when the main part was full: the record lies in the reserve and
 * holds the stack's first frame only (the caller), shared by every stack cut
 * at that frame, so the reserve holds one record per call site.
 * STACK_HANDLE_LOST says that even the reserve was full: nothing was kept.
 *
 * Publication: a writer (holding the depot's lock) writes a record whole,
 * then links it into its chain (release store of the bucket), marks the
 * bucket's page written (bucket_pages), and then moves used (or
 * reserve_used) past it (release). Lookups read no page of buckets that was
 * never written: in a file on tmpfs even a read of a hole takes a page,
 * which a full tmpfs answers with SIGBUS, so the writer reserves a page of
 * buckets when it first writes there, and readers of other pages must not
 * touch them. A reader of handles from blocks
 * needs only the records below used: a handle is published before any block
 * holds it. Lookups by frames (stack_depot_find) take no lock.
 *
 * Readers of a copy (pooldump, post mortem) trust nothing: stack_depot_view
 * checks the header against the bytes at hand, every handle is bounds
 * checked, and a record's frames must hash to its stored hash.
 *
 * Locking: none here; the writer (debug/stacks.c) appends under its own
 * leaf lock.
 */
#ifndef AREA_MALLOC_FORMAT_STACK_DEPOT_H
#define AREA_MALLOC_FORMAT_STACK_DEPOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drivers/area_malloc_debug.h>

#define STACK_DEPOT_MAGIC "AMSTAK01" /* 8 bytes, no NUL */
#define STACK_HANDLE_TRUNCATED 0x80000000u
#define STACK_HANDLE_LOST 0xffffffffu
#define STACK_RECORD_TRUNCATED 0x1u
/* The writer's hint, ignored by readers: the frames came from a frame-pointer
 * walk whose every step was confirmed (debug/unwind.c). */
#define STACK_RECORD_WALKED 0x2u
/* Buckets: a power of two between these. */
#define STACK_DEPOT_MIN_BUCKETS 1024u
#define STACK_DEPOT_MAX_BUCKETS 65536u
/* Records may lie anywhere below this (31 bits of 8-byte units). */
#define STACK_DEPOT_MAX_CAPACITY ((uint64_t)0x7ffffffe * 8)

struct stack_depot {
	char magic[8];         /* STACK_DEPOT_MAGIC */
	uint32_t version;      /* NODE_FORMAT_VERSION */
	uint32_t header_bytes; /* sizeof(struct stack_depot) */
	uint32_t bucket_count;
	uint32_t max_frames;     /* AREA_MALLOC_MAX_FRAMES */
	uint64_t buckets_offset; /* from the start of the depot */
	uint64_t records_offset; /* from the start of the depot */
	uint64_t capacity;       /* bytes of records, the reserve included */
	uint64_t reserve_offset; /* from records_offset: where the reserve starts */
	uint64_t used;           /* bytes of main records published */
	uint64_t reserve_used;   /* bytes of reserve records published */
	uint64_t stacks;         /* records in the main part */
	uint64_t truncated;      /* stacks recorded by their first frame only */
	uint64_t lost;           /* stacks not recorded at all */
	uint64_t bucket_pages;   /* bit n: page n of the buckets was written */
	uint64_t reserved[3];
};

struct stack_record {
	uint32_t next;        /* the next handle of the chain, 0 at its end */
	uint32_t hash;        /* stack_depot_hash(frames, frame_count) */
	uint16_t frame_count; /* 1 to AREA_MALLOC_MAX_FRAMES */
	uint16_t flags;       /* STACK_RECORD_TRUNCATED in the reserve; _WALKED */
	uint32_t reserved;
	uint64_t frames[]; /* frames[0] is the caller */
};

/* The hash of a stack (the count included). */
uint32_t stack_depot_hash(const uintptr_t *frames, uint32_t count);

/* Bytes a depot with room for capacity bytes of records takes (header,
 * buckets, records); the bucket count it will have goes to *buckets. */
size_t stack_depot_region_bytes(uint64_t capacity, uint32_t *buckets);

/* Where the records of such a depot start (from the start of the depot). */
uint64_t stack_depot_records_offset(uint64_t capacity);

/* Lays a depot out in zeroed memory of stack_depot_region_bytes(capacity). */
void stack_depot_init(struct stack_depot *depot, uint64_t capacity);

/* The handle of a stack the depot holds (truncated: as cut to one frame when
 * full, hash then of that frame alone), or 0. Takes no lock. */
uint32_t stack_depot_find(const struct stack_depot *depot, const uintptr_t *frames, uint32_t count,
	uint32_t hash, bool truncated);

/* Where the record of a stack of count frames would end if appended now
 * (from the start of the depot), or 0 when it has no room: what a writer
 * must have made writable first. */
uint64_t stack_depot_append_end(const struct stack_depot *depot, uint32_t count, bool truncated);

/* Appends and publishes a record (the writer's lock held, the stack not in
 * the depot, room checked by stack_depot_append_end); returns its handle. */
uint32_t stack_depot_append(struct stack_depot *depot, const uintptr_t *frames, uint32_t count,
	uint32_t hash, bool truncated, uint16_t flags);

/* A live depot's record flags, for a handle it gave out; the writer may add
 * STACK_RECORD_WALKED to a record later (a relaxed atomic or). */
uint16_t stack_depot_flags(const struct stack_depot *depot, uint32_t handle);
void stack_depot_add_flags(struct stack_depot *depot, uint32_t handle, uint16_t flags);

/* Rebuilds the buckets of a depot whose records were copied (fork): the
 * chains link exactly the records below used and reserve_used. */
void stack_depot_rebuild_buckets(struct stack_depot *depot);

/*
 * A reader's view of the records of a depot: the main records
 * [0, main_bytes) at main, the reserve's [0, reserve_bytes) at reserve
 * (handles count the reserve's records from reserve_offset).
 */
struct stack_depot_view {
	const unsigned char *main;
	uint64_t main_bytes;
	const unsigned char *reserve;
	uint64_t reserve_offset;
	uint64_t reserve_bytes;
};

/* Checks a depot header against what a reader holds: region_bytes of file.
 * false with *why set when it cannot be used. */
bool stack_depot_header_sound(const struct stack_depot *depot, uint64_t region_bytes, char *why,
	size_t why_size);

/* A view of a live depot's records (what is published now). */
void stack_depot_live_view(const struct stack_depot *depot, struct stack_depot_view *view);

/*
 * The frames of a handle: *frames points into the view, *count frames;
 * *truncated when the stack was cut to its first frame (depot full). false
 * when the handle is 0, lost, out of the view, or its record is unsound.
 */
bool stack_depot_frames(const struct stack_depot_view *view, uint32_t handle,
	const uint64_t **frames, uint32_t *count, bool *truncated);

/* The same, into an owner's frames (frame_count 0 and false when unknown). */
bool stack_depot_expand(const struct stack_depot_view *view, uint32_t handle,
	area_malloc_owner *owner);

#endif /* AREA_MALLOC_FORMAT_STACK_DEPOT_H */
