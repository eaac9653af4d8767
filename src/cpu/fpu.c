// SPDX-License-Identifier: MIT
/*
 * FPU state images: FXSAVE, XSAVE and KVM's kvm_fpu (see fpu.h).
 */
#include "fpu.h"

int fpu_tag_of(const struct x87_reg *r)
{
	uint16_t e = r->exp & 0x7fff;
	if (e == 0 && r->mant == 0)
		return 1;
	if (e == 0x7fff || e == 0 || !(r->mant >> 63))
		return 2;
	return 0;
}

uint8_t fpu_abridged_tag(const struct cpu *c)
{
	uint8_t t = 0;
	for (int k = 0; k < 8; k++)
		if (((c->fpu.ftw >> (2 * k)) & 3) != 3)
			t |= 1u << k;
	return t;
}

uint16_t fpu_full_tag(const struct cpu *c, uint8_t ab)
{
	uint16_t t = 0;
	for (int k = 0; k < 8; k++) {
		int tag = (ab >> k) & 1 ? fpu_tag_of(&c->fpu.st[k]) : 3;
		t |= (uint16_t)(tag << (2 * k));
	}
	return t;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

uint32_t fpu_mxcsr_mask(const struct cpu *c)
{
	/* DAZ everywhere; AMD misaligned SSE mode adds MM (bit 17, APM Vol. 1 4.2.2) */
	return HAS(c, FEAT_MISALIGNSSE) ? 0x2ffffU : 0xffffU;
}

void fpu_fxsave_image(const struct cpu *c, uint8_t *b, bool fmt64, int nxmm)
{
	const struct fpu_state *f = &c->fpu;
	put16(b + 0, f->fcw);
	put16(b + 2, f->fsw);
	b[4] = fpu_abridged_tag(c);
	b[5] = 0;
	put16(b + 6, f->fop);
	if (fmt64) {
		put64(b + 8, f->fip);
		put64(b + 16, f->fdp);
	} else {
		put32(b + 8, (uint32_t)f->fip);
		put16(b + 12, f->fcs);
		put16(b + 14, 0);
		put32(b + 16, (uint32_t)f->fdp);
		put16(b + 20, f->fds);
		put16(b + 22, 0);
	}
	put32(b + 24, f->mxcsr);
	put32(b + 28, fpu_mxcsr_mask(c));
	for (int i = 0; i < 8; i++) {
		const struct x87_reg *r = &f->st[fpu_phys(c, i)];
		memset(b + 32 + i * 16, 0, 16);
		put64(b + 32 + i * 16, r->mant);
		put16(b + 40 + i * 16, r->exp);
	}
	for (int i = 0; i < nxmm; i++)
		memcpy(b + 160 + i * 16, f->x[i].b, 16);
}

int fpu_fxrstor_image(struct cpu *c, const uint8_t *b, bool fmt64, int nxmm)
{
	struct fpu_state *f = &c->fpu;
	uint32_t mx = get32(b + 24);
	if (mx & ~fpu_mxcsr_mask(c))
		return -1;
	f->fcw = get16(b + 0);
	f->fsw = get16(b + 2);
	f->fop = get16(b + 6) & 0x7ff;
	if (fmt64) {
		f->fip = get64(b + 8);
		f->fdp = get64(b + 16);
		f->fcs = f->fds = 0;
	} else {
		f->fip = get32(b + 8);
		f->fcs = get16(b + 12);
		f->fdp = get32(b + 16);
		f->fds = get16(b + 20);
	}
	f->mxcsr = mx;
	f->top_cache = (f->fsw >> 11) & 7;
	for (int i = 0; i < 8; i++) {
		struct x87_reg *r = &f->st[fpu_phys(c, i)];
		r->mant = get64(b + 32 + i * 16);
		r->exp = get16(b + 40 + i * 16);
	}
	f->ftw = fpu_full_tag(c, b[4]);
	for (int i = 0; i < nxmm; i++)
		memcpy(f->x[i].b, b + 160 + i * 16, 16);
	return 0;
}

void fpu_x87_init(struct cpu *c)
{
	struct fpu_state *f = &c->fpu;
	f->fcw = 0x37f;
	f->fsw = 0;
	f->ftw = 0xffff;
	f->fop = 0;
	f->fip = f->fdp = 0;
	f->fcs = f->fds = 0;
	f->top_cache = 0;
	memset(f->st, 0, sizeof(f->st));
}

/*
 * Value-based XINUSE: a component reads as in use exactly when it differs
 * from its initial configuration, which SDM Vol. 1 13.6 permits.
 */
uint64_t fpu_xinuse(const struct cpu *c)
{
	const struct fpu_state *f = &c->fpu;
	uint64_t u = 0;
	bool x87 = f->fcw != 0x37f || f->fsw || fpu_abridged_tag(c) || f->fop ||
		   f->fip || f->fdp || f->fcs || f->fds;
	for (int k = 0; k < 8 && !x87; k++)
		x87 = f->st[k].mant || f->st[k].exp;
	if (x87)
		u |= 1;
	for (int k = 0; k < 16; k++) {
		if (f->x[k].q[0] | f->x[k].q[1])
			u |= 2;
		if (f->x[k].q[2] | f->x[k].q[3])
			u |= 4;
	}
	if (c->pkru)
		u |= 0x200;
	return u;
}

/* KVM_GET_XSAVE: like an XSAVE64 of the XCR0 components (or of rfbm & XCR0) */
void fpu_xsave_image(const struct cpu *c, uint8_t *b, uint64_t rfbm, bool all)
{
	/* PKRU is vCPU state whenever PKU exists, whatever XCR0 says (as KVM) */
	uint64_t pk = HAS(c, FEAT_PKU) ? 0x200 : 0;
	uint64_t comps = all ? c->fpu.xcr0 | 3 | pk : rfbm & (c->fpu.xcr0 | 3);
	uint8_t legacy[512];
	memset(legacy, 0, sizeof(legacy));
	fpu_fxsave_image(c, legacy, true, 16);
	if (comps & 1) {
		memcpy(b, legacy, 24);
		memcpy(b + 32, legacy + 32, 128);
	}
	if (comps & 6)
		memcpy(b + 24, legacy + 24, 8);
	if (comps & 2)
		memcpy(b + 160, legacy + 160, 256);
	uint64_t bv = get64(b + 512) & ~comps;
	bv |= comps & (fpu_xinuse(c) | 3);
	if (comps & 4)
		for (int i = 0; i < 16; i++)
			memcpy(b + 576 + i * 16, c->fpu.x[i].b + 16, 16);
	if (comps & 0x200)
		put32(b + 0xa80, c->pkru);
	put64(b + 512, bv);
	put64(b + 520, 0);
}

int fpu_xrstor_image(struct cpu *c, const uint8_t *b)
{
	uint64_t bv = get64(b + 512), xcomp = get64(b + 520);
	uint64_t pk = HAS(c, FEAT_PKU) ? 0x200 : 0;
	if (xcomp || (bv & ~(c->fpu.xcr0 | 3 | pk)))
		return -1;
	for (int k = 528; k < 576; k++)	/* reserved header bytes */
		if (b[k])
			return -1;
	if (get32(b + 24) & ~fpu_mxcsr_mask(c))
		return -1;
	if (bv & 1) {
		uint8_t legacy[512];
		memcpy(legacy, b, 512);
		put32(legacy + 24, c->fpu.mxcsr);	/* MXCSR is loaded below */
		fpu_fxrstor_image(c, legacy, true, 0);
	} else {
		fpu_x87_init(c);
	}
	if (bv & 2) {
		for (int i = 0; i < 16; i++)
			memcpy(c->fpu.x[i].b, b + 160 + i * 16, 16);
	} else {
		for (int i = 0; i < 16; i++)
			memset(c->fpu.x[i].b, 0, 16);
	}
	c->fpu.mxcsr = get32(b + 24);
	if (c->fpu.xcr0 & 4) {
		for (int i = 0; i < 16; i++) {
			if (bv & 4)
				memcpy(c->fpu.x[i].b + 16, b + 576 + i * 16, 16);
			else
				memset(c->fpu.x[i].b + 16, 0, 16);
		}
	}
	if (pk)
		c->pkru = (bv & 0x200) ? get32(b + 0xa80) : 0;
	return 0;
}

void fpu_get_kvm(const struct cpu *c, struct kvm_fpu *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 8; i++) {
		const struct x87_reg *r = &c->fpu.st[fpu_phys(c, i)];
		memcpy(f->fpr[i], &r->mant, 8);
		memcpy(f->fpr[i] + 8, &r->exp, 2);
	}
	f->fcw = c->fpu.fcw;
	f->fsw = c->fpu.fsw;
	f->ftwx = fpu_abridged_tag(c);
	f->last_opcode = c->fpu.fop;
	f->last_ip = c->fpu.fip;
	f->last_dp = c->fpu.fdp;
	for (int i = 0; i < 16; i++)
		memcpy(f->xmm[i], c->fpu.x[i].b, 16);
	f->mxcsr = c->fpu.mxcsr;
}

void fpu_set_kvm(struct cpu *c, const struct kvm_fpu *f)
{
	c->fpu.fcw = f->fcw;
	c->fpu.fsw = f->fsw;
	for (int i = 0; i < 8; i++) {
		struct x87_reg *r = &c->fpu.st[fpu_phys(c, i)];
		memcpy(&r->mant, f->fpr[i], 8);
		memcpy(&r->exp, f->fpr[i] + 8, 2);
	}
	c->fpu.ftw = fpu_full_tag(c, f->ftwx);
	c->fpu.fop = f->last_opcode;
	c->fpu.fip = f->last_ip;
	c->fpu.fdp = f->last_dp;
	for (int i = 0; i < 16; i++)
		memcpy(c->fpu.x[i].b, f->xmm[i], 16);
	c->fpu.mxcsr = f->mxcsr & fpu_mxcsr_mask(c);
}
