// SPDX-License-Identifier: MIT
/*
 * x87 FPU: data transfer, arithmetic and comparison instructions (SDM
 * Vol. 1 ch. 8, Vol. 2 "F..." pages) and the D8-DF opcode map.  Control
 * and state instructions are in x87_ctl.c, transcendentals in
 * x87_trans.c, the number format in softfloat80.c.
 *
 * Every handler does its memory reads and writes before it changes FPU
 * state, so a fault leaves the state as it was.  The responses to masked
 * and unmasked exceptions follow SDM Vol. 1 4.9 and 8.5 and were checked
 * against hardware (tests/unit/diff_x87.c).
 */
#include "x87_int.h"

#define H(name) static void name(struct cpu *c, const struct insn *i)

static inline int reg_field(const struct insn *i)
{
	return (i->modrm >> 3) & 7;
}

static inline int rm_field(const struct insn *i)
{
	return i->modrm & 7;
}

/* ---- memory operands -------------------------------------------------------- */

static inline int sacc(const struct insn *i)
{
	return i->seg == S_SS ? ACC_SS : 0;
}

static void m_ld80(struct cpu *c, const struct insn *i, uint64_t *lo, uint16_t *hi)
{
	uint64_t ea = insn_ea(c, i);
	uint64_t lin = seg_lin(c, i->seg, ea, 10, ACC_R);
	uint8_t b[10];
	mem_read_bytes(c, lin, b, 10, ACC_R | sacc(i));
	memcpy(lo, b, 8);
	memcpy(hi, b + 8, 2);
}

static void m_st80(struct cpu *c, const struct insn *i, uint64_t lo, uint16_t hi)
{
	uint64_t ea = insn_ea(c, i);
	uint64_t lin = seg_lin(c, i->seg, ea, 10, ACC_W);
	uint8_t b[10];
	memcpy(b, &lo, 8);
	memcpy(b + 8, &hi, 2);
	mem_write_bytes(c, lin, b, 10, sacc(i));
}

/* ---- loads --------------------------------------------------------------------- */

/* push a loaded value: stack overflow if ST(7) is in use */
static void do_push(struct cpu *c, const struct insn *i, struct fx80 v, struct fxenv *e)
{
	x_ptrs(c, i);
	if (!x_empty(c, 7)) {
		if (x_stack_fault(c, true))
			x_push(c, fx_indefinite());
		return;
	}
	x_flags(c, e);
	/* an unmasked DE does not stop a load: the conversion is exact */
	if (!(e->ex & ~c->fpu.fcw & FX_IE))
		x_push(c, v);
}

H(h_fld_m32)
{
	x_wait(c);
	uint32_t v = (uint32_t)op_ld(c, i, 4);
	struct fxenv e;
	x_env(c, &e);
	do_push(c, i, fx_from_f32(&e, v, false), &e);
}

H(h_fld_m64)
{
	x_wait(c);
	uint64_t v = op_ld(c, i, 8);
	uint32_t ex = (v >> 52) & 0x7ff;
	if (likely(ex - 1 < 0x7fe) && likely(x_empty(c, 7))) {
		/* fast path: a normal double, a free register: exact, no flags */
		int t = (x_top(c) - 1) & 7;
		x_ptrs(c, i);
		c->fpu.st[t].mant = FX_JBIT | ((v << 12) >> 1);
		c->fpu.st[t].exp = (uint16_t)((v >> 63) << 15 | (ex - 1023 + FX_BIAS));
		x_set_tag(c, t, TAG_VALID);
		c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~(SW_TOP | SW_C1)) | t << 11);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	do_push(c, i, fx_from_f64(&e, v, false), &e);
}

H(h_fld_m80)
{
	x_wait(c);
	struct fx80 v;
	m_ld80(c, i, &v.mant, &v.se);
	struct fxenv e;
	x_env(c, &e);
	do_push(c, i, v, &e);
}

H(h_fild)
{
	x_wait(c);
	/* DF /0 m16, DB /0 m32, DF /5 m64 */
	int64_t v;
	if ((i->op & 0xff) == 0xdb)
		v = (int32_t)op_ld(c, i, 4);
	else if (reg_field(i) == 5)
		v = (int64_t)op_ld(c, i, 8);
	else
		v = (int16_t)op_ld(c, i, 2);
	struct fxenv e;
	x_env(c, &e);
	do_push(c, i, fx_from_i64(v), &e);
}

/* FBLD: 18 packed BCD digits and a sign bit (SDM Vol. 1 4.7) */
H(h_fbld)
{
	x_wait(c);
	struct fx80 raw;
	m_ld80(c, i, &raw.mant, &raw.se);
	uint64_t v = 0;
	for (int k = 8; k >= 0; k--) {
		unsigned byte = k == 8 ? raw.se & 0xff : (raw.mant >> (8 * k)) & 0xff;
		/* digits above 9 are undefined; they weigh as their value */
		v = v * 100 + (byte >> 4) * 10 + (byte & 15);
	}
	struct fx80 r = fx_from_i64((int64_t)v);
	if (raw.se & 0x8000)
		r.se |= 0x8000;
	struct fxenv e;
	x_env(c, &e);
	do_push(c, i, r, &e);
}

H(h_fld_sti)
{
	x_wait(c);
	struct fxenv e;
	x_env(c, &e);
	int k = rm_field(i);
	/* an empty source is reported (C1 = 0) before a full stack */
	if (x_empty(c, k)) {
		x_ptrs(c, i);
		if (x_stack_fault(c, false))
			x_push(c, fx_indefinite());
		return;
	}
	do_push(c, i, x_get(c, k), &e);
}

/*
 * Constants (D9 E8-EE): the value to 66 bits, rounded by FCW.RC like the
 * hardware's internal constant ROM; no precision exception.
 */
H(h_fld_const)
{
	static const struct { uint64_t mant; int16_t exp; uint8_t low2; } k[7] = {
		{ 0x8000000000000000ULL, 0, 0 },		/* 1 */
		{ 0xd49a784bcd1b8afeULL, 1, 1 },		/* log2(10): ...fe 0.49 */
		{ 0xb8aa3b295c17f0bbULL, 0, 3 },		/* log2(e): ...bb 0.be */
		{ 0xc90fdaa22168c234ULL, 1, 3 },		/* pi: ...34 0.c4 */
		{ 0x9a209a84fbcff798ULL, -2, 3 },		/* log10(2): ...98 0.8f */
		{ 0xb17217f7d1cf79abULL, -1, 3 },		/* ln(2): ...ab 0.c9 */
		{ 0, 0, 0 },					/* +0 */
	};
	x_wait(c);
	int n = rm_field(i);
	struct fx80 v;
	if (n == 6) {
		v = fx_zero(0);
	} else {
		uint64_t m = k[n].mant;
		/* low2: the two bits after the 64th (round bit, sticky) */
		int rc = (c->fpu.fcw >> 10) & 3;
		bool rb = k[n].low2 & 2, st = k[n].low2 & 1;
		if ((rc == FX_RC_NEAR && rb && (st || (m & 1))) ||
		    (rc == FX_RC_UP && (rb || st)))
			m++;
		v = fx_make(0, FX_BIAS + k[n].exp, m);
	}
	struct fxenv e;
	x_env(c, &e);
	do_push(c, i, v, &e);
}

/* ---- stores -------------------------------------------------------------------- */

/*
 * Store ST(0) to memory.  The stored value is computed first; unmasked
 * IE/OE/UE leave memory and the stack untouched (SDM Vol. 1 4.9.1.4-5,
 * 8.5.1.2).
 */
static bool st_blocked(const struct cpu *c, const struct fxenv *e)
{
	return e->ex & ~c->fpu.fcw & (FX_IE | FX_DE | FX_ZE | FX_OE | FX_UE);
}

static void st_commit(struct cpu *c, const struct insn *i, struct fxenv *e, bool pop,
		      bool stored)
{
	x_ptrs(c, i);
	x_flags(c, e);
	if (pop && stored)
		x_pop(c);
}

/* ST(0) empty: IE + SF; the indefinite is stored if IE is masked */
static bool st_underflow(const struct cpu *c)
{
	return c->fpu.fcw & FX_IE;
}

static void st_done_underflow(struct cpu *c, const struct insn *i, bool pop, bool stored)
{
	x_ptrs(c, i);
	x_stack_fault(c, false);
	if (pop && stored)
		x_pop(c);
}

H(h_fst_m32)
{
	x_wait(c);
	bool pop = reg_field(i) & 1;
	struct fxenv e;
	x_env(c, &e);
	if (x_empty(c, 0)) {
		bool st = st_underflow(c);
		if (st)
			op_st(c, i, 4, 0xffc00000U);
		st_done_underflow(c, i, pop, st);
		return;
	}
	uint32_t v = fx_to_f32(&e, x_get(c, 0));
	bool st = !st_blocked(c, &e);
	if (st)
		op_st(c, i, 4, v);
	st_commit(c, i, &e, pop, st);
}

H(h_fst_m64)
{
	x_wait(c);
	bool pop = reg_field(i) & 1;
	struct fxenv e;
	int p = x_top(c);
	if (likely(x_tag_phys(c, p) == TAG_VALID)) {
		/* fast path: no exception but possibly inexact */
		x_env(c, &e);
		uint64_t v = fx_to_f64(&e, x_reg2fx(&c->fpu.st[p]));
		if (likely(!(e.ex & ~FX_PE))) {
			op_st(c, i, 8, v);
			x_ptrs(c, i);
			uint16_t sw = (uint16_t)((c->fpu.fsw & ~SW_C1) | e.ex | (e.up ? SW_C1 : 0));
			if (e.ex & ~c->fpu.fcw)
				sw |= SW_ES | SW_B;
			c->fpu.fsw = sw;
			if (pop)
				x_pop(c);
			return;
		}
	}
	x_env(c, &e);
	if (x_empty(c, 0)) {
		bool st = st_underflow(c);
		if (st)
			op_st(c, i, 8, 0xfff8000000000000ULL);
		st_done_underflow(c, i, pop, st);
		return;
	}
	uint64_t v = fx_to_f64(&e, x_get(c, 0));
	bool st = !st_blocked(c, &e);
	if (st)
		op_st(c, i, 8, v);
	st_commit(c, i, &e, pop, st);
}

H(h_fstp_m80)
{
	x_wait(c);
	struct fxenv e;
	x_env(c, &e);
	if (x_empty(c, 0)) {
		bool st = st_underflow(c);
		if (st) {
			struct fx80 n = fx_indefinite();
			m_st80(c, i, n.mant, n.se);
		}
		st_done_underflow(c, i, true, st);
		return;
	}
	struct fx80 v = x_get(c, 0);
	m_st80(c, i, v.mant, v.se);
	st_commit(c, i, &e, true, true);
}

/* FIST/FISTP/FISTTP m16/m32/m64 */
static void do_fist(struct cpu *c, const struct insn *i, int bytes, bool pop, bool trunc)
{
	x_wait(c);
	struct fxenv e;
	x_env(c, &e);
	int64_t indef = (int64_t)(~0ULL << (bytes * 8 - 1));
	if (x_empty(c, 0)) {
		bool st = st_underflow(c);
		if (st)
			op_st(c, i, bytes, (uint64_t)indef);
		st_done_underflow(c, i, pop, st);
		return;
	}
	int64_t v = fx_to_int(&e, x_get(c, 0), bytes * 8, trunc);
	bool st = !st_blocked(c, &e);
	if (st)
		op_st(c, i, bytes, (uint64_t)v);
	st_commit(c, i, &e, pop, st);
}

H(h_fist_m16) { do_fist(c, i, 2, reg_field(i) == 3, false); }
H(h_fist_m32) { do_fist(c, i, 4, reg_field(i) == 3, false); }
H(h_fistp_m64) { do_fist(c, i, 8, true, false); }

/* FISTTP (SSE3): truncating store and pop; a reserved encoding without SSE3 */
H(h_fisttp)
{
	if (!HAS(c, FEAT_SSE3)) {
		x_nm(c);
		cpu_ud(c);
	}
	int op = i->op & 0xff;
	do_fist(c, i, op == 0xdf ? 2 : op == 0xdb ? 4 : 8, true, true);
}

/* FBSTP: round to an integer, store 18 BCD digits, pop */
H(h_fbstp)
{
	x_wait(c);
	struct fxenv e;
	x_env(c, &e);
	uint64_t lo;
	uint16_t hi;
	if (x_empty(c, 0)) {
		bool st = st_underflow(c);
		if (st)
			m_st80(c, i, 0xc000000000000000ULL, 0xffff);
		st_done_underflow(c, i, true, st);
		return;
	}
	struct fx80 a = x_get(c, 0);
	int64_t v = fx_to_int(&e, a, 64, false);
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	if (!(e.ex & FX_IE) && mag > 999999999999999999ULL) {
		e.ex = (uint8_t)((e.ex & ~FX_PE) | FX_IE);
		e.up = false;
	}
	if (e.ex & FX_IE) {
		lo = 0xc000000000000000ULL;	/* packed BCD indefinite */
		hi = 0xffff;
	} else {
		lo = 0;
		for (int k = 0; k < 16; k++, mag /= 10)
			lo |= (mag % 10) << (4 * k);
		hi = (uint16_t)(mag % 10 | (mag / 10 % 10) << 4);
		if (fx_sign(a))
			hi |= 0x8000;
	}
	bool st = !st_blocked(c, &e);
	if (st)
		m_st80(c, i, lo, hi);
	st_commit(c, i, &e, true, st);
}

/*
 * FST/FSTP ST(i) (DD D0/D8; DF D0, DF D8 are FSTP aliases).  The D9 D8
 * alias ("FSTP1") does not check for an empty ST(0): then it only pops
 * (measured on AMD Zen).
 */
H(h_fst_sti)
{
	x_wait(c);
	int op = i->op & 0xff;
	bool pop = !(op == 0xdd && reg_field(i) == 2);
	int k = rm_field(i);
	x_ptrs(c, i);
	if (x_empty(c, 0) && op == 0xd9) {
		c->fpu.fsw &= (uint16_t)~SW_C1;
		x_pop(c);
		return;
	}
	if (x_empty(c, 0)) {
		if (x_stack_fault(c, false)) {
			x_put(c, k, fx_indefinite());
			if (pop)
				x_pop(c);
		}
		return;
	}
	x_put(c, k, x_get(c, 0));
	c->fpu.fsw &= (uint16_t)~SW_C1;
	if (pop)
		x_pop(c);
}

/* ---- arithmetic ------------------------------------------------------------------ */

/*
 * ModRM.reg selects the operation; for every form a = ST(0) and b = the
 * other operand: 0 add, 1 mul, 4 a - b, 5 b - a, 6 a / b, 7 b / a.  The
 * DC/DE register forms only change the destination (ST(i)).
 */
static inline struct fx80 arith(struct fxenv *e, int op, struct fx80 a, struct fx80 b)
{
	switch (op) {
	case 0: return fx_add(e, a, b, false);
	case 1: return fx_mul(e, a, b);
	case 4: return fx_add(e, a, b, true);
	case 5: return fx_add(e, b, a, true);
	case 6: return fx_div(e, a, b);
	default: return fx_div(e, b, a);
	}
}

/* deliver r to ST(dst) (and pop) unless an unmasked exception stops it */
void x87_result_commit(struct cpu *c, const struct insn *i, struct fxenv *e, int dst,
			  struct fx80 r, bool pop)
{
	x_ptrs(c, i);
	if (likely(!(e->ex & ~FX_PE))) {
		/* the common case: at most inexact */
		uint16_t sw = (uint16_t)((c->fpu.fsw & ~SW_C1) | e->ex | (e->up ? SW_C1 : 0));
		if (e->ex & ~c->fpu.fcw)
			sw |= SW_ES | SW_B;
		c->fpu.fsw = sw;
		x_put(c, dst, r);
		if (pop)
			x_pop(c);
		return;
	}
	x_flags(c, e);
	if (x_deliver(c, e)) {
		x_put(c, dst, r);
		if (pop)
			x_pop(c);
	}
}

/* an operand register is empty: masked, the destination gets the indefinite */
void x87_underflow_commit(struct cpu *c, const struct insn *i, int dst, bool pop)
{
	x_ptrs(c, i);
	if (x_stack_fault(c, false)) {
		x_put(c, dst, fx_indefinite());
		if (pop)
			x_pop(c);
	}
}

static void arith_mem(struct cpu *c, const struct insn *i, struct fx80 b, struct fxenv *e)
{
	if (x_empty(c, 0)) {
		x87_underflow_commit(c, i, 0, false);
		return;
	}
	struct fx80 r = arith(e, reg_field(i), x_get(c, 0), b);
	x87_result_commit(c, i, e, 0, r, false);
}

H(h_arith_m32)
{
	x_wait(c);
	uint32_t v = (uint32_t)op_ld(c, i, 4);
	struct fxenv e;
	x_env(c, &e);
	arith_mem(c, i, fx_from_f32(&e, v, true), &e);
}

H(h_arith_m64)
{
	x_wait(c);
	uint64_t v = op_ld(c, i, 8);
	struct fxenv e;
	x_env(c, &e);
	arith_mem(c, i, fx_from_f64(&e, v, true), &e);
}

H(h_arith_mi16)
{
	x_wait(c);
	int16_t v = (int16_t)op_ld(c, i, 2);
	struct fxenv e;
	x_env(c, &e);
	arith_mem(c, i, fx_from_i64(v), &e);
}

H(h_arith_mi32)
{
	x_wait(c);
	int32_t v = (int32_t)op_ld(c, i, 4);
	struct fxenv e;
	x_env(c, &e);
	arith_mem(c, i, fx_from_i64(v), &e);
}

/* D8 reg: ST(0) = ST(0) op ST(i); DC reg: ST(i) = ...; DE reg: ... and pop */
H(h_arith_reg)
{
	x_wait(c);
	int k = rm_field(i);
	int op = i->op & 0xff;
	int dst = op == 0xd8 ? 0 : k;
	bool pop = op == 0xde;
	if (x_empty(c, 0) || x_empty(c, k)) {
		x87_underflow_commit(c, i, dst, pop);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	struct fx80 r = arith(&e, reg_field(i), x_get(c, 0), x_get(c, k));
	x87_result_commit(c, i, &e, dst, r, pop);
}

/* one-operand operations on ST(0) */
static void unary(struct cpu *c, const struct insn *i,
		  struct fx80 (*fn)(struct fxenv *, struct fx80))
{
	x_wait(c);
	if (x_empty(c, 0)) {
		x87_underflow_commit(c, i, 0, false);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	struct fx80 r = fn(&e, x_get(c, 0));
	x87_result_commit(c, i, &e, 0, r, false);
}

H(h_fsqrt) { unary(c, i, fx_sqrt); }
H(h_frndint) { unary(c, i, fx_round_int); }

/* FCHS / FABS: sign only, no exceptions but stack underflow; C1 = 0 */
H(h_fchs_fabs)
{
	x_wait(c);
	if (x_empty(c, 0)) {
		x87_underflow_commit(c, i, 0, false);
		return;
	}
	struct fx80 v = x_get(c, 0);
	if (rm_field(i) == 0)
		v.se ^= 0x8000;
	else
		v.se &= 0x7fff;
	x_ptrs(c, i);
	x_put(c, 0, v);
	c->fpu.fsw &= (uint16_t)~SW_C1;
}

H(h_fscale)
{
	x_wait(c);
	if (x_empty(c, 0) || x_empty(c, 1)) {
		x87_underflow_commit(c, i, 0, false);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	struct fx80 r = fx_scale(&e, x_get(c, 0), x_get(c, 1));
	x87_result_commit(c, i, &e, 0, r, false);
}

/* FXTRACT: ST(0) = exponent, then push the significand */
H(h_fxtract)
{
	x_wait(c);
	x_ptrs(c, i);
	if (x_empty(c, 0)) {
		if (x_stack_fault(c, false)) {
			x_put(c, 0, fx_indefinite());
			x_push(c, fx_indefinite());
		}
		return;
	}
	if (!x_empty(c, 7)) {
		if (x_stack_fault(c, true)) {
			x_put(c, 0, fx_indefinite());
			x_push(c, fx_indefinite());
		}
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	struct fx80 ex, sig = fx_extract(&e, x_get(c, 0), &ex);
	x_flags(c, &e);
	if (x_deliver(c, &e)) {
		x_put(c, 0, ex);
		x_push(c, sig);
	}
}

/*
 * FPREM (D9 F8) / FPREM1 (D9 F5): C2 = incomplete (then C0 C3 C1 = 0),
 * else C0 C3 C1 = Q2 Q1 Q0; a NaN result, an unmasked exception or a
 * stack fault clears C2 and C1 only (measured).
 */
H(h_fprem)
{
	x_wait(c);
	if (x_empty(c, 0) || x_empty(c, 1)) {
		x87_underflow_commit(c, i, 0, false);
		c->fpu.fsw &= (uint16_t)~SW_C2;
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	int q;
	bool partial;
	struct fx80 r = fx_prem(&e, x_get(c, 0), x_get(c, 1), rm_field(i) == 5, &q, &partial);
	x_ptrs(c, i);
	x_flags(c, &e);
	c->fpu.fsw &= (uint16_t)~SW_C2;
	if (x_deliver(c, &e)) {
		uint16_t sw = c->fpu.fsw & (uint16_t)~(SW_C1 | SW_C2);
		if (partial) {
			sw = (uint16_t)((sw & ~(SW_C0 | SW_C3)) | SW_C2);
		} else if (q >= 0) {
			sw &= (uint16_t)~(SW_C0 | SW_C3);
			sw |= (q & 4 ? SW_C0 : 0) | (q & 2 ? SW_C3 : 0) | (q & 1 ? SW_C1 : 0);
		}
		c->fpu.fsw = sw;
		x_put(c, 0, r);
	}
}

/* ---- comparisons ------------------------------------------------------------------ */

static const uint16_t cmp_cc[4] = {
	[FX_CMP_GT] = 0, [FX_CMP_LT] = SW_C0, [FX_CMP_EQ] = SW_C3,
	[FX_CMP_UN] = SW_C3 | SW_C2 | SW_C0,
};

/*
 * Set C3 C2 C0 from a comparison, clear C1, pop `pops` times.  With an
 * unmasked exception nothing is popped, but the condition codes are still
 * written: "unordered" for an invalid operand, the result for a denormal
 * (measured).
 */
static void com_commit(struct cpu *c, const struct insn *i, struct fxenv *e, int res,
		       int pops)
{
	x_ptrs(c, i);
	x_flags(c, e);
	uint8_t un = e->ex & ~c->fpu.fcw;
	uint16_t sw = c->fpu.fsw & (uint16_t)~SW_CC;
	if (un & FX_IE) {
		c->fpu.fsw = sw | cmp_cc[FX_CMP_UN];
		return;
	}
	c->fpu.fsw = sw | cmp_cc[res];
	if (un & FX_DE)
		return;
	while (pops--)
		x_pop(c);
}

static void com_underflow(struct cpu *c, const struct insn *i, int pops)
{
	x_ptrs(c, i);
	bool masked = x_stack_fault(c, false);
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_CC) | cmp_cc[FX_CMP_UN]);
	while (masked && pops--)
		x_pop(c);
}

static void com_mem(struct cpu *c, const struct insn *i, struct fx80 b, struct fxenv *e)
{
	int pops = reg_field(i) & 1;
	if (x_empty(c, 0)) {
		com_underflow(c, i, pops);
		return;
	}
	com_commit(c, i, e, fx_compare(e, x_get(c, 0), b, false), pops);
}

H(h_fcom_m32)
{
	x_wait(c);
	uint32_t v = (uint32_t)op_ld(c, i, 4);
	struct fxenv e;
	x_env(c, &e);
	com_mem(c, i, fx_from_f32(&e, v, true), &e);
}

H(h_fcom_m64)
{
	x_wait(c);
	uint64_t v = op_ld(c, i, 8);
	struct fxenv e;
	x_env(c, &e);
	com_mem(c, i, fx_from_f64(&e, v, true), &e);
}

H(h_ficom)
{
	x_wait(c);
	int64_t v = (i->op & 0xff) == 0xde ? (int16_t)op_ld(c, i, 2) : (int32_t)op_ld(c, i, 4);
	struct fxenv e;
	x_env(c, &e);
	com_mem(c, i, fx_from_i64(v), &e);
}

/*
 * Register compares: FCOM/FCOMP (D8 D0/D8, aliases DC D0/D8, DE D0),
 * FUCOM/FUCOMP (DD E0/E8), FCOMPP (DE D9), FUCOMPP (DA E9).
 */
H(h_fcom_reg)
{
	x_wait(c);
	int op = i->op & 0xff, r = reg_field(i), k = rm_field(i);
	bool quiet = op == 0xdd || op == 0xda;
	int pops;
	if (op == 0xde || op == 0xda)
		pops = 2;
	else if (op == 0xdd)
		pops = r & 1;
	else
		pops = r & 1;
	if (op == 0xde && r == 2)	/* DE D0+i: FCOMP alias */
		pops = 1;
	if (x_empty(c, 0) || x_empty(c, k)) {
		com_underflow(c, i, pops);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	com_commit(c, i, &e, fx_compare(&e, x_get(c, 0), x_get(c, k), quiet), pops);
}

H(h_ftst)
{
	x_wait(c);
	if (x_empty(c, 0)) {
		com_underflow(c, i, 0);
		return;
	}
	struct fxenv e;
	x_env(c, &e);
	com_commit(c, i, &e, fx_compare(&e, x_get(c, 0), fx_zero(0), false), 0);
}

/*
 * FCOMI/FCOMIP (DB F0, DF F0), FUCOMI/FUCOMIP (DB E8, DF E8): ZF PF CF,
 * OF SF AF cleared; C1 is left alone.  With an unmasked invalid operand,
 * stack fault or denormal EFLAGS are still written (unordered for the
 * invalid cases) but nothing is popped (measured).
 */
H(h_fcomi)
{
	static const uint64_t fl[4] = {
		[FX_CMP_GT] = 0, [FX_CMP_LT] = F_CF, [FX_CMP_EQ] = F_ZF,
		[FX_CMP_UN] = F_ZF | F_PF | F_CF,
	};
	x_wait(c);
	int k = rm_field(i);
	bool pop = (i->op & 0xff) == 0xdf;
	bool quiet = reg_field(i) == 5;
	struct fxenv e;
	x_env(c, &e);
	int res;
	x_ptrs(c, i);
	if (x_empty(c, 0) || x_empty(c, k)) {
		if (!x_stack_fault(c, false))
			pop = false;
		res = FX_CMP_UN;
	} else {
		uint16_t c1 = c->fpu.fsw & SW_C1;
		res = fx_compare(&e, x_get(c, 0), x_get(c, k), quiet);
		x_flags(c, &e);
		c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_C1) | c1);
		/* unmasked IE or DE: EFLAGS are still written, no pop */
		if (e.ex & ~c->fpu.fcw & (FX_IE | FX_DE))
			pop = false;
	}
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)(F_ZF | F_PF | F_CF | F_OF | F_SF | F_AF)) | fl[res];
	if (pop)
		x_pop(c);
}

/* FXAM: class in C3 C2 C0, sign in C1 (empty registers too) */
H(h_fxam)
{
	x_wait(c);
	struct fx80 v = x_get(c, 0);
	uint16_t cc;
	if (x_empty(c, 0)) {
		cc = SW_C3 | SW_C0;
	} else {
		switch (fx_class(v)) {
		case FX_UNSUPP: cc = 0; break;
		case FX_QNAN: case FX_SNAN: cc = SW_C0; break;
		case FX_NORMAL: cc = SW_C2; break;
		case FX_INF: cc = SW_C2 | SW_C0; break;
		case FX_ZERO: cc = SW_C3; break;
		default: cc = SW_C3 | SW_C2; break;	/* denormal */
		}
	}
	if (fx_sign(v))
		cc |= SW_C1;
	x_ptrs(c, i);
	c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~SW_CC) | cc);
}

/* ---- register stack ----------------------------------------------------------------- */

H(h_fxch)
{
	x_wait(c);
	int k = rm_field(i);
	x_ptrs(c, i);
	struct fx80 a = x_get(c, 0), b = x_get(c, k);
	if (x_empty(c, 0) || x_empty(c, k)) {
		if (!x_stack_fault(c, false))
			return;
		if (x_empty(c, 0))
			a = fx_indefinite();
		if (x_empty(c, k))
			b = fx_indefinite();
	} else {
		c->fpu.fsw &= (uint16_t)~SW_C1;
	}
	x_put(c, 0, b);
	x_put(c, k, a);
}

/* FFREE, FFREEP (DF C0+i: free, then pop); C1 = 0 */
H(h_ffree)
{
	x_wait(c);
	x_ptrs(c, i);
	x_set_tag(c, x_phys(c, rm_field(i)), TAG_EMPTY);
	if ((i->op & 0xff) == 0xdf)
		x_pop(c);
	c->fpu.fsw &= (uint16_t)~SW_C1;
}

H(h_fincdecstp)
{
	x_wait(c);
	x_ptrs(c, i);
	x_set_top(c, x_top(c) + (rm_field(i) == 7 ? 1 : -1));
	c->fpu.fsw &= (uint16_t)~SW_C1;
}

H(h_fnop)
{
	x_wait(c);
	x_ptrs(c, i);
}

/* FCMOVcc (DA C0-DF, DB C0-DF): B, E, BE, U and their negations */
H(h_fcmov)
{
	x_wait(c);
	int k = rm_field(i);
	uint64_t f = cpu_get_rflags(c);
	bool cond;
	switch (reg_field(i)) {
	case 0: cond = f & F_CF; break;
	case 1: cond = f & F_ZF; break;
	case 2: cond = f & (F_CF | F_ZF); break;
	default: cond = f & F_PF; break;
	}
	if ((i->op & 0xff) == 0xdb)
		cond = !cond;
	x_ptrs(c, i);
	if (x_empty(c, 0) || x_empty(c, k)) {
		if (x_stack_fault(c, false))
			x_put(c, 0, fx_indefinite());
		return;
	}
	if (cond)
		x_put(c, 0, x_get(c, k));
}

/* transcendentals (x87_trans.c), reached through one handler each */
H(h_trans) { x87_trans(c, i, i->modrm); }

/* ---- opcode map ---------------------------------------------------------------------- */

static const insn_fn mem_ops[8][8] = {
	/* D8: m32real */
	{ h_arith_m32, h_arith_m32, h_fcom_m32, h_fcom_m32,
	  h_arith_m32, h_arith_m32, h_arith_m32, h_arith_m32 },
	/* D9 */
	{ h_fld_m32, NULL, h_fst_m32, h_fst_m32,
	  x87_h_fldenv, x87_h_fldcw, x87_h_fnstenv, x87_h_fnstcw },
	/* DA: m32int */
	{ h_arith_mi32, h_arith_mi32, h_ficom, h_ficom,
	  h_arith_mi32, h_arith_mi32, h_arith_mi32, h_arith_mi32 },
	/* DB */
	{ h_fild, h_fisttp, h_fist_m32, h_fist_m32, NULL, h_fld_m80, NULL, h_fstp_m80 },
	/* DC: m64real */
	{ h_arith_m64, h_arith_m64, h_fcom_m64, h_fcom_m64,
	  h_arith_m64, h_arith_m64, h_arith_m64, h_arith_m64 },
	/* DD */
	{ h_fld_m64, h_fisttp, h_fst_m64, h_fst_m64,
	  x87_h_frstor, NULL, x87_h_fnsave, x87_h_fnstsw_m },
	/* DE: m16int */
	{ h_arith_mi16, h_arith_mi16, h_ficom, h_ficom,
	  h_arith_mi16, h_arith_mi16, h_arith_mi16, h_arith_mi16 },
	/* DF */
	{ h_fild, h_fisttp, h_fist_m16, h_fist_m16, h_fbld, h_fild, h_fbstp, h_fistp_m64 },
};

static const insn_fn d9_e0[32] = {
	/* E0 */ h_fchs_fabs, h_fchs_fabs, NULL, NULL, h_ftst, h_fxam, NULL, NULL,
	/* E8 */ h_fld_const, h_fld_const, h_fld_const, h_fld_const,
	h_fld_const, h_fld_const, h_fld_const, NULL,
	/* F0 */ h_trans, h_trans, h_trans, h_trans, h_fxtract, h_fprem, h_fincdecstp,
	h_fincdecstp,
	/* F8 */ h_fprem, h_trans, h_fsqrt, h_trans, h_frndint, h_fscale, h_trans, h_trans,
};

insn_fn x87_lookup(uint8_t opcode, uint8_t modrm)
{
	int op = opcode - 0xd8, reg = (modrm >> 3) & 7;
	insn_fn f = NULL;
	if (op < 0 || op > 7)
		return NULL;
	if (modrm < 0xc0) {
		f = mem_ops[op][reg];
		return f ? f : x87_h_ud;
	}
	switch (op) {
	case 0:		/* D8 */
		f = (reg == 2 || reg == 3) ? h_fcom_reg : h_arith_reg;
		break;
	case 1:		/* D9 */
		if (reg == 0)
			f = h_fld_sti;
		else if (reg == 1)
			f = h_fxch;
		else if (modrm == 0xd0)
			f = h_fnop;
		else if (reg == 3)
			f = h_fst_sti;	/* FSTP1 alias */
		else if (reg >= 4)
			f = d9_e0[modrm - 0xe0];
		break;
	case 2:		/* DA */
		if (reg < 4)
			f = h_fcmov;
		else if (modrm == 0xe9)
			f = h_fcom_reg;	/* FUCOMPP */
		break;
	case 3:		/* DB */
		if (reg < 4)
			f = h_fcmov;
		else if (modrm == 0xe2)
			f = x87_h_fnclex;
		else if (modrm == 0xe3)
			f = x87_h_fninit;
		else if (modrm == 0xe0 || modrm == 0xe1 || modrm == 0xe4)
			f = x87_h_fnop_nowait;	/* FNENI, FNDISI, FNSETPM */
		else if (reg == 5 || reg == 6)
			f = h_fcomi;
		break;
	case 4:		/* DC */
		f = (reg == 2 || reg == 3) ? h_fcom_reg : h_arith_reg;
		break;
	case 5:		/* DD */
		if (reg == 0)
			f = h_ffree;
		else if (reg == 1)
			f = h_fxch;	/* alias */
		else if (reg == 2 || reg == 3)
			f = h_fst_sti;
		else if (reg == 4 || reg == 5)
			f = h_fcom_reg;	/* FUCOM, FUCOMP */
		break;
	case 6:		/* DE */
		if (reg == 2)
			f = h_fcom_reg;	/* FCOMP alias */
		else if (reg == 3)
			f = modrm == 0xd9 ? h_fcom_reg : NULL;	/* FCOMPP */
		else
			f = h_arith_reg;
		break;
	case 7:		/* DF */
		if (reg == 0)
			f = h_ffree;	/* FFREEP */
		else if (reg == 1)
			f = h_fxch;	/* alias */
		else if (reg == 2 || reg == 3)
			f = h_fst_sti;	/* FSTP aliases */
		else if (reg == 4)
			f = modrm == 0xe0 ? x87_h_fnstsw_ax : NULL;
		else if (reg == 5 || reg == 6)
			f = h_fcomi;
		break;
	}
	return f ? f : x87_h_ud;
}
