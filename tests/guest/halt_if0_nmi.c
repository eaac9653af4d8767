/*
 * HLT with IF = 0 wakes on an NMI (SDM Vol. 3A 6.7): the IOAPIC sends the
 * PIT's ticks as NMIs (delivery mode 100b), so the halted CPU resumes after
 * the NMI handler returns.  (halt_if0.c: without an NMI source the run
 * ends with status 3.)
 */
#include "libguest.h"

static volatile int nmis;
static volatile uint64_t nmi_rip;

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
	*(volatile uint32_t *)0xfec00000UL = 0x14;
	*(volatile uint32_t *)0xfec00010UL = 0x10000;
	return report_summary();
}
