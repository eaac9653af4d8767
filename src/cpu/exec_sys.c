// SPDX-License-Identifier: MIT
/*
 * System instructions (SDM Vol. 2 and Vol. 3A): control and debug
 * registers, descriptor tables, MSRs, CPUID, TSC, port I/O with IOPL and
 * the TSS I/O bitmap, HLT, CLI/STI, and the 0F00 / 0F01 / 0FAE / 0FC7
 * groups.
 */
#include "cpu.h"
#include "exec.h"
#include "lapic.h"
#include "mem.h"

#define H(name) void name(struct cpu *c, const struct insn *i)

static inline uint64_t next_rip(const struct insn *i)
{
	return i->rip + i->len;
}

static bool real_or_v86(const struct cpu *c)
{
	return !(c->cr0 & CR0_PE) || (c->rflags & F_VM);
}

static bool canonical(const struct cpu *c, uint64_t v)
{
	int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(v << sh) >> sh) == v;
}

static void need_cpl0(struct cpu *c)
{
	if (c->cpl != 0)
		cpu_gp0(c);
}

H(h_ud) { (void)i; cpu_ud(c); }
H(h_gp0_len) { (void)i; cpu_gp0(c); }
H(h_vmx_unimpl) { (void)i; cpu_ud(c); }
H(h_endbr) { (void)c; (void)i; }
H(h_rsm) { (void)i; cpu_ud(c); }

H(h_hlt)
{
	need_cpl0(c);
	c->rip = next_rip(i);
	c->halted = true;
	c->mp_state = KVM_MP_STATE_HALTED;
	c->brk |= BRK_EVENT;	/* leave the block loop: the vCPU waits now */
}

static int iopl(const struct cpu *c)
{
	return (c->rflags >> 12) & 3;
}

H(h_cli)
{
	if ((c->cr0 & CR0_PE) && c->cpl > iopl(c)) {
		bool vme = (c->rflags & F_VM) && (c->cr4 & CR4_VME);
		bool pvi = !(c->rflags & F_VM) && c->cpl == 3 && (c->cr4 & CR4_PVI);
		if (!vme && !pvi)
			cpu_gp0(c);
		c->rflags &= ~(uint64_t)F_VIF;
	} else {
		c->rflags &= ~(uint64_t)F_IF;
	}
	c->rip = next_rip(i);
}

H(h_sti)
{
	if ((c->cr0 & CR0_PE) && c->cpl > iopl(c)) {
		bool vme = (c->rflags & F_VM) && (c->cr4 & CR4_VME);
		bool pvi = !(c->rflags & F_VM) && c->cpl == 3 && (c->cr4 & CR4_PVI);
		if ((!vme && !pvi) || (c->rflags & F_VIP))
			cpu_gp0(c);
		c->rflags |= F_VIF;
	} else {
		/* STI that sets IF blocks interrupts for one instruction (SDM STI) */
		if (!(c->rflags & F_IF))
			c->evt.shadow_next = KVM_X86_SHADOW_INT_STI;
		c->rflags |= F_IF;
		c->brk |= BRK_EVENT;
	}
	c->rip = next_rip(i);
}

/* protected-mode I/O permission (SDM 19.5): #GP(0) when denied */
uint64_t io_perm_check(struct cpu *c, uint16_t port, int size)
{
	if (!(c->cr0 & CR0_PE))
		return 0;
	if (!(c->rflags & F_VM) && c->cpl <= iopl(c))
		return 0;
	struct seg *tr = &c->seg[S_TR];
	if ((tr->ar & AR_TYPE) < 9 || tr->limit < 0x67)
		cpu_gp0(c);
	uint16_t base = (uint16_t)sys_ld(c, tr->base + 0x66, 2);
	uint32_t byte = base + port / 8;
	if (byte + 1 > tr->limit)
		cpu_gp0(c);
	uint16_t bits = (uint16_t)sys_ld(c, tr->base + byte, 2);
	uint16_t mask = (uint16_t)(((1u << size) - 1) << (port & 7));
	if (bits & mask)
		cpu_gp0(c);
	return 0;
}

H(h_in)
{
	int sz = i->osz > 4 ? 4 : i->osz;
	uint16_t port = i->aux ? (uint16_t)c->gpr[R_DX] : (uint16_t)i->imm;
	io_perm_check(c, port, sz);
	reg_set(c, R_AX, sz, io_in(c, port, sz));
}

H(h_out)
{
	int sz = i->osz > 4 ? 4 : i->osz;
	uint16_t port = i->aux ? (uint16_t)c->gpr[R_DX] : (uint16_t)i->imm;
	io_perm_check(c, port, sz);
	io_out(c, port, sz, reg_get(c, R_AX, sz));
}

H(h_cpuid)
{
	uint32_t r[4];
	cpuid_query(c, (uint32_t)c->gpr[R_AX], (uint32_t)c->gpr[R_CX], r);
	c->gpr[R_AX] = r[0];
	c->gpr[R_BX] = r[1];
	c->gpr[R_CX] = r[2];
	c->gpr[R_DX] = r[3];
	c->rip = next_rip(i);
}

/* the TSC at the current instruction (deterministic virtual time) */
uint64_t cpu_tsc(struct cpu *c)
{
	uint64_t now = c->clock;
	if (c->cur && c->cur_blk)
		now += (uint64_t)(c->cur - c->cur_blk->insn);
	return now + c->msr.tsc_offset;
}

H(h_rdtsc)
{
	(void)i;
	if ((c->cr4 & CR4_TSD) && c->cpl > 0 && (c->cr0 & CR0_PE))
		cpu_gp0(c);
	uint64_t t = cpu_tsc(c);
	c->gpr[R_AX] = (uint32_t)t;
	c->gpr[R_DX] = t >> 32;
}

H(h_rdtscp)
{
	(void)i;
	if (!HAS(c, FEAT_RDTSCP))
		cpu_ud(c);
	h_rdtsc(c, i);
	c->gpr[R_CX] = (uint32_t)c->msr.tsc_aux;
}

H(h_rdmsr)
{
	(void)i;
	uint64_t v;
	need_cpl0(c);
	if (real_or_v86(c) && (c->rflags & F_VM))
		cpu_gp0(c);
	if (!msr_read(c, (uint32_t)c->gpr[R_CX], &v))
		cpu_gp0(c);
	c->gpr[R_AX] = (uint32_t)v;
	c->gpr[R_DX] = v >> 32;
}

H(h_wrmsr)
{
	need_cpl0(c);
	if (c->rflags & F_VM)
		cpu_gp0(c);
	uint64_t v = (c->gpr[R_AX] & 0xffffffff) | (c->gpr[R_DX] << 32);
	if (!msr_write(c, (uint32_t)c->gpr[R_CX], v, false))
		cpu_gp0(c);
	c->rip = next_rip(i);
}

H(h_rdpmc)
{
	(void)i;
	uint32_t idx = (uint32_t)c->gpr[R_CX];
	if (c->cpl > 0 && !(c->cr4 & CR4_PCE) && (c->cr0 & CR0_PE))
		cpu_gp0(c);
	uint64_t v;
	if (idx < 4)
		v = c->msr.pmc[idx];
	else if ((idx & ~0x40000000u) < 3 && (idx & 0x40000000u) &&
		 c->model->vendor == VENDOR_INTEL)
		v = c->msr.fixed_ctr[idx & 3];
	else if (c->model->vendor == VENDOR_AMD && idx < 6)
		v = c->msr.pmc[idx];
	else
		cpu_gp0(c);
	c->gpr[R_AX] = (uint32_t)v;
	c->gpr[R_DX] = (v >> 32) & 0xffff;
}

/* ---- control registers ------------------------------------------------------ */

static int cr_index(struct cpu *c, const struct insn *i)
{
	int n = i->reg;
	if ((i->pfx & PFX_LOCK) && n == 0 && c->model->vendor == VENDOR_AMD)
		n = 8;	/* AltMovCr8 */
	return n;
}

H(h_mov_r_cr)
{
	int n = cr_index(c, i);
	int sz = cpu_long64(c) ? 8 : 4;
	uint64_t v;
	if (c->rflags & F_VM)
		cpu_gp0(c);
	switch (n) {
	case 0: v = c->cr0; break;
	case 2: v = c->cr2; break;
	case 3: v = c->cr3; break;
	case 4: v = c->cr4; break;
	case 8: if (!cpu_long64(c) && !(i->pfx & PFX_LOCK)) cpu_ud(c);
		v = lapic_get_cr8(c); break;
	default: cpu_ud(c);
	}
	need_cpl0(c);
	reg_set(c, i->rm & 0xf, sz, v);
	c->rip = next_rip(i);
}

H(h_mov_cr_r)
{
	int n = cr_index(c, i);
	int sz = cpu_long64(c) ? 8 : 4;
	if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8)
		cpu_ud(c);
	if (n == 8 && !cpu_long64(c) && !(i->pfx & PFX_LOCK))
		cpu_ud(c);
	if (c->rflags & F_VM)
		cpu_gp0(c);
	need_cpl0(c);
	uint64_t v = reg_get(c, i->rm & 0xf, sz);
	switch (n) {
	case 0: cpu_set_cr0(c, v); break;
	case 2: c->cr2 = v; break;
	case 3: cpu_set_cr3(c, v); break;
	case 4: cpu_set_cr4(c, v); break;
	case 8:
		if (v >> 4)
			cpu_gp0(c);
		lapic_set_cr8(c, v);
		break;
	}
	c->rip = next_rip(i);
	c->brk |= BRK_MODE | BRK_EVENT;
}

/* ---- debug registers (SDM 17.2) ------------------------------------------- */

static int dr_index(struct cpu *c, const struct insn *i)
{
	int n = i->reg;
	if (n > 7)
		cpu_ud(c);
	if (n == 4 || n == 5) {
		if (c->cr4 & CR4_DE)
			cpu_ud(c);
		n += 2;
	}
	return n;
}

static void dr_general_detect(struct cpu *c)
{
	/* DR7.GD: any DR access faults with #DB, BD set (fault-like) */
	if (c->dr[7] & DR7_GD)
		cpu_raise_db(c, DR6_BD);
}

H(h_mov_r_dr)
{
	if (c->rflags & F_VM)
		cpu_gp0(c);
	need_cpl0(c);
	int n = dr_index(c, i);
	dr_general_detect(c);
	int sz = cpu_long64(c) ? 8 : 4;
	reg_set(c, i->rm & 0xf, sz, c->dr[n]);
	c->rip = next_rip(i);
}

void cpu_set_dr(struct cpu *c, int n, uint64_t v)
{
	switch (n) {
	case 0: case 1: case 2: case 3:
		c->dr[n] = v;
		break;
	case 6:
		/* reserved bits read as 1 (bit 12 as 0); RTM reads 1 without RTM */
		c->dr[6] = (v & 0xe00fULL) | DR6_ACTIVE_LOW;
		break;
	case 7:
		c->dr[7] = (v & 0xffff2bffULL) | 0x400;
		break;
	}
	mmu_flush(c);
	c->brk |= BRK_MODE;
}

H(h_mov_dr_r)
{
	if (c->rflags & F_VM)
		cpu_gp0(c);
	need_cpl0(c);
	int n = dr_index(c, i);
	dr_general_detect(c);
	int sz = cpu_long64(c) ? 8 : 4;
	uint64_t v = reg_get(c, i->rm & 0xf, sz);
	if ((n == 6 || n == 7) && (v >> 32))
		cpu_gp0(c);
	cpu_set_dr(c, n, v);
	c->rip = next_rip(i);
}

H(h_clts)
{
	need_cpl0(c);
	c->cr0 &= ~CR0_TS;
	c->rip = next_rip(i);
}

H(h_invd) { (void)i; need_cpl0(c); }
H(h_wbinvd) { (void)i; need_cpl0(c); }

H(h_fwait)
{
	(void)i;
	if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		cpu_raise(c, EXC_NM);
	cpu_x87_check(c);
}

/* ---- descriptor tables: group 6 ------------------------------------------- */

static void umip_check(struct cpu *c)
{
	if ((c->cr4 & CR4_UMIP) && c->cpl > 0)
		cpu_gp0(c);
}

static void load_ldtr(struct cpu *c, uint16_t sel)
{
	uint64_t d, hi = 0;
	bool lm = c->efer & EFER_LMA;
	if ((sel & 0xfffc) == 0) {
		c->seg[S_LDTR].sel = sel;
		c->seg[S_LDTR].base = 0;
		c->seg[S_LDTR].limit = 0;
		c->seg[S_LDTR].ar = AR_UNUSABLE;
		return;
	}
	if (sel & 4)
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	desc_read(c, sel, &d, lm ? &hi : NULL, EXC_GP);
	uint32_t ar = desc_ar(d);
	if ((ar & AR_S) || (ar & AR_TYPE) != 2)
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	if (lm && (((hi >> 40) & 0x1f) || !canonical(c, desc_base(d) | (hi << 32))))
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	if (!(ar & AR_P))
		cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
	seg_from_desc(&c->seg[S_LDTR], sel, d);
	if (lm)
		c->seg[S_LDTR].base |= hi << 32;
}

static void load_tr(struct cpu *c, uint16_t sel)
{
	uint64_t d, hi = 0;
	bool lm = c->efer & EFER_LMA;
	if ((sel & 0xfffc) == 0)
		cpu_gp0(c);
	if (sel & 4)
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	desc_read(c, sel, &d, lm ? &hi : NULL, EXC_GP);
	uint32_t ar = desc_ar(d);
	int t = ar & AR_TYPE;
	if ((ar & AR_S) || (lm ? t != 9 : (t != 1 && t != 9)))
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	/* IA-32e mode: the upper type must be 0 and the 64-bit base canonical */
	if (lm && (((hi >> 40) & 0x1f) || !canonical(c, desc_base(d) | (hi << 32))))
		cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
	if (!(ar & AR_P))
		cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
	uint64_t a = c->gdtr.base + (sel & 0xfff8) + 5;
	sys_st(c, a, 1, (uint8_t)((d >> 40) | 2));
	seg_from_desc(&c->seg[S_TR], sel, d | (2ULL << 40));
	if (lm)
		c->seg[S_TR].base |= hi << 32;
}

/* VERR / VERW / LAR / LSL visibility of a selector at CPL/RPL */
static bool sel_visible(struct cpu *c, uint16_t sel, uint64_t *dp)
{
	if ((sel & 0xfffc) == 0)
		return false;
	if (!desc_read(c, sel, dp, NULL, -1))
		return false;
	uint32_t ar = desc_ar(*dp);
	int dpl = (ar >> AR_DPL_SHIFT) & 3;
	if ((ar & AR_S) && (ar & 8) && (ar & 4))
		return true;	/* conforming code: no privilege check */
	return dpl >= c->cpl && dpl >= (sel & 3);
}

static void set_zf(struct cpu *c, bool z)
{
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ZF) | (z ? F_ZF : 0);
}

H(h_grp6)
{
	int op = (i->modrm >> 3) & 7;
	if (real_or_v86(c))
		cpu_ud(c);
	switch (op) {
	case 0:		/* SLDT */
		umip_check(c);
		if (i->mem)
			op_st(c, i, 2, c->seg[S_LDTR].sel);
		else
			reg_set(c, i->rm, i->osz, c->seg[S_LDTR].sel);
		break;
	case 1:		/* STR */
		umip_check(c);
		if (i->mem)
			op_st(c, i, 2, c->seg[S_TR].sel);
		else
			reg_set(c, i->rm, i->osz, c->seg[S_TR].sel);
		break;
	case 2:		/* LLDT */
		need_cpl0(c);
		load_ldtr(c, (uint16_t)rm_get(c, i, 2));
		break;
	case 3:		/* LTR */
		need_cpl0(c);
		load_tr(c, (uint16_t)rm_get(c, i, 2));
		break;
	case 4: case 5: {	/* VERR / VERW */
		uint16_t sel = (uint16_t)rm_get(c, i, 2);
		uint64_t d;
		bool ok = sel_visible(c, sel, &d);
		if (ok) {
			uint32_t ar = desc_ar(d);
			if (!(ar & AR_S))
				ok = false;
			else if (op == 4)
				ok = !(ar & 8) || (ar & 2);
			else
				ok = !(ar & 8) && (ar & 2);
		}
		set_zf(c, ok);
		break;
	}
	default:
		cpu_ud(c);
	}
	c->rip = next_rip(i);
}

H(h_lar)
{
	if (real_or_v86(c))
		cpu_ud(c);
	uint16_t sel = (uint16_t)rm_get(c, i, 2);
	uint64_t d;
	bool ok = sel_visible(c, sel, &d);
	if (ok && !(desc_ar(d) & AR_S)) {
		static const uint8_t valid32[16] = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0 };
		static const uint8_t valid64[16] = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0 };
		int t = desc_ar(d) & AR_TYPE;
		ok = (c->efer & EFER_LMA) ? valid64[t] : valid32[t];
	}
	if (ok)
		reg_set(c, i->reg, i->osz, d >> 32 & 0x00f0ff00ULL);
	set_zf(c, ok);
}

H(h_lsl)
{
	if (real_or_v86(c))
		cpu_ud(c);
	uint16_t sel = (uint16_t)rm_get(c, i, 2);
	uint64_t d;
	bool ok = sel_visible(c, sel, &d);
	if (ok && !(desc_ar(d) & AR_S)) {
		static const uint8_t valid32[16] = { 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0 };
		static const uint8_t valid64[16] = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0 };
		int t = desc_ar(d) & AR_TYPE;
		ok = (c->efer & EFER_LMA) ? valid64[t] : valid32[t];
	}
	if (ok)
		reg_set(c, i->reg, i->osz, desc_limit(d));
	set_zf(c, ok);
}

/* ---- group 7 ---------------------------------------------------------------- */

static void xsetbv(struct cpu *c)
{
	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_ud(c);
	need_cpl0(c);
	if (c->gpr[R_CX] & 0xffffffff)
		cpu_gp0(c);
	uint64_t v = (c->gpr[R_AX] & 0xffffffff) | (c->gpr[R_DX] << 32);
	uint32_t r[4];
	cpuid_query(c, 0xd, 0, r);
	uint64_t supported = r[0] | ((uint64_t)r[3] << 32);
	if (!(v & 1) || (v & ~supported) || ((v & 4) && !(v & 2)))
		cpu_gp0(c);
	c->fpu.xcr0 = v;
}

static void rdrand(struct cpu *c, const struct insn *i, bool seed)
{
	if (!HAS(c, seed ? FEAT_RDSEED : FEAT_RDRAND))
		cpu_ud(c);
	/* deterministic generator (xorshift64*), seeded per VM */
	uint64_t x = c->vm->rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->vm->rng_state = x;
	reg_set(c, i->rm, i->osz, x * 0x2545f4914f6cdd1dULL);
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ARITH) | F_CF;
}

H(h_grp7)
{
	int op = (i->modrm >> 3) & 7;
	c->rip = next_rip(i);
	if (i->mem) {
		uint64_t ea = insn_ea(c, i);
		switch (op) {
		case 0: case 1: {	/* SGDT / SIDT */
			umip_check(c);
			struct dtr *t = op ? &c->idtr : &c->gdtr;
			int bsz = cpu_long64(c) ? 8 : 4;
			uint64_t base = t->base;
			if (i->osz == 2 && !cpu_long64(c))
				base &= 0xffffff;
			seg_lin(c, i->seg, ea, 2 + bsz, ACC_W);
			cpu_st(c, i->seg, ea, 2, t->limit);
			cpu_st(c, i->seg, ea_mask(ea + 2, i->asz), bsz, base);
			return;
		}
		case 2: case 3: {	/* LGDT / LIDT */
			need_cpl0(c);
			if (c->rflags & F_VM)
				cpu_gp0(c);
			uint16_t lim = (uint16_t)cpu_ld(c, i->seg, ea, 2);
			uint64_t base;
			if (cpu_long64(c)) {
				base = cpu_ld(c, i->seg, ea_mask(ea + 2, i->asz), 8);
				int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
				if ((uint64_t)((int64_t)(base << sh) >> sh) != base)
					cpu_gp0(c);
			} else {
				base = cpu_ld(c, i->seg, ea_mask(ea + 2, i->asz), 4);
				if (i->osz == 2)
					base &= 0xffffff;
			}
			struct dtr *t = op == 3 ? &c->idtr : &c->gdtr;
			t->limit = lim;
			t->base = base;
			return;
		}
		case 4:		/* SMSW m16 */
			umip_check(c);
			op_st(c, i, 2, c->cr0 & 0xffff);
			return;
		case 6: {	/* LMSW */
			need_cpl0(c);
			if (c->rflags & F_VM)
				cpu_gp0(c);
			uint64_t v = op_ld(c, i, 2);
			cpu_set_cr0(c, (c->cr0 & ~0xeULL) | (v & 0xf) | (c->cr0 & CR0_PE));
			return;
		}
		case 7:		/* INVLPG */
			need_cpl0(c);
			if (c->rflags & F_VM)
				cpu_gp0(c);
			mmu_flush_page(c, (ea + c->seg_ebase[i->seg]) & c->lin_mask);
			return;
		default:
			cpu_ud(c);
		}
	}
	switch (i->modrm) {
	case 0xc8: {		/* MONITOR: arm monitoring of the line at DS:rAX */
		if (!HAS(c, FEAT_MONITOR) || c->cpl || (c->rflags & F_VM))
			cpu_ud(c);
		if ((uint32_t)c->gpr[R_CX])
			cpu_gp0(c);	/* no extensions */
		uint64_t lin = seg_lin(c, i->seg, ea_mask(c->gpr[R_AX], i->asz), 1, ACC_R);
		cpu_monitor(c, mmu_lin_to_gpa(c, lin, ACC_R));
		return;
	}
	case 0xc9:		/* MWAIT (smp.c); ECX[0]: interrupt break events */
		if (!HAS(c, FEAT_MONITOR) || c->cpl)
			cpu_ud(c);
		if ((uint32_t)c->gpr[R_CX] & ~1u)
			cpu_gp0(c);
		cpu_mwait(c, c->gpr[R_CX] & 1);
		return;
	case 0xca: case 0xcb:	/* CLAC / STAC */
		if (!HAS(c, FEAT_SMAP) || c->cpl > 0)
			cpu_ud(c);
		if (i->modrm == 0xca)
			c->rflags &= ~(uint64_t)F_AC;
		else
			c->rflags |= F_AC;
		cpu_update_tlb_sel(c);
		return;
	case 0xd0: {		/* XGETBV */
		if (!(c->cr4 & CR4_OSXSAVE))
			cpu_ud(c);
		uint32_t n = (uint32_t)c->gpr[R_CX];
		uint64_t v;
		if (n == 0)
			v = c->fpu.xcr0;
		else if (n == 1 && HAS(c, FEAT_XGETBV1))
			v = c->fpu.xcr0;
		else
			cpu_gp0(c);
		c->gpr[R_AX] = (uint32_t)v;
		c->gpr[R_DX] = v >> 32;
		return;
	}
	case 0xd1:
		xsetbv(c);
		return;
	case 0xd5: case 0xd6:	/* XEND / XTEST: no RTM */
		cpu_ud(c);
	case 0xee:		/* RDPKRU */
		if (!(c->cr4 & CR4_PKE))
			cpu_ud(c);
		if (c->gpr[R_CX] & 0xffffffff)
			cpu_gp0(c);
		c->gpr[R_AX] = c->pkru;
		c->gpr[R_DX] = 0;
		return;
	case 0xef:		/* WRPKRU */
		if (!(c->cr4 & CR4_PKE))
			cpu_ud(c);
		if ((c->gpr[R_CX] | c->gpr[R_DX]) & 0xffffffff)
			cpu_gp0(c);
		c->pkru = (uint32_t)c->gpr[R_AX];
		mmu_flush(c);
		return;
	case 0xf8: {		/* SWAPGS */
		if (!cpu_long64(c))
			cpu_ud(c);
		need_cpl0(c);
		uint64_t t = c->seg[S_GS].base;
		c->seg[S_GS].base = c->msr.kernel_gs_base;
		c->msr.kernel_gs_base = t;
		seg_update_cache(c);
		return;
	}
	case 0xf9:		/* RDTSCP */
		h_rdtscp(c, i);
		return;
	case 0xfc: {		/* CLZERO */
		if (!HAS(c, FEAT_CLZERO))
			cpu_ud(c);
		uint64_t ea = ea_mask(c->gpr[R_AX], i->asz) & ~63ULL;
		for (int k = 0; k < 64; k += 8)
			cpu_st(c, i->seg, ea + k, 8, 0);
		return;
	}
	}
	switch (op) {
	case 4:			/* SMSW r */
		umip_check(c);
		reg_set(c, i->rm, i->osz, c->cr0 & (i->osz == 2 ? 0xffff : ~0ULL));
		return;
	case 6: {		/* LMSW r */
		need_cpl0(c);
		if (c->rflags & F_VM)
			cpu_gp0(c);
		uint64_t v = reg_get(c, i->rm, 2);
		cpu_set_cr0(c, (c->cr0 & ~0xeULL) | (v & 0xf) | (c->cr0 & CR0_PE));
		return;
	}
	}
	/* VMX and SVM instructions: not advertised yet */
	cpu_ud(c);
}

/* ---- group 15 (0F AE) and group 9 (0F C7) ------------------------------------- */

H(h_grp15)
{
	int op = (i->modrm >> 3) & 7;
	c->rip = next_rip(i);
	if (!i->mem) {
		if (i->mp == 2 && op <= 3) {
			/* RDFSBASE / RDGSBASE / WRFSBASE / WRGSBASE */
			if (!cpu_long64(c) || !(c->cr4 & CR4_FSGSBASE))
				cpu_ud(c);
			int s = (op & 1) ? S_GS : S_FS;
			int sz = (i->rex & 8) ? 8 : 4;
			if (op < 2) {
				reg_set(c, i->rm, sz, c->seg[s].base);
			} else {
				uint64_t v = reg_get(c, i->rm, sz);
				int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
				if ((uint64_t)((int64_t)(v << sh) >> sh) != v)
					cpu_gp0(c);
				c->seg[s].base = v;
				seg_update_cache(c);
			}
			return;
		}
		if (op >= 5 && !i->mp)
			return;	/* LFENCE / MFENCE / SFENCE */
		cpu_ud(c);
	}
	/* no memory form of group 15 takes F3 or F2 */
	if (i->mp >= 2)
		cpu_ud(c);
	switch (op) {
	case 0: h_fxsave(c, i); return;
	case 1: h_fxrstor(c, i); return;
	case 2: h_ldmxcsr(c, i); return;
	case 3: h_stmxcsr(c, i); return;
	case 4: h_xsave(c, i); return;
	case 5: h_xrstor(c, i); return;
	case 6:
		if (i->mp == 1) {	/* CLWB */
			if (!HAS(c, FEAT_CLWB))
				cpu_ud(c);
			op_ld(c, i, 1);
			return;
		}
		h_xsaveopt(c, i);
		return;
	default:		/* CLFLUSH / CLFLUSHOPT: check the address only */
		if (i->mp == 1 && !HAS(c, FEAT_CLFLUSHOPT))
			cpu_ud(c);
		op_ld(c, i, 1);
		return;
	}
}

H(h_grp9)
{
	int op = (i->modrm >> 3) & 7;
	c->rip = next_rip(i);
	if ((i->pfx & PFX_LOCK) && !(op == 1 && i->mem))
		cpu_ud(c);
	if (i->mem) {
		switch (op) {
		case 1: h_cmpxchg8b(c, i); return;
		case 3: h_xrstors(c, i); return;
		case 4: h_xsavec(c, i); return;
		case 5: h_xsaves(c, i); return;
		default: cpu_ud(c);	/* VMPTRLD / VMCLEAR / VMXON / VMPTRST: no VMX yet */
		}
	}
	switch (op) {
	case 6:
		rdrand(c, i, false);
		return;
	case 7:
		if (i->mp == 2) {	/* RDPID */
			if (!HAS(c, FEAT_RDPID))
				cpu_ud(c);
			reg_set(c, i->rm, cpu_long64(c) ? 8 : 4, (uint32_t)c->msr.tsc_aux);
			return;
		}
		rdrand(c, i, true);
		return;
	default:
		cpu_ud(c);
	}
}

H(h_invpcid)
{
	if (!HAS(c, FEAT_INVPCID))
		cpu_ud(c);
	if (c->rflags & F_VM)
		cpu_gp0(c);
	need_cpl0(c);
	uint64_t type = reg_get(c, i->reg, cpu_long64(c) ? 8 : 4);
	uint64_t lo = op_ld(c, i, 8);
	uint64_t hi = cpu_ld(c, i->seg, ea_mask(insn_ea(c, i) + 8, i->asz), 8);
	if (type > 3 || (lo >> 12))
		cpu_gp0(c);
	if (type == 0) {
		int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
		if ((uint64_t)((int64_t)(hi << sh) >> sh) != hi)
			cpu_gp0(c);
	}
	if (!(c->cr4 & CR4_PCIDE) && (type <= 1) && lo)
		cpu_gp0(c);
	mmu_flush(c);
}
