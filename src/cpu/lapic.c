// SPDX-License-Identifier: MIT
/*
 * Local APIC (SDM Vol. 3A ch. 11 "Advanced Programmable Interrupt
 * Controller" and ch. 11.12 x2APIC).  The register file uses the xAPIC
 * page layout (as KVM's struct kvm_lapic_state).  The timer runs on the
 * vCPU's virtual clock: the APIC bus clock equals the TSC frequency.
 */
#include <stdlib.h>

#include "cpu.h"
#include "lapic.h"

enum {
	APIC_ID = 0x20, APIC_VER = 0x30, APIC_TPR = 0x80, APIC_APR = 0x90,
	APIC_PPR = 0xa0, APIC_EOI = 0xb0, APIC_RRR = 0xc0, APIC_LDR = 0xd0,
	APIC_DFR = 0xe0, APIC_SPIV = 0xf0, APIC_ISR = 0x100, APIC_TMR = 0x180,
	APIC_IRR = 0x200, APIC_ESR = 0x280, APIC_LVT_CMCI = 0x2f0,
	APIC_ICR = 0x300, APIC_ICR2 = 0x310, APIC_LVTT = 0x320, APIC_LVTTHMR = 0x330,
	APIC_LVTPC = 0x340, APIC_LVT0 = 0x350, APIC_LVT1 = 0x360, APIC_LVTERR = 0x370,
	APIC_TMICT = 0x380, APIC_TMCCT = 0x390, APIC_TDCR = 0x3e0, APIC_SELF_IPI = 0x3f0,
};

#define LVT_MASKED (1u << 16)
#define SPIV_EN (1u << 8)
#define BASE_BSP (1ULL << 8)
#define BASE_EXTD (1ULL << 10)
#define BASE_EN (1ULL << 11)

#define EOIQ 8

struct lapic {
	struct cpu *c;
	uint64_t base;
	uint32_t r[0x400 / 4];
	uint64_t deadline;	/* vCPU clock of the next timer expiry, ~0 none */
	uint64_t period;	/* ns per period (periodic mode) */
	uint64_t start;		/* clock when TMICT was written */
	int eoiq[EOIQ];
	int neoi;
};

static inline uint32_t rd(const struct lapic *a, int off)
{
	return a->r[off >> 2];
}

static inline void wr(struct lapic *a, int off, uint32_t v)
{
	a->r[off >> 2] = v;
}

static inline bool bit_get(const struct lapic *a, int base, int v)
{
	return (rd(a, base + (v >> 5) * 0x10) >> (v & 31)) & 1;
}

static inline void bit_set(struct lapic *a, int base, int v, bool on)
{
	uint32_t *p = &a->r[(base + (v >> 5) * 0x10) >> 2];
	if (on)
		*p |= 1u << (v & 31);
	else
		*p &= ~(1u << (v & 31));
}

static int highest(const struct lapic *a, int base)
{
	for (int k = 7; k >= 0; k--) {
		uint32_t w = rd(a, base + k * 0x10);
		if (w)
			return k * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

static bool x2apic(const struct lapic *a)
{
	return (a->base & (BASE_EN | BASE_EXTD)) == (BASE_EN | BASE_EXTD);
}

static bool hw_enabled(const struct lapic *a)
{
	return a->base & BASE_EN;
}

static bool sw_enabled(const struct lapic *a)
{
	return rd(a, APIC_SPIV) & SPIV_EN;
}

static uint32_t apic_id(const struct lapic *a)
{
	return x2apic(a) ? rd(a, APIC_ID) : rd(a, APIC_ID) >> 24;
}

static uint64_t now(const struct lapic *a)
{
	const struct cpu *c = a->c;
	uint64_t t = c->clock;
	if (c->cur && c->cur_blk)
		t += (uint64_t)(c->cur - c->cur_blk->insn);
	return t;
}

static uint32_t divide(const struct lapic *a)
{
	uint32_t d = rd(a, APIC_TDCR);
	uint32_t v = (d & 3) | ((d >> 1) & 4);
	return v == 7 ? 1 : 2u << v;
}

static void update_ppr(struct lapic *a)
{
	uint32_t tpr = rd(a, APIC_TPR) & 0xff;
	int isr = highest(a, APIC_ISR);
	uint32_t isrv = isr < 0 ? 0 : (uint32_t)isr;
	uint32_t ppr = (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : (isrv & 0xf0);
	wr(a, APIC_PPR, ppr);
}

static void kick(struct lapic *a)
{
	a->c->brk |= BRK_EVENT;
}

static void reset_regs(struct lapic *a, uint32_t id)
{
	memset(a->r, 0, sizeof(a->r));
	wr(a, APIC_ID, id << 24);
	wr(a, APIC_VER, 0x00050014);
	wr(a, APIC_DFR, 0xffffffff);
	wr(a, APIC_SPIV, 0xff);
	for (int off = APIC_LVTT; off <= APIC_LVTERR; off += 0x10)
		wr(a, off, LVT_MASKED);
	wr(a, APIC_LVT_CMCI, LVT_MASKED);
	a->deadline = ~0ULL;
	a->period = 0;
	a->neoi = 0;
}

struct lapic *lapic_create(struct cpu *c)
{
	struct lapic *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->c = c;
	return a;
}

void lapic_destroy(struct lapic *a)
{
	free(a);
}

void lapic_reset(struct cpu *c, bool init)
{
	struct lapic *a = c->apic;
	if (!init)
		a->base = 0xfee00000ULL | BASE_EN | (c->id == 0 ? BASE_BSP : 0);
	reset_regs(a, (uint32_t)c->id);
	if (x2apic(a))
		wr(a, APIC_ID, (uint32_t)c->id);
	/*
	 * The BSP's LINT0 comes out of reset as ExtINT, unmasked, so the
	 * 8259's interrupts reach it as firmware would leave it (QEMU's
	 * apic_reset_common, KVM's LINT0_REENABLED quirk).
	 */
	if (c->id == 0)
		wr(a, APIC_LVT0, 0x700);
	c->msr.tsc_deadline = 0;
}

uint64_t lapic_xapic_base(const struct cpu *c)
{
	const struct lapic *a = c->apic;
	if (!a || (a->base & (BASE_EN | BASE_EXTD)) != BASE_EN)
		return ~0ULL;
	return a->base & ~0xfffULL & ((1ULL << 52) - 1);
}

uint64_t lapic_get_base(const struct cpu *c)
{
	return c->apic->base;
}

/* IA32_APIC_BASE writes (SDM 11.12.5: state transitions) */
bool lapic_set_base(struct cpu *c, uint64_t v, bool host)
{
	struct lapic *a = c->apic;
	uint64_t rsv = 0x2ffULL;
	for (unsigned b = c->model->maxphyaddr; b < 64; b++)
		rsv |= 1ULL << b;
	if (!HAS(c, FEAT_X2APIC))
		rsv |= BASE_EXTD;
	if (v & rsv)
		return false;
	uint64_t old = a->base;
	bool oen = old & BASE_EN, oex = old & BASE_EXTD;
	bool nen = v & BASE_EN, nex = v & BASE_EXTD;
	if (!host) {
		if (!nen && nex)
			return false;			/* invalid state */
		if (oen && oex && nen && !nex)
			return false;			/* x2APIC -> xAPIC */
		if (!oen && nen && nex)
			return false;			/* disabled -> x2APIC */
	} else if (!nen && nex) {
		return false;
	}
	a->base = v;
	if (oen && !nen) {
		/* globally disabled: back to the power-up register state */
		reset_regs(a, (uint32_t)c->id);
	}
	if (nen && nex && !(oen && oex)) {
		/* entering x2APIC: 32-bit ID, derived LDR */
		uint32_t id = (uint32_t)c->id;
		wr(a, APIC_ID, id);
		wr(a, APIC_LDR, ((id >> 4) << 16) | (1u << (id & 0xf)));
	}
	if (!nex && (oex || (nen && !oen)))
		wr(a, APIC_ID, (uint32_t)c->id << 24);
	mmu_flush(c);
	c->brk |= BRK_EVENT;
	return true;
}

uint64_t lapic_get_cr8(const struct cpu *c)
{
	return (rd(c->apic, APIC_TPR) >> 4) & 0xf;
}

void lapic_set_cr8(struct cpu *c, uint64_t v)
{
	wr(c->apic, APIC_TPR, (uint32_t)(v & 0xf) << 4);
	update_ppr(c->apic);
	c->brk |= BRK_EVENT;
}

int lapic_pending_vector(const struct cpu *c)
{
	const struct lapic *a = c->apic;
	if (!hw_enabled(a))
		return -1;
	int v = highest(a, APIC_IRR);
	if (v < 0)
		return -1;
	uint32_t tpr = rd(a, APIC_TPR) & 0xf0;
	int isr = highest(a, APIC_ISR);
	uint32_t ppr = tpr;
	if (isr >= 0 && ((uint32_t)isr & 0xf0) > ppr)
		ppr = (uint32_t)isr & 0xf0;
	if (((uint32_t)v & 0xf0) <= ppr)
		return -1;
	return v;
}

void lapic_ack(struct cpu *c, int v)
{
	struct lapic *a = c->apic;
	bit_set(a, APIC_IRR, v, false);
	bit_set(a, APIC_ISR, v, true);
	update_ppr(a);
}

bool lapic_accept_pic(const struct cpu *c)
{
	const struct lapic *a = c->apic;
	uint32_t lvt0 = rd(a, APIC_LVT0);
	if (!hw_enabled(a))
		return true;
	return !(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) == 7;
}

/* accept a fixed / lowest-priority interrupt into IRR */
/* true if the interrupt was accepted into the IRR */
static bool accept_irq(struct lapic *a, int vec, bool level)
{
	if (vec < 16) {
		wr(a, APIC_ESR, rd(a, APIC_ESR) | 0x40);	/* received illegal vector */
		return false;
	}
	if (!sw_enabled(a))
		return false;
	bit_set(a, APIC_IRR, vec, true);
	bit_set(a, APIC_TMR, vec, level);
	kick(a);
	return true;
}

/* returns 1 if the target accepted the message (KVM_SIGNAL_MSI counts them) */
static int deliver_to(struct cpu *t, int delivery, int vec, bool level, bool trig_level)
{
	struct lapic *a = t->apic;
	switch (delivery) {
	case 0: case 1:		/* fixed, lowest priority */
		if (trig_level && !level)
			return 0;	/* a level de-assert message carries no interrupt */
		return accept_irq(a, vec, trig_level);
	case 2:			/* SMI */
		t->evt.smi_pending = true;
		kick(a);
		return 1;
	case 4:			/* NMI: one may latch while blocked (SDM 6.7.1) */
		if (t->evt.nmi_pending < ((t->evt.nmi_masked || t->evt.nmi_injected) ? 1 : 2))
			t->evt.nmi_pending++;
		kick(a);
		return 1;
	case 5:			/* INIT (level de-assert is ignored) */
		if (!trig_level || level) {
			t->init_pending = true;
			t->sipi_pending = false;	/* an earlier SIPI is superseded */
			kick(a);
			return 1;
		}
		return 0;
	case 6:			/* start-up */
		t->sipi_vector = (uint8_t)vec;
		t->sipi_pending = true;
		kick(a);
		return 1;
	default:		/* ExtINT: only from the PIC, through LINT0 */
		return 0;
	}
}

static bool match_logical(const struct lapic *a, uint32_t dest)
{
	if (x2apic(a)) {
		uint32_t ldr = rd(a, APIC_LDR);
		if (dest == 0xffffffff)
			return true;
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	}
	uint32_t ldr = rd(a, APIC_LDR) >> 24;
	dest &= 0xff;
	if (dest == 0xff)
		return true;
	if ((rd(a, APIC_DFR) >> 28) == 0xf)
		return (ldr & dest) != 0;			/* flat */
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);	/* cluster */
}

static bool match_phys(const struct lapic *a, uint32_t dest)
{
	if (x2apic(a))
		return dest == 0xffffffff || dest == apic_id(a);
	dest &= 0xff;
	return dest == 0xff || dest == apic_id(a);
}

int lapic_send(struct vm *vm, struct cpu *src, uint32_t dest, bool logical,
	       int shorthand, int delivery, int vec, bool level, bool trig_level)
{
	struct cpu *lowest = NULL;
	int accepted = 0;
	uint32_t lowest_ppr = 0x100;

	for (int k = 0; k < vm->nvcpus; k++) {
		struct cpu *t = vm->vcpu[k];
		if (!t)
			continue;
		struct lapic *a = t->apic;
		bool m;
		switch (shorthand) {
		case 1: m = t == src; break;
		case 2: m = true; break;
		case 3: m = t != src; break;
		default:
			if (!hw_enabled(a))
				m = false;
			else
				m = logical ? match_logical(a, dest) : match_phys(a, dest);
			break;
		}
		if (!m)
			continue;
		if (delivery == 1 && shorthand == 0) {
			/* lowest priority: the lowest PPR wins, ties to the lowest ID */
			update_ppr(a);
			uint32_t ppr = rd(a, APIC_PPR);
			if (sw_enabled(a) && ppr < lowest_ppr) {
				lowest_ppr = ppr;
				lowest = t;
			}
			continue;
		}
		accepted += deliver_to(t, delivery, vec, level, trig_level);
	}
	if (lowest)
		accepted += deliver_to(lowest, 1, vec, level, trig_level);
	return accepted;
}

int lapic_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	uint32_t dest = (uint32_t)((addr >> 12) & 0xff) | (uint32_t)((addr >> 32) & 0xffffff00);
	bool logical = addr & 4;
	int delivery = (data >> 8) & 7;
	return lapic_send(vm, NULL, dest, logical, 0, delivery, data & 0xff, (data >> 14) & 1,
			  (data >> 15) & 1);
}

static void send_icr(struct lapic *a, uint32_t lo, uint32_t hi)
{
	uint32_t dest = x2apic(a) ? hi : hi >> 24;
	int delivery = (lo >> 8) & 7;
	lapic_send(a->c->vm, a->c, dest, (lo >> 11) & 1, (lo >> 18) & 3, delivery,
		   lo & 0xff, (lo >> 14) & 1, (lo >> 15) & 1);
}

/* ---- timer (SDM 11.5.4) --------------------------------------------------- */

static int timer_mode(const struct lapic *a)
{
	return (rd(a, APIC_LVTT) >> 17) & 3;
}

static void timer_start_count(struct lapic *a)
{
	uint32_t init = rd(a, APIC_TMICT);
	uint64_t t = now(a);
	a->start = t;
	if (!init || timer_mode(a) == 2) {
		a->deadline = ~0ULL;
		a->period = 0;
		return;
	}
	a->period = (uint64_t)init * divide(a);
	a->deadline = t + a->period;
}

void lapic_tsc_deadline_written(struct cpu *c)
{
	struct lapic *a = c->apic;
	if (timer_mode(a) != 2)
		return;
	uint64_t v = c->msr.tsc_deadline;
	if (!v) {
		a->deadline = ~0ULL;
		return;
	}
	uint64_t clk = v - c->msr.tsc_offset;
	uint64_t t = now(a);
	/* a deadline in the past fires at once */
	a->deadline = (int64_t)(clk - t) <= 0 ? t : clk;
	c->brk |= BRK_EVENT;
}

uint64_t lapic_next_deadline(const struct cpu *c)
{
	return c->apic->deadline;
}

void lapic_timer_check(struct cpu *c)
{
	struct lapic *a = c->apic;
	while (a->deadline != ~0ULL && c->clock >= a->deadline) {
		uint32_t lvt = rd(a, APIC_LVTT);
		if (!(lvt & LVT_MASKED))
			accept_irq(a, lvt & 0xff, false);
		switch (timer_mode(a)) {
		case 1:
			if (a->period)
				a->deadline += a->period;
			else
				a->deadline = ~0ULL;
			break;
		case 2:
			c->msr.tsc_deadline = 0;
			a->deadline = ~0ULL;
			break;
		default:
			a->deadline = ~0ULL;
			break;
		}
	}
}

static uint32_t current_count(const struct lapic *a)
{
	if (a->deadline == ~0ULL || timer_mode(a) == 2)
		return 0;
	uint64_t t = now(a);
	if (t >= a->deadline)
		return 0;
	uint64_t left = a->deadline - t;
	uint32_t d = divide(a);
	return (uint32_t)((left + d - 1) / d);
}

/* ---- register access ----------------------------------------------------- */

static void do_eoi(struct lapic *a)
{
	int v = highest(a, APIC_ISR);
	if (v < 0)
		return;
	bit_set(a, APIC_ISR, v, false);
	if (bit_get(a, APIC_TMR, v) && !(rd(a, APIC_SPIV) & (1u << 12))) {
		if (a->neoi < EOIQ)
			a->eoiq[a->neoi++] = v;
		if (a->c->eoi_exit_vector < 0)
			a->c->eoi_exit_vector = lapic_take_eoi_exit(a->c);
		a->c->brk |= BRK_EVENT;
	}
	update_ppr(a);
	kick(a);
}

int lapic_take_eoi_exit(struct cpu *c)
{
	struct lapic *a = c->apic;
	if (!a->neoi)
		return -1;
	int v = a->eoiq[0];
	memmove(a->eoiq, a->eoiq + 1, (size_t)(a->neoi - 1) * sizeof(int));
	a->neoi--;
	return v;
}

static uint32_t reg_read(struct lapic *a, int off)
{
	switch (off) {
	case APIC_PPR:
		update_ppr(a);
		return rd(a, APIC_PPR);
	case APIC_TMCCT:
		return current_count(a);
	case APIC_ICR:
		return rd(a, APIC_ICR) & ~(1u << 12);
	default:
		return rd(a, off);
	}
}

static uint32_t lvt_mask_bits(int off)
{
	switch (off) {
	case APIC_LVTT: return 0x000710ff;
	case APIC_LVT0: case APIC_LVT1: return 0x0001a7ff;
	case APIC_LVTERR: return 0x000100ff;
	default: return 0x000107ff;
	}
}

/* returns false if the register does not exist / is read-only (x2APIC #GP) */
static bool reg_write(struct lapic *a, int off, uint32_t v)
{
	struct cpu *c = a->c;
	switch (off) {
	case APIC_ID:
		if (x2apic(a))
			return false;
		wr(a, APIC_ID, v & 0xff000000);
		return true;
	case APIC_TPR:
		wr(a, APIC_TPR, v & 0xff);
		update_ppr(a);
		kick(a);
		return true;
	case APIC_EOI:
		do_eoi(a);
		return true;
	case APIC_LDR:
		if (x2apic(a))
			return false;
		wr(a, APIC_LDR, v & 0xff000000);
		return true;
	case APIC_DFR:
		if (x2apic(a))
			return false;
		wr(a, APIC_DFR, v | 0x0fffffff);
		return true;
	case APIC_SPIV:
		wr(a, APIC_SPIV, v & 0x13ff);
		if (!(v & SPIV_EN)) {
			for (int o = APIC_LVTT; o <= APIC_LVTERR; o += 0x10)
				wr(a, o, rd(a, o) | LVT_MASKED);
			wr(a, APIC_LVT_CMCI, rd(a, APIC_LVT_CMCI) | LVT_MASKED);
		}
		kick(a);
		return true;
	case APIC_ESR:
		if (x2apic(a) && v)
			return false;
		wr(a, APIC_ESR, 0);
		return true;
	case APIC_ICR:
		wr(a, APIC_ICR, v & ~(1u << 12));
		send_icr(a, v, rd(a, APIC_ICR2));
		return true;
	case APIC_ICR2:
		if (x2apic(a))
			return false;
		wr(a, APIC_ICR2, v & 0xff000000);
		return true;
	case APIC_LVTT: {
		uint32_t m = lvt_mask_bits(off);
		if (!HAS(c, FEAT_TSC_DEADLINE))
			m &= ~0x40000u;
		uint32_t oldmode = timer_mode(a);
		if (!sw_enabled(a))
			v |= LVT_MASKED;
		wr(a, off, v & m);
		if (oldmode != (uint32_t)timer_mode(a)) {
			a->deadline = ~0ULL;
			wr(a, APIC_TMICT, 0);
			c->msr.tsc_deadline = 0;
		}
		return true;
	}
	case APIC_LVT_CMCI: case APIC_LVTTHMR: case APIC_LVTPC:
	case APIC_LVT0: case APIC_LVT1: case APIC_LVTERR:
		if (!sw_enabled(a))
			v |= LVT_MASKED;
		wr(a, off, v & lvt_mask_bits(off));
		kick(a);
		return true;
	case APIC_TMICT:
		if (timer_mode(a) == 2)
			return true;	/* ignored in TSC-deadline mode */
		wr(a, APIC_TMICT, v);
		timer_start_count(a);
		kick(a);
		return true;
	case APIC_TDCR:
		wr(a, APIC_TDCR, v & 0xb);
		return true;
	case APIC_SELF_IPI:
		if (!x2apic(a))
			return true;
		accept_irq(a, v & 0xff, false);
		return true;
	default:
		/* read-only or reserved */
		return !x2apic(a);
	}
}

uint64_t lapic_mmio_access(struct cpu *c, uint32_t off, int size, bool write, uint64_t v)
{
	struct lapic *a = c->apic;
	uint32_t reg = off & 0xff0;
	if (write) {
		if (reg == APIC_SELF_IPI)
			return 0;	/* x2APIC only */
		reg_write(a, (int)reg, (uint32_t)v);
		return 0;
	}
	uint32_t val = reg_read(a, (int)reg);
	uint32_t sh = (off & 0xf);
	if (sh >= 4)
		return 0;
	return (val >> (sh * 8)) & sz_mask(size > 4 ? 4 : size);
}

bool lapic_msr_read(struct cpu *c, uint32_t msr, uint64_t *v)
{
	struct lapic *a = c->apic;
	if (!x2apic(a))
		return false;
	int off = (int)(msr - 0x800) << 4;
	switch (off) {
	case APIC_EOI: case APIC_SELF_IPI: case APIC_DFR: case APIC_ICR2: case APIC_APR:
	case APIC_RRR:
		return false;
	case APIC_ICR:
		*v = (uint64_t)reg_read(a, APIC_ICR) | ((uint64_t)rd(a, APIC_ICR2) << 32);
		return true;
	}
	if (off == APIC_ID || off == APIC_VER || off == APIC_TPR || off == APIC_PPR ||
	    off == APIC_LDR || off == APIC_SPIV || (off >= APIC_ISR && off < APIC_ESR + 0x10) ||
	    off == APIC_LVT_CMCI || (off >= APIC_LVTT && off <= APIC_TMCCT) || off == APIC_TDCR) {
		*v = reg_read(a, off);
		return true;
	}
	return false;
}

bool lapic_msr_write(struct cpu *c, uint32_t msr, uint64_t v)
{
	struct lapic *a = c->apic;
	if (!x2apic(a))
		return false;
	int off = (int)(msr - 0x800) << 4;
	switch (off) {
	case APIC_ICR:
		if (v & 0xfff32000ULL)
			return false;
		wr(a, APIC_ICR2, (uint32_t)(v >> 32));
		wr(a, APIC_ICR, (uint32_t)v);
		send_icr(a, (uint32_t)v, (uint32_t)(v >> 32));
		return true;
	case APIC_EOI:
		if (v)
			return false;
		do_eoi(a);
		return true;
	case APIC_SELF_IPI:
		if (v & ~0xffULL)
			return false;
		accept_irq(a, (int)(v & 0xff), false);
		return true;
	case APIC_TPR:
		if (v & ~0xffULL)
			return false;
		break;
	case APIC_SPIV:
		if (v & ~0x13ffULL)
			return false;
		break;
	case APIC_TDCR:
		if (v & ~0xbULL)
			return false;
		break;
	case APIC_ESR:
		if (v)
			return false;
		break;
	case APIC_LVTT: case APIC_LVT_CMCI: case APIC_LVTTHMR: case APIC_LVTPC:
	case APIC_LVT0: case APIC_LVT1: case APIC_LVTERR:
		if (v >> 32)
			return false;
		break;
	case APIC_TMICT:
		if (v >> 32)
			return false;
		break;
	default:
		return false;	/* read-only or nonexistent */
	}
	return reg_write(a, off, (uint32_t)v);
}

void lapic_get_state(const struct cpu *c, struct kvm_lapic_state *s)
{
	const struct lapic *a = c->apic;
	memcpy(s->regs, a->r, sizeof(s->regs));
	uint32_t cc = current_count(a);
	memcpy(s->regs + APIC_TMCCT, &cc, 4);
}

int lapic_set_state(struct cpu *c, const struct kvm_lapic_state *s)
{
	struct lapic *a = c->apic;
	memcpy(a->r, s->regs, sizeof(a->r));
	update_ppr(a);
	/* the timer continues from the saved current count */
	uint32_t cc;
	memcpy(&cc, s->regs + APIC_TMCCT, 4);
	if (timer_mode(a) != 2 && cc) {
		uint64_t t = now(a);
		a->deadline = t + (uint64_t)cc * divide(a);
		a->period = (uint64_t)rd(a, APIC_TMICT) * divide(a);
	} else if (timer_mode(a) != 2) {
		a->deadline = ~0ULL;
	}
	c->brk |= BRK_EVENT;
	return 0;
}

/* exact timer state for snapshots (private: kvm_lapic_state rounds it) */
void lapic_get_timer(const struct cpu *c, uint64_t *deadline, uint64_t *period)
{
	*deadline = c->apic->deadline;
	*period = c->apic->period;
}

void lapic_set_timer(struct cpu *c, uint64_t deadline, uint64_t period)
{
	c->apic->deadline = deadline;
	c->apic->period = period;
}
