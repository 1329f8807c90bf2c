/*
 * pool_fork.c - the fork handlers of both module builds (see pool_fork.h).
 *
 * Invariant: between the prepare handler and either after-fork handler the
 * registry's lock is held, and so is every live pool's lock when
 * pools_locked; nothing else of this file changes meanwhile.
 *
 * Locking: as pool_fork.h says; fork() itself serialises the handlers.
 */
#include "config.h"

#include <pthread.h>
#include <sys/single_threaded.h>

#include "core/pool.h"
#include "core/pool_fork.h"
#include "core/pool_registry.h"

static const struct pool_fork_hooks *hooks;
static bool pools_locked;
static bool installed;

static void lock_pool(struct pool *pool, const void *id, void *context)
{
	(void)id;
	(void)context;
	mutex_lock(&pool->lock);
}

static void unlock_pool(struct pool *pool, const void *id, void *context)
{
	(void)id;
	(void)context;
	mutex_unlock(&pool->lock);
}

static void make_pool_the_childs(struct pool *pool, const void *id, void *context)
{
	(void)id;
	(void)context;
	if (hooks->child_pool != NULL)
		hooks->child_pool(pool);
	/* the lock was held across fork, or by a thread the child lacks */
	mutex_init(&pool->lock, POOL_AREA_NAME);
}

static void before_fork(void)
{
	pool_registry_fork_prepare();
	if (hooks->prepare != NULL)
		hooks->prepare();
	pools_locked = !__libc_single_threaded;
	if (pools_locked)
		pool_registry_for_each_held(lock_pool, NULL);
}

static void after_fork_in_parent(void)
{
	if (hooks->parent != NULL)
		hooks->parent();
	if (pools_locked)
		pool_registry_for_each_held(unlock_pool, NULL);
	pool_registry_fork_parent();
}

static void after_fork_in_child(void)
{
	if (hooks->child_begin != NULL)
		hooks->child_begin();
	pool_registry_for_each_held(make_pool_the_childs, NULL);
	if (hooks->child_end != NULL)
		hooks->child_end();
	pool_registry_fork_child();
}

bool pool_fork_install(const struct pool_fork_hooks *module_hooks)
{
	hooks = module_hooks;
	if (!installed)
		installed =
			pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
	return installed;
}
