# The examples: a minimal driver, and netdrv, a simulated network driver with
# its QA suite and the demo that README's first command runs (make demo).
noinst_PROGRAMS += examples/example_driver
examples_example_driver_SOURCES = examples/example_driver.c
examples_example_driver_LDADD = libarea_malloc.la

# netdrv: the driver and its self-checking traffic, linked into three programs.
NETDRV_SOURCES = examples/netdrv/netdrv.c examples/netdrv/netdrv.h \
	examples/netdrv/netdrv_traffic.c examples/netdrv/netdrv_traffic.h

# The demo: the driver built with its three planted bugs (make demo) ...
noinst_PROGRAMS += examples/netdrv/netdrv_demo
examples_netdrv_netdrv_demo_SOURCES = examples/netdrv/netdrv_demo.c $(NETDRV_SOURCES)
examples_netdrv_netdrv_demo_CPPFLAGS = $(AM_CPPFLAGS) -DNETDRV_BUGGY
examples_netdrv_netdrv_demo_LDADD = libarea_malloc.la
# a real executable, not libtool's wrapper script: reports and dumps name it
examples_netdrv_netdrv_demo_LDFLAGS = $(AM_LDFLAGS) -no-install

# ... and the same demo over the fixed driver (make demo-clean).
noinst_PROGRAMS += examples/netdrv/netdrv_demo_fixed
examples_netdrv_netdrv_demo_fixed_SOURCES = examples/netdrv/netdrv_demo.c $(NETDRV_SOURCES)
examples_netdrv_netdrv_demo_fixed_LDADD = libarea_malloc.la
examples_netdrv_netdrv_demo_fixed_LDFLAGS = $(AM_LDFLAGS) -no-install

# Reads the QA runner's report.json: were the planted bugs caught, at the right place?
noinst_PROGRAMS += examples/netdrv/netdrv_report_check
examples_netdrv_netdrv_report_check_SOURCES = examples/netdrv/netdrv_report_check.c
examples_netdrv_netdrv_report_check_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
examples_netdrv_netdrv_report_check_LDADD = $(JSONC_LIBS)

# The driver's QA suite, run with the release and the debug build of area_malloc.
check_PROGRAMS += examples/netdrv/qa/test_netdrv
TESTS += examples/netdrv/qa/test_netdrv
examples_netdrv_qa_test_netdrv_SOURCES = examples/netdrv/qa/test_netdrv.c $(NETDRV_SOURCES)
examples_netdrv_qa_test_netdrv_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/examples/netdrv
examples_netdrv_qa_test_netdrv_CFLAGS = $(CHECK_TEST_CFLAGS)
examples_netdrv_qa_test_netdrv_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)

EXTRA_DIST += examples/netdrv/run-demo

# make demo: the buggy driver under `pooldump run`, which must catch each
# planted bug; make demo-clean: the fixed driver, which must come out clean.
demo: all
	@$(SHELL) $(top_srcdir)/examples/netdrv/run-demo buggy '$(abs_builddir)'

demo-clean: all
	@$(SHELL) $(top_srcdir)/examples/netdrv/run-demo fixed '$(abs_builddir)'

.PHONY: demo demo-clean

# what the demos leave in the build tree (clean-local belongs to Makefile.am)
mostlyclean-local:
	-rm -rf netdrv-demo-buggy netdrv-demo-fixed
