// SPDX-License-Identifier: MIT
/*
 * MMX, SSE through SSE4.2, SSE4a, AES-NI and PCLMULQDQ: the opcode table
 * (sse_lookup), the checks every SIMD instruction shares, memory operands
 * with the alignment rules, and the data-movement / logic / shuffle
 * instructions.  Arithmetic lives in sse_int.c (integer), sse_fp.c
 * (floating point) and sse_str.c (strings, AES, CLMUL, SSE4a); the state
 * save instructions in sse_state.c.
 *
 * VEX encodings are #UD: the CPU models do not advertise AVX.
 */
#include "sse_priv.h"
#include "fpu.h"

/* ---- checks ----------------------------------------------------------------- */

/*
 * SDM Vol. 2 "SIMD Floating-Point / Integer exception" tables (class 4
 * etc.): #UD if CR0.EM = 1 or CR4.OSFXSR = 0, then #NM if CR0.TS = 1.
 */
void sse_check(struct cpu *c)
{
	if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR))
		cpu_ud(c);
	if (c->cr0 & CR0_TS)
		cpu_raise(c, EXC_NM);
}

/* MMX (SDM Vol. 1 9.6.x, table 22-? of Vol. 3): #UD, #NM, then pending #MF */
void mmx_check(struct cpu *c)
{
	if (c->cr0 & CR0_EM)
		cpu_ud(c);
	if (c->cr0 & CR0_TS)
		cpu_raise(c, EXC_NM);
	cpu_x87_check(c);
}

void mmx_enter(struct cpu *c)
{
	c->fpu.fsw &= ~0x3800;
	c->fpu.top_cache = 0;
	c->fpu.ftw = fpu_full_tag(c, 0xff);
}

NORETURN void sse_raise_xm(struct cpu *c)
{
	/* SDM Vol. 1 11.5.1: #XM only if CR4.OSXMMEXCPT, else #UD */
	if (c->cr4 & CR4_OSXMMEXCPT)
		cpu_raise(c, EXC_XM);
	cpu_ud(c);
}

/* ---- memory operands -------------------------------------------------------- */

/*
 * Segment checks, then the 16-byte alignment rule: #GP(0) whatever the
 * segment (SDM Vol. 3 6.15 / Vol. 1 11.4.4; not #SS).  AMD misaligned SSE
 * mode (CPUID 8000_0001h ECX[7], MXCSR.MM, APM Vol. 1 4.4.5) lifts it for
 * everything but the explicitly aligned moves MOVA* and MOVNT*.
 */
uint64_t sse_lin(struct cpu *c, const struct insn *i, int size, int acc, int align)
{
	uint64_t lin = seg_lin(c, i->seg, insn_ea(c, i), size, acc);
	if (align != AL_NONE && (lin & 15)) {
		if (!(align == AL_16 && (c->fpu.mxcsr & MX_MM) && HAS(c, FEAT_MISALIGNSSE)))
			cpu_gp0(c);
	}
	return lin;
}

/*
 * 16-byte accesses go as 8-byte pieces: #AC (if enabled) then checks 8-byte
 * alignment, which is what the SDM allows for MOVUPS & co. (Vol. 3 6.15).
 */
void sse_ld_lin(struct cpu *c, uint64_t lin, void *dst, int size, int acc)
{
	uint8_t *d = dst;
	while (size > 0) {
		int n = size >= 8 ? 8 : size;
		uint64_t v = lin_ld_acc(c, lin, n, acc);
		memcpy(d, &v, n);
		d += n;
		size -= n;
		lin = (lin + n) & c->lin_mask;
	}
}

void sse_st_lin(struct cpu *c, uint64_t lin, const void *src, int size, int acc)
{
	const uint8_t *s = src;
	/* all or nothing: a store that crosses a page checks both first */
	if ((lin & 0xfff) + (uint64_t)size > 0x1000)
		mem_probe(c, lin, size, ACC_W | acc);
	while (size > 0) {
		int n = size >= 8 ? 8 : size;
		uint64_t v = 0;
		memcpy(&v, s, n);
		lin_st_acc(c, lin, n, v, acc);
		s += n;
		size -= n;
		lin = (lin + n) & c->lin_mask;
	}
}

void sse_ld(struct cpu *c, const struct insn *i, void *dst, int size, int align)
{
	uint64_t lin = sse_lin(c, i, size, ACC_R, align);
	sse_ld_lin(c, lin, dst, size, sse_acc(i));
}

void sse_st(struct cpu *c, const struct insn *i, const void *src, int size, int align)
{
	uint64_t lin = sse_lin(c, i, size, ACC_W, align);
	sse_st_lin(c, lin, src, size, sse_acc(i));
}

const vec *xsrc(struct cpu *c, const struct insn *i, vec *tmp, int size, int align)
{
	if (!i->mem)
		return xmm(c, i->rm);
	memset(tmp, 0, sizeof(*tmp));
	sse_ld(c, i, tmp, size, align);
	return tmp;
}

uint64_t msrc(struct cpu *c, const struct insn *i)
{
	if (!i->mem)
		return mmx_get(c, i->rm);
	uint64_t lin = sse_lin(c, i, 8, ACC_R, AL_NONE);
	return lin_ld_acc(c, lin, 8, sse_acc(i));
}

/* general-register operand size of MOVD/MOVQ, PEXTRD/Q, CVTSI2SS ... */
static inline int gpr_size(const struct cpu *c, const struct insn *i)
{
	return (i->rex & 8) && cpu_long64(c) ? 8 : 4;
}

static uint64_t gsrc(struct cpu *c, const struct insn *i, int size)
{
	if (!i->mem)
		return reg_get(c, i->rm, size);
	uint64_t lin = sse_lin(c, i, size, ACC_R, AL_NONE);
	return lin_ld_acc(c, lin, size, sse_acc(i));
}

static void gdst(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	if (!i->mem) {
		reg_set(c, i->rm, size, v);
		return;
	}
	uint64_t lin = sse_lin(c, i, size, ACC_W, AL_NONE);
	lin_st_acc(c, lin, size, v, sse_acc(i));
}

#define OPB(i) ((i)->op & 0xff)

/* ---- moves -------------------------------------------------------------------- */

/* MOVUPS/MOVUPD/MOVAPS/MOVAPD/MOVDQU/MOVDQA/LDDQU/MOVNTDQA loads */
static void h_movx_ld(struct cpu *c, const struct insn *i)
{
	int al = AL_NONE;
	uint8_t op = OPB(i);
	if (op == 0x28 || (op == 0x6f && i->mp == 1) || op == 0x2a)
		al = AL_16_STRICT;
	if (op == 0x2a)
		need(c, FEAT_SSE41);
	if (op == 0xf0)
		need(c, FEAT_SSE3);
	sse_check(c);
	vec t;
	const vec *s = xsrc(c, i, &t, 16, al);
	*xmm(c, i->reg) = *s;
}

/* stores of the same family, and MOVNTPS/MOVNTPD/MOVNTDQ */
static void h_movx_st(struct cpu *c, const struct insn *i)
{
	uint8_t op = OPB(i);
	int al = (op == 0x11 || (op == 0x7f && i->mp == 2)) ? AL_NONE : AL_16_STRICT;
	sse_check(c);
	if (i->mem)
		sse_st(c, i, xmm(c, i->reg), 16, al);
	else
		*xmm(c, i->rm) = *xmm(c, i->reg);
}

/* MOVSS / MOVSD (F3/F2 0F 10, 11) */
static void h_movs_ld(struct cpu *c, const struct insn *i)
{
	int n = i->mp == 2 ? 4 : 8;
	sse_check(c);
	vec *d = xmm(c, i->reg);
	if (i->mem) {
		vec t;
		memset(&t, 0, sizeof(t));
		sse_ld(c, i, &t, n, AL_NONE);
		*d = t;
	} else {
		memcpy(d, xmm(c, i->rm), n);
	}
}

static void h_movs_st(struct cpu *c, const struct insn *i)
{
	int n = i->mp == 2 ? 4 : 8;
	sse_check(c);
	if (i->mem)
		sse_st(c, i, xmm(c, i->reg), n, AL_NONE);
	else
		memcpy(xmm(c, i->rm), xmm(c, i->reg), n);
}

/* 0F 12 / 0F 16: MOVLPS MOVHLPS MOVLPD / MOVHPS MOVLHPS MOVHPD */
static void h_movlh_ld(struct cpu *c, const struct insn *i)
{
	bool high = OPB(i) == 0x16;
	sse_check(c);
	vec *d = xmm(c, i->reg);
	uint64_t v;
	if (i->mem) {
		sse_ld(c, i, &v, 8, AL_NONE);
	} else {
		const vec *s = xmm(c, i->rm);
		v = high ? s->q[0] : s->q[1];	/* MOVLHPS : MOVHLPS */
	}
	d->q[high] = v;
}

/* 0F 13 / 0F 17: MOVLPS/MOVLPD/MOVHPS/MOVHPD m64, xmm */
static void h_movlh_st(struct cpu *c, const struct insn *i)
{
	sse_check(c);
	sse_st(c, i, &xmm(c, i->reg)->q[OPB(i) == 0x17], 8, AL_NONE);
}

/* MOVSLDUP / MOVSHDUP / MOVDDUP */
static void h_movdup(struct cpu *c, const struct insn *i)
{
	need(c, FEAT_SSE3);
	sse_check(c);
	vec t, r;
	if (i->mp == 3) {
		const vec *s = xsrc(c, i, &t, 8, AL_NONE);
		r.q[0] = r.q[1] = s->q[0];
	} else {
		const vec *s = xsrc(c, i, &t, 16, AL_16);
		int o = OPB(i) == 0x16;
		r.d[0] = r.d[1] = s->d[o];
		r.d[2] = r.d[3] = s->d[2 + o];
	}
	*xmm(c, i->reg) = r;
}

/* MOVNTSS / MOVNTSD (SSE4a, AMD APM Vol. 4) */
H(h_sse_movnts)
{
	need(c, FEAT_SSE4A);
	sse_check(c);
	sse_st(c, i, xmm(c, i->reg), i->mp == 2 ? 4 : 8, AL_NONE);
}

/* MOVMSKPS / MOVMSKPD */
static void h_movmskp(struct cpu *c, const struct insn *i)
{
	sse_check(c);
	const vec *s = xmm(c, i->rm);
	uint32_t m = 0;
	if (i->mp == 1)
		m = (uint32_t)(s->q[0] >> 63) | (uint32_t)(s->q[1] >> 63) << 1;
	else
		for (int k = 0; k < 4; k++)
			m |= (s->d[k] >> 31) << k;
	reg_set(c, i->reg, 4, m);
}

/* PMOVMSKB */
static void h_pmovmskb(struct cpu *c, const struct insn *i)
{
	uint32_t m = 0;
	if (i->mp == 1) {
		sse_check(c);
		const vec *s = xmm(c, i->rm);
		for (int k = 0; k < 16; k++)
			m |= (uint32_t)(s->b[k] >> 7) << k;
	} else {
		mmx_check(c);
		uint64_t v = mmx_get(c, i->rm);
		for (int k = 0; k < 8; k++)
			m |= (uint32_t)((v >> (8 * k + 7)) & 1) << k;
		mmx_enter(c);
	}
	reg_set(c, i->reg, 4, m);
}

/* 0F 6E: MOVD/MOVQ mm|xmm, r/m32|64 */
static void h_movd_to(struct cpu *c, const struct insn *i)
{
	int n = gpr_size(c, i);
	if (i->mp == 1) {
		sse_check(c);
		uint64_t v = gsrc(c, i, n);
		vec *d = xmm(c, i->reg);
		d->q[0] = v;
		d->q[1] = 0;
	} else {
		mmx_check(c);
		uint64_t v = gsrc(c, i, n);
		mmx_set(c, i->reg, v);
		mmx_enter(c);
	}
}

/* 0F 7E: MOVD/MOVQ r/m, mm|xmm; F3: MOVQ xmm, xmm/m64 */
static void h_movd_from(struct cpu *c, const struct insn *i)
{
	int n = gpr_size(c, i);
	if (i->mp == 2) {
		sse_check(c);
		vec t;
		const vec *s = xsrc(c, i, &t, 8, AL_NONE);
		vec *d = xmm(c, i->reg);
		d->q[0] = s->q[0];
		d->q[1] = 0;
	} else if (i->mp == 1) {
		sse_check(c);
		gdst(c, i, n, xmm(c, i->reg)->q[0] & sz_mask(n));
	} else {
		mmx_check(c);
		gdst(c, i, n, mmx_get(c, i->reg) & sz_mask(n));
		mmx_enter(c);
	}
}

/* 0F 6F / 0F 7F without prefix: MOVQ mm, mm/m64 and MOVQ mm/m64, mm */
static void h_movq_mmx(struct cpu *c, const struct insn *i)
{
	mmx_check(c);
	if (OPB(i) == 0x6f) {
		mmx_set(c, i->reg, msrc(c, i));
	} else if (i->mem) {
		uint64_t lin = sse_lin(c, i, 8, ACC_W, AL_NONE);
		lin_st_acc(c, lin, 8, mmx_get(c, i->reg), sse_acc(i));
	} else {
		mmx_set(c, i->rm, mmx_get(c, i->reg));
	}
	mmx_enter(c);
}

/* MOVNTQ m64, mm */
static void h_movntq(struct cpu *c, const struct insn *i)
{
	mmx_check(c);
	uint64_t lin = sse_lin(c, i, 8, ACC_W, AL_NONE);
	lin_st_acc(c, lin, 8, mmx_get(c, i->reg), sse_acc(i));
	mmx_enter(c);
}

/* 0F D6: MOVQ xmm/m64, xmm (66); MOVQ2DQ (F3); MOVDQ2Q (F2) */
static void h_movq_d6(struct cpu *c, const struct insn *i)
{
	if (i->mp == 1) {
		sse_check(c);
		uint64_t v = xmm(c, i->reg)->q[0];
		if (i->mem) {
			sse_st(c, i, &v, 8, AL_NONE);
		} else {
			vec *d = xmm(c, i->rm);
			d->q[0] = v;
			d->q[1] = 0;
		}
		return;
	}
	/* both are SSE2 instructions that touch MMX state: both checks */
	sse_check(c);
	cpu_x87_check(c);
	if (i->mp == 2) {
		vec *d = xmm(c, i->reg);
		d->q[0] = mmx_get(c, i->rm);
		d->q[1] = 0;
	} else {
		mmx_set(c, i->reg, xmm(c, i->rm)->q[0]);
	}
	mmx_enter(c);
}

/* MASKMOVQ / MASKMOVDQU: byte stores to DS:rDI (segment overridable) */
static void h_maskmov(struct cpu *c, const struct insn *i)
{
	uint8_t data[16], mask[16];
	int n;
	if (i->mp == 1) {
		sse_check(c);
		n = 16;
		memcpy(data, xmm(c, i->reg), 16);
		memcpy(mask, xmm(c, i->rm), 16);
	} else {
		mmx_check(c);
		n = 8;
		uint64_t d = mmx_get(c, i->reg), m = mmx_get(c, i->rm);
		memcpy(data, &d, 8);
		memcpy(mask, &m, 8);
	}
	int s = (i->pfx & PFX_SEG) ? i->seg : S_DS;
	uint64_t ea = ea_mask(c->gpr[R_DI], i->asz);
	uint64_t lin = seg_lin(c, s, ea, n, ACC_W);
	int acc = s == S_SS ? ACC_SS : 0;
	bool any = false;
	for (int k = 0; k < n; k++)
		any |= mask[k] >> 7;
	if (any) {
		mem_probe(c, lin, n, ACC_W | acc);
		for (int k = 0; k < n; k++)
			if (mask[k] & 0x80)
				lin_st_acc(c, (lin + k) & c->lin_mask, 1, data[k], acc);
	}
	if (n == 8)
		mmx_enter(c);
}

/* EMMS: every tag empty, TOP = 0 (measured on hardware) */
static void h_emms(struct cpu *c, const struct insn *i)
{
	mmx_check(c);
	c->fpu.fsw &= ~0x3800;
	c->fpu.top_cache = 0;
	c->fpu.ftw = 0xffff;
}

/* ---- logic, unpack, shuffle (FP domain) ----------------------------------------- */

static void h_fplogic(struct cpu *c, const struct insn *i)
{
	sse_check(c);
	vec t;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	vec *d = xmm(c, i->reg);
	for (int k = 0; k < 2; k++) {
		switch (OPB(i)) {
		case 0x54: d->q[k] &= s->q[k]; break;
		case 0x55: d->q[k] = ~d->q[k] & s->q[k]; break;
		case 0x56: d->q[k] |= s->q[k]; break;
		default: d->q[k] ^= s->q[k]; break;
		}
	}
}

static void h_unpckp(struct cpu *c, const struct insn *i)
{
	sse_check(c);
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	vec *d = xmm(c, i->reg);
	int hi = OPB(i) == 0x15;
	if (i->mp == 1) {
		r.q[0] = d->q[hi];
		r.q[1] = s->q[hi];
	} else {
		r.d[0] = d->d[2 * hi];
		r.d[1] = s->d[2 * hi];
		r.d[2] = d->d[2 * hi + 1];
		r.d[3] = s->d[2 * hi + 1];
	}
	*d = r;
}

static void h_shufp(struct cpu *c, const struct insn *i)
{
	sse_check(c);
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	vec *d = xmm(c, i->reg);
	uint8_t im = (uint8_t)i->imm;
	if (i->mp == 1) {
		r.q[0] = d->q[im & 1];
		r.q[1] = s->q[(im >> 1) & 1];
	} else {
		r.d[0] = d->d[im & 3];
		r.d[1] = d->d[(im >> 2) & 3];
		r.d[2] = s->d[(im >> 4) & 3];
		r.d[3] = s->d[(im >> 6) & 3];
	}
	*d = r;
}

/* PSHUFW / PSHUFD / PSHUFHW / PSHUFLW */
static void h_pshuf(struct cpu *c, const struct insn *i)
{
	uint8_t im = (uint8_t)i->imm;
	if (i->mp == 0) {
		mmx_check(c);
		uint64_t s = msrc(c, i), r = 0;
		for (int k = 0; k < 4; k++)
			r |= ((s >> (16 * ((im >> (2 * k)) & 3))) & 0xffff) << (16 * k);
		mmx_set(c, i->reg, r);
		mmx_enter(c);
		return;
	}
	sse_check(c);
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	r = *s;
	if (i->mp == 1) {
		for (int k = 0; k < 4; k++)
			r.d[k] = s->d[(im >> (2 * k)) & 3];
	} else {
		int base = i->mp == 2 ? 4 : 0;	/* F3: high words, F2: low words */
		for (int k = 0; k < 4; k++)
			r.w[base + k] = s->w[base + ((im >> (2 * k)) & 3)];
	}
	*xmm(c, i->reg) = r;
}

/* PINSRW (0F C4) */
static void h_pinsrw(struct cpu *c, const struct insn *i)
{
	if (i->mp == 1)
		sse_check(c);
	else
		mmx_check(c);
	uint16_t v = (uint16_t)gsrc(c, i, 2);
	if (i->mp == 1) {
		xmm(c, i->reg)->w[i->imm & 7] = v;
	} else {
		int sh = 16 * (i->imm & 3);
		uint64_t m = mmx_get(c, i->reg);
		m = (m & ~(0xffffULL << sh)) | ((uint64_t)v << sh);
		mmx_set(c, i->reg, m);
		mmx_enter(c);
	}
}

/* PEXTRW r32, mm|xmm, imm8 (0F C5) */
static void h_pextrw(struct cpu *c, const struct insn *i)
{
	uint16_t v;
	if (i->mp == 1) {
		sse_check(c);
		v = xmm(c, i->rm)->w[i->imm & 7];
	} else {
		mmx_check(c);
		v = (uint16_t)(mmx_get(c, i->rm) >> (16 * (i->imm & 3)));
		mmx_enter(c);
	}
	reg_set(c, i->reg, cpu_long64(c) ? 8 : 4, v);
}

/* ---- the table ------------------------------------------------------------------ */

/* handler for legacy-encoded opcode `op` of `map` with mandatory prefix mp */
static insn_fn lookup_0f(uint8_t op, int mp, bool mem, uint8_t modrm)
{
	switch (op) {
	case 0x10: return mp < 2 ? h_movx_ld : h_movs_ld;
	case 0x11: return mp < 2 ? h_movx_st : h_movs_st;
	case 0x12:
		if (mp == 2 || mp == 3)
			return h_movdup;
		return (mp == 1 && !mem) ? NULL : h_movlh_ld;
	case 0x13: case 0x17:
		return (mp < 2 && mem) ? h_movlh_st : NULL;
	case 0x14: case 0x15: return mp < 2 ? h_unpckp : NULL;
	case 0x16:
		if (mp == 2)
			return h_movdup;
		if (mp == 3)
			return NULL;
		return (mp == 1 && !mem) ? NULL : h_movlh_ld;
	case 0x28: return mp < 2 ? h_movx_ld : NULL;
	case 0x29: return mp < 2 ? h_movx_st : NULL;
	case 0x2a: return mp < 2 ? h_sse_cvt_mmx : h_sse_cvt_gpr;
	case 0x2b:
		if (!mem)
			return NULL;
		return mp < 2 ? h_movx_st : h_sse_movnts;
	case 0x2c: case 0x2d: return mp < 2 ? h_sse_cvt_mmx : h_sse_cvt_gpr;
	case 0x2e: case 0x2f: return mp < 2 ? h_sse_comis : NULL;
	case 0x50: return (mp < 2 && !mem) ? h_movmskp : NULL;
	case 0x51: return h_sse_fparith;
	case 0x52: case 0x53: return (mp == 0 || mp == 2) ? h_sse_fparith : NULL;
	case 0x54: case 0x55: case 0x56: case 0x57: return mp < 2 ? h_fplogic : NULL;
	case 0x58: case 0x59: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
		return h_sse_fparith;
	case 0x5a: return h_sse_cvt;
	case 0x5b: return mp < 3 ? h_sse_cvt : NULL;
	case 0x60: case 0x61: case 0x62: case 0x63: case 0x64: case 0x65: case 0x66:
	case 0x67: case 0x68: case 0x69: case 0x6a: case 0x6b:
		return mp == 0 ? h_mmx_int : mp == 1 ? h_sse_int : NULL;
	case 0x6c: case 0x6d: return mp == 1 ? h_sse_int : NULL;
	case 0x6e: return mp < 2 ? h_movd_to : NULL;
	case 0x6f:
		return mp == 0 ? h_movq_mmx : mp == 3 ? NULL : h_movx_ld;
	case 0x70: return h_pshuf;
	case 0x71: case 0x72: case 0x73: {
		if (mem || mp > 1)
			return NULL;
		return mp == 0 ? h_mmx_shimm : h_sse_shimm;
	}
	case 0x74: case 0x75: case 0x76:
		return mp == 0 ? h_mmx_int : mp == 1 ? h_sse_int : NULL;
	case 0x77: return mp == 0 ? h_emms : NULL;
	case 0x78:	/* EXTRQ xmm, imm8, imm8 (66, /0) / INSERTQ xmm, xmm, imm8, imm8 (F2) */
		if (mem)
			return NULL;
		if (mp == 1)
			return ((modrm >> 3) & 7) == 0 ? h_sse_extrq : NULL;
		return mp == 3 ? h_sse_insertq : NULL;
	case 0x79:
		if (mem)
			return NULL;
		return mp == 1 ? h_sse_extrq : mp == 3 ? h_sse_insertq : NULL;
	case 0x7c: case 0x7d: return (mp == 1 || mp == 3) ? h_sse_fparith : NULL;
	case 0x7e: return mp < 3 ? h_movd_from : NULL;
	case 0x7f: return mp == 0 ? h_movq_mmx : mp == 3 ? NULL : h_movx_st;
	case 0xc2: return h_sse_fpcmp;
	case 0xc4: return mp < 2 ? h_pinsrw : NULL;
	case 0xc5: return (mp < 2 && !mem) ? h_pextrw : NULL;
	case 0xc6: return mp < 2 ? h_shufp : NULL;
	case 0xd0: return (mp == 1 || mp == 3) ? h_sse_fparith : NULL;
	case 0xd6:
		if (mp == 1)
			return h_movq_d6;
		return (mp >= 2 && !mem) ? h_movq_d6 : NULL;
	case 0xd7: return (mp < 2 && !mem) ? h_pmovmskb : NULL;
	case 0xe6: return mp ? h_sse_cvt : NULL;
	case 0xe7:
		if (!mem || mp > 1)
			return NULL;
		return mp == 0 ? h_movntq : h_movx_st;
	case 0xf0: return (mp == 3 && mem) ? h_movx_ld : NULL;
	case 0xf7: return (mp < 2 && !mem) ? h_maskmov : NULL;
	}
	if ((op >= 0xd1 && op <= 0xfe) || (op >= 0x60 && op <= 0x7f))
		return mp == 0 ? h_mmx_int : mp == 1 ? h_sse_int : NULL;
	return NULL;
}

static insn_fn lookup_0f38(uint8_t op, int mp, bool mem)
{
	if (op <= 0x0b || (op >= 0x1c && op <= 0x1e))
		return mp == 0 ? h_ssse3_mmx : mp == 1 ? h_ssse3_xmm : NULL;
	if (mp != 1)
		return NULL;
	switch (op) {
	case 0x10: case 0x14: case 0x15:
	case 0x28: case 0x29: case 0x2b: case 0x37:
	case 0x38: case 0x39: case 0x3a: case 0x3b: case 0x3c: case 0x3d: case 0x3e:
	case 0x3f: case 0x40:
		return h_sse41_int;
	case 0x17: return h_sse_ptest;
	case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25:
	case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35:
		return h_sse_pmovx;
	case 0x2a: return mem ? h_movx_ld : NULL;
	case 0x41: return h_sse_phminpos;
	case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf: return h_sse_aes;
	}
	return NULL;
}

static insn_fn lookup_0f3a(uint8_t op, int mp, bool mem)
{
	if (op == 0x0f)
		return mp == 0 ? h_ssse3_mmx : mp == 1 ? h_ssse3_xmm : NULL;
	if (mp != 1)
		return NULL;
	switch (op) {
	case 0x08: case 0x09: case 0x0a: case 0x0b: return h_sse_round;
	case 0x0c: case 0x0d: case 0x0e:
	case 0x14: case 0x15: case 0x16: case 0x17:
	case 0x20: case 0x21: case 0x22:
		return h_sse41_int;
	case 0x40: case 0x41: return h_sse_dpp;
	case 0x42: return h_sse_mpsadbw;
	case 0x44: return h_sse_pclmul;
	case 0x60: case 0x61: case 0x62: case 0x63: return h_sse_pcmpstr;
	case 0xdf: return h_sse_aeskeygen;
	}
	return NULL;
}

insn_fn sse_lookup(int map, uint8_t opcode, int mp, uint8_t modrm, bool vex,
		   const struct insn *i)
{
	bool mem = (modrm >> 6) != 3;
	if (vex)
		return NULL;	/* no AVX in the models: VEX SSE forms are #UD */
	(void)i;
	switch (map) {
	case 1: return lookup_0f(opcode, mp, mem, modrm);
	case 2: return lookup_0f38(opcode, mp, mem);
	case 3: return lookup_0f3a(opcode, mp, mem);
	}
	return NULL;
}
