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

/* the 512-byte legacy area; with_xmm = include XMM0-15 (or 0-7 outside 64-bit) */
void fpu_fxsave_image(const struct cpu *c, uint8_t *buf, bool with_xmm, int nxmm);
/* load it; returns -1 if MXCSR has reserved bits set */
int fpu_fxrstor_image(struct cpu *c, const uint8_t *buf, bool with_xmm, int nxmm);

/*
 * XSAVE standard-format image of the components in rfbm (AND XCR0 unless
 * `all`); buffer must hold the full size.  fpu_xrstor_image reads one
 * (header + legacy + AVX), returns -1 if it is malformed.
 */
void fpu_xsave_image(const struct cpu *c, uint8_t *buf, uint64_t rfbm, bool all_xcr0);
int fpu_xrstor_image(struct cpu *c, const uint8_t *buf);

void fpu_get_kvm(const struct cpu *c, struct kvm_fpu *f);
void fpu_set_kvm(struct cpu *c, const struct kvm_fpu *f);

#define MXCSR_MASK 0xffffU	/* DAZ supported */

#endif
