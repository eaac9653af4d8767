/*
 * 8254 PIT (datasheet) and port 0x61 on virtual time: counter values,
 * latch and read-back, status bytes, access modes, BCD, channel 2's gate
 * and OUT2, modes 0, 2 and 3, the refresh toggle, and IRQ 0 (through the
 * IOAPIC, pin 2) at exact virtual times.
 *
 * Timing model: an OUT takes effect at the end of its instruction (TSC of
 * the OUT + 1), an IN samples at its own TSC; the input clock is
 * 1.193182 MHz, so d clocks have elapsed after ceil(d * 10^9 / 1193182) ns.
 */
#include "smp.h"

#define HZ 1193182ULL
#define NS 1000000000ULL
#define IOAPIC 0xfec00000UL
#define VEC 0x90

/* OUT; returns the TSC of the OUT instruction */
static uint64_t out_at(uint16_t port, uint8_t v)
{
	uint32_t lo, hi;
	asm volatile("rdtsc\n\t"
		     "movl %%eax, %0\n\t"
		     "movl %%edx, %1\n\t"
		     "movl %k2, %%eax\n\t"
		     "movl %k3, %%edx\n\t"
		     "outb %%al, %%dx"
		     : "=&r"(lo), "=&r"(hi)
		     : "r"((uint32_t)v), "r"((uint32_t)port)
		     : "rax", "rdx", "memory");
	return (((uint64_t)hi << 32) | lo) + 5;
}

/* IN; *t = the TSC of the IN instruction */
static uint8_t in_at(uint16_t port, uint64_t *t)
{
	uint32_t lo, hi, v;
	asm volatile("rdtsc\n\t"
		     "movl %%eax, %0\n\t"
		     "movl %%edx, %1\n\t"
		     "movl %k3, %%edx\n\t"
		     "inb %%dx, %%al\n\t"
		     "movzbl %%al, %2"
		     : "=&r"(lo), "=&r"(hi), "=&r"(v)
		     : "r"((uint32_t)port)
		     : "rax", "rdx", "memory");
	*t = (((uint64_t)hi << 32) | lo) + 4;
	return (uint8_t)v;
}

/* input clocks elapsed between a load at `load` (the OUT's TSC) and time t */
static uint64_t clocks(uint64_t load, uint64_t t)
{
	uint64_t start = load + 1;
	return t < start ? 0 : (t - start) * HZ / NS;
}

static uint64_t edge_ns(uint64_t load, uint64_t d)
{
	return load + 1 + (d * NS + HZ - 1) / HZ;
}

static void spin(uint64_t ticks)
{
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < ticks)
		;
}

static uint16_t latch_read(int ch, uint64_t *t)
{
	*t = out_at(0x43, (uint8_t)(ch << 6)) + 1;
	uint8_t lo = inb((uint16_t)(0x40 + ch));
	uint8_t hi = inb((uint16_t)(0x40 + ch));
	return (uint16_t)(lo | (hi << 8));
}

static void test_counting(void)
{
	outb(0x61, 0x01);		/* channel 2 gate on, speaker off */
	outb(0x43, 0xb0);		/* ch 2, lo/hi, mode 0, binary */
	outb(0x43, 0xe8);		/* read-back: status of channel 2 */
	uint8_t st = inb(0x42);
	CHECK_EQ(st, 0x40 | 0x30 | 0x00, "status after the control word: null count, lo/hi, mode 0, OUT low");
	outb(0x42, 0x00);
	uint64_t load = out_at(0x42, 0x80);	/* count 0x8000 */
	outb(0x43, 0xe8);
	CHECK_EQ(inb(0x42) & 0x40, 0, "null count cleared once the count is loaded");
	spin(3000000);
	uint64_t t;
	uint16_t v = latch_read(2, &t);
	CHECK_EQ(v, (0x8000 - clocks(load, t)) & 0xffff, "mode 0: latched count = N - elapsed clocks");
	/* a second latch before the read is ignored */
	out_at(0x43, 0x80);
	spin(50000);
	out_at(0x43, 0x80);
	uint16_t v1 = (uint16_t)(inb(0x42) | (inb(0x42) << 8));
	uint16_t v2 = latch_read(2, &t);
	report(v1 > v2, "the first latch holds until it is read (%u then %u)", v1, v2);

	/* OUT2 goes high at terminal count: find the edge by polling port 0x61 */
	outb(0x43, 0xb0);
	outb(0x42, 1000 & 0xff);
	load = out_at(0x42, 1000 >> 8);
	uint64_t prev = load, now = 0;
	uint8_t b;
	for (;;) {
		b = in_at(0x61, &now);
		if (b & 0x20)
			break;
		prev = now;
	}
	uint64_t edge = edge_ns(load, 1000);
	report(prev < edge && now >= edge, "mode 0: OUT2 rises at load + ceil(1000 clocks) = %llu",
	       (unsigned long long)(edge - load));
	/* the counter wraps and keeps counting after terminal count */
	spin(2000000);
	v = latch_read(2, &t);
	CHECK_EQ(v, (1000 + 0x10000 - clocks(load, t)) & 0xffff, "mode 0 keeps counting through zero");
	outb(0x43, 0xe8);
	CHECK_EQ(inb(0x42) & 0x80, 0x80, "read-back status: OUT high");

	/* gate low stops mode 0 counting */
	outb(0x43, 0xb0);
	outb(0x42, 0xff);
	outb(0x42, 0xff);
	outb(0x61, 0x00);
	v1 = latch_read(2, &t);
	spin(100000);
	v2 = latch_read(2, &t);
	CHECK_EQ(v1, v2, "mode 0: the count holds while GATE2 is low");
	outb(0x61, 0x01);
	spin(100000);
	v2 = latch_read(2, &t);
	report(v2 < v1, "and resumes when GATE2 is high");
}

static void test_modes(void)
{
	uint64_t t;
	/* mode 2: N - (d mod N) */
	outb(0x43, 0xb4);		/* ch 2, lo/hi, mode 2 */
	outb(0x42, 100);
	uint64_t load = out_at(0x42, 0);
	spin(777777);
	uint16_t v = latch_read(2, &t);
	CHECK_EQ(v, 100 - clocks(load, t) % 100, "mode 2: count = N - (elapsed mod N)");
	/* mode 3: decrements by two */
	outb(0x43, 0xb6);
	outb(0x42, 100);
	load = out_at(0x42, 0);
	spin(555555);
	v = latch_read(2, &t);
	CHECK_EQ(v, 100 - (2 * clocks(load, t)) % 100, "mode 3: count = N - (2 * elapsed mod N)");
	/* mode 3 OUT2: high for the first half of each period */
	uint64_t tin;
	uint8_t b = in_at(0x61, &tin);
	uint64_t ph = clocks(load, tin) % 100;
	CHECK_EQ(!!(b & 0x20), ph < 50, "mode 3: OUT2 high in the first half-period");
	/* BCD */
	outb(0x43, 0xb1);		/* mode 0, BCD */
	outb(0x42, 0x00);
	load = out_at(0x42, 0x50);	/* 5000 decimal */
	spin(1000000);
	v = latch_read(2, &t);
	uint32_t want = (uint32_t)(5000 - clocks(load, t));
	uint16_t bcd = (uint16_t)((want % 10) | (want / 10 % 10) << 4 | (want / 100 % 10) << 8 | (want / 1000) << 12);
	CHECK_EQ(v, bcd, "BCD counting");
	/* LSB-only access */
	outb(0x43, 0x90);		/* ch 2, LSB only, mode 0 */
	load = out_at(0x42, 200);
	outb(0x43, 0xe8);
	CHECK_EQ(inb(0x42), 0x10, "status: LSB-only access, mode 0");
	out_at(0x43, 0x80);
	uint8_t lsb = inb(0x42);
	report(lsb < 200, "LSB-only read");
	outb(0x61, 0x00);
}

static void test_refresh(void)
{
	bool ok = true;
	for (int k = 0; k < 20; k++) {
		uint64_t t;
		uint8_t b = in_at(0x61, &t);
		if (!!(b & 0x10) != ((t / 15085) & 1))
			ok = false;
		spin(7000);
	}
	report(ok, "port 0x61 bit 4 toggles every 15085 ns of virtual time");
}

static volatile int ticks;
static volatile uint64_t tick_tsc[8];

static void isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	if (ticks < 8)
		tick_tsc[ticks] = tsc - IRQ_TSC_SKEW;
	ticks++;
	apic_eoi();
}

static void io_write(unsigned r, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = r;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

static void test_irq0(void)
{
	set_irq(VEC, isr);
	io_write(0x11 + 2 * 2, 0);
	io_write(0x10 + 2 * 2, VEC);	/* pin 2: edge, fixed, CPU 0 */
	/* mode 0: one interrupt at terminal count */
	ticks = 0;
	outb(0x43, 0x30);
	outb(0x40, 5000 & 0xff);
	uint64_t load = out_at(0x40, 5000 >> 8);
	sti();
	while (!ticks)
		asm volatile("hlt");
	spin(20000000);
	cli();
	report(ticks == 1 && tick_tsc[0] == edge_ns(load, 5000),
	       "mode 0: one IRQ 0 at load + ceil(5000 clocks) (%lld)", (long long)(tick_tsc[0] - edge_ns(load, 5000)));
	/* mode 2: periodic */
	ticks = 0;
	outb(0x43, 0x34);
	outb(0x40, 2000 & 0xff);
	load = out_at(0x40, 2000 >> 8);
	sti();
	while (ticks < 5)
		asm volatile("hlt");
	cli();
	outb(0x43, 0x30);		/* stop */
	bool ok = true;
	for (int k = 0; k < 5; k++)
		if (tick_tsc[k] != edge_ns(load, 2000ULL * (k + 1)))
			ok = false;
	report(ok, "mode 2: IRQ 0 at load + ceil(k * 2000 clocks), k = 1..5");
	/*
	 * mode 3: OUT0 is low after the mode 0 control word above; a mode 3
	 * control word sets it high at once (a first IRQ 0), then it rises at
	 * the start of every period
	 */
	ticks = 0;
	sti();
	uint64_t cw = out_at(0x43, 0x36);
	outb(0x40, 3001 & 0xff);
	load = out_at(0x40, 3001 >> 8);
	while (ticks < 4)
		asm volatile("hlt");
	cli();
	outb(0x43, 0x30);
	CHECK_EQ(tick_tsc[0], cw + 1, "mode 3 control word: OUT0 goes high at once");
	ok = true;
	for (int k = 1; k < 4; k++)
		if (tick_tsc[k] != edge_ns(load, 3001ULL * k))
			ok = false;
	report(ok, "mode 3 (odd count): IRQ 0 at every rising edge of OUT0");
	io_write(0x10 + 2 * 2, 0x10000);
}

int main(int argc, char **argv)
{
	test_counting();
	test_modes();
	test_refresh();
	test_irq0();
	return report_summary();
}
