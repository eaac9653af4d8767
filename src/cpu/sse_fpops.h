/* SPDX-License-Identifier: MIT */
/*
 * The floating-point operations of the SIMD back end (X-macro list, no
 * include guard).  FPOP(name, host instruction text): register form with
 * destination %xmm0, source %xmm1, integer operand %rax.  FPOPI(name,
 * mnemonic): the same with an imm8 (one variant per value).  The plain
 * operations come first; sse_host.c relies on the order.
 */
#ifndef FPOPI
#define FPOPI(name, mn) FPOP(name, mn)
#define NV_FPOPI_DEFAULT
#endif
FPOP(ADDPS, "addps %xmm1, %xmm0") FPOP(ADDPD, "addpd %xmm1, %xmm0")
FPOP(ADDSS, "addss %xmm1, %xmm0") FPOP(ADDSD, "addsd %xmm1, %xmm0")
FPOP(SUBPS, "subps %xmm1, %xmm0") FPOP(SUBPD, "subpd %xmm1, %xmm0")
FPOP(SUBSS, "subss %xmm1, %xmm0") FPOP(SUBSD, "subsd %xmm1, %xmm0")
FPOP(MULPS, "mulps %xmm1, %xmm0") FPOP(MULPD, "mulpd %xmm1, %xmm0")
FPOP(MULSS, "mulss %xmm1, %xmm0") FPOP(MULSD, "mulsd %xmm1, %xmm0")
FPOP(DIVPS, "divps %xmm1, %xmm0") FPOP(DIVPD, "divpd %xmm1, %xmm0")
FPOP(DIVSS, "divss %xmm1, %xmm0") FPOP(DIVSD, "divsd %xmm1, %xmm0")
FPOP(MINPS, "minps %xmm1, %xmm0") FPOP(MINPD, "minpd %xmm1, %xmm0")
FPOP(MINSS, "minss %xmm1, %xmm0") FPOP(MINSD, "minsd %xmm1, %xmm0")
FPOP(MAXPS, "maxps %xmm1, %xmm0") FPOP(MAXPD, "maxpd %xmm1, %xmm0")
FPOP(MAXSS, "maxss %xmm1, %xmm0") FPOP(MAXSD, "maxsd %xmm1, %xmm0")
FPOP(SQRTPS, "sqrtps %xmm1, %xmm0") FPOP(SQRTPD, "sqrtpd %xmm1, %xmm0")
FPOP(SQRTSS, "sqrtss %xmm1, %xmm0") FPOP(SQRTSD, "sqrtsd %xmm1, %xmm0")
FPOP(RSQRTPS, "rsqrtps %xmm1, %xmm0") FPOP(RSQRTSS, "rsqrtss %xmm1, %xmm0")
FPOP(RCPPS, "rcpps %xmm1, %xmm0") FPOP(RCPSS, "rcpss %xmm1, %xmm0")
FPOP(HADDPS, "haddps %xmm1, %xmm0") FPOP(HADDPD, "haddpd %xmm1, %xmm0")
FPOP(HSUBPS, "hsubps %xmm1, %xmm0") FPOP(HSUBPD, "hsubpd %xmm1, %xmm0")
FPOP(ADDSUBPS, "addsubps %xmm1, %xmm0") FPOP(ADDSUBPD, "addsubpd %xmm1, %xmm0")
FPOP(CVTPS2PD, "cvtps2pd %xmm1, %xmm0") FPOP(CVTPD2PS, "cvtpd2ps %xmm1, %xmm0")
FPOP(CVTSS2SD, "cvtss2sd %xmm1, %xmm0") FPOP(CVTSD2SS, "cvtsd2ss %xmm1, %xmm0")
FPOP(CVTDQ2PS, "cvtdq2ps %xmm1, %xmm0") FPOP(CVTPS2DQ, "cvtps2dq %xmm1, %xmm0")
FPOP(CVTTPS2DQ, "cvttps2dq %xmm1, %xmm0") FPOP(CVTTPD2DQ, "cvttpd2dq %xmm1, %xmm0")
FPOP(CVTDQ2PD, "cvtdq2pd %xmm1, %xmm0") FPOP(CVTPD2DQ, "cvtpd2dq %xmm1, %xmm0")
FPOP(CVTSI2SS32, "cvtsi2ssl %eax, %xmm0") FPOP(CVTSI2SS64, "cvtsi2ssq %rax, %xmm0")
FPOP(CVTSI2SD32, "cvtsi2sdl %eax, %xmm0") FPOP(CVTSI2SD64, "cvtsi2sdq %rax, %xmm0")
FPOP(CVTSS2SI32, "cvtss2si %xmm1, %eax") FPOP(CVTSS2SI64, "cvtss2si %xmm1, %rax")
FPOP(CVTTSS2SI32, "cvttss2si %xmm1, %eax") FPOP(CVTTSS2SI64, "cvttss2si %xmm1, %rax")
FPOP(CVTSD2SI32, "cvtsd2si %xmm1, %eax") FPOP(CVTSD2SI64, "cvtsd2si %xmm1, %rax")
FPOP(CVTTSD2SI32, "cvttsd2si %xmm1, %eax") FPOP(CVTTSD2SI64, "cvttsd2si %xmm1, %rax")
FPOP(COMISS, "comiss %xmm1, %xmm0\n\tpushfq\n\tpopq %rax")
FPOP(UCOMISS, "ucomiss %xmm1, %xmm0\n\tpushfq\n\tpopq %rax")
FPOP(COMISD, "comisd %xmm1, %xmm0\n\tpushfq\n\tpopq %rax")
FPOP(UCOMISD, "ucomisd %xmm1, %xmm0\n\tpushfq\n\tpopq %rax")
FPOPI(CMPPS, "cmpps") FPOPI(CMPPD, "cmppd") FPOPI(CMPSS, "cmpss") FPOPI(CMPSD, "cmpsd")
FPOPI(ROUNDPS, "roundps") FPOPI(ROUNDPD, "roundpd")
FPOPI(ROUNDSS, "roundss") FPOPI(ROUNDSD, "roundsd")
FPOPI(DPPS, "dpps") FPOPI(DPPD, "dppd")
#ifdef NV_FPOPI_DEFAULT
#undef FPOPI
#undef NV_FPOPI_DEFAULT
#endif
