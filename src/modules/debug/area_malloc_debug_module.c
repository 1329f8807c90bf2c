/*
 * area_malloc_debug_module.c - the debug build's module file.
 *
 * It exports two modules from one image, installed in place of the release
 * module's file (generic/area_malloc below debug_moduledir):
 *  - generic/area_malloc/v1, the same interface as the release build, every
 *    call checked (debug_pool.c);
 *  - generic/area_malloc/debug/v1, the companion module (area_malloc_debug.h);
 *  - generic/area_malloc/debug/v2, v1 and the reachability scan (the same
 *    header): scan_leaks and not_leak.
 *
 * B_MODULE_INIT (of whichever is got first) reads AREA_MALLOC_OPTIONS, sets
 * up the reporter, registers the kernel debugger commands and the exit
 * handler; the last B_MODULE_UNINIT reports and deletes the remaining pools
 * and undoes all that, so an unloaded module leaves nothing behind.
 *
 * Every entry point passes __builtin_return_address(0), the driver's
 * return address, down as the owner tag's caller.
 *
 * Locking: init_lock serialises the shared init/uninit of the two modules
 * (the module manager already holds its own lock; this keeps the file
 * correct on its own). Everything else: see debug_pool.c and report.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <KernelExport.h>
#include <drivers/area_malloc.h>
#include <drivers/area_malloc_debug.h>

#include "debug/debug_pool.h"
#include "debug/guarded.h"
#include "debug/leak_scan.h"
#include "format/options.h"
#include "debug/report.h"
#include "kernel/exit_hook.h"
#include "kernel/lock.h"
#include "node/node_commands.h"
#include "debug/node_writer.h"

static mutex init_lock = MUTEX_INITIALIZER("area_malloc debug init");
static int init_count;
static struct debug_options options;

#define RETURN_ADDRESS() ((uintptr_t)__builtin_return_address(0))

/* ---- generic/area_malloc/v1 ---- */

__attribute__((noinline)) static const void *dbg_create_pool(uint32 address_spec, size_t size,
	uint32 lock_spec, uint32 protection)
{
	return debug_create_pool(address_spec, size, lock_spec, protection, RETURN_ADDRESS());
}

__attribute__((noinline)) static status_t dbg_delete_pool(const void *pool_id)
{
	return debug_delete_pool(pool_id, RETURN_ADDRESS());
}

__attribute__((noinline)) static void *dbg_malloc(const void *pool_id, size_t size)
{
	return debug_malloc(pool_id, size, RETURN_ADDRESS());
}

__attribute__((noinline)) static void *dbg_calloc(const void *pool_id, size_t count, size_t size)
{
	return debug_calloc(pool_id, count, size, RETURN_ADDRESS());
}

__attribute__((noinline)) static void *dbg_realloc(const void *pool_id, void *ptr, size_t size)
{
	return debug_realloc(pool_id, ptr, size, RETURN_ADDRESS());
}

__attribute__((noinline)) static void *dbg_free(const void *pool_id, void *ptr)
{
	debug_free(pool_id, ptr, RETURN_ADDRESS());
	return NULL;
}

/* ---- generic/area_malloc/debug/v1 ---- */

static status_t companion_report_leaks(const void *pool_id, uint64 mark, size_t *bytes,
	size_t *blocks)
{
	return debug_report_leaks(pool_id, mark, mark != 0 ? "since the mark" : "when asked", bytes,
		blocks);
}

static area_malloc_report_hook companion_set_report_hook(area_malloc_report_hook hook, void *cookie)
{
	return reporter_set_hook(hook, cookie);
}

static uint64 companion_error_count(void)
{
	return reporter_error_count();
}

/* ---- generic/area_malloc/debug/v2 ---- */

/* The scan's entry: the module's frames below this one are no roots. */
__attribute__((noinline)) static status_t companion_scan_leaks(const void *pool_id,
	area_malloc_scan_result *result)
{
	/* the driver's values in callee-saved registers go into this frame */
	__builtin_unwind_init();
	return debug_scan_leaks(pool_id, result, "by scan", LEAK_SCAN_ENTRY_FLOOR());
}

/* ---- kernel debugger commands ---- */

static bool parse_pool_area(const char *command, const char *text, area_id *area)
{
	char *end;
	long value = strtol(text, &end, 0);

	if (*text == '\0' || *end != '\0' || value <= 0 || value > INT32_MAX) {
		kprintf("%s: \"%s\" is not a pool id (pool ids are area ids, as 'pools' lists)\n",
			command, text);
		return false;
	}
	*area = (area_id)value;
	return true;
}

/* Commands that take an optional pool id: "cmd [ID]" or "cmd pool ID". */
static bool optional_pool_argument(int argc, char **argv, area_id *area)
{
	*area = 0;
	if (argc == 1)
		return true;
	if (argc == 2)
		return parse_pool_area(argv[0], argv[1], area);
	if (argc == 3 && strcmp(argv[1], "pool") == 0)
		return parse_pool_area(argv[0], argv[2], area);
	kprintf("usage: %s [[pool] <pool id>]\n", argv[0]);
	return false;
}

static int command_pools(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		kprintf("usage: pools\n");
		return 2;
	}
	debug_print_pools(0);
	return 0;
}

static int command_pool(int argc, char **argv)
{
	area_id area;

	if (argc != 2) {
		kprintf("usage: %s <pool id>\n", argv[0]);
		return 2;
	}
	if (!parse_pool_area(argv[0], argv[1], &area))
		return 2;
	if (debug_print_pools(area) == 0) {
		kprintf("%s: no pool %d\n", argv[0], (int)area);
		return 2;
	}
	return 0;
}

static int command_check(int argc, char **argv)
{
	area_id area;
	int problems;

	if (!optional_pool_argument(argc, argv, &area))
		return 2;
	problems = debug_check_command(area);
	if (problems < 0) {
		kprintf("%s: no pool %d\n", argv[0], (int)area);
		return 2;
	}
	return problems != 0;
}

__attribute__((noinline)) static int command_scan(int argc, char **argv)
{
	area_id area;
	int lost;

	__builtin_unwind_init();
	if (!optional_pool_argument(argc, argv, &area))
		return 2;
	lost = debug_scan_command(area, LEAK_SCAN_ENTRY_FLOOR());
	if (lost < 0) {
		kprintf("%s: no pool %d\n", argv[0], (int)area);
		return 2;
	}
	return lost != 0;
}

static int command_leaks(int argc, char **argv)
{
	area_id area;

	if (!optional_pool_argument(argc, argv, &area))
		return 2;
	if (debug_leaks_command(area) == 0 && area != 0) {
		kprintf("%s: no pool %d\n", argv[0], (int)area);
		return 2;
	}
	return 0;
}

/*
 * allocations, allocations_per_caller, pool_log: the very implementations
 * pooldump runs, over this process's own node, printing through kprintf.
 * (pools, pool, check and leaks above work on the live pools instead, and
 * report through the module's reporter, so a report hook sees them.)
 */
static void print_through_kprintf(void *cookie, const char *text)
{
	(void)cookie;
	kprintf("%s", text);
}

static int command_from_node(int argc, char **argv)
{
	struct node_command_context context;

	if (!node_writer_active()) {
		kprintf("%s: this process has no debug node (option node=0, or it could not be "
			"created)\n",
			argv[0]);
		return 3;
	}
	memset(&context, 0, sizeof(context));
	context.node_dir = options.node_dir[0] != '\0' ? options.node_dir : NULL;
	context.pid = getpid();
	context.print = print_through_kprintf;
	return node_command_run(&context, argc, argv);
}

static const struct {
	const char *name;
	debugger_command_hook hook;
	const char *help;
} commands[] = {
	{ "pools", command_pools, "List area_malloc pools (debug build)" },
	{ "pool", command_pool, "Show one area_malloc pool: pool <pool id>" },
	{ "check", command_check, "Check canaries, poison and heap invariants: check [<pool id>]" },
	{ "leaks", command_leaks, "Report live blocks grouped by site: leaks [<pool id>]" },
	{ "scan", command_scan,
		"Report the blocks no pointer reaches (reachability scan): scan [<pool id>]" },
	{ "allocations", command_from_node,
		"allocations [pool ID] [thread TID] [caller ADDR|SYMBOL] [size MIN[-MAX]] [stats]" },
	{ "allocations_per_caller", command_from_node,
		"allocations_per_caller [-c] [pool ID]: live blocks grouped by caller" },
	{ "pool_log", command_from_node, "pool_log ID [N]: the last N events of a pool" },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

/* ---- life cycle ---- */

static int exit_handler(int status, void *context)
{
	(void)context;
	guarded_report_faults();
	debug_report_exit_leaks();
	debug_report_leaked_pools("at exit");
	reporter_print_totals();
	node_writer_stop(true);
	reporter_close_symbolizer();
	if (status == 0 && options.exitcode != 0 && reporter_error_count() > 0)
		return options.exitcode;
	return status;
}

static void warn_option(const char *message, void *context)
{
	(void)context;
	dprintf("%s\n", message);
}

static status_t module_init(void)
{
	debug_options_set_defaults(&options);
	debug_options_parse(getenv("AREA_MALLOC_OPTIONS"), &options, warn_option, NULL);
	reporter_init(&options);
	debug_pools_init(&options);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		add_debugger_command(commands[i].name, commands[i].hook, commands[i].help);
	if (!kernel_set_exit_handler(exit_handler, NULL))
		dprintf("area_malloc: another exit handler is registered; no exit-time leak check\n");
	return B_OK;
}

static void module_uninit(void)
{
	guarded_report_faults();
	debug_delete_all_pools("at unload");
	reporter_print_totals();
	node_writer_stop(false);
	debug_pools_fini();
	/* the process must still fail after the module is gone */
	if (options.exitcode != 0 && reporter_error_count() > 0)
		kernel_request_exit_status(options.exitcode);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		remove_debugger_command(commands[i].name, commands[i].hook);
	kernel_clear_exit_handler(exit_handler);
	reporter_fini();
}

/* Both modules share one init: the first to be got initialises, the last
 * to be put away uninitialises. */
static status_t std_ops(int32 op, ...)
{
	status_t status = B_OK;

	mutex_lock(&init_lock);
	switch (op) {
	case B_MODULE_INIT:
		if (init_count++ == 0)
			status = module_init();
		if (status != B_OK)
			init_count--;
		break;
	case B_MODULE_UNINIT:
		if (--init_count == 0)
			module_uninit();
		break;
	default:
		status = B_ERROR;
	}
	mutex_unlock(&init_lock);
	return status;
}

static area_malloc_module_info area_malloc_module = {
	.minfo = {
		.name = B_AREA_MALLOC_MODULE_NAME,
		.flags = 0,
		.std_ops = std_ops,
	},
	.create_pool = dbg_create_pool,
	.delete_pool = dbg_delete_pool,
	.malloc = dbg_malloc,
	.calloc = dbg_calloc,
	.realloc = dbg_realloc,
	.free = dbg_free,
};

/* The functions of the v1 interface, which v2 begins with. */
#define DEBUG_V1_FUNCTIONS                                                                         \
	.set_pool_name = debug_set_pool_name, .mark = debug_mark,                                  \
	.report_leaks = companion_report_leaks, .check_pool = debug_check_pool,                    \
	.get_pool_stats = debug_get_pool_stats, .set_report_hook = companion_set_report_hook,      \
	.error_count = companion_error_count

static area_malloc_debug_module_info area_malloc_debug_module = {
	.minfo = {
		.name = B_AREA_MALLOC_DEBUG_MODULE_NAME,
		.flags = 0,
		.std_ops = std_ops,
	},
	DEBUG_V1_FUNCTIONS,
};

/* The functions of the v2 interface, which v3 begins with, under name. */
#define DEBUG_V2_FUNCTIONS(module_name)                                                            \
	.v1 = { \
		.minfo = { .name = (module_name), .flags = 0, .std_ops = std_ops }, \
		DEBUG_V1_FUNCTIONS, \
	}, \
	.scan_leaks = companion_scan_leaks, \
	.not_leak = debug_not_leak

static area_malloc_debug_module_info_v2 area_malloc_debug_module_v2 = {
	DEBUG_V2_FUNCTIONS(B_AREA_MALLOC_DEBUG_V2_MODULE_NAME),
};

static area_malloc_debug_module_info_v3 area_malloc_debug_module_v3 = {
	.v2 = { DEBUG_V2_FUNCTIONS(B_AREA_MALLOC_DEBUG_V3_MODULE_NAME) },
	.set_pool_guard = guarded_set_pool_guard,
};

module_info *modules[] = {
	(module_info *)&area_malloc_module,
	(module_info *)&area_malloc_debug_module,
	(module_info *)&area_malloc_debug_module_v2,
	(module_info *)&area_malloc_debug_module_v3,
	NULL,
};
