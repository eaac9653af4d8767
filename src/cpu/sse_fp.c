// SPDX-License-Identifier: MIT
/*
 * SIMD floating point: arithmetic, comparisons, conversions, rounding and
 * dot products.  Results and exception flags come from the back end
 * (sse_host.c), computed with every exception masked; this file applies
 * the architectural rules of SDM Vol. 1 11.5 on top:
 *
 *  - all masked: the flags are ORed into MXCSR and the result is stored;
 *  - an unmasked pre-computation exception (invalid, denormal, divide by
 *    zero) in any element: only the pre-computation flags are set, the
 *    destination is unchanged and #XM (or #UD with CR4.OSXMMEXCPT = 0) is
 *    raised (11.5.1: post-computation checks are not made);
 *  - otherwise an unmasked overflow / underflow / precision exception:
 *    every flag detected is set, destination unchanged, #XM.
 *  - with UM = 0 a tiny result signals underflow even when exact
 *    (11.5.2.5), which the masked computation does not flag: a denormal
 *    result is looked for; FTZ does not apply when UM = 0.
 */
#include "sse_priv.h"

static bool has_denormal(const vec *v, int rtype)
{
	int nf = 0, nd = 0;
	switch (rtype) {
	case RT_PS: nf = 4; break;
	case RT_PS2: nf = 2; break;
	case RT_SS: nf = 1; break;
	case RT_PD: nd = 2; break;
	case RT_SD: nd = 1; break;
	default: return false;
	}
	for (int k = 0; k < nf; k++)
		if (!(v->d[k] & 0x7f800000) && (v->d[k] & 0x7fffff))
			return true;
	for (int k = 0; k < nd; k++)
		if (!(v->q[k] & 0x7ff0000000000000ULL) && (v->q[k] & 0xfffffffffffffULL))
			return true;
	return false;
}

void fp_run(struct cpu *c, int op, uint8_t imm, struct fp_io *io, int rtype)
{
	uint32_t mx = c->fpu.mxcsr;
	uint32_t unmasked = ~(mx >> 7) & MX_FLAGS;

	io->mxcsr = mx;
	if (!(mx & MX_UM))
		io->mxcsr &= ~MX_FTZ;
	if (!fp_backend(op, imm, io))
		cpu_internal_error(c, "SIMD floating point needs an x86-64 host (docs/cpu.md, SIMD)");
	uint32_t f = io->flags;
	if (!(mx & MX_UM) && has_denormal(&io->d, rtype))
		f |= MX_UE;
	if (unlikely(f & unmasked)) {
		uint32_t pre = f & (MX_IE | MX_DE | MX_ZE);
		if (pre & unmasked)
			f = pre;

		c->fpu.mxcsr |= f;
		sse_raise_xm(c);
	}
	c->fpu.mxcsr |= f;
}

#define OPB(i) ((i)->op & 0xff)

/* ---- arithmetic: 0F 51-53, 58-5F, 7C, 7D, D0 ------------------------------------ */

/* [opcode - 0x50][mp] -> op; -1 invalid */
static const int16_t arith_ops[16][4] = {
	[0x1] = { FP_SQRTPS, FP_SQRTPD, FP_SQRTSS, FP_SQRTSD },
	[0x2] = { FP_RSQRTPS, -1, FP_RSQRTSS, -1 },
	[0x3] = { FP_RCPPS, -1, FP_RCPSS, -1 },
	[0x8] = { FP_ADDPS, FP_ADDPD, FP_ADDSS, FP_ADDSD },
	[0x9] = { FP_MULPS, FP_MULPD, FP_MULSS, FP_MULSD },
	[0xc] = { FP_SUBPS, FP_SUBPD, FP_SUBSS, FP_SUBSD },
	[0xd] = { FP_MINPS, FP_MINPD, FP_MINSS, FP_MINSD },
	[0xe] = { FP_DIVPS, FP_DIVPD, FP_DIVSS, FP_DIVSD },
	[0xf] = { FP_MAXPS, FP_MAXPD, FP_MAXSS, FP_MAXSD },
};

/*
 * The common shape: XMM destination (reg), XMM or memory source of `size`
 * bytes (16-byte operands must be aligned), one fp_run step, result back
 * to the destination.  sse_check first: #UD/#NM come before the memory
 * operand's faults.
 */
static void xmm_fp_op(struct cpu *c, const struct insn *i, int op, int size, uint8_t imm,
		      int rt)
{
	sse_check(c);
	struct fp_io io;
	vec *d = xmm(c, i->reg);
	const vec *s = xsrc(c, i, &io.s, size, size == 16 ? AL_16 : AL_NONE);
	io.s = *s;
	io.d = *d;
	io.g = 0;
	fp_run(c, op, imm, &io, rt);
	*d = io.d;
}

/* operand size and result format by mandatory prefix: PS, PD, SS, SD */
static const int8_t mp_size[4] = { 16, 16, 4, 8 };
static const int8_t mp_rtype[4] = { RT_PS, RT_PD, RT_SS, RT_SD };

H(h_sse_fparith)
{
	uint8_t b = OPB(i);
	int op, rt = mp_rtype[i->mp], size = mp_size[i->mp];
	if (b == 0x7c || b == 0x7d || b == 0xd0) {
		need(c, FEAT_SSE3);
		if (b == 0xd0)
			op = i->mp == 1 ? FP_ADDSUBPD : FP_ADDSUBPS;
		else if (b == 0x7c)
			op = i->mp == 1 ? FP_HADDPD : FP_HADDPS;
		else
			op = i->mp == 1 ? FP_HSUBPD : FP_HSUBPS;
		rt = i->mp == 1 ? RT_PD : RT_PS;
		size = 16;
	} else {
		op = arith_ops[b - 0x50][i->mp];
		if (op < 0)
			cpu_ud(c);
		/* no underflow from min/max/sqrt/rcp/rsqrt: their results are not rounded sums */
		if (b == 0x51 || b == 0x52 || b == 0x53 || b == 0x5d || b == 0x5f)
			rt = RT_NONE;
	}
	xmm_fp_op(c, i, op, size, 0, rt);
}

/* CMPPS / CMPPD / CMPSS / CMPSD */
H(h_sse_fpcmp)
{
	static const int ops[4] = { FP_CMPPS, FP_CMPPD, FP_CMPSS, FP_CMPSD };
	xmm_fp_op(c, i, ops[i->mp], mp_size[i->mp], (uint8_t)i->imm, RT_NONE);
}

/* COMISS / UCOMISS / COMISD / UCOMISD: ZF PF CF from the compare, OF SF AF = 0 */
H(h_sse_comis)
{
	int op = OPB(i) == 0x2f ? (i->mp ? FP_COMISD : FP_COMISS)
				 : (i->mp ? FP_UCOMISD : FP_UCOMISS);
	sse_check(c);
	struct fp_io io;
	const vec *s = xsrc(c, i, &io.s, i->mp ? 8 : 4, AL_NONE);
	io.s = *s;
	io.d = *xmm(c, i->reg);
	io.g = 0;
	fp_run(c, op, 0, &io, RT_NONE);
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ARITH) | (io.g & (F_ZF | F_PF | F_CF));
}

/* 0F 5A, 5B, E6: conversions between XMM formats */
H(h_sse_cvt)
{
	uint8_t b = OPB(i);
	int op, size, rt = RT_NONE;
	if (b == 0x5a) {
		static const int ops[4] = { FP_CVTPS2PD, FP_CVTPD2PS, FP_CVTSS2SD, FP_CVTSD2SS };
		static const int8_t sz[4] = { 8, 16, 4, 8 };
		static const int8_t rts[4] = { RT_NONE, RT_PS2, RT_NONE, RT_SS };
		op = ops[i->mp];
		size = sz[i->mp];
		rt = rts[i->mp];
	} else if (b == 0x5b) {
		static const int ops[3] = { FP_CVTDQ2PS, FP_CVTPS2DQ, FP_CVTTPS2DQ };
		op = ops[i->mp];
		size = 16;
	} else {
		static const int ops[4] = { -1, FP_CVTTPD2DQ, FP_CVTDQ2PD, FP_CVTPD2DQ };
		op = ops[i->mp];
		size = i->mp == 2 ? 8 : 16;
	}
	xmm_fp_op(c, i, op, size, 0, rt);
}

/* CVTSI2SS/SD (F3/F2 0F 2A), CVT(T)SS2SI / CVT(T)SD2SI (F3/F2 0F 2C, 2D) */
H(h_sse_cvt_gpr)
{
	bool q = (i->rex & 8) && cpu_long64(c);
	bool sd = i->mp == 3;
	uint8_t b = OPB(i);
	sse_check(c);
	struct fp_io io;
	memset(&io, 0, sizeof(io));
	if (b == 0x2a) {
		int n = q ? 8 : 4;
		if (i->mem) {
			uint64_t lin = sse_lin(c, i, n, ACC_R, AL_NONE);
			io.g = lin_ld_acc(c, lin, n, sse_acc(i));
		} else {
			io.g = reg_get(c, i->rm, n);
		}
		vec *d = xmm(c, i->reg);
		io.d = *d;
		int op = sd ? (q ? FP_CVTSI2SD64 : FP_CVTSI2SD32) : (q ? FP_CVTSI2SS64 : FP_CVTSI2SS32);
		fp_run(c, op, 0, &io, RT_NONE);
		*d = io.d;
		return;
	}
	const vec *s = xsrc(c, i, &io.s, sd ? 8 : 4, AL_NONE);
	io.s = *s;
	int op;
	if (b == 0x2c)
		op = sd ? (q ? FP_CVTTSD2SI64 : FP_CVTTSD2SI32) : (q ? FP_CVTTSS2SI64 : FP_CVTTSS2SI32);
	else
		op = sd ? (q ? FP_CVTSD2SI64 : FP_CVTSD2SI32) : (q ? FP_CVTSS2SI64 : FP_CVTSS2SI32);
	fp_run(c, op, 0, &io, RT_NONE);
	reg_set(c, i->reg, q ? 8 : 4, io.g);
}

/*
 * The MMX conversions: CVTPI2PS/PD (0F/66 0F 2A), CVT(T)PS2PI, CVT(T)PD2PI
 * (0F/66 0F 2C, 2D).  They are computed as the XMM conversions of a vector
 * whose other elements are zero (zero converts exactly).  An MMX register
 * operand means the MMX transition (and the #MF check); CVTPI2PS/PD with a
 * memory source leave the x87 state alone (measured on hardware).
 */
H(h_sse_cvt_mmx)
{
	uint8_t b = OPB(i);
	bool pd = i->mp == 1;
	bool to_mmx = b != 0x2a;
	sse_check(c);
	if (to_mmx || !i->mem)
		cpu_x87_check(c);
	struct fp_io io;
	memset(&io, 0, sizeof(io));
	if (!to_mmx) {
		io.s.q[0] = msrc(c, i);
		vec *d = xmm(c, i->reg);
		/* the transition happens even if #XM follows (measured) */
		if (!i->mem)
			mmx_enter(c);
		if (pd) {
			fp_run(c, FP_CVTDQ2PD, 0, &io, RT_NONE);
			*d = io.d;
		} else {
			fp_run(c, FP_CVTDQ2PS, 0, &io, RT_NONE);
			d->q[0] = io.d.q[0];
		}
		return;
	}
	const vec *s = xsrc(c, i, &io.s, pd ? 16 : 8, pd ? AL_16 : AL_NONE);
	io.s = *s;
	if (!pd)
		io.s.q[1] = 0;
	int op = pd ? (b == 0x2c ? FP_CVTTPD2DQ : FP_CVTPD2DQ)
		    : (b == 0x2c ? FP_CVTTPS2DQ : FP_CVTPS2DQ);
	mmx_enter(c);
	fp_run(c, op, 0, &io, RT_NONE);
	mmx_set(c, i->reg, io.d.q[0]);
	mmx_enter(c);
}

/* ROUNDPS/PD/SS/SD (SSE4.1) */
H(h_sse_round)
{
	static const int ops[4] = { FP_ROUNDPS, FP_ROUNDPD, FP_ROUNDSS, FP_ROUNDSD };
	static const int8_t sz[4] = { 16, 16, 4, 8 };
	int k = OPB(i) - 0x08;
	need(c, FEAT_SSE41);
	xmm_fp_op(c, i, ops[k], sz[k], (uint8_t)i->imm, RT_NONE);
}

/*
 * DPPS / DPPD (SSE4.1).  Computed in the SDM's steps, each rounded and
 * checked for exceptions on its own: the products of the selected
 * elements, then the pairwise sums, then the final sum.  An unmasked
 * exception in a step stops the instruction there, with the flags of the
 * earlier steps set (matches hardware, which does not see the denormal
 * products of a step that traps).
 */
H(h_sse_dpp)
{
	bool pd = OPB(i) == 0x41;
	uint8_t im = (uint8_t)i->imm;
	need(c, FEAT_SSE41);
	sse_check(c);
	struct fp_io io;
	vec *d = xmm(c, i->reg);
	vec t;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	vec r;
	memset(&io, 0, sizeof(io));
	memset(&r, 0, sizeof(r));
	if (pd) {
		for (int k = 0; k < 2; k++)
			if ((im >> (4 + k)) & 1) {
				io.d.q[k] = d->q[k];
				io.s.q[k] = s->q[k];
			}
		fp_run(c, FP_MULPD, 0, &io, RT_PD);
		vec p = io.d;
		memset(&io, 0, sizeof(io));
		io.d.q[0] = p.q[0];
		io.s.q[0] = p.q[1];
		fp_run(c, FP_ADDSD, 0, &io, RT_SD);
		for (int k = 0; k < 2; k++)
			r.q[k] = (im >> k) & 1 ? io.d.q[0] : 0;
	} else {
		for (int k = 0; k < 4; k++)
			if ((im >> (4 + k)) & 1) {
				io.d.d[k] = d->d[k];
				io.s.d[k] = s->d[k];
			}
		fp_run(c, FP_MULPS, 0, &io, RT_PS);
		vec p = io.d;
		memset(&io, 0, sizeof(io));
		io.d.d[0] = p.d[0];
		io.d.d[1] = p.d[2];
		io.s.d[0] = p.d[1];
		io.s.d[1] = p.d[3];
		fp_run(c, FP_ADDPS, 0, &io, RT_PS2);
		vec q = io.d;
		memset(&io, 0, sizeof(io));
		io.d.d[0] = q.d[0];
		io.s.d[0] = q.d[1];
		fp_run(c, FP_ADDSS, 0, &io, RT_SS);
		for (int k = 0; k < 4; k++)
			r.d[k] = (im >> k) & 1 ? io.d.d[0] : 0;
	}
	*d = r;
}
