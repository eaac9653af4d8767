// SPDX-License-Identifier: MIT
/*
 * Dual 8259 PIC at 0x20/0x21 and 0xa0/0xa1: initialisation words and the
 * mask register are accepted and read back.  Interrupt delivery is not
 * wired yet (platform issue): IRQ lines change no CPU state.
 */
#include <string.h>

#include "devices.h"

static uint32_t pic_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	struct pic8259 *p = &m->dev->pic[port >= 0xa0];
	(void)size;
	if (port & 1)
		return p->imr;
	return p->read_isr ? p->isr : p->irr;
}

static void pic_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct pic8259 *p = &m->dev->pic[port >= 0xa0];
	(void)size;
	v &= 0xff;
	if (!(port & 1)) {
		if (v & 0x10) {		/* ICW1 */
			p->icw_step = 1;
			p->icw[0] = (uint8_t)v;
			p->imr = 0;
			p->isr = 0;
			p->irr = 0;
		} else if ((v & 0x18) == 0x08) {	/* OCW3 */
			if (v & 2)
				p->read_isr = v & 1;
		}
		return;
	}
	switch (p->icw_step) {
	case 1:
		p->base = (uint8_t)(v & 0xf8);
		p->icw_step = (p->icw[0] & 2) ? ((p->icw[0] & 1) ? 3 : 0) : 2;
		break;
	case 2:
		p->icw_step = (p->icw[0] & 1) ? 3 : 0;
		break;
	case 3:
		p->auto_eoi = v & 2;
		p->icw_step = 0;
		break;
	default:
		p->imr = (uint8_t)v;
		break;
	}
}

void pic_set_irq(struct machine *m, int irq, int level)
{
	struct pic8259 *p = &m->dev->pic[irq >= 8];
	uint8_t b = (uint8_t)(1u << (irq & 7));
	if (level)
		p->lines |= b;
	else
		p->lines &= ~b;
}

int pic_pending(struct machine *m)
{
	(void)m;
	return -1;
}

int pic_ack(struct machine *m)
{
	(void)m;
	return -1;
}

void dev_pic_init(struct machine *m)
{
	memset(m->dev->pic, 0, sizeof(m->dev->pic));
	machine_register_pio(m, 0x20, 2, m, pic_read, pic_write);
	machine_register_pio(m, 0xa0, 2, m, pic_read, pic_write);
}
