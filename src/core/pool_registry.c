/* pool_registry.c - STUB */
#include "config.h"
int pool_registry_stub_placeholder;
