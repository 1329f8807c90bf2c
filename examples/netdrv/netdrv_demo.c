/*
 * netdrv_demo.c - drives the netdrv example driver the way a user-space test
 * harness does: it plays devfs (init_hardware, init_driver, publish_devices,
 * find_device, then the device hooks), sends traffic from several threads,
 * takes the driver down an error path, and shows the driver's pools,
 * KDL-style, while they hold the most.
 *
 * Linked with the driver built with -DNETDRV_BUGGY it is the program that
 * `make demo` runs under `pooldump run`, which catches the three planted
 * bugs; linked with the fixed driver it is what `make demo-clean` runs.
 *
 * Environment: NETDRV_DEMO_POOLDUMP, the path of the pooldump command:
 * when set (and the debug build of area_malloc is loaded), the demo also
 * runs `pooldump -p <its own pid> allocations_per_caller` on itself.
 *
 * Exit status: 0 when every step went as the driver documents (an MTU
 * change refused with B_NO_MEMORY counts: that is failure injection at
 * work), 1 otherwise; under the debug build, 23 once it reported an error
 * or a leak.
 *
 * Build it outside this tree with:
 *   cc netdrv_demo.c netdrv.c netdrv_traffic.c $(pkg-config --cflags --libs area_malloc) \
 *      -pthread -o netdrv_demo
 * (add -DNETDRV_BUGGY for the driver with its planted bugs).
 *
 * Locking: single-threaded, but for netdrv_traffic_run()'s own threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc_debug.h>

#include "netdrv.h"
#include "netdrv_traffic.h"

#define STALLED (NETDRV_MAX_LOOPBACK_DELAY)
#define JUMBO_MTU 9000

static const device_hooks *hooks;
static const char *device;
static void *cookie;
static bool debug_module; /* the debug build of area_malloc is loaded */
static int failures;      /* steps that did not go as documented */

static void step(const char *what)
{
	printf("\n--- %s\n", what);
	fflush(stdout);
}

static void expect(bool good, const char *what)
{
	printf("    %s%s\n", good ? "" : "UNEXPECTED: ", what);
	if (!good)
		failures++;
}

static const char *status_name(status_t status)
{
	switch (status) {
	case B_OK:
		return "B_OK";
	case B_NO_MEMORY:
		return "B_NO_MEMORY";
	case B_WOULD_BLOCK:
		return "B_WOULD_BLOCK";
	case B_BAD_VALUE:
		return "B_BAD_VALUE";
	case B_FILE_ERROR:
		return "B_FILE_ERROR";
	default:
		return "an error";
	}
}

static uint32 get_mtu(void)
{
	uint32 mtu = 0;

	hooks->control(cookie, NETDRV_GET_MTU, &mtu, sizeof(mtu));
	return mtu;
}

static void set_loopback_delay(bigtime_t delay)
{
	hooks->control(cookie, NETDRV_SET_LOOPBACK_DELAY, &delay, sizeof(delay));
}

static void print_stats(void)
{
	netdrv_stats stats;

	hooks->control(cookie, NETDRV_GET_STATS, &stats, sizeof(stats));
	printf("    stats: tx %" PRIu64 " frames, rx %" PRIu64 ", dropped %" PRIu64 " + %" PRIu64
	       ", no memory %" PRIu64 ", ring rebuilds %" PRIu64 ", mtu %u\n",
		stats.tx_frames, stats.rx_frames, stats.tx_dropped, stats.rx_dropped,
		stats.tx_no_memory, stats.ring_rebuilds, (unsigned)stats.mtu);
}

/* Sends frames from several threads, each with a cookie of its own, and reads them back. */
static void run_traffic(int writers, int readers, uint32 frames, size_t min_length,
	size_t max_length)
{
	struct netdrv_traffic traffic = {
		.hooks = hooks,
		.device = device,
		.writers = writers,
		.readers = readers,
		.frames_per_writer = frames,
		.min_length = min_length,
		.max_length = max_length,
	};
	char line[200];
	status_t status = netdrv_traffic_run(&traffic);

	snprintf(line, sizeof(line),
		"%d writers x %u frames of %zu to %zu bytes, %d readers: %" PRIu64 " sent, %" PRIu64
		" read back intact, %" PRIu64 " corrupt, %" PRIu64 " missing",
		writers, (unsigned)frames, min_length, max_length, readers, traffic.sent,
		traffic.received, traffic.corrupt, traffic.missing);
	expect(status == B_OK && traffic.received == (uint64)writers * frames
			&& traffic.corrupt == 0 && traffic.duplicated == 0 && !traffic.timed_out
			&& traffic.open_error == B_OK && traffic.write_error == B_OK
			&& traffic.read_error == B_OK,
		line);
}

/* Writes count frames without waiting; returns how many were queued. */
static int queue_frames(int count, uint32 first_sequence, status_t *last_status)
{
	uint8 frame[256];
	int queued = 0;

	*last_status = B_OK;
	for (int i = 0; i < count; i++) {
		size_t bytes = sizeof(frame);

		netdrv_frame_build(frame, sizeof(frame), 0, first_sequence + (uint32)i);
		*last_status = hooks->write(cookie, 0, frame, &bytes);
		if (*last_status != B_OK)
			break;
		queued++;
	}
	return queued;
}

/* Reads count frames back (the card must have been released) and checks them. */
static int read_frames(int count)
{
	uint8 frame[NETDRV_MAX_MTU];
	int intact = 0;

	for (int i = 0; i < count; i++) {
		size_t bytes = sizeof(frame);
		uint32 writer, sequence;

		if (hooks->read(cookie, 0, frame, &bytes) != B_OK)
			break;
		if (netdrv_frame_check(frame, bytes, &writer, &sequence))
			intact++;
	}
	return intact;
}

static void debugger(const char *caption, const char *command)
{
	printf("\n    %s\nkdebug> %s\n", caption, command);
	fflush(stdout);
	evaluate_debug_command(command);
	fflush(stdout);
}

/*
 * The moment the pools hold the most: the card stalled with a full TX ring.
 * In process, through the kernel debugger's commands: every pool, the ring
 * pool's last events, every live block by caller; from outside, through
 * pooldump reading this process's debug node: the packet pool in detail.
 */
static void show_pools(void)
{
	netdrv_pool_areas areas;
	const char *pooldump = getenv("NETDRV_DEMO_POOLDUMP");
	char command[4096];

	if (hooks->control(cookie, NETDRV_GET_POOL_AREAS, &areas, sizeof(areas)) != B_OK)
		return;
	debugger("the driver's pools, as the kernel debugger lists them:", "pools");
	if (!debug_module) {
		snprintf(command, sizeof(command), "pool %d", (int)areas.packets);
		debugger("its packet pool:", command);
		printf("    (the release build of area_malloc keeps no owner tags and no pool "
		       "log)\n");
		return;
	}
	snprintf(command, sizeof(command), "pool_log %d 3", (int)areas.rings);
	debugger("the last events of the ring pool:", command);
	debugger("every live block, by the function that allocated it:", "allocations_per_caller");
	if (pooldump != NULL && pooldump[0] != '\0') {
		printf("\n    the packet pool, read by pooldump from outside the process:\n"
		       "$ pooldump -p %d pool %d\n",
			(int)getpid(), (int)areas.packets);
		fflush(stdout);
		snprintf(command, sizeof(command), "'%s' -p %d pool %d", pooldump, (int)getpid(),
			(int)areas.packets);
		if (system(command) == -1)
			printf("    cannot run %s\n", pooldump);
		fflush(stdout);
	}
}

static bool open_device(void)
{
	uint8 address[NETDRV_ADDRESS_LENGTH];
	bigtime_t read_timeout = 5000000; /* a demo that goes wrong must not hang */
	status_t status = hooks->open(device, 0, &cookie);

	if (status != B_OK) {
		printf("    cannot open %s: %s\n", device, status_name(status));
		return false;
	}
	hooks->control(cookie, NETDRV_SET_READ_TIMEOUT, &read_timeout, sizeof(read_timeout));
	hooks->control(cookie, NETDRV_GET_ADDRESS, address, sizeof(address));
	printf("    opened %s: address %02x:%02x:%02x:%02x:%02x:%02x, mtu %u\n", device, address[0],
		address[1], address[2], address[3], address[4], address[5], (unsigned)get_mtu());
	return true;
}

int main(void)
{
	area_malloc_debug_module_info *companion;
	const char **names;
	status_t status;
	uint32 mtu;
	int queued;

#ifdef NETDRV_BUGGY
	printf("netdrv demo: the BUGGY build of the driver (three planted bugs)\n");
#else
	printf("netdrv demo: the fixed build of the driver\n");
#endif

	step("init_hardware, init_driver, publish_devices");
	if (init_hardware() != B_OK || init_driver() != B_OK) {
		printf("    the driver did not load\n");
		return EXIT_FAILURE;
	}
	debug_module =
		get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&companion) == B_OK;
	if (debug_module)
		put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	printf("    area_malloc: the %s build\n", debug_module ? "debug" : "release");
	names = publish_devices();
	printf("    devices:");
	for (int i = 0; names[i] != NULL; i++)
		printf(" /dev/%s", names[i]);
	printf("\n");
	device = names[0];
	hooks = find_device(device);
	if (hooks == NULL || !open_device()) {
		uninit_driver();
		return EXIT_FAILURE;
	}

	step("traffic: threads write frames, the card loops them back, threads read them");
	run_traffic(3, 2, 400, NETDRV_FRAME_HEADER_LENGTH, NETDRV_DEFAULT_MTU);
	print_stats();

	step("stall the card, fill its TX ring, then one more write without waiting");
	set_loopback_delay(STALLED);
	queued = queue_frames(NETDRV_TX_RING_SIZE, 0, &status);
	hooks->control(cookie, B_SET_NONBLOCKING_IO, NULL, 0);
	if (status == B_OK)
		queue_frames(1, NETDRV_TX_RING_SIZE, &status);
	hooks->control(cookie, B_SET_BLOCKING_IO, NULL, 0);
	printf("    %d frames queued; the next write returned %s\n", queued, status_name(status));
	expect(queued == NETDRV_TX_RING_SIZE && status == B_WOULD_BLOCK,
		"a full TX ring refuses a non-blocking write with B_WOULD_BLOCK");
	show_pools();

	step("release the card and read the queued frames back");
	set_loopback_delay(NETDRV_DEFAULT_LOOPBACK_DELAY);
	queued = read_frames(NETDRV_TX_RING_SIZE);
	expect(queued == NETDRV_TX_RING_SIZE, "every queued frame came back intact");

	step("set the MTU to 9000: the driver rebuilds its rings (under the QA runner, the"
	     " new TX ring's allocation fails)");
	mtu = JUMBO_MTU;
	status = hooks->control(cookie, NETDRV_SET_MTU, &mtu, sizeof(mtu));
	printf("    NETDRV_SET_MTU 9000: %s\n", status_name(status));
	if (status == B_NO_MEMORY) {
		expect(get_mtu() == NETDRV_DEFAULT_MTU,
			"refused for want of memory: the card keeps MTU 1500 and its old rings");
		status = hooks->control(cookie, NETDRV_SET_MTU, &mtu, sizeof(mtu));
		printf("    NETDRV_SET_MTU 9000 again: %s\n", status_name(status));
	}
	expect(status == B_OK && get_mtu() == JUMBO_MTU, "the card runs at MTU 9000 on new rings");
	run_traffic(2, 2, 100, 1600, JUMBO_MTU);
	print_stats();

	step("stall the card, queue 4 frames, close and free the device with them in flight");
	set_loopback_delay(STALLED);
	queued = queue_frames(4, 0, &status);
	expect(queued == 4, "4 frames queued");
	expect(hooks->close(cookie) == B_OK && hooks->free(cookie) == B_OK,
		"close and free return B_OK");

	step("uninit_driver");
	uninit_driver();
	printf("\nnetdrv demo: %s\n",
		failures == 0 ? "every step went as documented" : "SOME STEPS WENT WRONG");
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
