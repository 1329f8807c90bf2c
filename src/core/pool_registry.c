/*
 * pool_registry.c - the table behind opaque pool ids.
 *
 * An id is POOL_ID_TAG | generation << SLOT_BITS | slot. The tag sets the
 * top bit, so an id is a non-canonical address on x86-64 and arm64: code
 * that dereferences one by mistake faults at once instead of reading memory.
 *
 * Invariants (checked by pool_registry_validate):
 *  - a slot is live iff its 'id' is non-zero; a live slot's id decodes to
 *    the slot's own index and its pool pointer is non-NULL;
 *  - a free slot is on the free stack exactly once, a live slot never;
 *  - live_count equals the number of live slots;
 *  - next_generation is larger than every generation ever handed out.
 *
 * Locking: registry_lock (a sleeping lock) serialises add, remove and
 * for_each; it protects the free stack, live_count and next_generation.
 * lookup takes no lock: it reads the slot's id and pool atomically (acquire),
 * and add publishes the pool before the id (release). The seed makes
 * malloc/free unsafe against delete_pool of the same pool, so a lookup
 * racing a remove of the same pool is the caller's bug, which the debug
 * build reports: there, every call acquires the pool (a per-slot in-flight
 * counter, incremented before the id is checked) and delete_pool sets the
 * slot's deleting flag before it waits for the counter to drain. Both sides
 * use sequentially consistent atomics, so either the call sees the flag or
 * the delete sees the call (Dekker's argument); never neither. The call
 * reads the flag before the id: remove clears the flag after it clears the
 * id, so a call that reads the flag clear after a delete it did not hold
 * back reads the id cleared (or a new generation's) too. Read the other way
 * round, a call could see the old id, then the flag cleared by the remove,
 * and take a deleted pool (or its slot's next pool) as its own: the thread
 * stress test hung on exactly that (tests/pool/test_pool_registry.c,
 * "acquire_races_delete", is its regression test).
 */
#include "config.h"

#include <sys/single_threaded.h>

#include <stdatomic.h>
#include <stdint.h>
#include <sched.h>
#include <sys/random.h>

#include "core/pool_registry.h"
#include "kernel/lock.h"

#define SLOT_BITS 16
#define SLOT_COUNT (1u << SLOT_BITS)
#define GENERATION_BITS 46
#define GENERATION_MASK ((UINT64_C(1) << GENERATION_BITS) - 1)
#define POOL_ID_TAG (UINT64_C(1) << 63)

struct slot {
	_Atomic uint64_t id;
	_Atomic(struct pool *) pool;
	_Atomic uint32_t in_flight; /* debug build: calls running on this pool */
	_Atomic bool deleting;      /* debug build: delete_pool is running */
};

/* 1.5 MiB of zero-initialised BSS: pages are committed only as slots are used. */
static struct slot slots[SLOT_COUNT];
static uint32_t free_stack[SLOT_COUNT];
static uint32_t free_top;        /* entries in free_stack */
static uint32_t slots_ever_used; /* slots [0, slots_ever_used) have been live once */
static size_t live_count;
static uint64_t next_generation;
static mutex registry_lock = MUTEX_INITIALIZER("area_malloc pool registry");

static uint64_t make_id(uint32_t slot, uint64_t generation)
{
	return POOL_ID_TAG | (generation & GENERATION_MASK) << SLOT_BITS | slot;
}

static bool decode_slot(uint64_t id, uint32_t *slot)
{
	if ((id & POOL_ID_TAG) == 0)
		return false;
	*slot = (uint32_t)(id & (SLOT_COUNT - 1));
	return *slot < SLOT_COUNT;
}

/* The slot an id names (live or not), or NULL for an id that names none. */
static inline struct slot *slot_of(const void *id_pointer, uint64_t *id)
{
	uint32_t slot;

	*id = (uint64_t)(uintptr_t)id_pointer;
	return decode_slot(*id, &slot) ? &slots[slot] : NULL;
}

/* Generations start at a random point at each load, so ids from an earlier
 * load of the module (whose pools are all gone) do not name new pools. */
static uint64_t take_generation(void)
{
	if (next_generation == 0) {
		uint64_t seed = 0;
		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
			seed = (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15u;
		/* leave room below the mask so the counter never wraps in practice */
		next_generation = (seed & (GENERATION_MASK >> 2)) + 1;
	}
	return next_generation++;
}

const void *pool_registry_add(struct pool *pool)
{
	uint32_t slot;
	uint64_t id;

	if (pool == NULL)
		return NULL;
	mutex_lock(&registry_lock);
	if (free_top > 0) {
		slot = free_stack[--free_top];
	} else if (slots_ever_used < SLOT_COUNT) {
		slot = slots_ever_used++;
	} else {
		mutex_unlock(&registry_lock);
		return NULL;
	}
	id = make_id(slot, take_generation());
	atomic_store_explicit(&slots[slot].pool, pool, memory_order_relaxed);
	atomic_store_explicit(&slots[slot].id, id, memory_order_release);
	live_count++;
	mutex_unlock(&registry_lock);
	return (const void *)(uintptr_t)id;
}

struct pool *pool_registry_lookup(const void *id_pointer)
{
	uint64_t id;
	struct slot *entry = slot_of(id_pointer, &id);

	if (entry == NULL || atomic_load_explicit(&entry->id, memory_order_acquire) != id)
		return NULL;
	return atomic_load_explicit(&entry->pool, memory_order_relaxed);
}

struct pool *pool_registry_remove(const void *id_pointer)
{
	uint64_t id = (uint64_t)(uintptr_t)id_pointer;
	struct pool *pool;
	uint32_t slot;

	if (!decode_slot(id, &slot))
		return NULL;
	mutex_lock(&registry_lock);
	if (atomic_load_explicit(&slots[slot].id, memory_order_relaxed) != id) {
		mutex_unlock(&registry_lock);
		return NULL;
	}
	pool = atomic_load_explicit(&slots[slot].pool, memory_order_relaxed);
	atomic_store_explicit(&slots[slot].id, 0, memory_order_release);
	atomic_store_explicit(&slots[slot].pool, NULL, memory_order_relaxed);
	atomic_store(&slots[slot].deleting, false);
	free_stack[free_top++] = slot;
	live_count--;
	mutex_unlock(&registry_lock);
	return pool;
}

/*
 * The in-flight count is what lets delete_pool wait for the calls already
 * past their check. With one thread in the process nothing can race it, so
 * a plain load and store do (as glibc skips its locks): a read-modify-write
 * that must be atomic costs two of them per call on the debug build's
 * fastest path. A thread created between an acquire and its release sees
 * the stored value (thread creation orders it), so pairs still match.
 */
static inline void in_flight_add(struct slot *entry, int delta)
{
	if (__libc_single_threaded)
		atomic_store_explicit(&entry->in_flight,
			atomic_load_explicit(&entry->in_flight, memory_order_relaxed) + delta,
			memory_order_relaxed);
	else
		atomic_fetch_add(&entry->in_flight, delta);
}

enum pool_acquire_result pool_registry_acquire(const void *id_pointer, struct pool **pool)
{
	uint64_t id;
	struct slot *entry = slot_of(id_pointer, &id);

	if (entry == NULL)
		return POOL_NOT_LIVE;
	in_flight_add(entry, 1);
	/* the flag first, then the id: see the comment at the top */
	if (atomic_load(&entry->deleting)) {
		bool same = atomic_load(&entry->id) == id;
		in_flight_add(entry, -1);
		return same ? POOL_DELETING : POOL_NOT_LIVE;
	}
	if (atomic_load(&entry->id) != id) {
		in_flight_add(entry, -1);
		return POOL_NOT_LIVE;
	}
	*pool = atomic_load_explicit(&entry->pool, memory_order_relaxed);
	return POOL_ACQUIRED;
}

void pool_registry_release(const void *id_pointer)
{
	uint64_t id;
	struct slot *entry = slot_of(id_pointer, &id);

	if (entry != NULL)
		in_flight_add(entry, -1);
}

enum pool_acquire_result pool_registry_begin_delete(const void *id_pointer, struct pool **pool)
{
	uint64_t id;
	struct slot *entry = slot_of(id_pointer, &id);

	if (entry == NULL)
		return POOL_NOT_LIVE;
	mutex_lock(&registry_lock);
	if (atomic_load(&entry->id) != id) {
		mutex_unlock(&registry_lock);
		return POOL_NOT_LIVE;
	}
	if (atomic_load(&entry->deleting)) {
		mutex_unlock(&registry_lock);
		return POOL_DELETING;
	}
	atomic_store(&entry->deleting, true);
	*pool = atomic_load_explicit(&entry->pool, memory_order_relaxed);
	mutex_unlock(&registry_lock);
	/* Calls already past their check finish; they hold no lock we need. */
	while (atomic_load(&entry->in_flight) != 0)
		sched_yield();
	return POOL_ACQUIRED;
}

void pool_registry_for_each(pool_registry_visit_fn fn, void *context)
{
	mutex_lock(&registry_lock);
	pool_registry_for_each_held(fn, context);
	mutex_unlock(&registry_lock);
}

void pool_registry_for_each_held(pool_registry_visit_fn fn, void *context)
{
	for (uint32_t slot = 0; slot < slots_ever_used; slot++) {
		uint64_t id = atomic_load_explicit(&slots[slot].id, memory_order_relaxed);
		if (id != 0)
			fn(atomic_load_explicit(&slots[slot].pool, memory_order_relaxed),
				(const void *)(uintptr_t)id, context);
	}
}

void pool_registry_fork_prepare(void)
{
	mutex_lock(&registry_lock);
}

void pool_registry_fork_parent(void)
{
	mutex_unlock(&registry_lock);
}

void pool_registry_fork_child(void)
{
	/* the child's only thread is the one that forked, which holds it */
	mutex_unlock(&registry_lock);
}

size_t pool_registry_count(void)
{
	size_t count;

	mutex_lock(&registry_lock);
	count = live_count;
	mutex_unlock(&registry_lock);
	return count;
}

bool pool_registry_validate(const char **why)
{
	static uint8_t on_free_stack[SLOT_COUNT];
	const char *problem = NULL;
	size_t live = 0;

	mutex_lock(&registry_lock);
	for (uint32_t slot = 0; slot < slots_ever_used; slot++)
		on_free_stack[slot] = 0;
	for (uint32_t i = 0; i < free_top && problem == NULL; i++) {
		uint32_t slot = free_stack[i];
		if (slot >= slots_ever_used)
			problem = "free stack names a slot never used";
		else if (on_free_stack[slot]++)
			problem = "slot on the free stack twice";
	}
	for (uint32_t slot = 0; slot < slots_ever_used && problem == NULL; slot++) {
		uint64_t id = atomic_load_explicit(&slots[slot].id, memory_order_relaxed);
		struct pool *pool = atomic_load_explicit(&slots[slot].pool, memory_order_relaxed);
		if (id == 0) {
			if (!on_free_stack[slot])
				problem = "free slot missing from the free stack";
			continue;
		}
		live++;
		if (on_free_stack[slot])
			problem = "live slot on the free stack";
		else if ((uint32_t)(id & (SLOT_COUNT - 1)) != slot || !(id & POOL_ID_TAG))
			problem = "live id does not decode to its slot";
		else if (pool == NULL)
			problem = "live slot without a pool";
		else if (atomic_load(&slots[slot].in_flight) > UINT32_MAX / 2)
			problem = "in-flight counter underflowed";
		else if (((id >> SLOT_BITS) & GENERATION_MASK) >= next_generation)
			problem = "generation not below the next generation";
	}
	if (problem == NULL && live != live_count)
		problem = "live count does not match the live slots";
	mutex_unlock(&registry_lock);
	if (problem != NULL && why != NULL)
		*why = problem;
	return problem == NULL;
}
