/*
 * leak_scan_engine.h - the classification of a conservative reachability
 * scan (kmemleak's, LeakSanitizer's): which live blocks a set of root
 * ranges reaches, directly or through other blocks, and which of the rest
 * are unreferenced or only indirectly lost.
 *
 * The engine knows nothing of pools, threads or the process it scans: the
 * caller gives it the live blocks (sorted by start, not overlapping), the
 * root ranges one by one, and a reader that says where the bytes of an
 * address come from. In process the reader hands back the address itself;
 * a reader over another process's memory (process_vm_readv, a core file)
 * copies into the scratch words it is given, so the same classification
 * serves pooldump.
 *
 * Invariants: blocks[] is sorted by start and blocks do not overlap; each
 * block enters the work stack at most once (its state leaves SCAN_UNSEEN
 * when it does), so the stack never holds more than count entries and the
 * scan of a million blocks needs no allocation. Finding a word's block is a
 * binary search, never a walk.
 *
 * Locking: none; the caller owns the engine and everything it points to
 * for the whole scan (in process: every pool locked, the other threads
 * stopped). Nothing here may take a lock, allocate or print.
 */
#ifndef AREA_MALLOC_FORMAT_LEAK_SCAN_ENGINE_H
#define AREA_MALLOC_FORMAT_LEAK_SCAN_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Words read at a time (the reader's scratch holds this many). */
#define SCAN_CHUNK_WORDS 512

/*
 * The bytes of [address, address + count words): a pointer to them, which
 * may be scratch (filled by the reader) or, in process, the address itself;
 * NULL when they cannot be read (the range is then skipped).
 */
struct scan_reader {
	const uintptr_t *(
		*words)(void *context, uintptr_t address, size_t count, uintptr_t *scratch);
	void *context;
};

/* A live block: its user bytes [start, end), end = start + requested size. */
struct scan_block {
	uintptr_t start;
	uintptr_t end;
};

enum scan_state {
	SCAN_UNSEEN = 0,   /* not reached (yet) */
	SCAN_REACHED,      /* reached from a root, through any blocks */
	SCAN_INDIRECT,     /* not reached; a lost block points to it */
	SCAN_UNREFERENCED, /* not reached; no lost block points to it either */
};

struct scan_engine {
	const struct scan_block *blocks;
	uint8_t *state; /* enum scan_state of each block */
	size_t count;
	uint32_t *stack; /* room for count entries */
	size_t depth;
	bool interior; /* a word inside a block reaches it, not only its start */
	const struct scan_reader *reader;
	uintptr_t scratch[SCAN_CHUNK_WORDS];
};

/* Sets up engine over blocks (states all SCAN_UNSEEN); state and stack
 * hold count entries each. */
void scan_engine_init(struct scan_engine *engine, const struct scan_block *blocks, uint8_t *state,
	uint32_t *stack, size_t count, bool interior, const struct scan_reader *reader);

/* The block a word points to (its start, or inside it when interior), or
 * SIZE_MAX. */
size_t scan_engine_find(const struct scan_engine *engine, uintptr_t word);

/* Every block that [start, end) reaches, and what they reach in turn. */
void scan_engine_root(struct scan_engine *engine, uintptr_t start, uintptr_t end);

/* The part of [start, end) on pages that hold data, as roots: pages page
 * bytes long from first_page on, populated[i] & 1 telling whether page i
 * holds any (mincore's vector; a scan from outside fills one from
 * pagemap). A page never touched holds no pointer, and reading it would
 * fault it in. */
void scan_engine_root_pages(struct scan_engine *engine, uintptr_t start, uintptr_t end,
	uintptr_t first_page, uintptr_t page, const unsigned char *populated, size_t pages);

/* A block marked as a root: reached, and its contents scanned. */
void scan_engine_root_block(struct scan_engine *engine, size_t index);

/* After the last root: the blocks not reached become SCAN_INDIRECT when a
 * block not reached points to them, SCAN_UNREFERENCED otherwise. */
void scan_engine_classify(struct scan_engine *engine);

#endif /* AREA_MALLOC_FORMAT_LEAK_SCAN_ENGINE_H */
