/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the x87 files (x87.c: data and arithmetic
 * instructions, x87_ctl.c: control and state instructions, x87_trans.c:
 * transcendentals).
 *
 * State model (SDM Vol. 1 8.1): c->fpu.st[] are the physical registers
 * R0..R7, ST(i) is R((TOP + i) & 7).  c->fpu.ftw keeps the full 2-bit tag
 * of every register, recomputed from the contents on each write, so it is
 * what FNSTENV/FNSAVE must show.  FSW.ES and FSW.B always equal "some
 * exception flag is set whose FCW mask bit is clear".
 */
#ifndef NV_X87_INT_H
#define NV_X87_INT_H

#include "cpu.h"
#include "exec.h"
#include "fpu.h"
#include "mem.h"
#include "softfloat80.h"

#define SW_IE 0x0001
#define SW_SF 0x0040
#define SW_ES 0x0080
#define SW_C0 0x0100
#define SW_C1 0x0200
#define SW_C2 0x0400
#define SW_C3 0x4000
#define SW_B 0x8000
#define SW_TOP 0x3800
#define SW_CC (SW_C0 | SW_C1 | SW_C2 | SW_C3)

#define TAG_VALID 0
#define TAG_ZERO 1
#define TAG_SPECIAL 2
#define TAG_EMPTY 3

static inline struct fx80 x_reg2fx(const struct x87_reg *r)
{
	struct fx80 v = { r->mant, r->exp };
	return v;
}

static inline int x_top(const struct cpu *c)
{
	return (c->fpu.fsw >> 11) & 7;
}

static inline void x_set_top(struct cpu *c, int t)
{
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_TOP) | ((t & 7) << 11));
}

static inline int x_phys(const struct cpu *c, int i)
{
	return (x_top(c) + i) & 7;
}

static inline int x_tag_phys(const struct cpu *c, int p)
{
	return (c->fpu.ftw >> (2 * p)) & 3;
}

static inline bool x_empty(const struct cpu *c, int i)
{
	return x_tag_phys(c, x_phys(c, i)) == TAG_EMPTY;
}

static inline struct fx80 x_get(const struct cpu *c, int i)
{
	return x_reg2fx(&c->fpu.st[x_phys(c, i)]);
}

static inline int x_tag_of(struct fx80 v)
{
	unsigned e = v.se & 0x7fff;
	if (e - 1 < 0x7ffe && (v.mant >> 63))
		return TAG_VALID;
	if (e == 0 && v.mant == 0)
		return TAG_ZERO;
	return TAG_SPECIAL;
}

static inline void x_set_tag(struct cpu *c, int p, int tag)
{
	c->fpu.ftw = (uint16_t)((c->fpu.ftw & ~(3u << (2 * p))) | ((unsigned)tag << (2 * p)));
}

/* write ST(i) and tag it by its contents */
static inline void x_put(struct cpu *c, int i, struct fx80 v)
{
	int p = x_phys(c, i);
	c->fpu.st[p].mant = v.mant;
	c->fpu.st[p].exp = v.se;
	x_set_tag(c, p, x_tag_of(v));
}

static inline void x_pop(struct cpu *c)
{
	x_set_tag(c, x_top(c), TAG_EMPTY);
	x_set_top(c, x_top(c) + 1);
}

/* push: ST(0) becomes the register below; the caller writes it */
static inline void x_push(struct cpu *c, struct fx80 v)
{
	x_set_top(c, x_top(c) - 1);
	x_put(c, 0, v);
}

/* FSW.ES / FSW.B from the flags and the masks */
static inline void x_update_es(struct cpu *c)
{
	if (c->fpu.fsw & ~c->fpu.fcw & 0x3f)
		c->fpu.fsw |= SW_ES | SW_B;
	else
		c->fpu.fsw &= (uint16_t)~(SW_ES | SW_B);
}

static inline void x_env(const struct cpu *c, struct fxenv *e)
{
	static const uint8_t pc_bits[4] = { 24, 64, 53, 64 };	/* PC 01: reserved */
	e->rc = (c->fpu.fcw >> 10) & 3;
	e->prec = pc_bits[(c->fpu.fcw >> 8) & 3];
	e->masks = c->fpu.fcw & 0x3f;
	e->ex = 0;
	e->up = false;
	e->dn = false;
}

/*
 * #NM (SDM Vol. 3 Table 2-2 "Action Taken By x87 FPU Instructions for
 * Different Combinations of EM, MP, and TS": every ESC opcode faults if
 * EM or TS is set), then, for waiting instructions, #MF if an unmasked
 * exception is pending (SDM Vol. 1 8.6).  CR0.NE = 0 also raises #MF: the
 * external FERR#/IRQ 13 path is not modelled (docs/cpu.md).
 */
static inline void x_nm(struct cpu *c)
{
	if (unlikely(c->cr0 & (CR0_EM | CR0_TS)))
		cpu_raise(c, EXC_NM);
}

static inline void x_wait(struct cpu *c)
{
	x_nm(c);
	if (unlikely(c->fpu.fsw & ~c->fpu.fcw & 0x3f))
		cpu_raise(c, EXC_MF);
}

/*
 * Last instruction pointers (SDM Vol. 1 8.1.8-8.1.9): every non-control
 * instruction sets FIP/FCS/FOP; one with a memory operand sets FDP/FDS.
 */
static inline void x_ptrs(struct cpu *c, const struct insn *i)
{
	c->fpu.fop = (uint16_t)(((i->op & 7) << 8) | i->modrm);
	c->fpu.fip = i->rip;
	c->fpu.fcs = c->seg[S_CS].sel;
	if (i->mem) {
		c->fpu.fdp = insn_ea(c, i);
		c->fpu.fds = c->seg[i->seg].sel;
	}
}

/*
 * Fold the exceptions of an operation into FSW (sticky flags, C1 from the
 * rounding) and tell whether its result is delivered: an unmasked invalid,
 * denormal or zero-divide exception suppresses it (SDM Vol. 1 4.9.2, 8.5).
 */
static inline bool x_deliver(const struct cpu *c, const struct fxenv *e)
{
	return !(e->ex & ~c->fpu.fcw & (FX_IE | FX_DE | FX_ZE));
}

static inline void x_flags(struct cpu *c, const struct fxenv *e)
{
	if (likely(!e->ex)) {	/* no exception: only C1 changes */
		c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_C1) | (e->up ? SW_C1 : 0));
		return;
	}
	uint8_t ex = e->ex;
	bool up = e->up;
	/* unmasked IE/DE/ZE stop the operation before it computes anything */
	if (ex & ~c->fpu.fcw & (FX_IE | FX_DE | FX_ZE)) {
		ex &= FX_IE | FX_DE | FX_ZE;
		up = false;
	}
	uint16_t sw = c->fpu.fsw | ex;
	sw &= (uint16_t)~SW_C1;
	if (up)
		sw |= SW_C1;
	c->fpu.fsw = sw;
	x_update_es(c);
}

/*
 * Stack faults (SDM Vol. 1 8.5.1.1): IE + SF, C1 = 1 for overflow and 0
 * for underflow.  Returns true if masked (the caller then delivers the
 * real indefinite).
 */
static inline bool x_stack_fault(struct cpu *c, bool overflow)
{
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_C1) | SW_IE | SW_SF | (overflow ? SW_C1 : 0));
	x_update_es(c);
	return c->fpu.fcw & FX_IE;
}

/* x87.c: deliver a result to ST(dst) (+ pop) / a stack underflow */
void x87_result_commit(struct cpu *c, const struct insn *i, struct fxenv *e, int dst,
		       struct fx80 r, bool pop);
void x87_underflow_commit(struct cpu *c, const struct insn *i, int dst, bool pop);

/* x87_trans.c: D9 F0-F3, F9, FB, FE, FF by ModRM */
void x87_trans(struct cpu *c, const struct insn *i, int modrm);

/* x87_ctl.c */
void x87_init_state(struct cpu *c);	/* FNINIT */
void x87_h_fldenv(struct cpu *c, const struct insn *i);
void x87_h_fldcw(struct cpu *c, const struct insn *i);
void x87_h_fnstenv(struct cpu *c, const struct insn *i);
void x87_h_fnstcw(struct cpu *c, const struct insn *i);
void x87_h_frstor(struct cpu *c, const struct insn *i);
void x87_h_fnsave(struct cpu *c, const struct insn *i);
void x87_h_fnstsw_m(struct cpu *c, const struct insn *i);
void x87_h_fnstsw_ax(struct cpu *c, const struct insn *i);
void x87_h_fninit(struct cpu *c, const struct insn *i);
void x87_h_fnclex(struct cpu *c, const struct insn *i);
void x87_h_fnop_nowait(struct cpu *c, const struct insn *i);
void x87_h_ud(struct cpu *c, const struct insn *i);

#endif
