/*
 * PCI configuration mechanism #1 and bus 0 (PCI 3.0): enumeration of the
 * host bridge 8086:1237, the PIIX3/PIIX4 functions and the PCI test device
 * 1b36:0005 (-device pci-testdev); absent functions; BAR sizing and
 * relocation; command register decoding; the test device's protocol over
 * its memory and I/O BARs (as kvm-unit-tests' pci-testdev test drives it).
 */
// nestvm-args: -device pci-testdev
#include "smp.h"

static uint32_t cfg_addr(int dev, int fn, int reg)
{
	return 0x80000000u | ((uint32_t)dev << 11) | ((uint32_t)fn << 8) | (uint32_t)(reg & 0xfc);
}

static uint32_t cfg32(int dev, int fn, int reg)
{
	outl(0xcf8, cfg_addr(dev, fn, reg));
	return inl(0xcfc);
}

static uint16_t cfg16(int dev, int fn, int reg)
{
	outl(0xcf8, cfg_addr(dev, fn, reg));
	return inw((uint16_t)(0xcfc + (reg & 2)));
}

static uint8_t cfg8(int dev, int fn, int reg)
{
	outl(0xcf8, cfg_addr(dev, fn, reg));
	return inb((uint16_t)(0xcfc + (reg & 3)));
}

static void cfgw32(int dev, int fn, int reg, uint32_t v)
{
	outl(0xcf8, cfg_addr(dev, fn, reg));
	outl(0xcfc, v);
}

static void cfgw16(int dev, int fn, int reg, uint16_t v)
{
	outl(0xcf8, cfg_addr(dev, fn, reg));
	outw((uint16_t)(0xcfc + (reg & 2)), v);
}

static void test_enumeration(void)
{
	outl(0xcf8, 0x80001234);
	CHECK_EQ(inl(0xcf8), 0x80001234, "CONFIG_ADDRESS reads back (dword)");
	int found = 0, test_dev = -1;
	for (int dev = 0; dev < 32; dev++) {
		for (int fn = 0; fn < 8; fn++) {
			uint32_t id = cfg32(dev, fn, 0);
			if ((id & 0xffff) == 0xffff)
				continue;
			found++;
			printf("# %02x.%d: %04x:%04x class %06x\n", dev, fn, id & 0xffff, id >> 16,
			       cfg32(dev, fn, 8) >> 8);
			if (id == 0x00051b36)
				test_dev = dev;
		}
	}
	CHECK_EQ(found, 4, "4 functions on bus 0");
	CHECK_EQ(cfg32(0, 0, 0), 0x12378086, "00.0: i440FX host bridge 8086:1237");
	CHECK_EQ(cfg32(0, 0, 8) >> 8, 0x060000, "00.0: class host bridge");
	CHECK_EQ(cfg32(1, 0, 0), 0x70008086, "01.0: PIIX3 ISA bridge");
	CHECK_EQ(cfg8(1, 0, 0x0e), 0x80, "01.0: multi-function header");
	CHECK_EQ(cfg32(1, 3, 0), 0x71138086, "01.3: PIIX4 power management");
	CHECK_EQ(cfg32(1, 3, 0x40), 0x601, "01.3: PMBA = 0x600 (I/O)");
	CHECK_EQ(cfg8(1, 3, 0x3c), 9, "01.3: interrupt line 9 (SCI)");
	CHECK_EQ(test_dev, 2, "pci-testdev at 02.0");
	CHECK_EQ(cfg16(2, 0, 0), 0x1b36, "vendor Red Hat (word access)");
	CHECK_EQ(cfg8(2, 0, 2), 0x05, "device 0x0005 (byte access)");
	CHECK_EQ(cfg32(5, 0, 0), 0xffffffff, "absent device reads all ones");
	outl(0xcf8, 0x00001000);	/* enable bit clear */
	CHECK_EQ(inl(0xcfc), 0xffffffff, "CONFIG_ADDRESS without the enable bit: all ones");
	outl(0xcf8, 0x80010000);	/* bus 1 */
	CHECK_EQ(inl(0xcfc), 0xffffffff, "bus 1 is empty");
}

static uint32_t bar0, bar1;

static void test_bars(void)
{
	bar0 = cfg32(2, 0, 0x10);
	bar1 = cfg32(2, 0, 0x14);
	report(bar0 && !(bar0 & 1) && !(bar0 & 0xfff), "BAR0: 32-bit memory, assigned (%#x)", bar0);
	report((bar1 & 1) && (bar1 & ~3u) >= 0x1000, "BAR1: I/O, assigned (%#x)", bar1);
	CHECK_EQ(cfg16(2, 0, 4) & 3, 3, "firmware enabled I/O and memory decoding");
	/* sizing */
	cfgw32(2, 0, 0x10, 0xffffffff);
	CHECK_EQ(cfg32(2, 0, 0x10), 0xfffff000, "BAR0 size probe: 4 KiB");
	cfgw32(2, 0, 0x10, bar0);
	cfgw32(2, 0, 0x14, 0xffffffff);
	CHECK_EQ(cfg32(2, 0, 0x14), 0xffffff01, "BAR1 size probe: 256 bytes of I/O");
	cfgw32(2, 0, 0x14, bar1);
	cfgw32(2, 0, 0x18, 0xffffffff);
	CHECK_EQ(cfg32(2, 0, 0x18), 0, "BAR2 not implemented");
	cfgw32(2, 0, 0, 0);
	CHECK_EQ(cfg32(2, 0, 0), 0x00051b36, "ID registers are read-only");
	cfgw32(0, 0, 0x10, 0xffffffff);
	CHECK_EQ(cfg32(0, 0, 0x10), 0, "host bridge has no BARs");
}

struct hdr {
	uint8_t test, width, pad0[2];
	uint32_t offset;
	uint8_t data, pad1[3];
	uint32_t count;
	char name[];
};

static int run_tests(bool io, uint32_t base)
{
	int n;
	for (n = 0;; n++) {
		uint32_t count, width, data, off;
		if (io) {
			outb((uint16_t)base, (uint8_t)n);
			count = inl((uint16_t)(base + 12));
			width = inb((uint16_t)(base + 1));
			data = inl((uint16_t)(base + 8));
			off = inl((uint16_t)(base + 4));
		} else {
			volatile struct hdr *h = (volatile struct hdr *)(uintptr_t)base;
			h->test = (uint8_t)n;
			count = h->count;
			width = h->width;
			data = *(volatile uint32_t *)&h->data;
			off = h->offset;
		}
		if (count != 0 || width != 1)
			break;
		for (int k = 0; k < 16; k++) {
			if (io)
				outb((uint16_t)(base + off), (uint8_t)data);
			else
				*(volatile uint8_t *)(uintptr_t)(base + off) = (uint8_t)data;
		}
		count = io ? inl((uint16_t)(base + 12)) : ((volatile struct hdr *)(uintptr_t)base)->count;
		char name[32];
		int k;
		for (k = 0; k < 31; k++) {
			char c = io ? (char)inb((uint16_t)(base + 16 + k)) :
				      ((volatile char *)(uintptr_t)base)[16 + k];
			name[k] = c;
			if (!c)
				break;
		}
		name[k] = 0;
		report(count == 16, "pci-testdev %s test %d '%s': 16 writes counted", io ? "io" : "mem", n,
		       name);
		if (count != 16)
			break;
	}
	return n;
}

static void test_testdev(void)
{
	CHECK_EQ(run_tests(false, bar0 & ~0xfu), 3, "3 tests on the memory BAR");
	CHECK_EQ(run_tests(true, bar1 & ~3u), 3, "3 tests on the I/O BAR");
	/* data-match test ignores other values; wildcard counts anything */
	uint32_t io = bar1 & ~3u;
	outb((uint16_t)io, 2);		/* portio-datamatch */
	uint32_t off = inl((uint16_t)(io + 4));
	outb((uint16_t)(io + off), 0x11);
	CHECK_EQ(inl((uint16_t)(io + 12)), 0, "data-match test: a wrong value is not counted");
	outb((uint16_t)io, 1);		/* portio-wildcard */
	off = inl((uint16_t)(io + 4));
	outb((uint16_t)(io + off), 0x11);
	CHECK_EQ(inl((uint16_t)(io + 12)), 1, "wildcard test: any value is counted");

	/* decoding off: the BAR no longer answers */
	uint16_t cmd = cfg16(2, 0, 4);
	cfgw16(2, 0, 4, cmd & ~1);
	CHECK_EQ(inb((uint16_t)(io + 1)), 0xff, "I/O decoding disabled: the port reads all ones");
	cfgw16(2, 0, 4, cmd);
	CHECK_EQ(inb((uint16_t)(io + 1)), 1, "I/O decoding enabled again");

	/* relocation */
	cfgw32(2, 0, 0x14, 0xd000);
	outb(0xd000, 0);
	CHECK_EQ(inb(0xd001), 1, "I/O BAR moved to 0xd000");
	cfgw32(2, 0, 0x14, bar1);
	cfgw32(2, 0, 0x10, 0xfeb00000);
	*(volatile uint8_t *)0xfeb00000UL = 0;
	CHECK_EQ(*(volatile uint8_t *)0xfeb00001UL, 1, "memory BAR moved to 0xfeb00000");
	CHECK_EQ(*(volatile uint8_t *)(uintptr_t)((bar0 & ~0xfu) + 1), 0, "the old address is empty");
	cfgw32(2, 0, 0x10, bar0);
}

int main(int argc, char **argv)
{
	test_enumeration();
	test_bars();
	test_testdev();
	return report_summary();
}
