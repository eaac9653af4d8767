// SPDX-License-Identifier: MIT
/*
 * Device set-up and the interrupt plumbing between devices and vCPUs.
 */
#include <stdlib.h>
#include <string.h>

#include "devices.h"

void dev_init_all(struct machine *m)
{
	if (!m->dev) {
		m->dev = calloc(1, sizeof(*m->dev));
		if (!m->dev) {
			fprintf(stderr, "nestvm: out of memory\n");
			exit(1);
		}
	}
	dev_uart_init(m);
	dev_fwcfg_init(m);
	if (m->cfg.pc_testdev)
		dev_testdev_init(m);
	dev_misc_init(m);
	dev_pci_init(m);
	dev_pic_init(m);
}

void dev_reset_all(struct machine *m)
{
	FILE *out = m->dev->com1.out;
	memset(m->dev, 0, sizeof(*m->dev));
	m->dev->com1.out = out;
}

void machine_set_irq(struct machine *m, int irq, int level)
{
	if (irq < 16)
		pic_set_irq(m, irq, level);
}

void dev_eoi(struct machine *m, int vector)
{
	(void)m;
	(void)vector;
}

void dev_pre_run(struct machine *m, int cpu)
{
	(void)m;
	(void)cpu;
}

bool dev_input_possible(struct machine *m)
{
	(void)m;
	return false;
}
