/*
 * symbolize.c - code addresses to function+offset, image and file:line, over
 * elfutils' libdwfl.
 *
 * Role
 *   Names the callers that the debug build of area_malloc reports and that
 *   pooldump dumps, in the running process or post mortem (see symbolize.h).
 *   It keeps a table of the process's images (path, load bias, mapped range,
 *   build-id); libdwfl does all reading of ELF and DWARF, one Dwfl session per
 *   image, opened the first time an address falls inside that image.
 *
 * Invariants
 *   - Addresses are only compared with image ranges, never dereferenced. The
 *     one read of process memory is the PT_NOTE segments of loaded images
 *     (for build-ids), and only where a readable PT_LOAD segment covers them.
 *   - image->dwfl is non-NULL exactly when image->status is SYMBOL_IMAGE_OK:
 *     names are only ever taken from a file whose build-id matched the
 *     recorded one (or that had none recorded).
 *   - A symbolizer that follows the running process lists its images again
 *     only when the loader's dlpi_adds/dlpi_subs counters moved since the last
 *     listing; images that are still loaded keep their open Dwfl session.
 *   - No global state and no constructors: the code is linked into a dlopen'ed
 *     module as well as into programs. The C++ demangler is looked up once per
 *     symbolizer, never linked.
 *
 * Locking
 *   symbolizer->lock guards everything in a symbolizer, libdwfl calls included
 *   (a Dwfl session is not thread-safe). It is taken before the loader's locks
 *   (dl_iterate_phdr, dlopen of libstdc++), never after.
 */
#include "config.h"

#include "format/symbolize.h"
#include "format/safe_file.h"
#include "format/utf8.h"

#include <dlfcn.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

_Static_assert(sizeof(struct symbolizer_image_record)
		== 3 * sizeof(uint64_t) + 2 * sizeof(uint32_t) + SYMBOLIZER_BUILD_ID_MAX
			+ SYMBOLIZER_PATH_MAX,
	"an image record has no padding: it is written to files as is");

/* Images without a file are named like /proc/PID/maps names them. */
#define VDSO_IMAGE_PATH "[vdso]"

struct image {
	char *path; /* as loaded; "[...]" for an image without a file */
	uintptr_t load_bias;
	uintptr_t start, end; /* [start, end) in the process; end == 0: not known yet */
	unsigned char build_id[SYMBOLIZER_BUILD_ID_MAX];
	size_t build_id_size; /* 0: none recorded, the file is trusted */
	bool file_examined;
	enum symbol_image_status status; /* meaningful once file_examined */
	Dwfl *dwfl;                      /* only while status == SYMBOL_IMAGE_OK */
	Dwfl_Module *module;
};

typedef char *(*cxa_demangle_fn)(const char *mangled, char *buffer, size_t *length, int *status);

struct symbolizer {
	pthread_mutex_t lock;
	bool follows_self; /* symbolizer_open_self(): images come from the loader */
	bool listed;       /* follows_self: images match loader_adds/loader_subs */
	unsigned long long loader_adds, loader_subs;
	bool ranges_complete; /* every image whose range can be known has it */
	struct image *images;
	size_t image_count;
	bool demangler_resolved;
	cxa_demangle_fn demangle;
	void *libstdcxx; /* our dlopen handle on libstdc++, when we needed one */
};

/*
 * Image paths may come from a node file another user wrote (data, never
 * control: area_malloc_debug(7), SECURITY), so libdwfl opens nothing by
 * path on its own: the image is opened here (safe_open_regular: a regular
 * file, without blocking; a FIFO or a device named there is refused, never
 * waited on or opened) and handed over by descriptor, and separate debug
 * files are looked for by this file's find_debuginfo, which opens the
 * standard candidates the same way: /usr/lib/debug/.build-id/xx/rest.debug,
 * then the .gnu_debuglink name beside the image, in its .debug directory
 * and under /usr/lib/debug. (elfutils' own search would also ask a
 * debuginfod server when DEBUGINFOD_URLS names one: not done here.)
 */
#define DEBUG_ROOT "/usr/lib/debug"
/* An ELF file or debug file larger than this is not read. */
#define IMAGE_MAX_BYTES ((off_t)1 << 34)

static int open_debug_candidate(const char *path, char **found)
{
	char why[256];
	int fd = safe_open_regular(path, IMAGE_MAX_BYTES, why, sizeof(why));

	if (fd >= 0 && found != NULL)
		*found = strdup(path);
	return fd;
}

static int find_debuginfo_safely(Dwfl_Module *module, void **userdata, const char *module_name,
	Dwarf_Addr base, const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
	char **debuginfo_file_name)
{
	const unsigned char *build_id = NULL;
	GElf_Addr build_id_address;
	char path[SYMBOLIZER_PATH_MAX + 64], dir[SYMBOLIZER_PATH_MAX];
	int build_id_size, fd;

	(void)userdata;
	(void)module_name;
	(void)base;
	(void)debuglink_crc;
	build_id_size = dwfl_module_build_id(module, &build_id, &build_id_address);
	if (build_id_size > 1 && build_id_size <= 64) {
		int used = snprintf(path, sizeof(path), DEBUG_ROOT "/.build-id/%02x/", build_id[0]);
		for (int i = 1; i < build_id_size; i++)
			used += snprintf(path + used, sizeof(path) - (size_t)used, "%02x",
				build_id[i]);
		snprintf(path + used, sizeof(path) - (size_t)used, ".debug");
		if ((fd = open_debug_candidate(path, debuginfo_file_name)) >= 0)
			return fd;
	}
	if (debuglink_file == NULL || file_name == NULL || strchr(debuglink_file, '/') != NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s", file_name);
	if (strrchr(dir, '/') != NULL)
		*strrchr(dir, '/') = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(path, sizeof(path), "%s/%s", dir, debuglink_file);
	if (strcmp(path, file_name) != 0
		&& (fd = open_debug_candidate(path, debuginfo_file_name)) >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/.debug/%s", dir, debuglink_file);
	if ((fd = open_debug_candidate(path, debuginfo_file_name)) >= 0)
		return fd;
	snprintf(path, sizeof(path), DEBUG_ROOT "%s/%s", dir[0] == '/' ? dir : "", debuglink_file);
	return open_debug_candidate(path, debuginfo_file_name);
}

/* No module is reported by name alone: every image is opened here. */
static int find_elf_never(Dwfl_Module *module, void **userdata, const char *module_name,
	Dwarf_Addr base, char **file_name, Elf **elfp)
{
	(void)module;
	(void)userdata;
	(void)module_name;
	(void)base;
	(void)file_name;
	*elfp = NULL;
	return -1;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf_never,
	.find_debuginfo = find_debuginfo_safely,
	.section_address = dwfl_offline_section_address,
};

static void copy_string(char *dest, size_t size, const char *src)
{
	size_t length = strnlen(src, size - 1);
	memcpy(dest, src, length);
	dest[length] = '\0';
}

static const char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* ---- The loaded images of this process ---- */

struct loader_listing {
	struct symbolizer_image_record *records;
	size_t max;
	size_t count;       /* images listed (may exceed max) */
	size_t visited;     /* objects the loader showed */
	bool counters_only; /* stop after reading the counters */
	bool counters_valid;
	unsigned long long adds, subs;
	char executable_path[SYMBOLIZER_PATH_MAX];
	uintptr_t vdso_header;
	uintptr_t page_size;
};

/* True when [vaddr, vaddr + size) of the image is inside a readable PT_LOAD. */
static bool image_memory_readable(const struct dl_phdr_info *info, ElfW(Addr) vaddr, size_t size)
{
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
		if (segment->p_type == PT_LOAD && (segment->p_flags & PF_R)
			&& vaddr >= segment->p_vaddr && size <= segment->p_memsz
			&& vaddr - segment->p_vaddr <= segment->p_memsz - size)
			return true;
	}
	return false;
}

static size_t round_up(size_t value, size_t alignment)
{
	return (value + alignment - 1) & ~(alignment - 1);
}

/* The NT_GNU_BUILD_ID note of a loaded image, from its PT_NOTE segments. */
static void read_loaded_build_id(const struct dl_phdr_info *info,
	struct symbolizer_image_record *record)
{
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
		if (segment->p_type != PT_NOTE
			|| !image_memory_readable(info, segment->p_vaddr, segment->p_memsz))
			continue;
		const unsigned char *notes =
			(const unsigned char *)(info->dlpi_addr + segment->p_vaddr);
		size_t size = segment->p_memsz;
		size_t alignment = segment->p_align == 8 ? 8 : 4;
		size_t at = 0;
		while (at <= size && size - at >= sizeof(ElfW(Nhdr))) {
			ElfW(Nhdr) note;
			memcpy(&note, notes + at, sizeof note);
			size_t name_at = at + sizeof note;
			size_t desc_at = name_at + round_up(note.n_namesz, alignment);
			if (desc_at > size || note.n_descsz > size - desc_at)
				break;
			if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == sizeof "GNU"
				&& memcmp(notes + name_at, "GNU", sizeof "GNU") == 0
				&& note.n_descsz > 0 && note.n_descsz <= SYMBOLIZER_BUILD_ID_MAX) {
				memcpy(record->build_id, notes + desc_at, note.n_descsz);
				record->build_id_size = note.n_descsz;
				return;
			}
			at = desc_at + round_up(note.n_descsz, alignment);
		}
	}
}

static void describe_loaded_image(const struct dl_phdr_info *info,
	const struct loader_listing *listing, const char *path,
	struct symbolizer_image_record *record)
{
	memset(record, 0, sizeof *record);
	uintptr_t low = UINTPTR_MAX, high = 0;
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
		if (segment->p_type != PT_LOAD)
			continue;
		uintptr_t segment_start = info->dlpi_addr + segment->p_vaddr;
		if (segment_start < low)
			low = segment_start;
		if (segment_start + segment->p_memsz > high)
			high = segment_start + segment->p_memsz;
	}
	record->load_bias = info->dlpi_addr;
	if (high > low) {
		record->start = low & ~(listing->page_size - 1);
		record->end = high;
	}
	if (listing->vdso_header != 0 && listing->vdso_header >= record->start
		&& listing->vdso_header < record->end)
		path = VDSO_IMAGE_PATH;
	copy_string(record->path, sizeof record->path, path);
	read_loaded_build_id(info, record);
}

static int list_loaded_image(struct dl_phdr_info *info, size_t size, void *data)
{
	struct loader_listing *listing = data;
	bool first = listing->visited++ == 0;
	if (first && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		listing->adds = info->dlpi_adds;
		listing->subs = info->dlpi_subs;
		listing->counters_valid = true;
	}
	if (listing->counters_only)
		return 1;
	/* The main program is the one object the loader lists without a name. */
	const char *path = info->dlpi_name;
	if (path == NULL || path[0] == '\0') {
		if (!first)
			return 0;
		path = listing->executable_path;
	}
	if (info->dlpi_phnum == 0)
		return 0;
	if (listing->count < listing->max)
		describe_loaded_image(info, listing, path, &listing->records[listing->count]);
	listing->count++;
	return 0;
}

static void list_loaded_images(struct loader_listing *listing)
{
	ssize_t length = readlink("/proc/self/exe", listing->executable_path,
		sizeof listing->executable_path - 1);
	listing->executable_path[length > 0 ? length : 0] = '\0';
	listing->vdso_header = getauxval(AT_SYSINFO_EHDR);
	long page_size = sysconf(_SC_PAGESIZE);
	listing->page_size = page_size > 0 ? (uintptr_t)page_size : 4096;
	dl_iterate_phdr(list_loaded_image, listing);
}

size_t symbolizer_list_self_images(struct symbolizer_image_record *records, size_t max)
{
	struct loader_listing listing = { .records = records, .max = records ? max : 0 };
	list_loaded_images(&listing);
	return listing.count;
}

void symbolizer_image_from_record(const struct symbolizer_image_record *record,
	struct symbolizer_image *image)
{
	*image = (struct symbolizer_image){
		.path = record->path,
		.load_bias = (uintptr_t)record->load_bias,
		.start = (uintptr_t)record->start,
		.end = (uintptr_t)record->end,
		.build_id = record->build_id,
		.build_id_size = record->build_id_size <= SYMBOLIZER_BUILD_ID_MAX
			? record->build_id_size
			: SYMBOLIZER_BUILD_ID_MAX + 1, /* refused by the opener */
	};
}

/* ---- The image table ---- */

static void release_images(struct image *images, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (images[i].dwfl)
			dwfl_end(images[i].dwfl);
		free(images[i].path);
	}
	free(images);
}

/* Copies a description into a table; NULL with errno set on failure. */
static struct image *make_images(const struct symbolizer_image *descriptions, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (descriptions[i].build_id_size > SYMBOLIZER_BUILD_ID_MAX
			|| (descriptions[i].build_id_size > 0
				&& descriptions[i].build_id == NULL)) {
			errno = EINVAL;
			return NULL;
		}
	}
	struct image *images = calloc(count ? count : 1, sizeof *images);
	if (images == NULL)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		const struct symbolizer_image *description = &descriptions[i];
		struct image *image = &images[i];
		image->path = strdup(description->path ? description->path : "");
		if (image->path == NULL) {
			release_images(images, i);
			errno = ENOMEM;
			return NULL;
		}
		image->load_bias = description->load_bias;
		if (description->end > description->start) {
			image->start = description->start;
			image->end = description->end;
		}
		image->build_id_size = description->build_id_size;
		if (image->build_id_size > 0)
			memcpy(image->build_id, description->build_id, image->build_id_size);
	}
	return images;
}

static bool same_image(const struct image *a, const struct image *b)
{
	return a->load_bias == b->load_bias && a->start == b->start && a->end == b->end
		&& a->build_id_size == b->build_id_size
		&& memcmp(a->build_id, b->build_id, a->build_id_size) == 0
		&& strcmp(a->path, b->path) == 0;
}

/* Opens the image's file with libdwfl and checks it is the one recorded. */
static void examine_image_file(struct image *image)
{
	image->file_examined = true;
	if (image->path[0] == '[') {
		image->status = SYMBOL_IMAGE_IN_MEMORY;
		return;
	}
	image->status = SYMBOL_IMAGE_MISSING;
	if (image->path[0] == '\0')
		return;
	Dwfl *dwfl = dwfl_begin(&dwfl_callbacks);
	if (dwfl == NULL)
		return;
	dwfl_report_begin(dwfl);
	char why[SYMBOLIZER_PATH_MAX + 64];
	int fd = safe_open_regular(image->path, IMAGE_MAX_BYTES, why, sizeof(why));
	if (fd < 0) {
		dwfl_end(dwfl);
		return;
	}
	/* the descriptor is libdwfl's from a successful report on */
	Dwfl_Module *module = dwfl_report_elf(dwfl, path_basename(image->path), image->path, fd,
		image->load_bias, false);
	if (module == NULL)
		close(fd);
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 || module == NULL) {
		dwfl_end(dwfl);
		return;
	}
	Dwarf_Addr low = 0, high = 0;
	dwfl_module_info(module, NULL, &low, &high, NULL, NULL, NULL, NULL);
	if (image->end == 0 && high > low) {
		image->start = low;
		image->end = high;
	}
	if (image->build_id_size > 0) {
		const unsigned char *file_build_id = NULL;
		GElf_Addr note_address;
		int file_build_id_size =
			dwfl_module_build_id(module, &file_build_id, &note_address);
		if (file_build_id_size != (int)image->build_id_size
			|| memcmp(file_build_id, image->build_id, image->build_id_size) != 0) {
			dwfl_end(dwfl);
			image->status = SYMBOL_IMAGE_BUILD_ID_MISMATCH;
			return;
		}
	}
	image->dwfl = dwfl;
	image->module = module;
	image->status = SYMBOL_IMAGE_OK;
}

/* Reads the loader's counters without listing anything. */
static bool read_loader_counters(unsigned long long *adds, unsigned long long *subs)
{
	struct loader_listing listing = { .counters_only = true };
	dl_iterate_phdr(list_loaded_image, &listing);
	*adds = listing.adds;
	*subs = listing.subs;
	return listing.counters_valid;
}

/* Lists this process's images again if the loader loaded or unloaded any since
 * the last listing. On failure (out of memory) the old table stays. */
static void refresh_self_images(struct symbolizer *symbolizer)
{
	unsigned long long adds, subs;
	if (symbolizer->listed && read_loader_counters(&adds, &subs)
		&& adds == symbolizer->loader_adds && subs == symbolizer->loader_subs)
		return;

	struct loader_listing listing = { .max = 32 };
	for (;;) {
		listing.records = malloc(listing.max * sizeof *listing.records);
		if (listing.records == NULL)
			return;
		listing.count = 0;
		listing.visited = 0;
		listing.counters_valid = false;
		list_loaded_images(&listing);
		if (listing.count <= listing.max)
			break;
		listing.max = listing.count + 8;
		free(listing.records);
	}

	struct symbolizer_image *descriptions =
		calloc(listing.count ? listing.count : 1, sizeof *descriptions);
	struct image *images = NULL;
	if (descriptions != NULL) {
		for (size_t i = 0; i < listing.count; i++)
			symbolizer_image_from_record(&listing.records[i], &descriptions[i]);
		images = make_images(descriptions, listing.count);
	}
	free(descriptions);
	free(listing.records);
	if (images == NULL)
		return;

	/* Images still loaded keep what was learnt about them (and their Dwfl). */
	for (size_t i = 0; i < listing.count; i++) {
		for (size_t j = 0; j < symbolizer->image_count; j++) {
			struct image *old = &symbolizer->images[j];
			if (old->file_examined && same_image(&images[i], old)) {
				images[i].file_examined = true;
				images[i].status = old->status;
				images[i].dwfl = old->dwfl;
				images[i].module = old->module;
				old->dwfl = NULL;
				break;
			}
		}
	}
	release_images(symbolizer->images, symbolizer->image_count);
	symbolizer->images = images;
	symbolizer->image_count = listing.count;
	symbolizer->listed = listing.counters_valid;
	symbolizer->loader_adds = listing.adds;
	symbolizer->loader_subs = listing.subs;
	symbolizer->ranges_complete = true;
}

static struct image *find_image(struct symbolizer *symbolizer, uintptr_t address)
{
	if (!symbolizer->ranges_complete) {
		/* Recorded without ranges: the files tell where the images end. */
		for (size_t i = 0; i < symbolizer->image_count; i++) {
			if (symbolizer->images[i].end == 0 && !symbolizer->images[i].file_examined)
				examine_image_file(&symbolizer->images[i]);
		}
		symbolizer->ranges_complete = true;
	}
	for (size_t i = 0; i < symbolizer->image_count; i++) {
		struct image *image = &symbolizer->images[i];
		if (image->end != 0 && address >= image->start && address < image->end)
			return image;
	}
	return NULL;
}

/* ---- Names ---- */

static cxa_demangle_fn find_demangler(struct symbolizer *symbolizer)
{
	if (symbolizer->demangler_resolved)
		return symbolizer->demangle;
	symbolizer->demangler_resolved = true;
	void *found = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (found == NULL) {
		symbolizer->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
		if (symbolizer->libstdcxx != NULL)
			found = dlsym(symbolizer->libstdcxx, "__cxa_demangle");
	}
	symbolizer->demangle = (cxa_demangle_fn)found;
	return symbolizer->demangle;
}

/* Demangles C++ names, keeping a symbol version ("@GLIBCXX_3.4") as it is. */
static void copy_function_name(struct symbolizer *symbolizer, const char *name, char *dest,
	size_t size)
{
	cxa_demangle_fn demangle = strncmp(name, "_Z", 2) == 0 ? find_demangler(symbolizer) : NULL;
	if (demangle != NULL) {
		const char *version = strchr(name, '@');
		char *unversioned = version ? strndup(name, (size_t)(version - name)) : NULL;
		int status = -1;
		char *demangled = version && !unversioned
			? NULL
			: demangle(unversioned ? unversioned : name, NULL, NULL, &status);
		free(unversioned);
		if (demangled != NULL && status == 0) {
			snprintf(dest, size, "%s%s", demangled, version ? version : "");
			free(demangled);
			return;
		}
		free(demangled);
	}
	copy_string(dest, size, name);
}

/* The image holding address, its file examined (once), or NULL; with the
 * symbolizer's lock held. A symbolizer that follows this process first
 * learns of the images loaded since its last question. */
static struct image *examined_image_locked(struct symbolizer *symbolizer, uintptr_t address)
{
	if (symbolizer->follows_self)
		refresh_self_images(symbolizer);
	struct image *image = find_image(symbolizer, address);
	if (image != NULL && !image->file_examined)
		examine_image_file(image);
	return image;
}

/* address is what the caller has; lookup the instruction that names it. */
static bool symbolize_at(struct symbolizer *symbolizer, uintptr_t address, uintptr_t lookup,
	struct symbol_info *out)
{
	if (out == NULL)
		return false;
	memset(out, 0, sizeof *out);
	out->address = address;
	if (symbolizer == NULL)
		return false;

	pthread_mutex_lock(&symbolizer->lock);
	struct image *image = examined_image_locked(symbolizer, lookup);
	if (image != NULL) {
		copy_string(out->image, sizeof out->image, path_basename(image->path));
		copy_string(out->image_path, sizeof out->image_path, image->path);
		out->image_offset = address - image->load_bias;
		out->image_status = image->status;
	}
	if (out->image_status == SYMBOL_IMAGE_OK) {
		GElf_Off symbol_offset = 0;
		GElf_Sym symbol;
		const char *name = dwfl_module_addrinfo(image->module, lookup, &symbol_offset,
			&symbol, NULL, NULL, NULL);
		if (name != NULL && name[0] != '\0') {
			copy_function_name(symbolizer, name, out->function, sizeof out->function);
			out->offset = address - (lookup - symbol_offset);
		}
		Dwfl_Line *line = dwfl_module_getsrc(image->module, lookup);
		int line_number = 0;
		const char *file =
			line ? dwfl_lineinfo(line, NULL, &line_number, NULL, NULL, NULL) : NULL;
		if (file != NULL) {
			copy_string(out->file, sizeof out->file, file);
			out->line = line_number;
		}
	}
	pthread_mutex_unlock(&symbolizer->lock);
	return out->image_status == SYMBOL_IMAGE_OK;
}

bool symbolize(struct symbolizer *symbolizer, uintptr_t address, struct symbol_info *out)
{
	/* 0 is no return address; looking up 0 finds no image either. */
	return symbolize_at(symbolizer, address, address ? address - 1 : 0, out);
}

bool symbolize_code_address(struct symbolizer *symbolizer, uintptr_t address,
	struct symbol_info *out)
{
	return symbolize_at(symbolizer, address, address, out);
}

/* ---- Other questions about an address's image ---- */

bool symbolizer_ask_module(struct symbolizer *symbolizer, uintptr_t address,
	symbolizer_module_question question, void *context)
{
	bool answer = false;

	if (symbolizer == NULL)
		return false;
	pthread_mutex_lock(&symbolizer->lock);
	struct image *image = examined_image_locked(symbolizer, address);
	if (image != NULL && image->status == SYMBOL_IMAGE_OK)
		answer = question(image->module, address, context);
	pthread_mutex_unlock(&symbolizer->lock);
	return answer;
}

/* ---- Opening and closing ---- */

/*
 * A function of the main executable found by name in its symbol table, so
 * also one a static library put there without exporting it (dlsym cannot see
 * those). The executable is the image holding the program's entry point.
 */
uintptr_t symbolizer_find_executable_function(struct symbolizer *symbolizer, const char *name)
{
	uintptr_t found = 0;

	if (symbolizer == NULL || name == NULL || !symbolizer->follows_self)
		return 0;
	pthread_mutex_lock(&symbolizer->lock);
	struct image *image = examined_image_locked(symbolizer, (uintptr_t)getauxval(AT_ENTRY));
	if (image != NULL && image->status == SYMBOL_IMAGE_OK) {
		int count = dwfl_module_getsymtab(image->module);
		for (int i = 1; i < count && found == 0; i++) {
			GElf_Sym symbol;
			GElf_Addr address;
			const char *symbol_name = dwfl_module_getsym_info(image->module, i, &symbol,
				&address, NULL, NULL, NULL);
			if (symbol_name != NULL && GELF_ST_TYPE(symbol.st_info) == STT_FUNC
				&& symbol.st_shndx != SHN_UNDEF && strcmp(symbol_name, name) == 0)
				found = (uintptr_t)address;
		}
	}
	pthread_mutex_unlock(&symbolizer->lock);
	return found;
}

static struct symbolizer *new_symbolizer(void)
{
	struct symbolizer *symbolizer = calloc(1, sizeof *symbolizer);
	if (symbolizer == NULL)
		return NULL;
	int error = pthread_mutex_init(&symbolizer->lock, NULL);
	if (error != 0) {
		free(symbolizer);
		errno = error;
		return NULL;
	}
	return symbolizer;
}

struct symbolizer *symbolizer_open_self(void)
{
	/* Nothing is listed or opened until the first address comes. */
	struct symbolizer *symbolizer = new_symbolizer();
	if (symbolizer != NULL)
		symbolizer->follows_self = true;
	return symbolizer;
}

struct symbolizer *symbolizer_open_images(const struct symbolizer_image *images, size_t count)
{
	if (images == NULL && count > 0) {
		errno = EINVAL;
		return NULL;
	}
	struct image *table = make_images(images, count);
	if (table == NULL)
		return NULL;
	struct symbolizer *symbolizer = new_symbolizer();
	if (symbolizer == NULL) {
		release_images(table, count);
		return NULL;
	}
	symbolizer->images = table;
	symbolizer->image_count = count;
	return symbolizer;
}

void symbolizer_close(struct symbolizer *symbolizer)
{
	if (symbolizer == NULL)
		return;
	release_images(symbolizer->images, symbolizer->image_count);
	if (symbolizer->libstdcxx != NULL)
		dlclose(symbolizer->libstdcxx);
	pthread_mutex_destroy(&symbolizer->lock);
	free(symbolizer);
}

/* ---- Formatting ---- */

struct text {
	char *buf;
	size_t size;
	size_t used; /* < size */
};

__attribute__((format(printf, 2, 3))) static void append(struct text *text, const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	int written = vsnprintf(text->buf + text->used, text->size - text->used, format, arguments);
	va_end(arguments);
	if (written < 0)
		return;
	text->used += (size_t)written < text->size - text->used ? (size_t)written
								: text->size - text->used - 1;
}

static const char *image_trouble(enum symbol_image_status status)
{
	switch (status) {
	case SYMBOL_IMAGE_MISSING:
		return "file missing";
	case SYMBOL_IMAGE_BUILD_ID_MISMATCH:
		return "build-id mismatch";
	default:
		return NULL;
	}
}

/* An empty buf to append to; false when there is nothing to write there. */
static bool text_begin(struct text *text, const struct symbol_info *info, char *buf, size_t size)
{
	if (buf == NULL || size == 0)
		return false;
	buf[0] = '\0';
	*text = (struct text){ .buf = buf, .size = size };
	return info != NULL;
}

const char *symbol_format(const struct symbol_info *info, char *buf, size_t size)
{
	struct text text;

	if (!text_begin(&text, info, buf, size))
		return buf;
	if (info->function[0])
		append(&text, "%s+0x%jx", info->function, (uintmax_t)info->offset);
	else
		append(&text, "0x%jx", (uintmax_t)info->address);
	if (info->image[0]) {
		append(&text, " (%s", info->image);
		if (!info->function[0])
			append(&text, "+0x%jx", (uintmax_t)info->image_offset);
		const char *trouble = image_trouble(info->image_status);
		if (trouble)
			append(&text, ", %s", trouble);
		append(&text, ")");
	}
	if (info->file[0]) {
		append(&text, " %s", info->file);
		if (info->line > 0)
			append(&text, ":%d", info->line);
	}
	return buf;
}

/* A JSON string member value, valid UTF-8 whatever the bytes; null when empty. */
static void append_json_string(struct text *text, const char *value)
{
	const unsigned char *c = (const unsigned char *)value;

	if (value[0] == '\0') {
		append(text, "null");
		return;
	}
	append(text, "\"");
	while (*c != '\0') {
		size_t length = utf8_sequence(c);
		if (*c == '"' || *c == '\\')
			append(text, "\\%c", *c);
		else if (*c < 0x20)
			append(text, "\\u%04x", *c);
		else if (length == 0)
			append(text, "\\ufffd");
		else
			append(text, "%.*s", (int)length, (const char *)c);
		c += length > 0 ? length : 1;
	}
	append(text, "\"");
}

bool symbol_is_program_entry(const char *function)
{
	return strcmp(function, "main") == 0 || strcmp(function, "_start") == 0
		|| strncmp(function, "__libc_start_main", 17) == 0
		|| strcmp(function, "__libc_start_call_main") == 0;
}

const char *symbol_format_json(const struct symbol_info *info, char *buf, size_t size)
{
	struct text text;

	if (!text_begin(&text, info, buf, size))
		return buf;
	append(&text, ",\"function\":");
	append_json_string(&text, info->function);
	if (info->function[0])
		append(&text, ",\"offset\":%ju", (uintmax_t)info->offset);
	else
		append(&text, ",\"offset\":null");
	append(&text, ",\"image\":");
	append_json_string(&text, info->image);
	append(&text, ",\"file\":");
	append_json_string(&text, info->file);
	if (info->line > 0)
		append(&text, ",\"line\":%d", info->line);
	else
		append(&text, ",\"line\":null");
	/* a member cut in the middle would break the document: all or none */
	if (text.used + 1 >= size)
		snprintf(buf, size, "%s", SYMBOL_JSON_UNKNOWN);
	return buf;
}
