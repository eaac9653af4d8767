/* Paging in 32-bit protected mode (see paging32.h). */
#include "paging32.h"

/* ring-3 halves: arg = the address; X32_TRY catches the fault */
CODE32(pg32_uread,
	"movl 4(%esp), %ecx\n\t"
	X32_TRY("1f")
	"movl (%ecx), %eax\n\t"
	"movl %eax, pg32_uval\n\t"
	X32_END
	"1:\tret");
CODE32(pg32_uwrite,
	"movl 4(%esp), %ecx\n\t"
	X32_TRY("1f")
	"movl pg32_uval, %eax\n\t"
	"movl %eax, (%ecx)\n\t"
	X32_END
	"1:\tret");
CODE32(pg32_uexec,
	"movl 4(%esp), %ecx\n\t"
	X32_TRY("1f")
	"call *%ecx\n\t"
	X32_END
	"1:\tret");
uint32_t pg32_uval;
struct { uint32_t fn, arg; } pg32_uargs;

/*
 * pg32_go(struct pgop *): CR3, CR4 (PSE/PAE replaced), EFER bits, then
 * CR0.PG (| cr0_or); one access; paging off.
 */
CODE32(pg32_go,
	"pushal\n\t"
	"movl 36(%esp), %esi\n\t"
	"movl $-1, 28(%esi)\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"orl 24(%esi), %eax\n\t"
	"wrmsr\n\t"
	"movl (%esi), %eax\n\t"
	"movl %eax, %cr3\n\t"
	"movl %cr4, %eax\n\t"
	"andl $~0x30, %eax\n\t"
	"orl 4(%esi), %eax\n\t"
	"movl %eax, %cr4\n\t"
	"movl %cr0, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	"orl 20(%esi), %eax\n\t"
	X32_TRY("7f")
	"movl %eax, %cr0\n\t"
	X32_END
	"movl 8(%esi), %eax\n\t"
	"movl 12(%esi), %edi\n\t"
	X32_TRY("8f")
	"cmpl $0, %eax\n\t"
	"je 10f\n\t"
	"cmpl $1, %eax\n\t"
	"je 11f\n\t"
	"cmpl $2, %eax\n\t"
	"je 12f\n\t"
	"cmpl $3, %eax\n\t"
	"je 13f\n\t"
	"cmpl $7, %eax\n\t"
	"je 6f\n\t"
	"cmpl $8, %eax\n\t"
	"je 15f\n\t"
	/* user: 4 read, 5 write, 6 exec */
	"movl $0, x32_fixup\n\t"
	"movl $pg32_uread, %ecx\n\t"
	"cmpl $4, %eax\n\t"
	"je 14f\n\t"
	"movl $pg32_uwrite, %ecx\n\t"
	"cmpl $5, %eax\n\t"
	"je 14f\n\t"
	"movl $pg32_uexec, %ecx\n"
	"14:\tmovl %ecx, pg32_uargs\n\t"
	"movl %edi, pg32_uargs+4\n\t"
	"movl 16(%esi), %eax\n\t"
	"movl %eax, pg32_uval\n\t"
	"pushl $pg32_uargs\n\t"
	"call x32_to_user\n\t"
	"addl $4, %esp\n\t"
	"movl 36(%esp), %esi\n\t"
	"movl pg32_uval, %eax\n\t"
	"movl %eax, 16(%esi)\n\t"
	"jmp 8f\n"
	"10:\tmovl (%edi), %eax\n\t"
	"movl %eax, 16(%esi)\n\t"
	"jmp 6f\n"
	"11:\tmovl 16(%esi), %eax\n\t"
	"movl %eax, (%edi)\n\t"
	"jmp 6f\n"
	"12:\tcall *%edi\n\t"
	"jmp 6f\n"
	"13:\tmovl 16(%esi), %eax\n\t"
	"movl %eax, %cr3\n\t"
	"jmp 6f\n"
	"15:\tmovl 16(%esi), %eax\n\t"
	"movl 36(%esi), %ecx\n\t"
	"movl %eax, (%ecx)\n\t"
	"movl (%edi), %eax\n\t"
	"movl %eax, 16(%esi)\n"
	"6:\t" X32_END
	"8:\tmovl 36(%esp), %esi\n\t"
	"movl %cr3, %eax\n\t"
	"movl %eax, 32(%esi)\n\t"
	"movl %cr0, %eax\n\t"
	"andl $0x7ffeffff, %eax\n\t"	/* PG and WP off */
	"movl %eax, %cr0\n\t"
	"popal\n\t"
	"ret\n"
	/* enabling paging faulted */
	"7:\tmovl 36(%esp), %esi\n\t"
	"movl x32_exc, %eax\n\t"
	"movl %eax, 28(%esi)\n\t"
	"popal\n\t"
	"ret");

extern char x32_user_back[];

int pg32_run(struct pgop *op)
{
	x32_set_gate(0x82, (uint32_t)(uintptr_t)(x32_isr_table + 16 * 0x82), SEL_KCODE32, 0xe, 3);
	x32_handlers[0x82] = (uint32_t)(uintptr_t)x32_user_back;
	call32(pg32_go, (uint32_t)(uintptr_t)op);
	return x32_exc.vector;
}
