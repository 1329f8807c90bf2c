/*
 * alarm.h - a time limit for a test's own process or a child it forks.
 *
 * Check's runner catches SIGALRM for its own time limit, and its handler
 * kills the runner's whole process group with SIGKILL. A test process, and
 * every child it forks, inherits that handler: a plain alarm() that fires
 * in a child therefore kills the test itself, and Check reports "Received
 * signal 9 (Killed)" at a line that says nothing of the hang (seen in CI:
 * a forked child hung for 10 s and took its test down with it). These end
 * the process that armed them, with SIGALRM, so the test's waitpid sees a
 * child killed by signal 14 and its message says which child hung, and a
 * test process that hangs itself is reported as "signal 14 (Alarm clock)".
 *
 * Locking: none; per process.
 */
#ifndef AREA_MALLOC_TESTS_SUPPORT_ALARM_H
#define AREA_MALLOC_TESTS_SUPPORT_ALARM_H

#include <signal.h>
#include <unistd.h>

/* Ends this process with SIGALRM after seconds; 0 disarms. */
static inline void test_alarm(unsigned seconds)
{
	signal(SIGALRM, SIG_DFL);
	alarm(seconds);
}

#endif /* AREA_MALLOC_TESTS_SUPPORT_ALARM_H */
