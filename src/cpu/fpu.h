/* SPDX-License-Identifier: MIT */
/*
 * x87 / SSE / AVX register state in its architectural memory images:
 * FXSAVE (SDM Vol. 1 10.5.1), XSAVE standard and compacted formats
 * (SDM Vol. 1 ch. 13), and KVM's struct kvm_fpu.
 */
#ifndef NV_FPU_H
#define NV_FPU_H

#include "cpu.h"

/* top of stack and physical register of ST(i) */
static inline int fpu_top(const struct cpu *c)
{
	return (c->fpu.fsw >> 11) & 7;
}

static inline int fpu_phys(const struct cpu *c, int i)
{
	return (fpu_top(c) + i) & 7;
}

/* abridged tag (FXSAVE) <-> full tag word */
uint8_t fpu_abridged_tag(const struct cpu *c);
uint16_t fpu_full_tag(const struct cpu *c, uint8_t abridged);
/* the tag a register value deserves: 0 valid, 1 zero, 2 special */
int fpu_tag_of(const struct x87_reg *r);

/*
 * The 512-byte legacy area (FXSAVE layout).  fmt64: the REX.W form with
 * 64-bit FIP/FDP (else 32-bit offsets with FCS/FDS); nxmm: XMM registers
 * included (0, 8 or 16).  Bytes 416-511 are not touched.
 */
void fpu_fxsave_image(const struct cpu *c, uint8_t *buf, bool fmt64, int nxmm);
/* load it; returns -1 (nothing loaded) if MXCSR has reserved bits set */
int fpu_fxrstor_image(struct cpu *c, const uint8_t *buf, bool fmt64, int nxmm);

/* MXCSR bits the model implements (MXCSR_MASK in the FXSAVE image) */
uint32_t fpu_mxcsr_mask(const struct cpu *c);
/* XINUSE: components not in their initial configuration (SDM Vol. 1 13.6) */
uint64_t fpu_xinuse(const struct cpu *c);
/* put a component in its initial configuration */
void fpu_x87_init(struct cpu *c);

/*
 * KVM_GET_XSAVE / KVM_SET_XSAVE: standard-format image of the XCR0
 * components (64-bit x87 layout).  fpu_xrstor_image returns -1 if the
 * image is malformed.
 */
void fpu_xsave_image(const struct cpu *c, uint8_t *buf, uint64_t rfbm, bool all_xcr0);
int fpu_xrstor_image(struct cpu *c, const uint8_t *buf);

void fpu_get_kvm(const struct cpu *c, struct kvm_fpu *f);
void fpu_set_kvm(struct cpu *c, const struct kvm_fpu *f);


#endif
