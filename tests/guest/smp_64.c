/*
 * 64 vCPUs: every AP starts from one INIT and one SIPI (platform.md §3),
 * reports in with its APIC ID, and takes a broadcast IPI.
 */
// nestvm-args: -smp 64
#include "smp.h"

#define NCPU 64
#define VEC 0x66

static volatile uint64_t seen, hit;
static volatile uint32_t ids[NCPU];

static void report_in(void *arg)
{
	(void)arg;
	uint32_t id = smp_id();
	ids[id] = apic_read(APIC_ID) >> 24;
	asm volatile("lock orq %1, %0" : "+m"(seen) : "r"(1ULL << id) : "memory");
}

static void isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	asm volatile("lock orq %1, %0" : "+m"(hit) : "r"(1ULL << smp_id()) : "memory");
	apic_eoi();
}

int main(int argc, char **argv)
{
	CHECK_EQ(fwcfg_cpus(), NCPU, "fw_cfg: 64 CPUs");
	CHECK_EQ(smp_init(), NCPU, "all 63 APs online after one INIT and one SIPI");
	for (int k = 1; k < NCPU; k++)
		on_cpu_async(k, report_in, NULL);
	for (int k = 1; k < NCPU; k++)
		while (!cpu_idle(k))
			pause();
	CHECK_EQ(seen, ~1ULL, "every AP reported in");
	bool ok = true;
	for (int k = 1; k < NCPU; k++)
		if (ids[k] != (uint32_t)k)
			ok = false;
	report(ok, "APIC IDs 1..63");
	set_irq(VEC, isr);
	apic_icr(ICR_ALL | ICR_ASSERT | VEC, 0);
	uint64_t t0 = rdtsc();
	sti();
	while (hit != ~0ULL && rdtsc() - t0 < 100000000ULL)
		pause();
	cli();
	CHECK_EQ(hit, ~0ULL, "a broadcast IPI reached all 64 CPUs");
	return report_summary();
}
