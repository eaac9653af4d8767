// SPDX-License-Identifier: MIT
/*
 * SIMD floating-point back end for x86-64 hosts.
 *
 * Bit-exact SSE arithmetic is the host's own: each operation of
 * sse_fpops.h is a tiny stub (the register form of the instruction) run
 * under the guest's MXCSR with every exception masked; the flags it
 * raises come back in fp_io.flags and sse_fp.c applies the architectural
 * exception rules on top.  Operations with an imm8 have one stub per value
 * so that the immediate is exactly the guest's.
 *
 * Other hosts have no back end yet (fp_backend returns false and the
 * instruction stops the VM with an internal error); docs/cpu.md "SIMD".
 */
#include "sse_priv.h"

#if defined(__x86_64__)

_Static_assert(offsetof(struct fp_io, d) == 0, "fp_io layout");
_Static_assert(offsetof(struct fp_io, s) == 16, "fp_io layout");
_Static_assert(offsetof(struct fp_io, g) == 32, "fp_io layout");
_Static_assert(offsetof(struct fp_io, mxcsr) == 40, "fp_io layout");
_Static_assert(offsetof(struct fp_io, flags) == 44, "fp_io layout");

/* count the plain operations */
enum {
#define FPOP(name, text) FPN_##name,
#define FPOPI(name, mn)
#include "sse_fpops.h"
#undef FPOP
#undef FPOPI
	FP_NPLAIN
};

#define STR_(x) #x
#define STR(x) STR_(x)

__asm__(
	".text\n"
	".balign 16\n"
	".globl nv_sse_tramp\n"
	".hidden nv_sse_tramp\n"
	".type nv_sse_tramp, @function\n"
	"nv_sse_tramp:\n\t"
	"endbr64\n\t"
	"subq $8, %rsp\n\t"
	"stmxcsr (%rsp)\n\t"
	"ldmxcsr 40(%rdi)\n\t"
	"movdqu 0(%rdi), %xmm0\n\t"
	"movdqu 16(%rdi), %xmm1\n\t"
	"movq 32(%rdi), %rax\n\t"
	"call *%rsi\n\t"
	"movdqu %xmm0, 0(%rdi)\n\t"
	"movq %rax, 32(%rdi)\n\t"
	"stmxcsr 44(%rdi)\n\t"
	"ldmxcsr (%rsp)\n\t"
	"addq $8, %rsp\n\t"
	"ret\n"
	".size nv_sse_tramp, .-nv_sse_tramp\n"
	".balign 16\n"
	".globl nv_sse_plain\n"
	".hidden nv_sse_plain\n"
	"nv_sse_plain:\n"
#define FPOP(name, text) ".balign 16\n\tendbr64\n\t" text "\n\tret\n"
#define FPOPI(name, mn)
#include "sse_fpops.h"
#undef FPOP
#undef FPOPI
	".balign 16\n"
	".globl nv_sse_imm\n"
	".hidden nv_sse_imm\n"
	"nv_sse_imm:\n"
#define FPOP(name, text)
#define FPOPI(name, mn) ".set .Lnvk, 0\n.rept 256\n.balign 16\n\tendbr64\n\t" mn \
	" $.Lnvk, %xmm1, %xmm0\n\tret\n.set .Lnvk, .Lnvk + 1\n.endr\n"
#include "sse_fpops.h"
#undef FPOP
#undef FPOPI
	".balign 16\n"
);

extern const char nv_sse_plain[] __attribute__((visibility("hidden")));
extern const char nv_sse_imm[] __attribute__((visibility("hidden")));
void nv_sse_tramp(struct fp_io *io, const void *stub) __attribute__((visibility("hidden")));

bool fp_backend(int op, uint8_t imm, struct fp_io *io)
{
	const char *stub;
	if (op < FP_NPLAIN)
		stub = nv_sse_plain + op * 16;
	else
		stub = nv_sse_imm + ((size_t)(op - FP_NPLAIN) * 256 + imm) * 16;
	io->mxcsr = (io->mxcsr & 0xffc0) | MX_MASKS;
	nv_sse_tramp(io, stub);
	io->flags &= MX_FLAGS;
	return true;
}

#else

bool fp_backend(int op, uint8_t imm, struct fp_io *io)
{
	(void)op; (void)imm; (void)io;
	return false;
}

#endif
