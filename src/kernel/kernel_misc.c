/*
 * kernel_misc.c - the small kernel services of the kernel-API layer:
 * dprintf (the syslog of a driver), kprintf (the kernel debugger's output),
 * panic, and the thread and time calls.
 *
 * dprintf writes whole lines to stderr with one write() each, so lines from
 * concurrent threads never interleave. kprintf writes to the stream set by
 * set_kprintf_output() (stdout by default); the stream pointer is atomic,
 * the stream itself is locked by stdio.
 */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <KernelExport.h>

static _Atomic(FILE *) kprintf_stream;

void set_kprintf_output(FILE *stream)
{
	atomic_store(&kprintf_stream, stream);
}

void kprintf(const char *format, ...)
{
	FILE *stream = atomic_load(&kprintf_stream);
	va_list args;

	if (stream == NULL)
		stream = stdout;
	va_start(args, format);
	vfprintf(stream, format, args);
	va_end(args);
}

static void write_line_to_stderr(const char *format, va_list args)
{
	char line[1024];
	int length = vsnprintf(line, sizeof(line), format, args);

	if (length < 0)
		return;
	if ((size_t)length >= sizeof(line))
		length = sizeof(line) - 1;
	while (length > 0) {
		ssize_t written = write(STDERR_FILENO, line, (size_t)length);
		if (written <= 0)
			break;
		length -= (int)written;
	}
}

void area_malloc_dprintf(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	write_line_to_stderr(format, args);
	va_end(args);
}

void panic(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	fputs("PANIC: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
	va_end(args);
	abort();
}

thread_id find_thread(const char *name)
{
	if (name != NULL)
		return B_NAME_NOT_FOUND;
	return (thread_id)syscall(SYS_gettid);
}

bigtime_t system_time(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (bigtime_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

status_t snooze(bigtime_t amount)
{
	struct timespec delay;

	if (amount < 0)
		return B_BAD_VALUE;
	delay.tv_sec = amount / 1000000;
	delay.tv_nsec = (amount % 1000000) * 1000;
	while (nanosleep(&delay, &delay) != 0)
		;
	return B_OK;
}
