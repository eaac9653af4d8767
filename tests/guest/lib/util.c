/* Guest library extras (util.h). */
#include "util.h"

extern uint64_t pd[];

uint64_t *pte_4k(uint64_t va)
{
	uint64_t idx = va >> 21;
	uint64_t e = pd[idx];
	if (e & 0x80) {
		uint64_t *pt = alloc_page();
		uint64_t base = e & ~0x1fffffULL & 0x000ffffffffff000ULL;
		uint64_t flags = e & 0xfff & ~0x80ULL;
		for (int k = 0; k < 512; k++)
			pt[k] = (base + (uint64_t)k * 4096) | flags;
		pd[idx] = (uint64_t)pt | (e & 0x7);
		asm volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
	}
	uint64_t *pt = (uint64_t *)(pd[idx] & 0x000ffffffffff000ULL);
	return &pt[(va >> 12) & 511];
}

extern uint64_t pml4[], pdpt[];

void make_user_accessible(void)
{
	pml4[0] |= 4;
	for (int k = 0; k < 4; k++)
		pdpt[k] |= 4;
	for (int k = 0; k < 2048; k++) {
		pd[k] |= 4;
		if (!(pd[k] & 0x80)) {
			uint64_t *pt = (uint64_t *)(pd[k] & 0x000ffffffffff000ULL);
			for (int j = 0; j < 512; j++)
				pt[j] |= 4;
		}
	}
	asm volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
}

uint8_t user_stack[16384] __attribute__((aligned(16)));
uint64_t user_ret, saved_ksp;
uint64_t (*user_fn)(uint64_t);
uint64_t user_arg;
extern uint8_t user_return_stub[];
uint64_t run_user_asm(uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t usp);

uint64_t run_user(uint64_t (*fn)(uint64_t), uint64_t arg)
{
	set_idt_entry(0x7f, user_return_stub, SEL_KCODE64, 3, 0xe, 0);
	return run_user_asm(fn, arg, (uint64_t)(user_stack + sizeof(user_stack) - 8));
}

void apic_enable(void)
{
	uint64_t base = rdmsr(0x1b);
	wrmsr(0x1b, base | (1 << 11));
	apic_write(0xf0, 0x1ff);
}

void apic_self_ipi(int vector)
{
	apic_write(0x300, 0x40000 | (uint32_t)vector);	/* shorthand self, fixed */
}

void apic_self_nmi(void)
{
	apic_write(0x300, 0x40000 | 0x400);		/* shorthand self, NMI */
}
