/*
 * MONITOR / MWAIT (SDM Vol. 2B; Vol. 3A 9.10.4) with 2 vCPUs: CPUID leaf
 * 5, the fault rules, MWAIT returning at once when the monitor is not
 * armed or already triggered, an AP waking on a store to the monitored
 * line (within a scheduler slice of it), on an interrupt with
 * IF = 1, and - with ECX[0] - on a pending interrupt with IF = 0 without
 * taking it.
 */
// nestvm-args: -smp 2
#include "smp.h"

#define VEC 0x70
#define QUANTUM 100000ULL

static volatile uint64_t line[8] __attribute__((aligned(64)));
static volatile uint64_t t_before, t_after, t_write;
static volatile int irqs, handler_seen_woken, woken;

static inline void monitor(volatile void *p)
{
	asm volatile("monitor" :: "a"(p), "c"(0), "d"(0) : "memory");
}

static inline void mwait(uint32_t ecx)
{
	asm volatile("mwait" :: "a"(0), "c"(ecx) : "memory");
}

static int fault_of(void (*fn)(void))
{
	exc_clear();
	fn();
	return exc_last.vector;
}

static void bad_mwait(void)
{
	asm volatile(ASM_TRY("1f") "mwait\n1:" :: "a"(0), "c"(2) : "memory");
}

static void bad_monitor(void)
{
	asm volatile(ASM_TRY("1f") "monitor\n1:" :: "a"(line), "c"(1), "d"(0) : "memory");
}

static void isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	irqs++;
	handler_seen_woken = woken;
	apic_eoi();
}

static void wait_store(void *arg)
{
	(void)arg;
	monitor(line);
	t_before = rdtsc();
	if (!line[0])
		mwait(0);
	t_after = rdtsc();
}

static void wait_irq(void *arg)
{
	(void)arg;
	monitor(line);
	t_before = rdtsc();
	sti();
	mwait(0);
	cli();
	t_after = rdtsc();
}

static void wait_break(void *arg)
{
	(void)arg;
	woken = 0;
	monitor(line);
	t_before = rdtsc();
	mwait(1);		/* IF = 0: a pending interrupt ends the wait */
	t_after = rdtsc();
	woken = 1;
	sti();			/* now it is taken */
	asm volatile("nop");
	cli();
}

int main(int argc, char **argv)
{
	uint32_t r[4];
	cpuid2(1, 0, r);
	report(r[2] & (1u << 3), "CPUID.1:ECX.MONITOR");
	cpuid2(5, 0, r);
	report(r[0] == 64 && r[1] == 64, "CPUID.5: monitor line 64 bytes");
	report((r[2] & 3) == 3, "CPUID.5: extensions enumerated, interrupt break-event");
	report(fault_of(bad_mwait) == 13, "MWAIT with ECX[31:1] != 0: #GP");
	report(fault_of(bad_monitor) == 13, "MONITOR with ECX != 0: #GP");

	/* not armed / already triggered: no wait */
	uint64_t t0 = rdtsc();
	mwait(0);
	report(rdtsc() - t0 < 100, "MWAIT without an armed monitor returns at once");
	monitor(line);
	line[0] = 5;
	t0 = rdtsc();
	mwait(0);
	report(rdtsc() - t0 < 100, "store between MONITOR and MWAIT: MWAIT returns at once");
	line[0] = 0;

	CHECK_EQ(smp_init(), 2, "2 CPUs online");
	set_irq(VEC, isr);

	/* a store by the BSP wakes the AP */
	line[0] = 0;
	on_cpu_async(1, wait_store, NULL);
	uint64_t s = rdtsc();
	while (rdtsc() - s < 5 * QUANTUM)
		pause();
	t_write = rdtsc();
	line[0] = 1;
	while (!cpu_idle(1))
		pause();
	report(t_after - t_before > 4 * QUANTUM, "the AP waited in MWAIT (%llu ticks)",
	       (unsigned long long)(t_after - t_before));
	/* the AP runs after the BSP in each slice: it notices within that slice */
	report(t_after + QUANTUM >= t_write && t_after <= t_write + QUANTUM,
	       "it woke within one scheduler slice of the store (%lld)",
	       (long long)(t_after - t_write));

	/* an interrupt with IF = 1 */
	irqs = 0;
	line[0] = 0;
	on_cpu_async(1, wait_irq, NULL);
	s = rdtsc();
	while (rdtsc() - s < 5 * QUANTUM)
		pause();
	apic_icr(ICR_ASSERT | VEC, 1);
	while (!cpu_idle(1))
		pause();
	report(irqs == 1 && t_after - t_before > 4 * QUANTUM, "an IPI ends MWAIT with IF = 1 (handled)");

	/* ECX[0] = 1, IF = 0: woken without taking the interrupt */
	irqs = 0;
	on_cpu_async(1, wait_break, NULL);
	s = rdtsc();
	while (rdtsc() - s < 5 * QUANTUM)
		pause();
	apic_icr(ICR_ASSERT | VEC, 1);
	while (!cpu_idle(1))
		pause();
	report(irqs == 1 && handler_seen_woken == 1 && t_after - t_before > 4 * QUANTUM,
	       "MWAIT ECX[0] with IF = 0: woken by the pending interrupt, taken only after STI");
	return report_summary();
}
