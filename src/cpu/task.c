// SPDX-License-Identifier: MIT
/*
 * Hardware task switches (SDM Vol. 3A 7.3): JMP/CALL to a TSS or task
 * gate, interrupts and exceptions through task gates, IRET with NT set.
 * Faults before the new TR is loaded belong to the old task; faults after
 * it are taken in the new task's context, as the SDM says.
 */
#include "cpu.h"
#include "exec.h"
#include "mem.h"
#include "task.h"

static uint64_t gdt_desc_addr(struct cpu *c, uint16_t sel)
{
	return c->gdtr.base + (sel & 0xfff8);
}

static void set_busy(struct cpu *c, uint16_t sel, bool busy)
{
	uint64_t a = gdt_desc_addr(c, sel) + 5;
	uint8_t b = (uint8_t)sys_ld(c, a, 1);
	b = busy ? (b | 2) : (b & ~2);
	sys_st(c, a, 1, b);
}

/* load a segment register of the new task, faults as #TS / #NP / #SS */
static void task_load_seg(struct cpu *c, int s, uint16_t sel)
{
	uint64_t d;
	if (c->rflags & F_VM) {
		seg_load_real(c, s, sel);
		return;
	}
	if (s != S_CS && s != S_SS && (sel & 0xfffc) == 0) {
		c->seg[s].sel = sel;
		c->seg[s].base = 0;
		c->seg[s].limit = 0;
		c->seg[s].ar = AR_UNUSABLE;
		return;
	}
	if ((sel & 0xfffc) == 0)
		cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
	if (!desc_read(c, sel, &d, NULL, -1))
		cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
	uint32_t ar = desc_ar(d);
	int dpl = (ar >> AR_DPL_SHIFT) & 3, rpl = sel & 3;
	uint32_t t = ar & AR_TYPE;
	if (!(ar & AR_S))
		cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
	if (s == S_CS) {
		if (!(t & 8))
			cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
		if ((t & 4) ? dpl > rpl : dpl != rpl)
			cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
	} else if (s == S_SS) {
		if ((t & 8) || !(t & 2) || dpl != c->cpl || rpl != c->cpl)
			cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_SS, sel & 0xfffc);
	} else {
		if ((t & 8) && !(t & 2))
			cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
		if (!((t & 8) && (t & 4)) && (rpl > dpl || c->cpl > dpl))
			cpu_raise_ec(c, EXC_TS, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
	}
	seg_set_accessed(c, sel, d);
	seg_from_desc(&c->seg[s], sel, d | (1ULL << 40));
}

void task_switch(struct cpu *c, uint16_t sel, int reason, bool has_ec,
		 uint32_t ec, uint64_t ret_rip, bool ext)
{
	uint64_t nd;
	int e = ext ? 1 : 0;
	int badvec = reason == TS_IRET ? EXC_TS : EXC_GP;

	if (c->efer & EFER_LMA)
		cpu_raise_ec(c, EXC_GP, (sel & 0xfffc) | e);
	/* the new TSS descriptor: GDT only, TSS type, present, big enough */
	if (sel & 4)
		cpu_raise_ec(c, badvec, (sel & 0xfffc) | e);
	if (!desc_read(c, sel, &nd, NULL, -1))
		cpu_raise_ec(c, badvec, (sel & 0xfffc) | e);
	uint32_t nar = desc_ar(nd);
	uint32_t nt = nar & AR_TYPE;
	bool n32 = nt & 8;
	if ((nar & AR_S) || (nt & 7) != (reason == TS_IRET ? 3 : 1))
		cpu_raise_ec(c, badvec, (sel & 0xfffc) | e);
	if (!(nar & AR_P))
		cpu_raise_ec(c, EXC_NP, (sel & 0xfffc) | e);
	uint32_t nlim = desc_limit(nd);
	if (nlim < (n32 ? 0x67u : 0x2bu))
		cpu_raise_ec(c, EXC_TS, (sel & 0xfffc) | e);
	uint64_t nb = desc_base(nd);

	/* read everything from the new TSS before touching the old one */
	uint32_t ncr3 = 0, neip, nfl, ngpr[8], nldt, tbit = 0;
	uint16_t nsel[6];
	if (n32) {
		ncr3 = (uint32_t)sys_ld(c, nb + 28, 4);
		neip = (uint32_t)sys_ld(c, nb + 32, 4);
		nfl = (uint32_t)sys_ld(c, nb + 36, 4);
		for (int r = 0; r < 8; r++)
			ngpr[r] = (uint32_t)sys_ld(c, nb + 40 + r * 4, 4);
		for (int s = 0; s < 6; s++)
			nsel[s] = (uint16_t)sys_ld(c, nb + 72 + s * 4, 2);
		nldt = (uint16_t)sys_ld(c, nb + 96, 2);
		tbit = sys_ld(c, nb + 100, 2) & 1;
	} else {
		neip = (uint16_t)sys_ld(c, nb + 14, 2);
		nfl = (uint16_t)sys_ld(c, nb + 16, 2);
		for (int r = 0; r < 8; r++)
			ngpr[r] = (uint16_t)sys_ld(c, nb + 18 + r * 2, 2);
		for (int s = 0; s < 4; s++)
			nsel[s] = (uint16_t)sys_ld(c, nb + 34 + s * 2, 2);
		nsel[S_FS] = nsel[S_GS] = 0;
		nldt = (uint16_t)sys_ld(c, nb + 42, 2);
	}

	/* save the old task (SDM 7.3 step 9) */
	struct seg *tr = &c->seg[S_TR];
	bool o32 = (tr->ar & AR_TYPE) >= 9;
	uint64_t ob = tr->base;
	if (tr->limit < (o32 ? 0x5fu : 0x29u))
		cpu_raise_ec(c, EXC_TS, (tr->sel & 0xfffc) | e);
	/* only IRET clears NT in the saved image (SDM 7.3 step 6) */
	uint64_t ofl = cpu_get_rflags(c);
	if (reason == TS_IRET)
		ofl &= ~(uint64_t)F_NT;
	if (o32) {
		sys_st(c, ob + 32, 4, ret_rip);
		sys_st(c, ob + 36, 4, ofl);
		for (int r = 0; r < 8; r++)
			sys_st(c, ob + 40 + r * 4, 4, c->gpr[r]);
		for (int s = 0; s < 6; s++)
			sys_st(c, ob + 72 + s * 4, 2, c->seg[s].sel);
	} else {
		sys_st(c, ob + 14, 2, ret_rip);
		sys_st(c, ob + 16, 2, ofl);
		for (int r = 0; r < 8; r++)
			sys_st(c, ob + 18 + r * 2, 2, c->gpr[r]);
		for (int s = 0; s < 4; s++)
			sys_st(c, ob + 34 + s * 2, 2, c->seg[s].sel);
	}
	if (reason == TS_JMP || reason == TS_IRET)
		set_busy(c, tr->sel, false);
	if (reason == TS_CALL || reason == TS_GATE_INT) {
		sys_st(c, nb, 2, tr->sel);
		nfl |= F_NT;
	}
	if (reason != TS_IRET)
		set_busy(c, sel, true);

	/*
	 * Commit: the new task from here on.  Faults while its state is
	 * loaded are taken in the new task's context, at its EIP (SDM 7.3
	 * step 13, table 7-1).
	 */
	seg_from_desc(tr, sel, nd | (2ULL << 40));
	c->cr0 |= CR0_TS;
	c->rip = neip;
	c->flt_keep_rip = true;
	if (n32) {
		/* CR3 comes from a 32-bit TSS whether paging is on or not */
		c->cr3 = ncr3;
		mmu_flush(c);
		if ((c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && mmu_load_pdptrs(c, ncr3))
			cpu_raise_ec(c, EXC_TS, (sel & 0xfffc) | e);
	}
	c->rflags = (nfl & 0x3f7fd5) | F_FIXED;
	if (!n32)
		c->rflags &= 0xffff;
	c->cc_op = CC_EAGER;
	for (int r = 0; r < 8; r++) {
		if (n32)
			c->gpr[r] = ngpr[r];
		else
			c->gpr[r] = (c->gpr[r] & ~0xffffULL) | ngpr[r];
	}
	for (int s = 0; s < 6; s++)
		c->seg[s].sel = nsel[s];
	c->seg[S_LDTR].sel = (uint16_t)nldt;
	/* CPL of the new task is the RPL of its CS */
	if (c->rflags & F_VM)
		c->cpl = 3;
	else
		c->cpl = nsel[S_CS] & 3;

	/* LDTR, then the segment registers, with #TS checks */
	if ((nldt & 0xfffc) == 0) {
		c->seg[S_LDTR].ar = AR_UNUSABLE;
		c->seg[S_LDTR].base = 0;
		c->seg[S_LDTR].limit = 0;
	} else {
		uint64_t ld;
		if ((nldt & 4) || !desc_read(c, (uint16_t)nldt, &ld, NULL, -1))
			cpu_raise_ec(c, EXC_TS, (nldt & 0xfffc) | e);
		uint32_t lar = desc_ar(ld);
		if ((lar & AR_S) || (lar & AR_TYPE) != 2)
			cpu_raise_ec(c, EXC_TS, (nldt & 0xfffc) | e);
		if (!(lar & AR_P))
			cpu_raise_ec(c, EXC_TS, (nldt & 0xfffc) | e);
		seg_from_desc(&c->seg[S_LDTR], (uint16_t)nldt, ld);
	}
	cpu_update_mode(c);
	task_load_seg(c, S_CS, nsel[S_CS]);
	task_load_seg(c, S_SS, nsel[S_SS]);
	for (int s = S_ES; s <= S_GS; s++)
		if (s != S_CS && s != S_SS)
			task_load_seg(c, s, nsel[s]);
	cpu_update_mode(c);

	if (c->rip > c->seg[S_CS].limit && !(c->rflags & F_VM))
		cpu_raise_ec(c, EXC_GP, 0);
	if (has_ec) {
		int sz = n32 ? 4 : 2;
		uint64_t m = (c->seg[S_SS].ar & AR_DB) ? 0xffffffffULL : 0xffff;
		uint64_t sp = (c->gpr[R_SP] - sz) & m;
		cpu_st(c, S_SS, sp, sz, ec);
		reg_set(c, R_SP, m == 0xffff ? 2 : 4, sp);
	}
	if (tbit) {
		/* a trap before the new task's first instruction: end the run here */
		c->evt.pending_dbg |= DR6_BT;
		c->brk |= BRK_EVENT;
	}
	c->dr[7] &= ~0x155ULL;	/* local breakpoint enables are per task */
	c->flt_keep_rip = false;
}
