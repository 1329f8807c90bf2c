/*
 * plugin.c - a shared library the symbolizer test dlopen()s after its
 * symbolizer was opened: one exported function and one static function that
 * is in .symtab only, each with a probed call site.
 * Invariants: plugin_hidden_probe stays out of .dynsym (static, noipa).
 * Locking: none.
 */
#include "config.h"

#include "probe.h"

void symbolize_plugin_probe(struct probe_site *exported_site, struct probe_site *hidden_site);

__attribute__((noipa)) static void plugin_hidden_probe(struct probe_site *site)
{
	PROBE_SITE(site);
}

void symbolize_plugin_probe(struct probe_site *exported_site, struct probe_site *hidden_site)
{
	PROBE_SITE(exported_site);
	plugin_hidden_probe(hidden_site);
}
