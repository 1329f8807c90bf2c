/*
 * exit_hook.c - the exit-time trampoline behind kernel_set_exit_handler().
 *
 * Invariant: the trampoline is registered once, from the library's
 * constructor, so it runs after every exit handler registered later. When
 * the handler asks for another status, stdio is flushed (the driver's
 * output must not be lost) and the process ends with _exit(status): an exit
 * handler cannot change the status exit() was given in any other way.
 *
 * Locking: handler and context are one atomic pair (a pointer to a static
 * slot is swapped); set and clear race only with each other and with exit.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kernel/exit_hook.h"

struct exit_handler_slot {
	kernel_exit_handler handler;
	void *context;
};

static struct exit_handler_slot slot;
static _Atomic(struct exit_handler_slot *) current;
static _Atomic int requested_status;

void kernel_request_exit_status(int status)
{
	atomic_store(&requested_status, status);
}

bool kernel_set_exit_handler(kernel_exit_handler handler, void *context)
{
	struct exit_handler_slot *expected = NULL;

	if (handler == NULL)
		return false;
	if (atomic_load(&current) != NULL)
		return false;
	slot.handler = handler;
	slot.context = context;
	return atomic_compare_exchange_strong(&current, &expected, &slot);
}

void kernel_clear_exit_handler(kernel_exit_handler handler)
{
	struct exit_handler_slot *set = atomic_load(&current);

	if (set != NULL && set->handler == handler)
		atomic_store(&current, NULL);
}

static void run_exit_handler(int status, void *unused)
{
	struct exit_handler_slot *set = atomic_exchange(&current, NULL);
	int new_status = status;

	(void)unused;
	if (set != NULL)
		new_status = set->handler(status, set->context);
	if (new_status == 0 && atomic_load(&requested_status) != 0)
		new_status = atomic_load(&requested_status);
	if (new_status != status) {
		fflush(NULL);
		_exit(new_status);
	}
}

__attribute__((constructor)) static void register_exit_trampoline(void)
{
	on_exit(run_exit_handler, NULL);
}
