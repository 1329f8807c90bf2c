# tests/fuzz: libFuzzer targets and their regression suite.
#
#   fuzz_ops_release, fuzz_ops_debug  generic/area_malloc/v1 (release and debug
#                                     module) against a reference model
#   fuzz_node_reader                  pooldump's node reader and pool commands
#   fuzz_options                      AREA_MALLOC_OPTIONS and suppressions files
#
# With --enable-fuzzing (CC=clang) the four libFuzzer binaries are built;
# scripts/check-fuzz BUILDDIR SECONDS runs them. In every build,
# test_fuzz_corpus replays corpus/TARGET and regressions/TARGET through the
# same target sources (fuzz_ops_* share corpus/fuzz_ops). The seed corpus is
# made by tests/fuzz/make-corpus (fuzz_corpus_gen, built on demand); a
# crash found by fuzzing goes, named, into regressions/TARGET.

FUZZ_COMMON_SRC = tests/fuzz/fuzz_target.h tests/fuzz/fuzz_support.c \
	tests/node/json_check.c tests/node/json_check.h
FUZZ_LINK_LIBS = libamnodereader.la libamdebug.la libamformat.la libamcore.la libamheap.la libarea_malloc.la $(DW_LIBS)

check_PROGRAMS += tests/fuzz/test_fuzz_corpus
TESTS += tests/fuzz/test_fuzz_corpus
tests_fuzz_test_fuzz_corpus_SOURCES = tests/fuzz/test_fuzz_corpus.c \
	tests/fuzz/fuzz_ops.c tests/fuzz/fuzz_node_reader.c tests/fuzz/fuzz_options.c \
	$(FUZZ_COMMON_SRC)
tests_fuzz_test_fuzz_corpus_CFLAGS = $(CHECK_TEST_CFLAGS) $(DW_CFLAGS) -g \
	-DFUZZ_SOURCE_DIR='"$(abs_top_srcdir)/tests/fuzz"'
tests_fuzz_test_fuzz_corpus_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_fuzz_test_fuzz_corpus_LDADD = $(FUZZ_LINK_LIBS) $(CHECK_TEST_LIBS)

# The seed corpus generator (tests/fuzz/make-corpus builds and runs it).
EXTRA_PROGRAMS = tests/fuzz/fuzz_corpus_gen
tests_fuzz_fuzz_corpus_gen_SOURCES = tests/fuzz/fuzz_corpus_gen.c tests/fuzz/fuzz_support.c \
	tests/fuzz/fuzz_target.h
tests_fuzz_fuzz_corpus_gen_CFLAGS = $(AM_CFLAGS) $(DW_CFLAGS) -I$(top_srcdir)/tests -g
tests_fuzz_fuzz_corpus_gen_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_fuzz_fuzz_corpus_gen_LDADD = libarea_malloc.la
CLEANFILES += tests/fuzz/fuzz_corpus_gen$(EXEEXT)

if ENABLE_FUZZING
# -g: libFuzzer's crash stacks and the debug module's reports name lines.
FUZZ_COMPILE_FLAGS = $(AM_CFLAGS) $(DW_CFLAGS) -I$(top_srcdir)/tests -g -DFUZZ_LIBFUZZER
FUZZ_LINK_FLAGS = $(AM_LDFLAGS) $(FUZZER_LDFLAGS) -no-install

noinst_PROGRAMS += tests/fuzz/fuzz_ops_release tests/fuzz/fuzz_ops_debug \
	tests/fuzz/fuzz_node_reader tests/fuzz/fuzz_options

tests_fuzz_fuzz_ops_release_SOURCES = tests/fuzz/fuzz_ops.c $(FUZZ_COMMON_SRC)
tests_fuzz_fuzz_ops_release_CFLAGS = $(FUZZ_COMPILE_FLAGS)
tests_fuzz_fuzz_ops_release_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_ops_release_LDADD = $(FUZZ_LINK_LIBS)

tests_fuzz_fuzz_ops_debug_SOURCES = tests/fuzz/fuzz_ops.c $(FUZZ_COMMON_SRC)
tests_fuzz_fuzz_ops_debug_CFLAGS = $(FUZZ_COMPILE_FLAGS) -DFUZZ_OPS_DEBUG
tests_fuzz_fuzz_ops_debug_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_ops_debug_LDADD = $(FUZZ_LINK_LIBS)

tests_fuzz_fuzz_node_reader_SOURCES = tests/fuzz/fuzz_node_reader.c $(FUZZ_COMMON_SRC)
tests_fuzz_fuzz_node_reader_CFLAGS = $(FUZZ_COMPILE_FLAGS)
tests_fuzz_fuzz_node_reader_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_node_reader_LDADD = $(FUZZ_LINK_LIBS)

tests_fuzz_fuzz_options_SOURCES = tests/fuzz/fuzz_options.c $(FUZZ_COMMON_SRC)
tests_fuzz_fuzz_options_CFLAGS = $(FUZZ_COMPILE_FLAGS)
tests_fuzz_fuzz_options_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_options_LDADD = $(FUZZ_LINK_LIBS)
endif

EXTRA_DIST += tests/fuzz/corpus tests/fuzz/regressions tests/fuzz/make-corpus \
	tests/fuzz/fuzz_options.dict scripts/check-fuzz
