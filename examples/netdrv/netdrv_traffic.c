/*
 * netdrv_traffic.c - self-checking traffic for netdrv (see netdrv_traffic.h).
 *
 * Invariants: sent[w * frames + s] is set (by writer w alone) before the
 * frame is queued, so a reader that reads the frame back finds it set;
 * copies[] counts the intact reads of each frame.
 *
 * Locking: writers and readers share the atomic counters and the stop
 * flag; each thread owns its cookie and buffer. The control thread (the
 * caller) polls the card's statistics through a cookie of its own.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "netdrv.h"
#include "netdrv_traffic.h"

#define FRAME_MAGIC 0x4e444652u /* "NDFR" */
#define READ_POLL_TIMEOUT 10000 /* readers look at the stop flag this often (us) */
#define DEFAULT_TIME_LIMIT (60 * 1000000LL)

struct frame_header {
	uint32 magic;
	uint32 writer;
	uint32 sequence;
	uint32 length;
};

_Static_assert(sizeof(struct frame_header) == NETDRV_FRAME_HEADER_LENGTH,
	"the header length is part of the interface");

static uint8 payload_byte(uint32 writer, uint32 sequence, size_t offset)
{
	return (uint8)(writer * 131u + sequence * 31u + offset * 7u + (offset >> 8));
}

void netdrv_frame_build(uint8 *frame, size_t length, uint32 writer, uint32 sequence)
{
	struct frame_header header = { FRAME_MAGIC, writer, sequence, (uint32)length };

	memcpy(frame, &header, sizeof(header));
	for (size_t i = sizeof(header); i < length; i++)
		frame[i] = payload_byte(writer, sequence, i);
}

bool netdrv_frame_check(const uint8 *frame, size_t length, uint32 *writer, uint32 *sequence)
{
	struct frame_header header;

	if (length < sizeof(header))
		return false;
	memcpy(&header, frame, sizeof(header));
	if (header.magic != FRAME_MAGIC || header.length != length)
		return false;
	for (size_t i = sizeof(header); i < length; i++) {
		if (frame[i] != payload_byte(header.writer, header.sequence, i))
			return false;
	}
	*writer = header.writer;
	*sequence = header.sequence;
	return true;
}

struct run {
	struct netdrv_traffic *traffic;
	uint8 *sent;         /* writers * frames_per_writer flags */
	atomic_uint *copies; /* writers * frames_per_writer read counts */
	atomic_bool stop_readers;
	atomic_ullong refused;
	atomic_ullong corrupt;
	atomic_int open_error;
	atomic_int write_error;
	atomic_int read_error;
};

struct worker {
	struct run *run;
	uint32 index;
	pthread_t thread;
};

static void record_error(atomic_int *slot, status_t status)
{
	int expected = B_OK;

	atomic_compare_exchange_strong(slot, &expected, status);
}

static void *open_cookie(struct run *run)
{
	const struct netdrv_traffic *traffic = run->traffic;
	void *cookie = NULL;
	status_t status = traffic->hooks->open(traffic->device, 0, &cookie);

	if (status != B_OK) {
		record_error(&run->open_error, status);
		return NULL;
	}
	return cookie;
}

static void close_cookie(struct run *run, void *cookie)
{
	run->traffic->hooks->close(cookie);
	run->traffic->hooks->free(cookie);
}

static void *writer_main(void *argument)
{
	struct worker *worker = argument;
	struct run *run = worker->run;
	const struct netdrv_traffic *traffic = run->traffic;
	uint8 *frame = malloc(traffic->max_length);
	void *cookie = open_cookie(run);
	unsigned seed = worker->index * 7919u + 1;

	for (uint32 sequence = 0;
		frame != NULL && cookie != NULL && sequence < traffic->frames_per_writer;
		sequence++) {
		size_t span = traffic->max_length - traffic->min_length + 1;
		size_t length = traffic->min_length + (size_t)rand_r(&seed) % span;
		size_t bytes = length;
		status_t status;

		netdrv_frame_build(frame, length, worker->index, sequence);
		run->sent[worker->index * traffic->frames_per_writer + sequence] = 1;
		status = traffic->hooks->write(cookie, 0, frame, &bytes);
		if (status == B_BAD_VALUE) {
			run->sent[worker->index * traffic->frames_per_writer + sequence] = 0;
			atomic_fetch_add(&run->refused, 1);
		} else if (status != B_OK || bytes != length) {
			run->sent[worker->index * traffic->frames_per_writer + sequence] = 0;
			record_error(&run->write_error, status != B_OK ? status : B_ERROR);
			break;
		}
	}
	if (cookie != NULL)
		close_cookie(run, cookie);
	free(frame);
	return NULL;
}

static void *reader_main(void *argument)
{
	struct worker *worker = argument;
	struct run *run = worker->run;
	const struct netdrv_traffic *traffic = run->traffic;
	uint8 *frame = malloc(NETDRV_MAX_MTU);
	void *cookie = open_cookie(run);
	bigtime_t timeout = READ_POLL_TIMEOUT;

	if (cookie != NULL
		&& traffic->hooks->control(cookie, NETDRV_SET_READ_TIMEOUT, &timeout,
			   sizeof(timeout))
			!= B_OK)
		record_error(&run->read_error, B_ERROR);
	while (frame != NULL && cookie != NULL && !atomic_load(&run->stop_readers)) {
		size_t bytes = NETDRV_MAX_MTU;
		status_t status = traffic->hooks->read(cookie, 0, frame, &bytes);
		uint32 writer, sequence;

		if (status == B_TIMED_OUT)
			continue;
		if (status != B_OK) {
			record_error(&run->read_error, status);
			snooze(1000);
			continue;
		}
		if (!netdrv_frame_check(frame, bytes, &writer, &sequence)
			|| writer >= (uint32)traffic->writers
			|| sequence >= traffic->frames_per_writer
			|| !run->sent[writer * traffic->frames_per_writer + sequence]) {
			atomic_fetch_add(&run->corrupt, 1);
			continue;
		}
		atomic_fetch_add(&run->copies[writer * traffic->frames_per_writer + sequence], 1);
	}
	if (cookie != NULL)
		close_cookie(run, cookie);
	free(frame);
	return NULL;
}

static bool parameters_valid(const struct netdrv_traffic *traffic)
{
	return traffic->hooks != NULL && traffic->device != NULL && traffic->writers >= 1
		&& traffic->writers <= NETDRV_TRAFFIC_MAX_THREADS && traffic->readers >= 1
		&& traffic->readers <= NETDRV_TRAFFIC_MAX_THREADS && traffic->frames_per_writer >= 1
		&& traffic->frames_per_writer <= NETDRV_TRAFFIC_MAX_FRAMES
		&& traffic->min_length >= NETDRV_FRAME_HEADER_LENGTH
		&& traffic->min_length <= traffic->max_length
		&& traffic->max_length <= NETDRV_MAX_MTU && traffic->time_limit >= 0;
}

/* Waits until the card holds no frame in flight; false when time ran out. */
static bool wait_for_drain(struct run *run, void *cookie, bigtime_t deadline)
{
	const device_hooks *hooks = run->traffic->hooks;

	for (;;) {
		netdrv_stats stats;

		if (hooks->control(cookie, NETDRV_GET_STATS, &stats, sizeof(stats)) != B_OK)
			return false;
		if (stats.tx_queued == 0 && stats.rx_waiting == 0)
			return true;
		if (system_time() > deadline)
			return false;
		snooze(1000);
	}
}

static void tally(struct run *run)
{
	struct netdrv_traffic *traffic = run->traffic;
	size_t frames = (size_t)traffic->writers * traffic->frames_per_writer;

	for (size_t i = 0; i < frames; i++) {
		uint32 copies = atomic_load(&run->copies[i]);

		if (!run->sent[i])
			continue;
		traffic->sent++;
		if (copies == 0)
			traffic->missing++;
		else
			traffic->received++;
		if (copies > 1)
			traffic->duplicated += copies - 1;
	}
	traffic->refused = atomic_load(&run->refused);
	traffic->corrupt = atomic_load(&run->corrupt);
	traffic->open_error = atomic_load(&run->open_error);
	traffic->write_error = atomic_load(&run->write_error);
	traffic->read_error = atomic_load(&run->read_error);
}

status_t netdrv_traffic_run(struct netdrv_traffic *traffic)
{
	struct worker writers[NETDRV_TRAFFIC_MAX_THREADS], readers[NETDRV_TRAFFIC_MAX_THREADS];
	struct run run;
	size_t frames;
	bigtime_t deadline;
	void *control_cookie;
	int started_writers = 0, started_readers = 0;

	if (traffic == NULL || !parameters_valid(traffic))
		return B_BAD_VALUE;
	traffic->sent = traffic->refused = traffic->received = 0;
	traffic->corrupt = traffic->duplicated = traffic->missing = 0;
	traffic->timed_out = false;
	deadline = system_time()
		+ (traffic->time_limit > 0 ? traffic->time_limit : DEFAULT_TIME_LIMIT);

	memset(&run, 0, sizeof(run));
	run.traffic = traffic;
	frames = (size_t)traffic->writers * traffic->frames_per_writer;
	run.sent = calloc(frames, sizeof(*run.sent));
	run.copies = calloc(frames, sizeof(*run.copies));
	atomic_init(&run.stop_readers, false);
	if (run.sent == NULL || run.copies == NULL) {
		free(run.sent);
		free(run.copies);
		return B_NO_MEMORY;
	}
	/* the control cookie keeps the card up from the first writer to the last reader */
	control_cookie = open_cookie(&run);

	for (int i = 0; control_cookie != NULL && i < traffic->readers; i++) {
		readers[i] = (struct worker){ .run = &run, .index = (uint32)i };
		if (pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]) != 0)
			break;
		started_readers++;
	}
	for (int i = 0; control_cookie != NULL && i < traffic->writers; i++) {
		writers[i] = (struct worker){ .run = &run, .index = (uint32)i };
		if (pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]) != 0)
			break;
		started_writers++;
	}
	for (int i = 0; i < started_writers; i++)
		pthread_join(writers[i].thread, NULL);
	if (control_cookie != NULL)
		traffic->timed_out = !wait_for_drain(&run, control_cookie, deadline);
	atomic_store(&run.stop_readers, true);
	for (int i = 0; i < started_readers; i++)
		pthread_join(readers[i].thread, NULL);
	if (control_cookie != NULL)
		close_cookie(&run, control_cookie);
	if (started_writers < traffic->writers || started_readers < traffic->readers)
		record_error(&run.open_error, B_NO_MORE_THREADS);

	tally(&run);
	free(run.sent);
	free(run.copies);
	return B_OK;
}
