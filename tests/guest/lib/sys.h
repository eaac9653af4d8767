/*
 * System-architecture helpers for guest tests: descriptors, excursions to
 * 32-bit protected mode and compatibility mode, and page-table editing.
 *
 * Legacy 32-bit code is written as asm snippets in the test file with
 * CODE32(name, "instructions").  call32(name, arg) leaves long mode,
 * runs name(arg) as a cdecl 32-bit function in protected mode with paging
 * off, its own IDT (x32_idt) and TSS (x32_tss), and comes back; exceptions
 * in there are recorded in x32_exc.  call_compat(name, arg) runs the same
 * kind of snippet in compatibility mode (long mode, the 64-bit IDT).
 *
 * Catching a fault in 32-bit code: X32_TRY("1f") before the instruction;
 * the exception handler records it in x32_exc, reloads flat ring-0
 * segments, restores ESP to its value at X32_TRY and jumps to label 1.
 * X32_END clears the pending catch when nothing faulted.
 */
#ifndef GUEST_SYS_H
#define GUEST_SYS_H

#include "libguest.h"

/* ---- descriptors ---- */

/* flags: access byte in bits 7:0 (P, DPL, S, type), G/DB/L/AVL in 15:12 */
uint64_t seg_desc(uint32_t base, uint32_t limit, uint16_t flags);
/* call / interrupt / trap / task gate (8 bytes) */
uint64_t gate_desc(uint16_t sel, uint32_t off, int type, int dpl, int params);
void gdt_set(int sel, uint64_t desc);
uint64_t gdt_get(int sel);
/* 16-byte system descriptor (long mode TSS, LDT, call gate) */
void gdt_set16(int sel, uint64_t lo, uint64_t hi);
uint64_t sys_desc64_lo(uint64_t base, uint32_t limit, int type, int dpl);
uint64_t gate64_lo(uint16_t sel, uint64_t off, int type, int dpl, int ist);

/* GDT entries 0x60 .. SEL_FREE_END are free for tests */
#define SEL_FREE_END 0x1d8
#define SEL_X32_TSS 0x1e0	/* the 32-bit TSS used by call32 */

/* ---- legacy excursions ---- */

#define CODE32(name, body) \
	extern char name[]; \
	asm(".pushsection .text\n\t.code32\n\t.balign 16\n\t.globl " #name "\n" #name ":\n\t" \
	    body "\n\t.code64\n\t.popsection")
#define CODE16(name, body) \
	extern char name[]; \
	asm(".pushsection .text\n\t.code16\n\t.balign 16\n\t.globl " #name "\n" #name ":\n\t" \
	    body "\n\t.code64\n\t.popsection")
#define X32_TRY(label) "movl $" label ", x32_fixup\n\tmovl %esp, x32_fixup_esp\n\t"
#define X32_END "movl $0, x32_fixup\n\t"
#define X32_END_SS "movl $0, %ss:x32_fixup\n\t"	/* when DS may be unusable */
/* compatibility mode: the 64-bit handler resumes at label */
#define COMPAT_TRY(label) "movl $" label ", exc_fixup_rip\n\tmovl $0, exc_fixup_rip+4\n\t"
#define COMPAT_END "movl $0, exc_fixup_rip\n\tmovl $0, exc_fixup_rip+4\n\t"

struct x32_rec {
	int32_t vector;		/* -1: no exception */
	uint32_t ec;		/* 0 when the vector has none */
	uint32_t eip, cs, eflags;
	uint32_t esp, ss;	/* valid after a privilege change / from v86 */
	uint32_t es, ds, fs, gs;	/* valid from virtual-8086 mode */
	uint32_t cr2;
	uint32_t count;		/* exceptions taken during the call */
	uint32_t frame;		/* handler ESP pointing at the saved EIP */
	uint32_t handler_ss;	/* SS while the handler ran */
};
extern volatile struct x32_rec x32_exc;
extern volatile uint32_t x32_fixup, x32_fixup_esp;
/* per-vector asm hook: called with the frame pointer (cdecl), then IRET */
extern uint32_t x32_handlers[256];

struct tss32 {
	uint16_t link, r0;
	uint32_t esp0;
	uint16_t ss0, r1;
	uint32_t esp1;
	uint16_t ss1, r2;
	uint32_t esp2;
	uint16_t ss2, r3;
	uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint16_t es, r4, cs, r5, ss, r6, ds, r7, fs, r8, gs, r9, ldt, r10;
	uint16_t trap, iomap;
} __attribute__((packed));
extern struct tss32 x32_tss;

struct tss16 {
	uint16_t link, sp0, ss0, sp1, ss1, sp2, ss2;
	uint16_t ip, flags, ax, cx, dx, bx, sp, bp, si, di;
	uint16_t es, cs, ss, ds, ldt;
} __attribute__((packed));

uint32_t call32(void *fn, uint32_t arg);
/* as call32, returning to long mode with these CR3 / CR4 values */
uint32_t call32_cr(void *fn, uint32_t arg, uint64_t cr3, uint64_t cr4);
uint32_t call_compat(void *fn, uint32_t arg);
/*
 * As call32, but fn(arg) runs at CPL 3 (SEL_UCODE32, SEL_UDATA).  After a
 * fault caught by X32_TRY the snippet continues at its label in ring 0.
 * Uses vector 0x82 to come back.
 */
uint32_t call32_user(void *fn, uint32_t arg);
void x32_set_gate(int vec, uint32_t off, uint16_t sel, int type, int dpl);
uint64_t x32_get_gate(int vec);
void x32_restore_gate(int vec);	/* back to the default handler stub */
extern uint64_t x32_idt[256];
extern uint8_t x32_isr_table[];

/* ---- paging (4-level or 5-level, the current CR3) ---- */

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_U 0x4ULL
#define PTE_PWT 0x8ULL
#define PTE_PCD 0x10ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define PTE_PS 0x80ULL
#define PTE_G 0x100ULL
#define PTE_NX (1ULL << 63)
#define PTE_ADDR 0x000ffffffffff000ULL

/*
 * Entry for va at `level` (1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E,
 * 5 = PML5E), creating tables on the way and splitting large pages into
 * identical smaller ones.  New tables are P|W|U.
 */
uint64_t *pte_get(uint64_t va, int level);
/* map the 4 KiB page va -> pa with flags (P added), flush it */
void map_page(uint64_t va, uint64_t pa, uint64_t flags);
void set_user(uint64_t va);	/* U=1 on every level of va's translation */
static inline void invlpg(const volatile void *p) { asm volatile("invlpg (%0)" :: "r"(p) : "memory"); }
static inline void flush_tlb(void) { write_cr3(read_cr3()); }

/* ---- misc ---- */

static inline uint64_t rdmsr_safe(uint32_t idx, int *vec)
{
	uint32_t a = 0, d = 0;
	exc_clear();
	asm volatile(ASM_TRY("1f") "rdmsr\n1:" : "+a"(a), "+d"(d) : "c"(idx) : "memory");
	*vec = exc_last.vector;
	return a | ((uint64_t)d << 32);
}

/* returns the exception vector, -1 for none */
static inline int wrmsr_safe(uint32_t idx, uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "wrmsr\n1:" :: "c"(idx), "a"((uint32_t)v),
		     "d"((uint32_t)(v >> 32)) : "memory");
	return exc_last.vector;
}

/*
 * Ring 3 in 64-bit mode: run_user64 IRETs to fn(arg) at CPL 3 with RSP =
 * stack_top and RFLAGS = user_rflags.  The user code ends with USER_RET
 * (INT 0x81, RAX is returned); any exception in ring 3 also ends it and is
 * recorded in exc_last (exc_clear() first).  Code, stack and data it uses
 * must be user pages (set_user).
 */
#define USER_RET_VEC 0x81
#define USER_RET "int $0x81"
extern volatile uint64_t user_rflags;
uint64_t run_user64(void *fn, uint64_t arg, void *stack_top);
uint64_t run_user64_lret(void *fn, uint64_t arg, void *stack_top);	/* RETF, RFLAGS kept */
#define CODE64(name, body) \
	extern char name[]; \
	asm(".pushsection .text\n\t.balign 16\n\t.globl " #name "\n" #name ":\n\t" \
	    body "\n\t.popsection")

#define EXC_NONE (-1)

#endif
