/*
 * Virtual-8086 mode (SDM Vol. 3B ch. 20): entry by IRET and by a task
 * switch, segment registers, IOPL-sensitive instructions trapping to the
 * monitor with #GP(0), the protected-mode interrupt frame from v86 (with
 * ES/DS/FS/GS pushed and cleared), I/O through the TSS bitmap, and the six
 * software-interrupt methods of table 20-2 (VME, IOPL, redirection bitmap),
 * virtual interrupt flags (VIF/VIP).
 */
#include "sys.h"

#define SEL_V86TSS 0x70
#define SEL_V86TASK 0x78
#define V86_CODE 0x10000	/* CS = 0x1000 */
#define V86_DATA 0x20000	/* DS = SS = 0x2000 */
#define RESUME 0x50		/* word: IP where the monitor resumes after a #GP */

#define F_IF 0x200u
#define F_IOPL 0x3000u
#define F_VM 0x20000u
#define F_VIF 0x80000u
#define F_VIP 0x100000u

/* results written by the v86 code at DS:0 */
struct vres {
	uint16_t cs, ds, ss, sp, es, fs, gs, pad0;
	uint32_t pushfl;
	uint16_t fl_cli, fl_sti, ax30, int3_done, io_val, pad1;
	uint16_t ax31, c_fl_cli, c_fl_sti, isr_ip, isr_cs, isr_fl, isr_sp, isr_fl_in;
	uint16_t e_ax, t_cs, t_ds, t_ss, t_sp, pad2;
	uint32_t t_eflags;
} __attribute__((packed));
#define VRES ((volatile struct vres *)(uintptr_t)V86_DATA)

#define OFF(l) "(" #l " - v86_blob)"
asm(".pushsection .text\n\t.code16\n\t.balign 16\n"
"v86_blob:\n"
/* phase A: IOPL = 3, no VME */
"vA:\n\t"
	"movw %cs, 0x00\n\t"
	"movw %ds, 0x02\n\t"
	"movw %ss, 0x04\n\t"
	"movw %sp, 0x06\n\t"
	"movw %es, 0x08\n\t"
	"movw %fs, 0x0a\n\t"
	"movw %gs, 0x0c\n\t"
	"pushfl\n\t"
	"popl 0x10\n\t"
	"cli\n\t"
	"pushfw\n\t"
	"popw 0x14\n\t"
	"sti\n\t"
	"pushfw\n\t"
	"popw 0x16\n\t"
	"cli\n\t"
	"movw $0x1111, %ax\n\t"
	"int $0x30\n"			/* to the protected-mode handler */
"vA30:\n\t"
	"movw %ax, 0x18\n\t"
	"int3\n"
"vA3:\n\t"
	"movw $1, 0x1a\n\t"
	"movb $0x5a, %al\n\t"
	"outb %al, $0xe0\n\t"		/* allowed by the I/O bitmap */
	"movb $0, %al\n\t"
	"inb $0xe0, %al\n\t"
	"movb %al, 0x1c\n\t"
	"movw $" OFF(vA1) ", 0x50\n\t"
	"inb $0x80, %al\n"		/* denied by the bitmap: #GP */
"vA1:\n\t"
	"movw $0, 0x50\n\t"
	"hlt\n"
/* phase B: IOPL = 0, no VME: each IOPL-sensitive instruction #GPs */
"vB:\n\t"
	"movw $" OFF(vB1) ", 0x50\n\t"
	"cli\n"
"vB1:\n\t"
	"movw $" OFF(vB2) ", 0x50\n\t"
	"sti\n"
"vB2:\n\t"
	"movw $" OFF(vB3) ", 0x50\n\t"
	"pushfw\n"
"vB3:\n\t"
	"movw $" OFF(vB4) ", 0x50\n\t"
	"popfw\n"
"vB4:\n\t"
	"movw $" OFF(vB5) ", 0x50\n\t"
	"int $0x30\n"
"vB5:\n\t"
	"movw $" OFF(vB6) ", 0x50\n\t"
	"iret\n"
"vB6:\n\t"
	"movw $0, 0x50\n\t"
	"int3\n\t"			/* not IOPL-sensitive */
	"movw $1, 0x1a\n\t"
	"hlt\n"
/* phase C: IOPL = 0, VME, VIF = 1 */
"vC:\n\t"
	"movw $0x2222, %ax\n\t"
	"int $0x31\n\t"			/* redirected to the 8086 IVT */
	"movw %ax, 0x20\n\t"
	"cli\n\t"
	"pushfw\n\t"
	"popw 0x22\n\t"
	"sti\n\t"
	"pushfw\n\t"
	"popw 0x24\n\t"
	"movw $" OFF(vC1) ", 0x50\n\t"
	"int $0x30\n"			/* bit set in the redirection map: #GP */
"vC1:\n\t"
	"movw $" OFF(vC2) ", 0x50\n\t"
	"pushfl\n"			/* 32-bit PUSHF with VME and IOPL < 3: #GP */
"vC2:\n\t"
	"movw $0, 0x50\n\t"
	"int3\n\t"			/* never redirected */
	"movw $1, 0x1a\n\t"
	"hlt\n"
/* the 8086 program's handler for INT 0x31 */
"isr31:\n\t"
	"movw %sp, %bp\n\t"
	"movw (%bp), %bx\n\t"
	"movw %bx, 0x26\n\t"
	"movw 2(%bp), %bx\n\t"
	"movw %bx, 0x28\n\t"
	"movw 4(%bp), %bx\n\t"
	"movw %bx, 0x2a\n\t"
	"movw %sp, 0x2c\n\t"
	"pushfw\n\t"
	"popw 0x2e\n\t"
	"movw $0x3131, %ax\n\t"
	"iret\n"
/* phase D: IOPL = 0, VME, VIP = 1: STI and POPF setting IF #GP */
"vD:\n\t"
	"movw $" OFF(vD1) ", 0x50\n\t"
	"sti\n"
"vD1:\n\t"
	"movw $" OFF(vD2) ", 0x50\n\t"
	"pushw $0x0202\n\t"
	"popfw\n"
"vD2:\n\t"
	"movw $0, 0x50\n\t"
	"hlt\n"
/* phase E: IOPL = 3, VME: redirection with the real IF */
"vE:\n\t"
	"sti\n\t"
	"movw $0x2222, %ax\n\t"
	"int $0x31\n\t"
	"movw %ax, 0x30\n\t"
	"cli\n\t"
	"movw $0, 0x50\n\t"
	"hlt\n"
/* phase T: a virtual-8086 task entered by a task switch */
"vT:\n\t"
	"movw %cs, 0x32\n\t"
	"movw %ds, 0x34\n\t"
	"movw %ss, 0x36\n\t"
	"movw %sp, 0x38\n\t"
	"pushfl\n\t"
	"popl 0x3c\n\t"
	"movw $0, 0x50\n\t"
	"hlt\n"
"v86_blob_end:\n\t"
	".code32\n"
/*
 * Monitor hook for #GP, #BP and INT 0x30: log the frame; INT 0x30 sets EAX
 * = 0x3030 in the frame; a #GP resumes at the IP in the RESUME word, or,
 * if it is 0, ends the excursion (back to p_v86's X32_TRY label).
 */
"v86_hook:\n\t"
	"movl 4(%esp), %ebp\n\t"
	"movl v86_n, %ebx\n\t"
	"cmpl $16, %ebx\n\t"
	"jae 1f\n\t"
	"movl %ebx, %ecx\n\t"
	"shll $6, %ecx\n\t"
	"movl $0, %esi\n"
"2:\tmovl 40(%ebp, %esi, 4), %eax\n\t"
	"movl %eax, v86_log(%ecx, %esi, 4)\n\t"
	"incl %esi\n\t"
	"cmpl $11, %esi\n\t"
	"jb 2b\n\t"
	"movl 36(%ebp), %eax\n\t"
	"movl %eax, v86_log+44(%ecx)\n\t"
	"movl 32(%ebp), %eax\n\t"
	"movl %eax, v86_log+48(%ecx)\n\t"
	"movl %fs, %eax\n\t"
	"movl %eax, v86_log+52(%ecx)\n\t"
	"movl %gs, %eax\n\t"
	"movl %eax, v86_log+56(%ecx)\n\t"
	"leal 48(%ebp), %eax\n\t"
	"movl %eax, v86_log+60(%ecx)\n\t"
	"incl v86_n\n"
"1:\tcmpl $0x30, 40(%ebp)\n\t"
	"jne 3f\n\t"
	"movl $0x3030, 28(%ebp)\n\t"
	"ret\n"
"3:\tcmpl $13, 40(%ebp)\n\t"
	"je 4f\n\t"
	"ret\n"
"4:\tmovzwl 0x20050, %eax\n\t"
	"testl %eax, %eax\n\t"
	"jz 5f\n\t"
	"movl %eax, 48(%ebp)\n\t"
	"movw $0, 0x20050\n\t"
	"ret\n"
"5:\tmovl x32_fixup, %ecx\n\t"
	"movl $0, x32_fixup\n\t"
	"movl $0x20, %eax\n\t"
	"movl %eax, %ss\n\t"
	"movl %eax, %ds\n\t"
	"movl %eax, %es\n\t"
	"movl %eax, %fs\n\t"
	"movl %eax, %gs\n\t"
	"movl x32_fixup_esp, %esp\n\t"
	"pushl $2\n\t"
	"popfl\n\t"
	"jmp *%ecx\n"
/* p_v86(struct v86_entry *): IRET into virtual-8086 mode */
"p_v86:\n\t"
	"pushal\n\t"
	"movl 36(%esp), %esi\n\t"
	"movl %cr4, %eax\n\t"
	"orl 36(%esi), %eax\n\t"
	"movl %eax, %cr4\n\t"
	"movw $0x70, %ax\n\t"
	"ltr %ax\n\t"
	X32_TRY("1f")
	"pushl 32(%esi)\n\t"
	"pushl 28(%esi)\n\t"
	"pushl 24(%esi)\n\t"
	"pushl 20(%esi)\n\t"
	"pushl 16(%esi)\n\t"
	"pushl 12(%esi)\n\t"
	"pushl 8(%esi)\n\t"
	"pushl 4(%esi)\n\t"
	"pushl 0(%esi)\n\t"
	"iretl\n"
"1:\tpopal\n\t"
	"ret\n"
/* p_v86_task: JMP to the virtual-8086 task's TSS */
"p_v86_task:\n\t"
	"pushal\n\t"
	"movw $0x70, %ax\n\t"
	"ltr %ax\n\t"
	X32_TRY("1f")
	"ljmp $0x78, $0\n"
"1:\tpopal\n\t"
	"ret\n\t"
	".code64\n\t"
	".popsection");
extern char v86_blob[], v86_blob_end[], v86_hook[], p_v86[], p_v86_task[];
extern char vA[], vA1[], vA30[], vA3[], vB[], vB1[], vB2[], vB3[], vB4[], vB5[], vB6[], vC[], vC1[], vC2[];
extern char vD[], vD1[], vD2[], vE[], vT[], isr31[];

struct vlog {
	uint32_t vec, ec, eip, cs, eflags, esp, ss, es, ds, fs, gs;
	uint32_t h_ds, h_es, h_fs, h_gs, frame;
};
struct vlog v86_log[16];
uint32_t v86_n;

struct v86_entry {
	uint32_t eip, cs, eflags, esp, ss, es, ds, fs, gs, cr4;
};

static struct {
	struct tss32 t;
	uint8_t redir[32];
	uint8_t io[8192];
	uint8_t end;
} __attribute__((packed, aligned(128))) vtss;
static struct tss32 task_tss __attribute__((aligned(128)));
static uint8_t stack0[4096] __attribute__((aligned(16)));
static uint8_t task_stack0[4096] __attribute__((aligned(16)));

#define IP(l) ((uint32_t)(l - v86_blob))

static void run_v86(char *entry, uint32_t eflags, uint32_t cr4)
{
	struct v86_entry e = {
		.eip = IP(entry), .cs = 0x1000, .eflags = eflags, .esp = 0xf000, .ss = 0x2000,
		.es = 0x2100, .ds = 0x2000, .fs = 0x2200, .gs = 0x2300, .cr4 = cr4,
	};
	memset((void *)(uintptr_t)V86_DATA, 0, 0x100);
	v86_n = 0;
	gdt_set(SEL_V86TSS, seg_desc((uint32_t)(uintptr_t)&vtss, sizeof(vtss) - 1, 0x89));
	call32(p_v86, (uint32_t)(uintptr_t)&e);
}

static bool logged(int k, uint32_t vec, uint32_t eip)
{
	return k < (int)v86_n && v86_log[k].vec == vec && v86_log[k].eip == eip;
}

static void setup(void)
{
	uintptr_t z = 0;
	asm("" : "+r"(z));
	volatile uint32_t *ivt = (volatile uint32_t *)z;

	memcpy((void *)(uintptr_t)V86_CODE, v86_blob, v86_blob_end - v86_blob);
	ivt[0x31] = (0x1000u << 16) | IP(isr31);
	memset(&vtss, 0, sizeof(vtss));
	vtss.t.esp0 = (uint32_t)(uintptr_t)(stack0 + sizeof(stack0));
	vtss.t.ss0 = SEL_KDATA32;
	vtss.t.iomap = offsetof(typeof(vtss), io);
	vtss.io[0x80 / 8] |= 1 << (0x80 & 7);
	vtss.end = 0xff;
	vtss.redir[0x30 / 8] |= 1 << (0x30 & 7);
	vtss.redir[0x03 / 8] &= ~(1 << 3);	/* INT3 must still not be redirected */
	for (int v = 3; v <= 13; v += 10)
		x32_handlers[v] = (uint32_t)(uintptr_t)v86_hook;
	x32_handlers[0x30] = (uint32_t)(uintptr_t)v86_hook;
	/* software interrupts from v86 need DPL 3 gates to CPL 0 code */
	x32_set_gate(3, (uint32_t)(uintptr_t)(x32_isr_table + 16 * 3), SEL_KCODE32, 0xe, 3);
	x32_set_gate(0x30, (uint32_t)(uintptr_t)(x32_isr_table + 16 * 0x30), SEL_KCODE32, 0xe, 3);
}

static void phase_a(void)
{
	volatile struct vres *r = VRES;
	run_v86(vA, F_VM | F_IOPL | 2, 0);
	CHECK_EQ(r->cs, 0x1000, "IRET to v86: CS");
	CHECK_EQ(r->ds, 0x2000, "IRET to v86: DS");
	CHECK_EQ(r->es, 0x2100, "IRET to v86: ES");
	CHECK_EQ(r->fs, 0x2200, "IRET to v86: FS");
	CHECK_EQ(r->gs, 0x2300, "IRET to v86: GS");
	CHECK_EQ(r->ss, 0x2000, "IRET to v86: SS");
	CHECK_EQ(r->sp, 0xf000, "IRET to v86: SP");
	CHECK_EQ(r->pushfl & (F_VM | 0x10000 | F_IOPL), F_IOPL, "PUSHFD image: IOPL 3, VM and RF clear");
	CHECK_EQ(r->fl_cli & F_IF, 0, "IOPL 3: CLI clears IF");
	CHECK_EQ(r->fl_sti & F_IF, F_IF, "IOPL 3: STI sets IF");
	CHECK_EQ(r->ax30, 0x3030, "IOPL 3: INT 0x30 ran the protected-mode handler and returned");
	report(logged(0, 0x30, IP(vA30)), "INT 0x30: frame EIP after the INT (vector %u)",
	       v86_log[0].vec);
	struct vlog *l = &v86_log[0];
	CHECK_EQ(l->cs, 0x1000, "v86 interrupt frame: CS");
	CHECK_EQ(l->eflags & (F_VM | F_IOPL), F_VM | F_IOPL, "v86 interrupt frame: EFLAGS.VM");
	CHECK_EQ(l->esp, 0xf000, "v86 interrupt frame: ESP");
	CHECK_EQ(l->ss, 0x2000, "v86 interrupt frame: SS");
	CHECK_EQ(l->es, 0x2100, "v86 interrupt frame: ES");
	CHECK_EQ(l->ds, 0x2000, "v86 interrupt frame: DS");
	CHECK_EQ(l->fs, 0x2200, "v86 interrupt frame: FS");
	CHECK_EQ(l->gs, 0x2300, "v86 interrupt frame: GS");
	CHECK_EQ(l->h_ds | l->h_es | l->h_fs | l->h_gs, 0, "handler entered with DS/ES/FS/GS = 0");
	CHECK_EQ(l->frame, (uint32_t)(uintptr_t)(stack0 + sizeof(stack0)) - 36,
		 "frame on the TSS ring-0 stack (9 dwords)");
	CHECK_EQ(r->int3_done, 1, "INT3 returned to v86");
	report(logged(1, 3, IP(vA3)), "INT3: protected-mode #BP handler, EIP after INT3");
	CHECK_EQ(r->io_val, 0x5a, "OUT/IN to a port allowed by the I/O bitmap");
	report(v86_n >= 3 && v86_log[2].vec == 13 && v86_log[2].ec == 0 &&
	       v86_log[2].eip == IP(vA1) - 2, "IN from a port denied by the bitmap: #GP(0)");
	report(v86_n == 4 && v86_log[3].vec == 13 && v86_log[3].eip == IP(vA1) + 6,
	       "HLT: #GP(0) (%u events)", v86_n);
	CHECK_EQ(v86_log[3].frame, (uint32_t)(uintptr_t)(stack0 + sizeof(stack0)) - 36,
		 "#GP frame: error code below the 9-dword v86 frame");
}

static void phase_b(void)
{
	run_v86(vB, F_VM | 2, 0);
	static const char *const what[] = { "CLI", "STI", "PUSHF", "POPF", "INT n", "IRET" };
	char *at[] = { vB1, vB2, vB3, vB4, vB5, vB6 };
	int len[] = { 1, 1, 1, 1, 2, 1 };
	for (int k = 0; k < 6; k++)
		report(logged(k, 13, IP(at[k]) - len[k]) && v86_log[k].ec == 0,
		       "IOPL 0: %s traps to the monitor with #GP(0)", what[k]);
	report(logged(6, 3, IP(vB6) + 7), "IOPL 0: INT3 is not IOPL-sensitive");
	CHECK_EQ(VRES->int3_done, 1, "IOPL 0: INT3 returned");
	CHECK_EQ(v86_n, 8, "IOPL 0: eight monitor entries");
}

static void phase_c(void)
{
	volatile struct vres *r = VRES;
	run_v86(vC, F_VM | F_VIF | 2, 1 /* CR4.VME */);
	CHECK_EQ(r->ax31, 0x3131, "VME, IOPL 0: INT 0x31 redirected to the 8086 handler");
	CHECK_EQ(r->isr_cs, 0x1000, "redirected frame: CS");
	CHECK_EQ(r->isr_ip, IP(vC) + 5, "redirected frame: IP after INT");
	CHECK_EQ(r->isr_sp, 0xf000 - 6, "redirected frame: three words on the v86 stack");
	CHECK_EQ(r->isr_fl & (F_IF | F_IOPL), F_IF | F_IOPL, "redirected frame: IF = VIF, IOPL = 3");
	CHECK_EQ(r->isr_fl_in & F_IF, 0, "handler: VIF cleared (PUSHF shows IF = 0)");
	CHECK_EQ(r->c_fl_cli & (F_IF | F_IOPL), F_IOPL, "VME: CLI clears VIF, PUSHF image IOPL 3");
	CHECK_EQ(r->c_fl_sti & F_IF, F_IF, "VME: STI sets VIF");
	report(logged(0, 13, IP(vC1) - 2) && v86_log[0].ec == 0 &&
	       (v86_log[0].eflags & F_VIF), "VME: INT n with its bit set in the map: #GP(0), VIF set");
	report(logged(1, 13, IP(vC2) - 2), "VME: 32-bit PUSHF: #GP(0)");
	report(logged(2, 3, IP(vC2) + 7), "VME: INT3 goes to the protected-mode handler");
	report(v86_n == 4 && v86_log[3].vec == 13, "VME: HLT ends (%u events)", v86_n);
}

static void phase_d(void)
{
	run_v86(vD, F_VM | F_VIP | 2, 1);
	report(logged(0, 13, IP(vD1) - 1), "VME, VIP = 1: STI #GP(0)");
	report(logged(1, 13, IP(vD2) - 1), "VME, VIP = 1: POPF setting IF #GP(0)");
	report(v86_n == 3 && (v86_log[0].eflags & (F_VIP | F_VIF)) == F_VIP,
	       "VME: VIF stays 0, VIP stays 1");
}

static void phase_e(void)
{
	volatile struct vres *r = VRES;
	run_v86(vE, F_VM | F_IOPL | 2, 1);
	CHECK_EQ(r->e_ax, 0x3131, "VME, IOPL 3: INT 0x31 redirected");
	CHECK_EQ(r->isr_fl & (F_IF | F_IOPL), F_IF | F_IOPL, "IOPL 3 redirection: image has the real IF");
	CHECK_EQ(r->isr_fl_in & F_IF, 0, "IOPL 3 redirection: IF cleared");
	CHECK_EQ(v86_n, 1, "IOPL 3 redirection: no monitor entry before HLT");
}

static void phase_t(void)
{
	volatile struct vres *r = VRES;
	memset((void *)(uintptr_t)V86_DATA, 0, 0x100);
	memset(&task_tss, 0, sizeof(task_tss));
	task_tss.eip = IP(vT);
	task_tss.eflags = F_VM | F_IOPL | 2;
	task_tss.cs = 0x1000;
	task_tss.ss = 0x2000;
	task_tss.esp = 0xe000;
	task_tss.ds = 0x2000;
	task_tss.es = task_tss.fs = task_tss.gs = 0x2000;
	task_tss.esp0 = (uint32_t)(uintptr_t)(task_stack0 + sizeof(task_stack0));
	task_tss.ss0 = SEL_KDATA32;
	task_tss.iomap = sizeof(task_tss);
	gdt_set(SEL_V86TASK, seg_desc((uint32_t)(uintptr_t)&task_tss, sizeof(task_tss) - 1, 0x89));
	gdt_set(SEL_V86TSS, seg_desc((uint32_t)(uintptr_t)&vtss, sizeof(vtss) - 1, 0x89));
	v86_n = 0;
	call32(p_v86_task, 0);
	CHECK_EQ(r->t_cs, 0x1000, "v86 task: CS from the TSS");
	CHECK_EQ(r->t_ds, 0x2000, "v86 task: DS");
	CHECK_EQ(r->t_ss, 0x2000, "v86 task: SS");
	CHECK_EQ(r->t_sp, 0xe000, "v86 task: SP");
	CHECK_EQ(r->t_eflags & (F_VM | F_IOPL | 0x4000), F_IOPL, "v86 task: PUSHFD image (IOPL 3, NT 0)");
	report(v86_n == 1 && v86_log[0].vec == 13 && (v86_log[0].eflags & F_VM) &&
	       v86_log[0].frame == (uint32_t)(uintptr_t)(task_stack0 + sizeof(task_stack0)) - 36,
	       "v86 task: HLT #GP(0) on the new task's ring-0 stack");
}

/* CR4.PVI: CLI/STI at CPL 3 with IOPL < 3 in protected mode act on VIF */
uint32_t pvi_fl[2];
CODE32(u_pvi,
	X32_TRY("1f")
	"cli\n\t"
	"pushfl\n\t"
	"popl pvi_fl\n\t"
	"sti\n\t"
	"pushfl\n\t"
	"popl pvi_fl+4\n\t"
	X32_END
	"1:\tret");
struct { uint32_t fn, arg; } pvi_args;
/* arg: CR4 bits to set, then ring 3 */
CODE32(p_pvi,
	"movl 4(%esp), %ecx\n\t"
	"movl %cr4, %eax\n\t"
	"orl %ecx, %eax\n\t"
	"movl %eax, %cr4\n\t"
	"pushl $pvi_args\n\t"
	"call x32_to_user\n\t"
	"addl $4, %esp\n\t"
	"ret");
extern char x32_user_back[];

static void pvi(void)
{
	x32_set_gate(0x82, (uint32_t)(uintptr_t)(x32_isr_table + 16 * 0x82), SEL_KCODE32, 0xe, 3);
	x32_handlers[0x82] = (uint32_t)(uintptr_t)x32_user_back;
	pvi_args.fn = (uint32_t)(uintptr_t)u_pvi;
	x32_restore_gate(13);
	x32_handlers[13] = 0;
	call32(p_pvi, 0);
	report(x32_exc.vector == 13 && x32_exc.ec == 0, "CPL 3, IOPL 0, no PVI: CLI #GP(0)");
	pvi_fl[0] = pvi_fl[1] = 0;
	call32(p_pvi, 2 /* CR4.PVI */);
	CHECK_EQ(x32_exc.vector, -1, "CR4.PVI: CLI and STI at CPL 3 do not fault");
	CHECK_EQ(pvi_fl[0] & (F_IF | F_VIF), 0, "PVI: CLI clears VIF (IF stays 0)");
	CHECK_EQ(pvi_fl[1] & (F_IF | F_VIF), F_VIF, "PVI: STI sets VIF, not IF");
}

int main(int argc, char **argv)
{
	setup();
	phase_a();
	phase_b();
	phase_c();
	phase_d();
	phase_e();
	phase_t();
	pvi();
	return report_summary();
}
