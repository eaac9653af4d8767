/*
 * CR0 / CR3 / CR4 / CR8 / EFER transitions and their #GP checks (SDM Vol. 2
 * "MOV—Move to/from Control Registers", Vol. 3A 2.5, 9.8.5): in 64-bit
 * mode, compatibility mode and 32-bit protected mode, including entering
 * and leaving IA-32e mode by hand.
 */
#include "sys.h"

#define CR0_PE 1u
#define CR0_ET 0x10u
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR0_PG (1u << 31)
#define CR4_PAE (1u << 5)
#define CR4_PCIDE (1u << 17)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)

static int wr_cr0(uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%cr0\n1:" :: "r"(v) : "memory");
	return exc_last.vector;
}

static int wr_cr3(uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%cr3\n1:" :: "r"(v) : "memory");
	return exc_last.vector;
}

static int wr_cr4(uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n1:" :: "r"(v) : "memory");
	return exc_last.vector;
}

static int wr_cr8(uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%cr8\n1:" :: "r"(v) : "memory");
	return exc_last.vector;
}

static void gp0(int vec, const char *what)
{
	report(vec == 13 && exc_last.error_code == 0, "%s: #GP(0) (vector %d, ec %#llx)", what,
	       vec, (unsigned long long)exc_last.error_code);
}

static void long_mode_checks(void)
{
	uint64_t cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4();

	gp0(wr_cr0(cr0 | (1ULL << 32)), "CR0 bit 32");
	gp0(wr_cr0((cr0 & ~(uint64_t)CR0_CD) | CR0_NW), "CR0.NW without CR0.CD");
	gp0(wr_cr0(cr0 & ~(uint64_t)CR0_PG), "clearing CR0.PG in 64-bit mode");
	gp0(wr_cr0(cr0 & ~(uint64_t)CR0_PE), "clearing CR0.PE with PG set");
	CHECK_EQ(read_cr0(), cr0, "CR0 unchanged by the faulting writes");
	report(wr_cr0(cr0 | (1u << 6)) == EXC_NONE, "reserved CR0 bit 6: no fault");
	CHECK_EQ(read_cr0() & (1u << 6), 0, "reserved CR0 bit 6 reads as 0");
	report(wr_cr0(cr0 & ~(uint64_t)CR0_ET) == EXC_NONE && (read_cr0() & CR0_ET),
	       "CR0.ET is hardwired to 1");
	wr_cr0(cr0);

	gp0(wr_cr4(cr4 | (1u << 15)), "CR4 reserved bit 15");
	gp0(wr_cr4(cr4 | (1ULL << 32)), "CR4 reserved bit 32");
	gp0(wr_cr4(cr4 | (1u << 13)), "CR4.VMXE without VMX");
	gp0(wr_cr4(cr4 | (1u << 14)), "CR4.SMXE without SMX");
	gp0(wr_cr4(cr4 | (1u << 12)), "CR4.LA57 without LA57 (and in long mode)");
	gp0(wr_cr4(cr4 & ~(uint64_t)CR4_PAE), "clearing CR4.PAE in IA-32e mode");
	CHECK_EQ(read_cr4(), cr4, "CR4 unchanged by the faulting writes");

	/* PCIDE needs CR3[11:0] = 0 (SDM 4.10.1) */
	report(wr_cr3(cr3 | 0x18) == EXC_NONE, "CR3 PWT/PCD with PCIDE=0: no fault");
	gp0(wr_cr4(cr4 | CR4_PCIDE), "CR4.PCIDE with CR3[11:0] != 0");
	wr_cr3(cr3);
	report(wr_cr4(cr4 | CR4_PCIDE) == EXC_NONE, "CR4.PCIDE with CR3[11:0] = 0");
	report(wr_cr3(cr3 | 0x7) == EXC_NONE && read_cr3() == (cr3 | 7), "CR3 with PCID 7");
	report(wr_cr3(cr3 | 0x7 | (1ULL << 63)) == EXC_NONE && read_cr3() == (cr3 | 7),
	       "CR3 bit 63 (no flush) is not stored");
	wr_cr3(cr3);
	report(wr_cr4(cr4) == EXC_NONE, "clearing CR4.PCIDE");
	gp0(wr_cr3(cr3 | (1ULL << 63)), "CR3 bit 63 with PCIDE=0");
	gp0(wr_cr3(cr3 | (1ULL << 62)), "CR3 reserved bit 62");
	gp0(wr_cr3(cr3 | (1ULL << 39)), "CR3 bit above MAXPHYADDR (39)");
	CHECK_EQ(read_cr3(), cr3, "CR3 unchanged");

	/* CR8: TPR, bits 63:4 reserved */
	gp0(wr_cr8(16), "CR8 = 16");
	report(wr_cr8(5) == EXC_NONE && read_cr8() == 5, "CR8 = 5 reads back");
	wr_cr8(0);

	/* CR1, CR5, CR9: #UD */
	exc_clear();
	asm volatile(ASM_TRY("1f") ".byte 0x0f, 0x22, 0xc8\n1:" ::: "memory");	/* mov %rax, %cr1 */
	CHECK_EQ(exc_last.vector, 6, "MOV CR1: #UD");
	exc_clear();
	asm volatile(ASM_TRY("1f") ".byte 0x0f, 0x20, 0xe8\n1:" ::: "rax", "memory");	/* mov %cr5, %rax */
	CHECK_EQ(exc_last.vector, 6, "MOV from CR5: #UD");
	exc_clear();
	asm volatile(ASM_TRY("1f") ".byte 0x44, 0x0f, 0x22, 0xc8\n1:" ::: "memory");	/* mov %rax, %cr9 */
	CHECK_EQ(exc_last.vector, 6, "MOV CR9: #UD");

	/* EFER: LME may not change with paging on; reserved bits; LMA is read-only */
	uint64_t efer = rdmsr(0xc0000080);
	CHECK_EQ(efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA, "EFER.LME and LMA in 64-bit mode");
	CHECK_EQ(wrmsr_safe(0xc0000080, efer & ~(uint64_t)EFER_LME), 13, "clearing EFER.LME with paging on: #GP");
	CHECK_EQ(wrmsr_safe(0xc0000080, efer | (1u << 2)), 13, "EFER reserved bit 2: #GP");
	CHECK_EQ(wrmsr_safe(0xc0000080, efer | (1ULL << 32)), 13, "EFER reserved bit 32: #GP");
	CHECK_EQ(wrmsr_safe(0xc0000080, efer | (1u << 12)), 13, "EFER.SVME without SVM: #GP");
	report(wrmsr_safe(0xc0000080, efer & ~(uint64_t)EFER_LMA) == EXC_NONE &&
	       rdmsr(0xc0000080) == efer, "writing EFER.LMA = 0 is ignored");
	report(wrmsr_safe(0xc0000080, efer | (1u << 11)) == EXC_NONE &&
	       (rdmsr(0xc0000080) & (1u << 11)), "EFER.NXE can be set");
	wrmsr(0xc0000080, efer);
}

/* ---- compatibility mode ---- */

CODE32(c_clear_pg,
	"movl %cr0, %eax\n\t"
	"andl $0x7fffffff, %eax\n\t"
	COMPAT_TRY("1f")
	"movl %eax, %cr0\n\t"
	COMPAT_END
	"1:\tret");
CODE32(c_clear_pae,
	"movl %cr4, %eax\n\t"
	"andl $~0x20, %eax\n\t"
	COMPAT_TRY("1f")
	"movl %eax, %cr4\n\t"
	COMPAT_END
	"1:\tret");
CODE32(c_read_efer,
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"ret");

static void compat_checks(void)
{
	uint64_t cr4 = read_cr4();

	CHECK_EQ(call_compat(c_read_efer, 0) & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA,
		 "compatibility mode: EFER.LMA = 1");
	exc_clear();
	call_compat(c_clear_pae, 0);
	gp0(exc_last.vector, "compatibility mode: clearing CR4.PAE");
	write_cr4(cr4 | CR4_PCIDE);
	exc_clear();
	call_compat(c_clear_pg, 0);
	gp0(exc_last.vector, "compatibility mode: clearing CR0.PG with CR4.PCIDE = 1");
	write_cr4(cr4);
	report(read_cr0() & CR0_PG, "paging still on");
}

/* ---- 32-bit protected mode ---- */

/* returns EFER after the sequence, x32_exc has the fault */
CODE32(p_pg_without_pe,
	"movl %cr0, %eax\n\t"
	"andl $~1, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	X32_TRY("1f")
	"movl %eax, %cr0\n\t"
	X32_END
	"1:\tmovl %cr0, %eax\n\t"
	"ret");
CODE32(p_nw_without_cd,
	"movl %cr0, %eax\n\t"
	"andl $~0x40000000, %eax\n\t"
	"orl $0x20000000, %eax\n\t"
	X32_TRY("1f")
	"movl %eax, %cr0\n\t"
	X32_END
	"1:\tmovl %cr0, %eax\n\t"
	"ret");
/* LME = 1, PAE = 0, then PG = 1: #GP */
CODE32(p_lme_no_pae,
	"movl %cr4, %eax\n\t"
	"andl $~0x20, %eax\n\t"
	"movl %eax, %cr4\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"orl $0x100, %eax\n\t"
	"wrmsr\n\t"
	"movl %cr0, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	X32_TRY("1f")
	"movl %eax, %cr0\n\t"
	X32_END
	"1:\tmovl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"ret");
/* PCIDE outside IA-32e mode */
CODE32(p_pcide,
	"movl %cr4, %eax\n\t"
	"orl $0x20000, %eax\n\t"
	X32_TRY("1f")
	"movl %eax, %cr4\n\t"
	X32_END
	"1:\tmovl %cr4, %eax\n\t"
	"ret");
/*
 * Activate IA-32e mode by hand (SDM 9.8.5): PAE, CR3, LME, then PG.
 * Stores EFER after PG = 1 in p_efer1, after PG = 0 in p_efer2.
 */
CODE32(p_enter_ia32e,
	"movl 4(%esp), %eax\n\t"
	"movl %eax, %cr3\n\t"
	"movl %cr4, %eax\n\t"
	"orl $0x20, %eax\n\t"
	"movl %eax, %cr4\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"orl $0x100, %eax\n\t"
	"wrmsr\n\t"
	"movl %cr0, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"movl %eax, p_efer1\n\t"
	/* compatibility mode now: the same 32-bit code keeps running */
	"movl $0x12345678, %eax\n\t"
	"decl %eax\n\t"			/* 0x48: DEC, not REX.W */
	"movl %eax, p_dec\n\t"
	"movl %cr0, %eax\n\t"
	"andl $0x7fffffff, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"movl %eax, p_efer2\n\t"
	"andl $~0x100, %eax\n\t"
	"wrmsr\n\t"
	"ret");
/* toggling LME with 32-bit paging on (4 MiB page table in arg): #GP */
CODE32(p_lme_with_pg,
	"movl 4(%esp), %eax\n\t"
	"movl %eax, %cr3\n\t"
	"movl %cr4, %eax\n\t"
	"andl $~0x20, %eax\n\t"
	"orl $0x10, %eax\n\t"		/* PSE */
	"movl %eax, %cr4\n\t"
	"movl %cr0, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"orl $0x100, %eax\n\t"
	X32_TRY("1f")
	"wrmsr\n\t"
	X32_END
	"1:\tmovl %cr0, %eax\n\t"
	"andl $0x7fffffff, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"ret");
uint32_t p_efer1, p_efer2, p_dec;

static uint32_t pd32[1024] __attribute__((aligned(4096)));

static void legacy_checks(void)
{
	uint32_t r;

	r = call32(p_pg_without_pe, 0);
	report(x32_exc.vector == 13 && x32_exc.ec == 0, "32-bit: CR0.PG without PE: #GP(0)");
	report((r & (CR0_PE | CR0_PG)) == CR0_PE, "32-bit: CR0 unchanged (%#x)", r);
	call32(p_nw_without_cd, 0);
	report(x32_exc.vector == 13 && x32_exc.ec == 0, "32-bit: CR0.NW without CD: #GP(0)");
	r = call32(p_lme_no_pae, 0);
	report(x32_exc.vector == 13 && x32_exc.ec == 0, "32-bit: PG with EFER.LME and PAE = 0: #GP(0)");
	CHECK_EQ(r & (EFER_LME | EFER_LMA), EFER_LME, "32-bit: EFER.LMA stays 0");
	r = call32(p_pcide, 0);
	report(x32_exc.vector == 13 && x32_exc.ec == 0, "32-bit: CR4.PCIDE outside IA-32e mode: #GP(0)");
	CHECK_EQ(r & CR4_PCIDE, 0, "32-bit: CR4.PCIDE stays 0");

	call32(p_enter_ia32e, (uint32_t)read_cr3());
	report(x32_exc.vector == -1, "enter/leave IA-32e mode by hand: no exception");
	CHECK_EQ(p_efer1 & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA, "CR0.PG = 1 with LME: LMA = 1");
	CHECK_EQ(p_dec, 0x12345677, "compatibility mode decodes 0x48 as DEC");
	CHECK_EQ(p_efer2 & (EFER_LME | EFER_LMA), EFER_LME, "CR0.PG = 0: LMA = 0, LME kept");

	for (int k = 0; k < 1024; k++)
		pd32[k] = (k << 22) | 0x83;	/* 4 MiB identity pages */
	r = call32(p_lme_with_pg, (uint32_t)(uintptr_t)pd32);
	report(x32_exc.vector == 13 && x32_exc.ec == 0, "32-bit paging: setting EFER.LME: #GP(0)");
	CHECK_EQ(r & EFER_LME, 0, "EFER.LME unchanged");
}

int main(int argc, char **argv)
{
	long_mode_checks();
	compat_checks();
	legacy_checks();
	return report_summary();
}
