/*
 * Alignment checking (SDM Vol. 3A 6.15 #AC): at CPL 3 with CR0.AM and
 * RFLAGS.AC, a misaligned data access faults with #AC(0) before it
 * happens; not at CPL 0, not without AM or AC, not for byte accesses;
 * stack accesses count.
 */
#include "sys.h"

static uint8_t ustack[4096] __attribute__((aligned(4096)));
uint8_t ubuf[4096] __attribute__((aligned(4096)));

asm(".pushsection .text\n\t.balign 4096\n"
"u_ac:\n"
"u_ld2:\n\tmovw (%rdi), %ax\n\tint $0x81\n"
"u_ld4:\n\tmovl (%rdi), %eax\n\tint $0x81\n"
"u_ld8:\n\tmovq (%rdi), %rax\n\tint $0x81\n"
"u_st8:\n\tmovq $0x77, (%rdi)\n\tint $0x81\n"
"u_ld1:\n\tmovb (%rdi), %al\n\tint $0x81\n"
"u_push:\n\tmovq %rsp, %rbx\n\tmovq %rdi, %rsp\n\tpushq $1\n\tmovq %rbx, %rsp\n\tint $0x81\n"
	".balign 4096\n\t"
	".popsection");
extern char u_ac[], u_ld2[], u_ld4[], u_ld8[], u_st8[], u_ld1[], u_push[];

static int user(void *fn, uint64_t arg)
{
	exc_clear();
	run_user64(fn, arg, ustack + sizeof(ustack));
	return exc_last.vector;
}

int main(int argc, char **argv)
{
	uint64_t b = (uint64_t)(uintptr_t)ubuf;
	set_user((uint64_t)(uintptr_t)u_ac);
	set_user((uint64_t)(uintptr_t)ustack);
	set_user(b);

	user_rflags = 2 | (1u << 18);	/* AC */
	report(user(u_ld4, b + 1) == -1, "AC = 1, CR0.AM = 0: no #AC");
	write_cr0(read_cr0() | (1u << 18));
	report(user(u_ld2, b + 1) == 17 && exc_last.error_code == 0 && exc_last.rip == (uint64_t)(uintptr_t)u_ld2,
	       "misaligned word load: #AC(0) at the instruction");
	CHECK_EQ(user(u_ld4, b + 2), 17, "misaligned dword load: #AC");
	CHECK_EQ(user(u_ld8, b + 4), 17, "misaligned qword load: #AC");
	ubuf[8] = 0;
	CHECK_EQ(user(u_st8, b + 4), 17, "misaligned qword store: #AC");
	CHECK_EQ(ubuf[8], 0, "... nothing written");
	CHECK_EQ(user(u_ld8, b + 8), -1, "aligned qword: no #AC");
	CHECK_EQ(user(u_ld1, b + 3), -1, "byte access: no #AC");
	CHECK_EQ(user(u_ld4, b + 0xffe), 17, "misaligned dword crossing a page: #AC");
	CHECK_EQ(user(u_push, b + 0x803), 17, "PUSH with a misaligned RSP: #AC");
	user_rflags = 2;
	CHECK_EQ(user(u_ld4, b + 1), -1, "AC = 0: no #AC");
	exc_clear();
	uint32_t v;
	asm volatile("pushfq\n\torl $0x40000, (%%rsp)\n\tpopfq\n\t"
		     ASM_TRY("1f")
		     "movl 1(%1), %0\n1:\t"
		     "pushfq\n\tandl $~0x40000, (%%rsp)\n\tpopfq" : "=r"(v) : "r"(b) : "memory");
	CHECK_EQ(exc_last.vector, -1, "CPL 0 with AM and AC: no #AC");
	write_cr0(read_cr0() & ~(1u << 18));
	return report_summary();
}
