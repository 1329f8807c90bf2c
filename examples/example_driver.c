/*
 * example_driver.c - a driver that uses area_malloc the way a Haiku driver
 * does, built on Linux against the area_malloc package.
 *
 * The "device" is a packet buffer engine: init_driver() gets the module and
 * creates two pools (locked DMA-style buffers, and lazily committed
 * descriptors), four worker threads move "packets" through them, the kernel
 * debugger's "pools" command shows the pools while they work, and
 * uninit_driver() deletes the pools and puts the module away.
 *
 * Build it outside this tree (as C or C++) with:
 *   cc example_driver.c $(pkg-config --cflags --libs area_malloc) -o example_driver
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Drivers.h>
#include <KernelExport.h>
#include <drivers/area_malloc.h>

#define WORKERS 4
#define PACKETS_PER_WORKER 20000
#define RING_SLOTS 32

struct descriptor {
	void *buffer;
	size_t length;
	uint32 checksum;
};

static area_malloc_module_info *sAreaMalloc;
static const void *sBufferPool;     /* packet payloads: locked, like DMA memory */
static const void *sDescriptorPool; /* descriptors: lazily committed */

static uint32 checksum(const unsigned char *data, size_t length)
{
	uint32 sum = 2166136261u;

	for (size_t i = 0; i < length; i++)
		sum = (sum ^ data[i]) * 16777619u;
	return sum;
}

status_t init_driver(void)
{
	status_t status = get_module(B_AREA_MALLOC_MODULE_NAME, (module_info **)&sAreaMalloc);

	if (status != B_OK) {
		dprintf("example: cannot get %s: %d\n", B_AREA_MALLOC_MODULE_NAME, (int)status);
		return status;
	}
	sBufferPool = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 2 * 1024 * 1024, B_FULL_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	sDescriptorPool = sAreaMalloc->create_pool(B_ANY_KERNEL_ADDRESS, 256 * 1024, B_NO_LOCK,
		B_KERNEL_READ_AREA | B_KERNEL_WRITE_AREA);
	if (sBufferPool == NULL || sDescriptorPool == NULL) {
		dprintf("example: cannot create pools\n");
		if (sBufferPool != NULL)
			sAreaMalloc->delete_pool(sBufferPool);
		put_module(B_AREA_MALLOC_MODULE_NAME);
		return B_NO_MEMORY;
	}
	return B_OK;
}

void uninit_driver(void)
{
	sAreaMalloc->delete_pool(sDescriptorPool);
	sAreaMalloc->delete_pool(sBufferPool);
	put_module(B_AREA_MALLOC_MODULE_NAME);
}

/* One worker: a ring of in-flight packets; each step retires the oldest
 * (checking its payload survived) and queues a new one. */
static void *worker(void *argument)
{
	struct descriptor *ring[RING_SLOTS] = { NULL };
	unsigned seed = (unsigned)(uintptr_t)argument;
	long corrupt = 0, dropped = 0;

	for (int packet = 0; packet < PACKETS_PER_WORKER; packet++) {
		struct descriptor **slot = &ring[packet % RING_SLOTS];
		struct descriptor *descriptor = *slot;

		if (descriptor != NULL) {
			if (checksum((const unsigned char *)descriptor->buffer, descriptor->length)
				!= descriptor->checksum)
				corrupt++;
			sAreaMalloc->free(sBufferPool, descriptor->buffer);
			sAreaMalloc->free(sDescriptorPool, descriptor);
			*slot = NULL;
		}
		descriptor = (struct descriptor *)sAreaMalloc->calloc(sDescriptorPool, 1,
			sizeof(*descriptor));
		if (descriptor == NULL) {
			dropped++;
			continue;
		}
		descriptor->length = 60 + (size_t)rand_r(&seed) % 1455; /* an Ethernet frame */
		descriptor->buffer = sAreaMalloc->malloc(sBufferPool, descriptor->length);
		if (descriptor->buffer == NULL) {
			sAreaMalloc->free(sDescriptorPool, descriptor);
			dropped++;
			continue;
		}
		for (size_t i = 0; i < descriptor->length; i++)
			((unsigned char *)descriptor->buffer)[i] = (unsigned char)rand_r(&seed);
		descriptor->checksum =
			checksum((const unsigned char *)descriptor->buffer, descriptor->length);
		*slot = descriptor;
		if (packet == PACKETS_PER_WORKER / 2 && (uintptr_t)argument == 1) {
			kprintf("\nkdebug> pools   (worker 1, half way)\n");
			evaluate_debug_command("pools");
		}
	}
	for (int i = 0; i < RING_SLOTS; i++) {
		if (ring[i] == NULL)
			continue;
		sAreaMalloc->free(sBufferPool, ring[i]->buffer);
		sAreaMalloc->free(sDescriptorPool, ring[i]);
	}
	printf("worker %lu: %d packets, %ld dropped, %ld corrupt\n",
		(unsigned long)(uintptr_t)argument, PACKETS_PER_WORKER, dropped, corrupt);
	return (void *)corrupt;
}

int main(void)
{
	pthread_t threads[WORKERS];
	long corrupt = 0;

	if (init_driver() != B_OK)
		return EXIT_FAILURE;
	printf("example driver: buffer pool %p, descriptor pool %p\n", sBufferPool,
		sDescriptorPool);
	for (uintptr_t i = 0; i < WORKERS; i++)
		pthread_create(&threads[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < WORKERS; i++) {
		void *result;
		pthread_join(threads[i], &result);
		corrupt += (long)result;
	}
	kprintf("\nkdebug> pools   (all workers done: every block freed)\n");
	evaluate_debug_command("pools");
	kprintf("\nkdebug> check\n");
	if (evaluate_debug_command("check") != 0)
		corrupt++;
	uninit_driver();
	printf("\nexample driver: %s\n", corrupt == 0 ? "all packets intact" : "CORRUPTION");
	return corrupt == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
