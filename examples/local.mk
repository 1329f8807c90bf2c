# The example driver: what README's first command builds and runs.
noinst_PROGRAMS += examples/example_driver
examples_example_driver_SOURCES = examples/example_driver.c
examples_example_driver_LDADD = libarea_malloc.la

# Runs the example against the modules built in this tree.
demo: all
	KERNEL_MODULE_PATH='$(abs_builddir)/modules/release' ./examples/example_driver

.PHONY: demo
