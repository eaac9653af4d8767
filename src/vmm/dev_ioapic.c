// SPDX-License-Identifier: MIT
/*
 * I/O APIC (Intel 82093AA datasheet; version 0x20 with the EOI register,
 * as QEMU's): 24 pins at MMIO 0xfec00000, IOREGSEL +0x00, IOWIN +0x10,
 * EOI +0x40.  A pin delivers its redirection entry as an MSI to the local
 * APICs (KVM_SIGNAL_MSI); level-triggered entries hold remote IRR until
 * the local APIC's EOI broadcast (KVM_EXIT_IOAPIC_EOI) or a write of the
 * vector to the EOI register, and fire again if the line is still
 * asserted then.
 *
 * Inputs are logical levels (1 = asserted), as KVM and QEMU treat them:
 * the polarity bit is kept for software but does not invert the input.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

#define IOAPIC_BASE 0xfec00000ULL
#define IOAPIC_VERSION 0x00170020u	/* 24 entries, version 0x20 */

#define RE_VECTOR 0xffULL
#define RE_DELIV_STATUS (1ULL << 12)
#define RE_POLARITY (1ULL << 13)
#define RE_REMOTE_IRR (1ULL << 14)
#define RE_LEVEL (1ULL << 15)
#define RE_MASKED (1ULL << 16)
/* writable: vector, delivery mode, destination mode, polarity, trigger, mask, destination */
#define RE_WRITABLE (0xffULL | (7ULL << 8) | (1ULL << 11) | RE_POLARITY | RE_LEVEL | RE_MASKED | \
		     (0xffULL << 56))

static struct ioapic *io(struct machine *m)
{
	return &m->dev->ioapic;
}

static void send(struct machine *m, uint64_t e)
{
	uint32_t dest = (uint32_t)(e >> 56);
	struct kvm_msi msi = {
		.address_lo = 0xfee00000u | (dest << 12) | (((e >> 11) & 1) << 2),
		.address_hi = 0,
		.data = (uint32_t)(e & 0x7ff) | ((e & RE_LEVEL) ? (3u << 14) : (1u << 14)),
	};
	nv_signal_msi(m->vm, &msi);
}

/* deliver every pin that has a request and may send one now */
static void service(struct machine *m)
{
	struct ioapic *s = io(m);
	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		uint32_t b = 1u << pin;
		uint64_t *e = &s->redir[pin];
		if (!(s->irr & b) || (*e & RE_MASKED))
			continue;
		if (*e & RE_LEVEL) {
			if (*e & RE_REMOTE_IRR)
				continue;
			*e |= RE_REMOTE_IRR;
		} else {
			s->irr &= ~b;
		}
		send(m, *e);
	}
}

void ioapic_set_irq(struct machine *m, int pin, int level)
{
	struct ioapic *s = io(m);
	if (pin < 0 || pin >= IOAPIC_PINS)
		return;
	uint32_t b = 1u << pin;
	uint64_t e = s->redir[pin];
	bool was = s->lines & b;
	if (level)
		s->lines |= b;
	else
		s->lines &= ~b;
	if (e & RE_LEVEL) {
		if (level)
			s->irr |= b;
		else
			s->irr &= ~b;
	} else if (level && !was && !(e & RE_MASKED)) {
		/* edge: a rising edge on an unmasked pin is a request (82093AA) */
		s->irr |= b;
	}
	service(m);
}

/*
 * Could a pin still send an NMI or INIT (the only events that wake a vCPU
 * halted with IF = 0)?  Any unmasked entry with that delivery mode.
 */
bool ioapic_may_send_nmi_init(struct machine *m)
{
	for (int k = 0; k < IOAPIC_PINS; k++) {
		uint64_t e = io(m)->redir[k];
		int dm = (int)((e >> 8) & 7);
		if (!(e & (1ULL << 16)) && (dm == 4 || dm == 5))
			return true;
	}
	return false;
}

void ioapic_eoi(struct machine *m, int vector)
{
	struct ioapic *s = io(m);
	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t *e = &s->redir[pin];
		if ((*e & RE_VECTOR) == (uint64_t)vector && (*e & RE_LEVEL))
			*e &= ~RE_REMOTE_IRR;
	}
	service(m);
}

static uint32_t reg_read(struct ioapic *s)
{
	unsigned r = s->sel;
	switch (r) {
	case 0x00: return s->id;
	case 0x01: return IOAPIC_VERSION;
	case 0x02: return s->id;	/* arbitration ID = ID */
	}
	if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t e = s->redir[(r - 0x10) >> 1];
		return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void reg_write(struct machine *m, uint32_t v)
{
	struct ioapic *s = io(m);
	unsigned r = s->sel;
	if (r == 0x00) {
		s->id = v & 0x0f000000;
		return;
	}
	if (r < 0x10 || r >= 0x10 + 2 * IOAPIC_PINS)
		return;		/* version, arbitration: read-only */
	uint64_t *e = &s->redir[(r - 0x10) >> 1];
	uint64_t old = *e, nv = old;
	if (r & 1)
		nv = (nv & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		nv = (nv & ~0xffffffffULL) | v;
	nv = (nv & RE_WRITABLE) | (old & (RE_REMOTE_IRR | RE_DELIV_STATUS));
	if (!(nv & RE_LEVEL)) {
		/* an edge entry has no remote IRR; a level line becomes an edge source */
		nv &= ~RE_REMOTE_IRR;
		if (old & RE_LEVEL)
			s->irr &= ~(1u << ((r - 0x10) >> 1));
	} else if (!(old & RE_LEVEL)) {
		/* now level-triggered: the request is the line level */
		uint32_t b = 1u << ((r - 0x10) >> 1);
		s->irr = (s->irr & ~b) | (s->lines & b);
	}
	*e = nv;
	service(m);
}

static uint64_t ioapic_read(void *opaque, uint64_t off, int size)
{
	struct machine *m = opaque;
	struct ioapic *s = io(m);
	(void)size;
	switch (off) {
	case 0x00: return s->sel;
	case 0x10: return reg_read(s);
	default: return 0;
	}
}

static void ioapic_write(void *opaque, uint64_t off, int size, uint64_t v)
{
	struct machine *m = opaque;
	struct ioapic *s = io(m);
	(void)size;
	switch (off) {
	case 0x00:
		s->sel = (uint8_t)v;
		break;
	case 0x10:
		reg_write(m, (uint32_t)v);
		break;
	case 0x40:
		ioapic_eoi(m, (int)(v & 0xff));
		break;
	default:
		break;
	}
}

/* snapshot section "dev:ioapic" v1 */
static void ioapic_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct ioapic *s = io(m);
	(void)opaque;
	snap_put_u32(b, s->id);
	snap_put_u8(b, s->sel);
	for (int k = 0; k < IOAPIC_PINS; k++)
		snap_put_u64(b, s->redir[k]);
	snap_put_u32(b, s->lines);
	snap_put_u32(b, s->irr);
}

static int ioapic_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		       char *err, size_t errlen)
{
	struct ioapic t;
	(void)opaque;
	(void)version;
	t.id = snap_get_u32(in);
	t.sel = snap_get_u8(in);
	bool ok = true;
	for (int k = 0; k < IOAPIC_PINS; k++) {
		t.redir[k] = snap_get_u64(in);
		if (t.redir[k] & ~(RE_WRITABLE | RE_REMOTE_IRR | RE_DELIV_STATUS))
			ok = false;
	}
	t.lines = snap_get_u32(in);
	t.irr = snap_get_u32(in);
	uint32_t pins = (1u << IOAPIC_PINS) - 1;
	if (!snap_in_done(in) || !ok || (t.id & ~0x0f000000u) || (t.lines & ~pins) ||
	    (t.irr & ~pins)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	*io(m) = t;
	return 0;
}

void dev_ioapic_reset(struct machine *m)
{
	struct ioapic *s = io(m);
	uint32_t lines = s->lines;
	memset(s, 0, sizeof(*s));
	for (int k = 0; k < IOAPIC_PINS; k++)
		s->redir[k] = RE_MASKED;
	s->lines = lines;
}

void dev_ioapic_init(struct machine *m)
{
	memset(io(m), 0, sizeof(struct ioapic));
	dev_ioapic_reset(m);
	machine_register_mmio(m, IOAPIC_BASE, 0x1000, m, ioapic_read, ioapic_write);
	snapshot_register(m, "ioapic", 1, m, ioapic_save, ioapic_load);
}
