/*
 * node_scan_stop.c - "scan --stop": every thread of the target stopped
 * with ptrace (PTRACE_SEIZE, then PTRACE_INTERRUPT: no signal is sent the
 * process could see), its registers read (PTRACE_GETREGSET, NT_PRSTATUS),
 * then every thread detached. Threads created while the first ones are
 * being stopped are caught by listing /proc/PID/task again until a listing
 * finds none new.
 *
 * Invariants: every thread seized is detached by scan_resume, on every path
 * (scan_stop detaches what it seized when it fails); while threads are
 * stopped the signals that end pooldump (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * SIGPIPE) are blocked, so they are delivered only after the detach; a
 * SIGKILL of pooldump detaches through the kernel (a tracer's exit resumes
 * its tracees).
 *
 * Locking: none; one thread of pooldump stops and resumes.
 */
#include "config.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "node/node_commands_internal.h"

static bool seized(const struct scan_world *world, pid_t tid)
{
	for (size_t i = 0; i < world->count; i++) {
		if (world->threads[i].tid == tid)
			return true;
	}
	return false;
}

/* Seizes and interrupts tid; false with errno (ESRCH: it has exited). */
static bool stop_thread(struct scan_world *world, pid_t tid)
{
	struct scan_thread *thread;
	struct iovec vector;
	int status;

	if (world->count == world->capacity) {
		size_t capacity = world->capacity ? world->capacity * 2 : 16;
		struct scan_thread *grown = realloc(world->threads, capacity * sizeof(*grown));
		if (grown == NULL) {
			errno = ENOMEM;
			return false;
		}
		world->threads = grown;
		world->capacity = capacity;
	}
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		return false;
	thread = &world->threads[world->count++];
	memset(thread, 0, sizeof(*thread));
	thread->tid = tid;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0)
		return false;
	while (waitpid(tid, &status, __WALL) < 0) {
		if (errno != EINTR)
			return false;
	}
	if (!WIFSTOPPED(status)) {
		errno = ESRCH;
		return false;
	}
	vector = (struct iovec){ &thread->registers, sizeof(thread->registers) };
	thread->registers_known = ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &vector) == 0;
	return true;
}

bool scan_stop(pid_t pid, struct scan_world *world)
{
	sigset_t ending;
	char path[64];
	bool found_new = true;
	/* a thread that cannot be seized and never leaves the listing (a
	 * zombie) must not keep the loop going */
	int listings = 0;

	sigemptyset(&ending);
	sigaddset(&ending, SIGINT);
	sigaddset(&ending, SIGTERM);
	sigaddset(&ending, SIGHUP);
	sigaddset(&ending, SIGQUIT);
	sigaddset(&ending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &ending, &world->saved_mask);
	world->mask_saved = true;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	while (found_new && listings++ < 64) {
		DIR *tasks = opendir(path);
		struct dirent *entry;
		found_new = false;
		if (tasks == NULL) {
			int saved = errno;
			scan_resume(world);
			errno = saved;
			return false;
		}
		while ((entry = readdir(tasks)) != NULL) {
			pid_t tid = (pid_t)atoi(entry->d_name);
			if (tid <= 0 || seized(world, tid))
				continue;
			found_new = true;
			if (!stop_thread(world, tid) && errno != ESRCH) {
				int saved = errno;
				closedir(tasks);
				scan_resume(world);
				errno = saved;
				return false;
			}
		}
		closedir(tasks);
	}
	return true;
}

void scan_resume(struct scan_world *world)
{
	for (size_t i = 0; i < world->count; i++)
		ptrace(PTRACE_DETACH, world->threads[i].tid, NULL, NULL);
	free(world->threads);
	world->threads = NULL;
	world->count = world->capacity = 0;
	if (world->mask_saved)
		sigprocmask(SIG_SETMASK, &world->saved_mask, NULL);
	world->mask_saved = false;
}
