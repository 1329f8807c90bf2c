/*
 * recording.c - a module that only logs its std_ops. Built several times
 * under different names (MODULE_NAME), builds (MODULE_VARIANT) and flags
 * (MODULE_FLAGS), one image each, to be staged in the test module trees.
 */
#include "config.h"

#include "test_module.h"

#ifndef MODULE_NAME
#error "MODULE_NAME must be defined"
#endif
#ifndef MODULE_VARIANT
#define MODULE_VARIANT "default"
#endif
#ifndef MODULE_FLAGS
#define MODULE_FLAGS 0
#endif

LOGGING_STD_OPS(std_ops, MODULE_NAME)

static test_module_info recording_module = {
	.info = { MODULE_NAME, MODULE_FLAGS, std_ops },
	.variant = MODULE_VARIANT,
	.next_load_serial = next_load_serial,
};

module_info *modules[] = {
	&recording_module.info,
	NULL,
};
