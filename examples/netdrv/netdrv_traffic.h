/*
 * netdrv_traffic.h - self-checking traffic for netdrv, shared by the demo
 * (netdrv_demo.c) and the QA suite (qa/test_netdrv.c).
 *
 * A test frame names its writer and sequence number and carries a payload
 * derived from them, so a reader verifies any frame on its own. A traffic
 * run has writer threads send frames and reader threads read them back,
 * each thread through a cookie of its own, and accounts for every frame:
 * read once, refused by write(), or missing.
 *
 * Locking: a run's threads share only atomic counters; the results are
 * read after they are joined.
 */
#ifndef NETDRV_TRAFFIC_H
#define NETDRV_TRAFFIC_H

#include <Drivers.h>
#include <OS.h>

#define NETDRV_FRAME_HEADER_LENGTH 16
#define NETDRV_TRAFFIC_MAX_THREADS 16
#define NETDRV_TRAFFIC_MAX_FRAMES 100000

/* Writes a test frame of length bytes (>= NETDRV_FRAME_HEADER_LENGTH). */
void netdrv_frame_build(uint8 *frame, size_t length, uint32 writer, uint32 sequence);

/* True when frame holds an intact test frame of exactly length bytes; its
 * writer and sequence number go to *writer and *sequence. */
bool netdrv_frame_check(const uint8 *frame, size_t length, uint32 *writer, uint32 *sequence);

struct netdrv_traffic {
	/* what to run */
	const device_hooks *hooks;
	const char *device;
	int writers;              /* 1 to NETDRV_TRAFFIC_MAX_THREADS */
	int readers;              /* 1 to NETDRV_TRAFFIC_MAX_THREADS */
	uint32 frames_per_writer; /* 1 to NETDRV_TRAFFIC_MAX_FRAMES */
	size_t min_length;        /* NETDRV_FRAME_HEADER_LENGTH to max_length */
	size_t max_length;        /* at most NETDRV_MAX_MTU */
	bigtime_t time_limit;     /* for the whole run; 0: 60 seconds */

	/* what happened */
	uint64 sent;          /* frames write() accepted */
	uint64 refused;       /* frames write() refused with B_BAD_VALUE (longer than the MTU) */
	uint64 received;      /* distinct sent frames read back intact */
	uint64 corrupt;       /* reads that returned no intact frame, or one never sent */
	uint64 duplicated;    /* extra copies of frames read already */
	uint64 missing;       /* sent frames never read */
	status_t open_error;  /* the first failure of each kind, B_OK if none */
	status_t write_error; /* (B_BAD_VALUE from write() counts as refused, not here) */
	status_t read_error;
	bool timed_out; /* frames were still in flight when time_limit ran out */
};

/*
 * Runs the traffic and fills in the results: returns once every writer is
 * done and the card holds no frame in flight any more (stats tx_queued and
 * rx_waiting both 0), or the time limit passed. B_BAD_VALUE for parameters
 * out of range, B_NO_MEMORY, or B_OK (then look at the results).
 */
status_t netdrv_traffic_run(struct netdrv_traffic *traffic);

#endif /* NETDRV_TRAFFIC_H */
