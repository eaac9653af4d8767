/* SPDX-License-Identifier: MIT */
/*
 * Shared internals of the SIMD module (sse.c, sse_int.c, sse_fp.c,
 * sse_str.c, sse_state.c, sse_host.c).  Not used outside these files.
 *
 * The vector registers live in cpu->fpu.x[] (XMM = low 16 bytes); the MMX
 * registers alias the x87 mantissas (SDM Vol. 1 9.5: MMi is physical
 * register Ri, whatever TOP is).  The host is assumed little-endian, like
 * the guest, so a vector is a plain byte array.
 */
#ifndef NV_SSE_PRIV_H
#define NV_SSE_PRIV_H

#include "cpu.h"
#include "exec.h"
#include "mem.h"

typedef union {
	uint8_t b[16];
	int8_t sb[16];
	uint16_t w[8];
	int16_t sw[8];
	uint32_t d[4];
	int32_t sd[4];
	uint64_t q[2];
	int64_t sq[2];
	float f[4];
	double g[2];
} vec;

/* MXCSR (SDM Vol. 1 10.2.3) */
#define MX_IE 0x0001
#define MX_DE 0x0002
#define MX_ZE 0x0004
#define MX_OE 0x0008
#define MX_UE 0x0010
#define MX_PE 0x0020
#define MX_FLAGS 0x003f
#define MX_DAZ 0x0040
#define MX_MASKS 0x1f80
#define MX_UM 0x0800
#define MX_RC 0x6000
#define MX_FTZ 0x8000
#define MX_MM 0x20000		/* AMD misaligned-exception mask (APM Vol. 1 4.2.2) */

/* ---- checks common to every SIMD instruction (sse.c) ---- */

/* SSE/SSE2+ form: #UD if CR0.EM or !CR4.OSFXSR, then #NM if CR0.TS */
void sse_check(struct cpu *c);
/* MMX form: #UD if CR0.EM, #NM if CR0.TS, #MF if an x87 exception is pending */
void mmx_check(struct cpu *c);
/* feature test: #UD when the CPU model lacks it */
static inline void need(struct cpu *c, int feat)
{
	if (!HAS(c, feat))
		cpu_ud(c);
}
/*
 * An MMX instruction completed: TOP = 0 and every register tagged non-empty
 * (SDM Vol. 1 9.5.1, table 9-3); the full tags follow the contents.
 */
void mmx_enter(struct cpu *c);
static inline uint64_t mmx_get(const struct cpu *c, int r)
{
	return c->fpu.st[r & 7].mant;
}
static inline void mmx_set(struct cpu *c, int r, uint64_t v)
{
	c->fpu.st[r & 7].mant = v;
	c->fpu.st[r & 7].exp = 0xffff;
}
static inline vec *xmm(struct cpu *c, int r)
{
	return (vec *)c->fpu.x[r & 15].b;
}

/* alignment rule of a memory operand */
enum { AL_NONE, AL_16, AL_16_STRICT };	/* STRICT: MOVA*, MOVNT*: #GP even with MXCSR.MM */

/* memory operand: linear address after segment and alignment checks */
uint64_t sse_lin(struct cpu *c, const struct insn *i, int size, int acc, int align);
void sse_ld(struct cpu *c, const struct insn *i, void *dst, int size, int align);
void sse_st(struct cpu *c, const struct insn *i, const void *src, int size, int align);
/* raw linear accesses (checks already done) */
void sse_ld_lin(struct cpu *c, uint64_t lin, void *dst, int size, int acc);
void sse_st_lin(struct cpu *c, uint64_t lin, const void *src, int size, int acc);
static inline int sse_acc(const struct insn *i)
{
	return i->seg == S_SS ? ACC_SS : 0;
}

/* XMM source operand: register, or memory read into *tmp (size bytes, rest 0) */
const vec *xsrc(struct cpu *c, const struct insn *i, vec *tmp, int size, int align);
/* MMX source operand (64 bits) */
uint64_t msrc(struct cpu *c, const struct insn *i);

/* #XM or #UD for an unmasked SIMD FP exception (SDM Vol. 1 11.5.1) */
NORETURN void sse_raise_xm(struct cpu *c);

/* ---- FP back end (sse_fp.c / sse_host.c) ---- */

/*
 * Floating-point operations computed by the back end.  Each one is the
 * register form of the legacy SSE instruction with destination d, source s
 * and (for the conversions from/to integers) the general register g.
 */
enum fpop {
#define FPOP(name, text) FP_##name,
#include "sse_fpops.h"
#undef FPOP
	FP_NOPS
};

struct fp_io {
	vec d, s;
	uint64_t g;		/* GPR operand in/out; RFLAGS after (U)COMIS */
	uint32_t mxcsr;		/* MXCSR to compute under (all exceptions masked) */
	uint32_t flags;		/* out: exception flags raised */
};

/* compute; returns false if the host cannot (no back end) */
bool fp_backend(int op, uint8_t imm, struct fp_io *io);

/* result format for the underflow check when UM = 0 */
enum { RT_NONE, RT_PS, RT_PD, RT_SS, RT_SD, RT_PS2 };

/*
 * Run op under the guest MXCSR, apply the SIMD exception rules, update the
 * MXCSR flags; raises #XM/#UD (destination untouched) for an unmasked one.
 */
void fp_run(struct cpu *c, int op, uint8_t imm, struct fp_io *io, int rtype);

/* handlers in the other files */
#define H(name) void name(struct cpu *c, const struct insn *i)
H(h_sse_fparith); H(h_sse_fpcmp); H(h_sse_comis); H(h_sse_cvt); H(h_sse_cvt_gpr);
H(h_sse_cvt_mmx); H(h_sse_round); H(h_sse_dpp);
H(h_mmx_int); H(h_sse_int); H(h_mmx_shimm); H(h_sse_shimm);
H(h_ssse3_mmx); H(h_ssse3_xmm); H(h_sse41_int); H(h_sse_pmovx);
H(h_sse_ptest); H(h_sse_phminpos); H(h_sse_mpsadbw);
H(h_sse_pcmpstr); H(h_sse_aes); H(h_sse_aeskeygen); H(h_sse_pclmul);
H(h_sse_extrq); H(h_sse_insertq); H(h_sse_movnts);

#endif
