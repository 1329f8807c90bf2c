/*
 * fuzz_corpus_gen.c - writes the seed corpus of the fuzz targets:
 *     fuzz_corpus_gen OUTDIR
 * fills OUTDIR/fuzz_ops, OUTDIR/fuzz_node_reader and OUTDIR/fuzz_options
 * (tests/fuzz/make-corpus runs it into tests/fuzz/corpus).
 *
 * fuzz_ops: operation sequences written with the target's encoding (see
 * fuzz_ops.c): every pool specification, churn, realloc in every
 * direction, calloc overflows, every kind of misuse, queries.
 *
 * fuzz_node_reader: real nodes. The program loads the debug module (from
 * <builddir>/modules/debug, as the targets find it) with a private
 * node_dir, makes pools, blocks, frees, a mark, a canary overwritten and a
 * freed block written, then reads its own node (alive: it holds the lock)
 * and writes it in the target's container format: extents of the non-zero
 * bytes. Two more configurations (stack_depth=1 with log_size=8, and a
 * depot too small to hold every stack) run in forked children. Each node also yields variants: image table stripped (the
 * usual seed, so the fuzzer does not open every library), alive, renamed,
 * truncated files, damaged headers, a directory and a link among the pool
 * files, a stack depot damaged, cut short, hostile or missing, a pool
 * caught in the middle of an operation (odd seq, an in-flight record that
 * explains part of its damage) and one whose in-flight record is hostile
 * (unknown codes, ranges outside the heap, wrapping, inverted). The nodes
 * are made with a small stack depot (stack_depot_bytes), so that its file
 * fits the target's limit; a third configuration fills its depot (stacks
 * cut to their first frame).
 *
 * fuzz_options: option strings (every key, good and bad values, quotes,
 * suffixes) alone and with suppressions files after a NUL byte.
 *
 * Locking: none; one thread (the child of the second configuration writes
 * its own seeds).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <KernelExport.h>
#include <OS.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "fuzz_target.h"
#include "format/node_format.h"
#include "format/stack_depot.h"

#define NOINLINE __attribute__((noinline))
#define KERNEL_RW (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)
#define MAX_SEED ((size_t)1 << 20)
#define MAX_NODE_POOLS 8
/* zero runs shorter than this stay inside an extent */
#define EXTENT_GAP 96
#define MAX_EXTENTS 511

static char out_dir[PATH_MAX];

/* ---- seeds ---- */

struct seed {
	unsigned char *bytes;
	size_t length;
};

static void put_bytes(struct seed *seed, const void *bytes, size_t length)
{
	FUZZ_CHECK(seed->length + length <= MAX_SEED, "seed too large");
	if (seed->bytes == NULL) {
		seed->bytes = malloc(MAX_SEED);
		FUZZ_CHECK(seed->bytes != NULL, "out of memory");
	}
	memcpy(seed->bytes + seed->length, bytes, length);
	seed->length += length;
}

static void put_u8(struct seed *seed, unsigned value)
{
	uint8_t byte = (uint8_t)value;
	put_bytes(seed, &byte, 1);
}

static void put_u16(struct seed *seed, unsigned value)
{
	put_u8(seed, value & 0xff);
	put_u8(seed, (value >> 8) & 0xff);
}

static void put_u32(struct seed *seed, uint32_t value)
{
	put_u16(seed, value & 0xffff);
	put_u16(seed, value >> 16);
}

static void save_seed(const char *target, const char *name, struct seed *seed)
{
	char path[PATH_MAX + 128];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	file = fopen(path, "wb");
	FUZZ_CHECK(file != NULL, "cannot write %s: %s", path, strerror(errno));
	FUZZ_CHECK(seed->length == 0 || fwrite(seed->bytes, seed->length, 1, file) == 1,
		"cannot write %s", path);
	fclose(file);
	free(seed->bytes);
	seed->bytes = NULL;
	seed->length = 0;
}

/* ---- fuzz_ops: the operation encoding of fuzz_ops.c ---- */

enum {
	OP_CREATE = 0,
	OP_DELETE = 2,
	OP_MALLOC = 3,
	OP_CALLOC = 7,
	OP_REALLOC = 8,
	OP_FREE = 11,
	OP_QUERY = 15,
};

/* pool selectors: a live pool by index, or a dead/forged id */
#define POOL(n) (n)
#define DEAD_POOL 0xe0
#define NULL_POOL 0xe2
#define FORGED_POOL 0xe3 /* followed by 8 bytes */
#define OTHER_GENERATION 0xe4
#define NEXT_SLOT 0xe5
#define UNTAGGED 0xe6
/* pointer selectors: kind | index << 3 */
#define OWN(n) ((n) << 3)
#define FOREIGN(n) (3 | (n) << 3)
#define STALE(n) (4 | (n) << 3)
#define INTERIOR(n) (5 | (n) << 3) /* followed by a u16 offset */
#define WILD(n) (6 | (n) << 3)
#define DANGLING(n) (7 | (n) << 3)
#define NULL_POINTER 0xff
/* size selectors */
#define SIZE_SMALL(n) (n) /* n < 112 */
#define SIZE_MEDIUM 200   /* followed by a u16 */
#define SIZE_HUGE 248     /* SIZE_MAX */
#define SIZE_POOL 251     /* the pool's size */
#define SIZE_HALF_POOL 252

static void create(struct seed *s, unsigned size_index, unsigned address, unsigned lock,
	unsigned protection)
{
	put_u8(s, OP_CREATE);
	put_u8(s, size_index);
	put_u8(s, address);
	put_u8(s, lock);
	put_u8(s, protection);
}

/* A 4096-byte B_NO_LOCK pool (size index 4, B_ANY_KERNEL_ADDRESS, kernel rw). */
static void create_small(struct seed *s)
{
	create(s, 4, 1, 0, 1);
}

static void alloc(struct seed *s, unsigned pool, unsigned size)
{
	put_u8(s, OP_MALLOC);
	put_u8(s, pool);
	put_u8(s, size);
}

static void alloc_medium(struct seed *s, unsigned pool, unsigned size)
{
	put_u8(s, OP_MALLOC);
	put_u8(s, pool);
	put_u8(s, SIZE_MEDIUM);
	put_u16(s, size);
}

static void free_ptr(struct seed *s, unsigned pool, unsigned pointer)
{
	put_u8(s, OP_FREE);
	put_u8(s, pool);
	put_u8(s, pointer);
}

static void re_alloc(struct seed *s, unsigned pool, unsigned pointer, unsigned size)
{
	put_u8(s, OP_REALLOC);
	put_u8(s, pool);
	put_u8(s, pointer);
	put_u8(s, size);
}

static void query(struct seed *s, unsigned which, unsigned pool)
{
	put_u8(s, OP_QUERY);
	put_u8(s, which);
	put_u8(s, pool);
}

static void delete (struct seed *s, unsigned pool)
{
	put_u8(s, OP_DELETE);
	put_u8(s, pool);
}

static void ops_seeds(void)
{
	struct seed s = { 0 };
	char name[64];

	/* every pool specification, with a block each */
	for (unsigned size = 0; size < 14; size++) {
		for (unsigned spec = 0; spec < 3; spec++) {
			create(&s, size, (size + spec * 3) % 10, (size + spec) % 9,
				(size * 3 + spec) % 8);
			alloc(&s, POOL(0), SIZE_SMALL(size * 7));
		}
		snprintf(name, sizeof(name), "create-specs-%02u", size);
		save_seed("fuzz_ops", name, &s);
	}

	/* churn in two pools */
	create_small(&s);
	create(&s, 7, 0, 1, 0);
	for (unsigned i = 0; i < 40; i++) {
		alloc(&s, POOL(i & 1), SIZE_SMALL((i * 13) % 112));
		if (i % 3 == 2)
			free_ptr(&s, POOL(i & 1), OWN(i));
	}
	save_seed("fuzz_ops", "churn-two-pools", &s);

	/* realloc: grow in place, grow moving, shrink, to zero, from NULL */
	create(&s, 6, 0, 0, 0);
	alloc(&s, POOL(0), SIZE_SMALL(10));
	alloc(&s, POOL(0), SIZE_SMALL(20));
	re_alloc(&s, POOL(0), OWN(0), SIZE_SMALL(100));
	re_alloc(&s, POOL(0), OWN(1), SIZE_SMALL(3));
	put_u8(&s, OP_REALLOC);
	put_u8(&s, POOL(0));
	put_u8(&s, OWN(0));
	put_u8(&s, SIZE_MEDIUM);
	put_u16(&s, 3000);
	re_alloc(&s, POOL(0), NULL_POINTER, SIZE_SMALL(50));
	re_alloc(&s, POOL(0), OWN(2), SIZE_SMALL(0));
	re_alloc(&s, POOL(0), OWN(0), SIZE_HUGE);
	save_seed("fuzz_ops", "realloc-every-way", &s);

	/* calloc: zeroed, overflowing counts */
	create_small(&s);
	for (unsigned count = 0; count < 12; count++) {
		put_u8(&s, OP_CALLOC);
		put_u8(&s, POOL(0));
		put_u8(&s, count);
		put_u8(&s, SIZE_SMALL(count * 9 + 1));
	}
	save_seed("fuzz_ops", "calloc-counts", &s);

	/* a pool filled up, then emptied, then the large request that must fit */
	create(&s, 4, 0, 0, 0);
	for (unsigned i = 0; i < 30; i++)
		alloc(&s, POOL(0), SIZE_SMALL(100));
	for (unsigned i = 0; i < 30; i++)
		free_ptr(&s, POOL(0), OWN(0));
	alloc(&s, POOL(0), SIZE_HALF_POOL);
	alloc(&s, POOL(0), SIZE_POOL);
	save_seed("fuzz_ops", "fill-and-drain", &s);

	/* large blocks: probed and freed, in 1 MiB pools of every lock */
	create(&s, 9, 0, 0, 0);
	create(&s, 9, 2, 2, 1);
	alloc_medium(&s, POOL(0), 60000);
	alloc_medium(&s, POOL(1), 40000);
	alloc(&s, POOL(0), 245);
	put_u16(&s, 0xffff);
	put_u8(&s, 1);
	alloc(&s, POOL(1), SIZE_HALF_POOL);
	save_seed("fuzz_ops", "large-blocks", &s);

	/* misuse the release build detects: stale and forged pool ids */
	create_small(&s);
	alloc(&s, POOL(0), SIZE_SMALL(30));
	delete (&s, POOL(0));
	delete (&s, DEAD_POOL);
	alloc(&s, DEAD_POOL, SIZE_SMALL(8));
	alloc(&s, NULL_POOL, SIZE_SMALL(8));
	create_small(&s);
	alloc(&s, OTHER_GENERATION, SIZE_SMALL(8));
	alloc(&s, NEXT_SLOT, SIZE_SMALL(8));
	alloc(&s, UNTAGGED, SIZE_SMALL(8));
	put_u8(&s, OP_MALLOC);
	put_u8(&s, FORGED_POOL);
	put_u32(&s, 0x12345678);
	put_u32(&s, 0x80000000);
	put_u8(&s, SIZE_SMALL(8));
	alloc(&s, POOL(0), SIZE_SMALL(40));
	free_ptr(&s, DEAD_POOL, OWN(0));
	re_alloc(&s, NULL_POOL, OWN(0), SIZE_SMALL(9));
	save_seed("fuzz_ops", "bad-pool-ids", &s);

	/* pointers that are not a live block of the pool */
	create_small(&s);
	create_small(&s);
	alloc(&s, POOL(0), SIZE_SMALL(64));
	alloc(&s, POOL(0), SIZE_SMALL(48));
	alloc(&s, POOL(1), SIZE_SMALL(32));
	free_ptr(&s, POOL(0), OWN(0));
	free_ptr(&s, POOL(0), STALE(0));
	re_alloc(&s, POOL(0), STALE(0), SIZE_SMALL(5));
	put_u8(&s, OP_FREE);
	put_u8(&s, POOL(0));
	put_u8(&s, INTERIOR(0));
	put_u16(&s, 15);
	put_u8(&s, OP_FREE);
	put_u8(&s, POOL(0));
	put_u8(&s, INTERIOR(0));
	put_u16(&s, 20);
	free_ptr(&s, POOL(0), FOREIGN(0));
	re_alloc(&s, POOL(1), FOREIGN(0), SIZE_SMALL(7));
	free_ptr(&s, POOL(1), NULL_POINTER);
	save_seed("fuzz_ops", "bad-pointers", &s);

	/* the debug build's own misuse: wild and dangling pointers */
	create_small(&s);
	create_small(&s);
	alloc(&s, POOL(0), SIZE_SMALL(16));
	for (unsigned i = 0; i < 8; i++)
		free_ptr(&s, POOL(i & 1), WILD(i));
	alloc(&s, POOL(1), SIZE_SMALL(16));
	delete (&s, POOL(1));
	free_ptr(&s, POOL(0), DANGLING(0));
	create_small(&s);
	free_ptr(&s, POOL(1), DANGLING(1));
	save_seed("fuzz_ops", "wild-and-dangling", &s);

	/* double free while quarantined, then after the quarantine let it go */
	create(&s, 1, 0, 0, 0);
	alloc(&s, POOL(0), SIZE_SMALL(8));
	free_ptr(&s, POOL(0), OWN(0));
	free_ptr(&s, POOL(0), STALE(0));
	for (unsigned i = 0; i < 12; i++) {
		alloc(&s, POOL(0), SIZE_SMALL(40));
		free_ptr(&s, POOL(0), OWN(0));
	}
	free_ptr(&s, POOL(0), STALE(0));
	save_seed("fuzz_ops", "quarantine-turnover", &s);

	/* queries over pools with blocks */
	create_small(&s);
	create(&s, 5, 0, 1, 0);
	alloc(&s, POOL(0), SIZE_SMALL(33));
	alloc(&s, POOL(1), SIZE_SMALL(44));
	for (unsigned which = 0; which < 9; which++) {
		query(&s, which, POOL(which));
		query(&s, which, NULL_POOL);
		query(&s, which, DEAD_POOL);
	}
	put_u8(&s, OP_QUERY);
	put_u8(&s, 0);
	put_u8(&s, POOL(0));
	put_u8(&s, 5);
	put_bytes(&s, "pool\x1b", 5);
	save_seed("fuzz_ops", "queries", &s);

	/* leaks at the end: pools left with blocks */
	create_small(&s);
	create_small(&s);
	for (unsigned i = 0; i < 6; i++)
		alloc(&s, POOL(i % 2), SIZE_SMALL(10 + i));
	save_seed("fuzz_ops", "leaks-at-the-end", &s);

	/* many pools: the model's limit, deletes in between */
	for (unsigned i = 0; i < 8; i++)
		create(&s, i % 10, i % 6, i % 4, i % 5);
	delete (&s, POOL(2));
	delete (&s, POOL(0));
	create_small(&s);
	alloc(&s, POOL(3), SIZE_SMALL(90));
	save_seed("fuzz_ops", "many-pools", &s);
}

/* ---- fuzz_node_reader: real nodes ---- */

struct node_file {
	char name[64]; /* "process", "pool-AREA" or "stacks" */
	int type;      /* the record type: 0 process, 1 pool, 4 stacks */
	int area;      /* 0: not a pool file */
	unsigned char *bytes;
	size_t size;
};

struct node_copy {
	struct node_file files[MAX_NODE_POOLS + 1];
	size_t count;
};

static void read_whole(int dir_fd, const char *name, struct node_file *file)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	struct stat status;
	size_t done = 0;

	FUZZ_CHECK(fd >= 0 && fstat(fd, &status) == 0, "cannot read %s", name);
	file->size = (size_t)status.st_size;
	file->bytes = calloc(1, file->size + 1);
	FUZZ_CHECK(file->bytes != NULL, "out of memory");
	while (done < file->size) {
		ssize_t got = pread(fd, file->bytes + done, file->size - done, (off_t)done);
		FUZZ_CHECK(got > 0, "short read of %s", name);
		done += (size_t)got;
	}
	close(fd);
	snprintf(file->name, sizeof(file->name), "%s", name);
}

static void copy_node(const char *node_dir, struct node_copy *copy)
{
	char path[PATH_MAX + 32];
	struct dirent *entry;
	DIR *stream;
	int dir_fd;

	memset(copy, 0, sizeof(*copy));
	snprintf(path, sizeof(path), "%s/%d", node_dir, (int)getpid());
	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	stream = dir_fd >= 0 ? fdopendir(dup(dir_fd)) : NULL;
	FUZZ_CHECK(stream != NULL, "no node at %s", path);
	read_whole(dir_fd, NODE_PROCESS_FILE, &copy->files[copy->count++]);
	if (faccessat(dir_fd, NODE_STACKS_FILE, F_OK, 0) == 0) {
		read_whole(dir_fd, NODE_STACKS_FILE, &copy->files[copy->count]);
		copy->files[copy->count++].type = 4;
	}
	while ((entry = readdir(stream)) != NULL) {
		const char *digits = entry->d_name + strlen(NODE_POOL_FILE_PREFIX);
		if (strncmp(entry->d_name, NODE_POOL_FILE_PREFIX, strlen(NODE_POOL_FILE_PREFIX))
				!= 0
			|| *digits < '1' || *digits > '9' || copy->count > MAX_NODE_POOLS)
			continue;
		read_whole(dir_fd, entry->d_name, &copy->files[copy->count]);
		copy->files[copy->count].type = 1;
		copy->files[copy->count].area = atoi(digits);
		copy->count++;
	}
	closedir(stream);
	close(dir_fd);
}

static void free_node(struct node_copy *copy)
{
	for (size_t i = 0; i < copy->count; i++)
		free(copy->files[i].bytes);
	memset(copy, 0, sizeof(*copy));
}

/* The non-zero parts of bytes[0, size) as extents, at most MAX_EXTENTS. */
static void put_extents(struct seed *s, const unsigned char *bytes, size_t size)
{
	size_t starts[4096], ends[4096], count = 0, gap = EXTENT_GAP;

	for (;;) {
		size_t at = 0;
		count = 0;
		while (at < size && count < 4096) {
			size_t start, end, zeros = 0;
			while (at < size && bytes[at] == 0)
				at++;
			if (at == size)
				break;
			start = at;
			end = at;
			while (at < size && zeros < gap && at - start < 65535) {
				if (bytes[at] != 0) {
					end = at + 1;
					zeros = 0;
				} else {
					zeros++;
				}
				at++;
			}
			starts[count] = start;
			ends[count] = end;
			count++;
			at = end;
		}
		if (count <= MAX_EXTENTS)
			break;
		gap *= 2;
	}
	put_u16(s, (unsigned)count);
	for (size_t i = 0; i < count; i++) {
		put_u32(s, (uint32_t)starts[i]);
		put_u16(s, (unsigned)(ends[i] - starts[i]));
		put_bytes(s, bytes + starts[i], ends[i] - starts[i]);
	}
}

static void put_file(struct seed *s, const struct node_file *file, size_t declared_size)
{
	put_u8(s, (unsigned)file->type);
	if (file->type == 1)
		put_u32(s, (uint32_t)file->area);
	put_u32(s, (uint32_t)declared_size);
	put_extents(s, file->bytes, file->size < declared_size ? file->size : declared_size);
}

enum variant {
	VARIANT_PLAIN,
	VARIANT_JSON,
	VARIANT_ALIVE,
	VARIANT_WITH_IMAGES,
	VARIANT_RENAMED,
	VARIANT_POOLS_TRUNCATED,
	VARIANT_DESCRIPTOR_ONLY,
	VARIANT_PROCESS_TRUNCATED,
	VARIANT_HEAP_DAMAGED,
	VARIANT_ODD_SEQ,
	VARIANT_STRANGE_ENTRIES,
	VARIANT_STACKS_DAMAGED,
	VARIANT_STACKS_TRUNCATED,
	VARIANT_STACKS_HOSTILE,
	VARIANT_NO_STACKS,
	VARIANT_IN_FLIGHT,
	VARIANT_IN_FLIGHT_HOSTILE,
	VARIANT_COUNT,
};

static const char *const variant_names[VARIANT_COUNT] = { "plain", "json", "alive", "with-images",
	"renamed", "pools-truncated", "descriptor-only", "process-truncated", "heap-damaged",
	"odd-seq", "strange-entries", "stacks-damaged", "stacks-truncated", "stacks-hostile",
	"no-stacks", "in-flight", "in-flight-hostile" };

/* Offset of the pool descriptor in a pool file (the writer's own record). */
static size_t find_descriptor(const struct node_file *file)
{
	for (size_t at = 0; at + sizeof(struct node_pool_descriptor) <= file->size && at < 65536;
		at += 8) {
		struct node_pool_descriptor d;
		if (memcmp(file->bytes + at, NODE_POOL_MAGIC, 8) != 0)
			continue;
		memcpy(&d, file->bytes + at, sizeof(d));
		if (d.control_offset == at)
			return at;
	}
	return 0;
}

/* A dead process caught in the middle of operation: seq odd, a record
 * whose first range covers the start of the heap, span bytes of it. */
static void in_flight_record(struct node_pool_descriptor *d, uint32_t operation, uint64_t span)
{
	uint64_t heap = d->base_address + d->heap_offset;

	d->seq |= 1;
	memset(&d->in_flight, 0, sizeof(d->in_flight));
	d->in_flight.operation = operation;
	d->in_flight.step = NODE_STEP_QUARANTINE_DRAIN;
	d->in_flight.thread = 4242;
	d->in_flight.ranges[NODE_RANGE_BLOCK][0] = heap + 512;
	d->in_flight.ranges[NODE_RANGE_BLOCK][1] = heap + 512 + span;
	d->in_flight.ranges[NODE_RANGE_TAKEN][0] = heap + span;
	d->in_flight.ranges[NODE_RANGE_TAKEN][1] = heap + d->heap_bytes;
}

/* Every field wrong in its own way: codes no reader knows, ranges in the
 * control region, past the area, inverted, wrapping. */
static void hostile_in_flight_record(struct node_pool_descriptor *d)
{
	in_flight_record(d, 0xdeadbeef, 64);
	d->in_flight.step = 0x7fffffff;
	d->in_flight.reserved = 0xffffffff;
	d->in_flight.ranges[NODE_RANGE_BLOCK][0] = d->base_address;
	d->in_flight.ranges[NODE_RANGE_OTHER][0] = d->base_address + d->area_size;
	d->in_flight.ranges[NODE_RANGE_OTHER][1] = UINT64_MAX;
	d->in_flight.ranges[NODE_RANGE_LEAVING][0] = UINT64_MAX - 15;
	d->in_flight.ranges[NODE_RANGE_LEAVING][1] = 16;
	d->in_flight.ranges[NODE_RANGE_TAKEN][0] = d->base_address + d->heap_offset + 4096;
	d->in_flight.ranges[NODE_RANGE_TAKEN][1] = d->base_address + d->heap_offset + 4096;
}

static void node_seed(const struct node_copy *node, enum variant variant, const char *prefix)
{
	struct seed s = { 0 };
	char name[128];
	/* alive: two lock-free tries, then the lock; JSON for some, text for most */
	uint8_t flags = variant == VARIANT_ALIVE ? 1 | 4 | (1 << 3)
		: variant == VARIANT_RENAMED     ? 2
		: variant == VARIANT_JSON || variant == VARIANT_HEAP_DAMAGED
			|| variant == VARIANT_DESCRIPTOR_ONLY || variant == VARIANT_STACKS_HOSTILE
			|| variant == VARIANT_IN_FLIGHT_HOSTILE
		? 4
		: 0;

	put_u8(&s, flags);
	for (size_t i = 0; i < node->count; i++) {
		struct node_file file = node->files[i];
		size_t declared = file.size;
		unsigned char *bytes = malloc(file.size + 1);
		FUZZ_CHECK(bytes != NULL, "out of memory");
		memcpy(bytes, file.bytes, file.size);
		file.bytes = bytes;
		if (file.type == 4) {
			struct stack_depot *depot = (struct stack_depot *)bytes;
			if (variant == VARIANT_NO_STACKS || file.size < sizeof(*depot)) {
				free(bytes);
				continue;
			}
			if (variant == VARIANT_STACKS_TRUNCATED)
				declared = (size_t)(depot->records_offset + depot->used / 2);
			if (variant == VARIANT_STACKS_DAMAGED) {
				/* a byte of a frame of every other record, and a count */
				for (uint64_t at = depot->records_offset + 24;
					at + 8 < depot->records_offset + depot->used
					&& at < file.size;
					at += 288)
					bytes[at] ^= 0x10;
				if (depot->records_offset + 8 < file.size)
					bytes[depot->records_offset + 8] = 0xff;
			}
			if (variant == VARIANT_STACKS_HOSTILE) {
				/* claims more than the file holds, everywhere */
				depot->used = depot->reserve_offset;
				depot->reserve_used = depot->capacity - depot->reserve_offset;
				depot->bucket_count = 1u << 31;
			}
		} else if (file.type == 0) {
			struct node_process_file *process = (struct node_process_file *)bytes;
			/* the image table makes the reader open every library: one
			 * variant keeps it */
			if (variant != VARIANT_WITH_IMAGES) {
				process->image_count = 0;
				declared = sizeof(*process);
			}
			if (variant == VARIANT_PROCESS_TRUNCATED)
				declared = sizeof(*process) / 2;
		} else {
			size_t descriptor = find_descriptor(&file);
			struct node_pool_descriptor *d =
				(struct node_pool_descriptor *)(bytes + descriptor);
			if (variant == VARIANT_POOLS_TRUNCATED)
				declared = file.size / 2;
			if (variant == VARIANT_DESCRIPTOR_ONLY)
				declared = descriptor + sizeof(*d);
			if (variant == VARIANT_ODD_SEQ)
				d->seq |= 1;
			if ((variant == VARIANT_HEAP_DAMAGED || variant == VARIANT_IN_FLIGHT)
				&& d->heap_offset + 4096 < file.size) {
				/* a byte in each of the first blocks' headers and canaries */
				for (size_t at = d->heap_offset + 600; at < d->heap_offset + 4096;
					at += 160)
					bytes[at] ^= 0x41;
			}
			if (variant == VARIANT_IN_FLIGHT)
				in_flight_record(d, NODE_OP_FREE, 2048);
			if (variant == VARIANT_IN_FLIGHT_HOSTILE)
				hostile_in_flight_record(d);
		}
		put_file(&s, &file, declared);
		free(bytes);
	}
	if (variant == VARIANT_STRANGE_ENTRIES) {
		put_u8(&s, 2);
		put_u32(&s, 77);
		put_u8(&s, 3);
		put_u32(&s, 78);
		put_u8(&s, 1);
		put_u32(&s, 0);
		put_u32(&s, 16);
		put_u16(&s, 0);
	}
	snprintf(name, sizeof(name), "%s-%s", prefix, variant_names[variant]);
	save_seed("fuzz_node_reader", name, &s);
}

/* Every variant, or (few) the ones that differ most: seeds stay small. */
static void node_seeds(const char *prefix, bool few)
{
	const char *node_dir = getenv("FUZZ_GEN_NODE_DIR");
	struct node_copy node;

	copy_node(node_dir, &node);
	for (int variant = 0; variant < VARIANT_COUNT; variant++) {
		if (few && variant != VARIANT_PLAIN && variant != VARIANT_JSON
			&& variant != VARIANT_ALIVE && variant != VARIANT_HEAP_DAMAGED)
			continue;
		node_seed(&node, (enum variant)variant, prefix);
	}
	free_node(&node);
}

/* Deliberate damage, out of AddressSanitizer's sight (the module hides
 * canaries and freed blocks from it). */
__attribute__((no_sanitize_address, noinline)) static void poke(void *address)
{
	*(volatile unsigned char *)address ^= 0x5a;
}

static area_malloc_module_info *am;
static area_malloc_debug_module_info *amd;

static bool quiet_hook(const area_malloc_report *report, void *cookie)
{
	(void)report;
	(void)cookie;
	return true;
}

NOINLINE static void *alloc_small(const void *pool, size_t size)
{
	void *block = am->malloc(pool, size);
	__asm__ volatile("" : : "r"(block) : "memory");
	return block;
}

NOINLINE static void *alloc_zeroed(const void *pool, size_t count, size_t size)
{
	void *block = am->calloc(pool, count, size);
	__asm__ volatile("" : : "r"(block) : "memory");
	return block;
}

/* A driver's day: pools, blocks, frees, a realloc, a mark, damage. */
static void populate_node(void)
{
	const void *alpha = am->create_pool(B_ANY_KERNEL_ADDRESS, 4096, B_NO_LOCK, KERNEL_RW);
	const void *beta = am->create_pool(B_ANY_ADDRESS, 16384, B_FULL_LOCK, KERNEL_RW);
	const void *gamma = am->create_pool(B_ANY_KERNEL_ADDRESS, 1000, B_LAZY_LOCK, KERNEL_RW);
	void *blocks[12], *freed;

	FUZZ_CHECK(alpha != NULL && beta != NULL && gamma != NULL, "create_pool failed");
	amd->set_pool_name(alpha, "alpha");
	amd->set_pool_name(beta, "beta \"quoted\"");
	for (int i = 0; i < 6; i++)
		blocks[i] = alloc_small(alpha, 16 + 40 * (size_t)i);
	for (int i = 6; i < 10; i++)
		blocks[i] = alloc_zeroed(beta, 3, 100 + (size_t)i);
	am->free(alpha, blocks[1]);
	am->free(alpha, blocks[3]);
	blocks[0] = am->realloc(alpha, blocks[0], 300);
	amd->mark();
	blocks[10] = alloc_small(beta, 777);
	blocks[11] = alloc_small(gamma, 64);
	freed = alloc_small(gamma, 32);
	am->free(gamma, freed);
	am->free(beta, blocks[7]);
	am->free(beta, (char *)blocks[8] + 16); /* an invalid free, logged as an error */
	poke((char *)blocks[10] + 777);         /* heap-buffer-overflow */
	poke((char *)freed + 40);               /* use-after-free in the quarantine */
}

static void load_debug_module(const char *options)
{
	char modules[PATH_MAX];

	fuzz_module_dir("debug", modules, sizeof(modules));
	FUZZ_CHECK(setenv("KERNEL_MODULE_PATH", modules, 1) == 0
			&& setenv("AREA_MALLOC_OPTIONS", options, 1) == 0,
		"setenv failed");
	FUZZ_CHECK(get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&am) == B_OK
			&& get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&amd)
				== B_OK,
		"cannot load the debug module from %s", modules);
	amd->set_report_hook(quiet_hook, NULL);
}

/* One configuration in a child of its own: the module reads its options once. */
static void node_configuration(const char *node_dir, const char *extra, const char *prefix,
	bool few)
{
	char options[PATH_MAX + 256];
	int status;
	pid_t child = fork();

	FUZZ_CHECK(child >= 0, "fork failed");
	if (child == 0) {
		snprintf(options, sizeof(options), "node_dir=%s:exitcode=0:leak_check=0%s",
			node_dir, extra);
		setenv("FUZZ_GEN_NODE_DIR", node_dir, 1);
		load_debug_module(options);
		populate_node();
		node_seeds(prefix, few);
		_exit(0);
	}
	FUZZ_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status)
			&& WEXITSTATUS(status) == 0,
		"the %s configuration failed", prefix);
}

/* ---- fuzz_options ---- */

static void options_seed(const char *name, const char *text, const char *suppressions)
{
	struct seed s = { 0 };

	put_bytes(&s, text, strlen(text));
	if (suppressions != NULL) {
		put_u8(&s, 0);
		put_bytes(&s, suppressions, strlen(suppressions));
	}
	save_seed("fuzz_options", name, &s);
}

static void option_seeds(void)
{
	options_seed("every-key",
		"stack_depth=8:stack_depot_bytes=1m:log_size=64k:"
		"quarantine_bytes=2m:max_reports=0:"
		"realloc_move=1:fail_nth=3:fail_rate=0.25:fail_seed=0x1234:fail_pool=12:"
		"fail_caller=alloc_*:halt_on_error=0:exitcode=0:leak_check=false:"
		"suppressions=/nonexistent:log_path=/tmp/x:report_format=json:node=0:"
		"node_dir=/tmp/nodes:keep_dead_nodes=3:fork_nodes=true",
		NULL);
	options_seed("bad-values",
		"stack_depth=0:stack_depth=33:log_size=2g:quarantine_bytes=1x:"
		"fail_rate=1.5:fail_rate=nan:fail_rate=-0:exitcode=256:fail_pool=-1:"
		"report_format=xml:realloc_move=yes:fail_nth=18446744073709551616",
		NULL);
	options_seed("unknown-and-empty", "::nonsense=1:stack_depth:=3:=:stack_depth=", NULL);
	options_seed("quotes",
		"fail_caller='a:b':log_path=\"/tmp/with:colon\":node_dir='x\"y':"
		"suppressions=\"unterminated",
		NULL);
	options_seed("quote-then-text", "fail_caller='a'b:log_path=\"c\"d:stack_depth=2", NULL);
	options_seed("numbers",
		"fail_nth=0x10:fail_seed=010:log_size=1K:quarantine_bytes=1G:"
		"fail_rate=1e-3:fail_rate=0x1p-4:max_reports=4294967295:max_reports=4294967296",
		NULL);
	options_seed("control-characters", "fail_caller=\x1b[31m:unknown\x7f=1:log_path=\t", NULL);
	options_seed("suppressions-basic", "report_format=json",
		"# suppressions\n\nleak:fuzz_leak_site_one\n  leak:*two*  \nnot a line\nleak:\n");
	options_seed("suppressions-file-and-image", "fail_caller=fuzz_leak_site_one",
		"leak:fuzz_options.c\r\nleak:fuzz_*\r\n");
	options_seed("suppressions-none", "report_format=text", "\n\n# nothing\n");
	options_seed("suppressions-patterns", "",
		"leak:[a-z]*site_t[hw]*\nleak:\\*\nleak:[\nleak:**\nleak:?\n");
	{
		char lines[9000];
		size_t used = 0;
		for (int i = 0; i < 300 && used + 40 < sizeof(lines); i++)
			used += (size_t)snprintf(lines + used, sizeof(lines) - used,
				"leak:pattern_%d\n", i);
		options_seed("suppressions-many", "report_format=json", lines);
	}
	{
		char line[700];
		memset(line, 'x', sizeof(line) - 1);
		memcpy(line, "leak:", 5);
		line[sizeof(line) - 1] = '\0';
		options_seed("suppressions-long-line", "", line);
	}
}

int main(int argc, char **argv)
{
	char node_dir[PATH_MAX];

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	snprintf(out_dir, sizeof(out_dir), "%s", argv[1]);
	mkdir(out_dir, 0755);
	ops_seeds();
	option_seeds();
	fuzz_temp_dir("fuzz_corpus_gen", node_dir, sizeof(node_dir));
	node_configuration(node_dir, ":stack_depot_bytes=64k", "node", false);
	node_configuration(node_dir, ":stack_depth=1:log_size=8:stack_depot_bytes=64k",
		"node-one-frame", true);
	node_configuration(node_dir, ":stack_depot_bytes=4k", "node-depot-full", true);
	fuzz_remove_tree(node_dir);
	return 0;
}
