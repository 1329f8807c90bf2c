/*
 * test_netdrv.c - the QA suite of the netdrv example driver, driven as devfs
 * drives a driver: the entry points, then the device hooks.
 *
 * The suite runs twice: against the release build of area_malloc (the
 * KERNEL_MODULE_PATH that make check sets), then against the debug build
 * (KERNEL_MODULE_PATH=$AREA_MALLOC_DEBUG_MODULE_DIR, set by main() before
 * the second run; Check's children inherit it). With the debug build each
 * test is a phase: its fixture marks the phase with the companion module
 * and, at the end, asserts that nothing allocated in the phase is still
 * live (report_leaks since the mark), that every pool checks clean and that
 * no error was reported. The fault-injection tests need the debug build and
 * run only in the second pass; each sets its AREA_MALLOC_OPTIONS
 * (fail_caller, fail_nth) before init_driver() loads the module.
 *
 * Check runs each test in a child process of its own (main() insists), so
 * each test loads the module afresh with its own options.
 *
 * Locking: helper threads never assert; they hand their results back and
 * the test thread checks them after joining.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <KernelExport.h>
#include <drivers/area_malloc_debug.h>

#include "netdrv.h"
#include "netdrv_traffic.h"
#include "support/debug_command.h"

#define DEVICE0 NETDRV_DEVICE_PREFIX "0"
#define DEVICE1 NETDRV_DEVICE_PREFIX "1"
#define WAIT_LIMIT 10000000 /* 10 s: a wait longer than this is a hang */
#define STALLED NETDRV_MAX_LOOPBACK_DELAY

static bool debug_pass; /* main(): this pass loads the debug build */
static const device_hooks *hooks;
static area_malloc_debug_module_info *companion;
static bool driver_started;
static uint64 phase_mark;
static uint64 errors_at_start;

/* ---- the driver's life, one phase per test ---- */

/* Loads the driver; extra_options (or NULL) go after any AREA_MALLOC_OPTIONS in force. */
static void driver_start(const char *extra_options)
{
	if (extra_options != NULL) {
		const char *inherited = getenv("AREA_MALLOC_OPTIONS");
		char options[1024];

		snprintf(options, sizeof(options), "%s%s%s", inherited != NULL ? inherited : "",
			inherited != NULL && inherited[0] != '\0' ? ":" : "", extra_options);
		ck_assert_int_eq(setenv("AREA_MALLOC_OPTIONS", options, 1), 0);
	}
	ck_assert_int_eq(init_hardware(), B_OK);
	ck_assert_int_eq(init_driver(), B_OK);
	driver_started = true;
	hooks = find_device(DEVICE0);
	ck_assert_ptr_nonnull(hooks);

	if (get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&companion) != B_OK)
		companion = NULL;
	/* the debug pass must never skip its leak checks silently */
	ck_assert_msg((companion != NULL) == debug_pass, "the %s build of area_malloc was loaded",
		companion != NULL ? "debug" : "release");
	if (companion != NULL) {
		phase_mark = companion->mark();
		errors_at_start = companion->error_count();
	}
}

static void driver_stop(void)
{
	if (!driver_started)
		return;
	if (companion != NULL) {
		size_t bytes = 0, blocks = 0;

		ck_assert_int_eq(companion->report_leaks(NULL, phase_mark, &bytes, &blocks), B_OK);
		ck_assert_msg(blocks == 0, "the test leaked %zu bytes in %zu blocks", bytes,
			blocks);
		ck_assert_int_eq(companion->check_pool(NULL), 0);
		ck_assert_uint_eq(companion->error_count(), errors_at_start);
		ck_assert_int_eq(put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME), B_OK);
		companion = NULL;
	}
	uninit_driver();
	driver_started = false;
}

static void phase_setup(void)
{
	driver_start(NULL);
}

/* ---- hooks, checked ---- */

static void *open_device(const char *device)
{
	void *cookie = NULL;
	bigtime_t timeout = WAIT_LIMIT;

	ck_assert_int_eq(hooks->open(device, 0, &cookie), B_OK);
	ck_assert_ptr_nonnull(cookie);
	ck_assert_int_eq(hooks->control(cookie, NETDRV_SET_READ_TIMEOUT, &timeout, sizeof(timeout)),
		B_OK);
	return cookie;
}

static void close_device(void *cookie)
{
	ck_assert_int_eq(hooks->close(cookie), B_OK);
	ck_assert_int_eq(hooks->free(cookie), B_OK);
}

static netdrv_stats stats_of(void *cookie)
{
	netdrv_stats stats;

	ck_assert_int_eq(hooks->control(cookie, NETDRV_GET_STATS, &stats, sizeof(stats)), B_OK);
	ck_assert_uint_eq(stats.tx_frames,
		stats.rx_frames + stats.rx_waiting + stats.tx_queued + stats.tx_dropped
			+ stats.rx_dropped);
	return stats;
}

static void set_delay(void *cookie, bigtime_t delay)
{
	ck_assert_int_eq(hooks->control(cookie, NETDRV_SET_LOOPBACK_DELAY, &delay, sizeof(delay)),
		B_OK);
}

static status_t set_mtu(void *cookie, uint32 mtu)
{
	return hooks->control(cookie, NETDRV_SET_MTU, &mtu, sizeof(mtu));
}

static uint32 mtu_of(void *cookie)
{
	uint32 mtu = 0;

	ck_assert_int_eq(hooks->control(cookie, NETDRV_GET_MTU, &mtu, sizeof(mtu)), B_OK);
	return mtu;
}

static status_t try_write_frame(void *cookie, size_t length, uint32 sequence)
{
	uint8 frame[NETDRV_MAX_MTU + 1];
	size_t bytes = length;
	status_t status;

	netdrv_frame_build(frame, length, 0, sequence);
	status = hooks->write(cookie, 0, frame, &bytes);
	ck_assert_uint_eq(bytes, status == B_OK ? length : 0);
	return status;
}

static void write_frame(void *cookie, size_t length, uint32 sequence)
{
	ck_assert_int_eq(try_write_frame(cookie, length, sequence), B_OK);
}

/* Reads the next frame and asserts it is the test frame (length, sequence). */
static void read_frame(void *cookie, size_t length, uint32 sequence)
{
	uint8 frame[NETDRV_MAX_MTU];
	size_t bytes = sizeof(frame);
	uint32 writer = 99, read_sequence = 0;

	ck_assert_int_eq(hooks->read(cookie, 0, frame, &bytes), B_OK);
	ck_assert_uint_eq(bytes, length);
	ck_assert(netdrv_frame_check(frame, bytes, &writer, &read_sequence));
	ck_assert_uint_eq(writer, 0);
	ck_assert_uint_eq(read_sequence, sequence);
}

static void assert_read_status(void *cookie, status_t expected)
{
	uint8 frame[64];
	size_t bytes = sizeof(frame);

	ck_assert_int_eq(hooks->read(cookie, 0, frame, &bytes), expected);
	ck_assert_uint_eq(bytes, 0);
}

/* Polls until the card holds tx_queued frames to send and rx_waiting to read. */
static void wait_for_card(void *cookie, uint32 tx_queued, uint32 rx_waiting)
{
	bigtime_t deadline = system_time() + WAIT_LIMIT;
	netdrv_stats stats = stats_of(cookie);

	while ((stats.tx_queued != tx_queued || stats.rx_waiting != rx_waiting)
		&& system_time() < deadline) {
		snooze(1000);
		stats = stats_of(cookie);
	}
	ck_assert_uint_eq(stats.tx_queued, tx_queued);
	ck_assert_uint_eq(stats.rx_waiting, rx_waiting);
}

static void run_traffic(struct netdrv_traffic *traffic)
{
	traffic->hooks = hooks;
	if (traffic->device == NULL)
		traffic->device = DEVICE0;
	ck_assert_int_eq(netdrv_traffic_run(traffic), B_OK);
	ck_assert_int_eq(traffic->open_error, B_OK);
	ck_assert_int_eq(traffic->write_error, B_OK);
	ck_assert_int_eq(traffic->read_error, B_OK);
	ck_assert(!traffic->timed_out);
	ck_assert_uint_eq(traffic->corrupt, 0);
	ck_assert_uint_eq(traffic->duplicated, 0);
	ck_assert_uint_eq(traffic->sent + traffic->refused,
		(uint64)traffic->writers * traffic->frames_per_writer);
	ck_assert_uint_eq(traffic->received + traffic->missing, traffic->sent);
}

/* ---- lifecycle ---- */

START_TEST(test_publish_and_find)
{
	const char **names = publish_devices();

	ck_assert_int_eq(api_version, B_CUR_DRIVER_API_VERSION);
	ck_assert_ptr_nonnull(names);
	for (int i = 0; i < NETDRV_CARD_COUNT; i++) {
		char expected[32];
		device_hooks *found;

		snprintf(expected, sizeof(expected), NETDRV_DEVICE_PREFIX "%d", i);
		ck_assert_str_eq(names[i], expected);
		found = find_device(names[i]);
		ck_assert_ptr_eq(found, hooks);
	}
	ck_assert_ptr_null(names[NETDRV_CARD_COUNT]);
	ck_assert(hooks->open != NULL && hooks->close != NULL && hooks->free != NULL
		&& hooks->control != NULL && hooks->read != NULL && hooks->write != NULL);
	ck_assert_ptr_null(find_device(NETDRV_DEVICE_PREFIX "2"));
	ck_assert_ptr_null(find_device("net/netdrv"));
	ck_assert_ptr_null(find_device(""));
	ck_assert_ptr_null(find_device(NULL));
}
END_TEST

START_TEST(test_open_close_free)
{
	void *first, *second, *stale = NULL;

	ck_assert_int_eq(hooks->open(NETDRV_DEVICE_PREFIX "7", 0, &stale), B_BAD_VALUE);
	ck_assert_ptr_null(stale);
	ck_assert_int_eq(hooks->open(DEVICE0, 0, NULL), B_BAD_VALUE);

	first = open_device(DEVICE0);
	ck_assert_uint_eq(stats_of(first).open_count, 1);
	second = open_device(DEVICE0);
	ck_assert_uint_eq(stats_of(first).open_count, 2);
	ck_assert_int_eq(hooks->free(second), B_BAD_VALUE); /* not closed yet */
	ck_assert_int_eq(hooks->close(second), B_OK);
	ck_assert_int_eq(hooks->close(second), B_BAD_VALUE); /* closed already */
	ck_assert_uint_eq(stats_of(first).open_count, 1);
	ck_assert_int_eq(hooks->free(second), B_OK);

	/* the card still works through the first cookie */
	write_frame(first, 100, 1);
	read_frame(first, 100, 1);
	close_device(first);

	/* and comes up again after its last close and free */
	first = open_device(DEVICE0);
	write_frame(first, 60, 2);
	read_frame(first, 60, 2);
	close_device(first);
}
END_TEST

/* An open between the last close and the last free restarts the card on the old rings. */
START_TEST(test_open_between_close_and_free)
{
	void *closing = open_device(DEVICE0);
	void *fresh;

	write_frame(closing, 200, 1);
	read_frame(closing, 200, 1);
	ck_assert_int_eq(hooks->close(closing), B_OK);
	fresh = open_device(DEVICE0);
	ck_assert_int_eq(hooks->free(closing), B_OK);
	write_frame(fresh, 300, 2);
	read_frame(fresh, 300, 2);
	ck_assert_uint_eq(stats_of(fresh).open_count, 1);
	close_device(fresh);
}
END_TEST

struct blocked_call {
	void *cookie;
	bool write; /* write() a frame, else read() */
	atomic_bool started;
	status_t status;
	size_t bytes;
};

static void *blocked_call_main(void *argument)
{
	struct blocked_call *call = argument;
	uint8 frame[128];

	call->bytes = sizeof(frame);
	netdrv_frame_build(frame, sizeof(frame), 0, 0);
	atomic_store(&call->started, true);
	if (call->write)
		call->status = hooks->write(call->cookie, 0, frame, &call->bytes);
	else
		call->status = hooks->read(call->cookie, 0, frame, &call->bytes);
	return NULL;
}

/* close() wakes the calls blocked on the cookie; they return B_FILE_ERROR. */
START_TEST(test_close_wakes_blocked_calls)
{
	void *keeper = open_device(DEVICE0);
	void *reader = open_device(DEVICE0);
	void *writer = open_device(DEVICE0);
	bigtime_t forever = B_INFINITE_TIMEOUT;
	struct blocked_call read_call = { .cookie = reader, .write = false };
	struct blocked_call write_call = { .cookie = writer, .write = true };
	pthread_t read_thread, write_thread;

	ck_assert_int_eq(hooks->control(reader, NETDRV_SET_READ_TIMEOUT, &forever, sizeof(forever)),
		B_OK);
	/* a stalled card with a full TX ring: the next write must wait */
	set_delay(keeper, STALLED);
	for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
		write_frame(keeper, 64, i);

	ck_assert_int_eq(pthread_create(&read_thread, NULL, blocked_call_main, &read_call), 0);
	ck_assert_int_eq(pthread_create(&write_thread, NULL, blocked_call_main, &write_call), 0);
	while (!atomic_load(&read_call.started) || !atomic_load(&write_call.started))
		snooze(1000);
	snooze(50000); /* into their waits */
	ck_assert_int_eq(hooks->close(reader), B_OK);
	ck_assert_int_eq(hooks->close(writer), B_OK);
	pthread_join(read_thread, NULL);
	pthread_join(write_thread, NULL);
	ck_assert_int_eq(read_call.status, B_FILE_ERROR);
	ck_assert_uint_eq(read_call.bytes, 0);
	ck_assert_int_eq(write_call.status, B_FILE_ERROR);
	ck_assert_uint_eq(write_call.bytes, 0);
	ck_assert_int_eq(hooks->free(reader), B_OK);
	ck_assert_int_eq(hooks->free(writer), B_OK);

	/* the card and its other cookie carry on */
	set_delay(keeper, 0);
	for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
		read_frame(keeper, 64, i);
	close_device(keeper);
}
END_TEST

/* The last close drops the frames the card has not sent; the counters say so. */
START_TEST(test_last_close_drops_unsent_frames)
{
	void *cookie = open_device(DEVICE0);
	netdrv_stats stats;

	set_delay(cookie, STALLED);
	for (uint32 i = 0; i < 5; i++)
		write_frame(cookie, 100, i);
	close_device(cookie);

	cookie = open_device(DEVICE0);
	stats = stats_of(cookie);
	ck_assert_uint_eq(stats.tx_frames, 5);
	ck_assert_uint_eq(stats.tx_dropped, 5);
	ck_assert_uint_eq(stats.tx_queued, 0);
	set_delay(cookie, 0);
	ck_assert_int_eq(hooks->control(cookie, B_SET_NONBLOCKING_IO, NULL, 0), B_OK);
	snooze(10000);
	assert_read_status(cookie, B_WOULD_BLOCK);
	close_device(cookie);
}
END_TEST

/* ---- read and write ---- */

START_TEST(test_round_trips)
{
	static const size_t lengths[] = { NETDRV_FRAME_HEADER_LENGTH, 17, 64, 255, 1024, 1499,
		NETDRV_DEFAULT_MTU };
	void *cookie = open_device(DEVICE0);
	uint64 bytes = 0;
	netdrv_stats stats;

	for (uint32 i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		write_frame(cookie, lengths[i], i);
		read_frame(cookie, lengths[i], i);
		bytes += lengths[i];
	}
	stats = stats_of(cookie);
	ck_assert_uint_eq(stats.tx_frames, sizeof(lengths) / sizeof(lengths[0]));
	ck_assert_uint_eq(stats.rx_frames, stats.tx_frames);
	ck_assert_uint_eq(stats.tx_bytes, bytes);
	ck_assert_uint_eq(stats.rx_bytes, bytes);
	ck_assert_uint_eq(stats.tx_dropped + stats.rx_dropped + stats.tx_no_memory, 0);

	/* a frame is any bytes, down to one */
	{
		uint8 byte = 0x5a, back = 0;
		size_t length = 1;

		ck_assert_int_eq(hooks->write(cookie, 0, &byte, &length), B_OK);
		ck_assert_uint_eq(length, 1);
		length = 1;
		ck_assert_int_eq(hooks->read(cookie, 0, &back, &length), B_OK);
		ck_assert_uint_eq(length, 1);
		ck_assert_uint_eq(back, 0x5a);
	}
	close_device(cookie);
}
END_TEST

/* Frames come back in the order they were written, even from a stalled card. */
START_TEST(test_frames_keep_their_order)
{
	void *cookie = open_device(DEVICE0);

	set_delay(cookie, STALLED);
	for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
		write_frame(cookie, 100 + i, i);
	wait_for_card(cookie, NETDRV_TX_RING_SIZE, 0);
	set_delay(cookie, 0);
	for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
		read_frame(cookie, 100 + i, i);
	close_device(cookie);
}
END_TEST

START_TEST(test_write_errors)
{
	void *cookie = open_device(DEVICE0);
	uint8 frame[NETDRV_MAX_MTU + 1];
	size_t bytes = 10;

	memset(frame, 0, sizeof(frame));
	ck_assert_int_eq(hooks->write(cookie, 0, NULL, &bytes), B_BAD_ADDRESS);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(try_write_frame(cookie, NETDRV_FRAME_HEADER_LENGTH, 0), B_OK);
	bytes = 0;
	ck_assert_int_eq(hooks->write(cookie, 0, frame, &bytes), B_BAD_VALUE);
	ck_assert_int_eq(try_write_frame(cookie, NETDRV_DEFAULT_MTU + 1, 1), B_BAD_VALUE);
	ck_assert_int_eq(try_write_frame(cookie, NETDRV_MAX_MTU + 1, 2), B_BAD_VALUE);
	ck_assert_uint_eq(stats_of(cookie).tx_frames, 1);
	read_frame(cookie, NETDRV_FRAME_HEADER_LENGTH, 0);

	/* a closed cookie writes nothing */
	ck_assert_int_eq(hooks->close(cookie), B_OK);
	ck_assert_int_eq(try_write_frame(cookie, 100, 3), B_FILE_ERROR);
	ck_assert_int_eq(hooks->free(cookie), B_OK);
}
END_TEST

START_TEST(test_read_errors)
{
	void *cookie = open_device(DEVICE0);
	void *nonblocking = NULL;
	bigtime_t timeout = 20000, started;
	uint8 frame[64];
	size_t bytes = sizeof(frame);

	ck_assert_int_eq(hooks->read(cookie, 0, NULL, &bytes), B_BAD_ADDRESS);
	ck_assert_uint_eq(bytes, 0);
	bytes = 0;
	ck_assert_int_eq(hooks->read(cookie, 0, frame, &bytes), B_BAD_VALUE);

	ck_assert_int_eq(hooks->control(cookie, NETDRV_SET_READ_TIMEOUT, &timeout, sizeof(timeout)),
		B_OK);
	started = system_time();
	assert_read_status(cookie, B_TIMED_OUT);
	ck_assert_int_ge(system_time() - started, timeout);

	ck_assert_int_eq(hooks->control(cookie, B_SET_NONBLOCKING_IO, NULL, 0), B_OK);
	assert_read_status(cookie, B_WOULD_BLOCK);
	ck_assert_int_eq(hooks->control(cookie, B_SET_BLOCKING_IO, NULL, 0), B_OK);
	assert_read_status(cookie, B_TIMED_OUT);

	ck_assert_int_eq(hooks->open(DEVICE0, O_NONBLOCK, &nonblocking), B_OK);
	assert_read_status(nonblocking, B_WOULD_BLOCK);
	close_device(nonblocking);

	ck_assert_int_eq(hooks->close(cookie), B_OK);
	assert_read_status(cookie, B_FILE_ERROR);
	ck_assert_int_eq(hooks->free(cookie), B_OK);
}
END_TEST

/* A buffer shorter than the frame gets its start; the rest of the frame is gone. */
START_TEST(test_short_buffer_truncates)
{
	void *cookie = open_device(DEVICE0);
	uint8 sent[1000], frame[100];
	size_t bytes = sizeof(frame);

	netdrv_frame_build(sent, sizeof(sent), 0, 7);
	bytes = sizeof(sent);
	ck_assert_int_eq(hooks->write(cookie, 0, sent, &bytes), B_OK);
	bytes = sizeof(frame);
	ck_assert_int_eq(hooks->read(cookie, 0, frame, &bytes), B_OK);
	ck_assert_uint_eq(bytes, sizeof(frame));
	ck_assert_mem_eq(frame, sent, sizeof(frame));
	ck_assert_uint_eq(stats_of(cookie).rx_bytes, sizeof(frame));
	ck_assert_int_eq(hooks->control(cookie, B_SET_NONBLOCKING_IO, NULL, 0), B_OK);
	assert_read_status(cookie, B_WOULD_BLOCK);
	close_device(cookie);
}
END_TEST

START_TEST(test_cards_are_separate)
{
	void *card0 = open_device(DEVICE0);
	void *card1 = open_device(DEVICE1);
	uint8 address0[NETDRV_ADDRESS_LENGTH], address1[NETDRV_ADDRESS_LENGTH];

	ck_assert_int_eq(hooks->control(card0, NETDRV_GET_ADDRESS, address0, sizeof(address0)),
		B_OK);
	ck_assert_int_eq(hooks->control(card1, NETDRV_GET_ADDRESS, address1, sizeof(address1)),
		B_OK);
	ck_assert_mem_ne(address0, address1, sizeof(address0));
	ck_assert_uint_eq(address0[0] & 0x03, 0x02); /* locally administered unicast */

	write_frame(card0, 500, 1);
	wait_for_card(card0, 0, 1);
	ck_assert_int_eq(hooks->control(card1, B_SET_NONBLOCKING_IO, NULL, 0), B_OK);
	assert_read_status(card1, B_WOULD_BLOCK);
	ck_assert_uint_eq(stats_of(card1).tx_frames, 0);
	ck_assert_int_eq(set_mtu(card1, 9000), B_OK);
	ck_assert_uint_eq(mtu_of(card0), NETDRV_DEFAULT_MTU);
	read_frame(card0, 500, 1);
	close_device(card1);
	close_device(card0);
}
END_TEST

/* A stalled card with a full TX ring: a non-blocking write is refused, nothing is lost. */
START_TEST(test_full_tx_ring)
{
	void *cookie = open_device(DEVICE0);

	set_delay(cookie, STALLED);
	for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
		write_frame(cookie, 64, i);
	ck_assert_int_eq(hooks->control(cookie, B_SET_NONBLOCKING_IO, NULL, 0), B_OK);
	ck_assert_int_eq(try_write_frame(cookie, 64, NETDRV_TX_RING_SIZE), B_WOULD_BLOCK);
	ck_assert_uint_eq(stats_of(cookie).tx_queued, NETDRV_TX_RING_SIZE);
	ck_assert_uint_eq(stats_of(cookie).tx_frames, NETDRV_TX_RING_SIZE);
	set_delay(cookie, 0);
	ck_assert_int_eq(hooks->control(cookie, B_SET_BLOCKING_IO, NULL, 0), B_OK);
	for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
		read_frame(cookie, 64, i);
	close_device(cookie);
}
END_TEST

/* With nobody reading, the card fills the RX ring and then holds frames back. */
START_TEST(test_flow_control)
{
	const uint32 capacity = NETDRV_RX_RING_SIZE + NETDRV_TX_RING_SIZE;
	void *cookie = open_device(DEVICE0);

	set_delay(cookie, 0);
	for (uint32 i = 0; i < capacity; i++)
		write_frame(cookie, 200, i);
	wait_for_card(cookie, NETDRV_TX_RING_SIZE, NETDRV_RX_RING_SIZE);
	ck_assert_int_eq(hooks->control(cookie, B_SET_NONBLOCKING_IO, NULL, 0), B_OK);
	ck_assert_int_eq(try_write_frame(cookie, 200, capacity), B_WOULD_BLOCK);
	ck_assert_int_eq(hooks->control(cookie, B_SET_BLOCKING_IO, NULL, 0), B_OK);
	for (uint32 i = 0; i < capacity; i++)
		read_frame(cookie, 200, i);
	ck_assert_uint_eq(stats_of(cookie).tx_dropped + stats_of(cookie).rx_dropped, 0);
	close_device(cookie);
}
END_TEST

/* ---- control ---- */

START_TEST(test_mtu)
{
	void *cookie = open_device(DEVICE0);
	netdrv_stats stats;

	ck_assert_uint_eq(mtu_of(cookie), NETDRV_DEFAULT_MTU);
	ck_assert_int_eq(set_mtu(cookie, NETDRV_MIN_MTU - 1), B_BAD_VALUE);
	ck_assert_int_eq(set_mtu(cookie, NETDRV_MAX_MTU + 1), B_BAD_VALUE);
	ck_assert_int_eq(set_mtu(cookie, NETDRV_DEFAULT_MTU), B_OK); /* no change: no rebuild */
	ck_assert_uint_eq(stats_of(cookie).ring_rebuilds, 0);

	ck_assert_int_eq(set_mtu(cookie, NETDRV_MAX_MTU), B_OK);
	ck_assert_uint_eq(mtu_of(cookie), NETDRV_MAX_MTU);
	write_frame(cookie, NETDRV_MAX_MTU, 1);
	read_frame(cookie, NETDRV_MAX_MTU, 1);

	ck_assert_int_eq(set_mtu(cookie, NETDRV_MIN_MTU), B_OK);
	ck_assert_int_eq(try_write_frame(cookie, NETDRV_MIN_MTU + 1, 2), B_BAD_VALUE);
	write_frame(cookie, NETDRV_MIN_MTU, 3);
	read_frame(cookie, NETDRV_MIN_MTU, 3);

	/* a rebuild drops the frames in flight, and counts them */
	set_delay(cookie, STALLED);
	for (uint32 i = 0; i < 5; i++)
		write_frame(cookie, 60, i);
	ck_assert_int_eq(set_mtu(cookie, NETDRV_DEFAULT_MTU), B_OK);
	stats = stats_of(cookie);
	ck_assert_uint_eq(stats.ring_rebuilds, 3);
	ck_assert_uint_eq(stats.tx_dropped, 5);
	ck_assert_uint_eq(stats.tx_queued, 0);
	ck_assert_uint_eq(stats.mtu, NETDRV_DEFAULT_MTU);
	set_delay(cookie,
		NETDRV_DEFAULT_LOOPBACK_DELAY); /* a card setting: it outlives the cookie */
	close_device(cookie);

	/* the MTU outlives the cookies: the next rings are built for it */
	cookie = open_device(DEVICE0);
	ck_assert_int_eq(set_mtu(cookie, 4000), B_OK);
	close_device(cookie);
	cookie = open_device(DEVICE0);
	ck_assert_uint_eq(mtu_of(cookie), 4000);
	write_frame(cookie, 4000, 4);
	read_frame(cookie, 4000, 4);
	close_device(cookie);
}
END_TEST

START_TEST(test_control_errors)
{
	void *cookie = open_device(DEVICE0);
	static const uint32 ops[] = { NETDRV_GET_STATS, NETDRV_GET_MTU, NETDRV_SET_MTU,
		NETDRV_GET_ADDRESS, NETDRV_SET_READ_TIMEOUT, NETDRV_SET_LOOPBACK_DELAY,
		NETDRV_GET_POOL_AREAS };
	uint8 buffer[sizeof(netdrv_stats)];
	bigtime_t negative = -1, too_long = NETDRV_MAX_LOOPBACK_DELAY + 1;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		ck_assert_int_eq(hooks->control(cookie, ops[i], NULL, sizeof(buffer)),
			B_BAD_ADDRESS);
		ck_assert_int_eq(hooks->control(cookie, ops[i], buffer, 1), B_BAD_VALUE);
	}
	ck_assert_int_eq(hooks->control(cookie, NETDRV_GET_POOL_AREAS + 1, buffer, sizeof(buffer)),
		B_DEV_INVALID_IOCTL);
	ck_assert_int_eq(hooks->control(cookie, B_GET_DEVICE_SIZE, buffer, sizeof(buffer)),
		B_DEV_INVALID_IOCTL);
	ck_assert_int_eq(hooks->control(cookie, NETDRV_SET_READ_TIMEOUT, &negative,
				 sizeof(negative)),
		B_BAD_VALUE);
	ck_assert_int_eq(hooks->control(cookie, NETDRV_SET_LOOPBACK_DELAY, &negative,
				 sizeof(negative)),
		B_BAD_VALUE);
	ck_assert_int_eq(hooks->control(cookie, NETDRV_SET_LOOPBACK_DELAY, &too_long,
				 sizeof(too_long)),
		B_BAD_VALUE);
	close_device(cookie);
}
END_TEST

/* The rings live in a B_CONTIGUOUS pool, the packet buffers in a B_FULL_LOCK one. */
START_TEST(test_pools)
{
	void *card0 = open_device(DEVICE0);
	void *card1 = open_device(DEVICE1);
	netdrv_pool_areas areas0, areas1;
	area_info info;
	char *output = NULL;

	ck_assert_int_eq(hooks->control(card0, NETDRV_GET_POOL_AREAS, &areas0, sizeof(areas0)),
		B_OK);
	ck_assert_int_eq(hooks->control(card1, NETDRV_GET_POOL_AREAS, &areas1, sizeof(areas1)),
		B_OK);
	ck_assert_int_gt(areas0.rings, 0);
	ck_assert_int_gt(areas0.packets, 0);
	ck_assert_int_ne(areas0.rings, areas0.packets);
	ck_assert_int_ne(areas0.rings, areas1.rings);
	ck_assert_int_ne(areas0.packets, areas1.packets);
	ck_assert_int_eq(get_area_info(areas0.rings, &info), B_OK);
	ck_assert_uint_eq(info.lock, B_CONTIGUOUS);
	ck_assert_int_eq(get_area_info(areas0.packets, &info), B_OK);
	ck_assert_uint_eq(info.lock, B_FULL_LOCK);

	/* with the debug build, the driver names its pools */
	ck_assert_int_eq(run_debug_command("pools", &output), 0);
	ck_assert_ptr_nonnull(output);
	if (companion != NULL) {
		ck_assert_ptr_nonnull(strstr(output, "\"netdrv0 rings\""));
		ck_assert_ptr_nonnull(strstr(output, "\"netdrv0 packets\""));
		ck_assert_ptr_nonnull(strstr(output, "\"netdrv1 packets\""));
	}
	free(output);
	close_device(card1);
	close_device(card0);
}
END_TEST

/* ---- threads ---- */

START_TEST(test_many_threads)
{
	struct netdrv_traffic traffic = {
		.writers = 4,
		.readers = 4,
		.frames_per_writer = 1500,
		.min_length = NETDRV_FRAME_HEADER_LENGTH,
		.max_length = NETDRV_DEFAULT_MTU,
	};
	void *cookie;
	netdrv_stats stats;

	run_traffic(&traffic);
	ck_assert_uint_eq(traffic.sent, 6000);
	ck_assert_uint_eq(traffic.received, 6000);
	ck_assert_uint_eq(traffic.missing, 0);

	cookie = open_device(DEVICE0);
	stats = stats_of(cookie);
	ck_assert_uint_eq(stats.tx_frames, 6000);
	ck_assert_uint_eq(stats.rx_frames, 6000);
	ck_assert_uint_eq(stats.tx_dropped + stats.rx_dropped, 0);
	close_device(cookie);
}
END_TEST

static void *traffic_main(void *argument)
{
	struct netdrv_traffic *traffic = argument;

	if (netdrv_traffic_run(traffic) != B_OK)
		traffic->timed_out = true; /* bad parameters: the checks below fail */
	return NULL;
}

/* Both cards at once, each with its own threads. */
START_TEST(test_both_cards_under_load)
{
	struct netdrv_traffic traffic[NETDRV_CARD_COUNT];
	pthread_t threads[NETDRV_CARD_COUNT];

	for (int i = 0; i < NETDRV_CARD_COUNT; i++) {
		traffic[i] = (struct netdrv_traffic){
			.hooks = hooks,
			.device = i == 0 ? DEVICE0 : DEVICE1,
			.writers = 2,
			.readers = 2,
			.frames_per_writer = 1000,
			.min_length = 100,
			.max_length = 1000,
		};
	}
	for (int i = 0; i < NETDRV_CARD_COUNT; i++) {
		ck_assert_int_eq(pthread_create(&threads[i], NULL, traffic_main, &traffic[i]), 0);
	}
	for (int i = 0; i < NETDRV_CARD_COUNT; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < NETDRV_CARD_COUNT; i++) {
		ck_assert(!traffic[i].timed_out);
		ck_assert_int_eq(traffic[i].open_error, B_OK);
		ck_assert_int_eq(traffic[i].write_error, B_OK);
		ck_assert_int_eq(traffic[i].read_error, B_OK);
		ck_assert_uint_eq(traffic[i].corrupt, 0);
		ck_assert_uint_eq(traffic[i].received, 2000);
	}
}
END_TEST

struct mtu_changer {
	void *cookie;
	atomic_bool stop;
	uint32 changes;    /* successful MTU changes */
	status_t error;    /* first unexpected status */
	bool inconsistent; /* a statistics snapshot broke the invariant */
};

static void *mtu_changer_main(void *argument)
{
	static const uint32 mtus[] = { 9000, 576, 3000, NETDRV_DEFAULT_MTU };
	struct mtu_changer *changer = argument;

	for (uint32 i = 0; !atomic_load(&changer->stop); i++) {
		uint32 mtu = mtus[i % (sizeof(mtus) / sizeof(mtus[0]))];
		status_t status =
			hooks->control(changer->cookie, NETDRV_SET_MTU, &mtu, sizeof(mtu));
		netdrv_stats stats;

		if (status == B_OK)
			changer->changes++;
		else if (changer->error == B_OK)
			changer->error = status;
		if (hooks->control(changer->cookie, NETDRV_GET_STATS, &stats, sizeof(stats)) != B_OK
			|| stats.tx_frames
				!= stats.rx_frames + stats.rx_waiting + stats.tx_queued
					+ stats.tx_dropped + stats.rx_dropped)
			changer->inconsistent = true;
		snooze(2000);
	}
	return NULL;
}

/*
 * The MTU changes again and again while threads write and read: frames
 * come back intact or not at all, every frame that does not come back is
 * one the driver counted as dropped, and the frames too long for the MTU of
 * the moment are refused.
 */
START_TEST(test_mtu_change_under_load)
{
	struct netdrv_traffic traffic = {
		.writers = 4,
		.readers = 3,
		.frames_per_writer = 1500,
		.min_length = NETDRV_FRAME_HEADER_LENGTH,
		.max_length = 3000,
	};
	struct mtu_changer changer = { .cookie = open_device(DEVICE0) };
	netdrv_stats stats;
	pthread_t thread;

	ck_assert_int_eq(pthread_create(&thread, NULL, mtu_changer_main, &changer), 0);
	run_traffic(&traffic);
	atomic_store(&changer.stop, true);
	pthread_join(thread, NULL);

	ck_assert_int_eq(changer.error, B_OK);
	ck_assert(!changer.inconsistent);
	ck_assert_uint_gt(changer.changes, 0);
	stats = stats_of(changer.cookie);
	ck_assert_uint_eq(stats.ring_rebuilds, changer.changes);
	ck_assert_uint_eq(stats.tx_frames, traffic.sent);
	ck_assert_uint_eq(stats.rx_frames, traffic.received);
	ck_assert_uint_eq(stats.tx_dropped + stats.rx_dropped, traffic.missing);
	ck_assert_uint_eq(stats.tx_queued + stats.rx_waiting, 0);
	close_device(changer.cookie);
}
END_TEST

struct churner {
	unsigned seed;
	uint32 rounds;
	status_t error;
};

static void *churner_main(void *argument)
{
	struct churner *churner = argument;
	uint8 frame[512];

	for (uint32 round = 0; round < churner->rounds && churner->error == B_OK; round++) {
		const char *device = rand_r(&churner->seed) % 2 == 0 ? DEVICE0 : DEVICE1;
		bigtime_t timeout = 20000;
		void *cookie = NULL;
		size_t bytes = sizeof(frame);
		status_t status = hooks->open(device, 0, &cookie);

		if (status != B_OK) {
			churner->error = status;
			break;
		}
		hooks->control(cookie, NETDRV_SET_READ_TIMEOUT, &timeout, sizeof(timeout));
		netdrv_frame_build(frame, sizeof(frame), 0, round);
		status = hooks->write(cookie, 0, frame, &bytes);
		if (status == B_OK) {
			/* any frame will do, ours may have been read by another thread or dropped
			 */
			bytes = sizeof(frame);
			status = hooks->read(cookie, 0, frame, &bytes);
			if (status == B_TIMED_OUT)
				status = B_OK;
		}
		if (status != B_OK)
			churner->error = status;
		if (hooks->close(cookie) != B_OK || hooks->free(cookie) != B_OK)
			churner->error = B_ERROR;
	}
	return NULL;
}

/* Threads open, use, close and free cookies of both cards at once: the cards
 * come up and go down under them. */
START_TEST(test_open_close_storm)
{
	enum { THREADS = 4 };
	struct churner churners[THREADS];
	pthread_t threads[THREADS];

	for (int i = 0; i < THREADS; i++) {
		churners[i] = (struct churner){ .seed = (unsigned)i + 1, .rounds = 150 };
		ck_assert_int_eq(pthread_create(&threads[i], NULL, churner_main, &churners[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(churners[i].error, B_OK);
	for (int i = 0; i < NETDRV_CARD_COUNT; i++) {
		void *cookie = open_device(i == 0 ? DEVICE0 : DEVICE1);

		ck_assert_uint_eq(stats_of(cookie).open_count, 1);
		close_device(cookie);
	}
}
END_TEST

/* ---- error paths, through the debug build's failure injection ---- */

struct injection {
	const char *options;
	const char *what;
};

/* Each open fails at one allocation of the rings; nothing may be left behind. */
static const struct injection open_failures[] = {
	{ "fail_caller=rings_create:fail_nth=1", "the RX ring" },
	{ "fail_caller=rings_create:fail_nth=2", "the TX ring" },
	{ "fail_caller=rx_ring_fill:fail_nth=1", "the first RX buffer" },
	{ "fail_caller=rx_ring_fill:fail_nth=17", "an RX buffer half way" },
	{ "fail_caller=rx_ring_fill:fail_nth=32", "the last RX buffer" },
};

START_TEST(test_open_fails_cleanly)
{
	const struct injection *injection = &open_failures[_i];
	void *cookie = NULL;

	driver_start(injection->options);
	ck_assert_msg(hooks->open(DEVICE0, 0, &cookie) == B_NO_MEMORY,
		"open succeeded although %s could not be allocated", injection->what);
	ck_assert_ptr_null(cookie);
	/* the failure was one allocation: the next open works */
	cookie = open_device(DEVICE0);
	write_frame(cookie, 300, 1);
	read_frame(cookie, 300, 1);
	close_device(cookie);
}
END_TEST

/* Each MTU change fails at one allocation of the new rings (the first open
 * made 2 rings_create and 32 rx_ring_fill allocations); the card must go on
 * as it was, frames in flight included. */
static const struct injection mtu_failures[] = {
	{ "fail_caller=rings_create:fail_nth=3", "the new RX ring" },
	{ "fail_caller=rings_create:fail_nth=4", "the new TX ring" },
	{ "fail_caller=rx_ring_fill:fail_nth=33", "the first new RX buffer" },
	{ "fail_caller=rx_ring_fill:fail_nth=64", "the last new RX buffer" },
};

START_TEST(test_mtu_change_fails_cleanly)
{
	const struct injection *injection = &mtu_failures[_i];
	void *cookie;
	netdrv_stats stats;

	driver_start(injection->options);
	cookie = open_device(DEVICE0);
	set_delay(cookie, STALLED);
	for (uint32 i = 0; i < 3; i++)
		write_frame(cookie, 700, i);
	ck_assert_msg(set_mtu(cookie, 9000) == B_NO_MEMORY,
		"the MTU change succeeded although %s could not be allocated", injection->what);
	stats = stats_of(cookie);
	ck_assert_uint_eq(stats.mtu, NETDRV_DEFAULT_MTU);
	ck_assert_uint_eq(stats.ring_rebuilds, 0);
	ck_assert_uint_eq(stats.tx_queued, 3);
	set_delay(cookie, 0);
	for (uint32 i = 0; i < 3; i++)
		read_frame(cookie, 700, i);
	ck_assert_int_eq(try_write_frame(cookie, NETDRV_DEFAULT_MTU + 1, 3), B_BAD_VALUE);

	ck_assert_int_eq(set_mtu(cookie, 9000), B_OK);
	write_frame(cookie, 9000, 4);
	read_frame(cookie, 9000, 4);
	close_device(cookie);
}
END_TEST

START_TEST(test_write_without_memory)
{
	void *cookie;

	driver_start("fail_caller=netdrv_write:fail_nth=2");
	cookie = open_device(DEVICE0);
	write_frame(cookie, 100, 1);
	ck_assert_int_eq(try_write_frame(cookie, 100, 2), B_NO_MEMORY);
	write_frame(cookie, 100, 3);
	read_frame(cookie, 100, 1);
	read_frame(cookie, 100, 3);
	ck_assert_uint_eq(stats_of(cookie).tx_no_memory, 1);
	ck_assert_uint_eq(stats_of(cookie).tx_frames, 2);
	close_device(cookie);
}
END_TEST

/* ---- the suite, once per build of area_malloc ---- */

static Suite *netdrv_suite(bool debug)
{
	Suite *suite =
		suite_create(debug ? "netdrv (debug area_malloc)" : "netdrv (release area_malloc)");
	TCase *lifecycle = tcase_create("lifecycle");
	TCase *io = tcase_create("io");
	TCase *control = tcase_create("control");
	TCase *threads = tcase_create("threads");

	tcase_add_checked_fixture(lifecycle, phase_setup, driver_stop);
	tcase_add_test(lifecycle, test_publish_and_find);
	tcase_add_test(lifecycle, test_open_close_free);
	tcase_add_test(lifecycle, test_open_between_close_and_free);
	tcase_add_test(lifecycle, test_close_wakes_blocked_calls);
	tcase_add_test(lifecycle, test_last_close_drops_unsent_frames);
	suite_add_tcase(suite, lifecycle);

	tcase_add_checked_fixture(io, phase_setup, driver_stop);
	tcase_add_test(io, test_round_trips);
	tcase_add_test(io, test_frames_keep_their_order);
	tcase_add_test(io, test_write_errors);
	tcase_add_test(io, test_read_errors);
	tcase_add_test(io, test_short_buffer_truncates);
	tcase_add_test(io, test_cards_are_separate);
	tcase_add_test(io, test_full_tx_ring);
	tcase_add_test(io, test_flow_control);
	suite_add_tcase(suite, io);

	tcase_add_checked_fixture(control, phase_setup, driver_stop);
	tcase_add_test(control, test_mtu);
	tcase_add_test(control, test_control_errors);
	tcase_add_test(control, test_pools);
	suite_add_tcase(suite, control);

	tcase_add_checked_fixture(threads, phase_setup, driver_stop);
	tcase_add_test(threads, test_many_threads);
	tcase_add_test(threads, test_both_cards_under_load);
	tcase_add_test(threads, test_mtu_change_under_load);
	tcase_add_test(threads, test_open_close_storm);
	suite_add_tcase(suite, threads);

	if (debug) {
		TCase *faults = tcase_create("faults");

		/* each test starts the driver itself, with its own options */
		tcase_add_checked_fixture(faults, NULL, driver_stop);
		tcase_add_loop_test(faults, test_open_fails_cleanly, 0,
			sizeof(open_failures) / sizeof(open_failures[0]));
		tcase_add_loop_test(faults, test_mtu_change_fails_cleanly, 0,
			sizeof(mtu_failures) / sizeof(mtu_failures[0]));
		tcase_add_test(faults, test_write_without_memory);
		suite_add_tcase(suite, faults);
	}
	return suite;
}

static int run_pass(bool debug)
{
	SRunner *runner;
	int failed;

	debug_pass = debug;
	runner = srunner_create(netdrv_suite(debug));
	/* every test loads the module in a process of its own */
	srunner_set_fork_status(runner, CK_FORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed;
}

int main(void)
{
	const char *debug_modules = getenv("AREA_MALLOC_DEBUG_MODULE_DIR");
	int failed;

	if (getenv("KERNEL_MODULE_PATH") == NULL || debug_modules == NULL) {
		fprintf(stderr,
			"test_netdrv: KERNEL_MODULE_PATH and AREA_MALLOC_DEBUG_MODULE_DIR"
			" are not set: run it through make check\n");
		return EXIT_FAILURE;
	}
	failed = run_pass(false);
	/* the same driver binary, now on the debug build: only the search path changes */
	if (setenv("KERNEL_MODULE_PATH", debug_modules, 1) != 0)
		return EXIT_FAILURE;
	failed += run_pass(true);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
