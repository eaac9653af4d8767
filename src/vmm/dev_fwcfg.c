// SPDX-License-Identifier: MIT
/*
 * fw_cfg, legacy I/O interface: selector at 0x510 (16-bit), data at 0x511
 * (8-bit, sequential).  The keys of platform.md §2; little-endian values.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

enum {
	FW_SIGNATURE = 0x0000, FW_ID = 0x0001, FW_RAM_SIZE = 0x0003, FW_NB_CPUS = 0x0005,
	FW_MAX_CPUS = 0x000f, FW_HIGH_MEM = 0x0011,
};

static int item(struct machine *m, uint16_t key, uint8_t *buf)
{
	uint64_t v;
	switch (key) {
	case FW_SIGNATURE: memcpy(buf, "QEMU", 4); return 4;
	case FW_ID: v = 1; memcpy(buf, &v, 4); return 4;	/* traditional interface */
	case FW_RAM_SIZE: v = m->ram_size; memcpy(buf, &v, 8); return 8;
	case FW_NB_CPUS: v = (uint64_t)m->ncpus; memcpy(buf, &v, 2); return 2;
	case FW_MAX_CPUS: v = (uint64_t)m->cfg.max_cpus; memcpy(buf, &v, 2); return 2;
	case FW_HIGH_MEM:
		/* upper bound of RAM above 4 GiB, 0 = none */
		v = m->ram_size > m->low_ram ? 0x100000000ULL + (m->ram_size - m->low_ram) : 0;
		memcpy(buf, &v, 8);
		return 8;
	default: return 0;
	}
}

static uint32_t fw_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	struct fwcfg *f = &m->dev->fwcfg;
	uint32_t r = 0;
	if (port == 0x510)
		return 0xffffffff;
	for (int k = 0; k < size; k++) {
		uint8_t buf[16];
		int n = item(m, f->key, buf);
		uint8_t b = f->off < (uint32_t)n ? buf[f->off] : 0;
		f->off++;
		r |= (uint32_t)b << (8 * k);
	}
	return r;
}

static void fw_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	(void)size;
	if (port == 0x510) {
		m->dev->fwcfg.key = (uint16_t)v;
		m->dev->fwcfg.off = 0;
	}
}

/* snapshot section "dev:fwcfg" v1: selected key and read offset */
static void fw_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	(void)opaque;
	snap_put_u16(b, m->dev->fwcfg.key);
	snap_put_u32(b, m->dev->fwcfg.off);
}

static int fw_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		   char *err, size_t errlen)
{
	(void)opaque;
	(void)version;
	uint16_t key = snap_get_u16(in);
	uint32_t off = snap_get_u32(in);
	if (!snap_in_done(in)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	m->dev->fwcfg.key = key;
	m->dev->fwcfg.off = off;
	return 0;
}

void dev_fwcfg_init(struct machine *m)
{
	memset(&m->dev->fwcfg, 0, sizeof(m->dev->fwcfg));
	machine_register_pio(m, 0x510, 2, m, fw_read, fw_write);
	snapshot_register(m, "fwcfg", 1, m, fw_save, fw_load);
}
