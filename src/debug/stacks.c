/*
 * stacks.c - the process's stack depot (format/stack_depot.h) and the
 * capture of stacks into it: every owner tag's stack becomes a 32-bit
 * handle that blocks and free records keep.
 *
 * The depot lives in a mapping of its own with a PROT_NONE page on either
 * side, never in a pool's area: the node file NODE_DIR/PID/stacks mapped
 * shared (its space reserved with fallocate ahead of the records, as pool
 * files are), or anonymous memory without a node. Its size is fixed at
 * start (stack_depot_bytes); when its main part is full, a new stack is cut
 * to its first frame and kept in the reserve (STACK_HANDLE_TRUNCATED, one
 * record per call site), and when even the reserve is full its handle is
 * STACK_HANDLE_LOST; the first time, one warning says so. A file that
 * cannot grow (a full tmpfs) cuts stacks the same way, silently, as a
 * pool's refused reservation is a silent NULL; the depot's counters
 * (truncated, lost) and pooldump say it.
 *
 * A capture first asks the thread's memo of its last few stacks (MEMO_SETS
 * sets of two, a set per caller): a stack, walked or from the unwind
 * tables, is the stack of a later call whose entry frame is at the same
 * place and whose stack holds the same return addresses and pinning frame
 * pointers at the same places (unwind_slots): no walk, no hashing, no
 * lookup, a few independent loads. Otherwise it walks the frame pointers
 * (unwind.c) and asks the depot (lock-free): a stack it holds as walked
 * right is taken as it is; anything else goes through unwind_resolve,
 * which may fall back on the unwind tables. The memo also gives debug_block_init() the handle of the
 * owner it was just given (handle_of), so a block costs no second lookup.
 *
 * fork: a child must not write into its parent's depot file. It copies
 * the records published at fork (below used and reserve_used) into
 * anonymous memory, or into a stacks file of its own node with
 * fork_nodes=1, and rebuilds the hash chains from them: records the
 * parent's other threads were appending meanwhile are left out. An
 * anonymous depot is the child's by copy-on-write already; its chains are
 * rebuilt only when an append was under way at fork.
 *
 * Invariants: depot is NULL or a sound depot of depot_region_bytes; a memo
 * entry is used only when its generation is depot_generation (a new depot,
 * a new generation); in a file, every byte written is reserved: the
 * header's page, the bucket pages in bucket_pages_reserved, the records
 * below records_reserved_end, and each reserve record.
 *
 * Locking: depot_lock, a leaf, serialises appends and the file's
 * reservations (fallocate); nothing else is taken under it, and it may be
 * taken with a pool's lock held (debug_block_init). Lookups, expansions and
 * the memos take no lock (a memo is its thread's own).
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/debug_internal.h"
#include "debug/node_writer.h"
#include "debug/unwind.h"
#include "format/stack_depot.h"
#include "kernel/lock.h"

#define MEMO_SETS 4
#define MEMO_WAYS 2
#define MEMO_BYTES (2 * B_PAGE_SIZE)
/* File space is reserved (fallocate) before it is written: the header's
 * page at creation, the records in steps, each page of buckets when a
 * bucket on it is first written (a tmpfs page counts). */
#define RECORDS_RESERVE_STEP (64 * 1024)
#define MAX_BUCKET_PAGES 64

struct memo_entry {
	uint32_t generation;
	uint32_t handle;
	uint32_t count;
	uintptr_t frames[AREA_MALLOC_MAX_FRAMES];
	/* where they lay on the stack (walked or from the unwind tables), and
	 * where the entry frame's CFA was from stacks_capture's frame */
	struct unwind_slots slots;
	intptr_t distance;
};

struct thread_memo {
	struct thread_memo *next; /* every memo ever made, for reuse */
	_Atomic bool in_use;
	struct memo_entry *last;             /* the entry of the thread's last capture */
	const area_malloc_owner *last_owner; /* and the owner it filled */
	uint8_t recent[MEMO_SETS];           /* the way of each set used last */
	struct memo_entry entries[MEMO_SETS][MEMO_WAYS];
};

static mutex depot_lock = MUTEX_INITIALIZER("area_malloc stack depot");
static struct stack_depot *depot;
static size_t depot_region_bytes;
static int depot_fd = -1;
static uint64_t records_reserved_end;  /* from the start of the file */
static uint64_t bucket_pages_reserved; /* bit n: bucket page n */
static _Atomic uint32_t depot_generation;
static _Atomic bool appending;
static bool warned_full;

/* initial-exec: a module is dlopen()ed, and the default model would call
 * __tls_get_addr() on every capture (as thread_cache.c explains) */
static __thread struct thread_memo *own_memo __attribute__((tls_model("initial-exec")));
static _Atomic(struct thread_memo *) all_memos;
static pthread_key_t memo_key;
static bool memo_key_made;

static uint32_t handle_of_owner(void *context, const area_malloc_owner *owner);
static void release_memo(void *memo);
static bool expand_handle(void *context, uint32_t handle, area_malloc_owner *owner);

static const struct debug_stacks stack_hooks = { handle_of_owner, expand_handle, NULL };

/* ---- the mapping ---- */

static struct stack_depot *map_depot(size_t bytes, int fd)
{
	size_t total = bytes + 2 * B_PAGE_SIZE;
	char *reserve =
		mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *at;

	if (reserve == MAP_FAILED)
		return NULL;
	at = fd >= 0 ? mmap(reserve + B_PAGE_SIZE, bytes, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_FIXED, fd, 0)
		     : mmap(reserve + B_PAGE_SIZE, bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (at == MAP_FAILED) {
		munmap(reserve, total);
		return NULL;
	}
	return at;
}

static void unmap_depot(struct stack_depot *old, size_t bytes)
{
	if (old != NULL)
		munmap((char *)old - B_PAGE_SIZE, bytes + 2 * B_PAGE_SIZE);
}

_Static_assert((uint64_t)STACK_DEPOT_MAX_BUCKETS * sizeof(uint32_t)
		<= (uint64_t)MAX_BUCKET_PAGES * B_PAGE_SIZE,
	"a bit for each page of buckets");

/* A depot file in the node, mapped, with its header's page reserved; NULL
 * (and no file) when it cannot be. */
static struct stack_depot *map_file_depot(size_t bytes, int *fd_out)
{
	struct stack_depot *mapped;
	int fd = node_stacks_file_create(bytes, B_PAGE_SIZE);

	*fd_out = -1;
	if (fd < 0)
		return NULL;
	mapped = map_depot(bytes, fd);
	if (mapped == NULL) {
		node_stacks_file_remove(fd);
		return NULL;
	}
	*fd_out = fd;
	return mapped;
}

void stacks_start(const struct debug_options *options, struct debug_layout *layout, bool in_node)
{
	uint64_t capacity = options->stack_depot_bytes;

	mutex_lock(&depot_lock);
	depot_region_bytes = stack_depot_region_bytes(capacity, NULL);
	depot = NULL;
	records_reserved_end = stack_depot_records_offset(capacity);
	bucket_pages_reserved = 0;
	if (in_node)
		depot = map_file_depot(depot_region_bytes, &depot_fd);
	if (depot == NULL) {
		depot_fd = -1;
		depot = map_depot(depot_region_bytes, -1);
	}
	if (depot != NULL)
		stack_depot_init(depot, capacity);
	else
		dprintf("area_malloc: cannot map a stack depot of %zu bytes; stacks are not "
			"recorded\n",
			depot_region_bytes);
	warned_full = false;
	atomic_fetch_add(&depot_generation, 1);
	if (!memo_key_made)
		memo_key_made = pthread_key_create(&memo_key, release_memo) == 0;
	mutex_unlock(&depot_lock);
	layout->stacks = &stack_hooks;
}

void stacks_stop(void)
{
	mutex_lock(&depot_lock);
	unmap_depot(depot, depot_region_bytes);
	depot = NULL;
	if (depot_fd >= 0)
		close(depot_fd); /* the file goes with the node */
	depot_fd = -1;
	if (memo_key_made)
		pthread_key_delete(memo_key);
	memo_key_made = false;
	atomic_fetch_add(&depot_generation, 1);
	mutex_unlock(&depot_lock);
}

/* ---- each thread's memo ---- */

static void release_memo(void *memo)
{
	/* the thread ends: a later capture in one of its destructors claims
	 * a memo again */
	own_memo = NULL;
	atomic_store(&((struct thread_memo *)memo)->in_use, false);
}

static struct thread_memo *thread_memo(void)
{
	struct thread_memo *memo = own_memo;

	if (__builtin_expect(memo != NULL, 1))
		return memo;
	for (memo = atomic_load(&all_memos); memo != NULL; memo = memo->next) {
		bool idle = false;
		if (atomic_compare_exchange_strong(&memo->in_use, &idle, true))
			break;
	}
	if (memo == NULL) {
		_Static_assert(sizeof(struct thread_memo) <= MEMO_BYTES, "a memo fits its pages");
		memo = mmap(NULL, MEMO_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
		if (memo == MAP_FAILED)
			return NULL;
		atomic_store(&memo->in_use, true);
		memo->next = atomic_load(&all_memos);
		while (!atomic_compare_exchange_weak(&all_memos, &memo->next, memo))
			;
	}
	for (unsigned set = 0; set < MEMO_SETS; set++)
		for (unsigned way = 0; way < MEMO_WAYS; way++)
			memo->entries[set][way].generation = 0;
	memo->last = &memo->entries[0][0];
	own_memo = memo;
	if (memo_key_made)
		pthread_setspecific(memo_key, memo);
	return memo;
}

static inline unsigned memo_set(uintptr_t caller)
{
	return (unsigned)((caller ^ caller >> 7) % MEMO_SETS);
}

static inline bool same_frames(const uintptr_t *a, const uintptr_t *b, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* ---- the depot ---- */

static void warn_full_once(void)
{
	if (warned_full)
		return;
	warned_full = true;
	dprintf("area_malloc: the stack depot is full (%zu bytes, %" PRIu64 " stacks): new "
		"stacks keep their first frame only (option stack_depot_bytes gives it more room)\n",
		(size_t)depot->capacity, depot->stacks);
}

/* Makes a record that ends at end, and the bucket of hash, writable; with
 * depot_lock held. Reserve records (at the far end) are reserved alone. */
static bool depot_room(uint64_t end, uint32_t hash, bool truncated)
{
	uint64_t bucket_page =
		((uint64_t)(hash & (depot->bucket_count - 1)) * sizeof(uint32_t)) / B_PAGE_SIZE;

	if (end == 0)
		return false;
	if (depot_fd < 0)
		return true;
	if (!(bucket_pages_reserved & (uint64_t)1 << bucket_page)) {
		if (!node_reserve_range(depot_fd, depot->buckets_offset + bucket_page * B_PAGE_SIZE,
			    B_PAGE_SIZE))
			return false;
		bucket_pages_reserved |= (uint64_t)1 << bucket_page;
	}
	if (truncated) /* a few records, in no hurry: exactly what is needed */
		return node_reserve_range(depot_fd,
			end - sizeof(struct stack_record) - sizeof(uint64_t),
			sizeof(struct stack_record) + sizeof(uint64_t));
	if (end <= records_reserved_end)
		return true;
	{
		/* in steps that grow with the depot, as pool files reserve */
		uint64_t reserved = records_reserved_end - depot->records_offset;
		uint64_t step =
			reserved / 8 > RECORDS_RESERVE_STEP ? reserved / 8 : RECORDS_RESERVE_STEP;
		uint64_t target = (end + step + B_PAGE_SIZE - 1) & ~(uint64_t)(B_PAGE_SIZE - 1);
		if (target > depot->records_offset + depot->reserve_offset)
			target = depot->records_offset + depot->reserve_offset;
		if (target < end)
			target = end;
		if (!node_reserve_range(depot_fd, records_reserved_end,
			    target - records_reserved_end)
			&& (target = end,
				!node_reserve_range(depot_fd, records_reserved_end,
					end - records_reserved_end)))
			return false;
		records_reserved_end = target;
	}
	return true;
}

/* Adds a stack the depot did not hold (when it still does not). */
static uint32_t add_stack(const uintptr_t *frames, unsigned count, uint32_t hash, uint16_t flags)
{
	uint32_t handle, first_hash;
	uint64_t end;

	mutex_lock(&depot_lock);
	atomic_store_explicit(&appending, true, memory_order_relaxed);
	handle = stack_depot_find(depot, frames, count, hash, false);
	end = handle == 0 ? stack_depot_append_end(depot, count, false) : 0;
	if (handle == 0 && depot_room(end, hash, false))
		handle = stack_depot_append(depot, frames, count, hash, false, flags);
	if (handle == 0) {
		/* full (or its file could not grow: a full tmpfs, which costs no
		 * warning, as a pool's refused reservation does not): the stack
		 * is kept by its first frame */
		if (end == 0)
			warn_full_once();
		depot->truncated++;
		first_hash = stack_depot_hash(frames, 1);
		handle = stack_depot_find(depot, frames, 1, first_hash, true);
		if (handle == 0
			&& depot_room(stack_depot_append_end(depot, 1, true), first_hash, true))
			handle = stack_depot_append(depot, frames, 1, first_hash, true, 0);
		if (handle == 0) {
			depot->lost++;
			handle = STACK_HANDLE_LOST;
		}
	}
	atomic_store_explicit(&appending, false, memory_order_release);
	mutex_unlock(&depot_lock);
	return handle;
}

/* The handle of a stack, added when new. */
static uint32_t handle_of_frames(const uintptr_t *frames, unsigned count, bool walked, bool *added)
{
	uint32_t hash = stack_depot_hash(frames, count);
	uint32_t handle = stack_depot_find(depot, frames, count, hash, false);

	*added = false;
	if (handle != 0) {
		if (walked && !(stack_depot_flags(depot, handle) & STACK_RECORD_WALKED))
			stack_depot_add_flags(depot, handle, STACK_RECORD_WALKED);
		return handle;
	}
	*added = true;
	return add_stack(frames, count, hash, walked ? STACK_RECORD_WALKED : 0);
}

/* ---- captures ---- */

/*
 * The entry of the thread's memo that holds this call's stack, or NULL: a
 * stack, walked or from the unwind tables, that the thread's stack still
 * holds word for word where it lay (no walk, no unwinding). here is
 * stacks_capture's frame, from which the entry frame lies as far as it did.
 */
static struct memo_entry *memo_find(struct thread_memo *memo, uint32_t generation, uintptr_t caller,
	unsigned max, uintptr_t here)
{
	struct memo_entry *ways = memo->entries[memo_set(caller)];

	for (unsigned way = 0; way < MEMO_WAYS; way++) {
		struct memo_entry *entry = &ways[way];
		if (entry->generation != generation || entry->frames[0] != caller)
			continue;
		if (max == 1 ? entry->count == 1
			     : unwind_slots_match(&entry->slots, entry->frames,
				     here + (uintptr_t)entry->distance))
			return entry;
	}
	return NULL;
}

void stacks_capture(area_malloc_owner *owner, uintptr_t caller)
{
	uintptr_t frames[AREA_MALLOC_MAX_FRAMES];
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	unsigned max = debug_layout.frame_count, count = 1, set = memo_set(caller);
	struct thread_memo *memo = thread_memo();
	uint32_t generation = atomic_load_explicit(&depot_generation, memory_order_relaxed);
	struct memo_entry *entry = NULL;
	uint32_t handle = 0;

	if (max < 1 || max > AREA_MALLOC_MAX_FRAMES)
		max = 1;
	if (memo != NULL && (entry = memo_find(memo, generation, caller, max, here)) != NULL) {
		/* the stack of one of the thread's last calls from here */
		handle = entry->handle;
		count = entry->count;
		owner->frame_count = count;
		memcpy(owner->frames, entry->frames, count * sizeof(*frames));
	} else {
		struct unwind_walk walk = { .usable = true };
		struct unwind_slots slots = { .usable = false };
		bool walked = true, added = false;

		frames[0] = caller;
		if (max > 1)
			count = unwind_walk(caller, frames, max, &walk);
		if (depot != NULL && walk.usable && max > 1) {
			uint32_t hash = stack_depot_hash(frames, count);
			handle = stack_depot_find(depot, frames, count, hash, false);
			if (handle != 0 && (stack_depot_flags(depot, handle) & STACK_RECORD_WALKED))
				slots = walk.slots; /* known as walked right */
			else
				handle = 0; /* known, but not as walked right: check the walk */
		}
		if (handle == 0 && max > 1)
			count = unwind_resolve(caller, frames, count, max, &walk, &walked, &slots);
		if (handle == 0 && depot != NULL)
			handle = handle_of_frames(frames, count, walked, &added);
		if (memo != NULL) {
			/* the set's other way than the one used last */
			entry = &memo->entries[set][memo->recent[set] ^ 1];
			entry->generation = generation;
			entry->handle = handle;
			entry->count = count;
			memcpy(entry->frames, frames, count * sizeof(*frames));
			entry->slots = slots;
			entry->distance = (intptr_t)(walk.cfa - here);
		}
		/* a new stack's frames: the node's image table must know them */
		for (unsigned i = 0; added && i < count; i++)
			node_writer_note_caller(frames[i]);
		owner->frame_count = count;
		memcpy(owner->frames, frames, count * sizeof(*frames));
	}
	if (memo != NULL) {
		memo->last = entry;
		memo->last_owner = owner;
		memo->recent[set] = (uint8_t)(entry - memo->entries[set]);
	}
}

/* debug_block_init and _quarantine: the handle of the owner just captured. */
static uint32_t handle_of_owner(void *context, const area_malloc_owner *owner)
{
	struct thread_memo *memo = own_memo;
	unsigned count = owner->frame_count;
	const struct memo_entry *entry;
	bool added;

	(void)context;
	if (depot == NULL || count == 0 || count > AREA_MALLOC_MAX_FRAMES)
		return 0;
	if (memo != NULL) {
		entry = memo->last;
		/* the very owner the thread's last capture filled (its frames are
		 * never changed after): no need to compare them all */
		if (entry->generation
				== atomic_load_explicit(&depot_generation, memory_order_relaxed)
			&& entry->count == count && entry->frames[0] == owner->frames[0]
			&& entry->frames[count - 1] == owner->frames[count - 1]
			&& (owner == memo->last_owner
				|| same_frames(entry->frames, (const uintptr_t *)owner->frames,
					count)))
			return entry->handle;
	}
	/* an owner captured earlier (or copied): look it up, add it when new */
	return handle_of_frames((const uintptr_t *)owner->frames, count, false, &added);
}

static bool expand_handle(void *context, uint32_t handle, area_malloc_owner *owner)
{
	struct stack_depot_view view;

	(void)context;
	if (depot == NULL)
		return false;
	stack_depot_live_view(depot, &view);
	return stack_depot_expand(&view, handle, owner);
}

/* ---- fork ---- */

void stacks_forked_child(bool in_node)
{
	struct stack_depot *parent = depot, *copy = NULL;
	int fd = -1;

	mutex_init(&depot_lock, "area_malloc stack depot");
	/* the parent's other threads are gone: their memos are free again */
	for (struct thread_memo *memo = atomic_load(&all_memos); memo != NULL; memo = memo->next)
		if (memo != own_memo)
			atomic_store(&memo->in_use, false);
	if (parent == NULL)
		return;
	if (depot_fd < 0) {
		/* anonymous: the child's own copy already */
		if (atomic_load(&appending))
			stack_depot_rebuild_buckets(parent);
		atomic_store(&appending, false);
		return;
	}
	{
		uint64_t used = __atomic_load_n(&parent->used, __ATOMIC_ACQUIRE);
		uint64_t reserve_used = __atomic_load_n(&parent->reserve_used, __ATOMIC_ACQUIRE);
		uint64_t main_end = parent->records_offset + used;
		uint64_t reserve_start = parent->records_offset + parent->reserve_offset;

		if (in_node) {
			copy = map_file_depot(depot_region_bytes, &fd);
			/* the rebuilt chains may touch every page of buckets */
			if (copy != NULL
				&& (!node_reserve_range(fd, parent->buckets_offset,
					    parent->records_offset - parent->buckets_offset)
					|| !node_reserve_range(fd, parent->records_offset, used)
					|| !node_reserve_range(fd, reserve_start, reserve_used))) {
				unmap_depot(copy, depot_region_bytes);
				node_stacks_file_remove(fd);
				copy = NULL;
			}
			bucket_pages_reserved = ~(uint64_t)0;
			records_reserved_end = main_end;
		}
		if (copy == NULL) {
			fd = -1;
			copy = map_depot(depot_region_bytes, -1);
		}
		if (copy != NULL) {
			memcpy(copy, parent, sizeof(*parent));
			memcpy((char *)copy + parent->records_offset,
				(const char *)parent + parent->records_offset, used);
			if (reserve_used > 0)
				memcpy((char *)copy + reserve_start,
					(const char *)parent + reserve_start, reserve_used);
			copy->used = used;
			copy->reserve_used = reserve_used;
			stack_depot_rebuild_buckets(copy);
		} else {
			dprintf("area_malloc: a forked child cannot copy its stack depot; stacks are "
				"not recorded\n");
		}
	}
	unmap_depot(parent, depot_region_bytes);
	close(depot_fd);
	depot = copy;
	depot_fd = fd;
	atomic_store(&appending, false);
}
