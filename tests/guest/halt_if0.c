/*
 * HLT with IF = 0 while the PIT interrupts every millisecond (PIC and
 * IOAPIC both route it, but as a maskable interrupt): only an NMI or INIT
 * could wake the CPU (SDM Vol. 3A 6.7, Vol. 2A HLT), and nothing can send
 * one, so the machine is stuck for good.  nestvm ends the run at once with
 * status 3 and says why, rather than spinning through timer ticks forever.
 * (halt_if0_nmi.c: the same, with the IOAPIC sending the PIT's ticks as
 * NMIs, must wake up.)
 */
// nestvm-exit: 3
// nestvm-stderr: halted with interrupts disabled and nothing can send them an NMI or INIT
#include "libguest.h"

int main(void)
{
	/* PIT channel 0, mode 2, 1 ms; PIC: IRQ 0 unmasked */
	outb(0x43, 0x34);
	outb(0x40, 0xa9);
	outb(0x40, 0x04);
	outb(0x21, 0xfe);
	/* IOAPIC pin 2 (the PIT): fixed, vector 0x40, unmasked */
	*(volatile uint32_t *)0xfec00000UL = 0x14;
	*(volatile uint32_t *)0xfec00010UL = 0x40;
	printf("1..1\nok 1 - halting with IF = 0 and a periodic timer\n");
	asm volatile("cli; hlt" ::: "memory");
	printf("not ok - woke up\n");
	exit(1);
}
