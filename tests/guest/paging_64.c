/*
 * 4-level paging (SDM Vol. 3A 4.5, 4.7, 4.8, 4.10): 4 KiB, 2 MiB and 1 GiB
 * pages, accessed and dirty bits, #PF error codes (P, W, RSVD, I) and CR2
 * for each kind of fault, reserved bits at every level, CR0.WP, page-
 * crossing accesses, INVLPG (also of a large page) and CR3 reloads.
 * (User/supervisor, NX, SMEP, SMAP, PKU: paging_prot.  PCID: paging_pcid.)
 */
#include "sys.h"

#define VA 0x0000008000000000ULL	/* PML4 slot 1: tables of our own */
#define VA2M (VA + 0x40000000ULL)	/* a 2 MiB page */
#define VA1G (VA + 0x80000000ULL)	/* a 1 GiB page */
#define PFEC_P 1
#define PFEC_W 2
#define PFEC_U 4
#define PFEC_RSVD 8
#define PFEC_I 0x10

static uint8_t pg[4][4096] __attribute__((aligned(4096)));

static int rd(uint64_t va, uint64_t *v)
{
	uint64_t x = 0xdeadbeef;
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq (%1), %0\n1:" : "+r"(x) : "r"(va) : "memory");
	if (v)
		*v = x;
	return exc_last.vector;
}

static int wr(uint64_t va, uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq %1, (%0)\n1:" :: "r"(va), "r"(v) : "memory");
	return exc_last.vector;
}

uint64_t ex_saved;
/* call va (a RET there); a fetch fault leaves the return address pushed */
static int ex(uint64_t va)
{
	exc_clear();
	asm volatile("mov %%rsp, ex_saved\n\t" ASM_TRY("1f") "call *%0\n1:\tmov ex_saved, %%rsp"
		     :: "r"(va) : "rax", "memory");
	return exc_last.vector;
}

static void pf(int vec, uint32_t ec, uint64_t cr2, const char *what)
{
	report(vec == 14 && exc_last.error_code == ec && exc_last.cr2 == cr2,
	       "%s: #PF ec %#x cr2 %#llx (got vec %d ec %#llx cr2 %#llx)", what, ec,
	       (unsigned long long)cr2, vec, (unsigned long long)exc_last.error_code,
	       (unsigned long long)exc_last.cr2);
}

static uint64_t pa(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static void basic(void)
{
	uint64_t v;
	uint64_t *pte = pte_get(VA, 1);
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	flush_tlb();
	*(volatile uint64_t *)pg[0] = 0x1234;
	/* clear A on the upper levels to watch them being set */
	for (int l = 4; l >= 2; l--)
		*pte_get(VA, l) &= ~PTE_A;
	flush_tlb();
	report(rd(VA, &v) == -1 && v == 0x1234, "read through a 4 KiB mapping");
	report(*pte_get(VA, 4) & PTE_A, "read sets A in the PML4E");
	report(*pte_get(VA, 3) & PTE_A, "read sets A in the PDPTE");
	report(*pte_get(VA, 2) & PTE_A, "read sets A in the PDE");
	CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A, "read sets A, not D, in the PTE");
	report(wr(VA + 8, 0x55) == -1 && *(volatile uint64_t *)(pg[0] + 8) == 0x55, "write");
	CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A | PTE_D, "write sets D in the PTE");
	CHECK_EQ(*pte_get(VA, 2) & PTE_D, 0, "D is not set in the PDE");

	/* not present */
	*pte = pa(pg[0]);
	invlpg((void *)VA);
	pf(rd(VA + 0x10, NULL), 0, VA + 0x10, "read of a not-present page");
	pf(wr(VA + 0x18, 1), PFEC_W, VA + 0x18, "write to a not-present page");
	CHECK_EQ(*pte & PTE_A, 0, "faulting access does not set A");
	*pte_get(VA, 2) &= ~PTE_P;
	flush_tlb();
	pf(rd(VA, NULL), 0, VA, "not-present PDE");
	*pte_get(VA, 2) |= PTE_P;
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	flush_tlb();

	/* CR0.WP */
	*pte = pa(pg[0]) | PTE_P;
	invlpg((void *)VA);
	write_cr0(read_cr0() & ~(1u << 16));
	report(wr(VA, 7) == -1, "CR0.WP = 0: supervisor write to a read-only page");
	write_cr0(read_cr0() | (1u << 16));
	pf(wr(VA, 8), PFEC_P | PFEC_W, VA, "CR0.WP = 1: supervisor write to a read-only page");
	report(rd(VA, &v) == -1 && v == 7, "CR0.WP = 1: read still works");
	*pte_get(VA, 3) &= ~PTE_W;
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	flush_tlb();
	pf(wr(VA, 8), PFEC_P | PFEC_W, VA, "read-only PDPTE with a writable PTE");
	*pte_get(VA, 3) |= PTE_W;
	flush_tlb();
	write_cr0(read_cr0() & ~(1u << 16));
}

static void reserved(void)
{
	uint64_t *pte = pte_get(VA, 1);
	uint64_t *pde = pte_get(VA, 2), *pdpte = pte_get(VA, 3), *pml4e = pte_get(VA, 4);
	uint64_t pml4_old = *pml4e, pdpte_old = *pdpte, pde_old = *pde;

	*pte = pa(pg[0]) | PTE_P | PTE_W | (1ULL << 51);
	flush_tlb();
	pf(rd(VA, NULL), PFEC_P | PFEC_RSVD, VA, "PTE bit 51 (above MAXPHYADDR)");
	pf(wr(VA, 0), PFEC_P | PFEC_W | PFEC_RSVD, VA, "... on a write");
	*pte = pa(pg[0]) | PTE_P | PTE_W | (1ULL << 39);
	flush_tlb();
	pf(rd(VA, NULL), PFEC_P | PFEC_RSVD, VA, "PTE bit 39 = MAXPHYADDR");
	*pte = pa(pg[0]) | PTE_P | PTE_W | PTE_NX;
	flush_tlb();
	pf(rd(VA, NULL), PFEC_P | PFEC_RSVD, VA, "PTE.XD with EFER.NXE = 0");
	*pte = pa(pg[0]) | PTE_P | PTE_W | (1ULL << 52);
	flush_tlb();
	report(rd(VA, NULL) == -1, "PTE bit 52 is ignored");
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	*pml4e = pml4_old | PTE_PS;
	flush_tlb();
	pf(rd(VA, NULL), PFEC_P | PFEC_RSVD, VA, "PML4E.PS");
	*pml4e = pml4_old;
	*pdpte = pdpte_old | (1ULL << 45);
	flush_tlb();
	pf(rd(VA, NULL), PFEC_P | PFEC_RSVD, VA, "PDPTE bit 45");
	*pdpte = pdpte_old;
	*pde = pde_old | (1ULL << 40);
	flush_tlb();
	pf(rd(VA, NULL), PFEC_P | PFEC_RSVD, VA, "PDE bit 40");
	*pde = pde_old;
	/* not-present wins: reserved bits in a not-present entry do not matter */
	*pte = (1ULL << 51);
	flush_tlb();
	pf(rd(VA, NULL), 0, VA, "reserved bits in a not-present PTE are ignored");
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	flush_tlb();
}

static void large(void)
{
	uint64_t v;
	/* 2 MiB page onto the identity 2 MiB page holding pg[] */
	uint64_t base = pa(pg) & ~0x1fffffULL;
	uint64_t off = pa(pg[1]) - base;
	uint64_t *pde = pte_get(VA2M, 2);
	*pde = base | PTE_P | PTE_W | PTE_PS;
	flush_tlb();
	*(volatile uint64_t *)pg[1] = 0xabcd;
	report(rd(VA2M + off, &v) == -1 && v == 0xabcd, "read through a 2 MiB page");
	CHECK_EQ(*pde & (PTE_A | PTE_D), PTE_A, "2 MiB: A set in the PDE");
	report(wr(VA2M + off + 8, 3) == -1 && (*pde & PTE_D), "2 MiB: write sets D in the PDE");
	*pde = base | PTE_P | PTE_W | PTE_PS | (1ULL << 13);
	flush_tlb();
	pf(rd(VA2M + off, NULL), PFEC_P | PFEC_RSVD, VA2M + off, "2 MiB PDE bit 13 (alignment)");
	*pde = base | PTE_P | PTE_W | PTE_PS | (1ULL << 12);	/* PAT bit */
	flush_tlb();
	report(rd(VA2M + off, NULL) == -1, "2 MiB PDE bit 12 (PAT) is allowed");

	/* INVLPG of another address in the same 2 MiB page drops it all */
	*pde = base | PTE_P | PTE_W | PTE_PS;
	flush_tlb();
	rd(VA2M + off, &v);
	*pde = (base + 0x200000) | PTE_P | PTE_W | PTE_PS;
	invlpg((void *)(VA2M + 0x100000));
	report(rd(VA2M + off, &v) == -1 && v == *(volatile uint64_t *)(uintptr_t)(base + 0x200000 + off),
	       "INVLPG anywhere in a 2 MiB page invalidates the whole page");

	/* 1 GiB page onto physical 0 */
	uint64_t *pdpte = pte_get(VA1G, 3);
	*pdpte = 0 | PTE_P | PTE_W | PTE_PS;
	flush_tlb();
	report(rd(VA1G + pa(pg[2]), &v) == -1 && v == *(volatile uint64_t *)pg[2],
	       "read through a 1 GiB page");
	CHECK_EQ(*pdpte & PTE_A, PTE_A, "1 GiB: A set in the PDPTE");
	*pdpte = PTE_P | PTE_W | PTE_PS | (1ULL << 21);
	flush_tlb();
	pf(rd(VA1G + 0x1000, NULL), PFEC_P | PFEC_RSVD, VA1G + 0x1000, "1 GiB PDPTE bit 21");
	*pdpte = 0;
	flush_tlb();
}

static void flushes(void)
{
	uint64_t v;
	uint64_t *pte = pte_get(VA, 1);
	*(volatile uint64_t *)pg[0] = 0x1000;
	*(volatile uint64_t *)pg[1] = 0x2000;
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	flush_tlb();
	rd(VA, &v);
	*pte = pa(pg[1]) | PTE_P | PTE_W;
	invlpg((void *)VA);
	report(rd(VA, &v) == -1 && v == 0x2000, "INVLPG: new translation used");
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	write_cr3(read_cr3());
	report(rd(VA, &v) == -1 && v == 0x1000, "MOV CR3: new translation used");
	/* a global page is flushed by INVLPG too */
	write_cr4(read_cr4() | (1u << 7));
	*pte = pa(pg[0]) | PTE_P | PTE_W | PTE_G;
	invlpg((void *)VA);
	rd(VA, &v);
	*pte = pa(pg[1]) | PTE_P | PTE_W | PTE_G;
	invlpg((void *)VA);
	report(rd(VA, &v) == -1 && v == 0x2000, "INVLPG flushes a global page");
	*pte = pa(pg[0]) | PTE_P | PTE_W | PTE_G;
	write_cr4(read_cr4() & ~(1u << 7));
	report(rd(VA, &v) == -1 && v == 0x1000, "clearing CR4.PGE flushes global pages");
	*pte = pa(pg[0]) | PTE_P | PTE_W;
	flush_tlb();
}

static void crossing(void)
{
	uint64_t *pte0 = pte_get(VA, 1), *pte1 = pte_get(VA + 0x1000, 1);
	*pte0 = pa(pg[0]) | PTE_P | PTE_W;
	*pte1 = pa(pg[1]);
	flush_tlb();
	pf(rd(VA + 0xffc, NULL), 0, VA + 0x1000, "read crossing into a not-present page: CR2 = 2nd page");
	memset(pg[0] + 0xff8, 0x11, 8);
	pf(wr(VA + 0xffc, 0x2222222222222222ULL), PFEC_W, VA + 0x1000, "write crossing into a not-present page");
	CHECK_EQ(*(volatile uint32_t *)(pg[0] + 0xffc), 0x11111111, "... first page not written");
	*pte1 = pa(pg[1]) | PTE_P;
	write_cr0(read_cr0() | (1u << 16));
	flush_tlb();
	pf(wr(VA + 0xffc, 3), PFEC_P | PFEC_W, VA + 0x1000, "write crossing into a read-only page");
	CHECK_EQ(*(volatile uint32_t *)(pg[0] + 0xffc), 0x11111111, "... first page not written");
	write_cr0(read_cr0() & ~(1u << 16));
	*pte1 = pa(pg[1]) | PTE_P | PTE_W;
	flush_tlb();
}

static void fetch(void)
{
	uint64_t *pte = pte_get(VA + 0x3000, 1);
	pg[3][0] = 0xc3;	/* RET */
	*pte = pa(pg[3]) | PTE_P;
	flush_tlb();
	report(ex(VA + 0x3000) == -1, "fetch from a present page");
	*pte = pa(pg[3]);
	invlpg((void *)(VA + 0x3000));
	pf(ex(VA + 0x3000), 0, VA + 0x3000, "fetch from a not-present page (NXE = 0): no I bit");
	wrmsr(0xc0000080, rdmsr(0xc0000080) | (1u << 11));
	pf(ex(VA + 0x3000), PFEC_I, VA + 0x3000, "fetch from a not-present page (NXE = 1): I");
	pf(ex(VA + 0x3123), PFEC_I, VA + 0x3123, "fetch fault: CR2 is the RIP, not the page");
	*pte = pa(pg[3]) | PTE_P | PTE_NX;
	invlpg((void *)(VA + 0x3000));
	pf(ex(VA + 0x3000), PFEC_P | PFEC_I, VA + 0x3000, "fetch from an NX page");
	report(rd(VA + 0x3000, NULL) == -1, "read from an NX page");
	*pte_get(VA + 0x3000, 3) |= PTE_NX;
	*pte = pa(pg[3]) | PTE_P;
	flush_tlb();
	pf(ex(VA + 0x3000), PFEC_P | PFEC_I, VA + 0x3000, "NX in the PDPTE");
	*pte_get(VA + 0x3000, 3) &= ~PTE_NX;
	flush_tlb();
	report(ex(VA + 0x3000) == -1, "fetch again without NX");
	wrmsr(0xc0000080, rdmsr(0xc0000080) & ~(1u << 11));
}

int main(int argc, char **argv)
{
	basic();
	reserved();
	large();
	flushes();
	crossing();
	fetch();
	return report_summary();
}
