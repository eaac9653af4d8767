// SPDX-License-Identifier: MIT
/*
 * 8254 programmable interval timer (Intel 8254 datasheet) at 0x40-0x43,
 * and port 0x61 (channel 2 gate, speaker, refresh toggle, OUT2).
 *
 * Time is virtual: the input clock runs at 1.193182 MHz of the machine's
 * virtual time, so tick n of a counter loaded at time T happens at
 * T + ceil(n * 10^9 / 1193182) ns and a count read at time t shows
 * floor((t - T) * 1193182 / 10^9) elapsed ticks.  Channel 0's OUT drives
 * ISA IRQ 0 (PIC IR0, IOAPIC pin 2): both edges of OUT0 happen at exact
 * virtual times through a machine timer.
 *
 * Like QEMU's PIT, a count written in modes 2 and 3 takes effect at once
 * (not at the end of the current period), and the first count is loaded
 * without the extra CLK pulse of the real part.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

#define PIT_HZ 1193182ULL
#define NS 1000000000ULL
#define REFRESH_NS 15085ULL	/* port 0x61 bit 4 toggles every ~15 us */

static struct pit *pit(struct machine *m)
{
	return &m->dev->pit;
}

static uint32_t bcd2bin16(uint16_t v)
{
	return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

static uint16_t bin2bcd16(uint32_t v)
{
	v %= 10000;
	return (uint16_t)((v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) | ((v / 1000) << 12));
}

/* the reload value in clocks */
static uint64_t reload(const struct pit_channel *c)
{
	if (c->bcd)
		return c->count ? bcd2bin16(c->count) : 10000;
	return c->count ? c->count : 65536;
}

static int mode(const struct pit_channel *c)
{
	return c->mode > 5 ? c->mode - 4 : c->mode;	/* 6, 7 = 2, 3 */
}

/* does a low gate stop the clock in this mode? */
static bool gate_pauses(const struct pit_channel *c)
{
	int md = mode(c);
	return md == 0 || md == 2 || md == 3 || md == 4;
}

/* clocks counted since the count was loaded */
static uint64_t elapsed(const struct pit_channel *c, uint64_t now)
{
	if (!c->counting)
		return 0;
	if (!c->gate && gate_pauses(c))
		return c->base_ticks;
	return c->base_ticks + dev_muldiv(now - c->load_ns, PIT_HZ, NS);
}

static uint64_t tick_time(const struct pit_channel *c, uint64_t d)
{
	/* the first ns at which `d` clocks have elapsed */
	uint64_t n = d - c->base_ticks;
	return c->load_ns + (uint64_t)(((unsigned __int128)n * NS + PIT_HZ - 1) / PIT_HZ);
}

static bool out_at(const struct pit_channel *c, uint64_t d)
{
	uint64_t r = reload(c);
	int md = mode(c);
	if (!c->counting)
		return md != 0;
	switch (md) {
	case 0: case 1:
		return d >= r;
	case 2:
		if (!c->gate)
			return true;
		if (r < 2)
			return true;
		return d % r != r - 1;
	case 3:
		if (!c->gate)
			return true;
		return d % r < (r + 1) / 2;
	default:		/* 4, 5: one clock low at terminal count */
		return d != r;
	}
}

static bool out_now(const struct pit_channel *c, uint64_t now)
{
	return out_at(c, elapsed(c, now));
}

/* the next clock count after d at which OUT changes, ~0 if never */
static uint64_t next_change(const struct pit_channel *c, uint64_t d)
{
	uint64_t r = reload(c);
	int md = mode(c);
	if (!c->counting || (!c->gate && gate_pauses(c)))
		return ~0ULL;
	switch (md) {
	case 0: case 1:
		return d < r ? r : ~0ULL;
	case 2: {
		if (r < 2)
			return ~0ULL;
		uint64_t p = d % r;
		return p < r - 1 ? d + (r - 1 - p) : d + 1;
	}
	case 3: {
		uint64_t p = d % r, hi = (r + 1) / 2;
		if (r < 2)
			return ~0ULL;
		return p < hi ? d + (hi - p) : d + (r - p);
	}
	default:
		if (d < r)
			return r;
		if (d == r)
			return r + 1;
		return ~0ULL;
	}
}

static uint16_t counter_value(const struct pit_channel *c, uint64_t now)
{
	uint64_t r = reload(c), d = elapsed(c, now);
	uint64_t v;
	if (!c->counting)
		return c->count;
	switch (mode(c)) {
	case 2:
		v = r - d % r;
		break;
	case 3:
		v = r - (2 * d) % r;
		break;
	default:
		/* modes 0, 1, 4, 5 keep counting down through zero */
		if (c->bcd)
			v = (r + 10000 - d % 10000) % 10000;
		else
			v = (r - d) & 0xffff;
		break;
	}
	return c->bcd ? bin2bcd16((uint32_t)v) : (uint16_t)v;
}

/* channel 0: put OUT on IRQ 0 and arm the timer for its next change */
static void update_irq(struct machine *m)
{
	struct pit *p = pit(m);
	struct pit_channel *c = &p->ch[0];
	uint64_t now = machine_now(m);
	uint64_t d = elapsed(c, now);
	bool out = out_at(c, d);
	if (out != c->out_irq) {
		c->out_irq = out;
		machine_set_irq(m, 0, out);
	}
	uint64_t n = next_change(c, d);
	machine_timer_mod(m, p->timer, n == ~0ULL ? ~0ULL : tick_time(c, n));
}

static void pit_timer(void *opaque, uint64_t now)
{
	(void)now;
	update_irq(opaque);
}

static void load_count(struct machine *m, int ch, uint16_t v)
{
	struct pit_channel *c = &pit(m)->ch[ch];
	uint64_t now = machine_now(m);
	c->count = v;
	c->counting = true;
	c->null_count = false;
	c->load_ns = now;
	c->base_ticks = 0;
	if (ch == 0)
		update_irq(m);
}

static void set_gate(struct machine *m, int ch, bool gate)
{
	struct pit_channel *c = &pit(m)->ch[ch];
	uint64_t now = machine_now(m);
	if (gate == c->gate)
		return;
	if (!gate) {
		/* falling edge: the count freezes (modes 0, 2, 3, 4) */
		c->base_ticks = elapsed(c, now);
		c->gate = false;
	} else {
		int md = mode(c);
		c->gate = true;
		if (md == 1 || md == 5 || md == 2 || md == 3)
			c->base_ticks = 0;	/* rising edge (re)starts the count */
		c->load_ns = now;
	}
	if (ch == 0)
		update_irq(m);
}

static void latch_count(struct machine *m, int ch)
{
	struct pit_channel *c = &pit(m)->ch[ch];
	if (c->latched)
		return;		/* a second latch before the read is ignored */
	c->latched = true;
	c->latch_hi = false;
	c->latch = counter_value(c, machine_now(m));
}

static void latch_status(struct machine *m, int ch)
{
	struct pit_channel *c = &pit(m)->ch[ch];
	if (c->status_latched)
		return;
	c->status_latched = true;
	c->status = (uint8_t)((out_now(c, machine_now(m)) ? 0x80 : 0) | (c->null_count ? 0x40 : 0) |
			      (c->rw << 4) | (c->mode << 1) | c->bcd);
}

static uint8_t byte_of(const struct pit_channel *c, uint16_t v, bool hi)
{
	switch (c->rw) {
	case 1: return (uint8_t)v;
	case 2: return (uint8_t)(v >> 8);
	default: return hi ? (uint8_t)(v >> 8) : (uint8_t)v;
	}
}

static uint32_t pit_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	(void)size;
	if (port == 0x43)
		return 0xff;	/* the control register cannot be read */
	struct pit_channel *c = &pit(m)->ch[port - 0x40];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latched) {
		uint8_t b = byte_of(c, c->latch, c->latch_hi);
		if (c->rw == 3 && !c->latch_hi)
			c->latch_hi = true;
		else
			c->latched = false;
		return b;
	}
	uint8_t b = byte_of(c, counter_value(c, machine_now(m)), c->read_hi);
	if (c->rw == 3)
		c->read_hi = !c->read_hi;
	return b;
}

static void control(struct machine *m, uint8_t v)
{
	int sc = v >> 6;
	if (sc == 3) {
		/* read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status */
		for (int ch = 0; ch < 3; ch++) {
			if (!(v & (2 << ch)))
				continue;
			if (!(v & 0x20))
				latch_count(m, ch);
			if (!(v & 0x10))
				latch_status(m, ch);
		}
		return;
	}
	struct pit_channel *c = &pit(m)->ch[sc];
	int rw = (v >> 4) & 3;
	if (!rw) {
		latch_count(m, sc);
		return;
	}
	/* a control word resets the counter's logic; OUT takes its initial state */
	c->rw = (uint8_t)rw;
	c->mode = (v >> 1) & 7;
	c->bcd = v & 1;
	c->counting = false;
	c->null_count = true;
	c->write_hi = false;
	c->read_hi = false;
	c->latched = false;
	c->status_latched = false;
	if (sc == 0)
		update_irq(m);
}

static void pit_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	(void)size;
	v &= 0xff;
	if (port == 0x43) {
		control(m, (uint8_t)v);
		return;
	}
	int ch = port - 0x40;
	struct pit_channel *c = &pit(m)->ch[ch];
	switch (c->rw) {
	case 1:
		load_count(m, ch, (uint16_t)v);
		break;
	case 2:
		load_count(m, ch, (uint16_t)(v << 8));
		break;
	case 3:
		if (!c->write_hi) {
			c->write_lo = (uint8_t)v;
			c->write_hi = true;
			if (mode(c) == 0) {
				/* mode 0: writing the first byte stops the count */
				c->counting = false;
				if (ch == 0)
					update_irq(m);
			}
		} else {
			c->write_hi = false;
			load_count(m, ch, (uint16_t)(c->write_lo | (v << 8)));
		}
		break;
	default:
		break;
	}
}

/* port 0x61 (system control port B, as on the PC/AT) */
static uint32_t port61_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	struct pit *p = pit(m);
	uint64_t now = machine_now(m);
	(void)port;
	(void)size;
	uint32_t v = p->port61 & 0x0f;
	if ((now / REFRESH_NS) & 1)
		v |= 0x10;
	if (out_now(&p->ch[2], now))
		v |= 0x20;
	return v;
}

static void port61_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	(void)port;
	(void)size;
	pit(m)->port61 = (uint8_t)(v & 0x0f);
	set_gate(m, 2, v & 1);
}

/* snapshot section "dev:pit" v1: three counters and port 0x61 */
static void pit_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct pit *p = pit(m);
	(void)opaque;
	for (int k = 0; k < 3; k++) {
		const struct pit_channel *c = &p->ch[k];
		snap_put_u16(b, c->count);
		snap_put_u8(b, c->mode);
		snap_put_u8(b, c->rw);
		snap_put_u8(b, c->bcd);
		snap_put_u8(b, c->write_lo);
		snap_put_u16(b, c->latch);
		snap_put_u8(b, c->status);
		snap_put_u64(b, c->load_ns);
		snap_put_u64(b, c->base_ticks);
		const bool f[9] = { c->gate, c->counting, c->null_count, c->write_hi, c->read_hi,
				    c->latched, c->latch_hi, c->status_latched, c->out_irq };
		for (int j = 0; j < 9; j++)
			snap_put_u8(b, f[j]);
	}
	snap_put_u8(b, p->port61);
}

static int pit_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		    char *err, size_t errlen)
{
	struct pit t = *pit(m);
	(void)opaque;
	(void)version;
	bool ok = true;
	for (int k = 0; k < 3; k++) {
		struct pit_channel *c = &t.ch[k];
		c->count = snap_get_u16(in);
		c->mode = snap_get_u8(in);
		c->rw = snap_get_u8(in);
		c->bcd = snap_get_u8(in);
		c->write_lo = snap_get_u8(in);
		c->latch = snap_get_u16(in);
		c->status = snap_get_u8(in);
		c->load_ns = snap_get_u64(in);
		c->base_ticks = snap_get_u64(in);
		c->gate = snap_get_bool(in);
		c->counting = snap_get_bool(in);
		c->null_count = snap_get_bool(in);
		c->write_hi = snap_get_bool(in);
		c->read_hi = snap_get_bool(in);
		c->latched = snap_get_bool(in);
		c->latch_hi = snap_get_bool(in);
		c->status_latched = snap_get_bool(in);
		c->out_irq = snap_get_bool(in);
		if (c->mode > 7 || c->rw < 1 || c->rw > 3 || c->bcd > 1)
			ok = false;
	}
	t.port61 = snap_get_u8(in);
	if (!snap_in_done(in) || !ok || (t.port61 & ~0x0f)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	*pit(m) = t;
	return 0;
}

/*
 * Reset: no channel counts until programmed, channel 2's gate is low.
 * (SeaBIOS leaves channel 0 running at 18.2 Hz with IRQ 0 masked; a
 * counter nobody can hear would only keep an idle machine alive, so it
 * starts stopped here.)
 */
void dev_pit_reset(struct machine *m)
{
	struct pit *p = pit(m);
	int t = p->timer;
	memset(p, 0, sizeof(*p));
	p->timer = t;
	for (int ch = 0; ch < 3; ch++) {
		p->ch[ch].gate = ch != 2;
		p->ch[ch].rw = 3;
		p->ch[ch].mode = 3;
	}
	/* OUT0 is high before the first control word (modes other than 0) */
	p->ch[0].out_irq = true;
	machine_timer_mod(m, t, ~0ULL);
}

void dev_pit_init(struct machine *m)
{
	pit(m)->timer = machine_timer_new(m, pit_timer, m);
	machine_register_pio(m, 0x40, 4, m, pit_read, pit_write);
	machine_register_pio(m, 0x61, 1, m, port61_read, port61_write);
	snapshot_register(m, "pit", 1, m, pit_save, pit_load);
	dev_pit_reset(m);
}
