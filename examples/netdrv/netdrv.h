/*
 * netdrv.h - the interface of netdrv, a simulated network driver: what a
 * program that opens its devices needs (control opcodes, statistics), and
 * the driver entry points that a Haiku driver exports.
 *
 * netdrv drives NETDRV_CARD_COUNT simulated loopback network cards, published
 * as net/netdrv/0, net/netdrv/1, ...: every frame written to a card comes
 * back, after the card's loopback delay, to be read from the same card.
 * Descriptor rings and packet buffers come from area_malloc pools.
 *
 * Invariants and locking: see netdrv.c. Every hook may be called from any
 * number of threads at once.
 */
#ifndef NETDRV_H
#define NETDRV_H

#include <Drivers.h>
#include <OS.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The entry points of a Haiku driver. Haiku's Drivers.h declares them; the
 * Drivers.h of area_malloc declares only the hook types, so they are
 * declared here.
 */
extern int32 api_version;
status_t init_hardware(void);
status_t init_driver(void);
void uninit_driver(void);
const char **publish_devices(void);
device_hooks *find_device(const char *name);

#define NETDRV_CARD_COUNT 2
#define NETDRV_DEVICE_PREFIX "net/netdrv/"

/* Frame sizes: a frame is 1 to MTU bytes; the MTU is settable per card. */
#define NETDRV_MIN_MTU 68
#define NETDRV_DEFAULT_MTU 1500
#define NETDRV_MAX_MTU 9000

#define NETDRV_RX_RING_SIZE 32
#define NETDRV_TX_RING_SIZE 32

/* The simulated wire: how long a frame takes to come back (microseconds). */
#define NETDRV_DEFAULT_LOOPBACK_DELAY 50
#define NETDRV_MAX_LOOPBACK_DELAY (60 * 1000000LL)

#define NETDRV_ADDRESS_LENGTH 6

/* Counters of one card since init_driver(), and its state now. */
typedef struct netdrv_stats {
	uint64 tx_frames; /* accepted by write() */
	uint64 tx_bytes;
	uint64 rx_frames; /* returned by read() */
	uint64 rx_bytes;
	uint64 tx_dropped;    /* queued, never sent: rings rebuilt, or the last close */
	uint64 rx_dropped;    /* received, never read: rings rebuilt, or the last free */
	uint64 tx_no_memory;  /* writes refused for want of a packet buffer */
	uint64 ring_rebuilds; /* MTU changes that rebuilt the rings of an open card */
	uint32 tx_queued;     /* now: frames waiting for the card to send them */
	uint32 rx_waiting;    /* now: frames received, waiting for read() */
	uint32 mtu;
	uint32 open_count;
} netdrv_stats;

/*
 * A snapshot is consistent: at any moment
 *   tx_frames == rx_frames + rx_waiting + tx_queued + tx_dropped + rx_dropped.
 */

/* The pools of the cookie's card, as area ids: what the kernel debugger's
 * "pool ID" command and pooldump take. */
typedef struct netdrv_pool_areas {
	area_id rings;
	area_id packets;
} netdrv_pool_areas;

/* Private control opcodes: the control hook's op, with data pointing to the type named. */
enum {
	/* netdrv_stats */
	NETDRV_GET_STATS = B_DEVICE_OP_CODES_END + 1,
	/* uint32 */
	NETDRV_GET_MTU,
	/* uint32: rebuilds the rings of an open card */
	NETDRV_SET_MTU,
	/* uint8[NETDRV_ADDRESS_LENGTH] */
	NETDRV_GET_ADDRESS,
	/* bigtime_t, for this cookie; B_INFINITE_TIMEOUT (the default): wait forever */
	NETDRV_SET_READ_TIMEOUT,
	/* bigtime_t, 0 to NETDRV_MAX_LOOPBACK_DELAY: the simulation's knob; it
	 * applies to the frames queued already too */
	NETDRV_SET_LOOPBACK_DELAY,
	/* netdrv_pool_areas */
	NETDRV_GET_POOL_AREAS,
};

/*
 * The MTU and the loopback delay are settings of the card: they outlive the
 * cookie that set them, until uninit_driver(). The read timeout and the
 * blocking mode belong to the cookie.
 *
 * The standard opcodes B_SET_NONBLOCKING_IO and B_SET_BLOCKING_IO (no data)
 * switch a cookie's read() and write() between waiting and returning
 * B_WOULD_BLOCK; opening with O_NONBLOCK starts a cookie non-blocking.
 *
 * Results besides B_OK:
 *   open()    B_BAD_VALUE (no such device), B_NO_MEMORY (no room for the rings)
 *   read()    B_WOULD_BLOCK, B_TIMED_OUT, B_FILE_ERROR once the cookie is
 *             closed (a blocked read() returns it at close()), B_BAD_VALUE
 *             (a 0-byte buffer); a frame longer than the buffer is truncated
 *   write()   B_BAD_VALUE (0 bytes, or more than the MTU), B_NO_MEMORY,
 *             B_WOULD_BLOCK, B_FILE_ERROR
 *   control() B_BAD_VALUE (short length, value out of range), B_NO_MEMORY
 *             (SET_MTU: the card keeps its old rings), B_DEV_INVALID_IOCTL
 *   close()   B_BAD_VALUE for a cookie closed already; free() for one still open
 * read(), write() and control() return B_BAD_ADDRESS for NULL data; read()
 * and write() set *numBytes to the bytes moved, 0 on failure.
 * uninit_driver() expects every cookie freed, as devfs guarantees.
 */

#ifdef __cplusplus
}
#endif

#endif /* NETDRV_H */
