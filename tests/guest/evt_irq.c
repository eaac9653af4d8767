/*
 * evt_irq: maskable interrupts and NMIs at instruction boundaries (spec
 * §1.5-1.7; T11, T13): STI shadow, NMI blocking until IRET with one NMI
 * latched, priority of a pending exception over interrupts, HLT wake-up.
 */
#include "util.h"

static volatile uint64_t irq_rip, irq_count, nmi_count, nmi_inside;

static void irq_handler(struct exc_frame *f)
{
	irq_count++;
	irq_rip = f->rip;
	apic_eoi();
}

static void nmi_handler(struct exc_frame *f)
{
	(void)f;
	nmi_count++;
	if (nmi_count == 1) {
		/* three more NMIs while this one is being handled */
		apic_self_nmi();
		apic_self_nmi();
		apic_self_nmi();
		for (volatile int k = 0; k < 100; k++)
			;
		nmi_inside = nmi_count;
	}
}

int main(void)
{
	apic_enable();
	set_handler(0x50, irq_handler);
	set_handler(2, nmi_handler);

	/* T11: an interrupt pending while IF = 0 is taken after the instruction
	 * following STI: saved RIP = the second NOP */
	uint64_t second;
	cli();
	apic_self_ipi(0x50);
	CHECK_EQ(irq_count, 0, "interrupt held while IF = 0");
	asm volatile("lea 2f(%%rip), %0\n\t"
		     "sti\n\t"
		     "nop\n\t"
		     "2: nop\n\t"
		     "cli" : "=&r"(second) :: "memory");
	CHECK_EQ(irq_count, 1, "T11: the interrupt is delivered after STI");
	CHECK_EQ(irq_rip, second, "T11: after the instruction that follows STI (second NOP)");

	/* STI when IF is already 1 creates no shadow */
	uint64_t first;
	asm volatile("sti" ::: "memory");
	cli();
	apic_self_ipi(0x50);
	asm volatile("lea 2f(%%rip), %0\n\t"
		     "sti\n\t"
		     "2: nop\n\t"
		     "nop\n\t"
		     "cli" : "=&r"(first) :: "memory");
	(void)first;
	CHECK_EQ(irq_count, 2, "second interrupt delivered");

	/* HLT with IF = 1 wakes on the interrupt; RIP after HLT */
	uint64_t after_hlt;
	apic_write(0x380, 0);
	apic_write(0x3e0, 0xb);			/* divide by 1 */
	apic_write(0x320, 0x50);		/* one-shot, vector 0x50 */
	apic_write(0x380, 5000);
	asm volatile("lea 2f(%%rip), %0\n\tsti\n\thlt\n2:\tcli" : "=&r"(after_hlt) :: "memory");
	CHECK_EQ(irq_count, 3, "HLT woken by the APIC timer interrupt");
	CHECK_EQ(irq_rip, after_hlt, "the interrupt returns after HLT");

	/* T13: NMI blocking until IRET; extra NMIs latch into one */
	nmi_count = 0;
	apic_self_nmi();
	for (volatile int k = 0; k < 100; k++)
		;
	CHECK_EQ(nmi_inside, 1, "T13: no NMI nests inside the NMI handler");
	CHECK_EQ(nmi_count, 2, "T13: exactly one more NMI after the handler's IRET");

	/* NMIs are not masked by IF */
	cli();
	nmi_count = 10;
	apic_self_nmi();
	asm volatile("nop");
	CHECK_EQ(nmi_count, 11, "NMI delivered with IF = 0");

	/* a faulting instruction: its exception comes before a pending interrupt */
	exc_clear();
	apic_self_ipi(0x50);
	uint64_t c0 = irq_count;
	asm volatile("sti\n\t" ASM_TRY("1f") "nop\n\tud2\n1:\tcli" ::: "memory");
	report(irq_count == c0 + 1, "pending interrupt taken after STI+1");
	CHECK_EQ(exc_last.vector, 6, "#UD still delivered");
	return report_summary();
}
