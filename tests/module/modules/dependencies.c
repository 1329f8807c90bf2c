/*
 * dependencies.c - a module with module_dependencies: "test/a/v1" and
 * SECOND_DEPENDENCY. Built as "test/deps/v1" (both exist) and as
 * "test/deps_missing/v1" (the second one does not). Its init notes whether
 * the manager had stored both dependencies' module_info before calling it.
 */
#include "config.h"

#include <string.h>

#include "test_module.h"

#ifndef MODULE_NAME
#error "MODULE_NAME must be defined"
#endif
#ifndef SECOND_DEPENDENCY
#error "SECOND_DEPENDENCY must be defined"
#endif

static module_info *first_info;
static module_info *second_info;

module_dependency module_dependencies[] = {
	{ "test/a/v1", &first_info },
	{ SECOND_DEPENDENCY, &second_info },
	{ NULL, NULL },
};

static bool dependencies_stored(void)
{
	return first_info != NULL && strcmp(first_info->name, "test/a/v1") == 0
		&& second_info != NULL && strcmp(second_info->name, SECOND_DEPENDENCY) == 0;
}

static status_t std_ops(int32 op, ...)
{
	status_t status = module_log_std_ops(MODULE_NAME, op);

	if (status == B_OK && op == B_MODULE_INIT)
		module_log_note("dependencies stored", dependencies_stored() ? B_OK : B_ERROR);
	return status;
}

static module_info dependencies_module = { MODULE_NAME, 0, std_ops };

module_info *modules[] = {
	&dependencies_module,
	NULL,
};
