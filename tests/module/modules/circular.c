/*
 * circular.c - circular inits. "test/circular/a" gets "test/circular/b" in
 * its init, whose init gets "test/circular/a": the inner get must fail with
 * B_ERROR (and so both inits fail). "test/circular/self" gets itself in its
 * init, notes the result and succeeds anyway.
 */
#include "config.h"

#include "test_module.h"

/* Init gets 'other', notes the result as 'key', and fails if the get failed. */
static status_t init_getting(const char *self, const char *other, const char *key, int32 op)
{
	status_t status = module_log_std_ops(self, op);
	module_info *info;

	if (status != B_OK)
		return status;
	if (op == B_MODULE_UNINIT)
		return put_module(other);
	status = get_module(other, &info);
	module_log_note(key, status);
	return status;
}

static status_t a_std_ops(int32 op, ...)
{
	return init_getting("test/circular/a", "test/circular/b", "a gets b", op);
}

static status_t b_std_ops(int32 op, ...)
{
	return init_getting("test/circular/b", "test/circular/a", "b gets a", op);
}

static status_t self_std_ops(int32 op, ...)
{
	status_t status = module_log_std_ops("test/circular/self", op);
	module_info *info;

	if (status != B_OK || op != B_MODULE_INIT)
		return status;
	status = get_module("test/circular/self", &info);
	module_log_note("self gets self", status);
	if (status == B_OK)
		put_module("test/circular/self");
	return B_OK;
}

static module_info circular_a = { "test/circular/a", 0, a_std_ops };
static module_info circular_b = { "test/circular/b", 0, b_std_ops };
static module_info circular_self = { "test/circular/self", 0, self_std_ops };

module_info *modules[] = {
	&circular_a,
	&circular_b,
	&circular_self,
	NULL,
};
