/*
 * module.h - Haiku's module manager interface.
 *
 * A module image is a shared object that exports the data symbol 'modules',
 * a NULL-terminated array of module_info pointers. get_module() finds a
 * module by name in the directories of KERNEL_MODULE_PATH (colon-separated,
 * in order) and then in the installed release module directory; the module
 * "a/b/c" is looked for in the files a/b/c, a/b and a, longest first.
 * The semantics are Haiku's; see get_module(3).
 */
#ifndef _AREA_MALLOC_MODULE_H
#define _AREA_MALLOC_MODULE_H

#include <OS.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct module_info {
	const char *name;
	uint32 flags;
	status_t (*std_ops)(int32, ...);
} module_info;

/* module_info.flags */
#define B_KEEP_LOADED 0x00000001

/* std_ops() operations */
#define B_MODULE_INIT 1
#define B_MODULE_UNINIT 2

typedef struct module_dependency {
	const char *name;
	module_info **info;
} module_dependency;

status_t get_module(const char *path, module_info **_info);
status_t put_module(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* _AREA_MALLOC_MODULE_H */
