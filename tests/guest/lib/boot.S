/* Guest test images: Multiboot entry, switch to 64-bit mode, exception stubs. */
#include "asm.h"

	.section .multiboot, "a"
	.balign 4
	.long 0x1badb002		/* magic */
	.long 0x00000003		/* page-align modules, memory information */
	.long -(0x1badb002 + 0x00000003)

	.section .text.boot, "ax"
	.code32
	.globl _start
_start:
	/* record the entry state the loader left (platform.md §1) */
	movl %eax, mb_magic
	movl %ebx, mb_info
	movl $boot_stack_top, %esp	/* the loader leaves ESP undefined */
	pushfl
	popl entry_eflags
	movl %cr0, %eax
	movl %eax, entry_cr0
	movl %cr4, %eax
	movl %eax, entry_cr4
	movw %cs, entry_cs
	movw %ds, entry_ds
	movw %ss, entry_ss
	movw %es, entry_es
	sidt entry_idtr
	sgdt entry_gdtr
	movl $0xc0000080, %ecx
	rdmsr
	movl %eax, entry_efer
	cli
	movl $boot_stack_top, %esp
	lgdt gdt64_desc

	/* identity-map 0..4 GiB with 2 MiB pages */
	movl $pdpt, %eax
	orl $0x3, %eax
	movl %eax, pml4
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	addl $pd, %eax
	orl $0x3, %eax
	movl %eax, pdpt(,%ecx,8)
	incl %ecx
	cmpl $4, %ecx
	jne 1b
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax			/* present, writable, 2 MiB */
	movl %eax, pd(,%ecx,8)
	movl %ecx, %eax
	shrl $11, %eax
	movl %eax, pd+4(,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $start64

	.code64
start64:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	call guest_start
3:	hlt
	jmp 3b

/* exception and interrupt entry stubs: push (error code), vector */
	.text
	.globl isr_common
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call exc_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

.macro ISR n
	.balign 16
isr_\n:
	.if (\n == 8 || (\n >= 10 && \n <= 14) || \n == 17 || \n == 21 || \n == 29 || \n == 30)
	.else
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
.endm

	.balign 16
	.globl isr_table
isr_table:
	.altmacro
	.set i, 0
	.rept 256
	ISR %i
	.set i, i + 1
	.endr

	.data
	.balign 16
	.globl gdt64
gdt64:
	.quad 0				/* 0x00 null */
	.quad 0x00af9b000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf93000000ffff	/* 0x10 kernel data */
	.quad 0x00cf9b000000ffff	/* 0x18 kernel code, 32-bit */
	.quad 0x00cf93000000ffff	/* 0x20 kernel data (32-bit) */
	.quad 0x00009b000000ffff	/* 0x28 code, 16-bit */
	.quad 0x000093000000ffff	/* 0x30 data, 16-bit */
	.quad 0x00cffb000000ffff	/* 0x38 user code, 32-bit */
	.quad 0x00cff3000000ffff	/* 0x40 user data */
	.quad 0x00affb000000ffff	/* 0x48 user code, 64-bit */
	.quad 0, 0			/* 0x50 TSS (filled at start-up) */
	.fill 48, 8, 0			/* 0x60..0x1d8 free for tests */
	.quad 0				/* 0x1e0 32-bit TSS of call32 (sys.c) */
	.quad 0				/* 0x1e8 reserved */
	.fill 2, 8, 0			/* 0x1f0 reserved */
gdt64_end:
	.globl gdt64_desc
gdt64_desc:
	.word gdt64_end - gdt64 - 1
	.quad gdt64

	.globl mb_magic, mb_info
mb_magic: .long 0
mb_info: .long 0
	.globl entry_eflags, entry_cr0, entry_cr4, entry_efer, entry_cs, entry_ds
	.globl entry_ss, entry_es, entry_idtr, entry_gdtr
entry_eflags: .long 0
entry_cr0: .long 0
entry_cr4: .long 0
entry_efer: .long 0
entry_cs: .word 0
entry_ds: .word 0
entry_ss: .word 0
entry_es: .word 0
entry_idtr: .fill 10, 1, 0
entry_gdtr: .fill 10, 1, 0

	.bss
	.balign 4096
	.globl pml4, pdpt, pd
pml4: .fill 512, 8, 0
pdpt: .fill 512, 8, 0
pd: .fill 2048, 8, 0
	.balign 16
boot_stack: .fill 32768, 1, 0
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
