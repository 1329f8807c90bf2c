# tests/module: the module manager (get_module/put_module) over small test
# modules. The modules are check-only libtool modules, staged by the rule
# below into two module trees (dirs/first, dirs/second) that the test puts
# in KERNEL_MODULE_PATH. They and the test share libmodule_log, a real shared
# library, so what the modules record survives their unloading.

check_PROGRAMS += tests/module/test_module
TESTS += tests/module/test_module
tests_module_test_module_SOURCES = tests/module/test_module.c tests/module/modules/test_module.h
tests_module_test_module_CFLAGS = $(CHECK_TEST_CFLAGS)
tests_module_test_module_LDADD = tests/module/libmodule_log.la libarea_malloc.la $(CHECK_TEST_LIBS)

check_LTLIBRARIES += tests/module/libmodule_log.la
tests_module_libmodule_log_la_SOURCES = tests/module/module_log.c tests/module/module_log.h
tests_module_libmodule_log_la_LDFLAGS = $(AM_LDFLAGS) -avoid-version -shared -rpath /nowhere

TEST_MODULE_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
TEST_MODULE_LIBADD = tests/module/libmodule_log.la libarea_malloc.la

# recording.c, built once per name, build variant and flags.
test_recording_modules = \
	tests/module/modules/test_a.la \
	tests/module/modules/exact.la \
	tests/module/modules/top.la \
	tests/module/modules/order_first.la \
	tests/module/modules/order_second.la \
	tests/module/modules/fallback.la \
	tests/module/modules/keep.la
test_other_modules = \
	tests/module/modules/multi.la \
	tests/module/modules/no_modules.la \
	tests/module/modules/no_std_ops.la \
	tests/module/modules/reentrant.la \
	tests/module/modules/circular.la \
	tests/module/modules/uninit_get.la \
	tests/module/modules/deps.la \
	tests/module/modules/deps_missing.la
check_LTLIBRARIES += $(test_recording_modules) $(test_other_modules)

tests_module_modules_test_a_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_test_a_la_CPPFLAGS = $(AM_CPPFLAGS) -DMODULE_NAME='"test/a/v1"'
tests_module_modules_test_a_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_test_a_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_exact_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_exact_la_CPPFLAGS = $(AM_CPPFLAGS) -DMODULE_NAME='"test/exact/v1"'
tests_module_modules_exact_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_exact_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_top_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_top_la_CPPFLAGS = $(AM_CPPFLAGS) -DMODULE_NAME='"top/level/v1"'
tests_module_modules_top_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_top_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_order_first_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_order_first_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMODULE_NAME='"test/order/v1"' -DMODULE_VARIANT='"first"'
tests_module_modules_order_first_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_order_first_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_order_second_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_order_second_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMODULE_NAME='"test/order/v1"' -DMODULE_VARIANT='"second"'
tests_module_modules_order_second_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_order_second_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_fallback_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_fallback_la_CPPFLAGS = $(AM_CPPFLAGS) -DMODULE_NAME='"test/fallback/v1"'
tests_module_modules_fallback_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_fallback_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_keep_la_SOURCES = tests/module/modules/recording.c
tests_module_modules_keep_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMODULE_NAME='"test/keep/v1"' -DMODULE_FLAGS=B_KEEP_LOADED
tests_module_modules_keep_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_keep_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_multi_la_SOURCES = tests/module/modules/multi.c
tests_module_modules_multi_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_multi_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_no_modules_la_SOURCES = tests/module/modules/no_modules.c
tests_module_modules_no_modules_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)

tests_module_modules_no_std_ops_la_SOURCES = tests/module/modules/no_std_ops.c
tests_module_modules_no_std_ops_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)

tests_module_modules_reentrant_la_SOURCES = tests/module/modules/reentrant.c
tests_module_modules_reentrant_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_reentrant_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_circular_la_SOURCES = tests/module/modules/circular.c
tests_module_modules_circular_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_circular_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_uninit_get_la_SOURCES = tests/module/modules/uninit_get.c
tests_module_modules_uninit_get_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_uninit_get_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_deps_la_SOURCES = tests/module/modules/dependencies.c
tests_module_modules_deps_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMODULE_NAME='"test/deps/v1"' -DSECOND_DEPENDENCY='"test/multi/two"'
tests_module_modules_deps_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_deps_la_LIBADD = $(TEST_MODULE_LIBADD)

tests_module_modules_deps_missing_la_SOURCES = tests/module/modules/dependencies.c
tests_module_modules_deps_missing_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMODULE_NAME='"test/deps_missing/v1"' -DSECOND_DEPENDENCY='"test/missing/v1"'
tests_module_modules_deps_missing_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_module_modules_deps_missing_la_LIBADD = $(TEST_MODULE_LIBADD)

# The staged trees (removed by clean-local with all of tests/module/dirs):
#   first/  test/a, test/exact/v1, top, test/order ("first"), test/keep,
#           test/multi, test/no_std_ops, test/reentrant, test/circular,
#           test/uninit_get, test/deps, test/deps_missing; not module images:
#           test/bad and test/fallback (ELF without 'modules'), test/text (not
#           ELF), test/dir/v1 (a directory)
#   second/ test/order ("second"), test/fallback (the real one)
#   empty/  nothing
module_test_dirs = tests/module/dirs
check_DATA += $(module_test_dirs)/staged.stamp
$(module_test_dirs)/staged.stamp: $(test_recording_modules) $(test_other_modules)
	$(AM_V_GEN)set -e; first=$(module_test_dirs)/first; second=$(module_test_dirs)/second; \
	rm -rf $$first $$second $(module_test_dirs)/empty; \
	mkdir -p $$first/test/dir/v1 $$second $(module_test_dirs)/empty; \
	for staged in test_a:test/a exact:test/exact/v1 top:top order_first:test/order \
		keep:test/keep multi:test/multi no_std_ops:test/no_std_ops reentrant:test/reentrant \
		circular:test/circular uninit_get:test/uninit_get deps:test/deps \
		deps_missing:test/deps_missing no_modules:test/bad no_modules:test/fallback; do \
		$(STAGE_MODULE) tests/module/modules/$${staged%%:*}.la $$first $${staged#*:}; \
	done; \
	$(STAGE_MODULE) tests/module/modules/order_second.la $$second test/order; \
	$(STAGE_MODULE) tests/module/modules/fallback.la $$second test/fallback; \
	echo 'This text file is where a module image of test/text could be, but it is not ELF.' \
		> $$first/test/text; \
	touch $@
