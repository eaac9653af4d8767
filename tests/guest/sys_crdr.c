/*
 * Privileged system instructions (SDM Vol. 2; Vol. 3A 2.5, 17.2): MOV to
 * and from debug registers (reserved bits, DR4/DR5 aliasing with CR4.DE,
 * DR7.GD general detection as a fault with DR6.BD), CLTS, LMSW (cannot
 * clear PE), INVD/WBINVD, and #GP(0) at CPL 3 for MOV CR/DR, CLTS, LMSW,
 * INVD, WBINVD, HLT, RDPMC (CR4.PCE), RDMSR.
 */
#include "sys.h"

static uint8_t ustack[4096] __attribute__((aligned(4096)));

asm(".pushsection .text\n\t.balign 4096\n"
"u_priv:\n"
"u_movcr0:\n\tmovq %cr0, %rax\n\tint $0x81\n"
"u_movcr3:\n\tmovq %rax, %cr3\n\tint $0x81\n"
"u_movcr8:\n\tmovq %cr8, %rax\n\tint $0x81\n"
"u_movdr7:\n\tmovq %dr7, %rax\n\tint $0x81\n"
"u_clts:\n\tclts\n\tint $0x81\n"
"u_lmsw:\n\tlmsw %ax\n\tint $0x81\n"
"u_invd:\n\tinvd\n\tint $0x81\n"
"u_wbinvd:\n\twbinvd\n\tint $0x81\n"
"u_hlt:\n\thlt\n\tint $0x81\n"
"u_rdpmc:\n\txorl %ecx, %ecx\n\trdpmc\n\tint $0x81\n"
"u_rdmsr:\n\tmovl $0x10, %ecx\n\trdmsr\n\tint $0x81\n"
"u_wrmsr:\n\tmovl $0x10, %ecx\n\twrmsr\n\tint $0x81\n"
	".balign 4096\n\t"
	".popsection");
extern char u_priv[], u_movcr0[], u_movcr3[], u_movcr8[], u_movdr7[], u_clts[], u_lmsw[];
extern char u_invd[], u_wbinvd[], u_hlt[], u_rdpmc[], u_rdmsr[], u_wrmsr[];

static int user(void *fn)
{
	exc_clear();
	run_user64(fn, 0, ustack + sizeof(ustack));
	return exc_last.vector;
}

static void cpl3(void)
{
	static const struct { void *fn; const char *what; } t[] = {
		{ u_movcr0, "MOV from CR0" }, { u_movcr3, "MOV to CR3" }, { u_movcr8, "MOV from CR8" },
		{ u_movdr7, "MOV from DR7" }, { u_clts, "CLTS" }, { u_lmsw, "LMSW" },
		{ u_invd, "INVD" }, { u_wbinvd, "WBINVD" }, { u_hlt, "HLT" },
		{ u_rdpmc, "RDPMC with CR4.PCE = 0" }, { u_rdmsr, "RDMSR" }, { u_wrmsr, "WRMSR" },
	};
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		int v = user(t[k].fn);
		report(v == 13 && exc_last.error_code == 0 && exc_last.rip == (uint64_t)(uintptr_t)t[k].fn +
		       (t[k].fn == u_rdpmc || t[k].fn == u_rdmsr || t[k].fn == u_wrmsr ? (t[k].fn == u_rdpmc ? 2 : 5) : 0),
		       "CPL 3 %s: #GP(0) at the instruction (%d)", t[k].what, v);
	}
	write_cr4(read_cr4() | (1u << 8));
	report(user(u_rdpmc) == -1, "CPL 3 RDPMC with CR4.PCE = 1");
	write_cr4(read_cr4() & ~(1u << 8));
}

static int mov_dr(int n, uint64_t v)
{
	exc_clear();
	switch (n) {
	case 0: asm volatile(ASM_TRY("1f") "mov %0, %%dr0\n1:" :: "r"(v) : "memory"); break;
	case 4: asm volatile(ASM_TRY("1f") ".byte 0x0f, 0x23, 0xe0\n1:" :: "a"(v) : "memory"); break;	/* dr4 */
	case 5: asm volatile(ASM_TRY("1f") ".byte 0x0f, 0x23, 0xe8\n1:" :: "a"(v) : "memory"); break;	/* dr5 */
	case 6: asm volatile(ASM_TRY("1f") "mov %0, %%dr6\n1:" :: "r"(v) : "memory"); break;
	case 7: asm volatile(ASM_TRY("1f") "mov %0, %%dr7\n1:" :: "r"(v) : "memory"); break;
	}
	return exc_last.vector;
}

static uint64_t rd_dr45(int n)
{
	uint64_t v = 0;
	exc_clear();
	if (n == 4)
		asm volatile(ASM_TRY("1f") ".byte 0x0f, 0x21, 0xe0\n1:" : "+a"(v) :: "memory");
	else
		asm volatile(ASM_TRY("1f") ".byte 0x0f, 0x21, 0xe8\n1:" : "+a"(v) :: "memory");
	return v;
}

static void debug_regs(void)
{
	report(mov_dr(0, 0x123456789abcdef0ULL) == -1 && read_dr0() == 0x123456789abcdef0ULL,
	       "DR0 holds 64 bits");
	write_dr0(0);
	CHECK_EQ(mov_dr(6, 1ULL << 32), 13, "DR6 bit 32: #GP");
	CHECK_EQ(mov_dr(7, 1ULL << 32), 13, "DR7 bit 32: #GP");
	write_dr6(0);
	CHECK_EQ(read_dr6(), 0xffff0ff0, "DR6 reserved bits read as 1, bit 12 as 0");
	write_dr6(0xf);
	CHECK_EQ(read_dr6(), 0xffff0fff, "DR6.B0-B3 writable");
	write_dr7(0);
	CHECK_EQ(read_dr7(), 0x400, "DR7 bit 10 reads as 1");
	/* DR4/DR5 alias DR6/DR7 with CR4.DE = 0 */
	write_dr6(0);
	CHECK_EQ(rd_dr45(4), 0xffff0ff0, "CR4.DE = 0: DR4 reads DR6");
	CHECK_EQ(rd_dr45(5), 0x400, "CR4.DE = 0: DR5 reads DR7");
	report(mov_dr(5, 0x401) == -1 && read_dr7() == 0x401, "CR4.DE = 0: DR5 writes DR7");
	write_dr7(0x400);
	write_cr4(read_cr4() | (1u << 3));
	rd_dr45(4);
	CHECK_EQ(exc_last.vector, 6, "CR4.DE = 1: MOV from DR4: #UD");
	CHECK_EQ(mov_dr(5, 0), 6, "CR4.DE = 1: MOV to DR5: #UD");
	write_cr4(read_cr4() & ~(1u << 3));

	/* DR7.GD: the next debug-register access faults with #DB, BD set */
	extern char gd_insn[];
	write_dr6(0);
	exc_clear();
	asm volatile("mov %0, %%dr7\n\t"
		     ASM_TRY("1f")
		     "gd_insn: mov %%dr0, %%rax\n"
		     "1:" :: "r"(0x400ULL | (1u << 13)) : "rax", "memory");
	report(exc_last.vector == 1 && exc_last.rip == (uint64_t)(uintptr_t)gd_insn,
	       "DR7.GD: MOV DR faults with #DB at the instruction (%d)", exc_last.vector);
	uint64_t dr6 = read_dr6(), dr7 = read_dr7();
	CHECK_EQ(dr6 & (1u << 13), 1u << 13, "DR7.GD: DR6.BD set");
	CHECK_EQ(dr7 & (1u << 13), 0, "DR7.GD cleared on #DB delivery");
	write_dr6(0);
}

static void misc(void)
{
	uint64_t cr0 = read_cr0();
	write_cr0(cr0 | 8);
	asm volatile("clts");
	CHECK_EQ(read_cr0() & 8, 0, "CLTS clears CR0.TS");
	uint16_t msw = (uint16_t)(cr0 & ~1u) | 8 | 2;
	asm volatile("lmsw %0" :: "r"(msw));
	CHECK_EQ(read_cr0() & 0xf, 0xb, "LMSW sets MP and TS, cannot clear PE");
	asm volatile("lmsw %0" :: "r"((uint16_t)0xfff0));
	CHECK_EQ(read_cr0() & 0xffff, (cr0 & 0xfff0) | 1, "LMSW only changes bits 3:0 (PE stays)");
	write_cr0(cr0);
	exc_clear();
	asm volatile(ASM_TRY("1f") "invd\n\twbinvd\n1:" ::: "memory");
	CHECK_EQ(exc_last.vector, -1, "INVD, WBINVD at CPL 0");
}

int main(int argc, char **argv)
{
	set_user((uint64_t)(uintptr_t)u_priv);
	set_user((uint64_t)(uintptr_t)ustack);
	cpl3();
	debug_regs();
	misc();
	return report_summary();
}
