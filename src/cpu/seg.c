// SPDX-License-Identifier: MIT
/*
 * Segmentation (SDM Vol. 3A ch. 3 and 5): descriptors, segment-register
 * loads with every protection check, the per-access limit and type checks,
 * and the cached values the fast access path uses.
 */
#include "cpu.h"
#include "exec.h"
#include "mem.h"

uint32_t desc_ar(uint64_t d)
{
	return (uint32_t)((d >> 40) & 0xf0ff);
}

uint32_t desc_limit(uint64_t d)
{
	uint32_t lim = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if (d & (1ULL << 55))
		lim = (lim << 12) | 0xfff;
	return lim;
}

uint64_t desc_base(uint64_t d)
{
	return ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
}

void seg_from_desc(struct seg *s, uint16_t sel, uint64_t d)
{
	s->sel = sel;
	s->base = desc_base(d);
	s->limit = desc_limit(d);
	s->ar = desc_ar(d);
}

/*
 * Read the descriptor for `sel`.  Returns false (no fault) for a selector
 * beyond the table limit if vec < 0; otherwise raises #vec(sel).
 * hi receives the upper 8 bytes for 16-byte system descriptors in IA-32e
 * mode (only read when the caller passes non-NULL).
 */
bool desc_read(struct cpu *c, uint16_t sel, uint64_t *lo, uint64_t *hi, int vec)
{
	uint64_t base;
	uint32_t limit;
	uint32_t idx = sel & 0xfff8;

	if (sel & 4) {
		if (c->seg[S_LDTR].ar & AR_UNUSABLE)
			goto bad;
		base = c->seg[S_LDTR].base;
		limit = c->seg[S_LDTR].limit;
	} else {
		base = c->gdtr.base;
		limit = c->gdtr.limit;
	}
	if (idx + 7 > limit)
		goto bad;
	if (hi && idx + 15 > limit)
		goto bad;
	*lo = sys_ld(c, base + idx, 8);
	if (hi)
		*hi = sys_ld(c, base + idx + 8, 8);
	return true;
bad:
	if (vec < 0)
		return false;
	cpu_raise_ec(c, vec, sel & 0xfffc);
}

/*
 * Set the accessed bit of a code/data descriptor being loaded (SDM
 * 3.4.5.1).  An implicit supervisor write: callers do it after their
 * checks and before they change any register.
 */
void seg_set_accessed(struct cpu *c, uint16_t sel, uint64_t d)
{
	if (d & (1ULL << 40))
		return;
	uint64_t base = (sel & 4) ? c->seg[S_LDTR].base : c->gdtr.base;
	sys_st(c, base + (sel & 0xfff8) + 5, 1, (uint8_t)((d >> 40) | 1));
}

void seg_update_cache(struct cpu *c)
{
	bool l64 = cpu_long64(c);
	bool real = !(c->cr0 & CR0_PE) || (c->rflags & F_VM);

	c->lin_mask = l64 ? ~0ULL : 0xffffffffULL;
	c->seg_fast = 0;
	c->seg_fast_w = 0;
	for (int s = S_ES; s <= S_GS; s++) {
		struct seg *sg = &c->seg[s];
		if (l64) {
			c->seg_ebase[s] = (s == S_FS || s == S_GS) ? sg->base : 0;
			c->seg_elim[s] = ~0ULL;
			c->seg_fast |= 1u << s;
			c->seg_fast_w |= 1u << s;
			continue;
		}
		c->seg_ebase[s] = sg->base & 0xffffffffULL;
		c->seg_elim[s] = sg->limit;
		if (real) {
			c->seg_fast |= 1u << s;
			c->seg_fast_w |= 1u << s;
			continue;
		}
		if (sg->ar & AR_UNUSABLE)
			continue;
		uint32_t t = sg->ar & AR_TYPE;
		if (!(sg->ar & AR_S))
			continue;
		if (t & 8) {		/* code: readable? */
			if (t & 2)
				c->seg_fast |= 1u << s;
		} else if (!(t & 4)) {	/* expand-up data */
			c->seg_fast |= 1u << s;
			if (t & 2)
				c->seg_fast_w |= 1u << s;
		}
	}
	c->seg_ebase[S_CS] = l64 ? 0 : (c->seg[S_CS].base & 0xffffffffULL);
	if (l64)
		c->seg_ebase[S_CS] = 0;
}

NORETURN void seg_fault_limit(struct cpu *c, int s)
{
	cpu_raise_ec(c, s == S_SS ? EXC_SS : EXC_GP, 0);
}

uint64_t seg_check_slow(struct cpu *c, int s, uint64_t ea, int size, int acc)
{
	struct seg *sg = &c->seg[s];
	bool real = !(c->cr0 & CR0_PE) || (c->rflags & F_VM);

	if (cpu_long64(c))
		return ea + c->seg_ebase[s];
	if (!real) {
		if (sg->ar & AR_UNUSABLE)
			seg_fault_limit(c, s);
		uint32_t t = sg->ar & AR_TYPE;
		if (acc == ACC_W && ((t & 8) || !(t & 2)))
			seg_fault_limit(c, s);
		if (acc == ACC_R && (t & 8) && !(t & 2))
			seg_fault_limit(c, s);
		if (!(t & 8) && (t & 4)) {
			/* expand-down: valid offsets are limit+1 .. 0xffff/0xffffffff */
			uint64_t upper = (sg->ar & AR_DB) ? 0xffffffffULL : 0xffff;
			if (ea <= sg->limit || ea + size - 1 > upper)
				seg_fault_limit(c, s);
			return (ea + sg->base) & 0xffffffffULL;
		}
	}
	if (ea + size - 1 > sg->limit)
		seg_fault_limit(c, s);
	return (ea + sg->base) & 0xffffffffULL;
}

void cpu_update_mode(struct cpu *c)
{
	uint32_t m;
	if ((c->efer & EFER_LMA) && (c->seg[S_CS].ar & AR_L))
		m = MODE_CS64;
	else if (c->seg[S_CS].ar & AR_DB)
		m = MODE_CS32;
	else
		m = MODE_CS16;
	if (!(c->cr0 & CR0_PE))
		m |= MODE_REAL;
	else if (c->rflags & F_VM)
		m |= MODE_V86;
	if (!(c->cr0 & CR0_PE))
		c->cpl = 0;
	else if (c->rflags & F_VM)
		c->cpl = 3;
	/*
	 * Cached blocks were fetched with the U/S permission of one privilege
	 * level: keying them by it makes ring 3 re-check code the kernel ran
	 * (and SMEP code that ring 3 ran), SDM 4.6.
	 */
	if (c->cpl == 3)
		m |= MODE_USER;
	if (m != c->mode)
		c->brk |= BRK_MODE;
	c->mode = m;
	seg_update_cache(c);
	cpu_update_tlb_sel(c);
}

/* real-address and virtual-8086 mode loads (SDM 20.1) */
void seg_load_real(struct cpu *c, int s, uint16_t sel)
{
	struct seg *sg = &c->seg[s];
	sg->sel = sel;
	sg->base = (uint64_t)sel << 4;
	if (c->rflags & F_VM) {
		sg->limit = 0xffff;
		sg->ar = AR_P | AR_S | (3 << AR_DPL_SHIFT) | (s == S_CS ? 0xb : 0x3);
	} else {
		/* limit and attributes keep their cached values ("unreal" mode) */
		sg->ar &= ~AR_UNUSABLE;
		sg->ar |= AR_P;
	}
	if (s == S_CS)
		cpu_update_mode(c);
	else
		seg_update_cache(c);
}

/*
 * Load DS/ES/FS/GS/SS in protected mode (MOV Sreg, POP Sreg, LxS) with the
 * checks of SDM Vol. 2 "MOV—Move" (segment register forms).
 */
void seg_load(struct cpu *c, int s, uint16_t sel)
{
	uint64_t d;
	int rpl = sel & 3;

	if (!(c->cr0 & CR0_PE) || (c->rflags & F_VM)) {
		seg_load_real(c, s, sel);
		return;
	}
	if ((sel & 0xfffc) == 0) {
		if (s == S_SS) {
			/* null SS: only in 64-bit mode at CPL < 3 with RPL = CPL */
			if (!cpu_long64(c) || c->cpl == 3 || rpl != c->cpl)
				cpu_raise_ec(c, EXC_GP, 0);
		}
		c->seg[s].sel = sel;
		c->seg[s].base = 0;
		c->seg[s].limit = 0;
		c->seg[s].ar = AR_UNUSABLE | (s == S_SS ? (uint32_t)(c->cpl << AR_DPL_SHIFT) : 0);
		seg_update_cache(c);
		return;
	}
	desc_read(c, sel, &d, NULL, EXC_GP);
	uint32_t ar = desc_ar(d);
	int dpl = (ar >> AR_DPL_SHIFT) & 3;
	uint32_t t = ar & AR_TYPE;
	if (s == S_SS) {
		if (rpl != c->cpl || !(ar & AR_S) || (t & 8) || !(t & 2) || dpl != c->cpl)
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_SS, sel & 0xfffc);
	} else {
		if (!(ar & AR_S) || ((t & 8) && !(t & 2)))
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		/* data and non-conforming code: RPL and CPL must be <= DPL */
		if (!((t & 8) && (t & 4)) && (rpl > dpl || c->cpl > dpl))
			cpu_raise_ec(c, EXC_GP, sel & 0xfffc);
		if (!(ar & AR_P))
			cpu_raise_ec(c, EXC_NP, sel & 0xfffc);
	}
	seg_set_accessed(c, sel, d);
	seg_from_desc(&c->seg[s], sel, d | (1ULL << 40));
	seg_update_cache(c);
}
