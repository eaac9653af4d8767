/*
 * IRET (SDM Vol. 2 "IRET/IRETD/IRETQ"): protected mode same and outer
 * privilege, 16-bit IRET, which EFLAGS bits may change at which CPL/IOPL,
 * the CS/SS checks with their error codes, data-segment nulling; in
 * IA-32e mode IRETQ (always SS:RSP), IRETD, to compatibility mode, null
 * SS rules, non-canonical RIP, NT = 1.  (Real mode: mode_switch; to v86:
 * mode_v86; task return: task_switch.)
 */
#include "sys.h"

#define CNP 0x60		/* code not present */
#define C16B 0x68		/* 32-bit code, base = a 64 KiB window for IRETW */
#define CLIM 0x70		/* code, limit 0xfff */
#define SNP 0x78		/* DPL 3 data, not present */
#define DRO3 0x80		/* DPL 3 read-only data */
#define DRW3 0x88		/* DPL 3 data, accessed bit clear */

#define F_CF 0x1u
#define F_IF 0x200u
#define F_IOPL 0x3000u
#define F_NT 0x4000u
#define F_AC 0x40000u
#define F_VIF 0x80000u
#define F_VIP 0x100000u

uint32_t i_frame[5];		/* EIP, CS, EFLAGS, ESP, SS */
uint32_t i_fl, i_cs, i_esp, i_ds, i_esp0, i_ss;

/* IRETD with i_frame (3 or 5 dwords: arg); record EFLAGS, CS, segs after */
CODE32(i_go,
	"pushal\n\t"
	"movl %esp, %ss:i_esp0\n\t"
	X32_TRY("9f")
	"cmpl $3, 36(%esp)\n\t"
	"je 1f\n\t"
	"pushl %ss:i_frame+16\n\t"
	"pushl %ss:i_frame+12\n"
	"1:\tpushl %ss:i_frame+8\n\t"
	"pushl %ss:i_frame+4\n\t"
	"pushl $2f\n\t"
	"iretl\n"
	"2:\tpushfl\n\t"
	"popl %ss:i_fl\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, %ss:i_cs\n\t"
	"movl %ds, %eax\n\t"
	"movl %eax, %ss:i_ds\n\t"
	"movl %ss, %eax\n\t"
	"movl %eax, %ss:i_ss\n\t"
	"movl %esp, %ss:i_esp\n\t"
	/* back to ring 0 / flat state through #UD */
	"movl $9f, %ss:x32_fixup\n\t"
	"movl %ss:i_esp0, %eax\n\t"
	"movl %eax, %ss:x32_fixup_esp\n\t"
	"ud2\n"
	"9:\tpopal\n\t"
	"ret");
/* IRETW: 16-bit frame into the window segment C16B (IP = offset) */
CODE32(i_go16,
	"pushal\n\t"
	"movl %esp, %ss:i_esp0\n\t"
	X32_TRY("9f")
	"pushw %ss:i_frame+8\n\t"
	"pushw %ss:i_frame+4\n\t"
	"pushw %ss:i_frame\n\t"
	"iretw\n"
	".balign 16\n"
	"i16_target:\n\t"
	"pushfl\n\t"
	"popl %ss:i_fl\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, %ss:i_cs\n\t"
	"movl %esp, %ss:i_esp\n\t"
	"ljmp $0x18, $3f\n"
	"3:\t" X32_END
	"9:\tpopal\n\t"
	"ret");
extern char i16_target[];

static void expect(int vec, uint32_t ec, const char *what)
{
	if (vec < 0)
		report(x32_exc.vector == -1 || x32_exc.vector == 6,
		       "%s: no exception (got %d ec %#x)", what, x32_exc.vector, x32_exc.ec);
	else
		report(x32_exc.vector == vec && x32_exc.ec == ec,
		       "%s: vector %d ec %#x (got %d %#x)", what, vec, ec, x32_exc.vector, x32_exc.ec);
}

static void frame(uint32_t cs, uint32_t fl, uint32_t esp, uint32_t ss)
{
	i_frame[1] = cs;
	i_frame[2] = fl;
	i_frame[3] = esp;
	i_frame[4] = ss;
}

static void prot(void)
{
	/* same privilege: EFLAGS from the image, including IOPL, VIF, VIP at CPL 0 */
	frame(SEL_KCODE32, 2 | F_CF | F_IOPL | F_AC | F_VIF | F_VIP, 0, 0);
	call32(i_go, 3);
	expect(-1, 0, "IRETD same privilege");
	CHECK_EQ(i_fl & (F_CF | F_IOPL | F_AC | F_VIF | F_VIP), F_CF | F_IOPL | F_AC | F_VIF | F_VIP,
		 "CPL 0 IRET loads CF, IOPL, AC, VIF, VIP");
	CHECK_EQ(i_esp, i_esp0, "same privilege: 3 dwords popped");
	frame(SEL_KCODE32, 2, 0, 0);
	call32(i_go, 3);
	CHECK_EQ(i_fl & (F_VIF | F_VIP | F_IOPL), 0, "CPL 0 IRET clears VIF, VIP, IOPL again");
	/* CPL 3, IOPL 0: IF and IOPL are kept */
	frame(SEL_UCODE32 | 3, 2 | F_CF | F_IF | F_IOPL | F_VIF, 0, 0);
	call32_user(i_go, 3);
	expect(-1, 0, "IRETD at CPL 3");
	CHECK_EQ(i_fl & (F_CF | F_IF | F_IOPL | F_VIF), F_CF,
		 "CPL 3, IOPL 0 IRET: IF, IOPL, VIF unchanged");
	/* outer privilege: CPL 0 -> 3 with SS:ESP, DS nulled */
	gdt_set(DRW3, seg_desc(0, 0xfffff, 0xc0f2));
	frame(SEL_UCODE32 | 3, 2 | F_IOPL, 0x1000, DRW3 | 3);
	call32(i_go, 5);
	CHECK_EQ((gdt_get(DRW3) >> 40) & 1, 1, "outer IRET sets the accessed bit of SS");
	expect(-1, 0, "IRETD to CPL 3");
	CHECK_EQ(i_cs, SEL_UCODE32 | 3, "outer IRET: CS");
	CHECK_EQ(i_esp, 0x1000, "outer IRET: ESP from the frame");
	CHECK_EQ(i_ss, DRW3 | 3, "outer IRET: SS");
	CHECK_EQ(i_ds, 0, "outer IRET: DS (DPL 0) nulled");
	CHECK_EQ(i_fl & F_IOPL, F_IOPL, "outer IRET from CPL 0 loads IOPL");
	/* checks */
	frame(SEL_KCODE32, 2, 0, 0);
	call32_user(i_go, 3);
	expect(13, SEL_KCODE32, "IRET from CPL 3 to CS RPL 0");
	frame(SEL_KDATA32, 2, 0, 0);
	call32(i_go, 3);
	expect(13, SEL_KDATA32, "IRET to a data segment");
	frame(CNP, 2, 0, 0);
	call32(i_go, 3);
	expect(11, CNP, "IRET to a not-present code segment");
	frame(0, 2, 0, 0);
	call32(i_go, 3);
	expect(13, 0, "IRET to a null CS");
	frame(CLIM, 2, 0, 0);
	call32(i_go, 3);
	expect(13, 0, "IRET beyond the CS limit");
	frame(SEL_UCODE32 | 3, 2, 0x1000, SEL_UDATA);
	call32(i_go, 5);
	expect(13, SEL_UDATA, "outer IRET: SS RPL != CS RPL");
	frame(SEL_UCODE32 | 3, 2, 0x1000, DRO3 | 3);
	call32(i_go, 5);
	expect(13, DRO3, "outer IRET: read-only SS");
	frame(SEL_UCODE32 | 3, 2, 0x1000, SNP | 3);
	call32(i_go, 5);
	expect(12, SNP, "outer IRET: not-present SS: #SS");
	frame(SEL_UCODE32 | 3, 2, 0x1000, 0);
	call32(i_go, 5);
	expect(13, 0, "outer IRET: null SS");
	/* IRETW */
	i_frame[0] = (uint32_t)(uintptr_t)i16_target & 0xffff;
	frame(C16B, 2 | F_CF, 0, 0);
	call32(i_go16, 0);
	expect(-1, 0, "IRETW");
	CHECK_EQ(i_cs, C16B, "IRETW: CS");
	CHECK_EQ(i_fl & F_CF, F_CF, "IRETW: FLAGS from the image");
	CHECK_EQ(i_esp, i_esp0, "IRETW: 3 words popped");
}

/* ---- IA-32e mode ---- */

uint64_t q_frame[5];
uint64_t q_rsp, q_ss, q_cs, q_fl, q_saved;
CODE64(q_go,
	"pushq %rbx\n\t"
	"movq %rsp, %rbx\n\t"
	"pushq q_frame+32\n\t"
	"pushq q_frame+24\n\t"
	"pushq q_frame+16\n\t"
	"pushq q_frame+8\n\t"
	"pushq q_frame\n\t"
	"iretq\n"
	".globl q_target\n"
	"q_target:\n\t"
	"movq %rsp, q_rsp\n\t"
	"movl %ss, %eax\n\t"
	"movq %rax, q_ss\n\t"
	"movl %cs, %eax\n\t"
	"movq %rax, q_cs\n\t"
	"pushfq\n\t"
	"popq q_fl\n\t"
	"movq %rbx, %rsp\n\t"
	"movl $0x10, %eax\n\t"
	"movl %eax, %ss\n\t"
	"popq %rbx\n\t"
	"ret");
/* IRETD in 64-bit mode: five dwords */
CODE64(q_go32,
	"pushq %rbx\n\t"
	"movq %rsp, %rbx\n\t"
	"subq $20, %rsp\n\t"
	"movl q_frame, %eax\n\tmovl %eax, (%rsp)\n\t"
	"movl q_frame+8, %eax\n\tmovl %eax, 4(%rsp)\n\t"
	"movl q_frame+16, %eax\n\tmovl %eax, 8(%rsp)\n\t"
	"movl q_frame+24, %eax\n\tmovl %eax, 12(%rsp)\n\t"
	"movl q_frame+32, %eax\n\tmovl %eax, 16(%rsp)\n\t"
	"iretl\n");
extern char q_target[];
/* compatibility-mode landing: record, far jump back to q_target's tail */
CODE32(q_compat,
	"movl %esp, q_rsp\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, q_cs\n\t"
	"ljmp $0x08, $q_back\n\t"
	".code64\n"
	"q_back:\n\t"
	"movq %rbx, %rsp\n\t"
	"movl $0x10, %eax\n\t"
	"movl %eax, %ss\n\t"
	"popq %rbx\n\t"
	"ret\n\t"
	".code32");

static int qgo(void *fn, uint64_t rip, uint64_t cs, uint64_t fl, uint64_t rsp, uint64_t ss)
{
	q_frame[0] = rip;
	q_frame[1] = cs;
	q_frame[2] = fl;
	q_frame[3] = rsp;
	q_frame[4] = ss;
	q_rsp = q_ss = q_cs = 0;
	exc_clear();
	asm volatile("mov %%rsp, q_saved\n\t"
		     ASM_TRY("1f")
		     "call *%0\n"
		     "1:\tmov q_saved, %%rsp" :: "r"(fn) : "rax", "rbx", "rcx", "rdx", "rsi", "rdi",
		     "r8", "r9", "r10", "r11", "memory");
	return exc_last.vector;
}

static uint8_t stk[256] __attribute__((aligned(16)));

static void long_mode(void)
{
	uint64_t top = (uint64_t)(uintptr_t)(stk + sizeof(stk));
	uint64_t t = (uint64_t)(uintptr_t)q_target;

	CHECK_EQ(qgo(q_go, t, SEL_KCODE64, 2 | F_CF, top, SEL_KDATA), EXC_NONE, "IRETQ to CPL 0");
	CHECK_EQ(q_rsp, top, "IRETQ same level: RSP popped");
	CHECK_EQ(q_ss, SEL_KDATA, "IRETQ same level: SS popped");
	CHECK_EQ(q_fl & F_CF, F_CF, "IRETQ: RFLAGS from the image");
	CHECK_EQ(qgo(q_go, t, SEL_KCODE64, 2, top, 0), EXC_NONE, "IRETQ to CPL 0 with a null SS");
	CHECK_EQ(q_ss, 0, "IRETQ: SS null");
	CHECK_EQ(qgo(q_go, t, SEL_KCODE64, 2, top, 3), 13, "IRETQ: null SS with RPL 3 to CPL 0");
	CHECK_EQ(qgo(q_go, 0x0000800000000000ULL, SEL_KCODE64, 2, top, SEL_KDATA), 13,
		 "IRETQ to a non-canonical RIP: #GP");
	CHECK_EQ(exc_last.error_code, 0, "... #GP(0)");
	CHECK_EQ(qgo(q_go, t, SEL_UCODE64 | 3, 2, top, 3), 13, "IRETQ to CPL 3 with a null SS");
	CHECK_EQ(qgo(q_go, t, SEL_UCODE64 | 3, 2, top, SEL_KDATA | 3), 13,
		 "IRETQ to CPL 3 with a DPL 0 SS");
	CHECK_EQ(exc_last.error_code, SEL_KDATA, "... #GP(SS selector)");
	CHECK_EQ(qgo(q_go, t, CNP, 2, top, SEL_KDATA), 11, "IRETQ to a not-present CS");
	CHECK_EQ(qgo(q_go, (uint64_t)(uintptr_t)q_compat, SEL_KCODE32, 2, top, SEL_KDATA32),
		 EXC_NONE, "IRETQ to compatibility mode");
	CHECK_EQ(q_cs, SEL_KCODE32, "IRETQ to compatibility mode: CS");
	CHECK_EQ(q_rsp, top, "IRETQ to compatibility mode: ESP");
	CHECK_EQ(qgo(q_go32, t, SEL_KCODE64, 2 | F_CF, top, SEL_KDATA), EXC_NONE,
		 "IRETD (32-bit operand) in 64-bit mode");
	CHECK_EQ(q_rsp, top, "IRETD: ESP from a dword slot");
	CHECK_EQ(q_fl & F_CF, F_CF, "IRETD: EFLAGS");
	/* NT = 1 in IA-32e mode */
	exc_clear();
	asm volatile("pushfq\n\t"
		     "orl $0x4000, (%%rsp)\n\t"
		     "popfq\n\t"
		     ASM_TRY("1f")
		     "iretq\n"
		     "1:\tpushfq\n\t"
		     "andl $~0x4000, (%%rsp)\n\t"
		     "popfq" ::: "memory");
	report(exc_last.vector == 13 && exc_last.error_code == 0, "IRETQ with NT = 1: #GP(0)");
	CHECK_EQ(exc_last.rflags & F_NT, F_NT, "... NT still set in the fault frame");
}

int main(int argc, char **argv)
{
	gdt_set(CNP, seg_desc(0, 0xfffff, 0xc01b));
	gdt_set(C16B, seg_desc((uint32_t)(uintptr_t)i16_target & ~0xffffu, 0xffff, 0x409b));
	gdt_set(CLIM, seg_desc(0, 0xfff, 0x409b));
	gdt_set(SNP, seg_desc(0, 0xfffff, 0xc073));
	gdt_set(DRO3, seg_desc(0, 0xfffff, 0xc0f1));
	prot();
	long_mode();
	return report_summary();
}
