/*
 * pool_fork.h - what fork() does to the pools of both builds, in one place.
 *
 * A child must never inherit a lock that a thread it does not have held in
 * the middle of an operation. So, as glibc does with its arenas, the
 * handlers take the registry's lock and then every live pool's lock before
 * fork, in the lock order (docs/ARCHITECTURE.md), and give them back after:
 * the parent unlocks, the child (whose only thread is the one that forked)
 * initialises each pool's lock afresh. A single-threaded process takes no
 * pool lock: nothing can hold one.
 *
 * Each module build adds its own state through hooks: the release build its
 * thread caches, the debug build its pool files (a child must own private
 * copies of its pools, never pages shared with the parent through the node)
 * and its owner-tag caches.
 *
 * Locking: the registry's lock, then (through prepare) whatever a build
 * needs before the pools, then every pool's lock. Hooks run with those held.
 */
#ifndef AREA_MALLOC_CORE_POOL_FORK_H
#define AREA_MALLOC_CORE_POOL_FORK_H

#include <stdbool.h>

struct pool;

struct pool_fork_hooks {
	/* Before fork: the registry's lock is held, no pool's lock yet. */
	void (*prepare)(void);
	/* In the parent after fork, every lock still held. */
	void (*parent)(void);
	/* In the child after fork, before any pool is touched. */
	void (*child_begin)(void);
	/* In the child, each live pool: make it the child's own. The pool's
	 * lock is initialised afresh afterwards. */
	void (*child_pool)(struct pool *pool);
	/* In the child, after every pool, the registry's lock still held. */
	void (*child_end)(void);
};

/*
 * Installs the fork handlers of this module image, once per load (glibc
 * drops a DSO's handlers when it is unloaded); hooks (may be NULL members)
 * must outlive the image's load. false when pthread_atfork failed.
 */
bool pool_fork_install(const struct pool_fork_hooks *hooks);

#endif /* AREA_MALLOC_CORE_POOL_FORK_H */
