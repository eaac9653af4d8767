/* run_user: call a function at CPL 3 and come back through INT 0x7f. */
#include "asm.h"
	.text
	.globl run_user_asm
run_user_asm:			/* rdi = fn, rsi = arg, rdx = user stack */
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, saved_ksp
	mov %rdi, user_fn
	mov %rsi, user_arg
	pushq $(SEL_UDATA | 3)
	pushq %rdx
	pushq $0x202
	pushq $(SEL_UCODE64 | 3)
	pushq $user_entry
	iretq
user_entry:
	mov user_arg, %rdi
	call *user_fn
	mov %rax, user_ret
	int $0x7f
1:	jmp 1b

	.globl user_return_stub
user_return_stub:			/* INT 0x7f from CPL 3: back to the caller */
	mov saved_ksp, %rsp
	movw $SEL_KDATA, %ax
	movw %ax, %ss
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	mov user_ret, %rax
	ret

	.section .note.GNU-stack, "", @progbits
