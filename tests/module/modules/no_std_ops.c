/*
 * no_std_ops.c - a module without std_ops (Haiku allows NULL: nothing to
 * initialise). It still counts its loads, so the test sees it is unloaded.
 */
#include "config.h"

#include "test_module.h"

static test_module_info no_std_ops_module = {
	.info = { "test/no_std_ops/v1", 0, NULL },
	.variant = "no std_ops",
	.next_load_serial = next_load_serial,
};

module_info *modules[] = {
	&no_std_ops_module.info,
	NULL,
};
