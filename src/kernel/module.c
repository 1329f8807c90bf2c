/* module.c - STUB, being written. */
#include "config.h"
#include <module.h>
status_t get_module(const char *p, module_info **i) { (void)p; (void)i; return B_ERROR; }
status_t put_module(const char *p) { (void)p; return B_ERROR; }
