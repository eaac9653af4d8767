/*
 * XGETBV / XSETBV (SDM Vol. 2; Vol. 1 13.3): CR4.OSXSAVE, CPL, ECX, the
 * XCR0 rules (x87 bit set, only supported bits, AVX needs SSE), XINUSE,
 * CPUID leaf 0xD and the OSXSAVE bit.
 */
#include "sys.h"

static uint8_t ustack[4096] __attribute__((aligned(4096)));
CODE64(u_xsetbv, "xorl %ecx, %ecx\n\tmovl $3, %eax\n\txorl %edx, %edx\n\txsetbv\n\t" USER_RET);
CODE64(u_xgetbv, "xorl %ecx, %ecx\n\txgetbv\n\t" USER_RET);

static int xsetbv(uint32_t ecx, uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "xsetbv\n1:" :: "c"(ecx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
		     : "memory");
	return exc_last.vector;
}

static int xgetbv(uint32_t ecx, uint64_t *v)
{
	uint32_t a = 0, d = 0;
	exc_clear();
	asm volatile(ASM_TRY("1f") "xgetbv\n1:" : "+a"(a), "+d"(d) : "c"(ecx) : "memory");
	*v = a | ((uint64_t)d << 32);
	return exc_last.vector;
}

int main(int argc, char **argv)
{
	uint32_t r[4];
	uint64_t v;

	cpuid2(0xd, 0, r);
	uint64_t supported = r[0] | ((uint64_t)r[3] << 32);
	report(supported & 3, "CPUID 0xD: x87 and SSE supported (%#llx)", (unsigned long long)supported);
	cpuid2(1, 0, r);
	CHECK_EQ(r[2] & (1u << 27), 0, "CPUID OSXSAVE = 0 with CR4.OSXSAVE = 0");
	CHECK_EQ(xgetbv(0, &v), 6, "XGETBV with CR4.OSXSAVE = 0: #UD");
	CHECK_EQ(xsetbv(0, 3), 6, "XSETBV with CR4.OSXSAVE = 0: #UD");
	write_cr4(read_cr4() | (1u << 18));
	cpuid2(1, 0, r);
	CHECK_EQ(r[2] & (1u << 27), 1u << 27, "CPUID OSXSAVE = 1 with CR4.OSXSAVE = 1");
	report(xgetbv(0, &v) == -1 && v == 1, "XCR0 after reset: x87 only");
	CHECK_EQ(xsetbv(0, 3), -1, "XSETBV x87 | SSE");
	report(xgetbv(0, &v) == -1 && v == 3, "XGETBV reads it back");
	cpuid2(0xd, 0, r);
	CHECK_EQ(r[1], 576, "CPUID 0xD EBX: legacy area + header for XCR0 = 3");
	CHECK_EQ(xsetbv(0, 2), 13, "XCR0 without x87: #GP");
	CHECK_EQ(xsetbv(0, 5), 13, "XCR0 with AVX but without SSE: #GP");
	if (!(supported & 4))
		CHECK_EQ(xsetbv(0, 7), 13, "XCR0 with an unsupported component (AVX): #GP");
	CHECK_EQ(xsetbv(0, 3 | (1ULL << 40)), 13, "XCR0 bit 40: #GP");
	CHECK_EQ(xsetbv(1, 3), 13, "XSETBV ECX = 1: #GP");
	CHECK_EQ(xgetbv(2, &v), 13, "XGETBV ECX = 2: #GP");
	if (supported & 0x200) {
		CHECK_EQ(xsetbv(0, 0x203), -1, "XCR0 with PKRU");
		cpuid2(0xd, 0, r);
		CHECK_EQ(r[1], 0xa88, "CPUID 0xD EBX grows with PKRU state");
		xsetbv(0, 3);
	}
	cpuid2(0xd, 1, r);
	if (r[0] & 4) {
		report(xgetbv(1, &v) == -1 && (v & ~3ULL) == 0, "XGETBV ECX = 1: XINUSE within XCR0");
	} else {
		CHECK_EQ(xgetbv(1, &v), 13, "XGETBV ECX = 1 without XGETBV1: #GP");
	}
	set_user((uint64_t)(uintptr_t)u_xsetbv);
	set_user((uint64_t)(uintptr_t)u_xgetbv);
	set_user((uint64_t)(uintptr_t)ustack);
	exc_clear();
	run_user64(u_xsetbv, 0, ustack + sizeof(ustack));
	report(exc_last.vector == 13 && exc_last.error_code == 0, "CPL 3 XSETBV: #GP(0)");
	exc_clear();
	v = run_user64(u_xgetbv, 0, ustack + sizeof(ustack));
	report(exc_last.vector == -1 && (v & 0xffffffff) == 3, "CPL 3 XGETBV");
	xsetbv(0, 1);
	write_cr4(read_cr4() & ~(1u << 18));
	return report_summary();
}
