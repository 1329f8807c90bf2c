/*
 * KernelExport.h - the kernel services a Haiku driver calls, on Linux:
 * dprintf/kprintf, the kernel debugger's command registry, and the
 * kernel-only address specification and protection bits.
 */
#ifndef _AREA_MALLOC_KERNEL_EXPORT_H
#define _AREA_MALLOC_KERNEL_EXPORT_H

/*
 * glibc's <stdio.h> declares the POSIX dprintf(int fd, const char *fmt, ...).
 * A Haiku driver means the kernel's dprintf(const char *fmt, ...), so stdio
 * is included first (its include guard then keeps it from being parsed again)
 * and the name is mapped to the kernel-API layer's function.
 */
#include <stdio.h>

#include <OS.h>

#ifdef __cplusplus
extern "C" {
#endif

#define B_ANY_KERNEL_BLOCK_ADDRESS (B_ANY_KERNEL_ADDRESS + 1)

#define B_KERNEL_READ_AREA (1 << 4)
#define B_KERNEL_WRITE_AREA (1 << 5)
#define B_KERNEL_EXECUTE_AREA (1 << 6)
#define B_KERNEL_STACK_AREA (1 << 7)

/* Kernel debugger commands */
#define B_KDEBUG_DONT_PARSE_ARGUMENTS (0x01)
#define B_KDEBUG_PIPE_FINAL_RERUN (0x02)
#define B_KDEBUG_CONT 2
#define B_KDEBUG_QUIT 3

typedef int (*debugger_command_hook)(int argc, char **argv);

int add_debugger_command(const char *name, debugger_command_hook hook, const char *help);
int remove_debugger_command(const char *name, debugger_command_hook hook);

/*
 * Runs one debugger command line ("name arg arg ...") as the kernel debugger
 * would: splits it into arguments, finds the command and calls its hook.
 * Returns the hook's result, or B_ENTRY_NOT_FOUND (after printing a message
 * through kprintf) when no such command is registered. "help" lists them.
 */
int evaluate_debug_command(const char *command_line);

/* Where kprintf writes (stdout by default); NULL restores the default. */
void set_kprintf_output(FILE *stream);

void kprintf(const char *format, ...) __attribute__((format(printf, 1, 2)));
void area_malloc_dprintf(const char *format, ...) __attribute__((format(printf, 1, 2)));
#define dprintf(...) area_malloc_dprintf(__VA_ARGS__)

void panic(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

#ifdef __cplusplus
}
#endif

#endif /* _AREA_MALLOC_KERNEL_EXPORT_H */
