/*
 * reentrant.c - "test/reentrant/v1" gets "test/a/v1" in its init and puts it
 * in its uninit: the manager's lock must let a std_ops call get/put again.
 */
#include "config.h"

#include "test_module.h"

#define USED_MODULE "test/a/v1"

static status_t std_ops(int32 op, ...)
{
	status_t status = module_log_std_ops("test/reentrant/v1", op);
	module_info *used;

	if (status != B_OK)
		return status;
	if (op == B_MODULE_INIT) {
		status = get_module(USED_MODULE, &used);
		module_log_note("reentrant get", status);
	} else {
		status = put_module(USED_MODULE);
		module_log_note("reentrant put", status);
	}
	return status;
}

static module_info reentrant_module = { "test/reentrant/v1", 0, std_ops };

module_info *modules[] = {
	&reentrant_module,
	NULL,
};
