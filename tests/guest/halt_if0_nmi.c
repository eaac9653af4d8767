/*
 * HLT with IF = 0 wakes on an NMI (SDM Vol. 3A 6.7): the IOAPIC sends the
 * PIT's tick as an NMI (delivery mode 100b), so the halted CPU resumes after
 * the NMI handler returns.  MWAIT with ECX[0] = 1 and IF = 0 wakes on a
 * maskable interrupt (SDM Vol. 2B MWAIT, interrupt break-event), which is
 * then taken once IF = 1.  (halt_if0.c: with neither, the run ends with
 * status 3.)
 */
#include "libguest.h"

static volatile int nmis, ints;
static volatile uint64_t nmi_rip;

static void timer_handler(struct exc_frame *f)
{
	(void)f;
	ints++;
	*(volatile uint32_t *)0xfee000b0UL = 0;	/* EOI */
}

static void nmi_handler(struct exc_frame *f)
{
	nmis++;
	nmi_rip = f->rip;
}

int main(void)
{
	set_handler(2, nmi_handler);
	outb(0x21, 0xff);		/* PIC: everything masked */
	/* IOAPIC pin 2: NMI to APIC ID 0, edge, unmasked */
	*(volatile uint32_t *)0xfec00000UL = 0x15;
	*(volatile uint32_t *)0xfec00010UL = 0;
	*(volatile uint32_t *)0xfec00000UL = 0x14;
	*(volatile uint32_t *)0xfec00010UL = 0x400;
	/* PIT channel 0, mode 0 (one interrupt), 1 ms */
	outb(0x43, 0x30);
	outb(0x40, 0xa9);
	outb(0x40, 0x04);
	uint64_t t0 = rdtsc();
	extern char after_hlt[];
	asm volatile("cli; hlt\n.globl after_hlt\nafter_hlt:" ::: "memory");
	uint64_t t1 = rdtsc();
	report(nmis == 1, "one NMI woke the CPU (%d)", nmis);
	report(nmi_rip == (uint64_t)after_hlt, "the NMI frame's RIP is after the HLT (%#lx)",
	       (unsigned long)nmi_rip);
	report(t1 - t0 >= 900000 && t1 - t0 < 2000000,
	       "after the PIT's 1 ms, in virtual time (%lu ns)", (unsigned long)(t1 - t0));

	/* the same tick as a fixed interrupt (vector 0x40), MWAIT with the break-event */
	set_handler(0x40, timer_handler);
	*(volatile uint32_t *)0xfec00000UL = 0x14;
	*(volatile uint32_t *)0xfec00010UL = 0x40;
	static volatile uint64_t line[8] __attribute__((aligned(64)));
	asm volatile("monitor" :: "a"(line), "c"(0), "d"(0));
	outb(0x43, 0x30);
	outb(0x40, 0xa9);
	outb(0x40, 0x04);
	t0 = rdtsc();
	asm volatile("cli; mwait" :: "a"(0), "c"(1) : "memory");
	t1 = rdtsc();
	report(ints == 0 && t1 - t0 >= 900000 && t1 - t0 < 2000000,
	       "MWAIT(ECX[0] = 1) with IF = 0 woke at the PIT's tick (%lu ns), interrupt not yet taken",
	       (unsigned long)(t1 - t0));
	asm volatile("sti; nop; cli" ::: "memory");
	report(ints == 1, "taken after STI (%d)", ints);
	*(volatile uint32_t *)0xfec00000UL = 0x14;
	*(volatile uint32_t *)0xfec00010UL = 0x10000;
	return report_summary();
}
