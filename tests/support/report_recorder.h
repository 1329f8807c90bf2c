/*
 * report_recorder.h - the report hook of the bug-zoo style tests: every
 * report the debug module makes is copied into recorded[] (the first
 * MAX_RECORDED of them; recorded_count counts all), self-contained, so a
 * forked child can also send its copies through a pipe.
 *
 * Use: set_report_hook(take_report, NULL) (or a pointer to a pipe's write
 * end as the cookie, in a child); assert_reports(n) after each step.
 *
 * Locking: the hook may run on any thread; recorded_lock protects
 * recorded[] and recorded_count.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_REPORT_RECORDER_H
#define AREA_MALLOC_TESTS_SUPPORT_REPORT_RECORDER_H

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <drivers/area_malloc_debug.h>

#ifndef RECORDED_TEXT_MAX
#define RECORDED_TEXT_MAX 8192
#endif
#ifndef MAX_RECORDED
#define MAX_RECORDED 32
#endif

/* A report as the hook saw it, self-contained (it may cross a pipe). */
struct recorded {
	char kind[48];
	const void *address;
	size_t size;
	const void *pool_id;
	area_id pool_area;
	const void *owner_pool_id;
	area_id owner_pool_area;
	size_t overflow_bytes;
	bool has_allocated_by;
	bool has_freed_by;
	area_malloc_owner allocated_by;
	area_malloc_owner freed_by;
	area_malloc_owner detected_by;
	size_t leaked_bytes;
	size_t leaked_blocks;
	char text[RECORDED_TEXT_MAX];
};

static pthread_mutex_t recorded_lock = PTHREAD_MUTEX_INITIALIZER;
static struct recorded recorded[MAX_RECORDED];
static int recorded_count; /* every report taken, even past MAX_RECORDED */

static inline void recorded_write_all(int fd, const void *data, size_t length)
{
	const char *bytes = data;

	while (length > 0) {
		ssize_t written = write(fd, bytes, length);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return;
		bytes += written;
		length -= (size_t)written;
	}
}

/* The hook: takes every report over. With a cookie (a pipe's fd, in a
 * forked child), it sends the record to the parent instead. */
static inline bool take_report(const area_malloc_report *report, void *cookie)
{
	struct recorded copy;

	memset(&copy, 0, sizeof(copy));
	snprintf(copy.kind, sizeof(copy.kind), "%s", report->kind);
	copy.address = report->address;
	copy.size = report->size;
	copy.pool_id = report->pool_id;
	copy.pool_area = report->pool_area;
	copy.owner_pool_id = report->owner_pool_id;
	copy.owner_pool_area = report->owner_pool_area;
	copy.overflow_bytes = report->overflow_bytes;
	copy.has_allocated_by = report->has_allocated_by;
	copy.has_freed_by = report->has_freed_by;
	copy.allocated_by = report->allocated_by;
	copy.freed_by = report->freed_by;
	copy.detected_by = report->detected_by;
	copy.leaked_bytes = report->leaked_bytes;
	copy.leaked_blocks = report->leaked_blocks;
	snprintf(copy.text, sizeof(copy.text), "%s", report->text != NULL ? report->text : "");
	if (cookie != NULL) {
		recorded_write_all(*(const int *)cookie, &copy, sizeof(copy));
		return true;
	}
	pthread_mutex_lock(&recorded_lock);
	if (recorded_count < MAX_RECORDED)
		recorded[recorded_count] = copy;
	recorded_count++;
	pthread_mutex_unlock(&recorded_lock);
	return true;
}

static inline int reports_so_far(void)
{
	int count;

	pthread_mutex_lock(&recorded_lock);
	count = recorded_count;
	pthread_mutex_unlock(&recorded_lock);
	return count;
}

static inline void assert_reports(int expected)
{
	int count = reports_so_far();

	ck_assert_msg(count == expected, "%d report(s), expected %d; the last one:\n%s", count,
		expected, count > 0 && count <= MAX_RECORDED ? recorded[count - 1].text : "(none)");
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_REPORT_RECORDER_H */
