/* STUB */
#include "config.h"
#include <drivers/area_malloc.h>
module_info *modules[] = { NULL };
