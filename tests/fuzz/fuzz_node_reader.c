/*
 * fuzz_node_reader.c - libFuzzer target: the debug node reader
 * (src/node/node_reader.h) and every pool command (src/node/node_commands.h)
 * over a node whose files are the input.
 *
 * Input (written by fuzz_corpus_gen from real nodes; any bytes are taken):
 *   byte 0: flags
 *     bit 0  the node is alive: an OFD write lock is held on the process
 *            file's first byte while the commands run (the reader's lock
 *            fallback and retries then run too, with a 1 ms lock timeout)
 *     bit 1  the node directory is named 7, not after the file's pid
 *     bit 2  JSON output (else text)
 *     bits 3-4  lock-free copies before the lock fallback, minus one
 *   then records, until the input ends:
 *     u8 type (mod 5): 0 the process file, 1 a pool file, 2 a directory
 *        named like a pool file, 3 a symbolic link named like one, 4 the
 *        stack depot's file (stacks)
 *     types 1-3: u32 area (the name is "pool-" and the area in decimal)
 *     types 0, 1, 4: u32 file size, u16 extent count, then per extent
 *        u32 offset, u16 length and the bytes: the file is written extent
 *        by extent, then cut or extended (a hole) to its size
 *   Integers are little-endian; sizes and offsets are bounded (FILE_MAX).
 *
 * The node is written into a private node directory (modes as the writer
 * makes them), then every command runs over it, in text or JSON as the
 * input says: list, pools, pool ID (each pool), allocations (plain, stats,
 * filtered), allocations_per_caller (-c, pool), pool_log ID [N], leaks
 * [pool ID], check [ID] (the first pool and one the node lacks), help, and
 * clean last. Checks: the status is one of node_commands.h's; a JSON run prints
 * exactly one valid JSON document whose "status" is that status, and nothing
 * on the error printer; a text run prints no control character but newline
 * and tab (text from node files is escaped for the terminal).
 *
 * Locking: none; one thread. The OFD lock is taken through a second open
 * file description, which the reader's F_OFD_GETLK sees as another owner.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_target.h"
#include "node/json_check.h"
#include "node/node_commands.h"
#include "format/node_format.h"

#define FILE_MAX ((uint64_t)16 << 20)
#define MAX_EXTENTS 512
#define MAX_AREAS 3
#define DEFAULT_PID 1
#define RENAMED_PID 7

struct capture {
	char *text;
	size_t length;
	size_t capacity;
};

struct node_setup {
	uint8_t flags;
	pid_t pid;
	int areas[MAX_AREAS];
	size_t area_count;
	char node_path[PATH_MAX + 64];
	int lock_fd;
};

static char base_dir[PATH_MAX];
static char node_dir[PATH_MAX + 16];

/* ---- output ---- */

static void capture_text(void *cookie, const char *text)
{
	struct capture *capture = cookie;
	size_t length = strlen(text);

	if (capture->length + length + 1 > capture->capacity) {
		size_t capacity = (capture->length + length + 1) * 2;
		char *grown = realloc(capture->text, capacity);
		FUZZ_CHECK(grown != NULL, "out of memory");
		capture->text = grown;
		capture->capacity = capacity;
	}
	memcpy(capture->text + capture->length, text, length + 1);
	capture->length += length;
}

static void check_terminal_safe(const struct capture *capture, const char *what,
	const char *command)
{
	for (size_t i = 0; i < capture->length; i++) {
		unsigned char c = (unsigned char)capture->text[i];
		FUZZ_CHECK((c >= 0x20 && c != 0x7f) || c == '\n' || c == '\t',
			"%s (text) printed control character 0x%02x at byte %zu on its %s: %.*s",
			command, c, i, what, (int)(capture->length < 4000 ? capture->length : 4000),
			capture->text);
	}
}

static void check_json(const struct capture *output, const struct capture *errors, int status,
	const char *command)
{
	const char *error = NULL;
	const struct json *reported;
	struct json *document;

	FUZZ_CHECK(errors->length == 0, "%s (JSON) printed on the error printer: %s", command,
		errors->text);
	FUZZ_CHECK(output->length > 0, "%s (JSON) printed nothing", command);
	document = json_parse(output->text, &error);
	FUZZ_CHECK(document != NULL, "%s (JSON) printed no single valid JSON document (%s): %s",
		command, error, output->text);
	reported = json_get(document, "status");
	FUZZ_CHECK(document->type == JSON_OBJECT && reported != NULL
			&& reported->type == JSON_NUMBER && reported->number == status,
		"%s (JSON) returned %d but its document says otherwise: %s", command, status,
		output->text);
	json_free(document);
}

/* Runs one command (argv[0] "list" and "clean" are the directory's). */
static void run_command(const struct node_setup *setup, bool json, int argc, char **argv)
{
	struct capture output = { 0 }, errors = { 0 };
	struct node_command_context context;
	char command[256];
	int status;

	memset(&context, 0, sizeof(context));
	context.node_dir = node_dir;
	context.pid = setup->pid;
	context.json = json;
	context.print = capture_text;
	context.print_cookie = &output;
	context.print_error = capture_text;
	context.error_cookie = &errors;
	context.snapshot.tries = 1 + ((setup->flags >> 3) & 3);
	context.snapshot.grant_timeout_ms = 1;
	capture_text(&output, "");
	capture_text(&errors, "");

	command[0] = '\0';
	for (int i = 0; i < argc; i++)
		snprintf(command + strlen(command), sizeof(command) - strlen(command), "%s%s",
			i ? " " : "", argv[i]);
	if (strcmp(argv[0], "list") == 0)
		status = node_command_list(&context);
	else if (strcmp(argv[0], "clean") == 0)
		status = node_command_clean(&context);
	else
		status = node_command_run(&context, argc, argv);
	FUZZ_CHECK(status >= NODE_STATUS_OK && status <= NODE_STATUS_DAMAGED, "%s returned %d",
		command, status);
	if (json) {
		check_json(&output, &errors, status, command);
	} else {
		check_terminal_safe(&output, "output", command);
		check_terminal_safe(&errors, "error printer", command);
	}
	free(output.text);
	free(errors.text);
}

/* ---- writing the node ---- */

static int create_file(const struct node_setup *setup, const char *name)
{
	int fd = openat(AT_FDCWD, setup->node_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), file;

	FUZZ_CHECK(fd >= 0, "cannot open %s: %s", setup->node_path, strerror(errno));
	file = openat(fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	close(fd);
	return file;
}

static void write_file(struct node_setup *setup, const char *name, struct fuzz_input *input)
{
	uint32_t size = fuzz_u32(input);
	uint16_t extents = fuzz_u16(input) % MAX_EXTENTS;
	int fd = create_file(setup, name);

	if (fd < 0) /* the name is a directory or link of an earlier record */
		return;
	for (uint16_t i = 0; i < extents && !fuzz_input_done(input); i++) {
		uint64_t offset = fuzz_u32(input) % FILE_MAX;
		const uint8_t *bytes;
		size_t length = fuzz_bytes(input, fuzz_u16(input), &bytes);
		FUZZ_CHECK(pwrite(fd, bytes, length, (off_t)offset) == (ssize_t)length,
			"pwrite %s: %s", name, strerror(errno));
	}
	FUZZ_CHECK(ftruncate(fd, (off_t)(size % FILE_MAX)) == 0, "ftruncate %s: %s", name,
		strerror(errno));
	close(fd);
}

/* The pid the process file names, or DEFAULT_PID. */
static pid_t pid_in_process_file(const struct node_setup *setup)
{
	char path[PATH_MAX + 96];
	int32_t pid = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/" NODE_PROCESS_FILE, setup->node_path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return DEFAULT_PID;
	if (pread(fd, &pid, sizeof(pid), offsetof(struct node_process_file, pid))
		!= (ssize_t)sizeof(pid))
		pid = 0;
	close(fd);
	return pid > 0 ? pid : DEFAULT_PID;
}

/* Writes the records into NODE_DIR/TMP, then renames it after the pid. */
static void write_node(struct node_setup *setup, struct fuzz_input *input)
{
	char final_path[PATH_MAX + 48];

	snprintf(setup->node_path, sizeof(setup->node_path), "%s/incoming", node_dir);
	FUZZ_CHECK(mkdir(setup->node_path, 0700) == 0, "mkdir %s: %s", setup->node_path,
		strerror(errno));
	while (!fuzz_input_done(input)) {
		uint8_t type = fuzz_u8(input) % 5;
		char name[32];
		if (type == 0 || type == 4) {
			write_file(setup, type == 0 ? NODE_PROCESS_FILE : NODE_STACKS_FILE, input);
			continue;
		}
		uint32_t area = fuzz_u32(input);
		snprintf(name, sizeof(name), NODE_POOL_FILE_PREFIX "%u", area);
		if (area > 0 && area <= INT32_MAX && setup->area_count < MAX_AREAS)
			setup->areas[setup->area_count++] = (int)area;
		if (type == 1) {
			write_file(setup, name, input);
		} else {
			char path[PATH_MAX + 128];
			snprintf(path, sizeof(path), "%s/%s", setup->node_path, name);
			if (type == 2)
				mkdir(path, 0700);
			else
				symlink(NODE_PROCESS_FILE, path);
		}
	}
	setup->pid = setup->flags & 2 ? RENAMED_PID : pid_in_process_file(setup);
	snprintf(final_path, sizeof(final_path), "%s/%d", node_dir, (int)setup->pid);
	FUZZ_CHECK(rename(setup->node_path, final_path) == 0, "rename to %s: %s", final_path,
		strerror(errno));
	snprintf(setup->node_path, sizeof(setup->node_path), "%s", final_path);
}

/* The process holds the OFD lock of its file while it lives. */
static void hold_process_lock(struct node_setup *setup)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	char path[PATH_MAX + 96];

	setup->lock_fd = -1;
	if (!(setup->flags & 1))
		return;
	snprintf(path, sizeof(path), "%s/" NODE_PROCESS_FILE, setup->node_path);
	setup->lock_fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (setup->lock_fd >= 0 && fcntl(setup->lock_fd, F_OFD_SETLK, &lock) != 0) {
		close(setup->lock_fd);
		setup->lock_fd = -1;
	}
}

/* ---- the commands ---- */

static void run_area_commands(const struct node_setup *setup, bool json, char *area)
{
	run_command(setup, json, 2, (char *[]){ "pool_log", area });
	run_command(setup, json, 3, (char *[]){ "pool_log", area, "2" });
	run_command(setup, json, 3, (char *[]){ "leaks", "pool", area });
	run_command(setup, json, 2, (char *[]){ "check", area });
	run_command(setup, json, 4, (char *[]){ "allocations_per_caller", "-c", "pool", area });
}

static void run_commands(const struct node_setup *setup, bool json)
{
	char areas[MAX_AREAS][16], missing[16];

	for (size_t i = 0; i < setup->area_count; i++)
		snprintf(areas[i], sizeof(areas[i]), "%d", setup->areas[i]);
	snprintf(missing, sizeof(missing), "%d", INT32_MAX);

	run_command(setup, json, 1, (char *[]){ "list" });
	run_command(setup, json, 1, (char *[]){ "pools" });
	for (size_t i = 0; i < setup->area_count; i++)
		run_command(setup, json, 2, (char *[]){ "pool", areas[i] });
	run_command(setup, json, 2, (char *[]){ "pool", missing });
	/* the commands on one pool: the first the input names, and one it lacks */
	if (setup->area_count > 0)
		run_area_commands(setup, json, areas[0]);
	run_area_commands(setup, json, missing);
	run_command(setup, json, 1, (char *[]){ "allocations" });
	run_command(setup, json, 2, (char *[]){ "allocations", "stats" });
	run_command(setup, json, 9,
		(char *[]){ "allocations", "pool", setup->area_count > 0 ? areas[0] : missing,
			"thread", "1", "size", "1-4096", "caller", "0x1000" });
	run_command(setup, json, 3, (char *[]){ "allocations", "caller", "*main*" });
	run_command(setup, json, 1, (char *[]){ "allocations_per_caller" });
	run_command(setup, json, 1, (char *[]){ "leaks" });
	run_command(setup, json, 1, (char *[]){ "check" });
	run_command(setup, json, 1, (char *[]){ "help" });
	run_command(setup, json, 1, (char *[]){ "clean" });
}

/* ---- setup and inputs ---- */

static void remove_base_dir(void)
{
	if (base_dir[0] != '\0')
		fuzz_remove_tree(base_dir);
}

void fuzz_node_reader_setup(void)
{
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	fuzz_become_multithreaded();
	/* an image path in a process file may name a terminal or pipe: the
	 * symbolizer must not wait on standard input */
	FUZZ_CHECK(null_fd >= 0 && dup2(null_fd, STDIN_FILENO) == STDIN_FILENO,
		"cannot redirect standard input: %s", strerror(errno));
	close(null_fd);
	fuzz_temp_dir("fuzz_node_reader", base_dir, sizeof(base_dir));
	atexit(remove_base_dir);
	snprintf(node_dir, sizeof(node_dir), "%s/nodes", base_dir);
}

int fuzz_node_reader_one_input(const uint8_t *data, size_t size)
{
	struct fuzz_input input = { data, size, 0 };
	struct node_setup setup;

	memset(&setup, 0, sizeof(setup));
	setup.flags = fuzz_u8(&input);
	fuzz_remove_tree(node_dir);
	FUZZ_CHECK(mkdir(node_dir, 0700) == 0, "mkdir %s: %s", node_dir, strerror(errno));
	write_node(&setup, &input);
	hold_process_lock(&setup);
	run_commands(&setup, (setup.flags & 4) != 0);
	if (setup.lock_fd >= 0)
		close(setup.lock_fd);
	return 0;
}

FUZZ_ENTRY_POINTS(fuzz_node_reader_setup, fuzz_node_reader_one_input)
