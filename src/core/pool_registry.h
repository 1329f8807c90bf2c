/*
 * pool_registry.h - opaque pool ids: a slot and a generation in a table.
 *
 * The seed calls the pool id opaque. It is never dereferenced to be
 * checked: an id encodes a slot index and a generation number, and names a
 * pool only while that slot holds that generation. A stale id (of a deleted
 * pool), NULL or a garbage value is recognised in O(1) and can never name a
 * pool created later, since generations are never reused within a load of
 * the module and start at a random value at each load.
 */
#ifndef AREA_MALLOC_CORE_POOL_REGISTRY_H
#define AREA_MALLOC_CORE_POOL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct pool;

/* Registers pool; returns its new id, or NULL when the table is full. */
const void *pool_registry_add(struct pool *pool);

/* The live pool that id names, or NULL. Lock-free, O(1). */
struct pool *pool_registry_lookup(const void *id);

/*
 * Unregisters the pool that id names and returns it; NULL if id names no
 * live pool (so a second delete of one id fails and never touches a pool
 * created since). After it returns, lookups of id fail.
 */
struct pool *pool_registry_remove(const void *id);

/*
 * In-flight tracking, for the debug build: the seed makes the pool calls
 * unsafe against delete_pool of the same pool, and the debug build reports
 * such a use instead of touching an unmapped pool. The counters live in the
 * registry's own memory, never in the pool's area, so they stay valid while
 * the area goes away.
 */
enum pool_acquire_result {
	POOL_ACQUIRED,
	POOL_NOT_LIVE, /* NULL, garbage or stale id */
	POOL_DELETING, /* delete_pool of this pool is running */
};

/* Marks one call in flight on the pool id names; on POOL_ACQUIRED, *pool
 * is set and pool_registry_release() must follow. */
enum pool_acquire_result pool_registry_acquire(const void *id, struct pool **pool);
void pool_registry_release(const void *id);

/*
 * Starts deleting the pool id names: later acquires get POOL_DELETING, and
 * this waits until the calls already in flight have released it. Then the
 * caller finishes with pool_registry_remove(). Returns POOL_DELETING if
 * another delete of the same pool is running.
 */
enum pool_acquire_result pool_registry_begin_delete(const void *id, struct pool **pool);

typedef void (*pool_registry_visit_fn)(struct pool *pool, const void *id, void *context);

/*
 * Calls fn for every live pool, in slot order, with the registry lock held:
 * no pool can be removed (and so destroyed) while fn looks at it.
 */
void pool_registry_for_each(pool_registry_visit_fn fn, void *context);

/*
 * fork(): prepare takes the registry lock so that no other thread holds it
 * when the process is copied; parent and child release it again (the child
 * then walks its inherited pools safely).
 */
void pool_registry_fork_prepare(void);
void pool_registry_fork_parent(void);
void pool_registry_fork_child(void);

/* As pool_registry_for_each(), for a caller that already holds the
 * registry lock (between fork_prepare and fork_parent/fork_child). */
void pool_registry_for_each_held(pool_registry_visit_fn fn, void *context);

/* Number of live pools. */
size_t pool_registry_count(void);

/* Checks the table's invariants (see pool_registry.c); for tests. */
bool pool_registry_validate(const char **why);

#endif /* AREA_MALLOC_CORE_POOL_REGISTRY_H */
