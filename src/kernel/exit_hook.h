/*
 * exit_hook.h - one handler that runs when the process exits, after the
 * driver's own exit handlers, and may change the exit status.
 *
 * The kernel-API library registers its on_exit() trampoline from a
 * constructor, so before main() and before anything the driver registers:
 * handlers run in reverse order, so the trampoline runs after them all and
 * sees the real exit status. A module (which may be unloaded long before the
 * process exits) only sets or clears the handler, so an unloaded module
 * leaves nothing dangling. Not a public interface: the debug module uses it.
 */
#ifndef AREA_MALLOC_KERNEL_EXIT_HOOK_H
#define AREA_MALLOC_KERNEL_EXIT_HOOK_H

/* Returns the status the process should exit with (status to keep it). */
typedef int (*kernel_exit_handler)(int status, void *context);

/* Sets the handler (NULL clears it). Returns false if another is set. */
_Bool kernel_set_exit_handler(kernel_exit_handler handler, void *context);
void kernel_clear_exit_handler(kernel_exit_handler handler);

/*
 * Asks that a process about to exit with status 0 exit with status instead
 * (0 withdraws the request). A module unloaded before the process exits
 * leaves its verdict here: errors it reported still fail the process.
 */
void kernel_request_exit_status(int status);

#endif /* AREA_MALLOC_KERNEL_EXIT_HOOK_H */
