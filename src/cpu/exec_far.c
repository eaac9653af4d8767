// SPDX-License-Identifier: MIT
/*
 * Far transfers (JMP/CALL/RET far, call gates, task gates), INT n / INT3 /
 * INTO / INT1, IRET in every mode, segment-register moves, SYSCALL /
 * SYSRET / SYSENTER / SYSEXIT (SDM Vol. 2 and Vol. 3A ch. 5, 6, 7, 20).
 * Every check happens before any register is changed.
 */
#include "cpu.h"
#include "exec.h"
#include "mem.h"
#include "task.h"

#define H(name) void name(struct cpu *c, const struct insn *i)

static inline uint64_t next_rip(const struct insn *i)
{
	return i->rip + i->len;
}

static bool canon(const struct cpu *c, uint64_t v)
{
	int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(v << sh) >> sh) == v;
}

static bool real_or_v86(const struct cpu *c)
{
	return !(c->cr0 & CR0_PE) || (c->rflags & F_VM);
}

static void load_cs(struct cpu *c, uint16_t sel, uint64_t d, int cpl)
{
	seg_from_desc(&c->seg[S_CS], (sel & 0xfffc) | cpl, d | (1ULL << 40));
	c->cpl = cpl;
	cpu_update_mode(c);
}

/* stack writes at an explicit SS base/limit/size, used across privilege changes */
struct stk {
	uint64_t base, sp, m;
	struct seg seg;
	bool sup;
};

static void stk_push(struct cpu *c, struct stk *s, int sz, uint64_t v)
{
	s->sp = (s->sp - sz) & s->m;
	mem_write_slow(c, (s->base + s->sp) & c->lin_mask, sz, v,
		       ACC_W | (s->sup ? ACC_FORCE_SUP : 0));
}

static bool stk_fits(const struct stk *s, uint32_t bytes)
{
	if (s->m == ~0ULL)
		return true;
	uint64_t lo = (s->sp - bytes) & s->m, hi = (s->sp - 1) & s->m;
	bool wrap = lo > hi;
	if ((s->seg.ar & AR_S) && !(s->seg.ar & 8) && (s->seg.ar & 4))
		return (wrap ? 0 : lo) > s->seg.limit;
	return (wrap ? s->m : hi) <= s->seg.limit;
}

static void stk_probe(struct cpu *c, struct stk *s, uint32_t bytes, uint32_t ss_ec)
{
	if (!stk_fits(s, bytes))
		cpu_raise_ec(c, EXC_SS, ss_ec);
	for (uint32_t k = 1; k <= bytes; k += 1) {
		uint64_t a = (s->base + ((s->sp - k) & s->m)) & c->lin_mask;
		if (k == 1 || ((a & 0xfff) == 0xfff))
			mem_probe(c, a, 1, ACC_W | (s->sup ? ACC_FORCE_SUP : 0));
	}
}

/* ---- JMP / CALL far -------------------------------------------------------- */

static void far_real(struct cpu *c, uint16_t sel, uint64_t off, int osz, bool call,
		     uint64_t ret)
{
	if (call) {
		uint64_t sp1 = stk_addr(c, -osz), sp2 = ea_mask(sp1 - osz, stack_asz(c));
		cpu_st(c, S_SS, sp1, osz, c->seg[S_CS].sel);
		cpu_st(c, S_SS, sp2, osz, ret);
		sp_set(c, sp2);
	}
	seg_load_real(c, S_CS, sel);
	c->rip = off & (osz == 2 ? 0xffff : 0xffffffffULL);
}

static void call_gate(struct cpu *c, uint16_t gsel, uint64_t g, uint64_t ghi, int osz,
		      bool call, uint64_t ret)
{
	bool lm = c->efer & EFER_LMA;
	int gtype = (g >> 40) & 0xf;
	bool g32 = gtype == 0xc;
	uint16_t csel = (uint16_t)(g >> 16);
	uint64_t off = (g & 0xffff) | (g32 ? ((g >> 32) & 0xffff0000ULL) : 0);
	int pcount = (int)((g >> 32) & 0x1f);
	uint64_t cd;

	if (lm) {
		off |= ghi << 32;
		if (((ghi >> 40) & 0x1f) != 0)
			cpu_raise_ec(c, EXC_GP, gsel & 0xfffc);
	}
	if ((csel & 0xfffc) == 0)
		cpu_raise_ec(c, EXC_GP, 0);
	desc_read(c, csel, &cd, NULL, EXC_GP);
	uint32_t ar = desc_ar(cd);
	int dpl = (ar >> AR_DPL_SHIFT) & 3;
	if (!(ar & AR_S) || !(ar & 8) || dpl > c->cpl)
		cpu_raise_ec(c, EXC_GP, csel & 0xfffc);
	if (lm && (!(ar & AR_L) || (ar & AR_DB)))
		cpu_raise_ec(c, EXC_GP, csel & 0xfffc);
	if (!call && !(ar & 4) && dpl != c->cpl)
		cpu_raise_ec(c, EXC_GP, csel & 0xfffc);
	if (!(ar & AR_P))
		cpu_raise_ec(c, EXC_NP, csel & 0xfffc);

	int gsz = lm ? 8 : g32 ? 4 : 2;
	bool more = call && !(ar & 4) && dpl < c->cpl;
	if (!lm && off > desc_limit(cd))
		cpu_raise_ec(c, EXC_GP, 0);
	if (lm && !canon(c, off))
		cpu_raise_ec(c, EXC_GP, 0);

	if (!call) {
		seg_set_accessed(c, csel, cd);
		load_cs(c, csel, cd, c->cpl);
		c->rip = off;
		return;
	}
	if (!more) {
		struct stk s = { c->seg[S_SS].base, c->gpr[R_SP] & sz_mask(stack_asz(c)),
				 sz_mask(stack_asz(c)), c->seg[S_SS], c->cpl < 3 };
		if (cpu_long64(c))
			s.base = 0;
		stk_probe(c, &s, 2 * gsz, 0);
		seg_set_accessed(c, csel, cd);
		stk_push(c, &s, gsz, c->seg[S_CS].sel);
		stk_push(c, &s, gsz, ret);
		reg_set(c, R_SP, s.m == 0xffff ? 2 : s.m == ~0ULL ? 8 : 4, s.sp);
		load_cs(c, csel, cd, c->cpl);
		c->rip = off;
		return;
	}

	/* call to an inner privilege level: stack from the TSS (SDM 5.8.5) */
	int ncpl = dpl;
	struct seg *tr = &c->seg[S_TR];
	struct stk s;
	uint16_t nss;
	uint64_t nssd = 0;
	memset(&s, 0, sizeof(s));
	s.sup = ncpl < 3;
	if (lm) {
		uint32_t o = 4 + ncpl * 8;
		if (o + 7 > tr->limit)
			cpu_raise_ec(c, EXC_TS, tr->sel & 0xfffc);
		uint64_t nsp = sys_ld(c, tr->base + o, 8);
		if (!canon(c, nsp))
			cpu_raise_ec(c, EXC_SS, 0);
		nss = (uint16_t)ncpl;
		s.base = 0;
		s.sp = nsp;
		s.m = ~0ULL;
	} else {
		bool t32 = (tr->ar & AR_TYPE) >= 9;
		uint32_t o = t32 ? 4 + ncpl * 8 : 2 + ncpl * 4;
		if (o + (t32 ? 7 : 3) > tr->limit)
			cpu_raise_ec(c, EXC_TS, tr->sel & 0xfffc);
		uint64_t nsp = sys_ld(c, tr->base + o, t32 ? 4 : 2);
		nss = (uint16_t)sys_ld(c, tr->base + o + (t32 ? 4 : 2), 2);
		if ((nss & 0xfffc) == 0)
			cpu_raise_ec(c, EXC_TS, 0);
		if (!desc_read(c, nss, &nssd, NULL, -1))
			cpu_raise_ec(c, EXC_TS, nss & 0xfffc);
		uint32_t sar = desc_ar(nssd);
		if ((nss & 3) != ncpl || ((sar >> AR_DPL_SHIFT) & 3) != (uint32_t)ncpl ||
		    !(sar & AR_S) || (sar & 8) || !(sar & 2))
			cpu_raise_ec(c, EXC_TS, nss & 0xfffc);
		if (!(sar & AR_P))
			cpu_raise_ec(c, EXC_SS, nss & 0xfffc);
		seg_from_desc(&s.seg, nss, nssd);
		s.base = s.seg.base;
		s.m = (sar & AR_DB) ? 0xffffffffULL : 0xffff;
		s.sp = nsp & s.m;
	}
	/* parameters from the old stack (16/32-bit gates) */
	uint64_t params[32];
	int osp = stack_asz(c);
	for (int k = 0; k < (lm ? 0 : pcount); k++)
		params[k] = cpu_ld(c, S_SS, ea_mask(c->gpr[R_SP] + (uint64_t)(k * gsz), osp), gsz);
	int np = lm ? 0 : pcount;
	stk_probe(c, &s, (4 + np) * gsz, nss & 0xfffc);
	if (!lm)
		seg_set_accessed(c, nss, nssd);
	seg_set_accessed(c, csel, cd);
	stk_push(c, &s, gsz, c->seg[S_SS].sel);
	stk_push(c, &s, gsz, c->gpr[R_SP] & sz_mask(osp));
	for (int k = np - 1; k >= 0; k--)
		stk_push(c, &s, gsz, params[k]);
	stk_push(c, &s, gsz, c->seg[S_CS].sel);
	stk_push(c, &s, gsz, ret);
	/* commit */
	if (lm) {
		c->seg[S_SS].sel = nss;
		c->seg[S_SS].base = 0;
		c->seg[S_SS].limit = 0;
		c->seg[S_SS].ar = AR_UNUSABLE | (uint32_t)(ncpl << AR_DPL_SHIFT);
		c->gpr[R_SP] = s.sp;
	} else {
		seg_from_desc(&c->seg[S_SS], nss, nssd | (1ULL << 40));
		reg_set(c, R_SP, s.m == 0xffff ? 2 : 4, s.sp);
	}
	load_cs(c, csel, cd, ncpl);
	c->rip = off;
	(void)osz;
}

void far_jump(struct cpu *c, uint16_t sel, uint64_t off, int osz, bool call,
	      uint64_t ret)
{
	uint64_t d, hi = 0;

	if (real_or_v86(c)) {
		far_real(c, sel, off, osz, call, ret);
		return;
	}
	if ((sel & 0xfffc) == 0)
		cpu_gp0(c);
	desc_read(c, sel, &d, NULL, EXC_GP);
	uint32_t ar = desc_ar(d);
	int dpl = (ar >> AR_DPL_SHIFT) & 3, rpl = sel & 3;
	bool lm = c->efer & EFER_LMA;

	if (ar & AR_S) {
		if (!(ar & 8))
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		/* IA-32e mode: L = 1 with D = 1 is reserved (SDM JMP, CALL) */
		if (lm && (ar & AR_L) && (ar & AR_DB))
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		if (ar & 4) {
			if (dpl > c->cpl)
				cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		} else if (rpl > c->cpl || dpl != c->cpl) {
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		}
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
		bool tgt64 = lm && (ar & AR_L);
		if (!tgt64) {
			off &= osz == 2 ? 0xffff : 0xffffffffULL;
			if (off > desc_limit(d))
				cpu_gp0(c);
		} else if (!canon(c, off)) {
			cpu_gp0(c);
		}
		uint64_t sp1 = stk_addr(c, -osz), sp2 = ea_mask(sp1 - osz, stack_asz(c));
		if (call)	/* the pushes must not fault after the accessed bit is set */
			mem_probe(c, seg_lin(c, S_SS, sp2, 2 * osz, ACC_W), 2 * osz, ACC_W | ACC_SS);
		seg_set_accessed(c, sel, d);
		if (call) {
			cpu_st(c, S_SS, sp1, osz, c->seg[S_CS].sel);
			cpu_st(c, S_SS, sp2, osz, ret);
			sp_set(c, sp2);
		}
		load_cs(c, sel, d, c->cpl);
		c->rip = off;
		return;
	}

	int type = ar & AR_TYPE;
	if (lm) {
		if (type != 0xc)
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		desc_read(c, sel, &d, &hi, EXC_GP);
	}
	switch (type) {
	case 0x4: case 0xc:		/* call gates */
		if (dpl < c->cpl || dpl < rpl)
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
		call_gate(c, sel, d, hi, osz, call, ret);
		return;
	case 0x5:			/* task gate */
	case 0x1: case 0x9: {		/* available TSS */
		if (dpl < c->cpl || dpl < rpl)
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
		uint16_t tss = type == 5 ? (uint16_t)(d >> 16) : sel;
		task_switch(c, tss, call ? TS_CALL : TS_JMP, false, 0, ret, false);
		return;
	}
	default:
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	}
}

H(h_jmpf_ptr)
{
	far_jump(c, (uint16_t)i->disp, i->imm, i->osz, false, next_rip(i));
}

H(h_callf_ptr)
{
	far_jump(c, (uint16_t)i->disp, i->imm, i->osz, true, next_rip(i));
}

static void far_mem(struct cpu *c, const struct insn *i, bool call)
{
	int osz = i->osz;
	/* m16:16, m16:32, m16:64 (AMD: REX.W is ignored, m16:32) */
	if (osz == 8 && c->model->vendor == VENDOR_AMD)
		osz = 4;
	uint64_t ea = insn_ea(c, i);
	uint64_t off = cpu_ld(c, i->seg, ea, osz);
	uint16_t sel = (uint16_t)cpu_ld(c, i->seg, ea_mask(ea + osz, i->asz), 2);
	far_jump(c, sel, off, osz, call, next_rip(i));
}

H(h_jmpf_m) { far_mem(c, i, false); }
H(h_callf_m) { far_mem(c, i, true); }

/* ---- RET far --------------------------------------------------------------- */

void far_return(struct cpu *c, int osz, uint16_t pop_bytes)
{
	int ssz = stack_asz(c);
	uint64_t sp = sp_get(c);
	uint64_t off = cpu_ld(c, S_SS, sp, osz);
	uint16_t sel = (uint16_t)cpu_ld(c, S_SS, ea_mask(sp + osz, ssz), 2);

	if (real_or_v86(c)) {
		off &= osz == 2 ? 0xffff : 0xffffffffULL;
		if (off > 0xffff && (c->rflags & F_VM))
			cpu_gp0(c);
		seg_load_real(c, S_CS, sel);
		c->rip = off;
		sp_set(c, ea_mask(sp + 2 * osz + pop_bytes, ssz));
		return;
	}
	if ((sel & 0xfffc) == 0)
		cpu_gp0(c);
	uint64_t d;
	desc_read(c, sel, &d, NULL, EXC_GP);
	uint32_t ar = desc_ar(d);
	int dpl = (ar >> AR_DPL_SHIFT) & 3, rpl = sel & 3;
	bool lm = c->efer & EFER_LMA;
	if (!(ar & AR_S) || !(ar & 8) || rpl < c->cpl)
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	if (lm && (ar & AR_L) && (ar & AR_DB))
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	if ((ar & 4) ? dpl > rpl : dpl != rpl)
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	if (!(ar & AR_P))
		cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
	bool tgt64 = lm && (ar & AR_L);
	if (!tgt64) {
		off &= osz == 2 ? 0xffff : 0xffffffffULL;
		if (off > desc_limit(d))
			cpu_gp0(c);
	} else if (!canon(c, off)) {
		cpu_gp0(c);
	}
	if (rpl == c->cpl) {
		seg_set_accessed(c, sel, d);
		load_cs(c, sel, d, c->cpl);
		c->rip = off;
		sp_set(c, ea_mask(sp + 2 * osz + pop_bytes, ssz));
		return;
	}
	/* return to an outer level: SS:ESP follow the parameters */
	uint64_t sp2 = ea_mask(sp + 2 * osz + pop_bytes, ssz);
	uint64_t nsp = cpu_ld(c, S_SS, sp2, osz);
	uint16_t nss = (uint16_t)cpu_ld(c, S_SS, ea_mask(sp2 + osz, ssz), 2);
	uint64_t sd = 0;
	bool null_ss = (nss & 0xfffc) == 0;
	if (null_ss) {
		if (!(lm && tgt64 && rpl < 3))
			cpu_gp0(c);
	} else {
		desc_read(c, nss, &sd, NULL, EXC_GP);
		uint32_t sar = desc_ar(sd);
		if ((nss & 3) != rpl || ((sar >> AR_DPL_SHIFT) & 3) != (uint32_t)rpl ||
		    !(sar & AR_S) || (sar & 8) || !(sar & 2))
			cpu_raise_ec(c, EXC_GP, nss & 0xfffc);
		if (!(sar & AR_P))
			cpu_raise_ec(c, EXC_SS, nss & 0xfffc);
		seg_set_accessed(c, nss, sd);
	}
	seg_set_accessed(c, sel, d);
	load_cs(c, sel, d, rpl);
	if (null_ss) {
		c->seg[S_SS].sel = nss;
		c->seg[S_SS].base = 0;
		c->seg[S_SS].limit = 0;
		c->seg[S_SS].ar = AR_UNUSABLE | (uint32_t)(rpl << AR_DPL_SHIFT);
	} else {
		seg_from_desc(&c->seg[S_SS], nss, sd | (1ULL << 40));
	}
	c->rip = off;
	int nssz = cpu_long64(c) ? 8 : (c->seg[S_SS].ar & AR_DB) ? 4 : 2;
	reg_set(c, R_SP, nssz, ea_mask(nsp + pop_bytes, nssz));
	/* data segments more privileged than the new CPL become null */
	for (int s = S_ES; s <= S_GS; s++) {
		if (s == S_CS || s == S_SS)
			continue;
		struct seg *sg = &c->seg[s];
		uint32_t t = sg->ar & AR_TYPE;
		int sdpl = (sg->ar >> AR_DPL_SHIFT) & 3;
		if (!(sg->ar & AR_UNUSABLE) && (!(t & 8) || !(t & 4)) && sdpl < c->cpl) {
			sg->sel = 0;
			sg->ar = AR_UNUSABLE;
		}
	}
	cpu_update_mode(c);
}

H(h_retf)
{
	far_return(c, i->osz, i->aux ? (uint16_t)i->imm : 0);
}

/* ---- software interrupts -------------------------------------------------- */

static bool vme_redirect(struct cpu *c, int vec, const struct insn *i)
{
	/* CR4.VME: the software-interrupt redirection bitmap in the TSS (SDM 20.3) */
	struct seg *tr = &c->seg[S_TR];
	if (tr->limit < 0x67)
		cpu_gp0(c);
	uint16_t iomap = (uint16_t)sys_ld(c, tr->base + 0x66, 2);
	uint32_t byte = iomap - 32 + vec / 8;
	if (iomap < 32 || byte > tr->limit)
		cpu_gp0(c);
	uint8_t bits = (uint8_t)sys_ld(c, tr->base + byte, 1);
	if (bits & (1 << (vec & 7)))
		return false;
	/* redirect through the virtual-8086 IVT at linear 0 */
	uint64_t ent = mem_read_slow(c, (uint64_t)vec * 4, 4, ACC_R);
	uint64_t f = cpu_get_rflags(c);
	int iopl = (f >> 12) & 3;
	uint64_t img = f & 0xffff;
	if (iopl < 3)
		img = (img & ~(uint64_t)F_IF) | ((f & F_VIF) ? F_IF : 0) | F_IOPL;
	uint64_t sp1 = stk_addr(c, -2), sp2 = ea_mask(sp1 - 2, 2), sp3 = ea_mask(sp2 - 2, 2);
	cpu_st(c, S_SS, sp1, 2, img);
	cpu_st(c, S_SS, sp2, 2, c->seg[S_CS].sel);
	cpu_st(c, S_SS, sp3, 2, next_rip(i));
	sp_set(c, sp3);
	if (iopl == 3)
		c->rflags &= ~(uint64_t)F_IF;
	else
		c->rflags &= ~(uint64_t)F_VIF;
	c->rflags &= ~(uint64_t)(F_TF | F_RF);
	seg_load_real(c, S_CS, (uint16_t)(ent >> 16));
	c->rip = ent & 0xffff;
	return true;
}

H(h_int)
{
	int vec = (int)(i->imm & 0xff);
	if (c->rflags & F_VM) {
		int iopl = (cpu_get_rflags(c) >> 12) & 3;
		if (c->cr4 & CR4_VME) {
			if (vme_redirect(c, vec, i))
				return;
			if (iopl < 3)
				cpu_gp0(c);
		} else if (iopl < 3) {
			cpu_gp0(c);
		}
	}
	c->rip = i->rip;
	evt_deliver_soft(c, vec, EVT_SOFT_INTR, i->len);
}

H(h_int3)
{
	c->rip = i->rip;
	evt_deliver_soft(c, EXC_BP, EVT_SOFT_EXC, i->len);
}

H(h_into)
{
	if (!cc_cond(c, 0)) {
		c->rip = next_rip(i);
		return;
	}
	c->rip = i->rip;
	evt_deliver_soft(c, EXC_OF, EVT_SOFT_EXC, i->len);
}

H(h_int1)
{
	/* ICEBP: a privileged software exception (#DB), trap-like */
	c->rip = i->rip;
	c->dr[7] &= ~DR7_GD;
	evt_deliver_soft(c, EXC_DB, EVT_PRIV_SOFT_EXC, i->len);
}

/* ---- IRET ---------------------------------------------------------------- */

static void iret_flags(struct cpu *c, uint64_t nf, int osz, int ncpl, bool to_v86)
{
	uint64_t mask = 0x3f7fd5ULL;
	int iopl = (cpu_get_rflags(c) >> 12) & 3;
	if (osz == 2)
		mask &= 0xffff;
	if (!to_v86) {
		mask &= ~(uint64_t)F_VM;
		if (c->cpl > 0)
			mask &= ~(uint64_t)(F_IOPL | F_VIF | F_VIP);
		if (c->cpl > iopl)
			mask &= ~(uint64_t)F_IF;
	}
	(void)ncpl;
	cpu_set_rflags(c, nf, mask);
}

void cpu_iret(struct cpu *c, int osz)
{
	int ssz = stack_asz(c);
	uint64_t sp = sp_get(c);

	evt_iret_unblock_nmi(c);
	if (!(c->cr0 & CR0_PE)) {
		uint64_t ip = cpu_ld(c, S_SS, sp, osz);
		uint16_t cs = (uint16_t)cpu_ld(c, S_SS, ea_mask(sp + osz, ssz), 2);
		uint64_t fl = cpu_ld(c, S_SS, ea_mask(sp + 2 * osz, ssz), osz);
		if (ip > c->seg[S_CS].limit && osz == 4 && ip > 0xffff)
			cpu_gp0(c);
		seg_load_real(c, S_CS, cs);
		c->rip = ip;
		sp_set(c, ea_mask(sp + 3 * osz, ssz));
		cpu_set_rflags(c, fl, osz == 2 ? 0xffff : (0x3f7fd5ULL & ~(uint64_t)(F_VM | F_VIP | F_VIF)));
		return;
	}
	if (c->rflags & F_VM) {
		int iopl = (cpu_get_rflags(c) >> 12) & 3;
		uint64_t ip = cpu_ld(c, S_SS, sp, osz);
		uint16_t cs = (uint16_t)cpu_ld(c, S_SS, ea_mask(sp + osz, ssz), 2);
		uint64_t fl = cpu_ld(c, S_SS, ea_mask(sp + 2 * osz, ssz), osz);
		if (iopl == 3) {
			if (ip > 0xffff)
				cpu_gp0(c);
			seg_load_real(c, S_CS, cs);
			c->rip = ip;
			sp_set(c, ea_mask(sp + 3 * osz, ssz));
			uint64_t mask = (osz == 2 ? 0xffff : 0x3f7fd5ULL) &
					~(uint64_t)(F_IOPL | F_VM | F_VIP | F_VIF);
			cpu_set_rflags(c, fl, mask);
			return;
		}
		if (!(c->cr4 & CR4_VME) || osz != 2)
			cpu_gp0(c);
		/* VME: IF image goes to VIF */
		if ((fl & F_TF) || ((fl & F_IF) && (c->rflags & F_VIP)))
			cpu_gp0(c);
		seg_load_real(c, S_CS, cs);
		c->rip = ip;
		sp_set(c, ea_mask(sp + 3 * osz, ssz));
		uint64_t cur = cpu_get_rflags(c);
		uint64_t nf = (cur & ~0xffffULL) | (fl & 0xffff & ~(uint64_t)(F_IF | F_IOPL)) |
			      (cur & (F_IF | F_IOPL));
		nf = (nf & ~(uint64_t)F_VIF) | ((fl & F_IF) ? F_VIF : 0);
		cpu_set_rflags(c, nf, ~0ULL);
		return;
	}
	bool lm = c->efer & EFER_LMA;
	if ((c->rflags & F_NT) && !lm) {
		/* task return through the back link (SDM 7.3) */
		uint16_t link = (uint16_t)sys_ld(c, c->seg[S_TR].base, 2);
		task_switch(c, link, TS_IRET, false, 0, c->cur ? c->cur->rip + c->cur->len : c->rip, false);
		return;
	}
	if ((c->rflags & F_NT) && lm)
		cpu_gp0(c);

	uint64_t ip = cpu_ld(c, S_SS, sp, osz);
	uint16_t cs = (uint16_t)cpu_ld(c, S_SS, ea_mask(sp + osz, ssz), 2);
	uint64_t fl = cpu_ld(c, S_SS, ea_mask(sp + 2 * osz, ssz), osz);
	if (osz == 2)
		fl = (cpu_get_rflags(c) & ~0xffffULL) | fl;

	if ((fl & F_VM) && c->cpl == 0 && !lm && osz == 4) {
		/* return to virtual-8086 mode (SDM IRET, RETURN-TO-VIRTUAL-8086-MODE) */
		uint64_t vals[6];
		for (int k = 0; k < 6; k++)
			vals[k] = cpu_ld(c, S_SS, ea_mask(sp + 12 + 4 * k, ssz), 4);
		cpu_set_rflags(c, fl, 0x3f7fd5ULL);
		c->rip = ip & 0xffff;
		seg_load_real(c, S_CS, cs);
		seg_load_real(c, S_ES, (uint16_t)vals[2]);
		seg_load_real(c, S_DS, (uint16_t)vals[3]);
		seg_load_real(c, S_FS, (uint16_t)vals[4]);
		seg_load_real(c, S_GS, (uint16_t)vals[5]);
		seg_load_real(c, S_SS, (uint16_t)vals[1]);
		c->gpr[R_SP] = (uint32_t)vals[0];
		c->cpl = 3;
		cpu_update_mode(c);
		return;
	}

	if ((cs & 0xfffc) == 0)
		cpu_gp0(c);
	uint64_t d;
	desc_read(c, cs, &d, NULL, EXC_GP);
	uint32_t ar = desc_ar(d);
	int dpl = (ar >> AR_DPL_SHIFT) & 3, rpl = cs & 3;
	if (!(ar & AR_S) || !(ar & 8) || rpl < c->cpl)
		cpu_raise_ec(c, EXC_GP, cs & 0xfffc);
	if ((ar & 4) ? dpl > rpl : dpl != rpl)
		cpu_raise_ec(c, EXC_GP, cs & 0xfffc);
	if (!(ar & AR_P))
		cpu_raise_ec(c, EXC_NP, cs & 0xfffc);
	bool tgt64 = lm && (ar & AR_L);
	if (lm && (ar & AR_L) && (ar & AR_DB))
		cpu_raise_ec(c, EXC_GP, cs & 0xfffc);

	/* 64-bit mode always pops SS:RSP; otherwise only on a privilege change */
	bool pop_ss = cpu_long64(c) || rpl != c->cpl;
	if (!pop_ss) {
		uint64_t t = tgt64 ? ip : ip & (osz == 2 ? 0xffff : 0xffffffffULL);
		if (!tgt64 && t > desc_limit(d))
			cpu_gp0(c);
		int ocpl = c->cpl;
		seg_set_accessed(c, cs, d);
		load_cs(c, cs, d, ocpl);
		c->rip = t;
		sp_set(c, ea_mask(sp + 3 * osz, ssz));
		c->cpl = ocpl;
		iret_flags(c, fl, osz, ocpl, false);
		cpu_update_mode(c);
		return;
	}
	uint64_t nsp = cpu_ld(c, S_SS, ea_mask(sp + 3 * osz, ssz), osz);
	uint16_t nss = (uint16_t)cpu_ld(c, S_SS, ea_mask(sp + 4 * osz, ssz), 2);
	uint64_t sd = 0;
	bool null_ss = (nss & 0xfffc) == 0;
	if (null_ss) {
		/* allowed in 64-bit mode when returning to CPL < 3 in 64-bit code */
		if (!(lm && tgt64 && rpl < 3))
			cpu_gp0(c);
		if ((nss & 3) != rpl)
			cpu_gp0(c);
	} else {
		desc_read(c, nss, &sd, NULL, EXC_GP);
		uint32_t sar = desc_ar(sd);
		if ((nss & 3) != rpl || ((sar >> AR_DPL_SHIFT) & 3) != (uint32_t)rpl ||
		    !(sar & AR_S) || (sar & 8) || !(sar & 2))
			cpu_raise_ec(c, EXC_GP, nss & 0xfffc);
		if (!(sar & AR_P))
			cpu_raise_ec(c, EXC_SS, nss & 0xfffc);
	}
	uint64_t t = tgt64 ? ip : ip & (osz == 2 ? 0xffff : 0xffffffffULL);
	if (tgt64 ? !canon(c, t) : t > desc_limit(d))
		cpu_gp0(c);
	if (!null_ss)
		seg_set_accessed(c, nss, sd);
	seg_set_accessed(c, cs, d);

	int ocpl = c->cpl;
	c->cpl = ocpl;
	iret_flags(c, fl, osz, rpl, false);
	load_cs(c, cs, d, rpl);
	if (null_ss) {
		c->seg[S_SS].sel = nss;
		c->seg[S_SS].base = 0;
		c->seg[S_SS].limit = 0;
		c->seg[S_SS].ar = AR_UNUSABLE | (uint32_t)(rpl << AR_DPL_SHIFT);
	} else {
		seg_from_desc(&c->seg[S_SS], nss, sd | (1ULL << 40));
	}
	c->rip = t;
	if (cpu_long64(c) || (lm && tgt64))
		c->gpr[R_SP] = nsp;
	else
		reg_set(c, R_SP, (c->seg[S_SS].ar & AR_DB) ? 4 : 2, nsp);
	if (rpl > ocpl) {
		for (int s = S_ES; s <= S_GS; s++) {
			if (s == S_CS || s == S_SS)
				continue;
			struct seg *sg = &c->seg[s];
			uint32_t ty = sg->ar & AR_TYPE;
			int sdpl = (sg->ar >> AR_DPL_SHIFT) & 3;
			if (!(sg->ar & AR_UNUSABLE) && (!(ty & 8) || !(ty & 4)) && sdpl < rpl) {
				sg->sel = 0;
				sg->ar = AR_UNUSABLE;
			}
		}
	}
	cpu_update_mode(c);
}

H(h_iret)
{
	c->rip = i->rip;
	cpu_iret(c, i->osz);
	c->rf_keep = true;	/* RF comes from the popped image */
}

/* ---- segment registers ------------------------------------------------------- */

H(h_push_seg)
{
	int sz = i->osz;
	uint64_t sp = stk_addr(c, -sz);
	/* a 16-bit store into the slot (recent processors) */
	cpu_st(c, S_SS, sp, 2, c->seg[i->aux].sel);
	if (sz > 2)
		seg_lin(c, S_SS, sp, sz, ACC_W);
	sp_set(c, sp);
}

H(h_pop_seg)
{
	int sz = i->osz;
	uint16_t sel = (uint16_t)cpu_ld(c, S_SS, sp_get(c), sz);
	seg_load(c, i->aux, sel);
	sp_set(c, stk_addr(c, sz));
	if (i->aux == S_SS)
		c->evt.shadow_next = KVM_X86_SHADOW_INT_MOV_SS;
	c->rip = next_rip(i);
}

H(h_mov_rm_sreg)
{
	int s = (i->modrm >> 3) & 7;
	if (s > S_GS)
		cpu_ud(c);
	uint16_t sel = c->seg[s].sel;
	if (i->mem)
		op_st(c, i, 2, sel);
	else
		reg_set(c, i->rm, i->osz, sel);
}

H(h_mov_sreg_rm)
{
	int s = (i->modrm >> 3) & 7;
	if (s == S_CS || s > S_GS)
		cpu_ud(c);
	uint16_t sel = (uint16_t)rm_get(c, i, 2);
	seg_load(c, s, sel);
	if (s == S_SS)
		c->evt.shadow_next = KVM_X86_SHADOW_INT_MOV_SS;
	c->rip = next_rip(i);
}

H(h_lxs)
{
	int osz = i->osz;
	uint64_t ea = insn_ea(c, i);
	uint64_t off = cpu_ld(c, i->seg, ea, osz);
	uint16_t sel = (uint16_t)cpu_ld(c, i->seg, ea_mask(ea + osz, i->asz), 2);
	if (i->aux == S_SS && cpu_long64(c) && (sel & 0xfffc) == 0 && c->cpl == 3)
		cpu_gp0(c);
	seg_load(c, i->aux, sel);
	reg_set(c, i->reg, osz, off);
	if (i->end)
		c->rip = next_rip(i);
}

H(h_bound)
{
	int sz = i->osz;
	uint64_t ea = insn_ea(c, i);
	int64_t lo = sext(cpu_ld(c, i->seg, ea, sz), sz);
	int64_t hi = sext(cpu_ld(c, i->seg, ea_mask(ea + sz, i->asz), sz), sz);
	int64_t v = sext(reg_get(c, i->reg, sz), sz);
	if (v < lo || v > hi)
		cpu_raise(c, EXC_BR);
}

H(h_arpl)
{
	if (real_or_v86(c))
		cpu_ud(c);
	uint16_t d = (uint16_t)rm_get(c, i, 2), s = (uint16_t)reg_get(c, i->reg, 2);
	bool z = (d & 3) < (s & 3);
	if (z)
		rm_set(c, i, 2, (d & ~3) | (s & 3));
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ZF) | (z ? F_ZF : 0);
}

/* ---- fast system calls ---------------------------------------------------------- */

static void flat_seg(struct seg *s, uint16_t sel, bool code, int dpl, bool l64)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->ar = AR_P | AR_S | (uint32_t)(dpl << AR_DPL_SHIFT) | AR_G |
		(code ? 0xb : 0x3) | (code && l64 ? AR_L : AR_DB);
}

H(h_syscall)
{
	bool lm = c->efer & EFER_LMA;
	if (!(c->efer & EFER_SCE))
		cpu_ud(c);
	if (!lm && c->model->vendor == VENDOR_INTEL)
		cpu_ud(c);
	if (!cpu_long64(c) && c->model->vendor == VENDOR_INTEL)
		cpu_ud(c);
	uint16_t sel = (uint16_t)(c->msr.star >> 32) & 0xfffc;
	uint64_t fl = cpu_get_rflags(c);
	if (lm) {
		c->gpr[R_CX] = next_rip(i);
		c->gpr[R_R11] = fl & ~(uint64_t)F_RF;
		c->rip = cpu_long64(c) ? c->msr.lstar : c->msr.cstar;
		cpu_set_rflags_raw(c, fl & ~c->msr.fmask & ~(uint64_t)F_RF);
		flat_seg(&c->seg[S_CS], sel, true, 0, true);
	} else {
		c->gpr[R_CX] = (uint32_t)next_rip(i);
		c->rip = (uint32_t)c->msr.star;
		cpu_set_rflags_raw(c, fl & ~(uint64_t)(F_VM | F_IF | F_RF));
		flat_seg(&c->seg[S_CS], sel, true, 0, false);
	}
	flat_seg(&c->seg[S_SS], sel + 8, false, 0, false);
	c->cpl = 0;
	cpu_update_mode(c);
}

H(h_sysret)
{
	bool intel = c->model->vendor == VENDOR_INTEL;
	if (!(c->efer & EFER_SCE))
		cpu_ud(c);
	/* Intel: 64-bit mode only (SDM SYSRET); AMD: any protected mode (APM) */
	if (intel && !cpu_long64(c))
		cpu_ud(c);
	if (!(c->cr0 & CR0_PE) || (c->rflags & F_VM) || c->cpl != 0)
		cpu_gp0(c);
	bool lm = c->efer & EFER_LMA;
	uint16_t sel = (uint16_t)(c->msr.star >> 48);
	bool to64 = (i->rex & 8) && cpu_long64(c);
	/*
	 * A non-canonical RCX: Intel faults at CPL 0 before any change; AMD
	 * completes the return and the fetch faults at CPL 3.
	 */
	if (to64 && intel && !canon(c, c->gpr[R_CX]))
		cpu_gp0(c);
	if (lm) {
		cpu_set_rflags_raw(c, (c->gpr[R_R11] & ~(uint64_t)(F_RF | F_VM)) | F_FIXED);
		if (to64) {
			flat_seg(&c->seg[S_CS], (sel + 16) | 3, true, 3, true);
			c->rip = c->gpr[R_CX];
		} else {
			flat_seg(&c->seg[S_CS], sel | 3, true, 3, false);
			c->rip = (uint32_t)c->gpr[R_CX];
		}
	} else {
		flat_seg(&c->seg[S_CS], sel | 3, true, 3, false);
		c->rip = (uint32_t)c->gpr[R_CX];
		c->rflags |= F_IF;
	}
	if (intel) {
		/* Intel loads a flat SS (SDM SYSRET) */
		flat_seg(&c->seg[S_SS], (uint16_t)((sel + 8) | 3), false, 3, false);
	} else {
		/* AMD: SS selector and DPL change, the rest of the cache stays (APM) */
		c->seg[S_SS].sel = (uint16_t)((sel + 8) | 3);
		c->seg[S_SS].ar = (c->seg[S_SS].ar & ~(uint32_t)(AR_DPL | AR_UNUSABLE)) |
				  (3 << AR_DPL_SHIFT) | AR_P | AR_S | 3;
	}
	c->cpl = 3;
	cpu_update_mode(c);
}

H(h_sysenter)
{
	if (!(c->cr0 & CR0_PE))
		cpu_gp0(c);
	if ((c->efer & EFER_LMA) && c->model->vendor == VENDOR_AMD)
		cpu_ud(c);
	uint16_t cs = (uint16_t)c->msr.sysenter_cs;
	if ((cs & 0xfffc) == 0)
		cpu_gp0(c);
	bool lm = c->efer & EFER_LMA;
	cpu_set_rflags_raw(c, cpu_get_rflags(c) & ~(uint64_t)(F_VM | F_IF | F_RF));
	flat_seg(&c->seg[S_CS], cs & 0xfffc, true, 0, lm);
	flat_seg(&c->seg[S_SS], (cs & 0xfffc) + 8, false, 0, false);
	c->cpl = 0;
	c->rip = lm ? c->msr.sysenter_eip : (uint32_t)c->msr.sysenter_eip;
	c->gpr[R_SP] = lm ? c->msr.sysenter_esp : (uint32_t)c->msr.sysenter_esp;
	cpu_update_mode(c);
}

H(h_sysexit)
{
	uint16_t cs = (uint16_t)c->msr.sysenter_cs;
	if (!(c->cr0 & CR0_PE) || (c->rflags & F_VM) || c->cpl != 0 || (cs & 0xfffc) == 0)
		cpu_gp0(c);
	if ((c->efer & EFER_LMA) && c->model->vendor == VENDOR_AMD)
		cpu_ud(c);
	bool to64 = (i->rex & 8) && cpu_long64(c);
	if (to64) {
		if (!canon(c, c->gpr[R_DX]) || !canon(c, c->gpr[R_CX]))
			cpu_gp0(c);
		flat_seg(&c->seg[S_CS], ((cs + 32) & 0xfffc) | 3, true, 3, true);
		flat_seg(&c->seg[S_SS], ((cs + 40) & 0xfffc) | 3, false, 3, false);
		c->rip = c->gpr[R_DX];
		c->gpr[R_SP] = c->gpr[R_CX];
	} else {
		flat_seg(&c->seg[S_CS], ((cs + 16) & 0xfffc) | 3, true, 3, false);
		flat_seg(&c->seg[S_SS], ((cs + 24) & 0xfffc) | 3, false, 3, false);
		c->rip = (uint32_t)c->gpr[R_DX];
		c->gpr[R_SP] = (uint32_t)c->gpr[R_CX];
	}
	c->cpl = 3;
	cpu_update_mode(c);
}
