// SPDX-License-Identifier: MIT
/*
 * State save and restore: FXSAVE/FXRSTOR (SDM Vol. 2; AMD fast FXSAVE),
 * LDMXCSR/STMXCSR, and the XSAVE family (SDM Vol. 1 ch. 13): XSAVE,
 * XSAVEOPT, XSAVEC, XSAVES, XRSTOR, XRSTORS with the standard and the
 * compacted formats.
 *
 * Every check and every memory fault comes before any state changes:
 * images are probed for writing (so a #PF reports a write) or read into a
 * buffer in full before they are loaded.
 */
#include "sse_priv.h"
#include "fpu.h"

#define XS_HDR 512
#define XS_LEGACY_COMPS 3ULL
#define XCOMP_FORMAT (1ULL << 63)

static uint64_t area_lin(struct cpu *c, const struct insn *i, int size, int acc, int align)
{
	uint64_t lin = seg_lin(c, i->seg, insn_ea(c, i), size, acc);
	if (lin & (align - 1))
		cpu_gp0(c);
	return lin;
}

static int nxmm(const struct cpu *c)
{
	return cpu_long64(c) ? 16 : 8;
}

static bool fmt64(const struct cpu *c, const struct insn *i)
{
	return (i->rex & 8) && cpu_long64(c);
}

/*
 * AMD fast FXSAVE/FXRSTOR (APM Vol. 2 3.1.7, EFER.FFXSR): at CPL 0 in
 * 64-bit mode the XMM registers are neither saved nor restored.
 */
static bool ffxsr(const struct cpu *c)
{
	return (c->efer & EFER_FFXSR) && cpu_long64(c) && c->cpl == 0 &&
	       c->model->vendor == VENDOR_AMD;
}

/* FXSAVE/FXRSTOR: #UD with CR0.EM, #NM with CR0.TS (OSFXSR is not required) */
static void fx_check(struct cpu *c)
{
	if (c->cr0 & CR0_EM)
		cpu_ud(c);
	if (c->cr0 & CR0_TS)
		cpu_raise(c, EXC_NM);
}

H(h_fxsave)
{
	fx_check(c);
	uint64_t lin = area_lin(c, i, 512, ACC_W, 16);
	int acc = sse_acc(i);
	mem_probe(c, lin, 512, ACC_W | acc);
	uint8_t b[512];
	/* bytes 416-511 (and the XMM8-15 area outside 64-bit mode) keep their contents */
	sse_ld_lin(c, lin, b, 512, acc);
	fpu_fxsave_image(c, b, fmt64(c, i), ffxsr(c) ? 0 : nxmm(c));
	sse_st_lin(c, lin, b, 512, acc);
}

H(h_fxrstor)
{
	fx_check(c);
	uint64_t lin = area_lin(c, i, 512, ACC_R, 16);
	uint8_t b[512];
	sse_ld_lin(c, lin, b, 512, sse_acc(i));
	if (fpu_fxrstor_image(c, b, fmt64(c, i), ffxsr(c) ? 0 : nxmm(c)) < 0)
		cpu_gp0(c);	/* reserved MXCSR bits */
}

H(h_ldmxcsr)
{
	sse_check(c);
	uint64_t lin = sse_lin(c, i, 4, ACC_R, AL_NONE);
	uint32_t v = (uint32_t)lin_ld_acc(c, lin, 4, sse_acc(i));
	if (v & ~fpu_mxcsr_mask(c))
		cpu_gp0(c);
	c->fpu.mxcsr = v;
}

H(h_stmxcsr)
{
	sse_check(c);
	uint64_t lin = sse_lin(c, i, 4, ACC_W, AL_NONE);
	lin_st_acc(c, lin, 4, c->fpu.mxcsr, sse_acc(i));
}

/* ---- XSAVE family ------------------------------------------------------------------ */

/* component sizes / standard offsets (CPUID leaf 0Dh of the models) */
static int comp_size(int k)
{
	return k == 2 ? 256 : k == 9 ? 8 : 0;
}

static int comp_std_off(int k)
{
	return k == 2 ? 576 : k == 9 ? 0xa80 : 0;
}

/* compacted offset of component k given XCOMP_BV (no component needs 64-byte alignment) */
static int comp_cmp_off(uint64_t xcomp, int k)
{
	int off = 576;
	for (int j = 2; j < k; j++)
		if ((xcomp >> j) & 1)
			off += comp_size(j);
	return off;
}

enum { XS_STD, XS_OPT, XS_CMP, XS_SUP };

static void xs_common_checks(struct cpu *c, int feat)
{
	if (!HAS(c, FEAT_XSAVE) || !(c->cr4 & CR4_OSXSAVE))
		cpu_ud(c);
	if (feat >= 0 && !HAS(c, feat))
		cpu_ud(c);
}

static uint64_t edx_eax(const struct cpu *c)
{
	return (uint32_t)c->gpr[R_AX] | (c->gpr[R_DX] << 32);
}

/* write n bytes of src at offset off of the area */
static void xs_put(struct cpu *c, uint64_t lin, int off, const void *src, int n, int acc)
{
	sse_st_lin(c, (lin + off) & c->lin_mask, src, n, acc);
}

static void xsave_any(struct cpu *c, const struct insn *i, int kind)
{
	static const int feats[4] = { -1, FEAT_XSAVEOPT, FEAT_XSAVEC, FEAT_XSAVES };
	xs_common_checks(c, feats[kind]);
	if (kind == XS_SUP && c->cpl)
		cpu_gp0(c);
	if (c->cr0 & CR0_TS)
		cpu_raise(c, EXC_NM);
	uint64_t xcr0 = c->fpu.xcr0 | (kind == XS_SUP ? c->fpu.xss : 0);
	uint64_t rfbm = edx_eax(c) & xcr0;
	uint64_t inuse = fpu_xinuse(c);
	bool compact = kind >= XS_CMP;
	/* components actually written */
	uint64_t wr = kind == XS_STD ? rfbm : rfbm & inuse;
	int acc = sse_acc(i);
	int size = 576;
	for (int k = 2; k < 63; k++)
		if ((rfbm >> k) & 1) {
			int end = (compact ? comp_cmp_off(rfbm, k) : comp_std_off(k)) + comp_size(k);
			if (end > size)
				size = end;
		}
	uint64_t lin = area_lin(c, i, size, ACC_W, 64);

	/* fault before writing anything */
	if (rfbm & 7)
		mem_probe(c, lin, 416, ACC_W | acc);
	mem_probe(c, (lin + XS_HDR) & c->lin_mask, compact ? 16 : 8, ACC_W | acc);
	for (int k = 2; k < 63; k++)
		if ((wr >> k) & 1) {
			int off = compact ? comp_cmp_off(rfbm, k) : comp_std_off(k);
			mem_probe(c, (lin + off) & c->lin_mask, comp_size(k), ACC_W | acc);
		}

	uint8_t leg[512];
	fpu_fxsave_image(c, leg, fmt64(c, i), nxmm(c));
	if (wr & 1) {
		xs_put(c, lin, 0, leg, 24, acc);
		xs_put(c, lin, 32, leg + 32, 128, acc);
	}
	/* MXCSR and MXCSR_MASK go with SSE or AVX, in use or not (SDM 13.7, 13.9, 13.10) */
	if (rfbm & 6)
		xs_put(c, lin, 24, leg + 24, 8, acc);
	if (wr & 2)
		xs_put(c, lin, 160, leg + 160, 16 * nxmm(c), acc);
	if (wr & 4) {
		uint8_t hi[256];
		for (int k = 0; k < 16; k++)
			memcpy(hi + 16 * k, c->fpu.x[k].b + 16, 16);
		int off = compact ? comp_cmp_off(rfbm, 2) : 576;
		xs_put(c, lin, off, hi, cpu_long64(c) ? 256 : 128, acc);
	}
	if (wr & 0x200) {
		uint64_t p = c->pkru;
		int off = compact ? comp_cmp_off(rfbm, 9) : 0xa80;
		xs_put(c, lin, off, &p, 8, acc);
	}
	uint64_t hdr[2];
	if (compact) {
		hdr[0] = rfbm & inuse;
		hdr[1] = rfbm | XCOMP_FORMAT;
		xs_put(c, lin, XS_HDR, hdr, 16, acc);
	} else {
		/* XSTATE_BV bits outside RFBM keep their value */
		uint64_t old = lin_ld_acc(c, (lin + XS_HDR) & c->lin_mask, 8, acc);
		uint64_t bv = (old & ~rfbm) | (rfbm & inuse);
		xs_put(c, lin, XS_HDR, &bv, 8, acc);
	}
}

H(h_xsave) { xsave_any(c, i, XS_STD); }
H(h_xsaveopt) { xsave_any(c, i, XS_OPT); }
H(h_xsavec) { xsave_any(c, i, XS_CMP); }
H(h_xsaves) { xsave_any(c, i, XS_SUP); }

static void xrstor_any(struct cpu *c, const struct insn *i, bool sup)
{
	xs_common_checks(c, sup ? FEAT_XSAVES : -1);
	if (sup && c->cpl)
		cpu_gp0(c);
	if (c->cr0 & CR0_TS)
		cpu_raise(c, EXC_NM);
	uint64_t xcr0 = c->fpu.xcr0 | (sup ? c->fpu.xss : 0);
	uint64_t rfbm = edx_eax(c) & xcr0;
	int acc = sse_acc(i);
	uint64_t lin = area_lin(c, i, 576, ACC_R, 64);
	uint8_t hdr[64];
	sse_ld_lin(c, (lin + XS_HDR) & c->lin_mask, hdr, 64, acc);
	uint64_t bv, xcomp;
	memcpy(&bv, hdr, 8);
	memcpy(&xcomp, hdr + 8, 8);
	bool compact = xcomp >> 63;

	/* header checks (SDM Vol. 1 13.8.1, 13.8.2, 13.12) */
	if (sup && !compact)
		cpu_gp0(c);
	if (compact) {
		if (!HAS(c, FEAT_XSAVEC))
			cpu_gp0(c);
		if ((xcomp & ~XCOMP_FORMAT & ~xcr0) || (bv & ~xcomp))
			cpu_gp0(c);
		for (int k = 16; k < 64; k++)
			if (hdr[k])
				cpu_gp0(c);
	} else {
		if (bv & ~c->fpu.xcr0)
			cpu_gp0(c);
		for (int k = 8; k < 24; k++)
			if (hdr[k])
				cpu_gp0(c);
	}
	uint64_t ld = rfbm & bv;	/* loaded from memory; rfbm & ~bv: initialised */
	uint8_t leg[512];
	memset(leg, 0, sizeof(leg));
	if (ld & 1)
		sse_ld_lin(c, lin, leg, 160, acc);
	if (ld & 2)
		sse_ld_lin(c, (lin + 160) & c->lin_mask, leg + 160, 16 * nxmm(c), acc);
	/*
	 * MXCSR: the standard form loads it whenever RFBM[1] or RFBM[2]; the
	 * compacted form only for a component loaded from memory, and sets
	 * 1F80h when both are initialised.
	 */
	bool mx_mem = compact ? (ld & 6) != 0 : (rfbm & 6) != 0;
	uint32_t mx = c->fpu.mxcsr;
	if (mx_mem) {
		mx = (uint32_t)lin_ld_acc(c, (lin + 24) & c->lin_mask, 4, acc);
		if (mx & ~fpu_mxcsr_mask(c))
			cpu_gp0(c);
	} else if (compact && (rfbm & 6)) {
		mx = 0x1f80;
	}
	uint8_t hi[256];
	if (ld & 4) {
		int off = compact ? comp_cmp_off(xcomp, 2) : 576;
		sse_ld_lin(c, (lin + off) & c->lin_mask, hi, nxmm(c) * 16, acc);
	}
	uint32_t pkru = 0;
	if (ld & 0x200) {
		int off = compact ? comp_cmp_off(xcomp, 9) : 0xa80;
		pkru = (uint32_t)lin_ld_acc(c, (lin + off) & c->lin_mask, 4, acc);
	}

	/* commit */
	if (rfbm & 1) {
		if (ld & 1) {
			uint32_t keep = c->fpu.mxcsr;
			memcpy(leg + 24, &keep, 4);
			fpu_fxrstor_image(c, leg, fmt64(c, i), 0);
		} else {
			fpu_x87_init(c);
		}
	}
	if (rfbm & 2) {
		for (int k = 0; k < nxmm(c); k++) {
			if (ld & 2)
				memcpy(c->fpu.x[k].b, leg + 160 + 16 * k, 16);
			else
				memset(c->fpu.x[k].b, 0, 16);
		}
	}
	if (rfbm & 4) {
		for (int k = 0; k < nxmm(c); k++) {
			if (ld & 4)
				memcpy(c->fpu.x[k].b + 16, hi + 16 * k, 16);
			else
				memset(c->fpu.x[k].b + 16, 0, 16);
		}
	}
	if (rfbm & 0x200) {
		c->pkru = pkru;
		mmu_flush(c);
	}
	c->fpu.mxcsr = mx;
}

H(h_xrstor) { xrstor_any(c, i, false); }
H(h_xrstors) { xrstor_any(c, i, true); }
