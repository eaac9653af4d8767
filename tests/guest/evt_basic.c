/*
 * evt_basic: delivery of exceptions and software interrupts in 64-bit
 * mode (SDM Vol. 3A 6.12, 6.14; spec §1.2 / T07): fault vs trap RIP, RF in
 * the pushed RFLAGS, INTO/ICEBP, gate DPL and presence checks with their
 * error codes, interrupt vs trap gates, IST and the privilege-change frame.
 */
#include "util.h"

#define RF (1ULL << 16)
#define IF (1ULL << 9)

static volatile uint64_t h_rsp, h_rflags, h_count;
static volatile struct exc_frame h_frame;

static void record(struct exc_frame *f)
{
	uint64_t sp;
	asm volatile("mov %%rsp, %0" : "=r"(sp));
	h_rsp = sp;
	h_rflags = read_rflags();
	h_frame = *f;
	h_count++;
}

static uint64_t user_int_dpl0(uint64_t v)
{
	(void)v;
	asm volatile(ASM_TRY("1f") "int $0x41\n1:" ::: "memory");
	return 0;
}

static uint64_t user_int_dpl3(uint64_t v)
{
	uint64_t sp;
	asm volatile("mov %%rsp, %0; int $0x42" : "=r"(sp) :: "memory");
	return sp;
}

int main(void)
{
	uint64_t at, next;

	/* #DE: a fault; saved RIP = the DIV, pushed RF = 1 */
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t"
		     "xor %%ecx, %%ecx\n\t"
		     "2: div %%ecx\n\t"
		     "1:" : "=&r"(at) :: "rax", "rcx", "rdx", "memory");
	CHECK_EQ(exc_last.vector, 0, "DIV by zero raises #DE");
	CHECK_EQ(exc_last.rip, at, "#DE saved RIP is the faulting DIV");
	report(exc_last.rflags & RF, "#DE pushes RFLAGS with RF = 1 (fault)");

	/* #UD from UD2: fault, RF = 1 */
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t2: ud2\n1:" : "=&r"(at) :: "memory");
	CHECK_EQ(exc_last.vector, 6, "UD2 raises #UD");
	CHECK_EQ(exc_last.rip, at, "#UD saved RIP is the UD2");

	/* INT3: a trap; saved RIP after the one-byte INT3, RF as it was (0) */
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\tint3\n2:\n1:" : "=&r"(next) :: "memory");
	CHECK_EQ(exc_last.vector, 3, "INT3 raises #BP");
	CHECK_EQ(exc_last.rip, next, "#BP saved RIP is after INT3");
	report(!(exc_last.rflags & RF), "#BP pushes RF = 0 (trap)");

	/* INTO is invalid in 64-bit mode */
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t2: .byte 0xce\n1:" : "=&r"(at) :: "memory");
	CHECK_EQ(exc_last.vector, 6, "INTO in 64-bit mode raises #UD");
	CHECK_EQ(exc_last.rip, at, "... at the INTO");

	/* ICEBP / INT1: #DB as a trap after the instruction */
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t.byte 0xf1\n2:\n1:" : "=&r"(next) :: "memory");
	CHECK_EQ(exc_last.vector, 1, "ICEBP raises #DB");
	CHECK_EQ(exc_last.rip, next, "ICEBP #DB saved RIP is after the instruction");

	/* INT n through a not-present gate: #NP(vector*8 + 2), EXT = 0 */
	uint64_t lo, hi;
	get_idt_raw(0x40, &lo, &hi);
	set_idt_raw(0x40, lo & ~(1ULL << 47), hi);
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t2: int $0x40\n1:" : "=&r"(at) :: "memory");
	CHECK_EQ(exc_last.vector, 11, "INT n through a not-present gate raises #NP");
	CHECK_EQ(exc_last.error_code, 0x40 * 8 + 2, "#NP error code = vector*8 + IDT, EXT = 0");
	CHECK_EQ(exc_last.rip, at, "#NP saved RIP is the INT (fault)");
	set_idt_raw(0x40, lo, hi);

	/* a vector beyond the IDT limit: #GP(vector*8 + 2) */
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) idtr, small;
	asm volatile("sidt %0" : "=m"(idtr));
	small = idtr;
	small.lim = 0x50 * 16 - 1;
	asm volatile("lidt %0" :: "m"(small));
	exc_clear();
	asm volatile(ASM_TRY("1f") "int $0x60\n1:" ::: "memory");
	asm volatile("lidt %0" :: "m"(idtr));
	CHECK_EQ(exc_last.vector, 13, "INT n beyond the IDT limit raises #GP");
	CHECK_EQ(exc_last.error_code, 0x60 * 8 + 2, "#GP error code = vector*8 + IDT");

	/* a gate of the wrong type (a call gate) in the IDT: #GP */
	get_idt_raw(0x43, &lo, &hi);
	set_idt_raw(0x43, (lo & ~(0x1fULL << 40)) | (0x0cULL << 40), hi);
	exc_clear();
	asm volatile(ASM_TRY("1f") "int $0x43\n1:" ::: "memory");
	CHECK_EQ(exc_last.vector, 13, "INT n through a call gate in the IDT raises #GP");
	CHECK_EQ(exc_last.error_code, 0x43 * 8 + 2, "... error code vector*8 + 2");
	set_idt_raw(0x43, lo, hi);

	/* interrupt gate clears IF, trap gate keeps it; handlers see RF = 0 */
	set_handler(0x44, record);
	set_handler(0x45, record);
	set_idt_entry(0x45, isr_table + 16 * 0x45, SEL_KCODE64, 0, 0xf, 0);
	asm volatile("sti; int $0x44; cli" ::: "memory");
	report(!(h_rflags & IF), "interrupt gate: IF = 0 in the handler");
	report(h_frame.rflags & IF, "interrupt gate: pushed RFLAGS has IF = 1");
	asm volatile("sti; int $0x45; cli" ::: "memory");
	report(h_rflags & IF, "trap gate: IF stays 1 in the handler");

	/* IST: the stack switches even without a privilege change; 16-byte aligned */
	set_idt_entry(0x46, isr_table + 16 * 0x46, SEL_KCODE64, 0, 0xe, 2);
	set_handler(0x46, record);
	uint64_t my_sp;
	asm volatile("mov %%rsp, %0; sub $8, %%rsp; int $0x46; add $8, %%rsp" : "=&r"(my_sp) :: "memory");
	report(h_rsp < tss.ist[1] && h_rsp > tss.ist[1] - 4096, "IST 2: handler runs on the IST stack");
	CHECK_EQ(h_frame.rsp, my_sp - 8, "IST frame holds the interrupted RSP");
	CHECK_EQ(h_frame.ss, SEL_KDATA, "IST frame holds SS");
	report(((uint64_t)&h_frame.rip) != 0, "frame recorded");

	/* delivery sets the accessed bit of the handler's code descriptor */
	gdt64[SEL_FREE / 8] = 0x00af9a000000ffffULL;	/* code64, A = 0 */
	set_idt_entry(0x47, isr_table + 16 * 0x47, SEL_FREE, 0, 0xe, 0);
	set_handler(0x47, record);
	asm volatile("int $0x47" ::: "memory");
	CHECK_EQ(h_frame.vector, 0x47, "handler through a gate with another code selector");
	report(gdt64[SEL_FREE / 8] & (1ULL << 40), "delivery set the handler CS descriptor's accessed bit");

	/* CPL 3: INT n through a DPL 0 gate is #GP(vector*8 + 2) */
	make_user_accessible();
	exc_clear();
	run_user(user_int_dpl0, 0);
	CHECK_EQ(exc_last.vector, 13, "user INT n through a DPL 0 gate raises #GP");
	CHECK_EQ(exc_last.error_code, 0x41 * 8 + 2, "... with error code vector*8 + 2");
	CHECK_EQ(exc_last.cs, SEL_UCODE64 | 3, "... taken from CPL 3");

	/* CPL 3 -> 0 through a DPL 3 gate: stack from TSS.RSP0, full frame */
	set_idt_entry(0x42, isr_table + 16 * 0x42, SEL_KCODE64, 3, 0xe, 0);
	set_handler(0x42, record);
	h_count = 0;
	uint64_t usp = run_user(user_int_dpl3, 0);
	CHECK_EQ(h_count, 1, "user INT 0x42 reaches the handler once");
	CHECK_EQ(h_frame.cs, SEL_UCODE64 | 3, "frame CS is the user code selector");
	CHECK_EQ(h_frame.ss, SEL_UDATA | 3, "frame SS is the user stack selector");
	CHECK_EQ(h_frame.rsp, usp, "frame RSP is the user stack pointer");
	report(h_rsp < tss.rsp[0] && h_rsp > tss.rsp[0] - 4096, "handler stack comes from TSS.RSP0");
	return report_summary();
}
