/*
 * Walking the modes (SDM Vol. 3A 9.8, 9.9, 20.1): 64-bit -> compatibility
 * mode -> 32-bit protected mode (paging off, 32-bit paging with PSE,
 * PAE paging) -> 16-bit protected mode -> real-address mode (IVT software
 * interrupt and exceptions, IRET, limit faults) -> and back up.
 */
#include "sys.h"

#define SEL_RM16 0x60		/* 16-bit code, base 0x10000 */
#define SEL_RMDATA 0x68		/* 16-bit data, base 0x20000 */
#define RM_CODE 0x10000
#define RM_DATA 0x20000

/* results, relative to RM_DATA (DS in 16-bit PM and real mode) */
struct rm_res {
	uint16_t pm16_push, pm16_push32, pm16_cs;
	uint16_t rm_cs, rm_ds, rm_ax, rm_flags_after;
	uint16_t isr_ip, isr_cs, isr_flags, isr_sp, isr_flags_in;
	uint16_t f_vec[4], f_ip[4], f_cs[4], f_sp[4];
	uint16_t nf;
	uint16_t fixup;
	uint16_t big_ok;
	uint32_t cr0_real;
} __attribute__((packed));
#define RES ((volatile struct rm_res *)(uintptr_t)RM_DATA)

/*
 * The low-memory blob: entered at offset 0 in 16-bit protected mode (CS =
 * SEL_RM16), switches to real mode with CS = 0x1000, runs the checks and
 * goes back to 32-bit protected mode at rm_back32.
 */
#define OFF(l) "(" #l " - rm_blob)"
asm(".pushsection .text\n\t.code16\n\t.balign 16\n"
"rm_blob:\n\t"
	"movw $0x68, %ax\n\t"
	"movw %ax, %ds\n\t"
	"movw %ax, %es\n\t"
	"movw %ax, %ss\n\t"
	"movw $0xf000, %sp\n\t"
	/* 16-bit protected mode: operand size 16 by default */
	"movw %sp, %bx\n\t"
	"pushw %ax\n\t"
	"subw %sp, %bx\n\t"
	"movw %bx, 0\n\t"
	"popw %ax\n\t"
	"movw %sp, %bx\n\t"
	"pushl %eax\n\t"
	"subw %sp, %bx\n\t"
	"movw %bx, 2\n\t"
	"popl %eax\n\t"
	"movw %cs, 4\n\t"
	/* to real mode: PE off, then a far jump loads a real-mode CS */
	"movl %cr0, %eax\n\t"
	"andl $~1, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"ljmp $0x1000, $" OFF(rm_real) "\n"
"rm_real:\n\t"
	"movw $0x2000, %ax\n\t"
	"movw %ax, %ds\n\t"
	"movw %ax, %ss\n\t"
	"movw $0xf000, %sp\n\t"
	"lidt %cs:" OFF(rm_ivtd) "\n\t"
	"movw %cs, 6\n\t"
	"movw %ds, 8\n\t"
	"movl %cr0, %eax\n\t"
	"movl %eax, 62\n\t"
	/* INT 0x40 through the IVT; the handler sets CF in the FLAGS image */
	"movw $0x1234, %ax\n\t"
	"clc\n\t"
	"int $0x40\n"
"rm_after_int:\n\t"
	"movw %ax, 10\n\t"
	"pushfw\n\t"
	"popw 12\n\t"
	/* exceptions through the IVT (no error code): #UD, #GP on a limit */
	"movw $" OFF(rm_f1) ", 0x3a\n\t"
	"ud2\n"
"rm_f1:\n\t"
	"movw $" OFF(rm_f2) ", 0x3a\n\t"
	"movl $0x10000, %esi\n\t"
	"movw (%esi), %ax\n"		/* offset beyond the 64 KiB limit: #GP */
"rm_f2:\n\t"
	"movw $" OFF(rm_f3) ", 0x3a\n\t"
	"movl $0xffff, %esp\n\t"
	"movw %ss:(%esp), %ax\n"	/* word at 0xffff crosses the SS limit: #SS */
"rm_f3:\n\t"
	"movw $0xf000, %sp\n\t"
	/* INT n whose IVT entry is beyond the IDTR limit: #GP */
	"lidt %cs:" OFF(rm_ivtd_short) "\n\t"
	"movw $" OFF(rm_f4) ", 0x3a\n\t"
	"int $0x40\n"
"rm_f4:\n\t"
	"lidt %cs:" OFF(rm_ivtd) "\n\t"
	/* back to protected mode */
	"cli\n\t"
	"movl %cr0, %eax\n\t"
	"orl $1, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"ljmpl $0x18, $rm_back32\n"
/* INT 0x40 handler: record the frame, set CF in the image, AX = 0x4040 */
"rm_isr40:\n\t"
	"movw %sp, %bp\n\t"
	"movw (%bp), %bx\n\t"
	"movw %bx, 14\n\t"
	"movw 2(%bp), %bx\n\t"
	"movw %bx, 16\n\t"
	"movw 4(%bp), %bx\n\t"
	"movw %bx, 18\n\t"
	"movw %sp, 20\n\t"
	"pushfw\n\t"
	"popw 22\n\t"
	"orw $1, 4(%bp)\n\t"
	"movw $0x4040, %ax\n\t"
	"iret\n"
/* fault stubs: record vector, frame and SP; resume at the word at 0x3a */
"rm_fault6:\n\t"
	"pushw $6\n\t"
	"jmp rm_fault\n"
"rm_fault12:\n\t"
	"pushw $12\n\t"
	"jmp rm_fault\n"
"rm_fault13:\n\t"
	"pushw $13\n\t"
	"jmp rm_fault\n"
"rm_fault:\n\t"
	"movw %sp, %bp\n\t"
	"movw 0x38, %bx\n\t"
	"addw %bx, %bx\n\t"
	"movw (%bp), %ax\n\t"
	"movw %ax, 24(%bx)\n\t"
	"movw 2(%bp), %ax\n\t"
	"movw %ax, 32(%bx)\n\t"
	"movw 4(%bp), %ax\n\t"
	"movw %ax, 40(%bx)\n\t"
	"movw %sp, %ax\n\t"
	"addw $2, %ax\n\t"
	"movw %ax, 48(%bx)\n\t"
	"incw 0x38\n\t"
	"movw 0x3a, %ax\n\t"
	"movw %ax, 2(%bp)\n\t"
	"popw %ax\n\t"
	"iret\n"
"rm_ivtd:\n\t"
	".word 0x3ff\n\t"
	".long 0\n"
"rm_ivtd_short:\n\t"
	".word 0xff\n\t"
	".long 0\n"
"rm_blob_end:\n\t"
	".code32\n"
/* 32-bit side: enter the blob, come back, restore the 32-bit world */
"p_to_real:\n\t"
	"pushal\n\t"
	"movl %esp, rm_esp32\n\t"
	"ljmp $0x60, $0\n"
"rm_back32:\n\t"
	"movl $0x20, %eax\n\t"
	"movl %eax, %ds\n\t"
	"movl %eax, %es\n\t"
	"movl %eax, %ss\n\t"
	"movl %eax, %fs\n\t"
	"movl %eax, %gs\n\t"
	"movl rm_esp32, %esp\n\t"
	"lidt x32_idt_desc\n\t"
	"popal\n\t"
	"ret\n\t"
	".code64\n\t"
	".popsection");
extern char rm_blob[], rm_blob_end[], rm_isr40[], rm_fault6[], rm_fault12[], rm_fault13[];
extern char rm_after_int[], p_to_real[], rm_f1[], rm_f2[], rm_f3[], rm_f4[];
uint32_t rm_esp32;

/* 32-bit protected mode, paging off / on */
CODE32(p_state,
	"movl %cr0, %eax\n\t"
	"movl %eax, p_cr0\n\t"
	"movl $0xc0000080, %ecx\n\t"
	"rdmsr\n\t"
	"movl %eax, p_efer\n\t"
	"movl %cs, %eax\n\t"
	"movl %eax, p_cs\n\t"
	"movl $0x12345678, %eax\n\t"
	"decl %eax\n\t"
	"ret");
/* turn on paging (CR3 = arg, CR4 bits in p_cr4), read the alias, turn it off */
CODE32(p_paging,
	"movl 4(%esp), %eax\n\t"
	"movl %eax, %cr3\n\t"
	"movl %cr4, %eax\n\t"
	"andl $~0x30, %eax\n\t"
	"orl p_cr4, %eax\n\t"
	"movl %eax, %cr4\n\t"
	"movl %cr0, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"movl p_alias, %esi\n\t"
	"movl (%esi), %eax\n\t"
	"movl $0x55aa55aa, (%esi)\n\t"
	"movl %cr0, %ecx\n\t"
	"movl %ecx, p_cr0\n\t"
	"andl $0x7fffffff, %ecx\n\t"
	"movl %ecx, %cr0\n\t"
	"ret");
uint32_t p_cr0, p_efer, p_cs, p_cr4, p_alias;

static uint32_t pd32[1024] __attribute__((aligned(4096)));
static uint64_t pdpt_pae[4] __attribute__((aligned(32)));
static uint64_t pd_pae[4][512] __attribute__((aligned(4096)));
static volatile uint32_t target[1024] __attribute__((aligned(4096)));

static void pm32_checks(void)
{
	uint32_t r = call32(p_state, 0);
	CHECK_EQ(r, 0x12345677, "32-bit protected mode runs 32-bit code");
	CHECK_EQ(p_cr0 & 0x80000001u, 1, "32-bit protected mode: PE = 1, PG = 0");
	CHECK_EQ(p_efer & 0x500, 0, "32-bit protected mode: EFER.LME = LMA = 0");
	CHECK_EQ(p_cs, SEL_KCODE32, "32-bit protected mode: CS");

	/* 32-bit paging: identity 4 MiB pages, 0x80000000 -> target's 4 MiB page */
	uint32_t tpa = (uint32_t)(uintptr_t)target;
	for (int k = 0; k < 1024; k++)
		pd32[k] = (k << 22) | 0x83;
	pd32[0x200] = (tpa & 0xffc00000) | 0x83;
	p_cr4 = 0x10;	/* PSE */
	p_alias = 0x80000000 | (tpa & 0x3fffff);
	target[0] = 0xcafe;
	r = call32(p_paging, (uint32_t)(uintptr_t)pd32);
	CHECK_EQ(r, 0xcafe, "32-bit paging (PSE): read through the alias");
	CHECK_EQ(target[0], 0x55aa55aa, "32-bit paging: write through the alias");
	report((p_cr0 & 0x80000001u) == 0x80000001u, "32-bit paging: CR0.PG = 1");
	CHECK_EQ(pd32[0x200] & 0x60, 0x60, "32-bit paging: PDE accessed and dirty");

	/* PAE paging: 2 MiB identity pages, 0xc0000000 -> target's 2 MiB page */
	for (int d = 0; d < 4; d++) {
		pdpt_pae[d] = (uint64_t)(uintptr_t)pd_pae[d] | 1;
		for (int k = 0; k < 512; k++)
			pd_pae[d][k] = ((uint64_t)d << 30) | ((uint64_t)k << 21) | 0x83;
	}
	pd_pae[3][0] = (tpa & ~0x1fffffu) | 0x83;
	p_cr4 = 0x20;	/* PAE */
	p_alias = 0xc0000000 | (tpa & 0x1fffff);
	target[0] = 0xbeef;
	r = call32(p_paging, (uint32_t)(uintptr_t)pdpt_pae);
	CHECK_EQ(r, 0xbeef, "PAE paging: read through the alias");
	CHECK_EQ(target[0], 0x55aa55aa, "PAE paging: write through the alias");
	CHECK_EQ(pd_pae[3][0] & 0x60, 0x60, "PAE paging: PDE accessed and dirty");
}

static void real_checks(void)
{
	uintptr_t z = 0;
	asm("" : "+r"(z));
	volatile uint32_t *ivt = (volatile uint32_t *)z;
	uint32_t blob = (uint32_t)(rm_blob_end - rm_blob);

	memcpy((void *)(uintptr_t)RM_CODE, rm_blob, blob);
	memset((void *)(uintptr_t)RM_DATA, 0, 0x100);
	ivt[0x40] = (0x1000u << 16) | (uint32_t)(rm_isr40 - rm_blob);
	ivt[6] = (0x1000u << 16) | (uint32_t)(rm_fault6 - rm_blob);
	ivt[12] = (0x1000u << 16) | (uint32_t)(rm_fault12 - rm_blob);
	ivt[13] = (0x1000u << 16) | (uint32_t)(rm_fault13 - rm_blob);
	gdt_set(SEL_RM16, seg_desc(RM_CODE, 0xffff, 0x9b));
	gdt_set(SEL_RMDATA, seg_desc(RM_DATA, 0xffff, 0x93));

	call32(p_to_real, 0);
	report(x32_exc.vector == -1, "real-mode excursion: no protected-mode exception");
	volatile struct rm_res *res = RES;
	CHECK_EQ(res->pm16_push, 2, "16-bit protected mode: PUSH AX moves SP by 2");
	CHECK_EQ(res->pm16_push32, 4, "16-bit protected mode: PUSH EAX (66) moves SP by 4");
	CHECK_EQ(res->pm16_cs, SEL_RM16, "16-bit protected mode: CS");
	CHECK_EQ(res->rm_cs, 0x1000, "real mode: CS after the far jump");
	CHECK_EQ(res->rm_ds, 0x2000, "real mode: DS");
	CHECK_EQ(res->cr0_real & 0x80000001u, 0, "real mode: CR0.PE = 0");
	CHECK_EQ(res->rm_ax, 0x4040, "real mode: INT 0x40 ran the IVT handler");
	CHECK_EQ(res->isr_ip, (uint16_t)(rm_after_int - rm_blob), "IVT frame: IP after INT");
	CHECK_EQ(res->isr_cs, 0x1000, "IVT frame: CS");
	CHECK_EQ(res->isr_sp, 0xf000 - 6, "IVT frame: 6 bytes pushed");
	CHECK_EQ(res->isr_flags & 0x201, 0, "IVT frame: FLAGS image (IF = CF = 0)");
	CHECK_EQ(res->isr_flags_in & 0x300, 0, "handler runs with IF = TF = 0");
	CHECK_EQ(res->rm_flags_after & 1, 1, "IRET restored FLAGS from the image (CF = 1)");
	CHECK_EQ(res->nf, 4, "real mode: four exceptions");
	CHECK_EQ(res->f_vec[0], 6, "UD2 in real mode: vector 6");
	CHECK_EQ(res->f_ip[0], (uint16_t)(rm_f1 - rm_blob) - 2, "#UD frame: IP of UD2");
	CHECK_EQ(res->f_sp[0], 0xf000 - 6, "#UD frame: no error code pushed");
	CHECK_EQ(res->f_vec[1], 13, "offset beyond the DS limit: #GP");
	CHECK_EQ(res->f_ip[1], (uint16_t)(rm_f2 - rm_blob) - 3, "#GP frame: IP of the access");
	CHECK_EQ(res->f_cs[1], 0x1000, "#GP frame: CS");
	CHECK_EQ(res->f_vec[2], 12, "word at SS:0xffff: #SS");
	CHECK_EQ(res->f_vec[3], 13, "INT beyond the IDTR limit: #GP");
	CHECK_EQ(res->f_ip[3], (uint16_t)(rm_f4 - rm_blob) - 2, "#GP frame: IP of the INT");
	CHECK_EQ(read_cr0() & 0x80000001u, 0x80000001u, "back in long mode with paging");
}

int main(int argc, char **argv)
{
	CHECK_EQ(call_compat(p_state, 0), 0x12345677, "compatibility mode runs 32-bit code");
	CHECK_EQ(p_cs, SEL_KCODE32, "compatibility mode: CS");
	CHECK_EQ(p_efer & 0x500, 0x500, "compatibility mode: EFER.LMA = 1");
	pm32_checks();
	real_checks();
	return report_summary();
}
