noinst_PROGRAMS += examples/example_driver
examples_example_driver_SOURCES = examples/example_driver.c
examples_example_driver_LDADD = libarea_malloc.la
