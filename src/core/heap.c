/* heap.c - STUB, being written. */
#include "config.h"
#include "core/heap.h"
struct heap *heap_init(void *m, size_t b) { (void)m; (void)b; return NULL; }
size_t heap_region_bytes_for(size_t s) { return s; }
void *heap_alloc(struct heap *h, size_t s) { (void)h; (void)s; return NULL; }
void *heap_alloc_zeroed(struct heap *h, size_t s) { (void)h; (void)s; return NULL; }
void heap_free(struct heap *h, void *p) { (void)h; (void)p; }
void *heap_realloc(struct heap *h, void *p, size_t s) { (void)h; (void)p; (void)s; return NULL; }
bool heap_resize_in_place(struct heap *h, void *p, size_t s) { (void)h; (void)p; (void)s; return false; }
size_t heap_usable_size(const struct heap *h, const void *p) { (void)h; (void)p; return 0; }
bool heap_block_is_live(const struct heap *h, const void *p) { (void)h; (void)p; return false; }
bool heap_contains(const struct heap *h, const void *p) { (void)h; (void)p; return false; }
void heap_get_stats(const struct heap *h, struct heap_stats *s) { (void)h; (void)s; }
void heap_walk(const struct heap *h, heap_walk_fn f, void *c) { (void)h; (void)f; (void)c; }
bool heap_validate(const struct heap *h, const char **w) { (void)h; (void)w; return false; }
