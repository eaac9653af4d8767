/* SPDX-License-Identifier: MIT */
/* The PC devices of platform.md §2 and their state (kept together for snapshots). */
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

struct pic8259 {
	uint8_t irr, imr, isr, icw_step, icw[4], base, read_isr, elcr, lines;
	bool auto_eoi, special_mask, poll;
	uint8_t prio_add;
};

struct dev_state {
	struct uart com1;
	struct fwcfg fwcfg;
	struct testdev testdev;
	struct pic8259 pic[2];
	uint32_t pci_addr;
	char shutdown_buf[8];
	int shutdown_len;
	uint8_t port92;
	uint8_t port61;
};

void dev_uart_init(struct machine *m);
void dev_fwcfg_init(struct machine *m);
void dev_testdev_init(struct machine *m);
void dev_misc_init(struct machine *m);
void dev_pci_init(struct machine *m);
void dev_pic_init(struct machine *m);
/* 8259 interface for the interrupt router */
void pic_set_irq(struct machine *m, int irq, int level);
int pic_pending(struct machine *m);	/* vector to deliver via ExtINT, or -1 */
int pic_ack(struct machine *m);		/* INTA: vector */

/* called by machine.c */
void dev_eoi(struct machine *m, int vector);
void dev_pre_run(struct machine *m, int cpu);
bool dev_input_possible(struct machine *m);

#endif
