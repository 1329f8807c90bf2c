# The test suite, one folder per feature. Every test program is a Check
# suite; automake's parallel driver runs them.
CHECK_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(DW_CFLAGS) -I$(top_srcdir)/tests
EXTRA_DIST += tests/support/alarm.h tests/support/debug_command.h tests/support/check_main.h tests/support/test_stacks.h \
	tests/support/wild_write.h tests/support/read_stream.h \
	tests/support/report_recorder.h tests/support/debug_options.h tests/support/debug_module.h \
	tests/support/damage_pattern.h
# libdw, which the debug module links, is loaded with every test program
# (not first by the module's dlopen): its thread-local storage is then
# static. As dynamic TLS of a library loaded and unloaded with the module,
# LeakSanitizer's exit-time scan (the --enable-asan run) followed a stale
# entry of it in some forked test children and died ("Tracer caught signal
# 11"), depending only on what the runner had allocated before the fork.
# (check_main.h names a libdw function, so that --as-needed keeps it).
CHECK_TEST_LIBS = $(CHECK_LIBS) $(DW_LIBS)

include tests/headers/local.mk
include tests/area/local.mk
include tests/module/local.mk
include tests/heap/local.mk
include tests/pool/local.mk
include tests/symbolize/local.mk
include tests/debug_zoo/local.mk
include tests/debug_api/local.mk
include tests/node/local.mk
include tests/node_writer/local.mk
include tests/bench/local.mk
include tests/fuzz/local.mk
include tests/stress/local.mk
include tests/faults/local.mk
include tests/misuse/local.mk
include tests/runner/local.mk
include tests/corruption/local.mk
include tests/security/local.mk
include tests/postmortem/local.mk
include tests/leak_scan/local.mk
include tests/guard/local.mk
