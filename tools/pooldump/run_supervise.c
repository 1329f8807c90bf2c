/*
 * run_supervise.c - running the command of "pooldump run" and watching it
 * and what it starts, until they end.
 *
 * A report file only names a pid. So that processes are named by what they
 * ran, the runner watches the reports directory with inotify and reads
 * /proc/PID/cmdline as soon as a file appears: the process is writing its
 * first report then. It is also a child subreaper, so processes the
 * command left behind are its children: it waits for them a little
 * (--orphan-wait, 2 s by default) before the reports are read, and says so
 * when some still run.
 *
 * Each report is echoed on standard error as soon as its JSON line, which
 * ends it, is in its file (unless --quiet), as a sanitizer prints at the
 * fault: a command that hangs, or a runner killed by CI's time limit, has
 * shown what was found until then. The file is read whole again at each
 * change (reports are appended, never changed: the first ones parse the same
 * each time) and the reports past those echoed are printed; the summary at
 * the end prints only the rest.
 *
 * Invariants: SIGCHLD, SIGINT and SIGTERM are blocked in the runner from
 * before the fork until it exits, and read from a signalfd while the
 * command runs (no handler, no race); the command gets the original mask
 * and SIGCHLD action back before exec. SIGINT and SIGTERM are forwarded to
 * the command unless the kernel sent them (a terminal's ^C already reached
 * the whole foreground group). The command's exit status is always
 * collected before wait_for_command() returns, whatever poll() does.
 *
 * Locking: single-threaded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "run_internal.h"

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Reads a small /proc file; returns its length (0 when unreadable). */
static size_t read_proc_file(pid_t pid, const char *name, char *buffer, size_t size)
{
	char path[64];
	size_t length = 0;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (length < size - 1 && (got = read(fd, buffer + length, size - 1 - length)) > 0)
		length += (size_t)got;
	close(fd);
	buffer[length] = '\0';
	return length;
}

/* Names a process from /proc while it runs (a zombie has only its comm). */
static void name_process(struct run_results *results, pid_t pid)
{
	struct run_process *process = run_results_process(results, pid);
	char command_line[4096], executable[PATH_MAX];
	size_t length;

	if (process->name_source <= NAME_FROM_CMDLINE)
		return;
	length = read_proc_file(pid, "cmdline", command_line, sizeof(command_line));
	if (length > 0) {
		snprintf(executable, sizeof(executable), "%s", command_line);
		while (length > 0 && command_line[length - 1] == '\0')
			length--;
		for (size_t i = 0; i < length; i++)
			command_line[i] = command_line[i] == '\0' ? ' ' : command_line[i];
		run_process_set_name(process, command_line, executable, NAME_FROM_CMDLINE);
		return;
	}
	length = read_proc_file(pid, "comm", executable, sizeof(executable));
	executable[strcspn(executable, "\n")] = '\0';
	if (length > 0)
		run_process_set_name(process, NULL, executable, NAME_FROM_COMM);
}

/* Echoes the complete reports of the file name past those echoed. */
static void echo_new_reports(struct watch *watch, const char *name)
{
	struct run_process *process, *fresh;
	struct run_results scratch;

	run_results_init(&scratch);
	/* its warnings are the final read's to give */
	fresh = report_file_read(&scratch, watch->reports_fd, watch->config->reports_dir, name);
	if (fresh != NULL) {
		process = run_results_process(watch->results, fresh->pid);
		while (process->echoed_reports < fresh->report_count
			&& !fresh->reports[process->echoed_reports].incomplete)
			echo_report(&fresh->reports[process->echoed_reports++], watch->config);
		fflush(stderr);
	}
	run_results_free(&scratch);
}

static void read_file_events(struct watch *watch)
{
	char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t length;

	while ((length = read(watch->inotify_fd, buffer, sizeof(buffer))) > 0) {
		const struct inotify_event *event;
		for (char *cursor = buffer; cursor < buffer + length;
			cursor += sizeof(*event) + event->len) {
			event = (const struct inotify_event *)cursor;
			pid_t pid = event->len > 0 ? report_file_pid(event->name) : 0;
			if (pid == 0)
				continue;
			name_process(watch->results, pid);
			if (!watch->config->quiet && watch->reports_fd >= 0)
				echo_new_reports(watch, event->name);
		}
	}
}

static void command_ended(struct watch *watch, int status)
{
	struct run_exit *exit = &watch->results->main_exit;

	watch->results->seconds = seconds_since(&watch->started);
	watch->child_running = false;
	exit->known = true;
	exit->signaled = WIFSIGNALED(status);
	exit->status = exit->signaled ? WTERMSIG(status) : WEXITSTATUS(status);
	exit->core_dumped = exit->signaled && WCOREDUMP(status);
	run_results_process(watch->results, watch->child)->exit = *exit;
}

/* A descendant the command left behind died of a signal: the runner points
 * at its post-mortem node later, as for the command's own process. */
static void descendant_ended(struct watch *watch, pid_t pid, int status)
{
	struct run_process *process;

	if (!WIFSIGNALED(status))
		return;
	process = run_results_process(watch->results, pid);
	process->exit = (struct run_exit){ true, true, WTERMSIG(status), WCOREDUMP(status) };
}

static void reap(struct watch *watch)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0 && pid == watch->child)
			command_ended(watch, status);
		else if (pid > 0)
			descendant_ended(watch, pid, status);
		if (pid <= 0) {
			watch->descendants = pid == 0; /* -1 (ECHILD): none left */
			return;
		}
	}
}

static void read_signals(struct watch *watch)
{
	struct signalfd_siginfo info;

	while (read(watch->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo == SIGCHLD) {
			reap(watch);
		} else if (watch->child_running) {
			if (info.ssi_code != SI_KERNEL)
				kill(watch->child, (int)info.ssi_signo);
		} else {
			watch->stop_waiting = true;
		}
	}
}

int watch_start(struct watch *watch, const struct run_config *config)
{
	struct sigaction default_action = { .sa_handler = SIG_DFL };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	/* an inherited SIG_IGN would make the kernel reap our children */
	sigemptyset(&default_action.sa_mask);
	sigaction(SIGCHLD, &default_action, &watch->saved_sigchld);
	sigprocmask(SIG_BLOCK, &mask, &watch->saved_mask);
	watch->armed = true;
	watch->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	watch->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (watch->signal_fd < 0 || watch->inotify_fd < 0)
		return runner_error("cannot watch the command: %s", strerror(errno));
	watch->config = config;
	if (inotify_add_watch(watch->inotify_fd, config->reports_dir,
		    IN_CREATE | IN_MOVED_TO | IN_MODIFY)
		< 0)
		return runner_error("cannot watch %s: %s", config->reports_dir, strerror(errno));
	/* without it reports are only printed at the end */
	watch->reports_fd = open(config->reports_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		run_results_warn(watch->results, 0,
			"cannot become a child subreaper (%s): processes the command leaves "
			"behind are not waited for",
			strerror(errno));
	return 0;
}

void watch_stop(struct watch *watch)
{
	if (watch->signal_fd >= 0)
		close(watch->signal_fd);
	if (watch->inotify_fd >= 0)
		close(watch->inotify_fd);
	if (watch->reports_fd >= 0)
		close(watch->reports_fd);
	watch->signal_fd = watch->inotify_fd = watch->reports_fd = -1;
	/* the signals stay blocked: one that comes now must not kill the
	 * runner before it wrote its files */
	if (watch->armed)
		prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* Starts the command; returns 0, or the exit status when it cannot run. */
int start_command(struct watch *watch, struct run_config *config)
{
	int exec_pipe[2], exec_error = 0;
	ssize_t got;

	if (pipe2(exec_pipe, O_CLOEXEC) != 0)
		return runner_error("cannot start the command: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &watch->started);
	watch->orphan_wait_ms = config->orphan_wait_ms;
	fflush(NULL);
	watch->child = fork();
	if (watch->child < 0) {
		close(exec_pipe[0]);
		close(exec_pipe[1]);
		return runner_error("cannot start the command: %s", strerror(errno));
	}
	if (watch->child == 0) {
		sigaction(SIGCHLD, &watch->saved_sigchld, NULL);
		sigprocmask(SIG_SETMASK, &watch->saved_mask, NULL);
		execvp(config->command[0], config->command);
		exec_error = errno;
		(void)!write(exec_pipe[1], &exec_error, sizeof(exec_error));
		_exit(RUN_STATUS_NOT_FOUND);
	}
	close(exec_pipe[1]);
	do
		got = read(exec_pipe[0], &exec_error, sizeof(exec_error));
	while (got < 0 && errno == EINTR);
	close(exec_pipe[0]);
	watch->child_running = watch->descendants = true;
	if (got != (ssize_t)sizeof(exec_error))
		return 0; /* the pipe closed on exec */
	waitpid(watch->child, NULL, 0);
	watch->child_running = false;
	runner_error("cannot run %s: %s", config->command[0], strerror(exec_error));
	return exec_error == ENOENT || exec_error == ENOTDIR ? RUN_STATUS_NOT_FOUND
							     : RUN_STATUS_CANNOT_EXECUTE;
}

/* Waits for the command, then (briefly) for what it left behind. */
void wait_for_command(struct watch *watch)
{
	struct pollfd fds[2] = {
		{ .fd = watch->signal_fd, .events = POLLIN },
		{ .fd = watch->inotify_fd, .events = POLLIN },
	};
	struct timespec main_ended = { 0, 0 };

	while (watch->child_running || (watch->descendants && !watch->stop_waiting)) {
		int timeout = -1;

		if (!watch->child_running) {
			double waited;
			if (main_ended.tv_sec == 0 && main_ended.tv_nsec == 0)
				clock_gettime(CLOCK_MONOTONIC, &main_ended);
			waited = seconds_since(&main_ended) * 1000.0;
			if (waited >= watch->orphan_wait_ms) {
				run_results_warn(watch->results, 0,
					"processes started by the command still run %.1f s after it "
					"ended; reports they write later are not included (see "
					"--orphan-wait)",
					watch->orphan_wait_ms / 1000.0);
				break;
			}
			timeout = watch->orphan_wait_ms - (int)waited;
		}
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			/* cannot happen with these descriptors; still, never leave
			 * without the command's exit status */
			int status;
			if (watch->child_running
				&& waitpid(watch->child, &status, 0) == watch->child)
				command_ended(watch, status);
			break;
		}
		read_file_events(watch);
		read_signals(watch);
	}
	read_file_events(watch);
}
