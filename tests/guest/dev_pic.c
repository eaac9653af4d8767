/*
 * The 8259A pair (datasheet) and the PIT's IRQ 0 through it: interrupts
 * reach vCPU 0 as ExtINT through LINT0 (virtual wire mode, as firmware
 * leaves it).  Long mode: ICW/OCW, IRR/ISR reads, masking, priorities and
 * rotation, specific EOI, the cascade, ELCR level mode, poll mode,
 * automatic EOI, LINT0 masking.  Real mode: IVT-vectored interrupts at the
 * BIOS vectors (0x08 master, 0x70 slave) - the PIT's periodic IRQ 0 with
 * its exact virtual times, a pc-testdev IRQ on each PIC.
 */
#include "smp.h"

#define RM_BASE 0x7000
#define PIT_HZ 1193182ULL

/* ---- long mode -------------------------------------------------------------------- */

static volatile int nirq, order[16];
static volatile uint8_t isr_m_seen, isr_s_seen;
static volatile int skip_eoi;

static void pic_init(uint8_t mbase, uint8_t sbase, uint8_t icw4)
{
	outb(0x20, 0x11);
	outb(0x21, mbase);
	outb(0x21, 0x04);
	outb(0x21, icw4);
	outb(0xa0, 0x11);
	outb(0xa1, sbase);
	outb(0xa1, 0x02);
	outb(0xa1, icw4);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

static uint8_t read_isr(uint16_t base)
{
	outb(base, 0x0b);
	uint8_t v = inb(base);
	outb(base, 0x0a);
	return v;
}

static uint8_t read_irr(uint16_t base)
{
	outb(base, 0x0a);
	return inb(base);
}

static void pic_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	int irq = vec - 0x20;
	if (nirq < 16)
		order[nirq] = irq;
	nirq++;
	isr_m_seen = read_isr(0x20);
	isr_s_seen = read_isr(0xa0);
	if (irq >= 8) {
		outb(0x2000 + irq, 0);		/* level source: drop the request */
		if (!skip_eoi)
			outb(0xa0, 0x20);
	}
	if (!skip_eoi)
		outb(0x20, 0x20);
}

static void line(int n, int v)
{
	outb((uint16_t)(0x2000 + n), (uint8_t)v);
}

static void clear(void)
{
	nirq = 0;
	for (int k = 0; k < 16; k++)
		order[k] = -1;
	isr_m_seen = isr_s_seen = 0;
}

static void test_long_mode(void)
{
	for (int v = 0x20; v < 0x30; v++)
		set_irq(v, pic_isr);
	pic_init(0x20, 0x28, 0x01);
	CHECK_EQ(inb(0x21), 0xff, "OCW1: master mask reads back");
	outb(0x21, 0xa5);
	CHECK_EQ(inb(0x21), 0xa5, "IMR read/write");
	outb(0x21, 0xff);

	/* an edge on IRQ 3 */
	clear();
	outb(0x21, 0xf7);
	sti();
	line(3, 1);
	line(3, 0);
	asm volatile("nop");
	cli();
	report(nirq == 1 && order[0] == 3, "IRQ 3 delivered as vector 0x23 (ExtINT through LINT0)");
	CHECK_EQ(isr_m_seen, 0x08, "ISR bit 3 set in the handler");
	CHECK_EQ(read_isr(0x20), 0, "non-specific EOI cleared it");

	/* masked: latched in IRR, delivered when unmasked */
	clear();
	outb(0x21, 0xff);
	line(3, 1);
	line(3, 0);
	CHECK_EQ(read_irr(0x20) & 0x08, 0x08, "masked IRQ 3 waits in IRR");
	sti();
	asm volatile("nop");
	report(nirq == 0, "masked: not delivered");
	outb(0x21, 0xf7);
	asm volatile("nop");
	cli();
	report(nirq == 1, "delivered when unmasked");

	/* priorities: IRQ 3 before IRQ 5 */
	clear();
	outb(0x21, 0xd7);
	line(5, 1);
	line(5, 0);
	line(3, 1);
	line(3, 0);
	sti();
	asm volatile("nop; nop");
	cli();
	report(nirq == 2 && order[0] == 3 && order[1] == 5, "fixed priority: IRQ 3, then IRQ 5 (%d: %d %d)", nirq, order[0], order[1]);

	/* an IRQ in service blocks lower ones until its EOI (specific EOI) */
	clear();
	skip_eoi = 1;
	sti();
	line(3, 1);
	line(3, 0);
	asm volatile("nop");
	line(5, 1);
	line(5, 0);
	asm volatile("nop");
	cli();
	report(nirq == 1 && order[0] == 3, "IRQ 5 waits while IRQ 3 is in service");
	skip_eoi = 0;
	sti();
	outb(0x20, 0x60 | 3);			/* specific EOI for IRQ 3 */
	asm volatile("nop");
	cli();
	report(nirq == 2 && order[1] == 5, "specific EOI of IRQ 3 lets IRQ 5 in");

	/* rotation: set priority (lowest = 3): IRQ 4 highest, so 5 before 3 */
	clear();
	outb(0x20, 0xc0 | 3);
	line(3, 1);
	line(3, 0);
	line(5, 1);
	line(5, 0);
	sti();
	asm volatile("nop; nop");
	cli();
	report(nirq == 2 && order[0] == 5 && order[1] == 3, "set priority command: IRQ 5 before IRQ 3");
	outb(0x20, 0xc0 | 7);			/* back to IRQ 0 highest */

	/* the cascade: IRQ 10 (level in the ELCR) through master IR2 */
	clear();
	outb(0x21, 0xfb);
	outb(0xa1, 0xfb);
	CHECK_EQ(inb(0x4d1) & 0x04, 0x04, "ELCR: IRQ 10 level-triggered");
	sti();
	line(10, 1);
	asm volatile("nop");
	cli();
	report(nirq == 1 && order[0] == 10, "slave IRQ 10 delivered as vector 0x2a");
	report(isr_m_seen == 0x04 && isr_s_seen == 0x04, "in service: master IR2 and slave IR2");
	/* level: held high, delivered again after EOI */
	clear();
	skip_eoi = 1;
	line(10, 1);
	outb(0x2000 + 10, 1);
	sti();
	asm volatile("nop");
	cli();
	skip_eoi = 0;
	CHECK_EQ(read_irr(0xa0) & 0x04, 0, "the handler dropped the level request");
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	outb(0xa1, 0xff);
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	CHECK_EQ(inb(0x4d0), 0xf8, "ELCR1: IRQ 0-2 are always edge");
	CHECK_EQ(inb(0x4d1), 0xde, "ELCR2: IRQ 8 and 13 are always edge");
	outb(0x4d0, 0x00);
	outb(0x4d1, 0x0e);

	/* level mode on the master: IRR follows the line */
	outb(0x4d0, 0x08);
	outb(0x21, 0xff);
	line(3, 1);
	CHECK_EQ(read_irr(0x20) & 0x08, 0x08, "level IRQ 3: IRR set while high");
	line(3, 0);
	CHECK_EQ(read_irr(0x20) & 0x08, 0, "level IRQ 3: IRR clears when the line drops");
	outb(0x4d0, 0x00);

	/* poll mode (with IF = 0: the CPU does not take it) */
	outb(0x21, 0xef);
	line(4, 1);
	line(4, 0);
	outb(0x20, 0x0c);
	CHECK_EQ(inb(0x20), 0x84, "poll: request on IRQ 4");
	CHECK_EQ(read_isr(0x20), 0x10, "poll acknowledged IRQ 4 (ISR set)");
	outb(0x20, 0x20);
	outb(0x20, 0x0c);
	CHECK_EQ(inb(0x20), 0x00, "poll: nothing pending");
	outb(0x21, 0xff);

	/* automatic EOI (ICW4 bit 1) */
	pic_init(0x20, 0x28, 0x03);
	clear();
	skip_eoi = 1;
	outb(0x21, 0xf7);
	sti();
	line(3, 1);
	line(3, 0);
	asm volatile("nop");
	cli();
	skip_eoi = 0;
	report(nirq == 1 && isr_m_seen == 0, "automatic EOI: nothing in service in the handler");

	/* LINT0 masked: the PIC cannot reach the CPU */
	pic_init(0x20, 0x28, 0x01);
	clear();
	outb(0x21, 0xf7);
	apic_write(APIC_LVT0, 0x18700);
	sti();
	line(3, 1);
	line(3, 0);
	asm volatile("nop");
	report(nirq == 0, "LINT0 masked: no ExtINT");
	apic_write(APIC_LVT0, 0x8700);
	asm volatile("nop");
	cli();
	report(nirq == 1, "LINT0 unmasked: delivered");
	outb(0x21, 0xff);
}

/* ---- real mode ---------------------------------------------------------------- */

#define NTICK 4
#define PIT_COUNT 1193

/* results of the real-mode part (in the blob's data area) */
struct rm_data {
	uint32_t ticks;
	uint32_t load_tsc_lo, load_tsc_hi;
	uint32_t tick_tsc[NTICK][2];
	uint16_t irq3_count, irq3_isr, irq10_count, irq10_isr_m, irq10_isr_s;
	uint16_t flags_in_handler;
} __attribute__((packed));

extern uint8_t rm_start[], rm_end[], rm_data_lbl[];
void rm_call(void);
uint64_t rm_saved_rsp;
struct { uint16_t lim; uint64_t base; } __attribute__((packed)) rm_saved_idt;

#define S(x) #x
#define XS(x) S(x)

asm(
	".pushsection .text\n"
	".code64\n"
	".globl rm_call\n"
	"rm_call:\n"
	"	pushq %rbx\n	pushq %rbp\n	pushq %r12\n	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	movq %rsp, rm_saved_rsp\n"
	"	sidt rm_saved_idt\n"
	"	pushq $" XS(SEL_KCODE32) "\n"
	"	pushq $(" XS(RM_BASE) " + rm_pm32 - rm_start)\n"
	"	lretq\n"
	"rm_return:\n"
	"	movw $" XS(SEL_KDATA) ", %ax\n"
	"	movw %ax, %ds\n	movw %ax, %es\n	movw %ax, %ss\n	movw %ax, %fs\n	movw %ax, %gs\n"
	"	movq rm_saved_rsp, %rsp\n"
	"	lidt rm_saved_idt\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n	popq %r12\n	popq %rbp\n	popq %rbx\n"
	"	ret\n"

	/* the blob copied to RM_BASE; A(x) is the run-time address of x */
	"	.balign 16\n"
	".globl rm_start, rm_end, rm_data_lbl\n"
	"rm_start:\n"
	".code32\n"
	"rm_pm32:\n"			/* compatibility mode: leave long mode */
	"	movl %cr0, %eax\n	andl $0x7fffffff, %eax\n	movl %eax, %cr0\n"
	"	movl $0xc0000080, %ecx\n	rdmsr\n	andl $~0x100, %eax\n	wrmsr\n"
	"	movw $" XS(SEL_DATA16) ", %ax\n"
	"	movw %ax, %ds\n	movw %ax, %es\n	movw %ax, %ss\n	movw %ax, %fs\n	movw %ax, %gs\n"
	"	ljmp $" XS(SEL_CODE16) ", $(" XS(RM_BASE) " + rm_pm16 - rm_start)\n"
	".code16\n"
	"rm_pm16:\n"
	"	movl %cr0, %eax\n	andl $~1, %eax\n	movl %eax, %cr0\n"
	"	ljmp $0, $(" XS(RM_BASE) " + rm_real - rm_start)\n"
	"rm_real:\n"
	"	xorw %ax, %ax\n	movw %ax, %ds\n	movw %ax, %es\n	movw %ax, %ss\n"
	"	movw $0x6ff0, %sp\n"
	"	lidt (" XS(RM_BASE) " + rm_ivtr - rm_start)\n"
	/* IVT entries: 0x08 IRQ 0, 0x0b IRQ 3, 0x72 IRQ 10 */
	"	movw $(" XS(RM_BASE) " + rm_irq0 - rm_start), 0x20\n	movw $0, 0x22\n"
	"	movw $(" XS(RM_BASE) " + rm_irq3 - rm_start), 0x2c\n	movw $0, 0x2e\n"
	"	movw $(" XS(RM_BASE) " + rm_irq10 - rm_start), 0x1c8\n	movw $0, 0x1ca\n"
	/* PIT channel 0, mode 2, count PIT_COUNT; the TSC of the last OUT is recorded */
	"	movb $0x34, %al\n	outb %al, $0x43\n"
	"	movb $(" XS(PIT_COUNT) " & 0xff), %al\n	outb %al, $0x40\n"
	"	movb $(" XS(PIT_COUNT) " >> 8), %bl\n"
	"	rdtsc\n"
	"	movl %eax, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 4)\n"
	"	movl %edx, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 8)\n"
	"	movb %bl, %al\n"
	"	outb %al, $0x40\n"
	"	movb $0xfe, %al\n	outb %al, $0x21\n"	/* unmask IRQ 0 */
	"1:	sti\n	hlt\n	cli\n"
	"	cmpl $" XS(NTICK) ", (" XS(RM_BASE) " + rm_data_lbl - rm_start)\n"
	"	jb 1b\n"
	"	movb $0xff, %al\n	outb %al, $0x21\n"
	"	movb $0x30, %al\n	outb %al, $0x43\n"	/* stop channel 0 */
	/* IRQ 3 from the test device */
	"	movb $0xf7, %al\n	outb %al, $0x21\n"
	"	sti\n"
	"	movw $0x2003, %dx\n	movb $1, %al\n	outb %al, %dx\n	movb $0, %al\n	outb %al, %dx\n"
	"	nop\n	cli\n"
	/* IRQ 10 through the cascade */
	"	movb $0xfb, %al\n	outb %al, $0x21\n	outb %al, $0xa1\n"
	"	sti\n"
	"	movw $0x200a, %dx\n	movb $1, %al\n	outb %al, %dx\n"
	"	nop\n	cli\n"
	"	movb $0xff, %al\n	outb %al, $0x21\n	outb %al, $0xa1\n"
	/* back: protected mode, long mode */
	"	lgdtl (" XS(RM_BASE) " + rm_gdtr - rm_start)\n"
	"	movl %cr0, %eax\n	orl $1, %eax\n	movl %eax, %cr0\n"
	"	ljmpl $" XS(SEL_KCODE32) ", $(" XS(RM_BASE) " + rm_back32 - rm_start)\n"

	"rm_irq0:\n"
	"	pushw %ax\n	pushw %dx\n	pushw %bx\n"
	"	rdtsc\n"
	"	movw (" XS(RM_BASE) " + rm_data_lbl - rm_start), %bx\n"
	"	shlw $3, %bx\n"
	"	movl %eax, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12)(%bx)\n"
	"	movl %edx, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 16)(%bx)\n"
	"	pushfw\n	popw %ax\n"
	"	movw %ax, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12 + 8 * " XS(NTICK) " + 10)\n"
	"	incl (" XS(RM_BASE) " + rm_data_lbl - rm_start)\n"
	"	movb $0x20, %al\n	outb %al, $0x20\n"
	"	popw %bx\n	popw %dx\n	popw %ax\n"
	"	iret\n"
	"rm_irq3:\n"
	"	pushw %ax\n"
	"	incw (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12 + 8 * " XS(NTICK) ")\n"
	"	movb $0x0b, %al\n	outb %al, $0x20\n	inb $0x20, %al\n	xorb %ah, %ah\n"
	"	movw %ax, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12 + 8 * " XS(NTICK) " + 2)\n"
	"	movb $0x20, %al\n	outb %al, $0x20\n"
	"	popw %ax\n"
	"	iret\n"
	"rm_irq10:\n"
	"	pushw %ax\n	pushw %dx\n"
	"	incw (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12 + 8 * " XS(NTICK) " + 4)\n"
	"	movb $0x0b, %al\n	outb %al, $0x20\n	inb $0x20, %al\n	xorb %ah, %ah\n"
	"	movw %ax, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12 + 8 * " XS(NTICK) " + 6)\n"
	"	movb $0x0b, %al\n	outb %al, $0xa0\n	inb $0xa0, %al\n	xorb %ah, %ah\n"
	"	movw %ax, (" XS(RM_BASE) " + rm_data_lbl - rm_start + 12 + 8 * " XS(NTICK) " + 8)\n"
	"	movw $0x200a, %dx\n	movb $0, %al\n	outb %al, %dx\n"
	"	movb $0x20, %al\n	outb %al, $0xa0\n	outb %al, $0x20\n"
	"	popw %dx\n	popw %ax\n"
	"	iret\n"

	".code32\n"
	"rm_back32:\n"
	"	movw $" XS(SEL_KDATA32) ", %ax\n	movw %ax, %ds\n	movw %ax, %es\n	movw %ax, %ss\n"
	"	movl $0xc0000080, %ecx\n	rdmsr\n	orl $0x100, %eax\n	wrmsr\n"
	"	movl %cr0, %eax\n	orl $0x80000000, %eax\n	movl %eax, %cr0\n"
	"	ljmp $" XS(SEL_KCODE64) ", $(" XS(RM_BASE) " + rm_back64 - rm_start)\n"
	".code64\n"
	"rm_back64:\n"
	"	movabsq $rm_return, %rax\n"
	"	jmp *%rax\n"
	"	.balign 8\n"
	"rm_ivtr:\n	.word 0x3ff\n	.long 0\n"
	"	.balign 8\n"
	".globl rm_gdtr\n"
	"rm_gdtr:\n	.word 0\n	.long 0\n"
	"	.balign 8\n"
	"rm_data_lbl:\n	.fill 64, 1, 0\n"
	"rm_end:\n"
	".popsection\n");

extern uint8_t rm_gdtr[];

static void test_real_mode(void)
{
	/* back to the BIOS layout: master 0x08, slave 0x70 */
	pic_init(0x08, 0x70, 0x01);
	uint8_t *blob = (uint8_t *)RM_BASE;
	memcpy(blob, rm_start, (size_t)(rm_end - rm_start));
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) g;
	asm volatile("sgdt %0" : "=m"(g));
	uint32_t b32 = (uint32_t)g.base;
	uint8_t *gd = blob + (rm_gdtr - rm_start);
	memcpy(gd, &g.lim, 2);
	memcpy(gd + 2, &b32, 4);
	struct rm_data *d = (struct rm_data *)(blob + (rm_data_lbl - rm_start));
	memset(d, 0, sizeof(*d));
	/* the IVT at 0 is ours for the duration */
	rm_call();
	report(d->ticks == NTICK, "real mode: %d PIT interrupts through the IVT (vector 0x08)", NTICK);
	/* rdtsc, two stores, a move, then the OUT that loads the count */
	uint64_t out = ((uint64_t)d->load_tsc_hi << 32 | d->load_tsc_lo) + 4;
	bool exact = true;
	for (int k = 0; k < NTICK; k++) {
		uint64_t t = ((uint64_t)d->tick_tsc[k][1] << 32 | d->tick_tsc[k][0]) - 3;
		/* the counter starts after the OUT; rising edge k at k * count input clocks */
		uint64_t want = out + 1 + ((uint64_t)(k + 1) * PIT_COUNT * 1000000000ULL + PIT_HZ - 1) / PIT_HZ;
		if (t != want)
			exact = false;
		printf("# tick %d at %llu (want %llu)\n", k, (unsigned long long)t, (unsigned long long)want);
	}
	report(exact, "IRQ 0 at load + ceil(k * %d / 1.193182 MHz) exactly", PIT_COUNT);
	CHECK_EQ(d->flags_in_handler & 0x200, 0, "IF clear in the real-mode handler");
	CHECK_EQ(d->irq3_count, 1, "real mode: IRQ 3 through vector 0x0b");
	CHECK_EQ(d->irq3_isr, 0x08, "ISR bit 3 in the handler");
	CHECK_EQ(d->irq10_count, 1, "real mode: IRQ 10 through the slave, vector 0x72");
	report(d->irq10_isr_m == 0x04 && d->irq10_isr_s == 0x04, "in service: master IR2, slave IR2");
}

int main(int argc, char **argv)
{
	test_long_mode();
	test_real_mode();
	return report_summary();
}
