/*
 * bench_node.c - how fast pooldump's commands are on a big pool. Builds a
 * fabricated node (node_fixture.h) with one pool of N live blocks (default
 * one million, 16 to 79 bytes each) from 64 call sites, writes it to a
 * temporary node directory, then times allocations_per_caller and a few
 * other commands through node_command_run with the output counted and
 * discarded. Not run by make check.
 *
 * Run: tests/node/bench_node [blocks]     (TMPDIR picks the directory; a
 * tmpfs such as /dev/shm measures the copy as pooldump meets it)
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "node/node_commands.h"
#include "node_fixture.h"

#define SITES 64

static size_t printed_bytes;

static void count_output(void *cookie, const char *text)
{
	(void)cookie;
	while (*text++ != '\0')
		printed_bytes++;
}

static void print_error(void *cookie, const char *text)
{
	(void)cookie;
	fputs(text, stderr);
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void time_command(const char *node_dir, pid_t pid, bool json, int argc, char **argv)
{
	struct node_command_context context = {
		.node_dir = node_dir,
		.pid = pid,
		.json = json,
		.print = count_output,
		.print_error = print_error,
	};
	struct timespec start;
	int status;

	printed_bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	status = node_command_run(&context, argc, argv);
	printf("%-32s %-5s %7.3f s  (status %d, %zu bytes of output)\n", argv[0],
		json ? "json" : "text", seconds_since(&start), status, printed_bytes);
}

int main(int argc, char **argv)
{
	size_t blocks = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	struct fixture_node node;
	struct fixture_pool pool;
	struct timespec start;
	char dir[PATH_MAX];
	uintptr_t sites[SITES];

	fixture_temp_dir(dir, sizeof(dir));
	fixture_node_init(&node, dir, 4242, "bench_node", 1);
	fixture_node_write_process(&node);
	fixture_pool_init(&pool, &node, 7, blocks * 192 + (4u << 20), 256, "bench");
	for (size_t i = 0; i < SITES; i++)
		sites[i] = (uintptr_t)&time_command + 16 + 4 * i;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (size_t i = 0; i < blocks; i++) {
		if (fixture_alloc(&pool, 16 + i % 64, sites[(i * 7) % SITES],
			    (uint32_t)(100 + i % 4))
			== NULL) {
			fprintf(stderr, "bench_node: the pool is full after %zu blocks\n", i);
			return 1;
		}
	}
	fixture_pool_write(&pool);
	printf("built a %zu-byte pool of %zu blocks from %d call sites in %.3f s (%s)\n",
		pool.area_size, blocks, SITES, seconds_since(&start), dir);

	char *per_caller[] = { "allocations_per_caller" };
	char *per_caller_count[] = { "allocations_per_caller", "-c" };
	char *stats[] = { "allocations", "stats" };
	char *leaks[] = { "leaks" };
	char *check[] = { "check" };
	char *list[] = { "allocations" };
	time_command(dir, node.pid, false, 1, per_caller);
	time_command(dir, node.pid, true, 1, per_caller);
	time_command(dir, node.pid, false, 2, per_caller_count);
	time_command(dir, node.pid, false, 2, stats);
	time_command(dir, node.pid, false, 1, leaks);
	time_command(dir, node.pid, false, 1, check);
	time_command(dir, node.pid, false, 1, list);
	time_command(dir, node.pid, true, 1, list);

	fixture_pool_destroy(&pool);
	fixture_node_destroy(&node);
	if (getenv("BENCH_KEEP") == NULL)
		fixture_remove_tree(dir);
	return 0;
}
