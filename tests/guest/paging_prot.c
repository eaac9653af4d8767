/*
 * Page-level protection in 4-level paging (SDM Vol. 3A 4.6): user /
 * supervisor and read / write for user accesses, user fetches, SMEP, SMAP
 * (with STAC/CLAC and implicit supervisor accesses), protection keys
 * (PKRU AD/WD, RDPKRU/WRPKRU, OSPKE), with the exact #PF error code (P, W,
 * U, I, PK) and CR2.  Code that ran at one privilege level must still be
 * checked when it is reached at the other.
 */
#include "sys.h"

#define VA 0x0000010000000000ULL	/* PML4 slot 2 */
#define PFEC_P 1
#define PFEC_W 2
#define PFEC_U 4
#define PFEC_I 0x10
#define PFEC_PK 0x20
#define CR4_SMEP (1u << 20)
#define CR4_SMAP (1u << 21)
#define CR4_PKE (1u << 22)

static uint8_t pg[4][4096] __attribute__((aligned(4096)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));
static uint64_t ldt[2] __attribute__((aligned(4096)));

/* ring-3 code on a page of its own (it becomes a user page) */
asm(".pushsection .text\n\t.balign 4096\n"
"u_page:\n"
"u_read:\n\t"
	"movq (%rdi), %rax\n\t"
	"int $0x81\n"
"u_write:\n\t"
	"movq $0x77, (%rdi)\n\t"
	"xorl %eax, %eax\n\t"
	"int $0x81\n"
"u_call:\n\t"
	"call *%rdi\n\t"
	"xorl %eax, %eax\n\t"
	"int $0x81\n"
"u_pkru:\n\t"
	"movl %edi, %eax\n\t"
	"xorl %ecx, %ecx\n\t"
	"xorl %edx, %edx\n\t"
	"wrpkru\n\t"
	"rdpkru\n\t"
	"int $0x81\n"
"u_stac:\n\t"
	"stac\n\t"
	"int $0x81\n"
"u_ret:\n\t"
	"ret\n\t"
	".balign 4096\n\t"
	".popsection");
extern char u_page[], u_read[], u_write[], u_call[], u_pkru[], u_stac[], u_ret[];

uint64_t ex_saved;
static int ex(uint64_t va)
{
	exc_clear();
	asm volatile("mov %%rsp, ex_saved\n\t" ASM_TRY("1f") "call *%0\n1:\tmov ex_saved, %%rsp"
		     :: "r"(va) : "rax", "memory");
	return exc_last.vector;
}

static int rd(uint64_t va)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq (%0), %%rax\n1:" :: "r"(va) : "rax", "memory");
	return exc_last.vector;
}

static int wr(uint64_t va)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq $5, (%0)\n1:" :: "r"(va) : "memory");
	return exc_last.vector;
}

static int user(void *fn, uint64_t arg)
{
	exc_clear();
	run_user64(fn, arg, ustack + sizeof(ustack));
	return exc_last.vector;
}

static void pf(int vec, uint32_t ec, uint64_t cr2, const char *what)
{
	report(vec == 14 && exc_last.error_code == ec && exc_last.cr2 == cr2,
	       "%s: #PF ec %#x (got vec %d ec %#llx cr2 %#llx)", what, ec, vec,
	       (unsigned long long)exc_last.error_code, (unsigned long long)exc_last.cr2);
}

static uint64_t *map(int k, uint64_t flags)
{
	uint64_t *pte = pte_get(VA + k * 0x1000, 1);
	*pte = (uint64_t)(uintptr_t)pg[k] | PTE_P | flags;
	flush_tlb();
	return pte;
}

static void user_supervisor(void)
{
	uint64_t a = VA, b = VA + 0x1000;
	map(0, PTE_U | PTE_W);
	report(user(u_read, a) == -1, "user read of a user page");
	report(user(u_write, a) == -1 && pg[0][0] == 0x77, "user write of a writable user page");
	map(1, PTE_W);
	pf(user(u_read, b), PFEC_P | PFEC_U, b, "user read of a supervisor page");
	pf(user(u_write, b), PFEC_P | PFEC_W | PFEC_U, b, "user write of a supervisor page");
	map(1, PTE_U);
	pf(user(u_write, b), PFEC_P | PFEC_W | PFEC_U, b, "user write of a read-only user page");
	report(user(u_read, b) == -1, "user read of a read-only user page");
	*pte_get(b, 2) &= ~PTE_U;
	flush_tlb();
	pf(user(u_read, b), PFEC_P | PFEC_U, b, "user read with U = 0 in the PDE");
	*pte_get(b, 2) |= PTE_U;
	*pte_get(b, 1) &= ~PTE_P;
	flush_tlb();
	pf(user(u_read, b), PFEC_U, b, "user read of a not-present page");
	/* supervisor writes to read-only user pages follow CR0.WP */
	map(1, PTE_U);
	report(wr(b) == -1, "supervisor write to a read-only user page, WP = 0");
	write_cr0(read_cr0() | (1u << 16));
	pf(wr(b), PFEC_P | PFEC_W, b, "supervisor write to a read-only user page, WP = 1");
	write_cr0(read_cr0() & ~(1u << 16));
}

static void user_fetch(void)
{
	uint64_t k = VA + 0x2000;
	pg[2][0] = 0xc3;
	map(2, 0);
	/* the kernel runs the page first: that must not let ring 3 in */
	report(ex(k) == -1, "supervisor fetch from a supervisor page");
	pf(user(u_call, k), PFEC_P | PFEC_U, k, "user fetch from a supervisor page (code the kernel ran)");
	wrmsr(0xc0000080, rdmsr(0xc0000080) | (1u << 11));
	pf(user(u_call, k), PFEC_P | PFEC_U | PFEC_I, k, "... with EFER.NXE: I bit");
	map(2, PTE_U | PTE_NX);
	pf(user(u_call, k), PFEC_P | PFEC_U | PFEC_I, k, "user fetch from an NX user page");
	map(2, PTE_U);
	report(user(u_call, k) == -1, "user fetch from a user page");
	wrmsr(0xc0000080, rdmsr(0xc0000080) & ~(1u << 11));
}

static void smep(void)
{
	uint64_t k = VA + 0x2000;
	pg[2][0] = 0xc3;
	map(2, PTE_U);
	report(ex(k) == -1, "supervisor fetch from a user page without SMEP");
	/* ring 3 runs it, then the kernel with SMEP: must fault */
	report(user(u_call, k) == -1, "user fetch from the user page");
	write_cr4(read_cr4() | CR4_SMEP);
	pf(ex(k), PFEC_P | PFEC_I, k, "SMEP: supervisor fetch from a user page");
	map(2, 0);
	report(ex(k) == -1, "SMEP: supervisor fetch from a supervisor page");
	map(2, PTE_U);
	*pte_get(k, 2) &= ~PTE_U;
	flush_tlb();
	report(ex(k) == -1, "SMEP: U = 0 in the PDE makes it a supervisor page");
	*pte_get(k, 2) |= PTE_U;
	flush_tlb();
	report(user(u_call, k) == -1, "SMEP does not restrict user fetches");
	write_cr4(read_cr4() & ~CR4_SMEP);
}

static void smap(void)
{
	uint64_t a = VA;
	map(0, PTE_U | PTE_W);
	report(rd(a) == -1, "supervisor read of a user page without SMAP");
	write_cr4(read_cr4() | CR4_SMAP);
	pf(rd(a), PFEC_P, a, "SMAP, AC = 0: supervisor read of a user page");
	pf(wr(a), PFEC_P | PFEC_W, a, "SMAP, AC = 0: supervisor write of a user page");
	asm volatile("stac" ::: "memory");
	report(rd(a) == -1 && wr(a) == -1, "SMAP, STAC: access allowed");
	report(read_rflags() & (1u << 18), "STAC sets RFLAGS.AC");
	asm volatile("clac" ::: "memory");
	pf(rd(a), PFEC_P, a, "SMAP, CLAC: fault again");
	map(0, PTE_W);
	report(rd(a) == -1, "SMAP: supervisor page unaffected");
	/* implicit supervisor access: an LDT on a user page, read by LAR */
	uint64_t lva = VA + 0x3000;
	uint64_t *pte = pte_get(lva, 1);
	*pte = (uint64_t)(uintptr_t)ldt | PTE_P | PTE_W | PTE_U;
	flush_tlb();
	ldt[1] = seg_desc(0, 0xfffff, 0xc093);
	gdt_set16(0x60, sys_desc64_lo(lva, sizeof(ldt) - 1, 2, 0), lva >> 32);
	asm volatile("lldt %w0" :: "r"((uint16_t)0x60) : "memory");
	asm volatile("stac" ::: "memory");
	exc_clear();
	uint32_t ar = 0;
	asm volatile(ASM_TRY("1f") "lar %1, %0\n1:" : "+r"(ar) : "r"(0x0c) : "memory");
	asm volatile("clac" ::: "memory");
	pf(exc_last.vector, PFEC_P, lva + 8, "SMAP: implicit access (LDT on a user page) faults with AC = 1");
	asm volatile("lldt %w0" :: "r"((uint16_t)0) : "memory");
	write_cr4(read_cr4() & ~CR4_SMAP);
	report(user(u_stac, 0) == 6, "STAC at CPL 3: #UD");
}

static uint32_t rdpkru(void)
{
	uint32_t a, d;
	asm volatile("rdpkru" : "=a"(a), "=d"(d) : "c"(0));
	return a;
}

static void wrpkru(uint32_t v)
{
	asm volatile("wrpkru" :: "a"(v), "c"(0), "d"(0) : "memory");
}

static void pku(void)
{
	uint64_t a = VA, s = VA + 0x1000;
	uint32_t r[4];

	exc_clear();
	asm volatile(ASM_TRY("1f") "rdpkru\n1:" ::: "rax", "rdx", "memory");
	CHECK_EQ(exc_last.vector, 6, "RDPKRU with CR4.PKE = 0: #UD");
	cpuid2(7, 0, r);
	CHECK_EQ(r[2] & 0x10, 0, "CPUID OSPKE = 0");
	write_cr4(read_cr4() | CR4_PKE);
	cpuid2(7, 0, r);
	CHECK_EQ(r[2] & 0x18, 0x18, "CPUID PKU and OSPKE = 1 with CR4.PKE");
	wrpkru(0x12345678);
	CHECK_EQ(rdpkru(), 0x12345678, "WRPKRU / RDPKRU");
	exc_clear();
	asm volatile(ASM_TRY("1f") "wrpkru\n1:" :: "a"(0), "c"(1), "d"(0) : "memory");
	CHECK_EQ(exc_last.vector, 13, "WRPKRU with ECX != 0: #GP");
	exc_clear();
	asm volatile(ASM_TRY("1f") "wrpkru\n1:" :: "a"(0), "c"(0), "d"(1) : "memory");
	CHECK_EQ(exc_last.vector, 13, "WRPKRU with EDX != 0: #GP");
	exc_clear();
	asm volatile(ASM_TRY("1f") "rdpkru\n1:" :: "c"(1) : "rax", "rdx", "memory");
	CHECK_EQ(exc_last.vector, 13, "RDPKRU with ECX != 0: #GP");

	map(0, PTE_U | PTE_W | (1ULL << 59));		/* key 1 */
	map(1, PTE_W | (1ULL << 59));			/* supervisor page, key 1 */
	wrpkru(0);
	report(user(u_read, a) == -1 && user(u_write, a) == -1, "PKRU = 0: user access to key 1");
	wrpkru(1 << 2);					/* AD1 */
	pf(user(u_read, a), PFEC_P | PFEC_U | PFEC_PK, a, "AD1: user read");
	pf(user(u_write, a), PFEC_P | PFEC_W | PFEC_U | PFEC_PK, a, "AD1: user write");
	pf(rd(a), PFEC_P | PFEC_PK, a, "AD1: supervisor read of a user page");
	report(rd(s) == -1, "AD1: supervisor page is not checked");
	wrpkru(2 << 2);					/* WD1 */
	report(user(u_read, a) == -1, "WD1: user read");
	pf(user(u_write, a), PFEC_P | PFEC_W | PFEC_U | PFEC_PK, a, "WD1: user write");
	report(wr(a) == -1, "WD1, CR0.WP = 0: supervisor write allowed");
	write_cr0(read_cr0() | (1u << 16));
	pf(wr(a), PFEC_P | PFEC_W | PFEC_PK, a, "WD1, CR0.WP = 1: supervisor write");
	write_cr0(read_cr0() & ~(1u << 16));
	wrpkru(3 << 0);					/* AD0 | WD0: key 0 */
	report(user(u_read, a) == -1, "keys of other pages do not matter");
	/* fetches are not subject to protection keys */
	pg[2][0] = 0xc3;
	map(2, PTE_U | (1ULL << 59));
	wrpkru(1 << 2);
	report(user(u_call, VA + 0x2000) == -1, "AD1: user fetch is not checked");
	/* PKRU from ring 3 */
	user(u_pkru, 0xc);
	CHECK_EQ(rdpkru(), 0xc, "WRPKRU at CPL 3");
	wrpkru(0);
	write_cr4(read_cr4() & ~CR4_PKE);
}

int main(int argc, char **argv)
{
	set_user((uint64_t)(uintptr_t)u_page);
	set_user((uint64_t)(uintptr_t)ustack);
	user_supervisor();
	user_fetch();
	smep();
	smap();
	pku();
	return report_summary();
}
