// SPDX-License-Identifier: MIT
/*
 * 16550A UART on COM1 (0x3f8-0x3ff).  Output goes to -serial (stdio, a
 * file, or nowhere) and is flushed before the process exits.  The
 * transmitter is always ready (LSR THRE|TEMT); there is no input yet.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

static uint32_t uart_read(void *opaque, uint16_t port, int size)
{
	struct uart *u = opaque;
	(void)size;
	switch (port & 7) {
	case 0:
		if (u->lcr & 0x80)
			return u->dll;
		return 0;
	case 1:
		if (u->lcr & 0x80)
			return u->dlm;
		return u->ier;
	case 2: {
		uint8_t iir = (u->fcr & 1) ? 0xc0 : 0;
		if ((u->ier & 2) && u->thre_pending) {
			u->thre_pending = false;
			return iir | 0x02;
		}
		return iir | 0x01;
	}
	case 3: return u->lcr;
	case 4: return u->mcr;
	case 5: return 0x60;		/* THR empty, transmitter empty, no data */
	case 6:
		if (u->mcr & 0x10)	/* loopback: MCR bits appear as MSR */
			return ((u->mcr & 0x0c) << 4) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3);
		return 0xb0;		/* DCD, DSR, CTS */
	default: return u->scr;
	}
}

static void uart_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct uart *u = opaque;
	(void)size;
	switch (port & 7) {
	case 0:
		if (u->lcr & 0x80) {
			u->dll = (uint8_t)v;
		} else {
			if (u->out && !(u->mcr & 0x10))
				fputc((int)(v & 0xff), u->out);
			u->thre_pending = true;
		}
		break;
	case 1:
		if (u->lcr & 0x80)
			u->dlm = (uint8_t)v;
		else
			u->ier = (uint8_t)(v & 0x0f);
		if (u->ier & 2)
			u->thre_pending = true;
		break;
	case 2: u->fcr = (uint8_t)v; break;
	case 3: u->lcr = (uint8_t)v; break;
	case 4: u->mcr = (uint8_t)(v & 0x1f); break;
	case 7: u->scr = (uint8_t)v; break;
	default: break;
	}
}

/* snapshot section "dev:uart" v1: the registers (not the output stream) */
static void uart_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct uart *u = opaque;
	const uint8_t r[11] = { u->ier, u->iir, u->lcr, u->mcr, u->lsr, u->msr, u->scr,
				u->dll, u->dlm, u->fcr, u->rbr };
	(void)m;
	snap_put_bytes(b, r, sizeof(r));
	snap_put_u8(b, u->thre_pending);
}

static int uart_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		     char *err, size_t errlen)
{
	struct uart *u = opaque;
	uint8_t r[11];
	(void)m;
	(void)version;
	snap_get_bytes(in, r, sizeof(r));
	bool thre = snap_get_bool(in);
	if (!snap_in_done(in)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	u->ier = r[0]; u->iir = r[1]; u->lcr = r[2]; u->mcr = r[3]; u->lsr = r[4];
	u->msr = r[5]; u->scr = r[6]; u->dll = r[7]; u->dlm = r[8]; u->fcr = r[9];
	u->rbr = r[10];
	u->thre_pending = thre;
	return 0;
}

void dev_uart_init(struct machine *m)
{
	struct uart *u = &m->dev->com1;
	FILE *out = u->out;
	memset(u, 0, sizeof(*u));
	u->out = out ? out : m->serial_out;
	machine_register_pio(m, 0x3f8, 8, u, uart_read, uart_write);
	snapshot_register(m, "uart", 1, u, uart_save, uart_load);
}
