// SPDX-License-Identifier: MIT
/*
 * PCI bus 0 through configuration mechanism #1 (PCI Local Bus spec 3.0,
 * 3.2.2.3.2): address at 0xcf8 (dword), data at 0xcfc-0xcff.  Absent
 * functions read all ones.
 *
 * Functions (as QEMU's pc machine with -nodefaults):
 *   00:00.0  i440FX host bridge 8086:1237
 *   00:01.0  PIIX3 ISA bridge 8086:7000 (multi-function)
 *   00:01.3  PIIX4 power management 8086:7113 (PMBA 0x600, SCI on IRQ 9)
 *   00:02.0  PCI test device 1b36:0005, with -device pci-testdev
 *
 * BARs are assigned as firmware would (I/O from 0xc000, memory below the
 * IOAPIC at 0xfebf0000) and decoding is enabled; software may size and
 * move them.  BAR accesses are dispatched by address on every access.
 *
 * The test device (QEMU hw/misc/pci-testdev.c protocol): BAR0 is 4 KiB of
 * MMIO, BAR1 256 bytes of I/O.  Offset 0 selects a test (0-2, per BAR);
 * the test header reads back {test, width 1, offset, data, count, name};
 * a byte write of `data` (any byte for the wildcard test) at `offset`
 * increments `count`.  Accesses are split into bytes.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

#define PCI_MMIO_BASE 0xfebf0000u
#define PCI_IO_BASE 0xc000u

enum { FN_HOST, FN_ISA, FN_PM, FN_TEST };
static const uint8_t fn_devfn[PCI_NFN] = { 0x00, 0x08, 0x0b, 0x10 };

static struct pci *bus(struct machine *m)
{
	return &m->dev->pci;
}

static void c16(struct pci_fn *f, int off, uint16_t v)
{
	memcpy(f->cfg + off, &v, 2);
}

static void c32(struct pci_fn *f, int off, uint32_t v)
{
	memcpy(f->cfg + off, &v, 4);
}

static uint32_t g32(const struct pci_fn *f, int off)
{
	uint32_t v;
	memcpy(&v, f->cfg + off, 4);
	return v;
}

static void ident(struct pci_fn *f, uint16_t vendor, uint16_t device, uint32_t class_rev,
		  uint8_t htype)
{
	memset(f, 0, sizeof(*f));
	f->present = true;
	c16(f, 0x00, vendor);
	c16(f, 0x02, device);
	c32(f, 0x08, class_rev);
	f->cfg[0x0e] = htype;
	c16(f, 0x2c, 0x1af4);		/* subsystem: Red Hat, QEMU */
	c16(f, 0x2e, 0x1100);
	f->wmask[0x04] = 0x07;		/* command: I/O, memory, bus master */
	f->wmask[0x05] = 0x04;		/* INTx disable */
	f->wmask[0x0c] = 0xff;		/* cache line size */
	f->wmask[0x0d] = 0xff;		/* latency timer */
}

static void add_bar(struct pci_fn *f, int n, uint32_t size, bool io, uint32_t addr)
{
	int off = 0x10 + 4 * n;
	f->bar_size[n] = size;
	f->bar_io[n] = io;
	uint32_t mask = ~(size - 1);
	for (int k = 0; k < 4; k++)
		f->wmask[off + k] = (uint8_t)(mask >> (8 * k));
	f->wmask[off] &= io ? 0xfc : 0xf0;
	c32(f, off, (addr & mask) | (io ? 1 : 0));
}

static struct pci_fn *find_fn(struct machine *m, uint32_t addr)
{
	if (!(addr & 0x80000000u) || ((addr >> 16) & 0xff))
		return NULL;
	uint8_t devfn = (uint8_t)(addr >> 8);
	for (int k = 0; k < PCI_NFN; k++)
		if (fn_devfn[k] == devfn && bus(m)->fn[k].present)
			return &bus(m)->fn[k];
	return NULL;
}

static uint32_t pci_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	struct pci *p = bus(m);
	if (port < 0xcfc) {
		if (port == 0xcf8 && size == 4)
			return p->addr;
		return 0xffffffff;
	}
	struct pci_fn *f = find_fn(m, p->addr);
	if (!f)
		return 0xffffffff;
	uint32_t off = (p->addr & 0xfc) + (port & 3), v = 0;
	for (int k = 0; k < size && off + k < 256; k++)
		v |= (uint32_t)f->cfg[off + k] << (8 * k);
	return v;
}

static void pci_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct pci *p = bus(m);
	if (port < 0xcfc) {
		if (port == 0xcf8 && size == 4)
			p->addr = v & 0x80fffffc;
		return;
	}
	struct pci_fn *f = find_fn(m, p->addr);
	if (!f)
		return;
	uint32_t off = (p->addr & 0xfc) + (port & 3);
	for (int k = 0; k < size && off + k < 256; k++) {
		uint8_t b = (uint8_t)(v >> (8 * k)), w = f->wmask[off + k];
		f->cfg[off + k] = (uint8_t)((f->cfg[off + k] & ~w) | (b & w));
	}
}

/* ---- the test device --------------------------------------------------------- */

static const char *const td_names[6] = {
	"mmio-no-eventfd", "mmio-wildcard-eventfd", "mmio-datamatch-eventfd",
	"portio-no-eventfd", "portio-wildcard-eventfd", "portio-datamatch-eventfd",
};

static uint32_t td_offset(int t)
{
	return (t < 3 ? 2048u : 128u) + (uint32_t)t;
}

static uint8_t td_data(int t)
{
	return t % 3 == 1 ? 0xce : 0xfa;	/* wildcard : data match */
}

static uint8_t td_read_byte(struct pci_testdev_state *s, uint32_t addr)
{
	if (s->current < 0)
		return 0;
	int t = s->current;
	uint8_t hdr[48];
	uint32_t len = 16 + (uint32_t)strlen(td_names[t]) + 1;
	memset(hdr, 0, sizeof(hdr));
	hdr[0] = (uint8_t)t;
	hdr[1] = 1;
	uint32_t o = td_offset(t);
	memcpy(hdr + 4, &o, 4);
	hdr[8] = td_data(t);
	memcpy(hdr + 12, &s->count[t], 4);
	memcpy(hdr + 16, td_names[t], strlen(td_names[t]) + 1);
	/* the last byte of the buffer reads 0 (QEMU compares addr + size) */
	if (addr + 1 >= len)
		return 0;
	return hdr[addr];
}

static void td_write_byte(struct pci_testdev_state *s, int type, uint32_t addr, uint8_t v)
{
	if (addr == 0) {
		s->current = -1;
		if (v >= 3)
			return;
		s->current = type * 3 + v;
		s->count[s->current] = 0;
		return;
	}
	if (s->current < 0)
		return;
	int t = s->current;
	if (addr != td_offset(t))
		return;
	if (t % 3 != 1 && v != td_data(t))
		return;
	s->count[t]++;
}

/* the BAR of the test device that decodes `addr`, -1 if none */
static int td_bar(struct machine *m, uint64_t addr, bool io, uint32_t *off)
{
	struct pci_fn *f = &bus(m)->fn[FN_TEST];
	if (!f->present)
		return -1;
	uint16_t cmd = (uint16_t)(f->cfg[4] | (f->cfg[5] << 8));
	for (int n = 0; n < 2; n++) {
		if (f->bar_io[n] != io || !(cmd & (io ? 1 : 2)))
			continue;
		uint32_t base = g32(f, 0x10 + 4 * n) & (io ? ~3u : ~0xfu);
		if (!base)
			continue;
		if (addr >= base && addr - base < f->bar_size[n]) {
			*off = (uint32_t)(addr - base);
			return n;
		}
	}
	return -1;
}

static uint64_t bar_mmio_read(void *opaque, uint64_t addr, int size)
{
	struct machine *m = opaque;
	uint32_t off;
	if (td_bar(m, addr, false, &off) < 0)
		return 0;
	uint64_t v = 0;
	for (int k = 0; k < size && k < 8; k++)
		v |= (uint64_t)td_read_byte(&bus(m)->td, off + k) << (8 * k);
	return v;
}

static void bar_mmio_write(void *opaque, uint64_t addr, int size, uint64_t v)
{
	struct machine *m = opaque;
	uint32_t off;
	if (td_bar(m, addr, false, &off) < 0)
		return;
	for (int k = 0; k < size && k < 8; k++)
		td_write_byte(&bus(m)->td, 0, off + k, (uint8_t)(v >> (8 * k)));
}

static uint32_t bar_io_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	uint32_t off;
	if (td_bar(m, port, true, &off) < 0)
		return 0xffffffff;	/* unassigned port */
	uint32_t v = 0;
	for (int k = 0; k < size; k++)
		v |= (uint32_t)td_read_byte(&bus(m)->td, off + k) << (8 * k);
	return v;
}

static void bar_io_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	uint32_t off;
	if (td_bar(m, port, true, &off) < 0)
		return;
	for (int k = 0; k < size; k++)
		td_write_byte(&bus(m)->td, 1, off + k, (uint8_t)(v >> (8 * k)));
}

void dev_pci_reset(struct machine *m)
{
	struct pci *p = bus(m);
	memset(p, 0, sizeof(*p));
	p->td.current = -1;

	struct pci_fn *f = &p->fn[FN_HOST];
	ident(f, 0x8086, 0x1237, 0x06000002, 0x00);
	c16(f, 0x04, 0x0006);
	c16(f, 0x06, 0x0280);	/* status: fast back-to-back, medium DEVSEL */

	f = &p->fn[FN_ISA];
	ident(f, 0x8086, 0x7000, 0x06010000, 0x80);
	c16(f, 0x04, 0x0007);
	c16(f, 0x06, 0x0200);

	f = &p->fn[FN_PM];
	ident(f, 0x8086, 0x7113, 0x06800003, 0x00);
	c16(f, 0x06, 0x0280);
	f->cfg[0x3c] = 9;		/* interrupt line: SCI */
	f->cfg[0x3d] = 1;		/* INTA# */
	c32(f, 0x40, PM_BASE | 1);	/* PMBA (fixed here) */
	f->cfg[0x80] = 1;		/* PMIOSE: PM I/O space enabled */

	if (m->cfg.pci_testdev) {
		f = &p->fn[FN_TEST];
		ident(f, 0x1b36, 0x0005, 0x00ff0000, 0x00);
		add_bar(f, 0, 4096, false, PCI_MMIO_BASE);
		add_bar(f, 1, 256, true, PCI_IO_BASE);
		c16(f, 0x04, 0x0003);	/* firmware enabled I/O and memory decoding */
		f->wmask[0x3c] = 0xff;
	}
}

/*
 * snapshot section "dev:pci" v2: CONFIG_ADDRESS, every function's
 * configuration space (its read-only bytes must match this machine's,
 * e.g. the same devices), the test device's selection and counters
 */
static void pci_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct pci *p = bus(m);
	(void)opaque;
	snap_put_u32(b, p->addr);
	for (int k = 0; k < PCI_NFN; k++)
		snap_put_bytes(b, p->fn[k].cfg, sizeof(p->fn[k].cfg));
	snap_put_u8(b, (uint8_t)(p->td.current + 1));
	for (int k = 0; k < 6; k++)
		snap_put_u32(b, p->td.count[k]);
}

static int pci_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		    char *err, size_t errlen)
{
	struct pci *p = bus(m);
	uint8_t cfg[PCI_NFN][256];
	(void)opaque;
	if (version != 2) {
		snprintf(err, errlen, "version %u is not supported", version);
		return -1;
	}
	uint32_t addr = snap_get_u32(in);
	for (int k = 0; k < PCI_NFN; k++)
		snap_get_bytes(in, cfg[k], 256);
	int cur = (int)snap_get_u8(in) - 1;
	uint32_t count[6];
	for (int k = 0; k < 6; k++)
		count[k] = snap_get_u32(in);
	if (!snap_in_done(in) || (addr & ~0x80fffffcu) || cur < -1 || cur > 5) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	for (int k = 0; k < PCI_NFN; k++)
		for (int o = 0; o < 256; o++)
			if ((cfg[k][o] ^ p->fn[k].cfg[o]) & ~p->fn[k].wmask[o]) {
				snprintf(err, errlen, "function %02x.%d differs from this machine's "
					 "(offset %#x)", fn_devfn[k] >> 3, fn_devfn[k] & 7, o);
				return -1;
			}
	p->addr = addr;
	for (int k = 0; k < PCI_NFN; k++)
		memcpy(p->fn[k].cfg, cfg[k], 256);
	p->td.current = cur;
	memcpy(p->td.count, count, sizeof(count));
	return 0;
}

void dev_pci_init(struct machine *m)
{
	dev_pci_reset(m);
	machine_register_pio(m, 0xcf8, 8, m, pci_read, pci_write);
	snapshot_register(m, "pci", 2, m, pci_save, pci_load);
}

/* catch-all BAR dispatchers: registered after every fixed device */
void dev_pci_init_bars(struct machine *m)
{
	machine_register_pio(m, 0x0000, 0xffff, m, bar_io_read, bar_io_write);
	machine_register_mmio(m, 0, 0x100000000ULL, m, bar_mmio_read, bar_mmio_write);
}
