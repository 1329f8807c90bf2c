/*
 * ring.cpp - a C++ library for the symbolizer test: drv::Ring::push(int) has
 * a probed call site, so its mangled name must come back demangled. The test
 * dlopen()s it RTLD_LOCAL and is itself C, so libstdc++ is not in the global
 * scope unless the test puts it there.
 * Invariants: Ring::push is noipa, so it is a real function with its own symbol.
 * Locking: none.
 */
#include "config.h"

#include "probe.h"

namespace drv
{
class Ring
{
      public:
	explicit Ring(struct probe_site *site) : site(site)
	{
	}
	int push(int value);

      private:
	struct probe_site *site;
	int count = 0;
};

__attribute__((noipa)) int Ring::push(int value)
{
	PROBE_SITE(site);
	count += value;
	return count;
}
} // namespace drv

extern "C" int drv_ring_probe(struct probe_site *site);

extern "C" int drv_ring_probe(struct probe_site *site)
{
	drv::Ring ring(site);
	return ring.push(1);
}
