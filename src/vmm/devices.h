/* SPDX-License-Identifier: MIT */
/*
 * The PC devices of platform.md §2 and their state.  All device state is
 * plain data in struct dev_state (no pointers except the serial FILE), so
 * a snapshot is a copy of it plus the machine timers' deadlines.
 */
#ifndef NV_DEVICES_H
#define NV_DEVICES_H

#include "machine.h"

struct uart {
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	uint8_t rbr;
	bool thre_pending;
	FILE *out;
};

struct fwcfg {
	uint16_t key;
	uint32_t off;
};

struct testdev {
	uint32_t scratch[2];
	uint8_t mem[65536];
};

/* one 8259A (dev_pic.c) */
struct pic8259 {
	uint8_t irr;		/* interrupt request register */
	uint8_t imr;		/* mask */
	uint8_t isr;		/* in service */
	uint8_t lines;		/* input levels (edge detection) */
	uint8_t elcr;		/* level-triggered inputs (ELCR, 0x4d0/0x4d1) */
	uint8_t elcr_mask;	/* ELCR bits that exist */
	uint8_t base;		/* ICW2 vector base */
	uint8_t icw1, icw3, icw4;
	uint8_t init_step;	/* 0 = operational, 2..4 = next ICW expected */
	uint8_t prio;		/* IRQ with the highest priority (rotation) */
	bool read_isr;		/* OCW3 RR/RIS: port 0x20 reads ISR */
	bool poll;		/* OCW3 P: next read of port 0x20 polls */
	bool special_mask;	/* OCW3 SMM */
	bool rotate_aeoi;	/* OCW2 rotate in automatic EOI mode */
};

#define IOAPIC_PINS 24

struct ioapic {
	uint32_t id;		/* bits 27:24 */
	uint8_t sel;		/* IOREGSEL */
	uint64_t redir[IOAPIC_PINS];
	uint32_t lines;		/* input levels */
	uint32_t irr;		/* latched edges / asserted levels to deliver */
};

struct pit_channel {
	uint16_t count;		/* reload value as written (0 = 65536, BCD 0 = 10000) */
	uint8_t mode, rw, bcd;	/* control word fields */
	bool gate;
	bool counting;		/* a count was loaded (and, for modes 1/5, triggered) */
	bool null_count;	/* status bit 6: count written, not yet in the counter */
	uint64_t load_ns;	/* virtual time the counter (re)started */
	uint64_t base_ticks;	/* input clocks consumed before load_ns (gate pause) */
	bool write_hi;		/* lo/hi write sequence: next byte is the high byte */
	uint8_t write_lo;
	bool read_hi;		/* lo/hi read sequence */
	bool latched;		/* counter latch */
	uint16_t latch;
	bool latch_hi;
	bool status_latched;
	uint8_t status;
	bool out_irq;		/* last output level sent to the IRQ line (channel 0) */
};

struct pit {
	struct pit_channel ch[3];
	uint8_t port61;		/* bits 0-3 as written */
	int timer;
};

struct rtc {
	uint8_t index;
	bool nmi_disabled;
	uint8_t cmos[128];
	int64_t base_ns;	/* virtual time of a second boundary (may be < 0) */
	int64_t base_sec;	/* RTC time (seconds since 1970) at base_ns */
	int64_t flags_ns;	/* register C holds the events up to this time */
	uint8_t regc;		/* IRQF/PF/AF/UF latched (events before flags_ns) */
	bool irq;		/* IRQ 8 line level */
	int timer;
};

struct acpi_pm {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint64_t tmr_sts_ns;	/* TMR_STS covers carries of bit 23 after this time */
	bool sci;		/* SCI line level */
	int timer;
};

/* one PCI function (dev_pci.c) */
struct pci_fn {
	bool present;
	uint8_t cfg[256];
	uint8_t wmask[256];	/* writable bits */
	uint32_t bar_size[6];	/* 0 = no BAR */
	bool bar_io[6];
};

#define PCI_NFN 4	/* 00:00.0, 00:01.0, 00:01.3, 00:02.0 */

struct pci_testdev_state {
	int current;		/* selected test (0..5), -1 none */
	uint32_t count[6];
};

struct pci {
	uint32_t addr;		/* 0xcf8 */
	struct pci_fn fn[PCI_NFN];
	struct pci_testdev_state td;
};

struct dev_state {
	struct uart com1;
	struct fwcfg fwcfg;
	struct testdev testdev;
	struct pic8259 pic[2];
	struct ioapic ioapic;
	struct pit pit;
	struct rtc rtc;
	struct acpi_pm pm;
	struct pci pci;
	char shutdown_buf[8];
	int shutdown_len;
	uint8_t port92;
	uint32_t isa_lines;	/* level of each ISA IRQ / GSI line, as driven */
};

void dev_uart_init(struct machine *m);
void dev_fwcfg_init(struct machine *m);
void dev_testdev_init(struct machine *m);
void dev_misc_init(struct machine *m);
void dev_pci_init(struct machine *m);
void dev_pci_reset(struct machine *m);
void dev_pci_init_bars(struct machine *m);
void dev_pic_init(struct machine *m);
void dev_pic_reset(struct machine *m);
void dev_ioapic_init(struct machine *m);
void dev_ioapic_reset(struct machine *m);
void dev_pit_init(struct machine *m);
void dev_pit_reset(struct machine *m);
void dev_rtc_init(struct machine *m);
void dev_rtc_reset(struct machine *m);
void dev_acpi_init(struct machine *m);
void dev_acpi_reset(struct machine *m);

/* 8259 interface for the interrupt router */
void pic_set_irq(struct machine *m, int irq, int level);
bool pic_output(struct machine *m);	/* INT to the CPU */
int pic_ack(struct machine *m);		/* INTA: the vector */

/* IOAPIC */
void ioapic_set_irq(struct machine *m, int pin, int level);
void ioapic_eoi(struct machine *m, int vector);

/* ACPI: where the tables are (for tests and the loader) */
#define ACPI_RSDP_ADDR 0xf0000u
#define ACPI_AREA_END 0xfe000u	/* the Multiboot loader's GDT lives here */

/* the PM timer: 3.579545 MHz */
#define PM_TIMER_HZ 3579545ULL
#define PM_BASE 0x600

/* called by machine.c */
void dev_eoi(struct machine *m, int vector);
void dev_pre_run(struct machine *m, int cpu);
bool dev_input_possible(struct machine *m);
bool ioapic_may_send_nmi_init(struct machine *m);

/* helpers */
uint64_t dev_muldiv(uint64_t a, uint64_t mul, uint64_t div);	/* floor(a*mul/div) */

#endif
