/*
 * Guest SMP and local APIC helpers: start the APs the way test images do
 * (platform.md §3: one INIT to all but self, one SIPI with vector 0), run
 * functions on them, and access the local APIC in xAPIC or x2APIC mode.
 */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "libguest.h"

#define SMP_MAX_CPUS 256
#define SMP_WAKE_VEC 0xf1	/* IPI that wakes an idle AP (high class: TPR does not block it) */

#define APIC_BASE_MSR 0x1b
#define APIC_EN (1ULL << 11)
#define APIC_EXTD (1ULL << 10)
#define APIC_MMIO 0xfee00000UL

enum {
	APIC_ID = 0x20, APIC_VER = 0x30, APIC_TPR = 0x80, APIC_APR = 0x90, APIC_PPR = 0xa0,
	APIC_EOI = 0xb0, APIC_LDR = 0xd0, APIC_DFR = 0xe0, APIC_SPIV = 0xf0, APIC_ISR = 0x100,
	APIC_TMR = 0x180, APIC_IRR = 0x200, APIC_ESR = 0x280, APIC_ICR = 0x300,
	APIC_ICR2 = 0x310, APIC_LVTT = 0x320, APIC_LVTTHMR = 0x330, APIC_LVTPC = 0x340,
	APIC_LVT0 = 0x350, APIC_LVT1 = 0x360, APIC_LVTERR = 0x370, APIC_TMICT = 0x380,
	APIC_TMCCT = 0x390, APIC_TDCR = 0x3e0, APIC_SELF_IPI = 0x3f0,
};

#define ICR_FIXED 0x000
#define ICR_LOWEST 0x100
#define ICR_SMI 0x200
#define ICR_NMI 0x400
#define ICR_INIT 0x500
#define ICR_SIPI 0x600
#define ICR_LOGICAL 0x800
#define ICR_ASSERT 0x4000
#define ICR_LEVEL 0x8000
#define ICR_SELF 0x40000
#define ICR_ALL 0x80000
#define ICR_ALLBUT 0xc0000

static inline bool apic_is_x2(void)
{
	return (rdmsr(APIC_BASE_MSR) & (APIC_EN | APIC_EXTD)) == (APIC_EN | APIC_EXTD);
}

static inline uint32_t apic_read(unsigned reg)
{
	if (apic_is_x2())
		return (uint32_t)rdmsr(0x800 + reg / 16);
	return *(volatile uint32_t *)(APIC_MMIO + reg);
}

static inline void apic_write(unsigned reg, uint32_t v)
{
	if (apic_is_x2())
		wrmsr(0x800 + reg / 16, v);
	else
		*(volatile uint32_t *)(APIC_MMIO + reg) = v;
}

/* send an IPI: ICR low word and destination (8-bit xAPIC / 32-bit x2APIC) */
static inline void apic_icr(uint32_t lo, uint32_t dest)
{
	if (apic_is_x2()) {
		wrmsr(0x830, ((uint64_t)dest << 32) | lo);
	} else {
		*(volatile uint32_t *)(APIC_MMIO + APIC_ICR2) = dest << 24;
		*(volatile uint32_t *)(APIC_MMIO + APIC_ICR) = lo;
	}
}

static inline void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

static inline uint32_t smp_id(void)
{
	uint32_t r[4];
	cpuid2(1, 0, r);
	return r[1] >> 24;
}

static inline void pause(void)
{
	asm volatile("pause" ::: "memory");
}

static inline int atomic_inc(volatile int *p)
{
	int v = 1;
	asm volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) :: "memory");
	return v + 1;
}

struct spinlock {
	volatile int v;
};

static inline void spin_lock(struct spinlock *l)
{
	int one = 1;
	for (;;) {
		int old = one;
		asm volatile("xchgl %0, %1" : "+r"(old), "+m"(l->v) :: "memory");
		if (!old)
			return;
		while (l->v)
			pause();
	}
}

static inline void spin_unlock(struct spinlock *l)
{
	asm volatile("movl $0, %0" : "=m"(l->v) :: "memory");
}

/*
 * Interrupt handlers that bypass the exception dispatcher (safe while
 * another CPU uses ASM_TRY): fn(vector, frame, tsc) runs with IF = 0;
 * tsc is the TSC of the third instruction after delivery: the time the
 * interrupt was taken is tsc - IRQ_TSC_SKEW.
 */
#define IRQ_TSC_SKEW 2
struct irq_frame {
	uint64_t rip, cs, rflags, rsp, ss;
};
typedef void (*irq_fn)(int vec, struct irq_frame *f, uint64_t tsc);
void set_irq(int vec, irq_fn fn);
extern uint8_t irq_stub_table[];

/* fw_cfg key 0x0005: the number of CPUs */
int fwcfg_cpus(void);

/*
 * Start every AP (INIT + SIPI vector 0 to all but self) and wait until
 * they are all online.  Returns the number of CPUs online (BSP included).
 */
int smp_init(void);
int smp_cpus(void);		/* CPUs online */
extern volatile int smp_online;
extern volatile uint64_t smp_online_tsc[SMP_MAX_CPUS];	/* TSC when each AP came online */

/*
 * Run fn(arg) on the AP with APIC ID `cpu` (it is woken by a fixed IPI
 * with SMP_WAKE_VEC); on_cpu waits for it to return, on_cpu_async only
 * until it started.  The function runs with IF = 0 unless it sets it.
 */
void on_cpu(int cpu, void (*fn)(void *), void *arg);
void on_cpu_async(int cpu, void (*fn)(void *), void *arg);
bool cpu_idle(int cpu);		/* the AP finished its work */

#endif
