// SPDX-License-Identifier: MIT
/*
 * The dual 8259A PIC of the PC: master at 0x20/0x21, slave at 0xa0/0xa1
 * cascaded on master IR2, edge/level control registers (ELCR) at 0x4d0 /
 * 0x4d1 (PIIX).  Behaviour per the Intel 8259A datasheet: ICW1-ICW4,
 * OCW1 (mask), OCW2 (EOI, specific EOI, rotation, priority), OCW3 (read
 * IRR/ISR, poll, special mask mode), automatic EOI, spurious IRQ 7/15.
 *
 * The master's INT output goes to vCPU 0 as ExtINT (KVM_INTERRUPT, through
 * LINT0); the INTA cycle happens when the VMM injects (devices.c).
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

static struct pic8259 *pics(struct machine *m)
{
	return m->dev->pic;
}

/* priority order: prio, prio+1, ..., prio+7 (mod 8) */
static int top_bit(const struct pic8259 *p, uint8_t v)
{
	for (int k = 0; k < 8; k++) {
		int irq = (p->prio + k) & 7;
		if (v & (1u << irq))
			return irq;
	}
	return -1;
}

/* rank of an IRQ: 0 = highest priority */
static int rank(const struct pic8259 *p, int irq)
{
	return (irq - p->prio) & 7;
}

/*
 * The request the chip would present: the highest-priority unmasked IRR
 * bit that is above every in-service level (in special mask mode, masked
 * in-service levels do not block).
 */
static int pending_irq(const struct pic8259 *p, bool master)
{
	uint8_t req = p->irr & ~p->imr;
	int irq = top_bit(p, req);
	if (irq < 0)
		return -1;
	uint8_t isr = p->isr;
	if (p->special_mask)
		isr &= ~p->imr;
	/* the cascade input of a master in special fully nested mode */
	if (master && (p->icw4 & 0x10))
		isr &= ~p->icw3;
	int in = top_bit(p, isr);
	if (in >= 0 && rank(p, in) <= rank(p, irq))
		return -1;
	return irq;
}

/* the slave's INT output drives master IR2 (level) */
static void update_cascade(struct machine *m)
{
	struct pic8259 *p = pics(m);
	if (pending_irq(&p[1], false) >= 0)
		p[0].irr |= 1u << 2;
	else
		p[0].irr &= ~(1u << 2);
}

bool pic_output(struct machine *m)
{
	return pending_irq(&pics(m)[0], true) >= 0;
}

static void set_line(struct pic8259 *p, int irq, int level)
{
	uint8_t b = (uint8_t)(1u << irq);
	if (p->elcr & b) {
		/* level: IRR follows the line */
		if (level)
			p->irr |= b;
		else
			p->irr &= ~b;
	} else if (level && !(p->lines & b)) {
		p->irr |= b;	/* edge: a rising edge latches a request */
	}
	if (level)
		p->lines |= b;
	else
		p->lines &= ~b;
}

void pic_set_irq(struct machine *m, int irq, int level)
{
	struct pic8259 *p = pics(m);
	if (irq < 0 || irq >= 16 || irq == 2)
		return;		/* IR2 of the master is the cascade */
	set_line(&p[irq >> 3], irq & 7, level);
	update_cascade(m);
}

/* INTA: the in-service bit is set (unless AEOI), edge requests clear */
static void intack(struct pic8259 *p, int irq)
{
	uint8_t b = (uint8_t)(1u << irq);
	if (p->icw4 & 2) {
		if (p->rotate_aeoi)
			p->prio = (uint8_t)((irq + 1) & 7);
	} else {
		p->isr |= b;
	}
	if (!(p->elcr & b))
		p->irr &= ~b;
}

int pic_ack(struct machine *m)
{
	struct pic8259 *p = pics(m);
	int irq = pending_irq(&p[0], true);
	int vec;
	if (irq < 0) {
		/* request went away: spurious IRQ 7 (no ISR bit) */
		return p[0].base | 7;
	}
	if (irq == 2) {
		int irq2 = pending_irq(&p[1], false);
		intack(&p[0], 2);
		if (irq2 < 0) {
			vec = p[1].base | 7;	/* spurious IRQ 15 */
		} else {
			intack(&p[1], irq2);
			vec = p[1].base | irq2;
		}
		update_cascade(m);
		return vec;
	}
	intack(&p[0], irq);
	update_cascade(m);
	return p[0].base | irq;
}

static void eoi_irq(struct pic8259 *p, int irq, bool rotate)
{
	p->isr &= ~(1u << irq);
	if (rotate)
		p->prio = (uint8_t)((irq + 1) & 7);
}

static void ocw2(struct pic8259 *p, uint8_t v)
{
	int cmd = v >> 5, lvl = v & 7;
	int irq;
	switch (cmd) {
	case 0: p->rotate_aeoi = false; break;		/* rotate in AEOI: clear */
	case 4: p->rotate_aeoi = true; break;		/* rotate in AEOI: set */
	case 1: case 5:					/* non-specific EOI (+rotate) */
		irq = top_bit(p, p->isr);
		if (irq >= 0)
			eoi_irq(p, irq, cmd == 5);
		break;
	case 3: case 7:					/* specific EOI (+rotate) */
		eoi_irq(p, lvl, cmd == 7);
		break;
	case 6:						/* set priority: lvl lowest */
		p->prio = (uint8_t)((lvl + 1) & 7);
		break;
	default:					/* 2: no operation */
		break;
	}
}

/* poll command: the next read returns 0x80 | level and acknowledges it */
static uint8_t poll_read(struct machine *m, int idx)
{
	struct pic8259 *p = &pics(m)[idx];
	int irq = pending_irq(p, idx == 0);
	p->poll = false;
	if (irq < 0)
		return 0;
	intack(p, irq);
	update_cascade(m);
	return (uint8_t)(0x80 | irq);
}

static uint32_t pic_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	int idx = port >= 0xa0;
	struct pic8259 *p = &pics(m)[idx];
	(void)size;
	if (p->poll)
		return poll_read(m, idx);
	if (port & 1)
		return p->imr;
	return p->read_isr ? p->isr : p->irr;
}

static void pic_reset_chip(struct pic8259 *p)
{
	uint8_t elcr = p->elcr, mask = p->elcr_mask, lines = p->lines;
	memset(p, 0, sizeof(*p));
	p->elcr = elcr;
	p->elcr_mask = mask;
	p->lines = lines;
}

static void pic_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct pic8259 *p = &pics(m)[port >= 0xa0];
	(void)size;
	v &= 0xff;
	if (!(port & 1)) {
		if (v & 0x10) {
			/*
			 * ICW1: IMR and ISR cleared, IR0 highest priority, special
			 * mask off, status read = IRR; edge sensing restarts.
			 */
			pic_reset_chip(p);
			p->lines = 0;
			p->icw1 = (uint8_t)v;
			p->init_step = 2;
		} else if (v & 0x08) {			/* OCW3 */
			if (v & 0x04)
				p->poll = true;
			if (v & 0x02)
				p->read_isr = v & 1;
			if (v & 0x40)
				p->special_mask = v & 0x20;
		} else {				/* OCW2 */
			ocw2(p, (uint8_t)v);
		}
		update_cascade(m);
		return;
	}
	switch (p->init_step) {
	case 2:
		p->base = (uint8_t)(v & 0xf8);
		if (!(p->icw1 & 2))
			p->init_step = 3;
		else
			p->init_step = (p->icw1 & 1) ? 4 : 0;
		break;
	case 3:
		p->icw3 = (uint8_t)v;
		p->init_step = (p->icw1 & 1) ? 4 : 0;
		break;
	case 4:
		p->icw4 = (uint8_t)v;
		p->init_step = 0;
		break;
	default:
		p->imr = (uint8_t)v;			/* OCW1 */
		break;
	}
	update_cascade(m);
}

static uint32_t elcr_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	(void)size;
	return pics(m)[port & 1].elcr;
}

static void elcr_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct pic8259 *p = &pics(m)[port & 1];
	(void)size;
	p->elcr = (uint8_t)(v & p->elcr_mask);
	/* a line switched to level mode is sampled as it is now */
	for (int k = 0; k < 8; k++) {
		uint8_t b = (uint8_t)(1u << k);
		if ((p->elcr & b) && !(p->lines & b))
			p->irr &= ~b;
		else if ((p->elcr & b) && (p->lines & b))
			p->irr |= b;
	}
	update_cascade(m);
}

/*
 * The state firmware (SeaBIOS) leaves: master vectors 0x08-0x0f, slave
 * 0x70-0x77, cascade on IR2, 8086 mode; every line masked except the
 * cascade (images unmask what they use; there is no BIOS to serve the
 * timer tick).  The SCI (9) and the PCI interrupt lines (10, 11) are
 * level-triggered.
 */
void dev_pic_reset(struct machine *m)
{
	struct pic8259 *p = pics(m);
	memset(p, 0, 2 * sizeof(*p));
	p[0].elcr_mask = 0xf8;
	p[1].elcr_mask = 0xde;
	p[0].base = 0x08;
	p[1].base = 0x70;
	p[0].icw1 = p[1].icw1 = 0x11;
	p[0].icw3 = 0x04;
	p[1].icw3 = 0x02;
	p[0].icw4 = p[1].icw4 = 0x01;
	p[0].imr = 0xfb;
	p[1].imr = 0xff;
	p[0].elcr = 0;
	p[1].elcr = 0x0e;
}

/* snapshot section "dev:pic" v2: both 8259s and the ELCRs */
static void pic_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	(void)opaque;
	for (int k = 0; k < 2; k++) {
		const struct pic8259 *p = &m->dev->pic[k];
		const uint8_t r[11] = { p->irr, p->imr, p->isr, p->lines, p->elcr, p->base, p->icw1,
					p->icw3, p->icw4, p->init_step, p->prio };
		snap_put_bytes(b, r, sizeof(r));
		snap_put_u8(b, p->read_isr);
		snap_put_u8(b, p->poll);
		snap_put_u8(b, p->special_mask);
		snap_put_u8(b, p->rotate_aeoi);
	}
}

static int pic_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		    char *err, size_t errlen)
{
	struct pic8259 pic[2];
	(void)opaque;
	if (version != 2) {
		snprintf(err, errlen, "version %u is not supported", version);
		return -1;
	}
	memcpy(pic, m->dev->pic, sizeof(pic));
	for (int k = 0; k < 2; k++) {
		struct pic8259 *p = &pic[k];
		uint8_t r[11];
		snap_get_bytes(in, r, sizeof(r));
		p->irr = r[0]; p->imr = r[1]; p->isr = r[2]; p->lines = r[3]; p->elcr = r[4];
		p->base = r[5]; p->icw1 = r[6]; p->icw3 = r[7]; p->icw4 = r[8];
		p->init_step = r[9]; p->prio = r[10];
		p->read_isr = snap_get_bool(in);
		p->poll = snap_get_bool(in);
		p->special_mask = snap_get_bool(in);
		p->rotate_aeoi = snap_get_bool(in);
		if ((p->init_step && (p->init_step < 2 || p->init_step > 4)) || p->prio > 7 ||
		    (p->elcr & ~p->elcr_mask) || (p->base & 7))
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
	dev_pic_reset(m);
	machine_register_pio(m, 0x20, 2, m, pic_read, pic_write);
	machine_register_pio(m, 0xa0, 2, m, pic_read, pic_write);
	machine_register_pio(m, 0x4d0, 2, m, elcr_read, elcr_write);
	snapshot_register(m, "pic", 2, m, pic_save, pic_load);
}
