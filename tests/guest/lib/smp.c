/* Guest SMP helpers (see smp.h). */
#include "smp.h"

extern uint8_t ap_tramp_start[], ap_tramp_end[], ap_tramp_cr3[], ap_tramp_gdt[];
extern uint64_t gdt64[];
uint64_t ap_stack_top[SMP_MAX_CPUS];

volatile int smp_online = 1;
volatile uint64_t smp_online_tsc[SMP_MAX_CPUS];
static int n_cpus = 1;
static struct { uint16_t lim; uint64_t base; } __attribute__((packed)) smp_idt;

struct mailbox {
	void (*volatile fn)(void *);
	void *volatile arg;
	volatile int state;	/* 0 idle, 1 posted, 2 running, 3 done */
};
static struct mailbox mbox[SMP_MAX_CPUS];

int fwcfg_cpus(void)
{
	outw(0x510, 0x0005);
	int lo = inb(0x511);
	int hi = inb(0x511);
	return lo | (hi << 8);
}

int smp_cpus(void)
{
	return smp_online;
}

static irq_fn irq_handlers[256];

void irq_dispatch(uint64_t vec, struct irq_frame *f, uint64_t tsc);
void irq_dispatch(uint64_t vec, struct irq_frame *f, uint64_t tsc)
{
	irq_fn fn = irq_handlers[vec & 0xff];
	if (fn)
		fn((int)vec, f, tsc);
}

void set_irq(int vec, irq_fn fn)
{
	irq_handlers[vec] = fn;
	set_idt_entry(vec, irq_stub_table + 16 * vec, SEL_KCODE64, 0, 0xe, 0);
}

static void wake_handler(int vec, struct irq_frame *f, uint64_t tsc)
{
	(void)vec;
	(void)f;
	(void)tsc;
	apic_eoi();
}

void ap_main(uint32_t id);
void ap_main(uint32_t id)
{
	asm volatile("lidt %0" :: "m"(smp_idt));
	apic_write(APIC_SPIV, 0x1ff);
	smp_online_tsc[id] = rdtsc();
	atomic_inc(&smp_online);
	struct mailbox *mb = &mbox[id];
	for (;;) {
		cli();
		while (mb->state != 1)
			asm volatile("sti; hlt; cli" ::: "memory");
		mb->state = 2;
		mb->fn(mb->arg);
		cli();
		mb->state = 3;
	}
}

static void copy_to_zero(const void *src, size_t n)
{
	/* physical 0 is identity-mapped; hide the null pointer from the compiler */
	uint8_t *dst;
	asm volatile("xorl %k0, %k0" : "=r"(dst));
	memcpy(dst, src, n);
}

int smp_init(void)
{
	n_cpus = fwcfg_cpus();
	if (n_cpus <= 1)
		return 1;
	if (n_cpus > SMP_MAX_CPUS)
		n_cpus = SMP_MAX_CPUS;
	uint32_t cr3 = (uint32_t)read_cr3();
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) g;
	asm volatile("sgdt %0" : "=m"(g));
	asm volatile("sidt %0" : "=m"(smp_idt));
	memcpy(ap_tramp_cr3, &cr3, 4);
	uint32_t base32 = (uint32_t)g.base;
	memcpy(ap_tramp_gdt, &g.lim, 2);
	memcpy(ap_tramp_gdt + 2, &base32, 4);
	copy_to_zero(ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
	for (int k = 1; k < n_cpus; k++)
		ap_stack_top[k] = (uint64_t)alloc_pages(4) + 4 * 4096;
	set_irq(SMP_WAKE_VEC, wake_handler);
	/* platform.md §3: INIT to all but self, then one SIPI with vector 0 */
	apic_icr(ICR_ALLBUT | ICR_ASSERT | ICR_INIT, 0);
	apic_icr(ICR_ALLBUT | ICR_ASSERT | ICR_SIPI | 0x00, 0);
	uint64_t t0 = rdtsc();
	while (smp_online < n_cpus && rdtsc() - t0 < 1000000000ULL)
		pause();
	return smp_online;
}

void on_cpu_async(int cpu, void (*fn)(void *), void *arg)
{
	struct mailbox *mb = &mbox[cpu];
	while (mb->state == 1 || mb->state == 2)
		pause();
	mb->fn = fn;
	mb->arg = arg;
	asm volatile("" ::: "memory");
	mb->state = 1;
	apic_icr(ICR_ASSERT | SMP_WAKE_VEC, (uint32_t)cpu);
	while (mb->state == 1)
		pause();
}

void on_cpu(int cpu, void (*fn)(void *), void *arg)
{
	on_cpu_async(cpu, fn, arg);
	while (mbox[cpu].state != 3)
		pause();
}

bool cpu_idle(int cpu)
{
	return mbox[cpu].state == 3 || mbox[cpu].state == 0;
}
