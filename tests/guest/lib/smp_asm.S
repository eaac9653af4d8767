/*
 * SMP support (smp.c): application-processor start-up code, and interrupt
 * stubs that call C handlers directly (not through the exception
 * dispatcher and its ASM_TRY fixups, which other CPUs may be using).
 *
 * Start-up:  smp_init() copies the part between
 * ap_tramp_start and ap_tramp_end to physical address 0 and sends INIT and
 * one SIPI with vector 0 (platform.md §3), so an AP begins here in real
 * mode at 0000:0000.  It switches to long mode with the BSP's page tables
 * and GDT and jumps to ap_entry64 in the image.
 */
#include "asm.h"

#define T(x) ((x) - ap_tramp_start)

	.text
	.code16
	.globl ap_tramp_start, ap_tramp_end, ap_tramp_cr3, ap_tramp_gdt
	.balign 16
ap_tramp_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(ap_tramp_gdt)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $T(1f)

	.code32
1:	movw $SEL_KDATA32, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl T(ap_tramp_cr3), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	ljmpl $SEL_KCODE64, $T(2f)

	.code64
2:	movabsq $ap_entry64, %rax
	jmp *%rax

	.balign 8
ap_tramp_cr3:
	.long 0
ap_tramp_gdt:				/* limit, 32-bit base: filled by smp_init */
	.word 0
	.long 0
ap_tramp_end:

/* 64-bit entry of an AP: a stack by APIC ID, then C */
	.globl ap_entry64
ap_entry64:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $1, %eax
	cpuid
	shrl $24, %ebx			/* initial APIC ID */
	movl %ebx, %edi
	movq ap_stack_top(,%rbx,8), %rsp
	xorl %ebp, %ebp
	call ap_main
3:	cli
	hlt
	jmp 3b

/*
 * Interrupt stubs: irq_stub_table + 16 * vec.  A stub saves RAX and RDX
 * and reads the TSC as its third instruction, so the time passed to the
 * handler is the time the interrupt was taken + IRQ_TSC_SKEW (2: one
 * instruction = one TSC tick).  The common part saves the other
 * caller-saved registers (stack 16-byte aligned at the call) and calls
 * irq_dispatch(vec, frame, tsc).
 */
	.globl irq_common
irq_common:
	pushq %rcx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	subq $8, %rsp
	movq 64(%rsp), %rdi		/* vector */
	leaq 88(%rsp), %rsi		/* the interrupt frame */
	shlq $32, %rdx
	orq %rax, %rdx			/* TSC */
	cld
	call irq_dispatch
	addq $8, %rsp
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rcx
	addq $8, %rsp
	popq %rdx
	popq %rax
	iretq

.macro IRQSTUB n
	.balign 16
	pushq %rax
	pushq %rdx
	rdtsc
	pushq $\n
	jmp irq_common
.endm

	.balign 16
	.globl irq_stub_table
irq_stub_table:
	.altmacro
	.set i, 0
	.rept 256
	IRQSTUB %i
	.set i, i + 1
	.endr

	.section .note.GNU-stack, "", @progbits
