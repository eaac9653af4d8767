// SPDX-License-Identifier: MIT
/*
 * x87 transcendental instructions (SDM Vol. 2): F2XM1, FYL2X, FYL2XP1,
 * FPATAN, FPTAN, FSIN, FCOS, FSINCOS.  The arithmetic is in
 * softfloat80_trans.c; this file does the register stack, C2 and the
 * exception responses.  Results are rounded to 64 bits whatever FCW.PC
 * says (precision control covers only the basic operations, SDM Vol. 1
 * 8.1.5.2).
 */
#include "x87_int.h"

static void set_c2(struct cpu *c, bool v)
{
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_C2) | (v ? SW_C2 : 0));
}

/* |x| >= 2^63: C2 = 1, C1 = 0, nothing else changes (SDM: FSIN etc.) */
static void out_of_range(struct cpu *c)
{
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_C1) | SW_C2);
}

/* F2XM1, FSIN, FCOS: ST(0) = f(ST(0)) */
static void unary(struct cpu *c, const struct insn *i, int modrm)
{
	if (x_empty(c, 0)) {
		x87_underflow_commit(c, i, 0, false);
		if (modrm != 0xf0)
			set_c2(c, false);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	e.prec = 64;
	struct fx80 x = x_get(c, 0), r, r2;
	if (modrm == 0xf0) {
		r = fx_f2xm1(&e, x);
	} else if (!fx_trig(&e, x, modrm == 0xfe ? FX_TRIG_SIN : FX_TRIG_COS, &r, &r2)) {
		x_ptrs(c, i);
		out_of_range(c);
		return;
	}
	x87_result_commit(c, i, &e, 0, r, false);
	if (modrm != 0xf0)
		set_c2(c, false);
}

/* FYL2X, FYL2XP1, FPATAN: ST(1) = f(ST(1), ST(0)), pop */
static void binary(struct cpu *c, const struct insn *i, int modrm)
{
	if (x_empty(c, 0) || x_empty(c, 1)) {
		x87_underflow_commit(c, i, 1, true);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	e.prec = 64;
	struct fx80 x = x_get(c, 0), y = x_get(c, 1), r;
	switch (modrm) {
	case 0xf1: r = fx_yl2x(&e, x, y); break;
	case 0xf9: r = fx_yl2xp1(&e, x, y); break;
	default: r = fx_atan2(&e, y, x); break;
	}
	x87_result_commit(c, i, &e, 1, r, true);
}

/*
 * FPTAN (ST(0) = tan, push 1.0) and FSINCOS (ST(0) = sin, push cos): need
 * a free register; out of range leaves everything but C2 alone.
 */
static void pushing(struct cpu *c, const struct insn *i, int modrm)
{
	x_ptrs(c, i);
	if (x_empty(c, 0) || !x_empty(c, 7)) {
		if (x_stack_fault(c, !x_empty(c, 0))) {
			x_put(c, 0, fx_indefinite());
			x_push(c, fx_indefinite());
		}
		set_c2(c, false);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	e.prec = 64;
	struct fx80 r1, r2;
	bool tan = modrm == 0xf2;
	if (!fx_trig(&e, x_get(c, 0), tan ? FX_TRIG_TAN : FX_TRIG_SINCOS, &r1, &r2)) {
		out_of_range(c);
		return;
	}
	if (tan && fx_class(r1) != FX_QNAN)
		r2 = fx_make(0, FX_BIAS, FX_JBIT);
	x_flags(c, &e);
	set_c2(c, false);
	if (x_deliver(c, &e)) {
		x_put(c, 0, r1);
		x_push(c, r2);
	}
}

void x87_trans(struct cpu *c, const struct insn *i, int modrm)
{
	x_wait(c);
	switch (modrm) {
	case 0xf0:
	case 0xfe:
	case 0xff:
		unary(c, i, modrm);
		break;
	case 0xf1:
	case 0xf3:
	case 0xf9:
		binary(c, i, modrm);
		break;
	default:
		pushing(c, i, modrm);
		break;
	}
}
