/*
 * Hardware task switches (SDM Vol. 3A ch. 7): JMP and CALL to a TSS and to
 * a task gate, INT n and an exception (with error code) through task
 * gates, IRET with NT = 1, busy bits and back links, state saved in the old
 * TSS, CR0.TS, the T bit (#DB with DR6.BT in the new task), the checks on
 * the new TSS before the switch and on its segments after it (#TS, #NP,
 * #SS, #GP in the new task's context), CR3 switching with paging, and a
 * 16-bit TSS.
 */
#include "sys.h"

#define SEL_A SEL_X32_TSS	/* the task running call32 */
#define SEL_B 0x60		/* task B's TSS */
#define SEL_C 0x68		/* task C's TSS (the broken ones) */
#define SEL_GATE_B 0x70		/* task gate -> B */
#define SEL_B16 0x78		/* 16-bit TSS */
#define D_XO 0x80		/* execute-only code */
#define D_NP 0x88		/* data, not present */
#define D_RO 0x90		/* read-only data */
#define D_LIM 0x98		/* code, limit 0xfff */
#define D_C3 0xa0		/* code DPL 3 */
#define D_CNP 0xa8		/* code, not present */
#define D_W16 0xb0		/* 32-bit code, base = 64 KiB window of task_b16 */
#define D_S16 0xb8		/* 16-bit stack, base = stack16 */
#define D_LDT 0xc0		/* an LDT */

static struct tss32 tss_b __attribute__((aligned(128)));
static struct tss32 tss_c __attribute__((aligned(128)));
static struct tss16 tss_b16 __attribute__((aligned(64)));
static uint8_t stack_b[1024] __attribute__((aligned(16)));
static uint8_t stack16[1024] __attribute__((aligned(16)));
static uint64_t ldt[2];

struct far { uint32_t off; uint16_t sel; } __attribute__((packed));
struct far t_far;
uint32_t t_op;			/* 0 JMP, 1 CALL, 2 INT 0x40, 3 #GP, 4 CALL 16-bit task */
uint32_t t_mode;		/* B: 0 JMP back to A, 1 IRET, 2 IRET after fixing A's EIP */
uint32_t t_esi, t_tr, t_fl, t_dr6;
uint32_t b_tr, b_fl, b_cr0, b_cr3, b_esp, b_top, b_hit, b_alias, b_esi, b_ds;

/* task A (call32): switch as t_op says; record after coming back */
CODE32(t_run,
	"pushal\n\t"
	"movl $0x5a5a5a5a, %esi\n\t"
	"movl $0x600d600d, %ebx\n\t"
	X32_TRY("8f")
	"cmpl $1, t_op\n\t"
	"je 1f\n\t"
	"cmpl $2, t_op\n\t"
	"je 2f\n\t"
	"cmpl $3, t_op\n\t"
	"je 3f\n\t"
	"ljmp *t_far\n\t"
	"jmp 7f\n"
	"1:\tlcall *t_far\n\t"
	"jmp 7f\n"
	"2:\tint $0x40\n\t"
	"jmp 7f\n"
	"3:\tmovl $0x7f8, %eax\n\t"
	"movw %ax, %ds\n\t"		/* #GP(0x7f8) -> task gate */
	"ud2\n"
	".globl t_a_skip\n"
	"t_a_skip:\n"
	"7:\t" X32_END
	"8:\tmovl %esi, t_esi\n\t"
	"str %ax\n\t"
	"movzwl %ax, %eax\n\t"
	"movl %eax, t_tr\n\t"
	"pushfl\n\t"
	"popl t_fl\n\t"
	"movl %dr6, %eax\n\t"
	"movl %eax, t_dr6\n\t"
	"popal\n\t"
	"ret");
extern char t_a_skip[], b_after_jmp[];

/* task B */
CODE32(task_b,
	"str %ax\n\t"
	"movzwl %ax, %eax\n\t"
	"movl %eax, b_tr\n\t"
	"pushfl\n\t"
	"popl b_fl\n\t"
	"movl %cr0, %eax\n\t"
	"movl %eax, b_cr0\n\t"
	"movl %cr3, %eax\n\t"
	"movl %eax, b_cr3\n\t"
	"movl %esp, b_esp\n\t"
	"movl (%esp), %eax\n\t"
	"movl %eax, b_top\n\t"
	"movl %esi, b_esi\n\t"
	"movl %ds, %eax\n\t"
	"movl %eax, b_ds\n\t"
	"incl b_hit\n\t"
	"movl $0x1111, %esi\n\t"	/* A must get its own ESI back */
	"movl %cr0, %eax\n\t"
	"testl $0x80000000, %eax\n\t"
	"jz 1f\n\t"
	"movl 0x80000000, %eax\n\t"
	"movl %eax, b_alias\n"
	"1:\tcmpl $0, t_mode\n\t"
	"jne 2f\n\t"
	"ljmp $0x1e0, $0\n"		/* JMP back to A */
	".globl b_after_jmp\n"
	"b_after_jmp:\n"
	"2:\tcmpl $2, t_mode\n\t"
	"jne 3f\n\t"
	"movl $t_a_skip, x32_tss+32\n"	/* A resumes after the faulting MOV */
	"3:\tiretl\n\t"
	"jmp task_b");

/* 16-bit task: 32-bit code in a window segment, IP = offset */
CODE32(task_b16,
	"str %ax\n\t"
	"movzwl %ax, %eax\n\t"
	"movl %eax, b_tr\n\t"
	"pushfl\n\t"
	"popl b_fl\n\t"
	"movl %esp, b_esp\n\t"
	"incl b_hit\n\t"
	"movl $0x7777, %eax\n\t"
	"iretl\n\t"
	"jmp task_b16");

static void tss_init(struct tss32 *t, void *eip)
{
	memset(t, 0, sizeof(*t));
	t->eip = (uint32_t)(uintptr_t)eip;
	t->esp = (uint32_t)(uintptr_t)(stack_b + sizeof(stack_b));
	t->eflags = 2;
	t->cs = SEL_KCODE32;
	t->ss = t->ds = t->es = t->fs = t->gs = SEL_KDATA32;
	t->esi = 0xb0b0b0b0;
	t->cr3 = 0x12000;
	t->iomap = sizeof(*t);
}

static void descs(void)
{
	gdt_set(SEL_B, seg_desc((uint32_t)(uintptr_t)&tss_b, sizeof(tss_b) - 1, 0x89));
	gdt_set(SEL_C, seg_desc((uint32_t)(uintptr_t)&tss_c, sizeof(tss_c) - 1, 0x89));
	gdt_set(SEL_GATE_B, gate_desc(SEL_B, 0, 5, 0, 0));
	gdt_set(SEL_B16, seg_desc((uint32_t)(uintptr_t)&tss_b16, sizeof(tss_b16) - 1, 0x81));
	x32_restore_gate(13);
	x32_restore_gate(0x40);
	b_hit = 0;
	t_esi = t_tr = 0;
	b_tr = b_fl = 0;
}

static uint16_t busy(int sel)
{
	return (gdt_get(sel) >> 40) & 0xf;
}

static void run(uint32_t op, uint16_t sel)
{
	t_op = op;
	t_far.sel = sel;
	t_far.off = 0;
	call32(t_run, 0);
}

static void expect(int vec, uint32_t ec, const char *what)
{
	report(x32_exc.vector == vec && (vec < 0 || x32_exc.ec == ec),
	       "%s: vector %d ec %#x (got %d %#x)", what, vec, ec, x32_exc.vector, x32_exc.ec);
}

static void jmp_call(void)
{
	/* JMP to B, B JMPs back */
	descs();
	tss_init(&tss_b, task_b);
	t_mode = 0;
	run(0, SEL_B);
	expect(-1, 0, "JMP to a TSS and back");
	CHECK_EQ(b_hit, 1, "JMP: task B ran");
	CHECK_EQ(b_tr, SEL_B, "JMP: TR = B in task B");
	CHECK_EQ(b_fl & 0x4000, 0, "JMP: NT = 0 in task B");
	report(b_cr0 & 8, "task switch sets CR0.TS");
	CHECK_EQ(b_esi, 0xb0b0b0b0, "task B's registers from its TSS");
	CHECK_EQ(b_cr3, 0x12000, "CR3 loaded from the 32-bit TSS (paging off)");
	CHECK_EQ(t_tr, SEL_A, "JMP back: TR = A");
	CHECK_EQ(t_esi, 0x5a5a5a5a, "A's ESI saved in its TSS and restored");
	CHECK_EQ(x32_tss.ebx, 0x600d600d, "A's EBX stored in A's TSS");
	CHECK_EQ(tss_b.esi, 0x1111, "B's ESI saved when B switched away");
	CHECK_EQ(tss_b.eip, (uint32_t)(uintptr_t)b_after_jmp, "B's EIP saved after its JMP");
	CHECK_EQ(busy(SEL_B), 0x9, "JMP away from B: B available again");
	CHECK_EQ(busy(SEL_A), 0xb, "JMP back to A: A busy");
	CHECK_EQ(tss_b.link, 0, "JMP: no back link written");

	/* CALL to B, B IRETs */
	descs();
	tss_init(&tss_b, task_b);
	t_mode = 1;
	run(1, SEL_B);
	expect(-1, 0, "CALL to a TSS, IRET back");
	CHECK_EQ(b_fl & 0x4000, 0x4000, "CALL: NT = 1 in task B");
	CHECK_EQ(tss_b.link, SEL_A, "CALL: back link = A");
	CHECK_EQ(t_tr, SEL_A, "IRET: back in A");
	CHECK_EQ(t_esi, 0x5a5a5a5a, "IRET: A's ESI restored");
	CHECK_EQ(t_fl & 0x4000, 0, "IRET: A's NT = 0");
	CHECK_EQ(busy(SEL_B), 0x9, "IRET: B available");
	CHECK_EQ(busy(SEL_A), 0xb, "IRET: A still busy");
	CHECK_EQ(tss_b.eflags & 0x4000, 0, "IRET: NT cleared in B's saved EFLAGS");

	/* CALL through a task gate */
	descs();
	tss_init(&tss_b, task_b);
	run(1, SEL_GATE_B);
	expect(-1, 0, "CALL through a task gate");
	CHECK_EQ(b_tr, SEL_B, "task gate: TR = B");
	CHECK_EQ(b_hit, 1, "task gate: B ran");

	/* INT n through a task gate in the IDT */
	descs();
	tss_init(&tss_b, task_b);
	x32_set_gate(0x40, 0, SEL_B, 5, 0);
	run(2, 0);
	expect(-1, 0, "INT 0x40 through a task gate");
	CHECK_EQ(b_fl & 0x4000, 0x4000, "INT through a task gate: NT = 1");
	CHECK_EQ(tss_b.link, SEL_A, "INT through a task gate: back link");
	CHECK_EQ(b_esp, (uint32_t)(uintptr_t)(stack_b + sizeof(stack_b)), "INT n: nothing pushed");

	/* #GP through a task gate: error code on B's stack */
	descs();
	tss_init(&tss_b, task_b);
	t_mode = 2;
	x32_set_gate(13, 0, SEL_B, 5, 0);
	run(3, 0);
	CHECK_EQ(b_hit, 1, "#GP through a task gate: handler task ran");
	CHECK_EQ(b_top, 0x7f8, "#GP through a task gate: error code pushed");
	CHECK_EQ(b_esp, (uint32_t)(uintptr_t)(stack_b + sizeof(stack_b)) - 4,
		 "#GP through a task gate: 4-byte error code");
	CHECK_EQ(t_tr, SEL_A, "#GP task returns to A");
	CHECK_EQ(x32_exc.vector, -1, "... and A continued after the faulting instruction");
	x32_restore_gate(13);

	/* busy checks */
	descs();
	run(0, SEL_A);
	expect(13, SEL_A, "JMP to the busy current TSS: #GP(TSS)");
	descs();
	gdt_set(SEL_B, gdt_get(SEL_B) | (2ULL << 40));
	run(1, SEL_B);
	expect(13, SEL_B, "CALL to a busy TSS: #GP(TSS)");
	descs();
	gdt_set(SEL_B, gdt_get(SEL_B) | (2ULL << 40));
	run(1, SEL_GATE_B);
	expect(13, SEL_B, "task gate to a busy TSS: #GP(TSS)");
	descs();
	run(0, SEL_B | 4);
	expect(13, SEL_B | 4, "JMP to a TSS selector with TI = 1: #GP");
}

/* the T bit: #DB in the new task before its first instruction */
static void trap_bit(void)
{
	descs();
	tss_init(&tss_b, task_b);
	tss_b.trap = 1;
	t_mode = 0;
	run(0, SEL_B);
	report(x32_exc.vector == 1 && x32_exc.eip == (uint32_t)(uintptr_t)task_b,
	       "T bit: #DB at B's first instruction (vector %d eip %#x)", x32_exc.vector, x32_exc.eip);
	CHECK_EQ(b_hit, 0, "T bit: B did not run an instruction first");
	CHECK_EQ(t_dr6 & 0x8000, 0x8000, "T bit: DR6.BT");
	CHECK_EQ(t_tr, SEL_B, "T bit: #DB taken in task B");
	/* the same when the switch comes from an exception through a task gate */
	descs();
	tss_init(&tss_b, task_b);
	tss_b.trap = 1;
	x32_set_gate(13, 0, SEL_B, 5, 0);
	run(3, 0);
	report(x32_exc.vector == 1 && x32_exc.eip == (uint32_t)(uintptr_t)task_b && b_hit == 0,
	       "T bit, #GP through a task gate: #DB before the handler task's first instruction "
	       "(vector %d eip %#x hit %u)", x32_exc.vector, x32_exc.eip, b_hit);
	x32_restore_gate(13);
}

static const struct { const char *what; int field; uint16_t val; int vec; uint16_t ec; } bad[] = {
	{ "LDT selector to a data segment", 0, SEL_KDATA32, 10, SEL_KDATA32 },
	{ "LDT selector with TI = 1", 0, 0x0c, 10, 0x0c },
	{ "CS null", 1, 0, 10, 0 },
	{ "CS is data", 1, SEL_KDATA32, 10, SEL_KDATA32 },
	{ "CS not present", 1, D_CNP, 11, D_CNP },
	{ "CS RPL 0, DPL 3", 1, D_C3, 10, D_C3 },
	{ "SS read-only", 2, D_RO, 10, D_RO },
	{ "SS RPL 3 at CPL 0", 2, SEL_KDATA32 | 3, 10, SEL_KDATA32 },
	{ "SS not present", 2, D_NP, 12, D_NP },
	{ "SS null", 2, 0, 10, 0 },
	{ "DS execute-only", 3, D_XO, 10, D_XO },
	{ "DS not present", 3, D_NP, 11, D_NP },
	{ "GS beyond the GDT", 4, 0x7f8, 10, 0x7f8 },
};

/* checks on the new TSS (before the switch) and its contents (after) */
static void bad_tss(void)
{
	gdt_set(SEL_C, seg_desc((uint32_t)(uintptr_t)&tss_c, 0x66, 0x89));
	tss_init(&tss_c, task_b);
	run(0, SEL_C);
	expect(10, SEL_C, "TSS limit 0x66: #TS(TSS)");
	CHECK_EQ(t_tr, SEL_A, "... fault in the old task");
	descs();
	gdt_set(SEL_C, gdt_get(SEL_C) & ~(1ULL << 47));
	run(0, SEL_C);
	expect(11, SEL_C, "TSS not present: #NP(TSS)");

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		descs();
		tss_init(&tss_c, task_b);
		switch (bad[k].field) {
		case 0: tss_c.ldt = bad[k].val; break;
		case 1: tss_c.cs = bad[k].val; break;
		case 2: tss_c.ss = bad[k].val; break;
		case 3: tss_c.ds = bad[k].val; break;
		case 4: tss_c.gs = bad[k].val; break;
		}
			run(0, SEL_C);
			report(x32_exc.vector == bad[k].vec && x32_exc.ec == bad[k].ec &&
		       x32_exc.eip == (uint32_t)(uintptr_t)task_b && t_tr == SEL_C && b_hit == 0,
		       "%s: vector %d ec %#x in the new task (got %d %#x eip %#x tr %#x)",
		       bad[k].what, bad[k].vec, bad[k].ec, x32_exc.vector, x32_exc.ec, x32_exc.eip, t_tr);
	}
	/* EIP beyond the new CS limit: #GP(0) in the new task */
	descs();
	tss_init(&tss_c, task_b);
	tss_c.cs = D_LIM;
	run(0, SEL_C);
	report(x32_exc.vector == 13 && x32_exc.ec == 0 && t_tr == SEL_C,
	       "EIP beyond the new CS limit: #GP(0) in the new task");
	/* a valid LDT from the TSS */
	descs();
	tss_init(&tss_c, task_b);
	tss_c.ldt = D_LDT;
	tss_c.ds = 0x0c;
	ldt[1] = seg_desc(0, 0xfffff, 0xc092);
	t_mode = 0;
	run(0, SEL_C);
	expect(-1, 0, "TSS with an LDT, DS from the LDT");
	CHECK_EQ(b_ds, 0x0c, "DS selector from the LDT");
	CHECK_EQ((ldt[1] >> 40) & 1, 1, "task switch sets the accessed bit of a loaded descriptor");
}

/* CR3 from the TSS with paging on */
CODE32(t_paging_run,
	"movl 4(%esp), %eax\n\t"
	"movl %eax, %cr3\n\t"
	"movl %cr4, %eax\n\t"
	"andl $~0x20, %eax\n\t"
	"orl $0x10, %eax\n\t"		/* 32-bit paging with 4 MiB pages */
	"movl %eax, %cr4\n\t"
	"movl %cr0, %eax\n\t"
	"orl $0x80000000, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"call t_run\n\t"
	"movl 0x80000000, %eax\n\t"
	"movl %eax, t_alias_a\n\t"
	"movl %cr3, %eax\n\t"
	"movl %eax, t_cr3_a\n\t"
	"movl %cr0, %eax\n\t"
	"andl $0x7fffffff, %eax\n\t"
	"movl %eax, %cr0\n\t"
	"ret");
uint32_t t_alias_a, t_cr3_a;
static uint32_t pd_a[1024] __attribute__((aligned(4096)));
static uint32_t pd_b[1024] __attribute__((aligned(4096)));

static void cr3_switch(void)
{
	static uint32_t page_a[1024] __attribute__((aligned(4096 * 1024)));
	static uint32_t page_b[1024] __attribute__((aligned(4096 * 1024)));
	for (int k = 0; k < 1024; k++)
		pd_a[k] = pd_b[k] = (k << 22) | 0x83;
	pd_a[0x200] = (uint32_t)(uintptr_t)page_a | 0x83;
	pd_b[0x200] = (uint32_t)(uintptr_t)page_b | 0x83;
	page_a[0] = 0xaaaa;
	page_b[0] = 0xbbbb;
	descs();
	tss_init(&tss_b, task_b);
	tss_b.cr3 = (uint32_t)(uintptr_t)pd_b;
	x32_tss.cr3 = (uint32_t)(uintptr_t)pd_a;
	t_mode = 1;
	t_op = 1;
	t_far.sel = SEL_B;
	call32(t_paging_run, (uint32_t)(uintptr_t)pd_a);
	expect(-1, 0, "CALL to a task with its own CR3");
	CHECK_EQ(b_cr3, (uint32_t)(uintptr_t)pd_b, "task B runs with B's CR3");
	CHECK_EQ(b_alias, 0xbbbb, "task B sees its own mapping");
	CHECK_EQ(t_cr3_a, (uint32_t)(uintptr_t)pd_a, "IRET back: A's CR3 from A's TSS");
	CHECK_EQ(t_alias_a, 0xaaaa, "A sees its own mapping again");
	x32_tss.cr3 = 0;
}

/* a 16-bit TSS */
static void tss16(void)
{
	uint32_t code = (uint32_t)(uintptr_t)task_b16;
	descs();
	gdt_set(D_W16, seg_desc(code & ~0xffffu, 0xffff, 0x409b));
	gdt_set(D_S16, seg_desc((uint32_t)(uintptr_t)stack16, 0xffff, 0x0093));
	memset(&tss_b16, 0, sizeof(tss_b16));
	tss_b16.ip = code & 0xffff;
	tss_b16.flags = 2;
	tss_b16.cs = D_W16;
	tss_b16.ss = D_S16;
	tss_b16.sp = 0x200;
	tss_b16.ds = tss_b16.es = SEL_KDATA32;
	tss_b16.si = 0x1616;
	run(1, SEL_B16);
	expect(-1, 0, "CALL to a 16-bit TSS, IRET back");
	CHECK_EQ(b_hit, 1, "16-bit task ran");
	CHECK_EQ(b_tr, SEL_B16, "16-bit task: TR");
	CHECK_EQ(b_fl & 0x4000, 0x4000, "16-bit task: NT");
	CHECK_EQ(b_esp & 0xffff, 0x200, "16-bit task: SP from the TSS");
	CHECK_EQ(tss_b16.link, SEL_A, "16-bit TSS: back link");
	CHECK_EQ(tss_b16.ax, 0x7777, "16-bit TSS: AX saved at the IRET");
	CHECK_EQ(busy(SEL_B16), 0x1, "16-bit TSS available after IRET");
	CHECK_EQ(t_esi, 0x5a5a5a5a, "back in A with its registers");
}

int main(int argc, char **argv)
{
	gdt_set(D_XO, seg_desc(0, 0xfffff, 0xc099));
	gdt_set(D_NP, seg_desc(0, 0xfffff, 0xc013));
	gdt_set(D_RO, seg_desc(0, 0xfffff, 0xc091));
	gdt_set(D_LIM, seg_desc(0, 0xfff, 0x409b));
	gdt_set(D_C3, seg_desc(0, 0xfffff, 0xc0fb));
	gdt_set(D_CNP, seg_desc(0, 0xfffff, 0xc01b));
	gdt_set(D_LDT, seg_desc((uint32_t)(uintptr_t)ldt, sizeof(ldt) - 1, 0x82));
	ldt[1] = seg_desc(0, 0xfffff, 0xc093);
	jmp_call();
	trap_bit();
	bad_tss();
	cr3_switch();
	tss16();
	return report_summary();
}
