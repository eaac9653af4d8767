/*
 * 5-level paging (SDM Vol. 3A 4.5, CR4.LA57): entering it from outside
 * IA-32e mode, 57-bit canonical addresses (#GP vs the 48-bit rule), a
 * mapping through PML5 entry 1, accessed bits and reserved PS in the
 * PML5E, LA57 locked in IA-32e mode, canonical checks of MSRs, CPUID.
 */
// nestvm-args: -cpu intel,+la57
#include "sys.h"

#define CR4_LA57 (1u << 12)
static uint64_t pml5[512] __attribute__((aligned(4096)));
static uint8_t pg[4096] __attribute__((aligned(4096)));

CODE32(p_nothing, "ret");

static int rd(uint64_t va, uint64_t *v)
{
	uint64_t x = 0;
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq (%1), %0\n1:" : "+r"(x) : "r"(va) : "memory");
	if (v)
		*v = x;
	return exc_last.vector;
}

int main(int argc, char **argv)
{
	uint32_t r[4];
	uint64_t cr3 = read_cr3(), cr4 = read_cr4(), v;

	cpuid2(7, 0, r);
	report(r[2] & (1u << 16), "CPUID.7.ECX.LA57 with +la57");
	cpuid2(0x80000008, 0, r);
	CHECK_EQ((r[0] >> 8) & 0xff, 57, "CPUID 0x80000008: 57 linear-address bits");

	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n1:" :: "r"(cr4 | CR4_LA57) : "memory");
	CHECK_EQ(exc_last.vector, 13, "setting CR4.LA57 in IA-32e mode: #GP");

	pml5[0] = cr3 | PTE_P | PTE_W;
	call32_cr(p_nothing, 0, (uint64_t)(uintptr_t)pml5, cr4 | CR4_LA57);
	report(read_cr4() & CR4_LA57, "back in 64-bit mode with 5-level paging");
	report(pml5[0] & PTE_A, "PML5E accessed bit set");

	/* bit 47 set: non-canonical with 4 levels, canonical with 5 */
	uint64_t hi = 0x0000800000000000ULL;
	map_page(hi, (uint64_t)(uintptr_t)pg, PTE_W);
	*(volatile uint64_t *)pg = 0x5757;
	report(rd(hi, &v) == -1 && v == 0x5757, "address with bit 47 set is canonical and mapped");
	uint64_t top = 0x0001000000000000ULL;	/* PML5 index 1 */
	map_page(top, (uint64_t)(uintptr_t)pg, PTE_W);
	report(rd(top, &v) == -1 && v == 0x5757, "mapping through PML5 entry 1");
	report(pml5[1] & PTE_A, "PML5E 1 accessed");
	CHECK_EQ(rd(0x0100000000000000ULL, NULL), 13, "bit 56 set, 63:57 clear: non-canonical #GP");
	CHECK_EQ(rd(0xfe00000000000000ULL, NULL), 13, "bits 63:57 set, 56 clear: non-canonical #GP");
	exc_clear();
	rd(0xff00000000000000ULL, NULL);
	report(exc_last.vector == 14, "0xff00000000000000 is canonical (not mapped: #PF)");
	pml5[1] |= PTE_PS;
	flush_tlb();
	report(rd(top, NULL) == 14 && exc_last.error_code == 9, "PML5E.PS: #PF with RSVD");
	pml5[1] &= ~PTE_PS;
	flush_tlb();

	CHECK_EQ(wrmsr_safe(0xc0000100, hi), EXC_NONE, "FS_BASE with bit 47: accepted");
	CHECK_EQ(wrmsr_safe(0xc0000100, 0x0100000000000000ULL), 13, "FS_BASE with bit 56 only: #GP");
	wrmsr(0xc0000100, 0);
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n1:" :: "r"(read_cr4() & ~CR4_LA57) : "memory");
	CHECK_EQ(exc_last.vector, 13, "clearing CR4.LA57 in IA-32e mode: #GP");

	call32_cr(p_nothing, 0, cr3, cr4);
	report(!(read_cr4() & CR4_LA57) && read_cr3() == cr3, "back to 4-level paging");
	CHECK_EQ(rd(hi, NULL), 13, "4-level: bit 47 set is non-canonical again");
	return report_summary();
}
