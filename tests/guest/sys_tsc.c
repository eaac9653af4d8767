/*
 * Time-stamp counter and random numbers (SDM Vol. 2 "RDTSC", "RDTSCP",
 * "RDPID", "RDRAND", "RDSEED"; Vol. 3A 2.5 CR4.TSD): CR4.TSD makes RDTSC
 * and RDTSCP #GP(0) above CPL 0 but not RDPID; TSC_AUX in ECX / the RDPID
 * register; RDRAND/RDSEED set CF, clear the other flags, write the
 * operand size.  (Run-to-run determinism: tests/unit/sys_rdrand.c.)
 */
#include "sys.h"

static uint8_t ustack[4096] __attribute__((aligned(4096)));

asm(".pushsection .text\n\t.balign 4096\n"
"u_tsc:\n"
"u_rdtsc:\n\trdtsc\n\tint $0x81\n"
"u_rdtscp:\n\trdtscp\n\tmovl %ecx, %eax\n\tint $0x81\n"
"u_rdpid:\n\trdpid %rax\n\tint $0x81\n"
	".balign 4096\n\t"
	".popsection");
extern char u_tsc[], u_rdtsc[], u_rdtscp[], u_rdpid[];

static int user(void *fn, uint64_t *r)
{
	exc_clear();
	uint64_t v = run_user64(fn, 0, ustack + sizeof(ustack));
	if (r)
		*r = v;
	return exc_last.vector;
}

int main(int argc, char **argv)
{
	uint64_t r;
	uint32_t a, c, d;

	set_user((uint64_t)(uintptr_t)u_tsc);
	set_user((uint64_t)(uintptr_t)ustack);
	wrmsr(0xc0000103, 0xabcd);

	uint64_t t1 = rdtsc();
	asm volatile("rdtscp" : "=a"(a), "=c"(c), "=d"(d));
	uint64_t t2 = a | ((uint64_t)d << 32);
	report(t2 > t1, "RDTSCP after RDTSC is larger");
	CHECK_EQ(c, 0xabcd, "RDTSCP: ECX = TSC_AUX");
	r = ~0ULL;
	asm volatile("rdpid %0" : "+r"(r));
	CHECK_EQ(r, 0xabcd, "RDPID: TSC_AUX zero-extended");

	report(user(u_rdtsc, NULL) == -1, "CPL 3 RDTSC, CR4.TSD = 0");
	report(user(u_rdtscp, &r) == -1 && r == 0xabcd, "CPL 3 RDTSCP, CR4.TSD = 0");
	write_cr4(read_cr4() | (1u << 2));
	report(user(u_rdtsc, NULL) == 13 && exc_last.error_code == 0, "CPL 3 RDTSC, CR4.TSD = 1: #GP(0)");
	report(user(u_rdtscp, NULL) == 13 && exc_last.error_code == 0, "CPL 3 RDTSCP, CR4.TSD = 1: #GP(0)");
	report(user(u_rdpid, &r) == -1 && r == 0xabcd, "CPL 3 RDPID is not affected by CR4.TSD");
	report(rdtsc() > t2, "CPL 0 RDTSC with CR4.TSD = 1");
	write_cr4(read_cr4() & ~(1u << 2));
	wrmsr(0xc0000103, 0);

	/* RDRAND / RDSEED */
	uint64_t x = 0, y = 0, fl;
	asm volatile("cmp %%eax, %%eax\n\trdrand %0\n\tpushfq\n\tpopq %1" : "=r"(x), "=r"(fl) :: "rax", "cc");
	CHECK_EQ(fl & 0x8d5, 1, "RDRAND: CF = 1, OF SF ZF AF PF = 0");
	asm volatile("rdrand %0" : "=r"(y) :: "cc");
	report(x != y, "RDRAND: consecutive values differ");
	asm volatile("rdseed %0\n\tpushfq\n\tpopq %1" : "=r"(x), "=r"(fl) :: "cc");
	CHECK_EQ(fl & 0x8d5, 1, "RDSEED: CF = 1, other flags 0");
	x = 0xffffffffffffffffULL;
	asm volatile("rdrand %w0" : "+r"(x) :: "cc");
	CHECK_EQ(x >> 16, 0xffffffffffffULL, "RDRAND r16 writes 16 bits");
	x = 0xffffffffffffffffULL;
	asm volatile("rdrand %k0" : "+r"(x) :: "cc");
	CHECK_EQ(x >> 32, 0, "RDRAND r32 zero-extends");
	return report_summary();
}
