/* SPDX-License-Identifier: MIT */
/*
 * Guest memory access from instruction handlers: effective address,
 * segmentation and the software TLB.  The common case is a segment-limit
 * compare, a TLB tag compare and a host load; everything else goes to the
 * slow paths in mmu.c / seg.c, which raise the architected faults.
 */
#ifndef NV_MEM_H
#define NV_MEM_H

#include "cpu.h"

static inline uint64_t ea_mask(uint64_t ea, int asz)
{
	return asz == 8 ? ea : asz == 4 ? (uint32_t)ea : (uint16_t)ea;
}

/* effective address of the ModRM memory operand */
static inline uint64_t insn_ea(const struct cpu *c, const struct insn *i)
{
	uint64_t ea = c->gpr[i->base] + (c->gpr[i->index] << i->scale) + i->disp;
	return ea_mask(ea, i->asz);
}

/* segment + offset -> linear address, with the architectural checks */
static inline uint64_t seg_lin(struct cpu *c, int s, uint64_t ea, int size, int acc)
{
	uint32_t fast = acc == ACC_W ? c->seg_fast_w : c->seg_fast;
	if (likely((fast >> s) & 1) && likely(ea + (uint64_t)(size - 1) <= c->seg_elim[s]))
		return (ea + c->seg_ebase[s]) & c->lin_mask;
	return seg_check_slow(c, s, ea, size, acc);
}

static inline uint64_t ld_host(uintptr_t p, int size)
{
	switch (size) {
	case 1: return *(uint8_t *)p;
	case 2: { uint16_t v; memcpy(&v, (void *)p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, (void *)p, 4); return v; }
	default: { uint64_t v; memcpy(&v, (void *)p, 8); return v; }
	}
}

static inline void st_host(uintptr_t p, int size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy((void *)p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy((void *)p, &x, 4); break; }
	default: memcpy((void *)p, &v, 8); break;
	}
}

static inline bool tlb_fits(uint64_t lin, int size)
{
	return (lin & 0xfff) <= (uint64_t)(0x1000 - size);
}

/* the TLB entry and tag for a linear address in the current set */
static inline struct tlb_ent *tlb_slot(const struct cpu *c, uint64_t lin)
{
	return &c->tlb_cur[(lin >> 12) & TLB_MASK];
}

static inline uint64_t tlb_tag(const struct cpu *c, uint64_t lin)
{
	return (lin & ~0xfffULL) | c->tlb_epoch;
}

/* host address for `size` bytes at lin through the fast path, or 0 */
static inline uintptr_t tlb_host_r(const struct cpu *c, uint64_t lin, int size)
{
	const struct tlb_ent *e = tlb_slot(c, lin);
	if (likely(e->tag_r == tlb_tag(c, lin)) && likely(tlb_fits(lin, size)))
		return e->addend + lin;
	return 0;
}

static inline uintptr_t tlb_host_w(const struct cpu *c, uint64_t lin, int size)
{
	const struct tlb_ent *e = tlb_slot(c, lin);
	if (likely(e->tag_w == tlb_tag(c, lin)) && likely(tlb_fits(lin, size)))
		return e->addend + lin;
	return 0;
}

/* linear-address loads and stores at the current privilege (explicit) */
/* acc may carry ACC_SS: a stack reference (#SS instead of #GP) */
static inline uint64_t lin_ld_acc(struct cpu *c, uint64_t lin, int size, int acc)
{
	uintptr_t h = tlb_host_r(c, lin, size);
	if (likely(h))
		return ld_host(h, size);
	return mem_read_slow(c, lin, size, ACC_R | acc);
}

static inline void lin_st_acc(struct cpu *c, uint64_t lin, int size, uint64_t v, int acc)
{
	uintptr_t h = tlb_host_w(c, lin, size);
	if (likely(h)) {
		st_host(h, size, v);
		return;
	}
	mem_write_slow(c, lin, size, v, ACC_W | acc);
}

static inline uint64_t lin_ld(struct cpu *c, uint64_t lin, int size)
{
	return lin_ld_acc(c, lin, size, 0);
}

static inline void lin_st(struct cpu *c, uint64_t lin, int size, uint64_t v)
{
	lin_st_acc(c, lin, size, v, 0);
}

/* host pointer for a read-modify-write, or NULL (use lin_ld / lin_st) */
static inline uint8_t *lin_rmw_ptr(struct cpu *c, uint64_t lin, int size)
{
	return (uint8_t *)tlb_host_w(c, lin, size);
}

/* segmented data access */
static inline uint64_t cpu_ld(struct cpu *c, int s, uint64_t ea, int size)
{
	return lin_ld_acc(c, seg_lin(c, s, ea, size, ACC_R), size,
			  s == S_SS ? ACC_SS : 0);
}

static inline void cpu_st(struct cpu *c, int s, uint64_t ea, int size, uint64_t v)
{
	lin_st_acc(c, seg_lin(c, s, ea, size, ACC_W), size, v,
		   s == S_SS ? ACC_SS : 0);
}

/* the ModRM memory operand */
static inline uint64_t op_ld(struct cpu *c, const struct insn *i, int size)
{
	return cpu_ld(c, i->seg, insn_ea(c, i), size);
}

static inline void op_st(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	cpu_st(c, i->seg, insn_ea(c, i), size, v);
}

/* r/m operand: register or memory */
static inline uint64_t rm_get(struct cpu *c, const struct insn *i, int size)
{
	if (i->mem)
		return op_ld(c, i, size);
	return reg_get(c, i->rm, size);
}

static inline void rm_set(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	if (i->mem)
		op_st(c, i, size, v);
	else
		reg_set(c, i->rm, size, v);
}

/* stack: SS-relative, size of the stack pointer by SS.B / mode */
static inline int stack_asz(const struct cpu *c)
{
	if (cpu_long64(c))
		return 8;
	return (c->seg[S_SS].ar & AR_DB) ? 4 : 2;
}

static inline uint64_t sp_get(const struct cpu *c)
{
	return ea_mask(c->gpr[R_SP], stack_asz(c));
}

static inline void sp_set(struct cpu *c, uint64_t v)
{
	reg_set(c, R_SP, stack_asz(c), v);
}

/* push/pop without committing RSP (callers commit after all checks) */
static inline uint64_t stk_addr(const struct cpu *c, int64_t delta)
{
	return ea_mask(c->gpr[R_SP] + (uint64_t)delta, stack_asz(c));
}

static inline void push(struct cpu *c, int size, uint64_t v)
{
	uint64_t sp = stk_addr(c, -size);
	cpu_st(c, S_SS, sp, size, v);
	sp_set(c, sp);
}

static inline uint64_t pop(struct cpu *c, int size)
{
	uint64_t v = cpu_ld(c, S_SS, sp_get(c), size);
	sp_set(c, stk_addr(c, size));
	return v;
}

/* implicit supervisor accesses (descriptor tables, TSS, IDT, page tables) */
static inline uint64_t sys_ld(struct cpu *c, uint64_t lin, int size)
{
	return mem_read_slow(c, lin & c->lin_mask, size, ACC_R | ACC_IMPLICIT);
}

static inline void sys_st(struct cpu *c, uint64_t lin, int size, uint64_t v)
{
	mem_write_slow(c, lin & c->lin_mask, size, v, ACC_W | ACC_IMPLICIT);
}

#endif
