/* STUB */
#include "config.h"
#include <KernelExport.h>
int add_debugger_command(const char *n, debugger_command_hook h, const char *x) { (void)n; (void)h; (void)x; return 0; }
int remove_debugger_command(const char *n, debugger_command_hook h) { (void)n; (void)h; return 0; }
int evaluate_debug_command(const char *l) { (void)l; return 0; }
