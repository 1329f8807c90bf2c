/*
 * no_modules.c - a shared object that loads fine but exports no 'modules':
 * not a module image (B_BAD_TYPE).
 */
#include "config.h"

int not_a_module_image = 1;
