/* area.c - STUB, being written. */
#include "config.h"
#include <KernelExport.h>
area_id create_area(const char *n, void **a, uint32 s, size_t z, uint32 l, uint32 p)
{ (void)n; (void)a; (void)s; (void)z; (void)l; (void)p; return B_ERROR; }
status_t delete_area(area_id a) { (void)a; return B_ERROR; }
area_id area_for(void *a) { (void)a; return B_ERROR; }
area_id find_area(const char *n) { (void)n; return B_ERROR; }
status_t _get_area_info(area_id a, area_info *i, size_t s) { (void)a; (void)i; (void)s; return B_ERROR; }
status_t _get_next_area_info(team_id t, ssize_t *c, area_info *i, size_t s) { (void)t; (void)c; (void)i; (void)s; return B_ERROR; }
