/*
 * FXSAVE / FXRSTOR and the XSAVE family: image contents (standard and
 * compacted formats), XSTATE_BV / XCOMP_BV, init handling, header checks,
 * alignment and enabling faults (SDM Vol. 1 ch. 13, Vol. 2).
 */
#include "libguest.h"

static uint8_t area[4096] __attribute__((aligned(64)));
static uint8_t area2[4096] __attribute__((aligned(64)));

#define TRY(insn, ...) ({ exc_clear(); \
	asm volatile(ASM_TRY("1f") insn "\n1:" :: __VA_ARGS__ : "memory"); \
	exc_last.vector; })

static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void set_mxcsr(uint32_t v) { asm volatile("ldmxcsr %0" :: "m"(v)); }
static uint32_t get_mxcsr(void) { uint32_t v; asm volatile("stmxcsr %0" : "=m"(v)); return v; }
static void xsetbv(uint32_t idx, uint64_t v)
{
	asm volatile("xsetbv" :: "c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static uint64_t xmm_lo(int n)
{
	uint64_t v = 0;
	if (n == 1)
		asm volatile("movq %%xmm1, %0" : "=r"(v));
	else if (n == 5)
		asm volatile("movq %%xmm5, %0" : "=r"(v));
	return v;
}

int main(int argc, char **argv)
{
	write_cr0(read_cr0() & ~0xcULL);
	write_cr4(read_cr4() | (1 << 9) | (1 << 10));
	set_mxcsr(0x1f80);

	/* ---- FXSAVE ---- */
	uint64_t v1 = 0x1111222233334444ULL, v5 = 0x5555666677778888ULL;
	asm volatile("movq %0, %%xmm1; movq %1, %%xmm5" :: "r"(v1), "r"(v5));
	set_mxcsr(0x3f80);
	memset(area, 0xa5, 512);
	asm volatile("fxsave64 %0" : "=m"(area));
	CHECK_EQ(get32(area + 24), 0x3f80, "FXSAVE: MXCSR at 24");
	CHECK_EQ(get32(area + 28), 0xffff, "FXSAVE: MXCSR_MASK (Intel model) at 28");
	CHECK_EQ(get64(area + 160 + 16), v1, "FXSAVE: XMM1 at 176");
	CHECK_EQ(get64(area + 160 + 80), v5, "FXSAVE: XMM5 at 240");
	CHECK_EQ(area[500], 0xa5, "FXSAVE: bytes 464-511 untouched");
	/* FXRSTOR */
	put64(area + 160 + 16, 0xdeadbeefcafef00dULL);
	put64(area + 24, 0xffff00001f80ULL);
	asm volatile("fxrstor64 %0" :: "m"(area));
	CHECK_EQ(xmm_lo(1), 0xdeadbeefcafef00dULL, "FXRSTOR loads XMM1");
	CHECK_EQ(get_mxcsr(), 0x1f80, "FXRSTOR loads MXCSR");
	put64(area + 24, 0xffff00011f80ULL);
	CHECK_EQ(TRY("fxrstor64 (%0)", "r"(area)), 13, "FXRSTOR with a reserved MXCSR bit: #GP");
	CHECK_EQ(xmm_lo(1), 0xdeadbeefcafef00dULL, "... nothing loaded");
	CHECK_EQ(TRY("fxrstor (%0)", "r"(area + 16 + 8)), 13, "FXRSTOR misaligned: #GP");

	/* ---- XSAVE: enabling ---- */
	uint32_t r[4];
	cpuid2(1, 0, r);
	if (!(r[2] & (1u << 26))) {
		report_skip("no XSAVE in this CPU model");
		return report_summary();
	}
	write_cr4(read_cr4() & ~(1ULL << 18));
	CHECK_EQ(TRY("xsave (%0)", "r"(area), "a"(3), "d"(0)), 6, "CR4.OSXSAVE=0: XSAVE raises #UD");
	CHECK_EQ(TRY("xrstor (%0)", "r"(area), "a"(3), "d"(0)), 6, "CR4.OSXSAVE=0: XRSTOR raises #UD");
	write_cr4(read_cr4() | (1ULL << 18));
	xsetbv(0, 3);
	cpuid2(0xd, 0, r);
	CHECK_EQ(r[1], 576, "CPUID.(0Dh,0).EBX: 576 bytes for XCR0 = 3");

	/* ---- XSAVE: standard format ---- */
	asm volatile("movq %0, %%xmm1" :: "r"(v1));
	set_mxcsr(0x1f80);
	memset(area, 0, sizeof(area));
	put64(area + 512, 0x8000000000000000ULL);	/* XSTATE_BV bit outside RFBM is kept */
	put64(area + 520, 0x77);			/* XCOMP_BV: XSAVE does not write it */
	CHECK_EQ(TRY("xsave (%0)", "r"(area), "a"(2), "d"(0)), -1, "XSAVE RFBM=2 runs");
	CHECK_EQ(get64(area + 512), 0x8000000000000002ULL, "XSTATE_BV: SSE in use, other bits kept");
	CHECK_EQ(get64(area + 520), 0x77, "XCOMP_BV untouched by XSAVE");
	CHECK_EQ(get64(area + 176), v1, "XSAVE: XMM1 saved");
	CHECK_EQ(get32(area + 24), 0x1f80, "XSAVE: MXCSR saved with SSE");
	CHECK_EQ(get32(area + 0), 0, "XSAVE RFBM=2: x87 area not written");
	CHECK_EQ(TRY("xsave (%0)", "r"(area + 16), "a"(3), "d"(0)), 13, "XSAVE not 64-byte aligned: #GP");

	/* ---- XRSTOR: init and header checks ---- */
	memset(area, 0, sizeof(area));
	asm volatile("xsave (%0)" :: "r"(area), "a"(3), "d"(0) : "memory");
	put64(area + 512, 1);	/* SSE not in XSTATE_BV: XMM registers initialised */
	put64(area + 24, 0x1f80 | 0x2000);
	CHECK_EQ(TRY("xrstor (%0)", "r"(area), "a"(3), "d"(0)), -1, "XRSTOR XSTATE_BV=1 runs");
	CHECK_EQ(xmm_lo(1), 0, "XSTATE_BV[1]=0: XMM1 initialised to 0");
	CHECK_EQ(get_mxcsr(), 0x3f80, "standard form: MXCSR loaded anyway (RFBM[1]=1)");
	asm volatile("movq %0, %%xmm1" :: "r"(v1));
	memcpy(area2, area, 1024);
	put64(area2 + 512, 4);	/* AVX not enabled in XCR0 */
	CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), 13, "XSTATE_BV bit not in XCR0: #GP");
	CHECK_EQ(xmm_lo(1), v1, "... XMM1 unchanged");
	memcpy(area2, area, 1024);
	put64(area2 + 520, 1);
	CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), 13, "standard form, XCOMP_BV != 0: #GP");
	memcpy(area2, area, 1024);
	area2[512 + 16] = 1;
	CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), 13, "header bytes 16-23 nonzero: #GP");
	memcpy(area2, area, 1024);
	area2[24] = 0; area2[26] = 0x40;	/* MXCSR reserved bit 22 */
	put64(area2 + 512, 3);
	CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), 13, "reserved MXCSR bit: #GP");
	CHECK_EQ(TRY("xrstor (%0)", "r"(area + 32), "a"(3), "d"(0)), 13, "XRSTOR misaligned: #GP");
	/* RFBM excludes SSE: XMM registers untouched even with XSTATE_BV[1]=0 */
	asm volatile("movq %0, %%xmm1" :: "r"(v1));
	put64(area + 512, 0);
	CHECK_EQ(TRY("xrstor (%0)", "r"(area), "a"(1), "d"(0)), -1, "XRSTOR RFBM=1 runs");
	CHECK_EQ(xmm_lo(1), v1, "RFBM[1]=0: XMM1 untouched");

	/* ---- XSAVEOPT / XSAVEC / compacted XRSTOR ---- */
	cpuid2(0xd, 1, r);
	if (r[0] & 2) {
		asm volatile("movq %0, %%xmm1" :: "r"(v1));
		memset(area, 0xcc, 1024);
		memset(area + 512, 0, 64);	/* XSAVEC writes only bytes 0-15 of the header */
		CHECK_EQ(TRY("xsavec (%0)", "r"(area), "a"(3), "d"(0)), -1, "XSAVEC runs");
		CHECK_EQ(area[416], 0xcc, "XSAVEC: bytes 416+ of the legacy area untouched");
		CHECK_EQ(get64(area + 520), 0x8000000000000003ULL, "XSAVEC: XCOMP_BV = RFBM | bit 63");
		CHECK_EQ(get64(area + 512) & 2, 2, "XSAVEC: XSTATE_BV[1] (SSE in use)");
		CHECK_EQ(get64(area + 176), v1, "XSAVEC: XMM1 in the legacy area");
		asm volatile("pxor %%xmm1, %%xmm1" ::: "memory");
		CHECK_EQ(TRY("xrstor (%0)", "r"(area), "a"(3), "d"(0)), -1, "compacted XRSTOR runs");
		CHECK_EQ(xmm_lo(1), v1, "compacted XRSTOR loads XMM1");
		memcpy(area2, area, 1024);
		put64(area2 + 512, 3);
		put64(area2 + 520, 0x8000000000000001ULL);
		CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), 13, "XSTATE_BV not within XCOMP_BV: #GP");
		memcpy(area2, area, 1024);
		area2[512 + 40] = 1;
		CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), 13, "compacted: header bytes 16-63 nonzero: #GP");
		/* compacted, SSE initialised: MXCSR becomes 1F80h */
		set_mxcsr(0x3f80);
		memcpy(area2, area, 1024);
		put64(area2 + 512, 1);
		put64(area2 + 24, 0x3f80);
		CHECK_EQ(TRY("xrstor (%0)", "r"(area2), "a"(3), "d"(0)), -1, "compacted XRSTOR XSTATE_BV=1 runs");
		CHECK_EQ(get_mxcsr(), 0x1f80, "compacted, SSE init: MXCSR = 1F80h");
		CHECK_EQ(xmm_lo(1), 0, "compacted, SSE init: XMM1 = 0");
		/* init optimisation: SSE in init state is not written by XSAVEC */
		asm volatile("movq %0, %%xmm1; pxor %%xmm1, %%xmm1" :: "r"(v1));
		memset(area, 0xcc, 1024);
		asm volatile("xsavec (%0)" :: "r"(area), "a"(2), "d"(0) : "memory");
		report((get64(area + 512) & 2) == 0 || get64(area + 176) == 0,
		       "XSAVEC: XSTATE_BV[1]=0 only with XMM in init state");
	} else {
		report_skip("no XSAVEC");
	}
	if (r[0] & 1) {
		memset(area, 0, 1024);
		asm volatile("movq %0, %%xmm1" :: "r"(v1));
		CHECK_EQ(TRY("xsaveopt (%0)", "r"(area), "a"(3), "d"(0)), -1, "XSAVEOPT runs");
		CHECK_EQ(get64(area + 176), v1, "XSAVEOPT: XMM1 saved");
	}
	if (!(r[0] & 8))
		CHECK_EQ(TRY("xsaves (%0)", "r"(area), "a"(3), "d"(0)), 6, "XSAVES not advertised: #UD");
	xsetbv(0, 1);
	return report_summary();
}
