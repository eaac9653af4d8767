/*
 * Inter-processor interrupts (SDM 11.6): every delivery mode (fixed,
 * lowest priority, SMI, NMI, INIT, start-up, ExtINT) and destination form
 * (physical, physical broadcast, logical flat and cluster, x2APIC
 * physical/logical/broadcast, the three shorthands), with 4 vCPUs.  IPIs
 * to a halted AP are taken at exactly the virtual time of the ICR write.
 */
// nestvm-args: -smp 4
#include "smp.h"

#define NCPU 4
#define VEC 0x60
#define ALL_MASK 0xf

static volatile uint32_t rcv_mask;
static volatile int rcv_count[NCPU];
static volatile uint64_t rcv_tsc[NCPU];
static volatile uint32_t rcv_tmr[NCPU];
static volatile int nmi_count[NCPU];

static void ipi_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	uint32_t id = smp_id() % NCPU;
	rcv_count[id]++;
	rcv_tsc[id] = tsc - IRQ_TSC_SKEW;
	rcv_tmr[id] = apic_read(APIC_TMR + (VEC / 32) * 0x10) & (1u << (VEC % 32));
	asm volatile("lock orl %1, %0" : "+m"(rcv_mask) : "r"(1u << id) : "memory");
	apic_eoi();
}

static void nmi_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	nmi_count[smp_id() % NCPU]++;
}

static void clear(void)
{
	rcv_mask = 0;
	for (int k = 0; k < NCPU; k++) {
		rcv_count[k] = 0;
		rcv_tsc[k] = 0;
		rcv_tmr[k] = 0;
		nmi_count[k] = 0;
	}
}

/* let every CPU run for a few scheduler slices, with interrupts enabled here */
static void settle(void)
{
	sti();
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < 500000)
		pause();
	cli();
}

/* xAPIC ICR write with its TSC */
static uint64_t icr_at(uint32_t lo, uint32_t dest)
{
	uint32_t a, d;
	*(volatile uint32_t *)(APIC_MMIO + APIC_ICR2) = dest << 24;
	asm volatile("rdtsc\n\t"
		     "movl %k2, (%3)"
		     : "=&a"(a), "=&d"(d)
		     : "r"(lo), "r"(APIC_MMIO + APIC_ICR)
		     : "memory");
	return (((uint64_t)d << 32) | a) + 1;
}

static uint32_t send(uint32_t lo, uint32_t dest)
{
	clear();
	apic_icr(lo, dest);
	settle();
	return rcv_mask;
}

static void set_ldr(void *arg)
{
	apic_write(APIC_LDR, (uint32_t)(uintptr_t)arg);
}

static void set_dfr(void *arg)
{
	apic_write(APIC_DFR, (uint32_t)(uintptr_t)arg);
}

static void set_tpr(void *arg)
{
	write_cr8((uint64_t)(uintptr_t)arg);
}

static void on_all(void (*fn)(void *), const uintptr_t *args)
{
	fn((void *)args[0]);
	for (int k = 1; k < NCPU; k++)
		on_cpu(k, fn, (void *)args[k]);
}

static void test_physical(void)
{
	for (int k = 1; k < NCPU; k++) {
		clear();
		uint64_t t = icr_at(VEC, (uint32_t)k);
		settle();
		report(rcv_mask == (1u << k), "fixed, physical destination %d: only CPU %d", k, k);
		report(rcv_tsc[k] == t, "taken by the halted AP at the ICR write's virtual time (%lld)",
		       (long long)(rcv_tsc[k] - t));
	}
	clear();
	sti();
	uint64_t t = icr_at(ICR_SELF | VEC, 0);
	cli();
	report(rcv_mask == 1 && rcv_tsc[0] == t + 1, "self IPI taken at the next instruction boundary");
	CHECK_EQ(send(VEC, 0xff), ALL_MASK, "physical broadcast 0xff: every CPU");
	CHECK_EQ(send(VEC, 0x09), 0, "physical destination 9: nobody");
	CHECK_EQ(send(ICR_ALL | VEC, 0), ALL_MASK, "shorthand all including self");
	CHECK_EQ(send(ICR_ALLBUT | VEC, 0), ALL_MASK & ~1u, "shorthand all excluding self");
	CHECK_EQ(send(ICR_SELF | VEC, 2), 1, "shorthand self ignores the destination field");
	send(ICR_LEVEL | ICR_ASSERT | VEC, 1);
	report(rcv_tmr[1] != 0, "level-triggered fixed IPI sets TMR on the target");
}

static void test_logical(void)
{
	static const uintptr_t flat[NCPU] = { 0x01000000, 0x02000000, 0x04000000, 0x08000000 };
	on_all(set_ldr, flat);
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x0a), 0x0a, "logical flat 0x0a: CPUs 1 and 3");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x05), 0x05, "logical flat 0x05: CPUs 0 and 2");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0xff), ALL_MASK, "logical broadcast 0xff");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x30), 0, "logical flat 0x30: nobody");

	static const uintptr_t cluster_dfr[NCPU] = { 0x0fffffff, 0x0fffffff, 0x0fffffff, 0x0fffffff };
	static const uintptr_t cluster_ldr[NCPU] = { 0x11000000, 0x12000000, 0x21000000, 0x22000000 };
	on_all(set_dfr, cluster_dfr);
	on_all(set_ldr, cluster_ldr);
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x13), 0x03, "logical cluster 1, members 0 and 1: CPUs 0, 1");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x22), 0x08, "logical cluster 2, member 1: CPU 3");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x31), 0, "logical cluster 3: nobody");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0xff), ALL_MASK, "cluster model broadcast 0xff");
	static const uintptr_t flat_dfr[NCPU] = { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff };
	on_all(set_dfr, flat_dfr);
	on_all(set_ldr, flat);
}

static void test_lowest(void)
{
	static const uintptr_t tpr1[NCPU] = { 0, 3, 1, 2 };
	on_all(set_tpr, tpr1);
	CHECK_EQ(send(ICR_LOGICAL | ICR_LOWEST | VEC, 0x0e), 0x04,
		 "lowest priority among CPUs 1-3 (TPR 3, 1, 2): CPU 2");
	static const uintptr_t tpr2[NCPU] = { 0, 3, 4, 2 };
	on_all(set_tpr, tpr2);
	CHECK_EQ(send(ICR_LOGICAL | ICR_LOWEST | VEC, 0x0e), 0x08,
		 "after raising CPU 2's TPR: CPU 3");
	static const uintptr_t tpr0[NCPU] = { 0, 0, 0, 0 };
	on_all(set_tpr, tpr0);
	CHECK_EQ(send(ICR_LOGICAL | ICR_LOWEST | VEC, 0x0e), 0x02,
		 "equal priorities: the lowest APIC ID, CPU 1");
	CHECK_EQ(send(ICR_ALLBUT | ICR_LOWEST | VEC, 0), 0x02,
		 "lowest priority to all-but-self: one CPU, CPU 1");
}

static void test_nmi_smi_extint(void)
{
	clear();
	apic_icr(ICR_ASSERT | ICR_NMI, 2);
	settle();
	report(nmi_count[2] == 1 && nmi_count[1] == 0 && nmi_count[3] == 0 && nmi_count[0] == 0,
	       "NMI to CPU 2 only");
	clear();
	apic_icr(ICR_ALLBUT | ICR_ASSERT | ICR_NMI, 0);
	settle();
	report(nmi_count[1] == 1 && nmi_count[2] == 1 && nmi_count[3] == 1 && nmi_count[0] == 0,
	       "NMI to all but self");
	/* no SMM in this machine: an SMI is not accepted (KVM without SMM) */
	clear();
	apic_icr(ICR_ASSERT | ICR_SMI, 1);
	settle();
	report(rcv_mask == 0 && nmi_count[1] == 0, "SMI IPI: no interrupt, no NMI");
	CHECK_EQ(send(VEC, 1), 0x02, "CPU 1 still takes interrupts after the SMI");
	/* ExtINT comes only from the PIC: an ExtINT IPI delivers nothing */
	CHECK_EQ(send(ICR_ASSERT | 0x700 | VEC, 1), 0, "ExtINT IPI: nothing delivered");
}

static void test_illegal(void)
{
	apic_write(APIC_ESR, 0);
	CHECK_EQ(send(ICR_ASSERT | 0x0c, 1), 0, "fixed IPI with vector 12: not sent");
	apic_write(APIC_ESR, 0);
	CHECK_EQ(apic_read(APIC_ESR), 0x20, "sender's ESR: send illegal vector");
	apic_write(APIC_ESR, 0);
}

static void read_ldr(void *arg)
{
	*(volatile uint32_t *)arg = apic_read(APIC_LDR);
}

static void test_init_sipi(void)
{
	volatile uint8_t *low = (volatile uint8_t *)0x8000;
	volatile uint8_t *low2 = (volatile uint8_t *)0xa000;
	/* mov ax, imm16; mov [moffs16], ax; cli; hlt; jmp $-3 */
	static const uint8_t stub[] = { 0xb8, 0x34, 0x12, 0xa3, 0x00, 0x81, 0xfa, 0xf4, 0xeb, 0xfd };
	static const uint8_t stub2[] = { 0xb8, 0x78, 0x56, 0xa3, 0x00, 0xa1, 0xfa, 0xf4, 0xeb, 0xfd };
	for (unsigned k = 0; k < sizeof(stub); k++) {
		low[k] = stub[k];
		low2[k] = stub2[k];
	}
	*(volatile uint16_t *)0x8100 = 0;
	*(volatile uint16_t *)0xa100 = 0;

	/* INIT: CPU 3 stops and waits for a SIPI; fixed IPIs no longer reach it */
	apic_icr(ICR_ASSERT | ICR_INIT, 3);
	settle();
	CHECK_EQ(send(VEC, 3), 0, "after INIT, CPU 3 takes no fixed IPI");
	/* SIPI vector 8: real mode at 0800:0000 */
	apic_icr(ICR_ASSERT | ICR_SIPI | 0x08, 3);
	settle();
	CHECK_EQ(*(volatile uint16_t *)0x8100, 0x1234, "SIPI vector 8: CPU 3 runs real-mode code at 0x8000");
	/* a second SIPI outside wait-for-SIPI is ignored */
	apic_icr(ICR_ASSERT | ICR_SIPI | 0x0a, 3);
	settle();
	CHECK_EQ(*(volatile uint16_t *)0xa100, 0, "a SIPI to a running CPU is ignored");
	/* INIT de-assert (level, level 0) does nothing */
	apic_icr(ICR_LEVEL | ICR_INIT, 3);
	apic_icr(ICR_ASSERT | ICR_SIPI | 0x0a, 3);
	settle();
	CHECK_EQ(*(volatile uint16_t *)0xa100, 0, "INIT level de-assert does not reset the CPU");

	/* back into the test library: INIT, SIPI vector 0 (the trampoline at 0) */
	int before = smp_online;
	apic_icr(ICR_ASSERT | ICR_INIT, 3);
	apic_icr(ICR_ASSERT | ICR_SIPI | 0x00, 3);
	uint64_t t0 = rdtsc();
	while (smp_online == before && rdtsc() - t0 < 10000000)
		pause();
	CHECK_EQ(smp_online, before + 1, "INIT + SIPI 0 restarts CPU 3 through the trampoline");
	volatile uint32_t ldr = 0xdead;
	on_cpu(3, read_ldr, (void *)&ldr);
	CHECK_EQ(ldr, 0, "the restarted CPU's APIC was reset (LDR 0)");
	CHECK_EQ(send(VEC, 3), 0x08, "CPU 3 takes IPIs again");
	static const uintptr_t flat[NCPU] = { 0x01000000, 0x02000000, 0x04000000, 0x08000000 };
	on_all(set_ldr, flat);
}

static void to_x2apic(void *arg)
{
	wrmsr(APIC_BASE_MSR, rdmsr(APIC_BASE_MSR) | APIC_EXTD);
}

static void to_xapic(void *arg)
{
	uint64_t b = rdmsr(APIC_BASE_MSR);
	wrmsr(APIC_BASE_MSR, b & ~(APIC_EN | APIC_EXTD));
	wrmsr(APIC_BASE_MSR, (b & ~APIC_EXTD) | APIC_EN);
	apic_write(APIC_SPIV, 0x1ff);
}

static void test_x2apic(void)
{
	static const uintptr_t none[NCPU];
	on_all(to_x2apic, none);
	report(apic_is_x2(), "all CPUs in x2APIC mode");
	CHECK_EQ(send(VEC, 2), 0x04, "x2APIC physical destination 2");
	CHECK_EQ(send(VEC, 0xffffffff), ALL_MASK, "x2APIC broadcast 0xffffffff");
	CHECK_EQ(send(VEC, 0xff), 0, "x2APIC: 0xff is an ordinary ID (nobody)");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x0000000a), 0x0a, "x2APIC logical cluster 0 bits 1, 3");
	CHECK_EQ(send(ICR_LOGICAL | VEC, 0x00010001), 0, "x2APIC logical cluster 1: nobody");
	CHECK_EQ(send(ICR_ALLBUT | VEC, 0), ALL_MASK & ~1u, "x2APIC all-but-self shorthand");
	clear();
	wrmsr(0x83f, VEC);
	sti();
	asm volatile("nop");
	cli();
	CHECK_EQ(rcv_mask, 1, "SELF IPI register");
	on_all(to_xapic, none);
	report(!apic_is_x2(), "back to xAPIC mode");
}

int main(int argc, char **argv)
{
	CHECK_EQ(smp_init(), NCPU, "4 CPUs online");
	set_irq(VEC, ipi_isr);
	set_irq(2, nmi_isr);
	test_physical();
	test_logical();
	test_lowest();
	test_nmi_smi_extint();
	test_illegal();
	test_init_sipi();
	test_x2apic();
	return report_summary();
}
