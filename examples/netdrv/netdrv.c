/*
 * netdrv.c - a simulated network driver, written the way a Haiku driver is,
 * that takes its DMA memory from area_malloc pools.
 *
 * Role
 *   Drives NETDRV_CARD_COUNT simulated loopback cards (see netdrv.h). Each
 *   card has a transmit (TX) and a receive (RX) descriptor ring. write()
 *   copies a frame into a packet buffer and queues it on the TX ring; the
 *   card (a thread standing for the hardware) "DMAs" each queued frame into
 *   the next posted RX buffer once the loopback delay has passed and raises
 *   its interrupt; read() copies the oldest received frame out and gives the
 *   RX buffer back to the card.
 *
 * Memory
 *   Each card has two area_malloc pools, created by init_driver() and
 *   deleted by uninit_driver():
 *   - the ring pool (B_CONTIGUOUS, as descriptor rings must be: the card
 *     walks them by physical address) for the two descriptor arrays;
 *   - the packet pool (B_FULL_LOCK: DMA targets must never be paged out)
 *     for packet buffers: one per RX slot, posted while the rings exist, and
 *     one per frame in flight on the TX ring.
 *   The rings are built at the first open and at each MTU change, and torn
 *   down when the last cookie is freed. They are always built and torn down
 *   detached from the card, and swapped in and out under the card's lock,
 *   so a failed build leaves the card as it was.
 *   With the debug build of area_malloc, the companion module
 *   generic/area_malloc/debug/v1 names the pools ("netdrv0 rings"), so
 *   reports and pooldump say whose pool it is; with the release build it is
 *   absent and the pools stay unnamed.
 *
 * Invariants (card->rings, while rings.rx != NULL; indices run free, the
 * slot of index i is i % ring size)
 *   tx_reclaimed <= tx_sent <= tx_queued <= tx_reclaimed + NETDRV_TX_RING_SIZE;
 *   TX slots in [tx_reclaimed, tx_queued) hold a buffer, all others NULL.
 *   rx_read <= rx_filled <= rx_read + NETDRV_RX_RING_SIZE; every RX slot
 *   holds a buffer of buffer_size bytes, and [rx_read, rx_filled) are frames
 *   waiting for read(). A queued frame fits an RX buffer (at most
 *   buffer_size bytes), so the card never has to drop one; when the RX ring
 *   is full it stops sending until read() frees a slot (flow control).
 *   Rings exist exactly while the card has cookies (opened, not freed); the
 *   card's thread runs exactly while it has open cookies (not closed).
 *
 * Locking
 *   card->config_lock serializes open, close, free and MTU changes: what
 *   builds or tears down rings and starts or stops the card's thread.
 *   card->lock guards the rings, the statistics and the cookies' flags; the
 *   data path (read, write, the card's thread) takes only it. Order:
 *   config_lock, then lock. card->rings, mtu, open_count and cookie_count
 *   change only with both held, so a holder of config_lock may read them
 *   without lock. area_malloc is called in thread context only, with or
 *   without these locks (its calls may sleep), never from nic_interrupt().
 *
 * Haiku drivers use the kernel's mutexes, condition variables and
 * spawn_kernel_thread(); area_malloc's kernel-API layer does not emulate
 * those, so this driver uses POSIX threads in their place.
 *
 * Built with -DNETDRV_BUGGY this file carries three planted bugs, each
 * marked "planted bug", for examples/netdrv/netdrv_demo to show what the
 * debug build of area_malloc and its QA runner catch.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "netdrv.h"

int32 api_version = B_CUR_DRIVER_API_VERSION;

#define RING_POOL_SIZE (64 * 1024)
#define PACKET_POOL_SIZE (2 * 1024 * 1024)
#define POOL_PROTECTION (B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA)

/*
 * The debug build of area_malloc names a block's owner after the function
 * that called malloc or free. Functions that allocate or free on behalf of
 * others are kept whole and out of line, so that reports, pooldump's
 * allocations_per_caller and the fail_caller option name them rather than
 * whichever hook the optimizer folded them into.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define POOL_CALLER __attribute__((noipa))
#else
#define POOL_CALLER __attribute__((noinline))
#endif

struct descriptor {
	void *buffer;        /* from the packet pool */
	size_t length;       /* of the frame in the buffer */
	bigtime_t queued_at; /* TX: when write() queued the frame */
};

struct rings {
	struct descriptor *rx; /* NETDRV_RX_RING_SIZE slots, from the ring pool */
	struct descriptor *tx; /* NETDRV_TX_RING_SIZE slots, from the ring pool */
	size_t buffer_size;    /* of each RX buffer: the MTU the rings were built for */
	uint32 tx_queued;      /* next TX index write() fills */
	uint32 tx_sent;        /* next TX index the card sends */
	uint32 tx_reclaimed;   /* next TX index whose buffer the driver frees */
	uint32 rx_filled;      /* next RX index the card fills */
	uint32 rx_read;        /* next RX index read() returns */
};

struct card {
	char name[32]; /* its device name, "net/netdrv/N" */
	uint8 address[NETDRV_ADDRESS_LENGTH];
	const void *ring_pool;
	const void *packet_pool;

	pthread_mutex_t config_lock;
	pthread_mutex_t lock;
	pthread_cond_t rx_ready;   /* a frame arrived, rings rebuilt, or a cookie closed */
	pthread_cond_t tx_ready;   /* TX slots done, rings rebuilt, or a cookie closed */
	pthread_cond_t nic_wakeup; /* work for the card: frame queued, RX slot freed, stop */

	struct rings rings; /* rings.rx == NULL: no rings */
	uint32 mtu;
	bigtime_t loopback_delay;
	netdrv_stats stats; /* the counters; the "now" fields are filled on demand */
	int32 open_count;   /* cookies opened and not closed */
	int32 cookie_count; /* cookies opened and not freed */
	bool nic_running;   /* the card's thread is to keep running */
	pthread_t nic_thread;
};

struct cookie {
	struct card *card;
	bool closed; /* under card->lock, like the two below */
	bool nonblocking;
	bigtime_t read_timeout;
};

static area_malloc_module_info *area_malloc;
static area_malloc_debug_module_info *area_malloc_debug; /* NULL with the release build */
static struct card cards[NETDRV_CARD_COUNT];
static const char *device_names[NETDRV_CARD_COUNT + 1];

/* ---- time ---- */

static void init_condition(pthread_cond_t *condition)
{
	pthread_condattr_t attributes;

	/* system_time() is CLOCK_MONOTONIC: deadlines must be too */
	pthread_condattr_init(&attributes);
	pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
	pthread_cond_init(condition, &attributes);
	pthread_condattr_destroy(&attributes);
}

static bigtime_t deadline_after(bigtime_t timeout)
{
	bigtime_t now = system_time();

	if (timeout >= B_INFINITE_TIMEOUT - now)
		return B_INFINITE_TIMEOUT;
	return now + timeout;
}

/* Waits for a signal or the deadline; B_TIMED_OUT once it has passed. */
static status_t wait_until(pthread_cond_t *condition, pthread_mutex_t *lock, bigtime_t deadline)
{
	struct timespec until;

	if (deadline == B_INFINITE_TIMEOUT) {
		pthread_cond_wait(condition, lock);
		return B_OK;
	}
	until.tv_sec = deadline / 1000000;
	until.tv_nsec = (deadline % 1000000) * 1000;
	return pthread_cond_timedwait(condition, lock, &until) == 0 ? B_OK : B_TIMED_OUT;
}

/* ---- rings ---- */

static struct descriptor *tx_slot(const struct rings *rings, uint32 index)
{
	return &rings->tx[index % NETDRV_TX_RING_SIZE];
}

static struct descriptor *rx_slot(const struct rings *rings, uint32 index)
{
	return &rings->rx[index % NETDRV_RX_RING_SIZE];
}

/* Frees every buffer still in the rings, then the rings; *rings is left empty. */
static POOL_CALLER void rings_destroy(struct card *card, struct rings *rings)
{
	if (rings->tx != NULL) {
		for (uint32 i = 0; i < NETDRV_TX_RING_SIZE; i++)
			area_malloc->free(card->packet_pool, rings->tx[i].buffer);
	}
	if (rings->rx != NULL) {
		for (uint32 i = 0; i < NETDRV_RX_RING_SIZE; i++)
			area_malloc->free(card->packet_pool, rings->rx[i].buffer);
	}
	area_malloc->free(card->ring_pool, rings->tx);
	area_malloc->free(card->ring_pool, rings->rx);
	memset(rings, 0, sizeof(*rings));
}

/* Posts one receive buffer in every RX slot. */
static POOL_CALLER status_t rx_ring_fill(struct card *card, struct rings *rings)
{
	for (uint32 i = 0; i < NETDRV_RX_RING_SIZE; i++) {
		rings->rx[i].buffer = area_malloc->malloc(card->packet_pool, rings->buffer_size);
		if (rings->rx[i].buffer == NULL)
			return B_NO_MEMORY;
	}
	return B_OK;
}

/* Builds empty rings for frames of up to mtu bytes; on failure nothing is left allocated. */
static POOL_CALLER status_t rings_create(struct card *card, struct rings *rings, uint32 mtu)
{
	status_t status;

	memset(rings, 0, sizeof(*rings));
	rings->buffer_size = mtu;
	rings->rx = area_malloc->calloc(card->ring_pool, NETDRV_RX_RING_SIZE, sizeof(*rings->rx));
	if (rings->rx == NULL)
		return B_NO_MEMORY;
	rings->tx = area_malloc->calloc(card->ring_pool, NETDRV_TX_RING_SIZE, sizeof(*rings->tx));
	if (rings->tx == NULL) {
		/* planted bug 1 (NETDRV_BUGGY): the RX ring leaks when the TX ring
		 * cannot be allocated, a path that only failure injection reaches */
#ifndef NETDRV_BUGGY
		area_malloc->free(card->ring_pool, rings->rx);
#endif
		rings->rx = NULL;
		return B_NO_MEMORY;
	}
	status = rx_ring_fill(card, rings);
	if (status != B_OK)
		rings_destroy(card, rings);
	return status;
}

/* Frees the buffers of the frames the card has sent. Card locked. */
static POOL_CALLER void tx_reclaim(struct card *card)
{
	struct rings *rings = &card->rings;

	while (rings->tx_reclaimed != rings->tx_sent) {
		struct descriptor *tx = tx_slot(rings, rings->tx_reclaimed);

		area_malloc->free(card->packet_pool, tx->buffer);
		tx->buffer = NULL;
		rings->tx_reclaimed++;
	}
}

/* At the last close, once the card has stopped: drops the frames it has not
 * sent and frees every TX buffer. Card locked. */
static POOL_CALLER void tx_flush(struct card *card)
{
	struct rings *rings = &card->rings;

	card->stats.tx_dropped += rings->tx_queued - rings->tx_sent;
	for (uint32 i = rings->tx_reclaimed; i != rings->tx_queued; i++) {
		struct descriptor *tx = tx_slot(rings, i);

		area_malloc->free(card->packet_pool, tx->buffer);
		/* planted bug 3 (NETDRV_BUGGY): the freed buffers stay in their
		 * slots, and netdrv_free()'s rings_destroy() frees them again */
#ifndef NETDRV_BUGGY
		tx->buffer = NULL;
#endif
	}
	rings->tx_reclaimed = rings->tx_queued;
	rings->tx_sent = rings->tx_queued;
}

/* ---- the simulated card ---- */

/*
 * What the card's interrupt handler does: wake the threads waiting for
 * received frames and for TX slots. It allocates and frees nothing:
 * area_malloc may sleep, which an interrupt handler must never do.
 */
static void nic_interrupt(struct card *card)
{
	pthread_cond_broadcast(&card->rx_ready);
	pthread_cond_broadcast(&card->tx_ready);
}

/*
 * The card: sends each queued frame once it is due, into the next posted RX
 * buffer, and interrupts after each batch. It reads card->rings afresh after
 * every wait, since an MTU change may have replaced them.
 */
static void *nic_main(void *argument)
{
	struct card *card = argument;

	pthread_mutex_lock(&card->lock);
	while (card->nic_running) {
		struct rings *rings = &card->rings;
		bigtime_t now = system_time();
		bigtime_t next_due = B_INFINITE_TIMEOUT;
		uint32 sent = 0;

		while (rings->tx_sent != rings->tx_queued
			&& rings->rx_filled - rings->rx_read < NETDRV_RX_RING_SIZE) {
			struct descriptor *tx = tx_slot(rings, rings->tx_sent);
			struct descriptor *rx = rx_slot(rings, rings->rx_filled);

			if (tx->queued_at + card->loopback_delay > now) {
				next_due = tx->queued_at + card->loopback_delay;
				break;
			}
			memcpy(rx->buffer, tx->buffer, tx->length);
			rx->length = tx->length;
			rings->tx_sent++;
			rings->rx_filled++;
			sent++;
		}
		if (sent > 0)
			nic_interrupt(card);
		wait_until(&card->nic_wakeup, &card->lock, next_due);
	}
	pthread_mutex_unlock(&card->lock);
	return NULL;
}

static status_t nic_start(struct card *card)
{
	pthread_mutex_lock(&card->lock);
	card->nic_running = true;
	pthread_mutex_unlock(&card->lock);
	if (pthread_create(&card->nic_thread, NULL, nic_main, card) != 0) {
		card->nic_running = false;
		return B_NO_MORE_THREADS;
	}
	return B_OK;
}

static void nic_stop(struct card *card)
{
	pthread_mutex_lock(&card->lock);
	card->nic_running = false;
	pthread_cond_signal(&card->nic_wakeup);
	pthread_mutex_unlock(&card->lock);
	pthread_join(card->nic_thread, NULL);
}

/* ---- device hooks ---- */

static struct card *card_for_name(const char *name)
{
	for (int i = 0; name != NULL && i < NETDRV_CARD_COUNT; i++) {
		if (strcmp(name, cards[i].name) == 0)
			return &cards[i];
	}
	return NULL;
}

static status_t netdrv_open(const char *name, uint32 flags, void **_cookie)
{
	struct card *card = card_for_name(name);
	struct cookie *cookie;
	struct rings fresh;
	status_t status = B_OK;

	if (card == NULL || _cookie == NULL)
		return B_BAD_VALUE;
	/* a cookie is the driver's own bookkeeping, not DMA memory: kernel heap */
	cookie = calloc(1, sizeof(*cookie));
	if (cookie == NULL)
		return B_NO_MEMORY;
	cookie->card = card;
	cookie->nonblocking = (flags & O_NONBLOCK) != 0;
	cookie->read_timeout = B_INFINITE_TIMEOUT;

	pthread_mutex_lock(&card->config_lock);
	if (card->rings.rx == NULL) {
		status = rings_create(card, &fresh, card->mtu);
		if (status == B_OK) {
			pthread_mutex_lock(&card->lock);
			card->rings = fresh;
			pthread_mutex_unlock(&card->lock);
		}
	}
	if (status == B_OK && card->open_count == 0) {
		status = nic_start(card);
		if (status != B_OK && card->cookie_count == 0) {
			pthread_mutex_lock(&card->lock);
			fresh = card->rings;
			memset(&card->rings, 0, sizeof(card->rings));
			pthread_mutex_unlock(&card->lock);
			rings_destroy(card, &fresh);
		}
	}
	if (status == B_OK) {
		pthread_mutex_lock(&card->lock);
		card->open_count++;
		card->cookie_count++;
		pthread_mutex_unlock(&card->lock);
	}
	pthread_mutex_unlock(&card->config_lock);

	if (status != B_OK) {
		free(cookie);
		return status;
	}
	*_cookie = cookie;
	return B_OK;
}

/*
 * Called when the cookie's file descriptor is closed, possibly while other
 * threads are still blocked in read() or write() on it: wakes them (they
 * return B_FILE_ERROR). The last close stops the card.
 */
static status_t netdrv_close(void *_cookie)
{
	struct cookie *cookie = _cookie;
	struct card *card = cookie->card;
	bool last;

	pthread_mutex_lock(&card->config_lock);
	pthread_mutex_lock(&card->lock);
	if (cookie->closed) {
		pthread_mutex_unlock(&card->lock);
		pthread_mutex_unlock(&card->config_lock);
		return B_BAD_VALUE; /* closed twice: devfs never does, a test harness might */
	}
	cookie->closed = true;
	last = --card->open_count == 0;
	pthread_cond_broadcast(&card->rx_ready);
	pthread_cond_broadcast(&card->tx_ready);
	pthread_mutex_unlock(&card->lock);
	if (last) {
		nic_stop(card);
		pthread_mutex_lock(&card->lock);
		tx_flush(card);
		pthread_mutex_unlock(&card->lock);
	}
	pthread_mutex_unlock(&card->config_lock);
	return B_OK;
}

/* Called once no call on the cookie is running any more. The last free tears the rings down. */
static status_t netdrv_free(void *_cookie)
{
	struct cookie *cookie = _cookie;
	struct card *card = cookie->card;
	struct rings stale;

	memset(&stale, 0, sizeof(stale));
	pthread_mutex_lock(&card->config_lock);
	pthread_mutex_lock(&card->lock);
	if (!cookie->closed) {
		pthread_mutex_unlock(&card->lock);
		pthread_mutex_unlock(&card->config_lock);
		return B_BAD_VALUE; /* free before close: devfs never does, a test harness might */
	}
	if (--card->cookie_count == 0) {
		stale = card->rings;
		card->stats.rx_dropped += stale.rx_filled - stale.rx_read;
		memset(&card->rings, 0, sizeof(card->rings));
	}
	pthread_mutex_unlock(&card->lock);
	if (stale.rx != NULL)
		rings_destroy(card, &stale);
	pthread_mutex_unlock(&card->config_lock);
	free(cookie);
	return B_OK;
}

static status_t netdrv_read(void *_cookie, off_t position, void *data, size_t *numBytes)
{
	struct cookie *cookie = _cookie;
	struct card *card = cookie->card;
	size_t capacity = *numBytes;
	bigtime_t deadline;
	bool timed_out = false;
	status_t status;

	(void)position; /* a network device has no position */
	*numBytes = 0;
	if (data == NULL)
		return B_BAD_ADDRESS;
	if (capacity == 0)
		return B_BAD_VALUE;

	pthread_mutex_lock(&card->lock);
	deadline = deadline_after(cookie->read_timeout);
	for (;;) {
		struct rings *rings = &card->rings;

		if (cookie->closed) {
			status = B_FILE_ERROR;
			break;
		}
		if (rings->rx_read != rings->rx_filled) {
			struct descriptor *rx = rx_slot(rings, rings->rx_read);
			size_t length = rx->length < capacity ? rx->length : capacity;

			/* a kernel driver copies to user space with user_memcpy() */
			memcpy(data, rx->buffer, length);
			rings->rx_read++; /* the buffer is posted to the card again */
			card->stats.rx_frames++;
			card->stats.rx_bytes += length;
			pthread_cond_signal(&card->nic_wakeup);
			*numBytes = length;
			status = B_OK;
			break;
		}
		if (cookie->nonblocking) {
			status = B_WOULD_BLOCK;
			break;
		}
		if (timed_out) {
			status = B_TIMED_OUT;
			break;
		}
		timed_out = wait_until(&card->rx_ready, &card->lock, deadline) == B_TIMED_OUT;
	}
	pthread_mutex_unlock(&card->lock);
	return status;
}

/* Waits until the TX ring has a free slot for a frame of length bytes. Card locked. */
static status_t tx_wait_for_slot(struct card *card, struct cookie *cookie, size_t length)
{
	for (;;) {
		struct rings *rings = &card->rings;

		if (cookie->closed)
			return B_FILE_ERROR;
		if (length > rings->buffer_size)
			return B_BAD_VALUE; /* the MTU shrank while the frame was copied */
		tx_reclaim(card);
		if (rings->tx_queued - rings->tx_reclaimed < NETDRV_TX_RING_SIZE)
			return B_OK;
		if (cookie->nonblocking)
			return B_WOULD_BLOCK;
		pthread_cond_wait(&card->tx_ready, &card->lock);
	}
}

static status_t netdrv_write(void *_cookie, off_t position, const void *data, size_t *numBytes)
{
	struct cookie *cookie = _cookie;
	struct card *card = cookie->card;
	size_t length = *numBytes;
	void *buffer;
	status_t status;

	(void)position;
	*numBytes = 0;
	if (data == NULL)
		return B_BAD_ADDRESS;
	if (length == 0 || length > NETDRV_MAX_MTU)
		return B_BAD_VALUE; /* the exact MTU is checked under the lock */

	/* allocate and copy before taking the lock: the slow part runs in parallel */
	buffer = area_malloc->malloc(card->packet_pool, length);
	if (buffer == NULL) {
		pthread_mutex_lock(&card->lock);
		card->stats.tx_no_memory++;
		pthread_mutex_unlock(&card->lock);
		return B_NO_MEMORY;
	}
	memcpy(buffer, data, length);

	pthread_mutex_lock(&card->lock);
	status = tx_wait_for_slot(card, cookie, length);
	if (status == B_OK) {
		struct rings *rings = &card->rings;
		struct descriptor *tx = tx_slot(rings, rings->tx_queued);

		tx->buffer = buffer;
		tx->length = length;
		tx->queued_at = system_time();
		rings->tx_queued++;
		card->stats.tx_frames++;
		card->stats.tx_bytes += length;
		pthread_cond_signal(&card->nic_wakeup);
	}
	pthread_mutex_unlock(&card->lock);

	if (status != B_OK) {
#ifdef NETDRV_BUGGY
		/* planted bug 2 (NETDRV_BUGGY): a refused frame's packet buffer is
		 * freed to the ring pool */
		area_malloc->free(card->ring_pool, buffer);
#else
		area_malloc->free(card->packet_pool, buffer);
#endif
		return status;
	}
	*numBytes = length;
	return B_OK;
}

/* ---- control ---- */

static status_t check_argument(const void *data, size_t length, size_t needed)
{
	if (data == NULL)
		return B_BAD_ADDRESS;
	if (length < needed)
		return B_BAD_VALUE;
	return B_OK;
}

/* Rebuilds the rings of an open card for the new MTU; frames in flight are dropped. */
static status_t card_set_mtu(struct card *card, uint32 mtu)
{
	struct rings fresh, stale;
	status_t status = B_OK;

	if (mtu < NETDRV_MIN_MTU || mtu > NETDRV_MAX_MTU)
		return B_BAD_VALUE;
	pthread_mutex_lock(&card->config_lock);
	if (card->rings.rx == NULL || mtu == card->mtu) {
		pthread_mutex_lock(&card->lock);
		card->mtu = mtu; /* rings built later use it */
		pthread_mutex_unlock(&card->lock);
	} else {
		/* build first: if that fails, the card keeps running on the old rings */
		status = rings_create(card, &fresh, mtu);
		if (status == B_OK) {
			pthread_mutex_lock(&card->lock);
			stale = card->rings;
			card->stats.tx_dropped += stale.tx_queued - stale.tx_sent;
			card->stats.rx_dropped += stale.rx_filled - stale.rx_read;
			card->rings = fresh;
			card->mtu = mtu;
			card->stats.ring_rebuilds++;
			pthread_cond_broadcast(&card->rx_ready);
			pthread_cond_broadcast(&card->tx_ready);
			pthread_cond_signal(&card->nic_wakeup);
			pthread_mutex_unlock(&card->lock);
			rings_destroy(card, &stale);
		}
	}
	pthread_mutex_unlock(&card->config_lock);
	return status;
}

static void card_get_stats(struct card *card, netdrv_stats *stats)
{
	const struct rings *rings = &card->rings;

	pthread_mutex_lock(&card->lock);
	*stats = card->stats;
	stats->tx_queued = rings->tx_queued - rings->tx_sent;
	stats->rx_waiting = rings->rx_filled - rings->rx_read;
	stats->mtu = card->mtu;
	stats->open_count = (uint32)card->open_count;
	pthread_mutex_unlock(&card->lock);
}

static status_t netdrv_control(void *_cookie, uint32 op, void *data, size_t length)
{
	struct cookie *cookie = _cookie;
	struct card *card = cookie->card;
	status_t status = B_OK;

	/* a kernel driver copies data from and to user space with user_memcpy() */
	switch (op) {
	case B_SET_NONBLOCKING_IO:
	case B_SET_BLOCKING_IO:
		pthread_mutex_lock(&card->lock);
		cookie->nonblocking = op == B_SET_NONBLOCKING_IO;
		pthread_mutex_unlock(&card->lock);
		return B_OK;

	case NETDRV_GET_STATS:
		status = check_argument(data, length, sizeof(netdrv_stats));
		if (status == B_OK)
			card_get_stats(card, data);
		return status;

	case NETDRV_GET_MTU:
		status = check_argument(data, length, sizeof(uint32));
		if (status == B_OK) {
			pthread_mutex_lock(&card->lock);
			*(uint32 *)data = card->mtu;
			pthread_mutex_unlock(&card->lock);
		}
		return status;

	case NETDRV_SET_MTU:
		status = check_argument(data, length, sizeof(uint32));
		if (status == B_OK)
			status = card_set_mtu(card, *(const uint32 *)data);
		return status;

	case NETDRV_GET_ADDRESS:
		status = check_argument(data, length, NETDRV_ADDRESS_LENGTH);
		if (status == B_OK)
			memcpy(data, card->address, NETDRV_ADDRESS_LENGTH);
		return status;

	case NETDRV_SET_READ_TIMEOUT:
	case NETDRV_SET_LOOPBACK_DELAY: {
		bigtime_t value;

		status = check_argument(data, length, sizeof(bigtime_t));
		if (status != B_OK)
			return status;
		value = *(const bigtime_t *)data;
		if (value < 0
			|| (op == NETDRV_SET_LOOPBACK_DELAY && value > NETDRV_MAX_LOOPBACK_DELAY))
			return B_BAD_VALUE;
		pthread_mutex_lock(&card->lock);
		if (op == NETDRV_SET_READ_TIMEOUT) {
			cookie->read_timeout = value;
		} else {
			card->loopback_delay = value;
			pthread_cond_signal(&card->nic_wakeup);
		}
		pthread_mutex_unlock(&card->lock);
		return B_OK;
	}

	case NETDRV_GET_POOL_AREAS: {
		netdrv_pool_areas *areas = data;

		status = check_argument(data, length, sizeof(netdrv_pool_areas));
		if (status != B_OK)
			return status;
		/* a pool is one area: any block of it names it */
		pthread_mutex_lock(&card->lock);
		areas->rings = card->rings.rx != NULL ? area_for(card->rings.rx) : -1;
		areas->packets = card->rings.rx != NULL ? area_for(card->rings.rx[0].buffer) : -1;
		pthread_mutex_unlock(&card->lock);
		return B_OK;
	}

	default:
		return B_DEV_INVALID_IOCTL;
	}
}

static device_hooks netdrv_hooks = {
	.open = netdrv_open,
	.close = netdrv_close,
	.free = netdrv_free,
	.control = netdrv_control,
	.read = netdrv_read,
	.write = netdrv_write,
};

/* ---- driver entry points ---- */

/* A real driver probes the bus here and returns B_ERROR when it finds no card. */
status_t init_hardware(void)
{
	return B_OK;
}

static void card_uninit(struct card *card)
{
	area_malloc->delete_pool(card->packet_pool);
	area_malloc->delete_pool(card->ring_pool);
	pthread_cond_destroy(&card->nic_wakeup);
	pthread_cond_destroy(&card->tx_ready);
	pthread_cond_destroy(&card->rx_ready);
	pthread_mutex_destroy(&card->lock);
	pthread_mutex_destroy(&card->config_lock);
}

static status_t card_init(struct card *card, int index)
{
	memset(card, 0, sizeof(*card));
	snprintf(card->name, sizeof(card->name), NETDRV_DEVICE_PREFIX "%d", index);
	/* a locally administered unicast address: 02:00:5e:4e:44:<index> */
	memcpy(card->address, (const uint8[]){ 0x02, 0x00, 0x5e, 0x4e, 0x44, (uint8)index },
		NETDRV_ADDRESS_LENGTH);
	card->mtu = NETDRV_DEFAULT_MTU;
	card->loopback_delay = NETDRV_DEFAULT_LOOPBACK_DELAY;

	card->ring_pool = area_malloc->create_pool(B_ANY_KERNEL_ADDRESS, RING_POOL_SIZE,
		B_CONTIGUOUS, POOL_PROTECTION);
	card->packet_pool = area_malloc->create_pool(B_ANY_KERNEL_ADDRESS, PACKET_POOL_SIZE,
		B_FULL_LOCK, POOL_PROTECTION);
	if (card->ring_pool == NULL || card->packet_pool == NULL) {
		dprintf("netdrv: %s: cannot create its pools\n", card->name);
		if (card->ring_pool != NULL)
			area_malloc->delete_pool(card->ring_pool);
		if (card->packet_pool != NULL)
			area_malloc->delete_pool(card->packet_pool);
		return B_NO_MEMORY;
	}
	if (area_malloc_debug != NULL) {
		char name[32];

		snprintf(name, sizeof(name), "netdrv%d rings", index);
		area_malloc_debug->set_pool_name(card->ring_pool, name);
		snprintf(name, sizeof(name), "netdrv%d packets", index);
		area_malloc_debug->set_pool_name(card->packet_pool, name);
	}

	pthread_mutex_init(&card->config_lock, NULL);
	pthread_mutex_init(&card->lock, NULL);
	init_condition(&card->rx_ready);
	init_condition(&card->tx_ready);
	init_condition(&card->nic_wakeup);
	return B_OK;
}

status_t init_driver(void)
{
	status_t status = get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&area_malloc);

	if (status != B_OK) {
		dprintf("netdrv: cannot get %s: %d\n", B_AREA_MALLOC_MODULE_NAME, (int)status);
		return status;
	}
	/* only the debug build has the companion module; without it, no pool names */
	if (get_module(B_AREA_MALLOC_DEBUG_MODULE_NAME, (module_info **)&area_malloc_debug) != B_OK)
		area_malloc_debug = NULL;

	for (int i = 0; i < NETDRV_CARD_COUNT; i++) {
		status = card_init(&cards[i], i);
		if (status != B_OK) {
			while (i-- > 0)
				card_uninit(&cards[i]);
			if (area_malloc_debug != NULL)
				put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
			put_module(B_AREA_MALLOC_MODULE_NAME);
			return status;
		}
		device_names[i] = cards[i].name;
	}
	device_names[NETDRV_CARD_COUNT] = NULL;
	return B_OK;
}

/* The device manager calls this only once every cookie has been freed. */
void uninit_driver(void)
{
	for (int i = 0; i < NETDRV_CARD_COUNT; i++)
		card_uninit(&cards[i]);
	if (area_malloc_debug != NULL)
		put_module(B_AREA_MALLOC_DEBUG_MODULE_NAME);
	area_malloc_debug = NULL;
	put_module(B_AREA_MALLOC_MODULE_NAME);
	area_malloc = NULL;
}

const char **publish_devices(void)
{
	return device_names;
}

device_hooks *find_device(const char *name)
{
	return card_for_name(name) != NULL ? &netdrv_hooks : NULL;
}
