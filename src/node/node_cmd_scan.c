/*
 * node_cmd_scan.c - the command "scan [--min-age S] [--interval S] [--stop]":
 * a conservative reachability scan of a live process from outside (issue 16),
 * with the engine the debug module scans itself with (leak_scan_engine.h).
 *
 * The live blocks and their owners come from the node's pool copies; a
 * block's bytes come from its pool's copy (a debug pool's area is its node
 * file); the roots are the target's readable and writable mappings other
 * than the pools' areas, read with process_vm_readv (/proc/PID/mem when
 * that fails). Thread stacks are such mappings: without stopping the target
 * the stack pointers are unknown, so each stack is scanned whole, which is
 * conservative (dead frames may hold a block).
 *
 * Only the target's populated pages are read (present or swapped, as
 * /proc/PID/pagemap says: the remote mincore): reading a page the target
 * never touched makes the kernel fault it in, in the target. A scan of a
 * target under AddressSanitizer read the pieces of its shadow below 1 TiB
 * whole and grew the target to 24 GiB, until the OOM killer ended it.
 *
 * With --stop every thread is stopped (node_scan_stop.c) for one scan: the
 * registers are roots too, and of a stack only what lies above its pointer.
 *
 * Without it the target is not stopped: it is scanned twice, --interval apart, and a
 * block is reported only when both scans find it not reached, it is the same
 * allocation (sequence) with the same bytes (a hash of its copy), and it is
 * older than --min-age (block times are CLOCK_MONOTONIC, shared by every
 * process). A block the target moves a pointer to during the scan may be
 * missed as reached, never reported falsely twice over.
 *
 * Invariants: unlike the other commands, a scan holds every pool's copy at
 * once (a reached block may be in any pool); they are released before the
 * next scan. A page that cannot be read is skipped, never an error; only a
 * refusal of the whole process (EPERM, EACCES) is.
 *
 * Locking: none (see node_reader.h); the target's locks are never taken.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* process_vm_readv */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "format/leak_scan_engine.h"
#include "format/options.h"
#include "node/node_commands_internal.h"

static const char scan_usage[] = "scan [--min-age SECONDS] [--interval SECONDS] [--stop]";

/* Below a stopped thread's stack pointer: the red zone (x86-64's 128
 * bytes), live although below the pointer; what lies deeper is dead. */
#if defined(__x86_64__)
#define SCAN_RED_ZONE 128
#define SCAN_STACK_POINTER(registers) ((registers).rsp)
#elif defined(__aarch64__)
#define SCAN_RED_ZONE 0
#define SCAN_STACK_POINTER(registers) ((registers).sp)
#else
/* the stack pointer's place in user_regs_struct is not known here: every
 * stack is scanned whole, as without --stop (conservative); the registers
 * are still roots */
#define SCAN_RED_ZONE 0
#define SCAN_STACK_POINTER(registers) ((void)(registers), (uint64_t)0)
#endif

/* A writable mapping larger than this is a reservation (a sanitizer's
 * shadow, a runtime's heap reserve), not data. */
#define SCAN_MAX_MAPPING ((uint64_t)1 << 40)

struct scan_item {
	struct node_block block; /* frames point into the node's depot copy */
	uint64_t hash;           /* of the block's bytes in its pool's copy */
	uint8_t state;           /* enum scan_state after the scan */
};

struct scan_pass {
	struct node_pool **pools;
	size_t pool_count;
	struct scan_item *items; /* sorted by address */
	size_t count, capacity;
	bool failed; /* out of memory */
};

struct remote {
	pid_t pid;
	int mem_fd;     /* /proc/PID/mem, -1 until needed or when refused */
	int pagemap_fd; /* /proc/PID/pagemap, -1 when refused */
	int refused;    /* errno of the last refused read, 0: none */
	size_t reads;   /* reads that succeeded */
	const struct scan_pass *pass;
};

static uint64_t hash_bytes(const unsigned char *bytes, size_t length)
{
	uint64_t hash = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < length; i++)
		hash = (hash ^ bytes[i]) * 1099511628211ULL;
	return hash;
}

/* The copy of [address, address + bytes) when a pool holds all of it. */
static const unsigned char *pool_bytes(const struct scan_pass *pass, uint64_t address,
	uint64_t bytes)
{
	for (size_t i = 0; i < pass->pool_count; i++) {
		const struct node_pool *pool = pass->pools[i];
		uint64_t base = pool->descriptor.base_address;
		if (address >= base && address - base <= pool->image_bytes
			&& bytes <= pool->image_bytes - (address - base))
			return pool->image + (address - base);
	}
	return NULL;
}

static const uintptr_t *remote_words(void *context, uintptr_t address, size_t count,
	uintptr_t *scratch)
{
	struct remote *remote = context;
	size_t bytes = count * sizeof(uintptr_t);
	const unsigned char *copy = pool_bytes(remote->pass, address, bytes);
	struct iovec local = { scratch, bytes }, far = { (void *)address, bytes };

	if (copy != NULL) {
		memcpy(scratch, copy, bytes); /* the copy need not be word-aligned */
		return scratch;
	}
	if (process_vm_readv(remote->pid, &local, 1, &far, 1, 0) == (ssize_t)bytes) {
		remote->reads++;
		return scratch;
	}
	if (errno == EPERM || errno == EACCES)
		remote->refused = errno;
	if (remote->mem_fd < 0)
		return NULL;
	if (pread(remote->mem_fd, scratch, bytes, (off_t)address) == (ssize_t)bytes) {
		remote->reads++;
		return scratch;
	}
	return NULL;
}

static void collect_block(const struct node_pool *pool, const struct node_block *block,
	void *context)
{
	struct scan_pass *pass = context;
	const unsigned char *bytes;

	(void)pool;
	if (!node_block_is_live(block) || pass->failed)
		return;
	if (pass->count == pass->capacity) {
		size_t capacity = pass->capacity ? pass->capacity * 2 : 256;
		struct scan_item *grown = realloc(pass->items, capacity * sizeof(*grown));
		if (grown == NULL) {
			pass->failed = true;
			return;
		}
		pass->items = grown;
		pass->capacity = capacity;
	}
	bytes = pool_bytes(pass, block->address, block->size);
	pass->items[pass->count++] = (struct scan_item){
		.block = *block,
		.hash = bytes ? hash_bytes(bytes, block->size) : 0,
	};
}

static int by_address(const void *a, const void *b)
{
	uint64_t x = ((const struct scan_item *)a)->block.address;
	uint64_t y = ((const struct scan_item *)b)->block.address;

	return (x > y) - (x < y);
}

static void pass_release(struct scan_pass *pass)
{
	for (size_t i = 0; i < pass->pool_count; i++)
		node_pool_release(pass->pools[i]);
	free(pass->pools);
	pass->pools = NULL;
	pass->pool_count = 0;
}

static void pass_free(struct scan_pass *pass)
{
	pass_release(pass);
	free(pass->items);
	*pass = (struct scan_pass){ 0 };
}

/* Loads every pool of the node and collects their live blocks, sorted. */
static bool pass_load(struct session *session, struct scan_pass *pass, bool stopped)
{
	struct node *node = session->node;
	struct node_snapshot_options snapshot = session->context->snapshot;

	/* a stopped process grants no quiet window: none is asked for */
	snapshot.foreign = snapshot.foreign || stopped;
	pass->pools = calloc(node->pool_count ? node->pool_count : 1, sizeof(*pass->pools));
	if (pass->pools == NULL)
		return false;
	for (size_t i = 0; i < node->pool_count; i++) {
		struct node_error error = { 0 };
		struct node_pool *pool;
		if (node_pool_load(node, node->pool_areas[i], &session->context->snapshot, &pool,
			    &error)
			!= NODE_STATUS_OK) {
			if (error.status != NODE_STATUS_NO_SUCH)
				session_error(session, error.status, error.message);
			continue;
		}
		/* the blocks past the damage are missing: what only they reach may
		 * be reported (for_each_pool's rule: a damaged heap is status 4) */
		if (pool->heap_problem != NULL && pool->copy != NODE_COPY_PARTIAL)
			raise_status(session, NODE_STATUS_DAMAGED);
		pass->pools[pass->pool_count++] = pool;
	}
	/* live guarded blocks too: their bytes are in the copy as the heap's */
	for (size_t i = 0; i < pass->pool_count; i++)
		if (!node_pool_walk_blocks(pass->pools[i], collect_block, pass))
			pass->failed = true;
	qsort(pass->items, pass->count, sizeof(*pass->items), by_address);
	return !pass->failed;
}

/* Does [start, end) meet a pool's area? */
static bool meets_pool(const struct scan_pass *pass, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < pass->pool_count; i++) {
		uint64_t base = pass->pools[i]->descriptor.base_address;
		if (start < base + pass->pools[i]->descriptor.area_size && end > base)
			return true;
	}
	return false;
}

/* /proc/PID/maps, whole and NUL-terminated; NULL with errno. */
static char *read_maps(pid_t pid)
{
	char path[64], *text = NULL;
	size_t length = 0, capacity = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t got;
		if (capacity - length < 4096) {
			char *grown = realloc(text, capacity + 65536);
			if (grown == NULL) {
				free(text);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			text = grown;
			capacity += 65536;
		}
		got = read(fd, text + length, capacity - length - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			int saved = errno;
			close(fd);
			if (got < 0) {
				free(text);
				errno = saved;
				return NULL;
			}
			break;
		}
		length += (size_t)got;
	}
	text[length] = '\0';
	return text;
}

/* The lowest stack floor of a stopped thread in [start, end), else start. */
static uint64_t stack_floor(const struct scan_world *world, uint64_t start, uint64_t end)
{
	uint64_t floor = end;

	for (size_t i = 0; world != NULL && i < world->count; i++) {
		uint64_t sp = SCAN_STACK_POINTER(world->threads[i].registers);
		if (world->threads[i].registers_known && sp < end && sp >= start + SCAN_RED_ZONE
			&& sp - SCAN_RED_ZONE < floor)
			floor = (sp - SCAN_RED_ZONE) & ~(uint64_t)(sizeof(uintptr_t) - 1);
	}
	return floor == end ? start : floor;
}

/* Every word of every stopped thread's registers, as a root. */
static void scan_registers(struct scan_engine *engine, const struct scan_world *world)
{
	for (size_t i = 0; world != NULL && i < world->count; i++) {
		const uintptr_t *words = (const uintptr_t *)&world->threads[i].registers;
		if (!world->threads[i].registers_known)
			continue;
		for (size_t w = 0; w < sizeof(world->threads[i].registers) / sizeof(*words); w++) {
			size_t index = scan_engine_find(engine, words[w]);
			if (index != SIZE_MAX)
				scan_engine_root_block(engine, index);
		}
	}
}

/* pagemap's entry bits: the page is in memory, or in swap */
#define PAGEMAP_PRESENT (UINT64_C(1) << 63)
#define PAGEMAP_SWAPPED (UINT64_C(1) << 62)
/* entries read at once: 32 KiB, 16 MiB of the target's address space */
#define PAGEMAP_BATCH 4096

/* [start, end) of the target into the engine as far as its pages are
 * populated; all of it when pagemap cannot tell (refused, or a read that
 * fails: what the scan did before it asked). */
static void scan_populated(struct scan_engine *engine, struct remote *remote, uint64_t start,
	uint64_t end)
{
	/* one scan at a time (pooldump) */
	static uint64_t entries[PAGEMAP_BATCH];
	static unsigned char populated[PAGEMAP_BATCH];
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t at = start & ~(page - 1);

	while (at < end) {
		uint64_t want = (end - at + page - 1) / page;
		ssize_t got = -1;
		if (want > PAGEMAP_BATCH)
			want = PAGEMAP_BATCH;
		if (remote->pagemap_fd >= 0)
			got = pread(remote->pagemap_fd, entries, (size_t)want * sizeof(*entries),
				(off_t)(at / page * sizeof(*entries)));
		if (got <= 0 || got % (ssize_t)sizeof(*entries) != 0) {
			scan_engine_root(engine, (uintptr_t)(at < start ? start : at),
				(uintptr_t)end);
			return;
		}
		size_t count = (size_t)got / sizeof(*entries);
		for (size_t i = 0; i < count; i++)
			populated[i] = (entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) != 0;
		scan_engine_root_pages(engine, (uintptr_t)start, (uintptr_t)end, (uintptr_t)at,
			(uintptr_t)page, populated, count);
		at += count * page;
	}
}

/* Every root mapping of the maps text into the engine; in a stopped
 * thread's stack, only from its floor up. */
static void scan_roots(struct scan_engine *engine, struct remote *remote,
	const struct scan_pass *pass, char *maps, const struct scan_world *world)
{
	for (char *line = maps, *next; line != NULL && *line != '\0'; line = next) {
		unsigned long long start, end;
		char perms[8], path[256] = "";
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %255s", &start, &end, perms, path) < 3)
			continue;
		if (perms[0] != 'r' || perms[1] != 'w' || end - start > SCAN_MAX_MAPPING
			|| strcmp(path, "[vvar]") == 0 || strcmp(path, "[vsyscall]") == 0
			|| meets_pool(pass, start, end))
			continue;
		scan_populated(engine, remote, stack_floor(world, start, end), end);
	}
	scan_registers(engine, world);
}

/*
 * One scan: loads the pools, reads the roots, classifies. Fails the
 * session (returns false, *status set) when the process cannot be read.
 */
static bool scan_once(struct session *session, struct remote *remote, struct scan_pass *pass,
	const struct scan_world *world, int *status)
{
	struct scan_reader reader = { remote_words, remote };
	struct scan_block *blocks = NULL;
	uint8_t *state = NULL;
	uint32_t *stack = NULL;
	struct scan_engine *engine = NULL;
	char *maps = NULL, text[NODE_MESSAGE_MAX];
	bool ok = false;

	*status = NODE_STATUS_OK;
	if (!pass_load(session, pass, world != NULL))
		goto out_of_memory;
	remote->pass = pass;
	maps = read_maps(remote->pid);
	if (maps == NULL) {
		remote->refused = errno;
		goto refused;
	}
	blocks = malloc((pass->count ? pass->count : 1) * sizeof(*blocks));
	state = malloc(pass->count ? pass->count : 1);
	stack = malloc((pass->count ? pass->count : 1) * sizeof(*stack));
	engine = malloc(sizeof(*engine));
	if (blocks == NULL || state == NULL || stack == NULL || engine == NULL)
		goto out_of_memory;
	for (size_t i = 0; i < pass->count; i++)
		blocks[i] = (struct scan_block){ (uintptr_t)pass->items[i].block.address,
			(uintptr_t)(pass->items[i].block.address + pass->items[i].block.size) };
	scan_engine_init(engine, blocks, state, stack, pass->count, true, &reader);
	remote->refused = 0;
	remote->reads = 0;
	scan_roots(engine, remote, pass, maps, world);
	/* refused and nothing read: the process is closed to this reader (a
	 * page that cannot be read is EFAULT, never EPERM) */
	if (remote->refused != 0 && remote->reads == 0)
		goto refused;
	scan_engine_classify(engine);
	for (size_t i = 0; i < pass->count; i++)
		pass->items[i].state = state[i];
	ok = true;
	goto done;
refused:
	if (remote->refused == ESRCH || remote->refused == ENOENT) {
		snprintf(text, sizeof(text), "the process is gone: its memory cannot be scanned");
		*status = NODE_STATUS_NO_SUCH;
	} else {
		snprintf(text, sizeof(text),
			"cannot read the memory of process %d: %s (another user's process, "
			"Yama's ptrace_scope or a process that is not dumpable)",
			(int)remote->pid, strerror(remote->refused));
		*status = NODE_STATUS_DAMAGED;
	}
	session_error(session, *status, text);
	goto done;
out_of_memory:
	session_error(session, NODE_STATUS_DAMAGED, "out of memory: the scan was not made");
	*status = NODE_STATUS_DAMAGED;
done:
	pass_release(pass);
	free(maps);
	free(blocks);
	free(state);
	free(stack);
	free(engine);
	return ok;
}

/* The first pass's item of the same allocation, or NULL. */
static const struct scan_item *find_item(const struct scan_pass *pass, const struct scan_item *item)
{
	size_t low = 0, high = pass->count;

	while (low < high) {
		size_t middle = low + (high - low) / 2;
		if (pass->items[middle].block.address < item->block.address)
			low = middle + 1;
		else
			high = middle;
	}
	if (low < pass->count && pass->items[low].block.address == item->block.address
		&& pass->items[low].block.sequence == item->block.sequence)
		return &pass->items[low];
	return NULL;
}

static bool parse_seconds(const char *text, double *seconds)
{
	char *end;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	*seconds = strtod(text, &end);
	return errno == 0 && *end == '\0' && *seconds <= 86400.0;
}

static int64_t monotonic_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

struct scan_totals {
	size_t blocks[2];
	uint64_t bytes[2];
};

static const char *const kind_names[2] = { "unreferenced", "indirectly lost" };

static void print_groups(struct session *session, struct group_table *table, int kind, int64_t now,
	struct scan_totals *totals)
{
	struct output *out = &session->out;
	const struct report_colors *colors = report_colors(session->context->color);

	group_table_sort(table, false);
	for (size_t g = 0; g < table->count; g++) {
		const struct group *group = &table->groups[g];
		const uintptr_t *frames = group_key(table, group);
		int64_t age = now - group->first_time;
		if (session->context->json) {
			emit(out,
				"%s{\"kind\":\"%s\",\"count\":%zu,\"bytes\":%" PRIu64
				",\"first_address\":\"0x%" PRIx64 "\",\"thread\":%u,\"seq\":%u"
				",\"age_us\":%" PRId64,
				separator(session), kind_names[kind], group->count, group->bytes,
				group->first_address, group->first_thread, group->first_sequence,
				age);
			json_frames(session, out, frames, group->key_count);
			put_str(out, "}");
		} else {
			emit(out,
				"\n%s%s: %" PRIu64 " byte(s) in %zu allocation(s), the oldest "
				"%" PRId64 ".%03" PRId64 " s old, allocated from:%s\n",
				colors->leak, kind == 0 ? "Unreferenced" : "Indirectly lost",
				group->bytes, group->count, age / 1000000, (age / 1000) % 1000,
				colors->reset);
			for (uint32_t i = 0; i < group->key_count && frames[i] != 0; i++)
				emit(out, "    #%u 0x%" PRIxPTR " in %s\n", i, frames[i],
					symbol(session, frames[i]));
			emit(out, "    (first block 0x%" PRIx64 ", thread T%u, seq %u)\n",
				group->first_address, group->first_thread, group->first_sequence);
		}
		totals->blocks[kind] += group->count;
		totals->bytes[kind] += group->bytes;
	}
}

/* Groups the blocks both passes found lost, unchanged and old enough. */
static void report(struct session *session, const struct scan_pass *first,
	const struct scan_pass *second, int64_t min_age, struct scan_totals *totals)
{
	struct group_table tables[2] = { 0 };
	int64_t now = monotonic_now();

	for (size_t i = 0; i < second->count; i++) {
		const struct scan_item *item = &second->items[i];
		const struct scan_item *before;
		int kind;
		if (item->state == SCAN_UNREFERENCED)
			kind = 0;
		else if (item->state == SCAN_INDIRECT)
			kind = 1;
		else
			continue;
		before = find_item(first, item);
		if (before == NULL || before->hash != item->hash
			|| (before->state != SCAN_UNREFERENCED && before->state != SCAN_INDIRECT)
			|| now - item->block.time < min_age)
			continue;
		group_count_block(&tables[kind], &item->block, item->block.frame_count);
	}
	if (tables[0].failed || tables[1].failed)
		session_error(session, NODE_STATUS_DAMAGED,
			"out of memory: some lost blocks were not counted");
	for (int kind = 0; kind < 2; kind++) {
		print_groups(session, &tables[kind], kind, now, totals);
		group_table_free(&tables[kind]);
	}
}

int command_scan(struct session *session, int argc, char **argv)
{
	struct scan_pass passes[2] = { 0 };
	struct scan_totals totals = { 0 };
	struct remote remote = { .mem_fd = -1, .pagemap_fd = -1 };
	struct output *out = &session->out;
	struct scan_world world = { 0 };
	double min_age = 5.0, interval = 1.0;
	bool stop = false;
	char path[64];
	int status, passes_made = 2;

	for (int i = 1; i < argc; i++) {
		double *value;
		if (strcmp(argv[i], "--stop") == 0) {
			stop = true;
			continue;
		}
		if (strcmp(argv[i], "--min-age") == 0)
			value = &min_age;
		else if (strcmp(argv[i], "--interval") == 0)
			value = &interval;
		else
			return usage_error(session, scan_usage, "unknown argument '%s'", argv[i]);
		if (i + 1 == argc || !parse_seconds(argv[i + 1], value))
			return usage_error(session, scan_usage, "bad number of seconds for %s",
				argv[i]);
		i++;
	}
	if (!session_open_node(session, &status))
		return status;
	if (!session->node->alive) {
		session_error(session, NODE_STATUS_NO_SUCH,
			"the process is gone: its memory cannot be scanned");
		return session_finish(session);
	}
	remote.pid = session->node->pid;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)remote.pid);
	remote.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)remote.pid);
	remote.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (stop) {
		/* one scan of a process that holds still */
		passes_made = 1;
		if (!scan_stop(remote.pid, &world)) {
			char text[NODE_MESSAGE_MAX];
			if (errno == ESRCH || errno == ENOENT) {
				session_error(session, NODE_STATUS_NO_SUCH,
					"the process is gone: its memory cannot be scanned");
				goto finish;
			}
			snprintf(text, sizeof(text),
				"cannot stop process %d: %s (another user's process, Yama's "
				"ptrace_scope, or a process already traced)",
				(int)remote.pid, strerror(errno));
			session_error(session, NODE_STATUS_DAMAGED, text);
			goto finish;
		}
	}
	for (int p = 0; p < passes_made; p++) {
		if (p == 1) {
			struct timespec pause = { (time_t)interval,
				(long)((interval - (double)(time_t)interval) * 1e9) };
			while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
				;
		}
		if (!scan_once(session, &remote, &passes[p], stop ? &world : NULL, &status))
			goto finish;
	}
	scan_resume(&world);
	if (session->context->json)
		emit(out, ",\"min_age_us\":%" PRId64 ",\"groups\":[", (int64_t)(min_age * 1e6));
	else if (stop)
		emit(out, "blocks no root reaches, every thread stopped, at least %.3g s old\n",
			min_age);
	else
		emit(out,
			"blocks no root reaches in two scans %.3g s apart, unchanged and at least "
			"%.3g s old\n",
			interval, min_age);
	report(session, &passes[0], &passes[passes_made - 1], (int64_t)(min_age * 1e6), &totals);
	if (session->context->json)
		emit(out,
			"],\"unreferenced_blocks\":%zu,\"unreferenced_bytes\":%" PRIu64
			",\"indirect_blocks\":%zu,\"indirect_bytes\":%" PRIu64,
			totals.blocks[0], totals.bytes[0], totals.blocks[1], totals.bytes[1]);
	else
		emit(out,
			"\nSUMMARY: area_malloc: %" PRIu64 " byte(s) unreferenced in %zu "
			"allocation(s), %" PRIu64
			" byte(s) indirectly lost in %zu allocation(s).\n",
			totals.bytes[0], totals.blocks[0], totals.bytes[1], totals.blocks[1]);
	if (totals.blocks[0] > 0)
		raise_status(session, NODE_STATUS_FOUND);
finish:
	scan_resume(&world);
	pass_free(&passes[0]);
	pass_free(&passes[1]);
	if (remote.mem_fd >= 0)
		close(remote.mem_fd);
	if (remote.pagemap_fd >= 0)
		close(remote.pagemap_fd);
	return session_finish(session);
}
