/*
 * leak_scan_engine.c - marking and classification of a reachability scan
 * (leak_scan_engine.h): pointer-sized aligned words are looked up among the
 * live blocks by binary search; a block a root reaches is pushed on an
 * explicit work stack (never recursion: a list of a million blocks is a
 * chain a million deep) and its user bytes are scanned in turn.
 *
 * Invariants and locking: leak_scan_engine.h.
 */
#include "config.h"

#include "format/leak_scan_engine.h"

void scan_engine_init(struct scan_engine *engine, const struct scan_block *blocks, uint8_t *state,
	uint32_t *stack, size_t count, bool interior, const struct scan_reader *reader)
{
	engine->blocks = blocks;
	engine->state = state;
	engine->count = count;
	engine->stack = stack;
	engine->depth = 0;
	engine->interior = interior;
	engine->reader = reader;
	for (size_t i = 0; i < count; i++)
		state[i] = SCAN_UNSEEN;
}

size_t scan_engine_find(const struct scan_engine *engine, uintptr_t word)
{
	size_t low = 0, high = engine->count;

	if (high == 0 || word < engine->blocks[0].start || word > engine->blocks[high - 1].end)
		return SIZE_MAX;
	/* the last block starting at or below word */
	while (high - low > 1) {
		size_t middle = low + (high - low) / 2;
		if (engine->blocks[middle].start <= word)
			low = middle;
		else
			high = middle;
	}
	if (word == engine->blocks[low].start)
		return low;
	if (engine->interior && word < engine->blocks[low].end)
		return low;
	return SIZE_MAX;
}

/*
 * Calls visit for each block the words of [start, end) point to. The loads
 * read memory the sanitizers may call poisoned (a stack's redzones, the
 * blocks the debug build hides from AddressSanitizer): reading it is the
 * scan's job, so the function is exempt (probe_word in core/heap.c is the
 * same case) and never inlined into instrumented code.
 */
typedef void (*scan_visit_fn)(struct scan_engine *engine, size_t index, size_t from);

__attribute__((no_sanitize("address", "thread"), noinline)) static void
scan_words(struct scan_engine *engine, uintptr_t start, uintptr_t end, scan_visit_fn visit,
	size_t from)
{
	const uintptr_t mask = sizeof(uintptr_t) - 1;

	start = (start + mask) & ~mask;
	end &= ~mask;
	while (start < end) {
		size_t count = (end - start) / sizeof(uintptr_t);
		const volatile uintptr_t *words;

		if (count > SCAN_CHUNK_WORDS)
			count = SCAN_CHUNK_WORDS;
		words = engine->reader->words(engine->reader->context, start, count,
			engine->scratch);
		if (words != NULL) {
			for (size_t i = 0; i < count; i++) {
				size_t index = scan_engine_find(engine, words[i]);
				if (index != SIZE_MAX)
					visit(engine, index, from);
			}
		}
		start += count * sizeof(uintptr_t);
	}
}

static void reach(struct scan_engine *engine, size_t index, size_t from)
{
	(void)from;
	if (engine->state[index] != SCAN_UNSEEN)
		return;
	engine->state[index] = SCAN_REACHED;
	engine->stack[engine->depth++] = (uint32_t)index;
}

static void propagate(struct scan_engine *engine)
{
	while (engine->depth > 0) {
		const struct scan_block *block = &engine->blocks[engine->stack[--engine->depth]];
		scan_words(engine, block->start, block->end, reach, 0);
	}
}

void scan_engine_root(struct scan_engine *engine, uintptr_t start, uintptr_t end)
{
	scan_words(engine, start, end, reach, 0);
	propagate(engine);
}

void scan_engine_root_pages(struct scan_engine *engine, uintptr_t start, uintptr_t end,
	uintptr_t first_page, uintptr_t page, const unsigned char *populated, size_t pages)
{
	for (size_t i = 0; i < pages;) {
		size_t run = i;
		uintptr_t from, to;
		if (!(populated[i] & 1)) {
			i++;
			continue;
		}
		while (run < pages && (populated[run] & 1))
			run++;
		from = first_page + i * page;
		to = first_page + run * page;
		if (from < start)
			from = start;
		if (to > end)
			to = end;
		if (from < to)
			scan_engine_root(engine, from, to);
		i = run;
	}
}

void scan_engine_root_block(struct scan_engine *engine, size_t index)
{
	reach(engine, index, 0);
	propagate(engine);
}

/* A lost block pointed to by another lost block (not itself) is indirect. */
static void mark_indirect(struct scan_engine *engine, size_t index, size_t from)
{
	if (index != from && engine->state[index] == SCAN_UNSEEN)
		engine->state[index] = SCAN_INDIRECT;
}

void scan_engine_classify(struct scan_engine *engine)
{
	for (size_t i = 0; i < engine->count; i++) {
		if (engine->state[i] == SCAN_REACHED)
			continue;
		scan_words(engine, engine->blocks[i].start, engine->blocks[i].end, mark_indirect,
			i);
	}
	for (size_t i = 0; i < engine->count; i++)
		if (engine->state[i] == SCAN_UNSEEN)
			engine->state[i] = SCAN_UNREFERENCED;
}
