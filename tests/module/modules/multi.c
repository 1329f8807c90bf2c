/*
 * multi.c - two modules in one image, "test/multi/one" and "test/multi/two".
 * Both count loads with the image's one counter.
 */
#include "config.h"

#include "test_module.h"

LOGGING_STD_OPS(one_std_ops, "test/multi/one")
LOGGING_STD_OPS(two_std_ops, "test/multi/two")

static test_module_info module_one = {
	.info = { "test/multi/one", 0, one_std_ops },
	.variant = "one",
	.next_load_serial = next_load_serial,
};

static test_module_info module_two = {
	.info = { "test/multi/two", 0, two_std_ops },
	.variant = "two",
	.next_load_serial = next_load_serial,
};

module_info *modules[] = {
	&module_one.info,
	&module_two.info,
	NULL,
};
