/*
 * error_kind.c - the table of error kinds (see error_kind.h for the
 * columns and their invariants).
 *
 * Precedence: the pointer checks of free and realloc come first, in the
 * order the man page promises (a call with a dead pool cannot be judged
 * further; a block of another pool is not this pool's double free; ...);
 * then damage, the pool's own metadata before a block's; then the leak
 * kinds, which are verdicts on a whole pool.
 *
 * Locking: none; constant data.
 */
#include "config.h"

#include <string.h>

#include "format/error_kind.h"

static const struct error_kind_info kinds[ERROR_KIND_COUNT] = {
	[ERROR_KIND_NONE] = { "unknown", 99, "unknown", false, "unknown", false, true,
		"no row of the table (a report this version does not know)" },
	[ERROR_INVALID_POOL] = { "invalid-pool", 1, "invalid-pool on address", true, "invalid_pool",
		false, false,
		"a call with a pool id that names no live pool, or during its delete_pool" },
	[ERROR_CROSS_POOL_FREE] = { "cross-pool-free", 2, "cross-pool-free on address", true,
		"cross_pool_free", false, false,
		"free or realloc of a block with a pool that does not own it" },
	[ERROR_DOUBLE_FREE] = { "double-free", 3, "double-free on address", true, "double_free",
		false, false, "free or realloc of a block that is already free" },
	[ERROR_INVALID_FREE] = { "invalid-free", 4, "invalid-free on address", true, "invalid_free",
		false, false, "free or realloc of a pointer that is not the start of a block" },
	[ERROR_HEAP_CORRUPTION] = { "heap-corruption", 5, "heap-corruption on address", true,
		"heap_corruption", false, false,
		"the pool's own metadata (heap, allocation log) is damaged" },
	[ERROR_GUARD_PAGE_FAULT] = { "guard-page-fault", 6, "guard-page-fault on address", true,
		"guard_page_fault", false, true, "an access to an inaccessible guard page" },
	[ERROR_HEAP_BUFFER_UNDERFLOW] = { "heap-buffer-underflow", 7,
		"heap-buffer-underflow on address", true, "heap_buffer_underflow", false, false,
		"a write before a block's start (its header or leading canary)" },
	[ERROR_HEAP_BUFFER_OVERFLOW] = { "heap-buffer-overflow", 8,
		"heap-buffer-overflow on address", true, "heap_buffer_overflow", false, false,
		"a write past a block's end (its trailing canary)" },
	[ERROR_USE_AFTER_FREE] = { "use-after-free", 9, "use-after-free on address", true,
		"use_after_free", false, false, "a write into a freed block (in quarantine)" },
	[ERROR_COUNTER_MISMATCH] = { "counter-mismatch", 10, "counter-mismatch on address", true,
		"counter_mismatch", false, false,
		"a pool's counters disagree with its blocks (pooldump check)" },
	[ERROR_LEAKED_POOL] = { "leaked-pool", 11, "leaked-pool", false, "leaked_pool", true, false,
		"a pool this process created and never deleted, at the last put_module or exit" },
	[ERROR_LEAK] = { "detected memory leaks", 12, "detected memory leaks", false, "leak", true,
		false, "blocks still live at delete_pool, the last put_module or exit" },
	[ERROR_UNREFERENCED_LEAK] = { "detected unreferenced memory", 13,
		"detected unreferenced memory", false, "unreferenced", true, true,
		"live blocks that no pointer reaches" },
};

const struct error_kind_info *error_kind_info(enum error_kind kind)
{
	if ((unsigned)kind >= ERROR_KIND_COUNT)
		kind = ERROR_KIND_NONE;
	return &kinds[kind];
}

enum error_kind error_kind_from_name(const char *name)
{
	if (name == NULL)
		return ERROR_KIND_NONE;
	for (unsigned kind = ERROR_KIND_NONE + 1; kind < ERROR_KIND_COUNT; kind++) {
		if (strcmp(kinds[kind].name, name) == 0)
			return (enum error_kind)kind;
	}
	return ERROR_KIND_NONE;
}

enum error_kind error_kind_from_headline(const char *line)
{
	if (line == NULL)
		return ERROR_KIND_NONE;
	for (unsigned kind = ERROR_KIND_NONE + 1; kind < ERROR_KIND_COUNT; kind++) {
		const char *headline = kinds[kind].headline;
		size_t length = strlen(headline);
		/* the whole headline, then the end of the line or what follows it */
		if (strncmp(line, headline, length) == 0
			&& (line[length] == '\0' || line[length] == '\n' || line[length] == ' '))
			return (enum error_kind)kind;
	}
	return ERROR_KIND_NONE;
}

struct error_figures error_figures_of_finding(struct debug_block_finding finding)
{
	struct error_figures figures = { ERROR_KIND_NONE, false, 0, 0 };

	switch (finding.problem) {
	case BLOCK_OK:
		break;
	case BLOCK_HEADER_DAMAGED:
		/* the header lies before the block: where exactly is unknown */
		figures.kind = ERROR_HEAP_BUFFER_UNDERFLOW;
		break;
	case BLOCK_UNDERFLOW:
		figures.kind = ERROR_HEAP_BUFFER_UNDERFLOW;
		figures.offset_known = true;
		figures.offset = -(long long)finding.offset;
		break;
	case BLOCK_OVERFLOW:
		figures.kind = ERROR_HEAP_BUFFER_OVERFLOW;
		figures.offset_known = true;
		figures.offset = (long long)finding.offset;
		figures.overflow_bytes = finding.damaged_bytes;
		break;
	case BLOCK_POISON_DAMAGED:
		figures.kind = ERROR_USE_AFTER_FREE;
		figures.offset_known = true;
		figures.offset = (long long)finding.offset;
		break;
	}
	return figures;
}

static bool key_is_identifier(const char *key)
{
	if (key[0] == '\0')
		return false;
	for (const char *c = key; *c != '\0'; c++) {
		if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
			return false;
	}
	return true;
}

bool error_kinds_validate(const char **why)
{
	const char *problem = NULL;

	for (unsigned a = 0; a < ERROR_KIND_COUNT && problem == NULL; a++) {
		const struct error_kind_info *row = &kinds[a];
		if (row->name == NULL || row->headline == NULL || row->key == NULL
			|| row->meaning == NULL)
			problem = "a kind has no row, or a row lacks a column";
		else if (!key_is_identifier(row->key))
			problem = "a machine key is not [a-z_]+";
		else if (strncmp(row->headline, row->name, strlen(row->name)) != 0)
			problem = "a headline does not start with its kind's name";
		for (unsigned b = a + 1; b < ERROR_KIND_COUNT && problem == NULL; b++) {
			const struct error_kind_info *other = &kinds[b];
			if (other->name == NULL || other->headline == NULL || other->key == NULL)
				continue; /* reported on its own turn */
			if (strcmp(row->name, other->name) == 0 || strcmp(row->key, other->key) == 0
				|| strcmp(row->headline, other->headline) == 0)
				problem = "two kinds share a name, key or headline";
			else if (row->precedence == other->precedence)
				problem = "two kinds share a precedence";
		}
	}
	if (problem != NULL && why != NULL)
		*why = problem;
	return problem == NULL;
}
