# tests/headers: the public headers, in C and in C++, under -pedantic. The C
# and C++ translation units link into one Check program, which compares what
# each of them sees.

check_PROGRAMS += tests/headers/test_headers
TESTS += tests/headers/test_headers
tests_headers_test_headers_SOURCES = \
	tests/headers/test_headers.c \
	tests/headers/test_headers_cxx.cpp \
	tests/headers/test_headers_cxx.h
tests_headers_test_headers_CFLAGS = $(CHECK_TEST_CFLAGS) -pedantic
tests_headers_test_headers_CXXFLAGS = -std=c++17 $(WARN_CFLAGS) -pedantic \
	$(SANITIZER_CFLAGS) $(PTHREAD_FLAGS)
tests_headers_test_headers_LDADD = libarea_malloc.la $(CHECK_TEST_LIBS)
