/* fwcfg: fw_cfg legacy I/O keys reflect -smp and -m (platform.md §2). */
// nestvm-args: -smp 3 -m 300
#include "libguest.h"

static void sel(uint16_t key)
{
	outw(0x510, key);
}

static uint64_t rd(int n)
{
	uint64_t v = 0;
	for (int k = 0; k < n; k++)
		v |= (uint64_t)inb(0x511) << (8 * k);
	return v;
}

int main(void)
{
	char sig[5] = { 0 };
	sel(0);
	for (int k = 0; k < 4; k++)
		sig[k] = (char)inb(0x511);
	report(!strcmp(sig, "QEMU"), "signature is QEMU (%s)", sig);
	sel(1);
	CHECK_EQ(rd(4), 1, "id: traditional interface");
	sel(5);
	CHECK_EQ(rd(2), 3, "number of CPUs = -smp");
	sel(0xf);
	CHECK_EQ(rd(2), 3, "max CPUs");
	sel(3);
	CHECK_EQ(rd(8), 300ULL << 20, "RAM size = -m");
	sel(0x11);
	CHECK_EQ(rd(8), 0, "no RAM above 4 GiB");
	sel(5);
	CHECK_EQ(rd(4), 3, "reading past the item returns zeros");
	sel(0x1234);
	CHECK_EQ(rd(4), 0, "unknown key reads zeros");
	return report_summary();
}
