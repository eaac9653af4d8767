// SPDX-License-Identifier: MIT
/*
 * Dual 8259 PIC at 0x20/0x21 and 0xa0/0xa1: initialisation words and the
 * mask register are accepted and read back.  Interrupt delivery is not
 * wired yet (platform issue): IRQ lines change no CPU state.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

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

/* snapshot section "dev:pic" v1: both 8259s */
static void pic_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	(void)opaque;
	for (int k = 0; k < 2; k++) {
		const struct pic8259 *p = &m->dev->pic[k];
		const uint8_t r[13] = { p->irr, p->imr, p->isr, p->icw_step, p->icw[0], p->icw[1],
					p->icw[2], p->icw[3], p->base, p->read_isr, p->elcr,
					p->lines, p->prio_add };
		snap_put_bytes(b, r, sizeof(r));
		snap_put_u8(b, p->auto_eoi);
		snap_put_u8(b, p->special_mask);
		snap_put_u8(b, p->poll);
	}
}

static int pic_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		    char *err, size_t errlen)
{
	struct pic8259 pic[2];
	(void)opaque;
	(void)version;
	memset(pic, 0, sizeof(pic));
	for (int k = 0; k < 2; k++) {
		struct pic8259 *p = &pic[k];
		uint8_t r[13];
		snap_get_bytes(in, r, sizeof(r));
		p->irr = r[0]; p->imr = r[1]; p->isr = r[2]; p->icw_step = r[3];
		memcpy(p->icw, r + 4, 4);
		p->base = r[8]; p->read_isr = r[9]; p->elcr = r[10]; p->lines = r[11];
		p->prio_add = r[12];
		p->auto_eoi = snap_get_bool(in);
		p->special_mask = snap_get_bool(in);
		p->poll = snap_get_bool(in);
		if (p->icw_step > 3 || p->read_isr > 1 || p->prio_add > 7)
			in->bad = true;
	}
	if (!snap_in_done(in)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	memcpy(m->dev->pic, pic, sizeof(pic));
	return 0;
}

void dev_pic_init(struct machine *m)
{
	memset(m->dev->pic, 0, sizeof(m->dev->pic));
	machine_register_pio(m, 0x20, 2, m, pic_read, pic_write);
	machine_register_pio(m, 0xa0, 2, m, pic_read, pic_write);
	snapshot_register(m, "pic", 1, m, pic_save, pic_load);
}
