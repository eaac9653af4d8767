/*
 * CMOS RTC (MC146818A data sheet): the clock is deterministic - it starts
 * at 2024-01-01 00:00:00 (a Monday) at virtual time 0 and runs on virtual
 * time, so dates, UIP, the update, periodic and alarm interrupts are
 * asserted at exact virtual times.  Also: BCD/binary and 12/24-hour
 * formats, setting the time (century rollover), register C semantics,
 * CMOS RAM, the shutdown status byte and the memory-size bytes.
 */
// nestvm-args: -m 256
#include "smp.h"

#define NS 1000000000ULL
#define IOAPIC 0xfec00000UL
#define VEC 0x88

static uint8_t cmos(uint8_t idx)
{
	outb(0x70, idx);
	return inb(0x71);
}

static void cmos_w(uint8_t idx, uint8_t v)
{
	outb(0x70, idx);
	outb(0x71, v);
}

/* IN of port 0x71 after selecting idx; *t = TSC of the IN */
static uint8_t cmos_at(uint8_t idx, uint64_t *t)
{
	outb(0x70, idx);
	uint32_t lo, hi, v;
	asm volatile("rdtsc\n\t"
		     "movl %%eax, %0\n\t"
		     "movl %%edx, %1\n\t"
		     "movl $0x71, %%edx\n\t"
		     "inb %%dx, %%al\n\t"
		     "movzbl %%al, %2"
		     : "=&r"(lo), "=&r"(hi), "=&r"(v)
		     :
		     : "rax", "rdx", "memory");
	*t = (((uint64_t)hi << 32) | lo) + 4;
	return (uint8_t)v;
}

/* write port 0x71; returns the TSC of the OUT */
static uint64_t cmos_w_at(uint8_t idx, uint8_t val)
{
	outb(0x70, idx);
	uint32_t lo, hi;
	asm volatile("rdtsc\n\t"
		     "movl %%eax, %0\n\t"
		     "movl %%edx, %1\n\t"
		     "movl %k2, %%eax\n\t"
		     "movl $0x71, %%edx\n\t"
		     "outb %%al, %%dx"
		     : "=&r"(lo), "=&r"(hi)
		     : "r"((uint32_t)val)
		     : "rax", "rdx", "memory");
	return (((uint64_t)hi << 32) | lo) + 5;
}

static void wake_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	apic_eoi();
}

/* idle until virtual time t (TSC-deadline timer and HLT: no busy loop) */
static void wait_until(uint64_t t)
{
	set_irq(0xfd, wake_isr);
	apic_write(APIC_LVTT, 0xfd | (2u << 17));
	while (rdtsc() < t) {
		wrmsr(0x6e0, t);
		asm volatile("sti; hlt; cli" ::: "memory");
	}
	apic_write(APIC_LVTT, 0x10000);
}

static void test_boot_time(void)
{
	uint64_t t;
	uint8_t sec = cmos_at(0x00, &t);
	report(t < NS, "still in the first virtual second (tsc %llu)", (unsigned long long)t);
	CHECK_EQ(sec, 0x00, "seconds 00");
	CHECK_EQ(cmos(0x02), 0x00, "minutes 00");
	CHECK_EQ(cmos(0x04), 0x00, "hours 00");
	CHECK_EQ(cmos(0x06), 0x02, "day of week 2 (Monday)");
	CHECK_EQ(cmos(0x07), 0x01, "day 01");
	CHECK_EQ(cmos(0x08), 0x01, "month 01");
	CHECK_EQ(cmos(0x09), 0x24, "year 24");
	CHECK_EQ(cmos(0x32), 0x20, "century 20");
	CHECK_EQ(cmos(0x0a), 0x26, "register A: 32.768 kHz, 1024 Hz rate");
	CHECK_EQ(cmos(0x0b), 0x02, "register B: BCD, 24-hour");
	CHECK_EQ(cmos(0x0d), 0x80, "register D: valid RAM and time");
	cmos(0x0c);
}

static void test_update(void)
{
	/* UIP is set during the 244 us before each update */
	wait_until(NS - 300000);
	uint64_t t;
	uint8_t a1 = cmos_at(0x0a, &t);
	CHECK_EQ(!!(a1 & 0x80), (t % NS) >= NS - 244140, "UIP before the window");
	wait_until(NS - 200000);
	uint8_t a2 = cmos_at(0x0a, &t);
	report((a2 & 0x80) && (t % NS) >= NS - 244140, "UIP set 200 us before the update");
	CHECK_EQ(cmos(0x00), 0x00, "still second 0 during UIP");
	/* the update-ended flag appears exactly at the second boundary */
	uint64_t prev = 0, now = 0;
	uint8_t c;
	cmos(0x0c);
	for (;;) {
		c = cmos_at(0x0c, &now);
		if (c & 0x10)
			break;
		prev = now;
	}
	report(prev < NS && now >= NS, "UF set at virtual time 1 s (seen at %llu)", (unsigned long long)now);
	CHECK_EQ(cmos(0x00), 0x01, "seconds 01 after the update");
	uint8_t a3 = cmos_at(0x0a, &t);
	report(!(a3 & 0x80), "UIP clear after the update");
}

static void test_set_time(void)
{
	cmos_w(0x0b, 0x82);		/* SET, BCD, 24 h */
	cmos_w(0x00, 0x58);
	cmos_w(0x02, 0x59);
	cmos_w(0x04, 0x23);
	cmos_w(0x06, 0x06);
	cmos_w(0x07, 0x31);
	cmos_w(0x08, 0x12);
	cmos_w(0x09, 0x99);
	cmos_w(0x32, 0x20);
	CHECK_EQ(cmos(0x00), 0x58, "time registers writable while SET");
	uint64_t t0 = rdtsc();
	cmos_w(0x0b, 0x02);		/* run */
	uint64_t next = (t0 / NS + 1) * NS;
	wait_until(next + 1000);
	CHECK_EQ(cmos(0x00), 0x59, "one update later: :59");
	wait_until(next + NS + 1000);
	report(cmos(0x00) == 0x00 && cmos(0x02) == 0x00 && cmos(0x04) == 0x00,
	       "two updates later: 00:00:00");
	report(cmos(0x07) == 0x01 && cmos(0x08) == 0x01 && cmos(0x09) == 0x00 && cmos(0x32) == 0x21,
	       "2099-12-31 rolled over to 2100-01-01");
	CHECK_EQ(cmos(0x06), 0x06, "2100-01-01 is a Friday (day 6)");
	/* binary and 12-hour formats */
	cmos_w(0x0b, 0x82);
	cmos_w(0x04, 0x13);		/* 13:xx */
	cmos_w(0x0b, 0x02);
	cmos_w(0x0b, 0x06);		/* binary, 24 h */
	CHECK_EQ(cmos(0x04), 13, "binary mode: hour 13");
	CHECK_EQ(cmos(0x09), 0, "binary mode: year 0");
	cmos_w(0x0b, 0x00);		/* BCD, 12 h */
	CHECK_EQ(cmos(0x04), 0x81, "12-hour mode: 1 PM = 0x81");
	cmos_w(0x0b, 0x02);
}

static volatile int irqs;
static volatile uint64_t irq_tsc[8];
static volatile uint8_t irq_c[8];

static void rtc_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	if (irqs < 8) {
		irq_tsc[irqs] = tsc - IRQ_TSC_SKEW;
		irq_c[irqs] = cmos(0x0c);
	}
	irqs++;
	apic_eoi();
}

static void io_write(unsigned r, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = r;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

static void test_interrupts(void)
{
	set_irq(VEC, rtc_isr);
	io_write(0x11 + 2 * 8, 0);
	io_write(0x10 + 2 * 8, VEC);
	cmos(0x0c);

	/* periodic, rate 6 = 1024 Hz: ticks of the divider chain, t = ceil(j * 10^9 / 1024) */
	irqs = 0;
	uint64_t t = cmos_w_at(0x0b, 0x42) + 1;	/* PIE */
	uint64_t j = t * 1024 / NS + 1;
	sti();
	while (irqs < 5)
		asm volatile("hlt");
	cli();
	cmos_w(0x0b, 0x02);
	bool ok = true;
	for (int k = 0; k < 5; k++)
		if (irq_tsc[k] != ((j + k) * NS + 1023) / 1024 || !(irq_c[k] & 0xc0))
			ok = false;
	report(ok, "periodic interrupt at 1024 Hz, exact divider-chain times, C = IRQF|PF");
	CHECK_EQ(cmos(0x0c) & 0x80, 0, "reading C cleared IRQF");

	/* rate 15 = 2 Hz */
	irqs = 0;
	cmos_w(0x0a, 0x2f);
	t = cmos_w_at(0x0b, 0x42) + 1;
	j = t * 2 / NS + 1;
	sti();
	while (irqs < 2)
		asm volatile("hlt");
	cli();
	cmos_w(0x0b, 0x02);
	cmos_w(0x0a, 0x26);
	report(irq_tsc[0] == j * NS / 2 && irq_tsc[1] == (j + 1) * NS / 2, "periodic interrupt at 2 Hz");

	/* update-ended interrupt */
	irqs = 0;
	cmos(0x0c);
	cmos_w(0x0b, 0x12);		/* UIE */
	uint64_t now = rdtsc();
	sti();
	while (irqs < 1)
		asm volatile("hlt");
	cli();
	cmos_w(0x0b, 0x02);
	report(irq_tsc[0] == (now / NS + 1) * NS && (irq_c[0] & 0x90) == 0x90,
	       "update-ended interrupt at the second boundary, C = IRQF|UF");

	/* alarm: seconds = now + 2, minutes and hours don't care */
	irqs = 0;
	cmos(0x0c);
	uint8_t s = cmos(0x00);
	int sec = (s >> 4) * 10 + (s & 0xf);
	int al = (sec + 2) % 60;
	cmos_w(0x01, (uint8_t)(((al / 10) << 4) | (al % 10)));
	cmos_w(0x03, 0xc0);
	cmos_w(0x05, 0xc0);
	now = rdtsc();
	cmos_w(0x0b, 0x22);		/* AIE */
	sti();
	while (irqs < 1)
		asm volatile("hlt");
	cli();
	cmos_w(0x0b, 0x02);
	uint64_t want = (now / NS + 2) * NS;
	report(irqs == 1 && irq_tsc[0] == want && (irq_c[0] & 0xa0) == 0xa0,
	       "alarm interrupt 2 s later at the boundary, C = IRQF|AF");
	io_write(0x10 + 2 * 8, 0x10000);
}

static void test_cmos_ram(void)
{
	cmos_w(0x0f, 0x0a);
	CHECK_EQ(cmos(0x0f), 0x0a, "shutdown status byte read/write");
	cmos_w(0x0f, 0);
	bool ok = true;
	for (int k = 0x40; k < 0x5b; k++) {
		cmos_w((uint8_t)k, (uint8_t)(k ^ 0x5a));
		if (cmos((uint8_t)k) != (uint8_t)(k ^ 0x5a))
			ok = false;
	}
	report(ok, "CMOS RAM 0x40-0x5a read/write");
	CHECK_EQ(cmos(0x15) | (cmos(0x16) << 8), 640, "base memory 640 KiB");
	CHECK_EQ(cmos(0x17) | (cmos(0x18) << 8), 0xffff, "extended memory (capped)");
	CHECK_EQ(cmos(0x30) | (cmos(0x31) << 8), 0xffff, "extended memory copy at 0x30");
	CHECK_EQ(cmos(0x34) | (cmos(0x35) << 8), (256 - 16) * 16, "memory above 16 MiB in 64 KiB units");
	CHECK_EQ(cmos(0x5f), 0, "number of CPUs - 1");
	outb(0x70, 0x80 | 0x0d);	/* NMI disable bit with the index */
	CHECK_EQ(inb(0x71), 0x80, "index with the NMI-disable bit set");
	outb(0x70, 0x0d);
}

int main(int argc, char **argv)
{
	test_boot_time();
	test_update();
	test_set_time();
	test_interrupts();
	test_cmos_ram();
	return report_summary();
}
