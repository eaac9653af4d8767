// SPDX-License-Identifier: MIT
/*
 * PCI configuration mechanism #1 (0xcf8 address, 0xcfc-0xcff data).  No
 * devices are attached yet: every function reads all ones, so a bus scan
 * finds vendor 0xffff everywhere.
 */
#include "devices.h"
#include "snapshot.h"

static uint32_t pci_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	if (port == 0xcf8 && size == 4)
		return m->dev->pci_addr;
	if (port >= 0xcfc)
		return 0xffffffff;
	return 0xffffffff;
}

static void pci_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	if (port == 0xcf8 && size == 4)
		m->dev->pci_addr = v & 0x80fffffc;
}

/* snapshot section "dev:pci" v1: the CONFIG_ADDRESS latch */
static void pci_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	(void)opaque;
	snap_put_u32(b, m->dev->pci_addr);
}

static int pci_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		    char *err, size_t errlen)
{
	(void)opaque;
	(void)version;
	uint32_t a = snap_get_u32(in);
	if (!snap_in_done(in) || (a & ~0x80fffffcu)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	m->dev->pci_addr = a;
	return 0;
}

void dev_pci_init(struct machine *m)
{
	m->dev->pci_addr = 0;
	machine_register_pio(m, 0xcf8, 8, m, pci_read, pci_write);
	snapshot_register(m, "pci", 1, m, pci_save, pci_load);
}
