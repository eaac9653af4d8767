// SPDX-License-Identifier: MIT
/*
 * Small platform ports: isa-debug-exit, the Bochs/APM shutdown port
 * 0x8900, the POST port 0x80, port 0x92 (fast A20 / reset), the keyboard
 * controller reset (0x64 <- 0xfe) and the reset control register 0xcf9.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

static uint32_t dbg_read(void *opaque, uint16_t port, int size)
{
	(void)opaque; (void)port; (void)size;
	return 0xffffffff;
}

static void dbg_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	(void)port;
	uint32_t code = size == 4 ? v : v & ((1u << (size * 8)) - 1);
	/* QEMU: exit status (code << 1) | 1 */
	machine_poweroff(m, (int)(((code << 1) | 1) & 0xff), NULL);
}

static void shutdown_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct dev_state *d = m->dev;
	static const char word[] = "Shutdown";
	(void)port;
	for (int k = 0; k < size; k++) {
		char ch = (char)(v >> (8 * k));
		if (ch == word[d->shutdown_len]) {
			d->shutdown_len++;
			if (d->shutdown_len == 8) {
				d->shutdown_len = 0;
				machine_poweroff(m, 0, NULL);
			}
		} else {
			d->shutdown_len = ch == word[0] ? 1 : 0;
		}
	}
}

static uint32_t misc_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	(void)size;
	switch (port) {
	case 0x92: return m->dev->port92 | 2;	/* A20 is always on */
	case 0x64: return 0x1c;			/* keyboard controller: idle */
	case 0xcf9: return 0;
	default: return 0xffffffff;
	}
}

static void misc_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	(void)size;
	switch (port) {
	case 0x92:
		m->dev->port92 = (uint8_t)(v & ~1u);
		if (v & 1)
			machine_request_reset(m);
		break;
	case 0x64:
		if ((v & 0xff) == 0xfe)
			machine_request_reset(m);
		break;
	case 0xcf9:
		if (v & 4)
			machine_request_reset(m);
		break;
	default:
		break;
	}
}

/* snapshot section "dev:misc" v2: shutdown-port progress, port 0x92 (0x61 is the PIT's) */
static void misc_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	(void)opaque;
	snap_put_u8(b, (uint8_t)m->dev->shutdown_len);
	snap_put_u8(b, m->dev->port92);
}

static int misc_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		     char *err, size_t errlen)
{
	(void)opaque;
	if (version != 2) {
		snprintf(err, errlen, "version %u is not supported", version);
		return -1;
	}
	uint8_t len = snap_get_u8(in), p92 = snap_get_u8(in);
	/* shutdown_len indexes "Shutdown": 0..7 */
	if (!snap_in_done(in) || len > 7 || (p92 & 1)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	m->dev->shutdown_len = len;
	m->dev->port92 = p92;
	return 0;
}

void dev_misc_init(struct machine *m)
{
	if (m->cfg.debug_exit)
		machine_register_pio(m, m->cfg.debug_exit_base, m->cfg.debug_exit_size, m,
				     dbg_read, dbg_write);
	machine_register_pio(m, 0x8900, 1, m, NULL, shutdown_write);
	machine_register_pio(m, 0x80, 1, m, NULL, NULL);
	machine_register_pio(m, 0x92, 1, m, misc_read, misc_write);
	machine_register_pio(m, 0x64, 1, m, misc_read, misc_write);
	machine_register_pio(m, 0xcf9, 1, m, misc_read, misc_write);
	snapshot_register(m, "misc", 2, m, misc_save, misc_load);
}
