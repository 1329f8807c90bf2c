/*
 * uninit_get.c - "test/uninit_get/v1" tries to get itself in its uninit,
 * which the manager must refuse with B_ERROR.
 */
#include "config.h"

#include "test_module.h"

#define MODULE_NAME "test/uninit_get/v1"

static status_t std_ops(int32 op, ...)
{
	status_t status = module_log_std_ops(MODULE_NAME, op);
	module_info *info;

	if (status != B_OK || op != B_MODULE_UNINIT)
		return status;
	status = get_module(MODULE_NAME, &info);
	module_log_note("get during uninit", status);
	if (status == B_OK)
		put_module(MODULE_NAME);
	return B_OK;
}

static module_info uninit_get_module = { MODULE_NAME, 0, std_ops };

module_info *modules[] = {
	&uninit_get_module,
	NULL,
};
