/*
 * PCIDs and INVPCID (SDM Vol. 3A 4.10.1, 4.10.4; Vol. 2 "INVPCID"): what
 * must be invalidated is (a processor may drop more, so only the required
 * invalidations are asserted), and the #GP conditions of INVPCID.
 */
#include "sys.h"

#define VA 0x0000018000000000ULL	/* PML4 slot 3 */
#define CR4_PGE (1u << 7)
#define CR4_PCIDE (1u << 17)

static uint8_t pg[2][4096] __attribute__((aligned(4096)));

static uint64_t rd(void)
{
	return *(volatile uint64_t *)VA;
}

static int invpcid(uint64_t type, uint64_t pcid, uint64_t addr)
{
	struct { uint64_t pcid, addr; } d = { pcid, addr };
	exc_clear();
	asm volatile(ASM_TRY("1f") "invpcid %0, %1\n1:" :: "m"(d), "r"(type) : "memory");
	return exc_last.vector;
}

static uint64_t *pte;
static uint8_t ustack[4096] __attribute__((aligned(4096)));
CODE64(u_invpcid, "xorl %eax, %eax\n\tinvpcid (%rsp), %rax\n\t" USER_RET);

static void point(int k, uint64_t flags)
{
	*pte = (uint64_t)(uintptr_t)pg[k] | PTE_P | PTE_W | flags;
}

int main(int argc, char **argv)
{
	uint32_t r[4];
	uint64_t base = read_cr3();

	cpuid2(1, 0, r);
	report(r[2] & (1u << 17), "CPUID: PCID");
	cpuid2(7, 0, r);
	report(r[1] & (1u << 10), "CPUID: INVPCID");
	*(volatile uint64_t *)pg[0] = 0xa0;
	*(volatile uint64_t *)pg[1] = 0xb1;
	pte = pte_get(VA, 1);
	point(0, 0);
	flush_tlb();

	/* INVPCID faults with PCIDE = 0 */
	CHECK_EQ(invpcid(1, 0, 0), EXC_NONE, "PCIDE = 0: INVPCID type 1, PCID 0");
	CHECK_EQ(invpcid(1, 1, 0), 13, "PCIDE = 0: INVPCID type 1, PCID 1: #GP");
	CHECK_EQ(invpcid(0, 2, VA), 13, "PCIDE = 0: INVPCID type 0, PCID 2: #GP");
	CHECK_EQ(invpcid(2, 5, 0), EXC_NONE, "PCIDE = 0: INVPCID type 2 ignores the PCID field");

	write_cr4(read_cr4() | CR4_PCIDE | CR4_PGE);
	write_cr3(base | 1);
	CHECK_EQ(read_cr3(), base | 1, "running with PCID 1");
	CHECK_EQ(invpcid(4, 1, 0), 13, "INVPCID type 4: #GP");
	CHECK_EQ(invpcid(0, 0x1000, VA), 13, "INVPCID descriptor bits 63:12 set: #GP");
	CHECK_EQ(invpcid(0, 1, 0x0000800000000000ULL), 13, "INVPCID type 0, non-canonical: #GP");
	CHECK_EQ(invpcid(1, 1, 0x0000800000000000ULL), EXC_NONE, "type 1 ignores the address");
	exc_clear();
	asm volatile(ASM_TRY("1f") "invpcid (%0), %1\n1:" :: "r"(0x0000900000000000ULL), "r"(1ULL) : "memory");
	CHECK_EQ(exc_last.vector, 13, "INVPCID with a non-canonical memory operand: #GP");

	/* what must be flushed */
	CHECK_EQ(rd(), 0xa0, "PCID 1 translation");
	point(1, 0);
	write_cr3(base | 1);
	CHECK_EQ(rd(), 0xb1, "MOV CR3 without bit 63 invalidates the PCID's translations");
	point(0, 0);
	invpcid(0, 1, VA);
	CHECK_EQ(rd(), 0xa0, "INVPCID type 0 invalidates the address");
	point(1, 0);
	invpcid(1, 1, 0);
	CHECK_EQ(rd(), 0xb1, "INVPCID type 1 invalidates the PCID");
	/* invalidation of a PCID that is not current */
	write_cr3(base | 2 | (1ULL << 63));
	point(0, 0);
	invpcid(1, 1, 0);
	write_cr3(base | 1 | (1ULL << 63));
	CHECK_EQ(rd(), 0xa0, "INVPCID of another PCID: seen when switching back without flush");
	point(1, 0);
	invpcid(3, 0, 0);
	CHECK_EQ(rd(), 0xb1, "INVPCID type 3 invalidates non-global translations");
	/* global translations */
	point(0, PTE_G);
	invpcid(2, 0, 0);
	CHECK_EQ(rd(), 0xa0, "global page");
	point(1, PTE_G);
	invpcid(2, 0, 0);
	CHECK_EQ(rd(), 0xb1, "INVPCID type 2 invalidates global translations");
	point(0, PTE_G);
	invpcid(0, 1, VA);
	CHECK_EQ(rd(), 0xa0, "INVPCID type 0 invalidates a global translation of the address");
	point(1, PTE_G);
	invlpg((void *)VA);
	CHECK_EQ(rd(), 0xb1, "INVLPG invalidates a global translation (any PCID)");
	point(0, PTE_G);
	write_cr4(read_cr4() & ~CR4_PGE);
	CHECK_EQ(rd(), 0xa0, "clearing CR4.PGE invalidates global translations");
	write_cr4(read_cr4() | CR4_PGE);
	point(1, 0);
	write_cr3(base);
	write_cr4(read_cr4() & ~CR4_PCIDE);
	CHECK_EQ(rd(), 0xb1, "clearing CR4.PCIDE invalidates");
	write_cr4(read_cr4() & ~CR4_PGE);

	/* CPL 3 */
	set_user((uint64_t)(uintptr_t)u_invpcid);
	set_user((uint64_t)(uintptr_t)ustack);
	exc_clear();
	run_user64(u_invpcid, 0, ustack + 4000);
	report(exc_last.vector == 13 && exc_last.error_code == 0, "INVPCID at CPL 3: #GP(0)");
	return report_summary();
}
