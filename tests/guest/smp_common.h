/*
 * The body of the smp_N tests (smp_2.c, smp_3.c, smp_8.c): start every AP
 * as platform.md §3 says (one INIT to all but self, one SIPI with vector
 * 0, no delays), check that each reports in with the right identity, then
 * exchange work by IPI: jobs posted to every AP whose results come back by
 * IPI, a token passed around the ring of CPUs, NMIs to each AP.  The
 * virtual times of the ring hops are printed: smp_determinism.t runs an
 * image twice and compares the output byte for byte.
 */
#include "smp.h"

#ifndef NCPU
#error define NCPU
#endif

#define VEC_DONE 0x50
#define VEC_RING 0x51
#define ROUNDS 3
#define QUANTUM 100000ULL	/* the scheduler's default slice (nestvm -quantum) */

struct cpu_info {
	uint32_t apic_id, cpuid_id, cs;
	uint64_t efer, cr3, cr0, rflags;
	bool seen;
};
static struct cpu_info info[NCPU];

static void report_in(void *arg)
{
	(void)arg;
	uint32_t id = smp_id();
	struct cpu_info *ci = &info[id < NCPU ? id : 0];
	ci->apic_id = apic_read(APIC_ID) >> 24;
	ci->cpuid_id = id;
	uint16_t cs;
	asm volatile("mov %%cs, %0" : "=r"(cs));
	ci->cs = cs;
	ci->efer = rdmsr(0xc0000080);
	ci->cr3 = read_cr3();
	ci->cr0 = read_cr0();
	ci->rflags = read_rflags();
	ci->seen = true;
}

/* ---- jobs with results returned by IPI ----------------------------------------- */

struct job {
	uint64_t from, to, result;
	uint32_t cpu;
};
static struct job jobs[NCPU];
static volatile int done_count;
static volatile uint32_t done_mask;

static void done_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	(void)vec;
	(void)f;
	(void)tsc;
	done_count++;
	apic_eoi();
}

static void work(void *arg)
{
	struct job *j = arg;
	uint64_t s = 0;
	for (uint64_t x = j->from; x < j->to; x++)
		s += x * x;
	j->result = s;
	j->cpu = smp_id();
	asm volatile("lock orl %1, %0" : "+m"(done_mask) : "r"(1u << j->cpu) : "memory");
	apic_icr(ICR_ASSERT | VEC_DONE, 0);	/* tell the BSP */
}

static void test_jobs(void)
{
	done_count = 0;
	done_mask = 0;
	for (int k = 1; k < NCPU; k++) {
		jobs[k].from = (uint64_t)k * 1000;
		jobs[k].to = (uint64_t)k * 1000 + 1000;
		jobs[k].result = 0;
		on_cpu_async(k, work, &jobs[k]);
	}
	/* IPIs of one vector coalesce in IRR: wait for the results, woken by them */
	uint32_t all = ((1u << NCPU) - 1) & ~1u;
	uint64_t t0 = rdtsc();
	while (done_mask != all && rdtsc() - t0 < 1000000000ULL)
		asm volatile("sti; hlt; cli" ::: "memory");
	asm volatile("sti; nop; cli" ::: "memory");	/* take a pending one */
	bool ok = done_count >= 1;
	for (int k = 1; k < NCPU; k++) {
		uint64_t want = 0;
		for (uint64_t x = jobs[k].from; x < jobs[k].to; x++)
			want += x * x;
		if (jobs[k].result != want || jobs[k].cpu != (uint32_t)k)
			ok = false;
	}
	report(ok, "every AP ran its job and reported back by IPI (%d IPIs)", done_count);
	CHECK_EQ(done_mask, all, "results from every AP");
}

/* ---- a token around the ring 0 -> 1 -> ... -> N-1 -> 0 -------------------------- */

struct hop {
	uint64_t sent, recv;
	uint32_t from, to;
};
static struct hop hops[NCPU * ROUNDS];
static volatile int nhops;

static void send_token(uint32_t to)
{
	int h = nhops;
	hops[h].from = smp_id();
	hops[h].to = to;
	hops[h].sent = rdtsc();
	apic_icr(ICR_ASSERT | VEC_RING, to);
}

static void ring_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	(void)vec;
	(void)f;
	int h = nhops;
	hops[h].recv = tsc - IRQ_TSC_SKEW;
	nhops = h + 1;
	apic_eoi();
	if (nhops < NCPU * ROUNDS)
		send_token((smp_id() + 1) % NCPU);
}

static void ring_wait(void *arg)
{
	/* an AP waits for the token with interrupts enabled, halted */
	(void)arg;
	while (nhops < NCPU * ROUNDS)
		asm volatile("sti; hlt; cli" ::: "memory");
}

static void test_ring(void)
{
	nhops = 0;
	for (int k = 1; k < NCPU; k++)
		on_cpu_async(k, ring_wait, NULL);
	send_token(1 % NCPU);
	uint64_t t0 = rdtsc();
	while (nhops < NCPU * ROUNDS && rdtsc() - t0 < 1000000000ULL)
		asm volatile("sti; hlt; cli" ::: "memory");
	/* the APs still halted in ring_wait see the end when woken */
	apic_icr(ICR_ALLBUT | ICR_ASSERT | SMP_WAKE_VEC, 0);
	for (int k = 1; k < NCPU; k++)
		while (!cpu_idle(k))
			pause();
	report(nhops == NCPU * ROUNDS, "token went %d times around %d CPUs", ROUNDS, NCPU);
	bool order = true, causal = true, forward_exact = true, bounded = true;
	for (int h = 0; h < nhops; h++) {
		struct hop *p = &hops[h];
		if (p->to != (p->from + 1) % NCPU)
			order = false;
		if (p->recv < p->sent)
			causal = false;
		/*
		 * The receiver runs after the sender in a slice when its number
		 * is higher: the IPI then arrives at its send time exactly (the
		 * ICR write is a few instructions after the rdtsc); otherwise at
		 * the next slice, at most one quantum later.
		 */
		if (p->to > p->from && p->recv - p->sent > 16)
			forward_exact = false;
		if (p->recv - p->sent > QUANTUM + 16)
			bounded = false;
		printf("# hop %d: cpu %u -> cpu %u sent %llu received %llu\n", h, p->from, p->to,
		       (unsigned long long)p->sent, (unsigned long long)p->recv);
	}
	report(order, "each hop goes to the next CPU");
	report(causal, "no IPI arrives before it was sent (virtual time)");
	report(forward_exact, "IPIs to a later-scheduled CPU arrive at their send time");
	report(bounded, "every IPI arrives within one scheduler quantum");
}

/* ---- NMIs ------------------------------------------------------------------------ */

static volatile int nmi_cpu[NCPU];

extern char nmi_halt[], nmi_halt_end[];

static void nmi_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	(void)vec;
	(void)tsc;
	nmi_cpu[smp_id() % NCPU]++;
	/* an NMI just before the HLT must not leave the CPU halted */
	if (f->rip == (uint64_t)nmi_halt)
		f->rip = (uint64_t)nmi_halt_end;
}

static void idle_cli(void *arg)
{
	/* NMIs are not maskable: wait with IF = 0 */
	volatile int *flag = arg;
	uint32_t id = smp_id();
	while (!nmi_cpu[id])
		asm volatile("nmi_halt: hlt\nnmi_halt_end:" ::: "memory");
	*flag = 1;
}

static void test_nmi(void)
{
	static volatile int woke[NCPU];
	set_irq(2, nmi_isr);
	bool ok = true;
	for (int k = 1; k < NCPU; k++) {
		on_cpu_async(k, idle_cli, (void *)&woke[k]);
		apic_icr(ICR_ASSERT | ICR_NMI, (uint32_t)k);
		while (!cpu_idle(k))
			pause();
		if (nmi_cpu[k] != 1 || !woke[k])
			ok = false;
	}
	report(ok, "an NMI IPI wakes each AP from HLT with IF = 0");
	CHECK_EQ(nmi_cpu[0], 0, "the BSP got no NMI");
}

int main(int argc, char **argv)
{
	CHECK_EQ(fwcfg_cpus(), NCPU, "fw_cfg: number of CPUs");
	int n = smp_init();
	CHECK_EQ(n, NCPU, "every AP came online after one INIT and one SIPI");
	uint64_t cr3 = read_cr3();
	bool ok = true;
	for (int k = 1; k < NCPU; k++) {
		on_cpu(k, report_in, NULL);
		struct cpu_info *ci = &info[k];
		if (!ci->seen || ci->apic_id != (uint32_t)k || ci->cpuid_id != (uint32_t)k ||
		    ci->cs != SEL_KCODE64 || !(ci->efer & (1u << 10)) || ci->cr3 != cr3 ||
		    !(ci->cr0 & 0x80000001))
			ok = false;
		printf("# cpu %d: apic id %u, online at tsc %llu\n", k, ci->apic_id,
		       (unsigned long long)smp_online_tsc[k]);
	}
	report(ok, "each AP reports in: APIC ID = CPUID ID = its number, long mode, BSP page tables");
	set_irq(VEC_DONE, done_isr);
	set_irq(VEC_RING, ring_isr);
	test_jobs();
	test_ring();
	test_nmi();
	return report_summary();
}
