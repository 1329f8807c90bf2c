/*
 * module.c - Haiku's module manager over dlopen.
 *
 * get_module() finds a module image by name below the module directories
 * (each directory of KERNEL_MODULE_PATH, then AREA_MALLOC_MODULEDIR), loads
 * it, initialises the module on its first reference and counts references;
 * put_module() uninitialises the module on its last one and unloads the image.
 *
 * Invariants:
 * - A module record exists exactly while its module is referenced, kept
 *   loaded, or being initialised or uninitialised. A forgotten module is
 *   searched for again by the next get, so a new KERNEL_MODULE_PATH applies.
 * - Every record holds its own dlopen reference to its image, so an image
 *   with several modules stays mapped while any of them has a record, and a
 *   record's module_info (which lives in the image) is valid while it exists.
 * - A record in MODULE_INITIALIZING or MODULE_UNINITIALIZING is never
 *   referenced anew (a get returns B_ERROR: circular init, or a get during
 *   uninit) and never put (B_BAD_VALUE).
 *
 * Locking: one global recursive pthread mutex, module_lock, protects the
 * record list and every record's state and reference count. It is held for
 * the whole of get_module() and put_module(), std_ops calls, dlopen and
 * dlclose included, so the manager is safe from any number of threads and a
 * module's init/uninit see no concurrent get/put. It is recursive so that
 * std_ops may get and put other modules (dependencies, re-entrant init).
 */
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <KernelExport.h>
#include <module.h>

#include "kernel/lock.h"

#ifndef AREA_MALLOC_MODULEDIR
#error "AREA_MALLOC_MODULEDIR must name the installed module directory"
#endif

#define MODULE_PATH_VARIABLE "KERNEL_MODULE_PATH"

enum module_state {
	MODULE_INITIALIZING,
	MODULE_READY,
	MODULE_UNINITIALIZING,
};

struct loaded_module {
	struct loaded_module *next;
	module_info *info;
	void *image;
	/* The image's module_dependencies (NULL if none), and how many of them
	 * this module holds a reference to (they are got in order). */
	module_dependency *dependencies;
	int32 dependencies_held;
	/* References from get_module() not yet put. */
	int32 ref_count;
	/* B_KEEP_LOADED, or an uninit that failed: never uninit nor unload. */
	bool kept_loaded;
	enum module_state state;
	/* The image file it came from (which module directory won), for messages. */
	char file[];
};

static recursive_lock module_lock = RECURSIVE_LOCK_INITIALIZER("module manager");
static struct loaded_module *loaded_modules;

static status_t get_module_locked(const char *name, module_info **_info);
static status_t put_module_locked(const char *name);

/*
 * Module names are relative paths below a module directory: no leading '/',
 * no empty, "." or ".." component, shorter than PATH_MAX. Anything else could
 * name a file outside the module directories.
 */
static status_t check_module_name(const char *name)
{
	const char *component = name;

	if (name == NULL || name[0] == '\0' || name[0] == '/')
		return B_BAD_VALUE;
	if (strnlen(name, PATH_MAX) >= PATH_MAX)
		return B_BAD_VALUE;
	for (;;) {
		size_t length = strcspn(component, "/");

		if (length == 0 || (length == 1 && component[0] == '.')
			|| (length == 2 && component[0] == '.' && component[1] == '.'))
			return B_BAD_VALUE;
		if (component[length] == '\0')
			return B_OK;
		component += length + 1;
	}
}

static struct loaded_module *find_loaded_module(const char *name)
{
	struct loaded_module *module;

	for (module = loaded_modules; module != NULL; module = module->next) {
		if (strcmp(module->info->name, name) == 0)
			return module;
	}
	return NULL;
}

/*
 * dlsym() on a handle also searches the image's own dependencies; a module
 * image's 'modules' and 'module_dependencies' must be its own, not those of
 * a library (or another module image) it happens to link.
 */
static void *image_symbol(void *image, const char *symbol)
{
	struct link_map *image_map;
	struct link_map *symbol_map = NULL;
	Dl_info symbol_info;
	void *address = dlsym(image, symbol);

	if (address == NULL || dlinfo(image, RTLD_DI_LINKMAP, &image_map) != 0)
		return NULL;
	if (dladdr1(address, &symbol_info, (void **)&symbol_map, RTLD_DL_LINKMAP) == 0
		|| symbol_map != image_map)
		return NULL;
	return address;
}

struct module_search {
	const char *name;
	/* B_ENTRY_NOT_FOUND, or B_BAD_TYPE once a candidate failed to load. */
	status_t status;
	void *image;
	module_info *info;
	char file[PATH_MAX];
};

/* Loads one candidate file; true (and the search filled in) if it has the module. */
static bool search_image(struct module_search *search, const char *file)
{
	module_info **modules;
	void *image;

	dlerror();
	image = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (image == NULL) {
		const char *error = dlerror();

		dprintf("module: cannot load %s: %s\n", file,
			error != NULL ? error : "unknown error");
		search->status = B_BAD_TYPE;
		return false;
	}

	modules = image_symbol(image, "modules");
	if (modules == NULL) {
		dprintf("module: %s is not a module image (no 'modules' symbol)\n", file);
		search->status = B_BAD_TYPE;
		dlclose(image);
		return false;
	}

	for (; *modules != NULL; modules++) {
		if ((*modules)->name != NULL && strcmp((*modules)->name, search->name) == 0) {
			search->image = image;
			search->info = *modules;
			strcpy(search->file, file);
			return true;
		}
	}
	dlclose(image);
	return false;
}

/*
 * Looks for the module in the files dir/a/b/c, dir/a/b, dir/a (for the name
 * "a/b/c"), longest first. Only regular files are candidates; a path that
 * does not fit in PATH_MAX cannot name a file and is skipped.
 */
static bool search_directory(struct module_search *search, const char *directory,
	size_t directory_length)
{
	size_t prefix_length = strlen(search->name);

	while (prefix_length > 0) {
		char file[PATH_MAX];
		struct stat file_stat;
		int length = snprintf(file, sizeof(file), "%.*s/%.*s", (int)directory_length,
			directory, (int)prefix_length, search->name);

		if (length > 0 && (size_t)length < sizeof(file) && stat(file, &file_stat) == 0
			&& S_ISREG(file_stat.st_mode) && search_image(search, file))
			return true;

		while (prefix_length > 0 && search->name[prefix_length - 1] != '/')
			prefix_length--;
		if (prefix_length > 0)
			prefix_length--;
	}
	return false;
}

/*
 * Searches the directories of KERNEL_MODULE_PATH (read anew each time, empty
 * entries skipped), then the installed module directory. The first directory
 * that has the module wins.
 */
static status_t search_module(struct module_search *search)
{
	const char *variable = getenv(MODULE_PATH_VARIABLE);

	search->status = B_ENTRY_NOT_FOUND;
	if (variable != NULL) {
		/* A copy: a module's init may setenv() while we walk the list. */
		char *path = strdup(variable);
		const char *directory;

		if (path == NULL)
			return B_NO_MEMORY;
		for (directory = path; *directory != '\0';) {
			size_t length = strcspn(directory, ":");

			if (length > 0 && search_directory(search, directory, length)) {
				free(path);
				return B_OK;
			}
			directory += length;
			if (*directory == ':')
				directory++;
		}
		free(path);
	}

	if (search_directory(search, AREA_MALLOC_MODULEDIR, strlen(AREA_MALLOC_MODULEDIR)))
		return B_OK;
	return search->status;
}

static void forget_module(struct loaded_module *module)
{
	struct loaded_module **link = &loaded_modules;

	while (*link != module)
		link = &(*link)->next;
	*link = module->next;

	dlclose(module->image);
	free(module);
}

/* Finds and loads the module's image; the new record is listed, not yet initialised. */
static status_t load_module(const char *name, struct loaded_module **_module)
{
	/* On the heap: gets nest through std_ops, and this holds a PATH_MAX path. */
	struct module_search *search = malloc(sizeof(*search));
	struct loaded_module *module;
	status_t status;

	if (search == NULL)
		return B_NO_MEMORY;
	search->name = name;
	status = search_module(search);
	if (status != B_OK) {
		free(search);
		return status;
	}

	module = malloc(sizeof(*module) + strlen(search->file) + 1);
	if (module == NULL) {
		dlclose(search->image);
		free(search);
		return B_NO_MEMORY;
	}
	module->info = search->info;
	module->image = search->image;
	module->dependencies = image_symbol(search->image, "module_dependencies");
	module->dependencies_held = 0;
	module->ref_count = 0;
	module->kept_loaded = false;
	module->state = MODULE_INITIALIZING;
	strcpy(module->file, search->file);
	free(search);

	module->next = loaded_modules;
	loaded_modules = module;
	*_module = module;
	return B_OK;
}

static void put_dependencies(struct loaded_module *module)
{
	while (module->dependencies_held > 0) {
		module->dependencies_held--;
		put_module_locked(module->dependencies[module->dependencies_held].name);
	}
}

static status_t get_dependencies(struct loaded_module *module)
{
	module_dependency *dependency = module->dependencies;

	for (; dependency != NULL && dependency->name != NULL; dependency++) {
		module_info *info;
		status_t status = get_module_locked(dependency->name, &info);

		if (status != B_OK) {
			dprintf("module: %s (%s): cannot get its dependency %s\n",
				module->info->name, module->file, dependency->name);
			put_dependencies(module);
			return status;
		}
		if (dependency->info != NULL)
			*dependency->info = info;
		module->dependencies_held++;
	}
	return B_OK;
}

static status_t init_module(struct loaded_module *module)
{
	status_t status = get_dependencies(module);

	if (status != B_OK)
		return status;
	if (module->info->std_ops != NULL) {
		status = module->info->std_ops(B_MODULE_INIT);
		if (status < B_OK) {
			put_dependencies(module);
			return status;
		}
	}
	module->state = MODULE_READY;
	if ((module->info->flags & B_KEEP_LOADED) != 0)
		module->kept_loaded = true;
	return B_OK;
}

/*
 * Like Haiku: a module that fails to uninitialise may still be in use by
 * what it set up, so it stays initialised and loaded for good (with its
 * dependencies), and can be got again without another init.
 */
static void uninit_module(struct loaded_module *module)
{
	module->state = MODULE_UNINITIALIZING;
	if (module->info->std_ops != NULL) {
		status_t status = module->info->std_ops(B_MODULE_UNINIT);

		if (status < B_OK) {
			dprintf("module: %s (%s) failed to uninitialise (%d); it stays loaded\n",
				module->info->name, module->file, (int)status);
			module->state = MODULE_READY;
			module->kept_loaded = true;
			return;
		}
	}
	put_dependencies(module);
	forget_module(module);
}

static status_t get_module_locked(const char *name, module_info **_info)
{
	struct loaded_module *module = find_loaded_module(name);
	status_t status;

	if (module != NULL && module->state != MODULE_READY) {
		dprintf("module: %s: get while it is %s\n", name,
			module->state == MODULE_INITIALIZING ? "initialising (circular init)"
							     : "uninitialising");
		return B_ERROR;
	}
	if (module == NULL) {
		status = check_module_name(name);
		if (status != B_OK)
			return status;
		status = load_module(name, &module);
		if (status != B_OK)
			return status;
		status = init_module(module);
		if (status != B_OK) {
			forget_module(module);
			return status;
		}
	}

	module->ref_count++;
	*_info = module->info;
	return B_OK;
}

static status_t put_module_locked(const char *name)
{
	struct loaded_module *module = find_loaded_module(name);

	if (module == NULL || module->state != MODULE_READY || module->ref_count == 0)
		return B_BAD_VALUE;
	module->ref_count--;
	if (module->ref_count == 0 && !module->kept_loaded)
		uninit_module(module);
	return B_OK;
}

status_t get_module(const char *path, module_info **_info)
{
	status_t status;

	if (path == NULL || _info == NULL)
		return B_BAD_VALUE;
	recursive_lock_lock(&module_lock);
	status = get_module_locked(path, _info);
	recursive_lock_unlock(&module_lock);
	return status;
}

status_t put_module(const char *path)
{
	status_t status;

	if (path == NULL)
		return B_BAD_VALUE;
	recursive_lock_lock(&module_lock);
	status = put_module_locked(path);
	recursive_lock_unlock(&module_lock);
	return status;
}
