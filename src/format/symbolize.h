/*
 * symbolize.h - turns code addresses into "function+0xoff (image) file:line".
 *
 * Role
 *   The debug build of area_malloc (its reports) and the pooldump tool (its
 *   dumps, also post mortem) name the callers they recorded with this. It sits
 *   on elfutils' libdwfl: names come from .symtab when the image has one (so
 *   static functions are named), else from .dynsym; file:line from DWARF, in
 *   the image itself or in a separate debug file found the standard way.
 *
 * Two sources of images
 *   symbolizer_open_self() describes the running process and follows its
 *   dlopen()/dlclose() calls. symbolizer_open_images() describes another,
 *   possibly dead, process from the list of images it recorded with
 *   symbolizer_list_self_images(); an image whose file is gone or whose build-id
 *   differs from the recorded one is reported as such, never symbolized from
 *   the wrong file.
 *
 * Invariants
 *   No address is ever read: an address is only looked up in the table of
 *   images, so 0, wild, kernel and anonymous-memory addresses are safe and
 *   simply come back unknown. Opening is cheap: an image's file is opened the
 *   first time an address falls inside it. Memory is bounded by the images
 *   that were symbolized. Close what you open (LeakSanitizer checks).
 *
 * Locking
 *   Each symbolizer has a mutex; every call on it may come from any thread.
 *   Lock order: the symbolizer's mutex, then the dynamic loader's locks
 *   (dl_iterate_phdr, and one dlopen of libstdc++ for demangling), so do not
 *   symbolize from an ELF constructor run by dlopen() in another thread.
 */
#ifndef AREA_MALLOC_FORMAT_SYMBOLIZE_H
#define AREA_MALLOC_FORMAT_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYMBOLIZER_PATH_MAX 4096
#define SYMBOLIZER_BUILD_ID_MAX 64

struct symbolizer; /* opaque */

/* What is known about the image an address falls in. */
enum symbol_image_status {
	SYMBOL_IMAGE_NONE = 0,          /* the address lies in no known image */
	SYMBOL_IMAGE_OK,                /* the image's file was read: names and lines are its own */
	SYMBOL_IMAGE_IN_MEMORY,         /* an image without a file, such as the vDSO ("[vdso]") */
	SYMBOL_IMAGE_MISSING,           /* the image's file is gone, unreadable or not ELF */
	SYMBOL_IMAGE_BUILD_ID_MISMATCH, /* the file at that path is not the one loaded */
};

struct symbol_info {
	uintptr_t address;  /* as given to symbolize() */
	char function[256]; /* demangled when C++; "" when unknown */
	uintptr_t offset;   /* address - start of function (valid when function[0]) */
	char image[256];    /* basename of the ELF object containing the address; "" when none */
	char image_path[SYMBOLIZER_PATH_MAX]; /* full path of that object, as it was loaded */
	uintptr_t image_offset; /* address - load bias of that image, for addr2line by hand */
	char file[1024];        /* source file when debug info exists, else "" */
	int line;               /* 0 when unknown */
	enum symbol_image_status image_status;
};

/*
 * One loaded image of a process. start and end bound its PT_LOAD segments in
 * that process; both 0 when unknown, and then taken from the file (an image
 * whose file is missing and whose range is unknown cannot own addresses).
 * build_id may be NULL with build_id_size 0: the file is then trusted as is.
 */
struct symbolizer_image {
	const char *path;
	uintptr_t load_bias;
	uintptr_t start;
	uintptr_t end;
	const unsigned char *build_id;
	size_t build_id_size;
};

/*
 * The same, with fixed-size fields and no padding, so the recorder can write an
 * array of them to a file as is and pooldump read it back. Paths longer than
 * SYMBOLIZER_PATH_MAX - 1 are cut (such an image then reads as missing).
 */
struct symbolizer_image_record {
	uint64_t load_bias;
	uint64_t start;
	uint64_t end;
	uint32_t build_id_size;
	uint32_t reserved; /* 0 */
	uint8_t build_id[SYMBOLIZER_BUILD_ID_MAX];
	char path[SYMBOLIZER_PATH_MAX];
};

/* The running process: its main executable and every loaded shared object.
 * Returns NULL (errno set) only when out of memory. */
struct symbolizer *symbolizer_open_self(void);

/* Another (possibly dead) process, from its recorded images. The table is
 * copied. Returns NULL with errno EINVAL for images == NULL with count > 0 or a
 * build-id longer than SYMBOLIZER_BUILD_ID_MAX, ENOMEM when out of memory. */
struct symbolizer *symbolizer_open_images(const struct symbolizer_image *images, size_t count);

/* Views a record as an image (pointing into the record, which must outlive it). */
void symbolizer_image_from_record(const struct symbolizer_image_record *record,
	struct symbolizer_image *image);

/* Accepts NULL. */
void symbolizer_close(struct symbolizer *symbolizer);

/*
 * Symbolizes a return address, as a backtrace records it: the call it returns
 * from is looked up (address - 1), so the line is the call's and a call at the
 * very end of a function is not credited to the next one. offset and
 * image_offset stay relative to address itself. In the running process,
 * dlopen()/dlclose() since the last call are noticed first (cheaply: the
 * loader's counters are compared). Fills *out whatever happens; returns true
 * when out->image_status is SYMBOL_IMAGE_OK (function and line may still be
 * unknown, in a stripped image), false for an unknown address or an image that
 * could not be read.
 */
bool symbolize(struct symbolizer *symbolizer, uintptr_t address, struct symbol_info *out);

/* The same for an address that is itself an instruction, such as a function
 * pointer or a faulting program counter. */
bool symbolize_code_address(struct symbolizer *symbolizer, uintptr_t address,
	struct symbol_info *out);

/*
 * symbolizer_open_self() only: the run-time address of the function called
 * name in the main executable's symbol table (.symtab when present), or 0.
 * Finds functions that static libraries linked into the program and that
 * dlsym() cannot see.
 */
uintptr_t symbolizer_find_executable_function(struct symbolizer *symbolizer, const char *name);

/*
 * Formats "function+0xoff (image) file:line", leaving out what is unknown, or
 * "0xADDR (image+0xoff)" when no function is known, with ", build-id mismatch"
 * or ", file missing" inside the parentheses when the image could not be
 * trusted, or "0xADDR" alone outside every image. Truncates to size; returns buf.
 */
const char *symbol_format(const struct symbol_info *info, char *buf, size_t size);

/*
 * The same parts as JSON members of a frame object, each after a comma:
 * ,"function":S,"offset":N,"image":S,"file":S,"line":N where an unknown
 * part is null (never absent): the function name (demangled), the offset
 * from its start, the image's base name, the source file and line. Strings
 * are escaped and valid UTF-8 whatever the bytes. SYMBOL_JSON_MAX bytes
 * always suffice; a shorter buffer gets every member null.
 */
#define SYMBOL_JSON_MAX 12288
#define SYMBOL_JSON_UNKNOWN                                                                        \
	",\"function\":null,\"offset\":null,\"image\":null,\"file\":null,\"line\":null"
const char *symbol_format_json(const struct symbol_info *info, char *buf, size_t size);

/*
 * True when function is where every stack of a program passes (main,
 * _start, glibc's __libc_start_main and __libc_start_call_main): a
 * "leak:" suppression naming it would match nearly every leak, since a
 * pattern matches any frame (LSan's rule). Ready-made suppression lines
 * never name one.
 */
bool symbol_is_program_entry(const char *function);

/*
 * The loaded images of this process (dl_iterate_phdr, build-ids from their
 * PT_NOTE segments in memory), for writing into a node file: the main
 * executable under its real path, the vDSO as "[vdso]". Fills at most max
 * records (records may be NULL when max is 0) and returns how many images
 * there are, so a return value above max means the array was too short.
 */
size_t symbolizer_list_self_images(struct symbolizer_image_record *records, size_t max);

/*
 * Asks question about the loaded image that holds address, with its libdwfl
 * module (Dwfl_Module *, passed as void * so that this header needs no
 * elfutils header), under the symbolizer's lock; false when the address
 * lies in no image whose file could be read. (frame_cfi.h asks the unwind
 * tables.)
 */
typedef bool (*symbolizer_module_question)(void *module, uintptr_t address, void *context);
bool symbolizer_ask_module(struct symbolizer *symbolizer, uintptr_t address,
	symbolizer_module_question question, void *context);

#endif /* AREA_MALLOC_FORMAT_SYMBOLIZE_H */
