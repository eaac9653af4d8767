/*
 * Local APIC timer (SDM 11.5.4): one-shot, periodic and TSC-deadline
 * modes, the divide configuration, the current count, mode transitions,
 * masking, wake-up from HLT.  Time is virtual (1 instruction = 1 TSC tick,
 * APIC bus clock = TSC), so interrupt times are asserted exactly: an
 * interrupt taken at time D shows up as D + IRQ_TSC_SKEW in the handler.
 */
#include "smp.h"

#define VEC 0xe0
#define LVT_PERIODIC (1u << 17)
#define LVT_TSCDL (2u << 17)
#define LVT_MASKED (1u << 16)

static volatile int hits;
static volatile uint64_t hit_tsc[16];

static void timer_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	(void)vec;
	(void)f;
	if (hits < 16)
		hit_tsc[hits] = tsc - IRQ_TSC_SKEW;
	hits++;
	apic_eoi();
}

/* store to an xAPIC register; returns the TSC of the store instruction */
static uint64_t apic_store_at(unsigned reg, uint32_t v)
{
	uint32_t lo, hi;
	asm volatile("rdtsc\n\t"
		     "movl %k2, (%3)"
		     : "=&a"(lo), "=&d"(hi)
		     : "r"(v), "r"(APIC_MMIO + reg)
		     : "memory");
	return (((uint64_t)hi << 32) | lo) + 1;
}

/* read an xAPIC register; returns the value, *t = TSC of the load */
static uint32_t apic_load_at(unsigned reg, uint64_t *t)
{
	uint32_t lo, hi, v;
	asm volatile("rdtsc\n\t"
		     "movl (%3), %k2"
		     : "=&a"(lo), "=&d"(hi), "=&r"(v)
		     : "r"(APIC_MMIO + reg)
		     : "memory");
	*t = (((uint64_t)hi << 32) | lo) + 1;
	return v;
}

/* TSC-deadline: rdtsc, then WRMSR of an absolute deadline 5 instructions later */
static uint64_t tscdl_arm(uint64_t delta)
{
	uint32_t lo, hi;
	asm volatile("rdtsc\n\t"
		     "shlq $32, %%rdx\n\t"
		     "orq %%rdx, %%rax\n\t"
		     "addq %2, %%rax\n\t"
		     "movq %%rax, %%rdx\n\t"
		     "shrq $32, %%rdx\n\t"
		     "movl $0x6e0, %%ecx\n\t"
		     "wrmsr"
		     : "=&a"(lo), "=&d"(hi)
		     : "r"(delta)
		     : "rcx", "memory");
	return (((uint64_t)hi << 32) | lo);
}

static void wait_hits(int n)
{
	uint64_t t0 = rdtsc();
	while (hits < n && rdtsc() - t0 < 100000000ULL)
		;
}

static void reset_hits(void)
{
	hits = 0;
	for (int k = 0; k < 16; k++)
		hit_tsc[k] = 0;
}

static void test_oneshot_divides(void)
{
	static const uint32_t tdcr[8] = { 0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb };
	static const uint32_t div[8] = { 2, 4, 8, 16, 32, 64, 128, 1 };
	for (int k = 0; k < 8; k++) {
		reset_hits();
		apic_write(APIC_LVTT, VEC);
		apic_write(APIC_TDCR, tdcr[k]);
		CHECK_EQ(apic_read(APIC_TDCR), tdcr[k], "TDCR reads back");
		uint32_t n = 1000;
		uint64_t t = apic_store_at(APIC_TMICT, n);
		wait_hits(1);
		report(hits == 1 && hit_tsc[0] == t + (uint64_t)n * div[k],
		       "one-shot, divide by %u: interrupt at start + %u (got %lld)", div[k],
		       n * div[k], (long long)(hit_tsc[0] - t));
		CHECK_EQ(apic_read(APIC_TMCCT), 0, "current count is 0 after expiry");
	}
}

static void test_current_count(void)
{
	apic_write(APIC_LVTT, VEC | LVT_MASKED);
	apic_write(APIC_TDCR, 0x1);	/* divide by 4 */
	uint64_t t0 = apic_store_at(APIC_TMICT, 100000);
	uint64_t t1;
	uint32_t cc = apic_load_at(APIC_TMCCT, &t1);
	/* the count drops by one every 4 ticks: ceil((400000 - elapsed) / 4) */
	uint64_t left = 400000 - (t1 - t0);
	CHECK_EQ(cc, (left + 3) / 4, "TMCCT = ceil(remaining ticks / divisor)");
	CHECK_EQ(apic_read(APIC_TMICT), 100000, "TMICT reads back");
	apic_write(APIC_TMICT, 0);
	CHECK_EQ(apic_read(APIC_TMCCT), 0, "writing TMICT = 0 stops the timer");
}

static void test_periodic(void)
{
	reset_hits();
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, VEC | LVT_PERIODIC);
	uint64_t t = apic_store_at(APIC_TMICT, 5000);
	wait_hits(6);
	apic_write(APIC_LVTT, VEC | LVT_MASKED);
	apic_write(APIC_TMICT, 0);
	bool ok = hits >= 6;
	for (int k = 0; k < 6 && ok; k++)
		ok = hit_tsc[k] == t + 5000ULL * (k + 1);
	report(ok, "periodic: interrupts at start + k * 5000 for k = 1..6");
}

static void test_masked(void)
{
	reset_hits();
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, VEC | LVT_MASKED);
	apic_store_at(APIC_TMICT, 2000);
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < 5000)
		;
	report(hits == 0, "masked one-shot timer: no interrupt");
	CHECK_EQ(apic_read(APIC_TMCCT), 0, "masked timer still counted down");
}

static void test_mode_change(void)
{
	/* one-shot -> periodic while counting: it keeps counting, then reloads */
	reset_hits();
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, VEC);
	uint64_t t = apic_store_at(APIC_TMICT, 20000);
	apic_write(APIC_LVTT, VEC | LVT_PERIODIC);
	wait_hits(2);
	apic_write(APIC_LVTT, VEC | LVT_MASKED);
	report(hits >= 2 && hit_tsc[0] == t + 20000 && hit_tsc[1] == t + 40000,
	       "one-shot -> periodic keeps the count and then reloads TMICT");
	apic_write(APIC_TMICT, 0);

	/* expired one-shot, then periodic: TMCCT stays 0 */
	reset_hits();
	apic_write(APIC_LVTT, VEC);
	apic_write(APIC_TMICT, 100);
	wait_hits(1);
	apic_write(APIC_LVTT, VEC | LVT_PERIODIC);
	CHECK_EQ(apic_read(APIC_TMCCT), 0, "expired one-shot then periodic: TMCCT stays 0");
	CHECK_EQ(apic_read(APIC_TMICT), 100, "TMICT kept across the mode change");

	/* to TSC-deadline and back disarms and clears TMICT */
	apic_write(APIC_LVTT, VEC | LVT_PERIODIC);
	apic_write(APIC_TMICT, 1000000);
	apic_write(APIC_LVTT, VEC | LVT_TSCDL);
	CHECK_EQ(apic_read(APIC_TMICT), 0, "periodic -> TSC-deadline: TMICT cleared");
	CHECK_EQ(apic_read(APIC_TMCCT), 0, "TSC-deadline mode: TMCCT reads 0");
	apic_write(APIC_TMICT, 1234);
	CHECK_EQ(apic_read(APIC_TMICT), 0, "TMICT writes ignored in TSC-deadline mode");
	wrmsr(0x6e0, rdtsc() + 1000000);
	apic_write(APIC_LVTT, VEC);
	CHECK_EQ(rdmsr(0x6e0), 0, "TSC-deadline -> one-shot: deadline disarmed");
	apic_write(APIC_LVTT, VEC | LVT_MASKED);
}

static void test_tsc_deadline(void)
{
	uint32_t r[4];
	cpuid2(1, 0, r);
	report(r[2] & (1u << 24), "CPUID.1:ECX.TSC_DEADLINE");
	reset_hits();
	apic_write(APIC_LVTT, VEC | LVT_TSCDL);
	CHECK_EQ(apic_read(APIC_LVTT), VEC | LVT_TSCDL, "LVTT mode bits read back");
	uint64_t d = tscdl_arm(3000);
	CHECK_EQ(rdmsr(0x6e0), d, "IA32_TSC_DEADLINE reads the armed deadline");
	wait_hits(1);
	report(hits == 1 && hit_tsc[0] == d, "TSC-deadline interrupt at exactly the deadline (%lld)",
	       (long long)(hit_tsc[0] - d));
	CHECK_EQ(rdmsr(0x6e0), 0, "IA32_TSC_DEADLINE is 0 after it fired");

	/* a deadline in the past fires at the next instruction boundary */
	reset_hits();
	uint64_t now = rdtsc();
	wrmsr(0x6e0, 1);
	asm volatile("nop");
	report(hits == 1 && hit_tsc[0] > now && hit_tsc[0] < now + 20,
	       "deadline in the past: interrupt at the next instruction boundary");

	/* writing 0 disarms */
	reset_hits();
	wrmsr(0x6e0, rdtsc() + 2000);
	wrmsr(0x6e0, 0);
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < 5000)
		;
	report(hits == 0, "writing 0 to IA32_TSC_DEADLINE disarms the timer");

	/* a deadline while the LVT is masked is consumed silently */
	apic_write(APIC_LVTT, VEC | LVT_TSCDL | LVT_MASKED);
	wrmsr(0x6e0, rdtsc() + 100);
	t0 = rdtsc();
	while (rdtsc() - t0 < 1000)
		;
	report(hits == 0 && rdmsr(0x6e0) == 0, "masked TSC-deadline timer: no interrupt, MSR cleared");
	apic_write(APIC_LVTT, VEC | LVT_MASKED);
}

static void test_hlt_wakeup(void)
{
	reset_hits();
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, VEC);
	uint64_t t = apic_store_at(APIC_TMICT, 50000000);	/* 50 ms */
	asm volatile("hlt" ::: "memory");
	report(hits == 1 && hit_tsc[0] == t + 50000000ULL,
	       "HLT wakes exactly at the timer interrupt after 50 ms of idle time");
}

static void test_divide_change(void)
{
	/* the counter keeps its value and counts at the new rate */
	reset_hits();
	apic_write(APIC_TDCR, 0xb);	/* by 1 */
	apic_write(APIC_LVTT, VEC);
	uint64_t t = apic_store_at(APIC_TMICT, 10000);
	uint64_t t2 = apic_store_at(APIC_TDCR, 0x0);	/* by 2 */
	wait_hits(1);
	uint64_t left = 10000 - (t2 - t);
	report(hits == 1 && hit_tsc[0] == t2 + 2 * left,
	       "TDCR change mid-count: the remaining count runs at the new rate");
	apic_write(APIC_TDCR, 0xb);
}

int main(int argc, char **argv)
{
	set_irq(VEC, timer_isr);
	apic_write(APIC_SPIV, 0x1ff);
	sti();
	test_oneshot_divides();
	test_current_count();
	test_periodic();
	test_masked();
	test_mode_change();
	test_tsc_deadline();
	test_hlt_wakeup();
	test_divide_change();
	cli();
	return report_summary();
}
