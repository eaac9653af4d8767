// SPDX-License-Identifier: MIT
/*
 * Local APIC (SDM Vol. 3A ch. 11 "Advanced Programmable Interrupt
 * Controller", 11.12 "Extended XAPIC (x2APIC)").  The register file uses
 * the xAPIC page layout (as KVM's struct kvm_lapic_state).  The timer runs
 * on the vCPU's virtual clock: the APIC bus clock equals the TSC frequency
 * (1 GHz), so one timer tick at divide-by-1 is one ns.
 *
 * Messages between APICs are causal in virtual time.  The scheduler runs
 * the vCPUs of a slice one after another, so a sender's clock can be ahead
 * of its target's.  A message (IPI, MSI) carries the sender's virtual time;
 * a target whose clock is behind keeps it "in flight" and accepts it when
 * its own clock reaches that time (lapic_timer_check, driven by
 * lapic_next_deadline like the timer).  At slice ends every vCPU clock is
 * the same, so nothing is ever in flight there.
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
#define SPIV_FOCUS_OFF (1u << 9)
#define SPIV_EOI_SUPPRESS (1u << 12)
#define BASE_BSP (1ULL << 8)
#define BASE_EXTD (1ULL << 10)
#define BASE_EN (1ULL << 11)

/*
 * Version register: version 0x14 (integrated APIC), six LVT entries
 * (timer, thermal, performance, LINT0, LINT1, error: max LVT 5), and
 * "directed EOI" support (bit 24; SDM 11.8.5) since the IOAPIC of the
 * machine has an EOI register.  No CMCI LVT.
 */
#define APIC_VERSION 0x01050014u

/* ESR bits (SDM 11.5.3) */
#define ESR_SEND_ILLEGAL 0x20
#define ESR_RECV_ILLEGAL 0x40
#define ESR_ILLEGAL_REG 0x80

enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_SIPI = 6,
       DM_EXTINT = 7 };

enum { TIMER_ONESHOT = 0, TIMER_PERIODIC = 1, TIMER_TSCDEADLINE = 2 };

#define EOIQ 8
#define FLYQ NV_PRIV_MAX_MSGS

/* a message accepted by this APIC at virtual time `at` (see the top) */
struct flight {
	uint64_t at;
	uint8_t delivery, vector;
	bool level, trig_level;
};

struct lapic {
	struct cpu *c;
	uint64_t base;
	uint32_t r[0x400 / 4];
	uint32_t esr_pending;	/* errors since the last ESR write */
	uint64_t deadline;	/* vCPU clock of the next timer expiry, ~0 none */
	uint64_t period;	/* ns per period (periodic mode) */
	int eoiq[EOIQ];
	int neoi;
	struct flight fly[FLYQ];
	int nfly;
	uint64_t fly_min;	/* earliest fly[].at, ~0 if none */
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

/* virtual time of the instruction being executed (or of the boundary) */
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

/* SDM 11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4 */
static uint32_t calc_ppr(const struct lapic *a)
{
	uint32_t tpr = rd(a, APIC_TPR) & 0xff;
	int isr = highest(a, APIC_ISR);
	uint32_t isrv = isr < 0 ? 0 : (uint32_t)isr;
	return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : (isrv & 0xf0);
}

static void update_ppr(struct lapic *a)
{
	wr(a, APIC_PPR, calc_ppr(a));
}

/* arbitration priority (SDM 11.6.2.4, P6 APR): max of TPR, ISRV, IRRV classes */
static uint32_t calc_apr(const struct lapic *a)
{
	uint32_t tpr = rd(a, APIC_TPR) & 0xff;
	int isr = highest(a, APIC_ISR), irr = highest(a, APIC_IRR);
	uint32_t m = (uint32_t)(isr > irr ? isr : irr);
	if (isr < 0 && irr < 0)
		m = 0;
	return (tpr & 0xf0) >= (m & 0xf0) ? tpr : (m & 0xf0);
}

static void kick(struct lapic *a)
{
	a->c->brk |= BRK_EVENT;
}

static void reset_regs(struct lapic *a, uint32_t id)
{
	memset(a->r, 0, sizeof(a->r));
	wr(a, APIC_ID, id << 24);
	wr(a, APIC_VER, APIC_VERSION);
	wr(a, APIC_DFR, 0xffffffff);
	wr(a, APIC_SPIV, 0xff);
	for (int off = APIC_LVTT; off <= APIC_LVTERR; off += 0x10)
		wr(a, off, LVT_MASKED);
	a->esr_pending = 0;
	a->deadline = ~0ULL;
	a->period = 0;
	a->neoi = 0;
}

static void x2apic_id_regs(struct lapic *a, uint32_t id)
{
	wr(a, APIC_ID, id);
	wr(a, APIC_LDR, ((id >> 4) << 16) | (1u << (id & 0xf)));
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

/*
 * Power-on reset, or INIT (SDM 11.4.7.3: INIT resets the APIC like
 * power-up except for the APIC ID and IA32_APIC_BASE).
 */
void lapic_reset(struct cpu *c, bool init)
{
	struct lapic *a = c->apic;
	uint32_t id = (uint32_t)c->id;
	if (!init) {
		a->base = 0xfee00000ULL | BASE_EN | (c->id == 0 ? BASE_BSP : 0);
		/* messages in flight are on the bus: an INIT keeps them (its SIPI) */
		a->nfly = 0;
		a->fly_min = ~0ULL;
	} else if (!x2apic(a))
		id = rd(a, APIC_ID) >> 24;
	reset_regs(a, id);
	if (x2apic(a))
		x2apic_id_regs(a, (uint32_t)c->id);
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

/* IA32_APIC_BASE writes (SDM 11.4.4, 11.12.5 "x2APIC State Transitions") */
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
	if (!nen && nex)
		return false;			/* invalid state */
	if (!host) {
		if (oen && oex && nen && !nex)
			return false;		/* x2APIC -> xAPIC */
		if (!oen && nen && nex)
			return false;		/* disabled -> x2APIC */
	}
	a->base = v;
	if (oen && !nen) {
		/*
		 * Globally disabled: the APIC loses its state; enabling it again
		 * gives the power-up state with the initial APIC ID (11.4.3).
		 */
		reset_regs(a, (uint32_t)c->id);
		c->msr.tsc_deadline = 0;
	}
	if (nen && nex && !(oen && oex))
		x2apic_id_regs(a, (uint32_t)c->id);	/* 11.12.5.1: ID, derived LDR */
	if (nen && !nex && (oex || !oen)) {
		wr(a, APIC_ID, (uint32_t)c->id << 24);
		wr(a, APIC_LDR, 0);
	}
	if ((old ^ v) & ~BASE_BSP)
		mmu_flush(c);	/* the xAPIC page moved or (dis)appeared */
	c->brk |= BRK_EVENT;
	return true;
}

uint64_t lapic_get_cr8(const struct cpu *c)
{
	return (rd(c->apic, APIC_TPR) >> 4) & 0xf;
}

/* MOV CR8 (SDM 11.8.6): TPR[7:4] = CR8[3:0], TPR[3:0] = 0 */
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
	if (((uint32_t)v & 0xf0) <= (calc_ppr(a) & 0xf0))
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

/* KVM's kvm_apic_accept_pic_intr: hardware-disabled, or LINT0 unmasked ExtINT */
bool lapic_accept_pic(const struct cpu *c)
{
	const struct lapic *a = c->apic;
	uint32_t lvt0 = rd(a, APIC_LVT0);
	if (!hw_enabled(a))
		return true;
	return !(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) == DM_EXTINT;
}

/* ---- errors (SDM 11.5.3) ------------------------------------------------- */

static void accept_irq(struct lapic *a, int vec, bool level);

static void apic_error(struct lapic *a, uint32_t bits)
{
	bool fresh = (a->esr_pending & bits) != bits;
	a->esr_pending |= bits;
	uint32_t lvt = rd(a, APIC_LVTERR);
	/* the error interrupt; an illegal error vector does not recurse */
	if (fresh && !(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
		accept_irq(a, (int)(lvt & 0xff), false);
}

/* accept a fixed / lowest-priority interrupt into IRR (SDM 11.5.5) */
static void accept_irq(struct lapic *a, int vec, bool level)
{
	if (vec < 16) {
		apic_error(a, ESR_RECV_ILLEGAL);
		return;
	}
	if (!sw_enabled(a))
		return;		/* 11.4.7.2: fixed interrupts are not accepted */
	bit_set(a, APIC_IRR, vec, true);
	bit_set(a, APIC_TMR, vec, level);
	kick(a);
}

/* the message takes effect in this APIC now */
static void deliver_now(struct lapic *a, int delivery, int vec, bool level, bool trig_level)
{
	struct cpu *t = a->c;
	if (!hw_enabled(a))
		return;		/* disabled while the message was in flight */
	switch (delivery) {
	case DM_FIXED: case DM_LOWEST:
		if (trig_level && !level)
			break;		/* a level de-assert message carries no interrupt */
		accept_irq(a, vec, trig_level);
		break;
	case DM_SMI:
		/*
		 * No SMM in this CPU: like KVM built without SMM support
		 * (kvm_inject_smi fails), the SMI is not accepted.
		 */
		break;
	case DM_NMI:		/* one may latch while blocked (SDM 6.7.1) */
		if (t->evt.nmi_pending < ((t->evt.nmi_masked || t->evt.nmi_injected) ? 1 : 2))
			t->evt.nmi_pending++;
		kick(a);
		break;
	case DM_INIT:
		/* an INIT level de-assert only resynchronises arbitration IDs */
		if (!trig_level || level) {
			t->init_pending = true;
			t->sipi_pending = false;	/* an earlier SIPI is superseded */
			kick(a);
		}
		break;
	case DM_SIPI:
		/* latched; acted on only in wait-for-SIPI (handle_init_sipi) */
		t->sipi_vector = (uint8_t)vec;
		t->sipi_pending = true;
		kick(a);
		break;
	default:
		break;		/* ExtINT comes only from the PIC; remote read: none */
	}
}

static void fly_recompute(struct lapic *a)
{
	a->fly_min = ~0ULL;
	for (int k = 0; k < a->nfly; k++)
		if (a->fly[k].at < a->fly_min)
			a->fly_min = a->fly[k].at;
}

/* a message for this APIC sent at virtual time `at` */
static void deliver_at(struct lapic *a, uint64_t at, int delivery, int vec, bool level,
		       bool trig_level)
{
	/* SMI, ExtINT, remote read: no effect whenever they arrive (deliver_now) */
	if (delivery == DM_SMI || delivery == 3 || delivery == DM_EXTINT)
		return;
	if (at <= now(a)) {
		deliver_now(a, delivery, vec, level, trig_level);
		return;
	}
	/* identical fixed interrupts merge in IRR anyway: keep the earliest */
	for (int k = 0; k < a->nfly; k++) {
		struct flight *f = &a->fly[k];
		if ((delivery == DM_FIXED || delivery == DM_LOWEST) && f->delivery == delivery &&
		    f->vector == vec && f->trig_level == trig_level)
			return;
	}
	if (a->nfly == FLYQ) {
		/* full (a storm of distinct messages): the oldest takes effect early */
		struct flight f = a->fly[0];
		memmove(a->fly, a->fly + 1, sizeof(a->fly[0]) * (FLYQ - 1));
		a->nfly--;
		deliver_now(a, f.delivery, f.vector, f.level, f.trig_level);
	}
	a->fly[a->nfly++] = (struct flight){ at, (uint8_t)delivery, (uint8_t)vec, level, trig_level };
	if (at < a->fly_min)
		a->fly_min = at;
}

/* accept the messages whose time has come, in the order they were sent */
static void fly_run(struct lapic *a, uint64_t t)
{
	int n = 0;
	for (int k = 0; k < a->nfly; k++) {
		struct flight f = a->fly[k];
		if (f.at <= t)
			deliver_now(a, f.delivery, f.vector, f.level, f.trig_level);
		else
			a->fly[n++] = f;
	}
	a->nfly = n;
	fly_recompute(a);
}

/* ---- destinations (SDM 11.6.2) -------------------------------------------- */

/*
 * Message formats: `wide` = 32-bit x2APIC destination (from an x2APIC
 * sender or an MSI with the high address bits), else an 8-bit xAPIC
 * destination in which 0xff is the broadcast address.
 */
static bool match_logical(const struct lapic *a, uint32_t dest, bool wide)
{
	uint32_t ldr = rd(a, APIC_LDR);
	if (x2apic(a)) {
		if (wide) {
			if (dest == 0xffffffff)
				return true;
			return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
		}
		dest &= 0xff;
		if (dest == 0xff)
			return true;
		return (ldr >> 16) == 0 && (dest & ldr & 0xff);
	}
	ldr >>= 24;
	dest &= 0xff;
	if (dest == 0xff)
		return true;
	if ((rd(a, APIC_DFR) >> 28) == 0xf)
		return (ldr & dest) != 0;				/* flat */
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);	/* cluster */
}

static bool match_phys(const struct lapic *a, uint32_t dest, bool wide)
{
	if (wide && x2apic(a))
		return dest == 0xffffffff || dest == apic_id(a);
	dest &= 0xff;
	return dest == 0xff || dest == (apic_id(a) & (x2apic(a) ? 0xffffffffu : 0xff));
}

/*
 * Lowest-priority arbitration (SDM 11.6.2.4): the focus processor (the
 * vector already in its IRR or ISR) if focus checking is on, else the
 * lowest arbitration priority; ties go to the lowest APIC ID.
 */
static struct cpu *arbitrate(struct cpu **cand, int n, int vec)
{
	struct cpu *best = NULL;
	uint32_t best_pri = 0x100, best_id = 0;
	for (int k = 0; k < n; k++) {
		struct lapic *a = cand[k]->apic;
		if (!(rd(a, APIC_SPIV) & SPIV_FOCUS_OFF) &&
		    (bit_get(a, APIC_IRR, vec) || bit_get(a, APIC_ISR, vec)))
			return cand[k];
	}
	for (int k = 0; k < n; k++) {
		struct lapic *a = cand[k]->apic;
		uint32_t pri = calc_apr(a) & 0xf0, id = apic_id(a);
		if (!best || pri < best_pri || (pri == best_pri && id < best_id)) {
			best = cand[k];
			best_pri = pri;
			best_id = id;
		}
	}
	return best;
}

/*
 * Would the target accept the message (KVM_SIGNAL_MSI counts the APICs
 * that did, as kvm_irq_delivery_to_apic: 0 for a software-disabled APIC)?
 * Judged at sending time, also for a message still in flight.
 */
static int accepts(const struct lapic *a, int delivery, int vec, bool level, bool trig_level)
{
	switch (delivery) {
	case DM_FIXED: case DM_LOWEST:
		return vec >= 16 && sw_enabled(a) && !(trig_level && !level);
	case DM_NMI: case DM_SIPI:
		return 1;
	case DM_INIT:
		return !trig_level || level;
	default:
		return 0;
	}
}

static int send_msg(struct vm *vm, struct cpu *src, uint64_t at, uint32_t dest, bool wide,
		    bool logical, int shorthand, int delivery, int vec, bool level,
		    bool trig_level)
{
	struct cpu *cand[VM_MAX_VCPUS];
	int n = 0, accepted = 0;

	for (int k = 0; k < vm->nvcpus; k++) {
		struct cpu *t = vm->vcpu[k];
		if (!t || !hw_enabled(t->apic))
			continue;
		bool m;
		switch (shorthand) {
		case 1: m = t == src; break;
		case 2: m = true; break;
		case 3: m = t != src; break;
		default:
			m = logical ? match_logical(t->apic, dest, wide) :
				      match_phys(t->apic, dest, wide);
			break;
		}
		if (!m)
			continue;
		if (delivery == DM_LOWEST) {
			if (sw_enabled(t->apic))
				cand[n++] = t;
			continue;
		}
		accepted += accepts(t->apic, delivery, vec, level, trig_level);
		deliver_at(t->apic, at, delivery, vec, level, trig_level);
	}
	if (n) {
		struct cpu *t = arbitrate(cand, n, vec);
		accepted += accepts(t->apic, DM_LOWEST, vec, level, trig_level);
		deliver_at(t->apic, at, DM_LOWEST, vec, level, trig_level);
	}
	return accepted;
}

int lapic_send(struct vm *vm, struct cpu *src, uint32_t dest, bool logical,
	       int shorthand, int delivery, int vec, bool level, bool trig_level)
{
	uint64_t at = src ? now(src->apic) : vm->now;
	bool wide = src && x2apic(src->apic);
	return send_msg(vm, src, at, dest, wide, logical, shorthand, delivery, vec, level,
			trig_level);
}

/*
 * An MSI (PCI, IOAPIC through the VMM): address bits 19:12 destination,
 * bit 2 destination mode; with KVM's x2APIC API the high address word
 * holds destination bits 31:8.  Data: vector, delivery mode, level,
 * trigger mode (SDM 11.11).  It arrives at the time of the VMM action,
 * the clock of the vCPU whose exit the VMM is handling.
 */
int lapic_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	uint32_t hi = (uint32_t)(addr >> 32) & 0xffffff00;
	uint32_t dest = (uint32_t)((addr >> 12) & 0xff) | hi;
	bool logical = addr & 4;
	int delivery = (data >> 8) & 7;
	return send_msg(vm, NULL, vm->now, dest, hi != 0, logical, 0, delivery, data & 0xff,
			(data >> 14) & 1, (data >> 15) & 1);
}

/* ICR write (SDM 11.6.1) */
static void send_icr(struct lapic *a, uint32_t lo, uint32_t hi)
{
	int delivery = (lo >> 8) & 7;
	int shorthand = (lo >> 18) & 3;
	int vec = lo & 0xff;
	if ((delivery == DM_FIXED || delivery == DM_LOWEST) && vec < 16) {
		apic_error(a, ESR_SEND_ILLEGAL);
		return;
	}
	uint32_t dest = x2apic(a) ? hi : hi >> 24;
	send_msg(a->c->vm, a->c, now(a), dest, x2apic(a), (lo >> 11) & 1, shorthand, delivery,
		 vec, (lo >> 14) & 1, (lo >> 15) & 1);
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
	if (!init || (timer_mode(a) != TIMER_ONESHOT && timer_mode(a) != TIMER_PERIODIC)) {
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
	if (timer_mode(a) != TIMER_TSCDEADLINE)
		return;
	uint64_t v = c->msr.tsc_deadline;
	if (!v) {
		a->deadline = ~0ULL;
		return;
	}
	uint64_t clk = v - c->msr.tsc_offset;
	uint64_t t = now(a);
	/* a deadline in the past fires at the next instruction boundary */
	a->deadline = (int64_t)(clk - t) <= 0 ? t : clk;
	c->brk |= BRK_EVENT;
}

uint64_t lapic_next_deadline(const struct cpu *c)
{
	const struct lapic *a = c->apic;
	return a->deadline < a->fly_min ? a->deadline : a->fly_min;
}

void lapic_timer_check(struct cpu *c)
{
	struct lapic *a = c->apic;
	uint64_t t = c->clock;
	if (a->fly_min <= t)
		fly_run(a, t);
	if (a->deadline == ~0ULL || t < a->deadline)
		return;
	uint32_t lvt = rd(a, APIC_LVTT);
	if (!(lvt & LVT_MASKED))
		accept_irq(a, (int)(lvt & 0xff), false);
	switch (timer_mode(a)) {
	case TIMER_PERIODIC:
		if (a->period) {
			/* expiries missed while not running merge into one interrupt */
			uint64_t n = (t - a->deadline) / a->period + 1;
			a->deadline += n * a->period;
		} else {
			a->deadline = ~0ULL;
		}
		break;
	case TIMER_TSCDEADLINE:
		c->msr.tsc_deadline = 0;
		a->deadline = ~0ULL;
		break;
	default:
		a->deadline = ~0ULL;
		break;
	}
}

static uint32_t current_count(const struct lapic *a)
{
	int mode = timer_mode(a);
	if (a->deadline == ~0ULL || (mode != TIMER_ONESHOT && mode != TIMER_PERIODIC))
		return 0;
	uint64_t t = now(a);
	uint64_t left;
	if (t >= a->deadline) {
		if (mode != TIMER_PERIODIC || !a->period)
			return 0;
		/* expired, not yet processed: already counting the next period */
		left = a->period - (t - a->deadline) % a->period;
	} else {
		left = a->deadline - t;
	}
	uint32_t d = divide(a);
	return (uint32_t)((left + d - 1) / d);
}

/*
 * The divide configuration changed: the counter keeps its value and
 * counts at the new rate from now on.
 */
static void timer_rescale(struct lapic *a, uint32_t olddiv)
{
	uint32_t nd = divide(a);
	if (nd == olddiv || a->deadline == ~0ULL ||
	    (timer_mode(a) != TIMER_ONESHOT && timer_mode(a) != TIMER_PERIODIC))
		return;
	uint64_t t = now(a);
	if (a->deadline > t)
		a->deadline = t + (a->deadline - t) * nd / olddiv;
	a->period = (uint64_t)rd(a, APIC_TMICT) * nd;
}

/* ---- register access ----------------------------------------------------- */

static void do_eoi(struct lapic *a)
{
	int v = highest(a, APIC_ISR);
	if (v < 0)
		return;
	bit_set(a, APIC_ISR, v, false);
	/*
	 * Level-triggered: broadcast the EOI to the IOAPIC (the VMM's, via
	 * KVM_EXIT_IOAPIC_EOI), unless directed EOI suppresses it (11.8.5).
	 */
	if (bit_get(a, APIC_TMR, v) && !(rd(a, APIC_SPIV) & SPIV_EOI_SUPPRESS)) {
		if (a->neoi < EOIQ)
			a->eoiq[a->neoi++] = v;
		if (a->c->eoi_exit_vector < 0)
			a->c->eoi_exit_vector = lapic_take_eoi_exit(a->c);
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

/* registers present in xAPIC mode (SDM table 11-1) */
static bool xapic_reg_exists(int off)
{
	switch (off) {
	case APIC_ID: case APIC_VER: case APIC_TPR: case APIC_APR: case APIC_PPR:
	case APIC_EOI: case APIC_RRR: case APIC_LDR: case APIC_DFR: case APIC_SPIV:
	case APIC_ESR: case APIC_ICR: case APIC_ICR2: case APIC_TMICT: case APIC_TMCCT:
	case APIC_TDCR:
		return true;
	}
	if (off >= APIC_ISR && off < APIC_ESR)
		return true;
	return off >= APIC_LVTT && off <= APIC_LVTERR;
}

static uint32_t reg_read(struct lapic *a, int off)
{
	switch (off) {
	case APIC_PPR:
		return calc_ppr(a);
	case APIC_APR:
		return calc_apr(a);
	case APIC_TMCCT:
		return current_count(a);
	case APIC_EOI: case APIC_RRR:
		return 0;
	default:
		return rd(a, off);
	}
}

static uint32_t lvt_mask_bits(const struct lapic *a, int off)
{
	switch (off) {
	case APIC_LVTT:
		return HAS(a->c, FEAT_TSC_DEADLINE) ? 0x000700ff : 0x000300ff;
	case APIC_LVT0: case APIC_LVT1: return 0x0001a7ff;
	case APIC_LVTERR: return 0x000100ff;
	default: return 0x000107ff;	/* thermal, performance */
	}
}

/* false: the register is read-only or absent (#GP in x2APIC mode) */
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
	case APIC_SPIV: {
		uint32_t m = 0x3ff | ((APIC_VERSION & (1u << 24)) ? SPIV_EOI_SUPPRESS : 0);
		wr(a, APIC_SPIV, v & m);
		if (!(v & SPIV_EN)) {
			/* 11.4.7.2: software disable masks every LVT entry */
			for (int o = APIC_LVTT; o <= APIC_LVTERR; o += 0x10)
				wr(a, o, rd(a, o) | LVT_MASKED);
		}
		kick(a);
		return true;
	}
	case APIC_ESR:
		/* a write makes the errors since the last write visible (11.5.3) */
		wr(a, APIC_ESR, a->esr_pending);
		a->esr_pending = 0;
		return true;
	case APIC_ICR:
		wr(a, APIC_ICR, v & 0x000ccfff);
		send_icr(a, v, rd(a, APIC_ICR2));
		return true;
	case APIC_ICR2:
		if (x2apic(a))
			return false;
		wr(a, APIC_ICR2, v & 0xff000000);
		return true;
	case APIC_LVTT: {
		int oldmode = timer_mode(a);
		if (!sw_enabled(a))
			v |= LVT_MASKED;
		wr(a, off, v & lvt_mask_bits(a, off));
		/*
		 * 11.5.4.1: a transition to or from TSC-deadline mode disarms the
		 * timer; one-shot <-> periodic keeps counting.
		 */
		int mode = timer_mode(a);
		if (oldmode != mode &&
		    (oldmode == TIMER_TSCDEADLINE || mode == TIMER_TSCDEADLINE)) {
			a->deadline = ~0ULL;
			a->period = 0;
			wr(a, APIC_TMICT, 0);
			c->msr.tsc_deadline = 0;
		}
		if (mode == 3)
			a->deadline = ~0ULL;	/* reserved mode: the timer does not run */
		kick(a);
		return true;
	}
	case APIC_LVTTHMR: case APIC_LVTPC: case APIC_LVT0: case APIC_LVT1: case APIC_LVTERR:
		if (!sw_enabled(a))
			v |= LVT_MASKED;
		/* delivery status and remote IRR are read-only (always 0 here) */
		wr(a, off, v & lvt_mask_bits(a, off));
		kick(a);
		return true;
	case APIC_TMICT:
		if (timer_mode(a) == TIMER_TSCDEADLINE)
			return true;	/* ignored in TSC-deadline mode */
		wr(a, APIC_TMICT, v);
		timer_start_count(a);
		kick(a);
		return true;
	case APIC_TDCR: {
		uint32_t olddiv = divide(a);
		wr(a, APIC_TDCR, v & 0xb);
		timer_rescale(a, olddiv);
		kick(a);
		return true;
	}
	case APIC_SELF_IPI:
		if (!x2apic(a))
			return true;
		accept_irq(a, (int)(v & 0xff), false);
		return true;
	default:
		/* read-only or reserved */
		return false;
	}
}

/*
 * xAPIC MMIO (SDM 11.4.1): registers are 32 bits wide on 16-byte
 * boundaries.  Reads of other sizes/offsets return the covered bytes of
 * the register; writes other than aligned 32-bit ones are dropped (as
 * KVM).  Unimplemented registers read 0 and log "illegal register address".
 */
uint64_t lapic_mmio_access(struct cpu *c, uint32_t off, int size, bool write, uint64_t v)
{
	struct lapic *a = c->apic;
	int reg = (int)(off & 0xff0);
	if (!xapic_reg_exists(reg)) {
		apic_error(a, ESR_ILLEGAL_REG);
		return 0;
	}
	if (write) {
		/* writes to read-only registers are ignored */
		if (!(off & 0xf) && size == 4)
			reg_write(a, reg, (uint32_t)v);
		return 0;
	}
	uint32_t val = reg_read(a, reg);
	uint32_t sh = off & 0xf;
	if (sh >= 4)
		return 0;
	uint64_t r = (uint64_t)val >> (sh * 8);
	return size >= 8 ? r : r & sz_mask(size);
}

/* x2APIC MSRs 0x800..0x8ff (SDM 11.12.1, table 11-6) */
bool lapic_msr_read(struct cpu *c, uint32_t msr, uint64_t *v)
{
	struct lapic *a = c->apic;
	if (!x2apic(a) || msr < 0x800 || msr > 0x8ff)
		return false;
	int off = (int)(msr - 0x800) << 4;
	switch (off) {
	case APIC_ID: case APIC_VER: case APIC_TPR: case APIC_PPR: case APIC_LDR:
	case APIC_SPIV: case APIC_ESR: case APIC_LVTT: case APIC_LVTTHMR: case APIC_LVTPC:
	case APIC_LVT0: case APIC_LVT1: case APIC_LVTERR: case APIC_TMICT: case APIC_TMCCT:
	case APIC_TDCR:
		*v = reg_read(a, off);
		return true;
	case APIC_ICR:
		*v = (uint64_t)rd(a, APIC_ICR) | ((uint64_t)rd(a, APIC_ICR2) << 32);
		return true;
	}
	if (off >= APIC_ISR && off < APIC_ESR) {
		*v = reg_read(a, off);
		return true;
	}
	return false;	/* EOI, SELF IPI (write-only), DFR, ICR2, APR, RRD, absent */
}

bool lapic_msr_write(struct cpu *c, uint32_t msr, uint64_t v)
{
	struct lapic *a = c->apic;
	if (!x2apic(a) || msr < 0x800 || msr > 0x8ff)
		return false;
	int off = (int)(msr - 0x800) << 4;
	uint64_t rsv;
	switch (off) {
	case APIC_ICR:
		/* one 64-bit register: destination in bits 63:32 */
		if (v & 0xfff33000ULL)
			return false;
		wr(a, APIC_ICR2, (uint32_t)(v >> 32));
		wr(a, APIC_ICR, (uint32_t)v);
		send_icr(a, (uint32_t)v, (uint32_t)(v >> 32));
		return true;
	case APIC_EOI: case APIC_ESR: rsv = ~0ULL; break;
	case APIC_SELF_IPI: case APIC_TPR: rsv = ~0xffULL; break;
	case APIC_SPIV: rsv = ~(uint64_t)(0x3ff | ((APIC_VERSION & (1u << 24)) ? SPIV_EOI_SUPPRESS : 0)); break;
	case APIC_TDCR: rsv = ~0xbULL; break;
	case APIC_LVTT: case APIC_LVTTHMR: case APIC_LVTPC: case APIC_LVT0: case APIC_LVT1:
	case APIC_LVTERR:
		rsv = ~(uint64_t)(lvt_mask_bits(a, off) | (1u << 12) | (1u << 14));
		break;
	case APIC_TMICT: rsv = ~0xffffffffULL; break;
	default:
		return false;	/* read-only or absent */
	}
	if (v & rsv)
		return false;
	return reg_write(a, off, (uint32_t)v);
}

/* ---- KVM_GET/SET_LAPIC ---------------------------------------------------- */

/*
 * The register page as KVM reports it without KVM_CAP_X2APIC_API: the
 * x2APIC ID is shown in the xAPIC position (bits 31:24).
 */
void lapic_get_state(const struct cpu *c, struct kvm_lapic_state *s)
{
	const struct lapic *a = c->apic;
	uint32_t v;
	memcpy(s->regs, a->r, sizeof(s->regs));
	v = current_count(a);
	memcpy(s->regs + APIC_TMCCT, &v, 4);
	v = calc_ppr(a);
	memcpy(s->regs + APIC_PPR, &v, 4);
	if (x2apic(a)) {
		v = rd(a, APIC_ID) << 24;
		memcpy(s->regs + APIC_ID, &v, 4);
	}
}

int lapic_set_state(struct cpu *c, const struct kvm_lapic_state *s)
{
	struct lapic *a = c->apic;
	memcpy(a->r, s->regs, sizeof(a->r));
	if (x2apic(a))
		x2apic_id_regs(a, (uint32_t)c->id);
	wr(a, APIC_VER, APIC_VERSION);
	update_ppr(a);
	a->nfly = 0;
	a->fly_min = ~0ULL;
	a->neoi = 0;
	/* the timer continues from the saved current count */
	uint32_t cc;
	memcpy(&cc, s->regs + APIC_TMCCT, 4);
	int mode = timer_mode(a);
	if (mode == TIMER_TSCDEADLINE) {
		lapic_tsc_deadline_written(c);
	} else if (cc && (mode == TIMER_ONESHOT || mode == TIMER_PERIODIC)) {
		a->deadline = now(a) + (uint64_t)cc * divide(a);
		a->period = (uint64_t)rd(a, APIC_TMICT) * divide(a);
	} else {
		a->deadline = ~0ULL;
		a->period = 0;
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

/* ---- emulator-private state (nestvm.h: struct nv_private_state) ---------------- */

void lapic_get_private(const struct cpu *c, struct nv_private_state *p)
{
	const struct lapic *a = c->apic;
	p->esr_pending = a->esr_pending;
	p->nmsgs = (uint32_t)a->nfly;
	for (int k = 0; k < a->nfly; k++) {
		const struct flight *f = &a->fly[k];
		p->msgs[k] = (struct nv_lapic_msg){ f->at, f->delivery, f->vector, f->level,
						    f->trig_level, 0 };
	}
}

/* -1 if the state is not one this APIC can be in */
int lapic_check_private(const struct nv_private_state *p)
{
	if (p->nmsgs > FLYQ || (p->esr_pending & ~0xe0u))
		return -1;
	for (uint32_t k = 0; k < FLYQ; k++) {
		const struct nv_lapic_msg *m = &p->msgs[k];
		if (k >= p->nmsgs) {
			if (m->at || m->delivery || m->vector || m->level || m->trig_level || m->pad)
				return -1;
			continue;
		}
		/* SMI, remote read and ExtINT messages are never queued (deliver_at) */
		if (m->pad || m->level > 1 || m->trig_level > 1 || m->delivery == DM_SMI ||
		    m->delivery == 3 || m->delivery > DM_SIPI)
			return -1;
	}
	return 0;
}

void lapic_set_private(struct cpu *c, const struct nv_private_state *p)
{
	struct lapic *a = c->apic;
	a->esr_pending = p->esr_pending;
	a->nfly = (int)p->nmsgs;
	for (int k = 0; k < a->nfly; k++) {
		const struct nv_lapic_msg *m = &p->msgs[k];
		a->fly[k] = (struct flight){ m->at, m->delivery, m->vector, m->level, m->trig_level };
	}
	fly_recompute(a);
	c->brk |= BRK_EVENT;
}
