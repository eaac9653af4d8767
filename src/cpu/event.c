// SPDX-License-Identifier: MIT
/*
 * The event model: exceptions, NMIs and interrupts as explicit state
 * (../shared/spec/event-semantics.md §1, §2), and their delivery through
 * the IVT / IDT in every mode (SDM Vol. 3A ch. 6, 20).
 *
 * A raised exception becomes *pending* (evt_queue_exception).  At an
 * instruction boundary evt_service() turns the highest-priority event into
 * an *injected* one and delivers it.  A fault during delivery comes back to
 * evt_queue_exception with the injected event still recorded, where it is
 * merged by the double-fault rules, or, in guest mode, offered to the
 * nested hook first so L1 can see the original event as IDT-vectoring
 * information.  The payload (CR2 for #PF, DR6 for #DB) is written only
 * when the exception is delivered.
 */
#include "cpu.h"
#include "exec.h"
#include "lapic.h"
#include "mem.h"
#include "task.h"

enum { CLS_BENIGN, CLS_CONTRIB, CLS_PF };

/* SDM "Interrupt 8—Double Fault Exception", table 6-4/6-5 */
int evt_exception_class(int vec)
{
	switch (vec) {
	case EXC_DE: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP: case EXC_CP:
		return CLS_CONTRIB;
	case EXC_PF:
		return CLS_PF;
	case EXC_VE:
		return CLS_PF;	/* SDM lists #VE with #PF; KVM treats it as benign (spec U8) */
	default:
		return CLS_BENIGN;
	}
}

static bool exc_is_fault(int vec)
{
	switch (vec) {
	case EXC_DE: case EXC_BR: case EXC_UD: case EXC_NM: case EXC_TS: case EXC_NP:
	case EXC_SS: case EXC_GP: case EXC_PF: case EXC_MF: case EXC_AC: case EXC_XM:
	case EXC_VE: case EXC_CP:
		return true;
	default:
		return false;
	}
}

bool evt_exc_has_error_code(int vec)
{
	switch (vec) {
	case EXC_DF: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP: case EXC_PF:
	case EXC_AC: case EXC_CP:
		return true;
	default:
		return false;
	}
}

void evt_reset(struct cpu *c)
{
	memset(&c->evt, 0, sizeof(c->evt));
}

/* §1.4: commit a deferred payload (CR2 / DR6) */
void evt_commit_payload(struct cpu *c, struct evt_exc *e)
{
	if (!e->has_payload)
		return;
	if (e->vector == EXC_PF) {
		c->cr2 = e->payload;
	} else if (e->vector == EXC_DB) {
		uint64_t dr6 = c->dr[6];
		dr6 &= ~DR6_B0_3;
		dr6 |= DR6_ACTIVE_LOW;
		dr6 |= e->payload;
		dr6 ^= e->payload & DR6_ACTIVE_LOW;
		dr6 &= ~(1ULL << 12);
		c->dr[6] = dr6;
	}
	e->has_payload = false;
	e->payload = 0;
}

static bool nested_intercepts(struct cpu *c, struct evt_exc *e)
{
	return c->guest_mode && c->nested && c->nested->intercept_exception &&
	       c->nested->intercept_exception(c, e);
}

/*
 * Queue an exception raised by the current instruction or by the delivery
 * of the injected event (spec §2.2, kvm_multiple_exception, with the SDM
 * double-fault table of §1.3).
 */
void evt_queue_exception(struct cpu *c, int vec, bool has_ec, uint32_t ec,
			 bool has_payload, uint64_t payload)
{
	struct evt_state *s = &c->evt;
	struct evt_exc ne = {
		.pending = true, .vector = (uint8_t)vec, .type = EVT_HW_EXC,
		.has_error_code = has_ec, .error_code = ec,
		.has_payload = has_payload, .payload = payload,
	};

	c->brk |= BRK_EVENT;
	/* error codes exist only in protected mode (§1.1 rule 1) */
	if (!(c->cr0 & CR0_PE))
		ne.has_error_code = false;

	/* step 2: L1 intercepts it -> nested VM exit, injected event kept */
	if (nested_intercepts(c, &ne))
		return;

	if (!s->exc.pending && !s->exc.injected) {
		/*
		 * An NMI or interrupt whose delivery faulted is lost (serial
		 * handling, §1.3); a software interrupt likewise.
		 */
		s->nmi_injected = false;
		s->intr_injected = false;
		ne.nested = c->in_delivery;
		s->exc = ne;
		return;
	}

	int prev = s->exc.vector;
	if (prev == EXC_DF) {
		/*
		 * Exception while delivering #DF: shutdown.  KVM shuts down on any
		 * exception; the SDM only on contributory and page faults (a
		 * benign one is handled serially).  KVM-compatible by default.
		 */
		if (!c->vm->strict || evt_exception_class(vec) != CLS_BENIGN) {
			memset(&s->exc, 0, sizeof(s->exc));
			s->nmi_injected = s->intr_injected = false;
			s->triple_fault = true;
			return;
		}
	} else {
		int c1 = evt_exception_class(prev), c2 = evt_exception_class(vec);
		if ((c1 == CLS_CONTRIB && c2 == CLS_CONTRIB) ||
		    (c1 == CLS_PF && c2 != CLS_BENIGN)) {
			/*
			 * #DF.  Architecturally a #PF detected while delivering
			 * writes CR2 before becoming #DF (spec T02: Linux relies on
			 * it), so commit the second fault's payload.
			 */
			if (vec == EXC_PF && has_payload)
				c->cr2 = payload;
			memset(&s->exc, 0, sizeof(s->exc));
			s->nmi_injected = s->intr_injected = false;
			struct evt_exc df = {
				.pending = true, .vector = EXC_DF, .type = EVT_HW_EXC,
				.has_error_code = true, .error_code = 0,
			};
			if (!(c->cr0 & CR0_PE))
				df.has_error_code = false;
			if (nested_intercepts(c, &df))
				return;
			s->exc = df;
			return;
		}
	}
	/* serial: the new exception replaces the old one; FRED marks it nested */
	s->nmi_injected = s->intr_injected = false;
	ne.nested = true;
	s->exc = ne;
}

/* ---- delivery ------------------------------------------------------------ */

struct dlv {
	int vec;
	int type;
	bool has_ec;
	uint32_t ec;
	uint64_t ret_rip;	/* RIP pushed */
	bool ext;		/* EXT bit for error codes of faults during delivery */
};

static uint32_t dlv_err(const struct dlv *d, uint32_t v)
{
	return v | (d->ext ? 1 : 0);
}

/* do pushes of `bytes` below sp stay inside the stack segment? */
static bool stack_ok(const struct seg *ss, uint64_t sp, uint32_t bytes, uint64_t m)
{
	uint64_t lo = (sp - bytes) & m, hi = (sp - 1) & m;
	bool wrap = lo > hi;
	uint64_t maxa = wrap ? m : hi, mina = wrap ? 0 : lo;
	if ((ss->ar & AR_S) && !(ss->ar & 8) && (ss->ar & 4))
		return mina > ss->limit;	/* expand-down */
	return maxa <= ss->limit;
}

/* real-address mode: the IVT (SDM 20.1.4) */
static void deliver_real(struct cpu *c, const struct dlv *d)
{
	uint32_t off = d->vec * 4;
	if (off + 3 > c->idtr.limit)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, d->vec * 8 + 2));
	uint64_t ent = sys_ld(c, c->idtr.base + off, 4);
	uint64_t fl = cpu_get_rflags(c);
	uint64_t sp = c->gpr[R_SP];
	uint64_t ssb = c->seg[S_SS].base;
	int ssz = (c->seg[S_SS].ar & AR_DB) ? 4 : 2;
	uint64_t m = ssz == 4 ? 0xffffffffULL : 0xffff;
	uint64_t a1 = (sp - 2) & m, a2 = (sp - 4) & m, a3 = (sp - 6) & m;
	if (!stack_ok(&c->seg[S_SS], sp & m, 6, m))
		cpu_raise_ec(c, EXC_SS, 0);
	mem_write_slow(c, (ssb + a1) & 0xffffffffULL, 2, fl, ACC_W);
	mem_write_slow(c, (ssb + a2) & 0xffffffffULL, 2, c->seg[S_CS].sel, ACC_W);
	mem_write_slow(c, (ssb + a3) & 0xffffffffULL, 2, d->ret_rip, ACC_W);
	reg_set(c, R_SP, ssz, a3);
	c->rflags &= ~(uint64_t)(F_IF | F_TF | F_AC | F_RF);
	c->seg[S_CS].sel = (uint16_t)(ent >> 16);
	c->seg[S_CS].base = (ent >> 16) << 4;
	c->rip = ent & 0xffff;
	cpu_update_mode(c);
}

/* check the interrupt-handler code segment (SDM 6.12.1) */
static uint64_t handler_cs(struct cpu *c, const struct dlv *d, uint16_t sel, bool lm)
{
	uint64_t cd;
	if ((sel & 0xfffc) == 0)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, 0));
	if (!desc_read(c, sel, &cd, NULL, -1))
		cpu_raise_ec(c, EXC_GP, dlv_err(d, sel & 0xfffc));
	uint32_t ar = desc_ar(cd);
	int dpl = (ar >> AR_DPL_SHIFT) & 3;
	if (!(ar & AR_S) || !(ar & 8) || dpl > c->cpl)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, sel & 0xfffc));
	if (lm && (!(ar & AR_L) || (ar & AR_DB)))
		cpu_raise_ec(c, EXC_GP, dlv_err(d, sel & 0xfffc));
	if (!(ar & AR_P))
		cpu_raise_ec(c, EXC_NP, dlv_err(d, sel & 0xfffc));
	return cd;
}

static void push_frame(struct cpu *c, uint64_t ss_base, uint64_t sp, uint64_t m,
		       const uint64_t *vals, int n, int sz, bool sup)
{
	int acc = ACC_W | (sup ? ACC_FORCE_SUP : 0);
	for (int k = 0; k < n; k++) {
		sp = (sp - sz) & m;
		mem_write_slow(c, (ss_base + sp) & c->lin_mask, sz, vals[k], acc);
	}
}

/* probe the frame: all of it must be writable before anything is written */
static void probe_frame(struct cpu *c, uint64_t ss_base, uint64_t sp, uint64_t m,
			int bytes, bool sup)
{
	int acc = ACC_W | (sup ? ACC_FORCE_SUP : 0);
	uint64_t lo = (sp - bytes) & m;
	if (lo + bytes - 1 <= m && lo < sp) {
		mem_probe(c, (ss_base + lo) & c->lin_mask, bytes, acc);
	} else {
		for (int k = 1; k <= bytes; k++)
			mem_probe(c, (ss_base + ((sp - k) & m)) & c->lin_mask, 1, acc);
	}
}

static void deliver_long(struct cpu *c, const struct dlv *d)
{
	uint32_t off = d->vec * 16;
	if (off + 15 > c->idtr.limit)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, d->vec * 8 + 2));
	uint64_t lo = sys_ld(c, c->idtr.base + off, 8);
	uint64_t hi = sys_ld(c, c->idtr.base + off + 8, 8);
	int gtype = (lo >> 40) & 0x1f;
	int gdpl = (lo >> 45) & 3;
	if (gtype != 0x0e && gtype != 0x0f)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, d->vec * 8 + 2));
	if ((d->type == EVT_SOFT_INTR || d->type == EVT_SOFT_EXC) && gdpl < c->cpl)
		cpu_raise_ec(c, EXC_GP, d->vec * 8 + 2);
	if (!((lo >> 47) & 1))
		cpu_raise_ec(c, EXC_NP, dlv_err(d, d->vec * 8 + 2));
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t target = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL) | (hi << 32);
	uint64_t cd = handler_cs(c, d, sel, true);
	uint32_t ar = desc_ar(cd);
	int dpl = (ar >> AR_DPL_SHIFT) & 3;
	int ncpl = (ar & 4) ? c->cpl : dpl;	/* conforming keeps CPL */
	int istn = (int)((lo >> 32) & 7);
	uint64_t rsp = c->gpr[R_SP];
	uint64_t tssb = c->seg[S_TR].base;

	if (istn) {
		uint32_t o = 0x24 + (istn - 1) * 8;
		if (o + 7 > c->seg[S_TR].limit)
			cpu_raise_ec(c, EXC_TS, dlv_err(d, c->seg[S_TR].sel & 0xfffc));
		rsp = sys_ld(c, tssb + o, 8);
	} else if (ncpl < c->cpl) {
		uint32_t o = 4 + ncpl * 8;
		if (o + 7 > c->seg[S_TR].limit)
			cpu_raise_ec(c, EXC_TS, dlv_err(d, c->seg[S_TR].sel & 0xfffc));
		rsp = sys_ld(c, tssb + o, 8);
	}
	int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	if ((uint64_t)((int64_t)(rsp << sh) >> sh) != rsp || (uint64_t)((int64_t)(target << sh) >> sh) != target) {
		if ((uint64_t)((int64_t)(target << sh) >> sh) != target)
			cpu_raise_ec(c, EXC_GP, dlv_err(d, 0));
		cpu_raise_ec(c, EXC_SS, dlv_err(d, 0));
	}
	rsp &= ~0xfULL;	/* 64-bit frames are 16-byte aligned (SDM 6.14.2) */
	uint64_t vals[6];
	int n = 0;
	vals[n++] = c->seg[S_SS].sel;
	vals[n++] = c->gpr[R_SP];
	vals[n++] = cpu_get_rflags(c);
	vals[n++] = c->seg[S_CS].sel;
	vals[n++] = d->ret_rip;
	if (d->has_ec)
		vals[n++] = d->ec;
	probe_frame(c, 0, rsp, ~0ULL, n * 8, ncpl < 3);
	seg_set_accessed(c, sel, cd);	/* SDM 3.4.5.1: loading CS sets A */
	cd |= 1ULL << 40;
	push_frame(c, 0, rsp, ~0ULL, vals, n, 8, ncpl < 3);

	/* commit */
	if (ncpl < c->cpl) {
		c->seg[S_SS].sel = (uint16_t)ncpl;
		c->seg[S_SS].base = 0;
		c->seg[S_SS].limit = 0;
		c->seg[S_SS].ar = AR_UNUSABLE | (uint32_t)(ncpl << AR_DPL_SHIFT) | AR_DB | AR_P | 3;
	}
	c->gpr[R_SP] = rsp - n * 8;
	seg_from_desc(&c->seg[S_CS], (sel & 0xfffc) | ncpl, cd);
	c->cpl = ncpl;
	c->rip = target;
	c->rflags &= ~(uint64_t)(F_TF | F_NT | F_VM | F_RF);
	if (gtype == 0x0e)
		c->rflags &= ~(uint64_t)F_IF;
	cpu_update_mode(c);
}

/* protected mode and virtual-8086 mode (SDM 6.12, 20.3) */
static void deliver_prot(struct cpu *c, const struct dlv *d)
{
	uint32_t off = d->vec * 8;
	bool v86 = c->rflags & F_VM;
	if (off + 7 > c->idtr.limit)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, d->vec * 8 + 2));
	uint64_t g = sys_ld(c, c->idtr.base + off, 8);
	int gtype = (g >> 40) & 0x1f;
	int gdpl = (g >> 45) & 3;
	switch (gtype) {
	case 0x05: case 0x06: case 0x07: case 0x0e: case 0x0f:
		break;
	default:
		cpu_raise_ec(c, EXC_GP, dlv_err(d, d->vec * 8 + 2));
	}
	if ((d->type == EVT_SOFT_INTR || d->type == EVT_SOFT_EXC) && gdpl < c->cpl)
		cpu_raise_ec(c, EXC_GP, d->vec * 8 + 2);
	if (!((g >> 47) & 1))
		cpu_raise_ec(c, EXC_NP, dlv_err(d, d->vec * 8 + 2));
	if (gtype == 0x05) {
		task_switch(c, (uint16_t)(g >> 16), TS_GATE_INT, d->has_ec, d->ec,
			    d->ret_rip, d->ext);
		return;
	}
	bool g32 = gtype & 8;
	int sz = g32 ? 4 : 2;
	uint16_t sel = (uint16_t)(g >> 16);
	uint64_t target = (g & 0xffff) | (g32 ? ((g >> 32) & 0xffff0000ULL) : 0);
	uint64_t cd = handler_cs(c, d, sel, false);
	uint32_t ar = desc_ar(cd);
	int dpl = (ar >> AR_DPL_SHIFT) & 3;
	bool conforming = ar & 4;
	int ncpl = conforming ? c->cpl : dpl;

	if (v86 && ncpl != 0)
		cpu_raise_ec(c, EXC_GP, dlv_err(d, sel & 0xfffc));
	if (target > desc_limit(cd))
		cpu_raise_ec(c, EXC_GP, dlv_err(d, 0));

	uint64_t vals[10];
	int n = 0;
	uint64_t ss_base, sp, m;
	uint16_t nss = 0;
	uint64_t nssd = 0;
	bool stack_switch = ncpl < c->cpl;

	if (stack_switch) {
		/* new stack from the TSS (SDM 7.2.1 / 6.12.1.1) */
		bool t32 = (c->seg[S_TR].ar & AR_TYPE) >= 9;
		uint32_t o = t32 ? 4 + ncpl * 8 : 2 + ncpl * 4;
		uint32_t need = t32 ? o + 7 : o + 3;
		if (need > c->seg[S_TR].limit)
			cpu_raise_ec(c, EXC_TS, dlv_err(d, c->seg[S_TR].sel & 0xfffc));
		uint64_t nsp;
		if (t32) {
			nsp = sys_ld(c, c->seg[S_TR].base + o, 4);
			nss = (uint16_t)sys_ld(c, c->seg[S_TR].base + o + 4, 2);
		} else {
			nsp = sys_ld(c, c->seg[S_TR].base + o, 2);
			nss = (uint16_t)sys_ld(c, c->seg[S_TR].base + o + 2, 2);
		}
		if ((nss & 0xfffc) == 0)
			cpu_raise_ec(c, EXC_TS, dlv_err(d, 0));
		if (!desc_read(c, nss, &nssd, NULL, -1))
			cpu_raise_ec(c, EXC_TS, dlv_err(d, nss & 0xfffc));
		uint32_t sar = desc_ar(nssd);
		if ((nss & 3) != ncpl || ((sar >> AR_DPL_SHIFT) & 3) != (uint32_t)ncpl ||
		    !(sar & AR_S) || (sar & 8) || !(sar & 2))
			cpu_raise_ec(c, EXC_TS, dlv_err(d, nss & 0xfffc));
		if (!(sar & AR_P))
			cpu_raise_ec(c, EXC_SS, dlv_err(d, nss & 0xfffc));
		ss_base = desc_base(nssd);
		m = (sar & AR_DB) ? 0xffffffffULL : 0xffff;
		sp = nsp & m;
		if (v86) {
			vals[n++] = c->seg[S_GS].sel;
			vals[n++] = c->seg[S_FS].sel;
			vals[n++] = c->seg[S_DS].sel;
			vals[n++] = c->seg[S_ES].sel;
		}
		vals[n++] = c->seg[S_SS].sel;
		vals[n++] = c->gpr[R_SP] & (sz == 4 ? 0xffffffffULL : 0xffff);
		/* the whole frame must fit the new stack segment */
		uint32_t bytes = (n + 3 + (d->has_ec ? 1 : 0)) * sz;
		struct seg tmp;
		seg_from_desc(&tmp, nss, nssd);
		if (!stack_ok(&tmp, sp, bytes, m))
			cpu_raise_ec(c, EXC_SS, dlv_err(d, nss & 0xfffc));
	} else {
		ss_base = c->seg[S_SS].base;
		m = (c->seg[S_SS].ar & AR_DB) ? 0xffffffffULL : 0xffff;
		sp = c->gpr[R_SP] & m;
		uint32_t bytes = (3 + (d->has_ec ? 1 : 0)) * sz;
		if (!stack_ok(&c->seg[S_SS], sp, bytes, m))
			cpu_raise_ec(c, EXC_SS, dlv_err(d, 0));
	}
	vals[n++] = cpu_get_rflags(c) & (sz == 4 ? 0xffffffffULL : 0xffff);
	vals[n++] = c->seg[S_CS].sel;
	vals[n++] = d->ret_rip & (sz == 4 ? 0xffffffffULL : 0xffff);
	if (d->has_ec)
		vals[n++] = d->ec;
	probe_frame(c, ss_base, sp, m, n * sz, ncpl < 3);
	seg_set_accessed(c, sel, cd);	/* SDM 3.4.5.1: the loaded CS and SS get A set */
	cd |= 1ULL << 40;
	if (stack_switch) {
		seg_set_accessed(c, nss, nssd);
		nssd |= 1ULL << 40;
	}
	push_frame(c, ss_base, sp, m, vals, n, sz, ncpl < 3);

	/* commit */
	if (stack_switch) {
		seg_from_desc(&c->seg[S_SS], nss, nssd | (1ULL << 40));
		reg_set(c, R_SP, m == 0xffff ? 2 : 4, (sp - n * sz) & m);
	} else {
		reg_set(c, R_SP, m == 0xffff ? 2 : 4, (sp - n * sz) & m);
	}
	if (v86) {
		for (int s = S_ES; s <= S_GS; s++) {
			if (s == S_CS || s == S_SS)
				continue;
			c->seg[s].sel = 0;
			c->seg[s].base = 0;
			c->seg[s].limit = 0;
			c->seg[s].ar = AR_UNUSABLE;
		}
	}
	seg_from_desc(&c->seg[S_CS], (sel & 0xfffc) | ncpl, cd);
	c->cpl = ncpl;
	c->rip = target;
	c->rflags &= ~(uint64_t)(F_TF | F_NT | F_VM | F_RF);
	if (!(gtype & 1))
		c->rflags &= ~(uint64_t)F_IF;
	cpu_update_mode(c);
}

static void deliver(struct cpu *c, struct dlv *d)
{
	bool intel = c->model->vendor == VENDOR_INTEL;
	d->ext = d->type == EVT_EXT_INTR || d->type == EVT_NMI ||
		 (intel && (d->type == EVT_HW_EXC || d->type == EVT_PRIV_SOFT_EXC));
	c->in_delivery = true;
	if (!(c->cr0 & CR0_PE))
		deliver_real(c, d);
	else if (c->efer & EFER_LMA)
		deliver_long(c, d);
	else
		deliver_prot(c, d);
	c->in_delivery = false;
	c->mwait_armed = false;
}

static void deliver_exception(struct cpu *c)
{
	struct evt_exc *e = &c->evt.exc;
	struct dlv d = {
		.vec = e->vector, .type = e->type,
		.has_ec = e->has_error_code && (c->cr0 & CR0_PE), .ec = e->error_code,
		.ret_rip = c->rip,
	};
	if (e->type == EVT_SOFT_EXC || e->type == EVT_PRIV_SOFT_EXC)
		d.ret_rip = (c->rip + e->inst_len) & rip_mask(c);
	deliver(c, &d);
	memset(e, 0, sizeof(*e));
}

/*
 * INT n / INT3 / INTO / INT1 executed by the current instruction: record
 * it as injected (so a fault during its delivery is reported with it) and
 * deliver.  c->rip is the instruction's own RIP.
 */
void evt_deliver_soft(struct cpu *c, int vec, int type, int inst_len)
{
	struct evt_state *s = &c->evt;
	if (type == EVT_SOFT_INTR) {
		s->intr_injected = true;
		s->intr_soft = true;
		s->intr_nr = (uint8_t)vec;
		s->intr_inst_len = (uint8_t)inst_len;
	} else {
		memset(&s->exc, 0, sizeof(s->exc));
		s->exc.injected = true;
		s->exc.vector = (uint8_t)vec;
		s->exc.type = (uint8_t)type;
		s->exc.inst_len = (uint8_t)inst_len;
	}
	/* hook: L1 may intercept software interrupts (SVM INTn, VMX exc bitmap) */
	if (type != EVT_SOFT_INTR && c->guest_mode) {
		struct evt_exc tmp = s->exc;
		tmp.pending = true;
		tmp.injected = false;
		if (nested_intercepts(c, &tmp)) {
			memset(&s->exc, 0, sizeof(s->exc));
			return;
		}
	}
	struct dlv d = {
		.vec = vec, .type = type, .has_ec = false,
		.ret_rip = (c->rip + inst_len) & rip_mask(c),
	};
	deliver(c, &d);
	c->sw_int = true;
	if (type == EVT_SOFT_INTR) {
		s->intr_injected = false;
		s->intr_soft = false;
	} else {
		memset(&s->exc, 0, sizeof(s->exc));
	}
}

/* IRET: NMI blocking ends when IRET starts (§1.6 rule 1) */
void evt_iret_unblock_nmi(struct cpu *c)
{
	if (c->evt.nmi_masked) {
		c->evt.nmi_masked = false;
		if (c->evt.nmi_pending)
			c->brk |= BRK_EVENT;
	}
}

/* can a maskable interrupt be taken now? */
static bool intr_allowed(const struct cpu *c)
{
	return (c->rflags & F_IF) && !c->evt.shadow;
}

static bool nmi_allowed(const struct cpu *c)
{
	/* KVM treats the STI shadow as NMI blocking too (§1.5) */
	return !c->evt.nmi_masked && !c->evt.shadow;
}

bool evt_intr_pending(const struct cpu *c)
{
	return c->extint_pending || lapic_pending_vector(c) >= 0;
}

/* anything for evt_service to do? */
bool evt_need_service(struct cpu *c)
{
	const struct evt_state *s = &c->evt;
	if (s->triple_fault || s->exc.pending || s->exc.injected || s->exc_vmexit.pending ||
	    s->nmi_injected || s->intr_injected)
		return true;
	if (s->nmi_pending && nmi_allowed(c))
		return true;
	if (intr_allowed(c) && evt_intr_pending(c))
		return true;
	return false;
}

/*
 * At an instruction boundary: deliver the highest-priority event (spec
 * §1.7 / §2.3).  Returns with the event delivered, or the vCPU shut down
 * (c->run->exit_reason set and BRK_EXIT raised).
 */
bool evt_service(struct cpu *c)
{
	struct evt_state *s = &c->evt;

	if (s->triple_fault) {
		if (c->guest_mode && c->nested && c->nested->triple_fault &&
		    c->nested->triple_fault(c)) {
			s->triple_fault = false;
			return true;
		}
		s->triple_fault = false;
		c->run->exit_reason = KVM_EXIT_SHUTDOWN;
		c->brk |= BRK_EXIT;
		return true;
	}
	/* a pending exception restored by SET_VCPU_EVENTS: intercept check now */
	if (s->exc_from_user && s->exc.pending && c->guest_mode) {
		struct evt_exc e = s->exc;
		s->exc_from_user = false;
		if (nested_intercepts(c, &e)) {
			memset(&s->exc, 0, sizeof(s->exc));
			return true;
		}
	}
	s->exc_from_user = false;

	/* re-injection: delivery had already started */
	if (s->exc.injected) {
		c->halted = false;
		deliver_exception(c);
		return true;
	}
	if (!s->exc.pending && s->nmi_injected) {
		struct dlv d = { .vec = EXC_NMI, .type = EVT_NMI, .ret_rip = c->rip };
		c->halted = false;
		s->nmi_masked = true;
		deliver(c, &d);
		s->nmi_injected = false;
		return true;
	}
	if (!s->exc.pending && s->intr_injected) {
		struct dlv d = {
			.vec = s->intr_nr,
			.type = s->intr_soft ? EVT_SOFT_INTR : EVT_EXT_INTR,
			.ret_rip = c->rip,
		};
		if (s->intr_soft)
			d.ret_rip = (c->rip + s->intr_inst_len) & rip_mask(c);
		c->halted = false;
		deliver(c, &d);
		s->intr_injected = false;
		s->intr_soft = false;
		return true;
	}
	if (s->exc.pending) {
		struct evt_exc *e = &s->exc;
		/* faults push RF = 1 so the restarted instruction is not re-trapped */
		if (exc_is_fault(e->vector))
			c->rflags |= F_RF;
		if (e->vector == EXC_DB)
			c->dr[7] &= ~DR7_GD;
		evt_commit_payload(c, e);
		e->pending = false;
		e->injected = true;
		c->halted = false;
		deliver_exception(c);
		return true;
	}
	/* SMI: no SMM yet; stays pending (reported through vcpu events) */

	if (s->nmi_pending && nmi_allowed(c)) {
		if (c->guest_mode && c->nested && c->nested->intercept_nmi &&
		    c->nested->intercept_nmi(c))
			return true;
		s->nmi_pending--;
		s->nmi_injected = true;
		s->nmi_masked = true;
		c->halted = false;
		struct dlv d = { .vec = EXC_NMI, .type = EVT_NMI, .ret_rip = c->rip };
		deliver(c, &d);
		s->nmi_injected = false;
		return true;
	}
	if (intr_allowed(c) && evt_intr_pending(c)) {
		int vec;
		if (c->guest_mode && c->nested && c->nested->intercept_intr &&
		    c->nested->intercept_intr(c))
			return true;
		if (c->extint_pending) {
			vec = c->extint_vector;
			c->extint_pending = false;
		} else {
			vec = lapic_pending_vector(c);
			if (vec < 0)
				return false;
			lapic_ack(c, vec);
		}
		s->intr_injected = true;
		s->intr_soft = false;
		s->intr_nr = (uint8_t)vec;
		c->halted = false;
		struct dlv d = { .vec = vec, .type = EVT_EXT_INTR, .ret_rip = c->rip };
		deliver(c, &d);
		s->intr_injected = false;
		return true;
	}
	return false;
}
