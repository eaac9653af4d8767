// SPDX-License-Identifier: MIT
/*
 * PCI configuration mechanism #1 (0xcf8 address, 0xcfc-0xcff data).  No
 * devices are attached yet: every function reads all ones, so a bus scan
 * finds vendor 0xffff everywhere.
 */
#include "devices.h"

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

void dev_pci_init(struct machine *m)
{
	m->dev->pci_addr = 0;
	machine_register_pio(m, 0xcf8, 8, m, pci_read, pci_write);
}
