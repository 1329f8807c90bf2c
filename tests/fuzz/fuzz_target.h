/*
 * fuzz_target.h - what the libFuzzer targets of tests/fuzz share: their
 * entry points, the way they fail, how they read their input and where
 * they find the modules and a scratch directory.
 *
 * Each target is one source file with two functions, NAME_setup() (once per
 * process) and NAME_one_input() (once per input). Built into a libFuzzer
 * binary (FUZZ_LIBFUZZER defined), FUZZ_ENTRY_POINTS() turns them into
 * LLVMFuzzerInitialize and LLVMFuzzerTestOneInput; built into the Check
 * replay test (test_fuzz_corpus), the same file is called by name, so
 * several targets live in one program and the corpus replays through
 * exactly the code that was fuzzed.
 *
 * A target never returns a verdict: it returns 0, or calls fuzz_fail(),
 * which does not return (libFuzzer then saves the input as a crash; the
 * replay test turns it into a Check failure naming the input).
 *
 * Locking: none; a target runs one input at a time in one thread.
 */
#ifndef AREA_MALLOC_TESTS_FUZZ_FUZZ_TARGET_H
#define AREA_MALLOC_TESTS_FUZZ_FUZZ_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef FUZZ_LIBFUZZER
#define FUZZ_ENTRY_POINTS(setup, one_input)                                                        \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                                         \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                              \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                                          \
	{                                                                                          \
		(void)argc;                                                                        \
		(void)argv;                                                                        \
		setup();                                                                           \
		return 0;                                                                          \
	}                                                                                          \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                               \
	{                                                                                          \
		return one_input(data, size);                                                      \
	}
#else
#define FUZZ_ENTRY_POINTS(setup, one_input)
#endif

/* The targets, as the replay test calls them. */
void fuzz_ops_release_setup(void);
void fuzz_ops_debug_setup(void);
int fuzz_ops_one_input(const uint8_t *data, size_t size);
void fuzz_node_reader_setup(void);
int fuzz_node_reader_one_input(const uint8_t *data, size_t size);
void fuzz_options_setup(void);
int fuzz_options_one_input(const uint8_t *data, size_t size);

/* ---- failing ---- */

/* Receives the message of a failed check; must not return. */
typedef void (*fuzz_failure_fn)(const char *message);

/* The replay test routes failures into Check; NULL restores the default
 * (the message on standard error and the sanitizer's report stream, then
 * abort(), which libFuzzer catches as a crash). */
void fuzz_set_failure_handler(fuzz_failure_fn handler);

void fuzz_fail_at(const char *file, int line, const char *format, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
#define fuzz_fail(...) fuzz_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define FUZZ_CHECK(condition, ...)                                                                 \
	do {                                                                                       \
		if (!(condition))                                                                  \
			fuzz_fail_at(__FILE__, __LINE__, __VA_ARGS__);                             \
	} while (0)

/* ---- reading an input ---- */

/* A cursor over the input; past the end every read yields zeros. */
struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t at;
};

static inline bool fuzz_input_done(const struct fuzz_input *input)
{
	return input->at >= input->size;
}

static inline uint8_t fuzz_u8(struct fuzz_input *input)
{
	return input->at < input->size ? input->data[input->at++] : 0;
}

static inline uint16_t fuzz_u16(struct fuzz_input *input)
{
	uint16_t low = fuzz_u8(input);
	return (uint16_t)(low | (uint16_t)fuzz_u8(input) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *input)
{
	uint32_t low = fuzz_u16(input);
	return low | (uint32_t)fuzz_u16(input) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *input)
{
	uint64_t low = fuzz_u32(input);
	return low | (uint64_t)fuzz_u32(input) << 32;
}

/* Up to wanted bytes in place (fewer at the end of the input); returns how many. */
static inline size_t fuzz_bytes(struct fuzz_input *input, size_t wanted, const uint8_t **bytes)
{
	size_t left = input->size - input->at;
	size_t taken = wanted < left ? wanted : left;

	*bytes = input->data + input->at;
	input->at += taken;
	return taken;
}

/* ---- the environment ---- */

/*
 * <builddir>/modules/VARIANT ("release" or "debug"): from the environment
 * variable AREA_MALLOC_TEST_BUILDDIR (make check and scripts/check-fuzz set
 * it), else relative to the running program, which lives in
 * <builddir>/tests/fuzz. Fails when the directory does not exist.
 */
void fuzz_module_dir(const char *variant, char *path, size_t size);

/* A new private directory (mode 0700) under TMPDIR or /tmp, named after tag. */
void fuzz_temp_dir(const char *tag, char *path, size_t size);

/* Removes path and everything below it (never following a symbolic link). */
void fuzz_remove_tree(const char *path);

/*
 * Makes the process multi-threaded for good (glibc's __libc_single_threaded
 * never goes back): libFuzzer runs a thread of its own, the replay test
 * does not, and the modules take other paths with more than one thread.
 * Calling this in every setup makes a replayed input run the fuzzed path.
 */
void fuzz_become_multithreaded(void);

#endif /* AREA_MALLOC_TESTS_FUZZ_FUZZ_TARGET_H */
