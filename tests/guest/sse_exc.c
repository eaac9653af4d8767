/*
 * SIMD exception conditions (SDM Vol. 2 exception classes, Vol. 1 11.5):
 * #UD for CR0.EM / CR4.OSFXSR = 0 / missing features / bad prefixes, #NM
 * for CR0.TS, #XM (or #UD without CR4.OSXMMEXCPT) for unmasked SIMD FP
 * exceptions with the destination unchanged and the flags set, #GP for
 * misaligned 16-byte operands, DAZ/FTZ, and the MMX <-> x87 state rules.
 */
#include "libguest.h"

#define CR0_EM_BIT (1ULL << 2)
#define CR0_TS_BIT (1ULL << 3)

static uint8_t buf[128] __attribute__((aligned(64)));

#define TRY(insn, ...) ({ exc_clear(); \
	asm volatile(ASM_TRY("1f") insn "\n1:" :: __VA_ARGS__ : "memory"); \
	exc_last.vector; })

static void set_mxcsr(uint32_t v) { asm volatile("ldmxcsr %0" :: "m"(v)); }
static uint32_t get_mxcsr(void) { uint32_t v; asm volatile("stmxcsr %0" : "=m"(v)); return v; }
static void set_xmm0(uint32_t lo) { asm volatile("movd %0, %%xmm0" :: "r"(lo)); }
static uint32_t get_xmm0(void) { uint32_t v; asm volatile("movd %%xmm0, %0" : "=r"(v)); return v; }

int main(int argc, char **argv)
{
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	write_cr0(cr0 & ~(CR0_EM_BIT | CR0_TS_BIT));
	write_cr4(cr4 | (1 << 9) | (1 << 10));
	set_mxcsr(0x1f80);

	/* ---- #UD / #NM ---- */
	report(TRY("addps %%xmm1, %%xmm0") == -1, "addps runs with OSFXSR=1, EM=0, TS=0");
	write_cr0(read_cr0() | CR0_TS_BIT);
	CHECK_EQ(TRY("addps %%xmm1, %%xmm0"), 7, "CR0.TS: addps raises #NM");
	CHECK_EQ(TRY("paddb %%mm1, %%mm0"), 7, "CR0.TS: paddb mm raises #NM");
	CHECK_EQ(TRY("fxsave (%0)", "r"(buf)), 7, "CR0.TS: fxsave raises #NM");
	write_cr0(read_cr0() | CR0_EM_BIT);
	CHECK_EQ(TRY("addps %%xmm1, %%xmm0"), 6, "CR0.EM and TS: addps raises #UD (before #NM)");
	CHECK_EQ(TRY("paddb %%mm1, %%mm0"), 6, "CR0.EM: paddb mm raises #UD");
	write_cr0(read_cr0() & ~(CR0_EM_BIT | CR0_TS_BIT));
	write_cr4(read_cr4() & ~(1ULL << 9));
	CHECK_EQ(TRY("addps %%xmm1, %%xmm0"), 6, "CR4.OSFXSR=0: addps raises #UD");
	CHECK_EQ(TRY("ldmxcsr (%0)", "r"(buf)), 6, "CR4.OSFXSR=0: ldmxcsr raises #UD");
	report(TRY("paddb %%mm1, %%mm0") == -1, "CR4.OSFXSR=0: MMX still runs");
	write_cr4(read_cr4() | (1ULL << 9));
	CHECK_EQ(TRY(".byte 0xf3, 0x0f, 0x54, 0xc1"), 6, "F3 0F 54 (no ANDPS form) raises #UD");
	CHECK_EQ(TRY(".byte 0x66, 0x0f, 0x12, 0xc1"), 6, "66 0F 12 with a register operand raises #UD");
	CHECK_EQ(TRY(".byte 0xf0, 0x0f, 0x58, 0x00", "a"(buf)), 6, "LOCK addps raises #UD");
	CHECK_EQ(TRY(".byte 0xc5, 0xf8, 0x58, 0xc1"), 6, "VEX vaddps raises #UD (no AVX)");
	CHECK_EQ(TRY(".byte 0x66, 0x0f, 0x73, 0xd8, 0x01"), -1, "psrldq runs");
	CHECK_EQ(TRY(".byte 0x0f, 0x73, 0xd8, 0x01"), 6, "0F 73 /3 on MMX raises #UD");

	/* ---- alignment ---- */
	report(TRY("movaps (%0), %%xmm1", "r"(buf)) == -1, "movaps aligned runs");
	CHECK_EQ(TRY("movaps (%0), %%xmm1", "r"(buf + 8)), 13, "movaps misaligned raises #GP");
	CHECK_EQ(exc_last.error_code, 0, "#GP error code 0");
	CHECK_EQ(TRY("addps (%0), %%xmm1", "r"(buf + 4)), 13, "addps m128 misaligned raises #GP");
	report(TRY("movups (%0), %%xmm1", "r"(buf + 4)) == -1, "movups misaligned runs");
	report(TRY("addss (%0), %%xmm1", "r"(buf + 4)) == -1, "addss m32 misaligned runs");
	CHECK_EQ(TRY("movntdq %%xmm0, (%0)", "r"(buf + 1)), 13, "movntdq misaligned raises #GP");
	report(TRY("lddqu (%0), %%xmm1", "r"(buf + 3)) == -1, "lddqu misaligned runs");
	CHECK_EQ(TRY("fxsave (%0)", "r"(buf + 8)), 13, "fxsave misaligned raises #GP");

	/* ---- #XM ---- */
	static const float one[4] = { 1, 1, 1, 1 };
	static const float zero[4] __attribute__((aligned(16))) = { 0, 0, 0, 0 };
	memcpy(buf, one, 16);
	asm volatile("movups (%0), %%xmm0" :: "r"(buf));
	set_mxcsr(0x1f80 & ~0x200);	/* divide-by-zero unmasked */
	CHECK_EQ(TRY("divps (%0), %%xmm0", "r"(zero)), 19, "unmasked divide by zero raises #XM");
	CHECK_EQ(get_mxcsr(), 0x1d84, "MXCSR.ZE set, nothing else");
	CHECK_EQ(get_xmm0(), 0x3f800000, "destination unchanged");
	write_cr4(read_cr4() & ~(1ULL << 10));
	set_mxcsr(0x1f80 & ~0x200);
	CHECK_EQ(TRY("divps (%0), %%xmm0", "r"(zero)), 6, "CR4.OSXMMEXCPT=0: #UD instead of #XM");
	CHECK_EQ(get_mxcsr(), 0x1d84, "... with MXCSR.ZE set");
	write_cr4(read_cr4() | (1ULL << 10));
	set_mxcsr(0x1f80);
	report(TRY("divps (%0), %%xmm0", "r"(zero)) == -1, "masked divide by zero runs");
	CHECK_EQ(get_xmm0(), 0x7f800000, "masked response: +inf");
	CHECK_EQ(get_mxcsr(), 0x1f84, "... and ZE set");
	/* pre-computation (invalid) unmasked while precision masked: only IE */
	set_mxcsr(0x1f80 & ~0x80);
	set_xmm0(0x7fa00000);	/* SNaN */
	CHECK_EQ(TRY("addss (%0), %%xmm0", "r"(one)), 19, "SNaN operand with IM=0 raises #XM");
	CHECK_EQ(get_mxcsr(), 0x1f01, "MXCSR.IE set");
	/* exception flags already set do not trap by themselves */
	set_mxcsr(0x1f80 & ~0x200);
	set_mxcsr(0x1d84);
	report(TRY("addps %%xmm0, %%xmm0") == -1, "a set flag with its mask clear does not trap");
	/* #XM from cvtss2si: invalid (NaN) unmasked, EAX unchanged */
	set_mxcsr(0x1f00);
	set_xmm0(0x7fc00000);
	{
		uint32_t r = 0x1234;
		exc_clear();
		asm volatile(ASM_TRY("1f") "cvtss2si %%xmm0, %0\n1:" : "+r"(r) :: "memory");
		CHECK_EQ(exc_last.vector, 19, "cvtss2si NaN with IM=0 raises #XM");
		CHECK_EQ(r, 0x1234, "cvtss2si destination unchanged");
	}

	/* ---- DAZ / FTZ ---- */
	set_mxcsr(0x1f80 | 0x40);	/* DAZ */
	set_xmm0(0x00000001);
	asm volatile("addss %%xmm0, %%xmm0" ::: "memory");
	CHECK_EQ(get_xmm0(), 0, "DAZ: denormal operand read as 0");
	CHECK_EQ(get_mxcsr() & 0x3f, 0, "DAZ: no DE flag");
	set_mxcsr(0x1f80);
	set_xmm0(0x00000001);
	asm volatile("addss %%xmm0, %%xmm0" ::: "memory");
	CHECK_EQ(get_xmm0(), 2, "no DAZ: denormal arithmetic");
	CHECK_EQ(get_mxcsr() & 0x3f, 2, "no DAZ: DE flag");
	set_mxcsr(0x1f80 | 0x8000);	/* FTZ */
	set_xmm0(0x00800000);	/* min normal / 2 -> tiny */
	{
		static const float half = 0.5f;
		asm volatile("mulss (%0), %%xmm0" :: "r"(&half) : "memory");
	}
	CHECK_EQ(get_xmm0(), 0, "FTZ: tiny result flushed to 0");
	CHECK_EQ(get_mxcsr() & 0x3f, 0x30, "FTZ: UE and PE set");

	/* ---- MXCSR ---- */
	uint32_t bad = 0x1f80 | (1u << 18);
	CHECK_EQ(TRY("ldmxcsr (%0)", "r"(&bad)), 13, "ldmxcsr with a reserved bit raises #GP");
	set_mxcsr(0x3f80);
	CHECK_EQ(get_mxcsr(), 0x3f80, "ldmxcsr / stmxcsr round trip");
	set_mxcsr(0x1f80);

	/* ---- MMX and the x87 state (through FXRSTOR / FXSAVE: no x87 code needed) ---- */
	{
		static uint8_t fx[512] __attribute__((aligned(16)));
		memset(fx, 0, sizeof(fx));
		fx[0] = 0x7f; fx[1] = 0x03;	/* FCW */
		fx[3] = 5 << 3;			/* TOP = 5 */
		fx[4] = 0x01;			/* only ST(0) valid */
		fx[24] = 0x80; fx[25] = 0x1f;	/* MXCSR */
		asm volatile("fxrstor %0; movd %1, %%mm1; fxsave %0" : "+m"(fx) : "r"(0x12345678) : "memory");
		CHECK_EQ((fx[3] >> 3) & 7, 0, "MMX instruction sets TOP = 0");
		CHECK_EQ(fx[4], 0xff, "MMX instruction: every tag valid");
		/* with TOP = 0, ST(1) is R1 = MM1 */
		CHECK_EQ(fx[48] | fx[49] << 8 | fx[50] << 16 | (uint32_t)fx[51] << 24, 0x12345678, "MM1 written");
		CHECK_EQ(fx[56] | fx[57] << 8, 0xffff, "MMX write sets the exponent to FFFFh");
		asm volatile("emms; fxsave %0" : "=m"(fx));
		CHECK_EQ(fx[4], 0, "EMMS: every tag empty");
		CHECK_EQ((fx[3] >> 3) & 7, 0, "EMMS: TOP = 0");
		/* CVTPI2PS from memory leaves the x87 state alone */
		fx[3] = 3 << 3;
		fx[4] = 0x01;
		static const uint64_t two_ints = 0x0000000200000001ULL;
		asm volatile("fxrstor %0; cvtpi2ps %1, %%xmm2; fxsave %0" : "+m"(fx) : "m"(two_ints) : "memory");
		CHECK_EQ((fx[3] >> 3) & 7, 3, "cvtpi2ps m64 keeps TOP");
		CHECK_EQ(fx[4], 0x01, "cvtpi2ps m64 keeps the tags");
	}
	write_cr0(cr0);
	write_cr4(cr4 | (1 << 9) | (1 << 10));
	return report_summary();
}
