/*
 * Segmentation in IA-32e mode (SDM Vol. 3A 3.2.4, 5.3.1, Vol. 2 "MOV",
 * "WRFSBASE"): null SS in 64-bit mode, base/limit ignored for CS/DS/ES/SS,
 * FS/GS bases (MSRs, MOV, WRFSBASE), canonical checks with #SS vs #GP, and
 * limits enforced again in compatibility mode.
 */
#include "sys.h"

#define D_SMALL 0x60		/* RW data, limit 0xfff, base buf */
#define D_DATA3 0x68

static uint8_t buf[0x2000] __attribute__((aligned(4096)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));

static int mov_ss(uint16_t sel)
{
	uint16_t old;
	asm volatile("mov %%ss, %0" : "=r"(old));
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov %0, %%ss\n1:" :: "r"(sel) : "memory");
	asm volatile("mov %0, %%ss" :: "r"(old));
	return exc_last.vector;
}

CODE64(u_mov_ss0,
	"xorl %eax, %eax\n\t"
	"movw %ax, %ss\n\t"
	USER_RET);
CODE64(u_pop_ss,
	".byte 0x17\n\t"
	USER_RET);

static int access(uint64_t addr, int how)
{
	exc_clear();
	switch (how) {
	case 0:	/* plain base register */
		asm volatile(ASM_TRY("1f") "movb (%0), %%al\n1:" :: "b"(addr) : "rax", "memory");
		break;
	case 1:	/* RBP base: SS-relative */
		asm volatile("push %%rbp\n\tmov %0, %%rbp\n\t" ASM_TRY("1f")
			     "movb (%%rbp), %%al\n1:\tpop %%rbp" :: "r"(addr) : "rax", "memory");
		break;
	case 2:	/* PUSH with a non-canonical RSP (#SS on an IST stack) */
		asm volatile("mov %%rsp, %%rdx\n\tmov %0, %%rsp\n\t" ASM_TRY("1f")
			     "push %%rax\n1:\tmov %%rdx, %%rsp" :: "r"(addr) : "rdx", "memory");
		break;
	case 3:	/* FS-relative, FS base from the argument */
		wrmsr(0xc0000100, addr);
		asm volatile(ASM_TRY("1f") "movb %%fs:0x10, %%al\n1:" ::: "rax", "memory");
		wrmsr(0xc0000100, 0);
		break;
	}
	return exc_last.vector;
}

static void canonical_checks(void)
{
	uint64_t nc = 0x0000800000000000ULL;
	CHECK_EQ(access(nc, 0), 13, "non-canonical data address: #GP");
	CHECK_EQ(exc_last.error_code, 0, "#GP error code 0");
	CHECK_EQ(access(0xffff7fffffffffffULL, 0), 13, "non-canonical 0xffff7fff...: #GP");
	CHECK_EQ(access(nc, 1), 12, "non-canonical RBP-based address: #SS");
	CHECK_EQ(exc_last.error_code, 0, "#SS error code 0");
	CHECK_EQ(access(nc + 8, 2), 12, "PUSH with a non-canonical RSP: #SS");
	CHECK_EQ(access(0x00007ffffffffff8ULL, 3), 13, "FS base + offset non-canonical: #GP");

	extern char nc_jmp[];
	exc_clear();
	asm volatile(ASM_TRY("1f") "nc_jmp: jmp *%0\n1:" :: "r"(nc) : "memory");
	report(exc_last.vector == 13 && exc_last.rip == (uint64_t)nc_jmp,
	       "JMP to a non-canonical address: #GP at the JMP");
	extern char nc_ret[];
	exc_clear();
	asm volatile("push %0\n\t" ASM_TRY("1f") "nc_ret: ret\n1:\tadd $8, %%rsp" :: "r"(nc) : "memory");
	report(exc_last.vector == 13 && exc_last.rip == (uint64_t)nc_ret,
	       "RET to a non-canonical address: #GP at the RET");
}

static void null_ss(void)
{
	CHECK_EQ(mov_ss(0), EXC_NONE, "64-bit CPL 0: SS <- null with RPL 0");
	CHECK_EQ(mov_ss(1), 13, "64-bit CPL 0: SS <- null with RPL 1");
	CHECK_EQ(exc_last.error_code, 0, "... #GP(0)");
	CHECK_EQ(mov_ss(D_DATA3 | 3), 13, "64-bit CPL 0: SS <- DPL 3 data");
	CHECK_EQ(exc_last.error_code, D_DATA3, "... #GP(selector)");
	set_user((uint64_t)(uintptr_t)u_mov_ss0);
	set_user((uint64_t)(uintptr_t)ustack);
	exc_clear();
	run_user64(u_mov_ss0, 0, ustack + sizeof(ustack));
	report(exc_last.vector == 13 && exc_last.error_code == 0, "64-bit CPL 3: SS <- null: #GP(0)");
	exc_clear();
	set_user((uint64_t)(uintptr_t)u_pop_ss);
	run_user64(u_pop_ss, 0, ustack + sizeof(ustack));
	CHECK_EQ(exc_last.vector, 6, "POP SS in 64-bit mode: #UD");
}

static void bases(void)
{
	uint64_t v;
	uint16_t ds;

	/* DS/ES base and limit are ignored in 64-bit mode */
	buf[0x1800] = 0x5c;
	asm volatile("mov %%ds, %0" : "=r"(ds));
	asm volatile("mov %1, %%es\n\t"
		     "movzbq %%es:(%2), %0\n\t"
		     "mov %3, %%es" : "=r"(v) : "r"((uint16_t)D_SMALL), "r"(buf + 0x1800), "r"(ds));
	CHECK_EQ(v, 0x5c, "64-bit: ES base and limit ignored");
	/* a null DS still works in 64-bit mode */
	asm volatile("mov %1, %%ds\n\t"
		     "movzbq (%2), %0\n\t"
		     "mov %3, %%ds" : "=r"(v) : "r"((uint16_t)0), "r"(buf + 0x1800), "r"(ds));
	CHECK_EQ(v, 0x5c, "64-bit: access through a null DS");

	/* FS / GS bases */
	*(uint64_t *)buf = 0x1122334455667788ULL;
	wrmsr(0xc0000100, (uint64_t)(uintptr_t)buf);
	asm volatile("movq %%fs:0, %0" : "=r"(v));
	CHECK_EQ(v, 0x1122334455667788ULL, "FS_BASE MSR: FS-relative load");
	wrmsr(0xc0000101, (uint64_t)(uintptr_t)buf - 8);
	asm volatile("movq %%gs:8, %0" : "=r"(v));
	CHECK_EQ(v, 0x1122334455667788ULL, "GS_BASE MSR: GS-relative load");
	asm volatile("mov %0, %%fs" :: "r"((uint16_t)D_SMALL));
	CHECK_EQ(rdmsr(0xc0000100), (uint64_t)(uintptr_t)buf, "MOV FS loads the descriptor base");
	asm volatile("mov %0, %%fs" :: "r"((uint16_t)0));
	CHECK_EQ(rdmsr(0xc0000100), 0, "MOV FS, null: base cleared (Intel)");
	wrmsr(0xc0000100, 0);
	wrmsr(0xc0000101, 0);
	CHECK_EQ(wrmsr_safe(0xc0000100, 0x0000800000000000ULL), 13, "FS_BASE non-canonical: #GP");

	/* RD/WRFSBASE need CR4.FSGSBASE */
	exc_clear();
	asm volatile(ASM_TRY("1f") "rdfsbase %%rax\n1:" ::: "rax", "memory");
	CHECK_EQ(exc_last.vector, 6, "RDFSBASE with CR4.FSGSBASE = 0: #UD");
	write_cr4(read_cr4() | (1u << 16));
	v = 0x12345678abcULL;
	asm volatile("wrgsbase %0" :: "r"(v));
	CHECK_EQ(rdmsr(0xc0000101), 0x12345678abcULL, "WRGSBASE writes GS_BASE");
	asm volatile("rdgsbase %0" : "=r"(v));
	CHECK_EQ(v, 0x12345678abcULL, "RDGSBASE");
	exc_clear();
	asm volatile(ASM_TRY("1f") "wrfsbase %0\n1:" :: "r"(0x0000800000000000ULL) : "memory");
	CHECK_EQ(exc_last.vector, 13, "WRFSBASE non-canonical: #GP");
	asm volatile("movl $0xffffffff, %%eax\n\twrgsbase %%eax\n\trdgsbase %0" : "=r"(v) :: "rax");
	CHECK_EQ(v, 0xffffffffULL, "WRGSBASE r32 zero-extends");
	wrmsr(0xc0000101, 0);
	write_cr4(read_cr4() & ~(1u << 16));
}

/* LFS / LGS / LSS in 64-bit mode: m16:32 and, with REX.W, m16:64 */
static void far_pointers(void)
{
	static struct { uint32_t off; uint16_t sel; } __attribute__((packed)) p32;
	static struct { uint64_t off; uint16_t sel; } __attribute__((packed)) p64;
	uint64_t v = ~0ULL;
	uint16_t fs;

	p32.off = 0x89abcdef;
	p32.sel = D_SMALL;
	asm volatile("lfs %1, %k0\n\tmov %%fs, %2" : "+r"(v), "=m"(p32), "=r"(fs) : "m"(p32));
	CHECK_EQ(v, 0x89abcdef, "LFS m16:32: 32-bit offset zero-extended");
	CHECK_EQ(fs, D_SMALL, "LFS: FS selector");
	CHECK_EQ(rdmsr(0xc0000100), (uint64_t)(uintptr_t)buf, "LFS: FS base from the descriptor");
	p64.off = 0x123456789abcdef0ULL;
	p64.sel = D_SMALL;
	v = 0;
	asm volatile(".byte 0x48, 0x0f, 0xb5, 0x18" : "+b"(v) : "a"(&p64) : "memory");	/* lgs (%rax), %rbx (REX.W) */
	CHECK_EQ(v, 0x123456789abcdef0ULL, "LGS m16:64 (REX.W): 64-bit offset");
	p32.sel = D_DATA3 | 3;
	exc_clear();
	asm volatile(ASM_TRY("1f") "lss %1, %k0\n1:" : "+r"(v) : "m"(p32) : "memory");
	report(exc_last.vector == 13 && exc_last.error_code == D_DATA3, "LSS with a DPL 3 segment at CPL 0: #GP(sel)");
	asm volatile("mov %0, %%fs\n\tmov %0, %%gs" :: "r"((uint16_t)0));
	wrmsr(0xc0000100, 0);
	wrmsr(0xc0000101, 0);
}

/* compatibility mode: limits and bases are back */
CODE32(c_read_es,
	"movl 4(%esp), %edi\n\t"
	"movl $0x60, %eax\n\t"
	"movw %ax, %es\n\t"
	"movl $0xdead, %eax\n\t"
	COMPAT_TRY("1f")
	"movzbl %es:(%edi), %eax\n\t"
	COMPAT_END
	"1:\tmovl $0x10, %ecx\n\t"
	"movw %cx, %es\n\t"
	"ret");

static void compat_limits(void)
{
	buf[0x10] = 0x3c;
	exc_clear();
	CHECK_EQ(call_compat(c_read_es, 0x10), 0x3c, "compatibility mode: ES base applies");
	CHECK_EQ(exc_last.vector, -1, "compatibility mode: offset inside the limit");
	exc_clear();
	call_compat(c_read_es, 0x1000);
	report(exc_last.vector == 13 && exc_last.error_code == 0,
	       "compatibility mode: offset beyond the limit: #GP(0)");
}

int main(int argc, char **argv)
{
	gdt_set(D_SMALL, seg_desc((uint32_t)(uintptr_t)buf, 0xfff, 0x4093));
	gdt_set(D_DATA3, seg_desc(0, 0xfffff, 0xc0f3));
	set_idt_entry(12, isr_table + 16 * 12, SEL_KCODE64, 0, 0xe, 1);
	canonical_checks();
	null_ss();
	bases();
	far_pointers();
	compat_limits();
	return report_summary();
}
