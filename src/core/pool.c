/* pool.c - STUB */
#include "config.h"
int pool_stub_placeholder;
