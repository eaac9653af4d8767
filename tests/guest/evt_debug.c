/*
 * evt_debug: debug exceptions (SDM Vol. 3B 17.2-17.3; spec §1.4, T10, T12):
 * single-step (BS), instruction breakpoints (fault, RF), data breakpoints
 * (trap, lengths, R/W), I/O breakpoints (CR4.DE), general detect (BD, GD
 * cleared on delivery), ICEBP, DR6 update rules, and single-step across a
 * MOV SS shadow.
 */
#include "util.h"

#define TF 0x100ULL
#define RF (1ULL << 16)

static volatile uint32_t var32[4] __attribute__((aligned(16)));
static volatile uint64_t hits;
static volatile uint64_t last_rip, last_dr6, last_rflags;

/* instruction-breakpoint handler that resumes with RF set */
static void bp_resume(struct exc_frame *f)
{
	hits++;
	last_rip = f->rip;
	last_dr6 = read_dr6();
	last_rflags = f->rflags;
	f->rflags |= RF;
}

static void step_count(struct exc_frame *f)
{
	hits++;
	last_rip = f->rip;
	last_dr6 = read_dr6();
	if (hits >= 3)
		f->rflags &= ~TF;
}

int main(void)
{
	uint64_t at, next;

	/* single step: the trap comes after the instruction following POPF;
	 * DR6 = 0xffff0ff0 before -> 0xffff4ff0 at the handler (T10) */
	write_dr6(0xffff0ff0);
	exc_clear();
	asm volatile(ASM_TRY("1f") "pushfq; orq $0x100, (%%rsp); popfq\n\t"
		     "lea 2f(%%rip), %0\n\t"
		     "2:\n1:" : "=&r"(next) :: "memory");
	/* the trap is after the LEA: RIP = label 2 = label 1 */
	CHECK_EQ(exc_last.vector, 1, "TF: single-step #DB");
	CHECK_EQ(exc_last.rip, next, "TF: trap after the first instruction with TF set");
	CHECK_EQ(exc_last.dr6, 0xffff4ff0, "TF: DR6 = 0xffff4ff0 (BS)");
	report(!(exc_last.dr7 & (1 << 13)), "DR7.GD clear in the handler");

	/* B0-B3 are cleared by a new #DB, BS is sticky (T10) */
	write_dr6(0xffff0ff3);	/* stale B0, B1 */
	exc_clear();
	asm volatile(ASM_TRY("1f") "pushfq; orq $0x100, (%%rsp); popfq\n\tnop\n1:" ::: "memory");
	CHECK_EQ(exc_last.dr6, 0xffff4ff0, "TF: stale B0/B1 cleared by the new #DB");

	/* several steps with a handler that keeps TF: one #DB per instruction */
	set_handler(1, step_count);
	hits = 0;
	asm volatile("pushfq; orq $0x100, (%%rsp); popfq\n\tnop\n\tnop\n\tnop\n\tnop" ::: "memory");
	set_handler(1, NULL);
	CHECK_EQ(hits, 3, "TF: one #DB per instruction until the handler clears TF");

	/* instruction breakpoint: fault before the instruction, B0, RF stops re-trigger */
	asm volatile("lea 2f(%%rip), %0\n\tjmp 3f\n2: nop\n\tnop\n\tret\n3:" : "=r"(at));
	write_dr0(at);
	write_dr6(0xffff0ff0);
	write_dr7(0x401);	/* L0, execute, 1 byte */
	set_handler(1, bp_resume);
	hits = 0;
	asm volatile("call *%0" :: "r"(at) : "memory");
	write_dr7(0x400);
	set_handler(1, NULL);
	CHECK_EQ(hits, 1, "instruction breakpoint: exactly one #DB (RF suppresses the repeat)");
	CHECK_EQ(last_rip, at, "instruction breakpoint: fault, saved RIP = the instruction");
	CHECK_EQ(last_dr6 & 0xf, 1, "instruction breakpoint: DR6.B0");
	report(!(last_rflags & RF), "instruction breakpoint #DB pushes RF as it was (0)");

	/* data breakpoint, write-only, 4 bytes: a trap after the writing instruction */
	write_dr1((uint64_t)&var32[1]);
	write_dr6(0xffff0ff0);
	write_dr7(0x400 | (1 << 2) | (0x1 << 20) | (0x3 << 22));	/* L1, RW=01, LEN=11 (4) */
	exc_clear();
	uint32_t tmp = var32[1];	/* a read does not trigger */
	(void)tmp;
	CHECK_EQ(exc_last.count, 0, "write breakpoint: a read does not trigger");
	asm volatile(ASM_TRY("1f") "movl $5, (%1)\n\tlea 1f(%%rip), %0\n1:" : "=&r"(next) : "r"(&var32[1]) : "memory");
	CHECK_EQ(exc_last.vector, 1, "write breakpoint: #DB");
	CHECK_EQ(exc_last.dr6 & 0xf, 2, "write breakpoint: DR6.B1");
	CHECK_EQ(var32[1], 5, "write breakpoint: the write completed (trap)");
	/* the LEA after the MOV must not have run before the trap: RIP is the LEA */
	report(exc_last.rip != next, "write breakpoint: trap right after the MOV");
	/* an overlapping 8-byte write also hits */
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq $0, (%0)\n1:" :: "r"(&var32[0]) : "memory");
	CHECK_EQ(exc_last.vector, 1, "write breakpoint: an overlapping 8-byte write hits");
	/* a write next to it does not */
	exc_clear();
	var32[2] = 7;
	CHECK_EQ(exc_last.count, 0, "write breakpoint: a neighbouring write does not hit");

	/* read/write breakpoint, 2 bytes: a read hits */
	write_dr7(0x400 | (1 << 2) | (0x3 << 20) | (0x1 << 22));	/* L1, RW=11, LEN=01 */
	exc_clear();
	asm volatile(ASM_TRY("1f") "movw (%0), %%ax\n1:" :: "r"(&var32[1]) : "rax", "memory");
	CHECK_EQ(exc_last.vector, 1, "read/write breakpoint: a read hits");
	write_dr7(0x400);

	/* I/O breakpoint: needs CR4.DE; port 0xe0 (pc-testdev), 1 byte */
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | (1 << 3));
	write_dr2(0xe0);
	write_dr7(0x400 | (1 << 4) | (0x2 << 24));	/* L2, RW=10 */
	exc_clear();
	asm volatile(ASM_TRY("1f") "mov $0x12, %%al; outb %%al, $0xe0\n1:" ::: "rax", "memory");
	CHECK_EQ(exc_last.vector, 1, "I/O breakpoint (CR4.DE): OUT to the port traps");
	CHECK_EQ(exc_last.dr6 & 0xf, 4, "I/O breakpoint: DR6.B2");
	exc_clear();
	uint8_t back;
	asm volatile(ASM_TRY("1f") "inb $0xe0, %%al\n1:" : "=a"(back) :: "memory");
	CHECK_EQ(exc_last.vector, 1, "I/O breakpoint: IN from the port traps too");
	CHECK_EQ(back, 0x12, "I/O breakpoint: the OUT and the IN completed");
	exc_clear();
	asm volatile(ASM_TRY("1f") "outb %%al, $0xe4\n1:" ::: "rax", "memory");
	CHECK_EQ(exc_last.count, 0, "I/O breakpoint: another port does not hit");
	write_dr7(0x400);
	write_cr4(cr4);

	/* general detect: MOV DR with DR7.GD faults with BD; GD cleared on delivery */
	write_dr7(0x400 | (1 << 13));
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t2: mov %%dr0, %%rax\n1:" : "=&r"(at) :: "rax", "memory");
	CHECK_EQ(exc_last.vector, 1, "DR7.GD: MOV DR raises #DB");
	CHECK_EQ(exc_last.rip, at, "DR7.GD: fault, RIP = the MOV DR");
	report(exc_last.dr6 & (1 << 13), "DR7.GD: DR6.BD set");
	report(!(exc_last.dr7 & (1 << 13)), "DR7.GD: GD cleared when #DB is delivered");
	write_dr7(0x400);

	/* ICEBP does not set BS */
	write_dr6(0xffff0ff0);
	exc_clear();
	asm volatile(ASM_TRY("1f") ".byte 0xf1\n1:" ::: "memory");
	CHECK_EQ(exc_last.vector, 1, "ICEBP: #DB");
	report(!(exc_last.dr6 & (1 << 14)), "ICEBP: BS not set");

	/* T12: TF across MOV SS: no #DB after MOV SS; one after the next instruction */
	write_dr6(0xffff0ff0);
	exc_clear();
	asm volatile(ASM_TRY("1f") "pushfq; orq $0x100, (%%rsp); popfq\n\t"
		     "mov %%ss, %%ax\n\t"
		     "mov %%ax, %%ss\n\t"
		     "nop\n\t"
		     "lea 1f(%%rip), %0\n1:" : "=&r"(next) :: "rax", "memory");
	/* TF is set from the first MOV on: the first trap comes after MOV %ss,%ax */
	CHECK_EQ(exc_last.count, 1, "TF + MOV SS: one #DB");
	report(exc_last.dr6 & (1 << 14), "TF + MOV SS: BS set");
	exc_clear();
	asm volatile("mov %%ss, %%ax\n\t"
		     ASM_TRY("1f")
		     "pushfq; orq $0x100, (%%rsp); popfq\n\t"
		     "mov %%ax, %%ss\n\t"
		     "2: nop\n\t"
		     "3:\n1:" ::: "rax", "memory");
	uint64_t after_nop;
	asm volatile("lea 3b(%%rip), %0" : "=r"(after_nop));
	CHECK_EQ(exc_last.rip, after_nop, "T12: the #DB after MOV SS waits for the next instruction");
	/* STI does not delay a single-step trap (only MOV SS does) */
	write_dr6(0xffff0ff0);
	exc_clear();
	uint64_t after_sti;
	asm volatile("cli\n\t" ASM_TRY("1f")
		     "pushfq; orq $0x100, (%%rsp); popfq\n\t"
		     "sti\n\t"
		     "2: nop\n1:\n\t"
		     "lea 2b(%%rip), %0\n\tcli" : "=&r"(after_sti) :: "memory");
	CHECK_EQ(exc_last.rip, after_sti, "TF + STI: #DB right after STI (the shadow blocks interrupts only)");
	return report_summary();
}
