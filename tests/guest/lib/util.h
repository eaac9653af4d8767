/*
 * Guest library extras: 4 KiB page-table surgery on the identity map,
 * running code at CPL 3, and local-APIC helpers.
 */
#ifndef GUEST_UTIL_H
#define GUEST_UTIL_H

#include "libguest.h"

/* the 4 KiB PTE mapping va (its 2 MiB page is split on first use) */
uint64_t *pte_4k(uint64_t va);
static inline void invlpg(uint64_t va)
{
	asm volatile("invlpg (%0)" :: "r"(va) : "memory");
}

/*
 * Run fn(arg) at CPL 3 on a user stack (the identity map is made
 * user-accessible); returns fn's result.  Exceptions from user code go to
 * the usual handlers (RSP0 of the TSS is the kernel stack).
 */
uint64_t run_user(uint64_t (*fn)(uint64_t), uint64_t arg);
void make_user_accessible(void);

/* xAPIC at 0xfee00000 */
#define APIC_BASE 0xfee00000UL
static inline uint32_t apic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(APIC_BASE + reg);
}
static inline void apic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(APIC_BASE + reg) = v;
}
void apic_enable(void);		/* software-enable with spurious vector 0xff */
void apic_self_ipi(int vector);	/* fixed, edge */
void apic_self_nmi(void);
static inline void apic_eoi(void)
{
	apic_write(0xb0, 0);
}

#endif
