/*
 * matrix.c - the corruption matrix (see matrix.h).
 *
 * Every case runs in a child process forked from a parent that holds the
 * debug module loaded (one load per module configuration, so a case costs
 * a fork, not a module load and a symbolizer start): the child lays out a
 * pool, damages it, takes it to one detection point and writes what the
 * report hook saw to a pipe. A child that faults, hangs or writes nothing is
 * a failed case; the parent judges the others. A hang is a loop (CASE_CPU_
 * SECONDS of CPU time, RLIMIT_CPU) or a wait (CASE_WALL_SECONDS, its own
 * alarm): CPU time, not the clock, bounds a loop, so that a case starved
 * on a loaded machine (a case takes some 10 ms) is never taken for a hang.
 *
 * The layout of a case (all blocks of one size, in one fresh pool):
 *
 *   | below | block | next | cap | ... free remainder (the heap's top)
 *
 * The block is the one written past. next is live, quarantined (freed, the
 * module's default quarantine) or free (freed, in a module loaded with
 * quarantine_bytes=0); with "none", next and cap are not allocated and the
 * block is the last one below free memory never touched.
 *
 * The oracle:
 *  - every case: no fault, no hang, the other pool's blocks hold their
 *    fill and it checks clean;
 *  - a run from the block's end: the first error report is
 *    heap-buffer-overflow naming the block;
 *  - a run back from the block's start: heap-buffer-underflow naming the
 *    block (or heap-buffer-overflow naming the block below, once the run
 *    covers the whole of that block's trailing canary: the damage then
 *    reads as either);
 *  - one byte past the block's end that changed: at least one report,
 *    unless it lies inside a live neighbour's own user bytes (only guard
 *    pages can see that);
 *  - damage that changed no byte is counted apart, not judged.
 *
 * Locking: none; one thread in each process.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "corruption/matrix.h"
#include "support/damage_pattern.h"

#define RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define POOL_BYTES (64 * 1024)
#define CASE_CPU_SECONDS 5
#define CASE_WALL_SECONDS 120
#define TEXT_OF(x) #x
#define TEXT(x) TEXT_OF(x)
#define FILL_BLOCK 0x5a
#define FILL_BYSTANDER 0x3c
#define BYSTANDERS 4
#define MAX_REPORTS 16

/* Sizes around the debug layout's boundaries (a 32-byte minimum user area,
 * trailing canaries of 8 to 15 bytes, 16-byte rounding), the heap's size
 * classes (16-byte classes below 512, logarithmic above), and a block large
 * enough for a discard run (whole pages given back when it is freed,
 * format/debug_block.h: DEBUG_DISCARD_MIN). */
static const size_t sizes[] = { 1, 8, 16, 17, 24, 25, 32, 40, 48, 64, 100, 104, 112, 120, 496, 504,
	512, 1000, 4000, 70000 };
#define SIZES (sizeof(sizes) / sizeof(sizes[0]))

enum neighbour { NEXT_LIVE, NEXT_QUARANTINED, NEXT_FREE, NEXT_NONE, NEIGHBOURS };
static const char *const neighbour_names[] = { "live", "quarantined", "free", "none" };

enum damage { RUN_OVER, RUN_UNDER, BYTE_OVER, DAMAGES };
static const char *const damage_names[] = { "run-over", "run-under", "byte-over" };

/* Runs of 1 to 96 bytes, single bytes at offsets 0 to 95 past the end:
 * past the trailing canary (up to 15), the next chunk's tags (16), its
 * owner tag and canary (48) or its links (16), and into what follows. */
#define AMOUNTS 96

/* PATTERN_COPY: a copy of the 64 bytes in front of a sound block */
static const char *const pattern_names[] = { "zeros", "0xff", "pointer", "front-copy" };

enum point { AT_FREE, AT_CHECK, AT_DELETE, AT_UNLOAD, AT_EXIT, POINTS };
static const char *const point_names[] = { "free", "check", "delete_pool", "put_module", "exit" };

#define CASE_SPACE ((uint64_t)SIZES * NEIGHBOURS * DAMAGES * AMOUNTS * PATTERNS * POINTS)

struct matrix_case {
	size_t size;
	enum neighbour neighbour;
	enum damage damage;
	unsigned amount;
	enum damage_pattern pattern;
	enum point point;
};

static struct matrix_case decode(uint64_t id)
{
	struct matrix_case c;

	c.point = (enum point)(id % POINTS);
	id /= POINTS;
	c.pattern = (enum damage_pattern)(id % PATTERNS);
	id /= PATTERNS;
	c.amount = (unsigned)(id % AMOUNTS) + 1;
	id /= AMOUNTS;
	c.damage = (enum damage)(id % DAMAGES);
	id /= DAMAGES;
	c.neighbour = (enum neighbour)(id % NEIGHBOURS);
	id /= NEIGHBOURS;
	c.size = sizes[id % SIZES];
	if (c.damage == BYTE_OVER)
		c.amount--; /* offsets from 0 */
	return c;
}

/* ---- the child: one case ---- */

/* What a child tells its parent. */
struct case_result {
	bool no_op;     /* the damage changed no byte */
	bool guarded;   /* a changed byte is not a live block's own user byte */
	bool adjacent;  /* the byte right past the block's end (before its
				 * start) changed: a run from the block itself */
	bool below_end; /* the first byte past the block below changed */
	bool bystander_sound;
	int reports; /* error reports (leak reports left out) */
	char first_kind[48];
	intptr_t first_offset; /* first report's address less the block's */
	intptr_t block_below;  /* the block below, less the block */
};

static area_malloc_module_info *am;
static area_malloc_debug_module_info *dbg;
static struct case_result result;
static uintptr_t case_block;
static int result_fd = -1;

static void send_result(void);

static bool show_reports;

static bool take_report(const area_malloc_report *report, void *cookie)
{
	(void)cookie;
	if (show_reports)
		fputs(report->text, stdout);
	if (strcmp(report->kind, "detected memory leaks") == 0)
		return true; /* pools left at exit or unload: not what a case judges */
	if (result.reports++ == 0) {
		snprintf(result.first_kind, sizeof(result.first_kind), "%s", report->kind);
		result.first_offset = (intptr_t)((uintptr_t)report->address - case_block);
	}
	/* at exit nothing runs after the module's last report: send as it comes */
	if (result_fd >= 0)
		send_result();
	return true;
}

/* Writes the damage as an uninstrumented driver would, whatever the
 * sanitizers think of the memory. */
static __attribute__((noinline, no_sanitize("address"))) void poke(unsigned char *at,
	unsigned char value)
{
	*(volatile unsigned char *)at = value;
}

static __attribute__((noinline, no_sanitize("address"))) unsigned char peek(const unsigned char *at)
{
	return *(const volatile unsigned char *)at;
}

static bool load_modules(void)
{
	if (get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) != B_OK
		|| get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&dbg) != B_OK)
		return false;
	dbg->set_report_hook(take_report, NULL);
	return true;
}

static void put_modules(void)
{
	put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	put_module(B_AREA_MALLOC_MODULE_NAME);
}

/* The result so far, one whole record; the parent keeps the last one. */
static void send_result(void)
{
	(void)!write(result_fd, &result, sizeof(result));
}

static unsigned char pattern_byte(const struct matrix_case *c, size_t index,
	const unsigned char *front, uintptr_t pointer)
{
	return damage_pattern_byte(c->pattern, index, pointer, front, 64);
}

/*
 * Whether a byte at offset from the block (user pointer) is guarded, i.e.
 * not the user bytes of a live block: chunks of one size S follow each
 * other (16 bytes of tags, a 48-byte front, the user area of size bytes and
 * the trailing canary); chunk 0 is the block's, -1 below's, 1 next's, 2
 * cap's; past them, or above the block when there is no next, lies free
 * memory.
 */
static bool guarded(const struct matrix_case *c, long offset, size_t span)
{
	long shifted = offset + 64,
	     index = shifted >= 0 ? shifted / (long)span
				  : -((-shifted + (long)span - 1) / (long)span);
	long within = shifted - index * (long)span;
	bool user = within >= 64 && within < 64 + (long)c->size;

	if (!user)
		return true;
	switch (index) {
	case -1:
	case 0:
		return false; /* below, the block: live */
	case 1:
		return c->neighbour != NEXT_LIVE; /* next */
	case 2:
		return c->neighbour == NEXT_NONE; /* cap, when there is one */
	default:
		return true; /* free memory */
	}
}

/* Writes one byte of the damage, noting what it changed. */
static void damage_byte(const struct matrix_case *c, unsigned char *block, long offset,
	unsigned char value, size_t span)
{
	unsigned char *at = block + offset;

	if (peek(at) == value) {
		poke(at, value);
		return;
	}
	result.no_op = false;
	result.guarded |= guarded(c, offset, span);
	result.adjacent |= offset == (long)c->size || offset == -1;
	result.below_end |= offset == -(long)span + (long)c->size;
	poke(at, value);
}

static void run_case(const struct matrix_case *c)
{
	const void *pool, *bystander;
	unsigned char *below, *block, *next = NULL, *cap = NULL, *others[BYSTANDERS];
	unsigned char front[64];
	uintptr_t pointer;
	size_t span = 0;

	struct rlimit cpu = { CASE_CPU_SECONDS, CASE_CPU_SECONDS + 1 };

	setrlimit(RLIMIT_CPU, &cpu);
	alarm(CASE_WALL_SECONDS);
	bystander = am->create_pool(B_ANY_KERNEL_ADDRESS, POOL_BYTES, B_NO_LOCK, RW);
	/* four blocks, and a quarter of the pool (the quarantine's most) for one */
	pool = am->create_pool(B_ANY_KERNEL_ADDRESS, POOL_BYTES + 8 * c->size, B_NO_LOCK, RW);
	if (bystander == NULL || pool == NULL)
		_exit(90);
	for (int i = 0; i < BYSTANDERS; i++) {
		others[i] = am->malloc(bystander, 100);
		if (others[i] == NULL)
			_exit(91);
		memset(others[i], FILL_BYSTANDER, 100);
	}
	below = am->malloc(pool, c->size);
	block = am->malloc(pool, c->size);
	if (c->neighbour != NEXT_NONE) {
		next = am->malloc(pool, c->size);
		cap = am->malloc(pool, c->size);
		if (next == NULL || cap == NULL)
			_exit(92);
		memset(next, FILL_BLOCK, c->size);
		memset(cap, FILL_BLOCK, c->size);
	}
	if (below == NULL || block == NULL)
		_exit(92);
	memset(below, FILL_BLOCK, c->size);
	memset(block, FILL_BLOCK, c->size);
	case_block = (uintptr_t)block;
	span = (size_t)(block - below); /* one chunk, blocks of one size */
	result.block_below = -(intptr_t)span;
	result.no_op = true;
	if (c->neighbour == NEXT_QUARANTINED || c->neighbour == NEXT_FREE)
		am->free(pool, next);
	/* a sound front of the block's size to copy, and a pointer into the pool */
	for (size_t i = 0; i < sizeof(front); i++)
		front[i] = peek(block - 64 + i);
	pointer = (uintptr_t)below + 16;

	switch (c->damage) {
	case RUN_OVER:
		for (size_t i = 0; i < c->amount; i++)
			damage_byte(c, block, (long)(c->size + i),
				pattern_byte(c, i, front, pointer), span);
		break;
	case RUN_UNDER:
		for (size_t i = 1; i <= c->amount; i++)
			damage_byte(c, block, -(long)i,
				pattern_byte(c, 64 - i % 64, front, pointer), span);
		break;
	case BYTE_OVER:
		damage_byte(c, block, (long)(c->size + c->amount),
			c->pattern == PATTERN_ZEROS          ? 0
				: c->pattern == PATTERN_ONES ? 0xff
							     : 0x41,
			span);
		break;
	case DAMAGES:
		break;
	}

	if (c->point == AT_UNLOAD || c->point == AT_EXIT) {
		/* the other pool, before the module goes */
		result.bystander_sound = dbg->check_pool(bystander) == 0;
		for (int i = 0; i < BYSTANDERS; i++)
			for (int b = 0; b < 100; b++)
				result.bystander_sound &= others[i][b] == FILL_BYSTANDER;
	}
	switch (c->point) {
	case AT_FREE:
		am->free(pool, block);
		am->delete_pool(pool);
		break;
	case AT_CHECK:
		dbg->check_pool(pool);
		am->delete_pool(pool);
		break;
	case AT_DELETE:
		am->delete_pool(pool);
		break;
	case AT_UNLOAD:
		put_modules();
		send_result();
		_exit(0);
	case AT_EXIT:
		send_result();
		exit(0);
	case POINTS:
		break;
	}
	result.bystander_sound = dbg->check_pool(bystander) == 0;
	for (int i = 0; i < BYSTANDERS; i++)
		for (int b = 0; b < 100; b++)
			result.bystander_sound &= others[i][b] == FILL_BYSTANDER;
	am->delete_pool(bystander);
	send_result();
	_exit(0);
}

/* ---- the parent: judging ---- */

static const char *judge(const struct matrix_case *c, const struct case_result *r)
{
	bool overflow = strcmp(r->first_kind, "heap-buffer-overflow") == 0;
	bool underflow = strcmp(r->first_kind, "heap-buffer-underflow") == 0;

	if (!r->bystander_sound)
		return "the other pool was damaged";
	if (r->no_op || !r->guarded)
		return NULL; /* nothing changed, or only a live block's own bytes */
	if (r->reports == 0)
		return "damage to metadata, a canary or free memory went unreported";
	if (!r->adjacent || c->damage == BYTE_OVER)
		return NULL; /* a lone write or a jump: any report will do */
	if (c->damage == RUN_OVER && !(overflow && r->first_offset == 0))
		return "the first report is not an overflow of the block";
	if (c->damage == RUN_UNDER && !(underflow && r->first_offset == 0)
		&& !(overflow && r->first_offset == r->block_below && r->below_end))
		return "the first report is not an underflow of the block";
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void describe(FILE *log, uint64_t id, const struct matrix_case *c)
{
	fprintf(log, "case %llu: %zu-byte blocks, next %s, %s %u, %s, at %s",
		(unsigned long long)id, c->size, neighbour_names[c->neighbour],
		damage_names[c->damage], c->amount, pattern_names[c->pattern],
		point_names[c->point]);
}

/* Runs one case in a child of the current process (modules loaded). */
static const char *run_in_child(uint64_t id, const struct matrix_case *c, struct case_result *r,
	int *signal_out)
{
	int fds[2], status;
	pid_t child;
	ssize_t got = 0;

	*signal_out = 0;
	if (pipe(fds) != 0)
		return "pipe failed";
	fflush(NULL); /* a child that calls exit() must not write our buffers again */
	child = fork();
	if (child < 0) {
		close(fds[0]);
		close(fds[1]);
		return "fork failed";
	}
	if (child == 0) {
		close(fds[0]);
		result_fd = fds[1];
		memset(&result, 0, sizeof(result));
		run_case(c);
		_exit(93);
	}
	close(fds[1]);
	memset(r, 0, sizeof(*r));
	/* records until the child is gone; the last whole one counts */
	for (;;) {
		struct case_result record;
		ssize_t n = read(fds[0], &record, sizeof(record));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(record))
			break;
		*r = record;
		got = n;
	}
	close(fds[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	(void)id;
	if (WIFSIGNALED(status)) {
		*signal_out = WTERMSIG(status);
		if (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL)
			return "the case hung (a loop: " TEXT(CASE_CPU_SECONDS) " s of CPU time)";
		if (WTERMSIG(status) == SIGALRM)
			return "the case hung (a wait: " TEXT(CASE_WALL_SECONDS) " s)";
		/* one case at a time: a static buffer will do */
		static char crashed[64];
		snprintf(crashed, sizeof(crashed), "the case crashed (SIG%s)",
			sigabbrev_np(WTERMSIG(status)) != NULL ? sigabbrev_np(WTERMSIG(status))
							       : "?");
		return crashed;
	}
	if (got != (ssize_t)sizeof(*r))
		return "the case ended without a result";
	return judge(c, r);
}

/* A case id from a seeded permutation of the whole space (an affine map
 * modulo the space, with a multiplier prime to it). */
static uint64_t nth_case(uint64_t n, uint64_t seed)
{
	uint64_t multiplier = (seed * 2 + 1) * 0x9e3779b97f4a7c15ull % CASE_SPACE;

	while (multiplier < 2 || (multiplier % 2 == 0) || multiplier % 3 == 0 || multiplier % 5 == 0
		|| multiplier % 19 == 0)
		multiplier++;
	return (n * multiplier + seed) % CASE_SPACE;
}

/* One report in the parent opens the module's symbolizer, which every case
 * then inherits (a case costs a fork, not a symbolizer start). */
static void warm_up(void)
{
	const void *pool = am->create_pool(B_ANY_KERNEL_ADDRESS, POOL_BYTES, B_NO_LOCK, RW);
	void *block;

	if (pool == NULL)
		return;
	block = am->malloc(pool, 16);
	am->free(pool, block);
	am->free(pool, block); /* a double free, taken by the hook */
	am->delete_pool(pool);
	result.reports = 0;
}

/* One module configuration: the free neighbours need the quarantine off. */
static struct matrix_totals run_configuration(const struct matrix_run *run, bool quarantine_off,
	double deadline)
{
	struct matrix_totals totals = { 0, 0, 0, 0, 0, CASE_SPACE };
	uint64_t limit = run->cases != 0 ? run->cases : CASE_SPACE;

	setenv("AREA_MALLOC_OPTIONS",
		quarantine_off ? "guard_sample=0:node=0:exitcode=0:quarantine_bytes=0"
			       : "guard_sample=0:node=0:exitcode=0",
		1);
	setenv("KERNEL_MODULE_PATH", run->module_dir, 1);
	if (!load_modules()) {
		fprintf(run->log, "cannot load the debug module from %s\n", run->module_dir);
		totals.failed = 1;
		return totals;
	}
	warm_up();
	for (uint64_t n = 0; n < CASE_SPACE && totals.run < limit; n++) {
		uint64_t id = run->cases != 0 || run->seconds > 0 ? nth_case(n, run->seed) : n;
		struct matrix_case c = decode(id);
		struct case_result r;
		const char *failure;
		int signal;

		if ((c.neighbour == NEXT_FREE) != quarantine_off
			|| (run->shards > 1 && n % run->shards != run->shard))
			continue;
		if (run->seconds > 0 && now() > deadline)
			break;
		failure = run_in_child(id, &c, &r, &signal);
		totals.run++;
		if (r.no_op)
			totals.no_op++;
		else if (!r.guarded)
			totals.unseen++; /* only a live block's own bytes changed */
		else if (r.reports > 0)
			totals.caught++;
		if (failure != NULL || run->verbose) {
			describe(run->log, id, &c);
			fprintf(run->log, ": %s (%d report(s), first %s at %+ld)\n",
				failure != NULL ? failure : "ok", r.reports,
				r.first_kind[0] ? r.first_kind : "-", (long)r.first_offset);
		}
		if (failure != NULL)
			totals.failed++;
		/* a long run cut short keeps what it found, and shows it is alive */
		if (failure != NULL || run->verbose)
			fflush(run->log);
		if (run->cases == 0 && run->seconds <= 0 && totals.run % 10000 == 0) {
			fprintf(run->log, "... %llu cases run, %llu failed\n",
				(unsigned long long)totals.run, (unsigned long long)totals.failed);
			fflush(run->log);
		}
	}
	put_modules();
	return totals;
}

struct matrix_totals matrix_run(const struct matrix_run *run)
{
	double start = now();
	/* time-bounded: the quarantine-off configuration gets a quarter */
	double first_deadline = start + run->seconds * 0.75, deadline = start + run->seconds;
	struct matrix_run part = *run;
	struct matrix_totals a, b;

	if (run->cases != 0)
		part.cases = run->cases - run->cases / 4;
	a = run_configuration(&part, false, first_deadline);
	if (run->cases != 0)
		part.cases = run->cases / 4 != 0 ? run->cases / 4 : 1;
	b = run_configuration(&part, true, deadline);
	a.run += b.run;
	a.failed += b.failed;
	a.caught += b.caught;
	a.unseen += b.unseen;
	a.no_op += b.no_op;
	return a;
}

int matrix_show(const char *module_dir, uint64_t id)
{
	struct matrix_case c = decode(id % CASE_SPACE);
	struct case_result r;
	const char *failure;
	int signal;

	setenv("AREA_MALLOC_OPTIONS",
		c.neighbour == NEXT_FREE ? "guard_sample=0:node=0:exitcode=0:quarantine_bytes=0"
					 : "guard_sample=0:node=0:exitcode=0",
		1);
	setenv("KERNEL_MODULE_PATH", module_dir, 1);
	if (!load_modules())
		return 1;
	show_reports = true;
	describe(stdout, id, &c);
	printf("\n");
	failure = run_in_child(id, &c, &r, &signal);
	printf("=> %s (%d report(s), first %s at %+ld)\n", failure != NULL ? failure : "ok",
		r.reports, r.first_kind[0] ? r.first_kind : "-", (long)r.first_offset);
	return failure != NULL;
}
