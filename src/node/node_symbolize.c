/*
 * node_symbolize.c - callers named from a node's image records
 * (node_symbolize in node_reader.h).
 *
 * Why a cache: a million blocks share few callers, and symbolizing an
 * address (libdw) costs far more than printing it. The symbolizer is
 * opened on first use, from the image records the process file held, not
 * from this process's own maps.
 *
 * Invariants: the cache is an open-addressing table keyed by address, at
 * most half full; an entry's strings live as long as the node. Out of
 * memory, an address is shown bare ("0x..."), never left out.
 *
 * Locking: none; the cache belongs to the node's thread (the bare-address
 * fallback is thread-local).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node_reader_internal.h"

static size_t symbol_slot(uintptr_t address, size_t capacity)
{
	uint64_t hash = (uint64_t)address * 0x9e3779b97f4a7c15ull;
	return (size_t)(hash >> 32) & (capacity - 1);
}

static bool grow_symbols(struct node *node)
{
	size_t capacity = node->symbol_capacity ? node->symbol_capacity * 2 : 256;
	struct node_symbol *table = calloc(capacity, sizeof(*table));

	if (table == NULL)
		return false;
	for (size_t i = 0; i < node->symbol_capacity; i++) {
		struct node_symbol *old = &node->symbols[i];
		size_t slot;
		if (old->text == NULL)
			continue;
		for (slot = symbol_slot(old->address, capacity); table[slot].text != NULL;
			slot = (slot + 1) & (capacity - 1))
			;
		table[slot] = *old;
	}
	free(node->symbols);
	node->symbols = table;
	node->symbol_capacity = capacity;
	return true;
}

static void open_symbolizer(struct node *node)
{
	struct symbolizer_image *images;

	if (node->symbolizer != NULL || node->symbolizer_failed)
		return;
	images = calloc(node->image_count ? node->image_count : 1, sizeof(*images));
	if (images != NULL) {
		for (size_t i = 0; i < node->image_count; i++)
			symbolizer_image_from_record(&node->images[i], &images[i]);
		node->symbolizer = symbolizer_open_images(images, node->image_count);
		free(images);
	}
	if (node->symbolizer == NULL) {
		node->symbolizer_failed = true;
		node_warn(node, "cannot symbolize callers: %s", strerror(errno ? errno : ENOMEM));
	}
}

/* When even the cache is out of memory: the bare address. */
static const char *unsymbolized(uintptr_t address)
{
	static __thread char text[32];

	snprintf(text, sizeof(text), "0x%" PRIxPTR, address);
	return text;
}

/* The cache entry of address, made when new; NULL when out of memory. */
static const struct node_symbol *lookup(struct node *node, uintptr_t address)
{
	struct symbol_info info;
	struct node_symbol *entry;
	char text[2048];
	size_t slot, text_length, json_length;

	if (node->symbol_count * 2 >= node->symbol_capacity && !grow_symbols(node))
		return NULL;
	for (slot = symbol_slot(address, node->symbol_capacity); node->symbols[slot].text != NULL;
		slot = (slot + 1) & (node->symbol_capacity - 1)) {
		if (node->symbols[slot].address == address)
			return &node->symbols[slot];
	}
	open_symbolizer(node);
	memset(&info, 0, sizeof(info));
	if (node->symbolizer != NULL) {
		symbolize(node->symbolizer, address, &info);
		symbol_format(&info, text, sizeof(text));
	} else {
		snprintf(text, sizeof(text), "0x%" PRIxPTR, address);
	}
	entry = &node->symbols[slot];
	text_length = strlen(text);
	/* the JSON is made in place, in text's allocation: no static buffer
	 * (the debug module links this file, and static TLS is scarce for a
	 * dlopen'ed module) and no second allocation to free */
	entry->text = malloc(text_length + 1 + SYMBOL_JSON_MAX);
	entry->function = strdup(info.function);
	if (entry->text == NULL || entry->function == NULL) {
		free(entry->text);
		free(entry->function);
		entry->text = entry->function = NULL;
		return NULL;
	}
	memcpy(entry->text, text, text_length + 1);
	entry->json = symbol_format_json(&info, entry->text + text_length + 1, SYMBOL_JSON_MAX);
	json_length = strlen(entry->json);
	/* keep only what it took */
	char *shrunk = realloc(entry->text, text_length + json_length + 2);
	if (shrunk != NULL) {
		entry->text = shrunk;
		entry->json = shrunk + text_length + 1;
	}
	entry->address = address;
	node->symbol_count++;
	return entry;
}

const char *node_symbolize(struct node *node, uintptr_t address, const char **function)
{
	const struct node_symbol *entry = lookup(node, address);

	if (function != NULL)
		*function = entry != NULL ? entry->function : "";
	return entry != NULL ? entry->text : unsymbolized(address);
}

const char *node_symbolize_json(struct node *node, uintptr_t address)
{
	const struct node_symbol *entry = lookup(node, address);

	return entry != NULL ? entry->json : SYMBOL_JSON_UNKNOWN;
}
