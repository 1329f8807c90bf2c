/*
 * fault_injection.c - allocations that fail on purpose (Driver Verifier's
 * "Low Resources Simulation"), so that a driver's error paths run in QA:
 * the Nth allocation (fail_nth), each with a probability (fail_rate, with
 * fail_seed for a reproducible sequence), narrowed to one pool (fail_pool)
 * or to callers whose function matches (fail_caller).
 *
 * Two steps, so that no pool lock is held while a caller is matched: the
 * filters (fault_injection_applies() in debug_internal.h, a quick test of
 * fault_injection_armed, then fault_injection_matches() here; matching
 * symbolizes through the reporter) run before the pool is locked;
 * fault_injection_fires() (the attempt counter and the random draw) may
 * run under it.
 *
 * Invariants: allocation_attempts counts the attempts that passed the
 * filters since B_MODULE_INIT; random_state is never 0 (xorshift).
 *
 * Locking: random_lock (a leaf: nothing is taken under it) protects
 * random_state; the counter is atomic.
 */
#include "config.h"

#include <stdatomic.h>

#include "debug/debug_internal.h"
#include "kernel/lock.h"

bool fault_injection_armed;
static _Atomic uint64_t allocation_attempts;
static uint64_t random_state;
static mutex random_lock = MUTEX_INITIALIZER("area_malloc fault injection");

void fault_injection_init(void)
{
	fault_injection_armed = debug_options.fail_nth != 0 || debug_options.fail_rate > 0.0;
	atomic_store(&allocation_attempts, 0);
	random_state = debug_options.fail_seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	if (random_state == 0)
		random_state = 1;
}

static uint64_t next_random(void)
{
	/* xorshift64*: enough for failure injection, reproducible by seed */
	uint64_t x = random_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	random_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

bool fault_injection_matches(struct pool *pool, uintptr_t caller)
{
	if (debug_options.fail_pool != 0 && pool->area != debug_options.fail_pool)
		return false;
	return debug_options.fail_caller[0] == '\0'
		|| reporter_caller_matches(caller, debug_options.fail_caller);
}

bool fault_injection_fires(void)
{
	uint64_t attempt = atomic_fetch_add(&allocation_attempts, 1) + 1;
	bool fail = debug_options.fail_nth != 0 && attempt == debug_options.fail_nth;

	if (!fail && debug_options.fail_rate > 0.0) {
		mutex_lock(&random_lock);
		fail = (double)(next_random() >> 11) / (double)(1ull << 53)
			< debug_options.fail_rate;
		mutex_unlock(&random_lock);
	}
	return fail;
}
