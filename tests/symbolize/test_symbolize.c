/*
 * test_symbolize.c - Check suite for the caller symbolizer (src/format/symbolize.c).
 *
 * Role
 *   Symbolizes call sites whose function, file and line are known (probe.h):
 *   static functions of this executable (linked without -rdynamic, so they are
 *   in .symtab only), an exported and a static function of a C library and a
 *   C++ method of a C++ library, both dlopen()ed after the symbolizer was
 *   opened, libc's getpid, addresses that belong to no image, the post-mortem
 *   path (image records, also of a non-PIE process that has exited) and
 *   build-id mismatches. The libraries and the victim program are found in
 *   this test's build folder ($AREA_MALLOC_TEST_BUILDDIR/tests/symbolize, or
 *   the folder of this executable when run by hand).
 *
 * Invariants
 *   Every expected line comes from __LINE__ (PROBE_SITE, or the first/last
 *   line markers around static_probe), never from a number written here.
 *
 * Locking
 *   Only the threads TCase shares a symbolizer between threads.
 */
#include "config.h"

#include "format/symbolize.h"
#include "probe.h"
#include "support/check_main.h"

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLUGIN_LIBRARY ".libs/symbolize_plugin.so"
#define RING_LIBRARY ".libs/symbolize_ring.so"
#define VICTIM_PROGRAM "symbolize_victim"

enum { static_probe_first_line = __LINE__ + 1 };
__attribute__((noipa)) static void static_probe(struct probe_site *site)
{
	PROBE_SITE(site);
}
enum { static_probe_last_line = __LINE__ - 1 };

/* ---- Helpers ---- */

static bool is_file_named(const char *path, const char *name)
{
	size_t path_length = strlen(path), name_length = strlen(name);
	if (path_length < name_length || strcmp(path + path_length - name_length, name) != 0)
		return false;
	return path_length == name_length || path[path_length - name_length - 1] == '/';
}

static const char *executable_path(void)
{
	static char path[PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
	ck_assert_int_gt(length, 0);
	path[length] = '\0';
	return path;
}

static const char *executable_name(void)
{
	return strrchr(executable_path(), '/') + 1;
}

/* A file of this test's build folder. */
static void test_file(const char *name, char *path, size_t size)
{
	const char *builddir = getenv("AREA_MALLOC_TEST_BUILDDIR");
	int length;
	if (builddir != NULL && builddir[0] != '\0') {
		length = snprintf(path, size, "%s/tests/symbolize/%s", builddir, name);
	} else {
		const char *executable = executable_path();
		int folder_length = (int)(strrchr(executable, '/') - executable);
		length = snprintf(path, size, "%.*s/%s", folder_length, executable, name);
	}
	ck_assert_int_lt(length, (int)size);
}

static void *open_test_library(const char *name)
{
	char path[PATH_MAX];
	test_file(name, path, sizeof path);
	void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(library != NULL, "dlopen %s: %s", path, dlerror());
	return library;
}

static void *test_library_function(void *library, const char *name)
{
	void *function = dlsym(library, name);
	ck_assert_msg(function != NULL, "dlsym %s: %s", name, dlerror());
	return function;
}

/* The C library's own function, not an interceptor of the same name. */
static uintptr_t libc_function(const char *name)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(libc);
	uintptr_t function = (uintptr_t)dlsym(libc, name);
	dlclose(libc);
	ck_assert_uint_ne(function, 0);
	return function;
}

static void assert_symbolized_site(const struct symbol_info *info, const struct probe_site *site,
	const char *function, const char *image, const char *file)
{
	ck_assert_str_eq(info->function, function);
	ck_assert_str_eq(info->image, image);
	ck_assert_msg(is_file_named(info->file, file), "file %s is not %s", info->file, file);
	ck_assert_int_eq(info->line, site->line);
	ck_assert_int_eq(info->image_status, SYMBOL_IMAGE_OK);
	ck_assert_uint_eq(info->address, site->return_address);
	ck_assert_uint_gt(info->offset, 0);
	ck_assert_uint_lt(info->offset, 4096);
}

static void assert_same_symbol(const struct symbol_info *a, const struct symbol_info *b)
{
	ck_assert_str_eq(a->function, b->function);
	ck_assert_uint_eq(a->offset, b->offset);
	ck_assert_str_eq(a->image, b->image);
	ck_assert_str_eq(a->image_path, b->image_path);
	ck_assert_uint_eq(a->image_offset, b->image_offset);
	ck_assert_str_eq(a->file, b->file);
	ck_assert_int_eq(a->line, b->line);
	ck_assert_int_eq(a->image_status, b->image_status);
}

/* This process's image records, as the recorder writes them. */
static struct symbolizer_image_record *list_self_images(size_t *count)
{
	for (;;) {
		size_t wanted = symbolizer_list_self_images(NULL, 0);
		ck_assert_uint_gt(wanted, 0);
		struct symbolizer_image_record *records = calloc(wanted, sizeof *records);
		ck_assert_ptr_nonnull(records);
		*count = symbolizer_list_self_images(records, wanted);
		if (*count == wanted)
			return records;
		free(records); /* something was loaded in between */
	}
}

static struct symbolizer *open_records(const struct symbolizer_image_record *records, size_t count,
	bool keep_ranges)
{
	struct symbolizer_image *images = calloc(count, sizeof *images);
	ck_assert_ptr_nonnull(images);
	for (size_t i = 0; i < count; i++) {
		symbolizer_image_from_record(&records[i], &images[i]);
		if (!keep_ranges)
			images[i].start = images[i].end = 0;
	}
	struct symbolizer *symbolizer = symbolizer_open_images(images, count);
	free(images);
	ck_assert_ptr_nonnull(symbolizer);
	return symbolizer;
}

/* ---- The executable ---- */

START_TEST(test_static_function_call_site)
{
	ck_assert_ptr_null(dlsym(RTLD_DEFAULT, "static_probe")); /* .symtab only */
	struct probe_site site;
	static_probe(&site);
	struct symbolizer *symbolizer = symbolizer_open_self();
	ck_assert_ptr_nonnull(symbolizer);
	struct symbol_info info;
	ck_assert(symbolize(symbolizer, site.return_address, &info));
	assert_symbolized_site(&info, &site, "static_probe", executable_name(), "test_symbolize.c");
	ck_assert_uint_eq(info.offset, site.return_address - (uintptr_t)&static_probe);
	ck_assert_str_eq(info.image_path, executable_path());

	size_t count;
	struct symbolizer_image_record *records = list_self_images(&count);
	ck_assert_uint_eq(info.image_offset, site.return_address - records[0].load_bias);
	free(records);
	symbolizer_close(symbolizer);
}
END_TEST

START_TEST(test_static_function_entry)
{
	struct symbolizer *symbolizer = symbolizer_open_self();
	struct symbol_info info;
	ck_assert(symbolize_code_address(symbolizer, (uintptr_t)&static_probe, &info));
	ck_assert_str_eq(info.function, "static_probe");
	ck_assert_uint_eq(info.offset, 0);
	ck_assert_msg(is_file_named(info.file, "test_symbolize.c"), "file %s", info.file);
	ck_assert_int_ge(info.line, static_probe_first_line);
	ck_assert_int_le(info.line, static_probe_last_line);
	symbolizer_close(symbolizer);
}
END_TEST

/* What the reporter uses to find Check's tcase_name() in a statically linked suite. */
START_TEST(test_find_executable_function)
{
	struct symbolizer *symbolizer = symbolizer_open_self();
	ck_assert_uint_eq(symbolizer_find_executable_function(symbolizer, "static_probe"),
		(uintptr_t)&static_probe);
	ck_assert_uint_eq(symbolizer_find_executable_function(symbolizer, "tcase_name"),
		(uintptr_t)&tcase_name);
	ck_assert_uint_eq(symbolizer_find_executable_function(symbolizer, "no_such_function"), 0);
	ck_assert_uint_eq(symbolizer_find_executable_function(symbolizer, NULL), 0);
	ck_assert_uint_eq(symbolizer_find_executable_function(NULL, "static_probe"), 0);
	symbolizer_close(symbolizer);
}
END_TEST

START_TEST(test_format_of_known_site)
{
	struct probe_site site;
	static_probe(&site);
	struct symbolizer *symbolizer = symbolizer_open_self();
	struct symbol_info info;
	ck_assert(symbolize(symbolizer, site.return_address, &info));
	char expected[8192], text[8192];
	snprintf(expected, sizeof expected, "static_probe+0x%jx (%s) %s:%d", (uintmax_t)info.offset,
		executable_name(), info.file, site.line);
	ck_assert_str_eq(symbol_format(&info, text, sizeof text), expected);

	/* Cut to the buffer, always terminated. */
	char small[8];
	ck_assert_ptr_eq(symbol_format(&info, small, sizeof small), small);
	ck_assert_str_eq(small, "static_");
	small[0] = 'x';
	ck_assert_ptr_eq(symbol_format(&info, small, 0), small);
	ck_assert_int_eq(small[0], 'x');
	symbolizer_close(symbolizer);
}
END_TEST

START_TEST(test_open_self_is_lazy)
{
	/* Opening reads and opens nothing: no file descriptor appears. */
	DIR *before_dir = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(before_dir);
	int before = 0;
	while (readdir(before_dir) != NULL)
		before++;
	closedir(before_dir);
	struct symbolizer *symbolizer = symbolizer_open_self();
	ck_assert_ptr_nonnull(symbolizer);
	DIR *after_dir = opendir("/proc/self/fd");
	int after = 0;
	while (readdir(after_dir) != NULL)
		after++;
	closedir(after_dir);
	ck_assert_int_eq(after, before);
	symbolizer_close(symbolizer);
}
END_TEST

/* ---- Libraries loaded after the symbolizer was opened ---- */

typedef void plugin_probe_fn(struct probe_site *exported_site, struct probe_site *hidden_site);

START_TEST(test_library_loaded_later)
{
	struct symbolizer *symbolizer = symbolizer_open_self();
	struct probe_site own_site;
	static_probe(&own_site);
	struct symbol_info info;
	ck_assert(symbolize(symbolizer, own_site.return_address, &info)); /* images now listed */

	void *plugin = open_test_library(PLUGIN_LIBRARY);
	ck_assert_ptr_null(dlsym(plugin, "plugin_hidden_probe")); /* .symtab only */
	plugin_probe_fn *probe =
		(plugin_probe_fn *)test_library_function(plugin, "symbolize_plugin_probe");
	struct probe_site exported_site, hidden_site;
	probe(&exported_site, &hidden_site);

	ck_assert(symbolize(symbolizer, exported_site.return_address, &info));
	assert_symbolized_site(&info, &exported_site, "symbolize_plugin_probe",
		"symbolize_plugin.so", "plugin.c");
	ck_assert_uint_eq(info.offset, exported_site.return_address - (uintptr_t)probe);
	ck_assert(symbolize(symbolizer, hidden_site.return_address, &info));
	assert_symbolized_site(&info, &hidden_site, "plugin_hidden_probe", "symbolize_plugin.so",
		"plugin.c");
	char path[PATH_MAX];
	test_file(PLUGIN_LIBRARY, path, sizeof path);
	ck_assert_str_eq(info.image_path, path);

	/* Unloaded: its addresses no longer belong to it. */
	ck_assert_int_eq(dlclose(plugin), 0);
	symbolize(symbolizer, exported_site.return_address, &info);
	ck_assert_str_ne(info.image, "symbolize_plugin.so");
	ck_assert_str_ne(info.function, "symbolize_plugin_probe");

	/* Loaded again: found again. */
	plugin = open_test_library(PLUGIN_LIBRARY);
	probe = (plugin_probe_fn *)test_library_function(plugin, "symbolize_plugin_probe");
	probe(&exported_site, &hidden_site);
	ck_assert(symbolize(symbolizer, hidden_site.return_address, &info));
	assert_symbolized_site(&info, &hidden_site, "plugin_hidden_probe", "symbolize_plugin.so",
		"plugin.c");
	dlclose(plugin);
	symbolizer_close(symbolizer);
}
END_TEST

typedef int ring_probe_fn(struct probe_site *site);

static void assert_ring_push_demangled(void)
{
	struct symbolizer *symbolizer = symbolizer_open_self();
	void *ring = open_test_library(RING_LIBRARY);
	ring_probe_fn *probe = (ring_probe_fn *)test_library_function(ring, "drv_ring_probe");
	struct probe_site site;
	ck_assert_int_eq(probe(&site), 1);
	struct symbol_info info;
	ck_assert(symbolize(symbolizer, site.return_address, &info));
	assert_symbolized_site(&info, &site, "drv::Ring::push(int)", "symbolize_ring.so",
		"ring.cpp");
	symbolizer_close(symbolizer);
	dlclose(ring);
}

START_TEST(test_cxx_demangled_libstdcxx_local)
{
	/* libstdc++ is only in the library's local scope: the symbolizer loads it.
	 * (The sanitizer runtimes bring it into the global scope themselves.) */
#ifndef __SANITIZE_ADDRESS__
	ck_assert_ptr_null(dlsym(RTLD_DEFAULT, "__cxa_demangle"));
#endif
	assert_ring_push_demangled();
}
END_TEST

START_TEST(test_cxx_demangled_libstdcxx_global)
{
	void *libstdcxx = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL);
	ck_assert_ptr_nonnull(libstdcxx);
	ck_assert_ptr_nonnull(dlsym(RTLD_DEFAULT, "__cxa_demangle"));
	assert_ring_push_demangled();
	dlclose(libstdcxx);
}
END_TEST

/* ---- The C library ---- */

START_TEST(test_libc_function)
{
	uintptr_t getpid_address = libc_function("getpid");
	struct symbolizer *symbolizer = symbolizer_open_self();
	struct symbol_info info;
	ck_assert(symbolize_code_address(symbolizer, getpid_address, &info));
	ck_assert_msg(strstr(info.function, "getpid") != NULL, "function %s", info.function);
	ck_assert_uint_eq(info.offset, 0);
	ck_assert_msg(strstr(info.image, "libc") != NULL, "image %s", info.image);

	/* As a return address, the byte after getpid's first still is getpid. */
	ck_assert(symbolize(symbolizer, getpid_address + 1, &info));
	ck_assert_msg(strstr(info.function, "getpid") != NULL, "function %s", info.function);
	ck_assert_uint_eq(info.offset, 1);
	symbolizer_close(symbolizer);
}
END_TEST

/* ---- Addresses outside every image ---- */

static void assert_unknown(struct symbolizer *symbolizer, uintptr_t address)
{
	struct symbol_info info;
	char text[64], expected[64];
	snprintf(expected, sizeof expected, "0x%jx", (uintmax_t)address);
	ck_assert_msg(!symbolize(symbolizer, address, &info), "%#jx", (uintmax_t)address);
	ck_assert_str_eq(info.function, "");
	ck_assert_str_eq(info.image, "");
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_NONE);
	ck_assert_str_eq(symbol_format(&info, text, sizeof text), expected);
	ck_assert(!symbolize_code_address(symbolizer, address, &info));
	ck_assert_str_eq(info.function, "");
	ck_assert_str_eq(info.image, "");
}

START_TEST(test_addresses_in_no_image)
{
	struct symbolizer *symbolizer = symbolizer_open_self();
	void *anonymous =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(anonymous, MAP_FAILED);
	void *inaccessible = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(inaccessible, MAP_FAILED);
	int *heap = malloc(sizeof *heap);
	int stack = 0;

	const uintptr_t addresses[] = { 0, 1, 2, 4095, UINTPTR_MAX, UINTPTR_MAX - 1,
		(uintptr_t)0xffffffffff600000u /* vsyscall */, (uintptr_t)0xffff888000000000u,
		(uintptr_t)anonymous, (uintptr_t)anonymous + 17, (uintptr_t)inaccessible,
		(uintptr_t)heap, (uintptr_t)&stack };
	for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++)
		assert_unknown(symbolizer, addresses[i]);

	free(heap);
	munmap(anonymous, 4096);
	munmap(inaccessible, 4096);
	symbolizer_close(symbolizer);
}
END_TEST

START_TEST(test_vdso_has_no_file)
{
	uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
	if (vdso == 0)
		return; /* a kernel without a vDSO: nothing to look at */
	struct symbolizer *symbolizer = symbolizer_open_self();
	struct symbol_info info;
	ck_assert(!symbolize_code_address(symbolizer, vdso, &info));
	ck_assert_str_eq(info.image, "[vdso]");
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_IN_MEMORY);
	ck_assert_str_eq(info.function, "");
	char text[64], expected[64];
	snprintf(expected, sizeof expected, "0x%jx ([vdso]+0x%jx)", (uintmax_t)vdso,
		(uintmax_t)info.image_offset);
	ck_assert_str_eq(symbol_format(&info, text, sizeof text), expected);
	symbolizer_close(symbolizer);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct symbol_info info;
	ck_assert(!symbolize(NULL, (uintptr_t)&static_probe, &info));
	ck_assert_str_eq(info.function, "");
	struct symbolizer *symbolizer = symbolizer_open_self();
	ck_assert(!symbolize(symbolizer, (uintptr_t)&static_probe, NULL));
	symbolizer_close(symbolizer);
	symbolizer_close(NULL);

	char text[16] = "untouched";
	ck_assert_ptr_null(symbol_format(&info, NULL, 16));
	ck_assert_str_eq(symbol_format(NULL, text, sizeof text), "");

	errno = 0;
	ck_assert_ptr_null(symbolizer_open_images(NULL, 1));
	ck_assert_int_eq(errno, EINVAL);
	unsigned char long_id[SYMBOLIZER_BUILD_ID_MAX + 1] = { 0 };
	struct symbolizer_image image = { .path = executable_path(),
		.build_id = long_id,
		.build_id_size = sizeof long_id };
	errno = 0;
	ck_assert_ptr_null(symbolizer_open_images(&image, 1));
	ck_assert_int_eq(errno, EINVAL);

	/* No images at all: a valid symbolizer that knows nothing. */
	symbolizer = symbolizer_open_images(NULL, 0);
	ck_assert_ptr_nonnull(symbolizer);
	assert_unknown(symbolizer, (uintptr_t)&static_probe);
	symbolizer_close(symbolizer);
}
END_TEST

/* ---- Image records and post mortem ---- */

START_TEST(test_list_self_images)
{
	size_t count;
	struct symbolizer_image_record *records = list_self_images(&count);
	ck_assert_uint_ge(count, 3);

	/* The main program first, under its real path, with a build-id. */
	ck_assert_str_eq(records[0].path, executable_path());
	ck_assert_uint_gt(records[0].build_id_size, 0);
	ck_assert_uint_ge((uintptr_t)&static_probe, records[0].start);
	ck_assert_uint_lt((uintptr_t)&static_probe, records[0].end);

	bool libc_seen = false, vdso_seen = false;
	for (size_t i = 0; i < count; i++) {
		ck_assert_uint_eq(records[i].reserved, 0);
		ck_assert_uint_lt(records[i].start, records[i].end);
		ck_assert_uint_le(records[i].build_id_size, SYMBOLIZER_BUILD_ID_MAX);
		const char *name = strrchr(records[i].path, '/');
		if (name != NULL && strncmp(name + 1, "libc.so", 7) == 0) {
			libc_seen = true;
			ck_assert_uint_gt(records[i].build_id_size, 0);
			uintptr_t getpid_address = libc_function("getpid");
			ck_assert_uint_ge(getpid_address, records[i].start);
			ck_assert_uint_lt(getpid_address, records[i].end);
		}
		if (strcmp(records[i].path, "[vdso]") == 0) {
			vdso_seen = true;
			ck_assert_uint_eq(getauxval(AT_SYSINFO_EHDR), records[i].start);
		}
	}
	ck_assert(libc_seen);
	ck_assert(vdso_seen || getauxval(AT_SYSINFO_EHDR) == 0);

	/* Too short an array: the count says so, nothing is written past it. */
	struct symbolizer_image_record *short_records = calloc(count, sizeof *short_records);
	short_records[1].path[0] = 'x';
	ck_assert_uint_eq(symbolizer_list_self_images(short_records, 1), count);
	ck_assert_str_eq(short_records[0].path, executable_path());
	ck_assert_str_eq(short_records[1].path, "x");
	free(short_records);
	free(records);
}
END_TEST

static void assert_records_match_self(bool keep_ranges)
{
	void *plugin = open_test_library(PLUGIN_LIBRARY);
	plugin_probe_fn *probe =
		(plugin_probe_fn *)test_library_function(plugin, "symbolize_plugin_probe");
	struct probe_site own_site, exported_site, hidden_site;
	static_probe(&own_site);
	probe(&exported_site, &hidden_site);

	size_t count;
	struct symbolizer_image_record *records = list_self_images(&count);
	struct symbolizer *recorded = open_records(records, count, keep_ranges);
	struct symbolizer *self = symbolizer_open_self();

	const uintptr_t return_addresses[] = { own_site.return_address,
		exported_site.return_address, hidden_site.return_address,
		libc_function("getpid") + 1 };
	struct symbol_info from_records, from_self;
	for (size_t i = 0; i < sizeof return_addresses / sizeof return_addresses[0]; i++) {
		ck_assert(symbolize(recorded, return_addresses[i], &from_records));
		ck_assert(symbolize(self, return_addresses[i], &from_self));
		assert_same_symbol(&from_records, &from_self);
		ck_assert_str_ne(from_records.function, "");
	}
	ck_assert(symbolize_code_address(recorded, (uintptr_t)&static_probe, &from_records));
	ck_assert(symbolize_code_address(self, (uintptr_t)&static_probe, &from_self));
	assert_same_symbol(&from_records, &from_self);
	ck_assert(!symbolize(recorded, 1, &from_records));

	symbolizer_close(self);
	symbolizer_close(recorded);
	free(records);
	dlclose(plugin);
}

START_TEST(test_records_match_self)
{
	assert_records_match_self(true);
}
END_TEST

START_TEST(test_records_without_ranges_match_self)
{
	/* Ranges unknown (an older recorder): the files give them. */
	assert_records_match_self(false);
}
END_TEST

/* Runs the victim; returns what it printed. */
static void run_victim(const char *records_path, char *output, size_t size)
{
	char victim[PATH_MAX];
	test_file(VICTIM_PROGRAM, victim, sizeof victim);
	int pipe_ends[2];
	ck_assert_int_eq(pipe(pipe_ends), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipe_ends[1], STDOUT_FILENO);
		close(pipe_ends[0]);
		close(pipe_ends[1]);
		execl(victim, victim, records_path, (char *)NULL);
		_exit(127);
	}
	close(pipe_ends[1]);
	size_t used = 0;
	ssize_t got;
	while (used < size - 1 && (got = read(pipe_ends[0], output + used, size - 1 - used)) > 0)
		used += (size_t)got;
	output[used] = '\0';
	close(pipe_ends[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed: status %#x",
		victim, status);
}

START_TEST(test_dead_non_pie_process)
{
	char records_path[] = "/tmp/symbolize_records_XXXXXX";
	int records_fd = mkstemp(records_path);
	ck_assert_int_ge(records_fd, 0);
	close(records_fd);
	char output[8192];
	run_victim(records_path, output, sizeof output);

	uintmax_t address;
	int line, consumed = 0;
	ck_assert_int_eq(sscanf(output, "%jx %d %n", &address, &line, &consumed), 2);
	char *newline = strchr(output, '\n');
	ck_assert_ptr_nonnull(newline);
	*newline = '\0';
	const char *victim_text = output + consumed;

	FILE *file = fopen(records_path, "rb");
	ck_assert_ptr_nonnull(file);
	struct symbolizer_image_record *records = calloc(64, sizeof *records);
	size_t count = fread(records, sizeof *records, 64, file);
	fclose(file);
	unlink(records_path);
	ck_assert_uint_gt(count, 0);
	ck_assert_uint_lt(count, 64);
	ck_assert_uint_eq(records[0].load_bias, 0); /* non-PIE */
	ck_assert_msg(is_file_named(records[0].path, VICTIM_PROGRAM), "%s", records[0].path);

	struct symbolizer *symbolizer = open_records(records, count, true);
	struct symbol_info info;
	ck_assert(symbolize(symbolizer, (uintptr_t)address, &info));
	ck_assert_str_eq(info.function, "victim_probe");
	ck_assert_str_eq(info.image, VICTIM_PROGRAM);
	ck_assert_msg(is_file_named(info.file, "victim.c"), "file %s", info.file);
	ck_assert_int_eq(info.line, line);
	ck_assert_uint_eq(info.image_offset, address);
	char text[8192];
	ck_assert_str_eq(symbol_format(&info, text, sizeof text), victim_text);
	symbolizer_close(symbolizer);
	free(records);
}
END_TEST

/* ---- Files that are not the ones loaded ---- */

START_TEST(test_build_id_mismatch)
{
	struct probe_site site;
	static_probe(&site);
	size_t count;
	struct symbolizer_image_record *records = list_self_images(&count);
	struct symbolizer_image_record *executable = &records[0];
	ck_assert_uint_gt(executable->build_id_size, 0);
	executable->build_id[0] ^= 0xff;

	struct symbolizer *symbolizer = open_records(records, count, true);
	struct symbol_info info;
	ck_assert(!symbolize(symbolizer, site.return_address, &info));
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_BUILD_ID_MISMATCH);
	ck_assert_str_eq(info.function, "");
	ck_assert_str_eq(info.file, "");
	ck_assert_str_eq(info.image, executable_name());
	ck_assert_uint_eq(info.image_offset, site.return_address - executable->load_bias);
	char text[8192], expected[8192];
	snprintf(expected, sizeof expected, "0x%jx (%s+0x%jx, build-id mismatch)",
		(uintmax_t)site.return_address, executable_name(), (uintmax_t)info.image_offset);
	ck_assert_str_eq(symbol_format(&info, text, sizeof text), expected);

	/* The other images are still fine. */
	ck_assert(symbolize(symbolizer, libc_function("getpid") + 1, &info));
	symbolizer_close(symbolizer);

	/* A shorter id does not match either; no id at all trusts the file. */
	executable->build_id[0] ^= 0xff;
	executable->build_id_size--;
	symbolizer = open_records(records, count, true);
	ck_assert(!symbolize(symbolizer, site.return_address, &info));
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_BUILD_ID_MISMATCH);
	symbolizer_close(symbolizer);
	executable->build_id_size = 0;
	symbolizer = open_records(records, count, true);
	ck_assert(symbolize(symbolizer, site.return_address, &info));
	ck_assert_str_eq(info.function, "static_probe");
	symbolizer_close(symbolizer);
	free(records);
}
END_TEST

START_TEST(test_missing_file)
{
	static const unsigned char build_id[] = { 0x12, 0x34, 0x56, 0x78 };
	const struct symbolizer_image images[] = {
		{ .path = "/nonexistent/libgone.so",
			.load_bias = 0x10000000,
			.start = 0x10000000,
			.end = 0x10004000,
			.build_id = build_id,
			.build_id_size = sizeof build_id },
		{ .path = "/nonexistent/libgone-norange.so", .load_bias = 0x20000000 },
		{ .path = "/proc/self/status",
			.load_bias = 0x30000000,
			.start = 0x30000000,
			.end = 0x30001000 }, /* there, but not ELF */
	};
	struct symbolizer *symbolizer = symbolizer_open_images(images, 3);
	ck_assert_ptr_nonnull(symbolizer);
	struct symbol_info info;
	ck_assert(!symbolize(symbolizer, 0x10001235, &info));
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_MISSING);
	ck_assert_str_eq(info.image, "libgone.so");
	ck_assert_str_eq(info.image_path, "/nonexistent/libgone.so");
	ck_assert_uint_eq(info.image_offset, 0x1235);
	char text[256];
	ck_assert_str_eq(symbol_format(&info, text, sizeof text),
		"0x10001235 (libgone.so+0x1235, file missing)");

	/* Without a range nor a file, an image cannot own an address. */
	ck_assert(!symbolize(symbolizer, 0x20000010, &info));
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_NONE);

	ck_assert(!symbolize(symbolizer, 0x30000010, &info));
	ck_assert_int_eq(info.image_status, SYMBOL_IMAGE_MISSING);
	ck_assert_str_eq(info.image, "status");
	symbolizer_close(symbolizer);
}
END_TEST

/* ---- Threads ---- */

#define THREADS 4
#define ROUNDS 50

struct thread_work {
	struct symbolizer *symbolizer;
	const uintptr_t *addresses;
	const struct symbol_info *expected;
	size_t count;
	int mismatches;
};

static void *symbolize_repeatedly(void *argument)
{
	struct thread_work *work = argument;
	struct symbol_info info;
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < work->count; i++) {
			size_t which = (i + (size_t)round) % work->count;
			symbolize(work->symbolizer, work->addresses[which], &info);
			if (strcmp(info.function, work->expected[which].function) != 0
				|| info.line != work->expected[which].line
				|| strcmp(info.image, work->expected[which].image) != 0)
				work->mismatches++;
		}
	}
	return NULL;
}

/* Where every stack passes: a ready-made "leak:" line never names one of
 * these (a pattern matches any frame, so "leak:main" would hide every
 * leak), and functions that only contain such a name are not among them. */
START_TEST(test_program_entries)
{
	static const char *const entries[] = { "main", "_start", "__libc_start_main",
		"__libc_start_main@@GLIBC_2.34", "__libc_start_call_main" };
	static const char *const others[] = { "", "mainloop", "domain_alloc", "rx_main",
		"_start_rx", "__libc_start", "Main" };

	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		ck_assert_msg(symbol_is_program_entry(entries[i]), "%s", entries[i]);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		ck_assert_msg(!symbol_is_program_entry(others[i]), "%s", others[i]);
}
END_TEST

START_TEST(test_threads_share_a_symbolizer)
{
	struct probe_site site;
	static_probe(&site);
	void *plugin = open_test_library(PLUGIN_LIBRARY);
	plugin_probe_fn *probe =
		(plugin_probe_fn *)test_library_function(plugin, "symbolize_plugin_probe");
	struct probe_site exported_site, hidden_site;
	probe(&exported_site, &hidden_site);
	const uintptr_t addresses[] = { site.return_address, exported_site.return_address,
		hidden_site.return_address, libc_function("getpid") + 1, 1 };
	enum { address_count = sizeof addresses / sizeof addresses[0] };
	struct symbol_info *expected = calloc(address_count, sizeof *expected);
	struct symbolizer *reference = symbolizer_open_self();
	for (size_t i = 0; i < address_count; i++)
		symbolize(reference, addresses[i], &expected[i]);
	symbolizer_close(reference);
	ck_assert_str_eq(expected[0].function, "static_probe");

	/* A fresh symbolizer: the threads race to list and open the images. */
	struct symbolizer *shared = symbolizer_open_self();
	pthread_t threads[THREADS];
	struct thread_work work[THREADS];
	for (int i = 0; i < THREADS; i++) {
		work[i] = (struct thread_work){ .symbolizer = shared,
			.addresses = addresses,
			.expected = expected,
			.count = address_count };
		ck_assert_int_eq(pthread_create(&threads[i], NULL, symbolize_repeatedly, &work[i]),
			0);
	}
	for (int i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
		ck_assert_int_eq(work[i].mismatches, 0);
	}
	symbolizer_close(shared);
	free(expected);
	dlclose(plugin);
}
END_TEST

static Suite *symbolize_suite(void)
{
	Suite *suite = suite_create("symbolize");

	TCase *executable = tcase_create("executable");
	tcase_add_test(executable, test_static_function_call_site);
	tcase_add_test(executable, test_static_function_entry);
	tcase_add_test(executable, test_find_executable_function);
	tcase_add_test(executable, test_format_of_known_site);
	tcase_add_test(executable, test_open_self_is_lazy);
	suite_add_tcase(suite, executable);

	TCase *libraries = tcase_create("libraries");
	tcase_add_test(libraries, test_library_loaded_later);
	tcase_add_test(libraries, test_cxx_demangled_libstdcxx_local);
	tcase_add_test(libraries, test_cxx_demangled_libstdcxx_global);
	tcase_add_test(libraries, test_libc_function);
	suite_add_tcase(suite, libraries);

	TCase *unknown = tcase_create("unknown_addresses");
	tcase_add_test(unknown, test_addresses_in_no_image);
	tcase_add_test(unknown, test_vdso_has_no_file);
	tcase_add_test(unknown, test_bad_arguments);
	tcase_add_test(unknown, test_program_entries);
	suite_add_tcase(suite, unknown);

	TCase *post_mortem = tcase_create("post_mortem");
	tcase_add_test(post_mortem, test_list_self_images);
	tcase_add_test(post_mortem, test_records_match_self);
	tcase_add_test(post_mortem, test_records_without_ranges_match_self);
	tcase_add_test(post_mortem, test_dead_non_pie_process);
	suite_add_tcase(suite, post_mortem);

	TCase *wrong_files = tcase_create("wrong_files");
	tcase_add_test(wrong_files, test_build_id_mismatch);
	tcase_add_test(wrong_files, test_missing_file);
	suite_add_tcase(suite, wrong_files);

	TCase *threads = tcase_create("threads");
	tcase_add_test(threads, test_threads_share_a_symbolizer);
	suite_add_tcase(suite, threads);
	return suite;
}

int main(void)
{
	return run_check_suite(symbolize_suite(), CK_FORK_GETENV);
}
