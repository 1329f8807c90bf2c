/*
 * guarded_report.c - the faults of guarded blocks: the callback that the
 * kernel-API library's SIGSEGV/SIGBUS handler calls for a pool's guard
 * region, and the reports made from what it recorded, later, outside the
 * handler (guarded.h).
 *
 * The callback only reads the side table with atomic loads, copies into a
 * record claimed with an atomic exchange, calls mprotect and write, and
 * returns. Everything else (symbols, the pool log, the reporter) waits
 * for guarded_report_faults_slow, at the next call of the module or at
 * exit.
 *
 * Invariants: a record is FREE, WRITING (the handler fills it), READY
 * (guarded_faults_waiting counts those) or REPORTING; only the handler that
 * claimed it writes a WRITING record, and only the call that claimed a
 * READY one (making it REPORTING) reads it, then frees it.
 *
 * Locking: none but the atomics; the reports take the pool's lock for its
 * log, with no other lock held.
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <KernelExport.h>

#include "debug/guarded_internal.h"

int guarded_faults_waiting;

#define FAULT_RECORDS 32

enum record_state {
	RECORD_FREE = 0,
	RECORD_WRITING,   /* a handler fills it */
	RECORD_READY,     /* to be reported */
	RECORD_REPORTING, /* one call reports it, then frees it */
};

struct fault_record {
	int state;
	enum error_kind kind;
	enum kernel_guard_access access;
	uintptr_t address, user, pc;
	uint64_t size;
	const void *pool_id;
	struct guarded_pool *table;
	area_id area;
	char name[NODE_POOL_NAME_MAX];
	struct guard_tag allocated, freed;
	bool freed_known;
	pid_t thread;
	unsigned frame_count;
	uintptr_t frames[KERNEL_GUARD_MAX_FRAMES];
	uintptr_t return_slots[KERNEL_GUARD_MAX_FRAMES];
	/* the stack's first words at the fault (kernel/guard_fault.h), which
	 * the unwind tables walk outside the handler (access_frames) */
	uintptr_t stack_pointer, frame_pointer;
	unsigned stack_word_count;
	uintptr_t stack[KERNEL_GUARD_STACK_WORDS];
};

static struct fault_record records[FAULT_RECORDS];
static uint64_t dropped_faults;

static uint32_t load32(const uint32_t *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

/* Appends a number in hex to a line being built without stdio. */
static size_t put_hex(char *line, size_t at, uintptr_t value)
{
	char digits[2 * sizeof(value)];
	size_t count = 0;

	line[at++] = '0';
	line[at++] = 'x';
	do {
		digits[count++] = "0123456789abcdef"[value & 15];
		value >>= 4;
	} while (value != 0);
	while (count > 0)
		line[at++] = digits[--count];
	return at;
}

static size_t put_text(char *line, size_t at, const char *text)
{
	while (*text != '\0')
		line[at++] = *text++;
	return at;
}

/* Under halt_on_error the process ends in the handler: the report is this
 * line (the kernel layer's line before it gives the access and the pc). */
static void write_fatal_line(const struct fault_record *record)
{
	char line[256];
	size_t at = put_text(line, 0, "area_malloc: ");

	at = put_text(line, at, error_kind_name(record->kind));
	at = put_text(line, at, " at ");
	at = put_hex(line, at, record->address);
	at = put_text(line, at, ": block ");
	at = put_hex(line, at, record->user);
	at = put_text(line, at, " of ");
	at = put_hex(line, at, record->size);
	at = put_text(line, at, " bytes; halt_on_error=1: the process stops\n");
	(void)!write(STDERR_FILENO, line, at);
}

/* Which block the faulting page is about, and what the access was: a
 * page of a block's own, or the page right after (before, in underflow
 * mode) a block whose own guard page a fault already opened. */
static struct guard_slot *faulting_slot(struct guarded_pool *table, size_t page)
{
	struct guard_slot *slot = slot_of_page(table, page);

	if (slot != NULL)
		return slot;
	slot = page > 0 ? slot_of_page(table, page - 1) : NULL;
	if (slot != NULL && !slot->underflow)
		return slot;
	slot = slot_of_page(table, page + 1);
	return slot != NULL && slot->underflow ? slot : NULL;
}

enum kernel_guard_verdict guarded_fault_callback(const struct kernel_guard_fault *fault,
	void *cookie)
{
	struct guarded_pool *table = cookie;
	uintptr_t page_start = fault->address & ~(uintptr_t)(B_PAGE_SIZE - 1);
	struct guard_slot *slot;
	struct fault_record *record = NULL;
	uint32_t state;

	/* a guard page or a freed block's page is a SIGSEGV; a SIGBUS here is
	 * the file's (the region's space is reserved at create_pool) */
	if (fault->signal != SIGSEGV || fault->address < table->region
		|| fault->address - table->region >= (uintptr_t)table->pages * B_PAGE_SIZE)
		return KERNEL_GUARD_DECLINE;
	slot = faulting_slot(table, (fault->address - table->region) / B_PAGE_SIZE);
	if (slot == NULL)
		return KERNEL_GUARD_DECLINE; /* a wild access: not a block's */
	state = load32(&slot->state);
	if (state != GUARD_SLOT_LIVE && state != GUARD_SLOT_QUARANTINED)
		return KERNEL_GUARD_DECLINE;
	for (int i = 0; i < FAULT_RECORDS && record == NULL; i++) {
		int expected = RECORD_FREE;
		if (__atomic_compare_exchange_n(&records[i].state, &expected, RECORD_WRITING, false,
			    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			record = &records[i];
	}
	if (record != NULL) {
		record->access = fault->access;
		record->address = fault->address;
		record->user = (uintptr_t)__atomic_load_n(&slot->user, __ATOMIC_RELAXED);
		record->size = __atomic_load_n(&slot->size, __ATOMIC_RELAXED);
		record->kind = state == GUARD_SLOT_QUARANTINED ? ERROR_USE_AFTER_FREE
			: fault->address < record->user        ? ERROR_HEAP_BUFFER_UNDERFLOW
							       : ERROR_HEAP_BUFFER_OVERFLOW;
		record->pc = fault->frame_count > 0 ? fault->frames[0] : 0;
		record->table = table;
		record->pool_id = table->pool->id;
		record->area = table->pool->area;
		for (size_t i = 0; i < NODE_POOL_NAME_MAX; i++)
			record->name[i] = debug_of(table->pool)->d.name[i];
		record->allocated = slot->allocated;
		record->freed = slot->freed;
		record->freed_known = state == GUARD_SLOT_QUARANTINED;
		record->thread = fault->thread;
		record->frame_count = fault->frame_count;
		for (unsigned i = 0; i < fault->frame_count && i < KERNEL_GUARD_MAX_FRAMES; i++) {
			record->frames[i] = fault->frames[i];
			record->return_slots[i] = fault->return_slots[i];
		}
		record->stack_pointer = fault->stack_pointer;
		record->frame_pointer = fault->frame_pointer;
		record->stack_word_count = 0;
		if (fault->stack != NULL) {
			record->stack_word_count =
				fault->stack_word_count < KERNEL_GUARD_STACK_WORDS
				? fault->stack_word_count
				: KERNEL_GUARD_STACK_WORDS;
			memcpy(record->stack, fault->stack,
				record->stack_word_count * sizeof(uintptr_t));
		}
		if (debug_options.halt_on_error) {
			write_fatal_line(record);
			return KERNEL_GUARD_FATAL;
		}
		__atomic_store_n(&record->state, RECORD_READY, __ATOMIC_RELEASE);
		__atomic_fetch_add(&guarded_faults_waiting, 1, __ATOMIC_RELEASE);
	} else {
		__atomic_fetch_add(&dropped_faults, 1, __ATOMIC_RELAXED);
		if (debug_options.halt_on_error)
			return KERNEL_GUARD_FATAL;
	}
	/* KFENCE's way: the driver goes on past this page; the slot is
	 * protected whole again when it is freed or leaves the quarantine */
	__atomic_store_n(&slot->exposed, 1, __ATOMIC_RELAXED);
	if (mprotect((void *)page_start, B_PAGE_SIZE, PROT_READ | PROT_WRITE) != 0)
		return KERNEL_GUARD_FATAL;
	return KERNEL_GUARD_CONTINUE;
}

/* ---- reports of faults, outside the handler ---- */

static const char *access_name(enum kernel_guard_access access)
{
	return access == KERNEL_GUARD_ACCESS_READ     ? "READ"
		: access == KERNEL_GUARD_ACCESS_WRITE ? "WRITE"
						      : "access";
}

/* A word of the stack copy the handler made (frame_cfi_read_word). */
static bool read_copied_word(void *context, uintptr_t address, uintptr_t *value)
{
	const struct fault_record *record = context;
	uintptr_t offset = address - record->stack_pointer;

	if (address < record->stack_pointer || offset % sizeof(uintptr_t) != 0
		|| offset / sizeof(uintptr_t) >= record->stack_word_count)
		return false;
	*value = record->stack[offset / sizeof(uintptr_t)];
	return true;
}

/*
 * The frames of the faulting access into owner. The handler's walk of the
 * frame-pointer chain skips the caller of every function that keeps no
 * frame pointer (memcpy or memset in libc, a whole driver built at -O2, as
 * Debian builds it): the unwind tables walk the stack words the handler
 * copied instead, frame by frame, as far as the copy and the tables go.
 * Past that, the handler's walk goes on from where it meets the tables'
 * (return_slots; below). Where the tables say nothing from the faulting
 * instruction on, the handler's walk is the stack.
 */
static void access_frames(const struct fault_record *record, area_malloc_owner *owner)
{
	struct frame_cfi_registers registers = { record->frames[0], record->stack_pointer,
		record->frame_pointer, true };
	uint32_t count = 0, max = AREA_MALLOC_MAX_FRAMES;

	owner->frame_count = 0;
	if (record->frame_count == 0)
		return;
	owner->frames[count++] = record->frames[0];
	while (count < max
		&& reporter_unwind_step(&registers, count == 1, read_copied_word, (void *)record)
		&& registers.pc >= 4096)
		owner->frames[count++] = registers.pc;
	if (count == 1) {
		/* no step by the tables (code without them): the handler's
		 * chain alone, as the stack's only witness */
		for (unsigned i = 1; i < record->frame_count && count < max; i++)
			owner->frames[count++] = record->frames[i];
	} else if (registers.frame_pointer_known) {
		/* The handler's chain began at whatever the frame-pointer
		 * register held at the fault, which in a function without a
		 * frame pointer is any value (a data pointer, a stale word):
		 * it is followed only from where it meets the tables' walk,
		 * the frame whose return address lies just above the frame
		 * pointer the tables restored. Elsewhere the stack ends with
		 * the copy (a driver without frame pointers deeper than it). */
		unsigned i = 1;
		while (i < record->frame_count
			&& record->return_slots[i] != registers.frame_pointer + sizeof(uintptr_t))
			i++;
		for (; i < record->frame_count && count < max; i++)
			owner->frames[count++] = record->frames[i];
	}
	owner->frame_count = count;
}

/* The report of one fault: the pool's name, log and counters when it is
 * still there, else what the record kept. */
static void report_fault(const struct fault_record *record)
{
	struct pending_list list;
	struct pending *pending;
	struct pool *pool;
	area_malloc_owner at = { 0 };
	long offset = (long)(record->address - record->user), distance;
	const char *where;

	at.thread = record->thread;
	at.team = getpid();
	at.time = system_time();
	access_frames(record, &at);
	pending_init(&list);
	pending = new_pending(&list, record->kind, access_name(record->access),
		(void *)record->user, &at);
	pending->report.size = record->size;
	pending->report.size_known = true;
	guarded_owner_of_tag(&record->allocated, &pending->allocated);
	pending->report.allocated_by = &pending->allocated;
	if (record->freed_known) {
		guarded_owner_of_tag(&record->freed, &pending->freed);
		pending->report.freed_by = &pending->freed;
	}
	pool = acquire_for_query(record->pool_id);
	if (pool != NULL && debug_of(pool)->guarded == record->table) {
		bool locked = debug_lock(pool);
		debug_of(pool)->d.errors++;
		pending_set_pool(pending, pool);
		pending_set_log(pending, pool, (void *)record->user);
		debug_unlock(pool, locked);
	} else {
		memcpy(pending->pool_name, record->name, sizeof(pending->pool_name));
		pending->report.pool.id = record->pool_id;
		pending->report.pool.area = record->area;
		pending->report.pool_known = true;
	}
	if (pool != NULL)
		pool_registry_release(record->pool_id);
	if (offset < 0) {
		where = "before its start";
		distance = -offset;
	} else if ((uint64_t)offset >= record->size) {
		where = "past its end";
		distance = offset - (long)record->size;
	} else {
		where = "inside it";
		distance = offset;
	}
	snprintf(pending->detail, sizeof(pending->detail),
		"%s of address %p at pc %p in thread T%d: %ld byte(s) %s, at offset %ld of the "
		"%s%" PRIu64 "-byte block at %p, caught by a guard page",
		access_name(record->access), (void *)record->address, (void *)record->pc,
		(int)record->thread, distance, where, offset, record->freed_known ? "freed " : "",
		record->size, (void *)record->user);
	flush_pending(&list);
}

/*
 * Each ready record is reported in place by the one call that claims it
 * (two threads may come here at once), then freed: no copy of its 4 KiB of
 * stack words on the reporting thread's stack, which is the driver's. A
 * handler meanwhile takes another record (it claims only free ones).
 */
void guarded_report_faults_slow(void)
{
	for (int i = 0; i < FAULT_RECORDS; i++) {
		int expected = RECORD_READY;
		if (!__atomic_compare_exchange_n(&records[i].state, &expected, RECORD_REPORTING,
			    false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		__atomic_fetch_sub(&guarded_faults_waiting, 1, __ATOMIC_RELAXED);
		report_fault(&records[i]);
		__atomic_store_n(&records[i].state, RECORD_FREE, __ATOMIC_RELEASE);
	}
	if (__atomic_load_n(&dropped_faults, __ATOMIC_RELAXED) != 0)
		dprintf("area_malloc: %" PRIu64 " guard page fault(s) came while every fault "
			"record was in use: not reported\n",
			__atomic_exchange_n(&dropped_faults, 0, __ATOMIC_RELAXED));
}
