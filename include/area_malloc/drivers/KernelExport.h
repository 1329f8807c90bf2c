/*
 * drivers/KernelExport.h - Haiku keeps KernelExport.h in its drivers folder;
 * here it lives one level up, beside OS.h. This lets both spellings resolve.
 */
#include "../KernelExport.h"
