/*
 * module_log.c - the process-wide log of the test modules (see module_log.h).
 *
 * Fixed-size tables (the tests use a few dozen names): running out of room
 * aborts, and an overflowing event log is replaced by a marker, so a test
 * never passes on a lost record. One mutex guards all of it.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module_log.h"

#define MAX_ENTRIES 64
#define MAX_NAME 64
#define EVENTS_SIZE 8192

struct module_entry {
	char name[MAX_NAME];
	int32 calls[B_MODULE_UNINIT + 1];
	status_t results[B_MODULE_UNINIT + 1];
	bool initialized;
};

struct note_entry {
	char key[MAX_NAME];
	status_t status;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct module_entry modules_seen[MAX_ENTRIES];
static int module_count;
static struct note_entry notes[MAX_ENTRIES];
static int note_count;
static int32 violations;
static char events[EVENTS_SIZE];
static size_t events_length;

static void give_up(const char *what, const char *name)
{
	fprintf(stderr, "module_log: %s: %s\n", what, name);
	abort();
}

static struct module_entry *module_entry(const char *name)
{
	int i;

	if (strlen(name) >= MAX_NAME)
		give_up("name too long", name);
	for (i = 0; i < module_count; i++) {
		if (strcmp(modules_seen[i].name, name) == 0)
			return &modules_seen[i];
	}
	if (module_count == MAX_ENTRIES)
		give_up("too many modules", name);
	strcpy(modules_seen[module_count].name, name);
	return &modules_seen[module_count++];
}

static int32 checked_op(int32 op, const char *name)
{
	if (op != B_MODULE_INIT && op != B_MODULE_UNINIT)
		give_up("unknown std_ops operation", name);
	return op;
}

/* A long run (the threads test) overflows the log; then it says so, for good. */
static void append_event(char sign, const char *name)
{
	static const char overflowed[] = "(event log overflowed)";
	int length;

	if (events_length == sizeof(events))
		return;
	length = snprintf(events + events_length, sizeof(events) - events_length, "%s%c%s",
		events_length > 0 ? " " : "", sign, name);
	if (length < 0 || (size_t)length >= sizeof(events) - events_length) {
		strcpy(events, overflowed);
		events_length = sizeof(events);
		return;
	}
	events_length += (size_t)length;
}

status_t module_log_std_ops(const char *module_name, int32 op)
{
	struct module_entry *entry;
	status_t result;

	pthread_mutex_lock(&log_lock);
	entry = module_entry(module_name);
	op = checked_op(op, module_name);
	entry->calls[op]++;
	result = entry->results[op];
	append_event(op == B_MODULE_INIT ? '+' : '-', module_name);
	if (op == B_MODULE_INIT) {
		if (entry->initialized)
			violations++;
		entry->initialized = result >= B_OK;
	} else {
		if (!entry->initialized)
			violations++;
		entry->initialized = result < B_OK;
	}
	pthread_mutex_unlock(&log_lock);
	return result;
}

void module_log_set_result(const char *module_name, int32 op, status_t result)
{
	pthread_mutex_lock(&log_lock);
	module_entry(module_name)->results[checked_op(op, module_name)] = result;
	pthread_mutex_unlock(&log_lock);
}

int32 module_log_calls(const char *module_name, int32 op)
{
	int32 calls;

	pthread_mutex_lock(&log_lock);
	calls = module_entry(module_name)->calls[checked_op(op, module_name)];
	pthread_mutex_unlock(&log_lock);
	return calls;
}

int32 module_log_violations(void)
{
	int32 count;

	pthread_mutex_lock(&log_lock);
	count = violations;
	pthread_mutex_unlock(&log_lock);
	return count;
}

const char *module_log_events(void)
{
	return events;
}

void module_log_note(const char *key, status_t status)
{
	int i;

	if (strlen(key) >= MAX_NAME)
		give_up("key too long", key);
	pthread_mutex_lock(&log_lock);
	for (i = 0; i < note_count && strcmp(notes[i].key, key) != 0; i++)
		;
	if (i == note_count) {
		if (note_count == MAX_ENTRIES)
			give_up("too many notes", key);
		strcpy(notes[note_count++].key, key);
	}
	notes[i].status = status;
	pthread_mutex_unlock(&log_lock);
}

status_t module_log_noted(const char *key)
{
	status_t status = MODULE_LOG_NOT_NOTED;
	int i;

	pthread_mutex_lock(&log_lock);
	for (i = 0; i < note_count; i++) {
		if (strcmp(notes[i].key, key) == 0)
			status = notes[i].status;
	}
	pthread_mutex_unlock(&log_lock);
	return status;
}
