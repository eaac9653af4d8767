// SPDX-License-Identifier: MIT
/*
 * pc-testdev: scratch registers at 0xe0-0xe3 and 0xe8-0xeb, the
 * flush-page port 0xe4, IRQ line ports 0x2000-0x2017 and 64 KiB of
 * scratch MMIO at 0xff000000 (platform.md §2).
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

static uint32_t td_read(void *opaque, uint16_t port, int size)
{
	struct testdev *t = opaque;
	int idx = port >= 0xe8 ? 1 : 0;
	int sh = (port & 3) * 8;
	if (port == 0xe4 || (port & ~3) == 0xe4)
		return 0xffffffff;
	uint32_t v = t->scratch[idx] >> sh;
	return size == 4 ? v : v & ((1u << (size * 8)) - 1);
}

static void td_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct testdev *t = opaque;
	if ((port & ~3) == 0xe4)
		return;	/* flush page: nothing is cached across guest accesses */
	int idx = port >= 0xe8 ? 1 : 0;
	int sh = (port & 3) * 8;
	uint32_t mask = size == 4 ? 0xffffffffu : ((1u << (size * 8)) - 1) << sh;
	t->scratch[idx] = (t->scratch[idx] & ~mask) | ((v << sh) & mask);
}

static uint32_t irq_read(void *opaque, uint16_t port, int size)
{
	(void)opaque; (void)port; (void)size;
	return 0;
}

static void irq_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	(void)size;
	machine_set_irq(m, port - 0x2000, v & 1);
}

static uint64_t mem_read(void *opaque, uint64_t off, int size)
{
	struct testdev *t = opaque;
	uint64_t v = 0;
	if (off + (uint64_t)size <= sizeof(t->mem))
		memcpy(&v, t->mem + off, (size_t)size);
	return v;
}

static void mem_write(void *opaque, uint64_t off, int size, uint64_t v)
{
	struct testdev *t = opaque;
	if (off + (uint64_t)size <= sizeof(t->mem))
		memcpy(t->mem + off, &v, (size_t)size);
}

/* snapshot section "dev:testdev" v1: scratch registers and scratch MMIO */
static void td_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct testdev *t = opaque;
	(void)m;
	snap_put_u32(b, t->scratch[0]);
	snap_put_u32(b, t->scratch[1]);
	snap_put_bytes(b, t->mem, sizeof(t->mem));
}

static int td_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		   char *err, size_t errlen)
{
	struct testdev *t = opaque;
	(void)m;
	(void)version;
	uint32_t s0 = snap_get_u32(in), s1 = snap_get_u32(in);
	if (in->len - in->pos != sizeof(t->mem) || in->bad) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	snap_get_bytes(in, t->mem, sizeof(t->mem));
	t->scratch[0] = s0;
	t->scratch[1] = s1;
	return 0;
}

void dev_testdev_init(struct machine *m)
{
	struct testdev *t = &m->dev->testdev;
	memset(t, 0, sizeof(*t));
	machine_register_pio(m, 0xe0, 0x0c, t, td_read, td_write);
	machine_register_pio(m, 0x2000, 0x18, m, irq_read, irq_write);
	machine_register_mmio(m, 0xff000000ULL, sizeof(t->mem), t, mem_read, mem_write);
	snapshot_register(m, "testdev", 1, t, td_save, td_load);
}
