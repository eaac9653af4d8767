/*
 * Mode excursions for system tests (see sys.h; C helpers in sys.c): 64-bit -> 32-bit protected
 * mode and back, compatibility-mode calls, ring-3 64-bit calls, and the
 * 32-bit exception stubs.
 */
#include "asm.h"

#define SEL_X32_TSS 0x1e0

	.text
	.code64

/* uint32_t call32_asm(void *fn, uint32_t arg, uint64_t cr3, uint64_t cr4) */
	.globl call32_asm
call32_asm:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	cli
	movq %rsp, x32_rsp64
	movl %edi, x32_fn
	movl %esi, x32_arg
	movq %rdx, x32_ret_cr3
	movq %rcx, x32_ret_cr4
	sgdt x32_gdt64
	sidt x32_idt64
	movl $0xc0000080, %ecx
	rdmsr
	movl %eax, x32_efer64
	movq %cr0, %rax
	movl %eax, x32_cr0_64
	pushq $SEL_KCODE32
	leaq x32_enter(%rip), %rax
	pushq %rax
	lretq

	.code32
x32_enter:
	movl $SEL_KDATA32, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %fs
	movl %eax, %gs
	movl %eax, %ss
	/* leave long mode: paging off, then EFER.LME off */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl $0xc0000080, %ecx
	rdmsr
	andl $~0x100, %eax
	wrmsr
	lidt x32_idt_desc
	andb $~2, gdt64 + SEL_X32_TSS + 5
	movl $SEL_X32_TSS, %eax
	ltr %ax
	xorl %eax, %eax
	lldt %ax
	pushl $2
	popfl
	pushl x32_arg
	call *x32_fn
	movl %eax, x32_retval
	.globl x32_exit
x32_exit:
	cli
	movl $SEL_KDATA32, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl x32_rsp64, %esp
	/* the test may have changed anything: paging off, tables back */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	lgdt x32_gdt64
	movl x32_ret_cr4, %eax
	andl $~(1 << 17), %eax		/* PCIDE only in long mode */
	movl %eax, %cr4
	movl x32_ret_cr3, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	movl x32_efer64, %eax
	wrmsr
	movl x32_cr0_64, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $x32_back64

	.code64
x32_back64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq x32_rsp64, %rsp
	movq x32_ret_cr4, %rax
	movq %rax, %cr4
	lidt x32_idt64
	andb $~2, gdt64 + SEL_TSS + 5
	movl $SEL_TSS, %eax
	ltr %ax
	xorl %eax, %eax
	lldt %ax
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	movl x32_retval, %eax
	ret

/* uint32_t call_compat(void *fn, uint32_t arg) */
	.globl call_compat
call_compat:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, x32_rsp64
	movl %edi, x32_fn
	movl %esi, x32_arg
	pushq $SEL_KCODE32
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
	.code32
1:	pushl x32_arg
	call *x32_fn
	movl %eax, x32_retval
	ljmp $SEL_KCODE64, $2f
	.code64
2:	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movq x32_rsp64, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	movl x32_retval, %eax
	ret

/* uint64_t run_user64(void *fn, uint64_t arg, void *stack_top) */
	.globl run_user64
run_user64:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	movq %rsp, user_krsp
	movq $1, user_active
	pushq $(SEL_UDATA | 3)
	pushq %rdx
	pushq user_rflags
	pushq $(SEL_UCODE64 | 3)
	pushq %rdi
	movq %rsi, %rdi
	iretq
/* the same through RETF (REX.W): SS, RSP, CS, RIP popped */
	.globl run_user64_lret
run_user64_lret:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	movq %rsp, user_krsp
	movq $1, user_active
	pushq $(SEL_UDATA | 3)
	pushq %rdx
	pushq $(SEL_UCODE64 | 3)
	pushq %rdi
	movq %rsi, %rdi
	lretq

	.globl user_ret64
user_ret64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movq user_krsp, %rsp
	movq $0, user_active
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	movq user_rax, %rax
	ret

/*
 * Ring 3 in 32-bit protected mode (call32_user): x32_to_user(struct {fn,
 * arg} *) IRETs to x32_user_stub at CPL 3 (SEL_UCODE32 / SEL_UDATA, the
 * stack 256 bytes below), which calls fn(arg) and comes back with INT 0x82
 * (a DPL 3 gate hooked to x32_user_back).
 */
	.code32
	.globl x32_to_user, x32_user_back
x32_to_user:
	pushal
	movl 36(%esp), %esi
	movl %esp, x32_user_esp
	movl (%esi), %eax
	movl %eax, x32_user_fn
	movl 4(%esi), %eax
	movl %eax, x32_user_arg
	pushl $(SEL_UDATA | 3)
	leal -256(%esp), %eax
	pushl %eax
	pushfl
	pushl $(SEL_UCODE32 | 3)
	pushl $x32_user_stub
	iretl
x32_user_stub:
	movl $(SEL_UDATA | 3), %eax
	movl %eax, %ds
	movl %eax, %es
	pushl x32_user_arg
	call *x32_user_fn
	int $0x82
	ud2
x32_user_back:
	movl 4(%esp), %ebp
	movl 28(%ebp), %eax
	movl %eax, x32_user_ret
	movl $SEL_KDATA32, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %fs
	movl %eax, %gs
	movl %eax, %ss
	movl x32_user_esp, %esp
	popal
	movl x32_user_ret, %eax
	ret
	.code64

/* ---- 32-bit exception stubs ---- */
	.code32
.macro X32_ISR n
	.balign 16
	.if (\n == 8 || (\n >= 10 && \n <= 14) || \n == 17 || \n == 21 || \n == 29 || \n == 30)
	.else
	pushl $0
	.endif
	pushl $\n
	jmp x32_common
.endm

	.balign 16
	.globl x32_isr_table
x32_isr_table:
	.altmacro
	.set i, 0
	.rept 256
	X32_ISR %i
	.set i, i + 1
	.endr
	.noaltmacro

/*
 * Frame after the pushes below, from EBP: edi esi ebp esp ebx edx ecx eax
 * (0..28), es (32), ds (36), vector (40), error code (44), eip (48), cs (52),
 * eflags (56), esp (60), ss (64), es (68), ds (72), fs (76), gs (80).
 */
x32_common:
	pushl %ds
	pushl %es
	pushal
	movl %esp, %ebp
	movl $SEL_KDATA32, %eax
	movl %eax, %ds
	movl %eax, %es
	cmpl $0x82, 40(%ebp)		/* call32_user's way back: not an event */
	je 2f
	movl 40(%ebp), %eax
	movl %eax, x32_exc
	movl 44(%ebp), %eax
	movl %eax, x32_exc + 4
	movl 48(%ebp), %eax
	movl %eax, x32_exc + 8
	movl 52(%ebp), %eax
	movl %eax, x32_exc + 12
	movl 56(%ebp), %eax
	movl %eax, x32_exc + 16
	/* a privilege change or virtual-8086 mode pushed SS:ESP */
	testl $0x20000, 56(%ebp)
	jnz 1f
	movl 52(%ebp), %eax
	movw %cs, %cx
	xorl %eax, %ecx
	testl $3, %ecx
	jz 5f
1:	movl 60(%ebp), %eax
	movl %eax, x32_exc + 20
	movl 64(%ebp), %eax
	movl %eax, x32_exc + 24
	testl $0x20000, 56(%ebp)
	jz 5f
	movl 68(%ebp), %eax
	movl %eax, x32_exc + 28
	movl 72(%ebp), %eax
	movl %eax, x32_exc + 32
	movl 76(%ebp), %eax
	movl %eax, x32_exc + 36
	movl 80(%ebp), %eax
	movl %eax, x32_exc + 40
5:	movl %cr2, %eax
	movl %eax, x32_exc + 44
	incl x32_exc + 48
	leal 48(%ebp), %eax
	movl %eax, x32_exc + 52
	movl %ss, %eax
	movl %eax, x32_exc + 56
2:	movl 40(%ebp), %eax
	movl x32_handlers(, %eax, 4), %ecx
	testl %ecx, %ecx
	jz 3f
	pushl %ebp
	call *%ecx
	addl $4, %esp
	popal
	popl %es
	popl %ds
	addl $8, %esp
	iretl
3:	movl x32_fixup, %ecx
	testl %ecx, %ecx
	jz 4f
	movl $0, x32_fixup
	movl $SEL_KDATA32, %eax
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl x32_fixup_esp, %esp
	pushl $2
	popfl
	jmp *%ecx
4:	movl $1, x32_unexpected
	movl $0xdead, x32_retval
	jmp x32_exit

	.code64
	.data
	.balign 8
	.globl x32_rsp64, x32_ret_cr3, x32_ret_cr4, x32_fixup, x32_fixup_esp
	.globl x32_retval, x32_unexpected, x32_fn, x32_arg
x32_rsp64: .quad 0
x32_ret_cr3: .quad 0
x32_ret_cr4: .quad 0
x32_gdt64: .word 0
	.quad 0
	.balign 8
x32_idt64: .word 0
	.quad 0
	.balign 8
x32_efer64: .long 0
x32_cr0_64: .long 0
x32_fn: .long 0
x32_arg: .long 0
x32_retval: .long 0
x32_unexpected: .long 0
x32_fixup: .long 0
x32_fixup_esp: .long 0
x32_user_esp: .long 0
x32_user_fn: .long 0
x32_user_arg: .long 0
x32_user_ret: .long 0
	.globl user_krsp, user_active, user_rax, user_rflags
user_krsp: .quad 0
user_active: .quad 0
user_rax: .quad 0
user_rflags: .quad 2

	.section .note.GNU-stack, "", @progbits
